//! `wasmhost serve`, the sidecar, as a gateway talks to it: the real binary
//! on a directory of real guests, over HTTP/1.1 on loopback.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::{assert_schema_valid, events, guest, json_lines, wasmhost};
use serde_json::Value;

/// A running `wasmhost serve` with its log file.
struct Server {
    child: Child,
    addr: String,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let modules = dir.path().join("modules");
        std::fs::create_dir(&modules).unwrap();
        for name in ["hello", "upper", "spin", "logger", "trap"] {
            std::fs::copy(guest(&format!("c/{name}")), modules.join(format!("{name}.wasm"))).unwrap();
        }
        let log = dir.path().join("records.log");
        let mut child = wasmhost()
            .args(["serve", "--listen", "127.0.0.1:0", "--modules"])
            .arg(&modules)
            .arg("--log-file")
            .arg(&log)
            .args(["--label", "job=sidecar"])
            .args(extra)
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting wasmhost serve");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        let addr = line
            .strip_prefix("wasmhost serve: listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        assert!(line.contains("hello, logger, spin, trap, upper"), "{line}");
        Server { child, addr, log, _dir: dir }
    }

    fn records(&self) -> Vec<Value> {
        json_lines(&std::fs::read(&self.log).unwrap())
    }

    fn sigterm(&self) {
        let status = std::process::Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "wasmhost serve did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP/1.1 response.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Sends `raw` (a whole request) on a new connection and reads one response.
fn exchange(addr: &str, raw: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connecting");
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream.write_all(raw).unwrap();
    read_response(&mut BufReader::new(stream))
}

fn read_response(reader: &mut impl BufRead) -> Response {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        let (k, v) = trimmed.split_once(':').unwrap();
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let len: usize = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-length")).map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    Response { status, headers, body }
}

fn post(addr: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let mut raw = format!("POST {target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in headers {
        raw.push_str(&format!("{k}: {v}\r\n"));
    }
    raw.push_str("\r\n");
    let mut raw = raw.into_bytes();
    raw.extend_from_slice(body);
    exchange(addr, &raw)
}

fn get(addr: &str, target: &str) -> Response {
    exchange(addr, format!("GET {target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes())
}

fn of_instance<'a>(records: &'a [Value], id: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["wasm_instance_id"] == id).collect()
}

#[test]
fn runs_a_module_per_request_with_its_context() {
    let mut server = Server::start(&[]);
    let addr = server.addr.clone();
    assert_eq!(get(&addr, "/healthz").status, 200);
    assert_eq!(get(&addr, "/readyz").status, 200);

    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let response = post(&addr, "/run/upper?label=route%3D%2Fupper&env=MODE%3Dloud", &[("traceparent", traceparent), ("x-wasmhost-label", "tenant=acme")], b"request body");
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.body, b"REQUEST BODY");
    assert_eq!(response.header("x-wasmhost-exit-code"), Some("0"));
    assert_eq!(response.header("x-wasmhost-outcome"), Some("exit"));
    assert_eq!(response.header("x-wasmhost-trace-id"), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
    let id = response.header("x-wasm-instance-id").expect("instance id").to_owned();

    // A guest's own exit code and a trap are answers, not transport errors.
    let logger = post(&addr, "/run/logger?arg=3", &[], b"");
    assert_eq!((logger.status, logger.header("x-wasmhost-exit-code")), (200, Some("0")));
    let trap = post(&addr, "/run/trap", &[], b"");
    assert_eq!((trap.header("x-wasmhost-exit-code"), trap.header("x-wasmhost-outcome")), (Some("134"), Some("trap")));

    server.sigterm();
    assert!(server.wait().success());
    let records = server.records();
    assert_schema_valid(&records);
    let upper = of_instance(&records, &id);
    assert_eq!(upper.iter().map(|r| r["event"].as_str().unwrap_or("line")).collect::<Vec<_>>(), ["instance.start", "line", "instance.exit"]);
    for record in &upper {
        assert_eq!((record["job"].as_str(), record["route"].as_str(), record["tenant"].as_str()), (Some("sidecar"), Some("/upper"), Some("acme")));
        assert_eq!(record["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(record["module"], "upper");
    }
    assert_eq!(upper[1]["msg"], "handled 12 bytes");
    let logger_id = logger.header("x-wasm-instance-id").unwrap();
    assert_eq!(of_instance(&records, logger_id).iter().filter(|r| r["stream"] == "stderr").count(), 3);
    assert_eq!(events(&records, "instance.trap").len(), 1);
}

#[test]
fn malformed_and_oversized_requests_are_refused() {
    let server = Server::start(&["--max-body", "1024"]);
    let addr = server.addr.as_str();
    assert_eq!(post(addr, "/run/nope", &[], b"").status, 404);
    let wrong_method = get(addr, "/run/hello");
    assert_eq!((wrong_method.status, wrong_method.header("allow")), (405, Some("POST")));
    assert_eq!(post(addr, "/run/hello?env=NOEQUALS", &[], b"").status, 400);
    assert_eq!(post(addr, "/run/hello?colour=red", &[], b"").status, 400);
    // A key of the format itself is refused, as `--label` refuses it.
    let reserved = post(addr, "/run/hello?label=lang%3Dcobol", &[], b"");
    assert_eq!(reserved.status, 400, "{reserved:?}");
    assert_eq!(post(addr, "/run/upper", &[], &[b'a'; 2048]).status, 413);
    // Declared small, sent large in chunks: the limit holds while reading.
    let chunked = format!("POST /run/upper HTTP/1.1\r\nhost: x\r\nconnection: close\r\ntransfer-encoding: chunked\r\n\r\n800\r\n{}\r\n0\r\n\r\n", "a".repeat(2048));
    assert_eq!(exchange(addr, chunked.as_bytes()).status, 413);
    assert_eq!(exchange(addr, b"NOT HTTP AT ALL\r\n\r\n").status, 400);
    // Still serving after all that.
    assert_eq!(post(addr, "/run/upper", &[], b"ok").body, b"OK");
}

#[test]
fn beyond_the_concurrency_limit_requests_get_503_with_retry_after() {
    let server = Server::start(&["--max-concurrent", "2", "--timeout", "1500ms"]);
    let addr = server.addr.clone();
    let spinners: Vec<_> = (0..2)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || post(&addr, "/run/spin", &[], b""))
        })
        .collect();
    // Both slots are taken once both guests have said they spin.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&server.log).unwrap_or_default().matches("\"msg\":\"spinning\"").count() < 2 {
        assert!(Instant::now() < deadline, "the spinners did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    let refused = post(&addr, "/run/hello", &[], b"");
    assert_eq!((refused.status, refused.header("retry-after")), (503, Some("1")), "{refused:?}");
    for spinner in spinners {
        let response = spinner.join().unwrap();
        assert_eq!(response.header("x-wasmhost-outcome"), Some("timeout"));
    }
    assert_eq!(post(&addr, "/run/hello", &[], b"").body, b"hello from c\n");
}

#[test]
fn sigterm_drains_in_flight_runs_and_loses_no_record() {
    let mut server = Server::start(&["--timeout", "30s", "--drain-grace", "500ms"]);
    let addr = server.addr.clone();
    let spin = {
        let addr = addr.clone();
        std::thread::spawn(move || post(&addr, "/run/spin", &[], b""))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&server.log).unwrap_or_default().contains("\"msg\":\"spinning\"") {
        assert!(Instant::now() < deadline, "the spinner did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    let started = Instant::now();
    server.sigterm();
    // The in-flight guest is stopped after the grace and still answered.
    let response = spin.join().unwrap();
    assert_eq!((response.status, response.header("x-wasmhost-outcome")), (200, Some("stopped")), "{response:?}");
    assert_eq!(response.header("x-wasmhost-exit-code"), Some("134"));
    assert!(started.elapsed() >= Duration::from_millis(450), "stopped before the grace: {:?}", started.elapsed());
    // No new connection once the drain began (the listener is closed first).
    assert!(TcpStream::connect(&addr).is_err());
    assert!(server.wait().success());
    let records = server.records();
    assert_schema_valid(&records);
    let id = response.header("x-wasm-instance-id").unwrap();
    let mine = of_instance(&records, id);
    let names: Vec<&str> = mine.iter().filter_map(|r| r["event"].as_str()).collect();
    assert_eq!(names, ["instance.start", "instance.stopped", "instance.exit"]);
    let seqs: Vec<u64> = mine.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
}

#[test]
fn an_empty_or_missing_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = wasmhost().args(["serve", "--listen", "127.0.0.1:0", "--modules"]).arg(dir.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no .wasm or .wat modules"), "{output:?}");
    let output = wasmhost().args(["serve", "--modules"]).arg(Path::new("/nonexistent/modules")).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/modules"), "{output:?}");
}

#[test]
fn a_client_deadline_shortens_the_timeout_and_a_client_that_leaves_stops_its_guest() {
    let server = Server::start(&["--timeout", "30s"]);
    let addr = server.addr.clone();
    let started = Instant::now();
    let response = post(&addr, "/run/spin", &[("x-wasmhost-timeout-ms", "300")], b"");
    assert_eq!((response.header("x-wasmhost-outcome"), response.header("x-wasmhost-exit-code")), (Some("timeout"), Some("134")), "{response:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert_eq!(post(&addr, "/run/hello", &[("x-wasmhost-timeout-ms", "soon")], b"").status, 400);

    // A client sends its request, then goes away: its spinning guest stops.
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream.write_all(b"POST /run/spin HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&server.log).unwrap_or_default().matches("\"msg\":\"spinning\"").count() < 2 {
        assert!(Instant::now() < deadline, "the spinner did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(stream);
    let left = Instant::now();
    while !std::fs::read_to_string(&server.log).unwrap_or_default().contains("\"msg\":\"stopped: the run was cancelled\"") {
        assert!(left.elapsed() < Duration::from_secs(5), "the guest of a client that left was not stopped");
        std::thread::sleep(Duration::from_millis(10));
    }
    let records = server.records();
    let stopped = events(&records, "instance.stopped");
    assert_eq!(stopped.len(), 1);
    let id = stopped[0]["wasm_instance_id"].as_str().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !of_instance(&server.records(), id).iter().any(|r| r["event"] == "instance.exit") {
        assert!(Instant::now() < deadline, "no instance.exit after instance.stopped");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The parts of a `multipart/mixed` answer, by their `name`, byte for byte.
fn parts(response: &Response) -> Vec<(String, Vec<u8>)> {
    let kind = response.header("content-type").expect("a content type");
    let boundary = kind.strip_prefix("multipart/mixed; boundary=").unwrap_or_else(|| panic!("not multipart: {kind}"));
    // Every delimiter is CRLF "--" boundary; the first one has no CRLF before it.
    let delimiter = format!("\r\n--{boundary}");
    let body = [b"\r\n".as_slice(), &response.body].concat();
    let mut segments = Vec::new();
    let mut rest = &body[..];
    while let Some(at) = rest.windows(delimiter.len()).position(|w| w == delimiter.as_bytes()) {
        segments.push(&rest[..at]);
        rest = &rest[at + delimiter.len()..];
    }
    assert_eq!(rest, b"--\r\n", "the closing delimiter ends the body");
    assert_eq!(segments.first(), Some(&&b""[..]), "no preamble");
    segments[1..]
        .iter()
        .map(|part| {
            let split = part.windows(4).position(|w| w == b"\r\n\r\n").expect("part headers");
            let headers = String::from_utf8_lossy(&part[..split]).into_owned();
            let name = headers.split("name=\"").nth(1).and_then(|n| n.split('"').next()).expect("a part name").to_owned();
            (name, part[split + 4..].to_vec())
        })
        .collect()
}

#[test]
fn a_client_that_asks_gets_the_runs_records_with_its_stdout() {
    let mut server = Server::start(&["--max-body", "4096"]);
    let addr = server.addr.clone();
    // Stdout that looks like multipart framing stays byte for byte.
    let stdin = b"line one\r\n--wasmhost-\r\n\r\nlast, no newline";
    let response = post(&addr, "/run/upper?label=route%3D%2Fupper", &[("x-wasmhost-records", "ndjson")], stdin);
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.header("x-wasmhost-exit-code"), Some("0"));
    assert_eq!(response.header("x-wasmhost-records-dropped"), None);
    let id = response.header("x-wasm-instance-id").expect("instance id").to_owned();
    let answer = parts(&response);
    assert_eq!(answer.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>(), ["stdout", "records"]);
    assert_eq!(answer[0].1, stdin.to_ascii_uppercase());
    // Without the header, the same stdout is the whole body.
    let plain = post(&addr, "/run/upper", &[], stdin);
    assert_eq!((plain.body.as_slice(), plain.header("content-type")), (stdin.to_ascii_uppercase().as_slice(), None));

    // Past --max-body the records part keeps the first records whole and
    // counts the rest (logger 200 writes more than 4 KiB of lines).
    let big = post(&addr, "/run/logger?arg=200", &[("x-wasmhost-records", "ndjson")], b"");
    let big_records = parts(&big).remove(1).1;
    let kept = json_lines(&big_records);
    let dropped: usize = big.header("x-wasmhost-records-dropped").expect("a count of the records left out").parse().unwrap();
    assert!(!kept.is_empty() && big_records.len() <= 4096, "{} bytes", big_records.len());
    assert_eq!(kept.len() + dropped, 202, "instance.start, 200 lines, instance.exit");
    assert_eq!(kept.iter().map(|r| r["seq"].as_u64().unwrap()).collect::<Vec<_>>(), (1..=kept.len() as u64).collect::<Vec<_>>());

    assert_eq!(post(&addr, "/run/hello", &[("x-wasmhost-records", "yaml")], b"").status, 400);

    server.sigterm();
    assert!(server.wait().success());
    // The records part holds the lines the log file has, byte for byte.
    let logged = std::fs::read_to_string(&server.log).unwrap();
    let mine: String = logged.lines().filter(|l| l.contains(&id)).map(|l| format!("{l}\n")).collect();
    assert_eq!(String::from_utf8_lossy(&answer[1].1), mine);
    assert_eq!(json_lines(mine.as_bytes()).len(), 3);
}
