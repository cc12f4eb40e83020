//! `wasmhost run` delivering to Loki and OTLP receivers (in-process, on
//! 127.0.0.1) with the real binary and the C logging guest: labels and
//! metadata as Loki sees them, the OTel mapping through gRPC and the
//! `OTEL_*` variables, TLS (system roots, the OTel certificate variables,
//! mTLS), SIGTERM with batches in the spool and the next run draining them
//! first, and the metrics endpoint.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::Value;
use wasmhost_export::receivers::{Action, Entry, Kind, Receiver, TestPki};

fn logger() -> String {
    guest("c/logger").to_str().unwrap().to_owned()
}

/// The lines of the default sink that also go to the network sinks: all
/// but the sinks' own `export.*` events (said locally, never sent).
fn local_lines(stderr: &[u8]) -> Vec<Value> {
    json_lines(stderr).into_iter().filter(|l| !l["event"].as_str().is_some_and(|e| e.starts_with("export."))).collect()
}

fn guest_lines(entries: &[Entry]) -> Vec<Value> {
    entries.iter().map(|e| serde_json::from_str(&e.line).unwrap()).collect()
}

#[test]
fn loki_flag_pushes_labelled_streams_with_structured_metadata() {
    let rx = Receiver::start(Kind::Loki, 0);
    let out = wasmhost()
        .args(["run", "--label", "job=gateway", "--loki", &rx.url(), &logger(), "2000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The default sink still has every line.
    let local = local_lines(&out.stderr);
    let all = json_lines(&out.stderr);
    assert_schema_valid(&all);
    let shutdown = events(&all, "export.shutdown");
    assert_eq!(shutdown.len(), 1);
    assert_eq!(shutdown[0]["sent"], local.len());
    assert_eq!(shutdown[0]["lost"], 0);
    let entries = rx.entries();
    assert_eq!(entries.len(), local.len(), "every line also went to Loki");
    let lines = guest_lines(&entries);
    assert_schema_valid(&lines);
    let stderr: Vec<&Value> = lines.iter().filter(|l| l["stream"] == "stderr").collect();
    assert_eq!(stderr.len(), 2000);
    let labels: BTreeMap<String, String> =
        [("job", "gateway"), ("lang", "c"), ("module", "logger"), ("stream", "stderr")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    for (e, l) in entries.iter().zip(&lines) {
        if l["stream"] == "stderr" {
            assert_eq!(e.labels, labels);
        }
        assert_eq!(e.metadata["wasm_instance_id"], l["wasm_instance_id"].as_str().unwrap());
        assert_eq!(e.metadata["task_id"], l["task_id"].to_string());
    }
    // The line's own ts, to the nanosecond.
    let first = &lines[0];
    let ts = first["ts"].as_str().unwrap();
    let frac: u128 = ts[20..29].parse().unwrap();
    assert_eq!(entries[0].ts_ns % 1_000_000_000, frac);
    // Loki keeps order per stream (a push groups entries by stream), not
    // across streams: each stream's seqs rise, and together none is missing.
    for stream in ["host", "stderr"] {
        let seqs: Vec<u64> = lines.iter().filter(|l| l["stream"] == stream).map(|l| l["seq"].as_u64().unwrap()).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{stream} in order: {seqs:?}");
    }
    let mut seqs: Vec<u64> = lines.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "none missing");
}

#[test]
fn otlp_grpc_with_the_otel_variables() {
    let rx = Receiver::start(Kind::OtlpGrpc, 0);
    let out = wasmhost()
        .args(["run", "--otlp", &rx.url(), "--otlp-protocol", "grpc", &logger(), "100"])
        .env("OTEL_SERVICE_NAME", "edge-gateway")
        .env("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=staging,service.namespace=edge")
        .env("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme")
        .env("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let entries = rx.entries();
    assert_eq!(entries.len(), local_lines(&out.stderr).len());
    let res = &entries[0].labels;
    assert_eq!(res["service.name"], "edge-gateway");
    assert_eq!(res["deployment.environment"], "staging");
    assert_eq!(res["service.namespace"], "edge");
    assert!(res.contains_key("host.name") && res.contains_key("process.pid"));
    assert!(rx.headers().contains(&("x-tenant".into(), "acme".into())));
    let line = entries.iter().find(|e| e.line.starts_with("line 00000001")).unwrap();
    let rec = line.otlp.as_ref().unwrap();
    assert_eq!((rec.severity_number, rec.severity_text.as_str()), (9, "info"));
    assert_eq!(line.metadata["log.iostream"], "stderr");
    assert_eq!(line.metadata["lang"], "c");
    let exit = entries.iter().find(|e| e.metadata.get("event.name").map(String::as_str) == Some("instance.exit")).unwrap();
    assert_eq!(exit.metadata["process.exit.code"], "0");
}

#[test]
fn otel_endpoint_variable_alone_turns_otlp_http_json_on() {
    let rx = Receiver::start(Kind::OtlpHttp, 0);
    let out = wasmhost()
        .args(["run", &logger(), "10"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", rx.url())
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(rx.count(), local_lines(&out.stderr).len());
    assert!(rx.content_types().iter().all(|c| c == "application/json"));
    assert_eq!(rx.entries()[0].labels["service.name"], "unknown_service:wasmhost");
}

/// TLS through the real binary. `--loki https://…` trusts the system's
/// roots, which rustls-native-certs reads from `SSL_CERT_FILE` when it is
/// set (as a host with a private CA installed would); OTLP/gRPC takes the
/// CA, client certificate and key from the `OTEL_*` variables and a
/// receiver that demands the client certificate (mTLS).
#[test]
fn https_with_system_roots_and_otel_certificate_variables() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path());
    let rx = Receiver::tls(Kind::Loki, 0, pki.server_config(false), |_| Action::Accept);
    let out = wasmhost()
        .args(["run", "--loki", &rx.url(), &logger(), "500"])
        .env("SSL_CERT_FILE", &pki.ca)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(rx.count(), local_lines(&out.stderr).len());
    assert_eq!(events(&json_lines(&out.stderr), "export.retry").len(), 0);

    let rx = Receiver::tls(Kind::OtlpGrpc, 0, pki.server_config(true), |_| Action::Accept);
    let out = wasmhost()
        .args(["run", &logger(), "500"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("127.0.0.1:{}", rx.addr.port()))
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .env("OTEL_EXPORTER_OTLP_CERTIFICATE", &pki.ca)
        .env("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", &pki.client_cert)
        .env("OTEL_EXPORTER_OTLP_CLIENT_KEY", &pki.client_key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(rx.count(), local_lines(&out.stderr).len());
    assert_eq!(rx.tls_failures(), 0);

    // A CA file that does not exist stops the run before the guest, naming it.
    let out = wasmhost()
        .args(["run", &logger(), "5"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "https://127.0.0.1:1")
        .env("OTEL_EXPORTER_OTLP_CERTIFICATE", dir.path().join("nope.pem"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("nope.pem"), "{}", text(&out.stderr));
}

/// A config whose default sinks are a Loki sink with a spool (and, with
/// `copy`, a file that keeps every line the pipeline accepted).
fn spool_config(dir: &std::path::Path, name: &str, url: &str, grace: &str, copy: Option<&std::path::Path>) -> std::path::PathBuf {
    let config = dir.join(name);
    let spool = dir.join("spool");
    let mut text = match copy {
        Some(path) => format!("default_sinks = [\"loki\", \"copy\"]\n[sinks.copy]\ntype = \"file\"\npath = \"{}\"\n", path.display()),
        None => "default_sinks = [\"loki\"]\n".to_owned(),
    };
    text += &format!(
        "[sinks.loki]\ntype = \"loki\"\nurl = \"{url}\"\nspool_dir = \"{}\"\nspool_max_bytes = {SPOOL_MAX}\nmin_backoff = \"50ms\"\nmax_backoff = \"200ms\"\nshutdown_grace = \"{grace}\"\n",
        spool.display()
    );
    std::fs::write(&config, text).unwrap();
    config
}

/// 40 MiB: about 120,000 of the logger's lines (the 100,000+).
const SPOOL_MAX: u64 = 40 << 20;

/// The case through the real binary: the receiver is down, the
/// spool fills up (`block` then holds the guest), wasmhost is SIGTERMed;
/// every line the pipeline accepted is in the spool (none lost), and the
/// next run, with the receiver back, sends all of them first — each once —
/// then its own lines.
#[test]
fn sigterm_leaves_the_spool_and_the_next_run_drains_it_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut rx = Receiver::start(Kind::Loki, 0);
    let url = rx.url();
    rx.stop();
    let copy = dir.path().join("copy.log");
    let config = spool_config(dir.path(), "run1.toml", &url, "500ms", Some(&copy));
    let log = dir.path().join("host.log");
    let mut child = wasmhost()
        .args(["run", "--config", config.to_str().unwrap(), "--log-file", log.to_str().unwrap(), &logger(), "100000000"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the spool to be full, then stop wasmhost as an orchestrator would.
    let start = Instant::now();
    while !std::fs::read_to_string(&log).unwrap_or_default().contains("export.queue_full") && start.elapsed() < Duration::from_secs(120) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let killed = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143), "128 + SIGTERM");
    let host = json_lines(&std::fs::read(&log).unwrap());
    assert_schema_valid(&host);
    assert_eq!(events(&host, "export.queue_full").len(), 1, "the spool filled up");
    assert!(!events(&host, "export.retry").is_empty());
    let shutdown = events(&host, "export.shutdown");
    assert_eq!(shutdown.len(), 1, "{host:?}");
    assert_eq!(shutdown[0]["lost"], 0);
    let spooled = shutdown[0]["spooled_records"].as_u64().unwrap();
    let accepted = json_lines(&std::fs::read(&copy).unwrap());
    assert_eq!(spooled, accepted.len() as u64, "every line the pipeline accepted is in the spool");
    assert!(spooled >= 100_000, "{spooled} lines");

    // Next run: the receiver is back, and this run has the time to drain.
    rx.restart();
    let config = spool_config(dir.path(), "run2.toml", &url, "60s", None);
    let out = wasmhost().args(["run", "--config", config.to_str().unwrap(), "--label", "run=2", &logger(), "10"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let run2 = json_lines(&out.stderr);
    let shutdown = events(&run2, "export.shutdown");
    assert_eq!((shutdown[0]["lost"].as_u64(), shutdown[0]["spooled_batches"].as_u64()), (Some(0), Some(0)), "{shutdown:?}");
    let lines = guest_lines(&rx.entries());
    let first_new = lines.iter().position(|l| l["run"] == "2").unwrap();
    assert_eq!(first_new as u64, spooled, "the spool drained first");
    assert!(lines[first_new..].iter().all(|l| l["run"] == "2"));
    assert_eq!(lines[first_new..].iter().filter(|l| l["stream"] == "stderr").count(), 10, "then this run's own lines");
    // The first run's lines: exactly what its pipeline accepted, each once
    // (one instance: its seqs 1..=spooled), and in order within each stream.
    let mut seqs: Vec<u64> = lines[..first_new].iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    for stream in ["host", "stderr"] {
        let s: Vec<u64> = lines[..first_new].iter().filter(|l| l["stream"] == stream).map(|l| l["seq"].as_u64().unwrap()).collect();
        assert!(s.windows(2).all(|w| w[0] < w[1]), "{stream} in order");
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=spooled).collect::<Vec<_>>(), "0 lost, 0 duplicates");
    let mut local: Vec<u64> = accepted.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    local.sort_unstable();
    assert_eq!(local, seqs);
    let left: Vec<_> = std::fs::read_dir(dir.path().join("spool")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "acknowledged batches are removed: {left:?}");
}

#[test]
fn metrics_endpoint_serves_sink_and_instance_metrics() {
    let rx = Receiver::start(Kind::Loki, 0);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = wasmhost()
        .args(["run", "--loki", &rx.url(), "--metrics-addr", &addr, "--instances", "2", guest("c/sleep").to_str().unwrap(), "3000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut body = String::new();
    let start = Instant::now();
    while !body.contains("wasmhost_instances_started_total{module=\"sleep\",lang=\"c\"} 2") && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(200));
        body = http_get(&addr).unwrap_or_default();
    }
    assert!(body.contains("wasmhost_instances_started_total{module=\"sleep\",lang=\"c\"} 2"), "{body}");
    assert!(body.contains("wasmhost_sink_queue_depth{sink=\"loki\"}"), "{body}");
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

fn http_get(addr: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}
