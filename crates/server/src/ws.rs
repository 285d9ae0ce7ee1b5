//! One task per signaling WebSocket: it authenticates the `hello`, takes the
//! `join` or `resume` to the meeting's room task, and relays commands and
//! messages. All checks on the raw input happen here, before a room sees it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use proto::ids::{AccountId, MeetingId, OpaqueId, ParticipantId};
use proto::signaling::{
    ClientMessage, ErrorCode, HelloAuth, MediaSource, ServerMessage, MAX_MLS_MESSAGE_BYTES,
    MAX_REASON_CHARS, MAX_SDP_BYTES, PROTOCOL_VERSION,
};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::auth::{random_bytes, random_token};
use crate::meetings::{
    Connection, ConnectionSink, MeetingsError, Outbound, RoomRequest, CONNECTION_QUEUE,
};
use crate::mls::MlsInput;
use crate::oversight::notices::NoticeEvent;
use crate::rate_limit::{Quota, RateLimiter};
use crate::room::{Arrival, Command, Person, RoomError};
use crate::state::AppState;

/// Time allowed between connecting and a valid `hello`.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames above this are cut off by the WebSocket layer itself; between
/// [`MAX_MLS_MESSAGE_BYTES`] and this, the client gets a close with a reason (and the
/// per-type limits of [`ClientMessage::parse`] apply below it).
const HARD_FRAME_LIMIT: usize = 2 << 20;
/// Messages per connection: a burst of 50, then 20 per second.
const MESSAGE_QUOTA: Quota = Quota {
    burst: 50,
    per_minute: 1200,
};
/// Wrong passcodes tolerated on one connection before it is closed.
const MAX_PASSCODE_FAILURES: u32 = 5;

static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

/// `GET /api/v1/ws`: upgrades to the signaling protocol.
pub async fn upgrade(ws: WebSocketUpgrade, State(state): State<AppState>) -> Response {
    ws.max_message_size(HARD_FRAME_LIMIT)
        .max_frame_size(HARD_FRAME_LIMIT)
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .on_upgrade(move |socket| async move {
            state.metrics.connections.inc();
            SignalingConnection::new(state.clone()).run(socket).await;
            state.metrics.connections.dec();
        })
}

/// Who the `hello` proved the client to be.
struct Identity {
    account: Option<AccountId>,
    display_name: String,
}

/// Where a connection is in its life.
enum Phase {
    AwaitingHello,
    Identified(Identity),
    /// Identity is no longer needed here: the room knows who holds the seat.
    InMeeting {
        room: mpsc::Sender<RoomRequest>,
        participant: ParticipantId,
        /// This connection's writer, for the SFU's answers and errors.
        sink: std::sync::Arc<ConnectionSink>,
    },
}

/// What the reader decided to do after a message.
enum Flow {
    Continue,
    Close(u16, &'static str),
}

struct SignalingConnection {
    state: AppState,
    id: u64,
    phase: Phase,
    outbound: Option<mpsc::Receiver<Outbound>>,
    limiter: RateLimiter<()>,
    passcode_failures: u32,
    replies: Vec<ServerMessage>,
    /// Oversight notices, once a signed-in `hello` says whose to pass on.
    notices: Option<(AccountId, broadcast::Receiver<Arc<NoticeEvent>>)>,
}

impl SignalingConnection {
    fn new(state: AppState) -> Self {
        SignalingConnection {
            state,
            id: NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed),
            phase: Phase::AwaitingHello,
            outbound: None,
            limiter: RateLimiter::new(MESSAGE_QUOTA),
            passcode_failures: 0,
            replies: Vec::new(),
            notices: None,
        }
    }

