//! The signaling protocol: JSON text messages over one WebSocket per participant.
//!
//! A connection goes `hello` -> `welcome`, then `join` (or `resume`), then waits
//! in the lobby (`waiting`) or is seated (`joined`). Every message is an object
//! whose `type` field names its variant; unknown fields are refused.

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, MeetingId, ParticipantId};

/// Version of this protocol; the client's `hello` must carry it.
pub const PROTOCOL_VERSION: u16 = 1;

/// Largest message either side may send, in bytes, except the MLS messages that carry a
/// ratchet tree or a commit ([`MAX_MLS_MESSAGE_BYTES`]).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Largest `mls_group` or `mls_commit` a client may send, and largest `mls_welcome` or
/// `mls_commit` the server sends, in bytes: the ratchet tree of a 1,000-member group is about
/// 207 KB (276 KB in base64), and this leaves room for larger trees and update paths.
pub const MAX_MLS_MESSAGE_BYTES: usize = 1024 * 1024;

/// Bytes on the wire as standard base64 with padding (MLS messages, commitments, tags).
///
/// Decoding refuses anything but canonical standard base64; the size is bounded by the
/// message it arrives in.
#[derive(Clone, PartialEq, Eq, Default)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Base64Bytes(#[cfg_attr(test, ts(type = "string"))] pub Vec<u8>);

impl Base64Bytes {
    /// The decoded bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Takes the decoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl From<Vec<u8>> for Base64Bytes {
    fn from(bytes: Vec<u8>) -> Self {
        Base64Bytes(bytes)
    }
}

impl std::fmt::Debug for Base64Bytes {
    // MLS messages are ciphertext or public, but a log needs only their size.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Base64Bytes({} bytes)", self.0.len())
    }
}

impl Serialize for Base64Bytes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use base64::Engine as _;
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Base64Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use base64::Engine as _;
        let text = String::deserialize(deserializer)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map(Base64Bytes)
            .map_err(|e| serde::de::Error::custom(format!("not standard base64: {e}")))
    }
}

/// The server's announcement that a participant may be added to the meeting's MLS group: a
/// client accepts an Add only for an announced admission whose credential key matches the
/// key directory (or a guest).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct MlsAdmission {
    /// Who.
    pub participant_id: ParticipantId,
    /// Their account, or none for a guest.
    pub account_id: Option<AccountId>,
}

/// Longest free-text reason (deny, remove), in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// Longest SDP offer or answer, in bytes.
pub const MAX_SDP_BYTES: usize = 32 * 1024;

/// How a client proves who it is in `hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum HelloAuth {
    /// A session token from `POST /api/v1/sessions`.
    Token {
        /// The bearer token.
        token: String,
    },
    /// No account: a display name, shown to everyone as a guest.
    Guest {
        /// 1 to 64 characters.
        display_name: String,
    },
}

