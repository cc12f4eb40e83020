// formats: writes lines shaped as Rust's env_logger and tracing_subscriber
// (fmt) write them, then panics (a multi-line panic message), for wasmhost's
// lifting. The crates themselves need cargo; their default formats are
// reproduced here exactly.
fn main() {
    let arg = std::env::args().nth(1).unwrap_or_default();
    eprintln!("[2026-11-25T10:00:00Z ERROR formats::db] connection lost");
    eprintln!("[2026-11-25T10:00:01Z INFO  formats] started");
    eprintln!("2026-11-25T10:00:02.123456Z  WARN formats::db: slow query table=\"users\" ms=120");
    eprintln!("2026-11-25T10:00:03.000001Z ERROR request{{id=7}}: formats::http: upstream failed status=503");
    if arg == "panic" {
        let v: Vec<u32> = Vec::new();
        let i = std::env::args().count() + 5;
        eprintln!("about to panic");
        println!("{}", v[i]);
    }
}
