//! Walks the generated OpenAPI document: every operation that declares
//! bearer security must refuse a missing, malformed, unknown or revoked
//! token, and every operation on another account's resource must refuse a
//! foreign token. An endpoint added without an entry in `SAMPLES` fails
//! here, so new endpoints cannot skip this check.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::*;
use proto::rest::NewMeeting;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A valid-looking request for each protected operation: (method, path template, body).
fn samples(meeting: &str, account: &str) -> Vec<(Method, &'static str, String, Option<Value>)> {
    vec![
        (
            Method::GET,
            "/api/v1/accounts/me",
            "/api/v1/accounts/me".into(),
            None,
        ),
        (
            Method::PATCH,
            "/api/v1/accounts/me",
            "/api/v1/accounts/me".into(),
            Some(json!({"display_name": "X"})),
        ),
        (
            Method::PUT,
            "/api/v1/accounts/me/avatar",
            "/api/v1/accounts/me/avatar".into(),
            None,
        ),
        (
            Method::DELETE,
            "/api/v1/accounts/me/avatar",
            "/api/v1/accounts/me/avatar".into(),
            None,
        ),
        (
            Method::GET,
            "/api/v1/accounts/{id}/avatar",
            format!("/api/v1/accounts/{account}/avatar"),
            None,
        ),
        (
            Method::PUT,
            "/api/v1/accounts/me/identity-key",
            "/api/v1/accounts/me/identity-key".into(),
            Some(json!({"public_key": "", "signature": ""})),
        ),
        (
            Method::GET,
            "/api/v1/accounts/{id}/identity-keys",
            format!("/api/v1/accounts/{account}/identity-keys"),
            None,
        ),
        (
            Method::DELETE,
            "/api/v1/sessions/current",
            "/api/v1/sessions/current".into(),
            None,
        ),
        (
            Method::POST,
            "/api/v1/meetings",
            "/api/v1/meetings".into(),
            Some(json!({})),
        ),
        (
            Method::GET,
            "/api/v1/meetings",
            "/api/v1/meetings".into(),
            None,
        ),
        (
            Method::PATCH,
            "/api/v1/meetings/{id}",
            format!("/api/v1/meetings/{meeting}"),
            Some(json!({"locked": true})),
        ),
        (
            Method::POST,
            "/api/v1/chat/reports/verify",
            "/api/v1/chat/reports/verify".into(),
            Some(json!({
                "plaintext": "aGk=",
                "franking_key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                "commitment": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                "tag": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                "sender_account_id": account,
                "meeting_id": meeting,
                "timestamp": 1
            })),
        ),
        (
            Method::GET,
            "/api/v1/notices",
            "/api/v1/notices".into(),
            None,
        ),
        (
            Method::POST,
            "/api/v1/notices/{id}/appeal",
            format!("/api/v1/notices/{}/appeal", "ab".repeat(32)),
            Some(json!({"statement": "I was not told"})),
        ),
        (
            Method::POST,
            "/api/v1/reports",
            "/api/v1/reports".into(),
            Some(json!({"subject_account_id": account})),
        ),
    ]
}

/// Operations whose resource belongs to one account: a foreign token gets 403.
const OWNED: &[(&str, &str)] = &[("PATCH", "/api/v1/meetings/{id}")];

#[tokio::test]
async fn every_protected_operation_refuses_bad_tokens() {
    let server = start().await;
    let owner = server.account("owner").await;
    let stranger = server.account("stranger").await;
    let revoked = server.account("revoked").await;
    server
        .http
        .delete(server.url("/api/v1/sessions/current"))
        .bearer_auth(&revoked)
        .send()
        .await
        .unwrap();
    let meeting = server.meeting(&owner, NewMeeting::default()).await;
    let me: proto::rest::Account = server
        .http
        .get(server.url("/api/v1/accounts/me"))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let doc: Value = server
        .http
        .get(server.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let samples = samples(meeting.as_str(), me.id.as_str());
    let mut protected = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            // Staff operations (`staff` security) have their own walk in tests/oversight.rs.
            let secured = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|scheme| scheme.get("bearer").is_some()));
            if !secured {
                continue;
            }
            protected += 1;
            let method: Method = method.to_uppercase().parse().unwrap();
            let (_, _, url, body) = samples
                .iter()
                .find(|(m, p, ..)| *m == method && p == path)
                .unwrap_or_else(|| {
                    panic!("{method} {path} is protected but has no sample in openapi_auth.rs")
                });
            let request = |auth: Option<&str>| {
                let mut request = server.http.request(method.clone(), server.url(url));
                if let Some(auth) = auth {
                    request = request.header("authorization", auth);
                }
                if let Some(body) = body {
                    request = request.json(body);
                }
                request.send()
            };
            for auth in [
                None,
                Some("Bearer".to_owned()),
                Some("Basic b3duZXI6cGFzcw==".to_owned()),
                Some(format!("Bearer {}", "x".repeat(43))),
                Some(format!("Bearer {}", "y".repeat(5000))),
                Some(format!("Bearer {revoked}")),
            ] {
                let response = request(auth.as_deref()).await.unwrap();
                assert_eq!(
                    response.status(),
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} with {auth:?}"
                );
                assert_eq!(response.headers()["www-authenticate"], "Bearer");
            }
            if OWNED.contains(&(method.as_str(), path.as_str())) {
                let response = request(Some(&format!("Bearer {stranger}"))).await.unwrap();
                assert_eq!(
                    response.status(),
                    StatusCode::FORBIDDEN,
                    "{method} {path} with a foreign token"
                );
            }
        }
    }
    assert_eq!(
        protected,
        samples.len(),
        "every sample must match a protected operation in the document"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_document_describes_public_operations_without_security() {
    let server = start().await;
    let doc: Value = server
        .http
        .get(server.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (path, method) in [
        ("/api/v1/accounts", "post"),
        ("/api/v1/sessions", "post"),
        ("/healthz", "get"),
        ("/api/v1/meetings/{id}", "get"),
        ("/api/v1/ledger/checkpoint", "get"),
        ("/api/v1/ledger/key", "get"),
        ("/api/v1/ledger/entries", "get"),
        ("/api/v1/ledger/proofs/inclusion", "get"),
        ("/api/v1/ledger/proofs/consistency", "get"),
        ("/api/v1/ledger/key-directory/{id}", "get"),
    ] {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is documented");
        assert!(op["security"].is_null(), "{method} {path} is public");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    server.stop().await;
}
