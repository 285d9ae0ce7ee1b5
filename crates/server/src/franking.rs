//! The server's franking key (issue #4, DESIGN.md T5) and the report verification call.
//!
//! The key tags every relayed chat commitment together with the sender's account, the
//! meeting and the time; a report's opening verifies only against the same key, so it lives
//! in the data directory (one base64 line, created once with mode 0600, refused if others
//! may read it) and survives restarts. Without a data directory (PostgreSQL mode) it is kept
//! in memory, and reports of messages sent before a restart no longer verify.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use axum::extract::State;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use e2ee::franking::{
    self, Commitment, FrankingKey, FrankingTag, ServerFrankingKey, Timestamp, FRANKING_KEY_LEN,
};
use proto::rest::{ChatReportOpening, ChatReportVerdict};

use crate::api::error::{ApiError, ApiJson};
use crate::auth::Caller;
use crate::state::AppState;

/// Name of the key file in the data directory (SQLite mode).
pub const FRANKING_KEY_FILE: &str = "franking.key";

/// Why the franking key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrankingKeyError {
    /// Reading, creating or writing the file failed.
    #[error("franking key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is readable or writable by group or others.
    #[error("franking key file {path} has mode {mode:o}; it must be readable by its owner only (chmod 600)")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file does not hold one base64 line of 32 bytes.
    #[error("franking key file {path} does not hold the base64 of a 32-byte key")]
    Malformed {
        /// The file.
        path: PathBuf,
    },
}

/// The key in `data_dir` (created if missing), or a fresh in-memory key without a data dir.
pub fn load_or_create(data_dir: Option<&Path>) -> Result<ServerFrankingKey, FrankingKeyError> {
    let Some(dir) = data_dir else {
        return Ok(ServerFrankingKey::generate(&mut rand::rngs::OsRng));
    };
    let path = dir.join(FRANKING_KEY_FILE);
    let io = |source| FrankingKeyError::Io {
        path: path.clone(),
        source,
    };
    match std::fs::metadata(&path) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(FrankingKeyError::Permissions { path, mode });
            }
            let text = std::fs::read_to_string(&path).map_err(io)?;
            let secret = BASE64
                .decode(text.trim())
                .ok()
                .and_then(|bytes| <[u8; FRANKING_KEY_LEN]>::try_from(bytes).ok())
                .ok_or_else(|| FrankingKeyError::Malformed { path: path.clone() })?;
            Ok(ServerFrankingKey::from_bytes(secret))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut secret = [0u8; FRANKING_KEY_LEN];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
            // create_new: two servers starting at once cannot both write a key.
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(io)?;
            writeln!(file, "{}", BASE64.encode(secret)).map_err(io)?;
            file.sync_all().map_err(io)?;
            Ok(ServerFrankingKey::from_bytes(secret))
        }
        Err(e) => Err(io(e)),
    }
}

/// `POST /api/v1/chat/reports/verify`: checks a reported chat message's opening.
///
/// Signed-in accounts only (reports come from members who read the message). Answers
/// `verified: false` with the reason for a tampered message, a wrong key or a forged tag,
/// and the sender's account when it verifies.
#[utoipa::path(
    post,
    path = "/api/v1/chat/reports/verify",
    tag = "chat",
    request_body = ChatReportOpening,
    responses(
        (status = 200, description = "Whether the opening verifies, and who sent it", body = ChatReportVerdict),
        (status = 400, description = "A field is not well-formed", body = proto::rest::ErrorBody),
        (status = 401, description = "Not signed in", body = proto::rest::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn verify_report(
    State(state): State<AppState>,
    _reporter: Caller,
    ApiJson(opening): ApiJson<ChatReportOpening>,
) -> Result<ApiJson<ChatReportVerdict>, ApiError> {
    let report = parse_opening(&opening)?;
    Ok(ApiJson(match state.franking.verify(report) {
        Ok(evidence) => ChatReportVerdict {
            verified: true,
            sender_account_id: Some(evidence.sender().as_str().to_owned()),
            reason: None,
        },
        Err(e) => ChatReportVerdict {
            verified: false,
            sender_account_id: None,
            reason: Some(e.to_string()),
        },
    }))
}

/// Reads a report's opening, naming the field at fault.
pub(crate) fn parse_opening(opening: &ChatReportOpening) -> Result<franking::Report, ApiError> {
    let bytes = |name: &str, text: &str| -> Result<[u8; FRANKING_KEY_LEN], ApiError> {
        BASE64
            .decode(text)
            .ok()
            .and_then(|b| <[u8; FRANKING_KEY_LEN]>::try_from(b).ok())
            .ok_or_else(|| {
                ApiError::invalid(
                    "invalid_report",
                    format!("{name} must be base64 of 32 bytes"),
                )
            })
    };
    let plaintext = BASE64
        .decode(&opening.plaintext)
        .map_err(|_| ApiError::invalid("invalid_report", "plaintext must be base64"))?;
    if plaintext.len() > franking::MAX_PLAINTEXT_LEN {
        return Err(ApiError::invalid(
            "invalid_report",
            format!(
                "plaintext is {} bytes; the limit is {}",
                plaintext.len(),
                franking::MAX_PLAINTEXT_LEN
            ),
        ));
    }
    let key = FrankingKey::from_bytes(bytes("franking_key", &opening.franking_key)?);
    let commitment = Commitment::from_bytes(bytes("commitment", &opening.commitment)?);
    let tag = FrankingTag::from_bytes(bytes("tag", &opening.tag)?);
    let sender = franking::AccountId::new(opening.sender_account_id.as_str())
        .map_err(|e| ApiError::invalid("invalid_report", format!("sender_account_id: {e}")))?;
    let meeting = franking::MeetingId::new(opening.meeting_id.as_str())
        .map_err(|e| ApiError::invalid("invalid_report", format!("meeting_id: {e}")))?;
    Ok(franking::Report {
        plaintext,
        franking_key: key,
        commitment,
        tag,
        sender,
        meeting,
        timestamp: Timestamp::from_unix_millis(opening.timestamp),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_with_0600_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(Some(dir.path())).unwrap();
        let mode = std::fs::metadata(dir.path().join(FRANKING_KEY_FILE))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let again = load_or_create(Some(dir.path())).unwrap();
        let (account, meeting) = (
            franking::AccountId::new("a").unwrap(),
            franking::MeetingId::new("m").unwrap(),
        );
        let c = Commitment::from_bytes([1; 32]);
        let t = Timestamp::from_unix_millis(5);
        assert!(first.tag(&c, &account, &meeting, t) == again.tag(&c, &account, &meeting, t));
        std::fs::set_permissions(
            dir.path().join(FRANKING_KEY_FILE),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        assert!(matches!(
            load_or_create(Some(dir.path())),
            Err(FrankingKeyError::Permissions { .. })
        ));
    }
}
