//! Running one instance: its WASI context, limits and log, and the host
//! events that frame its life (`instance.start`, `instance.trap`,
//! `instance.timeout`, `instance.out_of_fuel`, `instance.exit`).

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::Either;
use futures_util::FutureExt;
use uuid::Uuid;
use wasmhost_nn::{observe_glue, NnHost, WasiNnCtx};
use wasmhost_log::{lock, FieldValue, InstanceContext, InstanceLog, Level, LiftConfig, LogCounters, LogRecord, LogSender, RecordTap, Stream};
use wasmtime::{Store, Trap, UpdateDeadline, Val, WasmBacktrace};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

use crate::cancel::CancelToken;
use crate::capture::{Capture, HostStdout};
use crate::error::{one_line, RunError};
use crate::host::Host;
use crate::invoke::Value;
use crate::limits::{LimitHit, Limiter, Limits};
use crate::module::{Linked, LoadedModule};
use crate::network::Network;
use crate::trace::TraceParent;

/// What the wasmtime `Store` of an instance holds.
pub struct InstanceState {
    /// The instance's WASI preview1 context.
    pub(crate) wasi: WasiP1Ctx,
    /// Memory and table limits, and the refusals so far.
    pub(crate) limiter: Limiter,
    /// The instance's UUIDv7: every line of the instance carries it.
    pub wasm_instance_id: Uuid,
    /// The host's WASI-NN state, when NN is on.
    nn_host: Option<Arc<NnHost>>,
    /// The instance's WASI-NN context, made on its first NN call.
    nn: Option<WasiNnCtx>,
    /// Lifting (for the prefix of `wasmhost_log` import fields).
    pub(crate) lift: Arc<LiftConfig>,
    /// The most bytes one `wasmhost_log` call may pass (the line limit).
    pub(crate) guest_log_max: usize,
}

impl InstanceState {
    /// The instance's WASI-NN context; its calls are events on the
    /// instance's log. Only reached through the NN imports, which are linked
    /// only when the host has NN on.
    pub(crate) fn nn_context(&mut self) -> &mut WasiNnCtx {
        let (host, log) = (&self.nn_host, &self.limiter.log);
        self.nn.get_or_insert_with(|| {
            let host = host.as_ref().expect("NN imports are linked only when the host has NN state");
            host.context(log.clone())
        })
    }
}

/// A host directory made visible to the guest (`--dir HOST::GUEST`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preopen {
    /// The directory on the host.
    pub host: PathBuf,
    /// The path the guest sees it as.
    pub guest: String,
}

/// What the guest reads on its standard input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Stdin {
    /// Nothing: reads see end of file at once.
    #[default]
    Null,
    /// The host process's stdin.
    Inherit,
    /// These bytes, then end of file (e.g. a request body).
    Bytes(Vec<u8>),
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
    /// Tag the guest's stdout lines too, instead of passing them through to
    /// the host's stdout.
    pub capture_stdout: bool,
    /// Where the guest's stdout goes when it is not captured: `None` for the
    /// host's stdout, or a buffer the caller reads after the run (the
    /// gateway's response body).
    pub stdout_buffer: Option<OutputBuffer>,
    /// Also keep a copy of the guest's raw stderr bytes here (they are
    /// logged as usual): for callers that compare output exactly.
    pub stderr_copy: Option<OutputBuffer>,
    /// What the guest reads on stdin.
    pub stdin: Stdin,
    /// Extra labels on every line. A key of the format itself (`exit_code`,
    /// `trace_id`, `lang`, … see [`wasmhost_log::RESERVED_KEYS`]), a key that
    /// is not a valid Loki/OpenTelemetry name, or a key given twice makes
    /// [`Host::run`] fail with [`RunError::Label`].
    pub labels: Vec<(String, String)>,
    /// A W3C `traceparent` header value: its trace and parent ids go on every
    /// line as `trace_id` and `span_id`. An invalid value is ignored, as the
    /// W3C spec asks.
    pub traceparent: Option<String>,
    /// Call this export instead of `_start`.
    pub invoke: Option<String>,
    /// Limits; `None` uses the host's [`HostConfig::default_limits`](crate::HostConfig::default_limits).
    pub limits: Option<Limits>,
    /// What the guest may reach through `wasi:sockets`; the default is the
    /// sandbox (nothing), as under `wasmtime run`.
    pub network: Network,
    /// Lift this instance's lines (`Some(true)`) or not (`Some(false)`),
    /// whatever [`HostConfig::lift`](crate::HostConfig::lift) and its rules
    /// say; `None` follows them.
    pub lift: Option<bool>,
    /// Keep this instance's own records (its lines and events, as sent to
    /// the pipeline) and return them in [`RunOutcome::records`]: a request's
    /// log lines, e.g. for its response or its error report.
    pub keep_records: bool,
    /// Hand each of this instance's records to this function as it is made
    /// (besides the pipeline), e.g. to stream them to a client; see
    /// [`RecordTap`] for what it may do.
    pub on_record: Option<RecordTap>,
    /// Stops the run when cancelled (from any thread): the run ends with
    /// `instance.stopped` and `instance.exit` (exit 134), as at a shutdown.
    pub cancel: Option<CancelToken>,
}

