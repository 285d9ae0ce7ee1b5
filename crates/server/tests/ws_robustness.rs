//! Hostile or broken input on the signaling WebSocket gets an error (or a
//! close with a reason) and leaves the server serving everyone else.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use client::ClientError;
use common::*;
use proto::rest::NewMeeting;
use proto::signaling::{ClientMessage, ServerMessage};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn malformed_unknown_and_out_of_order_messages_get_errors() {
    let server = start().await;
    let mut ws = server.ws().await;
    for (text, code) in [
        ("{not json", "malformed_message"),
        ("[]", "malformed_message"),
        (r#"{"type": 7}"#, "malformed_message"),
        (r#"{"type": "teleport"}"#, "unknown_message_type"),
        (
            r#"{"type": "hello", "version": "one"}"#,
            "malformed_message",
        ),
        (
            r#"{"type": "hello", "version": 1, "auth": {"kind": "guest", "display_name": "A"}, "admin": true}"#,
            "malformed_message",
        ),
        (r#"{"type": "lock"}"#, "invalid_state"),
    ] {
        ws.send_text(text.into()).await.unwrap();
        assert_eq!(error_code(&mut ws).await, code, "for {text}");
    }
    ws.send_frame(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    assert_eq!(error_code(&mut ws).await, "malformed_message");
    // The same connection still works.
    ws.hello_guest("Still here").await.unwrap();
    ws.send(&ClientMessage::Ping).await.unwrap();
    assert_eq!(ws.recv().await.unwrap(), ServerMessage::Pong);
    server.stop().await;
}

#[tokio::test]
async fn oversized_messages_close_with_a_reason_and_the_server_carries_on() {
    let server = start().await;
    let token = server.account("hostess").await;
    let meeting = server.meeting(&token, NewMeeting::default()).await;
    let (mut host, _) = server.seated(&token, &meeting).await;

    let mut big = server.ws().await;
    big.send_text(format!(
        r#"{{"type":"ping","pad":"{}"}}"#,
        "x".repeat(100_000)
    ))
    .await
    .unwrap();
    assert_eq!(error_code(&mut big).await, "message_too_large");
    match big.recv().await {
        Err(ClientError::Closed { code, reason }) => {
            assert_eq!(code, 1009);
            assert!(reason.contains("too large"));
        }
        other => panic!("expected a close, got {other:?}"),
    }

    // Far over the frame limit: the socket is cut, nothing else is.
    let mut huge = server.ws().await;
    let _ = huge.send_text("x".repeat(4 << 20)).await;
    assert!(huge.recv().await.is_err());

    let (_guest, guest_id) = server.waiting_guest("After", &meeting).await;
    lobby_lists(&mut host, &guest_id).await;
    let health = server
        .http
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert!(health.status().is_success());
    server.stop().await;
}

#[tokio::test]
async fn wrong_versions_and_bad_tokens_are_refused_with_a_close() {
    let server = start().await;
    let mut ws = server.ws().await;
    ws.send_text(
        r#"{"type":"hello","version":99,"auth":{"kind":"guest","display_name":"A"}}"#.into(),
    )
    .await
    .unwrap();
    assert_eq!(error_code(&mut ws).await, "unsupported_version");
    assert!(matches!(
        ws.recv().await,
        Err(ClientError::Closed { code: 1002, .. })
    ));

    let mut ws = server.ws().await;
    assert!(ws.hello_token("forged-token").await.is_err());
    let mut ws = server.ws().await;
    assert!(ws.hello_guest("   ").await.is_err());
    server.stop().await;
}

#[tokio::test]
async fn a_flood_of_messages_is_rate_limited() {
    let server = start().await;
    let mut ws = server.ws().await;
    ws.hello_guest("Flood").await.unwrap();
    for _ in 0..200 {
        ws.send(&ClientMessage::Ping).await.unwrap();
    }
    let mut limited = false;
    for _ in 0..200 {
        match ws.recv().await.unwrap() {
            ServerMessage::Error { code, .. } => {
                assert_eq!(serde_json::to_value(code).unwrap(), "rate_limited");
                limited = true;
            }
            ServerMessage::Pong => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(limited);
    server.stop().await;
}
