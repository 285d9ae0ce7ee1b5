//! The MLS group driver end to end: real members (openmls clients) and the real server view,
//! wired together in memory the way the signaling server will relay their messages.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use e2ee::franking::{
    AccountId, FrankingError, FrankingKey, FrankingTag, MeetingId, ServerFrankingKey, Timestamp,
};
use e2ee::identity::{
    Admission, Admissions, IdentityKeyPair, KeyDirectory, MemberIdentity, MemberKind, ParticipantId,
};
use e2ee::media::{MediaError, EPOCH_GRACE};
use e2ee::member::{
    GhostError, HandshakeOutcome, Member, MemberError, PendingMember, ProposalOutcome,
};
use e2ee::server_view::{
    CommitRefused, ServerGroupView, ServerSigningKey, ServerViewError, ValidatedKeyPackage,
};

const GROUP_ID: &[u8] = b"meeting-under-test";

/// A meeting: the server's view, its key, the directory and the seated members.
struct Meeting {
    server_key: ServerSigningKey,
    server: ServerGroupView,
    directory: KeyDirectory,
    /// Everyone the server announced as admitted so far (what a joiner is told is seated).
    announced: Admissions,
    /// The same, in order, to pass on to each joiner.
    announcements: Vec<Admission>,
    members: Vec<Member>,
}

fn participant(name: &str) -> ParticipantId {
    ParticipantId::new(name).unwrap()
}

/// A participant with an account whose key is in the directory.
fn account_member(name: &str, directory: &mut KeyDirectory) -> PendingMember {
    let keys = IdentityKeyPair::generate(&mut rand::thread_rng());
    let account = AccountId::new(format!("acct-{name}")).unwrap();
    directory.insert(account.clone(), keys.public());
    PendingMember::new(MemberIdentity::account(participant(name), account), &keys).unwrap()
}

fn guest_member(name: &str) -> PendingMember {
    let keys = IdentityKeyPair::generate(&mut rand::thread_rng());
    PendingMember::new(MemberIdentity::guest(participant(name)), &keys).unwrap()
}

fn admission_of(identity: &MemberIdentity) -> Admission {
    Admission {
        participant: identity.participant().clone(),
        account: identity.account_id().cloned(),
    }
}

impl Meeting {
    fn start(creator: &str, now: Instant) -> Self {
        let server_key = ServerSigningKey::generate(&mut rand::thread_rng());
        let mut directory = KeyDirectory::new();
        let creator = account_member(creator, &mut directory);
        let mut announced = Admissions::new();
        announced.record(admission_of(creator.identity()));
        let (member, bootstrap) = creator
            .create_group(GROUP_ID, &server_key.public(), now)
            .unwrap();
        let server = ServerGroupView::from_bootstrap(
            &bootstrap.group_info,
            &bootstrap.ratchet_tree,
            &server_key,
        )
        .unwrap();
        Self {
            server_key,
            server,
            directory,
            announced,
            announcements: Vec::new(),
            members: vec![member],
        }
    }

    /// The server admits `joiner`: announces it, proposes its Add to every member.
    fn announce_and_propose(&mut self, joiner: &PendingMember, now: Instant) {
        let admission = admission_of(joiner.identity());
        self.announced.record(admission.clone());
        self.announcements.push(admission.clone());
        let key_package = ValidatedKeyPackage::parse(joiner.key_package()).unwrap();
        assert_eq!(key_package.identity(), joiner.identity());
        let proposal = self.server.propose_add(key_package).unwrap();
        for member in &mut self.members {
            member.record_admission(admission.clone());
            let outcome = member
                .process_handshake(&proposal, &self.directory, now)
                .unwrap();
            assert!(matches!(
                outcome,
                HandshakeOutcome::ProposalQueued(ProposalOutcome::Add { .. })
            ));
        }
    }

    /// Relays `proposals` to every member.
    fn broadcast_proposals(&mut self, proposals: &[Vec<u8>], now: Instant) {
        for proposal in proposals {
            for member in &mut self.members {
                member
                    .process_handshake(proposal, &self.directory, now)
                    .unwrap();
            }
        }
    }

