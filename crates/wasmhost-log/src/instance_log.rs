//! One instance's log: numbering, line splitting and backpressure.
//!
//! Every record of an instance (its stdout and stderr lines and the host's
//! events about it) passes through its `InstanceLog`, which gives it the next
//! `seq`. Records leave in `seq` order: when the pipeline is full they wait in
//! a short queue here, and the guest is made to wait (its stream reports no
//! room) until they have left. Memory per instance is bounded by what one
//! write of the guest can produce.
//!
//! A multi-line block that lifting holds (a traceback, a panic) leaves with
//! the line after it, before the next event, at the end, or — for a guest
//! that prints one and then waits — when its time window has passed:
//! [`InstanceLog::release_blocks`] runs beside the guest for that.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::Notify;

use crate::lift::{LiftConfig, LineLifter};
use crate::lines::{Line, LineSplitter};
use crate::pipeline::{LogSender, PipelineClosed};
use crate::record::{FieldValue, InstanceContext, Level, LogRecord, Stream};

/// Figures about one instance's output.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LogCounters {
    /// Records handed to the pipeline (lines and events).
    pub records: u64,
    /// Guest lines (pieces of cut lines count one each).
    pub lines: u64,
    /// Bytes the guest wrote to its captured streams.
    pub bytes: u64,
    /// Records the pipeline could not take because it had shut down.
    pub lost: u64,
}

/// The log of one instance. See the module documentation.
///
/// ```
/// use std::sync::{Arc, Mutex, MutexGuard};
/// use wasmhost_log::{InstanceContext, InstanceLog, JsonFormat, Pipeline, Stream, WriterSink};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let pipeline = Pipeline::spawn(Box::new(WriterSink::new(JsonFormat, std::io::sink())), 64).unwrap();
/// let ctx = Arc::new(InstanceContext::new("id", "c", "m"));
/// let log = std::sync::Mutex::new(InstanceLog::new(ctx, pipeline.sender(), 16 * 1024));
/// wasmhost_log::lock(&log).write(Stream::Stderr, b"one\ntwo\nthr");
/// wasmhost_log::lock(&log).finish_streams();
/// InstanceLog::drain(&log).await.unwrap();
/// assert_eq!(wasmhost_log::lock(&log).counters().lines, 3);
/// drop(log);
/// assert_eq!(pipeline.finish().written, 3);
/// # });
/// ```
pub struct InstanceLog {
    ctx: Arc<InstanceContext>,
    /// `None` once [`InstanceLog::close`] let go of the pipeline.
    sender: Option<LogSender>,
    /// Set by [`InstanceLog::seal_with`]: the closing events are written,
    /// every record after them is dropped (and counted lost).
    sealed: bool,
    seq: u64,
    waiting: VecDeque<LogRecord>,
    stdout: LineSplitter,
    stderr: LineSplitter,
    counters: LogCounters,
    lift: Option<LineLifter>,
    taps: Vec<RecordTap>,
    /// Woken when lifting starts holding a block, for `release_blocks`.
    holding: Arc<Notify>,
}

/// A function that sees every record of one instance as it is made, in
/// `seq` order, before the pipeline does: how an embedder gets a run's own
/// records back (see `wasmhost::RunOptions::on_record`). It is called with
/// the instance's log locked, on the thread the guest runs on: it should be
/// quick (push to a `Vec`, send on a channel), never wait for the guest.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use wasmhost_log::{InstanceContext, InstanceLog, JsonFormat, Pipeline, RecordTap, Stream, WriterSink};
///
/// let pipeline = Pipeline::spawn(Box::new(WriterSink::new(JsonFormat, std::io::sink())), 64).unwrap();
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let tap = RecordTap::new({ let seen = seen.clone(); move |r| seen.lock().unwrap().push(r.msg.clone()) });
/// let ctx = Arc::new(InstanceContext::new("id", "c", "m"));
/// let mut log = InstanceLog::new(ctx, pipeline.sender(), 1024).with_tap(tap);
/// log.write(Stream::Stderr, b"one\ntwo\n");
/// assert_eq!(*seen.lock().unwrap(), ["one", "two"]);
/// ```
#[derive(Clone)]
pub struct RecordTap(Arc<dyn Fn(&LogRecord) + Send + Sync>);

