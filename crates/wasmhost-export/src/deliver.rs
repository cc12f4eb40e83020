//! Delivery: the [`NetworkSink`] that the pipeline writes to, and the worker
//! thread behind it that sends batches in order, retries, spools and
//! dead-letters.
//!
//! The sink thread encodes records into the current batch; a batch closes
//! when it reaches `batch_bytes`, or when the worker finds it `batch_wait`
//! old. Closed batches go through a small channel to the worker, which
//! (1) writes each to the spool, if there is one, (2) sends the oldest one at
//! a time — so order is kept within every stream — and (3) removes it only
//! once the receiver acknowledged it. When the worker's queue (the spool's
//! `spool_max_bytes`, or a few batches in memory without a spool) is full,
//! the channel fills, the sink thread waits, and the pipeline's `block`/`drop`
//! policy for the sink decides, as for a slow file.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Notify};
use wasmhost_log::{FieldValue, InstanceContext, Level, LogRecord, Sink};

use crate::batch::{Batch, Encoder, Encoding};
use crate::metrics::{Settled, SinkMetrics};
use crate::spool::{Spool, SpoolEntry};
use crate::transport::{Outcome, Transport};

/// Where a sink's own events go (`export.retry`, `export.dead_letter`,
/// `export.spool_corrupt`, `export.shutdown`): not through the sink itself,
/// whose receiver may be the thing that is down.
pub type EventFn = Arc<dyn Fn(LogRecord) + Send + Sync>;

/// How a network sink batches, retries and spools.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Close a batch at about this many bytes (default 1 MiB, as Promtail).
    pub batch_bytes: usize,
    /// Close a batch this long after its first record (default 1 s).
    pub batch_wait: Duration,
    /// First retry delay, doubled per attempt (default 500 ms).
    pub min_backoff: Duration,
    /// Longest retry delay (default 30 s), also the most a server's
    /// `Retry-After` or gRPC `RetryInfo` delay is waited.
    pub max_backoff: Duration,
    /// Give a batch up after this many retries (`None`, the default: never;
    /// with a bounded queue the policy then applies upstream).
    pub max_retries: Option<u32>,
    /// Spool directory (`None`: batches wait in memory only).
    pub spool_dir: Option<PathBuf>,
    /// Bytes the spool may hold (default 1 GiB).
    pub spool_max_bytes: u64,
    /// Where refused batches go (one JSON line each).
    pub dead_letter: Option<PathBuf>,
    /// How long the sink keeps sending at shutdown (default 5 s).
    pub grace: Duration,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            batch_bytes: 1 << 20,
            batch_wait: Duration::from_secs(1),
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retries: None,
            spool_dir: None,
            spool_max_bytes: 1 << 30,
            dead_letter: None,
            grace: Duration::from_secs(5),
        }
    }
}

/// Closed batches waiting between the sink thread and the worker.
const CHANNEL_BATCHES: usize = 2;

/// Batches the worker holds in memory without a spool.
const MEMORY_BATCHES: u64 = 8;

/// The current batch, shared by the sink thread (which fills it) and the
/// worker (which takes it when it is old).
struct Current {
    encoder: Box<dyn Encoder>,
    since: Option<Instant>,
    tx: Option<mpsc::Sender<Batch>>,
}

struct Shared {
    current: Mutex<Current>,
    closing: Mutex<Option<Instant>>,
    close: Notify,
}

/// A sink that delivers records over the network (Loki, OTLP), through a
/// worker thread of its own. Dropping it flushes within the grace period.
pub struct NetworkSink {
    shared: Arc<Shared>,
    batch_bytes: usize,
    grace: Duration,
    worker: Option<JoinHandle<()>>,
}

