//! Turns one incoming RTP stream back into frame payloads: packets are put
//! in sequence order (NACK/RTX repairs arrive late), video layer frames are
//! cut at the VP9 descriptor's B and E bits, and a hole that no repair fills
//! within [`GAP_TIMEOUT`] is counted as lost and skipped.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::media::vp9::Vp9Descriptor;

/// How long a hole in the sequence may wait for a retransmission.
pub const GAP_TIMEOUT: Duration = Duration::from_millis(1000);
/// Most packets held waiting for a hole to fill; beyond this the hole is given up.
const MAX_BUFFERED: usize = 4096;

/// One frame payload cut out of the stream, or the news that one was lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reassembled {
    /// A whole frame payload (descriptors removed).
    Frame {
        /// The frame payload.
        payload: Vec<u8>,
        /// From the first packet's VP9 descriptor: no inter-picture
        /// prediction, i.e. a layer frame of a keyframe (always true for audio).
        keyframe: bool,
        /// When its last packet arrived.
        completed_at: Instant,
    },
    /// A frame could not be completed (packets lost, or the stream switched
    /// layers mid-frame); a video receiver should ask for a keyframe.
    Incomplete,
}

struct Buffered {
    payload: std::sync::Arc<[u8]>,
    arrived: Instant,
}

struct OpenFrame {
    payload: Vec<u8>,
    keyframe: bool,
}

/// Reassembly state of one incoming stream (one SSRC).
pub struct Reassembler {
    video: bool,
    buffer: BTreeMap<u64, Buffered>,
    next_seq: Option<u64>,
    gap_since: Option<Instant>,
    open: Option<OpenFrame>,
    lost_packets: u64,
    late_packets: u64,
}

impl Reassembler {
    /// A stream carrying audio (one frame per packet) or VP9 video.
    pub fn new(video: bool) -> Self {
        Reassembler {
            video,
            buffer: BTreeMap::new(),
            next_seq: None,
            gap_since: None,
            open: None,
            lost_packets: 0,
            late_packets: 0,
        }
    }

    /// Packets given up as lost so far.
    pub fn lost_packets(&self) -> u64 {
        self.lost_packets
    }

    /// Packets that arrived after their place had been given up, or twice.
    pub fn late_packets(&self) -> u64 {
        self.late_packets
    }

    /// Takes one packet (extended sequence number, RTP payload) and appends
    /// whatever it completes to `out`.
    pub fn push(
        &mut self,
        now: Instant,
        seq: u64,
        payload: std::sync::Arc<[u8]>,
        out: &mut Vec<Reassembled>,
    ) {
        let next = *self.next_seq.get_or_insert(seq);
        if seq < next || self.buffer.contains_key(&seq) {
            self.late_packets += 1;
            return;
        }
        self.buffer.insert(
            seq,
            Buffered {
                payload,
                arrived: now,
            },
        );
        if self.buffer.len() > MAX_BUFFERED {
            self.skip_gap(out);
        }
        self.drain(now, out);
    }

    /// Gives up holes older than [`GAP_TIMEOUT`].
    pub fn handle_timeout(&mut self, now: Instant, out: &mut Vec<Reassembled>) {
        if self
            .gap_since
            .is_some_and(|since| now.saturating_duration_since(since) >= GAP_TIMEOUT)
        {
            self.skip_gap(out);
            self.drain(now, out);
        }
    }

    /// When [`Reassembler::handle_timeout`] next has work.
    pub fn timeout(&self) -> Option<Instant> {
        self.gap_since.map(|since| since + GAP_TIMEOUT)
    }

    fn skip_gap(&mut self, out: &mut Vec<Reassembled>) {
        let (Some(next), Some((&first, _))) = (self.next_seq, self.buffer.first_key_value()) else {
            return;
        };
        if first > next {
            self.lost_packets += first - next;
            self.next_seq = Some(first);
            if self.open.take().is_some() || self.video {
                out.push(Reassembled::Incomplete);
            }
        }
        self.gap_since = None;
    }

    fn drain(&mut self, now: Instant, out: &mut Vec<Reassembled>) {
        while let Some(next) = self.next_seq {
            let Some(packet) = self.buffer.remove(&next) else {
                break;
            };
            self.next_seq = Some(next + 1);
            self.consume(packet, out);
        }
        self.gap_since = match self.buffer.first_key_value() {
            // Packets wait behind a hole: start (or keep) its clock.
            Some((_, first)) => Some(self.gap_since.unwrap_or(first.arrived.min(now))),
            None => None,
        };
    }

