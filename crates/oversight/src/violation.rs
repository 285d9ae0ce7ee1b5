//! The rules a privileged step can break, as one typed reason shared by the
//! request state machine (whose refusals become ledger entries) and by
//! certificate verification (which clients run).

use proto::ids::AccountId;

use crate::jurisdiction::{Jurisdiction, Region};
use crate::policy::ActionKind;
use crate::staff::{Role, StaffId};

/// Why a request, approval, veto, certificate or appeal is refused.
///
/// Each variant has a stable [`code`](Violation::code) that the ledger
/// records beside the human-readable text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
    /// The signer is not a staff member.
    #[error("{staff} is not a staff member")]
    UnknownStaff {
        /// The id given.
        staff: StaffId,
    },
    /// The signature does not verify with the staff member's key.
    #[error("the signature of {staff} does not verify")]
    BadSignature {
        /// Who supposedly signed.
        staff: StaffId,
    },
    /// The staff member lacks the role the step needs.
    #[error("{staff} does not hold the {role} role")]
    MissingRole {
        /// Who.
        staff: StaffId,
        /// The role needed.
        role: Role,
    },
    /// The policy does not let staff of this jurisdiction act on this region.
    #[error("the policy for {action} does not let staff from {jurisdiction} ({staff}) act on subjects in {region}")]
    NotEligible {
        /// Who.
        staff: StaffId,
        /// Their jurisdiction.
        jurisdiction: Jurisdiction,
        /// The subject's region.
        region: Region,
        /// The action.
        action: ActionKind,
    },
    /// The request names another region than the server's records give its subject.
    #[error("the request names region {stated}, but the subject's recorded region is {recorded}")]
    RegionMismatch {
        /// The region in the request.
        stated: Region,
        /// The region on record (the account's, or the meeting host's).
        recorded: Region,
    },
    /// The subject has no region on record and the server has no default region.
    #[error("the subject of this {action} request has no recorded region and the server sets no default_region")]
    NoRecordedRegion {
        /// The action.
        action: ActionKind,
    },
    /// The request's subject (account or meeting) does not exist.
    #[error("the subject of this {action} request does not exist")]
    UnknownSubject {
        /// The action.
        action: ActionKind,
    },
    /// The requester tried to approve their own request.
    #[error("{staff} filed this request and cannot approve it")]
    SelfApproval {
        /// The requester.
        staff: StaffId,
    },
    /// The same staff member approved twice.
    #[error("{staff} has already approved this request")]
    DuplicateApproval {
        /// Who.
        staff: StaffId,
    },
    /// A signed time is too far from the server's clock.
    #[error("{staff} signed at {stated}, more than {max_skew} s from the server's time {now}")]
    ClockSkew {
        /// Who.
        staff: StaffId,
        /// The time in the signed message.
        stated: u64,
        /// The server's time.
        now: u64,
        /// The largest difference accepted.
        max_skew: u64,
    },
    /// A signature was made outside the request's life (before filing, after
    /// expiry, or after execution).
    #[error("{staff} signed at {signed_at}, outside the request's life {filed_at}..{expires_at}")]
    OutsideWindow {
        /// Who.
        staff: StaffId,
        /// When they signed.
        signed_at: u64,
        /// When the request was filed.
        filed_at: u64,
        /// When it expires.
        expires_at: u64,
    },
    /// The request has expired.
    #[error("the request expired at {expires_at}")]
    Expired {
        /// When.
        expires_at: u64,
    },
    /// The request is not open for this step.
    #[error("the request is {state}, not pending")]
    NotPending {
        /// Its state (`unknown`, `executed`, `vetoed`, `refused`, `expired`).
        state: &'static str,
    },
    /// A request with this hash was filed before.
    #[error("this request was filed before")]
    DuplicateRequest,
    /// Not enough approvals, or not from enough jurisdictions.
    #[error("{approvals} of {needed} approvals from {jurisdictions} of {needed_jurisdictions} jurisdictions")]
    QuorumNotMet {
        /// Valid approvals.
        approvals: usize,
        /// Approvals needed.
        needed: u8,
        /// Distinct jurisdictions among them.
        jurisdictions: usize,
        /// Distinct jurisdictions needed.
        needed_jurisdictions: u8,
    },
    /// The policy needs verified evidence about the subject and there is none.
    #[error("the policy for {action} needs verified evidence (a franked report) about the subject; unverified evidence cannot ground it")]
    VerifiedEvidenceRequired {
        /// The action.
        action: ActionKind,
    },
    /// Verified evidence names an account other than the subject.
    #[error("evidence about account {evidence_about} cannot ground an action against anyone else")]
    EvidenceAboutOther {
        /// Whom the evidence is about.
        evidence_about: AccountId,
    },
    /// Verified evidence for ending a meeting comes from another meeting.
    #[error("franked evidence from another meeting cannot ground ending this one")]
    EvidenceFromOtherMeeting,
    /// Verified evidence cannot ground a staff or policy change.
    #[error("verified evidence about a user cannot ground {action}")]
    EvidenceNotApplicable {
        /// The action.
        action: ActionKind,
    },
    /// A franked-report claim in the request was not backed by a report the
    /// server verified.
    #[error("evidence item {index} claims a franked report that the server did not verify")]
    EvidenceNotVerified {
        /// Position of the item in the request.
        index: usize,
    },
    /// The requested notice delay exceeds the policy's longest.
    #[error("a notice delay of {requested} s exceeds the policy's longest, {max} s")]
    NoticeDelay {
        /// Requested.
        requested: u64,
        /// The policy's `max_notice_delay_secs`.
        max: u64,
    },
    /// The request is malformed.
    #[error("malformed request: {reason}")]
    Malformed {
        /// Why.
        reason: String,
    },
    /// The staff or policy change cannot be applied to the current state, or
    /// would leave staff and policy changes impossible to approve.
    #[error("cannot apply: {reason}")]
    NotApplicable {
        /// Why.
        reason: String,
    },
    /// An appeal breaks the appeal rules.
    #[error("appeal refused: {reason}")]
    Appeal {
        /// Why.
        reason: String,
    },
    /// An appeal reviewer took part in the decision appealed.
    #[error("{staff} took part in the original decision and cannot decide its appeal")]
    ReviewerNotIndependent {
        /// Who.
        staff: StaffId,
    },
}

