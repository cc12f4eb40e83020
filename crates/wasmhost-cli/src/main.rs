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
    /// Serve a directory of modules over HTTP: `POST /run/{module}` (the sidecar).
    Serve(commands::serve::ServeArgs),
}

fn main() -> ExitCode {
    quiet_panics();
    // WASI-NN glue errors become nn.error events (see wasmhost_nn::GlueErrors);
    // wasmhost itself logs through slog, so this is the only subscriber.
    let _ = tracing::subscriber::set_global_default(wasmhost::GlueErrors);
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::Inspect(args) => commands::inspect::inspect(args),
        Command::Test(args) => commands::test::test(args),
        Command::Logs(args) => commands::logs::logs(args),
        Command::Serve(args) => commands::serve::serve(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wasmhost: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Panics become one line on stderr. A host function that panics (e.g.
/// wasmtime-wasi-nn 48 on a bad guest pointer) ends only its instance, which
/// logs it as `instance.error`; Rust's default report — many lines, with a
/// backtrace when `RUST_BACKTRACE` is set — would land in the middle of the
/// JSON lines on stderr. `WASMHOST_BACKTRACE=1` brings the backtrace back.
fn quiet_panics() {
    if std::env::var_os("WASMHOST_BACKTRACE").is_some_and(|v| v == "1") {
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        let message = info.payload_as_str().unwrap_or_default();
        let location = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!("wasmhost: panic{location}: {}", message.replace('\n', " "));
    }));
}
