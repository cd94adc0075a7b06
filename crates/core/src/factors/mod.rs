//! The factors twofold owns besides key pairs, as pure functions over their
//! stored form: TOTP devices, recovery codes, passkeys and session tokens. The
//! engine decides when to call them and keeps their state in the store.

pub mod passkey;
pub mod recovery;
pub mod session;
pub mod totp;
