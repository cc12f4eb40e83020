//! Runs an ONNX model through WASI-NN (raw `wasi_ephemeral_nn` imports) and
//! prints its outputs on stdout, as guests/c/nn.c does:
//!
//!   nn file:PATH|name:NAME [DIMS=V,V,...|DIMS=ramp]... [--outputs N]
//!
//! `ramp` fills the tensor with (i % 17) / 17 - 0.5, as the C guest does.
//! A failing call prints "nn: CALL failed: errno E" on stderr and exits 3.
use std::process::exit;

#[repr(C)]
struct GraphBuilder {
    buf: *const u8,
    len: u32,
}

#[repr(C)]
struct Tensor {
    dims: *const u32,
    rank: u32,
    ty: u8,
    data: *const u8,
    data_len: u32,
}

#[link(wasm_import_module = "wasi_ephemeral_nn")]
extern "C" {
    fn load(builders: *const GraphBuilder, n: u32, encoding: u32, target: u32, graph: *mut u32) -> i32;
    fn load_by_name(name: *const u8, len: u32, graph: *mut u32) -> i32;
    fn init_execution_context(graph: u32, ctx: *mut u32) -> i32;
    fn set_input(ctx: u32, index: u32, tensor: *const Tensor) -> i32;
    fn compute(ctx: u32) -> i32;
    fn get_output(ctx: u32, index: u32, out: *mut u8, max: u32, written: *mut u32) -> i32;
}

const ENCODING_ONNX: u32 = 1;
const TARGET_CPU: u32 = 0;
const TYPE_F32: u8 = 1;

fn check(errno: i32, call: &str) {
    if errno != 0 {
        eprintln!("nn: {} failed: errno {}", call, errno);
        exit(3);
    }
}

fn fail(message: String) -> ! {
    eprintln!("nn: {}", message);
    exit(2)
}

/// "1x4=0.5,-1,2" -> (dims, values)
fn parse_input(spec: &str) -> (Vec<u32>, Vec<f32>) {
    let (dims, values) = match spec.split_once('=') {
        Some(parts) => parts,
        None => fail(format!("input '{}' is not DIMS=VALUES", spec)),
    };
    let dims: Vec<u32> = dims.split('x').map(|d| d.parse().unwrap_or_else(|_| fail(format!("bad dimension '{}'", d)))).collect();
    if values == "ramp" {
        let count = dims.iter().product::<u32>() as usize;
        return (dims, (0..count).map(|i| (i % 17) as f32 / 17.0 - 0.5).collect());
    }
    let values = values.split(',').map(|v| v.parse().unwrap_or_else(|_| fail(format!("bad value '{}'", v)))).collect();
    (dims, values)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 2 {
        fail("usage: nn file:PATH|name:NAME [DIMS=V,...]... [--outputs N]".into());
    }
    let mut inputs = Vec::new();
    let mut outputs = 1usize;
    let mut rest = args[2..].iter();
    while let Some(arg) = rest.next() {
        if arg == "--outputs" {
            outputs = rest.next().and_then(|n| n.parse().ok()).unwrap_or_else(|| fail("--outputs needs a number".into()));
        } else {
            inputs.push(parse_input(arg));
        }
    }

    let mut graph = 0u32;
    let mut ctx = 0u32;
    unsafe {
        if let Some(path) = args[1].strip_prefix("file:") {
            let model = std::fs::read(path).unwrap_or_else(|e| fail(format!("{}: {}", path, e)));
            let builder = GraphBuilder { buf: model.as_ptr(), len: model.len() as u32 };
            check(load(&builder, 1, ENCODING_ONNX, TARGET_CPU, &mut graph), "load");
        } else if let Some(name) = args[1].strip_prefix("name:") {
            check(load_by_name(name.as_ptr(), name.len() as u32, &mut graph), "load_by_name");
        } else {
            fail(format!("model '{}' is neither file:PATH nor name:NAME", args[1]));
        }
        check(init_execution_context(graph, &mut ctx), "init_execution_context");
        for (i, (dims, values)) in inputs.iter().enumerate() {
            let tensor = Tensor {
                dims: dims.as_ptr(),
                rank: dims.len() as u32,
                ty: TYPE_F32,
                data: values.as_ptr() as *const u8,
                data_len: (values.len() * 4) as u32,
            };
            check(set_input(ctx, i as u32, &tensor), "set_input");
        }
        check(compute(ctx), "compute");
        let mut out = vec![0u8; 1 << 16];
        for o in 0..outputs {
            let mut written = 0u32;
            check(get_output(ctx, o as u32, out.as_mut_ptr(), out.len() as u32, &mut written), "get_output");
            let values: Vec<String> = out[..written as usize]
                .chunks_exact(4)
                .map(|b| format!("{:?}", f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                .collect();
            println!("output {}: {}", o, values.join(" "));
        }
    }
}
