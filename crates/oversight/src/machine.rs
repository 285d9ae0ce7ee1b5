//! The privileged-request state machine and the registry that drives it.
//!
//! One request moves `Requested -> Approved -> executed` ([`ExecutionOrder`]),
//! or ends refused, vetoed or expired. Each transition consumes the previous
//! state (STYLE.md section 3), and the step from requested to approved takes
//! a [`QuorumReached`] that only the quorum check mints (section 4).
//!
//! [`Oversight`] holds the staff, the policy and every request, takes signed
//! inputs with `now` passed in, and returns [`Logged`] results: the ledger
//! entries the caller must append, in order, and what happened. Refusals are
//! entries too. Inputs whose signature does not verify are rejected without
//! an entry: they cannot be attributed to anyone, and logging them would let
//! anyone write into the public log.

use std::collections::{BTreeMap, BTreeSet};

use proto::ids::{AccountId, MeetingId};

use crate::config::Genesis;
use crate::entry::{refusal_text, Cause, FiledRequest, OversightEntry, Refusal, StaffChange, Step};
use crate::evidence::VerifiedReport;
use crate::governance::{Governance, ReplayError};
use crate::jurisdiction::Region;
use crate::notice::{Appeal, AppealDecision, Notice, NoticeSubject, MAX_APPEAL_LEN};
use crate::policy::{ActionKind, Policy};
use crate::quorum::{
    check_governable, check_member, check_quorum, check_request, participants, QuorumCertificate,
    QuorumReached, MAX_CLOCK_SKEW_SECS,
};
use crate::request::{Action, Approval, RequestHash, SignedRequest, Veto};
use crate::staff::{Role, StaffId, StaffSet};
use crate::violation::Violation;

/// An execution without its notice (see [`Oversight::unnoticed`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unnoticed {
    /// The executed request.
    pub request: RequestHash,
    /// What it did.
    pub action: Action,
    /// The entry that shows it, for the notice's inclusion proof.
    pub ledger_index: u64,
}

/// What the server's records say about a request's subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubjectRecord {
    /// The subject exists and is in this region: the account's declared country (or
    /// the server's default), a meeting's host's, or [`Region::Global`] for staff and
    /// policy changes.
    Region(Region),
    /// The subject exists, but neither it nor the server names a region.
    NoRegion,
    /// There is no such account or meeting.
    Missing,
}

impl SubjectRecord {
    fn check(self, action: ActionKind, stated: Region) -> Result<(), Violation> {
        match self {
            SubjectRecord::Region(recorded) if recorded == stated => Ok(()),
            SubjectRecord::Region(recorded) => Err(Violation::RegionMismatch { stated, recorded }),
            SubjectRecord::NoRegion => Err(Violation::NoRecordedRegion { action }),
            SubjectRecord::Missing => Err(Violation::UnknownSubject { action }),
        }
    }
}

/// The result of one step: entries to append to the ledger, in order, before
/// acting on the outcome; and the outcome.
#[derive(Debug)]
#[must_use = "the entries must be appended to the ledger"]
pub struct Logged<T> {
    /// Entries to append, possibly none.
    pub entries: Vec<OversightEntry>,
    /// What happened.
    pub outcome: Result<T, Violation>,
}

impl<T> Logged<T> {
    fn unlogged(violation: Violation) -> Logged<T> {
        Logged {
            entries: Vec::new(),
            outcome: Err(violation),
        }
    }
}

/// A filed request collecting approvals.
#[derive(Clone, Debug)]
pub struct Requested {
    signed: SignedRequest,
    approvals: Vec<Approval>,
    sealed: bool,
}

impl Requested {
    /// The signed request.
    pub fn signed_request(&self) -> &SignedRequest {
        &self.signed
    }

    /// The approvals accepted so far.
    pub fn approvals(&self) -> &[Approval] {
        &self.approvals
    }

    /// Whether its notice is delayed, keeping it out of the public log until
    /// the deadline.
    pub fn is_sealed(&self) -> bool {
        self.sealed
    }

    /// When it expires under `policy`.
    pub fn expires_at(&self, policy: &Policy) -> u64 {
        let request = self.signed.request();
        request
            .filed_at
            .saturating_add(policy.action(request.action.kind()).expiry_secs)
    }

    /// Checks the approvals against the policy; only success mints the
    /// [`QuorumReached`] that [`Requested::approve`] needs.
    pub fn check_quorum(
        &self,
        staff: &StaffSet,
        policy: &Policy,
        now: u64,
    ) -> Result<QuorumReached, Violation> {
        check_quorum(&self.signed, &self.approvals, staff, policy, now)
    }

    /// Moves to approved. Gives everything back if the proof is for another
    /// request.
    pub fn approve(
        self,
        quorum: QuorumReached,
    ) -> Result<Approved, Box<(Requested, QuorumReached)>> {
        if quorum.hash() != self.signed.hash() {
            return Err(Box::new((self, quorum)));
        }
        Ok(Approved {
            certificate: quorum.into_certificate(),
        })
    }
}

/// A request whose quorum was reached, ready to execute.
#[derive(Debug)]
pub struct Approved {
    certificate: QuorumCertificate,
}

impl Approved {
    /// Executes: the result is the order the server acts on.
    pub fn execute(self) -> ExecutionOrder {
        ExecutionOrder {
            certificate: self.certificate,
        }
    }
}

/// An executed request: what the server's acting code (ending a meeting,
/// suspending an account, disclosing data) requires. Neither `Clone` nor
/// constructible outside this crate, so nothing acts without a quorum.
///
/// ```compile_fail
/// fn duplicate(order: &oversight::ExecutionOrder) -> oversight::ExecutionOrder {
///     order.clone()
/// }
/// ```
#[derive(Debug)]
pub struct ExecutionOrder {
    certificate: QuorumCertificate,
}

impl ExecutionOrder {
    /// What to do.
    pub fn action(&self) -> &Action {
        &self.certificate.request().action
    }

    /// The certificate, to send with the order (an `end_meeting` message
    /// carries it to every client).
    pub fn certificate(&self) -> &QuorumCertificate {
        &self.certificate
    }
}

