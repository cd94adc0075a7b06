// Issue 9 item 1 in real headless Chromium: a user with an email signs in with a code
// (through the organization's auth proxy; the code read from the server's dev outbox with
// `twofold outbox show`), registers a passkey, signs out, and signs in with the passkey.
// Prints what the browser saw as JSON for crates/cli/tests/e2e_console.rs.
// Usage: node console-otp.mjs <baseUrl> <proxyOrgId> <email> <twofoldBinary> <outboxDir> <shotDir>
import { execFileSync } from "node:child_process";
import { openConsole, sessionKeyCheck, storedKeyCount } from "./console-lib.mjs";

const [baseUrl, orgId, email, binary, outboxDir, shotDir] = process.argv.slice(2);
const seen = {};
const { origin, user, go, shot, run } = await openConsole(baseUrl, shotDir, seen);

/** The code in the newest message of the dev outbox (the line indented by four spaces). */
function latestCode() {
  const out = execFileSync(binary, ["outbox", "show", "--output", "json", "--dir", outboxDir], { encoding: "utf8" });
  const msg = JSON.parse(out);
  seen.mailTo = msg.to;
  return msg.body.split("\n").find((l) => l.startsWith("    ")).trim();
}

await run(async () => {
  const ann = await user("ann");
  await go(ann, "/signin");
  await ann.fill("input[name=organizationId]", orgId);
  await ann.click("#otp-signin summary");
  await ann.fill("#otp-signin input[name=email]", email);
  await ann.click("#otp-send");
  await ann.waitForSelector("#otp-code", { state: "visible" });
  seen.afterSend = await ann.textContent("#otp-signin");
  await ann.fill("#otp-code", latestCode());
  await shot(ann, "signin-email-code");
  await ann.click("#otp-verify");
  await ann.waitForURL((url) => !url.pathname.startsWith("/signin"), { timeout: 15000 });
  await ann.waitForSelector("main[data-ready]");
  seen.signedInWithCodeAs = await ann.textContent("#who-name");
  seen.keyCheck = await sessionKeyCheck(ann);

  // A passkey, then sign out and back in with it.
  await go(ann, "/mfa/setup");
  await ann.click("#add-passkey");
  await ann.waitForSelector("text=Passkey added");
  await shot(ann, "mfa-setup-after-email-code");
  await ann.click("#sign-out");
  await ann.waitForURL("**/signin");
  seen.keysAfterSignOut = await storedKeyCount(ann);
  await ann.waitForSelector("main[data-ready]");
  seen.orgRemembered = await ann.inputValue("input[name=organizationId]");
  await ann.click("#signin-passkey");
  await ann.waitForURL("**/activities");
  await ann.waitForSelector("main[data-ready]");
  seen.signedInWithPasskeyAs = await ann.textContent("#who-name");
});
