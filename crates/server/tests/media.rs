//! Media through the real server: str0m peers over real UDP on 127.0.0.1,
//! signaling over real WebSockets.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use client::Signaling;
use common::*;
use proto::ids::ParticipantId;
use proto::rest::NewMeeting;
use proto::signaling::{ClientMessage, MediaSource, ServerMessage, TrackInfo};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// What a peer has seen, shared with the test.
#[derive(Default)]
struct Seen {
    messages: Vec<ServerMessage>,
    tracks: Vec<TrackInfo>,
    /// (mid, arrival) of every RTP packet received.
    packets: Vec<(Mid, Instant)>,
    connected: bool,
}

enum Command {
    Send(ClientMessage),
    /// Offer our own tracks (audio + VP9 video) or, if false, a receive-only audio m-line.
    Offer(bool),
    /// Stop sending anything on UDP (the client "vanishes").
    Vanish,
}

struct Peer {
    id: ParticipantId,
    seen: Arc<Mutex<Seen>>,
    tx: mpsc::UnboundedSender<Command>,
}

impl Peer {
    fn send(&self, message: ClientMessage) {
        self.tx.send(Command::Send(message)).unwrap();
    }

    fn offer(&self, publish: bool) {
        self.tx.send(Command::Offer(publish)).unwrap();
    }

    /// Waits (bounded) until `check` holds on what this peer has seen.
    async fn wait(&self, what: &str, limit: Duration, mut check: impl FnMut(&Seen) -> bool) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if check(&self.seen.lock().unwrap()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("timed out waiting for {what}");
    }

    fn mids_of(&self, publisher: &ParticipantId) -> Vec<Mid> {
        self.seen
            .lock()
            .unwrap()
            .tracks
            .iter()
            .filter(|t| &t.participant_id == publisher)
            .map(|t| Mid::from(t.mid.as_str()))
            .collect()
    }

    /// Packets received on `mids` since `since`.
    fn count(&self, mids: &[Mid], since: Instant) -> usize {
        self.seen
            .lock()
            .unwrap()
            .packets
            .iter()
            .filter(|(m, at)| mids.contains(m) && *at >= since)
            .count()
    }

    fn last_error(&self) -> Option<String> {
        self.seen
            .lock()
            .unwrap()
            .messages
            .iter()
            .rev()
            .find_map(|m| match m {
                ServerMessage::Error { code, .. } => Some(
                    serde_json::to_value(code)
                        .unwrap()
                        .as_str()
                        .unwrap()
                        .to_owned(),
                ),
                _ => None,
            })
    }
}

/// Starts a peer's task: it owns the WebSocket, the UDP socket and the `Rtc`.
fn spawn_peer(ws: Signaling, id: ParticipantId) -> Peer {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run_peer(ws, rx, seen.clone()));
    Peer { id, seen, tx }
}

