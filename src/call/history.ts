import type { ContentBlockParam, MessageParam } from "@anthropic-ai/sdk/resources/messages"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { latin1ForClaude } from "../llm/latin1.ts"
import type { MessageRole } from "../storage/CallsRepo.ts"

/** One line of a call's transcript, in memory; mirrors a `call_messages` row. */
export interface Line {
  readonly seq: number
  readonly role: MessageRole
  content: string
  readonly toolName?: string | undefined
  readonly toolUseId?: string | undefined
  readonly turn: number
  interrupted: boolean
}

/**
 * Rebuilds the Messages API history from transcript lines: assistant text and tool_use blocks
 * form assistant messages, tool results go back as user content, and consecutive lines of the
 * same side merge. Empty text (a reply cut before any word was heard) is dropped. The text goes in Latin-1
 * (`latin1ForClaude`); the transcript keeps what was said.
 */
export const toMessageParams = (lines: ReadonlyArray<Line>): Array<MessageParam> => {
  const messages: Array<{ role: "user" | "assistant"; content: Array<ContentBlockParam> }> = []
  const push = (role: "user" | "assistant", block: ContentBlockParam) => {
    const last = messages[messages.length - 1]
    if (last && last.role === role) last.content.push(block)
    else messages.push({ role, content: [block] })
  }
  for (const line of lines) {
    switch (line.role) {
      case "user":
        if (line.content.trim() !== "") push("user", { type: "text", text: latin1ForClaude(line.content) })
        break
      case "assistant":
        if (line.content.trim() !== "") push("assistant", { type: "text", text: latin1ForClaude(line.content) })
        break
      case "tool_use":
        push("assistant", { type: "tool_use", id: line.toolUseId ?? "", name: line.toolName ?? "", input: safeJson(latin1ForClaude(line.content)) })
        break
      case "tool_result":
        push("user", { type: "tool_result", tool_use_id: line.toolUseId ?? "", content: latin1ForClaude(line.content) })
        break
    }
  }
  // The API wants the conversation to open with the caller; the greeting lives in the system prompt.
  while (messages.length > 0 && messages[0]!.role !== "user") messages.shift()
  return messages
}

const decodeJson = Schema.decodeUnknownOption(Schema.parseJson())
const safeJson = (text: string): unknown => Option.getOrElse(decodeJson(text), () => ({}))

const normalise = (text: string) => text.replace(/\s+/g, " ").trim()

/**
 * What the caller heard of a reply, spread back over its text segments in order: segments heard
 * whole stay, the one cut short ends where the heard text ends, the ones after become empty.
 * Returns the lines that changed.
 *
 * Twilio's `utteranceUntilInterrupt` is not always the whole reply so far: on a recorded live call
 * (fixtures/conversationrelay/interrupt.jsonl) it held only the part of the sentence being spoken
 * ("Sentence 2 of") after a whole first sentence had been played. So the heard text is looked for
 * in the reply (its first occurrence: when in doubt, the model believes it said less) and the
 * reply is cut right after it. Heard text that cannot be found is stored as is.
 */
export const cutToHeard = (segments: ReadonlyArray<Line>, heard: string): Array<Line> => {
  const target = normalise(heard)
  // The reply as one normalised text, and where each segment sits in it (empty segments take no room).
  let whole = ""
  const spans = segments.map((segment) => {
    const text = normalise(segment.content)
    if (text === "") return { start: whole.length, end: whole.length }
    if (whole !== "") whole += " "
    const start = whole.length
    whole += text
    return { start, end: whole.length }
  })
  const found = target === "" ? -1 : whole.indexOf(target)
  const changed: Array<Line> = []
  const update = (segment: Line, content: string) => {
    if (segment.content !== content || !segment.interrupted) {
      segment.content = content
      segment.interrupted = true
      changed.push(segment)
    }
  }
  if (found === -1) {
    segments.forEach((segment, i) => update(segment, i === 0 ? target : ""))
    return changed
  }
  const cutAt = found + target.length
  segments.forEach((segment, i) => {
    const { end, start } = spans[i]!
    if (end < cutAt) return // heard whole, and the caller heard more after it
    update(segment, start < cutAt ? whole.slice(start, cutAt) : "")
  })
  return changed
}
