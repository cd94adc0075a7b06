//! The enclave's long-lived keys: a P-256 signing key (target bundles, verification tokens) and
//! AES-256-GCM sealing keys (per-code state kept by the coordinator).
//!
//! The key file is JSON, mode 0600, created atomically; see `docs/ENCLAVE.md` for rotation.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::sec1::ToSec1Point;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result, fill_random};

/// Version of the key file layout this crate writes and reads.
const KEY_FILE_VERSION: u32 = 1;

/// A 256-bit AES-GCM key that seals OTP state, with the id stored next to every sealed blob.
#[derive(Clone)]
pub(crate) struct SealingKey {
    pub(crate) id: [u8; 4],
    pub(crate) key: Zeroizing<[u8; 32]>,
}

impl SealingKey {
    fn generate(avoid_id: Option<[u8; 4]>) -> Result<Self> {
        let mut key = Zeroizing::new([0u8; 32]);
        fill_random(key.as_mut())?;
        let mut id = [0u8; 4];
        loop {
            fill_random(&mut id)?;
            if Some(id) != avoid_id {
                break;
            }
        }
        Ok(SealingKey { id, key })
    }

    fn from_file(entry: &SealingKeyEntry) -> Result<Self> {
        let id: [u8; 4] = hex::decode(&entry.id)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| Error::Keys("a sealing key id is 8 hex characters".into()))?;
        let bytes = Zeroizing::new(
            hex::decode(&entry.key).map_err(|_| Error::Keys("a sealing key is 64 hex characters".into()))?,
        );
        let mut key = Zeroizing::new([0u8; 32]);
        if bytes.len() != 32 {
            return Err(Error::Keys("a sealing key is 64 hex characters".into()));
        }
        key.copy_from_slice(&bytes);
        Ok(SealingKey { id, key })
    }

    fn to_file(&self) -> SealingKeyEntry {
        SealingKeyEntry { id: hex::encode(self.id), key: hex::encode(self.key.as_ref()) }
    }
}

/// The JSON key file as stored on disk; wiped from memory once parsed or written.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct KeyFile {
    version: u32,
    signing_key: String,
    sealing_key: SealingKeyEntry,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous_sealing_key: Option<SealingKeyEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    previous_signing_public_keys: Vec<String>,
}

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct SealingKeyEntry {
    id: String,
    key: String,
}

/// The enclave's keys. Secrets are wiped on drop and never appear in `Debug` output.
#[derive(Clone)]
pub struct EnclaveKeys {
    signing: SigningKey,
    pub(crate) sealing: SealingKey,
    pub(crate) previous_sealing: Option<SealingKey>,
    previous_signing_public: Vec<VerifyingKey>,
}

impl std::fmt::Debug for EnclaveKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnclaveKeys")
            .field("signing_public_key", &self.signing_public_key_hex())
            .field("sealing_key_id", &hex::encode(self.sealing.id))
            .field("previous_sealing_key_id", &self.previous_sealing.as_ref().map(|k| hex::encode(k.id)))
            .finish_non_exhaustive()
    }
}

fn random_signing_key() -> Result<SigningKey> {
    loop {
        let mut bytes = Zeroizing::new([0u8; 32]);
        fill_random(bytes.as_mut())?;
        // A random 32-byte string is a valid scalar except with probability ~2^-32.
        if let Ok(key) = SigningKey::from_slice(bytes.as_ref()) {
            return Ok(key);
        }
    }
}

fn parse_verifying_key(hex_key: &str) -> Result<VerifyingKey> {
    let bytes =
        hex::decode(hex_key.trim()).map_err(|_| Error::Keys("a previous signing public key is not hex".into()))?;
    VerifyingKey::from_sec1_bytes(&bytes).map_err(|_| Error::Keys("a previous signing public key is not P-256".into()))
}

impl EnclaveKeys {
    /// Fresh ephemeral keys (nothing written): for tests and single-process dev runs.
    pub fn generate() -> Result<Self> {
        Ok(EnclaveKeys {
            signing: random_signing_key()?,
            sealing: SealingKey::generate(None)?,
            previous_sealing: None,
            previous_signing_public: Vec::new(),
        })
    }

