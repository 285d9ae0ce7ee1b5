//! Our signed notes and checkpoints against an independent implementation of
//! c2sp.org/signed-note (the `signed_note` crate, a port of Go's
//! golang.org/x/mod/sumdb/note), in both directions.

use ledger::{Checkpoint, MerkleTree, NoteSigner, SigningKey};
use signed_note::{Note, StandardSigner, StandardVerifier, VerifierList};

/// The example signer key from Go's note documentation, and its verifier key.
const GO_SIGNER_KEY: &str =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const GO_VERIFIER_KEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

fn tree() -> MerkleTree {
    let mut tree = MerkleTree::new();
    for i in 0u32..13 {
        tree.append(&i.to_be_bytes());
    }
    tree
}

#[test]
fn our_checkpoint_verifies_with_signed_note() {
    let signer =
        NoteSigner::new("conclave.example/log", SigningKey::from_bytes(&[42; 32])).unwrap();
    let tree = tree();
    let note = Checkpoint::new("conclave.example/log", tree.size(), tree.root())
        .unwrap()
        .sign(&signer)
        .unwrap()
        .encode();

    let verifier = StandardVerifier::new(&signer.verifier().to_string()).unwrap();
    let known = VerifierList::new(vec![Box::new(verifier)]);
    let parsed = Note::from_bytes(note.as_bytes()).unwrap();
    let (verified, unverified) = parsed.verify(&known).unwrap();
    assert_eq!(verified.len(), 1);
    assert!(unverified.is_empty());
    assert_eq!(verified[0].id().to_be_bytes(), signer.key_id().0);
    assert_eq!(
        parsed.text(),
        format!("conclave.example/log\n13\n{}\n", tree.root().to_base64()).as_bytes()
    );
}

#[test]
fn signed_note_checkpoint_opens_with_ours() {
    let tree = tree();
    let body = Checkpoint::new("PeterNeumann", tree.size(), tree.root())
        .unwrap()
        .to_body();
    let signer = StandardSigner::new(GO_SIGNER_KEY).unwrap();
    let mut note = Note::new(body.as_bytes(), &[]).unwrap();
    note.add_sigs(&[&signer]).unwrap();
    let wire = note.to_bytes();

    let trusted = GO_VERIFIER_KEY.parse().unwrap();
    let opened = Checkpoint::open(&wire, "PeterNeumann", &[trusted]).unwrap();
    assert_eq!(opened.checkpoint().size(), 13);
    assert_eq!(opened.checkpoint().root(), tree.root());
    // Our encoding of the parsed note is byte-for-byte theirs.
    assert_eq!(opened.note().encode().as_bytes(), wire.as_slice());
}

#[test]
fn both_agree_on_key_ids() {
    let signer = NoteSigner::new("a.example/b", SigningKey::from_bytes(&[9; 32])).unwrap();
    let key = signer.verifier();
    let theirs = signed_note::key_id(
        "a.example/b",
        &[&[1u8][..], key.verifying_key().as_bytes()].concat(),
    );
    assert_eq!(theirs.to_be_bytes(), signer.key_id().0);
}
