//! The host handle: a [`wasmhost::Host`], the tokio runtime its instances
//! run on, and its log pipeline — the sinks of the same TOML config the CLI
//! reads (`wasmhost run --config`), network sinks included; without one, the
//! default sink fed directly, with no router thread (a run's callback is
//! its instance's own tap, [`crate::run`], not a sink).

use std::ffi::c_char;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use wasmhost::{Host, HostConfig, Pooling};
use wasmhost_export::{ExportFactory, Metrics};
use wasmhost_log::{JsonFormat, LiftConfig, LogSender, Pipeline, RoutingConfig, Sink, WriterSink};

use crate::{borrow_mut, guard, into_handle, out, require_out, str_arg, take_handle, Error, Kind, WasmhostStatus};

/// How a host is built; `NULL` options mean the defaults. Not thread-safe:
/// build it on one thread, pass it to `wasmhost_host_new`, free it.
pub struct WasmhostHostOptions {
    config: Option<PathBuf>,
    log_file: Option<PathBuf>,
    discard_default: bool,
    cache: bool,
    fuel: bool,
    pooling: Option<u32>,
}

impl Default for WasmhostHostOptions {
    fn default() -> Self {
        WasmhostHostOptions { config: None, log_file: None, discard_default: false, cache: true, fuel: false, pooling: None }
    }
}

/// A host: thread-safe. Any number of threads may load modules and run
/// instances on one host at once.
pub struct WasmhostHost {
    pub(crate) inner: Arc<HostInner>,
}

/// What a host handle and the modules loaded from it share. The last of
/// them to go flushes the sinks.
pub(crate) struct HostInner {
    pub(crate) host: Arc<Host>,
    pub(crate) runtime: Option<tokio::runtime::Runtime>,
    /// Cloned for every run; dropped before the pipeline is finished.
    sender: Option<LogSender>,
    pipeline: Option<Pipeline>,
    exports: Option<ExportFactory>,
}

/// How long the sinks get to write what is queued when the host goes.
const DRAIN_GRACE: Duration = Duration::from_secs(10);

impl Drop for HostInner {
    fn drop(&mut self) {
        self.host.stop_all();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
        if let Some(exports) = &self.exports {
            exports.begin_shutdown();
        }
        self.sender = None;
        if let Some(pipeline) = self.pipeline.take() {
            // Nobody is left to tell if the sinks are stuck: bounded, then given up.
            let _ = pipeline.finish_within(DRAIN_GRACE);
        }
    }
}

impl HostInner {
    /// A sender into the host's pipeline, for one run.
    pub(crate) fn sender(&self) -> Result<LogSender, Error> {
        self.sender.clone().ok_or_else(|| Error::new(WasmhostStatus::InvalidHandle, "the host is shutting down"))
    }

    fn new(options: &WasmhostHostOptions) -> Result<HostInner, Error> {
        let config_error = |e: String| Error::new(WasmhostStatus::Config, e);
        let routing = match &options.config {
            Some(path) => Some((path.as_path(), RoutingConfig::load(path).map_err(|e| config_error(e.to_string()))?)),
            None => None,
        };
        let lift = match &routing {
            Some((path, routing)) => routing.lift(path, LiftConfig::default()).map_err(|e| config_error(e.to_string()))?,
            None => LiftConfig::default(),
        };
        let mut config = HostConfig { fuel: options.fuel, lift, ..HostConfig::default() };
        if !options.cache {
            config.cache_dir = None;
        }
        if let Some(max_instances) = options.pooling {
            config.pooling = Some(Pooling { max_instances, ..Pooling::default() });
        }
        let host = Arc::new(Host::new(config).map_err(|e| config_error(e.to_string()))?);
        let (pipeline, exports) = pipeline(options, routing, host.config().queue_capacity)?;
        let runtime = wasmhost::runtime_builder()
            .thread_name("wasmhost-capi")
            .build()
            .map_err(|e| config_error(format!("starting the tokio runtime: {e}")))?;
        Ok(HostInner { host, runtime: Some(runtime), sender: Some(pipeline.sender()), pipeline: Some(pipeline), exports })
    }
}

/// The default sink: JSON lines appended to the log file, else to stderr,
/// or nowhere when discarded.
fn default_sink(options: &WasmhostHostOptions) -> Result<Box<dyn Sink>, Error> {
    if options.discard_default {
        return Ok(Box::new(WriterSink::new(JsonFormat, std::io::sink())));
    }
    Ok(match &options.log_file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| Error::new(WasmhostStatus::Config, format!("opening log file {}: {e}", path.display())))?;
            Box::new(WriterSink::new(JsonFormat, file))
        }
        None => Box::new(WriterSink::new(JsonFormat, std::io::stderr())),
    })
}

/// The configured sinks and routes (as `wasmhost run --config` builds
/// them, `loki` and `otlp` sinks included); without a config, the default
/// sink alone, fed straight from the instances' queue.
fn pipeline(options: &WasmhostHostOptions, routing: Option<(&Path, RoutingConfig)>, capacity: usize) -> Result<(Pipeline, Option<ExportFactory>), Error> {
    let config_error = |e: String| Error::new(WasmhostStatus::Config, e);
    let pipeline_error = |e: std::io::Error| config_error(format!("starting the log pipeline: {e}"));
    let default = default_sink(options)?;
    match routing {
        Some((path, routing)) => {
            // The network sinks' own events (retries, dead letters) go to stderr.
            let events = Arc::new(|record: wasmhost_log::LogRecord| {
                let mut sink = WriterSink::new(JsonFormat, std::io::stderr());
                let _ = sink.write(&record).and_then(|()| sink.flush());
            });
            let factory = ExportFactory::new(Metrics::new(), events, |name| std::env::var(name).ok());
            let (specs, router) = routing.build_with(path, default, &factory).map_err(|e| config_error(e.to_string()))?;
            Ok((Pipeline::routed(specs, router, capacity).map_err(pipeline_error)?, Some(factory)))
        }
        None => Ok((Pipeline::spawn(default, capacity).map_err(pipeline_error)?, None)),
    }
}

