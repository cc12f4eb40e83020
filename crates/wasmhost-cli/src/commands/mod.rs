//! One module per subcommand, plus what they share.

pub mod completions;
pub mod export;
pub mod inspect;
pub mod logs;
pub mod man;
pub mod run;
pub mod serve;
pub mod shutdown;
pub mod test;

use std::fs::OpenOptions;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use wasmhost::{Lang, LoadOptions};
use wasmhost_log::{Detail, JsonFormat, Sink, TextFormat, WriterSink};

/// Writes generated text to stdout; a reader that went away (`| head`) is
/// not an error.
pub fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}

/// Language options shared by `run` and `inspect`: `--lang`, and the
/// `MODULE_TYPE` fall-back from the environment.
pub fn load_options(lang: Option<Lang>) -> anyhow::Result<LoadOptions> {
    let module_type = match std::env::var("MODULE_TYPE") {
        Ok(v) if !v.trim().is_empty() => Some(
            v.parse::<Lang>().with_context(|| format!("MODULE_TYPE={v:?} in the environment"))?,
        ),
        _ => None,
    };
    Ok(LoadOptions { lang, module_type })
}

/// Which form the tagged lines take.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Text on a terminal, JSON lines otherwise.
    Auto,
    /// JSON lines (the documented contract).
    Json,
    /// Readable text, coloured on a terminal.
    Text,
}

/// When text output is coloured.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set (or `CLICOLOR=0`, `TERM=dumb`);
    /// `CLICOLOR_FORCE` colours a pipe too.
    Auto,
    /// Always, whatever the environment says.
    Always,
    /// Never.
    Never,
}

/// How the tagged lines look (`run` and `test`).
#[derive(Args)]
pub struct OutputArgs {
    /// Form of the tagged lines: `auto` is text on a terminal, JSON lines
    /// otherwise (docs/log-format.md).
    #[arg(long, value_enum, default_value = "auto")]
    pub log_format: LogFormat,
    /// Colour text output: auto, always, never (`NO_COLOR`, `CLICOLOR_FORCE`
    /// are honoured by `auto`).
    #[arg(long, value_enum, value_name = "WHEN", default_value = "auto")]
    pub color: ColorChoice,
    /// Text output: every field of every record (a start's path, SHA-256 and
    /// detection evidence; sequence numbers). JSON lines always have them.
    #[arg(short, long, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Text output: the guest's lines only, and the error that ended an
    /// instance (a trap, a limit). JSON lines are unchanged.
    #[arg(short, long)]
    pub quiet: bool,
}

impl OutputArgs {
    fn text_format(&self, tty: bool) -> TextFormat {
        let detail = match (self.quiet, self.verbose) {
            (true, _) => Detail::Quiet,
            (_, true) => Detail::Verbose,
            _ => Detail::Normal,
        };
        TextFormat { color: colored(self.color, tty, |name| std::env::var_os(name)), detail }
    }
}

/// Whether to colour: `--color always|never` win; `auto` follows no-color.org
/// (`NO_COLOR` set and not empty: no colour) before bixense's `CLICOLOR_FORCE`
/// (set and not `0`: colour even into a pipe) and `CLICOLOR=0`, then colours
/// a terminal unless `TERM=dumb`.
fn colored(choice: ColorChoice, tty: bool, env: impl Fn(&str) -> Option<std::ffi::OsString>) -> bool {
    let set = |name: &str| env(name).is_some_and(|v| !v.is_empty());
    let is = |name: &str, value: &str| env(name).is_some_and(|v| v == value);
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto if set("NO_COLOR") => false,
        ColorChoice::Auto if set("CLICOLOR_FORCE") && !is("CLICOLOR_FORCE", "0") => true,
        ColorChoice::Auto => tty && !is("CLICOLOR", "0") && !is("TERM", "dumb"),
    }
}

/// Where the tagged lines go: appended to `log_file`, else the host's
/// stderr; JSON unless text is asked for (or `auto` on a terminal).
pub fn log_sink(log_file: Option<&Path>, output: &OutputArgs) -> anyhow::Result<Box<dyn Sink>> {
    let sink: Box<dyn Sink> = match log_file {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening log file {}", path.display()))?;
            match output.log_format {
                LogFormat::Text => Box::new(WriterSink::new(output.text_format(false), file)),
                _ => Box::new(WriterSink::new(JsonFormat, file)),
            }
        }
        None => {
            let tty = std::io::stderr().is_terminal();
            match (output.log_format, tty) {
                (LogFormat::Json, _) | (LogFormat::Auto, false) => Box::new(WriterSink::new(JsonFormat, std::io::stderr())),
                // Guest stdout on the same terminal: host lines never
                // continue a guest's half-written line.
                _ if std::io::stdout().is_terminal() => {
                    Box::new(WriterSink::new(output.text_format(tty), wasmhost::OwnLine(std::io::stderr())))
                }
                _ => Box::new(WriterSink::new(output.text_format(tty), std::io::stderr())),
            }
        }
    };
    Ok(sink)
}

/// `250ms`, `2s`, `1.5s`, `3m`, `1h`; a bare number is seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: f64 = number.parse().map_err(|_| format!("{text:?} is not a duration like 500ms, 2s, 1m"))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        other => return Err(format!("unknown unit {other:?} in {text:?}: use ms, s, m or h")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("3m"), Ok(Duration::from_secs(180)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 fortnights").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn colour_choice_follows_flags_then_environment() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| std::ffi::OsString::from(*v))
        };
        use ColorChoice::*;
        assert!(colored(Auto, true, env(&[])));
        assert!(!colored(Auto, false, env(&[])));
        assert!(!colored(Auto, true, env(&[("NO_COLOR", "1")])));
        assert!(colored(Auto, true, env(&[("NO_COLOR", "")])), "an empty NO_COLOR is unset");
        assert!(!colored(Auto, true, env(&[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")])));
        assert!(colored(Auto, false, env(&[("CLICOLOR_FORCE", "1")])));
        assert!(!colored(Auto, false, env(&[("CLICOLOR_FORCE", "0")])));
        assert!(!colored(Auto, true, env(&[("CLICOLOR", "0")])));
        assert!(!colored(Auto, true, env(&[("TERM", "dumb")])));
        assert!(colored(Always, false, env(&[("NO_COLOR", "1")])));
        assert!(!colored(Never, true, env(&[("CLICOLOR_FORCE", "1")])));
    }
}
