//! The pipeline: a bounded queue between the instances that produce records
//! and the sinks; with routes, a router thread between them hands each
//! record to the sinks its route names, through one bounded queue per sink.
//!
//! Queues are bounded, in records and in bytes ([`QUEUE_BYTES`]), so memory
//! stays bounded whatever a guest writes. A full queue is felt by the producer (see [`crate::InstanceLog`]), which
//! makes the guest wait rather than drop a line — unless the sink's policy
//! is [`Policy::Drop`], which counts what it drops and says so with a
//! `pipeline.dropped` event once the sink has room again.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{mpsc, Notify};

use crate::record::{FieldValue, InstanceContext, Level, LogRecord, Stream};
use crate::router::Router;
use crate::sink::Sink;

/// Bytes of records (their text, roughly) a pipeline holds queued before
/// producers have to wait, whatever the queue's length in records: one
/// endless line and a stalled reader cannot take more memory than this.
pub const QUEUE_BYTES: usize = 64 << 20;

/// What the senders and the sink threads of one pipeline share.
#[derive(Debug)]
struct Shared {
    /// Sinks that have not failed; at 0 nothing can be written any more.
    live_sinks: AtomicUsize,
    /// The OS error number of the last sink failure (0: none known).
    errno: AtomicI32,
    /// Bytes of the records queued and not yet written (see [`weight`]).
    queued_bytes: AtomicUsize,
    max_bytes: usize,
    /// Producers waiting for bytes to be freed, and how they are woken.
    waiters: AtomicUsize,
    room: Notify,
    /// Set when the shutdown grace has passed: sinks write only host events
    /// (the closing ones) and count guest lines as abandoned.
    abort: AtomicBool,
    /// Instances whose `instance.start` the pipeline accepted and whose
    /// `instance.exit` no sink has written yet: known here, not from the
    /// instances' outcomes, so a shutdown that gives up on a stuck sink or
    /// drops unfinished instances can still name them.
    open: Mutex<HashSet<String>>,
}

impl Shared {
    fn new(sinks: usize, max_bytes: usize) -> Arc<Shared> {
        Arc::new(Shared {
            live_sinks: AtomicUsize::new(sinks),
            errno: AtomicI32::new(0),
            queued_bytes: AtomicUsize::new(0),
            max_bytes,
            waiters: AtomicUsize::new(0),
            room: Notify::new(),
            abort: AtomicBool::new(false),
            open: Mutex::new(HashSet::new()),
        })
    }

    /// Notes an accepted record that opens or closes an instance's log.
    /// Costs one comparison for every other record.
    fn opened(&self, opens: Option<String>) {
        if let Some(id) = opens {
            self.open.lock().unwrap_or_else(|e| e.into_inner()).insert(id);
        }
    }

    fn closed(&self, wasm_instance_id: &str) {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).remove(wasm_instance_id);
    }

    /// The instances still open, sorted (by id: UUIDv7s sort by start time).
    fn unclosed(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.open.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect();
        ids.sort_unstable();
        ids
    }

    /// Takes `bytes` of the budget if they fit (a lone record always fits,
    /// so a record larger than the budget still goes through).
    fn take(&self, bytes: usize) -> bool {
        let before = self.queued_bytes.fetch_add(bytes, Ordering::SeqCst);
        if before > 0 && before + bytes > self.max_bytes {
            // Given back without waking the waiters: nothing was freed, and
            // the waiter that failed here would wake itself and spin (a
            // guest stalled on a full queue burnt a core doing that). Whoever
            // this made fail waits for a real release: `before > 0`.
            self.queued_bytes.fetch_sub(bytes, Ordering::SeqCst);
            return false;
        }
        true
    }

    fn release(&self, bytes: usize) {
        self.queued_bytes.fetch_sub(bytes, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.room.notify_waiters();
        }
    }

    fn sink_failed(&self, error: &std::io::Error) {
        if let Some(errno) = error.raw_os_error() {
            self.errno.store(errno, Ordering::Release);
        }
        self.live_sinks.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The instance a record opens: its id if it is an `instance.start` event.
fn opens(record: &LogRecord) -> Option<String> {
    (record.event == Some("instance.start")).then(|| record.ctx.wasm_instance_id.clone())
}

/// What a record costs the byte budget: its text and fields, and a fixed
/// part for the rest.
fn weight(record: &LogRecord) -> usize {
    let fields: usize = record.fields.iter().map(|(_, v)| if let FieldValue::Str(s) = v { s.len() } else { 8 }).sum();
    128 + record.msg.len() + fields
}

/// A record on its way through a routed pipeline: its bytes go back to the
/// budget when the last sink is done with it.
struct Tracked {
    record: LogRecord,
    /// What it took from the budget (0 for the router's own events).
    bytes: usize,
    shared: Arc<Shared>,
}

impl Tracked {
    fn new(record: LogRecord, shared: &Arc<Shared>) -> Arc<Tracked> {
        Arc::new(Tracked { bytes: weight(&record), record, shared: shared.clone() })
    }

    fn untracked(record: LogRecord, shared: &Arc<Shared>) -> Arc<Tracked> {
        Arc::new(Tracked { bytes: 0, record, shared: shared.clone() })
    }
}

/// What a sink thread receives: a record, or a routed one.
trait Queued {
    fn record(&self) -> &LogRecord;
}

impl Queued for LogRecord {
    fn record(&self) -> &LogRecord {
        self
    }
}

impl Queued for Arc<Tracked> {
    fn record(&self) -> &LogRecord {
        &self.record
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.shared.release(self.bytes);
        }
    }
}

