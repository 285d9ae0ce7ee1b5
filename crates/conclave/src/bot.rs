//! `conclave bot`: a headless participant that joins a meeting, publishes
//! synthetic media, subscribes to everyone, and says whether what it
//! received was intact: every frame verified byte for byte, in order,
//! nothing lost.
//!
//! Exit status: 0 when intact media arrived from every expected peer; 1
//! when a peer is missing or its media was damaged; 2 when the bot could
//! not take part at all (bad arguments, no seat, a dropped connection).

use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{anyhow, Context};
use client::media::session::MediaConfig;
use client::media::stats::SourceStats;
use client::{Identity, Participant, ParticipantConfig, ParticipantReport};
use proto::ids::MeetingId;
use proto::signaling::MediaSource;

/// Options of `conclave bot`.
#[derive(Debug, Clone, clap::Args)]
pub struct BotArgs {
    /// Base URL of the server, http://IP:PORT.
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// The meeting to join.
    #[arg(long, value_name = "ID")]
    pub meeting: String,
    /// Display name (as a guest).
    #[arg(long, value_name = "NAME", default_value = "Conclave bot")]
    pub name: String,
    /// Join with this session token instead of as a guest.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "CONCLAVE_BOT_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// The meeting's passcode.
    #[arg(long, value_name = "PASSCODE")]
    pub passcode: Option<String>,
    /// What to publish: a comma-separated list of audio, video, screen (or none).
    #[arg(long, value_name = "LIST", default_value = "audio,video")]
    pub publish: PublishList,
    /// Seconds to stay once seated.
    #[arg(long, value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub duration: u64,
    /// Peers whose media must arrive intact; by default, everyone seated at the end.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub expect_peers: Option<u32>,
    /// Seconds to wait in the lobby for a host.
    #[arg(long, value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub lobby_timeout: u64,
}

/// The `--publish` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishList(pub Vec<MediaSource>);

impl FromStr for PublishList {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut sources = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let source = match item {
                "audio" => MediaSource::Audio,
                "video" => MediaSource::Video,
                "screen" => MediaSource::Screen,
                "none" => continue,
                other => {
                    return Err(format!(
                        "unknown source {other:?}: use audio, video, screen or none"
                    ))
                }
            };
            if !sources.contains(&source) {
                sources.push(source);
            }
        }
        Ok(PublishList(sources))
    }
}

/// How one peer's media fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerVerdict {
    /// Every source had frames and no damage.
    Intact,
    /// Something was lost, out of order or corrupt.
    Damaged(String),
}

/// Runs the bot and maps the outcome to the exit status (see the module docs).
pub fn main(args: BotArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match runtime.block_on(run(&args)) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    print_report(&report);
    if let Some(why) = &report.ended {
        eprintln!("error: the bot stopped early: {why}");
        return ExitCode::from(2);
    }
    let expected = args.expect_peers.map_or_else(
        || {
            report
                .seated
                .iter()
                .filter(|id| **id != report.participant_id)
                .count()
        },
        |n| n as usize,
    );
    let verdicts = judge(&report);
    let intact = verdicts
        .iter()
        .filter(|(_, v)| matches!(v, PeerVerdict::Intact))
        .count();
    let damaged: Vec<&String> = verdicts
        .iter()
        .filter_map(|(_, v)| match v {
            PeerVerdict::Damaged(why) => Some(why),
            PeerVerdict::Intact => None,
        })
        .collect();
    if !damaged.is_empty() {
        for why in &damaged {
            eprintln!("error: {why}");
        }
        return ExitCode::FAILURE;
    }
    if intact < expected {
        eprintln!(
            "error: intact media from {intact} peer(s), expected {expected}; the rest sent nothing that arrived"
        );
        return ExitCode::FAILURE;
    }
    println!("ok: intact media from {intact} peer(s) (expected {expected})");
    ExitCode::SUCCESS
}

