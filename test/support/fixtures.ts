/**
 * Access to the recorded ConversationRelay calls in `../shared/fixtures/conversationrelay` (a sibling of the
 * repository; CI checks it out beside the clone). The data is never copied into this repository: when the
 * folder is absent (a fresh clone on its own), tests that need it are skipped with a visible note.
 *
 * ```ts
 * describeWithFixtures("codec replays every recorded frame", () => {
 *   test("decodes", () => { for (const { fixture, frame } of allInboundFrames()) … })
 * })
 * ```
 *
 * `COCCINELLE_FIXTURES_DIR` overrides the location.
 */
import { describe, test } from "./test.ts"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join, resolve } from "node:path"

/** Repository root: this file lives in `<root>/test/support`. */
export const repoRoot: string = resolve(import.meta.dirname, "..", "..")

/** Where the recordings live by default: `<root>/../shared/fixtures/conversationrelay`. */
export const defaultFixturesDir: string = resolve(repoRoot, "..", "shared", "fixtures", "conversationrelay")

/** Where the recordings are expected (`COCCINELLE_FIXTURES_DIR` overrides the default). */
export const fixturesDir: string = process.env["COCCINELLE_FIXTURES_DIR"] || defaultFixturesDir

export const fixturesAvailable = (): boolean => {
  try {
    return existsSync(fixturesDir) && readdirSync(fixturesDir).some((f) => f.endsWith(".jsonl"))
  } catch {
    return false
  }
}

// ---------------------------------------------------------------------------------------------------
// Event shapes (see the fixtures README)

interface Base {
  /** Wall-clock ISO time. */
  readonly t: string
  /** Milliseconds since the recorder started. */
  readonly ms: number
}

/** A webhook Twilio called (`form`), or the TwiML the recorder answered (`response`). */
export interface HttpEvent extends Base {
  readonly dir: "http"
  readonly path: string
  readonly signatureValid?: boolean
  readonly form?: Readonly<Record<string, string>>
  readonly response?: string
  readonly nextAction?: string
}

/** WebSocket lifecycle: `handshake` (headers, which URL form the signature matched), `open`, `close`. */
export interface WsEvent extends Base {
  readonly dir: "ws"
  readonly event: "handshake" | "open" | "close" | string
  readonly id?: string
  readonly headers?: Readonly<Record<string, string>>
  readonly signaturePresent?: boolean
  readonly signatureMatched?: Readonly<Record<string, boolean>>
  readonly code?: number
  readonly reason?: string
  readonly session?: number
  readonly sinceSetupMs?: number
}

/** A frame Twilio sent. */
export interface InEvent extends Base {
  readonly dir: "in"
  readonly session?: number
  readonly frame: InboundFrameJson
}

/** A frame the recorder sent (`frame`), or a deliberately malformed one (`raw`). */
export interface OutEvent extends Base {
  readonly dir: "out"
  readonly session?: number
  readonly frame?: { readonly type: string; readonly [key: string]: unknown }
  readonly raw?: string
}

export interface NoteEvent extends Base {
  readonly dir: "note"
  readonly [key: string]: unknown
}

export type FixtureEvent = HttpEvent | WsEvent | InEvent | OutEvent | NoteEvent

/** An inbound frame exactly as recorded (deliberately loose: the codec under test is what gives it a type). */
export type InboundFrameJson = { readonly type: string; readonly [key: string]: unknown }

// ---------------------------------------------------------------------------------------------------
// Loading

const requireFixtures = () => {
  if (!fixturesAvailable()) {
    throw new Error(`fixtures not found at ${fixturesDir} (use describeWithFixtures / fixturesAvailable to skip)`)
  }
}

/** Fixture names without the `.jsonl` extension, sorted. */
export const fixtureNames = (): Array<string> => {
  requireFixtures()
  return readdirSync(fixturesDir)
    .filter((f) => f.endsWith(".jsonl"))
    .map((f) => f.slice(0, -".jsonl".length))
    .sort()
}

const cache = new Map<string, ReadonlyArray<FixtureEvent>>()

