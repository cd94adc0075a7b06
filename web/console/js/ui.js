// DOM helpers: elements are built with createElement and textContent only, never
// innerHTML, so server data can never become markup.

/** Creates `<tag>` with attributes (`on*` functions become listeners) and children. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let ids = 0;
/** A labelled form field: label, control, optional hint; returns the wrapper (the control is `.control`). */
export function field(label, control, hint) {
  const id = control.id || `f${++ids}`;
  control.id = id;
  const hintEl = hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  const wrap = h("div", { class: "field" }, h("label", { for: id }, label), control, hintEl);
  wrap.control = control;
  return wrap;
}

/** A status message region; `kind` is info, ok, warn or error. */
export function notice(kind, ...children) {
  return h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, ...children);
}

/** `{seconds, nanos}` (or ms) as a local date and time. */
export function when(ts) {
  if (!ts) return "";
  const ms = typeof ts === "object" ? Number(ts.seconds) * 1000 : Number(ts);
  return new Date(ms).toLocaleString();
}

/** ACTIVITY_STATUS_CONSENSUS_NEEDED -> "consensus needed". */
export const statusText = (s) => String(s || "").replace(/^ACTIVITY_STATUS_/, "").replace(/_/g, " ").toLowerCase();

/** A status badge. */
export const badge = (status) => h("span", { class: `badge ${String(status).replace(/^ACTIVITY_STATUS_/, "").toLowerCase()}` }, statusText(status));

/** The message of a failed answer. */
export function errorText(answer) {
  const a = answer.body && answer.body.activity;
  if (a && a.failure) return a.failure.message;
  return (answer.body && answer.body.message) || `the server answered ${answer.status}`;
}

/** Disables `button` while `fn` runs; errors land in `out` (an element). */
export async function busy(button, out, fn) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await fn();
  } catch (e) {
    if (out) fill(out, notice("error", e.message || String(e)));
    if (e && e.name === "SignedOut") location.assign("/signin");
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

/** A card section with a heading. */
export const card = (title, ...children) => h("section", { class: "card" }, h("h2", {}, title), ...children);

/** Downloads `text` as a file named `name`. */
export function download(name, text, type = "text/plain") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// Bidi and invisible direction controls (U+061C, U+200E/F, U+202A-E, U+2066-9): shown
// as escapes, so a name or intent cannot reorder the text around it.
const BIDI = /[\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;

/** `text` with bidi controls made visible (`\u202e`). */
export function visible(text) {
  return String(text).replace(BIDI, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** A user as people read it: the name, bidi-isolated and with controls made visible,
 * beside the user id (names are not unique; ids are). */
export function userLabel(name, id) {
  const label = h("span", { class: "user-label" });
  if (name) label.append(h("bdi", { class: "user-name" }, visible(name)), " ");
  label.append(h("code", { class: "mono user-id", title: "user id" }, `(${id})`));
  return label;
}