impl RecordTap {
    /// A tap calling `f` with each record.
    pub fn new(f: impl Fn(&LogRecord) + Send + Sync + 'static) -> RecordTap {
        RecordTap(Arc::new(f))
    }

    /// Hands `record` to the function.
    pub fn call(&self, record: &LogRecord) {
        (self.0)(record)
    }
}

impl std::fmt::Debug for RecordTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecordTap(..)")
    }
}

impl InstanceLog {
    /// A log for the instance `ctx`, sending to `sender`, cutting lines longer
    /// than `max_line` bytes.
    pub fn new(ctx: Arc<InstanceContext>, sender: LogSender, max_line: usize) -> Self {
        InstanceLog {
            ctx,
            sender: Some(sender),
            sealed: false,
            seq: 0,
            waiting: VecDeque::new(),
            stdout: LineSplitter::new(max_line),
            stderr: LineSplitter::new(max_line),
            counters: LogCounters::default(),
            lift: None,
            taps: Vec::new(),
            holding: Arc::new(Notify::new()),
        }
    }

    /// Also hands every record to `tap` (see [`RecordTap`]); several taps
    /// are called in the order they were added.
    pub fn with_tap(mut self, tap: RecordTap) -> Self {
        self.taps.push(tap);
        self
    }

    /// Lifts the guest's lines as `config` says for this instance (see
    /// [`LiftConfig`]); without this call lines stay as the guest wrote them.
    pub fn with_lift(mut self, config: &LiftConfig) -> Self {
        self.lift = config.for_instance(&self.ctx);
        self
    }

    /// The instance's context.
    pub fn context(&self) -> &Arc<InstanceContext> {
        &self.ctx
    }

    /// Figures so far.
    pub fn counters(&self) -> LogCounters {
        self.counters
    }

    /// The error the guest's writes should now fail with, once nothing can
    /// be written any more (see [`LogSender::broken`]).
    pub fn broken(&self) -> Option<std::io::Error> {
        match &self.sender {
            Some(sender) => sender.broken(),
            // Closed: nothing the guest writes goes anywhere any more.
            None => Some(std::io::ErrorKind::BrokenPipe.into()),
        }
    }

    /// Writes the instance's closing events with `closing`, then ends the
    /// log: they are its last records, and every later one is dropped and
    /// counted `lost`. Does nothing and returns false when the log was ended
    /// already. Both happen under the caller's one lock, so the closing
    /// events are written once even when the host closes the log of a guest
    /// that is still running (see [`InstanceLog::close`]) while the run
    /// itself ends.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use wasmhost_log::{InstanceContext, InstanceLog, JsonFormat, Level, Pipeline, Stream, WriterSink};
    ///
    /// let pipeline = Pipeline::spawn(Box::new(WriterSink::new(JsonFormat, std::io::sink())), 64).unwrap();
    /// let mut log = InstanceLog::new(Arc::new(InstanceContext::new("id", "c", "m")), pipeline.sender(), 1024);
    /// log.write(Stream::Stderr, b"kept\n");
    /// assert!(log.seal_with(|log| log.event(Level::Info, "instance.exit", "exited".into(), Vec::new())));
    /// log.write(Stream::Stderr, b"dropped\n");
    /// assert_eq!((log.counters().records, log.counters().lost), (2, 1));
    /// assert!(!log.seal_with(|_| unreachable!("sealed once")));
    /// ```
    pub fn seal_with(&mut self, closing: impl FnOnce(&mut InstanceLog)) -> bool {
        if self.sealed {
            return false;
        }
        closing(self);
        self.sealed = true;
        true
    }

