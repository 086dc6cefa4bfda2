import { Either, ParseResult, Schema } from "effect"

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

export interface UndecodableFrame {
  readonly _tag: "UndecodableFrame"
  /** The frame's `type` when it was JSON with one, for metrics and call events. */
  readonly type: string
  readonly reason: string
}

/** Decodes one text frame; a malformed or unknown frame comes back as a value, never as a thrown error. */
export const decodeInbound = (raw: string): Either.Either<InboundFrame, UndecodableFrame> =>
  decodeInboundEither(raw).pipe(
    Either.mapLeft((error) => ({
      _tag: "UndecodableFrame" as const,
      type: frameTypeOf(raw),
      reason: ParseResult.TreeFormatter.formatErrorSync(error).slice(0, 500)
    }))
  )

const frameTypeOf = (raw: string): string => {
  try {
    const parsed: unknown = JSON.parse(raw)
    if (typeof parsed === "object" && parsed !== null && "type" in parsed && typeof parsed.type === "string") {
      return parsed.type
    }
    return "not-an-object"
  } catch {
    return "not-json"
  }
}

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

export const text = (token: string, last: boolean): OutboundFrame => ({ type: "text", token, last })
export const end = (handoffData?: unknown): OutboundFrame =>
  handoffData === undefined ? { type: "end" } : { type: "end", handoffData: JSON.stringify(handoffData) }
