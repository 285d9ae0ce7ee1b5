//! Notices to the subjects of oversight actions, their appeals, the staff's
//! appeal decisions, and the clock that opens delayed disclosures (issue #5,
//! item 8; threat T8).
//!
//! A notice goes to an account: the subject of a suspension, reinstatement or
//! disclosure, or the host of an ended meeting. It carries the statement of
//! reasons, the ledger index of the entry that shows the action and its
//! inclusion proof in the latest checkpoint, over REST and as a signaling
//! event. The subject may appeal once; reviewers who took no part in the
//! order decide, and an overturned suspension is lifted.

use proto::rest::ErrorBody;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use ledger::LeafIndex;
use oversight::{
    Action, ActionKind, AppealDecision, AppealStatus, AuthenticatedStaff, Notice, NoticeSubject,
    Oversight, RequestHash, Violation, MAX_APPEAL_LEN,
};
use proto::ids::AccountId;
use proto::signaling::{NoticeAppeal, OversightNotice};

use super::{OversightError, OversightService};
use crate::api::error::{ApiError, ApiJson};
use crate::ledger::LedgerError;
use crate::state::AppState;

/// Notice events buffered for slow connections; one that falls further
/// behind misses events and still finds them over REST.
pub const EVENT_QUEUE: usize = 256;

/// Largest appeal body: the statement and its JSON framing.
pub const MAX_APPEAL_BODY: usize = MAX_APPEAL_LEN + 1024;

/// A notice (new, or with its appeal decided) for one account.
#[derive(Debug)]
pub struct NoticeEvent {
    /// Who receives it.
    pub to: AccountId,
    /// What they receive.
    pub notice: OversightNotice,
}

/// `POST /api/v1/notices/{request}/appeal`'s body.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppealBody {
    /// Why the action was wrong; at most 8000 bytes. The ledger keeps only
    /// its hash.
    pub statement: String,
}

