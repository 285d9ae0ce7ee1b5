//! A joiner's entry point: a Welcome and a ratchet tree from the server.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;

#[path = "group.rs"]
mod group;

thread_local! {
    static GROUP: group::Group = group::Group::new();
}

fuzz_target!(|data: &[u8]| {
    GROUP.with(|group| {
        let mut directory = group.directory.clone();
        let joiner = group::pending("carol", &mut directory);
        // The first two bytes split the input into Welcome and tree; with an odd first byte the
        // real tree is used, so the fuzzer can reach past tree parsing.
        let (split, rest) = data.split_at(data.len().min(2));
        let at = split
            .iter()
            .fold(0usize, |acc, b| acc << 8 | usize::from(*b))
            % (rest.len() + 1);
        let (welcome, tree) = rest.split_at(at);
        let tree = if split.first().is_some_and(|b| b & 1 == 1) {
            &group.tree[..]
        } else {
            tree
        };
        let _ = joiner.join(
            welcome,
            tree,
            &group.server_key.public(),
            &group.seated,
            &directory,
            Instant::now(),
        );
    });
});
