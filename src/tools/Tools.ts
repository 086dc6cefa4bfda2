import type { Tool } from "@anthropic-ai/sdk/resources/messages"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as JSONSchema from "effect/JSONSchema"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { Knowledge, searchResultForModel } from "../knowledge/Knowledge.ts"
import { Messages } from "../messages/Messages.ts"
import { runTakeMessage, TAKE_MESSAGE, TAKE_MESSAGE_DESCRIPTION, TakeMessageInput } from "../messages/takeMessageTool.ts"
import { Metrics } from "../observability/Metrics.ts"
import { Scheduling } from "../scheduling/Scheduling.ts"
import { BookAppointmentInput, CheckAvailabilityInput } from "../scheduling/toolInputs.ts"
import type { Tenant } from "../tenants/Tenant.ts"
import type { Outcome } from "../call/vocabulary.ts"
import { TOOL_NAMES } from "./names.ts"

/** What a tool knows of the call it runs in; never anything the caller could forge. */
export interface ToolContext {
  readonly tenant: Tenant
  readonly callId: string
  readonly callerNumber: string | null
}

/** A tool either answers the model, or asks the call to hand over to a human. */
export type ToolOutcome =
  | {
    readonly _tag: "Result"
    readonly content: unknown
    readonly isError: boolean
    /** What this result means for the call's outcome, as the tool's spec says (none for most results). */
    readonly callOutcome?: Outcome | undefined
  }
  | { readonly _tag: "Transfer"; readonly reason: string }

export const SearchKnowledgeInput = Schema.Struct({
  query: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(500)).annotations({
    title: "Question",
    description: "La question du client, reformulée en quelques mots-clés en français (ex. « horaires d'ouverture samedi », « parking »)."
  })
})

export const TransferToHumanInput = Schema.Struct({
  reason: Schema.String.pipe(Schema.maxLength(300)).annotations({
    title: "Motif",
    description: "En une phrase, pourquoi le client doit parler à un humain (transmis à l'équipe)."
  })
})

interface ToolSpec<I> {
  readonly name: string
  readonly description: string
  readonly input: Schema.Schema<I, any>
  /** Side-effecting tools must never run from a cancelled turn; the call fiber guarantees it. */
  readonly sideEffecting: boolean
  readonly run: (input: I, context: ToolContext) => Effect.Effect<ToolOutcome>
  /** How a successful result maps to the call's outcome (`booked`, `information_given`…); none when absent. */
  readonly outcome?: (content: object) => Outcome | undefined
}

/** A result the model reads; one with `status: "error"` is flagged as a tool error too. */
const result = (content: unknown): ToolOutcome => ({
  _tag: "Result",
  content,
  isError: typeof content === "object" && content !== null && "status" in content && content.status === "error"
})

/** The JSON schema Claude sees is generated from the Schema that validates the input: one source of truth. */
const toAnthropicTool = (spec: ToolSpec<any>): Tool => {
  const { $schema: _ignored, ...schema } = JSONSchema.make(spec.input) as unknown as Record<string, unknown>
  return { name: spec.name, description: spec.description, input_schema: schema as Tool["input_schema"] }
}

export { TOOL_NAMES }

