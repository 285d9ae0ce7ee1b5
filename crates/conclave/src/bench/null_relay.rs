//! The floor a forwarding server cannot beat on this machine: a relay that
//! does nothing but receive SRTP packets in batches (`recvmmsg`), decrypt
//! each once with AES-128-GCM, re-encrypt it once per receiver under that
//! receiver's key, and send the copies in batches (`sendmmsg`). No ICE, no
//! RTCP, no layer selection, no state. `conclave bench sfu` runs it in the
//! same process and the same run as the real target, at the same packet
//! rates, and reports its CPU time per forwarded packet beside the server's.
//!
//! The batched socket calls come from `nix`, whose wrappers are safe, so this
//! crate keeps `unsafe_code = forbid`.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM};
use nix::sys::socket::{recvmmsg, sendmmsg, MsgFlags, MultiHeaders, SockaddrIn, SockaddrStorage};
use serde::Serialize;
use std::io::{IoSlice, IoSliceMut};

/// Packets per batched socket call.
const BATCH: usize = 32;
/// RTP header of the synthetic packets.
const RTP_HEADER: usize = 12;
/// AES-GCM tag.
const TAG: usize = 16;
/// Largest datagram handled.
const DATAGRAM_MAX: usize = 1500;

/// What to relay.
#[derive(Debug, Clone, Copy)]
pub struct NullRelayLoad {
    /// Packets per second arriving at the relay.
    pub ingress_pps: u32,
    /// Copies sent per arriving packet.
    pub fan_out: u32,
    /// RTP payload bytes per packet.
    pub payload_bytes: usize,
    /// How long to measure.
    pub duration: Duration,
}

/// The figures of one null-relay run.
#[derive(Debug, Clone, Serialize)]
pub struct NullRelayReport {
    /// Packets the relay received.
    pub received_packets: u64,
    /// Copies it sent.
    pub forwarded_packets: u64,
    /// Copies per second.
    pub forwarded_packets_per_sec: f64,
    /// CPU time of the relay thread (user + system).
    pub cpu_seconds: f64,
    /// CPU microseconds per forwarded packet.
    pub cpu_us_per_forwarded_packet: Option<f64>,
    /// Copies per forwarded-packet batch on average.
    pub mean_send_batch: f64,
}

/// Runs the relay, a paced sender feeding it and a sink draining it, each on
/// its own thread; gives the relay thread's figures.
pub fn run(load: NullRelayLoad) -> anyhow::Result<NullRelayReport> {
    let relay = UdpSocket::bind("127.0.0.1:0").context("cannot bind the null relay's socket")?;
    let sink = UdpSocket::bind("127.0.0.1:0").context("cannot bind the null relay's sink")?;
    let sender = UdpSocket::bind("127.0.0.1:0").context("cannot bind the null relay's sender")?;
    relay.set_read_timeout(Some(Duration::from_millis(50)))?;
    sink.set_read_timeout(Some(Duration::from_millis(50)))?;
    let relay_addr = relay.local_addr()?;
    let sink_addr = sink.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));

    let sink_stop = stop.clone();
    let sink_thread = std::thread::spawn(move || drain(&sink, &sink_stop));
    let relay_stop = stop.clone();
    let relay_thread = std::thread::spawn(move || relay_loop(&relay, sink_addr, load, &relay_stop));
    let sender_stop = stop.clone();
    let sender_thread =
        std::thread::spawn(move || send_paced(&sender, relay_addr, load, &sender_stop));

    std::thread::sleep(load.duration);
    stop.store(true, Ordering::Relaxed);
    let sent = sender_thread
        .join()
        .map_err(|_| anyhow!("the null relay's sender panicked"))??;
    let report = relay_thread
        .join()
        .map_err(|_| anyhow!("the null relay panicked"))??;
    sink_thread
        .join()
        .map_err(|_| anyhow!("the null relay's sink panicked"))?;
    if sent == 0 {
        return Err(anyhow!("the null relay's sender sent nothing"));
    }
    Ok(report)
}

/// The key and salt of one direction.
struct SrtpKey {
    key: LessSafeKey,
    salt: [u8; 12],
}

impl SrtpKey {
    fn new(seed: u8) -> anyhow::Result<SrtpKey> {
        let bytes: Vec<u8> = (0..16u8).map(|i| i.wrapping_mul(31) ^ seed).collect();
        let key = UnboundKey::new(&AES_128_GCM, &bytes)
            .map_err(|_| anyhow!("cannot make an AES-128-GCM key"))?;
        let mut salt = [0u8; 12];
        for (i, b) in salt.iter_mut().enumerate() {
            *b = seed.wrapping_add(i as u8).wrapping_mul(7);
        }
        Ok(SrtpKey {
            key: LessSafeKey::new(key),
            salt,
        })
    }