    /// The member whose turn it is commits; the server accepts; everyone follows; joiners join.
    fn commit_round(&mut self, joiners: Vec<PendingMember>, now: Instant) {
        let committer = self
            .members
            .iter()
            .position(|m| m.commit_delay(now) == Some(Duration::ZERO))
            .expect("someone's turn to commit");
        let outgoing = self.members[committer].commit_pending().unwrap().unwrap();
        let accepted = self
            .server
            .submit_commit(&outgoing.commit, outgoing.welcome.as_deref())
            .unwrap();
        for (i, member) in self.members.iter_mut().enumerate() {
            if i == committer {
                member.commit_accepted(now).unwrap();
            } else {
                member
                    .process_handshake(&accepted.commit, &self.directory, now)
                    .unwrap();
            }
        }
        self.members.retain(|m| !m.is_removed());
        if let Some(delivery) = &accepted.joiners {
            assert_eq!(delivery.recipients.len(), joiners.len());
            for joiner in joiners {
                assert!(delivery
                    .recipients
                    .contains(joiner.identity().participant()));
                let member = joiner
                    .join(
                        &delivery.welcome,
                        &delivery.ratchet_tree,
                        &self.server_key.public(),
                        &self.announced,
                        &self.directory,
                        now,
                    )
                    .unwrap();
                self.seat(member);
            }
        } else {
            assert!(joiners.is_empty());
        }
        let proposals = accepted.proposals.clone();
        self.broadcast_proposals(&proposals, now);
    }

    /// A joiner hears of the admissions still waiting for their Add, as seated members did.
    fn seat(&mut self, mut member: Member) {
        for admission in &self.announcements {
            member.record_admission(admission.clone());
        }
        self.members.push(member);
    }

    fn admit_account(&mut self, name: &str, now: Instant) {
        let joiner = account_member(name, &mut self.directory);
        self.admit(joiner, now);
    }

    fn admit(&mut self, joiner: PendingMember, now: Instant) {
        self.announce_and_propose(&joiner, now);
        self.commit_round(vec![joiner], now);
    }

    fn assert_in_sync(&self) {
        let epoch = self.server.epoch();
        let code = self.members[0].safety_code();
        for member in &self.members {
            assert_eq!(member.epoch(), epoch, "{member:?} is on another epoch");
            assert_eq!(member.safety_code(), code, "{member:?} shows another code");
            assert_eq!(member.roster().unwrap().len(), self.members.len());
        }
    }
}

fn five_member_meeting(now: Instant) -> Meeting {
    let mut meeting = Meeting::start("alice", now);
    for name in ["bob", "carol", "dave"] {
        let joiner = account_member(name, &mut meeting.directory);
        meeting.admit(joiner, now);
    }
    meeting.admit(guest_member("erin"), now);
    meeting
}

