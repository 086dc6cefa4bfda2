/**
 * The few runtime services tests need, the same under `bun test` and `deno task test`: sleeping, running
 * a child process, and a loopback server with Bun.serve's shape (`fetch(request, server)`,
 * `server.upgrade(request, { data })`, `websocket: { open, message, close }`), built on `Deno.serve` under Deno.
 *
 * ```ts
 * const server = serve({ hostname: "127.0.0.1", port: 0, fetch: (request) => new Response("ok") })
 * await server.stop(true)
 * ```
 */
import { spawnSync as nodeSpawnSync } from "node:child_process"
import { accessSync, constants } from "node:fs"
import { delimiter, join } from "node:path"

interface DenoServeApi {
  serve(
    options: { port: number; hostname: string; onListen: () => void },
    handler: (request: Request) => Response | Promise<Response>
  ): { readonly addr: { readonly port: number }; shutdown(): Promise<void> }
  upgradeWebSocket(request: Request, options?: { idleTimeout?: number }): { socket: WebSocket; response: Response }
}

const deno = (globalThis as { Deno?: DenoServeApi }).Deno

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

/** Runs a command to its end (Bun.spawnSync's result shape: exit code and captured output). */
export const spawnSync = (
  command: ReadonlyArray<string>,
  // Output is always captured; `stdout`/`stderr: "pipe"` are accepted for Bun.spawnSync's call shape.
  options: { cwd?: string; env?: Record<string, string | undefined>; stdin?: Uint8Array; stdout?: "pipe"; stderr?: "pipe" } = {}
): { exitCode: number | null; stdout: Buffer; stderr: Buffer } => {
  const [file, ...args] = command
  const result = nodeSpawnSync(file ?? "", args, { cwd: options.cwd, env: options.env, input: options.stdin })
  return { exitCode: result.status, stdout: result.stdout ?? Buffer.alloc(0), stderr: result.stderr ?? Buffer.alloc(0) }
}

/** The command that evaluates a TypeScript module `script` on this runtime, from the repository's root. */
export const evalCommand = (script: string): Array<string> =>
  runtime === "bun" ? [process.execPath, "--eval", script] : [process.execPath, "eval", "--ext=ts", script]

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
