//! The thin tokio shell around the [`Router`]: one task owns the UDP socket
//! and the router; the rest of the server talks to it through a
//! [`MediaHandle`] (commands in) and [`SignalSink`]s (signaling out).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use proto::ids::{MeetingId, ParticipantId};
use proto::signaling::{ErrorCode, MediaSource, ServerMessage};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::e2ee_check::GroupEpoch;
use crate::router::{Admission, Datagram, Output, Router, RouterError, RouterEvent, RouterStats};
use crate::udp_batch::{self, SEND_BATCH};

/// Where the router's signaling messages for one participant go (its
/// WebSocket writer). Returns false if the message could not be queued.
pub trait SignalSink: Send + Sync {
    /// Queues one message.
    fn deliver(&self, message: ServerMessage) -> bool;
}

/// Counters the service keeps up to date; no label carries a user.
#[derive(Clone, Default)]
pub struct MediaMetrics {
    /// RTP packets forwarded to subscribers.
    pub forwarded_packets: Counter,
    /// RTP payload bytes forwarded to subscribers.
    pub forwarded_bytes: Counter,
    /// Keyframe requests sent to publishers.
    pub keyframe_requests: Counter,
    /// Participants whose media is connected.
    pub participants_with_media: Gauge,
    /// Frames checked at the gate, labelled `e2ee="true"` (forwarded) or `e2ee="false"`
    /// (refused: not end-to-end encrypted for the meeting's group).
    pub frames: Family<Vec<(&'static str, &'static str)>, Counter>,
}

/// Requests to the media task.
enum Command {
    Admit {
        admission: Admission,
        sink: Arc<dyn SignalSink>,
    },
    Reconnected {
        participant: ParticipantId,
        sink: Arc<dyn SignalSink>,
    },
    Remove {
        participant: ParticipantId,
    },
    Offer {
        participant: ParticipantId,
        sdp: String,
        reply: Arc<dyn SignalSink>,
    },
    Answer {
        participant: ParticipantId,
        sdp: String,
        reply: Arc<dyn SignalSink>,
    },
    VideoPreference {
        subscriber: ParticipantId,
        publisher: ParticipantId,
        source: MediaSource,
        max_height: u32,
        reply: Arc<dyn SignalSink>,
    },
    HostMute {
        participant: ParticipantId,
        sources: Vec<MediaSource>,
        muted: bool,
    },
    Group {
        meeting: MeetingId,
        group: GroupEpoch,
    },
}

/// Cheap to clone; every method returns at once (the queue is unbounded, and
/// its senders are rate-limited signaling connections and room tasks).
#[derive(Clone)]
pub struct MediaHandle {
    tx: mpsc::UnboundedSender<Command>,
}

impl MediaHandle {
    fn send(&self, command: Command) {
        // A closed queue means the server is shutting down; media is over anyway.
        let _ = self.tx.send(command);
    }

    /// A participant was seated: give it a media session; `sink` is its signaling writer.
    pub fn admit(&self, admission: Admission, sink: Arc<dyn SignalSink>) {
        self.send(Command::Admit { admission, sink });
    }

    /// A seated participant resumed on a new connection.
    pub fn reconnected(&self, participant: ParticipantId, sink: Arc<dyn SignalSink>) {
        self.send(Command::Reconnected { participant, sink });
    }

    /// A participant left its seat (leave, removal, timeout, end): stop its media now.
    pub fn remove(&self, participant: ParticipantId) {
        self.send(Command::Remove { participant });
    }

    /// The client's `media_offer`; errors go to `reply`.
    pub fn offer(&self, participant: ParticipantId, sdp: String, reply: Arc<dyn SignalSink>) {
        self.send(Command::Offer {
            participant,
            sdp,
            reply,
        });
    }

    /// The client's `media_answer`; errors go to `reply`.
    pub fn answer(&self, participant: ParticipantId, sdp: String, reply: Arc<dyn SignalSink>) {
        self.send(Command::Answer {
            participant,
            sdp,
            reply,
        });
    }

    /// The client's `video_preference`; errors go to `reply`.
    pub fn video_preference(
        &self,
        subscriber: ParticipantId,
        publisher: ParticipantId,
        source: MediaSource,
        max_height: u32,
        reply: Arc<dyn SignalSink>,
    ) {
        self.send(Command::VideoPreference {
            subscriber,
            publisher,
            source,
            max_height,
            reply,
        });
    }

