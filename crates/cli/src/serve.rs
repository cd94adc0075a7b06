//! `twofold serve`: open the store, bootstrap an empty installation, serve HTTP.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use twofold_client::{ApiKeyPair, Curve};
use twofold_core::engine::BootstrapPlan;
use twofold_core::engine::FactorConfig;
use twofold_core::factors::passkey::RelyingParty;
use twofold_core::secrets::SecretsKey;
use twofold_core::{Clock, Engine, EngineConfig};
use twofold_server::{AppState, Ops, ServerLimits};
use twofold_store::{SqlStore, StoreOptions};

use crate::CliError;
use crate::config::{ConfigArgs, LogFormat, Settings};
use crate::serving::Serving;

/// Flags of `twofold serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    // Boxed: the flag set is large, and the CLI's command enum holds it inline.
    #[command(flatten)]
    config: Box<ConfigArgs>,
    #[command(flatten)]
    otp: crate::enclave::OtpArgs,
    /// TEST ONLY: shift the server's clock by the milliseconds written in this file
    /// (re-read on every reading of the clock). Refused unless TWOFOLD_UNSAFE_TEST_CLOCK=1.
    #[arg(long, hide = true, value_name = "FILE")]
    unsafe_test_clock_file: Option<PathBuf>,
}

/// Runs the server until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> Result<(), CliError> {
    let settings = Settings::resolve(&args.config)?;
    init_logging(&settings)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Runtime(format!("cannot start the async runtime: {e}")))?;
    let parent = crate::enclave_child::Parent {
        log: settings.log.clone(),
        json_logs: settings.log_format == LogFormat::Json,
        test_clock: args.unsafe_test_clock_file.is_some(),
    };
    let clock = crate::test_clock::from_flag(args.unsafe_test_clock_file)?;
    runtime.block_on(serve(settings, clock, args.otp, parent))
}

fn init_logging(settings: &Settings) -> Result<(), CliError> {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log)
        .map_err(|e| CliError::Usage(format!("invalid log filter `{}`: {e}", settings.log)))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match settings.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

