//! Checkpoints (C2SP `tlog-checkpoint`: origin line, tree size, base64 tree head) and the
//! signed notes that carry them (C2SP `signed-note`, Ed25519), in the same text forms as
//! Go's `golang.org/x/mod/sumdb/note`, so any witness of that ecosystem can keep them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::merkle::Hash;

/// The signature type byte of Ed25519 in signed notes.
const ED25519: u8 = 0x01;
/// What begins a signature line: an em dash and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";
/// Signature lines read from one note at most (Go's limit).
const MAX_SIGNATURES: usize = 100;

fn malformed(what: &'static str, why: impl Into<String>) -> Error {
    Error::Malformed { what, why: why.into() }
}

/// A log's signed statement of its size and head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Which log (its first line), e.g. `example.com/twofold/audit/<organization id>`.
    pub origin: String,
    /// How many leaves.
    pub size: u64,
    /// The tree head of those leaves.
    pub root: Hash,
}

impl Checkpoint {
    /// The note text: `origin\nsize\nbase64(root)\n`.
    pub fn to_text(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.size, STANDARD.encode(self.root))
    }

    /// Reads a checkpoint's text (extension lines after the third are allowed and ignored).
    pub fn parse(text: &str) -> Result<Checkpoint> {
        let body = text.strip_suffix('\n').ok_or_else(|| malformed("checkpoint", "it does not end in a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().filter(|o| !o.is_empty()).ok_or_else(|| malformed("checkpoint", "no origin"))?;
        let size = lines.next().ok_or_else(|| malformed("checkpoint", "no tree size"))?;
        let canonical = size == "0" || (!size.starts_with('0') && size.bytes().all(|b| b.is_ascii_digit()));
        let size: u64 = size.parse().ok().filter(|_| canonical).ok_or_else(|| {
            malformed("checkpoint", format!("tree size `{size}` is not a decimal without leading zeros"))
        })?;
        let root = lines.next().ok_or_else(|| malformed("checkpoint", "no root hash"))?;
        let root: Hash = STANDARD
            .decode(root)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| malformed("checkpoint", "the root hash is not 32 bytes of base64"))?;
        if lines.any(str::is_empty) {
            return Err(malformed("checkpoint", "an extension line is empty"));
        }
        Ok(Checkpoint { origin: origin.to_owned(), size, root })
    }
}

/// A key name as signed notes allow it: not empty, no spaces, no `+`.
fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '+' || c.is_control()) {
        return Err(malformed("key name", format!("`{name}` must be non-empty, without spaces or `+`")));
    }
    Ok(())
}

/// SHA-256(name || 0x0A || 0x01 || public key)[:4].
fn key_id(name: &str, public: &VerifyingKey) -> [u8; 4] {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update([b'\n', ED25519])
        .chain_update(public.as_bytes())
        .finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// Splits `<name>+<hex id>+<base64(0x01 || 32 bytes)>` and checks the id against the key.
fn parse_key_text(what: &'static str, text: &str) -> Result<(String, [u8; 4], [u8; 32])> {
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(malformed(what, "expected <name>+<hex key id>+<base64 key>"));
    };
    check_name(name)?;
    let id: [u8; 4] = hex::decode(id)
        .ok()
        .filter(|_| id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| malformed(what, "the key id is not 8 lowercase hex digits"))?;
    let raw = STANDARD.decode(key).map_err(|_| malformed(what, "the key is not base64"))?;
    let (Some((&ED25519, key)), 33) = (raw.split_first(), raw.len()) else {
        return Err(malformed(what, "the key is not an Ed25519 key (0x01 and 32 bytes)"));
    };
    let key: [u8; 32] = key.try_into().map_err(|_| malformed(what, "the key is not 32 bytes"))?;
    Ok((name.to_owned(), id, key))
}

/// Signs notes with one Ed25519 key under one name.
pub struct NoteSigner {
    name: String,
    id: [u8; 4],
    key: SigningKey,
}

