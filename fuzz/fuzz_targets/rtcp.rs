//! RTCP compound packets (NACK, PLI, FIR, TWCC, reports) as str0m parses them for the router.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = str0m::_internal_test_exports::fuzz::rtcp(data);
});