#[test]
fn five_members_share_one_epoch_code_media_and_chat() {
    let now = Instant::now();
    let mut meeting = five_member_meeting(now);
    meeting.assert_in_sync();
    assert_eq!(meeting.server.roster().unwrap().len(), 5);
    let code = meeting.members[0].safety_code().to_string();
    assert_eq!(code.len(), 35);

    // The roster comes from each member's own MLS state; the guest is flagged.
    let roster = meeting.members[1].roster().unwrap();
    let erin = roster
        .iter()
        .find(|entry| entry.identity.participant().as_str() == "erin")
        .unwrap();
    assert!(erin.identity.is_guest());
    assert_eq!(
        roster
            .iter()
            .filter(|entry| entry.identity.is_guest())
            .count(),
        1
    );

    // Every member's frames decrypt for every other member, with the sender's leaf.
    for sender in 0..meeting.members.len() {
        let frame = format!("frame from {sender}").into_bytes();
        let sframe = meeting.members[sender].encrypt_frame(&frame).unwrap();
        let sender_leaf = meeting.members[sender].own_leaf();
        for receiver in 0..meeting.members.len() {
            if receiver == sender {
                continue;
            }
            let decrypted = meeting.members[receiver]
                .decrypt_frame(&sframe, now)
                .unwrap();
            assert_eq!(decrypted.payload(), frame.as_slice());
            assert_eq!(decrypted.sender(), sender_leaf);
            assert_eq!(decrypted.epoch(), meeting.server.epoch());
        }
    }

    // Chat from each member opens for every other member, naming the MLS-authenticated sender.
    for sender in 0..meeting.members.len() {
        let text = format!("hello from {sender}").into_bytes();
        let chat = meeting.members[sender]
            .send_chat(&text, &mut rand::thread_rng())
            .unwrap();
        assert_eq!(
            meeting.server.check_chat(&chat.message).unwrap(),
            chat.commitment
        );
        let sender_identity = meeting.members[sender].identity().clone();
        for receiver in 0..meeting.members.len() {
            if receiver == sender {
                continue;
            }
            let received = meeting.members[receiver]
                .receive_chat(&chat.message, &chat.commitment)
                .unwrap();
            assert_eq!(received.plaintext(), text.as_slice());
            assert_eq!(received.sender(), &sender_identity);
        }
    }
}

#[test]
fn unannounced_add_is_refused_by_every_member_by_name() {
    let now = Instant::now();
    let mut meeting = five_member_meeting(now);
    // The server (a test double here: the real view, used without announcing) proposes a ghost.
    let ghost = account_member("ghost", &mut meeting.directory);
    let proposal = meeting
        .server
        .propose_add(ValidatedKeyPackage::parse(ghost.key_package()).unwrap())
        .unwrap();
    for member in &mut meeting.members {
        let error = member
            .process_handshake(&proposal, &meeting.directory, now)
            .unwrap_err();
        match error {
            MemberError::Ghost(GhostError::NotAdmitted { identity }) => {
                assert_eq!(identity.participant().as_str(), "ghost");
                assert_eq!(
                    identity.kind(),
                    &MemberKind::Account(AccountId::new("acct-ghost").unwrap())
                );
            }
            other => panic!("expected NotAdmitted, got {other:?}"),
        }
        assert!(
            member.commit_delay(now).is_none(),
            "nothing may be committed"
        );
        assert!(member.commit_pending().unwrap().is_none());
    }

    // Announced as a guest but carrying an account credential: still refused.
    let impostor = account_member("mallory", &mut meeting.directory);
    let proposal = meeting
        .server
        .propose_add(ValidatedKeyPackage::parse(impostor.key_package()).unwrap())
        .unwrap();
    for member in &mut meeting.members {
        member.record_admission(Admission {
            participant: participant("mallory"),
            account: None,
        });
        let error = member
            .process_handshake(&proposal, &meeting.directory, now)
            .unwrap_err();
        assert!(
            matches!(&error, MemberError::Ghost(ghost) if ghost.identity().unwrap().participant().as_str() == "mallory"),
            "{error:?}"
        );
    }
}

#[test]
fn a_joiner_refuses_a_tree_with_an_unannounced_member() {
    let now = Instant::now();
    let mut meeting = Meeting::start("alice", now);
    let bob = account_member("bob", &mut meeting.directory);
    let carol = account_member("carol", &mut meeting.directory);
    meeting.announce_and_propose(&bob, now);
    meeting.announce_and_propose(&carol, now);
    let outgoing = meeting.members[0].commit_pending().unwrap().unwrap();
    let accepted = meeting
        .server
        .submit_commit(&outgoing.commit, outgoing.welcome.as_deref())
        .unwrap();
    let delivery = accepted.joiners.unwrap();
    // Carol is told only alice and herself are seated: bob is a ghost to her.
    let mut told = Admissions::new();
    told.record(admission_of(meeting.members[0].identity()));
    told.record(admission_of(carol.identity()));
    let error = carol
        .join(
            &delivery.welcome,
            &delivery.ratchet_tree,
            &meeting.server_key.public(),
            &told,
            &meeting.directory,
            now,
        )
        .unwrap_err();
    match error {
        MemberError::Ghost(GhostError::NotAdmitted { identity }) => {
            assert_eq!(identity.participant().as_str(), "bob");
        }
        other => panic!("expected NotAdmitted for bob, got {other:?}"),
    }
    // And a joiner expecting another server key refuses the group.
    let other_server = ServerSigningKey::generate(&mut rand::thread_rng());
    let error = bob
        .join(
            &delivery.welcome,
            &delivery.ratchet_tree,
            &other_server.public(),
            &meeting.announced,
            &meeting.directory,
            now,
        )
        .unwrap_err();
    assert!(matches!(error, MemberError::ExternalSenders), "{error:?}");
}

