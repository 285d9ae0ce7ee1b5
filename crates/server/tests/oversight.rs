//! The staff API against a real server: signature checks, filing,
//! approval, veto, and a quorum-approved order that ends a live meeting and
//! that the participants' clients verify against the public log (issue #5).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use client::order::{MeetingEnd, PinnedLog};
use common::*;
use ed25519_dalek::SigningKey;
use oversight::{
    format_public_key, Action, ActionKind, Approval, OversightConfig, Region, Request,
    SignedRequest, StaffAuthorization, Veto,
};
use proto::ledger::LedgerKey;
use proto::rest::NewMeeting;
use rand::rngs::OsRng;
use rand::RngCore as _;

const STAFF: [(&str, &str); 4] = [
    ("alice", "DE"),
    ("bob", "DE"),
    ("carol", "FR"),
    ("dave", "US"),
];

struct Staff {
    keys: BTreeMap<&'static str, SigningKey>,
}

impl Staff {
    fn new() -> (Staff, OversightConfig) {
        let keys: BTreeMap<&'static str, SigningKey> = STAFF
            .iter()
            .map(|(id, _)| (*id, SigningKey::generate(&mut OsRng)))
            .collect();
        let mut toml = String::from("default_region = \"DE\"\n");
        for (id, country) in STAFF {
            toml += &format!(
                "[[staff]]\nid = \"{id}\"\npublic_key = \"{}\"\njurisdiction = \"{country}\"\nroles = [\"requester\", \"approver\"]\n",
                format_public_key(&keys[id].verifying_key())
            );
        }
        for action in ActionKind::ALL {
            toml += &format!("[policy.{action}]\napprovals = 2\ndistinct_jurisdictions = 2\nexpiry_secs = 3600\n");
        }
        (Staff { keys }, toml::from_str(&toml).unwrap())
    }

