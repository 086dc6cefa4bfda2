// DOM helpers. Every string becomes a text node or an attribute value: caller text is never parsed as markup.

/** h("p", { class: "x", onclick: f }, "text", child) */
export const h = (tag, attributes = {}, ...children) => {
  const element = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value)
    else element.setAttribute(name, value === true ? "" : String(value))
  }
  append(element, children)
  return element
}

export const append = (element, children) => {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue
    element.append(child instanceof Node ? child : String(child))
  }
  return element
}

export const replaceChildren = (element, ...children) => {
  element.replaceChildren()
  return append(element, children)
}

/** Reads a message to screen readers without moving focus. */
export const announce = (text) => {
  const announcer = document.getElementById("announcer")
  announcer.textContent = ""
  // A fresh text node after clearing, so the same message twice is announced twice.
  requestAnimationFrame(() => { announcer.textContent = text })
}

/** A view's title: the page title follows it and focus moves there, so a screen reader starts at the top. */
export const heading = (text) => {
  document.title = `${text} — Coccinelle`
  return h("h1", { tabindex: "-1", id: "view-title" }, text)
}

export const focusTitle = () => document.getElementById("view-title")?.focus({ preventScroll: false })

export const errorBox = (message) => h("p", { class: "error", role: "alert" }, message)
