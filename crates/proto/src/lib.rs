//! Conclave's wire vocabulary: every message that crosses the network between
//! a client and the server is a type in this crate.
//!
//! - [`ids`]: opaque identifiers (`MeetingId`, `AccountId`, `ParticipantId`)
//!   that validate their form when they are parsed.
//! - [`rest`]: request and response bodies of the HTTP API (`/api/v1/...`);
//!   the OpenAPI document is generated from these types.
//! - [`signaling`]: the JSON messages of the WebSocket at `/api/v1/ws`.
//! - [`ledger`]: bodies of the public transparency-log API (`/api/v1/ledger/...`).
//!
//! Invariants: every request type rejects unknown fields; every signaling
//! message is at most [`signaling::MAX_MESSAGE_BYTES`] (the MLS messages that
//! carry a ratchet tree or a commit: [`signaling::MAX_MLS_MESSAGE_BYTES`]); the first client
//! message carries [`signaling::PROTOCOL_VERSION`].
//!
//! ```
//! use proto::signaling::{ClientMessage, PROTOCOL_VERSION};
//! let hello = ClientMessage::parse(r#"{"type":"hello","version":1,"auth":{"kind":"guest","display_name":"Ada"}}"#)?;
//! assert!(matches!(hello, ClientMessage::Hello { version: PROTOCOL_VERSION, .. }));
//! # Ok::<(), proto::signaling::ParseError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod ids;
pub mod ledger;
pub mod rest;
pub mod signaling;
#[cfg(test)]
mod typescript;
