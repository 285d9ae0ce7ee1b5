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
        .route("/api/v1/staff/evidence", post(hold_evidence))
        .route("/api/v1/staff/reports", get(super::reports::review))
        .route(
            "/api/v1/staff/reports/{item}/resolution",
            post(super::reports::resolve),
        )
        .route("/api/v1/staff/requests/{id}", get(show_request))
        .route("/api/v1/staff/requests/{id}/approvals", post(approve))
        .route("/api/v1/staff/requests/{id}/vetoes", post(veto))
        .route(
            "/api/v1/staff/requests/{id}/disclosure",
            get(super::disclosure::disclosure),
        )
        .route(
            "/api/v1/staff/appeals/{id}/decision",
            post(super::notices::decide),
        )
        .layer(axum::extract::DefaultBodyLimit::max(MAX_STAFF_BODY))
        .route("/api/v1/notices", get(super::notices::list))
        .route(
            "/api/v1/notices/{id}/appeal",
            post(super::notices::appeal).layer(axum::extract::DefaultBodyLimit::max(
                super::notices::MAX_APPEAL_BODY,
            )),
        )
        .route(
            "/api/v1/reports",
            post(super::reports::submit).layer(axum::extract::DefaultBodyLimit::max(
                super::reports::MAX_REPORT_BODY,
            )),
        )
}

/// A franked chat message the server verified, as a request cites it.
#[derive(serde::Serialize)]
struct HeldEvidence {
    /// The account that sent the message: the only account this evidence is about.
    sender_account_id: String,
    /// The record's meeting digest, base64.
    meeting_digest: String,
    /// When the server relayed the message, Unix milliseconds.
    sent_at_millis: u64,
    /// The record's content digest, base64.
    content_digest: String,
}

/// `POST /api/v1/staff/evidence` (staff-signed): a chat report's opening
/// (`ChatReportOpening` JSON). The server checks the franking; a report that
/// verifies is held for an hour for a request to cite, and the answer is the
/// evidence record to put in it. Anything else is refused: it is not
/// verified evidence.
async fn hold_evidence(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, ApiJson<HeldEvidence>), ApiError> {
    let (desk, _who) = authenticate(&state, &method, &uri, &headers, &body).await?;
    let opening: proto::rest::ChatReportOpening = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid("malformed", format!("the opening is not valid: {e}")))?;
    let report = crate::franking::parse_opening(&opening)?;
    let evidence = state.franking.verify(report).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unverified",
            format!("the report does not verify, so it is not evidence: {e}"),
        )
    })?;
    let report = oversight::VerifiedReport::new(evidence).map_err(|e| {
        ApiError::invalid("unverified", format!("not evidence about an account: {e}"))
    })?;
    let record = desk
        .hold_evidence(report, crate::unix_now_secs())
        .await
        .map_err(refusal)?;
    let oversight::EvidenceRecord::FrankedMessage {
        sender,
        meeting,
        sent_at_millis,
        content,
    } = record
    else {
        return Err(ApiError::internal(
            "a verified report made another kind of record",
        ));
    };
    Ok((
        StatusCode::CREATED,
        ApiJson(HeldEvidence {
            sender_account_id: sender.to_string(),
            meeting_digest: meeting.to_base64(),
            sent_at_millis,
            content_digest: content.to_base64(),
        }),
    ))
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
pub(super) async fn authenticate(
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

pub(super) fn request_id(id: &str) -> Result<RequestHash, ApiError> {
    id.parse().map_err(|_| {
        ApiError::invalid(
            "invalid_request_id",
            "a request id is 64 lowercase hex digits",
        )
    })
}

pub(super) fn refusal(error: OversightError) -> ApiError {
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
        OversightError::Storage(e) => ApiError::from(e),
    }
}
