//! The sans-IO core of one live meeting: lobby, seats, roles, bans, resume
//! and host promotion.
//!
//! A [`Room`] never touches a socket or a clock. The shell (`meetings.rs`)
//! feeds it arrivals, client commands, dropped connections and timeouts with
//! `now` passed in, and drains [`Output`]s with [`Room::poll_output`]; fresh
//! participant ids and resume tokens are passed in too, so tests are
//! deterministic. Ordering rules: a waiter only becomes a seat through
//! [`Admitted`], which only this module can mint.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use proto::ids::{AccountId, MeetingId, ParticipantId};
use proto::signaling::{
    EndOrder, EndReason, ErrorCode, LeaveReason, LobbyEntry, MediaSource, Participant, Role,
    ServerMessage,
};

/// How long a dropped connection's seat is held for a resume.
pub const RESUME_WINDOW: Duration = Duration::from_secs(30);

/// How long a removal keeps an account out (it then needs admitting, as
/// anyone would when the lobby is on).
pub const REMOVAL_MEMORY: Duration = Duration::from_secs(12 * 3600);

/// Who someone is, as far as the meeting knows.
#[derive(Clone)]
pub struct Person {
    /// Signed-in account; `None` for a guest.
    pub account: Option<AccountId>,
    /// Name shown to others.
    pub display_name: String,
}

/// A request to join, already authenticated by the shell (token or guest
/// name checked, passcode verified, meeting not ended in storage).
pub struct Arrival {
    /// Fresh random id for this presence.
    pub participant_id: ParticipantId,
    /// Fresh random resume token, used if the person is seated.
    pub resume_token: String,
    /// Who.
    pub person: Person,
}

/// Where an arrival ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// In the lobby, waiting for a host.
    Waiting,
    /// Seated with this role.
    Seated(Role),
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send `msg` to each of `to` (connected ones; the shell skips others).
    Send {
        /// Recipients.
        to: Vec<ParticipantId>,
        /// The message.
        msg: ServerMessage,
    },
    /// Close this participant's connection (after the messages queued before).
    Close(ParticipantId),
    /// The lock state changed; persist it.
    LockChanged(bool),
    /// Someone waited this long in the lobby before being admitted (for metrics).
    LobbyWaited(Duration),
    /// The meeting has ended; persist it and shut the room down.
    Ended,
    /// Someone got a seat: give them a media session (emitted before their `joined`).
    Seated(ParticipantId),
    /// Someone lost their seat (left, removed, timed out, meeting ended): end their media now.
    Unseated(ParticipantId),
    /// A host muted or lifted the mute of some of a participant's sources at the SFU.
    HostMute {
        /// Whose.
        participant: ParticipantId,
        /// Which sources.
        sources: Vec<MediaSource>,
        /// Muted (true) or allowed again (false).
        muted: bool,
    },
}

/// Why the room refused something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RoomError {
    /// Only hosts and co-hosts may do that.
    #[error("only hosts and co-hosts may {0}")]
    NotModerator(&'static str),
    /// No such participant in the place the command needs them.
    #[error("no participant {0} is {1}")]
    NoSuchParticipant(ParticipantId, &'static str),
    /// The sender is not seated (e.g. still in the lobby).
    #[error("you must be seated in the meeting to {0}")]
    NotSeated(&'static str),
    /// A co-host tried to act against a host, or someone against themselves.
    #[error("you cannot {0}")]
    NotAllowed(&'static str),
    /// The meeting is locked.
    #[error("the meeting is locked; a host must unlock it")]
    Locked,
    /// The meeting has ended.
    #[error("the meeting has ended")]
    Ended,
    /// Guests are not allowed.
    #[error("this meeting does not allow guests; sign in to join")]
    GuestsNotAllowed,
    /// Unknown or expired resume token, or it belongs to someone else.
    #[error("cannot resume: the seat is gone or the token is not yours")]
    ResumeFailed,
}

impl RoomError {
    /// The wire error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            RoomError::NotModerator(_) | RoomError::NotAllowed(_) => ErrorCode::Forbidden,
            RoomError::NoSuchParticipant(..) => ErrorCode::NotFound,
            RoomError::NotSeated(_) => ErrorCode::InvalidState,
            RoomError::Locked => ErrorCode::MeetingLocked,
            RoomError::Ended => ErrorCode::MeetingEnded,
            RoomError::GuestsNotAllowed => ErrorCode::GuestsNotAllowed,
            RoomError::ResumeFailed => ErrorCode::ResumeFailed,
        }
    }
}

/// Commands a participant can send once it has arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Let a waiter in.
    Admit(ParticipantId),
    /// Turn a waiter away with a reason.
    Deny(ParticipantId, String),
    /// Remove a seated participant.
    Remove(ParticipantId, Option<String>),
    /// Lock or unlock.
    SetLocked(bool),
    /// Give co-host powers.
    MakeCohost(ParticipantId),
    /// Ask someone to unmute.
    RequestUnmute(ParticipantId),
    /// End for everyone.
    End,
    /// Raise or lower one's hand.
    SetHand(bool),
    /// Stop (true) or allow again (false) forwarding of a participant's sources.
    HostMute(ParticipantId, Vec<MediaSource>, bool),
    /// Leave (or stop waiting).
    Leave,
}

