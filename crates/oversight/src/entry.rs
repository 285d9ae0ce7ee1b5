//! The ledger entries oversight writes: one typed record per step, each with
//! its own tag and a versioned canonical body inside `ledger::Entry`.
//!
//! | tag | body |
//! |---|---|
//! | `oversight.staff` | a staff member added or removed, and why (genesis or a request) |
//! | `oversight.policy` | one action's policy set, and why |
//! | `oversight.request` | a filed request with its signature, or for a delayed disclosure only its hash |
//! | `oversight.approval` | a signed approval |
//! | `oversight.veto` | a signed veto |
//! | `oversight.refusal` | a refused step: request, staff, step, reason code and text |
//! | `oversight.execution` | the quorum certificate of an executed request |
//! | `oversight.expiry` | a request that expired |
//! | `oversight.commitment` | a delayed disclosure's commitment and deadline |
//! | `oversight.opening` | the certificate a commitment committed to, at its deadline |
//! | `oversight.notice` | the notice sent to an action's subject |
//! | `oversight.appeal` | an appeal (statement by hash) |
//! | `oversight.appeal_decision` | the reviewers' signed decision |
//!
//! Every body starts with version byte 1. [`OversightEntry::from_ledger`]
//! accepts exactly what [`OversightEntry::to_ledger`] produces, so a monitor
//! can check the form of every oversight entry.

use ledger::{Entry, EntryTag, Hash};

use crate::codec::{DecodeError, Reader, Writer};
use crate::notice::{Appeal, AppealDecision, Notice};
use crate::policy::{ActionKind, ActionPolicy};
use crate::quorum::QuorumCertificate;
use crate::request::{Approval, RequestHash, SignedRequest, Veto};
use crate::staff::{StaffId, StaffMember};

const BODY_VERSION: u8 = 1;

/// Longest refusal text recorded, in bytes.
pub const MAX_REFUSAL_TEXT_LEN: usize = 2000;

/// Why the staff or policy changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The genesis configuration.
    Genesis,
    /// An executed request.
    Request(RequestHash),
}

/// A change to the staff set.
// Made a few times per privileged action and short-lived: boxing would only
// make matching on it clumsier.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StaffChange {
    /// A member joined.
    Added(StaffMember),
    /// A member left.
    Removed(StaffId),
}

/// A filed request as the ledger shows it.
// As for `StaffChange`: rare and short-lived.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FiledRequest {
    /// The whole signed request.
    Open(SignedRequest),
    /// A request whose notice is delayed: only its hash and kind until its
    /// opening, so that the subject is not tipped off by the public log.
    Sealed {
        /// The request hash (hiding: the request has a secret nonce).
        request: RequestHash,
        /// What kind of action it is.
        action: ActionKind,
        /// When it was filed.
        filed_at: u64,
    },
}

/// The step a refusal refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Filing a request.
    File,
    /// Approving.
    Approve,
    /// Vetoing.
    Veto,
    /// Executing after quorum.
    Execute,
    /// Deciding an appeal.
    DecideAppeal,
}

impl Step {
    const ALL: [Step; 5] = [
        Step::File,
        Step::Approve,
        Step::Veto,
        Step::Execute,
        Step::DecideAppeal,
    ];

    fn code(self) -> u8 {
        match self {
            Step::File => 0,
            Step::Approve => 1,
            Step::Veto => 2,
            Step::Execute => 3,
            Step::DecideAppeal => 4,
        }
    }
}

/// A refused step, recorded so that attempts are as visible as successes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The request concerned.
    pub request: RequestHash,
    /// The staff member whose step was refused (none when the request
    /// itself stopped passing, e.g. its requester left the staff).
    pub staff: Option<StaffId>,
    /// Which step.
    pub step: Step,
    /// When, in Unix seconds.
    pub at: u64,
    /// [`Violation::code`](crate::Violation::code).
    pub code: String,
    /// The violation's text; empty while the request is sealed, since it may
    /// name the subject.
    pub text: String,
}

/// Every record oversight appends to the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OversightEntry {
    /// `oversight.staff`.
    Staff {
        /// Why.
        cause: Cause,
        /// What changed.
        change: StaffChange,
    },
    /// `oversight.policy`.
    Policy {
        /// Why.
        cause: Cause,
        /// Which action.
        action: ActionKind,
        /// Its rules from now on.
        policy: ActionPolicy,
    },
    /// `oversight.request`.
    Request(FiledRequest),
    /// `oversight.approval`.
    Approval(Approval),
    /// `oversight.veto`.
    Veto(Veto),
    /// `oversight.refusal`.
    Refusal(Refusal),
    /// `oversight.execution`.
    Execution(QuorumCertificate),
    /// `oversight.expiry`.
    Expiry {
        /// The request.
        request: RequestHash,
        /// When it expired.
        expired_at: u64,
    },
    /// `oversight.commitment`.
    Commitment {
        /// The request executed under seal.
        request: RequestHash,
        /// [`QuorumCertificate::commitment`] of its certificate.
        commitment: Hash,
        /// When it was executed.
        executed_at: u64,
        /// When the opening and notice are due.
        due_at: u64,
    },
    /// `oversight.opening`.
    Opening(QuorumCertificate),
    /// `oversight.notice`.
    Notice(Notice),
    /// `oversight.appeal`.
    Appeal(Appeal),
    /// `oversight.appeal_decision`.
    AppealDecision(AppealDecision),
}

