//! Property versions of the fuzz targets, so CI exercises every parser of
//! network bytes on each run (the fuzz targets in `fuzz/` go deeper).
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use proptest::prelude::*;
use sfu::demux;
use sfu::forward::SeqRewriter;
use sfu::speakers::{Speakers, TOP_SPEAKERS};
use sfu::vp9;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn vp9_descriptor_is_total_and_bounded(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(d) = vp9::parse(&data) {
            prop_assert!(d.len <= data.len());
            prop_assert!(d.len <= vp9::MAX_DESCRIPTOR_BYTES);
        }
    }

    #[test]
    fn vp9_descriptors_written_are_read_back(
        key in any::<bool>(), begin in any::<bool>(), end in any::<bool>(),
        spatial in 0u8..3, temporal in 0u8..3, up in any::<bool>(), id in 0u16..0x8000,
    ) {
        let d = vp9::Vp9Descriptor {
            inter_picture: !key, flexible: false, begin, end, picture_id: Some(id),
            temporal, spatial, switching_up: up, inter_layer: false, scalability: None, len: 0,
        };
        let mut bytes = Vec::new();
        vp9::write_non_flexible(&d, 3, &mut bytes);
        bytes.extend_from_slice(&[0xff; 10]);
        let back = vp9::parse(&bytes).unwrap();
        prop_assert_eq!(vp9::Vp9Descriptor { len: 0, ..back }, d);
    }

    #[test]
    fn stun_demux_is_total(data in proptest::collection::vec(any::<u8>(), 0..200), stun in any::<bool>()) {
        let mut data = data;
        if stun && data.len() >= 20 {
            // Make the header plausible so the attribute walk runs.
            data[0] = 0;
            data[1] = 1;
            let len = ((data.len() - 20) / 4 * 4) as u16;
            data[2..4].copy_from_slice(&len.to_be_bytes());
            data[4..8].copy_from_slice(&0x2112_a442u32.to_be_bytes());
        }
        let _ = demux::classify(&data);
        if let Some(ufrag) = demux::binding_request_ufrag(&data) {
            prop_assert!(!ufrag.is_empty() && !ufrag.contains(':'));
        }
    }

    #[test]
    fn active_speakers_stay_few_distinct_and_known(
        events in proptest::collection::vec((0u8..8, any::<i8>(), any::<Option<bool>>(), 0u64..200), 0..300)
    ) {
        let mut now = Instant::now();
        let mut speakers = Speakers::default();
        for (key, level, voice, step) in events {
            now += Duration::from_millis(step);
            speakers.observe(key, level, voice, now);
            if let Some(ranking) = speakers.decide(now) {
                prop_assert!(ranking.len() <= TOP_SPEAKERS);
                let mut sorted = ranking.clone();
                sorted.sort_unstable();
                sorted.dedup();
                prop_assert_eq!(sorted.len(), ranking.len());
            }
        }
    }

    #[test]
    fn forwarded_sequence_numbers_are_contiguous_and_never_repeat(
        start in 0u64..200_000, fates in proptest::collection::vec(any::<bool>(), 1..500)
    ) {
        let mut rewriter = SeqRewriter::new();
        let mut out = Vec::new();
        for (i, forward) in fates.iter().enumerate() {
            let seq = start + i as u64;
            if *forward || i == 0 {
                out.push(rewriter.forward(seq).unwrap());
            } else {
                rewriter.drop_packet(seq);
            }
        }
        prop_assert!(out[0] < 65_536, "starts with a zero rollover counter");
        prop_assert!(out.windows(2).all(|w| w[1] == w[0] + 1));
    }
}
