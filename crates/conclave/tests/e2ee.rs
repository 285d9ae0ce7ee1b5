//! End-to-end encryption over the wire: native participants (the `client` crate) in the real
//! server, joining the meeting's MLS group through signaling, SFrame-encrypting every frame
//! and sending franked chat. Every wait is bounded.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use client::media::session::MediaConfig;
use std::sync::Arc;

use base64::Engine as _;
use client::{Api, Identity, Participant, ParticipantConfig, ParticipantReport};
use e2ee::identity::{IdentityKeyPair, MemberIdentity};
use e2ee::member::PendingMember;
use e2ee::server_view::{ServerGroupView, ServerSigningKey, ValidatedKeyPackage};
use ed25519_dalek::{Signer, SigningKey};
use futures_util::{SinkExt, StreamExt};
use proto::ids::{MeetingId, OpaqueId, ParticipantId};
use proto::rest::{ChatReportVerdict, NewMeeting};
use proto::signaling::MediaSource;
use proto::signaling::{ClientMessage, MlsAdmission, Role, ServerMessage, PROTOCOL_VERSION};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Longest any one wait may take.
const WAIT: Duration = Duration::from_secs(45);
/// How often reports are polled while waiting.
const POLL: Duration = Duration::from_millis(250);

struct Server {
    child: common::Child,
    base: String,
    meeting: MeetingId,
    token: String,
    _data: tempfile::TempDir,
}

/// A fresh server with one host account and one meeting guests join directly.
async fn server() -> Server {
    server_with_env(&[]).await
}

/// [`server`], its process started with `env`.
async fn server_with_env(env: &[(&str, &str)]) -> Server {
    let data = tempfile::tempdir().unwrap();
    let mut child = common::serve(
        data.path(),
        &["--auth-burst", "1000", "--auth-per-minute", "1000"],
        env,
    );
    let (http, _media) = child.listening().await;
    let base = format!("http://{http}");
    let api = Api::new(&base);
    api.register("e2eehost", "correct horse battery staple")
        .await
        .unwrap();
    let session = api
        .login("e2eehost", "correct horse battery staple")
        .await
        .unwrap();
    let meeting = api
        .create_meeting(
            &session.token,
            &NewMeeting {
                lobby: Some(false),
                passcode: None,
                guests_allowed: Some(true),
                encrypted_info: None,
            },
        )
        .await
        .unwrap();
    Server {
        child,
        base,
        meeting: meeting.id,
        token: session.token,
        _data: data,
    }
}

impl Server {
    fn guest(&self, name: &str) -> ParticipantConfig {
        let mut config = ParticipantConfig::guest(&self.base, self.meeting.clone(), name);
        let mut media = MediaConfig::default();
        media.video = media.video.with_total_bitrate(300_000);
        config.media = media;
        config
    }

    async fn join(&self, config: ParticipantConfig) -> Participant {
        match Participant::join(config).await {
            Ok(p) => p,
            Err(e) => panic!("join failed: {e}; server stderr:\n{}", self.child.stderr()),
        }
    }
}

async fn wait_for(
    participants: &[&Participant],
    what: &str,
    mut done: impl FnMut(&ParticipantReport) -> bool,
) -> Vec<ParticipantReport> {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut reports = Vec::new();
        for p in participants {
            reports.push(p.report().await.unwrap());
        }
        if reports.iter().all(&mut done) {
            return reports;
        }
        if Instant::now() >= deadline {
            let summary: Vec<String> = reports.iter().map(summarize).collect();
            panic!("gave up waiting for {what}:\n{}", summary.join("\n"));
        }
        tokio::time::sleep(POLL).await;
    }
}

fn summarize(report: &ParticipantReport) -> String {
    let mut lines = vec![format!(
        "{}: epoch {:?} code {:?} alerts {:?} ended {:?} errors {:?} held back {}",
        report.participant_id,
        report.epoch,
        report.safety_code,
        report.alerts,
        report.ended,
        report.server_errors,
        report.media.unencrypted_held_back,
    )];
    for (peer, p) in &report.media.peers {
        lines.push(format!(
            "  from {peer}: decrypted {} undecryptable {} ({:?})",
            p.decrypted_frames, p.undecryptable_frames, p.last_undecryptable
        ));
        for (source, s) in &p.sources {
            lines.push(format!(
                "    {source:?}: frames {} lost {} incomplete {} corrupt {} {:?}",
                s.frames, s.lost_packets, s.incomplete_frames, s.corrupt, s.first_corruption
            ));
        }
    }
    lines.join("\n")
}