/// A buffer that collects what a guest writes to one of its output streams
/// (stdout for [`RunOptions::stdout_buffer`], stderr for
/// [`RunOptions::stderr_copy`]), up to a capacity.
pub type OutputBuffer = wasmtime_wasi::p2::pipe::MemoryOutputPipe;

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
    /// The host stopped the guest at a limit (timeout, fuel).
    Limit(LimitHit),
    /// The host stopped it ([`Host::stop_all`], e.g. on SIGTERM), or the
    /// run's [`CancelToken`] was cancelled.
    Stopped,
    /// A host function failed, or panicked (not a trap of the guest's own making).
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
    /// The exit code: the guest's own; 134 after a trap or a limit that
    /// stopped it (as `wasmtime run` on Unix); 1 after a host error.
    pub exit_code: i32,
    /// How it ended.
    pub ended: Ended,
    /// Every limit the instance ran into, including refused memory growth
    /// that did not end it.
    pub limits_hit: Vec<LimitHit>,
    /// Wall time from instantiation to the end.
    pub duration: Duration,
    /// Fuel burned, when fuel was metered.
    pub fuel_used: Option<u64>,
    /// Lines, bytes and records of the instance's log.
    pub log: LogCounters,
    /// What the function named by [`RunOptions::invoke`] returned (empty
    /// for `_start`, and when the call did not return). A component's
    /// function gives one [`Value::Wave`] holding all its results.
    pub results: Vec<Value>,
    /// The instance's own records, in `seq` order, when
    /// [`RunOptions::keep_records`] asked for them (else empty).
    pub records: Vec<LogRecord>,
}

/// The exit code `wasmtime run` uses after a trap on Unix (SIGABRT's); the
/// text format names it on the trap's line.
pub const TRAP_EXIT_CODE: i32 = wasmhost_log::TRAP_EXIT_CODE;

impl Host {
    /// Runs one instance of `module` to its end, sending its log records to
    /// `sender`. The instance runs in a tokio task, whose id is its records'
    /// `task_id`: the caller's task, or, when `run` is awaited outside any
    /// task (in `block_on`, `#[tokio::main]`'s body), a task of its own that
    /// is aborted if this future is dropped (e.g. by `tokio::time::timeout`).
    ///
    /// Returns `Err` only when the instance could not be set up; everything
    /// the guest does, traps, limits and panics of host functions included,
    /// is an `Ok` outcome (and logged).
    pub async fn run(&self, module: &LoadedModule, options: RunOptions, sender: LogSender) -> Result<RunOutcome, RunError> {
        if tokio::task::try_id().is_some() {
            return self.run_in_task(module, options, sender).await;
        }
        // Cheap clones: the host's and the module's parts are shared.
        let (host, module) = (self.clone(), module.clone());
        let mut task = AbortOnDrop(tokio::spawn(async move { host.run_in_task(&module, options, sender).await }));
        match (&mut task.0).await {
            Ok(outcome) => outcome,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Only a runtime that is shutting down cancels the task.
            Err(_) => Err(RunError::Instantiate("the tokio runtime is shutting down".into())),
        }
    }

