//! Saved recovery codes (NIST "look-up secrets"): 10 per set, each 20 Crockford
//! base32 characters (100 bits) from the OS CSPRNG, shown once and stored only as
//! argon2id hashes. The first 5 characters are a non-secret handle that finds the
//! one hash to check, so a guess costs one argon2 verification, not ten; the 75
//! bits that remain secret are well above the 64 NIST asks for.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secrets::random_bytes;

/// Codes in one set.
pub const CODES_PER_SET: usize = 10;
/// Characters in a code (without separators).
pub const CODE_CHARS: usize = 20;
/// Characters of the non-secret lookup handle.
pub const LOOKUP_CHARS: usize = 5;
// Each symbol carries 5 bits and the lookup handle is not secret: at least 64 secret bits remain.
const _: () = assert!((CODE_CHARS - LOOKUP_CHARS) * 5 >= 64);

/// Crockford's base32 alphabet: no I, L, O or U to misread.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// One new code: what the user sees, and what the store keeps.
pub struct NewCode {
    /// `XXXXX-XXXXX-XXXXX-XXXXX`, shown once.
    pub display: Zeroizing<String>,
    /// The lookup handle (first five characters).
    pub lookup: String,
    /// argon2id PHC string of the normalised code.
    pub hash: String,
}

/// Uppercases, drops separators and maps Crockford's look-alikes (I, L -> 1; O -> 0).
pub fn normalize(code: &str) -> Zeroizing<String> {
    Zeroizing::new(
        code.chars()
            .filter(|c| !matches!(c, '-' | ' ' | '\t'))
            .map(|c| match c.to_ascii_uppercase() {
                'I' | 'L' => '1',
                'O' => '0',
                other => other,
            })
            .collect(),
    )
}

/// The lookup handle of a (normalised) code, if it has the right shape.
pub fn lookup_of(normalized: &str) -> Option<&str> {
    let well_formed = normalized.len() == CODE_CHARS && normalized.bytes().all(|b| ALPHABET.contains(&b));
    well_formed.then(|| &normalized[..LOOKUP_CHARS])
}

fn hasher() -> Argon2<'static> {
    Argon2::default()
}

/// A fresh set of codes.
pub fn generate_set() -> Result<Vec<NewCode>> {
    (0..CODES_PER_SET).map(|_| generate_one()).collect()
}

fn generate_one() -> Result<NewCode> {
    let mut raw = Zeroizing::new([0u8; CODE_CHARS]);
    random_bytes(raw.as_mut())?;
    // 256 is a multiple of 32: masking a uniform byte gives a uniform symbol.
    let code: Zeroizing<String> =
        Zeroizing::new(raw.iter().map(|b| char::from(ALPHABET[usize::from(b & 31)])).collect());
    let mut salt = [0u8; 16];
    random_bytes(&mut salt)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::Internal(format!("salt: {e}")))?;
    let hash = hasher()
        .hash_password(code.as_bytes(), &salt)
        .map_err(|e| Error::Internal(format!("hashing a recovery code failed: {e}")))?
        .to_string();
    let display = Zeroizing::new(
        code.as_bytes().chunks(5).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("-"),
    );
    Ok(NewCode { display, lookup: code[..LOOKUP_CHARS].to_owned(), hash })
}

/// Whether the normalised `code` matches a stored hash.
pub fn matches(normalized: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| hasher().verify_password(normalized.as_bytes(), &parsed).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_has_ten_distinct_well_formed_codes_that_verify() {
        let set = generate_set().expect("codes");
        assert_eq!(set.len(), CODES_PER_SET);
        let mut seen = std::collections::HashSet::new();
        for c in &set {
            assert_eq!(c.display.len(), CODE_CHARS + 3, "{}", c.display.as_str());
            let n = normalize(&c.display);
            assert_eq!(lookup_of(&n), Some(c.lookup.as_str()));
            assert!(matches(&n, &c.hash));
            assert!(!c.hash.contains(n.as_str()), "hash must not contain the code");
            assert!(seen.insert(n.to_string()));
        }
        assert!(!matches(&normalize(&set[0].display), &set[1].hash));
    }

    #[test]
    fn normalisation_forgives_case_separators_and_look_alikes() {
        assert_eq!(normalize("abcde-fghij-klmno-pqrst").as_str(), "ABCDEFGH1JK1MN0PQRST");
        assert_eq!(lookup_of("short"), None);
        assert_eq!(lookup_of("UUUUUUUUUUUUUUUUUUUU"), None, "U is not in the alphabet");
    }
}
