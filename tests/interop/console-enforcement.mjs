// Tenant MFA enforcement in the console (issue 9 item 2) on the server's test clock:
// the administrator turns enrolment off (set-up says so), resets to global (after a
// cancelled confirmation), then requires MFA with a 3-day grace; a member without
// factors sees the banner with the deadline on every page; the server's clock (and the
// browser's, so its timestampMs stay in the server's window) moves past the deadline;
// every page then sends the member to set-up, where an authenticator app and recovery
// codes let them through. Prints what the browser saw as one JSON object.
// The page names the API-only user as exempt; that user's key cannot sign in.
// Usage: node console-enforcement.mjs <baseUrl> <adminKeyFile> <memberKeyFile> <shotDir> <clockFile> <robotKeyFile>
import { readFileSync } from "node:fs";
import { openConsole, setServerClockOffset, totp } from "./console-lib.mjs";

const [baseUrl, adminKeyFile, memberKeyFile, shotDir, clockFile, robotKeyFile] = process.argv.slice(2);
const robotKey = readFileSync(robotKeyFile, "utf8");
const adminKey = readFileSync(adminKeyFile, "utf8");
const memberKey = readFileSync(memberKeyFile, "utf8");
const seen = {};
const { user, go, shot, signInWithKey, run } = await openConsole(baseUrl, shotDir, seen);
const DAY_MS = 86_400_000;
const PAST_DEADLINE_MS = 3 * DAY_MS + 3_600_000;

/** Opens the organization's row on the enforcement page and saves `value` with `days` of grace. */
async function setOrgRule(page, value, days) {
  await go(page, "/admin/security/mfa-policy");
  await page.click("button[aria-label^='Edit']");
  await page.check(`#tenant-editor input[value=${value}]`);
  await page.fill("#tenant-editor input[name=gracePeriodDays]", String(days));
  await page.click("#tenant-editor button[type=submit]");
  await page.waitForSelector("#tenant-editor .notice.ok");
}

/** The Source column of the (only) organization row. */
const orgSource = async (page) => {
  await go(page, "/admin/security/mfa-policy");
  return page.$eval("#main table tbody tr", (r) => r.cells[3].textContent);
};

