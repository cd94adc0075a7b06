// MFA enforcement (issue 8; SCENARIOS.md S6): the organization requirement card on
// /admin/security and the /admin/security/mfa-policy page (global default, every tenant
// with its effective rule, edit, reset to global). Both degrade to "not available on
// this server" when the enforcement queries answer 404.

import { h, fill, notice, busy, card, field, when, errorText } from "/console/js/ui.js";
import { showOutcome } from "/console/js/stepup.js";

/** The four rule values, in the order the console offers them. */
export const VALUES = [
  ["MFA_ENFORCEMENT_OPTIONAL", "Optional", "Members may set up a second factor."],
  ["MFA_ENFORCEMENT_REQUIRED_FOR_ADMINS", "Required for admins & owners", "Root-quorum members and users tagged administrator, admin, owner or editor must enroll."],
  ["MFA_ENFORCEMENT_REQUIRED", "Required for everyone", "Every member must enroll."],
  ["MFA_ENFORCEMENT_OFF", "Off (incident response)", "Nobody can enroll new factors; existing factors keep working."],
];
const label = (value) => (VALUES.find((v) => v[0] === value) || [value, value])[1];
const sourceText = (rule) => rule.source === "MFA_ENFORCEMENT_SOURCE_ORGANIZATION" ? "set for this organization" : "inherited from global";
const unavailable = (title) => card(title, notice("info", "MFA enforcement is not available on this server."));

/** A rule editor: the value as radio buttons, grace days 0–365 with a 72-hour preset, and
 * whether a verified email or phone counts as enrolled (with its warning). */
function ruleEditor(api, rule, idPrefix, { save, reset, onDone }) {
  const out = h("div", { "aria-live": "polite" });
  const radios = VALUES.map(([value, text, hint]) => h("label", { class: "choice" },
    h("input", { type: "radio", name: `${idPrefix}-value`, value, checked: rule.value === value, id: `${idPrefix}-${value}` }),
    h("span", {}, h("strong", {}, text), h("br"), h("span", { class: "muted" }, hint))));
  // A rule that does not require enrolment yet starts the editor at the 72-hour default a
  // newly required user gets; a required rule shows its own grace.
  const requires = rule.value === "MFA_ENFORCEMENT_REQUIRED" || rule.value === "MFA_ENFORCEMENT_REQUIRED_FOR_ADMINS";
  const grace = h("input", { type: "number", min: "0", max: "365", step: "1", name: "gracePeriodDays", value: String(requires ? rule.gracePeriodDays ?? 3 : 3), class: "short" });
  const preset = h("button", { type: "button", class: "link", onclick: () => { grace.value = "3"; } }, "72 hours");
  // NIST SP 800-63B-4 does not count email as an authenticator and restricts SMS: off by default.
  const otp = h("input", { type: "checkbox", name: "acceptEmailSmsOtp", id: `${idPrefix}-accept-otp`, checked: Boolean(rule.acceptEmailSmsOtp) });
  const otpField = h("div", { class: "field" },
    h("label", { class: "check", for: otp.id }, otp, " Count a verified email address or phone number as a second factor"),
    h("p", { class: "hint warn-text", id: `${otp.id}-hint` },
      "Weaker than a passkey or an authenticator app: whoever reads the user's mail or takes over their number passes. ",
      "NIST SP 800-63B does not count email as an authenticator and restricts SMS. Leave it off unless your users cannot use either."));
  otp.setAttribute("aria-describedby", `${otp.id}-hint`);
  const button = h("button", { type: "submit" }, "Save");
  const resetButton = reset && rule.source === "MFA_ENFORCEMENT_SOURCE_ORGANIZATION"
    ? h("button", { type: "button", class: "secondary", onclick: () => {
      if (!confirm("Reset this organization to the global default? Its own rule is deleted.")) return;
      busy(resetButton, out, async () => showOutcome(api, await reset(), out, { doneText: "Reset to the global default.", onDone }));
    } }, "Reset to global")
    : null;
  return h("form", { class: "rule", onsubmit: (e) => {
    e.preventDefault();
    const value = (radios.map((r) => r.querySelector("input")).find((i) => i.checked) || {}).value;
    const days = Number(grace.value);
    if (!Number.isInteger(days) || days < 0 || days > 365) {
      fill(out, notice("error", "The grace period is a whole number of days from 0 to 365."));
      return;
    }
    const change = { value, gracePeriodDays: days, acceptEmailSmsOtp: otp.checked };
    busy(button, out, async () => showOutcome(api, await save(change), out, { doneText: "Saved. It applies from the next request.", onDone }));
  } },
  h("fieldset", {}, h("legend", {}, "Requirement"), radios),
  graceField(field("Grace period (days)", grace, "Members have this long to enroll from when the rule starts to apply to them (72 hours by default); 0 = at once."), grace, preset),
  otpField,
  h("p", { class: "actions" }, button, resetButton), out);
}