/// How far a request is after an approval.
// One per approval and short-lived.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Progress {
    /// Still collecting approvals.
    Pending {
        /// Approvals that count now.
        approvals: usize,
        /// Approvals needed.
        needed: u8,
        /// Distinct jurisdictions among them.
        jurisdictions: usize,
        /// Distinct jurisdictions needed.
        needed_jurisdictions: u8,
    },
    /// Quorum reached and executed; act on the order after appending the
    /// entries.
    Executed(ExecutionOrder),
}

/// Where a request stands, for listing and showing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestState {
    /// Collecting approvals until `expires_at`.
    Pending {
        /// Approvals accepted.
        approvals: usize,
        /// When it expires.
        expires_at: u64,
    },
    /// Executed; sealed until `sealed_until` if its notice is delayed.
    Executed {
        /// When.
        executed_at: u64,
        /// The opening deadline of a delayed disclosure not yet opened.
        sealed_until: Option<u64>,
    },
    /// Vetoed.
    Vetoed,
    /// Refused.
    Refused,
    /// Expired.
    Expired,
}

impl RequestState {
    fn name(self) -> &'static str {
        match self {
            RequestState::Pending { .. } => "pending",
            RequestState::Executed { .. } => "executed",
            RequestState::Vetoed => "vetoed",
            RequestState::Refused => "refused",
            RequestState::Expired => "expired",
        }
    }
}

/// A delayed disclosure whose deadline has come: append `opening`, then call
/// [`Oversight::notice`] with its ledger index to send the subject's notice.
#[derive(Debug)]
pub struct DueDisclosure {
    /// The request.
    pub request: RequestHash,
    /// The opening entry.
    pub opening: OversightEntry,
}

/// A decided appeal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppealOutcome {
    /// The request appealed.
    pub request: RequestHash,
    /// The action appealed.
    pub action: Action,
    /// `true`: it stands; `false`: overturned, and the server undoes what
    /// can be undone (a suspension is lifted).
    pub upheld: bool,
}

#[derive(Clone, Debug)]
struct Closed {
    signed: SignedRequest,
    state: ClosedState,
}

#[derive(Clone, Debug)]
enum ClosedState {
    Executed(Box<Executed>),
    Vetoed,
    Refused,
    Expired,
}

#[derive(Clone, Debug)]
struct Executed {
    certificate: QuorumCertificate,
    sealed_until: Option<u64>,
    /// The ledger index of the entry that shows the execution (the execution, or a
    /// sealed one's opening), when known: replay knows it, a live execution's caller
    /// passes it to [`Oversight::notice`].
    shown_at: Option<u64>,
    notice_issued: bool,
    appeal: AppealState,
}

#[derive(Clone, Debug)]
enum AppealState {
    None,
    Filed,
    Decided { upheld: bool, reasons: String },
}

/// Where the appeal of an executed request stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppealStatus {
    /// Filed, not decided yet.
    Pending,
    /// Decided by the reviewers.
    Decided {
        /// `true`: the action stands.
        upheld: bool,
        /// The reviewers' reasons.
        reasons: String,
    },
}

/// The oversight core: staff, policy and every request, in plain state.
#[derive(Clone, Debug)]
pub struct Oversight {
    staff: StaffSet,
    policy: Policy,
    pending: BTreeMap<RequestHash, Requested>,
    closed: BTreeMap<RequestHash, Closed>,
    due: BTreeSet<(u64, RequestHash)>,
    notices: Vec<Notice>,
}

impl Oversight {
    /// Starts from the genesis configuration; the entries are the ledger's
    /// first (one per staff member, then one per action's policy).
    pub fn genesis(genesis: Genesis) -> (Oversight, Vec<OversightEntry>) {
        let mut entries: Vec<OversightEntry> = genesis
            .staff
            .members()
            .map(|member| OversightEntry::Staff {
                cause: Cause::Genesis,
                change: StaffChange::Added(member.clone()),
            })
            .collect();
        entries.extend(
            genesis
                .policy
                .actions()
                .map(|(action, policy)| OversightEntry::Policy {
                    cause: Cause::Genesis,
                    action,
                    policy: policy.clone(),
                }),
        );
        let oversight = Oversight {
            staff: genesis.staff,
            policy: genesis.policy,
            pending: BTreeMap::new(),
            closed: BTreeMap::new(),
            due: BTreeSet::new(),
            notices: Vec::new(),
        };
        (oversight, entries)
    }

    /// Rebuilds the core from its own ledger entries (with their ledger
    /// indexes, in log order), so that a restarted server forgets nothing:
    /// pending requests with their approvals, executed requests with their
    /// notices and appeals, and delayed disclosures not yet opened.
    ///
    /// Every signature is checked again against the staff of its time, and
    /// every certificate against the staff and policy of its time; an entry
    /// that does not follow from the ones before it stops the replay. A
    /// sealed request's body is not in the public log: `sealed` holds the
    /// server's private copies by hash.
    pub fn resume<I>(
        entries: I,
        sealed: &BTreeMap<RequestHash, SignedRequest>,
    ) -> Result<Oversight, ResumeError>
    where
        I: IntoIterator<Item = (u64, OversightEntry)>,
    {
        let mut replay = Replay {
            governance: Governance::new(),
            sealed,
            pending: BTreeMap::new(),
            closed: BTreeMap::new(),
            due: BTreeSet::new(),
            notices: Vec::new(),
        };
        for (index, entry) in entries {
            replay.apply(index, entry)?;
        }
        Ok(Oversight {
            staff: replay.governance.staff().clone(),
            policy: replay
                .governance
                .policy()
                .map_err(ResumeError::Incomplete)?,
            pending: replay.pending,
            closed: replay.closed,
            due: replay.due,
            notices: replay.notices,
        })
    }

    /// Where the appeal of an executed request stands; `None` if there is
    /// none (or no such execution).
    pub fn appeal_status(&self, request: &RequestHash) -> Option<AppealStatus> {
        let ClosedState::Executed(executed) = &self.closed.get(request)?.state else {
            return None;
        };
        match &executed.appeal {
            AppealState::None => None,
            AppealState::Filed => Some(AppealStatus::Pending),
            AppealState::Decided { upheld, reasons } => Some(AppealStatus::Decided {
                upheld: *upheld,
                reasons: reasons.clone(),
            }),
        }
    }

