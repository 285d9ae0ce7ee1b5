//! Runs the real `conclave` binary for the integration tests.
//!
//! Every child is owned by a [`Child`] guard that kills it on drop, so a
//! failing assertion never leaves a server behind. Output goes to files in a
//! temporary directory (never a pipe nobody reads, which could block the
//! child), and each test gets fresh directories.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to print its listening line.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running (or finished) `conclave` process with its output in files.
pub struct Child {
    process: std::process::Child,
    /// Holds stdout.txt and stderr.txt.
    pub logs: tempfile::TempDir,
}

impl Drop for Child {
    fn drop(&mut self) {
        if matches!(self.process.try_wait(), Ok(None)) {
            let _ = self.process.kill();
            let _ = self.process.wait();
        }
    }
}

/// A `conclave` command with a clean environment: no CONCLAVE_* or RUST_LOG
/// from whoever runs the tests, then `env` on top.
pub fn conclave<I, S>(args: I, env: &[(&str, &str)]) -> Child
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let logs = tempfile::tempdir().expect("a temporary directory for logs");
    let stdout = std::fs::File::create(logs.path().join("stdout.txt")).expect("stdout file");
    let stderr = std::fs::File::create(logs.path().join("stderr.txt")).expect("stderr file");
    let mut command = Command::new(env!("CARGO_BIN_EXE_conclave"));
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    for (name, _) in std::env::vars_os() {
        let name_text = name.to_string_lossy();
        if name_text.starts_with("CONCLAVE_") || name_text == "RUST_LOG" {
            command.env_remove(&name);
        }
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let process = command.spawn().expect("spawn the conclave binary");
    Child { process, logs }
}

/// `conclave serve` on ephemeral loopback ports with `data_dir`, plus `extra` flags.
pub fn serve(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Child {
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("serve"),
        OsStr::new("--http"),
        OsStr::new("127.0.0.1:0"),
        OsStr::new("--media"),
        OsStr::new("127.0.0.1:0"),
        OsStr::new("--data-dir"),
        data_dir.as_os_str(),
    ];
    args.extend(extra.iter().map(OsStr::new));
    conclave(args, env)
}

impl Child {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// Path of the captured stdout.
    pub fn stdout_path(&self) -> PathBuf {
        self.logs.path().join("stdout.txt")
    }

    /// Path of the captured stderr.
    pub fn stderr_path(&self) -> PathBuf {
        self.logs.path().join("stderr.txt")
    }

    /// Everything written to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.stdout_path()).unwrap_or_default()
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.stderr_path()).unwrap_or_default()
    }

    /// Waits for the listening line and returns `(http, media)`.
    pub async fn listening(&mut self) -> (SocketAddr, SocketAddr) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let out = self.stdout();
            if let Some(addrs) = out.lines().find_map(conclave::serve::parse_listening_line) {
                return addrs;
            }
            if let Ok(Some(status)) = self.process.try_wait() {
                panic!(
                    "serve exited with {status} before listening; stderr:\n{}",
                    self.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no listening line within {START_TIMEOUT:?}; stdout: {out:?}; stderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends SIGTERM with the `kill` command (the tests use no unsafe and no libc).
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the process to exit, failing after `limit`.
    pub async fn exit_within(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.process.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the process did not exit within {limit:?}; stderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A port that was free a moment ago (the listener is dropped before returning).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("an ephemeral port")
        .port()
}
