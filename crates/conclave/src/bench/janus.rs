//! Janus 1.1.2's videoroom plugin as a comparison target for
//! `conclave bench sfu`: starts Janus (Debian package `janus`) with only the
//! HTTP transport (on 127.0.0.1) and the videoroom plugin, then seats the
//! same native clients through its HTTP long-poll JSON API.
//!
//! Janus's ICE gathering (`janus_ice_setup_local` in `src/ice.c`) skips
//! every interface flagged `IFF_LOOPBACK` before it looks at
//! `ice_enforce_list`, so on loopback alone it offers no candidate and no
//! PeerConnection ever connects. The bench therefore takes the address of
//! an up, non-loopback interface (`--janus-ip`): Janus gathers only there
//! and the clients bind to it. `scripts/janus-bench.sh` makes such an
//! interface in a network namespace of its own (a veth pair whose ends both
//! stay in the namespace), so nothing outside the machine is reachable and
//! the kernel still delivers every datagram locally, as on loopback.
//!
//! In the videoroom every publisher has its own PeerConnection, and every
//! subscriber one more that receives all the feeds it asked for; a bench
//! publisher therefore runs two media sessions (publishing, and receiving
//! the other publishers).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, bail, Context};
use client::media::cipher::Plaintext;
use client::media::pump::MediaPump;
use client::media::session::{MediaConfig, MediaReport, MediaSession};
use proto::ids::ParticipantId;
use proto::signaling::{MediaSource, TrackInfo};
use serde_json::{json, Value};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, Mutex};

use super::sfu::{publisher_media, Member, MemberHandle, SfuArgs};

/// Where Debian installs Janus's plugins and transports.
const JANUS_LIB: &str = "/usr/lib/x86_64-linux-gnu/janus";
/// Longest wait for Janus to answer after starting.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest wait for any one event.
const EVENT_TIMEOUT: Duration = Duration::from_secs(20);
/// The room every bench participant joins.
const ROOM: u64 = 4242;

/// A Janus process with a generated configuration in a temporary directory.
pub struct JanusServer {
    child: tokio::process::Child,
    pid: u32,
    base: String,
    ice_ip: IpAddr,
    dir: tempfile::TempDir,
}

