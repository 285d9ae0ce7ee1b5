//! Checking why a meeting ended, without trusting the server (issue #5).
//!
//! A server may end a meeting only when its host does, or under an
//! oversight order that a quorum of staff signed. The order arrives in
//! `meeting_ended` with the certificate, the position of its execution
//! entry in the transparency log, an inclusion proof and a checkpoint. The
//! client checks:
//!
//! 1. the checkpoint is signed by the log key it pinned;
//! 2. the log's entries before the execution are the ones the checkpoint
//!    commits to (a consistency proof from those entries' own root), and
//!    replaying their staff and policy entries ([`Governance`]) gives the
//!    staff and policy that were in force;
//! 3. the certificate verifies against them;
//! 4. the execution entry made from that certificate is in the checkpoint
//!    at the stated index (the inclusion proof);
//! 5. the order's action ends this meeting.
//!
//! Anything else, including the connection simply closing, is reported as
//! the server ending the meeting without an order.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ledger::{
    verify_consistency, verify_inclusion, Checkpoint, Entry, Hash, LeafIndex, MerkleTree,
    NoteVerifier,
};
use oversight::{Action, Governance, OversightEntry, QuorumCertificate};
use proto::ids::MeetingId;
use proto::ledger::{ConsistencyProof, LedgerEntries, MAX_LEDGER_PAGE_ENTRIES};
use proto::signaling::{EndOrder, EndReason, ServerMessage};

use crate::{ClientError, Signaling};

/// What a participant says when the server ends a meeting on its own.
pub const WITHOUT_ORDER: &str = "the server ended this meeting without an order";

/// Most log entries a client replays to check one order.
pub const MAX_REPLAYED_ENTRIES: u64 = 1_000_000;

/// The transparency log a client trusts: its origin and pinned key.
#[derive(Debug, Clone)]
pub struct PinnedLog {
    /// The checkpoint origin line.
    pub origin: String,
    /// The checkpoint signing key.
    pub key: NoteVerifier,
}

/// How a meeting ended, as far as this client can tell.
#[derive(Debug)]
pub enum MeetingEnd {
    /// The server says a host ended it.
    EndedByHost,
    /// Ended under an order whose certificate and log proofs verified.
    EndedByVerifiedOrder(Box<QuorumCertificate>),
    /// Ended with no valid order: the server acted on its own.
    EndedWithoutOrder {
        /// What was missing or wrong.
        problem: String,
    },
}

impl MeetingEnd {
    /// The line to show the participant.
    pub fn statement(&self) -> String {
        match self {
            MeetingEnd::EndedByHost => "the host ended this meeting".into(),
            MeetingEnd::EndedByVerifiedOrder(certificate) => format!(
                "this meeting was ended under an oversight order approved by {} staff members: {}",
                certificate.approvals().len(),
                certificate.request().reasons
            ),
            MeetingEnd::EndedWithoutOrder { problem } => format!("{WITHOUT_ORDER} ({problem})"),
        }
    }
}

/// Why an order does not verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OrderError {
    /// The certificate bytes do not decode.
    #[error("the order's certificate is malformed: {0}")]
    Certificate(String),
    /// The checkpoint is not signed by the pinned log key.
    #[error("the order's checkpoint is not signed by the pinned log key: {0}")]
    Checkpoint(String),
    /// The log could not be read.
    #[error("cannot read the transparency log: {0}")]
    Log(#[from] ClientError),
    /// What the log served does not match the checkpoint.
    #[error("the transparency log does not match the order's checkpoint: {0}")]
    Proof(String),
    /// The staff and policy entries do not replay.
    #[error("the log's staff and policy entries do not replay: {0}")]
    Governance(String),
    /// The certificate is not a valid quorum under the logged staff and policy.
    #[error("the certificate does not hold a valid quorum: {0}")]
    Quorum(String),
    /// The certificate orders something else.
    #[error("the order does not end this meeting")]
    OtherMeeting,
}

