//! The shell around the sans-IO [`oversight`] core: one [`Oversight`] and
//! its [`ReplayGuard`] behind one async lock, every step's ledger entries
//! appended before its effect (issue #5).
//!
//! Start: if the ledger already holds oversight entries, the staff set and
//! policy are rebuilt from them with [`Governance`] (the ledger wins over the
//! TOML). Otherwise the `[oversight]` genesis from the configuration is
//! appended. Requests pending at shutdown are not rebuilt: the core has no
//! way to resume them, so they must be filed again (their earlier entries
//! stay in the ledger).

pub mod api;
pub mod execute;

use std::sync::Arc;

use ledger::{Entry, LeafIndex};
use oversight::{
    AuthError, AuthenticatedStaff, ExecutionOrder, FiledRequest, Genesis, Governance, Logged,
    Notice, NoticeSubject, Oversight, OversightConfig, OversightEntry, ReplayGuard, RequestHash,
    RequestState, SignedRequest, Violation,
};

use crate::ledger::{Appended, LedgerError, LedgerService};

/// How far a staff request's timestamp may be from the server clock.
pub const STAFF_AUTH_WINDOW_SECS: u64 = 300;

/// Ledger entries read per page while replaying governance.
const REPLAY_PAGE: u64 = 1000;

/// The running oversight desk. Cheap to clone.
#[derive(Clone)]
pub struct OversightService(Arc<Inner>);

struct Inner {
    ledger: LedgerService,
    desk: tokio::sync::Mutex<Desk>,
}

struct Desk {
    core: Oversight,
    guard: ReplayGuard,
    /// Notices issued in this run, in order. Held in memory only: after a
    /// restart they are still in the ledger (`oversight.notice`), but this
    /// list starts empty (issue #5).
    notices: Vec<Notice>,
}

/// Why oversight could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OversightStartError {
    /// The `[oversight]` table is invalid.
    #[error("the [oversight] configuration is invalid: {0}")]
    Config(#[from] oversight::ConfigError),
    /// The ledger could not be read or written.
    #[error("oversight ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// A stored entry does not decode.
    #[error("ledger entry {index} is not a valid oversight entry ({problem})")]
    Entry {
        /// Its position.
        index: u64,
        /// What is wrong.
        problem: String,
    },
    /// The stored staff and policy entries do not replay.
    #[error("the oversight entries in the ledger do not replay: {0}")]
    Replay(#[from] oversight::ReplayError),
}

/// Why a staff call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OversightError {
    /// The request body does not decode.
    #[error("malformed {what}: {problem}")]
    Malformed {
        /// What was sent.
        what: &'static str,
        /// Why it does not decode.
        problem: String,
    },
    /// The header's staff member is not the one who signed the body.
    #[error("{authenticated} cannot submit what {signer} signed")]
    NotSigner {
        /// Who authenticated.
        authenticated: String,
        /// Who signed the body.
        signer: String,
    },
    /// The core refused (the refusal is in the ledger when it is attributable).
    #[error("{0}")]
    Refused(#[from] Violation),
    /// No such request.
    #[error("no request {0}")]
    UnknownRequest(RequestHash),
    /// The ledger could not record the step; nothing was done.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// One request, as the staff API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RequestView {
    /// The request hash (64 hex digits).
    pub id: String,
    /// `pending`, `executed`, `vetoed`, `refused` or `expired`.
    pub state: &'static str,
    /// The action's name.
    pub action: &'static str,
    /// Who filed it.
    pub requester: String,
    /// The stated reasons.
    pub reasons: String,
    /// Approvals accepted so far (pending requests only).
    pub approvals: Option<usize>,
    /// When a pending request expires.
    pub expires_at: Option<u64>,
    /// When an executed request was executed.
    pub executed_at: Option<u64>,
}

/// What an approval did.
// One per approval and short-lived, like the core's `Progress`.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum ApprovalOutcome {
    /// Still pending.
    Pending(RequestView),
    /// Quorum reached: act on the order. `execution` is where its
    /// `oversight.execution` entry is.
    Executed {
        /// The order to act on.
        order: ExecutionOrder,
        /// The execution entry's position.
        execution: Option<LeafIndex>,
    },
}

