//! The network sinks against in-process receivers on 127.0.0.1: what
//! arrives (labels, structured metadata, timestamps, the OTel mapping), and
//! that nothing is lost through receiver faults — each fault test sends
//! 100,000 numbered records and counts them at the receiver.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmhost_export::receivers::{Action, Entry, Kind, Receiver, TestPki};
use wasmhost_export::{Delivery, EventFn, LokiSettings, Metrics, NetworkSink, OtlpProtocol, OtlpSettings, TlsSettings};
use wasmhost_log::{InstanceContext, Level, Line, LogRecord, Sink, Stream};

const N: u64 = 100_000;

fn events() -> (EventFn, Arc<Mutex<Vec<LogRecord>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    (Arc::new(move |r| s.lock().unwrap().push(r)), seen)
}

fn event_names(seen: &Mutex<Vec<LogRecord>>) -> Vec<&'static str> {
    seen.lock().unwrap().iter().filter_map(|r| r.event).collect()
}

fn ctx(id: &str, labels: &[(&str, &str)]) -> Arc<InstanceContext> {
    let mut c = InstanceContext::new(id, "c", "logger");
    c.task_id = Some(7);
    c.labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Arc::new(c)
}

fn line(ctx: &Arc<InstanceContext>, seq: u64) -> LogRecord {
    let text = format!("line {seq:08}: the quick brown fox jumps over the lazy dog 0123456789");
    LogRecord::line(ctx.clone(), Stream::Stderr, seq, Line { bytes: text.as_bytes(), continued: false })
}

/// Writes records 1..=n of one instance, then drops the sink (its bounded flush).
fn feed(mut sink: NetworkSink, n: u64) {
    let c = ctx("01a213e3-a333-7353-8127-04414368c55d", &[("job", "gateway")]);
    for seq in 1..=n {
        sink.write(&line(&c, seq)).unwrap();
    }
    sink.flush().unwrap();
    drop(sink);
}

fn quick(delivery: Delivery) -> Delivery {
    Delivery {
        batch_bytes: 256 * 1024,
        batch_wait: Duration::from_millis(100),
        min_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_secs(1),
        grace: Duration::from_secs(60),
        ..delivery
    }
}

/// A Loki sink with test-sized batches and backoff. The request timeout is
/// 3 s: shorter ones fire on a loaded 2-core machine while the receiver is
/// still decoding, which makes (legitimate, at-least-once) duplicates.
fn loki(url: &str, delivery: Delivery, events: EventFn) -> NetworkSink {
    loki_with_timeout(url, delivery, events, Duration::from_secs(3))
}

fn loki_with_timeout(url: &str, delivery: Delivery, events: EventFn, timeout: Duration) -> NetworkSink {
    let mut s = LokiSettings::new(url);
    s.timeout = timeout;
    s.delivery = quick(delivery);
    s.start("loki", &Metrics::new(), events).unwrap()
}

/// The `seq` of every line that arrived (Loki: from the JSON line).
fn seqs(entries: &[Entry]) -> Vec<u64> {
    entries
        .iter()
        .map(|e| match &e.otlp {
            Some(_) => e.metadata["seq"].parse().unwrap(),
            None => line_seq(&e.line),
        })
        .collect()
}

/// The `seq` of a Loki line (the record's JSON line).
fn line_seq(line: &str) -> u64 {
    serde_json::from_str::<serde_json::Value>(line).unwrap()["seq"].as_u64().unwrap()
}

/// The `seq`s in an uncompressed Loki push body (a spool file's or a dead letter's).
fn pushed_seqs(body: &[u8]) -> Vec<u64> {
    let req: wasmhost_export::PushRequest = prost::Message::decode(body).unwrap();
    req.streams.iter().flat_map(|s| &s.entries).map(|e| line_seq(&e.line)).collect()
}

/// Asserts 1..=n all arrived; returns how many arrived twice or more.
fn duplicates(entries: &[Entry], n: u64) -> usize {
    let mut count: HashMap<u64, usize> = HashMap::new();
    for s in seqs(entries) {
        *count.entry(s).or_default() += 1;
    }
    let missing: Vec<u64> = (1..=n).filter(|s| !count.contains_key(s)).take(5).collect();
    assert!(missing.is_empty(), "lost records, e.g. {missing:?} ({} of {n} arrived)", count.len());
    count.values().map(|c| c - 1).sum()
}

/// Within one stream, the first arrival of each seq is in order.
fn assert_in_order(entries: &[Entry]) {
    let mut last = 0;
    let mut seen = std::collections::HashSet::new();
    for s in seqs(entries) {
        if seen.insert(s) {
            assert!(s > last, "seq {s} arrived after {last}");
            last = s;
        }
    }
}

