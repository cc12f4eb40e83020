//! Every NN call an instance makes, reported as it happens: wrappers around
//! any backend, graph and execution context (and the registry of named
//! graphs) that time the call and hand an [`NnEvent`] to an [`NnObserver`].
//!
//! Wrapping at the backend traits keeps the events the same whichever
//! backend runs the model, and leaves wasmtime-wasi-nn's own witx glue as it is.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime_wasi_nn::backend::{
    BackendError, BackendExecutionContext, BackendFromDir, BackendGraph, BackendInner, Id, NamedTensor,
};
use wasmtime_wasi_nn::wit::{ExecutionTarget, GraphEncoding, Tensor};
use wasmtime_wasi_nn::{Backend, ExecutionContext, Graph, GraphRegistry};

/// One NN call of an instance, as its log reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum NnEvent {
    /// A graph was loaded: from bytes the guest passed (`load`), or taken
    /// from the host's preloaded graphs (`load_by_name`).
    Load {
        /// The backend that serves it, e.g. `tract`.
        backend: &'static str,
        /// The model encoding, e.g. `onnx`.
        encoding: String,
        /// The execution target the guest asked for, e.g. `cpu`.
        target: String,
        /// Bytes of the model.
        model_bytes: u64,
        /// The preloaded graph's name, for `load_by_name`.
        graph: Option<String>,
        /// Time spent loading (zero for a preloaded graph: the host loaded it).
        duration: Duration,
    },
    /// An execution context was made from a graph.
    Init {
        /// The backend.
        backend: &'static str,
        /// Time spent.
        duration: Duration,
    },
    /// Inference ran.
    Compute {
        /// The backend.
        backend: &'static str,
        /// Time spent in the backend.
        duration: Duration,
    },
    /// A call failed; the guest got an error code.
    Error {
        /// The WASI-NN call, e.g. `set_input`.
        call: &'static str,
        /// What went wrong, with the backend's causes.
        message: String,
    },
}

/// Receives the [`NnEvent`]s of one instance.
///
/// ```
/// use std::sync::Mutex;
/// use wasmhost_nn::{NnEvent, NnObserver};
///
/// struct Collect(Mutex<Vec<NnEvent>>);
/// impl NnObserver for Collect {
///     fn nn_event(&self, event: NnEvent) {
///         self.0.lock().unwrap().push(event);
///     }
/// }
/// ```
pub trait NnObserver: Send + Sync {
    /// Called once per event, on the thread that made the call.
    fn nn_event(&self, event: NnEvent);
}

/// A backend whose calls are reported to an observer.
pub(crate) struct ObservedBackend {
    inner: Backend,
    name: &'static str,
    observer: Arc<dyn NnObserver>,
}

impl ObservedBackend {
    pub(crate) fn new(inner: Backend, name: &'static str, observer: Arc<dyn NnObserver>) -> Self {
        ObservedBackend { inner, name, observer }
    }
}

/// Reports `result`'s error, if any, as the failure of `call`.
fn report<T>(observer: &dyn NnObserver, call: &'static str, result: Result<T, BackendError>) -> Result<T, BackendError> {
    if let Err(e) = &result {
        observer.nn_event(NnEvent::Error { call, message: error_chain(e) });
    }
    result
}

/// The error and its causes on one line: what a log reader needs.
pub(crate) fn error_chain(e: &BackendError) -> String {
    match e {
        BackendError::BackendAccess(inner) => format!("{inner:#}"),
        other => other.to_string(),
    }
}

/// Wraps a graph so the contexts made from it report to `observer`.
fn observed_graph(inner: Graph, backend: &'static str, observer: Arc<dyn NnObserver>) -> Graph {
    Graph::from(Box::new(ObservedGraph { inner, backend, observer }) as Box<dyn BackendGraph>)
}

impl BackendInner for ObservedBackend {
    fn encoding(&self) -> GraphEncoding {
        self.inner.encoding()
    }

    fn load(&mut self, builders: &[&[u8]], target: ExecutionTarget) -> Result<Graph, BackendError> {
        let started = Instant::now();
        let graph = report(&*self.observer, "load", self.inner.load(builders, target))?;
        self.observer.nn_event(NnEvent::Load {
            backend: self.name,
            encoding: self.inner.encoding().to_string(),
            target: target_name(target).into(),
            model_bytes: builders.iter().map(|b| b.len() as u64).sum(),
            graph: None,
            duration: started.elapsed(),
        });
        Ok(observed_graph(graph, self.name, self.observer.clone()))
    }

