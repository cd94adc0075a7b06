// Email-code sign-in (issue 7, enclave OTP). Kept apart so the rest of the console does
// not depend on it: when the server does not offer one-time codes (query/get_enclave_keys
// answers 404) the section says so and offers nothing.
//
// Still to wire (see docs/CONSOLE.md): init_otp must be stamped by a key allowed to run it
// (an app backend), which a signed-out browser does not hold, and the HPKE sealing of the
// code (DHKEM(P-256, HKDF-SHA256) + AES-256-GCM, AAD = sender || target public key) is not
// written yet. The section therefore probes the server and explains, rather than pretending.

import { h, notice } from "/console/js/ui.js";

/** The email-code card on the sign-in page. */
export function otpSignIn() {
  const status = h("div", { "aria-live": "polite" }, h("p", { class: "muted" }, "Checking whether this server offers email codes…"));
  const box = h("details", { class: "card", id: "otp-signin" }, h("summary", {}, "Sign in with an email code"), status);
  probe().then((available) => {
    status.replaceChildren(available
      ? notice("info", "This server has one-time codes, but the console's email-code sign-in is not wired yet. Use a passkey, or ask your administrator.")
      : notice("info", "Email codes are not available on this server."));
  });
  return box;
}

/** Whether the server answers query/get_enclave_keys (an unknown endpoint answers 404 before any stamp check). */
async function probe() {
  try {
    const resp = await fetch("/public/v1/query/get_enclave_keys", { method: "POST", body: "{}", credentials: "omit" });
    return resp.status !== 404;
  } catch {
    return false;
  }
}
