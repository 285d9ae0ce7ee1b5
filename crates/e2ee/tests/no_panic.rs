//! Stand-in fuzz targets (the toolchain is stable-only): every parser of network input gets
//! arbitrary bytes and must answer with a value or a typed error, never a panic.

use std::time::Instant;

use e2ee::franking::{self, Commitment, InnerMessage};
use e2ee::group::{Epoch, LeafIndex};
use e2ee::header::FrameHeader;
use e2ee::media::MediaKeys;
use proptest::prelude::*;

fn keys_at(epoch: u64) -> MediaKeys {
    let mut keys = MediaKeys::new();
    keys.install_epoch(Epoch::new(epoch), [7; 16], Instant::now())
        .expect("first epoch installs");
    keys
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn header_parser(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
        if let Ok(header) = FrameHeader::parse(&bytes) {
            prop_assert!(header.len() <= bytes.len());
            let _ = header.kid().sender();
        }
    }

    #[test]
    fn decryptor_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut keys = keys_at(3);
        // Arbitrary bytes almost never carry a valid tag.
        let _ = keys.decrypt(&bytes, Instant::now());
    }

    #[test]
    fn decryptor_on_mutated_frames(
        payload in proptest::collection::vec(any::<u8>(), 0..100),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut sender = keys_at(3);
        let mut receiver = keys_at(3);
        let mut frame = sender.encrypt(&payload, LeafIndex::new(1)).expect("encrypt");
        for (at, mask) in &flips {
            let i = at.index(frame.len());
            frame[i] ^= mask;
        }
        if truncate {
            frame.truncate(cut.index(frame.len()));
        }
        prop_assert!(receiver.decrypt(&frame, Instant::now()).is_err());
    }

    #[test]
    fn inner_message_parser(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
        if let Ok(message) = InnerMessage::decode(&bytes) {
            prop_assert_eq!(message.encode(), bytes.clone());
        }
        let _ = franking::open(&bytes, &Commitment::from_bytes([0; 32]));
    }
}