/// The sending side, cloned into every instance.
#[derive(Clone, Debug)]
pub struct LogSender {
    tx: mpsc::Sender<LogRecord>,
    shared: Arc<Shared>,
}

/// The pipeline has shut down: the record was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineClosed;

impl std::fmt::Display for PipelineClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the log pipeline has shut down")
    }
}

impl std::error::Error for PipelineClosed {}

impl LogSender {
    /// Queues `record` if there is room now; hands it back when the queue is
    /// full (`Ok(Some)`), errs when the pipeline is gone.
    /// The queue is full in records or in bytes ([`QUEUE_BYTES`]).
    pub fn try_send(&self, record: LogRecord) -> Result<Option<LogRecord>, PipelineClosed> {
        let bytes = weight(&record);
        if !self.shared.take(bytes) {
            return match self.tx.is_closed() {
                true => Err(PipelineClosed),
                false => Ok(Some(record)),
            };
        }
        let opens = opens(&record);
        match self.tx.try_send(record) {
            Ok(()) => {
                self.shared.opened(opens);
                Ok(None)
            }
            Err(mpsc::error::TrySendError::Full(r)) => {
                self.shared.release(bytes);
                Ok(Some(r))
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.shared.release(bytes);
                Err(PipelineClosed)
            }
        }
    }

    /// Waits until there is room for a record of about `bytes` (see
    /// [`LogSender::weigh`]) in records and in bytes, and holds it.
    pub async fn reserve(&self, bytes: usize) -> Result<Reservation<'_>, PipelineClosed> {
        loop {
            let notified = self.shared.room.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            // Counted as waiting before looking, so a release between the
            // look and the wait still wakes this one.
            self.shared.waiters.fetch_add(1, Ordering::SeqCst);
            let room = self.shared.take(bytes);
            if !room && !self.tx.is_closed() {
                notified.await;
            }
            self.shared.waiters.fetch_sub(1, Ordering::SeqCst);
            if room {
                break;
            }
            if self.tx.is_closed() {
                return Err(PipelineClosed);
            }
        }
        match self.tx.reserve().await {
            Ok(permit) => Ok(Reservation { permit: Some(permit), bytes, shared: &self.shared }),
            Err(_) => {
                self.shared.release(bytes);
                Err(PipelineClosed)
            }
        }
    }

    /// What `record` weighs against the pipeline's byte budget.
    pub fn weigh(record: &LogRecord) -> usize {
        weight(record)
    }

    /// The error every write to the pipeline now meets, once all its sinks
    /// have failed (a reader that went away: `EPIPE`; a full disk:
    /// `ENOSPC`), so the guest can be told as a process writing there
    /// directly would be. `None` while any sink works.
    pub fn broken(&self) -> Option<std::io::Error> {
        if self.shared.live_sinks.load(Ordering::Acquire) > 0 {
            return None;
        }
        Some(match self.shared.errno.load(Ordering::Acquire) {
            0 => std::io::ErrorKind::BrokenPipe.into(),
            errno => std::io::Error::from_raw_os_error(errno),
        })
    }
}

/// Room for one record in the pipeline, from [`LogSender::reserve`];
/// dropping it unused gives the room back.
pub struct Reservation<'a> {
    permit: Option<mpsc::Permit<'a, LogRecord>>,
    bytes: usize,
    shared: &'a Shared,
}

impl Reservation<'_> {
    /// Queues `record` in the room held.
    pub fn send(mut self, record: LogRecord) {
        let actual = weight(&record);
        // The record may weigh other than reserved: settle the difference.
        if actual > self.bytes {
            self.shared.queued_bytes.fetch_add(actual - self.bytes, Ordering::AcqRel);
        } else {
            self.shared.release(self.bytes - actual);
        }
        self.bytes = 0;
        if let Some(permit) = self.permit.take() {
            let opens = opens(&record);
            permit.send(record);
            self.shared.opened(opens);
        }
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.shared.release(self.bytes);
        }
    }
}