#[test]
fn a_key_that_is_not_the_directorys_is_refused() {
    let now = Instant::now();
    let mut meeting = Meeting::start("alice", now);
    meeting.admit_account("bob", now);

    // Carol's KeyPackage is signed with a key other than the one the directory lists.
    let account = AccountId::new("acct-carol").unwrap();
    let registered = IdentityKeyPair::generate(&mut rand::thread_rng());
    meeting
        .directory
        .insert(account.clone(), registered.public());
    let substituted = IdentityKeyPair::generate(&mut rand::thread_rng());
    let carol = PendingMember::new(
        MemberIdentity::account(participant("carol"), account),
        &substituted,
    )
    .unwrap();
    let admission = admission_of(carol.identity());
    let proposal = meeting
        .server
        .propose_add(ValidatedKeyPackage::parse(carol.key_package()).unwrap())
        .unwrap();
    for member in &mut meeting.members {
        member.record_admission(admission.clone());
        let error = member
            .process_handshake(&proposal, &meeting.directory, now)
            .unwrap_err();
        match error {
            MemberError::Ghost(GhostError::KeyMismatch { identity }) => {
                assert_eq!(identity.participant().as_str(), "carol");
            }
            other => panic!("expected KeyMismatch, got {other:?}"),
        }
    }
    // An account missing from the directory cannot be checked, so it is refused too.
    let mut empty = KeyDirectory::new();
    let dave = account_member("dave", &mut empty);
    let proposal = meeting
        .server
        .propose_add(ValidatedKeyPackage::parse(dave.key_package()).unwrap())
        .unwrap();
    let member = &mut meeting.members[0];
    member.record_admission(admission_of(dave.identity()));
    let error = member
        .process_handshake(&proposal, &meeting.directory, now)
        .unwrap_err();
    assert!(
        matches!(error, MemberError::Ghost(GhostError::NoDirectoryKey { .. })),
        "{error:?}"
    );
}

#[test]
fn concurrent_commits_one_wins_the_other_rebases() {
    let now = Instant::now();
    let mut meeting = Meeting::start("alice", now);
    for name in ["bob", "carol"] {
        let joiner = account_member(name, &mut meeting.directory);
        meeting.admit(joiner, now);
    }
    // The server proposes dave; alice commits at once.
    let dave = account_member("dave", &mut meeting.directory);
    meeting.announce_and_propose(&dave, now);
    let alice_commit = meeting.members[0].commit_pending().unwrap().unwrap();
    // Before alice's commit reaches the server, erin is admitted too; bob commits both adds.
    let erin = account_member("erin", &mut meeting.directory);
    meeting.announce_and_propose(&erin, now);
    let bob_commit = meeting.members[1].commit_pending().unwrap().unwrap();
    assert_eq!(alice_commit.epoch, bob_commit.epoch);

    // Alice's commit arrives first and wins; bob's is refused with the reason.
    let accepted = meeting
        .server
        .submit_commit(&alice_commit.commit, alice_commit.welcome.as_deref())
        .unwrap();
    let refused = meeting
        .server
        .submit_commit(&bob_commit.commit, bob_commit.welcome.as_deref())
        .unwrap_err();
    assert_eq!(
        refused,
        CommitRefused::Superseded {
            commit_epoch: bob_commit.epoch,
            current: accepted.epoch,
        }
    );
    // Alice's commit covered dave only (erin came after it was made): the server proposes
    // erin again for the new epoch.
    assert_eq!(accepted.added, vec![participant("dave")]);
    assert_eq!(accepted.proposals.len(), 1);

    // Bob re-bases: drops his commit and follows the winner, as carol does.
    meeting.members[0].commit_accepted(now).unwrap();
    meeting.members[1].commit_refused().unwrap();
    for member in &mut meeting.members[1..] {
        member
            .process_handshake(&accepted.commit, &meeting.directory, now)
            .unwrap();
    }
    let delivery = accepted.joiners.unwrap();
    let dave = dave
        .join(
            &delivery.welcome,
            &delivery.ratchet_tree,
            &meeting.server_key.public(),
            &meeting.announced,
            &meeting.directory,
            now,
        )
        .unwrap();
    meeting.seat(dave);
    meeting.assert_in_sync();

    // Erin's re-issued proposal is committed in the next round; nobody forked.
    meeting.broadcast_proposals(&accepted.proposals, now);
    meeting.commit_round(vec![erin], now);
    meeting.assert_in_sync();
    assert_eq!(meeting.members.len(), 5);
    // The stale commit cannot be replayed later either.
    assert!(matches!(
        meeting
            .server
            .submit_commit(&bob_commit.commit, bob_commit.welcome.as_deref()),
        Err(CommitRefused::Superseded { .. })
    ));
}

