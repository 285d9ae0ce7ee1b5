//! `conclave bench signaling`: how fast a server seats guests through the
//! lobby, how long an admission takes, and how much server memory a seated
//! participant costs.
//!
//! The run, every step bounded by a timeout and the whole by [`TOTAL_LIMIT`]:
//! 1. with `--spawn-server`, start `conclave serve` on loopback ports with a
//!    fresh data directory and no auth rate limit, as a child process;
//! 2. register and log in one host account per meeting and create the
//!    meetings with the lobby on (before the clock starts: each password
//!    hash costs the server tens of milliseconds); a spawned server is then
//!    restarted on the same data, so that the memory Argon2 used is not
//!    counted, nor reused, when guests arrive (sessions are durable);
//! 3. seat every host over WebSocket; each host then runs in its own task,
//!    reading its socket and admitting every waiter it sees;
//! 4. connect the guests, spread round-robin over the meetings, with at most
//!    `--concurrency` joins in flight; each says hello, joins, gets
//!    `waiting`, and is admitted; admit latency runs from the host's send of
//!    `admit` to the guest's receipt of `joined`;
//! 5. with everyone seated and idle, read the child's resident memory;
//! 6. everyone sends `leave` and closes; the child gets SIGTERM.
//!
//! Latencies are measured in this process only, so they include the client
//! side's scheduling on a shared machine; they are upper bounds.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use futures_util::{stream, StreamExt, TryStreamExt};
use proto::ids::{MeetingId, ParticipantId};
use proto::rest::NewMeeting;
use proto::signaling::{ClientMessage, ServerMessage};
use rand::distributions::{Alphanumeric, DistString};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{oneshot, watch, Semaphore};
use tokio::task::JoinSet;

/// The whole bench, setup included, is abandoned after this.
pub const TOTAL_LIMIT: Duration = Duration::from_secs(300);
/// Longest wait for any one step (a connection, a reply, a seat).
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for the spawned server to announce its address, and to exit.
const CHILD_TIMEOUT: Duration = Duration::from_secs(30);
/// Quiet time before reading memory, so that buffers of the last burst are settled.
const SETTLE: Duration = Duration::from_millis(500);
/// Hosts pace their `admit`s below the server's per-connection message
/// quota (a burst of 50, then 20 per second), so that a big meeting is
/// measured rather than rate-limited.
const ADMIT_BURST: f64 = 40.0;
/// See [`ADMIT_BURST`].
const ADMIT_PER_SEC: f64 = 18.0;
/// How many distinct error messages the report keeps.
const ERROR_SAMPLES: usize = 10;

/// Options of `conclave bench signaling`.
#[derive(Debug, Clone, clap::Args)]
#[command(group(
    clap::ArgGroup::new("target").required(true).args(["server", "spawn_server"])
))]
pub struct SignalingArgs {
    /// Base URL of a running server, http://IP:PORT. Its auth rate limit
    /// must allow two requests per meeting from this address.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Start a fresh server (this program's `serve`) on loopback for the run;
    /// only then is the server's memory measured.
    #[arg(long)]
    pub spawn_server: bool,
    /// Guests to seat in total.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub participants: u32,
    /// Meetings (one host each) the guests are spread over.
    #[arg(long, value_name = "M", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub meetings: u32,
    /// Where to write the figures as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: PathBuf,
    /// Most guest joins in flight at once.
    #[arg(long, value_name = "C", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,
}

/// The figures of one run, as written to the JSON file.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Guests asked for.
    pub participants: u32,
    /// Meetings (and hosts).
    pub meetings: u32,
    /// Most joins in flight.
    pub concurrency: u32,
    /// Guests that got `joined`.
    pub seated: u32,
    /// Seated guests per second, from the first guest's connect to the last `joined`.
    pub joins_per_sec: f64,
    /// Seconds from the first guest's connect to the last `joined`.
    pub join_phase_secs: f64,
    /// Median time from a host's `admit` to the guest's `joined`.
    pub admit_latency_ms_p50: Option<f64>,
    /// 99th percentile of the same.
    pub admit_latency_ms_p99: Option<f64>,
    /// Largest of the same.
    pub admit_latency_ms_max: Option<f64>,
    /// Server resident memory growth per seated guest (spawned server only).
    pub rss_bytes_per_participant: Option<f64>,
    /// Server resident memory with everyone seated (spawned server only).
    pub server_rss_bytes: Option<u64>,
    /// Server resident memory with only the hosts seated (spawned server only).
    pub server_rss_bytes_before_guests: Option<u64>,
    /// Wall time of the whole run, setup and teardown included.
    pub duration_secs: f64,
    /// Failures of any kind: unseated guests, host errors, failed leaves.
    pub errors: u32,
    /// The first few distinct error messages.
    pub error_samples: Vec<String>,
}