impl OversightService {
    /// New notices and decided appeals, for the signaling connections.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<NoticeEvent>> {
        self.0.events.subscribe()
    }

    /// Issues and logs the subject's notice of an executed request whose
    /// execution (or opening) entry is at `entry`, and sends it to its
    /// recipient's connections.
    pub async fn issue_notice(
        &self,
        request: RequestHash,
        entry: LeafIndex,
        now: u64,
    ) -> Result<Notice, OversightError> {
        let mut desk = self.0.desk.lock().await;
        let logged = desk.core.notice(request, entry.0, now);
        let notice = self.record(logged).await?.0?;
        self.send(&desk.core, &notice).await;
        Ok(notice)
    }

    /// The notices for `account`: about it, and about meetings it hosts.
    pub async fn notices_for(
        &self,
        account: &AccountId,
    ) -> Result<Vec<OversightNotice>, OversightError> {
        let issued: Vec<(Notice, Option<AppealStatus>)> = {
            let desk = self.0.desk.lock().await;
            desk.core
                .notices()
                .iter()
                .map(|notice| (notice.clone(), desk.core.appeal_status(&notice.request)))
                .collect()
        };
        let mut views = Vec::new();
        for (notice, appeal) in issued {
            if self.recipient(&notice.subject).await?.as_ref() == Some(account) {
                views.push(self.view(&notice, appeal).await?);
            }
        }
        Ok(views)
    }

    /// The subject's (or the ended meeting's host's) one appeal.
    pub async fn appeal(
        &self,
        account: &AccountId,
        request: RequestHash,
        statement: &str,
        now: u64,
    ) -> Result<OversightNotice, OversightError> {
        let mut desk = self.0.desk.lock().await;
        let meeting = match desk.core.certificate(&request).map(|c| &c.request().action) {
            Some(Action::EndMeeting { meeting }) => Some(meeting.clone()),
            _ => None,
        };
        let logged = match meeting {
            Some(meeting) => {
                let hosts = self
                    .0
                    .store
                    .meeting(&meeting)
                    .await?
                    .is_some_and(|record| &record.host == account);
                if !hosts {
                    return Err(OversightError::Refused(Violation::Appeal {
                        reason: "only the host of an ended meeting may appeal its end".into(),
                    }));
                }
                desk.core
                    .appeal_as_host(request, account, &meeting, statement, now)
            }
            None => desk.core.appeal(request, account, statement, now),
        };
        self.record(logged).await?.0?;
        let notice = desk
            .core
            .notices()
            .iter()
            .find(|notice| notice.request == request)
            .cloned()
            .ok_or(OversightError::UnknownRequest(request))?;
        let status = desk.core.appeal_status(&request);
        Ok(self.view(&notice, status).await?)
    }

    /// Takes the reviewers' decision (canonical [`AppealDecision`] bytes);
    /// `who` must be one of its signers. An overturned suspension is lifted
    /// after the decision is logged; the recipient is sent the notice with
    /// the decision.
    pub async fn decide_appeal(
        &self,
        who: AuthenticatedStaff,
        request: RequestHash,
        body: &[u8],
        now: u64,
    ) -> Result<OversightNotice, OversightError> {
        let decision = AppealDecision::decode(body).map_err(|e| OversightError::Malformed {
            what: "appeal decision",
            problem: e.to_string(),
        })?;
        if decision.request != request {
            return Err(OversightError::Malformed {
                what: "appeal decision",
                problem: "it decides another request than the path names".into(),
            });
        }
        if !decision
            .signatures
            .iter()
            .any(|(staff, _)| staff == who.staff())
        {
            return Err(OversightError::NotSigner {
                authenticated: who.staff().to_string(),
                signer: "the decision's reviewers".into(),
            });
        }
        let mut desk = self.0.desk.lock().await;
        let logged = desk.core.decide_appeal(decision, now);
        let outcome = self.record(logged).await?.0?;
        if !outcome.upheld {
            if let Action::SuspendAccount { account } = &outcome.action {
                self.0.store.set_suspended(account, None).await?;
            }
        }
        let notice = desk
            .core
            .notices()
            .iter()
            .find(|notice| notice.request == request)
            .cloned()
            .ok_or(OversightError::UnknownRequest(request))?;
        self.send(&desk.core, &notice).await;
        let status = desk.core.appeal_status(&request);
        Ok(self.view(&notice, status).await?)
    }

    /// Logs expiries that are due, and opens every delayed disclosure whose
    /// deadline has come: its opening entry, then the subject's notice.
    pub async fn tick(&self, now: u64) -> Result<(), OversightError> {
        let mut desk = self.0.desk.lock().await;
        let expired = desk.core.poll_expired(now);
        self.append(&expired).await?;
        for due in desk.core.poll_due(now) {
            let opened = self.append(std::slice::from_ref(&due.opening)).await?;
            let Some((appended, _)) = opened.first() else {
                continue;
            };
            let logged = desk.core.notice(due.request, appended.index.0, now);
            match self.record(logged).await?.0 {
                Ok(notice) => self.send(&desk.core, &notice).await,
                Err(violation) => {
                    tracing::warn!(%violation, "no notice for an opened disclosure");
                }
            }
        }
        Ok(())
    }

    /// Sends `notice` to its recipient's connections, if any are open.
    async fn send(&self, core: &Oversight, notice: &Notice) {
        let event = async {
            let to = self.recipient(&notice.subject).await?;
            let view = self
                .view(notice, core.appeal_status(&notice.request))
                .await?;
            Ok::<_, OversightError>(to.map(|to| NoticeEvent { to, notice: view }))
        };
        match event.await {
            // No receiver is not an error: nobody is connected.
            Ok(Some(event)) => drop(self.0.events.send(Arc::new(event))),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot send a notice event"),
        }
    }

    /// The account a notice is for: the subject account, or the host of the
    /// subject meeting (none if the meeting is unknown).
    async fn recipient(
        &self,
        subject: &NoticeSubject,
    ) -> Result<Option<AccountId>, OversightError> {
        Ok(match subject {
            NoticeSubject::Account(account) => Some(account.clone()),
            NoticeSubject::Meeting(meeting) => self
                .0
                .store
                .meeting(meeting)
                .await?
                .map(|record| record.host),
        })
    }

    async fn view(
        &self,
        notice: &Notice,
        appeal: Option<AppealStatus>,
    ) -> Result<OversightNotice, LedgerError> {
        let proven = self
            .0
            .ledger
            .proven_entry(LeafIndex(notice.ledger_index))
            .await?;
        Ok(OversightNotice {
            request: notice.request.to_string(),
            action: notice.action.name().to_owned(),
            reasons: notice.reasons.clone(),
            ledger_index: notice.ledger_index,
            inclusion_proof: proven.proof.iter().map(ledger::Hash::to_base64).collect(),
            checkpoint: proven.checkpoint.note,
            issued_at: notice.issued_at,
            appeal: appeal.map(|status| appeal_view(notice.action, status)),
        })
    }
}

