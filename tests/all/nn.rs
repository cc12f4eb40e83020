//! WASI-NN: the C and Rust guests (guests/{c,rust}/nn.*) run the ONNX models
//! scripts/make-models.py makes, on the tract backend and on onnxruntime, and
//! their outputs must match what numpy computed from the same weights; NN
//! calls are events with the instance's tags; bad inputs are errors for the
//! guest, never host panics.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Command, Output};

use crate::common::*;
use serde_json::Value;

const TOLERANCE: f64 = 1e-5;

fn models() -> PathBuf {
    let dir = root().join("guests/build/nn");
    assert!(dir.join("expected.json").exists(), "{} is missing: run `make guests` first (make test does)", dir.display());
    dir
}

/// The cases scripts/make-models.py wrote: model, inputs, numpy's outputs.
fn cases() -> Vec<Value> {
    let text = std::fs::read_to_string(models().join("expected.json")).expect("expected.json");
    let expected: Value = serde_json::from_str(&text).expect("expected.json is JSON");
    expected["cases"].as_array().expect("cases").clone()
}

/// `1x4=0.5,-1,2,0.25`: a tensor as the guests take it on their command line.
fn tensor_arg(tensor: &Value) -> String {
    let dims: Vec<String> = tensor["dims"].as_array().unwrap().iter().map(|d| d.to_string()).collect();
    let data = match tensor["data"].as_array() {
        Some(values) => values.iter().map(|v| format!("{}", v.as_f64().unwrap())).collect::<Vec<_>>().join(","),
        None => tensor["data"].as_str().expect("values or a generator name like ramp").to_owned(),
    };
    format!("{}={data}", dims.join("x"))
}

/// The guest's stdout `output N: v v v` lines, as numbers.
fn outputs(stdout: &[u8]) -> Vec<Vec<f64>> {
    text(stdout)
        .lines()
        .filter_map(|line| line.split_once(": "))
        .map(|(_, values)| values.split(' ').map(|v| v.parse::<f64>().expect("a float")).collect())
        .collect()
}

fn assert_close(got: &[Vec<f64>], case: &Value, what: &str) {
    let want = case["outputs"].as_array().unwrap();
    assert_eq!(got.len(), want.len(), "{what}: number of outputs");
    for (o, (got, want)) in got.iter().zip(want).enumerate() {
        let want: Vec<f64> = want["data"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(got.len(), want.len(), "{what}: length of output {o}");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((g - w).abs() <= TOLERANCE, "{what}: output {o}[{i}] is {g}, numpy says {w}");
        }
    }
}

/// `wasmhost run` of an NN guest, JSON logs, the models directory mounted at /nn.
fn nn_command(extra: &[&str], guest_name: &str, guest_args: &[String]) -> Command {
    let mut cmd = wasmhost();
    cmd.args(["run", "--log-format", "json", "--dir", &format!("{}::/nn", models().display())])
        .args(extra)
        .arg(guest(guest_name))
        .args(guest_args)
        .env_remove("ORT_DYLIB_PATH");
    cmd
}

/// Runs it; its stderr must be schema-valid JSON lines.
fn run_logged(mut cmd: Command) -> (Output, Vec<Value>) {
    let out = cmd.output().expect("running wasmhost");
    let lines = json_lines(&out.stderr);
    assert_schema_valid(&lines);
    (out, lines)
}

fn run_nn(extra: &[&str], guest_name: &str, guest_args: &[String]) -> (Output, Vec<Value>) {
    run_logged(nn_command(extra, guest_name, guest_args))
}

fn case_args(case: &Value, model: &str) -> Vec<String> {
    let mut args = vec![model.to_owned()];
    args.extend(case["inputs"].as_array().unwrap().iter().map(tensor_arg));
    args.push("--outputs".into());
    args.push(case["outputs"].as_array().unwrap().len().to_string());
    args
}