/// Runs the bench and says how the process should exit: 0 when every guest
/// was seated, 1 otherwise or on any failure to run.
pub fn main(args: SignalingArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(report) => {
            print_summary(&report);
            if report.seated < report.participants {
                eprintln!(
                    "error: {} of {} guests were not seated{}",
                    report.participants - report.seated,
                    report.participants,
                    report
                        .error_samples
                        .first()
                        .map(|e| format!(" (first error: {e})"))
                        .unwrap_or_default()
                );
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the bench, writes the JSON file and returns the figures.
pub async fn run(args: &SignalingArgs) -> anyhow::Result<Report> {
    let started = Instant::now();
    // Owned out here, not by the timed future, so that a timeout still
    // ends in a graceful stop of the child.
    let mut child = None;
    let measured = tokio::time::timeout(TOTAL_LIMIT, setup_and_measure(args, &mut child)).await;
    let stopped = match child {
        Some(child) => child.stop().await.map(drop),
        None => Ok(()),
    };
    let mut report = measured.map_err(|_| {
        anyhow!(
            "the bench did not finish within {} s",
            TOTAL_LIMIT.as_secs()
        )
    })??;
    if let Err(e) = stopped {
        report.errors += 1;
        report.error_samples.push(format!("{e:#}"));
    }
    report.duration_secs = started.elapsed().as_secs_f64();
    let json = serde_json::to_string_pretty(&report).context("cannot encode the report")?;
    std::fs::write(&args.json, json + "\n")
        .with_context(|| format!("cannot write {}", args.json.display()))?;
    Ok(report)
}

/// Creates the hosts' accounts and meetings, then measures. A spawned server
/// is restarted in between on the same data directory: Argon2 takes ~19 MiB
/// per password hash, and the allocator keeps those pages and hands them to
/// the guests' connections later, which would make a seated guest look free.
/// Sessions and meetings are durable, so the hosts' tokens stay valid.
async fn setup_and_measure(
    args: &SignalingArgs,
    child: &mut Option<SpawnedServer>,
) -> anyhow::Result<Report> {
    let base = match (&args.server, args.spawn_server) {
        (Some(url), false) => check_server_url(url)?,
        (None, true) => {
            let data = tempfile::Builder::new()
                .prefix("conclave-bench-")
                .tempdir()
                .context("cannot create a data directory for the spawned server")?;
            child.insert(SpawnedServer::start(data).await?).base()
        }
        // clap's argument group makes these unreachable from the command line.
        _ => bail!("give exactly one of --server URL and --spawn-server"),
    };
    let hosts = create_hosts(args, &base).await?;
    let base = match child.take() {
        Some(setup) => {
            let data = setup.stop().await.context("cannot stop the setup server")?;
            child.insert(SpawnedServer::start(data).await?).base()
        }
        None => base,
    };
    let pid = child.as_ref().map(|c| c.pid);
    measure(args, &base, pid, hosts).await
}

/// Registers and logs in one host per meeting and creates the meetings.
async fn create_hosts(args: &SignalingArgs, base: &str) -> anyhow::Result<Vec<HostAccount>> {
    eprintln!(
        "bench: creating {} host accounts and meetings",
        args.meetings
    );
    let api = client::Api::new(base);
    // Against a shared server, random suffixes keep runs from colliding.
    let suffix = args
        .server
        .as_ref()
        .map(|_| {
            format!(
                "-{}",
                Alphanumeric.sample_string(&mut rand::thread_rng(), 8)
            )
        })
        .unwrap_or_default()
        .to_lowercase();
    stream::iter(0..args.meetings)
        .map(|i| create_host(&api, format!("benchhost{i}{suffix}")))
        .buffer_unordered(concurrency(args))
        .try_collect()
        .await
}

fn concurrency(args: &SignalingArgs) -> usize {
    usize::try_from(args.concurrency).unwrap_or(64)
}

/// The bench client speaks plain `ws://IP:PORT` only.
pub(crate) fn check_server_url(url: &str) -> anyhow::Result<String> {
    let base = url.trim_end_matches('/');
    let authority = base
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("--server must be http://IP:PORT (got {url:?}); https is not supported by the bench client"))?;
    authority.parse::<SocketAddr>().map_err(|_| {
        anyhow!("--server must be http://IP:PORT with a numeric address (got {url:?})")
    })?;
    Ok(base.to_owned())
}

/// Everything after the server is up; the caller bounds it by [`TOTAL_LIMIT`].
async fn measure(
    args: &SignalingArgs,
    base: &str,
    pid: Option<u32>,
    hosts: Vec<HostAccount>,
) -> anyhow::Result<Report> {
    let api = client::Api::new(base);
    let ws_url = api.ws_url();
    let errors = Arc::new(ErrorLog::default());
    let concurrency = concurrency(args);

    eprintln!("bench: seating {} hosts", hosts.len());
    let admits = AdmitClock::default();
    let (stop_tx, stop_rx) = watch::channel(false);
    let seated_hosts: Vec<client::Signaling> = stream::iter(&hosts)
        .map(|host| seat_host(&ws_url, host))
        .buffer_unordered(concurrency)
        .try_collect()
        .await?;
    let mut host_tasks = JoinSet::new();
    for ws in seated_hosts {
        host_tasks.spawn(host_loop(
            ws,
            admits.clone(),
            stop_rx.clone(),
            errors.clone(),
        ));
    }
    tokio::time::sleep(SETTLE).await;
    let rss_before = pid.and_then(resident_bytes);

    eprintln!(
        "bench: seating {} guests ({} joins in flight at most)",
        args.participants, args.concurrency
    );
    let meeting_ids: Vec<MeetingId> = hosts.iter().map(|h| h.meeting.clone()).collect();
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut guest_tasks = JoinSet::new();
    let mut seats = Vec::new();
    let join_start = Instant::now();
    for (index, meeting) in (0..args.participants).zip(meeting_ids.iter().cycle()) {
        let (seat_tx, seat_rx) = oneshot::channel();
        seats.push(seat_rx);
        let guest = Guest {
            name: format!("Bench Guest {index}"),
            url: ws_url.clone(),
            meeting: meeting.clone(),
        };
        guest_tasks.spawn(guest.run(permits.clone(), admits.clone(), stop_rx.clone(), seat_tx));
    }
    let mut latencies = Vec::with_capacity(seats.len());
    let mut last_joined = None;
    for seat in seats {
        match seat.await {
            Ok(Ok(seat)) => {
                latencies.push(seat.admit_latency);
                last_joined = last_joined.max(Some(seat.joined_at));
            }
            Ok(Err(e)) => errors.record(format!("guest not seated: {e}")),
            Err(_) => errors.record("a guest task ended without a result".into()),
        }
    }
    let join_phase = last_joined.map_or(Duration::ZERO, |t| t.duration_since(join_start));
    let seated = u32::try_from(latencies.len()).unwrap_or(u32::MAX);

    tokio::time::sleep(SETTLE).await;
    let rss_all = pid.and_then(resident_bytes);

    eprintln!("bench: everyone leaves");
    // Nobody listens on stop_rx once every task is done, so a send error is moot.
    let _ = stop_tx.send(true);
    drain(&mut guest_tasks, &errors, "guest").await;
    drain(&mut host_tasks, &errors, "host").await;

    latencies.sort_unstable();
    let participants = args.participants;
    Ok(Report {
        participants,
        meetings: args.meetings,
        concurrency: args.concurrency,
        seated,
        joins_per_sec: if join_phase.is_zero() {
            0.0
        } else {
            f64::from(seated) / join_phase.as_secs_f64()
        },
        join_phase_secs: join_phase.as_secs_f64(),
        admit_latency_ms_p50: percentile_ms(&latencies, 50.0),
        admit_latency_ms_p99: percentile_ms(&latencies, 99.0),
        admit_latency_ms_max: latencies.last().map(|d| d.as_secs_f64() * 1e3),
        rss_bytes_per_participant: match (rss_before, rss_all) {
            // Signed: memory can shrink when the allocator returns pages.
            (Some(before), Some(all)) => {
                Some((all as f64 - before as f64) / f64::from(participants))
            }
            _ => None,
        },
        server_rss_bytes: rss_all,
        server_rss_bytes_before_guests: rss_before,
        duration_secs: 0.0,
        errors: errors.count(),
        error_samples: errors.samples(),
    })
}

/// Waits for the tasks' goodbyes; a task still running after [`STEP_TIMEOUT`] is aborted.
async fn drain(tasks: &mut JoinSet<Result<(), String>>, errors: &ErrorLog, who: &str) {
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    loop {
        match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(None) => return,
            Ok(Some(Ok(Ok(())))) => {}
            Ok(Some(Ok(Err(e)))) => errors.record(format!("{who}: {e}")),
            Ok(Some(Err(e))) => errors.record(format!("{who} task failed: {e}")),
            Err(_) => {
                errors.record(format!(
                    "{} {who} tasks did not finish leaving",
                    tasks.len()
                ));
                tasks.abort_all();
                return;
            }
        }
    }
}

/// A host's account and meeting.
struct HostAccount {
    token: String,
    meeting: MeetingId,
}

async fn create_host(api: &client::Api, username: String) -> anyhow::Result<HostAccount> {
    // The password only has to be unguessable: nobody logs in as a bench host again.
    let password = Alphanumeric.sample_string(&mut rand::thread_rng(), 24);
    let steps = async {
        api.register(&username, &password)
            .await
            .with_context(|| format!("cannot register {username} (a shared server needs --auth-burst and --auth-per-minute high enough for two requests per meeting)"))?;
        let session = api
            .login(&username, &password)
            .await
            .with_context(|| format!("cannot log in as {username}"))?;
        let settings = NewMeeting {
            lobby: Some(true),
            guests_allowed: Some(true),
            ..NewMeeting::default()
        };
        let meeting = api
            .create_meeting(&session.token, &settings)
            .await
            .with_context(|| format!("cannot create a meeting for {username}"))?;
        anyhow::Ok(HostAccount {
            token: session.token,
            meeting: meeting.id,
        })
    };
    tokio::time::timeout(STEP_TIMEOUT, steps)
        .await
        .map_err(|_| {
            anyhow!(
                "setting up host {username} took over {} s",
                STEP_TIMEOUT.as_secs()
            )
        })?
}

async fn seat_host(url: &str, host: &HostAccount) -> anyhow::Result<client::Signaling> {
    let steps = async {
        let mut ws = client::Signaling::connect(url).await?;
        ws.hello_token(&host.token).await?;
        ws.send(&ClientMessage::Join {
            meeting_id: host.meeting.clone(),
            passcode: None,
        })
        .await?;
        next_matching(&mut ws, "the host's seat", |m| match m {
            ServerMessage::Joined { .. } => Some(()),
            _ => None,
        })
        .await?;
        anyhow::Ok(ws)
    };
    tokio::time::timeout(STEP_TIMEOUT, steps)
        .await
        .map_err(|_| anyhow!("seating a host took over {} s", STEP_TIMEOUT.as_secs()))?
        .context("cannot seat a host")
}

/// When each `admit` was sent, so that the admitted guest can compute its latency.
#[derive(Clone, Default)]
struct AdmitClock(Arc<Mutex<HashMap<ParticipantId, Instant>>>);

impl AdmitClock {
    fn sent(&self, who: ParticipantId, at: Instant) {
        // A poisoned lock only means another task panicked mid-insert; the map is still usable.
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(who, at);
    }

    fn take(&self, who: &ParticipantId) -> Option<Instant> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(who)
    }
}

