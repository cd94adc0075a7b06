// Tenant MFA enforcement (issue 8) as the user sees it: a yellow banner during the grace
// period, and after the deadline every page sends the user to set-up. Reads only
// documented signals — get_whoami's `mfaEnrollment`, the `X-Twofold-MFA-Enrollment-Due`
// header and a 403 whose details[0].reason is MFA_ENROLLMENT_REQUIRED — so on a server
// without enforcement it does nothing.

import { onAnswer } from "/console/js/api.js";
import { h, fill } from "/console/js/ui.js";

/** The page users are sent to once enrolment is overdue. */
export const SETUP_PATH = "/security-clearance/setup-2fa";
const SETUP_PAGES = [SETUP_PATH, "/mfa/setup", "/signin"];

function banner(deadline) {
  const date = new Date(deadline);
  fill(document.getElementById("banner"), h("div", { class: "banner", role: "status", id: "mfa-grace-banner" },
    h("strong", {}, "Two-factor authentication will be required. "),
    "Your organization requires a second factor from ", h("time", { datetime: deadline }, date.toLocaleString()), ". ",
    h("a", { href: "/mfa/setup" }, "Set it up now")));
}

function overdue(path) {
  if (!SETUP_PAGES.includes(path)) {
    location.replace(SETUP_PATH);
    return true;
  }
  fill(document.getElementById("banner"), h("div", { class: "banner overdue", role: "alert", id: "mfa-overdue-banner" },
    h("strong", {}, "Two-factor authentication is now required. "),
    "Set up a passkey or an authenticator app to continue using twofold."));
  return false;
}

/**
 * Watches every answer for enforcement signals, given the page's get_whoami answer.
 * Returns true when the page is being left for set-up.
 */
export function watchEnforcement(whoami, path) {
  onAnswer((answer) => {
    const reason = answer.status === 403 && answer.body.details && answer.body.details[0] && answer.body.details[0].reason;
    if (reason === "MFA_ENROLLMENT_REQUIRED") overdue(path);
    const due = answer.headers.get("X-Twofold-MFA-Enrollment-Due");
    if (due && !document.getElementById("mfa-overdue-banner")) {
      if (new Date(due).getTime() <= Date.now()) overdue(path);
      else banner(due);
    }
  });
  const e = whoami && whoami.ok && whoami.body.mfaEnrollment;
  if (!e || !e.required || e.enrolled || !e.deadline) return false;
  // The server judges `overdue` by its own clock; older servers leave it out.
  const late = typeof e.overdue === "boolean" ? e.overdue : new Date(e.deadline).getTime() <= serverNow(whoami);
  if (late) return overdue(path);
  banner(e.deadline);
  return false;
}

/** The server's clock from the answer's Date header (the test clock may be ahead of ours). */
function serverNow(answer) {
  const date = Date.parse(answer.headers.get("Date") || "");
  return Number.isNaN(date) ? Date.now() : Math.max(date, Date.now());
}
