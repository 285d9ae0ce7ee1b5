//! What a participant received from each peer and source: every frame
//! verified byte for byte, with latency, loss and ordering.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::media::payload::{self, CorruptFrame, FrameHeader};
use crate::media::reassembly::Reassembled;

/// Latency samples kept per source; later frames replace random earlier ones
/// (reservoir sampling), so long runs keep a fair sample in bounded memory.
pub const MAX_LATENCY_SAMPLES: usize = 20_000;

/// Counters for one source of one peer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceStats {
    /// Frames that arrived whole and verified.
    pub frames: u64,
    /// Payload bytes of those frames.
    pub bytes: u64,
    /// Of those, keyframes.
    pub keyframes: u64,
    /// Verified frames per spatial layer (index 0 is the lowest).
    pub frames_by_spatial: [u64; 3],
    /// RTP packets given up as lost after waiting for a repair.
    pub lost_packets: u64,
    /// Frames that could not be completed.
    pub incomplete_frames: u64,
    /// Frames whose sequence number was lower than one already received.
    pub out_of_order: u64,
    /// Frames whose bytes, length or sender did not verify.
    pub corrupt: u64,
    /// Frames that decrypted but are not synthetic: real codec media (a browser's Opus or
    /// VP9, or a clip). Their bytes cannot be checked, only that they arrived.
    pub codec_frames: u64,
    /// The first corruption seen, for the report.
    pub first_corruption: Option<String>,
    /// One-way latency samples in microseconds (send timestamp to completion).
    pub latency_micros: Vec<u32>,
    /// Frames seen by the latency sampler (for the reservoir).
    latency_seen: u64,
    /// When the first verified frame was completed.
    pub first_frame_at: Option<Instant>,
    /// Whether that first frame was a keyframe.
    pub first_frame_keyframe: Option<bool>,
    /// Highest frame sequence number verified so far.
    pub last_frame_seq: Option<u32>,
    /// Spatial layer of the last verified frame.
    pub last_spatial_id: Option<u8>,
}

impl SourceStats {
    /// Accounts for one reassembled frame that came from the peer with
    /// `expected_tag`. `now_wallclock` converts completion instants to the
    /// senders' clock; `random` drives the latency reservoir.
    pub fn record(
        &mut self,
        item: &Reassembled,
        expected_tag: u32,
        clock: &WallClock,
        random: u64,
    ) -> Option<FrameHeader> {
        let (payload, keyframe, completed_at) = match item {
            Reassembled::Incomplete => {
                self.incomplete_frames += 1;
                return None;
            }
            Reassembled::Frame {
                payload,
                keyframe,
                completed_at,
            } => (payload, *keyframe, *completed_at),
        };
        let header = match payload::verify(payload) {
            Ok(header) if header.sender_tag == expected_tag && header.keyframe == keyframe => {
                header
            }
            Ok(header) => {
                self.corrupt(format!(
                    "frame {} carries sender tag {:08x} (expected {expected_tag:08x}), keyframe {} (descriptor says {keyframe})",
                    header.frame_seq, header.sender_tag, header.keyframe
                ));
                return None;
            }
            // SFrame already authenticated the bytes, so a frame without the synthetic magic
            // (or shorter than any synthetic frame, like an Opus silence frame) is what its
            // sender meant to send: real media from a real encoder.
            Err(CorruptFrame::BadMagic | CorruptFrame::TooShort(_)) => {
                self.codec_frames += 1;
                return None;
            }
            Err(e) => {
                self.corrupt(e.to_string());
                return None;
            }
        };
        self.frames += 1;
        self.bytes += payload.len() as u64;
        if header.keyframe {
            self.keyframes += 1;
        }
        if let Some(count) = self
            .frames_by_spatial
            .get_mut(usize::from(header.spatial_id))
        {
            *count += 1;
        }
        match self.last_frame_seq {
            Some(last) if header.frame_seq <= last => self.out_of_order += 1,
            _ => self.last_frame_seq = Some(header.frame_seq),
        }
        self.last_spatial_id = Some(header.spatial_id);
        if self.first_frame_at.is_none() {
            self.first_frame_at = Some(completed_at);
            self.first_frame_keyframe = Some(header.keyframe);
        }
        let received_micros = clock.micros_at(completed_at);
        let latency = received_micros.saturating_sub(header.sent_at_micros);
        let latency = u32::try_from(latency).unwrap_or(u32::MAX);
        self.latency_seen += 1;
        if self.latency_micros.len() < MAX_LATENCY_SAMPLES {
            self.latency_micros.push(latency);
        } else {
            let slot = random % self.latency_seen;
            if let Some(sample) = usize::try_from(slot)
                .ok()
                .and_then(|slot| self.latency_micros.get_mut(slot))
            {
                *sample = latency;
            }
        }
        Some(header)
    }