/// A host reads its socket until told to stop, admitting each new waiter once.
async fn host_loop(
    mut ws: client::Signaling,
    admits: AdmitClock,
    mut stop: watch::Receiver<bool>,
    errors: Arc<ErrorLog>,
) -> Result<(), String> {
    let mut seen = HashSet::new();
    let mut pending = VecDeque::new();
    let mut pacer = Pacer::new(Instant::now());
    loop {
        let next_token = tokio::time::Instant::from_std(pacer.next_at(Instant::now()));
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => break,
            () = tokio::time::sleep_until(next_token), if !pending.is_empty() => {}
            message = ws.recv_within(TOTAL_LIMIT) => match message {
                Ok(ServerMessage::LobbyUpdated { waiting }) => {
                    for entry in waiting {
                        if seen.insert(entry.id.clone()) {
                            pending.push_back(entry.id);
                        }
                    }
                }
                Ok(ServerMessage::Error { code, message }) => {
                    errors.record(format!("host got error {code:?}: {message}"));
                }
                Ok(_) => {}
                Err(e) => return Err(format!("host connection failed: {e}")),
            },
        }
        while !pending.is_empty() && pacer.take(Instant::now()) {
            let Some(participant_id) = pending.pop_front() else {
                break;
            };
            // Recorded before sending: the guest may read `joined` before this task runs again.
            admits.sent(participant_id.clone(), Instant::now());
            ws.send(&ClientMessage::Admit { participant_id })
                .await
                .map_err(|e| format!("host cannot send admit: {e}"))?;
        }
    }
    goodbye(ws).await
}

