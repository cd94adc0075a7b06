//! A typed client for twofold (and any Turnkey-compatible API): API keys that
//! stamp requests exactly as `@turnkey/api-key-stamper` does, and a blocking HTTP
//! client that fills in `type`, `timestampMs` and `organizationId`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod key;
pub mod otp;

pub use client::{ApiResponse, Client};
pub use key::{ApiKeyPair, Curve, KeyFile};

/// Client-side failures.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The key file or key material is unusable.
    #[error("key: {0}")]
    Key(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server could not be reached.
    #[error("request to {url} failed: {message}")]
    Transport {
        /// Where.
        url: String,
        /// Why.
        message: String,
    },
    /// The request could not be built.
    #[error("{0}")]
    Request(String),
}

/// Client result.
pub type Result<T> = std::result::Result<T, ClientError>;
