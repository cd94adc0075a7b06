//! `twofold audit ...`: verify the hash chains and Merkle trees straight from the database
//! (against signed checkpoints a witness kept), print the latest checkpoints, rotate the
//! checkpoint key, or export an organization's events as JSON Lines through the API.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::{Value, json};
use twofold_core::audit::{AuditCheckpoint, Verifier};
use twofold_core::store::{Store, StoreTx};
use twofold_store::{SqlStore, StoreOptions};
use twofold_tlog::{Checkpoint, Frontier, Hash, NoteSigner, NoteVerifier, leaf_hash, open_note};

use crate::CliError;
use crate::config::{ConfigArgs, Settings};
use crate::request::ConnectArgs;
use crate::serving::Serving;

/// Audit subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute every organization's hash chain and Merkle tree from the database and check
    /// them against the stored signed checkpoints and any `--checkpoint` a witness kept; exit 1
    /// at the first mismatch.
    Verify(Box<VerifyArgs>),
    /// Print the latest signed checkpoint: one organization's note, or every organization's
    /// as JSON Lines.
    Checkpoint(Box<CheckpointArgs>),
    /// Start signing checkpoints with a new key; the old one stays in the key file as a
    /// verifier key, so checkpoints it signed still verify.
    RotateKey(Box<RotateArgs>),
    /// Print an organization's audit events, newest first, one JSON object per line.
    Export(ExportArgs),
}

/// Flags of `twofold audit verify`: the same database settings as `serve`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// A signed checkpoint (the note, as `twofold audit checkpoint` printed it) kept outside
    /// this database; may be given more than once.
    #[arg(long, value_name = "FILE")]
    checkpoint: Vec<PathBuf>,
    /// A verifier key checkpoints may be signed with (Go `sumdb/note` form); may be given more
    /// than once [default: the keys in the audit key file].
    #[arg(long, value_name = "VKEY")]
    verifier_key: Vec<String>,
    /// The organization every `--checkpoint` must be of (a checkpoint names its organization in
    /// its signed origin; this refuses one of another) [default: any].
    #[arg(long, value_name = "ID")]
    organization_id: Option<String>,
}

/// Flags of `twofold audit checkpoint`.
#[derive(Debug, Args)]
pub struct CheckpointArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Only this organization: print its signed note as is.
    #[arg(long, value_name = "ID")]
    organization_id: Option<String>,
}

/// Flags of `twofold audit rotate-key`.
#[derive(Debug, Args)]
pub struct RotateArgs {
    #[command(flatten)]
    config: ConfigArgs,
}

/// Flags of `twofold audit export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    connect: ConnectArgs,
}

/// Runs an audit subcommand.
pub fn run(cmd: AuditCommand) -> Result<(), CliError> {
    match cmd {
        AuditCommand::Verify(args) => {
            let settings = Settings::resolve(&args.config)?;
            say_which_database(&settings);
            let verifiers = verifiers(&settings, &args.verifier_key)?;
            let only = args.organization_id.as_deref();
            with_store(&settings, async |store| verify(store, &settings, &verifiers, &args.checkpoint, only).await)
        }
        AuditCommand::Checkpoint(args) => {
            let settings = Settings::resolve(&args.config)?;
            with_store(&settings, async |store| print_checkpoints(store, args.organization_id.as_deref()).await)
        }
        AuditCommand::RotateKey(args) => rotate_key(&Settings::resolve(&args.config)?),
        AuditCommand::Export(args) => export(&args.connect),
    }
}

/// Prints the database `audit verify` checks, and notes on stderr when the server of the
/// same data directory last served another one.
fn say_which_database(settings: &Settings) {
    let database = crate::serve::redact(&settings.database_url);
    println!("database: {database}");
    if let Some(served) = Serving::read(&settings.data_dir).filter(|s| s.database_url != database) {
        eprintln!(
            "twofold: note: the server in {} last served {}, not this database; pass --database-url to verify that one",
            settings.data_dir.display(),
            served.database_url
        );
    }
}

