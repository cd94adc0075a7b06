//! Secrets at rest: TOTP seeds and the session-token signing key are sealed with
//! AES-256-GCM under the installation's secrets key before they reach the database.
//!
//! A sealed value is `v1.<base64url(nonce || ciphertext || tag)>`. The associated
//! data names what the value is for (`totp:<device id>`), so a sealed seed copied
//! into another row does not open there.
//!
//! Secrets that arrive inside a request (a webhook's signing secret, a TOTP or recovery
//! code in an approval, an OTP verification token or attempt) are redacted before the
//! request is stored as an activity's intent or a vote's message: each secret field's
//! JSON literal is replaced by `"twofold-sealed:<sealed literal>"`
//! ([`SecretsKey::seal_fields`]). The rest of the body keeps its exact bytes, so whoever
//! holds the secrets key restores the signed body byte for byte
//! ([`SecretsKey::open_fields`]) and the stamp verifies again; nobody else reads the
//! secret. This sealing is deterministic (a synthetic nonce, as in SIV: RFC 5297) so that
//! the same request redacts to the same text and a resend is still recognised; it is
//! bound to the organization, the user and the field, so it leaks only that one user
//! sent the same value in the same field twice.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::value::RawValue;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};

const PREFIX: &str = "v1.";
const NONCE_LEN: usize = 12;
/// What a redacted secret field's string value starts with.
pub const SEALED_FIELD_PREFIX: &str = "twofold-sealed:";

/// The installation's 256-bit secrets key. Never printed, wiped on drop.
#[derive(Clone)]
pub struct SecretsKey([u8; 32]);

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsKey(..)")
    }
}

impl Drop for SecretsKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Fills `buf` from the operating system's CSPRNG.
pub fn random_bytes(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| Error::Internal(format!("the system random number generator failed: {e}")))
}

impl SecretsKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self> {
        let mut key = [0u8; 32];
        random_bytes(&mut key)?;
        Ok(SecretsKey(key))
    }

    /// Parses 64 hex characters (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self> {
        let bytes = Zeroizing::new(
            hex::decode(text.trim()).map_err(|_| Error::invalid("the secrets key must be 64 hex characters"))?,
        );
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| Error::invalid("the secrets key must be 32 bytes (64 hex characters)"))?;
        Ok(SecretsKey(key))
    }

    /// The key as 64 hex characters, for writing a new key file.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.0.into())
    }

    /// Seals `plaintext` for the purpose named by `context`.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        random_bytes(&mut nonce)?;
        self.seal_with_nonce(nonce, context, plaintext)
    }

    fn seal_with_nonce(&self, nonce: [u8; NONCE_LEN], context: &str, plaintext: &[u8]) -> Result<String> {
        let sealed = self
            .cipher()
            .encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad: context.as_bytes() })
            .map_err(|_| Error::Internal("sealing a secret failed".to_owned()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    /// The key that derives synthetic nonces for deterministic sealing (never the AEAD key itself).
    fn nonce_key(&self) -> ring::hmac::Key {
        let derive = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.0);
        let tag = Zeroizing::new(ring::hmac::sign(&derive, b"twofold redaction nonce key v1").as_ref().to_vec());
        ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &tag)
    }

    /// Seals `plaintext` for `context` with a nonce derived from both (HMAC-SHA256), so
    /// equal inputs seal to equal text. Only for redacting request fields, where a resend
    /// must redact alike.
    pub fn seal_deterministic(&self, context: &str, plaintext: &[u8]) -> Result<String> {
        let mut ctx = ring::hmac::Context::with_key(&self.nonce_key());
        ctx.update(&(context.len() as u64).to_be_bytes());
        ctx.update(context.as_bytes());
        ctx.update(plaintext);
        let tag = ctx.sign();
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&tag.as_ref()[..NONCE_LEN]);
        self.seal_with_nonce(nonce, context, plaintext)
    }

    /// Opens a value sealed for `context`. Fails if it was sealed under another key or
    /// context, or altered.
    pub fn open(&self, context: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>> {
        let bad = || Error::Internal(format!("a sealed secret ({context}) does not open with this secrets key"));
        let body = sealed.strip_prefix(PREFIX).ok_or_else(bad)?;
        let raw = URL_SAFE_NO_PAD.decode(body).map_err(|_| bad())?;
        if raw.len() < NONCE_LEN {
            return Err(bad());
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| bad())?;
        let plain = self
            .cipher()
            .decrypt(&Nonce::from(nonce), Payload { msg: ciphertext, aad: context.as_bytes() })
            .map_err(|_| bad())?;
        Ok(Zeroizing::new(plain))
    }
}