    async fn run_in_task(&self, module: &LoadedModule, options: RunOptions, sender: LogSender) -> Result<RunOutcome, RunError> {
        let entry = module.entry(options.invoke.as_deref())?;
        InstanceContext::check_labels(&options.labels).map_err(RunError::Label)?;
        // `--invoke`'s arguments, parsed into the function's parameters
        // before anything runs (as `wasmtime run` does).
        // (A component's function is named with its arguments, in WAVE:
        // `--invoke 'greet("world", 2)'`.)
        let export = module.linked.core_module().and_then(|m| m.get_export(entry));
        let component_call = match (&module.linked, &options.invoke) {
            (Linked::Component(component), Some(invoke)) => Some(component.call(invoke)?),
            _ => None,
        };
        let params = match (&options.invoke, export) {
            (Some(name), Some(export)) => match export.func() {
                Some(ty) => crate::invoke::params(name, ty, &options.args)?,
                None => Vec::new(),
            },
            _ => Vec::new(),
        };
        let limits = options.limits.unwrap_or(self.config.default_limits);
        if limits.fuel.is_some() && !self.config.fuel {
            return Err(RunError::FuelNotMetered);
        }
        if limits.timeout.is_some() && !self.config.epoch_interruption {
            return Err(RunError::TimeoutNeedsEpochs);
        }
        let id = Uuid::now_v7();
        let mut labels = options.labels.clone();
        if let Some(trace) = options.traceparent.as_deref().and_then(TraceParent::parse) {
            labels.push(("trace_id".into(), trace.trace_id));
            labels.push(("span_id".into(), trace.parent_id));
        }
        let ctx = InstanceContext {
            wasm_instance_id: id.to_string(),
            lang: module.lang.lang.as_str().to_owned(),
            module: module.name.clone(),
            task_id: tokio::task::try_id().and_then(|t| t.to_string().parse().ok()),
            labels,
        };
        let lift = match options.lift {
            None => self.lift.clone(),
            Some(enabled) => Arc::new(LiftConfig { enabled, rules: Vec::new(), ..(*self.lift).clone() }),
        };
        let mut log = InstanceLog::new(Arc::new(ctx), sender, self.config.max_line).with_lift(&lift);
        let kept = Arc::new(Mutex::new(Vec::new()));
        if options.keep_records {
            let kept = kept.clone();
            log = log.with_tap(RecordTap::new(move |r: &LogRecord| kept.lock().unwrap_or_else(|p| p.into_inner()).push(r.clone())));
        }
        if let Some(tap) = &options.on_record {
            log = log.with_tap(tap.clone());
        }
        let log = Arc::new(Mutex::new(log));
        let wasi = wasi_context(module, &options, &log)?;

        lock(&log).event(Level::Info, "instance.start", format!("starting {}", module.path.display()), start_fields(module, &limits));
        let _ = InstanceLog::drain(&log).await;
        let _running = self.enter_running(id, log.clone());

        let _ticking = self.ticker.as_ref().map(|ticker| ticker.running());
        let started = Instant::now();
        let limiter = Limiter {
            max_memory: limits.max_memory,
            max_table_elements: limits.max_table_elements,
            log: log.clone(),
            hits: Vec::new(),
        };
        let state = InstanceState {
            wasi,
            limiter,
            wasm_instance_id: id,
            nn_host: self.nn.clone(),
            nn: None,
            lift,
            guest_log_max: self.config.max_line,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        if let Some(fuel) = limits.fuel {
            store.set_fuel(fuel).map_err(|e| RunError::Instantiate(one_line(&e)))?;
        } else if self.config.fuel {
            store.set_fuel(u64::MAX).map_err(|e| RunError::Instantiate(one_line(&e)))?;
        }
        // Every epoch tick the guest yields its worker (fairness among
        // thousands of guests on few threads); past the timeout it stops.
        let deadline = limits.timeout.map(|t| started + t);
        let stopping = self.stopping.clone();
        let cancel = options.cancel.clone();
        let cancelled = move || cancel.as_ref().is_some_and(CancelToken::is_cancelled);
        let stop_now = {
            let cancelled = cancelled.clone();
            move || stopping.load(std::sync::atomic::Ordering::Relaxed) || cancelled()
        };
        if self.config.epoch_interruption {
            store.set_epoch_deadline(1);
            store.epoch_deadline_callback(move |store| match deadline {
                _ if stop_now() => Ok(UpdateDeadline::Interrupt),
                Some(deadline) if Instant::now() >= deadline => Ok(UpdateDeadline::Interrupt),
                // Events from synchronous host calls (WASI-NN's) cannot wait for
                // a full pipeline where they are made; the guest waits for them
                // here instead, so they never pile up for more than a tick.
                _ if lock(&store.data().limiter.log).is_backlogged() => {
                    let log = store.data().limiter.log.clone();
                    Ok(UpdateDeadline::YieldCustom(1, Box::pin(async move { let _ = InstanceLog::drain(&log).await; })))
                }
                // tokio's own yield, not wasmtime's `Yield` (a task that wakes
                // itself, which tokio runs again at once from its LIFO slot and
                // polls the I/O driver only every 61 ticks): with every worker
                // busy with spinning guests, a sidecar's new connections then
                // waited ~0.6 s per I/O step. `yield_now` lets the driver run first.
                _ => Ok(UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now()))),
            });
        }

