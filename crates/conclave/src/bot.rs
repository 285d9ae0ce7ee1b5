//! `conclave bot`: a headless participant that joins a meeting, publishes
//! synthetic media (or recorded clips, `--video-file` and `--audio-file`), subscribes to
//! everyone, and says whether what it received was intact: every frame
//! verified byte for byte, in order, nothing lost, every frame
//! SFrame-decrypted under its sender's key. Frames from real encoders (a
//! browser, a clip) cannot be verified byte for byte; they count as
//! received when they decrypt.
//!
//! Exit status: 0 when intact, decrypted media arrived from every expected
//! peer and no security alert was raised; 1 when a peer is missing, its
//! media was damaged or could not be decrypted, or an alert was raised (an
//! Add the server never announced, a key that does not match the key
//! directory); 2 when the bot could not take part at all (bad arguments, no
//! seat, a dropped connection).

use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use client::media::clip::{AudioClip, VideoClip, MAX_CLIP_BYTES};
use client::media::generator::VideoConfig;
use client::media::session::MediaConfig;
use client::media::stats::SourceStats;
use client::order::PinnedLog;
use client::{Identity, Participant, ParticipantConfig, ParticipantReport};
use e2ee::identity::IdentityKeyPair;
use proto::ids::MeetingId;
use proto::signaling::MediaSource;

/// Options of `conclave bot`.
#[derive(Debug, Clone, clap::Args)]
pub struct BotArgs {
    /// Base URL of the server, http://IP:PORT.
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// The meeting to join.
    // Ids are base64url and may begin with '-'.
    #[arg(long, value_name = "ID", allow_hyphen_values = true)]
    pub meeting: String,
    /// Display name (as a guest).
    #[arg(long, value_name = "NAME", default_value = "Conclave bot")]
    pub name: String,
    /// Join with this session token instead of as a guest.
    #[arg(
        long,
        value_name = "TOKEN",
        allow_hyphen_values = true,
        env = "CONCLAVE_BOT_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// The meeting's passcode.
    #[arg(long, value_name = "PASSCODE", allow_hyphen_values = true)]
    pub passcode: Option<String>,
    /// What to publish: a comma-separated list of audio, video, screen (or none).
    #[arg(long, value_name = "LIST", default_value = "audio,video")]
    pub publish: PublishList,
    /// Send this VP9 clip (an IVF file, e.g. from `ffmpeg … -c:v libvpx-vp9 -f ivf`), looped,
    /// as the camera instead of synthetic frames, so browsers can decode and show it. Peers
    /// count its frames as real media: their bytes cannot be verified.
    #[arg(long, value_name = "PATH")]
    pub video_file: Option<std::path::PathBuf>,
    /// Send this Opus clip (an Ogg Opus file of 20 ms frames, e.g. from `ffmpeg … -c:a libopus
    /// -frame_duration 20`), looped, as the microphone instead of synthetic frames.
    #[arg(long, value_name = "PATH")]
    pub audio_file: Option<std::path::PathBuf>,
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
    /// Print the MLS epoch and safety code at the end, to compare out of band.
    #[arg(long)]
    pub print_safety_code: bool,
    /// With --token: a file holding the account's registered Ed25519 identity key seed as
    /// 64 hex digits. Without it the bot signs with a fresh key, which other members refuse
    /// because it is not the one in the key directory.
    #[arg(long, value_name = "PATH", requires = "token")]
    pub identity_key_file: Option<std::path::PathBuf>,
    /// Send this chat message (end-to-end encrypted and franked) once the bot is in the
    /// meeting's MLS group. Chat messages received are printed in the report.
    #[arg(long, value_name = "TEXT", value_parser = chat_text, allow_hyphen_values = true)]
    pub chat: Option<String>,
    /// The transparency log's signed-note verifier key
    /// (`<origin>+<key id>+<key>`, as `GET /api/v1/ledger/key` and `conclave audit` show it).
    /// Members' identity keys are checked against checkpoints signed by this key. Without it
    /// the bot trusts the key the server names when it joins (trust on first use).
    #[arg(long, value_name = "VERIFIER", value_parser = log_key)]
    pub log_key: Option<PinnedLog>,
}

/// Parses `--log-key`: a note verifier whose key name is the log's origin.
fn log_key(text: &str) -> Result<PinnedLog, String> {
    let key = ledger::NoteVerifier::parse(text.trim())
        .map_err(|e| format!("not a signed-note verifier key: {e}"))?;
    Ok(PinnedLog {
        origin: key.key_name().to_owned(),
        key,
    })
}

/// Reads a clip file, refusing one too large to be a clip before reading it.
fn read_bounded(path: &std::path::Path, flag: &str) -> anyhow::Result<Vec<u8>> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {flag} {}", path.display()))?
        .len();
    if size > MAX_CLIP_BYTES as u64 {
        bail!(
            "{flag} {} is {size} bytes; at most {MAX_CLIP_BYTES}",
            path.display()
        );
    }
    std::fs::read(path).with_context(|| format!("cannot read {flag} {}", path.display()))
}

/// Longest `--chat` text, in bytes: a chat line, not a file.
const MAX_CHAT_BYTES: usize = 4096;

/// How long the bot waits to be in the MLS group before it gives up sending `--chat`.
const GROUP_WAIT: Duration = Duration::from_secs(30);

fn chat_text(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("the chat message is empty".into());
    }
    if text.len() > MAX_CHAT_BYTES {
        return Err(format!(
            "the chat message has {} bytes; at most {MAX_CHAT_BYTES}",
            text.len()
        ));
    }
    Ok(text.to_owned())
}