/// The sealing context of secret `field` sent by `user_id` in `org_id`.
pub fn field_context(org_id: &str, user_id: &str, field: &str) -> String {
    format!("request-secret:{org_id}:{user_id}:{field}")
}

/// A top-level member of a JSON object, its value borrowed from the text.
type Member<'a> = (String, &'a RawValue);

/// The members of the JSON object `text`, in order, with duplicates kept.
fn members(text: &str) -> Result<Vec<Member<'_>>> {
    struct Members<'a>(Vec<Member<'a>>);
    impl<'de> serde::Deserialize<'de> for Members<'de> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Members<'de>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> std::result::Result<Self::Value, A::Error> {
                    let mut out = Vec::new();
                    while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                        out.push(entry);
                    }
                    Ok(Members(out))
                }
            }
            d.deserialize_map(V)
        }
    }
    serde_json::from_str::<Members<'_>>(text)
        .map(|m| m.0)
        .map_err(|e| Error::invalid(format!("request body is not a JSON object: {e}")))
}

/// Byte offset of `inner` (a sub-slice of `outer`) in `outer`.
fn offset_in(outer: &str, inner: &str) -> usize {
    (inner.as_ptr() as usize).saturating_sub(outer.as_ptr() as usize)
}

/// The spans (start, end) in `text` of the values of `fields` in the object at `path`. A
/// field is a member name, or a dotted path into the member (`oauthProviders.*.oidcToken`:
/// `*` is every element of an array).
fn field_spans<'a>(text: &'a str, path: &[&str], fields: &[&str]) -> Result<Vec<(usize, usize, &'a str, String)>> {
    let mut object = text;
    for step in path {
        let found = members(object)?.into_iter().filter(|(k, _)| k == step).map(|(_, v)| v.get()).next_back();
        let Some(inner) = found else { return Ok(Vec::new()) };
        object = inner;
    }
    let mut spans = Vec::new();
    // The object itself must parse (a request that is no JSON object seals nothing and fails).
    members(object)?;
    for field in fields {
        let steps: Vec<&str> = field.split('.').collect();
        collect_spans(text, object, &steps, field, &mut spans);
    }
    spans.sort_by_key(|s| s.0);
    Ok(spans)
}

/// Pushes the spans in `text` of the values at `steps` below `value` (a sub-slice of `text`).
/// Shapes that do not fit hold nothing to seal (the request's own parse refuses them).
fn collect_spans<'a>(
    text: &'a str,
    value: &'a str,
    steps: &[&str],
    field: &str,
    out: &mut Vec<(usize, usize, &'a str, String)>,
) {
    let Some((step, rest)) = steps.split_first() else {
        let start = offset_in(text, value);
        out.push((start, start + value.len(), value, field.to_owned()));
        return;
    };
    if *step == "*" {
        for item in serde_json::from_str::<Vec<&RawValue>>(value).unwrap_or_default() {
            collect_spans(text, item.get(), rest, field, out);
        }
        return;
    }
    for (_, v) in members(value).unwrap_or_default().into_iter().filter(|(k, _)| k == step) {
        collect_spans(text, v.get(), rest, field, out);
    }
}

