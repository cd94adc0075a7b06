// Turnkey's browser SDK, @turnkey/core 2.8.1 unchanged, in Debian's Chromium against twofold,
// configured the way an app configures it for Turnkey: `apiBaseUrl`, `authProxyUrl`,
// `authProxyConfigId`, `organizationId` = the parent organization, the page on its own
// origin (http://localhost:<app port>; twofold on 127.0.0.1:<its port>). Chromium's virtual
// authenticator stands in for the user's platform passkey. Each step's answer or error is
// printed in one JSON object.
//
// The one step no self-hosted server can serve as the SDK does it: `verifyOtp` seals the code
// to Turnkey's production enclave key. The page verifies through the SDK's own
// `httpClient.proxyVerifyOtpV2` with the attempt sealed by @turnkey/crypto's
// `encryptOtpCodeToBundle(code, bundle, publicKey, <twofold's pinned enclave key>)` — the
// workaround docs/API.md gives apps.
//
// Usage: node core-chromium.mjs <twofold URL> <parent org id> <config id> <outbox dir> <app port> <pinned key> <email>
import { createServer } from "node:http";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { chromium } from "playwright-core";

const [base, organizationId, authProxyConfigId, outbox, appPort, pinnedKey, email] = process.argv.slice(2);
const here = fileURLToPath(new URL(".", import.meta.url));
const bundle = await build({
  entryPoints: [join(here, "core-page.js")],
  bundle: true,
  format: "iife",
  platform: "browser",
  target: "chrome120",
  write: false,
  logLevel: "silent",
  define: { "process.env.NODE_ENV": '"production"', global: "globalThis" },
});
const script = bundle.outputFiles[0].text;

const app = createServer((req, res) => {
  if (req.url === "/core.js") {
    res.writeHead(200, { "content-type": "text/javascript" });
    res.end(script);
    return;
  }
  res.writeHead(200, { "content-type": "text/html" });
  res.end('<!doctype html><title>An app</title><p>signed out</p><script src="/core.js"></script>');
});
await new Promise((resolve) => app.listen(Number(appPort), "localhost", resolve));
const pageOrigin = `http://localhost:${appPort}`;

/** The code in the newest message of the dev outbox (a line indented by four spaces). */
function latestCode() {
  const names = readdirSync(outbox).filter((n) => n.endsWith(".eml") && !n.startsWith(".")).sort();
  const raw = readFileSync(join(outbox, names[names.length - 1]), "utf8");
  const [head, ...rest] = raw.split("\r\n\r\n");
  let body = rest.join("\r\n\r\n");
  if (/content-transfer-encoding:\s*base64/i.test(head)) {
    body = Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
  }
  return body.split(/\r?\n/).find((l) => l.startsWith("    ")).trim();
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
const seen = { pageOrigin };
try {
  const page = await browser.newPage();
  page.on("console", (m) => (seen.console ??= []).push(m.text().slice(0, 300)));
  await page.goto(`${pageOrigin}/`);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });

  // Each step runs in the page on the one client, and records its answer or its error.
  const step = (name, fn, arg) =>
    page.evaluate(
      async ([name, fn, arg]) => {
        try {
          const f = new Function("client", "tf", "arg", `return (async () => { ${fn} })();`);
          const out = await f(window.client, window.twofoldInterop, arg);
          return { [name]: out === undefined ? null : out };
        } catch (e) {
          return { [name]: { error: String(e?.message ?? e), cause: String(e?.cause?.message ?? e?.cause ?? "") } };
        }
      },
      [name, fn, arg],
    ).then((r) => Object.assign(seen, r)[name]);

  await step("init", `
    window.client = new tf.TurnkeyClient({
      apiBaseUrl: arg.base, authProxyUrl: arg.base + "/auth-proxy", authProxyConfigId: arg.authProxyConfigId,
      organizationId: arg.organizationId, passkeyConfig: { rpId: "localhost" },
    });
    await window.client.init();
    return "ready";`, { base, authProxyConfigId, organizationId });
  await step("walletKitConfig", `return await client.httpClient.proxyGetWalletKitConfig({});`);
  const started = await step("initOtp", `return await client.initOtp({ otpType: tf.OtpType.Email, contact: arg });`, email);
  const code = latestCode();
  // The SDK's own verifyOtp checks the bundle against Turnkey's production key: it must refuse ours.
  await step("sdkVerifyOtp", `
    const publicKey = await client.createApiKeyPair();
    await client.verifyOtp({ otpId: arg.otpId, otpCode: arg.code, otpEncryptionTargetBundle: arg.otpEncryptionTargetBundle, contact: arg.email, otpType: tf.OtpType.Email, publicKey });
    return "verified";`, { ...started, code, email });
  await step("verifyOtp", `
    const publicKey = await client.createApiKeyPair();
    const encryptedOtpBundle = await tf.encryptOtpCodeToBundle(arg.code, arg.otpEncryptionTargetBundle, publicKey, arg.pinnedKey);
    const { verificationToken } = await client.httpClient.proxyVerifyOtpV2({ otpId: arg.otpId, encryptedOtpBundle });
    window.verificationToken = verificationToken;
    return { publicKey, hasToken: typeof verificationToken === "string" };`, { ...started, code, pinnedKey });
  await step("accountBefore", `return await client.httpClient.proxyGetAccount({ filterType: "EMAIL", filterValue: arg, verificationToken: window.verificationToken });`, email);
  await step("signUp", `
    const r = await client.signUpWithOtp({ verificationToken: window.verificationToken, contact: arg, otpType: tf.OtpType.Email });
    return { hasSession: typeof r.sessionToken === "string" };`, email);
  await step("session", `const s = await client.getSession(); return { organizationId: s?.organizationId, userId: s?.userId };`);
  await step("accountAfter", `return await client.httpClient.proxyGetAccount({ filterType: "EMAIL", filterValue: arg, verificationToken: window.verificationToken });`, email);
  await step("rename", `await client.updateUserName({ userName: "Core User" }); const u = await client.fetchUser(); return u.userName;`);
  await step("addPasskey", `return await client.addPasskey({ name: "core-passkey" });`);
  await step("logout", `await client.logout(); return (await client.getSession()) ?? null;`);
  await step("loginWithPasskey", `
    const r = await client.loginWithPasskey({});
    const s = await client.getSession();
    return { hasSession: typeof r.sessionToken === "string", organizationId: s?.organizationId, userId: s?.userId };`);
  await step("userAfterPasskeyLogin", `const u = await client.fetchUser(); return { userName: u.userName, authenticators: u.authenticators?.length ?? 0, email: u.userEmail };`);
  await step("deleteSubOrganization", `return await client.deleteSubOrganization({ deleteWithoutExport: true });`);
} catch (e) {
  seen.fatal = String(e?.stack ?? e);
} finally {
  await browser.close();
  app.close();
}
console.log(JSON.stringify(seen));
