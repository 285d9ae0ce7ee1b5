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
    /// Join a meeting as a headless participant with synthetic media; exit 0
    /// only if intact media arrived from every expected peer.
    Bot(Box<crate::bot::BotArgs>),
    /// Measure a server under load and write the figures as JSON.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Check a server's transparency log: checkpoint signature, consistency
    /// with the last checkpoint seen, and every entry. Exits 1 naming the
    /// problem if the log misbehaves.
    Audit(crate::audit::AuditArgs),
    /// Oversight staff: keys, and signed requests, approvals and vetoes.
    #[command(subcommand)]
    Admin(crate::admin::AdminCommand),
}

/// The load generators of `conclave bench`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Lobby joins and admissions over WebSocket signaling: throughput,
    /// admit latency and server memory per participant.
    Signaling(crate::bench::signaling::SignalingArgs),
    /// Media forwarding: server CPU per forwarded packet, latency, loss and
    /// join to first frame, against Conclave's SFU or Janus, with the null
    /// relay floor measured in the same run.
    Sfu(crate::bench::sfu::SfuArgs),
    /// The transparency log: durable appends/s on SQLite, inclusion-proof
    /// time and `conclave audit` time at a million entries.
    Ledger(crate::bench::ledger::LedgerArgs),
    /// The MLS group of an N-member meeting: join, commit and processing
    /// times and message sizes, on the e2ee driver in process.
    Mls(crate::bench::mls::MlsArgs),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Meeting and account ids are base64url, so one in 32 begins with '-'; the command line
    /// must take them as values, not as unknown flags.
    #[test]
    fn ids_that_begin_with_a_hyphen_are_values() {
        let id = "-8AAAAAAAAAAAAAAAAAAAA";
        let cli = Cli::try_parse_from(["conclave", "bot", "--server", "http://x", "--meeting", id])
            .unwrap();
        let Command::Bot(bot) = cli.command else {
            panic!("not the bot command");
        };
        assert_eq!(bot.meeting, id);
        let cli = Cli::try_parse_from([
            "conclave",
            "admin",
            "request",
            "end_meeting",
            "--subject",
            id,
            "--region",
            "DE",
            "--reason",
            "-",
            "--key",
            "k",
            "--staff-id",
            "-s",
            "--server",
            "http://x",
        ])
        .unwrap();
        let Command::Admin(crate::admin::AdminCommand::Request(request)) = cli.command else {
            panic!("not an admin request");
        };
        assert_eq!(
            (request.subject.as_str(), request.staff.staff_id.as_str()),
            (id, "-s")
        );
    }
}
