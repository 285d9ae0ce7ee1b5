//! Conclave's durable state behind one interface, [`Store`], with two backends:
//! embedded SQLite (the default, WAL mode, one file in the data directory) and
//! PostgreSQL (for more than one box). Both run the same SQL through sqlx's
//! `Any` driver; only the migrations differ (`migrations/sqlite`, `migrations/postgres`).
//!
//! Invariants:
//! - nothing stored is meeting content, attendance or a network address: the
//!   schema has no column that could hold one, and the server's privacy test
//!   scans the data directory to prove it;
//! - bearer tokens are stored only as SHA-256 hashes, passwords and passcodes
//!   only as Argon2id hashes (hashing happens in the caller);
//! - the identity-key directory is append-only: there is no method that
//!   updates or deletes a key record;
//! - the transparency log's tables (`ledger_entries`, `ledger_checkpoints`)
//!   are append-only: no method updates or deletes their rows, and database
//!   triggers refuse UPDATE and DELETE on both backends;
//! - the private copy of an oversight request filed under a notice delay is
//!   written once and never changed (`oversight_sealed_requests`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), storage::StoreError> {
//! let store = storage::Store::open_sqlite_dir(std::path::Path::new("./conclave-data")).await?;
//! assert!(store.ping().await.is_ok());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod ledger;
mod records;
mod sealed;

use std::path::Path;
use std::str::FromStr;

use proto::ids::{AccountId, MeetingId};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor, Row};

pub use ledger::{
    LedgerCheckpointRow, LedgerEntryRow, LedgerPage, NewLedgerCheckpoint, NewLedgerEntry,
};
pub use records::{AccountRecord, IdentityKeyRow, MeetingChange, MeetingRecord, NewAccountRecord};

/// Name of the SQLite file inside the data directory.
pub const SQLITE_FILE: &str = "conclave.db";

