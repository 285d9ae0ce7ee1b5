//! The browser client, served from the binary.
//!
//! `build.rs` embeds every file of `web/dist` (the Vite build of `web/`). Files under
//! `/assets/` have content hashes in their names, so they are cached for a year; everything
//! else is revalidated. Any other GET outside `/api/` is a client route (`/`, `/m/<meeting id>`)
//! and gets `index.html`, whose Content-Security-Policy allows only this origin's scripts,
//! styles, workers and connections: no inline code, no third party, no framing.
//!
//! Without a built bundle (a fresh clone built without npm) every client route gets a page
//! saying how to build it; the API works either way.

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

/// One embedded file of `web/dist`.
pub(crate) struct Asset {
    /// URL path, e.g. `/assets/index-3f2a.js`.
    path: &'static str,
    body: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// The Content-Security-Policy of every page. `connect-src 'self'` covers the signaling
/// WebSocket on the same host and port; `blob:` and `mediastream:` carry camera previews.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; \
    connect-src 'self'; worker-src 'self'; font-src 'self'; manifest-src 'self'; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Cache policy of content-hashed files.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Cache policy of everything else: always ask whether it changed.
const REVALIDATE: &str = "no-cache";

/// Whether the web client was built into this binary.
pub fn bundled() -> bool {
    find("/index.html").is_some()
}

/// Answers a request outside `/api/` that no other route took: an embedded file, the client's
/// `index.html` for a client route, or 404.
pub fn serve(method: &Method, path: &str) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are served here",
        );
    }
    if let Some(asset) = find(path).filter(|a| a.path != "/index.html") {
        let cache = if asset.path.starts_with("/assets/") {
            IMMUTABLE
        } else {
            REVALIDATE
        };
        return file(asset.body, content_type(asset.path), cache);
    }
    // A path whose last segment has an extension names a file, and no such file exists.
    let last = path.rsplit('/').next().unwrap_or_default();
    if last.contains('.') {
        return plain(StatusCode::NOT_FOUND, "no such file");
    }
    match find("/index.html") {
        Some(index) => file(index.body, "text/html; charset=utf-8", REVALIDATE),
        None => file(NOT_BUILT.as_bytes(), "text/html; charset=utf-8", REVALIDATE),
    }
}

fn find(path: &str) -> Option<&'static Asset> {
    ASSETS
        .binary_search_by(|a| a.path.cmp(path))
        .ok()
        .and_then(|i| ASSETS.get(i))
}

/// The media type of a file, from its extension.
fn content_type(path: &str) -> &'static str {
    let extension = path.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
    match extension {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "woff2" => "font/woff2",
        "wasm" => "application/wasm",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn file(body: &'static [u8], content_type: &'static str, cache: &'static str) -> Response {
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    security_headers(headers);
    response
}

fn plain(status: StatusCode, message: &'static str) -> Response {
    let mut response = (status, message).into_response();
    security_headers(response.headers_mut());
    response
}

/// Headers every answer of this module carries.
fn security_headers(headers: &mut axum::http::HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The meeting id in a page's path must not leak to anything it links to.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "permissions-policy",
        HeaderValue::from_static(
            "camera=(self), microphone=(self), display-capture=(self), geolocation=(), payment=(), usb=()",
        ),
    );
}

/// What a binary built without the web client shows instead of it.
const NOT_BUILT: &str = "<!doctype html>
<html lang=\"en\">
<head><meta charset=\"utf-8\"><title>Conclave: web client not built</title></head>
<body>
<h1>The web client was not built into this server</h1>
<p>This binary was compiled without <code>web/dist</code>, so only the API is served.</p>
<p>To build the client and run the server with it, from the repository root:</p>
<pre>bash scripts/serve.sh</pre>
<p>or by hand:</p>
<pre>cd web &amp;&amp; npm ci &amp;&amp; npm run build &amp;&amp; cd ..
cargo run --release -p conclave -- serve</pre>
<p>Node.js 20.19 or later and npm are needed; the packages come from the npm registry.</p>
</body>
</html>
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_sorted_for_lookup() {
        assert!(ASSETS.windows(2).all(|w| w[0].path < w[1].path));
    }

    #[test]
    fn client_routes_get_the_page_with_a_strict_policy() {
        for path in ["/", "/m/AAAAAAAAAAAAAAAAAAAAAA", "/new"] {
            let response = serve(&Method::GET, path);
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let headers = response.headers();
            assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
            assert_eq!(headers[header::CACHE_CONTROL], REVALIDATE);
            let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
            assert!(csp.starts_with("default-src 'none'"));
            assert!(!csp.contains("unsafe"));
            assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
        }
    }

    #[test]
    fn missing_files_and_other_methods_are_refused() {
        assert_eq!(
            serve(&Method::GET, "/assets/missing-1234.js").status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            serve(&Method::POST, "/").status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    #[test]
    fn hashed_assets_are_immutable_and_typed() {
        for asset in ASSETS.iter().filter(|a| a.path.starts_with("/assets/")) {
            let response = serve(&Method::GET, asset.path);
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.headers()[header::CACHE_CONTROL], IMMUTABLE);
            assert_ne!(
                response.headers()[header::CONTENT_TYPE],
                "application/octet-stream",
                "{}",
                asset.path
            );
        }
    }

    #[test]
    fn content_types_follow_extensions() {
        assert_eq!(
            content_type("/assets/a.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("/assets/a.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("/favicon.svg"), "image/svg+xml");
        assert_eq!(content_type("/blob"), "application/octet-stream");
    }
}