    /// Every notice issued, in order.
    pub fn notices(&self) -> &[Notice] {
        &self.notices
    }

    /// The current staff.
    pub fn staff(&self) -> &StaffSet {
        &self.staff
    }

    /// The current policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The pending requests, by hash.
    pub fn pending(&self) -> impl Iterator<Item = &Requested> {
        self.pending.values()
    }

    /// Where a request stands.
    pub fn state(&self, request: &RequestHash) -> Option<RequestState> {
        if let Some(pending) = self.pending.get(request) {
            return Some(RequestState::Pending {
                approvals: pending.approvals.len(),
                expires_at: pending.expires_at(&self.policy),
            });
        }
        self.closed.get(request).map(|closed| match &closed.state {
            ClosedState::Executed(executed) => RequestState::Executed {
                executed_at: executed.certificate.executed_at(),
                sealed_until: executed.sealed_until,
            },
            ClosedState::Vetoed => RequestState::Vetoed,
            ClosedState::Refused => RequestState::Refused,
            ClosedState::Expired => RequestState::Expired,
        })
    }

    /// The signed request with this hash, in any state.
    pub fn request(&self, request: &RequestHash) -> Option<&SignedRequest> {
        self.pending
            .get(request)
            .map(|pending| &pending.signed)
            .or_else(|| self.closed.get(request).map(|closed| &closed.signed))
    }

    /// The certificate of an executed request.
    pub fn certificate(&self, request: &RequestHash) -> Option<&QuorumCertificate> {
        match &self.closed.get(request)?.state {
            ClosedState::Executed(executed) => Some(&executed.certificate),
            _ => None,
        }
    }

    /// The earliest time at which [`Oversight::poll_expired`] or
    /// [`Oversight::poll_due`] will have something, for the shell's timer.
    pub fn next_deadline(&self) -> Option<u64> {
        let expiry = self
            .pending
            .values()
            .map(|pending| pending.expires_at(&self.policy))
            .min();
        let due = self.due.first().map(|(at, _)| *at);
        expiry.into_iter().chain(due).min()
    }

    /// Files a signed request. `reports` are the franked reports the server
    /// verified for it; each `FrankedMessage` item in the request must match
    /// one of them, and they are consumed.
    ///
    /// `subject` is what the server's records say about the request's subject.
    /// The request must name the region on record: which staff may act depends
    /// on it, so the filer cannot choose it.
    pub fn file(
        &mut self,
        signed: SignedRequest,
        mut reports: Vec<VerifiedReport>,
        subject: SubjectRecord,
        now: u64,
    ) -> Logged<RequestHash> {
        let request = signed.request();
        let hash = signed.hash();
        // A malformed request has no valid entry form; like an unsigned one it
        // is rejected without an entry, so the log holds only entries that
        // decode.
        if let Err(error) = request.validate() {
            return Logged::unlogged(Violation::Malformed {
                reason: error.to_string(),
            });
        }
        let Some(requester) = self.staff.member(&request.requester) else {
            return Logged::unlogged(Violation::UnknownStaff {
                staff: request.requester.clone(),
            });
        };
        if !signed.verify(requester) {
            return Logged::unlogged(Violation::BadSignature {
                staff: requester.id.clone(),
            });
        }
        if self.request(&hash).is_some() {
            return Logged::unlogged(Violation::DuplicateRequest);
        }
        let sealed = request.notice_delay_secs > 0
            && request.action.kind() == ActionKind::DiscloseAccountData;
        let filed = if sealed {
            FiledRequest::Sealed {
                request: hash,
                action: request.action.kind(),
                filed_at: request.filed_at,
            }
        } else {
            FiledRequest::Open(signed.clone())
        };
        let mut entries = vec![OversightEntry::Request(filed)];
        let policy = self.policy.action(request.action.kind());
        let checked = check_skew(&request.requester, request.filed_at, now)
            .and_then(|()| subject.check(request.action.kind(), request.region))
            .and_then(|()| check_request(&signed, &self.staff, policy))
            .and_then(|()| {
                for (index, item) in request.evidence.iter().enumerate() {
                    if item.is_verified() {
                        let found = reports.iter().position(|report| report.record() == item);
                        let Some(position) = found else {
                            return Err(Violation::EvidenceNotVerified { index });
                        };
                        drop(reports.swap_remove(position));
                    }
                }
                Ok(())
            })
            .and_then(|()| {
                self.after(&request.action, Cause::Request(hash))
                    .map(|_| ())
            });
        match checked {
            Ok(()) => {
                self.pending.insert(
                    hash,
                    Requested {
                        signed,
                        approvals: Vec::new(),
                        sealed,
                    },
                );
                Logged {
                    entries,
                    outcome: Ok(hash),
                }
            }
            Err(violation) => {
                entries.push(refusal(
                    hash,
                    Some(request.requester.clone()),
                    Step::File,
                    now,
                    &violation,
                    sealed,
                ));
                self.closed.insert(
                    hash,
                    Closed {
                        signed,
                        state: ClosedState::Refused,
                    },
                );
                Logged {
                    entries,
                    outcome: Err(violation),
                }
            }
        }
    }

