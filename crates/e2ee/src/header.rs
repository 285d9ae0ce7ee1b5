//! The SFrame header (RFC 9605 section 4.3) and Conclave's KID layout (section 5.2), readable
//! without any key.
//!
//! The SFU calls [`FrameHeader::parse`] on every frame it forwards: it learns the KID and CTR,
//! and with [`Kid::sender`] which leaf index the frame claims to come from, so it can drop
//! frames whose header is malformed, oversized, or names another sender than the connection
//! it came from. It never sees a key; the header is authenticated only when a member decrypts.
//!
//! # KID layout
//!
//! RFC 9605 section 5.2 splits the 64-bit KID into `context | sender index | epoch`:
//!
//! ```text
//!   28 bits      32 bits   4 bits
//! +-----------+----------+-------+
//! | context=0 |   leaf   | epoch |
//! +-----------+----------+-------+
//! KID = (leaf << 4) | (epoch mod 16)
//! ```
//!
//! - `E` = [`EPOCH_BITS`] = 4: sixteen epochs can be told apart. Conclave keeps an epoch for
//!   10 s after the next one is installed, so 16 leaves room for bursts of commits while keeping
//!   the KID short: in a group of up to 16 leaves every KID fits one byte after the config byte
//!   (and leaf 0's fits the config byte itself in half of the epochs).
//! - `S` = [`INDEX_BITS`] = 32, the width of an MLS leaf index, fixed rather than sized to
//!   the group. Because the context is always 0 this gives the same KID value the RFC's
//!   group-size dependent `S` gives, so peers need not agree on the group size to agree on KIDs.
//! - The context is always 0: a member sends all its streams under one KID per epoch with a
//!   single CTR sequence, so a KID with a nonzero context is refused rather than guessed at.

use sframe::header::SframeHeader;

use crate::group::{Epoch, LeafIndex};

/// `E` of RFC 9605 section 5.2: how many low bits of the MLS epoch the KID carries.
pub const EPOCH_BITS: u32 = 4;

/// `S` of RFC 9605 section 5.2: how many bits above the epoch carry the sender's leaf index.
pub const INDEX_BITS: u32 = 32;

/// The largest SFrame ciphertext (header, encrypted frame and tag) Conclave accepts: 2 MiB,
/// well above a 4K VP9 key frame, small enough that one frame cannot exhaust memory.
pub const MAX_FRAME_LEN: usize = 2 * 1024 * 1024;

/// The SFrame Key ID of a frame: which sender's key, from which epoch, encrypted it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Kid(u64);

impl Kid {
    /// The KID a member at `sender` uses for every frame it encrypts in `epoch`.
    pub const fn new(sender: LeafIndex, epoch: Epoch) -> Self {
        let epoch_bits = epoch.value() & EPOCH_MASK;
        Self(((sender.value() as u64) << EPOCH_BITS) | epoch_bits)
    }

    /// Wraps a KID value as it appears on the wire.
    pub const fn from_value(value: u64) -> Self {
        Self(value)
    }

    /// The KID as it appears on the wire.
    pub const fn value(self) -> u64 {
        self.0
    }

    /// The sender's leaf index, or an error if the KID does not follow Conclave's layout
    /// (its context bits are not zero).
    pub fn sender(self) -> Result<LeafIndex, HeaderError> {
        let index = self.0 >> EPOCH_BITS;
        u32::try_from(index)
            .map(LeafIndex::new)
            .map_err(|_| HeaderError::ContextNotZero { kid: self.0 })
    }

    /// The low [`EPOCH_BITS`] bits of the epoch the frame was encrypted in.
    pub const fn epoch_bits(self) -> u8 {
        // The mask keeps 4 bits, which always fit a u8.
        (self.0 & EPOCH_MASK) as u8
    }
}

const EPOCH_MASK: u64 = (1 << EPOCH_BITS) - 1;

/// The parsed header of an SFrame ciphertext.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    kid: Kid,
    counter: u64,
    len: usize,
}

impl FrameHeader {
    /// Parses the header at the start of `frame` (an SFrame ciphertext, or the first part of
    /// one), without any key.
    ///
    /// Refuses input longer than [`MAX_FRAME_LEN`], a header cut short, and a KID or CTR not
    /// written in its shortest form (RFC 9605 section 4.3 writes values 0-7 into the config
    /// byte and longer values in as few bytes as they need; a second spelling of the same
    /// header would let one frame be relayed under two different byte strings).
    pub fn parse(frame: &[u8]) -> Result<Self, HeaderError> {
        if frame.len() > MAX_FRAME_LEN {
            return Err(HeaderError::TooLong {
                len: frame.len(),
                max: MAX_FRAME_LEN,
            });
        }
        let Some(&config) = frame.first() else {
            return Err(HeaderError::Empty);
        };
        let needed = 1 + extension_len(config >> 4) + extension_len(config & 0x0f);
        if frame.len() < needed {
            return Err(HeaderError::Truncated {
                needed,
                got: frame.len(),
            });
        }
        // The length check above is exactly the one the sframe parser makes, so this cannot
        // fail; mapping the error anyway keeps a future change there from becoming a panic.
        let header = SframeHeader::deserialize(frame).map_err(|_| HeaderError::Truncated {
            needed,
            got: frame.len(),
        })?;
        let (kid, counter) = (header.key_id(), header.counter());
        if SframeHeader::new(kid, counter).len() != needed {
            return Err(HeaderError::NotShortestForm);
        }
        Ok(Self {
            kid: Kid(kid),
            counter,
            len: needed,
        })
    }