impl OversightEntry {
    /// The entry's tag.
    pub fn tag(&self) -> &'static str {
        match self {
            OversightEntry::Staff { .. } => "oversight.staff",
            OversightEntry::Policy { .. } => "oversight.policy",
            OversightEntry::Request(_) => "oversight.request",
            OversightEntry::Approval(_) => "oversight.approval",
            OversightEntry::Veto(_) => "oversight.veto",
            OversightEntry::Refusal(_) => "oversight.refusal",
            OversightEntry::Execution(_) => "oversight.execution",
            OversightEntry::Expiry { .. } => "oversight.expiry",
            OversightEntry::Commitment { .. } => "oversight.commitment",
            OversightEntry::Opening(_) => "oversight.opening",
            OversightEntry::Notice(_) => "oversight.notice",
            OversightEntry::Appeal(_) => "oversight.appeal",
            OversightEntry::AppealDecision(_) => "oversight.appeal_decision",
        }
    }

    /// The body's canonical encoding.
    pub fn body(&self) -> Vec<u8> {
        let mut writer = Writer::new();
        writer.u8(BODY_VERSION);
        match self {
            OversightEntry::Staff { cause, change } => {
                encode_cause(&mut writer, cause);
                match change {
                    StaffChange::Added(member) => {
                        writer.u8(0);
                        member.encode(&mut writer);
                    }
                    StaffChange::Removed(id) => {
                        writer.u8(1);
                        id.encode(&mut writer);
                    }
                }
            }
            OversightEntry::Policy {
                cause,
                action,
                policy,
            } => {
                encode_cause(&mut writer, cause);
                writer.u8(action.code());
                policy.encode(&mut writer);
            }
            OversightEntry::Request(FiledRequest::Open(signed)) => {
                writer.u8(0);
                signed.encode_into(&mut writer);
            }
            OversightEntry::Request(FiledRequest::Sealed {
                request,
                action,
                filed_at,
            }) => {
                writer
                    .u8(1)
                    .raw(request.as_bytes())
                    .u8(action.code())
                    .u64(*filed_at);
            }
            OversightEntry::Approval(approval) => approval.encode_into(&mut writer),
            OversightEntry::Veto(veto) => veto.encode_into(&mut writer),
            OversightEntry::Refusal(refusal) => {
                writer
                    .raw(refusal.request.as_bytes())
                    .bool(refusal.staff.is_some());
                if let Some(staff) = &refusal.staff {
                    staff.encode(&mut writer);
                }
                writer
                    .u8(refusal.step.code())
                    .u64(refusal.at)
                    .text(&refusal.code)
                    .text(&refusal.text);
            }
            OversightEntry::Execution(certificate) | OversightEntry::Opening(certificate) => {
                certificate.encode_into(&mut writer)
            }
            OversightEntry::Expiry {
                request,
                expired_at,
            } => {
                writer.raw(request.as_bytes()).u64(*expired_at);
            }
            OversightEntry::Commitment {
                request,
                commitment,
                executed_at,
                due_at,
            } => {
                writer
                    .raw(request.as_bytes())
                    .raw(commitment.as_bytes())
                    .u64(*executed_at)
                    .u64(*due_at);
            }
            OversightEntry::Notice(notice) => notice.encode_into(&mut writer),
            OversightEntry::Appeal(appeal) => appeal.encode_into(&mut writer),
            OversightEntry::AppealDecision(decision) => decision.encode_into(&mut writer),
        }
        writer.finish()
    }

    /// The ledger entry to append.
    pub fn to_ledger(&self) -> Entry {
        // Invariant: every tag above is a constant of [a-z._] under 64 bytes,
        // and every body is bounded far below the ledger's 1 MiB (requests
        // 64 KiB, certificates 96 KiB).
        let tag = EntryTag::new(self.tag()).expect("oversight tags are valid");
        Entry::new(tag, self.body()).expect("oversight bodies fit a ledger entry")
    }

    /// Parses a ledger entry written by [`OversightEntry::to_ledger`].
    pub fn from_ledger(entry: &Entry) -> Result<OversightEntry, DecodeError> {
        let tag = entry.tag().as_str();
        let mut reader = Reader::new(entry.body());
        reader.version("entry body", BODY_VERSION)?;
        let parsed = match tag {
            "oversight.staff" => {
                let cause = decode_cause(&mut reader)?;
                let change = match reader.u8("staff change")? {
                    0 => StaffChange::Added(StaffMember::decode(&mut reader)?),
                    1 => StaffChange::Removed(StaffId::decode(&mut reader, "staff id")?),
                    value => {
                        return Err(DecodeError::UnknownValue {
                            field: "staff change",
                            value,
                        })
                    }
                };
                OversightEntry::Staff { cause, change }
            }
            "oversight.policy" => {
                let cause = decode_cause(&mut reader)?;
                let action = ActionKind::decode(&mut reader, "policy action")?;
                OversightEntry::Policy {
                    cause,
                    action,
                    policy: ActionPolicy::decode(&mut reader, action)?,
                }
            }
            "oversight.request" => OversightEntry::Request(match reader.u8("request form")? {
                0 => FiledRequest::Open(SignedRequest::decode_from(&mut reader)?),
                1 => FiledRequest::Sealed {
                    request: RequestHash::decode(&mut reader)?,
                    action: ActionKind::decode(&mut reader, "sealed action")?,
                    filed_at: reader.u64("filed_at")?,
                },
                value => {
                    return Err(DecodeError::UnknownValue {
                        field: "request form",
                        value,
                    })
                }
            }),
            "oversight.approval" => OversightEntry::Approval(Approval::decode_from(&mut reader)?),
            "oversight.veto" => OversightEntry::Veto(Veto::decode_from(&mut reader)?),
            "oversight.refusal" => {
                let request = RequestHash::decode(&mut reader)?;
                let staff = if reader.bool("refused staff present")? {
                    Some(StaffId::decode(&mut reader, "refused staff")?)
                } else {
                    None
                };
                let step_code = reader.u8("refused step")?;
                let step = Step::ALL
                    .into_iter()
                    .find(|step| step.code() == step_code)
                    .ok_or(DecodeError::UnknownValue {
                        field: "refused step",
                        value: step_code,
                    })?;
                OversightEntry::Refusal(Refusal {
                    request,
                    staff,
                    step,
                    at: reader.u64("refusal time")?,
                    code: reader.text("refusal code", 64)?,
                    text: reader.text("refusal text", MAX_REFUSAL_TEXT_LEN)?,
                })
            }
            "oversight.execution" => {
                OversightEntry::Execution(QuorumCertificate::decode_from(&mut reader)?)
            }
            "oversight.expiry" => OversightEntry::Expiry {
                request: RequestHash::decode(&mut reader)?,
                expired_at: reader.u64("expiry time")?,
            },
            "oversight.commitment" => OversightEntry::Commitment {
                request: RequestHash::decode(&mut reader)?,
                commitment: Hash(reader.array("commitment")?),
                executed_at: reader.u64("executed_at")?,
                due_at: reader.u64("due_at")?,
            },
            "oversight.opening" => {
                OversightEntry::Opening(QuorumCertificate::decode_from(&mut reader)?)
            }
            "oversight.notice" => OversightEntry::Notice(Notice::decode_from(&mut reader)?),
            "oversight.appeal" => OversightEntry::Appeal(Appeal::decode_from(&mut reader)?),
            "oversight.appeal_decision" => {
                OversightEntry::AppealDecision(AppealDecision::decode_from(&mut reader)?)
            }
            other => {
                return Err(DecodeError::UnknownTag {
                    tag: other.to_owned(),
                })
            }
        };
        reader.finish(parsed.tag())?;
        Ok(parsed)
    }
}

fn encode_cause(writer: &mut Writer, cause: &Cause) {
    match cause {
        Cause::Genesis => {
            writer.u8(0);
        }
        Cause::Request(hash) => {
            writer.u8(1).raw(hash.as_bytes());
        }
    }
}

fn decode_cause(reader: &mut Reader<'_>) -> Result<Cause, DecodeError> {
    match reader.u8("cause")? {
        0 => Ok(Cause::Genesis),
        1 => Ok(Cause::Request(RequestHash::decode(reader)?)),
        value => Err(DecodeError::UnknownValue {
            field: "cause",
            value,
        }),
    }
}

/// Truncates refusal text to [`MAX_REFUSAL_TEXT_LEN`] on a character boundary.
pub(crate) fn refusal_text(text: String) -> String {
    if text.len() <= MAX_REFUSAL_TEXT_LEN {
        return text;
    }
    let mut end = MAX_REFUSAL_TEXT_LEN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}
