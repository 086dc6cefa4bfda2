/**
 * A unit harness for one call fiber (`CallSessions.run`) with the services it talks to swapped at the service
 * level: a scripted Claude, scripted tools, a stub tenant directory; a real SQLite database (`:memory:`, real
 * migrations) for calls, messages and events; `TestClock` for every timer of the call (first-token timeout,
 * filler, speech estimates), so tests advance time instead of sleeping.
 *
 * ```ts
 * await runCall({ claude: () => say("Bonjour !") }, (call) => Effect.gen(function*() {
 *   yield* call.prompt("Allô ?")
 *   expect(yield* call.textUntilLast()).toBe("Bonjour !")
 * }))
 * ```
 */
import { SqlClient } from "@effect/sql"
import {
  Cause,
  Chunk,
  ConfigProvider,
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  Layer,
  Logger,
  Option,
  Queue,
  Schema,
  Scope,
  Stream,
  TestClock,
  TestContext,
  TestServices
} from "effect"
import { CallEnd } from "../../src/call/CallEnd.ts"
import { CallSessions } from "../../src/call/CallSession.ts"
import { type Inbound, SOCKET_CLOSED } from "../../src/call/events.ts"
import { LiveCalls } from "../../src/call/LiveCalls.ts"
import { CallOwners, type OwnerRow } from "../../src/cluster/CallOwners.ts"
import { Instance } from "../../src/cluster/Instance.ts"
import { Summaries } from "../../src/llm/Summaries.ts"
import { AppConfig } from "../../src/config.ts"
import { Claude, ClaudeError, type ClaudeEvent, type ClaudeRequest } from "../../src/llm/Claude.ts"
import { Metrics } from "../../src/observability/Metrics.ts"
import { decodeCallEvent, end, type OutboundFrame, text } from "../../src/carriers/twilio/frames.ts"
import { CallsRepo, type MessageRow } from "../../src/storage/CallsRepo.ts"
import { testDatabase } from "./db.ts"
import type { Tenant } from "../../src/tenants/Tenant.ts"
import { TenantConfig, type TenantConfigInput } from "../../src/tenants/TenantConfig.ts"
import { Tenants } from "../../src/tenants/Tenants.ts"
import { type ToolContext, type ToolOutcome, Tools } from "../../src/tools/Tools.ts"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { type FixtureEvent, fixturesDir, type InboundFrameJson } from "./fixtures.ts"

// ---------------------------------------------------------------------------------------------------
// Scripted Claude

/** What the scripted model does for one request: a stream of already reassembled events. */
export type ClaudeScript = (request: ClaudeRequest, index: number) => Stream.Stream<ClaudeEvent, ClaudeError>

export const say = (...chunks: ReadonlyArray<string>): Stream.Stream<ClaudeEvent, ClaudeError> =>
  Stream.fromIterable([
    ...chunks.map((text): ClaudeEvent => ({ _tag: "TextDelta", text })),
    { _tag: "Stop", stopReason: "end_turn" } as const
  ])
export const useTool = (name: string, input: unknown, id = `toolu_${name}_${++toolIds}`): Stream.Stream<ClaudeEvent, ClaudeError> =>
  Stream.make<[ClaudeEvent]>({ _tag: "ToolUse", id, name, input })
let toolIds = 0
/** A pause inside the model's reply, on the TestClock. */
export const pause = (duration: Duration.DurationInput): Stream.Stream<never> => Stream.execute(Effect.sleep(duration))
export const failWith = (status: number | undefined, transient = false): Stream.Stream<never, ClaudeError> =>
  Stream.fail(new ClaudeError({ status, transient, message: `scripted failure ${status ?? "?"}` }))
export const silence: Stream.Stream<never> = Stream.never

/** One request the call fiber made, and how its stream ended. */
export interface ClaudeCall {
  readonly index: number
  readonly request: ClaudeRequest
  /** Indexes of earlier requests whose stream was still open when this one was made. */
  readonly openWhenMade: ReadonlyArray<number>
  /** Resolves when the stream's scope closes: `completed` if it ran to its end, else `cancelled`. */
  readonly closed: Deferred.Deferred<"completed" | "cancelled">
}

