//! twofold's domain layer: organizations, users, credentials, activities and the
//! decision pipeline. It knows nothing of HTTP or SQL; it reaches storage and time
//! only through the [`Store`] and [`Clock`] traits.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod activities;
pub mod api;
pub mod audit;
pub mod auth_proxy;
pub mod clock;
pub mod crypto;
pub mod enforcement;
pub mod engine;
pub mod error;
pub mod factors;
mod fields;
pub mod intents;
pub mod mfa;
pub mod model;
pub mod network;
pub mod notice;
pub mod oidc;
pub mod otp;
pub mod queries;
pub mod secrets;
pub mod store;
mod validate;
pub mod webhook;

pub use clock::{Clock, ManualClock, SystemClock};
pub use engine::{ATTESTED_SCHEME, AuditLogConfig, Caller, Engine, EngineConfig, PolicyLimits, Request, StampProof};
pub use error::{Error, ErrorCode, Result};
pub use queries::query_paths;
pub use store::{Store, StoreError, StoreTx};
