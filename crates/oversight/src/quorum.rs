//! Quorum certificates: the self-contained proof that a request was approved
//! by enough eligible staff, and the one check that decides it.
//!
//! [`QuorumCertificate::verify`] needs only the certificate, the staff set
//! and the policy in force when it was executed (both recoverable from the
//! ledger), so a client can check an `end_meeting` order without trusting the
//! server. The server's own state machine runs the very same check
//! ([`check_quorum`]), and only its success mints [`QuorumReached`].

use std::collections::BTreeSet;

use ledger::Hash;
use sha2::{Digest as _, Sha256};

use crate::codec::{DecodeError, Reader, Writer};
use crate::evidence::{meeting_digest, EvidenceRecord};
use crate::policy::{ActionKind, ActionPolicy, Policy};
use crate::request::{Action, Approval, Request, RequestHash, SignedRequest};
use crate::staff::{Role, StaffId, StaffMember, StaffSet};
use crate::violation::Violation;

/// Largest difference accepted between a signed time and the server's clock.
pub const MAX_CLOCK_SKEW_SECS: u64 = 300;

/// Largest encoded certificate accepted, in bytes.
pub const MAX_CERTIFICATE_LEN: usize = 96 * 1024;

const CERTIFICATE_VERSION: u8 = 1;
const COMMITMENT_LABEL: &[u8] = b"conclave oversight disclosure commitment v1\0";

/// A request, its requester's signature and the approvals that carried it,
/// with the time it was executed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumCertificate {
    request: SignedRequest,
    approvals: Vec<Approval>,
    executed_at: u64,
}

impl QuorumCertificate {
    /// Assembles a certificate from parts received from outside; check it
    /// with [`QuorumCertificate::verify`] before relying on it.
    pub fn from_parts(
        request: SignedRequest,
        approvals: Vec<Approval>,
        executed_at: u64,
    ) -> QuorumCertificate {
        QuorumCertificate {
            request,
            approvals,
            executed_at,
        }
    }

    /// The signed request.
    pub fn signed_request(&self) -> &SignedRequest {
        &self.request
    }

    /// The request.
    pub fn request(&self) -> &Request {
        self.request.request()
    }

    /// The request's hash.
    pub fn hash(&self) -> RequestHash {
        self.request.hash()
    }

    /// The approvals, in the order they were given.
    pub fn approvals(&self) -> &[Approval] {
        &self.approvals
    }

    /// When the request was executed, in Unix seconds.
    pub fn executed_at(&self) -> u64 {
        self.executed_at
    }

    /// Checks everything the certificate claims against `staff` and `policy`
    /// as they stood when it was executed: the requester's signature, role
    /// and eligibility; the evidence rules; every approval's signer, role,
    /// eligibility, independence from the requester, signature and time;
    /// and that the approvals reach the policy's count and jurisdictions.
    pub fn verify(&self, staff: &StaffSet, policy: &Policy) -> Result<(), Violation> {
        let request = self.request();
        let action_policy = policy.action(request.action.kind());
        check_request(&self.request, staff, action_policy)?;
        let expires_at = request.filed_at.saturating_add(action_policy.expiry_secs);
        if self.executed_at < request.filed_at || self.executed_at >= expires_at {
            return Err(Violation::Expired { expires_at });
        }
        let mut seen = BTreeSet::new();
        let mut jurisdictions = BTreeSet::new();
        for approval in &self.approvals {
            let member = check_approval(&self.request, approval, staff, action_policy)?;
            if approval.signed_at > self.executed_at {
                return Err(Violation::OutsideWindow {
                    staff: approval.staff.clone(),
                    signed_at: approval.signed_at,
                    filed_at: request.filed_at,
                    expires_at: self.executed_at,
                });
            }
            if !seen.insert(&approval.staff) {
                return Err(Violation::DuplicateApproval {
                    staff: approval.staff.clone(),
                });
            }
            jurisdictions.insert(member.jurisdiction);
        }
        if seen.len() < usize::from(action_policy.approvals)
            || jurisdictions.len() < usize::from(action_policy.distinct_jurisdictions)
        {
            return Err(Violation::QuorumNotMet {
                approvals: seen.len(),
                needed: action_policy.approvals,
                jurisdictions: jurisdictions.len(),
                needed_jurisdictions: action_policy.distinct_jurisdictions,
            });
        }
        Ok(())
    }

