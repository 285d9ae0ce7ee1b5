//! The mlswg/mls-implementations test vectors for the MLS operations Conclave uses, run
//! through openmls' public API (the same calls the group driver makes):
//!
//! - `passive-client-welcome.json`: join from a Welcome (with the ratchet tree given beside it,
//!   as Conclave sends it, or in the GroupInfo extension) and check the epoch authenticator,
//!   which the safety code is derived from;
//! - `passive-client-handling-commit.json`: the same, then process each epoch's proposals and
//!   commit and check every epoch authenticator;
//! - `welcome.json`: decrypt the Welcome with the init key, and check the GroupInfo signature.
//!
//! Vectors of ciphersuites openmls' RustCrypto provider does not implement are skipped and
//! counted; every test asserts that all the vectors of ciphersuite 0x0001 ran.
//!
//! The injected KeyPackage (with its private keys) is stored through openmls' storage trait
//! from the serde form of `KeyPackageBundle`, since openmls has no public constructor for a
//! bundle with given private keys.
#![allow(clippy::unwrap_used)]

mod common;

use e2ee::safety_code::SafetyCode;
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::Ciphersuite;
use openmls::prelude::{
    KeyPackage, KeyPackageBundle, KeyPackageIn, MlsGroup, MlsGroupJoinConfig, MlsMessageBodyIn,
    MlsMessageIn, OpenMlsCrypto as _, ProcessedMessageContent, ProtocolMessage, RatchetTreeIn,
    StagedWelcome, Verifiable as _, MIXED_PLAINTEXT_WIRE_FORMAT_POLICY,
};
use openmls::schedule::PreSharedKeyId;
use openmls_rust_crypto::OpenMlsRustCrypto;
use openmls_traits::storage::StorageProvider as _;
use openmls_traits::OpenMlsProvider as _;
use serde_json::{json, Value};

use common::{hex, vectors_dir};

fn load(name: &str) -> Vec<Value> {
    let path = vectors_dir().join("mls").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn field(vector: &Value, name: &str) -> Vec<u8> {
    hex(vector[name].as_str().unwrap())
}

fn suite(vector: &Value) -> u16 {
    u16::try_from(vector["cipher_suite"].as_u64().unwrap()).unwrap()
}

fn supported(provider: &OpenMlsRustCrypto, suite: u16) -> bool {
    Ciphersuite::try_from(suite).is_ok_and(|cs| provider.crypto().supports(cs).is_ok())
}

fn message(bytes: &[u8]) -> MlsMessageBodyIn {
    MlsMessageIn::tls_deserialize_exact(bytes)
        .unwrap()
        .extract()
}

/// Stores the vector's KeyPackage with its private init and encryption keys, as if this client
/// had made it.
fn inject_key_package(provider: &OpenMlsRustCrypto, vector: &Value) {
    let MlsMessageBodyIn::KeyPackage(key_package_in) = message(&field(vector, "key_package"))
    else {
        panic!("key_package is not a KeyPackage message");
    };
    let key_package: KeyPackage =
        serde_json::from_value(serde_json::to_value(&key_package_in).unwrap()).unwrap();
    // The decoded KeyPackage re-encodes to the vector's bytes, so its reference is the one the
    // Welcome names.
    let reencoded = KeyPackageIn::from(key_package.clone())
        .tls_serialize_detached()
        .unwrap();
    assert_eq!(
        reencoded,
        key_package_in.tls_serialize_detached().unwrap(),
        "KeyPackage round trip"
    );
    let bundle: KeyPackageBundle = serde_json::from_value(json!({
        "key_package": key_package,
        "private_init_key": { "vec": field(vector, "init_priv") },
        "private_encryption_key": { "key": { "vec": field(vector, "encryption_priv") } },
    }))
    .unwrap();
    let reference = key_package.hash_ref(provider.crypto()).unwrap();
    provider
        .storage()
        .write_key_package(&reference, &bundle)
        .unwrap();
}

fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .use_ratchet_tree_extension(true)
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .number_of_resumption_psks(16)
        .build()
}

/// Joins as the passive client of the vector and checks every epoch authenticator.
fn run_passive_client(vector: &Value) {
    let provider = OpenMlsRustCrypto::default();
    for psk in vector["external_psks"].as_array().unwrap() {
        PreSharedKeyId::external(hex(psk["psk_id"].as_str().unwrap()), Vec::new())
            .store(&provider, &hex(psk["psk"].as_str().unwrap()))
            .unwrap();
    }
    inject_key_package(&provider, vector);
    let MlsMessageBodyIn::Welcome(welcome) = message(&field(vector, "welcome")) else {
        panic!("welcome is not a Welcome message");
    };
    let mut builder = StagedWelcome::build_from_welcome(&provider, &join_config(), welcome)
        .unwrap()
        // The vectors were generated long ago; their leaf lifetimes are not the point here.
        .skip_lifetime_validation();
    if let Some(tree) = vector["ratchet_tree"].as_str() {
        builder =
            builder.with_ratchet_tree(RatchetTreeIn::tls_deserialize_exact(hex(tree)).unwrap());
    }
    let mut group = builder.build().unwrap().into_group(&provider).unwrap();
    check_authenticator(&group, &field(vector, "initial_epoch_authenticator"));

    for epoch in vector["epochs"].as_array().unwrap() {
        for proposal in epoch["proposals"].as_array().unwrap() {
            let processed = group
                .process_message(&provider, protocol(&hex(proposal.as_str().unwrap())))
                .unwrap();
            let ProcessedMessageContent::ProposalMessage(queued) = processed.into_content() else {
                panic!("a proposal did not process as a proposal");
            };
            group
                .store_pending_proposal(provider.storage(), *queued)
                .unwrap();
        }
        let processed = group
            .process_message(&provider, protocol(&field(epoch, "commit")))
            .unwrap();
        let ProcessedMessageContent::StagedCommitMessage(staged) = processed.into_content() else {
            panic!("a commit did not process as a commit");
        };
        group.merge_staged_commit(&provider, *staged).unwrap();
        check_authenticator(&group, &field(epoch, "epoch_authenticator"));
    }
}

