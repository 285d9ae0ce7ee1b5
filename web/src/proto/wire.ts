// Generated from crates/proto by `CONCLAVE_BLESS=1 cargo test -p proto typescript`.
// Do not edit: change the Rust types and regenerate.

/** Version of the signaling protocol; `hello` must carry it. */
export const PROTOCOL_VERSION = 1;

/** Largest signaling message either side may send, in bytes. */
export const MAX_MESSAGE_BYTES = 65536;

/** Largest `mls_group` or `mls_commit` message, in bytes. */
export const MAX_MLS_MESSAGE_BYTES = 1048576;

/** Longest free-text reason (deny, remove), in characters. */
export const MAX_REASON_CHARS = 500;

/** Longest SDP offer or answer, in bytes. */
export const MAX_SDP_BYTES = 32768;

/** Shortest accepted password, in characters. */
export const MIN_PASSWORD_CHARS = 12;

/** Longest display name, in characters. */
export const MAX_DISPLAY_NAME_CHARS = 64;

/** Largest encrypted meeting info blob, in bytes after base64 decoding. */
export const MAX_ENCRYPTED_INFO_BYTES = 4096;

/** Longest meeting passcode, in bytes. */
export const MAX_PASSCODE_BYTES = 128;

/**
 * A meeting. Made from 16 random bytes (128 bits): knowing it is the
 * capability to ask to join, so it must not be guessable.
 */
export type MeetingId = string;

/**
 * An account. Made from 16 random bytes; it never changes, unlike the
 * username.
 */
export type AccountId = string;

/**
 * One participant's presence in one meeting (a lobby wait or a seat).
 * Made from 9 random bytes; it is kept across a resume.
 */
export type ParticipantId = string;

/**
 * Every error response: a stable machine-readable code and a sentence for people.
 */
export type ErrorBody = { 
/**
 * Stable code, e.g. `invalid_credentials`, `payload_too_large`.
 */
error: string, 
/**
 * What went wrong, for a person.
 */
message: string, };

/**
 * `POST /api/v1/accounts`.
 */
export type NewAccount = { 
/**
 * 3 to 32 characters of `a-z`, `0-9`, `.`, `_`, `-`; stored lowercase.
 */
username: string, 
/**
 * At least 12 characters.
 */
password: string, 
/**
 * The country the holder lives in, ISO 3166-1 alpha-2 (e.g. `"DE"`); the server's
 * default region when absent. It decides which staff may act on the account and on
 * the meetings it hosts, and an oversight request must name it.
 */
region?: string | null, };

/**
 * An account as its owner sees it.
 */
export type Account = { 
/**
 * Stable account id.
 */
id: AccountId, 
/**
 * Login name.
 */
username: string, 
/**
 * Name shown to others in meetings; the username when unset.
 */
display_name: string | null, 
/**
 * Whether an avatar has been uploaded.
 */
has_avatar: boolean, 
/**
 * The country declared at registration; null for the server's default region.
 */
region: string | null, 
/**
 * When the account was made.
 */
created_at: number, };

/**
 * `POST /api/v1/sessions`: log in.
 */
export type NewSession = { 
/**
 * Login name.
 */
username: string, 
/**
 * Password.
 */
password: string, };

/**
 * A bearer token for `Authorization: Bearer <token>`.
 */
export type Session = { 
/**
 * 256 random bits, URL-safe base64. The server keeps only its hash.
 */
token: string, 
/**
 * The account it authenticates.
 */
account_id: AccountId, 
/**
 * After this time the token is refused.
 */
expires_at: number, };

/**
 * `PATCH /api/v1/accounts/me`.
 */
export type ProfileUpdate = { 
/**
 * New display name (1 to 64 characters, no control characters), or null to clear it.
 */
display_name?: string | null, };

/**
 * `PUT /api/v1/accounts/me/identity-key`: register or change the account's identity key.
 */
export type IdentityKeyRegistration = { 
/**
 * Ed25519 public key, 32 bytes, base64.
 */
public_key: string, 
/**
 * Ed25519 signature, base64, by that key over
 * `"conclave identity key v1\n" || account id || "\n" || public key bytes`:
 * proof that the caller holds the private key.
 */
signature: string, };