#[test]
fn a_removed_member_cannot_decrypt_the_next_epoch() {
    let now = Instant::now();
    let mut meeting = five_member_meeting(now);
    let frame_before = meeting.members[0].encrypt_frame(b"before removal").unwrap();

    // The server removes carol; alice commits; carol learns she is out.
    let removal = meeting
        .server
        .propose_remove(&participant("carol"))
        .unwrap()
        .unwrap();
    meeting.broadcast_proposals(&[removal], now);
    let carol_index = meeting
        .members
        .iter()
        .position(|m| m.identity().participant().as_str() == "carol")
        .unwrap();
    assert_eq!(meeting.members[carol_index].commit_delay(now), None);
    let mut carol = meeting.members.remove(carol_index);
    let committed_at = now + Duration::from_secs(1);
    let outgoing = meeting.members[0].commit_pending().unwrap().unwrap();
    let accepted = meeting
        .server
        .submit_commit(&outgoing.commit, None)
        .unwrap();
    assert_eq!(accepted.removed, vec![participant("carol")]);
    meeting.members[0].commit_accepted(committed_at).unwrap();
    for member in &mut meeting.members[1..] {
        member
            .process_handshake(&accepted.commit, &meeting.directory, committed_at)
            .unwrap();
    }
    let outcome = carol
        .process_handshake(&accepted.commit, &meeting.directory, committed_at)
        .unwrap();
    assert!(matches!(
        outcome,
        HandshakeOutcome::EpochChanged(change) if change.self_removed
    ));
    assert!(carol.is_removed());
    meeting.assert_in_sync();

    // Frames of her last epoch still play during the grace period.
    assert!(carol
        .decrypt_frame(
            &frame_before,
            committed_at + EPOCH_GRACE - Duration::from_millis(1)
        )
        .is_ok());
    // Frames of the new epoch never decrypt for carol, within the grace period or after.
    let frame_after = meeting.members[0].encrypt_frame(b"after removal").unwrap();
    assert_eq!(
        meeting.members[1]
            .decrypt_frame(&frame_after, committed_at)
            .unwrap()
            .payload(),
        b"after removal"
    );
    for at in [
        committed_at,
        committed_at + EPOCH_GRACE + Duration::from_secs(1),
    ] {
        assert!(carol.decrypt_frame(&frame_after, at).is_err());
    }
    // After the grace period, not even the frames of her last epoch.
    assert!(matches!(
        carol.decrypt_frame(&frame_before, committed_at + EPOCH_GRACE),
        Err(MediaError::EpochExpired { .. }) | Err(MediaError::UnknownEpoch { .. })
    ));
    // And she can neither send media nor chat.
    assert!(matches!(
        carol.encrypt_frame(b"x"),
        Err(MemberError::Removed)
    ));
    assert!(matches!(
        carol.send_chat(b"x", &mut rand::thread_rng()),
        Err(MemberError::Removed)
    ));
}

