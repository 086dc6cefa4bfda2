// The TwiML builder alone: the package's root module loads its whole REST client (~3 MB of heap).
import VoiceResponse from "twilio/lib/twiml/VoiceResponse.js"
import type { Tenant } from "../../tenants/Tenant.ts"

/** Every TwiML document we answer, built with the `twilio` package (never by hand). */

export const RELAY_PATH = "/webhooks/twilio/conversation"
export const CONNECT_ACTION_PATH = "/webhooks/twilio/connect-action"
export const DIAL_RESULT_PATH = "/webhooks/twilio/dial-result"

// <Say> runs outside ConversationRelay, so it takes Twilio's Polly form of the voice.
const SAY_ATTRIBUTES = { language: "fr-FR", voice: "Polly.Lea-Neural" } as const
const DIAL_TIMEOUT_SECONDS = 25

export interface RelayTwimlInput {
  readonly publicUrl: string
  readonly publicWsUrl: string
  readonly tenant: Tenant
  readonly callId: string
}

// A UUID never contains it, and it needs no XML escaping.
const CALL_ID_SLOT = "CALL_ID_SLOT"
/** Built once per tenant configuration (a cached tenant keeps its config object until it changes). */
const skeletons = new WeakMap<object, { readonly key: string; readonly parts: readonly [string, string] }>()

/** `<Connect action>` around `<ConversationRelay>`: the answer to an incoming call. */
export const relayTwiml = (input: RelayTwimlInput): string => {
  const key = input.publicUrl + " " + input.publicWsUrl
  let skeleton = skeletons.get(input.tenant.config)
  if (skeleton === undefined || skeleton.key !== key) {
    const [before, after] = buildRelayTwiml({ ...input, callId: CALL_ID_SLOT }).split(CALL_ID_SLOT) as [string, string]
    skeleton = { key, parts: [before, after] }
    skeletons.set(input.tenant.config, skeleton)
  }
  return skeleton.parts[0] + input.callId + skeleton.parts[1]
}

/** What a resumed call hears instead of the business's greeting: the conversation simply goes on. */
export const RESUME_BRIDGE = "Je vous écoute."

/**
 * A new `<Connect><ConversationRelay>` for a call moving to a new relay session (a deploy, a dropped socket):
 * the same call id parameter, and a short bridge instead of the greeting.
 */
export const resumeTwiml = (input: RelayTwimlInput, greeting: string = RESUME_BRIDGE): string => buildRelayTwiml({ ...input, greeting })

const buildRelayTwiml = ({ callId, greeting, publicUrl, publicWsUrl, tenant }: RelayTwimlInput & { readonly greeting?: string }): string => {
  const response = new VoiceResponse()
  const connect = response.connect({ action: publicUrl + CONNECT_ACTION_PATH, method: "POST" })
  const { voice } = tenant.config
  const relay = connect.conversationRelay({
    url: publicWsUrl + RELAY_PATH,
    language: tenant.config.language,
    welcomeGreeting: greeting ?? tenant.config.greeting,
    welcomeGreetingInterruptible: "any",
    ttsProvider: voice.ttsProvider,
    voice: voice.voice,
    transcriptionProvider: voice.transcriptionProvider,
    speechModel: voice.speechModel,
    dtmfDetection: true,
    interruptible: "any",
    interruptSensitivity: "medium",
    // twilio-node types this as boolean; the spec is a string enum (see conversationrelay.md §7.2).
    reportInputDuringAgentSpeech: "any" as unknown as boolean,
    // agentSpeaking on/off lets a handoff sentence finish before the session ends.
    events: "speaker-events"
  } as Parameters<typeof connect.conversationRelay>[0])
  relay.parameter({ name: "callId", value: callId })
  return response.toString()
}

/** A number nobody owns: a short French message and a hang-up, never another tenant's agent. */
export const unknownNumberTwiml = (): string => {
  const response = new VoiceResponse()
  response.say(SAY_ATTRIBUTES, "Bonjour. Ce numéro n'est pas encore en service. Merci de votre appel, au revoir.")
  response.hangup()
  return response.toString()
}

export const hangupTwiml = (): string => {
  const response = new VoiceResponse()
  response.hangup()
  return response.toString()
}

export const sayThenHangupTwiml = (sentence: string): string => {
  const response = new VoiceResponse()
  response.say(SAY_ATTRIBUTES, sentence)
  response.hangup()
  return response.toString()
}

/**
 * Hands the caller to the business. No callerId: Twilio then presents the caller's own number,
 * so the business sees who is calling. The dial result decides whether a fallback is spoken.
 */
export const dialTwiml = (input: { readonly transferNumber: string; readonly publicUrl: string; readonly apology?: boolean }) => {
  const response = new VoiceResponse()
  if (input.apology) {
    response.say(SAY_ATTRIBUTES, "Excusez-moi, un problème technique interrompt notre échange. Je vous passe un membre de l'équipe.")
  }
  const dial = response.dial({ timeout: DIAL_TIMEOUT_SECONDS, action: input.publicUrl + DIAL_RESULT_PATH, method: "POST" })
  dial.number(input.transferNumber)
  return response.toString()
}

export const NOBODY_ANSWERED =
  "Nous sommes désolés, personne n'est disponible pour le moment. Merci de rappeler un peu plus tard, ou de laisser votre demande lors d'un prochain appel. Au revoir."
