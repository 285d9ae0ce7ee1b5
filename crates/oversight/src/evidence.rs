//! Evidence attached to a request (threat T5).
//!
//! Only a franked chat report that the server verified is evidence about
//! someone: [`VerifiedReport`] is made solely from e2ee's
//! [`VerifiedEvidence`](e2ee::franking::VerifiedEvidence) and names the
//! account that really sent the message. Screenshots and free text are
//! recorded by hash as unverified and can never be the sole ground for an
//! action that needs evidence.
//!
//! Requests and the public ledger hold [`EvidenceRecord`]s: hashes and ids,
//! never the reported content, and the meeting only as a digest, since a
//! meeting id is the capability to ask to join it.

use std::fmt;

use ledger::Hash;
use proto::ids::{AccountId, MeetingId};
use sha2::{Digest as _, Sha256};

use crate::codec::{invalid, DecodeError, Reader, Writer};

/// Most evidence items one request may carry.
pub const MAX_EVIDENCE: usize = 16;

const CONTENT_LABEL: &[u8] = b"conclave oversight evidence content v1\0";
const MEETING_LABEL: &[u8] = b"conclave oversight meeting v1\0";

/// One item of evidence as a request and the ledger record it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EvidenceRecord {
    /// A franked chat message. In a filed request this claim has been checked
    /// against a [`VerifiedReport`]; see [`crate::Oversight::file`].
    FrankedMessage {
        /// The account the server saw send it.
        sender: AccountId,
        /// [`meeting_digest`] of the meeting it was sent in.
        meeting: Hash,
        /// When the server received it, in Unix milliseconds.
        sent_at_millis: u64,
        /// [`content_digest`] of the plaintext.
        content: Hash,
    },
    /// An uploaded screenshot: unverified.
    Screenshot {
        /// [`content_digest`] of the image bytes.
        content: Hash,
    },
    /// A free-text statement: unverified.
    Text {
        /// [`content_digest`] of the text.
        content: Hash,
    },
}

impl EvidenceRecord {
    /// An unverified screenshot, recorded by the hash of its bytes.
    pub fn screenshot(bytes: &[u8]) -> EvidenceRecord {
        EvidenceRecord::Screenshot {
            content: content_digest(bytes),
        }
    }

    /// An unverified free-text statement, recorded by its hash.
    pub fn text(text: &str) -> EvidenceRecord {
        EvidenceRecord::Text {
            content: content_digest(text.as_bytes()),
        }
    }

    /// Whether this item claims to be verified evidence.
    pub fn is_verified(&self) -> bool {
        matches!(self, EvidenceRecord::FrankedMessage { .. })
    }

    pub(crate) fn encode(&self, writer: &mut Writer) {
        match self {
            EvidenceRecord::FrankedMessage {
                sender,
                meeting,
                sent_at_millis,
                content,
            } => {
                writer
                    .u8(0)
                    .text(sender.as_str())
                    .raw(meeting.as_bytes())
                    .u64(*sent_at_millis)
                    .raw(content.as_bytes());
            }
            EvidenceRecord::Screenshot { content } => {
                writer.u8(1).raw(content.as_bytes());
            }
            EvidenceRecord::Text { content } => {
                writer.u8(2).raw(content.as_bytes());
            }
        }
    }

    pub(crate) fn decode(reader: &mut Reader<'_>) -> Result<EvidenceRecord, DecodeError> {
        match reader.u8("evidence kind")? {
            0 => Ok(EvidenceRecord::FrankedMessage {
                sender: decode_account(reader, "evidence sender")?,
                meeting: Hash(reader.array("evidence meeting")?),
                sent_at_millis: reader.u64("evidence time")?,
                content: Hash(reader.array("evidence content")?),
            }),
            1 => Ok(EvidenceRecord::Screenshot {
                content: Hash(reader.array("evidence content")?),
            }),
            2 => Ok(EvidenceRecord::Text {
                content: Hash(reader.array("evidence content")?),
            }),
            value => Err(DecodeError::UnknownValue {
                field: "evidence kind",
                value,
            }),
        }
    }
}

/// The hash under which evidence content is recorded:
/// `SHA-256("conclave oversight evidence content v1\0" || bytes)`.
pub fn content_digest(bytes: &[u8]) -> Hash {
    Hash(
        Sha256::new()
            .chain_update(CONTENT_LABEL)
            .chain_update(bytes)
            .finalize()
            .into(),
    )
}

/// The digest under which a meeting appears in evidence:
/// `SHA-256("conclave oversight meeting v1\0" || meeting id)`.
pub fn meeting_digest(meeting: &MeetingId) -> Hash {
    Hash(
        Sha256::new()
            .chain_update(MEETING_LABEL)
            .chain_update(meeting.as_str())
            .finalize()
            .into(),
    )
}

/// A franked chat report that verified: evidence against the account that
/// sent the message, and no one else.
///
/// Made only from e2ee's `VerifiedEvidence` (which only the server's franking
/// key makes) and, like it, neither `Clone` nor constructible elsewhere: one
/// verification grounds one request.
pub struct VerifiedReport {
    record: EvidenceRecord,
    sender: AccountId,
}

