//! Load generators. Each one drives a real server over real sockets, bounds
//! every wait, and writes its figures as JSON for docs/BENCHMARKS.md.

pub mod janus;
pub mod ledger;
pub mod mls;
pub mod null_relay;
pub mod sfu;
pub mod signaling;