/**
 * One entry of the key directory: an account's identity key from `created_at` on.
 */
export type IdentityKeyRecord = { 
/**
 * Whose key.
 */
account_id: AccountId, 
/**
 * 1 for the first key, incremented by each change.
 */
version: number, 
/**
 * Ed25519 public key, base64.
 */
public_key: string, 
/**
 * When it was registered.
 */
created_at: number, };

/**
 * `POST /api/v1/meetings`. Every field is optional; defaults are the safe ones.
 */
export type NewMeeting = { 
/**
 * Whether arrivals wait in the lobby for a host (default true).
 */
lobby?: boolean | null, 
/**
 * Passcode to join (stored hashed); none by default.
 */
passcode?: string | null, 
/**
 * Whether people without an account may ask to join (default true).
 */
guests_allowed?: boolean | null, 
/**
 * Title and description, encrypted by the client with a key the server
 * never sees (carried in the invite link's fragment); base64, at most 4 KiB decoded.
 */
encrypted_info?: string | null, };

/**
 * `PATCH /api/v1/meetings/{id}`: change settings (host only). Absent fields stay as they are.
 */
export type MeetingUpdate = { 
/**
 * Lobby on or off.
 */
lobby?: boolean | null, 
/**
 * New passcode; an empty string removes it.
 */
passcode?: string | null, 
/**
 * Guests allowed or not.
 */
guests_allowed?: boolean | null, 
/**
 * Locked: nobody new may ask to join.
 */
locked?: boolean | null, 
/**
 * New encrypted title/description blob.
 */
encrypted_info?: string | null, };

/**
 * Public settings of a meeting.
 */
export type MeetingSettings = { 
/**
 * Arrivals wait in the lobby.
 */
lobby: boolean, 
/**
 * A passcode is needed to join.
 */
passcode_required: boolean, 
/**
 * Guests may ask to join.
 */
guests_allowed: boolean, 
/**
 * Nobody new may ask to join.
 */
locked: boolean, };

/**
 * A meeting as anyone holding its id sees it: the id is the capability.
 */
export type Meeting = { 
/**
 * Opaque id (128 random bits).
 */
id: MeetingId, 
/**
 * Settings.
 */
settings: MeetingSettings, 
/**
 * Encrypted title/description blob, base64, if any.
 */
encrypted_info: string | null, 
/**
 * When it was made.
 */
created_at: number, 
/**
 * When a host or an order ended it; it cannot be joined after that.
 */
ended_at: number | null, };

/**
 * `GET /healthz`.
 */
export type Health = { 
/**
 * `ok` when the server can reach its database.
 */
status: string, 
/**
 * Server version.
 */
version: string, };

/**
 * `POST /api/v1/chat/reports/verify`: the opening of a reported chat message. Binary fields
 * are standard base64.
 */
export type ChatReportOpening = { 
/**
 * The reported plaintext.
 */
plaintext: string, 
/**
 * The sender's franking key for it (32 bytes), from inside the MLS message.
 */
franking_key: string, 
/**
 * The commitment that came beside the message (32 bytes).
 */
commitment: string, 
/**
 * The server's tag that came with the message (32 bytes).
 */
tag: string, 
/**
 * The account the server named as sender (`guest:<participant>` for a guest).
 */
sender_account_id: string, 
/**
 * The meeting it was sent in.
 */
meeting_id: string, 
/**
 * The time the server relayed it, Unix milliseconds.
 */
timestamp: number, };

/**
 * The answer to a report verification.
 */
export type ChatReportVerdict = { 
/**
 * True only if the opening matches the commitment and the server's tag.
 */
verified: boolean, 
/**
 * Who sent it, when it verifies.
 */
sender_account_id: string | null, 
/**
 * Why it does not verify.
 */
reason: string | null, };

/**
 * Bytes on the wire as standard base64 with padding (MLS messages, commitments, tags).
 *
 * Decoding refuses anything but canonical standard base64; the size is bounded by the
 * message it arrives in.
 */
export type Base64Bytes = string;

/**
 * The server's announcement that a participant may be added to the meeting's MLS group: a
 * client accepts an Add only for an announced admission whose credential key matches the
 * key directory (or a guest).
 */
