//! RTP header and extension parsing as the router's sessions see it: the
//! extension map the router negotiates (audio level, transport-cc, mid, rid,
//! ...), then the VP9 descriptor of the payload.
#![no_main]
use libfuzzer_sys::fuzz_target;
use str0m::rtp::{ExtensionMap, RtpHeader};

fuzz_target!(|data: &[u8]| {
    // str0m's own target with random extension maps.
    let _ = str0m::_internal_test_exports::fuzz::rtp_header(data);
    let _ = str0m::_internal_test_exports::fuzz::rtp_packet(data);
    if let Some(header) = RtpHeader::_parse(data, &ExtensionMap::standard()) {
        if let Some(level) = header.ext_vals.audio_level {
            assert!(sfu::speakers::loudness(level, header.ext_vals.voice_activity) <= 127.0);
        }
        if let Some(payload) = data.get(header.header_len..) {
            let _ = sfu::vp9::parse(payload);
        }
    }
});
