//! What every request handler and connection shares.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::api::error::ApiError;
use crate::ledger::LedgerService;
use crate::meetings::Meetings;
use crate::metrics::Metrics;
use crate::oversight::OversightService;
use crate::rate_limit::{Quota, RateLimiter};

/// Tunables of a running server (the binary fills them from flags, env and TOML).
#[derive(Debug, Clone)]
pub struct Limits {
    /// How long a login token lives.
    pub session_ttl: Duration,
    /// Registrations and logins per client address (in memory only).
    pub auth_per_address: Quota,
    /// Failed logins per username, whatever the address.
    pub login_failures_per_username: Quota,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            auth_per_address: Quota {
                burst: 20,
                per_minute: 10,
            },
            login_failures_per_username: Quota {
                burst: 10,
                per_minute: 5,
            },
        }
    }
}

/// Shared state; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The parts of [`AppState`].
pub struct Inner {
    /// Durable state.
    pub store: storage::Store,
    /// Live meetings.
    pub meetings: Meetings,
    /// The transparency log.
    pub ledger: LedgerService,
    /// The oversight desk, when staff are configured.
    pub oversight: Option<OversightService>,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Tunables.
    pub limits: Limits,
    /// Tags chat commitments and verifies reports (see [`crate::franking`]).
    pub franking: Arc<e2ee::franking::ServerFrankingKey>,
    /// Flips to true when the server starts draining.
    pub shutdown: watch::Receiver<bool>,
    auth_limiter: Mutex<RateLimiter<IpAddr>>,
    login_failures: Mutex<RateLimiter<String>>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Builds the shared state.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: storage::Store,
        ledger: LedgerService,
        oversight: Option<OversightService>,
        metrics: Metrics,
        limits: Limits,
        shutdown: watch::Receiver<bool>,
        media: sfu::MediaHandle,
        franking: e2ee::franking::ServerFrankingKey,
    ) -> Self {
        let franking = Arc::new(franking);
        let meetings = Meetings::new(store.clone(), metrics.clone(), media, franking.clone());
        AppState(Arc::new(Inner {
            store,
            meetings,
            ledger,
            oversight,
            metrics,
            auth_limiter: Mutex::new(RateLimiter::new(limits.auth_per_address)),
            login_failures: Mutex::new(RateLimiter::new(limits.login_failures_per_username)),
            limits,
            franking,
            shutdown,
        }))
    }

    /// Counts a registration or login attempt from `address`.
    pub fn check_auth_rate(&self, address: IpAddr) -> Result<(), ApiError> {
        let mut limiter = self
            .auth_limiter
            .lock()
            .map_err(|_| ApiError::internal("rate limiter lock poisoned"))?;
        limiter
            .check(address, Instant::now())
            .map_err(ApiError::rate_limited)
    }

    /// Refuses a login for `username` while too many recent ones failed.
    pub fn check_login_allowed(&self, username: &str) -> Result<(), ApiError> {
        let limiter = self
            .login_failures
            .lock()
            .map_err(|_| ApiError::internal("rate limiter lock poisoned"))?;
        limiter
            .peek(&username.to_owned(), Instant::now())
            .map_err(ApiError::rate_limited)
    }

    /// Counts a failed login for `username`.
    pub fn record_login_failure(&self, username: &str) {
        if let Ok(mut limiter) = self.login_failures.lock() {
            // A refusal here only means the bucket is already empty.
            let _ = limiter.check(username.to_owned(), Instant::now());
        }
    }
}