/// What a sink does when its queue is full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Policy {
    /// Wait: the guests slow down, nothing is lost (the default).
    #[default]
    Block,
    /// Drop the record and count it; a `pipeline.dropped` event with the
    /// count follows once the sink has room again.
    Drop,
}

/// A sink with its name, policy and queue length, for a routed pipeline.
pub struct SinkSpec {
    /// The name routes use.
    pub name: String,
    /// The sink.
    pub sink: Box<dyn Sink>,
    /// What to do when its queue is full.
    pub policy: Policy,
    /// Records its queue holds.
    pub queue: usize,
}

/// What one sink did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SinkReport {
    /// The sink's name.
    pub name: String,
    /// Records the sink wrote whole.
    pub written: u64,
    /// Records lost because the sink failed (e.g. a closed pipe), including
    /// the ones its buffer held when it failed.
    pub failed: u64,
    /// Records dropped by the [`Policy::Drop`] policy.
    pub dropped: u64,
    /// Guest lines left unwritten because the shutdown grace ran out (see
    /// [`Pipeline::finish_within`]); host events are still written.
    pub abandoned: u64,
    /// The instances whose `instance.exit` event this sink wrote and
    /// flushed to its destination.
    pub closed: HashSet<String>,
    /// The sink's first error, if any.
    pub first_error: Option<String>,
}

/// What the pipeline did, returned by [`Pipeline::finish`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PipelineReport {
    /// Records all sinks accepted.
    pub written: u64,
    /// Records lost because a sink failed.
    pub failed: u64,
    /// Records dropped by policy.
    pub dropped: u64,
    /// Guest lines left unwritten because the shutdown grace ran out.
    pub abandoned: u64,
    /// The first error of any sink.
    pub first_error: Option<String>,
    /// Per sink.
    pub sinks: Vec<SinkReport>,
    /// The instances whose log the pipeline opened (their `instance.start`
    /// was accepted) and no sink closed (wrote their `instance.exit`),
    /// sorted: what lacks its closing events.
    pub unclosed: Vec<String>,
}

impl PipelineReport {
    fn of(sinks: Vec<SinkReport>) -> PipelineReport {
        PipelineReport {
            written: sinks.iter().map(|s| s.written).sum(),
            failed: sinks.iter().map(|s| s.failed).sum(),
            dropped: sinks.iter().map(|s| s.dropped).sum(),
            abandoned: sinks.iter().map(|s| s.abandoned).sum(),
            first_error: sinks.iter().find_map(|s| s.first_error.clone()),
            sinks,
            unclosed: Vec::new(),
        }
    }

    /// Whether `wasm_instance_id`'s `instance.exit` reached a sink.
    pub fn closed(&self, wasm_instance_id: &str) -> bool {
        self.sinks.iter().any(|s| s.closed.contains(wasm_instance_id))
    }
}

/// The pipeline did not drain within the grace period given to
/// [`Pipeline::finish_within`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraceExceeded {
    /// The grace that ran out.
    pub grace: Duration,
    /// What the sinks did, when they finished after being told to write
    /// only the host events left (guest lines then count as `abandoned`);
    /// `None` when a sink was still stuck (a reader that reads nothing).
    pub report: Option<PipelineReport>,
    /// The instances whose `instance.exit` no sink had written when the
    /// pipeline was given up on (as [`PipelineReport::unclosed`]), known
    /// even when `report` is `None`.
    pub unclosed: Vec<String>,
}

/// How long sinks get, after the shutdown grace, to write the host events
/// left in their queues.
const ABORT_GRACE: Duration = Duration::from_secs(2);

/// A running pipeline.
///
/// ```
/// use std::sync::Arc;
/// use wasmhost_log::{InstanceContext, JsonFormat, Level, LogRecord, Pipeline, WriterSink};
/// let pipeline = Pipeline::spawn(Box::new(WriterSink::new(JsonFormat, std::io::sink())), 1024).unwrap();
/// let ctx = Arc::new(InstanceContext::new("id", "c", "m"));
/// let rec = LogRecord::event(ctx, 1, Level::Info, "instance.start", "start".into(), vec![]);
/// assert!(pipeline.sender().try_send(rec).unwrap().is_none());
/// assert_eq!(pipeline.finish().written, 1);
/// ```
///
/// Dropping a pipeline flushes it: every record sent so far is written
/// (the drop waits, up to [`DROP_GRACE`], for the senders still held
/// elsewhere to go and for the sinks to write). [`Pipeline::finish`] waits
/// without bound and says what happened; in async code
/// [`Pipeline::shutdown`] waits without blocking a runtime thread.
pub struct Pipeline {
    /// `None` once the pipeline was finished (by `finish*`, `shutdown` or drop).
    sender: Option<LogSender>,
    shared: Arc<Shared>,
    done: std_mpsc::Receiver<PipelineReport>,
    /// Notified (once) when the report has been sent, or its thread died.
    finished: Arc<Notify>,
    threads: Vec<JoinHandle<()>>,
}

