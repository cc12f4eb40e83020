//! The routing config file (TOML): sinks, and the routes that choose them.
//!
//! ```toml
//! default_sinks = ["default"]      # where unmatched lines go; "default" is the
//!                                  # embedder's own sink (wasmhost run: stderr or --log-file)
//! [sinks.rust]
//! type = "file"                    # stderr | stdout | file | discard
//! path = "rust.log"
//! format = "json"                  # json (default) | text
//! max_bytes = 10485760             # file only: rotate past this size ...
//! keep = 3                         # ... keeping this many old files
//! policy = "block"                 # block (default: nothing is lost) | drop
//! queue = 16384                    # records the sink's queue holds
//!
//! [[routes]]
//! match = '{lang="rust", stream="stderr"}'
//! sinks = ["rust"]
//! continue = false                 # true: later routes may match too
//!
//! [lift]                           # guests' own levels and fields (docs/log-format.md)
//! enabled = true                   # the default; `wasmhost run --lift off` beats it
//! prefix = "guest_"                # guest fields are written as prefix + key
//! multiline = true                 # join panics and tracebacks into one record
//! [[lift.rules]]                   # per instance, first match wins
//! match = '{module="legacy"}'      # a stream selector over lang, module, labels
//! enabled = false
//! ```
//!
//! Sink types this crate does not know (`loki`, `otlp`) are built by a
//! [`SinkFactory`] from a crate above (`wasmhost-export`), given to
//! [`RoutingConfig::build_with`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::format::{Detail, JsonFormat, TextFormat};
use crate::lift::{LiftConfig, LiftRule, Lifter};
use crate::pipeline::{Policy, SinkSpec};
use crate::rotate::RotatingFile;
use crate::router::Router;
use crate::sink::{Sink, WriterSink};

/// A config file that cannot be used, with the reason.
#[derive(Debug, thiserror::Error)]
#[error("{}{}{}", .path.display(), separator(.reason), .reason)]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub reason: String,
}

