//! `conclave serve` as an operator sees it: start-up errors, settings
//! precedence and the drain on SIGTERM, against the real binary.

mod common;

use std::time::Duration;

use common::{conclave, free_port, serve};
use proto::rest::NewMeeting;
use proto::signaling::{ClientMessage, ErrorCode, ServerMessage};

const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// The single non-empty line a failed start leaves on stderr.
fn only_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "expected exactly one stderr line, got:\n{stderr}"
    );
    lines[0]
}

#[tokio::test]
async fn a_taken_http_port_exits_2_with_one_line_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port to occupy");
    let addr = taken.local_addr().expect("its address").to_string();
    let data = tempfile::tempdir().expect("data dir");
    let mut child = conclave(
        [
            "serve",
            "--http",
            &addr,
            "--media",
            "127.0.0.1:0",
            "--data-dir",
            &data.path().display().to_string(),
        ],
        &[],
    );
    let status = child.exit_within(EXIT_TIMEOUT).await;
    let stderr = child.stderr();
    assert_eq!(status.code(), Some(2), "stderr:\n{stderr}");
    let line = only_line(&stderr);
    assert!(line.starts_with("error: "), "{line}");
    assert!(line.contains(&addr) && line.contains("--http"), "{line}");
    assert!(child.stdout().is_empty(), "no listening line on failure");
    drop(taken);
}

#[tokio::test]
async fn an_unusable_data_dir_exits_2_with_one_line_naming_the_flag() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("a-regular-file");
    std::fs::write(&file, b"not a directory").expect("write the file");
    let mut child = serve(&file.join("data"), &[], &[]);
    let status = child.exit_within(EXIT_TIMEOUT).await;
    let stderr = child.stderr();
    assert_eq!(status.code(), Some(2), "stderr:\n{stderr}");
    let line = only_line(&stderr);
    assert!(
        line.starts_with("error: ") && line.contains("--data-dir"),
        "{line}"
    );
}

#[tokio::test]
async fn a_bad_address_exits_2_naming_the_flag() {
    let data = tempfile::tempdir().expect("data dir");
    let mut child = serve(data.path(), &["--media", "nowhere:10000"], &[]);
    let status = child.exit_within(EXIT_TIMEOUT).await;
    assert_eq!(status.code(), Some(2));
    assert!(child.stderr().contains("--media"), "{}", child.stderr());
}

#[tokio::test]
async fn sigterm_tells_clients_and_exits_0() {
    let data = tempfile::tempdir().expect("data dir");
    let mut server = serve(data.path(), &[], &[]);
    let (http, _) = server.listening().await;
    let api = client::Api::new(&format!("http://{http}"));
    let password = "correct horse battery staple";
    api.register("drainhost", password).await.expect("register");
    let session = api.login("drainhost", password).await.expect("login");
    let meeting = api
        .create_meeting(&session.token, &NewMeeting::default())
        .await
        .expect("create a meeting");
    let mut ws = client::Signaling::connect(&api.ws_url())
        .await
        .expect("connect");
    ws.hello_token(&session.token).await.expect("hello");
    ws.send(&ClientMessage::Join {
        meeting_id: meeting.id,
        passcode: None,
    })
    .await
    .expect("send join");
    ws.recv_until("joined", |m| {
        matches!(m, ServerMessage::Joined { .. }).then_some(())
    })
    .await
    .expect("seated");

    server.terminate();
    let told = ws
        .recv_until("shutdown notice", |m| match m {
            ServerMessage::Error { code, .. } => Some(*code),
            _ => None,
        })
        .await;
    match told {
        Ok(code) => assert_eq!(code, ErrorCode::ShuttingDown),
        Err(client::ClientError::Closed { code, .. }) => assert_eq!(code, 1001),
        Err(e) => panic!("expected a shutting_down error or a 1001 close, got {e}"),
    }
    let status = server.exit_within(Duration::from_secs(15)).await;
    assert!(
        status.success(),
        "exit status {status}; stderr:\n{}",
        server.stderr()
    );
}

#[tokio::test]
async fn flag_beats_env_beats_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (file_port, env_port, flag_port) = (free_port(), free_port(), free_port());
    let config = dir.path().join("conclave.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\nhttp = \"127.0.0.1:{file_port}\"\nmedia = \"127.0.0.1:0\"\n",
            dir.path().join("data").display()
        ),
    )
    .expect("write the config");
    let config = config.display().to_string();
    let env_http = format!("127.0.0.1:{env_port}");
    let flag_http = format!("127.0.0.1:{flag_port}");

    let with_config = ["serve", "--config", config.as_str()];
    let with_flag = ["serve", "--config", &config, "--http", &flag_http];
    let with_env = [("CONCLAVE_HTTP", env_http.as_str())];
    // (flags, environment, the port that must win)
    let cases = [
        (&with_flag[..], &with_env[..], flag_port),
        (&with_config[..], &with_env[..], env_port),
        (&with_config[..], &[][..], file_port),
    ];
    for (args, env, expected) in cases {
        let mut server = conclave(args, env);
        let (http, _) = server.listening().await;
        assert_eq!(http.port(), expected, "args {args:?}, env {env:?}");
        server.terminate();
        assert!(server.exit_within(EXIT_TIMEOUT).await.success());
    }
    assert!(
        dir.path().join("data").join("conclave.db").exists(),
        "data_dir came from the file"
    );
}

#[tokio::test]
async fn an_unknown_config_key_exits_2_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("conclave.toml");
    std::fs::write(&config, "http = \"127.0.0.1:0\"\ncolour = \"blue\"\n").expect("write");
    let mut child = conclave(["serve", "--config", &config.display().to_string()], &[]);
    let status = child.exit_within(EXIT_TIMEOUT).await;
    let stderr = child.stderr();
    assert_eq!(status.code(), Some(2), "stderr:\n{stderr}");
    let line = only_line(&stderr);
    assert!(
        line.contains("colour") && line.contains(&config.display().to_string()),
        "{line}"
    );
}

#[tokio::test]
async fn a_missing_config_file_exits_2_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("absent.toml");
    let mut child = conclave(["serve", "--config", &config.display().to_string()], &[]);
    let status = child.exit_within(EXIT_TIMEOUT).await;
    let stderr = child.stderr();
    assert_eq!(status.code(), Some(2), "stderr:\n{stderr}");
    assert!(only_line(&stderr).contains("absent.toml"), "{stderr}");
}