#[test]
fn loki_protobuf_carries_stream_labels_metadata_and_ns_timestamps() {
    let rx = Receiver::start(Kind::Loki, 0);
    let (ev, _) = events();
    let mut s = LokiSettings::new(&rx.url());
    s.tenant_id = Some("acme".into());
    s.basic_auth = Some(("user".into(), "pw".into()));
    s.headers = vec![("X-Extra".into(), "1".into())];
    s.delivery = quick(Delivery::default());
    let mut sink = s.start("loki", &Metrics::new(), ev).unwrap();
    let a = ctx("id-a", &[("job", "gateway"), ("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"), ("span_id", "00f067aa0ba902b7")]);
    let b = ctx("id-b", &[]);
    let mut sent = Vec::new();
    for seq in 1..=50 {
        for c in [&a, &b] {
            let r = line(c, seq);
            sent.push(r.clone());
            sink.write(&r).unwrap();
        }
    }
    let exit = LogRecord::event(b.clone(), 51, Level::Warn, "instance.exit", "exit 3".into(), vec![("exit_code", 3i64.into())]);
    sink.write(&exit).unwrap();
    drop(sink);
    let entries = rx.entries();
    assert_eq!(entries.len(), 101);
    assert!(rx.content_types().iter().all(|c| c == "application/x-protobuf"));
    let headers = rx.headers();
    assert!(headers.contains(&("x-scope-orgid".into(), "acme".into())));
    assert!(headers.contains(&("authorization".into(), "Basic dXNlcjpwdw==".into())));
    assert!(headers.contains(&("x-extra".into(), "1".into())));
    let label_sets: std::collections::BTreeSet<BTreeMap<String, String>> = entries.iter().map(|e| e.labels.clone()).collect();
    let set = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
    assert_eq!(
        label_sets,
        [
            set(&[("job", "gateway"), ("lang", "c"), ("module", "logger"), ("stream", "stderr")]),
            set(&[("lang", "c"), ("module", "logger"), ("stream", "stderr")]),
            set(&[("lang", "c"), ("module", "logger"), ("stream", "host")]),
        ]
        .into_iter()
        .collect()
    );
    for e in &entries {
        let v: serde_json::Value = serde_json::from_str(&e.line).unwrap();
        let id = v["wasm_instance_id"].as_str().unwrap();
        assert_eq!(e.metadata["wasm_instance_id"], id);
        assert_eq!(e.metadata["task_id"], "7");
        if id == "id-a" {
            assert_eq!(e.metadata["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
            // Never a stream label: per instance.
            assert!(!e.labels.contains_key("trace_id") && !e.labels.contains_key("wasm_instance_id"));
            let r = sent.iter().find(|r| r.ctx.wasm_instance_id == id && r.seq == v["seq"].as_u64().unwrap()).unwrap();
            let ns = r.ts.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
            assert_eq!(e.ts_ns, ns, "nanosecond timestamp");
        } else {
            assert!(!e.metadata.contains_key("trace_id"));
        }
    }
}

#[test]
fn loki_json_gzip_with_a_bearer_token() {
    let rx = Receiver::start(Kind::Loki, 0);
    let (ev, _) = events();
    let table: toml::Table = toml::from_str(&format!(
        "url = '{}/loki/api/v1/push'\nencoding = 'json'\ncompression = 'gzip'\nbearer_token = 'tok'\nlabels = ['lang', 'job']\nbatch_wait = '50ms'",
        rx.url()
    ))
    .unwrap();
    let sink = LokiSettings::from_table(table).unwrap().start("loki", &Metrics::new(), ev).unwrap();
    feed(sink, 1000);
    let entries = rx.entries();
    assert_eq!(duplicates(&entries, 1000), 0);
    assert!(rx.content_types().iter().all(|c| c == "application/json"));
    assert!(rx.headers().contains(&("content-encoding".into(), "gzip".into())));
    assert!(rx.headers().contains(&("authorization".into(), "Bearer tok".into())));
    let labels: BTreeMap<String, String> = [("job", "gateway"), ("lang", "c")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    assert!(entries.iter().all(|e| e.labels == labels));
    assert!(entries.iter().all(|e| e.metadata["wasm_instance_id"] == "01a213e3-a333-7353-8127-04414368c55d"));
}

fn otlp_sink(url: &str, protocol: OtlpProtocol, gzip: bool, events: EventFn) -> NetworkSink {
    let s = OtlpSettings {
        endpoint: Some(url.into()),
        protocol: Some(protocol),
        gzip: Some(gzip),
        timeout: Some(Duration::from_secs(3)),
        headers: vec![("api-key".into(), "secret".into())],
        resource_attributes: vec![("deployment.environment".into(), "test".into())],
        delivery: quick(Delivery::default()),
        ..OtlpSettings::default()
    };
    let env = |name: &str| (name == "OTEL_SERVICE_NAME").then(|| "edge".to_string());
    s.start("otlp", &env, &Metrics::new(), events).unwrap()
}

fn check_otlp(rx: &Receiver) {
    let entries = rx.entries();
    assert_eq!(entries.len(), 3);
    let res = &entries[0].labels;
    assert_eq!(res["service.name"], "edge");
    assert_eq!(res["deployment.environment"], "test");
    assert_eq!(res["process.pid"], std::process::id().to_string());
    assert!(!res["host.name"].is_empty());
    assert_eq!(entries[0].scope, "wasmhost");
    let r0 = entries[0].otlp.as_ref().unwrap();
    assert_eq!((r0.severity_number, r0.severity_text.as_str()), (17, "error"));
    assert_eq!(entries[0].line, "ERROR: disk full");
    assert_eq!(r0.trace_id, hex("4bf92f3577b34da6a3ce929d0e0e4736"));
    assert_eq!(r0.span_id, hex("00f067aa0ba902b7"));
    assert_eq!(entries[0].metadata["log.iostream"], "stderr");
    assert_eq!(entries[0].metadata["wasm_instance_id"], "id-a");
    assert_eq!(entries[0].metadata["lang"], "c");
    assert_eq!(entries[0].metadata["job"], "gateway");
    assert!(!entries[0].metadata.contains_key("trace_id"));
    assert!(r0.observed_time_unix_nano >= r0.time_unix_nano && r0.time_unix_nano > 1_700_000_000_000_000_000);
    let r1 = entries[1].otlp.as_ref().unwrap();
    assert_eq!((r1.severity_number, r1.severity_text.as_str()), (9, "info"));
    let r2 = entries[2].otlp.as_ref().unwrap();
    assert_eq!((r2.severity_number, r2.event_name.as_str()), (13, "instance.exit"));
    assert_eq!(entries[2].metadata["process.exit.code"], "3");
    assert_eq!(entries[2].metadata["event.name"], "instance.exit");
    assert!(!entries[2].metadata.contains_key("log.iostream"));
    assert!(rx.headers().contains(&("api-key".into(), "secret".into())));
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect()
}

fn three_records(mut sink: NetworkSink) {
    let c = ctx("id-a", &[("job", "gateway"), ("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"), ("span_id", "00f067aa0ba902b7")]);
    sink.write(&LogRecord::line(c.clone(), Stream::Stderr, 1, Line { bytes: b"ERROR: disk full", continued: false })).unwrap();
    sink.write(&LogRecord::line(c.clone(), Stream::Stderr, 2, Line { bytes: b"all good", continued: false })).unwrap();
    sink.write(&LogRecord::event(c, 3, Level::Warn, "instance.exit", "exit 3".into(), vec![("exit_code", 3i64.into())])).unwrap();
}

#[test]
fn otlp_grpc_maps_the_log_data_model() {
    let rx = Receiver::start(Kind::OtlpGrpc, 0);
    let (ev, _) = events();
    three_records(otlp_sink(&rx.url(), OtlpProtocol::Grpc, true, ev));
    check_otlp(&rx);
}

#[test]
fn otlp_http_protobuf_and_json() {
    for (protocol, gzip, ct) in [(OtlpProtocol::HttpProtobuf, true, "application/x-protobuf"), (OtlpProtocol::HttpJson, false, "application/json")] {
        let rx = Receiver::start(Kind::OtlpHttp, 0);
        let (ev, _) = events();
        three_records(otlp_sink(&rx.url(), protocol, gzip, ev));
        check_otlp(&rx);
        assert!(rx.content_types().iter().all(|c| c == ct));
    }
}

/// Request 3 is answered 429 with `refusal`'s `Retry-After`, then all is
/// accepted: nothing lost or doubled, and the one retry waited as told.
fn retry_after_is_honoured(refusal: Action) {
    let rx = Receiver::scripted(Kind::Loki, 0, move |n| if n == 3 { refusal.clone() } else { Action::Accept });
    let (ev, seen) = events();
    feed(loki(&rx.url(), Delivery::default(), ev), N);
    assert_eq!(duplicates(&rx.entries(), N), 0);
    assert_in_order(&rx.entries());
    let retries: Vec<LogRecord> = seen.lock().unwrap().iter().filter(|r| r.event == Some("export.retry")).cloned().collect();
    assert_eq!(retries.len(), 1);
    // Without Retry-After the first retry would wait about min_backoff (50 ms).
    let waited = retries[0].fields.iter().find(|(k, _)| *k == "retry_in_ms").map(|(_, v)| v.clone());
    let Some(wasmhost_log::FieldValue::F64(ms)) = waited else { panic!("{:?}", retries[0].fields) };
    assert!((900.0..=3000.0).contains(&ms), "Retry-After honoured: {ms} ms");
}

#[test]
fn fault_429_with_retry_after_seconds_then_200() {
    retry_after_is_honoured(Action::Status(429, Some(1), "slow down".into()));
}

#[test]
fn fault_429_with_retry_after_http_date_then_200() {
    // An HTTP-date 3 s ahead (whole seconds: between 2 and 3 s from now).
    retry_after_is_honoured(Action::StatusUntil(429, Duration::from_secs(3), "slow down".into()));
}

#[test]
fn fault_503_flapping() {
    let rx = Receiver::scripted(Kind::Loki, 0, |n| if n % 3 == 1 { Action::Status(503, None, "flap".into()) } else { Action::Accept });
    let (ev, seen) = events();
    feed(loki(&rx.url(), Delivery::default(), ev), N);
    assert_eq!(duplicates(&rx.entries(), N), 0);
    assert_in_order(&rx.entries());
    assert!(event_names(&seen).iter().filter(|e| **e == "export.retry").count() >= 10);
}

#[test]
fn fault_otlp_grpc_unavailable_then_ok() {
    let rx = Receiver::scripted(Kind::OtlpGrpc, 0, |n| if n < 3 { Action::Status(503, None, "warming up".into()) } else { Action::Accept });
    let (ev, seen) = events();
    let sink = otlp_sink(&rx.url(), OtlpProtocol::Grpc, false, ev);
    let c = ctx("id", &[]);
    let mut sink = sink;
    for seq in 1..=N {
        sink.write(&line(&c, seq)).unwrap();
    }
    drop(sink);
    let msgs: Vec<String> = seen.lock().unwrap().iter().map(|r| r.msg.clone()).collect();
    assert_eq!(duplicates(&rx.entries(), N), 0, "{msgs:?}");
}

/// Down for 10 s (the issue's figure), then up on the same port. The test
/// takes those 10 s; `EXPORT_TEST_DOWNTIME_MS` shortens it for quick local runs.
#[test]
fn fault_receiver_down_then_up() {
    let downtime = std::env::var("EXPORT_TEST_DOWNTIME_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let mut rx = Receiver::start(Kind::Loki, 0);
    let url = rx.url();
    rx.stop();
    let (ev, seen) = events();
    let sink = loki(&url, Delivery::default(), ev);
    let feeder = std::thread::spawn(move || feed(sink, N));
    std::thread::sleep(Duration::from_millis(downtime));
    rx.restart();
    feeder.join().unwrap();
    assert_eq!(duplicates(&rx.entries(), N), 0);
    assert_in_order(&rx.entries());
    assert!(event_names(&seen).contains(&"export.retry"));
}

#[test]
fn fault_receiver_never_answers() {
    let rx = Receiver::scripted(Kind::Loki, 0, |n| if n == 2 { Action::Hang } else { Action::Accept });
    let (ev, seen) = events();
    feed(loki_with_timeout(&rx.url(), Delivery::default(), ev, Duration::from_secs(1)), N);
    assert_eq!(duplicates(&rx.entries(), N), 0);
    let retries: Vec<String> = seen.lock().unwrap().iter().filter(|r| r.event == Some("export.retry")).map(|r| r.msg.clone()).collect();
    assert!(retries.iter().any(|m| m.contains("no answer within")), "{retries:?}");
}

#[test]
fn fault_receiver_killed_mid_batch() {
    // Request 4 is kept by the receiver, which then dies without answering:
    // the client resends it, the only duplicates.
    let rx = Receiver::scripted(Kind::Loki, 0, |n| if n == 4 { Action::AcceptThenDrop } else { Action::Accept });
    let (ev, _) = events();
    feed(loki(&rx.url(), Delivery::default(), ev), N);
    let entries = rx.entries();
    let dups = duplicates(&entries, N);
    assert!(dups > 0 && dups <= 2000, "duplicates only from the one batch: {dups}");
}

#[test]
fn fault_400_goes_to_the_dead_letter_file() {
    let dir = tempfile::tempdir().unwrap();
    let dead = dir.path().join("dead.jsonl");
    let rx = Receiver::scripted(Kind::Loki, 0, |n| if n == 1 { Action::Status(400, None, "entry too far behind".into()) } else { Action::Accept });
    let (ev, seen) = events();
    feed(loki(&rx.url(), Delivery { dead_letter: Some(dead.clone()), ..Delivery::default() }, ev), N);
    let text = std::fs::read_to_string(&dead).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["status"], "400");
    assert_eq!(lines[0]["message"], "entry too far behind");
    let refused = lines[0]["records"].as_u64().unwrap();
    assert!(refused > 0);
    // The body is there, ready to replay: Loki protobuf, uncompressed.
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.decode(lines[0]["body_base64"].as_str().unwrap()).unwrap();
    let req: wasmhost_export::PushRequest = prost::Message::decode(body.as_slice()).unwrap();
    assert_eq!(req.streams.iter().map(|s| s.entries.len() as u64).sum::<u64>(), refused);
    // Everything else arrived, nothing twice: with the refused batch, 1..=N.
    let mut all: Vec<u64> = seqs(&rx.entries()).into_iter().chain(pushed_seqs(&body)).collect();
    all.sort_unstable();
    assert_eq!(all, (1..=N).collect::<Vec<_>>());
    assert!(event_names(&seen).contains(&"export.dead_letter"));
}

#[test]
fn spool_survives_a_restart_and_drains_first() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let mut rx = Receiver::start(Kind::Loki, 0);
    let url = rx.url();
    rx.stop();
    let (ev, seen) = events();
    let with_spool = Delivery { spool_dir: Some(spool.clone()), grace: Duration::from_millis(300), ..Delivery::default() };
    let mut s = LokiSettings::new(&url);
    s.delivery = Delivery { grace: Duration::from_millis(300), ..quick(with_spool.clone()) };
    feed(s.start("loki", &Metrics::new(), ev).unwrap(), N);
    let last = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last.event, Some("export.shutdown"));
    assert!(last.fields.contains(&("spooled_records", N.into())), "{:?}", last.fields);
    assert!(last.fields.contains(&("lost", 0u64.into())));
    assert!(std::fs::read_dir(&spool).unwrap().count() > 10);

    // The next run: the receiver is back; new lines (another instance) come
    // after every spooled one.
    rx.restart();
    let (ev, seen) = events();
    let mut s = LokiSettings::new(&url);
    s.delivery = quick(with_spool);
    let mut sink = s.start("loki", &Metrics::new(), ev).unwrap();
    let c = ctx("second-run", &[]);
    for seq in 1..=1000 {
        sink.write(&line(&c, seq)).unwrap();
    }
    drop(sink);
    let entries = rx.entries();
    let first_new = entries.iter().position(|e| e.metadata["wasm_instance_id"] == "second-run").unwrap();
    assert_eq!(first_new as u64, N, "the spool drained first");
    assert_eq!(duplicates(&entries[..first_new], N), 0);
    assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 0, "acknowledged batches are removed");
    assert!(!event_names(&seen).contains(&"export.spool_corrupt"));
}

