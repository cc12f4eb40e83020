//! Shutdown signals for the commands that run guests: SIGINT, SIGTERM and
//! SIGHUP, and the thread that watches for them while `run`'s guests hold
//! the thread it waits on.

use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use anyhow::Context;
use tokio::signal::unix::{signal, Signal, SignalKind};
use wasmhost::Host;

/// Waits for SIGINT, SIGTERM or SIGHUP (a closed terminal) and returns its
/// number; each stops the guests and flushes the log the same way.
pub async fn shutdown_signal() -> i32 {
    match Signals::register() {
        Some(mut signals) => signals.recv().await,
        // Without signal handlers there is nothing to wait for.
        None => std::future::pending().await,
    }
}

/// The three shutdown signals, caught from the moment they are registered.
struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    /// Catches the signals (in a tokio runtime's context); `None` when a
    /// handler could not be installed.
    fn register() -> Option<Signals> {
        let (Ok(term), Ok(int), Ok(hup)) =
            (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()))
        else {
            return None;
        };
        Some(Signals { term, int, hup })
    }

    async fn recv(&mut self) -> i32 {
        tokio::select! {
            _ = self.term.recv() => 15,
            _ = self.int.recv() => 2,
            _ = self.hup.recv() => 1,
        }
    }
}

/// Watches for a shutdown signal on a thread of its own while `run` waits
/// for its guests. At a signal it stops every guest ([`Host::stop_all`]);
/// the guests then end and `run` finishes the log as usual. A guest that
/// cannot be stopped — one computing in wasm on a host without epoch
/// interruption, which never gives its thread back — would hold `run`
/// forever, so when the guests are not done within `grace` the watcher
/// calls `give_up` (close the logs of the guests still running, finish the
/// log, exit) from its thread.
pub struct Watcher {
    state: Arc<WatchState>,
}

struct WatchState {
    signal: OnceLock<i32>,
    done: Mutex<bool>,
    ended: Condvar,
}

impl Watcher {
    /// Catches the signals now (so none is missed once the guests start)
    /// and watches from a new thread. `give_up` gets the signal's number and
    /// the watcher's runtime, to wait on.
    pub fn spawn(
        host: Arc<Host>,
        grace: Duration,
        give_up: impl FnOnce(i32, &tokio::runtime::Runtime) + Send + 'static,
    ) -> anyhow::Result<Watcher> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the signal watcher's runtime")?;
        let signals = {
            let _context = runtime.enter();
            Signals::register()
        };
        let state = Arc::new(WatchState { signal: OnceLock::new(), done: Mutex::new(false), ended: Condvar::new() });
        let Some(mut signals) = signals else {
            return Ok(Watcher { state });
        };
        let watched = state.clone();
        std::thread::Builder::new()
            .name("wasmhost-signals".into())
            .spawn(move || {
                let number = runtime.block_on(signals.recv());
                let _ = watched.signal.set(number);
                // Guests blocked in a host call stop at once, guests in wasm
                // at their next epoch tick (when the host has epochs).
                host.stop_all();
                let done = watched.done.lock().unwrap_or_else(|p| p.into_inner());
                let (done, _) = watched.ended.wait_timeout_while(done, grace, |done| !*done).unwrap_or_else(|p| p.into_inner());
                if !*done {
                    drop(done);
                    give_up(number, &runtime);
                }
            })
            .context("starting the signal watcher")?;
        Ok(Watcher { state })
    }

    /// Says the guests are done: a signal from now on is left to `run`.
    /// Returns the signal that came before, if any.
    pub fn guests_done(&self) -> Option<i32> {
        *self.state.done.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.state.ended.notify_all();
        self.state.signal.get().copied()
    }
}
