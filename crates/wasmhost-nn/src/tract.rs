//! The default WASI-NN backend: ONNX models run by `tract-onnx`, pure Rust,
//! so inference works on a machine that has nothing but crates.io.
//!
//! It is plugged in through wasmtime-wasi-nn's public backend traits, like the
//! stock backends. Tensors of any rank and of the types f16, f32, f64, u8,
//! i32 and i64 are accepted; a tensor whose type, rank, dimensions or byte
//! length do not fit the model's input is refused at `set_input` with an
//! error the guest sees as `runtime_error`, never a panic.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::{Arc, LazyLock};

use tract_onnx::prelude::{
    tvec, DatumType, Framework, InferenceModelExt, IntoRunnable, Tensor as TractTensor, TypedFact,
    TypedRunnableModel, TValue,
};
use tract_onnx::tract_hir::internal::DimLike;
use tract_onnx::Onnx;
use wasmtime_wasi_nn::backend::{
    BackendError, BackendExecutionContext, BackendFromDir, BackendGraph, BackendInner, Id, NamedTensor,
};
use wasmtime_wasi_nn::wit::{ExecutionTarget, GraphEncoding, Tensor, TensorType};
use wasmtime_wasi_nn::{ExecutionContext, Graph};

/// The ONNX operator registry, built once: building it registers every
/// operator, which costs more than loading a small model.
static ONNX: LazyLock<Onnx> = LazyLock::new(tract_onnx::onnx);

/// WASI-NN's `onnx` encoding, served by tract on the CPU.
///
/// ```
/// use wasmhost_nn::TractBackend;
/// use wasmtime_wasi_nn::backend::BackendInner;
/// use wasmtime_wasi_nn::wit::ExecutionTarget;
///
/// let mut backend = TractBackend;
/// // Bytes that are not a model are an error, not a panic.
/// assert!(backend.load(&[b"not a model"], ExecutionTarget::Cpu).is_err());
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct TractBackend;

impl BackendInner for TractBackend {
    fn encoding(&self) -> GraphEncoding {
        GraphEncoding::Onnx
    }

    fn load(&mut self, builders: &[&[u8]], target: ExecutionTarget) -> Result<Graph, BackendError> {
        let [model] = builders else {
            return Err(BackendError::InvalidNumberOfBuilders(1, builders.len()));
        };
        if target != ExecutionTarget::Cpu {
            return Err(backend_error(format!("tract runs models on the CPU only, not on {target:?}")));
        }
        let graph = TractGraph::parse(model)?;
        Ok(Graph::from(Box::new(graph) as Box<dyn BackendGraph>))
    }

    fn as_dir_loadable(&mut self) -> Option<&mut dyn BackendFromDir> {
        Some(self)
    }
}

impl BackendFromDir for TractBackend {
    /// Loads `DIR/model.onnx`, the file name wasmtime's own ONNX backend uses.
    fn load_from_dir(&mut self, dir: &Path, target: ExecutionTarget) -> Result<Graph, BackendError> {
        let path = dir.join("model.onnx");
        let bytes = std::fs::read(&path).map_err(|e| backend_error(format!("{}: {e}", path.display())))?;
        self.load(&[&bytes], target)
    }
}

/// A parsed, optimised model, shared by every execution context made from it.
struct TractGraph {
    model: Arc<TypedRunnableModel>,
    ports: Arc<Ports>,
}

/// What a model takes and gives: its inputs (name and fact, to check
/// tensors against) and its outputs' names.
struct Ports {
    inputs: Vec<(String, TypedFact)>,
    outputs: Vec<String>,
}

