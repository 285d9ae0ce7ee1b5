//! The Conclave server: HTTP API, WebSocket signaling, accounts, meetings and
//! the lobby, on top of [`storage`].
//!
//! Layout: [`room`] is the sans-IO core of a live meeting; [`meetings`] runs
//! one task per live room; [`ws`] runs one task per signaling connection;
//! [`api`] holds the REST handlers, whose annotations generate the OpenAPI
//! document. [`Server`] binds the ports and runs everything until shutdown.
//!
//! Invariants:
//! - no client address is written to storage or to a log: addresses exist
//!   only in the per-address rate limiter's memory and in the sockets;
//! - every message from outside is size-limited and parsed into a `proto`
//!   type before any logic sees it, and malformed input gets an error answer,
//!   never a panic;
//! - a room is owned by one task; nothing else mutates it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), server::StartError> {
//! let config = server::ServerConfig::default();
//! let server = server::Server::bind(config).await?;
//! println!("listening on http://{}", server.http_addr());
//! server.run(std::future::pending()).await
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod api;
pub mod auth;
pub mod avatar;
pub mod franking;
pub mod ledger;
pub mod meetings;
pub mod metrics;
pub mod mls;
pub mod oversight;
pub mod rate_limit;
pub mod room;
pub mod state;
#[cfg(feature = "tap")]
pub mod tap;
pub mod web;
pub mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;

pub use crate::ledger::LedgerSettings;
pub use state::Limits;

/// Where durable state lives.
#[derive(Debug, Clone)]
pub enum Database {
    /// Embedded SQLite in this directory (created if missing).
    SqliteDir(PathBuf),
    /// A `sqlite://` or `postgres://` URL.
    Url(String),
}

/// Everything a server needs to start.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// HTTP and WebSocket listen address.
    pub http: SocketAddr,
    /// Media UDP address of the SFU. It is also the ICE candidate clients
    /// are given, so it must be the address they reach (if it is unspecified,
    /// 0.0.0.0 or ::, the loopback address with the same port is announced).
    pub media: SocketAddr,
    /// Storage.
    pub database: Database,
    /// Tunables.
    pub limits: Limits,
    /// The transparency log's name and key.
    pub ledger: LedgerSettings,
    /// How long to wait for connections to close on shutdown.
    pub drain_timeout: Duration,
    /// The oversight genesis (staff and policy), written to the ledger on
    /// first start; `None` runs without a staff API unless the ledger
    /// already holds one.
    pub oversight: Option<::oversight::OversightConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            http: SocketAddr::from(([127, 0, 0, 1], 8080)),
            media: SocketAddr::from(([127, 0, 0, 1], 10000)),
            database: Database::SqliteDir(PathBuf::from("./conclave-data")),
            limits: Limits::default(),
            ledger: LedgerSettings::default(),
            drain_timeout: Duration::from_secs(10),
            oversight: None,
        }
    }
}

