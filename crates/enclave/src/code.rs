//! One-time code generation (CSPRNG, no modulo bias) and constant-time comparison.

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{Result, fill_random};

/// Crockford's base32 alphabet: digits and capitals without I, L, O, U.
pub const CROCKFORD_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Shortest code accepted (NIST 800-63B: at least 6 digits).
pub const MIN_CODE_LENGTH: u32 = 6;
/// Longest code accepted.
pub const MAX_CODE_LENGTH: u32 = 9;

/// A fresh code of `length` symbols, Crockford base32 when `alphanumeric`, else decimal digits.
pub(crate) fn generate(length: usize, alphanumeric: bool) -> Result<Zeroizing<String>> {
    let mut code = Zeroizing::new(String::with_capacity(length));
    let mut buf = Zeroizing::new([0u8; 32]);
    while code.len() < length {
        fill_random(buf.as_mut())?;
        for &b in buf.iter() {
            if code.len() == length {
                break;
            }
            if let Some(symbol) = symbol_for(b, alphanumeric) {
                code.push(char::from(symbol));
            }
        }
    }
    Ok(code)
}

/// Maps one uniformly random byte to a symbol, or rejects it so every symbol stays equally likely.
fn symbol_for(byte: u8, alphanumeric: bool) -> Option<u8> {
    if alphanumeric {
        // 256 is a multiple of 32: the low five bits are uniform, nothing is rejected.
        Some(CROCKFORD_ALPHABET[usize::from(byte & 0x1f)])
    } else if byte < 250 {
        // 250 is the largest multiple of 10 below 256; bytes 250..=255 would favour 0..=5.
        Some(b'0' + byte % 10)
    } else {
        None
    }
}

/// What the user typed, reduced to the canonical form codes are generated in.
///
/// Surrounding whitespace is dropped; for base32 codes letters are upper-cased, hyphens and
/// inner spaces dropped, and Crockford's look-alikes mapped (`I`/`L` to `1`, `O` to `0`).
pub(crate) fn normalize(input: &str, alphanumeric: bool) -> Zeroizing<String> {
    let trimmed = input.trim();
    if !alphanumeric {
        return Zeroizing::new(trimmed.to_owned());
    }
    Zeroizing::new(
        trimmed
            .chars()
            .filter(|c| *c != '-' && *c != ' ')
            .map(|c| match c.to_ascii_uppercase() {
                'I' | 'L' => '1',
                'O' => '0',
                other => other,
            })
            .collect(),
    )
}

/// Whether `submitted` equals `expected`, compared in constant time over the code's bytes.
pub(crate) fn matches(expected: &str, submitted: &str, alphanumeric: bool) -> bool {
    let submitted = normalize(submitted, alphanumeric);
    // The length of a code is public (it is in the request); only the symbols are secret.
    expected.len() == submitted.len() && bool::from(expected.as_bytes().ct_eq(submitted.as_bytes()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;

    #[test]
    fn lengths_and_alphabets() {
        for len in 6..=9 {
            let c = generate(len, true).unwrap();
            assert_eq!(c.len(), len);
            assert!(c.bytes().all(|b| CROCKFORD_ALPHABET.contains(&b)), "{}", c.as_str());
            let d = generate(len, false).unwrap();
            assert_eq!(d.len(), len);
            assert!(d.bytes().all(|b| b.is_ascii_digit()), "{}", d.as_str());
        }
    }

    #[test]
    fn byte_mapping_is_exactly_uniform() {
        // Every byte value once: each symbol must be hit equally often, the rest rejected.
        let mut digits = [0u32; 10];
        let mut letters = [0u32; 32];
        for b in 0..=255u8 {
            if let Some(s) = symbol_for(b, false) {
                digits[usize::from(s - b'0')] += 1;
            }
            let s = symbol_for(b, true).unwrap();
            let i = CROCKFORD_ALPHABET.iter().position(|&a| a == s).unwrap();
            letters[i] += 1;
        }
        assert!(digits.iter().all(|&n| n == 25), "{digits:?}");
        assert!(letters.iter().all(|&n| n == 8), "{letters:?}");
    }

    #[test]
    fn generated_symbols_are_roughly_uniform() {
        // 20k digits: each symbol expects 2000; a biased mapping (byte % 10) would put 0..=5
        // at ~2030 and 6..=9 at ~1950 — too small to see here, which is why the exact test above
        // exists. This one catches gross faults (a stuck symbol, a missing one).
        let mut counts = [0u32; 10];
        for _ in 0..2500 {
            for b in generate(8, false).unwrap().bytes() {
                counts[usize::from(b - b'0')] += 1;
            }
        }
        assert!(counts.iter().all(|&n| (1700..=2300).contains(&n)), "{counts:?}");
    }

    #[test]
    fn comparison_normalises_case_and_crockford_lookalikes() {
        assert!(matches("0AB1C2D3E", "0ab1c2d3e", true));
        assert!(matches("01ABC", "oIabc", true));
        assert!(matches("01ABC", " 0l-ABC ", true));
        assert!(!matches("01ABC", "01ABD", true));
        assert!(!matches("01ABC", "01AB", true));
        assert!(matches("123456", " 123456\n", false));
        assert!(!matches("123456", "12345", false));
        assert!(!matches("123456", "I23456", false));
    }
}