/// New host options with the defaults: no config file, records to stderr,
/// compile cache on, no fuel metering, no pooling. Free with
/// `wasmhost_host_options_free`.
#[no_mangle]
pub extern "C" fn wasmhost_host_options_new() -> *mut WasmhostHostOptions {
    into_handle(WasmhostHostOptions::default(), Kind::HostOptions)
}

/// Frees host options (NULL: `WASMHOST_STATUS_NULL_ARGUMENT`; freed twice:
/// `WASMHOST_STATUS_INVALID_HANDLE`).
#[no_mangle]
pub extern "C" fn wasmhost_host_options_free(options: *mut WasmhostHostOptions) -> WasmhostStatus {
    guard(std::ptr::null_mut(), || take_handle(options, Kind::HostOptions, "options").map(drop))
}

/// Routes records by this TOML file: the `[sinks]`, `[[routes]]` and
/// `[lift]` of `wasmhost run --config` (docs/routing.md). Read by
/// `wasmhost_host_new`.
#[no_mangle]
pub extern "C" fn wasmhost_host_options_config(options: *mut WasmhostHostOptions, path: *const c_char, error: *mut *mut c_char) -> WasmhostStatus {
    guard(error, || {
        let options = borrow_mut(options, Kind::HostOptions, "options")?;
        options.config = Some(PathBuf::from(str_arg(path, "path")?));
        Ok(())
    })
}

/// Appends the default sink's JSON lines to this file instead of stderr.
#[no_mangle]
pub extern "C" fn wasmhost_host_options_log_file(options: *mut WasmhostHostOptions, path: *const c_char, error: *mut *mut c_char) -> WasmhostStatus {
    guard(error, || {
        let options = borrow_mut(options, Kind::HostOptions, "options")?;
        options.log_file = Some(PathBuf::from(str_arg(path, "path")?));
        Ok(())
    })
}

/// Writes nothing to the default sink: records reach only the config's
/// routes and the runs' callbacks.
#[no_mangle]
pub extern "C" fn wasmhost_host_options_discard_default(options: *mut WasmhostHostOptions, error: *mut *mut c_char) -> WasmhostStatus {
    guard(error, || {
        borrow_mut(options, Kind::HostOptions, "options")?.discard_default = true;
        Ok(())
    })
}

/// Turns the compile cache on (the default) or off. The cache is the CLI's:
/// `$WASMHOST_CACHE_DIR`, else `$XDG_CACHE_HOME/wasmhost`, else `~/.cache/wasmhost`.
#[no_mangle]
pub extern "C" fn wasmhost_host_options_cache(options: *mut WasmhostHostOptions, enabled: bool, error: *mut *mut c_char) -> WasmhostStatus {
    guard(error, || {
        borrow_mut(options, Kind::HostOptions, "options")?.cache = enabled;
        Ok(())
    })
}

/// Meters fuel, so runs may set a fuel limit (costs some speed).
#[no_mangle]
pub extern "C" fn wasmhost_host_options_fuel(options: *mut WasmhostHostOptions, enabled: bool, error: *mut *mut c_char) -> WasmhostStatus {
    guard(error, || {
        borrow_mut(options, Kind::HostOptions, "options")?.fuel = enabled;
        Ok(())
    })
}

/// Pre-reserves slots for this many instances at once (the pooling
/// allocator: faster instantiation). 0 turns pooling off (the default).
#[no_mangle]
pub extern "C" fn wasmhost_host_options_pooling(options: *mut WasmhostHostOptions, max_instances: u32, error: *mut *mut c_char) -> WasmhostStatus {
    guard(error, || {
        borrow_mut(options, Kind::HostOptions, "options")?.pooling = (max_instances > 0).then_some(max_instances);
        Ok(())
    })
}

/// Builds a host from `options` (NULL: the defaults; the options stay the
/// caller's). On success `*host` is a new host, freed with `wasmhost_host_free`.
#[no_mangle]
pub extern "C" fn wasmhost_host_new(options: *const WasmhostHostOptions, host: *mut *mut WasmhostHost, error: *mut *mut c_char) -> WasmhostStatus {
    guard(error, || {
        require_out(host, "host")?;
        let defaults = WasmhostHostOptions::default();
        let options = match options.is_null() {
            true => &defaults,
            false => crate::borrow(options, Kind::HostOptions, "options")?,
        };
        let inner = HostInner::new(options)?;
        out(host, into_handle(WasmhostHost { inner: Arc::new(inner) }, Kind::Host));
        Ok(())
    })
}

/// Frees a host. Modules loaded from it keep what they need alive; when
/// the last of them is freed too, running guests are stopped and the sinks
/// get up to 10 s to write what is queued.
#[no_mangle]
pub extern "C" fn wasmhost_host_free(host: *mut WasmhostHost) -> WasmhostStatus {
    guard(std::ptr::null_mut(), || take_handle(host, Kind::Host, "host").map(drop))
}