// ---------------------------------------------------------------------------------------------------
// Scripted tools

export type ToolScript = (name: string, input: unknown, context: ToolContext) => Effect.Effect<ToolOutcome>
export const toolResult = (content: unknown): ToolOutcome => ({ _tag: "Result", content, isError: false })

const TOOL_DEFINITIONS = ["search_knowledge", "check_availability", "book_appointment", "transfer_to_human"].map((name) => ({
  name,
  description: `scripted ${name}`,
  input_schema: { type: "object" as const, properties: {} }
}))

// ---------------------------------------------------------------------------------------------------
// The harness

export const DEMO_CONFIG: TenantConfigInput = {
  name: "Salon Lumière",
  phoneNumbers: ["+33939035760"],
  timezone: "Europe/Paris",
  language: "fr-FR",
  greeting: "Bonjour, Salon Lumière, que puis-je faire pour vous ?",
  transferNumber: "+33612345678",
  openingHours: { tuesday: [["09:00", "12:00"], ["14:00", "19:00"]] },
  services: [{ type: "coupe-femme", name: "Coupe femme", durationMinutes: 45 }]
}

export interface CallOptions {
  readonly claude?: ClaudeScript
  readonly tools?: ToolScript
  /** Tenant configuration overrides (e.g. `{ transferNumber: undefined }`). */
  readonly tenant?: Partial<TenantConfigInput>
  /** Environment for AppConfig (FIRST_TOKEN_TIMEOUT_MS, FILLER_AFTER_MS, MAX_TOOL_ROUNDS…). */
  readonly env?: Readonly<Record<string, string>>
  /** Send the setup frame for the call at start (default true). */
  readonly setup?: boolean
  readonly callSid?: string
}

export interface CallHarness {
  readonly callId: string
  readonly callSid: string
  readonly tenant: Tenant
  /** Send a frame (an object is JSON-encoded, a string is sent raw). */
  readonly send: (frame: object | string) => Effect.Effect<void>
  readonly prompt: (voicePrompt: string) => Effect.Effect<void>
  readonly interrupt: (heard: string, durationMs?: number) => Effect.Effect<void>
  readonly dtmf: (digit: string) => Effect.Effect<void>
  readonly info: (name: string, value: string) => Effect.Effect<void>
  /** Every frame the call sent so far. */
  readonly frames: ReadonlyArray<OutboundFrame>
  /** The next frame sent (waits, on the live clock, up to 2 s). */
  readonly nextFrame: Effect.Effect<OutboundFrame, Error>
  /** Text frames up to and including the next `last: true`; returns the spoken text. */
  readonly textUntilLast: Effect.Effect<string, Error>
  /** Every Claude request made so far. */
  readonly claudeCalls: ReadonlyArray<ClaudeCall>
  /** Waits for Claude request `index` (0-based). */
  readonly claudeCall: (index: number) => Effect.Effect<ClaudeCall, Error>
  /** Every tool the call executed: name and input. */
  readonly toolRuns: ReadonlyArray<{ readonly name: string; readonly input: unknown }>
  /** Waits until the TestClock has at least `count` pending sleeps, then advances it by `duration`. */
  readonly advance: (duration: Duration.DurationInput, options?: { readonly sleeps?: number }) => Effect.Effect<void, Error>
  /** The socket was closed by the server (code, reason), if it was. */
  readonly serverClosed: Deferred.Deferred<{ readonly code: number; readonly reason: string }>
  /** Hang up: tell the call its socket closed, as the registry does, and wait for it to end. */
  readonly hangUp: Effect.Effect<void>
  /** Completed once the call was finalised (CallEnd queued its summary). */
  readonly finalised: Deferred.Deferred<void>
  /** Stored messages of the call (the journal writes them off the hot path: poll with `eventually`). */
  readonly messages: Effect.Effect<ReadonlyArray<MessageRow>>
  readonly events: Effect.Effect<ReadonlyArray<{ readonly type: string; readonly data: any }>>
  readonly callRow: Effect.Effect<{ readonly ended_at: string | null; readonly end_reason: string | null; readonly outcome: string | null }>
  /** A deploy with another instance up: the call moves at its next pause (what the drain asks). */
  readonly moveToAnotherInstance: Effect.Effect<void>
  /** The call's row in `call_owners`, if any. */
  readonly owner: Effect.Effect<Option.Option<OwnerRow>>
}

