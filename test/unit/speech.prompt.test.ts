import { describe, expect, test } from "../support/test.ts"
import { systemPrompt } from "../../src/llm/prompt.ts"
import { openingHoursSentence } from "../../src/scheduling/french.ts"
import type { Tenant } from "../../src/tenants/Tenant.ts"
import { salonConfig } from "../support/salon.ts"

/** The salon (Paris), closed exceptionally on Friday 25 December. */
const tenant: Tenant = { id: "salon", config: salonConfig({ closures: ["2026-12-25"], transferNumber: "+33612345678" }) }
const blocks = (nowIso: string) => {
  const [stable, dated] = systemPrompt(tenant, Date.parse(nowIso))
  return { stable: stable!, dated: dated! }
}

describe("the system prompt's date block", () => {
  test("a call across midnight: the date and the calendar move on, the cached block does not change a byte", () => {
    const before = blocks("2026-11-30T22:50:00Z") // Monday 23:50 in Paris
    const after = blocks("2026-11-30T23:10:00Z") // Tuesday 00:10 in Paris
    expect(after.stable.text).toBe(before.stable.text)
    expect(after.stable.cache_control).toEqual({ type: "ephemeral" })
    expect(before.dated.cache_control).toBeUndefined()
    expect(before.dated.text).toContain("Nous sommes le lundi 30 novembre 2026, il est 23 heures 50")
    expect(before.dated.text).toContain("- aujourd'hui lundi 30 novembre (2026-11-30, fermé)")
    expect(before.dated.text).toContain("- demain mardi 1er décembre (2026-12-01)")
    expect(after.dated.text).toContain("Nous sommes le mardi 1er décembre 2026, il est minuit 10")
    expect(after.dated.text).toContain("date ISO 2026-12-01")
    expect(after.dated.text).toContain("- aujourd'hui mardi 1er décembre (2026-12-01)")
    expect(after.dated.text).toContain("- demain mercredi 2 décembre (2026-12-02)")
  })

  test("nothing of the time leaks into the cached block", () => {
    const { stable } = blocks("2026-11-30T23:10:00Z")
    expect(stable.text).not.toContain("2026-12-01")
    expect(stable.text).not.toContain("Nous sommes")
  })

  test("a calendar of today and the next 14 days, weekday ↔ date, closed days marked, for « dans quinze jours »", () => {
    const { dated } = blocks("2026-12-15T09:00:00Z") // Tuesday 15 December, 10:00 in Paris
    const lines = dated.text.split("\n").filter((line) => line.startsWith("- "))
    expect(lines).toHaveLength(15)
    expect(lines[0]).toBe("- aujourd'hui mardi 15 décembre (2026-12-15)")
    expect(lines[7]).toBe("- mardi 22 décembre (2026-12-22)")
    expect(lines[10]).toBe("- vendredi 25 décembre (2026-12-25, fermeture exceptionnelle)")
    expect(lines[14]).toBe("- mardi 29 décembre (2026-12-29)") // « dans quinze jours »
    expect(lines[13]).toBe("- lundi 28 décembre (2026-12-28, fermé)")
  })

  test("the calendar crosses the new year with the year said", () => {
    const { dated } = blocks("2026-12-28T09:00:00Z")
    expect(dated.text).toContain("- vendredi 1er janvier 2027 (2027-01-01, fermé)")
  })

  test("the rule: confirm the full date with its weekday before booking", () => {
    const { dated } = blocks("2026-12-15T09:00:00Z")
    expect(dated.text).toContain("Avant de réserver, confirmez avec le client la date complète avec son jour de la semaine")
    expect(dated.text).toContain("« mardi prochain »")
  })
})

describe("the system prompt's stable block", () => {
  test("opening hours and closures as a person says them; spoken forms; vouvoiement", () => {
    const { stable } = blocks("2026-12-15T09:00:00Z")
    expect(stable.text).toContain(
      "Horaires d'ouverture : le mardi et le mercredi, de 9 heures à midi et de 14 heures à 19 heures ; le samedi, de 9 heures à 17 heures ; fermé le lundi, le jeudi, le vendredi et le dimanche."
    )
    expect(stable.text).toContain("Fermetures exceptionnelles : le vendredi 25 décembre 2026.")
    expect(stable.text).toContain("Coupe femme (code coupe-femme, 45 minutes)")
    expect(stable.text).toContain("Vouvoyez toujours")
    expect(stable.text).not.toMatch(/\d h \d\d/)
    expect(stable.text).not.toMatch(/(?<![\p{L}'])(tu|toi|ton|ta|tes)(?![\p{L}])/iu)
  })

  test("opening hours: consecutive days with the same hours are grouped", () => {
    const full: ReadonlyArray<readonly [string, string]> = [["09:00", "12:00"], ["14:00", "19:00"]]
    expect(openingHoursSentence({ tuesday: full, wednesday: full, thursday: full, friday: [["09:00", "19:00"]] })).toBe(
      "du mardi au jeudi, de 9 heures à midi et de 14 heures à 19 heures ; le vendredi, de 9 heures à 19 heures ; fermé le lundi, le samedi et le dimanche"
    )
    expect(openingHoursSentence({ monday: [["18:00", "24:00"]] })).toBe(
      "le lundi, de 18 heures à minuit ; fermé le mardi, le mercredi, le jeudi, le vendredi, le samedi et le dimanche"
    )
    expect(openingHoursSentence({})).toBe("aucun horaire d'ouverture n'est renseigné")
  })
})
