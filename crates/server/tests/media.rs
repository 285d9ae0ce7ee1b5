//! Media through the real server: str0m peers over real UDP on 127.0.0.1,
//! signaling over real WebSockets. A publishing peer is a real member of the
//! meeting's MLS group (the client's sans-IO `Membership`) and SFrame-encrypts
//! every frame, as the SFU's E2EE gate demands; a peer without one is refused.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use client::media::cipher::FrameCipher;
use client::membership::{Membership, Output as MlsOutput};
use client::Signaling;
use common::*;
use e2ee::identity::IdentityKeyPair;
use proto::ids::{MeetingId, ParticipantId};
use proto::rest::NewMeeting;
use proto::signaling::{ClientMessage, MediaSource, ServerMessage, TrackInfo};
use rand::rngs::StdRng;
use rand::SeedableRng;
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

/// Starts a peer's task: it owns the WebSocket, the UDP socket and the `Rtc`, and for a
/// publisher its MLS membership.
fn spawn_peer(
    server: &TestServer,
    ws: Signaling,
    id: ParticipantId,
    mls: Option<Membership>,
) -> Peer {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(run_peer(ws, rx, seen.clone(), mls, server.base.clone()));
    Peer { id, seen, tx }
}

/// A seated participant's MLS membership in `meeting`, signing with `keys` (it sends its
/// KeyPackage, or creates the group when the server asks).
fn membership(joined: &Joined, meeting: &MeetingId, keys: &IdentityKeyPair) -> Membership {
    let account = joined
        .roster
        .iter()
        .find(|p| p.id == joined.participant_id)
        .and_then(|p| p.account_id.clone());
    Membership::new(
        joined.participant_id.clone(),
        account,
        meeting.as_str(),
        keys,
        StdRng::seed_from_u64(1),
    )
    .unwrap()
}

