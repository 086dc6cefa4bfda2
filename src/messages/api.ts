import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { badRequest, issuesOf, jsonBody, jsonRoute, notFound, requireTenant, searchParams } from "../api/http.ts"
import { limitParam, periodParams } from "../api/owner.ts"
import { decodeMessageCursor, Messages, MESSAGE_STATUSES, MessageStatus } from "./Messages.ts"

/** The owner's messages: `GET /api/v1/messages`, `PATCH /api/v1/messages/:id`. The tenant is the API key's owner. */

const isStatus = Schema.is(MessageStatus)

const listMessages = jsonRoute(Effect.gen(function*() {
  const tenant = yield* requireTenant
  const messages = yield* Messages
  const params = yield* searchParams
  const limit = yield* limitParam(params)
  const { from, to } = yield* periodParams(params, tenant)
  const status = params.get("status")
  if (status !== null && status !== "" && !isStatus(status)) {
    return yield* badRequest(`status: expected ${MESSAGE_STATUSES.join(" or ")}`)
  }
  const rawCursor = params.get("cursor")
  const cursor = rawCursor ? decodeMessageCursor(rawCursor) : Option.none()
  if (rawCursor && Option.isNone(cursor)) return yield* badRequest("cursor: not a cursor returned by this API")
  const page = yield* messages.list(tenant.id, {
    limit,
    from,
    to,
    status: status && isStatus(status) ? status : undefined,
    cursor: Option.getOrUndefined(cursor)
  })
  return HttpServerResponse.unsafeJson({ success: true, messages: page.messages, count: page.messages.length, nextCursor: page.nextCursor })
}))

const StatusPatch = Schema.Struct({ status: MessageStatus })

const updateMessage = jsonRoute(Effect.gen(function*() {
  const tenant = yield* requireTenant
  const messages = yield* Messages
  const { id } = yield* HttpRouter.params
  const body = yield* jsonBody
  const patch = yield* Schema.decodeUnknown(StatusPatch, { onExcessProperty: "error" })(body).pipe(
    Effect.mapError((error) => badRequest("expected {\"status\": \"new\" | \"handled\"}", issuesOf(error)))
  )
  const updated = yield* messages.setStatus(tenant.id, id ?? "", patch.status)
  if (Option.isNone(updated)) return yield* notFound("message")
  return HttpServerResponse.unsafeJson({ success: true, message: updated.value })
}))

export const messageRoutes = HttpRouter.empty.pipe(
  HttpRouter.get("/api/v1/messages", listMessages),
  HttpRouter.patch("/api/v1/messages/:id", updateMessage)
)
