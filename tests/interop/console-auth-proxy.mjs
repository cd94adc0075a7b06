// The console's auth proxy card on /admin/security, in Debian's Chromium: an administrator
// turns email-code sign-in on, is told which web origin line is wrong, saves the app name,
// sign-up and an allowed origin, and turns it off again. Prints one JSON object.
// Usage: node console-auth-proxy.mjs <baseUrl> <keyFile> <shotDir>
import { readFileSync } from "node:fs";
import { openConsole } from "./console-lib.mjs";

const [baseUrl, keyFile, shotDir] = process.argv.slice(2);
const key = readFileSync(keyFile, "utf8");
const seen = {};
const { user, go, shot, signInWithKey, run } = await openConsole(baseUrl, shotDir, seen);

await run(async () => {
  const admin = await user("admin");
  await signInWithKey(admin, key);
  await go(admin, "/admin/security");
  await admin.waitForSelector("#proxy-state");
  seen.before = (await admin.textContent("#proxy-state")).trim();
  await admin.click("#proxy-enable");
  await admin.waitForSelector("#proxy-save, #auth-proxy .notice.error", { timeout: 15000 });
  seen.enableError = await admin.locator("#auth-proxy .notice.error").allTextContents();
  await admin.waitForSelector("#proxy-save", { timeout: 15000 });
  seen.enabled = (await admin.textContent("#proxy-state")).trim();

  await admin.fill("#proxy-app-name", "Acme");
  await admin.check("#proxy-signup");
  await admin.check("#proxy-passkey-signup");
  seen.configId = (await admin.textContent("#proxy-config-id")).trim();
  await admin.fill("#proxy-origins", "https://app.example.com\nhttps://app.example.com/login");
  await admin.click("#proxy-save");
  await admin.waitForSelector("#auth-proxy .notice.error");
  seen.badOrigin = await admin.textContent("#auth-proxy .notice.error");

  await admin.fill("#proxy-origins", "https://app.example.com");
  await admin.click("#proxy-save");
  await admin.waitForSelector("#auth-proxy .notice:has-text('Saved.')");
  await admin.waitForFunction(() => !document.querySelector("#auth-proxy .notice"), null, { timeout: 15000 });
  seen.saved = {
    appName: await admin.inputValue("#proxy-app-name"),
    signup: await admin.isChecked("#proxy-signup"),
    passkeySignup: await admin.isChecked("#proxy-passkey-signup"),
    origins: await admin.inputValue("#proxy-origins"),
  };
  await shot(admin, "auth-proxy");

  admin.dismissDialogs = false;
  await admin.click("#proxy-disable");
  await admin.waitForSelector("#proxy-enable", { timeout: 15000 });
  seen.after = (await admin.textContent("#proxy-state")).trim();
  seen.dialogsSeen = (seen.dialogs || []).length;
});
