//! Users' reports about other accounts (issue #5 item 7; threat T8, brigading) and their
//! review by staff. A report never acts: it joins the reported account's review item in the
//! [`oversight::ReportDesk`], weighted by the reporter's account age, limited per reporter
//! and per meeting (answered with 429 and `Retry-After`), and reporters whose reports staff
//! repeatedly find unfounded are flagged in the review listing (the EU DSA Art. 23
//! pattern). Reports are personal data: they stay in memory and out of the public log; a
//! staff member who acts on one files an ordinary request, citing the franked message
//! (verified again) as evidence.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use oversight::{ReportRefusal, ReportScope, ReviewItemId, UserReport};
use proto::ids::{AccountId, MeetingId};
use proto::rest::ChatReportOpening;
use proto::rest::ErrorBody;

use super::OversightService;
use crate::api::error::{ApiError, ApiJson};
use crate::auth::Caller;
use crate::state::AppState;

/// Largest report body: ids and one chat message's opening.
pub const MAX_REPORT_BODY: usize = 64 * 1024;

/// `POST /api/v1/reports`'s body.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReport {
    /// Whom the report is about.
    pub subject_account_id: String,
    /// The meeting it happened in, if any.
    #[serde(default)]
    pub meeting_id: Option<String>,
    /// A chat message from the subject, as the reporter's client opened it.
    #[serde(default)]
    pub franked_opening: Option<ChatReportOpening>,
}

/// What a reporter is told.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ReportAccepted {
    /// The review item the report joined.
    pub review_item: u64,
    /// The report's weight (0 to 1000): young accounts weigh little.
    pub weight: u32,
}

/// One report as staff review it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ReviewReportView {
    /// The reporting account.
    pub reporter: String,
    /// Its weight, 0 to 1000.
    pub weight: u32,
    /// Whether the reporter is flagged for repeated unfounded reports.
    pub reporter_flagged: bool,
    /// The meeting named.
    pub meeting_id: Option<String>,
    /// Whether a franked message from the subject came with it.
    pub verified_evidence: bool,
    /// When, Unix seconds.
    pub at: u64,
}

/// One open review item.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ReviewItemView {
    /// Its id, for the resolution.
    pub id: u64,
    /// The reported account.
    pub subject: String,
    /// When the first report came, Unix seconds.
    pub opened_at: u64,
    /// Sum of the reports' weights.
    pub weight: u64,
    /// The reports.
    pub reports: Vec<ReviewReportView>,
}

/// The staff review listing.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ReviewView {
    /// Open items, heaviest first.
    pub items: Vec<ReviewItemView>,
    /// Reporters flagged for repeated unfounded reports.
    pub flagged_reporters: Vec<String>,
}

/// A staff decision on a review item.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    /// Whether the reports were founded.
    pub founded: bool,
}

/// What a resolution changed.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Resolved {
    /// Reporters flagged by this resolution.
    pub newly_flagged: Vec<String>,
}

/// `POST /api/v1/reports` (signed-in accounts): reports an account.
#[utoipa::path(post, path = "/api/v1/reports", tag = "reports", security(("bearer" = [])),
    request_body = NewReport,
    responses((status = 202, body = ReportAccepted), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody, description = "too many reports; see Retry-After")))]
pub async fn submit(
    State(state): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, ApiJson<ReportAccepted>), ApiError> {
    let desk = desk(&state)?;
    if body.len() > MAX_REPORT_BODY {
        return Err(ApiError::invalid(
            "too_large",
            format!("a report is at most {MAX_REPORT_BODY} bytes"),
        ));
    }
    let report: NewReport = serde_json::from_slice(&body).map_err(|e| {
        ApiError::invalid("invalid_report", format!("the report is not valid: {e}"))
    })?;
    let subject: AccountId = report
        .subject_account_id
        .parse()
        .map_err(|e| ApiError::invalid("invalid_report", format!("subject_account_id: {e}")))?;
    let meeting: Option<MeetingId> = report
        .meeting_id
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e| ApiError::invalid("invalid_report", format!("meeting_id: {e}")))?;
    let evidence = match &report.franked_opening {
        None => None,
        Some(opening) => {
            let parsed = crate::franking::parse_opening(opening)?;
            let verified = state.franking.verify(parsed).map_err(|e| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unverified",
                    format!("the reported message does not verify: {e}"),
                )
            })?;
            let verified = oversight::VerifiedReport::new(verified).map_err(|e| {
                ApiError::invalid("unverified", format!("not a message from an account: {e}"))
            })?;
            if verified.sender() != &subject {
                return Err(ApiError::invalid(
                    "evidence_about_other",
                    "the reported message was sent by another account than the one reported",
                ));
            }
            Some(verified.record().clone())
        }
    };
    let reporter = state
        .store
        .account(&caller.account)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("the signed-in account is gone"))?;
    let created_at = u64::try_from(reporter.created_at).unwrap_or(0);
    let receipt = desk
        .0
        .reports
        .lock()
        .await
        .submit(
            UserReport {
                reporter: caller.account,
                reporter_created_at: created_at,
                subject,
                meeting,
                evidence,
            },
            crate::unix_now_secs(),
        )
        .map_err(refused)?;
    Ok((
        StatusCode::ACCEPTED,
        ApiJson(ReportAccepted {
            review_item: receipt.item.0,
            weight: receipt.weight,
        }),
    ))
}

