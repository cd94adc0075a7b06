//! `twofold audit ...`: verify the hash chains straight from the database, or export
//! an organization's events as JSON Lines through the API.

use std::io::Write;

use clap::{Args, Subcommand};
use serde_json::{Value, json};
use twofold_core::audit::Verifier;
use twofold_core::store::Store;
use twofold_store::{SqlStore, StoreOptions};

use crate::CliError;
use crate::config::{ConfigArgs, Settings};
use crate::request::ConnectArgs;

/// Audit subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute every organization's hash chain from the database; exit 1 at the first broken link.
    Verify(Box<VerifyArgs>),
    /// Print an organization's audit events, newest first, one JSON object per line.
    Export(ExportArgs),
}

/// Flags of `twofold audit verify`: the same database settings as `serve`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
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
        AuditCommand::Verify(args) => verify(&Settings::resolve(&args.config)?),
        AuditCommand::Export(args) => export(&args.connect),
    }
}

fn verify(settings: &Settings) -> Result<(), CliError> {
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
        let rt = |e: twofold_core::store::StoreError| CliError::Runtime(e.to_string());
        let mut tx = store.read().await.map_err(rt)?;
        let mut verifier = Verifier::default();
        let mut after: Option<(String, i64)> = None;
        loop {
            let page = tx.audit_chain_page(after.as_ref().map(|(o, s)| (o.as_str(), *s)), 1000).await.map_err(rt)?;
            for e in &page {
                if let Err(broken) = verifier.check(e) {
                    return Err(CliError::Remote(format!(
                        "audit log BROKEN after {} good events: {broken}",
                        verifier.checked
                    )));
                }
            }
            match page.last() {
                Some(last) => after = Some((last.organization_id.clone(), last.seq)),
                None => break,
            }
        }
        println!("audit log verified: {} events in {} chains", verifier.checked, verifier.chains);
        Ok(())
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
        let resp = client
            .query("list_audit_events", json!({ "paginationOptions": page }))
            .map_err(|e| CliError::Runtime(e.to_string()))?;
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
