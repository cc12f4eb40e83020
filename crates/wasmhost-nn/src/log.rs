//! NN events on an instance's log stream: the [`NnObserver`] every instance
//! of a wasmhost host uses, so NN lines carry the instance's tags like its
//! own output does.

use std::sync::Mutex;

use wasmhost_log::{lock, FieldValue, InstanceLog, Level};

use crate::{NnEvent, NnObserver};

impl NnObserver for Mutex<InstanceLog> {
    fn nn_event(&self, event: NnEvent) {
        let mut log = lock(self);
        match event {
            NnEvent::Load { backend, encoding, target, model_bytes, graph, duration } => {
                let message = match &graph {
                    Some(name) => format!("opened preloaded {encoding} graph {name:?} on {backend}"),
                    None => format!("loaded a {model_bytes}-byte {encoding} model on {backend} ({target})"),
                };
                let mut fields = vec![
                    ("backend", backend.into()),
                    ("encoding", encoding.into()),
                    ("target", target.into()),
                    ("model_bytes", FieldValue::U64(model_bytes)),
                    ("duration_ms", FieldValue::millis(duration)),
                ];
                if let Some(name) = graph {
                    fields.push(("graph", name.into()));
                }
                log.event(Level::Info, "nn.load", message, fields);
            }
            NnEvent::Init { backend, duration } => log.event(
                Level::Info,
                "nn.init",
                format!("execution context ready on {backend}"),
                vec![("backend", backend.into()), ("duration_ms", FieldValue::millis(duration))],
            ),
            NnEvent::Compute { backend, duration } => log.event(
                Level::Debug,
                "nn.compute",
                format!("inference on {backend} took {:.3} ms", duration.as_secs_f64() * 1000.0),
                vec![("backend", backend.into()), ("duration_ms", FieldValue::millis(duration))],
            ),
            NnEvent::Error { call, message } => log.event(
                Level::Error,
                "nn.error",
                format!("{call} failed: {message}"),
                vec![("nn_call", call.into()), ("error", message.into())],
            ),
        }
    }
}
