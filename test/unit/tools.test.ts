import { describe, expect, test } from "../support/test.ts"
import { Effect, Layer } from "effect"
import { Knowledge } from "../../src/knowledge/Knowledge.ts"
import { systemPrompt } from "../../src/llm/prompt.ts"
import { Messages, type NewMessage } from "../../src/messages/Messages.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import { Scheduling } from "../../src/scheduling/Scheduling.ts"
import type { Tenant } from "../../src/tenants/Tenant.ts"
import { decodeTenantConfig } from "../../src/tenants/TenantConfig.ts"
import { type ToolContext, Tools } from "../../src/tools/Tools.ts"
import { runWith } from "../support/effect.ts"
import { salonConfig } from "../support/salon.ts"

/** Tools with the services they call replaced: any method a test did not script dies with "unimplemented". */
const unimplemented = (name: string) => () => Effect.dieMessage(`unimplemented: ${name}`)

const searched: Array<{ tenantId: string; query: string }> = []
const knowledge = Layer.succeed(Knowledge, Knowledge.make({
  addDocuments: unimplemented("addDocuments"),
  replaceAll: unimplemented("replaceAll"),
  backfillEmbeddings: unimplemented("backfillEmbeddings"),
  removeAll: unimplemented("removeAll"),
  warm: unimplemented("warm"),
  search: (tenantId: string, query: string) => {
    searched.push({ tenantId, query })
    return Effect.succeed({ found: false, passages: [], message: "rien", strategy: "none" }) as never
  }
} as never))
const scheduling = Layer.succeed(Scheduling, Scheduling.make({
  checkAvailability: () => Effect.succeed({ status: "error", error: "past_date", message: "Cette date est passée." }) as never,
  book: unimplemented("book"),
  listAppointments: unimplemented("listAppointments"),
  cancel: unimplemented("cancel")
} as never))
const taken: Array<NewMessage> = []
const messages = Layer.succeed(Messages, Messages.make({
  list: unimplemented("list"),
  setStatus: unimplemented("setStatus"),
  countForCall: unimplemented("countForCall"),
  take: (input: NewMessage) => {
    taken.push(input)
    return Effect.succeed({ ...input, id: "message-1", status: "new", createdAt: "2026-11-30T10:00:00.000Z", handledAt: null })
  }
} as never))
const layer = Tools.Default.pipe(Layer.provide(Layer.mergeAll(knowledge, scheduling, messages, Metrics.Test)))

const run = <A>(effect: Effect.Effect<A, never, Tools>) => runWith(effect, layer)

const tenant = (transferNumber?: string): ToolContext["tenant"] => ({
  id: "tenant-a",
  config: Effect.runSync(decodeTenantConfig({
    name: "Salon",
    phoneNumbers: ["+33100000000"],
    greeting: "Bonjour",
    ...(transferNumber ? { transferNumber } : {})
  }))
})
const context = (transferNumber?: string): ToolContext => ({ tenant: tenant(transferNumber), callId: "call-1", callerNumber: "+33611111111" })