async fn run_peer(
    mut ws: Signaling,
    mut rx: mpsc::UnboundedReceiver<Command>,
    seen: Arc<Mutex<Seen>>,
) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local: SocketAddr = socket.local_addr().unwrap();
    let mut rtc = RtcConfig::new()
        .set_rtp_mode(true)
        .clear_codecs()
        .enable_opus(true, false)
        .enable_vp9(true)
        .build(Instant::now());
    rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
    let mut pending: Option<SdpPendingOffer> = None;
    let mut publishing: Option<(Mid, Mid)> = None;
    let mut vanished = false;
    let mut buf = vec![0u8; 2000];
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut n: u64 = 0;
    loop {
        // Drain the Rtc.
        let timeout = loop {
            match rtc.poll_output().unwrap() {
                Output::Timeout(t) => break t,
                Output::Transmit(t) => {
                    if !vanished {
                        let _ = socket.send_to(&t.contents, t.destination).await;
                    }
                }
                Output::Event(Event::Connected) => seen.lock().unwrap().connected = true,
                Output::Event(Event::RtpPacket(p)) => {
                    let mid = rtc.direct_api().stream_rx(&p.header.ssrc).map(|s| s.mid());
                    if let Some(mid) = mid {
                        seen.lock().unwrap().packets.push((mid, Instant::now()));
                    }
                }
                Output::Event(_) => {}
            }
        };
        let sleep =
            tokio::time::sleep_until(tokio::time::Instant::from_std(timeout.max(Instant::now())));
        tokio::select! {
            command = rx.recv() => match command {
                None => return,
                Some(Command::Send(m)) => { let _ = ws.send(&m).await; }
                Some(Command::Vanish) => vanished = true,
                Some(Command::Offer(_)) if publishing.is_some() => {
                    // A re-offer of the same tracks (an ICE restart).
                    let mut api = rtc.sdp_api();
                    api.ice_restart(true);
                    let (offer, p) = api.apply().unwrap();
                    pending = Some(p);
                    let _ = ws.send(&ClientMessage::MediaOffer { sdp: offer.to_sdp_string() }).await;
                }
                Some(Command::Offer(publish)) => {
                    let mut api = rtc.sdp_api();
                    let dir = if publish { Direction::SendOnly } else { Direction::RecvOnly };
                    let audio = api.add_media(MediaKind::Audio, dir, None, None, None);
                    let video = publish.then(|| api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None));
                    let (offer, p) = api.apply().unwrap();
                    pending = Some(p);
                    if let Some(video) = video {
                        publishing = Some((audio, video));
                    }
                    let _ = ws.send(&ClientMessage::MediaOffer { sdp: offer.to_sdp_string() }).await;
                }
            },
            message = ws.recv_within(Duration::from_secs(3600)) => {
                let Ok(message) = message else { return };
                match &message {
                    ServerMessage::MediaAnswer { sdp } => {
                        if let Some(p) = pending.take() {
                            rtc.sdp_api().accept_answer(p, SdpAnswer::from_sdp_string(sdp).unwrap()).unwrap();
                        }
                    }
                    ServerMessage::MediaOffer { sdp } => {
                        let answer = rtc.sdp_api().accept_offer(SdpOffer::from_sdp_string(sdp).unwrap()).unwrap();
                        let _ = ws.send(&ClientMessage::MediaAnswer { sdp: answer.to_sdp_string() }).await;
                    }
                    ServerMessage::MediaTracks { tracks } => seen.lock().unwrap().tracks = tracks.clone(),
                    _ => {}
                }
                seen.lock().unwrap().messages.push(message);
            }
            received = socket.recv_from(&mut buf) => {
                let Ok((len, from)) = received else { return };
                if vanished { continue; }
                let contents = buf[..len].try_into().unwrap();
                let input = Input::Receive(Instant::now(), Receive { proto: Protocol::Udp, source: from, destination: local, contents });
                let _ = rtc.handle_input(input);
            }
            _ = tick.tick() => {
                let connected = seen.lock().unwrap().connected;
                if let (Some((audio, video)), true, false) = (publishing, connected, vanished) {
                    n += 1;
                    publish(&mut rtc, audio, video, n);
                }
                let _ = rtc.handle_input(Input::Timeout(Instant::now()));
            }
            () = sleep => { let _ = rtc.handle_input(Input::Timeout(Instant::now())); }
        }
    }
}

