// Security settings (/admin/security): your factors, the organization's MFA requirement,
// the IP allow and deny lists, email-code sign-in for the organization's own app (the auth
// proxy); the page header opens the audit log.

import { h, fill, notice, when, busy, card, field } from "/console/js/ui.js";
import { showOutcome } from "/console/js/stepup.js";
import { recoveryCodes } from "/console/js/pages/setup.js";
import { ipListEditor } from "/console/js/iplist.js";
import { requirementCard } from "/console/js/pages/mfa-enforcement.js";

/** Draws the security settings page. */
export async function render(main, api) {
  // The page header carries the way to the audit log, beside the title.
  const title = main.querySelector("h1");
  main.prepend(h("div", { class: "page-head" }, title,
    h("a", { href: "/audit", class: "button secondary", id: "open-audit" }, "Open audit log")));
  const factors = h("div", { id: "factors" });
  main.append(card("Your two-factor authentication", factors,
    h("p", {}, h("a", { href: "/mfa/setup", class: "button secondary" }, "Add a passkey or app"))));
  await drawFactors(api, factors);
  main.append(await requirementCard(api));
  main.append(await ipCard(api));
  main.append(await proxyCard(api));
}

async function drawFactors(api, box) {
  const [passkeys, totps, codes] = await Promise.all([
    api.query("get_authenticators", { userId: api.userId }),
    api.query("get_totp_authenticators", { userId: api.userId }),
    api.query("get_recovery_codes_status", { userId: api.userId }),
  ]);
  const out = h("div", { "aria-live": "polite" });
  const redraw = () => drawFactors(api, box);
  const rows = [
    ...(passkeys.body.authenticators || []).map((a) => ({
      kind: "Passkey", name: a.authenticatorName, created: a.createdAt, state: "active",
      remove: () => api.submit("delete_authenticators", { userId: api.userId, authenticatorIds: [a.authenticatorId] }),
    })),
    ...(totps.body.totpAuthenticators || []).map((t) => ({
      kind: "Authenticator app", name: t.authenticatorName, created: t.createdAt, state: t.active ? "active" : "not confirmed",
      remove: () => api.submit("delete_totp_authenticators", { userId: api.userId, totpAuthenticatorIds: [t.totpAuthenticatorId] }),
    })),
  ];
  const table = rows.length
    ? h("div", { class: "scroll" }, h("table", { id: "factor-table" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Type"), h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Added"),
        h("th", { scope: "col" }, "State"), h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")))),
      h("tbody", {}, rows.map((r) => {
        const button = h("button", { type: "button", class: "danger small", "aria-label": `Remove ${r.kind.toLowerCase()} ${r.name}`,
          onclick: () => {
            if (!confirm(`Remove ${r.kind.toLowerCase()} “${r.name}”? You will not be able to use it to sign in.`)) return;
            busy(button, out, async () => showOutcome(api, await r.remove(), out, { doneText: `Removed ${r.name}.`, onDone: () => setTimeout(redraw, 800) }));
          } }, "Remove");
        return h("tr", {}, h("td", {}, r.kind), h("td", {}, r.name), h("td", {}, when(r.created)), h("td", {}, r.state), h("td", {}, button));
      }))))
    : notice("warn", "You have no second factor yet. ", h("a", { href: "/mfa/setup" }, "Set one up"), ".");
  const status = codes.ok && codes.body.total
    ? `${codes.body.remaining} of ${codes.body.total} recovery codes left (created ${when(codes.body.createdAt)}).`
    : "No recovery codes yet.";
  const regenerate = h("div", {});
  const regen = h("button", { type: "button", class: "secondary", id: "regenerate-codes", onclick: () => {
    regen.remove();
    fill(regenerate, recoveryCodes(api, { onFinish: redraw }));
  } }, codes.body.total ? "Regenerate recovery codes" : "Create recovery codes");
  fill(box, table, out, h("p", { id: "recovery-status" }, status, " ", regen), regenerate);
}