/// The first line of a key file.
const KEY_FILE_HEADER: &str =
    "# twofold audit checkpoint key: the PRIVATE+KEY line signs; other lines are rotated-out verifier keys.";

/// The checkpoint keys of an installation: the one that signs, and every key that verifies
/// (its own first, then those rotated out).
pub struct AuditKeys {
    /// The signing key.
    pub signer: NoteSigner,
    /// Every verifier key.
    pub verifiers: Vec<NoteVerifier>,
}

fn parse_keys(path: &Path, text: &str) -> Result<AuditKeys, CliError> {
    let bad = |why: String| CliError::Usage(format!("audit key file {}: {why}", path.display()));
    let mut signer = None;
    let mut old = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        if line.starts_with("PRIVATE+KEY+") {
            if signer.is_some() {
                return Err(bad("more than one PRIVATE+KEY line".into()));
            }
            signer = Some(NoteSigner::from_skey(line).map_err(|e| bad(e.to_string()))?);
        } else {
            old.push(NoteVerifier::from_vkey(line).map_err(|e| bad(e.to_string()))?);
        }
    }
    let signer = signer.ok_or_else(|| bad("no PRIVATE+KEY line".into()))?;
    let mut verifiers = vec![signer.verifier()];
    verifiers.extend(old);
    Ok(AuditKeys { signer, verifiers })
}

fn new_signer(name: &str) -> Result<NoteSigner, CliError> {
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).map_err(|e| CliError::Runtime(format!("no randomness: {e}")))?;
    NoteSigner::new(name, &seed).map_err(|e| CliError::Usage(format!("audit_log_name: {e}")))
}

fn key_file_text(signer: &NoteSigner, seed_text: &str, verifiers: &[NoteVerifier]) -> String {
    let mut text = format!("{KEY_FILE_HEADER}\n{seed_text}\n");
    for v in verifiers.iter().filter(|v| **v != signer.verifier()) {
        text.push_str(&v.to_vkey());
        text.push('\n');
    }
    text
}

/// The installation's checkpoint keys from `settings.audit_key_file`, created (0600) with a
/// new key named `settings.audit_log_name` if the file is missing.
pub fn load_or_create_keys(settings: &Settings) -> Result<AuditKeys, CliError> {
    let path = &settings.audit_key_file;
    if let Some(text) = crate::serve::read_private_file(path, "audit key file")? {
        let keys = parse_keys(path, &text)?;
        if keys.signer.name() != settings.audit_log_name {
            return Err(CliError::Usage(format!(
                "the audit key in {} is named `{}` but audit_log_name is `{}`: keep the name, or run \
                 `twofold audit rotate-key` to sign as the new one",
                path.display(),
                keys.signer.name(),
                settings.audit_log_name
            )));
        }
        return Ok(keys);
    }
    let signer = new_signer(&settings.audit_log_name)?;
    crate::serve::create_private_file(path, &key_file_text(&signer, &signer.to_skey(), &[]), "audit key file")?;
    tracing::info!(path = %path.display(), "created the audit checkpoint key; every node needs the same file");
    parse_keys(path, &key_file_text(&signer, &signer.to_skey(), &[]))
}

fn rotate_key(settings: &Settings) -> Result<(), CliError> {
    let path = &settings.audit_key_file;
    let text = crate::serve::read_private_file(path, "audit key file")?
        .ok_or_else(|| CliError::Usage(format!("no audit key file at {}", path.display())))?;
    let old = parse_keys(path, &text)?;
    let signer = new_signer(&settings.audit_log_name)?;
    let mut verifiers = old.verifiers;
    verifiers.insert(0, signer.verifier());
    crate::serve::create_private_file(path, &key_file_text(&signer, &signer.to_skey(), &verifiers), "audit key file")?;
    println!("new checkpoint key: {}", signer.verifier().to_vkey());
    println!("give it to your witnesses; restart every node with the new {}", path.display());
    Ok(())
}

