//! Oversight: no single insider can end a meeting, suspend an account or
//! disclose data, and nothing is hidden.
//!
//! Planned in the oversight issue (#5): staff keys and jurisdictions, per-action
//! policy, privileged requests that need k-of-n signed approvals, quorum
//! certificates, verified evidence, notices and appeals, every step written to
//! the `ledger`. The crate is empty until that issue lands.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
