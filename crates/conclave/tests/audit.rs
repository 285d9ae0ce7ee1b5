//! `conclave audit` against a real `conclave serve` process: it passes on a
//! healthy log and fails, naming the problem, when an insider alters the log
//! underneath the server.
//!
//! The insider is simulated with direct SQL on the server's SQLite file. The
//! database refuses UPDATE and DELETE on ledger tables through triggers, so
//! each such test first drops the trigger it needs to get past, as someone
//! with the file in hand would.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use common::{conclave, serve, Child};
use ed25519_dalek::{Signer, SigningKey};
use proto::rest::Account;
use serde_json::json;

const EXIT_TIMEOUT: Duration = Duration::from_secs(60);
const PASSWORD: &str = "correct horse battery";

/// A served log with some key-directory entries and an audit state that
/// has accepted it once.
struct Setup {
    data: tempfile::TempDir,
    state_dir: tempfile::TempDir,
    server: Child,
    base: String,
}

impl Setup {
    async fn new(keys: u8) -> Setup {
        let data = tempfile::tempdir().unwrap();
        let (server, base) = start_server(data.path()).await;
        let setup = Setup {
            data,
            state_dir: tempfile::tempdir().unwrap(),
            server,
            base,
        };
        for key in 0..keys {
            setup.register_key(&format!("user{key}"), key).await;
        }
        let (status, out, err) = setup.audit().await;
        assert_eq!(status.code(), Some(0), "stdout {out} stderr {err}");
        setup
    }

