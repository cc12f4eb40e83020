//! The example gateway end to end over loopback: start it on port 0, send
//! real HTTP requests, check the responses and the tagged lines.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use wasmhost::{Host, HostConfig, Limits, Pooling};
use wasmhost_gateway::Gateway;
use wasmhost_log::{JsonFormat, Pipeline, WriterSink};

#[path = "common/shared.rs"]
mod shared;
use shared::Shared;

fn guest(name: &str) -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guests/build").join(format!("{name}.wasm"));
    assert!(path.exists(), "{}: run `make guests`", path.display());
    path
}

/// One HTTP/1.1 request with `Connection: close`; returns status, headers, body.
fn request(addr: std::net::SocketAddr, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, Vec<(String, String)>, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut head = format!("POST {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines.filter_map(|l| l.split_once(": ")).map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned())).collect();
    (status, headers, body.to_owned())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("no {name} header"))
}

#[test]
fn requests_run_guests_and_every_line_is_tagged() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let out = Shared::default();
    let pipeline = Pipeline::spawn(Box::new(WriterSink::new(JsonFormat, out.clone())), 4096).unwrap();
    let host = Arc::new(Host::new(HostConfig { cache_dir: None, pooling: Some(Pooling { max_instances: 32, ..Pooling::default() }), ..HostConfig::default() }).unwrap());
    let routes = vec![
        ("/upper".to_owned(), host.load_file(&guest("c/upper")).unwrap()),
        ("/spin".to_owned(), host.load_file(&guest("c/spin")).unwrap()),
    ];
    let limits = Limits { timeout: Some(Duration::from_millis(300)), ..Limits::default() };
    let gateway = Arc::new(Gateway::new(host, routes, pipeline.sender(), limits).with_labels(vec![("job".into(), "gateway".into())]));
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(gateway.serve(listener));

    let trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let (status, headers, body) = request(addr, "/upper", &[("traceparent", trace), ("x-request-id", "req-1")], "hello gateway");
    assert_eq!((status, body.as_str()), (200, "HELLO GATEWAY"));
    assert_eq!(header(&headers, "x-request-id"), "req-1");
    let first_instance = header(&headers, "x-wasm-instance-id").to_owned();

    // Concurrent requests each get their own instance.
    let threads: Vec<_> = (0..8)
        .map(|i| std::thread::spawn(move || request(addr, "/upper", &[], &format!("request {i}"))))
        .collect();
    let mut instances = std::collections::BTreeSet::from([first_instance.clone()]);
    for (i, t) in threads.into_iter().enumerate() {
        let (status, headers, body) = t.join().unwrap();
        assert_eq!((status, body), (200, format!("REQUEST {i}")));
        instances.insert(header(&headers, "x-wasm-instance-id").to_owned());
    }
    assert_eq!(instances.len(), 9);

    let (status, _, _) = request(addr, "/nowhere", &[], "x");
    assert_eq!(status, 404);
    // A guest that fails (upper exits 4 on an empty body) is a 502.
    let (status, _, body) = request(addr, "/upper", &[("x-request-id", "req-empty")], "");
    assert_eq!(status, 502);
    assert!(body.contains("exited with 4"), "{body}");
    // A guest that never ends is stopped at the limit; the gateway goes on.
    let (status, _, _) = request(addr, "/spin", &[("x-request-id", "req-spin")], "x");
    assert_eq!(status, 502);
    let (status, _, body) = request(addr, "/upper", &[], "still here");
    assert_eq!((status, body.as_str()), (200, "STILL HERE"));

    // The gateway (and its log senders) live in the runtime's tasks.
    drop(runtime);
    pipeline.finish();
    let text = out.text();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.iter().all(|l| l["job"] == "gateway"));
    let first: Vec<&Value> = lines.iter().filter(|l| l["wasm_instance_id"] == first_instance.as_str()).collect();
    assert_eq!(first.len(), 3, "start, the guest's line, exit");
    for line in &first {
        assert_eq!(line["request_id"], "req-1");
        assert_eq!(line["route"], "/upper");
        assert_eq!(line["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(line["span_id"], "00f067aa0ba902b7");
        assert_eq!(line["lang"], "c");
    }
    assert_eq!(first[1]["msg"], "handled 13 bytes");
    let spin_events: Vec<&Value> = lines.iter().filter(|l| l["request_id"] == "req-spin").collect();
    assert!(spin_events.iter().any(|l| l["event"] == "instance.timeout"));
}

#[test]
fn the_gateway_command_drains_on_sigterm_and_writes_every_line() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_wasmhost-gateway"))
        .args(["--listen", "127.0.0.1:0", "--label", "job=drain"])
        .arg(format!("--route=/sleep={}", guest("c/sleep").display()))
        .env("WASMHOST_CACHE_DIR", std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("gateway-cache"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let addr: std::net::SocketAddr = first.trim().rsplit(' ').next().unwrap().parse().unwrap_or_else(|_| panic!("{first}"));
    // The guest sleeps 1 s; SIGTERM comes while it does.
    let client = std::thread::spawn(move || request(addr, "/sleep", &[], ""));
    std::thread::sleep(Duration::from_millis(300));
    assert!(std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let (status, _, _) = client.join().unwrap();
    assert_eq!(status, 200, "the request in flight finished");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let rest: Vec<String> = stderr.lines().map(Result::unwrap).collect();
    assert!(rest.iter().any(|l| l == "wasmhost-gateway: drained"), "{rest:?}");
    let records: Vec<Value> = rest.iter().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(records.iter().any(|r| r["msg"] == "slept 1000 ms" && r["job"] == "drain"), "{rest:?}");
    assert_eq!(records.last().map(|r| r["event"].clone()), Some(Value::from("instance.exit")), "{rest:?}");
    // No connection is accepted any more.
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn a_component_serves_requests_from_a_pool_sized_for_it() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let out = Shared::default();
    let pipeline = Pipeline::spawn(Box::new(WriterSink::new(JsonFormat, out.clone())), 4096).unwrap();
    // The C upper adapted into a component: the same request, the same answer.
    let path = guest("component/c-upper");
    let slots = wasmhost::pool_slots(&std::fs::read(&path).unwrap());
    let pooling = Pooling { max_instances: 4 * slots, ..Pooling::default() };
    let host = Arc::new(Host::new(HostConfig { cache_dir: None, pooling: Some(pooling), ..HostConfig::default() }).unwrap());
    let routes = vec![("/upper".to_owned(), host.load_file(&path).unwrap())];
    let gateway = Arc::new(Gateway::new(host, routes, pipeline.sender(), Limits::default()));
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(gateway.serve(listener));
    let threads: Vec<_> = (0..4).map(|i| std::thread::spawn(move || request(addr, "/upper", &[], &format!("component {i}")))).collect();
    let mut instances = std::collections::BTreeSet::new();
    for (i, t) in threads.into_iter().enumerate() {
        let (status, headers, body) = t.join().unwrap();
        assert_eq!((status, body), (200, format!("COMPONENT {i}")));
        instances.insert(header(&headers, "x-wasm-instance-id").to_owned());
    }
    assert_eq!(instances.len(), 4);
    drop(runtime);
    pipeline.finish();
    let text = out.text();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let handled: Vec<&Value> = lines.iter().filter(|l| l["stream"] == "stderr").collect();
    assert_eq!(handled.len(), 4, "{text}");
    assert!(handled.iter().all(|l| l["lang"] == "c" && l["route"] == "/upper" && l["msg"].as_str().unwrap().starts_with("handled ")), "{text}");
}
