// Latency of list_suborgs with each filter, through Turnkey's own @turnkey/http client (its
// getSubOrgIds), one request at a time. Prints one JSON object: per filter, p50/p99 in ms and
// the ids found. Usage: node bench-suborgs.mjs <base URL> <key file> <requests> '<[[type, value], …]>'
import { readFileSync } from "node:fs";
import { TurnkeyClient } from "@turnkey/http";
import { ApiKeyStamper } from "@turnkey/api-key-stamper";

const [baseUrl, keyFile, requests, filters] = process.argv.slice(2);
const key = JSON.parse(readFileSync(keyFile, "utf8"));
const client = new TurnkeyClient({ baseUrl }, new ApiKeyStamper({ apiPublicKey: key.publicKey, apiPrivateKey: key.privateKey }));
const out = {};
for (const [filterType, filterValue] of JSON.parse(filters)) {
  const ms = [];
  let found;
  for (let i = 0; i < Number(requests); i++) {
    const t = process.hrtime.bigint();
    found = (await client.getSubOrgIds({ organizationId: key.organizationId, filterType, filterValue })).organizationIds;
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ms.sort((a, b) => a - b);
  const at = (q) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))].toFixed(2);
  out[filterType] = { p50: at(0.5), p99: at(0.99), found };
}
console.log(JSON.stringify(out));