/// Sends `leave` and closes.
async fn goodbye(mut ws: client::Signaling) -> Result<(), String> {
    let steps = async {
        ws.send(&ClientMessage::Leave).await?;
        ws.close().await
    };
    tokio::time::timeout(STEP_TIMEOUT, steps)
        .await
        .map_err(|_| "leaving timed out".to_owned())?
        .map_err(|e| format!("cannot leave: {e}"))
}

/// A token bucket on the client side (see [`ADMIT_BURST`]).
struct Pacer {
    tokens: f64,
    at: Instant,
}

impl Pacer {
    fn new(now: Instant) -> Self {
        Pacer {
            tokens: ADMIT_BURST,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * ADMIT_PER_SEC).min(ADMIT_BURST);
        self.at = now;
    }

    fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn next_at(&mut self, now: Instant) -> Instant {
        self.refill(now);
        if self.tokens >= 1.0 {
            now
        } else {
            now + Duration::from_secs_f64((1.0 - self.tokens) / ADMIT_PER_SEC)
        }
    }
}

/// One guest to seat.
struct Guest {
    name: String,
    url: String,
    meeting: MeetingId,
}

/// A seated guest's figures.
struct Seat {
    joined_at: Instant,
    admit_latency: Duration,
}

impl Guest {
    /// Joins (holding a permit so that at most `--concurrency` joins are in
    /// flight), reports the seat, idles until told to stop, then leaves.
    async fn run(
        self,
        permits: Arc<Semaphore>,
        admits: AdmitClock,
        mut stop: watch::Receiver<bool>,
        seat_tx: oneshot::Sender<Result<Seat, String>>,
    ) -> Result<(), String> {
        let permit = permits.acquire_owned().await;
        let attempt = tokio::time::timeout(STEP_TIMEOUT, self.join(&admits)).await;
        drop(permit);
        let (mut ws, seat) = match attempt {
            Ok(Ok(seated)) => seated,
            Ok(Err(e)) => {
                // Counted by the receiver; the task itself has nothing more to report.
                let _ = seat_tx.send(Err(e));
                return Ok(());
            }
            Err(_) => {
                let _ = seat_tx.send(Err(format!("no seat within {} s", STEP_TIMEOUT.as_secs())));
                return Ok(());
            }
        };
        let _ = seat_tx.send(Ok(seat));
        // Keep reading while idle: roster updates must not pile up in the
        // server's per-connection queue, or it would close us as too slow.
        loop {
            tokio::select! {
                _ = stop.wait_for(|stop| *stop) => break,
                message = ws.recv_within(TOTAL_LIMIT) => if let Err(e) = message {
                    return Err(format!("seated guest lost its connection: {e}"));
                },
            }
        }
        goodbye(ws).await
    }