fn frames(report: &ParticipantReport, from: &ParticipantId, source: MediaSource) -> u64 {
    report
        .media
        .peers
        .get(from)
        .and_then(|p| p.sources.get(&source))
        .map_or(0, |s| s.frames)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_clients_share_one_safety_code_and_decrypt_every_peer() {
    let server = server().await;
    let mut participants = Vec::new();
    for i in 0..5 {
        participants.push(server.join(server.guest(&format!("Peer {i}"))).await);
    }
    let all: Vec<&Participant> = participants.iter().collect();
    let ids: Vec<ParticipantId> = all.iter().map(|p| p.id().clone()).collect();

    // Everyone in the same epoch with all five in its own MLS roster.
    let reports = wait_for(&all, "one epoch with five members", |r| {
        r.mls_roster.len() == 5
    })
    .await;
    let epoch = reports[0].epoch;
    let reports = wait_for(&all, "the same epoch everywhere", |r| r.epoch == epoch).await;
    let code = reports[0].safety_code.clone().unwrap();
    for report in &reports {
        assert_eq!(report.safety_code.as_deref(), Some(code.as_str()));
        let mut roster: Vec<&str> = report
            .mls_roster
            .iter()
            .map(|m| m.participant_id.as_str())
            .collect();
        roster.sort_unstable();
        let mut expected: Vec<&str> = ids.iter().map(ParticipantId::as_str).collect();
        expected.sort_unstable();
        assert_eq!(roster, expected, "{}", summarize(report));
        assert!(report.alerts.is_empty(), "{}", summarize(report));
    }

    // Every peer's audio and video arrives decrypted and byte-exact.
    let before = wait_for(&all, "decrypted media from every peer", |r| {
        ids.iter().filter(|id| **id != r.participant_id).all(|id| {
            [MediaSource::Audio, MediaSource::Video]
                .iter()
                .all(|s| frames(r, id, *s) >= 20)
        })
    })
    .await;
    // Frames of epochs before a receiver joined are refused (a late joiner cannot read
    // them); once everyone is in the last epoch, nothing more may be.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = wait_for(&all, "more media", |_| true).await;
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(new.epoch, epoch, "{}", summarize(new));
        assert_eq!(new.media.peers.len(), 4, "{}", summarize(new));
        assert_eq!(
            new.media.unencrypted_held_back,
            old.media.unencrypted_held_back
        );
        for (peer, p) in &new.media.peers {
            let was = &old.media.peers[peer];
            assert!(
                p.decrypted_frames >= was.decrypted_frames + 100,
                "{peer}: {}",
                summarize(new)
            );
            assert_eq!(
                p.undecryptable_frames,
                was.undecryptable_frames,
                "{peer}: {}",
                summarize(new)
            );
            for stats in p.sources.values() {
                assert_eq!(stats.corrupt, 0, "{}", summarize(new));
            }
        }
        assert!(new.alerts.is_empty(), "{}", summarize(new));
    }
    for p in participants {
        p.leave().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_is_delivered_and_its_franking_verifies_only_untampered() {
    let server = server().await;
    let alice = server.join(server.guest("Alice")).await;
    let bob = server.join(server.guest("Bob")).await;
    wait_for(&[&alice, &bob], "a group of two", |r| {
        r.mls_roster.len() == 2
    })
    .await;
    alice.send_chat("meet at the north gate").await.unwrap();
    let reports = wait_for(&[&bob], "the chat message", |r| !r.chats.is_empty()).await;
    let chat = &reports[0].chats[0];
    assert_eq!(chat.text, "meet at the north gate");
    assert_eq!(chat.sender, alice.id().as_str());

    let http = reqwest::Client::new();
    let verify = |opening: &proto::rest::ChatReportOpening| {
        let request = http
            .post(format!("{}/api/v1/chat/reports/verify", server.base))
            .bearer_auth(&server.token)
            .json(opening);
        async move {
            let response = request.send().await.unwrap();
            assert!(response.status().is_success(), "{}", response.status());
            response.json::<ChatReportVerdict>().await.unwrap()
        }
    };
    let verdict = verify(&chat.opening).await;
    assert!(verdict.verified, "{verdict:?}");
    assert_eq!(
        verdict.sender_account_id.as_deref(),
        Some(format!("guest:{}", alice.id()).as_str())
    );

    let mut tampered = chat.opening.clone();
    tampered.plaintext = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode("meet at the south gate")
    };
    let verdict = verify(&tampered).await;
    assert!(
        !verdict.verified,
        "a tampered opening verified: {verdict:?}"
    );

    let mut reattributed = chat.opening.clone();
    reattributed.sender_account_id = format!("guest:{}", bob.id());
    assert!(!verify(&reattributed).await.verified);

    alice.leave().await.unwrap();
    bob.leave().await.unwrap();
}

/// One client connection of the server double.
struct Conn {
    ws: WebSocketStream<TcpStream>,
    id: ParticipantId,
}

impl Conn {
    /// Accepts a client and seats it: hello, welcome, join, joined.
    async fn accept(listener: &TcpListener, id: ParticipantId, meeting: &MeetingId) -> Conn {
        let (tcp, _) = tokio::time::timeout(WAIT, listener.accept())
            .await
            .unwrap()
            .unwrap();
        let ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        let mut conn = Conn { ws, id };
        assert!(matches!(conn.recv().await, ClientMessage::Hello { .. }));
        conn.send(&ServerMessage::Welcome {
            version: PROTOCOL_VERSION,
            account_id: None,
            display_name: "guest".into(),
        })
        .await;
        assert!(matches!(conn.recv().await, ClientMessage::Join { .. }));
        conn.send(&ServerMessage::Joined {
            meeting_id: meeting.clone(),
            participant_id: conn.id.clone(),
            role: Role::Participant,
            resume_token: "resume".into(),
            roster: Vec::new(),
            locked: false,
        })
        .await;
        conn
    }

    async fn send(&mut self, message: &ServerMessage) {
        let text = serde_json::to_string(message).unwrap();
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    async fn recv(&mut self) -> ClientMessage {
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("the client went quiet")
                .expect("the client hung up")
                .unwrap();
            if let Message::Text(text) = frame {
                return serde_json::from_str(text.as_str()).unwrap();
            }
        }
    }

    /// Reads until `pick` accepts a message, skipping the others (media offers).
    async fn recv_until<T>(&mut self, mut pick: impl FnMut(ClientMessage) -> Option<T>) -> T {
        for _ in 0..100 {
            if let Some(found) = pick(self.recv().await) {
                return found;
            }
        }
        panic!("the expected message never came");
    }
}

/// The double's side of seating two guests by the protocol: Alice creates the group; Bob is
/// announced, proposed, committed by Alice and welcomed.
async fn seat_two(
    listener: &TcpListener,
    meeting: &MeetingId,
    server_key: &ServerSigningKey,
    alice_id: &ParticipantId,
    bob_id: &ParticipantId,
) -> (Conn, Conn, ServerGroupView) {
    // Alice creates the group.
    let mut alice = Conn::accept(listener, alice_id.clone(), meeting).await;
    alice
        .send(&ServerMessage::MlsCreate {
            group_id: meeting.as_str().as_bytes().to_vec().into(),
            server_key: server_key.public().as_bytes().to_vec().into(),
        })
        .await;
    let (info, tree) = alice
        .recv_until(|m| match m {
            ClientMessage::MlsGroup {
                group_info,
                ratchet_tree,
            } => Some((group_info, ratchet_tree)),
            _ => None,
        })
        .await;
    let mut view =
        ServerGroupView::from_bootstrap(info.as_bytes(), tree.as_bytes(), server_key).unwrap();

    // Bob is admitted as the protocol says: announced, proposed, committed, welcomed.
    let mut bob = Conn::accept(listener, bob_id.clone(), meeting).await;
    let key_package = bob
        .recv_until(|m| match m {
            ClientMessage::MlsKeyPackage { key_package } => Some(key_package),
            _ => None,
        })
        .await;
    let key_package = ValidatedKeyPackage::parse(key_package.as_bytes()).unwrap();
    alice
        .send(&ServerMessage::MlsAdmitted {
            participant_id: bob_id.clone(),
            account_id: None,
        })
        .await;
    let proposal = view.propose_add(key_package).unwrap();
    alice
        .send(&ServerMessage::MlsProposal {
            message: proposal.into(),
        })
        .await;
    let (commit, welcome) = alice
        .recv_until(|m| match m {
            ClientMessage::MlsCommit {
                commit, welcome, ..
            } => Some((commit, welcome)),
            _ => None,
        })
        .await;
    let accepted = view
        .submit_commit(commit.as_bytes(), welcome.as_ref().map(|w| w.as_bytes()))
        .unwrap();
    alice
        .send(&ServerMessage::MlsCommitAccepted {
            epoch: accepted.epoch.value(),
        })
        .await;
    let joiners = accepted.joiners.unwrap();
    bob.send(&ServerMessage::MlsWelcome {
        welcome: joiners.welcome.into(),
        ratchet_tree: joiners.ratchet_tree.into(),
        server_key: server_key.public().as_bytes().to_vec().into(),
        admissions: [alice_id, bob_id]
            .into_iter()
            .map(|p| MlsAdmission {
                participant_id: p.clone(),
                account_id: None,
            })
            .collect(),
    })
    .await;

    (alice, bob, view)
}

/// A server that follows the protocol to seat and add two guests, then forges an Add for
/// a participant it never announced with `mls_admitted`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_refuses_an_add_the_server_never_announced() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let meeting = MeetingId::from_random(&[7; 16]);
    let alice_id = ParticipantId::from_random(&[1; 9]);
    let bob_id = ParticipantId::from_random(&[2; 9]);
    let ghost_id = ParticipantId::from_random(&[3; 9]);
    let server_key = ServerSigningKey::generate(&mut rand::thread_rng());

    let double = {
        let meeting = meeting.clone();
        let (alice_id, bob_id, ghost_id) = (alice_id.clone(), bob_id.clone(), ghost_id.clone());
        tokio::spawn(async move {
            let (mut alice, mut bob, mut view) =
                seat_two(&listener, &meeting, &server_key, &alice_id, &bob_id).await;

            // The ghost: a valid KeyPackage and a valid server proposal, never announced.
            let ghost = PendingMember::new(
                MemberIdentity::guest(
                    e2ee::identity::ParticipantId::new(ghost_id.as_str()).unwrap(),
                ),
                &IdentityKeyPair::generate(&mut rand::thread_rng()),
            )
            .unwrap();
            let forged = view
                .propose_add(ValidatedKeyPackage::parse(ghost.key_package()).unwrap())
                .unwrap();
            for conn in [&mut alice, &mut bob] {
                conn.send(&ServerMessage::MlsProposal {
                    message: forged.clone().into(),
                })
                .await;
            }
            // Keep both connections open (and drained) until the clients leave.
            let mut open = [alice, bob];
            for conn in &mut open {
                while let Ok(Some(Ok(frame))) = tokio::time::timeout(WAIT, conn.ws.next()).await {
                    if let Message::Text(text) = frame {
                        if text.as_str().contains("\"leave\"") {
                            break;
                        }
                    }
                }
            }
        })
    };

    let config = |name: &str| {
        let mut config = ParticipantConfig::guest(&base, meeting.clone(), name);
        config.media.publish = Vec::new();
        config
    };
    let alice = Participant::join(config("Alice")).await.unwrap();
    let bob = Participant::join(config("Bob")).await.unwrap();
    let reports = wait_for(&[&alice, &bob], "an alert about the ghost", |r| {
        !r.alerts.is_empty()
    })
    .await;
    for report in &reports {
        assert!(
            report
                .alerts
                .iter()
                .any(|a| a.participant.as_deref() == Some(ghost_id.as_str())),
            "no alert names the ghost: {}",
            summarize(report)
        );
        // Refused means not in the member's own roster: only Alice and Bob are.
        assert_eq!(report.mls_roster.len(), 2, "{}", summarize(report));
        assert!(report
            .mls_roster
            .iter()
            .all(|m| m.participant_id != ghost_id.as_str()));
    }
    alice.leave().await.unwrap();
    bob.leave().await.unwrap();
    tokio::time::timeout(WAIT, double).await.unwrap().unwrap();
}

