import type { ContentBlockParam, MessageParam } from "@anthropic-ai/sdk/resources/messages"
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
 * same side merge. Empty text (a reply cut before any word was heard) is dropped.
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
        if (line.content.trim() !== "") push("user", { type: "text", text: line.content })
        break
      case "assistant":
        if (line.content.trim() !== "") push("assistant", { type: "text", text: line.content })
        break
      case "tool_use":
        push("assistant", { type: "tool_use", id: line.toolUseId ?? "", name: line.toolName ?? "", input: safeJson(line.content) })
        break
      case "tool_result":
        push("user", { type: "tool_result", tool_use_id: line.toolUseId ?? "", content: line.content })
        break
    }
  }
  // The API wants the conversation to open with the caller; the greeting lives in the system prompt.
  while (messages.length > 0 && messages[0]!.role !== "user") messages.shift()
  return messages
}

const safeJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return {}
  }
}

const normalise = (text: string) => text.replace(/\s+/g, " ").trim()

/**
 * What the caller heard of a reply, spread back over its text segments in order: segments heard
 * whole stay, the one cut short becomes the heard remainder, the ones after become empty.
 * Returns the lines that changed.
 */
export const cutToHeard = (segments: ReadonlyArray<Line>, heard: string): Array<Line> => {
  const changed: Array<Line> = []
  let remaining = normalise(heard)
  for (const segment of segments) {
    const text = normalise(segment.content)
    if (remaining.length > 0 && text.length > 0 && remaining.startsWith(text) && remaining.length > text.length) {
      remaining = normalise(remaining.slice(text.length))
      continue
    }
    if (segment.content !== remaining || !segment.interrupted) {
      segment.content = remaining
      segment.interrupted = true
      changed.push(segment)
    }
    remaining = ""
  }
  return changed
}