#[test]
fn torn_spool_file_is_skipped_with_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let (ev, _) = events();
    let mut s = LokiSettings::new("http://127.0.0.1:9");
    s.delivery = Delivery { spool_dir: Some(spool.clone()), grace: Duration::from_millis(200), ..quick(Delivery::default()) };
    feed(s.start("loki", &Metrics::new(), ev).unwrap(), N);
    let mut files: Vec<_> = std::fs::read_dir(&spool).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 3);
    // A power loss cut the second file short.
    let data = std::fs::read(&files[1]).unwrap();
    std::fs::write(&files[1], &data[..data.len() / 2]).unwrap();
    let torn = pushed_seqs(&data[29..]);
    assert!(!torn.is_empty());

    let rx = Receiver::start(Kind::Loki, 0);
    let (ev, seen) = events();
    let mut s = LokiSettings::new(&rx.url());
    s.delivery = Delivery { spool_dir: Some(spool.clone()), ..quick(Delivery::default()) };
    drop(s.start("loki", &Metrics::new(), ev).unwrap());
    // Everything but the torn file's records arrived, each once.
    let mut arrived = seqs(&rx.entries());
    arrived.sort_unstable();
    let expected: Vec<u64> = (1..=N).filter(|s| !torn.contains(s)).collect();
    assert_eq!(arrived, expected);
    let corrupt: Vec<LogRecord> = seen.lock().unwrap().iter().filter(|r| r.event == Some("export.spool_corrupt")).cloned().collect();
    assert_eq!(corrupt.len(), 1);
    assert!(corrupt[0].msg.contains("torn"), "{}", corrupt[0].msg);
    assert!(files[1].with_extension("corrupt").exists());
}

