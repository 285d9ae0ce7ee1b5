//! A participant's MLS membership, sans-IO: the `mls_*` and `chat` signaling messages go in
//! ([`Membership::handle`]), and [`Output`]s come out: messages to send, key-directory
//! lookups for the shell to do, epoch changes, security alerts and chat messages. Commits
//! follow [`e2ee::member::Member::commit_delay`], with time passed in.
//!
//! Ghost protection (DESIGN.md T4): an `mls_admitted` for an account asks the shell to look
//! the account's key up in the transparency log ([`Output::LookupKey`]); every MLS message
//! after it waits until the shell answers ([`Membership::key_verified`] or
//! [`Membership::key_refused`]), so an Add is always checked against a verified key. Any
//! refused Add, Welcome or commit becomes an [`Alert`] naming whom it is about; nothing is
//! dropped silently.
//!
//! The membership is also the [`FrameCipher`] of the media session: it has keys from the
//! first epoch on, and none before.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use base64::Engine as _;
use e2ee::franking::Commitment;
use e2ee::identity::{
    Admission, Admissions, IdentityKey, IdentityKeyPair, KeyDirectory, MemberIdentity,
};
use e2ee::media::MediaError;
use e2ee::member::{HandshakeOutcome, Member, MemberError, PendingMember, RosterEntry};
use e2ee::safety_code::SafetyCode;
use proto::ids::{AccountId, ParticipantId};
use proto::rest::ChatReportOpening;
use proto::signaling::{ClientMessage, MlsAdmission, ServerMessage};
use rand::rngs::StdRng;

use crate::media::cipher::{CipherError, FrameCipher, Opened};

/// Messages held while key lookups are outstanding; more means the server floods us.
const MAX_HELD: usize = 4096;
/// Chat messages queued until pending proposals are committed.
const MAX_QUEUED_CHATS: usize = 64;
/// Longest chat text, in bytes.
pub const MAX_CHAT_BYTES: usize = 4096;

/// What the membership wants done or shown.
#[derive(Debug)]
pub enum Output {
    /// Send this to the server.
    Send(ClientMessage),
    /// Fetch and verify this account's key-directory entry, then call
    /// [`Membership::key_verified`] or [`Membership::key_refused`].
    LookupKey(AccountId),
    /// A new epoch's keys are installed.
    Epoch(EpochInfo),
    /// Something was refused that the user must see.
    Alert(Alert),
    /// A chat message arrived and its franking commitment checked.
    Chat(ChatMessage),
}

/// An epoch as this member's own MLS state has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochInfo {
    /// The epoch number.
    pub epoch: u64,
    /// The code to compare out of band.
    pub safety_code: String,
    /// Who is in the group, from the MLS state (not the server's roster).
    pub roster: Vec<RosterMember>,
}

/// One member of the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterMember {
    /// The participant id its credential names.
    pub participant_id: String,
    /// Its account, or none for a guest.
    pub account_id: Option<String>,
    /// Its leaf index.
    pub leaf: u32,
}

/// A refusal the user must see (threat T4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// The participant it is about, when known.
    pub participant: Option<String>,
    /// What happened.
    pub what: String,
}

/// A received chat message with what a report of it needs.
#[derive(Debug, Clone)]
pub struct ChatMessage {
    /// The sender's participant id, as MLS authenticated it.
    pub sender: String,
    /// The text.
    pub text: String,
    /// The opening for `POST /api/v1/chat/reports/verify`.
    pub opening: ChatReportOpening,
}

/// Why the membership cannot do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MembershipError {
    /// Not in the group yet, or no longer.
    #[error("not a member of the meeting's group")]
    NotMember,
    /// The chat text is too long.
    #[error("chat text of {len} bytes is over {MAX_CHAT_BYTES}")]
    ChatTooLong {
        /// Its length.
        len: usize,
    },
    /// Too many chat messages wait for a commit.
    #[error("too many chat messages are waiting to be sent")]
    ChatQueueFull,
    /// The MLS layer refused.
    #[error(transparent)]
    Member(#[from] MemberError),
}

enum Stage {
    Pending(Box<PendingMember>),
    Member(Box<Member>),
    /// Creation or joining failed for good; see the alert.
    Failed,
}

