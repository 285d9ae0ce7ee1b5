//! Network impairments for tests, applied to real received datagrams before
//! str0m sees them: random loss of RTP packets, and a token-bucket shaper
//! that holds datagrams in a bounded queue and drops what overflows it, the
//! way a slow access link does.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Drops RTP packets (not RTCP, STUN or DTLS) with a fixed probability.
#[derive(Debug, Clone)]
pub struct RandomLoss {
    probability: f64,
    state: u64,
    dropped: u64,
}

impl RandomLoss {
    /// Loses each RTP packet with `probability` (0 to 1), deterministically from `seed`.
    pub fn new(probability: f64, seed: u64) -> Self {
        RandomLoss {
            probability: probability.clamp(0.0, 1.0),
            state: seed | 1,
            dropped: 0,
        }
    }

    /// Packets dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// True if this datagram is to be dropped.
    pub fn drops(&mut self, datagram: &[u8]) -> bool {
        if !is_rtp(datagram) {
            return false;
        }
        // xorshift64*: good enough to pick packets.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let draw = self.state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
        let dropped = (draw as f64) / ((1u64 << 53) as f64) < self.probability;
        if dropped {
            self.dropped += 1;
        }
        dropped
    }
}

/// RTP per RFC 7983 demultiplexing and RFC 5761: first byte 128..=191, and a
/// second byte outside the RTCP packet types 192..=223 (which is why RTP
/// payload types 64..=95 are never used).
pub fn is_rtp(datagram: &[u8]) -> bool {
    match datagram {
        [first, second, ..] => (128..=191).contains(first) && !(192..=223).contains(second),
        _ => false,
    }
}

/// A receive link of limited rate: datagrams wait in a queue drained at
/// `rate`; what does not fit in the queue is dropped.
#[derive(Debug)]
pub struct ReceiveShaper {
    bytes_per_sec: f64,
    queue_limit: usize,
    queue: VecDeque<(Instant, Vec<u8>)>,
    queued_bytes: usize,
    /// When the link finishes sending the datagram at the head of the queue.
    busy_until: Option<Instant>,
    dropped: u64,
}

impl ReceiveShaper {
    /// A link of `bits_per_sec` with a queue holding `queue_delay` worth of data.
    pub fn new(bits_per_sec: u64, queue_delay: Duration) -> Self {
        let bytes_per_sec = (bits_per_sec.max(8_000) / 8) as f64;
        ReceiveShaper {
            bytes_per_sec,
            queue_limit: (bytes_per_sec * queue_delay.as_secs_f64()).max(1500.0) as usize,
            queue: VecDeque::new(),
            queued_bytes: 0,
            busy_until: None,
            dropped: 0,
        }
    }

    /// Datagrams dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Offers a datagram to the link; false if the queue dropped it.
    pub fn push(&mut self, now: Instant, datagram: Vec<u8>) -> bool {
        if self.queued_bytes + datagram.len() > self.queue_limit {
            self.dropped += 1;
            return false;
        }
        if self.queue.is_empty() {
            let start = self.busy_until.map_or(now, |b| b.max(now));
            self.busy_until = Some(start + self.transmission(datagram.len()));
        }
        self.queued_bytes += datagram.len();
        self.queue.push_back((now, datagram));
        true
    }

    /// The next datagram that has crossed the link by `now`.
    pub fn pop(&mut self, now: Instant) -> Option<Vec<u8>> {
        let done = self.busy_until?;
        if done > now || self.queue.is_empty() {
            return None;
        }
        let (_, datagram) = self.queue.pop_front()?;
        self.queued_bytes -= datagram.len();
        self.busy_until = match self.queue.front() {
            Some((_, next)) => Some(done + self.transmission(next.len())),
            None => Some(done),
        };
        Some(datagram)
    }

    /// When the next datagram comes off the link, if any is queued.
    pub fn next_release(&self) -> Option<Instant> {
        if self.queue.is_empty() {
            None
        } else {
            self.busy_until
        }
    }

    fn transmission(&self, len: usize) -> Duration {
        Duration::from_secs_f64(len as f64 / self.bytes_per_sec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTP: [u8; 12] = [0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
    const RTCP: [u8; 8] = [0x80, 200, 0, 1, 0, 0, 0, 0];

    #[test]
    fn rtp_is_told_from_rtcp_stun_and_dtls() {
        assert!(is_rtp(&RTP));
        let mut marked = RTP;
        marked[1] |= 0x80;
        assert!(is_rtp(&marked));
        assert!(!is_rtp(&RTCP));
        assert!(!is_rtp(&[0x00, 0x01, 0, 0])); // STUN
        assert!(!is_rtp(&[22, 254, 253])); // DTLS
    }

    #[test]
    fn loss_hits_about_the_asked_share_of_rtp_only() {
        let mut loss = RandomLoss::new(0.05, 42);
        let dropped = (0..10_000).filter(|_| loss.drops(&RTP)).count();
        assert!((400..600).contains(&dropped), "{dropped}");
        assert!((0..1000).all(|_| !loss.drops(&RTCP)));
    }

    #[test]
    fn the_shaper_paces_at_its_rate_and_drops_what_overflows() {
        let t0 = Instant::now();
        // 80 kbit/s is 10,000 bytes/s: a 1000-byte datagram takes 100 ms.
        let mut shaper = ReceiveShaper::new(80_000, Duration::from_millis(300));
        assert!(shaper.push(t0, vec![0; 1000]));
        assert!(shaper.push(t0, vec![0; 1000]));
        assert!(shaper.push(t0, vec![0; 1000]));
        assert!(!shaper.push(t0, vec![0; 1000]), "over the 3000-byte queue");
        assert_eq!(shaper.dropped(), 1);
        assert_eq!(shaper.pop(t0), None);
        assert_eq!(shaper.next_release(), Some(t0 + Duration::from_millis(100)));
        assert!(shaper.pop(t0 + Duration::from_millis(100)).is_some());
        assert!(shaper.pop(t0 + Duration::from_millis(150)).is_none());
        assert!(shaper.pop(t0 + Duration::from_millis(200)).is_some());
        assert!(shaper.pop(t0 + Duration::from_millis(300)).is_some());
        assert_eq!(shaper.next_release(), None);
    }
}