/// Every NN event carries the same tags as the instance's own lines.
fn assert_nn_events_tagged(lines: &[Value], lang: &str) {
    let start = events(lines, "instance.start")[0];
    let nn: Vec<&Value> = lines.iter().filter(|l| l["event"].as_str().is_some_and(|e| e.starts_with("nn."))).collect();
    assert!(!nn.is_empty(), "no nn.* events: {lines:?}");
    for event in nn {
        for key in ["wasm_instance_id", "module", "task_id"] {
            assert_eq!(event[key], start[key], "{key} of {event}");
        }
        assert_eq!(event["lang"], lang, "{event}");
        assert_eq!(event["stream"], "host");
    }
}

#[test]
fn c_and_rust_guests_match_numpy_on_tract() {
    for (guest_name, lang) in [("c/nn", "c"), ("rust/nn", "rust")] {
        for case in cases() {
            let model = format!("file:/nn/{}/model.onnx", case["model"].as_str().unwrap());
            let (out, lines) = run_nn(&[], guest_name, &case_args(&case, &model));
            assert_eq!(out.status.code(), Some(0), "{guest_name}: {}", text(&out.stderr));
            assert_close(&outputs(&out.stdout), &case, &format!("{guest_name} {model}"));

            assert_nn_events_tagged(&lines, lang);
            let load = events(&lines, "nn.load");
            assert_eq!(load.len(), 1);
            let size = std::fs::metadata(models().join(case["model"].as_str().unwrap()).join("model.onnx")).unwrap().len();
            assert_eq!(load[0]["model_bytes"], size);
            assert_eq!(load[0]["backend"], "tract");
            assert_eq!(load[0]["encoding"], "onnx");
            assert_eq!(load[0]["target"], "cpu");
            assert_eq!(events(&lines, "nn.init").len(), 1);
            assert_eq!(events(&lines, "nn.compute").len(), 1);
            assert!(events(&lines, "nn.compute")[0]["duration_ms"].as_f64().unwrap() > 0.0);
            assert!(events(&lines, "nn.error").is_empty());
        }
    }
}

/// The libonnxruntime.so from the onnxruntime wheel install-toolchains.sh puts in .venv.
fn onnxruntime_library() -> PathBuf {
    let site = root().join(".venv/lib");
    let found = std::fs::read_dir(&site)
        .into_iter()
        .flatten()
        .flatten()
        .map(|python| python.path().join("site-packages/onnxruntime/capi"))
        .filter_map(|capi| std::fs::read_dir(capi).ok())
        .flatten()
        .flatten()
        .map(|f| f.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("libonnxruntime.so.")));
    found.unwrap_or_else(|| panic!("no libonnxruntime.so.* under {}: run scripts/install-toolchains.sh (make test does)", site.display()))
}

#[test]
fn ort_backend_agrees_with_numpy_too() {
    let library = onnxruntime_library();
    for case in cases() {
        let model = format!("file:/nn/{}/model.onnx", case["model"].as_str().unwrap());
        let mut cmd = nn_command(&["--nn-backend", "ort"], "c/nn", &case_args(&case, &model));
        cmd.env("ORT_DYLIB_PATH", &library);
        let (out, lines) = run_logged(cmd);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_close(&outputs(&out.stdout), &case, &format!("ort {model}"));
        assert_eq!(events(&lines, "nn.compute")[0]["backend"], "ort");
    }
}

#[test]
fn ort_backend_without_its_library_is_a_clear_error() {
    let out = wasmhost()
        .args(["run", "--nn-backend", "ort"])
        .arg(guest("c/nn"))
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("/nonexistent/libonnxruntime.so does not exist"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let out = wasmhost().args(["run", "--nn-backend", "ort"]).arg(guest("c/nn")).env_remove("ORT_DYLIB_PATH").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("ORT_DYLIB_PATH is not set"), "{}", text(&out.stderr));
}

