import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { normalizePhone } from "../scheduling/phone.ts"
import type { Messages } from "./Messages.ts"

/**
 * The `take_message` tool, self-contained (name, description, input Schema, handler) so the tool
 * registry only lists it. The caller's number is the default callback number: the model never has
 * to ask for it, and never invents it.
 */

export const TAKE_MESSAGE = "take_message"

export const TakeMessageInput = Schema.Struct({
  caller_name: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(120)).annotations({
    title: "Nom",
    description: "Le nom du client, tel qu'il l'a donné."
  }),
  callback_number: Schema.optional(Schema.String.pipe(Schema.maxLength(40)).annotations({
    title: "Numéro de rappel",
    description: "Le numéro où rappeler le client, seulement s'il en donne un autre que celui d'où il appelle."
  })),
  message: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(1000)).annotations({
    title: "Message",
    description: "Le message à transmettre à l'équipe, en une ou deux phrases, avec les détails utiles donnés par le client."
  }),
  urgent: Schema.optionalWith(Schema.Boolean, { default: () => false }).annotations({
    title: "Urgent",
    description: "true seulement si le client dit que c'est urgent."
  })
})
export type TakeMessageInput = typeof TakeMessageInput.Type

export const TAKE_MESSAGE_DESCRIPTION =
  "Note un message pour l'équipe (nom du client, message, numéro de rappel, urgence), quand personne ne peut prendre l'appel ou que le client veut laisser un message. Le numéro de l'appelant est utilisé si le client n'en donne pas d'autre. Renvoie une phrase à relire au client pour confirmer ce qui a été noté."

/** "+33612345678" → "06 12 34 56 78", as it is read aloud; other numbers as they are. */
export const spokenNumber = (e164: string): string =>
  /^\+33[1-9]\d{8}$/.test(e164) ? `0${e164.slice(3)}`.replace(/(\d{2})(?=\d)/g, "$1 ") : e164

export const runTakeMessage = (
  messages: Messages,
  input: TakeMessageInput,
  context: { readonly tenantId: string; readonly callId: string; readonly callerNumber: string | null }
) =>
  Effect.gen(function*() {
    const given = input.callback_number?.trim()
    const callbackNumber = given
      ? Option.getOrElse(normalizePhone(given), () => given)
      : context.callerNumber !== null && Option.isSome(normalizePhone(context.callerNumber))
      ? context.callerNumber
      : null
    const taken = yield* messages.take({
      tenantId: context.tenantId,
      callId: context.callId,
      callerName: input.caller_name.trim(),
      callbackNumber,
      message: input.message.trim(),
      urgent: input.urgent
    })
    const callback = callbackNumber === null
      ? "Je n'ai pas de numéro pour vous rappeler : à quel numéro l'équipe peut-elle vous joindre ?"
      : `L'équipe vous rappellera au ${spokenNumber(callbackNumber)}.`
    return {
      status: "taken",
      messageId: taken.id,
      urgent: taken.urgent,
      readBack: `J'ai bien noté votre message, au nom de ${taken.callerName} : « ${taken.message} ». ${callback}`,
      instructions: callbackNumber === null
        ? "Relisez readBack au client ; s'il donne un numéro, notez le message à nouveau avec callback_number."
        : "Relisez readBack au client, puis demandez s'il souhaite autre chose."
    }
  })
