//! The check that media is end-to-end encrypted before it is forwarded (issue #4, DESIGN.md
//! T1), without keys: every frame must start with a well-formed SFrame header (RFC 9605
//! section 4.3) whose KID names the meeting's current MLS epoch (or an earlier one superseded
//! less than [`EPOCH_GRACE`] ago, for frames in flight) and the publisher's own leaf in the
//! group. Anything else, plaintext above all, is refused, not forwarded.
//!
//! A video frame spans several packets and only its first packet (descriptor B bit) carries
//! the SFrame header, so the verdict on a frame's first packet is kept, per encoding, in a
//! small ring keyed by RTP timestamp and spatial layer, for the packets that follow. A later
//! packet whose frame start was never seen is refused: nothing proves it is ciphertext.
//!
//! Sans-IO: time is passed in.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use e2ee::header::FrameHeader;
use proto::ids::ParticipantId;

/// How long the previous epoch's frames are still accepted after a change: as long as
/// members keep the previous epoch's keys (`e2ee::media::EPOCH_GRACE`).
pub const EPOCH_GRACE: Duration = e2ee::media::EPOCH_GRACE;

/// Frame-start verdicts remembered per encoding: more than the layer frames of the pictures
/// whose packets can interleave.
pub const VERDICT_RING: usize = 16;

/// A meeting's MLS epoch as the server's public view of the group has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEpoch {
    /// The epoch number.
    pub epoch: u64,
    /// Each member's leaf index.
    pub leaves: Vec<(ParticipantId, u32)>,
}

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The meeting has no MLS group yet, so no frame can be encrypted for it.
    #[error("the meeting has no encrypted group yet")]
    NoGroup,
    /// The payload does not start with a well-formed SFrame header.
    #[error("not an SFrame frame ({0})")]
    Header(String),
    /// The KID's epoch is neither the current one nor one superseded within the grace.
    #[error("KID epoch bits {got} are not the current epoch's ({current})")]
    WrongEpoch {
        /// The KID's epoch bits.
        got: u8,
        /// The current epoch's bits.
        current: u8,
    },
    /// The publisher is not a member of the group.
    #[error("the publisher is not in the encrypted group")]
    NotMember,
    /// The KID names another member's leaf.
    #[error("the KID names leaf {got}, the publisher is leaf {own}")]
    WrongSender {
        /// The KID's leaf.
        got: u64,
        /// The publisher's leaf.
        own: u32,
    },
    /// A packet inside a video frame whose first packet was not seen or was refused.
    #[error("a packet of a frame whose start was refused or never seen")]
    UncheckedFrame,
}

/// One meeting's gate.
#[derive(Debug, Default)]
pub struct FrameGate {
    current: Option<u64>,
    /// Earlier epochs and when each stopped being current, for [`EPOCH_GRACE`] (as long as
    /// members keep their keys: several epochs when joins come quickly).
    superseded: Vec<(u64, Instant)>,
    leaves: HashMap<ParticipantId, u32>,
}

impl FrameGate {
    /// A gate that refuses everything until it learns the group.
    pub fn new() -> FrameGate {
        FrameGate::default()
    }

    /// The group moved to `group` at `now` (or a member was added to the same epoch).
    pub fn set_group(&mut self, group: GroupEpoch, now: Instant) {
        if let Some(current) = self.current.filter(|c| *c != group.epoch) {
            self.superseded.push((current, now));
        }
        // The KID carries 4 epoch bits: an older epoch with the new one's bits is gone, as
        // it is from the members' keys.
        let bits = epoch_bits(group.epoch);
        self.superseded.retain(|(epoch, since)| {
            epoch_bits(*epoch) != bits && now.saturating_duration_since(*since) < EPOCH_GRACE
        });
        self.current = Some(group.epoch);
        self.leaves = group.leaves.into_iter().collect();
    }

    /// Checks a frame `publisher` sent: `frame` starts where the SFrame header must be.
    pub fn check(
        &self,
        publisher: &ParticipantId,
        frame: &[u8],
        now: Instant,
    ) -> Result<(), Refusal> {
        let current = self.current.ok_or(Refusal::NoGroup)?;
        let header = FrameHeader::parse(frame).map_err(|e| Refusal::Header(e.to_string()))?;
        let kid = header.kid();
        let bits = kid.epoch_bits();
        let in_grace = self.superseded.iter().any(|(epoch, since)| {
            epoch_bits(*epoch) == bits && now.saturating_duration_since(*since) < EPOCH_GRACE
        });
        if bits != epoch_bits(current) && !in_grace {
            return Err(Refusal::WrongEpoch {
                got: bits,
                current: epoch_bits(current),
            });
        }
        let own = *self.leaves.get(publisher).ok_or(Refusal::NotMember)?;
        let sender = kid.value() >> e2ee::header::EPOCH_BITS;
        if sender != u64::from(own) {
            return Err(Refusal::WrongSender { got: sender, own });
        }
        Ok(())
    }
}

fn epoch_bits(epoch: u64) -> u8 {
    (epoch & ((1 << e2ee::header::EPOCH_BITS) - 1)) as u8
}

/// The verdicts on the first packets of one encoding's recent layer frames.
#[derive(Debug, Default)]
pub struct FrameVerdicts {
    ring: [(u32, u8, bool); VERDICT_RING],
    filled: usize,
    next: usize,
}

impl FrameVerdicts {
    /// Remembers the verdict on the frame at RTP time `time`, spatial layer `spatial`.
    pub fn record(&mut self, time: u32, spatial: u8, allowed: bool) {
        self.ring[self.next] = (time, spatial, allowed);
        self.next = (self.next + 1) % VERDICT_RING;
        self.filled = (self.filled + 1).min(VERDICT_RING);
    }

