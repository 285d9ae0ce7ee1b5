//! `Oversight::resume`: a core rebuilt from its own ledger entries is the
//! core that wrote them, and entries that do not check out stop the replay.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::*;
use oversight::*;

/// A world with one request in every state worth keeping across a restart,
/// and the hashes of each.
struct Story {
    world: World,
    pending: RequestHash,
    appealed: RequestHash,
    vetoed: RequestHash,
    sealed: RequestHash,
    sealed_request: SignedRequest,
}

fn story() -> Story {
    let mut world = World::new();
    // Pending with one approval.
    let signed = world.request(
        "alice",
        Action::EndMeeting {
            meeting: meeting(1),
        },
        country("DE"),
        vec![],
        T0,
    );
    let pending = world.file(signed, T0).unwrap();
    let approval = world.approval("carol", pending, T0 + 1);
    world
        .ledger
        .take(world.oversight.approve(approval, T0 + 1))
        .unwrap();

    // Executed, noticed and appealed.
    let signed = world.request(
        "alice",
        Action::EndMeeting {
            meeting: meeting(2),
        },
        country("DE"),
        vec![],
        T0,
    );
    let appealed = world.file(signed, T0).unwrap();
    for (staff, at) in [("carol", T0 + 2), ("dave", T0 + 3)] {
        let approval = world.approval(staff, appealed, at);
        let _ = world
            .ledger
            .take(world.oversight.approve(approval, at))
            .unwrap();
    }
    let execution = world
        .ledger
        .decoded()
        .iter()
        .rposition(|entry| matches!(entry, OversightEntry::Execution(_)))
        .unwrap() as u64;
    world
        .ledger
        .take(world.oversight.notice(appealed, execution, T0 + 4))
        .unwrap();
    // The host appeals (the shell has checked that account(2) hosts it).
    world
        .ledger
        .take(world.oversight.appeal_as_host(
            appealed,
            &account(2),
            &meeting(2),
            "I was not told",
            T0 + 5,
        ))
        .unwrap();

    // Vetoed.
    let signed = world.request(
        "bob",
        Action::EndMeeting {
            meeting: meeting(3),
        },
        country("DE"),
        vec![],
        T0,
    );
    let vetoed = world.file(signed, T0).unwrap();
    let veto = world.veto("carol", vetoed, T0 + 6);
    world
        .ledger
        .take(world.oversight.veto(veto, T0 + 6))
        .unwrap();

    // A delayed disclosure, executed under seal.
    let mut request = world
        .request(
            "alice",
            Action::DiscloseAccountData {
                account: account(4),
                fields: AccountField::ALL.into(),
                recipient: "Staatsanwaltschaft Berlin, case 123 Js 456/23".into(),
            },
            country("DE"),
            vec![],
            T0,
        )
        .request()
        .clone();
    request.notice_delay_secs = DAY;
    let sealed_request = SignedRequest::sign(request, world.key("alice"));
    let sealed = world.file(sealed_request.clone(), T0).unwrap();
    for (staff, at) in [("carol", T0 + 7), ("dave", T0 + 8)] {
        let approval = world.approval(staff, sealed, at);
        let _ = world
            .ledger
            .take(world.oversight.approve(approval, at))
            .unwrap();
    }
    Story {
        world,
        pending,
        appealed,
        vetoed,
        sealed,
        sealed_request,
    }
}

fn indexed(ledger: &Ledger) -> Vec<(u64, OversightEntry)> {
    (0..).zip(ledger.decoded()).collect()
}

