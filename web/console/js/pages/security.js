// Security settings (/admin/security): your factors, the organization's MFA requirement,
// the IP allow and deny lists, and the way to the audit log.

import { h, fill, notice, when, busy, card } from "/console/js/ui.js";
import { showOutcome } from "/console/js/stepup.js";
import { recoveryCodes } from "/console/js/pages/setup.js";
import { ipListEditor } from "/console/js/iplist.js";
import { requirementCard } from "/console/js/pages/mfa-enforcement.js";

/** Draws the security settings page. */
export async function render(main, api) {
  const factors = h("div", { id: "factors" });
  main.append(card("Your two-factor authentication", factors,
    h("p", {}, h("a", { href: "/mfa/setup", class: "button secondary" }, "Add a passkey or app"))));
  await drawFactors(api, factors);
  main.append(await requirementCard(api));
  main.append(await ipCard(api));
  main.append(card("Audit log", h("p", {}, "Every change on this page, every vote and every refused request is recorded in a tamper-evident log."),
    h("p", {}, h("a", { href: "/audit", class: "button secondary", id: "open-audit" }, "Open audit log"))));
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
