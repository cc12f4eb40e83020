//! The network sinks without a guest: 1,000,000 records pushed through a
//! `Pipeline` into the file sink, a Loki sink (protobuf + snappy), a Loki
//! sink with a spool, and an OTLP/gRPC sink, each to a loopback receiver
//! that acknowledges without decoding. Prints wall time, lines/s and the
//! ratio to the file sink. `cargo bench -p wasmhost-export --features receivers --bench export_sink`
//! (`benches/export.sh` measures the same through the real binary and the C logger.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmhost_export::receivers::{Kind, Receiver};
use wasmhost_export::{Delivery, LokiSettings, Metrics, OtlpProtocol, OtlpSettings};
use wasmhost_log::{InstanceContext, JsonFormat, Line, LogRecord, Pipeline, Sink, Stream, WriterSink};

const N: u64 = 1_000_000;

fn run(name: &str, sink: Box<dyn Sink>) -> f64 {
    let mut ctx = InstanceContext::new("01a213e3-a333-7353-8127-04414368c55d", "c", "logger");
    ctx.task_id = Some(1);
    ctx.labels = vec![("job".into(), "gateway".into())];
    let ctx = Arc::new(ctx);
    let pipeline = Pipeline::spawn(sink, 16 * 1024).expect("pipeline");
    let tx = pipeline.sender();
    let start = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    rt.block_on(async {
        for seq in 1..=N {
            let text = format!("line {seq:08}: the quick brown fox jumps over the lazy dog 0123456789");
            let r = LogRecord::line(ctx.clone(), Stream::Stderr, seq, Line { bytes: text.as_bytes(), continued: false });
            let permit = tx.reserve(wasmhost_log::LogSender::weigh(&r)).await.expect("pipeline open");
            permit.send(r);
        }
    });
    drop(tx);
    let report = pipeline.finish();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(report.written, N);
    println!("{name}: {secs:.3} s, {:.0} lines/s", N as f64 / secs);
    secs
}

fn delivery() -> Delivery {
    Delivery { batch_wait: Duration::from_millis(200), grace: Duration::from_secs(60), ..Delivery::default() }
}

fn main() {
    let dir = std::env::temp_dir().join(format!("wasmhost-export-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = std::fs::File::create(dir.join("file.log")).expect("file");
    let base = run("file sink", Box::new(WriterSink::new(JsonFormat, file)));

    let loki_rx = Receiver::ack_only(Kind::Loki, 0);
    let ev: wasmhost_export::EventFn = Arc::new(|r| eprintln!("{}", r.msg));
    let mut s = LokiSettings::new(&loki_rx.url());
    s.delivery = delivery();
    let loki = run("loki protobuf+snappy", Box::new(s.start("loki", &Metrics::new(), ev.clone()).expect("sink")));
    let loki_bytes = loki_rx.wire_bytes();

    let mut s = LokiSettings::new(&loki_rx.url());
    s.delivery = Delivery { spool_dir: Some(dir.join("spool")), ..delivery() };
    let spool = run("loki + spool", Box::new(s.start("loki", &Metrics::new(), ev.clone()).expect("sink")));

    let grpc_rx = Receiver::ack_only(Kind::OtlpGrpc, 0);
    let s = OtlpSettings { endpoint: Some(grpc_rx.url()), protocol: Some(OtlpProtocol::Grpc), delivery: delivery(), ..OtlpSettings::default() };
    let otlp = run("otlp grpc", Box::new(s.start("otlp", &|_: &str| None, &Metrics::new(), ev).expect("sink")));

    println!("loki / file: {:.2}, loki+spool / loki: {:.2}, otlp / file: {:.2}", loki / base, spool / loki, otlp / base);
    println!("bytes per line: loki {:.1} (snappy protobuf), otlp grpc {:.1} (protobuf)", loki_bytes as f64 / N as f64, grpc_rx.wire_bytes() as f64 / N as f64);
    let _ = std::fs::remove_dir_all(&dir);
}
