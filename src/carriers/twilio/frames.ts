import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { CallEvent, DecodedFrame, UndecodableFrame } from "../../call/events.ts"

/**
 * ConversationRelay frames, per ../shared/docs/conversationrelay.md §2–3.
 * Inbound schemas keep unknown fields out of the decoded value but never fail on them:
 * Twilio adds fields over time and a call must not break because of it.
 */

// Twilio has shown the interrupt duration as a number, a numeric string and a decimal.
const Milliseconds = Schema.Union(Schema.Number, Schema.NumberFromString)

export const SetupFrame = Schema.Struct({
  type: Schema.Literal("setup"),
  sessionId: Schema.String,
  callSid: Schema.String,
  accountSid: Schema.optionalWith(Schema.String, { default: () => "" }),
  parentCallSid: Schema.optionalWith(Schema.String, { default: () => "" }),
  from: Schema.optionalWith(Schema.String, { default: () => "" }),
  to: Schema.optionalWith(Schema.String, { default: () => "" }),
  forwardedFrom: Schema.optionalWith(Schema.String, { default: () => "" }),
  callerName: Schema.optionalWith(Schema.String, { default: () => "" }),
  direction: Schema.optionalWith(Schema.String, { default: () => "" }),
  callType: Schema.optionalWith(Schema.String, { default: () => "" }),
  callStatus: Schema.optionalWith(Schema.String, { default: () => "" }),
  customParameters: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }), {
    default: () => ({})
  })
})

export const PromptFrame = Schema.Struct({
  type: Schema.Literal("prompt"),
  voicePrompt: Schema.String,
  lang: Schema.optional(Schema.String),
  last: Schema.optionalWith(Schema.Boolean, { default: () => true })
})

export const InterruptFrame = Schema.Struct({
  type: Schema.Literal("interrupt"),
  utteranceUntilInterrupt: Schema.optionalWith(Schema.String, { default: () => "" }),
  durationUntilInterruptMs: Schema.optional(Milliseconds)
})

export const DtmfFrame = Schema.Struct({
  type: Schema.Literal("dtmf"),
  digit: Schema.String
})

export const InfoFrame = Schema.Struct({
  type: Schema.Literal("info"),
  name: Schema.optionalWith(Schema.String, { default: () => "" }),
  value: Schema.optionalWith(Schema.Unknown, { default: () => "" })
})

export const ErrorFrame = Schema.Struct({
  type: Schema.Literal("error"),
  description: Schema.optionalWith(Schema.String, { default: () => "" })
})

export const InboundFrame = Schema.Union(SetupFrame, PromptFrame, InterruptFrame, DtmfFrame, InfoFrame, ErrorFrame)
export type InboundFrame = typeof InboundFrame.Type
export type SetupFrame = typeof SetupFrame.Type

const InboundJson = Schema.parseJson(InboundFrame)
const decodeInboundEither = Schema.decodeUnknownEither(InboundJson, { onExcessProperty: "ignore" })
const parseJsonEither = Schema.decodeUnknownEither(Schema.parseJson())

/**
 * The frames of every turn (`prompt`, `interrupt`) and the call's `setup` decoded with plain code: the same result as the Schema
 * (test/unit/relay.frames.test.ts checks both agree), without its cost on the hot path. Anything unusual —
 * a field of the wrong type, another frame type — returns undefined and goes through the Schema.
 */
export const decodeHotFrame = (parsed: unknown): InboundFrame | undefined => {
  if (typeof parsed !== "object" || parsed === null) return undefined
  const frame = parsed as Record<string, unknown>
  if (frame.type === "prompt") {
    const { lang, last, voicePrompt } = frame
    if (typeof voicePrompt !== "string") return undefined
    if (lang !== undefined && typeof lang !== "string") return undefined
    if (last !== undefined && typeof last !== "boolean") return undefined
    return lang === undefined
      ? { type: "prompt", voicePrompt, last: last ?? true }
      : { type: "prompt", voicePrompt, lang, last: last ?? true }
  }
  if (frame.type === "interrupt") {
    const { durationUntilInterruptMs: duration, utteranceUntilInterrupt } = frame
    if (utteranceUntilInterrupt !== undefined && typeof utteranceUntilInterrupt !== "string") return undefined
    if (duration !== undefined && (typeof duration !== "number")) return undefined
    return duration === undefined
      ? { type: "interrupt", utteranceUntilInterrupt: utteranceUntilInterrupt ?? "" }
      : { type: "interrupt", utteranceUntilInterrupt: utteranceUntilInterrupt ?? "", durationUntilInterruptMs: duration }
  }
  if (frame.type === "setup") return decodeSetup(frame)
  return undefined
}

const SETUP_TEXT_FIELDS = [
  "accountSid", "parentCallSid", "from", "to", "forwardedFrom", "callerName", "direction", "callType", "callStatus"
] as const