    async fn run(mut self, socket: WebSocket) {
        let (mut sink, mut stream) = socket.split();
        let mut shutdown = self.state.shutdown.clone();
        let hello_deadline = tokio::time::Instant::now() + HELLO_TIMEOUT;
        let close = loop {
            let awaiting_hello = matches!(self.phase, Phase::AwaitingHello);
            let flow = tokio::select! {
                frame = stream.next() => match frame {
                    Some(Ok(Message::Text(text))) => self.on_text(text.as_str()).await,
                    Some(Ok(Message::Binary(_))) => {
                        self.error(ErrorCode::MalformedMessage, "binary frames are not part of the protocol; send JSON text");
                        Flow::Continue
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => Flow::Continue,
                    Some(Ok(Message::Close(_))) | None => break None,
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "signaling socket failed");
                        break None;
                    }
                },
                out = recv(&mut self.outbound) => match out {
                    Some(Outbound::Text(text)) => {
                        if sink.send(Message::Text(text)).await.is_err() {
                            break None;
                        }
                        Flow::Continue
                    }
                    Some(Outbound::Close(code, reason)) => Flow::Close(code, reason),
                    None => Flow::Close(1000, "done"),
                },
                event = next_notice(&mut self.notices) => {
                    if let Some((account, _)) = &self.notices {
                        if &event.to == account {
                            self.replies.push(ServerMessage::Notice { notice: event.notice.clone() });
                        }
                    }
                    Flow::Continue
                }
                () = tokio::time::sleep_until(hello_deadline), if awaiting_hello => {
                    self.error(ErrorCode::InvalidState, "no hello within 10 s");
                    Flow::Close(1008, "no hello within 10 s")
                }
                _ = shutdown.changed() => {
                    self.error(ErrorCode::ShuttingDown, "the server is restarting; resume or join again shortly");
                    Flow::Close(1001, "server shutting down")
                }
            };
            for reply in self.replies.drain(..) {
                let Ok(text) = serde_json::to_string(&reply) else {
                    continue;
                };
                if sink.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            if let Flow::Close(code, reason) = flow {
                break Some((code, reason));
            }
        };
        if let Some((code, reason)) = close {
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            let _ = sink.send(Message::Close(Some(frame))).await;
        }
        if let Phase::InMeeting {
            room, participant, ..
        } = &self.phase
        {
            let _ = room
                .send(RoomRequest::Disconnected {
                    who: participant.clone(),
                    conn_id: self.id,
                })
                .await;
        }
    }

    fn error(&mut self, code: ErrorCode, message: impl Into<String>) {
        self.replies.push(ServerMessage::Error {
            code,
            message: message.into(),
        });
    }

    async fn on_text(&mut self, text: &str) -> Flow {
        if text.len() > MAX_MLS_MESSAGE_BYTES {
            self.error(
                ErrorCode::MessageTooLarge,
                format!(
                    "message is {} bytes; the limit is {MAX_MLS_MESSAGE_BYTES}",
                    text.len()
                ),
            );
            return Flow::Close(1009, "message too large");
        }
        if self.limiter.check((), Instant::now()).is_err() {
            self.error(ErrorCode::RateLimited, "too many messages; slow down");
            return Flow::Continue;
        }
        match ClientMessage::parse(text) {
            Ok(message) => self.on_message(message).await,
            // Over its type's limit (64 KiB for all but the MLS messages): same
            // answer as over the frame check above.
            Err(e @ proto::signaling::ParseError::TooLarge { .. }) => {
                self.error(e.code(), e.to_string());
                Flow::Close(1009, "message too large")
            }
            Err(e) => {
                self.error(e.code(), e.to_string());
                Flow::Continue
            }
        }
    }

    async fn on_message(&mut self, message: ClientMessage) -> Flow {
        if let ClientMessage::Ping = message {
            self.replies.push(ServerMessage::Pong);
            return Flow::Continue;
        }
        match std::mem::replace(&mut self.phase, Phase::AwaitingHello) {
            Phase::AwaitingHello => match message {
                ClientMessage::Hello { version, auth } => self.hello(version, auth).await,
                _ => {
                    self.error(ErrorCode::InvalidState, "send hello first");
                    Flow::Continue
                }
            },
            Phase::Identified(identity) => match message {
                ClientMessage::Join {
                    meeting_id,
                    passcode,
                } => {
                    let (phase, flow) = self.join(identity, meeting_id, passcode).await;
                    self.phase = phase;
                    flow
                }
                ClientMessage::Resume {
                    meeting_id,
                    resume_token,
                } => {
                    let (phase, flow) = self.resume(identity, meeting_id, resume_token).await;
                    self.phase = phase;
                    flow
                }
                _ => {
                    self.phase = Phase::Identified(identity);
                    self.error(ErrorCode::InvalidState, "join or resume a meeting first");
                    Flow::Continue
                }
            },
            Phase::InMeeting {
                room,
                participant,
                sink,
            } => {
                let command = match mls_input(message) {
                    Ok(input) => {
                        let request = RoomRequest::Mls {
                            from: participant.clone(),
                            conn_id: self.id,
                            input,
                        };
                        if room.send(request).await.is_err() {
                            return Flow::Close(1000, "the meeting is over");
                        }
                        None
                    }
                    Err(message) => self.command(message, &participant, &sink),
                };
                let flow = match command {
                    Some(command) => {
                        let request = RoomRequest::Command {
                            from: participant.clone(),
                            conn_id: self.id,
                            command,
                        };
                        if room.send(request).await.is_err() {
                            Flow::Close(1000, "the meeting is over")
                        } else {
                            Flow::Continue
                        }
                    }
                    None => Flow::Continue,
                };
                self.phase = Phase::InMeeting {
                    room,
                    participant,
                    sink,
                };
                flow
            }
        }
    }

