//! Media: synthetic frames in, verified frames out, over str0m.
//!
//! The sans-IO pieces, each testable alone with `now` passed in:
//! - [`payload`]: the self-verifying frame payload (what SFrame encrypts);
//! - [`cipher`]: SFrame on every frame payload, through the caller's [`cipher::FrameCipher`];
//! - [`vp9`]: the VP9 RTP payload descriptor;
//! - [`generator`]: synthetic Opus and VP9 SVC (L3T3_KEY) encoders;
//! - [`clip`]: a recorded VP9 clip (IVF) to send instead, for real decoders;
//! - [`packetizer`]: pictures to RTP payloads;
//! - [`reassembly`]: RTP payloads back to frames, waiting for repairs;
//! - [`stats`]: per-peer, per-source verification and counters;
//! - [`impair`]: receive-side loss and rate limiting for tests;
//! - [`session`]: all of it around a str0m `Rtc`;
//! - [`pump`]: a session on a UDP socket in a task, for callers with their own signaling.

pub mod cipher;
pub mod clip;
pub mod generator;
pub mod impair;
pub mod packetizer;
pub mod payload;
pub mod pump;
pub mod reassembly;
pub mod session;
pub mod stats;
pub mod vp9;
