//! The host: one wasmtime engine and linker, built once, shared by every
//! module and instance.

use std::path::PathBuf;

use wasmtime::{Config, Engine, Linker};

use crate::error::HostError;
use crate::instance::InstanceState;

/// How a [`Host`] is built. `HostConfig::default()` is what the CLI uses.
///
/// ```
/// let config = wasmhost::HostConfig { max_line: 4096, ..Default::default() };
/// assert!(config.cache_dir.is_some());
/// ```
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Longest guest line kept whole, in bytes; longer lines are cut into
    /// pieces flagged `continued`. Default 16 KiB.
    pub max_line: usize,
    /// Records the log pipeline queues before guests have to wait. Default 16,384.
    pub queue_capacity: usize,
    /// Where compiled modules are cached, or `None` to always compile.
    /// Default: `$WASMHOST_CACHE_DIR`, else `$XDG_CACHE_HOME/wasmhost`,
    /// else `$HOME/.cache/wasmhost`.
    pub cache_dir: Option<PathBuf>,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig { max_line: 16 * 1024, queue_capacity: 16 * 1024, cache_dir: default_cache_dir() }
    }
}

fn default_cache_dir() -> Option<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    env("WASMHOST_CACHE_DIR")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("wasmhost")))
        .or_else(|| env("HOME").map(|d| d.join(".cache").join("wasmhost")))
}

/// The engine and WASI linker every instance is made from.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use wasmhost::{Host, HostConfig, RunOptions};
/// use wasmhost_log::{JsonFormat, Pipeline, WriterSink};
///
/// let host = Host::new(HostConfig::default())?;
/// let module = host.load_file("guests/build/c/hello.wasm".as_ref())?;
/// let pipeline = Pipeline::spawn(Box::new(WriterSink::new(JsonFormat, std::io::stderr())), 1024)?;
/// let outcome = host.run(&module, RunOptions::default(), pipeline.sender()).await?;
/// assert_eq!(outcome.exit_code, 0);
/// # Ok(()) }
/// ```
pub struct Host {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<InstanceState>,
    pub(crate) config: HostConfig,
}

impl Host {
    /// Builds the engine (async support, wasm backtraces) and links WASI
    /// preview1 through `wasmtime_wasi::p1`, the maintained successor of
    /// `wasi-common`.
    pub fn new(config: HostConfig) -> Result<Host, HostError> {
        // wasmtime's defaults keep wasm backtraces (20 frames) on, which the
        // `instance.trap` event reports.
        let wasm_config = Config::new();
        let engine = Engine::new(&wasm_config).map_err(|e| HostError::Engine(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |s: &mut InstanceState| &mut s.wasi)
            .map_err(|e| HostError::Wasi(e.to_string()))?;
        Ok(Host { engine, linker, config })
    }

    /// The wasmtime engine, for embedders that need it.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The configuration the host was built with.
    pub fn config(&self) -> &HostConfig {
        &self.config
    }
}
