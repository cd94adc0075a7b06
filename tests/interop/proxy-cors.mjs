// A web app on another origin calls the auth proxy from a page in Debian's Chromium, as an
// application's sign-in form would: `fetch` with a JSON body (so the browser sends a CORS
// preflight first, then the request, and lets the page read the answer only if the server
// names its origin). The app's page is served by this script on 127.0.0.1:<app port>, the
// proxy by twofold on another port: two origins. Prints one JSON object.
// Usage: node proxy-cors.mjs <twofold base URL> <organization id> <contact> <app port>
import { launchChromium, serveAppPage } from "./console-lib.mjs";

const [base, organizationId, contact, appPort] = process.argv.slice(2);
const app = await serveAppPage(appPort, "127.0.0.1", "<!doctype html><title>An app</title><p>sign in</p>");
const pageOrigin = app.origin;
const browser = await launchChromium();
const seen = { pageOrigin };
try {
  const page = await browser.newPage();
  await page.goto(`${pageOrigin}/app`);
  seen.answer = await page.evaluate(async ([url, body]) => {
    try {
      const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
      return { status: r.status, body: await r.json() };
    } catch (e) {
      return { error: String(e) };
    }
  }, [`${base}/auth-proxy/v1/otp_init`, JSON.stringify({ organizationId, contact })]);
} finally {
  await browser.close();
  app.close();
}
console.log(JSON.stringify(seen));
