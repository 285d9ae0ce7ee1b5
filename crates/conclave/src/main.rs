//! The `conclave` binary: parses the command line and hands over to the
//! subcommand. Everything else lives in the library (see `lib.rs`).
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use conclave::cli::{BenchCommand, Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => conclave::serve::main(args),
        Command::Bot(args) => conclave::bot::main(*args),
        Command::Bench(BenchCommand::Signaling(args)) => conclave::bench::signaling::main(args),
        Command::Bench(BenchCommand::Sfu(args)) => conclave::bench::sfu::main(args),
        Command::Bench(BenchCommand::Ledger(args)) => conclave::bench::ledger::main(args),
        Command::Audit(args) => conclave::audit::main(args),
        Command::Bench(BenchCommand::Mls(args)) => conclave::bench::mls::main(args),
        Command::Admin(command) => conclave::admin::main(command),
    }
}