impl JanusServer {
    /// Writes the configuration and starts Janus with ICE on `ice_ip` only,
    /// waiting until its HTTP API answers.
    pub async fn start(ice_ip: IpAddr) -> anyhow::Result<JanusServer> {
        check_ice_ip(ice_ip)?;
        let binary = which_janus().ok_or_else(|| {
            anyhow!("janus is not installed (apt-get update && apt-get install -y janus)")
        })?;
        let dir = tempfile::Builder::new()
            .prefix("conclave-bench-janus-")
            .tempdir()
            .context("cannot create Janus's configuration directory")?;
        let port = free_port()?;
        write_config(dir.path(), port, ice_ip)?;
        let mut child = tokio::process::Command::new(binary)
            .arg("-C")
            .arg(dir.path().join("janus.jcfg"))
            .arg("-F")
            .arg(dir.path())
            .arg("-N")
            .arg("-L")
            .arg(dir.path().join("janus.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("cannot spawn janus")?;
        let pid = child.id().ok_or_else(|| anyhow!("janus exited at once"))?;
        let base = format!("http://127.0.0.1:{port}/janus");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(response) = http.get(format!("{base}/info")).send().await {
                if response.status().is_success() {
                    break;
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(dir.path().join("janus.log")).unwrap_or_default();
                bail!("janus exited with {status}; its log:\n{log}");
            }
            if Instant::now() >= deadline {
                bail!("janus did not answer within {} s", START_TIMEOUT.as_secs());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(JanusServer {
            child,
            pid,
            base,
            ice_ip,
            dir,
        })
    }

    /// The last lines of Janus's log, for error messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("janus.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Its process id, for CPU and memory.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Stops Janus (SIGTERM, then SIGKILL after 5 s) and keeps its log at
    /// `keep_log`, since the configuration directory goes with it.
    pub async fn stop(mut self, keep_log: &Path) {
        let _ = tokio::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await;
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
        if let Err(e) = std::fs::copy(self.dir.path().join("janus.log"), keep_log) {
            eprintln!(
                "bench: cannot keep Janus's log at {}: {e}",
                keep_log.display()
            );
        }
    }
}

/// Refuses an address Janus cannot gather on, or that no local interface
/// holds, before Janus starts and the failure turns into an ICE timeout.
fn check_ice_ip(ip: IpAddr) -> anyhow::Result<()> {
    if ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() {
        bail!(
            "--janus-ip {ip}: Janus gathers no ICE candidate on a loopback, unspecified or \
             multicast address; give the address of an up, non-loopback interface \
             (scripts/janus-bench.sh makes one in a network namespace)"
        );
    }
    std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).with_context(|| {
        format!(
            "--janus-ip {ip}: no local interface holds this address \
             (run the bench through scripts/janus-bench.sh)"
        )
    })?;
    Ok(())
}

fn which_janus() -> Option<PathBuf> {
    ["/usr/bin/janus", "/usr/local/bin/janus"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("no free port")?;
    Ok(listener.local_addr()?.port())
}

/// janus.jcfg with ICE on `ice_ip` only, the HTTP transport on
/// 127.0.0.1:`port`, and folders that hold only the videoroom plugin and the
/// HTTP transport.
fn write_config(dir: &Path, port: u16, ice_ip: IpAddr) -> anyhow::Result<()> {
    for (folder, library) in [
        ("plugins", "plugins/libjanus_videoroom.so"),
        ("transports", "transports/libjanus_http.so"),
    ] {
        let folder = dir.join(folder);
        std::fs::create_dir_all(&folder)?;
        let source = Path::new(JANUS_LIB).join(library);
        let name = source
            .file_name()
            .ok_or_else(|| anyhow!("bad library path"))?;
        std::os::unix::fs::symlink(&source, folder.join(name))
            .with_context(|| format!("cannot link {}", source.display()))?;
    }
    for folder in ["events", "loggers"] {
        std::fs::create_dir_all(dir.join(folder))?;
    }
    let d = dir.display();
    std::fs::write(
        dir.join("janus.jcfg"),
        format!(
            r#"general: {{
    configs_folder = "{d}"
    plugins_folder = "{d}/plugins"
    transports_folder = "{d}/transports"
    events_folder = "{d}/events"
    loggers_folder = "{d}/loggers"
    debug_level = 3
    session_timeout = 120
}}
media: {{
    rtp_port_range = "20000-40000"
}}
nat: {{
    ice_enforce_list = "{ice_ip}"
    ignore_mdns = true
}}
plugins: {{
}}
transports: {{
}}
events: {{
    broadcast = false
}}
"#
        ),
    )?;
    std::fs::write(
        dir.join("janus.transport.http.jcfg"),
        format!(
            r#"general: {{
    json = "compact"
    base_path = "/janus"
    http = true
    port = {port}
    ip = "127.0.0.1"
    https = false
}}
admin: {{
    admin_http = false
}}
"#
        ),
    )?;
    std::fs::write(
        dir.join("janus.plugin.videoroom.jcfg"),
        "general: {\n    string_ids = false\n}\n",
    )?;
    Ok(())
}

/// One bench participant on Janus: its publishing and receiving sessions.
pub struct JanusMember {
    publishing: Option<MediaPump>,
    receiving: Option<MediaPump>,
}

impl JanusMember {
    /// The two sessions' counters, merged.
    pub async fn report(&self) -> Option<MediaReport> {
        let publishing = match &self.publishing {
            Some(p) => Some(p.report().await?),
            None => None,
        };
        let receiving = match &self.receiving {
            Some(r) => Some(r.report().await?),
            None => None,
        };
        Some(merge(publishing, receiving))
    }

    /// Closes both sessions and gives the final counters.
    pub async fn leave(self) -> Option<MediaReport> {
        let publishing = match self.publishing {
            Some(p) => Some(p.stop().await?),
            None => None,
        };
        let receiving = match self.receiving {
            Some(r) => Some(r.stop().await?),
            None => None,
        };
        Some(merge(publishing, receiving))
    }
}

fn merge(publishing: Option<MediaReport>, receiving: Option<MediaReport>) -> MediaReport {
    let mut merged = receiving.unwrap_or_default();
    if let Some(p) = publishing {
        merged.sent_pictures = p.sent_pictures;
        merged.sent_keyframes = p.sent_keyframes;
        merged.sent_packets = p.sent_packets;
        merged.keyframe_requests_received = p.keyframe_requests_received;
        merged.connected_at = merged.connected_at.or(p.connected_at);
    }
    merged
}

