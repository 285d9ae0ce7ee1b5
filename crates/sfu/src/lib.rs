//! Conclave's selective forwarding unit (SFU): a sans-IO media router on
//! str0m, and the thin tokio shell that runs it on one UDP port.
//!
//! - [`router`]: the [`Router`]. One str0m `Rtc` per admitted participant
//!   (ICE-lite, DTLS-SRTP, BUNDLE, rtcp-mux, RTP mode), demultiplexed by
//!   source address or STUN ufrag; forwards Opus, VP9 SVC (L3T3_KEY) and VP9
//!   simulcast with per-subscriber layer selection, keyframe requests,
//!   NACK/RTX, TWCC bandwidth estimation and active speakers.
//! - [`service`]: the tokio task that owns the UDP socket and the router,
//!   and the [`MediaHandle`] the server talks to it with.
//! - [`e2ee_check`]: the gate that forwards only frames end-to-end encrypted for the
//!   meeting's MLS group (SFrame header and KID checked, never decrypted);
//! - [`vp9`], [`demux`], [`speakers`], [`forward`]: the small pieces it is made of;
//!   [`udp_batch`]: `sendmmsg` batching for the shell.
//!
//! Invariants: the router never decrypts frame payloads (they are SFrame
//! ciphertext); it reads RTP headers, header extensions, the VP9 payload
//! descriptor and the SFrame header only, and refuses frames without one. Every parser of network bytes here is total and
//! bounded. Only a participant with an [`Admission`] gets a session. Peer
//! addresses are wrapped in [`PeerAddr`], which cannot be logged.
//!
//! ```
//! use std::time::Instant;
//! use sfu::{Router, RouterConfig};
//! let now = Instant::now();
//! let mut router = Router::new(RouterConfig::new("127.0.0.1:10000".parse().unwrap()), now).unwrap();
//! router.handle_timeout(now);
//! while let Some(output) = router.poll_output() {
//!     let _ = output; // send datagrams, deliver signals
//! }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod demux;
pub mod e2ee_check;
pub mod forward;
pub mod router;
pub mod service;
pub mod speakers;
#[cfg(feature = "tap")]
pub mod tap;
pub mod udp_batch;
pub mod vp9;

pub use e2ee_check::GroupEpoch;
pub use router::{
    Admission, Datagram, Output, PeerAddr, Router, RouterConfig, RouterError, RouterEvent,
    RouterStats,
};
pub use service::{MediaHandle, MediaMetrics, Service, SignalSink};