    /// The commitment a delayed disclosure publishes first:
    /// `SHA-256("conclave oversight disclosure commitment v1\0" || certificate encoding)`.
    /// The request's secret nonce keeps it from being guessed.
    pub fn commitment(&self) -> Hash {
        Hash(
            Sha256::new()
                .chain_update(COMMITMENT_LABEL)
                .chain_update(self.encode())
                .finalize()
                .into(),
        )
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut writer = Writer::new();
        self.encode_into(&mut writer);
        writer.finish()
    }

    pub(crate) fn encode_into(&self, writer: &mut Writer) {
        writer.u8(CERTIFICATE_VERSION);
        self.request.encode_into(writer);
        writer.count(self.approvals.len());
        for approval in &self.approvals {
            approval.encode_into(writer);
        }
        writer.u64(self.executed_at);
    }

    /// Parses a canonical encoding (as carried in an `end_meeting` message or
    /// a ledger entry). Signatures are not checked here.
    pub fn decode(bytes: &[u8]) -> Result<QuorumCertificate, DecodeError> {
        if bytes.len() > MAX_CERTIFICATE_LEN {
            return Err(DecodeError::TooLong {
                field: "certificate",
                len: bytes.len(),
                max: MAX_CERTIFICATE_LEN,
            });
        }
        let mut reader = Reader::new(bytes);
        let certificate = QuorumCertificate::decode_from(&mut reader)?;
        reader.finish("certificate")?;
        Ok(certificate)
    }

    pub(crate) fn decode_from(reader: &mut Reader<'_>) -> Result<QuorumCertificate, DecodeError> {
        reader.version("certificate", CERTIFICATE_VERSION)?;
        let request = SignedRequest::decode_from(reader)?;
        let count = reader.count("approvals", usize::from(crate::policy::MAX_APPROVALS) * 4)?;
        let approvals = (0..count)
            .map(|_| Approval::decode_from(reader))
            .collect::<Result<_, _>>()?;
        let executed_at = reader.u64("executed_at")?;
        Ok(QuorumCertificate {
            request,
            approvals,
            executed_at,
        })
    }
}

/// Proof that a request's approvals meet its policy: made only by
/// [`check_quorum`], neither `Clone` nor constructible elsewhere, and
/// consumed by the step that executes the request (STYLE.md section 4).
///
/// ```compile_fail
/// fn duplicate(quorum: &oversight::QuorumReached) -> oversight::QuorumReached {
///     quorum.clone()
/// }
/// ```
#[derive(Debug)]
pub struct QuorumReached {
    certificate: QuorumCertificate,
}

impl QuorumReached {
    /// The request it is for.
    pub fn hash(&self) -> RequestHash {
        self.certificate.hash()
    }

    pub(crate) fn into_certificate(self) -> QuorumCertificate {
        self.certificate
    }
}

/// Checks whether `approvals` carry `request` at `now`, keeping only the
/// approvals that still count (a signer removed from the staff since, or no
/// longer eligible, drops out) and minting [`QuorumReached`] if they suffice.
pub fn check_quorum(
    request: &SignedRequest,
    approvals: &[Approval],
    staff: &StaffSet,
    policy: &Policy,
    now: u64,
) -> Result<QuorumReached, Violation> {
    let action_policy = policy.action(request.request().action.kind());
    let counting: Vec<Approval> = approvals
        .iter()
        .filter(|approval| check_approval(request, approval, staff, action_policy).is_ok())
        .cloned()
        .collect();
    let certificate = QuorumCertificate {
        request: request.clone(),
        approvals: counting,
        executed_at: now,
    };
    certificate.verify(staff, policy)?;
    Ok(QuorumReached { certificate })
}

/// The checks on the request itself: requester, signature, evidence, delay.
pub(crate) fn check_request(
    signed: &SignedRequest,
    staff: &StaffSet,
    policy: &ActionPolicy,
) -> Result<(), Violation> {
    let request = signed.request();
    request.validate().map_err(|error| Violation::Malformed {
        reason: error.to_string(),
    })?;
    let requester = staff
        .member(&request.requester)
        .ok_or_else(|| Violation::UnknownStaff {
            staff: request.requester.clone(),
        })?;
    if !signed.verify(requester) {
        return Err(Violation::BadSignature {
            staff: requester.id.clone(),
        });
    }
    check_member(requester, Role::Requester, request, policy)?;
    if request.notice_delay_secs > policy.max_notice_delay_secs {
        return Err(Violation::NoticeDelay {
            requested: request.notice_delay_secs,
            max: policy.max_notice_delay_secs,
        });
    }
    check_evidence(request, policy)
}

