//! Test instrumentation, compiled only with the cargo feature `tap` (which only the test
//! suites enable): with `CONCLAVE_SFU_TAP_MARKER` set, every chat message the server relays
//! is searched for the marker, as `sfu::tap` does for media, so a test can show that the
//! server never holds a chat plaintext.

use std::sync::{Mutex, OnceLock};

use sfu::tap::Tap;

static CHAT: OnceLock<Option<Mutex<Tap>>> = OnceLock::new();

/// Looks at one chat message (MLS ciphertext) the server handles.
pub fn see_chat(message: &[u8]) {
    let tap = CHAT.get_or_init(|| {
        Tap::from_env("server chat tap").map(|tap| Mutex::new(tap.report_every(1)))
    });
    if let Some(tap) = tap {
        tap.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .see(message);
    }
}
