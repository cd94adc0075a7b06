//! What can go wrong with a proof, a checkpoint or a note.

/// One error type for the crate; messages say what did not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A proof does not prove what it claims.
    #[error("proof does not verify: {0}")]
    Proof(String),
    /// A tree node a proof needs is not stored.
    #[error("tree node at level {level}, index {index} is missing")]
    MissingNode {
        /// Its level (0: leaves).
        level: u8,
        /// Its index at that level.
        index: u64,
    },
    /// A request about a tree makes no sense (an index past its size, an old size past the new).
    #[error("{0}")]
    Range(String),
    /// A checkpoint or note is not well formed.
    #[error("malformed {what}: {why}")]
    Malformed {
        /// What was being read.
        what: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// No signature by a trusted key verifies (or one by a trusted key fails).
    #[error("note signature: {0}")]
    Signature(String),
}

/// The crate's result.
pub type Result<T> = std::result::Result<T, Error>;
