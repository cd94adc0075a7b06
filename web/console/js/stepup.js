// What a page shows after it submits a change: done, failed, waiting for approval by
// others, or waiting for the user's own step-up (a TOTP code or a passkey). A page never
// says "saved" unless the activity completed.

import { h, fill, notice, errorText, busy, field } from "/console/js/ui.js";

/**
 * Renders the outcome of a submit `answer` into `out`. `onDone(activity)` runs when it
 * completed (at once, or after the step-up shown here).
 */
export function showOutcome(api, answer, out, { doneText = "Saved.", onDone } = {}) {
  const activity = answer.body && answer.body.activity;
  if (!answer.ok || !activity) {
    fill(out, notice("error", errorText(answer)));
    return;
  }
  switch (activity.status) {
    case "ACTIVITY_STATUS_COMPLETED":
      fill(out, notice("ok", doneText));
      if (onDone) onDone(activity);
      return;
    case "ACTIVITY_STATUS_CONSENSUS_NEEDED":
      fill(out, notice("warn", "Not saved yet: this change waits for approval by other members. ",
        h("a", { href: "/activities" }, "See it in Approvals"), ` (fingerprint ${activity.fingerprint}).`));
      return;
    case "ACTIVITY_STATUS_AUTHENTICATORS_NEEDED":
      fill(out, stepUp(api, activity, (done) => showOutcome(api, done, out, { doneText, onDone })));
      return;
    default:
      fill(out, notice("error", `Not saved: ${errorText(answer)}`));
  }
}

const METHOD_NAMES = {
  AUTHENTICATION_TYPE_TOTP: "a code from your authenticator app",
  AUTHENTICATION_TYPE_PASSKEY: "your passkey",
  AUTHENTICATION_TYPE_RECOVERY_CODE: "a recovery code",
  AUTHENTICATION_TYPE_EMAIL_OTP: "an email code",
  AUTHENTICATION_TYPE_SESSION: "this session",
};

/**
 * The step-up form for an activity in AUTHENTICATORS_NEEDED: the open steps (from
 * get_mfa_status) and the ways to prove one. `then(answer)` gets the approval's answer.
 */
export function stepUp(api, activity, then) {
  const box = h("div", { class: "notice warn stepup", role: "status" },
    h("p", {}, h("strong", {}, "Confirm it's you. "), "This change needs a second factor before it runs."));
  const steps = h("ul", { class: "steps" });
  const out = h("div", { "aria-live": "polite" });
  box.append(steps);
  api.query("get_mfa_status", { activityId: activity.id }).then((answer) => {
    const mine = (answer.body.mfaStatuses || []).filter((s) => s.userId === api.userId);
    for (const s of mine) {
      for (const [i, step] of (s.requiredMethods || []).entries()) {
        const kinds = (step.any || []).map((m) => METHOD_NAMES[m.type] || m.type.replace("AUTHENTICATION_TYPE_", "").toLowerCase());
        steps.append(h("li", {}, `Step ${i + 1}: ${kinds.join(" or ")}`));
      }
    }
  });
  const code = h("input", { inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]*", maxlength: "10", name: "totpCode" });
  const approveCode = h("button", { type: "submit" }, "Confirm with code");
  const form = h("form", { class: "inline", onsubmit: (e) => {
    e.preventDefault();
    busy(approveCode, out, async () => {
      const answer = await api.submit("approve_activity", { fingerprint: activity.fingerprint, totpCode: code.value.trim() });
      if (!answer.ok) return fill(out, notice("error", errorText(answer)));
      then(answer);
    });
  } }, field("Authenticator app code", code), approveCode);
  const passkey = h("button", { type: "button", class: "secondary", onclick: () => busy(passkey, out, async () => {
    const answer = await api.submitWithPasskey("approve_activity", { fingerprint: activity.fingerprint });
    if (!answer.ok) return fill(out, notice("error", errorText(answer)));
    then(answer);
  }) }, "Confirm with a passkey");
  box.append(form, h("p", {}, passkey), out);
  return box;
}
