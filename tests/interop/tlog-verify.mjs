// An independent verifier of twofold's audit-log proofs, written from the specifications
// (RFC 9162 §2.1.3.2 and §2.1.4.2, C2SP signed-note and tlog-checkpoint) with nothing but
// node:crypto, to check what the Rust implementation produces.
//
// stdin: {"op": "inclusion", "leaf": "<the leaf's bytes as text>", "leafIndex", "treeSize",
//         "proof": [hex], "rootHash": hex}
//      | {"op": "consistency", "fromSize", "toSize", "fromRoot": hex, "toRoot": hex, "proof": [hex]}
//      | {"op": "checkpoint", "note": "<signed note>", "verifierKey": "<name>+<hex id>+<base64>"}
// stdout: {"ok": true, ...} or {"ok": false, "error": "..."}
import { createHash, createPublicKey, verify } from "node:crypto";

const sha256 = (...parts) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
};
const node = (l, r) => sha256(Buffer.from([1]), l, r);
const leafHash = (bytes) => sha256(Buffer.from([0]), bytes);
const hex = (s) => Buffer.from(s, "hex");

function inclusion({ leaf, leafIndex, treeSize, proof, rootHash }) {
  let fn = BigInt(leafIndex), sn = BigInt(treeSize) - 1n;
  if (fn > sn) throw new Error("leaf index past the tree");
  let r = leafHash(Buffer.from(leaf, "utf8"));
  for (const p of proof.map(hex)) {
    if (sn === 0n) throw new Error("proof too long");
    if ((fn & 1n) === 1n || fn === sn) {
      r = node(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      r = node(r, p);
    }
    fn >>= 1n; sn >>= 1n;
  }
  if (sn !== 0n) throw new Error("proof too short");
  if (!r.equals(hex(rootHash))) throw new Error("the leaf does not lead to the root");
  return { leafHash: leafHash(Buffer.from(leaf, "utf8")).toString("hex") };
}

function consistency({ fromSize, toSize, fromRoot, toRoot, proof }) {
  const m = BigInt(fromSize), n = BigInt(toSize);
  const first = hex(fromRoot), second = hex(toRoot);
  if (m > n) throw new Error("the old tree is larger");
  if (m === n) { if (proof.length || !first.equals(second)) throw new Error("same size, other root"); return {}; }
  if (m === 0n) { if (proof.length) throw new Error("a proof from the empty tree must be empty"); return {}; }
  const path = proof.map(hex);
  if ((m & (m - 1n)) === 0n) path.unshift(first);
  if (!path.length) throw new Error("empty proof");
  let fn = m - 1n, sn = n - 1n;
  while ((fn & 1n) === 1n) { fn >>= 1n; sn >>= 1n; }
  let fr = path[0], sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) throw new Error("proof too long");
    if ((fn & 1n) === 1n || fn === sn) {
      fr = node(c, fr); sr = node(c, sr);
      while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      sr = node(sr, c);
    }
    fn >>= 1n; sn >>= 1n;
  }
  if (sn !== 0n) throw new Error("proof too short");
  if (!fr.equals(first)) throw new Error("does not lead to the old root");
  if (!sr.equals(second)) throw new Error("does not lead to the new root");
  return {};
}

function checkpoint({ note, verifierKey }) {
  // The base64 key may itself hold `+`: only the first two separate.
  const [name, idHex, ...rest] = verifierKey.split("+");
  const keyB64 = rest.join("+");
  const raw = Buffer.from(keyB64, "base64");
  if (raw.length !== 33 || raw[0] !== 1) throw new Error("not an Ed25519 verifier key");
  const pub = raw.subarray(1);
  const id = sha256(Buffer.from(name + "\n"), Buffer.from([1]), pub).subarray(0, 4);
  if (id.toString("hex") !== idHex) throw new Error("the key id does not match the key");
  const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: pub.toString("base64url") }, format: "jwk" });
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new Error("no signatures");
  const text = note.slice(0, split + 1);
  let verified = false;
  for (const line of note.slice(split + 2).split("\n").filter((l) => l)) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m) throw new Error(`bad signature line ${line}`);
    const sig = Buffer.from(m[2], "base64");
    if (m[1] !== name || !sig.subarray(0, 4).equals(id)) continue;
    if (!verify(null, Buffer.from(text, "utf8"), key, sig.subarray(4))) throw new Error("the signature does not verify");
    verified = true;
  }
  if (!verified) throw new Error("no signature by this key");
  const [origin, size, root] = text.split("\n");
  if (!/^(0|[1-9][0-9]*)$/.test(size)) throw new Error("bad tree size");
  const rootHash = Buffer.from(root, "base64");
  if (rootHash.length !== 32) throw new Error("bad root hash");
  return { origin, treeSize: size, rootHash: rootHash.toString("hex") };
}

const input = JSON.parse(await new Promise((resolve) => {
  let data = "";
  process.stdin.on("data", (c) => (data += c));
  process.stdin.on("end", () => resolve(data));
}));
const ops = { inclusion, consistency, checkpoint };
try {
  console.log(JSON.stringify({ ok: true, ...ops[input.op](input) }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: String(e.message) }));
}
