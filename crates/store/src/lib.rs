//! SQLite (embedded default) and PostgreSQL storage for twofold, behind the
//! [`twofold_core::Store`] trait. Each query is written once with `$N`
//! placeholders, which both backends accept; only connection set-up and
//! migrations differ per backend.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod rows;
mod sql;

pub use sql::{Backend, SqlStore, StoreOptions, private_dir};

/// Errors opening or migrating a database.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The URL names no supported database.
    #[error("unsupported database URL `{0}`: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    /// The database could not be opened or reached.
    #[error("cannot open database: {0}")]
    Connect(#[source] sqlx::Error),
    /// The schema is newer than this binary.
    #[error("the database schema (migration {0}) is newer than this twofold binary; run a newer twofold")]
    SchemaTooNew(i64),
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// The data directory could not be created.
    #[error("cannot create directory for the database file `{path}`: {source}")]
    Directory {
        /// The directory.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}
