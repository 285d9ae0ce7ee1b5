//! Sending many datagrams with few system calls: `sendmmsg` on Linux (through
//! `nix`'s safe wrapper, so no unsafe code here), one `send_to` each elsewhere.
//!
//! UDP GSO is not used: it needs every segment of a send to go to one
//! destination with one size, and an SFU's output is many destinations with
//! packets of every size.

use std::io;
use std::net::SocketAddr;

use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Receive and send buffer asked of the kernel for a media socket. A burst of
/// video frames for many subscribers overflows Linux's default (about 208 KiB)
/// and the kernel drops the datagrams before anyone reads them.
pub const SOCKET_BUFFER_BYTES: usize = 4 << 20;

/// Asks the kernel for [`SOCKET_BUFFER_BYTES`] of receive and send buffer on
/// `socket`. The kernel caps the request at `net.core.rmem_max` and
/// `net.core.wmem_max`; gives the receive and send sizes it granted.
pub fn widen_buffers(socket: &UdpSocket) -> io::Result<(usize, usize)> {
    use nix::sys::socket::{getsockopt, setsockopt, sockopt};
    setsockopt(socket, sockopt::RcvBuf, &SOCKET_BUFFER_BYTES)?;
    setsockopt(socket, sockopt::SndBuf, &SOCKET_BUFFER_BYTES)?;
    Ok((
        getsockopt(socket, sockopt::RcvBuf)?,
        getsockopt(socket, sockopt::SndBuf)?,
    ))
}

/// Most datagrams handed to the kernel in one call (Linux caps `sendmmsg` at 1024).
pub const SEND_BATCH: usize = 64;

/// Sends as many of `datagrams` (destination, bytes) as the socket takes
/// without blocking, at most [`SEND_BATCH`]; gives how many went out. Zero
/// with `Err(WouldBlock)` means the socket buffer is full.
pub fn try_send_batch(socket: &UdpSocket, datagrams: &[(SocketAddr, &[u8])]) -> io::Result<usize> {
    let datagrams = datagrams
        .get(..SEND_BATCH.min(datagrams.len()))
        .unwrap_or_default();
    if datagrams.is_empty() {
        return Ok(0);
    }
    socket.try_io(Interest::WRITABLE, || send_now(socket, datagrams))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn send_now(socket: &UdpSocket, datagrams: &[(SocketAddr, &[u8])]) -> io::Result<usize> {
    use std::io::IoSlice;
    use std::os::fd::AsRawFd;

    use nix::sys::socket::{sendmmsg, MsgFlags, MultiHeaders, SockaddrStorage};

    let slices: Vec<[IoSlice<'_>; 1]> = datagrams
        .iter()
        .map(|(_, bytes)| [IoSlice::new(bytes)])
        .collect();
    let addrs: Vec<Option<SockaddrStorage>> = datagrams
        .iter()
        .map(|(to, _)| Some(SockaddrStorage::from(*to)))
        .collect();
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(datagrams.len(), None);
    let sent = sendmmsg(
        socket.as_raw_fd(),
        &mut headers,
        slices.iter(),
        &addrs,
        [],
        MsgFlags::empty(),
    )
    .map_err(io::Error::from)?
    .count();
    Ok(sent)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn send_now(socket: &UdpSocket, datagrams: &[(SocketAddr, &[u8])]) -> io::Result<usize> {
    let mut sent = 0;
    for (to, bytes) in datagrams {
        match socket.try_send_to(bytes, *to) {
            Ok(_) => sent += 1,
            Err(e) if sent == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(sent)
}
