//! OpenID Connect ID tokens from issuers an organization trusts (`set_oidc_issuers`): the
//! issuer's published keys, cached by URL and fetched again when a token names a key the
//! cache does not hold (rotation), at most once per [`RETRY_MS`]; and the checks of one
//! token: RS256 or ES256 only (never `none` or a shared-secret algorithm), a `kid` the
//! issuer publishes, the signature, `iss` and `aud` as configured, `exp` and `iat` by the
//! server's clock. The keys are fetched before an activity's transaction (see
//! [`JwksCache::warm`]); its executor only reads the cache, so no write waits on the network.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::model::OidcIssuer;

/// How long a fetched key set is used before it is fetched again.
pub const FRESH_MS: i64 = 10 * 60 * 1000;
/// The least time between two fetches of one URL (a token naming an unknown `kid` asks for one).
pub const RETRY_MS: i64 = 30 * 1000;
/// Clock skew allowed on `exp` and `iat`.
pub const LEEWAY_MS: i64 = 60 * 1000;
/// The longest token accepted, in bytes.
pub const MAX_TOKEN: usize = 16 * 1024;
/// How many key-set URLs the cache holds (every one is an administrator's `jwksUrl`).
const MAX_URLS: usize = 1024;

/// Fetches a JWK set document (an adapter: the server's does HTTPS with bounded time and size).
#[async_trait]
pub trait JwksFetcher: Send + Sync {
    /// The body at `url`, or why it could not be had.
    async fn fetch(&self, url: &str) -> std::result::Result<String, String>;
}

/// A fetcher for engines without network access: every fetch fails.
#[derive(Debug, Default)]
pub struct NoJwks;

#[async_trait]
impl JwksFetcher for NoJwks {
    async fn fetch(&self, url: &str) -> std::result::Result<String, String> {
        Err(format!("this engine fetches no keys ({url})"))
    }
}

struct Cached {
    set: Option<JwkSet>,
    fetched_at: i64,
    attempted_at: i64,
}

/// Issuers' key sets by URL.
pub struct JwksCache {
    fetcher: Arc<dyn JwksFetcher>,
    sets: Mutex<HashMap<String, Cached>>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwksCache")
    }
}

impl Default for JwksCache {
    fn default() -> Self {
        JwksCache::new(Arc::new(NoJwks))
    }
}

impl JwksCache {
    /// An empty cache over `fetcher`.
    pub fn new(fetcher: Arc<dyn JwksFetcher>) -> Self {
        JwksCache { fetcher, sets: Mutex::default() }
    }

    /// Fetches `url`'s key set unless a fresh one holds `kid`, or it was tried within
    /// [`RETRY_MS`]. A failed fetch keeps what was cached; verification then finds no key.
    pub async fn warm(&self, url: &str, kid: &str, now: i64) {
        {
            let Ok(mut sets) = self.sets.lock() else { return };
            if let Some(c) = sets.get(url) {
                let holds = c.set.as_ref().is_some_and(|s| s.find(kid).is_some());
                if (holds && c.fetched_at + FRESH_MS > now) || c.attempted_at + RETRY_MS > now {
                    return;
                }
            }
            if sets.len() >= MAX_URLS && !sets.contains_key(url) {
                let oldest = sets.iter().min_by_key(|(_, c)| c.attempted_at).map(|(u, _)| u.clone());
                oldest.map(|u| sets.remove(&u));
            }
            let entry = sets.entry(url.to_owned()).or_insert(Cached { set: None, fetched_at: 0, attempted_at: 0 });
            entry.attempted_at = now;
        }
        let fetched = self.fetcher.fetch(url).await;
        let parsed = fetched.and_then(|body| serde_json::from_str::<JwkSet>(&body).map_err(|e| e.to_string()));
        match parsed {
            Ok(set) => {
                if let Ok(mut sets) = self.sets.lock()
                    && let Some(c) = sets.get_mut(url)
                {
                    c.set = Some(set);
                    c.fetched_at = now;
                }
            }
            Err(why) => tracing::warn!(jwks_url = url, error = %why, "could not fetch an OIDC issuer's keys"),
        }
    }

    /// The cached key `kid` of `url`'s set.
    pub fn key(&self, url: &str, kid: &str) -> Option<Jwk> {
        let sets = self.sets.lock().ok()?;
        sets.get(url)?.set.as_ref()?.find(kid).cloned()
    }
}

/// What a token's header and unverified payload name: where to look for its key. Nothing
/// here is trusted until [`verify`] has checked the signature.
#[derive(Debug, Clone)]
pub struct TokenHint {
    /// The `iss` claim.
    pub issuer: String,
    /// The header's `kid`.
    pub kid: String,
    /// The header's `alg`.
    pub alg: Algorithm,
}

