// MFA set-up (/mfa/setup and /security-clearance/setup-2fa): a passkey first, an
// authenticator app as the fallback, then recovery codes shown once.

import { rememberCredential } from "/console/js/api.js";
import { createPasskey } from "/assets/webauthn.js";
import { h, field, fill, notice, busy, card, download } from "/console/js/ui.js";
import { showOutcome } from "/console/js/stepup.js";

/** Draws the set-up page. */
export async function render(main, api, { whoami } = {}) {
  // A user the rule requires to enroll cannot be under `off`; skip the question (it is
  // refused once the grace period is over).
  const required = whoami && whoami.ok && whoami.body.mfaEnrollment && whoami.body.mfaEnrollment.required;
  const [passkeys, totps, rule] = await Promise.all([
    api.query("get_authenticators", { userId: api.userId }),
    api.query("get_totp_authenticators", { userId: api.userId }),
    required ? { ok: false } : api.query("get_mfa_enforcement"),
  ]);
  if (rule.ok && rule.body.mfaEnforcement && rule.body.mfaEnforcement.value === "MFA_ENFORCEMENT_OFF") {
    main.append(notice("warn", h("strong", { id: "enrolment-disabled" }, "Enrolling new factors is disabled. "),
      "Your organization has turned MFA enrolment off (for incident response); the factors you already have keep working. ",
      "Ask your administrator when it will be back."));
    return;
  }
  const count = (passkeys.body.authenticators || []).length
    + (totps.body.totpAuthenticators || []).filter((t) => t.active).length;
  // Without WebAuthn (an old or locked-down browser, a page not served over HTTPS) the same
  // flow starts with the authenticator app at once instead of failing on the passkey.
  const webauthn = Boolean(window.PublicKeyCredential);
  const start = webauthn ? "Start with a passkey." : "This browser cannot create passkeys, so start with an authenticator app.";
  main.append(h("p", { class: "lead", id: "setup-lead" },
    "A second factor keeps your account safe even if someone learns how you sign in. ",
    count ? `You have ${count} factor${count === 1 ? "" : "s"} already; you can add another.` : start));
  const codes = h("div", { id: "recovery-step" });
  // The first factor's enrolment answers with the user's first recovery codes (shown once);
  // after that the step offers to create a new set.
  const next = (issued) => fill(codes, issued
    ? card("3. Recovery codes", h("p", {}, "Your first factor came with recovery codes: if you lose your passkey and your phone, one gets you in once."), showCodes(issued))
    : recoveryCodes(api));
  if (webauthn) main.append(passkeyCard(api, next), totpCard(api, next, { open: false, first: false }), codes);
  else main.append(totpCard(api, next, { open: true, first: true }), passkeyUnavailable(), codes);
  if (count) next(null);
}

function passkeyCard(api, next) {
  const name = h("input", { name: "passkeyName", value: "My passkey", maxlength: "64", required: true });
  const out = h("div", { "aria-live": "polite" });
  const button = h("button", { type: "submit", id: "add-passkey" }, "Create a passkey");
  const form = h("form", { onsubmit: (e) => {
    e.preventDefault();
    busy(button, out, async () => {
      const options = await api.query("get_passkey_registration_options", { userId: api.userId });
      if (!options.ok) throw new Error(options.body.message);
      const attestation = await createPasskey(options.body.publicKey);
      const answer = await api.submit("create_authenticators", { userId: api.userId, authenticators: [
        { authenticatorName: name.value.trim() || "Passkey", challenge: options.body.challenge, attestation }] });
      showOutcome(api, answer, out, { doneText: "Passkey added. You can sign in with it from now on.", onDone: (activity) => {
        rememberCredential(attestation.credentialId);
        next(issuedCodes(activity, "createAuthenticatorsResult"));
      } });
    });
  } }, field("Name", name, "So you can tell your passkeys apart, e.g. “Work laptop”."), button);
  return card("1. Passkey (recommended)",
    h("p", {}, "Use Face ID, Touch ID, Windows Hello, your phone or a security key. Nothing to type, and it cannot be phished."),
    form, out);
}

/** In place of the passkey card when the browser has no WebAuthn: why, and what to do instead. */
function passkeyUnavailable() {
  return card("Passkey", h("p", { id: "passkey-unavailable" },
    "Passkeys are not available in this browser. Set up an authenticator app above; you can add a passkey later from a browser that supports them."));
}

