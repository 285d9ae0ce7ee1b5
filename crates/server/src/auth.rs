//! Passwords, passcodes and bearer tokens.
//!
//! Passwords and passcodes are hashed with Argon2id (RustCrypto `argon2`,
//! default parameters: 19 MiB, 2 passes) on the blocking pool. Tokens are 256
//! random bits; only their SHA-256 is stored, so a database leak yields no
//! usable session.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use proto::ids::AccountId;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::api::error::ApiError;
use crate::state::AppState;

/// Longest `Authorization` header value we look at.
const MAX_AUTHORIZATION_BYTES: usize = 256;

/// Hashes a secret with Argon2id and a fresh salt, off the async threads.
pub async fn hash_secret(secret: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default()
            .hash_password(secret.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)
}

/// Checks a secret against a stored Argon2 hash, off the async threads.
/// With `None` it still spends the same work, so that timing does not reveal
/// whether a username exists.
pub async fn verify_secret(secret: String, stored: Option<String>) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        let hash = PasswordHash::new(&stored).map_err(|e| e.to_string())?;
        Ok::<bool, String>(
            Argon2::default()
                .verify_password(secret.as_bytes(), &hash)
                .is_ok(),
        )
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)
}

static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(b"no such account", &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
});

/// `N` bytes from the operating system's CSPRNG, for ids and secrets.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

/// 256 random bits as URL-safe base64: session and resume tokens.
pub fn random_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// A fresh bearer token and the hash to store.
pub fn new_token() -> (String, [u8; 32]) {
    let token = random_token();
    let hash = token_hash(&token);
    (token, hash)
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Looks up the account of a token; `None` if unknown, expired or malformed.
pub async fn account_for_token(
    state: &AppState,
    token: &str,
) -> Result<Option<AccountId>, ApiError> {
    if token.is_empty() || token.len() > 64 {
        return Ok(None);
    }
    Ok(state
        .store
        .session_account(&token_hash(token), crate::unix_now())
        .await?)
}

/// The caller of an endpoint that needs `Authorization: Bearer <token>`.
pub struct Caller {
    /// Whose token it is.
    pub account: AccountId,
    /// The token's hash (to log out).
    pub token_hash: [u8; 32],
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthenticated("missing Authorization: Bearer <token>"))?;
        if header.len() > MAX_AUTHORIZATION_BYTES {
            return Err(ApiError::unauthenticated(
                "Authorization header is too long",
            ));
        }
        let token = header
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::unauthenticated("expected Authorization: Bearer <token>"))?;
        let account = account_for_token(state, token)
            .await?
            .ok_or_else(|| ApiError::unauthenticated("the token is unknown or has expired"))?;
        Ok(Caller {
            account,
            token_hash: token_hash(token),
        })
    }
}