/// Settings that a host can change while the meeting runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomSettings {
    /// Arrivals wait in the lobby.
    pub lobby: bool,
    /// Guests may ask to join.
    pub guests_allowed: bool,
    /// Nobody new may ask to join.
    pub locked: bool,
}

/// Proof that someone passed admission (owner, co-host, lobby off, or a
/// host's admit). Only this module can make one, and a seat needs one.
struct Admitted(());

struct Waiter {
    id: ParticipantId,
    person: Person,
    resume_token: String,
    arrived: Instant,
    previously_removed: bool,
}

struct Seat {
    id: ParticipantId,
    person: Person,
    role: Role,
    hand_raised: bool,
    /// Arrival order, for "longest present" promotion.
    order: u64,
    resume_token: String,
    /// `Some(deadline)` while the connection is dropped.
    dropped_until: Option<Instant>,
    /// Sources a host muted at the SFU.
    host_muted: BTreeSet<MediaSource>,
}

impl Seat {
    fn new(_proof: Admitted, waiter: Waiter, role: Role, order: u64) -> Seat {
        Seat {
            id: waiter.id,
            person: waiter.person,
            role,
            hand_raised: false,
            order,
            resume_token: waiter.resume_token,
            dropped_until: None,
            host_muted: BTreeSet::new(),
        }
    }

    fn view(&self) -> Participant {
        Participant {
            id: self.id.clone(),
            account_id: self.person.account.clone(),
            display_name: self.person.display_name.clone(),
            guest: self.person.account.is_none(),
            role: self.role,
            hand_raised: self.hand_raised,
            connected: self.dropped_until.is_none(),
            host_muted: self.host_muted.iter().copied().collect(),
        }
    }
}

/// One live meeting.
pub struct Room {
    id: MeetingId,
    owner: AccountId,
    settings: RoomSettings,
    /// After a guest is removed, guests always pass the lobby: a guest has no
    /// identity to ban, and we keep no addresses to tell them apart.
    guests_must_wait: bool,
    seats: HashMap<ParticipantId, Seat>,
    lobby: Vec<Waiter>,
    removed: HashMap<AccountId, Instant>,
    cohost_accounts: HashSet<AccountId>,
    next_order: u64,
    ended: bool,
    outputs: VecDeque<Output>,
}

impl Room {
    /// A room for a meeting owned by `owner`.
    pub fn new(id: MeetingId, owner: AccountId, settings: RoomSettings) -> Room {
        Room {
            id,
            owner,
            settings,
            guests_must_wait: false,
            seats: HashMap::new(),
            lobby: Vec::new(),
            removed: HashMap::new(),
            cohost_accounts: HashSet::new(),
            next_order: 0,
            ended: false,
            outputs: VecDeque::new(),
        }
    }

    /// Seated participants (connected or held for a resume).
    pub fn seated(&self) -> usize {
        self.seats.len()
    }

    /// People waiting in the lobby.
    pub fn waiting(&self) -> usize {
        self.lobby.len()
    }

    /// True when nothing remains that the room must remember: the shell may drop it.
    pub fn is_idle(&self) -> bool {
        self.ended || (self.seats.is_empty() && self.lobby.is_empty() && self.removed.is_empty())
    }

    /// Applies settings changed through the REST API.
    pub fn update_settings(&mut self, settings: RoomSettings) {
        if settings.locked != self.settings.locked {
            self.push_all(ServerMessage::LockChanged {
                locked: settings.locked,
            });
        }
        self.settings = settings;
    }