impl TractGraph {
    fn parse(bytes: &[u8]) -> Result<TractGraph, BackendError> {
        // tract reports bad models as errors, but a hostile one could still
        // reach a panic deep inside an operator: that is an error too.
        let parsed = catch_unwind(|| {
            ONNX.model_for_read(&mut &bytes[..])
                .and_then(|model| model.into_optimized())
                .and_then(|model| model.into_runnable())
        });
        let model = match parsed {
            Ok(Ok(model)) => model,
            Ok(Err(e)) => return Err(backend_error(format!("the ONNX model does not load: {e:#}"))),
            Err(_) => return Err(backend_error("the ONNX model does not load: tract panicked".into())),
        };
        let typed = model.model();
        let tract_error = |e: tract_onnx::prelude::TractError| backend_error(format!("{e:#}"));
        let name = |outlet: &tract_onnx::prelude::OutletId| typed.node(outlet.node).name.clone();
        let inputs = typed
            .input_outlets()
            .map_err(tract_error)?
            .iter()
            .map(|outlet| Ok((name(outlet), typed.outlet_fact(*outlet).map_err(tract_error)?.clone())))
            .collect::<Result<_, BackendError>>()?;
        let outputs = typed.output_outlets().map_err(tract_error)?.iter().map(name).collect();
        Ok(TractGraph { model, ports: Arc::new(Ports { inputs, outputs }) })
    }
}

impl BackendGraph for TractGraph {
    fn init_execution_context(&self) -> Result<ExecutionContext, BackendError> {
        let context = TractContext {
            model: self.model.clone(),
            ports: self.ports.clone(),
            set: vec![None; self.ports.inputs.len()],
            results: Vec::new(),
        };
        Ok(ExecutionContext::from(Box::new(context) as Box<dyn BackendExecutionContext>))
    }
}

/// The inputs a guest has set and the outputs of its last `compute`.
struct TractContext {
    model: Arc<TypedRunnableModel>,
    ports: Arc<Ports>,
    set: Vec<Option<TValue>>,
    results: Vec<TValue>,
}

/// The position `id` names among a model's inputs or outputs (`kind`).
fn port_index<'a>(id: &Id, mut names: impl ExactSizeIterator<Item = &'a str>, kind: &str) -> Result<usize, BackendError> {
    let count = names.len();
    let found = match id {
        Id::Index(i) => usize::try_from(*i).ok().filter(|i| *i < count),
        Id::Name(name) => names.position(|n| n == name),
    };
    found.ok_or_else(|| backend_error(format!("the model has no {kind} {id:?}; it has {count}")))
}

impl TractContext {
    fn run(&mut self) -> Result<(), BackendError> {
        let mut inputs = tvec![];
        for (slot, (name, _)) in self.set.iter().zip(&self.ports.inputs) {
            let value = slot.clone().ok_or_else(|| backend_error(format!("input {name:?} was not set before compute")))?;
            inputs.push(value);
        }
        let model = self.model.clone();
        let outputs = match catch_unwind(AssertUnwindSafe(|| model.run(inputs))) {
            Ok(Ok(outputs)) => outputs,
            Ok(Err(e)) => return Err(backend_error(format!("compute failed: {e:#}"))),
            Err(_) => return Err(backend_error("compute failed: tract panicked".into())),
        };
        self.results = outputs.into_iter().collect();
        Ok(())
    }
}

impl BackendExecutionContext for TractContext {
    fn set_input(&mut self, id: Id, tensor: &Tensor) -> Result<(), BackendError> {
        let index = port_index(&id, self.ports.inputs.iter().map(|(n, _)| n.as_str()), "input")?;
        let (name, fact) = &self.ports.inputs[index];
        let value = to_tract(tensor, fact).map_err(|e| backend_error(format!("input {index} ({name}): {e}")))?;
        self.set[index] = Some(value.into());
        Ok(())
    }

    fn compute(&mut self, inputs: Option<Vec<NamedTensor>>) -> Result<Option<Vec<NamedTensor>>, BackendError> {
        let Some(named) = inputs else {
            self.run()?;
            return Ok(None);
        };
        for input in named {
            self.set_input(Id::Name(input.name), &input.tensor)?;
        }
        self.run()?;
        let outputs = (0..self.results.len())
            .map(|i| Ok(NamedTensor { name: self.ports.outputs[i].clone(), tensor: self.get_output(Id::Index(i as u32))? }))
            .collect::<Result<_, BackendError>>()?;
        Ok(Some(outputs))
    }

