//! `conclave admin`: the staff side of oversight (issue #5). A staff member
//! keeps an Ed25519 key on their own machine; every call to the staff API is
//! signed with it (`Authorization: Conclave-Staff …`), and so is every
//! request, approval and veto, so the server can forward but never forge
//! them.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use oversight::{
    format_public_key, Action, ActionKind, Approval, EvidenceRecord, Region, Request, RequestHash,
    SignedRequest, StaffAuthorization, StaffId, Veto,
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
}

/// Who signs and where to.
#[derive(Debug, Clone, clap::Args)]
pub struct StaffArgs {
    /// The staff key file from `conclave admin keygen`.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Your staff id as configured on the server.
    #[arg(long, value_name = "ID")]
    pub staff_id: String,
    /// The server's base URL, e.g. https://meet.example.org.
    #[arg(long, value_name = "URL")]
    pub server: String,
}

/// `conclave admin request`.
#[derive(Debug, clap::Args)]
pub struct RequestArgs {
    /// end_meeting, suspend_account or reinstate_account.
    pub action: String,
    /// The meeting or account id the action is against.
    #[arg(long, value_name = "ID")]
    pub subject: String,
    /// ISO 3166-1 alpha-2 country of the subject.
    #[arg(long, value_name = "CC")]
    pub region: String,
    /// The statement of reasons (shown to the subject).
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// Unverified evidence files (screenshots), recorded by their hash.
    #[arg(long, value_name = "FILE")]
    pub evidence: Vec<PathBuf>,
    /// Delay of the subject's notice, in seconds.
    #[arg(long, default_value_t = 0, value_name = "SECS")]
    pub notice_delay_secs: u64,
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
    #[arg(long, value_name = "TEXT")]
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
            let action = action(&args.action, &args.subject)?;
            let mut evidence = Vec::new();
            for path in &args.evidence {
                let bytes = read_bounded(path)?;
                evidence.push(EvidenceRecord::screenshot(&bytes));
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
        AdminCommand::List(args) => {
            let (staff, key) = signer(&args)?;
            let body = call(
                &args,
                &staff,
                &key,
                "GET",
                "/api/v1/staff/requests",
                Vec::new(),
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&body)?);
            Ok(())
        }
        AdminCommand::Show(args) => {
            let (staff, key) = signer(&args.staff)?;
            let id = request_id(&args.request_id)?;
            let path = format!("/api/v1/staff/requests/{id}");
            let body = call(&args.staff, &staff, &key, "GET", &path, Vec::new()).await?;
            println!("{}", serde_json::to_string_pretty(&body)?);
            Ok(())
        }
    }
}

fn action(name: &str, subject: &str) -> anyhow::Result<Action> {
    let kind: ActionKind = name.parse().with_context(|| format!("action {name:?}"))?;
    Ok(match kind {
        ActionKind::EndMeeting => Action::EndMeeting {
            meeting: subject
                .parse()
                .with_context(|| format!("--subject {subject:?} is not a meeting id"))?,
        },
        ActionKind::SuspendAccount => Action::SuspendAccount {
            account: subject
                .parse()
                .with_context(|| format!("--subject {subject:?} is not an account id"))?,
        },
        ActionKind::ReinstateAccount => Action::ReinstateAccount {
            account: subject
                .parse()
                .with_context(|| format!("--subject {subject:?} is not an account id"))?,
        },
        other => bail!(
            "`conclave admin request` files end_meeting, suspend_account and reinstate_account; {} is not supported yet (#5)",
            other.name()
        ),
    })
}

fn request_id(text: &str) -> anyhow::Result<RequestHash> {
    text.parse()
        .map_err(|_| anyhow::anyhow!("request id {text:?} is not 64 lowercase hex digits"))
}

/// Signs and sends one staff call; returns the JSON answer.
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
