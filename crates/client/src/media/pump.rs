//! Drives one [`MediaSession`] on one UDP socket in a task of its own, for
//! callers that do their signaling elsewhere (the Janus comparison in
//! `conclave bench sfu`). [`crate::Participant`] has its own loop because it
//! interleaves the Conclave signaling with the media.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::media::cipher::FrameCipher;
use crate::media::session::{MediaReport, MediaSession, Poll};

/// Longest a receive datagram may be.
const DATAGRAM_MAX: usize = 2048;
/// Datagrams read per wake-up before time moves on.
const RECV_BATCH: usize = 64;

enum Command {
    Report(oneshot::Sender<MediaReport>),
    Stop(oneshot::Sender<MediaReport>),
}

/// A running session; see the module docs.
pub struct MediaPump {
    commands: mpsc::Sender<Command>,
    task: JoinHandle<()>,
}

impl MediaPump {
    /// Starts driving `session` on `socket` (which `session` was made for), with `cipher`
    /// on every frame.
    pub fn start(
        session: MediaSession,
        socket: UdpSocket,
        cipher: Box<dyn FrameCipher + Send>,
    ) -> MediaPump {
        let (commands, receiver) = mpsc::channel(4);
        let task = tokio::spawn(run(session, cipher, Arc::new(socket), receiver));
        MediaPump { commands, task }
    }

    /// A snapshot of the counters (none if the task has ended).
    pub async fn report(&self) -> Option<MediaReport> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::Report(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Closes the session and gives the final counters.
    pub async fn stop(self) -> Option<MediaReport> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::Stop(tx)).await.ok()?;
        let report = rx.await.ok();
        // The task ends right after answering.
        let _ = self.task.await;
        report
    }
}

async fn run(
    mut session: MediaSession,
    mut cipher: Box<dyn FrameCipher + Send>,
    socket: Arc<UdpSocket>,
    mut commands: mpsc::Receiver<Command>,
) {
    let mut buf = vec![0u8; DATAGRAM_MAX];
    let mut next = Instant::now();
    loop {
        let now = Instant::now();
        if now >= next {
            // A broken session still answers for its counters; poll below
            // then gives the time to try again.
            let _ = session.handle_timeout(now, cipher.as_mut());
        }
        next = loop {
            match session.poll(now) {
                Ok(Poll::Transmit {
                    destination,
                    contents,
                }) => {
                    // A full socket buffer drops the datagram, like a congested link.
                    let _ = socket.try_send_to(&contents, destination);
                }
                Ok(Poll::Timeout(at)) => break at,
                Err(_) => break now + Duration::from_millis(50),
            }
        };
        tokio::select! {
            _ = tokio::time::sleep_until(next.into()) => {}
            command = commands.recv() => match command {
                Some(Command::Report(reply)) => { let _ = reply.send(session.report()); }
                Some(Command::Stop(reply)) => {
                    session.close();
                    while let Ok(Poll::Transmit { destination, contents }) = session.poll(Instant::now()) {
                        let _ = socket.try_send_to(&contents, destination);
                    }
                    let _ = reply.send(session.report());
                    return;
                }
                None => return,
            },
            readable = socket.readable() => if readable.is_ok() {
                for _ in 0..RECV_BATCH {
                    match socket.try_recv_from(&mut buf) {
                        Ok((len, source)) => {
                            // A datagram str0m refuses is dropped like a bad packet.
                            let _ = session.handle_datagram(Instant::now(), source, &buf[..len], cipher.as_mut());
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(_) => continue,
                    }
                }
            },
        }
    }
}
