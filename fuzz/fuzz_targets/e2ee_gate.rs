//! The SFU's E2EE gate on arbitrary frame bytes: whatever a publisher sends, the check
//! answers without panicking, and lets through only a frame whose SFrame header names the
//! group's epoch and the publisher's own leaf.
#![no_main]

use std::time::Instant;

use e2ee::header::FrameHeader;
use libfuzzer_sys::fuzz_target;
use proto::ids::{OpaqueId, ParticipantId};
use sfu::e2ee_check::{FrameGate, FrameVerdicts, GroupEpoch};

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let publisher = ParticipantId::from_random(&[1; 9]);
    let mut gate = FrameGate::new();
    // The first byte picks the epoch, the second the publisher's leaf.
    let (epoch, leaf, frame) = match data {
        [epoch, leaf, rest @ ..] => (u64::from(*epoch), u32::from(*leaf), rest),
        _ => return,
    };
    gate.set_group(
        GroupEpoch {
            epoch,
            leaves: vec![(publisher.clone(), leaf)],
        },
        now,
    );
    let verdict = gate.check(&publisher, frame, now);
    if verdict.is_ok() {
        let header = FrameHeader::parse(frame).expect("an accepted frame has a header");
        let kid = header.kid().value();
        assert_eq!(kid >> e2ee::header::EPOCH_BITS, u64::from(leaf));
        assert_eq!(u64::from(header.kid().epoch_bits()), epoch & 0xf);
    }
    let mut verdicts = FrameVerdicts::default();
    verdicts.record(7, 0, verdict.is_ok());
    assert_eq!(verdicts.of(7, 0).is_ok(), verdict.is_ok());
});
