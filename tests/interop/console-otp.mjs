// Issue 9 item 1 in real headless Chromium: a new person signs up with an email code
// (through the organization's auth proxy; the code read from the server's dev outbox with
// `twofold outbox show`), registers a passkey, signs out, and signs in with the passkey;
// an existing user signs in with a code the same way.
// Prints what the browser saw as JSON for crates/cli/tests/e2e_console.rs.
// Usage: node console-otp.mjs <baseUrl> <proxyOrgId> <email> <twofoldBinary> <outboxDir> <shotDir> <newEmail>
import { execFileSync } from "node:child_process";
import { openConsole, passkeyRoundTrip, sessionKeyCheck } from "./console-lib.mjs";

const [baseUrl, orgId, email, binary, outboxDir, shotDir, newEmail] = process.argv.slice(2);
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
  Object.assign(seen, await passkeyRoundTrip(ann));

  // Sign-up: nobody has this email yet, so the code leads to "Create an account".
  const bea = await user("bea");
  await go(bea, "/signin");
  await bea.fill("input[name=organizationId]", orgId);
  await bea.click("#otp-signin summary");
  await bea.fill("#otp-signin input[name=email]", newEmail);
  await bea.click("#otp-send");
  await bea.waitForSelector("#otp-code", { state: "visible" });
  await bea.fill("#otp-code", latestCode());
  await bea.click("#otp-verify");
  await bea.waitForSelector("#otp-signup", { state: "visible" });
  await shot(bea, "signup-email-code");
  await bea.click("#otp-signup");
  await bea.waitForURL((url) => !url.pathname.startsWith("/signin"), { timeout: 15000 });
  await bea.waitForSelector("main[data-ready]");
  seen.signedUpAs = await bea.textContent("#who-name");
  await go(bea, "/mfa/setup");
  await bea.click("#add-passkey");
  await bea.waitForSelector("text=Passkey added");
  const again = await passkeyRoundTrip(bea);
  seen.newKeysAfterSignOut = again.keysAfterSignOut;
  seen.newOrgRemembered = again.orgRemembered;
  seen.newSignedInWithPasskeyAs = again.signedInWithPasskeyAs;
});