    /// Loads the key file at `path`, or creates it (mode 0600, atomically) when it does not exist.
    ///
    /// A file readable or writable by group or others is refused, never silently fixed.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        match Self::load(path) {
            Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
            other => return other,
        }
        let keys = Self::generate()?;
        // Publish with a hard link so that two processes racing to create the file never
        // overwrite each other: the loser reads the winner's keys.
        let staging = keys.write_staging(path)?;
        let linked = fs::hard_link(&staging, path);
        let _ = fs::remove_file(&staging);
        match linked {
            Ok(()) => {
                sync_parent(path);
                tracing::info!(path = %path.display(), "created enclave key file");
                Ok(keys)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::load(path),
            Err(e) => Err(Error::Keys(format!("cannot create `{}`: {e}", path.display()))),
        }
    }

    /// Loads an existing key file, refusing one with group/other permissions.
    pub fn load(path: &Path) -> Result<Self> {
        let meta = fs::metadata(path)?;
        if !meta.is_file() {
            return Err(Error::Keys(format!("`{}` is not a regular file", path.display())));
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::Keys(format!(
                "`{}` has mode {mode:o}: group/other may access it; run `chmod 600` on it",
                path.display()
            )));
        }
        let bytes = Zeroizing::new(fs::read(path)?);
        let file: KeyFile = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Keys(format!("`{}` is not an enclave key file: {e}", path.display())))?;
        Self::from_file(&file)
    }

    fn from_file(file: &KeyFile) -> Result<Self> {
        if file.version != KEY_FILE_VERSION {
            return Err(Error::Keys(format!(
                "key file version {} is not supported (this build reads version {KEY_FILE_VERSION})",
                file.version
            )));
        }
        let signing_bytes = Zeroizing::new(
            hex::decode(&file.signing_key).map_err(|_| Error::Keys("the signing key is not hex".into()))?,
        );
        let signing =
            SigningKey::from_slice(&signing_bytes).map_err(|_| Error::Keys("the signing key is not P-256".into()))?;
        let sealing = SealingKey::from_file(&file.sealing_key)?;
        let previous_sealing = file.previous_sealing_key.as_ref().map(SealingKey::from_file).transpose()?;
        if previous_sealing.as_ref().is_some_and(|p| p.id == sealing.id) {
            return Err(Error::Keys("the previous sealing key has the same id as the current one".into()));
        }
        let previous_signing_public =
            file.previous_signing_public_keys.iter().map(|k| parse_verifying_key(k)).collect::<Result<Vec<_>>>()?;
        Ok(EnclaveKeys { signing, sealing, previous_sealing, previous_signing_public })
    }

    fn to_file(&self) -> KeyFile {
        KeyFile {
            version: KEY_FILE_VERSION,
            signing_key: hex::encode(self.signing.to_bytes()),
            sealing_key: self.sealing.to_file(),
            previous_sealing_key: self.previous_sealing.as_ref().map(SealingKey::to_file),
            previous_signing_public_keys: self
                .previous_signing_public
                .iter()
                .map(|k| hex::encode(k.as_affine().to_sec1_point(false).as_bytes()))
                .collect(),
        }
    }

    /// Writes the keys to `path` (mode 0600) through a staging file and a rename, replacing any file there.
    pub fn save(&self, path: &Path) -> Result<()> {
        let staging = self.write_staging(path)?;
        if let Err(e) = fs::rename(&staging, path) {
            let _ = fs::remove_file(&staging);
            return Err(Error::Keys(format!("cannot replace `{}`: {e}", path.display())));
        }
        sync_parent(path);
        Ok(())
    }

    fn write_staging(&self, path: &Path) -> Result<std::path::PathBuf> {
        let mut suffix = [0u8; 6];
        fill_random(&mut suffix)?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "enclave-keys".into());
        let staging = path.with_file_name(format!(".{name}.{}.tmp", hex::encode(suffix)));
        let json = Zeroizing::new(
            serde_json::to_vec_pretty(&self.to_file())
                .map_err(|e| Error::Internal(format!("key file encoding: {e}")))?,
        );
        let write = || -> std::io::Result<()> {
            let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&staging)?;
            f.write_all(&json)?;
            f.write_all(b"\n")?;
            f.sync_all()
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&staging);
            return Err(Error::Keys(format!("cannot write `{}`: {e}", staging.display())));
        }
        Ok(staging)
    }

    /// New keys for rotation: a fresh sealing key (the current one becomes the previous, opening
    /// older state only) and, when `rotate_signing`, a fresh signing key whose predecessor is kept
    /// for verifying tokens issued before the rotation.
    pub fn rotated(&self, rotate_signing: bool) -> Result<Self> {
        let sealing = SealingKey::generate(Some(self.sealing.id))?;
        let (signing, previous_signing_public) = if rotate_signing {
            (random_signing_key()?, vec![*self.signing.verifying_key()])
        } else {
            (self.signing.clone(), self.previous_signing_public.clone())
        };
        Ok(EnclaveKeys { signing, sealing, previous_sealing: Some(self.sealing.clone()), previous_signing_public })
    }

    /// The signing public key, uncompressed SEC1 hex (`04…`): the `enclaveQuorumPublic` clients pin.
    pub fn signing_public_key_hex(&self) -> String {
        hex::encode(self.signing.verifying_key().as_affine().to_sec1_point(false).as_bytes())
    }

    /// The signing public key, compressed SEC1 hex (`02…`/`03…`).
    pub fn signing_public_key_compressed_hex(&self) -> String {
        hex::encode(self.signing.verifying_key().as_affine().to_sec1_point(true).as_bytes())
    }

    /// Public keys of earlier signing keys whose tokens are still accepted, uncompressed hex.
    pub fn previous_signing_public_keys_hex(&self) -> Vec<String> {
        self.previous_signing_public
            .iter()
            .map(|k| hex::encode(k.as_affine().to_sec1_point(false).as_bytes()))
            .collect()
    }

    /// The current signing key's verifying half.
    pub fn verifying_key(&self) -> VerifyingKey {
        *self.signing.verifying_key()
    }

    /// Every key a token signed by this enclave may verify under, current first.
    pub(crate) fn token_verifying_keys(&self) -> Vec<VerifyingKey> {
        let mut keys = vec![*self.signing.verifying_key()];
        keys.extend(self.previous_signing_public.iter().copied());
        keys
    }

    /// ECDSA-P256 over SHA-256(`message`), low-S normalised.
    pub(crate) fn sign(&self, message: &[u8]) -> Signature {
        let sig: Signature = self.signing.sign(message);
        sig.normalize_s()
    }

    /// The sealing key with `id`, current or previous.
    pub(crate) fn sealing_key(&self, id: [u8; 4]) -> Option<&SealingKey> {
        if self.sealing.id == id {
            return Some(&self.sealing);
        }
        self.previous_sealing.as_ref().filter(|k| k.id == id)
    }
}

fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(d) = fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;

    #[test]
    fn created_file_is_0600_and_reloads_the_same_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("enclave-keys.json");
        let a = EnclaveKeys::load_or_create(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = EnclaveKeys::load_or_create(&path).unwrap();
        assert_eq!(a.signing_public_key_hex(), b.signing_public_key_hex());
        assert_eq!(a.sealing.id, b.sealing.id);
        assert_eq!(*a.sealing.key, *b.sealing.key);
        // No staging files left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn group_readable_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        EnclaveKeys::load_or_create(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let err = EnclaveKeys::load_or_create(&path).unwrap_err();
        assert!(matches!(err, Error::Keys(ref m) if m.contains("chmod 600")), "{err}");
    }

    #[test]
    fn debug_output_has_no_secret() {
        let keys = EnclaveKeys::generate().unwrap();
        let dbg = format!("{keys:?}");
        assert!(!dbg.contains(&hex::encode(keys.signing.to_bytes())));
        assert!(!dbg.contains(&hex::encode(keys.sealing.key.as_ref())));
        assert!(dbg.contains(&keys.signing_public_key_hex()));
    }

    #[test]
    fn rotation_keeps_previous_sealing_key_and_signing_public() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        let a = EnclaveKeys::load_or_create(&path).unwrap();
        let b = a.rotated(true).unwrap();
        b.save(&path).unwrap();
        let c = EnclaveKeys::load(&path).unwrap();
        assert_ne!(c.sealing.id, a.sealing.id);
        assert!(c.sealing_key(a.sealing.id).is_some());
        assert_eq!(c.previous_signing_public_keys_hex(), vec![a.signing_public_key_hex()]);
        assert_ne!(c.signing_public_key_hex(), a.signing_public_key_hex());
        // A second rotation forgets the oldest sealing key.
        let d = c.rotated(false).unwrap();
        assert!(d.sealing_key(a.sealing.id).is_none());
        assert_eq!(d.signing_public_key_hex(), c.signing_public_key_hex());
    }
}