async fn serve(
    settings: Settings,
    clock: Arc<dyn Clock>,
    otp: crate::enclave::OtpArgs,
    parent: crate::enclave_child::Parent,
) -> Result<(), CliError> {
    let store = SqlStore::open(&settings.database_url, &StoreOptions::default())
        .await
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    // Held until the process ends: `twofold restore` refuses to replace a file in use.
    let _serve_lock = crate::backup::hold_serve_lock(&settings.database_url)?;
    let secrets = load_or_create_secrets_key(&settings.secrets_key_file)?;
    let relying_party =
        RelyingParty::new(&settings.webauthn_rp_id, "twofold", &settings.webauthn_origins, settings.webauthn_any_port)
            .map_err(|e| CliError::Usage(e.to_string()))?;
    let mut factors = FactorConfig::new(relying_party, secrets);
    factors.max_failures = settings.auth_failure_limit;
    factors.failure_window_ms = i64::try_from(settings.auth_failure_window_secs).unwrap_or(900) * 1000;
    factors.session_max_secs = settings.session_max_secs;
    factors.session_idle_ms = i64::try_from(settings.session_idle_secs).unwrap_or(3600) * 1000;
    // The enclave child (the default) lives until `serve` returns.
    let (otp_config, _enclave_child) = otp.config(&settings.data_dir, &parent).await?;
    factors.otp = otp_config;
    let mut config = EngineConfig::new(factors);
    config.mail_from = otp.delivery.mail_from();
    config.timestamp_window_ms = i64::try_from(settings.timestamp_window_secs).unwrap_or(300) * 1000;
    config.webhooks.retry_base_ms = i64::try_from(settings.webhook_retry_base_ms).unwrap_or(10_000);
    config.webhooks.max_attempts = i64::try_from(settings.webhook_max_attempts).unwrap_or(10);
    config.mfa_admin_tags = settings.mfa_admin_tags.clone();
    config.policy_limits = settings.policy_limits;
    config.rejection_window_ms = i64::try_from(settings.audit_rejection_window_secs).unwrap_or(60) * 1000;
    let audit_keys = crate::audit::load_or_create_keys(&settings)?;
    config.audit_log = twofold_core::AuditLogConfig {
        name: settings.audit_log_name.clone(),
        signer: Some(Arc::new(audit_keys.signer)),
        verifiers: audit_keys.verifiers,
    };
    twofold_core::webhook::allow_private_targets(settings.webhook_allow_private);
    let engine = Engine::new(Arc::new(store.clone()), clock, config)
        .with_jwks_fetcher(Arc::new(twofold_server::HttpJwksFetcher::default()));
    // Before anything writes a policy in today's names: stored ones move to them, once.
    engine
        .rewrite_legacy_resource_names()
        .await
        .map_err(|e| CliError::Runtime(format!("rewriting stored resource names failed: {e}")))?;
    bootstrap_if_empty(&engine, &settings.data_dir).await?;
    record_serving(&store, &settings).await?;
    engine.load_session_signer().await.map_err(|e| CliError::Runtime(e.to_string()))?;
    let folded = engine.fold_audit_trees().await.map_err(|e| CliError::Runtime(e.to_string()))?;
    if folded > 0 {
        tracing::info!(events = folded, "folded audit events recorded before their Merkle tree into it");
    }

    let listener = TcpListener::bind(settings.listen)
        .await
        .map_err(|e| CliError::Runtime(format!("cannot listen on {}: {e}", settings.listen)))?;
    let addr = listener.local_addr().map_err(|e| CliError::Runtime(e.to_string()))?;
    // Notices leave through the dev outbox until a mail transport is configured.
    let notices = crate::notify::MailNotifier(twofold_enclave::Deliverer::outbox(settings.data_dir.join("outbox")));
    let ops = Ops { metrics_token: settings.metrics_token.as_deref().map(Arc::from), ..Ops::default() };
    let outbox = twofold_server::spawn_outbox_worker(engine.clone(), Arc::new(notices), ops.metrics.clone());
    // Rejected stamps are counted per key and window; closed windows reach the audit log.
    let rejections = engine.clone();
    let rejection_flusher = tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            rejections.flush_rejected_stamps(false).await;
        }
    });
    let checkpointer = spawn_checkpointer(
        engine.clone(),
        std::time::Duration::from_secs(settings.audit_checkpoint_secs),
        settings.audit_witness_file.clone(),
    );
    let flush_at_exit = engine.clone();
    let app = twofold_server::router(AppState {
        engine,
        limits: ServerLimits {
            max_body_bytes: settings.max_body_bytes,
            trusted_proxies: settings.trusted_proxies.clone().into(),
            body_read_timeout: settings.http_timeouts.body,
            public_origins: Arc::new(twofold_core::auth_proxy::PublicOrigins::new(
                settings.webauthn_origins.iter().map(url::Url::as_str),
                settings.webauthn_any_port,
            )),
        },
        ops,
    });
    println!("twofold listening on http://{addr}");
    tracing::info!(%addr, database = %redact(&settings.database_url), "twofold listening");
    twofold_server::serve(listener, app, settings.http_timeouts, shutdown_signal())
        .await
        .map_err(|e| CliError::Runtime(format!("server error: {e}")))?;
    outbox.abort();
    rejection_flusher.abort();
    checkpointer.abort();
    flush_at_exit.flush_rejected_stamps(true).await;
    store.close().await;
    tracing::info!("twofold stopped");
    Ok(())
}

/// Signs a checkpoint of every audit tree that grew, now and every `every`, appending each
/// new one to the witness file if there is one.
fn spawn_checkpointer(engine: Engine, every: std::time::Duration, witness: Option<PathBuf>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match engine.issue_checkpoints().await {
                Ok(issued) => {
                    if let (Some(path), false) = (&witness, issued.is_empty())
                        && let Err(e) = append_witness(path, &issued)
                    {
                        tracing::warn!(path = %path.display(), error = %e, "cannot append to the audit witness file");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "issuing audit checkpoints failed; retrying"),
            }
            tokio::time::sleep(every).await;
        }
    })
}

fn append_witness(path: &Path, issued: &[twofold_core::audit::AuditCheckpoint]) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    let lines: String = issued.iter().map(|c| crate::audit::witness_line(c) + "\n").collect();
    file.write_all(lines.as_bytes())?;
    file.sync_data()
}

