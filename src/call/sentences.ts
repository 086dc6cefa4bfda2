import * as Duration from "effect/Duration"

/** Every fixed French sentence the agent says during a call, in one place. */
export const SAY = {
  technicalIssue: "Excusez-moi, je rencontre un petit souci technique. Pouvez-vous répéter, s'il vous plaît ?",
  notConfigured: "Je suis désolée, je ne peux pas vous répondre : ce serveur n'a pas de clé d'accès au modèle de langage.",
  filler: "Un instant, s'il vous plaît. ",
  tooManySteps: "Excusez-moi, je n'arrive pas à finaliser cela. Voulez-vous que je vous passe un membre de l'équipe ?",
  handoff: "Je vous mets en relation avec un membre de l'équipe, ne quittez pas.",
  noTransfer:
    "Personne ne peut prendre l'appel pour le moment. Je peux noter un message : quels sont votre nom et votre demande ?",
  goodbye: "Merci de votre appel, au revoir.",
  /** The greeting of the session reopened when nobody answered a transfer (the caller is still on the line). */
  transferUnanswered: "Personne n'a pu répondre pour le moment. Je peux prendre un message : quel est votre nom ?",
  keepsFailing: "Je suis désolée, je rencontre un problème technique et je ne peux pas vous aider correctement.",
  goodbyeAfterFailure: "Merci de rappeler un peu plus tard. Au revoir.",
  maintenanceTransfer: "Excusez-moi, une courte maintenance m'oblige à vous passer un membre de l'équipe. Ne quittez pas.",
  maintenanceHangup: "Excusez-moi, une courte maintenance m'oblige à raccrocher. Merci de rappeler dans quelques minutes.",
  unknownCall: "Excusez-moi, je ne parviens pas à retrouver votre appel. Merci de rappeler dans un instant."
} as const


/** Rough time for TTS to say a sentence; a ceiling when speaker events do not arrive. */
export const speechEstimate = (sentence: string) => Duration.millis(Math.min(10_000, 1_200 + sentence.length * 70))
