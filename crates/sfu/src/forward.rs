//! Per-subscriber forwarding state: which packets of a publisher's stream go
//! out, and with which sequence number, timestamp and marker.
//!
//! A subscriber's outgoing stream must look like one contiguous RTP stream
//! although the router drops layers and may switch between simulcast
//! encodings. [`SeqRewriter`] maps input sequence numbers to contiguous output
//! numbers (packets dropped on purpose leave no gap; packets lost upstream
//! leave a gap the subscriber can NACK); [`VideoForwarder`] decides per packet
//! from the VP9 payload descriptor, switching layers up only where the
//! decoder can follow (a keyframe, or a temporal switching-up point).

use std::time::Instant;

use crate::vp9::Vp9Descriptor;

/// How far back (in input packets) a late packet may still be placed.
const HISTORY: usize = 512;

/// What became of one input sequence number.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Not seen yet; would be numbered with this offset.
    Missing(i64),
    /// Sent.
    Forwarded,
    /// Dropped on purpose.
    Dropped,
}

/// Maps one input stream's extended sequence numbers onto a contiguous output.
pub struct SeqRewriter {
    state: Option<SeqState>,
    /// Set by [`SeqRewriter::rebase`]: the next forwarded packet continues here.
    continue_at: Option<u64>,
}

struct SeqState {
    highest_in: u64,
    /// output = input - offset.
    offset: i64,
    highest_out: u64,
    history: Box<[(u64, Fate); HISTORY]>,
}

impl Default for SeqRewriter {
    fn default() -> Self {
        Self::new()
    }
}

impl SeqRewriter {
    /// A rewriter that has forwarded nothing yet.
    pub fn new() -> Self {
        SeqRewriter {
            state: None,
            continue_at: None,
        }
    }

    /// The output sequence number for input `seq`, or `None` if it must not
    /// be sent (a duplicate, too old, or before the stream started here).
    pub fn forward(&mut self, seq: u64) -> Option<u64> {
        if let Some(next) = self.continue_at.take() {
            let offset = i64::try_from(seq).ok()? - i64::try_from(next).ok()?;
            self.state = Some(SeqState::start(seq, offset));
            return Some(next);
        }
        let Some(state) = &mut self.state else {
            // Start with a rollover counter of 0: the subscriber cannot know any other.
            let first = seq & 0xffff;
            let offset = i64::try_from(seq - first).ok()?;
            self.state = Some(SeqState::start(seq, offset));
            return Some(first);
        };
        state.place(seq, true)
    }

    /// Records that input `seq` is dropped on purpose, so it leaves no gap.
    pub fn drop_packet(&mut self, seq: u64) {
        if self.continue_at.is_some() {
            return;
        }
        if let Some(state) = &mut self.state {
            state.place(seq, false);
        }
    }

    /// The input stream changes (another simulcast encoding): the next
    /// forwarded packet continues right after the last output number.
    pub fn rebase(&mut self) {
        if let Some(state) = &self.state {
            self.continue_at = Some(state.highest_out + 1);
        }
    }

    /// The highest output sequence number so far.
    pub fn highest_out(&self) -> Option<u64> {
        self.state.as_ref().map(|s| s.highest_out)
    }
}

impl SeqState {
    fn start(seq: u64, offset: i64) -> SeqState {
        let mut history = Box::new([(u64::MAX, Fate::Dropped); HISTORY]);
        history[slot(seq)] = (seq, Fate::Forwarded);
        SeqState {
            highest_in: seq,
            offset,
            highest_out: out(seq, offset).unwrap_or(0),
            history,
        }
    }

    fn place(&mut self, seq: u64, forward: bool) -> Option<u64> {
        if seq > self.highest_in {
            let gap = seq - self.highest_in - 1;
            let first_missing = if gap >= HISTORY as u64 {
                seq - HISTORY as u64 + 1
            } else {
                self.highest_in + 1
            };
            for missing in first_missing..seq {
                self.history[slot(missing)] = (missing, Fate::Missing(self.offset));
            }
            self.highest_in = seq;
            return if forward {
                self.history[slot(seq)] = (seq, Fate::Forwarded);
                let o = out(seq, self.offset)?;
                self.highest_out = self.highest_out.max(o);
                Some(o)
            } else {
                self.offset += 1;
                self.history[slot(seq)] = (seq, Fate::Dropped);
                None
            };
        }
        if self.highest_in - seq >= HISTORY as u64 {
            return None;
        }
        let entry = &mut self.history[slot(seq)];
        match *entry {
            (s, Fate::Missing(offset)) if s == seq => {
                // A late packet (e.g. repaired upstream). If it is dropped now,
                // its number stays a gap: later numbers are already out.
                if forward {
                    *entry = (seq, Fate::Forwarded);
                    out(seq, offset)
                } else {
                    *entry = (seq, Fate::Dropped);
                    None
                }
            }
            _ => None,
        }
    }
}

