//! Conclave's end-to-end encryption: what keeps meeting content away from the server
//! (DESIGN.md threats T1, T4, T5).
//!
//! - [`media`]: SFrame (RFC 9605, suite AES_128_GCM_SHA256_128) for every audio and video
//!   frame, keyed from MLS per section 5.2, with the previous epoch kept 10 s for frames in
//!   flight.
//! - [`header`]: the SFrame header and Conclave's KID layout, which the SFU reads without keys.
//! - [`safety_code`]: the 30-digit code members compare out of band to detect an unseen member.
//! - [`franking`]: commitments and server tags that make reported chat messages verifiable
//!   evidence against their real sender.
//!
//! The MLS group driver (openmls) comes with the e2ee issue (#4). Everything here already takes
//! what it will produce as plain inputs: an epoch's exporter output
//! (`MLS-Exporter(`[`media::EXPORTER_LABEL`]`, "", 16)`), the epoch authenticator, the epoch
//! number and the member's leaf index.
//!
//! # Invariants
//!
//! - Sans-IO: no sockets, no clock, no global state. Time is a `now: Instant` argument, and
//!   randomness an `rng` argument.
//! - Input from the network never panics: every parser has size limits and returns a typed
//!   error, and a property test feeds them arbitrary bytes.
//! - A (base key, KID, CTR) triple is used for at most one frame: each sender has one KID per
//!   epoch and a monotonic counter kept for the epoch's lifetime in [`media::MediaKeys`].
//! - An epoch's keys are gone [`media::EPOCH_GRACE`] after the next epoch is installed.
//! - Key material never appears in `Debug` output.
//! - Reported content is evidence only as a [`franking::VerifiedEvidence`], which only a
//!   successful verification creates.
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, Instant};
//! use e2ee::group::{Epoch, LeafIndex};
//! use e2ee::media::{MediaError, MediaKeys};
//! use e2ee::safety_code::SafetyCode;
//! use e2ee::franking::{self, AccountId, FrankedMessage, MeetingId, ServerFrankingKey, Timestamp};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let now = Instant::now();
//! // Both members got this epoch's base key from the MLS exporter.
//! let base_key = [0x2a; 16];
//! let alice_leaf = LeafIndex::new(0);
//! let mut alice = MediaKeys::new();
//! let mut bob = MediaKeys::new();
//! alice.install_epoch(Epoch::new(5), base_key, now)?;
//! bob.install_epoch(Epoch::new(5), base_key, now)?;
//!
//! let sframe = alice.encrypt(b"opus frame", alice_leaf)?;
//! let frame = bob.decrypt(&sframe, now)?;
//! assert_eq!(frame.payload(), b"opus frame");
//! assert_eq!(frame.sender(), alice_leaf);
//!
//! // After the next commit the old epoch still decrypts for 10 s, then it is refused.
//! bob.install_epoch(Epoch::new(6), [0x2b; 16], now)?;
//! assert!(bob.decrypt(&sframe, now + Duration::from_secs(9)).is_ok());
//! assert!(matches!(
//!     bob.decrypt(&sframe, now + Duration::from_secs(10)),
//!     Err(MediaError::EpochExpired { .. })
//! ));
//!
//! // Every member of an epoch shows the same safety code.
//! let code = SafetyCode::from_epoch_authenticator(&[9u8; 32])?;
//! assert_eq!(code.to_string().len(), 6 * 5 + 5);
//!
//! // Chat is franked: a reported message verifies as evidence against its real sender.
//! let mut rng = rand::thread_rng();
//! let server_key = ServerFrankingKey::generate(&mut rng);
//! let sent = FrankedMessage::seal(b"hello", &mut rng)?; // inner() goes into MLS
//! let (account, meeting) = (AccountId::new("acct-1")?, MeetingId::new("mtg-1")?);
//! let time = Timestamp::from_unix_millis(1_700_000_000_000);
//! let tag = server_key.tag(&sent.commitment(), &account, &meeting, time);
//! let received = franking::open(sent.inner(), &sent.commitment())?;
//! let report = received.into_report(tag, account.clone(), meeting, time);
//! let evidence = server_key.verify(report)?;
//! assert_eq!(evidence.sender(), &account);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod franking;
pub mod group;
pub mod header;
pub mod identity;
pub mod media;
pub mod member;
pub mod safety_code;
pub mod server_view;
pub mod wire;
