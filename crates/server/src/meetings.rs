//! The shell around [`Room`]: one tokio task owns each live room, and
//! connections talk to it by message (no locks in the core).
//!
//! The registry maps meeting ids to room tasks. A room task stops when its
//! room is idle; it closes its channel first, so a join that races with the
//! stop sees a closed channel and asks the registry for a new task.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::ws::Utf8Bytes;
use proto::ids::{AccountId, MeetingId, ParticipantId};
use proto::signaling::ServerMessage;
use tokio::sync::{mpsc, oneshot};

use sfu::{Admission, MediaHandle, SignalSink};
use storage::MeetingRecord;

use crate::metrics::Metrics;
use crate::mls::{MeetingGroup, MlsInput, MlsOutput};
use crate::room::{Arrival, Command, Output, Placement, Room, RoomError, RoomSettings};

/// Messages a connection's writer sends to its socket.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A serialized [`ServerMessage`].
    Text(Utf8Bytes),
    /// Close the socket with this code and reason.
    Close(u16, &'static str),
}

/// A connection's writer as the SFU sees it: router messages are serialized
/// and queued like the room's own; a full queue drops them (the room cuts
/// such a slow client off on its next message anyway).
pub struct ConnectionSink(pub mpsc::Sender<Outbound>);

impl SignalSink for ConnectionSink {
    fn deliver(&self, message: ServerMessage) -> bool {
        match serde_json::to_string(&message) {
            Ok(text) => self.0.try_send(Outbound::Text(text.into())).is_ok(),
            Err(_) => false,
        }
    }
}

/// Most MLS messages kept for one participant whose connection dropped.
pub const MAX_HELD_MESSAGES: usize = 4096;
/// Most bytes of MLS messages kept for one participant whose connection dropped.
pub const MAX_HELD_BYTES: usize = 16 * 1024 * 1024;

/// The group's messages for a participant whose connection dropped while its seat is held:
/// they are replayed in order when it resumes, so its MLS state follows every commit it
/// missed. If more arrive than [`MAX_HELD_MESSAGES`] or [`MAX_HELD_BYTES`], the rest cannot
/// be replayed; the resume is refused and the participant joins afresh.
#[derive(Debug, Default)]
struct HeldMls {
    messages: Vec<Utf8Bytes>,
    bytes: usize,
    overflowed: bool,
}

impl HeldMls {
    fn push(&mut self, text: Utf8Bytes) {
        if self.overflowed {
            return;
        }
        if self.messages.len() >= MAX_HELD_MESSAGES || self.bytes + text.len() > MAX_HELD_BYTES {
            self.overflowed = true;
            self.messages = Vec::new();
            self.bytes = 0;
            return;
        }
        self.bytes += text.len();
        self.messages.push(text);
    }
}

/// A connection's mailbox, as a room sees it.
#[derive(Clone)]
pub struct Connection {
    /// Unique per WebSocket, so a stale connection cannot act after a resume.
    pub id: u64,
    /// Its writer's queue.
    pub tx: mpsc::Sender<Outbound>,
}

/// Requests to a room task.
pub enum RoomRequest {
    /// Someone asks to join.
    Arrive {
        /// Who.
        arrival: Arrival,
        /// Their mailbox.
        conn: Connection,
        /// Where they ended up.
        reply: oneshot::Sender<Result<Placement, RoomError>>,
    },
    /// Someone takes back a held seat.
    Resume {
        /// The resume token.
        token: String,
        /// The resumer's account (must match the seat's).
        account: Option<AccountId>,
        /// The replacement token.
        fresh_token: String,
        /// The new mailbox.
        conn: Connection,
        /// The seat's id.
        reply: oneshot::Sender<Result<ParticipantId, RoomError>>,
    },
    /// A command from a participant's current connection.
    Command {
        /// Sender.
        from: ParticipantId,
        /// Sender's connection id.
        conn_id: u64,
        /// What they asked.
        command: Command,
    },
    /// A connection ended without `leave`.
    Disconnected {
        /// Whose.
        who: ParticipantId,
        /// Which connection (ignored if it was replaced by a resume).
        conn_id: u64,
    },
    /// Settings changed through the REST API.
    Settings(RoomSettings),
    /// An MLS message from a participant's current connection.
    Mls {
        /// Sender.
        from: ParticipantId,
        /// Sender's connection id.
        conn_id: u64,
        /// The message.
        input: MlsInput,
    },
    /// Oversight staff ended the meeting under a quorum-approved order.
    EndByOrder(proto::signaling::EndOrder),
}