/// One 20 ms audio frame and, every other tick, one single-packet VP9 keyframe-or-delta.
fn publish(rtc: &mut Rtc, audio: Mid, video: Mid, n: u64) {
    let now = Instant::now();
    let opus = pt(rtc, Codec::Opus);
    let vp9 = pt(rtc, Codec::Vp9);
    let exts = ExtensionValues {
        audio_level: Some(-20),
        voice_activity: Some(true),
        ..Default::default()
    };
    if let Some(tx) = rtc.direct_api().stream_tx_by_mid(audio, None) {
        tx.write_rtp(
            RtpWrite::new(opus, n.into(), (n * 960) as u32, now, vec![0xa0; 80]).ext_vals(exts),
        );
    }
    if n % 2 == 0 {
        // Every packet a whole picture; a keyframe every 10 pictures.
        let key = n % 20 == 0;
        let flags = 0x80 | 0x08 | 0x04 | if key { 0 } else { 0x40 };
        let mut payload = vec![flags, (n & 0x7f) as u8];
        payload.resize(600, 0x5a);
        if let Some(tx) = rtc.direct_api().stream_tx_by_mid(video, None) {
            tx.write_rtp(
                RtpWrite::new(vp9, (n / 2).into(), (n * 1500) as u32, now, payload)
                    .marker(true)
                    .nackable(true),
            );
        }
    }
}

fn pt(rtc: &Rtc, codec: Codec) -> str0m::media::Pt {
    rtc.codec_config()
        .find(|p| p.spec().codec == codec)
        .map(|p| p.pt())
        .unwrap()
}

/// A host with an open meeting and two more seated participants, all with media flowing.
async fn meeting_with_media(server: &TestServer) -> (Peer, Peer, Peer) {
    let token = server.account("hostess").await;
    let meeting = server
        .meeting(
            &token,
            NewMeeting {
                lobby: Some(false),
                ..Default::default()
            },
        )
        .await;
    let (host_ws, host) = server.seated(&token, &meeting).await;
    let mut peers = Vec::new();
    for name in ["alice", "bob"] {
        let t = server.account(name).await;
        let (ws, joined) = server.seated(&t, &meeting).await;
        peers.push(spawn_peer(ws, joined.participant_id));
    }
    let host = spawn_peer(host_ws, host.participant_id);
    let bob = peers.pop().unwrap();
    let alice = peers.pop().unwrap();
    host.offer(false);
    alice.offer(true);
    bob.offer(false);
    for p in [&host, &alice, &bob] {
        p.wait("media connected", Duration::from_secs(10), |s| s.connected)
            .await;
    }
    let alice_id = alice.id.clone();
    bob.wait("alice's tracks", Duration::from_secs(10), |s| {
        s.tracks
            .iter()
            .filter(|t| t.participant_id == alice_id)
            .count()
            == 2
    })
    .await;
    (host, alice, bob)
}

#[tokio::test]
async fn only_seated_participants_get_media_and_the_lobby_gets_an_error() {
    let server = start().await;
    let token = server.account("hostess").await;
    let meeting = server.meeting(&token, NewMeeting::default()).await;
    let (mut host_ws, _) = server.seated(&token, &meeting).await;
    let (guest_ws, guest_id) = server.waiting_guest("Grace", &meeting).await;
    let guest = spawn_peer(guest_ws, guest_id.clone());
    guest.offer(true);
    guest
        .wait("media_rejected", Duration::from_secs(5), |s| {
            s.messages
                .iter()
                .any(|m| matches!(m, ServerMessage::Error { .. }))
        })
        .await;
    assert_eq!(guest.last_error().as_deref(), Some("media_rejected"));
    assert!(!guest
        .seen
        .lock()
        .unwrap()
        .messages
        .iter()
        .any(|m| matches!(m, ServerMessage::MediaAnswer { .. })));
    host_ws
        .send(&ClientMessage::Admit {
            participant_id: guest_id,
        })
        .await
        .unwrap();
    guest
        .wait("joined", Duration::from_secs(5), |s| {
            s.messages
                .iter()
                .any(|m| matches!(m, ServerMessage::Joined { .. }))
        })
        .await;
    guest.offer(true);
    guest
        .wait(
            "media connected once seated",
            Duration::from_secs(10),
            |s| s.connected,
        )
        .await;
    let metrics = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("conclave_media_participants"), "{metrics}");
    server.stop().await;
}

