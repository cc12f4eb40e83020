//! The `wasmhost` command: parses arguments and calls the `wasmhost` library.
//! Each subcommand lives in `commands/`, one file each.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;

/// Runs WebAssembly guests with every log line tagged by language, module,
/// instance and task.
#[derive(Parser)]
#[command(name = "wasmhost", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a WASI preview1 module (`.wasm` or `.wat`), like `wasmtime run`.
    Run(commands::run::RunArgs),
    /// Show a module's detected language with its evidence, and its
    /// producers, imports and exports.
    Inspect(commands::inspect::InspectArgs),
    /// Run directories of guest test programs (wasi-testsuite format) in parallel.
    Test(commands::test::TestArgs),
    /// Run a LogQL query over JSON-lines log files (or stdin).
    Logs(commands::logs::LogsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::Inspect(args) => commands::inspect::inspect(args),
        Command::Test(args) => commands::test::test(args),
        Command::Logs(args) => commands::logs::logs(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wasmhost: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
