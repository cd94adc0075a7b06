//! The sqlx implementation of [`Store`] for SQLite and PostgreSQL.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, AssertSqlSafe, Executor, Row, Transaction};
use twofold_core::audit::{AuditCheckpoint, AuditEvent};
use twofold_core::enforcement::EnforcementRule;
use twofold_core::model::{
    Activity, ActivityFilter, ApiKey, Channel, Delivery, EmailEvent, Factor, FactorKind, MfaPolicy, MfaProof,
    OauthProvider, OidcIssuer, Organization, Policy, PolicyEvaluationRecord, SessionProfile, User, UserTag, Vote,
    WebhookEndpoint,
};
use twofold_core::network::{IpRule, IpRuleSet, ListKind};
use twofold_core::otp::{OtpFlow, OtpFlowStatus, Usage};
use twofold_core::store::{
    Activities, AuditFilter, AuditLog, AuthProxies, Credentials, Installation, MfaRules, NetworkRules, OidcLogins,
    Organizations, OtpFlows, Policies, Store, StoreError, StoreResult, StoreTx, SubOrgFilter, Users, Webhooks,
};

use crate::{OpenError, rows};

static MIGRATIONS_SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");
static MIGRATIONS_POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// The columns of `users`, in the order `insert_user` binds them; `rows::user` decodes them by name.
macro_rules! user_columns {
    () => {
        "id, organization_id, name, email, phone, created_at, updated_at, email_verified_at, \
         phone_verified_at, email_vouched_by, phone_vouched_by, admin_since, api_only"
    };
}

/// Creates `dir` (and parents) readable by the owner only, as data directories should be.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates an empty owner-only file unless `file` exists (SQLite reads an empty file as a new database).
fn private_file(file: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(file) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Reads the admission epoch row.
const EPOCH_SQL: &str = "SELECT epoch FROM admission_epoch WHERE id = 1";

/// Which database a [`SqlStore`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file in WAL mode.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// Connection settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Largest number of pooled connections (PostgreSQL; SQLite readers).
    pub max_connections: u32,
    /// How long to wait for a connection or a lock.
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { max_connections: 8, acquire_timeout: Duration::from_secs(10) }
    }
}

/// A SQLite or PostgreSQL database holding twofold's state.
///
/// SQLite gets one writer connection (SQLite allows one writer at a time; a single
/// connection makes that explicit instead of surfacing `SQLITE_BUSY`) and a pool of
/// readers that see WAL snapshots. PostgreSQL uses one pool for both.
///
/// On SQLite, which one server process serves, every write goes through this writer,
/// so the admission epoch is a counter in memory, moved after each commit that moves the
/// row; on PostgreSQL, where several nodes write, it is read from the row.
#[derive(Debug, Clone)]
pub struct SqlStore {
    backend: Backend,
    reader: AnyPool,
    writer: AnyPool,
    epoch: Option<Arc<AtomicI64>>,
}

fn install_drivers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}

fn backend_err(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.is_unique_violation()
    {
        return StoreError::Conflict(format!("already exists: {}", db.message()));
    }
    tracing::error!(error = %e, "database error");
    StoreError::Backend(e.to_string())
}

impl SqlStore {
    /// Opens (creating if needed) and migrates the database at `url`
    /// (`sqlite://path/to/file.db` or `postgres://...`).
    pub async fn open(url: &str, options: &StoreOptions) -> Result<SqlStore, OpenError> {
        install_drivers();
        let store = if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            Self::open_sqlite(path, options).await?
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = AnyPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                .connect(url)
                .await
                .map_err(OpenError::Connect)?;
            SqlStore { backend: Backend::Postgres, reader: pool.clone(), writer: pool, epoch: None }
        } else {
            return Err(OpenError::UnsupportedUrl(url.to_owned()));
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn open_sqlite(path: &str, options: &StoreOptions) -> Result<SqlStore, OpenError> {
        let file = path.split('?').next().unwrap_or(path);
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| OpenError::Directory { path, source }
        };
        if let Some(dir) = Path::new(file).parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
            private_dir(dir).map_err(io(dir))?;
        }
        // Created owner-only before SQLite opens it; SQLite gives its -wal and -shm
        // files the database file's permissions.
        private_file(Path::new(file)).map_err(io(Path::new(file)))?;
        let url = format!("sqlite://{file}?mode=rwc");
        let pool = |max: u32| {
            AnyPoolOptions::new().max_connections(max).acquire_timeout(options.acquire_timeout).after_connect(
                |conn, _meta| {
                    Box::pin(async move {
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        Ok(())
                    })
                },
            )
        };
        let writer = pool(1).connect(&url).await.map_err(OpenError::Connect)?;
        // WAL is a property of the file: set once, it holds for every connection.
        sqlx::query("PRAGMA journal_mode = WAL").fetch_all(&writer).await.map_err(OpenError::Connect)?;
        let reader = pool(options.max_connections.max(1)).connect(&url).await.map_err(OpenError::Connect)?;
        Ok(SqlStore { backend: Backend::Sqlite, reader, writer, epoch: Some(Arc::new(AtomicI64::new(0))) })
    }

    async fn migrate(&self) -> Result<(), OpenError> {
        let migrator = match self.backend {
            Backend::Sqlite => &MIGRATIONS_SQLITE,
            Backend::Postgres => &MIGRATIONS_POSTGRES,
        };
        migrator.run(&self.writer).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::VersionMissing(v) => OpenError::SchemaTooNew(v),
            other => OpenError::Migrate(other),
        })
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection (waits for checked-out ones to return).
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn read(&self) -> StoreResult<Box<dyn StoreTx>> {
        let tx = self.reader.begin().await.map_err(backend_err)?;
        Ok(Box::new(SqlTx { tx, epoch: None, moved: false }))
    }

    async fn write(&self) -> StoreResult<Box<dyn StoreTx>> {
        let tx = self.writer.begin().await.map_err(backend_err)?;
        Ok(Box::new(SqlTx { tx, epoch: self.epoch.clone(), moved: false }))
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").fetch_one(&self.reader).await.map_err(backend_err)?;
        Ok(())
    }

    async fn admission_epoch(&self) -> StoreResult<i64> {
        match &self.epoch {
            Some(mirror) => Ok(mirror.load(Ordering::Acquire)),
            None => {
                let row = sqlx::query(EPOCH_SQL).fetch_one(&self.reader).await.map_err(backend_err)?;
                row.try_get::<i64, _>(0).map_err(backend_err)
            }
        }
    }
}

/// A query ready to run.
type Query<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>;

/// One open transaction.
struct SqlTx {
    tx: Transaction<'static, Any>,
    /// The store's in-memory admission epoch (SQLite), published on commit.
    epoch: Option<Arc<AtomicI64>>,
    /// Whether this transaction moved the admission epoch (perhaps in a savepoint it later
    /// rolled back: then the commit moves the mirror for nothing, which only costs a re-read).
    moved: bool,
}

/// A savepoint name must be a plain identifier: it is spliced into SQL.
fn savepoint_name(name: &str) -> StoreResult<&str> {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        Ok(name)
    } else {
        Err(StoreError::Backend(format!("invalid savepoint name {name:?}")))
    }
}

impl SqlTx {
    async fn exec(&mut self, sql: &str) -> StoreResult<()> {
        sqlx::query(AssertSqlSafe(sql.to_owned())).execute(&mut *self.tx).await.map_err(backend_err)?;
        Ok(())
    }

    async fn all<T>(&mut self, q: Query<'_>, f: fn(&AnyRow) -> Result<T, sqlx::Error>) -> StoreResult<Vec<T>> {
        let rows = q.fetch_all(&mut *self.tx).await.map_err(backend_err)?;
        rows.iter().map(|r| f(r).map_err(backend_err)).collect()
    }

    async fn one<T>(&mut self, q: Query<'_>, f: fn(&AnyRow) -> Result<T, sqlx::Error>) -> StoreResult<Option<T>> {
        let row = q.fetch_optional(&mut *self.tx).await.map_err(backend_err)?;
        row.as_ref().map(|r| f(r).map_err(backend_err)).transpose()
    }

    /// Runs a `DELETE` whose conditions use `binds` as `$1..`, narrowed to `ids` when
    /// given (in one statement); returns how many rows went.
    async fn delete_ids(&mut self, mut sql: String, mut binds: Vec<Bind>, ids: Option<&[String]>) -> StoreResult<u64> {
        if let Some(ids) = ids {
            if ids.is_empty() {
                return Ok(0);
            }
            let first = binds.len() + 1;
            let placeholders: Vec<String> = (first..first + ids.len()).map(|n| format!("${n}")).collect();
            sql.push_str(&format!(" AND id IN ({})", placeholders.join(", ")));
            binds.extend(ids.iter().cloned().map(Bind::Text));
        }
        self.affected(bound(sql, binds)).await
    }

    /// Moves the admission epoch forward inside this transaction (see `Store::admission_epoch`).
    async fn bump_admission_epoch(&mut self) -> StoreResult<()> {
        self.exec("UPDATE admission_epoch SET epoch = epoch + 1 WHERE id = 1").await?;
        self.moved = true;
        Ok(())
    }

    async fn affected(&mut self, q: Query<'_>) -> StoreResult<u64> {
        Ok(q.execute(&mut *self.tx).await.map_err(backend_err)?.rows_affected())
    }
}

const ACTIVITY_COLUMNS: &str = "id, organization_id, type, intent, status, fingerprint, result, failure, \
     initiator_user_id, initiator_credential_id, created_at, updated_at";
const POLICY_COLUMNS: &str =
    "id, organization_id, name, effect, condition, consensus, time_window, notes, created_at, updated_at";
const AUDIT_COLUMNS: &str = "id, organization_id, seq, at, event_type, outcome, actor_user_id, \
     actor_credential_id, subject, details, prev_hash, hash";
const KEY_COLUMNS: &str = "id, organization_id, user_id, name, public_key, verify_key, curve, created_at, \
     updated_at, expires_at, kind, session_profile_id";
const ENFORCEMENT_COLUMNS: &str =
    "organization_id, value, grace_period_days, accept_email_sms_otp, updated_at, updated_by";
const FACTOR_COLUMNS: &str = "id, organization_id, user_id, kind, name, lookup, public_data, secret, counter, \
     active, used_at, created_at, updated_at, bound_at";

#[async_trait]
impl StoreTx for SqlTx {
    async fn commit(self: Box<Self>) -> StoreResult<()> {
        self.tx.commit().await.map_err(backend_err)?;
        // The mirror need not equal the row: it only has to change whenever a committed
        // transaction may have changed what admission reads.
        if let (Some(mirror), true) = (&self.epoch, self.moved) {
            mirror.fetch_add(1, Ordering::AcqRel);
        }
        Ok(())
    }

    async fn savepoint(&mut self, name: &str) -> StoreResult<()> {
        let sql = format!("SAVEPOINT {}", savepoint_name(name)?);
        self.exec(&sql).await
    }

    async fn rollback_to(&mut self, name: &str) -> StoreResult<()> {
        let sql = format!("ROLLBACK TO SAVEPOINT {}", savepoint_name(name)?);
        self.exec(&sql).await
    }

    async fn release(&mut self, name: &str) -> StoreResult<()> {
        let sql = format!("RELEASE SAVEPOINT {}", savepoint_name(name)?);
        self.exec(&sql).await
    }
}

