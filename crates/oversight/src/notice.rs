//! Notices to the subject of an action, appeals, and appeal decisions (issue
//! #5, item 8; threat T8).
//!
//! A [`Notice`] carries the statement of reasons and the ledger index of the
//! entry that shows the action (the execution, or for a delayed disclosure
//! its opening); the caller attaches the inclusion proof for that index. The
//! subject may appeal once per notice, and the appeal is decided by reviewers
//! who took no part in the original decision, signing
//!
//! ```text
//! Ed25519("conclave oversight appeal decision v1\0" || request hash || bool upheld || text(reasons) || u64 decided_at)
//! ```

use ed25519_dalek::{Signature, Signer as _, SigningKey};
use ledger::Hash;
use proto::ids::{AccountId, MeetingId};

use crate::codec::{DecodeError, Reader, Writer};
use crate::evidence::{content_digest, decode_account, decode_meeting};
use crate::policy::{ActionKind, MAX_APPROVALS};
use crate::request::{Action, RequestHash, MAX_REASONS_LEN};
use crate::staff::{decode_signature, StaffId, StaffMember};

/// Longest appeal statement, in bytes.
pub const MAX_APPEAL_LEN: usize = 8000;

const DECISION_LABEL: &[u8] = b"conclave oversight appeal decision v1\0";

/// Whom an action affects: the receiver of its notice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoticeSubject {
    /// An account (suspension, reinstatement, disclosure).
    Account(AccountId),
    /// A meeting (its host and participants).
    Meeting(MeetingId),
}

impl NoticeSubject {
    /// The subject of `action`, if it has a user subject.
    pub fn of(action: &Action) -> Option<NoticeSubject> {
        match action {
            Action::EndMeeting { meeting } => Some(NoticeSubject::Meeting(meeting.clone())),
            _ => action.account().cloned().map(NoticeSubject::Account),
        }
    }

    fn encode(&self, writer: &mut Writer) {
        match self {
            NoticeSubject::Account(account) => writer.u8(0).text(account.as_str()),
            NoticeSubject::Meeting(meeting) => writer.u8(1).text(meeting.as_str()),
        };
    }

    fn decode(reader: &mut Reader<'_>) -> Result<NoticeSubject, DecodeError> {
        match reader.u8("notice subject")? {
            0 => Ok(NoticeSubject::Account(decode_account(
                reader,
                "notice account",
            )?)),
            1 => Ok(NoticeSubject::Meeting(decode_meeting(
                reader,
                "notice meeting",
            )?)),
            value => Err(DecodeError::UnknownValue {
                field: "notice subject",
                value,
            }),
        }
    }
}

/// What the subject of an executed action receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// The request executed.
    pub request: RequestHash,
    /// What was done.
    pub action: ActionKind,
    /// To whom.
    pub subject: NoticeSubject,
    /// The statement of reasons, as filed.
    pub reasons: String,
    /// Index of the ledger entry that shows the action (execution or
    /// opening); the caller sends its inclusion proof with the notice.
    pub ledger_index: u64,
    /// When the notice was issued, in Unix seconds.
    pub issued_at: u64,
}

impl Notice {
    pub(crate) fn encode_into(&self, writer: &mut Writer) {
        writer.raw(self.request.as_bytes()).u8(self.action.code());
        self.subject.encode(writer);
        writer
            .text(&self.reasons)
            .u64(self.ledger_index)
            .u64(self.issued_at);
    }

    pub(crate) fn decode_from(reader: &mut Reader<'_>) -> Result<Notice, DecodeError> {
        Ok(Notice {
            request: RequestHash::decode(reader)?,
            action: ActionKind::decode(reader, "notice action")?,
            subject: NoticeSubject::decode(reader)?,
            reasons: reader.text("notice reasons", MAX_REASONS_LEN)?,
            ledger_index: reader.u64("notice ledger index")?,
            issued_at: reader.u64("notice time")?,
        })
    }
}

/// A subject's appeal, as the ledger records it: the statement only by hash,
/// since it may hold personal details.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appeal {
    /// The request whose execution is appealed.
    pub request: RequestHash,
    /// The appellant: the action's subject account.
    pub appellant: AccountId,
    /// [`content_digest`] of the appeal statement.
    pub statement: Hash,
    /// When it was filed, in Unix seconds.
    pub filed_at: u64,
}

