//! `conclave admin`: the staff side of oversight (issue #5). A staff member
//! keeps an Ed25519 key on their own machine; every call to the staff API is
//! signed with it (`Authorization: Conclave-Staff …`), and so is every
//! request, approval and veto, so the server can forward but never forge
//! them.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context as _};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use oversight::{
    format_public_key, AccountField, Action, ActionKind, AppealDecision, Approval, EvidenceRecord,
    Region, Request, RequestHash, SignedRequest, StaffAuthorization, StaffId, Veto,
};
use rand::rngs::OsRng;
use rand::RngCore as _;

/// Largest evidence file read.
const MAX_EVIDENCE_FILE: u64 = 32 * 1024 * 1024;

/// `conclave admin …`.
#[derive(Debug, clap::Subcommand)]
pub enum AdminCommand {
    /// Create a staff key file (mode 0600) and print its public key for the
    /// server's `[[oversight.staff]]` table.
    Keygen {
        /// Where to write the key; must not exist.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// File a privileged request; prints its id.
    Request(RequestArgs),
    /// Approve a request.
    Approve(DecideArgs),
    /// Veto a request.
    Veto(VetoArgs),
    /// List pending requests.
    List(StaffArgs),
    /// Show one request.
    Show(DecideArgs),
    /// Fetch the disclosure of an executed disclose_account_data you filed.
    Disclosure(DecideArgs),
    /// Decide an appeal: you and every `--reviewer` sign the decision; the
    /// reviewers must have taken no part in the original order.
    AppealDecide(AppealDecideArgs),
    /// List users' open reports, heaviest first, with flagged reporters.
    Reports(StaffArgs),
    /// Close a review item of users' reports as founded or unfounded.
    ResolveReport(ResolveReportArgs),
}

/// `conclave admin resolve-report`.
#[derive(Debug, clap::Args)]
pub struct ResolveReportArgs {
    /// The review item's id (from `conclave admin reports`).
    pub item: u64,
    /// `founded` or `unfounded`; unfounded reports count against their reporters.
    #[arg(long, value_name = "founded|unfounded")]
    pub verdict: String,
    /// Signer and server.
    #[command(flatten)]
    pub staff: StaffArgs,
}

/// `conclave admin appeal-decide`.
#[derive(Debug, clap::Args)]
pub struct AppealDecideArgs {
    /// The request id of the appealed action (64 hex digits).
    pub request_id: String,
    /// `uphold` (the action stands) or `overturn`.
    #[arg(long, value_name = "uphold|overturn")]
    pub decision: String,
    /// The reviewers' reasons, sent to the appellant.
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub reason: String,
    /// Another reviewer signing the same decision, as ID=FILE (repeatable).
    #[arg(long, value_name = "ID=FILE")]
    pub reviewer: Vec<String>,
    /// The first reviewer, who signs the call too, and the server.
    #[command(flatten)]
    pub staff: StaffArgs,
}

/// Who signs and where to.
#[derive(Debug, Clone, clap::Args)]
pub struct StaffArgs {
    /// The staff key file from `conclave admin keygen`.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Your staff id as configured on the server.
    #[arg(long, value_name = "ID", allow_hyphen_values = true)]
    pub staff_id: String,
    /// The server's base URL, e.g. https://meet.example.org.
    #[arg(long, value_name = "URL")]
    pub server: String,
}

/// `conclave admin request`.
#[derive(Debug, clap::Args)]
pub struct RequestArgs {
    /// end_meeting, suspend_account, reinstate_account or
    /// disclose_account_data.
    pub action: String,
    /// The meeting or account id the action is against.
    // Ids are base64url and may begin with '-'.
    #[arg(long, value_name = "ID", allow_hyphen_values = true)]
    pub subject: String,
    /// ISO 3166-1 alpha-2 country of the subject as the server records it (the country the
    /// account holder declared, else the server's default_region; for a meeting, its
    /// host's). The server refuses, and logs, a request naming another.
    #[arg(long, value_name = "CC")]
    pub region: String,
    /// The statement of reasons (shown to the subject).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub reason: String,
    /// Unverified evidence files (screenshots), recorded by their hash.
    #[arg(long, value_name = "FILE")]
    pub evidence: Vec<PathBuf>,
    /// Verified evidence: a reported chat message's opening (the JSON of
    /// `POST /api/v1/chat/reports/verify`). The server checks its franking first;
    /// it can only ground an action against the account that sent it.
    #[arg(long, value_name = "FILE")]
    pub franked: Vec<PathBuf>,
    /// Delay of the subject's notice, in seconds (disclosures only).
    #[arg(long, default_value_t = 0, value_name = "SECS")]
    pub notice_delay_secs: u64,
    /// For disclose_account_data: a field to disclose (username,
    /// display_name, avatar, created_at); repeatable.
    #[arg(long, value_name = "NAME")]
    pub field: Vec<String>,
    /// For disclose_account_data: the receiving authority and its case
    /// reference.
    #[arg(long, value_name = "TEXT")]
    pub recipient: Option<String>,
    /// Signer and server.
    #[command(flatten)]
    pub staff: StaffArgs,
}

/// `conclave admin approve|show`.
#[derive(Debug, clap::Args)]
pub struct DecideArgs {
    /// The request id (64 hex digits).
    pub request_id: String,
    /// Signer and server.
    #[command(flatten)]
    pub staff: StaffArgs,
}

/// `conclave admin veto`.
#[derive(Debug, clap::Args)]
pub struct VetoArgs {
    /// The request id (64 hex digits).
    pub request_id: String,
    /// Why (logged).
    #[arg(long, value_name = "TEXT", allow_hyphen_values = true)]
    pub reason: String,
    /// Signer and server.
    #[command(flatten)]
    pub staff: StaffArgs,
}

/// Runs `conclave admin`; prints the error and exits 1 on failure.
pub fn main(command: AdminCommand) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::Keygen { out } => {
            let key = SigningKey::generate(&mut OsRng);
            write_key(&out, &key)?;
            println!("{}", format_public_key(&key.verifying_key()));
            Ok(())
        }
        AdminCommand::Request(args) => {
            let (staff, key) = signer(&args.staff)?;
            let action = action(&args)?;
            let mut evidence = Vec::new();
            for path in &args.evidence {
                let bytes = read_bounded(path)?;
                evidence.push(EvidenceRecord::screenshot(&bytes));
            }
            for path in &args.franked {
                evidence.push(franked_evidence(&args.staff, &staff, &key, path).await?);
            }
            let mut nonce = [0; 32];
            OsRng.fill_bytes(&mut nonce);
            let request = Request {
                action,
                region: Region::Country(
                    args.region
                        .parse()
                        .with_context(|| format!("--region {:?}", args.region))?,
                ),
                reasons: args.reason,
                evidence,
                requester: staff.clone(),
                filed_at: server::unix_now_secs(),
                notice_delay_secs: args.notice_delay_secs,
                nonce,
            };
            request.validate().context("the request is not valid")?;
            let signed = SignedRequest::sign(request, &key);
            let body = call(
                &args.staff,
                &staff,
                &key,
                "POST",
                "/api/v1/staff/requests",
                signed.encode(),
            )
            .await?;
            let id = body["id"]
                .as_str()
                .context("the server's answer has no id")?;
            println!("{id}");
            Ok(())
        }
        AdminCommand::Approve(args) => {
            let (staff, key) = signer(&args.staff)?;
            let id = request_id(&args.request_id)?;
            let approval = Approval::sign(id, staff.clone(), server::unix_now_secs(), &key);
            let path = format!("/api/v1/staff/requests/{id}/approvals");
            let body = call(&args.staff, &staff, &key, "POST", &path, approval.encode()).await?;
            println!("{}", serde_json::to_string_pretty(&body)?);
            Ok(())
        }
        AdminCommand::Veto(args) => {
            let (staff, key) = signer(&args.staff)?;
            let id = request_id(&args.request_id)?;
            let veto = Veto::sign(
                id,
                staff.clone(),
                server::unix_now_secs(),
                args.reason,
                &key,
            );
            let path = format!("/api/v1/staff/requests/{id}/vetoes");
            let body = call(&args.staff, &staff, &key, "POST", &path, veto.encode()).await?;
            println!("{}", serde_json::to_string_pretty(&body)?);
            Ok(())
        }
        AdminCommand::List(args) => show(&args, "/api/v1/staff/requests").await,
        AdminCommand::Disclosure(args) => {
            let id = request_id(&args.request_id)?;
            show(
                &args.staff,
                &format!("/api/v1/staff/requests/{id}/disclosure"),
            )
            .await
        }
        AdminCommand::AppealDecide(args) => {
            let (staff, key) = signer(&args.staff)?;
            let id = request_id(&args.request_id)?;
            let upheld = match args.decision.as_str() {
                "uphold" => true,
                "overturn" => false,
                other => bail!("--decision {other:?}: expected uphold or overturn"),
            };
            let mut decision =
                AppealDecision::new(id, upheld, args.reason, server::unix_now_secs());
            decision.sign(staff.clone(), &key);
            for reviewer in &args.reviewer {
                let (other, file) = reviewer
                    .split_once('=')
                    .with_context(|| format!("--reviewer {reviewer:?}: expected ID=FILE"))?;
                let other: StaffId = other
                    .parse()
                    .with_context(|| format!("--reviewer {reviewer:?}"))?;
                decision.sign(other, &read_key(Path::new(file))?);
            }
            let path = format!("/api/v1/staff/appeals/{id}/decision");
            let body = call(&args.staff, &staff, &key, "POST", &path, decision.encode()).await?;
            println!("{}", serde_json::to_string_pretty(&body)?);
            Ok(())
        }
        AdminCommand::Reports(args) => show(&args, "/api/v1/staff/reports").await,
        AdminCommand::ResolveReport(args) => {
            let (staff, key) = signer(&args.staff)?;
            let founded = match args.verdict.as_str() {
                "founded" => true,
                "unfounded" => false,
                other => bail!("--verdict {other:?}: use founded or unfounded"),
            };
            let path = format!("/api/v1/staff/reports/{}/resolution", args.item);
            let body = serde_json::to_vec(&serde_json::json!({ "founded": founded }))?;
            let answer = call(&args.staff, &staff, &key, "POST", &path, body).await?;
            println!("{}", serde_json::to_string_pretty(&answer)?);
            Ok(())
        }
        AdminCommand::Show(args) => {
            let id = request_id(&args.request_id)?;
            show(&args.staff, &format!("/api/v1/staff/requests/{id}")).await
        }
    }
}

