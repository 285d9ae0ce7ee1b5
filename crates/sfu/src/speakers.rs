//! Active speakers from the RFC 6464 audio-level header extension.
//!
//! Each audio packet carries the sender's level in -dBov (0 is loudest, -127
//! silence) and optionally a voice-activity flag; str0m parses the extension
//! into `ExtensionValues::audio_level`. We keep a smoothed loudness per
//! speaker and, at most every [`DECISION_INTERVAL`], rank those above the
//! silence threshold. Nothing here can panic on any input.

use std::time::{Duration, Instant};

/// How often the ranking may change.
pub const DECISION_INTERVAL: Duration = Duration::from_millis(300);
/// How many speakers are announced.
pub const TOP_SPEAKERS: usize = 3;
/// A speaker silent (no packets) this long no longer counts.
const STALE_AFTER: Duration = Duration::from_millis(600);
/// Smoothed loudness (0..=127, 127 loudest) a speaker must exceed: -50 dBov.
const SPEAKING_THRESHOLD: f32 = 127.0 - 50.0;
/// Weight of a new packet in the moving average (20 ms packets: ~100 ms memory).
const SMOOTHING: f32 = 0.2;

/// One room's speakers, keyed by whatever the router uses for participants.
#[derive(Debug)]
pub struct Speakers<K> {
    entries: Vec<Entry<K>>,
    announced: Vec<K>,
    next_decision: Option<Instant>,
}

#[derive(Debug)]
struct Entry<K> {
    key: K,
    loudness: f32,
    last: Instant,
}

impl<K> Default for Speakers<K> {
    fn default() -> Self {
        Speakers {
            entries: Vec::new(),
            announced: Vec::new(),
            next_decision: None,
        }
    }
}

/// Loudness 0..=127 (127 loudest) from str0m's audio level (-127..=0 dBov)
/// and the voice-activity flag (a packet flagged as no voice counts as silence).
pub fn loudness(audio_level: i8, voice_activity: Option<bool>) -> f32 {
    if voice_activity == Some(false) {
        return 0.0;
    }
    let dbov = audio_level.unsigned_abs().min(127);
    f32::from(127 - dbov)
}

impl<K: Copy + Eq> Speakers<K> {
    /// Records one audio packet's level.
    pub fn observe(&mut self, key: K, audio_level: i8, voice_activity: Option<bool>, now: Instant) {
        let sample = loudness(audio_level, voice_activity);
        match self.entries.iter_mut().find(|e| e.key == key) {
            Some(entry) => {
                let stale = now.saturating_duration_since(entry.last) > STALE_AFTER;
                let base = if stale { 0.0 } else { entry.loudness };
                entry.loudness = base + SMOOTHING * (sample - base);
                entry.last = now;
            }
            None => self.entries.push(Entry {
                key,
                loudness: SMOOTHING * sample,
                last: now,
            }),
        }
        self.next_decision.get_or_insert(now + DECISION_INTERVAL);
    }

    /// Forgets a participant.
    pub fn remove(&mut self, key: K, now: Instant) {
        self.entries.retain(|e| e.key != key);
        if self.announced.contains(&key) {
            // Decide at once: nobody should see a departed speaker.
            self.next_decision = Some(now);
        }
    }

    /// When [`Speakers::decide`] should next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_decision
    }

    /// The new ranking if it changed since the last announcement (due or not).
    pub fn decide(&mut self, now: Instant) -> Option<Vec<K>> {
        match self.next_decision {
            Some(at) if at <= now => {}
            _ => return None,
        }
        self.entries
            .retain(|e| now.saturating_duration_since(e.last) <= STALE_AFTER * 10);
        let ranking = self.loudest(TOP_SPEAKERS, now);
        self.next_decision = if self.entries.is_empty() {
            None
        } else {
            Some(now + DECISION_INTERVAL)
        };
        if ranking == self.announced {
            return None;
        }
        self.announced = ranking.clone();
        Some(ranking)
    }

    /// Up to `n` speakers above the silence threshold, loudest first.
    pub fn loudest(&self, n: usize, now: Instant) -> Vec<K> {
        let mut live: Vec<&Entry<K>> = self
            .entries
            .iter()
            .filter(|e| now.saturating_duration_since(e.last) <= STALE_AFTER)
            .filter(|e| e.loudness > SPEAKING_THRESHOLD)
            .collect();
        live.sort_by(|a, b| b.loudness.total_cmp(&a.loudness));
        live.into_iter().take(n).map(|e| e.key).collect()
    }

    /// Up to `n` most recently loud participants, whether above the threshold or not:
    /// who gets through when only the N loudest audio streams are forwarded.
    pub fn admitted_audio(&self, key: K, n: usize, now: Instant) -> bool {
        let mut ranked: Vec<&Entry<K>> = self
            .entries
            .iter()
            .filter(|e| now.saturating_duration_since(e.last) <= STALE_AFTER)
            .collect();
        if ranked.len() <= n {
            return true;
        }
        ranked.sort_by(|a, b| b.loudness.total_cmp(&a.loudness));
        ranked.iter().take(n).any(|e| e.key == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_the_loud_ignores_the_silent_and_announces_only_changes() {
        let t0 = Instant::now();
        let mut speakers = Speakers::default();
        for i in 0..30u64 {
            let now = t0 + Duration::from_millis(20 * i);
            speakers.observe(1, -20, Some(true), now);
            speakers.observe(2, -10, None, now);
            speakers.observe(3, -100, None, now);
            speakers.observe(4, -5, Some(false), now);
        }
        let now = t0 + Duration::from_millis(600);
        assert_eq!(speakers.decide(now), Some(vec![2, 1]));
        assert_eq!(speakers.decide(now + DECISION_INTERVAL), None);
        assert!(speakers.admitted_audio(2, 2, now));
        assert!(!speakers.admitted_audio(3, 2, now));
        assert!(speakers.admitted_audio(3, 4, now));
    }

    #[test]
    fn extreme_levels_do_not_panic() {
        let now = Instant::now();
        let mut speakers = Speakers::default();
        for level in [i8::MIN, -128, -127, 0, 1, 127] {
            speakers.observe(level, level, None, now);
        }
        assert!(speakers.loudest(10, now).len() <= 6);
    }
}