impl Appeal {
    /// An appeal with `statement` recorded by hash.
    pub fn new(
        request: RequestHash,
        appellant: AccountId,
        statement: &str,
        filed_at: u64,
    ) -> Appeal {
        Appeal {
            request,
            appellant,
            statement: content_digest(statement.as_bytes()),
            filed_at,
        }
    }

    pub(crate) fn encode_into(&self, writer: &mut Writer) {
        writer
            .raw(self.request.as_bytes())
            .text(self.appellant.as_str())
            .raw(self.statement.as_bytes())
            .u64(self.filed_at);
    }

    pub(crate) fn decode_from(reader: &mut Reader<'_>) -> Result<Appeal, DecodeError> {
        Ok(Appeal {
            request: RequestHash::decode(reader)?,
            appellant: decode_account(reader, "appellant")?,
            statement: Hash(reader.array("appeal statement")?),
            filed_at: reader.u64("appeal time")?,
        })
    }
}

/// Reviewers' signed decision on an appeal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppealDecision {
    /// The request whose execution was appealed.
    pub request: RequestHash,
    /// `true`: the action stands; `false`: it is overturned.
    pub upheld: bool,
    /// The reviewers' reasons, sent to the appellant.
    pub reasons: String,
    /// When decided, in Unix seconds.
    pub decided_at: u64,
    /// Each reviewer's signature over the same decision.
    pub signatures: Vec<(StaffId, Signature)>,
}

impl AppealDecision {
    /// An unsigned decision; reviewers add signatures with
    /// [`AppealDecision::sign`].
    pub fn new(
        request: RequestHash,
        upheld: bool,
        reasons: String,
        decided_at: u64,
    ) -> AppealDecision {
        AppealDecision {
            request,
            upheld,
            reasons,
            decided_at,
            signatures: Vec::new(),
        }
    }

    /// Adds `staff`'s signature (on the reviewer's machine).
    pub fn sign(&mut self, staff: StaffId, key: &SigningKey) {
        let signature = key.sign(&self.message());
        self.signatures.push((staff, signature));
    }

    /// Whether `member` signed this decision with the given signature.
    pub fn verify(&self, member: &StaffMember, signature: &Signature) -> bool {
        member.verify(&self.message(), signature)
    }

    fn message(&self) -> Vec<u8> {
        let mut writer = Writer::new();
        writer
            .raw(DECISION_LABEL)
            .raw(self.request.as_bytes())
            .bool(self.upheld)
            .text(&self.reasons)
            .u64(self.decided_at);
        writer.finish()
    }

    pub(crate) fn encode_into(&self, writer: &mut Writer) {
        writer
            .raw(self.request.as_bytes())
            .bool(self.upheld)
            .text(&self.reasons)
            .u64(self.decided_at)
            .count(self.signatures.len());
        for (staff, signature) in &self.signatures {
            staff.encode(writer);
            writer.raw(&signature.to_bytes());
        }
    }

    pub(crate) fn decode_from(reader: &mut Reader<'_>) -> Result<AppealDecision, DecodeError> {
        let mut decision = AppealDecision {
            request: RequestHash::decode(reader)?,
            upheld: reader.bool("appeal outcome")?,
            reasons: reader.text("appeal decision reasons", MAX_REASONS_LEN)?,
            decided_at: reader.u64("appeal decision time")?,
            signatures: Vec::new(),
        };
        let count = reader.count("appeal signatures", usize::from(MAX_APPROVALS) * 4)?;
        for _ in 0..count {
            let staff = StaffId::decode(reader, "appeal reviewer")?;
            decision
                .signatures
                .push((staff, decode_signature(reader, "appeal signature")?));
        }
        Ok(decision)
    }

    /// The canonical encoding (the staff API's body for a decision).
    pub fn encode(&self) -> Vec<u8> {
        let mut writer = Writer::new();
        self.encode_into(&mut writer);
        writer.finish()
    }

    /// Parses [`AppealDecision::encode`]'s output; signatures are not checked.
    pub fn decode(bytes: &[u8]) -> Result<AppealDecision, DecodeError> {
        let mut reader = Reader::new(bytes);
        let decision = AppealDecision::decode_from(&mut reader)?;
        reader.finish("appeal decision")?;
        Ok(decision)
    }
}