/// Two members commit the same epoch: the double holds Alice's commit until Bob's (made when
/// his turn came and no commit had arrived) is in too, then orders them as the server does.
/// Alice wins, Bob re-bases on her commit, and all three end in one epoch with one code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_commits_in_one_epoch_one_wins_and_the_other_rebases() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let meeting = MeetingId::from_random(&[8; 16]);
    let ids: Vec<ParticipantId> = (1..=3u8)
        .map(|i| ParticipantId::from_random(&[i; 9]))
        .collect();
    let server_key = ServerSigningKey::generate(&mut rand::thread_rng());

    let double = {
        let (meeting, ids) = (meeting.clone(), ids.clone());
        tokio::spawn(async move {
            let (mut alice, mut bob, mut view) =
                seat_two(&listener, &meeting, &server_key, &ids[0], &ids[1]).await;
            let mut carol = Conn::accept(&listener, ids[2].clone(), &meeting).await;
            let key_package = carol
                .recv_until(|m| match m {
                    ClientMessage::MlsKeyPackage { key_package } => Some(key_package),
                    _ => None,
                })
                .await;
            let proposal = view
                .propose_add(ValidatedKeyPackage::parse(key_package.as_bytes()).unwrap())
                .unwrap();
            for conn in [&mut alice, &mut bob] {
                conn.send(&ServerMessage::MlsAdmitted {
                    participant_id: ids[2].clone(),
                    account_id: None,
                })
                .await;
                conn.send(&ServerMessage::MlsProposal {
                    message: proposal.clone().into(),
                })
                .await;
            }
            let commit_of = |m| match m {
                ClientMessage::MlsCommit {
                    epoch,
                    commit,
                    welcome,
                } => Some((epoch, commit, welcome)),
                _ => None,
            };
            let first = alice.recv_until(commit_of).await;
            let second = bob.recv_until(commit_of).await;
            assert_eq!(first.0, second.0, "both commits start from one epoch");
            let accepted = view
                .submit_commit(first.1.as_bytes(), first.2.as_ref().map(|w| w.as_bytes()))
                .unwrap();
            let refused = view
                .submit_commit(second.1.as_bytes(), second.2.as_ref().map(|w| w.as_bytes()))
                .unwrap_err();
            alice
                .send(&ServerMessage::MlsCommitAccepted {
                    epoch: accepted.epoch.value(),
                })
                .await;
            bob.send(&ServerMessage::MlsCommitRefused {
                reason: refused.to_string(),
                current_epoch: accepted.epoch.value(),
            })
            .await;
            bob.send(&ServerMessage::MlsCommit {
                message: accepted.commit.clone().into(),
            })
            .await;
            let joiners = accepted.joiners.unwrap();
            carol
                .send(&ServerMessage::MlsWelcome {
                    welcome: joiners.welcome.into(),
                    ratchet_tree: joiners.ratchet_tree.into(),
                    server_key: server_key.public().as_bytes().to_vec().into(),
                    admissions: ids
                        .iter()
                        .map(|p| MlsAdmission {
                            participant_id: p.clone(),
                            account_id: None,
                        })
                        .collect(),
                })
                .await;
            let mut open = [alice, bob, carol];
            for conn in &mut open {
                while let Ok(Some(Ok(frame))) = tokio::time::timeout(WAIT, conn.ws.next()).await {
                    if let Message::Text(text) = frame {
                        if text.as_str().contains("\"leave\"") {
                            break;
                        }
                    }
                }
            }
        })
    };

    let config = |name: &str| {
        let mut config = ParticipantConfig::guest(&base, meeting.clone(), name);
        config.media.publish = Vec::new();
        config
    };
    let alice = Participant::join(config("Alice")).await.unwrap();
    let bob = Participant::join(config("Bob")).await.unwrap();
    let carol = Participant::join(config("Carol")).await.unwrap();
    let reports = wait_for(&[&alice, &bob, &carol], "three members everywhere", |r| {
        r.mls_roster.len() == 3
    })
    .await;
    for report in &reports {
        assert_eq!(report.epoch, Some(2), "{}", summarize(report));
        assert_eq!(report.safety_code, reports[0].safety_code);
        assert!(report.alerts.is_empty(), "{}", summarize(report));
    }
    for p in [alice, bob, carol] {
        p.leave().await.unwrap();
    }
    tokio::time::timeout(WAIT, double).await.unwrap().unwrap();
}