fn action(args: &RequestArgs) -> anyhow::Result<Action> {
    let (name, subject) = (&args.action, &args.subject);
    let kind: ActionKind = name.parse().with_context(|| format!("action {name:?}"))?;
    let account = || {
        subject
            .parse()
            .with_context(|| format!("--subject {subject:?} is not an account id"))
    };
    Ok(match kind {
        ActionKind::EndMeeting => Action::EndMeeting {
            meeting: subject
                .parse()
                .with_context(|| format!("--subject {subject:?} is not a meeting id"))?,
        },
        ActionKind::SuspendAccount => Action::SuspendAccount { account: account()? },
        ActionKind::ReinstateAccount => Action::ReinstateAccount { account: account()? },
        ActionKind::DiscloseAccountData => {
            if args.field.is_empty() {
                bail!("disclose_account_data needs at least one --field (username, display_name, avatar, created_at)");
            }
            let fields = args
                .field
                .iter()
                .map(|name| {
                    name.parse::<AccountField>()
                        .with_context(|| format!("--field {name:?}"))
                })
                .collect::<anyhow::Result<_>>()?;
            Action::DiscloseAccountData {
                account: account()?,
                fields,
                recipient: args
                    .recipient
                    .clone()
                    .context("disclose_account_data needs --recipient (the authority and its case reference)")?,
            }
        }
        other => bail!(
            "`conclave admin request` files end_meeting, suspend_account, reinstate_account and disclose_account_data; {} is not supported yet (#5)",
            other.name()
        ),
    })
}