    /// Sends what is waiting, then lets go of the pipeline, so that the
    /// pipeline can finish although the instance's guest is still running
    /// (a guest no epoch can interrupt, at a shutdown). Call it after
    /// [`InstanceLog::seal_with`]; the guest's writes fail from now on
    /// ([`InstanceLog::broken`]).
    pub async fn close(shared: &Mutex<InstanceLog>) {
        let _ = InstanceLog::drain(shared).await;
        let mut log = lock(shared);
        log.counters.lost += log.waiting.len() as u64;
        log.waiting.clear();
        log.sender = None;
    }

    /// Records are waiting for room in the pipeline: the guest should not be
    /// given more room to write until [`InstanceLog::drain`] has run.
    pub fn is_backlogged(&self) -> bool {
        !self.waiting.is_empty()
    }

    /// Takes bytes the guest wrote to `stream` (stdout or stderr); complete
    /// lines become records at once.
    pub fn write(&mut self, stream: Stream, bytes: &[u8]) {
        self.counters.bytes += bytes.len() as u64;
        self.split(stream, |splitter, emit| splitter.push(bytes, emit));
    }

    /// Emits the last line of each stream if it had no newline. Call once
    /// the guest can write no more.
    pub fn finish_streams(&mut self) {
        for stream in [Stream::Stdout, Stream::Stderr] {
            self.split(stream, |splitter, emit| splitter.finish(emit));
        }
        self.flush_blocks(None);
    }

    /// Emits multi-line blocks held by lifting: all, or with `due_by` those
    /// whose window has ended by then.
    fn flush_blocks(&mut self, due_by: Option<Instant>) {
        if let Some(mut lift) = self.lift.take() {
            let ctx = self.ctx.clone();
            lift.flush(due_by, &ctx, &mut |record| self.number(record));
            self.lift = Some(lift);
        }
    }

    /// Lets out each multi-line block lifting holds once its window has
    /// passed ([`crate::Bounds::window`], 250 ms by default), so a guest that
    /// prints a traceback and then sleeps or blocks has it delivered then,
    /// not with its next line or at its end. Never returns: poll it beside
    /// the guest's call and drop it when the call ends. It sleeps while no
    /// block is held.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use std::time::Duration;
    /// use wasmhost_log::{lock, InstanceContext, InstanceLog, JsonFormat, LiftConfig, Pipeline, Stream, WriterSink};
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let pipeline = Pipeline::spawn(Box::new(WriterSink::new(JsonFormat, std::io::sink())), 64).unwrap();
    /// let ctx = Arc::new(InstanceContext::new("id", "python", "m"));
    /// let log = Mutex::new(InstanceLog::new(ctx, pipeline.sender(), 4096).with_lift(&LiftConfig::default()));
    /// lock(&log).write(Stream::Stderr, b"Traceback (most recent call last):\n  File \"a.py\", line 1\nKeyError: 'k'\n");
    /// assert_eq!(lock(&log).counters().records, 0, "held: more of the block may follow");
    /// // The guest now sleeps; the block leaves after its window.
    /// let _ = tokio::time::timeout(Duration::from_millis(400), InstanceLog::release_blocks(&log)).await;
    /// assert_eq!(lock(&log).counters().records, 1);
    /// # drop(log);
    /// # pipeline.finish();
    /// # });
    /// ```
    pub async fn release_blocks(shared: &Mutex<InstanceLog>) -> std::convert::Infallible {
        let holding = lock(shared).holding.clone();
        loop {
            let due = lock(shared).lift.as_ref().and_then(LineLifter::deadline);
            match due {
                Some(due) => {
                    tokio::time::sleep_until(due.into()).await;
                    lock(shared).flush_blocks(Some(Instant::now()));
                    let _ = InstanceLog::drain(shared).await;
                }
                // A block started since `due` was read left a permit: no wake is lost.
                None => holding.notified().await,
            }
        }
    }

