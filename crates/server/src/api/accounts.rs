//! Accounts, sessions, profiles, avatars and identity keys.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ed25519_dalek::{Signature, VerifyingKey};
use proto::ids::{AccountId, OpaqueId};
use proto::rest::{
    Account, ErrorBody, IdentityKeyRecord, IdentityKeyRegistration, NewAccount, NewSession,
    ProfileUpdate, Session, MAX_AVATAR_BYTES, MAX_DISPLAY_NAME_CHARS, MAX_PASSWORD_BYTES,
    MIN_PASSWORD_CHARS,
};
use storage::{AccountRecord, IdentityKeyRow, NewAccountRecord, StoreError};

use super::error::{ApiError, ApiJson, ApiPath};
use crate::auth::{hash_secret, new_token, random_bytes, verify_secret, Caller};
use crate::avatar;
use crate::ledger::KeyChangeError;
use crate::state::AppState;

/// Context signed by an identity key to prove possession (see [`IdentityKeyRegistration`]).
pub const IDENTITY_KEY_CONTEXT: &[u8] = b"conclave identity key v1\n";

/// Create an account.
#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts",
    request_body = NewAccount,
    responses(
        (status = 201, body = Account),
        (status = 400, body = ErrorBody, description = "bad username or password"),
        (status = 409, body = ErrorBody, description = "username taken"),
        (status = 429, body = ErrorBody, description = "too many attempts from this address"),
    ))]
pub async fn create_account(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<NewAccount>,
) -> Result<(StatusCode, ApiJson<Account>), ApiError> {
    state.check_auth_rate(peer.ip())?;
    let username = clean_username(&body.username)?;
    check_password(&body.password)?;
    let region = body.region.as_deref().map(clean_region).transpose()?;
    let record = NewAccountRecord {
        id: AccountId::from_random(&random_bytes::<16>()),
        username,
        region,
        password_hash: hash_secret(body.password).await?,
        created_at: crate::unix_now(),
    };
    match state.store.create_account(&record).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "username_taken",
                "that username is taken",
            ))
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(account = %record.id, "account created");
    let account = Account {
        id: record.id,
        username: record.username,
        display_name: None,
        has_avatar: false,
        region: record.region,
        created_at: record.created_at,
    };
    Ok((StatusCode::CREATED, ApiJson(account)))
}

/// Log in: trade a username and password for a bearer token.
#[utoipa::path(post, path = "/api/v1/sessions", tag = "sessions",
    request_body = NewSession,
    responses(
        (status = 201, body = Session),
        (status = 401, body = ErrorBody, description = "wrong username or password"),
        (status = 429, body = ErrorBody, description = "too many attempts"),
    ))]
pub async fn create_session(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<NewSession>,
) -> Result<(StatusCode, ApiJson<Session>), ApiError> {
    state.check_auth_rate(peer.ip())?;
    let username = body.username.trim().to_lowercase();
    if username.len() > 64 || body.password.len() > MAX_PASSWORD_BYTES {
        return Err(invalid_credentials());
    }
    state.check_login_allowed(&username)?;
    let account = state.store.account_by_username(&username).await?;
    let stored = account.as_ref().map(|a| a.password_hash.clone());
    let valid = verify_secret(body.password, stored).await?;
    let Some(account) = account.filter(|_| valid) else {
        state.record_login_failure(&username);
        return Err(invalid_credentials());
    };
    if state.store.is_suspended(&account.id).await? {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "account_suspended",
            "this account is suspended under an oversight order; see its notice",
        ));
    }
    let (token, hash) = new_token();
    let now = crate::unix_now();
    let expires_at =
        now.saturating_add(i64::try_from(state.limits.session_ttl.as_secs()).unwrap_or(i64::MAX));
    state
        .store
        .create_session(&hash, &account.id, now, expires_at)
        .await?;
    let session = Session {
        token,
        account_id: account.id,
        expires_at,
    };
    Ok((StatusCode::CREATED, ApiJson(session)))
}

/// Log out: the token stops working at once.
#[utoipa::path(delete, path = "/api/v1/sessions/current", tag = "sessions",
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn delete_session(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<StatusCode, ApiError> {
    state.store.delete_session(&caller.token_hash).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/accounts/me", tag = "accounts",
    security(("bearer" = [])),
    responses((status = 200, body = Account), (status = 401, body = ErrorBody)))]
pub async fn me(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<ApiJson<Account>, ApiError> {
    let record = state
        .store
        .account(&caller.account)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("the account no longer exists"))?;
    Ok(ApiJson(account_view(record)))
}

