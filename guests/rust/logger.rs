// logger: writes N numbered lines to stderr (N from the first argument, else
// LOGGER_LINES, else 10).
use std::io::Write;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("LOGGER_LINES").ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    for i in 1..=n {
        let _ = writeln!(err, "line {:08}: the quick brown fox jumps over the lazy dog", i);
    }
}
