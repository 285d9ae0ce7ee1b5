//! The staff API under `/api/v1/staff`. Every call carries
//! `Authorization: Conclave-Staff staff=…, ts=…, nonce=…, sig=…` over its
//! method, path with query and body; a missing, bad or replayed signature is
//! refused with 401 before anything else is looked at. Bodies are the
//! canonical binary encodings the staff member signed, so the server never
//! re-encodes what it stores in the ledger.

use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use oversight::{AuthenticatedStaff, RequestHash};
use proto::rest::ErrorBody;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApprovalOutcome, OversightError, OversightService, RequestView};
use crate::api::error::{ApiError, ApiJson};
use crate::state::AppState;

/// What a staff GET's signature covers: GET requests have no body, and any sent is ignored.
pub(super) const GET_BODY: &[u8] = &[];

/// Largest staff API body (a signed request with evidence is at most 64 KiB).
pub const MAX_STAFF_BODY: usize = oversight::MAX_REQUEST_LEN + 1024;

/// The staff routes, the notice routes and user reports, with their OpenAPI
/// descriptions; each group keeps its own body limit.
pub fn routes() -> OpenApiRouter<AppState> {
    let staff = OpenApiRouter::new()
        .routes(routes!(file_request, list_requests))
        .routes(routes!(hold_evidence))
        .routes(routes!(super::reports::review))
        .routes(routes!(super::reports::resolve))
        .routes(routes!(show_request))
        .routes(routes!(approve))
        .routes(routes!(veto))
        .routes(routes!(super::disclosure::disclosure))
        .routes(routes!(super::notices::decide))
        .layer(DefaultBodyLimit::max(MAX_STAFF_BODY));
    let appeals = OpenApiRouter::new()
        .routes(routes!(super::notices::appeal))
        .layer(DefaultBodyLimit::max(super::notices::MAX_APPEAL_BODY));
    let reports = OpenApiRouter::new()
        .routes(routes!(super::reports::submit))
        .layer(DefaultBodyLimit::max(super::reports::MAX_REPORT_BODY));
    OpenApiRouter::new()
        .routes(routes!(super::notices::list))
        .merge(staff)
        .merge(appeals)
        .merge(reports)
}

/// A franked chat message the server verified, as a request cites it.
#[derive(serde::Serialize, utoipa::ToSchema)]
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
#[utoipa::path(post, path = "/api/v1/staff/evidence", tag = "staff", security(("staff" = [])),
    request_body = proto::rest::ChatReportOpening,
    responses((status = 201, body = HeldEvidence), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody, description = "the franking does not verify")))]
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
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Filed {
    id: String,
}

/// What an approval answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Approved {
    request: RequestView,
    /// The ledger index of the execution entry, when this approval executed it.
    execution_index: Option<u64>,
}

#[utoipa::path(post, path = "/api/v1/staff/requests", tag = "staff", security(("staff" = [])),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "a signed request (oversight::SignedRequest::encode)"),
    responses((status = 201, body = Filed), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody, description = "no valid staff signature"), (status = 403, body = ErrorBody, description = "refused by the policy (the refusal is a ledger entry)")))]
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

#[utoipa::path(get, path = "/api/v1/staff/requests", tag = "staff", security(("staff" = [])),
    responses((status = 200, body = Vec<RequestView>), (status = 401, body = ErrorBody)))]
async fn list_requests(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<ApiJson<Vec<RequestView>>, ApiError> {
    let (desk, _who) = authenticate(&state, &method, &uri, &headers, GET_BODY).await?;
    Ok(ApiJson(desk.list().await))
}

#[utoipa::path(get, path = "/api/v1/staff/requests/{id}", tag = "staff", security(("staff" = [])),
    params(("id" = String, Path, description = "request id, 64 hex digits")),
    responses((status = 200, body = RequestView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn show_request(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<ApiJson<RequestView>, ApiError> {
    let (desk, _who) = authenticate(&state, &method, &uri, &headers, GET_BODY).await?;
    let hash = request_id(&id)?;
    desk.show(&hash)
        .await
        .map(ApiJson)
        .ok_or_else(|| ApiError::not_found("request"))
}

#[utoipa::path(post, path = "/api/v1/staff/requests/{id}/approvals", tag = "staff", security(("staff" = [])),
    params(("id" = String, Path, description = "request id, 64 hex digits")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "a signed approval (oversight::Approval::encode)"),
    responses((status = 200, body = Approved), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody, description = "no valid staff signature"), (status = 403, body = ErrorBody, description = "refused by the policy (the refusal is a ledger entry)"), (status = 404, body = ErrorBody)))]
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

#[utoipa::path(post, path = "/api/v1/staff/requests/{id}/vetoes", tag = "staff", security(("staff" = [])),
    params(("id" = String, Path, description = "request id, 64 hex digits")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "a signed veto (oversight::Veto::encode)"),
    responses((status = 200, body = RequestView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody, description = "no valid staff signature"), (status = 403, body = ErrorBody, description = "refused by the policy (the refusal is a ledger entry)"), (status = 404, body = ErrorBody)))]
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
