//! A guest's stdout/stderr as seen by WASI: bytes go into the instance's
//! log, and a full log pipeline makes the guest wait (backpressure through
//! `check_write` / `ready`), so nothing is dropped and memory stays bounded.
//! Once no sink can write any more (the reader went away), the guest's
//! writes fail with the sink's error (`EPIPE`), as they would if it wrote
//! to that pipe itself under `wasmtime run`: it stops instead of writing
//! into the void. An uncaptured stdout ([`HostStdout`]) tells the guest the
//! same way when the host's stdout is a pipe whose reader went away.

use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmhost_log::{lock, InstanceLog, Stream};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi_io::poll::Pollable;
use wasmtime_wasi_io::streams::{OutputStream, StreamError, StreamResult};

use crate::instance::OutputBuffer;

/// How much a guest may write in one go when the log is not backlogged. p1's
/// `fd_write` hands over at most 4 KiB at a time anyway.
const WRITE_BUDGET: usize = 64 * 1024;

/// One of an instance's captured streams.
#[derive(Clone)]
pub(crate) struct Capture {
    pub(crate) log: Arc<Mutex<InstanceLog>>,
    pub(crate) stream: Stream,
    /// Also keep the raw bytes here (a test runner compares them exactly).
    pub(crate) copy: Option<OutputBuffer>,
}

impl Capture {
    fn take(&self, bytes: &[u8]) {
        if let Some(copy) = &self.copy {
            // The copy is bounded by its own capacity; past it, only the
            // log gets the bytes.
            let _ = copy.clone().write(Bytes::copy_from_slice(bytes));
        }
        lock(&self.log).write(self.stream, bytes);
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {
        // A closed pipeline has counted the lines as lost; a broken one makes
        // the next write fail.
        let _ = InstanceLog::drain(&self.log).await;
    }
}

/// The error a write meets when every sink has failed.
fn broken(log: &InstanceLog) -> StreamResult<()> {
    match log.broken() {
        Some(e) => Err(StreamError::LastOperationFailed(e.into())),
        None => Ok(()),
    }
}

impl OutputStream for Capture {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        broken(&lock(&self.log))?;
        self.take(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        let log = lock(&self.log);
        broken(&log)?;
        Ok(if log.is_backlogged() { 0 } else { WRITE_BUDGET })
    }
}

/// The preview3 path. preview1 guests never use it; it accepts everything
/// without backpressure, which is bounded by the pipeline's own queue plus
/// what one write produces.
impl tokio::io::AsyncWrite for Capture {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.take(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The host's own stdout, for a guest whose stdout is not captured: the bytes
/// go straight through. It differs from wasmtime-wasi's inherited stdout in
/// one error only: wasmtime-wasi 48 turns a broken pipe into a closed stream,
/// which preview1 can only report as `EIO`; here the guest gets the OS error
/// itself — `EPIPE` when the reader went away, as a native program (and a
/// captured stream, above) would see it.
#[derive(Clone, Copy)]
pub(crate) struct HostStdout;

impl IsTerminal for HostStdout {
    fn is_terminal(&self) -> bool {
        std::io::IsTerminal::is_terminal(&std::io::stdout())
    }
}

impl StdoutStream for HostStdout {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(*self)
    }

    /// The preview3 path, which preview1 guests never use: wasmtime-wasi's own.
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        wasmtime_wasi::cli::stdout().async_stream()
    }
}

#[async_trait::async_trait]
impl Pollable for HostStdout {
    async fn ready(&mut self) {}
}

impl OutputStream for HostStdout {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        let mut mid_line = STDOUT_MID_LINE.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = std::io::stdout().lock();
        let failed = |e: std::io::Error| StreamError::LastOperationFailed(e.into());
        out.write_all(&bytes).map_err(failed)?;
        if let Some(&last) = bytes.last() {
            *mid_line = last != b'\n';
            // A half line is on the screen before the lock is let go (std's
            // stdout holds it back until a newline otherwise).
            if *mid_line {
                out.flush().map_err(failed)?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        std::io::stdout().flush().map_err(|e| StreamError::LastOperationFailed(e.into()))
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_BUDGET)
    }
}

/// Whether the guests' passed-through stdout ended mid-line (its last byte
/// was not a newline); held while writing, so a guest's write and a host
/// line cannot interleave on the terminal. See [`OwnLine`].
static STDOUT_MID_LINE: Mutex<bool> = Mutex::new(false);

/// A writer of host text (the tagged lines on stderr) for a terminal that
/// also shows the guests' passed-through stdout: each write starts on a
/// screen line of its own. A guest that wrote half a line (`hello`, then
/// `\n` in a second write, as wasi-libc's `puts` does) gets a line break
/// before the host's line instead of sharing its screen line; the guest's
/// bytes themselves are never changed.
///
/// ```
/// use std::io::Write;
/// let mut text = wasmhost::OwnLine(Vec::new());
/// text.write_all(b"INFO host line\n").unwrap();
/// assert_eq!(text.0, b"INFO host line\n");
/// ```
pub struct OwnLine<W>(pub W);

impl<W: Write> Write for OwnLine<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut mid_line = STDOUT_MID_LINE.lock().unwrap_or_else(|p| p.into_inner());
        if *mid_line {
            self.0.write_all(b"\n")?;
            *mid_line = false;
        }
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}