#[test]
fn a_late_joiner_cannot_decrypt_earlier_frames() {
    let now = Instant::now();
    let mut meeting = Meeting::start("alice", now);
    meeting.admit_account("bob", now);
    let early_frame = meeting.members[0].encrypt_frame(b"early").unwrap();
    let early_chat = meeting.members[0]
        .send_chat(b"early chat", &mut rand::thread_rng())
        .unwrap();

    meeting.admit_account("carol", now);
    meeting.assert_in_sync();
    // The server no longer relays chat of an ended epoch; its sender would send it again.
    assert!(matches!(
        meeting.server.check_chat(&early_chat.message),
        Err(ServerViewError::ChatEpoch { .. })
    ));
    let carol = meeting.members.last_mut().unwrap();
    assert!(carol.decrypt_frame(&early_frame, now).is_err());
    assert!(carol
        .receive_chat(&early_chat.message, &early_chat.commitment)
        .is_err());
    // Bob, who was there, still decrypts the frame within the grace period.
    assert_eq!(
        meeting.members[1]
            .decrypt_frame(&early_frame, now)
            .unwrap()
            .payload(),
        b"early"
    );
}

#[test]
fn franked_chat_verifies_and_forgeries_do_not() {
    let now = Instant::now();
    let mut meeting = Meeting::start("alice", now);
    meeting.admit_account("bob", now);
    let franking_key = ServerFrankingKey::generate(&mut rand::thread_rng());
    let meeting_id = MeetingId::new("mtg-1").unwrap();
    let alice_account = AccountId::new("acct-alice").unwrap();
    let at = Timestamp::from_unix_millis(1_700_000_000_000);

    let sent = meeting.members[0]
        .send_chat(b"meet at noon", &mut rand::thread_rng())
        .unwrap();
    // The server reads the commitment from the message and tags it for the sending account.
    let commitment = meeting.server.check_chat(&sent.message).unwrap();
    let tag = franking_key.tag(&commitment, &alice_account, &meeting_id, at);

    // A commitment other than the one the sender signed is refused on receipt.
    let wrong = FrankingKey::generate(&mut rand::thread_rng())
        .commit(b"meet at noon")
        .unwrap();
    assert!(matches!(
        meeting.members[1].receive_chat(&sent.message, &wrong),
        Err(MemberError::Franking(FrankingError::CommitmentMismatch))
    ));

    let received = meeting.members[1]
        .receive_chat(&sent.message, &commitment)
        .unwrap();
    assert_eq!(received.sender().account_id(), Some(&alice_account));
    let report = |opened: e2ee::franking::OpenedMessage, tag| {
        opened.into_report(tag, alice_account.clone(), meeting_id.clone(), at)
    };

    // The genuine report verifies, naming alice.
    let evidence = franking_key
        .verify(report(received.into_opened(), tag))
        .unwrap();
    assert_eq!(evidence.sender(), &alice_account);
    assert_eq!(evidence.plaintext(), b"meet at noon");

    // Tampered plaintext, a wrong franking key and a forged tag all fail.
    let again = meeting.members[0]
        .send_chat(b"second", &mut rand::thread_rng())
        .unwrap();
    let opened = meeting.members[1]
        .receive_chat(&again.message, &again.commitment)
        .unwrap()
        .into_opened();
    let tag = franking_key.tag(&again.commitment, &alice_account, &meeting_id, at);
    let genuine = report(opened, tag);

    let mut tampered = clone_report(&genuine);
    tampered.plaintext = b"third".to_vec();
    assert_eq!(
        franking_key.verify(tampered).unwrap_err(),
        FrankingError::CommitmentMismatch
    );
    let mut wrong_key = clone_report(&genuine);
    wrong_key.franking_key = FrankingKey::generate(&mut rand::thread_rng());
    assert_eq!(
        franking_key.verify(wrong_key).unwrap_err(),
        FrankingError::CommitmentMismatch
    );
    let mut forged = clone_report(&genuine);
    forged.tag = FrankingTag::from_bytes([0x55; 32]);
    assert_eq!(
        franking_key.verify(forged).unwrap_err(),
        FrankingError::TagMismatch
    );
    // Bound to another account, the genuine tag does not verify either.
    let mut other_sender = clone_report(&genuine);
    other_sender.sender = AccountId::new("acct-bob").unwrap();
    assert_eq!(
        franking_key.verify(other_sender).unwrap_err(),
        FrankingError::TagMismatch
    );
    assert!(franking_key.verify(genuine).is_ok());
}

