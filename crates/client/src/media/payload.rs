//! The synthetic frame payload: a fixed header followed by a body derived
//! from the header, so a receiver can check every byte without knowing
//! anything in advance.
//!
//! This is the *frame payload*: the bytes an encoder would produce for one
//! audio frame or one spatial layer of a video picture. The VP9 payload
//! descriptor that [`crate::media::packetizer`] puts in front of each RTP
//! packet is not part of it. When end-to-end encryption arrives (#4), SFrame
//! encrypts exactly this buffer, whole, and the receiver decrypts the
//! reassembled buffer before [`verify`]: nothing here depends on the bytes
//! being readable in transit.

use proto::signaling::MediaSource;

/// Marks the start of every synthetic frame (and its layout version).
const MAGIC: u16 = 0xC0C1;
/// Bytes of [`FrameHeader`] on the wire.
pub const HEADER_LEN: usize = 32;
/// Opens the body of every synthetic frame, right after the header. It is readable only in
/// a plaintext frame: a test that finds it in what the SFU forwarded has caught a frame that
/// was not end-to-end encrypted.
pub const PLAINTEXT_MARKER: &[u8; 16] = b"conclave-clear-1";
/// Shortest frame payload: header and marker.
pub const MIN_FRAME_LEN: usize = HEADER_LEN + PLAINTEXT_MARKER.len();
/// Largest frame payload the generator makes and a receiver accepts.
pub const MAX_FRAME_LEN: usize = 256 * 1024;

/// What every synthetic frame says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Identifies the sender: [`sender_tag`] of its participant id.
    pub sender_tag: u32,
    /// Which of the sender's tracks.
    pub source: MediaSource,
    /// Spatial layer (0 for audio).
    pub spatial_id: u8,
    /// Temporal layer (0 for audio).
    pub temporal_id: u8,
    /// An intra frame (always true for audio).
    pub keyframe: bool,
    /// Counts every frame of this source, all layers, from 0.
    pub frame_seq: u32,
    /// Counts pictures (video) or frames (audio) of this source, from 0.
    pub picture: u32,
    /// When the frame was made, microseconds since the Unix epoch.
    pub sent_at_micros: u64,
    /// Length of the whole payload, header included.
    pub len: u32,
}

/// Why a received frame payload is not what its sender made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorruptFrame {
    /// Shorter than a header.
    #[error("frame of {0} bytes is shorter than its header")]
    TooShort(usize),
    /// The magic number is wrong.
    #[error("frame does not start with the synthetic-frame magic")]
    BadMagic,
    /// The source byte names no source.
    #[error("unknown source byte {0}")]
    BadSource(u8),
    /// The length in the header is not the length received.
    #[error("header says {claimed} bytes, {received} arrived")]
    LengthMismatch {
        /// From the header.
        claimed: u32,
        /// What arrived.
        received: usize,
    },
    /// A body byte differs from what the header derives.
    #[error("body byte {offset} differs")]
    BodyMismatch {
        /// Offset into the payload.
        offset: usize,
    },
}

/// The sender tag of a participant: FNV-1a over its id, so a receiver that
/// knows whose track a `mid` carries can check that the frames are theirs.
pub fn sender_tag(participant_id: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in participant_id.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

fn source_byte(source: MediaSource) -> u8 {
    match source {
        MediaSource::Audio => 1,
        MediaSource::Video => 2,
        MediaSource::Screen => 3,
    }
}

fn source_from_byte(byte: u8) -> Option<MediaSource> {
    match byte {
        1 => Some(MediaSource::Audio),
        2 => Some(MediaSource::Video),
        3 => Some(MediaSource::Screen),
        _ => None,
    }
}

impl FrameHeader {
    /// Builds the whole payload: header, [`PLAINTEXT_MARKER`], then the derived body. `len`
    /// is clamped to at least [`MIN_FRAME_LEN`] and at most [`MAX_FRAME_LEN`].
    pub fn build(mut self) -> Vec<u8> {
        let len = (self.len as usize).clamp(MIN_FRAME_LEN, MAX_FRAME_LEN);
        // The clamp keeps len within u32.
        self.len = u32::try_from(len).unwrap_or(u32::MAX);
        let mut out = Vec::with_capacity(len);
        self.write(&mut out);
        let mut body = BodyStream::new(&out);
        out.extend_from_slice(PLAINTEXT_MARKER);
        out.extend((MIN_FRAME_LEN..len).map(|_| body.next_byte()));
        out
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&MAGIC.to_be_bytes());
        out.push(source_byte(self.source));
        out.push((self.spatial_id << 4) | (self.temporal_id & 0x0f));
        out.push(u8::from(self.keyframe));
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&self.sender_tag.to_be_bytes());
        out.extend_from_slice(&self.frame_seq.to_be_bytes());
        out.extend_from_slice(&self.picture.to_be_bytes());
        out.extend_from_slice(&self.sent_at_micros.to_be_bytes());
        out.extend_from_slice(&self.len.to_be_bytes());
    }

    /// Reads the header of a payload without checking the body.
    pub fn parse(payload: &[u8]) -> Result<FrameHeader, CorruptFrame> {
        let Some(h) = payload.get(..HEADER_LEN) else {
            return Err(CorruptFrame::TooShort(payload.len()));
        };
        let be32 = |at: usize| u32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
        if u16::from_be_bytes([h[0], h[1]]) != MAGIC {
            return Err(CorruptFrame::BadMagic);
        }
        let source = source_from_byte(h[2]).ok_or(CorruptFrame::BadSource(h[2]))?;
        let mut micros = [0u8; 8];
        micros.copy_from_slice(&h[20..28]);
        Ok(FrameHeader {
            sender_tag: be32(8),
            source,
            spatial_id: h[3] >> 4,
            temporal_id: h[3] & 0x0f,
            keyframe: h[4] != 0,
            frame_seq: be32(12),
            picture: be32(16),
            sent_at_micros: u64::from_be_bytes(micros),
            len: be32(28),
        })
    }
}

