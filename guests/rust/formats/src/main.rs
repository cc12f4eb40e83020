//! formats: logs through the real `env_logger` and `tracing_subscriber::fmt`
//! with their default formats (to stderr, no colours), then, with the
//! argument `panic`, panics (a multi-line panic message), for wasmhost's
//! lifting (docs/log-format.md).

mod db {
    pub fn connect() {
        log::error!("connection lost");
    }

    pub fn query() {
        tracing::warn!(table = "users", ms = 120, "slow query");
    }
}

mod http {
    pub fn call() {
        let span = tracing::info_span!("request", id = 7);
        let _entered = span.enter();
        tracing::error!(status = 503, "upstream failed");
    }
}

fn main() {
    // env_logger's default format: `[<RFC 3339 time> <LEVEL> <target>] <msg>`.
    env_logger::Builder::new().filter_level(log::LevelFilter::Info).init();
    db::connect();
    log::info!("started");

    // tracing_subscriber's default (`fmt`) format:
    // `<time>  <LEVEL> <spans>: <target>: <msg> <fields>`.
    tracing_subscriber::fmt().with_ansi(false).with_writer(std::io::stderr).init();
    db::query();
    http::call();

    if std::env::args().nth(1).as_deref() == Some("panic") {
        let v: Vec<u32> = Vec::new();
        let i = std::env::args().count() + 5;
        eprintln!("about to panic");
        println!("{}", v[i]);
    }
}