/// Messages from a client to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// First message of every connection.
    Hello {
        /// Must equal [`PROTOCOL_VERSION`].
        version: u16,
        /// Account token or guest name.
        auth: HelloAuth,
    },
    /// Ask to join a meeting.
    Join {
        /// Which meeting.
        meeting_id: MeetingId,
        /// The passcode, if the meeting has one.
        #[serde(default)]
        #[cfg_attr(test, ts(optional = nullable))]
        passcode: Option<String>,
    },
    /// Take back a seat after a dropped connection (within 30 s).
    Resume {
        /// Which meeting.
        meeting_id: MeetingId,
        /// The token from `joined`.
        resume_token: String,
    },
    /// Host: let a waiting participant in.
    Admit {
        /// Who.
        participant_id: ParticipantId,
    },
    /// Host: turn a waiting participant away.
    Deny {
        /// Who.
        participant_id: ParticipantId,
        /// Shown to them.
        reason: String,
    },
    /// Host: remove a participant; they need admitting again to come back.
    Remove {
        /// Who.
        participant_id: ParticipantId,
        /// Shown to them.
        #[serde(default)]
        #[cfg_attr(test, ts(optional = nullable))]
        reason: Option<String>,
    },
    /// Host: nobody new may ask to join.
    Lock,
    /// Host: undo `lock`.
    Unlock,
    /// Host: give a participant host powers.
    MakeCohost {
        /// Who.
        participant_id: ParticipantId,
    },
    /// Host: ask a participant to unmute (they decide).
    RequestUnmute {
        /// Who.
        participant_id: ParticipantId,
    },
    /// Host: end the meeting for everyone.
    EndMeeting,
    /// Raise a hand.
    RaiseHand,
    /// Lower a hand.
    LowerHand,
    /// Leave the meeting (or stop waiting in the lobby).
    Leave,
    /// Keep-alive; answered with `pong`.
    Ping,
    /// An SDP offer for this participant's media session (ICE-lite, BUNDLE,
    /// rtcp-mux). Only seated participants may send one. Also used for an ICE
    /// restart and to add or remove the client's own tracks.
    ///
    /// The client's sending m-lines are read in order: the first audio one is
    /// the microphone ([`MediaSource::Audio`], Opus), the first video one the
    /// camera ([`MediaSource::Video`], VP9: SVC L3T3_KEY on one SSRC, or
    /// simulcast with `a=simulcast`/rids), the second video one the screen
    /// ([`MediaSource::Screen`]). Further sending m-lines are not forwarded.
    /// The server's answer is ICE-lite with one host candidate; the client is
    /// the controlling ICE agent.
    MediaOffer {
        /// The offer, at most [`MAX_SDP_BYTES`].
        sdp: String,
    },
    /// The answer to a server's `media_offer`.
    MediaAnswer {
        /// The answer, at most [`MAX_SDP_BYTES`].
        sdp: String,
    },
    /// The largest video this subscriber wants of one remote track; the SFU
    /// never sends a larger spatial layer than this (it may send smaller ones
    /// when bandwidth is short).
    VideoPreference {
        /// Whose track.
        participant_id: ParticipantId,
        /// Camera or screen.
        source: MediaSource,
        /// Height in pixels of the largest layer wanted; 0 pauses the track.
        max_height: u32,
    },
    /// Host: stop forwarding these of a participant's sources at the SFU. The
    /// participant cannot undo it; only a host can, with `lift_mute`.
    Mute {
        /// Who.
        participant_id: ParticipantId,
        /// Which sources.
        media: Vec<MediaSource>,
    },
    /// Host: allow these sources of a participant to be forwarded again.
    LiftMute {
        /// Who.
        participant_id: ParticipantId,
        /// Which sources.
        media: Vec<MediaSource>,
    },
    /// Answer to `mls_create`: the new group's GroupInfo and ratchet tree, so the server can
    /// follow it publicly. At most [`MAX_MLS_MESSAGE_BYTES`].
    MlsGroup {
        /// TLS-encoded GroupInfo.
        group_info: Base64Bytes,
        /// TLS-encoded ratchet tree.
        ratchet_tree: Base64Bytes,
    },
    /// This participant's KeyPackage, sent once seated (before the group has it).
    MlsKeyPackage {
        /// TLS-encoded KeyPackage (MLSMessage).
        key_package: Base64Bytes,
    },
    /// A commit of the pending proposals for `epoch`, with the Welcome for any joiners. At
    /// most [`MAX_MLS_MESSAGE_BYTES`].
    MlsCommit {
        /// The epoch the commit starts from.
        epoch: u64,
        /// TLS-encoded MLSMessage holding the commit.
        commit: Base64Bytes,
        /// TLS-encoded Welcome, if the commit adds members.
        #[serde(default)]
        #[cfg_attr(test, ts(optional = nullable))]
        welcome: Option<Base64Bytes>,
    },
    /// A chat message: an MLS application message and its franking commitment.
    ChatSend {
        /// TLS-encoded MLSMessage (application).
        message: Base64Bytes,
        /// HMAC-SHA256 commitment to the plaintext (32 bytes).
        commitment: Base64Bytes,
    },
}

