//! Looking an account's identity key up in the transparency log's key directory, for ghost
//! protection (DESIGN.md T4): the entry must be in a checkpoint signed by the log key the
//! participant pinned ([`pin_log`], at first use unless configured up front), and name the
//! account. Only a key that passes goes into the MLS key directory.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use e2ee::identity::IdentityKey;
use ledger::{verify_key_entry, Checkpoint, Entry, Hash, KeyDirectoryRecord, LeafIndex};
use proto::ids::AccountId;
use proto::ledger::{KeyDirectoryProof, LedgerKey};

use crate::order::PinnedLog;

/// Largest answer read from a log endpoint.
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// Why a key could not be verified.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyLookupError {
    /// The request failed.
    #[error("the log could not be read: {0}")]
    Http(#[from] reqwest::Error),
    /// The server answered with an error status (404: the account has no logged key).
    #[error("the log answered {status}")]
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// The answer is over [`MAX_ANSWER_BYTES`] or not the expected JSON.
    #[error("the log's answer is malformed: {0}")]
    Malformed(String),
    /// The checkpoint, proof or entry does not verify.
    #[error("the key directory entry does not verify: {0}")]
    Unverified(String),
}

/// Reads the log's origin and key from `GET /api/v1/ledger/key`, to pin at first use.
pub async fn pin_log(http: &reqwest::Client, base_url: &str) -> Result<PinnedLog, KeyLookupError> {
    let key: LedgerKey = get_json(http, &format!("{base_url}/api/v1/ledger/key")).await?;
    let verifier = key
        .verifier_key
        .parse()
        .map_err(|e| KeyLookupError::Malformed(format!("log key: {e}")))?;
    Ok(PinnedLog {
        origin: key.origin,
        key: verifier,
    })
}

/// Fetches `account`'s key-directory entry and verifies it against a checkpoint signed by
/// `log`; gives the key it carries.
pub async fn verified_key(
    http: &reqwest::Client,
    base_url: &str,
    log: &PinnedLog,
    account: &AccountId,
) -> Result<IdentityKey, KeyLookupError> {
    let proof: KeyDirectoryProof = get_json(
        http,
        &format!("{base_url}/api/v1/ledger/key-directory/{account}"),
    )
    .await?;
    check_entry(&proof, log, account)
}

/// The verification of [`verified_key`], without the network.
pub fn check_entry(
    proof: &KeyDirectoryProof,
    log: &PinnedLog,
    account: &AccountId,
) -> Result<IdentityKey, KeyLookupError> {
    let unverified = |e: &dyn std::fmt::Display| KeyLookupError::Unverified(e.to_string());
    let checkpoint = Checkpoint::open(
        proof.checkpoint.as_bytes(),
        &log.origin,
        std::slice::from_ref(&log.key),
    )
    .map_err(|e| unverified(&e))?;
    let entry_bytes = BASE64
        .decode(&proof.entry)
        .map_err(|e| KeyLookupError::Malformed(format!("entry: {e}")))?;
    let hashes = proof
        .proof
        .iter()
        .map(|h| Hash::from_base64(h))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| KeyLookupError::Malformed(format!("proof: {e}")))?;
    // The key to expect is the entry's own; verify_key_entry then proves the entry is in
    // the signed tree at its index and names this account.
    let record = Entry::decode(&entry_bytes)
        .map_err(|e| unverified(&e))
        .and_then(|entry| KeyDirectoryRecord::from_entry(&entry).map_err(|e| unverified(&e)))?;
    let record = verify_key_entry(
        &checkpoint,
        LeafIndex(proof.index),
        &entry_bytes,
        &hashes,
        account.as_str(),
        &record.public_key,
    )
    .map_err(|e| unverified(&e))?;
    Ok(IdentityKey::from_bytes(record.public_key))
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, KeyLookupError> {
    let response = http.get(url).send().await?;
    let status = response.status();
    if !status.is_success() {
        return Err(KeyLookupError::Status {
            status: status.as_u16(),
        });
    }
    if response
        .content_length()
        .is_some_and(|len| len > MAX_ANSWER_BYTES as u64)
    {
        return Err(KeyLookupError::Malformed("answer too long".into()));
    }
    let body = response.bytes().await?;
    if body.len() > MAX_ANSWER_BYTES {
        return Err(KeyLookupError::Malformed("answer too long".into()));
    }
    serde_json::from_slice(&body).map_err(|e| KeyLookupError::Malformed(e.to_string()))
}