    /// Someone asks to join.
    pub fn arrive(&mut self, now: Instant, arrival: Arrival) -> Result<Placement, RoomError> {
        if self.ended {
            return Err(RoomError::Ended);
        }
        let account = arrival.person.account.clone();
        let is_owner = account.as_ref() == Some(&self.owner);
        let is_cohost = account
            .as_ref()
            .is_some_and(|a| self.cohost_accounts.contains(a));
        if account.is_none() && !self.settings.guests_allowed {
            return Err(RoomError::GuestsNotAllowed);
        }
        if self.settings.locked && !is_owner && !is_cohost {
            return Err(RoomError::Locked);
        }
        let previously_removed = account
            .as_ref()
            .is_some_and(|a| self.removed.contains_key(a));
        let waiter = Waiter {
            id: arrival.participant_id,
            person: arrival.person,
            resume_token: arrival.resume_token,
            arrived: now,
            previously_removed,
        };
        let must_wait = previously_removed
            || (!is_owner && !is_cohost && self.settings.lobby)
            || (account.is_none() && self.guests_must_wait);
        if must_wait {
            let participant_id = waiter.id.clone();
            self.lobby.push(waiter);
            let meeting_id = self.id.clone();
            self.push(
                vec![participant_id.clone()],
                ServerMessage::Waiting {
                    meeting_id,
                    participant_id,
                },
            );
            self.push_lobby();
            return Ok(Placement::Waiting);
        }
        let role = if is_owner {
            Role::Host
        } else if is_cohost {
            Role::Cohost
        } else {
            Role::Participant
        };
        self.seat(Admitted(()), waiter, role);
        self.ensure_host();
        Ok(Placement::Seated(role))
    }

    /// A dropped participant takes its seat back with its resume token.
    /// `fresh_token` replaces the old one. Returns the seat's id.
    pub fn resume(
        &mut self,
        now: Instant,
        token: &str,
        account: Option<&AccountId>,
        fresh_token: String,
    ) -> Result<ParticipantId, RoomError> {
        if self.ended {
            return Err(RoomError::Ended);
        }
        let seat = self
            .seats
            .values_mut()
            .find(|s| s.resume_token == token)
            .ok_or(RoomError::ResumeFailed)?;
        if seat.person.account.as_ref() != account
            || seat.dropped_until.is_some_and(|deadline| deadline <= now)
        {
            return Err(RoomError::ResumeFailed);
        }
        seat.resume_token = fresh_token;
        seat.dropped_until = None;
        let id = seat.id.clone();
        let role = seat.role;
        let participant = seat.view();
        self.push_joined(&id);
        self.push_others(&id, ServerMessage::ParticipantUpdated { participant });
        if role.moderates() {
            self.push_lobby_to(vec![id.clone()]);
        }
        Ok(id)
    }

    /// The connection of `who` dropped without a `leave`.
    pub fn disconnected(&mut self, now: Instant, who: &ParticipantId) {
        if let Some(seat) = self.seats.get_mut(who) {
            if seat.dropped_until.is_none() {
                seat.dropped_until = Some(now + RESUME_WINDOW);
                let participant = seat.view();
                self.push_others(who, ServerMessage::ParticipantUpdated { participant });
            }
        } else if self.take_waiter(who).is_some() {
            self.push_lobby();
        }
    }

    /// Ends the held seat of `who` at once, as if its resume window had run out: the shell
    /// could not keep what it missed.
    pub fn give_up_seat(&mut self, now: Instant, who: &ParticipantId) {
        if let Some(seat) = self.seats.get_mut(who) {
            seat.dropped_until = Some(now);
            self.handle_timeout(now);
        }
    }

