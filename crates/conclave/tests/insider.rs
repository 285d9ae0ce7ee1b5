//! The insider red-team suite (issue #5) against a real `conclave serve`
//! process with a TOML genesis of staff in several jurisdictions, driven
//! through the real `conclave admin` CLI and the public ledger API.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use client::order::{MeetingEnd, PinnedLog};
use common::{conclave, serve, Child};
use proto::ledger::LedgerKey;
use proto::rest::NewMeeting;
use proto::signaling::{ClientMessage, ServerMessage};

const EXIT_TIMEOUT: Duration = Duration::from_secs(60);
const PASSWORD: &str = "correct horse battery";

/// (id, jurisdiction): two in Germany, one each in France, the US and China.
const STAFF: [(&str, &str); 5] = [
    ("alice", "DE"),
    ("bob", "DE"),
    ("carol", "FR"),
    ("dave", "US"),
    ("erin", "CN"),
];

struct Insiders {
    keys: tempfile::TempDir,
    data: tempfile::TempDir,
    server: Child,
    base: String,
}

impl Insiders {
    async fn start() -> Insiders {
        let keys = tempfile::tempdir().unwrap();
        let mut toml = String::new();
        for (id, country) in STAFF {
            let path = keys.path().join(format!("{id}.key"));
            let mut child = conclave(["admin", "keygen", "--out", path.to_str().unwrap()], &[]);
            assert!(
                child.exit_within(EXIT_TIMEOUT).await.success(),
                "{}",
                child.stderr()
            );
            let public = child.stdout().trim().to_owned();
            toml += &format!("[[oversight.staff]]\nid = \"{id}\"\npublic_key = \"{public}\"\njurisdiction = \"{country}\"\nroles = [\"requester\", \"approver\"]\n\n");
        }
        for action in oversight::ActionKind::ALL {
            toml += &format!("[oversight.policy.{action}]\napprovals = 2\ndistinct_jurisdictions = 2\nexpiry_secs = 3600\n");
            match action {
                oversight::ActionKind::EndMeeting => toml += "bar = { HK = [\"CN\"] }\n",
                oversight::ActionKind::SuspendAccount => toml += "verified_evidence = true\n",
                _ => {}
            }
            toml += "\n";
        }
        let config = keys.path().join("conclave.toml");
        std::fs::write(&config, toml).unwrap();
        let data = tempfile::tempdir().unwrap();
        let mut server = serve(data.path(), &["--config", config.to_str().unwrap()], &[]);
        let (http, _) = server.listening().await;
        Insiders {
            keys,
            data,
            server,
            base: format!("http://{http}"),
        }
    }

    fn key(&self, staff: &str) -> PathBuf {
        self.keys.path().join(format!("{staff}.key"))
    }

    /// Runs `conclave admin <args> --key … --staff-id … --server …`.
    async fn admin(&self, staff: &str, args: &[&str]) -> (bool, String, String) {
        let mut all: Vec<String> = vec!["admin".into()];
        all.extend(args.iter().map(|a| a.to_string()));
        all.extend([
            "--key".into(),
            self.key(staff).display().to_string(),
            "--staff-id".into(),
            staff.into(),
            "--server".into(),
            self.base.clone(),
        ]);
        let mut child = conclave(all, &[]);
        let status = child.exit_within(EXIT_TIMEOUT).await;
        (status.success(), child.stdout(), child.stderr())
    }

    async fn request(
        &self,
        staff: &str,
        action: &str,
        subject: &str,
        region: &str,
        extra: &[&str],
    ) -> String {
        // `--subject=ID`: ids are base64url and may start with '-'.
        let subject = format!("--subject={subject}");
        let mut args = vec![
            action,
            subject.as_str(),
            "--region",
            region,
            "--reason",
            "Court order 123",
        ];
        args.extend_from_slice(extra);
        let mut full = vec!["request"];
        full.extend(args);
        let (ok, out, err) = self.admin(staff, &full).await;
        assert!(ok, "request failed: {err}");
        out.trim().to_owned()
    }

    async fn approve(&self, staff: &str, id: &str) -> (bool, String, String) {
        self.admin(staff, &["approve", id]).await
    }

