//! Server configuration, layered: defaults < TOML file (`--config`) < `TWOFOLD_*`
//! environment < flags. Secrets can come from files (`--database-url-file`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use serde::Deserialize;

use crate::CliError;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Flags (each also settable by its `TWOFOLD_*` variable or in the TOML file).
#[derive(Debug, Args, Default)]
pub struct ConfigArgs {
    /// TOML configuration file; its keys are the long flag names with `_` (e.g. `database_url`).
    #[arg(long, env = "TWOFOLD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "TWOFOLD_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB [default: sqlite://DATA_DIR/twofold.db].
    #[arg(long, env = "TWOFOLD_DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// File holding the database URL (for secrets managers); overrides --database-url.
    #[arg(long, env = "TWOFOLD_DATABASE_URL_FILE", value_name = "FILE")]
    pub database_url_file: Option<PathBuf>,
    /// Directory for the SQLite file and the bootstrap key [default: ./twofold-data].
    #[arg(long, env = "TWOFOLD_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// How far (seconds) a submitted activity's timestampMs may be from server time [default: 300].
    #[arg(long, env = "TWOFOLD_TIMESTAMP_WINDOW_SECS", value_name = "SECS")]
    pub timestamp_window_secs: Option<u64>,
    /// Largest accepted request body in bytes [default: 1048576].
    #[arg(long, env = "TWOFOLD_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Log format [default: text].
    #[arg(long, env = "TWOFOLD_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. `info` or `twofold=debug,tower_http=info` [default: info].
    #[arg(long, env = "TWOFOLD_LOG", value_name = "FILTER")]
    pub log: Option<String>,
    /// Proxies (CIDRs, comma-separated) whose X-Forwarded-For names the client [default: none].
    #[arg(long, env = "TWOFOLD_TRUSTED_PROXIES", value_name = "CIDRS", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    /// File with the 256-bit secrets key (64 hex chars) sealing TOTP seeds and the session
    /// signing key; created if missing. Every node of an installation needs the same key
    /// [default: DATA_DIR/secrets.key].
    #[arg(long, env = "TWOFOLD_SECRETS_KEY_FILE", value_name = "FILE")]
    pub secrets_key_file: Option<PathBuf>,
    /// WebAuthn relying party id: the domain passkeys are bound to [default: localhost].
    #[arg(long, env = "TWOFOLD_WEBAUTHN_RP_ID", value_name = "DOMAIN")]
    pub webauthn_rp_id: Option<String>,
    /// Origins (comma-separated URLs) allowed to use passkeys
    /// [default: http://localhost on any port, when the relying party is localhost].
    #[arg(long, env = "TWOFOLD_WEBAUTHN_ORIGINS", value_name = "URLS", value_delimiter = ',')]
    pub webauthn_origins: Vec<String>,
    /// Failed TOTP or recovery code guesses allowed per user in the window [default: 5].
    #[arg(long, env = "TWOFOLD_AUTH_FAILURE_LIMIT", value_name = "N")]
    pub auth_failure_limit: Option<usize>,
    /// The window failed guesses are counted in, seconds [default: 900].
    #[arg(long, env = "TWOFOLD_AUTH_FAILURE_WINDOW_SECS", value_name = "SECS")]
    pub auth_failure_window_secs: Option<u64>,
    /// Longest session lifetime a login may ask for, seconds [default: 86400].
    #[arg(long, env = "TWOFOLD_SESSION_MAX_SECS", value_name = "SECS")]
    pub session_max_secs: Option<u64>,
    /// A session unused this long is refused, seconds [default: 3600].
    #[arg(long, env = "TWOFOLD_SESSION_IDLE_SECS", value_name = "SECS")]
    pub session_idle_secs: Option<u64>,
    /// User tag names (comma-separated) that make a user an administrator for MFA
    /// enforcement `required_for_admins` [default: administrator,admin,owner,editor].
    #[arg(long, env = "TWOFOLD_MFA_ADMIN_TAGS", value_name = "TAGS", value_delimiter = ',')]
    pub mfa_admin_tags: Vec<String>,
    /// Counted steps one policy decision may spend evaluating conditions; past it the
    /// activity fails closed with "condition exceeded its evaluation budget" [default: 100000].
    #[arg(long, env = "TWOFOLD_EVAL_BUDGET_STEPS", value_name = "STEPS")]
    pub eval_budget_steps: Option<u64>,
    /// Most policies one organization may hold [default: 1000].
    #[arg(long, env = "TWOFOLD_MAX_POLICIES_PER_ORG", value_name = "N")]
    pub max_policies_per_org: Option<usize>,
    /// Most MFA policies one user may have [default: 50].
    #[arg(long, env = "TWOFOLD_MAX_MFA_POLICIES_PER_USER", value_name = "N")]
    pub max_mfa_policies_per_user: Option<usize>,
    /// Delay before a failed webhook delivery is retried; doubles per attempt [default: 10000].
    #[arg(long, env = "TWOFOLD_WEBHOOK_RETRY_BASE_MS", value_name = "MS")]
    pub webhook_retry_base_ms: Option<u64>,
    /// Webhook delivery attempts before an event is marked FAILED [default: 10].
    #[arg(long, env = "TWOFOLD_WEBHOOK_MAX_ATTEMPTS", value_name = "N")]
    pub webhook_max_attempts: Option<u64>,
    /// Rejected stamps of one registered key are audited as one counted row per window
    /// of this many seconds (the first at once) [default: 60].
    #[arg(long, env = "TWOFOLD_AUDIT_REJECTION_WINDOW_SECS", value_name = "SECS")]
    pub audit_rejection_window_secs: Option<u64>,
    /// The audit log's checkpoint signing key (Ed25519, Go `sumdb/note` text; the first line
    /// signs, later lines are rotated-out verifier keys); created 0600 if missing. Every node of
    /// an installation needs the same file [default: DATA_DIR/audit-signing.key].
    #[arg(long, env = "TWOFOLD_AUDIT_KEY_FILE", value_name = "FILE")]
    pub audit_key_file: Option<PathBuf>,
    /// The audit log's name: the signing key's name, and checkpoints of organization O have
    /// origin `<name>/O` [default: twofold.invalid/audit].
    #[arg(long, env = "TWOFOLD_AUDIT_LOG_NAME", value_name = "NAME")]
    pub audit_log_name: Option<String>,
    /// A signed checkpoint of every audit tree that grew is issued this often, seconds [default: 10].
    #[arg(long, env = "TWOFOLD_AUDIT_CHECKPOINT_SECS", value_name = "SECS")]
    pub audit_checkpoint_secs: Option<u64>,
    /// Every new checkpoint is also appended to this file (JSON Lines), for a witness to keep
    /// outside the data directory [default: none].
    #[arg(long, env = "TWOFOLD_AUDIT_WITNESS_FILE", value_name = "FILE")]
    pub audit_witness_file: Option<PathBuf>,
    /// File holding a bearer token that `/metrics` requires [default: none: /metrics is open].
    #[arg(long, env = "TWOFOLD_METRICS_TOKEN_FILE", value_name = "FILE")]
    pub metrics_token_file: Option<PathBuf>,
    /// A connection waiting for a request that receives no byte of one this long is closed,
    /// seconds [default: 60].
    #[arg(long, env = "TWOFOLD_HTTP_IDLE_TIMEOUT_SECS", value_name = "SECS")]
    pub http_idle_timeout_secs: Option<u64>,
    /// A request's headers must be complete this long after its first byte, seconds [default: 10].
    #[arg(long, env = "TWOFOLD_HTTP_HEADER_TIMEOUT_SECS", value_name = "SECS")]
    pub http_header_timeout_secs: Option<u64>,
    /// A request's body must be complete this long after its headers, seconds [default: 30].
    #[arg(long, env = "TWOFOLD_HTTP_BODY_TIMEOUT_SECS", value_name = "SECS")]
    pub http_body_timeout_secs: Option<u64>,
    /// Let webhook endpoints target loopback, link-local, private and unique-local addresses
    /// (for receivers on the same host or network) [default: refused].
    #[arg(long, env = "TWOFOLD_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: bool,
}