    async fn join(&self, admits: &AdmitClock) -> Result<(client::Signaling, Seat), String> {
        let mut ws = client::Signaling::connect(&self.url)
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        ws.hello_guest(&self.name)
            .await
            .map_err(|e| format!("hello failed: {e}"))?;
        ws.send(&ClientMessage::Join {
            meeting_id: self.meeting.clone(),
            passcode: None,
        })
        .await
        .map_err(|e| format!("cannot send join: {e}"))?;
        let me = next_matching(&mut ws, "waiting", |m| match m {
            ServerMessage::Waiting { participant_id, .. } => Some(participant_id.clone()),
            _ => None,
        })
        .await
        .map_err(|e| format!("{e:#}"))?;
        next_matching(&mut ws, "joined", |m| match m {
            ServerMessage::Joined { participant_id, .. } if *participant_id == me => Some(()),
            _ => None,
        })
        .await
        .map_err(|e| format!("{e:#}"))?;
        let joined_at = Instant::now();
        let sent = admits
            .take(&me)
            .ok_or_else(|| "seated without a recorded admit".to_owned())?;
        Ok((
            ws,
            Seat {
                joined_at,
                admit_latency: joined_at.saturating_duration_since(sent),
            },
        ))
    }
}

/// Reads until `pick` accepts a message; an `error` message or a close ends the wait.
async fn next_matching<T>(
    ws: &mut client::Signaling,
    what: &str,
    mut pick: impl FnMut(&ServerMessage) -> Option<T>,
) -> anyhow::Result<T> {
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let message = ws
            .recv_within(left)
            .await
            .with_context(|| format!("waiting for {what}"))?;
        if let ServerMessage::Error { code, message } = &message {
            bail!("waiting for {what}: server error {code:?}: {message}");
        }
        if let Some(found) = pick(&message) {
            return Ok(found);
        }
    }
}