    /// A host muted (or lifted the mute of) some of a participant's sources.
    pub fn host_mute(&self, participant: ParticipantId, sources: Vec<MediaSource>, muted: bool) {
        self.send(Command::HostMute {
            participant,
            sources,
            muted,
        });
    }

    /// The meeting's MLS group is now `group`: only frames encrypted for it are forwarded.
    pub fn set_group(&self, meeting: MeetingId, group: GroupEpoch) {
        self.send(Command::Group { meeting, group });
    }
}

/// The media task's state, ready to run.
pub struct Service {
    socket: UdpSocket,
    public_addr: SocketAddr,
    router: Router,
    rx: mpsc::UnboundedReceiver<Command>,
    sinks: HashMap<ParticipantId, Arc<dyn SignalSink>>,
    metrics: MediaMetrics,
    reported: RouterStats,
    /// Reused by `flush` for the datagrams of one batch.
    transmits: Vec<Datagram>,
}

/// Datagrams read per wake-up before the router's outputs are flushed.
const RECEIVE_BATCH: usize = 64;
/// Largest datagram read; larger ones are cut and then refused by str0m.
const MAX_DATAGRAM: usize = 2048;

impl Service {
    /// A service for `router` on `socket`; `public_addr` is the router's ICE candidate.
    pub fn new(
        socket: UdpSocket,
        router: Router,
        public_addr: SocketAddr,
        metrics: MediaMetrics,
    ) -> (Service, MediaHandle) {
        let (tx, rx) = mpsc::unbounded_channel();
        let service = Service {
            socket,
            public_addr,
            router,
            rx,
            sinks: HashMap::new(),
            metrics,
            reported: RouterStats::default(),
            transmits: Vec::with_capacity(SEND_BATCH),
        };
        (service, MediaHandle { tx })
    }

    /// Runs until every [`MediaHandle`] is dropped.
    pub async fn run(mut self) {
        let mut buf = vec![0_u8; MAX_DATAGRAM];
        loop {
            let next = self.router.poll_timeout();
            // str0m's pacer releases one packet per timeout and asks for the
            // next at once; a timer for a deadline already past still waits
            // for the runtime's millisecond timer wheel and a driver turn, so
            // a due router is driven without one. The budget keeps a router
            // that stays due from starving the runtime's other tasks.
            let due = next <= Instant::now();
            if due {
                tokio::task::coop::consume_budget().await;
            }
            let deadline = tokio::time::Instant::from_std(next);
            tokio::select! {
                biased;
                command = self.rx.recv() => match command {
                    Some(command) => self.command(command),
                    None => break,
                },
                received = self.socket.recv_from(&mut buf) => {
                    match received {
                        Ok((len, from)) => {
                            self.router.handle_receive(from, self.public_addr, &buf[..len], Instant::now());
                            self.receive_more(&mut buf);
                        }
                        Err(e) => tracing::debug!(error = %e, "media socket receive failed"),
                    }
                }
                () = tokio::time::sleep_until(deadline), if !due => {}
                () = std::future::ready(()), if due => {}
            }
            let now = Instant::now();
            if self.router.poll_timeout() <= now {
                self.router.handle_timeout(now);
            }
            self.flush().await;
        }
    }

    /// Reads whatever else is waiting, without blocking.
    fn receive_more(&mut self, buf: &mut [u8]) {
        for _ in 1..RECEIVE_BATCH {
            match self.socket.try_recv_from(buf) {
                Ok((len, from)) => {
                    let data = buf.get(..len).unwrap_or_default();
                    self.router
                        .handle_receive(from, self.public_addr, data, Instant::now());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::debug!(error = %e, "media socket receive failed");
                    return;
                }
            }
        }
    }