/// The checks on one approval that do not depend on the clock or on other
/// approvals.
fn check_approval<'a>(
    request: &SignedRequest,
    approval: &Approval,
    staff: &'a StaffSet,
    policy: &ActionPolicy,
) -> Result<&'a StaffMember, Violation> {
    let filed_at = request.request().filed_at;
    let expires_at = filed_at.saturating_add(policy.expiry_secs);
    let member = staff
        .member(&approval.staff)
        .ok_or_else(|| Violation::UnknownStaff {
            staff: approval.staff.clone(),
        })?;
    if approval.request != request.hash() || !approval.verify(member) {
        return Err(Violation::BadSignature {
            staff: member.id.clone(),
        });
    }
    if approval.staff == request.request().requester {
        return Err(Violation::SelfApproval {
            staff: member.id.clone(),
        });
    }
    check_member(member, Role::Approver, request.request(), policy)?;
    // Clocks differ a little between requester and approver, so an approval
    // may carry a time up to the skew before the filing time.
    if approval.signed_at < filed_at.saturating_sub(MAX_CLOCK_SKEW_SECS)
        || approval.signed_at >= expires_at
    {
        return Err(Violation::OutsideWindow {
            staff: member.id.clone(),
            signed_at: approval.signed_at,
            filed_at,
            expires_at,
        });
    }
    Ok(member)
}

/// Role and jurisdiction of a staff member acting on `request`.
pub(crate) fn check_member(
    member: &StaffMember,
    role: Role,
    request: &Request,
    policy: &ActionPolicy,
) -> Result<(), Violation> {
    if !member.has_role(role) {
        return Err(Violation::MissingRole {
            staff: member.id.clone(),
            role,
        });
    }
    if !policy
        .eligibility
        .permits(member.jurisdiction, request.region)
    {
        return Err(Violation::NotEligible {
            staff: member.id.clone(),
            jurisdiction: member.jurisdiction,
            region: request.region,
            action: request.action.kind(),
        });
    }
    Ok(())
}

/// The evidence rules of threat T5: verified evidence grounds action only
/// against the account it is about (or, for ending a meeting, only comes from
/// that meeting); a policy that needs verified evidence is not met by
/// screenshots and free text.
pub(crate) fn check_evidence(request: &Request, policy: &ActionPolicy) -> Result<(), Violation> {
    let kind = request.action.kind();
    for item in &request.evidence {
        let EvidenceRecord::FrankedMessage {
            sender, meeting, ..
        } = item
        else {
            continue;
        };
        match &request.action {
            Action::EndMeeting { meeting: subject } => {
                if meeting_digest(subject) != *meeting {
                    return Err(Violation::EvidenceFromOtherMeeting);
                }
            }
            Action::SuspendAccount { account }
            | Action::ReinstateAccount { account }
            | Action::DiscloseAccountData { account, .. } => {
                if sender != account {
                    return Err(Violation::EvidenceAboutOther {
                        evidence_about: sender.clone(),
                    });
                }
            }
            Action::AddStaff { .. } | Action::RemoveStaff { .. } | Action::ChangePolicy { .. } => {
                return Err(Violation::EvidenceNotApplicable { action: kind });
            }
        }
    }
    if policy.verified_evidence && !request.evidence.iter().any(EvidenceRecord::is_verified) {
        return Err(Violation::VerifiedEvidenceRequired { action: kind });
    }
    Ok(())
}

