//! The tokio shell around [`MediaSession`]: one signaling WebSocket, one UDP
//! socket on loopback (or any local address), the impairments of
//! [`crate::media::impair`], and a command channel for whoever drives it (a
//! test, `conclave bot`, `conclave bench sfu`).
//!
//! The MLS membership ([`Membership`]) is the media session's cipher: the shell feeds it the
//! `mls_*` and `chat` messages, sends what it asks, and does its key-directory lookups in
//! tasks of their own so media keeps flowing meanwhile.

use std::collections::{BTreeMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use e2ee::identity::{IdentityKey, IdentityKeyPair};
use proto::ids::{AccountId, MeetingId, ParticipantId};
use proto::signaling::{ClientMessage, ErrorCode, Participant as RosterEntry, ServerMessage};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::keydir::{self, KeyLookupError};
use crate::media::cipher::{CipherError, FrameCipher, Opened};
use crate::media::impair::{RandomLoss, ReceiveShaper};
use crate::media::session::{MediaConfig, MediaReport, MediaSession, Poll};
use crate::membership::{Alert, ChatMessage, Membership, Output, RosterMember};
use crate::order::PinnedLog;
use crate::{ClientError, Signaling};

/// Longest a receive datagram may be.
const DATAGRAM_MAX: usize = 2048;
/// Datagrams read per wake-up before time moves on.
const RECV_BATCH: usize = 64;
/// Queue of the receive shaper, as time at its rate.
const SHAPER_QUEUE: Duration = Duration::from_millis(250);

/// Receive and send buffer asked of the kernel for the media socket: with
/// many peers, a burst of their video overflows Linux's default (about
/// 208 KiB) and the kernel drops datagrams the client never sees. The kernel
/// caps the request at `net.core.rmem_max` / `wmem_max`.
const SOCKET_BUFFER_BYTES: usize = 4 << 20;

fn widen_buffers(socket: &UdpSocket) -> std::io::Result<()> {
    use nix::sys::socket::{setsockopt, sockopt};
    setsockopt(socket, sockopt::RcvBuf, &SOCKET_BUFFER_BYTES)?;
    setsockopt(socket, sockopt::SndBuf, &SOCKET_BUFFER_BYTES)?;
    Ok(())
}

/// How to say hello.
#[derive(Debug, Clone)]
pub enum Identity {
    /// A guest with this display name.
    Guest(String),
    /// A signed-in account's session token.
    Token(String),
}

/// Everything a participant needs to join.
#[derive(Debug, Clone)]
pub struct ParticipantConfig {
    /// The server's base URL, `http://IP:PORT`.
    pub server: String,
    /// Which meeting.
    pub meeting: MeetingId,
    /// Guest name or session token.
    pub identity: Identity,
    /// The meeting's passcode, if it has one.
    pub passcode: Option<String>,
    /// What to publish.
    pub media: MediaConfig,
    /// The local address of the media socket (port 0 picks one).
    pub media_bind: SocketAddr,
    /// How long to wait in the lobby for a host.
    pub lobby_timeout: Duration,
    /// Random loss of received RTP packets, 0 to 1.
    pub receive_loss: f64,
    /// A receive link of this many bits per second (none: unlimited).
    pub receive_rate_bps: Option<u64>,
    /// The account's registered identity key, for a token identity: its MLS credential must
    /// carry the key the key directory has for the account, or other members refuse it. A
    /// guest (or a token identity without one) signs with a fresh key.
    pub identity_key: Option<Arc<IdentityKeyPair>>,
    /// The transparency log to trust; none pins the server's at first use.
    pub log: Option<PinnedLog>,
}

impl ParticipantConfig {
    /// A guest publishing audio and camera, on 127.0.0.1, no impairments.
    pub fn guest(server: &str, meeting: MeetingId, name: &str) -> Self {
        ParticipantConfig {
            server: server.to_owned(),
            meeting,
            identity: Identity::Guest(name.to_owned()),
            passcode: None,
            media: MediaConfig::default(),
            media_bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            lobby_timeout: Duration::from_secs(30),
            receive_loss: 0.0,
            receive_rate_bps: None,
            identity_key: None,
            log: None,
        }
    }
}

/// A snapshot of what a participant knows and measured.
#[derive(Debug, Clone)]
pub struct ParticipantReport {
    /// Its id.
    pub participant_id: ParticipantId,
    /// When `joined` arrived.
    pub joined_at: Instant,
    /// The media counters.
    pub media: MediaReport,
    /// Display names of everyone seen on the roster, by id.
    pub names: BTreeMap<ParticipantId, String>,
    /// Who is seated now, itself included.
    pub seated: Vec<ParticipantId>,
    /// The last `active_speakers`.
    pub active_speakers: Vec<ParticipantId>,
    /// `error` messages from the server.
    pub server_errors: Vec<(ErrorCode, String)>,
    /// Why the participant stopped, if it did (removed, meeting ended, a failure).
    pub ended: Option<String>,
    /// Datagrams dropped by the loss and rate impairments.
    pub impaired_drops: u64,
    /// The MLS epoch this participant is in (none before it joined the group).
    pub epoch: Option<u64>,
    /// The safety code of that epoch, to compare out of band.
    pub safety_code: Option<String>,
    /// The group's members from this participant's own MLS state (not the server's roster).
    pub mls_roster: Vec<RosterMember>,
    /// Every epoch entered, in order, with its safety code.
    pub epochs: Vec<(u64, String)>,
    /// Refusals the user must see: ghost Adds, keys that do not verify, refused MLS
    /// messages. Each names the participant it is about when known.
    pub alerts: Vec<Alert>,
    /// Chat messages received, with their report openings.
    pub chats: Vec<ChatMessage>,
}

enum Command {
    Report(oneshot::Sender<ParticipantReport>),
    Chat(String, oneshot::Sender<Result<(), ClientError>>),
    Decrypt(
        Vec<Vec<u8>>,
        oneshot::Sender<Vec<Result<Opened, CipherError>>>,
    ),
    Signal(ClientMessage, oneshot::Sender<Result<(), ClientError>>),
    ReceiveLoss(f64),
    ReceiveRate(Option<u64>),
    Leave(oneshot::Sender<ParticipantReport>),
}

/// A seated participant whose media runs in a task of its own.
pub struct Participant {
    id: ParticipantId,
    joined_at: Instant,
    commands: mpsc::Sender<Command>,
    task: JoinHandle<()>,
}

impl Participant {
    /// Connects, says hello, joins (waiting in the lobby up to
    /// `lobby_timeout`), offers its send tracks, and hands the rest to a task.
    pub async fn join(config: ParticipantConfig) -> Result<Participant, ClientError> {
        let api = crate::Api::new(&config.server);
        let mut ws = Signaling::connect(&api.ws_url()).await?;
        let welcome = match &config.identity {
            Identity::Guest(name) => ws.hello_guest(name).await?,
            Identity::Token(token) => ws.hello_token(token).await?,
        };
        let account = match welcome {
            ServerMessage::Welcome { account_id, .. } => account_id,
            _ => None,
        };
        ws.send(&ClientMessage::Join {
            meeting_id: config.meeting.clone(),
            passcode: config.passcode.clone(),
        })
        .await?;
        let deadline = tokio::time::Instant::now() + config.lobby_timeout;
        // MLS messages can follow `joined` closely; none may be lost while we set up.
        let mut early = Vec::new();
        let (id, roster) = loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match ws.recv_within(left).await {
                Ok(ServerMessage::Joined {
                    participant_id,
                    roster,
                    ..
                }) => break (participant_id, roster),
                Ok(ServerMessage::Waiting { .. }) => continue,
                Ok(message @ ServerMessage::MlsCreate { .. })
                | Ok(message @ ServerMessage::MlsAdmitted { .. })
                | Ok(message @ ServerMessage::MlsProposal { .. })
                | Ok(message @ ServerMessage::MlsWelcome { .. }) => early.push(message),
                Ok(ServerMessage::Denied { reason }) => {
                    return Err(ClientError::Invalid(format!("denied entry: {reason}")))
                }
                Ok(ServerMessage::Error { code, message }) => {
                    return Err(ClientError::Invalid(format!(
                        "join refused ({code:?}): {message}"
                    )))
                }
                Ok(ServerMessage::MeetingEnded { .. }) => {
                    return Err(ClientError::Invalid("the meeting has ended".into()))
                }
                Ok(_) => continue,
                Err(ClientError::Timeout(_)) => {
                    return Err(ClientError::Timeout("a seat (still in the lobby?)"))
                }
                Err(e) => return Err(e),
            }
        };
        let joined_at = Instant::now();
        let fresh;
        let keys = match &config.identity_key {
            Some(keys) => keys.as_ref(),
            None => {
                fresh = IdentityKeyPair::generate(&mut rand::thread_rng());
                &fresh
            }
        };
        let membership = Membership::new(
            id.clone(),
            account,
            config.meeting.as_str(),
            keys,
            StdRng::from_entropy(),
        )
        .map_err(|e| ClientError::Invalid(format!("cannot start MLS: {e}")))?;
        let socket = UdpSocket::bind(config.media_bind).await?;
        widen_buffers(&socket)?;
        let local = socket.local_addr()?;
        let mut session = MediaSession::new(
            config.media.clone(),
            &id,
            local,
            joined_at,
            SystemTime::now(),
        )
        .map_err(|e| ClientError::Invalid(e.to_string()))?;
        if let Some(offer) = session.create_offer(joined_at) {
            ws.send(&ClientMessage::MediaOffer { sdp: offer }).await?;
        }
        let mut names = BTreeMap::new();
        let mut seated = Vec::new();
        for entry in &roster {
            names.insert(entry.id.clone(), entry.display_name.clone());
            seated.push(entry.id.clone());
        }
        let (commands, receiver) = mpsc::channel(16);
        let (lookups, looked_up) = mpsc::channel(64);
        let mut shell = Shell {
            ws,
            membership,
            http: reqwest::Client::new(),
            server: config.server.clone(),
            log: config.log.clone(),
            lookups,
            socket: Arc::new(socket),
            session,
            loss: (config.receive_loss > 0.0)
                .then(|| RandomLoss::new(config.receive_loss, seed_from(&id))),
            shaper: config
                .receive_rate_bps
                .map(|bps| ReceiveShaper::new(bps, SHAPER_QUEUE)),
            shaped_from: VecDeque::new(),
            report: ParticipantReport {
                participant_id: id.clone(),
                joined_at,
                media: MediaReport::default(),
                names,
                seated,
                active_speakers: Vec::new(),
                server_errors: Vec::new(),
                ended: None,
                impaired_drops: 0,
                epoch: None,
                safety_code: None,
                mls_roster: Vec::new(),
                epochs: Vec::new(),
                alerts: Vec::new(),
                chats: Vec::new(),
            },
        };
        let now = Instant::now();
        for message in early {
            shell.membership.handle(message, now);
        }
        shell.drain_membership().await;
        let task = tokio::spawn(shell.run(receiver, looked_up));
        Ok(Participant {
            id,
            joined_at,
            commands,
            task,
        })
    }

    /// Its participant id.
    pub fn id(&self) -> &ParticipantId {
        &self.id
    }

    /// When it was seated.
    pub fn joined_at(&self) -> Instant {
        self.joined_at
    }

    /// A snapshot of its counters.
    pub async fn report(&self) -> Result<ParticipantReport, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Report(tx))
            .await
            .map_err(|_| ClientError::Invalid("the participant task has ended".into()))?;
        rx.await
            .map_err(|_| ClientError::Invalid("the participant task has ended".into()))
    }

    /// Sends a chat message to the meeting, end-to-end encrypted and franked (queued until
    /// pending proposals are committed).
    pub async fn send_chat(&self, text: &str) -> Result<(), ClientError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Chat(text.to_owned(), tx))
            .await
            .map_err(|_| ClientError::Invalid("the participant task has ended".into()))?;
        rx.await
            .map_err(|_| ClientError::Invalid("the participant task has ended".into()))?
    }

    /// Decrypts frames captured elsewhere (see [`MediaConfig::capture_frames`]) with this
    /// participant's current MLS state, now: what a participant that was removed, or
    /// joined later, could read of them.
    pub async fn decrypt_frames(
        &self,
        frames: Vec<Vec<u8>>,
    ) -> Result<Vec<Result<Opened, CipherError>>, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Decrypt(frames, tx))
            .await
            .map_err(|_| ClientError::Invalid("the participant task has ended".into()))?;
        rx.await
            .map_err(|_| ClientError::Invalid("the participant task has ended".into()))
    }

    /// Sends a signaling message (e.g. `video_preference`, `mute`).
    pub async fn signal(&self, message: ClientMessage) -> Result<(), ClientError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Signal(message, tx))
            .await
            .map_err(|_| ClientError::Invalid("the participant task has ended".into()))?;
        rx.await
            .map_err(|_| ClientError::Invalid("the participant task has ended".into()))?
    }

    /// Changes the random loss of received RTP packets (0 turns it off).
    pub async fn set_receive_loss(&self, probability: f64) -> Result<(), ClientError> {
        self.commands
            .send(Command::ReceiveLoss(probability))
            .await
            .map_err(|_| ClientError::Invalid("the participant task has ended".into()))
    }

    /// Limits the receive link to `bits_per_sec`, or lifts the limit.
    pub async fn set_receive_rate(&self, bits_per_sec: Option<u64>) -> Result<(), ClientError> {
        self.commands
            .send(Command::ReceiveRate(bits_per_sec))
            .await
            .map_err(|_| ClientError::Invalid("the participant task has ended".into()))
    }

    /// Sends `leave`, closes the media session and the socket, and gives the
    /// final report.
    pub async fn leave(self) -> Result<ParticipantReport, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Leave(tx))
            .await
            .map_err(|_| ClientError::Invalid("the participant task has ended".into()))?;
        let report = rx
            .await
            .map_err(|_| ClientError::Invalid("the participant task has ended".into()))?;
        // The task ends right after answering; a join error would be a panic in it.
        let _ = self.task.await;
        Ok(report)
    }

    /// Drops everything without a word to the server, like a crashed client.
    pub fn vanish(self) {
        self.task.abort();
    }
}

