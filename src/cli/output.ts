/** The simulator's terminal output. The agent's and the server's words are untrusted: no control character reaches the terminal. */

const colour = process.stdout.isTTY === true

export const clean = (text: string): string =>
  text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "")
export const paint = (code: string, text: string): string => (colour ? `\x1b[${code}m${text}\x1b[0m` : text)
export const write = (text: string): void => {
  process.stdout.write(text)
}
export const note = (text: string): void => write(paint("90", `· ${text}`) + "\n")

interface CallDetail {
  readonly ended_at: string | null
  readonly outcome: string | null
  readonly end_reason: string | null
  readonly summary: {
    readonly summary: string
    readonly intent: string | null
    readonly sentiment: string | null
    readonly callbackNeeded: boolean
    readonly unansweredQuestions: ReadonlyArray<string>
  } | null
}

/** The call as the owner sees it (owner API): its outcome, then its summary once written. */
export const printOutcome = async (input: {
  readonly baseUrl: string
  readonly callId: string
  readonly apiKey: string | null
  readonly timeoutMs: number
}): Promise<void> => {
  if (input.apiKey === null) {
    note("issue et résumé : passez --api-key <clé du tenant> (ou COCCINELLE_API_KEY)")
    return
  }
  const deadline = Date.now() + input.timeoutMs
  let printedOutcome = false
  for (;;) {
    const response = await fetch(`${input.baseUrl}/api/v1/twilio/calls/${encodeURIComponent(input.callId)}`, {
      headers: { authorization: `Bearer ${input.apiKey}` }
    })
    if (response.status !== 200) {
      note(`issue : HTTP ${response.status} (la clé est-elle celle du tenant appelé ?)`)
      return
    }
    const detail = ((await response.json()) as { call: CallDetail }).call
    if (!printedOutcome && detail.ended_at) {
      write(`Issue : ${clean(String(detail.outcome))} (fin : ${clean(String(detail.end_reason))})\n`)
      printedOutcome = true
    }
    if (detail.summary) {
      const s = detail.summary
      write(`Résumé : ${clean(s.summary)}\n`)
      write(`  intention : ${clean(s.intent ?? "")} · sentiment : ${clean(s.sentiment ?? "")} · à rappeler : ${s.callbackNeeded ? "oui" : "non"}\n`)
      if (s.unansweredQuestions.length > 0) write(`  sans réponse : ${s.unansweredQuestions.map(clean).join(" ; ")}\n`)
      return
    }
    if (Date.now() > deadline) {
      note("résumé pas encore écrit (le serveur a-t-il une clé ANTHROPIC_API_KEY ?)")
      return
    }
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
}
