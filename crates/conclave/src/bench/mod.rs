//! Load generators. Each one drives a real server over real sockets, bounds
//! every wait, and writes its figures as JSON for docs/BENCHMARKS.md.

pub mod mls;
pub mod signaling;