#[test]
fn preloaded_graphs_open_by_name() {
    let case = &cases()[0];
    let graph = format!("onnx::{}", models().join("mlp").display());
    for flags in [vec!["--nn-graph", graph.as_str()], vec!["-S", &format!("nn-graph={graph}")]] {
        let (out, lines) = run_nn(&flags, "rust/nn", &case_args(case, "name:mlp"));
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_close(&outputs(&out.stdout), case, "load_by_name");
        let load = events(&lines, "nn.load");
        assert_eq!(load[0]["graph"], "mlp");
        assert_eq!(load[0]["model_bytes"], std::fs::metadata(models().join("mlp/model.onnx")).unwrap().len());
        assert_nn_events_tagged(&lines, "rust");
    }

    // A name nobody preloaded: an error code for the guest, and the log says which names exist.
    let (out, lines) = run_nn(&["--nn-graph", &graph], "c/nn", &case_args(case, "name:resnet"));
    assert_eq!(out.status.code(), Some(3));
    let errors = events(&lines, "nn.error");
    assert_eq!(errors[0]["nn_call"], "load_by_name");
    assert!(errors[0]["error"].as_str().unwrap().contains("preloaded: mlp"), "{}", errors[0]);
    assert!(stderr_lines(&lines).iter().any(|l| l["msg"].as_str().unwrap().starts_with("nn: load_by_name failed: errno")));
}