fn appeal_view(action: ActionKind, status: AppealStatus) -> NoticeAppeal {
    match status {
        AppealStatus::Pending => NoticeAppeal {
            state: "pending".into(),
            reasons: None,
            effect: None,
        },
        AppealStatus::Decided { upheld: true, reasons } => NoticeAppeal {
            state: "upheld".into(),
            reasons: Some(reasons),
            effect: Some("the action stands".into()),
        },
        AppealStatus::Decided {
            upheld: false,
            reasons,
        } => NoticeAppeal {
            state: "overturned".into(),
            reasons: Some(reasons),
            effect: Some(
                match action {
                    ActionKind::SuspendAccount => "the account was reinstated",
                    ActionKind::EndMeeting => {
                        "nothing to undo: an ended meeting cannot be resumed, but the log records the order as overturned and you may start a new meeting"
                    }
                    ActionKind::DiscloseAccountData => {
                        "disclosed data cannot be recalled; the log records the disclosure as overturned"
                    }
                    _ => "nothing is undone by itself; the log records the action as overturned",
                }
                .into(),
            ),
        },
    }
}

/// `GET /api/v1/notices`: notices about the signed-in account and about
/// meetings it hosts. A suspended account's earlier session still works
/// here, so that it can read why and appeal.
#[utoipa::path(get, path = "/api/v1/notices", tag = "notices", security(("bearer" = [])),
    responses((status = 200, body = Vec<proto::signaling::OversightNotice>), (status = 401, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: NoticeCaller,
) -> Result<ApiJson<Vec<OversightNotice>>, ApiError> {
    let Some(desk) = state.oversight.clone() else {
        return Ok(ApiJson(Vec::new()));
    };
    desk.notices_for(&caller.0)
        .await
        .map(ApiJson)
        .map_err(super::api::refusal)
}

/// `POST /api/v1/notices/{request}/appeal` with `{"statement": "…"}`: the
/// subject's one appeal. Answers the notice with the appeal pending.
#[utoipa::path(post, path = "/api/v1/notices/{id}/appeal", tag = "notices", security(("bearer" = [])),
    params(("id" = String, Path, description = "request id, 64 hex digits")),
    request_body = AppealBody,
    responses((status = 201, body = proto::signaling::OversightNotice), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "not the subject, or already appealed"), (status = 404, body = ErrorBody)))]
pub async fn appeal(
    State(state): State<AppState>,
    caller: NoticeCaller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, ApiJson<OversightNotice>), ApiError> {
    let desk = state
        .oversight
        .clone()
        .ok_or_else(|| ApiError::not_found("notice"))?;
    let request = super::api::request_id(&id)?;
    if body.len() > MAX_APPEAL_BODY {
        return Err(ApiError::invalid(
            "appeal_too_large",
            format!(
                "the appeal body is {} bytes; at most {MAX_APPEAL_BODY}",
                body.len()
            ),
        ));
    }
    let appeal: AppealBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::invalid(
            "malformed",
            format!("expected {{\"statement\": \"…\"}}: {e}"),
        )
    })?;
    if appeal.statement.len() > MAX_APPEAL_LEN {
        return Err(ApiError::invalid(
            "appeal_too_large",
            format!(
                "the statement is {} bytes; at most {MAX_APPEAL_LEN}",
                appeal.statement.len()
            ),
        ));
    }
    let notice = desk
        .appeal(
            &caller.0,
            request,
            &appeal.statement,
            crate::unix_now_secs(),
        )
        .await
        .map_err(super::api::refusal)?;
    Ok((StatusCode::CREATED, ApiJson(notice)))
}

/// `POST /api/v1/staff/appeals/{request}/decision`: the reviewers' signed
/// [`AppealDecision`], sent by one of them.
#[utoipa::path(post, path = "/api/v1/staff/appeals/{id}/decision", tag = "staff", security(("staff" = [])),
    params(("id" = String, Path, description = "request id, 64 hex digits")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the reviewers signed decision (oversight::AppealDecision::encode)"),
    responses((status = 200, body = proto::signaling::OversightNotice), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody, description = "no valid staff signature"), (status = 403, body = ErrorBody, description = "refused by the policy (the refusal is a ledger entry)"), (status = 404, body = ErrorBody)))]
pub async fn decide(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<ApiJson<OversightNotice>, ApiError> {
    let (desk, who) = super::api::authenticate(&state, &method, &uri, &headers, &body).await?;
    let request = super::api::request_id(&id)?;
    desk.decide_appeal(who, request, &body, crate::unix_now_secs())
        .await
        .map(ApiJson)
        .map_err(super::api::refusal)
}

/// The signed-in account of a notice or appeal call, suspended or not.
pub struct NoticeCaller(pub AccountId);

impl axum::extract::FromRequestParts<AppState> for NoticeCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .filter(|token| !token.is_empty() && token.len() <= 64)
            .ok_or_else(|| ApiError::unauthenticated("expected Authorization: Bearer <token>"))?;
        state
            .store
            .session_account_for_notices(&crate::auth::token_hash(token), crate::unix_now())
            .await?
            .map(NoticeCaller)
            .ok_or_else(|| ApiError::unauthenticated("the token is unknown or has expired"))
    }
}
