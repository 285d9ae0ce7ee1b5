//! The parts of the `conclave` binary, kept in a library so that `main.rs`
//! only parses and dispatches, and so that the integration tests can share
//! small pieces such as the parser of the "listening" line.
//!
//! - [`cli`]: the command line (clap derive);
//! - [`config`]: `serve` settings from flags, `CONCLAVE_*` environment
//!   variables, a TOML file and defaults, in that order of precedence;
//! - [`serve`]: runs the server until SIGINT or SIGTERM, then drains;
//! - [`bot`]: a headless participant that checks the media it receives;
//! - [`bench`]: load generators that measure a server and write JSON;
//! - [`audit`]: an independent monitor of a server's transparency log;
//! - [`admin`]: the oversight staff's signed requests, approvals and vetoes.
//!
//! Invariant: nothing here logs or prints a client address; the only
//! addresses printed are the server's own listening addresses.
//!
//! ```no_run
//! use clap::Parser;
//! let cli = conclave::cli::Cli::parse_from(["conclave", "serve", "--http", "127.0.0.1:0"]);
//! let conclave::cli::Command::Serve(args) = cli.command else { unreachable!() };
//! let settings = args.resolve().expect("valid settings");
//! assert_eq!(settings.server.http.ip().to_string(), "127.0.0.1");
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admin;
pub mod audit;
pub mod bench;
pub mod bot;
pub mod cli;
pub mod config;
pub mod serve;
