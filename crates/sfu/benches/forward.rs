//! Per-packet forwarding cost of the router: one publisher, 32 subscribers,
//! in memory, SRTP (decrypt once, encrypt per subscriber) included.
//!
//! `cargo bench -p sfu --bench forward` prints the median of several runs in
//! microseconds of router CPU time per forwarded packet.
#![allow(clippy::unwrap_used)]

#[path = "../tests/net/mod.rs"]
mod net;

use std::time::{Duration, Instant};

use net::{pt_of, svc_picture, Net, ROUTER_ADDR};
use str0m::format::Codec;
use str0m::rtp::RtpWrite;

const SUBSCRIBERS: u8 = 32;
const PICTURES: u64 = 300;
const RUNS: usize = 5;

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
    net.run_for(Duration::from_millis(300));
    net.peers[0].publishing = false;

    let router_addr = ROUTER_ADDR.parse().unwrap();
    let publisher = net.peers[0].addr;
    let mut results = Vec::new();
    let mut seq = 100_000u64;
    let mut picture = 1000u64;
    for run in 0..RUNS {
        // The publisher's encrypted datagrams for PICTURES pictures (about 1 s of video each 30).
        let mut datagrams = Vec::new();
        let vp9 = pt_of(&net.peers[0].rtc, Codec::Vp9);
        let mid = net.peers[0].video_mid.unwrap();
        for _ in 0..PICTURES {
            picture += 1;
            let packets = svc_picture(picture, picture % 60 == 0);
            let count = packets.len();
            for (i, payload) in packets.into_iter().enumerate() {
                seq += 1;
                let now = net.now;
                let rtc = &mut net.peers[0].rtc;
                rtc.direct_api()
                    .stream_tx_by_mid(mid, None)
                    .unwrap()
                    .write_rtp(
                        RtpWrite::new(vp9, seq.into(), (picture * 3000) as u32, now, payload)
                            .marker(i + 1 == count)
                            .nackable(true),
                    );
                loop {
                    match rtc.poll_output().unwrap() {
                        str0m::Output::Timeout(_) => break,
                        str0m::Output::Transmit(t) => datagrams.push(Vec::from(t.contents)),
                        str0m::Output::Event(_) => {}
                    }
                }
            }
        }
        let before = net.router.stats().forwarded_packets;
        let mut sent = 0usize;
        let started = Instant::now();
        for (i, datagram) in datagrams.iter().enumerate() {
            // 30 pictures per second of simulated time.
            if i % 4 == 0 {
                net.now += Duration::from_millis(8);
            }
            net.router
                .handle_receive(publisher, router_addr, datagram, net.now);
            if net.router.poll_timeout() <= net.now {
                net.router.handle_timeout(net.now);
            }
            while let Some(output) = net.router.poll_output() {
                if let sfu::Output::Transmit(d) = output {
                    sent += d.contents.len();
                }
            }
        }
        let elapsed = started.elapsed();
        let forwarded = net.router.stats().forwarded_packets - before;
        let per_packet = elapsed.as_secs_f64() * 1e6 / forwarded as f64;
        println!(
            "run {run}: {} publisher packets -> {forwarded} forwarded ({} MB out) in {:.1} ms: {per_packet:.2} us/forwarded packet",
            datagrams.len(),
            sent / 1_000_000,
            elapsed.as_secs_f64() * 1e3
        );
        results.push(per_packet);
        // Let feedback flow so the next run starts from a steady state.
        net.run_for(Duration::from_millis(200));
    }
    results.sort_by(f64::total_cmp);
    println!(
        "median of {RUNS} runs: {:.2} us of router CPU per forwarded packet (1 publisher, {SUBSCRIBERS} subscribers, VP9 L3T3 + SRTP)",
        results[RUNS / 2]
    );
}
