//! The staff API under `/api/v1/staff`. Every call carries
//! `Authorization: Conclave-Staff staff=…, ts=…, nonce=…, sig=…` over its
//! method, path with query and body; a missing, bad or replayed signature is
//! refused with 401 before anything else is looked at. Bodies are the
//! canonical binary encodings the staff member signed, so the server never
//! re-encodes what it stores in the ledger.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::routing::{get, post};
use axum::Router;
use oversight::{AuthenticatedStaff, RequestHash};

use super::{ApprovalOutcome, OversightError, OversightService, RequestView};
use crate::api::error::{ApiError, ApiJson};
use crate::state::AppState;

/// Largest staff API body (a signed request with evidence is at most 64 KiB).
pub const MAX_STAFF_BODY: usize = oversight::MAX_REQUEST_LEN + 1024;

/// The staff routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/staff/requests",
            post(file_request).get(list_requests),
        )
        .route("/api/v1/staff/requests/{id}", get(show_request))
        .route("/api/v1/staff/requests/{id}/approvals", post(approve))
        .route("/api/v1/staff/requests/{id}/vetoes", post(veto))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_STAFF_BODY))
        .route("/api/v1/notices", get(notices))
}

/// A notice to a user, with the proof that the order is in the log.
#[derive(serde::Serialize)]
struct NoticeView {
    /// The request id.
    request: String,
    /// The action's name.
    action: &'static str,
    /// The statement of reasons.
    reasons: String,
    /// Where the execution entry is in the log.
    ledger_index: u64,
    /// Its inclusion proof in `checkpoint`, base64 hashes.
    inclusion_proof: Vec<String>,
    /// The signed checkpoint note.
    checkpoint: String,
    /// When the notice was issued.
    issued_at: u64,
}

/// `GET /api/v1/notices`: notices about the signed-in account and about
/// meetings it hosts.
async fn notices(
    State(state): State<AppState>,
    caller: crate::auth::Caller,
) -> Result<ApiJson<Vec<NoticeView>>, ApiError> {
    let Some(desk) = state.oversight.clone() else {
        return Ok(ApiJson(Vec::new()));
    };
    let candidates = desk.notices(|_| true).await;
    let mut views = Vec::new();
    for notice in candidates {
        let mine = match &notice.subject {
            oversight::NoticeSubject::Account(account) => account == &caller.account,
            oversight::NoticeSubject::Meeting(meeting) => state
                .store
                .meeting(meeting)
                .await?
                .is_some_and(|record| record.host == caller.account),
        };
        if !mine {
            continue;
        }
        let proven = state
            .ledger
            .proven_entry(ledger::LeafIndex(notice.ledger_index))
            .await?;
        views.push(NoticeView {
            request: notice.request.to_string(),
            action: notice.action.name(),
            reasons: notice.reasons,
            ledger_index: notice.ledger_index,
            inclusion_proof: proven.proof.iter().map(ledger::Hash::to_base64).collect(),
            checkpoint: proven.checkpoint.note,
            issued_at: notice.issued_at,
        });
    }
    Ok(ApiJson(views))
}

/// What filing answers.
#[derive(serde::Serialize)]
struct Filed {
    id: String,
}

/// What an approval answers.
#[derive(serde::Serialize)]
struct Approved {
    request: RequestView,
    /// The ledger index of the execution entry, when this approval executed it.
    execution_index: Option<u64>,
}

async fn file_request(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, ApiJson<Filed>), ApiError> {
    let (desk, who) = authenticate(&state, &method, &uri, &headers, &body).await?;
    let hash = desk
        .file(who, &body, crate::unix_now_secs())
        .await
        .map_err(refusal)?;
    Ok((
        StatusCode::CREATED,
        ApiJson(Filed {
            id: hash.to_string(),
        }),
    ))
}

async fn list_requests(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<ApiJson<Vec<RequestView>>, ApiError> {
    let (desk, _who) = authenticate(&state, &method, &uri, &headers, &body).await?;
    Ok(ApiJson(desk.list().await))
}

async fn show_request(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<ApiJson<RequestView>, ApiError> {
    let (desk, _who) = authenticate(&state, &method, &uri, &headers, &body).await?;
    let hash = request_id(&id)?;
    desk.show(&hash)
        .await
        .map(ApiJson)
        .ok_or_else(|| ApiError::not_found("request"))
}

async fn approve(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<ApiJson<Approved>, ApiError> {
    let (desk, who) = authenticate(&state, &method, &uri, &headers, &body).await?;
    let hash = request_id(&id)?;
    let outcome = desk
        .approve(who, hash, &body, crate::unix_now_secs())
        .await
        .map_err(refusal)?;
    match outcome {
        ApprovalOutcome::Pending(request) => Ok(ApiJson(Approved {
            request,
            execution_index: None,
        })),
        ApprovalOutcome::Executed { order, execution } => {
            super::execute::execute(&state, order, execution).await?;
            if let Some(index) = execution {
                // Staff and policy changes have no user subject; the core
                // says so and nothing is logged.
                if let Err(e) = desk.issue_notice(hash, index, crate::unix_now_secs()).await {
                    tracing::info!(error = %e, "no notice for this order");
                }
            }
            let request = desk
                .show(&hash)
                .await
                .ok_or_else(|| ApiError::not_found("request"))?;
            Ok(ApiJson(Approved {
                request,
                execution_index: execution.map(|index| index.0),
            }))
        }
    }
}

async fn veto(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<ApiJson<RequestView>, ApiError> {
    let (desk, who) = authenticate(&state, &method, &uri, &headers, &body).await?;
    let hash = request_id(&id)?;
    desk.veto(who, hash, &body, crate::unix_now_secs())
        .await
        .map(ApiJson)
        .map_err(refusal)
}

/// Checks the staff signature first; everything else comes after.
async fn authenticate(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(OversightService, AuthenticatedStaff), ApiError> {
    let desk = state.oversight.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "oversight_disabled",
            "this server has no [oversight] staff configured",
        )
    })?;
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .ok_or_else(|| {
            ApiError::unauthenticated("the staff API needs an Authorization: Conclave-Staff header")
        })?;
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path(), |path| path.as_str());
    let who = desk
        .authenticate(header, method.as_str(), path, body, crate::unix_now_secs())
        .await
        .map_err(|e| ApiError::unauthenticated(e.to_string()))?;
    Ok((desk, who))
}

fn request_id(id: &str) -> Result<RequestHash, ApiError> {
    id.parse().map_err(|_| {
        ApiError::invalid(
            "invalid_request_id",
            "a request id is 64 lowercase hex digits",
        )
    })
}

fn refusal(error: OversightError) -> ApiError {
    match error {
        OversightError::Malformed { .. } => ApiError::invalid("malformed", error.to_string()),
        OversightError::NotSigner { .. } => ApiError::forbidden(error.to_string()),
        OversightError::Refused(violation) => ApiError::new(
            StatusCode::FORBIDDEN,
            "refused",
            format!("{} ({violation})", violation.code()),
        ),
        OversightError::UnknownRequest(_) => ApiError::not_found("request"),
        OversightError::Ledger(e) => ApiError::internal(e),
    }
}