impl OversightService {
    /// Rebuilds from the ledger, or writes the genesis from `config` when
    /// the ledger holds no oversight entries. `None` when neither exists:
    /// the server then runs without a staff API.
    pub async fn open(
        ledger: LedgerService,
        config: Option<&OversightConfig>,
    ) -> Result<Option<OversightService>, OversightStartError> {
        let mut governance = Governance::new();
        let mut found = false;
        let size = ledger.checkpoint().size;
        let mut start = 0;
        while start < size {
            let end = size.min(start + REPLAY_PAGE);
            let (rows, next) = ledger
                .entries(start, end, REPLAY_PAGE, 8 * 1024 * 1024)
                .await?;
            for row in rows {
                let bad = |problem: String| OversightStartError::Entry {
                    index: row.index,
                    problem,
                };
                let entry = Entry::decode(&row.entry).map_err(|e| bad(e.to_string()))?;
                if !entry.tag().as_str().starts_with("oversight.") {
                    continue;
                }
                let entry = OversightEntry::from_ledger(&entry).map_err(|e| bad(e.to_string()))?;
                governance.apply(&entry)?;
                found = true;
            }
            if next <= start {
                break;
            }
            start = next;
        }
        let core = if found {
            if config.is_some() {
                tracing::info!("oversight staff and policy rebuilt from the ledger; the [oversight] genesis table is ignored");
            }
            let genesis = Genesis {
                staff: governance.staff().clone(),
                policy: governance.policy()?,
            };
            Oversight::genesis(genesis).0
        } else {
            let Some(config) = config else {
                return Ok(None);
            };
            let (core, entries) = Oversight::genesis(config.genesis()?);
            ledger
                .append_many(entries.iter().map(|e| (e.to_ledger(), None)).collect())
                .await?;
            core
        };
        tracing::info!(staff = core.staff().members().count(), "oversight ready");
        Ok(Some(OversightService(Arc::new(Inner {
            ledger,
            desk: tokio::sync::Mutex::new(Desk {
                core,
                guard: ReplayGuard::new(STAFF_AUTH_WINDOW_SECS),
                notices: Vec::new(),
            }),
        }))))
    }

    /// Checks a staff API call's `Authorization` header.
    pub async fn authenticate(
        &self,
        header: &str,
        method: &str,
        path: &str,
        body: &[u8],
        now: u64,
    ) -> Result<AuthenticatedStaff, AuthError> {
        let mut desk = self.0.desk.lock().await;
        let Desk { core, guard, .. } = &mut *desk;
        guard.verify(header, method, path, body, core.staff(), now)
    }

    /// Files a request from its canonical signed bytes.
    pub async fn file(
        &self,
        who: AuthenticatedStaff,
        body: &[u8],
        now: u64,
    ) -> Result<RequestHash, OversightError> {
        let signed = SignedRequest::decode(body).map_err(|e| OversightError::Malformed {
            what: "signed request",
            problem: e.to_string(),
        })?;
        same_signer(&who, &signed.request().requester.to_string())?;
        let mut desk = self.0.desk.lock().await;
        let logged = desk.core.file(signed, Vec::new(), now);
        Ok(self.record(logged).await?.0?)
    }

    /// Adds an approval (canonical bytes of [`oversight::Approval`]).
    pub async fn approve(
        &self,
        who: AuthenticatedStaff,
        request: RequestHash,
        body: &[u8],
        now: u64,
    ) -> Result<ApprovalOutcome, OversightError> {
        let approval =
            oversight::Approval::decode(body).map_err(|e| OversightError::Malformed {
                what: "approval",
                problem: e.to_string(),
            })?;
        same_signer(&who, &approval.staff.to_string())?;
        if approval.request != request {
            return Err(OversightError::Malformed {
                what: "approval",
                problem: "it approves another request than the path names".into(),
            });
        }
        let mut desk = self.0.desk.lock().await;
        let logged = desk.core.approve(approval, now);
        let (outcome, appended) = self.record(logged).await?;
        Ok(match outcome? {
            oversight::Progress::Pending { .. } => ApprovalOutcome::Pending(
                view(&desk.core, &request).ok_or(OversightError::UnknownRequest(request))?,
            ),
            oversight::Progress::Executed(order) => {
                let execution = appended
                    .iter()
                    .find(|(_, tag)| tag.as_str() == "oversight.execution")
                    .map(|(appended, _)| appended.index);
                ApprovalOutcome::Executed { order, execution }
            }
        })
    }

    /// Adds a veto (canonical bytes of [`oversight::Veto`]).
    pub async fn veto(
        &self,
        who: AuthenticatedStaff,
        request: RequestHash,
        body: &[u8],
        now: u64,
    ) -> Result<RequestView, OversightError> {
        let veto = oversight::Veto::decode(body).map_err(|e| OversightError::Malformed {
            what: "veto",
            problem: e.to_string(),
        })?;
        same_signer(&who, &veto.staff.to_string())?;
        if veto.request != request {
            return Err(OversightError::Malformed {
                what: "veto",
                problem: "it vetoes another request than the path names".into(),
            });
        }
        let mut desk = self.0.desk.lock().await;
        let logged = desk.core.veto(veto, now);
        self.record(logged).await?.0?;
        view(&desk.core, &request).ok_or(OversightError::UnknownRequest(request))
    }

