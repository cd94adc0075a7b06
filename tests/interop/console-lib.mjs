// Helpers shared by the browser tests (the console's, and the app pages of api-cors.mjs,
// proxy-cors.mjs and core-chromium.mjs): Debian's Chromium through playwright-core,
// one context per user with a CDP virtual authenticator, page navigation, screenshots
// and TOTP codes from Python's pyotp.
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { spawnSync } from "node:child_process";
import { chromium } from "playwright-core";

/** A TOTP code for `uri` at now + `offsetSeconds`, computed by pyotp. */
export function totp(uri, offsetSeconds) {
  const script = "import pyotp,sys,time; print(pyotp.parse_uri(sys.argv[1]).at(time.time() + int(sys.argv[2])))";
  const r = spawnSync("python3", ["-c", script, uri, String(Math.round(offsetSeconds))], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`pyotp: ${r.stderr}`);
  return r.stdout.trim();
}

/** Moves the server's test clock (`--unsafe-test-clock-file`) to `offsetMs` from real time, atomically. */
export function setServerClockOffset(clockFile, offsetMs) {
  writeFileSync(`${clockFile}.new`, String(offsetMs));
  renameSync(`${clockFile}.new`, clockFile);
}

/** Starts the browser; returns helpers bound to it and to `seen` (what the test asserts on). */
/** Debian's Chromium, headless. */
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync"],
  });
}

/** An app of another origin than twofold's, at http://<host>:<port>: `/` is `html`, and each
 * path of `scripts` is served as JavaScript. Resolves to its origin and a function that stops it. */
export async function serveAppPage(port, host, html, scripts = {}) {
  const app = createServer((req, res) => {
    if (scripts[req.url] !== undefined) {
      res.writeHead(200, { "content-type": "text/javascript" });
      res.end(scripts[req.url]);
      return;
    }
    res.writeHead(200, { "content-type": "text/html" });
    res.end(html);
  });
  await new Promise((resolve) => app.listen(Number(port), host, resolve));
  return { origin: `http://${host}:${port}`, close: () => app.close() };
}

export async function openConsole(baseUrl, shotDir, seen) {
  const origin = baseUrl.replace("127.0.0.1", "localhost");
  mkdirSync(shotDir, { recursive: true });
  const browser = await launchChromium();

  /** A fresh browser profile with a virtual passkey authenticator (or, with `webauthn: false`, a
   * browser with no WebAuthn at all); `page.dismissDialogs` cancels confirm(). */
  async function user(name, { webauthn = true } = {}) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    if (!webauthn) {
      await context.addInitScript(() => {
        delete window.PublicKeyCredential;
        Object.defineProperty(navigator, "credentials", { value: undefined });
      });
    }
    const page = await context.newPage();
    page.on("dialog", (d) => {
      (seen.dialogs ||= []).push(d.message());
      return page.dismissDialogs ? d.dismiss() : d.accept();
    });
    page.on("pageerror", (e) => { (seen.pageErrors ||= []).push(`${name}: ${e.message}`); });
    page.on("console", (m) => { if (m.type() === "error") (seen.consoleErrors ||= []).push(`${name}: ${m.text()}`); });
    if (!webauthn) return page;
    const cdp = await context.newCDPSession(page);
    await cdp.send("WebAuthn.enable");
    await cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    });
    return page;
  }

  /** Opens `path` and waits until the page has drawn. */
  async function go(page, path) {
    await page.goto(`${origin}${path}`);
    await page.waitForSelector("main[data-ready]", { timeout: 15000 });
  }

  /** A full-page screenshot `<shotDir>/<name>.png`. */
  const shot = (page, name, opts = {}) => page.screenshot({ path: `${shotDir}/${name}.png`, fullPage: true, ...opts });

  /** Signs in with an API key file's JSON text. */
  async function signInWithKey(page, key) {
    await page.goto(`${origin}/signin`);
    await page.waitForSelector("main[data-ready]");
    await page.click("summary:has-text('API key file')");
    await page.fill("textarea[name=apiKey]", key);
    await page.click("#signin-apikey");
    await page.waitForURL((url) => !url.pathname.startsWith("/signin"));
    await page.waitForSelector("main[data-ready]");
  }

  /** Runs `body`, prints `seen` as JSON (or the error), and closes the browser. */
  async function run(body) {
    try {
      await body();
      console.log(JSON.stringify(seen));
    } catch (e) {
      console.error(e.stack || String(e));
      console.error(JSON.stringify(seen));
      process.exitCode = 1;
    } finally {
      await browser.close();
    }
  }

  return { origin, browser, user, go, shot, signInWithKey, run };
}

/**
 * Signs out (the session and its key are deleted), then back in with the passkey; returns
 * the stored key count after sign-out, the organization the sign-in page remembered and
 * who the console then says is signed in.
 */
export async function passkeyRoundTrip(page) {
  await page.click("#sign-out");
  await page.waitForURL("**/signin");
  const keysAfterSignOut = await storedKeyCount(page);
  await page.waitForSelector("main[data-ready]");
  const orgRemembered = await page.inputValue("input[name=organizationId]");
  await page.click("#signin-passkey");
  await page.waitForURL("**/activities");
  await page.waitForSelector("main[data-ready]");
  return { keysAfterSignOut, orgRemembered, signedInWithPasskeyAs: await page.textContent("#who-name") };
}

/** How many session records the console keeps in IndexedDB (0 after sign-out). */
export function storedKeyCount(page) {
  return page.evaluate(() => new Promise((resolve) => {
    const req = indexedDB.open("twofold-console", 1);
    req.onsuccess = () => { const g = req.result.transaction("session").objectStore("session").count(); g.onsuccess = () => resolve(g.result); };
  }));
}

/** The stored session key's type, extractability and curve, and the format it exported to (null: none). */
export function sessionKeyCheck(page) {
  return page.evaluate(() => new Promise((resolve) => {
    const req = indexedDB.open("twofold-console", 1);
    req.onsuccess = () => {
      const g = req.result.transaction("session").objectStore("session").get("current");
      g.onsuccess = async () => {
        const key = g.result.privateKey;
        let exported = null;
        for (const format of ["pkcs8", "jwk"]) {
          try { await crypto.subtle.exportKey(format, key); exported = format; } catch (e) { /* refused, as it must be */ }
        }
        resolve({ type: key.type, extractable: key.extractable, algorithm: key.algorithm.namedCurve, exported });
      };
    };
  }));
}
