/**
 * The step a reply takes aside once its first words are sent (src/eventLoop.ts): when it resumes, those words are
 * on the wire. On Deno a frame is written by a task of its own, which an immediate used to run ahead of: the first
 * words then waited for the whole reply to be read.
 */
import { afterAll, beforeAll, describe, expect, test } from "../support/test.ts"
import { nextTurnOfEventLoop } from "../../src/eventLoop.ts"
import { runScoped } from "../support/effect.ts"
import { serve, type TestServer } from "../support/runtime.ts"

describe("the next turn of the event loop", () => {
  let server: TestServer
  let socket: WebSocket

  beforeAll(async () => {
    server = serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (request, upgrader) => upgrader.upgrade(request, { data: undefined }) ? undefined : new Response(null, { status: 400 }),
      websocket: {}
    })
    socket = new WebSocket(`ws://127.0.0.1:${server.port}/`)
    await new Promise((resolve, reject) => {
      socket.onopen = resolve
      socket.onerror = reject
    })
  })

  afterAll(async () => {
    socket.close()
    await server.stop(true)
  })

  test("a frame sent before it is written to the socket by the time it resumes", async () => {
    for (let frame = 1; frame <= 5; frame++) {
      socket.send(`frame ${frame}: ${"x".repeat(200)}`)
      await runScoped(nextTurnOfEventLoop)
      expect({ frame, buffered: socket.bufferedAmount }).toEqual({ frame, buffered: 0 })
    }
  })
})