/// Why a join could not reach a room.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MeetingsError {
    /// No meeting with that id.
    #[error("no such meeting")]
    NotFound,
    /// The meeting has ended.
    #[error("the meeting has ended")]
    Ended,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] storage::StoreError),
}

/// The registry of live rooms.
pub struct Meetings {
    store: storage::Store,
    franking: Arc<e2ee::franking::ServerFrankingKey>,
    metrics: Metrics,
    media: MediaHandle,
    rooms: Rooms,
}

type Rooms = Arc<Mutex<HashMap<MeetingId, LiveRoom>>>;

/// A running room task and the stored meeting it serves. The record is kept
/// so that joins to a running meeting (the common case) check the host and
/// passcode without a database read; `PATCH /meetings/{id}` refreshes it.
struct LiveRoom {
    tx: mpsc::Sender<RoomRequest>,
    record: Arc<MeetingRecord>,
}

/// Room task mailbox size; a full mailbox slows senders down (backpressure).
const ROOM_QUEUE: usize = 1024;
/// Per-connection outbound queue; a client that lets it fill up is cut off.
pub const CONNECTION_QUEUE: usize = 256;

impl Meetings {
    /// An empty registry.
    pub fn new(
        store: storage::Store,
        metrics: Metrics,
        media: MediaHandle,
        franking: Arc<e2ee::franking::ServerFrankingKey>,
    ) -> Self {
        Meetings {
            store,
            franking,
            metrics,
            media,
            rooms: Rooms::default(),
        }
    }

    /// The SFU, for a connection's media messages.
    pub fn media(&self) -> &MediaHandle {
        &self.media
    }

    /// The stored meeting, from the running room if there is one.
    pub async fn record(&self, id: &MeetingId) -> Result<Arc<MeetingRecord>, MeetingsError> {
        if let Some(live) = self.lock().get(id).filter(|r| !r.tx.is_closed()) {
            return Ok(live.record.clone());
        }
        let record = self
            .store
            .meeting(id)
            .await?
            .ok_or(MeetingsError::NotFound)?;
        if record.ended_at.is_some() {
            return Err(MeetingsError::Ended);
        }
        Ok(Arc::new(record))
    }

    /// The live room of a meeting, starting it from `record` if needed.
    pub fn room(&self, record: &Arc<MeetingRecord>) -> mpsc::Sender<RoomRequest> {
        let mut rooms = self.lock();
        if let Some(live) = rooms.get(&record.id).filter(|r| !r.tx.is_closed()) {
            return live.tx.clone();
        }
        let room = Room::new(record.id.clone(), record.host.clone(), settings_of(record));
        // The external-sender key lives as long as the meeting's group: in memory only.
        let group = MeetingGroup::new(
            record.id.clone(),
            e2ee::server_view::ServerSigningKey::generate(&mut rand::rngs::OsRng),
            self.franking.clone(),
        );
        let (tx, rx) = mpsc::channel(ROOM_QUEUE);
        let live = LiveRoom {
            tx: tx.clone(),
            record: record.clone(),
        };
        rooms.insert(record.id.clone(), live);
        self.metrics.meetings.inc();
        tokio::spawn(run_room(
            record.id.clone(),
            room,
            group,
            rx,
            self.store.clone(),
            self.metrics.clone(),
            self.media.clone(),
            self.rooms.clone(),
        ));
        tx
    }