        let body = async {
            let instance = match &module.linked {
                Linked::Core(pre) => pre.instantiate_async(&mut store).await,
                Linked::Preloaded(preloaded) => preloaded.instantiate(&mut store).await,
                Linked::Component(component) => match &component_call {
                    Some(call) => return component.call_async(call, &mut store).await.map(|ran| ran.map(|wave| vec![Value::Wave(wave)])),
                    None => return crate::component::run_command(component.command()?, &mut store).await.map(|ran| ran.map(|()| Vec::new())),
                },
            };
            let instance = instance.map_err(|e| RunError::Instantiate(one_line(&e)))?;
            // The export exists (checked above); `_start` must take and
            // return nothing, an invoked function gets its parsed arguments.
            if options.invoke.is_none() {
                let func = instance
                    .get_typed_func::<(), ()>(&mut store, entry)
                    .map_err(|e| RunError::Instantiate(format!("{entry}: {}", one_line(&e))))?;
                return Ok::<_, RunError>(func.call_async(&mut store, ()).await.map(|()| Vec::new()));
            }
            let func = instance.get_func(&mut store, entry).ok_or_else(|| RunError::Instantiate(format!("{entry} is not a function")))?;
            let mut results = vec![Val::I32(0); func.ty(&store).results().len()];
            let called = func.call_async(&mut store, &params, &mut results).await;
            Ok(called.map(|()| results.iter().filter_map(Value::from_val).collect()))
        };
        // Errors wasmtime-wasi-nn's glue finds itself reach this instance's
        // log through `tracing` while the instance is polled.
        // (A module that imports WASI-NN only links on a host that has it.)
        let body = match module.imports_nn {
            true => Either::Left(observe_glue(log.clone(), body)),
            false => Either::Right(body),
        };
        // Multi-line blocks the guest printed leave after their window even
        // while it sleeps or blocks (the releaser waits on a timer, not on
        // the guest's next line).
        let body = async {
            let release = std::pin::pin!(InstanceLog::release_blocks(&log));
            match futures_util::future::select(std::pin::pin!(body), release).await {
                Either::Left((done, _)) => done,
                Either::Right((never, _)) => match never {},
            }
        };
        // A guest blocked in a host call (a `poll_oneoff` sleep, a stdin read,
        // a full log) never reaches an epoch check: the timeout and the
        // host's stop race the call instead, and the one that wins drops it
        // (wasmtime unwinds the guest's stack), as `wasmtime run -W timeout`.
        let interrupt = interrupted(deadline.zip(limits.timeout), self.stop.subscribe(), options.cancel.clone());
        let race = {
            // A panic in a host function must end this instance only.
            let call = std::pin::pin!(AssertUnwindSafe(body).catch_unwind());
            let interrupt = std::pin::pin!(interrupt);
            match futures_util::future::select(call, interrupt).await {
                Either::Left((call, _)) => Ok(call),
                Either::Right((why, _)) => Err(why),
            }
        };
        let duration = started.elapsed();
        // Whatever happened, the guest can write no more: its last partial
        // lines are emitted before the events that close its log.
        lock(&log).finish_streams();
        let mut results = Vec::new();
        let (exit_code, ended) = match race {
            Err(Interrupted::Stopped) => (TRAP_EXIT_CODE, Ended::Stopped),
            Err(Interrupted::TimedOut(limit)) => (TRAP_EXIT_CODE, Ended::Limit(LimitHit::Timeout { limit })),
            Ok(Ok(Ok(Ok(values)))) => {
                results = values;
                (0, Ended::Exit)
            }
            Ok(Ok(Ok(Err(e))))
                if (self.stopping.load(std::sync::atomic::Ordering::Relaxed) || cancelled()) && e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) =>
            {
                (TRAP_EXIT_CODE, Ended::Stopped)
            }
            Ok(Ok(Ok(Err(e)))) => classify(&e, &module.name, &limits),
            Ok(Ok(Err(setup))) => {
                lock(&log).event(Level::Error, "instance.error", setup.to_string(), Vec::new());
                let _ = InstanceLog::drain(&log).await;
                return Err(setup);
            }
            Ok(Err(panic)) => (1, Ended::Error { message: format!("a host function panicked: {}", panic_message(&panic)) }),
        };
        let fuel_used = match (self.config.fuel, store.get_fuel()) {
            (true, Ok(left)) => Some(limits.fuel.unwrap_or(u64::MAX) - left),
            _ => None,
        };
        let limits_hit = {
            let mut hits = std::mem::take(&mut store.data_mut().limiter.hits);
            if let Ended::Limit(hit) = &ended {
                hits.push(hit.clone());
            }
            hits
        };
        drop(store);
        // A shutdown says so even when the run was cancelled as well.
        let why = if self.stopping.load(std::sync::atomic::Ordering::Relaxed) { "the host is shutting down" } else { "the run was cancelled" };
        // Unless a shutdown closed the log already (`Host::close_running`).
        lock(&log).seal_with(|log| end_events(log, &ended, exit_code, duration, fuel_used, why));
        let _ = InstanceLog::drain(&log).await;
        let counters = lock(&log).counters();
        let records = std::mem::take(&mut *kept.lock().unwrap_or_else(|p| p.into_inner()));
        Ok(RunOutcome { wasm_instance_id: id, exit_code, ended, limits_hit, duration, fuel_used, log: counters, results, records })
    }
}