    fn consume(&mut self, packet: Buffered, out: &mut Vec<Reassembled>) {
        if !self.video {
            out.push(Reassembled::Frame {
                payload: packet.payload.to_vec(),
                keyframe: true,
                completed_at: packet.arrived,
            });
            return;
        }
        let Ok((descriptor, header_len)) = Vp9Descriptor::parse(&packet.payload) else {
            if self.open.take().is_some() {
                out.push(Reassembled::Incomplete);
            }
            return;
        };
        let body = &packet.payload[header_len..];
        if descriptor.start_of_frame {
            if self.open.take().is_some() {
                out.push(Reassembled::Incomplete);
            }
            self.open = Some(OpenFrame {
                payload: Vec::with_capacity(body.len() * 4),
                keyframe: !descriptor.inter_picture,
            });
        }
        let Some(open) = self.open.as_mut() else {
            // The middle of a frame whose start was lost: nothing to add it to.
            return;
        };
        if open.payload.len() + body.len() > crate::media::payload::MAX_FRAME_LEN {
            self.open = None;
            out.push(Reassembled::Incomplete);
            return;
        }
        open.payload.extend_from_slice(body);
        if descriptor.end_of_frame {
            if let Some(frame) = self.open.take() {
                out.push(Reassembled::Frame {
                    payload: frame.payload,
                    keyframe: frame.keyframe,
                    completed_at: packet.arrived,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use proto::signaling::MediaSource;

    use super::*;
    use crate::media::generator::{FrameGenerator, VideoConfig};
    use crate::media::packetizer::packetize;

    fn packets(pictures: usize) -> (Vec<Vec<u8>>, Vec<std::sync::Arc<[u8]>>) {
        let t0 = Instant::now();
        let mut video = FrameGenerator::video(
            MediaSource::Video,
            VideoConfig::camera(),
            3,
            t0,
            SystemTime::now(),
        );
        let mut frames = Vec::new();
        let mut packets = Vec::new();
        for _ in 0..pictures {
            let picture = video.poll(video.due()).unwrap();
            frames.extend(picture.frames.iter().map(|f| f.payload.clone()));
            packets.extend(packetize(&picture).into_iter().map(|p| p.payload.into()));
        }
        (frames, packets)
    }

    fn payloads(out: &[Reassembled]) -> Vec<Vec<u8>> {
        out.iter()
            .filter_map(|r| match r {
                Reassembled::Frame { payload, .. } => Some(payload.clone()),
                Reassembled::Incomplete => None,
            })
            .collect()
    }

    #[test]
    fn reordered_packets_give_back_every_frame_in_order() {
        let (frames, packets) = packets(6);
        let mut order: Vec<usize> = (0..packets.len()).collect();
        // Swap neighbours, and hold one packet back until the end (a late repair).
        // (The first packet stays first: it sets where the stream starts.)
        for pair in order[1..].chunks_mut(2) {
            pair.reverse();
        }
        let held = order.remove(3);
        order.push(held);
        let now = Instant::now();
        let mut reassembler = Reassembler::new(true);
        let mut out = Vec::new();
        for index in order {
            reassembler.push(now, 1000 + index as u64, packets[index].clone(), &mut out);
        }
        assert!(payloads(&out) == frames, "frames differ");
        assert!(matches!(out[0], Reassembled::Frame { keyframe: true, .. }));
        assert_eq!(reassembler.lost_packets(), 0);
    }

    #[test]
    fn an_unrepaired_hole_is_counted_and_skipped_after_the_timeout() {
        let (frames, packets) = packets(3);
        let t0 = Instant::now();
        let mut reassembler = Reassembler::new(true);
        let mut out = Vec::new();
        // Lose the keyframe's second packet (inside spatial layer 0's frame
        // is too small to split; the top layer's frame spans several packets).
        let lost = 4;
        for (index, packet) in packets.iter().enumerate() {
            if index != lost {
                reassembler.push(t0, index as u64, packet.clone(), &mut out);
            }
        }
        assert_eq!(reassembler.timeout(), Some(t0 + GAP_TIMEOUT));
        let before = payloads(&out).len();
        reassembler.handle_timeout(t0 + GAP_TIMEOUT, &mut out);
        assert_eq!(reassembler.lost_packets(), 1);
        assert!(out.contains(&Reassembled::Incomplete));
        assert_eq!(payloads(&out).len(), frames.len() - 1);
        assert!(payloads(&out).len() > before);
        assert_eq!(reassembler.timeout(), None);
        // A repair that comes too late is only counted.
        reassembler.push(
            t0 + GAP_TIMEOUT,
            lost as u64,
            packets[lost].clone(),
            &mut out,
        );
        assert_eq!(reassembler.late_packets(), 1);
    }
}
