/**
 * Everything the caller hears goes through one normaliser per reply: each model delta is pushed and what
 * comes back is spoken; `flush` returns what is still held at the end of the reply.
 */
export interface SpeechNormaliser {
  readonly push: (chunk: string) => string
  readonly flush: () => string
}

export const makeSpeechNormaliser = (): SpeechNormaliser => ({
  push: (chunk) => chunk,
  flush: () => ""
})
