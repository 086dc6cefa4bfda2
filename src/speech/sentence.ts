import { makeSpeechNormaliser } from "./normalise.ts"

/** A whole text at once (a fixed sentence, a tool's message): the same rules as the stream. */
export const spokenSentence = (text: string): string => {
  const normaliser = makeSpeechNormaliser()
  return normaliser.push(text) + normaliser.flush()
}
