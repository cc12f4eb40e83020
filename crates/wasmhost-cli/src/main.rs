//! The `wasmhost` command: parses arguments and calls the `wasmhost` library.
//! Each subcommand lives in `commands/`, one file each.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod commands;

/// Runs WebAssembly guests with every log line tagged by language, module,
/// instance and task.
#[derive(Parser)]
#[command(name = "wasmhost", version = VERSION, about, propagate_version = true, after_help = MAIN_EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The wasmtime version the engine is built on (checked against Cargo.lock by
/// tests/all/cli.rs).
macro_rules! wasmtime_version {
    () => {
        "48.0.8"
    };
}

#[cfg(feature = "ort")]
macro_rules! ort_feature {
    () => {
        ", onnxruntime"
    };
}
#[cfg(not(feature = "ort"))]
macro_rules! ort_feature {
    () => {
        ""
    };
}

/// `--version`: the wasmtime it runs on and what is built in.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (wasmtime ",
    wasmtime_version!(),
    "; WASI preview1; WASI-NN: tract",
    ort_feature!(),
    ")"
);

const MAIN_EXAMPLES: &str = "Examples:
  wasmhost hello.wasm                      run a module (as `wasmtime hello.wasm`)
  wasmhost run --dir . app.wasm -- --flag  grant a directory, pass --flag to the guest
  wasmhost inspect app.wasm                which language, and why
  wasmhost logs '{lang=\"rust\"}' app.log    query the tagged lines";

const RUN_EXAMPLES: &str = "Examples:
  wasmhost run hello.wasm                        guest stdout as is, tagged lines on stderr
  wasmhost hello.wasm arg1 --flag                `run` is the default, as in wasmtime
  wasmhost run -q app.wasm                       the guest's lines only (on a terminal)
  wasmhost run --log-format json app.wasm 2>app.log   JSON lines (docs/log-format.md)
  wasmhost run -W timeout=2s,fuel=1000000 app.wasm    stop it after 2 s or that much fuel
  wasmhost run -S inherit-env --dir data::/data app.wasm
  wasmhost run --invoke add math.wasm 2 3        call an export, print its results
  cat app.wasm | wasmhost run - arg              the module from stdin";

const INSPECT_EXAMPLES: &str = "Examples:
  wasmhost inspect app.wasm
  wasmhost inspect --json app.wasm | jq .lang";

const TEST_EXAMPLES: &str = "Examples:
  wasmhost test guests/build/suites
  wasmhost test -j 4 --filter rust/ --junit report.xml suites/
  wasmhost test --expectations known.toml --log-file tests.log suites/";

const LOGS_EXAMPLES: &str = "Examples:
  wasmhost logs '{job=\"gateway\"} | json | lang=\"rust\"' guests.log
  wasmhost logs --since 1h 'sum by (lang) (count_over_time({job=\"gateway\"}[5m]))' guests.log
  wasmhost run app.wasm 2>&1 >/dev/null | wasmhost logs '{module=\"app\"} |= \"error\"'";

#[derive(Subcommand)]
enum Command {
    /// Run a WASI preview1 module (`.wasm` or `.wat`), like `wasmtime run`.
    #[command(after_help = RUN_EXAMPLES)]
    Run(commands::run::RunArgs),
    /// Show a module's detected language with its evidence, and its
    /// producers, imports and exports.
    #[command(after_help = INSPECT_EXAMPLES)]
    Inspect(commands::inspect::InspectArgs),
    /// Run directories of guest test programs (wasi-testsuite format) in parallel.
    #[command(after_help = TEST_EXAMPLES)]
    Test(commands::test::TestArgs),
    /// Run a LogQL query over JSON-lines log files (or stdin).
    #[command(after_help = LOGS_EXAMPLES)]
    Logs(commands::logs::LogsArgs),
    /// Serve a directory of modules over HTTP: `POST /run/{module}` (the sidecar).
    Serve(commands::serve::ServeArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = COMPLETIONS_EXAMPLES)]
    Completions(commands::completions::CompletionsArgs),
    /// Print the man page (roff), or a subcommand's.
    #[command(after_help = MAN_EXAMPLES)]
    Man(commands::man::ManArgs),
}

const COMPLETIONS_EXAMPLES: &str = "Examples:
  wasmhost completions bash > ~/.local/share/bash-completion/completions/wasmhost
  wasmhost completions zsh > ~/.zfunc/_wasmhost
  wasmhost completions fish > ~/.config/fish/completions/wasmhost.fish";

const MAN_EXAMPLES: &str = "Examples:
  wasmhost man | man -l -
  wasmhost man run > wasmhost-run.1";

fn main() -> ExitCode {
    quiet_panics();
    // WASI-NN glue errors become nn.error events (see wasmhost_nn::GlueErrors);
    // wasmhost itself logs through slog, so this is the only subscriber.
    let _ = tracing::subscriber::set_global_default(wasmhost::GlueErrors);
    let cli = Cli::parse_from(default_to_run(std::env::args_os().collect()));
    let result = match cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::Inspect(args) => commands::inspect::inspect(args),
        Command::Test(args) => commands::test::test(args),
        Command::Logs(args) => commands::logs::logs(args),
        Command::Serve(args) => commands::serve::serve(args),
        Command::Completions(args) => commands::completions::completions(args, Cli::command()),
        Command::Man(args) => commands::man::man(args, Cli::command()),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wasmhost: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `wasmhost mod.wasm ARGS…` and `wasmhost --dir . mod.wasm` mean `run`, as
/// `wasmtime mod.wasm` does: anything but a subcommand's name (or help and
/// version) first is `run`'s arguments.
fn default_to_run(mut args: Vec<OsString>) -> Vec<OsString> {
    let first = args.get(1).and_then(|a| a.to_str()).map(str::to_owned);
    let named = |first: &str| {
        let cli = Cli::command();
        ["help", "-h", "--help", "-V", "--version"].contains(&first)
            || cli.get_subcommands().any(|c| c.get_name() == first || c.get_all_aliases().any(|a| a == first))
    };
    match first {
        Some(first) if !named(&first) => args.insert(1, "run".into()),
        None if args.len() > 1 => args.insert(1, "run".into()),
        _ => {}
    }
    args
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