/// Reads a 32-byte seed written as 64 hex digits (surrounding whitespace allowed).
fn read_identity_key(path: &std::path::Path) -> anyhow::Result<IdentityKeyPair> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the identity key file {}", path.display()))?;
    let text = text.trim();
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(anyhow!(
            "the identity key file must hold exactly 64 hex digits (a 32-byte seed)"
        ));
    }
    let mut seed = [0u8; 32];
    for (i, byte) in seed.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16)
            .map_err(|e| anyhow!("the identity key file is not hex: {e}"))?;
    }
    Ok(IdentityKeyPair::from_secret(seed))
}

/// Most undecryptable frames a peer may have, as a share of its decrypted ones: frames of an
/// epoch this participant has not reached yet are refused around a join or leave.
const UNDECRYPTABLE_SHARE: u64 = 20;

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
    if args.print_safety_code {
        match (&report.epoch, &report.safety_code) {
            (Some(epoch), Some(code)) => println!("safety code (epoch {epoch}): {code}"),
            _ => println!("safety code: none (never joined the MLS group)"),
        }
    }
    if !report.alerts.is_empty() {
        for alert in &report.alerts {
            eprintln!(
                "error: security alert{}: {}",
                alert
                    .participant
                    .as_ref()
                    .map(|p| format!(" about {p}"))
                    .unwrap_or_default(),
                alert.what
            );
        }
        return ExitCode::FAILURE;
    }
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
    config.log = args.log_key.clone();
    if let Some(path) = &args.identity_key_file {
        config.identity_key = Some(std::sync::Arc::new(read_identity_key(path)?));
    }
    config.lobby_timeout = Duration::from_secs(args.lobby_timeout);
    config.media = MediaConfig {
        publish: args.publish.0.clone(),
        ..MediaConfig::default()
    };
    if let Some(path) = &args.video_file {
        let bytes = read_bounded(path, "--video-file")?;
        let clip =
            VideoClip::parse(&bytes).with_context(|| format!("--video-file {}", path.display()))?;
        config.media.video = VideoConfig::clip(Arc::new(clip));
    }
    if let Some(path) = &args.audio_file {
        let bytes = read_bounded(path, "--audio-file")?;
        let clip =
            AudioClip::parse(&bytes).with_context(|| format!("--audio-file {}", path.display()))?;
        config.media.audio.clip = Some(Arc::new(clip));
    }
    eprintln!("bot: joining {}", args.server);
    let participant = Participant::join(config)
        .await
        .context("cannot join the meeting")?;
    eprintln!(
        "bot: seated as {}; staying {} s",
        participant.id(),
        args.duration
    );
    let leave_at = tokio::time::Instant::now() + Duration::from_secs(args.duration);
    if let Some(text) = &args.chat {
        wait_for_group(&participant).await?;
        participant
            .send_chat(text)
            .await
            .context("cannot send the chat message")?;
        eprintln!("bot: chat message sent");
    }
    tokio::time::sleep_until(leave_at).await;
    participant.leave().await.context("cannot leave cleanly")
}

/// Waits until the participant holds the group's keys, at most [`GROUP_WAIT`].
async fn wait_for_group(participant: &Participant) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + GROUP_WAIT;
    loop {
        let report = participant
            .report()
            .await
            .context("the participant stopped")?;
        if report.epoch.is_some() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(anyhow!(
                "not in the meeting's MLS group after {} s; the chat message was not sent",
                GROUP_WAIT.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
            let mut problems: Vec<String> = peer
                .sources
                .iter()
                .filter(|(_, s)| !s.intact())
                .map(|(source, s)| format!("{source:?}: {}", damage(s)))
                .collect();
            if peer.decrypted_frames == 0
                || peer.undecryptable_frames * UNDECRYPTABLE_SHARE > peer.decrypted_frames
            {
                problems.push(format!(
                    "{} frames decrypted, {} undecryptable (last: {})",
                    peer.decrypted_frames,
                    peer.undecryptable_frames,
                    peer.last_undecryptable.as_deref().unwrap_or("none")
                ));
            }
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
    if stats.frames == 0 && stats.codec_frames == 0 {
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
    // Quoted with escapes: the text comes from other participants.
    for chat in &report.chats {
        println!("  chat from {}: {:?}", chat.sender, chat.text);
    }
    for (id, peer) in &report.media.peers {
        let intact = !peer.sources.is_empty() && peer.sources.values().all(SourceStats::intact);
        println!(
            "  from {}: {} frames decrypted, {} undecryptable, {} sent before a shared epoch, intact: {}",
            peer_name(report, id),
            peer.decrypted_frames,
            peer.undecryptable_frames,
            peer.frames_before_shared_epoch,
            if intact { "yes" } else { "no" }
        );
        for (source, stats) in &peer.sources {
            let mut latencies = stats.latency_micros.clone();
            latencies.sort_unstable();
            let p50 = latencies
                .get(latencies.len() / 2)
                .map_or("n/a".to_owned(), |us| {
                    format!("{:.1} ms", f64::from(*us) / 1e3)
                });
            println!(
                "    {source:?}: {} frames, {} real codec frames, {} bytes, {} lost packets, {} incomplete, {} out of order, {} corrupt; latency p50 {p50}; first frame keyframe: {}",
                stats.frames,
                stats.codec_frames,
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

    #[test]
    fn identity_key_files_hold_64_hex_digits() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good");
        std::fs::write(&good, format!("{}\n", "01".repeat(32))).unwrap();
        assert_eq!(
            read_identity_key(&good).unwrap().public(),
            IdentityKeyPair::from_secret([1; 32]).public()
        );
        for bad in ["01".repeat(31), "zz".repeat(32), "01".repeat(33)] {
            let path = dir.path().join("bad");
            std::fs::write(&path, bad).unwrap();
            assert!(read_identity_key(&path).is_err());
        }
    }
}