    /// A command from `from`.
    pub fn command(
        &mut self,
        now: Instant,
        from: &ParticipantId,
        command: Command,
    ) -> Result<(), RoomError> {
        if self.ended {
            return Err(RoomError::Ended);
        }
        match command {
            Command::Leave => {
                self.leave(from);
                Ok(())
            }
            Command::SetHand(raised) => {
                let seat = self
                    .seats
                    .get_mut(from)
                    .ok_or(RoomError::NotSeated("raise or lower a hand"))?;
                if seat.hand_raised != raised {
                    seat.hand_raised = raised;
                    let participant = seat.view();
                    self.push_all(ServerMessage::ParticipantUpdated { participant });
                }
                Ok(())
            }
            Command::HostMute(who, sources, muted) => {
                let action = if muted { "mute others" } else { "lift a mute" };
                let role = self.moderator(from, action)?;
                let target = self
                    .seats
                    .get_mut(&who)
                    .ok_or(RoomError::NoSuchParticipant(who.clone(), "seated"))?;
                if role == Role::Cohost && target.role == Role::Host && &who != from {
                    return Err(RoomError::NotAllowed("mute a host as a co-host"));
                }
                let before = target.host_muted.clone();
                for source in &sources {
                    if muted {
                        target.host_muted.insert(*source);
                    } else {
                        target.host_muted.remove(source);
                    }
                }
                if target.host_muted != before {
                    let participant = target.view();
                    self.outputs.push_back(Output::HostMute {
                        participant: who,
                        sources,
                        muted,
                    });
                    self.push_all(ServerMessage::ParticipantUpdated { participant });
                }
                Ok(())
            }
            Command::Admit(who) => {
                self.moderator(from, "admit")?;
                let waiter = self
                    .take_waiter(&who)
                    .ok_or(RoomError::NoSuchParticipant(who, "waiting in the lobby"))?;
                if let Some(account) = &waiter.person.account {
                    self.removed.remove(account);
                }
                self.outputs.push_back(Output::LobbyWaited(
                    now.saturating_duration_since(waiter.arrived),
                ));
                self.seat(Admitted(()), waiter, Role::Participant);
                self.push_lobby();
                Ok(())
            }
            Command::Deny(who, reason) => {
                self.moderator(from, "deny")?;
                self.take_waiter(&who).ok_or(RoomError::NoSuchParticipant(
                    who.clone(),
                    "waiting in the lobby",
                ))?;
                self.push(vec![who.clone()], ServerMessage::Denied { reason });
                self.outputs.push_back(Output::Close(who));
                self.push_lobby();
                Ok(())
            }
            Command::Remove(who, reason) => {
                let role = self.moderator(from, "remove participants")?;
                if &who == from {
                    return Err(RoomError::NotAllowed("remove yourself; use leave"));
                }
                let target = self
                    .seats
                    .get(&who)
                    .ok_or(RoomError::NoSuchParticipant(who.clone(), "seated"))?;
                if role == Role::Cohost && target.role == Role::Host {
                    return Err(RoomError::NotAllowed("remove a host as a co-host"));
                }
                if let Some(seat) = self.seats.remove(&who) {
                    match &seat.person.account {
                        Some(account) => {
                            self.removed.insert(account.clone(), now + REMOVAL_MEMORY);
                            self.cohost_accounts.remove(account);
                        }
                        None => self.guests_must_wait = true,
                    }
                }
                self.outputs.push_back(Output::Unseated(who.clone()));
                self.push(vec![who.clone()], ServerMessage::Removed { reason });
                self.outputs.push_back(Output::Close(who.clone()));
                self.push_all(ServerMessage::ParticipantLeft {
                    participant_id: who,
                    reason: LeaveReason::Removed,
                });
                self.ensure_host();
                Ok(())
            }
            Command::SetLocked(locked) => {
                self.moderator(from, if locked { "lock" } else { "unlock" })?;
                if self.settings.locked != locked {
                    self.settings.locked = locked;
                    self.outputs.push_back(Output::LockChanged(locked));
                    self.push_all(ServerMessage::LockChanged { locked });
                }
                Ok(())
            }
            Command::MakeCohost(who) => {
                self.moderator(from, "make co-hosts")?;
                let seat = self
                    .seats
                    .get_mut(&who)
                    .ok_or(RoomError::NoSuchParticipant(who.clone(), "seated"))?;
                if seat.role == Role::Participant {
                    seat.role = Role::Cohost;
                    if let Some(account) = &seat.person.account {
                        self.cohost_accounts.insert(account.clone());
                    }
                    let participant = seat.view();
                    self.push_all(ServerMessage::ParticipantUpdated { participant });
                    self.push_lobby_to(vec![who]);
                }
                Ok(())
            }
            Command::RequestUnmute(who) => {
                self.moderator(from, "ask others to unmute")?;
                if !self.seats.contains_key(&who) {
                    return Err(RoomError::NoSuchParticipant(who, "seated"));
                }
                self.push(
                    vec![who],
                    ServerMessage::UnmuteRequested { by: from.clone() },
                );
                Ok(())
            }
            Command::End => {
                self.moderator(from, "end the meeting")?;
                self.end();
                Ok(())
            }
        }
    }

