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
        Insiders::start_with(true).await
    }

    /// `verified_suspensions: false` lets a suspension rest on a stated
    /// reason alone, for tests of what follows a suspension.
    async fn start_with(verified_suspensions: bool) -> Insiders {
        let keys = tempfile::tempdir().unwrap();
        // Every account here registers from 127.0.0.1; scenario 10's fifty would hit
        // the per-address limit on registrations meant for one person's address.
        let mut toml = String::from(
            "auth_burst = 1000\nauth_per_minute = 1000\n\n[oversight]\ndefault_region = \"DE\"\n\n",
        );
        for (id, country) in STAFF {
            let path = keys.path().join(format!("{id}.key"));
            let mut child = conclave(["admin", "keygen", "--out", path.to_str().unwrap()], &[]);
            assert!(
                child.exit_within(EXIT_TIMEOUT).await.success(),
                "{}",
                child.stderr()
            );
            let public = child.stdout().trim().to_owned();
            toml += &format!("[[oversight.staff]]\nid = \"{id}\"\npublic_key = \"{public}\"\njurisdiction = \"{country}\"\nroles = [\"requester\", \"approver\", \"reviewer\"]\n\n");
        }
        for action in oversight::ActionKind::ALL {
            toml += &format!("[oversight.policy.{action}]\napprovals = 2\ndistinct_jurisdictions = 2\nexpiry_secs = 3600\n");
            match action {
                oversight::ActionKind::EndMeeting => toml += "bar = { HK = [\"CN\"] }\n",
                oversight::ActionKind::SuspendAccount => {
                    toml += &format!("verified_evidence = {verified_suspensions}\n")
                }
                oversight::ActionKind::DiscloseAccountData => {
                    toml += "max_notice_delay_secs = 30\n"
                }
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
        self.host_in_region_with_meeting(name, None).await
    }

    /// A host that declared `region` at registration (else the server's default, DE).
    async fn host_in_region_with_meeting(
        &self,
        name: &str,
        region: Option<&str>,
    ) -> (client::Api, String, proto::ids::MeetingId) {
        let api = client::Api::new(&self.base);
        match region {
            Some(region) => api.register_in(name, PASSWORD, region).await.unwrap(),
            None => api.register(name, PASSWORD).await.unwrap(),
        };
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
    let (api, _, meeting) = insiders
        .host_in_region_with_meeting("hostess", Some("HK"))
        .await;
    // Erin (CN) cannot place the Hong Kong host elsewhere to slip past the bar: the
    // region is the one on record, not the filer's word.
    let subject = format!("--subject={}", meeting.as_str());
    let (ok, _, err) = insiders
        .admin(
            "erin",
            &[
                "request",
                "end_meeting",
                &subject,
                "--region",
                "BR",
                "--reason",
                "spam",
            ],
        )
        .await;
    assert!(!ok, "a request naming the wrong region was filed");
    assert!(err.contains("region_mismatch"), "{err}");
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

// Notices, appeals and disclosures.

impl Insiders {
    /// Stops the server and starts it again on the same data directory,
    /// without the TOML: everything must come back from storage and the log.
    async fn restart(&mut self) {
        self.server.terminate();
        assert!(self.server.exit_within(EXIT_TIMEOUT).await.success());
        let mut server = serve(self.data.path(), &[], &[]);
        let (http, _) = server.listening().await;
        self.server = server;
        self.base = format!("http://{http}");
    }

    async fn notices(&self, token: &str) -> Vec<serde_json::Value> {
        let response = reqwest::Client::new()
            .get(format!("{}/api/v1/notices", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{response:?}");
        response.json().await.unwrap()
    }

    /// `POST /api/v1/notices/{id}/appeal`; the status and the JSON answer.
    async fn appeal(&self, token: Option<&str>, id: &str, statement: &str) -> (u16, String) {
        let mut call = reqwest::Client::new()
            .post(format!("{}/api/v1/notices/{id}/appeal", self.base))
            .json(&serde_json::json!({ "statement": statement }));
        if let Some(token) = token {
            call = call.bearer_auth(token);
        }
        let response = call.send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn user(&self, name: &str) -> (proto::ids::AccountId, String) {
        let api = client::Api::new(&self.base);
        let id = api.register(name, PASSWORD).await.unwrap().id;
        let token = api.login(name, PASSWORD).await.unwrap().token;
        (id, token)
    }

    /// A signaling connection signed in as `token`, not in any meeting.
    async fn signed_in(&self, token: &str) -> client::Signaling {
        let api = client::Api::new(&self.base);
        let mut ws = client::Signaling::connect(&api.ws_url()).await.unwrap();
        ws.hello_token(token).await.unwrap();
        ws
    }
}

/// Checks a notice (REST JSON or signaling event, same fields) against the
/// pinned log key with the `ledger` crate; returns the tag of the entry it
/// proves.
async fn verify_notice(insiders: &Insiders, notice: &serde_json::Value) -> String {
    let log = insiders.pinned_log().await;
    let index = notice["ledger_index"].as_u64().unwrap();
    let checkpoint = ledger::Checkpoint::open(
        notice["checkpoint"].as_str().unwrap().as_bytes(),
        &log.origin,
        std::slice::from_ref(&log.key),
    )
    .unwrap();
    let page: proto::ledger::LedgerEntries = reqwest::get(format!(
        "{}/api/v1/ledger/entries?start={index}&end={}",
        insiders.base,
        index + 1
    ))
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
    .expect("the notice's inclusion proof verifies against the pinned log key");
    ledger::Entry::decode(&data)
        .unwrap()
        .tag()
        .as_str()
        .to_owned()
}

/// Every IP address literal in `text`: runs of hex digits, dots and colons
/// that parse as an address (the unspecified `::` aside, which two colons in
/// binary data make by chance).
fn ip_literals(text: &[u8]) -> Vec<String> {
    text.split(|b| !(b.is_ascii_hexdigit() || *b == b'.' || *b == b':'))
        .filter_map(|token| std::str::from_utf8(token).ok())
        .map(|token| token.trim_end_matches(['.', ':']).trim_start_matches('.'))
        .filter(|token| token.contains('.') || token.matches(':').count() >= 2)
        .filter(|token| {
            token
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| !ip.is_unspecified())
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn ip_literals_finds_addresses_and_nothing_else() {
    assert_eq!(
        ip_literals(b"{\"x\":\"127.0.0.1\",\"y\":\"seen at ::1 and fe80::2\"}"),
        ["127.0.0.1", "::1", "fe80::2"]
    );
    assert!(ip_literals(b"{\"created_at\":1700000000,\"v\":\"1.5\",\"t\":\"12:30\"}").is_empty());
}

#[tokio::test]
async fn scenario_11_a_disclosure_of_every_field_contains_no_ip_address_because_none_is_stored() {
    let insiders = Insiders::start().await;
    // Real clients in real meetings: the server has seen their addresses.
    let (subject, token) = insiders.user("subject").await;
    let api = client::Api::new(&insiders.base);
    let meeting = api
        .create_meeting(&token, &NewMeeting::default())
        .await
        .unwrap()
        .id;
    let _seated = insiders.seated(&api, &token, &meeting).await;
    let (other_api, other_token, other_meeting) = insiders.host_with_meeting("witness").await;
    let _other = insiders
        .seated(&other_api, &other_token, &other_meeting)
        .await;

    let mut args = vec![];
    for field in oversight::AccountField::ALL {
        args.extend(["--field", field.name()]);
    }
    args.extend(["--recipient", "Staatsanwaltschaft Berlin, 123 Js 456/23"]);
    let id = insiders
        .request(
            "alice",
            "disclose_account_data",
            subject.as_str(),
            "DE",
            &args,
        )
        .await;
    // Nothing before a quorum.
    let (ok, _, err) = insiders.admin("alice", &["disclosure", &id]).await;
    assert!(!ok && err.contains("not_executed"), "{err}");
    assert!(insiders.approve("bob", &id).await.0);
    let (ok, out, err) = insiders.approve("carol", &id).await;
    assert!(ok && out.contains("\"executed\""), "{out} {err}");

    let (ok, disclosure, err) = insiders.admin("alice", &["disclosure", &id]).await;
    assert!(ok, "{err}");
    let json: serde_json::Value = serde_json::from_str(&disclosure).unwrap();
    assert_eq!(json["account"], subject.as_str());
    assert_eq!(json["fields"]["username"], "subject");
    for field in oversight::AccountField::ALL {
        assert!(
            json["fields"].get(field.name()).is_some(),
            "{} missing: {json}",
            field.name()
        );
    }
    assert!(!disclosure.contains("127.0.0.1"), "{disclosure}");
    assert_eq!(
        ip_literals(disclosure.as_bytes()),
        Vec::<String>::new(),
        "{disclosure}"
    );
    // Only to its requester, and only to staff.
    let (ok, _, err) = insiders.admin("dave", &["disclosure", &id]).await;
    assert!(!ok && err.contains("403"), "{err}");
    let anonymous = reqwest::get(format!(
        "{}/api/v1/staff/requests/{id}/disclosure",
        insiders.base
    ))
    .await
    .unwrap();
    assert_eq!(anonymous.status(), 401);
    let as_user = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/staff/requests/{id}/disclosure",
            insiders.base
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(as_user.status(), 401);

    // The subject is told, with a proof.
    let notices = insiders.notices(&token).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(
        verify_notice(&insiders, &notices[0]).await,
        "oversight.execution"
    );

    // No address anywhere in the data directory either.
    for file in std::fs::read_dir(insiders.data.path()).unwrap() {
        let path = file.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(9).any(|w| w == b"127.0.0.1"),
            "{} holds 127.0.0.1",
            path.display()
        );
        assert_eq!(
            ip_literals(&bytes),
            Vec::<String>::new(),
            "{} holds an address",
            path.display()
        );
    }
}

#[tokio::test]
async fn scenario_12_a_delayed_disclosure_is_sealed_then_opened_and_noticed_on_its_own() {
    let insiders = Insiders::start().await;
    let (subject, token) = insiders.user("subject").await;
    let mut ws = insiders.signed_in(&token).await;
    let args = [
        "--field",
        "username",
        "--recipient",
        "Tribunal judiciaire de Paris, RG 23/123",
        "--notice-delay-secs",
        "4",
    ];
    let id = insiders
        .request(
            "alice",
            "disclose_account_data",
            subject.as_str(),
            "DE",
            &args,
        )
        .await;
    assert!(insiders.approve("bob", &id).await.0);
    let (ok, out, err) = insiders.approve("carol", &id).await;
    assert!(ok && out.contains("\"executed\""), "{out} {err}");
    // Sealed: the log holds the commitment only, the subject has no notice,
    // and nothing public names the subject.
    let tags = insiders.tags().await;
    assert_eq!(count(&tags, "oversight.commitment"), 1, "{tags:?}");
    assert_eq!(count(&tags, "oversight.opening"), 0, "{tags:?}");
    assert_eq!(count(&tags, "oversight.execution"), 0, "{tags:?}");
    assert!(insiders.notices(&token).await.is_empty());
    // The requester has the data already.
    let (ok, disclosure, err) = insiders.admin("alice", &["disclosure", &id]).await;
    assert!(ok && disclosure.contains("\"subject\""), "{err}");

    // Within ~10 s the server opens it and tells the subject by itself.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(12);
    let event = loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match ws.recv_within(left).await.expect("no notice event in time") {
            ServerMessage::Notice { notice } => break notice,
            _ => continue,
        }
    };
    assert_eq!(event.request, id);
    assert_eq!(event.action, "disclose_account_data");
    let event = serde_json::to_value(&event).unwrap();
    assert_eq!(verify_notice(&insiders, &event).await, "oversight.opening");
    let notices = insiders.notices(&token).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0]["ledger_index"], event["ledger_index"]);
    assert_eq!(notices[0]["reasons"], "Court order 123");
    let tags = insiders.tags().await;
    assert_eq!(count(&tags, "oversight.opening"), 1, "{tags:?}");
    assert_eq!(count(&tags, "oversight.notice"), 1, "{tags:?}");
    let state = tempfile::tempdir().unwrap();
    let (ok, out, err) = insiders.audit(&state.path().join("audit.json")).await;
    assert!(ok, "audit failed: {out} {err}");
}

#[tokio::test]
async fn an_appeal_is_decided_only_by_reviewers_outside_the_order_and_an_overturning_is_noticed() {
    let insiders = Insiders::start().await;
    let (api, token, meeting) = insiders.host_with_meeting("hostess").await;
    let mut ws = insiders.signed_in(&token).await;
    let id = insiders
        .request("alice", "end_meeting", meeting.as_str(), "DE", &[])
        .await;
    assert!(insiders.approve("bob", &id).await.0);
    assert!(insiders.approve("carol", &id).await.0);
    // The host is told over the socket, with a proof.
    let event = ws
        .recv_until("notice", |m| match m {
            ServerMessage::Notice { notice } => Some(notice.clone()),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(event.request, id);
    let event = serde_json::to_value(&event).unwrap();
    assert_eq!(
        verify_notice(&insiders, &event).await,
        "oversight.execution"
    );

    // Only the signed-in host may appeal, once, within 8000 bytes.
    assert_eq!(insiders.appeal(None, &id, "no").await.0, 401);
    let (_, stranger) = insiders.user("stranger").await;
    let (status, body) = insiders.appeal(Some(&stranger), &id, "not mine").await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = insiders.appeal(Some(&token), &id, &"x".repeat(8001)).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = insiders
        .appeal(Some(&token), &id, "The meeting was a lawful assembly")
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(body.contains("\"pending\""), "{body}");
    let (status, body) = insiders.appeal(Some(&token), &id, "again").await;
    assert_eq!(status, 403, "{body}");

    let reviewer = |staff: &str| format!("{staff}={}", insiders.key(staff).display());
    // Carol approved the order and Alice requested it: neither may review
    // it. Each attempt is refused and logged.
    let refusals = count(&insiders.tags().await, "oversight.refusal");
    for party in ["carol", "alice"] {
        let (ok, _, err) = insiders
            .admin(
                "dave",
                &[
                    "appeal-decide",
                    &id,
                    "--decision",
                    "overturn",
                    "--reason",
                    "No order",
                    "--reviewer",
                    &reviewer(party),
                ],
            )
            .await;
        assert!(!ok && err.contains("reviewer_not_independent"), "{err}");
    }
    let tags = insiders.tags().await;
    assert_eq!(count(&tags, "oversight.appeal_decision"), 0);
    assert_eq!(count(&tags, "oversight.refusal"), refusals + 2, "{tags:?}");
    // A decision call without a staff signature is refused before anything.
    let unsigned = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/staff/appeals/{id}/decision",
            insiders.base
        ))
        .bearer_auth(&token)
        .body(vec![0u8; 8])
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);

    // Dave (US) and Erin (CN) took no part: they overturn it.
    let (ok, out, err) = insiders
        .admin(
            "dave",
            &[
                "appeal-decide",
                &id,
                "--decision",
                "overturn",
                "--reason",
                "The court order did not cover this meeting",
                "--reviewer",
                &reviewer("erin"),
            ],
        )
        .await;
    assert!(ok, "{err}");
    assert!(out.contains("\"overturned\""), "{out}");
    let tags = insiders.tags().await;
    assert_eq!(count(&tags, "oversight.appeal"), 1, "{tags:?}");
    assert_eq!(count(&tags, "oversight.appeal_decision"), 1, "{tags:?}");
    let decided = ws
        .recv_until("decided notice", |m| match m {
            ServerMessage::Notice { notice } if notice.appeal.is_some() => Some(notice.clone()),
            _ => None,
        })
        .await
        .unwrap();
    let appeal = decided.appeal.unwrap();
    assert_eq!(appeal.state, "overturned");
    assert!(appeal.effect.unwrap().contains("nothing to undo"));
    let notices = insiders.notices(&token).await;
    assert_eq!(notices[0]["appeal"]["state"], "overturned");
    assert!(api.meeting(&meeting).await.unwrap().ended_at.is_some());
}

#[tokio::test]
async fn a_restarted_server_keeps_pending_requests_sealed_disclosures_and_notices() {
    let mut insiders = Insiders::start().await;
    let (_, token, meeting) = insiders.host_with_meeting("hostess").await;
    let (subject, _) = insiders.user("subject").await;
    let id = insiders
        .request("alice", "end_meeting", meeting.as_str(), "DE", &[])
        .await;
    assert!(insiders.approve("bob", &id).await.0);
    let sealed = insiders
        .request(
            "alice",
            "disclose_account_data",
            subject.as_str(),
            "DE",
            &[
                "--field",
                "created_at",
                "--recipient",
                "Court 1",
                "--notice-delay-secs",
                "30",
            ],
        )
        .await;

    insiders.restart().await;
    let (ok, listed, err) = insiders.admin("carol", &["list"]).await;
    assert!(ok, "{err}");
    assert!(listed.contains(&id) && listed.contains(&sealed), "{listed}");
    let (ok, out, err) = insiders.approve("carol", &id).await;
    assert!(ok && out.contains("\"executed\""), "{out} {err}");
    assert!(insiders.approve("bob", &sealed).await.0);
    let (ok, out, err) = insiders.approve("dave", &sealed).await;
    assert!(ok && out.contains("\"executed\""), "{out} {err}");
    assert_eq!(count(&insiders.tags().await, "oversight.commitment"), 1);
    let before = insiders.notices(&token).await;
    assert_eq!(before.len(), 1, "{before:?}");

    insiders.restart().await;
    let after = insiders.notices(&token).await;
    assert_eq!(after.len(), 1, "the notice was forgotten: {after:?}");
    assert_eq!(after[0]["request"], before[0]["request"]);
    assert_eq!(after[0]["ledger_index"], before[0]["ledger_index"]);
    assert_eq!(
        verify_notice(&insiders, &after[0]).await,
        "oversight.execution"
    );
    let (ok, shown, err) = insiders.admin("dave", &["show", &sealed]).await;
    assert!(ok && shown.contains("\"executed\""), "{shown} {err}");
    let (ok, _, err) = insiders.admin("alice", &["disclosure", &sealed]).await;
    assert!(ok, "{err}");
}

#[tokio::test]
async fn an_overturned_suspension_reinstates_the_account_that_appealed_it() {
    let insiders = Insiders::start_with(false).await;
    let (suspect, token) = insiders.user("suspect").await;
    let api = client::Api::new(&insiders.base);
    let id = insiders
        .request("alice", "suspend_account", suspect.as_str(), "DE", &[])
        .await;
    assert!(insiders.approve("bob", &id).await.0);
    assert!(insiders.approve("carol", &id).await.0);
    // Suspended: the token no longer works for anything else...
    assert!(api
        .create_meeting(&token, &NewMeeting::default())
        .await
        .is_err());
    // ...but it still reads the notice and appeals.
    let notices = insiders.notices(&token).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0]["action"], "suspend_account");
    let anonymous = reqwest::get(format!("{}/api/v1/notices", insiders.base))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let (status, body) = insiders
        .appeal(Some(&token), &id, "I never wrote that")
        .await;
    assert_eq!(status, 201, "{body}");

    let reviewer = format!("erin={}", insiders.key("erin").display());
    let (ok, out, err) = insiders
        .admin(
            "dave",
            &[
                "appeal-decide",
                &id,
                "--decision",
                "overturn",
                "--reason",
                "The messages were someone else's",
                "--reviewer",
                &reviewer,
            ],
        )
        .await;
    assert!(ok, "{err}");
    assert!(out.contains("the account was reinstated"), "{out}");
    api.create_meeting(&token, &NewMeeting::default())
        .await
        .expect("the reinstated account works again");
}

// Evidence.

/// Logs the Ed25519 key made from `seed` as the token's account's identity key, so the
/// account can take part in a meeting's MLS group.
async fn register_identity_key(base: &str, token: &str, seed: u8) {
    use ed25519_dalek::Signer as _;
    let http = reqwest::Client::new();
    let me: proto::rest::Account = http
        .get(format!("{base}/api/v1/accounts/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
    let public = key.verifying_key().to_bytes();
    let mut signed = server::api::accounts::IDENTITY_KEY_CONTEXT.to_vec();
    signed.extend_from_slice(me.id.as_str().as_bytes());
    signed.push(b'\n');
    signed.extend_from_slice(&public);
    let b64 = base64::engine::general_purpose::STANDARD;
    let response = http
        .put(format!("{base}/api/v1/accounts/me/identity-key"))
        .bearer_auth(token)
        .json(&serde_json::json!({
            "public_key": b64.encode(public),
            "signature": b64.encode(key.sign(&signed).to_bytes()),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
}

/// A native participant signed in as the token's account, signing with the seed's key.
async fn join_as(
    base: &str,
    meeting: &proto::ids::MeetingId,
    token: &str,
    seed: u8,
) -> client::Participant {
    let mut config = client::ParticipantConfig::guest(base, meeting.clone(), "member");
    config.identity = client::Identity::Token(token.to_owned());
    config.identity_key = Some(std::sync::Arc::new(
        e2ee::identity::IdentityKeyPair::from_secret([seed; 32]),
    ));
    config.media.publish = vec![proto::signaling::MediaSource::Audio];
    client::Participant::join(config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_6_verified_evidence_against_a_participant_cannot_suspend_the_host() {
    let insiders = Insiders::start().await;
    let (host_account, host_token) = insiders.user("hostess").await;
    let (xavier_account, xavier_token) = insiders.user("xavier").await;
    let meeting = client::Api::new(&insiders.base)
        .create_meeting(
            &host_token,
            &NewMeeting {
                lobby: Some(false),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id;
    register_identity_key(&insiders.base, &host_token, 1).await;
    register_identity_key(&insiders.base, &xavier_token, 2).await;
    let host = join_as(&insiders.base, &meeting, &host_token, 1).await;
    let xavier = join_as(&insiders.base, &meeting, &xavier_token, 2).await;
    // Xavier writes something abusive; the host's client receives it franked.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while host.report().await.unwrap().mls_roster.len() < 2
        || xavier.report().await.unwrap().mls_roster.len() < 2
    {
        assert!(tokio::time::Instant::now() < deadline, "no group of two");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    xavier.send_chat("a threat against the host").await.unwrap();
    let opening = loop {
        let report = host.report().await.unwrap();
        if let Some(chat) = report.chats.first() {
            break chat.opening.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "no chat arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let file = insiders.keys.path().join("report.json");
    std::fs::write(&file, serde_json::to_vec(&opening).unwrap()).unwrap();
    let franked = file.to_str().unwrap();

    // The insider points the verified evidence about Xavier at the host: refused, logged.
    let refusals = count(&insiders.tags().await, "oversight.refusal");
    let subject = format!("--subject={}", host_account.as_str());
    let (ok, _, err) = insiders
        .admin(
            "alice",
            &[
                "request",
                "suspend_account",
                &subject,
                "--region",
                "DE",
                "--reason",
                "abuse",
                "--franked",
                franked,
            ],
        )
        .await;
    assert!(!ok, "evidence about another account grounded a suspension");
    assert!(err.contains("evidence_about_other"), "{err}");
    let tags = insiders.tags().await;
    assert_eq!(count(&tags, "oversight.refusal"), refusals + 1, "{tags:?}");

    // A forged opening is not evidence at all.
    let mut forged = opening.clone();
    forged.sender_account_id = host_account.as_str().to_owned();
    let forged_file = insiders.keys.path().join("forged.json");
    std::fs::write(&forged_file, serde_json::to_vec(&forged).unwrap()).unwrap();
    let (ok, _, err) = insiders
        .admin(
            "alice",
            &[
                "request",
                "suspend_account",
                &subject,
                "--region",
                "DE",
                "--reason",
                "abuse",
                "--franked",
                forged_file.to_str().unwrap(),
            ],
        )
        .await;
    assert!(!ok, "a forged opening was taken as evidence");
    assert!(err.contains("does not verify"), "{err}");

    // The same evidence against its sender grounds the suspension, with a quorum.
    let id = insiders
        .request(
            "alice",
            "suspend_account",
            xavier_account.as_str(),
            "DE",
            &["--franked", franked],
        )
        .await;
    assert!(insiders.approve("bob", &id).await.0);
    let (ok, out, err) = insiders.approve("carol", &id).await;
    assert!(ok, "{err}");
    assert!(out.contains("\"executed\""), "{out}");
    assert_eq!(count(&insiders.tags().await, "oversight.execution"), 1);
    for p in [host, xavier] {
        let _ = p.leave().await;
    }
}

// User reports.

/// Reports `subject` as `token`'s account; gives the status and the JSON answer.
async fn report(
    base: &str,
    token: &str,
    subject: &proto::ids::AccountId,
    meeting: Option<&proto::ids::MeetingId>,
) -> (u16, Option<String>, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/reports"))
        .bearer_auth(token)
        .json(&serde_json::json!({
            "subject_account_id": subject.as_str(),
            "meeting_id": meeting.map(|m| m.as_str()),
        }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, response.json().await.unwrap())
}

#[tokio::test]
async fn scenario_10_fifty_fresh_accounts_reporting_a_host_act_on_nothing_and_get_flagged() {
    let insiders = Insiders::start().await;
    let (host, host_token) = insiders.user("brigaded").await;
    let api = client::Api::new(&insiders.base);
    let meeting = api
        .create_meeting(&host_token, &NewMeeting::default())
        .await
        .unwrap()
        .id;
    let second = api
        .create_meeting(&host_token, &NewMeeting::default())
        .await
        .unwrap()
        .id;
    let tags_before = insiders.tags().await;
    let mut reporters = Vec::new();
    for i in 0..50 {
        reporters.push(insiders.user(&format!("fresh{i:02}")).await);
    }
    // Without a session, no report.
    let anonymous = reqwest::Client::new()
        .post(format!("{}/api/v1/reports", insiders.base))
        .json(&serde_json::json!({ "subject_account_id": host.as_str() }))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    // The brigade: the meeting's limit answers 429 with Retry-After, naming the limit.
    let mut accepted = Vec::new();
    for (account, token) in &reporters {
        let (status, retry, body) = report(&insiders.base, token, &host, Some(&meeting)).await;
        match status {
            202 => {
                assert!(
                    body["weight"].as_u64().unwrap() < 10,
                    "a fresh account weighs little: {body}"
                );
                accepted.push((account.clone(), token.clone()));
            }
            429 => {
                assert!(retry.is_some(), "429 without Retry-After");
                assert!(
                    body["message"].as_str().unwrap().contains("meeting"),
                    "{body}"
                );
            }
            other => panic!("report answered {other}: {body}"),
        }
    }
    assert_eq!(
        accepted.len(),
        10,
        "the meeting's limit is 10 reports an hour"
    );

    // Reports never act: nothing about the host reached the log.
    let tags = insiders.tags().await;
    assert_eq!(
        tags.len(),
        tags_before.len(),
        "reports wrote to the log: {tags:?}"
    );

    // Staff review: one light item; found unfounded twice, its reporters are flagged.
    for round in 0..2 {
        let (ok, out, err) = insiders.admin("carol", &["reports"]).await;
        assert!(ok, "{err}");
        let listing: serde_json::Value = serde_json::from_str(&out).unwrap();
        let item = &listing["items"][0];
        assert_eq!(item["subject"], host.as_str(), "{listing}");
        assert_eq!(item["reports"].as_array().unwrap().len(), 10, "{listing}");
        assert!(item["weight"].as_u64().unwrap() < 100, "{listing}");
        let id = item["id"].as_u64().unwrap().to_string();
        let (ok, _, err) = insiders
            .admin("carol", &["resolve-report", &id, "--verdict", "unfounded"])
            .await;
        assert!(ok, "{err}");
        if round == 0 {
            // The same ten report again, from the second meeting.
            for (_, token) in &accepted {
                let (status, _, body) = report(&insiders.base, token, &host, Some(&second)).await;
                assert_eq!(status, 202, "{body}");
            }
        }
    }
    let (ok, out, err) = insiders.admin("carol", &["reports"]).await;
    assert!(ok, "{err}");
    let listing: serde_json::Value = serde_json::from_str(&out).unwrap();
    let flagged: Vec<&str> = listing["flagged_reporters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for (account, _) in &accepted {
        assert!(
            flagged.contains(&account.as_str()),
            "{account} not flagged: {listing}"
        );
    }
    // A flagged reporter's next report weighs nothing and shows the flag.
    let (account, token) = &accepted[0];
    let (status, _, body) = report(&insiders.base, token, &host, None).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["weight"], 0, "{body}");
    let (_, out, _) = insiders.admin("carol", &["reports"]).await;
    let listing: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        listing["items"][0]["reports"][0]["reporter"],
        account.as_str()
    );
    assert_eq!(
        listing["items"][0]["reports"][0]["reporter_flagged"], true,
        "{listing}"
    );
    assert_eq!(insiders.tags().await.len(), tags_before.len());
}
