//! Key directory records: every registration or change of an account's
//! identity key is a log entry tagged [`KEY_DIRECTORY_TAG`] (DESIGN.md T4).
//!
//! The body is JSON with the fields in this fixed order and no whitespace:
//!
//! ```text
//! {"account_id":"<id>","version":<n>,"public_key":"<base64, 32 bytes>",
//!  "registered_at":<unix seconds>,"previous_key":"<base64 SHA-256 of the previous key>"|null}
//! ```
//!
//! Decoding re-encodes and demands the same bytes, so each record has exactly
//! one body and one leaf hash. A client that holds a credential's key checks
//! it with [`verify_key_entry`]: the entry must be in a checkpoint it opened
//! with the log's key, name the account it expects and carry that key.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::checkpoint::VerifiedCheckpoint;
use crate::entry::{Entry, EntryError, EntryTag};
use crate::hash::Hash;
use crate::proof::{verify_inclusion, ProofError};
use crate::tree::LeafIndex;

/// Type tag of key directory entries.
pub const KEY_DIRECTORY_TAG: &str = "key_directory.v1";

/// Longest account id accepted, in bytes.
const MAX_ACCOUNT_ID_LEN: usize = 64;

/// One identity key of one account, from `registered_at` on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDirectoryRecord {
    /// The account (`[A-Za-z0-9_-]`, 1 to 64 characters).
    pub account_id: String,
    /// 1 for the account's first key, one more for each change.
    pub version: u64,
    /// The Ed25519 public key.
    pub public_key: [u8; 32],
    /// Unix seconds.
    pub registered_at: i64,
    /// SHA-256 of the key this one replaces; `None` for version 1.
    pub previous_key: Option<Hash>,
}

/// The JSON shape of the body; field order is the canonical order.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    account_id: String,
    version: u64,
    public_key: String,
    registered_at: i64,
    previous_key: Option<String>,
}

impl KeyDirectoryRecord {
    /// SHA-256 of a public key, as `previous_key` holds it.
    pub fn key_hash(public_key: &[u8; 32]) -> Hash {
        Hash(Sha256::digest(public_key).into())
    }

    /// The log entry for this record.
    pub fn to_entry(&self) -> Result<Entry, KeyDirectoryError> {
        check_account_id(&self.account_id)?;
        let body = Body {
            account_id: self.account_id.clone(),
            version: self.version,
            public_key: BASE64.encode(self.public_key),
            registered_at: self.registered_at,
            previous_key: self.previous_key.map(|hash| hash.to_base64()),
        };
        // Serializing a struct of strings and integers cannot fail.
        let json = serde_json::to_vec(&body).map_err(|_| KeyDirectoryError::Body)?;
        Ok(Entry::new(tag(), json)?)
    }

    /// Reads a record from a log entry, refusing other tags and any body
    /// that is not the canonical encoding of a valid record.
    pub fn from_entry(entry: &Entry) -> Result<KeyDirectoryRecord, KeyDirectoryError> {
        if entry.tag().as_str() != KEY_DIRECTORY_TAG {
            return Err(KeyDirectoryError::WrongTag {
                tag: entry.tag().as_str().to_owned(),
            });
        }
        let body: Body =
            serde_json::from_slice(entry.body()).map_err(|_| KeyDirectoryError::Body)?;
        let public_key = BASE64
            .decode(&body.public_key)
            .ok()
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .ok_or(KeyDirectoryError::PublicKey)?;
        let previous_key = body
            .previous_key
            .as_deref()
            .map(Hash::from_base64)
            .transpose()
            .map_err(|_| KeyDirectoryError::PreviousKey)?;
        if (body.version == 1) != previous_key.is_none() || body.version == 0 {
            return Err(KeyDirectoryError::PreviousKey);
        }
        let record = KeyDirectoryRecord {
            account_id: body.account_id,
            version: body.version,
            public_key,
            registered_at: body.registered_at,
            previous_key,
        };
        if record.to_entry()?.body() != entry.body() {
            return Err(KeyDirectoryError::NotCanonical);
        }
        Ok(record)
    }
}

/// Checks that `entry_bytes` is the key directory entry at `index` in the
/// checkpoint the client opened, for `account_id`, carrying `public_key`.
///
/// `proof` is the inclusion proof of `index` in the checkpoint's tree. On
/// success the record is returned, so that the caller can also show its
/// version and time.
pub fn verify_key_entry(
    checkpoint: &VerifiedCheckpoint,
    index: LeafIndex,
    entry_bytes: &[u8],
    proof: &[Hash],
    account_id: &str,
    public_key: &[u8; 32],
) -> Result<KeyDirectoryRecord, KeyDirectoryError> {
    let tree = checkpoint.checkpoint();
    let entry = Entry::decode(entry_bytes)?;
    verify_inclusion(&entry.leaf_hash(), index, tree.size(), proof, &tree.root())?;
    let record = KeyDirectoryRecord::from_entry(&entry)?;
    if record.account_id != account_id {
        return Err(KeyDirectoryError::OtherAccount {
            found: record.account_id,
        });
    }
    if &record.public_key != public_key {
        return Err(KeyDirectoryError::OtherKey {
            version: record.version,
        });
    }
    Ok(record)
}

