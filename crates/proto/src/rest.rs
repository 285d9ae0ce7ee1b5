//! Bodies of the HTTP API under `/api/v1`.
//!
//! Requests reject unknown fields so that a typo is an error, not a silently
//! ignored setting. Times are Unix seconds. Binary values are standard base64.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ids::{AccountId, MeetingId};

/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest accepted password, in bytes (bounds the hashing work per request).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 64;
/// Largest encrypted meeting title/description blob, in bytes (after base64 decoding).
pub const MAX_ENCRYPTED_INFO_BYTES: usize = 4096;
/// Largest avatar upload, in bytes.
pub const MAX_AVATAR_BYTES: usize = 256 * 1024;
/// Longest meeting passcode, in bytes.
pub const MAX_PASSCODE_BYTES: usize = 128;

/// Every error response: a stable machine-readable code and a sentence for people.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ErrorBody {
    /// Stable code, e.g. `invalid_credentials`, `payload_too_large`.
    pub error: String,
    /// What went wrong, for a person.
    pub message: String,
}

/// `POST /api/v1/accounts`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(optional_fields = nullable))]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    /// 3 to 32 characters of `a-z`, `0-9`, `.`, `_`, `-`; stored lowercase.
    pub username: String,
    /// At least 12 characters.
    pub password: String,
    /// The country the holder lives in, ISO 3166-1 alpha-2 (e.g. `"DE"`); the server's
    /// default region when absent. It decides which staff may act on the account and on
    /// the meetings it hosts, and an oversight request must name it.
    #[serde(default)]
    pub region: Option<String>,
}

/// An account as its owner sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Account {
    /// Stable account id.
    pub id: AccountId,
    /// Login name.
    pub username: String,
    /// Name shown to others in meetings; the username when unset.
    pub display_name: Option<String>,
    /// Whether an avatar has been uploaded.
    pub has_avatar: bool,
    /// The country declared at registration; null for the server's default region.
    pub region: Option<String>,
    /// When the account was made.
    pub created_at: i64,
}

/// `POST /api/v1/sessions`: log in.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(optional_fields = nullable))]
#[serde(deny_unknown_fields)]
pub struct NewSession {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// A bearer token for `Authorization: Bearer <token>`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Session {
    /// 256 random bits, URL-safe base64. The server keeps only its hash.
    pub token: String,
    /// The account it authenticates.
    pub account_id: AccountId,
    /// After this time the token is refused.
    pub expires_at: i64,
}

/// `PATCH /api/v1/accounts/me`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(optional_fields = nullable))]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    /// New display name (1 to 64 characters, no control characters), or null to clear it.
    pub display_name: Option<String>,
}

/// `PUT /api/v1/accounts/me/identity-key`: register or change the account's identity key.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(optional_fields = nullable))]
#[serde(deny_unknown_fields)]
pub struct IdentityKeyRegistration {
    /// Ed25519 public key, 32 bytes, base64.
    pub public_key: String,
    /// Ed25519 signature, base64, by that key over
    /// `"conclave identity key v1\n" || account id || "\n" || public key bytes`:
    /// proof that the caller holds the private key.
    pub signature: String,
}

/// One entry of the key directory: an account's identity key from `created_at` on.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct IdentityKeyRecord {
    /// Whose key.
    pub account_id: AccountId,
    /// 1 for the first key, incremented by each change.
    pub version: i64,
    /// Ed25519 public key, base64.
    pub public_key: String,
    /// When it was registered.
    pub created_at: i64,
}

/// `POST /api/v1/meetings`. Every field is optional; defaults are the safe ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(optional_fields = nullable))]
#[serde(deny_unknown_fields)]
pub struct NewMeeting {
    /// Whether arrivals wait in the lobby for a host (default true).
    pub lobby: Option<bool>,
    /// Passcode to join (stored hashed); none by default.
    pub passcode: Option<String>,
    /// Whether people without an account may ask to join (default true).
    pub guests_allowed: Option<bool>,
    /// Title and description, encrypted by the client with a key the server
    /// never sees (carried in the invite link's fragment); base64, at most 4 KiB decoded.
    pub encrypted_info: Option<String>,
}

/// `PATCH /api/v1/meetings/{id}`: change settings (host only). Absent fields stay as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(test, derive(ts_rs::TS), ts(optional_fields = nullable))]
#[serde(deny_unknown_fields)]
pub struct MeetingUpdate {
    /// Lobby on or off.
    pub lobby: Option<bool>,
    /// New passcode; an empty string removes it.
    pub passcode: Option<String>,
    /// Guests allowed or not.
    pub guests_allowed: Option<bool>,
    /// Locked: nobody new may ask to join.
    pub locked: Option<bool>,
    /// New encrypted title/description blob.
    pub encrypted_info: Option<String>,
}

/// Public settings of a meeting.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct MeetingSettings {
    /// Arrivals wait in the lobby.
    pub lobby: bool,
    /// A passcode is needed to join.
    pub passcode_required: bool,
    /// Guests may ask to join.
    pub guests_allowed: bool,
    /// Nobody new may ask to join.
    pub locked: bool,
}

/// A meeting as anyone holding its id sees it: the id is the capability.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Meeting {
    /// Opaque id (128 random bits).
    pub id: MeetingId,
    /// Settings.
    pub settings: MeetingSettings,
    /// Encrypted title/description blob, base64, if any.
    pub encrypted_info: Option<String>,
    /// When it was made.
    pub created_at: i64,
    /// When a host or an order ended it; it cannot be joined after that.
    pub ended_at: Option<i64>,
}

/// `GET /healthz`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct Health {
    /// `ok` when the server can reach its database.
    pub status: String,
    /// Server version.
    pub version: String,
}

/// `POST /api/v1/chat/reports/verify`: the opening of a reported chat message. Binary fields
/// are standard base64.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct ChatReportOpening {
    /// The reported plaintext.
    pub plaintext: String,
    /// The sender's franking key for it (32 bytes), from inside the MLS message.
    pub franking_key: String,
    /// The commitment that came beside the message (32 bytes).
    pub commitment: String,
    /// The server's tag that came with the message (32 bytes).
    pub tag: String,
    /// The account the server named as sender (`guest:<participant>` for a guest).
    pub sender_account_id: String,
    /// The meeting it was sent in.
    pub meeting_id: String,
    /// The time the server relayed it, Unix milliseconds.
    pub timestamp: u64,
}

/// The answer to a report verification.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[cfg_attr(test, derive(ts_rs::TS))]
pub struct ChatReportVerdict {
    /// True only if the opening matches the commitment and the server's tag.
    pub verified: bool,
    /// Who sent it, when it verifies.
    pub sender_account_id: Option<String>,
    /// Why it does not verify.
    pub reason: Option<String>,
}
