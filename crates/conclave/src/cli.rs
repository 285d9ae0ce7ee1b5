//! The command line. Each subcommand's options live beside the code that
//! uses them ([`crate::config::ServeArgs`], [`crate::bench::signaling::SignalingArgs`]).

use clap::{Parser, Subcommand};

/// `conclave`: a self-hostable, end-to-end-encrypted video meeting server.
#[derive(Debug, Parser)]
#[command(name = "conclave", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server until SIGINT or SIGTERM, then drain connections and exit.
    Serve(crate::config::ServeArgs),
    /// Measure a server under load and write the figures as JSON.
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// The load generators of `conclave bench`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Lobby joins and admissions over WebSocket signaling: throughput,
    /// admit latency and server memory per participant.
    Signaling(crate::bench::signaling::SignalingArgs),
    /// The MLS group of an N-member meeting: join, commit and processing
    /// times and message sizes, on the e2ee driver in process.
    Mls(crate::bench::mls::MlsArgs),
}
