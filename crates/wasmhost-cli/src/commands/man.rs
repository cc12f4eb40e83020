//! `wasmhost man [SUBCOMMAND]`: the man page (roff) on stdout, made by
//! `clap_mangen` from the command definition: `wasmhost.1`, or
//! `wasmhost-run.1` and so on for a subcommand. `make share` writes them
//! all under `share/man/man1` (see completions.rs for why a subcommand).

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

/// Arguments of `wasmhost man`.
#[derive(Args)]
pub struct ManArgs {
    /// A subcommand's page (`wasmhost-run.1`, …) instead of the main one.
    subcommand: Option<String>,
}

pub fn man(args: ManArgs, command: clap::Command) -> anyhow::Result<ExitCode> {
    let command = match &args.subcommand {
        None => command,
        Some(name) => {
            let names: Vec<String> = command.get_subcommands().map(|c| c.get_name().to_owned()).collect();
            let sub = command.find_subcommand(name).with_context(|| format!("no subcommand {name:?} (there are {})", names.join(", ")))?;
            // The page is `wasmhost-run(1)` and its synopsis `wasmhost run …`, as git's pages are.
            sub.clone().display_name(format!("wasmhost-{name}")).bin_name(format!("wasmhost {name}"))
        }
    };
    let mut page = Vec::new();
    clap_mangen::Man::new(command).render(&mut page).context("rendering the man page")?;
    super::write_stdout(&page)?;
    Ok(ExitCode::SUCCESS)
}
