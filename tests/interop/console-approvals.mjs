// The approvals page (/activities) in Debian's Chromium, as the real root sees it: who
// started each waiting activity (name beside id) and what its intent says (bidi controls
// shown as escapes). Prints one JSON object. Usage: node console-approvals.mjs <baseUrl> <keyFile> <shotDir>
import { readFileSync } from "node:fs";
import { openConsole } from "./console-lib.mjs";

const [baseUrl, keyFile, shotDir] = process.argv.slice(2);
const key = readFileSync(keyFile, "utf8");
const seen = {};
const { user, go, shot, signInWithKey, run } = await openConsole(baseUrl, shotDir, seen);

await run(async () => {
  const root = await user("root");
  await signInWithKey(root, key);
  await go(root, "/activities");
  await root.waitForSelector("#waiting li.item");
  seen.by = await root.locator("#waiting li.item .by").allTextContents();
  seen.ids = await root.locator("#waiting li.item .by .user-id").allTextContents();
  seen.bdi = await root.locator("#waiting li.item .by bdi.user-name").count();
  await root.locator("#waiting li.item details summary").first().click();
  seen.intent = await root.locator("#waiting li.item pre.intent").first().textContent();
  seen.history = await root.locator("#history-table tbody td .user-id").allTextContents();
  await shot(root, "approvals-names");
});