    /// Takes a signed approval; executes the request when it completes the
    /// quorum.
    pub fn approve(&mut self, approval: Approval, now: u64) -> Logged<Progress> {
        let Some(member) = self.staff.member(&approval.staff).cloned() else {
            return Logged::unlogged(Violation::UnknownStaff {
                staff: approval.staff.clone(),
            });
        };
        if !approval.verify(&member) {
            return Logged::unlogged(Violation::BadSignature { staff: member.id });
        }
        let hash = approval.request;
        let staff_id = approval.staff.clone();
        let mut entries = Vec::new();
        let open = self.expire_if_due(hash, now, &mut entries);
        let Some(pending) = self.pending.get(&hash).filter(|_| open) else {
            let violation = self.not_open(hash);
            entries.push(refusal(
                hash,
                Some(staff_id),
                Step::Approve,
                now,
                &violation,
                self.is_sealed(&hash),
            ));
            return Logged {
                entries,
                outcome: Err(violation),
            };
        };
        let request = pending.signed.request();
        let expires_at = pending.expires_at(&self.policy);
        let policy = self.policy.action(request.action.kind());
        let checked = check_skew(&staff_id, approval.signed_at, now).and_then(|()| {
            if staff_id == request.requester {
                return Err(Violation::SelfApproval {
                    staff: staff_id.clone(),
                });
            }
            check_member(&member, Role::Approver, request, policy)?;
            if pending
                .approvals
                .iter()
                .any(|given| given.staff == staff_id)
            {
                return Err(Violation::DuplicateApproval {
                    staff: staff_id.clone(),
                });
            }
            if approval.signed_at < request.filed_at.saturating_sub(MAX_CLOCK_SKEW_SECS)
                || approval.signed_at >= expires_at
            {
                return Err(Violation::OutsideWindow {
                    staff: staff_id.clone(),
                    signed_at: approval.signed_at,
                    filed_at: request.filed_at,
                    expires_at,
                });
            }
            Ok(())
        });
        if let Err(violation) = checked {
            entries.push(refusal(
                hash,
                Some(staff_id),
                Step::Approve,
                now,
                &violation,
                pending.sealed,
            ));
            return Logged {
                entries,
                outcome: Err(violation),
            };
        }
        entries.push(OversightEntry::Approval(approval.clone()));
        let mut approvals = pending.approvals.clone();
        approvals.push(approval);
        let quorum = check_quorum(&pending.signed, &approvals, &self.staff, &self.policy, now);
        if let Some(pending) = self.pending.get_mut(&hash) {
            pending.approvals = approvals;
        }
        match quorum {
            Ok(quorum) => {
                let outcome = self
                    .execute(hash, quorum, now, &mut entries)
                    .map(Progress::Executed);
                Logged { entries, outcome }
            }
            Err(Violation::QuorumNotMet {
                approvals,
                needed,
                jurisdictions,
                needed_jurisdictions,
            }) => Logged {
                entries,
                outcome: Ok(Progress::Pending {
                    approvals,
                    needed,
                    jurisdictions,
                    needed_jurisdictions,
                }),
            },
            // The request itself no longer passes (its requester left the
            // staff, or the policy changed under it): it can never execute.
            Err(violation) => {
                self.close_refused(hash, Step::Execute, None, now, &violation, &mut entries);
                Logged {
                    entries,
                    outcome: Err(violation),
                }
            }
        }
    }

    /// Takes a signed veto of a pending request.
    pub fn veto(&mut self, veto: Veto, now: u64) -> Logged<()> {
        let Some(member) = self.staff.member(&veto.staff).cloned() else {
            return Logged::unlogged(Violation::UnknownStaff {
                staff: veto.staff.clone(),
            });
        };
        if !veto.verify(&member) {
            return Logged::unlogged(Violation::BadSignature { staff: member.id });
        }
        let hash = veto.request;
        let mut entries = Vec::new();
        let open = self.expire_if_due(hash, now, &mut entries);
        let Some(pending) = self.pending.get(&hash).filter(|_| open) else {
            let violation = self.not_open(hash);
            entries.push(refusal(
                hash,
                Some(veto.staff.clone()),
                Step::Veto,
                now,
                &violation,
                self.is_sealed(&hash),
            ));
            return Logged {
                entries,
                outcome: Err(violation),
            };
        };
        let request = pending.signed.request();
        let policy = self.policy.action(request.action.kind());
        let checked = check_skew(&veto.staff, veto.signed_at, now)
            .and_then(|()| check_member(&member, Role::Approver, request, policy));
        if let Err(violation) = checked {
            entries.push(refusal(
                hash,
                Some(veto.staff.clone()),
                Step::Veto,
                now,
                &violation,
                pending.sealed,
            ));
            return Logged {
                entries,
                outcome: Err(violation),
            };
        }
        entries.push(OversightEntry::Veto(veto));
        if let Some(pending) = self.pending.remove(&hash) {
            self.closed.insert(
                hash,
                Closed {
                    signed: pending.signed,
                    state: ClosedState::Vetoed,
                },
            );
        }
        Logged {
            entries,
            outcome: Ok(()),
        }
    }

    /// Expires every pending request whose time is up.
    pub fn poll_expired(&mut self, now: u64) -> Vec<OversightEntry> {
        let expired: Vec<RequestHash> = self
            .pending
            .iter()
            .filter(|(_, pending)| now >= pending.expires_at(&self.policy))
            .map(|(hash, _)| *hash)
            .collect();
        let mut entries = Vec::new();
        for hash in expired {
            self.expire(hash, now, &mut entries);
        }
        entries
    }

    /// Opens every delayed disclosure whose deadline has come.
    pub fn poll_due(&mut self, now: u64) -> Vec<DueDisclosure> {
        let mut due = Vec::new();
        while let Some(&(at, hash)) = self.due.first() {
            if at > now {
                break;
            }
            self.due.pop_first();
            if let Some(Closed {
                state: ClosedState::Executed(executed),
                ..
            }) = self.closed.get_mut(&hash)
            {
                executed.sealed_until = None;
                due.push(DueDisclosure {
                    request: hash,
                    opening: OversightEntry::Opening(executed.certificate.clone()),
                });
            }
        }
        due
    }

    /// Executions the log shows without the notice that should follow them, oldest
    /// first: the server stopped between the two. Its effect (an ended meeting, a
    /// suspension) may be missing too, so the server applies it again (each effect is
    /// idempotent) and then issues the notice.
    pub fn unnoticed(&self) -> Vec<Unnoticed> {
        let mut found: Vec<Unnoticed> = self
            .closed
            .iter()
            .filter_map(|(hash, closed)| {
                let ClosedState::Executed(executed) = &closed.state else {
                    return None;
                };
                let action = &executed.certificate.request().action;
                let unnoticed = !executed.notice_issued
                    && executed.sealed_until.is_none()
                    && NoticeSubject::of(action).is_some();
                Some(Unnoticed {
                    request: *hash,
                    action: action.clone(),
                    ledger_index: executed.shown_at.filter(|_| unnoticed)?,
                })
            })
            .collect();
        found.sort_by_key(|unnoticed| unnoticed.ledger_index);
        found
    }