    /// Checks a seated client's message and turns it into a room command;
    /// SDP and video preferences go straight to the SFU, which only knows
    /// participants the room seated.
    fn command(
        &mut self,
        message: ClientMessage,
        participant: &ParticipantId,
        sink: &std::sync::Arc<ConnectionSink>,
    ) -> Option<Command> {
        let media = self.state.meetings.media();
        let reply = || -> std::sync::Arc<dyn sfu::SignalSink> { sink.clone() };
        let too_long = |reason: &str| reason.chars().count() > MAX_REASON_CHARS;
        let command = match message {
            ClientMessage::Admit { participant_id } => Command::Admit(participant_id),
            ClientMessage::Deny {
                participant_id,
                reason,
            } if !too_long(&reason) => Command::Deny(participant_id, reason),
            ClientMessage::Remove {
                participant_id,
                reason,
            } if !reason.as_deref().is_some_and(too_long) => {
                Command::Remove(participant_id, reason)
            }
            ClientMessage::Deny { .. } | ClientMessage::Remove { .. } => {
                self.error(
                    ErrorCode::MalformedMessage,
                    format!("a reason may be at most {MAX_REASON_CHARS} characters"),
                );
                return None;
            }
            ClientMessage::Lock => Command::SetLocked(true),
            ClientMessage::Unlock => Command::SetLocked(false),
            ClientMessage::MakeCohost { participant_id } => Command::MakeCohost(participant_id),
            ClientMessage::RequestUnmute { participant_id } => {
                Command::RequestUnmute(participant_id)
            }
            ClientMessage::EndMeeting => Command::End,
            ClientMessage::RaiseHand => Command::SetHand(true),
            ClientMessage::LowerHand => Command::SetHand(false),
            ClientMessage::Leave => Command::Leave,
            ClientMessage::MediaOffer { sdp } | ClientMessage::MediaAnswer { sdp }
                if sdp.len() > MAX_SDP_BYTES =>
            {
                self.error(
                    ErrorCode::MediaRejected,
                    format!("SDP is {} bytes; the limit is {MAX_SDP_BYTES}", sdp.len()),
                );
                return None;
            }
            ClientMessage::MediaOffer { sdp } => {
                media.offer(participant.clone(), sdp, reply());
                return None;
            }
            ClientMessage::MediaAnswer { sdp } => {
                media.answer(participant.clone(), sdp, reply());
                return None;
            }
            ClientMessage::VideoPreference {
                participant_id,
                source,
                max_height,
            } => {
                media.video_preference(
                    participant.clone(),
                    participant_id,
                    source,
                    max_height,
                    reply(),
                );
                return None;
            }
            ClientMessage::Mute { media: sources, .. }
            | ClientMessage::LiftMute { media: sources, .. }
                if sources.len() > 3 =>
            {
                self.error(
                    ErrorCode::MalformedMessage,
                    "list each media source at most once",
                );
                return None;
            }
            ClientMessage::Mute {
                participant_id,
                media: sources,
            } => Command::HostMute(participant_id, dedup(sources), true),
            ClientMessage::LiftMute {
                participant_id,
                media: sources,
            } => Command::HostMute(participant_id, dedup(sources), false),
            ClientMessage::Hello { .. }
            | ClientMessage::Join { .. }
            | ClientMessage::Resume { .. }
            | ClientMessage::Ping
            | ClientMessage::MlsGroup { .. }
            | ClientMessage::MlsKeyPackage { .. }
            | ClientMessage::MlsCommit { .. }
            | ClientMessage::ChatSend { .. } => {
                self.error(
                    ErrorCode::InvalidState,
                    "already in a meeting; open another connection for another meeting",
                );
                return None;
            }
        };
        Some(command)
    }