/// How long dropping a [`Pipeline`] waits for the records sent so far to be
/// written, before only the host events left are written (as
/// [`Pipeline::finish_within`] does after its grace).
pub const DROP_GRACE: Duration = Duration::from_secs(10);

/// Notifies the pipeline's owner when the thread that sends the report
/// ends, whether it sent it or panicked.
struct NotifyOnExit(Arc<Notify>);

impl Drop for NotifyOnExit {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

/// How long a sink or router thread sleeps between polls of its queue. Under load the
/// queue refills in that time, so producers almost never have to wake a
/// parked thread (a futex call per line would halve throughput). 500 µs
/// moved 1M lines in 0.85 s here, 200 µs in 1.35 s: shorter sleeps mean
/// more wake-ups competing with the guest for a core.
const LINGER: Duration = Duration::from_micros(500);

/// Empty polls (of [`LINGER`] each) before a sink or router thread parks: a few
/// milliseconds of attention after the last record.
const IDLE_POLLS: u32 = 5;

/// Batches this small are flushed at once: the guests are quiet, latency
/// matters more than syscalls.
const LINGER_AFTER: usize = 64;

impl Pipeline {
    /// One sink, fed straight from the instances' queue of `capacity`
    /// records (policy [`Policy::Block`]).
    pub fn spawn(sink: Box<dyn Sink>, capacity: usize) -> std::io::Result<Pipeline> {
        Pipeline::spawn_budgeted(sink, capacity, QUEUE_BYTES)
    }

    fn spawn_budgeted(sink: Box<dyn Sink>, capacity: usize, max_bytes: usize) -> std::io::Result<Pipeline> {
        let (tx, rx) = mpsc::channel::<LogRecord>(capacity.max(1));
        let shared = Shared::new(1, max_bytes);
        let (done_tx, done) = std_mpsc::channel();
        let finished = Arc::new(Notify::new());
        let (sink_shared, on_exit) = (shared.clone(), NotifyOnExit(finished.clone()));
        let worker = spawn_named("wasmhost-log-sink", move || {
            let _on_exit = on_exit;
            let report = run_sink("default".into(), sink, rx, &sink_shared, |r| sink_shared.release(weight(r)));
            let _ = done_tx.send(PipelineReport::of(vec![report]));
        })?;
        Ok(Pipeline { sender: Some(LogSender { tx, shared: shared.clone() }), shared, done, finished, threads: vec![worker] })
    }

    /// Several sinks behind a router: every record goes to the sinks of the
    /// routes it matches (or the router's default sinks).
    pub fn routed(sinks: Vec<SinkSpec>, router: Router, capacity: usize) -> std::io::Result<Pipeline> {
        let (tx, mut rx) = mpsc::channel::<LogRecord>(capacity.max(1));
        let shared = Shared::new(sinks.len(), QUEUE_BYTES);
        let mut threads = Vec::new();
        let mut queues = Vec::new();
        let mut policies = Vec::new();
        let mut names = Vec::new();
        let (report_tx, report_rx) = std_mpsc::channel::<(usize, SinkReport)>();
        for (i, spec) in sinks.into_iter().enumerate() {
            let (sink_tx, sink_rx) = mpsc::channel::<Arc<Tracked>>(spec.queue.max(1));
            let (name, sink, report_tx, shared) = (spec.name.clone(), spec.sink, report_tx.clone(), shared.clone());
            threads.push(spawn_named(&format!("wasmhost-sink-{name}"), move || {
                // A record's bytes go back when its last sink drops it.
                let _ = report_tx.send((i, run_sink(name, sink, sink_rx, &shared, |_| {})));
            })?);
            queues.push(sink_tx);
            policies.push(spec.policy);
            names.push(spec.name);
        }
        drop(report_tx);
        let (done_tx, done) = std_mpsc::channel();
        let finished = Arc::new(Notify::new());
        let (router_shared, on_exit) = (shared.clone(), NotifyOnExit(finished.clone()));
        let router_thread = spawn_named("wasmhost-log-router", move || {
            let _on_exit = on_exit;
            let dropped = route_records(&mut rx, &router, &queues, &policies, &names, &router_shared);
            drop(queues);
            let mut reports: Vec<SinkReport> = vec![SinkReport::default(); names.len()];
            for (i, report) in report_rx.iter() {
                reports[i] = SinkReport { dropped: dropped[i], ..report };
            }
            let _ = done_tx.send(PipelineReport::of(reports));
        })?;
        threads.push(router_thread);
        Ok(Pipeline { sender: Some(LogSender { tx, shared: shared.clone() }), shared, done, finished, threads })
    }

    /// A sender for an instance.
    pub fn sender(&self) -> LogSender {
        // Only the methods that consume the pipeline take the sender.
        self.sender.clone().expect("a pipeline has its sender until it is consumed")
    }

