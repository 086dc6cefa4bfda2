// The owner API, with the session cookie. State changes carry the page header (the server's CSRF check).

export class ApiFailure extends Error {
  constructor(status, message) {
    super(message)
    this.status = status
  }
}

const FRIENDLY = {
  0: "Le serveur ne répond pas. Vérifiez votre connexion et réessayez.",
  401: "Votre session a expiré. Reconnectez-vous.",
  403: "Requête refusée. Rechargez la page et réessayez.",
  404: "Introuvable.",
  429: "Trop de tentatives. Réessayez dans quelques minutes.",
  500: "Une erreur est survenue sur le serveur. Réessayez plus tard."
}

let onSignedOut = () => {}
export const whenSignedOut = (callback) => { onSignedOut = callback }

/** `serverMessage`: show the server's own message (the session routes answer in French). */
export const api = async (path, { method = "GET", body, serverMessage = false } = {}) => {
  const headers = { accept: "application/json" }
  if (method !== "GET") headers["x-coccinelle-page"] = "1"
  if (body !== undefined) headers["content-type"] = "application/json"
  let response
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body)
    })
  } catch {
    throw new ApiFailure(0, FRIENDLY[0])
  }
  const payload = await response.json().catch(() => null)
  if (response.ok && payload?.success) return payload
  // A session that ended (expired, signed out elsewhere) sends the owner back to the sign-in form.
  if (response.status === 401 && path !== "/api/v1/session") onSignedOut()
  const message = payload?.error?.message
  throw new ApiFailure(response.status, serverMessage && message ? message : FRIENDLY[response.status] ?? FRIENDLY[500])
}

/** Query string from an object, skipping empty values. */
export const query = (params) => {
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== "") search.set(key, value)
  const text = search.toString()
  return text ? `?${text}` : ""
}