    async fn tags(&self) -> Vec<String> {
        let http = reqwest::Client::new();
        let note = http
            .get(format!("{}/api/v1/ledger/checkpoint", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let size: u64 = note.lines().nth(1).unwrap().parse().unwrap();
        let page: proto::ledger::LedgerEntries = http
            .get(format!(
                "{}/api/v1/ledger/entries?start=0&end={size}",
                self.base
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page.entries
            .iter()
            .map(|row| {
                let data = base64::engine::general_purpose::STANDARD
                    .decode(&row.data)
                    .unwrap();
                ledger::Entry::decode(&data)
                    .unwrap()
                    .tag()
                    .as_str()
                    .to_owned()
            })
            .collect()
    }

    async fn host_with_meeting(&self, name: &str) -> (client::Api, String, proto::ids::MeetingId) {
        let api = client::Api::new(&self.base);
        api.register(name, PASSWORD).await.unwrap();
        let token = api.login(name, PASSWORD).await.unwrap().token;
        let meeting = api
            .create_meeting(&token, &NewMeeting::default())
            .await
            .unwrap()
            .id;
        (api, token, meeting)
    }

    async fn seated(
        &self,
        api: &client::Api,
        token: &str,
        meeting: &proto::ids::MeetingId,
    ) -> client::Signaling {
        let mut ws = client::Signaling::connect(&api.ws_url()).await.unwrap();
        ws.hello_token(token).await.unwrap();
        ws.send(&ClientMessage::Join {
            meeting_id: meeting.clone(),
            passcode: None,
        })
        .await
        .unwrap();
        ws.recv_until("joined", |m| {
            matches!(m, ServerMessage::Joined { .. }).then_some(())
        })
        .await
        .unwrap();
        ws
    }

    async fn pinned_log(&self) -> PinnedLog {
        let key: LedgerKey = reqwest::get(format!("{}/api/v1/ledger/key", self.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        PinnedLog {
            origin: key.origin,
            key: key.verifier_key.parse().unwrap(),
        }
    }

    async fn audit(&self, state: &Path) -> (bool, String, String) {
        let mut child = conclave(
            [
                "audit",
                "--server",
                &self.base,
                "--state",
                state.to_str().unwrap(),
            ],
            &[],
        );
        let status = child.exit_within(EXIT_TIMEOUT).await;
        (status.success(), child.stdout(), child.stderr())
    }
}

fn count(tags: &[String], tag: &str) -> usize {
    tags.iter().filter(|t| t.as_str() == tag).count()
}

#[tokio::test]
async fn scenario_1_one_staff_member_alone_cannot_end_a_meeting_and_the_attempt_is_logged() {
    let insiders = Insiders::start().await;
    let (api, _, meeting) = insiders.host_with_meeting("hostess").await;
    let id = insiders
        .request("alice", "end_meeting", meeting.as_str(), "DE", &[])
        .await;
    let (ok, _, err) = insiders.approve("alice", &id).await;
    assert!(!ok);
    assert!(err.contains("self_approval"), "{err}");
    let tags = insiders.tags().await;
    assert_eq!(count(&tags, "oversight.request"), 1, "{tags:?}");
    assert_eq!(count(&tags, "oversight.refusal"), 1, "{tags:?}");
    assert_eq!(count(&tags, "oversight.execution"), 0, "{tags:?}");
    assert!(api.meeting(&meeting).await.unwrap().ended_at.is_none());
}

#[tokio::test]
async fn scenario_2_two_approvers_of_one_jurisdiction_do_not_make_a_quorum() {
    let insiders = Insiders::start().await;
    let (api, _, meeting) = insiders.host_with_meeting("hostess").await;
    let id = insiders
        .request("carol", "end_meeting", meeting.as_str(), "DE", &[])
        .await;
    assert!(insiders.approve("alice", &id).await.0);
    let (ok, out, err) = insiders.approve("bob", &id).await;
    assert!(ok, "{err}");
    assert!(out.contains("\"pending\""), "{out}");
    assert_eq!(count(&insiders.tags().await, "oversight.execution"), 0);
    assert!(api.meeting(&meeting).await.unwrap().ended_at.is_none());
}

#[tokio::test]
async fn scenario_3_self_approval_is_refused_and_does_not_count() {
    let insiders = Insiders::start().await;
    let (api, _, meeting) = insiders.host_with_meeting("hostess").await;
    let id = insiders
        .request("alice", "end_meeting", meeting.as_str(), "DE", &[])
        .await;
    assert!(!insiders.approve("alice", &id).await.0);
    let (ok, out, err) = insiders.approve("carol", &id).await;
    assert!(ok, "{err}");
    assert!(
        out.contains("\"pending\""),
        "one outside approval must not execute: {out}"
    );
    assert!(api.meeting(&meeting).await.unwrap().ended_at.is_none());
}

#[tokio::test]
async fn scenario_4_an_approver_from_a_barred_jurisdiction_is_refused() {
    let insiders = Insiders::start().await;
    let (api, _, meeting) = insiders.host_with_meeting("hostess").await;
    let id = insiders
        .request("alice", "end_meeting", meeting.as_str(), "HK", &[])
        .await;
    let (ok, _, err) = insiders.approve("erin", &id).await;
    assert!(!ok, "a CN approver counted for HK");
    assert!(err.contains("refused"), "{err}");
    assert!(insiders.approve("carol", &id).await.0);
    assert_eq!(count(&insiders.tags().await, "oversight.execution"), 0);
    assert!(api.meeting(&meeting).await.unwrap().ended_at.is_none());
}

#[tokio::test]
async fn scenario_5_a_suspension_on_a_screenshot_is_refused() {
    let insiders = Insiders::start().await;
    let api = client::Api::new(&insiders.base);
    let account = api.register("suspect", PASSWORD).await.unwrap().id;
    let screenshot = insiders.keys.path().join("screenshot.png");
    std::fs::write(&screenshot, b"\x89PNG not really").unwrap();
    let subject = format!("--subject={}", account.as_str());
    let mut args = vec![
        "request",
        "suspend_account",
        subject.as_str(),
        "--region",
        "DE",
        "--reason",
        "abuse",
    ];
    args.extend(["--evidence", screenshot.to_str().unwrap()]);
    let (ok, _, err) = insiders.admin("alice", &args).await;
    assert!(!ok, "a suspension on a screenshot was filed");
    assert!(err.contains("refused"), "{err}");
    let tags = insiders.tags().await;
    assert_eq!(count(&tags, "oversight.execution"), 0, "{tags:?}");
}

#[tokio::test]
async fn scenario_7_a_quorum_ends_a_meeting_the_clients_verify_the_order_the_host_gets_a_proven_notice_and_audit_passes(
) {
    let insiders = Insiders::start().await;
    let (api, token, meeting) = insiders.host_with_meeting("hostess").await;
    let mut host = insiders.seated(&api, &token, &meeting).await;
    let id = insiders
        .request("alice", "end_meeting", meeting.as_str(), "DE", &[])
        .await;
    assert!(insiders.approve("bob", &id).await.0);
    let (ok, out, err) = insiders.approve("carol", &id).await;
    assert!(ok, "{err}");
    assert!(out.contains("\"executed\""), "{out}");
    let log = insiders.pinned_log().await;
    let end = host
        .meeting_end(&reqwest::Client::new(), &insiders.base, &log, &meeting)
        .await;
    assert!(
        matches!(end, MeetingEnd::EndedByVerifiedOrder(_)),
        "{}",
        end.statement()
    );
    assert!(api.meeting(&meeting).await.unwrap().ended_at.is_some());
    // The host (the subject of an end_meeting) gets the notice, with a
    // proof that verifies against the pinned log key; nobody else does.
    let http = reqwest::Client::new();
    let notices: Vec<serde_json::Value> = http
        .get(format!("{}/api/v1/notices", insiders.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(notices.len(), 1, "{notices:?}");
    let notice = &notices[0];
    assert_eq!(notice["request"], id.as_str());
    assert_eq!(notice["reasons"], "Court order 123");
    let index = notice["ledger_index"].as_u64().unwrap();
    let checkpoint = ledger::Checkpoint::open(
        notice["checkpoint"].as_str().unwrap().as_bytes(),
        &log.origin,
        std::slice::from_ref(&log.key),
    )
    .unwrap();
    let page: proto::ledger::LedgerEntries = http
        .get(format!(
            "{}/api/v1/ledger/entries?start={index}&end={}",
            insiders.base,
            index + 1
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let data = base64::engine::general_purpose::STANDARD
        .decode(&page.entries[0].data)
        .unwrap();
    let proof: Vec<ledger::Hash> = notice["inclusion_proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| ledger::Hash::from_base64(h.as_str().unwrap()).unwrap())
        .collect();
    ledger::verify_inclusion(
        &ledger::leaf_hash(&data),
        ledger::LeafIndex(index),
        checkpoint.checkpoint().size(),
        &proof,
        &checkpoint.checkpoint().root(),
    )
    .unwrap();
    assert_eq!(
        ledger::Entry::decode(&data).unwrap().tag().as_str(),
        "oversight.execution"
    );
    let stranger = client::Api::new(&insiders.base);
    stranger.register("stranger", PASSWORD).await.unwrap();
    let stranger = stranger.login("stranger", PASSWORD).await.unwrap().token;
    let none: Vec<serde_json::Value> = http
        .get(format!("{}/api/v1/notices", insiders.base))
        .bearer_auth(&stranger)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");

    let (shown_ok, shown, _) = insiders.admin("dave", &["show", &id]).await;
    assert!(shown_ok && shown.contains("\"executed\""), "{shown}");
    let state = tempfile::tempdir().unwrap();
    let (ok, out, err) = insiders.audit(&state.path().join("audit.json")).await;
    assert!(ok, "audit failed: {out} {err}");
}

#[tokio::test]
async fn scenario_9_a_server_that_drops_a_meeting_without_an_order_is_named() {
    let mut insiders = Insiders::start().await;
    let (api, token, meeting) = insiders.host_with_meeting("hostess").await;
    let mut host = insiders.seated(&api, &token, &meeting).await;
    let log = insiders.pinned_log().await;
    insiders.server.terminate();
    let end = host
        .meeting_end(&reqwest::Client::new(), &insiders.base, &log, &meeting)
        .await;
    assert!(
        matches!(end, MeetingEnd::EndedWithoutOrder { .. }),
        "{}",
        end.statement()
    );
    assert!(end
        .statement()
        .starts_with("the server ended this meeting without an order"));
    insiders.server.exit_within(EXIT_TIMEOUT).await;
}

#[tokio::test]
async fn scenario_8_an_oversight_row_altered_in_the_database_fails_the_audit_naming_its_index() {
    let insiders = Insiders::start().await;
    let (_, _, meeting) = insiders.host_with_meeting("hostess").await;
    insiders
        .request("alice", "end_meeting", meeting.as_str(), "DE", &[])
        .await;
    let state = tempfile::tempdir().unwrap();
    let state = state.path().join("audit.json");
    let (ok, out, err) = insiders.audit(&state).await;
    assert!(ok, "the healthy log fails the audit: {out} {err}");

    let index = insiders
        .tags()
        .await
        .iter()
        .position(|t| t == "oversight.request")
        .unwrap();
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        insiders.data.path().join(storage::SQLITE_FILE).display()
    ))
    .await
    .unwrap();
    let (entry,): (Vec<u8>,) = sqlx::query_as("SELECT entry FROM ledger_entries WHERE idx = $1")
        .bind(index as i64)
        .fetch_one(&db)
        .await
        .unwrap();
    // The insider rewrites the stated reasons: "Court order 123" -> "923".
    let at = entry.windows(3).position(|w| w == b"123").unwrap();
    let mut forged = entry;
    forged[at] = b'9';
    sqlx::query("DROP TRIGGER ledger_entries_no_update")
        .execute(&db)
        .await
        .unwrap();
    sqlx::query("UPDATE ledger_entries SET entry = $1 WHERE idx = $2")
        .bind(&forged)
        .bind(index as i64)
        .execute(&db)
        .await
        .unwrap();
    let (ok, out, err) = insiders.audit(&state).await;
    assert!(!ok, "the audit passed an altered log: {out}");
    assert!(err.contains(&format!("index {index}")), "{err}");
}

#[tokio::test]
async fn a_restarted_server_rebuilds_its_staff_from_the_ledger_without_the_toml() {
    let mut insiders = Insiders::start().await;
    let genesis = insiders.tags().await;
    insiders.server.terminate();
    assert!(insiders.server.exit_within(EXIT_TIMEOUT).await.success());
    // Same data directory, no [oversight] table this time.
    let mut server = serve(insiders.data.path(), &[], &[]);
    let (http, _) = server.listening().await;
    insiders.server = server;
    insiders.base = format!("http://{http}");
    let (ok, out, err) = insiders.admin("carol", &["list"]).await;
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "[]");
    assert_eq!(
        insiders.tags().await,
        genesis,
        "the genesis was written twice"
    );
}