#[test]
fn a_graph_that_does_not_preload_stops_the_host_with_a_clear_error() {
    let junk = tempfile::tempdir().unwrap();
    std::fs::write(junk.path().join("model.onnx"), b"\x08\x07garbage, not protobuf").unwrap();
    // A second graph named `mlp`: names must be unique.
    let twin = tempfile::tempdir().unwrap();
    std::fs::create_dir(twin.path().join("mlp")).unwrap();
    std::fs::copy(models().join("mlp/model.onnx"), twin.path().join("mlp/model.onnx")).unwrap();
    let mlp = format!("onnx::{}", models().join("mlp").display());
    let specs: [(&[String], &str); 5] = [
        (&[format!("onnx::{}", junk.path().display())], "the ONNX model does not load"),
        (&["onnx::/nonexistent/dir".into()], "model.onnx: No such file"),
        (&["no-encoding".into()], "is not ENCODING::DIR"),
        (&["tensorflow::/x".into()], "the tract backend serves onnx, not tensorflow"),
        (&[mlp, format!("onnx::{}", twin.path().join("mlp").display())], "a graph named \"mlp\" is already preloaded"),
    ];
    for (spec, says) in specs {
        let flags: Vec<String> = spec.iter().flat_map(|s| ["--nn-graph".to_owned(), s.clone()]).collect();
        let out = wasmhost().arg("run").args(&flags).arg(guest("c/hello")).output().unwrap();
        assert_ne!(out.status.code(), Some(0), "{spec:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(says), "{spec:?}: {stderr}");
        assert!(!stderr.contains("panic"), "{spec:?}: {stderr}");
    }
}

#[test]
fn wrong_shapes_are_error_codes_for_the_guest_and_nn_error_events() {
    for (input, says) in [
        ("1x5=1,2,3,4,5", "dimension 1 is 5, the model takes 4"),
        ("4=1,2,3,4", "the model takes rank 2"),
        ("1x4=1,2,3", "12 bytes of data for dimensions [1, 4]"),
    ] {
        for guest_name in ["c/nn", "rust/nn"] {
            let (out, lines) = run_nn(&[], guest_name, &["file:/nn/mlp/model.onnx".into(), input.into()]);
            assert_eq!(out.status.code(), Some(3), "{guest_name} {input}: {}", text(&out.stderr));
            let errors = events(&lines, "nn.error");
            assert_eq!(errors.len(), 1, "{lines:?}");
            assert_eq!(errors[0]["nn_call"], "set_input");
            assert!(errors[0]["error"].as_str().unwrap().contains(says), "{input}: {}", errors[0]);
            // The guest saw runtime_error (5) from set_input.
            let said: Vec<&str> = stderr_lines(&lines).iter().map(|l| l["msg"].as_str().unwrap()).collect();
            assert!(said.contains(&"nn: set_input failed: errno 5"), "{said:?}");
            assert_nn_events_tagged(&lines, guest_name.split('/').next().unwrap());
            assert!(events(&lines, "nn.compute").is_empty());
        }
    }
    // Inputs never set: compute fails, the guest gets an error code.
    let (out, lines) = run_nn(&[], "c/nn", &["file:/nn/multi/model.onnx".into(), "1x4=1,2,3,4".into()]);
    assert_eq!(out.status.code(), Some(3));
    let errors = events(&lines, "nn.error");
    assert_eq!(errors[0]["nn_call"], "compute");
    assert!(errors[0]["error"].as_str().unwrap().contains("was not set"), "{}", errors[0]);
}

#[test]
fn a_model_that_does_not_parse_is_an_error_not_a_panic() {
    let junk = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(models().join("mlp/model.onnx")).unwrap();
    bytes.truncate(bytes.len() / 2);
    std::fs::write(junk.path().join("truncated.onnx"), &bytes).unwrap();
    std::fs::write(junk.path().join("text.onnx"), b"this is not an ONNX model").unwrap();
    std::fs::write(junk.path().join("empty.onnx"), b"").unwrap();
    for name in ["truncated.onnx", "text.onnx", "empty.onnx"] {
        let dir = format!("{}::/junk", junk.path().display());
        let out = wasmhost()
            .args(["run", "--log-format", "json", "--dir", &dir])
            .arg(guest("c/nn"))
            .args([format!("file:/junk/{name}"), "1x4=1,2,3,4".into()])
            .output()
            .unwrap();
        let lines = json_lines(&out.stderr);
        assert_schema_valid(&lines);
        assert_eq!(out.status.code(), Some(3), "{name}: {}", text(&out.stderr));
        let errors = events(&lines, "nn.error");
        assert_eq!(errors.len(), 1, "{name}: {lines:?}");
        assert_eq!(errors[0]["nn_call"], "load");
        assert!(errors[0]["error"].as_str().unwrap().contains("does not load"), "{}", errors[0]);
        assert!(events(&lines, "nn.load").is_empty());
    }
}

#[test]
fn concurrent_instances_all_compute() {
    let case = &cases()[1];
    let mut args = case_args(case, "file:/nn/mlp/model.onnx");
    // Long enough (~10 ms each) that instances on the two workers overlap.
    args.extend(["--repeat".into(), "2000".into()]);
    // Stdout captured: four guests passing their stdout through share the
    // host's, and wasi-libc's line-buffered printf leaves a line as two
    // writes (its text, then the newline: wasmtime-wasi's preview1 writes
    // one buffer of a writev per call), so another guest's line can come
    // between them (`output 0: 1 2 3output 0: 1 2 3`). Captured, each
    // instance's lines are assembled on their own.
    let (out, lines) = run_nn(&["--instances", "4", "--capture", "stdout,stderr"], "c/nn", &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout: Vec<&str> = lines.iter().filter(|l| l["stream"] == "stdout").map(|l| l["msg"].as_str().unwrap()).collect();
    let results = outputs(stdout.join("\n").as_bytes());
    assert_eq!(results.len(), 4, "{stdout:?}");
    for result in &results {
        assert_close(std::slice::from_ref(result), case, "one of 4 concurrent instances");
    }
    let computing: HashSet<&str> = events(&lines, "nn.compute").iter().map(|e| e["wasm_instance_id"].as_str().unwrap()).collect();
    assert_eq!(computing.len(), 4);
    assert_eq!(events(&lines, "nn.compute").len(), 8000);
    // They overlapped: some instance computed between another's first and last compute.
    let spans: Vec<(String, String)> = computing
        .iter()
        .map(|id| {
            let times: Vec<String> = events(&lines, "nn.compute")
                .iter()
                .filter(|e| e["wasm_instance_id"] == *id)
                .map(|e| e["ts"].as_str().unwrap().to_owned())
                .collect();
            (times[0].clone(), times[times.len() - 1].clone())
        })
        .collect();
    let overlapping = spans.iter().enumerate().any(|(i, a)| spans.iter().enumerate().any(|(j, b)| i != j && b.0 > a.0 && b.0 < a.1));
    assert!(overlapping, "the instances ran one after another: {spans:?}");
}

#[test]
fn nn_can_be_left_out() {
    for flags in [["--no-nn"], ["-Snn=n"]] {
        let out = wasmhost().args(["run"]).args(flags).arg(guest("c/nn")).arg("name:x").output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(text(&out.stderr).contains("unknown import: `wasi_ephemeral_nn::"), "{}", text(&out.stderr));
    }
    let out = wasmhost().args(["run", "-S", "http=y"]).arg(guest("c/hello")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("-S \"http=y\"") && err.contains("nn[=y|n]"), "{err}");
}

#[test]
fn a_bad_guest_pointer_ends_the_instance_with_one_line_not_a_backtrace() {
    let args = ["file:/nn/mlp/model.onnx".to_owned(), "1x4=1,2,3,4".into(), "--bad-pointer".into()];
    let out = nn_command(&[], "c/nn", &args).env("RUST_BACKTRACE", "1").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let (json, other): (Vec<&str>, Vec<&str>) = stderr.lines().partition(|l| l.starts_with('{'));
    assert_eq!(other.len(), 1, "one line from the panic hook, no backtrace: {other:?}");
    assert!(other[0].starts_with("wasmhost: panic at ") && other[0].contains("guest error conversion"), "{other:?}");
    let lines = json_lines(json.join("\n").as_bytes());
    assert_schema_valid(&lines);
    let errors = events(&lines, "instance.error");
    assert!(errors[0]["msg"].as_str().unwrap().contains("a host function panicked: not implemented: guest error conversion"));
    // Before it, the glue's own report of what the guest did wrong.
    let nn_errors = events(&lines, "nn.error");
    assert_eq!(nn_errors.len(), 1, "{lines:?}");
    assert_eq!(nn_errors[0]["nn_call"], "set_input");
    assert!(nn_errors[0]["error"].as_str().unwrap().contains("outside its memory: PtrOutOfBounds"), "{}", nn_errors[0]);
    assert!(nn_errors[0]["seq"].as_u64() < errors[0]["seq"].as_u64());
    assert_eq!(events(&lines, "instance.exit")[0]["exit_code"], 1);
}

/// Errors wasmtime-wasi-nn's own glue finds (no backend is reached) are
/// `nn.error` events too, and the guest gets the glue's error code.
#[test]
fn errors_the_glue_finds_itself_are_events_too() {
    let model = "file:/nn/mlp/model.onnx".to_owned();
    let input = "1x4=1,2,3,4".to_owned();
    for (flags, call, errno, says) in [
        (vec!["--encoding", "0"], "load", 6, "no backend here serves the openvino encoding"),
        (vec!["--bad-context"], "compute", 6, "execution context handle is not one this instance made"),
        (vec!["--out-max", "8"], "get_output", 7, "the output is 12 bytes, more than the guest's buffer"),
    ] {
        let mut args = vec![model.clone(), input.clone()];
        args.extend(flags.iter().map(|f| f.to_string()));
        let (out, lines) = run_nn(&[], "c/nn", &args);
        assert_eq!(out.status.code(), Some(3), "{flags:?}: {}", text(&out.stderr));
        let errors = events(&lines, "nn.error");
        assert_eq!(errors.len(), 1, "{flags:?}: {lines:?}");
        assert_eq!(errors[0]["nn_call"], call, "{flags:?}");
        assert!(errors[0]["error"].as_str().unwrap().contains(says), "{flags:?}: {}", errors[0]);
        let said: Vec<&str> = stderr_lines(&lines).iter().map(|l| l["msg"].as_str().unwrap()).collect();
        assert!(said.contains(&format!("nn: {call} failed: errno {errno}").as_str()), "{said:?}");
        assert_nn_events_tagged(&lines, "c");
    }
}