/// `FILE:LINE:COL: message` when the reason starts with a position, else
/// `FILE: reason`.
fn separator(reason: &str) -> &'static str {
    if reason.starts_with(|c: char| c.is_ascii_digit()) {
        ":"
    } else {
        ": "
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SinkConfig {
    #[serde(rename = "type")]
    kind: String,
    path: Option<PathBuf>,
    #[serde(default)]
    format: Option<String>,
    max_bytes: Option<u64>,
    #[serde(default)]
    keep: Option<usize>,
    #[serde(default)]
    policy: Option<String>,
    queue: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteConfig {
    #[serde(rename = "match")]
    query: String,
    sinks: Vec<String>,
    #[serde(default, rename = "continue")]
    continue_matching: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LiftSection {
    enabled: Option<bool>,
    prefix: Option<String>,
    multiline: Option<bool>,
    #[serde(default)]
    rules: Vec<LiftRuleConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LiftRuleConfig {
    #[serde(rename = "match")]
    query: String,
    enabled: bool,
}

/// A parsed routing config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingConfig {
    #[serde(default)]
    lift: Option<LiftSection>,
    #[serde(default)]
    default_sinks: Option<Vec<String>>,
    /// Kept as tables until built: a factory may know types (and keys) this
    /// crate does not.
    #[serde(default)]
    sinks: BTreeMap<String, toml::Table>,
    #[serde(default)]
    routes: Vec<RouteConfig>,
}

/// Builds sinks of types the routing config does not know itself, such as
/// the network sinks of `wasmhost-export` (which depends on this crate, so
/// this crate cannot name them).
pub trait SinkFactory {
    /// Builds sink `name` of type `kind` from its table (`type`, `policy` and
    /// `queue` already taken out); `None` when `kind` is not one of its types.
    fn build(&self, name: &str, kind: &str, table: toml::Table) -> Option<Result<Box<dyn Sink>, String>>;
}

/// The factory of [`RoutingConfig::build`]: knows no extra types.
struct NoFactory;

impl SinkFactory for NoFactory {
    fn build(&self, _: &str, _: &str, _: toml::Table) -> Option<Result<Box<dyn Sink>, String>> {
        None
    }
}

/// Records a sink queue holds unless the config says otherwise.
pub const DEFAULT_QUEUE: usize = 16 * 1024;

impl RoutingConfig {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<RoutingConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError { path: path.to_owned(), reason: e.to_string() })?;
        RoutingConfig::parse(&text, path)
    }

    /// Parses a config from its text; `path` names it in errors. Nothing is
    /// opened until [`RoutingConfig::build`].
    ///
    /// ```
    /// use std::path::Path;
    /// use wasmhost_log::RoutingConfig;
    /// assert!(RoutingConfig::parse("[sinks.x]\ntype = \"discard\"\n", Path::new("r.toml")).is_ok());
    /// assert!(RoutingConfig::parse("sinks = 3", Path::new("r.toml")).is_err());
    /// // Syntax errors say where, as compilers do, with the line and a caret.
    /// let e = RoutingConfig::parse("[sinks.x]\ntype = \"file\" x\n", Path::new("r.toml")).unwrap_err();
    /// assert!(e.to_string().starts_with("r.toml:2:15: "), "{e:?}");
    /// assert!(e.to_string().contains("2 | type = \"file\" x\n"), "{e}");
    /// ```
    pub fn parse(text: &str, path: &Path) -> Result<RoutingConfig, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError { path: path.to_owned(), reason: toml_reason(&e, text) })
    }

    /// The `[lift]` section applied over `base` (what the embedder chose
    /// without the file).
    pub fn lift(&self, path: &Path, base: LiftConfig) -> Result<LiftConfig, ConfigError> {
        let err = |reason: String| ConfigError { path: path.to_owned(), reason };
        let Some(section) = &self.lift else { return Ok(base) };
        let mut config = base;
        config.enabled = section.enabled.unwrap_or(config.enabled);
        config.multiline = section.multiline.unwrap_or(config.multiline);
        if let Some(prefix) = &section.prefix {
            config.lifter = std::sync::Arc::new(Lifter::new(prefix).map_err(|e| err(format!("[lift] {e}")))?);
        }
        for rule in &section.rules {
            config.rules.push(LiftRule::new(&rule.query, rule.enabled).map_err(|e| err(format!("[lift] {e}")))?);
        }
        Ok(config)
    }

    /// Opens the sinks and compiles the routes. `default` is the embedder's
    /// own sink, named `default` in the file.
    pub fn build(self, path: &Path, default: Box<dyn Sink>) -> Result<(Vec<SinkSpec>, Router), ConfigError> {
        self.build_with(path, default, &NoFactory)
    }

    /// [`RoutingConfig::build`], with `factory` building the sink types this
    /// crate does not know.
    pub fn build_with(
        self,
        path: &Path,
        default: Box<dyn Sink>,
        factory: &dyn SinkFactory,
    ) -> Result<(Vec<SinkSpec>, Router), ConfigError> {
        let err = |reason: String| ConfigError { path: path.to_owned(), reason };
        let mut specs = vec![SinkSpec { name: "default".into(), sink: default, policy: Policy::Block, queue: DEFAULT_QUEUE }];
        for (name, mut table) in self.sinks {
            if name == "default" {
                return Err(err("the sink name `default` is the built-in one; choose another".into()));
            }
            let kind = table.get("type").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            if !["stderr", "stdout", "discard", "file"].contains(&kind.as_str()) {
                let common: SinkConfig = common_keys(&mut table).map_err(|e| err(format!("sink {name}: {e}")))?;
                let policy = policy(&name, common.policy.as_deref()).map_err(err)?;
                let sink = match factory.build(&name, &kind, table) {
                    Some(sink) => sink.map_err(|e| err(format!("sink {name}: {e}")))?,
                    None => return Err(err(format!("sink {name}: unknown type {kind:?} (stderr, stdout, file, discard, loki, otlp)"))),
                };
                specs.push(SinkSpec { name, sink, policy, queue: common.queue.unwrap_or(DEFAULT_QUEUE) });
                continue;
            }
            let c: SinkConfig = toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| {
                err(format!("sink {name}: {}", e.to_string().trim().replace('\n', " ")))
            })?;
            let text = match c.format.as_deref() {
                None | Some("json") => false,
                Some("text") => true,
                Some(other) => return Err(err(format!("sink {name}: unknown format {other:?} (json, text)"))),
            };
            let policy = policy(&name, c.policy.as_deref()).map_err(err)?;
            let sink: Box<dyn Sink> = match c.kind.as_str() {
                "stderr" => writer(text, std::io::stderr()),
                "stdout" => writer(text, std::io::stdout()),
                "discard" => writer(text, std::io::sink()),
                "file" => {
                    let file_path = c.path.ok_or_else(|| err(format!("sink {name}: a file sink needs `path`")))?;
                    // 0 would rotate before every write: with `keep = 0` the
                    // file would hold only the last batch of lines.
                    if c.max_bytes == Some(0) {
                        return Err(err(format!("sink {name}: max_bytes must be at least 1 (leave it out to never rotate)")));
                    }
                    let file = RotatingFile::open(&file_path, c.max_bytes.unwrap_or(u64::MAX), c.keep.unwrap_or(0))
                        .map_err(|e| err(format!("sink {name}: {}: {e}", file_path.display())))?;
                    writer(text, file)
                }
                other => return Err(err(format!("sink {name}: unknown type {other:?} (stderr, stdout, file, discard)"))),
            };
            specs.push(SinkSpec { name, sink, policy, queue: c.queue.unwrap_or(DEFAULT_QUEUE) });
        }
        let index = |name: &str| {
            specs.iter().position(|s| s.name == name).ok_or_else(|| err(format!("no sink named {name:?}")))
        };
        let defaults = self.default_sinks.unwrap_or_else(|| vec!["default".into()]);
        let mut router = Router::new(defaults.iter().map(|n| index(n)).collect::<Result<_, _>>()?);
        for route in self.routes {
            let sinks = route.sinks.iter().map(|n| index(n)).collect::<Result<Vec<_>, _>>()?;
            router = router.route(&route.query, sinks, route.continue_matching).map_err(|e| err(e.to_string()))?;
        }
        Ok((specs, router))
    }
}