fn request_id(text: &str) -> anyhow::Result<RequestHash> {
    text.parse()
        .map_err(|_| anyhow::anyhow!("request id {text:?} is not 64 lowercase hex digits"))
}

/// Signs and sends one staff call; returns the JSON answer.
/// Has the server verify a chat report's opening and hold it; gives the record a request
/// cites it by.
async fn franked_evidence(
    args: &StaffArgs,
    staff: &StaffId,
    key: &SigningKey,
    path: &Path,
) -> anyhow::Result<EvidenceRecord> {
    let opening = read_bounded(path)?;
    let answer = call(args, staff, key, "POST", "/api/v1/staff/evidence", opening)
        .await
        .with_context(|| format!("--franked {}", path.display()))?;
    let field = |name: &str| {
        answer[name]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("the server's evidence answer has no {name}"))
    };
    let hash = |name: &str| -> anyhow::Result<ledger::Hash> {
        ledger::Hash::from_base64(&field(name)?)
            .map_err(|e| anyhow!("the server's {name} is not a hash: {e}"))
    };
    Ok(EvidenceRecord::FrankedMessage {
        sender: field("sender_account_id")?
            .parse()
            .map_err(|e| anyhow!("the server's sender_account_id: {e}"))?,
        meeting: hash("meeting_digest")?,
        sent_at_millis: answer["sent_at_millis"]
            .as_u64()
            .context("the server's evidence answer has no sent_at_millis")?,
        content: hash("content_digest")?,
    })
}

