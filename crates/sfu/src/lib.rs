//! The selective forwarding unit (SFU): a sans-IO media router.
//!
//! Planned in the media issue (#3): rooms, publishers and subscribers on str0m
//! (ICE-lite, DTLS-SRTP, BUNDLE), simulcast/SVC layer selection, NACK/RTX, PLI
//! and TWCC, driven by a thin tokio UDP shell on the `--media` port. It never
//! decrypts SFrame payloads. The crate is empty until that issue lands; it
//! exists so that the workspace shows the architecture.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