    /// Guests load bytes; directories are loaded by the host, unobserved.
    fn as_dir_loadable(&mut self) -> Option<&mut dyn BackendFromDir> {
        None
    }
}

struct ObservedGraph {
    inner: Graph,
    backend: &'static str,
    observer: Arc<dyn NnObserver>,
}

impl BackendGraph for ObservedGraph {
    fn init_execution_context(&self) -> Result<ExecutionContext, BackendError> {
        let started = Instant::now();
        let inner = report(&*self.observer, "init_execution_context", self.inner.init_execution_context())?;
        self.observer.nn_event(NnEvent::Init { backend: self.backend, duration: started.elapsed() });
        let context = ObservedContext { inner, backend: self.backend, observer: self.observer.clone() };
        Ok(ExecutionContext::from(Box::new(context) as Box<dyn BackendExecutionContext>))
    }
}

struct ObservedContext {
    inner: ExecutionContext,
    backend: &'static str,
    observer: Arc<dyn NnObserver>,
}

impl BackendExecutionContext for ObservedContext {
    fn set_input(&mut self, id: Id, tensor: &Tensor) -> Result<(), BackendError> {
        report(&*self.observer, "set_input", self.inner.set_input(id, tensor))
    }

    fn get_output(&mut self, id: Id) -> Result<Tensor, BackendError> {
        report(&*self.observer, "get_output", self.inner.get_output(id))
    }

    fn compute(&mut self, inputs: Option<Vec<NamedTensor>>) -> Result<Option<Vec<NamedTensor>>, BackendError> {
        let started = Instant::now();
        let outputs = report(&*self.observer, "compute", BackendExecutionContext::compute(&mut *self.inner, inputs))?;
        self.observer.nn_event(NnEvent::Compute { backend: self.backend, duration: started.elapsed() });
        Ok(outputs)
    }
}

/// A graph the host loaded before any instance ran (`--nn-graph`).
#[derive(Clone)]
pub(crate) struct PreloadedGraph {
    pub(crate) graph: Graph,
    pub(crate) encoding: GraphEncoding,
    pub(crate) model_bytes: u64,
}

/// One instance's view of the host's preloaded graphs: each lookup (the
/// witx glue's `load_by_name`, the wit glue's too) is reported, hit or miss,
/// and the contexts made from the graphs report to the instance.
pub(crate) struct ObservedRegistry {
    /// The host's graphs, each wrapped for this instance's observer.
    graphs: HashMap<String, PreloadedGraph>,
    backend: &'static str,
    observer: Arc<dyn NnObserver>,
}

impl ObservedRegistry {
    pub(crate) fn new(preloaded: &HashMap<String, PreloadedGraph>, backend: &'static str, observer: Arc<dyn NnObserver>) -> Self {
        let graphs = preloaded
            .iter()
            .map(|(name, p)| {
                let graph = observed_graph(p.graph.clone(), backend, observer.clone());
                (name.clone(), PreloadedGraph { graph, ..p.clone() })
            })
            .collect();
        ObservedRegistry { graphs, backend, observer }
    }

    /// Reports the lookup of `name`: `nn.load` for a preloaded graph, else
    /// `nn.error` listing the names there are.
    fn report(&self, name: &str) {
        let Some(preloaded) = self.graphs.get(name) else {
            let mut known: Vec<&str> = self.graphs.keys().map(String::as_str).collect();
            known.sort_unstable();
            let message = match known.is_empty() {
                true => format!("no graph named {name:?}: none is preloaded (--nn-graph)"),
                false => format!("no graph named {name:?}; preloaded: {}", known.join(", ")),
            };
            self.observer.nn_event(NnEvent::Error { call: "load_by_name", message });
            return;
        };
        self.observer.nn_event(NnEvent::Load {
            backend: self.backend,
            encoding: preloaded.encoding.to_string(),
            target: target_name(ExecutionTarget::Cpu).into(),
            model_bytes: preloaded.model_bytes,
            graph: Some(name.to_owned()),
            duration: Duration::ZERO,
        });
    }
}

impl GraphRegistry for ObservedRegistry {
    fn get(&self, name: &str) -> Option<&Graph> {
        self.report(name);
        self.graphs.get(name).map(|p| &p.graph)
    }

    fn get_mut(&mut self, name: &str) -> Option<&mut Graph> {
        self.report(name);
        self.graphs.get_mut(name).map(|p| &mut p.graph)
    }
}

fn target_name(target: ExecutionTarget) -> &'static str {
    match target {
        ExecutionTarget::Cpu => "cpu",
        ExecutionTarget::Gpu => "gpu",
        ExecutionTarget::Tpu => "tpu",
    }
}
