// Policies (/policies) and MFA policies (/mfa-policies): lists, a create form whose
// condition is checked by the server as you type (the error names its position), and
// the evaluate_activity dry run for a chosen activity; session profiles read-only.

import { h, fill, notice, busy, card, field, errorText } from "/console/js/ui.js";
import { showOutcome } from "/console/js/stepup.js";

/** Draws /policies or /mfa-policies. */
export async function render(main, api, { path }) {
  if (path === "/mfa-policies") return mfaPolicies(main, api);
  const list = await api.query("list_policies");
  main.append(card("Policies", list.ok ? policyTable(list.body.policies || []) : notice("error", errorText(list))));
  main.append(createPolicy(api), dryRun(api));
  const profiles = await api.query("get_session_profiles");
  if (profiles.ok) {
    const rows = profiles.body.sessionProfiles || [];
    main.append(card("Session profiles", rows.length ? table(["Name", "Scope", "Max lifetime"], rows.map((p) =>
      [p.sessionProfileName, h("code", {}, p.scope), p.expirationSeconds ? `${p.expirationSeconds} s` : "—"]))
      : h("p", { class: "muted" }, "None. Profiles are immutable: create them with the API.")));
  }
}

function table(headers, rows) {
  return h("div", { class: "scroll" }, h("table", {},
    h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c)))))));
}

function policyTable(policies) {
  if (!policies.length) return h("p", { class: "muted" }, "No policies: only the root quorum can act.");
  return table(["Name", "Effect", "Condition", "Consensus"], policies.map((p) => [
    p.policyName, h("span", { class: `effect ${p.effect === "EFFECT_DENY" ? "deny" : "allow"}` }, p.effect.replace("EFFECT_", "").toLowerCase()),
    h("code", {}, p.condition || "—"), h("code", {}, p.consensus || "—")]));
}

function createPolicy(api) {
  const name = h("input", { name: "policyName", required: true, maxlength: "256" });
  const effect = h("select", { name: "effect" }, h("option", { value: "EFFECT_ALLOW" }, "Allow"), h("option", { value: "EFFECT_DENY" }, "Deny"));
  const condition = h("textarea", { name: "condition", rows: "3", class: "mono", spellcheck: "false", placeholder: "activity.resource == 'USER' && activity.action == 'CREATE'" });
  const consensus = h("textarea", { name: "consensus", rows: "2", class: "mono", spellcheck: "false", placeholder: "approvers.count() >= 2" });
  const check = h("div", { "aria-live": "polite", class: "check-result", id: "condition-check" });
  const out = h("div", { "aria-live": "polite" });
  const params = () => ({ policyName: name.value.trim() || "draft", effect: effect.value, notes: "",
    ...(condition.value.trim() ? { condition: condition.value.trim() } : {}),
    ...(consensus.value.trim() ? { consensus: consensus.value.trim() } : {}) });
  let timer;
  const validate = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      // The server parses the draft when asked to dry-run creating it; a parse error is its 400.
      const answer = await api.query("evaluate_activity", { activity: { type: "ACTIVITY_TYPE_CREATE_POLICY_V3", parameters: params() } });
      fill(check, answer.status === 400 ? notice("error", errorText(answer)) : h("p", { class: "muted" }, "✓ The expressions parse."));
    }, 400);
  };
  condition.addEventListener("input", validate);
  consensus.addEventListener("input", validate);
  const button = h("button", { type: "submit" }, "Create policy");
  return card("New policy", h("form", { onsubmit: (e) => {
    e.preventDefault();
    busy(button, out, async () => showOutcome(api, await api.submit("create_policy", params()), out, { doneText: "Policy created.", onDone: () => setTimeout(() => location.reload(), 800) }));
  } }, field("Name", name), field("Effect", effect),
  field("Condition", condition, "A condition over activity, e.g. activity.resource == 'USER'. Empty = always."), check,
  field("Consensus", consensus, "Who must approve, e.g. approvers.count() >= 2. Empty = nobody else."), button, out));
}

