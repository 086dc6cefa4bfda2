import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { CallOwners } from "../../cluster/CallOwners.ts"
import { decideSessionOver } from "../../cluster/decisions.ts"
import { Outcome } from "../../call/vocabulary.ts"
import { CallRegistry } from "../../call/CallRegistry.ts"
import { AppConfig } from "../../config.ts"
import { CallEnd } from "../../call/CallEnd.ts"
import { Metrics } from "../../observability/Metrics.ts"
import { SAY } from "../../call/sentences.ts"
import { decideDialOver } from "./dialResult.ts"
import { validWebhookSignature } from "./signature.ts"
import { annotateThisFiber } from "../../observability/Logging.ts"
import {
  CONNECT_ACTION_PATH,
  DIAL_RESULT_PATH,
  dialTwiml,
  hangupTwiml,
  NOBODY_ANSWERED,
  relayTwiml,
  resumeTwiml,
  sayThenHangupTwiml,
  unknownNumberTwiml
} from "./twiml.ts"
import { CallsRepo } from "../../storage/CallsRepo.ts"
import { Tenants } from "../../tenants/Tenants.ts"

export const VOICE_PATH = "/webhooks/twilio/voice"
export const STATUS_PATH = "/webhooks/twilio/status"

/**
 * What a webhook answers, turned into a web `Response` at the very end. Twilio's webhooks include the two requests
 * of every call (voice, status), so they skip the HTTP router: each then costs about a third less CPU.
 */
interface WebhookReply {
  readonly status: number
  readonly body: string
  readonly contentType: string
  readonly headers?: Record<string, string>
}

const twiml = (xml: string): WebhookReply => ({ status: 200, body: xml, contentType: "text/xml; charset=utf-8" })
const refusal = (status: 400 | 403 | 500, code: string, message: string): WebhookReply => ({
  status,
  body: JSON.stringify({ success: false, error: { code, message } }),
  contentType: "application/json"
})
const forbidden = refusal(403, "forbidden", "invalid Twilio signature or account")
const internalError = refusal(500, "internal", "internal error")
const emptyOk: WebhookReply = { status: 200, body: "", contentType: "text/plain" }

/** Fly's proxy replays a request answered with this on another machine of the app. */
const flyReplayElsewhere: WebhookReply = { status: 409, body: "replayed elsewhere", contentType: "text/plain", headers: { "fly-replay": "elsewhere=true" } }

const decodeOutcome = Schema.decodeUnknownOption(Outcome)
/** The outcome stored as the call went (a booking before a move or a crash), else `abandoned`. */
const storedOutcome = (value: string | null) => Option.getOrElse(decodeOutcome(value), () => "abandoned" as const)

/** Whether a session was already reopened to take a message (the dial result wrote its greeting in the transcript). */
const offeredIn = (transcript: ReadonlyArray<{ readonly role: string; readonly content: string }>) =>
  transcript.some((line) => line.role === "assistant" && line.content === SAY.transferUnanswered)

const TERMINAL_STATUSES = new Set(["completed", "busy", "failed", "no-answer", "canceled"])

/** A Twilio webhook as read off the wire: the path and query it was called on, its signature header, its form. */
interface WebhookRequest {
  readonly target: string
  readonly signature: string | null
  readonly form: Record<string, string>
}

const decodeHandoff = Schema.decodeUnknownOption(Schema.parseJson(Schema.Struct({ reason: Schema.String })))
const parseHandoff = (raw: string | undefined): { reason: string | null } => ({
  reason: Option.match(decodeHandoff(raw ?? ""), { onNone: () => null, onSome: (handoff) => handoff.reason })
})

/** The path and query of a request, as Twilio signed it (everything after the host). */
const targetOf = (url: string) => url.slice(url.indexOf("/", url.indexOf("//") + 2))