    /// RFC 7714 section 8.1: the salt XOR 00 00 || SSRC || ROC || SEQ.
    fn nonce(&self, header: &[u8]) -> Nonce {
        let mut iv = [0u8; 12];
        iv[2..6].copy_from_slice(&header[8..12]);
        iv[10..12].copy_from_slice(&header[2..4]);
        for (b, s) in iv.iter_mut().zip(self.salt) {
            *b ^= s;
        }
        Nonce::assume_unique_for_key(iv)
    }

    /// Encrypts `packet[RTP_HEADER..]` in place and appends the tag.
    fn seal(&self, packet: &mut Vec<u8>) -> anyhow::Result<()> {
        let (header, _) = packet.split_at(RTP_HEADER);
        let nonce = self.nonce(header);
        let aad: [u8; RTP_HEADER] = header.try_into().map_err(|_| anyhow!("short RTP header"))?;
        let mut body = packet.split_off(RTP_HEADER);
        self.key
            .seal_in_place_append_tag(nonce, Aad::from(aad), &mut body)
            .map_err(|_| anyhow!("AES-GCM seal failed"))?;
        packet.extend_from_slice(&body);
        Ok(())
    }
}

fn synthetic_packets(key: &SrtpKey, payload_bytes: usize) -> anyhow::Result<Vec<Vec<u8>>> {
    (0..1024u16)
        .map(|seq| {
            let mut packet = vec![0x80, 96];
            packet.extend_from_slice(&seq.to_be_bytes());
            packet.extend_from_slice(&(u32::from(seq) * 3000).to_be_bytes());
            packet.extend_from_slice(&0x1234_5678u32.to_be_bytes());
            packet.extend((0..payload_bytes).map(|i| (i as u8) ^ (seq as u8)));
            key.seal(&mut packet)?;
            Ok(packet)
        })
        .collect()
}