/// The verifier keys `audit verify` trusts: those given, else the key file's.
fn verifiers(settings: &Settings, given: &[String]) -> Result<Vec<NoteVerifier>, CliError> {
    if !given.is_empty() {
        return given
            .iter()
            .map(|k| NoteVerifier::from_vkey(k).map_err(|e| CliError::Usage(format!("--verifier-key: {e}"))))
            .collect();
    }
    match crate::serve::read_private_file(&settings.audit_key_file, "audit key file")? {
        Some(text) => Ok(parse_keys(&settings.audit_key_file, &text)?.verifiers),
        None => Ok(Vec::new()),
    }
}

fn with_store(settings: &Settings, work: impl AsyncFnOnce(&SqlStore) -> Result<(), CliError>) -> Result<(), CliError> {
    if let Some(path) = settings.database_url.strip_prefix("sqlite://")
        && !std::path::Path::new(path.split('?').next().unwrap_or(path)).exists()
    {
        return Err(CliError::Usage(format!("no database at {path}")));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    runtime.block_on(async {
        let store = SqlStore::open(&settings.database_url, &StoreOptions::default())
            .await
            .map_err(|e| CliError::Runtime(e.to_string()))?;
        let done = work(&store).await;
        store.close().await;
        done
    })
}

fn store_err(e: twofold_core::store::StoreError) -> CliError {
    CliError::Runtime(e.to_string())
}

async fn print_checkpoints(store: &SqlStore, org: Option<&str>) -> Result<(), CliError> {
    let mut tx = store.read().await.map_err(store_err)?;
    if let Some(org) = org {
        let checkpoint = tx.audit_checkpoint(org, None).await.map_err(store_err)?.ok_or_else(|| {
            CliError::Remote(format!("organization {org} has no signed checkpoint (yet: one follows its first events)"))
        })?;
        print!("{}", checkpoint.note);
        return Ok(());
    }
    for c in tx.latest_audit_checkpoints().await.map_err(store_err)? {
        println!("{}", json!({ "organizationId": c.organization_id, "treeSize": c.size.to_string(), "note": c.note }));
    }
    Ok(())
}

/// A checkpoint to check one organization's tree against, and where it came from.
struct Expected {
    from: String,
    org: String,
    checkpoint: Checkpoint,
}

/// Opens a signed checkpoint with `verifiers` and finds whose log it is.
fn expected(from: String, note: &str, verifiers: &[NoteVerifier], log_name: &str) -> Result<Expected, CliError> {
    let refs: Vec<&NoteVerifier> = verifiers.iter().collect();
    let broken = |why: String| CliError::Remote(format!("audit log NOT verified: {from}: {why}"));
    let text = open_note(note, &refs).map_err(|e| broken(e.to_string()))?;
    let checkpoint = Checkpoint::parse(&text).map_err(|e| broken(e.to_string()))?;
    let org = checkpoint
        .origin
        .strip_prefix(log_name)
        .and_then(|rest| rest.strip_prefix('/'))
        .filter(|org| !org.is_empty() && !org.contains('/'))
        .ok_or_else(|| broken(format!("its origin `{}` is not a log of {log_name}", checkpoint.origin)))?
        .to_owned();
    Ok(Expected { from, org, checkpoint })
}

async fn verify(
    store: &SqlStore,
    settings: &Settings,
    verifiers: &[NoteVerifier],
    files: &[PathBuf],
    only: Option<&str>,
) -> Result<(), CliError> {
    let mut tx = store.read().await.map_err(store_err)?;
    let mut expectations = Vec::new();
    for path in files {
        let note = std::fs::read_to_string(path)
            .map_err(|e| CliError::Usage(format!("cannot read checkpoint {}: {e}", path.display())))?;
        let e = expected(path.display().to_string(), &note, verifiers, &settings.audit_log_name)?;
        if let Some(org) = only.filter(|org| *org != e.org) {
            return Err(CliError::Remote(format!(
                "audit log NOT verified: {}: it is a checkpoint of organization {}, not of {org}",
                e.from, e.org
            )));
        }
        expectations.push(e);
    }
    if !verifiers.is_empty() {
        for stored in tx.latest_audit_checkpoints().await.map_err(store_err)? {
            let from = format!("the stored checkpoint of {} at size {}", stored.organization_id, stored.size);
            let e = expected(from, &stored.note, verifiers, &settings.audit_log_name)?;
            if e.org != stored.organization_id {
                return Err(CliError::Remote(format!("audit log NOT verified: {} signs another organization", e.from)));
            }
            expectations.push(e);
        }
    }
    // Which tree sizes each organization's heads are needed at: the checkpoints', and the
    // stored trees' (which may lag the chain by up to --audit-checkpoint-secs).
    let broken = |e: twofold_core::Error| CliError::Remote(format!("audit log NOT verified: {e}"));
    let mut stored = Vec::new();
    for (org, head, _) in tx.audit_heads().await.map_err(store_err)? {
        if let Some(frontier) = twofold_core::audit::stored_tree(&mut *tx, &org, head).await.map_err(broken)? {
            stored.push((org, frontier));
        }
    }
    let mut wanted: HashMap<String, Vec<u64>> = HashMap::new();
    for e in &expectations {
        wanted.entry(e.org.clone()).or_default().push(e.checkpoint.size);
    }
    for (org, frontier) in &stored {
        wanted.entry(org.clone()).or_default().push(frontier.size());
    }
    let (trees, heads) = recompute(&mut *tx, &wanted).await?;
    for e in &expectations {
        let have = trees.get(&e.org).map_or(0, Frontier::size);
        let size = e.checkpoint.size;
        if have < size {
            return Err(CliError::Remote(format!(
                "audit log NOT verified: {}: organization {} has {have} events, the checkpoint signed {size}: \
                 events were deleted from the end, or the database was rolled back",
                e.from, e.org
            )));
        }
        if heads.get(&(e.org.clone(), size)) != Some(&e.checkpoint.root) {
            return Err(CliError::Remote(format!(
                "audit log NOT verified: {}: the first {size} events of organization {} are not those the \
                 checkpoint signed: events were edited, deleted, reordered or inserted",
                e.from, e.org
            )));
        }
        consistent(&mut *tx, e, &trees[&e.org]).await?;
    }
    let mut unfolded = 0;
    for (org, frontier) in &stored {
        let have = trees.get(org).map_or(0, Frontier::size);
        if heads.get(&(org.clone(), frontier.size())) != Some(&frontier.root()) || have < frontier.size() {
            return Err(CliError::Remote(format!(
                "audit log NOT verified: organization {org}: the stored tree of {} events does not match the \
                 {have} events recomputed",
                frontier.size()
            )));
        }
        unfolded += have - frontier.size();
    }
    for (org, tree) in &trees {
        if !stored.iter().any(|(o, _)| o == org) {
            unfolded += tree.size();
        }
    }
    let events: u64 = trees.values().map(Frontier::size).sum();
    println!(
        "audit log verified: {events} events in {} chains and trees; {} signed checkpoints matched ({} given, \
         the rest stored)",
        trees.len(),
        expectations.len(),
        files.len()
    );
    if unfolded > 0 {
        println!(
            "{unfolded} of them are not in a stored tree yet (the server folds them in, and signs, every \
             --audit-checkpoint-secs): only their chains were checked"
        );
    }
    if files.is_empty() {
        println!(
            "not checked: no --checkpoint kept outside this database was given, so a rollback of the whole \
             database with its checkpoints, or a rewrite by someone holding the signing key, would pass"
        );
    }
    if verifiers.is_empty() {
        println!("not checked: no verifier key (no audit key file, no --verifier-key), so no signature was checked");
    }
    Ok(())
}

/// Recomputes every chain and tree from the events; each organization's tree, and its head
/// at each size in `wanted`.
async fn recompute(
    tx: &mut dyn StoreTx,
    wanted: &HashMap<String, Vec<u64>>,
) -> Result<(HashMap<String, Frontier>, HashMap<(String, u64), Hash>), CliError> {
    let mut chains = Verifier::default();
    let mut trees: HashMap<String, Frontier> = HashMap::new();
    let mut heads = HashMap::new();
    for (org, sizes) in wanted {
        if sizes.contains(&0) {
            heads.insert((org.clone(), 0), Frontier::new().root());
        }
    }
    let mut after: Option<(String, i64)> = None;
    loop {
        let page = tx.audit_chain_page(after.as_ref().map(|(o, s)| (o.as_str(), *s)), 1000).await.map_err(store_err)?;
        for e in &page {
            if let Err(broken) = chains.check(e) {
                return Err(CliError::Remote(format!(
                    "audit log BROKEN after {} good events: {broken}",
                    chains.checked
                )));
            }
            let tree = trees.entry(e.organization_id.clone()).or_default();
            tree.append(leaf_hash(&twofold_core::audit::leaf(e)));
            if wanted.get(&e.organization_id).is_some_and(|s| s.contains(&tree.size())) {
                heads.insert((e.organization_id.clone(), tree.size()), tree.root());
            }
        }
        match page.last() {
            Some(last) => after = Some((last.organization_id.clone(), last.seq)),
            None => break,
        }
    }
    Ok((trees, heads))
}

/// The stored nodes prove the checkpoint's tree a prefix of today's (RFC 9162 consistency).
async fn consistent(tx: &mut dyn StoreTx, e: &Expected, now: &Frontier) -> Result<(), CliError> {
    let (old, new) = (e.checkpoint.size, now.size());
    let coordinates = twofold_tlog::consistency_nodes(old, new).map_err(|err| CliError::Runtime(err.to_string()))?;
    let nodes = tx.audit_tree_nodes(&e.org, &coordinates).await.map_err(store_err)?;
    let proof = twofold_tlog::consistency_proof(&nodes, old, new);
    let verified = proof.and_then(|p| twofold_tlog::verify_consistency(old, new, &e.checkpoint.root, &now.root(), &p));
    verified.map_err(|why| {
        CliError::Remote(format!(
            "audit log NOT verified: {}: the stored tree of organization {} does not prove today's log consistent \
             with the checkpoint ({why})",
            e.from, e.org
        ))
    })
}

fn export(connect: &ConnectArgs) -> Result<(), CliError> {
    let client = connect.client()?;
    let mut out = std::io::stdout().lock();
    let mut after: Option<String> = None;
    loop {
        let mut page = json!({ "limit": "100" });
        if let Some(a) = &after {
            page["after"] = json!(a);
        }
        let resp = client.query("list_audit_events", json!({ "paginationOptions": page }))?;
        if !resp.is_success() {
            return Err(CliError::Remote(format!("the server answered HTTP {}: {}", resp.status, resp.body)));
        }
        let events = resp.body["auditEvents"].as_array().cloned().unwrap_or_default();
        for e in &events {
            if writeln!(out, "{e}").is_err() {
                return Ok(()); // the reader went away (`| head`)
            }
        }
        match events.last().map(|e| e["seq"].clone()) {
            Some(Value::Number(n)) => after = Some(n.to_string()),
            _ => break,
        }
    }
    Ok(())
}

/// A checkpoint as the witness file records it.
pub fn witness_line(c: &AuditCheckpoint) -> String {
    json!({ "organizationId": c.organization_id, "treeSize": c.size.to_string(), "rootHash": c.root, "note": c.note })
        .to_string()
}