    /// The subject's notice of an executed request, once the entry that
    /// shows it (execution, or opening) is at `ledger_index`. One per request.
    pub fn notice(&mut self, request: RequestHash, ledger_index: u64, now: u64) -> Logged<Notice> {
        let Some(Closed {
            state: ClosedState::Executed(executed),
            ..
        }) = self.closed.get_mut(&request)
        else {
            return Logged::unlogged(Violation::NotApplicable {
                reason: "no executed request with this hash".into(),
            });
        };
        if executed.sealed_until.is_some() {
            return Logged::unlogged(Violation::NotApplicable {
                reason: "the disclosure is sealed until its deadline".into(),
            });
        }
        if executed.notice_issued {
            return Logged::unlogged(Violation::NotApplicable {
                reason: "the notice was already issued".into(),
            });
        }
        let executed_request = executed.certificate.request();
        let Some(subject) = NoticeSubject::of(&executed_request.action) else {
            return Logged::unlogged(Violation::NotApplicable {
                reason: "staff and policy changes have no user subject".into(),
            });
        };
        executed.notice_issued = true;
        let notice = Notice {
            request,
            action: executed_request.action.kind(),
            subject,
            reasons: executed_request.reasons.clone(),
            ledger_index,
            issued_at: now,
        };
        self.notices.push(notice.clone());
        Logged {
            entries: vec![OversightEntry::Notice(notice.clone())],
            outcome: Ok(notice),
        }
    }

    /// The subject's one appeal against an executed action, after its notice.
    /// The caller has authenticated `appellant`. Refused appeals are not
    /// logged: they come from users, and the public log is not theirs to fill.
    pub fn appeal(
        &mut self,
        request: RequestHash,
        appellant: &AccountId,
        statement: &str,
        now: u64,
    ) -> Logged<Appeal> {
        self.file_appeal(
            request,
            appellant,
            |action| action.account() == Some(appellant),
            statement,
            now,
        )
    }

    /// The host's one appeal against an order that ended their meeting. The
    /// caller has authenticated `host` and checked that it hosts `meeting`
    /// (the core does not know hosts). Refused appeals are not logged.
    pub fn appeal_as_host(
        &mut self,
        request: RequestHash,
        host: &AccountId,
        meeting: &MeetingId,
        statement: &str,
        now: u64,
    ) -> Logged<Appeal> {
        self.file_appeal(
            request,
            host,
            |action| matches!(action, Action::EndMeeting { meeting: ended } if ended == meeting),
            statement,
            now,
        )
    }

    fn file_appeal(
        &mut self,
        request: RequestHash,
        appellant: &AccountId,
        is_subject: impl FnOnce(&Action) -> bool,
        statement: &str,
        now: u64,
    ) -> Logged<Appeal> {
        let refuse = |reason: &str| {
            Logged::unlogged(Violation::Appeal {
                reason: reason.into(),
            })
        };
        let Some(Closed {
            state: ClosedState::Executed(executed),
            ..
        }) = self.closed.get_mut(&request)
        else {
            return refuse("no executed request with this hash");
        };
        if !is_subject(&executed.certificate.request().action) {
            return refuse(
                "only the subject of an action (or the host of an ended meeting) may appeal it",
            );
        }
        if !executed.notice_issued {
            return refuse("the notice has not been issued yet");
        }
        if !matches!(executed.appeal, AppealState::None) {
            return refuse("this action was appealed already; there is one appeal per notice");
        }
        if statement.trim().is_empty() || statement.len() > MAX_APPEAL_LEN {
            return refuse("the appeal statement must be non-blank and at most 8000 bytes");
        }
        executed.appeal = AppealState::Filed;
        let appeal = Appeal::new(request, appellant.clone(), statement, now);
        Logged {
            entries: vec![OversightEntry::Appeal(appeal.clone())],
            outcome: Ok(appeal),
        }
    }

    /// Takes the reviewers' signed decision on an appeal. The reviewers must
    /// hold the reviewer role, be eligible for the subject's region, have
    /// taken no part in the original decision, and be as many and from as
    /// many jurisdictions as the action's policy asks of approvers.
    pub fn decide_appeal(&mut self, decision: AppealDecision, now: u64) -> Logged<AppealOutcome> {
        for (staff, signature) in &decision.signatures {
            let Some(member) = self.staff.member(staff) else {
                return Logged::unlogged(Violation::UnknownStaff {
                    staff: staff.clone(),
                });
            };
            if !decision.verify(member, signature) {
                return Logged::unlogged(Violation::BadSignature {
                    staff: staff.clone(),
                });
            }
        }
        let Some((first, _)) = decision.signatures.first() else {
            return Logged::unlogged(Violation::Appeal {
                reason: "the decision carries no signature".into(),
            });
        };
        let hash = decision.request;
        let Some(Closed {
            state: ClosedState::Executed(executed),
            ..
        }) = self.closed.get_mut(&hash)
        else {
            return Logged::unlogged(Violation::Appeal {
                reason: "no executed request with this hash".into(),
            });
        };
        let request = executed.certificate.request();
        let policy = self.policy.action(request.action.kind());
        let original = participants(&executed.certificate);
        let checked = (|| {
            if !matches!(executed.appeal, AppealState::Filed) {
                return Err(Violation::Appeal {
                    reason: "there is no undecided appeal of this action".into(),
                });
            }
            if decision.reasons.trim().is_empty() {
                return Err(Violation::Appeal {
                    reason: "the decision needs reasons".into(),
                });
            }
            let mut reviewers = BTreeSet::new();
            let mut jurisdictions = BTreeSet::new();
            for (staff, _) in &decision.signatures {
                check_skew(staff, decision.decided_at, now)?;
                if original.contains(staff) {
                    return Err(Violation::ReviewerNotIndependent {
                        staff: staff.clone(),
                    });
                }
                let Some(member) = self.staff.member(staff) else {
                    return Err(Violation::UnknownStaff {
                        staff: staff.clone(),
                    });
                };
                check_member(member, Role::Reviewer, request, policy)?;
                if !reviewers.insert(staff.clone()) {
                    return Err(Violation::DuplicateApproval {
                        staff: staff.clone(),
                    });
                }
                jurisdictions.insert(member.jurisdiction);
            }
            if reviewers.len() < usize::from(policy.approvals)
                || jurisdictions.len() < usize::from(policy.distinct_jurisdictions)
            {
                return Err(Violation::QuorumNotMet {
                    approvals: reviewers.len(),
                    needed: policy.approvals,
                    jurisdictions: jurisdictions.len(),
                    needed_jurisdictions: policy.distinct_jurisdictions,
                });
            }
            Ok(())
        })();
        if let Err(violation) = checked {
            let entries = vec![refusal(
                hash,
                Some(first.clone()),
                Step::DecideAppeal,
                now,
                &violation,
                false,
            )];
            return Logged {
                entries,
                outcome: Err(violation),
            };
        }
        executed.appeal = AppealState::Decided {
            upheld: decision.upheld,
            reasons: decision.reasons.clone(),
        };
        let outcome = AppealOutcome {
            request: hash,
            action: request.action.clone(),
            upheld: decision.upheld,
        };
        Logged {
            entries: vec![OversightEntry::AppealDecision(decision)],
            outcome: Ok(outcome),
        }
    }

