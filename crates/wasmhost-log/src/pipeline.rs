//! The pipeline: a bounded queue between the instances that produce records
//! and the sinks; with routes, a router thread between them hands each
//! record to the sinks its route names, through one bounded queue per sink.
//!
//! Queues are bounded so memory stays bounded whatever a guest writes. A
//! full queue is felt by the producer (see [`crate::InstanceLog`]), which
//! makes the guest wait rather than drop a line — unless the sink's policy
//! is [`Policy::Drop`], which counts what it drops and says so with a
//! `pipeline.dropped` event once the sink has room again.

use std::borrow::Borrow;
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::record::{FieldValue, InstanceContext, Level, LogRecord};
use crate::router::Router;
use crate::sink::Sink;

/// The sending side, cloned into every instance.
#[derive(Clone, Debug)]
pub struct LogSender {
    tx: mpsc::Sender<LogRecord>,
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
    pub fn try_send(&self, record: LogRecord) -> Result<Option<LogRecord>, PipelineClosed> {
        match self.tx.try_send(record) {
            Ok(()) => Ok(None),
            Err(mpsc::error::TrySendError::Full(r)) => Ok(Some(r)),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(PipelineClosed),
        }
    }

    /// Waits until there is room for one record and returns the permit.
    pub async fn reserve(&self) -> Result<mpsc::Permit<'_, LogRecord>, PipelineClosed> {
        self.tx.reserve().await.map_err(|_| PipelineClosed)
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
    /// Records the sink accepted.
    pub written: u64,
    /// Records lost because the sink failed (e.g. a closed pipe).
    pub failed: u64,
    /// Records dropped by the [`Policy::Drop`] policy.
    pub dropped: u64,
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
    /// The first error of any sink.
    pub first_error: Option<String>,
    /// Per sink.
    pub sinks: Vec<SinkReport>,
}

impl PipelineReport {
    fn of(sinks: Vec<SinkReport>) -> PipelineReport {
        PipelineReport {
            written: sinks.iter().map(|s| s.written).sum(),
            failed: sinks.iter().map(|s| s.failed).sum(),
            dropped: sinks.iter().map(|s| s.dropped).sum(),
            first_error: sinks.iter().find_map(|s| s.first_error.clone()),
            sinks,
        }
    }
}

/// The pipeline did not drain within the grace period given to
/// [`Pipeline::finish_within`]; what was written by then is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraceExceeded(pub Duration);

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
pub struct Pipeline {
    sender: LogSender,
    done: std_mpsc::Receiver<PipelineReport>,
    threads: Vec<JoinHandle<()>>,
}

/// How long a sink thread sleeps between polls of its queue. Under load the
/// queue refills in that time, so producers almost never have to wake a
/// parked thread (a futex call per line would halve throughput). 500 µs
/// moved 1M lines in 0.85 s here, 200 µs in 1.35 s: shorter sleeps mean
/// more wake-ups competing with the guest for a core.
const LINGER: Duration = Duration::from_micros(500);

/// Empty polls (of [`LINGER`] each) before a sink thread parks: a few
/// milliseconds of attention after the last record.
const IDLE_POLLS: u32 = 5;

/// Batches this small are flushed at once: the guests are quiet, latency
/// matters more than syscalls.
const LINGER_AFTER: usize = 64;

impl Pipeline {
    /// One sink, fed straight from the instances' queue of `capacity`
    /// records (policy [`Policy::Block`]).
    pub fn spawn(sink: Box<dyn Sink>, capacity: usize) -> std::io::Result<Pipeline> {
        let (tx, rx) = mpsc::channel::<LogRecord>(capacity.max(1));
        let (done_tx, done) = std_mpsc::channel();
        let worker = spawn_named("wasmhost-log-sink", move || {
            let report = run_sink("default".into(), sink, rx);
            let _ = done_tx.send(PipelineReport::of(vec![report]));
        })?;
        Ok(Pipeline { sender: LogSender { tx }, done, threads: vec![worker] })
    }

    /// Several sinks behind a router: every record goes to the sinks of the
    /// routes it matches (or the router's default sinks).
    pub fn routed(sinks: Vec<SinkSpec>, router: Router, capacity: usize) -> std::io::Result<Pipeline> {
        let (tx, mut rx) = mpsc::channel::<LogRecord>(capacity.max(1));
        let mut threads = Vec::new();
        let mut queues = Vec::new();
        let mut policies = Vec::new();
        let mut names = Vec::new();
        let (report_tx, report_rx) = std_mpsc::channel::<(usize, SinkReport)>();
        for (i, spec) in sinks.into_iter().enumerate() {
            let (sink_tx, sink_rx) = mpsc::channel::<Arc<LogRecord>>(spec.queue.max(1));
            let (name, sink, report_tx) = (spec.name.clone(), spec.sink, report_tx.clone());
            threads.push(spawn_named(&format!("wasmhost-sink-{name}"), move || {
                let _ = report_tx.send((i, run_sink(name, sink, sink_rx)));
            })?);
            queues.push(sink_tx);
            policies.push(spec.policy);
            names.push(spec.name);
        }
        drop(report_tx);
        let (done_tx, done) = std_mpsc::channel();
        let router_thread = spawn_named("wasmhost-log-router", move || {
            let dropped = route_records(&mut rx, &router, &queues, &policies, &names);
            drop(queues);
            let mut reports: Vec<SinkReport> = vec![SinkReport::default(); names.len()];
            for (i, report) in report_rx.iter() {
                reports[i] = SinkReport { dropped: dropped[i], ..report };
            }
            let _ = done_tx.send(PipelineReport::of(reports));
        })?;
        threads.push(router_thread);
        Ok(Pipeline { sender: LogSender { tx }, done, threads })
    }

