import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Runtime from "effect/Runtime"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { makeAlarms } from "../alarms.ts"
import { AppConfig } from "../config.ts"
import { Claude } from "../llm/Claude.ts"
import { Metrics } from "../observability/Metrics.ts"
import { annotateThisFiber } from "../observability/Logging.ts"
import { CallsRepo, type CallRow } from "../storage/CallsRepo.ts"
import type { Tenant } from "../tenants/Tenant.ts"
import { Tenants } from "../tenants/Tenants.ts"
import { type ToolContext, Tools } from "../tools/Tools.ts"
import { cutToHeard } from "./history.ts"
import { CallEnd } from "./CallEnd.ts"
import { LiveCalls } from "./LiveCalls.ts"
import type { FoundCall } from "../cluster/CallOwners.ts"
import { spokenSentence } from "../speech/sentence.ts"
import { SAY, speechEstimate } from "./sentences.ts"
import { FRAME_EVENTS_STORED, type Journal, loadTranscript, makeJournal, type Transcript } from "./transcript.ts"
import { takeTurn, type TurnContext } from "./turn.ts"
import {
  atPause,
  type CallState,
  decideEndReason,
  endSent as markEndSent,
  initialState,
  isLive,
  noteOutcome as noteOutcomeIn,
  startEnding,
  startMoving,
  turnFailed
} from "./state.ts"
import { type CallChannel, type CallEvent, type Handoff, type Inbound, SOCKET_CLOSED } from "./events.ts"
import { decideOutcome, Outcome } from "./vocabulary.ts"

/**
 * The whole life of one phone call, in the order it happens: setup (`run`: the call, its tenant, the checks)
 * → the call's state and how it speaks → how it ends a session (transfer, goodbye, failed turns) → one handler
 * per carrier event → the frame loop → the end (`endOfSession`, the one cleanup). The turn is in turn.ts, the
 * transcript and its journal in transcript.ts, the state's transitions and decisions in state.ts.
 *
 * A turn runs in a child fiber of its own (one at a time), so a barge-in, a new prompt or a hang-up cancels it — and
 * the HTTP request to Claude. Writes go through the journal, never between a prompt and its first token.
 *
 * Longer than 400 lines on purpose: a call's life reads top to bottom in one file; its parts that stand alone
 * (turn, transcript, state, sentences) are already elsewhere.
 */

export type { CallChannel }

/** After its last token a reply is still being said; TTS reports it (agentSpeaking) within this time. */
const SPEECH_REPORTED_WITHIN_MS = 1_000
const PAUSE_POLL = Schedule.spaced(Duration.millis(50))
const decodeOutcome = Schema.decodeUnknownOption(Outcome)
/** Far above any utterance (a minute of speech is ~1,000 characters); longer prompts are cut, not refused. */
export const MAX_PROMPT_CHARS = 4_000

/** What the end of a session needs of its call (see `endOfSession`). */
interface SessionEnding {
  readonly callId: string
  readonly connectionId: string
  readonly tenant: Tenant
  readonly state: CallState
  readonly journal: Journal
  readonly transcript: Transcript
  /** Stops listening for moves and interrupts a move under way. */
  readonly stopMoves: Effect.Effect<void>
  /** Interrupts the running turn (or transfer, or goodbye), awaiting its cleanup. */
  readonly stopRunning: Effect.Effect<void>
  /** Stops the call's timers (once the turn is stopped). */
  readonly stopAlarms: Effect.Effect<void>
  readonly countTextFrames: () => void
  readonly sayWhole: (sentence: string, last?: boolean) => Effect.Effect<string>
  readonly noteOutcome: (outcome: Outcome) => Effect.Effect<void>
  readonly sendEnd: (handoff: Handoff) => Effect.Effect<void>
}

