//! Conclave's transparency log: an append-only Merkle log of every privileged
//! request, approval, execution, staff-key change, policy change and key
//! directory record, with signed checkpoints and proofs that anyone can check
//! (DESIGN.md threats T4 and T7).
//!
//! The crate is sans-IO: it holds no files, sockets, clocks or database
//! handles. It provides
//!
//! - RFC 6962 / RFC 9162 hashing ([`leaf_hash`], [`node_hash`], [`Hash`](struct@Hash));
//! - [`MerkleTree`], the in-memory append-only tree, with roots, inclusion
//!   proofs and consistency proofs for the current or any earlier size;
//! - [`verify_inclusion`] and [`verify_consistency`], which need only hashes
//!   and so serve clients and independent monitors (`conclave audit`);
//! - [`Checkpoint`]s in the C2SP tlog-checkpoint format, signed as C2SP
//!   signed notes with Ed25519 ([`NoteSigner`], [`NoteVerifier`],
//!   [`SignedNote`]);
//! - [`Entry`], the versioned canonical envelope (type tag and body) that
//!   every leaf's data is;
//! - [`Frontier`], the right edge of a tree, to compute the root a batch of
//!   appends leads to without touching the tree;
//! - [`KeyDirectoryRecord`], the key directory's entries, and
//!   [`verify_key_entry`], which a client uses to check a credential's key
//!   against the log.
//!
//! # Invariants
//!
//! - The log only grows: [`MerkleTree`] has no method that removes, replaces
//!   or reorders a leaf, and storage built around it must have no UPDATE or
//!   DELETE path either.
//! - Everything is recomputable from the leaf data in order: storage persists
//!   each entry's encoded bytes (optionally with its leaf hash) and rebuilds
//!   the tree with [`MerkleTree::from_leaf_hashes`]; signed checkpoint notes
//!   may be stored as issued.
//! - One (tag, body) has exactly one encoding, hence one leaf hash.
//! - Parsers of outside input ([`SignedNote::parse`], [`Checkpoint::open`],
//!   [`Entry::decode`], [`NoteVerifier::parse`]) are size-bounded, never
//!   panic, and name what was wrong in a typed error.
//! - A checkpoint reaches a caller as trusted only as a [`VerifiedCheckpoint`],
//!   which only [`Checkpoint::open`] makes after checking a signature by a
//!   trusted key.
//!
//! # Example
//!
//! ```
//! use ledger::{
//!     verify_consistency, verify_inclusion, Checkpoint, Entry, EntryTag, MerkleTree,
//!     NoteSigner, NoteVerifier, SigningKey,
//! };
//!
//! // The log appends entries...
//! let mut tree = MerkleTree::new();
//! let entry = Entry::new(EntryTag::new("example.note")?, b"first".to_vec())?;
//! let index = tree.append(&entry.encode());
//! let (old_size, old_root) = (tree.size(), tree.root());
//! tree.append(&Entry::new(EntryTag::new("example.note")?, b"second".to_vec())?.encode());
//!
//! // ...and signs a checkpoint with its key (fixed here; random in real use).
//! let signer = NoteSigner::new("log.example.org", SigningKey::from_bytes(&[7; 32]))?;
//! let note = Checkpoint::new("log.example.org", tree.size(), tree.root())?.sign(&signer)?;
//! let published_key = signer.verifier().to_string();
//!
//! // A client that trusts the published key opens the checkpoint...
//! let trusted: NoteVerifier = published_key.parse()?;
//! let verified = Checkpoint::open(note.encode().as_bytes(), "log.example.org", &[trusted])?;
//! let checkpoint = verified.checkpoint();
//!
//! // ...checks that its entry is in the log...
//! let proof = tree.inclusion_proof(index, checkpoint.size())?;
//! verify_inclusion(&entry.leaf_hash(), index, checkpoint.size(), &proof, &checkpoint.root())?;
//!
//! // ...and that the log only grew since the tree head it saw before.
//! let proof = tree.consistency_proof(old_size, checkpoint.size())?;
//! verify_consistency(old_size, checkpoint.size(), &proof, &old_root, &checkpoint.root())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod checkpoint;
mod entry;
mod frontier;
mod hash;
mod key_directory;
mod note;
mod proof;
mod tree;

pub use checkpoint::{Checkpoint, CheckpointError, VerifiedCheckpoint};
pub use entry::{Entry, EntryError, EntryTag, ENTRY_VERSION, MAX_ENTRY_LEN, MAX_TAG_LEN};
pub use frontier::Frontier;
pub use hash::{leaf_hash, node_hash, Hash, HashError, HASH_LEN};
pub use key_directory::{
    verify_key_entry, KeyDirectoryError, KeyDirectoryRecord, KEY_DIRECTORY_TAG,
};
pub use note::{
    KeyId, NoteError, NoteSignature, NoteSigner, NoteVerifier, SignedNote, VerifiedNote,
    MAX_NOTE_LEN, MAX_NOTE_SIGNATURES,
};
pub use proof::{verify_consistency, verify_inclusion, ProofError};
pub use tree::{LeafIndex, MerkleTree, TreeError};

/// Ed25519 keys as the note types take them, re-exported so that callers use
/// the same `ed25519-dalek` version as this crate.
pub use ed25519_dalek::{SigningKey, VerifyingKey};