#[test]
fn a_resumed_core_has_every_request_notice_and_deadline_of_the_one_that_wrote_the_log() {
    let mut story = story();
    let tags = story.world.ledger.tags();
    assert!(
        tags.iter().any(|tag| tag == "oversight.commitment"),
        "{tags:?}"
    );
    let sealed = BTreeMap::from([(story.sealed, story.sealed_request.clone())]);
    let mut resumed = Oversight::resume(indexed(&story.world.ledger), &sealed).unwrap();
    let original = &story.world.oversight;
    for hash in [story.pending, story.appealed, story.vetoed, story.sealed] {
        assert_eq!(resumed.state(&hash), original.state(&hash), "{hash}");
        assert_eq!(resumed.request(&hash), original.request(&hash));
    }
    assert_eq!(resumed.notices(), original.notices());
    assert_eq!(resumed.notices().len(), 1);
    assert_eq!(resumed.next_deadline(), original.next_deadline());
    assert_eq!(resumed.staff(), original.staff());
    assert_eq!(resumed.policy(), original.policy());

    // The pending request completes with its second approval.
    let approval = story.world.approval("dave", story.pending, T0 + 10);
    let done = resumed.approve(approval.clone(), T0 + 10);
    assert!(matches!(done.outcome, Ok(Progress::Executed(_))));
    // The notice already issued is not issued twice, nor the appeal.
    assert!(resumed.notice(story.appealed, 0, T0 + 11).outcome.is_err());
    assert!(resumed
        .appeal_as_host(story.appealed, &account(2), &meeting(2), "Again", T0 + 11)
        .outcome
        .is_err());
    // The sealed disclosure opens at its deadline with the certificate that
    // was committed to.
    let due_at = resumed.next_deadline().unwrap();
    let opened = resumed.poll_due(due_at);
    let expected = story.world.oversight.poll_due(due_at);
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].opening, expected[0].opening);
    // The original agrees on the pending request's completion.
    assert!(matches!(
        story.world.oversight.approve(approval, T0 + 10).outcome,
        Ok(Progress::Executed(_))
    ));
}

/// A server that stopped between an execution and its notice finds the execution again
/// on resume, with the entry its notice must prove; once the notice is issued, or for
/// executions noticed before, there is nothing to catch up.
#[test]
fn an_execution_whose_notice_was_never_written_is_found_on_resume() {
    let mut story = story();
    let signed = story.world.request(
        "alice",
        Action::EndMeeting {
            meeting: meeting(5),
        },
        country("DE"),
        vec![],
        T0,
    );
    let ended = story.world.file(signed, T0).unwrap();
    for (staff, at) in [("carol", T0 + 20), ("dave", T0 + 21)] {
        let approval = story.world.approval(staff, ended, at);
        let _ = story
            .world
            .ledger
            .take(story.world.oversight.approve(approval, at))
            .unwrap();
    }
    // The server stops here, before the notice.
    let execution = story
        .world
        .ledger
        .decoded()
        .iter()
        .rposition(|entry| matches!(entry, OversightEntry::Execution(_)))
        .unwrap() as u64;
    let sealed = BTreeMap::from([(story.sealed, story.sealed_request.clone())]);
    let mut resumed = Oversight::resume(indexed(&story.world.ledger), &sealed).unwrap();
    assert_eq!(
        resumed.unnoticed(),
        [Unnoticed {
            request: ended,
            action: Action::EndMeeting {
                meeting: meeting(5),
            },
            ledger_index: execution,
        }]
    );
    let notice = resumed.notice(ended, execution, T0 + 30).outcome.unwrap();
    assert_eq!(notice.ledger_index, execution);
    assert!(resumed.unnoticed().is_empty());

    // The sealed disclosure needs its notice only once it opens, which the log shows.
    let due_at = T0 + 2 * DAY;
    let opened = resumed.poll_due(due_at);
    let mut ledger = story.world.ledger;
    let positions = ledger.append_all(&[opened[0].opening.clone()]);
    let mut resumed = Oversight::resume(indexed(&ledger), &sealed).unwrap();
    let unnoticed = resumed.unnoticed();
    assert_eq!(
        unnoticed
            .iter()
            .map(|u| (u.request, u.ledger_index))
            .collect::<Vec<_>>(),
        [(ended, execution), (story.sealed, positions[0])]
    );
    for late in unnoticed {
        assert!(resumed
            .notice(late.request, late.ledger_index, due_at)
            .outcome
            .is_ok());
    }
    assert!(resumed.unnoticed().is_empty());
}

