//! Test instrumentation, compiled only with the cargo feature `tap` (which only the test
//! suites enable): with `CONCLAVE_SFU_TAP_MARKER` set to a hex byte string when the router
//! starts, every RTP payload the router handles is searched for that marker, and the
//! counts go to stderr. The clients put a marker in every plaintext frame, so a test can
//! show that no buffer the SFU handles ever held one (issue #4: the server never holds a
//! media plaintext).

/// The environment variable naming the marker, in hex.
pub const MARKER_ENV: &str = "CONCLAVE_SFU_TAP_MARKER";
/// Payloads between two progress lines on stderr.
const REPORT_EVERY: u64 = 1000;

/// What the tap has seen.
#[derive(Debug)]
pub struct Tap {
    /// Starts each line on stderr, e.g. `sfu tap`.
    label: &'static str,
    marker: Vec<u8>,
    report_every: u64,
    payloads: u64,
    hits: u64,
}

impl Tap {
    /// A tap for the marker in [`MARKER_ENV`], if it is set to non-empty hex; `label`
    /// starts its lines on stderr.
    pub fn from_env(label: &'static str) -> Option<Tap> {
        let hex = std::env::var(MARKER_ENV).ok()?;
        let marker = (0..hex.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(hex.get(at..at + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()
            .filter(|m| !m.is_empty())?;
        eprintln!("{label}: armed with a {}-byte marker", marker.len());
        Some(Tap::new(label, marker))
    }

    /// A tap for `marker`.
    pub fn new(label: &'static str, marker: Vec<u8>) -> Tap {
        Tap {
            label,
            marker,
            report_every: REPORT_EVERY,
            payloads: 0,
            hits: 0,
        }
    }

    /// Reports the counts after every `n` payloads instead of every 1000.
    pub fn report_every(mut self, n: u64) -> Tap {
        self.report_every = n.max(1);
        self
    }

    /// Looks at one payload.
    pub fn see(&mut self, payload: &[u8]) {
        self.payloads += 1;
        if payload
            .windows(self.marker.len())
            .any(|window| window == self.marker)
        {
            self.hits += 1;
            eprintln!(
                "{}: plaintext marker seen ({} so far)",
                self.label, self.hits
            );
        }
        if self.payloads % self.report_every == 0 {
            eprintln!(
                "{}: {} payloads seen, {} with the marker",
                self.label, self.payloads, self.hits
            );
        }
    }

    /// Payloads seen and those that held the marker.
    pub fn counts(&self) -> (u64, u64) {
        (self.payloads, self.hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_marker_anywhere_in_a_payload_and_counts_every_payload() {
        let mut tap = Tap::new("test tap", b"conclave-clear-1".to_vec());
        tap.see(b"\x90\x80sframe ciphertext without it");
        tap.see(b"header conclave-clear-1 body");
        tap.see(b"conclave-clear-");
        tap.see(b"");
        assert_eq!(tap.counts(), (4, 1));
    }
}
