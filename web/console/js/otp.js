// Email-code sign-in (issue 9 item 1) through the organization's auth proxy: the browser
// holds no credential yet, so the server runs INIT_OTP / VERIFY_OTP / OTP_LOGIN as the
// organization's confined service user (see docs/API.md, "Auth proxy"). The code never
// leaves this page in the clear: it is HPKE-sealed, with the public half of a fresh
// non-extractable key, to the enclave's target key (whose signature is checked against
// the pinned enclave key). The verification token binds that key, which signs the login
// and becomes the session key kept in IndexedDB.

import { h, field, notice, fill, busy } from "/console/js/ui.js";
import { compressedHex, logInWithEmailCode, newSessionKey, proxyPost, signUpWithEmailCode } from "/console/js/api.js";
import { encryptOtpCodeToBundle } from "/console/js/hpke.js";

/** The email-code card on the sign-in page; `orgId()` reads the organization field, `done()` leaves the page. */
export function otpSignIn(orgId, done) {
  const out = h("div", { "aria-live": "polite" });
  const email = h("input", { type: "email", name: "email", required: true, autocomplete: "email" });
  const sendButton = h("button", { type: "submit", class: "secondary", id: "otp-send" }, "Email me a code");
  const code = h("input", { name: "otpCode", required: true, autocomplete: "one-time-code", spellcheck: "false",
    inputmode: "text", class: "mono", id: "otp-code" });
  const verifyButton = h("button", { type: "submit", id: "otp-verify" }, "Sign in");
  const codeForm = h("form", { hidden: true }, field("Code from the email", code, "It expires in a few minutes."), verifyButton);
  let flow = null;

  const sendForm = h("form", { onsubmit: (e) => {
    e.preventDefault();
    busy(sendButton, out, async () => {
      const organizationId = orgId();
      const pinned = await enclaveKey();
      const started = await proxyPost("otp_init", { organizationId, contact: email.value.trim() });
      if (!started.ok) throw new Error(started.body.message || `could not send a code (${started.status})`);
      flow = { organizationId, pinned, email: email.value.trim(), ...started.body };
      codeForm.hidden = false;
      fill(out, notice("info", `We sent a code to ${flow.email}.`));
      code.focus();
    });
  } }, field("Email", email), sendButton);

  codeForm.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(verifyButton, out, async () => {
      if (!flow) throw new Error("Ask for a code first.");
      const pair = await newSessionKey();
      const publicKeyHex = await compressedHex(pair.publicKey);
      const bundle = await encryptOtpCodeToBundle(code.value.trim(), flow.otpEncryptionTargetBundle, publicKeyHex, flow.pinned);
      const verified = await proxyPost("otp_verify", { organizationId: flow.organizationId, otpId: flow.otpId, encryptedOtpBundle: bundle });
      if (!verified.ok) throw new Error(verified.body.message || `the code was not accepted (${verified.status})`);
      const token = verified.body.verificationToken;
      try {
        await logInWithEmailCode(flow.organizationId, pair, publicKeyHex, token);
      } catch (err) {
        if (err.status !== 404) throw err;
        // No account with this email: offer sign-up (the server refuses it unless the organization allows it).
        const signUp = h("button", { type: "button", id: "otp-signup" }, "Create an account");
        signUp.addEventListener("click", () => busy(signUp, out, async () => {
          await signUpWithEmailCode(flow.organizationId, pair, publicKeyHex, token, flow.email);
          done();
        }));
        fill(out, notice("info", "No account here uses this email yet. Create one with it?"), signUp);
        return;
      }
      code.value = "";
      done();
    });
  });

  return h("details", { class: "card", id: "otp-signin" }, h("summary", {}, "Sign in with an email code"),
    notice("info", "For organizations that turned on email-code sign-in: enter the organization ID above and your email."),
    sendForm, codeForm, out);
}

/** The enclave's signing key, which the target bundle's signature is checked against. */
async function enclaveKey() {
  const resp = await fetch("/auth-proxy/v1/enclave_keys", { credentials: "omit", cache: "no-store" });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok || !body.signingPublicKey) throw new Error(body.message || "Email codes are not available on this server.");
  return body.signingPublicKey;
}