/// The TOML file's shape; unknown keys are an error so typos do not pass silently.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    database_url: Option<String>,
    database_url_file: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    timestamp_window_secs: Option<u64>,
    max_body_bytes: Option<usize>,
    log_format: Option<LogFormat>,
    log: Option<String>,
    trusted_proxies: Option<Vec<String>>,
    mfa_admin_tags: Option<Vec<String>>,
    eval_budget_steps: Option<u64>,
    max_policies_per_org: Option<usize>,
    max_mfa_policies_per_user: Option<usize>,
    secrets_key_file: Option<PathBuf>,
    webauthn_rp_id: Option<String>,
    webauthn_origins: Option<Vec<String>>,
    auth_failure_limit: Option<usize>,
    auth_failure_window_secs: Option<u64>,
    session_max_secs: Option<u64>,
    session_idle_secs: Option<u64>,
    webhook_retry_base_ms: Option<u64>,
    webhook_max_attempts: Option<u64>,
    audit_rejection_window_secs: Option<u64>,
    audit_key_file: Option<PathBuf>,
    audit_log_name: Option<String>,
    audit_checkpoint_secs: Option<u64>,
    audit_witness_file: Option<PathBuf>,
    metrics_token_file: Option<PathBuf>,
    http_idle_timeout_secs: Option<u64>,
    http_header_timeout_secs: Option<u64>,
    http_body_timeout_secs: Option<u64>,
    webhook_allow_private: Option<bool>,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Listen address.
    pub listen: SocketAddr,
    /// Database URL.
    pub database_url: String,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Timestamp window in seconds.
    pub timestamp_window_secs: u64,
    /// Body limit.
    pub max_body_bytes: usize,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log: String,
    /// Proxies whose X-Forwarded-For is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Where the secrets key lives.
    pub secrets_key_file: PathBuf,
    /// WebAuthn relying party id.
    pub webauthn_rp_id: String,
    /// Allowed WebAuthn origins.
    pub webauthn_origins: Vec<url::Url>,
    /// Tag names that make a user an administrator for MFA enforcement.
    pub mfa_admin_tags: Vec<String>,
    /// Evaluation budget and policy counts.
    pub policy_limits: twofold_core::PolicyLimits,
    /// Whether an origin matches on any port (only for the localhost default).
    pub webauthn_any_port: bool,
    /// Failed guesses allowed per window.
    pub auth_failure_limit: usize,
    /// The failure window, seconds.
    pub auth_failure_window_secs: u64,
    /// Longest session, seconds.
    pub session_max_secs: u64,
    /// Session inactivity timeout, seconds.
    pub session_idle_secs: u64,
    /// First webhook retry delay, ms.
    pub webhook_retry_base_ms: u64,
    /// Webhook delivery attempts.
    pub webhook_max_attempts: u64,
    /// The window rejected stamps are counted in, seconds.
    pub audit_rejection_window_secs: u64,
    /// The checkpoint signing key file.
    pub audit_key_file: PathBuf,
    /// The audit log's name (key name and origin prefix).
    pub audit_log_name: String,
    /// How often checkpoints are issued, seconds.
    pub audit_checkpoint_secs: u64,
    /// Where new checkpoints are appended for a witness, if anywhere.
    pub audit_witness_file: Option<PathBuf>,
    /// The token `/metrics` requires, if any.
    pub metrics_token: Option<String>,
    /// How long a connection may wait for a request, take for its headers, and for its body.
    pub http_timeouts: twofold_server::ConnectionTimeouts,
    /// Whether webhook endpoints may target private networks.
    pub webhook_allow_private: bool,
}

