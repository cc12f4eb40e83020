//! The host: one wasmtime engine and linker, built once, shared by every
//! module and instance; the epoch ticker that enforces timeouts; and the
//! table of runs in progress that a shutdown closes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use uuid::Uuid;
use wasmhost_log::{InstanceLog, LiftConfig};
use wasmhost_nn::{NnConfig, NnHost};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, Linker, PoolingAllocationConfig};

use crate::error::{one_line, with_map_count_hint, HostError};
use crate::instance::InstanceState;
use crate::limits::Limits;

/// How often the engine's epoch advances: the granularity of timeouts, and
/// how long a busy guest may run before it yields its tokio worker to others.
///
/// Short, because a guest that computes without a host call holds its worker
/// for a whole tick, and every other guest on that worker waits behind it:
/// at 10 ms, 20 spinning guests among 200 held each woken guest (a sleep
/// ended, a log with room again) for tens to hundreds of ms, and loggers that
/// sleep between bursts wrote a quarter of their lines before a 3 s timeout
/// (BENCHMARKS.md, "Hardening (issue 18)"). A tick costs a guest one yield,
/// about a microsecond.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// How many tasks a tokio worker runs between two looks at its timers and
/// I/O when it never runs out of work (tokio's default is 61). Guests that
/// compute run a whole [`EPOCH_TICK`] per poll: at 61 polls a busy worker
/// looked at its timers every 60 ms or more, and a guest's 5 ms sleep took
/// hundreds. At 4, timers are seen within a few ticks. See [`runtime_builder`].
pub const EVENT_INTERVAL: u32 = 4;

/// A multi-thread tokio runtime builder fit for running many guests: time
/// and I/O enabled, and timers looked at often (see [`EVENT_INTERVAL`]) so
/// guests that sleep or wait are woken on time while others compute. Add
/// `worker_threads`, a thread name and so on as wanted.
///
/// ```
/// let runtime = wasmhost::runtime_builder().worker_threads(2).build().unwrap();
/// runtime.block_on(async { tokio::time::sleep(std::time::Duration::from_millis(1)).await });
/// ```
pub fn runtime_builder() -> tokio::runtime::Builder {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all().event_interval(EVENT_INTERVAL);
    builder
}

/// Pre-reserved instance slots for gateways that run many instances: fast
/// instantiation without an `mmap` per instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pooling {
    /// How many instances may exist at once, counted in core instances
    /// (and as many memories and tables): a component takes
    /// [`pool_slots`](crate::pool_slots) of them.
    pub max_instances: u32,
    /// The largest linear memory a slot holds, in bytes.
    pub max_memory_size: usize,
    /// Bytes of each slot's linear memory kept resident (zeroed, not
    /// returned to the kernel) between instances. Faster instantiation at a
    /// memory cost paid up front: 1 MiB made 10,000 idle instances take
    /// 1.5 GB instead of 0.37 GB here (see BENCHMARKS.md). Default 0.
    pub keep_resident: usize,
}

impl Default for Pooling {
    fn default() -> Self {
        Pooling { max_instances: 1000, max_memory_size: 1 << 30, keep_resident: 0 }
    }
}

