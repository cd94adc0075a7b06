// Sign-in: the organization id (remembered in this browser), then a passkey — or an API
// key file for administrators bootstrapping an installation, or an email code when the
// server offers one-time codes. Each way ends in a fresh non-extractable session key.

import { logInWithApiKey, logInWithPasskey, rememberedOrganization, loadSession } from "/console/js/api.js";
import { h, field, notice, fill, busy, card } from "/console/js/ui.js";
import { otpSignIn } from "/console/js/otp.js";

/** Where to go after signing in: a same-site path from `?next=`, else Approvals. */
export function nextPath() {
  const next = new URLSearchParams(location.search).get("next") || "";
  return /^\/[a-z0-9/_-]*$/i.test(next) && !next.startsWith("//") && next !== "/signin" ? next : "/activities";
}

/** Draws the sign-in page. */
export async function render(main) {
  main.querySelector("h1").classList.add("sr-only"); // the card carries the visible title
  if (await loadSession()) {
    main.append(notice("info", "You are signed in. ", h("a", { href: nextPath() }, "Continue")));
  }
  const params = new URLSearchParams(location.search);
  const org = h("input", { name: "organizationId", required: true, autocomplete: "organization", spellcheck: "false",
    value: params.get("org") || rememberedOrganization(), class: "mono" });
  const out = h("div", { "aria-live": "polite" });
  const done = () => location.assign(nextPath());
  const orgId = () => {
    const id = org.value.trim();
    if (!id) throw new Error("Enter your organization ID first.");
    return id;
  };

  const passkeyButton = h("button", { type: "submit", id: "signin-passkey" }, "Sign in with a passkey");
  const passkeyForm = h("form", { onsubmit: (e) => {
    e.preventDefault();
    busy(passkeyButton, out, async () => {
      fill(out, notice("info", "Follow your browser's prompt to use your passkey…"));
      await logInWithPasskey(orgId());
      done();
    });
  } }, field("Organization ID", org, "Your administrator gives you this ID; this browser remembers it."), passkeyButton);

  const keyText = h("textarea", { name: "apiKey", rows: "4", class: "mono", spellcheck: "false",
    placeholder: '{"publicKey": "02…", "privateKey": "…"}' });
  const keyFile = h("input", { type: "file", accept: ".json,application/json", name: "apiKeyFile", onchange: async () => {
    if (keyFile.files[0]) keyText.value = await keyFile.files[0].text();
  } });
  const keyButton = h("button", { type: "submit", class: "secondary", id: "signin-apikey" }, "Sign in with this key");
  const keyForm = h("form", { onsubmit: (e) => {
    e.preventDefault();
    busy(keyButton, out, async () => {
      let file;
      try {
        file = JSON.parse(keyText.value);
      } catch {
        throw new Error("That is not a key file (JSON with publicKey and privateKey).");
      }
      const orgFromFile = file.organizationId && !org.value.trim() ? file.organizationId : null;
      await logInWithApiKey(orgFromFile || orgId(), file);
      keyText.value = "";
      done();
    });
  } },
  h("p", { class: "hint" }, "For administrators: the key signs only the sign-in request, in this page; it is not stored or sent. ",
    "Afterwards, register a passkey and keep the key file offline."),
  field("API key file", keyFile), field("…or paste it", keyText), keyButton);

  main.append(h("div", { class: "narrow" },
    card("Sign in to twofold", passkeyForm, out),
    h("details", { class: "card" }, h("summary", {}, "Sign in with an API key file"), keyForm),
    otpSignIn(orgId, done),
  ));
}
