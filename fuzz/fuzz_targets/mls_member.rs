//! A member's entry points for relayed MLS messages: handshake (proposal or commit) and chat.
#![no_main]

use std::cell::RefCell;
use std::time::Instant;

use e2ee::franking::Commitment;
use libfuzzer_sys::fuzz_target;

#[path = "group.rs"]
mod group;

thread_local! {
    static GROUP: RefCell<group::Group> = RefCell::new(group::Group::new());
}

fuzz_target!(|data: &[u8]| {
    GROUP.with(|group| {
        let mut group = group.borrow_mut();
        let group = &mut *group;
        let _ = group
            .bob
            .process_handshake(data, &group.directory, Instant::now());
        let commitment = Commitment::from_bytes([0; 32]);
        let _ = group.bob.receive_chat(data, &commitment);
    });
});
