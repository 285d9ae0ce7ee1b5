//! RFC 9605 test vectors (sframe-wg/sframe `test-vectors.json`): header encoding, and the full
//! SFrame case for cipher suite 0x0004, both through the `sframe` crate and through
//! [`MediaKeys`], which derives the key from base key and KID as section 5.2 says.

mod common;

use std::time::Instant;

use e2ee::group::{Epoch, LeafIndex};
use e2ee::header::{FrameHeader, Kid};
use e2ee::media::MediaKeys;
use serde::Deserialize;
use sframe::frame::{MediaFrame, SingleUseCounter};
use sframe::key::EncryptionKey;
use sframe::CipherSuite;

#[derive(Deserialize)]
struct Vectors {
    header: Vec<HeaderCase>,
    sframe: Vec<SframeCase>,
}

#[derive(Deserialize)]
struct HeaderCase {
    kid: u64,
    ctr: u64,
    encoded: String,
}

#[derive(Deserialize)]
struct SframeCase {
    cipher_suite: u16,
    kid: u64,
    ctr: u64,
    base_key: String,
    metadata: String,
    aad: String,
    pt: String,
    ct: String,
}

fn vectors() -> Vectors {
    let path = common::vectors_dir().join("sframe/test-vectors.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("test-vectors.json has the documented shape")
}

fn suite_4(vectors: &Vectors) -> &SframeCase {
    let cases: Vec<&SframeCase> = vectors
        .sframe
        .iter()
        .filter(|c| c.cipher_suite == 0x0004)
        .collect();
    assert_eq!(cases.len(), 1, "one AES_128_GCM_SHA256_128 case expected");
    cases[0]
}

#[test]
fn header_cases_parse_and_encode() {
    let vectors = vectors();
    assert!(vectors.header.len() > 100, "header cases missing");
    for case in &vectors.header {
        let encoded = common::hex(&case.encoded);
        let header = FrameHeader::parse(&encoded)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", case.encoded));
        assert_eq!(header.kid().value(), case.kid, "KID of {}", case.encoded);
        assert_eq!(header.counter(), case.ctr, "CTR of {}", case.encoded);
        assert_eq!(header.len(), encoded.len(), "length of {}", case.encoded);
        assert_eq!(
            FrameHeader::encode(Kid::from_value(case.kid), case.ctr),
            encoded,
            "encoding of KID {} CTR {}",
            case.kid,
            case.ctr
        );
    }
}

#[test]
fn suite_4_encrypts_with_the_sframe_crate() {
    let vectors = vectors();
    let case = suite_4(&vectors);
    let key = EncryptionKey::derive_from(
        CipherSuite::AesGcm128Sha256,
        case.kid,
        common::hex(&case.base_key),
    )
    .expect("key derivation");
    let mut counter = SingleUseCounter::new(case.ctr);
    let frame = MediaFrame::try_with_meta_data(
        &mut counter,
        common::hex(&case.pt),
        common::hex(&case.metadata),
    )
    .expect("one counter value");
    let encrypted = frame.encrypt(&key).expect("encryption");
    assert_eq!(encrypted.sframe_cipher_text(), common::hex(&case.ct));
}

#[test]
fn suite_4_decrypts_through_the_mls_key_store() {
    let vectors = vectors();
    let case = suite_4(&vectors);

    // KID 0x123 in Conclave's layout is leaf 0x12 at an epoch whose low 4 bits are 3.
    let kid = Kid::from_value(case.kid);
    let sender = kid.sender().expect("vector KID fits the layout");
    assert_eq!(sender, LeafIndex::new(0x12));
    let epoch = Epoch::new(3);
    assert_eq!(Kid::new(sender, epoch), kid);

    // The header we would write is the one the vector authenticates.
    let aad = common::hex(&case.aad);
    let metadata = common::hex(&case.metadata);
    assert_eq!(
        FrameHeader::encode(kid, case.ctr),
        aad[..aad.len() - metadata.len()]
    );

    let base_key: [u8; 16] = common::hex(&case.base_key)
        .try_into()
        .expect("16-byte base key");
    let mut keys = MediaKeys::new();
    let now = Instant::now();
    keys.install_epoch(epoch, base_key, now).expect("install");
    let frame = keys
        .decrypt_with_metadata(&common::hex(&case.ct), &metadata, now)
        .expect("vector decrypts");
    assert_eq!(frame.payload(), common::hex(&case.pt));
    assert_eq!(frame.sender(), sender);
    assert_eq!(frame.epoch(), epoch);
    assert_eq!(frame.counter(), case.ctr);
}