fn refused(refusal: ReportRefusal) -> ApiError {
    match refusal {
        ReportRefusal::RateLimited {
            scope,
            retry_after_secs,
        } => ApiError::rate_limited_because(
            retry_after_secs,
            match scope {
                ReportScope::Reporter => format!(
                    "you have reported as often as one account may for now; try again in {retry_after_secs} s"
                ),
                ReportScope::Meeting => format!(
                    "this meeting has had as many reports as it may for now; try again in {retry_after_secs} s"
                ),
            },
        ),
        ReportRefusal::SelfReport => ApiError::invalid("self_report", refusal.to_string()),
        ReportRefusal::AlreadyReported => {
            ApiError::new(StatusCode::CONFLICT, "already_reported", refusal.to_string())
        }
        ReportRefusal::Busy => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", refusal.to_string())
        }
        ReportRefusal::UnknownItem(_) => ApiError::not_found("review item"),
        other => ApiError::invalid("refused", other.to_string()),
    }
}

fn desk(state: &AppState) -> Result<OversightService, ApiError> {
    state.oversight.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "oversight_disabled",
            "this server has no [oversight] staff to review reports",
        )
    })
}

/// `GET /api/v1/staff/reports` (staff-signed): the open review items, heaviest first.
#[utoipa::path(get, path = "/api/v1/staff/reports", tag = "staff", security(("staff" = [])),
    responses((status = 200, body = ReviewView), (status = 401, body = ErrorBody)))]
pub async fn review(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<ApiJson<ReviewView>, ApiError> {
    let (desk, _who) =
        super::api::authenticate(&state, &method, &uri, &headers, super::api::GET_BODY).await?;
    let reports = desk.0.reports.lock().await;
    let items = reports
        .review_queue()
        .into_iter()
        .map(|item| ReviewItemView {
            id: item.id.0,
            subject: item.subject.to_string(),
            opened_at: item.opened_at,
            weight: item.weight,
            reports: item
                .reports
                .iter()
                .map(|r| ReviewReportView {
                    reporter: r.reporter.to_string(),
                    weight: r.weight,
                    reporter_flagged: r.reporter_flagged || reports.is_flagged(&r.reporter),
                    meeting_id: r.meeting.as_ref().map(ToString::to_string),
                    verified_evidence: r.evidence.as_ref().is_some_and(|e| e.is_verified()),
                    at: r.at,
                })
                .collect(),
        })
        .collect();
    let flagged_reporters = reports.flagged().map(ToString::to_string).collect();
    Ok(ApiJson(ReviewView {
        items,
        flagged_reporters,
    }))
}

/// `POST /api/v1/staff/reports/{item}/resolution` (staff-signed, `{"founded": bool}`):
/// closes a review item; unfounded ones count against their reporters.
#[utoipa::path(post, path = "/api/v1/staff/reports/{item}/resolution", tag = "staff", security(("staff" = [])),
    params(("item" = u64, Path, description = "review item id")),
    request_body = Resolution,
    responses((status = 200, body = Resolved), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn resolve(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(item): Path<u64>,
    body: Bytes,
) -> Result<ApiJson<Resolved>, ApiError> {
    let (desk, who) = super::api::authenticate(&state, &method, &uri, &headers, &body).await?;
    let resolution: Resolution = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid("malformed", format!("the resolution is not valid: {e}")))?;
    let newly_flagged = desk
        .0
        .reports
        .lock()
        .await
        .resolve(
            ReviewItemId(item),
            resolution.founded,
            crate::unix_now_secs(),
        )
        .map_err(refused)?;
    tracing::info!(
        staff = %who.staff(),
        item,
        founded = resolution.founded,
        "review item resolved"
    );
    Ok(ApiJson(Resolved {
        newly_flagged: newly_flagged.iter().map(ToString::to_string).collect(),
    }))
}
