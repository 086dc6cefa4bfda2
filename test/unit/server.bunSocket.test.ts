/**
 * The Bun edge's relay socket (src/server/adapters/bun.ts): a reply's first frame goes out at once, the frames after
 * it in the same turn of the event loop are written together; none is lost, reordered, or sent after the close.
 */
import { setImmediate } from "node:timers"
import { describe, expect, test } from "../support/test.ts"
import { batchingSocket } from "../../src/server/adapters/bun.ts"

/** A socket recording its writes: each uncorked `send` is a write of its own, a `cork` one write for all it sends. */
const recordingSocket = () => {
  const log: Array<string> = []
  let corked: Array<string> | undefined
  let dropNext = false
  const ws = {
    data: { connectionId: "CA_test" } as { connectionId: string; flush?: () => void },
    readyState: WebSocket.OPEN as number,
    send: (data: string) => {
      if (dropNext) return 0
      if (corked !== undefined) corked.push(data)
      else log.push(`write ${data}`)
      return data.length
    },
    cork: (callback: () => void) => {
      corked = []
      callback()
      log.push(`write ${corked.join("+")}`)
      corked = undefined
    },
    close: (code: number) => {
      log.push(`close ${code}`)
    }
  }
  return { ws, log, dropFromNowOn: () => { dropNext = true } }
}
/** The edge's socket over a recording one. */
const batched = (onDropped: () => void = () => {}) => {
  const recording = recordingSocket()
  return { ...recording, socket: batchingSocket(recording.ws as unknown as Parameters<typeof batchingSocket>[0], onDropped) }
}
const nextTurn = () => new Promise((resolve) => setImmediate(resolve))

describe("the Bun relay socket", () => {
  test("the first frame goes out at once; the rest of that turn of the event loop in one write, in order", async () => {
    const { log, socket } = batched()
    socket.send("D'accord, ")
    expect(log).toEqual(["write D'accord, "])
    socket.send("je regarde ")
    socket.send("demain.")
    expect(log).toEqual(["write D'accord, "])
    await nextTurn()
    expect(log).toEqual(["write D'accord, ", "write je regarde +demain."])
    // Nothing held any more: the next reply's first frame is not held either.
    socket.send("Bonjour")
    expect(log).toEqual(["write D'accord, ", "write je regarde +demain.", "write Bonjour"])
  })

  test("frames held when we close the socket are written before the close", () => {
    const { log, socket } = batched()
    socket.send("Désolé,")
    socket.send("{\"type\":\"end\"}")
    socket.close(1000, "")
    expect(log).toEqual(["write Désolé,", "write {\"type\":\"end\"}", "close 1000"])
  })

  test("an inbound frame is handled after the frames held before it are written", () => {
    const { ws, log, socket } = batched()
    socket.send("D'accord, ")
    socket.send("je regarde ")
    ws.data.flush?.()
    expect(log).toEqual(["write D'accord, ", "write je regarde "])
  })

  test("held frames of a socket the caller closed are let go; a frame Bun drops is counted", async () => {
    let dropped = 0
    const closedByCaller = batched(() => dropped++)
    closedByCaller.socket.send("D'accord, ")
    closedByCaller.socket.send("je regarde ")
    closedByCaller.ws.readyState = WebSocket.CLOSED
    await nextTurn()
    expect(closedByCaller.log).toEqual(["write D'accord, "])
    expect(dropped).toBe(0)

    const dropping = batched(() => dropped++)
    dropping.socket.send("D'accord, ")
    dropping.socket.send("je regarde ")
    dropping.dropFromNowOn()
    await nextTurn()
    expect(dropped).toBe(1)
  })
})