/// Why the server could not start or stopped with an error. Each message is
/// one line that says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The data directory cannot be created or written.
    #[error("data directory {path} is not usable ({source}); create it with write permission or choose another with --data-dir")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The HTTP port cannot be bound.
    #[error("cannot listen for HTTP on {addr} ({source}); stop whatever uses it or choose another address with --http")]
    HttpPort {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The media port cannot be bound.
    #[error("cannot open the media UDP port {addr} ({source}); stop whatever uses it or choose another address with --media")]
    MediaPort {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The database cannot be opened or migrated.
    #[error("cannot open the database ({0}); check --database-url or --data-dir")]
    Database(#[from] storage::StoreError),
    /// The transparency log cannot start.
    #[error("cannot start the transparency log ({0})")]
    Ledger(#[from] crate::ledger::LedgerStartError),
    /// The chat franking key cannot be loaded or created.
    #[error("cannot load the chat franking key ({0})")]
    Franking(#[from] crate::franking::FrankingKeyError),
    /// Oversight cannot start.
    #[error("cannot start oversight ({0})")]
    Oversight(#[from] crate::oversight::OversightStartError),
    /// Serving failed.
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
    /// The media router could not start.
    #[error("cannot start the media router ({0})")]
    Media(#[from] sfu::RouterError),
}

/// A bound, ready-to-run server.
pub struct Server {
    listener: TcpListener,
    media_addr: SocketAddr,
    media: sfu::Service,
    state: state::AppState,
    router: axum::Router,
    shutdown: watch::Sender<bool>,
    drain_timeout: Duration,
}

impl Server {
    /// Opens storage and binds the ports; fails with a clear error if any is unusable.
    pub async fn bind(config: ServerConfig) -> Result<Server, StartError> {
        let store = match &config.database {
            Database::SqliteDir(dir) => {
                check_data_dir(dir)?;
                storage::Store::open_sqlite_dir(dir).await?
            }
            Database::Url(url) => storage::Store::open(url).await?,
        };
        let listener =
            TcpListener::bind(config.http)
                .await
                .map_err(|source| StartError::HttpPort {
                    addr: config.http,
                    source,
                })?;
        let media =
            UdpSocket::bind(config.media)
                .await
                .map_err(|source| StartError::MediaPort {
                    addr: config.media,
                    source,
                })?;
        let media_addr = media.local_addr().map_err(|source| StartError::MediaPort {
            addr: config.media,
            source,
        })?;
        match sfu::udp_batch::widen_buffers(&media) {
            Ok((receive, send)) => {
                tracing::debug!(receive, send, "media socket buffers");
            }
            Err(e) => tracing::warn!(error = %e, "media socket buffers stay at the system default"),
        }
        // After the ports: a server that cannot listen must not create a
        // log key or sign a checkpoint first.
        let data_dir = match &config.database {
            Database::SqliteDir(dir) => Some(dir.as_path()),
            Database::Url(_) => None,
        };
        let ledger =
            crate::ledger::LedgerService::open(store.clone(), &config.ledger, data_dir).await?;
        let franking = crate::franking::load_or_create(data_dir)?;
        let oversight = crate::oversight::OversightService::open(
            ledger.clone(),
            store.clone(),
            config.oversight.as_ref(),
        )
        .await?;
        let announced = announced_media_addr(media_addr);
        let router = sfu::Router::new(sfu::RouterConfig::new(announced), Instant::now())?;
        let metrics = metrics::Metrics::new();
        let (media, media_handle) =
            sfu::Service::new(media, router, announced, metrics.media.clone());
        let (shutdown, shutdown_rx) = watch::channel(false);
        let state = state::AppState::new(
            store,
            ledger,
            oversight,
            metrics,
            config.limits.clone(),
            shutdown_rx,
            media_handle,
            franking,
        );
        let (router, _) = api::router(state.clone());
        Ok(Server {
            listener,
            media_addr,
            media,
            state,
            router,
            shutdown,
            drain_timeout: config.drain_timeout,
        })
    }

    /// The bound HTTP address (useful with port 0).
    pub fn http_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// The bound media address.
    pub fn media_addr(&self) -> SocketAddr {
        self.media_addr
    }

    /// Serves until `shutdown` resolves, then drains: signaling connections
    /// are told the server is going away and closed, in-flight requests
    /// finish, and storage is closed cleanly.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let Server {
            listener,
            media_addr: _,
            media,
            state,
            router,
            shutdown: shutdown_tx,
            drain_timeout,
        } = self;
        let sweeper = tokio::spawn(sweep_sessions(state.store.clone()));
        let expirer = state
            .oversight
            .clone()
            .map(|desk| tokio::spawn(expire_requests(desk)));
        let media = tokio::spawn(media.run());
        let notify = shutdown_tx.clone();
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(listener, service)
            .with_graceful_shutdown(async move {
                shutdown.await;
                tracing::info!("shutting down: draining connections");
                let _ = notify.send(true);
            })
            .await;
        // Upgraded WebSockets outlive axum's own drain; wait for them too.
        let _ = shutdown_tx.send(true);
        let deadline = Instant::now() + drain_timeout;
        while state.metrics.connections.get() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        sweeper.abort();
        if let Some(expirer) = expirer {
            expirer.abort();
        }
        media.abort();
        state.store.close().await;
        tracing::info!("stopped");
        served.map_err(StartError::Serve)
    }
}

/// The media address clients are told: the bound one, or loopback with
/// its port if the bound one is unspecified (no interface guessing).
fn announced_media_addr(bound: SocketAddr) -> SocketAddr {
    if !bound.ip().is_unspecified() {
        return bound;
    }
    let loopback: std::net::IpAddr = if bound.is_ipv4() {
        std::net::Ipv4Addr::LOCALHOST.into()
    } else {
        std::net::Ipv6Addr::LOCALHOST.into()
    };
    tracing::warn!("the media port is bound to an unspecified address; announcing loopback (bind --media to the address clients reach)");
    SocketAddr::new(loopback, bound.port())
}

fn check_data_dir(dir: &std::path::Path) -> Result<(), StartError> {
    let fail = |source| StartError::DataDir {
        path: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let probe = dir.join(".write-probe");
    std::fs::write(&probe, b"").map_err(fail)?;
    std::fs::remove_file(&probe).map_err(fail)
}

async fn sweep_sessions(store: storage::Store) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        every.tick().await;
        if let Err(e) = store.delete_expired_sessions(unix_now()).await {
            tracing::warn!(error = %e, "cannot delete expired sessions");
        }
    }
}

/// Once a second: logs the expiry of requests whose time ran out, and opens
/// delayed disclosures whose deadline has come, with their notices. A tick
/// is cheap when nothing is due, and a second is well inside any deadline's
/// granularity (notice delays are whole seconds).
async fn expire_requests(desk: crate::oversight::OversightService) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        every.tick().await;
        if let Err(e) = desk.tick(unix_now_secs()).await {
            tracing::warn!(error = %e, "cannot log expired requests or open due disclosures");
        }
    }
}

/// Seconds since the Unix epoch, unsigned.
pub fn unix_now_secs() -> u64 {
    u64::try_from(unix_now()).unwrap_or(0)
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
