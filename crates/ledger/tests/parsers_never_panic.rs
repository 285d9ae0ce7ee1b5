//! Stand-in fuzz targets (the toolchain is stable-only, so no cargo-fuzz):
//! arbitrary and mutated input to every parser of outside data must give a
//! value or an error, never a panic. The case counts keep this to seconds.

use ledger::{
    Checkpoint, Entry, EntryTag, MerkleTree, NoteSigner, NoteVerifier, SignedNote, SigningKey,
};
use proptest::prelude::*;

fn signer() -> NoteSigner {
    NoteSigner::new("fuzz.example/log", SigningKey::from_bytes(&[3; 32])).expect("valid key name")
}

/// A valid signed checkpoint to mutate, so that mutations reach the deeper
/// parsing stages instead of failing at the first byte.
fn valid_checkpoint_note() -> Vec<u8> {
    let mut tree = MerkleTree::new();
    tree.append(b"x");
    Checkpoint::new("fuzz.example/log", tree.size(), tree.root())
        .and_then(|checkpoint| checkpoint.with_extension("ext"))
        .and_then(|checkpoint| checkpoint.sign(&signer()))
        .expect("a valid checkpoint signs")
        .encode()
        .into_bytes()
}

fn valid_entry() -> Vec<u8> {
    EntryTag::new("fuzz.entry")
        .and_then(|tag| Entry::new(tag, b"body bytes".to_vec()))
        .expect("a valid entry")
        .encode()
}

/// Applies (position, byte) overwrites and an optional truncation.
fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
    for &(position, byte) in edits {
        if !bytes.is_empty() {
            let at = position % bytes.len();
            bytes[at] = byte;
        }
    }
    if let Some(cut) = cut {
        bytes.truncate(cut % (bytes.len() + 1));
    }
    bytes
}

fn exercise_note_parsers(bytes: &[u8]) {
    let verifiers = [signer().verifier()];
    if let Ok(note) = SignedNote::parse(bytes) {
        // Whatever parses must re-encode to the same bytes.
        assert_eq!(note.encode().as_bytes(), bytes);
        let _ = note.verify(&verifiers);
        let _ = Checkpoint::parse_body(note.text());
    }
    let _ = Checkpoint::open(bytes, "fuzz.example/log", &verifiers);
    let text = String::from_utf8_lossy(bytes);
    let _ = Checkpoint::parse_body(&text);
    let _ = NoteVerifier::parse(&text);
}

fn exercise_entry_parser(bytes: &[u8]) {
    if let Ok(entry) = Entry::decode(bytes) {
        // Canonical: a decoded entry re-encodes to exactly its input.
        assert_eq!(entry.encode(), bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        exercise_note_parsers(&bytes);
        exercise_entry_parser(&bytes);
    }

    #[test]
    fn arbitrary_text(text in "(\\PC|\n|\u{2014} |\\+){0,300}") {
        exercise_note_parsers(text.as_bytes());
    }

    #[test]
    fn mutated_checkpoint_notes(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        cut in proptest::option::of(any::<usize>()),
    ) {
        exercise_note_parsers(&mutate(valid_checkpoint_note(), &edits, cut));
    }

    #[test]
    fn mutated_entries(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        cut in proptest::option::of(any::<usize>()),
    ) {
        exercise_entry_parser(&mutate(valid_entry(), &edits, cut));
    }

    #[test]
    fn entries_round_trip(
        tag in "[a-z0-9_.]{1,64}",
        body in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let entry = Entry::new(EntryTag::new(&tag).unwrap(), body).unwrap();
        prop_assert_eq!(Entry::decode(&entry.encode()), Ok(entry));
    }
}