#[test]
fn a_full_queue_applies_the_drop_policy_and_shutdown_counts_the_loss() {
    use wasmhost_log::{Pipeline, Policy, Router, SinkSpec};
    // Receiver down, no spool: the sink's memory queue fills, its pipeline
    // queue fills, and the `drop` policy drops (and says so).
    let (ev, seen) = events();
    let mut s = LokiSettings::new("http://127.0.0.1:9");
    s.delivery = Delivery { batch_bytes: 16 * 1024, grace: Duration::from_millis(200), ..quick(Delivery::default()) };
    let sink = s.start("loki", &Metrics::new(), ev).unwrap();
    let shutdown = sink.shutdown_handle();
    let specs = vec![SinkSpec { name: "loki".into(), sink: Box::new(sink), policy: Policy::Drop, queue: 64 }];
    let pipeline = Pipeline::routed(specs, Router::new(vec![0]), 64).unwrap();
    let c = ctx("id", &[]);
    let tx = pipeline.sender();
    for seq in 1..=20_000 {
        while tx.try_send(line(&c, seq)).unwrap().is_some() {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    drop(tx);
    // As `wasmhost run` does once its guests are done.
    shutdown.begin();
    let report = pipeline.finish();
    assert!(report.dropped > 0);
    let last = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last.event, Some("export.shutdown"));
    let lost = last.fields.iter().find(|(k, _)| *k == "lost").map(|(_, v)| v.clone()).unwrap();
    assert_ne!(lost, wasmhost_log::FieldValue::U64(0));
}

#[test]
fn metrics_count_what_the_sink_did() {
    let rx = Receiver::scripted(Kind::Loki, 0, |n| if n == 0 { Action::Status(503, None, "x".into()) } else { Action::Accept });
    let metrics = Metrics::new();
    let (ev, _) = events();
    let mut s = LokiSettings::new(&rx.url());
    s.delivery = quick(Delivery::default());
    let mut sink = s.start("edge-loki", &metrics, ev).unwrap();
    let c = ctx("id", &[]);
    for seq in 1..=500 {
        let r = line(&c, seq);
        metrics.observe(&r);
        sink.write(&r).unwrap();
    }
    let start = LogRecord::event(c.clone(), 501, Level::Info, "instance.start", "s".into(), vec![]);
    let trap = LogRecord::event(c.clone(), 502, Level::Error, "instance.trap", "t".into(), vec![]);
    let timeout = LogRecord::event(c.clone(), 503, Level::Error, "instance.timeout", "t".into(), vec![]);
    let exit = LogRecord::event(c, 504, Level::Warn, "instance.exit", "e".into(), vec![("exit_code", 134i64.into())]);
    for r in [&start, &trap, &timeout, &exit] {
        metrics.observe(r);
    }
    drop(sink);
    let addr = metrics.serve("127.0.0.1:0".parse().unwrap()).unwrap();
    let text = http_get(addr);
    for want in [
        r#"wasmhost_sink_records_sent_total{sink="edge-loki"} 500"#,
        r#"wasmhost_sink_batches_retried_total{sink="edge-loki"} 1"#,
        r#"wasmhost_sink_queue_depth{sink="edge-loki"} 0"#,
        r#"wasmhost_sink_send_latency_seconds_count{sink="edge-loki"} "#,
        r#"wasmhost_guest_lines_total{lang="c",stream="stderr"} 500"#,
        r#"wasmhost_instances_started_total{module="logger",lang="c"} 1"#,
        r#"wasmhost_instance_traps_total{module="logger",lang="c"} 1"#,
        r#"wasmhost_instance_timeouts_total{module="logger",lang="c"} 1"#,
        r#"wasmhost_instance_exits_total{module="logger",lang="c",code="134"} 1"#,
    ] {
        assert!(text.contains(want), "missing {want} in:\n{text}");
    }
}

/// A refused batch (400) is dead-lettered; one that keeps failing past
/// `max_retries` is counted failed (and dead-lettered too, as retries
/// exhausted); nothing is dropped while the dead-letter file takes them;
/// without one, the same records are counted dropped.
#[test]
fn metrics_count_refusals_failures_and_losses() {
    for with_file in [true, false] {
        let rx = Receiver::scripted(Kind::Loki, 0, |n| if n == 0 { Action::Status(400, None, "bad".into()) } else { Action::Status(503, None, "busy".into()) });
        let dir = tempfile::tempdir().unwrap();
        let metrics = Metrics::new();
        let (ev, _) = events();
        let mut s = LokiSettings::new(&rx.url());
        s.delivery = Delivery { max_retries: Some(1), dead_letter: with_file.then(|| dir.path().join("dead.jsonl")), ..quick(Delivery::default()) };
        let mut sink = s.start("l", &metrics, ev).unwrap();
        let c = ctx("id", &[]);
        for seq in 1..=100 {
            sink.write(&line(&c, seq)).unwrap();
        }
        sink.flush().unwrap();
        while rx.requests() == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
        for seq in 101..=200 {
            sink.write(&line(&c, seq)).unwrap();
        }
        drop(sink);
        let text = metrics.render();
        let dropped = if with_file { 0 } else { 200 };
        for want in [
            r#"wasmhost_sink_batches_dead_lettered_total{sink="l"} 1"#.to_owned(),
            r#"wasmhost_sink_batches_failed_total{sink="l"} 1"#.to_owned(),
            r#"wasmhost_sink_batches_retried_total{sink="l"} 1"#.to_owned(),
            format!(r#"wasmhost_sink_records_dropped_total{{sink="l"}} {dropped}"#),
            r#"wasmhost_sink_records_sent_total{sink="l"} 0"#.to_owned(),
        ] {
            assert!(text.contains(&want), "with_file={with_file}: missing {want} in:\n{text}");
        }
    }
}

fn http_get(addr: std::net::SocketAddr) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Every `export.*` event a fault produces is a valid line of the log format
/// (docs/log-format.schema.json).
#[test]
fn export_events_follow_the_log_format_schema() {
    use wasmhost_log::Format;
    let schema_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/log-format.schema.json");
    let schema: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // A 503 (retry), a 400 (dead letter), a spool too small for one batch
    // (queue full), a torn spool file, and the shutdown.
    let rx = Receiver::scripted(Kind::Loki, 0, |n| match n {
        0 => Action::Status(503, None, "busy".into()),
        1 => Action::Status(400, None, "bad".into()),
        _ => Action::Accept,
    });
    let spool = dir.path().join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    std::fs::write(spool.join("00000000000000000000.batch"), b"WHSPOOL1 torn").unwrap();
    let (ev, seen) = events();
    let delivery = Delivery { spool_dir: Some(spool), dead_letter: Some(dir.path().join("dead.jsonl")), spool_max_bytes: 1, ..Delivery::default() };
    feed(loki(&rx.url(), delivery, ev), 20_000);
    let names = event_names(&seen);
    for want in ["export.retry", "export.dead_letter", "export.spool_corrupt", "export.queue_full", "export.shutdown"] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    for record in seen.lock().unwrap().iter() {
        let mut out = Vec::new();
        wasmhost_log::JsonFormat.format(record, &mut out).unwrap();
        let line: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let errors: Vec<String> = validator.iter_errors(&line).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{line}: {errors:?}");
    }
}

/// A guest's JSON line, lifted as `wasmhost run` lifts it (the instance's
/// log with the default lifting), reaches both receivers with what lifting
/// found: its level and message as the record's, its fields (under the
/// `guest_` prefix, typed) in the Loki line and as OTLP attributes, and its
/// own trace context as Loki structured metadata and the OTLP trace context.
#[test]
fn lifted_fields_reach_loki_lines_and_otlp_attributes() {
    use wasmhost_log::{InstanceLog, LiftConfig, Pipeline, Policy, Router, SinkSpec};
    let (loki_rx, otlp_rx) = (Receiver::start(Kind::Loki, 0), Receiver::start(Kind::OtlpGrpc, 0));
    let (ev, _) = events();
    let specs = vec![
        SinkSpec { name: "loki".into(), sink: Box::new(loki(&loki_rx.url(), Delivery::default(), ev.clone())), policy: Policy::Block, queue: 64 },
        SinkSpec { name: "otlp".into(), sink: Box::new(otlp_sink(&otlp_rx.url(), OtlpProtocol::Grpc, false, ev)), policy: Policy::Block, queue: 64 },
    ];
    let pipeline = Pipeline::routed(specs, Router::new(vec![0, 1]), 64).unwrap();
    let mut log = InstanceLog::new(ctx("lifted-1", &[]), pipeline.sender(), 64 * 1024).with_lift(&LiftConfig::default());
    log.write(
        Stream::Stderr,
        br#"{"level":"warn","msg":"disk slow","user":"ann","ms":120,"ratio":0.5,"ok":false,"db":{"rows":3},"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"}
level=error msg="no route" path=/api
"#,
    );
    log.finish_streams();
    drop(log);
    pipeline.finish();

    let lines: Vec<serde_json::Value> = loki_rx.entries().iter().map(|e| serde_json::from_str(&e.line).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    let json = &lines[0];
    assert_eq!((json["level"].as_str(), json["msg"].as_str(), json["lifted"].as_str()), (Some("warn"), Some("disk slow"), Some("json")));
    assert_eq!((json["guest_user"].as_str(), json["guest_ms"].as_i64(), json["guest_db_rows"].as_i64()), (Some("ann"), Some(120), Some(3)));
    assert_eq!(json["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(loki_rx.entries()[0].metadata["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!((lines[1]["level"].as_str(), lines[1]["lifted"].as_str(), lines[1]["guest_path"].as_str()), (Some("error"), Some("logfmt"), Some("/api")));

    use wasmhost_export::opentelemetry_proto::tonic::common::v1::any_value::Value as V;
    let entries = otlp_rx.entries();
    assert_eq!(entries.len(), 2);
    let rec = entries[0].otlp.as_ref().unwrap();
    assert_eq!((rec.severity_number, rec.severity_text.as_str()), (13, "warn"));
    assert_eq!(entries[0].line, "disk slow", "the lifted msg is the body");
    let attr = |name: &str| rec.attributes.iter().find(|a| a.key == name).and_then(|a| a.value.clone()).and_then(|v| v.value);
    assert_eq!(attr("lifted"), Some(V::StringValue("json".into())));
    assert_eq!(attr("guest_user"), Some(V::StringValue("ann".into())));
    assert_eq!(attr("guest_ms"), Some(V::IntValue(120)), "typed, not text");
    assert_eq!(attr("guest_ratio"), Some(V::DoubleValue(0.5)));
    assert_eq!(attr("guest_ok"), Some(V::BoolValue(false)));
    assert_eq!(attr("guest_db_rows"), Some(V::IntValue(3)));
    assert_eq!(rec.trace_id, hex("4bf92f3577b34da6a3ce929d0e0e4736"), "the guest's trace context is the record's");
    assert_eq!(rec.span_id, hex("00f067aa0ba902b7"));
    assert!(attr("trace_id").is_none() && attr("span_id").is_none(), "trace context, not attributes");
    let rec = entries[1].otlp.as_ref().unwrap();
    assert_eq!((rec.severity_number, entries[1].line.as_str()), (17, "no route"));
    assert_eq!(entries[1].metadata["guest_path"], "/api");
}

/// The benchmarks' receivers acknowledge without decoding, gRPC included:
/// the sink sees every batch acknowledged, the receiver counts the bytes.
#[test]
fn ack_only_receivers_acknowledge_grpc_and_http() {
    for (kind, rx) in [("grpc", Receiver::ack_only(Kind::OtlpGrpc, 0)), ("loki", Receiver::ack_only(Kind::Loki, 0))] {
        let (ev, seen) = events();
        let sink = match kind {
            "grpc" => otlp_sink(&rx.url(), OtlpProtocol::Grpc, false, ev),
            _ => loki(&rx.url(), Delivery::default(), ev),
        };
        feed(sink, 10_000);
        let last = seen.lock().unwrap().last().cloned().unwrap();
        assert_eq!(last.event, Some("export.shutdown"));
        assert!(last.fields.contains(&("sent", 10_000u64.into())), "{kind}: {:?}", last.fields);
        assert!(!event_names(&seen).contains(&"export.retry"), "{kind}");
        assert_eq!(rx.count(), 0, "{kind}: nothing decoded");
        assert!(rx.wire_bytes() > 10_000 * 10, "{kind}: {} bytes", rx.wire_bytes());
    }
}

fn tls_sink(kind: Kind, url: &str, tls: TlsSettings, delivery: Delivery, events: EventFn) -> NetworkSink {
    let delivery = quick(delivery);
    match kind {
        Kind::Loki => {
            let mut s = LokiSettings::new(url);
            s.timeout = Duration::from_secs(3);
            s.tls = tls;
            s.delivery = delivery;
            s.start("loki", &Metrics::new(), events).unwrap()
        }
        _ => {
            let protocol = if kind == Kind::OtlpGrpc { OtlpProtocol::Grpc } else { OtlpProtocol::HttpProtobuf };
            let s = OtlpSettings {
                endpoint: Some(url.into()),
                protocol: Some(protocol),
                timeout: Some(Duration::from_secs(3)),
                tls,
                delivery,
                ..OtlpSettings::default()
            };
            s.start("otlp", &|_: &str| None, &Metrics::new(), events).unwrap()
        }
    }
}

const KINDS: [Kind; 3] = [Kind::Loki, Kind::OtlpHttp, Kind::OtlpGrpc];

/// https:// to Loki, OTLP/HTTP and OTLP/gRPC receivers whose certificate
/// (made by rcgen in the test) is signed by the CA file the sink trusts.
#[test]
fn tls_delivers_over_https_to_every_receiver() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path());
    for kind in KINDS {
        let rx = Receiver::tls(kind, 0, pki.server_config(false), |_| Action::Accept);
        assert!(rx.url().starts_with("https://127.0.0.1:"));
        let (ev, seen) = events();
        let tls = TlsSettings { ca_file: Some(pki.ca.clone()), ..TlsSettings::default() };
        feed(tls_sink(kind, &rx.url(), tls, Delivery::default(), ev), 20_000);
        assert_eq!(duplicates(&rx.entries(), 20_000), 0, "{kind:?}");
        assert_in_order(&rx.entries());
        assert_eq!(rx.tls_failures(), 0, "{kind:?}");
        assert!(!event_names(&seen).contains(&"export.retry"), "{kind:?}");
    }
}

/// The receiver's failed handshakes, once it has seen one (it may count
/// the failure a moment after the client reported it).
fn tls_failures(rx: &Receiver) -> u64 {
    let end = std::time::Instant::now() + Duration::from_secs(5);
    while rx.tls_failures() == 0 && std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    rx.tls_failures()
}

/// Waits for an `export.retry` whose reason contains `needle`; returns it.
fn retry_saying(seen: &Mutex<Vec<LogRecord>>, needle: &str) -> String {
    let end = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let found = seen.lock().unwrap().iter().find(|r| r.event == Some("export.retry") && r.msg.contains(needle)).map(|r| r.msg.clone());
        if let Some(msg) = found {
            return msg;
        }
        let all: Vec<String> = seen.lock().unwrap().iter().map(|r| r.msg.clone()).collect();
        assert!(std::time::Instant::now() < end, "no retry saying {needle:?}; events: {all:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A server whose certificate the sink does not trust: every attempt is an
/// `export.retry` that says so (and how to fix it); the batches wait in the
/// spool, nothing is accepted; once the server presents a trusted
/// certificate (rotated on the same port) every line arrives, once.
#[test]
fn tls_untrusted_certificate_is_retried_with_a_clear_error_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (trusted, stranger) = (dir.path().join("trusted"), dir.path().join("stranger"));
    std::fs::create_dir_all(&trusted).unwrap();
    std::fs::create_dir_all(&stranger).unwrap();
    let (pki, other) = (TestPki::generate(&trusted), TestPki::generate(&stranger));
    for kind in KINDS {
        let rx = Receiver::tls(kind, 0, other.server_config(false), |_| Action::Accept);
        let (url, port) = (rx.url(), rx.addr.port());
        let spool = dir.path().join(format!("spool-{kind:?}"));
        let (ev, seen) = events();
        let tls = TlsSettings { ca_file: Some(pki.ca.clone()), ..TlsSettings::default() };
        let delivery = Delivery { spool_dir: Some(spool.clone()), ..Delivery::default() };
        let sink = tls_sink(kind, &url, tls, delivery, ev);
        let feeder = std::thread::spawn(move || feed(sink, 10_000));
        let msg = retry_saying(&seen, "invalid peer certificate");
        assert!(msg.contains("not trusted") && msg.contains("ca_file"), "{kind:?}: {msg}");
        assert_eq!(rx.count(), 0, "{kind:?}");
        assert!(tls_failures(&rx) > 0, "{kind:?}");
        assert!(std::fs::read_dir(&spool).unwrap().count() > 0, "{kind:?}: the batches wait in the spool");
        drop(rx);
        let rx = Receiver::tls(kind, port, pki.server_config(false), |_| Action::Accept);
        feeder.join().unwrap();
        assert_eq!(duplicates(&rx.entries(), 10_000), 0, "{kind:?}");
        assert_in_order(&rx.entries());
        assert_eq!(std::fs::read_dir(&spool).unwrap().count(), 0, "{kind:?}: acknowledged batches are removed");
    }
}

/// A receiver that demands a client certificate: a sink without one is
/// refused at the handshake and retries; with the certificate and key (as
/// files in the config, or through the OTel variables for gRPC with a
/// scheme-less endpoint, which is TLS by default) every line arrives.
#[test]
fn tls_mutual_authentication_with_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path());
    let with_ca = TlsSettings { ca_file: Some(pki.ca.clone()), ..TlsSettings::default() };

    let rx = Receiver::tls(Kind::Loki, 0, pki.server_config(true), |_| Action::Accept);
    let (ev, seen) = events();
    let mut sink = tls_sink(Kind::Loki, &rx.url(), with_ca.clone(), Delivery { grace: Duration::from_millis(200), ..Delivery::default() }, ev);
    let c = ctx("01a213e3-a333-7353-8127-04414368c55d", &[]);
    sink.write(&line(&c, 1)).unwrap();
    sink.flush().unwrap();
    let msg = retry_saying(&seen, "sink loki");
    drop(sink);
    assert_eq!(rx.count(), 0, "no client certificate, nothing accepted: {msg}");
    assert!(tls_failures(&rx) > 0);

    let mtls = TlsSettings { cert_file: Some(pki.client_cert.clone()), key_file: Some(pki.client_key.clone()), ..with_ca };
    for kind in [Kind::Loki, Kind::OtlpHttp] {
        let rx = Receiver::tls(kind, 0, pki.server_config(true), |_| Action::Accept);
        let (ev, _) = events();
        feed(tls_sink(kind, &rx.url(), mtls.clone(), Delivery::default(), ev), 10_000);
        assert_eq!(duplicates(&rx.entries(), 10_000), 0, "{kind:?}");
    }

    let rx = Receiver::tls(Kind::OtlpGrpc, 0, pki.server_config(true), |_| Action::Accept);
    let vars: HashMap<String, String> = [
        ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", format!("127.0.0.1:{}", rx.addr.port())),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", pki.ca.display().to_string()),
        ("OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE", pki.client_cert.display().to_string()),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", pki.client_key.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let env = move |name: &str| vars.get(name).cloned();
    let s = OtlpSettings { delivery: quick(Delivery::default()), ..OtlpSettings::default() };
    assert_eq!(s.resolve(&env).unwrap().url, format!("https://127.0.0.1:{}", rx.addr.port()));
    let (ev, _) = events();
    feed(s.start("otlp", &env, &Metrics::new(), ev).unwrap(), 10_000);
    assert_eq!(duplicates(&rx.entries(), 10_000), 0, "gRPC with the OTEL_* certificate variables");
}

/// Files that cannot serve are refused when the sink starts, naming them.
#[test]
fn tls_settings_that_cannot_work_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let pki = TestPki::generate(dir.path());
    let (ev, _) = events();
    let mut s = LokiSettings::new("https://127.0.0.1:1");
    s.tls = TlsSettings { ca_file: Some(dir.path().join("missing.pem")), ..TlsSettings::default() };
    let err = s.start("loki", &Metrics::new(), ev.clone()).err().expect("refused");
    assert!(err.contains("missing.pem"), "{err}");
    // A key that is not the certificate's.
    let s = OtlpSettings {
        endpoint: Some("https://127.0.0.1:1".into()),
        protocol: Some(OtlpProtocol::Grpc),
        tls: TlsSettings { ca_file: Some(pki.ca.clone()), cert_file: Some(pki.client_cert.clone()), key_file: Some(pki.server_key.clone()), insecure: None },
        ..OtlpSettings::default()
    };
    let err = s.start("otlp", &|_: &str| None, &Metrics::new(), ev).err().expect("refused");
    assert!(err.contains("client.pem"), "{err}");
}
