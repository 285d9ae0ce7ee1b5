//! The VP9 payload descriptor parser: never panics, stays within the input and its bound.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = sfu::vp9::parse(data) {
        assert!(d.len <= data.len());
        assert!(d.len <= sfu::vp9::MAX_DESCRIPTOR_BYTES);
        assert!(d.spatial < 8 && d.temporal < 8);
    }
});