export class Tools extends Effect.Service<Tools>()("app/Tools", {
  effect: Effect.gen(function*() {
    const knowledge = yield* Knowledge
    const scheduling = yield* Scheduling
    const metrics = yield* Metrics
    const messages = yield* Messages

    const specs: ReadonlyArray<ToolSpec<any>> = [
      {
        name: "search_knowledge",
        description:
          "Cherche dans la base de connaissances de l'établissement (horaires, tarifs, accès, services, politique d'annulation...). Renvoie les passages pertinents avec leur titre, ou found=false si rien ne correspond : dans ce cas, dites que vous ne savez pas.",
        input: SearchKnowledgeInput,
        sideEffecting: false,
        outcome: (content) => ("found" in content && content.found === true ? "information_given" : undefined),
        run: (input: typeof SearchKnowledgeInput.Type, context) =>
          Effect.map(knowledge.search(context.tenant.id, input.query), (found) => result(searchResultForModel(found)))
      },
      {
        name: "check_availability",
        description:
          "Donne les créneaux libres d'une prestation pour une date précise (AAAA-MM-JJ), calculés à partir des horaires, fermetures et rendez-vous existants. Si le jour est fermé ou complet, propose les prochains jours ouverts.",
        input: CheckAvailabilityInput,
        sideEffecting: false,
        run: (input: typeof CheckAvailabilityInput.Type, context) =>
          Effect.map(scheduling.checkAvailability(context.tenant, input), result)
      },
      {
        name: "book_appointment",
        description:
          "Réserve un rendez-vous sur un créneau libre, après accord explicite du client sur la prestation, la date, l'heure et le nom. Renvoie une phrase de confirmation à relire au client, ou des créneaux alternatifs si le créneau vient d'être pris. Pour déplacer un rendez-vous pris pendant cet appel, donnez son appointmentId dans replaces_appointment_id ; sans ce champ, un rendez-vous supplémentaire est créé (par exemple une deuxième séance).",
        input: BookAppointmentInput,
        sideEffecting: true,
        outcome: (content) => ("appointmentId" in content ? "booked" : undefined),
        run: (input: typeof BookAppointmentInput.Type, context) =>
          Effect.map(
            scheduling.book(context.tenant, { callId: context.callId, callerNumber: context.callerNumber }, input),
            result
          )
      },
      {
        name: "transfer_to_human",
        description:
          "Transfère l'appel à un membre de l'équipe, quand le client le demande ou quand vous ne pouvez pas l'aider. Annoncez-le d'abord en une phrase.",
        input: TransferToHumanInput,
        sideEffecting: true,
        run: (input: typeof TransferToHumanInput.Type, context) =>
          Effect.succeed<ToolOutcome>(
            context.tenant.config.transferNumber
              ? { _tag: "Transfer", reason: input.reason }
              : result({
                transferred: false,
                message:
                  "Aucun numéro de transfert n'est configuré. Dites au client que personne ne peut prendre l'appel maintenant et proposez de noter un message avec take_message."
              })
          )
      },
      {
        name: TAKE_MESSAGE,
        description: TAKE_MESSAGE_DESCRIPTION,
        input: TakeMessageInput,
        sideEffecting: true,
        outcome: () => "message_taken",
        run: (input: TakeMessageInput, context) =>
          Effect.map(
            runTakeMessage(messages, input, { tenantId: context.tenant.id, callId: context.callId, callerNumber: context.callerNumber }),
            result
          )
      }
    ]
    const byName = new Map(specs.map((spec) => [spec.name, spec]))
    const definitions: ReadonlyArray<Tool> = specs.map(toAnthropicTool)

    /** Validates the model's input with the tool's Schema; a bad input is a result the model can correct. */
    const execute = Effect.fn("Tools.execute")(function*(name: string, rawInput: unknown, context: ToolContext) {
      const spec = byName.get(name)
      if (!spec) {
        return { _tag: "Result", content: { error: `Outil inconnu : ${name}` }, isError: true } as ToolOutcome
      }
      const decoded = yield* Schema.decodeUnknown(spec.input, { errors: "all" })(rawInput).pipe(Effect.either)
      if (decoded._tag === "Left") {
        const issues = ParseResult.ArrayFormatter.formatErrorSync(decoded.left)
          .map((issue) => `${issue.path.join(".") || "entrée"} : ${issue.message}`)
        return { _tag: "Result", content: { error: "Paramètres invalides", details: issues }, isError: true } as ToolOutcome
      }
      const [elapsed, outcome] = yield* Effect.timed(spec.run(decoded.right, context))
      yield* metrics.toolDuration(name, Duration.toSeconds(elapsed))
      if (outcome._tag === "Result" && !outcome.isError && spec.outcome && typeof outcome.content === "object" && outcome.content !== null) {
        return { ...outcome, callOutcome: spec.outcome(outcome.content) }
      }
      return outcome
    })

    return { definitions, execute, isSideEffecting: (name: string) => byName.get(name)?.sideEffecting ?? false } as const
  })
}) {}
