/**
 * The part of `bun:test` our tests use, on `Deno.test`: deno.json maps `bun:test` here, so
 * `test/support/test.ts` gives Bun's own runner under `bun test` and this one under `deno task test`.
 * Semantics follow Bun's: nested `describe` names joined with " > ", `beforeAll`/`afterAll` around
 * the tests of their block, a 5 s default timeout (hooks too), `test.skip`/`skipIf`/`each`, `describe.skip`/`skipIf`.
 * Assertions are Jest's `expect` (the npm package), plus the Bun matchers we use.
 */
import { expect as jestExpect } from "expect"

declare const Deno: {
  test(options: {
    name: string
    ignore?: boolean
    sanitizeOps?: boolean
    sanitizeResources?: boolean
    sanitizeExit?: boolean
    fn: () => Promise<void>
  }): void
}

type Fn = () => unknown
type Timeout = number | { timeout?: number } | undefined

interface Suite {
  readonly names: ReadonlyArray<string>
  readonly parent: Suite | undefined
  readonly skip: boolean
  readonly beforeAll: Array<readonly [Fn, number]>
  readonly afterAll: Array<readonly [Fn, number]>
  readonly beforeEach: Array<readonly [Fn, number]>
  readonly afterEach: Array<readonly [Fn, number]>
  /** Tests registered to run under this block, and how many have finished (afterAll runs when equal). */
  planned: number
  finished: number
  started: boolean
  setupFailure: unknown
}

const DEFAULT_TIMEOUT_MS = 5_000

const makeSuite = (name: string | undefined, parent: Suite | undefined, skip: boolean): Suite => ({
  names: name === undefined ? [] : [...(parent?.names ?? []), name],
  parent,
  skip: skip || (parent?.skip ?? false),
  beforeAll: [],
  afterAll: [],
  beforeEach: [],
  afterEach: [],
  planned: 0,
  finished: 0,
  started: false,
  setupFailure: undefined
})

const root = makeSuite(undefined, undefined, false)
let current = root

const timeoutOf = (option: Timeout): number =>
  typeof option === "number" ? option : option?.timeout ?? DEFAULT_TIMEOUT_MS

const withTimeout = async (fn: Fn, ms: number, what: string): Promise<void> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)
  })
  try {
    await Promise.race([Promise.resolve().then(fn), timedOut])
  } finally {
    clearTimeout(timer)
  }
}

/** The blocks from the file's root down to `suite`. */
const chainOf = (suite: Suite): Array<Suite> => {
  const chain: Array<Suite> = []
  for (let s: Suite | undefined = suite; s !== undefined; s = s.parent) chain.unshift(s)
  return chain
}

const register = (name: string, fn: Fn, option: Timeout, skip: boolean): void => {
  const suite = current
  const chain = chainOf(suite)
  const ignore = skip || suite.skip
  if (!ignore) for (const s of chain) s.planned++
  Deno.test({
    name: [...suite.names, name].join(" > "),
    ignore,
    // Bun has no leak sanitizers; servers started in beforeAll live across tests, as there.
    sanitizeOps: false,
    sanitizeResources: false,
    sanitizeExit: false,
    fn: async () => {
      let afterAllFailure: unknown
      const noteAfterAll = (error: unknown) => {
        console.error("afterAll failed:", error)
        afterAllFailure ??= error
      }
      try {
        for (const s of chain) {
          if (!s.started) {
            s.started = true
            try {
              for (const [hook, ms] of s.beforeAll) await withTimeout(hook, ms, "beforeAll")
            } catch (error) {
              s.setupFailure = error
            }
          }
          if (s.setupFailure !== undefined) throw s.setupFailure
        }
        const each = chain.flatMap((s) => s.beforeEach)
        try {
          for (const [hook, ms] of each) await withTimeout(hook, ms, "beforeEach")
          await withTimeout(fn, timeoutOf(option), `test "${name}"`)
        } finally {
          for (const s of [...chain].reverse()) {
            for (const [hook, ms] of s.afterEach) await withTimeout(hook, ms, "afterEach")
          }
        }
      } finally {
        // A failing afterAll fails this (last) test; it never hides the test's own failure, which is thrown first.
        for (const s of [...chain].reverse()) {
          s.finished++
          if (s.finished === s.planned) {
            for (const [hook, ms] of s.afterAll) await withTimeout(hook, ms, "afterAll").catch(noteAfterAll)
          }
        }
      }
      if (afterAllFailure !== undefined) {
        const failure = afterAllFailure
        afterAllFailure = undefined
        throw failure
      }
    }
  })
}

const inBlock = (name: string, fn: () => void, skip: boolean): void => {
  const parent = current
  current = makeSuite(name, parent, skip)
  try {
    fn()
  } finally {
    current = parent
  }
}

/** Bun's `test.each` names: `%p`/`%s`/`%d`/`%i`/`%j`/`%o` take the row's values in order, `%#` its index. */
const eachName = (template: string, row: ReadonlyArray<unknown>, index: number): string => {
  let next = 0
  return template.replace(/%[psdijo#%]/g, (token) => {
    if (token === "%%") return "%"
    if (token === "%#") return String(index)
    const value = row[next++]
    return token === "%s" || token === "%d" || token === "%i" ? String(value) : JSON.stringify(value) ?? String(value)
  })
}

type TestFn = {
  (name: string, fn: Fn, option?: Timeout): void
  skip: (name: string, fn: Fn, option?: Timeout) => void
  skipIf: (condition: boolean) => (name: string, fn: Fn, option?: Timeout) => void
  each: <T>(rows: ReadonlyArray<T>) => (name: string, fn: (...args: Array<any>) => unknown, option?: Timeout) => void
}

export const test: TestFn = Object.assign(
  (name: string, fn: Fn, option?: Timeout) => register(name, fn, option, false),
  {
    skip: (name: string, fn: Fn, option?: Timeout) => register(name, fn, option, true),
    skipIf: (condition: boolean) => (name: string, fn: Fn, option?: Timeout) => register(name, fn, option, condition),
    each: <T>(rows: ReadonlyArray<T>) => (name: string, fn: (...args: Array<any>) => unknown, option?: Timeout) =>
      rows.forEach((row, index) => {
        const args = Array.isArray(row) ? row : [row]
        register(eachName(name, args, index), () => fn(...args), option, false)
      })
  }
)
export const it = test

type DescribeFn = {
  (name: string, fn: () => void): void
  skip: (name: string, fn: () => void) => void
  skipIf: (condition: boolean) => (name: string, fn: () => void) => void
}

export const describe: DescribeFn = Object.assign((name: string, fn: () => void) => inBlock(name, fn, false), {
  skip: (name: string, fn: () => void) => inBlock(name, fn, true),
  skipIf: (condition: boolean) => (name: string, fn: () => void) => inBlock(name, fn, condition)
})

export const beforeAll = (fn: Fn, option?: Timeout): void => void current.beforeAll.push([fn, timeoutOf(option)])
export const afterAll = (fn: Fn, option?: Timeout): void => void current.afterAll.push([fn, timeoutOf(option)])
export const beforeEach = (fn: Fn, option?: Timeout): void => void current.beforeEach.push([fn, timeoutOf(option)])
export const afterEach = (fn: Fn, option?: Timeout): void => void current.afterEach.push([fn, timeoutOf(option)])

jestExpect.extend({
  toStartWith(received: unknown, prefix: string) {
    const pass = typeof received === "string" && received.startsWith(prefix)
    return { pass, message: () => `expected ${JSON.stringify(received)} ${pass ? "not " : ""}to start with ${JSON.stringify(prefix)}` }
  }
})

export const expect = jestExpect