fn protocol(bytes: &[u8]) -> ProtocolMessage {
    MlsMessageIn::tls_deserialize_exact(bytes)
        .unwrap()
        .try_into_protocol_message()
        .unwrap()
}

fn check_authenticator(group: &MlsGroup, expected: &[u8]) {
    let authenticator = group.epoch_authenticator().as_slice();
    assert_eq!(authenticator, expected, "epoch authenticator");
    // The safety code accepts every authenticator MLS produces.
    SafetyCode::from_epoch_authenticator(authenticator).unwrap();
}

/// Runs every supported vector of a passive-client file; returns (ran, skipped, ran of 0x0001).
fn run_passive_file(name: &str) -> (usize, usize, usize) {
    let probe = OpenMlsRustCrypto::default();
    let (mut ran, mut skipped, mut ours) = (0, 0, 0);
    for (index, vector) in load(name).iter().enumerate() {
        if !supported(&probe, suite(vector)) {
            skipped += 1;
            continue;
        }
        let outcome = std::panic::catch_unwind(|| run_passive_client(vector));
        assert!(
            outcome.is_ok(),
            "{name} vector {index} (suite {}) failed",
            suite(vector)
        );
        ran += 1;
        if suite(vector) == 1 {
            ours += 1;
        }
    }
    eprintln!("{name}: {ran} ran, {skipped} skipped (unsupported ciphersuites)");
    (ran, skipped, ours)
}

#[test]
fn passive_client_welcome() {
    let total = load("passive-client-welcome.json")
        .iter()
        .filter(|v| suite(v) == 1)
        .count();
    let (ran, _, ours) = run_passive_file("passive-client-welcome.json");
    assert!(ran > 0);
    assert_eq!(ours, total, "every 0x0001 vector must run");
}

#[test]
fn passive_client_handling_commit() {
    let total = load("passive-client-handling-commit.json")
        .iter()
        .filter(|v| suite(v) == 1)
        .count();
    let (ran, _, ours) = run_passive_file("passive-client-handling-commit.json");
    assert!(ran > 0);
    assert_eq!(ours, total, "every 0x0001 vector must run");
}

/// `welcome.json`: the Welcome decrypts with the KeyPackage's init key to a GroupInfo whose
/// signature verifies under the vector's signer key. (Joining needs a ratchet tree, which this
/// vector does not carry.)
#[test]
fn welcome() {
    let mut ours = 0;
    for vector in load("welcome.json") {
        let provider = OpenMlsRustCrypto::default();
        if !supported(&provider, suite(&vector)) {
            continue;
        }
        let signer = field(&vector, "signer_pub");
        let bundle_vector = json!({
            "key_package": vector["key_package"],
            "init_priv": vector["init_priv"],
            // The Welcome's leaf secrets are not needed to read the GroupInfo.
            "encryption_priv": "",
        });
        inject_key_package(&provider, &bundle_vector);
        let MlsMessageBodyIn::Welcome(welcome) = message(&field(&vector, "welcome")) else {
            panic!("welcome is not a Welcome message");
        };
        let processed =
            openmls::group::ProcessedWelcome::new_from_welcome(&provider, &join_config(), welcome)
                .unwrap();
        let group_info = processed.unverified_group_info();
        let ciphersuite = Ciphersuite::try_from(suite(&vector)).unwrap();
        // Checked by hand from the parts openmls exposes, so the check does not depend on
        // openmls' own verification code.
        assert_eq!(group_info.label(), "GroupInfoTBS");
        let content = sign_content(b"GroupInfoTBS", &group_info.unsigned_payload().unwrap());
        provider
            .crypto()
            .verify_signature(
                ciphersuite.signature_algorithm(),
                &content,
                &signer,
                signature_bytes(group_info.signature()).as_slice(),
            )
            .unwrap();
        if suite(&vector) == 1 {
            ours += 1;
        }
    }
    assert_eq!(ours, 1, "the 0x0001 welcome vector must run");
}

/// The raw signature: openmls exposes it only through its TLS encoding (`opaque <V>`).
fn signature_bytes(signature: &openmls::prelude::Signature) -> Vec<u8> {
    let encoded = signature.tls_serialize_detached().unwrap();
    openmls::prelude::tls_codec::VLBytes::tls_deserialize_exact(encoded)
        .unwrap()
        .as_slice()
        .to_vec()
}

/// `SignContent` of RFC 9420 section 5.1.2: `opaque label<V> = "MLS 1.0 " + label; opaque
/// content<V>`.
fn sign_content(label: &[u8], content: &[u8]) -> Vec<u8> {
    let mut full_label = b"MLS 1.0 ".to_vec();
    full_label.extend_from_slice(label);
    let mut out = Vec::new();
    for part in [&full_label[..], content] {
        openmls::prelude::tls_codec::VLBytes::new(part.to_vec())
            .tls_serialize(&mut out)
            .unwrap();
    }
    out
}
