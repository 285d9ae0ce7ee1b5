//! Demultiplexing of datagrams from unknown addresses: classification and the
//! STUN USERNAME ufrag.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sfu::demux::classify(data);
    if let Some(ufrag) = sfu::demux::binding_request_ufrag(data) {
        assert!(!ufrag.is_empty() && ufrag.len() <= sfu::demux::MAX_USERNAME_BYTES);
        assert!(!ufrag.contains(':'));
    }
});
