//! twofold's HTTP layer: the axum router, `X-Stamp` parsing, and the one place
//! where errors become HTTP responses. Handlers are thin: they hand the stamp and
//! the exact body bytes to [`twofold_core::Engine`] and serialize what it returns.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod auth_proxy;
mod console;
mod cors;
mod error;
mod extract;
mod headers;
mod jwks;
mod listen;
mod metrics;
mod openapi;
mod ops;
mod routes;
pub mod stamp;
mod webhooks;

pub use error::ApiError;
pub use jwks::HttpJwksFetcher;
pub use listen::{ConnectionTimeouts, serve};
pub use metrics::Metrics;
pub use openapi::{document as openapi_document, served_paths};
pub use ops::Ops;
pub use routes::{AppState, ServerLimits, router};
pub use webhooks::{HttpWebhookSender, spawn_outbox_worker};