/// A Janus session (one for the whole bench) with its long-poll task that
/// hands each handle's events to whoever waits for them.
struct Session {
    http: reqwest::Client,
    url: String,
    events: Arc<Mutex<HashMap<u64, mpsc::UnboundedSender<Value>>>>,
    transaction: std::sync::atomic::AtomicU64,
}

impl Session {
    async fn create(base: &str) -> anyhow::Result<Arc<Session>> {
        let http = reqwest::Client::new();
        let created: Value = http
            .post(base)
            .json(&json!({"janus": "create", "transaction": "create"}))
            .send()
            .await?
            .json()
            .await?;
        let id = created["data"]["id"]
            .as_u64()
            .ok_or_else(|| anyhow!("janus create gave no session id: {created}"))?;
        let session = Arc::new(Session {
            http,
            url: format!("{base}/{id}"),
            events: Arc::new(Mutex::new(HashMap::new())),
            transaction: std::sync::atomic::AtomicU64::new(1),
        });
        tokio::spawn(long_poll(session.clone()));
        Ok(session)
    }

    fn transaction(&self) -> String {
        let n = self
            .transaction
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("t{n}")
    }

    /// Attaches a videoroom handle and returns it with its event stream.
    async fn attach(&self) -> anyhow::Result<(u64, mpsc::UnboundedReceiver<Value>)> {
        let attached: Value = self
            .http
            .post(&self.url)
            .json(&json!({
                "janus": "attach",
                "plugin": "janus.plugin.videoroom",
                "transaction": self.transaction(),
            }))
            .send()
            .await?
            .json()
            .await?;
        let handle = attached["data"]["id"]
            .as_u64()
            .ok_or_else(|| anyhow!("janus attach gave no handle id: {attached}"))?;
        let (tx, rx) = mpsc::unbounded_channel();
        self.events.lock().await.insert(handle, tx);
        Ok((handle, rx))
    }

    /// Sends a plugin message; gives Janus's immediate reply (`success` for
    /// synchronous requests, `ack` for asynchronous ones).
    async fn message(
        &self,
        handle: u64,
        body: Value,
        jsep: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = json!({
            "janus": "message",
            "transaction": self.transaction(),
            "body": body,
        });
        if let Some(jsep) = jsep {
            request["jsep"] = jsep;
        }
        let reply: Value = self
            .http
            .post(format!("{}/{handle}", self.url))
            .json(&request)
            .send()
            .await?
            .json()
            .await?;
        if reply["janus"] == "error" {
            bail!("janus refused {}: {reply}", request["body"]);
        }
        Ok(reply)
    }
}

async fn long_poll(session: Arc<Session>) {
    loop {
        let response = session
            .http
            .get(format!("{}?maxev=20", session.url))
            .send()
            .await;
        let events: Value = match response {
            Ok(r) => match r.json().await {
                Ok(v) => v,
                Err(_) => return,
            },
            // Janus is gone: the bench is over.
            Err(_) => return,
        };
        let list = match events {
            Value::Array(list) => list,
            single => vec![single],
        };
        let senders = session.events.lock().await;
        for event in list {
            if let Some(tx) = event["sender"].as_u64().and_then(|h| senders.get(&h)) {
                let _ = tx.send(event);
            }
        }
    }
}

/// Waits for a plugin event on `events` that `pick` accepts.
async fn wait_event(
    events: &mut mpsc::UnboundedReceiver<Value>,
    what: &str,
    pick: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .map_err(|_| anyhow!("no {what} from janus within {} s", EVENT_TIMEOUT.as_secs()))?
            .ok_or_else(|| anyhow!("janus's event stream ended waiting for {what}"))?;
        if let Some(error) = event["plugindata"]["data"]["error"].as_str() {
            bail!("janus answered {what} with an error: {error}");
        }
        if pick(&event) {
            return Ok(event);
        }
    }
}

/// The synthetic participant id of feed `n` (12 characters, as Conclave's are).
fn feed_participant(n: u64) -> anyhow::Result<ParticipantId> {
    ParticipantId::from_str(&format!("janusfeed{n:03}"))
        .map_err(|e| anyhow!("bad synthetic participant id: {e}"))
}