    /// The verdict on a later packet of that frame: refused unless its start was allowed.
    pub fn of(&self, time: u32, spatial: u8) -> Result<(), Refusal> {
        let allowed = self.ring[..self.filled]
            .iter()
            .rev()
            .find(|(t, s, _)| *t == time && *s == spatial)
            .is_some_and(|(_, _, allowed)| *allowed);
        if allowed {
            Ok(())
        } else {
            Err(Refusal::UncheckedFrame)
        }
    }
}

#[cfg(test)]
mod tests {
    use e2ee::group::{Epoch, LeafIndex};
    use e2ee::header::Kid;
    use proto::ids::OpaqueId;

    use super::*;

    fn pid(n: u8) -> ParticipantId {
        ParticipantId::from_random(&[n; 9])
    }

    fn frame(leaf: u32, epoch: u64) -> Vec<u8> {
        let mut frame = FrameHeader::encode(Kid::new(LeafIndex::new(leaf), Epoch::new(epoch)), 7);
        frame.extend_from_slice(&[0xab; 40]);
        frame
    }

    fn group(epoch: u64) -> GroupEpoch {
        GroupEpoch {
            epoch,
            leaves: vec![(pid(1), 0), (pid(2), 1)],
        }
    }

    #[test]
    fn only_members_frames_of_the_current_epoch_under_their_own_leaf_pass() {
        let t0 = Instant::now();
        let mut gate = FrameGate::new();
        assert_eq!(gate.check(&pid(1), &frame(0, 0), t0), Err(Refusal::NoGroup));
        gate.set_group(group(3), t0);
        assert_eq!(gate.check(&pid(1), &frame(0, 3), t0), Ok(()));
        assert_eq!(gate.check(&pid(2), &frame(1, 3), t0), Ok(()));
        assert_eq!(
            gate.check(&pid(2), &frame(0, 3), t0),
            Err(Refusal::WrongSender { got: 0, own: 1 })
        );
        assert_eq!(
            gate.check(&pid(1), &frame(0, 4), t0),
            Err(Refusal::WrongEpoch { got: 4, current: 3 })
        );
        assert_eq!(
            gate.check(&pid(9), &frame(0, 3), t0),
            Err(Refusal::NotMember)
        );
        // Plaintext: the client's synthetic frames start with a magic, not an SFrame config.
        let plain = b"\x43\x4e\x43\x4c plaintext conclave-clear-1 ......";
        assert!(matches!(
            gate.check(&pid(1), plain, t0),
            Err(Refusal::Header(_) | Refusal::WrongEpoch { .. } | Refusal::WrongSender { .. })
        ));
        assert!(matches!(
            gate.check(&pid(1), &[], t0),
            Err(Refusal::Header(_))
        ));
    }

    #[test]
    fn earlier_epochs_pass_only_within_the_grace() {
        let t0 = Instant::now();
        let mut gate = FrameGate::new();
        gate.set_group(group(3), t0);
        gate.set_group(group(4), t0);
        assert_eq!(gate.check(&pid(1), &frame(0, 3), t0), Ok(()));
        assert_eq!(gate.check(&pid(1), &frame(0, 4), t0), Ok(()));
        let late = t0 + EPOCH_GRACE;
        assert_eq!(
            gate.check(&pid(1), &frame(0, 3), late),
            Err(Refusal::WrongEpoch { got: 3, current: 4 })
        );
        // Quick changes keep every epoch of the last 10 s, as the members' keys do.
        gate.set_group(group(5), t0);
        assert_eq!(gate.check(&pid(1), &frame(0, 3), t0), Ok(()));
        assert_eq!(gate.check(&pid(1), &frame(0, 4), t0), Ok(()));
        // Epoch 19 has epoch 3's bits: 3's frames are no longer told apart, and are gone.
        gate.set_group(group(19), t0);
        assert_eq!(gate.check(&pid(1), &frame(0, 19), t0), Ok(()));
        assert_eq!(gate.check(&pid(1), &frame(0, 4), t0), Ok(()));
        // Ten seconds on, what was superseded at t0 is gone.
        gate.set_group(group(21), t0 + EPOCH_GRACE);
        assert!(gate.check(&pid(1), &frame(0, 4), t0 + EPOCH_GRACE).is_err());
        assert_eq!(gate.check(&pid(1), &frame(0, 19), t0 + EPOCH_GRACE), Ok(()));
        // The same epoch again (told at a new seat) changes nothing.
        gate.set_group(group(21), t0 + EPOCH_GRACE);
        assert_eq!(gate.check(&pid(1), &frame(0, 19), t0 + EPOCH_GRACE), Ok(()));
    }

    #[test]
    fn later_packets_follow_their_frame_start_within_a_bounded_ring() {
        let mut verdicts = FrameVerdicts::default();
        assert_eq!(verdicts.of(100, 0), Err(Refusal::UncheckedFrame));
        verdicts.record(100, 0, true);
        verdicts.record(100, 1, false);
        assert_eq!(verdicts.of(100, 0), Ok(()));
        assert_eq!(verdicts.of(100, 1), Err(Refusal::UncheckedFrame));
        for time in 0..VERDICT_RING as u32 {
            verdicts.record(1000 + time, 0, true);
        }
        assert_eq!(
            verdicts.of(100, 0),
            Err(Refusal::UncheckedFrame),
            "fell out"
        );
        assert_eq!(verdicts.of(1000, 0), Ok(()));
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        let t0 = Instant::now();
        let mut gate = FrameGate::new();
        gate.set_group(group(1), t0);
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for len in 0..300 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            let _ = gate.check(&pid(1), &bytes, t0);
        }
    }
}
