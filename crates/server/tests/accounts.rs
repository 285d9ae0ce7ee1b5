//! Accounts, sessions, profiles and the HTTP error contract, over real HTTP.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use common::*;
use ed25519_dalek::{Signer, SigningKey};
use proto::rest::{Account, ErrorBody, IdentityKeyRecord};
use reqwest::StatusCode;
use serde_json::json;
use server::rate_limit::Quota;
use server::Limits;

async fn error(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: ErrorBody = response
        .json()
        .await
        .expect("errors are JSON {error, message}");
    assert!(!body.message.is_empty());
    (status, body.error)
}

#[tokio::test]
async fn register_login_use_and_logout() {
    let server = start().await;
    let created = server.api.register("Ada.L", PASSWORD).await.unwrap();
    assert_eq!(created.username, "ada.l", "usernames are stored lowercase");
    let session = server.api.login("ada.l", PASSWORD).await.unwrap();
    assert_eq!(session.token.len(), 43, "256-bit token in base64url");

    let me: Account = server
        .http
        .get(server.url("/api/v1/accounts/me"))
        .bearer_auth(&session.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me.id, created.id);

    let logout = server
        .http
        .delete(server.url("/api/v1/sessions/current"))
        .bearer_auth(&session.token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let after = server
        .http
        .get(server.url("/api/v1/accounts/me"))
        .bearer_auth(&session.token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error(after).await,
        (StatusCode::UNAUTHORIZED, "unauthenticated".into())
    );
    server.stop().await;
}

#[tokio::test]
async fn wrong_passwords_and_bad_registrations_are_refused() {
    let server = start().await;
    server.api.register("ada", PASSWORD).await.unwrap();
    let wrong = server
        .http
        .post(server.url("/api/v1/sessions"))
        .json(&json!({"username": "ada", "password": "not the password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error(wrong).await,
        (StatusCode::UNAUTHORIZED, "invalid_credentials".into())
    );
    let unknown = server
        .http
        .post(server.url("/api/v1/sessions"))
        .json(&json!({"username": "nobody", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error(unknown).await,
        (StatusCode::UNAUTHORIZED, "invalid_credentials".into())
    );

    for (body, status, code) in [
        (
            json!({"username": "ada", "password": PASSWORD}),
            StatusCode::CONFLICT,
            "username_taken",
        ),
        (
            json!({"username": "bob", "password": "short"}),
            StatusCode::BAD_REQUEST,
            "weak_password",
        ),
        (
            json!({"username": "b!", "password": PASSWORD}),
            StatusCode::BAD_REQUEST,
            "invalid_username",
        ),
        (
            json!({"username": "bob", "password": PASSWORD, "admin": true}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            json!({"username": "bob"}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
    ] {
        let response = server
            .http
            .post(server.url("/api/v1/accounts"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            error(response).await,
            (status, code.to_owned()),
            "for {body}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn tokens_expire() {
    // Expiry is kept in whole seconds, so a token lives between TTL - 1 and TTL seconds;
    // 3 s leave a loaded machine time to use it once before it expires.
    let limits = Limits {
        session_ttl: Duration::from_secs(3),
        ..generous_limits()
    };
    let server = start_with(limits).await;
    let token = server.account("ada").await;
    let ok = server
        .http
        .get(server.url("/api/v1/accounts/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let expired = server
        .http
        .get(server.url("/api/v1/accounts/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error(expired).await,
        (StatusCode::UNAUTHORIZED, "unauthenticated".into())
    );
    server.stop().await;
}

#[tokio::test]
async fn registration_and_login_are_rate_limited() {
    let limits = Limits {
        auth_per_address: Quota {
            burst: 3,
            per_minute: 1,
        },
        ..Limits::default()
    };
    let server = start_with(limits).await;
    server.api.register("ada", PASSWORD).await.unwrap();
    server.api.login("ada", PASSWORD).await.unwrap();
    server.api.login("ada", PASSWORD).await.unwrap();
    let limited = server
        .http
        .post(server.url("/api/v1/sessions"))
        .json(&json!({"username": "ada", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(
        error(limited).await,
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited".into())
    );
    server.stop().await;
}

#[tokio::test]
async fn repeated_wrong_passwords_lock_the_username_whatever_the_address() {
    let limits = Limits {
        login_failures_per_username: Quota {
            burst: 2,
            per_minute: 1,
        },
        ..generous_limits()
    };
    let server = start_with(limits).await;
    server.api.register("ada", PASSWORD).await.unwrap();
    for _ in 0..2 {
        let wrong = server
            .http
            .post(server.url("/api/v1/sessions"))
            .json(&json!({"username": "ada", "password": "guess guess guess"}))
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
    // Even the right password is refused while the username is locked.
    let locked = server
        .http
        .post(server.url("/api/v1/sessions"))
        .json(&json!({"username": "ada", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error(locked).await,
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited".into())
    );
    server.stop().await;
}

#[tokio::test]
async fn profile_and_avatar() {
    let server = start().await;
    let token = server.account("ada").await;
    let patched: Account = server
        .http
        .patch(server.url("/api/v1/accounts/me"))
        .bearer_auth(&token)
        .json(&json!({"display_name": "  Ada Lovelace "}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(patched.display_name.as_deref(), Some("Ada Lovelace"));
    let bad = server
        .http
        .patch(server.url("/api/v1/accounts/me"))
        .bearer_auth(&token)
        .json(&json!({"display_name": "x\u{7}y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error(bad).await,
        (StatusCode::BAD_REQUEST, "invalid_display_name".into())
    );

    let mut png = Vec::new();
    image::RgbImage::from_pixel(600, 300, image::Rgb([1, 2, 3]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let put = server
        .http
        .put(server.url("/api/v1/accounts/me/avatar"))
        .bearer_auth(&token)
        .header("content-type", "image/png")
        .body(png)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::NO_CONTENT);
    let fetched = server
        .http
        .get(server.url(&format!("/api/v1/accounts/{}/avatar", patched.id)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.headers()["content-type"], "image/png");
    let stored = image::load_from_memory(&fetched.bytes().await.unwrap()).unwrap();
    assert_eq!((stored.width(), stored.height()), (256, 128));

    let not_image = server
        .http
        .put(server.url("/api/v1/accounts/me/avatar"))
        .bearer_auth(&token)
        .header("content-type", "image/jpeg")
        .body(vec![0xff, 0xd8, 0xff, 0, 1, 2])
        .send()
        .await
        .unwrap();
    assert_eq!(error(not_image).await.0, StatusCode::BAD_REQUEST);
    let gif = server
        .http
        .put(server.url("/api/v1/accounts/me/avatar"))
        .bearer_auth(&token)
        .header("content-type", "image/gif")
        .body(b"GIF89a".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(
        error(gif).await,
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type".into()
        )
    );
    let huge = server
        .http
        .put(server.url("/api/v1/accounts/me/avatar"))
        .bearer_auth(&token)
        .header("content-type", "image/png")
        .body(vec![0u8; 300 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(
        error(huge).await,
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large".into())
    );
    server.stop().await;
}

#[tokio::test]
async fn identity_keys_need_proof_of_possession_and_keep_their_history() {
    let server = start().await;
    let token = server.account("ada").await;
    let me: Account = server
        .http
        .get(server.url("/api/v1/accounts/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let register = |key: &SigningKey, signer: &SigningKey| {
        let public = key.verifying_key().to_bytes();
        let mut signed = server::api::accounts::IDENTITY_KEY_CONTEXT.to_vec();
        signed.extend_from_slice(me.id.as_str().as_bytes());
        signed.push(b'\n');
        signed.extend_from_slice(&public);
        json!({
            "public_key": BASE64.encode(public),
            "signature": BASE64.encode(signer.sign(&signed).to_bytes()),
        })
    };
    let first = SigningKey::from_bytes(&[7; 32]);
    let second = SigningKey::from_bytes(&[8; 32]);
    let url = server.url("/api/v1/accounts/me/identity-key");

    let forged = server
        .http
        .put(&url)
        .bearer_auth(&token)
        .json(&register(&first, &second))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error(forged).await,
        (StatusCode::BAD_REQUEST, "invalid_signature".into())
    );
    for key in [&first, &second] {
        let ok = server
            .http
            .put(&url)
            .bearer_auth(&token)
            .json(&register(key, key))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), StatusCode::CREATED);
    }
    let history: Vec<IdentityKeyRecord> = server
        .http
        .get(server.url(&format!("/api/v1/accounts/{}/identity-keys", me.id)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        history.iter().map(|r| r.version).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(
        history[1].public_key,
        BASE64.encode(second.verifying_key().to_bytes())
    );
    server.stop().await;
}

#[tokio::test]
async fn the_http_error_contract_holds_for_bad_input() {
    let server = start().await;
    let token = server.account("ada").await;
    let url = server.url("/api/v1/meetings");
    let cases: Vec<(reqwest::RequestBuilder, StatusCode, &str)> = vec![
        (
            server
                .http
                .post(&url)
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body("{nope"),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            server.http.post(&url).bearer_auth(&token).body("{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            server
                .http
                .post(&url)
                .bearer_auth(&token)
                .json(&json!({"title": "plaintext title"})),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            server
                .http
                .post(&url)
                .bearer_auth(&token)
                .json(&json!({"encrypted_info": "A".repeat(6000)})),
            StatusCode::BAD_REQUEST,
            "encrypted_info_too_large",
        ),
        (
            server
                .http
                .post(&url)
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(format!("{{\"encrypted_info\":\"{}\"}}", "A".repeat(40_000))),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            server.http.get(server.url("/api/v1/meetings/not-an-id")),
            StatusCode::BAD_REQUEST,
            "invalid_path",
        ),
        (
            server
                .http
                .get(server.url("/api/v1/meetings/AAAAAAAAAAAAAAAAAAAAAA")),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            server.http.get(server.url("/api/v1/nothing")),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            server.http.put(server.url("/api/v1/sessions")),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ];
    for (request, status, code) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(error(response).await, (status, code.to_owned()));
    }
    let health = server
        .http
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn meetings_store_only_ciphertext_and_only_hosts_change_them() {
    let server = start().await;
    let host = server.account("ada").await;
    let other = server.account("bob").await;
    let blob = BASE64.encode([0xde, 0xad, 0xbe, 0xef]);
    let created: proto::rest::Meeting = server
        .http
        .post(server.url("/api/v1/meetings"))
        .bearer_auth(&host)
        .json(&json!({"encrypted_info": blob, "passcode": "s3cret"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created.id.as_str().len(), 22, "128 random bits");
    assert!(created.settings.lobby && created.settings.passcode_required);
    assert_eq!(created.encrypted_info.as_deref(), Some(blob.as_str()));

    let url = server.url(&format!("/api/v1/meetings/{}", created.id));
    let foreign = server
        .http
        .patch(&url)
        .bearer_auth(&other)
        .json(&json!({"locked": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error(foreign).await,
        (StatusCode::FORBIDDEN, "forbidden".into())
    );
    let own: proto::rest::Meeting = server
        .http
        .patch(&url)
        .bearer_auth(&host)
        .json(&json!({"locked": true, "passcode": ""}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(own.settings.locked && !own.settings.passcode_required);
    let listed: Vec<proto::rest::Meeting> = server
        .http
        .get(server.url("/api/v1/meetings"))
        .bearer_auth(&host)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let none: Vec<proto::rest::Meeting> = server
        .http
        .get(server.url("/api/v1/meetings"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(none.is_empty());
    server.stop().await;
}