function dryRun(api) {
  const type = h("input", { name: "type", class: "mono", value: "ACTIVITY_TYPE_CREATE_USER_TAG" });
  const params = h("textarea", { name: "parameters", rows: "3", class: "mono", spellcheck: "false" });
  params.value = '{"userTagName": "ops", "userIds": []}';
  const out = h("div", { "aria-live": "polite", id: "dry-run" });
  const button = h("button", { type: "submit", class: "secondary" }, "Explain");
  return card("Dry run", h("p", {}, "How the policies in force would decide an activity, without doing it."),
    h("form", { onsubmit: (e) => {
      e.preventDefault();
      busy(button, out, async () => {
        let parameters;
        try { parameters = JSON.parse(params.value); } catch { throw new Error("The parameters are not JSON."); }
        const answer = await api.query("evaluate_activity", { activity: { type: type.value.trim(), parameters } });
        if (!answer.ok) return fill(out, notice("error", errorText(answer)));
        const r = answer.body;
        fill(out, notice(r.decision === "DECISION_ALLOW" ? "ok" : r.decision === "DECISION_DENY" ? "error" : "warn",
          h("strong", {}, r.decision.replace("DECISION_", "").replace(/_/g, " ").toLowerCase()), `: ${r.reason}`),
        table(["Policy", "Outcome", "Why", "Deciding part"], (r.policyEvaluations || []).map((p) => [p.policyName || p.policyId,
          p.outcome.replace("OUTCOME_", "").replace(/_/g, " ").toLowerCase(), p.reason, p.deciding ? h("code", {}, p.deciding.text) : "—"])));
      });
    } }, field("Activity type", type), field("Parameters (JSON)", params), button, out));
}

async function mfaPolicies(main, api) {
  const answer = await api.query("get_mfa_policies", { userId: api.userId });
  const rows = answer.ok ? answer.body.mfaPolicies || [] : [];
  const methods = (p) => (p.requiredAuthenticationMethods || []).map((s, i) =>
    `${i + 1}. ${(s.any || []).map((m) => m.type.replace("AUTHENTICATION_TYPE_", "").toLowerCase()).join(" or ")}`).join("  ");
  main.append(card("Your MFA policies", !answer.ok ? notice("error", errorText(answer)) : rows.length
    ? table(["Order", "Name", "Condition", "Steps"], rows.map((p) => [String(p.order), p.mfaPolicyName, h("code", {}, p.condition), methods(p)]))
    : h("p", { class: "muted" }, "None: your activities need no step-up.")));
  const name = h("input", { name: "mfaPolicyName", required: true });
  const condition = h("input", { name: "condition", class: "mono", value: "true" });
  const order = h("input", { name: "order", type: "number", min: "0", max: "1000000", value: "100", class: "short" });
  const method = h("select", { name: "method" }, ["TOTP", "PASSKEY", "RECOVERY_CODE"].map((m) => h("option", { value: `AUTHENTICATION_TYPE_${m}` }, m.toLowerCase().replace("_", " "))));
  const out = h("div", { "aria-live": "polite" });
  const button = h("button", { type: "submit" }, "Create MFA policy");
  main.append(card("New MFA policy", h("form", { onsubmit: (e) => {
    e.preventDefault();
    busy(button, out, async () => showOutcome(api, await api.submit("create_mfa_policy", { userId: api.userId, mfaPolicyName: name.value.trim(),
      condition: condition.value.trim(), order: Number(order.value), requiredAuthenticationMethods: [{ any: [{ type: method.value }] }] }),
    out, { doneText: "MFA policy created.", onDone: () => setTimeout(() => location.reload(), 800) }));
  } }, field("Name", name), field("When (condition)", condition, "true = every activity you start; lower order is checked first."),
  field("Order", order), field("Second step", method), button, out)));
}
