//! The transparency log over real HTTP: key registrations appear as entries,
//! checkpoints open with the published key, every proof verifies with the
//! ledger crate's verifiers, bad requests get named errors, and a restart
//! reloads the log without rewriting it.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use common::*;
use ed25519_dalek::{Signer, SigningKey};
use ledger::{
    verify_consistency, verify_inclusion, verify_key_entry, Checkpoint, Entry, EntryTag, Hash,
    KeyDirectoryRecord, LeafIndex, MerkleTree, NoteVerifier, VerifiedCheckpoint,
};
use proto::ids::AccountId;
use proto::ledger::{
    ConsistencyProof, InclusionProof, KeyDirectoryProof, LedgerEntries, LedgerKey,
};
use proto::rest::{Account, ErrorBody};
use reqwest::StatusCode;
use serde_json::json;
use server::ledger::LedgerService;
use server::{Database, LedgerSettings, Server, ServerConfig};

async fn get<T: serde::de::DeserializeOwned>(server: &TestServer, path: &str) -> T {
    let response = server.http.get(server.url(path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    response.json().await.unwrap()
}

async fn get_error(server: &TestServer, path: &str) -> (StatusCode, String) {
    let response = server.http.get(server.url(path)).send().await.unwrap();
    let status = response.status();
    let body: ErrorBody = response.json().await.unwrap();
    (status, body.error)
}

async fn open_checkpoint(server: &TestServer) -> VerifiedCheckpoint {
    let key: LedgerKey = get(server, "/api/v1/ledger/key").await;
    let verifier: NoteVerifier = key.verifier_key.parse().unwrap();
    let note = server
        .http
        .get(server.url("/api/v1/ledger/checkpoint"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    Checkpoint::open(note.as_bytes(), &key.origin, &[verifier]).unwrap()
}

fn hashes(encoded: &[String]) -> Vec<Hash> {
    encoded
        .iter()
        .map(|h| Hash::from_base64(h).unwrap())
        .collect()
}

async fn my_id(server: &TestServer, token: &str) -> AccountId {
    let me: Account = server
        .http
        .get(server.url("/api/v1/accounts/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    me.id
}

/// Registers `key` as the caller's identity key over HTTP.
async fn register_key(http: &reqwest::Client, base: &str, token: &str, key: &SigningKey) {
    let me: Account = http
        .get(format!("{base}/api/v1/accounts/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let public = key.verifying_key().to_bytes();
    let mut signed = server::api::accounts::IDENTITY_KEY_CONTEXT.to_vec();
    signed.extend_from_slice(me.id.as_str().as_bytes());
    signed.push(b'\n');
    signed.extend_from_slice(&public);
    let response = http
        .put(format!("{base}/api/v1/accounts/me/identity-key"))
        .bearer_auth(token)
        .json(&json!({
            "public_key": BASE64.encode(public),
            "signature": BASE64.encode(key.sign(&signed).to_bytes()),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

async fn all_entries(server: &TestServer, size: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < size {
        let end = size.min(start + 1000);
        let page: LedgerEntries = get(
            server,
            &format!("/api/v1/ledger/entries?start={start}&end={end}"),
        )
        .await;
        for entry in page.entries {
            assert_eq!(entry.index, out.len() as u64);
            out.push(BASE64.decode(entry.data).unwrap());
        }
        start = page.next;
    }
    out
}

#[tokio::test]
async fn key_registrations_are_logged_and_provable() {
    let server = start().await;
    let empty = open_checkpoint(&server).await;
    assert_eq!(empty.checkpoint().size(), 0);
    assert_eq!(empty.checkpoint().origin(), "localhost/conclave-log");

    let token = server.account("ada").await;
    let ada = my_id(&server, &token).await;
    let (first, second) = (
        SigningKey::from_bytes(&[7; 32]),
        SigningKey::from_bytes(&[8; 32]),
    );
    let path = format!("/api/v1/ledger/key-directory/{ada}");
    assert_eq!(
        get_error(&server, &path).await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );

    register_key(&server.http, &server.base, &token, &first).await;
    let after_first = open_checkpoint(&server).await;
    assert_eq!(after_first.checkpoint().size(), 1);
    register_key(&server.http, &server.base, &token, &second).await;
    let latest = open_checkpoint(&server).await;
    assert_eq!(latest.checkpoint().size(), 2);

    // The key directory proves the current key, and refuses the old one.
    let proven: KeyDirectoryProof = get(&server, &path).await;
    assert_eq!(proven.index, 1);
    let opened = Checkpoint::open(
        proven.checkpoint.as_bytes(),
        "localhost/conclave-log",
        &[get::<LedgerKey>(&server, "/api/v1/ledger/key")
            .await
            .verifier_key
            .parse()
            .unwrap()],
    )
    .unwrap();
    let entry = BASE64.decode(&proven.entry).unwrap();
    let record = verify_key_entry(
        &opened,
        LeafIndex(proven.index),
        &entry,
        &hashes(&proven.proof),
        ada.as_str(),
        &second.verifying_key().to_bytes(),
    )
    .unwrap();
    assert_eq!(record.version, 2);
    assert_eq!(
        record.previous_key,
        Some(KeyDirectoryRecord::key_hash(
            &first.verifying_key().to_bytes()
        ))
    );
    assert!(verify_key_entry(
        &opened,
        LeafIndex(proven.index),
        &entry,
        &hashes(&proven.proof),
        ada.as_str(),
        &first.verifying_key().to_bytes(),
    )
    .is_err());

    // Every entry parses, and the entries lead to the checkpoint's root.
    let entries = all_entries(&server, 2).await;
    let tree = MerkleTree::from_leaf_hashes(entries.iter().map(|e| ledger::leaf_hash(e)));
    assert_eq!(tree.root(), latest.checkpoint().root());
    let first_record =
        KeyDirectoryRecord::from_entry(&Entry::decode(&entries[0]).unwrap()).unwrap();
    assert_eq!(first_record.version, 1);
    assert_eq!(first_record.previous_key, None);

    // Inclusion and consistency proofs from the API verify.
    let inclusion: InclusionProof =
        get(&server, "/api/v1/ledger/proofs/inclusion?index=0&size=2").await;
    verify_inclusion(
        &ledger::leaf_hash(&entries[0]),
        LeafIndex(0),
        2,
        &hashes(&inclusion.proof),
        &latest.checkpoint().root(),
    )
    .unwrap();
    let consistency: ConsistencyProof =
        get(&server, "/api/v1/ledger/proofs/consistency?old=1&new=2").await;
    verify_consistency(
        1,
        2,
        &hashes(&consistency.proof),
        &after_first.checkpoint().root(),
        &latest.checkpoint().root(),
    )
    .unwrap();
    server.stop().await;
}

#[tokio::test]
async fn bad_ledger_requests_get_named_errors() {
    let server = start().await;
    let token = server.account("ada").await;
    register_key(
        &server.http,
        &server.base,
        &token,
        &SigningKey::from_bytes(&[7; 32]),
    )
    .await;
    for (path, code) in [
        ("/api/v1/ledger/entries?start=0&end=2", "out_of_range"),
        ("/api/v1/ledger/entries?start=1&end=0", "invalid_range"),
        ("/api/v1/ledger/entries?start=0&end=5000", "out_of_range"),
        ("/api/v1/ledger/entries?start=0", "invalid_query"),
        ("/api/v1/ledger/entries?start=-1&end=1", "invalid_query"),
        (
            "/api/v1/ledger/entries?start=0&end=1&extra=1",
            "invalid_query",
        ),
        (
            "/api/v1/ledger/proofs/inclusion?index=1&size=1",
            "out_of_range",
        ),
        (
            "/api/v1/ledger/proofs/inclusion?index=0&size=9",
            "out_of_range",
        ),
        (
            "/api/v1/ledger/proofs/consistency?old=0&new=1",
            "out_of_range",
        ),
        (
            "/api/v1/ledger/proofs/consistency?old=2&new=1",
            "out_of_range",
        ),
        ("/api/v1/ledger/key-directory/not%20an%20id", "invalid_path"),
    ] {
        assert_eq!(
            get_error(&server, path).await,
            (StatusCode::BAD_REQUEST, code.to_owned()),
            "{path}"
        );
    }
    let empty: LedgerEntries = get(&server, "/api/v1/ledger/entries?start=1&end=1").await;
    assert!(empty.entries.is_empty());
    assert_eq!(empty.next, 1);
    server.stop().await;
}

#[tokio::test]
async fn concurrent_appends_get_distinct_durable_positions() {
    let dir = tempfile::tempdir().unwrap();
    let store = storage::Store::open_sqlite_dir(dir.path()).await.unwrap();
    let settings = LedgerSettings::default();
    let log = LedgerService::open(store.clone(), &settings, Some(dir.path()))
        .await
        .unwrap();
    let tag = EntryTag::new("test.entry").unwrap();
    let tasks: Vec<_> = (0..200u32)
        .map(|i| {
            let log = log.clone();
            let entry = Entry::new(tag.clone(), i.to_be_bytes().to_vec()).unwrap();
            tokio::spawn(async move { log.append(entry, None).await.unwrap() })
        })
        .collect();
    let mut indexes = Vec::new();
    for task in tasks {
        let appended = task.await.unwrap();
        assert!(appended.checkpoint_size > appended.index.0);
        indexes.push(appended.index.0);
    }
    indexes.sort_unstable();
    assert_eq!(indexes, (0..200).collect::<Vec<_>>());
    let batch = log
        .append_many(
            (0..3u8)
                .map(|i| (Entry::new(tag.clone(), vec![i]).unwrap(), Some("s".into())))
                .collect(),
        )
        .await
        .unwrap();
    assert_eq!(
        batch.iter().map(|a| a.index.0).collect::<Vec<_>>(),
        vec![200, 201, 202]
    );
    assert_eq!(log.checkpoint().size, 203);
    assert_eq!(
        log.latest_index_for("test.entry", "s").await.unwrap(),
        Some(LeafIndex(202))
    );
    let root = log.checkpoint().root;
    drop(log);

    // Reopening rebuilds the same tree and keeps the stored checkpoint.
    let reopened = LedgerService::open(store.clone(), &settings, Some(dir.path()))
        .await
        .unwrap();
    assert_eq!(reopened.checkpoint().size, 203);
    assert_eq!(reopened.checkpoint().root, root);
    let proven = reopened.proven_entry(LeafIndex(5)).await.unwrap();
    verify_inclusion(
        &ledger::leaf_hash(&proven.entry),
        LeafIndex(5),
        203,
        &proven.proof,
        &root,
    )
    .unwrap();
}

#[tokio::test]
async fn a_restarted_server_serves_the_same_log_with_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig {
        http: "127.0.0.1:0".parse().unwrap(),
        media: "127.0.0.1:0".parse().unwrap(),
        database: Database::SqliteDir(dir.path().to_owned()),
        limits: generous_limits(),
        drain_timeout: Duration::from_secs(2),
        ..ServerConfig::default()
    };
    let (note, key) = {
        let server = Server::bind(config.clone()).await.unwrap();
        let base = format!("http://{}", server.http_addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        let api = client::Api::new(&base);
        api.register("ada", PASSWORD).await.unwrap();
        let token = api.login("ada", PASSWORD).await.unwrap().token;
        let http = reqwest::Client::new();
        register_key(&http, &base, &token, &SigningKey::from_bytes(&[7; 32])).await;
        let note = http
            .get(format!("{base}/api/v1/ledger/checkpoint"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let key: LedgerKey = http
            .get(format!("{base}/api/v1/ledger/key"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        stop.send(()).unwrap();
        task.await.unwrap().unwrap();
        (note, key)
    };
    let server = Server::bind(config).await.unwrap();
    let base = format!("http://{}", server.http_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let again = http
        .get(format!("{base}/api/v1/ledger/checkpoint"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(again, note, "the stored checkpoint is served as issued");
    let key_again: LedgerKey = http
        .get(format!("{base}/api/v1/ledger/key"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(key_again, key);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn without_a_data_dir_the_key_file_must_be_configured() {
    let dir = tempfile::tempdir().unwrap();
    let store = storage::Store::open_sqlite_dir(dir.path()).await.unwrap();
    let settings = LedgerSettings::default();
    let err = LedgerService::open(store.clone(), &settings, None)
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("--ledger-key-file"), "{err}");
    let with_file = LedgerSettings {
        key_file: Some(dir.path().join("elsewhere.key")),
        ..LedgerSettings::default()
    };
    LedgerService::open(store, &with_file, None).await.unwrap();
    assert!(dir.path().join("elsewhere.key").exists());
}
