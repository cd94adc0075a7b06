"""Schemathesis hooks for twofold: every API call is made as the root user, so the
fuzzed bodies get past the stamp check and reach parsing, policies and the store.

With TWOFOLD_KEY_FILE set (the bootstrap `root-api-key.json`), each POST body is given
the root organization's id and a fresh `timestampMs`, serialized once, and stamped
(`X-Stamp`, P-256 ECDSA over the exact bytes sent). Without it, calls go out unstamped.
Loaded by scripts/schemathesis.sh through SCHEMATHESIS_HOOKS.
"""

import base64
import json
import os
import time

import schemathesis
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

_KEY = None


def _key():
    global _KEY
    path = os.environ.get("TWOFOLD_KEY_FILE")
    if _KEY is None and path:
        with open(path) as f:
            data = json.load(f)
        private = ec.derive_private_key(int(data["privateKey"], 16), ec.SECP256R1())
        _KEY = (private, data["publicKey"], data["organizationId"])
    return _KEY


def _stamp(private, public_hex, body: bytes) -> str:
    signature = private.sign(body, ec.ECDSA(hashes.SHA256())).hex()
    stamp = {"publicKey": public_hex, "scheme": "SIGNATURE_SCHEME_TK_API_P256", "signature": signature}
    return base64.urlsafe_b64encode(json.dumps(stamp).encode()).decode().rstrip("=")


@schemathesis.hook
def before_call(context, case, kwargs):
    key = _key()
    if key is None or not case.path.startswith("/public/"):
        return
    private, public_hex, organization_id = key
    body = case.body
    if isinstance(body, dict):
        body = dict(body)
        body["organizationId"] = organization_id
        if case.path.startswith("/public/v1/submit/"):
            body["timestampMs"] = str(int(time.time() * 1000))
    if isinstance(body, bytes):
        raw = body
    else:
        try:
            raw = json.dumps(body).encode()
        except TypeError:  # no body at all (NotSet)
            raw = b""

    case.body = raw
    # Exactly one stamp: drop whatever the generator put in the stamp headers.
    headers = {k: v for k, v in (case.headers or {}).items() if not k.lower().startswith("x-stamp")}
    headers["X-Stamp"] = _stamp(private, public_hex, raw)
    case.headers = headers
    if os.environ.get("TWOFOLD_HOOK_DEBUG"):
        with open(os.environ["TWOFOLD_HOOK_DEBUG"], "a") as f:
            f.write(f"{case.path} {sorted(headers)} {kwargs} {raw[:80]!r}\n")