impl VerifiedReport {
    /// Takes e2ee's proof and converts its ids to the wire id types. Fails if
    /// the franked sender or meeting is not a valid account or meeting id.
    pub fn new(
        evidence: e2ee::franking::VerifiedEvidence,
    ) -> Result<VerifiedReport, EvidenceError> {
        let sender: AccountId =
            evidence
                .sender()
                .as_str()
                .parse()
                .map_err(|error: proto::ids::IdError| EvidenceError::SenderId {
                    reason: error.to_string(),
                })?;
        let meeting: MeetingId =
            evidence
                .meeting()
                .as_str()
                .parse()
                .map_err(|error: proto::ids::IdError| EvidenceError::MeetingId {
                    reason: error.to_string(),
                })?;
        let record = EvidenceRecord::FrankedMessage {
            sender: sender.clone(),
            meeting: meeting_digest(&meeting),
            sent_at_millis: evidence.timestamp().unix_millis(),
            content: content_digest(evidence.plaintext()),
        };
        Ok(VerifiedReport { record, sender })
    }

    /// The record a request carries for this report.
    pub fn record(&self) -> &EvidenceRecord {
        &self.record
    }

    /// The account the report is evidence against.
    pub fn sender(&self) -> &AccountId {
        &self.sender
    }
}

impl fmt::Debug for VerifiedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedReport")
            .field("record", &self.record)
            .finish()
    }
}

/// Why a verified franking report cannot become evidence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvidenceError {
    /// The franked sender is not an account id.
    #[error("the franked sender is not an account id: {reason}")]
    SenderId {
        /// Why.
        reason: String,
    },
    /// The franked meeting is not a meeting id.
    #[error("the franked meeting is not a meeting id: {reason}")]
    MeetingId {
        /// Why.
        reason: String,
    },
}

pub(crate) fn decode_account(
    reader: &mut Reader<'_>,
    field: &'static str,
) -> Result<AccountId, DecodeError> {
    reader
        .text(field, 64)?
        .parse()
        .map_err(|error: proto::ids::IdError| invalid(field)(error.to_string()))
}

pub(crate) fn decode_meeting(
    reader: &mut Reader<'_>,
    field: &'static str,
) -> Result<MeetingId, DecodeError> {
    reader
        .text(field, 64)?
        .parse()
        .map_err(|error: proto::ids::IdError| invalid(field)(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use e2ee::franking::{self, FrankedMessage, ServerFrankingKey, Timestamp};

    #[test]
    fn a_verified_franking_report_becomes_a_record_naming_its_sender() {
        let mut rng = rand::thread_rng();
        let key = ServerFrankingKey::generate(&mut rng);
        let account = "AAAAAAAAAAAAAAAAAAAAAA";
        let meeting = "BBBBBBBBBBBBBBBBBBBBBB";
        let sent = FrankedMessage::seal(b"threat", &mut rng).unwrap();
        let (sender, room) = (
            franking::AccountId::new(account).unwrap(),
            franking::MeetingId::new(meeting).unwrap(),
        );
        let time = Timestamp::from_unix_millis(5);
        let tag = key.tag(&sent.commitment(), &sender, &room, time);
        let report = franking::open(sent.inner(), &sent.commitment())
            .unwrap()
            .into_report(tag, sender, room, time);
        let verified = VerifiedReport::new(key.verify(report).unwrap()).unwrap();
        assert_eq!(verified.sender().as_str(), account);
        assert_eq!(
            verified.record(),
            &EvidenceRecord::FrankedMessage {
                sender: account.parse().unwrap(),
                meeting: meeting_digest(&meeting.parse().unwrap()),
                sent_at_millis: 5,
                content: content_digest(b"threat"),
            }
        );
    }

    #[test]
    fn a_franked_sender_that_is_not_an_account_id_is_refused() {
        let mut rng = rand::thread_rng();
        let key = ServerFrankingKey::generate(&mut rng);
        let sent = FrankedMessage::seal(b"x", &mut rng).unwrap();
        let (sender, room) = (
            franking::AccountId::new("short").unwrap(),
            franking::MeetingId::new("m").unwrap(),
        );
        let time = Timestamp::from_unix_millis(0);
        let tag = key.tag(&sent.commitment(), &sender, &room, time);
        let report = franking::open(sent.inner(), &sent.commitment())
            .unwrap()
            .into_report(tag, sender, room, time);
        assert!(matches!(
            VerifiedReport::new(key.verify(report).unwrap()),
            Err(EvidenceError::SenderId { .. })
        ));
    }

    #[test]
    fn records_round_trip() {
        for record in [
            EvidenceRecord::screenshot(b"png"),
            EvidenceRecord::text("words"),
            EvidenceRecord::FrankedMessage {
                sender: "AAAAAAAAAAAAAAAAAAAAAA".parse().unwrap(),
                meeting: content_digest(b"m"),
                sent_at_millis: 9,
                content: content_digest(b"c"),
            },
        ] {
            let mut writer = Writer::new();
            record.encode(&mut writer);
            let bytes = writer.finish();
            let mut reader = Reader::new(&bytes);
            assert_eq!(EvidenceRecord::decode(&mut reader), Ok(record));
            reader.finish("evidence").unwrap();
        }
    }
}
