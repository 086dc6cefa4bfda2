import { startApp, type TestApp } from "./appServer.ts"
import { type FakeAnthropic, type FakeAnthropicOptions, startFakeAnthropic } from "./fakeAnthropic.ts"
import { afterAll, beforeAll } from "./test.ts"

/**
 * The app on 127.0.0.1 with a loopback fake Claude as its model: both started before the file's tests and
 * stopped after. Read `served.app` and `served.fake` inside tests (they exist once `beforeAll` has run).
 */
export const appWithFakeClaude = (
  fakeOptions: FakeAnthropicOptions,
  options: { readonly env?: Record<string, string>; readonly timeoutMs?: number } = {}
) => {
  const served = {} as { fake: FakeAnthropic; app: TestApp }
  beforeAll(async () => {
    served.fake = await startFakeAnthropic(fakeOptions)
    served.app = await startApp({ ANTHROPIC_BASE_URL: served.fake.url, ...options.env })
  }, options.timeoutMs)
  afterAll(async () => {
    await served.app?.stop()
    await served.fake?.stop()
  })
  return served
}