    async fn register_key(&self, username: &str, seed: u8) {
        let api = client::Api::new(&self.base);
        api.register(username, PASSWORD).await.unwrap();
        let token = api.login(username, PASSWORD).await.unwrap().token;
        let http = reqwest::Client::new();
        let me: Account = http
            .get(format!("{}/api/v1/accounts/me", self.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let key = SigningKey::from_bytes(&[seed; 32]);
        let public = key.verifying_key().to_bytes();
        let mut signed = server::api::accounts::IDENTITY_KEY_CONTEXT.to_vec();
        signed.extend_from_slice(me.id.as_str().as_bytes());
        signed.push(b'\n');
        signed.extend_from_slice(&public);
        let response = http
            .put(format!("{}/api/v1/accounts/me/identity-key", self.base))
            .bearer_auth(&token)
            .json(&json!({
                "public_key": BASE64.encode(public),
                "signature": BASE64.encode(key.sign(&signed).to_bytes()),
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::CREATED);
    }

    /// Runs `conclave audit` once; returns its status, stdout and stderr.
    async fn audit(&self) -> (ExitStatus, String, String) {
        let state = self.state_dir.path().join("audit.json");
        let mut child = conclave(
            [
                "audit",
                "--server",
                &self.base,
                "--state",
                &state.display().to_string(),
            ],
            &[],
        );
        let status = child.exit_within(EXIT_TIMEOUT).await;
        (status, child.stdout(), child.stderr())
    }

    /// The insider's handle on the database file.
    async fn database(&self) -> sqlx::SqlitePool {
        sqlx::SqlitePool::connect(&format!(
            "sqlite://{}",
            self.data.path().join(storage::SQLITE_FILE).display()
        ))
        .await
        .unwrap()
    }

    async fn restart(&mut self) {
        self.server.terminate();
        let status = self.server.exit_within(EXIT_TIMEOUT).await;
        assert!(status.success(), "stderr:\n{}", self.server.stderr());
        let (server, base) = start_server(self.data.path()).await;
        self.server = server;
        self.base = base;
    }
}

async fn start_server(data: &Path) -> (Child, String) {
    let mut server = serve(data, &[], &[]);
    let (http, _) = server.listening().await;
    (server, format!("http://{http}"))
}

async fn sql(pool: &sqlx::SqlitePool, statement: &str) {
    sqlx::query(statement).execute(pool).await.unwrap();
}

/// The one line of a failed audit.
fn failure(status: ExitStatus, out: &str, err: &str) -> String {
    assert_eq!(status.code(), Some(1), "stdout {out} stderr {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {err}");
    assert!(lines[0].starts_with("audit failed: "), "{err}");
    lines[0].to_owned()
}

#[tokio::test]
async fn a_healthy_log_passes_and_growth_is_checked_for_consistency() {
    let setup = Setup::new(3).await;
    setup.register_key("later", 9).await;
    let (status, out, err) = setup.audit().await;
    assert_eq!(status.code(), Some(0), "stderr {err}");
    let line = out.trim();
    assert!(
        line.starts_with("ok: localhost/conclave-log size 4 root "),
        "{line}"
    );
    assert!(
        line.ends_with("1 new entries, consistent with size 3, all 4 entries verified"),
        "{line}"
    );
    assert_eq!(out.lines().count(), 1);
}

#[tokio::test]
async fn an_altered_row_is_named_by_its_index() {
    let setup = Setup::new(5).await;
    let db = setup.database().await;
    let (entry,): (Vec<u8>,) = sqlx::query_as("SELECT entry FROM ledger_entries WHERE idx = 3")
        .fetch_one(&db)
        .await
        .unwrap();
    // A well-formed forgery: the same record with another key byte, so only
    // the hashes can tell.
    let marker = b"\"public_key\":\"";
    let key_at = entry
        .windows(marker.len())
        .position(|window| window == marker)
        .unwrap()
        + marker.len();
    let mut forged = entry;
    forged[key_at] = if forged[key_at] == b'A' { b'B' } else { b'A' };
    sql(&db, "DROP TRIGGER ledger_entries_no_update").await;
    sqlx::query("UPDATE ledger_entries SET entry = $1 WHERE idx = 3")
        .bind(&forged)
        .execute(&db)
        .await
        .unwrap();
    let (status, out, err) = setup.audit().await;
    let line = failure(status, &out, &err);
    assert!(line.contains("rewritten log"), "{line}");
    assert!(line.contains("index 3"), "{line}");
}

#[tokio::test]
async fn a_deleted_row_is_named_by_its_index() {
    let setup = Setup::new(4).await;
    let db = setup.database().await;
    sql(&db, "DROP TRIGGER ledger_entries_no_delete").await;
    sql(&db, "DELETE FROM ledger_entries WHERE idx = 2").await;
    let (status, out, err) = setup.audit().await;
    let line = failure(status, &out, &err);
    assert!(line.contains("missing entry"), "{line}");
    assert!(line.contains("index 2"), "{line}");
}

#[tokio::test]
async fn a_truncated_log_fails() {
    let mut setup = Setup::new(4).await;
    {
        // The insider cuts the last two entries and the checkpoints that
        // cover them, so that the restarted server accepts the shorter log.
        let db = setup.database().await;
        sql(&db, "DROP TRIGGER ledger_entries_no_delete").await;
        sql(&db, "DROP TRIGGER ledger_checkpoints_no_delete").await;
        sql(&db, "DELETE FROM ledger_entries WHERE idx >= 2").await;
        sql(&db, "DELETE FROM ledger_checkpoints WHERE tree_size > 2").await;
        db.close().await;
    }
    setup.restart().await;
    let (status, out, err) = setup.audit().await;
    let line = failure(status, &out, &err);
    assert!(line.contains("truncated log"), "{line}");
    assert!(line.contains("2 entries, fewer than the 4 seen"), "{line}");
}

#[tokio::test]
async fn a_checkpoint_signed_by_another_key_fails() {
    let mut setup = Setup::new(2).await;
    // The server's key file replaced (same permissions); the restarted server
    // signs its checkpoint with the new key.
    let key_file = setup.data.path().join("ledger.key");
    std::fs::remove_file(&key_file).unwrap();
    setup.restart().await;
    assert!(key_file.exists(), "the server made a new key");
    let (status, out, err) = setup.audit().await;
    let line = failure(status, &out, &err);
    assert!(line.contains("bad signature"), "{line}");
}

#[tokio::test]
async fn an_unreachable_server_is_not_a_log_failure() {
    let state = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let mut child = conclave(
        [
            "audit",
            "--server",
            &format!("http://127.0.0.1:{port}"),
            "--state",
            &state.path().join("audit.json").display().to_string(),
        ],
        &[],
    );
    let status = child.exit_within(EXIT_TIMEOUT).await;
    assert_eq!(status.code(), Some(2), "stderr {}", child.stderr());
    assert!(child.stderr().starts_with("audit not done: "));
    assert!(!state.path().join("audit.json").exists());
}

#[tokio::test]
async fn with_every_it_keeps_watching_until_the_log_misbehaves() {
    let setup = Setup::new(3).await;
    let state = setup.state_dir.path().join("audit.json");
    let mut watcher = conclave(
        [
            "audit",
            "--server",
            &setup.base,
            "--state",
            &state.display().to_string(),
            "--every",
            "1",
        ],
        &[],
    );
    // Bounded: at most 30 s for two passing rounds.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while watcher.stdout().lines().count() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "no two rounds; stderr {}",
            watcher.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let db = setup.database().await;
    sql(&db, "DROP TRIGGER ledger_entries_no_delete").await;
    sql(&db, "DELETE FROM ledger_entries WHERE idx = 1").await;
    let status = watcher.exit_within(EXIT_TIMEOUT).await;
    let line = failure(status, &watcher.stdout(), &watcher.stderr());
    assert!(line.contains("index 1"), "{line}");
}