impl Violation {
    /// A stable machine-readable code, recorded in refusal entries.
    pub fn code(&self) -> &'static str {
        match self {
            Violation::UnknownStaff { .. } => "unknown_staff",
            Violation::BadSignature { .. } => "bad_signature",
            Violation::MissingRole { .. } => "missing_role",
            Violation::NotEligible { .. } => "jurisdiction_not_eligible",
            Violation::RegionMismatch { .. } => "region_mismatch",
            Violation::UnknownSubject { .. } => "unknown_subject",
            Violation::NoRecordedRegion { .. } => "no_recorded_region",
            Violation::SelfApproval { .. } => "self_approval",
            Violation::DuplicateApproval { .. } => "duplicate_approval",
            Violation::ClockSkew { .. } => "clock_skew",
            Violation::OutsideWindow { .. } => "outside_window",
            Violation::Expired { .. } => "expired",
            Violation::NotPending { .. } => "not_pending",
            Violation::DuplicateRequest => "duplicate_request",
            Violation::QuorumNotMet { .. } => "quorum_not_met",
            Violation::VerifiedEvidenceRequired { .. } => "verified_evidence_required",
            Violation::EvidenceAboutOther { .. } => "evidence_about_other",
            Violation::EvidenceFromOtherMeeting => "evidence_from_other_meeting",
            Violation::EvidenceNotApplicable { .. } => "evidence_not_applicable",
            Violation::EvidenceNotVerified { .. } => "evidence_not_verified",
            Violation::NoticeDelay { .. } => "notice_delay",
            Violation::Malformed { .. } => "malformed",
            Violation::NotApplicable { .. } => "not_applicable",
            Violation::Appeal { .. } => "appeal",
            Violation::ReviewerNotIndependent { .. } => "reviewer_not_independent",
        }
    }
}
