//! `conclave bench sfu`: how much server CPU a forwarded media packet costs,
//! with the native client (`client` crate) as publishers and subscribers of
//! one meeting, against Conclave's SFU or, with `--target janus`, Janus's
//! videoroom plugin; and, in the same run, the null relay floor
//! ([`super::null_relay`]).
//!
//! The run, every step bounded:
//! 1. start the target (`conclave serve` as a child with `--spawn-server`,
//!    or Janus, see [`super::janus`]) and create one meeting (room);
//! 2. seat `--publishers` participants publishing Opus-sized audio and
//!    3-layer VP9 SVC video (1.5 Mbit/s at the top layer), then
//!    `--subscribers` that publish nothing; everyone subscribes to everyone;
//! 3. wait until every subscriber gets video from every publisher, let it
//!    settle, then measure over `--duration` seconds: packets received by all
//!    clients (= packets the target forwarded, less loss) and the target
//!    process's CPU time from `/proc/<pid>/stat`;
//! 4. everyone leaves; the target stops; the null relay then runs at the
//!    same ingress rate and fan-out.
//!
//! The clients run in this process on the same two cores as the target, so
//! latencies include their scheduling: they are upper bounds.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use client::media::session::{MediaConfig, MediaReport};
use client::{Participant, ParticipantConfig};
use proto::ids::ParticipantId;
use proto::rest::NewMeeting;
use proto::signaling::MediaSource;
use rand::distributions::{Alphanumeric, DistString};
use serde::Serialize;

use super::janus::JanusMember;
use super::null_relay::{NullRelayLoad, NullRelayReport};
use super::signaling::{check_server_url, percentile_ms, resident_bytes, SpawnedServer};

/// The whole bench, setup included, is abandoned after this.
pub const TOTAL_LIMIT: Duration = Duration::from_secs(600);
/// Longest wait for media to flow to everyone.
const FLOW_TIMEOUT: Duration = Duration::from_secs(60);
/// Quiet time between media flowing everywhere and the measurement.
const SETTLE: Duration = Duration::from_secs(2);
/// Longest the null relay runs.
const NULL_RELAY_LIMIT: Duration = Duration::from_secs(10);

/// Which server forwards the media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Conclave's own SFU.
    Conclave,
    /// Janus 1.1.2's videoroom plugin (Debian package `janus`).
    Janus,
}

/// Options of `conclave bench sfu`.
#[derive(Debug, Clone, clap::Args)]
#[command(group(
    clap::ArgGroup::new("server_choice").args(["server", "spawn_server"])
))]
pub struct SfuArgs {
    /// Base URL of a running Conclave server, http://IP:PORT (its CPU is
    /// then not measured).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Start a fresh `conclave serve` on loopback for the run (the default
    /// for `--target conclave` without `--server`).
    #[arg(long)]
    pub spawn_server: bool,
    /// Participants publishing audio and video.
    #[arg(long, value_name = "P", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub publishers: u32,
    /// Participants only receiving.
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub subscribers: u32,
    /// Seconds to measure once media flows.
    #[arg(long, value_name = "SECS", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub duration: u64,
    /// Which server forwards.
    #[arg(long, value_enum, default_value_t = Target::Conclave)]
    pub target: Target,
    /// Total video bitrate of each publisher (all three layers), kbit/s.
    #[arg(long, value_name = "KBPS", default_value_t = 1500,
          value_parser = clap::value_parser!(u32).range(50..=20_000))]
    pub video_kbps: u32,
    /// Where to write the figures as JSON (with `--target janus`, Janus's
    /// log goes beside it as FILE.janus.log).
    #[arg(long, value_name = "FILE")]
    pub json: PathBuf,
    /// With `--target janus`: the address Janus gathers its one ICE
    /// candidate on and the clients bind to. Janus skips loopback
    /// interfaces, so it must belong to an up, non-loopback interface;
    /// scripts/janus-bench.sh makes one in a network namespace.
    #[arg(long, value_name = "IP")]
    pub janus_ip: Option<IpAddr>,
}