fn policy(name: &str, policy: Option<&str>) -> Result<Policy, String> {
    match policy {
        None | Some("block") => Ok(Policy::Block),
        Some("drop") => Ok(Policy::Drop),
        Some(other) => Err(format!("sink {name}: unknown policy {other:?} (block, drop)")),
    }
}

/// Takes the keys every sink has (`type`, `policy`, `queue`) out of a table
/// meant for a [`SinkFactory`].
/// A TOML error as compilers write theirs: `LINE:COL: message` (so the
/// whole error reads `FILE:LINE:COL: message`), then toml's caret view of the
/// line.
fn toml_reason(e: &toml::de::Error, text: &str) -> String {
    let message = e.message().trim();
    let Some(span) = e.span() else { return message.to_owned() };
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    let shown = e.to_string();
    // The view: the `  |`, `3 | text`, `  |   ^` lines of toml's own report.
    let view: Vec<&str> = shown
        .lines()
        .filter(|l| l.split_once('|').is_some_and(|(gutter, _)| gutter.trim().chars().all(|c| c.is_ascii_digit())))
        .collect();
    format!("{line}:{column}: {message}\n{}", view.join("\n"))
}

fn common_keys(table: &mut toml::Table) -> Result<SinkConfig, String> {
    let mut common = toml::Table::new();
    for key in ["type", "policy", "queue"] {
        if let Some(v) = table.remove(key) {
            common.insert(key.into(), v);
        }
    }
    toml::Value::Table(common).try_into().map_err(|e: toml::de::Error| e.to_string().trim().replace('\n', " "))
}

fn writer(text: bool, out: impl std::io::Write + Send + 'static) -> Box<dyn Sink> {
    if text {
        // A file is read later, and in full: every field.
        Box::new(WriterSink::new(TextFormat { color: false, detail: Detail::Verbose }, out))
    } else {
        Box::new(WriterSink::new(JsonFormat, out))
    }
}