/// A client's media socket, on the address Janus gathers on.
async fn media_socket(ice_ip: IpAddr) -> anyhow::Result<(UdpSocket, SocketAddr)> {
    let socket = UdpSocket::bind(SocketAddr::new(ice_ip, 0))
        .await
        .with_context(|| format!("cannot bind a media socket on {ice_ip}"))?;
    let local = socket.local_addr()?;
    Ok((socket, local))
}

/// Creates the room, publishes every publisher, then subscribes everyone to
/// every publisher but itself.
pub(crate) async fn seat(args: &SfuArgs, janus: &JanusServer) -> anyhow::Result<Vec<Member>> {
    let session = Session::create(&janus.base).await?;
    let (admin, _admin_events) = session.attach().await?;
    let created = session
        .message(
            admin,
            json!({
                "request": "create",
                "room": ROOM,
                "publishers": 100,
                "audiocodec": "opus",
                "videocodec": "vp9",
                // Janus then picks layers per subscriber from the VP9
                // descriptor, the same work Conclave's router does.
                "video_svc": true,
                "bitrate": 0,
                "fir_freq": 0,
                "notify_joining": false,
            }),
            None,
        )
        .await?;
    if created["plugindata"]["data"]["videoroom"] != "created" {
        bail!("janus did not create the room: {created}");
    }

    eprintln!("bench: publishing {} feeds on janus", args.publishers);
    let mut publishing = Vec::new();
    for n in 1..=u64::from(args.publishers) {
        let id = feed_participant(n)?;
        let (handle, mut events) = session.attach().await?;
        session
            .message(
                handle,
                json!({"request": "join", "ptype": "publisher", "room": ROOM, "id": n, "display": format!("Bench publisher {n}")}),
                None,
            )
            .await?;
        wait_event(&mut events, "joined", |e| {
            e["plugindata"]["data"]["videoroom"] == "joined"
        })
        .await?;
        let (socket, local) = media_socket(janus.ice_ip).await?;
        let now = Instant::now();
        let mut media =
            MediaSession::new(publisher_media(args), &id, local, now, SystemTime::now())
                .map_err(|e| anyhow!("{e}"))?;
        let offer = media
            .create_offer(now)
            .ok_or_else(|| anyhow!("a publisher with nothing to offer"))?;
        session
            .message(
                handle,
                json!({"request": "publish", "audio": true, "video": true}),
                Some(json!({"type": "offer", "sdp": offer, "trickle": false})),
            )
            .await?;
        let answer = wait_event(&mut events, "the publish answer", |e| {
            e["jsep"]["sdp"].is_string()
        })
        .await?;
        let sdp = answer["jsep"]["sdp"]
            .as_str()
            .ok_or_else(|| anyhow!("no SDP in janus's answer"))?;
        media.accept_answer(sdp).map_err(|e| anyhow!("{e}"))?;
        publishing.push((n, id, MediaPump::start(media, socket, Box::new(Plaintext))));
    }

    // Janus offers a feed to subscribers only once its PeerConnection is up.
    let deadline = Instant::now() + EVENT_TIMEOUT;
    for (n, _, pump) in &publishing {
        loop {
            if pump
                .report()
                .await
                .is_some_and(|r| r.connected_at.is_some())
            {
                break;
            }
            if Instant::now() >= deadline {
                bail!(
                    "janus publisher {n} did not connect within {} s",
                    EVENT_TIMEOUT.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // And it takes a moment more to call the feed active.
    tokio::time::sleep(Duration::from_millis(500)).await;

    eprintln!("bench: subscribing on janus");
    let mut members = Vec::new();
    let total = u64::from(args.publishers) + u64::from(args.subscribers);
    let mut publishing = publishing.into_iter();
    for n in 1..=total {
        let publisher = publishing.next();
        let id = match &publisher {
            Some((_, id, _)) => id.clone(),
            None => feed_participant(n)?,
        };
        let feeds: Vec<u64> = (1..=u64::from(args.publishers))
            .filter(|f| *f != n)
            .collect();
        let joined_at = Instant::now();
        let receiving = if feeds.is_empty() {
            None
        } else {
            Some(subscribe(&session, janus.ice_ip, &id, &feeds).await?)
        };
        members.push(Member {
            id,
            joined_at,
            publisher: publisher.is_some(),
            handle: MemberHandle::Janus(JanusMember {
                publishing: publisher.map(|(_, _, pump)| pump),
                receiving,
            }),
        });
    }
    Ok(members)
}

/// One receiving PeerConnection for `feeds`.
async fn subscribe(
    session: &Session,
    ice_ip: IpAddr,
    me: &ParticipantId,
    feeds: &[u64],
) -> anyhow::Result<MediaPump> {
    let (handle, mut events) = session.attach().await?;
    let streams: Vec<Value> = feeds.iter().map(|f| json!({"feed": f})).collect();
    session
        .message(
            handle,
            json!({"request": "join", "ptype": "subscriber", "room": ROOM, "streams": streams}),
            None,
        )
        .await?;
    let attached = wait_event(&mut events, "the subscription offer", |e| {
        e["plugindata"]["data"]["videoroom"] == "attached" && e["jsep"]["sdp"].is_string()
    })
    .await?;
    let offer = attached["jsep"]["sdp"]
        .as_str()
        .ok_or_else(|| anyhow!("no SDP in janus's offer"))?;
    let mut tracks = Vec::new();
    if let Some(list) = attached["plugindata"]["data"]["streams"].as_array() {
        for stream in list {
            let (Some(mid), Some(feed)) = (stream["mid"].as_str(), stream["feed_id"].as_u64())
            else {
                continue;
            };
            let source = match stream["type"].as_str() {
                Some("audio") => MediaSource::Audio,
                Some("video") => MediaSource::Video,
                _ => continue,
            };
            tracks.push(TrackInfo {
                mid: mid.to_owned(),
                participant_id: feed_participant(feed)?,
                source,
            });
        }
    }
    let (socket, local) = media_socket(ice_ip).await?;
    let now = Instant::now();
    let config = MediaConfig {
        publish: Vec::new(),
        ..MediaConfig::default()
    };
    let mut media =
        MediaSession::new(config, me, local, now, SystemTime::now()).map_err(|e| anyhow!("{e}"))?;
    let answer = media.accept_offer(offer).map_err(|e| anyhow!("{e}"))?;
    media.set_tracks(tracks.clone());
    session
        .message(
            handle,
            json!({"request": "start"}),
            Some(json!({"type": "answer", "sdp": answer, "trickle": false})),
        )
        .await?;
    wait_event(&mut events, "started", |e| {
        e["plugindata"]["data"]["started"] == "ok"
    })
    .await?;
    // Ask for the top spatial and temporal layers of every video stream.
    let layers: Vec<Value> = tracks
        .iter()
        .filter(|t| t.source == MediaSource::Video)
        .map(|t| json!({"mid": t.mid, "spatial_layer": 2, "temporal_layer": 2}))
        .collect();
    if !layers.is_empty() {
        session
            .message(
                handle,
                json!({"request": "configure", "streams": layers}),
                None,
            )
            .await?;
    }
    Ok(MediaPump::start(media, socket, Box::new(Plaintext)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_janus_cannot_gather_on_is_refused_before_it_starts() {
        for refused in ["127.0.0.1", "::1", "0.0.0.0", "224.0.0.1"] {
            let ip: IpAddr = refused.parse().expect("a literal address");
            let error = check_ice_ip(ip).expect_err(refused).to_string();
            assert!(error.contains("loopback"), "{refused}: {error}");
        }
        // TEST-NET-3 (RFC 5737): no interface of a test machine holds it.
        let foreign: IpAddr = "203.0.113.7".parse().expect("a literal address");
        let error = format!("{:#}", check_ice_ip(foreign).expect_err("not local"));
        assert!(error.contains("no local interface"), "{error}");
    }

    #[test]
    fn the_config_gathers_only_on_the_given_address() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let ip: IpAddr = "10.99.0.1".parse().expect("a literal address");
        write_config(dir.path(), 8088, ip).expect("config written");
        let config = std::fs::read_to_string(dir.path().join("janus.jcfg")).expect("janus.jcfg");
        assert!(
            config.contains("ice_enforce_list = \"10.99.0.1\""),
            "{config}"
        );
        let http = std::fs::read_to_string(dir.path().join("janus.transport.http.jcfg"))
            .expect("the HTTP transport's config");
        assert!(http.contains("ip = \"127.0.0.1\"") && http.contains("port = 8088"));
    }
}