fn slot(seq: u64) -> usize {
    (seq % HISTORY as u64) as usize
}

fn out(seq: u64, offset: i64) -> Option<u64> {
    u64::try_from(i64::try_from(seq).ok()?.checked_sub(offset)?).ok()
}

/// Which layers of a publisher's video a subscriber gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layers {
    /// Simulcast encoding index (0 for SVC or a single stream).
    pub encoding: usize,
    /// Highest spatial layer forwarded.
    pub spatial: u8,
    /// Highest temporal layer forwarded.
    pub temporal: u8,
}

/// What to do with one video packet for one subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send it with these header values.
    Forward {
        /// Output sequence number.
        seq: u64,
        /// Output RTP timestamp.
        time: u32,
        /// Output marker bit.
        marker: bool,
    },
    /// Do not send it.
    Drop,
}

/// One subscriber's view of one publisher video track.
pub struct VideoForwarder {
    seq: SeqRewriter,
    current: Option<Layers>,
    target: Option<Layers>,
    /// output time = input time + offset (changes only on an encoding switch).
    time_offset: u32,
    last_out: Option<(u32, Instant)>,
}

impl Default for VideoForwarder {
    fn default() -> Self {
        Self::new()
    }
}

impl VideoForwarder {
    /// A forwarder that sends nothing until a target is set and a keyframe comes.
    pub fn new() -> Self {
        VideoForwarder {
            seq: SeqRewriter::new(),
            current: None,
            target: None,
            time_offset: 0,
            last_out: None,
        }
    }

    /// The layers wanted; `None` pauses the track.
    pub fn set_target(&mut self, target: Option<Layers>) {
        self.target = target;
    }

    /// The layers wanted.
    pub fn target(&self) -> Option<Layers> {
        self.target
    }

    /// The layers being sent now.
    pub fn current(&self) -> Option<Layers> {
        self.current
    }

    /// Forget what is being sent: the next packet sent will start a keyframe
    /// (after a host mute, for instance).
    pub fn restart(&mut self) {
        self.current = None;
    }

    /// The encoding whose keyframe this subscriber waits for, if any.
    pub fn wants_keyframe(&self) -> Option<usize> {
        let target = self.target?;
        match self.current {
            None => Some(target.encoding),
            Some(cur) if cur.encoding != target.encoding || target.spatial > cur.spatial => {
                Some(target.encoding)
            }
            Some(_) => None,
        }
    }

    /// Decides about one packet of encoding `encoding`.
    pub fn on_packet(
        &mut self,
        encoding: usize,
        seq: u64,
        time: u32,
        marker: bool,
        d: &Vp9Descriptor,
        arrival: Instant,
    ) -> Verdict {
        let keyframe = d.starts_keyframe();
        let Some(target) = self.target else {
            if self.current.is_some_and(|c| c.encoding == encoding) {
                self.seq.drop_packet(seq);
            }
            return Verdict::Drop;
        };
        let mut cur = match self.current {
            // Start, or move to another simulcast encoding, at its keyframe.
            None if encoding == target.encoding && keyframe => {
                self.switch_encoding(time, arrival);
                target
            }
            Some(cur) if cur.encoding != encoding && encoding == target.encoding && keyframe => {
                self.switch_encoding(time, arrival);
                target
            }
            // Another simulcast encoding's packet is another sequence space.
            None => return Verdict::Drop,
            Some(cur) if cur.encoding != encoding => return Verdict::Drop,
            Some(cur) => cur,
        };
        if cur.encoding == target.encoding {
            if d.starts_picture() {
                if target.spatial < cur.spatial || (target.spatial > cur.spatial && keyframe) {
                    cur.spatial = target.spatial;
                }
                if target.temporal < cur.temporal || keyframe {
                    cur.temporal = target.temporal;
                }
            }
            if target.temporal > cur.temporal
                && d.begin
                && d.switching_up
                && d.temporal > cur.temporal
                && d.temporal <= target.temporal
            {
                cur.temporal = d.temporal;
            }
        }
        self.current = Some(cur);
        if d.spatial > cur.spatial || d.temporal > cur.temporal {
            self.seq.drop_packet(seq);
            return Verdict::Drop;
        }
        let Some(out_seq) = self.seq.forward(seq) else {
            return Verdict::Drop;
        };
        let out_time = time.wrapping_add(self.time_offset);
        self.last_out = Some((out_time, arrival));
        Verdict::Forward {
            seq: out_seq,
            time: out_time,
            marker: marker || (d.end && d.spatial == cur.spatial),
        }
    }

