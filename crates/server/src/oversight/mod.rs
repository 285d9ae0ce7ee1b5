//! The shell around the sans-IO [`oversight`] core: one [`Oversight`] and
//! its [`ReplayGuard`] behind one async lock, every step's ledger entries
//! appended before its effect (issue #5).
//!
//! Start: if the ledger already holds oversight entries, the core is rebuilt
//! from them with [`Oversight::resume`] (the ledger wins over the TOML):
//! staff, policy, pending requests with their approvals, executed requests
//! with their notices and appeals, and delayed disclosures not yet opened.
//! A request filed under a notice delay is only a hash in the public log;
//! its body is kept privately in storage before that entry is appended.
//! Otherwise the `[oversight]` genesis from the configuration is appended.
//!
//! Notices are the core's, rebuilt from the `oversight.notice` entries; each
//! new one is also pushed to its recipient's signaling connections
//! ([`notices`]). A server task runs [`OversightService::tick`] every second
//! to log expiries and open delayed disclosures at their deadline.

pub mod api;
pub mod disclosure;
pub mod execute;
pub mod notices;
pub mod reports;

use std::collections::BTreeMap;
use std::sync::Arc;

use ledger::{Entry, LeafIndex};
use oversight::{
    Action, AuthError, AuthenticatedStaff, EvidenceRecord, ExecutionOrder, FiledRequest,
    Jurisdiction, Logged, Oversight, OversightConfig, OversightEntry, Region, ReplayGuard,
    RequestHash, RequestState, SignedRequest, SubjectRecord, VerifiedReport, Violation,
};

use crate::ledger::{Appended, LedgerError, LedgerService};
use notices::NoticeEvent;

/// How far a staff request's timestamp may be from the server clock.
pub const STAFF_AUTH_WINDOW_SECS: u64 = 300;

/// Ledger entries read per page while replaying governance.
const REPLAY_PAGE: u64 = 1000;

/// The running oversight desk. Cheap to clone.
#[derive(Clone)]
pub struct OversightService(Arc<Inner>);

struct Inner {
    ledger: LedgerService,
    store: storage::Store,
    /// The region of accounts that declared none (`[oversight] default_region`).
    default_region: Option<Jurisdiction>,
    desk: tokio::sync::Mutex<Desk>,
    /// New notices and appeal decisions, for the recipients' signaling
    /// connections.
    events: tokio::sync::broadcast::Sender<Arc<NoticeEvent>>,
    /// Users' reports, for staff review; never a cause of action by themselves.
    reports: tokio::sync::Mutex<oversight::ReportDesk>,
}

struct Desk {
    core: Oversight,
    guard: ReplayGuard,
    /// Franked chat reports staff uploaded and the server verified, until a request
    /// that cites them is filed (or they expire). In memory: they are personal data and
    /// stay out of the public log until a request cites their digests.
    evidence: Vec<(VerifiedReport, u64)>,
}

/// Most verified reports held for filing at once.
pub const MAX_HELD_EVIDENCE: usize = 256;
/// How long a verified report is held for a request to cite it.
pub const EVIDENCE_HOLD_SECS: u64 = 3600;

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
    /// The stored oversight entries do not replay.
    #[error("the oversight entries in the ledger do not replay: {0}")]
    Resume(#[from] oversight::ResumeError),
    /// The private copies of sealed requests cannot be read.
    #[error("sealed oversight requests: {0}")]
    Sealed(String),
    /// The store refused a read or write.
    #[error("oversight storage: {0}")]
    Storage(#[from] storage::StoreError),
    /// An execution without its notice could not be finished.
    #[error("finishing an execution that had no notice: {0}")]
    CatchUp(String),
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
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] storage::StoreError),
}