    /// Sends a staff call signed by `who`.
    async fn call(
        &self,
        server: &TestServer,
        who: &str,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let header = self.header(who, method.as_str(), path, &body);
        server
            .http
            .request(method, server.url(path))
            .header("authorization", header)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    fn header(&self, who: &str, method: &str, path: &str, body: &[u8]) -> String {
        let mut nonce = [0; 16];
        OsRng.fill_bytes(&mut nonce);
        StaffAuthorization::sign(
            who.parse().unwrap(),
            &self.keys[who],
            method,
            path,
            body,
            now(),
            nonce,
        )
        .to_header()
    }

    fn end_meeting(&self, who: &str, meeting: &proto::ids::MeetingId) -> SignedRequest {
        self.request(
            who,
            Action::EndMeeting {
                meeting: meeting.clone(),
            },
        )
    }

    /// `who`'s signed request for `action` against a subject in DE, the default region.
    fn request(&self, who: &str, action: Action) -> SignedRequest {
        let mut nonce = [0; 32];
        OsRng.fill_bytes(&mut nonce);
        SignedRequest::sign(
            Request {
                action,
                region: Region::Country("DE".parse().unwrap()),
                reasons: "Court order 123 of the Landgericht Berlin".into(),
                evidence: vec![],
                requester: who.parse().unwrap(),
                filed_at: now(),
                notice_delay_secs: 0,
                nonce,
            },
            &self.keys[who],
        )
    }

    async fn file(&self, server: &TestServer, signed: &SignedRequest) -> String {
        let who = signed.request().requester.to_string();
        let response = self
            .call(
                server,
                &who,
                reqwest::Method::POST,
                "/api/v1/staff/requests",
                signed.encode(),
            )
            .await;
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        let body: serde_json::Value = response.json().await.unwrap();
        body["id"].as_str().unwrap().to_owned()
    }

    async fn approve(&self, server: &TestServer, who: &str, id: &str) -> reqwest::Response {
        let approval = Approval::sign(
            id.parse().unwrap(),
            who.parse().unwrap(),
            now(),
            &self.keys[who],
        );
        self.call(
            server,
            who,
            reqwest::Method::POST,
            &format!("/api/v1/staff/requests/{id}/approvals"),
            approval.encode(),
        )
        .await
    }
}

fn now() -> u64 {
    server::unix_now_secs()
}

async fn ledger_tags(server: &TestServer) -> Vec<String> {
    let checkpoint = server
        .http
        .get(server.url("/api/v1/ledger/checkpoint"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let size: u64 = checkpoint.lines().nth(1).unwrap().parse().unwrap();
    let page: proto::ledger::LedgerEntries = server
        .http
        .get(server.url(&format!("/api/v1/ledger/entries?start=0&end={size}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    use base64::Engine as _;
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

#[tokio::test]
async fn staff_calls_without_a_valid_signature_are_refused_with_401() {
    let (staff, config) = Staff::new();
    let server = start_with_oversight(config).await;
    let path = "/api/v1/staff/requests";

    let missing = server.http.get(server.url(path)).send().await.unwrap();
    assert_eq!(missing.status(), 401);

    // Signed by a key that is not alice's.
    let impostor = Staff::new().0;
    let header = impostor.header("alice", "GET", path, b"");
    let bad = server
        .http
        .get(server.url(path))
        .header("authorization", header)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);

    // Signed for another path.
    let header = staff.header("alice", "GET", "/api/v1/staff/requests?x=1", b"");
    let moved = server
        .http
        .get(server.url(path))
        .header("authorization", header)
        .send()
        .await
        .unwrap();
    assert_eq!(moved.status(), 401);

    // A valid header works once; the same header again is a replay.
    let header = staff.header("alice", "GET", path, b"");
    let first = server
        .http
        .get(server.url(path))
        .header("authorization", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let replay = server
        .http
        .get(server.url(path))
        .header("authorization", &header)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 401);
    let body: serde_json::Value = replay.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("replay"),
        "{body}"
    );
    server.stop().await;
}

#[tokio::test]
async fn every_staff_route_refuses_unsigned_and_impostor_calls_with_401() {
    let (_staff, config) = Staff::new();
    let server = start_with_oversight(config).await;
    let impostor = Staff::new().0;
    // The staff operations are the document's: a staff route added without its OpenAPI
    // entry, or without the `staff` security, fails here.
    let doc: serde_json::Value = server
        .http
        .get(server.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let staff_security = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|scheme| scheme.get("staff").is_some()));
            assert_eq!(
                staff_security,
                path.starts_with("/api/v1/staff/"),
                "{method} {path}: staff security exactly on /api/v1/staff/"
            );
            if staff_security {
                let path = path
                    .replace("{id}", &"ab".repeat(32))
                    .replace("{item}", "1");
                routes.push((method.to_uppercase(), path));
            }
        }
    }
    assert_eq!(routes.len(), 10, "{routes:?}");
    for (method, path) in routes {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let body = b"{}".to_vec();
        let unsigned = server
            .http
            .request(method.clone(), server.url(&path))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(unsigned.status(), 401, "{method} {path} unsigned");
        let header = impostor.header("alice", method.as_str(), &path, &body);
        let forged = server
            .http
            .request(method.clone(), server.url(&path))
            .header("authorization", header)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            forged.status(),
            401,
            "{method} {path} signed by an impostor"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn the_genesis_is_the_ledgers_first_entries() {
    let (_staff, config) = Staff::new();
    let server = start_with_oversight(config).await;
    let tags = ledger_tags(&server).await;
    assert_eq!(tags.len(), STAFF.len() + ActionKind::ALL.len());
    assert!(tags[..STAFF.len()].iter().all(|t| t == "oversight.staff"));
    assert!(tags[STAFF.len()..].iter().all(|t| t == "oversight.policy"));
    server.stop().await;
}

#[tokio::test]
async fn self_approval_is_refused_a_signer_cannot_be_impersonated_and_a_veto_closes() {
    let (staff, config) = Staff::new();
    let server = start_with_oversight(config).await;
    let token = server.account("hostess").await;
    let meeting = server.meeting(&token, NewMeeting::default()).await;
    let id = staff
        .file(&server, &staff.end_meeting("alice", &meeting))
        .await;

    let own = staff.approve(&server, "alice", &id).await;
    assert_eq!(own.status(), 403);
    assert!(own.text().await.unwrap().contains("self_approval"));
    let bob = staff.approve(&server, "bob", &id).await;
    assert_eq!(bob.status(), 200);
    let body: serde_json::Value = bob.json().await.unwrap();
    assert_eq!(body["request"]["state"], "pending", "{body}");

    // Bob cannot submit Carol's signed approval.
    let carols = Approval::sign(
        id.parse().unwrap(),
        "carol".parse().unwrap(),
        now(),
        &staff.keys["carol"],
    );
    let path = format!("/api/v1/staff/requests/{id}/approvals");
    let smuggled = staff
        .call(
            &server,
            "bob",
            reqwest::Method::POST,
            &path,
            carols.encode(),
        )
        .await;
    assert_eq!(smuggled.status(), 403);

    let veto = Veto::sign(
        id.parse().unwrap(),
        "dave".parse().unwrap(),
        now(),
        "no court order attached".into(),
        &staff.keys["dave"],
    );
    let vetoed = staff
        .call(
            &server,
            "dave",
            reqwest::Method::POST,
            &format!("/api/v1/staff/requests/{id}/vetoes"),
            veto.encode(),
        )
        .await;
    assert_eq!(vetoed.status(), 200, "{}", vetoed.text().await.unwrap());
    let shown = staff
        .call(
            &server,
            "carol",
            reqwest::Method::GET,
            &format!("/api/v1/staff/requests/{id}"),
            vec![],
        )
        .await;
    let shown: serde_json::Value = shown.json().await.unwrap();
    assert_eq!(shown["state"], "vetoed");

    let tags = ledger_tags(&server).await;
    assert!(tags.contains(&"oversight.refusal".to_owned()), "{tags:?}");
    assert!(tags.contains(&"oversight.veto".to_owned()), "{tags:?}");
    assert!(
        !tags.contains(&"oversight.execution".to_owned()),
        "{tags:?}"
    );
    assert!(server
        .api
        .meeting(&meeting)
        .await
        .unwrap()
        .ended_at
        .is_none());
    server.stop().await;
}

/// Which staff may act depends on the subject's region, so the region is the one the
/// account holder declared (or the server's default), never the filer's word: a request
/// naming another one, or a subject that does not exist, is refused and logged.
#[tokio::test]
async fn a_request_must_name_the_region_on_record() {
    let (staff, config) = Staff::new();
    let server = start_with_oversight(config).await;
    let api = &server.api;
    let bad = api
        .register_in("nowhere", "a long enough password", "UK")
        .await;
    assert!(
        format!("{:?}", bad.unwrap_err()).contains("invalid_region"),
        "UK is not an ISO 3166-1 code"
    );
    let account = api
        .register_in("francoise", "a long enough password", "fr")
        .await
        .unwrap();
    assert_eq!(account.region.as_deref(), Some("FR"));
    let token = api
        .login("francoise", "a long enough password")
        .await
        .unwrap()
        .token;
    let meeting = server.meeting(&token, NewMeeting::default()).await;

    // The test staff's requests name DE, the default region; this host declared FR.
    let refused = staff
        .call(
            &server,
            "alice",
            reqwest::Method::POST,
            "/api/v1/staff/requests",
            staff.end_meeting("alice", &meeting).encode(),
        )
        .await;
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("region_mismatch"));
    let nowhere = "AAAAAAAAAAAAAAAAAAAAAA".parse().unwrap();
    let refused = staff
        .call(
            &server,
            "alice",
            reqwest::Method::POST,
            "/api/v1/staff/requests",
            staff.end_meeting("alice", &nowhere).encode(),
        )
        .await;
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("unknown_subject"));
    let refusals = ledger_tags(&server)
        .await
        .into_iter()
        .filter(|tag| tag == "oversight.refusal")
        .count();
    assert_eq!(refusals, 2);

    // A host who declared no region is in the default one, and the request stands.
    let default = server.account("dora").await;
    let meeting = server.meeting(&default, NewMeeting::default()).await;
    staff
        .file(&server, &staff.end_meeting("alice", &meeting))
        .await;
}

#[tokio::test]
async fn a_quorum_ends_a_live_meeting_and_the_clients_verify_the_order() {
    let (staff, config) = Staff::new();
    let server = start_with_oversight(config).await;
    let token = server.account("hostess").await;
    let meeting = server.meeting(&token, NewMeeting::default()).await;
    let (mut host, _) = server.seated(&token, &meeting).await;
    let (mut guest, guest_id) = server.waiting_guest("Walt", &meeting).await;
    lobby_lists(&mut host, &guest_id).await;

    let id = staff
        .file(&server, &staff.end_meeting("alice", &meeting))
        .await;
    assert_eq!(staff.approve(&server, "bob", &id).await.status(), 200);
    let done = staff.approve(&server, "carol", &id).await;
    assert_eq!(done.status(), 200);
    let body: serde_json::Value = done.json().await.unwrap();
    assert_eq!(body["request"]["state"], "executed", "{body}");
    assert!(body["execution_index"].as_u64().is_some(), "{body}");

    let key: LedgerKey = server
        .http
        .get(server.url("/api/v1/ledger/key"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let log = PinnedLog {
        origin: key.origin,
        key: key.verifier_key.parse().unwrap(),
    };
    for ws in [&mut host, &mut guest] {
        let end = ws
            .meeting_end(&server.http, &server.base, &log, &meeting)
            .await;
        assert!(
            matches!(end, MeetingEnd::EndedByVerifiedOrder(_)),
            "{}",
            end.statement()
        );
    }
    assert!(server
        .api
        .meeting(&meeting)
        .await
        .unwrap()
        .ended_at
        .is_some());
    server.stop().await;
}

#[tokio::test]
async fn an_order_for_another_meeting_or_a_dropped_connection_is_an_end_without_order() {
    let (staff, config) = Staff::new();
    let server = start_with_oversight(config).await;
    let token = server.account("hostess").await;
    let target = server.meeting(&token, NewMeeting::default()).await;
    let other = server.meeting(&token, NewMeeting::default()).await;
    let (mut host, _) = server.seated(&token, &target).await;
    let id = staff
        .file(&server, &staff.end_meeting("alice", &target))
        .await;
    staff.approve(&server, "bob", &id).await;
    staff.approve(&server, "carol", &id).await;
    let key: LedgerKey = server
        .http
        .get(server.url("/api/v1/ledger/key"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let log = PinnedLog {
        origin: key.origin,
        key: key.verifier_key.parse().unwrap(),
    };
    // The same (valid) order presented as ending another meeting.
    let end = host
        .meeting_end(&server.http, &server.base, &log, &other)
        .await;
    assert!(
        matches!(end, MeetingEnd::EndedWithoutOrder { .. }),
        "{}",
        end.statement()
    );
    assert!(end.statement().starts_with(client::order::WITHOUT_ORDER));

    // A meeting whose server goes away without a word.
    let second = server.meeting(&token, NewMeeting::default()).await;
    let (mut again, _) = server.seated(&token, &second).await;
    server.stop().await;
    let end = again
        .meeting_end(&reqwest::Client::new(), "http://127.0.0.1:9", &log, &second)
        .await;
    assert!(
        matches!(end, MeetingEnd::EndedWithoutOrder { .. }),
        "{}",
        end.statement()
    );
}

#[tokio::test]
async fn a_quorum_suspends_an_account_its_tokens_and_logins_stop_and_reinstatement_lifts_it() {
    let (staff, config) = Staff::new();
    let server = start_with_oversight(config).await;
    let (token, account) = server.account_with_id("suspect").await;

    let id = staff
        .file(
            &server,
            &staff.request(
                "alice",
                Action::SuspendAccount {
                    account: account.clone(),
                },
            ),
        )
        .await;
    assert_eq!(staff.approve(&server, "bob", &id).await.status(), 200);
    assert_eq!(staff.approve(&server, "carol", &id).await.status(), 200);

    let me = server
        .http
        .get(server.url("/api/v1/accounts/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401, "a suspended account's token still works");
    let login = server.api.login("suspect", PASSWORD).await;
    assert!(format!("{:?}", login.unwrap_err()).contains("account_suspended"));

    let id = staff
        .file(
            &server,
            &staff.request("carol", Action::ReinstateAccount { account }),
        )
        .await;
    assert_eq!(staff.approve(&server, "alice", &id).await.status(), 200);
    assert_eq!(staff.approve(&server, "dave", &id).await.status(), 200);
    let token = server.api.login("suspect", PASSWORD).await.unwrap().token;
    let me = server
        .http
        .get(server.url("/api/v1/accounts/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    server.stop().await;
}

/// The server logs an execution before acting on it and telling the subject. One that
/// stops in between (a crash, a power cut) finishes both when it starts again: the
/// suspension takes effect and the notice is issued, once.
#[tokio::test]
async fn an_execution_cut_off_before_its_effect_and_notice_is_finished_on_restart() {
    let (staff, config) = Staff::new();
    let server = start_with_oversight(config.clone()).await;
    let (token, account) = server.account_with_id("suspect").await;
    let dir = server.stop_keeping_data().await;

    // What the server has written when it stops right after the execution entry: the
    // staff's signed request and approvals, run through the oversight core and appended
    // to the server's own ledger, with no effect and no notice.
    let store = storage::Store::open_sqlite_dir(dir.path()).await.unwrap();
    let ledger = server::ledger::LedgerService::open(
        store.clone(),
        &server::LedgerSettings::default(),
        Some(dir.path()),
    )
    .await
    .unwrap();
    let (mut core, _genesis_already_logged) =
        oversight::Oversight::genesis(config.genesis().unwrap());
    let signed = staff.request("alice", Action::SuspendAccount { account });
    let region = oversight::SubjectRecord::Region(signed.request().region);
    let filed = core.file(signed, Vec::new(), region, now());
    let hash = filed.outcome.unwrap();
    let mut entries = filed.entries;
    for who in ["bob", "carol"] {
        let approval = Approval::sign(hash, who.parse().unwrap(), now(), &staff.keys[who]);
        entries.extend(core.approve(approval, now()).entries);
    }
    let tags: Vec<String> = entries.iter().map(|e| e.tag().to_owned()).collect();
    assert_eq!(
        tags.last().map(String::as_str),
        Some("oversight.execution"),
        "{tags:?}"
    );
    let appended = ledger
        .append_many(entries.iter().map(|e| (e.to_ledger(), None)).collect())
        .await
        .unwrap();
    let execution = appended.last().unwrap().index;
    drop(ledger);
    store.close().await;

    let server = start_again(dir, config.clone()).await;
    let login = server.api.login("suspect", PASSWORD).await;
    assert!(
        format!("{:?}", login.unwrap_err()).contains("account_suspended"),
        "the suspension did not take effect on restart"
    );
    let notices = |server: &TestServer| {
        let request = server
            .http
            .get(server.url("/api/v1/notices"))
            .bearer_auth(&token);
        async move {
            let body: serde_json::Value = request.send().await.unwrap().json().await.unwrap();
            body
        }
    };
    let listed = notices(&server).await;
    let listed = listed.as_array().unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["ledger_index"].as_u64(), Some(execution.0));
    let count_notices =
        |tags: Vec<String>| tags.iter().filter(|t| *t == "oversight.notice").count();
    assert_eq!(count_notices(ledger_tags(&server).await), 1);

    // Started once more, it has nothing left to finish.
    let dir = server.stop_keeping_data().await;
    let server = start_again(dir, config).await;
    assert_eq!(count_notices(ledger_tags(&server).await), 1);
    assert_eq!(notices(&server).await.as_array().map(Vec::len), Some(1));
    server.stop().await;
}