/// A run's own task, aborted when the `run` future awaiting it is dropped,
/// as the run would be if it were polled in the caller's task.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Why a guest's call was dropped before it returned.
enum Interrupted {
    /// The host is stopping ([`Host::stop_all`]), or the run was cancelled.
    Stopped,
    /// The instance's timeout passed.
    TimedOut(Duration),
}

/// Resolves when the instance must stop although its call has not returned:
/// at `deadline` (its timeout), when the host stops, or when `cancel` is
/// cancelled. Guests running wasm are also stopped at their next epoch
/// tick; this reaches the ones blocked in a host call.
async fn interrupted(deadline: Option<(Instant, Duration)>, mut stop: tokio::sync::watch::Receiver<bool>, cancel: Option<CancelToken>) -> Interrupted {
    let host_stopped = async move {
        // The sender lives in the host, which outlives every run.
        if stop.wait_for(|stopping| *stopping).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let cancelled = async move {
        match cancel {
            Some(token) => token.cancelled().await,
            None => std::future::pending().await,
        }
    };
    let (host_stopped, cancelled) = (std::pin::pin!(host_stopped), std::pin::pin!(cancelled));
    let stopped = futures_util::future::select(host_stopped, cancelled);
    let timed_out = async move {
        match deadline {
            Some((at, limit)) => {
                tokio::time::sleep_until(at.into()).await;
                limit
            }
            None => std::future::pending().await,
        }
    };
    match futures_util::future::select(std::pin::pin!(stopped), std::pin::pin!(timed_out)).await {
        Either::Left(_) => Interrupted::Stopped,
        Either::Right((limit, _)) => Interrupted::TimedOut(limit),
    }
}

/// The events that close an instance's log; `why_stopped` says why an
/// [`Ended::Stopped`] instance was.
pub(crate) fn end_events(log: &mut InstanceLog, ended: &Ended, exit_code: i32, duration: Duration, fuel_used: Option<u64>, why_stopped: &str) {
    match ended {
        Ended::Exit => {}
        Ended::Trap { code, message, backtrace } => {
            let mut fields = vec![("trap_message", FieldValue::from(message.as_str())), ("backtrace", backtrace.as_str().into())];
            if let Some(code) = code {
                fields.insert(0, ("trap_code", code.as_str().into()));
            }
            log.event(Level::Error, "instance.trap", format!("trapped: {message}"), fields);
        }
        Ended::Limit(LimitHit::Timeout { limit }) => log.event(
            Level::Error,
            "instance.timeout",
            format!("stopped after {:.0} ms: the timeout is {} ms", duration.as_secs_f64() * 1000.0, limit.as_millis()),
            vec![("timeout_ms", FieldValue::millis(*limit)), ("elapsed_ms", FieldValue::millis(duration))],
        ),
        Ended::Limit(LimitHit::OutOfFuel { limit }) => log.event(
            Level::Error,
            "instance.out_of_fuel",
            format!("stopped: all {limit} fuel burned"),
            vec![("fuel_limit", FieldValue::U64(*limit))],
        ),
        Ended::Limit(_) => {}
        Ended::Stopped => log.event(Level::Warn, "instance.stopped", format!("stopped: {why_stopped}"), Vec::new()),
        Ended::Error { message } => log.event(Level::Error, "instance.error", message.clone(), Vec::new()),
    }
    let mut fields = vec![("exit_code", FieldValue::from(exit_code)), ("duration_ms", FieldValue::millis(duration))];
    if let Some(fuel) = fuel_used {
        fields.push(("fuel_used", FieldValue::U64(fuel)));
    }
    let level = if exit_code == 0 { Level::Info } else { Level::Warn };
    log.event(level, "instance.exit", format!("exited with code {exit_code}"), fields);
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

fn wasi_context(module: &LoadedModule, options: &RunOptions, log: &Arc<Mutex<InstanceLog>>) -> Result<WasiP1Ctx, RunError> {
    let mut builder = WasiCtxBuilder::new();
    let program = options.program_name.clone().unwrap_or_else(|| module.path.display().to_string());
    builder.arg(program).args(&options.args).envs(&options.env);
    match &options.stdin {
        Stdin::Null => {}
        Stdin::Inherit => {
            builder.inherit_stdin();
        }
        Stdin::Bytes(bytes) => {
            builder.stdin(wasmtime_wasi::p2::pipe::MemoryInputPipe::new(bytes.clone()));
        }
    }
    match (&options.stdout_buffer, options.capture_stdout) {
        (_, true) => builder.stdout(Capture { log: log.clone(), stream: Stream::Stdout, copy: None }),
        (Some(buffer), false) => builder.stdout(buffer.clone()),
        (None, false) => builder.stdout(HostStdout),
    };
    builder.stderr(Capture { log: log.clone(), stream: Stream::Stderr, copy: options.stderr_copy.clone() });
    for dir in &options.preopens {
        builder
            .preopened_dir(&dir.host, &dir.guest, FsPerms::ReadWrite)
            .map_err(|e| RunError::Preopen { host: dir.host.clone(), error: std::io::Error::other(one_line(&e)) })?;
    }
    options.network.apply(&mut builder);
    Ok(builder.build_p1())
}

/// The module's own start fields (built at load) and this run's limits.
fn start_fields(module: &LoadedModule, limits: &Limits) -> Vec<(&'static str, FieldValue)> {
    let mut fields = module.start_fields.clone();
    if let Some(t) = limits.timeout {
        fields.push(("timeout_ms", FieldValue::millis(t)));
    }
    if let Some(f) = limits.fuel {
        fields.push(("fuel_limit", FieldValue::U64(f)));
    }
    if let Some(m) = limits.max_memory {
        fields.push(("max_memory", FieldValue::U64(m as u64)));
    }
    fields
}

/// Turns the error a guest call ended with into an exit code and an ending.
fn classify(e: &wasmtime::Error, module_name: &str, limits: &Limits) -> (i32, Ended) {
    if let Some(exit) = e.downcast_ref::<I32Exit>() {
        return (exit.0, Ended::Exit);
    }
    if let Some(trap) = e.downcast_ref::<Trap>() {
        match (trap, limits.timeout, limits.fuel) {
            (Trap::Interrupt, Some(limit), _) => return (TRAP_EXIT_CODE, Ended::Limit(LimitHit::Timeout { limit })),
            (Trap::OutOfFuel, _, Some(limit)) => return (TRAP_EXIT_CODE, Ended::Limit(LimitHit::OutOfFuel { limit })),
            _ => {}
        }
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

impl Ended {
    /// A short name of the ending, for embedders that report it as a
    /// value: `exit`, `trap`, `timeout`, `out_of_fuel`, `limit`, `stopped`
    /// or `error` (the event that closed the instance's log says the same).
    ///
    /// ```
    /// assert_eq!(wasmhost::Ended::Stopped.name(), "stopped");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            Ended::Exit => "exit",
            Ended::Trap { .. } => "trap",
            Ended::Limit(LimitHit::Timeout { .. }) => "timeout",
            Ended::Limit(LimitHit::OutOfFuel { .. }) => "out_of_fuel",
            Ended::Limit(_) => "limit",
            Ended::Stopped => "stopped",
            Ended::Error { .. } => "error",
        }
    }
}