/// One request, as the staff API shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
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
        store: storage::Store,
        config: Option<&OversightConfig>,
    ) -> Result<Option<OversightService>, OversightStartError> {
        let default_region = config
            .map(OversightConfig::default_region)
            .transpose()?
            .flatten();
        let mut entries = Vec::new();
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
                entries.push((row.index, entry));
            }
            if next <= start {
                break;
            }
            start = next;
        }
        let core = if entries.is_empty() {
            let Some(config) = config else {
                return Ok(None);
            };
            let (core, entries) = Oversight::genesis(config.genesis()?);
            ledger
                .append_many(entries.iter().map(|e| (e.to_ledger(), None)).collect())
                .await?;
            core
        } else {
            if config.is_some() {
                tracing::info!(
                    "oversight rebuilt from the ledger; the [oversight] staff and policy tables are ignored"
                );
            }
            let mut sealed = BTreeMap::new();
            let rows = store
                .sealed_requests()
                .await
                .map_err(|e| OversightStartError::Sealed(e.to_string()))?;
            for (id, bytes) in rows {
                let signed = SignedRequest::decode(&bytes).map_err(|e| {
                    OversightStartError::Sealed(format!("the copy of {id} does not decode: {e}"))
                })?;
                sealed.insert(signed.hash(), signed);
            }
            Oversight::resume(entries, &sealed)?
        };
        tracing::info!(
            staff = core.staff().members().count(),
            pending = core.pending().count(),
            "oversight ready"
        );
        let (events, _) = tokio::sync::broadcast::channel(notices::EVENT_QUEUE);
        if default_region.is_none() {
            tracing::warn!(
                "no [oversight] default_region: requests against accounts that declared no region are refused"
            );
        }
        let service = OversightService(Arc::new(Inner {
            ledger,
            store,
            default_region,
            desk: tokio::sync::Mutex::new(Desk {
                core,
                guard: ReplayGuard::new(STAFF_AUTH_WINDOW_SECS),
                evidence: Vec::new(),
            }),
            events,
            reports: tokio::sync::Mutex::new(oversight::ReportDesk::new(
                oversight::ReportDeskConfig::default(),
            )),
        }));
        service.catch_up().await?;
        Ok(Some(service))
    }

    /// Finishes executions the log shows without their notice: the server stopped
    /// between the two, so the effect may be missing as well. Each effect is applied
    /// again (all are idempotent; no meeting is live yet), in log order, then the
    /// notice is issued.
    async fn catch_up(&self) -> Result<(), OversightStartError> {
        let unnoticed = self.0.desk.lock().await.core.unnoticed();
        for late in unnoticed {
            let now = crate::unix_now();
            match &late.action {
                Action::EndMeeting { meeting } => {
                    self.0.store.end_meeting(meeting, now).await?;
                }
                Action::SuspendAccount { account } => {
                    self.0.store.set_suspended(account, Some(now)).await?;
                }
                Action::ReinstateAccount { account } => {
                    self.0.store.set_suspended(account, None).await?;
                }
                // Disclosures are read on request; staff and policy changes have no
                // notice and are never listed.
                _ => {}
            }
            self.issue_notice(
                late.request,
                LeafIndex(late.ledger_index),
                crate::unix_now_secs(),
            )
            .await
            .map_err(|e| OversightStartError::CatchUp(e.to_string()))?;
            tracing::warn!(
                request = %late.request,
                "an execution had no notice (the server stopped in between); effect applied again and notice issued"
            );
        }
        Ok(())
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
        let bytes = signed.encode();
        // Read before taking the desk: a request racing a registration sees either state.
        let subject = self.subject_record(&signed.request().action).await?;
        let mut desk = self.0.desk.lock().await;
        // The verified reports this request cites; the core matches each franked item
        // to one of them and refuses the request if one is missing.
        let cited = &signed.request().evidence;
        let (reports, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut desk.evidence)
            .into_iter()
            .filter(|(_, expires_at)| *expires_at > now)
            .partition(|(report, _)| cited.contains(report.record()));
        desk.evidence = kept;
        let reports = reports.into_iter().map(|(report, _)| report).collect();
        let logged = desk.core.file(signed, reports, subject, now);
        // A sealed request's body is kept privately before the ledger shows
        // its hash, so that a restart can still execute and open it.
        for entry in &logged.entries {
            if let OversightEntry::Request(FiledRequest::Sealed { request, .. }) = entry {
                self.0
                    .store
                    .store_sealed_request(&request.to_string(), &bytes, crate::unix_now())
                    .await?;
            }
        }
        Ok(self.record(logged).await?.0?)
    }

    /// What the records say about an action's subject: an account's declared region
    /// (or the default), a meeting's host's; staff and policy changes are global.
    async fn subject_record(&self, action: &Action) -> Result<SubjectRecord, OversightError> {
        let account = match action {
            Action::EndMeeting { meeting } => match self.0.store.meeting(meeting).await? {
                Some(meeting) => meeting.host,
                None => return Ok(SubjectRecord::Missing),
            },
            Action::SuspendAccount { account }
            | Action::ReinstateAccount { account }
            | Action::DiscloseAccountData { account, .. } => account.clone(),
            _ => return Ok(SubjectRecord::Region(Region::Global)),
        };
        let Some(record) = self.0.store.account(&account).await? else {
            return Ok(SubjectRecord::Missing);
        };
        let declared = match record.region.as_deref() {
            Some(code) => Some(code.parse::<Jurisdiction>().map_err(|e| {
                OversightError::Storage(storage::StoreError::Corrupt {
                    column: "accounts.region",
                    detail: e.to_string(),
                })
            })?),
            None => None,
        };
        Ok(match declared.or(self.0.default_region) {
            Some(country) => SubjectRecord::Region(Region::Country(country)),
            None => SubjectRecord::NoRegion,
        })
    }

    /// Holds a franked report the server verified, for a request to cite; gives the
    /// evidence record a request carries for it.
    pub async fn hold_evidence(
        &self,
        report: VerifiedReport,
        now: u64,
    ) -> Result<EvidenceRecord, OversightError> {
        let record = report.record().clone();
        let mut desk = self.0.desk.lock().await;
        desk.evidence.retain(|(_, expires_at)| *expires_at > now);
        if desk.evidence.len() >= MAX_HELD_EVIDENCE {
            return Err(OversightError::Malformed {
                what: "evidence",
                problem: format!(
                    "{MAX_HELD_EVIDENCE} verified reports are waiting to be cited; file those requests first"
                ),
            });
        }
        desk.evidence
            .push((report, now.saturating_add(EVIDENCE_HOLD_SECS)));
        Ok(record)
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

    /// The certificate and state of an executed request.
    pub async fn executed(
        &self,
        request: &RequestHash,
    ) -> Option<(oversight::QuorumCertificate, RequestState)> {
        let desk = self.0.desk.lock().await;
        Some((
            desk.core.certificate(request)?.clone(),
            desk.core.state(request)?,
        ))
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
