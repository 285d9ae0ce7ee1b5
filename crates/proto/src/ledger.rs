//! Bodies of the public transparency-log API under `/api/v1/ledger` (no
//! authentication). Hashes and entry data are standard padded base64;
//! checkpoints are C2SP signed notes as text. Clients verify everything they
//! get here with the `ledger` crate and trust none of it on its own.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Most entries one `GET /api/v1/ledger/entries` returns.
pub const MAX_LEDGER_PAGE_ENTRIES: u64 = 1000;

/// Bytes of entry data (before base64) after which a page ends: a page
/// stops with the entry that reaches this, so it holds at least one entry
/// and exceeds the figure by at most one entry.
pub const MAX_LEDGER_PAGE_BYTES: usize = 2 * 1024 * 1024;

/// `GET /api/v1/ledger/key`: who the log is and the key its checkpoints are
/// signed with. A monitor pins both on first use.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct LedgerKey {
    /// The checkpoint origin line, e.g. `meet.example.org/conclave-log`.
    pub origin: String,
    /// The signed-note verifier key, `<name>+<key id hex>+<base64 of 0x01 || Ed25519 key>`.
    pub verifier_key: String,
}

/// Query of `GET /api/v1/ledger/entries`.
#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LedgerEntriesQuery {
    /// First position wanted.
    pub start: u64,
    /// One past the last position wanted; at most the latest checkpoint's
    /// size, and at most [`MAX_LEDGER_PAGE_ENTRIES`] after `start`.
    pub end: u64,
}

/// A page of log entries.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct LedgerEntries {
    /// The entries found in order. Positions are listed so that a gap (a
    /// missing row) is visible rather than silently closed up.
    pub entries: Vec<LedgerEntry>,
    /// Where the next page starts: `end` when the range is complete, less
    /// when the page reached [`MAX_LEDGER_PAGE_BYTES`].
    pub next: u64,
}

/// One log entry.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct LedgerEntry {
    /// Position in the log.
    pub index: u64,
    /// The encoded entry (the leaf data), base64.
    pub data: String,
}

/// Query of `GET /api/v1/ledger/proofs/inclusion`.
#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InclusionProofQuery {
    /// The leaf's position.
    pub index: u64,
    /// The tree size to prove inclusion in (at most the latest checkpoint's).
    pub size: u64,
}

/// An RFC 9162 inclusion proof.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct InclusionProof {
    /// The leaf's position.
    pub index: u64,
    /// The tree size.
    pub size: u64,
    /// The audit path, lowest sibling first, base64 hashes.
    pub proof: Vec<String>,
}

/// Query of `GET /api/v1/ledger/proofs/consistency`.
#[derive(Debug, Clone, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProofQuery {
    /// The older tree size (at least 1).
    pub old: u64,
    /// The newer tree size (at most the latest checkpoint's).
    pub new: u64,
}

/// An RFC 9162 consistency proof.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ConsistencyProof {
    /// The older tree size.
    pub old_size: u64,
    /// The newer tree size.
    pub new_size: u64,
    /// The proof, base64 hashes.
    pub proof: Vec<String>,
}

/// `GET /api/v1/ledger/key-directory/{account_id}`: an account's current
/// identity-key entry with everything needed to check it offline.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct KeyDirectoryProof {
    /// Position of the entry.
    pub index: u64,
    /// The encoded entry, base64 (tag `key_directory.v1`).
    pub entry: String,
    /// The signed checkpoint the proof leads to (note text).
    pub checkpoint: String,
    /// Inclusion proof of `index` in that checkpoint's tree, base64 hashes.
    pub proof: Vec<String>,
}