    /// Whether the request is pending, after expiring it (with its entry)
    /// if its time is up.
    fn expire_if_due(
        &mut self,
        hash: RequestHash,
        now: u64,
        entries: &mut Vec<OversightEntry>,
    ) -> bool {
        let Some(pending) = self.pending.get(&hash) else {
            return false;
        };
        if now >= pending.expires_at(&self.policy) {
            self.expire(hash, now, entries);
            return false;
        }
        true
    }

    fn not_open(&self, hash: RequestHash) -> Violation {
        Violation::NotPending {
            state: self.state(&hash).map_or("unknown", RequestState::name),
        }
    }

    fn is_sealed(&self, hash: &RequestHash) -> bool {
        match self.closed.get(hash).map(|closed| &closed.state) {
            Some(ClosedState::Executed(executed)) => executed.sealed_until.is_some(),
            Some(_) => false,
            None => self.pending.get(hash).is_some_and(|pending| pending.sealed),
        }
    }

    fn expire(&mut self, hash: RequestHash, now: u64, entries: &mut Vec<OversightEntry>) {
        if let Some(pending) = self.pending.remove(&hash) {
            entries.push(OversightEntry::Expiry {
                request: hash,
                expired_at: now,
            });
            self.closed.insert(
                hash,
                Closed {
                    signed: pending.signed,
                    state: ClosedState::Expired,
                },
            );
        }
    }

    fn close_refused(
        &mut self,
        hash: RequestHash,
        step: Step,
        staff: Option<StaffId>,
        now: u64,
        violation: &Violation,
        entries: &mut Vec<OversightEntry>,
    ) {
        if let Some(pending) = self.pending.remove(&hash) {
            entries.push(refusal(hash, staff, step, now, violation, pending.sealed));
            self.closed.insert(
                hash,
                Closed {
                    signed: pending.signed,
                    state: ClosedState::Refused,
                },
            );
        }
    }

    /// Approves and executes a request whose quorum was reached: applies a
    /// staff or policy change, logs the certificate (or, under a notice
    /// delay, its commitment), and hands out the order.
    fn execute(
        &mut self,
        hash: RequestHash,
        quorum: QuorumReached,
        now: u64,
        entries: &mut Vec<OversightEntry>,
    ) -> Result<ExecutionOrder, Violation> {
        let Some(pending) = self.pending.get(&hash) else {
            return Err(Violation::NotPending { state: "unknown" });
        };
        let next = match self.after(&pending.signed.request().action, Cause::Request(hash)) {
            Ok(next) => next,
            Err(violation) => {
                self.close_refused(hash, Step::Execute, None, now, &violation, entries);
                return Err(violation);
            }
        };
        let Some(pending) = self.pending.remove(&hash) else {
            return Err(Violation::NotPending { state: "unknown" });
        };
        let sealed = pending.sealed;
        let delay = pending.signed.request().notice_delay_secs;
        let signed = pending.signed.clone();
        let order = match pending.approve(quorum) {
            Ok(approved) => approved.execute(),
            // `check_quorum` ran on this very request, so the proof matches;
            // this arm only keeps the state consistent if that ever changed.
            Err(rejected) => {
                self.pending.insert(hash, rejected.0);
                return Err(Violation::NotPending { state: "pending" });
            }
        };
        let certificate = order.certificate().clone();
        let sealed_until = if sealed {
            let due_at = now.saturating_add(delay);
            entries.push(OversightEntry::Commitment {
                request: hash,
                commitment: certificate.commitment(),
                executed_at: now,
                due_at,
            });
            self.due.insert((due_at, hash));
            Some(due_at)
        } else {
            entries.push(OversightEntry::Execution(certificate.clone()));
            None
        };
        if let Some((staff, policy, changes)) = next {
            self.staff = staff;
            self.policy = policy;
            entries.extend(changes);
        }
        let executed = Executed {
            certificate,
            sealed_until,
            shown_at: None,
            notice_issued: false,
            appeal: AppealState::None,
        };
        self.closed.insert(
            hash,
            Closed {
                signed,
                state: ClosedState::Executed(Box::new(executed)),
            },
        );
        Ok(order)
    }