impl Settings {
    /// Layers defaults, the TOML file, environment and flags (clap already merged the last two).
    pub fn resolve(args: &ConfigArgs) -> Result<Settings, CliError> {
        let file = match &args.config {
            Some(path) => load_file(path)?,
            None => FileConfig::default(),
        };
        let policy_limits = policy_limits(args, &file)?;
        let data_dir = args.data_dir.clone().or(file.data_dir.clone()).unwrap_or_else(|| PathBuf::from("twofold-data"));
        let url_file = args.database_url_file.clone().or(file.database_url_file);
        let database_url = match url_file {
            Some(path) => std::fs::read_to_string(&path)
                .map(|s| s.trim().to_owned())
                .map_err(|e| CliError::Usage(format!("cannot read database URL file {}: {e}", path.display())))?,
            None => args
                .database_url
                .clone()
                .or(file.database_url)
                .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("twofold.db").display())),
        };
        let webauthn_rp_id =
            args.webauthn_rp_id.clone().or(file.webauthn_rp_id).unwrap_or_else(|| "localhost".to_owned());
        let origins = if args.webauthn_origins.is_empty() {
            file.webauthn_origins.unwrap_or_default()
        } else {
            args.webauthn_origins.clone()
        };
        let webauthn_any_port = origins.is_empty() && webauthn_rp_id == "localhost";
        let webauthn_origins = if origins.is_empty() {
            vec![format!("http{}://{webauthn_rp_id}", if webauthn_any_port { "" } else { "s" })]
        } else {
            origins
        };
        let webauthn_origins = webauthn_origins
            .iter()
            .map(|o| {
                url::Url::parse(o.trim())
                    .map_err(|e| CliError::Usage(format!("webauthn_origins: `{o}` is not a URL: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let secrets_key_file =
            args.secrets_key_file.clone().or(file.secrets_key_file).unwrap_or_else(|| data_dir.join("secrets.key"));
        let metrics_token = match args.metrics_token_file.clone().or(file.metrics_token_file) {
            None => None,
            Some(path) => {
                let token = std::fs::read_to_string(&path)
                    .map_err(|e| CliError::Usage(format!("cannot read metrics token file {}: {e}", path.display())))?;
                let token = token.trim().to_owned();
                if token.len() < 16 {
                    return Err(CliError::Usage("metrics token must be at least 16 characters".into()));
                }
                Some(token)
            }
        };
        let secs = |flag: Option<u64>, file: Option<u64>, default: u64, name: &str| {
            let value = flag.or(file).unwrap_or(default);
            if (1..=3600).contains(&value) {
                Ok(std::time::Duration::from_secs(value))
            } else {
                Err(CliError::Usage(format!("{name} must be between 1 and 3600")))
            }
        };
        let http_timeouts = twofold_server::ConnectionTimeouts {
            idle: secs(args.http_idle_timeout_secs, file.http_idle_timeout_secs, 60, "http_idle_timeout_secs")?,
            headers: secs(
                args.http_header_timeout_secs,
                file.http_header_timeout_secs,
                10,
                "http_header_timeout_secs",
            )?,
            body: secs(args.http_body_timeout_secs, file.http_body_timeout_secs, 30, "http_body_timeout_secs")?,
        };
        let audit_key_file =
            args.audit_key_file.clone().or(file.audit_key_file).unwrap_or_else(|| data_dir.join("audit-signing.key"));
        let settings = Settings {
            audit_key_file,
            audit_log_name: args
                .audit_log_name
                .clone()
                .or(file.audit_log_name)
                .unwrap_or_else(|| twofold_core::AuditLogConfig::default().name),
            audit_checkpoint_secs: args.audit_checkpoint_secs.or(file.audit_checkpoint_secs).unwrap_or(10),
            audit_witness_file: args.audit_witness_file.clone().or(file.audit_witness_file),
            http_timeouts,
            webhook_allow_private: args.webhook_allow_private || file.webhook_allow_private.unwrap_or(false),
            metrics_token,
            listen: args.listen.or(file.listen).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            database_url,
            data_dir,
            timestamp_window_secs: args.timestamp_window_secs.or(file.timestamp_window_secs).unwrap_or(300),
            max_body_bytes: args.max_body_bytes.or(file.max_body_bytes).unwrap_or(1024 * 1024),
            log_format: args.log_format.or(file.log_format).unwrap_or(LogFormat::Text),
            log: args.log.clone().or(file.log).unwrap_or_else(|| "info".to_owned()),
            mfa_admin_tags: admin_tags(if args.mfa_admin_tags.is_empty() {
                file.mfa_admin_tags
            } else {
                Some(args.mfa_admin_tags.clone())
            }),
            policy_limits,
            trusted_proxies: parse_proxies(if args.trusted_proxies.is_empty() {
                file.trusted_proxies.unwrap_or_default()
            } else {
                args.trusted_proxies.clone()
            })?,
            secrets_key_file,
            webauthn_rp_id,
            webauthn_origins,
            webauthn_any_port,
            auth_failure_limit: args.auth_failure_limit.or(file.auth_failure_limit).unwrap_or(5),
            auth_failure_window_secs: args.auth_failure_window_secs.or(file.auth_failure_window_secs).unwrap_or(900),
            session_max_secs: args.session_max_secs.or(file.session_max_secs).unwrap_or(24 * 3600),
            session_idle_secs: args.session_idle_secs.or(file.session_idle_secs).unwrap_or(3600),
            webhook_retry_base_ms: args.webhook_retry_base_ms.or(file.webhook_retry_base_ms).unwrap_or(10_000),
            webhook_max_attempts: args.webhook_max_attempts.or(file.webhook_max_attempts).unwrap_or(10),
            audit_rejection_window_secs: args
                .audit_rejection_window_secs
                .or(file.audit_rejection_window_secs)
                .unwrap_or(60),
        };
        if !(1..=100).contains(&settings.auth_failure_limit) {
            return Err(CliError::Usage("auth_failure_limit must be between 1 and 100 (NIST 800-63B §3.2.2)".into()));
        }
        if !(100..=3_600_000).contains(&settings.webhook_retry_base_ms) {
            return Err(CliError::Usage("webhook_retry_base_ms must be between 100 and 3600000".into()));
        }
        if !(1..=3600).contains(&settings.audit_checkpoint_secs) {
            return Err(CliError::Usage("audit_checkpoint_secs must be between 1 and 3600".into()));
        }
        if settings.audit_log_name.is_empty() || settings.audit_log_name.contains([' ', '+', '\n']) {
            return Err(CliError::Usage("audit_log_name must be non-empty, without spaces or `+`".into()));
        }
        if !(1..=3600).contains(&settings.audit_rejection_window_secs) {
            return Err(CliError::Usage("audit_rejection_window_secs must be between 1 and 3600".into()));
        }
        if !(1..=50).contains(&settings.webhook_max_attempts) {
            return Err(CliError::Usage("webhook_max_attempts must be between 1 and 50".into()));
        }
        if !(60..=86_400).contains(&settings.session_idle_secs) {
            return Err(CliError::Usage("session_idle_secs must be between 60 and 86400".into()));
        }
        if settings.auth_failure_window_secs == 0 {
            return Err(CliError::Usage("auth_failure_window_secs must be at least 1".into()));
        }
        if settings.session_max_secs == 0 || settings.session_max_secs > 24 * 3600 {
            return Err(CliError::Usage("session_max_secs must be between 1 and 86400 (NIST AAL2)".into()));
        }
        if settings.timestamp_window_secs == 0 || settings.timestamp_window_secs > 24 * 3600 {
            return Err(CliError::Usage("timestamp_window_secs must be between 1 and 86400".into()));
        }
        if settings.max_body_bytes < 1024 {
            return Err(CliError::Usage("max_body_bytes must be at least 1024".into()));
        }
        Ok(settings)
    }
}

/// The evaluation budget and policy caps, each from flag/env, file or default, checked.
fn policy_limits(args: &ConfigArgs, file: &FileConfig) -> Result<twofold_core::PolicyLimits, CliError> {
    let d = twofold_core::PolicyLimits::default();
    let limits = twofold_core::PolicyLimits {
        eval_budget: args.eval_budget_steps.or(file.eval_budget_steps).unwrap_or(d.eval_budget),
        max_policies_per_org: args.max_policies_per_org.or(file.max_policies_per_org).unwrap_or(d.max_policies_per_org),
        max_mfa_policies_per_user: args
            .max_mfa_policies_per_user
            .or(file.max_mfa_policies_per_user)
            .unwrap_or(d.max_mfa_policies_per_user),
    };
    if !(1_000..=100_000_000).contains(&limits.eval_budget) {
        return Err(CliError::Usage("eval_budget_steps must be between 1000 and 100000000".into()));
    }
    if !(1..=100_000).contains(&limits.max_policies_per_org) {
        return Err(CliError::Usage("max_policies_per_org must be between 1 and 100000".into()));
    }
    if !(1..=1_000).contains(&limits.max_mfa_policies_per_user) {
        return Err(CliError::Usage("max_mfa_policies_per_user must be between 1 and 1000".into()));
    }
    Ok(limits)
}

/// The admin tag names, trimmed; the built-in list when none are configured.
fn admin_tags(configured: Option<Vec<String>>) -> Vec<String> {
    let tags: Vec<String> =
        configured.unwrap_or_default().iter().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect();
    if tags.is_empty() {
        twofold_core::enforcement::DEFAULT_ADMIN_TAGS.iter().map(|t| (*t).to_owned()).collect()
    } else {
        tags
    }
}

fn parse_proxies(items: Vec<String>) -> Result<Vec<ipnet::IpNet>, CliError> {
    items
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            let s = s.trim();
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| CliError::Usage(format!("trusted_proxies: `{s}` is not an IP address or CIDR")))
        })
        .collect()
}

fn load_file(path: &Path) -> Result<FileConfig, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Usage(format!("cannot read config file {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| CliError::Usage(format!("config file {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_the_file_and_the_file_beats_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("twofold.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:9000\"\ntimestamp_window_secs = 60\n").expect("write");
        let args = ConfigArgs { config: Some(path), timestamp_window_secs: Some(30), ..ConfigArgs::default() };
        let s = Settings::resolve(&args).expect("resolves");
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.timestamp_window_secs, 30);
        assert_eq!(s.max_body_bytes, 1024 * 1024);
        assert!(s.database_url.starts_with("sqlite://"));
    }

    #[test]
    fn unknown_keys_in_the_file_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("twofold.toml");
        std::fs::write(&path, "lisen = \"127.0.0.1:9000\"\n").expect("write");
        let err = Settings::resolve(&ConfigArgs { config: Some(path), ..ConfigArgs::default() }).expect_err("typo");
        assert!(err.to_string().contains("lisen"), "{err}");
    }
}