    fn get_output(&mut self, id: Id) -> Result<Tensor, BackendError> {
        let index = port_index(&id, self.ports.outputs.iter().map(String::as_str), "output")?;
        let value = self.results.get(index).ok_or_else(|| backend_error("get_output before compute".into()))?;
        from_tract(value)
    }
}

/// The WASI-NN tensor types tract can hold, with their tract datum types.
const TYPES: [(TensorType, DatumType); 6] = [
    (TensorType::Fp16, DatumType::F16),
    (TensorType::Fp32, DatumType::F32),
    (TensorType::Fp64, DatumType::F64),
    (TensorType::U8, DatumType::U8),
    (TensorType::I32, DatumType::I32),
    (TensorType::I64, DatumType::I64),
];

/// Checks a guest tensor against a model input and copies it into tract.
fn to_tract(tensor: &Tensor, fact: &TypedFact) -> Result<TractTensor, String> {
    let datum = TYPES
        .iter()
        .find(|(ty, _)| *ty == tensor.ty)
        .map(|(_, dt)| *dt)
        .ok_or_else(|| format!("tensor type {:?} is not supported", tensor.ty))?;
    if datum != fact.datum_type {
        return Err(format!("the model takes {:?}, the tensor is {:?}", fact.datum_type, tensor.ty));
    }
    let shape: Vec<usize> = tensor.dimensions.iter().map(|d| *d as usize).collect();
    if shape.len() != fact.rank() {
        return Err(format!("the model takes rank {} ({:?}), the tensor has dimensions {shape:?}", fact.rank(), fact.shape));
    }
    for (axis, (want, got)) in fact.shape.iter().zip(&shape).enumerate() {
        // A symbolic dimension (e.g. a batch size `N`) takes any length.
        if want.to_usize().is_ok_and(|want| want != *got) {
            return Err(format!("dimension {axis} is {got}, the model takes {want} ({:?})", fact.shape));
        }
    }
    let elements = shape.iter().try_fold(1usize, |n, d| n.checked_mul(*d)).ok_or("the dimensions overflow")?;
    let expected = elements.checked_mul(datum.size_of()).ok_or("the dimensions overflow")?;
    if tensor.data.len() != expected {
        return Err(format!("{} bytes of data for dimensions {shape:?} of {datum:?}, which take {expected}", tensor.data.len()));
    }
    // SAFETY: every datum type in TYPES is plain old data (any bit pattern is
    // a value), and the byte length was checked against the shape above.
    unsafe { TractTensor::from_raw_dt(datum, &shape, &tensor.data) }.map_err(|e| format!("{e:#}"))
}

/// Copies a tract output into a WASI-NN tensor (little-endian bytes).
fn from_tract(value: &TractTensor) -> Result<Tensor, BackendError> {
    let ty = TYPES
        .iter()
        .find(|(_, dt)| *dt == value.datum_type())
        .map(|(ty, _)| *ty)
        .ok_or_else(|| BackendError::UnsupportedTensorType(format!("{:?}", value.datum_type())))?;
    let dimensions = value
        .shape()
        .iter()
        .map(|d| u32::try_from(*d).map_err(|_| backend_error(format!("output dimension {d} does not fit in u32"))))
        .collect::<Result<_, _>>()?;
    Ok(Tensor { dimensions, ty, data: value.as_bytes().to_vec() })
}

