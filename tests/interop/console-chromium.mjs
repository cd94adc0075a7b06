// Drives the twofold web console in real headless Chromium (Debian's, through
// playwright-core) with a CDP virtual authenticator, and prints what the browser saw
// as one JSON object for crates/cli/tests/e2e_console.rs to assert on. Screenshots of
// every page go to <shotDir>. TOTP codes are computed by Python's pyotp.
// Usage: node console-chromium.mjs <baseUrl> <aliceKeyFile> <bobKeyFile> <shotDir>
import { readFileSync } from "node:fs";
import { openConsole, passkeyRoundTrip, sessionKeyCheck, totp } from "./console-lib.mjs";

const [baseUrl, aliceKeyFile, bobKeyFile, shotDir] = process.argv.slice(2);
const aliceKey = readFileSync(aliceKeyFile, "utf8");
const bobKey = readFileSync(bobKeyFile, "utf8");
const orgId = JSON.parse(aliceKey).organizationId;
const seen = {};
const { origin, user, go, shot, signInWithKey, run } = await openConsole(baseUrl, shotDir, seen);

await run(async () => {
  const alice = await user("alice");
  // Sign-in page, then an administrator's first sign-in with an API key file.
  await alice.goto(`${origin}/signin`);
  await alice.waitForSelector("main[data-ready]");
  await alice.fill("input[name=organizationId]", orgId);
  await alice.waitForSelector("#otp-signin .notice", { state: "attached" });
  seen.otpSection = await alice.textContent("#otp-signin");
  await shot(alice, "signin");
  await signInWithKey(alice, aliceKey);
  seen.signedInAs = await alice.textContent("#who-name");

  // MFA set-up: a passkey first, which comes with the first recovery codes, shown once.
  await go(alice, "/mfa/setup");
  await alice.click("#add-passkey");
  await alice.waitForSelector("text=Passkey added");
  await alice.waitForSelector("#recovery-codes li");
  seen.createButtonAfterFirstFactor = await alice.$$eval("#create-recovery-codes", (b) => b.length);
  seen.recoveryCodes = await alice.$$eval("#recovery-codes li", (lis) => lis.map((li) => li.textContent));
  seen.doneDisabledBeforeCheckbox = await alice.isDisabled("#codes-done");
  await shot(alice, "mfa-setup-recovery-codes");
  await alice.check("#codes-saved");
  await alice.click("#codes-done");
  await alice.waitForURL("**/admin/security");
  await alice.waitForSelector("main[data-ready]");
  seen.codesOnSecurityPage = (await alice.content()).includes(seen.recoveryCodes[0]);
  seen.codesStatus = await alice.textContent("#factors");

  // Then an authenticator app as a second factor: no new codes come with it.
  await go(alice, "/mfa/setup");
  await alice.click("#totp-card summary");
  await alice.click("#start-totp");
  await alice.waitForSelector("#totp-secret");
  const uri = await alice.getAttribute("#totp-secret", "data-uri");
  seen.qrShown = await alice.$eval(".qr img", (img) => img.complete && img.naturalWidth > 0 && img.src.startsWith("data:image/png"));
  await shot(alice, "mfa-setup-totp");
  await alice.fill("input[name=totpCode]", totp(uri, 0));
  await alice.click("#confirm-totp");
  // Alice has a passkey already: binding another factor is proven with it (the account level).
  await alice.waitForSelector("text=Confirm it's you");
  // The steps come from get_mfa_status after the form shows: wait for them.
  await alice.waitForSelector(".stepup .steps li");
  seen.bindingStepUp = await alice.textContent(".stepup");
  await alice.click("button:has-text('Confirm with a passkey')");
  await alice.waitForSelector("text=Authenticator app confirmed");
  await alice.waitForSelector("#create-recovery-codes");
  seen.codesAfterSecondFactor = await alice.$$eval("#recovery-codes li", (lis) => lis.length);

  // Sign out (session and key deleted), then sign in with the passkey.
  Object.assign(seen, await passkeyRoundTrip(alice));

  // The session key in IndexedDB cannot be exported.
  seen.keyCheck = await sessionKeyCheck(alice);

  // An MFA policy: saving the deny list needs an authenticator-app code.
  await go(alice, "/mfa-policies");
  await alice.fill("input[name=mfaPolicyName]", "TOTP for the deny list");
  await alice.fill("input[name=condition]", "activity.type == 'ACTIVITY_TYPE_SET_IP_DENYLIST'");
  await alice.selectOption("select[name=method]", "AUTHENTICATION_TYPE_TOTP");
  await alice.click("button:has-text('Create MFA policy')");
  await alice.waitForSelector("text=MFA policy created");
  await go(alice, "/mfa-policies");
  await shot(alice, "mfa-policies");

  // IP lists: an invalid line is highlighted and nothing is saved.
  await go(alice, "/admin/security");
  await shot(alice, "security");
  // "Open audit log" sits in the page header, beside the title, above every card.
  seen.auditShortcut = await alice.$eval("#open-audit", (a) => ({
    inHeader: a.parentElement.classList.contains("page-head") && Boolean(a.parentElement.querySelector("h1")),
    aboveCards: a.getBoundingClientRect().bottom <= document.querySelector(".card").getBoundingClientRect().top,
    href: a.getAttribute("href"),
  }));
  await alice.fill("#ip-deny", "198.51.100.0/24 # partner\n10.0.0.300/8 # typo");
  await alice.click("#ip-deny-save");
  await alice.waitForSelector("text=fix the highlighted lines");
  seen.highlightedLines = await alice.$$eval(".mirror .bad", (s) => s.map((e) => Number(e.dataset.line)));
  seen.lineErrors = await alice.textContent("#ip-deny-errors");
  seen.ariaInvalid = await alice.getAttribute("#ip-deny", "aria-invalid");
  await alice.$eval("#ip-deny", (el) => el.closest(".card").scrollIntoView());
  await shot(alice, "security-ip-invalid", { fullPage: false });
  await go(alice, "/admin/security");
  seen.denyAfterInvalid = await alice.inputValue("#ip-deny");

  // A valid list: the page asks for the step-up instead of saying "saved".
  await alice.fill("#ip-deny", "203.0.113.0/24 # blocked range");
  await alice.click("#ip-deny-save");
  await alice.waitForSelector(".stepup .steps li");
  seen.stepUpText = await alice.textContent(".stepup");
  await alice.$eval(".stepup", (el) => el.scrollIntoView());
  await shot(alice, "security-step-up", { fullPage: false });
  await alice.fill(".stepup input[name=totpCode]", totp(uri, 30));
  await alice.click(".stepup button[type=submit]");
  await alice.waitForSelector("text=Saved. It applies to the next request.");
  await go(alice, "/admin/security");
  seen.denyAfterSave = await alice.inputValue("#ip-deny");

  // Removing a factor.
  seen.factorsBefore = await alice.$$eval("#factor-table tbody tr", (rows) => rows.map((r) => r.cells[0].textContent));
  await alice.click("#factor-table button[aria-label^='Remove authenticator app']");
  // Removing a factor is proven with another one she has (the account level).
  await alice.click("button:has-text('Confirm with a passkey')");
  await alice.waitForFunction(() => document.querySelectorAll("#factor-table tbody tr").length === 1, null, { timeout: 15000 });
  seen.factorsAfter = await alice.$$eval("#factor-table tbody tr", (rows) => rows.map((r) => r.cells[0].textContent));

  // Approvals: bob's activity waits; alice approves it; bob sees it completed.
  const bob = await user("bob");
  await signInWithKey(bob, bobKey);
  seen.bobWaiting = await bob.textContent("#waiting");
  await shot(bob, "activities-pending");
  await go(alice, "/activities");
  await alice.click("#waiting button.approve");
  await alice.waitForSelector("#waiting .notice.ok");
  seen.aliceApproved = await alice.textContent("#waiting .notice.ok");
  await go(bob, "/activities");
  seen.bobWaitingAfter = await bob.textContent("#waiting");
  seen.bobHistoryTag = await bob.$$eval("#history-table tbody tr", (rows) => rows.map((r) => r.textContent).filter((t) => t.includes("create user tag")));
  await shot(bob, "activities");

  // Policies, audit, enforcement.
  await go(alice, "/policies");
  await alice.fill("textarea[name=condition]", "activity.resource == ");
  await alice.waitForSelector("#condition-check .notice, #condition-check p");
  seen.conditionCheck = await alice.textContent("#condition-check");
  await alice.click("button:has-text('Explain')");
  await alice.waitForSelector("#dry-run .notice");
  seen.dryRun = await alice.textContent("#dry-run .notice");
  await shot(alice, "policies");
  await go(alice, "/audit");
  await alice.waitForSelector("#chain-status .notice");
  seen.chain = await alice.textContent("#chain-status");
  seen.auditRows = await alice.$$eval("#audit-table tbody tr", (r) => r.length);
  await shot(alice, "audit");
  await go(alice, "/admin/security/mfa-policy");
  seen.enforcementPage = await alice.textContent("main");
  await shot(alice, "mfa-enforcement");
  await alice.setViewportSize({ width: 390, height: 844 });
  await go(alice, "/admin/security");
  await shot(alice, "security-phone");

  // "If passkey enrollment is not available in the current browser, the same flow also
  // supports an authenticator app": bob, in a browser without WebAuthn, is offered the app at
  // once (open, first, no error), enrols it, and gets his first recovery codes.
  const plain = await user("bob-without-webauthn", { webauthn: false });
  await signInWithKey(plain, bobKey);
  await go(plain, "/mfa/setup");
  seen.noWebauthn = {
    hasApi: await plain.evaluate(() => "PublicKeyCredential" in window),
    lead: await plain.textContent("#setup-lead"),
    appOpen: await plain.$eval("#totp-card", (d) => d.open),
    appFirst: await plain.$eval("main", (m) => m.querySelector("#totp-card, #add-passkey, #passkey-unavailable").id),
    passkeyButton: await plain.$$eval("#add-passkey", (b) => b.length),
    unavailable: await plain.textContent("#passkey-unavailable"),
    errors: await plain.$$eval(".notice.error", (n) => n.map((e) => e.textContent)),
  };
  await shot(plain, "mfa-setup-no-passkeys");
  await plain.click("#start-totp");
  await plain.waitForSelector("#totp-secret");
  const bobUri = await plain.getAttribute("#totp-secret", "data-uri");
  await plain.fill("input[name=totpCode]", totp(bobUri, 0));
  await plain.click("#confirm-totp");
  await plain.waitForSelector("text=Authenticator app confirmed");
  await plain.waitForSelector("#recovery-codes li");
  seen.noWebauthn.codes = await plain.$$eval("#recovery-codes li", (lis) => lis.length);
});