/// Joins, stays `--duration` seconds, leaves, and gives the final report.
pub async fn run(args: &BotArgs) -> anyhow::Result<ParticipantReport> {
    let meeting = MeetingId::from_str(args.meeting.trim())
        .map_err(|e| anyhow!("--meeting is not a meeting id: {e}"))?;
    let identity = match &args.token {
        Some(token) => Identity::Token(token.clone()),
        None => Identity::Guest(args.name.clone()),
    };
    let mut config = ParticipantConfig::guest(&args.server, meeting, &args.name);
    config.identity = identity;
    config.passcode = args.passcode.clone();
    config.lobby_timeout = Duration::from_secs(args.lobby_timeout);
    config.media = MediaConfig {
        publish: args.publish.0.clone(),
        ..MediaConfig::default()
    };
    eprintln!("bot: joining {}", args.server);
    let participant = Participant::join(config)
        .await
        .context("cannot join the meeting")?;
    eprintln!(
        "bot: seated as {}; staying {} s",
        participant.id(),
        args.duration
    );
    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    participant.leave().await.context("cannot leave cleanly")
}

/// The verdict on each peer that sent anything.
pub fn judge(report: &ParticipantReport) -> Vec<(String, PeerVerdict)> {
    report
        .media
        .peers
        .iter()
        .filter(|(id, _)| **id != report.participant_id)
        .map(|(id, peer)| {
            let name = peer_name(report, id);
            let problems: Vec<String> = peer
                .sources
                .iter()
                .filter(|(_, s)| !s.intact())
                .map(|(source, s)| format!("{source:?}: {}", damage(s)))
                .collect();
            let verdict = if problems.is_empty() && !peer.sources.is_empty() {
                PeerVerdict::Intact
            } else {
                PeerVerdict::Damaged(format!("{name}: {}", problems.join("; ")))
            };
            (name, verdict)
        })
        .collect()
}

fn peer_name(report: &ParticipantReport, id: &proto::ids::ParticipantId) -> String {
    match report.names.get(id) {
        Some(name) => format!("{name:?} ({id})"),
        None => id.to_string(),
    }
}

fn damage(stats: &SourceStats) -> String {
    let mut parts = Vec::new();
    if stats.frames == 0 {
        parts.push("no frames".to_owned());
    }
    if stats.lost_packets > 0 {
        parts.push(format!("{} packets lost", stats.lost_packets));
    }
    if stats.incomplete_frames > 0 {
        parts.push(format!("{} incomplete frames", stats.incomplete_frames));
    }
    if stats.out_of_order > 0 {
        parts.push(format!("{} frames out of order", stats.out_of_order));
    }
    if stats.corrupt > 0 {
        parts.push(format!(
            "{} corrupt frames (first: {})",
            stats.corrupt,
            stats.first_corruption.as_deref().unwrap_or("?")
        ));
    }
    parts.join(", ")
}

fn print_report(report: &ParticipantReport) {
    println!("bot {}:", report.participant_id);
    for (source, pictures) in &report.media.sent_pictures {
        println!("  sent {source:?}: {pictures} frames");
    }
    if report.media.peers.is_empty() {
        println!("  received nothing");
    }
    for (id, peer) in &report.media.peers {
        println!("  from {}:", peer_name(report, id));
        for (source, stats) in &peer.sources {
            let mut latencies = stats.latency_micros.clone();
            latencies.sort_unstable();
            let p50 = latencies
                .get(latencies.len() / 2)
                .map_or("n/a".to_owned(), |us| {
                    format!("{:.1} ms", f64::from(*us) / 1e3)
                });
            println!(
                "    {source:?}: {} frames, {} bytes, {} lost packets, {} incomplete, {} out of order, {} corrupt; latency p50 {p50}; first frame keyframe: {}",
                stats.frames,
                stats.bytes,
                stats.lost_packets,
                stats.incomplete_frames,
                stats.out_of_order,
                stats.corrupt,
                stats.first_frame_keyframe.map_or("n/a".to_owned(), |k| k.to_string()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_lists_parse() {
        assert_eq!(
            "audio,video".parse::<PublishList>().unwrap().0,
            [MediaSource::Audio, MediaSource::Video]
        );
        assert_eq!(
            " screen , audio,audio".parse::<PublishList>().unwrap().0,
            [MediaSource::Screen, MediaSource::Audio]
        );
        assert!("none".parse::<PublishList>().unwrap().0.is_empty());
        assert!("audio,smell".parse::<PublishList>().is_err());
    }
}