/// Checks a whole received payload: header sane, length right, and every
/// body byte equal to what the header derives.
pub fn verify(payload: &[u8]) -> Result<FrameHeader, CorruptFrame> {
    let header = FrameHeader::parse(payload)?;
    if header.len as usize != payload.len() {
        return Err(CorruptFrame::LengthMismatch {
            claimed: header.len,
            received: payload.len(),
        });
    }
    if let Some(offset) = (HEADER_LEN..MIN_FRAME_LEN)
        .find(|&at| payload.get(at) != Some(&PLAINTEXT_MARKER[at - HEADER_LEN]))
    {
        return Err(CorruptFrame::BodyMismatch { offset });
    }
    let mut body = BodyStream::new(&payload[..HEADER_LEN]);
    for (offset, byte) in payload.iter().enumerate().skip(MIN_FRAME_LEN) {
        if *byte != body.next_byte() {
            return Err(CorruptFrame::BodyMismatch { offset });
        }
    }
    Ok(header)
}

/// xorshift64* seeded with a hash of the header bytes: cheap, any two frames
/// differ, and a change to any header byte (reserved ones included) shows up
/// in the body.
struct BodyStream {
    state: u64,
    word: u64,
    left: u8,
}

impl BodyStream {
    fn new(header_bytes: &[u8]) -> Self {
        let mut seed: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in header_bytes {
            seed ^= u64::from(*byte);
            seed = seed.wrapping_mul(0x0100_0000_01b3);
        }
        BodyStream {
            // xorshift must not start at zero.
            state: seed | 1,
            word: 0,
            left: 0,
        }
    }

    fn next_byte(&mut self) -> u8 {
        if self.left == 0 {
            self.state ^= self.state >> 12;
            self.state ^= self.state << 25;
            self.state ^= self.state >> 27;
            self.word = self.state.wrapping_mul(0x2545_f491_4f6c_dd1d);
            self.left = 8;
        }
        self.left -= 1;
        let byte = self.word as u8;
        self.word >>= 8;
        byte
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: u32) -> FrameHeader {
        FrameHeader {
            sender_tag: sender_tag("participant-a"),
            source: MediaSource::Video,
            spatial_id: 2,
            temporal_id: 1,
            keyframe: false,
            frame_seq: 77,
            picture: 25,
            sent_at_micros: 1_700_000_000_000_000,
            len,
        }
    }

    #[test]
    fn a_built_frame_verifies_and_round_trips_its_header() {
        let payload = header(1500).build();
        assert_eq!(payload.len(), 1500);
        assert_eq!(verify(&payload), Ok(header(1500)));
    }

    #[test]
    fn every_changed_byte_is_caught() {
        let payload = header(300).build();
        for offset in 0..payload.len() {
            let mut bad = payload.clone();
            bad[offset] ^= 0x01;
            assert!(verify(&bad).is_err(), "flip at {offset} went unnoticed");
        }
        assert_eq!(
            verify(&payload[..299]),
            Err(CorruptFrame::LengthMismatch {
                claimed: 300,
                received: 299
            })
        );
        assert_eq!(verify(&payload[..10]), Err(CorruptFrame::TooShort(10)));
    }

    #[test]
    fn every_frame_carries_the_marker_after_its_header() {
        let payload = header(200).build();
        assert_eq!(&payload[HEADER_LEN..MIN_FRAME_LEN], PLAINTEXT_MARKER);
    }

    #[test]
    fn lengths_are_clamped() {
        assert_eq!(header(3).build().len(), MIN_FRAME_LEN);
        assert_eq!(header(u32::MAX).build().len(), MAX_FRAME_LEN);
    }
}