#[test]
fn a_resumed_core_keeps_the_one_appeal_and_its_decision() {
    let mut world = World::new();
    let subject = account(7);
    let mut request = world
        .request(
            "alice",
            Action::DiscloseAccountData {
                account: subject.clone(),
                fields: [AccountField::Username].into(),
                recipient: "Tribunal judiciaire de Paris, RG 23/123".into(),
            },
            country("DE"),
            vec![],
            T0,
        )
        .request()
        .clone();
    request.notice_delay_secs = 0;
    let hash = world
        .file(SignedRequest::sign(request, world.key("alice")), T0)
        .unwrap();
    for (staff, at) in [("carol", T0 + 1), ("dave", T0 + 2)] {
        let approval = world.approval(staff, hash, at);
        let _ = world
            .ledger
            .take(world.oversight.approve(approval, at))
            .unwrap();
    }
    let execution = (world.ledger.len() - 1) as u64;
    world
        .ledger
        .take(world.oversight.notice(hash, execution, T0 + 3))
        .unwrap();
    world
        .ledger
        .take(
            world
                .oversight
                .appeal(hash, &subject, "Wrong account", T0 + 4),
        )
        .unwrap();

    let mut resumed = Oversight::resume(indexed(&world.ledger), &BTreeMap::new()).unwrap();
    assert!(
        resumed
            .appeal(hash, &subject, "Again", T0 + 5)
            .outcome
            .is_err(),
        "a second appeal after a restart"
    );
    let mut decision =
        AppealDecision::new(hash, true, "The order names this account".into(), T0 + 6);
    decision.sign(id("frank"), world.key("frank"));
    decision.sign(id("gina"), world.key("gina"));
    let decided = resumed.decide_appeal(decision, T0 + 6);
    assert!(decided.outcome.unwrap().upheld);
    world.ledger.append_all(&decided.entries);

    let mut again = Oversight::resume(indexed(&world.ledger), &BTreeMap::new()).unwrap();
    assert_eq!(
        again.appeal_status(&hash),
        Some(AppealStatus::Decided {
            upheld: true,
            reasons: "The order names this account".into()
        })
    );
    let mut second = AppealDecision::new(hash, false, "Overturned".into(), T0 + 7);
    second.sign(id("frank"), world.key("frank"));
    second.sign(id("gina"), world.key("gina"));
    assert!(
        again.decide_appeal(second, T0 + 7).outcome.is_err(),
        "an appeal decided before the restart is decided again"
    );
}

#[test]
fn a_forged_approval_stops_the_replay_naming_its_index() {
    let story = story();
    let sealed = BTreeMap::from([(story.sealed, story.sealed_request.clone())]);
    let mut entries = indexed(&story.world.ledger);
    let (index, entry) = entries
        .iter_mut()
        .find(|(_, entry)| matches!(entry, OversightEntry::Approval(_)))
        .unwrap();
    let OversightEntry::Approval(approval) = entry else {
        unreachable!()
    };
    approval.signed_at += 1;
    let index = *index;
    let error = Oversight::resume(entries, &sealed).unwrap_err();
    assert_eq!(
        error,
        ResumeError::BadSignature {
            index,
            staff: id("carol")
        }
    );
    assert!(error.to_string().contains(&format!("entry {index}")));
}

#[test]
fn a_sealed_request_without_its_private_copy_stops_the_replay() {
    let story = story();
    let error = Oversight::resume(indexed(&story.world.ledger), &BTreeMap::new()).unwrap_err();
    assert!(
        matches!(error, ResumeError::SealedMissing { request, .. } if request == story.sealed),
        "{error}"
    );
    // Another request's body under the sealed hash is no copy either.
    let wrong = story
        .world
        .oversight
        .request(&story.pending)
        .unwrap()
        .clone();
    let error = Oversight::resume(
        indexed(&story.world.ledger),
        &BTreeMap::from([(story.sealed, wrong)]),
    )
    .unwrap_err();
    assert!(
        matches!(error, ResumeError::SealedMissing { .. }),
        "{error}"
    );
}

#[test]
fn a_dropped_entry_is_noticed() {
    let story = story();
    let sealed = BTreeMap::from([(story.sealed, story.sealed_request.clone())]);
    let mut entries = indexed(&story.world.ledger);
    // Drop the filing of the pending request: its approval no longer follows.
    let filed = entries
        .iter()
        .position(|(_, entry)| {
            matches!(entry, OversightEntry::Request(FiledRequest::Open(signed)) if signed.hash() == story.pending)
        })
        .unwrap();
    entries.remove(filed);
    let error = Oversight::resume(entries, &sealed).unwrap_err();
    assert!(
        matches!(error, ResumeError::OutOfOrder { request, .. } if request == story.pending),
        "{error}"
    );
}