/// How a [`Host`] is built. `HostConfig::default()` is what the CLI uses.
///
/// ```
/// let config = wasmhost::HostConfig { max_line: 4096, ..Default::default() };
/// assert!(config.pooling.is_none());
/// ```
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Longest guest line kept whole, in bytes; longer lines are cut into
    /// pieces flagged `continued`. Default 16 KiB; between
    /// [`MIN_LINE_BYTES`](wasmhost_log::MIN_LINE_BYTES) and
    /// [`MAX_LINE_BYTES`](wasmhost_log::MAX_LINE_BYTES) (1 MiB).
    pub max_line: usize,
    /// Records the log pipeline queues before guests have to wait. Default 16,384.
    pub queue_capacity: usize,
    /// Where compiled modules are cached, or `None` to always compile.
    /// Default: `$WASMHOST_CACHE_DIR`, else `$XDG_CACHE_HOME/wasmhost`,
    /// else `$HOME/.cache/wasmhost`.
    pub cache_dir: Option<PathBuf>,
    /// Meter fuel, so [`Limits::fuel`] can be enforced. Off by default:
    /// metering costs some speed.
    pub fuel: bool,
    /// Use the pooling allocator with these slots; `None` (the default)
    /// allocates each instance's memory on demand.
    pub pooling: Option<Pooling>,
    /// Limits for instances whose [`RunOptions`](crate::RunOptions) give none.
    pub default_limits: Limits,
    /// WASI-NN for guests that import `wasi_ephemeral_nn`: the backend and
    /// preloaded graphs. Default: tract, nothing preloaded. `None` leaves
    /// WASI-NN out, so such guests fail to link.
    pub nn: Option<NnConfig>,
    /// Lifting guests' own levels and fields out of their lines: on by
    /// default ([`LiftConfig::default`]); [`LiftConfig::off`] keeps lines
    /// as written. [`RunOptions::lift`](crate::RunOptions::lift) overrides it per run.
    pub lift: LiftConfig,
    /// Link WASI preview 0 (`wasi_unstable`) for the old modules that import
    /// it, as `wasmtime run` does by default (`-S preview0`). Default: on.
    pub preview0: bool,
    /// Compile guests with epoch checks (wasmtime's epoch interruption), on
    /// by default. They are what lets a host stop a guest that computes
    /// without calling the host: timeouts ([`Limits::timeout`] is refused
    /// without them), [`Host::stop_all`] reaching such a guest, and guests
    /// sharing a tokio worker taking turns (each yields every
    /// [`EPOCH_TICK`]). They cost compile time (about a sixth more CPU on a
    /// large component) and a little speed, so a host that runs one guest at
    /// a time without a timeout (`wasmhost run` does, as `wasmtime run` does
    /// without `-W timeout`) may turn them off; a guest stuck in wasm at a
    /// shutdown then has its log closed by [`Host::close_running`] instead.
    pub epoch_interruption: bool,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            max_line: 16 * 1024,
            queue_capacity: 16 * 1024,
            cache_dir: default_cache_dir(),
            fuel: false,
            pooling: None,
            default_limits: Limits::default(),
            nn: Some(NnConfig::default()),
            lift: LiftConfig::default(),
            preview0: true,
            epoch_interruption: true,
        }
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
///
/// Cloning a host is cheap: the clones share the engine, the linkers (until
/// one is changed through [`Host::linker_mut`]), the epoch ticker (stopped
/// when the last clone is dropped) and [`Host::stop_all`].
#[derive(Clone)]
pub struct Host {
    pub(crate) engine: Engine,
    pub(crate) linker: Arc<Linker<InstanceState>>,
    /// The WASI 0.2 linker components are linked with.
    pub(crate) component_linker: Arc<wasmtime::component::Linker<InstanceState>>,
    pub(crate) config: HostConfig,
    /// Advances the epoch while runs hold it; the last clone's drop stops
    /// its thread. `None` without epoch interruption.
    pub(crate) ticker: Option<Arc<Ticker>>,
    /// The logs of the runs in progress, for [`Host::close_running`].
    pub(crate) running: Arc<Mutex<HashMap<Uuid, Running>>>,
    /// Set by [`Host::stop_all`]: every running guest is interrupted at its
    /// next epoch check.
    pub(crate) stopping: Arc<AtomicBool>,
    /// Also set by [`Host::stop_all`]: wakes the runs whose guests are
    /// blocked in a host call, so they stop at once too.
    pub(crate) stop: tokio::sync::watch::Sender<bool>,
    /// The WASI-NN backend and preloaded graphs, when NN is on.
    pub(crate) nn: Option<Arc<NnHost>>,
    /// `config.lift`, shared by every instance.
    pub(crate) lift: Arc<LiftConfig>,
    /// Modules linked under a name for the modules loaded after them
    /// ([`Host::preload`], `--preload NAME=PATH`).
    pub(crate) preloads: Arc<Vec<(String, wasmtime::Module)>>,
}