async function ipCard(api) {
  const [allow, deny] = await Promise.all([api.query("get_ip_allowlist"), api.query("get_ip_denylist")]);
  return card("IP allow and deny lists",
    h("p", {}, "Requests are checked against these lists before anything else. The deny list is checked first; an empty allow list lets every address through."),
    h("div", { class: "grid2" },
      ipListEditor({ id: "ip-allow", title: "Allow list", api,
        help: "One network per line in CIDR form, with an optional # label. Empty = unrestricted.",
        rules: allow.ok ? allow.body.allowlist.rules : [],
        save: (rules, confirmLockout) => api.submit("set_ip_allowlist", { enabled: true, rules, ...(confirmLockout ? { confirmLockout } : {}) }) }),
      ipListEditor({ id: "ip-deny", title: "Deny list", api,
        help: "Addresses refused even when the allow list lets them in.",
        rules: deny.ok ? deny.body.denylist.rules : [],
        save: (rules, confirmLockout) => api.submit("set_ip_denylist", { enabled: true, rules, ...(confirmLockout ? { confirmLockout } : {}) }) }),
    ));
}

const LOGIN = "AUTH_METHOD_EMAIL_OTP_LOGIN";
const SIGNUP = "AUTH_METHOD_EMAIL_OTP_SIGNUP";
const PASSKEY_SIGNUP = "AUTH_METHOD_PASSKEY_SIGNUP";

async function proxyCard(api) {
  const box = h("div", { id: "auth-proxy" });
  await drawProxy(api, box);
  return card("Email-code sign-in for your app",
    h("p", {}, "The auth proxy lets the people who use your application sign in with a code sent to their email, ",
      "from your application's pages, without an API key. Each request runs as an activity of this organization, ",
      "under its policies and limits, by a service user that can do nothing else."),
    box);
}

async function drawProxy(api, box) {
  const answer = await api.query("get_auth_proxy_config");
  const out = h("div", { "aria-live": "polite" });
  const redraw = () => setTimeout(() => drawProxy(api, box), 800);
  if (!answer.ok) {
    fill(box, notice("error", answer.body.message || "Could not read the auth proxy settings."));
    return;
  }
  if (!answer.body.enabled) {
    const enable = h("button", { type: "button", id: "proxy-enable", onclick: () => busy(enable, out, async () =>
      showOutcome(api, await api.submit("enable_auth_proxy", {}), out, { doneText: "Email-code sign-in is on.", onDone: redraw })) },
    "Turn on");
    fill(box, h("p", { id: "proxy-state" }, "Off."), enable, out);
    return;
  }
  const config = answer.body.config;
  const appName = h("input", { id: "proxy-app-name", value: config.appName, maxlength: "64", required: true });
  const signup = h("input", { type: "checkbox", id: "proxy-signup", checked: config.allowedAuthMethods.includes(SIGNUP) });
  const passkeySignup = h("input", {
    type: "checkbox", id: "proxy-passkey-signup", checked: config.allowedAuthMethods.includes(PASSKEY_SIGNUP),
  });
  const origins = h("textarea", { id: "proxy-origins", rows: "3", class: "mono", spellcheck: "false" });
  origins.value = (config.allowedOrigins || []).join("\n");
  const save = h("button", { type: "button", id: "proxy-save", onclick: () => busy(save, out, async () => {
    const params = {
      appName: appName.value.trim(),
      allowedAuthMethods: [LOGIN, ...(signup.checked ? [SIGNUP] : []), ...(passkeySignup.checked ? [PASSKEY_SIGNUP] : [])],
      allowedOrigins: origins.value.split("\n").map((line) => line.trim()).filter(Boolean),
    };
    showOutcome(api, await api.submit("update_auth_proxy_config", params), out, { doneText: "Saved.", onDone: redraw });
  }) }, "Save");
  const disable = h("button", { type: "button", class: "danger", id: "proxy-disable", onclick: () => {
    if (!confirm("Turn email-code sign-in off? Your application's sign-in form stops working until it is turned on again.")) return;
    busy(disable, out, async () =>
      showOutcome(api, await api.submit("disable_auth_proxy", {}), out, { doneText: "Email-code sign-in is off.", onDone: redraw }));
  } }, "Turn off");
  fill(box,
    h("p", { id: "proxy-state" }, "On. ", h("span", { class: "hint" },
      `Service user ${answer.body.userId}. Configuration id `, h("code", { id: "proxy-config-id" }, answer.body.configId),
      " (Turnkey's SDKs: authProxyConfigId).")),
    field("Application name in the email", appName),
    h("p", {}, h("label", { class: "check" }, signup, " Let new people create an account with a code (sign-up)")),
    h("p", {}, h("label", { class: "check" }, passkeySignup,
      " Let new people create an account with a passkey alone (limited per address)")),
    field("Web origins allowed to call it", origins,
      "One origin per line, like https://app.example.com (no path). This console's own pages need no entry."),
    h("p", {}, save, " ", disable), out);
}