/// The `type` of every [`ClientMessage`], for telling unknown types from malformed ones.
pub const CLIENT_MESSAGE_TYPES: &[&str] = &[
    "hello",
    "join",
    "resume",
    "admit",
    "deny",
    "remove",
    "lock",
    "unlock",
    "make_cohost",
    "request_unmute",
    "end_meeting",
    "raise_hand",
    "lower_hand",
    "leave",
    "ping",
    "media_offer",
    "media_answer",
    "video_preference",
    "mute",
    "lift_mute",
    "mls_group",
    "mls_key_package",
    "mls_commit",
    "chat_send",
];

/// The size limit of a client message of type `kind`.
pub fn client_message_limit(kind: &str) -> usize {
    match kind {
        "mls_group" | "mls_commit" => MAX_MLS_MESSAGE_BYTES,
        _ => MAX_MESSAGE_BYTES,
    }
}

/// Why a client message was refused before any meeting logic saw it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Larger than [`MAX_MESSAGE_BYTES`].
    #[error("message is {got} bytes; the limit is {limit}")]
    TooLarge {
        /// Size of the message.
        got: usize,
        /// The limit.
        limit: usize,
    },
    /// Not a JSON object with a string `type` field.
    #[error("message is not a JSON object with a string \"type\": {0}")]
    NotAnObject(String),
    /// A `type` this server does not know.
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    /// A known type whose fields are wrong.
    #[error("malformed {kind:?} message: {detail}")]
    Malformed {
        /// The message type.
        kind: String,
        /// What serde said.
        detail: String,
    },
}

impl ParseError {
    /// The [`ErrorCode`] to answer with.
    pub fn code(&self) -> ErrorCode {
        match self {
            ParseError::TooLarge { .. } => ErrorCode::MessageTooLarge,
            ParseError::UnknownType(_) => ErrorCode::UnknownMessageType,
            ParseError::NotAnObject(_) | ParseError::Malformed { .. } => {
                ErrorCode::MalformedMessage
            }
        }
    }
}

impl ClientMessage {
    /// Parses one text frame, telling apart oversize, non-JSON, unknown type and bad fields.
    ///
    /// Every type is limited to [`MAX_MESSAGE_BYTES`] except those that carry a ratchet tree
    /// or a commit ([`client_message_limit`]).
    pub fn parse(text: &str) -> Result<ClientMessage, ParseError> {
        if text.len() > MAX_MLS_MESSAGE_BYTES {
            return Err(ParseError::TooLarge {
                got: text.len(),
                limit: MAX_MLS_MESSAGE_BYTES,
            });
        }
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ParseError::NotAnObject(e.to_string()))?;
        let kind = match value.get("type") {
            Some(serde_json::Value::String(kind)) => kind.clone(),
            _ => return Err(ParseError::NotAnObject("no string \"type\" field".into())),
        };
        if !CLIENT_MESSAGE_TYPES.contains(&kind.as_str()) {
            let mut shown = kind;
            shown.truncate(64);
            return Err(ParseError::UnknownType(shown));
        }
        let limit = client_message_limit(&kind);
        if text.len() > limit {
            return Err(ParseError::TooLarge {
                got: text.len(),
                limit,
            });
        }
        let message: ClientMessage =
            serde_json::from_value(value.clone()).map_err(|e| ParseError::Malformed {
                kind: kind.clone(),
                detail: e.to_string(),
            })?;
        // serde ignores extra fields on unit variants of an internally tagged
        // enum, so compare against the fields the variant really has.
        let known = serde_json::to_value(&message).map_err(|e| ParseError::Malformed {
            kind: kind.clone(),
            detail: e.to_string(),
        })?;
        if let (Some(given), Some(known)) = (value.as_object(), known.as_object()) {
            if let Some(extra) = given.keys().find(|k| !known.contains_key(*k)) {
                let mut extra = extra.clone();
                extra.truncate(64);
                return Err(ParseError::Malformed {
                    kind,
                    detail: format!("unknown field `{extra}`"),
                });
            }
        }
        Ok(message)
    }
}

/// A participant's powers in a meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the meeting: the owner, or whoever was promoted when the last host left.
    Host,
    /// Host powers given by a host.
    Cohost,
    /// Everyone else.
    Participant,
}