    /// Gives a record the next `seq` and queues it.
    fn number(&mut self, mut record: LogRecord) {
        if self.sealed {
            self.counters.lost += 1;
            return;
        }
        self.seq += 1;
        record.seq = self.seq;
        for tap in &self.taps {
            tap.call(&record);
        }
        self.enqueue(record);
    }

    /// Runs `feed` on `stream`'s splitter, turning every line it completes
    /// into the next record. The splitter is moved out for the call so the
    /// records can be numbered and queued on `self`.
    fn split(&mut self, stream: Stream, feed: impl FnOnce(&mut LineSplitter, &mut dyn FnMut(Line<'_>))) {
        let slot = match stream {
            Stream::Stdout => &mut self.stdout,
            _ => &mut self.stderr,
        };
        let mut splitter = std::mem::replace(slot, LineSplitter::new(1));
        let mut lift = self.lift.take();
        let held_before = lift.as_ref().is_some_and(LineLifter::is_holding);
        let ctx = self.ctx.clone();
        feed(&mut splitter, &mut |line| {
            self.counters.lines += 1;
            match lift.as_mut() {
                Some(lift) => lift.push(&ctx, stream, line, &mut |record| self.number(record)),
                None => self.number(LogRecord::line(ctx.clone(), stream, 0, line)),
            }
        });
        // A block held where none was wakes `release_blocks`, which waits
        // for one. (One that replaced another needs no wake: it is asleep
        // until the first one's deadline and reads the next one then.)
        if !held_before && lift.as_ref().is_some_and(LineLifter::is_holding) {
            self.holding.notify_one();
        }
        self.lift = lift;
        match stream {
            Stream::Stdout => self.stdout = splitter,
            _ => self.stderr = splitter,
        }
    }

    /// Records a host event about this instance.
    pub fn event(
        &mut self,
        level: Level,
        event: &'static str,
        msg: String,
        fields: Vec<(&'static str, FieldValue)>,
    ) {
        // A block the guest was writing came first.
        self.flush_blocks(None);
        self.number(LogRecord::event(self.ctx.clone(), 0, level, event, msg, fields));
    }

    /// Records what the guest logged through the `wasmhost_log` import
    /// (see [`crate::import_record`]).
    pub fn guest_record(&mut self, record: LogRecord) {
        self.flush_blocks(None);
        self.number(record);
    }

    fn enqueue(&mut self, record: LogRecord) {
        if !self.waiting.is_empty() {
            self.waiting.push_back(record);
            return;
        }
        match self.sender.as_ref().map(|sender| sender.try_send(record)) {
            Some(Ok(None)) => self.counters.records += 1,
            Some(Ok(Some(back))) => self.waiting.push_back(back),
            Some(Err(PipelineClosed)) | None => self.counters.lost += 1,
        }
    }

    /// Waits until every waiting record of the log in `shared` is in the
    /// pipeline. The lock is never held while waiting, so the guest's
    /// streams and the host can share one log.
    pub async fn drain(shared: &Mutex<InstanceLog>) -> Result<(), PipelineClosed> {
        let Some(sender) = lock(shared).sender.clone() else {
            // Closed: nothing waits (close dropped it).
            return Err(PipelineClosed);
        };
        loop {
            if !lock(shared).is_backlogged() {
                return Ok(());
            }
            let bytes = lock(shared).waiting.front().map_or(0, LogSender::weigh);
            match sender.reserve(bytes).await {
                Ok(room) => {
                    let mut log = lock(shared);
                    if let Some(record) = log.waiting.pop_front() {
                        room.send(record);
                        log.counters.records += 1;
                    }
                }
                Err(closed) => {
                    let mut log = lock(shared);
                    log.counters.lost += log.waiting.len() as u64;
                    log.waiting.clear();
                    return Err(closed);
                }
            }
        }
    }
}

/// Locks a shared log. A panic while the lock was held cannot leave an
/// `InstanceLog` in a state worse than a lost line, so poisoning is ignored.
pub fn lock(shared: &Mutex<InstanceLog>) -> MutexGuard<'_, InstanceLog> {
    shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