/// Nearest-rank percentile of sorted durations, in milliseconds.
pub(crate) fn percentile_ms(sorted: &[Duration], pct: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (pct / 100.0 * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    Some(sorted[index].as_secs_f64() * 1e3)
}

/// Resident memory of a process, from `/proc/<pid>/status` (Linux only).
pub(crate) fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

/// Failures counted across tasks, with a few messages kept for the report.
#[derive(Default)]
struct ErrorLog {
    count: AtomicU32,
    samples: Mutex<Vec<String>>,
}

impl ErrorLog {
    fn record(&self, message: String) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let mut samples = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        if samples.len() < ERROR_SAMPLES && !samples.contains(&message) {
            samples.push(message);
        }
    }

    fn count(&self) -> u32 {
        self.count.load(Ordering::Relaxed)
    }

    fn samples(&self) -> Vec<String> {
        self.samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// A `conclave serve` child on loopback ports with a throwaway data directory.
pub(crate) struct SpawnedServer {
    child: tokio::process::Child,
    pub(crate) pid: u32,
    http: SocketAddr,
    // Kept open: if the child wrote to a closed pipe it would get SIGPIPE.
    _stdout: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    // Removed on drop; stop() hands it back once the child has exited.
    data: tempfile::TempDir,
}

impl SpawnedServer {
    /// Starts `serve` on `data` and waits for its listening line.
    pub(crate) async fn start(data: tempfile::TempDir) -> anyhow::Result<SpawnedServer> {
        let exe =
            std::env::current_exe().context("cannot find this program to spawn the server")?;
        let mut command = tokio::process::Command::new(exe);
        command
            .arg("serve")
            .args([
                "--http",
                "127.0.0.1:0",
                "--media",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(data.path())
            // Setup registers and logs in every host from one address.
            .args(["--auth-burst", "1000000", "--auth-per-minute", "1000000"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // The fallback if stop() is never reached (a panic); stop() sends SIGTERM first.
            .kill_on_drop(true);
        // The operator's CONCLAVE_* settings (e.g. a database URL) are not for this throwaway server.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("CONCLAVE_") {
                command.env_remove(name);
            }
        }
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "warn");
        }
        let mut child = command.spawn().context("cannot spawn `conclave serve`")?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow!("the spawned server exited at once"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("the spawned server's stdout is not piped"))?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(CHILD_TIMEOUT, lines.next_line())
            .await
            .map_err(|_| {
                anyhow!(
                    "the spawned server did not start within {} s",
                    CHILD_TIMEOUT.as_secs()
                )
            })?
            .context("cannot read the spawned server's output")?
            .ok_or_else(|| {
                anyhow!("the spawned server exited before listening (its error is above)")
            })?;
        let (http, _media) = crate::serve::parse_listening_line(&line)
            .ok_or_else(|| anyhow!("unexpected first line from the spawned server: {line:?}"))?;
        Ok(SpawnedServer {
            child,
            pid,
            http,
            _stdout: lines,
            data,
        })
    }

    /// The server's base URL.
    pub(crate) fn base(&self) -> String {
        format!("http://{}", self.http)
    }

    /// SIGTERM, then wait for the drain; SIGKILL if it takes too long. Gives
    /// back the data directory, for a restart on the same data.
    pub(crate) async fn stop(mut self) -> anyhow::Result<tempfile::TempDir> {
        // `kill` the command: std has no portable SIGTERM and this crate forbids unsafe.
        let sent = tokio::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await;
        if !matches!(sent, Ok(status) if status.success()) {
            self.child
                .kill()
                .await
                .context("cannot stop the spawned server")?;
            bail!("could not send SIGTERM to the spawned server; killed it");
        }
        match tokio::time::timeout(CHILD_TIMEOUT, self.child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(self.data),
            Ok(Ok(status)) => bail!("the spawned server exited with {status} after SIGTERM"),
            Ok(Err(e)) => Err(e).context("cannot wait for the spawned server"),
            Err(_) => {
                self.child
                    .kill()
                    .await
                    .context("cannot kill the spawned server")?;
                bail!(
                    "the spawned server did not drain within {} s; killed it",
                    CHILD_TIMEOUT.as_secs()
                )
            }
        }
    }
}

fn print_summary(report: &Report) {
    let ms = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.1} ms"));
    println!(
        "seated {}/{} guests in {} meetings: {:.0} joins/s over {:.2} s",
        report.seated,
        report.participants,
        report.meetings,
        report.joins_per_sec,
        report.join_phase_secs
    );
    println!(
        "admit latency: p50 {}, p99 {}, max {}",
        ms(report.admit_latency_ms_p50),
        ms(report.admit_latency_ms_p99),
        ms(report.admit_latency_ms_max)
    );
    match (report.server_rss_bytes, report.rss_bytes_per_participant) {
        (Some(rss), Some(per)) => println!(
            "server memory: {:.1} MiB resident, {:.1} KiB per seated guest",
            rss as f64 / (1024.0 * 1024.0),
            per / 1024.0
        ),
        _ => println!("server memory: not measured (only with --spawn-server)"),
    }
    println!(
        "{} errors; {:.1} s in all",
        report.errors, report.duration_secs
    );
    for sample in &report.error_samples {
        println!("  error: {sample}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&sorted, 50.0), Some(50.0));
        assert_eq!(percentile_ms(&sorted, 99.0), Some(99.0));
        assert_eq!(percentile_ms(&sorted[..1], 99.0), Some(1.0));
        assert_eq!(percentile_ms(&[], 50.0), None);
    }

    #[test]
    fn the_pacer_allows_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(t0);
        let burst = (0..100).take_while(|_| pacer.take(t0)).count();
        assert_eq!(burst, 40);
        let next = pacer.next_at(t0);
        assert!(next > t0 && next <= t0 + Duration::from_millis(60));
        assert!(pacer.take(next));
    }

    #[test]
    fn server_urls_must_be_plain_http_with_an_ip() {
        assert_eq!(
            check_server_url("http://127.0.0.1:8080/").ok().as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert!(check_server_url("https://127.0.0.1:8080").is_err());
        assert!(check_server_url("http://example.org:80").is_err());
    }

    #[test]
    fn own_memory_is_readable() {
        assert!(resident_bytes(std::process::id()).is_some_and(|b| b > 0));
    }
}
