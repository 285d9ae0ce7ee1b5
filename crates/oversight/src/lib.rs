//! Oversight: no single insider can end a meeting, suspend an account or
//! disclose data, and nothing is hidden (DESIGN.md threats T5, T6, T7, T8).
//!
//! The crate is sans-IO: plain structs, `now` passed in as Unix seconds, no
//! clock, socket, file or database. It provides
//!
//! - [`StaffMember`]s with Ed25519 public keys, [`Jurisdiction`]s (ISO 3166-1
//!   alpha-2) and [`Role`]s, and the per-action [`Policy`], both from the
//!   server's TOML ([`OversightConfig`], [`Genesis`]);
//! - privileged [`Request`]s with one canonical encoding and a
//!   [`RequestHash`] that the requester, approvers and vetoers sign
//!   ([`SignedRequest`], [`Approval`], [`Veto`]);
//! - the state machine ([`Requested`] -> [`Approved`] -> [`ExecutionOrder`])
//!   and the registry [`Oversight`] that drives it, returning every step as
//!   typed ledger entries ([`OversightEntry`]), refusals included;
//! - [`QuorumCertificate`]s that anyone holding the staff set and policy can
//!   verify, and [`Governance`] to rebuild those from the ledger;
//! - evidence ([`EvidenceRecord`], [`VerifiedReport`] from e2ee franking);
//! - notices, one appeal per notice and its decision by independent
//!   reviewers, and delayed disclosures ([`Notice`], [`AppealDecision`],
//!   [`Oversight::poll_due`]);
//! - [`Oversight::resume`]: the core rebuilt from its own ledger entries
//!   after a restart, every signature and certificate checked again;
//! - the staff API's request signatures ([`StaffAuthorization`],
//!   [`ReplayGuard`]);
//! - [`ReportDesk`]: user reports that are rate-limited, weighted by account
//!   age and never act by themselves.
//!
//! # Invariants
//!
//! - Nothing executes without a [`QuorumReached`], which only the quorum
//!   check mints; [`ExecutionOrder`] (what the server's acting code takes)
//!   only comes from it. Neither is `Clone`.
//! - The requester never counts as an approver; every approver holds the
//!   approver role, is eligible for the subject's region, signed within the
//!   request's life, and is counted once; distinct jurisdictions are counted.
//! - Evidence about account X grounds action against X only; a policy that
//!   needs verified evidence is never met by screenshots or text.
//! - Every attributable step yields its ledger entry before its effect.
//! - Every parser of outside input is size-bounded, never panics, and names
//!   the field at fault.
//!
//! # Example
//!
//! ```
//! use oversight::*;
//! use ed25519_dalek::SigningKey;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Three staff members in three countries; the keys stay on their machines.
//! let keys: Vec<SigningKey> = (1..=3).map(|seed| SigningKey::from_bytes(&[seed; 32])).collect();
//! let mut toml = String::new();
//! for ((id, country), key) in [("alice", "DE"), ("bob", "FR"), ("carol", "US")].iter().zip(&keys) {
//!     toml += &format!(
//!         "[[oversight.staff]]\nid = \"{id}\"\npublic_key = \"{}\"\njurisdiction = \"{country}\"\nroles = [\"requester\", \"approver\"]\n",
//!         format_public_key(&key.verifying_key()),
//!     );
//! }
//! for action in ActionKind::ALL {
//!     toml += &format!("[oversight.policy.{action}]\napprovals = 2\ndistinct_jurisdictions = 2\nexpiry_secs = 86400\n");
//! }
//! let (mut oversight, genesis_entries) = Oversight::genesis(Genesis::from_toml(&toml)?);
//! assert_eq!(genesis_entries.len(), 3 + 7);
//!
//! // Alice asks to end a meeting in Germany.
//! let now = 1_700_000_000;
//! let request = Request {
//!     action: Action::EndMeeting { meeting: "AAAAAAAAAAAAAAAAAAAAAA".parse()? },
//!     region: Region::Country("DE".parse()?),
//!     reasons: "Court order 123 of the Landgericht Berlin".into(),
//!     evidence: vec![],
//!     requester: "alice".parse()?,
//!     filed_at: now,
//!     notice_delay_secs: 0,
//!     nonce: [7; 32],
//! };
//! // The server's records put the meeting's host in Germany too.
//! let recorded = SubjectRecord::Region(Region::Country("DE".parse()?));
//! let filed = oversight.file(SignedRequest::sign(request, &keys[0]), Vec::new(), recorded, now);
//! let hash = filed.outcome?;
//!
//! // Alice cannot approve her own request; the refusal is a ledger entry.
//! let own = oversight.approve(Approval::sign(hash, "alice".parse()?, now, &keys[0]), now);
//! assert!(matches!(own.outcome, Err(Violation::SelfApproval { .. })));
//! assert!(matches!(own.entries[..], [OversightEntry::Refusal(_)]));
//!
//! // Bob (FR) and Carol (US) approve: two approvals from two jurisdictions.
//! let _ = oversight.approve(Approval::sign(hash, "bob".parse()?, now, &keys[1]), now);
//! let done = oversight.approve(Approval::sign(hash, "carol".parse()?, now + 1, &keys[2]), now + 1);
//! let Ok(Progress::Executed(order)) = done.outcome else { panic!("quorum not reached") };
//!
//! // Anyone with the staff set and policy can check the certificate.
//! order.certificate().verify(oversight.staff(), oversight.policy())?;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod auth;
mod codec;
mod config;
mod entry;
mod evidence;
mod governance;
mod jurisdiction;
mod machine;
mod notice;
mod policy;
mod quorum;
mod reports;
mod request;
mod staff;
mod violation;

