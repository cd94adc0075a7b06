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
// Usage: node core-chromium.mjs <twofold URL> <parent org id> <config id> <outbox dir> <app port> <pinned key> <email> <parent key file>
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { launchChromium, serveAppPage } from "./console-lib.mjs";
import { TurnkeyClient as TurnkeyHttp } from "@turnkey/http";
import { ApiKeyStamper } from "@turnkey/api-key-stamper";

const [base, organizationId, authProxyConfigId, outbox, appPort, pinnedKey, email, parentKeyFile] = process.argv.slice(2);
const parentKey = JSON.parse(readFileSync(parentKeyFile, "utf8"));
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

const page = '<!doctype html><title>An app</title><p>signed out</p><script src="/core.js"></script>';
const app = await serveAppPage(appPort, "localhost", page, { "/core.js": script });
const pageOrigin = app.origin;

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

const browser = await launchChromium();
const seen = { pageOrigin };
try {
  const page = await browser.newPage();
  page.on("console", (m) => (seen.console ??= []).push(m.text().slice(0, 300)));
  await page.goto(`${pageOrigin}/`);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const authenticator = () =>
    cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    });
  let { authenticatorId } = await authenticator();

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

  // An email code, as the app's OTP form drives it; verified with the documented workaround.
  const verifyWithWorkaround = async (label) => {
    const started = await step(`${label}InitOtp`, `return await client.initOtp({ otpType: tf.OtpType.Email, contact: arg });`, email);
    const code = latestCode();
    await step(`${label}VerifyOtp`, `
      const publicKey = await client.createApiKeyPair();
      const encryptedOtpBundle = await tf.encryptOtpCodeToBundle(arg.code, arg.otpEncryptionTargetBundle, publicKey, arg.pinnedKey);
      const { verificationToken } = await client.httpClient.proxyVerifyOtpV2({ otpId: arg.otpId, encryptedOtpBundle });
      window.verificationToken = verificationToken;
      return { hasToken: typeof verificationToken === "string" };`, { ...started, code, pinnedKey });
    return { started, code };
  };
  const account = (name) =>
    step(name, `return await client.httpClient.proxyGetAccount({ filterType: "EMAIL", filterValue: arg, verificationToken: window.verificationToken });`, email);
  const session = (name) => step(name, `const s = await client.getSession(); return s ? { organizationId: s.organizationId, userId: s.userId } : null;`);

  // Email-code sign-up creating a sub-organization.
  const { started, code } = await verifyWithWorkaround("signUp");
  // The SDK's own verifyOtp checks the bundle against Turnkey's production key: it must refuse ours.
  await step("sdkVerifyOtp", `
    const publicKey = await client.createApiKeyPair();
    await client.verifyOtp({ otpId: arg.otpId, otpCode: arg.code, otpEncryptionTargetBundle: arg.otpEncryptionTargetBundle, contact: arg.email, otpType: tf.OtpType.Email, publicKey });
    return "verified";`, { ...started, code, email });
  await account("accountBefore");
  await step("signUp", `
    const r = await client.signUpWithOtp({ verificationToken: window.verificationToken, contact: arg, otpType: tf.OtpType.Email });
    return { hasSession: typeof r.sessionToken === "string" };`, email);
  await session("afterSignUp");
  await step("logoutAfterSignUp", `await client.logout(); return (await client.getSession()) ?? null;`);

  // OTP login again, as loginOrSignupWithOtp does for an existing account.
  await verifyWithWorkaround("login");
  const found = await account("accountAtLogin");
  await step("otpLogin", `
    const r = await client.loginWithOtp({ verificationToken: window.verificationToken, organizationId: arg });
    return { hasSession: typeof r.sessionToken === "string" };`, found?.organizationId);
  await session("afterOtpLogin");

  // The user's own details.
  await step("rename", `await client.updateUserName({ userName: "Core User" }); return (await client.fetchUser()).userName;`);
  await step("updateEmail", `await client.updateUserEmail({ email: "core-new@example.com" }); return (await client.fetchUser()).userEmail;`);
  await step("updatePhone", `await client.updateUserPhoneNumber({ phoneNumber: "+15555550123" }); return (await client.fetchUser()).userPhoneNumber ?? null;`);

  // A passkey added, then removed; the session refreshed; logout.
  const added = await step("addPasskey", `return await client.addPasskey({ name: "core-passkey" });`);
  // Removing a factor is proven by a factor of the account (step-up), here the passkey itself.
  await step("removePasskeys", `return await client.removePasskeys({ authenticatorIds: arg, stampWith: tf.StamperType.Passkey });`, added);
  await step("authenticatorsAfterRemove", `return (await client.fetchUser()).authenticators?.length ?? 0;`);
  await step("refreshSession", `
    const before = (await client.getSession()).publicKey;
    const r = await client.refreshSession();
    const after = (await client.getSession()).publicKey;
    return { hasSession: typeof r.session === "string", newKey: before !== after };`);
  await step("logout", `await client.logout(); return (await client.getSession()) ?? null;`);
  await step("fetchUserAfterLogout", `await client.fetchUser(); return "fetched";`);

  // Passkey sign-up, logout, passkey login naming the parent organization — on a new device
  // (the old one still holds the removed passkey, which the browser might offer first).
  await cdp.send("WebAuthn.removeVirtualAuthenticator", { authenticatorId });
  ({ authenticatorId } = await authenticator());
  await step("passkeySignUp", `
    const r = await client.signUpWithPasskey({ passkeyDisplayName: "core signup passkey" });
    return { hasSession: typeof r.sessionToken === "string" };`);
  await session("afterPasskeySignUp");
  await step("logoutAfterPasskeySignUp", `await client.logout(); return (await client.getSession()) ?? null;`);
  await step("loginWithPasskey", `
    const r = await client.loginWithPasskey({});
    const s = await client.getSession();
    return { hasSession: typeof r.sessionToken === "string", organizationId: s?.organizationId, userId: s?.userId };`);
  await step("userAfterPasskeyLogin", `const u = await client.fetchUser(); return { userName: u.userName, authenticators: u.authenticators?.length ?? 0 };`);

  // The parent's side: an admin's browser key (made by the SDK, registered for the parent's root
  // user by its backend with @turnkey/http) stamps getSubOrgIds by email.
  const adminKey = await step("adminKey", `return await client.createApiKeyPair();`);
  const parent = new TurnkeyHttp({ baseUrl: base }, new ApiKeyStamper({ apiPublicKey: parentKey.publicKey, apiPrivateKey: parentKey.privateKey }));
  const { userId: rootUserId } = await parent.getWhoami({ organizationId });
  await parent.createApiKeys({
    type: "ACTIVITY_TYPE_CREATE_API_KEYS_V2",
    timestampMs: String(Date.now()),
    organizationId,
    parameters: { userId: rootUserId, apiKeys: [{ apiKeyName: "admin browser", publicKey: adminKey, curveType: "API_KEY_CURVE_P256" }] },
  });
  await step("getSubOrgIds", `
    await client.overrideApiKeyStamper({ temporaryPublicKey: arg.adminKey });
    try {
      return (await client.httpClient.getSubOrgIds({ organizationId: arg.organizationId, filterType: "EMAIL", filterValue: arg.email }, tf.StamperType.ApiKey)).organizationIds;
    } finally {
      await client.overrideApiKeyStamper({ temporaryPublicKey: "" });
    }`, { adminKey, organizationId, email: "core-new@example.com" });

  await step("deleteSubOrganization", `return (await client.deleteSubOrganization({ deleteWithoutExport: true })).subOrganizationUuid;`);
} catch (e) {
  seen.fatal = String(e?.stack ?? e);
} finally {
  await browser.close();
  app.close();
}
console.log(JSON.stringify(seen));
