//! SFrame (RFC 9605) encryption of audio and video frames, keyed from MLS per section 5.2.
//!
//! Every member holds one [`MediaKeys`]. The MLS group driver calls
//! [`MediaKeys::install_epoch`] after each commit with the epoch's base key,
//! `MLS-Exporter(`[`EXPORTER_LABEL`]`, "", 16)`. A sender's key and salt are then derived from
//! that base key and the sender's KID (which carries its leaf index, see [`crate::header`]) with
//! the key schedule of RFC 9605 section 4.4.2, exactly as section 5.2 prescribes; the cipher
//! suite is AES_128_GCM_SHA256_128 (0x0004).
//!
//! The previous epochs stay usable for decryption for [`EPOCH_GRACE`] after a newer epoch is
//! installed, so frames already in flight at a commit still play; after that their keys are
//! dropped and their frames are refused with [`MediaError::EpochExpired`]. A member removed
//! in a commit never learns the next base key, and a joiner never learns the previous one, so
//! neither can decrypt across the commit.
//!
//! What SFrame does not give (RFC 9605 section 7): per-sender authentication (any member can
//! encrypt under another member's KID; the KID names the sender only to members), and replay
//! protection (left to SRTP below and to the jitter buffer above).

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use sframe::frame::{EncryptedFrameView, MediaFrameView, MonotonicCounter};
use sframe::key::{DecryptionKey, EncryptionKey};
use sframe::CipherSuite;
use zeroize::Zeroizing;

use crate::group::{Epoch, LeafIndex};
use crate::header::{FrameHeader, HeaderError, Kid, MAX_FRAME_LEN};

/// The MLS exporter label that yields an epoch's SFrame base key (RFC 9605 section 5.2).
pub const EXPORTER_LABEL: &str = "SFrame 1.0 Base Key";

/// Length of the base key: `AEAD.Nk` of AES_128_GCM_SHA256_128.
pub const BASE_KEY_LEN: usize = 16;

/// Length of the authentication tag AES_128_GCM_SHA256_128 appends to every frame.
pub const TAG_LEN: usize = 16;

/// How long an epoch stays usable for decryption after a newer one is installed.
pub const EPOCH_GRACE: Duration = Duration::from_secs(10);

/// The one cipher suite Conclave uses (DESIGN.md, "SFrame"): 0x0004.
const SUITE: CipherSuite = CipherSuite::AesGcm128Sha256;

/// How many senders' decryption keys an epoch caches. A key is cached only after a frame under
/// it authenticated, so only members can fill the cache; the cap keeps even a misbehaving member
/// from growing it without bound (beyond it, keys are derived per frame).
const MAX_CACHED_SENDERS: usize = 1024;

/// A member's SFrame keys: the current epoch for sending and receiving, and recently superseded
/// epochs for receiving only.
///
/// Sans-IO: time is the `now` the caller passes in. Counters live here, so the store must not be
/// recreated for an epoch it already encrypted in (that would restart CTR at 0 and reuse
/// nonces); install a fresh epoch instead.
pub struct MediaKeys {
    /// Installed epochs, oldest first; the last one is current. At most 2^E entries, since an
    /// epoch evicts any older one with the same low KID bits.
    epochs: Vec<EpochKeys>,
    /// Set by [`MediaKeys::retire`]: the member left, so it encrypts nothing more.
    retired: bool,
}

/// A frame that decrypted and authenticated under a member key of an installed epoch.
#[derive(PartialEq, Eq)]
pub struct DecryptedFrame {
    sender: LeafIndex,
    epoch: Epoch,
    counter: u64,
    payload: Vec<u8>,
}

impl DecryptedFrame {
    /// The leaf index the KID names. Only group members can produce a frame that decrypts, but
    /// any member can name any leaf (RFC 9605 section 7.2).
    pub fn sender(&self) -> LeafIndex {
        self.sender
    }

    /// The epoch whose keys decrypted the frame.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The frame's CTR value.
    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// The decrypted media frame.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The decrypted media frame, taken out.
    pub fn into_payload(self) -> Vec<u8> {
        self.payload
    }
}