/** A real pause, whatever clock the test runs with. */
const liveSleep = (duration: Duration.DurationInput) => TestServices.provideLive(Effect.sleep(duration))

/** Waits for `what`, failing with a readable error after `ms` of real time (the TestClock does not move it). */
export const within = <A, E>(ms: number, what: string, effect: Effect.Effect<A, E>): Effect.Effect<A, E | Error> =>
  Effect.raceFirst(
    effect,
    Effect.zipRight(liveSleep(Duration.millis(ms)), Effect.fail(new Error(`timed out after ${ms} ms waiting for ${what}`)))
  )

/** Polls `effect` (every 5 ms of real time) until `predicate` holds; fails after `ms` with the last value. */
export const eventually = <A>(effect: Effect.Effect<A>, predicate: (a: A) => boolean, what: string, ms = 2_000): Effect.Effect<A, Error> =>
  Effect.gen(function*() {
    const deadline = Date.now() + ms
    let last = yield* effect
    while (!predicate(last)) {
      if (Date.now() > deadline) return yield* Effect.fail(new Error(`${what}: still ${JSON.stringify(last)} after ${ms} ms`))
      yield* liveSleep("5 millis")
      last = yield* effect
    }
    return last
  })

/** A service whose methods the test did not provide die with "unimplemented: Service.method". */
const stub = <I, S extends object>(tag: Context.Tag<I, S>, impl: Partial<S>, make: (s: S) => S): Layer.Layer<I> =>
  Layer.succeed(
    tag,
    make(new Proxy(impl as S, {
      get: (target, key) =>
        key in target
          ? (target as any)[key]
          : typeof key === "string"
          ? () => Effect.dieMessage(`unimplemented: ${tag.key}.${key}`)
          : undefined
    }))
  )

let sidCounter = 0