    /// Pending requests.
    pub async fn list(&self) -> Vec<RequestView> {
        let desk = self.0.desk.lock().await;
        desk.core
            .pending()
            .filter_map(|pending| view(&desk.core, &pending.signed_request().hash()))
            .collect()
    }

    /// One request in any state this server run knows.
    pub async fn show(&self, request: &RequestHash) -> Option<RequestView> {
        let desk = self.0.desk.lock().await;
        view(&desk.core, request)
    }

    /// Issues the subject's notice of an executed request whose execution
    /// entry is at `execution`, and logs it.
    pub async fn issue_notice(
        &self,
        request: RequestHash,
        execution: LeafIndex,
        now: u64,
    ) -> Result<Notice, OversightError> {
        let mut desk = self.0.desk.lock().await;
        let logged = desk.core.notice(request, execution.0, now);
        let notice = self.record(logged).await?.0?;
        desk.notices.push(notice.clone());
        Ok(notice)
    }

    /// The notices issued in this run whose subject `concerns` accepts.
    pub async fn notices(&self, concerns: impl Fn(&NoticeSubject) -> bool) -> Vec<Notice> {
        let desk = self.0.desk.lock().await;
        desk.notices
            .iter()
            .filter(|notice| concerns(&notice.subject))
            .cloned()
            .collect()
    }

    /// Appends expiries that are due.
    pub async fn expire(&self, now: u64) -> Result<(), LedgerError> {
        let mut desk = self.0.desk.lock().await;
        let entries = desk.core.poll_expired(now);
        self.append(&entries).await.map(drop)
    }

    /// Appends a step's entries, then hands back its outcome.
    async fn record<T>(
        &self,
        logged: Logged<T>,
    ) -> Result<(Result<T, Violation>, Vec<(Appended, String)>), LedgerError> {
        let appended = self.append(&logged.entries).await?;
        Ok((logged.outcome, appended))
    }

    async fn append(
        &self,
        entries: &[OversightEntry],
    ) -> Result<Vec<(Appended, String)>, LedgerError> {
        let batch = entries
            .iter()
            .map(|entry| (entry.to_ledger(), subject(entry)))
            .collect();
        let appended = self.0.ledger.append_many(batch).await?;
        Ok(appended
            .into_iter()
            .zip(entries.iter().map(|entry| entry.tag().to_owned()))
            .collect())
    }
}

fn same_signer(who: &AuthenticatedStaff, signer: &str) -> Result<(), OversightError> {
    let authenticated = who.staff().to_string();
    if authenticated != signer {
        return Err(OversightError::NotSigner {
            authenticated,
            signer: signer.to_owned(),
        });
    }
    Ok(())
}

/// The ledger subject of an entry: the request it is about, so that
/// `latest_index_for` finds a request's last step.
fn subject(entry: &OversightEntry) -> Option<String> {
    let request = match entry {
        OversightEntry::Request(FiledRequest::Open(signed)) => signed.hash(),
        OversightEntry::Request(FiledRequest::Sealed { request, .. }) => *request,
        OversightEntry::Approval(approval) => approval.request,
        OversightEntry::Veto(veto) => veto.request,
        OversightEntry::Refusal(refusal) => refusal.request,
        OversightEntry::Execution(certificate) | OversightEntry::Opening(certificate) => {
            certificate.hash()
        }
        OversightEntry::Expiry { request, .. } | OversightEntry::Commitment { request, .. } => {
            *request
        }
        _ => return None,
    };
    Some(request.to_string())
}

fn view(core: &Oversight, hash: &RequestHash) -> Option<RequestView> {
    let state = core.state(hash)?;
    let signed = core.request(hash)?;
    let request = signed.request();
    let (approvals, expires_at, executed_at) = match state {
        RequestState::Pending {
            approvals,
            expires_at,
        } => (Some(approvals), Some(expires_at), None),
        RequestState::Executed { executed_at, .. } => (None, None, Some(executed_at)),
        _ => (None, None, None),
    };
    Some(RequestView {
        id: hash.to_string(),
        state: state_name(state),
        action: request.action.kind().name(),
        requester: request.requester.to_string(),
        reasons: request.reasons.clone(),
        approvals,
        expires_at,
        executed_at,
    })
}

fn state_name(state: RequestState) -> &'static str {
    match state {
        RequestState::Pending { .. } => "pending",
        RequestState::Executed { .. } => "executed",
        RequestState::Vetoed => "vetoed",
        RequestState::Refused => "refused",
        RequestState::Expired => "expired",
    }
}