pub use auth::{
    AuthError, AuthenticatedStaff, ReplayGuard, StaffAuthorization, AUTH_SCHEME, MAX_REPLAY_ENTRIES,
};
pub use codec::DecodeError;
pub use config::{ActionPolicyConfig, ConfigError, Genesis, OversightConfig, StaffConfig};
pub use entry::{
    Cause, FiledRequest, OversightEntry, Refusal, StaffChange, Step, MAX_REFUSAL_TEXT_LEN,
};
pub use evidence::{
    content_digest, meeting_digest, EvidenceError, EvidenceRecord, VerifiedReport, MAX_EVIDENCE,
};
pub use governance::{Governance, ReplayError};
pub use jurisdiction::{Jurisdiction, JurisdictionError, Region};
pub use machine::{
    AppealOutcome, AppealStatus, Approved, DueDisclosure, ExecutionOrder, Logged, Oversight,
    Progress, RequestState, Requested, ResumeError, SubjectRecord, Unnoticed,
};
pub use notice::{Appeal, AppealDecision, Notice, NoticeSubject, MAX_APPEAL_LEN};
pub use policy::{
    ActionKind, ActionPolicy, Eligibility, JurisdictionSet, Policy, PolicyError, RegionRule,
    MAX_APPROVALS, MAX_EXPIRY_SECS, MAX_NOTICE_DELAY_SECS, MIN_EXPIRY_SECS,
};
pub use quorum::{
    check_quorum, QuorumCertificate, QuorumReached, MAX_CERTIFICATE_LEN, MAX_CLOCK_SKEW_SECS,
};
pub use reports::{
    Quota, ReportDesk, ReportDeskConfig, ReportReceipt, ReportRefusal, ReportScope, ReviewItem,
    ReviewItemId, ReviewReport, UserReport, FULL_WEIGHT,
};
pub use request::{
    AccountField, Action, Approval, Request, RequestError, RequestHash, SignedRequest, Veto,
    MAX_REASONS_LEN, MAX_RECIPIENT_LEN, MAX_REQUEST_LEN, MAX_VETO_REASON_LEN,
};
pub use staff::{
    format_public_key, parse_public_key, Role, StaffError, StaffId, StaffMember, StaffSet,
    MAX_STAFF,
};
pub use violation::Violation;