    /// A sender for an instance.
    pub fn sender(&self) -> LogSender {
        self.sender.clone()
    }

    /// Waits until every record sent so far reached its sinks and every
    /// sender is dropped, then returns what happened. Blocks the calling thread.
    pub fn finish(self) -> PipelineReport {
        drop(self.sender);
        let report = self.done.recv().unwrap_or_else(|_| PipelineReport {
            first_error: Some("a log pipeline thread panicked".into()),
            ..PipelineReport::default()
        });
        for t in self.threads {
            let _ = t.join();
        }
        report
    }

    /// Like [`Pipeline::finish`], but gives up after `grace` (a sink that
    /// hangs must not hold the process forever).
    pub fn finish_within(self, grace: Duration) -> Result<PipelineReport, GraceExceeded> {
        drop(self.sender);
        self.done.recv_timeout(grace).map_err(|_| GraceExceeded(grace))
    }
}

fn spawn_named(name: &str, f: impl FnOnce() + Send + 'static) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name(name.to_owned()).spawn(f)
}

/// Drains `rx` into `sink`, flushing when the queue runs dry.
fn run_sink<T: Borrow<LogRecord>>(name: String, mut sink: Box<dyn Sink>, mut rx: mpsc::Receiver<T>) -> SinkReport {
    let mut report = SinkReport { name, ..SinkReport::default() };
    while let Some(first) = rx.blocking_recv() {
        let mut record = Some(first);
        let mut idle_polls = 0;
        loop {
            let mut batch = 0usize;
            while let Some(r) = record.take().or_else(|| rx.try_recv().ok()) {
                batch += 1;
                // After a failure the sink is not asked again: the lines are
                // counted as lost, never retried into a pipe that is gone.
                if report.first_error.is_some() {
                    report.failed += 1;
                } else {
                    match sink.write(r.borrow()) {
                        Ok(()) => report.written += 1,
                        Err(e) => {
                            report.failed += 1;
                            report.first_error = Some(e.to_string());
                        }
                    }
                }
            }
            // A small batch (a quiet moment) is flushed at once, so lines are
            // never held back.
            if batch > 0 && batch < LINGER_AFTER && report.first_error.is_none() {
                if let Err(e) = sink.flush() {
                    report.first_error = Some(e.to_string());
                }
            }
            idle_polls = if batch == 0 { idle_polls + 1 } else { 0 };
            // Poll a little before parking: a parked thread costs every
            // producer a futex wake-up, which under load costs more than the
            // formatting itself.
            if idle_polls > IDLE_POLLS {
                break;
            }
            std::thread::sleep(LINGER);
            match rx.try_recv() {
                Ok(r) => record = Some(r),
                Err(mpsc::error::TryRecvError::Empty) => {}
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            }
        }
        if report.first_error.is_none() {
            if let Err(e) = sink.flush() {
                report.first_error = Some(e.to_string());
            }
        }
    }
    report
}

/// The router thread's loop: returns how many records each sink dropped.
fn route_records(
    rx: &mut mpsc::Receiver<LogRecord>,
    router: &Router,
    queues: &[mpsc::Sender<Arc<LogRecord>>],
    policies: &[Policy],
    names: &[String],
) -> Vec<u64> {
    let mut dropped = vec![0u64; queues.len()];
    let mut pending = vec![0u64; queues.len()];
    let events = PipelineEvents::new();
    let mut dests = Vec::new();
    while let Some(record) = rx.blocking_recv() {
        let record = Arc::new(record);
        router.destinations(&record, &mut dests);
        for &i in &dests {
            let queue = &queues[i];
            match policies[i] {
                // A closed queue means the sink thread is gone (it panicked):
                // nothing to wait for.
                Policy::Block => drop(queue.blocking_send(record.clone())),
                Policy::Drop => {
                    // Say what was dropped before the first record that gets
                    // through again.
                    if pending[i] > 0 {
                        match queue.try_reserve() {
                            Ok(permit) => {
                                permit.send(Arc::new(events.dropped(&names[i], pending[i])));
                                pending[i] = 0;
                            }
                            Err(_) => {
                                pending[i] += 1;
                                dropped[i] += 1;
                                continue;
                            }
                        }
                    }
                    if queue.try_send(record.clone()).is_err() {
                        pending[i] += 1;
                        dropped[i] += 1;
                    }
                }
            }
        }
    }
    // At the end every sink catches up: the last counts are said too.
    for (i, &n) in pending.iter().enumerate() {
        if n > 0 {
            let _ = queues[i].blocking_send(Arc::new(events.dropped(&names[i], n)));
        }
    }
    dropped
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