/// The figures of one run, as written to the JSON file.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Which server forwarded.
    pub target: Target,
    /// Publishers.
    pub publishers: u32,
    /// Subscribers.
    pub subscribers: u32,
    /// Seconds measured.
    pub measured_secs: f64,
    /// RTP packets all clients received in the measured window.
    pub forwarded_packets: u64,
    /// The same, per second.
    pub forwarded_packets_per_sec: f64,
    /// RTP packets the publishers sent in the measured window.
    pub published_packets: u64,
    /// CPU time (user + system) of the server process in the window.
    pub server_cpu_seconds: Option<f64>,
    /// Server CPU microseconds per forwarded packet.
    pub cpu_us_per_forwarded_packet: Option<f64>,
    /// CPU time of this process (all clients) in the window.
    pub client_cpu_seconds: Option<f64>,
    /// Median one-way frame latency, send timestamp to reassembly, all streams.
    pub p50_latency_ms: Option<f64>,
    /// 99th percentile of the same.
    pub p99_latency_ms: Option<f64>,
    /// Packets given up as lost over packets expected, whole run.
    pub loss_ratio: f64,
    /// Median time from a subscriber's seat to its first verified video
    /// frame of each publisher.
    pub join_to_first_frame_ms_p50: Option<f64>,
    /// 95th percentile of the same.
    pub join_to_first_frame_ms_p95: Option<f64>,
    /// Server resident memory at the end of the window.
    pub server_rss_bytes: Option<u64>,
    /// Server resident memory per participant.
    pub server_rss_bytes_per_participant: Option<f64>,
    /// (subscriber, publisher, source) streams that arrived intact / all expected.
    pub intact_streams: u64,
    /// See `intact_streams`.
    pub expected_streams: u64,
    /// The null relay at the same ingress rate and fan-out.
    pub null_relay: Option<NullRelayReport>,
    /// Wall time of the whole run.
    pub duration_secs: f64,
    /// The first few problems met.
    pub errors: Vec<String>,
}

