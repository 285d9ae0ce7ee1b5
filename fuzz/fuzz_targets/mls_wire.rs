//! Every bounded MLS parser in `e2ee::wire`, and KeyPackage validation, on arbitrary bytes.
#![no_main]

use e2ee::server_view::ValidatedKeyPackage;
use e2ee::wire;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = wire::parse_key_package(data);
    let _ = wire::parse_handshake(data);
    let _ = wire::parse_welcome(data);
    let _ = wire::parse_ratchet_tree(data);
    let _ = wire::parse_group_info(data);
    let _ = wire::parse_application(data);
    let _ = ValidatedKeyPackage::parse(data);
});
