//! Property tests: every canonical encoding round-trips, anything that
//! decodes re-encodes to the same bytes (one value, one encoding), and no
//! parser of signed or outside input panics on arbitrary bytes.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use ed25519_dalek::{Signature, SigningKey};
use ledger::{Entry, EntryTag, Hash};
use oversight::*;
use proptest::prelude::*;

const CODES: [&str; 10] = ["DE", "FR", "US", "CN", "HK", "GB", "BR", "JP", "NL", "ZA"];

fn jurisdiction() -> impl Strategy<Value = Jurisdiction> {
    prop::sample::select(&CODES[..]).prop_map(|code| code.parse().unwrap())
}

fn opaque() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{22}"
}

fn staff_id() -> impl Strategy<Value = StaffId> {
    "[a-z0-9][a-z0-9_.-]{0,20}".prop_map(|id| id.parse().unwrap())
}

fn hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(Hash)
}

fn signature() -> impl Strategy<Value = Signature> {
    any::<[u8; 32]>().prop_map(|r| {
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&r);
        Signature::from_bytes(&bytes)
    })
}

fn member() -> impl Strategy<Value = StaffMember> {
    (
        staff_id(),
        any::<[u8; 32]>(),
        jurisdiction(),
        prop::collection::btree_set(prop::sample::select(&Role::ALL[..]), 1..=3),
    )
        .prop_map(|(id, seed, jurisdiction, roles)| StaffMember {
            id,
            public_key: SigningKey::from_bytes(&seed).verifying_key(),
            jurisdiction,
            roles,
        })
}

fn jurisdiction_set() -> impl Strategy<Value = JurisdictionSet> {
    prop_oneof![
        Just(JurisdictionSet::Any),
        prop::collection::btree_set(jurisdiction(), 0..4).prop_map(JurisdictionSet::Only),
    ]
}

fn region_table() -> impl Strategy<Value = BTreeMap<RegionRule, JurisdictionSet>> {
    let rule = prop_oneof![
        Just(RegionRule::Any),
        jurisdiction().prop_map(RegionRule::Country)
    ];
    prop::collection::btree_map(rule, jurisdiction_set(), 0..4)
}

fn policy_for(kind: ActionKind) -> impl Strategy<Value = ActionPolicy> {
    (
        1u8..=MAX_APPROVALS,
        any::<u8>(),
        any::<bool>(),
        MIN_EXPIRY_SECS..=MAX_EXPIRY_SECS,
        0..=MAX_NOTICE_DELAY_SECS,
        region_table(),
        region_table(),
    )
        .prop_map(
            move |(approvals, distinct, verified, expiry_secs, delay, allow, bar)| ActionPolicy {
                approvals,
                distinct_jurisdictions: distinct % approvals + 1,
                verified_evidence: verified && kind.has_user_subject(),
                expiry_secs,
                max_notice_delay_secs: if kind == ActionKind::DiscloseAccountData {
                    delay
                } else {
                    0
                },
                eligibility: Eligibility { allow, bar },
            },
        )
}

