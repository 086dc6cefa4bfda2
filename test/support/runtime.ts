/**
 * The few runtime services tests need, the same under `bun test` and `deno task test`: sleeping, running
 * a child process (the server itself: `spawn(mainCommand())`), and a loopback server with Bun.serve's shape (`fetch(request, server)`,
 * `server.upgrade(request, { data })`, `websocket: { open, message, close }`), built on `Deno.serve` under Deno.
 *
 * ```ts
 * const server = serve({ hostname: "127.0.0.1", port: 0, fetch: (request) => new Response("ok") })
 * await server.stop(true)
 * ```
 */
import { spawn as nodeSpawn, spawnSync as nodeSpawnSync } from "node:child_process"
import { accessSync, constants } from "node:fs"
import { delimiter, join } from "node:path"
import { Readable } from "node:stream"
import { fileURLToPath } from "node:url"

interface DenoApi {
  serve(
    options: { port: number; hostname: string; onListen: () => void },
    handler: (request: Request) => Response | Promise<Response>
  ): { readonly addr: { readonly port: number }; shutdown(): Promise<void> }
  upgradeWebSocket(request: Request, options?: { idleTimeout?: number }): { socket: WebSocket; response: Response }
  Command: new(command: string, options: {
    args: Array<string>
    cwd?: string
    env: Record<string, string>
    clearEnv: boolean
    stdin: "null" | "piped"
    stdout: "piped"
    stderr: "piped"
  }) => {
    spawn(): {
      readonly pid: number
      readonly stdin: WritableStream<Uint8Array>
      readonly stdout: ReadableStream<Uint8Array>
      readonly stderr: ReadableStream<Uint8Array>
      readonly status: Promise<{ readonly code: number }>
      kill(signal: string): void
    }
  }
}

const deno = (globalThis as { Deno?: DenoApi }).Deno

/** Which runtime runs the tests. */
export const runtime: "bun" | "deno" = deno === undefined ? "bun" : "deno"

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** `command` on PATH, or null (Bun.which). */
export const which = (command: string): string | null => {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    const candidate = join(dir, command)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not in this directory
    }
  }
  return null
}

interface SpawnOptions {
  cwd?: string
  env?: Record<string, string | undefined>
  // Output is always captured; `stdout`/`stderr: "pipe"` are accepted for Bun.spawn's call shape.
  stdout?: "pipe"
  stderr?: "pipe"
}

/** Runs a command to its end (Bun.spawnSync's result shape: exit code and captured output). */
export const spawnSync = (
  command: ReadonlyArray<string>,
  options: SpawnOptions & { stdin?: Uint8Array; timeout?: number } = {}
): { exitCode: number | null; stdout: Buffer; stderr: Buffer } => {
  const [file, ...args] = command
  const result = nodeSpawnSync(file ?? "", args, { cwd: options.cwd, env: options.env, input: options.stdin, timeout: options.timeout })
  return { exitCode: result.status, stdout: result.stdout ?? Buffer.alloc(0), stderr: result.stderr ?? Buffer.alloc(0) }
}

/** A running child process (Bun.spawn's shape: output streams, `exited`, `kill`). */
export interface Child {
  readonly pid: number | undefined
  readonly stdout: ReadableStream<Uint8Array>
  readonly stderr: ReadableStream<Uint8Array>
  readonly exited: Promise<number | null>
  kill(signal?: NodeJS.Signals): void
}

/** `stdin`: what the child reads on its standard input, then end of file (none: no standard input). */
export const spawn = (command: ReadonlyArray<string>, options: SpawnOptions & { stdin?: string | Uint8Array } = {}): Child => {
  const [file, ...args] = command
  const input = typeof options.stdin === "string" ? new TextEncoder().encode(options.stdin) : options.stdin
  if (deno !== undefined) {
    // Deno's node:child_process reports a child that exited 0 on SIGTERM as killed by it; Deno.Command does not.
    const env = Object.fromEntries(Object.entries(options.env ?? {}).filter((e): e is [string, string] => e[1] !== undefined))
    const child = new deno.Command(file ?? "", {
      args,
      cwd: options.cwd,
      env,
      clearEnv: options.env !== undefined,
      stdin: input === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped"
    }).spawn()
    if (input !== undefined) {
      const writer = child.stdin.getWriter()
      // A child that exits without reading it all closes the pipe: nothing to report.
      void writer.write(input).then(() => writer.close()).catch(() => {})
    }
    return {
      pid: child.pid,
      stdout: child.stdout,
      stderr: child.stderr,
      exited: child.status.then((status) => status.code),
      kill: (signal = "SIGTERM") => {
        try {
          child.kill(signal)
        } catch {
          // already exited
        }
      }
    }
  }
  const child = nodeSpawn(file ?? "", args, { cwd: options.cwd, env: options.env, stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] })
  if (input !== undefined) {
    child.stdin?.on("error", () => {}) // a child that exits without reading it all
    child.stdin?.end(input)
  }
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  return {
    pid: child.pid,
    stdout: Readable.toWeb(child.stdout!) as unknown as ReadableStream<Uint8Array>,
    stderr: Readable.toWeb(child.stderr!) as unknown as ReadableStream<Uint8Array>,
    exited,
    kill: (signal = "SIGTERM") => void child.kill(signal)
  }
}