impl MediaKeys {
    /// A store with no epoch yet: it can neither encrypt nor decrypt until one is installed.
    pub fn new() -> Self {
        Self {
            epochs: Vec::new(),
            retired: false,
        }
    }

    /// Installs the keys of a new MLS epoch, which becomes current for sending.
    ///
    /// `base_key` is `MLS-Exporter(`[`EXPORTER_LABEL`]`, "", 16)` of that epoch. The epoch that
    /// was current until now stays usable for decryption until `now +` [`EPOCH_GRACE`]. An
    /// installed epoch sharing the new one's low KID bits is dropped at once, as RFC 9605
    /// section 5.2 requires, and so is every epoch whose grace period is over.
    pub fn install_epoch(
        &mut self,
        epoch: Epoch,
        base_key: [u8; BASE_KEY_LEN],
        now: Instant,
    ) -> Result<(), MediaError> {
        let base_key = Zeroizing::new(base_key);
        if self.retired {
            return Err(MediaError::Retired);
        }
        if let Some(newest) = self.current_epoch() {
            if epoch <= newest {
                return Err(MediaError::StaleEpoch { epoch, newest });
            }
        }
        if let Some(current) = self.epochs.last_mut() {
            current.superseded_at = Some(now);
        }
        let bits = kid_bits(epoch);
        self.epochs
            .retain(|e| e.kid_bits() != bits && !e.expired(now));
        self.epochs.push(EpochKeys {
            epoch,
            base_key,
            superseded_at: None,
            receivers: HashMap::new(),
            senders: HashMap::new(),
        });
        Ok(())
    }

    /// Ends sending and starts the grace period of the current epoch, for a member that left
    /// or was removed: frames already in flight still decrypt until `now +` [`EPOCH_GRACE`],
    /// nothing can be encrypted any more.
    pub fn retire(&mut self, now: Instant) {
        if let Some(current) = self.epochs.last_mut() {
            current.superseded_at.get_or_insert(now);
        }
        self.retired = true;
    }

    /// The epoch frames are encrypted in, if any was installed.
    pub fn current_epoch(&self) -> Option<Epoch> {
        self.epochs.last().map(|e| e.epoch)
    }

    /// Drops the keys of every epoch whose grace period is over at `now`. Decryption does this
    /// too; call it from a timer to erase old keys when no frames arrive.
    pub fn expire(&mut self, now: Instant) {
        self.epochs.retain(|e| !e.expired(now));
    }

    /// Encrypts a media frame as the member at leaf `sender` in the current epoch, returning
    /// the SFrame ciphertext (header, encrypted frame, tag).
    pub fn encrypt(&mut self, frame: &[u8], sender: LeafIndex) -> Result<Vec<u8>, MediaError> {
        self.encrypt_with_metadata(frame, &[], sender)
    }

