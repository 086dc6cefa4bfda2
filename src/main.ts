import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import { processEnvironment, readConfig } from "./config.ts"
import { LoggingLive } from "./observability/Logging.ts"
import { loadServerAdapter } from "./server/adapters/index.ts"
import { appLive } from "./server/AppLayer.ts"

const environment = processEnvironment()

// Every variable is checked before anything is created: a bad one is one line and exit code 1.
const checked = Effect.runSync(Effect.either(readConfig).pipe(Effect.withConfigProvider(environment)))
if (Either.isLeft(checked)) {
  process.stderr.write(checked.left.report + "\n")
  process.exit(1)
}

/** Build the application once on this runtime's server, serve until SIGTERM/SIGINT, then drain calls and exit cleanly. */
const { ServerLive } = await loadServerAdapter()
const program = Layer.launch(appLive(ServerLive)).pipe(
  Effect.tapErrorCause((cause) => Cause.isInterruptedOnly(cause) ? Effect.void : Effect.logFatal("server stopped on an error", cause)),
  Effect.provide(LoggingLive),
  Effect.withConfigProvider(environment)
)

const fiber = Effect.runFork(program)
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => Effect.runFork(Fiber.interrupt(fiber)))
}
fiber.addObserver((exit) => process.exit(Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause) ? 0 : 1))
