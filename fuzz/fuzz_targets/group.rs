#![allow(dead_code)] // Each target uses a different part of the shared group.
//! A small group shared by the targets that need one: alice created it, bob joined, and the
//! server view follows it.

use std::time::Instant;

use e2ee::franking::AccountId;
use e2ee::identity::{
    Admission, Admissions, IdentityKeyPair, KeyDirectory, MemberIdentity, ParticipantId,
};
use e2ee::member::{Member, PendingMember};
use e2ee::server_view::{ServerGroupView, ServerSigningKey, ValidatedKeyPackage};

pub struct Group {
    pub server_key: ServerSigningKey,
    pub server: ServerGroupView,
    pub directory: KeyDirectory,
    pub seated: Admissions,
    pub bob: Member,
    pub tree: Vec<u8>,
}

pub fn pending(name: &str, directory: &mut KeyDirectory) -> PendingMember {
    let keys = IdentityKeyPair::generate(&mut rand::thread_rng());
    let account = AccountId::new(format!("acct-{name}")).expect("valid id");
    directory.insert(account.clone(), keys.public());
    PendingMember::new(
        MemberIdentity::account(ParticipantId::new(name).expect("valid id"), account),
        &keys,
    )
    .expect("key package")
}

fn admission(member: &PendingMember) -> Admission {
    Admission {
        participant: member.identity().participant().clone(),
        account: member.identity().account_id().cloned(),
    }
}

impl Group {
    pub fn new() -> Self {
        let now = Instant::now();
        let server_key = ServerSigningKey::generate(&mut rand::thread_rng());
        let mut directory = KeyDirectory::new();
        let mut seated = Admissions::new();
        let alice = pending("alice", &mut directory);
        seated.record(admission(&alice));
        let (mut alice, bootstrap) = alice
            .create_group(b"fuzz", &server_key.public(), now)
            .expect("group");
        let mut server = ServerGroupView::from_bootstrap(
            &bootstrap.group_info,
            &bootstrap.ratchet_tree,
            &server_key,
        )
        .expect("view");
        let bob = pending("bob", &mut directory);
        seated.record(admission(&bob));
        alice.record_admission(admission(&bob));
        let proposal = server
            .propose_add(ValidatedKeyPackage::parse(bob.key_package()).expect("valid"))
            .expect("proposal");
        alice
            .process_handshake(&proposal, &directory, now)
            .expect("proposal processes");
        let commit = alice.commit_pending().expect("commit").expect("pending");
        let accepted = server
            .submit_commit(&commit.commit, commit.welcome.as_deref())
            .expect("accepted");
        let joiners = accepted.joiners.expect("welcome");
        let bob = bob
            .join(
                &joiners.welcome,
                &joiners.ratchet_tree,
                &server_key.public(),
                &seated,
                &directory,
                now,
            )
            .expect("join");
        let tree = server.ratchet_tree().expect("tree");
        Self {
            server_key,
            server,
            directory,
            seated,
            bob,
            tree,
        }
    }
}
