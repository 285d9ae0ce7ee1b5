//! placeholder, written by the e2ee helper
