//! Errors that wasmtime-wasi-nn's witx glue finds before any backend is
//! reached — an unknown graph or context handle, an encoding no backend
//! serves, an output larger than the guest's buffer, a guest pointer outside
//! its memory — reported as `nn.error` events like the backends' own.
//!
//! The glue is not ours to wrap, but it says what it refuses through
//! `tracing` (`debug!("host error: {:?}", e)`), inside a `wiggle abi` span
//! naming the call. [`GlueErrors`] is a `tracing` subscriber that listens to
//! exactly those two callsites, and [`observe_glue`] tells it, while an
//! instance's future is polled on a thread, whose observer to report to.
//! Every other callsite is disabled for good (`Interest::never`), so the
//! subscriber costs nothing to code that does not use WASI-NN.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};

use crate::{NnEvent, NnObserver};

thread_local! {
    /// The observer of the instance being polled on this thread, if it uses NN.
    static CURRENT: RefCell<Option<Arc<dyn NnObserver>>> = const { RefCell::new(None) };
    /// The WASI-NN call in progress on this thread (from wiggle's span).
    static CALL: Cell<&'static str> = const { Cell::new("") };
}

/// The WASI-NN calls, as the witx glue names them.
const CALLS: [&str; 6] = ["load", "load_by_name", "init_execution_context", "set_input", "compute", "get_output"];

/// Runs `future` with `observer` as the target of [`GlueErrors`]' reports
/// whenever it is polled: wrap an instance's run in it.
///
/// ```
/// use std::sync::Arc;
/// use wasmhost_nn::{observe_glue, NnEvent, NnObserver};
///
/// struct Print;
/// impl NnObserver for Print {
///     fn nn_event(&self, event: NnEvent) {
///         eprintln!("{event:?}")
///     }
/// }
/// // Spawn or await this in place of the instance's own future.
/// let _run = observe_glue(Arc::new(Print), async { /* the guest runs here */ });
/// ```
pub async fn observe_glue<F: Future>(observer: Arc<dyn NnObserver>, future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        let _current = Current::set(observer.clone());
        future.as_mut().poll(cx)
    })
    .await
}

/// Restores the thread's previous observer when a poll ends, even by a panic.
struct Current(Option<Arc<dyn NnObserver>>);

impl Current {
    fn set(observer: Arc<dyn NnObserver>) -> Current {
        Current(CURRENT.with(|c| c.replace(Some(observer))))
    }
}

impl Drop for Current {
    fn drop(&mut self) {
        let previous = self.0.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// The `tracing` subscriber that turns wasmtime-wasi-nn's glue errors into
/// [`NnEvent::Error`]s. Install it as the global default
/// (`tracing::subscriber::set_global_default(GlueErrors)`), as the
/// `wasmhost` CLI does; embedders with a subscriber of their own go without
/// these few events (the backends' errors are reported either way).
#[derive(Debug, Default, Clone, Copy)]
pub struct GlueErrors;

impl GlueErrors {
    fn wants(metadata: &Metadata<'_>) -> bool {
        metadata.target().starts_with("wasmtime_wasi_nn")
            && ((metadata.is_span() && metadata.name() == "wiggle abi") || (metadata.is_event() && *metadata.level() == Level::DEBUG))
    }
}

impl Subscriber for GlueErrors {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if Self::wants(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        Self::wants(metadata)
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        // One wiggle span opens each call; calls do not nest.
        struct Function;
        impl Visit for Function {
            fn record_str(&mut self, field: &Field, value: &str) {
                if field.name() == "function" {
                    CALL.with(|c| c.set(CALLS.iter().find(|n| **n == value).copied().unwrap_or("")));
                }
            }
            fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
                self.record_str(field, &format!("{value:?}").replace('"', ""));
            }
        }
        span.record(&mut Function);
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        struct Message(String);
        impl Visit for Message {
            fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        let Some(error) = message.0.strip_prefix("host error: ") else { return };
        let call = CALL.with(Cell::get);
        let Some(described) = describe(call, error) else { return };
        CURRENT.with(|c| {
            if let Some(observer) = c.borrow().as_ref() {
                observer.nn_event(NnEvent::Error { call: if call.is_empty() { "unknown" } else { call }, message: described });
            }
        });
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// What a glue error (its `Debug` text) means, in words; `None` for the
/// errors the backends and the registry already report.
fn describe(call: &str, error: &str) -> Option<String> {
    if error.starts_with("BackendError") || error.starts_with("UsageError(NotFound") {
        return None;
    }
    let text = if let Some(encoding) = error.strip_prefix("UsageError(InvalidEncoding(").and_then(|e| e.strip_suffix("))")) {
        // wit enums print as `GraphEncoding::Openvino`.
        let name = encoding.rsplit("::").next().unwrap_or(encoding).to_lowercase();
        format!("no backend here serves the {name} encoding; this host serves onnx")
    } else if error == "UsageError(InvalidGraphHandle)" && matches!(call, "set_input" | "get_output") {
        // wasmtime-wasi-nn 48 names the graph where it means the context.
        "the execution context handle is not one this instance made".to_owned()
    } else if error == "UsageError(InvalidGraphHandle)" {
        "the graph handle is not one this instance loaded".to_owned()
    } else if error == "UsageError(InvalidExecutionContextHandle)" {
        "the execution context handle is not one this instance made".to_owned()
    } else if let Some(bytes) = error.strip_prefix("NotEnoughMemory(").and_then(|e| e.strip_suffix(')')) {
        format!("the output is {bytes} bytes, more than the guest's buffer")
    } else if let Some(guest) = error.strip_prefix("GuestError(").and_then(|e| e.strip_suffix(')')) {
        format!("the guest passed a pointer or length outside its memory: {guest}")
    } else {
        error.to_owned()
    };
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn glue_errors_in_words() {
        assert_eq!(
            describe("load", "UsageError(InvalidEncoding(GraphEncoding::Openvino))").unwrap(),
            "no backend here serves the openvino encoding; this host serves onnx"
        );
        assert!(describe("set_input", "UsageError(InvalidGraphHandle)").unwrap().contains("execution context"));
        assert!(describe("init_execution_context", "UsageError(InvalidGraphHandle)").unwrap().contains("graph handle"));
        assert!(describe("get_output", "NotEnoughMemory(320)").unwrap().contains("320 bytes"));
        assert!(describe("set_input", "GuestError(PtrOutOfBounds(Region { start: 4294967280, len: 16 }))").unwrap().contains("outside its memory"));
        assert_eq!(describe("compute", "BackendError(BackendAccess(..))"), None);
        assert_eq!(describe("load_by_name", "UsageError(NotFound(\"x\"))"), None);
    }
}