/// A participant's MLS membership; see the module docs.
pub struct Membership {
    me: ParticipantId,
    meeting: String,
    stage: Stage,
    directory: KeyDirectory,
    lookups: BTreeSet<AccountId>,
    /// Who is waiting for each looked-up account, to name them in an alert.
    admitted: Vec<(ParticipantId, Option<AccountId>)>,
    held: VecDeque<ServerMessage>,
    chats: VecDeque<String>,
    commit_in_flight: bool,
    /// After a refusal, no new commit until the epoch moves or a proposal arrives: the
    /// winning commit is on its way, and committing again at once only floods the server.
    refused_at_epoch: Option<u64>,
    out: VecDeque<Output>,
    /// Draws each chat message's franking key; given by the caller, so the core does no I/O
    /// of its own and tests can seed it.
    rng: StdRng,
}

impl Membership {
    /// A participant `me` (with `account`, or a guest) in `meeting`, signing with `keys`
    /// (the account's registered identity key, or a fresh one for a guest), drawing chat
    /// franking keys from `rng` (seeded from the OS outside tests). Queues the KeyPackage to
    /// send.
    pub fn new(
        me: ParticipantId,
        account: Option<AccountId>,
        meeting: &str,
        keys: &IdentityKeyPair,
        rng: StdRng,
    ) -> Result<Self, MembershipError> {
        let participant = e2ee::identity::ParticipantId::new(me.as_str())
            .map_err(|e| MembershipError::Member(e.into()))?;
        let identity = match &account {
            Some(account) => MemberIdentity::account(
                participant,
                e2ee::franking::AccountId::new(account.as_str())
                    .map_err(|e| MembershipError::Member(e.into()))?,
            ),
            None => MemberIdentity::guest(participant),
        };
        let pending = PendingMember::new(identity, keys)?;
        let mut out = VecDeque::new();
        out.push_back(Output::Send(ClientMessage::MlsKeyPackage {
            key_package: pending.key_package().to_vec().into(),
        }));
        Ok(Self {
            me,
            meeting: meeting.to_owned(),
            stage: Stage::Pending(Box::new(pending)),
            directory: KeyDirectory::new(),
            lookups: BTreeSet::new(),
            admitted: Vec::new(),
            held: VecDeque::new(),
            chats: VecDeque::new(),
            commit_in_flight: false,
            refused_at_epoch: None,
            out,
            rng,
        })
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// The member, once in the group.
    pub fn member(&self) -> Option<&Member> {
        match &self.stage {
            Stage::Member(member) => Some(member),
            _ => None,
        }
    }

    /// The current epoch and safety code, once in the group.
    pub fn epoch(&self) -> Option<(u64, SafetyCode)> {
        self.member()
            .map(|member| (member.epoch().value(), member.safety_code()))
    }

    /// Takes a signaling message; messages that are not about MLS or chat are ignored.
    pub fn handle(&mut self, message: ServerMessage, now: Instant) {
        if !is_mls(&message) {
            return;
        }
        if !self.lookups.is_empty() {
            if self.held.len() >= MAX_HELD {
                self.alert(
                    None,
                    "too many MLS messages while key lookups are outstanding; the rest are refused"
                        .into(),
                );
                return;
            }
            self.held.push_back(message);
            return;
        }
        self.dispatch(message, now);
    }

    /// The shell verified `account`'s key against the transparency log.
    pub fn key_verified(&mut self, account: &AccountId, key: IdentityKey, now: Instant) {
        if let Ok(id) = e2ee::franking::AccountId::new(account.as_str()) {
            self.directory.insert(id, key);
        }
        self.lookup_done(account, now);
    }

    /// The shell could not verify `account`'s key: every Add for it will be refused, and
    /// the user is told now.
    pub fn key_refused(&mut self, account: &AccountId, reason: &str, now: Instant) {
        let who: Vec<String> = self
            .admitted
            .iter()
            .filter(|(_, a)| a.as_ref() == Some(account))
            .map(|(p, _)| p.to_string())
            .collect();
        for participant in who {
            self.alert(
                Some(participant),
                format!(
                    "the key of account {account} does not verify in the key directory: {reason}"
                ),
            );
        }
        self.lookup_done(account, now);
    }

    /// When [`handle_timeout`](Self::handle_timeout) has work (a commit to make).
    pub fn timeout(&self, now: Instant) -> Option<Instant> {
        if self.commit_in_flight || !self.lookups.is_empty() {
            return None;
        }
        let member = self.member()?;
        if self.refused_at_epoch == Some(member.epoch().value()) {
            return None;
        }
        let delay = member.commit_delay(now)?;
        Some(now + delay)
    }

    /// Commits pending proposals when it is this member's turn.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.commit_in_flight || !self.lookups.is_empty() {
            return;
        }
        let Stage::Member(member) = &mut self.stage else {
            return;
        };
        if self.refused_at_epoch == Some(member.epoch().value())
            || member.commit_delay(now) != Some(Duration::ZERO)
        {
            return;
        }
        match member.commit_pending() {
            Ok(Some(commit)) => {
                self.commit_in_flight = true;
                self.out.push_back(Output::Send(ClientMessage::MlsCommit {
                    epoch: commit.epoch.value(),
                    commit: commit.commit.into(),
                    welcome: commit.welcome.map(Into::into),
                }));
            }
            Ok(None) => {}
            Err(e) => self.alert(None, format!("cannot commit: {e}")),
        }
    }

    /// Sends a chat message now, or as soon as the pending proposals are committed.
    pub fn send_chat(&mut self, text: &str) -> Result<(), MembershipError> {
        if text.len() > MAX_CHAT_BYTES {
            return Err(MembershipError::ChatTooLong { len: text.len() });
        }
        if !matches!(self.stage, Stage::Member(_)) {
            return Err(MembershipError::NotMember);
        }
        if self.chats.len() >= MAX_QUEUED_CHATS {
            return Err(MembershipError::ChatQueueFull);
        }
        self.chats.push_back(text.to_owned());
        self.flush_chats();
        Ok(())
    }

    fn flush_chats(&mut self) {
        let Stage::Member(member) = &mut self.stage else {
            return;
        };
        while let Some(text) = self.chats.front() {
            match member.send_chat(text.as_bytes(), &mut self.rng) {
                Ok(chat) => {
                    self.chats.pop_front();
                    self.out.push_back(Output::Send(ClientMessage::ChatSend {
                        message: chat.message.into(),
                        commitment: chat.commitment.as_bytes().to_vec().into(),
                    }));
                }
                // Sent after the commit that clears them.
                Err(MemberError::ProposalsPending) => return,
                Err(e) => {
                    self.chats.pop_front();
                    self.out.push_back(Output::Alert(Alert {
                        participant: None,
                        what: format!("chat not sent: {e}"),
                    }));
                }
            }
        }
    }

    fn lookup_done(&mut self, account: &AccountId, now: Instant) {
        self.lookups.remove(account);
        while self.lookups.is_empty() {
            let Some(message) = self.held.pop_front() else {
                break;
            };
            self.dispatch(message, now);
        }
    }

    fn dispatch(&mut self, message: ServerMessage, now: Instant) {
        match message {
            ServerMessage::MlsCreate {
                group_id,
                server_key,
            } => self.create(group_id.as_bytes(), server_key.as_bytes(), now),
            ServerMessage::MlsAdmitted {
                participant_id,
                account_id,
            } => self.admitted(participant_id, account_id),
            ServerMessage::MlsWelcome {
                welcome,
                ratchet_tree,
                server_key,
                admissions,
            } => self.welcome(
                welcome.as_bytes(),
                ratchet_tree.as_bytes(),
                server_key.as_bytes(),
                admissions,
                now,
            ),
            ServerMessage::MlsProposal { message } | ServerMessage::MlsCommit { message } => {
                self.handshake(message.as_bytes(), now)
            }
            ServerMessage::MlsCommitAccepted { .. } => self.accepted(now),
            ServerMessage::MlsCommitRefused { .. } => self.refused(),
            ServerMessage::Chat {
                message,
                commitment,
                tag,
                sender_account_id,
                timestamp,
            } => self.chat(
                message.as_bytes(),
                commitment.as_bytes(),
                tag.as_bytes(),
                sender_account_id,
                timestamp,
            ),
            _ => {}
        }
    }

    fn create(&mut self, group_id: &[u8], server_key: &[u8], now: Instant) {
        let Stage::Pending(_) = self.stage else {
            self.alert(
                None,
                "the server asked to create a group we are already in".into(),
            );
            return;
        };
        let Stage::Pending(pending) = std::mem::replace(&mut self.stage, Stage::Failed) else {
            return;
        };
        let created = IdentityKey::from_slice(server_key)
            .map_err(MemberError::from)
            .and_then(|key| (*pending).create_group(group_id, &key, now));
        match created {
            Ok((member, bootstrap)) => {
                self.out.push_back(Output::Send(ClientMessage::MlsGroup {
                    group_info: bootstrap.group_info.into(),
                    ratchet_tree: bootstrap.ratchet_tree.into(),
                }));
                self.stage = Stage::Member(Box::new(member));
                self.entered_epoch();
            }
            Err(e) => self.alert(None, format!("cannot create the meeting's group: {e}")),
        }
    }

    fn admitted(&mut self, participant: ParticipantId, account: Option<AccountId>) {
        if let Some(account) = &account {
            if !self.lookups.contains(account) {
                self.lookups.insert(account.clone());
                self.out.push_back(Output::LookupKey(account.clone()));
            }
        }
        self.remember_admitted(participant.clone(), account.clone());
        if let Stage::Member(member) = &mut self.stage {
            if let Some(admission) = to_admission(&participant, account.as_ref()) {
                member.record_admission(admission);
            }
        }
    }

    fn welcome(
        &mut self,
        welcome: &[u8],
        ratchet_tree: &[u8],
        server_key: &[u8],
        admissions: Vec<MlsAdmission>,
        now: Instant,
    ) {
        if !matches!(self.stage, Stage::Pending(_)) {
            self.alert(
                None,
                "a Welcome arrived for a group we are already in".into(),
            );
            return;
        }
        // Every account in the tree needs a verified key first: look them up, and come
        // back to this Welcome when they are in.
        let missing: Vec<AccountId> = admissions
            .iter()
            .filter(|a| a.participant_id != self.me)
            .filter_map(|a| a.account_id.clone())
            .filter(|a| {
                e2ee::franking::AccountId::new(a.as_str())
                    .map(|id| self.directory.key_of(&id).is_none())
                    .unwrap_or(false)
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !missing.is_empty() {
            for admission in &admissions {
                self.remember_admitted(
                    admission.participant_id.clone(),
                    admission.account_id.clone(),
                );
            }
            for account in missing {
                self.lookups.insert(account.clone());
                self.out.push_back(Output::LookupKey(account));
            }
            self.held.push_front(ServerMessage::MlsWelcome {
                welcome: welcome.to_vec().into(),
                ratchet_tree: ratchet_tree.to_vec().into(),
                server_key: server_key.to_vec().into(),
                admissions,
            });
            return;
        }
        let mut seated = Admissions::new();
        for admission in &admissions {
            if let Some(admission) =
                to_admission(&admission.participant_id, admission.account_id.as_ref())
            {
                seated.record(admission);
            }
        }
        let Stage::Pending(pending) = std::mem::replace(&mut self.stage, Stage::Failed) else {
            return;
        };
        let joined = IdentityKey::from_slice(server_key)
            .map_err(MemberError::from)
            .and_then(|key| {
                (*pending).join(welcome, ratchet_tree, &key, &seated, &self.directory, now)
            });
        match joined {
            Ok(mut member) => {
                // Those seated but not in the tree yet are the next Adds: the server
                // announced them before we were a member, in this list.
                let in_tree: Vec<String> = member
                    .roster()
                    .map(|r| {
                        r.iter()
                            .map(|m| m.identity.participant().to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                for admission in seated.iter() {
                    if !in_tree.contains(&admission.participant.to_string()) {
                        member.record_admission(admission.clone());
                    }
                }
                self.stage = Stage::Member(Box::new(member));
                self.entered_epoch();
            }
            Err(e) => {
                let who = refused_participant(&e);
                self.alert(who, format!("refused to join the group: {e}"));
            }
        }
    }

    fn handshake(&mut self, message: &[u8], now: Instant) {
        let Stage::Member(member) = &mut self.stage else {
            // Before our Welcome, the group's traffic is not ours to read.
            return;
        };
        match member.process_handshake(message, &self.directory, now) {
            Ok(HandshakeOutcome::EpochChanged(_)) => {
                self.entered_epoch();
                self.flush_chats();
            }
            // Committed when our turn comes (see `timeout`).
            Ok(_) => self.refused_at_epoch = None,
            // Removed: the group's traffic is no longer ours.
            Err(MemberError::Removed) => {}
            Err(e) => {
                let who = refused_participant(&e);
                self.alert(who, format!("refused an MLS message from the server: {e}"));
            }
        }
    }

    fn accepted(&mut self, now: Instant) {
        self.commit_in_flight = false;
        let Stage::Member(member) = &mut self.stage else {
            return;
        };
        match member.commit_accepted(now) {
            Ok(_) => {
                self.entered_epoch();
                self.flush_chats();
            }
            Err(e) => self.alert(None, format!("cannot merge our accepted commit: {e}")),
        }
    }

    fn refused(&mut self) {
        self.commit_in_flight = false;
        if let Stage::Member(member) = &mut self.stage {
            self.refused_at_epoch = Some(member.epoch().value());
            // Another commit won the epoch; it arrives next and we re-base on it. If it came
            // first, merging it dropped our commit already.
            match member.commit_refused() {
                Ok(()) | Err(MemberError::NoPendingCommit) => {}
                Err(e) => self.alert(None, format!("a commit refusal we cannot apply: {e}")),
            }
        }
    }

    fn chat(
        &mut self,
        message: &[u8],
        commitment: &[u8],
        tag: &[u8],
        sender_account: Option<AccountId>,
        timestamp: u64,
    ) {
        let Stage::Member(member) = &mut self.stage else {
            return;
        };
        let Ok(commitment) = <[u8; 32]>::try_from(commitment).map(Commitment::from_bytes) else {
            self.alert(
                None,
                "a chat message with a malformed commitment was refused".into(),
            );
            return;
        };
        let received = match member.receive_chat(message, &commitment) {
            Ok(received) => received,
            Err(e) => {
                self.alert(None, format!("a chat message was refused: {e}"));
                return;
            }
        };
        let sender = received.sender().clone();
        if sender.account_id().map(|a| a.as_str()) != sender_account.as_ref().map(|a| a.as_str()) {
            self.alert(
                Some(sender.participant().to_string()),
                "the server named another account as the chat sender than MLS did".into(),
            );
            return;
        }
        let text = String::from_utf8_lossy(received.plaintext()).into_owned();
        let opened = received.into_opened();
        let b64 = base64::engine::general_purpose::STANDARD;
        let sender_account_id = match sender.account_id() {
            Some(account) => account.as_str().to_owned(),
            None => format!("guest:{}", sender.participant()),
        };
        let opening = ChatReportOpening {
            plaintext: b64.encode(opened.plaintext()),
            franking_key: b64.encode(opened.franking_key().as_bytes()),
            commitment: b64.encode(opened.commitment().as_bytes()),
            tag: b64.encode(tag),
            sender_account_id,
            meeting_id: self.meeting.clone(),
            timestamp,
        };
        self.out.push_back(Output::Chat(ChatMessage {
            sender: sender.participant().to_string(),
            text,
            opening,
        }));
    }

    fn entered_epoch(&mut self) {
        let Stage::Member(member) = &self.stage else {
            return;
        };
        if member.is_removed() {
            return;
        }
        let epoch = member.epoch().value();
        let safety_code = member.safety_code().to_string();
        let roster = match member.roster() {
            Ok(roster) => roster.iter().map(roster_member).collect(),
            Err(e) => {
                self.alert(None, format!("unreadable roster: {e}"));
                Vec::new()
            }
        };
        self.out.push_back(Output::Epoch(EpochInfo {
            epoch,
            safety_code,
            roster,
        }));
    }

    /// Keeps who was admitted with which account, to name them if the account's key fails;
    /// bounded, since the server decides how many there are.
    fn remember_admitted(&mut self, participant: ParticipantId, account: Option<AccountId>) {
        if self.admitted.len() >= MAX_HELD {
            self.admitted.remove(0);
        }
        self.admitted.push((participant, account));
    }

    fn alert(&mut self, participant: Option<String>, what: String) {
        self.out
            .push_back(Output::Alert(Alert { participant, what }));
    }
}

impl FrameCipher for Membership {
    fn encrypt(&mut self, frame: &[u8]) -> Result<Vec<u8>, CipherError> {
        match &mut self.stage {
            Stage::Member(member) if !member.is_removed() => member
                .encrypt_frame(frame)
                .map_err(|e| CipherError::Encrypt(e.to_string())),
            _ => Err(CipherError::NoKeys),
        }
    }

    fn decrypt(&mut self, frame: &[u8], now: Instant) -> Result<Opened, CipherError> {
        let Stage::Member(member) = &mut self.stage else {
            return Err(CipherError::NoKeys);
        };
        let decrypted = member.decrypt_frame(frame, now).map_err(|e| match e {
            MediaError::UnknownEpoch { .. } => CipherError::UnknownEpoch(e.to_string()),
            e => CipherError::Undecryptable(e.to_string()),
        })?;
        let sender = member
            .member_at(decrypted.sender())
            .and_then(|identity| identity.participant().as_str().parse().ok());
        Ok(Opened {
            payload: decrypted.into_payload(),
            sender,
        })
    }
}

fn is_mls(message: &ServerMessage) -> bool {
    matches!(
        message,
        ServerMessage::MlsCreate { .. }
            | ServerMessage::MlsAdmitted { .. }
            | ServerMessage::MlsProposal { .. }
            | ServerMessage::MlsCommit { .. }
            | ServerMessage::MlsCommitAccepted { .. }
            | ServerMessage::MlsCommitRefused { .. }
            | ServerMessage::MlsWelcome { .. }
            | ServerMessage::Chat { .. }
    )
}

fn to_admission(participant: &ParticipantId, account: Option<&AccountId>) -> Option<Admission> {
    Some(Admission {
        participant: e2ee::identity::ParticipantId::new(participant.as_str()).ok()?,
        account: match account {
            Some(account) => Some(e2ee::franking::AccountId::new(account.as_str()).ok()?),
            None => None,
        },
    })
}

fn refused_participant(error: &MemberError) -> Option<String> {
    match error {
        MemberError::Ghost(ghost) => ghost.identity().map(|i| i.participant().to_string()),
        _ => None,
    }
}

fn roster_member(entry: &RosterEntry) -> RosterMember {
    RosterMember {
        participant_id: entry.identity.participant().to_string(),
        account_id: entry.identity.account_id().map(|a| a.as_str().to_owned()),
        leaf: entry.leaf.value(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use e2ee::server_view::{ServerGroupView, ServerSigningKey, ValidatedKeyPackage};
    use proto::ids::OpaqueId;
    use rand::SeedableRng;

    use super::*;

    fn drain(membership: &mut Membership) -> Vec<Output> {
        std::iter::from_fn(|| membership.poll_output()).collect()
    }

    fn sent(outputs: &[Output]) -> Vec<&ClientMessage> {
        outputs
            .iter()
            .filter_map(|o| match o {
                Output::Send(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    fn guest(n: u8) -> Membership {
        let keys = IdentityKeyPair::generate(&mut rand::thread_rng());
        Membership::new(
            ParticipantId::from_random(&[n; 9]),
            None,
            "meeting",
            &keys,
            StdRng::seed_from_u64(u64::from(n)),
        )
        .unwrap()
    }

    /// Alice creates, Bob is announced, proposed and committed at Alice's turn (at once, as
    /// leaf 0), joins from the Welcome, and both show one epoch and code; a chat goes across;
    /// no frame goes out before the first epoch.
    #[test]
    fn two_guests_reach_one_epoch_and_chat() {
        let now = Instant::now();
        let server = ServerSigningKey::generate(&mut rand::thread_rng());
        let mut alice = guest(1);
        let mut bob = guest(2);
        assert_eq!(bob.encrypt(b"frame"), Err(CipherError::NoKeys));
        drain(&mut alice);
        let bob_kp = match sent(&drain(&mut bob))[..] {
            [ClientMessage::MlsKeyPackage { key_package }] => key_package.clone(),
            ref other => panic!("{other:?}"),
        };
        alice.handle(
            ServerMessage::MlsCreate {
                group_id: b"meeting".to_vec().into(),
                server_key: server.public().as_bytes().to_vec().into(),
            },
            now,
        );
        let out = drain(&mut alice);
        let mut view = match sent(&out)[..] {
            [ClientMessage::MlsGroup {
                group_info,
                ratchet_tree,
            }] => ServerGroupView::from_bootstrap(
                group_info.as_bytes(),
                ratchet_tree.as_bytes(),
                &server,
            )
            .unwrap(),
            ref other => panic!("{other:?}"),
        };
        let bob_id = ParticipantId::from_random(&[2; 9]);
        alice.handle(
            ServerMessage::MlsAdmitted {
                participant_id: bob_id.clone(),
                account_id: None,
            },
            now,
        );
        let proposal = view
            .propose_add(ValidatedKeyPackage::parse(bob_kp.as_bytes()).unwrap())
            .unwrap();
        alice.handle(
            ServerMessage::MlsProposal {
                message: proposal.into(),
            },
            now,
        );
        assert_eq!(alice.timeout(now), Some(now));
        alice.handle_timeout(now);
        let out = drain(&mut alice);
        let (commit, welcome) = match sent(&out)[..] {
            [ClientMessage::MlsCommit {
                commit, welcome, ..
            }] => (commit.clone(), welcome.clone().unwrap()),
            ref other => panic!("{other:?}"),
        };
        // While the commit is in flight, no second one.
        assert_eq!(alice.timeout(now), None);
        let accepted = view
            .submit_commit(commit.as_bytes(), Some(welcome.as_bytes()))
            .unwrap();
        alice.handle(ServerMessage::MlsCommitAccepted { epoch: 1 }, now);
        let joiners = accepted.joiners.unwrap();
        bob.handle(
            ServerMessage::MlsWelcome {
                welcome: joiners.welcome.into(),
                ratchet_tree: joiners.ratchet_tree.into(),
                server_key: server.public().as_bytes().to_vec().into(),
                admissions: [ParticipantId::from_random(&[1; 9]), bob_id]
                    .into_iter()
                    .map(|participant_id| MlsAdmission {
                        participant_id,
                        account_id: None,
                    })
                    .collect(),
            },
            now,
        );
        let epoch_of = |outputs: Vec<Output>| {
            outputs
                .into_iter()
                .find_map(|o| match o {
                    Output::Epoch(info) => Some(info),
                    Output::Alert(alert) => panic!("{alert:?}"),
                    _ => None,
                })
                .unwrap()
        };
        let (a, b) = (epoch_of(drain(&mut alice)), epoch_of(drain(&mut bob)));
        assert_eq!((a.epoch, b.epoch), (1, 1));
        assert_eq!(a.safety_code, b.safety_code);
        assert_eq!(b.roster.len(), 2);

        let frame = alice.encrypt(b"opus").unwrap();
        assert!(!frame.windows(4).any(|w| w == b"opus"));
        let opened = bob.decrypt(&frame, now).unwrap();
        assert_eq!(opened.payload, b"opus");
        assert_eq!(
            opened.sender.map(|s| s.to_string()),
            Some(ParticipantId::from_random(&[1; 9]).to_string())
        );

        alice.send_chat("hello").unwrap();
        let (message, commitment) = match sent(&drain(&mut alice))[..] {
            [ClientMessage::ChatSend {
                message,
                commitment,
            }] => (message.clone(), commitment.clone()),
            ref other => panic!("{other:?}"),
        };
        bob.handle(
            ServerMessage::Chat {
                message,
                commitment,
                tag: vec![0; 32].into(),
                sender_account_id: None,
                timestamp: 1,
            },
            now,
        );
        match &drain(&mut bob)[..] {
            [Output::Chat(chat)] => assert_eq!(chat.text, "hello"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            alice.send_chat(&"x".repeat(MAX_CHAT_BYTES + 1)),
            Err(MembershipError::ChatTooLong { .. })
        ));
    }
}