fn evidence() -> impl Strategy<Value = EvidenceRecord> {
    prop_oneof![
        (opaque(), hash(), any::<u64>(), hash()).prop_map(
            |(sender, meeting, sent_at_millis, content)| {
                EvidenceRecord::FrankedMessage {
                    sender: sender.parse().unwrap(),
                    meeting,
                    sent_at_millis,
                    content,
                }
            }
        ),
        hash().prop_map(|content| EvidenceRecord::Screenshot { content }),
        hash().prop_map(|content| EvidenceRecord::Text { content }),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    let kind = prop::sample::select(&ActionKind::ALL[..]);
    prop_oneof![
        opaque().prop_map(|m| Action::EndMeeting {
            meeting: m.parse().unwrap()
        }),
        opaque().prop_map(|a| Action::SuspendAccount {
            account: a.parse().unwrap()
        }),
        opaque().prop_map(|a| Action::ReinstateAccount {
            account: a.parse().unwrap()
        }),
        (
            opaque(),
            prop::collection::btree_set(prop::sample::select(&AccountField::ALL[..]), 1..=4),
            "[A-Za-z][A-Za-z0-9 ,./]{0,60}"
        )
            .prop_map(|(a, fields, recipient)| Action::DiscloseAccountData {
                account: a.parse().unwrap(),
                fields,
                recipient
            }),
        member().prop_map(|member| Action::AddStaff { member }),
        staff_id().prop_map(|staff| Action::RemoveStaff { staff }),
        kind.prop_flat_map(
            |kind| policy_for(kind).prop_map(move |policy| Action::ChangePolicy {
                action: kind,
                policy
            })
        ),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    (
        action(),
        jurisdiction(),
        "[A-Za-z][A-Za-z0-9 .,;:!?'-]{0,300}",
        prop::collection::vec(evidence(), 0..=MAX_EVIDENCE),
        staff_id(),
        any::<u64>(),
        any::<u64>(),
        any::<[u8; 32]>(),
    )
        .prop_map(
            |(
                action,
                country,
                reasons,
                evidence,
                requester,
                filed_at,
                notice_delay_secs,
                nonce,
            )| {
                let region = if action.kind().has_user_subject() {
                    Region::Country(country)
                } else {
                    Region::Global
                };
                Request {
                    action,
                    region,
                    reasons,
                    evidence,
                    requester,
                    filed_at,
                    notice_delay_secs,
                    nonce,
                }
            },
        )
}

fn approval() -> impl Strategy<Value = Approval> {
    (hash(), staff_id(), any::<u64>(), signature()).prop_map(
        |(request, staff, signed_at, signature)| Approval {
            request: RequestHash(request),
            staff,
            signed_at,
            signature,
        },
    )
}

fn certificate() -> impl Strategy<Value = QuorumCertificate> {
    (
        request(),
        signature(),
        prop::collection::vec(approval(), 0..5),
        any::<u64>(),
    )
        .prop_map(|(request, signature, approvals, executed_at)| {
            QuorumCertificate::from_parts(
                SignedRequest::from_parts(request, signature),
                approvals,
                executed_at,
            )
        })
}

fn entry() -> impl Strategy<Value = OversightEntry> {
    let cause = prop_oneof![
        Just(Cause::Genesis),
        hash().prop_map(|h| Cause::Request(RequestHash(h)))
    ];
    prop_oneof![
        (cause.clone(), member()).prop_map(|(cause, m)| OversightEntry::Staff {
            cause,
            change: StaffChange::Added(m)
        }),
        (cause.clone(), staff_id()).prop_map(|(cause, id)| OversightEntry::Staff {
            cause,
            change: StaffChange::Removed(id)
        }),
        (cause, prop::sample::select(&ActionKind::ALL[..])).prop_flat_map(|(cause, kind)| {
            policy_for(kind).prop_map(move |policy| OversightEntry::Policy {
                cause,
                action: kind,
                policy,
            })
        }),
        (request(), signature()).prop_map(|(r, s)| OversightEntry::Request(FiledRequest::Open(
            SignedRequest::from_parts(r, s)
        ))),
        (
            hash(),
            prop::sample::select(&ActionKind::ALL[..]),
            any::<u64>()
        )
            .prop_map(|(h, action, filed_at)| {
                OversightEntry::Request(FiledRequest::Sealed {
                    request: RequestHash(h),
                    action,
                    filed_at,
                })
            }),
        approval().prop_map(OversightEntry::Approval),
        (approval(), "[a-z][a-z ]{0,50}").prop_map(|(a, reason)| OversightEntry::Veto(Veto {
            request: a.request,
            staff: a.staff,
            signed_at: a.signed_at,
            reason,
            signature: a.signature,
        })),
        (
            hash(),
            prop::option::of(staff_id()),
            0usize..5,
            any::<u64>(),
            "[a-z_]{0,30}",
            ".{0,100}"
        )
            .prop_map(|(h, staff, step, at, code, text)| OversightEntry::Refusal(
                Refusal {
                    request: RequestHash(h),
                    staff,
                    step: [
                        Step::File,
                        Step::Approve,
                        Step::Veto,
                        Step::Execute,
                        Step::DecideAppeal
                    ][step],
                    at,
                    code,
                    text,
                }
            )),
        certificate().prop_map(OversightEntry::Execution),
        certificate().prop_map(OversightEntry::Opening),
        (hash(), any::<u64>()).prop_map(|(h, expired_at)| OversightEntry::Expiry {
            request: RequestHash(h),
            expired_at
        }),
        (hash(), hash(), any::<u64>(), any::<u64>()).prop_map(
            |(h, commitment, executed_at, due_at)| {
                OversightEntry::Commitment {
                    request: RequestHash(h),
                    commitment,
                    executed_at,
                    due_at,
                }
            }
        ),
        (
            hash(),
            opaque(),
            any::<bool>(),
            "[A-Za-z ]{0,80}",
            any::<u64>(),
            any::<u64>()
        )
            .prop_map(|(h, subject, account, reasons, ledger_index, issued_at)| {
                OversightEntry::Notice(Notice {
                    request: RequestHash(h),
                    action: ActionKind::SuspendAccount,
                    subject: if account {
                        NoticeSubject::Account(subject.parse().unwrap())
                    } else {
                        NoticeSubject::Meeting(subject.parse().unwrap())
                    },
                    reasons,
                    ledger_index,
                    issued_at,
                })
            }),
        (hash(), opaque(), ".{0,50}", any::<u64>()).prop_map(|(h, a, statement, at)| {
            OversightEntry::Appeal(Appeal::new(
                RequestHash(h),
                a.parse().unwrap(),
                &statement,
                at,
            ))
        }),
        (
            hash(),
            any::<bool>(),
            ".{0,50}",
            any::<u64>(),
            prop::collection::vec((staff_id(), signature()), 0..4)
        )
            .prop_map(|(h, upheld, reasons, decided_at, signatures)| {
                let mut decision = AppealDecision::new(RequestHash(h), upheld, reasons, decided_at);
                decision.signatures = signatures;
                OversightEntry::AppealDecision(decision)
            }),
    ]
}

const TAGS: [&str; 13] = [
    "oversight.staff",
    "oversight.policy",
    "oversight.request",
    "oversight.approval",
    "oversight.veto",
    "oversight.refusal",
    "oversight.execution",
    "oversight.expiry",
    "oversight.commitment",
    "oversight.opening",
    "oversight.notice",
    "oversight.appeal",
    "oversight.appeal_decision",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn requests_round_trip(request in request()) {
        let bytes = request.encode();
        prop_assert_eq!(Request::decode(&bytes).unwrap(), request.clone());
        let signed = SignedRequest::from_parts(request, Signature::from_bytes(&[3; 64]));
        prop_assert_eq!(SignedRequest::decode(&signed.encode()).unwrap(), signed);
    }

    #[test]
    fn entries_round_trip_through_the_ledger(entry in entry()) {
        let bytes = entry.to_ledger().encode();
        let decoded = OversightEntry::from_ledger(&Entry::decode(&bytes).unwrap()).unwrap();
        prop_assert_eq!(decoded, entry);
    }

    #[test]
    fn certificates_and_signed_inputs_round_trip(certificate in certificate(), approval in approval()) {
        prop_assert_eq!(QuorumCertificate::decode(&certificate.encode()).unwrap(), certificate);
        prop_assert_eq!(Approval::decode(&approval.encode()).unwrap(), approval);
    }

    /// One value, one encoding: a flipped byte either fails to decode or
    /// decodes to a value whose encoding is exactly the altered bytes.
    #[test]
    fn altered_encodings_fail_or_stay_canonical(entry in entry(), position in any::<prop::sample::Index>(), xor in 1u8..) {
        let body = entry.body();
        let mut altered = body.clone();
        let at = position.index(altered.len());
        altered[at] ^= xor;
        let tag = EntryTag::new(entry.tag()).unwrap();
        if let Ok(decoded) = OversightEntry::from_ledger(&Entry::new(tag, altered.clone()).unwrap()) {
            prop_assert_eq!(decoded.body(), altered);
        }
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..600), tag in 0usize..TAGS.len()) {
        let _ = Request::decode(&bytes);
        let _ = SignedRequest::decode(&bytes);
        let _ = Approval::decode(&bytes);
        let _ = Veto::decode(&bytes);
        let _ = QuorumCertificate::decode(&bytes);
        let _ = AppealDecision::decode(&bytes);
        let entry = Entry::new(EntryTag::new(TAGS[tag]).unwrap(), bytes.clone()).unwrap();
        let _ = OversightEntry::from_ledger(&entry);
        let mut versioned = vec![1];
        versioned.extend_from_slice(&bytes);
        let _ = OversightEntry::from_ledger(&Entry::new(EntryTag::new(TAGS[tag]).unwrap(), versioned).unwrap());
    }

    #[test]
    fn text_parsers_never_panic(text in ".{0,300}") {
        let _ = StaffAuthorization::parse(&text);
        let _ = StaffAuthorization::parse(&format!("Conclave-Staff {text}"));
        let _ = text.parse::<RequestHash>();
        let _ = text.parse::<Jurisdiction>();
        let _ = text.parse::<StaffId>();
        let _ = parse_public_key(&text);
        let _ = Genesis::from_toml(&text);
        let _ = Genesis::from_toml(&format!("[oversight]\n{text}"));
    }

    #[test]
    fn staff_authorization_round_trips(id in staff_id(), seed in any::<[u8; 32]>(), ts in any::<u64>(), nonce in any::<[u8; 16]>(), body in prop::collection::vec(any::<u8>(), 0..100)) {
        let key = SigningKey::from_bytes(&seed);
        let auth = StaffAuthorization::sign(id, &key, "POST", "/api/v1/staff/requests", &body, ts, nonce);
        prop_assert_eq!(StaffAuthorization::parse(&auth.to_header()).unwrap(), auth);
    }
}