impl Host {
    /// Builds the engine (async support, epoch interruption, fuel and
    /// pooling as configured) and links WASI preview1 through
    /// `wasmtime_wasi::p1`, the maintained successor of `wasi-common`, and
    /// WASI-NN through `wasmtime_wasi_nn::witx` (unless `config.nn` is `None`).
    pub fn new(config: HostConfig) -> Result<Host, HostError> {
        wasmhost_log::check_max_line(config.max_line).map_err(HostError::Config)?;
        // wasmtime's defaults keep wasm backtraces (20 frames) on, which the
        // `instance.trap` event reports.
        let mut wasm_config = Config::new();
        wasm_config.epoch_interruption(config.epoch_interruption).consume_fuel(config.fuel);
        if let Some(pooling) = config.pooling {
            let mut pool = PoolingAllocationConfig::default();
            // Decommitting in batches (and, if asked, keeping memory
            // resident) makes instantiation free of syscalls.
            pool.total_component_instances(pooling.max_instances)
                .total_core_instances(pooling.max_instances)
                .total_memories(pooling.max_instances)
                .total_tables(pooling.max_instances)
                .total_stacks(pooling.max_instances)
                .max_memory_size(pooling.max_memory_size)
                .linear_memory_keep_resident(pooling.keep_resident)
                .table_keep_resident(64 << 10)
                .decommit_batch_size(64);
            wasm_config
                .memory_reservation(pooling.max_memory_size as u64)
                .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&wasm_config).map_err(|e| HostError::Engine(with_map_count_hint(one_line(&e))))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut linker, |s: &mut InstanceState| &mut s.wasi)
            .map_err(|e| HostError::Wasi(e.to_string()))?;
        // `wasi_unstable` (preview 0), mapped onto the same preview1 context,
        // as `wasmtime run` links it unless `-S preview0=n`.
        if config.preview0 {
            wasmtime_wasi::p0::add_to_linker_async(&mut linker, |s: &mut InstanceState| &mut s.wasi)
                .map_err(|e| HostError::Wasi(e.to_string()))?;
        }
        let nn = match &config.nn {
            Some(nn_config) => {
                let nn = NnHost::new(nn_config).map_err(HostError::Nn)?;
                // The context is made on the first NN call: instances that
                // never call one pay nothing.
                wasmhost_nn::add_to_linker(&mut linker, |s: &mut InstanceState| s.nn_context())
                    .map_err(|e| HostError::Wasi(e.to_string()))?;
                Some(Arc::new(nn))
            }
            None => None,
        };
        crate::guest_log::add_to_linker(&mut linker).map_err(|e| HostError::Wasi(e.to_string()))?;
        let component_linker = crate::component::linker(&engine).map_err(|e| HostError::Wasi(e.to_string()))?;
        let ticker = match config.epoch_interruption {
            true => Some(Ticker::spawn(engine.clone()).map_err(|e| HostError::Engine(e.to_string()))?),
            false => None,
        };
        let stop = tokio::sync::watch::Sender::new(false);
        let lift = Arc::new(config.lift.clone());
        let (linker, component_linker) = (Arc::new(linker), Arc::new(component_linker));
        let preloads = Arc::new(Vec::new());
        let running = Arc::new(Mutex::new(HashMap::new()));
        Ok(Host { engine, linker, component_linker, config, ticker, running, stopping: Arc::new(AtomicBool::new(false)), stop, nn, lift, preloads })
    }

    /// The wasmtime engine, for embedders that need it.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The linker, to add the embedder's own host functions before modules
    /// are loaded (modules are linked when loaded). A host function that
    /// panics ends only the instance that called it.
    ///
    /// ```
    /// let mut host = wasmhost::Host::new(Default::default()).unwrap();
    /// host.linker_mut().func_wrap("gateway", "now_ms", || -> u64 { 42 }).unwrap();
    /// ```
    pub fn linker_mut(&mut self) -> &mut Linker<InstanceState> {
        Arc::make_mut(&mut self.linker)
    }

    /// Stops every instance of this host: a guest running wasm stops at its
    /// next epoch tick, a guest blocked in a host call (sleeping, reading
    /// stdin, waiting for the log) at once; each ends with `instance.stopped`
    /// then `instance.exit`. New runs stop at once. For shutting down (SIGTERM).
    /// Without [`HostConfig::epoch_interruption`] a guest running wasm goes
    /// on until it calls the host; see [`Host::close_running`].
    pub fn stop_all(&self) {
        self.stopping.store(true, Ordering::Relaxed);
        self.stop.send_replace(true);
    }

    /// Closes the logs of the runs that have not ended, for a process about
    /// to exit after [`Host::stop_all`] while some guest could not be
    /// stopped (running wasm on a host without epoch interruption, or still
    /// not done after a grace): each such instance gets `instance.stopped`
    /// and `instance.exit` (exit 134) now, as a stopped guest would; its
    /// later records are dropped, and its log lets go of the pipeline so the
    /// pipeline can finish. Waits for room in the pipeline for those events
    /// (so finish the pipeline beside it, with a grace, if the sinks may be
    /// stuck). Runs that end on their own meanwhile keep their own events.
    /// Returns the instances it closed.
    ///
    /// ```no_run
    /// # async fn demo(host: wasmhost::Host) {
    /// host.stop_all();
    /// tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    /// for id in host.close_running().await {
    ///     eprintln!("{id} could not be stopped; its log is closed");
    /// }
    /// # }
    /// ```
    pub async fn close_running(&self) -> Vec<Uuid> {
        let runs: Vec<(Uuid, Running)> = lock_running(&self.running).iter().map(|(id, run)| (*id, run.clone())).collect();
        let mut closed = Vec::new();
        for (id, run) in runs {
            let why = "the host is shutting down and the guest, running wasm, could not be interrupted";
            let closing = |log: &mut InstanceLog| {
                log.finish_streams();
                crate::instance::end_events(log, &crate::Ended::Stopped, crate::TRAP_EXIT_CODE, run.started.elapsed(), None, why);
            };
            // A run that ended meanwhile wrote its own.
            if !wasmhost_log::lock(&run.log).seal_with(closing) {
                continue;
            }
            InstanceLog::close(&run.log).await;
            closed.push(id);
        }
        closed
    }

    /// The configuration the host was built with.
    pub fn config(&self) -> &HostConfig {
        &self.config
    }
}

