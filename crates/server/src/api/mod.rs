//! The HTTP surface: REST under `/api/v1`, the signaling WebSocket, health,
//! metrics and the OpenAPI document generated from the handlers below.

pub mod accounts;
pub mod error;
pub mod ledger;
pub mod meetings;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use proto::rest::{ErrorBody, Health};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use self::error::{ApiError, ApiJson};
use crate::state::AppState;

/// Largest JSON body any endpoint accepts.
pub const MAX_JSON_BODY: usize = 16 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "Conclave API", description = "Self-hostable end-to-end encrypted meetings."),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "staff",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`Conclave-Staff staff=…, ts=…, nonce=…, sig=…`: the staff member's Ed25519 \
                 signature over the method, the path with query and the body \
                 (oversight::StaffAuthorization)",
            ))),
        );
    }
}

/// The full router, and the OpenAPI document describing it.
pub fn router(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let avatar_routes = OpenApiRouter::new()
        .routes(routes!(accounts::put_avatar, accounts::delete_avatar))
        .layer(DefaultBodyLimit::max(proto::rest::MAX_AVATAR_BYTES + 1));
    let (api, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(accounts::create_account))
        .routes(routes!(accounts::me, accounts::update_me))
        .routes(routes!(accounts::avatar))
        .routes(routes!(accounts::put_identity_key))
        .routes(routes!(accounts::identity_keys))
        .routes(routes!(accounts::create_session))
        .routes(routes!(accounts::delete_session))
        .routes(routes!(meetings::create_meeting, meetings::list_meetings))
        .routes(routes!(meetings::meeting, meetings::update_meeting))
        .routes(routes!(health))
        .routes(routes!(ledger::checkpoint))
        .routes(routes!(ledger::key))
        .routes(routes!(ledger::entries))
        .routes(routes!(ledger::inclusion_proof))
        .routes(routes!(ledger::consistency_proof))
        .routes(routes!(ledger::key_directory))
        .routes(routes!(crate::franking::verify_report))
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
        .merge(avatar_routes)
        .merge(crate::oversight::api::routes())
        .split_for_parts();
    let document = doc.clone();
    let router = api
        .route("/api/v1/ws", get(crate::ws::upgrade))
        .route(
            "/api/v1/openapi.json",
            get(move || async move { axum::Json(doc) }),
        )
        .route("/metrics", get(metrics))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            crate::metrics::track_http,
        ))
        .with_state(state);
    (router, document)
}

/// Liveness and database reachability.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = ErrorBody)))]
async fn health(State(state): State<AppState>) -> Result<ApiJson<Health>, ApiError> {
    state.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "health check: database unreachable");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "the database does not answer",
        )
    })?;
    Ok(ApiJson(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    }))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

/// Paths no route took: under `/api/` a JSON 404, elsewhere the web client.
async fn fallback(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if path == "/api" || path.starts_with("/api/") {
        return not_found().await.into_response();
    }
    crate::web::serve(&method, path)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not accept that method",
    )
}