export type MlsAdmission = { 
/**
 * Who.
 */
participant_id: ParticipantId, 
/**
 * Their account, or none for a guest.
 */
account_id: AccountId | null, };

/**
 * How a client proves who it is in `hello`.
 */
export type HelloAuth = { "kind": "token", 
/**
 * The bearer token.
 */
token: string, } | { "kind": "guest", 
/**
 * 1 to 64 characters.
 */
display_name: string, };

/**
 * Messages from a client to the server.
 */
export type ClientMessage = { "type": "hello", 
/**
 * Must equal [`PROTOCOL_VERSION`].
 */
version: number, 
/**
 * Account token or guest name.
 */
auth: HelloAuth, } | { "type": "join", 
/**
 * Which meeting.
 */
meeting_id: MeetingId, 
/**
 * The passcode, if the meeting has one.
 */
passcode?: string | null, } | { "type": "resume", 
/**
 * Which meeting.
 */
meeting_id: MeetingId, 
/**
 * The token from `joined`.
 */
resume_token: string, } | { "type": "admit", 
/**
 * Who.
 */
participant_id: ParticipantId, } | { "type": "deny", 
/**
 * Who.
 */
participant_id: ParticipantId, 
/**
 * Shown to them.
 */
reason: string, } | { "type": "remove", 
/**
 * Who.
 */
participant_id: ParticipantId, 
/**
 * Shown to them.
 */
reason?: string | null, } | { "type": "lock" } | { "type": "unlock" } | { "type": "make_cohost", 
/**
 * Who.
 */
participant_id: ParticipantId, } | { "type": "request_unmute", 
/**
 * Who.
 */
participant_id: ParticipantId, } | { "type": "end_meeting" } | { "type": "raise_hand" } | { "type": "lower_hand" } | { "type": "leave" } | { "type": "ping" } | { "type": "media_offer", 
/**
 * The offer, at most [`MAX_SDP_BYTES`].
 */
sdp: string, } | { "type": "media_answer", 
/**
 * The answer, at most [`MAX_SDP_BYTES`].
 */
sdp: string, } | { "type": "video_preference", 
/**
 * Whose track.
 */
participant_id: ParticipantId, 
/**
 * Camera or screen.
 */
source: MediaSource, 
/**
 * Height in pixels of the largest layer wanted; 0 pauses the track.
 */
max_height: number, } | { "type": "mute", 
/**
 * Who.
 */
participant_id: ParticipantId, 
/**
 * Which sources.
 */
media: Array<MediaSource>, } | { "type": "lift_mute", 
/**
 * Who.
 */
participant_id: ParticipantId, 
/**
 * Which sources.
 */
media: Array<MediaSource>, } | { "type": "mls_group", 
/**
 * TLS-encoded GroupInfo.
 */
group_info: Base64Bytes, 
/**
 * TLS-encoded ratchet tree.
 */
ratchet_tree: Base64Bytes, } | { "type": "mls_key_package", 
/**
 * TLS-encoded KeyPackage (MLSMessage).
 */
key_package: Base64Bytes, } | { "type": "mls_commit", 
/**
 * The epoch the commit starts from.
 */
epoch: number, 
/**
 * TLS-encoded MLSMessage holding the commit.
 */
commit: Base64Bytes, 
/**
 * TLS-encoded Welcome, if the commit adds members.
 */
welcome?: Base64Bytes | null, } | { "type": "chat_send", 
/**
 * TLS-encoded MLSMessage (application).
 */
message: Base64Bytes, 
/**
 * HMAC-SHA256 commitment to the plaintext (32 bytes).
 */
commitment: Base64Bytes, };

/**
 * A participant's powers in a meeting.
 */
export type Role = "host" | "cohost" | "participant";

/**
 * One seated participant, as the roster shows them.
 */
export type Participant = { 
/**
 * Id in this meeting.
 */
id: ParticipantId, 
/**
 * Signed-in account, or none for a guest.
 */
account_id: AccountId | null, 
/**
 * Name to show.
 */
display_name: string, 
/**
 * True for guests; clients show them as such.
 */
guest: boolean, 
/**
 * Powers.
 */
role: Role, 
/**
 * Hand raised.
 */
hand_raised: boolean, 
/**
 * False while the connection is dropped and the seat is held for a resume.
 */
connected: boolean, 
/**
 * Sources a host has muted at the SFU; nothing of these is forwarded.
 */
host_muted: Array<MediaSource>, };

