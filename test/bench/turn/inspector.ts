/**
 * A full garbage collection in a server started with its runtime's inspector: V8's on Deno (`--inspect=host:port`,
 * its socket found at /json/list), WebKit's on Bun (`--inspect=host:port/path`, that socket itself). The turn
 * benchmark asks for one before reading RSS with `--full-gc`, so that the reading counts what live calls hold and not
 * the garbage their turns left for a collection that has not come yet.
 */
import type { Runtime } from "./servers.ts"

export const inspectFlag = (runtime: Runtime, port: number) =>
  runtime === "Deno" ? `--inspect=127.0.0.1:${port}` : `--inspect=127.0.0.1:${port}/bench`

const socketUrl = async (runtime: Runtime, port: number) => {
  if (runtime === "Bun") return `ws://127.0.0.1:${port}/bench`
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ webSocketDebuggerUrl: string }>
  if (targets[0] === undefined) throw new Error("the Deno inspector lists no target")
  return targets[0].webSocketDebuggerUrl
}

/** Resolves once the server has run a full collection. */
export const collectGarbage = async (runtime: Runtime, port: number): Promise<void> => {
  const ws = new WebSocket(await socketUrl(runtime, port))
  try {
    await new Promise((resolve, reject) => {
      ws.onopen = resolve
      ws.onerror = () => reject(new Error(`the ${runtime} inspector on port ${port} did not answer`))
    })
    const answered = new Promise<void>((resolve, reject) => {
      ws.onmessage = (message) => {
        const reply = JSON.parse(String(message.data)) as { id?: number; error?: { message: string } }
        if (reply.id !== 1) return
        if (reply.error) reject(new Error(`${runtime} inspector: ${reply.error.message}`))
        else resolve()
      }
    })
    ws.send(JSON.stringify({ id: 1, method: runtime === "Deno" ? "HeapProfiler.collectGarbage" : "Heap.gc" }))
    await answered
  } finally {
    ws.close()
  }
}
