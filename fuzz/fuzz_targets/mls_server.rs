//! The server's entry points: a member's commit (with or without a Welcome), a chat message to
//! relay, a KeyPackage to propose, and a creator's bootstrap.
#![no_main]

use std::cell::RefCell;

use e2ee::server_view::{ServerGroupView, ValidatedKeyPackage};
use libfuzzer_sys::fuzz_target;

#[path = "group.rs"]
mod group;

thread_local! {
    static GROUP: RefCell<group::Group> = RefCell::new(group::Group::new());
}

fuzz_target!(|data: &[u8]| {
    GROUP.with(|group| {
        let mut group = group.borrow_mut();
        let (welcome, commit) = data.split_at(data.len() / 3);
        if group.server.submit_commit(commit, Some(welcome)).is_ok()
            || group.server.submit_commit(data, None).is_ok()
        {
            // Only a valid commit moves the view; start from the known state again.
            *group = group::Group::new();
        }
        let _ = group.server.check_chat(data);
        let _ = ValidatedKeyPackage::parse(data);
        let (group_info, tree) = data.split_at(data.len() / 2);
        let _ = ServerGroupView::from_bootstrap(group_info, tree, &group.server_key);
    });
});
