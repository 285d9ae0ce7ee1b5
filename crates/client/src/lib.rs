//! The native Conclave participant: signaling, str0m media and `e2ee`.
//!
//! Planned in the media issue (#3) as the engine of `conclave bot`, of the load
//! generator and of integration tests. The crate is empty until that issue
//! lands; today the signaling bench drives the WebSocket protocol directly.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