/** The grace field with its preset on the input's own line, before the hint. */
function graceField(wrap, input, preset) {
  input.after(preset);
  preset.classList.add("beside");
  return wrap;
}

/** The API-only users an answer of get_mfa_enforcement names: no rule asks them to enroll. */
function exemptUsers(answer) {
  const users = (answer && answer.ok && answer.body.apiOnlyUsers) || [];
  const text = "API-only users sign with their API keys and cannot sign in, so no rule asks them to enroll.";
  if (!users.length) return h("p", { class: "hint exempt" }, `No API-only users. ${text}`);
  return h("div", { class: "exempt" }, h("p", { class: "hint" }, `Exempt: ${text}`),
    h("ul", {}, users.map((u) => h("li", {}, u.userName, " ", h("span", { class: "muted mono" }, u.userId)))));
}

/** The organization requirement card on /admin/security. */
export async function requirementCard(api) {
  const answer = await api.query("get_mfa_enforcement");
  if (answer.status === 404) return unavailable("Organization MFA requirement");
  if (!answer.ok) return card("Organization MFA requirement", notice("error", errorText(answer)));
  const rule = answer.body.mfaEnforcement;
  const editor = ruleEditor(api, rule, "org", {
    save: (change) => api.submit("set_mfa_enforcement", { scope: "MFA_ENFORCEMENT_SCOPE_ORGANIZATION", ...change }),
    reset: () => api.submit("reset_mfa_enforcement", { scope: "MFA_ENFORCEMENT_SCOPE_ORGANIZATION" }),
  });
  return card("Organization MFA requirement",
    h("p", { id: "org-rule" }, `Currently: ${label(rule.value)}, ${rule.gracePeriodDays} day grace (${sourceText(rule)}). `,
      h("a", { href: "/admin/security/mfa-policy" }, "All organizations")),
    editor);
}

/** Draws /admin/security/mfa-policy. */
export async function render(main, api) {
  const answer = await api.query("list_mfa_enforcements");
  if (answer.status === 404) {
    main.append(unavailable("MFA enforcement"));
    return;
  }
  if (!answer.ok) {
    main.append(notice("error", errorText(answer)));
    return;
  }
  const { global, organizations } = answer.body;
  main.append(h("p", { class: "lead" }, "Decide who must set up a second factor. Organizations follow the global default unless they have their own rule."));
  const globalEditor = ruleEditor(api, global, "global", {
    save: (change) => api.submit("set_mfa_enforcement", { scope: "MFA_ENFORCEMENT_SCOPE_GLOBAL", ...change }),
  });
  main.append(card("Global default", h("p", {}, `Currently: ${label(global.value)}, ${global.gracePeriodDays} day grace`,
    global.updatedAt ? `, changed ${when(global.updatedAt)}.` : ", never changed."), globalEditor));
  main.append(card("API-only users", exemptUsers(await api.query("get_mfa_enforcement"))));
  const detail = h("div", { id: "tenant-editor" });
  const rows = (organizations || []).map((o) => {
    const rule = o.mfaEnforcement;
    const edit = h("button", { type: "button", class: "secondary small", "aria-label": `Edit ${o.organizationName}`, onclick: () => {
      const editor = ruleEditor(api, rule, `org-${o.organizationId}`, {
        save: (change) => api.submit("set_mfa_enforcement",
          { scope: "MFA_ENFORCEMENT_SCOPE_ORGANIZATION", targetOrganizationId: o.organizationId, ...change }),
        reset: () => api.submit("reset_mfa_enforcement", { scope: "MFA_ENFORCEMENT_SCOPE_ORGANIZATION", targetOrganizationId: o.organizationId }),
        onDone: () => refreshRow(),
      });
      const exempt = h("div");
      fill(detail, card(`Edit ${o.organizationName}`, exempt, editor));
      api.query("get_mfa_enforcement", { targetOrganizationId: o.organizationId }).then((a) => fill(exempt, exemptUsers(a)));
      detail.scrollIntoView({ block: "nearest" });
    } }, "Edit");
    const cells = [h("td"), h("td"), h("td")];
    const show = (r) => {
      cells[0].textContent = label(r.value);
      cells[1].textContent = `${r.gracePeriodDays} d`;
      cells[2].textContent = sourceText(r);
    };
    // After a save or reset, the row shows the rule now in force.
    const refreshRow = async () => {
      const now = await api.query("get_mfa_enforcement", { targetOrganizationId: o.organizationId });
      if (now.ok) show(now.body.mfaEnforcement);
    };
    show(rule);
    return h("tr", {}, h("td", {}, o.organizationName, h("br"), h("span", { class: "muted mono" }, o.organizationId)),
      ...cells, h("td", {}, edit));
  });
  main.append(card("Organizations", h("div", { class: "scroll" }, h("table", {},
    h("thead", {}, h("tr", {}, ["Organization", "Requirement", "Grace", "Source", ""].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows)))), detail);
}