    /// The room's mailbox if it is running.
    pub fn live(&self, id: &MeetingId) -> Option<mpsc::Sender<RoomRequest>> {
        self.lock()
            .get(id)
            .filter(|r| !r.tx.is_closed())
            .map(|r| r.tx.clone())
    }

    /// Replaces a running room's record after its settings changed, and
    /// tells the room. Returns whether a room was running.
    pub async fn refresh(&self, record: MeetingRecord) -> bool {
        let settings = settings_of(&record);
        let tx = {
            let mut rooms = self.lock();
            match rooms.get_mut(&record.id).filter(|r| !r.tx.is_closed()) {
                Some(live) => {
                    live.record = Arc::new(record);
                    live.tx.clone()
                }
                None => return false,
            }
        };
        // A room that just stopped needs no update: the next one loads the record.
        tx.send(RoomRequest::Settings(settings)).await.is_ok()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<MeetingId, LiveRoom>> {
        // The map stays consistent even if a holder panicked: every update is one insert or remove.
        self.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The live settings a room starts from or is updated to.
fn settings_of(record: &MeetingRecord) -> RoomSettings {
    RoomSettings {
        lobby: record.lobby,
        guests_allowed: record.guests_allowed,
        locked: record.locked,
    }
}

/// The room task: feeds requests and timeouts to the room, carries out its outputs.
// Everything a room task owns, handed over once at its start.
#[allow(clippy::too_many_arguments)]
async fn run_room(
    id: MeetingId,
    mut room: Room,
    mut group: MeetingGroup,
    mut rx: mpsc::Receiver<RoomRequest>,
    store: storage::Store,
    metrics: Metrics,
    media: MediaHandle,
    rooms: Rooms,
) {
    let mut conns: HashMap<ParticipantId, Connection> = HashMap::new();
    let mut accounts: HashMap<ParticipantId, Option<AccountId>> = HashMap::new();
    let mut held: HashMap<ParticipantId, HeldMls> = HashMap::new();
    // What the SFU's E2EE gate was last told: the epoch, and the seats then (a new seat
    // may have created the SFU's room since, which then needs telling).
    let mut gate_told: Option<(u64, usize)> = None;
    let (mut seated, mut waiting) = (0_i64, 0_i64);
    loop {
        let deadline = room.poll_timeout();
        tokio::select! {
            request = rx.recv() => match request {
                Some(request) => handle(&mut room, &mut group, &mut conns, &mut accounts, &mut held, &media, request),
                None => break,
            },
            () = sleep_until(deadline), if deadline.is_some() => room.handle_timeout(Instant::now()),
        }
        let ended = carry_out(
            &mut room,
            &mut group,
            &mut conns,
            &mut accounts,
            &id,
            &store,
            &metrics,
            &media,
        )
        .await;
        // Seats that ended take their held messages with them.
        held.retain(|who, _| accounts.contains_key(who));
        deliver_mls(&mut group, &conns, &mut held);
        let now_told = group.epoch().map(|epoch| (epoch, room.seated()));
        if now_told != gate_told {
            if let Some(view) = group.media_view() {
                media.set_group(id.clone(), view);
            }
            gate_told = now_told;
        }
        let (now_seated, now_waiting) = (room.seated() as i64, room.waiting() as i64);
        metrics.participants.inc_by(now_seated - seated);
        metrics.lobby_waiting.inc_by(now_waiting - waiting);
        (seated, waiting) = (now_seated, now_waiting);
        if ended || room.is_idle() {
            break;
        }
    }
    // Refuse new requests, then drop the queued ones: their reply channels
    // close and the senders retry against a fresh room.
    rx.close();
    while rx.try_recv().is_ok() {}
    metrics.participants.dec_by(seated);
    metrics.lobby_waiting.dec_by(waiting);
    metrics.meetings.dec();
    let mut rooms = rooms.lock().unwrap_or_else(|p| p.into_inner());
    // Only remove the entry if it is still this (now closed) room's.
    if rooms.get(&id).is_some_and(|r| r.tx.is_closed()) {
        rooms.remove(&id);
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(deadline) = deadline {
        tokio::time::sleep_until(deadline.into()).await;
    }
}

fn handle(
    room: &mut Room,
    group: &mut MeetingGroup,
    conns: &mut HashMap<ParticipantId, Connection>,
    accounts: &mut HashMap<ParticipantId, Option<AccountId>>,
    held: &mut HashMap<ParticipantId, HeldMls>,
    media: &MediaHandle,
    request: RoomRequest,
) {
    let now = Instant::now();
    match request {
        RoomRequest::Arrive {
            arrival,
            conn,
            reply,
        } => {
            let id = arrival.participant_id.clone();
            accounts.insert(id.clone(), arrival.person.account.clone());
            // Register the mailbox first: the room's first output is for it.
            conns.insert(id.clone(), conn);
            let placed = room.arrive(now, arrival);
            if placed.is_err() {
                conns.remove(&id);
            }
            let _ = reply.send(placed);
        }
        RoomRequest::Resume {
            token,
            account,
            fresh_token,
            conn,
            reply,
        } => match room.resume(now, &token, account.as_ref(), fresh_token) {
            Ok(id) if held.get(&id).is_some_and(|h| h.overflowed) => {
                // It missed more of the group than was kept: its MLS state cannot catch up,
                // so its seat goes (and the group removes it) and it joins again.
                held.remove(&id);
                room.give_up_seat(now, &id);
                let _ = reply.send(Err(RoomError::ResumeFailed));
            }
            Ok(id) => {
                media.reconnected(
                    id.clone(),
                    std::sync::Arc::new(ConnectionSink(conn.tx.clone())),
                );
                if let Some(old) = conns.insert(id.clone(), conn) {
                    let _ = old
                        .tx
                        .try_send(Outbound::Close(4000, "resumed on another connection"));
                }
                let _ = reply.send(Ok(id));
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        },
        RoomRequest::Command {
            from,
            conn_id,
            command,
        } => {
            let Some(conn) = conns.get(&from).filter(|c| c.id == conn_id).cloned() else {
                return;
            };
            if let Err(e) = room.command(now, &from, command) {
                send_error(&conn, &e);
            }
        }
        RoomRequest::Disconnected { who, conn_id } => {
            if conns.get(&who).is_some_and(|c| c.id == conn_id) {
                conns.remove(&who);
                room.disconnected(now, &who);
            }
        }
        RoomRequest::Settings(settings) => room.update_settings(settings),
        RoomRequest::EndByOrder(order) => {
            if let Err(e) = room.end_by_order(order) {
                tracing::info!(error = %e, "an oversight order found the meeting already ended");
            }
        }
        RoomRequest::Mls {
            from,
            conn_id,
            input,
        } => {
            if conns.get(&from).is_some_and(|c| c.id == conn_id) {
                group.input(&from, input, unix_millis());
            }
        }
    }
}

fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Sends what the meeting's group asks for: first what was held for participants that have
/// resumed (after the room's own answer to the resume), then the new messages, holding those
/// for seated participants whose connection is gone.
fn deliver_mls(
    group: &mut MeetingGroup,
    conns: &HashMap<ParticipantId, Connection>,
    held: &mut HashMap<ParticipantId, HeldMls>,
) {
    held.retain(|who, kept| {
        let Some(conn) = conns.get(who) else {
            return true;
        };
        for text in kept.messages.drain(..) {
            let _ = conn.tx.try_send(Outbound::Text(text));
        }
        false
    });
    while let Some(MlsOutput::Send { to, msg }) = group.poll_output() {
        let Ok(text) = serde_json::to_string(&msg) else {
            continue;
        };
        let text: Utf8Bytes = text.into();
        for who in to {
            match conns.get(&who) {
                // A full queue means a client too slow to read; the room cuts it off on
                // its next room message, and its Remove follows.
                Some(conn) => {
                    let _ = conn.tx.try_send(Outbound::Text(text.clone()));
                }
                // Messages only go to the group's members, who are seated.
                None => held.entry(who).or_default().push(text.clone()),
            }
        }
    }
}

fn send_error(conn: &Connection, e: &RoomError) {
    let msg = ServerMessage::Error {
        code: e.code(),
        message: e.to_string(),
    };
    if let Ok(text) = serde_json::to_string(&msg) {
        let _ = conn.tx.try_send(Outbound::Text(text.into()));
    }
}

/// Carries out the room's outputs. Returns true once the meeting has ended.
#[allow(clippy::too_many_arguments)]
async fn carry_out(
    room: &mut Room,
    group: &mut MeetingGroup,
    conns: &mut HashMap<ParticipantId, Connection>,
    accounts: &mut HashMap<ParticipantId, Option<AccountId>>,
    id: &MeetingId,
    store: &storage::Store,
    metrics: &Metrics,
    media: &MediaHandle,
) -> bool {
    let mut ended = false;
    let mut overflowed = Vec::new();
    while let Some(output) = room.poll_output() {
        match output {
            Output::Send { to, msg } => {
                let text: Utf8Bytes = match serde_json::to_string(&msg) {
                    Ok(text) => text.into(),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot serialize a server message");
                        continue;
                    }
                };
                for who in to {
                    if let Some(conn) = conns.get(&who) {
                        if conn.tx.try_send(Outbound::Text(text.clone())).is_err() {
                            overflowed.push(who);
                        }
                    }
                }
            }
            Output::Close(who) => {
                if let Some(conn) = conns.remove(&who) {
                    let _ = conn.tx.try_send(Outbound::Close(1000, "done"));
                }
            }
            Output::LockChanged(locked) => {
                let change = storage::MeetingChange {
                    locked: Some(locked),
                    ..Default::default()
                };
                if let Err(e) = store.update_meeting(id, &change).await {
                    tracing::error!(error = %e, "cannot persist the lock state");
                }
            }
            Output::LobbyWaited(waited) => metrics.lobby_wait_seconds.observe(waited.as_secs_f64()),
            Output::Seated(who) => {
                if let Some(conn) = conns.get(&who) {
                    let sink = std::sync::Arc::new(ConnectionSink(conn.tx.clone()));
                    media.admit(Admission::granted(id.clone(), who.clone()), sink);
                }
                group.seated(who.clone(), accounts.get(&who).cloned().flatten());
            }
            Output::Unseated(who) => {
                accounts.remove(&who);
                group.unseated(&who);
                media.remove(who);
            }
            Output::HostMute {
                participant,
                sources,
                muted,
            } => media.host_mute(participant, sources, muted),
            Output::Ended => {
                ended = true;
                if let Err(e) = store.end_meeting(id, crate::unix_now()).await {
                    tracing::error!(error = %e, "cannot persist the end of a meeting");
                }
            }
        }
    }
    // A client that does not read its messages loses its connection rather
    // than holding up the room; its seat is held for a resume as usual.
    for who in overflowed {
        if let Some(conn) = conns.remove(&who) {
            let _ = conn
                .tx
                .try_send(Outbound::Close(1008, "too slow to receive"));
            room.disconnected(Instant::now(), &who);
        }
    }
    ended
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_messages_are_kept_in_order_until_a_bound_then_all_given_up() {
        let mut held = HeldMls::default();
        held.push("one".into());
        held.push("two".into());
        assert_eq!(held.messages, ["one", "two"]);
        assert!(!held.overflowed);
        for _ in 2..MAX_HELD_MESSAGES {
            held.push("x".into());
        }
        assert!(!held.overflowed);
        held.push("one too many".into());
        assert!(held.overflowed);
        assert!(held.messages.is_empty(), "nothing partial is replayed");
        held.push("later".into());
        assert!(held.messages.is_empty());

        let mut big = HeldMls::default();
        big.push("a".repeat(MAX_HELD_BYTES).into());
        assert!(!big.overflowed);
        big.push("b".into());
        assert!(big.overflowed);
    }
}
