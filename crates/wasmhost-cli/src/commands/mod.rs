//! One module per subcommand, plus what they share.

pub mod export;
pub mod inspect;
pub mod logs;
pub mod run;
pub mod serve;
pub mod test;

use std::fs::OpenOptions;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use clap::ValueEnum;
use wasmhost::{Lang, LoadOptions};
use wasmhost_log::{JsonFormat, Sink, TextFormat, WriterSink};

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

/// Where the tagged lines go: appended to `log_file`, else the host's
/// stderr; JSON unless text is asked for (or `auto` on a terminal).
pub fn log_sink(log_file: Option<&Path>, format: LogFormat) -> anyhow::Result<Box<dyn Sink>> {
    let sink: Box<dyn Sink> = match log_file {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening log file {}", path.display()))?;
            match format {
                LogFormat::Text => Box::new(WriterSink::new(TextFormat { color: false }, file)),
                _ => Box::new(WriterSink::new(JsonFormat, file)),
            }
        }
        None => {
            let tty = std::io::stderr().is_terminal();
            match (format, tty) {
                (LogFormat::Json, _) | (LogFormat::Auto, false) => Box::new(WriterSink::new(JsonFormat, std::io::stderr())),
                _ => Box::new(WriterSink::new(TextFormat { color: tty }, std::io::stderr())),
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
}