fn clone_report(report: &e2ee::franking::Report) -> e2ee::franking::Report {
    e2ee::franking::Report {
        plaintext: report.plaintext.clone(),
        franking_key: FrankingKey::from_bytes(*report.franking_key.as_bytes()),
        commitment: report.commitment,
        tag: report.tag,
        sender: report.sender.clone(),
        meeting: report.meeting.clone(),
        timestamp: report.timestamp,
    }
}

#[test]
fn the_server_refuses_commits_it_cannot_order_or_route() {
    let now = Instant::now();
    let mut meeting = Meeting::start("alice", now);
    meeting.admit_account("bob", now);
    let carol = account_member("carol", &mut meeting.directory);
    meeting.announce_and_propose(&carol, now);
    let outgoing = meeting.members[0].commit_pending().unwrap().unwrap();
    // A commit that adds carol without her Welcome would leave her out.
    assert_eq!(
        meeting.server.submit_commit(&outgoing.commit, None),
        Err(CommitRefused::MissingWelcome)
    );
    // Garbage and non-commits are refused with a reason, not a panic.
    assert!(matches!(
        meeting.server.submit_commit(b"\x00\x01garbage", None),
        Err(CommitRefused::Wire(_))
    ));
    let welcome = outgoing.welcome.clone().unwrap();
    assert!(matches!(
        meeting.server.submit_commit(&welcome, None),
        Err(CommitRefused::Wire(_))
    ));
    // The real thing is accepted afterwards: refusals did not change the view.
    let accepted = meeting
        .server
        .submit_commit(&outgoing.commit, outgoing.welcome.as_deref())
        .unwrap();
    assert_eq!(accepted.added, vec![participant("carol")]);
    // A second participant with the same id cannot be proposed.
    let twin = account_member("carol", &mut KeyDirectory::new());
    assert!(meeting
        .server
        .propose_add(ValidatedKeyPackage::parse(twin.key_package()).unwrap())
        .is_err());
}

#[test]
fn leaving_before_being_added_cancels_the_add() {
    let now = Instant::now();
    let mut meeting = Meeting::start("alice", now);
    let bob = account_member("bob", &mut meeting.directory);
    meeting.announce_and_propose(&bob, now);
    // Bob leaves before anyone commits: nothing new to propose, and if the pending Add is
    // still committed, the server follows up with his removal.
    assert_eq!(
        meeting.server.propose_remove(&participant("bob")).unwrap(),
        None
    );
    let outgoing = meeting.members[0].commit_pending().unwrap().unwrap();
    let accepted = meeting
        .server
        .submit_commit(&outgoing.commit, outgoing.welcome.as_deref())
        .unwrap();
    meeting.members[0].commit_accepted(now).unwrap();
    assert_eq!(accepted.proposals.len(), 1);
    meeting.broadcast_proposals(&accepted.proposals, now);
    meeting.commit_round(Vec::new(), now);
    assert_eq!(meeting.server.roster().unwrap().len(), 1);
    assert_eq!(meeting.members[0].roster().unwrap().len(), 1);
}

/// The client and server shells move these into their tasks.
#[test]
fn group_states_can_move_between_threads() {
    fn send<T: Send>() {}
    send::<PendingMember>();
    send::<Member>();
    send::<ServerGroupView>();
}
