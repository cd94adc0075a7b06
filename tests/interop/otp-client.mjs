// The client half of the enclave OTP flow, done by Turnkey's own @turnkey/crypto.
// Reads one JSON command on stdin, prints one JSON answer on stdout; exits non-zero on failure
// (the error text on stderr). Driven by crates/enclave/tests/otp_interop.rs.
//
//   {"op":"encrypt","bundle":…,"enclavePublicKey":…,"code":…,"clientPublicKey":…}
//     -> {"bundleSignatureValid":bool,"signedData":{…},"encryptedOtpBundle":"{…}"}
//   {"op":"verify-token","token":…,"enclavePublicKey":…}
//     -> {"claims":{…}}
import { encryptOtpCodeToBundle, verifyOtpVerificationToken, verifyStampSignature } from "@turnkey/crypto";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const cmd = JSON.parse(Buffer.concat(chunks).toString("utf8"));

try {
  if (cmd.op === "encrypt") {
    const parsed = JSON.parse(cmd.bundle);
    const dataText = Buffer.from(parsed.data, "hex").toString("utf8");
    // (a) The bundle's signature, checked on its own: DER ECDSA-SHA256 over the data bytes.
    const bundleSignatureValid = await verifyStampSignature(cmd.enclavePublicKey, parsed.dataSignature, dataText);
    // (b) What a client sends to VERIFY_OTP_V2; this checks the signature against the pinned key again.
    const encryptedOtpBundle = await encryptOtpCodeToBundle(
      cmd.code,
      cmd.bundle,
      cmd.clientPublicKey,
      cmd.enclavePublicKey,
    );
    console.log(JSON.stringify({ bundleSignatureValid, signedData: JSON.parse(dataText), encryptedOtpBundle }));
  } else if (cmd.op === "verify-token") {
    const claims = await verifyOtpVerificationToken(cmd.token, cmd.enclavePublicKey);
    console.log(JSON.stringify({ claims }));
  } else {
    throw new Error(`unknown op ${cmd.op}`);
  }
} catch (e) {
  console.error(String(e?.stack ?? e));
  process.exit(1);
}