    fn corrupt(&mut self, what: String) {
        self.corrupt += 1;
        if self.first_corruption.is_none() {
            self.first_corruption = Some(what);
        }
    }

    /// True when frames arrived (synthetic ones verified, or real codec frames) and none was
    /// lost, incomplete, out of order or corrupt.
    pub fn intact(&self) -> bool {
        (self.frames > 0 || self.codec_frames > 0)
            && self.lost_packets == 0
            && self.incomplete_frames == 0
            && self.out_of_order == 0
            && self.corrupt == 0
    }
}

/// Maps [`Instant`]s to wall-clock microseconds from one fixed pair, so
/// that the sans-IO core never reads a clock.
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    instant: Instant,
    wallclock: SystemTime,
}

impl WallClock {
    /// `wallclock` is the wall-clock time at `instant`.
    pub fn new(instant: Instant, wallclock: SystemTime) -> Self {
        WallClock { instant, wallclock }
    }

    /// Wall-clock time at `at`.
    pub fn at(&self, at: Instant) -> SystemTime {
        if at >= self.instant {
            self.wallclock + (at - self.instant)
        } else {
            self.wallclock - (self.instant - at)
        }
    }

    /// Microseconds since the Unix epoch at `at`.
    pub fn micros_at(&self, at: Instant) -> u64 {
        self.at(at)
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proto::signaling::MediaSource;

    use super::*;

    fn frame(seq: u32, tag: u32, sent: SystemTime) -> Vec<u8> {
        FrameHeader {
            sender_tag: tag,
            source: MediaSource::Audio,
            spatial_id: 0,
            temporal_id: 0,
            keyframe: true,
            frame_seq: seq,
            picture: seq,
            sent_at_micros: sent.duration_since(UNIX_EPOCH).unwrap().as_micros() as u64,
            len: 80,
        }
        .build()
    }

    #[test]
    fn frames_are_verified_ordered_and_timed() {
        let t0 = Instant::now();
        let w0 = SystemTime::now();
        let clock = WallClock::new(t0, w0);
        let mut stats = SourceStats::default();
        let arrive = |payload: Vec<u8>, at: Duration| Reassembled::Frame {
            payload,
            keyframe: true,
            completed_at: t0 + at,
        };
        let ms = Duration::from_millis;
        stats.record(&arrive(frame(0, 5, w0), ms(3)), 5, &clock, 0);
        stats.record(&arrive(frame(1, 5, w0), ms(4)), 5, &clock, 0);
        assert!(stats.intact());
        assert_eq!(stats.latency_micros, [3000, 4000]);
        assert_eq!(stats.first_frame_at, Some(t0 + ms(3)));
        assert_eq!(stats.first_frame_keyframe, Some(true));

        stats.record(&arrive(frame(1, 5, w0), ms(5)), 5, &clock, 0);
        assert_eq!(stats.out_of_order, 1);
        stats.record(&arrive(frame(2, 6, w0), ms(5)), 5, &clock, 0);
        assert_eq!(stats.corrupt, 1);
        let mut bad = frame(3, 5, w0);
        bad[60] ^= 1;
        stats.record(&arrive(bad, ms(5)), 5, &clock, 0);
        assert_eq!(stats.corrupt, 2);
        stats.record(&Reassembled::Incomplete, 5, &clock, 0);
        assert_eq!(stats.incomplete_frames, 1);
        assert_eq!(stats.frames, 3);
        assert!(!stats.intact());
    }

    #[test]
    fn real_codec_frames_count_as_received_not_corrupt() {
        let t0 = Instant::now();
        let clock = WallClock::new(t0, SystemTime::now());
        let mut stats = SourceStats::default();
        let arrive = |payload: Vec<u8>| Reassembled::Frame {
            payload,
            keyframe: true,
            completed_at: t0,
        };
        // A VP9 keyframe's first bytes, and a 3-byte Opus frame.
        stats.record(&arrive(vec![0x82, 0x49, 0x83, 0x42, 0x00]), 5, &clock, 0);
        stats.record(&arrive(vec![0xf8, 0xff, 0xfe]), 5, &clock, 0);
        assert_eq!((stats.codec_frames, stats.frames, stats.corrupt), (2, 0, 0));
        assert!(stats.intact());
    }
}