fn backend_error(message: String) -> BackendError {
    BackendError::BackendAccess(wasmtime::Error::msg(message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::prelude::{SymbolScope, TDim};

    fn fact_of(datum: DatumType, dims: &[usize]) -> TypedFact {
        TypedFact::dt_shape(datum, dims)
    }

    fn values<T: tract_onnx::prelude::Datum + Copy>(value: &TractTensor) -> Vec<T> {
        value.to_plain_array_view::<T>().unwrap().iter().copied().collect()
    }

    fn f32_tensor(dims: &[u32], values: &[f32]) -> Tensor {
        Tensor { dimensions: dims.to_vec(), ty: TensorType::Fp32, data: values.iter().flat_map(|v| v.to_le_bytes()).collect() }
    }

    #[test]
    fn tensors_that_fit_the_input_are_copied_exactly() {
        let fact = fact_of(DatumType::F32, &[2, 2]);
        let value = to_tract(&f32_tensor(&[2, 2], &[1.0, -2.5, 3.25, 0.0]), &fact).unwrap();
        assert_eq!(value.shape(), &[2, 2]);
        assert_eq!(values::<f32>(&value), [1.0, -2.5, 3.25, 0.0]);
        let back = from_tract(&value).unwrap();
        assert_eq!(back, f32_tensor(&[2, 2], &[1.0, -2.5, 3.25, 0.0]));

        let fact = fact_of(DatumType::I64, &[3]);
        let tensor = Tensor { dimensions: vec![3], ty: TensorType::I64, data: [7i64, -1, 1 << 40].iter().flat_map(|v| v.to_le_bytes()).collect() };
        assert_eq!(values::<i64>(&to_tract(&tensor, &fact).unwrap()), [7, -1, 1 << 40]);
    }

    #[test]
    fn mismatches_are_errors_that_say_what_differs() {
        let fact = fact_of(DatumType::F32, &[1, 4]);
        let cases = [
            (f32_tensor(&[1, 5], &[0.0; 5]), "dimension 1 is 5, the model takes 4"),
            (f32_tensor(&[4], &[0.0; 4]), "the model takes rank 2"),
            (f32_tensor(&[1, 4], &[0.0; 3]), "12 bytes of data for dimensions [1, 4]"),
            (Tensor { dimensions: vec![1, 4], ty: TensorType::I32, data: vec![0; 16] }, "the model takes F32"),
            (Tensor { dimensions: vec![1, 4], ty: TensorType::Bf16, data: vec![0; 8] }, "Bf16 is not supported"),
            (f32_tensor(&[u32::MAX, u32::MAX, u32::MAX], &[]), "rank"),
        ];
        for (tensor, says) in cases {
            let error = to_tract(&tensor, &fact).unwrap_err();
            assert!(error.contains(says), "{error:?} should say {says:?}");
        }
        // Dimensions whose product overflows are refused before any allocation.
        let huge = fact_of(DatumType::F32, &[1, 1, 1]);
        let symbolic = TypedFact::dt_shape(DatumType::F32, [TDim::from(SymbolScope::default().sym("N")), 1.into(), 1.into()]);
        for fact in [huge, symbolic] {
            let error = to_tract(&f32_tensor(&[u32::MAX, 1, 1], &[1.0]), &fact).unwrap_err();
            assert!(error.contains("bytes of data") || error.contains("dimension 0"), "{error}");
        }
    }

    #[test]
    fn a_symbolic_dimension_takes_any_length() {
        let batch = TDim::from(SymbolScope::default().sym("N"));
        let fact = TypedFact::dt_shape(DatumType::F32, [batch, 2.into()]);
        assert!(to_tract(&f32_tensor(&[3, 2], &[0.0; 6]), &fact).is_ok());
        assert!(to_tract(&f32_tensor(&[3, 3], &[0.0; 9]), &fact).unwrap_err().contains("dimension 1 is 3"));
    }

    #[test]
    fn load_refuses_what_tract_cannot_serve() {
        let mut backend = TractBackend;
        assert!(matches!(backend.load(&[b"a", b"b"], ExecutionTarget::Cpu), Err(BackendError::InvalidNumberOfBuilders(1, 2))));
        let error = backend.load(&[b""], ExecutionTarget::Gpu).err().unwrap();
        assert!(format!("{error:?}").contains("CPU only"), "{error:?}");
        for garbage in [&b""[..], b"\x08\x07\x12\x00", &[0xff; 64]] {
            let error = backend.load(&[garbage], ExecutionTarget::Cpu).err().expect("garbage does not load");
            assert!(format!("{error:?}").contains("does not load"), "{error:?}");
        }
    }
}