    /// Like [`encrypt`](Self::encrypt), but also authenticates `metadata`, which travels in the
    /// clear beside the frame (e.g. a VP8 payload header the SFU must read). The receiver must
    /// pass the same bytes to [`decrypt_with_metadata`](Self::decrypt_with_metadata).
    pub fn encrypt_with_metadata(
        &mut self,
        frame: &[u8],
        metadata: &[u8],
        sender: LeafIndex,
    ) -> Result<Vec<u8>, MediaError> {
        // The longest header is 17 bytes (config byte, 8 KID bytes, 8 CTR bytes).
        let max_frame = MAX_FRAME_LEN - 17 - TAG_LEN;
        if frame.len() > max_frame {
            return Err(MediaError::FrameTooLong {
                len: frame.len(),
                max: max_frame,
            });
        }
        if self.retired {
            return Err(MediaError::Retired);
        }
        let keys = self.epochs.last_mut().ok_or(MediaError::NoEpoch)?;
        let epoch = keys.epoch;
        let kid = Kid::new(sender, epoch);
        let state = match keys.senders.entry(sender) {
            std::collections::hash_map::Entry::Occupied(slot) => slot.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                let key = EncryptionKey::derive_from(SUITE, kid.value(), &*keys.base_key)
                    .map_err(backend)?;
                slot.insert(SenderState {
                    key,
                    counter: MonotonicCounter::default(),
                })
            }
        };
        let plain = MediaFrameView::try_with_meta_data(&mut state.counter, frame, metadata)
            .map_err(|_| MediaError::CounterExhausted { epoch })?;
        let mut out = Vec::new();
        plain.encrypt_into(&state.key, &mut out).map_err(backend)?;
        // The frame API lays the buffer out as metadata || SFrame ciphertext; the metadata is
        // the caller's to send, so only the ciphertext is returned.
        out.drain(..metadata.len());
        Ok(out)
    }

    /// Decrypts an SFrame ciphertext with the key its KID names.
    ///
    /// Refuses a frame of an epoch that was never installed, was evicted, or whose grace period
    /// is over at `now`, and any frame that fails authentication.
    pub fn decrypt(&mut self, sframe: &[u8], now: Instant) -> Result<DecryptedFrame, MediaError> {
        self.decrypt_with_metadata(sframe, &[], now)
    }

    /// Like [`decrypt`](Self::decrypt) for a frame whose sender authenticated `metadata` with
    /// [`encrypt_with_metadata`](Self::encrypt_with_metadata).
    pub fn decrypt_with_metadata(
        &mut self,
        sframe: &[u8],
        metadata: &[u8],
        now: Instant,
    ) -> Result<DecryptedFrame, MediaError> {
        let header = FrameHeader::parse(sframe)?;
        let min = header.len() + TAG_LEN;
        if sframe.len() < min {
            return Err(MediaError::TooShort {
                len: sframe.len(),
                min,
            });
        }
        let kid = header.kid();
        let sender = kid.sender()?;
        let bits = kid.epoch_bits();

        // Report an expired epoch as such once, then drop every expired epoch's keys.
        if let Some(stale) = self
            .epochs
            .iter()
            .find(|e| e.kid_bits() == bits && e.expired(now))
        {
            let epoch = stale.epoch;
            self.expire(now);
            return Err(MediaError::EpochExpired { epoch });
        }
        self.expire(now);
        let keys = self
            .epochs
            .iter_mut()
            .find(|e| e.kid_bits() == bits)
            .ok_or(MediaError::UnknownEpoch { epoch_bits: bits })?;
        let epoch = keys.epoch;

        let frame = EncryptedFrameView::try_with_meta_data(sframe, metadata).map_err(backend)?;
        let open = |key: &DecryptionKey| {
            let mut out = Vec::new();
            match frame.decrypt_into(key, &mut out) {
                Ok(_) => Ok(out),
                Err(sframe::error::SframeError::DecryptionFailure) => {
                    Err(MediaError::Authentication { sender, epoch })
                }
                Err(other) => Err(backend(other)),
            }
        };
        let mut out = match keys.receivers.get(&sender) {
            Some(key) => open(key)?,
            None => {
                let key = DecryptionKey::derive_from(SUITE, kid.value(), &*keys.base_key)
                    .map_err(backend)?;
                let out = open(&key)?;
                // Cached only now that a frame authenticated under it, so forged KIDs cannot
                // fill the cache.
                if keys.receivers.len() < MAX_CACHED_SENDERS {
                    keys.receivers.insert(sender, key);
                }
                out
            }
        };
        // The frame API lays the buffer out as metadata || frame.
        out.drain(..metadata.len());
        Ok(DecryptedFrame {
            sender,
            epoch,
            counter: header.counter(),
            payload: out,
        })
    }
}

impl Default for MediaKeys {
    fn default() -> Self {
        Self::new()
    }
}

/// Shows where the frame came from, not the media it carries.
impl fmt::Debug for DecryptedFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecryptedFrame")
            .field("sender", &self.sender)
            .field("epoch", &self.epoch)
            .field("counter", &self.counter)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

