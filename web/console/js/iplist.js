// An IP list editor: a textarea (one CIDR per line, optional `# label`) over a mirror
// that highlights offending lines, checked as you type and again by the server, whose
// 400 names the rule (`rules[3] (line 4)`), mapped back to the textarea's own line.

import { h, fill, notice, field, busy, errorText } from "/console/js/ui.js";
import { showOutcome } from "/console/js/stepup.js";

const V4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}(\/(3[0-2]|[12]?\d))?$/;
const V6 = /^[0-9a-f:]+(\/(12[0-8]|1[01]\d|[1-9]?\d))?$/i;

/** Whether `cidr` looks like an IPv4 or IPv6 network (the server has the last word). */
export function validCidr(cidr) {
  if (V4.test(cidr)) return true;
  if (!V6.test(cidr)) return false;
  const addr = cidr.split("/")[0];
  const doubles = addr.split("::").length - 1;
  const groups = addr.split(":").filter(Boolean);
  return doubles <= 1 && groups.every((g) => g.length <= 4) && (doubles ? groups.length < 8 : groups.length === 8);
}

/** Parses the textarea: rules with the 1-based line each came from, and the invalid lines. */
export function parseRules(text) {
  const rules = [];
  const bad = [];
  text.split("\n").forEach((raw, i) => {
    const [cidrPart, ...labelParts] = raw.split("#");
    const cidr = cidrPart.trim();
    if (!cidr) return;
    const label = labelParts.join("#").trim();
    if (!validCidr(cidr)) bad.push({ line: i + 1, message: `\`${cidr}\` is not an IPv4 or IPv6 network, e.g. 203.0.113.0/24` });
    rules.push({ rule: label ? { cidr, label } : { cidr }, line: i + 1 });
  });
  return { rules, bad };
}

/** Renders rules back as text. */
export const rulesText = (rules) => (rules || []).map((r) => (r.label ? `${r.cidr} # ${r.label}` : r.cidr)).join("\n");

/**
 * An editor card for one list. `save(rules, confirmLockout)` submits it and answers the
 * server's answer.
 */
export function ipListEditor({ id, title, help, rules, save, api }) {
  const area = h("textarea", { id, rows: "6", class: "mono", spellcheck: "false", wrap: "off",
    placeholder: "e.g. 203.0.113.0/24 # office" });
  area.value = rulesText(rules);
  const mirror = h("pre", { class: "mirror mono", "aria-hidden": "true" });
  const errors = h("ul", { class: "line-errors", id: `${id}-errors` });
  const out = h("div", { "aria-live": "polite" });
  const lockout = h("input", { type: "checkbox", id: `${id}-lockout` });
  const lockoutBox = h("p", { class: "hidden" }, h("label", { class: "check" }, lockout, " Save anyway: I understand this blocks the address I am using now"));

  const show = (bad) => {
    const badLines = new Map(bad.map((b) => [b.line, b.message]));
    fill(mirror, area.value.split("\n").map((line, i) =>
      h("span", { class: badLines.has(i + 1) ? "bad" : null, "data-line": i + 1 }, line + "\n")));
    fill(errors, bad.map((b) => h("li", {}, h("strong", {}, `Line ${b.line}: `), b.message)));
    area.setAttribute("aria-invalid", bad.length ? "true" : "false");
    area.setAttribute("aria-errormessage", errors.id);
    return bad.length === 0;
  };
  area.addEventListener("input", () => show(parseRules(area.value).bad));
  area.addEventListener("scroll", () => { mirror.scrollTop = area.scrollTop; mirror.scrollLeft = area.scrollLeft; });

  const button = h("button", { type: "submit", id: `${id}-save` }, "Save");
  const form = h("form", { onsubmit: (e) => {
    e.preventDefault();
    busy(button, out, async () => {
      const { rules: parsed, bad } = parseRules(area.value);
      if (!show(bad)) {
        fill(out, notice("error", "Not saved: fix the highlighted lines first."));
        return;
      }
      const answer = await save(parsed.map((p) => p.rule), lockout.checked);
      if (answer.status === 400) {
        const m = /rules\[(\d+)\]/.exec(errorText(answer));
        if (m && parsed[Number(m[1])]) show([{ line: parsed[Number(m[1])].line, message: errorText(answer) }]);
        if (/confirmLockout/.test(errorText(answer))) lockoutBox.classList.remove("hidden");
        fill(out, notice("error", `Not saved: ${errorText(answer)}`));
        return;
      }
      showOutcome(api, answer, out, { doneText: "Saved. It applies to the next request." });
    });
  } },
  h("div", { class: "field" },
    h("label", { for: id }, title),
    h("p", { class: "hint", id: `${id}-hint` }, help),
    h("div", { class: "editor" }, mirror, area),
    errors),
  lockoutBox, button, out);
  area.setAttribute("aria-describedby", `${id}-hint`);
  show([]);
  return form;
}