describe("tool registry", () => {
  test("Claude sees the five tools with JSON schemas generated from their input Schemas", async () => {
    const definitions = await run(Effect.map(Tools, (tools) => tools.definitions))
    expect(definitions.map((d) => d.name)).toEqual(["search_knowledge", "check_availability", "book_appointment", "transfer_to_human", "take_message"])
    const take = definitions.find((d) => d.name === "take_message")!
    expect(take.input_schema.required).toEqual(["caller_name", "message"])
    const book = definitions.find((d) => d.name === "book_appointment")!
    expect(book.input_schema.type).toBe("object")
    expect(book.input_schema.required).toEqual(["date", "time", "client_name", "service_type"])
    const properties = book.input_schema.properties as Record<string, { description?: string; pattern?: string }>
    expect(properties.time!.pattern).toBe("^([01]\\d|2[0-3]):[0-5]\\d$")
    expect(properties.date!.description).toContain("AAAA-MM-JJ")
    expect(JSON.stringify(definitions)).not.toContain("$schema")
    for (const definition of definitions) expect(definition.description?.length ?? 0).toBeGreaterThan(40)
  })

  test("what goes to Claude with every request, the tools and the system prompt, is Latin-1 text", async () => {
    // One character past U+00FF makes the whole JSON body a string of two bytes per character, held by the SDK
    // while a turn waits for Claude: a single "…" in a tool description doubled it.
    const definitions = await run(Effect.map(Tools, (tools) => tools.definitions))
    // The owner's own text, typed with a phone's typography, goes in Latin-1 too.
    const config = salonConfig({ name: "Salon d’Anna", greeting: "Bonjour, c’est le salon d’Anna… que puis-je pour vous ?", closures: ["2026-12-25"], transferNumber: "+33612345678" })
    const salon: Tenant = { id: "salon", config }
    const body = JSON.stringify({ system: systemPrompt(salon, Date.parse("2026-12-15T09:00:00Z")), tools: definitions })
    expect([...body].filter((char) => char.codePointAt(0)! > 0xff)).toEqual([])
  })

  test("an input the Schema refuses comes back to the model as an error naming the field", async () => {
    const outcome = await run(Effect.flatMap(Tools, (tools) =>
      tools.execute("book_appointment", { date: "demain", time: "9h", service_type: "coupe" }, context())))
    expect(outcome._tag).toBe("Result")
    if (outcome._tag !== "Result") return
    expect(outcome.isError).toBe(true)
    const details = (outcome.content as { details: Array<string> }).details.join("\n")
    expect(details).toContain("date")
    expect(details).toContain("time")
    expect(details).toContain("client_name")
  })

  test("search runs for the call's tenant only, whatever the model asks", async () => {
    searched.length = 0
    await run(Effect.flatMap(Tools, (tools) => tools.execute("search_knowledge", { query: "parking", tenantId: "tenant-b" }, context())))
    expect(searched).toEqual([{ tenantId: "tenant-a", query: "parking" }])
  })

  test("a scheduling error result is flagged as a tool error", async () => {
    const outcome = await run(Effect.flatMap(Tools, (tools) =>
      tools.execute("check_availability", { date: "2020-01-01", service_type: "coupe" }, context())))
    expect(outcome).toMatchObject({ _tag: "Result", isError: true })
  })

  test("transfer_to_human hands over only when the tenant has a transfer number", async () => {
    const withNumber = await run(Effect.flatMap(Tools, (tools) => tools.execute("transfer_to_human", { reason: "urgence" }, context("+33600000000"))))
    expect(withNumber).toEqual({ _tag: "Transfer", reason: "urgence" })
    const without = await run(Effect.flatMap(Tools, (tools) => tools.execute("transfer_to_human", { reason: "urgence" }, context())))
    expect(without._tag).toBe("Result")
    expect(JSON.stringify(without)).toContain("message")
  })

  test("take_message stores the message for the call's tenant, calling back the caller's number unless told another", async () => {
    taken.length = 0
    const outcome = await run(Effect.flatMap(Tools, (tools) =>
      tools.execute("take_message", { caller_name: "Mme Martin", message: "Rappeler pour un devis", tenantId: "tenant-b" }, context())))
    expect(taken).toEqual([{
      tenantId: "tenant-a",
      callId: "call-1",
      callerName: "Mme Martin",
      callbackNumber: "+33611111111",
      message: "Rappeler pour un devis",
      urgent: false
    }])
    expect(outcome).toMatchObject({ _tag: "Result", isError: false, content: { status: "taken", messageId: "message-1" } })
    const readBack = (outcome as { content: { readBack: string } }).content.readBack
    expect(readBack).toContain("Mme Martin")
    expect(readBack).toContain("Rappeler pour un devis")
    expect(readBack).toContain("06 11 11 11 11")

    await run(Effect.flatMap(Tools, (tools) =>
      tools.execute("take_message", { caller_name: "Paul", message: "Fuite", callback_number: "07 22 33 44 55", urgent: true }, context())))
    expect(taken[1]).toMatchObject({ callbackNumber: "+33722334455", urgent: true })
  })

  test("an unknown tool is an error result, not a crash", async () => {
    const outcome = await run(Effect.flatMap(Tools, (tools) => tools.execute("delete_everything", {}, context())))
    expect(outcome).toMatchObject({ _tag: "Result", isError: true })
  })
})