    /// When the room next needs [`Room::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        let resumes = self.seats.values().filter_map(|s| s.dropped_until);
        resumes.chain(self.removed.values().copied()).min()
    }

    /// Expires held seats and old removals.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.removed.retain(|_, until| *until > now);
        let expired: Vec<ParticipantId> = self
            .seats
            .values()
            .filter(|s| s.dropped_until.is_some_and(|d| d <= now))
            .map(|s| s.id.clone())
            .collect();
        for id in expired {
            self.seats.remove(&id);
            self.outputs.push_back(Output::Unseated(id.clone()));
            self.push_all(ServerMessage::ParticipantLeft {
                participant_id: id,
                reason: LeaveReason::TimedOut,
            });
        }
        self.ensure_host();
    }

    /// Next thing for the shell to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    fn moderator(&self, who: &ParticipantId, action: &'static str) -> Result<Role, RoomError> {
        match self.seats.get(who) {
            Some(seat) if seat.role.moderates() => Ok(seat.role),
            Some(_) => Err(RoomError::NotModerator(action)),
            None => Err(RoomError::NotSeated(action)),
        }
    }

    fn seat(&mut self, proof: Admitted, waiter: Waiter, role: Role) {
        let order = self.next_order;
        self.next_order += 1;
        let seat = Seat::new(proof, waiter, role, order);
        let id = seat.id.clone();
        let participant = seat.view();
        self.seats.insert(id.clone(), seat);
        self.outputs.push_back(Output::Seated(id.clone()));
        self.push_joined(&id);
        self.push_others(&id, ServerMessage::ParticipantJoined { participant });
        if role.moderates() {
            self.push_lobby_to(vec![id]);
        }
    }

    fn leave(&mut self, who: &ParticipantId) {
        if self.seats.remove(who).is_some() {
            self.outputs.push_back(Output::Unseated(who.clone()));
            self.push_all(ServerMessage::ParticipantLeft {
                participant_id: who.clone(),
                reason: LeaveReason::Left,
            });
            self.ensure_host();
        } else if self.take_waiter(who).is_some() {
            self.push_lobby();
        }
        self.outputs.push_back(Output::Close(who.clone()));
    }

    /// Ends the meeting under an oversight order: like a host's end, but
    /// everyone is told the order so that their clients can verify it.
    pub fn end_by_order(&mut self, order: EndOrder) -> Result<(), RoomError> {
        if self.ended {
            return Err(RoomError::Ended);
        }
        self.end_with(EndReason::Order, Some(order));
        Ok(())
    }

    fn end(&mut self) {
        self.end_with(EndReason::EndedByHost, None);
    }

    fn end_with(&mut self, reason: EndReason, order: Option<EndOrder>) {
        self.ended = true;
        // Persist first: once anyone hears "ended", a rejoin must be refused.
        self.outputs.push_back(Output::Ended);
        let everyone: Vec<ParticipantId> = self
            .seats
            .keys()
            .cloned()
            .chain(self.lobby.iter().map(|w| w.id.clone()))
            .collect();
        self.push(
            everyone.clone(),
            ServerMessage::MeetingEnded { reason, order },
        );
        self.outputs.extend(everyone.into_iter().map(Output::Close));
        let seated: Vec<ParticipantId> = self.seats.keys().cloned().collect();
        self.outputs
            .extend(seated.into_iter().map(Output::Unseated));
        self.seats.clear();
        self.lobby.clear();
    }

    /// If no host is left, promote the longest-present co-host, or else the
    /// longest-present signed-in participant, so the lobby never strands anyone.
    fn ensure_host(&mut self) {
        if self.seats.is_empty() || self.seats.values().any(|s| s.role == Role::Host) {
            return;
        }
        let pick = |role: Role| {
            self.seats
                .values()
                .filter(|s| {
                    s.role == role && s.person.account.is_some() && s.dropped_until.is_none()
                })
                .min_by_key(|s| s.order)
                .map(|s| s.id.clone())
        };
        let Some(id) = pick(Role::Cohost).or_else(|| pick(Role::Participant)) else {
            return;
        };
        if let Some(seat) = self.seats.get_mut(&id) {
            seat.role = Role::Host;
            let participant = seat.view();
            self.push_all(ServerMessage::ParticipantUpdated { participant });
            self.push_lobby_to(vec![id]);
        }
    }

    fn take_waiter(&mut self, who: &ParticipantId) -> Option<Waiter> {
        let at = self.lobby.iter().position(|w| &w.id == who)?;
        Some(self.lobby.remove(at))
    }

    fn push_joined(&mut self, id: &ParticipantId) {
        let Some(seat) = self.seats.get(id) else {
            return;
        };
        let (role, resume_token) = (seat.role, seat.resume_token.clone());
        let mut roster: Vec<&Seat> = self.seats.values().collect();
        roster.sort_by_key(|s| s.order);
        let msg = ServerMessage::Joined {
            meeting_id: self.id.clone(),
            participant_id: id.clone(),
            role,
            resume_token,
            roster: roster.into_iter().map(Seat::view).collect(),
            locked: self.settings.locked,
        };
        self.push(vec![id.clone()], msg);
    }

    fn push_lobby(&mut self) {
        let moderators = self
            .seats
            .values()
            .filter(|s| s.role.moderates())
            .map(|s| s.id.clone())
            .collect();
        self.push_lobby_to(moderators);
    }

    fn push_lobby_to(&mut self, to: Vec<ParticipantId>) {
        let waiting = self
            .lobby
            .iter()
            .map(|w| LobbyEntry {
                id: w.id.clone(),
                account_id: w.person.account.clone(),
                display_name: w.person.display_name.clone(),
                guest: w.person.account.is_none(),
                previously_removed: w.previously_removed,
            })
            .collect();
        self.push(to, ServerMessage::LobbyUpdated { waiting });
    }

    fn push_all(&mut self, msg: ServerMessage) {
        let to = self.seats.keys().cloned().collect();
        self.push(to, msg);
    }

    fn push_others(&mut self, except: &ParticipantId, msg: ServerMessage) {
        let to = self
            .seats
            .keys()
            .filter(|k| *k != except)
            .cloned()
            .collect();
        self.push(to, msg);
    }

    fn push(&mut self, to: Vec<ParticipantId>, msg: ServerMessage) {
        if !to.is_empty() {
            self.outputs.push_back(Output::Send { to, msg });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::ids::OpaqueId;

    fn pid(n: u8) -> ParticipantId {
        ParticipantId::from_random(&[n; 9])
    }

    fn account(n: u8) -> AccountId {
        AccountId::from_random(&[n; 16])
    }

    fn arrival(n: u8, account: Option<AccountId>) -> Arrival {
        Arrival {
            participant_id: pid(n),
            resume_token: format!("token-{n}"),
            person: Person {
                account,
                display_name: format!("person {n}"),
            },
        }
    }

    fn room(lobby: bool) -> Room {
        let settings = RoomSettings {
            lobby,
            guests_allowed: true,
            locked: false,
        };
        Room::new(MeetingId::from_random(&[9; 16]), account(1), settings)
    }

    fn drain(room: &mut Room) -> Vec<Output> {
        std::iter::from_fn(|| room.poll_output()).collect()
    }

    fn roles(room: &Room) -> Vec<(ParticipantId, Role)> {
        let mut seats: Vec<_> = room
            .seats
            .values()
            .map(|s| (s.id.clone(), s.role))
            .collect();
        seats.sort_by_key(|(_, r)| *r as u8);
        seats
    }

    #[test]
    fn owner_is_seated_as_host_and_others_wait_until_admitted() {
        let now = Instant::now();
        let mut room = room(true);
        assert_eq!(
            room.arrive(now, arrival(1, Some(account(1)))),
            Ok(Placement::Seated(Role::Host))
        );
        assert_eq!(room.arrive(now, arrival(2, None)), Ok(Placement::Waiting));
        drain(&mut room);
        assert_eq!(
            room.command(now, &pid(2), Command::SetHand(true)),
            Err(RoomError::NotSeated("raise or lower a hand"))
        );
        room.command(
            now + Duration::from_secs(3),
            &pid(1),
            Command::Admit(pid(2)),
        )
        .unwrap();
        let outputs = drain(&mut room);
        assert!(outputs.contains(&Output::LobbyWaited(Duration::from_secs(3))));
        assert!(outputs.iter().any(|o| matches!(o, Output::Send { to, msg: ServerMessage::Joined { .. } } if to == &vec![pid(2)])));
        assert_eq!(room.seated(), 2);
        assert_eq!(room.waiting(), 0);
    }

    #[test]
    fn a_held_seat_given_up_is_gone_at_once() {
        let t0 = Instant::now();
        let mut room = room(false);
        room.arrive(t0, arrival(1, Some(account(1)))).unwrap();
        room.arrive(t0, arrival(2, None)).unwrap();
        room.disconnected(t0, &pid(2));
        drain(&mut room);
        room.give_up_seat(t0, &pid(2));
        let outputs = drain(&mut room);
        assert!(outputs
            .iter()
            .any(|o| matches!(o, Output::Unseated(who) if *who == pid(2))));
        assert_eq!(room.seated(), 1);
        assert_eq!(
            room.resume(t0, "token-2", None, "x".into()),
            Err(RoomError::ResumeFailed)
        );
        // Someone else's seat, or one never held, is left alone.
        room.give_up_seat(t0, &pid(9));
        assert_eq!(room.seated(), 1);
    }

    #[test]
    fn a_held_seat_expires_after_the_resume_window() {
        let t0 = Instant::now();
        let mut room = room(false);
        room.arrive(t0, arrival(1, Some(account(1)))).unwrap();
        room.arrive(t0, arrival(2, None)).unwrap();
        room.disconnected(t0, &pid(2));
        assert_eq!(room.poll_timeout(), Some(t0 + RESUME_WINDOW));
        let fresh = "fresh".to_owned();
        assert_eq!(
            room.resume(t0 + Duration::from_secs(29), "token-2", None, fresh.clone()),
            Ok(pid(2))
        );
        room.disconnected(t0 + Duration::from_secs(29), &pid(2));
        drain(&mut room);
        room.handle_timeout(t0 + Duration::from_secs(29) + RESUME_WINDOW);
        assert!(drain(&mut room).iter().any(|o| matches!(
            o,
            Output::Send {
                msg: ServerMessage::ParticipantLeft {
                    reason: LeaveReason::TimedOut,
                    ..
                },
                ..
            }
        )));
        assert_eq!(
            room.resume(t0 + Duration::from_secs(60), &fresh, None, "x".into()),
            Err(RoomError::ResumeFailed)
        );
    }

    #[test]
    fn a_resume_token_only_works_for_its_own_account() {
        let t0 = Instant::now();
        let mut room = room(false);
        room.arrive(t0, arrival(1, Some(account(1)))).unwrap();
        room.disconnected(t0, &pid(1));
        assert_eq!(
            room.resume(t0, "token-1", Some(&account(2)), "x".into()),
            Err(RoomError::ResumeFailed)
        );
        assert_eq!(
            room.resume(t0, "token-1", None, "x".into()),
            Err(RoomError::ResumeFailed)
        );
        assert_eq!(
            room.resume(t0, "token-1", Some(&account(1)), "x".into()),
            Ok(pid(1))
        );
    }

    #[test]
    fn promotion_waits_for_a_dropped_host_and_skips_guests() {
        let t0 = Instant::now();
        let mut room = room(false);
        room.arrive(t0, arrival(1, Some(account(1)))).unwrap();
        room.arrive(t0, arrival(2, None)).unwrap();
        room.arrive(t0, arrival(3, Some(account(3)))).unwrap();
        room.disconnected(t0, &pid(1));
        assert!(
            !roles(&room).contains(&(pid(3), Role::Host)),
            "the host may still resume"
        );
        room.handle_timeout(t0 + RESUME_WINDOW);
        assert!(roles(&room).contains(&(pid(3), Role::Host)));
        assert!(
            roles(&room).contains(&(pid(2), Role::Participant)),
            "guests are never promoted"
        );
    }

    #[test]
    fn cohosts_cannot_remove_hosts_and_nobody_removes_themselves() {
        let t0 = Instant::now();
        let mut room = room(false);
        room.arrive(t0, arrival(1, Some(account(1)))).unwrap();
        room.arrive(t0, arrival(2, Some(account(2)))).unwrap();
        room.command(t0, &pid(1), Command::MakeCohost(pid(2)))
            .unwrap();
        assert!(matches!(
            room.command(t0, &pid(2), Command::Remove(pid(1), None)),
            Err(RoomError::NotAllowed(_))
        ));
        assert!(matches!(
            room.command(t0, &pid(1), Command::Remove(pid(1), None)),
            Err(RoomError::NotAllowed(_))
        ));
        // A co-host account keeps its powers when it comes back.
        room.command(t0, &pid(2), Command::Leave).unwrap();
        assert_eq!(
            room.arrive(t0, arrival(4, Some(account(2)))),
            Ok(Placement::Seated(Role::Cohost))
        );
    }

    #[test]
    fn removal_is_remembered_for_a_while_then_forgotten() {
        let t0 = Instant::now();
        let mut room = room(false);
        room.arrive(t0, arrival(1, Some(account(1)))).unwrap();
        room.arrive(t0, arrival(2, Some(account(2)))).unwrap();
        room.command(t0, &pid(1), Command::Remove(pid(2), Some("spam".into())))
            .unwrap();
        assert_eq!(
            room.arrive(t0, arrival(3, Some(account(2)))),
            Ok(Placement::Waiting)
        );
        room.command(t0, &pid(3), Command::Leave).unwrap();
        room.handle_timeout(t0 + REMOVAL_MEMORY);
        assert_eq!(
            room.arrive(t0 + REMOVAL_MEMORY, arrival(4, Some(account(2)))),
            Ok(Placement::Seated(Role::Participant))
        );
    }

    #[test]
    fn ending_persists_before_anyone_is_told() {
        let t0 = Instant::now();
        let mut room = room(true);
        room.arrive(t0, arrival(1, Some(account(1)))).unwrap();
        room.arrive(t0, arrival(2, None)).unwrap();
        drain(&mut room);
        room.command(t0, &pid(1), Command::End).unwrap();
        let outputs = drain(&mut room);
        assert_eq!(outputs.first(), Some(&Output::Ended));
        assert!(
            outputs.contains(&Output::Close(pid(2))),
            "the lobby is told too"
        );
        assert!(room.is_idle());
        assert_eq!(
            room.arrive(t0, arrival(3, Some(account(1)))),
            Err(RoomError::Ended)
        );
    }

    #[test]
    fn only_moderators_mute_and_seats_come_and_go_with_media() {
        let t0 = Instant::now();
        let mut room = room(false);
        room.arrive(t0, arrival(1, Some(account(1)))).unwrap();
        room.arrive(t0, arrival(2, None)).unwrap();
        let outputs = drain(&mut room);
        let seated = outputs
            .iter()
            .position(|o| o == &Output::Seated(pid(2)))
            .unwrap();
        let joined = outputs
            .iter()
            .position(|o| matches!(o, Output::Send { to, msg: ServerMessage::Joined { .. } } if to == &vec![pid(2)]))
            .unwrap();
        assert!(
            seated < joined,
            "the media session exists before the client hears joined"
        );
        assert_eq!(
            room.command(
                t0,
                &pid(2),
                Command::HostMute(pid(1), vec![MediaSource::Audio], true)
            ),
            Err(RoomError::NotModerator("mute others"))
        );
        room.command(
            t0,
            &pid(1),
            Command::HostMute(pid(2), vec![MediaSource::Audio], true),
        )
        .unwrap();
        let outputs = drain(&mut room);
        assert!(outputs.contains(&Output::HostMute {
            participant: pid(2),
            sources: vec![MediaSource::Audio],
            muted: true
        }));
        assert!(outputs.iter().any(|o| matches!(o, Output::Send { msg: ServerMessage::ParticipantUpdated { participant }, .. }
            if participant.id == pid(2) && participant.host_muted == vec![MediaSource::Audio])));
        assert_eq!(
            room.command(
                t0,
                &pid(2),
                Command::HostMute(pid(2), vec![MediaSource::Audio], false)
            ),
            Err(RoomError::NotModerator("lift a mute")),
            "a muted participant cannot lift the mute"
        );
        room.command(t0, &pid(1), Command::Remove(pid(2), None))
            .unwrap();
        assert!(drain(&mut room).contains(&Output::Unseated(pid(2))));
    }

    #[test]
    fn locking_refuses_newcomers_but_not_the_owner() {
        let t0 = Instant::now();
        let mut room = room(true);
        room.arrive(t0, arrival(1, Some(account(1)))).unwrap();
        room.command(t0, &pid(1), Command::SetLocked(true)).unwrap();
        assert!(drain(&mut room).contains(&Output::LockChanged(true)));
        assert_eq!(room.arrive(t0, arrival(2, None)), Err(RoomError::Locked));
        assert_eq!(
            room.arrive(t0, arrival(3, Some(account(1)))),
            Ok(Placement::Seated(Role::Host))
        );
    }
}