    /// Starts forwarding a (new) input stream so that sequence numbers and
    /// timestamps continue where the previous one left off.
    fn switch_encoding(&mut self, in_time: u32, arrival: Instant) {
        self.seq.rebase();
        self.time_offset = match self.last_out {
            Some((last_time, last_arrival)) => {
                let elapsed = arrival.saturating_duration_since(last_arrival);
                let ticks = u32::try_from(elapsed.as_micros() * 90 / 1000).unwrap_or(u32::MAX);
                last_time.wrapping_add(ticks.max(1)).wrapping_sub(in_time)
            }
            None => 0,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_leave_no_gap_and_late_packets_keep_their_place() {
        let mut seq = SeqRewriter::new();
        assert_eq!(seq.forward(70_000), Some(70_000 & 0xffff));
        let base = 70_000 & 0xffff;
        seq.drop_packet(70_001);
        assert_eq!(seq.forward(70_002), Some(base + 1));
        // 70_003 is lost upstream for now; 70_004 comes first.
        assert_eq!(seq.forward(70_004), Some(base + 3));
        assert_eq!(
            seq.forward(70_003),
            Some(base + 2),
            "a repaired packet fills its gap"
        );
        assert_eq!(seq.forward(70_003), None, "duplicates are not sent twice");
        assert_eq!(seq.forward(60_000), None, "too old");
        seq.rebase();
        assert_eq!(seq.forward(5), Some(base + 4));
        assert_eq!(seq.forward(6), Some(base + 5));
    }

    fn desc(spatial: u8, temporal: u8, begin: bool, end: bool, key: bool) -> Vp9Descriptor {
        Vp9Descriptor {
            inter_picture: !key,
            flexible: false,
            begin,
            end,
            picture_id: None,
            temporal,
            spatial,
            switching_up: false,
            inter_layer: key && spatial > 0,
            scalability: None,
            len: 3,
        }
    }

    #[test]
    fn spatial_layers_switch_up_only_at_a_keyframe() {
        let now = Instant::now();
        let mut f = VideoForwarder::new();
        f.set_target(Some(Layers {
            encoding: 0,
            spatial: 0,
            temporal: 2,
        }));
        let mut s = 100;
        let mut picture = |f: &mut VideoForwarder, key: bool| {
            let mut out = Vec::new();
            for spatial in 0..3 {
                s += 1;
                out.push(f.on_packet(
                    0,
                    s,
                    9000,
                    spatial == 2,
                    &desc(spatial, 0, true, true, key),
                    now,
                ));
            }
            out
        };
        assert!(
            picture(&mut f, false).iter().all(|v| *v == Verdict::Drop),
            "waits for a keyframe"
        );
        let first = picture(&mut f, true);
        assert!(
            matches!(first[0], Verdict::Forward { marker: true, .. }),
            "marker moves to the top forwarded layer"
        );
        assert_eq!(&first[1..], &[Verdict::Drop, Verdict::Drop]);
        f.set_target(Some(Layers {
            encoding: 0,
            spatial: 2,
            temporal: 2,
        }));
        assert_eq!(f.wants_keyframe(), Some(0));
        let delta = picture(&mut f, false);
        assert_eq!(
            &delta[1..],
            &[Verdict::Drop, Verdict::Drop],
            "no switch-up on a delta frame"
        );
        let key = picture(&mut f, true);
        let seqs: Vec<u64> = first
            .iter()
            .chain(&delta)
            .chain(&key)
            .filter_map(|v| match v {
                Verdict::Forward { seq, .. } => Some(*seq),
                Verdict::Drop => None,
            })
            .collect();
        assert_eq!(seqs.len(), 5);
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "contiguous: {seqs:?}"
        );
        assert_eq!(f.wants_keyframe(), None);
    }
}