/// Names the installed epochs only: key material never reaches a log.
impl fmt::Debug for MediaKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaKeys")
            .field(
                "epochs",
                &self
                    .epochs
                    .iter()
                    .map(|e| e.epoch.value())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The keys of one installed epoch.
struct EpochKeys {
    epoch: Epoch,
    base_key: Zeroizing<[u8; BASE_KEY_LEN]>,
    /// When a newer epoch was installed; `None` while this one is current.
    superseded_at: Option<Instant>,
    /// Decryption keys of senders whose frames authenticated in this epoch.
    receivers: HashMap<LeafIndex, DecryptionKey>,
    /// Encryption key and CTR sequence per own leaf. Kept for the epoch's lifetime so a CTR
    /// value is never handed out twice under one KID.
    senders: HashMap<LeafIndex, SenderState>,
}

impl EpochKeys {
    fn kid_bits(&self) -> u8 {
        kid_bits(self.epoch)
    }

    fn expired(&self, now: Instant) -> bool {
        self.superseded_at
            .and_then(|at| now.checked_duration_since(at))
            .is_some_and(|age| age >= EPOCH_GRACE)
    }
}

struct SenderState {
    key: EncryptionKey,
    counter: MonotonicCounter,
}

/// The low epoch bits a KID of `epoch` carries, whatever the sender.
fn kid_bits(epoch: Epoch) -> u8 {
    Kid::new(LeafIndex::new(0), epoch).epoch_bits()
}

fn backend(error: sframe::error::SframeError) -> MediaError {
    MediaError::Backend {
        source: Box::new(error),
    }
}

/// Why a frame could not be encrypted or decrypted, or an epoch not installed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The SFrame header is malformed, oversized or outside Conclave's KID layout.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// The ciphertext is too short to hold its header and the authentication tag.
    #[error("SFrame ciphertext of {len} bytes is shorter than the {min} its header and tag need")]
    TooShort {
        /// Length of the ciphertext.
        len: usize,
        /// Header length plus [`TAG_LEN`].
        min: usize,
    },
    /// The frame to encrypt would make a ciphertext above [`MAX_FRAME_LEN`].
    #[error("media frame of {len} bytes exceeds the limit of {max}")]
    FrameTooLong {
        /// Length of the frame.
        len: usize,
        /// The largest frame that can be encrypted.
        max: usize,
    },
    /// Nothing can be encrypted before the first epoch is installed.
    #[error("no MLS epoch installed yet")]
    NoEpoch,
    /// The member left the group: it encrypts nothing more.
    #[error("left the group; no more frames are encrypted")]
    Retired,
    /// Epochs only move forward; this one is not newer than the current one.
    #[error("{epoch} is not newer than the current {newest}")]
    StaleEpoch {
        /// The epoch offered.
        epoch: Epoch,
        /// The current epoch.
        newest: Epoch,
    },
    /// No installed epoch matches the KID's epoch bits: the frame is from an epoch this member
    /// never had (before it joined, after it was removed) or one already dropped.
    #[error("no keys for a frame whose KID carries epoch bits {epoch_bits}")]
    UnknownEpoch {
        /// The low epoch bits the KID carries.
        epoch_bits: u8,
    },
    /// The frame's epoch was superseded more than [`EPOCH_GRACE`] ago; its keys are now gone.
    #[error("{epoch} expired")]
    EpochExpired {
        /// The expired epoch.
        epoch: Epoch,
    },
    /// The frame failed AEAD authentication: tampered, or not made with this epoch's keys.
    #[error("frame claiming {sender} in {epoch} failed authentication")]
    Authentication {
        /// The leaf index the KID names.
        sender: LeafIndex,
        /// The epoch whose keys were tried.
        epoch: Epoch,
    },
    /// Every CTR value of this sender in this epoch has been used; a new epoch is needed.
    #[error("SFrame counter exhausted in {epoch}")]
    CounterExhausted {
        /// The current epoch.
        epoch: Epoch,
    },
    /// The SFrame implementation failed in a way the checks above do not cover.
    #[error("SFrame backend failure")]
    Backend {
        /// What the `sframe` crate reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}
