//! The client's key-directory check (ghost protection): an answer of
//! `GET /api/v1/ledger/key-directory/{account}` comes from the server, which the client does
//! not trust. Whatever it holds, `check_entry` must refuse or accept without panicking, and
//! accept only the one entry the pinned log really signed.
#![no_main]

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use client::keydir::check_entry;
use client::order::PinnedLog;
use ledger::{Checkpoint, KeyDirectoryRecord, MerkleTree, NoteSigner, SigningKey};
use libfuzzer_sys::fuzz_target;
use proto::ids::AccountId;
use proto::ledger::KeyDirectoryProof;

const ORIGIN: &str = "fuzz.example/conclave-log";

struct Fixture {
    log: PinnedLog,
    account: AccountId,
    real: KeyDirectoryProof,
    public_key: [u8; 32],
}

fn fixture() -> Fixture {
    let signer = NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[1; 32])).expect("signer");
    let account: AccountId = "AAAAAAAAAAAAAAAAAAAAAA".parse().expect("account id");
    let public_key = SigningKey::from_bytes(&[2; 32]).verifying_key().to_bytes();
    let record = KeyDirectoryRecord {
        account_id: account.as_str().to_owned(),
        version: 1,
        public_key,
        registered_at: 1_700_000_000,
        previous_key: None,
    };
    let entry = record.to_entry().expect("entry").encode();
    let mut tree = MerkleTree::new();
    tree.append(b"genesis");
    let index = tree.append(&entry);
    tree.append(b"later");
    let checkpoint = Checkpoint::new(ORIGIN, tree.size(), tree.root())
        .expect("checkpoint")
        .sign(&signer)
        .expect("signed");
    let proof = tree
        .inclusion_proof(index, tree.size())
        .expect("proof")
        .iter()
        .map(ledger::Hash::to_base64)
        .collect();
    Fixture {
        log: PinnedLog {
            origin: ORIGIN.into(),
            key: signer.verifier(),
        },
        account,
        real: KeyDirectoryProof {
            index: index.0,
            entry: BASE64.encode(&entry),
            checkpoint: checkpoint.encode(),
            proof,
        },
        public_key,
    }
}

thread_local! {
    static FIXTURE: Fixture = fixture();
}

fuzz_target!(|data: &[u8]| {
    FIXTURE.with(|f| {
        // Mode 0: the whole answer is fuzzer JSON. Otherwise one field of the real answer is
        // replaced, so the fuzzer reaches the proof and signature checks behind the parsing.
        let Some((&mode, rest)) = data.split_first() else {
            return;
        };
        let proof = match mode % 5 {
            0 => match serde_json::from_slice::<KeyDirectoryProof>(rest) {
                Ok(proof) => proof,
                Err(_) => return,
            },
            1 => KeyDirectoryProof {
                entry: BASE64.encode(rest),
                ..f.real.clone()
            },
            2 => KeyDirectoryProof {
                checkpoint: String::from_utf8_lossy(rest).into_owned(),
                ..f.real.clone()
            },
            3 => KeyDirectoryProof {
                proof: rest.chunks(32).map(|h| BASE64.encode(h)).collect(),
                ..f.real.clone()
            },
            _ => KeyDirectoryProof {
                index: rest
                    .iter()
                    .take(8)
                    .fold(0u64, |acc, b| acc << 8 | u64::from(*b)),
                ..f.real.clone()
            },
        };
        if let Ok(key) = check_entry(&proof, &f.log, &f.account) {
            // Only the entry the log signed verifies, and it carries the logged key.
            assert_eq!(key.as_bytes(), &f.public_key);
            assert_eq!(proof.entry, f.real.entry);
        }
    });
});
