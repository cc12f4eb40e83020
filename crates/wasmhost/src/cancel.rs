//! Stopping one run from outside it: the [`CancelToken`] an embedder puts
//! in [`RunOptions::cancel`](crate::RunOptions::cancel) and cancels from
//! any thread (a Go context's `Done`, a client that went away).

use tokio::sync::watch;

/// Cancels the runs it is given to, from any thread, at any time: a guest
/// running wasm stops at its next epoch tick ([`EPOCH_TICK`](crate::EPOCH_TICK)),
/// a guest blocked in a host call (sleeping, reading stdin, waiting for the
/// log) at once, and the run ends as a run stopped by
/// [`Host::stop_all`](crate::Host::stop_all) does: `instance.stopped`,
/// then `instance.exit` with code 134, [`Ended::Stopped`](crate::Ended::Stopped).
/// A run given a token already cancelled stops as soon as it starts.
/// Clones share one state; cancelling is for good.
///
/// ```
/// let token = wasmhost::CancelToken::new();
/// let options = wasmhost::RunOptions { cancel: Some(token.clone()), ..Default::default() };
/// assert!(!token.is_cancelled());
/// token.cancel(); // e.g. from the thread that saw the client go away
/// assert!(options.cancel.unwrap().is_cancelled());
/// ```
#[derive(Debug, Clone)]
pub struct CancelToken {
    state: std::sync::Arc<watch::Sender<bool>>,
}

impl Default for CancelToken {
    fn default() -> Self {
        CancelToken { state: std::sync::Arc::new(watch::Sender::new(false)) }
    }
}

impl CancelToken {
    /// A token not cancelled yet.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Stops every run given this token (idempotent; thread-safe).
    pub fn cancel(&self) {
        self.state.send_replace(true);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        *self.state.borrow()
    }

    /// Resolves once the token is cancelled.
    pub(crate) async fn cancelled(&self) {
        let mut rx = self.state.subscribe();
        // The sender lives as long as `self`: `wait_for` cannot fail here.
        let _ = rx.wait_for(|cancelled| *cancelled).await;
    }
}