/// Whether staff and policy changes can still be approved under `policy` by
/// `staff`: someone may request, and enough approvers from enough
/// jurisdictions are eligible. A change that would break this could never be
/// undone, so it is refused.
pub(crate) fn check_governable(staff: &StaffSet, policy: &Policy) -> Result<(), Violation> {
    for action in [
        ActionKind::AddStaff,
        ActionKind::RemoveStaff,
        ActionKind::ChangePolicy,
    ] {
        let rules = policy.action(action);
        let eligible = |member: &&StaffMember| {
            rules
                .eligibility
                .permits(member.jurisdiction, crate::Region::Global)
        };
        let requesters = staff
            .members()
            .filter(eligible)
            .filter(|m| m.has_role(Role::Requester))
            .count();
        let approvers: Vec<&StaffMember> = staff
            .members()
            .filter(eligible)
            .filter(|m| m.has_role(Role::Approver))
            .collect();
        let jurisdictions: BTreeSet<_> = approvers.iter().map(|m| m.jurisdiction).collect();
        // One requester who is not among the approvers, or approvers to spare.
        let spare_requester = staff
            .members()
            .filter(eligible)
            .any(|m| m.has_role(Role::Requester) && !m.has_role(Role::Approver));
        let approvers_needed = usize::from(rules.approvals) + usize::from(!spare_requester);
        if requesters == 0
            || approvers.len() < approvers_needed
            || jurisdictions.len() < usize::from(rules.distinct_jurisdictions)
        {
            return Err(Violation::NotApplicable {
                reason: format!(
                    "{action} would need {} approvers from {} jurisdictions besides a requester, and the staff has {} approvers from {} jurisdictions and {} requesters",
                    rules.approvals,
                    rules.distinct_jurisdictions,
                    approvers.len(),
                    jurisdictions.len(),
                    requesters
                ),
            });
        }
    }
    Ok(())
}

/// Staff ids of everyone who took part in a certificate's decision.
pub(crate) fn participants(certificate: &QuorumCertificate) -> BTreeSet<StaffId> {
    std::iter::once(certificate.request().requester.clone())
        .chain(
            certificate
                .approvals()
                .iter()
                .map(|approval| approval.staff.clone()),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::content_digest;
    use crate::jurisdiction::Region;
    use crate::policy::tests::simple;

    fn request(action: Action, evidence: Vec<EvidenceRecord>) -> Request {
        let region = if action.kind().has_user_subject() {
            Region::Country("DE".parse().unwrap())
        } else {
            Region::Global
        };
        Request {
            action,
            region,
            reasons: "reasons".into(),
            evidence,
            requester: "alice".parse().unwrap(),
            filed_at: 0,
            notice_delay_secs: 0,
            nonce: [0; 32],
        }
    }

    fn franked(sender: &str, meeting: &str) -> EvidenceRecord {
        EvidenceRecord::FrankedMessage {
            sender: sender.parse().unwrap(),
            meeting: meeting_digest(&meeting.parse().unwrap()),
            sent_at_millis: 0,
            content: content_digest(b"x"),
        }
    }

    #[test]
    fn franked_evidence_to_end_a_meeting_must_come_from_it() {
        let (m1, m2, x) = (
            "MMMMMMMMMMMMMMMMMMMMM1",
            "MMMMMMMMMMMMMMMMMMMMM2",
            "XXXXXXXXXXXXXXXXXXXXXX",
        );
        let mut policy = simple(2, 2);
        policy.verified_evidence = true;
        let end = |evidence| {
            request(
                Action::EndMeeting {
                    meeting: m1.parse().unwrap(),
                },
                evidence,
            )
        };
        assert_eq!(check_evidence(&end(vec![franked(x, m1)]), &policy), Ok(()));
        assert_eq!(
            check_evidence(&end(vec![franked(x, m2)]), &policy),
            Err(Violation::EvidenceFromOtherMeeting)
        );
        assert_eq!(
            check_evidence(&end(vec![EvidenceRecord::text("t")]), &policy),
            Err(Violation::VerifiedEvidenceRequired {
                action: ActionKind::EndMeeting
            })
        );
    }

    #[test]
    fn mixed_evidence_about_someone_else_is_refused_even_beside_good_evidence() {
        let (h, x, m) = (
            "HHHHHHHHHHHHHHHHHHHHHH",
            "XXXXXXXXXXXXXXXXXXXXXX",
            "MMMMMMMMMMMMMMMMMMMMMM",
        );
        let suspend = request(
            Action::SuspendAccount {
                account: h.parse().unwrap(),
            },
            vec![franked(h, m), franked(x, m)],
        );
        assert!(matches!(
            check_evidence(&suspend, &simple(2, 2)),
            Err(Violation::EvidenceAboutOther { .. })
        ));
        let remove = request(
            Action::RemoveStaff {
                staff: "bob".parse().unwrap(),
            },
            vec![franked(x, m)],
        );
        assert_eq!(
            check_evidence(&remove, &simple(2, 2)),
            Err(Violation::EvidenceNotApplicable {
                action: ActionKind::RemoveStaff
            })
        );
    }
}
