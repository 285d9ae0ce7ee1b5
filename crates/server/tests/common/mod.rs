//! A real server on 127.0.0.1:0 with a fresh SQLite directory, and helpers
//! that speak to it over real HTTP and WebSocket connections.
#![allow(dead_code)] // each test binary uses a different subset

use std::time::Duration;

use client::{Api, Signaling};
use proto::ids::{MeetingId, ParticipantId};
use proto::rest::NewMeeting;
use proto::signaling::{ClientMessage, LobbyEntry, Participant, Role, ServerMessage};
use server::rate_limit::Quota;
use server::{Database, Limits, Server, ServerConfig};
use tokio::sync::oneshot;

pub const PASSWORD: &str = "correct horse battery";

pub struct TestServer {
    pub base: String,
    pub api: Api,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), server::StartError>>>,
    _dir: tempfile::TempDir,
}

pub fn generous_limits() -> Limits {
    Limits {
        auth_per_address: Quota {
            burst: 10_000,
            per_minute: 10_000,
        },
        ..Limits::default()
    }
}

pub async fn start() -> TestServer {
    start_with(generous_limits()).await
}

pub async fn start_with(limits: Limits) -> TestServer {
    start_configured(limits, None).await
}

/// A server with an oversight genesis.
pub async fn start_with_oversight(oversight: oversight::OversightConfig) -> TestServer {
    start_configured(generous_limits(), Some(oversight)).await
}

async fn start_configured(
    limits: Limits,
    oversight: Option<oversight::OversightConfig>,
) -> TestServer {
    start_in(tempfile::tempdir().unwrap(), limits, oversight).await
}

/// A server on the data directory of one stopped with [`TestServer::stop_keeping_data`].
pub async fn start_again(
    dir: tempfile::TempDir,
    oversight: oversight::OversightConfig,
) -> TestServer {
    start_in(dir, generous_limits(), Some(oversight)).await
}

async fn start_in(
    dir: tempfile::TempDir,
    limits: Limits,
    oversight: Option<oversight::OversightConfig>,
) -> TestServer {
    let config = ServerConfig {
        http: "127.0.0.1:0".parse().unwrap(),
        media: "127.0.0.1:0".parse().unwrap(),
        database: Database::SqliteDir(dir.path().to_owned()),
        limits,
        ledger: Default::default(),
        drain_timeout: Duration::from_secs(2),
        oversight,
    };
    let server = Server::bind(config).await.unwrap();
    let base = format!("http://{}", server.http_addr());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    TestServer {
        api: Api::new(&base),
        base,
        http: reqwest::Client::new(),
        stop: Some(stop),
        task: Some(task),
        _dir: dir,
    }
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn ws(&self) -> Signaling {
        Signaling::connect(&self.api.ws_url()).await.unwrap()
    }

    /// Registers and logs in; returns the token.
    pub async fn account(&self, username: &str) -> String {
        self.api.register(username, PASSWORD).await.unwrap();
        self.api.login(username, PASSWORD).await.unwrap().token
    }

    /// Registers and logs in; returns the token and the account id.
    pub async fn account_with_id(&self, username: &str) -> (String, proto::ids::AccountId) {
        let account = self.api.register(username, PASSWORD).await.unwrap();
        let token = self.api.login(username, PASSWORD).await.unwrap().token;
        (token, account.id)
    }

    pub async fn meeting(&self, token: &str, settings: NewMeeting) -> MeetingId {
        self.api.create_meeting(token, &settings).await.unwrap().id
    }

    /// A signed-in participant that joins and expects a seat.
    pub async fn seated(&self, token: &str, meeting: &MeetingId) -> (Signaling, Joined) {
        let mut ws = self.ws().await;
        ws.hello_token(token).await.unwrap();
        join(&mut ws, meeting).await;
        let joined = expect_joined(&mut ws).await;
        (ws, joined)
    }

    /// A guest that joins a meeting without a lobby and expects a seat.
    pub async fn seated_guest(&self, name: &str, meeting: &MeetingId) -> (Signaling, Joined) {
        let mut ws = self.ws().await;
        ws.hello_guest(name).await.unwrap();
        join(&mut ws, meeting).await;
        let joined = expect_joined(&mut ws).await;
        (ws, joined)
    }

    /// A guest that joins and expects to wait in the lobby.
    pub async fn waiting_guest(
        &self,
        name: &str,
        meeting: &MeetingId,
    ) -> (Signaling, ParticipantId) {
        let mut ws = self.ws().await;
        ws.hello_guest(name).await.unwrap();
        join(&mut ws, meeting).await;
        let id = expect_waiting(&mut ws).await;
        (ws, id)
    }

    pub async fn stop(self) {
        drop(self.stop_keeping_data().await);
    }

    /// Stops the server and hands over its data directory, for a restart.
    pub async fn stop_keeping_data(mut self) -> tempfile::TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        self._dir
    }
}

pub struct Joined {
    pub participant_id: ParticipantId,
    pub role: Role,
    pub resume_token: String,
    pub roster: Vec<Participant>,
}

pub async fn join(ws: &mut Signaling, meeting: &MeetingId) {
    ws.send(&ClientMessage::Join {
        meeting_id: meeting.clone(),
        passcode: None,
    })
    .await
    .unwrap();
}

/// Waits for `waiting` and returns the lobby id.
pub async fn expect_waiting(ws: &mut Signaling) -> ParticipantId {
    ws.recv_until("waiting", |m| match m {
        ServerMessage::Waiting { participant_id, .. } => Some(participant_id.clone()),
        _ => None,
    })
    .await
    .unwrap()
}

pub async fn expect_joined(ws: &mut Signaling) -> Joined {
    ws.recv_until("joined", |m| match m {
        ServerMessage::Joined {
            participant_id,
            role,
            resume_token,
            roster,
            ..
        } => Some(Joined {
            participant_id: participant_id.clone(),
            role: *role,
            resume_token: resume_token.clone(),
            roster: roster.clone(),
        }),
        _ => None,
    })
    .await
    .unwrap()
}

/// Waits for a lobby update that lists `who`.
pub async fn lobby_lists(ws: &mut Signaling, who: &ParticipantId) -> LobbyEntry {
    ws.recv_until("lobby_updated listing the waiter", |m| match m {
        ServerMessage::LobbyUpdated { waiting } => waiting.iter().find(|e| &e.id == who).cloned(),
        _ => None,
    })
    .await
    .unwrap()
}

/// Waits for an error message and returns its code as text.
pub async fn error_code(ws: &mut Signaling) -> String {
    ws.recv_until("error", |m| match m {
        ServerMessage::Error { code, .. } => Some(
            serde_json::to_value(code)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned(),
        ),
        _ => None,
    })
    .await
    .unwrap()
}