/// Runs the bench: 0 when every subscriber received intact media from every
/// publisher, 1 otherwise or on any failure to run.
pub fn main(args: SfuArgs) -> ExitCode {
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
            if report.intact_streams < report.expected_streams || !report.errors.is_empty() {
                eprintln!(
                    "error: {} of {} streams arrived intact{}",
                    report.intact_streams,
                    report.expected_streams,
                    report
                        .errors
                        .first()
                        .map(|e| format!(" (first problem: {e})"))
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
pub async fn run(args: &SfuArgs) -> anyhow::Result<Report> {
    let started = Instant::now();
    let mut report = tokio::time::timeout(TOTAL_LIMIT, measure_target(args))
        .await
        .map_err(|_| {
            anyhow!(
                "the bench did not finish within {} s",
                TOTAL_LIMIT.as_secs()
            )
        })??;
    report.duration_secs = started.elapsed().as_secs_f64();
    let json = serde_json::to_string_pretty(&report).context("cannot encode the report")?;
    std::fs::write(&args.json, json + "\n")
        .with_context(|| format!("cannot write {}", args.json.display()))?;
    Ok(report)
}

/// One participant of the run, on either target.
pub(crate) struct Member {
    pub(crate) id: ParticipantId,
    pub(crate) joined_at: Instant,
    pub(crate) publisher: bool,
    pub(crate) handle: MemberHandle,
}

/// How a member's media is reached.
pub(crate) enum MemberHandle {
    /// A Conclave participant.
    Conclave(Participant),
    /// A Janus publisher and/or subscriber.
    Janus(JanusMember),
}

impl Member {
    async fn media(&self) -> Option<MediaReport> {
        match &self.handle {
            MemberHandle::Conclave(p) => p.report().await.ok().map(|r| r.media),
            MemberHandle::Janus(j) => j.report().await,
        }
    }

    async fn leave(self) -> Option<MediaReport> {
        match self.handle {
            MemberHandle::Conclave(p) => p.leave().await.ok().map(|r| r.media),
            MemberHandle::Janus(j) => j.leave().await,
        }
    }
}

/// The media configuration of every publisher.
pub(crate) fn publisher_media(args: &SfuArgs) -> MediaConfig {
    let mut media = MediaConfig::default();
    media.video = media
        .video
        .with_total_bitrate(args.video_kbps.saturating_mul(1000));
    media
}

async fn measure_target(args: &SfuArgs) -> anyhow::Result<Report> {
    match args.target {
        Target::Conclave => {
            if args.janus_ip.is_some() {
                bail!("--janus-ip is for --target janus");
            }
            let mut child = None;
            let base = match &args.server {
                Some(url) => check_server_url(url)?,
                None => {
                    let data = tempfile::Builder::new()
                        .prefix("conclave-bench-sfu-")
                        .tempdir()
                        .context("cannot create a data directory for the spawned server")?;
                    child.insert(SpawnedServer::start(data).await?).base()
                }
            };
            let pid = child.as_ref().map(|c| c.pid);
            let measured = async {
                let members = seat_conclave(args, &base).await?;
                measure(args, pid, members).await
            }
            .await;
            if let Some(child) = child {
                child
                    .stop()
                    .await
                    .context("cannot stop the spawned server")?;
            }
            finish(args, measured?).await
        }
        Target::Janus => {
            if args.server.is_some() {
                bail!("--server is for --target conclave; Janus is always started by the bench");
            }
            let ice_ip = args.janus_ip.ok_or_else(|| {
                anyhow!(
                    "--target janus needs --janus-ip: Janus gathers no ICE candidate on \
                     loopback; run it through scripts/janus-bench.sh"
                )
            })?;
            let janus = super::janus::JanusServer::start(ice_ip)
                .await
                .context("cannot start Janus")?;
            let pid = Some(janus.pid());
            let measured = async {
                let members = super::janus::seat(args, &janus).await?;
                measure(args, pid, members).await
            }
            .await
            .map_err(|e| e.context(format!("Janus's log ends:\n{}", janus.log_tail())));
            let mut log = args.json.clone().into_os_string();
            log.push(".janus.log");
            janus.stop(Path::new(&log)).await;
            finish(args, measured?).await
        }
    }
}

async fn seat_conclave(args: &SfuArgs, base: &str) -> anyhow::Result<Vec<Member>> {
    let api = client::Api::new(base);
    let suffix = Alphanumeric
        .sample_string(&mut rand::thread_rng(), 8)
        .to_lowercase();
    let username = format!("benchsfu{suffix}");
    let password = Alphanumeric.sample_string(&mut rand::thread_rng(), 24);
    api.register(&username, &password)
        .await
        .context("cannot register the bench host")?;
    let session = api
        .login(&username, &password)
        .await
        .context("cannot log in as the bench host")?;
    let meeting = api
        .create_meeting(
            &session.token,
            &NewMeeting {
                lobby: Some(false),
                guests_allowed: Some(true),
                ..NewMeeting::default()
            },
        )
        .await
        .context("cannot create the bench meeting")?;
    let mut members = Vec::new();
    eprintln!(
        "bench: seating {} publishers and {} subscribers",
        args.publishers, args.subscribers
    );
    for i in 0..(args.publishers + args.subscribers) {
        let publisher = i < args.publishers;
        let mut config = ParticipantConfig::guest(
            base,
            meeting.id.clone(),
            &format!(
                "Bench {} {i}",
                if publisher { "publisher" } else { "subscriber" }
            ),
        );
        config.media = if publisher {
            publisher_media(args)
        } else {
            MediaConfig {
                publish: Vec::new(),
                ..MediaConfig::default()
            }
        };
        let participant = Participant::join(config)
            .await
            .with_context(|| format!("participant {i} cannot join"))?;
        members.push(Member {
            id: participant.id().clone(),
            joined_at: participant.joined_at(),
            publisher,
            handle: MemberHandle::Conclave(participant),
        });
    }
    Ok(members)
}

/// What the window measured, before the null relay runs.
struct Measured {
    report: Report,
    ingress_pps: f64,
}

async fn measure(
    args: &SfuArgs,
    pid: Option<u32>,
    members: Vec<Member>,
) -> anyhow::Result<Measured> {
    let publishers: Vec<ParticipantId> = members
        .iter()
        .filter(|m| m.publisher)
        .map(|m| m.id.clone())
        .collect();
    eprintln!("bench: waiting for media to reach everyone");
    let deadline = Instant::now() + FLOW_TIMEOUT;
    loop {
        let mut flowing = 0;
        for member in &members {
            let Some(media) = member.media().await else {
                continue;
            };
            let all = publishers.iter().filter(|p| **p != member.id).all(|p| {
                media
                    .peers
                    .get(p)
                    .and_then(|peer| peer.sources.get(&MediaSource::Video))
                    .is_some_and(|s| s.frames > 0)
            });
            if all {
                flowing += 1;
            }
        }
        if flowing == members.len() {
            break;
        }
        if Instant::now() >= deadline {
            let mut left = Vec::new();
            for member in members {
                left.push(member.leave().await);
            }
            bail!(
                "media reached only {flowing} of {} participants within {} s",
                left.len(),
                FLOW_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(SETTLE).await;

    eprintln!("bench: measuring for {} s", args.duration);
    let before = totals(&members).await;
    let cpu_before = pid.and_then(process_cpu_seconds);
    let own_before = process_cpu_seconds(std::process::id());
    let window_start = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    let measured_secs = window_start.elapsed().as_secs_f64();
    let cpu_after = pid.and_then(process_cpu_seconds);
    let own_after = process_cpu_seconds(std::process::id());
    let after = totals(&members).await;
    let rss = pid.and_then(resident_bytes);

    eprintln!("bench: everyone leaves");
    let mut finals = Vec::new();
    for member in members {
        let (id, joined_at, publisher) = (member.id.clone(), member.joined_at, member.publisher);
        finals.push((id, joined_at, publisher, member.leave().await));
    }

    let forwarded = after.received.saturating_sub(before.received);
    let published = after.sent.saturating_sub(before.sent);
    let server_cpu = cpu_after.zip(cpu_before).map(|(a, b)| a - b);
    let mut latencies = Vec::new();
    let mut join_to_first = Vec::new();
    let (mut lost, mut received_total) = (0u64, 0u64);
    let (mut intact, mut expected) = (0u64, 0u64);
    let mut errors = Vec::new();
    let participants = finals.len();
    for (id, joined_at, _, media) in &finals {
        let Some(media) = media else {
            errors.push(format!("{id} gave no final report"));
            continue;
        };
        received_total += media.received_packets;
        for publisher in publishers.iter().filter(|p| *p != id) {
            for source in [MediaSource::Audio, MediaSource::Video] {
                expected += 1;
                let Some(stats) = media
                    .peers
                    .get(publisher)
                    .and_then(|p| p.sources.get(&source))
                else {
                    continue;
                };
                lost += stats.lost_packets;
                latencies.extend(
                    stats
                        .latency_micros
                        .iter()
                        .map(|us| Duration::from_micros(u64::from(*us))),
                );
                if stats.intact() {
                    intact += 1;
                } else if errors.len() < 10 {
                    errors.push(format!(
                        "{id} from {publisher} {source:?}: {} lost, {} incomplete, {} out of order, {} corrupt",
                        stats.lost_packets, stats.incomplete_frames, stats.out_of_order, stats.corrupt
                    ));
                }
                if source == MediaSource::Video {
                    if let Some(first) = stats.first_frame_at {
                        join_to_first.push(first.saturating_duration_since(*joined_at));
                    }
                }
            }
        }
    }
    latencies.sort_unstable();
    join_to_first.sort_unstable();
    let report = Report {
        target: args.target,
        publishers: args.publishers,
        subscribers: args.subscribers,
        measured_secs,
        forwarded_packets: forwarded,
        forwarded_packets_per_sec: forwarded as f64 / measured_secs.max(1e-9),
        published_packets: published,
        server_cpu_seconds: server_cpu,
        cpu_us_per_forwarded_packet: server_cpu
            .filter(|_| forwarded > 0)
            .map(|cpu| cpu * 1e6 / forwarded as f64),
        client_cpu_seconds: own_after.zip(own_before).map(|(a, b)| a - b),
        p50_latency_ms: percentile_ms(&latencies, 50.0),
        p99_latency_ms: percentile_ms(&latencies, 99.0),
        loss_ratio: if received_total + lost > 0 {
            lost as f64 / (received_total + lost) as f64
        } else {
            0.0
        },
        join_to_first_frame_ms_p50: percentile_ms(&join_to_first, 50.0),
        join_to_first_frame_ms_p95: percentile_ms(&join_to_first, 95.0),
        server_rss_bytes: rss,
        server_rss_bytes_per_participant: rss.map(|r| r as f64 / participants.max(1) as f64),
        intact_streams: intact,
        expected_streams: expected,
        null_relay: None,
        duration_secs: 0.0,
        errors,
    };
    Ok(Measured {
        report,
        ingress_pps: published as f64 / measured_secs.max(1e-9),
    })
}

/// Runs the null relay at the measured ingress rate and fan-out.
async fn finish(args: &SfuArgs, measured: Measured) -> anyhow::Result<Report> {
    let Measured {
        mut report,
        ingress_pps,
    } = measured;
    let load = NullRelayLoad {
        ingress_pps: ingress_pps.round().max(1.0) as u32,
        fan_out: (args.publishers + args.subscribers)
            .saturating_sub(1)
            .max(1),
        payload_bytes: 1000,
        duration: Duration::from_secs(args.duration).min(NULL_RELAY_LIMIT),
    };
    eprintln!(
        "bench: null relay at {} packets/s in, fan-out {}",
        load.ingress_pps, load.fan_out
    );
    match tokio::task::spawn_blocking(move || super::null_relay::run(load)).await {
        Ok(Ok(relay)) => report.null_relay = Some(relay),
        Ok(Err(e)) => report.errors.push(format!("null relay: {e:#}")),
        Err(e) => report.errors.push(format!("null relay: {e}")),
    }
    Ok(report)
}

struct Totals {
    received: u64,
    sent: u64,
}

async fn totals(members: &[Member]) -> Totals {
    let mut totals = Totals {
        received: 0,
        sent: 0,
    };
    for member in members {
        if let Some(media) = member.media().await {
            totals.received += media.received_packets;
            totals.sent += media.sent_packets;
        }
    }
    totals
}

/// CPU time (user + system) of a process, from `/proc/<pid>/stat` (Linux only).
pub(crate) fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_seconds_from_stat(&stat)
}

/// utime + stime of a `/proc/.../stat` line, in seconds. The command name
/// (field 2) may hold spaces, so fields are counted after its closing ')'.
pub(crate) fn cpu_seconds_from_stat(stat: &str) -> Option<f64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of the line are the 12th and 13th after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / clock_ticks_per_sec())
}

/// USER_HZ: 100 on every Linux this runs on (`getconf CLK_TCK`); std has no
/// safe sysconf.
fn clock_ticks_per_sec() -> f64 {
    100.0
}

fn print_summary(report: &Report) {
    let opt = |v: Option<f64>, unit: &str| v.map_or("n/a".to_owned(), |v| format!("{v:.2} {unit}"));
    println!(
        "{:?}: {} publishers, {} subscribers; {:.0} forwarded packets/s over {:.1} s",
        report.target,
        report.publishers,
        report.subscribers,
        report.forwarded_packets_per_sec,
        report.measured_secs
    );
    println!(
        "server CPU {} ({} per forwarded packet); clients' CPU {}",
        opt(report.server_cpu_seconds, "s"),
        opt(report.cpu_us_per_forwarded_packet, "us"),
        opt(report.client_cpu_seconds, "s")
    );
    println!(
        "latency p50 {}, p99 {}; loss {:.5}; join to first frame p50 {}, p95 {}",
        opt(report.p50_latency_ms, "ms"),
        opt(report.p99_latency_ms, "ms"),
        report.loss_ratio,
        opt(report.join_to_first_frame_ms_p50, "ms"),
        opt(report.join_to_first_frame_ms_p95, "ms")
    );
    println!(
        "server memory {}; {} of {} streams intact",
        report
            .server_rss_bytes
            .map_or("n/a".to_owned(), |b| format!(
                "{:.1} MiB",
                b as f64 / 1048576.0
            )),
        report.intact_streams,
        report.expected_streams
    );
    if let Some(relay) = &report.null_relay {
        println!(
            "null relay: {:.0} forwarded packets/s, {} per forwarded packet",
            relay.forwarded_packets_per_sec,
            opt(relay.cpu_us_per_forwarded_packet, "us")
        );
    }
    for e in &report.errors {
        println!("  problem: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_after_the_command_name() {
        let stat = "1234 (a (weird) name) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0 20 0";
        assert_eq!(cpu_seconds_from_stat(stat), Some(4.0));
        assert!(process_cpu_seconds(std::process::id()).is_some());
    }
}
