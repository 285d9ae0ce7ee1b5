//! Where frames meet end-to-end encryption: [`crate::media::session::MediaSession`]
//! encrypts every frame payload before packetization and decrypts every reassembled one
//! before it is verified, through a [`FrameCipher`] the caller lends it on each call.
//!
//! The participant's cipher is its MLS membership ([`crate::membership::Membership`]),
//! which has no key before its first epoch: then [`FrameCipher::encrypt`] refuses and the
//! session sends nothing (there is no plaintext fallback).

use std::time::Instant;

use proto::ids::ParticipantId;

/// Encrypts outgoing and decrypts incoming frame payloads.
pub trait FrameCipher {
    /// The frame to put on the wire for `frame`, or why it cannot be sent now.
    fn encrypt(&mut self, frame: &[u8]) -> Result<Vec<u8>, CipherError>;

    /// The plaintext of a received frame and who sent it.
    fn decrypt(&mut self, frame: &[u8], now: Instant) -> Result<Opened, CipherError>;
}

/// A decrypted frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// The frame payload.
    pub payload: Vec<u8>,
    /// The sender the key named, if the cipher knows senders.
    pub sender: Option<ParticipantId>,
}

/// Why a frame was not encrypted or decrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CipherError {
    /// No epoch keys are installed yet (or any more).
    #[error("no media keys")]
    NoKeys,
    /// The frame's KID names an epoch this member holds no keys for: one before it joined,
    /// after it was removed, or already dropped.
    #[error("undecryptable frame: {0}")]
    UnknownEpoch(String),
    /// The frame did not decrypt (bad tag, malformed header, replay).
    #[error("undecryptable frame: {0}")]
    Undecryptable(String),
    /// Encryption failed.
    #[error("cannot encrypt: {0}")]
    Encrypt(String),
}

/// Frames as they are, for `conclave bench janus` only: Janus is measured as a plain
/// forwarder, and the participants of that benchmark are not in an MLS group. A meeting's
/// participant never uses this.
#[derive(Debug, Default, Clone, Copy)]
pub struct Plaintext;

impl FrameCipher for Plaintext {
    fn encrypt(&mut self, frame: &[u8]) -> Result<Vec<u8>, CipherError> {
        Ok(frame.to_vec())
    }

    fn decrypt(&mut self, frame: &[u8], _now: Instant) -> Result<Opened, CipherError> {
        Ok(Opened {
            payload: frame.to_vec(),
            sender: None,
        })
    }
}