fn seed_from(id: &ParticipantId) -> u64 {
    u64::from(crate::media::payload::sender_tag(id.as_str())) << 16 | 0x5eed
}

/// A key lookup's answer, from its task.
type LookedUp = (AccountId, Result<(IdentityKey, PinnedLog), KeyLookupError>);

struct Shell {
    ws: Signaling,
    membership: Membership,
    http: reqwest::Client,
    server: String,
    /// Pinned at configuration or by the first lookup's answer.
    log: Option<PinnedLog>,
    lookups: mpsc::Sender<LookedUp>,
    socket: Arc<UdpSocket>,
    session: MediaSession,
    loss: Option<RandomLoss>,
    shaper: Option<ReceiveShaper>,
    /// Source addresses of the datagrams in the shaper's queue, in order.
    shaped_from: VecDeque<SocketAddr>,
    report: ParticipantReport,
}

enum Step {
    Continue,
    Stop,
}

impl Shell {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut looked_up: mpsc::Receiver<LookedUp>,
    ) {
        let mut buf = vec![0u8; DATAGRAM_MAX];
        let mut next_timeout = Instant::now();
        loop {
            let now = Instant::now();
            if now >= next_timeout {
                if let Err(e) = self.session.handle_timeout(now, &mut self.membership) {
                    self.end(format!("media session failed: {e}"));
                }
                self.release_shaped(now);
            }
            self.membership.handle_timeout(now);
            self.drain_membership().await;
            next_timeout = match self.flush(now).await {
                Ok(at) => at,
                Err(e) => {
                    self.end(format!("cannot send media: {e}"));
                    now + Duration::from_millis(50)
                }
            };
            if let Some(release) = self.shaper.as_ref().and_then(ReceiveShaper::next_release) {
                next_timeout = next_timeout.min(release);
            }
            if let Some(commit) = self.membership.timeout(now) {
                next_timeout = next_timeout.min(commit);
            }
            let step = tokio::select! {
                _ = tokio::time::sleep_until(next_timeout.into()) => Step::Continue,
                command = commands.recv() => match command {
                    Some(command) => self.command(command).await,
                    // Every handle is gone: leave quietly.
                    None => Step::Stop,
                },
                readable = self.socket.readable() => match readable {
                    Ok(()) => { self.receive(&mut buf); Step::Continue }
                    Err(e) => { self.end(format!("media socket failed: {e}")); Step::Continue }
                },
                message = self.ws.recv_within(Duration::from_secs(3600)), if self.report.ended.is_none() => {
                    self.signaling(message).await
                }
                Some((account, answer)) = looked_up.recv() => {
                    let now = Instant::now();
                    match answer {
                        Ok((key, log)) => {
                            self.log.get_or_insert(log);
                            self.membership.key_verified(&account, key, now);
                        }
                        Err(e) => self.membership.key_refused(&account, &e.to_string(), now),
                    }
                    Step::Continue
                }
            };
            self.drain_membership().await;
            if let Step::Stop = step {
                return;
            }
        }
    }

    /// Sends what the session wants sent; gives the session's next timeout.
    async fn flush(&mut self, now: Instant) -> std::io::Result<Instant> {
        loop {
            match self.session.poll(now) {
                Ok(Poll::Transmit {
                    destination,
                    contents,
                }) => {
                    // A full socket buffer drops the datagram, like a
                    // congested link; RTP repairs it.
                    let _ = self.socket.try_send_to(&contents, destination);
                }
                Ok(Poll::Timeout(at)) => return Ok(at),
                Err(e) => {
                    self.end(format!("media session failed: {e}"));
                    return Ok(now + Duration::from_millis(50));
                }
            }
        }
    }

    fn receive(&mut self, buf: &mut [u8]) {
        for _ in 0..RECV_BATCH {
            let (len, source) = match self.socket.try_recv_from(buf) {
                Ok(got) => got,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                // ICMP errors surface here on Linux; the next read is fine.
                Err(_) => continue,
            };
            let now = Instant::now();
            let datagram = &buf[..len];
            if let Some(loss) = self.loss.as_mut() {
                if loss.drops(datagram) {
                    self.report.impaired_drops += 1;
                    continue;
                }
            }
            if let Some(shaper) = self.shaper.as_mut() {
                if shaper.push(now, datagram.to_vec()) {
                    self.shaped_from.push_back(source);
                } else {
                    self.report.impaired_drops += 1;
                }
                continue;
            }
            if let Err(e) =
                self.session
                    .handle_datagram(now, source, datagram, &mut self.membership)
            {
                self.end(format!("media session refused a datagram: {e}"));
            }
        }
    }

    fn release_shaped(&mut self, now: Instant) {
        let Some(shaper) = self.shaper.as_mut() else {
            return;
        };
        while let Some(datagram) = shaper.pop(now) {
            let Some(source) = self.shaped_from.pop_front() else {
                break;
            };
            if let Err(e) =
                self.session
                    .handle_datagram(now, source, &datagram, &mut self.membership)
            {
                self.report.ended = Some(format!("media session refused a datagram: {e}"));
            }
        }
    }

    async fn command(&mut self, command: Command) -> Step {
        match command {
            Command::Report(reply) => {
                let _ = reply.send(self.snapshot());
            }
            Command::Decrypt(frames, reply) => {
                let now = Instant::now();
                let opened = frames
                    .iter()
                    .map(|frame| self.membership.decrypt(frame, now))
                    .collect();
                let _ = reply.send(opened);
            }
            Command::Chat(text, reply) => {
                let sent = self
                    .membership
                    .send_chat(&text)
                    .map_err(|e| ClientError::Invalid(format!("chat not sent: {e}")));
                let _ = reply.send(sent);
            }
            Command::Signal(message, reply) => {
                let _ = reply.send(self.ws.send(&message).await);
            }
            Command::ReceiveLoss(probability) => {
                self.loss = (probability > 0.0)
                    .then(|| RandomLoss::new(probability, seed_from(&self.report.participant_id)));
            }
            Command::ReceiveRate(rate) => {
                // Lifting the limit hands over what is still queued at once.
                if rate.is_none() {
                    if let Some(mut shaper) = self.shaper.take() {
                        let now = Instant::now();
                        let far = now + Duration::from_secs(3600);
                        while let Some(datagram) = shaper.pop(far) {
                            let Some(source) = self.shaped_from.pop_front() else {
                                break;
                            };
                            let _ = self.session.handle_datagram(
                                now,
                                source,
                                &datagram,
                                &mut self.membership,
                            );
                        }
                    }
                    self.shaped_from.clear();
                } else if let Some(bps) = rate {
                    self.shaper = Some(ReceiveShaper::new(bps, SHAPER_QUEUE));
                    self.shaped_from.clear();
                }
            }
            Command::Leave(reply) => {
                let _ = self.ws.send(&ClientMessage::Leave).await;
                self.session.close();
                let _ = self.flush(Instant::now()).await;
                let report = self.snapshot();
                let _ = reply.send(report);
                return Step::Stop;
            }
        }
        Step::Continue
    }

    async fn signaling(&mut self, message: Result<ServerMessage, ClientError>) -> Step {
        let message = match message {
            Ok(message) => message,
            Err(e) => {
                self.end(format!("signaling failed: {e}"));
                return Step::Continue;
            }
        };
        match message {
            ServerMessage::MediaOffer { sdp } => {
                if self.session.has_pending_offer() {
                    // Ours crossed it: the server drops its own and offers again later.
                    return Step::Continue;
                }
                match self.session.accept_offer(&sdp) {
                    Ok(answer) => {
                        if let Err(e) = self
                            .ws
                            .send(&ClientMessage::MediaAnswer { sdp: answer })
                            .await
                        {
                            self.end(format!("cannot answer the SFU's offer: {e}"));
                        }
                    }
                    Err(e) => self.end(format!("cannot accept the SFU's offer: {e}")),
                }
            }
            ServerMessage::MediaAnswer { sdp } => {
                if let Err(e) = self.session.accept_answer(&sdp) {
                    self.end(format!("cannot accept the SFU's answer: {e}"));
                }
            }
            ServerMessage::MediaTracks { tracks } => self.session.set_tracks(tracks),
            message @ (ServerMessage::MlsCreate { .. }
            | ServerMessage::MlsAdmitted { .. }
            | ServerMessage::MlsProposal { .. }
            | ServerMessage::MlsCommit { .. }
            | ServerMessage::MlsCommitAccepted { .. }
            | ServerMessage::MlsCommitRefused { .. }
            | ServerMessage::MlsWelcome { .. }
            | ServerMessage::Chat { .. }) => self.membership.handle(message, Instant::now()),
            ServerMessage::ActiveSpeakers { participant_ids } => {
                self.report.active_speakers = participant_ids;
            }
            ServerMessage::ParticipantJoined { participant }
            | ServerMessage::ParticipantUpdated { participant } => self.seat(participant),
            ServerMessage::ParticipantLeft { participant_id, .. } => {
                self.report.seated.retain(|id| *id != participant_id);
            }
            ServerMessage::Removed { reason } => {
                self.end(format!(
                    "removed by a host{}",
                    reason.map(|r| format!(": {r}")).unwrap_or_default()
                ));
            }
            ServerMessage::MeetingEnded { .. } => self.end("the meeting ended".into()),
            ServerMessage::Error { code, message } => {
                if code == ErrorCode::MediaRejected {
                    self.end(format!("the server refused our media: {message}"));
                }
                self.report.server_errors.push((code, message));
            }
            _ => {}
        }
        Step::Continue
    }

    /// Carries out what the membership asks: messages to the server, key lookups in tasks
    /// of their own, and what goes into the report.
    async fn drain_membership(&mut self) {
        while let Some(output) = self.membership.poll_output() {
            match output {
                Output::Send(message) => {
                    if let Err(e) = self.ws.send(&message).await {
                        self.end(format!("cannot send an MLS message: {e}"));
                    }
                }
                Output::LookupKey(account) => {
                    let http = self.http.clone();
                    let server = self.server.clone();
                    let pinned = self.log.clone();
                    let answers = self.lookups.clone();
                    tokio::spawn(async move {
                        let answer = async {
                            let log = match pinned {
                                Some(log) => log,
                                None => keydir::pin_log(&http, &server).await?,
                            };
                            let key = keydir::verified_key(&http, &server, &log, &account).await?;
                            Ok((key, log))
                        }
                        .await;
                        // The shell is gone if this fails: nobody needs the answer.
                        let _ = answers.send((account, answer)).await;
                    });
                }
                Output::Epoch(info) => {
                    self.report.epoch = Some(info.epoch);
                    self.report.safety_code = Some(info.safety_code.clone());
                    self.report.epochs.push((info.epoch, info.safety_code));
                    self.report.mls_roster = info.roster;
                }
                Output::Alert(alert) => self.report.alerts.push(alert),
                Output::Chat(chat) => self.report.chats.push(chat),
            }
        }
    }

    fn seat(&mut self, participant: RosterEntry) {
        self.report
            .names
            .insert(participant.id.clone(), participant.display_name.clone());
        if !self.report.seated.contains(&participant.id) {
            self.report.seated.push(participant.id);
        }
    }

    fn end(&mut self, why: String) {
        if self.report.ended.is_none() {
            self.report.ended = Some(why);
        }
    }

    fn snapshot(&self) -> ParticipantReport {
        let mut report = self.report.clone();
        report.media = self.session.report();
        report
    }
}