    async fn hello(&mut self, version: u16, auth: HelloAuth) -> Flow {
        if version != PROTOCOL_VERSION {
            self.error(
                ErrorCode::UnsupportedVersion,
                format!("this server speaks protocol version {PROTOCOL_VERSION}, not {version}"),
            );
            return Flow::Close(1002, "unsupported protocol version");
        }
        let identity = match auth {
            HelloAuth::Token { token } => {
                let account = match crate::auth::account_for_token(&self.state, &token).await {
                    Ok(Some(account)) => account,
                    Ok(None) => {
                        self.error(
                            ErrorCode::Unauthenticated,
                            "the token is unknown or has expired",
                        );
                        return Flow::Close(4001, "unauthenticated");
                    }
                    Err(_) => return self.internal(),
                };
                let Ok(Some(record)) = self.state.store.account(&account).await else {
                    return self.internal();
                };
                Identity {
                    account: Some(account),
                    display_name: record.display_name.unwrap_or(record.username),
                }
            }
            HelloAuth::Guest { display_name } => {
                match crate::api::accounts::clean_display_name(&display_name) {
                    Ok(name) => Identity {
                        account: None,
                        display_name: name,
                    },
                    Err(e) => {
                        self.error(ErrorCode::Unauthenticated, e);
                        return Flow::Close(4001, "invalid guest name");
                    }
                }
            }
        };
        if let (Some(account), Some(desk)) = (&identity.account, &self.state.oversight) {
            self.notices = Some((account.clone(), desk.subscribe()));
        }
        self.replies.push(ServerMessage::Welcome {
            version: PROTOCOL_VERSION,
            account_id: identity.account.clone(),
            display_name: identity.display_name.clone(),
        });
        self.phase = Phase::Identified(identity);
        Flow::Continue
    }

    fn internal(&mut self) -> Flow {
        self.error(
            ErrorCode::InvalidState,
            "the server failed to handle this message",
        );
        Flow::Close(1011, "internal error")
    }

    async fn join(
        &mut self,
        identity: Identity,
        meeting: MeetingId,
        passcode: Option<String>,
    ) -> (Phase, Flow) {
        let record = match self.state.meetings.record(&meeting).await {
            Ok(record) => record,
            Err(e) => {
                let flow = self.meeting_error(e);
                return (Phase::Identified(identity), flow);
            }
        };
        let is_owner = identity.account.as_ref() == Some(&record.host);
        if let (Some(hash), false) = (record.passcode_hash.clone(), is_owner) {
            let given = passcode.unwrap_or_default();
            let ok = given.len() <= proto::rest::MAX_PASSCODE_BYTES
                && crate::auth::verify_secret(given, Some(hash))
                    .await
                    .unwrap_or(false);
            if !ok {
                self.passcode_failures += 1;
                self.error(ErrorCode::WrongPasscode, "missing or wrong passcode");
                let flow = if self.passcode_failures >= MAX_PASSCODE_FAILURES {
                    Flow::Close(1008, "too many wrong passcodes")
                } else {
                    Flow::Continue
                };
                return (Phase::Identified(identity), flow);
            }
        }
        // A room that is stopping drops our request; the next attempt starts a new one.
        let mut record = record;
        for attempt in 0..3 {
            if attempt > 0 {
                // The room stopped under us, perhaps because the meeting
                // ended: read the stored state again, never the cached copy.
                record = match self.state.meetings.record(&meeting).await {
                    Ok(record) => record,
                    Err(e) => {
                        let flow = self.meeting_error(e);
                        return (Phase::Identified(identity), flow);
                    }
                };
            }
            let room = self.state.meetings.room(&record);
            let participant = ParticipantId::from_random(&random_bytes::<9>());
            let (tx, rx) = mpsc::channel(CONNECTION_QUEUE);
            let (reply, answer) = oneshot::channel();
            let arrival = Arrival {
                participant_id: participant.clone(),
                resume_token: random_token(),
                person: Person {
                    account: identity.account.clone(),
                    display_name: identity.display_name.clone(),
                },
            };
            let sink = std::sync::Arc::new(ConnectionSink(tx.clone()));
            let conn = Connection { id: self.id, tx };
            let request = RoomRequest::Arrive {
                arrival,
                conn,
                reply,
            };
            if room.send(request).await.is_err() {
                continue;
            }
            match answer.await {
                Ok(Ok(_placement)) => {
                    self.outbound = Some(rx);
                    let phase = Phase::InMeeting {
                        room,
                        participant,
                        sink,
                    };
                    return (phase, Flow::Continue);
                }
                Ok(Err(e)) => {
                    self.error(e.code(), e.to_string());
                    return (Phase::Identified(identity), Flow::Continue);
                }
                Err(_) => continue,
            }
        }
        let flow = self.internal();
        (Phase::Identified(identity), flow)
    }