/// What went wrong in storage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database URL is not `sqlite:` or `postgres:`.
    #[error("unsupported database URL scheme {0:?}: use sqlite:// or postgres://")]
    UnsupportedUrl(String),
    /// Could not connect or open the database file.
    #[error("cannot open the database: {0}")]
    Open(#[source] sqlx::Error),
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A uniqueness rule was broken, e.g. the username is taken.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// A value in the database does not have the expected form.
    #[error("stored {column} is invalid: {detail}")]
    Corrupt {
        /// Which column.
        column: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Which database is behind a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// All durable state. Cheap to clone (a connection pool).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Opens (creating if needed) `conclave.db` in `dir` and migrates it.
    pub async fn open_sqlite_dir(dir: &Path) -> Result<Store, StoreError> {
        let url = format!("sqlite://{}?mode=rwc", dir.join(SQLITE_FILE).display());
        Store::open(&url).await
    }

    /// Opens a `sqlite://` or `postgres://` URL and runs the migrations.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            let scheme = url.split(':').next().unwrap_or_default();
            return Err(StoreError::UnsupportedUrl(scheme.to_owned()));
        };
        let options = AnyConnectOptions::from_str(url).map_err(StoreError::Open)?;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 16 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the writer; FULL sync makes
                        // a commit survive power loss, not just a crash.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .map_err(StoreError::Open)?;
        match backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("migrations/postgres").run(&pool).await?,
        }
        Ok(Store { pool, backend })
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool, waiting for open statements to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Creates an account; [`StoreError::Conflict`] if the username is taken.
    pub async fn create_account(&self, account: &NewAccountRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO accounts (id, username, password_hash, region, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(account.id.as_str())
        .bind(&account.username)
        .bind(&account.password_hash)
        .bind(account.region.as_deref())
        .bind(account.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| unique_to_conflict(e, "username"))?;
        Ok(())
    }

    /// The account with this username, if any.
    pub async fn account_by_username(
        &self,
        username: &str,
    ) -> Result<Option<AccountRecord>, StoreError> {
        let row = sqlx::query(&format!("{ACCOUNT_SELECT} WHERE username = $1"))
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| AccountRecord::from_row(&r)).transpose()
    }

    /// The account with this id, if any.
    pub async fn account(&self, id: &AccountId) -> Result<Option<AccountRecord>, StoreError> {
        let row = sqlx::query(&format!("{ACCOUNT_SELECT} WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| AccountRecord::from_row(&r)).transpose()
    }

    /// Marks an account suspended since `at`, or lifts it with `None`.
    /// Returns whether the account exists.
    pub async fn set_suspended(&self, id: &AccountId, at: Option<i64>) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE accounts SET suspended_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Whether an account is suspended.
    pub async fn is_suspended(&self, id: &AccountId) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT suspended_at FROM accounts WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => sqlx::Row::try_get::<Option<i64>, _>(&row, "suspended_at")?.is_some(),
            None => false,
        })
    }

    /// Sets or clears the display name.
    pub async fn set_display_name(
        &self,
        id: &AccountId,
        display_name: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE accounts SET display_name = $1 WHERE id = $2")
            .bind(display_name)
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Sets or clears the avatar (already validated and re-encoded by the caller).
    pub async fn set_avatar(
        &self,
        id: &AccountId,
        avatar: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE accounts SET avatar = $1 WHERE id = $2")
            .bind(avatar)
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The avatar image, if one was uploaded.
    pub async fn avatar(&self, id: &AccountId) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT avatar FROM accounts WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => row.try_get::<Option<Vec<u8>>, _>("avatar")?,
            None => None,
        })
    }

    /// Stores a session (by the hash of its token).
    pub async fn create_session(
        &self,
        token_hash: &[u8; 32],
        account: &AccountId,
        created_at: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&token_hash[..])
        .bind(account.as_str())
        .bind(created_at)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(|e| unique_to_conflict(e, "session"))?;
        Ok(())
    }

    /// The account of an unexpired session, if the hash is known.
    pub async fn session_account(
        &self,
        token_hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<AccountId>, StoreError> {
        // A suspended account's tokens stop working at once.
        let row = sqlx::query(
            "SELECT s.account_id FROM sessions s JOIN accounts a ON a.id = s.account_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND a.suspended_at IS NULL",
        )
        .bind(&token_hash[..])
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| records::account_id(&r, "account_id"))
            .transpose()
    }

    /// The account of an unexpired session even if it is suspended: only for
    /// reading the notices of the action against it and appealing it.
    pub async fn session_account_for_notices(
        &self,
        token_hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<AccountId>, StoreError> {
        let row = sqlx::query(
            "SELECT account_id FROM sessions WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(&token_hash[..])
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| records::account_id(&r, "account_id"))
            .transpose()
    }

    /// Ends a session. Returns whether it existed.
    pub async fn delete_session(&self, token_hash: &[u8; 32]) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(&token_hash[..])
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Forgets sessions that expired before `now`. Returns how many.
    pub async fn delete_expired_sessions(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Appends a new identity key for the account and returns its record.
    /// Earlier keys stay: the directory is a history, not a current value.
    pub async fn append_identity_key(
        &self,
        account: &AccountId,
        public_key: &[u8; 32],
        created_at: i64,
    ) -> Result<IdentityKeyRow, StoreError> {
        // Two concurrent changes may pick the same next version; the primary
        // key refuses the second, which then retries with the next number.
        for _ in 0..3 {
            let inserted = sqlx::query(
                "INSERT INTO identity_keys (account_id, version, public_key, created_at) \
                 SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3 FROM identity_keys WHERE account_id = $1 \
                 RETURNING version",
            )
            .bind(account.as_str())
            .bind(&public_key[..])
            .bind(created_at)
            .fetch_one(&self.pool)
            .await;
            match inserted {
                Ok(row) => {
                    return Ok(IdentityKeyRow {
                        account_id: account.clone(),
                        version: row.try_get::<i64, _>("version")?,
                        public_key: *public_key,
                        created_at,
                    })
                }
                Err(e) if is_unique_violation(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict("identity key version"))
    }

    /// Every identity key the account has had, oldest first.
    pub async fn identity_keys(
        &self,
        account: &AccountId,
    ) -> Result<Vec<IdentityKeyRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT account_id, version, public_key, created_at FROM identity_keys \
             WHERE account_id = $1 ORDER BY version",
        )
        .bind(account.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(IdentityKeyRow::from_row).collect()
    }

    /// Stores a new meeting; [`StoreError::Conflict`] if the id exists.
    pub async fn create_meeting(&self, meeting: &MeetingRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO meetings (id, host_account_id, lobby, guests_allowed, locked, passcode_hash, \
             encrypted_info, created_at, ended_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(meeting.id.as_str())
        .bind(meeting.host.as_str())
        .bind(i64::from(meeting.lobby))
        .bind(i64::from(meeting.guests_allowed))
        .bind(i64::from(meeting.locked))
        .bind(meeting.passcode_hash.as_deref())
        .bind(meeting.encrypted_info.as_deref())
        .bind(meeting.created_at)
        .bind(meeting.ended_at)
        .execute(&self.pool)
        .await
        .map_err(|e| unique_to_conflict(e, "meeting"))?;
        Ok(())
    }

    /// The meeting with this id, if any.
    pub async fn meeting(&self, id: &MeetingId) -> Result<Option<MeetingRecord>, StoreError> {
        let row = sqlx::query(&format!("{MEETING_SELECT} WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| MeetingRecord::from_row(&r)).transpose()
    }

    /// Meetings the account hosts, newest first (at most `limit`).
    pub async fn meetings_hosted_by(
        &self,
        host: &AccountId,
        limit: i64,
    ) -> Result<Vec<MeetingRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "{MEETING_SELECT} WHERE host_account_id = $1 ORDER BY created_at DESC, id LIMIT $2"
        ))
        .bind(host.as_str())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(MeetingRecord::from_row).collect()
    }

    /// Applies the given changes to a meeting's settings. Returns whether it exists.
    pub async fn update_meeting(
        &self,
        id: &MeetingId,
        change: &MeetingChange,
    ) -> Result<bool, StoreError> {
        let (set_passcode, passcode) = match &change.passcode_hash {
            Some(hash) => (1_i64, hash.as_deref()),
            None => (0, None),
        };
        let done = sqlx::query(
            "UPDATE meetings SET lobby = COALESCE($1, lobby), guests_allowed = COALESCE($2, guests_allowed), \
             locked = COALESCE($3, locked), \
             passcode_hash = CASE WHEN $4 = 1 THEN $5 ELSE passcode_hash END, \
             encrypted_info = COALESCE($6, encrypted_info) WHERE id = $7",
        )
        .bind(change.lobby.map(i64::from))
        .bind(change.guests_allowed.map(i64::from))
        .bind(change.locked.map(i64::from))
        .bind(set_passcode)
        .bind(passcode)
        .bind(change.encrypted_info.as_deref())
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Marks a meeting ended at `at` (the first end wins). Returns whether it was open.
    pub async fn end_meeting(&self, id: &MeetingId, at: i64) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE meetings SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL")
                .bind(at)
                .bind(id.as_str())
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() > 0)
    }
}

const ACCOUNT_SELECT: &str = "SELECT id, username, password_hash, display_name, region, \
     CAST(CASE WHEN avatar IS NULL THEN 0 ELSE 1 END AS BIGINT) AS has_avatar, created_at FROM accounts";

const MEETING_SELECT: &str =
    "SELECT id, host_account_id, lobby, guests_allowed, locked, passcode_hash, \
     encrypted_info, created_at, ended_at FROM meetings";

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

fn unique_to_conflict(e: sqlx::Error, what: &'static str) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::Conflict(what)
    } else {
        StoreError::Database(e)
    }
}