/** Runs `body` against one call fiber, then hangs up (if still live) and checks the fiber ended. */
export const runCall = async <A>(
  options: CallOptions,
  body: (call: CallHarness) => Effect.Effect<A, unknown, Scope.Scope>
): Promise<A> => {
  const config = Schema.decodeUnknownSync(TenantConfig)({ ...DEMO_CONFIG, ...options.tenant })
  const tenant: Tenant = { id: "tenant-1", config }
  const claudeCalls: Array<ClaudeCall> = []
  const openStreams = new Set<number>()
  const claudeArrived = Effect.runSync(Queue.unbounded<void>())
  const script = options.claude ?? (() => say("D'accord."))
  const toolRuns: Array<{ name: string; input: unknown }> = []

  const stream = (request: ClaudeRequest) =>
      Stream.unwrapScoped(Effect.gen(function*() {
        const closed = yield* Deferred.make<"completed" | "cancelled">()
        const call: ClaudeCall = { index: claudeCalls.length, request, closed, openWhenMade: [...openStreams] }
        claudeCalls.push(call)
        openStreams.add(call.index)
        Queue.unsafeOffer(claudeArrived, undefined)
        let done = false
        yield* Effect.addFinalizer(() =>
          Effect.zipRight(Effect.sync(() => openStreams.delete(call.index)), Deferred.succeed(closed, done ? "completed" : "cancelled"))
        )
        return Stream.concat(script(request, call.index), Stream.execute(Effect.sync(() => { done = true })))
      }))
  const claude = Claude.make({
    configured: true,
    stream,
    // Like the real one: the caller's signal ends the request at once.
    respond: (request, onEvent) => {
      const reply = Stream.runForEach(stream(request), (event) => Effect.sync(() => onEvent(event)))
      const signal = request.signal
      if (signal === undefined) return reply
      const abandoned = Effect.async<never, ClaudeError>((resume) => {
        const end = () => resume(Effect.fail(new ClaudeError({ status: undefined, transient: false, message: "abandoned by the caller" })))
        if (signal.aborted) end()
        else signal.addEventListener("abort", end, { once: true })
        return Effect.sync(() => signal.removeEventListener("abort", end))
      })
      return Effect.raceFirst(reply, abandoned)
    },
    complete: () => Effect.dieMessage("unimplemented: Claude.complete")
  })
  const tools = Tools.make({
    definitions: TOOL_DEFINITIONS,
    execute: (name: string, input: unknown, context: ToolContext) =>
      Effect.suspend(() => {
        toolRuns.push({ name, input })
        return options.tools ? options.tools(name, input, context) : Effect.succeed(toolResult({ ok: true }))
      }),
    isSideEffecting: (name: string) => name === "book_appointment" || name === "transfer_to_human"
  })

  const configLayer = Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries({
    FIRST_TOKEN_TIMEOUT_MS: "8000",
    FILLER_AFTER_MS: "1500",
    MAX_TOOL_ROUNDS: "4",
    ...options.env
  }))))
  const database = testDatabase()
  const finalised = Effect.runSync(Deferred.make<void>())
  const summaries = stub(Summaries, { enqueue: () => Effect.asVoid(Deferred.succeed(finalised, undefined)) }, Summaries.make)
  const layer = CallSessions.Default.pipe(
    Layer.provideMerge(Layer.merge(CallEnd.Default, LiveCalls.Default)),
    Layer.provideMerge(Layer.mergeAll(
      CallOwners.Default.pipe(Layer.provide(CallsRepo.Default)),
      Instance.Default,
      summaries,
      AppConfig.Default.pipe(Layer.provide(configLayer)),
      CallsRepo.Default,
      Metrics.Test,
      Layer.succeed(Claude, claude),
      Layer.succeed(Tools, tools),
      stub(Tenants, { byId: (id: string) => Effect.succeed(id === tenant.id ? Option.some(tenant) : Option.none()) }, Tenants.make)
    )),
    Layer.provideMerge(database)
  )

  const program = Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const repo = yield* CallsRepo
    const sessions = yield* CallSessions
    const live = yield* LiveCalls
    const owners = yield* CallOwners
    yield* sql`INSERT INTO tenants (id, name, config, created_at, updated_at)
      VALUES (${tenant.id}, ${config.name}, ${JSON.stringify(Schema.encodeSync(TenantConfig)(config))}, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')`
    const callSid = options.callSid ?? `CA_UNIT_${++sidCounter}`
    const row = yield* repo.createInbound({
      tenantId: tenant.id,
      callSid,
      from: "+33611223344",
      to: "+33939035760",
      forwardedFrom: null,
      direction: "inbound",
      status: "ringing",
      answeredBy: live.instanceId
    })
    const inbound = yield* Queue.unbounded<Inbound>()
    const outbound = yield* Queue.unbounded<OutboundFrame>()
    const frames: Array<OutboundFrame> = []
    const serverClosed = yield* Deferred.make<{ code: number; reason: string }>()
    const sent = (frame: OutboundFrame) => {
      frames.push(frame)
      Queue.unsafeOffer(outbound, frame)
    }
    const fiber = yield* Effect.fork(sessions.run({
      decode: decodeCallEvent,
      speak: (token, last) => sent(text(token, last)),
      end: (handoff) => sent(end(handoff)),
      close: (code, reason) => Deferred.unsafeDone(serverClosed, Exit.succeed({ code, reason }))
    }, inbound, "connection-1"))

    const send = (frame: object | string) => Queue.offer(inbound, typeof frame === "string" ? frame : JSON.stringify(frame)).pipe(Effect.asVoid)
    const nextFrame = within(2_000, "the next frame from the call", Queue.take(outbound))
    const harness: CallHarness = {
      callId: row.id,
      callSid,
      tenant,
      send,
      prompt: (voicePrompt) => send({ type: "prompt", voicePrompt, lang: "fr-FR", last: true }),
      interrupt: (heard, durationMs = 800) => send({ type: "interrupt", utteranceUntilInterrupt: heard, durationUntilInterruptMs: durationMs }),
      dtmf: (digit) => send({ type: "dtmf", digit }),
      info: (name, value) => send({ type: "info", name, value }),
      frames,
      nextFrame,
      textUntilLast: Effect.gen(function*() {
        let spoken = ""
        while (true) {
          const frame = yield* nextFrame
          if (frame.type !== "text") return yield* Effect.fail(new Error(`expected a text frame, got ${JSON.stringify(frame)}`))
          spoken += frame.token
          if (frame.last) return spoken
        }
      }),
      claudeCalls,
      claudeCall: (index) =>
        within(2_000, `Claude request #${index}`, Effect.gen(function*() {
          while (claudeCalls.length <= index) yield* Queue.take(claudeArrived)
          return claudeCalls[index]!
        })),
      toolRuns,
      advance: (duration, advanceOptions = {}) =>
        Effect.gen(function*() {
          const wanted = advanceOptions.sleeps ?? 1
          yield* eventually(TestClock.sleeps(), (sleeps) => Chunk.size(sleeps) >= wanted, `${wanted} pending sleep(s) on the TestClock`)
          yield* TestClock.adjust(duration)
        }),
      serverClosed,
      hangUp: Effect.gen(function*() {
        yield* Queue.offer(inbound, SOCKET_CLOSED)
        yield* Fiber.await(fiber)
      }),
      messages: repo.messages(row.id),
      events: Effect.map(
        sql<{ type: string; data: string }>`SELECT type, data FROM call_events WHERE call_id = ${row.id} ORDER BY id`,
        (rows) => rows.map((r) => ({ type: r.type, data: JSON.parse(r.data) }))
      ).pipe(Effect.orDie),
      finalised,
      callRow: Effect.map(repo.findById(row.id), (r) => Option.getOrThrow(r)),
      moveToAnotherInstance: live.requestMoves,
      owner: owners.owner(row.id)
    }
    if (options.setup !== false) {
      yield* send({ type: "setup", sessionId: "VX_UNIT", callSid, from: "+33611223344", to: "+33939035760", customParameters: { callId: row.id } })
    }
    const result = yield* body(harness)
    yield* Fiber.interrupt(fiber)
    return result
  })

  const exit = await Effect.runPromiseExit(
    // The call runs on the TestClock; the services' own background loops (lease renewal, heartbeats) are built
    // on the real clock, so moving the TestClock by years does not replay every tick in between.
    Effect.scoped(program.pipe(Effect.provide(TestContext.TestContext))).pipe(
      Effect.provide(layer),
      Effect.provide(Logger.remove(Logger.defaultLogger))
    )
  )
  if (Exit.isFailure(exit)) {
    const failure = Cause.squash(exit.cause)
    throw failure instanceof Error ? failure : new Error(Cause.pretty(exit.cause))
  }
  return exit.value
}

// ---------------------------------------------------------------------------------------------------
// Recorded calls, read fresh

/**
 * The events of one recording, parsed from disk on every call. `loadFixture` caches the parsed events for the
 * whole process, and Bun 1.4.5's `toMatchObject` with asymmetric matchers writes the matchers into the object
 * it checks: test/unit/support-fixtures.test.ts turns the cached setup's sessionId/callSid and a dtmf digit into
 * matcher objects, and whatever reads the cache afterwards sends frames Twilio never sent.
 */
export const freshFixture = (name: string): ReadonlyArray<FixtureEvent> =>
  readFileSync(join(fixturesDir, `${name}.jsonl`), "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as FixtureEvent)

export const freshInboundFrames = (name: string): Array<InboundFrameJson> =>
  freshFixture(name).flatMap((e) => (e.dir === "in" ? [e.frame] : []))
