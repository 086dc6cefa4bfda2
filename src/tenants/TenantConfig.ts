import * as Schema from "effect/Schema"

/** The tenant JSON of the public contract: what the admin API takes and what the demo file holds. */

export const E164 = Schema.String.pipe(
  Schema.pattern(/^\+[1-9]\d{6,14}$/, { message: () => "expected an E.164 number such as +33612345678" })
)

export const IsoDate = Schema.String.pipe(
  Schema.pattern(/^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/, { message: () => "expected a date YYYY-MM-DD" })
)

export const ClockTime = Schema.String.pipe(
  Schema.pattern(/^([01]\d|2[0-3]):[0-5]\d$/, { message: () => "expected a time HH:MM (24h)" })
)

/** The end of an opening range: a clock time, or "24:00" for a business open until midnight. */
export const RangeEnd = Schema.String.pipe(
  Schema.pattern(/^(([01]\d|2[0-3]):[0-5]\d|24:00)$/, { message: () => "expected a time HH:MM (24h), or 24:00" })
)

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5))
const clockOf = (minutes: number) =>
  `${String(Math.floor(minutes / 60)).padStart(2, "0")}:${String(minutes % 60).padStart(2, "0")}`

export const OpeningRange = Schema.Tuple(ClockTime, RangeEnd)
export type OpeningRange = typeof OpeningRange.Type

export const WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] as const
export type Weekday = (typeof WEEKDAYS)[number]

/** A day's ranges; one that ends before it starts is refused with the day and the range in the message. */
const dayRanges = (day: Weekday) =>
  Schema.optional(
    Schema.Array(OpeningRange).pipe(
      Schema.filter((ranges) =>
        ranges.flatMap(([from, to], index) =>
          minutesOf(from) < minutesOf(to)
            ? []
            : [{ path: [index], message: `${day}: the opening range ${from}–${to} must end after it starts` }]
        )
      )
    )
  )

const RawOpeningHours = Schema.Struct({
  monday: dayRanges("monday"),
  tuesday: dayRanges("tuesday"),
  wednesday: dayRanges("wednesday"),
  thursday: dayRanges("thursday"),
  friday: dayRanges("friday"),
  saturday: dayRanges("saturday"),
  sunday: dayRanges("sunday")
})

/** Sorted, duplicates gone, overlapping or touching ranges merged (09:00–12:00 + 12:00–14:00 = 09:00–14:00). */
export const normaliseRanges = (ranges: ReadonlyArray<OpeningRange>): Array<OpeningRange> => {
  const sorted = ranges.map(([from, to]) => [minutesOf(from), minutesOf(to)] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1])
  const merged: Array<[number, number]> = []
  for (const [from, to] of sorted) {
    const last = merged[merged.length - 1]
    if (last !== undefined && from <= last[1]) last[1] = Math.max(last[1], to)
    else merged.push([from, to])
  }
  return merged.map(([from, to]) => [clockOf(from), clockOf(to)] as const)
}

/** Opening hours as typed by the owner, normalised once at validation so every reader sees clean ranges. */
export const OpeningHours = Schema.transform(RawOpeningHours, Schema.typeSchema(RawOpeningHours), {
  strict: true,
  decode: (hours) =>
    Object.fromEntries(
      Object.entries(hours).map(([day, ranges]) => [day, ranges === undefined ? undefined : normaliseRanges(ranges)])
        .filter(([, ranges]) => ranges !== undefined)
    ) as typeof RawOpeningHours.Type,
  encode: (hours) => hours
})
export type OpeningHours = typeof OpeningHours.Type

export const TimeZone = Schema.String.pipe(
  Schema.filter((tz) => {
    try {
      new Intl.DateTimeFormat("en", { timeZone: tz })
      return true
    } catch {
      return "unknown IANA time zone"
    }
  })
)

export const Voice = Schema.Struct({
  ttsProvider: Schema.optionalWith(Schema.Literal("Amazon", "Google", "ElevenLabs"), { default: () => "Amazon" as const }),
  voice: Schema.optionalWith(Schema.NonEmptyTrimmedString, { default: () => "Lea-Neural" }),
  transcriptionProvider: Schema.optionalWith(Schema.Literal("Deepgram", "Google"), {
    default: () => "Deepgram" as const
  }),
  speechModel: Schema.optionalWith(Schema.NonEmptyTrimmedString, { default: () => "nova-2-general" })
})
export type Voice = typeof Voice.Type

export const ServiceType = Schema.String.pipe(
  Schema.pattern(/^[a-z0-9][a-z0-9-]{0,62}$/, { message: () => "expected a slug such as coupe-femme" })
)

export const Service = Schema.Struct({
  type: ServiceType,
  name: Schema.NonEmptyTrimmedString,
  durationMinutes: Schema.Int.pipe(Schema.between(5, 480))
})
export type Service = typeof Service.Type

export const KnowledgeEntry = Schema.Struct({
  title: Schema.NonEmptyTrimmedString.pipe(Schema.maxLength(200)),
  content: Schema.NonEmptyString.pipe(Schema.maxLength(200_000))
})
export type KnowledgeEntry = typeof KnowledgeEntry.Type

/** Booking policy; every field has a sensible default so the contract's JSON stays valid without it. */
export const BookingPolicy = Schema.Struct({
  minLeadMinutes: Schema.optionalWith(Schema.Int.pipe(Schema.between(0, 10_080)), { default: () => 60 }),
  slotStepMinutes: Schema.optionalWith(Schema.Int.pipe(Schema.between(5, 240)), { default: () => 15 }),
  horizonDays: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 365)), { default: () => 60 })
})
export type BookingPolicy = typeof BookingPolicy.Type

export const TenantConfig = Schema.Struct({
  name: Schema.NonEmptyTrimmedString.pipe(Schema.maxLength(120)),
  phoneNumbers: Schema.Array(E164).pipe(Schema.minItems(1)),
  timezone: Schema.optionalWith(TimeZone, { default: () => "Europe/Paris" }),
  language: Schema.optionalWith(Schema.String.pipe(Schema.pattern(/^[a-z]{2}-[A-Z]{2}$/)), {
    default: () => "fr-FR"
  }),
  greeting: Schema.NonEmptyTrimmedString.pipe(Schema.maxLength(500)),
  voice: Schema.optionalWith(Voice, { default: () => Schema.decodeSync(Voice)({}) }),
  transferNumber: Schema.optional(E164),
  openingHours: Schema.optionalWith(OpeningHours, { default: () => ({}) }),
  closures: Schema.optionalWith(Schema.Array(IsoDate), { default: () => [] }),
  services: Schema.optionalWith(Schema.Array(Service), { default: () => [] }),
  knowledge: Schema.optionalWith(Schema.Array(KnowledgeEntry), { default: () => [] }),
  booking: Schema.optionalWith(BookingPolicy, { default: () => Schema.decodeSync(BookingPolicy)({}) })
})
export type TenantConfig = typeof TenantConfig.Type
export type TenantConfigInput = typeof TenantConfig.Encoded

/** Strict decoding: an unknown field is an error that names it (the admin API answers 400 with it). */
export const decodeTenantConfig = Schema.decodeUnknown(TenantConfig, { onExcessProperty: "error", errors: "all" })
