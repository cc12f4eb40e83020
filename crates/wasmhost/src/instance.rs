//! Running one instance: its WASI context, its log, and the host events
//! that frame its life (`instance.start`, `instance.trap`, `instance.exit`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use uuid::Uuid;
use wasmhost_log::{lock, FieldValue, InstanceContext, InstanceLog, Level, LogCounters, LogSender, Stream};
use wasmtime::{Store, Trap, WasmBacktrace};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

use crate::capture::Capture;
use crate::error::{one_line, RunError};
use crate::host::Host;
use crate::module::LoadedModule;

/// What the wasmtime `Store` of an instance holds.
pub struct InstanceState {
    /// The instance's WASI preview1 context.
    pub(crate) wasi: WasiP1Ctx,
    /// The instance's UUIDv7: every line of the instance carries it.
    pub wasm_instance_id: Uuid,
}

/// A host directory made visible to the guest (`--dir HOST::GUEST`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preopen {
    /// The directory on the host.
    pub host: PathBuf,
    /// The path the guest sees it as.
    pub guest: String,
}

/// Everything about one run that is not the module.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `argv[0]` for the guest; default: the module's path as given.
    pub program_name: Option<String>,
    /// Arguments after `argv[0]`.
    pub args: Vec<String>,
    /// The guest's environment: exactly these variables.
    pub env: Vec<(String, String)>,
    /// Directories the guest may use; nothing else is reachable.
    pub preopens: Vec<Preopen>,
    /// Tag the guest's stdout lines too, instead of passing them through.
    pub capture_stdout: bool,
    /// Give the guest the host's stdin.
    pub inherit_stdin: bool,
    /// Extra labels on every line (keys checked with
    /// [`InstanceContext::check_label_key`] by the caller).
    pub labels: Vec<(String, String)>,
    /// Call this export instead of `_start`.
    pub invoke: Option<String>,
}

/// How an instance ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The guest returned from its entry or called `proc_exit`.
    Exit,
    /// The guest trapped.
    Trap {
        /// wasmtime's trap code, e.g. `UnreachableCodeReached`.
        code: Option<String>,
        /// The trap message.
        message: String,
        /// The wasm backtrace, one frame a line.
        backtrace: String,
    },
    /// A host function failed (not a trap of the guest's own making).
    Error {
        /// What went wrong.
        message: String,
    },
}

/// The result of [`Host::run`].
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The instance's UUIDv7.
    pub wasm_instance_id: Uuid,
    /// The exit code: the guest's own, 134 after a trap (as `wasmtime run`
    /// on Unix), 1 after a host error.
    pub exit_code: i32,
    /// How it ended.
    pub ended: Ended,
    /// Wall time from instantiation to the end.
    pub duration: Duration,
    /// Lines, bytes and records of the instance's log.
    pub log: LogCounters,
}

/// The exit code `wasmtime run` uses after a trap on Unix (SIGABRT's).
pub const TRAP_EXIT_CODE: i32 = 134;

impl Host {
    /// Runs one instance of `module` to its end, sending its log records to
    /// `sender`. Call it inside a tokio task: its id becomes `task_id`.
    ///
    /// Returns `Err` only when the instance could not be set up; everything
    /// the guest does, traps included, is an `Ok` outcome (and logged).
    pub async fn run(&self, module: &LoadedModule, options: RunOptions, sender: LogSender) -> Result<RunOutcome, RunError> {
        let entry = options.invoke.as_deref().unwrap_or("_start");
        let funcs: Vec<&str> = module.pre.module().exports().filter(|e| e.ty().func().is_some()).map(|e| e.name()).collect();
        if !funcs.contains(&entry) {
            return Err(RunError::NoEntry { name: entry.to_owned(), exports: funcs.join(", ") });
        }
        let id = Uuid::now_v7();
        let ctx = InstanceContext {
            wasm_instance_id: id.to_string(),
            lang: module.lang.lang.as_str().to_owned(),
            module: module.name.clone(),
            task_id: tokio::task::try_id().and_then(|t| t.to_string().parse().ok()),
            labels: options.labels.clone(),
        };
        let log = Arc::new(Mutex::new(InstanceLog::new(Arc::new(ctx), sender, self.config.max_line)));
        let wasi = wasi_context(module, &options, &log)?;

        lock(&log).event(Level::Info, "instance.start", format!("starting {}", module.path.display()), start_fields(module));
        let _ = InstanceLog::drain(&log).await;

        let started = Instant::now();
        let mut store = Store::new(&self.engine, InstanceState { wasi, wasm_instance_id: id });
        let result = async {
            let instance = module
                .pre
                .instantiate_async(&mut store)
                .await
                .map_err(|e| RunError::Instantiate(one_line(&e)))?;
            // The export exists (checked above); a wrong signature is an error here.
            let func = instance
                .get_typed_func::<(), ()>(&mut store, entry)
                .map_err(|e| RunError::Instantiate(format!("{entry}: {}", one_line(&e))))?;
            Ok::<_, RunError>(func.call_async(&mut store, ()).await)
        }
        .await;
        let duration = started.elapsed();
        // Whatever happened, the guest can write no more: its last partial
        // lines are emitted before the events that close its log.
        lock(&log).finish_streams();
        let call = match result {
            Ok(call) => call,
            Err(setup) => {
                lock(&log).event(Level::Error, "instance.error", setup.to_string(), Vec::new());
                let _ = InstanceLog::drain(&log).await;
                return Err(setup);
            }
        };
        let (exit_code, ended) = match call {
            Ok(()) => (0, Ended::Exit),
            Err(e) => classify(&e, &module.name),
        };
        {
            let mut log = lock(&log);
            match &ended {
                Ended::Exit => {}
                Ended::Trap { code, message, backtrace } => {
                    let mut fields = vec![("trap_message", FieldValue::from(message.as_str())), ("backtrace", backtrace.as_str().into())];
                    if let Some(code) = code {
                        fields.insert(0, ("trap_code", code.as_str().into()));
                    }
                    log.event(Level::Error, "instance.trap", format!("trapped: {message}"), fields);
                }
                Ended::Error { message } => {
                    log.event(Level::Error, "instance.error", message.clone(), Vec::new());
                }
            }
            let level = if exit_code == 0 { Level::Info } else { Level::Warn };
            log.event(
                level,
                "instance.exit",
                format!("exited with code {exit_code}"),
                vec![("exit_code", exit_code.into()), ("duration_ms", (duration.as_secs_f64() * 1000.0).into())],
            );
        }
        let _ = InstanceLog::drain(&log).await;
        let counters = lock(&log).counters();
        Ok(RunOutcome { wasm_instance_id: id, exit_code, ended, duration, log: counters })
    }
}

