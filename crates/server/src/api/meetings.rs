//! Creating meetings and changing their settings.

use axum::extract::State;
use axum::http::StatusCode;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use proto::ids::{MeetingId, OpaqueId};
use proto::rest::{
    ErrorBody, Meeting, MeetingSettings, MeetingUpdate, NewMeeting, MAX_ENCRYPTED_INFO_BYTES,
    MAX_PASSCODE_BYTES,
};
use storage::{MeetingChange, MeetingRecord};

use super::error::{ApiError, ApiJson, ApiPath};
use crate::auth::{hash_secret, random_bytes, Caller};
use crate::state::AppState;

/// Create a meeting; the caller becomes its host.
#[utoipa::path(post, path = "/api/v1/meetings", tag = "meetings",
    security(("bearer" = [])),
    request_body = NewMeeting,
    responses((status = 201, body = Meeting), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn create_meeting(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<NewMeeting>,
) -> Result<(StatusCode, ApiJson<Meeting>), ApiError> {
    let passcode_hash = match body.passcode {
        Some(p) if !p.is_empty() => Some(hash_secret(check_passcode(p)?).await?),
        _ => None,
    };
    let record = MeetingRecord {
        id: MeetingId::from_random(&random_bytes::<16>()),
        host: caller.account,
        lobby: body.lobby.unwrap_or(true),
        guests_allowed: body.guests_allowed.unwrap_or(true),
        locked: false,
        passcode_hash,
        encrypted_info: body
            .encrypted_info
            .as_deref()
            .map(decode_info)
            .transpose()?,
        created_at: crate::unix_now(),
        ended_at: None,
    };
    state.store.create_meeting(&record).await?;
    Ok((StatusCode::CREATED, ApiJson(meeting_view(record))))
}

/// Meetings the caller hosts, newest first (at most 100).
#[utoipa::path(get, path = "/api/v1/meetings", tag = "meetings",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<Meeting>), (status = 401, body = ErrorBody)))]
pub async fn list_meetings(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<ApiJson<Vec<Meeting>>, ApiError> {
    let records = state.store.meetings_hosted_by(&caller.account, 100).await?;
    Ok(ApiJson(records.into_iter().map(meeting_view).collect()))
}

/// A meeting's public settings and encrypted info. Knowing the 128-bit id
/// is the capability: guests read this before they join.
#[utoipa::path(get, path = "/api/v1/meetings/{id}", tag = "meetings",
    params(("id" = String, Path, description = "meeting id")),
    responses((status = 200, body = Meeting), (status = 404, body = ErrorBody)))]
pub async fn meeting(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<MeetingId>,
) -> Result<ApiJson<Meeting>, ApiError> {
    Ok(ApiJson(meeting_view(stored_meeting(&state, &id).await?)))
}

/// Change a meeting's settings (its host only). A running meeting applies
/// them at once.
#[utoipa::path(patch, path = "/api/v1/meetings/{id}", tag = "meetings",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "meeting id")),
    request_body = MeetingUpdate,
    responses((status = 200, body = Meeting), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_meeting(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<MeetingId>,
    ApiJson(body): ApiJson<MeetingUpdate>,
) -> Result<ApiJson<Meeting>, ApiError> {
    let record = stored_meeting(&state, &id).await?;
    if record.host != caller.account {
        return Err(ApiError::forbidden("only the meeting's host may change it"));
    }
    let passcode_hash = match body.passcode {
        None => None,
        Some(p) if p.is_empty() => Some(None),
        Some(p) => Some(Some(hash_secret(check_passcode(p)?).await?)),
    };
    let change = MeetingChange {
        lobby: body.lobby,
        guests_allowed: body.guests_allowed,
        locked: body.locked,
        passcode_hash,
        encrypted_info: body
            .encrypted_info
            .as_deref()
            .map(decode_info)
            .transpose()?,
    };
    state.store.update_meeting(&id, &change).await?;
    // Read back what was stored: absent fields kept their values.
    let record = stored_meeting(&state, &id).await?;
    state.meetings.refresh(record.clone()).await;
    Ok(ApiJson(meeting_view(record)))
}

async fn stored_meeting(state: &AppState, id: &MeetingId) -> Result<MeetingRecord, ApiError> {
    state
        .store
        .meeting(id)
        .await?
        .ok_or_else(|| ApiError::not_found("meeting"))
}

fn check_passcode(passcode: String) -> Result<String, ApiError> {
    if passcode.len() > MAX_PASSCODE_BYTES {
        return Err(ApiError::invalid(
            "invalid_passcode",
            format!("a passcode may be at most {MAX_PASSCODE_BYTES} bytes"),
        ));
    }
    Ok(passcode)
}

fn decode_info(encoded: &str) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::invalid(
            "encrypted_info_too_large",
            format!("encrypted_info may be at most {MAX_ENCRYPTED_INFO_BYTES} bytes"),
        )
    };
    if encoded.len() > MAX_ENCRYPTED_INFO_BYTES.div_ceil(3) * 4 {
        return Err(too_large());
    }
    let bytes = BASE64
        .decode(encoded)
        .map_err(|_| ApiError::invalid("invalid_body", "encrypted_info must be base64"))?;
    if bytes.len() > MAX_ENCRYPTED_INFO_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

fn meeting_view(record: MeetingRecord) -> Meeting {
    Meeting {
        id: record.id,
        settings: MeetingSettings {
            lobby: record.lobby,
            passcode_required: record.passcode_hash.is_some(),
            guests_allowed: record.guests_allowed,
            locked: record.locked,
        },
        encrypted_info: record.encrypted_info.map(|b| BASE64.encode(b)),
        created_at: record.created_at,
        ended_at: record.ended_at,
    }
}
