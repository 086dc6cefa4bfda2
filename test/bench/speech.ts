/**
 * What the speech normaliser adds to each token on its way to the caller: CPU time of `push` per model token
 * (p50/p99), of the first `push` of a reply (the CPU it adds to the first token), how many tokens go by before
 * the first text goes out (0 unless the reply opens with markdown, a number or an abbreviation), and how many
 * characters it holds back at a time (a number group, a word that may still become an abbreviation).
 *
 *   bun test/bench/speech.ts [replies=2000]
 *
 * Replies are realistic French answers (plain, and messy: markdown, emoji, times, phone numbers, prices, URLs),
 * cut into model-like tokens of 1 to 6 characters by a seeded generator. Prints numbers; asserts nothing.
 */
import { makeSpeechNormaliser } from "../../src/speech/normalise.ts"

const REPLIES = Number(process.argv[2] ?? 2000)

const SAMPLES = [
  "Très bien, je regarde les disponibilités pour une coupe femme mardi prochain.",
  "Nous avons de la place le mardi 1er décembre à 9 heures 30, à 10 heures ou à 14 heures. Lequel vous convient ?",
  "**Parfait !** 😊 Votre RDV est le mardi 1 décembre à 9h30. On vous rappelle au +33611223344. Tarif : 89,50 €. Infos : https://salon.fr",
  "## Horaires\n- Mardi : 9h-12h et 14h-19h\n- Samedi : 9h-17h\nFermé le dimanche et le lundi.",
  "Le salon se trouve au 12 bd Voltaire, à 2 km de la gare. Écrivez à contact@salon-lumiere.fr si besoin, M. Dupont.",
  "C'est noté : rendez-vous confirmé pour une coupe homme le samedi 5 décembre à midi, au nom de Jean Martin."
]

let seed = 42
const random = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed / 0x7fffffff
}
const tokens = (text: string): Array<string> => {
  const out: Array<string> = []
  for (let i = 0; i < text.length;) {
    const size = 1 + Math.floor(random() * 6)
    out.push(text.slice(i, i + size))
    i += size
  }
  return out
}

const percentile = (values: Array<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0
}
const us = (ns: number) => `${(ns / 1000).toFixed(1)} µs`

const replies = Array.from({ length: REPLIES }, (_, i) => tokens(SAMPLES[i % SAMPLES.length]!))

// Warm-up: let the JIT compile the rules before measuring.
for (const reply of replies.slice(0, 200)) {
  const n = makeSpeechNormaliser()
  for (const token of reply) n.push(token)
  n.flush()
}

const perToken: Array<number> = []
const firstPush: Array<number> = []
const heldChars: Array<number> = []
/** Pushes before the first text goes out (0: the first token itself is said at once). */
const pushesBeforeFirstText: Array<number> = []
let pushed = 0
for (const reply of replies) {
  const n = makeSpeechNormaliser()
  let inChars = 0
  let outChars = 0
  let firstSaid = -1
  reply.forEach((token, i) => {
    const start = Bun.nanoseconds()
    const said = n.push(token)
    const elapsed = Bun.nanoseconds() - start
    perToken.push(elapsed)
    if (i === 0) firstPush.push(elapsed)
    inChars += token.length
    outChars += said.length
    if (firstSaid === -1 && said !== "") firstSaid = i
    heldChars.push(Math.max(0, inChars - outChars))
    pushed++
  })
  n.flush()
  pushesBeforeFirstText.push(firstSaid === -1 ? reply.length : firstSaid)
}

process.stdout.write(`speech normaliser: ${REPLIES} replies, ${pushed} tokens\n`)
process.stdout.write(`  push per token      p50 ${us(percentile(perToken, 50))}  p99 ${us(percentile(perToken, 99))}  max ${us(percentile(perToken, 100))}\n`)
process.stdout.write(`  first push of reply p50 ${us(percentile(firstPush, 50))}  p99 ${us(percentile(firstPush, 99))}  (target: p99 ≤ 1 ms)\n`)
process.stdout.write(
  `  tokens waited before the first text p50 ${percentile(pushesBeforeFirstText, 50)}  p99 ${percentile(pushesBeforeFirstText, 99)} (a word waits only while it may still become an abbreviation or an address)\n`
)
process.stdout.write(`  characters held     p50 ${percentile(heldChars, 50)}  p99 ${percentile(heldChars, 99)}  max ${percentile(heldChars, 100)} (approximate: rewriting changes lengths)\n`)