await run(async () => {
  const admin = await user("admin");
  const member = await user("member");
  await member.clock.install();
  await signInWithKey(admin, adminKey);
  await signInWithKey(member, memberKey);

  // Off: enrolment disabled, said on the set-up page before anyone tries.
  await setOrgRule(admin, "MFA_ENFORCEMENT_OFF", 0);
  await go(member, "/mfa/setup");
  seen.setupWhenOff = await member.textContent("#main");
  seen.addPasskeyWhenOff = await member.$$eval("#add-passkey", (b) => b.length);
  await shot(member, "mfa-setup-disabled");

  // Reset to global: cancelling the confirmation keeps the rule; accepting deletes it.
  await go(admin, "/admin/security/mfa-policy");
  await admin.click("button[aria-label^='Edit']");
  admin.dismissDialogs = true;
  await admin.click("#tenant-editor button:has-text('Reset to global')");
  admin.dismissDialogs = false;
  seen.sourceAfterCancel = await orgSource(admin);
  await admin.click("button[aria-label^='Edit']");
  await admin.click("#tenant-editor button:has-text('Reset to global')");
  await admin.waitForSelector("text=Reset to the global default.");
  seen.sourceAfterReset = await orgSource(admin);

  // The email/SMS switch: off by default, with its warning beside it; saved on, it stays on.
  const otpSwitch = "#tenant-editor input[name=acceptEmailSmsOtp]";
  await go(admin, "/admin/security/mfa-policy");
  await admin.click("button[aria-label^='Edit']");
  seen.otpSwitch = await admin.$eval(otpSwitch, (i) => ({
    checked: i.checked, label: i.closest("label").textContent,
    hint: document.getElementById(i.getAttribute("aria-describedby")).textContent,
  }));
  await admin.check(otpSwitch);
  await admin.click("#tenant-editor button[type=submit]");
  await admin.waitForSelector("#tenant-editor .notice.ok");
  await go(admin, "/admin/security/mfa-policy");
  await admin.click("button[aria-label^='Edit']");
  seen.otpSwitchAfterSave = await admin.isChecked(otpSwitch);
  await admin.uncheck(otpSwitch);
  await admin.click("#tenant-editor button[type=submit]");
  await admin.waitForSelector("#tenant-editor .notice.ok");

  // Required with a 3-day grace: the banner, with the deadline, on every page.
  await setOrgRule(admin, "MFA_ENFORCEMENT_REQUIRED", 3);
  await admin.waitForFunction(() => document.querySelectorAll(".exempt").length === 2);
  seen.exempt = await admin.$$eval(".exempt", (els) => els.map((e) => e.textContent));

  // The API-only user's key file signs nothing in: the sign-in page says why.
  const robot = await user("robot");
  await go(robot, "/signin");
  await robot.click("summary:has-text('API key file')");
  await robot.fill("textarea[name=apiKey]", robotKey);
  await robot.click("#signin-apikey");
  await robot.waitForSelector(".notice.error");
  seen.robotSignIn = await robot.textContent(".notice.error");
  seen.robotPath = new URL(robot.url()).pathname;
  // The row shows the new rule without a reload.
  await admin.waitForFunction(() => document.querySelector("#main table tbody tr").textContent.includes("Required for everyone"));
  await shot(admin, "mfa-enforcement-edit");
  seen.ruleAfterSet = await admin.$eval("#main table tbody tr", (r) => r.textContent);
  seen.bannerPages = {};
  for (const path of ["/activities", "/policies", "/admin/security", "/audit"]) {
    await go(member, path);
    const banner = await member.$("#mfa-grace-banner");
    seen.bannerPages[path] = banner ? await banner.$eval("time", (t) => t.getAttribute("datetime")) : null;
    if (path === "/activities") await shot(member, "mfa-grace-banner", { fullPage: false });
  }
  seen.bannerDeadlineMs = Date.parse(seen.bannerPages["/activities"]);

  // Past the deadline on both clocks: the session has expired too, so sign in again;
  // every page now leads to set-up.
  setServerClockOffset(clockFile, PAST_DEADLINE_MS);
  await member.clock.setSystemTime(Date.now() + PAST_DEADLINE_MS);
  await member.goto(baseUrl.replace("127.0.0.1", "localhost") + "/activities");
  await member.waitForURL("**/signin**");
  seen.expiredTo = new URL(member.url()).pathname;
  await signInWithKey(member, memberKey);
  seen.redirects = {};
  for (const path of ["/activities", "/policies", "/admin/security", "/audit", "/mfa-policies"]) {
    await go(member, path);
    seen.redirects[path] = new URL(member.url()).pathname;
  }
  seen.overdueBanner = await member.textContent("#mfa-overdue-banner");
  await shot(member, "mfa-overdue-setup", { fullPage: false });

  // Enrol an authenticator app (codes at the server's time); its answer carries the recovery codes, once.
  await member.click("#totp-card summary");
  await member.click("#start-totp");
  await member.waitForSelector("#totp-secret");
  const uri = await member.getAttribute("#totp-secret", "data-uri");
  await member.fill("input[name=totpCode]", totp(uri, PAST_DEADLINE_MS / 1000));
  await member.click("#confirm-totp");
  await member.waitForSelector("text=Authenticator app confirmed");
  // The first factor comes with the recovery codes: nobody leaves set-up with one factor and no codes.
  await member.waitForSelector("#recovery-codes li");
  seen.recoveryCodes = await member.$$eval("#recovery-codes li", (lis) => lis.length);
  seen.doneDisabledBeforeCheckbox = await member.isDisabled("#codes-done");
  await member.check("#codes-saved");
  await member.click("#codes-done");
  await member.waitForURL("**/admin/security");
  await member.waitForSelector("main[data-ready]");
  for (const path of ["/activities", "/policies"]) {
    await go(member, path);
    (seen.afterEnrolment ||= {})[path] = {
      path: new URL(member.url()).pathname,
      banner: await member.$$eval("#banner > *", (b) => b.length),
    };
  }
});
