//! Prometheus metrics. No label ever carries a user, a meeting or an
//! address: only route templates, methods and status classes.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of the HTTP latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    method: String,
    /// The matched route template (e.g. `/api/v1/meetings/{id}`), never the raw path.
    route: String,
    /// `2xx`, `4xx`, ...
    status: String,
}

/// All metrics of one server.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    /// Open WebSocket connections.
    pub connections: Gauge,
    /// Meetings with a live room.
    pub meetings: Gauge,
    /// Seated participants across all meetings.
    pub participants: Gauge,
    /// People waiting in lobbies.
    pub lobby_waiting: Gauge,
    /// How long admitted people waited in the lobby.
    pub lobby_wait_seconds: Histogram,
    /// Counters the SFU keeps (forwarded packets and bytes, keyframe requests, media participants).
    pub media: sfu::MediaMetrics,
    http: Family<HttpLabels, Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("conclave");
        let connections = Gauge::default();
        let meetings = Gauge::default();
        let participants = Gauge::default();
        let lobby_waiting = Gauge::default();
        let lobby_wait_seconds = Histogram::new(exponential_buckets(0.5, 2.0, 12));
        let media = sfu::MediaMetrics::default();
        registry.register(
            "media_forwarded_packets",
            "RTP packets the SFU forwarded to subscribers",
            media.forwarded_packets.clone(),
        );
        registry.register(
            "media_forwarded_bytes",
            "RTP payload bytes the SFU forwarded to subscribers",
            media.forwarded_bytes.clone(),
        );
        registry.register(
            "media_keyframe_requests",
            "Keyframe requests the SFU sent to publishers",
            media.keyframe_requests.clone(),
        );
        registry.register(
            "sfu_frames",
            "Media frames the SFU checked: e2ee=\"true\" were end-to-end encrypted for the meeting's group and forwarded, e2ee=\"false\" were refused",
            media.frames.clone(),
        );
        registry.register(
            "media_participants",
            "Participants whose media is connected",
            media.participants_with_media.clone(),
        );
        let http = Family::<HttpLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "websocket_connections",
            "Open signaling WebSockets",
            connections.clone(),
        );
        registry.register(
            "meetings_live",
            "Meetings with a live room",
            meetings.clone(),
        );
        registry.register(
            "participants_seated",
            "Seated participants",
            participants.clone(),
        );
        registry.register(
            "lobby_waiting",
            "People waiting in lobbies",
            lobby_waiting.clone(),
        );
        registry.register(
            "lobby_wait_seconds",
            "Time admitted people spent in the lobby",
            lobby_wait_seconds.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route template",
            http.clone(),
        );
        Metrics {
            registry: Arc::new(registry),
            connections,
            meetings,
            participants,
            lobby_waiting,
            lobby_wait_seconds,
            media,
            http,
        }
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Middleware recording every request's latency under its route template.
pub async fn track_http(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = format!("{}xx", response.status().as_u16() / 100);
    metrics
        .http
        .get_or_create(&HttpLabels {
            method,
            route,
            status,
        })
        .observe(started.elapsed().as_secs_f64());
    response
}
