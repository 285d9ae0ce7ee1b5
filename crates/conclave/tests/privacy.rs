//! Threat T3: a client's address never reaches the database or the logs,
//! and a guest's name never reaches the logs.
//!
//! The client connects from a distinctive loopback address that appears
//! nowhere else, the server runs at debug level, and afterwards every file
//! in the data directory (database, WAL, shared memory) and both captured
//! output streams are searched for the address in text and in raw bytes.

mod common;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use proto::rest::{Meeting, NewAccount, NewMeeting, NewSession, Session};
use proto::signaling::{ClientMessage, ServerMessage};

/// A loopback address nothing else on the machine uses.
const CLIENT_IP: &str = "127.83.47.19";
const CLIENT_IP_BYTES: [u8; 4] = [127, 83, 47, 19];
const GUEST_NAME: &str = "Zephyrine Quux";

#[tokio::test]
async fn no_client_address_or_guest_name_reaches_disk_or_logs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let mut server = common::serve(&data_dir, &[], &[("RUST_LOG", "debug")]);
    let (http, _) = server.listening().await;
    let base = format!("http://{http}");
    let ip: IpAddr = CLIENT_IP.parse().expect("a valid address");

    // REST from the distinctive address: client::Api has no way to choose
    // the local address, so these calls use reqwest with the proto types.
    let rest = reqwest::Client::builder()
        .local_address(ip)
        .build()
        .expect("an HTTP client bound to the test address");
    let password = "a long enough password";
    let created = rest
        .post(format!("{base}/api/v1/accounts"))
        .json(&NewAccount {
            username: "privacyhost".into(),
            password: password.into(),
            region: Some("NL".into()),
        })
        .send()
        .await
        .expect("register");
    assert!(
        created.status().is_success(),
        "register: {}",
        created.status()
    );
    let session: Session = rest
        .post(format!("{base}/api/v1/sessions"))
        .json(&NewSession {
            username: "privacyhost".into(),
            password: password.into(),
        })
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("a session");
    let meeting: Meeting = rest
        .post(format!("{base}/api/v1/meetings"))
        .bearer_auth(&session.token)
        .json(&NewMeeting::default())
        .send()
        .await
        .expect("create a meeting")
        .json()
        .await
        .expect("a meeting");
    let api = client::Api::new(&base);
    assert!(
        api.meeting(&meeting.id)
            .await
            .expect("lookup")
            .settings
            .lobby
    );

    // Signaling: host and guest both from the distinctive address.
    let mut ports = Vec::new();
    let mut host = client::Signaling::connect_from(&api.ws_url(), ip)
        .await
        .expect("host connects");
    ports.push(host.local_addr().expect("host address").port());
    host.hello_token(&session.token).await.expect("host hello");
    host.send(&ClientMessage::Join {
        meeting_id: meeting.id.clone(),
        passcode: None,
    })
    .await
    .expect("host join");
    host.recv_until("host seated", |m| {
        matches!(m, ServerMessage::Joined { .. }).then_some(())
    })
    .await
    .expect("host seated");

    let mut guest = client::Signaling::connect_from(&api.ws_url(), ip)
        .await
        .expect("guest connects");
    ports.push(guest.local_addr().expect("guest address").port());
    guest.hello_guest(GUEST_NAME).await.expect("guest hello");
    guest
        .send(&ClientMessage::Join {
            meeting_id: meeting.id.clone(),
            passcode: None,
        })
        .await
        .expect("guest join");
    let guest_id = guest
        .recv_until("waiting", |m| match m {
            ServerMessage::Waiting { participant_id, .. } => Some(participant_id.clone()),
            _ => None,
        })
        .await
        .expect("guest waits");
    host.recv_until("lobby lists the guest", |m| match m {
        ServerMessage::LobbyUpdated { waiting } => waiting
            .iter()
            .any(|e| e.id == guest_id && e.display_name == GUEST_NAME)
            .then_some(()),
        _ => None,
    })
    .await
    .expect("host sees the guest");
    host.send(&ClientMessage::Admit {
        participant_id: guest_id.clone(),
    })
    .await
    .expect("admit");
    guest
        .recv_until("joined", |m| {
            matches!(m, ServerMessage::Joined { .. }).then_some(())
        })
        .await
        .expect("guest seated");
    guest
        .send(&ClientMessage::Leave)
        .await
        .expect("guest leaves");
    host.recv_until("guest left", |m| match m {
        ServerMessage::ParticipantLeft { participant_id, .. } if *participant_id == guest_id => {
            Some(())
        }
        _ => None,
    })
    .await
    .expect("host sees the guest leave");
    host.send(&ClientMessage::Leave).await.expect("host leaves");
    guest.close().await.expect("guest closes");
    host.close().await.expect("host closes");

    // While running, the WAL and shared-memory files hold the recent writes.
    let mut found = scan(&data_files(&data_dir), &ports, false);
    server.terminate();
    let status = server.exit_within(Duration::from_secs(15)).await;
    assert!(status.success(), "exit status {status}");

    let files = data_files(&data_dir);
    assert!(
        files
            .iter()
            .any(|f| f.file_name().is_some_and(|n| n == "conclave.db")),
        "no SQLite file in the data dir: {files:?}"
    );
    found.extend(scan(&files, &ports, false));
    let logs = [server.stdout_path(), server.stderr_path()];
    found.extend(scan(&logs, &ports, true));
    let stderr = server.stderr();
    assert!(
        stderr.lines().any(|l| l.contains(" DEBUG ")),
        "the server logged nothing at debug level, so the log scan proves nothing:\n{stderr}"
    );
    found.sort();
    found.dedup();
    assert!(
        found.is_empty(),
        "private data found:\n{}",
        found.join("\n")
    );

    // The scanner itself must see each kind of needle, or a pass means nothing.
    let canary = dir.path().join("canary");
    let mut planted = format!("x {CLIENT_IP}:{} {GUEST_NAME} ", ports[0]).into_bytes();
    planted.extend(CLIENT_IP_BYTES);
    std::fs::write(&canary, planted).expect("write the canary");
    assert_eq!(
        scan(&[canary], &ports[..1], true).len(),
        4,
        "the scanner missed a planted needle"
    );
}

/// Every regular file under `dir`, recursively.
fn data_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// What was found where, as readable lines.
fn scan(files: &[PathBuf], ports: &[u16], with_name: bool) -> Vec<String> {
    let mut needles: Vec<(String, Vec<u8>)> = vec![
        (
            format!("the text {CLIENT_IP:?}"),
            CLIENT_IP.as_bytes().to_vec(),
        ),
        (
            format!("the raw bytes {CLIENT_IP_BYTES:?}"),
            CLIENT_IP_BYTES.to_vec(),
        ),
    ];
    for port in ports {
        let text = format!("{CLIENT_IP}:{port}");
        needles.push((format!("the socket address {text:?}"), text.into_bytes()));
    }
    if with_name {
        needles.push((
            format!("the guest name {GUEST_NAME:?}"),
            GUEST_NAME.as_bytes().to_vec(),
        ));
    }
    let mut found = Vec::new();
    for file in files {
        // A file that vanished between listing and reading (a WAL at
        // checkpoint) holds nothing any more.
        let Ok(bytes) = std::fs::read(file) else {
            continue;
        };
        for (what, needle) in &needles {
            if bytes.windows(needle.len()).any(|w| w == needle.as_slice()) {
                found.push(format!("{what} in {}", file.display()));
            }
        }
    }
    found
}
