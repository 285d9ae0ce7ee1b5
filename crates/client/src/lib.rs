//! The native Conclave participant: signaling, str0m media and `e2ee`.
//!
//! - [`Api`] and [`Signaling`]: the REST endpoints and the WebSocket protocol;
//! - [`media`]: str0m in RTP mode with synthetic Opus and VP9 SVC, verified byte for byte,
//!   every frame SFrame-encrypted ([`media::cipher`]);
//! - [`membership`]: the MLS driver (sans-IO) that joins the meeting's group, commits,
//!   refuses ghosts, keys SFrame and carries franked chat; [`keydir`] verifies account
//!   keys against the transparency log;
//! - [`Participant`]: the tokio shell that runs them all for tests, `conclave bot` and
//!   `conclave bench`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), client::ClientError> {
//! use proto::signaling::{ClientMessage, ServerMessage};
//! let mut ws = client::Signaling::connect("ws://127.0.0.1:8080/api/v1/ws").await?;
//! ws.hello_guest("Ada").await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod api;
pub mod keydir;
pub mod media;
pub mod membership;
pub mod order;
mod participant;
mod signaling;

pub use api::Api;
pub use participant::{Identity, Participant, ParticipantConfig, ParticipantReport};
pub use signaling::Signaling;

/// What went wrong talking to a server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The HTTP request failed to complete.
    #[error("HTTP request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The server answered with an error body.
    #[error("server refused {what}: {status} {code}: {message}")]
    Refused {
        /// What was attempted.
        what: &'static str,
        /// HTTP status.
        status: u16,
        /// The error code from the body.
        code: String,
        /// The message from the body.
        message: String,
    },
    /// The WebSocket failed (boxed: the error type is large).
    #[error("WebSocket failed: {0}")]
    WebSocket(Box<tokio_tungstenite::tungstenite::Error>),
    /// Could not open a TCP connection.
    #[error("cannot connect: {0}")]
    Connect(#[from] std::io::Error),
    /// The server closed the WebSocket.
    #[error("the server closed the connection ({code}: {reason})")]
    Closed {
        /// Close code (1005 when none was given).
        code: u16,
        /// Close reason.
        reason: String,
    },
    /// The server sent something that is not a valid message.
    #[error("the server sent an invalid message: {0}")]
    Invalid(String),
    /// Nothing arrived in time.
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// A bad URL.
    #[error("invalid URL {0:?}")]
    Url(String),
}

impl From<tokio_tungstenite::tungstenite::Error> for ClientError {
    fn from(e: tokio_tungstenite::tungstenite::Error) -> Self {
        ClientError::WebSocket(Box::new(e))
    }
}