export class CallSessions extends Effect.Service<CallSessions>()("app/CallSessions", {
  effect: Effect.gen(function*() {
    const config = yield* AppConfig
    const calls = yield* CallsRepo
    const tenants = yield* Tenants
    const claude = yield* Claude
    const tools = yield* Tools
    const metrics = yield* Metrics
    const callEnd = yield* CallEnd
    const live = yield* LiveCalls

    /**
     * Runs one call until its socket closes or it is interrupted. Never fails. A socket that never sends its
     * first frame is the registry's to close (one timer for all sockets, not a race per call).
     */
    const run = Effect.fnUntraced(
      function*(socket: CallChannel, inbound: Queue.Dequeue<Inbound>, connectionId: string) {
        const first = yield* Queue.take(inbound)
        if (first === SOCKET_CLOSED) return
        const decoded = Either.getRight(socket.decode(first))
        const setup = Option.flatMap(decoded, ({ event }) => event._tag === "SessionStarted" ? Option.some(event) : Option.none())
        if (Option.isNone(setup)) {
          yield* metrics.frameIn("unknown")
          yield* Effect.logWarning("relay socket's first frame is not a setup; closing")
          return socket.close(1008, "setup expected")
        }
        yield* metrics.frameIn("setup")
        // Nothing in the setup frame is trusted beyond the call SID: the call and its tenant come from the row the
        // signed voice webhook created. The handshake signature covers a fixed URL, so it proves little on its own:
        // the call is taken for this socket only when the frame also carries the call id we gave Twilio in
        // <Parameter>, for a call that is still open and not live elsewhere (found and taken in one step). It is
        // released however the session ends, even before it began.
        yield* Effect.acquireUseRelease(
          live.claimBySid(setup.value.callSid, setup.value.parameters["callId"] ?? "", connectionId),
          (found) => begin(socket, inbound, setup.value, found, connectionId),
          (found) => Option.isSome(found) ? live.release(found.value.call.id, connectionId) : Effect.void
        )
      },
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause) ? Effect.void : Effect.logError("call session failed", cause)
      )
    )

    /** The session of a call looked up by its setup (and taken, if it was ours): refused, or the conversation. */
    const begin = Effect.fnUntraced(function*(
      socket: CallChannel,
      inbound: Queue.Dequeue<Inbound>,
      setup: Extract<CallEvent, { _tag: "SessionStarted" }>,
      found: Option.Option<FoundCall>,
      connectionId: string
    ) {
      const tenant = Option.isNone(found) ? Option.none<Tenant>() : yield* tenants.byId(found.value.call.tenant_id)
      if (Option.isNone(found) || Option.isNone(tenant)) {
        yield* Effect.logWarning("setup for a call we never answered; ending the session").pipe(
          Effect.annotateLogs("callSid", setup.callSid)
        )
        // Then closed: a replayed handshake must not hold a socket open until the idle timeout.
        return yield* Effect.sync(() => {
          socket.speak(spokenSentence(SAY.unknownCall), true)
          socket.end({ reason: "unknown_call" })
          socket.close(1000, "unknown call")
        })
      }
      const { call, held, firstSession } = found.value
      const refusal = setup.parameters["callId"] !== call.id
        ? "call id parameter does not match"
        : call.ended_at !== null
        ? "call already ended"
        : held
        ? null
        : "call already has a live session"
      if (refusal !== null) {
        yield* metrics.error("relay")
        yield* Effect.logWarning("relay session refused").pipe(
          Effect.annotateLogs({ callSid: call.twilio_call_sid, reason: refusal })
        )
        return socket.close(1008, "session refused")
      }
      // The session's fiber is this socket's alone (CallRegistry.open): every later line, and every fiber it forks,
      // carries the call.
      yield* annotateThisFiber({ callSid: call.twilio_call_sid, tenantId: tenant.value.id })
      yield* conversation(socket, inbound, setup, call, tenant.value, connectionId, firstSession)
    })

    const conversation = Effect.fnUntraced(function*(
      socket: CallChannel,
      inbound: Queue.Dequeue<Inbound>,
      setup: Extract<CallEvent, { _tag: "SessionStarted" }>,
      call: CallRow,
      callTenant: Tenant,
      connectionId: string,
      firstSession: boolean
    ) {
      const callId = call.id
      const clock = yield* Effect.clock

      // ---- State, owned by this call's fibers (they interleave on one thread, never in parallel).
      const journal = yield* makeJournal(calls, metrics, callId)
      const { event, frameEvent } = journal
      // A call resumed on this session (a move, a drop, a transfer nobody answered) goes on from its stored lines.
      const transcript = yield* loadTranscript(calls, callId, journal, firstSession)
      const { lines } = transcript
      // Reopened because nobody answered the transfer (the dial result wrote what the caller heard): this session
      // takes a message and never transfers again — the prompt, the tools and key 0 all see no transfer number.
      const transferUnanswered = lines.some((line) => line.role === "assistant" && line.content === SAY.transferUnanswered)
      const tenant: Tenant = transferUnanswered
        ? { ...callTenant, config: { ...callTenant.config, transferNumber: undefined } }
        : callTenant
      const toolContext: ToolContext = { tenant, callId, callerNumber: call.from_number || null }
      const addLines = transcript.add
      const state = initialState()
      const alarms = yield* makeAlarms
      // A resumed call goes on with what it already achieved (a booking made before the move).
      const achieved = decodeOutcome(call.outcome)
      if (Option.isSome(achieved) && achieved.value !== "abandoned") noteOutcomeIn(state, achieved.value)
      /** Whether TTS says it is speaking (speaker events); listeners hear each change. */
      let agentSpeaking = false
      const speechListeners = new Set<(speaking: boolean) => void>()
      const speechChanged = (speaking: boolean) => {
        agentSpeaking = speaking
        for (const listener of speechListeners) listener(speaking)
      }

      /** An outcome noted during the call, stored at once (a crash after a booking still shows it). */
      const noteOutcome = (outcome: Outcome) =>
        Effect.suspend(() => {
          if (!noteOutcomeIn(state, outcome)) return Effect.void
          return journal.outcome(decideOutcome(state.outcomes))
        })
      /** The hot path: a token to the carrier, no effect per token. */
      let textFramesUncounted = 0
      /** When the last token went out (a move waits until TTS has had time to report it is speaking). */
      let lastTokenAt = 0
      /** Text frames are counted once per reply, not once per token (a labelled counter costs a hash). */
      const countTextFrames = () => {
        if (textFramesUncounted > 0) metrics.unsafe.frameOut("text", textFramesUncounted)
        textFramesUncounted = 0
      }
      const speakNow = (token: string, last: boolean) => {
        textFramesUncounted++
        lastTokenAt = clock.unsafeCurrentTimeMillis()
        socket.speak(token, last)
        if (last) countTextFrames()
      }
      const sendEnd = (handoff: Handoff) =>
        Effect.sync(() => {
          metrics.unsafe.frameOut("end")
          socket.end(handoff)
        })
      /** A fixed sentence, through its own normaliser; returns what was said, for the transcript. */
      const sayNow = (sentence: string, last: boolean) => {
        const said = spokenSentence(sentence)
        speakNow(said, last)
        return said
      }
      const sayWhole = (sentence: string, last = true) => Effect.sync(() => sayNow(sentence, last))

      /** Waits until TTS has spoken what was sent (it starts, then stops speaking), never longer than an estimate. */
      const untilSpoken = (sentence: string) =>
        Effect.async<void>((resume) => {
          let started = agentSpeaking
          const listener = (speaking: boolean) => {
            if (speaking) started = true
            else if (started) {
              speechListeners.delete(listener)
              resume(Effect.void)
            }
          }
          speechListeners.add(listener)
          return Effect.sync(() => speechListeners.delete(listener))
        }).pipe(Effect.timeout(speechEstimate(sentence)), Effect.ignore)

      /** Ends the relay session; the <Connect action> webhook then dials or hangs up. */
      const endSession = (reason: "transfer" | "hangup", sentence: string, detail: Record<string, unknown>) =>
        Effect.gen(function*() {
          // From here on the call is ending: later prompts and barge-ins no longer cancel it.
          startEnding(state, reason === "transfer" ? "transfer" : "agent_hangup")
          if (reason === "transfer") yield* noteOutcome("transferred")
          const spoken = yield* sayWhole(sentence)
          const [said] = yield* addLines([{ role: "assistant", content: spoken, turn: transcript.turn }])
          transcript.lastReply = said ? [said] : []
          yield* event(reason === "transfer" ? "transfer" : "agent_hangup", detail)
          yield* untilSpoken(sentence)
          yield* sendEnd({ reason, callId })
          markEndSent(state)
        })

      const transfer = (via: "tool" | "dtmf" | "failure", why: string) =>
        tenant.config.transferNumber
          ? endSession("transfer", SAY.handoff, { via, reason: why })
          : Effect.gen(function*() {
            const spoken = yield* sayWhole(SAY.noTransfer)
            const [said] = yield* addLines([{ role: "assistant", content: spoken, turn: transcript.turn }])
            transcript.lastReply = said ? [said] : []
            yield* event("transfer_unavailable", { via })
          })

      /**
       * A turn that could not help: the apology, or — the second time in a row — a handover (or a polite
       * goodbye without a transfer number), since asking to repeat again would loop forever.
       */
      const failedTurn = (apology: string) =>
        Effect.gen(function*() {
          if (turnFailed(state)) {
            const spoken = yield* sayWhole(SAY.keepsFailing + " ", false)
            transcript.lastReply.push(...yield* addLines([{ role: "assistant", content: spoken.trimEnd(), turn: transcript.turn }]))
            yield* tenant.config.transferNumber
              ? transfer("failure", "échecs répétés")
              : endSession("hangup", SAY.goodbyeAfterFailure, { via: "failure" })
          } else {
            const spoken = yield* sayWhole(apology)
            transcript.lastReply.push(...yield* addLines([{ role: "assistant", content: spoken, turn: transcript.turn }]))
          }
          return "failed" as const
        })

      const turnContext: TurnContext = {
        tenant,
        toolContext,
        clock,
        config,
        claude,
        tools,
        metrics,
        journal,
        transcript,
        state,
        alarms,
        speakNow,
        sayNow,
        noteOutcome: (outcome) => noteOutcome(outcome),
        failedTurn: (apology) => failedTurn(apology),
        transfer: (why) => transfer("tool", why),
        countTextFrames: () => countTextFrames()
      }
      const runTurn = (utterance: string, promptAt: number) => takeTurn(turnContext, utterance, promptAt)

      /** Forks with the call's context and log annotations (its turn, its mover). */
      const runFork = Runtime.runFork(yield* Effect.runtime<never>())
      /** The turn (or transfer, or goodbye) running now, at most one: a new one, a barge-in or the end interrupts it. */
      let running: Fiber.RuntimeFiber<void> | undefined
      const stopRunning = Effect.suspend(() => {
        const fiber = running
        running = undefined
        return fiber === undefined ? Effect.void : Effect.asVoid(Fiber.interrupt(fiber))
      })

      /** Cancels the running turn (awaiting its cleanup) and cuts the reply to what was heard. */
      const cancelTurn = (heard: string | null) =>
        Effect.suspend(() => {
          const wasRunning = running !== undefined
          return Effect.zipRight(stopRunning, Effect.suspend(() => {
            if (heard === null && !wasRunning) return Effect.void
            const changed = heard === null
              ? transcript.lastReply.slice(-1).map((line) => { line.interrupted = true; return line })
              : cutToHeard(transcript.lastReply, heard)
            return changed.length > 0
              ? journal.interrupted(changed.map((line) => ({ seq: line.seq, content: line.content })))
              : Effect.void
          }))
        })

      const startAction = (action: Effect.Effect<void>) =>
        Effect.uninterruptible(Effect.zipRight(
          stopRunning,
          // Started at once, not on the scheduler's next tick: a frame queued right behind this one (a barge-in
          // behind key 9) must find the action already begun — the call already ending — not cancel it unstarted.
          Effect.sync(() => {
            const fiber = runFork(action.pipe(Effect.catchAllCause(() => Effect.void)))
            running = fiber
            fiber.addObserver(() => {
              if (running === fiber) running = undefined
            })
          })
        ))

      // ---- One handler per event kind. `ending`: the call is saying its last sentence. The two that come with
      // every turn are plain effects, not generators: a generator written here would be a new function per call.
      const onCallerSaid = (said: Extract<CallEvent, { _tag: "CallerSaid" }>, ending: boolean) =>
        !said.final || ending
          ? Effect.void // partial transcripts: wait for the final one
          : Effect.suspend(() => {
            const receivedAt = clock.unsafeCurrentTimeMillis()
            const length = said.text.length
            return cancelTurn(null).pipe(
              Effect.zipRight(event("prompt", { length, lang: said.lang })),
              Effect.zipRight(length > MAX_PROMPT_CHARS ? frameEvent("prompt_truncated", { length, kept: MAX_PROMPT_CHARS }) : Effect.void),
              Effect.zipRight(Effect.suspend(() => startAction(runTurn(said.text.slice(0, MAX_PROMPT_CHARS), receivedAt))))
            )
          })

      const onCallerInterrupted = (interrupted: Extract<CallEvent, { _tag: "CallerInterrupted" }>, ending: boolean) =>
        ending
          ? frameEvent("interrupt", { heard: interrupted.heard.slice(0, 300), ignored: "ending" })
          : Effect.zipRight(
            cancelTurn(interrupted.heard),
            frameEvent("interrupt", { heard: interrupted.heard, durationMs: interrupted.durationMs })
          )

      /** 0 transfers to a human, 1 repeats the last answer, 9 says goodbye. */
      const onKeyPressed = (digit: string, ending: boolean) =>
        Effect.gen(function*() {
          yield* frameEvent("dtmf", { digit: digit.slice(0, 10) })
          if (ending) return
          switch (digit) {
            case "0":
              yield* cancelTurn(null)
              return yield* startAction(transfer("dtmf", "touche 0"))
            case "1": {
              const lastSaid = [...lines].reverse().find((line) => line.role === "assistant" && line.content.trim() !== "")
              yield* cancelTurn(null)
              // The repeat is not a new reply: a barge-in on it must not cut the original, heard whole.
              transcript.lastReply = []
              return yield* Effect.asVoid(sayWhole(lastSaid?.content ?? tenant.config.greeting))
            }
            case "9":
              yield* cancelTurn(null)
              return yield* startAction(endSession("hangup", SAY.goodbye, { via: "dtmf" }))
          }
        })

      const onCarrierError = (description: string) =>
        Effect.gen(function*() {
          yield* metrics.error("relay")
          yield* Effect.logWarning("the carrier reported an error").pipe(
            Effect.annotateLogs("description", description.slice(0, 300))
          )
          yield* frameEvent("relay_error", { description: description.slice(0, 300) })
        })

      const handle = (received: CallEvent): Effect.Effect<void> => {
        const ending = !isLive(state)
        switch (received._tag) {
          case "SessionStarted":
            return frameEvent("setup_repeated", {})
          case "CallerSaid":
            return onCallerSaid(received, ending)
          case "CallerInterrupted":
            return onCallerInterrupted(received, ending)
          case "KeyPressed":
            return onKeyPressed(received.digit, ending)
          case "AgentSpeech":
            return Effect.sync(() => speechChanged(received.speaking))
          case "CarrierError":
            return onCarrierError(received.description)
          case "Nothing":
            return Effect.void
        }
      }

      // ---- A deploy with another instance up: at its next pause the call ends this session with a `resume`
      // handoff; the connect action (on any instance) answers a new <Connect>, whose session goes on from the
      // stored transcript. A session opened while this instance was already draining stays until the drain limit.
      // The mover only exists once a move is asked for: a call costs no fiber for it until then.
      const moveAtPause = Effect.gen(function*() {
        const paused = Effect.sync(() =>
          atPause({
            phase: state.phase,
            turnRunning: running !== undefined,
            agentSpeaking: agentSpeaking || clock.unsafeCurrentTimeMillis() - lastTokenAt < SPEECH_REPORTED_WITHIN_MS
          })
        )
        yield* Effect.repeat(paused, { schedule: PAUSE_POLL, until: (done) => done })
        startMoving(state)
        yield* event("moving", { from: live.instanceId, why: "deploy" })
        yield* Effect.logInfo("moving the call to another instance")
        yield* sendEnd({ reason: "resume", callId })
      })
      let mover: Fiber.RuntimeFiber<void> | undefined
      let forgetMoves = () => {}
      const listenForMoves = () => {
        if (!live.isMoving()) forgetMoves = live.whenMovesRequested(() => (mover = runFork(moveAtPause)))
      }

      // ---- What the end of this session needs of it; the end itself (`endOfSession`) is written once, below.
      const ending: SessionEnding = {
        callId,
        connectionId,
        tenant,
        state,
        journal,
        transcript,
        stopMoves: Effect.suspend(() => {
          forgetMoves()
          return mover === undefined ? Effect.void : Fiber.interrupt(mover)
        }),
        stopRunning,
        stopAlarms: alarms.stop,
        countTextFrames,
        sayWhole,
        noteOutcome,
        sendEnd
      }

      // Counted live and listening for moves only once the end is sure to run: one cleanup per session, not a
      // finaliser per resource (each of those diffs the fiber's whole context when it runs).
      yield* Effect.uninterruptibleMask((restore) =>
        Effect.zipRight(
          Effect.zipRight(metrics.callStarted(), Effect.sync(listenForMoves)),
          Effect.onExit(
            restore(Effect.zipRight(
              Effect.zipRight(
                event("setup", { sessionId: setup.sessionId, callStatus: setup.callStatus, resumed: lines.length > 0, instance: live.instanceId }),
                Effect.logInfo("relay session started")
              ),
              frameLoop(socket, inbound, journal, handle)
            )),
            (exit) => endOfSession(ending, exit)
          )
        )
      )
    })

    // The frame loop and the end are written once for every call (the call comes as an argument): a generator
    // written inside the conversation would be a new function per call, and the JIT recompiles those again and
    // again (their code specialises on objects that die with the call).

    /** The frame loop: one carrier event at a time, in order, until the socket closes. */
    const frameLoop = Effect.fnUntraced(function*(
      socket: CallChannel,
      inbound: Queue.Dequeue<Inbound>,
      journal: Journal,
      handle: (received: CallEvent) => Effect.Effect<void>
    ) {
      while (true) {
        const raw = yield* Queue.take(inbound)
        if (raw === SOCKET_CLOSED) return
        const decoded = socket.decode(raw)
        if (Either.isLeft(decoded)) {
          yield* metrics.frameIn("unknown")
          yield* metrics.error("relay_decode")
          if (journal.seen("malformed_frame") < FRAME_EVENTS_STORED) {
            yield* Effect.logWarning("undecodable relay frame").pipe(Effect.annotateLogs({ frameType: decoded.left.type.slice(0, 50) }))
          }
          yield* journal.frameEvent("malformed_frame", { type: decoded.left.type.slice(0, 50), reason: decoded.left.reason.slice(0, 300) })
          continue
        }
        yield* metrics.frameIn(decoded.right.frameType)
        yield* handle(decoded.right.event).pipe(
          Effect.catchAllCause((cause) => Effect.logError("frame handling failed", cause))
        )
      }
    })

    /** The end of a session, however it comes: hang-up (socket closed), transfer, goodbye, shutdown, a move. */
    const endOfSession = Effect.fnUntraced(
      function*(session: SessionEnding, exit: Exit.Exit<unknown, unknown>) {
        const { callId, connectionId, journal, state, tenant, transcript } = session
        yield* session.stopMoves
        yield* session.stopRunning
        yield* session.stopAlarms
        session.countTextFrames()
        const reported = live.reportedEnd(callId)
        const droppedWith = live.droppedWith(connectionId)
        const dropped = droppedWith !== undefined && reported === undefined && isLive(state)
        // A transfer is not the end of the call either: it stays open while the business's phone rings, and
        // the dial result ends it (answered) or reopens it to take a message (nobody answered).
        const transferring = state.phase._tag === "Ending" && state.phase.reason === "transfer" &&
          state.phase.endSent && reported === undefined && !live.isCutting()
        if (state.phase._tag === "Moving" || reported?.endReason === "resumed" || dropped || transferring) {
          // Not the end of the call: every write is durable, then any instance may take its next session. A
          // dropped socket waits for Twilio's connect action, which resumes it (or puts the caller through).
          if (dropped) yield* journal.event("socket_dropped", { code: droppedWith })
          yield* journal.close
          yield* live.handOver(callId, connectionId)
          yield* Effect.logInfo(transferring
            ? "relay session ended for a transfer; the call stays open until the dial result"
            : "relay session ended; the call is resumed on a new one")
          return yield* metrics.sessionClosed()
        }
        const override = reported?.endReason === "socket_failed" ? reported : undefined
        if (override?.outcome === "transferred") noteOutcomeIn(state, "transferred")
        const reason = decideEndReason({
          phase: state.phase,
          reportedByCarrier: override?.endReason,
          shuttingDown: live.isCutting(),
          failed: Exit.isFailure(exit) && !Exit.isInterrupted(exit)
        })
        const phase = state.phase
        let cutEnd: Handoff | undefined
        if (live.isCutting() && !live.isSocketGone(connectionId) && !(phase._tag === "Ending" && phase.endSent)) {
          // Cut by a deploy at the drain limit, with the socket still open (only this fiber stops):
          // never go silent. A call already ending gets its `end`; any other hears why, once TTS has
          // had time to say it, and is handed over; the connect action then dials or hangs up.
          if (phase._tag === "Live") {
            const handOver = tenant.config.transferNumber !== undefined
            const sentence = handOver ? SAY.maintenanceTransfer : SAY.maintenanceHangup
            const spoken = yield* session.sayWhole(sentence)
            yield* transcript.add([{ role: "assistant", content: spoken, turn: transcript.turn }])
            yield* Effect.sleep(speechEstimate(sentence))
            cutEnd = { reason: handOver ? "transfer" : "hangup", callId }
            if (handOver) yield* session.noteOutcome("transferred")
          } else {
            cutEnd = { reason: phase.reason === "transfer" ? "transfer" : "hangup", callId }
          }
        }
        // Every queued write is durable before the call is finalised.
        yield* journal.close
        if (yield* callEnd.finalise(callId, { reason, outcome: decideOutcome(state.outcomes) })) live.finalised(callId, connectionId)
        // A cut call's `end` goes out once it is finalised as cut: the connect action it brings must find it so.
        if (cutEnd !== undefined) yield* session.sendEnd(cutEnd)
        // The gauge always comes down; the outcome is counted by whoever finalised the call.
        yield* metrics.sessionClosed()
      },
      Effect.catchAllCause((cause) => Effect.logError("call finalisation failed", cause))
    )

    return { run } as const
  }),
  dependencies: []
}) {}


