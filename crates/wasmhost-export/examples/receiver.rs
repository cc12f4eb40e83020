//! A loopback receiver for benchmarks (`benches/export.sh`): `receiver loki|grpc|otlp-http`
//! listens on 127.0.0.1 (a free port), prints `http://127.0.0.1:PORT` on stdout, acknowledges
//! every request without decoding it, and on stdin's end prints `requests=N wire_bytes=N`.

use std::io::Read;

use wasmhost_export::receivers::{Kind, Receiver};

fn main() {
    let kind = match std::env::args().nth(1).as_deref() {
        Some("loki") => Kind::Loki,
        Some("grpc") => Kind::OtlpGrpc,
        Some("otlp-http") => Kind::OtlpHttp,
        _ => {
            eprintln!("usage: receiver loki|grpc|otlp-http");
            std::process::exit(2);
        }
    };
    let rx = Receiver::ack_only(kind, 0);
    println!("{}", rx.url());
    // Runs until stdin closes.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    println!("requests={} wire_bytes={}", rx.requests(), rx.wire_bytes());
}