/// `text` with each span replaced by what `with` makes of its literal and field.
fn replace_spans(
    text: &str,
    spans: Vec<(usize, usize, &str, String)>,
    mut with: impl FnMut(&str, &str) -> Result<String>,
) -> Result<String> {
    let mut out = String::with_capacity(text.len() + 64 * spans.len());
    let mut at = 0;
    for (start, end, literal, field) in spans {
        out.push_str(text.get(at..start).ok_or_else(|| Error::Internal("redaction span out of order".into()))?);
        out.push_str(&with(literal, &field)?);
        at = end;
    }
    out.push_str(text.get(at..).unwrap_or_default());
    Ok(out)
}

impl SecretsKey {
    /// `text` (a JSON object) with the values of `fields` in the object at `path` sealed:
    /// each value's exact JSON literal becomes `"twofold-sealed:<sealed>"`, every other
    /// byte stays as it was.
    pub fn seal_fields(
        &self,
        text: &str,
        path: &[&str],
        fields: &[&str],
        org_id: &str,
        user_id: &str,
    ) -> Result<String> {
        if fields.is_empty() {
            return Ok(text.to_owned());
        }
        let spans = field_spans(text, path, fields)?;
        replace_spans(text, spans, |literal, field| {
            let sealed = self.seal_deterministic(&field_context(org_id, user_id, field), literal.as_bytes())?;
            Ok(format!("\"{SEALED_FIELD_PREFIX}{sealed}\""))
        })
    }

    /// Undoes [`Self::seal_fields`]: the exact text that was sealed.
    pub fn open_fields(
        &self,
        text: &str,
        path: &[&str],
        fields: &[&str],
        org_id: &str,
        user_id: &str,
    ) -> Result<String> {
        if fields.is_empty() {
            return Ok(text.to_owned());
        }
        let spans = field_spans(text, path, fields)?;
        replace_spans(text, spans, |literal, field| {
            let literal = self.open_field_literal(literal, org_id, user_id, field)?;
            String::from_utf8(literal.to_vec()).map_err(|_| Error::Internal("a sealed field is not UTF-8".into()))
        })
    }

    /// The JSON literal sealed in `value` (a sealed field's JSON string, quotes included).
    fn open_field_literal(&self, value: &str, org_id: &str, user_id: &str, field: &str) -> Result<Zeroizing<Vec<u8>>> {
        let inner: String =
            serde_json::from_str(value).map_err(|_| Error::Internal(format!("field `{field}` is not sealed")))?;
        self.open_field(&inner, org_id, user_id, field)
    }

    /// Opens one sealed field value (`twofold-sealed:...`) to the JSON literal it hides.
    fn open_field(&self, value: &str, org_id: &str, user_id: &str, field: &str) -> Result<Zeroizing<Vec<u8>>> {
        let sealed = value
            .strip_prefix(SEALED_FIELD_PREFIX)
            .ok_or_else(|| Error::Internal(format!("field `{field}` was stored without being sealed")))?;
        self.open(&field_context(org_id, user_id, field), sealed)
    }

    /// The JSON value a sealed field value (`twofold-sealed:...`) stands for (a string for a
    /// secret, a whole list for a parameter with secrets inside).
    pub fn open_field_json(&self, value: &str, org_id: &str, user_id: &str, field: &str) -> Result<serde_json::Value> {
        let literal = self.open_field(value, org_id, user_id, field)?;
        serde_json::from_slice(&literal).map_err(|_| Error::Internal(format!("sealed field `{field}` is not JSON")))
    }