const PASSWORD: &str = "correct horse battery staple";

/// Registers an account, logs its identity key (from `seed`) in the key directory, and
/// gives a session token.
async fn account_with_key(server: &Server, username: &str, seed: u8) -> String {
    let api = Api::new(&server.base);
    api.register(username, PASSWORD).await.unwrap();
    let token = api.login(username, PASSWORD).await.unwrap().token;
    register_key(server, &token, seed).await;
    token
}

/// Logs the identity key made from `seed` for the token's account.
async fn register_key(server: &Server, token: &str, seed: u8) {
    let http = reqwest::Client::new();
    let me: proto::rest::Account = http
        .get(format!("{}/api/v1/accounts/me", server.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = SigningKey::from_bytes(&[seed; 32]);
    let public = key.verifying_key().to_bytes();
    let mut signed = server::api::accounts::IDENTITY_KEY_CONTEXT.to_vec();
    signed.extend_from_slice(me.id.as_str().as_bytes());
    signed.push(b'\n');
    signed.extend_from_slice(&public);
    let b64 = base64::engine::general_purpose::STANDARD;
    let response = http
        .put(format!("{}/api/v1/accounts/me/identity-key", server.base))
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

fn with_account(server: &Server, token: String, seed: u8) -> ParticipantConfig {
    let mut config = server.guest("account");
    config.identity = Identity::Token(token);
    config.identity_key = Some(Arc::new(IdentityKeyPair::from_secret([seed; 32])));
    config.media.publish = vec![MediaSource::Audio];
    config
}

/// Account members' keys are looked up in the transparency log's key directory and checked
/// against a checkpoint signed with the pinned log key: the registered key is accepted, and
/// a member whose credential carries another key is refused with an alert naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_keys_are_checked_against_the_key_directory() {
    let server = server().await;
    let ada = account_with_key(&server, "ada", 1).await;
    let bob = account_with_key(&server, "bob", 2).await;
    let mallory = account_with_key(&server, "mallory", 3).await;
    let ada = server.join(with_account(&server, ada, 1)).await;
    let bob = server.join(with_account(&server, bob, 2)).await;
    let reports = wait_for(&[&ada, &bob], "two account members", |r| {
        r.mls_roster.len() == 2
    })
    .await;
    for report in &reports {
        assert!(report.alerts.is_empty(), "{}", summarize(report));
        assert!(report.mls_roster.iter().all(|m| m.account_id.is_some()));
        assert_eq!(report.safety_code, reports[0].safety_code);
    }

    // Mallory's account is real, but her credential carries a key the log never saw.
    let mallory = server.join(with_account(&server, mallory, 4)).await;
    let reports = wait_for(&[&ada, &bob], "an alert about mallory", |r| {
        !r.alerts.is_empty()
    })
    .await;
    for report in &reports {
        assert!(
            report
                .alerts
                .iter()
                .any(|a| a.participant.as_deref() == Some(mallory.id().as_str())
                    && a.what.contains("not the account's registered key")),
            "{}",
            summarize(report)
        );
        assert!(report
            .mls_roster
            .iter()
            .all(|m| m.participant_id != mallory.id().as_str()));
    }
    for p in [ada, bob, mallory] {
        p.leave().await.unwrap();
    }
}

/// A member that leaves is removed by the server's proposal and the others' commit: the
/// rest move to a new epoch whose roster and safety code agree, and keep decrypting each
/// other's media under the new keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_leaves_is_removed_and_the_rest_rekey() {
    let server = server().await;
    let alice = server.join(server.guest("Alice")).await;
    let bob = server.join(server.guest("Bob")).await;
    let carol = server.join(server.guest("Carol")).await;
    let reports = wait_for(&[&alice, &bob, &carol], "three members", |r| {
        r.mls_roster.len() == 3
    })
    .await;
    let before = reports.iter().filter_map(|r| r.epoch).max().unwrap();
    let carol_id = carol.id().clone();
    carol.leave().await.unwrap();
    let reports = wait_for(&[&alice, &bob], "a new epoch without carol", |r| {
        r.mls_roster.len() == 2 && r.epoch > Some(before)
    })
    .await;
    assert_eq!(reports[0].epoch, reports[1].epoch);
    assert_eq!(reports[0].safety_code, reports[1].safety_code);
    for report in &reports {
        assert!(report
            .mls_roster
            .iter()
            .all(|m| m.participant_id != carol_id.as_str()));
        assert!(report.alerts.is_empty(), "{}", summarize(report));
    }
    // Frames of the old epoch may still be in flight; after that, nothing is refused.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let settled = wait_for(&[&alice, &bob], "settled", |_| true).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let later = wait_for(&[&alice, &bob], "more media", |_| true).await;
    for (old, new) in settled.iter().zip(&later) {
        let peer = if new.participant_id == *alice.id() {
            bob.id()
        } else {
            alice.id()
        };
        let (was, is) = (&old.media.peers[peer], &new.media.peers[peer]);
        assert!(
            is.decrypted_frames >= was.decrypted_frames + 50,
            "{}",
            summarize(new)
        );
        assert_eq!(
            is.undecryptable_frames,
            was.undecryptable_frames,
            "{}",
            summarize(new)
        );
    }
    alice.leave().await.unwrap();
    bob.leave().await.unwrap();
}

/// A removed participant cannot decrypt frames of the epoch after its removal once the 10 s
/// grace has run: frames the remaining members exchanged after the removal, captured at one
/// of them as they arrived, are handed to the removed participant's MLS state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_participant_cannot_decrypt_the_next_epoch() {
    let server = server().await;
    register_key(&server, &server.token, 9).await;
    let host = server
        .join(with_account(&server, server.token.clone(), 9))
        .await;
    let mut config = server.guest("Witness");
    config.media.capture_frames = 64;
    let witness = server.join(config).await;
    let removed = server.join(server.guest("Removed")).await;
    let reports = wait_for(&[&host, &witness, &removed], "three members", |r| {
        r.mls_roster.len() == 3
    })
    .await;
    let before = reports.iter().filter_map(|r| r.epoch).max().unwrap();

    host.signal(ClientMessage::Remove {
        participant_id: removed.id().clone(),
        reason: None,
    })
    .await
    .unwrap();
    let host_id = host.id().clone();
    wait_for(&[&host, &witness], "the epoch after the removal", |r| {
        r.mls_roster.len() == 2 && r.epoch > Some(before)
    })
    .await;
    // The grace of the removed member's last epoch runs out; meanwhile the witness keeps
    // the newest frames it received, all of the epoch after the removal.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let witness_report = witness.report().await.unwrap();
    let captured: Vec<Vec<u8>> = witness_report.media.captured.iter().cloned().collect();
    assert!(captured.len() >= 32, "{}", summarize(&witness_report));
    let from_host = witness_report.media.peers[&host_id].decrypted_frames;
    assert!(from_host > 0);

    // The same frames decrypt for a member of the new epoch: what the removed one lacks
    // is the key, not well-formed frames.
    member_decrypts_and_outsider_cannot(&host, &removed, captured, "the removed participant").await;
    for p in [host, witness, removed] {
        p.leave().await.unwrap();
    }
}

