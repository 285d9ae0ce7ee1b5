//! Coordinates of a member inside an MLS group, as the group driver hands them to this crate.
//!
//! These are plain newtypes so that a leaf index can never be passed where an epoch is expected;
//! the MLS group driver (openmls, issue #4) converts its own types into them.

use std::fmt;

/// A member's leaf index in the MLS ratchet tree (RFC 9420 section 7.1).
///
/// It is constant for as long as the member stays in the group and is what the SFrame KID
/// carries to name the sender of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeafIndex(u32);

impl LeafIndex {
    /// Wraps a leaf index taken from the MLS group state.
    pub const fn new(index: u32) -> Self {
        Self(index)
    }

    /// The index as MLS numbers it.
    pub const fn value(self) -> u32 {
        self.0
    }
}

impl fmt::Display for LeafIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "leaf {}", self.0)
    }
}

/// An MLS epoch number (RFC 9420 section 8): it grows by one with every commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Epoch(u64);

impl Epoch {
    /// Wraps an epoch number taken from the MLS group state.
    pub const fn new(epoch: u64) -> Self {
        Self(epoch)
    }

    /// The epoch number as MLS counts it.
    pub const fn value(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "epoch {}", self.0)
    }
}
