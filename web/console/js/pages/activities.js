// Approvals (/activities): what waits for you — your own step-up (AUTHENTICATORS_NEEDED)
// or other members' votes (CONSENSUS_NEEDED) — and the history with statuses.

import { h, fill, notice, when, badge, busy, card, errorText, userLabel, visible } from "/console/js/ui.js";
import { stepUp, showOutcome } from "/console/js/stepup.js";

const WAITING = ["ACTIVITY_STATUS_CONSENSUS_NEEDED", "ACTIVITY_STATUS_AUTHENTICATORS_NEEDED"];
const kind = (type) => String(type).replace(/^ACTIVITY_TYPE_/, "").replace(/_V\d+$/, "").replace(/_/g, " ").toLowerCase();
const initiator = (a) => (a.votes && a.votes[0] && a.votes[0].userId) || "";
// The initiator's name (bidi-isolated) always beside its id: names may repeat, so a
// member named "root" is never shown as just "root".
const who = (a) => {
  const v = a.votes && a.votes[0];
  return v ? userLabel(v.user && v.user.userName, v.userId) : "";
};

/** Draws the approvals page. */
export async function render(main, api) {
  const waiting = h("div", { id: "waiting" });
  const history = h("div", { id: "history" });
  main.append(card("Waiting", waiting), card("History", history));
  const redraw = () => render(fill(main, h("h1", {}, "Approvals")), api);
  const pending = await api.query("list_activities", { filterByStatus: WAITING, paginationOptions: { limit: "50" } });
  if (!pending.ok) fill(waiting, notice("error", errorText(pending)));
  else {
    const items = (pending.body.activities || []).map((a) => waitingItem(api, a, redraw)).filter(Boolean);
    fill(waiting, items.length ? h("ul", { class: "items" }, items) : h("p", { class: "muted", id: "nothing-waiting" }, "Nothing waits for you."));
  }
  const all = await api.query("list_activities", { paginationOptions: { limit: "25" } });
  fill(history, all.ok ? historyTable(all.body.activities || []) : notice("error", errorText(all)));
}

function waitingItem(api, a, redraw) {
  const out = h("div", { "aria-live": "polite" });
  const mine = initiator(a) === api.userId;
  const head = h("div", { class: "item-head" }, badge(a.status), " ", h("strong", {}, kind(a.type)),
    h("span", { class: "muted by" }, " by ", mine ? "you" : who(a), `, ${when(a.createdAt)}`));
  const fp = h("p", { class: "fingerprint" }, "Fingerprint ", h("code", { class: "mono" }, a.fingerprint));
  const details = h("details", {}, h("summary", {}, "What it does"), h("pre", { class: "mono intent", dir: "ltr" }, visible(JSON.stringify(a.intent, null, 2))));
  if (a.status === "ACTIVITY_STATUS_AUTHENTICATORS_NEEDED") {
    if (!mine) return null;
    return h("li", { class: "item", "data-fingerprint": a.fingerprint }, head, fp, details,
      stepUp(api, a, (answer) => showOutcome(api, answer, out, { doneText: "Confirmed.", onDone: () => setTimeout(redraw, 600) })), out);
  }
  const vote = (name, button, doneText) => busy(button, out, async () => {
    const answer = await api.submit(name, { fingerprint: a.fingerprint });
    if (!answer.ok) return fill(out, notice("error", errorText(answer)));
    const status = answer.body.activity.status;
    fill(out, notice(status === "ACTIVITY_STATUS_COMPLETED" || status === "ACTIVITY_STATUS_REJECTED" ? "ok" : "info",
      `${doneText} Status: `, badge(status)));
    setTimeout(redraw, 1200);
  });
  const approve = h("button", { type: "button", class: "approve", onclick: () => vote("approve_activity", approve, "Approved.") }, "Approve");
  const reject = h("button", { type: "button", class: "danger", onclick: () => vote("reject_activity", reject, "Rejected.") }, "Reject");
  const actions = a.canApprove || a.canReject
    ? h("p", { class: "actions" }, a.canApprove ? approve : null, a.canReject ? reject : null)
    : h("p", { class: "muted" }, mine ? "Waiting for other members to approve." : "You have voted or may not vote on this.");
  return h("li", { class: "item", "data-fingerprint": a.fingerprint }, head, fp, details, actions, out);
}

function historyTable(activities) {
  if (!activities.length) return h("p", { class: "muted" }, "No activities yet.");
  return h("div", { class: "scroll" }, h("table", { id: "history-table" },
    h("thead", {}, h("tr", {}, ["When", "Activity", "By", "Status", "Fingerprint"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, activities.map((a) => h("tr", { "data-fingerprint": a.fingerprint },
      h("td", {}, when(a.createdAt)), h("td", {}, kind(a.type)), h("td", {}, who(a)), h("td", {}, badge(a.status)),
      h("td", {}, h("code", { class: "mono clip", title: a.fingerprint }, a.fingerprint.slice(7, 19))))))));
}
