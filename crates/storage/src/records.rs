//! Rows as the rest of the server sees them.

use proto::ids::{AccountId, MeetingId};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::StoreError;

/// A new account to insert.
#[derive(Debug, Clone)]
pub struct NewAccountRecord {
    /// Random id.
    pub id: AccountId,
    /// Lowercase login name.
    pub username: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// The country the holder declared (ISO 3166-1 alpha-2, validated by the caller);
    /// `None` for the server's default region.
    pub region: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
}

/// A stored account (without the avatar bytes).
#[derive(Clone)]
pub struct AccountRecord {
    /// Id.
    pub id: AccountId,
    /// Lowercase login name.
    pub username: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Display name, if set.
    pub display_name: Option<String>,
    /// The country the holder declared; `None` for the server's default region.
    pub region: Option<String>,
    /// Whether an avatar is stored.
    pub has_avatar: bool,
    /// Unix seconds.
    pub created_at: i64,
}

// Hand-written so that a stray `{:?}` cannot put a password hash or a
// person's name into a log line.
impl std::fmt::Debug for AccountRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRecord")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl AccountRecord {
    pub(crate) fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        Ok(AccountRecord {
            id: account_id(row, "id")?,
            username: row.try_get("username")?,
            password_hash: row.try_get("password_hash")?,
            display_name: row.try_get("display_name")?,
            region: row.try_get("region")?,
            has_avatar: row.try_get::<i64, _>("has_avatar")? != 0,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// One key-directory record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityKeyRow {
    /// Whose key.
    pub account_id: AccountId,
    /// 1, 2, 3... per account.
    pub version: i64,
    /// Ed25519 public key.
    pub public_key: [u8; 32],
    /// Unix seconds.
    pub created_at: i64,
}

impl IdentityKeyRow {
    pub(crate) fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        let key: Vec<u8> = row.try_get("public_key")?;
        let public_key = key.try_into().map_err(|k: Vec<u8>| StoreError::Corrupt {
            column: "identity_keys.public_key",
            detail: format!("{} bytes, expected 32", k.len()),
        })?;
        Ok(IdentityKeyRow {
            account_id: account_id(row, "account_id")?,
            version: row.try_get("version")?,
            public_key,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// A stored meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingRecord {
    /// Opaque id.
    pub id: MeetingId,
    /// The account that made it; it is host whenever it joins.
    pub host: AccountId,
    /// Lobby on.
    pub lobby: bool,
    /// Guests may ask to join.
    pub guests_allowed: bool,
    /// Nobody new may ask to join.
    pub locked: bool,
    /// Argon2id PHC string of the passcode.
    pub passcode_hash: Option<String>,
    /// Client-encrypted title/description.
    pub encrypted_info: Option<Vec<u8>>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds, once ended.
    pub ended_at: Option<i64>,
}

impl MeetingRecord {
    pub(crate) fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        let id: String = row.try_get("id")?;
        Ok(MeetingRecord {
            id: id.parse().map_err(|e| StoreError::Corrupt {
                column: "meetings.id",
                detail: format!("{e}"),
            })?,
            host: account_id(row, "host_account_id")?,
            lobby: row.try_get::<i64, _>("lobby")? != 0,
            guests_allowed: row.try_get::<i64, _>("guests_allowed")? != 0,
            locked: row.try_get::<i64, _>("locked")? != 0,
            passcode_hash: row.try_get("passcode_hash")?,
            encrypted_info: row.try_get("encrypted_info")?,
            created_at: row.try_get("created_at")?,
            ended_at: row.try_get("ended_at")?,
        })
    }
}

/// Changes to a meeting's settings; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct MeetingChange {
    /// Lobby on or off.
    pub lobby: Option<bool>,
    /// Guests allowed.
    pub guests_allowed: Option<bool>,
    /// Locked.
    pub locked: Option<bool>,
    /// `Some(None)` removes the passcode, `Some(Some(hash))` sets it.
    pub passcode_hash: Option<Option<String>>,
    /// New encrypted title/description.
    pub encrypted_info: Option<Vec<u8>>,
}

pub(crate) fn account_id(row: &AnyRow, column: &'static str) -> Result<AccountId, StoreError> {
    let raw: String = row.try_get(column)?;
    raw.parse().map_err(|e| StoreError::Corrupt {
        column,
        detail: format!("{e}"),
    })
}