/**
 * What a media track carries.
 */
export type MediaSource = "audio" | "video" | "screen";

/**
 * One remote track a subscriber receives, so it can tell whose media arrives on which `mid`.
 */
export type TrackInfo = { 
/**
 * The SDP media id the track arrives on in this subscriber's session.
 */
mid: string, 
/**
 * Whose track.
 */
participant_id: ParticipantId, 
/**
 * What it carries.
 */
source: MediaSource, };

/**
 * One person waiting in the lobby, as hosts see them.
 */
export type LobbyEntry = { 
/**
 * Id to admit or deny.
 */
id: ParticipantId, 
/**
 * Signed-in account, or none for a guest.
 */
account_id: AccountId | null, 
/**
 * Name to show.
 */
display_name: string, 
/**
 * True for guests.
 */
guest: boolean, 
/**
 * True if a host removed them earlier in this meeting.
 */
previously_removed: boolean, };

/**
 * Why a participant left the roster.
 */
export type LeaveReason = "left" | "removed" | "timed_out";

/**
 * Why the meeting ended.
 */
export type EndReason = "ended_by_host" | "order";

/**
 * The order under which oversight staff ended a meeting: enough for a
 * client to check it against the public transparency log without trusting
 * the server.
 */
export type EndOrder = { 
/**
 * The quorum certificate's canonical bytes, base64.
 */
certificate: string, 
/**
 * Where the `oversight.execution` entry is in the log.
 */
ledger_index: number, 
/**
 * The inclusion proof of that entry in `checkpoint`, base64 hashes,
 * lowest sibling first.
 */
inclusion_proof: Array<string>, 
/**
 * The signed checkpoint note the proof leads to.
 */
checkpoint: string, };

/**
 * Where the appeal of a notice stands.
 */
export type NoticeAppeal = { 
/**
 * `pending`, `upheld` or `overturned`.
 */
state: string, 
/**
 * The reviewers' reasons, once decided.
 */
reasons: string | null, 
/**
 * What an overturning changed, or why it could change nothing.
 */
effect: string | null, };

/**
 * What the subject of an oversight action receives (issue #5): over REST
 * (`GET /api/v1/notices`) and, while connected, as [`ServerMessage::Notice`].
 * The proof lets the client check against the public log, without trusting
 * the server, that the action is recorded.
 */
export type OversightNotice = { 
/**
 * The request id (64 hex digits).
 */
request: string, 
/**
 * The action's name, e.g. `end_meeting`.
 */
action: string, 
/**
 * The statement of reasons, as filed.
 */
reasons: string, 
/**
 * Where the entry that shows the action (its execution, or for a
 * delayed disclosure its opening) is in the log.
 */
ledger_index: number, 
/**
 * The inclusion proof of that entry in `checkpoint`, base64 hashes,
 * lowest sibling first.
 */
inclusion_proof: Array<string>, 
/**
 * The signed checkpoint note the proof leads to.
 */
checkpoint: string, 
/**
 * When the notice was issued, Unix seconds.
 */
issued_at: number, 
/**
 * The subject's one appeal, once filed.
 */
appeal: NoticeAppeal | null, };

/**
 * Stable error codes of [`ServerMessage::Error`].
 */
export type ErrorCode = "malformed_message" | "unknown_message_type" | "message_too_large" | "unsupported_version" | "unauthenticated" | "invalid_state" | "forbidden" | "not_found" | "meeting_ended" | "meeting_locked" | "guests_not_allowed" | "wrong_passcode" | "rate_limited" | "resume_failed" | "shutting_down" | "media_rejected" | "mls_rejected";

/**
 * Messages from the server to a client.
 */