impl Role {
    /// Hosts and co-hosts moderate.
    pub fn moderates(self) -> bool {
        matches!(self, Role::Host | Role::Cohost)
    }
}

/// One seated participant, as the roster shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Participant {
    /// Id in this meeting.
    pub id: ParticipantId,
    /// Signed-in account, or none for a guest.
    pub account_id: Option<AccountId>,
    /// Name to show.
    pub display_name: String,
    /// True for guests; clients show them as such.
    pub guest: bool,
    /// Powers.
    pub role: Role,
    /// Hand raised.
    pub hand_raised: bool,
    /// False while the connection is dropped and the seat is held for a resume.
    pub connected: bool,
    /// Sources a host has muted at the SFU; nothing of these is forwarded.
    #[serde(default)]
    pub host_muted: Vec<MediaSource>,
}

/// What a media track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum MediaSource {
    /// Microphone (Opus).
    Audio,
    /// Camera (VP9).
    Video,
    /// Screen share (VP9).
    Screen,
}

/// One remote track a subscriber receives, so it can tell whose media arrives on which `mid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct TrackInfo {
    /// The SDP media id the track arrives on in this subscriber's session.
    pub mid: String,
    /// Whose track.
    pub participant_id: ParticipantId,
    /// What it carries.
    pub source: MediaSource,
}

/// One person waiting in the lobby, as hosts see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct LobbyEntry {
    /// Id to admit or deny.
    pub id: ParticipantId,
    /// Signed-in account, or none for a guest.
    pub account_id: Option<AccountId>,
    /// Name to show.
    pub display_name: String,
    /// True for guests.
    pub guest: bool,
    /// True if a host removed them earlier in this meeting.
    pub previously_removed: bool,
}

/// Why a participant left the roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// They left.
    Left,
    /// A host removed them.
    Removed,
    /// Their connection dropped and they did not resume within 30 s.
    TimedOut,
}

/// Why the meeting ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// A host ended it.
    EndedByHost,
    /// Oversight staff ended it under a quorum-approved order, carried in
    /// [`ServerMessage::MeetingEnded`]'s `order` (issue #5).
    Order,
}

/// The order under which oversight staff ended a meeting: enough for a
/// client to check it against the public transparency log without trusting
/// the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct EndOrder {
    /// The quorum certificate's canonical bytes, base64.
    pub certificate: String,
    /// Where the `oversight.execution` entry is in the log.
    pub ledger_index: u64,
    /// The inclusion proof of that entry in `checkpoint`, base64 hashes,
    /// lowest sibling first.
    pub inclusion_proof: Vec<String>,
    /// The signed checkpoint note the proof leads to.
    pub checkpoint: String,
}

/// What the subject of an oversight action receives (issue #5): over REST
/// (`GET /api/v1/notices`) and, while connected, as [`ServerMessage::Notice`].
/// The proof lets the client check against the public log, without trusting
/// the server, that the action is recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct OversightNotice {
    /// The request id (64 hex digits).
    pub request: String,
    /// The action's name, e.g. `end_meeting`.
    pub action: String,
    /// The statement of reasons, as filed.
    pub reasons: String,
    /// Where the entry that shows the action (its execution, or for a
    /// delayed disclosure its opening) is in the log.
    pub ledger_index: u64,
    /// The inclusion proof of that entry in `checkpoint`, base64 hashes,
    /// lowest sibling first.
    pub inclusion_proof: Vec<String>,
    /// The signed checkpoint note the proof leads to.
    pub checkpoint: String,
    /// When the notice was issued, Unix seconds.
    pub issued_at: u64,
    /// The subject's one appeal, once filed.
    #[serde(default)]
    pub appeal: Option<NoticeAppeal>,
}

/// Where the appeal of a notice stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct NoticeAppeal {
    /// `pending`, `upheld` or `overturned`.
    pub state: String,
    /// The reviewers' reasons, once decided.
    pub reasons: Option<String>,
    /// What an overturning changed, or why it could change nothing.
    pub effect: Option<String>,
}