    /// Waits until every record sent so far reached its sinks and every
    /// sender is dropped, then returns what happened. Blocks the calling thread.
    pub fn finish(mut self) -> PipelineReport {
        self.sender = None;
        let mut report = self.done.recv().unwrap_or_else(|_| panicked());
        self.join();
        report.unclosed = self.shared.unclosed();
        report
    }

    /// [`Pipeline::finish`] for async code: waits for the same (every
    /// record written, every sender dropped) without blocking the runtime's
    /// thread. Call it at the end of an embedder's `main`, after the last
    /// run, so that no line is lost when the process exits.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use wasmhost_log::{JsonFormat, Pipeline, WriterSink};
    /// let pipeline = Pipeline::spawn(Box::new(WriterSink::new(JsonFormat, std::io::sink())), 64).unwrap();
    /// assert_eq!(pipeline.shutdown().await.written, 0);
    /// # });
    /// ```
    pub async fn shutdown(mut self) -> PipelineReport {
        self.sender = None;
        self.finished.notified().await;
        // The thread has sent the report (or died) and is ending.
        let mut report = self.done.try_recv().unwrap_or_else(|_| panicked());
        self.join();
        report.unclosed = self.shared.unclosed();
        report
    }

    fn join(&mut self) {
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }

    /// Like [`Pipeline::finish`], but bounded: a sink that is slow (a reader
    /// that reads little) or hangs must not hold the process forever. After
    /// `grace` the sinks write only the host events still queued — every
    /// instance's closing events — and count the guest lines they skip as
    /// `abandoned`; they get a little longer for that, then the pipeline is
    /// given up on. Records are only ever written whole.
    pub fn finish_within(mut self, grace: Duration) -> Result<PipelineReport, GraceExceeded> {
        self.finish_within_mut(grace)
    }

