//! What a host shares among its instances for WASI-NN: which backend serves
//! ONNX, and the graphs preloaded from directories (`--nn-graph`); and the
//! per-instance `WasiNnCtx` made from them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use wasmtime_wasi_nn::wit::{ExecutionTarget, GraphEncoding};
use wasmtime_wasi_nn::witx::WasiNnCtx;
use wasmtime_wasi_nn::{Backend, Registry};

use crate::observe::{NnObserver, ObservedBackend, ObservedRegistry, PreloadedGraph};
use crate::{NnError, TractBackend};

/// Which library runs ONNX models.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NnBackendKind {
    /// `tract-onnx`: pure Rust, always available.
    #[default]
    Tract,
    /// onnxruntime through `ort` (cargo feature `ort`, `$ORT_DYLIB_PATH`).
    Ort,
}

impl NnBackendKind {
    /// The name events and flags use: `tract` or `ort`.
    pub fn as_str(self) -> &'static str {
        match self {
            NnBackendKind::Tract => "tract",
            NnBackendKind::Ort => "ort",
        }
    }

    /// A maker of fresh backends of this kind, or why this build has none.
    fn maker(self) -> Result<fn() -> Backend, NnError> {
        match self {
            NnBackendKind::Tract => Ok(|| Backend::from(TractBackend)),
            #[cfg(feature = "ort")]
            NnBackendKind::Ort => {
                crate::ort::init()?;
                Ok(|| Backend::from(wasmtime_wasi_nn::backend::onnx::OnnxBackend::default()))
            }
            #[cfg(not(feature = "ort"))]
            NnBackendKind::Ort => Err(NnError::OrtNotBuilt),
        }
    }
}

impl FromStr for NnBackendKind {
    type Err = NnError;

    /// ```
    /// use wasmhost_nn::NnBackendKind;
    /// assert_eq!("tract".parse::<NnBackendKind>().unwrap(), NnBackendKind::Tract);
    /// assert!("openvino".parse::<NnBackendKind>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, NnError> {
        match s {
            "tract" => Ok(NnBackendKind::Tract),
            "ort" | "onnxruntime" => Ok(NnBackendKind::Ort),
            other => Err(NnError::UnknownBackend(other.to_owned())),
        }
    }
}

/// A model directory to preload, as `--nn-graph ENCODING::DIR` (wasmtime's
/// `-S nn-graph=ENCODING::DIR`): guests open it with `load_by_name` and the
/// directory's last component as the name. The directory holds `model.onnx`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedGraph {
    /// The encoding, e.g. `onnx`.
    pub encoding: String,
    /// The directory.
    pub dir: PathBuf,
}

impl FromStr for NamedGraph {
    type Err = NnError;

    /// ```
    /// let graph: wasmhost_nn::NamedGraph = "onnx::models/mlp".parse().unwrap();
    /// assert_eq!(graph.encoding, "onnx");
    /// assert!("models/mlp".parse::<wasmhost_nn::NamedGraph>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, NnError> {
        let (encoding, dir) = s.split_once("::").ok_or_else(|| NnError::GraphSpec(s.to_owned()))?;
        if encoding.is_empty() || dir.is_empty() {
            return Err(NnError::GraphSpec(s.to_owned()));
        }
        Ok(NamedGraph { encoding: encoding.to_owned(), dir: PathBuf::from(dir) })
    }
}

/// How a host offers WASI-NN. `NnConfig::default()`: tract, nothing preloaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NnConfig {
    /// The backend for the `onnx` encoding.
    pub backend: NnBackendKind,
    /// Graphs loaded once at start-up, for `load_by_name`.
    pub graphs: Vec<NamedGraph>,
}