/// Stable error codes of [`ServerMessage::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// Not JSON, or fields wrong for the type.
    MalformedMessage,
    /// A `type` the server does not know.
    UnknownMessageType,
    /// Over the size limit.
    MessageTooLarge,
    /// `hello` carried another protocol version.
    UnsupportedVersion,
    /// Bad or expired token, or bad guest name.
    Unauthenticated,
    /// The message is not valid in this state (e.g. `join` before `hello`).
    InvalidState,
    /// Only hosts and co-hosts may do that.
    Forbidden,
    /// No such meeting or participant.
    NotFound,
    /// The meeting has ended.
    MeetingEnded,
    /// The meeting is locked.
    MeetingLocked,
    /// The meeting does not allow guests.
    GuestsNotAllowed,
    /// Missing or wrong passcode.
    WrongPasscode,
    /// Too many messages.
    RateLimited,
    /// The resume token is unknown or its 30 s have passed.
    ResumeFailed,
    /// The server is shutting down.
    ShuttingDown,
    /// An SDP offer or answer was refused (unparseable, unsupported, or not expected now).
    MediaRejected,
    /// An MLS message (KeyPackage, GroupInfo, commit, chat) was refused; the message says why.
    MlsRejected,
}

/// Messages from the server to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Answer to `hello`.
    Welcome {
        /// The server's protocol version.
        version: u16,
        /// The signed-in account, or none for a guest.
        account_id: Option<AccountId>,
        /// The name others will see.
        display_name: String,
    },
    /// You are in the lobby; a host must admit you.
    Waiting {
        /// Which meeting.
        meeting_id: MeetingId,
        /// Your id, as hosts see it.
        participant_id: ParticipantId,
    },
    /// You have a seat.
    Joined {
        /// Which meeting.
        meeting_id: MeetingId,
        /// Your id.
        participant_id: ParticipantId,
        /// Your powers.
        role: Role,
        /// Send this in `resume` after a dropped connection.
        resume_token: String,
        /// Everyone seated, you included.
        roster: Vec<Participant>,
        /// Whether the meeting is locked.
        locked: bool,
    },
    /// A host turned you away.
    Denied {
        /// Their reason.
        reason: String,
    },
    /// A host removed you.
    Removed {
        /// Their reason, if given.
        reason: Option<String>,
    },
    /// The meeting is over; the server closes the connection next.
    MeetingEnded {
        /// Why.
        reason: EndReason,
        /// The order, when the reason is [`EndReason::Order`].
        #[serde(default)]
        order: Option<EndOrder>,
    },
    /// Someone was seated.
    ParticipantJoined {
        /// Who.
        participant: Participant,
    },
    /// Someone's role, hand or connection changed.
    ParticipantUpdated {
        /// Their new state.
        participant: Participant,
    },
    /// Someone left the roster.
    ParticipantLeft {
        /// Who.
        participant_id: ParticipantId,
        /// Why.
        reason: LeaveReason,
    },
    /// Sent to hosts and co-hosts whenever the lobby changes.
    LobbyUpdated {
        /// Everyone waiting, longest first.
        waiting: Vec<LobbyEntry>,
    },
    /// The meeting was locked or unlocked.
    LockChanged {
        /// New state.
        locked: bool,
    },
    /// A host asks you to unmute.
    UnmuteRequested {
        /// Which host.
        by: ParticipantId,
    },
    /// Answer to `ping`.
    Pong,
    /// The SFU's offer, when it adds or removes tracks this participant
    /// receives; answer with `media_answer`. The server never has two offers
    /// outstanding; if a client offer crosses one, the server drops its own,
    /// answers the client's and offers again afterwards.
    MediaOffer {
        /// The offer.
        sdp: String,
    },
    /// The SFU's answer to the client's `media_offer`.
    MediaAnswer {
        /// The answer.
        sdp: String,
    },
    /// Every remote track this participant now receives; sent whenever it changes.
    MediaTracks {
        /// The tracks.
        tracks: Vec<TrackInfo>,
    },
    /// The loudest speakers right now, loudest first (at most three); sent when it changes.
    ActiveSpeakers {
        /// Who.
        participant_ids: Vec<ParticipantId>,
    },
    /// You are the first participant seated and no group exists yet: create the meeting's
    /// MLS group with this id and the server as its only external sender, and answer with
    /// `mls_group`.
    MlsCreate {
        /// The MLS group id.
        group_id: Base64Bytes,
        /// The server's Ed25519 external-sender public key (32 bytes).
        server_key: Base64Bytes,
    },
    /// The server will propose adding this participant to the group next; accept that Add
    /// only if its credential matches this admission and the key directory.
    MlsAdmitted {
        /// Who.
        participant_id: ParticipantId,
        /// Their account, or none for a guest.
        account_id: Option<AccountId>,
    },
    /// An Add or Remove proposal from the server (external sender), as a TLS-encoded MLSMessage.
    MlsProposal {
        /// The proposal.
        message: Base64Bytes,
    },
    /// A commit another member made that the server accepted; process it to move epochs.
    MlsCommit {
        /// TLS-encoded MLSMessage holding the commit.
        message: Base64Bytes,
    },
    /// Your `mls_commit` won its epoch; merge it.
    MlsCommitAccepted {
        /// The new epoch.
        epoch: u64,
    },
    /// Your `mls_commit` was refused; discard it and re-base on what comes next.
    MlsCommitRefused {
        /// Why.
        reason: String,
        /// The group's epoch at the server.
        current_epoch: u64,
    },
    /// You were added: join from this Welcome and ratchet tree.
    MlsWelcome {
        /// TLS-encoded Welcome.
        welcome: Base64Bytes,
        /// TLS-encoded ratchet tree.
        ratchet_tree: Base64Bytes,
        /// The server's external-sender public key the group must carry (32 bytes).
        server_key: Base64Bytes,
        /// Everyone seated or about to be added, for checking the tree's members.
        admissions: Vec<MlsAdmission>,
    },
    /// A franked chat message, relayed.
    Chat {
        /// TLS-encoded MLSMessage (application).
        message: Base64Bytes,
        /// The sender's commitment to the plaintext.
        commitment: Base64Bytes,
        /// The server's franking tag over commitment, sender account, meeting and time.
        tag: Base64Bytes,
        /// The sender's account, or none for a guest.
        sender_account_id: Option<AccountId>,
        /// When the server relayed it, Unix milliseconds.
        timestamp: u64,
    },
    /// A notice about an oversight action against your account or a meeting
    /// you host, or its appeal's decision (issue #5); the same content as
    /// `GET /api/v1/notices`.
    Notice {
        /// The notice.
        notice: OversightNotice,
    },
    /// Something you sent was refused; the connection stays open unless a close follows.
    Error {
        /// Stable code.
        code: ErrorCode,
        /// What went wrong.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_tells_unknown_from_malformed() {
        assert!(matches!(
            ClientMessage::parse(r#"{"type":"fly"}"#),
            Err(ParseError::UnknownType(t)) if t == "fly"
        ));
        assert!(matches!(
            ClientMessage::parse(r#"{"type":"admit"}"#),
            Err(ParseError::Malformed { .. })
        ));
        assert!(matches!(
            ClientMessage::parse(r#"{"type":"lock","extra":1}"#),
            Err(ParseError::Malformed { .. })
        ));
        assert!(matches!(
            ClientMessage::parse("{not json"),
            Err(ParseError::NotAnObject(_))
        ));
        assert!(matches!(
            ClientMessage::parse("[1,2]"),
            Err(ParseError::NotAnObject(_))
        ));
        let big = format!(
            r#"{{"type":"ping","pad":"{}"}}"#,
            "x".repeat(MAX_MESSAGE_BYTES)
        );
        assert!(matches!(
            ClientMessage::parse(&big),
            Err(ParseError::TooLarge { .. })
        ));
    }

    #[test]
    fn mls_messages_have_their_own_size_limit() {
        let tree = "A".repeat(300 * 1024);
        let group =
            format!(r#"{{"type":"mls_group","group_info":"AQI=","ratchet_tree":"{tree}"}}"#);
        assert!(matches!(
            ClientMessage::parse(&group),
            Ok(ClientMessage::MlsGroup { ratchet_tree, .. }) if ratchet_tree.as_bytes().len() == 225 * 1024
        ));
        let key_package = format!(r#"{{"type":"mls_key_package","key_package":"{tree}"}}"#);
        assert!(matches!(
            ClientMessage::parse(&key_package),
            Err(ParseError::TooLarge {
                limit: MAX_MESSAGE_BYTES,
                ..
            })
        ));
        let huge = "A".repeat(MAX_MLS_MESSAGE_BYTES);
        let commit = format!(r#"{{"type":"mls_commit","epoch":1,"commit":"{huge}"}}"#);
        assert!(matches!(
            ClientMessage::parse(&commit),
            Err(ParseError::TooLarge {
                limit: MAX_MLS_MESSAGE_BYTES,
                ..
            })
        ));
        assert!(matches!(
            ClientMessage::parse(r#"{"type":"mls_key_package","key_package":"not base64!"}"#),
            Err(ParseError::Malformed { .. })
        ));
    }

    #[test]
    fn base64_bytes_round_trip() {
        let message = ServerMessage::MlsCommitAccepted { epoch: 4 };
        let text = serde_json::to_string(&message).unwrap();
        assert_eq!(text, r#"{"type":"mls_commit_accepted","epoch":4}"#);
        let bytes = Base64Bytes(vec![0, 1, 2, 250]);
        let text = serde_json::to_string(&bytes).unwrap();
        assert_eq!(text, r#""AAEC+g==""#);
        assert_eq!(serde_json::from_str::<Base64Bytes>(&text).unwrap(), bytes);
        assert_eq!(format!("{bytes:?}"), "Base64Bytes(4 bytes)");
    }

    #[test]
    fn every_listed_type_is_a_variant() {
        let bodies = [
            r#"{"type":"hello","version":1,"auth":{"kind":"token","token":"t"}}"#,
            r#"{"type":"join","meeting_id":"AAAAAAAAAAAAAAAAAAAAAA"}"#,
            r#"{"type":"resume","meeting_id":"AAAAAAAAAAAAAAAAAAAAAA","resume_token":"r"}"#,
            r#"{"type":"admit","participant_id":"AAAAAAAAAAAA"}"#,
            r#"{"type":"deny","participant_id":"AAAAAAAAAAAA","reason":"no"}"#,
            r#"{"type":"remove","participant_id":"AAAAAAAAAAAA"}"#,
            r#"{"type":"lock"}"#,
            r#"{"type":"unlock"}"#,
            r#"{"type":"make_cohost","participant_id":"AAAAAAAAAAAA"}"#,
            r#"{"type":"request_unmute","participant_id":"AAAAAAAAAAAA"}"#,
            r#"{"type":"end_meeting"}"#,
            r#"{"type":"raise_hand"}"#,
            r#"{"type":"lower_hand"}"#,
            r#"{"type":"leave"}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":"media_offer","sdp":"v=0"}"#,
            r#"{"type":"media_answer","sdp":"v=0"}"#,
            r#"{"type":"video_preference","participant_id":"AAAAAAAAAAAA","source":"video","max_height":360}"#,
            r#"{"type":"mute","participant_id":"AAAAAAAAAAAA","media":["audio"]}"#,
            r#"{"type":"lift_mute","participant_id":"AAAAAAAAAAAA","media":["audio","video"]}"#,
            r#"{"type":"mls_group","group_info":"AQI=","ratchet_tree":"AwQ="}"#,
            r#"{"type":"mls_key_package","key_package":"AQI="}"#,
            r#"{"type":"mls_commit","epoch":3,"commit":"AQI="}"#,
            r#"{"type":"chat_send","message":"AQI=","commitment":"AwQ="}"#,
        ];
        assert_eq!(bodies.len(), CLIENT_MESSAGE_TYPES.len());
        for body in bodies {
            ClientMessage::parse(body).unwrap();
        }
    }
}
