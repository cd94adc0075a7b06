//! `twofold backup` / `twofold restore` for SQLite installations. A backup is a
//! consistent online snapshot (`VACUUM INTO`, safe while the server runs); a restore
//! replaces the database file, and refuses while a server holds it open. Neither copies
//! the secrets key (it seals TOTP seeds and the session signing key): back it up too.

use std::fs::File;
use std::path::{Path, PathBuf};

use clap::Args;
use sqlx::{Connection, SqliteConnection};

use crate::CliError;
use crate::config::{ConfigArgs, Settings};

/// Flags of `twofold backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    config: Box<ConfigArgs>,
    /// Where to write the snapshot; must not exist yet.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Flags of `twofold restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    config: Box<ConfigArgs>,
    /// The snapshot `twofold backup` wrote.
    #[arg(long, value_name = "FILE")]
    from: PathBuf,
    /// Replace the database even though a server has it open (that server must be stopped
    /// right after, or it goes on writing into the replaced file).
    #[arg(long)]
    force: bool,
}

/// The SQLite file a database URL names.
fn sqlite_path(settings: &Settings) -> Result<PathBuf, CliError> {
    let url = &settings.database_url;
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).ok_or_else(|| {
        CliError::Usage("backup and restore handle SQLite; back up PostgreSQL with pg_dump / pg_restore".into())
    })?;
    Ok(PathBuf::from(path.split('?').next().unwrap_or(path)))
}

/// The lock file next to the database that every `serve` holds shared.
fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Opens (creating it if need be) the lock file of the database `db`.
fn open_lock(db: &Path) -> Result<(File, PathBuf), CliError> {
    let lock = lock_path(db);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .map_err(|e| CliError::Runtime(format!("cannot open lock file {}: {e}", lock.display())))?;
    Ok((file, lock))
}

/// Taken by `serve` on a SQLite database for as long as it runs (shared: several
/// processes may serve one file); `restore` needs it exclusively.
pub fn hold_serve_lock(database_url: &str) -> Result<Option<File>, CliError> {
    let Some(path) = database_url.strip_prefix("sqlite://").or_else(|| database_url.strip_prefix("sqlite:")) else {
        return Ok(None);
    };
    let db = PathBuf::from(path.split('?').next().unwrap_or(path));
    let (file, lock) = open_lock(&db)?;
    file.try_lock_shared().map_err(|_| {
        CliError::Runtime(format!("{} is being restored (its lock file {} is held)", db.display(), lock.display()))
    })?;
    Ok(Some(file))
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| CliError::Runtime(e.to_string()))
}

async fn connect(path: &Path) -> Result<SqliteConnection, CliError> {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
    SqliteConnection::connect_with(&options)
        .await
        .map_err(|e| CliError::Runtime(format!("cannot open {}: {e}", path.display())))
}

/// Checks that `path` is an intact twofold database: SQLite's integrity check passes and
/// the migrations table is there.
async fn check_snapshot(path: &Path) -> Result<(), CliError> {
    let mut conn = connect(path).await?;
    let bad = |what: String| CliError::Runtime(format!("{} is not a usable twofold backup: {what}", path.display()));
    let integrity: String =
        sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut conn).await.map_err(|e| bad(e.to_string()))?;
    if integrity != "ok" {
        return Err(bad(format!("integrity check says {integrity}")));
    }
    let migrations: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| bad(e.to_string()))?;
    if migrations == 0 {
        return Err(bad("it has no schema".into()));
    }
    conn.close().await.map_err(|e| bad(e.to_string()))
}

/// `twofold backup`: a consistent snapshot of the live database.
pub fn backup(args: BackupArgs) -> Result<(), CliError> {
    let settings = Settings::resolve(&args.config)?;
    let db = sqlite_path(&settings)?;
    if !db.exists() {
        return Err(CliError::Usage(format!("no database at {}", db.display())));
    }
    if args.out.exists() {
        return Err(CliError::Usage(format!("{} exists; choose a new file", args.out.display())));
    }
    let out = args.out.to_str().ok_or_else(|| CliError::Usage("the output path must be UTF-8".into()))?;
    runtime()?.block_on(async {
        let mut conn = connect(&db).await?;
        // One read transaction: the copy is the database as of one instant, WAL included.
        sqlx::query("VACUUM INTO ?")
            .bind(out)
            .execute(&mut conn)
            .await
            .map_err(|e| CliError::Runtime(format!("backup failed: {e}")))?;
        conn.close().await.map_err(|e| CliError::Runtime(e.to_string()))?;
        check_snapshot(&args.out).await
    })?;
    restrict(&args.out)?;
    println!("backed up {} to {}", db.display(), args.out.display());
    println!(
        "twofold: the backup does not hold the secrets key; keep {} with it (without it TOTP devices and sessions cannot be opened)",
        settings.secrets_key_file.display()
    );
    println!(
        "twofold: nor the audit checkpoint key; keep {} with it (without it the stored checkpoints no longer verify)",
        settings.audit_key_file.display()
    );
    Ok(())
}

/// `twofold restore`: replaces the database with a snapshot, keeping the old file aside.
pub fn restore(args: RestoreArgs) -> Result<(), CliError> {
    let settings = Settings::resolve(&args.config)?;
    let db = sqlite_path(&settings)?;
    runtime()?.block_on(check_snapshot(&args.from))?;
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        twofold_store::private_dir(dir).map_err(|e| CliError::Runtime(e.to_string()))?;
    }
    let (lock_file, _) = open_lock(&db)?;
    if lock_file.try_lock().is_err() && !args.force {
        return Err(CliError::Usage(format!(
            "a running twofold server has {} open; stop it first (or pass --force and stop it right after)",
            db.display()
        )));
    }
    let staging = sibling(&db, ".restoring");
    std::fs::copy(&args.from, &staging).map_err(|e| CliError::Runtime(format!("cannot copy the backup: {e}")))?;
    File::open(&staging).and_then(|f| f.sync_all()).map_err(|e| CliError::Runtime(e.to_string()))?;
    restrict(&staging)?;
    let kept = if db.exists() {
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let kept = sibling(&db, &format!(".before-restore-{stamp}"));
        std::fs::rename(&db, &kept).map_err(|e| CliError::Runtime(format!("cannot move the old database: {e}")))?;
        Some(kept)
    } else {
        None
    };
    // A WAL left by the old file would be replayed into the restored one.
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(sibling(&db, suffix));
    }
    std::fs::rename(&staging, &db).map_err(|e| CliError::Runtime(format!("cannot move the backup into place: {e}")))?;
    drop(lock_file);
    println!("restored {} from {}", db.display(), args.from.display());
    if let Some(kept) = kept {
        println!("twofold: the replaced database is kept at {}", kept.display());
    }
    println!(
        "twofold: the restored data needs the secrets key it was written with ({})",
        settings.secrets_key_file.display()
    );
    Ok(())
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Owner-only: a backup holds everything the database does.
fn restrict(path: &Path) -> Result<(), CliError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| CliError::Runtime(format!("cannot restrict {}: {e}", path.display())))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
