// The console's entry point: picks the page for the path, checks the session and
// draws the frame (navigation, who is signed in, the enforcement banner).

import { Api, loadSession, SignedOut } from "/console/js/api.js";
import { h, fill, notice } from "/console/js/ui.js";
import { watchEnforcement } from "/console/js/enforcement.js";

const PAGES = {
  "/signin": { module: "signin", title: "Sign in", public: true },
  "/mfa/setup": { module: "setup", title: "Set up two-factor authentication" },
  "/security-clearance/setup-2fa": { module: "setup", title: "Set up two-factor authentication" },
  "/admin/security": { module: "security", title: "Security settings" },
  "/admin/security/mfa-policy": { module: "mfa-enforcement", title: "MFA enforcement" },
  "/activities": { module: "activities", title: "Approvals" },
  "/policies": { module: "policies", title: "Policies" },
  "/mfa-policies": { module: "policies", title: "MFA policies" },
  "/audit": { module: "audit", title: "Audit log" },
};

const NAV = [
  ["/activities", "Approvals"],
  ["/policies", "Policies"],
  ["/mfa-policies", "MFA policies"],
  ["/admin/security", "Security"],
  ["/audit", "Audit log"],
];

async function main() {
  const path = location.pathname.replace(/\/+$/, "") || "/";
  const page = PAGES[path];
  const mainEl = document.getElementById("main");
  if (!page) {
    location.replace("/activities");
    return;
  }
  document.title = `${page.title} · twofold`;
  const session = await loadSession();
  if (!session && !page.public) {
    location.replace(`/signin?next=${encodeURIComponent(path)}`);
    return;
  }
  const api = session ? new Api(session) : null;
  let whoami = null;
  if (api) {
    whoami = await api.query("get_whoami").catch((e) => {
      if (e instanceof SignedOut) location.replace(`/signin?next=${encodeURIComponent(path)}`);
      throw e;
    });
    drawFrame(api, path, whoami);
    // Enforcement (issue 8): banner during grace, forced set-up after the deadline.
    if (watchEnforcement(whoami, path)) return;
  }
  const module = await import(`/console/js/pages/${page.module}.js`);
  fill(mainEl, h("h1", {}, page.title));
  try {
    await module.render(mainEl, api, { path, whoami });
  } catch (e) {
    if (e instanceof SignedOut) {
      location.replace(`/signin?next=${encodeURIComponent(path)}`);
      return;
    }
    mainEl.append(notice("error", e.message || String(e)));
  }
  mainEl.dataset.ready = "true";
}

function drawFrame(api, path, whoami) {
  fill(document.getElementById("nav"), h("ul", {}, NAV.map(([href, label]) =>
    h("li", {}, h("a", { href, "aria-current": path === href ? "page" : null }, label)))));
  const out = h("button", { type: "button", class: "link", id: "sign-out", onclick: async () => {
    out.disabled = true;
    await api.signOut();
    location.assign("/signin");
  } }, "Sign out");
  const name = whoami.ok ? `${whoami.body.username} · ${whoami.body.organizationName}` : api.userId;
  fill(document.getElementById("who"), h("span", { class: "muted", id: "who-name", title: `organization ${api.organizationId}` }, name), out);
}

main().catch((e) => {
  fill(document.getElementById("main"), notice("error", e.message || String(e)));
});