    /// The Key ID (KID).
    pub const fn kid(&self) -> Kid {
        self.kid
    }

    /// The frame counter (CTR), unique per KID.
    pub const fn counter(&self) -> u64 {
        self.counter
    }

    /// How many bytes the header takes at the start of the frame.
    #[allow(clippy::len_without_is_empty)] // a header is never empty: it has a config byte
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Encodes a header; what a sender puts in front of a frame it encrypted under `kid`.
    pub fn encode(kid: Kid, counter: u64) -> Vec<u8> {
        Vec::from(&SframeHeader::new(kid.value(), counter))
    }
}

/// How many bytes follow the config byte for one field, given its half of the config byte
/// (`X|K` or `Y|C`): none if the value is inline, else the length in the low 3 bits plus one.
fn extension_len(half: u8) -> usize {
    if half & 0b1000 == 0 {
        0
    } else {
        usize::from(half & 0b0111) + 1
    }
}

/// Why a frame header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The frame has no bytes at all.
    #[error("empty SFrame ciphertext")]
    Empty,
    /// The frame is longer than Conclave accepts.
    #[error("SFrame ciphertext of {len} bytes exceeds the limit of {max}")]
    TooLong {
        /// Length of the frame.
        len: usize,
        /// The limit, [`MAX_FRAME_LEN`].
        max: usize,
    },
    /// The config byte announces more KID or CTR bytes than the frame holds.
    #[error("SFrame header needs {needed} bytes, frame has {got}")]
    Truncated {
        /// Header length the config byte announces.
        needed: usize,
        /// Bytes available.
        got: usize,
    },
    /// The KID or CTR is written with more bytes than its value needs.
    #[error("SFrame header is not in its shortest form")]
    NotShortestForm,
    /// The KID has bits set above the leaf index, where Conclave's layout keeps zeros.
    #[error("KID {kid:#x} does not follow the Conclave layout (context bits set)")]
    ContextNotZero {
        /// The KID as received.
        kid: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kid_packs_leaf_above_four_epoch_bits() {
        let kid = Kid::new(LeafIndex::new(0x12), Epoch::new(0x13));
        assert_eq!(kid.value(), 0x123);
        assert_eq!(kid.sender(), Ok(LeafIndex::new(0x12)));
        assert_eq!(kid.epoch_bits(), 3);
    }

    #[test]
    fn largest_leaf_fits_and_context_bits_are_refused() {
        let kid = Kid::new(LeafIndex::new(u32::MAX), Epoch::new(u64::MAX));
        assert_eq!(kid.value(), (1 << 36) - 1);
        assert_eq!(kid.sender(), Ok(LeafIndex::new(u32::MAX)));
        let outside = Kid::from_value(1 << 36);
        assert_eq!(
            outside.sender(),
            Err(HeaderError::ContextNotZero { kid: 1 << 36 })
        );
    }

    #[test]
    fn refuses_truncated_and_overlong_headers() {
        assert_eq!(FrameHeader::parse(&[]), Err(HeaderError::Empty));
        // X set with KLEN 2 (three KID bytes), only one present.
        assert_eq!(
            FrameHeader::parse(&[0b1010_0000, 1]),
            Err(HeaderError::Truncated { needed: 4, got: 2 })
        );
        // KID 5 written in an extension byte instead of the config byte.
        assert_eq!(
            FrameHeader::parse(&[0b1000_0000, 5]),
            Err(HeaderError::NotShortestForm)
        );
        // CTR 0x0100 written with a leading zero byte.
        assert_eq!(
            FrameHeader::parse(&[0b0000_1010, 0, 1, 0]),
            Err(HeaderError::NotShortestForm)
        );
        let big = vec![0u8; MAX_FRAME_LEN + 1];
        assert!(matches!(
            FrameHeader::parse(&big),
            Err(HeaderError::TooLong { .. })
        ));
    }

    #[test]
    fn encode_and_parse_round_trip() {
        let kid = Kid::new(LeafIndex::new(7), Epoch::new(42));
        let bytes = FrameHeader::encode(kid, 70_000);
        let header = FrameHeader::parse(&bytes).expect("a header we encoded parses");
        assert_eq!(header.kid(), kid);
        assert_eq!(header.counter(), 70_000);
        assert_eq!(header.len(), bytes.len());
    }
}