/// Logs the key made from `seed` as the token's account's identity key.
async fn register_identity_key(server: &TestServer, token: &str, seed: [u8; 32]) {
    use base64::Engine as _;
    use ed25519_dalek::Signer as _;
    let me: proto::rest::Account = server
        .http
        .get(server.url("/api/v1/accounts/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let public = key.verifying_key().to_bytes();
    let mut signed = server::api::accounts::IDENTITY_KEY_CONTEXT.to_vec();
    signed.extend_from_slice(me.id.as_str().as_bytes());
    signed.push(b'\n');
    signed.extend_from_slice(&public);
    let b64 = base64::engine::general_purpose::STANDARD;
    let response = server
        .http
        .put(server.url("/api/v1/accounts/me/identity-key"))
        .bearer_auth(token)
        .json(&serde_json::json!({
            "public_key": b64.encode(public),
            "signature": b64.encode(key.sign(&signed).to_bytes()),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
}

/// Sends what the membership wants sent, and answers its key lookups from the log at `base`.
async fn drain_mls(mls: &mut Option<Membership>, ws: &mut Signaling, base: &str) {
    let Some(mls) = mls else { return };
    let http = reqwest::Client::new();
    loop {
        let mut lookups = Vec::new();
        drain_outputs(mls, ws, &mut lookups).await;
        if lookups.is_empty() {
            return;
        }
        for account in lookups {
            let verified = match client::keydir::pin_log(&http, base).await {
                Ok(log) => client::keydir::verified_key(&http, base, &log, &account).await,
                Err(e) => Err(e),
            };
            match verified {
                Ok(key) => mls.key_verified(&account, key, Instant::now()),
                Err(e) => mls.key_refused(&account, &e.to_string(), Instant::now()),
            }
        }
    }
}

async fn drain_outputs(
    mls: &mut Membership,
    ws: &mut Signaling,
    lookups: &mut Vec<proto::ids::AccountId>,
) {
    while let Some(output) = mls.poll_output() {
        match output {
            MlsOutput::Send(message) => {
                let _ = ws.send(&message).await;
            }
            // Ghost protection: an account member's key is checked against the server's
            // transparency log, for real, before the group is accepted.
            MlsOutput::LookupKey(account) => lookups.push(account),
            _ => {}
        }
    }
}

async fn run_peer(
    mut ws: Signaling,
    mut rx: mpsc::UnboundedReceiver<Command>,
    seen: Arc<Mutex<Seen>>,
    mut mls: Option<Membership>,
    base: String,
) {
    drain_mls(&mut mls, &mut ws, &base).await;
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
    // Tracks offered but not yet answered (a refused offer leaves nothing behind).
    let mut offered: Option<(Mid, Mid)> = None;
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
                    offered = video.map(|video| (audio, video));
                    let _ = ws.send(&ClientMessage::MediaOffer { sdp: offer.to_sdp_string() }).await;
                }
            },
            message = ws.recv_within(Duration::from_secs(3600)) => {
                let Ok(message) = message else { return };
                match &message {
                    ServerMessage::MediaAnswer { sdp } => {
                        if let Some(p) = pending.take() {
                            rtc.sdp_api().accept_answer(p, SdpAnswer::from_sdp_string(sdp).unwrap()).unwrap();
                            publishing = publishing.or(offered.take());
                        }
                    }
                    ServerMessage::MediaOffer { sdp } => {
                        let answer = rtc.sdp_api().accept_offer(SdpOffer::from_sdp_string(sdp).unwrap()).unwrap();
                        let _ = ws.send(&ClientMessage::MediaAnswer { sdp: answer.to_sdp_string() }).await;
                    }
                    ServerMessage::MediaTracks { tracks } => seen.lock().unwrap().tracks = tracks.clone(),
                    _ => {}
                }
                if let Some(mls) = &mut mls {
                    mls.handle(message.clone(), Instant::now());
                }
                drain_mls(&mut mls, &mut ws, &base).await;
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
                if let Some(mls) = &mut mls {
                    mls.handle_timeout(Instant::now());
                }
                drain_mls(&mut mls, &mut ws, &base).await;
                if let (Some((audio, video)), true, false) = (publishing, connected, vanished) {
                    n += 1;
                    publish(&mut rtc, audio, video, n, mls.as_mut());
                }
                let _ = rtc.handle_input(Input::Timeout(Instant::now()));
            }
            () = sleep => { let _ = rtc.handle_input(Input::Timeout(Instant::now())); }
        }
    }
}

/// One 20 ms audio frame and, every other tick, one single-packet VP9 keyframe-or-delta,
/// each SFrame-encrypted by `cipher` (in the clear without one: the SFU refuses those).
/// Nothing goes out before the first epoch's keys, as in the real client.
fn publish(rtc: &mut Rtc, audio: Mid, video: Mid, n: u64, mut cipher: Option<&mut Membership>) {
    let mut seal = |frame: Vec<u8>| -> Option<Vec<u8>> {
        match cipher.as_deref_mut() {
            Some(cipher) => cipher.encrypt(&frame).ok(),
            None => Some(frame),
        }
    };
    let now = Instant::now();
    let opus = pt(rtc, Codec::Opus);
    let vp9 = pt(rtc, Codec::Vp9);
    let exts = ExtensionValues {
        audio_level: Some(-20),
        voice_activity: Some(true),
        ..Default::default()
    };
    let Some(sound) = seal(vec![0xa0; 80]) else {
        return;
    };
    if let Some(tx) = rtc.direct_api().stream_tx_by_mid(audio, None) {
        tx.write_rtp(RtpWrite::new(opus, n.into(), (n * 960) as u32, now, sound).ext_vals(exts));
    }
    if n % 2 == 0 {
        // Every packet a whole picture; a keyframe every 10 pictures.
        let key = n % 20 == 0;
        let flags = 0x80 | 0x08 | 0x04 | if key { 0 } else { 0x40 };
        let mut payload = vec![flags, (n & 0x7f) as u8];
        let Some(frame) = seal(vec![0x5a; 598]) else {
            return;
        };
        payload.extend_from_slice(&frame);
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
    let (_, host, alice, bob) = meeting_with_media_in(server).await;
    (host, alice, bob)
}

/// [`meeting_with_media`], and the meeting's id.
async fn meeting_with_media_in(server: &TestServer) -> (MeetingId, Peer, Peer, Peer) {
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
    // The host creates the meeting's MLS group when the server asks; alice, a guest who
    // publishes, joins it from the host's commit and encrypts for it. Bob only receives
    // (and is not a member).
    let host_keys = IdentityKeyPair::from_secret([7; 32]);
    register_identity_key(server, &token, [7; 32]).await;
    let (host_ws, host) = server.seated(&token, &meeting).await;
    let host_mls = membership(&host, &meeting, &host_keys);
    let host = spawn_peer(server, host_ws, host.participant_id, Some(host_mls));
    let (alice_ws, alice_joined) = server.seated_guest("alice", &meeting).await;
    let alice_keys = IdentityKeyPair::generate(&mut rand::thread_rng());
    let alice_mls = membership(&alice_joined, &meeting, &alice_keys);
    let alice = spawn_peer(
        server,
        alice_ws,
        alice_joined.participant_id,
        Some(alice_mls),
    );
    let bob_token = server.account("bob").await;
    let (bob_ws, bob_joined) = server.seated(&bob_token, &meeting).await;
    let bob = spawn_peer(server, bob_ws, bob_joined.participant_id, None);
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
    (meeting, host, alice, bob)
}

#[tokio::test]
async fn only_seated_participants_get_media_and_the_lobby_gets_an_error() {
    let server = start().await;
    let token = server.account("hostess").await;
    let meeting = server.meeting(&token, NewMeeting::default()).await;
    let (mut host_ws, _) = server.seated(&token, &meeting).await;
    let (guest_ws, guest_id) = server.waiting_guest("Grace", &meeting).await;
    let guest = spawn_peer(&server, guest_ws, guest_id.clone(), None);
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

/// The SFU's E2EE gate through the real server (issue #4): alice's SFrame frames, under the
/// group's epoch and her leaf, reach bob; carol, seated and connected but outside the group,
/// sends her frames in the clear and nothing of hers reaches anyone. /metrics counts both.
#[tokio::test]
async fn media_that_is_not_end_to_end_encrypted_is_refused_and_counted() {
    let server = start().await;
    let (meeting, _host, alice, bob) = meeting_with_media_in(&server).await;
    let carol_token = server.account("carol").await;
    let (carol_ws, carol_joined) = server.seated(&carol_token, &meeting).await;
    let carol = spawn_peer(&server, carol_ws, carol_joined.participant_id, None);
    carol.offer(true);
    carol
        .wait("media connected", Duration::from_secs(10), |s| s.connected)
        .await;
    let carol_id = carol.id.clone();
    bob.wait("carol's tracks", Duration::from_secs(10), |s| {
        s.tracks
            .iter()
            .filter(|t| t.participant_id == carol_id)
            .count()
            == 2
    })
    .await;
    let since = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let alice_mids = bob.mids_of(&alice.id);
    assert!(bob.count(&alice_mids, since) > 50, "alice's media flows");
    assert_eq!(
        bob.count(&bob.mids_of(&carol.id), since),
        0,
        "plaintext media is not forwarded"
    );
    let metrics = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let count = |label: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!("conclave_sfu_frames_total{{e2ee=\"{label}\"}} "))
            })
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no e2ee={label} count in {metrics}"))
    };
    assert!(count("true") > 50, "{metrics}");
    assert!(count("false") > 50, "{metrics}");
    server.stop().await;
}
