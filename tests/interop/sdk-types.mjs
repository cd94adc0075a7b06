// Checks recorded requests and answers (record-calls.mjs) against @turnkey/http's own
// TypeScript types: each becomes an object literal of the endpoint's `T…Body` / `T…Response`
// type in a generated file that the TypeScript compiler checks strictly, so a field that is
// missing, mistyped or extra fails. twofold's documented extensions (EXTENSIONS) are taken
// out first, each with why. Prints {checked, endpoints, errors}.
// Usage: node sdk-types.mjs <callsFile>
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const here = dirname(fileURLToPath(import.meta.url));
const generated = join(here, "node_modules/@turnkey/http/dist/__generated__/services/coordinator/public/v1");
const calls = JSON.parse(readFileSync(process.argv[2], "utf8"));

// The SDK method of each path, from its own client: `this.getWhoami = async (input) => { return this.request("/public/v1/query/whoami", input)`.
const client = readFileSync(join(generated, "public_api.client.js"), "utf8");
const methods = new Map();
for (const m of client.matchAll(/this\.(\w+) = async \(input\) => \{\s*return this\.request\("([^"]+)", input\)/g)) {
  methods.set(m[2], m[1]);
}

/** twofold's additions to Turnkey's answers, by path (dotted fields): each is documented in docs/API.md. */
const EXTENSIONS = {
  // What MFA enforcement asks of the caller (docs/API.md, MFA enforcement).
  "/public/v1/query/whoami": ["mfaEnrollment"],
  // The first factor comes with recovery codes, shown once (docs/API.md, factors).
  "/public/v1/submit/create_authenticators": [
    "activity.result.createAuthenticatorsResult.recoveryCodeSetId",
    "activity.result.createAuthenticatorsResult.recoveryCodeCount",
    "activity.result.createAuthenticatorsResult.recoveryCodes",
  ],
  // A generated signing secret, shown once beside the result (docs/API.md, webhooks).
  "/public/v1/submit/create_webhook_endpoint": ["activity.result.createWebhookEndpointResult.secret"],
};

const strip = (url, response) => {
  const copy = structuredClone(response);
  for (const path of EXTENSIONS[url] || []) {
    const steps = path.split(".");
    const parent = steps.slice(0, -1).reduce((o, k) => (o == null ? o : o[k]), copy);
    if (parent != null) delete parent[steps[steps.length - 1]];
  }
  return copy;
};

const lines = [];
const imports = new Set();
let checked = 0;
const endpoints = new Set();
for (const [i, call] of calls.entries()) {
  const method = methods.get(call.url);
  if (!method) continue; // a twofold endpoint the SDK does not have (called through client.request)
  const name = method[0].toUpperCase() + method.slice(1);
  imports.add(`T${name}Body`);
  imports.add(`T${name}Response`);
  lines.push(`// ${call.url}`);
  lines.push(`export const body${i}: T${name}Body = ${JSON.stringify(call.body)};`);
  lines.push(`export const answer${i}: T${name}Response = ${JSON.stringify(strip(call.url, call.response))};`);
  checked += 1;
  endpoints.add(call.url);
}
const dir = join(here, ".generated");
mkdirSync(dir, { recursive: true });
const file = join(dir, "sdk-answers.ts");
writeFileSync(file, [`import type { ${[...imports].join(", ")} } from "../node_modules/@turnkey/http/dist/__generated__/services/coordinator/public/v1/public_api.fetcher";`, ...lines, ""].join("\n"));
const program = ts.createProgram([file], { strict: true, noEmit: true, skipLibCheck: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Node10 });
const errors = ts.getPreEmitDiagnostics(program).map((d) => {
  const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : null;
  const line = where ? d.file.text.split("\n")[where.line] : "";
  const label = where ? d.file.text.split("\n").slice(0, where.line + 1).reverse().find((l) => l.startsWith("// ")) : "";
  return `${label} ${ts.flattenDiagnosticMessageText(d.messageText, " ")} [${line.slice(0, 60)}…]`;
});
console.log(JSON.stringify({ checked, endpoints: [...endpoints].sort(), errors }));