/// Every captured frame decrypts for `member` (they are well-formed) and none for
/// `outsider` (it lacks the key).
async fn member_decrypts_and_outsider_cannot(
    member: &Participant,
    outsider: &Participant,
    captured: Vec<Vec<u8>>,
    who: &str,
) {
    let control = member.decrypt_frames(captured.clone()).await.unwrap();
    assert!(control.iter().all(Result::is_ok), "{control:?}");
    let results = outsider.decrypt_frames(captured).await.unwrap();
    assert!(
        results.iter().all(Result::is_err),
        "{who} decrypted {} of {} frames",
        results.iter().filter(|r| r.is_ok()).count(),
        results.len()
    );
}

/// A late joiner cannot decrypt frames sent before its epoch: frames captured at a member
/// before the join are handed to the joiner's MLS state, while their sender (still within
/// the old epoch's grace) decrypts them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_joiner_cannot_decrypt_frames_from_before_its_epoch() {
    let server = server().await;
    let sender = server.join(server.guest("Sender")).await;
    let mut config = server.guest("Witness");
    config.media.capture_frames = 64;
    let witness = server.join(config).await;
    let sender_id = sender.id().clone();
    let reports = wait_for(&[&witness], "frames to capture", |r| {
        r.mls_roster.len() == 2
            && r.media.captured.len() == 64
            && r.media
                .peers
                .get(&sender_id)
                .is_some_and(|p| p.decrypted_frames > 100)
    })
    .await;
    let captured: Vec<Vec<u8>> = reports[0].media.captured.iter().cloned().collect();

    let late = server.join(server.guest("Late")).await;
    wait_for(&[&sender, &witness, &late], "three members", |r| {
        r.mls_roster.len() == 3
    })
    .await;
    member_decrypts_and_outsider_cannot(&sender, &late, captured, "the late joiner").await;
    for p in [sender, witness, late] {
        p.leave().await.unwrap();
    }
}