impl std::fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoteSigner").field("name", &self.name).field("id", &hex::encode(self.id)).finish()
    }
}

impl NoteSigner {
    /// A signer for `name` with the Ed25519 key whose 32-byte seed is `seed`.
    pub fn new(name: &str, seed: &[u8; 32]) -> Result<Self> {
        check_name(name)?;
        let key = SigningKey::from_bytes(seed);
        Ok(NoteSigner { name: name.to_owned(), id: key_id(name, &key.verifying_key()), key })
    }

    /// A signer from Go's private key text, `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`.
    pub fn from_skey(text: &str) -> Result<Self> {
        let rest = text.strip_prefix("PRIVATE+KEY+").ok_or_else(|| malformed("signer key", "no PRIVATE+KEY+"))?;
        let (name, id, seed) = parse_key_text("signer key", rest)?;
        let signer = NoteSigner::new(&name, &seed)?;
        if signer.id != id {
            return Err(malformed("signer key", "the key id does not match the key"));
        }
        Ok(signer)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Go's private key text (what [`NoteSigner::from_skey`] reads); keep it as secret as the key.
    pub fn to_skey(&self) -> String {
        let mut raw = vec![ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!("PRIVATE+KEY+{}+{}+{}", self.name, hex::encode(self.id), STANDARD.encode(raw))
    }

    /// The verifier of this signer's notes.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier { name: self.name.clone(), id: self.id, key: self.key.verifying_key() }
    }

    fn signature_line(&self, text: &str) -> String {
        let signature = self.key.sign(text.as_bytes());
        let mut blob = self.id.to_vec();
        blob.extend_from_slice(&signature.to_bytes());
        format!("{SIGNATURE_PREFIX}{} {}\n", self.name, STANDARD.encode(blob))
    }
}

/// Checks notes signed by one Ed25519 key under one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl NoteVerifier {
    /// A verifier from Go's verifier key text, `<name>+<hex id>+<base64(0x01 || public key)>`.
    pub fn from_vkey(text: &str) -> Result<Self> {
        let (name, id, key) = parse_key_text("verifier key", text)?;
        let key = VerifyingKey::from_bytes(&key).map_err(|_| malformed("verifier key", "not an Ed25519 point"))?;
        if key_id(&name, &key) != id {
            return Err(malformed("verifier key", "the key id does not match the key"));
        }
        Ok(NoteVerifier { name, id, key })
    }

