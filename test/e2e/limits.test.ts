import { expect, test } from "../support/test.ts"
import { MAX_FRAME_BYTES, MAX_REQUEST_BYTES } from "../../src/server/edge.ts"
import { AUTH_TOKEN, BUSINESS_NUMBER, PUBLIC_URL } from "../support/appServer.ts"
import { appWithFakeClaude } from "../support/fakeClaudeApp.ts"
import { sayText } from "../support/fakeAnthropic.ts"
import { find, parametersOf, parseTwiml, RelayClient, signedPost, voiceForm } from "../support/twilioClient.ts"

/**
 * The server's limits, whichever runtime serves it: Bun enforces them natively, the Deno adapter by hand
 * (issue 9). Each refusal has a control beside it just under the limit, so none passes vacuously.
 */

const served = appWithFakeClaude({ script: () => sayText("Bien reçu.") })

const KIB = 1024

const postBody = (body: BodyInit, headers: Record<string, string> = {}) =>
  fetch(`${served.app.baseUrl}/webhooks/twilio/status`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body
  })

test("a webhook body over the limit is refused with 413 before it is read; one under the limit reaches the route", async () => {
  const tooLarge = await postBody("a=" + "x".repeat(MAX_REQUEST_BYTES + 40 * KIB))
  expect(tooLarge.status).toBe(413)
  await tooLarge.body?.cancel()
  // Unsigned, so the route itself answers 403: the request got past the size check.
  const underLimit = await postBody("a=" + "x".repeat(MAX_REQUEST_BYTES - 40 * KIB))
  expect(underLimit.status).toBe(403)
  await underLimit.body?.cancel()
})

test("a chunked webhook body (no Content-Length) over the limit is refused too", async () => {
  const chunk = new TextEncoder().encode("x".repeat(64 * KIB))
  const chunks = (count: number) =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < count; i++) controller.enqueue(chunk)
        controller.close()
      }
    })
  const over = Math.ceil(MAX_REQUEST_BYTES / chunk.byteLength) + 1
  const tooLarge = await postBody(chunks(over)).catch((error: unknown) => error)
  // A server may answer 413 or cut the upload; either way nothing past the limit is handled.
  if (tooLarge instanceof Response) {
    expect(tooLarge.status).toBe(413)
    await tooLarge.body?.cancel()
  } else {
    expect(tooLarge).toBeInstanceOf(Error)
  }
  const underLimit = await postBody(chunks(over - 2))
  expect(underLimit.status).toBe(403)
  await underLimit.body?.cancel()
})

const openCall = async (callSid: string) => {
  const res = await signedPost(served.app.baseUrl, PUBLIC_URL, "/webhooks/twilio/voice", voiceForm({ callSid, from: "+33612345678", to: BUSINESS_NUMBER }), AUTH_TOKEN)
  const ws = await RelayClient.connect(served.app.wsUrl, { authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL })
  ws.setup({ callSid, from: "+33612345678", to: BUSINESS_NUMBER, customParameters: parametersOf(find(parseTwiml(res.text), "ConversationRelay")!) })
  return ws
}

test("a relay frame over the frame limit closes the socket with 1009; one just under it is taken and the call goes on", async () => {
  const ws = await openCall("CA" + "9".repeat(32))
  // An info frame Twilio could send (unknown names are ignored), padded to just under the limit.
  ws.info("padding", "x".repeat(MAX_FRAME_BYTES - 1024))
  ws.prompt("Bonjour")
  const reply = await ws.textUntilLast()
  expect(reply.text).toContain("Bien reçu.")
  ws.info("padding", "x".repeat(MAX_FRAME_BYTES + 1024))
  const closed = await ws.closed
  expect(closed.code).toBe(1009)
})
