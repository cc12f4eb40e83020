//! `wasmhost completions SHELL`: the shell's completion script on stdout,
//! made by `clap_complete` from the same command definition that parses the
//! arguments, so it never falls behind them. A subcommand rather than a
//! build script, as `wasm-tools completion` and `rg --generate` do: a build
//! script cannot see the binary's clap definition, and a subcommand writes
//! the script for the very binary installed. `make share` writes them all.

use std::process::ExitCode;

use clap::Args;
use clap_complete::Shell;

/// Arguments of `wasmhost completions`.
#[derive(Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    shell: Shell,
}

pub fn completions(args: CompletionsArgs, mut command: clap::Command) -> anyhow::Result<ExitCode> {
    let name = command.get_name().to_owned();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, name, &mut script);
    super::write_stdout(&script)?;
    Ok(ExitCode::SUCCESS)
}