    /// The staff and policy after a staff or policy change, with the entries
    /// recording it; `None` for actions that change neither. Refuses a change
    /// that cannot apply or would leave staff changes impossible to approve.
    #[allow(clippy::type_complexity)]
    fn after(
        &self,
        action: &Action,
        cause: Cause,
    ) -> Result<Option<(StaffSet, Policy, Vec<OversightEntry>)>, Violation> {
        let mut staff = self.staff.clone();
        let mut policy = self.policy.clone();
        let not_applicable = |reason: String| Violation::NotApplicable { reason };
        let entry = match action {
            Action::AddStaff { member } => {
                staff
                    .add(member.clone())
                    .map_err(|error| not_applicable(error.to_string()))?;
                OversightEntry::Staff {
                    cause,
                    change: StaffChange::Added(member.clone()),
                }
            }
            Action::RemoveStaff { staff: id } => {
                staff
                    .remove(id)
                    .map_err(|error| not_applicable(error.to_string()))?;
                OversightEntry::Staff {
                    cause,
                    change: StaffChange::Removed(id.clone()),
                }
            }
            Action::ChangePolicy {
                action,
                policy: rules,
            } => {
                policy
                    .replace(*action, rules.clone())
                    .map_err(|error| not_applicable(error.to_string()))?;
                OversightEntry::Policy {
                    cause,
                    action: *action,
                    policy: rules.clone(),
                }
            }
            _ => return Ok(None),
        };
        check_governable(&staff, &policy)?;
        Ok(Some((staff, policy, vec![entry])))
    }
}

/// Why the ledger's oversight entries do not rebuild the core.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResumeError {
    /// A staff or policy entry does not apply to the staff and policy before it.
    #[error("ledger entry {index}: {source}")]
    Governance {
        /// The entry's ledger index.
        index: u64,
        /// Why it does not apply.
        source: ReplayError,
    },
    /// The entries never give every action a policy.
    #[error("the oversight entries do not make a complete policy: {0}")]
    Incomplete(ReplayError),
    /// A signed request, approval, veto or appeal decision whose signature
    /// does not verify against the staff of its time.
    #[error("ledger entry {index}: the signature of {staff} does not verify")]
    BadSignature {
        /// The entry's ledger index.
        index: u64,
        /// Whose signature.
        staff: StaffId,
    },
    /// A sealed request whose private copy is missing or is another request.
    #[error("ledger entry {index}: no stored copy of sealed request {request}")]
    SealedMissing {
        /// The entry's ledger index.
        index: u64,
        /// The sealed request.
        request: RequestHash,
    },
    /// A certificate that does not verify against the staff and policy of
    /// its time, or a commitment that is not to the certificate the
    /// replayed approvals make.
    #[error("ledger entry {index}: the certificate of {request} does not verify ({violation})")]
    Certificate {
        /// The entry's ledger index.
        index: u64,
        /// The request.
        request: RequestHash,
        /// What is wrong.
        violation: Violation,
    },
    /// An entry that cannot follow the ones before it (an approval of a
    /// request never filed, a notice of a request never executed).
    #[error("ledger entry {index}: {problem} ({request})")]
    OutOfOrder {
        /// The entry's ledger index.
        index: u64,
        /// The request concerned.
        request: RequestHash,
        /// What does not follow.
        problem: &'static str,
    },
}

/// The state [`Oversight::resume`] builds up entry by entry.
struct Replay<'a> {
    governance: Governance,
    sealed: &'a BTreeMap<RequestHash, SignedRequest>,
    pending: BTreeMap<RequestHash, Requested>,
    closed: BTreeMap<RequestHash, Closed>,
    due: BTreeSet<(u64, RequestHash)>,
    notices: Vec<Notice>,
}