    fn finish_within_mut(&mut self, grace: Duration) -> Result<PipelineReport, GraceExceeded> {
        self.sender = None;
        match self.done.recv_timeout(grace) {
            Ok(mut report) => {
                self.join();
                report.unclosed = self.shared.unclosed();
                Ok(report)
            }
            Err(_) => {
                self.shared.abort.store(true, Ordering::Release);
                let mut report = self.done.recv_timeout(ABORT_GRACE).ok();
                if let Some(report) = report.as_mut() {
                    self.join();
                    report.unclosed = self.shared.unclosed();
                }
                // A sink still stuck keeps its thread: it is given up on.
                Err(GraceExceeded { grace, report, unclosed: self.shared.unclosed() })
            }
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        // Not finished yet: flush, within bounds.
        if self.sender.is_some() {
            let _ = self.finish_within_mut(DROP_GRACE);
        }
    }
}

fn panicked() -> PipelineReport {
    PipelineReport { first_error: Some("a log pipeline thread panicked".into()), ..PipelineReport::default() }
}

fn spawn_named(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name(name.to_owned()).spawn(f)
}

/// Drains `rx` into `sink`, flushing when the queue runs dry; `release`
/// gives a record's bytes back to the budget once it is written.
fn run_sink<T: Queued>(
    name: String,
    mut sink: Box<dyn Sink>,
    mut rx: mpsc::Receiver<T>,
    shared: &Shared,
    release: impl Fn(&LogRecord),
) -> SinkReport {
    let mut report = SinkReport { name, ..SinkReport::default() };
    // Instances whose `instance.exit` the sink accepted but has not flushed:
    // closed only once it is out (a stuck or failing sink loses its buffer).
    let mut exits = Vec::new();
    receive_lingering(&mut rx, |received| match received {
        Received::Item(queued) => {
            let r = queued.record();
            write_one(&mut *sink, r, &mut report, shared, &mut exits);
            release(r);
        }
        // A small batch (a quiet moment) is flushed at once, so lines are
        // never held back.
        Received::Dry(batch) => {
            if batch > 0 && batch < LINGER_AFTER && report.first_error.is_none() {
                flush(&mut *sink, &mut report, shared, &mut exits);
            }
        }
        Received::Parking => {
            if report.first_error.is_none() {
                flush(&mut *sink, &mut report, shared, &mut exits);
            }
        }
    });
    report
}

/// What [`receive_lingering`] tells its caller.
enum Received<T> {
    /// The next item of the queue.
    Item(T),
    /// The queue ran dry after this many items (0: a poll found nothing).
    Dry(usize),
    /// Nothing came for [`IDLE_POLLS`] polls: the thread is about to park.
    Parking,
}

/// Receives every item of `rx` until it closes, for a sink thread or the
/// router thread: drains what is queued, then polls a little (every
/// [`LINGER`], [`IDLE_POLLS`] times) before parking. A parked thread costs
/// every producer a futex wake-up, which under load costs more than the
/// work done per item.
fn receive_lingering<T>(rx: &mut mpsc::Receiver<T>, mut on: impl FnMut(Received<T>)) {
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        let mut idle_polls = 0;
        loop {
            let mut batch = 0usize;
            while let Some(item) = next.take().or_else(|| rx.try_recv().ok()) {
                batch += 1;
                on(Received::Item(item));
            }
            on(Received::Dry(batch));
            idle_polls = if batch == 0 { idle_polls + 1 } else { 0 };
            if idle_polls > IDLE_POLLS {
                break;
            }
            std::thread::sleep(LINGER);
            match rx.try_recv() {
                Ok(item) => next = Some(item),
                Err(mpsc::error::TryRecvError::Empty) => {}
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            }
        }
        on(Received::Parking);
    }
}

/// Hands one record to the sink, counting exactly what is lost when it fails.
fn write_one(sink: &mut dyn Sink, r: &LogRecord, report: &mut SinkReport, shared: &Shared, exits: &mut Vec<String>) {
    // After a failure the sink is not asked again: the lines are counted as
    // lost, never retried into a pipe that is gone.
    if report.first_error.is_some() {
        report.failed += 1;
        return;
    }
    // Past the shutdown grace only host events are written: each
    // instance's log still ends with its closing events.
    if r.stream != Stream::Host && shared.abort.load(Ordering::Relaxed) {
        report.abandoned += 1;
        return;
    }
    match sink.write(r) {
        Ok(()) => {
            report.written += 1;
            if r.event == Some("instance.exit") {
                exits.push(r.ctx.wasm_instance_id.clone());
            }
        }
        Err(e) => {
            // The record itself, and the earlier ones still in the buffer.
            let unwritten = sink.unwritten();
            report.failed += unwritten.max(1);
            report.written -= unwritten.saturating_sub(1).min(report.written);
            fail(report, shared, e);
        }
    }
}

/// Flushes the sink; the instances whose `instance.exit` it held are closed
/// if that worked.
fn flush(sink: &mut dyn Sink, report: &mut SinkReport, shared: &Shared, exits: &mut Vec<String>) {
    match sink.flush() {
        Ok(()) => {
            for id in exits.drain(..) {
                shared.closed(&id);
                report.closed.insert(id);
            }
        }
        Err(e) => {
            exits.clear();
            let unwritten = sink.unwritten();
            report.failed += unwritten;
            report.written -= unwritten.min(report.written);
            fail(report, shared, e);
        }
    }
}

fn fail(report: &mut SinkReport, shared: &Shared, e: std::io::Error) {
    report.first_error = Some(e.to_string());
    shared.sink_failed(&e);
}

/// The router thread's loop: returns how many records each sink dropped.
fn route_records(
    rx: &mut mpsc::Receiver<LogRecord>,
    router: &Router,
    queues: &[mpsc::Sender<Arc<Tracked>>],
    policies: &[Policy],
    names: &[String],
    shared: &Arc<Shared>,
) -> Vec<u64> {
    let mut routing = Routing {
        router,
        queues,
        policies,
        names,
        shared,
        events: PipelineEvents::new(),
        dests: Vec::new(),
        pending: vec![0; queues.len()],
        dropped: vec![0; queues.len()],
    };
    // Lingering matters here as much as in a sink thread: parking whenever
    // the queue ran dry made nearly every guest line a futex wake-up of this
    // thread, and a routed pipeline (any `--config`, `--loki`, `--otlp`)
    // took twice the wall time of a single sink for the same lines.
    receive_lingering(rx, |received| {
        if let Received::Item(record) = received {
            routing.route(record);
        }
    });
    // At the end every sink catches up: the last counts are said too.
    for (i, &n) in routing.pending.iter().enumerate() {
        if n > 0 {
            let _ = queues[i].blocking_send(Tracked::untracked(routing.events.dropped(&names[i], n), shared));
        }
    }
    routing.dropped
}

/// The router thread's state: where records go, and what each sink dropped.
struct Routing<'a> {
    router: &'a Router,
    queues: &'a [mpsc::Sender<Arc<Tracked>>],
    policies: &'a [Policy],
    names: &'a [String],
    shared: &'a Arc<Shared>,
    events: PipelineEvents,
    dests: Vec<usize>,
    /// Drops not yet reported by a `pipeline.dropped` event, per sink.
    pending: Vec<u64>,
    dropped: Vec<u64>,
}