/// Change the caller's profile.
#[utoipa::path(patch, path = "/api/v1/accounts/me", tag = "accounts",
    security(("bearer" = [])),
    request_body = ProfileUpdate,
    responses((status = 200, body = Account), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn update_me(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ProfileUpdate>,
) -> Result<ApiJson<Account>, ApiError> {
    let name = body
        .display_name
        .as_deref()
        .map(clean_display_name)
        .transpose()
        .map_err(|e| ApiError::invalid("invalid_display_name", e))?;
    state
        .store
        .set_display_name(&caller.account, name.as_deref())
        .await?;
    me(State(state), caller).await
}

/// Upload the caller's avatar: PNG, JPEG or WebP, at most 256 KiB. It is
/// decoded, scaled to at most 256x256 and stored as PNG, which also strips
/// metadata such as a photo's location.
#[utoipa::path(put, path = "/api/v1/accounts/me/avatar", tag = "accounts",
    security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "image/png"),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn put_avatar(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let body = body?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if body.len() > MAX_AVATAR_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("an avatar may be at most {MAX_AVATAR_BYTES} bytes"),
        ));
    }
    let png = tokio::task::spawn_blocking(move || avatar::normalize(&content_type, &body))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| match e {
            avatar::AvatarError::UnsupportedType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                e.to_string(),
            ),
            other => ApiError::invalid("invalid_image", other.to_string()),
        })?;
    state.store.set_avatar(&caller.account, Some(&png)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove the caller's avatar.
#[utoipa::path(delete, path = "/api/v1/accounts/me/avatar", tag = "accounts",
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn delete_avatar(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<StatusCode, ApiError> {
    state.store.set_avatar(&caller.account, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An account's avatar (PNG).
#[utoipa::path(get, path = "/api/v1/accounts/{id}/avatar", tag = "accounts",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "account id")),
    responses((status = 200, content_type = "image/png", body = Vec<u8>),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn avatar(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<AccountId>,
) -> Result<Response, ApiError> {
    let png = state
        .store
        .avatar(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("avatar"))?;
    Ok(([(header::CONTENT_TYPE, "image/png")], png).into_response())
}

/// Register or change the caller's identity key. Every change is first
/// logged in the transparency log's key directory, then kept in the key
/// history; `GET /api/v1/ledger/key-directory/{id}` proves it.
#[utoipa::path(put, path = "/api/v1/accounts/me/identity-key", tag = "accounts",
    security(("bearer" = [])),
    request_body = IdentityKeyRegistration,
    responses((status = 201, body = IdentityKeyRecord), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 503, body = ErrorBody, description = "the transparency log cannot record the change; the key was not stored")))]
pub async fn put_identity_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<IdentityKeyRegistration>,
) -> Result<(StatusCode, ApiJson<IdentityKeyRecord>), ApiError> {
    let key_bytes: [u8; 32] = decode_fixed(&body.public_key, "public_key")?;
    let signature: [u8; 64] = decode_fixed(&body.signature, "signature")?;
    let key = VerifyingKey::from_bytes(&key_bytes)
        .map_err(|_| ApiError::invalid("invalid_key", "public_key is not an Ed25519 point"))?;
    if key.is_weak() {
        return Err(ApiError::invalid(
            "invalid_key",
            "public_key is a weak (small-order) key",
        ));
    }
    let mut signed = IDENTITY_KEY_CONTEXT.to_vec();
    signed.extend_from_slice(caller.account.as_str().as_bytes());
    signed.push(b'\n');
    signed.extend_from_slice(&key_bytes);
    key.verify_strict(&signed, &Signature::from_bytes(&signature))
        .map_err(|_| {
            ApiError::invalid(
                "invalid_signature",
                "signature does not prove possession of the key",
            )
        })?;
    let (row, _) = state
        .ledger
        .register_identity_key(&caller.account, &key_bytes, crate::unix_now())
        .await
        .map_err(|e| match e {
            KeyChangeError::Ledger(e) => super::ledger::unavailable(e),
            KeyChangeError::Store(e) => e.into(),
        })?;
    tracing::info!(account = %caller.account, version = row.version, "identity key changed");
    Ok((StatusCode::CREATED, ApiJson(key_record(row))))
}

/// Every identity key an account has had, oldest first.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/identity-keys", tag = "accounts",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "account id")),
    responses((status = 200, body = Vec<IdentityKeyRecord>), (status = 401, body = ErrorBody)))]
pub async fn identity_keys(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<AccountId>,
) -> Result<ApiJson<Vec<IdentityKeyRecord>>, ApiError> {
    let rows = state.store.identity_keys(&id).await?;
    Ok(ApiJson(rows.into_iter().map(key_record).collect()))
}

fn key_record(row: IdentityKeyRow) -> IdentityKeyRecord {
    IdentityKeyRecord {
        account_id: row.account_id,
        version: row.version,
        public_key: BASE64.encode(row.public_key),
        created_at: row.created_at,
    }
}

fn account_view(record: AccountRecord) -> Account {
    Account {
        id: record.id,
        username: record.username,
        display_name: record.display_name,
        has_avatar: record.has_avatar,
        region: record.region,
        created_at: record.created_at,
    }
}

fn invalid_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "wrong username or password",
    )
}

fn decode_fixed<const N: usize>(value: &str, field: &str) -> Result<[u8; N], ApiError> {
    if value.len() > 4 * N {
        return Err(ApiError::invalid(
            "invalid_body",
            format!("{field} is too long"),
        ));
    }
    BASE64
        .decode(value)
        .ok()
        .and_then(|bytes| <[u8; N]>::try_from(bytes).ok())
        .ok_or_else(|| {
            ApiError::invalid(
                "invalid_body",
                format!("{field} must be {N} bytes in base64"),
            )
        })
}

fn clean_username(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim().to_lowercase();
    let ok = (3..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(name)
    } else {
        Err(ApiError::invalid(
            "invalid_username",
            "a username is 3 to 32 characters of a-z, 0-9, '.', '_' and '-'",
        ))
    }
}

/// An officially assigned ISO 3166-1 alpha-2 code, upper case; `de` is taken as `DE`.
fn clean_region(raw: &str) -> Result<String, ApiError> {
    let code = raw.trim().to_ascii_uppercase();
    code.parse::<oversight::Jurisdiction>()
        .map(|region| region.to_string())
        .map_err(|e| {
            ApiError::invalid(
                "invalid_region",
                format!("a region is an ISO 3166-1 alpha-2 country code such as DE: {e}"),
            )
        })
}

fn check_password(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::invalid(
            "weak_password",
            format!("a password needs at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ApiError::invalid(
            "invalid_password",
            format!("a password may be at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// Checks a display name (accounts and guests): trimmed, 1 to 64 characters,
/// no control characters.
pub fn clean_display_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        return Err(format!(
            "a display name is 1 to {MAX_DISPLAY_NAME_CHARS} characters"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("a display name may not contain control characters".into());
    }
    Ok(name.to_owned())
}