/// `conclave bot --print-safety-code` shows the code the other member shows, and per peer
/// how many frames decrypted, were undecryptable and whether the media was intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_prints_the_safety_code_and_decryption_per_peer() {
    let server = server().await;
    let peer = server.join(server.guest("Peer")).await;
    let meeting = server.meeting.to_string();
    let mut bot = common::conclave(
        [
            "bot",
            "--server",
            &server.base,
            "--meeting",
            &meeting,
            "--name",
            "Checker",
            "--duration",
            "4",
            "--expect-peers",
            "1",
            "--print-safety-code",
            "--chat",
            "hello from the bot",
        ],
        &[],
    );
    // Chat both ways: the peer writes once the bot is in its group.
    wait_for(&[&peer], "the bot in the peer's group", |r| {
        r.mls_roster.len() == 2
    })
    .await;
    peer.send_chat("hello, bot").await.unwrap();
    let status = bot.exit_within(Duration::from_secs(60)).await;
    let (stdout, stderr) = (bot.stdout(), bot.stderr());
    assert!(status.success(), "bot failed: {stdout}\n{stderr}");
    let code = stdout
        .lines()
        .find_map(|l| l.strip_prefix("safety code (epoch "))
        .unwrap_or_else(|| panic!("no safety code: {stdout}"));
    let (epoch, code) = code.split_once("): ").unwrap();
    // The bot left, which moved the peer one epoch on; its history has the bot's epoch.
    let report = peer.report().await.unwrap();
    let epoch: u64 = epoch.parse().unwrap();
    assert!(
        report.epochs.iter().any(|(e, c)| *e == epoch && c == code),
        "bot {epoch} {code}, peer {:?}",
        report.epochs
    );
    let line = stdout
        .lines()
        .find(|l| l.contains("\"Peer\"") && l.contains("frames decrypted"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        line.contains("0 undecryptable") || line.contains("intact: yes"),
        "{line}"
    );
    assert!(line.contains("intact: yes"), "{line}");
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("chat from") && l.ends_with("\"hello, bot\"")),
        "{stdout}"
    );
    let report = peer.report().await.unwrap();
    assert!(
        report.chats.iter().any(|c| c.text == "hello from the bot"),
        "{:?}",
        report.chats.iter().map(|c| &c.text).collect::<Vec<_>>()
    );
    peer.leave().await.unwrap();
}

