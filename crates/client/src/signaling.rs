//! A signaling WebSocket connection speaking `proto::signaling`.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use proto::signaling::{ClientMessage, HelloAuth, ServerMessage, PROTOCOL_VERSION};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::ClientError;

/// How long [`Signaling::recv`] waits by default.
const RECV_TIMEOUT: Duration = Duration::from_secs(10);
/// How many messages [`Signaling::recv_until`] skips at most.
const MAX_SKIPPED: usize = 10_000;

/// One signaling connection.
pub struct Signaling {
    ws: WebSocketStream<TcpStream>,
}

impl Signaling {
    /// Connects to a `ws://host:port/api/v1/ws` URL.
    pub async fn connect(url: &str) -> Result<Signaling, ClientError> {
        let addr = socket_addr(url)?;
        let stream = TcpStream::connect(addr).await?;
        Self::handshake(url, stream).await
    }

    /// Connects from a chosen local address (e.g. a distinctive 127.x.y.z,
    /// so a test can search the server's files and logs for it).
    pub async fn connect_from(url: &str, local: IpAddr) -> Result<Signaling, ClientError> {
        let addr = socket_addr(url)?;
        let socket = if local.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.bind(SocketAddr::new(local, 0))?;
        let stream = socket.connect(addr).await?;
        Self::handshake(url, stream).await
    }

    async fn handshake(url: &str, stream: TcpStream) -> Result<Signaling, ClientError> {
        stream.set_nodelay(true)?;
        let (ws, _) = tokio_tungstenite::client_async(url, stream).await?;
        Ok(Signaling { ws })
    }

    /// The local address of the TCP connection.
    pub fn local_addr(&self) -> Result<SocketAddr, ClientError> {
        Ok(self.ws.get_ref().local_addr()?)
    }

    /// Sends a message.
    pub async fn send(&mut self, message: &ClientMessage) -> Result<(), ClientError> {
        let text =
            serde_json::to_string(message).map_err(|e| ClientError::Invalid(e.to_string()))?;
        self.send_text(text).await
    }

    /// Sends raw text (tests use it for malformed input).
    pub async fn send_text(&mut self, text: String) -> Result<(), ClientError> {
        self.ws.send(Message::Text(text.into())).await?;
        Ok(())
    }

    /// Sends a raw frame.
    pub async fn send_frame(&mut self, frame: Message) -> Result<(), ClientError> {
        self.ws.send(frame).await?;
        Ok(())
    }

    /// The next server message (10 s at most).
    pub async fn recv(&mut self) -> Result<ServerMessage, ClientError> {
        self.recv_within(RECV_TIMEOUT).await
    }

    /// The next server message, waiting at most `limit`.
    pub async fn recv_within(&mut self, limit: Duration) -> Result<ServerMessage, ClientError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .map_err(|_| ClientError::Timeout("a server message"))?;
            match frame {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(text.as_str())
                        .map_err(|e| ClientError::Invalid(format!("{e}: {}", text.as_str())));
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame.map_or((1005, String::new()), |f| {
                        (u16::from(f.code), f.reason.as_str().to_owned())
                    });
                    return Err(ClientError::Closed { code, reason });
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.into()),
                None => {
                    return Err(ClientError::Closed {
                        code: 1006,
                        reason: "connection dropped".into(),
                    })
                }
            }
        }
    }

    /// Reads messages until `pick` accepts one (10 s, 10,000 messages at most).
    pub async fn recv_until<T>(
        &mut self,
        what: &'static str,
        mut pick: impl FnMut(&ServerMessage) -> Option<T>,
    ) -> Result<T, ClientError> {
        let deadline = tokio::time::Instant::now() + RECV_TIMEOUT;
        for _ in 0..MAX_SKIPPED {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let message = self.recv_within(left).await.map_err(|e| match e {
                ClientError::Timeout(_) => ClientError::Timeout(what),
                other => other,
            })?;
            if let Some(found) = pick(&message) {
                return Ok(found);
            }
        }
        Err(ClientError::Timeout(what))
    }

    /// Says hello as a guest and waits for `welcome`.
    pub async fn hello_guest(&mut self, display_name: &str) -> Result<ServerMessage, ClientError> {
        self.hello(HelloAuth::Guest {
            display_name: display_name.into(),
        })
        .await
    }

    /// Says hello with a session token and waits for `welcome`.
    pub async fn hello_token(&mut self, token: &str) -> Result<ServerMessage, ClientError> {
        self.hello(HelloAuth::Token {
            token: token.into(),
        })
        .await
    }

    async fn hello(&mut self, auth: HelloAuth) -> Result<ServerMessage, ClientError> {
        self.send(&ClientMessage::Hello {
            version: PROTOCOL_VERSION,
            auth,
        })
        .await?;
        let reply = self.recv().await?;
        match reply {
            ServerMessage::Welcome { .. } => Ok(reply),
            other => Err(ClientError::Invalid(format!(
                "expected welcome, got {other:?}"
            ))),
        }
    }

    /// Closes the connection politely.
    pub async fn close(mut self) -> Result<(), ClientError> {
        self.ws.close(None).await?;
        Ok(())
    }
}

fn socket_addr(url: &str) -> Result<SocketAddr, ClientError> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| ClientError::Url(url.to_owned()))?;
    let authority = rest.split('/').next().unwrap_or_default();
    authority
        .parse()
        .map_err(|_| ClientError::Url(url.to_owned()))
}
