//! The audio-level extension's values through the active-speaker ranking:
//! any sequence of (speaker, level, voice flag, time step) keeps the ranking
//! short, free of duplicates and made of known speakers.
#![no_main]
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use sfu::speakers::{Speakers, TOP_SPEAKERS};

fuzz_target!(|data: &[u8]| {
    let mut now = Instant::now();
    let mut speakers = Speakers::default();
    let mut known = Vec::new();
    for chunk in data.chunks_exact(4) {
        let key = chunk[0] % 16;
        let level = chunk[1] as i8;
        let voice = match chunk[2] % 3 {
            0 => None,
            1 => Some(true),
            _ => Some(false),
        };
        now += Duration::from_millis(u64::from(chunk[3]));
        if chunk[2] == 255 {
            speakers.remove(key, now);
            known.retain(|k| *k != key);
            continue;
        }
        speakers.observe(key, level, voice, now);
        if !known.contains(&key) {
            known.push(key);
        }
        if let Some(ranking) = speakers.decide(now) {
            assert!(ranking.len() <= TOP_SPEAKERS);
            for (i, k) in ranking.iter().enumerate() {
                assert!(known.contains(k));
                assert!(!ranking[..i].contains(k));
            }
        }
        let _ = speakers.admitted_audio(key, usize::from(chunk[0] % 5), now);
    }
});
