import type { CallChannel } from "../../call/events.ts"
import { decodeCallEvent, encodeOutbound, encodeText, end } from "./frames.ts"

/** The part of a WebSocket the channel uses (Bun's ServerWebSocket, Deno's WebSocket…). */
export interface RelaySocket {
  /** Bun returns 0 when it dropped the frame (socket closing), -1 when queued under backpressure. */
  readonly send: (data: string) => number | void
  readonly close: (code: number, reason: string) => void
}

/** A ConversationRelay socket as the call core sees it: frames in as call events, commands out as frames. */
export const relayChannel = (socket: RelaySocket, onDropped: () => void): CallChannel => {
  const send = (data: string) => {
    if (socket.send(data) === 0) onDropped()
  }
  return {
    decode: decodeCallEvent,
    speak: (text, last) => send(encodeText(text, last)),
    end: (handoff) => send(encodeOutbound(end(handoff))),
    close: (code, reason) => socket.close(code, reason)
  }
}
