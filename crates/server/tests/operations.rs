//! Health and metrics.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use common::*;
use proto::rest::NewMeeting;

async fn metrics(server: &TestServer) -> String {
    server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn value(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{name} missing from:\n{metrics}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn metrics_follow_connections_meetings_and_the_lobby_without_user_labels() {
    let server = start().await;
    let token = server.account("hostess").await;
    let meeting = server.meeting(&token, NewMeeting::default()).await;
    let (mut host, _) = server.seated(&token, &meeting).await;
    let (_guest, guest_id) = server.waiting_guest("Metric Mabel", &meeting).await;
    lobby_lists(&mut host, &guest_id).await;

    let text = metrics(&server).await;
    assert_eq!(value(&text, "conclave_websocket_connections"), 2.0);
    assert_eq!(value(&text, "conclave_meetings_live"), 1.0);
    assert_eq!(value(&text, "conclave_participants_seated"), 1.0);
    assert_eq!(value(&text, "conclave_lobby_waiting"), 1.0);
    assert!(
        text.contains("conclave_http_request_duration_seconds_count{method=\"POST\",route=\"/api/v1/meetings\",status=\"2xx\"} 1"),
        "HTTP latency is recorded per route template:\n{text}"
    );
    assert!(text.contains("conclave_lobby_wait_seconds"));
    for secret in [
        meeting.as_str(),
        guest_id.as_str(),
        "Metric Mabel",
        "hostess",
        "127.0.0.1",
    ] {
        assert!(!text.contains(secret), "metrics must not carry {secret}");
    }

    host.send(&proto::signaling::ClientMessage::EndMeeting)
        .await
        .unwrap();
    // The room task stops and the gauges return to zero.
    let mut settled = false;
    for _ in 0..100 {
        let text = metrics(&server).await;
        if value(&text, "conclave_meetings_live") == 0.0
            && value(&text, "conclave_lobby_waiting") == 0.0
        {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(settled, "gauges return to zero after the meeting ends");
    server.stop().await;
}