    async fn resume(
        &mut self,
        identity: Identity,
        meeting: MeetingId,
        token: String,
    ) -> (Phase, Flow) {
        let answer = match self.state.meetings.live(&meeting) {
            None => Err(RoomError::ResumeFailed),
            Some(room) => {
                let (tx, rx) = mpsc::channel(CONNECTION_QUEUE);
                let sink = std::sync::Arc::new(ConnectionSink(tx.clone()));
                let (reply, answer) = oneshot::channel();
                let request = RoomRequest::Resume {
                    token,
                    account: identity.account.clone(),
                    fresh_token: random_token(),
                    conn: Connection { id: self.id, tx },
                    reply,
                };
                match room.send(request).await {
                    Ok(()) => answer
                        .await
                        .unwrap_or(Err(RoomError::ResumeFailed))
                        .map(|participant| (room, participant, rx, sink)),
                    Err(_) => Err(RoomError::ResumeFailed),
                }
            }
        };
        match answer {
            Ok((room, participant, rx, sink)) => {
                self.outbound = Some(rx);
                let phase = Phase::InMeeting {
                    room,
                    participant,
                    sink,
                };
                (phase, Flow::Continue)
            }
            Err(e) => {
                self.error(e.code(), e.to_string());
                (Phase::Identified(identity), Flow::Continue)
            }
        }
    }

    fn meeting_error(&mut self, e: MeetingsError) -> Flow {
        match e {
            MeetingsError::NotFound => self.error(ErrorCode::NotFound, "no such meeting"),
            MeetingsError::Ended => self.error(ErrorCode::MeetingEnded, "the meeting has ended"),
            MeetingsError::Store(e) => {
                tracing::error!(error = %e, "storage failed during a join");
                return self.internal();
            }
        }
        Flow::Continue
    }
}

fn dedup(mut sources: Vec<MediaSource>) -> Vec<MediaSource> {
    sources.sort_unstable();
    sources.dedup();
    sources
}

async fn recv(outbound: &mut Option<mpsc::Receiver<Outbound>>) -> Option<Outbound> {
    match outbound {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The next oversight notice event for any account; never resolves without
/// a subscription. A connection that fell behind skips what it missed (the
/// notices stay readable over REST).
async fn next_notice(
    notices: &mut Option<(AccountId, broadcast::Receiver<Arc<NoticeEvent>>)>,
) -> Arc<NoticeEvent> {
    let Some((_, receiver)) = notices else {
        return std::future::pending().await;
    };
    loop {
        match receiver.recv().await {
            Ok(event) => return event,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return std::future::pending().await,
        }
    }
}

/// The MLS messages go to the meeting's group in the room task; anything else comes back.
fn mls_input(message: ClientMessage) -> Result<MlsInput, ClientMessage> {
    Ok(match message {
        ClientMessage::MlsGroup {
            group_info,
            ratchet_tree,
        } => MlsInput::Group {
            group_info: group_info.into_bytes(),
            ratchet_tree: ratchet_tree.into_bytes(),
        },
        ClientMessage::MlsKeyPackage { key_package } => {
            MlsInput::KeyPackage(key_package.into_bytes())
        }
        ClientMessage::MlsCommit {
            epoch,
            commit,
            welcome,
        } => MlsInput::Commit {
            epoch,
            commit: commit.into_bytes(),
            welcome: welcome.map(proto::signaling::Base64Bytes::into_bytes),
        },
        ClientMessage::ChatSend {
            message,
            commitment,
        } => MlsInput::Chat {
            message: message.into_bytes(),
            commitment: commitment.into_bytes(),
        },
        other => return Err(other),
    })
}