/// Creates the root organization, user and key on an empty database and writes the
/// key file (mode 0600). The private key is never printed.
async fn bootstrap_if_empty(engine: &Engine, data_dir: &Path) -> Result<(), CliError> {
    let rt = |e: twofold_core::Error| CliError::Runtime(format!("bootstrap failed: {e}"));
    if !engine.needs_bootstrap().await.map_err(rt)? {
        return Ok(());
    }
    twofold_store::private_dir(data_dir)
        .map_err(|e| CliError::Runtime(format!("cannot create data directory {}: {e}", data_dir.display())))?;
    let key = ApiKeyPair::generate(Curve::P256).map_err(|e| CliError::Runtime(e.to_string()))?;
    let plan = BootstrapPlan::new("Root Organization", "root", &key.public_key_hex());
    let final_path = free_key_path(data_dir, &plan.organization_id);
    let staging = data_dir.join(format!(".root-api-key-{}.tmp", plan.api_key_id));
    key.to_key_file(Some(plan.organization_id.clone()), Some(plan.user_id.clone()))
        .save_new(&staging)
        .map_err(|e| CliError::Runtime(format!("cannot write the bootstrap key: {e}")))?;
    let claimed = engine.bootstrap(&plan).await;
    if !matches!(claimed, Ok(true)) {
        let _ = std::fs::remove_file(&staging);
        return claimed.map(drop).map_err(rt);
    }
    std::fs::rename(&staging, &final_path)
        .map_err(|e| CliError::Runtime(format!("cannot move the bootstrap key into place: {e}")))?;
    let shown = std::fs::canonicalize(&final_path).unwrap_or(final_path);
    println!("twofold: bootstrapped root organization {} with root user {}", plan.organization_id, plan.user_id);
    println!("twofold: root API key written to {} (mode 0600; keep it safe)", shown.display());
    Ok(())
}

/// Notes in `DATA_DIR/serving.json` which database this data directory serves now, and the
/// root key file that belongs to it, for the CLI (see [`crate::serving`]).
async fn record_serving(store: &SqlStore, settings: &Settings) -> Result<(), CliError> {
    let rt = |e: twofold_core::store::StoreError| CliError::Runtime(e.to_string());
    let root = twofold_core::store::Store::read(store).await.map_err(rt)?.installation_root().await.map_err(rt)?;
    if let (Some(organization_id), true) = (root, settings.data_dir.is_dir()) {
        let key_file = Serving::key_file_of(&settings.data_dir, &organization_id);
        Serving { database_url: redact(&settings.database_url), organization_id, key_file }.record(&settings.data_dir);
    }
    Ok(())
}

/// `root-api-key.json`, or a name that does not clobber an older installation's key.
fn free_key_path(data_dir: &Path, org_id: &str) -> PathBuf {
    let default = data_dir.join("root-api-key.json");
    if default.exists() { data_dir.join(format!("root-api-key-{org_id}.json")) } else { default }
}

/// The URL without its password, for logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].find(':') {
            Some(colon) => format!("{}:***{}", &url[..s + 3 + colon], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// Reads the secrets key, or creates one (owner-only, written then renamed) on a fresh
/// installation. A key file readable by others is refused.
fn load_or_create_secrets_key(path: &Path) -> Result<SecretsKey, CliError> {
    let err = |what: String| CliError::Runtime(format!("secrets key {}: {what}", path.display()));
    match read_private_file(path, "secrets key")? {
        Some(text) => SecretsKey::from_hex(&text).map_err(|e| err(e.to_string())),
        None => {
            let key = SecretsKey::generate().map_err(|e| err(e.to_string()))?;
            create_private_file(path, &key.to_hex(), "secrets key")?;
            tracing::info!(path = %path.display(), "created a new secrets key; back it up with the database");
            Ok(key)
        }
    }
}

/// The text of a key file only its owner may read; `None` if there is none. A file others
/// can read is refused.
pub(crate) fn read_private_file(path: &Path, what: &str) -> Result<Option<String>, CliError> {
    let err = |why: String| CliError::Runtime(format!("{what} {}: {why}", path.display()));
    match std::fs::read_to_string(path) {
        Ok(text) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(path).map_err(|e| err(e.to_string()))?.permissions().mode();
                if mode & 0o077 != 0 {
                    return Err(err(format!("permissions {:o} let others read it; chmod 600 it", mode & 0o777)));
                }
            }
            Ok(Some(text))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(err(e.to_string())),
    }
}

/// Writes a key file (0600, written beside it then renamed into place, its directory created
/// owner-only if missing).
pub(crate) fn create_private_file(path: &Path, text: &str, what: &str) -> Result<(), CliError> {
    let err = |why: String| CliError::Runtime(format!("{what} {}: {why}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        twofold_store::private_dir(dir).map_err(|e| err(e.to_string()))?;
    }
    let staging = path.with_extension("new");
    write_private(&staging, text.as_bytes()).map_err(|e| err(e.to_string()))?;
    std::fs::rename(&staging, path).map_err(|e| err(e.to_string()))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_redacted_from_database_urls() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }
}