/// A run in progress, as [`Host::close_running`] finds it.
#[derive(Clone)]
pub(crate) struct Running {
    pub(crate) log: Arc<Mutex<InstanceLog>>,
    pub(crate) started: Instant,
}

/// Keeps a run in its host's table of runs in progress until dropped.
pub(crate) struct RunningGuard {
    running: Arc<Mutex<HashMap<Uuid, Running>>>,
    id: Uuid,
}

impl Host {
    /// Enters a run in the table [`Host::close_running`] reads.
    pub(crate) fn enter_running(&self, id: Uuid, log: Arc<Mutex<InstanceLog>>) -> RunningGuard {
        lock_running(&self.running).insert(id, Running { log, started: Instant::now() });
        RunningGuard { running: self.running.clone(), id }
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        lock_running(&self.running).remove(&self.id);
    }
}

/// The table holds plain data: a panic elsewhere cannot leave it half-made.
fn lock_running(running: &Mutex<HashMap<Uuid, Running>>) -> std::sync::MutexGuard<'_, HashMap<Uuid, Running>> {
    running.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One thread per host (shared by its clones) advances the epoch; every
/// store checks it, so thousands of guests need no timer each. It sleeps
/// (parked, no wake-ups) while no guest runs, since a 1 ms tick would
/// otherwise wake an idle gateway a thousand times a second, and it stops
/// when the last clone of the host is dropped.
pub(crate) struct Ticker {
    stop: Arc<AtomicBool>,
    /// Runs in progress ([`Ticker::running`] guards); 0 parks the thread.
    running: Arc<AtomicUsize>,
    thread: std::thread::Thread,
}

