//! A small client for the REST API.

use proto::ids::MeetingId;
use proto::rest::{Account, ErrorBody, Meeting, NewAccount, NewMeeting, NewSession, Session};
use serde::de::DeserializeOwned;

use crate::ClientError;

/// REST client for one server (`http://host:port`).
#[derive(Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: &str) -> Api {
        Api {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
        }
    }

    /// The signaling URL of this server.
    pub fn ws_url(&self) -> String {
        format!("{}/api/v1/ws", self.base.replacen("http://", "ws://", 1))
    }

    /// Registers an account.
    pub async fn register(&self, username: &str, password: &str) -> Result<Account, ClientError> {
        self.create_account(username, password, None).await
    }

    /// Creates an account whose holder declares the country they live in (ISO 3166-1
    /// alpha-2), which decides which oversight staff may act on it.
    pub async fn register_in(
        &self,
        username: &str,
        password: &str,
        region: &str,
    ) -> Result<Account, ClientError> {
        self.create_account(username, password, Some(region)).await
    }

    async fn create_account(
        &self,
        username: &str,
        password: &str,
        region: Option<&str>,
    ) -> Result<Account, ClientError> {
        let body = NewAccount {
            username: username.into(),
            password: password.into(),
            region: region.map(str::to_owned),
        };
        let response = self
            .http
            .post(format!("{}/api/v1/accounts", self.base))
            .json(&body)
            .send()
            .await?;
        answer("registration", response).await
    }

    /// Logs in.
    pub async fn login(&self, username: &str, password: &str) -> Result<Session, ClientError> {
        let body = NewSession {
            username: username.into(),
            password: password.into(),
        };
        let response = self
            .http
            .post(format!("{}/api/v1/sessions", self.base))
            .json(&body)
            .send()
            .await?;
        answer("login", response).await
    }

    /// Creates a meeting hosted by the token's account.
    pub async fn create_meeting(
        &self,
        token: &str,
        settings: &NewMeeting,
    ) -> Result<Meeting, ClientError> {
        let response = self
            .http
            .post(format!("{}/api/v1/meetings", self.base))
            .bearer_auth(token)
            .json(settings)
            .send()
            .await?;
        answer("meeting creation", response).await
    }

    /// Reads a meeting's public settings.
    pub async fn meeting(&self, id: &MeetingId) -> Result<Meeting, ClientError> {
        let response = self
            .http
            .get(format!("{}/api/v1/meetings/{id}", self.base))
            .send()
            .await?;
        answer("meeting lookup", response).await
    }
}

async fn answer<T: DeserializeOwned>(
    what: &'static str,
    response: reqwest::Response,
) -> Result<T, ClientError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response.json().await?);
    }
    let body: ErrorBody = response.json().await.unwrap_or(ErrorBody {
        error: "unknown".into(),
        message: "no error body".into(),
    });
    Err(ClientError::Refused {
        what,
        status: status.as_u16(),
        code: body.error,
        message: body.message,
    })
}
