//! Coordinates of a member inside an MLS group, and the group parameters every member and the
//! server share.
//!
//! Leaf index and epoch are plain newtypes so that a leaf index can never be passed where an
//! epoch is expected; the MLS driver ([`crate::member`], [`crate::server_view`]) converts
//! openmls' types into them.

use std::fmt;

use openmls::prelude::Ciphersuite;

/// The one MLS ciphersuite Conclave uses (DESIGN.md, "MLS"): 0x0001,
/// MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519.
pub const CIPHERSUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

/// The longest MLS group id accepted, in bytes. A meeting's group id is its meeting id.
pub const MAX_GROUP_ID_LEN: usize = 256;

/// How many epochs before the current one still decrypt application messages: none.
///
/// The server relays every message of a group in one order, so a chat message of epoch `n`
/// reaches every member before the commit that ends `n`; one that reaches the server after it
/// accepted that commit is refused ([`crate::server_view::ServerGroupView::check_chat`]) and
/// its sender sends it again in the new epoch. Keeping past epochs would cost every commit a
/// copy of the whole member list per kept epoch in openmls' storage: at 1,000 members, 2 kept
/// epochs made processing an add commit 3.4 times slower (12.7 ms instead of 3.7 ms) and a
/// join 1.7 times slower (`conclave bench mls`).
pub const MAX_PAST_EPOCHS: usize = 0;

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
