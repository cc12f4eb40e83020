//! Sinks: where formatted records go. A sink is a [`Format`] over a transport.

use std::io::{self, Write};

use crate::format::Format;
use crate::record::LogRecord;

/// A destination for records. The [`crate::Pipeline`] calls it from one
/// thread, in order; `flush` is called whenever the queue runs dry, so a
/// sink may buffer freely in between.
pub trait Sink: Send {
    /// Accepts one record.
    fn write(&mut self, record: &LogRecord) -> io::Result<()>;
    /// Pushes everything accepted so far to its destination.
    fn flush(&mut self) -> io::Result<()>;
    /// After `write` or `flush` failed: how many records handed to `write`
    /// (the failing one included) did not reach the destination whole, so
    /// the pipeline can say exactly how many were lost. The default suits a
    /// sink that buffers nothing: only the record whose write failed.
    fn unwritten(&self) -> u64 {
        1
    }
}

/// Bytes written before a [`WriterSink`] hands its buffer to the transport.
const BUFFER_BYTES: usize = 64 * 1024;

/// A [`Format`] writing into any [`Write`] transport (a file, stderr, a pipe),
/// with a 64 KiB buffer in between.
///
/// ```
/// use std::sync::Arc;
/// use wasmhost_log::{InstanceContext, JsonFormat, Level, LogRecord, Sink, WriterSink};
/// let mut sink = WriterSink::new(JsonFormat, Vec::new());
/// let ctx = Arc::new(InstanceContext::new("id", "c", "m"));
/// sink.write(&LogRecord::event(ctx, 1, Level::Info, "instance.start", "start".into(), vec![])).unwrap();
/// sink.flush().unwrap();
/// assert_eq!(sink.get_ref().iter().filter(|&&b| b == b'\n').count(), 1);
/// ```
pub struct WriterSink<W: Write + Send> {
    format: Box<dyn Format>,
    buf: Vec<u8>,
    /// Where each record in `buf` ends: a failed write loses only the
    /// records that did not get out whole.
    ends: Vec<usize>,
    /// Records lost at the last failure.
    unwritten: u64,
    out: W,
}

impl<W: Write + Send> WriterSink<W> {
    /// A sink writing `format`ted records to `out`.
    pub fn new(format: impl Format + 'static, out: W) -> Self {
        WriterSink { format: Box::new(format), buf: Vec::with_capacity(BUFFER_BYTES), ends: Vec::new(), unwritten: 0, out }
    }

    /// The transport.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    fn write_buffer(&mut self) -> io::Result<()> {
        let mut done = 0;
        let result = loop {
            if done == self.buf.len() {
                break Ok(());
            }
            match self.out.write(&self.buf[done..]) {
                Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        if result.is_err() {
            self.unwritten = self.ends.iter().filter(|&&end| end > done).count() as u64;
        }
        // Clear even on error: a transport that failed once must not make the
        // buffer grow without bound.
        self.buf.clear();
        self.ends.clear();
        result
    }
}

impl<W: Write + Send> Sink for WriterSink<W> {
    fn write(&mut self, record: &LogRecord) -> io::Result<()> {
        let start = self.buf.len();
        if let Err(e) = self.format.format(record, &mut self.buf) {
            self.buf.truncate(start);
            self.unwritten = self.ends.len() as u64 + 1;
            self.buf.clear();
            self.ends.clear();
            return Err(e);
        }
        self.ends.push(self.buf.len());
        if self.buf.len() >= BUFFER_BYTES {
            self.write_buffer()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_buffer()?;
        self.out.flush().inspect_err(|_| self.unwritten = 0)
    }

    fn unwritten(&self) -> u64 {
        self.unwritten
    }
}
