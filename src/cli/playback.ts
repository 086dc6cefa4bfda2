/**
 * What the caller has heard of the agent's reply so far. Twilio receives the words faster than it speaks
 * them; the simulator plays them back at a speaking rate, so a barge-in can say what was heard, as
 * Twilio's `interrupt` frame does (`utteranceUntilInterrupt`, `durationUntilInterruptMs`).
 */

/** About 15 characters a second: French text-to-speech at its usual pace. */
export const DEFAULT_CHARS_PER_SECOND = 15

export class Playback {
  private text = ""
  private played = 0
  private startedAt: number | null = null
  private updatedAt = 0
  private complete = false

  constructor(private readonly charsPerSecond: number, private readonly now: () => number = Date.now) {}

  /** Words arrived from the server; speaking starts with the first of them. */
  add(words: string): void {
    this.advance()
    if (this.startedAt === null && words !== "") {
      this.startedAt = this.now()
      this.updatedAt = this.startedAt
    }
    this.text += words
  }

  /** No more words will come for this reply (a `last: true`). */
  finish(): void {
    this.advance()
    this.complete = true
  }

  private advance(): void {
    if (this.startedAt === null) return
    const now = this.now()
    this.played = Math.min(this.text.length, this.played + ((now - this.updatedAt) * this.charsPerSecond) / 1000)
    this.updatedAt = now
  }

  get started(): boolean {
    return this.startedAt !== null
  }

  /** Still speaking: words not yet played, or the reply not finished. */
  get speaking(): boolean {
    this.advance()
    return this.startedAt !== null && (!this.complete || this.played < this.text.length)
  }

  /** Milliseconds until everything received so far has been spoken. */
  get remainingMs(): number {
    this.advance()
    return ((this.text.length - this.played) * 1000) / this.charsPerSecond
  }

  /** Milliseconds needed to speak the whole reply received so far. */
  get totalMs(): number {
    return (this.text.length * 1000) / this.charsPerSecond
  }

  /** The words heard so far (whole words only) and for how long the agent has been speaking. */
  heard(): { readonly utterance: string; readonly durationMs: number } {
    this.advance()
    const cut = this.text.slice(0, Math.floor(this.played))
    const whole = cut.length === this.text.length ? cut : cut.slice(0, Math.max(0, cut.lastIndexOf(" ")))
    return { utterance: whole.trim(), durationMs: this.startedAt === null ? 0 : Math.round(this.now() - this.startedAt) }
  }
}
