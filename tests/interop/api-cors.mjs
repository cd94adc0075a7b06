// A web app on another origin calls twofold's public API from a page in Debian's Chromium,
// the way @turnkey/core does: `fetch` POST with `Content-Type: application/json`,
// `X-Client-Version` and an `X-Stamp` made by Turnkey's own @turnkey/api-key-stamper (so
// the browser sends a CORS preflight first and lets the page read the answer only if the
// server names its origin). The page is served by this script on 127.0.0.1:<app port>,
// twofold on another port: two origins. Prints one JSON object.
// Usage: node api-cors.mjs <twofold base URL> <key file> <app port>
import { readFileSync } from "node:fs";
import { ApiKeyStamper } from "@turnkey/api-key-stamper";
import { launchChromium, serveAppPage } from "./console-lib.mjs";

const [base, keyFile, appPort] = process.argv.slice(2);
const key = JSON.parse(readFileSync(keyFile, "utf8"));
const stamper = new ApiKeyStamper({ apiPublicKey: key.publicKey, apiPrivateKey: key.privateKey });
const body = JSON.stringify({ organizationId: key.organizationId });
const stamp = await stamper.stamp(body);

const app = await serveAppPage(appPort, "127.0.0.1", "<!doctype html><title>An app</title><p>signed in</p>");
const pageOrigin = app.origin;
const browser = await launchChromium();
const seen = { pageOrigin };
try {
  const page = await browser.newPage();
  await page.goto(`${pageOrigin}/app`);
  const call = ([url, body, headers]) =>
    fetch(url, { method: "POST", headers, body, redirect: "follow" })
      .then(async (r) => ({ status: r.status, body: await r.json() }))
      .catch((e) => ({ error: String(e) }));
  const sdkHeaders = { "Content-Type": "application/json", "X-Client-Version": "@turnkey/core@2.8.1" };
  const url = `${base}/public/v1/query/whoami`;
  seen.whoami = await page.evaluate(call, [url, body, { ...sdkHeaders, [stamp.stampHeaderName]: stamp.stampHeaderValue }]);
  seen.unstamped = await page.evaluate(call, [url, body, sdkHeaders]);
} finally {
  await browser.close();
  app.close();
}
console.log(JSON.stringify(seen));
