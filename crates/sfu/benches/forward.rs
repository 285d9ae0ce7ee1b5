//! Per-packet forwarding cost of the router: one publisher (Opus + VP9
//! L3T3_KEY, about 0.9 Mbit/s), 32 subscribers, in memory, SRTP included
//! (each packet decrypted once and encrypted per subscriber), with the
//! subscribers' RTCP and TWCC feedback flowing back.
//!
//! `cargo bench -p sfu --bench forward` prints the wall time spent inside the
//! router's methods per forwarded packet (the peers' own work is not counted),
//! per run and the median of the runs.
#![allow(clippy::unwrap_used)]

#[path = "../tests/net/mod.rs"]
mod net;

use std::time::Duration;

use net::Net;

const SUBSCRIBERS: u8 = 32;
const RUNS: usize = 5;
const RUN_FOR: Duration = Duration::from_secs(3);

fn main() {
    let mut net = Net::new(|c| c);
    net.admit(1);
    for n in 0..SUBSCRIBERS {
        net.admit(2 + n);
    }
    net.offer(0, true);
    for at in 1..=usize::from(SUBSCRIBERS) {
        net.offer(at, false);
    }
    assert!(net.run_until(Duration::from_secs(5), |n| n
        .peers
        .iter()
        .all(|p| p.connected)));
    net.run_for(Duration::from_secs(1));

    let mut results = Vec::new();
    for run in 0..RUNS {
        let before = net.router.stats();
        let busy = net.router_busy;
        net.run_for(RUN_FOR);
        let forwarded = net.router.stats().forwarded_packets - before.forwarded_packets;
        let bytes = net.router.stats().forwarded_bytes - before.forwarded_bytes;
        let spent = net.router_busy - busy;
        let per_packet = spent.as_secs_f64() * 1e6 / forwarded as f64;
        println!(
            "run {run}: {forwarded} packets ({} kB payload) forwarded in {:.1} ms of router time: {per_packet:.2} us/packet",
            bytes / 1000,
            spent.as_secs_f64() * 1e3
        );
        results.push(per_packet);
    }
    results.sort_by(f64::total_cmp);
    println!(
        "median of {RUNS} runs: {:.2} us of router time per forwarded packet (1 publisher, {SUBSCRIBERS} subscribers, SRTP included)",
        results[RUNS / 2]
    );
}
