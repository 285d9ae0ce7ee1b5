//! Carrying out `disclose_account_data` (issue #5, test 11): the stored
//! account fields the executed request names, handed only to the staff
//! member who filed it, through a signed staff call.
//!
//! What can be disclosed is what storage holds about an account: its
//! username, display name, avatar and creation time. Storage holds no
//! network address (DESIGN.md T3), so no disclosure can contain one.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use oversight::{AccountField, Action, RequestState};
use proto::rest::ErrorBody;

use crate::api::error::{ApiError, ApiJson};
use crate::state::AppState;

/// What the requesting staff member receives.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Disclosure {
    /// The request id.
    pub request: String,
    /// The account disclosed.
    pub account: String,
    /// Who the request names as the receiving authority.
    pub recipient: String,
    /// When the request executed, Unix seconds.
    pub executed_at: u64,
    /// Until when the subject's notice is delayed, if it still is.
    pub notice_delayed_until: Option<u64>,
    /// The fields named in the request, by name, as stored now. A display
    /// name or avatar that is not set is `null`; the avatar is base64.
    #[schema(value_type = Object)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// `GET /api/v1/staff/requests/{id}/disclosure`: the disclosure of an
/// executed `disclose_account_data`, for its requester only.
#[utoipa::path(get, path = "/api/v1/staff/requests/{id}/disclosure", tag = "staff", security(("staff" = [])),
    params(("id" = String, Path, description = "request id, 64 hex digits")),
    responses((status = 200, body = Disclosure), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "not the requester, or not executed"), (status = 404, body = ErrorBody)))]
pub async fn disclosure(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<ApiJson<Disclosure>, ApiError> {
    let (desk, who) =
        super::api::authenticate(&state, &method, &uri, &headers, super::api::GET_BODY).await?;
    let hash = super::api::request_id(&id)?;
    let not_executed = || {
        ApiError::new(
            StatusCode::CONFLICT,
            "not_executed",
            "the request has not executed; nothing is disclosed before a quorum",
        )
    };
    let Some((certificate, state_now)) = desk.executed(&hash).await else {
        return Err(match desk.show(&hash).await {
            Some(_) => not_executed(),
            None => ApiError::not_found("request"),
        });
    };
    let RequestState::Executed {
        executed_at,
        sealed_until,
    } = state_now
    else {
        return Err(not_executed());
    };
    let request = certificate.request();
    if &request.requester != who.staff() {
        return Err(ApiError::forbidden(
            "a disclosure goes only to the staff member who requested it",
        ));
    }
    let Action::DiscloseAccountData {
        account,
        fields,
        recipient,
    } = &request.action
    else {
        return Err(ApiError::invalid(
            "not_a_disclosure",
            "this request is not a disclose_account_data",
        ));
    };
    let record = state
        .store
        .account(account)
        .await?
        .ok_or_else(|| ApiError::not_found("account"))?;
    let mut disclosed = serde_json::Map::new();
    for field in fields {
        let value = match field {
            AccountField::Username => serde_json::Value::from(record.username.clone()),
            AccountField::DisplayName => serde_json::Value::from(record.display_name.clone()),
            AccountField::Avatar => serde_json::Value::from(
                state
                    .store
                    .avatar(account)
                    .await?
                    .map(|bytes| BASE64.encode(bytes)),
            ),
            AccountField::CreatedAt => serde_json::Value::from(record.created_at),
        };
        disclosed.insert(field.name().to_owned(), value);
    }
    Ok(ApiJson(Disclosure {
        request: hash.to_string(),
        account: account.as_str().to_owned(),
        recipient: recipient.clone(),
        executed_at,
        notice_delayed_until: sealed_until,
        fields: disclosed,
    }))
}