impl Routing<'_> {
    /// Hands one record to the queues of its sinks, each under its policy.
    fn route(&mut self, record: LogRecord) {
        let record = Tracked::new(record, self.shared);
        self.router.destinations(&record.record, &mut self.dests);
        for &i in &self.dests {
            let queue = &self.queues[i];
            match self.policies[i] {
                // A closed queue means the sink thread is gone (it panicked):
                // nothing to wait for.
                Policy::Block => drop(queue.blocking_send(record.clone())),
                Policy::Drop => {
                    // Say what was dropped before the first record that gets
                    // through again.
                    if self.pending[i] > 0 {
                        match queue.try_reserve() {
                            Ok(permit) => {
                                permit.send(Tracked::untracked(self.events.dropped(&self.names[i], self.pending[i]), self.shared));
                                self.pending[i] = 0;
                            }
                            Err(_) => {
                                self.pending[i] += 1;
                                self.dropped[i] += 1;
                                continue;
                            }
                        }
                    }
                    if queue.try_send(record.clone()).is_err() {
                        self.pending[i] += 1;
                        self.dropped[i] += 1;
                    }
                }
            }
        }
    }
}

/// The pipeline's own events: they belong to no instance, so they carry the
/// pipeline's own id, `module` `wasmhost`, and their own gap-free `seq`.
struct PipelineEvents {
    ctx: Arc<InstanceContext>,
    seq: std::cell::Cell<u64>,
}

impl PipelineEvents {
    fn new() -> PipelineEvents {
        let ctx = InstanceContext::new(uuid::Uuid::now_v7().to_string(), "unknown", "wasmhost");
        PipelineEvents { ctx: Arc::new(ctx), seq: std::cell::Cell::new(0) }
    }

