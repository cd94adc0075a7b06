// Audit log (/audit): filters, pages towards older events, the chain's verification
// status, and a JSON Lines export of what the filters select.

import { h, fill, notice, busy, card, field, when, download, errorText } from "/console/js/ui.js";

/** Draws the audit page. */
export async function render(main, api) {
  const chain = h("div", { id: "chain-status", "aria-live": "polite" });
  const eventType = h("select", { name: "eventType" }, ["", "VOTE", "ACTIVITY_STATUS", "STAMP_REJECTED", "IP_DENIED",
    "MFA_ENFORCEMENT_CHANGED", "MFA_ENROLLMENT_REQUIRED"].map((t) => h("option", { value: t }, t || "any")));
  const outcome = h("input", { name: "outcome", class: "mono", placeholder: "e.g. COMPLETED" });
  const actor = h("input", { name: "actorUserId", class: "mono", placeholder: "user id" });
  const from = h("input", { name: "from", type: "datetime-local" });
  const to = h("input", { name: "to", type: "datetime-local" });
  const rows = h("div", { id: "audit-rows" });
  const out = h("div", { "aria-live": "polite" });
  const pager = h("p", { class: "actions" });
  const filters = () => ({
    ...(eventType.value ? { eventType: eventType.value } : {}),
    ...(outcome.value.trim() ? { outcome: outcome.value.trim() } : {}),
    ...(actor.value.trim() ? { actorUserId: actor.value.trim() } : {}),
    ...(from.value ? { fromMs: String(new Date(from.value).getTime()) } : {}),
    ...(to.value ? { toMs: String(new Date(to.value).getTime()) } : {}),
  });
  const page = async (after) => {
    const answer = await api.query("list_audit_events", { ...filters(), paginationOptions: { limit: "25", ...(after ? { after: String(after) } : {}) } });
    if (!answer.ok) return fill(rows, notice("error", errorText(answer)));
    const events = answer.body.auditEvents || [];
    fill(rows, eventsTable(events));
    const older = h("button", { type: "button", class: "secondary", onclick: () => page(events[events.length - 1].seq) }, "Older →");
    fill(pager, after ? h("button", { type: "button", class: "secondary", onclick: () => page() }, "← Newest") : null, events.length === 25 ? older : null);
  };
  const apply = h("button", { type: "submit" }, "Apply filters");
  const exportButton = h("button", { type: "button", class: "secondary", id: "export-jsonl", onclick: () => busy(exportButton, out, async () => {
    const lines = [];
    let after;
    for (;;) {
      const answer = await api.query("list_audit_events", { ...filters(), paginationOptions: { limit: "100", ...(after ? { after: String(after) } : {}) } });
      if (!answer.ok) throw new Error(errorText(answer));
      const events = answer.body.auditEvents || [];
      events.forEach((e) => lines.push(JSON.stringify(e)));
      if (events.length < 100) break;
      after = events[events.length - 1].seq;
    }
    download(`twofold-audit-${api.organizationId}.jsonl`, lines.join("\n") + "\n", "application/jsonl");
    fill(out, notice("ok", `Exported ${lines.length} events.`));
  }) }, "Export JSON Lines");
  const verify = h("button", { type: "button", class: "secondary", id: "verify-chain", onclick: () => busy(verify, chain, () => checkChain(api, chain)) }, "Verify again");
  main.append(card("Chain", chain, verify),
    card("Events", h("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); busy(apply, out, () => page()); } },
      field("Event type", eventType), field("Outcome", outcome), field("Actor", actor), field("From", from), field("To", to),
      h("div", { class: "filter-actions" }, apply, exportButton)), out, rows, pager));
  await Promise.all([checkChain(api, chain), page()]);
}

async function checkChain(api, box) {
  const answer = await api.query("verify_audit_log");
  if (!answer.ok) return fill(box, notice("error", errorText(answer)));
  const r = answer.body;
  fill(box, r.verified
    ? notice("ok", h("strong", {}, "Chain verified. "), `${r.eventsChecked} events checked; none was changed, removed or reordered.`)
    : notice("error", h("strong", {}, "Chain broken. "), `At ${JSON.stringify(r.broken)}: an event was changed, removed or reordered.`));
}

function eventsTable(events) {
  if (!events.length) return h("p", { class: "muted" }, "No events match.");
  return h("div", { class: "scroll" }, h("table", { id: "audit-table" },
    h("thead", {}, h("tr", {}, ["#", "When", "Event", "Outcome", "Actor", "Subject"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, events.map((e) => h("tr", {},
      h("td", {}, String(e.seq)), h("td", {}, when(e.createdAt)), h("td", {}, e.eventType), h("td", {}, e.outcome),
      h("td", { class: "mono clip", title: e.actorUserId || "" }, (e.actorUserId || "—").slice(0, 8)),
      h("td", { class: "mono clip", title: JSON.stringify(e.details || {}) }, e.subject || ""))))));
}