/** A call's one `setup`, in plain code like the turn frames (the Schema's result, its defaults included). */
const decodeSetup = (frame: Record<string, unknown>): SetupFrame | undefined => {
  const { callSid, customParameters, sessionId } = frame
  if (typeof sessionId !== "string" || typeof callSid !== "string") return undefined
  const texts: Record<string, string> = {}
  for (const field of SETUP_TEXT_FIELDS) {
    const value = frame[field]
    if (value === undefined) texts[field] = ""
    else if (typeof value === "string") texts[field] = value
    else return undefined
  }
  let parameters: Record<string, string> = {}
  if (customParameters !== undefined) {
    if (typeof customParameters !== "object" || customParameters === null || Array.isArray(customParameters)) return undefined
    const entries = Object.entries(customParameters)
    if (!entries.every(([, value]) => typeof value === "string")) return undefined
    // fromEntries defines own keys (a caller-chosen "__proto__" stays a plain key).
    parameters = Object.fromEntries(entries)
  }
  return { ...(texts as Omit<SetupFrame, "type" | "sessionId" | "callSid" | "customParameters">), type: "setup", sessionId, callSid, customParameters: parameters }
}

/** A ConversationRelay frame as the carrier-neutral event the call core reads. */
export const toCallEvent = (frame: InboundFrame): CallEvent => {
  switch (frame.type) {
    case "setup":
      return {
        _tag: "SessionStarted",
        callSid: frame.callSid,
        sessionId: frame.sessionId,
        callStatus: frame.callStatus,
        parameters: frame.customParameters
      }
    case "prompt":
      return { _tag: "CallerSaid", text: frame.voicePrompt, final: frame.last, lang: frame.lang }
    case "interrupt":
      return { _tag: "CallerInterrupted", heard: frame.utteranceUntilInterrupt, durationMs: frame.durationUntilInterruptMs }
    case "dtmf":
      return { _tag: "KeyPressed", digit: frame.digit }
    case "info":
      return frame.name === "agentSpeaking" ? { _tag: "AgentSpeech", speaking: frame.value === "on" } : { _tag: "Nothing" }
    case "error":
      return { _tag: "CarrierError", description: frame.description }
  }
}

/** Decodes one text frame into a call event; a malformed frame comes back as a value. */
export const decodeCallEvent = (raw: string): Either.Either<DecodedFrame, UndecodableFrame> =>
  Either.map(decodeInbound(raw), (frame) => ({ event: toCallEvent(frame), frameType: frame.type }))

/** Decodes one text frame; a malformed or unknown frame comes back as a value, never as a thrown error. */
export const decodeInbound = (raw: string): Either.Either<InboundFrame, UndecodableFrame> => {
  const parsed = parseJsonEither(raw)
  const hot = Either.isRight(parsed) ? decodeHotFrame(parsed.right) : undefined
  return hot !== undefined ? Either.right(hot) : decodeCold(raw)
}

const decodeCold = (raw: string): Either.Either<InboundFrame, UndecodableFrame> =>
  decodeInboundEither(raw).pipe(
    Either.mapLeft((error) => ({
      _tag: "UndecodableFrame" as const,
      type: frameTypeOf(raw),
      reason: ParseResult.TreeFormatter.formatErrorSync(error).slice(0, 500)
    }))
  )

const frameTypeOf = (raw: string): string =>
  Either.match(parseJsonEither(raw), {
    onLeft: () => "not-json",
    onRight: (parsed) =>
      typeof parsed === "object" && parsed !== null && "type" in parsed && typeof parsed.type === "string"
        ? parsed.type
        : "not-an-object"
  })

// ---- Outbound -------------------------------------------------------------------------------

export const TextFrame = Schema.Struct({
  type: Schema.Literal("text"),
  token: Schema.String,
  last: Schema.Boolean,
  lang: Schema.optional(Schema.String),
  interruptible: Schema.optional(Schema.Boolean),
  preemptible: Schema.optional(Schema.Boolean)
})
export const PlayFrame = Schema.Struct({
  type: Schema.Literal("play"),
  source: Schema.String,
  loop: Schema.optional(Schema.Int),
  preemptible: Schema.optional(Schema.Boolean),
  interruptible: Schema.optional(Schema.Boolean)
})
export const SendDigitsFrame = Schema.Struct({
  type: Schema.Literal("sendDigits"),
  digits: Schema.String.pipe(Schema.pattern(/^[0-9w#*]+$/))
})
export const LanguageFrame = Schema.Struct({
  type: Schema.Literal("language"),
  ttsLanguage: Schema.optional(Schema.String),
  transcriptionLanguage: Schema.optional(Schema.String)
})
export const EndFrame = Schema.Struct({
  type: Schema.Literal("end"),
  handoffData: Schema.optional(Schema.String)
})

export const OutboundFrame = Schema.Union(TextFrame, PlayFrame, SendDigitsFrame, LanguageFrame, EndFrame)
export type OutboundFrame = typeof OutboundFrame.Type

const encodeOutboundSync = Schema.encodeSync(Schema.parseJson(OutboundFrame))

/** Encodes an outbound frame; an invalid one is a programming error (Twilio would drop it with 64107). */
export const encodeOutbound = (frame: OutboundFrame): string => encodeOutboundSync(frame)

/** The hot outbound frame, a reply's token, without the Schema (the tests check it matches `encodeOutbound`). */
export const encodeText = (token: string, last: boolean): string =>
  `{"type":"text","token":${JSON.stringify(token)},"last":${last}}`

export const text = (token: string, last: boolean): OutboundFrame => ({ type: "text", token, last })
export const end = (handoffData?: unknown): OutboundFrame =>
  handoffData === undefined ? { type: "end" } : { type: "end", handoffData: JSON.stringify(handoffData) }