impl Replay<'_> {
    fn apply(&mut self, index: u64, entry: OversightEntry) -> Result<(), ResumeError> {
        let out_of_order = |request: RequestHash, problem: &'static str| ResumeError::OutOfOrder {
            index,
            request,
            problem,
        };
        match entry {
            OversightEntry::Staff { .. } | OversightEntry::Policy { .. } => self
                .governance
                .apply(&entry)
                .map_err(|source| ResumeError::Governance { index, source })?,
            OversightEntry::Request(filed) => {
                let (signed, sealed) = match filed {
                    FiledRequest::Open(signed) => (signed, false),
                    FiledRequest::Sealed { request, .. } => {
                        let signed = self
                            .sealed
                            .get(&request)
                            .filter(|signed| signed.hash() == request)
                            .ok_or(ResumeError::SealedMissing { index, request })?;
                        (signed.clone(), true)
                    }
                };
                let request = signed.request();
                let signer = self.governance.staff().member(&request.requester);
                if !signer.is_some_and(|member| signed.verify(member)) {
                    return Err(ResumeError::BadSignature {
                        index,
                        staff: request.requester.clone(),
                    });
                }
                let hash = signed.hash();
                if self.pending.contains_key(&hash) || self.closed.contains_key(&hash) {
                    return Err(out_of_order(hash, "a request filed twice"));
                }
                self.pending.insert(
                    hash,
                    Requested {
                        signed,
                        approvals: Vec::new(),
                        sealed,
                    },
                );
            }
            OversightEntry::Approval(approval) => {
                self.check_signer(index, &approval.staff, |member| approval.verify(member))?;
                let pending = self.pending.get_mut(&approval.request).ok_or_else(|| {
                    out_of_order(approval.request, "an approval of no pending request")
                })?;
                pending.approvals.push(approval);
            }
            OversightEntry::Veto(veto) => {
                self.check_signer(index, &veto.staff, |member| veto.verify(member))?;
                self.close(veto.request, ClosedState::Vetoed)
                    .ok_or_else(|| out_of_order(veto.request, "a veto of no pending request"))?;
            }
            // A refused filing follows its request entry, and a request that
            // stopped passing is refused at execution: both close it. Other
            // refusals leave the request as it was.
            OversightEntry::Refusal(refusal) => {
                if matches!(refusal.step, Step::File | Step::Execute) {
                    self.close(refusal.request, ClosedState::Refused)
                        .ok_or_else(|| {
                            out_of_order(
                                refusal.request,
                                "a refused filing or execution of no pending request",
                            )
                        })?;
                }
            }
            OversightEntry::Expiry { request, .. } => {
                self.close(request, ClosedState::Expired)
                    .ok_or_else(|| out_of_order(request, "an expiry of no pending request"))?;
            }
            OversightEntry::Execution(certificate) => {
                let hash = certificate.hash();
                self.check_certificate(index, &certificate)?;
                if self.pending.get(&hash).is_none_or(|pending| pending.sealed) {
                    return Err(out_of_order(
                        hash,
                        "an execution of no open pending request",
                    ));
                }
                self.executed(hash, certificate, None, Some(index));
            }
            OversightEntry::Commitment {
                request: hash,
                commitment,
                executed_at,
                due_at,
            } => {
                let pending = self
                    .pending
                    .get(&hash)
                    .filter(|pending| pending.sealed)
                    .ok_or_else(|| {
                        out_of_order(hash, "a commitment of no sealed pending request")
                    })?;
                let policy = self.governance.policy().map_err(ResumeError::Incomplete)?;
                // The same check on the same approvals under the same staff
                // and policy as at execution: the same certificate.
                let certificate = check_quorum(
                    &pending.signed,
                    &pending.approvals,
                    self.governance.staff(),
                    &policy,
                    executed_at,
                )
                .map(QuorumReached::into_certificate)
                .and_then(|certificate| {
                    if certificate.commitment() == commitment {
                        Ok(certificate)
                    } else {
                        Err(Violation::NotApplicable {
                            reason:
                                "the commitment is not to the certificate of the logged approvals"
                                    .into(),
                        })
                    }
                })
                .map_err(|violation| ResumeError::Certificate {
                    index,
                    request: hash,
                    violation,
                })?;
                self.due.insert((due_at, hash));
                self.executed(hash, certificate, Some(due_at), None);
            }
            OversightEntry::Opening(certificate) => {
                let hash = certificate.hash();
                let executed = self
                    .executed_mut(&hash)
                    .filter(|executed| executed.sealed_until.is_some())
                    .ok_or_else(|| out_of_order(hash, "an opening of no sealed execution"))?;
                if executed.certificate.commitment() != certificate.commitment() {
                    return Err(ResumeError::Certificate {
                        index,
                        request: hash,
                        violation: Violation::NotApplicable {
                            reason: "the opening is not what was committed to".into(),
                        },
                    });
                }
                executed.sealed_until = None;
                executed.shown_at = Some(index);
                self.due.retain(|(_, due)| *due != hash);
            }
            OversightEntry::Notice(notice) => {
                let executed = self
                    .executed_mut(&notice.request)
                    .filter(|executed| executed.sealed_until.is_none() && !executed.notice_issued)
                    .ok_or_else(|| {
                        out_of_order(notice.request, "a notice of no open execution without one")
                    })?;
                executed.notice_issued = true;
                self.notices.push(notice);
            }
            OversightEntry::Appeal(appeal) => {
                let executed = self
                    .executed_mut(&appeal.request)
                    .filter(|executed| {
                        executed.notice_issued && matches!(executed.appeal, AppealState::None)
                    })
                    .ok_or_else(|| {
                        out_of_order(
                            appeal.request,
                            "an appeal without a notice, or a second one",
                        )
                    })?;
                executed.appeal = AppealState::Filed;
            }
            OversightEntry::AppealDecision(decision) => {
                for (staff, signature) in &decision.signatures {
                    self.check_signer(index, staff, |member| decision.verify(member, signature))?;
                }
                let executed = self
                    .executed_mut(&decision.request)
                    .filter(|executed| matches!(executed.appeal, AppealState::Filed))
                    .ok_or_else(|| {
                        out_of_order(decision.request, "a decision on no undecided appeal")
                    })?;
                executed.appeal = AppealState::Decided {
                    upheld: decision.upheld,
                    reasons: decision.reasons,
                };
            }
        }
        Ok(())
    }

    fn check_signer(
        &self,
        index: u64,
        staff: &StaffId,
        verify: impl FnOnce(&crate::staff::StaffMember) -> bool,
    ) -> Result<(), ResumeError> {
        match self.governance.staff().member(staff) {
            Some(member) if verify(member) => Ok(()),
            _ => Err(ResumeError::BadSignature {
                index,
                staff: staff.clone(),
            }),
        }
    }

    fn check_certificate(
        &self,
        index: u64,
        certificate: &QuorumCertificate,
    ) -> Result<(), ResumeError> {
        let policy = self.governance.policy().map_err(ResumeError::Incomplete)?;
        certificate
            .verify(self.governance.staff(), &policy)
            .map_err(|violation| ResumeError::Certificate {
                index,
                request: certificate.hash(),
                violation,
            })
    }

    /// Moves a pending request to `state`; `None` if it is not pending.
    fn close(&mut self, hash: RequestHash, state: ClosedState) -> Option<()> {
        let pending = self.pending.remove(&hash)?;
        self.closed.insert(
            hash,
            Closed {
                signed: pending.signed,
                state,
            },
        );
        Some(())
    }

    fn executed(
        &mut self,
        hash: RequestHash,
        certificate: QuorumCertificate,
        sealed_until: Option<u64>,
        shown_at: Option<u64>,
    ) {
        let executed = Executed {
            certificate,
            sealed_until,
            shown_at,
            notice_issued: false,
            appeal: AppealState::None,
        };
        self.close(hash, ClosedState::Executed(Box::new(executed)));
    }

    fn executed_mut(&mut self, hash: &RequestHash) -> Option<&mut Executed> {
        match &mut self.closed.get_mut(hash)?.state {
            ClosedState::Executed(executed) => Some(executed),
            _ => None,
        }
    }
}

fn check_skew(staff: &StaffId, stated: u64, now: u64) -> Result<(), Violation> {
    if stated.abs_diff(now) > MAX_CLOCK_SKEW_SECS {
        return Err(Violation::ClockSkew {
            staff: staff.clone(),
            stated,
            now,
            max_skew: MAX_CLOCK_SKEW_SECS,
        });
    }
    Ok(())
}

fn refusal(
    request: RequestHash,
    staff: Option<StaffId>,
    step: Step,
    at: u64,
    violation: &Violation,
    sealed: bool,
) -> OversightEntry {
    OversightEntry::Refusal(Refusal {
        request,
        staff,
        step,
        at,
        code: violation.code().to_owned(),
        // A sealed request's refusal text could name its subject.
        text: if sealed {
            String::new()
        } else {
            refusal_text(violation.to_string())
        },
    })
}