    /// The string a sealed field value (`twofold-sealed:...`) stands for.
    pub fn open_field_string(
        &self,
        value: &str,
        org_id: &str,
        user_id: &str,
        field: &str,
    ) -> Result<Zeroizing<String>> {
        let literal = self.open_field(value, org_id, user_id, field)?;
        let text: String = serde_json::from_slice(&literal)
            .map_err(|_| Error::Internal(format!("sealed field `{field}` is not a JSON string")))?;
        Ok(Zeroizing::new(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_only_in_its_context() {
        let key = SecretsKey::generate().expect("rng");
        let sealed = key.seal("totp:a", b"seed bytes").expect("seal");
        assert!(!sealed.contains("seed"));
        assert_eq!(key.open("totp:a", &sealed).expect("open").as_slice(), b"seed bytes");
        assert!(key.open("totp:b", &sealed).is_err(), "another row's context must not open it");
        assert!(SecretsKey::generate().expect("rng").open("totp:a", &sealed).is_err(), "another key must not open it");
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(key.open("totp:a", &tampered).is_err());
    }

    #[test]
    fn hex_round_trip_and_bad_keys() {
        let key = SecretsKey::generate().expect("rng");
        let again = SecretsKey::from_hex(&key.to_hex()).expect("parse");
        let sealed = key.seal("x", b"1").expect("seal");
        assert_eq!(again.open("x", &sealed).expect("open").as_slice(), b"1");
        assert!(SecretsKey::from_hex("abcd").is_err());
        assert!(SecretsKey::from_hex("zz").is_err());
        assert_eq!(format!("{key:?}"), "SecretsKey(..)");
    }

    #[test]
    fn sealed_fields_hide_the_secret_and_restore_the_exact_body() {
        let key = SecretsKey::generate().expect("rng");
        let body = r#"{"type":"X", "parameters" : {"url":"https://a","secret" :"s3cr\u0065t-value-0123456789abcdef","n":1},"parameters2":{"secret":"keep"}}"#;
        let fields = ["secret"];
        let sealed = key.seal_fields(body, &["parameters"], &fields, "org", "user").expect("seal");
        assert!(!sealed.contains("s3cr"), "{sealed}");
        assert!(sealed.contains(r#""parameters2":{"secret":"keep"}"#), "other objects stay as they were");
        assert!(sealed.contains(SEALED_FIELD_PREFIX));
        assert_eq!(sealed, key.seal_fields(body, &["parameters"], &fields, "org", "user").expect("again"));
        assert_ne!(sealed, key.seal_fields(body, &["parameters"], &fields, "org", "other").expect("other user"));
        assert_eq!(key.open_fields(&sealed, &["parameters"], &fields, "org", "user").expect("open"), body);
        assert!(key.open_fields(&sealed, &["parameters"], &fields, "org", "other").is_err(), "bound to its user");
        let value: serde_json::Value = serde_json::from_str(&sealed).expect("still JSON");
        let inner = value["parameters"]["secret"].as_str().expect("a string");
        assert_eq!(
            key.open_field_string(inner, "org", "user", "secret").expect("open").as_str(),
            "s3cret-value-0123456789abcdef"
        );
        let params = key.seal_fields(r#"{"secret":"abc"}"#, &[], &fields, "org", "user").expect("top level");
        assert!(!params.contains("abc"));
        assert!(key.seal_fields("[1]", &[], &fields, "o", "u").is_err());
    }

    #[test]
    fn nested_secrets_are_sealed_in_their_places() {
        let key = SecretsKey::generate().expect("rng");
        let body = r#"{"parameters":{"userId":"u","oauthProviders":[{"providerName":"a","oidcToken":"eyJ.one.sig"},{"oidcToken":"eyJ.two.sig","providerName":"b"}]}}"#;
        let fields = ["oauthProviders.*.oidcToken"];
        let sealed = key.seal_fields(body, &["parameters"], &fields, "org", "user").expect("seal");
        assert!(!sealed.contains("eyJ"), "{sealed}");
        assert!(sealed.contains(r#""providerName":"a""#) && sealed.contains(r#""providerName":"b""#), "{sealed}");
        let value: serde_json::Value = serde_json::from_str(&sealed).expect("still JSON");
        assert_eq!(value["parameters"]["oauthProviders"].as_array().map(Vec::len), Some(2), "still a list");
        assert_eq!(key.open_fields(&sealed, &["parameters"], &fields, "org", "user").expect("open"), body);
        let odd = r#"{"parameters":{"oauthProviders":"not a list"}}"#;
        assert_eq!(key.seal_fields(odd, &["parameters"], &fields, "org", "user").expect("nothing to seal"), odd);
    }
}
