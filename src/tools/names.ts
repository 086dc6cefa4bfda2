/** The tools the model may call: one list, read by the registry (Tools.ts) and the metrics' label set. */
export const TOOL_NAMES = ["search_knowledge", "check_availability", "book_appointment", "transfer_to_human", "take_message"] as const
export type ToolName = (typeof TOOL_NAMES)[number]
