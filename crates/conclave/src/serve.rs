//! `conclave serve`: resolve settings, set up logging, bind, announce, run
//! until SIGINT or SIGTERM, drain, exit.
//!
//! Exit codes: 0 after a clean drain; 2 when the server cannot start (bad
//! settings, a port in use, an unusable data directory or database), with
//! exactly one `error: ...` line on stderr; 1 when serving fails later.

use std::future::Future;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::filter::{EnvFilter, LevelFilter};

use crate::config::{LogFormat, ServeArgs, Settings};

/// Start of the line printed on stdout once the ports are bound. The bench
/// and the tests read the addresses from it, so its shape is an interface.
pub const LISTENING_PREFIX: &str = "conclave listening on http://";

/// Runs `serve` to completion and says how the process should exit.
pub fn main(args: ServeArgs) -> ExitCode {
    let settings = match args.resolve() {
        Ok(settings) => settings,
        Err(e) => return fail(2, &e),
    };
    init_logging(settings.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(2, &format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(run(settings))
}

async fn run(settings: Settings) -> ExitCode {
    // Registered before binding: a SIGTERM that arrives right after the
    // listening line must start a drain, not kill the process outright.
    let shutdown = match shutdown_signal() {
        Ok(shutdown) => shutdown,
        Err(e) => return fail(2, &format!("cannot watch for SIGINT/SIGTERM: {e}")),
    };
    let server = match server::Server::bind(settings.server).await {
        Ok(server) => server,
        Err(e) => return fail(2, &e),
    };
    let (http, media) = (server.http_addr(), server.media_addr());
    let mut stdout = std::io::stdout().lock();
    // If stdout is gone nobody reads the line; the server is still useful.
    let _ = writeln!(stdout, "{}", listening_line(http, media));
    let _ = stdout.flush();
    drop(stdout);
    tracing::info!(%http, %media, "listening");
    match server.run(shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(1, &e),
    }
}

/// The line announcing the bound addresses.
pub fn listening_line(http: SocketAddr, media: SocketAddr) -> String {
    format!("{LISTENING_PREFIX}{http} (media udp {media})")
}

/// Reads `(http, media)` back from a [`listening_line`].
pub fn parse_listening_line(line: &str) -> Option<(SocketAddr, SocketAddr)> {
    let rest = line.trim().strip_prefix(LISTENING_PREFIX)?;
    let (http, rest) = rest.split_once(" (media udp ")?;
    let media = rest.strip_suffix(')')?;
    Some((http.parse().ok()?, media.parse().ok()?))
}

/// Resolves on the first SIGINT or SIGTERM.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM received"),
            _ = interrupt.recv() => tracing::info!("SIGINT received"),
        }
    })
}

/// Logs go to stderr so that stdout carries only the listening line. The
/// level comes from RUST_LOG (default `info`); bad directives are reported
/// by tracing-subscriber and skipped rather than stopping the server.
fn init_logging(format: LogFormat) {
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .from_env_lossy();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Escape codes only help a person at a terminal; in files they are noise.
        .with_ansi(std::io::stderr().is_terminal());
    // Only fails if a subscriber is already set, which `main` never does.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

fn fail(code: u8, error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listening_line_round_trips() {
        let http: SocketAddr = "127.0.0.1:41234".parse().expect("address");
        let media: SocketAddr = "[::1]:10000".parse().expect("address");
        let line = listening_line(http, media);
        assert_eq!(
            line,
            "conclave listening on http://127.0.0.1:41234 (media udp [::1]:10000)"
        );
        assert_eq!(parse_listening_line(&line), Some((http, media)));
        assert_eq!(parse_listening_line("conclave listening on nothing"), None);
    }
}
