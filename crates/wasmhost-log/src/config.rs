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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::format::{JsonFormat, TextFormat};
use crate::lift::{LiftConfig, LiftRule, Lifter};
use crate::pipeline::{Policy, SinkSpec};
use crate::rotate::RotatingFile;
use crate::router::Router;
use crate::sink::{Sink, WriterSink};

/// A config file that cannot be used, with the reason.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub reason: String,
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
    #[serde(default)]
    sinks: BTreeMap<String, SinkConfig>,
    #[serde(default)]
    routes: Vec<RouteConfig>,
}

/// Records a sink queue holds unless the config says otherwise.
pub const DEFAULT_QUEUE: usize = 16 * 1024;

impl RoutingConfig {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<RoutingConfig, ConfigError> {
        let err = |reason: String| ConfigError { path: path.to_owned(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        toml::from_str(&text).map_err(|e| err(e.to_string().trim().replace('\n', " ")))
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
        let err = |reason: String| ConfigError { path: path.to_owned(), reason };
        let mut specs = vec![SinkSpec { name: "default".into(), sink: default, policy: Policy::Block, queue: DEFAULT_QUEUE }];
        for (name, c) in self.sinks {
            if name == "default" {
                return Err(err("the sink name `default` is the built-in one; choose another".into()));
            }
            let text = match c.format.as_deref() {
                None | Some("json") => false,
                Some("text") => true,
                Some(other) => return Err(err(format!("sink {name}: unknown format {other:?} (json, text)"))),
            };
            let policy = match c.policy.as_deref() {
                None | Some("block") => Policy::Block,
                Some("drop") => Policy::Drop,
                Some(other) => return Err(err(format!("sink {name}: unknown policy {other:?} (block, drop)"))),
            };
            let sink: Box<dyn Sink> = match c.kind.as_str() {
                "stderr" => writer(text, std::io::stderr()),
                "stdout" => writer(text, std::io::stdout()),
                "discard" => writer(text, std::io::sink()),
                "file" => {
                    let file_path = c.path.ok_or_else(|| err(format!("sink {name}: a file sink needs `path`")))?;
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

fn writer(text: bool, out: impl std::io::Write + Send + 'static) -> Box<dyn Sink> {
    if text {
        Box::new(WriterSink::new(TextFormat { color: false }, out))
    } else {
        Box::new(WriterSink::new(JsonFormat, out))
    }
}
