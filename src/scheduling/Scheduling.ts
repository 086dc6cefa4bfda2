import * as Effect from "effect/Effect"
import { makeAppointmentsRepo } from "./AppointmentsRepo.ts"
import { makeAvailability } from "./availability.ts"
import { makeBooking } from "./booking.ts"
import { makeOwnerAppointments } from "./ownerAppointments.ts"

/**
 * Scheduling as the rest of the app sees it: the two tools (`checkAvailability`, `book`) and the owner's
 * appointments API (`listAppointments`, `cancel`). The parts live beside it: `AppointmentsRepo.ts` (the only
 * SQL), `availability.ts`, `booking.ts`, `ownerAppointments.ts`, `messages.ts` (French wording), `types.ts`.
 */

export * from "./types.ts"

export class Scheduling extends Effect.Service<Scheduling>()("app/Scheduling", {
  effect: Effect.gen(function*() {
    const repo = yield* makeAppointmentsRepo
    const availability = makeAvailability(repo)
    const book = makeBooking(repo, availability)
    const { cancel, listAppointments } = makeOwnerAppointments(repo)
    return { checkAvailability: availability.checkAvailability, book, listAppointments, cancel } as const
  }),
  dependencies: []
}) {}