impl Ticker {
    fn spawn(engine: Engine) -> std::io::Result<Arc<Ticker>> {
        let stop = Arc::new(AtomicBool::new(false));
        let running = Arc::new(AtomicUsize::new(0));
        let (flag, busy) = (stop.clone(), running.clone());
        let handle = std::thread::Builder::new().name("wasmhost-epoch".into()).spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                if busy.load(Ordering::Acquire) == 0 {
                    // An unpark that races this check leaves a token, so
                    // park returns at once: no run waits for a missed wake.
                    std::thread::park();
                    continue;
                }
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })?;
        Ok(Arc::new(Ticker { stop, running, thread: handle.thread().clone() }))
    }

    /// Keeps the epoch advancing until the returned guard is dropped: held
    /// by every run from before its guest's first instruction to its end.
    pub(crate) fn running(&self) -> TickerGuard {
        if self.running.fetch_add(1, Ordering::AcqRel) == 0 {
            self.thread.unpark();
        }
        TickerGuard { running: self.running.clone() }
    }
}

/// One run's hold on the epoch ticker (see [`Ticker::running`]).
pub(crate) struct TickerGuard {
    running: Arc<AtomicUsize>,
}

impl Drop for TickerGuard {
    fn drop(&mut self) {
        self.running.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.unpark();
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// The kernel ids of this process's epoch threads.
    fn epoch_threads() -> BTreeSet<String> {
        std::fs::read_dir("/proc/self/task")
            .into_iter()
            .flatten()
            .flatten()
            .filter(|task| std::fs::read_to_string(task.path().join("comm")).is_ok_and(|c| c.trim() == "wasmhost-epoch"))
            .map(|task| task.file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// How often a thread has slept and woken so far (0 once it is gone).
    fn wake_ups(tid: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status")).unwrap_or_default();
        status.lines().find_map(|l| l.strip_prefix("voluntary_ctxt_switches:")).and_then(|n| n.trim().parse().ok()).unwrap_or(0)
    }

    fn wake_ups_over(tid: &str, span: Duration) -> u64 {
        let before = wake_ups(tid);
        std::thread::sleep(span);
        wake_ups(tid).saturating_sub(before)
    }

    #[test]
    fn the_epoch_thread_sleeps_while_no_guest_runs_and_ticks_while_one_does() {
        let before = epoch_threads();
        let ticker = Ticker::spawn(Engine::default()).expect("spawn the ticker");
        std::thread::sleep(Duration::from_millis(20));
        let tid = epoch_threads().difference(&before).next().cloned().expect("the new epoch thread");
        let span = Duration::from_millis(300);

        assert!(wake_ups_over(&tid, span) <= 2, "an idle host's epoch thread must not tick");
        let guard = ticker.running();
        let second = ticker.running();
        assert!(wake_ups_over(&tid, span) >= 50, "a running guest needs the epoch to advance every {EPOCH_TICK:?}");
        drop(guard);
        assert!(wake_ups_over(&tid, span) >= 50, "one run still holds the ticker");
        drop(second);
        std::thread::sleep(Duration::from_millis(10));
        assert!(wake_ups_over(&tid, span) <= 2, "the last run's end parks the thread again");
    }
}