#[async_trait]
impl Installation for SqlTx {
    async fn claim_installation(&mut self, root_org_id: &str, now: i64) -> StoreResult<bool> {
        let q = sqlx::query(
            "INSERT INTO installation (id, root_organization_id, created_at) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(root_org_id.to_owned())
        .bind(now);
        Ok(self.affected(q).await? == 1)
    }

    async fn installation_root(&mut self) -> StoreResult<Option<String>> {
        let q = sqlx::query("SELECT root_organization_id FROM installation WHERE id = 1");
        self.one(q, |r| r.try_get::<String, _>(0)).await
    }

    async fn take_pending_rewrite(&mut self, name: &str) -> StoreResult<bool> {
        let q = sqlx::query("DELETE FROM pending_rewrites WHERE name = $1").bind(name.to_owned());
        Ok(self.affected(q).await? == 1)
    }

    async fn server_secret(&mut self, name: &str) -> StoreResult<Option<String>> {
        let q = sqlx::query("SELECT sealed FROM server_secrets WHERE name = $1").bind(name.to_owned());
        self.one(q, |r| r.try_get::<String, _>(0)).await
    }

    async fn insert_server_secret(&mut self, name: &str, sealed: &str, now: i64) -> StoreResult<bool> {
        let q = sqlx::query(
            "INSERT INTO server_secrets (name, sealed, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name.to_owned())
        .bind(sealed.to_owned())
        .bind(now);
        Ok(self.affected(q).await? == 1)
    }
}

#[async_trait]
impl Organizations for SqlTx {
    async fn insert_organization(&mut self, o: &Organization) -> StoreResult<()> {
        let q = sqlx::query(
            "INSERT INTO organizations (id, name, parent_id, root_quorum_threshold, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(o.id.clone())
        .bind(o.name.clone())
        .bind(o.parent_id.clone())
        .bind(o.root_quorum_threshold)
        .bind(o.created_at)
        .bind(o.updated_at);
        self.affected(q).await.map(drop)
    }

    async fn get_organization(&mut self, id: &str) -> StoreResult<Option<Organization>> {
        let q = sqlx::query(
            "SELECT id, name, parent_id, root_quorum_threshold, created_at, updated_at FROM organizations \
             WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(id.to_owned());
        self.one(q, rows::organization).await
    }

    async fn list_sub_organizations(&mut self, parent_id: &str) -> StoreResult<Vec<String>> {
        let q = sqlx::query(
            "SELECT id FROM organizations WHERE parent_id = $1 AND deleted_at IS NULL ORDER BY created_at, id",
        )
        .bind(parent_id.to_owned());
        self.all(q, |r| r.try_get::<String, _>(0)).await
    }

    async fn sub_organizations_with(&mut self, parent_id: &str, filter: &SubOrgFilter) -> StoreResult<Vec<String>> {
        // Each filter seeks an index of what it names (migration 0021), then keeps the parent's
        // own sub-organizations: the cost does not grow with how many sub-organizations there are.
        let (matching, value) = match filter {
            SubOrgFilter::Name(v) => ("o.name = $2", v.clone()),
            SubOrgFilter::UserName(v) => {
                ("o.id IN (SELECT u.organization_id FROM users u WHERE u.name = $2)", v.clone())
            }
            SubOrgFilter::Email(v) => {
                ("o.id IN (SELECT u.organization_id FROM users u WHERE lower(u.email) = $2)", v.to_lowercase())
            }
            SubOrgFilter::PhoneNumber(v) => {
                ("o.id IN (SELECT u.organization_id FROM users u WHERE u.phone = $2)", v.clone())
            }
            SubOrgFilter::CredentialId(v) => (
                "o.id IN (SELECT f.organization_id FROM factors f WHERE f.kind = 'PASSKEY' AND f.lookup = $2)",
                v.clone(),
            ),
            SubOrgFilter::PublicKey(v) => {
                ("o.id IN (SELECT k.organization_id FROM api_keys k WHERE k.public_key = $2)", v.to_ascii_lowercase())
            }
            SubOrgFilter::VerifiedEmail(v) => (
                "o.id IN (SELECT u.organization_id FROM users u WHERE lower(u.email) = $2 \
                 AND u.email_verified_at IS NOT NULL)",
                v.to_lowercase(),
            ),
            SubOrgFilter::VerifiedPhoneNumber(v) => (
                "o.id IN (SELECT u.organization_id FROM users u WHERE u.phone = $2 AND u.phone_verified_at IS NOT NULL)",
                v.clone(),
            ),
            SubOrgFilter::AnyVerified => (
                "o.id IN (SELECT u.organization_id FROM users u WHERE $2 = '' AND \
                 (u.email_verified_at IS NOT NULL OR u.phone_verified_at IS NOT NULL))",
                String::new(),
            ),
        };
        let sql = format!(
            "SELECT o.id FROM organizations o WHERE o.parent_id = $1 AND o.deleted_at IS NULL AND {matching} \
             ORDER BY o.created_at, o.id"
        );
        let q = sqlx::query(AssertSqlSafe(sql)).bind(parent_id.to_owned()).bind(value);
        self.all(q, |r| r.try_get::<String, _>(0)).await
    }

    async fn set_root_quorum(
        &mut self,
        org_id: &str,
        threshold: i64,
        user_ids: &[String],
        now: i64,
    ) -> StoreResult<()> {
        self.bump_admission_epoch().await?;
        let q = sqlx::query("UPDATE organizations SET root_quorum_threshold = $1, updated_at = $2 WHERE id = $3")
            .bind(threshold)
            .bind(now)
            .bind(org_id.to_owned());
        self.affected(q).await?;
        let q = sqlx::query("DELETE FROM root_quorum_members WHERE organization_id = $1").bind(org_id.to_owned());
        self.affected(q).await?;
        for uid in user_ids {
            let q = sqlx::query("INSERT INTO root_quorum_members (organization_id, user_id) VALUES ($1, $2)")
                .bind(org_id.to_owned())
                .bind(uid.clone());
            self.affected(q).await?;
        }
        Ok(())
    }

    async fn root_quorum_members(&mut self, org_id: &str) -> StoreResult<Vec<String>> {
        let q = sqlx::query("SELECT user_id FROM root_quorum_members WHERE organization_id = $1 ORDER BY user_id")
            .bind(org_id.to_owned());
        self.all(q, |r| r.try_get::<String, _>(0)).await
    }

    async fn organization_tree(&mut self, root_id: &str) -> StoreResult<Vec<Organization>> {
        let q = sqlx::query(
            "WITH RECURSIVE tree (id) AS (SELECT id FROM organizations WHERE id = $1 AND deleted_at IS NULL \
             UNION SELECT o.id FROM organizations o JOIN tree t ON o.parent_id = t.id WHERE o.deleted_at IS NULL) \
             SELECT id, name, parent_id, root_quorum_threshold, created_at, updated_at FROM organizations \
             WHERE id IN (SELECT id FROM tree) ORDER BY created_at, id",
        )
        .bind(root_id.to_owned());
        self.all(q, rows::organization).await
    }

    async fn rename_organization(&mut self, org_id: &str, name: &str, now: i64) -> StoreResult<bool> {
        // Admission keeps the organization (its name answers whoami): cached copies must go.
        self.bump_admission_epoch().await?;
        let q = sqlx::query("UPDATE organizations SET name = $1, updated_at = $2 WHERE id = $3 AND deleted_at IS NULL")
            .bind(name.to_owned())
            .bind(now)
            .bind(org_id.to_owned());
        Ok(self.affected(q).await? == 1)
    }

    async fn delete_organization(&mut self, org_id: &str, now: i64) -> StoreResult<bool> {
        self.bump_admission_epoch().await?;
        let q = sqlx::query(
            "UPDATE organizations SET deleted_at = $1, updated_at = $1 WHERE id = $2 AND deleted_at IS NULL",
        )
        .bind(now)
        .bind(org_id.to_owned());
        if self.affected(q).await? == 0 {
            return Ok(false);
        }
        // Rows that point at others go first (tag members and keys at users, users at the organization).
        for sql in [
            "DELETE FROM user_tag_members WHERE user_id IN (SELECT id FROM users WHERE organization_id = $1)",
            "DELETE FROM root_quorum_members WHERE organization_id = $1",
            "DELETE FROM api_keys WHERE organization_id = $1",
            "DELETE FROM factors WHERE organization_id = $1",
            "DELETE FROM oauth_providers WHERE organization_id = $1",
            "DELETE FROM oidc_issuers WHERE organization_id = $1",
            "DELETE FROM webauthn_challenges WHERE organization_id = $1",
            "DELETE FROM auth_failures WHERE organization_id = $1",
            "DELETE FROM mfa_policies WHERE organization_id = $1",
            "DELETE FROM user_tags WHERE organization_id = $1",
            "DELETE FROM users WHERE organization_id = $1",
            "DELETE FROM policies WHERE organization_id = $1",
            "DELETE FROM session_profiles WHERE organization_id = $1",
            "DELETE FROM ip_rules WHERE organization_id = $1",
            "DELETE FROM outbox WHERE organization_id = $1 AND channel = 'WEBHOOK' AND status = 'PENDING'",
            "DELETE FROM webhook_endpoints WHERE organization_id = $1",
            "DELETE FROM cors_origins WHERE organization_id = $1",
            "DELETE FROM email_events WHERE organization_id = $1",
            "DELETE FROM auth_proxies WHERE organization_id = $1",
            "DELETE FROM otp_flows WHERE organization_id = $1",
            "DELETE FROM otp_settings WHERE organization_id = $1",
            "DELETE FROM mfa_enforcement WHERE organization_id = $1",
        ] {
            self.affected(sqlx::query(sql).bind(org_id.to_owned())).await?;
        }
        Ok(true)
    }
}

#[async_trait]
impl Users for SqlTx {
    async fn insert_user(&mut self, u: &User) -> StoreResult<()> {
        let q = sqlx::query(concat!(
            "INSERT INTO users (",
            user_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(u.id.clone())
        .bind(u.organization_id.clone())
        .bind(u.name.clone())
        .bind(u.email.clone())
        .bind(u.phone.clone())
        .bind(u.created_at)
        .bind(u.updated_at)
        .bind(u.email_verified_at)
        .bind(u.phone_verified_at)
        .bind(u.email_vouched_by.clone())
        .bind(u.phone_vouched_by.clone())
        .bind(u.admin_since)
        .bind(i64::from(u.api_only));
        self.affected(q).await.map(drop)
    }

    async fn update_user(&mut self, u: &User) -> StoreResult<()> {
        self.bump_admission_epoch().await?;
        let q = sqlx::query(
            "UPDATE users SET name = $1, email = $2, phone = $3, updated_at = $4, email_verified_at = $7, \
             phone_verified_at = $8, email_vouched_by = $9, phone_vouched_by = $10, admin_since = $11 \
             WHERE id = $5 AND organization_id = $6",
        )
        .bind(u.name.clone())
        .bind(u.email.clone())
        .bind(u.phone.clone())
        .bind(u.updated_at)
        .bind(u.id.clone())
        .bind(u.organization_id.clone())
        .bind(u.email_verified_at)
        .bind(u.phone_verified_at)
        .bind(u.email_vouched_by.clone())
        .bind(u.phone_vouched_by.clone())
        .bind(u.admin_since);
        self.affected(q).await.map(drop)
    }

    async fn delete_user(&mut self, org_id: &str, user_id: &str) -> StoreResult<bool> {
        self.bump_admission_epoch().await?;
        for sql in [
            "DELETE FROM user_tag_members WHERE user_id = $1",
            "DELETE FROM api_keys WHERE user_id = $1",
            "DELETE FROM factors WHERE user_id = $1",
            "DELETE FROM oauth_providers WHERE user_id = $1",
            "DELETE FROM webauthn_challenges WHERE user_id = $1",
            "DELETE FROM auth_failures WHERE user_id = $1",
            "DELETE FROM root_quorum_members WHERE user_id = $1",
            "DELETE FROM mfa_policies WHERE user_id = $1",
        ] {
            self.affected(sqlx::query(sql).bind(user_id.to_owned())).await?;
        }
        let q = sqlx::query("DELETE FROM users WHERE id = $1 AND organization_id = $2")
            .bind(user_id.to_owned())
            .bind(org_id.to_owned());
        Ok(self.affected(q).await? == 1)
    }

    async fn get_user(&mut self, org_id: &str, user_id: &str) -> StoreResult<Option<User>> {
        let q = sqlx::query(concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1 AND organization_id = $2"))
            .bind(user_id.to_owned())
            .bind(org_id.to_owned());
        self.one(q, rows::user).await
    }

    async fn list_users(&mut self, org_id: &str) -> StoreResult<Vec<User>> {
        let q = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE organization_id = $1 ORDER BY created_at, id"
        ))
        .bind(org_id.to_owned());
        self.all(q, rows::user).await
    }

    async fn api_only_users(&mut self, org_id: &str, limit: u32) -> StoreResult<Vec<User>> {
        let q = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE organization_id = $1 AND api_only = 1 ORDER BY created_at, id LIMIT $2"
        ))
        .bind(org_id.to_owned())
        .bind(i64::from(limit));
        self.all(q, rows::user).await
    }

    async fn insert_user_tag(&mut self, t: &UserTag) -> StoreResult<()> {
        let q = sqlx::query(
            "INSERT INTO user_tags (id, organization_id, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (organization_id, name) DO NOTHING",
        )
        .bind(t.id.clone())
        .bind(t.organization_id.clone())
        .bind(t.name.clone())
        .bind(t.created_at)
        .bind(t.updated_at);
        if self.affected(q).await? == 0 {
            return Err(StoreError::Conflict(format!("a user tag named `{}` already exists", t.name)));
        }
        Ok(())
    }

    async fn list_user_tags(&mut self, org_id: &str) -> StoreResult<Vec<UserTag>> {
        let q = sqlx::query(
            "SELECT id, organization_id, name, created_at, updated_at FROM user_tags \
             WHERE organization_id = $1 ORDER BY created_at, id",
        )
        .bind(org_id.to_owned());
        self.all(q, rows::user_tag).await
    }

    async fn set_user_tags(&mut self, user_id: &str, tag_ids: &[String]) -> StoreResult<()> {
        self.bump_admission_epoch().await?;
        let q = sqlx::query("DELETE FROM user_tag_members WHERE user_id = $1").bind(user_id.to_owned());
        self.affected(q).await?;
        for tag in tag_ids {
            self.add_user_to_tag(tag, user_id).await?;
        }
        Ok(())
    }

    async fn add_user_to_tag(&mut self, tag_id: &str, user_id: &str) -> StoreResult<()> {
        self.bump_admission_epoch().await?;
        let q = sqlx::query(
            "INSERT INTO user_tag_members (tag_id, user_id) VALUES ($1, $2) ON CONFLICT (tag_id, user_id) DO NOTHING",
        )
        .bind(tag_id.to_owned())
        .bind(user_id.to_owned());
        self.affected(q).await.map(drop)
    }

    async fn remove_user_from_tag(&mut self, tag_id: &str, user_id: &str) -> StoreResult<()> {
        self.bump_admission_epoch().await?;
        let q = sqlx::query("DELETE FROM user_tag_members WHERE tag_id = $1 AND user_id = $2")
            .bind(tag_id.to_owned())
            .bind(user_id.to_owned());
        self.affected(q).await.map(drop)
    }

    async fn user_tag_members(&mut self, tag_id: &str) -> StoreResult<Vec<String>> {
        let q = sqlx::query("SELECT user_id FROM user_tag_members WHERE tag_id = $1 ORDER BY user_id")
            .bind(tag_id.to_owned());
        self.all(q, |r| r.try_get::<String, _>(0)).await
    }

    async fn rename_user_tag(&mut self, org_id: &str, tag_id: &str, name: &str, now: i64) -> StoreResult<bool> {
        self.bump_admission_epoch().await?;
        let q = sqlx::query("UPDATE user_tags SET name = $1, updated_at = $2 WHERE id = $3 AND organization_id = $4")
            .bind(name.to_owned())
            .bind(now)
            .bind(tag_id.to_owned())
            .bind(org_id.to_owned());
        Ok(self.affected(q).await? == 1)
    }

    async fn delete_user_tag(&mut self, org_id: &str, tag_id: &str) -> StoreResult<bool> {
        self.bump_admission_epoch().await?;
        let q = sqlx::query(
            "DELETE FROM user_tag_members WHERE tag_id = $1 AND tag_id IN (SELECT id FROM user_tags WHERE organization_id = $2)",
        )
        .bind(tag_id.to_owned())
        .bind(org_id.to_owned());
        self.affected(q).await?;
        let q = sqlx::query("DELETE FROM user_tags WHERE id = $1 AND organization_id = $2")
            .bind(tag_id.to_owned())
            .bind(org_id.to_owned());
        Ok(self.affected(q).await? == 1)
    }

    async fn user_tag_memberships(&mut self, org_id: &str) -> StoreResult<Vec<(String, String)>> {
        let q = sqlx::query(
            "SELECT m.user_id, m.tag_id FROM user_tag_members m JOIN user_tags t ON t.id = m.tag_id \
             WHERE t.organization_id = $1 ORDER BY t.created_at, t.id",
        )
        .bind(org_id.to_owned());
        self.all(q, |r| Ok((r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?))).await
    }

    async fn tag_memberships_of(&mut self, org_id: &str, user_ids: &[&str]) -> StoreResult<Vec<(String, String)>> {
        let mut ids: Vec<&str> = user_ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (2..ids.len() + 2).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT m.user_id, m.tag_id FROM user_tag_members m JOIN user_tags t ON t.id = m.tag_id \
             WHERE t.organization_id = $1 AND m.user_id IN ({}) ORDER BY t.created_at, t.id",
            placeholders.join(", ")
        );
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(org_id.to_owned());
        for id in ids {
            q = q.bind(id.to_owned());
        }
        self.all(q, |r| Ok((r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?))).await
    }

    async fn lock_user(&mut self, org_id: &str, user_id: &str) -> StoreResult<bool> {
        // As in lock_activity: a no-op write takes the row lock on PostgreSQL and the
        // write lock on SQLite.
        let q = sqlx::query("UPDATE users SET updated_at = updated_at WHERE organization_id = $1 AND id = $2")
            .bind(org_id.to_owned())
            .bind(user_id.to_owned());
        Ok(self.affected(q).await? == 1)
    }

    async fn users_with_contact(
        &mut self,
        org_id: &str,
        parent_id: Option<&str>,
        email: bool,
        contact: &str,
    ) -> StoreResult<Vec<User>> {
        let (matches, verified, vouched) = if email {
            ("LOWER(email) = $2", "email_verified_at", "email_vouched_by")
        } else {
            ("phone = $2", "phone_verified_at", "phone_vouched_by")
        };
        // Own users first: they win over a sub-organization's.
        let sql = format!(
            "SELECT {} FROM users WHERE {matches} AND \
             ((organization_id = $1 AND ({verified} IS NOT NULL OR {vouched} = $1 OR {vouched} = $3)) \
             OR (organization_id IN (SELECT id FROM organizations WHERE parent_id = $1) \
             AND ({verified} IS NOT NULL OR {vouched} = $1))) \
             AND api_only = 0 \
             ORDER BY CASE WHEN organization_id = $1 THEN 0 ELSE 1 END, created_at, id LIMIT 2",
            user_columns!()
        );
        let q = sqlx::query(AssertSqlSafe(sql))
            .bind(org_id.to_owned())
            .bind(contact.to_owned())
            .bind(parent_id.unwrap_or_default().to_owned());
        self.all(q, rows::user).await
    }
}

#[async_trait]
impl Credentials for SqlTx {
    async fn insert_api_key(&mut self, k: &ApiKey) -> StoreResult<()> {
        // One public key, one curve, everywhere: the stamp's verifier is chosen by it.
        let other = sqlx::query("SELECT curve FROM api_keys WHERE public_key = $1 AND curve <> $2 LIMIT 1")
            .bind(k.public_key.clone())
            .bind(k.curve.as_str());
        if let Some(curve) = self.one(other, |r| r.try_get::<String, _>("curve")).await? {
            return Err(StoreError::Conflict(format!(
                "public key `{}` is already registered as a key on another curve ({curve})",
                k.public_key
            )));
        }
        // ON CONFLICT instead of catching the error: on PostgreSQL a failed statement
        // would abort the whole transaction, on SQLite it would not.
        let q = sqlx::query(
            "INSERT INTO api_keys (id, organization_id, user_id, name, public_key, verify_key, curve, \
             created_at, updated_at, expires_at, kind, session_profile_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (organization_id, public_key) DO NOTHING",
        )
        .bind(k.id.clone())
        .bind(k.organization_id.clone())
        .bind(k.user_id.clone())
        .bind(k.name.clone())
        .bind(k.public_key.clone())
        .bind(hex::encode(&k.verify_key))
        .bind(k.curve.as_str())
        .bind(k.created_at)
        .bind(k.updated_at)
        .bind(k.expires_at)
        .bind(k.kind.as_str())
        .bind(k.session_profile_id.clone());
        if self.affected(q).await? == 0 {
            return Err(StoreError::Conflict(format!(
                "public key `{}` is already registered in this organization",
                k.public_key
            )));
        }
        Ok(())
    }

    async fn delete_api_key(&mut self, org_id: &str, user_id: &str, key_id: &str) -> StoreResult<bool> {
        self.bump_admission_epoch().await?;
        let q = sqlx::query("DELETE FROM api_keys WHERE id = $1 AND user_id = $2 AND organization_id = $3")
            .bind(key_id.to_owned())
            .bind(user_id.to_owned())
            .bind(org_id.to_owned());
        Ok(self.affected(q).await? == 1)
    }

    async fn api_keys_by_public_key(&mut self, public_key: &str) -> StoreResult<Vec<ApiKey>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE public_key = $1 ORDER BY created_at, id");
        self.all(sqlx::query(AssertSqlSafe(sql)).bind(public_key.to_owned()), rows::api_key).await
    }

    async fn list_api_keys(&mut self, org_id: &str, user_id: Option<&str>) -> StoreResult<Vec<ApiKey>> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE organization_id = $1 AND ($2 IS NULL OR user_id = $2) \
             ORDER BY created_at, id"
        );
        let q = sqlx::query(AssertSqlSafe(sql)).bind(org_id.to_owned()).bind(user_id.map(str::to_owned));
        self.all(q, rows::api_key).await
    }

    async fn touch_session(&mut self, id: &str, now: i64, since: i64) -> StoreResult<bool> {
        let q =
            sqlx::query("UPDATE api_keys SET updated_at = $1 WHERE id = $2 AND kind = 'SESSION' AND updated_at < $3")
                .bind(now)
                .bind(id.to_owned())
                .bind(since);
        Ok(self.affected(q).await? == 1)
    }

    async fn delete_sessions(
        &mut self,
        org_id: &str,
        user_id: &str,
        ids: Option<&[String]>,
        keep: Option<&str>,
    ) -> StoreResult<u64> {
        self.bump_admission_epoch().await?;
        let mut sql =
            "DELETE FROM api_keys WHERE organization_id = $1 AND user_id = $2 AND kind = 'SESSION'".to_owned();
        let mut binds = vec![Bind::Text(org_id.to_owned()), Bind::Text(user_id.to_owned())];
        if let Some(keep) = keep {
            sql.push_str(" AND id <> $3");
            binds.push(Bind::Text(keep.to_owned()));
        }
        self.delete_ids(sql, binds, ids).await
    }

    async fn insert_factor(&mut self, f: &Factor) -> StoreResult<()> {
        self.bump_admission_epoch().await?;
        let sql = format!(
            "INSERT INTO factors ({FACTOR_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
             $14) ON CONFLICT (organization_id, kind, lookup) DO NOTHING"
        );
        let q = sqlx::query(AssertSqlSafe(sql))
            .bind(f.id.clone())
            .bind(f.organization_id.clone())
            .bind(f.user_id.clone())
            .bind(f.kind.as_str())
            .bind(f.name.clone())
            .bind(f.lookup.clone())
            .bind(f.public_data.clone())
            .bind(f.secret.clone())
            .bind(f.counter)
            .bind(i64::from(f.active))
            .bind(f.used_at)
            .bind(f.created_at)
            .bind(f.updated_at)
            .bind(f.bound_at);
        if self.affected(q).await? == 0 {
            return Err(StoreError::Conflict(format!(
                "this {} is already registered in this organization",
                f.kind.as_str().to_ascii_lowercase().replace('_', " ")
            )));
        }
        Ok(())
    }

    async fn get_factor(&mut self, org_id: &str, id: &str) -> StoreResult<Option<Factor>> {
        let sql = format!("SELECT {FACTOR_COLUMNS} FROM factors WHERE organization_id = $1 AND id = $2");
        self.one(sqlx::query(AssertSqlSafe(sql)).bind(org_id.to_owned()).bind(id.to_owned()), rows::factor).await
    }

    async fn list_factors(
        &mut self,
        org_id: &str,
        user_id: &str,
        kind: Option<FactorKind>,
    ) -> StoreResult<Vec<Factor>> {
        let sql = format!(
            "SELECT {FACTOR_COLUMNS} FROM factors WHERE organization_id = $1 AND user_id = $2 \
             AND ($3 IS NULL OR kind = $3) ORDER BY created_at, id"
        );
        let q = sqlx::query(AssertSqlSafe(sql))
            .bind(org_id.to_owned())
            .bind(user_id.to_owned())
            .bind(kind.map(|k| k.as_str().to_owned()));
        self.all(q, rows::factor).await
    }

    async fn list_org_factors(&mut self, org_id: &str, kind: FactorKind) -> StoreResult<Vec<Factor>> {
        let sql = format!(
            "SELECT {FACTOR_COLUMNS} FROM factors WHERE organization_id = $1 AND kind = $2 ORDER BY created_at, id"
        );
        self.all(sqlx::query(AssertSqlSafe(sql)).bind(org_id.to_owned()).bind(kind.as_str()), rows::factor).await
    }

    async fn factors_by_lookup(&mut self, kind: FactorKind, lookup: &str) -> StoreResult<Vec<Factor>> {
        let sql =
            format!("SELECT {FACTOR_COLUMNS} FROM factors WHERE kind = $1 AND lookup = $2 ORDER BY created_at, id");
        self.all(sqlx::query(AssertSqlSafe(sql)).bind(kind.as_str()).bind(lookup.to_owned()), rows::factor).await
    }

    async fn update_factor(&mut self, f: &Factor) -> StoreResult<()> {
        self.bump_admission_epoch().await?;
        let q = sqlx::query(
            "UPDATE factors SET name = $3, secret = $4, active = $5, updated_at = $6, bound_at = $7 \
             WHERE organization_id = $1 AND id = $2",
        )
        .bind(f.organization_id.clone())
        .bind(f.id.clone())
        .bind(f.name.clone())
        .bind(f.secret.clone())
        .bind(i64::from(f.active))
        .bind(f.updated_at)
        .bind(f.bound_at);
        self.affected(q).await.map(drop)
    }

    async fn advance_factor_counter(&mut self, id: &str, counter: i64, now: i64) -> StoreResult<bool> {
        let q = sqlx::query("UPDATE factors SET counter = $2, updated_at = $3 WHERE id = $1 AND counter < $2")
            .bind(id.to_owned())
            .bind(counter)
            .bind(now);
        Ok(self.affected(q).await? == 1)
    }

    async fn use_factor(&mut self, id: &str, now: i64) -> StoreResult<bool> {
        let q = sqlx::query("UPDATE factors SET used_at = $2, updated_at = $2 WHERE id = $1 AND used_at IS NULL")
            .bind(id.to_owned())
            .bind(now);
        Ok(self.affected(q).await? == 1)
    }

    async fn delete_factors(
        &mut self,
        org_id: &str,
        user_id: &str,
        kind: FactorKind,
        ids: Option<&[String]>,
    ) -> StoreResult<u64> {
        self.bump_admission_epoch().await?;
        let sql = "DELETE FROM factors WHERE organization_id = $1 AND user_id = $2 AND kind = $3".to_owned();
        let binds =
            vec![Bind::Text(org_id.to_owned()), Bind::Text(user_id.to_owned()), Bind::Text(kind.as_str().to_owned())];
        self.delete_ids(sql, binds, ids).await
    }

    async fn insert_webauthn_challenge(
        &mut self,
        challenge: &str,
        org_id: &str,
        user_id: &str,
        state: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        let q = sqlx::query(
            "INSERT INTO webauthn_challenges (challenge, organization_id, user_id, state, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(challenge.to_owned())
        .bind(org_id.to_owned())
        .bind(user_id.to_owned())
        .bind(state.to_owned())
        .bind(expires_at);
        self.affected(q).await.map(drop)
    }

    async fn take_webauthn_challenge(&mut self, challenge: &str, user_id: &str) -> StoreResult<Option<(String, i64)>> {
        let q = sqlx::query("SELECT state, expires_at FROM webauthn_challenges WHERE challenge = $1 AND user_id = $2")
            .bind(challenge.to_owned())
            .bind(user_id.to_owned());
        let found = self.one(q, |r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?))).await?;
        let q = sqlx::query("DELETE FROM webauthn_challenges WHERE challenge = $1 AND user_id = $2")
            .bind(challenge.to_owned())
            .bind(user_id.to_owned());
        // Only the transaction that deletes the row may use it: two nodes racing get one winner.
        if self.affected(q).await? == 0 {
            return Ok(None);
        }
        Ok(found)
    }

    async fn auth_failures_since(&mut self, user_id: &str, factor: &str, since: i64) -> StoreResult<Vec<i64>> {
        let q = sqlx::query(
            "SELECT failed_at FROM auth_failures WHERE user_id = $1 AND factor = $2 AND failed_at >= $3 \
             ORDER BY failed_at",
        )
        .bind(user_id.to_owned())
        .bind(factor.to_owned())
        .bind(since);
        self.all(q, |r| r.try_get::<i64, _>(0)).await
    }

    async fn record_auth_failure(&mut self, org_id: &str, user_id: &str, factor: &str, now: i64) -> StoreResult<()> {
        let q = sqlx::query(
            "INSERT INTO auth_failures (organization_id, user_id, factor, failed_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(org_id.to_owned())
        .bind(user_id.to_owned())
        .bind(factor.to_owned())
        .bind(now);
        self.affected(q).await.map(drop)
    }

    async fn clear_auth_failures(&mut self, user_id: &str, factor: &str) -> StoreResult<()> {
        let q = sqlx::query("DELETE FROM auth_failures WHERE user_id = $1 AND factor = $2")
            .bind(user_id.to_owned())
            .bind(factor.to_owned());
        self.affected(q).await.map(drop)
    }

    async fn rewrite_session_profile_scope(&mut self, id: &str, scope: &str) -> StoreResult<()> {
        self.bump_admission_epoch().await?;
        let q = sqlx::query("UPDATE session_profiles SET scope = $1 WHERE id = $2")
            .bind(scope.to_owned())
            .bind(id.to_owned());
        self.affected(q).await.map(drop)
    }

    async fn insert_session_profile(&mut self, p: &SessionProfile) -> StoreResult<()> {
        let q = sqlx::query(
            "INSERT INTO session_profiles (id, organization_id, name, scope, expiration_seconds, notes, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(p.id.clone())
        .bind(p.organization_id.clone())
        .bind(p.name.clone())
        .bind(p.scope.clone())
        .bind(p.expiration_seconds)
        .bind(p.notes.clone())
        .bind(p.created_at);
        self.affected(q).await.map(drop)
    }

    async fn get_session_profile(&mut self, id: &str) -> StoreResult<Option<SessionProfile>> {
        let sql = format!("SELECT {PROFILE_COLUMNS} FROM session_profiles WHERE id = $1");
        self.one(sqlx::query(AssertSqlSafe(sql)).bind(id.to_owned()), rows::session_profile).await
    }

    async fn list_session_profiles(&mut self, org_id: &str) -> StoreResult<Vec<SessionProfile>> {
        let sql = format!(
            "SELECT {PROFILE_COLUMNS} FROM session_profiles WHERE organization_id = $1 ORDER BY created_at, id"
        );
        self.all(sqlx::query(AssertSqlSafe(sql)).bind(org_id.to_owned()), rows::session_profile).await
    }
}

#[async_trait]
impl Activities for SqlTx {
    async fn insert_activity(&mut self, a: &Activity) -> StoreResult<bool> {
        let sql = format!(
            "INSERT INTO activities ({ACTIVITY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (fingerprint) DO NOTHING"
        );
        let q = sqlx::query(AssertSqlSafe(sql))
            .bind(a.id.clone())
            .bind(a.organization_id.clone())
            .bind(a.activity_type.clone())
            .bind(a.intent.clone())
            .bind(a.status.as_str())
            .bind(a.fingerprint.clone())
            .bind(a.result.clone())
            .bind(a.failure.clone())
            .bind(a.initiator_user_id.clone())
            .bind(a.initiator_credential_id.clone())
            .bind(a.created_at)
            .bind(a.updated_at);
        Ok(self.affected(q).await? == 1)
    }

    async fn update_activity(&mut self, a: &Activity) -> StoreResult<()> {
        let q =
            sqlx::query("UPDATE activities SET status = $1, result = $2, failure = $3, updated_at = $4 WHERE id = $5")
                .bind(a.status.as_str())
                .bind(a.result.clone())
                .bind(a.failure.clone())
                .bind(a.updated_at)
                .bind(a.id.clone());
        self.affected(q).await.map(drop)
    }

    async fn get_activity(&mut self, org_id: &str, id: &str) -> StoreResult<Option<Activity>> {
        let sql = format!("SELECT {ACTIVITY_COLUMNS} FROM activities WHERE id = $1 AND organization_id = $2");
        self.one(sqlx::query(AssertSqlSafe(sql)).bind(id.to_owned()).bind(org_id.to_owned()), rows::activity).await
    }

    async fn lock_activity(&mut self, org_id: &str, fingerprint: &str) -> StoreResult<Option<Activity>> {
        // A no-op write takes the row lock on PostgreSQL (held to commit) and makes the
        // SQLite transaction a write transaction at once; the read then sees every
        // vote committed before the lock was granted.
        let q = sqlx::query(
            "UPDATE activities SET updated_at = updated_at WHERE organization_id = $1 AND fingerprint = $2",
        )
        .bind(org_id.to_owned())
        .bind(fingerprint.to_owned());
        if self.affected(q).await? == 0 {
            return Ok(None);
        }
        let sql = format!("SELECT {ACTIVITY_COLUMNS} FROM activities WHERE organization_id = $1 AND fingerprint = $2");
        self.one(sqlx::query(AssertSqlSafe(sql)).bind(org_id.to_owned()).bind(fingerprint.to_owned()), rows::activity)
            .await
    }

    async fn get_activity_by_fingerprint(&mut self, fingerprint: &str) -> StoreResult<Option<Activity>> {
        let sql = format!("SELECT {ACTIVITY_COLUMNS} FROM activities WHERE fingerprint = $1");
        self.one(sqlx::query(AssertSqlSafe(sql)).bind(fingerprint.to_owned()), rows::activity).await
    }

    async fn list_activities(&mut self, org_id: &str, f: &ActivityFilter) -> StoreResult<Option<Vec<Activity>>> {
        // Newest first; `after` pages towards older rows, `before` towards newer ones.
        let cursor_id = f.before.as_ref().or(f.after.as_ref());
        let cursor = match cursor_id {
            None => None,
            Some(id) => match self.get_activity(org_id, id).await? {
                Some(a) => Some((a.created_at, a.id)),
                None => return Ok(None),
            },
        };
        let mut sql = format!("SELECT {ACTIVITY_COLUMNS} FROM activities WHERE organization_id = $1");
        let mut n = 1;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        let mut binds: Vec<Bind> = vec![Bind::Text(org_id.to_owned())];
        if !f.statuses.is_empty() {
            let ph: Vec<String> = f.statuses.iter().map(|_| next()).collect();
            sql.push_str(&format!(" AND status IN ({})", ph.join(", ")));
            binds.extend(f.statuses.iter().map(|s| Bind::Text(s.as_str().to_owned())));
        }
        if !f.types.is_empty() {
            let ph: Vec<String> = f.types.iter().map(|_| next()).collect();
            sql.push_str(&format!(" AND type IN ({})", ph.join(", ")));
            binds.extend(f.types.iter().map(|t| Bind::Text(t.clone())));
        }
        let newer = f.before.is_some();
        if let Some((at, id)) = cursor {
            let (p1, p2, p3) = (next(), next(), next());
            let op = if newer { ">" } else { "<" };
            sql.push_str(&format!(" AND (created_at {op} {p1} OR (created_at = {p2} AND id {op} {p3}))"));
            binds.extend([Bind::Int(at), Bind::Int(at), Bind::Text(id)]);
        }
        let limit = next();
        // Paging towards newer rows reads them oldest-first, then flips the page.
        let order = if newer { "ASC" } else { "DESC" };
        sql.push_str(&format!(" ORDER BY created_at {order}, id {order} LIMIT {limit}"));
        binds.push(Bind::Int(f.limit));
        let mut page = self.all(bound(sql, binds), rows::activity).await?;
        if newer {
            page.reverse();
        }
        Ok(Some(page))
    }

    async fn insert_vote(&mut self, v: &Vote) -> StoreResult<()> {
        let q = sqlx::query(
            "INSERT INTO votes (id, activity_id, user_id, credential_id, selection, message, public_key, \
             signature, scheme, created_at, proofs) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(v.id.clone())
        .bind(v.activity_id.clone())
        .bind(v.user_id.clone())
        .bind(v.credential_id.clone())
        .bind(if v.approve { "APPROVE" } else { "REJECT" })
        .bind(v.message.clone())
        .bind(v.public_key.clone())
        .bind(v.signature.clone())
        .bind(v.scheme.clone())
        .bind(v.created_at)
        .bind(serde_json::to_string(&v.proofs).unwrap_or_else(|_| "[]".to_owned()));
        self.affected(q).await.map(drop)
    }

    async fn list_votes(&mut self, activity_id: &str) -> StoreResult<Vec<Vote>> {
        let q = sqlx::query(
            "SELECT id, activity_id, user_id, credential_id, selection, message, public_key, signature, scheme, \
             created_at, proofs FROM votes WHERE activity_id = $1 ORDER BY created_at, id",
        )
        .bind(activity_id.to_owned());
        self.all(q, rows::vote).await
    }

    async fn insert_policy_evaluation(&mut self, e: &PolicyEvaluationRecord) -> StoreResult<()> {
        let q = sqlx::query(
            "INSERT INTO policy_evaluations (id, activity_id, organization_id, vote_id, evaluations, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(e.id.clone())
        .bind(e.activity_id.clone())
        .bind(e.organization_id.clone())
        .bind(e.vote_id.clone())
        .bind(e.evaluations.clone())
        .bind(e.created_at);
        self.affected(q).await.map(drop)
    }

    async fn list_policy_evaluations(&mut self, activity_id: &str) -> StoreResult<Vec<PolicyEvaluationRecord>> {
        let q = sqlx::query(
            "SELECT id, activity_id, organization_id, vote_id, evaluations, created_at FROM policy_evaluations \
             WHERE activity_id = $1 ORDER BY created_at, id",
        )
        .bind(activity_id.to_owned());
        self.all(q, rows::policy_evaluation).await
    }

    async fn insert_mfa_proof(&mut self, p: &MfaProof) -> StoreResult<()> {
        let q = sqlx::query(
            "INSERT INTO mfa_proofs (id, activity_id, user_id, credential_id, method, message, public_key, \
             signature, scheme, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(p.id.clone())
        .bind(p.activity_id.clone())
        .bind(p.user_id.clone())
        .bind(p.credential_id.clone())
        .bind(p.method.clone())
        .bind(p.message.clone())
        .bind(p.public_key.clone())
        .bind(p.signature.clone())
        .bind(p.scheme.clone())
        .bind(p.created_at);
        self.affected(q).await.map(drop)
    }

    async fn list_mfa_proofs(&mut self, activity_id: &str) -> StoreResult<Vec<MfaProof>> {
        let q = sqlx::query(
            "SELECT id, activity_id, user_id, credential_id, method, message, public_key, signature, scheme, \
             created_at FROM mfa_proofs WHERE activity_id = $1 ORDER BY created_at, id",
        )
        .bind(activity_id.to_owned());
        self.all(q, rows::mfa_proof).await
    }
}

#[async_trait]
impl Policies for SqlTx {
    async fn insert_policy(&mut self, p: &Policy) -> StoreResult<()> {
        let q = sqlx::query(
            "INSERT INTO policies (id, organization_id, name, effect, condition, consensus, time_window, notes, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(p.id.clone())
        .bind(p.organization_id.clone())
        .bind(p.name.clone())
        .bind(p.effect.as_str())
        .bind(p.condition.clone())
        .bind(p.consensus.clone())
        .bind(p.time.clone())
        .bind(p.notes.clone())
        .bind(p.created_at)
        .bind(p.updated_at);
        self.affected(q).await.map(drop)
    }

    async fn update_policy(&mut self, p: &Policy) -> StoreResult<bool> {
        let q = sqlx::query(
            "UPDATE policies SET name = $1, effect = $2, condition = $3, consensus = $4, time_window = $5, \
             notes = $6, updated_at = $7 WHERE id = $8 AND organization_id = $9",
        )
        .bind(p.name.clone())
        .bind(p.effect.as_str())
        .bind(p.condition.clone())
        .bind(p.consensus.clone())
        .bind(p.time.clone())
        .bind(p.notes.clone())
        .bind(p.updated_at)
        .bind(p.id.clone())
        .bind(p.organization_id.clone());
        Ok(self.affected(q).await? == 1)
    }

    async fn delete_policy(&mut self, org_id: &str, policy_id: &str) -> StoreResult<bool> {
        let q = sqlx::query("DELETE FROM policies WHERE id = $1 AND organization_id = $2")
            .bind(policy_id.to_owned())
            .bind(org_id.to_owned());
        Ok(self.affected(q).await? == 1)
    }

    async fn get_policy(&mut self, org_id: &str, policy_id: &str) -> StoreResult<Option<Policy>> {
        let sql = format!("SELECT {POLICY_COLUMNS} FROM policies WHERE id = $1 AND organization_id = $2");
        self.one(sqlx::query(AssertSqlSafe(sql)).bind(policy_id.to_owned()).bind(org_id.to_owned()), rows::policy).await
    }

    async fn list_policies(&mut self, org_id: &str) -> StoreResult<Vec<Policy>> {
        let sql = format!("SELECT {POLICY_COLUMNS} FROM policies WHERE organization_id = $1 ORDER BY created_at, id");
        self.all(sqlx::query(AssertSqlSafe(sql)).bind(org_id.to_owned()), rows::policy).await
    }
}

#[async_trait]
impl AuditLog for SqlTx {
    async fn lock_audit_head(&mut self, org_id: &str) -> StoreResult<Option<(i64, String)>> {
        // The organization row is the chain's lock: appends to one chain are serialized
        // across nodes, so `seq` has no gaps and every event links to the one before.
        let q = sqlx::query("UPDATE organizations SET updated_at = updated_at WHERE id = $1").bind(org_id.to_owned());
        self.affected(q).await?;
        let q = sqlx::query("SELECT seq, hash FROM audit_events WHERE organization_id = $1 ORDER BY seq DESC LIMIT 1")
            .bind(org_id.to_owned());
        self.one(q, |r| Ok((r.try_get::<i64, _>(0)?, r.try_get::<String, _>(1)?))).await
    }

    async fn insert_audit_event(&mut self, e: &AuditEvent, tree_nodes: Option<&str>) -> StoreResult<()> {
        let q = sqlx::query(
            "INSERT INTO audit_events (id, organization_id, seq, at, event_type, outcome, actor_user_id, \
             actor_credential_id, subject, details, prev_hash, hash, tree_nodes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(e.id.clone())
        .bind(e.organization_id.clone())
        .bind(e.seq)
        .bind(e.at)
        .bind(e.event_type.clone())
        .bind(e.outcome.clone())
        .bind(e.actor_user_id.clone())
        .bind(e.actor_credential_id.clone())
        .bind(e.subject.clone())
        .bind(e.details.clone())
        .bind(e.prev_hash.clone())
        .bind(e.hash.clone())
        .bind(tree_nodes.map(str::to_owned));
        self.affected(q).await.map(drop)
    }

    async fn list_audit_events(&mut self, org_id: &str, f: &AuditFilter) -> StoreResult<Vec<AuditEvent>> {
        let mut sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_events WHERE organization_id = $1");
        let mut binds = vec![Bind::Text(org_id.to_owned())];
        let texts = [("actor_user_id", &f.actor_user_id), ("event_type", &f.event_type), ("outcome", &f.outcome)];
        for (column, value) in texts {
            if let Some(v) = value {
                binds.push(Bind::Text(v.clone()));
                sql.push_str(&format!(" AND {column} = ${}", binds.len()));
            }
        }
        let ints = [("at >=", f.from_ms), ("at <", f.to_ms), ("seq <", f.before_seq)];
        for (condition, value) in ints {
            if let Some(v) = value {
                binds.push(Bind::Int(v));
                sql.push_str(&format!(" AND {condition} ${}", binds.len()));
            }
        }
        binds.push(Bind::Int(f.limit));
        sql.push_str(&format!(" ORDER BY seq DESC LIMIT ${}", binds.len()));
        self.all(bound(sql, binds), rows::audit_event).await
    }

    async fn audit_chain_page(&mut self, after: Option<(&str, i64)>, limit: i64) -> StoreResult<Vec<AuditEvent>> {
        let (org, seq) = after.unwrap_or(("", 0));
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events WHERE organization_id > $1 OR (organization_id = $2 AND seq > $3) \
             ORDER BY organization_id, seq LIMIT $4"
        );
        let binds = vec![Bind::Text(org.to_owned()), Bind::Text(org.to_owned()), Bind::Int(seq), Bind::Int(limit)];
        self.all(bound(sql, binds), rows::audit_event).await
    }

    async fn audit_frontier(&mut self, org_id: &str, size: i64) -> StoreResult<Vec<(i64, Option<String>)>> {
        let sql = format!(
            "{FRONTIER_SQL} $2) SELECT e.seq, e.tree_nodes FROM audit_events e WHERE \
             e.organization_id = $1 AND e.seq IN (SELECT (n >> b) << b FROM sizes, bits WHERE ((n >> b) & 1) = 1) \
             ORDER BY e.seq"
        );
        let q = sqlx::query(AssertSqlSafe(sql)).bind(org_id.to_owned()).bind(size);
        self.all(q, |r| Ok((r.try_get::<i64, _>(0)?, r.try_get::<Option<String>, _>(1)?))).await
    }

    async fn audit_heads(&mut self) -> StoreResult<Vec<(String, i64, i64)>> {
        // One index seek per organization, no scan of the events.
        let q = sqlx::query(
            "SELECT id, head, signed FROM (SELECT o.id, \
             (SELECT MAX(e.seq) FROM audit_events e WHERE e.organization_id = o.id) AS head, \
             COALESCE((SELECT MAX(c.size) FROM audit_checkpoints c WHERE c.organization_id = o.id), 0) AS signed \
             FROM organizations o) heads WHERE head IS NOT NULL ORDER BY id",
        );
        self.all(q, |r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?, r.try_get::<i64, _>(2)?))).await
    }

    async fn unfolded_audit_orgs(&mut self) -> StoreResult<Vec<String>> {
        let q = sqlx::query(
            "SELECT DISTINCT organization_id FROM audit_events WHERE tree_nodes IS NULL ORDER BY organization_id",
        );
        self.all(q, |r| r.try_get::<String, _>(0)).await
    }

    async fn first_unfolded_audit_seq(&mut self, org_id: &str) -> StoreResult<Option<i64>> {
        let q = sqlx::query("SELECT MIN(seq) FROM audit_events WHERE organization_id = $1 AND tree_nodes IS NULL")
            .bind(org_id.to_owned());
        Ok(self.one(q, |r| r.try_get::<Option<i64>, _>(0)).await?.flatten())
    }

    async fn set_audit_tree_nodes(&mut self, org_id: &str, seq: i64, tree_nodes: &str) -> StoreResult<()> {
        let q = sqlx::query("UPDATE audit_events SET tree_nodes = $1 WHERE organization_id = $2 AND seq = $3")
            .bind(tree_nodes.to_owned())
            .bind(org_id.to_owned())
            .bind(seq);
        self.affected(q).await.map(drop)
    }

    async fn audit_event(&mut self, org_id: &str, id: &str) -> StoreResult<Option<AuditEvent>> {
        let sql = format!("SELECT {AUDIT_COLUMNS} FROM audit_events WHERE organization_id = $1 AND id = $2");
        self.one(sqlx::query(AssertSqlSafe(sql)).bind(org_id.to_owned()).bind(id.to_owned()), rows::audit_event).await
    }

    async fn audit_tree_nodes(
        &mut self,
        org_id: &str,
        coordinates: &[(u8, u64)],
    ) -> StoreResult<HashMap<(u8, u64), twofold_tlog::Hash>> {
        // Node (l, k) is the l-th hash on event (k + 1) * 2^l.
        let seq_of = |&(level, index): &(u8, u64)| {
            index.checked_add(1).and_then(|k| k.checked_shl(u32::from(level))).and_then(|s| i64::try_from(s).ok())
        };
        let mut seqs: Vec<i64> = coordinates.iter().filter_map(seq_of).collect();
        seqs.sort_unstable();
        seqs.dedup();
        let mut found = HashMap::with_capacity(coordinates.len());
        if seqs.is_empty() {
            return Ok(found);
        }
        let placeholders: Vec<String> = (0..seqs.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT seq, tree_nodes FROM audit_events WHERE organization_id = $1 AND seq IN ({})",
            placeholders.join(", ")
        );
        let mut binds = vec![Bind::Text(org_id.to_owned())];
        binds.extend(seqs.iter().map(|s| Bind::Int(*s)));
        let rows =
            self.all(bound(sql, binds), |r| Ok((r.try_get::<i64, _>(0)?, r.try_get::<Option<String>, _>(1)?))).await?;
        let carried: HashMap<i64, String> = rows.into_iter().filter_map(|(s, n)| Some((s, n?))).collect();
        for coordinate in coordinates {
            let Some(text) = seq_of(coordinate).and_then(|s| carried.get(&s)) else { continue };
            let at = usize::from(coordinate.0) * 64;
            let hash = text.get(at..at + 64).and_then(twofold_tlog::hash_from_hex).ok_or_else(|| {
                StoreError::Backend(format!("audit tree node {}/{} is not stored", coordinate.0, coordinate.1))
            })?;
            found.insert(*coordinate, hash);
        }
        Ok(found)
    }

    async fn insert_audit_checkpoint(&mut self, c: &AuditCheckpoint) -> StoreResult<bool> {
        let q = sqlx::query(
            "INSERT INTO audit_checkpoints (organization_id, size, root, note, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (organization_id, size) DO NOTHING",
        )
        .bind(c.organization_id.clone())
        .bind(c.size)
        .bind(c.root.clone())
        .bind(c.note.clone())
        .bind(c.created_at);
        Ok(self.affected(q).await? == 1)
    }

    async fn latest_audit_checkpoints(&mut self) -> StoreResult<Vec<AuditCheckpoint>> {
        let q = sqlx::query(
            "SELECT organization_id, size, root, note, created_at FROM audit_checkpoints c \
             WHERE size = (SELECT MAX(d.size) FROM audit_checkpoints d WHERE d.organization_id = c.organization_id) \
             ORDER BY organization_id",
        );
        self.all(q, rows::audit_checkpoint).await
    }

    async fn audit_checkpoint(&mut self, org_id: &str, size: Option<i64>) -> StoreResult<Option<AuditCheckpoint>> {
        let q = sqlx::query(
            "SELECT organization_id, size, root, note, created_at FROM audit_checkpoints \
             WHERE organization_id = $1 AND ($2 < 0 OR size = $2) ORDER BY size DESC LIMIT 1",
        )
        .bind(org_id.to_owned())
        .bind(size.unwrap_or(-1));
        self.one(q, rows::audit_checkpoint).await
    }
}

#[async_trait]
impl NetworkRules for SqlTx {
    async fn ip_rule_sets(&mut self, org_id: &str, public_key: Option<&str>) -> StoreResult<Vec<IpRuleSet>> {
        let q = sqlx::query(
            "SELECT organization_id, public_key, kind, enabled, on_error, rules, updated_at FROM ip_rules \
             WHERE organization_id = $1 AND (public_key = '' OR public_key = $2)",
        )
        .bind(org_id.to_owned())
        .bind(public_key.unwrap_or("").to_owned());
        let rows = self.all(q, |r| {
            let public_key: String = r.try_get("public_key")?;
            let kind: String = r.try_get("kind")?;
            let rules: String = r.try_get("rules")?;
            Ok(IpRuleSet {
                organization_id: r.try_get("organization_id")?,
                public_key: if public_key.is_empty() { None } else { Some(public_key) },
                kind: if kind == "DENY" { ListKind::Deny } else { ListKind::Allow },
                enabled: r.try_get::<i64, _>("enabled")? != 0,
                on_error: r.try_get("on_error")?,
                rules: serde_json::from_str::<Vec<IpRule>>(&rules)
                    .map_err(|e| sqlx::Error::ColumnDecode { index: "rules".into(), source: Box::new(e) })?,
                updated_at: r.try_get("updated_at")?,
            })
        });
        rows.await
    }

    async fn put_ip_rule_set(&mut self, set: &IpRuleSet) -> StoreResult<()> {
        self.bump_admission_epoch().await?;
        let rules = serde_json::to_string(&set.rules).map_err(|e| StoreError::Backend(e.to_string()))?;
        let q = sqlx::query(
            "INSERT INTO ip_rules (organization_id, public_key, kind, enabled, on_error, rules, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (organization_id, public_key, kind) DO UPDATE SET \
             enabled = excluded.enabled, on_error = excluded.on_error, rules = excluded.rules, updated_at = excluded.updated_at",
        )
        .bind(set.organization_id.clone())
        .bind(set.public_key.clone().unwrap_or_default())
        .bind(set.kind.as_str())
        .bind(i64::from(set.enabled))
        .bind(set.on_error.clone())
        .bind(rules)
        .bind(set.updated_at);
        self.affected(q).await.map(drop)
    }

    async fn delete_ip_rule_set(
        &mut self,
        org_id: &str,
        public_key: Option<&str>,
        kind: ListKind,
    ) -> StoreResult<bool> {
        self.bump_admission_epoch().await?;
        let q = sqlx::query("DELETE FROM ip_rules WHERE organization_id = $1 AND public_key = $2 AND kind = $3")
            .bind(org_id.to_owned())
            .bind(public_key.unwrap_or("").to_owned())
            .bind(kind.as_str());
        Ok(self.affected(q).await? == 1)
    }
}

#[async_trait]
impl OtpFlows for SqlTx {
    async fn lock_otp_limits(&mut self) -> StoreResult<()> {
        // A write first: the row lock on PostgreSQL, the write lock at once on SQLite (so the
        // counts that follow see every reservation committed before it).
        self.affected(sqlx::query("UPDATE otp_limit_lock SET bumped = bumped + 1 WHERE id = 1")).await.map(drop)
    }

    async fn otp_sends_to_contact(&mut self, contact: &str, since: i64, anonymous: bool) -> StoreResult<Usage> {
        let q = sqlx::query(
            "SELECT COUNT(*), MIN(created_at) FROM otp_flows WHERE contact = $1 AND created_at >= $2 \
             AND anonymous = $3",
        )
        .bind(contact.to_owned())
        .bind(since)
        .bind(i64::from(anonymous));
        Ok(self.one(q, rows::usage).await?.unwrap_or_default())
    }

    async fn otp_inits_from_ip(&mut self, client_ip: &str, since: i64) -> StoreResult<Usage> {
        let q = sqlx::query(
            "SELECT COUNT(*), MIN(created_at) FROM otp_flows WHERE client_ip = $1 AND created_at >= $2 \
             AND anonymous = 1",
        )
        .bind(client_ip.to_owned())
        .bind(since);
        Ok(self.one(q, rows::usage).await?.unwrap_or_default())
    }

    async fn otp_inflight_from_ip(&mut self, client_ip: &str, now: i64) -> StoreResult<Usage> {
        let q = sqlx::query(
            "SELECT COUNT(*), MIN(expires_at) FROM otp_flows WHERE client_ip = $1 AND anonymous = 1 \
             AND status IN ('RESERVED', 'PENDING') AND expires_at > $2",
        )
        .bind(client_ip.to_owned())
        .bind(now);
        Ok(self.one(q, rows::usage).await?.unwrap_or_default())
    }

    async fn otp_inflight(&mut self, org_id: &str, now: i64) -> StoreResult<Usage> {
        let q = sqlx::query(
            "SELECT COUNT(*), MIN(expires_at) FROM otp_flows WHERE anonymous = 1 AND organization_id = $1 \
             AND status IN ('RESERVED', 'PENDING') AND expires_at > $2",
        )
        .bind(org_id.to_owned())
        .bind(now);
        Ok(self.one(q, rows::usage).await?.unwrap_or_default())
    }

    async fn insert_otp_flow(&mut self, f: &OtpFlow) -> StoreResult<()> {
        let q = sqlx::query(
            "INSERT INTO otp_flows (id, otp_id, organization_id, otp_type, contact, client_ip, fingerprint, status, \
             sealed_state, verification_token, verified_fingerprint, created_at, expires_at, updated_at, anonymous, \
             deliver_after, delivery_attempts) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        )
        .bind(f.id.clone())
        .bind(f.otp_id.clone())
        .bind(f.organization_id.clone())
        .bind(f.otp_type.clone())
        .bind(f.contact.clone())
        .bind(f.client_ip.clone())
        .bind(f.fingerprint.clone())
        .bind(f.status.as_str())
        .bind(f.sealed_state.clone())
        .bind(f.verification_token.clone())
        .bind(f.verified_fingerprint.clone())
        .bind(f.created_at)
        .bind(f.expires_at)
        .bind(f.updated_at)
        .bind(i64::from(f.anonymous))
        .bind(f.deliver_after)
        .bind(f.delivery_attempts);
        self.affected(q).await.map(drop)
    }

    async fn otp_flow_by_fingerprint(&mut self, fingerprint: &str) -> StoreResult<Option<OtpFlow>> {
        let sql = format!("SELECT {OTP_COLUMNS} FROM otp_flows WHERE fingerprint = $1 OR verified_fingerprint = $1");
        self.one(sqlx::query(AssertSqlSafe(sql)).bind(fingerprint.to_owned()), rows::otp_flow).await
    }

    async fn lease_otp_deliveries(&mut self, now: i64, lease_until: i64, limit: i64) -> StoreResult<Vec<OtpFlow>> {
        let sql =
            format!("SELECT {OTP_COLUMNS} FROM otp_flows WHERE deliver_after <= $1 ORDER BY deliver_after LIMIT $2");
        let due = self.all(sqlx::query(AssertSqlSafe(sql)).bind(now).bind(limit), rows::otp_flow).await?;
        let mut leased = Vec::with_capacity(due.len());
        for mut f in due {
            // A code that expired or finished undelivered owes nothing any more.
            let owed = f.status == OtpFlowStatus::Pending && f.expires_at > now;
            let until = owed.then_some(lease_until);
            // Only one node wins each lease, whatever the isolation level.
            let q = sqlx::query("UPDATE otp_flows SET deliver_after = $1 WHERE id = $2 AND deliver_after <= $3")
                .bind(until)
                .bind(f.id.clone())
                .bind(now);
            if self.affected(q).await? == 1 && owed {
                f.deliver_after = until;
                leased.push(f);
            }
        }
        Ok(leased)
    }

    async fn lock_otp_flow(&mut self, org_id: &str, otp_id: &str) -> StoreResult<Option<OtpFlow>> {
        // As in lock_activity: a no-op write takes the row lock (PostgreSQL) or the write lock (SQLite).
        let q = sqlx::query("UPDATE otp_flows SET updated_at = updated_at WHERE organization_id = $1 AND otp_id = $2")
            .bind(org_id.to_owned())
            .bind(otp_id.to_owned());
        if self.affected(q).await? == 0 {
            return Ok(None);
        }
        let sql = format!("SELECT {OTP_COLUMNS} FROM otp_flows WHERE organization_id = $1 AND otp_id = $2");
        self.one(sqlx::query(AssertSqlSafe(sql)).bind(org_id.to_owned()).bind(otp_id.to_owned()), rows::otp_flow).await
    }

    async fn update_otp_flow(&mut self, f: &OtpFlow) -> StoreResult<()> {
        let q = sqlx::query(
            "UPDATE otp_flows SET otp_id = $1, status = $2, sealed_state = $3, verification_token = $4, \
             verified_fingerprint = $5, expires_at = $6, updated_at = $7 WHERE id = $8",
        )
        .bind(f.otp_id.clone())
        .bind(f.status.as_str())
        .bind(f.sealed_state.clone())
        .bind(f.verification_token.clone())
        .bind(f.verified_fingerprint.clone())
        .bind(f.expires_at)
        .bind(f.updated_at)
        .bind(f.id.clone());
        self.affected(q).await.map(drop)
    }

    async fn set_otp_delivery(&mut self, id: &str, deliver_after: Option<i64>, attempts: i64) -> StoreResult<()> {
        let q = sqlx::query("UPDATE otp_flows SET deliver_after = $1, delivery_attempts = $2 WHERE id = $3")
            .bind(deliver_after)
            .bind(attempts)
            .bind(id.to_owned());
        self.affected(q).await.map(drop)
    }

    async fn verification_token_purpose(&mut self, token_id: &str) -> StoreResult<Option<String>> {
        let q = sqlx::query("SELECT purpose FROM otp_tokens_used WHERE token_id = $1").bind(token_id.to_owned());
        self.one(q, |r| r.try_get::<String, _>("purpose")).await
    }

    async fn use_verification_token(
        &mut self,
        token_id: &str,
        org_id: &str,
        purpose: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let q = sqlx::query(
            "INSERT INTO otp_tokens_used (token_id, organization_id, purpose, used_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (token_id) DO NOTHING",
        )
        .bind(token_id.to_owned())
        .bind(org_id.to_owned())
        .bind(purpose.to_owned())
        .bind(now);
        Ok(self.affected(q).await? == 1)
    }

    async fn otp_settings(&mut self, org_id: &str) -> StoreResult<Option<(bool, bool)>> {
        let q = sqlx::query("SELECT disable_sms, disable_email FROM otp_settings WHERE organization_id = $1")
            .bind(org_id.to_owned());
        self.one(q, |r| Ok((r.try_get::<i64, _>(0)? != 0, r.try_get::<i64, _>(1)? != 0))).await
    }

    async fn put_otp_settings(
        &mut self,
        org_id: &str,
        disable_sms: bool,
        disable_email: bool,
        now: i64,
    ) -> StoreResult<()> {
        let q = sqlx::query(
            "INSERT INTO otp_settings (organization_id, disable_sms, disable_email, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (organization_id) DO UPDATE SET disable_sms = $2, \
             disable_email = $3, updated_at = $4",
        )
        .bind(org_id.to_owned())
        .bind(i64::from(disable_sms))
        .bind(i64::from(disable_email))
        .bind(now);
        self.affected(q).await.map(drop)
    }
}

#[async_trait]
impl MfaRules for SqlTx {
    async fn insert_mfa_policy(&mut self, p: &MfaPolicy) -> StoreResult<()> {
        let q = sqlx::query(
            "INSERT INTO mfa_policies (id, organization_id, user_id, name, condition, required_methods, sort_order, \
             notes, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(p.id.clone())
        .bind(p.organization_id.clone())
        .bind(p.user_id.clone())
        .bind(p.name.clone())
        .bind(p.condition.clone())
        .bind(rows::methods_json(&p.required_methods))
        .bind(p.order)
        .bind(p.notes.clone())
        .bind(p.created_at)
        .bind(p.updated_at);
        self.affected(q).await.map(drop)
    }

    async fn update_mfa_policy(&mut self, p: &MfaPolicy) -> StoreResult<bool> {
        let q = sqlx::query(
            "UPDATE mfa_policies SET name = $1, condition = $2, required_methods = $3, sort_order = $4, notes = $5, \
             updated_at = $6 WHERE id = $7 AND organization_id = $8 AND user_id = $9",
        )
        .bind(p.name.clone())
        .bind(p.condition.clone())
        .bind(rows::methods_json(&p.required_methods))
        .bind(p.order)
        .bind(p.notes.clone())
        .bind(p.updated_at)
        .bind(p.id.clone())
        .bind(p.organization_id.clone())
        .bind(p.user_id.clone());
        Ok(self.affected(q).await? == 1)
    }

    async fn delete_mfa_policy(&mut self, org_id: &str, user_id: &str, id: &str) -> StoreResult<bool> {
        let q = sqlx::query("DELETE FROM mfa_policies WHERE id = $1 AND organization_id = $2 AND user_id = $3")
            .bind(id.to_owned())
            .bind(org_id.to_owned())
            .bind(user_id.to_owned());
        Ok(self.affected(q).await? == 1)
    }

    async fn get_mfa_policy(&mut self, org_id: &str, id: &str) -> StoreResult<Option<MfaPolicy>> {
        let sql = format!("SELECT {MFA_POLICY_COLUMNS} FROM mfa_policies WHERE id = $1 AND organization_id = $2");
        self.one(sqlx::query(AssertSqlSafe(sql)).bind(id.to_owned()).bind(org_id.to_owned()), rows::mfa_policy).await
    }

    async fn list_mfa_policies(&mut self, org_id: &str, user_id: Option<&str>) -> StoreResult<Vec<MfaPolicy>> {
        let order = "ORDER BY user_id, sort_order, created_at, id";
        let q = match user_id {
            Some(user) => sqlx::query(AssertSqlSafe(format!(
                "SELECT {MFA_POLICY_COLUMNS} FROM mfa_policies WHERE organization_id = $1 AND user_id = $2 {order}"
            )))
            .bind(org_id.to_owned())
            .bind(user.to_owned()),
            None => sqlx::query(AssertSqlSafe(format!(
                "SELECT {MFA_POLICY_COLUMNS} FROM mfa_policies WHERE organization_id = $1 {order}"
            )))
            .bind(org_id.to_owned()),
        };
        self.all(q, rows::mfa_policy).await
    }

    async fn mfa_enforcement_rules(&mut self, org_id: &str) -> StoreResult<Vec<EnforcementRule>> {
        let sql = format!("SELECT {ENFORCEMENT_COLUMNS} FROM mfa_enforcement WHERE organization_id IN ('', $1)");
        self.all(sqlx::query(AssertSqlSafe(sql)).bind(org_id.to_owned()), rows::enforcement_rule).await
    }

    async fn list_mfa_enforcement_rules(&mut self) -> StoreResult<Vec<EnforcementRule>> {
        let sql = format!("SELECT {ENFORCEMENT_COLUMNS} FROM mfa_enforcement ORDER BY organization_id");
        self.all(sqlx::query(AssertSqlSafe(sql)), rows::enforcement_rule).await
    }

    async fn put_mfa_enforcement_rule(&mut self, rule: &EnforcementRule) -> StoreResult<()> {
        self.bump_admission_epoch().await?;
        let q = sqlx::query(
            "INSERT INTO mfa_enforcement (organization_id, value, grace_period_days, accept_email_sms_otp, \
             updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (organization_id) DO UPDATE SET \
             value = excluded.value, grace_period_days = excluded.grace_period_days, \
             accept_email_sms_otp = excluded.accept_email_sms_otp, updated_at = excluded.updated_at, \
             updated_by = excluded.updated_by",
        )
        .bind(rule.organization_id.clone().unwrap_or_default())
        .bind(rule.value.as_str())
        .bind(rule.grace_period_days)
        .bind(i64::from(rule.accept_email_sms_otp))
        .bind(rule.updated_at)
        .bind(rule.updated_by.clone());
        self.affected(q).await.map(drop)
    }

    async fn delete_mfa_enforcement_rule(&mut self, org_id: &str) -> StoreResult<bool> {
        self.bump_admission_epoch().await?;
        // INVARIANT: '' is the global rule, which is never deleted.
        let q = sqlx::query("DELETE FROM mfa_enforcement WHERE organization_id = $1 AND organization_id <> ''")
            .bind(org_id.to_owned());
        Ok(self.affected(q).await? == 1)
    }
}

#[async_trait]
impl Webhooks for SqlTx {
    async fn insert_webhook_endpoint(&mut self, e: &WebhookEndpoint) -> StoreResult<()> {
        let q = sqlx::query(
            "INSERT INTO webhook_endpoints (id, organization_id, name, url, secret, subscriptions, active, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(e.id.clone())
        .bind(e.organization_id.clone())
        .bind(e.name.clone())
        .bind(e.url.clone())
        .bind(e.secret.clone())
        .bind(e.subscriptions.clone())
        .bind(i64::from(e.active))
        .bind(e.created_at)
        .bind(e.updated_at);
        self.affected(q).await.map(drop)
    }

    async fn update_webhook_endpoint(&mut self, e: &WebhookEndpoint) -> StoreResult<()> {
        let q = sqlx::query(
            "UPDATE webhook_endpoints SET name = $1, url = $2, active = $3, updated_at = $4 \
             WHERE id = $5 AND organization_id = $6",
        )
        .bind(e.name.clone())
        .bind(e.url.clone())
        .bind(i64::from(e.active))
        .bind(e.updated_at)
        .bind(e.id.clone())
        .bind(e.organization_id.clone());
        self.affected(q).await.map(drop)
    }

    async fn delete_webhook_endpoint(&mut self, org_id: &str, id: &str) -> StoreResult<bool> {
        let pending =
            sqlx::query("DELETE FROM outbox WHERE channel = 'WEBHOOK' AND target = $1 AND status = 'PENDING'")
                .bind(id.to_owned());
        self.affected(pending).await?;
        let q = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1 AND organization_id = $2")
            .bind(id.to_owned())
            .bind(org_id.to_owned());
        Ok(self.affected(q).await? == 1)
    }

    async fn list_webhook_endpoints(&mut self, org_id: &str) -> StoreResult<Vec<WebhookEndpoint>> {
        let sql = format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE organization_id = $1 ORDER BY created_at, id"
        );
        self.all(sqlx::query(AssertSqlSafe(sql)).bind(org_id.to_owned()), rows::webhook_endpoint).await
    }

    async fn get_webhook_endpoint(&mut self, id: &str) -> StoreResult<Option<WebhookEndpoint>> {
        let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1");
        self.one(sqlx::query(AssertSqlSafe(sql)).bind(id.to_owned()), rows::webhook_endpoint).await
    }

    async fn insert_email_event(&mut self, e: &EmailEvent) -> StoreResult<()> {
        let q = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO email_events ({EMAIL_EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        )))
        .bind(e.id.clone())
        .bind(e.organization_id.clone())
        .bind(e.message_id.clone())
        .bind(e.event_type.clone())
        .bind(e.from_address.clone())
        .bind(e.to_address.clone())
        .bind(e.diagnostic.clone())
        .bind(e.created_at);
        self.affected(q).await.map(drop)
    }

    async fn email_events(
        &mut self,
        org_id: &str,
        to_address: &str,
        event_type: Option<&str>,
        before: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<EmailEvent>> {
        // `before` is an event id: the page continues with the events older than it.
        let q = sqlx::query(AssertSqlSafe(format!(
            "SELECT {EMAIL_EVENT_COLUMNS} FROM email_events WHERE organization_id = $1 AND to_address = $2 \
             AND ($3 IS NULL OR event_type = $3) \
             AND ($4 IS NULL OR (created_at, id) < (SELECT created_at, id FROM email_events WHERE id = $4)) \
             ORDER BY created_at DESC, id DESC LIMIT $5"
        )))
        .bind(org_id.to_owned())
        .bind(to_address.to_owned())
        .bind(event_type.map(str::to_owned))
        .bind(before.map(str::to_owned))
        .bind(limit);
        self.all(q, rows::email_event).await
    }

    async fn insert_delivery(&mut self, d: &Delivery) -> StoreResult<()> {
        let q = sqlx::query(
            "INSERT INTO outbox (id, channel, target, organization_id, event_type, subject, payload, status, \
             attempts, next_attempt_at, lease_until, last_error, last_status, delivered_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(d.id.clone())
        .bind(d.channel.as_str())
        .bind(d.target.clone())
        .bind(d.organization_id.clone())
        .bind(d.event_type.clone())
        .bind(d.subject.clone())
        .bind(d.payload.clone())
        .bind(d.status.as_str())
        .bind(d.attempts)
        .bind(d.next_attempt_at)
        .bind(d.lease_until)
        .bind(d.last_error.clone())
        .bind(d.last_status)
        .bind(d.delivered_at)
        .bind(d.created_at);
        self.affected(q).await.map(drop)
    }

    async fn lease_deliveries(&mut self, now: i64, lease_until: i64, limit: i64) -> StoreResult<Vec<Delivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM outbox WHERE status = 'PENDING' AND next_attempt_at <= $1 \
             AND lease_until <= $1 ORDER BY next_attempt_at, created_at LIMIT $2"
        );
        let due = self.all(sqlx::query(AssertSqlSafe(sql)).bind(now).bind(limit), rows::delivery).await?;
        let mut leased = Vec::with_capacity(due.len());
        for mut d in due {
            // Only one node wins each lease, whatever the isolation level.
            let q = sqlx::query(
                "UPDATE outbox SET lease_until = $1 WHERE id = $2 AND status = 'PENDING' AND lease_until <= $3",
            )
            .bind(lease_until)
            .bind(d.id.clone())
            .bind(now);
            if self.affected(q).await? == 1 {
                d.lease_until = lease_until;
                leased.push(d);
            }
        }
        Ok(leased)
    }

    async fn update_delivery(&mut self, d: &Delivery) -> StoreResult<()> {
        let q = sqlx::query(
            "UPDATE outbox SET status = $1, attempts = $2, next_attempt_at = $3, lease_until = $4, \
             last_error = $5, last_status = $6, delivered_at = $7 WHERE id = $8",
        )
        .bind(d.status.as_str())
        .bind(d.attempts)
        .bind(d.next_attempt_at)
        .bind(d.lease_until)
        .bind(d.last_error.clone())
        .bind(d.last_status)
        .bind(d.delivered_at)
        .bind(d.id.clone());
        self.affected(q).await.map(drop)
    }

    async fn list_deliveries(
        &mut self,
        org_id: &str,
        channel: Channel,
        target: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<Delivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM outbox WHERE organization_id = $1 AND channel = $2 \
             AND ($3 = '' OR target = $3) ORDER BY created_at DESC, id DESC LIMIT $4"
        );
        let q = sqlx::query(AssertSqlSafe(sql))
            .bind(org_id.to_owned())
            .bind(channel.as_str())
            .bind(target.unwrap_or("").to_owned())
            .bind(limit);
        self.all(q, rows::delivery).await
    }
}

#[async_trait]
impl AuthProxies for SqlTx {
    async fn get_auth_proxy(&mut self, org_id: &str) -> StoreResult<Option<twofold_core::model::AuthProxy>> {
        let sql = format!("SELECT {AUTH_PROXY_COLUMNS} FROM auth_proxies WHERE organization_id = $1");
        self.one(sqlx::query(AssertSqlSafe(sql)).bind(org_id.to_owned()), rows::auth_proxy).await
    }

    async fn get_auth_proxy_by_config(
        &mut self,
        config_id: &str,
    ) -> StoreResult<Option<twofold_core::model::AuthProxy>> {
        let sql = format!(
            "SELECT {AUTH_PROXY_COLUMNS} FROM auth_proxies p WHERE config_id = $1 AND EXISTS \
             (SELECT 1 FROM organizations o WHERE o.id = p.organization_id AND o.deleted_at IS NULL)"
        );
        self.one(sqlx::query(AssertSqlSafe(sql)).bind(config_id.to_owned()), rows::auth_proxy).await
    }

    async fn put_auth_proxy(&mut self, p: &twofold_core::model::AuthProxy, origins: &[String]) -> StoreResult<()> {
        self.bump_admission_epoch().await?;
        let q = sqlx::query(
            "INSERT INTO auth_proxies (organization_id, user_id, api_key_id, policy_id, sealed_key, config, \
             created_at, updated_at, config_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT \
             (organization_id) DO UPDATE SET user_id = $2, api_key_id = $3, policy_id = $4, sealed_key = $5, \
             config = $6, updated_at = $8, config_id = $9",
        )
        .bind(p.organization_id.clone())
        .bind(p.user_id.clone())
        .bind(p.api_key_id.clone())
        .bind(p.policy_id.clone())
        .bind(p.sealed_key.clone())
        .bind(p.config.clone())
        .bind(p.created_at)
        .bind(p.updated_at)
        .bind(p.config_id.clone());
        self.affected(q).await?;
        self.delete_origins(&p.organization_id).await?;
        for origin in origins {
            let q = sqlx::query(
                "INSERT INTO cors_origins (origin, organization_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(origin.clone())
            .bind(p.organization_id.clone());
            self.affected(q).await?;
        }
        Ok(())
    }

    async fn delete_auth_proxy(&mut self, org_id: &str) -> StoreResult<bool> {
        self.bump_admission_epoch().await?;
        self.delete_origins(org_id).await?;
        let q = sqlx::query("DELETE FROM auth_proxies WHERE organization_id = $1").bind(org_id.to_owned());
        Ok(self.affected(q).await? == 1)
    }

    async fn origin_allowed(&mut self, origin: &str, org_id: Option<&str>) -> StoreResult<bool> {
        let q = match org_id {
            None => sqlx::query("SELECT 1 FROM cors_origins WHERE origin = $1 LIMIT 1").bind(origin.to_owned()),
            Some(org) => sqlx::query(
                "SELECT 1 FROM cors_origins WHERE origin = $1 AND (organization_id = $2 OR organization_id = \
                 (SELECT parent_id FROM organizations WHERE id = $2)) LIMIT 1",
            )
            .bind(origin.to_owned())
            .bind(org.to_owned()),
        };
        Ok(self.one(q, |_| Ok(())).await?.is_some())
    }
}

impl SqlTx {
    /// Forgets an organization's allowed origins.
    async fn delete_origins(&mut self, org_id: &str) -> StoreResult<u64> {
        self.affected(sqlx::query("DELETE FROM cors_origins WHERE organization_id = $1").bind(org_id.to_owned())).await
    }
}

const EMAIL_EVENT_COLUMNS: &str =
    "id, organization_id, message_id, event_type, from_address, to_address, diagnostic, created_at";

const PROVIDER_COLUMNS: &str = "id, organization_id, user_id, name, issuer, audience, subject, created_at, updated_at";

#[async_trait]
impl OidcLogins for SqlTx {
    async fn set_oidc_issuers(&mut self, org_id: &str, issuers: &[OidcIssuer]) -> StoreResult<()> {
        self.affected(sqlx::query("DELETE FROM oidc_issuers WHERE organization_id = $1").bind(org_id.to_owned()))
            .await?;
        for i in issuers {
            let audiences = serde_json::to_string(&i.audiences).map_err(|e| StoreError::Backend(e.to_string()))?;
            let q = sqlx::query(
                "INSERT INTO oidc_issuers (organization_id, issuer, audiences, jwks_url, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(org_id.to_owned())
            .bind(i.issuer.clone())
            .bind(audiences)
            .bind(i.jwks_url.clone())
            .bind(i.created_at);
            self.affected(q).await?;
        }
        Ok(())
    }

    async fn oidc_issuers(&mut self, org_id: &str) -> StoreResult<Vec<OidcIssuer>> {
        let q = sqlx::query(
            "SELECT organization_id, issuer, audiences, jwks_url, created_at FROM oidc_issuers \
             WHERE organization_id = $1 OR organization_id = (SELECT parent_id FROM organizations WHERE id = $1) \
             ORDER BY CASE WHEN organization_id = $1 THEN 0 ELSE 1 END, issuer",
        )
        .bind(org_id.to_owned());
        self.all(q, rows::oidc_issuer).await
    }

    async fn insert_oauth_provider(&mut self, p: &OauthProvider) -> StoreResult<()> {
        let q = sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO oauth_providers ({PROVIDER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (issuer, subject, audience) DO NOTHING"
        )))
        .bind(p.id.clone())
        .bind(p.organization_id.clone())
        .bind(p.user_id.clone())
        .bind(p.name.clone())
        .bind(p.issuer.clone())
        .bind(p.audience.clone())
        .bind(p.subject.clone())
        .bind(p.created_at)
        .bind(p.updated_at);
        if self.affected(q).await? == 0 {
            return Err(StoreError::Conflict("this OAuth account is already bound to a user".to_owned()));
        }
        Ok(())
    }

    async fn delete_oauth_provider(&mut self, org_id: &str, user_id: &str, id: &str) -> StoreResult<bool> {
        let q = sqlx::query("DELETE FROM oauth_providers WHERE id = $1 AND user_id = $2 AND organization_id = $3")
            .bind(id.to_owned())
            .bind(user_id.to_owned())
            .bind(org_id.to_owned());
        Ok(self.affected(q).await? == 1)
    }

    async fn list_oauth_providers(&mut self, org_id: &str, user_id: Option<&str>) -> StoreResult<Vec<OauthProvider>> {
        let q = sqlx::query(AssertSqlSafe(format!(
            "SELECT {PROVIDER_COLUMNS} FROM oauth_providers WHERE organization_id = $1 \
             AND ($2 IS NULL OR user_id = $2) ORDER BY created_at, id"
        )))
        .bind(org_id.to_owned())
        .bind(user_id.map(str::to_owned));
        self.all(q, rows::oauth_provider).await
    }

    async fn oauth_provider_for(
        &mut self,
        org_id: &str,
        issuer: &str,
        subject: &str,
        audience: &str,
    ) -> StoreResult<Option<OauthProvider>> {
        let q = sqlx::query(AssertSqlSafe(format!(
            "SELECT {PROVIDER_COLUMNS} FROM oauth_providers WHERE issuer = $2 AND subject = $3 AND audience = $4 \
             AND (organization_id = $1 OR organization_id IN \
             (SELECT id FROM organizations WHERE parent_id = $1 AND deleted_at IS NULL))"
        )))
        .bind(org_id.to_owned())
        .bind(issuer.to_owned())
        .bind(subject.to_owned())
        .bind(audience.to_owned());
        self.one(q, rows::oauth_provider).await
    }

    async fn spend_oidc_token(&mut self, token_hash: &str, expires_at: i64, now: i64) -> StoreResult<bool> {
        self.affected(sqlx::query("DELETE FROM spent_oidc_tokens WHERE expires_at < $1").bind(now)).await?;
        let q = sqlx::query(
            "INSERT INTO spent_oidc_tokens (token_hash, expires_at) VALUES ($1, $2) ON CONFLICT (token_hash) DO NOTHING",
        )
        .bind(token_hash.to_owned())
        .bind(expires_at);
        Ok(self.affected(q).await? == 1)
    }
}

const AUTH_PROXY_COLUMNS: &str =
    "organization_id, user_id, api_key_id, policy_id, sealed_key, config, created_at, updated_at, config_id";
const OTP_COLUMNS: &str = "id, otp_id, organization_id, otp_type, contact, client_ip, anonymous, fingerprint, \
     status, sealed_state, verification_token, verified_fingerprint, created_at, expires_at, updated_at, \
     deliver_after, delivery_attempts";

const MFA_POLICY_COLUMNS: &str =
    "id, organization_id, user_id, name, condition, required_methods, sort_order, notes, created_at, updated_at";
const PROFILE_COLUMNS: &str = "id, organization_id, name, scope, expiration_seconds, notes, created_at";
const ENDPOINT_COLUMNS: &str = "id, organization_id, name, url, secret, subscriptions, active, created_at, updated_at";
const DELIVERY_COLUMNS: &str = "id, channel, target, organization_id, event_type, subject, payload, status, \
     attempts, next_attempt_at, lease_until, last_error, last_status, delivered_at, created_at";

/// A value bound into a dynamically built query.
#[derive(Clone)]
enum Bind {
    Text(String),
    Int(i64),
}

/// The start of the query for the events carrying a frontier: the bit positions 0..=62 and
/// the tree size `n` (completed by the caller: a size, then `)`).
const FRONTIER_SQL: &str = "WITH RECURSIVE bits (b) AS (SELECT 0 UNION ALL SELECT b + 1 FROM bits WHERE b < 62), \
     sizes (n) AS (SELECT";
/// A query whose SQL was assembled from fixed fragments and `$N` placeholders only.
fn bound(sql: String, binds: Vec<Bind>) -> Query<'static> {
    let mut q = sqlx::query(AssertSqlSafe(sql));
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s),
            Bind::Int(i) => q.bind(i),
        };
    }
    q
}

impl FromStr for Backend {
    type Err = OpenError;
    fn from_str(url: &str) -> Result<Self, OpenError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(OpenError::UnsupportedUrl(url.to_owned()))
        }
    }
}