    fn command(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::Admit { admission, sink } => {
                let id = admission.participant().clone();
                match self.router.add_participant(admission, now) {
                    Ok(()) => {
                        self.sinks.insert(id, sink);
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot add a media participant"),
                }
            }
            Command::Reconnected { participant, sink } => {
                if self.sinks.contains_key(&participant) {
                    self.sinks.insert(participant, sink);
                }
            }
            Command::Remove { participant } => {
                self.router.remove_participant(&participant, now);
                self.sinks.remove(&participant);
            }
            Command::Offer {
                participant,
                sdp,
                reply,
            } => {
                let result = self.router.handle_offer(&participant, &sdp, now);
                reject(&reply, result);
            }
            Command::Answer {
                participant,
                sdp,
                reply,
            } => {
                let result = self.router.handle_answer(&participant, &sdp, now);
                reject(&reply, result);
            }
            Command::VideoPreference {
                subscriber,
                publisher,
                source,
                max_height,
                reply,
            } => {
                let result = self.router.set_video_preference(
                    &subscriber,
                    &publisher,
                    source,
                    max_height,
                    now,
                );
                reject(&reply, result);
            }
            Command::HostMute {
                participant,
                sources,
                muted,
            } => {
                if let Err(e) = self
                    .router
                    .set_host_mute(&participant, &sources, muted, now)
                {
                    tracing::debug!(error = %e, "host mute for a participant without media");
                }
            }
            Command::Group { meeting, group } => self.router.set_group(&meeting, group, now),
        }
    }

    /// Carries out the router's outputs and updates the metrics.
    async fn flush(&mut self) {
        let mut transmits = std::mem::take(&mut self.transmits);
        while let Some(output) = self.router.poll_output() {
            match output {
                Output::Transmit(datagram) => {
                    transmits.push(datagram);
                    if transmits.len() == SEND_BATCH {
                        self.send_all(&transmits).await;
                        transmits.clear();
                    }
                }
                Output::Signal { to, message } => {
                    if let Some(sink) = self.sinks.get(&to) {
                        sink.deliver(message);
                    }
                }
                Output::Event(RouterEvent::MediaLost(who)) => {
                    if let Some(sink) = self.sinks.get(&who) {
                        sink.deliver(ServerMessage::Error {
                            code: ErrorCode::MediaRejected,
                            message: "the media session timed out; send a new media_offer".into(),
                        });
                    }
                }
                Output::Event(RouterEvent::MediaConnected(_)) => {}
            }
        }
        let stats = self.router.stats();
        let delta = |now: u64, before: u64| now.saturating_sub(before);
        self.metrics.forwarded_packets.inc_by(delta(
            stats.forwarded_packets,
            self.reported.forwarded_packets,
        ));
        self.metrics
            .forwarded_bytes
            .inc_by(delta(stats.forwarded_bytes, self.reported.forwarded_bytes));
        self.metrics.keyframe_requests.inc_by(delta(
            stats.keyframe_requests,
            self.reported.keyframe_requests,
        ));
        self.metrics
            .participants_with_media
            .set(i64::try_from(stats.participants_with_media).unwrap_or(i64::MAX));
        self.metrics
            .frames
            .get_or_create(&vec![("e2ee", "true")])
            .inc_by(delta(stats.e2ee_frames, self.reported.e2ee_frames));
        self.metrics
            .frames
            .get_or_create(&vec![("e2ee", "false")])
            .inc_by(delta(stats.refused_frames, self.reported.refused_frames));
        self.reported = stats;
        self.send_all(&transmits).await;
        transmits.clear();
        self.transmits = transmits;
    }

    /// Sends the datagrams in batches, waiting while the socket buffer is full.
    async fn send_all(&self, datagrams: &[Datagram]) {
        let mut batch: Vec<(SocketAddr, &[u8])> = Vec::with_capacity(SEND_BATCH);
        let mut rest = datagrams;
        while !rest.is_empty() {
            batch.clear();
            batch.extend(
                rest.iter()
                    .take(SEND_BATCH)
                    .map(|d| (d.destination.socket_addr(), d.contents.as_slice())),
            );
            match udp_batch::try_send_batch(&self.socket, &batch) {
                Ok(sent) => rest = rest.get(sent.max(1)..).unwrap_or_default(),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Err(e) = self.socket.writable().await {
                        tracing::debug!(error = %e, "media socket not writable");
                        return;
                    }
                }
                Err(e) => {
                    // The first datagram of the batch was refused (e.g. no
                    // route to it): drop it and go on with the others.
                    tracing::debug!(error = %e, "media send failed");
                    rest = rest.get(1..).unwrap_or_default();
                }
            }
        }
    }
}

fn reject(reply: &Arc<dyn SignalSink>, result: Result<(), RouterError>) {
    if let Err(e) = result {
        reply.deliver(ServerMessage::Error {
            code: ErrorCode::MediaRejected,
            message: e.to_string(),
        });
    }
}