/// Why a key directory record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyDirectoryError {
    /// The entry envelope is malformed.
    #[error("key directory entry: {0}")]
    Entry(#[from] EntryError),
    /// The entry has another type tag.
    #[error("entry is tagged {tag:?}, not {KEY_DIRECTORY_TAG:?}")]
    WrongTag {
        /// The tag found.
        tag: String,
    },
    /// The body is not the JSON object described in the module docs.
    #[error("key directory body is not the expected JSON object")]
    Body,
    /// The account id is empty, too long or has a character outside `[A-Za-z0-9_-]`.
    #[error(
        "key directory account id is not 1 to {MAX_ACCOUNT_ID_LEN} characters of [A-Za-z0-9_-]"
    )]
    AccountId,
    /// The public key is not base64 of 32 bytes.
    #[error("key directory public key is not base64 of 32 bytes")]
    PublicKey,
    /// `previous_key` is not base64 of a hash, or is present for version 1,
    /// or missing for a later version (or the version is 0).
    #[error("key directory previous key hash does not fit the version")]
    PreviousKey,
    /// The body decodes but is not in canonical form.
    #[error("key directory body is not in canonical form")]
    NotCanonical,
    /// The inclusion proof does not verify against the checkpoint.
    #[error("key directory entry is not in the checkpoint: {0}")]
    Proof(#[from] ProofError),
    /// The entry is about another account.
    #[error("key directory entry is about account {found}, not the one asked for")]
    OtherAccount {
        /// The account id in the entry.
        found: String,
    },
    /// The entry carries another key than the credential's.
    #[error("the logged identity key (version {version}) differs from the credential's key")]
    OtherKey {
        /// Version of the logged key.
        version: u64,
    },
}

fn tag() -> EntryTag {
    // Invariant: the constant is a valid tag (a unit test checks it).
    EntryTag::new(KEY_DIRECTORY_TAG).expect("KEY_DIRECTORY_TAG is a valid tag")
}

fn check_account_id(id: &str) -> Result<(), KeyDirectoryError> {
    let valid = !id.is_empty()
        && id.len() <= MAX_ACCOUNT_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(KeyDirectoryError::AccountId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::note::NoteSigner;
    use crate::tree::MerkleTree;
    use ed25519_dalek::SigningKey;

    fn record(version: u64) -> KeyDirectoryRecord {
        KeyDirectoryRecord {
            account_id: "acct_1-X".into(),
            version,
            public_key: [version as u8; 32],
            registered_at: 1_700_000_000,
            previous_key: (version > 1)
                .then(|| KeyDirectoryRecord::key_hash(&[version as u8 - 1; 32])),
        }
    }

    #[test]
    fn round_trip_and_canonical_form() {
        assert!(EntryTag::new(KEY_DIRECTORY_TAG).is_ok());
        for version in [1, 2] {
            let entry = record(version).to_entry().unwrap();
            assert_eq!(KeyDirectoryRecord::from_entry(&entry), Ok(record(version)));
        }
        let body = String::from_utf8(record(1).to_entry().unwrap().body().to_vec()).unwrap();
        assert!(body.starts_with("{\"account_id\":\"acct_1-X\",\"version\":1,"));
        let spaced = body.replace(":1,", ": 1,");
        let entry = Entry::new(tag(), spaced.into_bytes()).unwrap();
        assert_eq!(
            KeyDirectoryRecord::from_entry(&entry),
            Err(KeyDirectoryError::NotCanonical)
        );
    }

    #[test]
    fn malformed_records_are_refused() {
        let mut bad = record(2);
        bad.previous_key = None;
        let entry = Entry::new(tag(), bad.to_entry().unwrap().body().to_vec()).unwrap();
        assert_eq!(
            KeyDirectoryRecord::from_entry(&entry),
            Err(KeyDirectoryError::PreviousKey)
        );
        let mut bad = record(1);
        bad.account_id = "has space".into();
        assert_eq!(bad.to_entry(), Err(KeyDirectoryError::AccountId));
        let other = Entry::new(EntryTag::new("other").unwrap(), b"{}".to_vec()).unwrap();
        assert!(matches!(
            KeyDirectoryRecord::from_entry(&other),
            Err(KeyDirectoryError::WrongTag { .. })
        ));
        let junk = Entry::new(tag(), b"[1]".to_vec()).unwrap();
        assert_eq!(
            KeyDirectoryRecord::from_entry(&junk),
            Err(KeyDirectoryError::Body)
        );
    }

    #[test]
    fn a_client_verifies_a_logged_key() {
        let mut tree = MerkleTree::new();
        tree.append(b"something else");
        let entry = record(1).to_entry().unwrap().encode();
        let index = tree.append(&entry);
        tree.append(b"later");
        let signer = NoteSigner::new("log.test", SigningKey::from_bytes(&[3; 32])).unwrap();
        let note = Checkpoint::new("log.test", tree.size(), tree.root())
            .unwrap()
            .sign(&signer)
            .unwrap()
            .encode();
        let opened = Checkpoint::open(note.as_bytes(), "log.test", &[signer.verifier()]).unwrap();
        let proof = tree.inclusion_proof(index, tree.size()).unwrap();
        let verified =
            verify_key_entry(&opened, index, &entry, &proof, "acct_1-X", &[1; 32]).unwrap();
        assert_eq!(verified.version, 1);
        assert_eq!(
            verify_key_entry(&opened, index, &entry, &proof, "acct_1-X", &[9; 32]),
            Err(KeyDirectoryError::OtherKey { version: 1 })
        );
        assert!(matches!(
            verify_key_entry(&opened, index, &entry, &proof, "someone", &[1; 32]),
            Err(KeyDirectoryError::OtherAccount { .. })
        ));
        assert!(matches!(
            verify_key_entry(&opened, LeafIndex(0), &entry, &proof, "acct_1-X", &[1; 32]),
            Err(KeyDirectoryError::Proof(_))
        ));
    }
}