export type ServerMessage = { "type": "welcome", 
/**
 * The server's protocol version.
 */
version: number, 
/**
 * The signed-in account, or none for a guest.
 */
account_id: AccountId | null, 
/**
 * The name others will see.
 */
display_name: string, } | { "type": "waiting", 
/**
 * Which meeting.
 */
meeting_id: MeetingId, 
/**
 * Your id, as hosts see it.
 */
participant_id: ParticipantId, } | { "type": "joined", 
/**
 * Which meeting.
 */
meeting_id: MeetingId, 
/**
 * Your id.
 */
participant_id: ParticipantId, 
/**
 * Your powers.
 */
role: Role, 
/**
 * Send this in `resume` after a dropped connection.
 */
resume_token: string, 
/**
 * Everyone seated, you included.
 */
roster: Array<Participant>, 
/**
 * Whether the meeting is locked.
 */
locked: boolean, } | { "type": "denied", 
/**
 * Their reason.
 */
reason: string, } | { "type": "removed", 
/**
 * Their reason, if given.
 */
reason: string | null, } | { "type": "meeting_ended", 
/**
 * Why.
 */
reason: EndReason, 
/**
 * The order, when the reason is [`EndReason::Order`].
 */
order: EndOrder | null, } | { "type": "participant_joined", 
/**
 * Who.
 */
participant: Participant, } | { "type": "participant_updated", 
/**
 * Their new state.
 */
participant: Participant, } | { "type": "participant_left", 
/**
 * Who.
 */
participant_id: ParticipantId, 
/**
 * Why.
 */
reason: LeaveReason, } | { "type": "lobby_updated", 
/**
 * Everyone waiting, longest first.
 */
waiting: Array<LobbyEntry>, } | { "type": "lock_changed", 
/**
 * New state.
 */
locked: boolean, } | { "type": "unmute_requested", 
/**
 * Which host.
 */
by: ParticipantId, } | { "type": "pong" } | { "type": "media_offer", 
/**
 * The offer.
 */
sdp: string, } | { "type": "media_answer", 
/**
 * The answer.
 */
sdp: string, } | { "type": "media_tracks", 
/**
 * The tracks.
 */
tracks: Array<TrackInfo>, } | { "type": "active_speakers", 
/**
 * Who.
 */
participant_ids: Array<ParticipantId>, } | { "type": "mls_create", 
/**
 * The MLS group id.
 */
group_id: Base64Bytes, 
/**
 * The server's Ed25519 external-sender public key (32 bytes).
 */
server_key: Base64Bytes, } | { "type": "mls_admitted", 
/**
 * Who.
 */
participant_id: ParticipantId, 
/**
 * Their account, or none for a guest.
 */
account_id: AccountId | null, } | { "type": "mls_proposal", 
/**
 * The proposal.
 */
message: Base64Bytes, } | { "type": "mls_commit", 
/**
 * TLS-encoded MLSMessage holding the commit.
 */
message: Base64Bytes, } | { "type": "mls_commit_accepted", 
/**
 * The new epoch.
 */
epoch: number, } | { "type": "mls_commit_refused", 
/**
 * Why.
 */
reason: string, 
/**
 * The group's epoch at the server.
 */
current_epoch: number, } | { "type": "mls_welcome", 
/**
 * TLS-encoded Welcome.
 */
welcome: Base64Bytes, 
/**
 * TLS-encoded ratchet tree.
 */
ratchet_tree: Base64Bytes, 
/**
 * The server's external-sender public key the group must carry (32 bytes).
 */
server_key: Base64Bytes, 
/**
 * Everyone seated or about to be added, for checking the tree's members.
 */
admissions: Array<MlsAdmission>, } | { "type": "chat", 
/**
 * TLS-encoded MLSMessage (application).
 */
message: Base64Bytes, 
/**
 * The sender's commitment to the plaintext.
 */
commitment: Base64Bytes, 
/**
 * The server's franking tag over commitment, sender account, meeting and time.
 */
tag: Base64Bytes, 
/**
 * The sender's account, or none for a guest.
 */
sender_account_id: AccountId | null, 
/**
 * When the server relayed it, Unix milliseconds.
 */
timestamp: number, } | { "type": "notice", 
/**
 * The notice.
 */
notice: OversightNotice, } | { "type": "error", 
/**
 * Stable code.
 */
code: ErrorCode, 
/**
 * What went wrong.
 */
message: string, };

