//! `conclave bench signaling` end to end: a small run against a spawned
//! server must seat everyone and write every figure.

mod common;

use std::time::Duration;

#[tokio::test]
async fn a_small_signaling_bench_seats_everyone_and_writes_json() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("bench.json");
    let mut bench = common::conclave(
        [
            "bench",
            "signaling",
            "--spawn-server",
            "--participants",
            "20",
            "--meetings",
            "2",
            "--json",
            &json.display().to_string(),
        ],
        &[],
    );
    let status = bench.exit_within(Duration::from_secs(120)).await;
    assert!(
        status.success(),
        "bench failed with {status}; stdout:\n{}\nstderr:\n{}",
        bench.stdout(),
        bench.stderr()
    );
    let text = std::fs::read_to_string(&json).expect("the JSON file");
    let report: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    for field in [
        "participants",
        "meetings",
        "joins_per_sec",
        "admit_latency_ms_p50",
        "admit_latency_ms_p99",
        "admit_latency_ms_max",
        "rss_bytes_per_participant",
        "server_rss_bytes",
        "duration_secs",
        "errors",
    ] {
        assert!(report.get(field).is_some(), "no {field} in {text}");
    }
    assert_eq!(report["participants"], 20);
    assert_eq!(report["meetings"], 2);
    assert_eq!(report["seated"], 20);
    assert_eq!(report["errors"], 0, "{text}");
    assert!(
        report["joins_per_sec"].as_f64().is_some_and(|v| v > 0.0),
        "{text}"
    );
    assert!(
        report["admit_latency_ms_p99"]
            .as_f64()
            .is_some_and(|v| v > 0.0),
        "{text}"
    );
    assert!(
        report["server_rss_bytes"].as_u64().is_some_and(|v| v > 0),
        "{text}"
    );
    assert!(
        bench.stdout().contains("seated 20/20"),
        "{}",
        bench.stdout()
    );
}

#[tokio::test]
async fn the_bench_needs_a_target() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("bench.json");
    let mut bench = common::conclave(
        [
            "bench",
            "signaling",
            "--participants",
            "1",
            "--meetings",
            "1",
            "--json",
            &json.display().to_string(),
        ],
        &[],
    );
    let status = bench.exit_within(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(2), "a usage error");
    assert!(bench.stderr().contains("--server"), "{}", bench.stderr());
}
