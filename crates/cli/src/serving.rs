//! `DATA_DIR/serving.json`: which database `twofold serve` last served from this data
//! directory, its root organization and the root key file that belongs to it. The CLI reads
//! it to pick the key of the database in use (a data directory that served SQLite and then
//! PostgreSQL holds one root key per installation), and `audit verify` to say when it checks
//! another database than the server's. It holds no secret (the URL without its password).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file's name inside the data directory.
const FILE: &str = "serving.json";
/// The data directory the CLI assumes, as `serve` does.
const DEFAULT_DATA_DIR: &str = "twofold-data";
/// The first installation's root key file, inside the data directory.
pub const DEFAULT_KEY_FILE: &str = "root-api-key.json";

/// What `serve` records at start-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Serving {
    /// The database URL, password removed.
    pub database_url: String,
    /// The installation's root organization.
    pub organization_id: String,
    /// The root key file of that organization, relative to the data directory, when it is there.
    pub key_file: Option<String>,
}

impl Serving {
    /// Records what `data_dir` serves now (replacing the file atomically); a failure only warns.
    pub fn record(&self, data_dir: &Path) {
        let staging = data_dir.join(format!(".{FILE}.tmp"));
        let written = serde_json::to_vec_pretty(self)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&staging, bytes))
            .and_then(|()| std::fs::rename(&staging, data_dir.join(FILE)));
        if let Err(e) = written {
            tracing::warn!(dir = %data_dir.display(), error = %e, "cannot record the database served in serving.json");
        }
    }

    /// What `data_dir` last served, if `serve` recorded it.
    pub fn read(data_dir: &Path) -> Option<Serving> {
        serde_json::from_slice(&std::fs::read(data_dir.join(FILE)).ok()?).ok()
    }

    /// The root key file of `organization_id` in `data_dir`: `root-api-key.json` when it names
    /// that organization, else `root-api-key-<org>.json` when present.
    pub fn key_file_of(data_dir: &Path, organization_id: &str) -> Option<String> {
        let names_org = |name: &str| {
            let text = std::fs::read(data_dir.join(name)).ok()?;
            let file: serde_json::Value = serde_json::from_slice(&text).ok()?;
            (file["organizationId"] == organization_id).then(|| name.to_owned())
        };
        names_org(DEFAULT_KEY_FILE).or_else(|| names_org(&format!("root-api-key-{organization_id}.json")))
    }
}

/// The CLI's data directory: `TWOFOLD_DATA_DIR`, else `twofold-data`.
pub fn cli_data_dir() -> PathBuf {
    std::env::var_os("TWOFOLD_DATA_DIR").map_or_else(|| PathBuf::from(DEFAULT_DATA_DIR), PathBuf::from)
}

/// The key file the CLI stamps with when none is named: the one `serve` recorded for the
/// database it serves, else `DATA_DIR/root-api-key.json`; with a line for stderr when the
/// choice is not the plain default.
pub fn default_key_file() -> (PathBuf, Option<String>) {
    let dir = cli_data_dir();
    let plain = dir.join(DEFAULT_KEY_FILE);
    match Serving::read(&dir) {
        // Only a root key file beside it: a rewritten serving.json cannot point the CLI elsewhere.
        Some(Serving { key_file: Some(name), database_url, .. })
            if name != DEFAULT_KEY_FILE && is_root_key_name(&name) =>
        {
            let path = dir.join(name);
            let note = format!(
                "twofold: using {} (the root key of {database_url}, which the server last served from {}; \
                 --key-file picks another)",
                path.display(),
                dir.display()
            );
            (path, Some(note))
        }
        _ => (plain, None),
    }
}

/// `root-api-key-<org>.json`: a plain file name, no directory part.
fn is_root_key_name(name: &str) -> bool {
    name.starts_with("root-api-key-") && name.ends_with(".json") && !name.contains(['/', '\\']) && !name.contains("..")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, reason = "tests fail loudly")]
    use super::*;

    #[test]
    fn the_key_file_of_an_organization_is_found_by_the_organization_it_names() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join(DEFAULT_KEY_FILE), r#"{"organizationId":"old"}"#).expect("write");
        std::fs::write(dir.path().join("root-api-key-new.json"), r#"{"organizationId":"new"}"#).expect("write");
        assert_eq!(Serving::key_file_of(dir.path(), "old").as_deref(), Some(DEFAULT_KEY_FILE));
        assert_eq!(Serving::key_file_of(dir.path(), "new").as_deref(), Some("root-api-key-new.json"));
        assert_eq!(Serving::key_file_of(dir.path(), "other"), None);
        let serving = Serving { database_url: "postgres://x".into(), organization_id: "new".into(), key_file: None };
        serving.record(dir.path());
        assert_eq!(Serving::read(dir.path()), Some(serving));
        std::fs::write(dir.path().join(FILE), "{not json").expect("write");
        assert_eq!(Serving::read(dir.path()), None, "a broken file is ignored");
    }

    #[test]
    fn only_a_root_key_file_name_is_taken_from_serving_json() {
        assert!(is_root_key_name("root-api-key-5f0c.json"));
        for hostile in ["../../etc/key.json", "/tmp/root-api-key-x.json", "root-api-key-../x.json", "other.json"] {
            assert!(!is_root_key_name(hostile), "{hostile}");
        }
    }
}