/** Twilio's webhooks as a plain web handler: `undefined` for any other request (the router answers it). */
export const makeTwilioWebhooks = Effect.gen(function*() {
  // Resolved once: each webhook then starts on its work, not on looking up services.
  const config = yield* AppConfig
  const metrics = yield* Metrics
  const tenants = yield* Tenants
  const calls = yield* CallsRepo
  const owners = yield* CallOwners
  const registry = yield* CallRegistry
  const callEnd = yield* CallEnd
  const runPromise = Runtime.runPromise(yield* Effect.runtime<never>())

  /**
   * Why a Twilio form webhook is refused, or undefined: its signature is checked against PUBLIC_URL + the path we
   * were called on. With an auth token configured, a missing or wrong signature is refused before any side effect
   * (fail-closed).
   */
  const refusalOf = (request: WebhookRequest): "signature" | "account" | undefined => {
    if (
      Option.isSome(config.twilioAuthToken) && !validWebhookSignature({
        authToken: Redacted.value(config.twilioAuthToken.value),
        signature: request.signature,
        url: config.publicUrl + request.target,
        params: request.form
      })
    ) return "signature"
    // Defence in depth: a correctly signed request from another Twilio account is not ours to answer.
    if (Option.isSome(config.twilioAccountSid) && request.form.AccountSid !== config.twilioAccountSid.value) return "account"
    return undefined
  }

  const refuse = (route: string, why: "signature" | "account", form: Record<string, string>) =>
    Effect.sync(() => {
      if (why === "signature") metrics.unsafe.error("signature")
      metrics.unsafe.webhook(route, 403)
    }).pipe(
      Effect.zipRight(
        why === "signature"
          ? Effect.logWarning("rejected a webhook with an invalid Twilio signature").pipe(
            Effect.annotateLogs({ callSid: form.CallSid ?? "" })
          )
          : Effect.logWarning("rejected a webhook from another Twilio account").pipe(
            Effect.annotateLogs({ callSid: form.CallSid ?? "", accountSid: form.AccountSid ?? "" })
          )
      ),
      Effect.as(forbidden)
    )

  /** A webhook: its signed form checked, then handled, in a fiber of its own whose lines carry the route. */
  const withSignedForm = <E>(route: string, handler: (form: Record<string, string>) => Effect.Effect<WebhookReply, E>) => {
    const annotateRoute = annotateThisFiber({ route })
    return (request: WebhookRequest): Effect.Effect<WebhookReply> =>
      Effect.zipRight(
        annotateRoute,
        Effect.suspend(() => {
          const why = refusalOf(request)
          if (why !== undefined) return refuse(route, why, request.form)
          metrics.unsafe.webhook(route, 200)
          return handler(request.form)
        })
      ).pipe(
        // Twilio reads a 500 as an application error: nothing of the failure goes into the answer, all of it into the log.
        // No span: nothing exports them, and two per call (voice, status) cost ~0.05 ms of CPU each. The route and
        // the call SID annotate the log lines instead.
        Effect.catchAllCause((cause) => Effect.as(Effect.logError("webhook failed", cause), internalError))
      )
  }

  /** Whether a session was already reopened to take a message, from the call's stored transcript. */
  const messageOffered = (callId: string) => Effect.map(calls.messages(callId), offeredIn)

  /**
   * Takes the call's lease for the dial. The session that asked for the transfer hands the call over as its socket
   * closes, which may land just after Twilio's connect action: the claim is tried again for a short while.
   */
  const holdDuringDial = (callId: string, instanceId: string) =>
    owners.claim(callId, instanceId).pipe(
      Effect.flatMap((claim) => claim.held ? Effect.void : Effect.fail("not held" as const)),
      Effect.retry({ schedule: Schedule.spaced(Duration.millis(100)), times: 30 }),
      Effect.catchAll(() => Effect.logWarning("the call's lease was not taken for the transfer"))
    )

  /** An incoming call: the tenant comes from the number that was dialled, never from the caller. */
  const voice = withSignedForm("voice", Effect.fnUntraced(function*(form) {
    const callSid = form.CallSid ?? ""
    const to = form.To ?? ""
    const forwardedFrom = form.ForwardedFrom && form.ForwardedFrom !== "" ? form.ForwardedFrom : null
    // Draining behind Fly's proxy: another machine takes the call.
    if (!registry.isAccepting() && registry.behindFlyProxy) return flyReplayElsewhere
    if (!registry.isAccepting()) return twiml(sayThenHangupTwiml("Nous ne pouvons pas prendre votre appel pour le moment. Merci de rappeler dans quelques minutes."))
    if (callSid === "") return refusal(400, "bad_request", "CallSid missing")
    // A business forwarding its own line to us is known by ForwardedFrom: it wins over the number
    // Twilio received the call on, which may be shared (the demo number, for one).
    let tenant = forwardedFrom ? yield* tenants.byNumber(forwardedFrom) : Option.none()
    if (Option.isNone(tenant)) tenant = yield* tenants.byNumber(to)
    if (Option.isNone(tenant)) {
      yield* Effect.logWarning("call to a number no tenant owns").pipe(Effect.annotateLogs({ callSid }))
      return twiml(unknownNumberTwiml())
    }
    const call = yield* calls.createInbound({
      tenantId: tenant.value.id,
      callSid,
      from: form.From ?? "",
      to,
      forwardedFrom,
      direction: form.Direction ?? "inbound",
      status: form.CallStatus ?? "ringing",
      answeredBy: registry.instanceId
    })
    // The webhook's fiber is this request's alone: its later lines carry the call.
    yield* annotateThisFiber({ callSid, tenantId: tenant.value.id })
    yield* Effect.logInfo("incoming call answered")
    return twiml(relayTwiml({ publicUrl: config.publicUrl, publicWsUrl: config.publicWsUrl, tenant: tenant.value, callId: call.id }))
  }))

  /** The relay session ended: hand over to the business, or hang up. */
  const connectAction = withSignedForm("connect_action", Effect.fnUntraced(function*(form) {
    const call = yield* calls.findBySid(form.CallSid ?? "")
    if (Option.isNone(call)) return twiml(hangupTwiml())
    const tenant = yield* tenants.byId(call.value.tenant_id)
    // After a transfer nobody answered, the call has no transfer number any more: a drop is never put through again.
    const transferNumber = (yield* messageOffered(call.value.id))
      ? Option.none<string>()
      : Option.flatMap(tenant, (t) => Option.fromNullable(t.config.transferNumber))
    const sessionStatus = form.SessionStatus ?? ""
    const handoff = parseHandoff(form.HandoffData)
    yield* calls.appendEvent(call.value.id, "session_end", {
      sessionStatus,
      handoff: handoff.reason,
      ...(form.ErrorCode ? { errorCode: form.ErrorCode, errorMessage: form.ErrorMessage ?? "" } : {})
    })
    const owner = yield* owners.owner(call.value.id)
    /** The instance whose session Twilio says is over (it may still hold a half-open socket). */
    const holder = Option.flatMap(owner, (row) => Option.fromNullable(row.instance_id))
    const decision = decideSessionOver({
      sessionStatus,
      callInProgress: form.CallStatus === "in-progress",
      handoffReason: handoff.reason,
      errorCode: form.ErrorCode ?? null,
      callEnded: call.value.ended_at !== null,
      hasTransferNumber: Option.isSome(transferNumber),
      lastDropResumedAt: Option.match(owner, { onNone: () => null, onSome: (row) => row.dropped_at }),
      nowMs: yield* Clock.currentTimeMillis
    })
    switch (decision._tag) {
      case "Resume": {
        // The session is over, whatever the lease says: a half-open session (here or on the instance holding
        // it, told through the database) lets go without finalising, and any instance may take the next one.
        if (decision.why === "socket_dropped") yield* registry.endCallAnywhere(call.value.id, { endReason: "resumed" }, holder)
        yield* owners.handOver(call.value.id, { dropped: decision.why === "socket_dropped" })
        yield* calls.appendEvent(call.value.id, "resume", { why: decision.why, answeredBy: registry.instanceId })
        yield* Effect.logInfo("call resumed on a new relay session").pipe(
          Effect.annotateLogs({ callSid: call.value.twilio_call_sid, why: decision.why })
        )
        const resumedTenant = Option.getOrUndefined(tenant)
        if (resumedTenant === undefined) return twiml(hangupTwiml())
        return twiml(resumeTwiml({ publicUrl: config.publicUrl, publicWsUrl: config.publicWsUrl, tenant: resumedTenant, callId: call.value.id }))
      }
      case "Dial":
        // The call stays open while the business's phone rings (and while they talk): this instance's lease
        // keeps recovery away from it until the dial result ends it or takes a message.
        if (call.value.ended_at === null) {
          // A stopping instance may not be there for the dial result: the call ends as transferred now.
          yield* registry.isAccepting()
            ? holdDuringDial(call.value.id, registry.instanceId)
            : Effect.asVoid(callEnd.finalise(call.value.id, { reason: "transfer", outcome: "transferred" }))
        }
        return twiml(dialTwiml({ transferNumber: Option.getOrThrow(transferNumber), publicUrl: config.publicUrl }))
      case "DropHandOver": {
        // Our socket dropped while the caller is still there (again, soon after a resume, or after our side
        // took it for a hang-up): never leave them in silence. End any half-open session, make sure the call is
        // finalised once (with its summary); if it had been closed as a hang-up, correct what was recorded.
        const outcome = Option.isSome(transferNumber) ? "transferred" : "abandoned"
        yield* registry.endCallAnywhere(call.value.id, { endReason: "socket_failed", outcome }, holder)
        yield* callEnd.finalise(call.value.id, { reason: "socket_failed", outcome })
        yield* calls.reviseEnd(call.value.id, { endReason: "socket_failed", outcome })
        return twiml(
          Option.match(transferNumber, {
            onNone: () => sayThenHangupTwiml("Excusez-moi, un problème technique interrompt notre échange. Merci de rappeler dans un instant."),
            onSome: (number) => dialTwiml({ transferNumber: number, publicUrl: config.publicUrl, apology: true })
          })
        )
      }
      case "Hangup":
        return twiml(hangupTwiml())
    }
  }))

  /**
   * The transfer's <Dial> finished. The call stayed open during it (held by this instance's lease): it ends here as
   * `transferred` when the business answered; when nobody did and the caller is still there, it goes on in a new
   * relay session that takes a message (the same call id, the stored transcript, a greeting saying why).
   */
  const dialResult = withSignedForm("dial_result", Effect.fnUntraced(function*(form) {
    const found = yield* calls.findBySid(form.CallSid ?? "")
    const status = form.DialCallStatus ?? ""
    if (Option.isNone(found)) return twiml(hangupTwiml())
    const call = found.value
    yield* calls.appendEvent(call.id, "transfer_result", { dialCallStatus: status })
    const transcript = yield* calls.messages(call.id)
    const decision = decideDialOver({
      dialCallStatus: status,
      callInProgress: form.CallStatus === "in-progress",
      callEnded: call.ended_at !== null,
      messageAlreadyOffered: offeredIn(transcript)
    })
    // The dial's lease ends whatever comes next.
    if (call.ended_at === null) yield* owners.handOver(call.id, {})
    const tenant = yield* tenants.byId(call.tenant_id)
    if (decision._tag === "TakeMessage" && Option.isSome(tenant)) {
      yield* calls.appendEvent(call.id, "transfer_unanswered", { dialCallStatus: status })
      // Not a transfer any more: what the call achieved before (a booking) stands; the resumed session notes a message.
      yield* calls.recordOutcome(call.id, yield* calls.outcomeWithoutTransfer(call.id))
      // What the caller hears first is in the transcript: the next session (and the model) know why it was reopened.
      const nextSeq = transcript.reduce((max, line) => Math.max(max, line.seq), -1) + 1
      const turn = transcript.reduce((max, line) => Math.max(max, line.turn), 0)
      yield* calls.appendMessages(call.id, [{ seq: nextSeq, role: "assistant", content: SAY.transferUnanswered, turn }])
      yield* calls.appendEvent(call.id, "resume", { why: "transfer_unanswered", answeredBy: registry.instanceId })
      yield* Effect.logInfo("nobody answered the transfer; the call goes on to take a message").pipe(
        Effect.annotateLogs({ callSid: call.twilio_call_sid, dialCallStatus: status })
      )
      return twiml(resumeTwiml({ publicUrl: config.publicUrl, publicWsUrl: config.publicWsUrl, tenant: tenant.value, callId: call.id }, SAY.transferUnanswered))
    }
    const answered = decision._tag === "Transferred"
    yield* callEnd.finalise(call.id, { reason: "transfer", outcome: answered ? "transferred" : yield* calls.outcomeWithoutTransfer(call.id) })
    return twiml(decision._tag === "Apologise" || decision._tag === "TakeMessage" ? sayThenHangupTwiml(NOBODY_ANSWERED) : hangupTwiml())
  }))

  /** Status callbacks: applied in SequenceNumber order, idempotent; unknown SIDs change nothing. */
  const status = withSignedForm("status", Effect.fnUntraced(function*(form) {
    const sequence = Number(form.SequenceNumber ?? "0")
    const duration = form.CallDuration !== undefined && form.CallDuration !== "" ? Number(form.CallDuration) : null
    const callStatus = form.CallStatus ?? ""
    const applied = yield* calls.applyStatus({
      callSid: form.CallSid ?? "",
      status: callStatus,
      duration: Number.isFinite(duration) ? duration : null,
      sequence: Number.isFinite(sequence) ? sequence : 0
    })
    // A call that never reached the relay (hung up during the greeting) is finalised here;
    // a live session finalises its own call with the reason it knows.
    if (Option.isSome(applied) && applied.value.ended_at === null && TERMINAL_STATUSES.has(callStatus)) {
      // A call held by a session on any instance is left to it; a call between two sessions (being resumed)
      // keeps what it achieved.
      if (!(yield* registry.hasCall(applied.value.id))) {
        yield* callEnd.finalise(applied.value.id, { reason: "caller_hangup", outcome: storedOutcome(applied.value.outcome) })
      }
    }
    return emptyOk
  }))

  const handlers = new Map([
    [VOICE_PATH, voice],
    [CONNECT_ACTION_PATH, connectAction],
    [DIAL_RESULT_PATH, dialResult],
    [STATUS_PATH, status]
  ])

  const answer = async (request: Request, target: string, handler: (request: WebhookRequest) => Effect.Effect<WebhookReply>) => {
    const signature = request.headers.get("x-twilio-signature")
    const reply = await request.text().then(
      (body) => runPromise(handler({ target, signature, form: Object.fromEntries(new URLSearchParams(body)) })),
      // The body could not be read (the client went away): nothing was done.
      () => refusal(400, "bad_request", "unreadable body")
    )
    return new Response(reply.body === "" ? null : reply.body, { status: reply.status, headers: { "content-type": reply.contentType, ...reply.headers } })
  }
  return (request: Request): Promise<Response> | undefined => {
    if (request.method !== "POST") return undefined
    const target = targetOf(request.url)
    const query = target.indexOf("?")
    const handler = handlers.get(query === -1 ? target : target.slice(0, query))
    return handler === undefined ? undefined : answer(request, target, handler)
  }
})

export type WebhookServices = Effect.Effect.Context<typeof makeTwilioWebhooks>