impl NetworkSink {
    /// Starts the worker. `transport` is made inside the worker's runtime
    /// (a gRPC channel needs one).
    pub fn start(
        name: &str,
        encoder: Box<dyn Encoder>,
        transport: impl FnOnce() -> Result<Transport, String> + Send + 'static,
        delivery: Delivery,
        metrics: SinkMetrics,
        events: EventFn,
    ) -> Result<NetworkSink, String> {
        let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
        let shared = Arc::new(Shared {
            current: Mutex::new(Current { encoder, since: None, tx: Some(tx) }),
            closing: Mutex::new(None),
            close: Notify::new(),
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("starting the sink's runtime: {e}"))?;
        let transport = runtime.block_on(async { transport() })?;
        let spool = match &delivery.spool_dir {
            Some(dir) => Some(Spool::open(dir).map_err(|e| format!("spool {}: {e}", dir.display()))?),
            None => None,
        };
        let (batch_bytes, grace) = (delivery.batch_bytes, delivery.grace);
        let worker = Worker {
            name: name.to_owned(),
            transport,
            delivery,
            metrics,
            events: SinkEvents::new(name, events),
            shared: shared.clone(),
            queue: RefCell::new(VecDeque::new()),
            queued_bytes: Cell::new(0),
            memory_bytes: Cell::new(0),
            closed: Cell::new(false),
            deadline: Cell::new(None),
            wake_sender: Notify::new(),
            wake_intake: Notify::new(),
            sent: Cell::new(0),
            lost: Cell::new(0),
        };
        let thread = std::thread::Builder::new()
            .name(format!("wasmhost-export-{name}"))
            .spawn(move || runtime.block_on(worker.run(rx, spool)))
            .map_err(|e| format!("starting the sink's thread: {e}"))?;
        Ok(NetworkSink { shared, batch_bytes, grace, worker: Some(thread) })
    }
}

impl Sink for NetworkSink {
    fn write(&mut self, record: &LogRecord) -> std::io::Result<()> {
        let mut current = crate::lock(&self.shared.current);
        current.encoder.push(record);
        current.since.get_or_insert_with(Instant::now);
        if current.encoder.size() >= self.batch_bytes {
            let batch = current.encoder.take();
            current.since = None;
            // Sent while holding the lock, so the worker cannot take a newer
            // partial batch ahead of this one.
            if let Some(tx) = &current.tx {
                tx.blocking_send(batch).map_err(|_| std::io::Error::other("the sink's worker has stopped"))?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // Partial batches leave by time (the worker takes them after
        // `batch_wait`): flushing per quiet moment would mean tiny requests.
        Ok(())
    }
}

impl NetworkSink {
    /// A handle that starts this sink's bounded shutdown from another thread
    /// (the embedder, when its guests are done): from then on the sink has
    /// its grace period to deliver, and a `write` blocked on a full queue is
    /// released once the grace is over (what cannot be held is counted lost).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle { shared: self.shared.clone(), grace: self.grace }
    }
}

/// Starts a [`NetworkSink`]'s shutdown; see [`NetworkSink::shutdown_handle`].
#[derive(Clone)]
pub struct ShutdownHandle {
    shared: Arc<Shared>,
    grace: Duration,
}

impl ShutdownHandle {
    /// Starts the grace period now (once; later calls change nothing).
    pub fn begin(&self) {
        let mut closing = crate::lock(&self.shared.closing);
        if closing.is_none() {
            *closing = Some(Instant::now() + self.grace);
            self.shared.close.notify_one();
        }
    }
}

impl Drop for NetworkSink {
    fn drop(&mut self) {
        self.shutdown_handle().begin();
        // The worker takes the last partial batch itself, then ends within
        // the grace period.
        crate::lock(&self.shared.current).tx = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// One batch in the worker's queue: in memory, on disk, or both.
struct Item {
    batch: Option<Batch>,
    spooled: Option<SpoolEntry>,
    records: u64,
    /// Bytes it counts against the queue's limit.
    bytes: u64,
    /// Bytes of it held in memory.
    in_memory: u64,
}

/// The worker: an intake (channel → spool → queue) and a sender (queue →
/// receiver), two futures on one thread sharing the queue.
struct Worker {
    name: String,
    transport: Transport,
    delivery: Delivery,
    metrics: SinkMetrics,
    events: SinkEvents,
    shared: Arc<Shared>,
    queue: RefCell<VecDeque<Item>>,
    queued_bytes: Cell<u64>,
    memory_bytes: Cell<u64>,
    closed: Cell<bool>,
    deadline: Cell<Option<Instant>>,
    wake_sender: Notify,
    wake_intake: Notify,
    sent: Cell<u64>,
    lost: Cell<u64>,
}

impl Worker {
    async fn run(self, rx: mpsc::Receiver<Batch>, spool: Option<(Spool, Vec<SpoolEntry>)>) {
        let (spool, left) = match spool {
            Some((spool, left)) => (Some(spool), left),
            None => (None, Vec::new()),
        };
        // What a previous run left goes first.
        for entry in left {
            self.queued_bytes.set(self.queued_bytes.get() + entry.bytes);
            self.queue.borrow_mut().push_back(Item { batch: None, records: entry.records, bytes: entry.bytes, in_memory: 0, spooled: Some(entry) });
        }
        self.gauges();
        tokio::join!(self.intake(rx, spool), self.send_all());
        self.finish();
    }

    fn limit(&self) -> u64 {
        match self.delivery.spool_dir {
            Some(_) => self.delivery.spool_max_bytes,
            None => MEMORY_BATCHES * self.delivery.batch_bytes as u64,
        }
    }

    fn has_room(&self, bytes: u64) -> bool {
        self.queued_bytes.get() == 0 || self.queued_bytes.get() + bytes <= self.limit()
    }

    fn gauges(&self) {
        self.metrics.queue_depth.set(self.queue.borrow().len() as i64);
        let spooled: u64 = self.queue.borrow().iter().filter_map(|i| i.spooled.as_ref()).map(|e| e.bytes).sum();
        self.metrics.spool_bytes.set(spooled as i64);
    }

    /// Channel → spool → queue, and partial batches once they are old.
    async fn intake(&self, mut rx: mpsc::Receiver<Batch>, mut spool: Option<Spool>) {
        let wait = self.delivery.batch_wait;
        let mut full_said = false;
        loop {
            if crate::lock(&self.shared.closing).is_some() {
                break;
            }
            if self.queued_bytes.get() == 0 {
                full_said = false;
            }
            if !self.has_room(self.delivery.batch_bytes as u64) {
                // Once per episode (until the queue has emptied).
                if !full_said {
                    full_said = true;
                    self.events.queue_full(self.queued_bytes.get());
                }
                tokio::select! {
                    _ = self.wake_intake.notified() => continue,
                    _ = self.shared.close.notified() => break,
                }
            }
            tokio::select! {
                batch = rx.recv() => match batch {
                    Some(batch) => self.admit(batch, &mut spool),
                    None => break,
                },
                _ = tokio::time::sleep(wait / 4) => {
                    if let Ok(mut current) = self.shared.current.try_lock() {
                        if current.since.is_some_and(|s| s.elapsed() >= wait) {
                            current.since = None;
                            let batch = current.encoder.take();
                            drop(current);
                            self.admit(batch, &mut spool);
                        }
                    }
                }
                _ = self.shared.close.notified() => break,
            }
        }
        // Closing: what is still in the channel (and whatever the sink still
        // writes until it is dropped), then the last partial batch; with a
        // spool each goes to disk, without one each waits for room until the
        // deadline, then counts as lost.
        let deadline = crate::lock(&self.shared.closing).unwrap_or_else(Instant::now);
        self.deadline.set(Some(deadline));
        self.wake_sender.notify_one();
        while let Some(batch) = rx.recv().await {
            self.admit_by(batch, &mut spool, deadline).await;
        }
        let last = {
            let mut current = crate::lock(&self.shared.current);
            (current.encoder.records() > 0).then(|| current.encoder.take())
        };
        if let Some(batch) = last {
            self.admit_by(batch, &mut spool, deadline).await;
        }
        self.closed.set(true);
        self.wake_sender.notify_one();
    }

    async fn admit_by(&self, batch: Batch, spool: &mut Option<Spool>, deadline: Instant) {
        loop {
            // With a spool, what the sink already took goes to disk even past
            // `spool_max_bytes`: the `block` policy held the guests for these
            // records, and the overshoot is bounded by what the pipeline
            // holds for the sink (its queues, the channel, the partial
            // batch). Losing
            // them at exit would turn a full spool into silent loss.
            if spool.is_some() || self.has_room(batch.body.len() as u64) {
                return self.admit(batch, spool);
            }
            if Instant::now() >= deadline {
                return self.lose(batch.records);
            }
            tokio::select! {
                _ = self.wake_intake.notified() => {}
                _ = tokio::time::sleep_until(deadline.into()) => {}
            }
        }
    }

    /// A batch of `records` records that can be neither sent nor kept.
    fn lose(&self, records: u64) {
        self.lost.set(self.lost.get() + records);
        self.metrics.settle(Settled::Dropped, records);
    }

    fn admit(&self, batch: Batch, spool: &mut Option<Spool>) {
        if batch.records == 0 {
            return;
        }
        let mut spooled = None;
        if let Some(spool) = spool {
            match spool.write(&batch) {
                Ok(entry) => spooled = Some(entry),
                Err(e) => self.events.spool_error(&e.to_string()),
            }
        }
        let bytes = spooled.as_ref().map_or(batch.body.len() as u64, |e| e.bytes);
        // Spooled batches stay in memory too while memory allows; past that
        // they are read back from disk when their turn comes.
        let keep = spooled.is_none() || self.memory_bytes.get() < MEMORY_BATCHES * self.delivery.batch_bytes as u64;
        let in_memory = if keep { batch.body.len() as u64 } else { 0 };
        self.memory_bytes.set(self.memory_bytes.get() + in_memory);
        let records = batch.records;
        self.queued_bytes.set(self.queued_bytes.get() + bytes);
        self.queue.borrow_mut().push_back(Item { batch: keep.then_some(batch), spooled, records, bytes, in_memory });
        self.gauges();
        self.wake_sender.notify_one();
    }

    fn past_deadline(&self) -> bool {
        self.deadline.get().is_some_and(|d| Instant::now() >= d)
    }

    /// Waits for `d`, waking early when the intake says something changed.
    async fn pause(&self, d: Duration) {
        let until = Instant::now() + d;
        let until = self.deadline.get().map_or(until, |dl| dl.min(until));
        tokio::select! {
            _ = tokio::time::sleep_until(until.into()) => {}
            _ = self.wake_sender.notified() => {}
        }
    }

    /// Queue → receiver, oldest first, one request at a time.
    async fn send_all(&self) {
        loop {
            if self.past_deadline() {
                return;
            }
            let head = self.queue.borrow_mut().front_mut().map(|item| (item.batch.take(), item.spooled.clone(), item.records));
            let Some((batch, spooled, records)) = head else {
                if self.closed.get() {
                    return;
                }
                self.wake_sender.notified().await;
                continue;
            };
            let batch = match (batch, &spooled) {
                (Some(b), _) => b,
                (None, Some(entry)) => match Spool::read(entry) {
                    Ok(b) => b,
                    Err(e) => {
                        self.events.spool_corrupt(&e.path.display().to_string(), &e.reason);
                        let _ = Spool::quarantine(entry);
                        // Its records, as far as the header tells.
                        self.lose(records);
                        self.pop();
                        continue;
                    }
                },
                // Not reached (a batch in memory is put back when it is
                // not delivered); counted all the same, never silently gone.
                (None, None) => {
                    self.lose(records);
                    self.pop();
                    continue;
                }
            };
            let delivered = self.deliver(&batch).await;
            if !delivered {
                // Past the deadline: the batch stays queued (and spooled).
                if let Some(item) = self.queue.borrow_mut().front_mut() {
                    item.records = batch.records;
                    item.batch = Some(batch);
                }
                return;
            }
            if let Some(entry) = &spooled {
                let _ = Spool::remove(entry);
            }
            self.pop();
        }
    }

    fn pop(&self) {
        if let Some(item) = self.queue.borrow_mut().pop_front() {
            self.queued_bytes.set(self.queued_bytes.get().saturating_sub(item.bytes));
            self.memory_bytes.set(self.memory_bytes.get().saturating_sub(item.in_memory));
        }
        self.gauges();
        self.wake_intake.notify_one();
    }

    /// Sends one batch until it is acknowledged, refused or given up;
    /// `false` when the shutdown deadline came first.
    async fn deliver(&self, batch: &Batch) -> bool {
        let mut attempt: u32 = 0;
        loop {
            let started = Instant::now();
            let send = self.transport.send(batch);
            tokio::pin!(send);
            let outcome = loop {
                let deadline = self.deadline.get();
                tokio::select! {
                    outcome = &mut send => break outcome,
                    // Learn about a deadline set while the request runs.
                    _ = self.wake_sender.notified(), if deadline.is_none() => continue,
                    _ = sleep_until_opt(deadline) => return false,
                }
            };
            match outcome {
                Outcome::Sent => {
                    self.metrics.latency.observe(started.elapsed().as_secs_f64());
                    self.metrics.settle(Settled::Sent, batch.records);
                    self.sent.set(self.sent.get() + batch.records);
                    return true;
                }
                Outcome::Partial { rejected, message } => {
                    // Not retried (the OTLP spec: MUST NOT); the batch was
                    // delivered, the receiver kept all but `rejected` records.
                    self.metrics.latency.observe(started.elapsed().as_secs_f64());
                    let rejected = rejected.min(batch.records);
                    self.metrics.settle(Settled::Sent, batch.records - rejected);
                    self.metrics.records_rejected.inc_by(rejected);
                    self.sent.set(self.sent.get() + batch.records - rejected);
                    self.events.partial_success(rejected, batch.records, &message);
                    return true;
                }
                Outcome::TooLarge { status, message } => return self.halve(batch, status, message).await,
                Outcome::Reject { status, message } => {
                    self.dead_letter(batch, &status, &message, Settled::DeadLettered);
                    return true;
                }
                Outcome::Retry { reason, after } => {
                    attempt += 1;
                    if self.delivery.max_retries.is_some_and(|max| attempt > max) {
                        self.dead_letter(batch, "retries exhausted", &reason, Settled::Failed);
                        return true;
                    }
                    self.metrics.retried.inc();
                    let (delay, reason) = match after {
                        // A server's delay is believed up to `max_backoff`, the
                        // longest wait the sink would choose itself: a hostile or
                        // misconfigured receiver saying "in a day" must not
                        // stall the sink for a day.
                        Some(asked) if asked > self.delivery.max_backoff => {
                            let cap = self.delivery.max_backoff;
                            (cap, format!("{reason} (the server asked to wait {asked:?}; capped at max_backoff {cap:?})"))
                        }
                        Some(asked) => (asked, reason),
                        None => (backoff(&self.delivery, attempt), reason),
                    };
                    self.events.retry(&reason, attempt, delay);
                    let until = Instant::now() + delay;
                    while !self.past_deadline() && Instant::now() < until {
                        self.pause(until - Instant::now()).await;
                    }
                    if self.past_deadline() {
                        return false;
                    }
                }
            }
        }
    }

    /// A batch the receiver refused as too large (413): its two halves are
    /// delivered one after the other, each split again if it is still too
    /// large, so only a single record that is too large on its own reaches
    /// the dead-letter file. Each split is an `export.retry` event (no wait).
    /// `false` when the shutdown deadline came first (the whole batch then
    /// stays queued, and the halves already acknowledged are sent again:
    /// at-least-once).
    fn halve(&self, batch: &Batch, status: String, message: String) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + '_>> {
        let halves = match self.transport.split(batch) {
            Ok(halves) => halves,
            Err(why) => {
                let message = if batch.records > 1 { format!("{message} (could not split the batch: {why})") } else { message };
                self.dead_letter(batch, &status, &message, Settled::DeadLettered);
                return Box::pin(std::future::ready(true));
            }
        };
        self.metrics.retried.inc();
        let reason = format!("HTTP {status} (too large: {message}); sending the batch again in two halves of {} and {} records", halves.0.records, halves.1.records);
        self.events.retry(&reason, 1, Duration::ZERO);
        Box::pin(async move { self.deliver(&halves.0).await && self.deliver(&halves.1).await })
    }

    /// A refused (or given up) batch: one JSON line in the dead-letter file
    /// (status, the server's message, and the body in base64, ready to
    /// replay), counted as `outcome`; without a file (or when it cannot be
    /// written) the batch is lost and counted dropped instead. An event
    /// either way.
    fn dead_letter(&self, batch: &Batch, status: &str, message: &str, outcome: Settled) {
        use base64::Engine;
        self.events.dead_letter(status, message, batch.records);
        let Some(path) = &self.delivery.dead_letter else {
            self.lose(batch.records);
            return;
        };
        let mut ts = String::new();
        wasmhost_log::rfc3339_nanos(std::time::SystemTime::now(), &mut ts);
        let line = serde_json::json!({
            "ts": ts,
            "sink": self.name,
            "status": status,
            "message": message,
            "records": batch.records,
            "encoding": match batch.encoding { Encoding::Protobuf => "protobuf", Encoding::Json => "json" },
            "body_base64": base64::engine::general_purpose::STANDARD.encode(&batch.body),
        });
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .and_then(|mut f| writeln!(f, "{line}"));
        match written {
            Ok(()) => self.metrics.settle(outcome, batch.records),
            Err(e) => {
                self.events.spool_error(&format!("dead-letter file {}: {e}", path.display()));
                self.lose(batch.records);
            }
        }
    }

    /// The final word: what was sent, what stayed in the spool, what was lost.
    fn finish(&self) {
        let queue = self.queue.borrow();
        let (mut spooled_batches, mut spooled_records) = (0u64, 0u64);
        for item in queue.iter() {
            if item.spooled.is_some() {
                spooled_batches += 1;
                spooled_records += item.records;
            } else {
                self.lose(item.records);
            }
        }
        self.events.shutdown(self.sent.get(), spooled_batches, spooled_records, self.lost.get());
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// Exponential backoff with full jitter in its upper half: attempt 1 waits
/// about `min_backoff`, each next one twice as long, capped at `max_backoff`.
fn backoff(d: &Delivery, attempt: u32) -> Duration {
    let base = d.min_backoff.saturating_mul(1u32 << attempt.saturating_sub(1).min(20)).min(d.max_backoff);
    base.mul_f64(0.5 + fastrand::f64() * 0.5)
}

/// The sink's own events, with a context of their own (`module`
/// `wasmhost`, like the pipeline's) and a gap-free `seq`.
struct SinkEvents {
    sink: String,
    ctx: Arc<InstanceContext>,
    seq: Cell<u64>,
    out: EventFn,
}

impl SinkEvents {
    fn new(sink: &str, out: EventFn) -> SinkEvents {
        let ctx = InstanceContext::new(uuid_v7(), "unknown", "wasmhost");
        SinkEvents { sink: sink.to_owned(), ctx: Arc::new(ctx), seq: Cell::new(0), out }
    }

    fn emit(&self, level: Level, event: &'static str, msg: String, mut fields: Vec<(&'static str, FieldValue)>) {
        self.seq.set(self.seq.get() + 1);
        fields.insert(0, ("sink", FieldValue::from(self.sink.as_str())));
        (self.out)(LogRecord::event(self.ctx.clone(), self.seq.get(), level, event, msg, fields));
    }

    fn retry(&self, reason: &str, attempt: u32, delay: Duration) {
        self.emit(
            Level::Warn,
            "export.retry",
            format!("sink {}: {reason}; retry {attempt} in {delay:?}", self.sink),
            vec![("reason", reason.into()), ("attempt", u64::from(attempt).into()), ("retry_in_ms", FieldValue::millis(delay))],
        );
    }

    fn dead_letter(&self, status: &str, message: &str, records: u64) {
        self.emit(
            Level::Error,
            "export.dead_letter",
            format!("sink {}: the receiver refused {records} records ({status}): {message}", self.sink),
            vec![("status", status.into()), ("reason", message.into()), ("records", records.into())],
        );
    }

    fn partial_success(&self, rejected: u64, records: u64, message: &str) {
        self.emit(
            if rejected > 0 { Level::Error } else { Level::Warn },
            "export.partial_success",
            format!("sink {}: the receiver kept {} of {records} records, rejected {rejected}: {message}", self.sink, records - rejected),
            vec![("records", rejected.into()), ("reason", message.into())],
        );
    }

    fn spool_corrupt(&self, path: &str, reason: &str) {
        self.emit(
            Level::Error,
            "export.spool_corrupt",
            format!("sink {}: skipped spool file {path}: {reason}", self.sink),
            vec![("path", path.into()), ("reason", reason.into())],
        );
    }

    fn spool_error(&self, reason: &str) {
        self.emit(Level::Error, "export.spool_error", format!("sink {}: {reason}", self.sink), vec![("reason", reason.into())]);
    }

    fn queue_full(&self, bytes: u64) {
        self.emit(
            Level::Warn,
            "export.queue_full",
            format!("sink {}: {bytes} bytes wait to be sent; the sink's policy applies until they are", self.sink),
            vec![("queued_bytes", bytes.into())],
        );
    }

    fn shutdown(&self, sent: u64, spooled_batches: u64, spooled_records: u64, lost: u64) {
        let level = if lost > 0 { Level::Error } else if spooled_batches > 0 { Level::Warn } else { Level::Info };
        self.emit(
            level,
            "export.shutdown",
            format!(
                "sink {}: sent {sent} records; {spooled_batches} batches ({spooled_records} records) stay in the spool; {lost} records lost",
                self.sink
            ),
            vec![
                ("sent", sent.into()),
                ("spooled_batches", spooled_batches.into()),
                ("spooled_records", spooled_records.into()),
                ("lost", lost.into()),
            ],
        );
    }
}

fn uuid_v7() -> String {
    uuid::Uuid::now_v7().to_string()
}