/**
 * Reads a child's standard error and output as they come (so its pipes never fill), keeping the last
 * `keep` characters of each; the returned function gives them (error first) once the child has closed both.
 */
export const outputTail = (child: Child, keep = 20_000): (() => Promise<string>) => {
  const tail = (stream: ReadableStream<Uint8Array>) => {
    let text = ""
    const decoder = new TextDecoder()
    const reader = stream.getReader()
    const read = (async () => {
      for (let next = await reader.read(); !next.done; next = await reader.read()) {
        text = (text + decoder.decode(next.value, { stream: true })).slice(-keep)
      }
    })().catch(() => {})
    return () => read.then(() => text)
  }
  const stderr = tail(child.stderr)
  const stdout = tail(child.stdout)
  return async () => `${await stderr()}${await stdout()}`
}

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url).href)

/** The command that evaluates a TypeScript module `script` on this runtime, from the repository's root. */
export const evalCommand = (script: string): Array<string> =>
  runtime === "bun" ? [process.execPath, "--eval", script] : [process.execPath, "eval", "--ext=ts", script]

/**
 * The command that runs one of this repository's scripts (`src/cli/call.ts`, …) on this runtime, from any
 * directory: `bun <script>`, or `deno run` with this repository's deno.json (npm packages resolve from its node_modules).
 */
export const scriptCommand = (script: string, ...args: ReadonlyArray<string>): Array<string> =>
  runtime === "bun"
    ? [process.execPath, join(REPO_ROOT, script), ...args]
    : [process.execPath, "run", "--config", join(REPO_ROOT, "deno.json"), "--unstable-no-legacy-abort", "--allow-all", join(REPO_ROOT, script), ...args]

/** The command that starts the server (`src/main.ts`) on this runtime: `bun src/main.ts`, or what `deno task start` runs. */
export const mainCommand = (): Array<string> => scriptCommand("src/main.ts")

export interface TestSocket<T> {
  readonly data: T
  send(message: string): void
  close(code?: number, reason?: string): void
}

export interface ServeOptions<T> {
  readonly hostname: string
  readonly port: number
  /** Bun's HTTP idle timeout in seconds (0: none); Deno.serve has none. */
  readonly idleTimeout?: number
  readonly fetch: (
    request: Request,
    server: { upgrade(request: Request, options: { data: T }): boolean }
  ) => Response | undefined | Promise<Response | undefined>
  readonly error?: (error: Error) => Response
  readonly websocket?: {
    open?(ws: TestSocket<T>): void
    message?(ws: TestSocket<T>, message: string | Buffer): void
    close?(ws: TestSocket<T>, code: number, reason: string): void
  }
}

export interface TestServer {
  readonly port: number
  stop(closeActiveConnections?: boolean): Promise<void>
}

/** A loopback server for a test: Bun.serve under Bun, the same shape on Deno.serve under Deno. */
export const serve = <T = undefined>(options: ServeOptions<T>): TestServer => {
  if (deno === undefined) {
    const server = Bun.serve<T, never>({
      hostname: options.hostname,
      port: options.port,
      ...(options.idleTimeout !== undefined ? { idleTimeout: options.idleTimeout } : {}),
      fetch: (request, bunServer) =>
        options.fetch(request, { upgrade: (req, { data }) => (bunServer.upgrade as (r: Request, o: { data: T }) => boolean).call(bunServer, req, { data }) }),
      ...(options.error ? { error: options.error } : {}),
      websocket: {
        open: (ws) => options.websocket?.open?.(ws),
        message: (ws, message) => options.websocket?.message?.(ws, message),
        close: (ws, code, reason) => options.websocket?.close?.(ws, code, reason)
      }
    })
    return { port: server.port as number, stop: (force) => server.stop(force) }
  }
  const sockets = new Set<WebSocket>()
  const server = deno.serve({ hostname: options.hostname, port: options.port, onListen: () => {} }, async (request) => {
    let upgraded: Response | undefined
    const upgrade = (req: Request, { data }: { data: T }): boolean => {
      const { socket, response } = deno.upgradeWebSocket(req, { idleTimeout: 0 })
      const ws: TestSocket<T> = { data, send: (m) => socket.send(m), close: (code, reason) => socket.close(code, reason) }
      socket.onopen = () => {
        sockets.add(socket)
        options.websocket?.open?.(ws)
      }
      socket.onmessage = (event) => options.websocket?.message?.(ws, typeof event.data === "string" ? event.data : Buffer.from(event.data))
      socket.onclose = (event) => {
        sockets.delete(socket)
        options.websocket?.close?.(ws, event.code, event.reason)
      }
      upgraded = response
      return true
    }
    try {
      const response = await options.fetch(request, { upgrade })
      return upgraded ?? response ?? new Response(null, { status: 500 })
    } catch (error) {
      if (options.error) return options.error(error as Error)
      throw error
    }
  })
  return {
    port: server.addr.port,
    stop: async (force) => {
      const stopped = server.shutdown()
      // Deno's shutdown waits for open responses (a stream a test left hanging); Bun's `stop(true)` cuts them.
      if (force) for (const socket of sockets) socket.close()
      else await stopped
    }
  }
}
