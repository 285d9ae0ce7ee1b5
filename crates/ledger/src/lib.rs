//! placeholder, written by the ledger helper