/// Reads the header's `kid` and the payload's `iss` of `token`, unverified.
pub fn hint(token: &str) -> Result<TokenHint> {
    use base64::Engine as _;
    if token.len() > MAX_TOKEN {
        return Err(Error::invalid(format!("oidcToken: longer than {MAX_TOKEN} bytes")));
    }
    let header = jsonwebtoken::decode_header(token).map_err(|e| malformed(format!("is not a signed JWT ({e})")))?;
    let kid = header.kid.ok_or_else(|| malformed("names no key (`kid`)".to_owned()))?;
    let payload = token.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| malformed("has a payload that is not base64url".to_owned()))?;
    #[derive(Deserialize)]
    struct Iss {
        iss: String,
    }
    let Iss { iss } = serde_json::from_slice(&bytes).map_err(|_| malformed("names no issuer (`iss`)".to_owned()))?;
    Ok(TokenHint { issuer: iss, kid, alg: header.alg })
}

/// A token whose signature, issuer, audience and times were checked.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    /// `iss`.
    pub issuer: String,
    /// The `aud` value the organization accepts.
    pub audience: String,
    /// `sub`.
    pub subject: String,
    /// `nonce`, if any.
    pub nonce: Option<String>,
    /// `exp`, ms since epoch.
    pub expires_at: i64,
    /// SHA-256 of the token (hex): what is recorded as spent.
    pub hash: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct IdClaims {
    iss: String,
    sub: String,
    aud: Audience,
    exp: i64,
    iat: i64,
    #[serde(default)]
    nonce: Option<String>,
}

fn malformed(why: String) -> Error {
    Error::invalid(format!("parameters.oidcToken: the OIDC token {why}"))
}

fn refused(why: String) -> Error {
    Error::Unauthenticated(format!("the OIDC token {why}"))
}

/// Checks `token` against the issuers an organization trusts, with keys from `cache`, at `now`.
pub fn verify(token: &str, trusted: &[OidcIssuer], cache: &JwksCache, now: i64) -> Result<VerifiedToken> {
    let TokenHint { issuer, kid, alg } = hint(token)?;
    if !matches!(alg, Algorithm::RS256 | Algorithm::ES256) {
        return Err(refused(format!("is signed with {alg:?}; RS256 and ES256 are accepted")));
    }
    let config = trusted
        .iter()
        .find(|t| t.issuer == issuer)
        .ok_or_else(|| refused(format!("is from `{}`, an issuer this organization does not trust", clip(&issuer))))?;
    let jwk = cache
        .key(&config.jwks_url, &kid)
        .ok_or_else(|| refused(format!("names key `{}`, which its issuer does not publish", clip(&kid))))?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| refused(format!("names a key twofold cannot use ({e})")))?;
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[&config.issuer]);
    validation.set_audience(&config.audiences);
    // Times are checked below by the server's clock, not the system's.
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<IdClaims>(token, &key, &validation)
        .map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            refused(match e.kind() {
                ErrorKind::InvalidSignature => "has a signature that does not verify".to_owned(),
                ErrorKind::InvalidAudience => "is for another audience".to_owned(),
                ErrorKind::InvalidIssuer => "is from another issuer".to_owned(),
                ErrorKind::InvalidAlgorithm => "is signed with an algorithm its key is not for".to_owned(),
                other => format!("is not valid ({other:?})"),
            })
        })?
        .claims;
    let expires_at = claims.exp.saturating_mul(1000);
    if expires_at + LEEWAY_MS <= now {
        return Err(refused("has expired".to_owned()));
    }
    if claims.iat.saturating_mul(1000) > now + LEEWAY_MS {
        return Err(refused("is issued in the future".to_owned()));
    }
    let audiences = match claims.aud {
        Audience::One(a) => vec![a],
        Audience::Many(a) => a,
    };
    let audience = audiences
        .into_iter()
        .find(|a| config.audiences.contains(a))
        .ok_or_else(|| refused("is for another audience".to_owned()))?;
    Ok(VerifiedToken {
        issuer: claims.iss,
        audience,
        subject: claims.sub,
        nonce: claims.nonce,
        expires_at,
        hash: hex::encode(Sha256::digest(token.as_bytes())),
    })
}

/// The nonce a login token must carry for `public_key`: hex SHA-256 of the key's hex text,
/// as Turnkey's clients set it (`sha256(publicKey)`).
pub fn nonce_for(public_key: &str) -> String {
    hex::encode(Sha256::digest(public_key.as_bytes()))
}

fn clip(s: &str) -> String {
    crate::crypto::clip(s)
}