function totpCard(api, next, { open, first }) {
  const out = h("div", { "aria-live": "polite" });
  const start = h("button", { type: "button", class: "secondary", id: "start-totp", onclick: () => busy(start, out, async () => {
    const answer = await api.submit("create_totp_authenticator", { userId: api.userId, authenticatorName: "Authenticator app" });
    showOutcome(api, answer, out, { doneText: "", onDone: (activity) => fill(out, confirmTotp(api, activity.result.createTotpAuthenticatorResult, next)) });
  }) }, "Set up an authenticator app");
  return h("details", { class: "card", open, id: "totp-card" },
    h("summary", {}, first ? "1. An authenticator app" : "2. Or an authenticator app"),
    h("p", {}, first ? "Use an app such as 1Password, Google Authenticator or Aegis: it shows a new six-digit code every 30 seconds."
      : "If this device cannot use passkeys, use an app such as 1Password, Google Authenticator or Aegis."), start, out);
}

function confirmTotp(api, created, next) {
  const code = h("input", { name: "totpCode", inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6,8}", maxlength: "8", required: true });
  const out = h("div", { "aria-live": "polite" });
  const button = h("button", { type: "submit", id: "confirm-totp" }, "Confirm");
  const secret = created.secret.replace(/(.{4})/g, "$1 ").trim();
  return h("div", { class: "totp" },
    h("div", { class: "qr" }, h("img", { src: created.qrCodePng, alt: "QR code for your authenticator app", width: "200", height: "200" })),
    h("div", {},
      h("p", {}, "Scan the code with your app, or enter this key by hand:"),
      h("p", { class: "secret mono", id: "totp-secret", "data-secret": created.secret, "data-uri": created.otpauthUri }, secret),
      h("form", { onsubmit: (e) => {
        e.preventDefault();
        busy(button, out, async () => {
          const answer = await api.submit("verify_totp_authenticator",
            { userId: api.userId, totpAuthenticatorId: created.totpAuthenticatorId, totpCode: code.value.trim() });
          showOutcome(api, answer, out, { doneText: "Authenticator app confirmed.",
            onDone: (activity) => next(issuedCodes(activity, "verifyTotpAuthenticatorResult")) });
        });
      } }, field("First code from the app", code), button),
      out));
}

/** The recovery codes a first factor's enrolment issued, if it did. */
function issuedCodes(activity, resultKey) {
  const result = activity && activity.result && activity.result[resultKey];
  return result && Array.isArray(result.recoveryCodes) ? result.recoveryCodes : null;
}

/** Recovery codes: generated on request, shown once, copy and download, "I have saved these". */
export function recoveryCodes(api, { onFinish } = {}) {
  const out = h("div", { "aria-live": "polite" });
  const button = h("button", { type: "button", id: "create-recovery-codes", onclick: () => busy(button, out, async () => {
    const answer = await api.submit("create_recovery_codes", { userId: api.userId });
    showOutcome(api, answer, out, { doneText: "", onDone: (activity) => {
      button.remove();
      fill(out, showCodes(activity.result.createRecoveryCodesResult.recoveryCodes, onFinish));
    } });
  }) }, "Create recovery codes");
  return card("3. Recovery codes",
    h("p", {}, "If you lose your passkey and your phone, a recovery code gets you in once. Creating new codes replaces any old ones."),
    button, out);
}

function showCodes(codes, onFinish) {
  const text = codes.join("\n") + "\n";
  const list = h("ol", { class: "codes mono", id: "recovery-codes" }, codes.map((c) => h("li", {}, c)));
  const copied = h("span", { class: "muted", "aria-live": "polite" });
  const saved = h("input", { type: "checkbox", id: "codes-saved" });
  const done = h("button", { type: "button", id: "codes-done", disabled: true, onclick: () => {
    list.remove();
    if (onFinish) onFinish();
    else location.assign("/admin/security");
  } }, "Done");
  saved.addEventListener("change", () => { done.disabled = !saved.checked; });
  return h("div", {},
    notice("warn", h("strong", {}, "Save these now. "), "They are shown only once; twofold keeps only a hash of each."),
    list,
    h("p", { class: "actions" },
      h("button", { type: "button", class: "secondary", onclick: async () => {
        await navigator.clipboard.writeText(text).then(() => { copied.textContent = "Copied."; }, () => { copied.textContent = "Copy failed; select the codes instead."; });
      } }, "Copy"),
      h("button", { type: "button", class: "secondary", onclick: () => download("twofold-recovery-codes.txt", text) }, "Download"),
      copied),
    h("p", {}, h("label", { class: "check" }, saved, " I have saved these codes somewhere safe")),
    done);
}