fn wasi_context(module: &LoadedModule, options: &RunOptions, log: &Arc<Mutex<InstanceLog>>) -> Result<WasiP1Ctx, RunError> {
    let mut builder = WasiCtxBuilder::new();
    let program = options.program_name.clone().unwrap_or_else(|| module.path.display().to_string());
    builder.arg(program).args(&options.args).envs(&options.env);
    if options.inherit_stdin {
        builder.inherit_stdin();
    }
    if options.capture_stdout {
        builder.stdout(Capture { log: log.clone(), stream: Stream::Stdout });
    } else {
        builder.inherit_stdout();
    }
    builder.stderr(Capture { log: log.clone(), stream: Stream::Stderr });
    for dir in &options.preopens {
        builder
            .preopened_dir(&dir.host, &dir.guest, FsPerms::ReadWrite)
            .map_err(|e| RunError::Preopen { host: dir.host.clone(), source: std::io::Error::other(one_line(&e)) })?;
    }
    Ok(builder.build_p1())
}

fn start_fields(module: &LoadedModule) -> Vec<(&'static str, FieldValue)> {
    vec![
        ("module_path", module.path.display().to_string().into()),
        ("module_size", module.size.into()),
        ("module_sha256", module.sha256.as_str().into()),
        ("lang_source", serde_plain_origin(module.lang.origin).into()),
        ("lang_confidence", module.lang.confidence.into()),
        ("lang_evidence", module.detection.evidence_summary().into()),
        ("compile", module.compile_source.as_str().into()),
        ("compile_ms", (module.compile_time.as_secs_f64() * 1000.0).into()),
    ]
}

fn serde_plain_origin(origin: wasmhost_detect::Origin) -> &'static str {
    match origin {
        wasmhost_detect::Origin::Override => "override",
        wasmhost_detect::Origin::Detected => "detected",
        wasmhost_detect::Origin::Environment => "environment",
    }
}

/// Turns the error a guest call ended with into an exit code and an ending.
fn classify(e: &wasmtime::Error, module_name: &str) -> (i32, Ended) {
    if let Some(exit) = e.downcast_ref::<I32Exit>() {
        return (exit.0, Ended::Exit);
    }
    if let Some(trap) = e.downcast_ref::<Trap>() {
        let backtrace = e.downcast_ref::<WasmBacktrace>().map(|bt| format_backtrace(bt, module_name)).unwrap_or_default();
        let ended = Ended::Trap { code: Some(format!("{trap:?}")), message: trap.to_string(), backtrace };
        return (TRAP_EXIT_CODE, ended);
    }
    (1, Ended::Error { message: one_line(e) })
}

/// Frames as `wasmtime run` prints them; `module_name` stands in for modules
/// whose `name` section has no name.
fn format_backtrace(bt: &WasmBacktrace, module_name: &str) -> String {
    bt.frames()
        .iter()
        .enumerate()
        .map(|(i, frame)| {
            let module = frame.module().name().unwrap_or(module_name);
            let func = match frame.func_name() {
                Some(name) => name.to_owned(),
                None => format!("<wasm function {}>", frame.func_index()),
            };
            match frame.module_offset() {
                Some(offset) => format!("{i}: {offset:#x} - {module}!{func}"),
                None => format!("{i}: {module}!{func}"),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}
