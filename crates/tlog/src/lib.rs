//! Transparency-log primitives for twofold's audit log, with no IO: the Merkle tree of
//! RFC 9162 §2.1 (SHA-256, leaves hashed with a `0x00` prefix and interior nodes with
//! `0x01`), its inclusion and consistency proofs and their verification, an append-only
//! frontier that keeps appends O(log n), and checkpoints in the C2SP `tlog-checkpoint`
//! form signed as C2SP signed notes (Ed25519), byte-compatible with Go's `sumdb/note`.
//!
//! Where the hashes of a tree are stored is the caller's: proofs read the perfect
//! subtrees they need through [`NodeSource`], O(log n) of them per proof.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod merkle;
mod note;

pub use error::{Error, Result};
pub use merkle::{
    EMPTY_ROOT, Frontier, Hash, Node, NodeSource, consistency_nodes, consistency_proof, hash_from_hex, inclusion_nodes,
    inclusion_proof, leaf_hash, node_hash, subtree_hash, verify_consistency, verify_inclusion,
};
pub use note::{Checkpoint, NoteSigner, NoteVerifier, open_note, sign_note};