/** Every event of one recording, in order. `name` with or without `.jsonl`. */
export const loadFixture = (name: string): ReadonlyArray<FixtureEvent> => {
  requireFixtures()
  const base = name.endsWith(".jsonl") ? name.slice(0, -".jsonl".length) : name
  // Callers get their own copy: a test that mutates what it read (bun's toMatchObject with asymmetric
  // matchers writes into the received value) must not change the recording for the next test.
  const cached = cache.get(base)
  if (cached !== undefined) return structuredClone(cached) as ReadonlyArray<FixtureEvent>
  const file = join(fixturesDir, `${base}.jsonl`)
  if (!existsSync(file)) throw new Error(`fixture ${base} not found in ${fixturesDir}; have: ${fixtureNames().join(", ")}`)
  const events = readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line, i) => {
      try {
        return JSON.parse(line) as FixtureEvent
      } catch (e) {
        throw new Error(`${file}:${i + 1}: not JSON: ${String(e)}`)
      }
    })
  cache.set(base, events)
  return structuredClone(events) as ReadonlyArray<FixtureEvent>
}

/** The frames Twilio sent during one recording (`dir: "in"`), in order. */
export const inboundFrames = (name: string): Array<InboundFrameJson> =>
  loadFixture(name).flatMap((e) => (e.dir === "in" ? [e.frame] : []))

/** Every inbound frame of every recording, with where it came from. */
export const allInboundFrames = (): Array<{ readonly fixture: string; readonly index: number; readonly frame: InboundFrameJson }> =>
  fixtureNames().flatMap((fixture) => inboundFrames(fixture).map((frame, index) => ({ fixture, index, frame })))

/** Webhook forms Twilio posted in one recording, optionally only those to `path` (`/voice`, `/status`, `/action`). */
export const webhookForms = (name: string, path?: string): Array<{ readonly path: string; readonly form: Readonly<Record<string, string>> }> =>
  loadFixture(name).flatMap((e) =>
    e.dir === "http" && e.form !== undefined && (path === undefined || e.path === path) ? [{ path: e.path, form: e.form }] : []
  )

/** TwiML documents the recorder answered, with the webhook path. */
export const twimlResponses = (name: string): Array<{ readonly path: string; readonly twiml: string }> =>
  loadFixture(name).flatMap((e) => (e.dir === "http" && typeof e.response === "string" ? [{ path: e.path, twiml: e.response }] : []))

/** WebSocket close events (code, reason) of one recording. */
export const closes = (name: string): Array<WsEvent> =>
  loadFixture(name).flatMap((e) => (e.dir === "ws" && e.event === "close" ? [e] : []))

// ---------------------------------------------------------------------------------------------------
// Skipping visibly when the recordings are absent

/** Undefined when the fixtures are present; otherwise the note explaining why replay tests are skipped. */
export const skipNote = (): string | undefined =>
  fixturesAvailable() ? undefined : `fixtures not found at ${fixturesDir}, skipping replay tests`

const warned = new Set<string>()
const warnOnce = (label: string) => {
  const note = skipNote()
  if (note !== undefined && !warned.has(label)) {
    warned.add(label)
    console.warn(`[fixtures] ${note} (${label})`)
  }
}

/** Under CI=true the recordings are required: their tests fail instead of being skipped. */
const fixturesRequired = process.env["CI"] === "true"
const failForMissingFixtures = (label: string) =>
  test(`${label} [recordings required under CI=true]`, () => {
    throw new Error(`CI=true and ${skipNote()}: the replay tests cannot run`)
  })

/** `describe` when the fixtures are present; otherwise `describe.skip` with a console note (a failure under CI=true). */
export const describeWithFixtures = (label: string, fn: () => void): void => {
  if (fixturesAvailable()) describe(label, fn)
  else if (fixturesRequired) failForMissingFixtures(label)
  else {
    warnOnce(label)
    describe.skip(`${label} [skipped: ${skipNote()}]`, fn)
  }
}

/** `test` when the fixtures are present; otherwise `test.skip` with a console note. */
export const testWithFixtures = (label: string, fn: () => void | Promise<unknown>, timeoutMs?: number): void => {
  if (fixturesAvailable()) test(label, fn, timeoutMs)
  else if (fixturesRequired) failForMissingFixtures(label)
  else {
    warnOnce(label)
    test.skip(`${label} [skipped: ${skipNote()}]`, fn)
  }
}