    fn dropped(&self, sink: &str, count: u64) -> LogRecord {
        self.seq.set(self.seq.get() + 1);
        LogRecord::event(
            self.ctx.clone(),
            self.seq.get(),
            Level::Warn,
            "pipeline.dropped",
            format!("sink {sink} dropped {count} records while its queue was full"),
            vec![("sink", FieldValue::from(sink)), ("dropped", FieldValue::U64(count))],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{JsonFormat, Line, WriterSink};
    use std::io::Write;

    /// A transport that blocks until the test opens it, then fails or works.
    struct Gate {
        open: std_mpsc::Receiver<Result<(), i32>>,
        state: Option<Result<(), i32>>,
        written: Arc<std::sync::Mutex<Vec<u8>>>,
    }

    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let state = *self.state.get_or_insert_with(|| self.open.recv().unwrap_or(Ok(())));
            match state {
                Ok(()) => {
                    self.written.lock().unwrap().extend_from_slice(buf);
                    Ok(buf.len())
                }
                Err(errno) => Err(std::io::Error::from_raw_os_error(errno)),
            }
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn gated() -> (Box<dyn Sink>, std_mpsc::Sender<Result<(), i32>>, Arc<std::sync::Mutex<Vec<u8>>>) {
        let (tx, open) = std_mpsc::channel();
        let written = Arc::new(std::sync::Mutex::new(Vec::new()));
        let gate = Gate { open, state: None, written: written.clone() };
        (Box::new(WriterSink::new(JsonFormat, gate)), tx, written)
    }

    fn line(ctx: &Arc<InstanceContext>, seq: u64, bytes: &[u8]) -> LogRecord {
        LogRecord::line(ctx.clone(), Stream::Stderr, seq, Line { bytes, continued: true })
    }

    #[test]
    fn dropping_a_pipeline_writes_every_record_sent() {
        let (sink, open, written) = gated();
        let pipeline = Pipeline::spawn(sink, 1000).unwrap();
        let ctx = Arc::new(InstanceContext::new("id", "c", "m"));
        for seq in 1..=200 {
            assert!(pipeline.sender().try_send(line(&ctx, seq, b"a line")).unwrap().is_none());
        }
        // The sink is slow to start: the drop must wait for it.
        let opener = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            open.send(Ok(())).unwrap();
        });
        drop(pipeline);
        opener.join().unwrap();
        let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 200);
        assert!(text.lines().last().unwrap().contains(r#""seq":200"#));
    }

    #[tokio::test]
    async fn shutdown_waits_for_the_senders_without_blocking_the_runtime() {
        let (sink, open, written) = gated();
        open.send(Ok(())).unwrap();
        let pipeline = Pipeline::spawn(sink, 1000).unwrap();
        let ctx = Arc::new(InstanceContext::new("id", "c", "m"));
        let sender = pipeline.sender();
        // A producer on the same (single) runtime thread still sends while
        // shutdown waits: it would deadlock if shutdown blocked the thread.
        let producer = tokio::spawn(async move {
            for seq in 1..=50 {
                tokio::task::yield_now().await;
                sender.reserve(64).await.unwrap().send(line(&ctx, seq, b"late"));
            }
        });
        let report = pipeline.shutdown().await;
        producer.await.unwrap();
        assert_eq!(report.written, 50);
        assert_eq!(String::from_utf8(written.lock().unwrap().clone()).unwrap().lines().count(), 50);
    }

    #[test]
    fn the_queue_is_bounded_in_bytes_not_only_records() {
        let (sink, open, written) = gated();
        let budget = 4 << 20;
        let pipeline = Pipeline::spawn_budgeted(sink, 1_000_000, budget).unwrap();
        let ctx = Arc::new(InstanceContext::new("id", "c", "m"));
        let big = vec![b'x'; 64 << 10];
        let sender = pipeline.sender();
        let mut accepted = 0u64;
        // The sink is stalled: records pile up until the byte budget is spent.
        while sender.try_send(line(&ctx, accepted + 1, &big)).unwrap().is_none() {
            accepted += 1;
            assert!(accepted < 1000, "never full");
        }
        let limit = (budget / (64 << 10)) as u64;
        // One record may be in the sink's hands beyond the queue.
        assert!((limit - 1..=limit + 1).contains(&accepted), "{accepted} records of 64 KiB");
        open.send(Ok(())).unwrap();
        drop(sender);
        let report = pipeline.finish();
        assert_eq!(report.written, accepted);
        assert_eq!(written.lock().unwrap().iter().filter(|&&b| b == b'\n').count() as u64, accepted);
    }

    #[test]
    fn a_failed_sink_counts_every_buffered_record_and_breaks_the_senders() {
        let (sink, open, _) = gated();
        let pipeline = Pipeline::spawn(sink, 64).unwrap();
        let sender = pipeline.sender();
        assert!(sender.broken().is_none());
        let ctx = Arc::new(InstanceContext::new("id", "c", "m"));
        for seq in 1..=5 {
            assert!(sender.try_send(line(&ctx, seq, b"short")).unwrap().is_none());
        }
        open.send(Err(28)).unwrap(); // ENOSPC
        let started = std::time::Instant::now();
        while sender.broken().is_none() {
            assert!(started.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(sender.broken().unwrap().raw_os_error(), Some(28));
        drop(sender);
        let report = pipeline.finish();
        assert_eq!((report.written, report.failed), (0, 5), "all five were in the buffer");
    }

    #[test]
    fn after_the_grace_only_host_events_are_written_and_the_rest_counted() {
        let (sink, open, written) = gated();
        let pipeline = Pipeline::spawn(sink, 1000).unwrap();
        let sender = pipeline.sender();
        let ctx = Arc::new(InstanceContext::new("id", "c", "m"));
        // 2 KiB lines: the sink's 64 KiB buffer holds about 30 of them,
        // then its first write waits for the transport.
        let text = vec![b'x'; 2048];
        for seq in 1..=100 {
            assert!(sender.try_send(line(&ctx, seq, &text)).unwrap().is_none());
        }
        let exit = LogRecord::event(ctx.clone(), 101, Level::Info, "instance.exit", "exited".into(), vec![]);
        assert!(sender.try_send(exit).unwrap().is_none());
        drop(sender);
        // Opened only after the grace has passed.
        let opener = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            open.send(Ok(())).unwrap();
        });
        let Err(GraceExceeded { report: Some(report), .. }) = pipeline.finish_within(Duration::from_millis(100)) else {
            panic!("the grace passed");
        };
        opener.join().unwrap();
        // What the sink had taken before the grace ran out is written whole.
        assert_eq!(report.written + report.abandoned, 101);
        assert!(report.abandoned >= 50, "{}", report.abandoned);
        assert!(report.closed("id"));
        assert!(report.unclosed.is_empty());
        let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        assert!(text.lines().last().unwrap().contains("instance.exit"));
        assert!(text.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
    }

    #[test]
    fn a_stuck_sink_still_names_the_instances_it_did_not_close() {
        let (sink, open, _) = gated();
        let pipeline = Pipeline::spawn(sink, 1000).unwrap();
        let sender = pipeline.sender();
        let start = |id: &str| {
            let ctx = Arc::new(InstanceContext::new(id, "c", "m"));
            LogRecord::event(ctx, 1, Level::Info, "instance.start", "start".into(), vec![])
        };
        // One through try_send, one through a reservation; "a" also exits.
        assert!(sender.try_send(start("a")).unwrap().is_none());
        let reserved = start("b");
        futures_lite_block_on(async { sender.reserve(LogSender::weigh(&reserved)).await.unwrap().send(reserved) });
        let exit = LogRecord::event(Arc::new(InstanceContext::new("a", "c", "m")), 2, Level::Info, "instance.exit", "exited".into(), vec![]);
        assert!(sender.try_send(exit).unwrap().is_none());
        drop(sender);
        // The transport never opens: the sink never returns from its first write.
        let Err(GraceExceeded { report: None, unclosed, .. }) = pipeline.finish_within(Duration::from_millis(50)) else {
            panic!("the sink is stuck");
        };
        assert_eq!(unclosed, ["a", "b"], "nothing was written, so neither was closed");
        drop(open);
    }

    /// Runs a future to completion on a current-thread runtime.
    fn futures_lite_block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }
}
