//! The library's side of hardening (issue 18): `Limits::timeout` stops a
//! guest blocked in a host call (tests/all/harden.rs covers a stdin read), `Host::stop_all` stops it at once, and
//! labels that would corrupt a record are refused.

use std::time::{Duration, Instant};

use wasmhost::{Ended, Host, HostConfig, LimitHit, Limits, RunError, RunOptions};
use wasmhost_log::{JsonFormat, Pipeline, WriterSink};

fn guest(name: &str) -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../guests/build").join(format!("{name}.wasm"));
    assert!(path.exists(), "{}: run `make guests`", path.display());
    path
}

fn host() -> Host {
    Host::new(HostConfig { cache_dir: None, ..HostConfig::default() }).unwrap()
}

fn pipeline() -> Pipeline {
    Pipeline::spawn(Box::new(WriterSink::new(JsonFormat, std::io::sink())), 1024).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_stops_a_guest_blocked_in_a_host_call() {
    let host = host();
    let pipeline = pipeline();
    let timeout = Limits { timeout: Some(Duration::from_millis(300)), ..Limits::default() };
    // Sleeping in poll_oneoff for 20 s.
    let module = host.load_file(&guest("c/sleep")).unwrap();
    let options = RunOptions { args: vec!["20000".into()], limits: Some(timeout), ..RunOptions::default() };
    let started = Instant::now();
    let outcome = host.run(&module, options, pipeline.sender()).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    assert_eq!(outcome.exit_code, 134);
    assert_eq!(outcome.ended, Ended::Limit(LimitHit::Timeout { limit: Duration::from_millis(300) }));
    assert!(outcome.duration >= Duration::from_millis(300));
    pipeline.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_all_stops_sleeping_guests_at_once() {
    let host = std::sync::Arc::new(host());
    let pipeline = pipeline();
    let module = std::sync::Arc::new(host.load_file(&guest("c/sleep")).unwrap());
    let runs: Vec<_> = (0..5)
        .map(|_| {
            let (host, module, sender) = (host.clone(), module.clone(), pipeline.sender());
            let options = RunOptions { args: vec!["60000".into()], ..RunOptions::default() };
            tokio::spawn(async move { host.run(&module, options, sender).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopped = Instant::now();
    host.stop_all();
    for run in runs {
        let outcome = run.await.unwrap().unwrap();
        assert_eq!(outcome.ended, Ended::Stopped);
        assert_eq!(outcome.exit_code, 134);
    }
    assert!(stopped.elapsed() < Duration::from_secs(1), "{:?}", stopped.elapsed());
    pipeline.finish();
}

#[tokio::test]
async fn labels_that_would_corrupt_a_record_are_refused() {
    let host = host();
    let pipeline = pipeline();
    let module = host.load_file(&guest("c/hello")).unwrap();
    for labels in [vec![("exit_code", "0")], vec![("trace_id", "x")], vec![("dropped", "1")], vec![("a-b", "x")], vec![("job", "a"), ("job", "b")]] {
        let labels = labels.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        let options = RunOptions { labels, ..RunOptions::default() };
        let error = host.run(&module, options, pipeline.sender()).await.unwrap_err();
        assert!(matches!(error, RunError::Label(_)), "{error}");
    }
    pipeline.finish();
}

#[test]
fn line_limits_out_of_range_are_refused() {
    for max_line in [0, 127, (1 << 20) + 1] {
        let error = Host::new(HostConfig { max_line, cache_dir: None, ..HostConfig::default() }).err().expect("refused");
        assert!(error.to_string().contains("outside 128..=1048576"), "{error}");
    }
}

use crate::shared::Shared;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_token_stops_its_own_run_only_spinning_or_sleeping() {
    let host = std::sync::Arc::new(host());
    let out = Shared::default();
    let pipeline = Pipeline::spawn(Box::new(WriterSink::new(JsonFormat, out.clone())), 1024).unwrap();
    // A guest spinning in wasm (stopped at an epoch tick) and one sleeping
    // in poll_oneoff (stopped in the host call), each with its own token;
    // a third sleeps 600 ms with a token nobody cancels.
    let start = |name: &str, args: &[&str]| {
        let (host, sender, token) = (host.clone(), pipeline.sender(), wasmhost::CancelToken::new());
        let module = host.load_file(&guest(name)).unwrap();
        let options = RunOptions { args: args.iter().map(|a| a.to_string()).collect(), cancel: Some(token.clone()), ..RunOptions::default() };
        (token, tokio::spawn(async move { host.run(&module, options, sender).await.unwrap() }))
    };
    let (spin_token, spin) = start("c/spin", &[]);
    let (sleep_token, sleep) = start("c/sleep", &["60000"]);
    let (_other_token, other) = start("c/sleep", &["600"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cancelled = Instant::now();
    // From another thread, as a Go context's goroutine or a C thread would.
    std::thread::spawn(move || {
        spin_token.cancel();
        sleep_token.cancel();
    })
    .join()
    .unwrap();
    for run in [spin, sleep] {
        let outcome = run.await.unwrap();
        assert_eq!((outcome.exit_code, &outcome.ended), (134, &Ended::Stopped));
    }
    assert!(cancelled.elapsed() < Duration::from_secs(1), "{:?}", cancelled.elapsed());
    let other = other.await.unwrap();
    assert_eq!((other.exit_code, &other.ended), (0, &Ended::Exit), "another run of the host goes on");
    pipeline.finish();
    let text = out.text();
    let stopped: Vec<&str> = text.lines().filter(|l| l.contains(r#""event":"instance.stopped""#)).collect();
    assert_eq!(stopped.len(), 2, "{text}");
    assert!(stopped.iter().all(|l| l.contains(r#""msg":"stopped: the run was cancelled""#)), "{text}");
    assert_eq!(text.lines().filter(|l| l.contains(r#""event":"instance.exit""#) && l.contains(r#""exit_code":134"#)).count(), 2, "{text}");

    // A token cancelled before the run stops it as it starts.
    let (token, module) = (wasmhost::CancelToken::new(), host.load_file(&guest("c/spin")).unwrap());
    token.cancel();
    let sink = Pipeline::spawn(Box::new(WriterSink::new(JsonFormat, std::io::sink())), 64).unwrap();
    let outcome = host.run(&module, RunOptions { cancel: Some(token), ..RunOptions::default() }, sink.sender()).await.unwrap();
    assert_eq!(outcome.ended, Ended::Stopped);
    sink.finish();
}

// The soak's finding (BENCHMARKS.md, "Hardening (issue 18)"): guests that
// compute without a host call must not hold back the ones that sleep between
// bursts. Eight spinners and four loggers (2,000 lines in bursts of 100,
// 5 ms asleep after each) on two workers: with 10 ms slices and tokio's
// default event interval every sleep took hundreds of ms and the loggers
// ran into the timeout; now they finish long before the spinners' timeout.
#[test]
fn guests_that_sleep_between_bursts_are_not_starved_by_guests_that_spin() {
    let runtime = wasmhost::runtime_builder().worker_threads(2).build().unwrap();
    let host = std::sync::Arc::new(host());
    let pipeline = pipeline();
    let module = std::sync::Arc::new(host.load_file(&guest("c/soak")).unwrap());
    let limits = Limits { timeout: Some(Duration::from_secs(6)), ..Limits::default() };
    let outcomes = runtime.block_on(async {
        let runs: Vec<_> = ["spin"; 8]
            .into_iter()
            .chain(["logger"; 4])
            .map(|role| {
                let (host, module, sender) = (host.clone(), module.clone(), pipeline.sender());
                let options = RunOptions { args: vec![role.into()], limits: Some(limits), ..RunOptions::default() };
                tokio::spawn(async move { (role, host.run(&module, options, sender).await.unwrap()) })
            })
            .collect();
        let mut outcomes = Vec::new();
        for run in runs {
            outcomes.push(run.await.unwrap());
        }
        outcomes
    });
    for (role, outcome) in outcomes {
        match role {
            "spin" => assert_eq!(outcome.ended, Ended::Limit(LimitHit::Timeout { limit: Duration::from_secs(6) })),
            _ => {
                assert_eq!((outcome.exit_code, &outcome.ended), (0, &Ended::Exit), "a logger ran into its timeout");
                assert_eq!(outcome.log.lines, 2001, "{:?}", outcome.log);
                assert!(outcome.duration < Duration::from_secs(3), "a logger took {:?}", outcome.duration);
            }
        }
    }
    pipeline.finish();
}

// A host built without epoch interruption (as `wasmhost run` builds one for
// a single instance without a timeout) refuses a timeout by name, and
// cannot stop a guest computing in wasm: `stop_all` leaves it running.
// `close_running` then closes its log (stopped, then exit 134, and nothing
// after), letting go of the pipeline (the CLI's Ctrl-C test shows the
// process ending while the guest spins). Fuel ends the guest a few seconds
// later, so that it does not spin through the other tests.
#[test]
fn without_epochs_a_spinning_guest_has_its_log_closed_by_close_running() {
    let config = HostConfig { cache_dir: None, epoch_interruption: false, fuel: true, ..HostConfig::default() };
    let host = std::sync::Arc::new(Host::new(config).unwrap());
    let module = std::sync::Arc::new(host.load_file(&guest("c/spin")).unwrap());
    let out = Shared::default();
    let pipeline = Pipeline::spawn(Box::new(WriterSink::new(JsonFormat, out.clone())), 1024).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    let timeout = Limits { timeout: Some(Duration::from_secs(1)), ..Limits::default() };
    let refused = runtime.block_on(host.run(&module, RunOptions { limits: Some(timeout), ..RunOptions::default() }, pipeline.sender()));
    assert!(matches!(refused, Err(RunError::TimeoutNeedsEpochs)), "{refused:?}");

    // The guest spins on a thread of its own, as on `wasmhost run`'s.
    let (spinning_host, spinning_module, sender) = (host.clone(), module.clone(), pipeline.sender());
    let fuel = Limits { fuel: Some(6_000_000_000), ..Limits::default() };
    let spinner = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(spinning_host.run(&spinning_module, RunOptions { limits: Some(fuel), ..RunOptions::default() }, sender)).unwrap()
    });
    let started = Instant::now();
    while !out.text().contains("spinning") {
        assert!(started.elapsed() < Duration::from_secs(30), "the guest never started: {}", out.text());
        std::thread::sleep(Duration::from_millis(10));
    }
    host.stop_all();
    std::thread::sleep(Duration::from_millis(200));
    assert!(!out.text().contains("instance.stopped"), "nothing can stop it: {}", out.text());

    let closed = runtime.block_on(host.close_running());
    assert_eq!(closed.len(), 1);
    assert!(runtime.block_on(host.close_running()).is_empty(), "closed once");
    // The guest runs on until its fuel is gone; the closing events of its
    // own (out of fuel, exit) come after its log was closed, and are dropped.
    let outcome = spinner.join().unwrap();
    assert_eq!(outcome.ended, Ended::Limit(LimitHit::OutOfFuel { limit: 6_000_000_000 }));
    let report = pipeline.finish();
    assert!(report.unclosed.is_empty(), "{:?}", report.unclosed);
    let text = out.text();
    let events: Vec<&str> = text.lines().filter_map(|l| l.split(r#""event":""#).nth(1)?.split('"').next()).collect();
    assert_eq!(events, ["instance.start", "instance.stopped", "instance.exit"], "{text}");
    let last = text.lines().last().unwrap();
    assert!(last.contains(r#""exit_code":134"#) && last.contains(&closed[0].to_string()), "{last}");
}