/// Checks an end-meeting order against the public log at `base_url`.
pub async fn verify_end_order(
    http: &reqwest::Client,
    base_url: &str,
    log: &PinnedLog,
    meeting: &MeetingId,
    order: &EndOrder,
) -> Result<QuorumCertificate, OrderError> {
    let bytes = BASE64
        .decode(&order.certificate)
        .map_err(|e| OrderError::Certificate(e.to_string()))?;
    let certificate =
        QuorumCertificate::decode(&bytes).map_err(|e| OrderError::Certificate(e.to_string()))?;
    if certificate.request().action.meeting() != Some(meeting)
        || !matches!(certificate.request().action, Action::EndMeeting { .. })
    {
        return Err(OrderError::OtherMeeting);
    }
    let verified = Checkpoint::open(
        order.checkpoint.as_bytes(),
        &log.origin,
        std::slice::from_ref(&log.key),
    )
    .map_err(|e| OrderError::Checkpoint(e.to_string()))?;
    let checkpoint = verified.checkpoint();
    let index = order.ledger_index;
    if index >= checkpoint.size() || index >= MAX_REPLAYED_ENTRIES {
        return Err(OrderError::Proof(format!(
            "index {index} is outside the checkpoint of size {}",
            checkpoint.size()
        )));
    }

    // The execution entry is the certificate's, at the stated index.
    let execution = OversightEntry::Execution(certificate.clone()).to_ledger();
    let proof = decode_hashes(&order.inclusion_proof)?;
    verify_inclusion(
        &execution.leaf_hash(),
        LeafIndex(index),
        checkpoint.size(),
        &proof,
        &checkpoint.root(),
    )
    .map_err(|e| OrderError::Proof(format!("inclusion of entry {index}: {e}")))?;

    // The staff and policy in force are those logged before it, and those
    // entries must be the ones the checkpoint commits to.
    let mut tree = MerkleTree::new();
    let mut governance = Governance::new();
    let mut start = 0;
    while start < index {
        let end = index.min(start + MAX_LEDGER_PAGE_ENTRIES);
        let page: LedgerEntries = get_json(
            http,
            &format!("{base_url}/api/v1/ledger/entries?start={start}&end={end}"),
        )
        .await?;
        for row in &page.entries {
            if row.index != tree.size() {
                return Err(OrderError::Proof(format!(
                    "the log skipped from {} to {}",
                    tree.size(),
                    row.index
                )));
            }
            let data = BASE64
                .decode(&row.data)
                .map_err(|e| OrderError::Proof(format!("entry {}: {e}", row.index)))?;
            tree.append(&data);
            let entry = Entry::decode(&data)
                .map_err(|e| OrderError::Proof(format!("entry {}: {e}", row.index)))?;
            if entry.tag().as_str().starts_with("oversight.") {
                let entry = OversightEntry::from_ledger(&entry)
                    .map_err(|e| OrderError::Proof(format!("entry {}: {e}", row.index)))?;
                governance
                    .apply(&entry)
                    .map_err(|e| OrderError::Governance(e.to_string()))?;
            }
        }
        if page.next <= start || tree.size() != page.next {
            return Err(OrderError::Proof(
                "a page of entries made no progress".into(),
            ));
        }
        start = page.next;
    }
    tree.append(&execution.encode());
    let size = tree.size();
    if size == checkpoint.size() {
        if tree.root() != checkpoint.root() {
            return Err(OrderError::Proof(format!(
                "the entries up to {index} do not lead to the checkpoint's root"
            )));
        }
    } else {
        check_prefix(http, base_url, &tree, checkpoint, index).await?;
    }

    let policy = governance
        .policy()
        .map_err(|e| OrderError::Governance(e.to_string()))?;
    certificate
        .verify(governance.staff(), &policy)
        .map_err(|e| OrderError::Quorum(e.to_string()))?;
    Ok(certificate)
}

/// Checks that `tree` (the entries up to the execution) is a prefix of the
/// checkpoint's tree.
async fn check_prefix(
    http: &reqwest::Client,
    base_url: &str,
    tree: &MerkleTree,
    checkpoint: &Checkpoint,
    index: u64,
) -> Result<(), OrderError> {
    let size = tree.size();
    let consistency: ConsistencyProof = get_json(
        http,
        &format!(
            "{base_url}/api/v1/ledger/proofs/consistency?old={size}&new={}",
            checkpoint.size()
        ),
    )
    .await?;
    verify_consistency(
        size,
        checkpoint.size(),
        &decode_hashes(&consistency.proof)?,
        &tree.root(),
        &checkpoint.root(),
    )
    .map_err(|e| OrderError::Proof(format!("the entries before {index}: {e}")))
}

impl Signaling {
    /// Reads until the meeting ends (or the connection closes, or 10 s
    /// pass) and says how: by its host, by a verified order, or by the
    /// server without one.
    pub async fn meeting_end(
        &mut self,
        http: &reqwest::Client,
        base_url: &str,
        log: &PinnedLog,
        meeting: &MeetingId,
    ) -> MeetingEnd {
        let ended = self
            .recv_until("meeting_ended", |message| match message {
                ServerMessage::MeetingEnded { reason, order } => Some((*reason, order.clone())),
                _ => None,
            })
            .await;
        match ended {
            Ok((EndReason::EndedByHost, _)) => MeetingEnd::EndedByHost,
            Ok((EndReason::Order, None)) => MeetingEnd::EndedWithoutOrder {
                problem: "the server named an order but sent none".into(),
            },
            Ok((EndReason::Order, Some(order))) => {
                match verify_end_order(http, base_url, log, meeting, &order).await {
                    Ok(certificate) => MeetingEnd::EndedByVerifiedOrder(Box::new(certificate)),
                    Err(e) => MeetingEnd::EndedWithoutOrder {
                        problem: e.to_string(),
                    },
                }
            }
            Err(e) => MeetingEnd::EndedWithoutOrder {
                problem: e.to_string(),
            },
        }
    }
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, ClientError> {
    let response = http.get(url).send().await?;
    let status = response.status();
    if !status.is_success() {
        return Err(ClientError::Refused {
            what: "a transparency log read",
            status: status.as_u16(),
            code: String::new(),
            message: response.text().await.unwrap_or_default(),
        });
    }
    Ok(response.json().await?)
}

fn decode_hashes(hashes: &[String]) -> Result<Vec<Hash>, OrderError> {
    hashes
        .iter()
        .map(|hash| Hash::from_base64(hash).map_err(|e| OrderError::Proof(e.to_string())))
        .collect()
}