fn send_paced(
    socket: &UdpSocket,
    to: SocketAddr,
    load: NullRelayLoad,
    stop: &AtomicBool,
) -> anyhow::Result<u64> {
    let packets = synthetic_packets(&SrtpKey::new(1)?, load.payload_bytes)?;
    let to = match to {
        SocketAddr::V4(v4) => SockaddrIn::from(v4),
        SocketAddr::V6(_) => return Err(anyhow!("the null relay runs on IPv4 loopback")),
    };
    let interval = Duration::from_secs_f64(1.0 / f64::from(load.ingress_pps.max(1)));
    let start = Instant::now();
    let mut sent: u64 = 0;
    let mut headers = MultiHeaders::<SockaddrIn>::preallocate(BATCH, None);
    while !stop.load(Ordering::Relaxed) {
        let due = (start.elapsed().as_secs_f64() / interval.as_secs_f64()) as u64;
        let count = due.saturating_sub(sent).min(BATCH as u64) as usize;
        if count == 0 {
            std::thread::sleep(Duration::from_micros(500));
            continue;
        }
        let slices: Vec<[IoSlice<'_>; 1]> = (0..count)
            .map(|i| [IoSlice::new(&packets[(sent as usize + i) % packets.len()])])
            .collect();
        let addrs = vec![Some(to); count];
        // A full socket buffer loses packets, as a real link would.
        let done = sendmmsg(
            socket.as_raw_fd(),
            &mut headers,
            slices.iter(),
            &addrs,
            [],
            MsgFlags::empty(),
        )
        .map(Iterator::count)
        .unwrap_or(0);
        sent += done.max(1) as u64;
    }
    Ok(sent)
}

fn relay_loop(
    socket: &UdpSocket,
    sink: SocketAddr,
    load: NullRelayLoad,
    stop: &AtomicBool,
) -> anyhow::Result<NullRelayReport> {
    let ingress = SrtpKey::new(1)?;
    let egress: Vec<SrtpKey> = (0..load.fan_out.max(1))
        .map(|i| SrtpKey::new(2 + (i % 250) as u8))
        .collect::<anyhow::Result<_>>()?;
    let sink = match sink {
        SocketAddr::V4(v4) => SockaddrIn::from(v4),
        SocketAddr::V6(_) => return Err(anyhow!("the null relay runs on IPv4 loopback")),
    };
    let fd = socket.as_raw_fd();
    let mut in_bufs = vec![vec![0u8; DATAGRAM_MAX]; BATCH];
    let mut in_headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let mut out_headers = MultiHeaders::<SockaddrIn>::preallocate(BATCH, None);
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
    let mut received: u64 = 0;
    let mut forwarded: u64 = 0;
    let mut batches: u64 = 0;
    let cpu_start = thread_cpu_seconds();
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let mut lens = Vec::with_capacity(BATCH);
        {
            let mut slices: Vec<[IoSliceMut<'_>; 1]> = in_bufs
                .iter_mut()
                .map(|b| [IoSliceMut::new(&mut b[..])])
                .collect();
            match recvmmsg(
                fd,
                &mut in_headers,
                slices.iter_mut(),
                MsgFlags::MSG_WAITFORONE,
                None,
            ) {
                Ok(results) => lens.extend(results.map(|r| r.bytes)),
                // The read timeout: look at the stop flag again.
                Err(_) => continue,
            }
        }
        for (buf, len) in in_bufs.iter_mut().zip(lens) {
            received += 1;
            if len < RTP_HEADER + TAG {
                continue;
            }
            let (header, body) = buf[..len].split_at_mut(RTP_HEADER);
            let nonce = ingress.nonce(header);
            let aad: [u8; RTP_HEADER] =
                header.try_into().map_err(|_| anyhow!("short RTP header"))?;
            let Ok(plain) = ingress.key.open_in_place(nonce, Aad::from(aad), body) else {
                continue;
            };
            let plain_len = plain.len();
            for key in &egress {
                let mut copy = Vec::with_capacity(RTP_HEADER + plain_len + TAG);
                copy.extend_from_slice(&buf[..RTP_HEADER + plain_len]);
                key.seal(&mut copy)?;
                out.push(copy);
                if out.len() == BATCH {
                    forwarded += flush(fd, &mut out_headers, &mut out, sink);
                    batches += 1;
                }
            }
        }
        if !out.is_empty() {
            forwarded += flush(fd, &mut out_headers, &mut out, sink);
            batches += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = thread_cpu_seconds()
        .zip(cpu_start)
        .map(|(end, start)| end - start);
    let cpu_seconds = cpu.unwrap_or(0.0);
    Ok(NullRelayReport {
        received_packets: received,
        forwarded_packets: forwarded,
        forwarded_packets_per_sec: forwarded as f64 / elapsed.max(1e-9),
        cpu_seconds,
        cpu_us_per_forwarded_packet: (forwarded > 0 && cpu.is_some())
            .then(|| cpu_seconds * 1e6 / forwarded as f64),
        mean_send_batch: if batches > 0 {
            forwarded as f64 / batches as f64
        } else {
            0.0
        },
    })
}

/// Sends the batch with one `sendmmsg`; gives how many went out.
fn flush(
    fd: std::os::fd::RawFd,
    headers: &mut MultiHeaders<SockaddrIn>,
    out: &mut Vec<Vec<u8>>,
    to: SockaddrIn,
) -> u64 {
    let slices: Vec<[IoSlice<'_>; 1]> = out.iter().map(|p| [IoSlice::new(p)]).collect();
    let addrs = vec![Some(to); out.len()];
    let sent = sendmmsg(fd, headers, slices.iter(), &addrs, [], MsgFlags::empty())
        .map(Iterator::count)
        .unwrap_or(0);
    drop(slices);
    out.clear();
    sent as u64
}

fn drain(socket: &UdpSocket, stop: &AtomicBool) {
    let mut bufs = vec![vec![0u8; DATAGRAM_MAX]; BATCH];
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    while !stop.load(Ordering::Relaxed) {
        let mut slices: Vec<[IoSliceMut<'_>; 1]> = bufs
            .iter_mut()
            .map(|b| [IoSliceMut::new(&mut b[..])])
            .collect();
        // Errors are the read timeout; the loop looks at the stop flag.
        let _ = recvmmsg(
            socket.as_raw_fd(),
            &mut headers,
            slices.iter_mut(),
            MsgFlags::MSG_WAITFORONE,
            None,
        )
        .map(Iterator::count);
    }
}

/// CPU time (user + system) of the calling thread, from
/// `/proc/thread-self/stat` (Linux only).
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    super::sfu::cpu_seconds_from_stat(&stat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relay_forwards_every_packet_to_every_receiver() {
        let report = run(NullRelayLoad {
            ingress_pps: 500,
            fan_out: 3,
            payload_bytes: 1000,
            duration: Duration::from_millis(400),
        })
        .unwrap();
        assert!(report.received_packets > 50, "{report:?}");
        assert_eq!(report.forwarded_packets, report.received_packets * 3);
    }
}