    /// Go's verifier key text, what witnesses are given.
    pub fn to_vkey(&self) -> String {
        let mut raw = vec![ED25519];
        raw.extend_from_slice(self.key.as_bytes());
        format!("{}+{}+{}", self.name, hex::encode(self.id), STANDARD.encode(raw))
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Signs `text` (non-empty, ending in a newline, no other control characters) with every
/// signer: the text, a blank line, one signature line each.
pub fn sign_note(text: &str, signers: &[&NoteSigner]) -> Result<String> {
    if !text.ends_with('\n') || text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(malformed("note", "the text must end in a newline and hold no other control characters"));
    }
    let mut note = format!("{text}\n");
    for signer in signers {
        note.push_str(&signer.signature_line(text));
    }
    Ok(note)
}

/// Opens a signed note: its text, if a signature by one of `verifiers` verifies and none by
/// them fails (signatures by other keys are ignored, as the format requires).
pub fn open_note(note: &str, verifiers: &[&NoteVerifier]) -> Result<String> {
    if note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(malformed("note", "it holds control characters"));
    }
    let split = note.rfind("\n\n").ok_or_else(|| malformed("note", "no blank line before the signatures"))?;
    let (text, signatures) = (&note[..=split], &note[split + 2..]);
    let lines = signatures.strip_suffix('\n').ok_or_else(|| malformed("note", "it does not end in a newline"))?;
    let mut verified = false;
    for (i, line) in lines.split('\n').enumerate() {
        if i >= MAX_SIGNATURES {
            return Err(malformed("note", format!("more than {MAX_SIGNATURES} signatures")));
        }
        let (name, blob) = line
            .strip_prefix(SIGNATURE_PREFIX)
            .and_then(|l| l.split_once(' '))
            .ok_or_else(|| malformed("note", "a signature line is not `— <name> <base64>`"))?;
        let blob = STANDARD.decode(blob).map_err(|_| malformed("note", "a signature is not base64"))?;
        let Some((id, signature)) = blob.split_first_chunk::<4>() else {
            return Err(malformed("note", "a signature is shorter than its key id"));
        };
        let Some(verifier) = verifiers.iter().find(|v| v.name == name && &v.id == id) else { continue };
        let signature = <[u8; 64]>::try_from(signature)
            .map(|s| ed25519_dalek::Signature::from_bytes(&s))
            .map_err(|_| Error::Signature(format!("the signature by `{name}` is not 64 bytes")))?;
        verifier
            .key
            .verify_strict(text.as_bytes(), &signature)
            .map_err(|_| Error::Signature(format!("the signature by `{name}` does not verify")))?;
        verified = true;
    }
    if !verified {
        return Err(Error::Signature("no signature by a trusted key".into()));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    // golang.org/x/mod/sumdb/note's own test vector (note_test.go).
    const SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                        then you don't know what your problem is.\n";
    const SIGNED: &str = "\u{2014} PeterNeumann \
                          x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

    #[test]
    fn signs_and_opens_byte_for_byte_as_go_sumdb_note_does() {
        let signer = NoteSigner::from_skey(SKEY).unwrap();
        assert_eq!(signer.verifier().to_vkey(), VKEY);
        assert_eq!(signer.to_skey(), SKEY);
        let note = sign_note(TEXT, &[&signer]).unwrap();
        assert_eq!(note, format!("{TEXT}\n{SIGNED}"), "Ed25519 is deterministic: Go's exact note");
        let verifier = NoteVerifier::from_vkey(VKEY).unwrap();
        assert_eq!(open_note(&note, &[&verifier]).unwrap(), TEXT);
        // An edited text, another key, a key with the same name: refused.
        assert!(open_note(&note.replace("cryptography", "cryptographY"), &[&verifier]).is_err());
        let other = NoteSigner::new("PeterNeumann", &[7; 32]).unwrap();
        assert!(matches!(open_note(&note, &[&other.verifier()]), Err(Error::Signature(_))));
        // A second signature by an unknown key is ignored; one by the known key that fails rejects.
        let cosigned = sign_note(TEXT, &[&other, &signer]).unwrap();
        assert_eq!(open_note(&cosigned, &[&verifier]).unwrap(), TEXT);
        let forged = note.replace("x08go/", "x08go+");
        assert!(open_note(&forged, &[&verifier]).is_err());
        assert!(NoteVerifier::from_vkey(&VKEY.replace("c74f20a3", "c74f20a4")).is_err(), "id must match");
        assert!(NoteSigner::new("has space", &[1; 32]).is_err());
        assert!(sign_note("no newline", &[&signer]).is_err());
    }

    #[test]
    fn checkpoints_round_trip_and_refuse_what_is_not_one() {
        let c = Checkpoint { origin: "example.com/audit/org-1".into(), size: 12, root: [9; 32] };
        let text = c.to_text();
        assert_eq!(text, format!("example.com/audit/org-1\n12\n{}\n", STANDARD.encode([9u8; 32])));
        assert_eq!(Checkpoint::parse(&text).unwrap(), c);
        assert_eq!(Checkpoint::parse(&format!("{text}extension line\n")).unwrap(), c);
        for bad in [
            "example.com/audit/org-1\n012\nCQkJ\n".to_owned(),
            "example.com/audit/org-1\n12\nCQkJ\n".to_owned(),
            "\n12\n".to_owned(),
            text.trim_end().to_owned(),
            format!("{text}\n"),
        ] {
            assert!(Checkpoint::parse(&bad).is_err(), "{bad:?}");
        }
    }
}
