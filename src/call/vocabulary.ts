import * as Schema from "effect/Schema"

/** The words a call's record is made of, declared once: outcomes and end reasons. */

/** What a call achieved, best first: the first one noted in this order is the call's outcome. */
export const OUTCOMES = ["transferred", "booked", "message_taken", "information_given", "abandoned"] as const
export type Outcome = (typeof OUTCOMES)[number]
export const Outcome = Schema.Literal(...OUTCOMES)

/** How a call ended. `server_restart`: closed at start after the process that served it died. */
export const END_REASONS = [
  "caller_hangup",
  "agent_hangup",
  "transfer",
  "error",
  "shutdown",
  "socket_failed",
  "server_restart"
] as const
export type EndReason = (typeof END_REASONS)[number]
export const EndReason = Schema.Literal(...END_REASONS)

/** Which outcome a call had, from everything noted during it (tools, transfers). */
export const decideOutcome = (noted: ReadonlySet<Outcome>): Outcome =>
  OUTCOMES.find((outcome) => noted.has(outcome)) ?? "abandoned"