async fn call(
    args: &StaffArgs,
    staff: &StaffId,
    key: &SigningKey,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> anyhow::Result<serde_json::Value> {
    let mut nonce = [0; 16];
    OsRng.fill_bytes(&mut nonce);
    let header = StaffAuthorization::sign(
        staff.clone(),
        key,
        method,
        path,
        &body,
        server::unix_now_secs(),
        nonce,
    )
    .to_header();
    let url = format!("{}{path}", args.server.trim_end_matches('/'));
    let method = reqwest::Method::from_bytes(method.as_bytes()).context("HTTP method")?;
    let response = reqwest::Client::new()
        .request(method, &url)
        .header("authorization", header)
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let text = response.text().await.context("read the answer")?;
    if !status.is_success() {
        bail!("the server refused ({status}): {text}");
    }
    serde_json::from_str(&text).with_context(|| format!("the server's answer is not JSON: {text}"))
}

/// A signed GET (its body is empty), its JSON answer printed.
async fn show(args: &StaffArgs, path: &str) -> anyhow::Result<()> {
    let (staff, key) = signer(args)?;
    let body = call(args, &staff, &key, "GET", path, Vec::new()).await?;
    println!("{}", serde_json::to_string_pretty(&body)?);
    Ok(())
}

fn signer(args: &StaffArgs) -> anyhow::Result<(StaffId, SigningKey)> {
    let staff: StaffId = args
        .staff_id
        .parse()
        .with_context(|| format!("--staff-id {:?}", args.staff_id))?;
    Ok((staff, read_key(&args.key)?))
}

fn write_key(path: &Path, key: &SigningKey) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| {
        format!(
            "cannot create key file {} (it must not exist)",
            path.display()
        )
    })?;
    writeln!(file, "{}", BASE64.encode(key.to_bytes()))
        .with_context(|| format!("cannot write {}", path.display()))
}

fn read_key(path: &Path) -> anyhow::Result<SigningKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read key file {}", path.display()))?;
    let bytes: [u8; 32] = BASE64
        .decode(text.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .with_context(|| {
            format!(
                "{} is not a key from `conclave admin keygen`",
                path.display()
            )
        })?;
    Ok(SigningKey::from_bytes(&bytes))
}

fn read_bounded(path: &Path) -> anyhow::Result<Vec<u8>> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read evidence {}", path.display()))?
        .len();
    if size > MAX_EVIDENCE_FILE {
        bail!(
            "evidence {} is {size} bytes; at most {MAX_EVIDENCE_FILE}",
            path.display()
        );
    }
    std::fs::read(path).with_context(|| format!("cannot read evidence {}", path.display()))
}