/// `conclave bot --log-key` pins the transparency log's key up front: with the server's real
/// key an account member's identity key verifies; with another key under the same origin it
/// cannot, the bot raises an alert naming that member and exits non-zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_checks_members_against_the_log_key_it_was_given() {
    let server = server().await;
    let ada = account_with_key(&server, "ada", 1).await;
    let ada = server.join(with_account(&server, ada, 1)).await;
    let real: proto::ledger::LedgerKey = reqwest::get(format!("{}/api/v1/ledger/key", server.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let other = ledger::NoteVerifier::new(
        &real.origin,
        SigningKey::from_bytes(&[9; 32]).verifying_key(),
    )
    .unwrap()
    .to_string();
    let meeting = server.meeting.to_string();
    for (key, should_pass) in [(real.verifier_key.clone(), true), (other, false)] {
        let mut bot = common::conclave(
            [
                "bot",
                "--server",
                &server.base,
                "--meeting",
                &meeting,
                // Only the key check decides here, not how the media fared.
                "--duration",
                "6",
                "--expect-peers",
                "0",
                "--log-key",
                &key,
            ],
            &[],
        );
        let status = bot.exit_within(Duration::from_secs(60)).await;
        let (stdout, stderr) = (bot.stdout(), bot.stderr());
        assert_eq!(status.success(), should_pass, "{stdout}\n{stderr}");
        if !should_pass {
            assert!(
                format!("{stdout}{stderr}").contains(ada.id().as_str()),
                "the alert does not name the member: {stdout}\n{stderr}"
            );
        }
    }
    ada.leave().await.unwrap();
}

/// The server never holds a media or chat plaintext: every frame the native client makes
/// carries `PLAINTEXT_MARKER` before SFrame encrypts it, and every chat message here holds
/// it too; the test taps built into the test server only (`sfu::tap` on every payload the
/// SFU handles, `server::tap` on every chat message relayed) search for it. Thousands of
/// payloads and every chat pass through them from three members; none holds the marker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_never_holds_a_plaintext_frame_or_chat_message() {
    let marker: String = client::media::payload::PLAINTEXT_MARKER
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let server = server_with_env(&[("CONCLAVE_SFU_TAP_MARKER", &marker)]).await;
    let members = [
        server.join(server.guest("Ann")).await,
        server.join(server.guest("Ben")).await,
        server.join(server.guest("Cat")).await,
    ];
    let all: Vec<&Participant> = members.iter().collect();
    // Enough media that the SFU tap reports at least once (it reports every 1000 payloads,
    // and the count of payloads by a number of decrypted frames depends on how fast media starts).
    wait_for(&all, "everyone decrypting everyone", |r| {
        r.media.peers.len() == 2 && r.media.peers.values().all(|p| p.decrypted_frames > 600)
    })
    .await;
    let marker_text = std::str::from_utf8(client::media::payload::PLAINTEXT_MARKER).unwrap();
    for (n, member) in members.iter().enumerate() {
        member
            .send_chat(&format!("{marker_text} from member {n}"))
            .await
            .unwrap();
    }
    wait_for(&all, "every chat message at every member", |r| {
        r.chats
            .iter()
            .filter(|c| c.text.starts_with(marker_text))
            .count()
            == 2
    })
    .await;
    for p in members {
        p.leave().await.unwrap();
    }
    let stderr = server.child.stderr();
    let chats: u64 = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("server chat tap: "))
        .filter_map(|l| l.split_once(" payloads seen, 0 with the marker"))
        .filter_map(|(n, _)| n.parse().ok())
        .max()
        .unwrap_or(0);
    assert_eq!(chats, 3, "the chat tap saw {chats} messages: {stderr}");
    assert!(
        stderr.contains("sfu tap: armed"),
        "the tap is not in this build: {stderr}"
    );
    let seen: u64 = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("sfu tap: "))
        .filter_map(|l| l.split_once(" payloads seen, 0 with the marker"))
        .filter_map(|(n, _)| n.parse().ok())
        .max()
        .unwrap_or(0);
    assert!(seen >= 1000, "the tap saw too little: {stderr}");
    assert!(
        !stderr.contains("plaintext marker seen"),
        "a plaintext frame reached the SFU: {stderr}"
    );
}