#[tokio::test]
async fn a_host_mute_is_enforced_at_the_sfu() {
    let server = start().await;
    let (host, alice, bob) = meeting_with_media(&server).await;
    let alice_mids = bob.mids_of(&alice.id);
    bob.wait("alice's media", Duration::from_secs(10), |s| {
        s.packets
            .iter()
            .filter(|(m, _)| alice_mids.contains(m))
            .count()
            > 20
    })
    .await;
    // A participant cannot mute or unmute others, nor lift a host's mute.
    alice.send(ClientMessage::LiftMute {
        participant_id: alice.id.clone(),
        media: vec![MediaSource::Audio],
    });
    alice
        .wait("forbidden", Duration::from_secs(5), |s| {
            s.messages
                .iter()
                .any(|m| matches!(m, ServerMessage::Error { .. }))
        })
        .await;
    assert_eq!(alice.last_error().as_deref(), Some("forbidden"));
    host.send(ClientMessage::Mute {
        participant_id: alice.id.clone(),
        media: vec![MediaSource::Audio, MediaSource::Video],
    });
    let alice_id = alice.id.clone();
    bob.wait("the roster shows the mute", Duration::from_secs(5), |s| {
        s.messages.iter().any(|m| matches!(m, ServerMessage::ParticipantUpdated { participant }
            if participant.id == alice_id && participant.host_muted == vec![MediaSource::Audio, MediaSource::Video]))
    })
    .await;
    // Let packets already in flight land, then nothing more may come.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let since = Instant::now();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        bob.count(&alice_mids, since),
        0,
        "muted media is not forwarded"
    );
    // Alice re-offering (an ICE restart) does not get around it.
    alice.offer(true);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(bob.count(&bob.mids_of(&alice.id), since), 0);
    host.send(ClientMessage::LiftMute {
        participant_id: alice.id.clone(),
        media: vec![MediaSource::Audio, MediaSource::Video],
    });
    let since = Instant::now();
    let mids = bob.mids_of(&alice.id);
    bob.wait(
        "media again after the mute is lifted",
        Duration::from_secs(5),
        |s| {
            s.packets
                .iter()
                .filter(|(m, at)| mids.contains(m) && *at >= since)
                .count()
                > 10
        },
    )
    .await;
    server.stop().await;
}

#[tokio::test]
async fn a_removed_participants_media_stops() {
    let server = start().await;
    let (host, alice, bob) = meeting_with_media(&server).await;
    let alice_mids = bob.mids_of(&alice.id);
    bob.wait("alice's media", Duration::from_secs(10), |s| {
        s.packets
            .iter()
            .filter(|(m, _)| alice_mids.contains(m))
            .count()
            > 20
    })
    .await;
    host.send(ClientMessage::Remove {
        participant_id: alice.id.clone(),
        reason: None,
    });
    let alice_id = alice.id.clone();
    bob.wait("participant_left", Duration::from_secs(5), |s| {
        s.messages.iter().any(|m| matches!(m, ServerMessage::ParticipantLeft { participant_id, .. } if *participant_id == alice_id))
    })
    .await;
    // The router dropped her at once; allow in-flight datagrams 100 ms.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let since = Instant::now();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        bob.count(&alice_mids, since),
        0,
        "a removed participant's media stops"
    );
    bob.wait("alice's tracks withdrawn", Duration::from_secs(5), |s| {
        s.tracks.iter().all(|t| t.participant_id != alice_id)
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn a_vanished_client_is_cleaned_up_within_30_seconds() {
    let server = start().await;
    let (_host, alice, bob) = meeting_with_media(&server).await;
    alice.tx.send(Command::Vanish).unwrap();
    let alice_id = alice.id.clone();
    bob.wait(
        "alice's tracks withdrawn after ICE consent lapses",
        Duration::from_secs(30),
        |s| s.tracks.iter().all(|t| t.participant_id != alice_id),
    )
    .await;
    alice
        .wait("alice told to offer again", Duration::from_secs(5), |s| {
            s.messages.iter().any(|m| matches!(m, ServerMessage::Error { message, .. } if message.contains("timed out")))
        })
        .await;
    server.stop().await;
}