/// The host's WASI-NN state, shared by its instances.
///
/// ```
/// use std::sync::Arc;
/// use wasmhost_nn::{NnConfig, NnEvent, NnHost, NnObserver};
///
/// struct Ignore;
/// impl NnObserver for Ignore {
///     fn nn_event(&self, _: NnEvent) {}
/// }
/// let host = NnHost::new(&NnConfig::default()).unwrap();
/// let _ctx = host.context(Arc::new(Ignore)); // one per instance
/// ```
pub struct NnHost {
    kind: NnBackendKind,
    make_backend: fn() -> Backend,
    preloaded: HashMap<String, PreloadedGraph>,
}

impl NnHost {
    /// Checks the backend is usable (built in; onnxruntime present, for
    /// `ort`) and preloads the named graphs.
    pub fn new(config: &NnConfig) -> Result<NnHost, NnError> {
        let make_backend = config.backend.maker()?;
        let mut preloaded = HashMap::new();
        let mut backend = make_backend();
        for spec in &config.graphs {
            let (name, graph) = preload(config.backend, &mut backend, spec)?;
            if preloaded.insert(name.clone(), graph).is_some() {
                return Err(NnError::Graph { dir: spec.dir.clone(), message: format!("a graph named {name:?} is already preloaded") });
            }
        }
        Ok(NnHost { kind: config.backend, make_backend, preloaded })
    }

    /// The backend in use.
    pub fn backend(&self) -> NnBackendKind {
        self.kind
    }

    /// A fresh WASI-NN context for one instance: its own graphs and
    /// execution contexts, every call reported to `observer`.
    pub fn context(&self, observer: Arc<dyn NnObserver>) -> WasiNnCtx {
        let name = self.kind.as_str();
        let backend = ObservedBackend::new((self.make_backend)(), name, observer.clone());
        let registry = ObservedRegistry::new(&self.preloaded, name, observer);
        WasiNnCtx::new([Backend::from(backend)], Registry::from(registry))
    }
}

fn preload(kind: NnBackendKind, backend: &mut Backend, spec: &NamedGraph) -> Result<(String, PreloadedGraph), NnError> {
    let fail = |message: String| NnError::Graph { dir: spec.dir.clone(), message };
    let encoding: GraphEncoding = spec.encoding.parse().map_err(|e| fail(format!("{e}")))?;
    if encoding != backend.encoding() {
        return Err(fail(format!("the {} backend serves {}, not {encoding}", kind.as_str(), backend.encoding())));
    }
    let name = graph_name(&spec.dir).ok_or_else(|| fail("the directory has no name to load it by".into()))?;
    let model_bytes = std::fs::metadata(spec.dir.join("model.onnx")).map(|m| m.len()).map_err(|e| fail(format!("model.onnx: {e}")))?;
    let loader = backend.as_dir_loadable().ok_or_else(|| fail("the backend cannot load from a directory".into()))?;
    let graph = loader.load_from_dir(&spec.dir, ExecutionTarget::Cpu).map_err(|e| fail(crate::observe::error_chain(&e)))?;
    Ok((name, PreloadedGraph { graph, encoding, model_bytes }))
}

fn graph_name(dir: &Path) -> Option<String> {
    dir.file_name().map(|n| n.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(feature = "ort"))]
    #[test]
    fn ort_needs_the_feature() {
        let config = NnConfig { backend: NnBackendKind::Ort, graphs: Vec::new() };
        assert!(matches!(NnHost::new(&config), Err(NnError::OrtNotBuilt)));
    }

    #[test]
    fn graphs_need_an_encoding_this_backend_serves_and_a_model() {
        let dir = std::env::temp_dir();
        let wrong = NamedGraph { encoding: "openvino".into(), dir: dir.clone() };
        let error = NnHost::new(&NnConfig { graphs: vec![wrong], ..NnConfig::default() }).err().unwrap();
        assert!(error.to_string().contains("the tract backend serves onnx, not openvino"), "{error}");
        let empty = NamedGraph { encoding: "onnx".into(), dir: dir.join("wasmhost-nn-no-such-dir") };
        let error = NnHost::new(&NnConfig { graphs: vec![empty], ..NnConfig::default() }).err().unwrap();
        assert!(error.to_string().contains("model.onnx"), "{error}");
    }
}
