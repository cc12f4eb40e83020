//! Running suites: every test in its own instance, `jobs` at a time, each
//! under a timeout, its output compared with its spec.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Semaphore;
use wasmhost::{Ended, Host, LimitHit, Limits, Preopen, RunOptions, OutputBuffer};
use wasmhost_log::LogSender;

use crate::expect::Expectations;
use crate::spec::{Suite, TestCase};

/// How a test run goes.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Tests running at once (default: the number of cores).
    pub jobs: usize,
    /// Per-test wall-clock limit (default 60 s); hitting it is a failure.
    pub timeout: Duration,
    /// Run only tests whose `suite/name` contains this.
    pub filter: Option<String>,
    /// Tests to skip and tests expected to fail.
    pub expectations: Expectations,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            jobs: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            timeout: Duration::from_secs(60),
            filter: None,
            expectations: Expectations::default(),
        }
    }
}

/// What became of one test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "reason", rename_all = "snake_case")]
pub enum Outcome {
    /// It did what its spec says.
    Passed,
    /// It did not; the reason names the first difference.
    Failed(String),
    /// Not run (filtered out by the expectations file).
    Skipped(String),
    /// It failed, as the expectations file says it does.
    ExpectedFailure(String),
}

/// One test's result, as written to the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct TestResult {
    /// The suite's name.
    pub suite: String,
    /// The test's name.
    pub name: String,
    /// What became of it.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Wall time, milliseconds.
    pub duration_ms: f64,
    /// The guest's exit code, when it ran.
    pub exit_code: Option<i32>,
    /// The instance's id: its log lines carry it (and the `test` label).
    pub wasm_instance_id: Option<String>,
}

impl TestResult {
    /// `suite/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.suite, self.name)
    }
}

/// Runs every selected test of `suites` on `host`, `config.jobs` at a time,
/// sending every instance's lines (labelled `test` and `suite`) to `sender`.
/// `progress` sees each result as it comes (in the order the tests end).
/// Results are in suite and test order.
pub async fn run_suites(
    host: Arc<Host>,
    suites: &[Suite],
    config: &RunConfig,
    sender: LogSender,
    progress: impl Fn(&TestResult),
) -> Vec<TestResult> {
    let permits = Arc::new(Semaphore::new(config.jobs.max(1)));
    let dir_locks = DirLocks::default();
    let mut tasks = tokio::task::JoinSet::new();
    // Each task's place in suite and test order.
    let mut order = std::collections::HashMap::new();
    for suite in suites {
        for test in &suite.tests {
            let full = format!("{}/{}", suite.name, test.name);
            if config.filter.as_deref().is_some_and(|f| !full.contains(f)) {
                continue;
            }
            let skeleton = TestResult {
                suite: suite.name.clone(),
                name: test.name.clone(),
                outcome: Outcome::Passed,
                duration_ms: 0.0,
                exit_code: None,
                wasm_instance_id: None,
            };
            if let Some(reason) = config.expectations.skip_reason(&full) {
                let task = tasks.spawn(async move { TestResult { outcome: Outcome::Skipped(reason), ..skeleton } });
                order.insert(task.id(), order.len());
                continue;
            }
            let expect_failure = config.expectations.expects_failure(&full);
            let (host, sender, permits, timeout) = (host.clone(), sender.clone(), permits.clone(), config.timeout);
            let (suite_dir, test) = (suite.dir.clone(), test.clone());
            let locks = dir_locks.for_test(&suite_dir, &test);
            let task = tasks.spawn(async move {
                // Tests that share a directory take turns: each one's
                // `*.cleanup` sweep would delete the other's files.
                let mut _dirs = Vec::with_capacity(locks.len());
                for lock in locks {
                    _dirs.push(lock.lock_owned().await);
                }
                let _permit = permits.acquire_owned().await;
                let mut result = run_test(&host, &suite_dir, &test, skeleton, timeout, sender).await;
                result.outcome = match (result.outcome, expect_failure) {
                    (Outcome::Failed(reason), true) => Outcome::ExpectedFailure(reason),
                    (Outcome::Passed, true) => Outcome::Failed("passed, but the expectations file says it fails".into()),
                    (outcome, _) => outcome,
                };
                result
            });
            order.insert(task.id(), order.len());
        }
    }
    let mut results: Vec<Option<TestResult>> = (0..order.len()).map(|_| None).collect();
    while let Some(joined) = tasks.join_next_with_id().await {
        let (id, result) = match joined {
            Ok(done) => done,
            Err(e) => (
                e.id(),
                TestResult {
                    suite: String::new(),
                    name: String::new(),
                    outcome: Outcome::Failed(format!("the test's task failed: {e}")),
                    duration_ms: 0.0,
                    exit_code: None,
                    wasm_instance_id: None,
                },
            ),
        };
        progress(&result);
        results[order[&id]] = Some(result);
    }
    results.into_iter().flatten().collect()
}

/// One lock per preopened host directory.
#[derive(Default)]
struct DirLocks(std::sync::Mutex<std::collections::BTreeMap<std::path::PathBuf, Arc<tokio::sync::Mutex<()>>>>);

impl DirLocks {
    /// The locks of the directories `test` preopens, in path order (so two
    /// tests never wait on each other crosswise).
    fn for_test(&self, suite_dir: &Path, test: &TestCase) -> Vec<Arc<tokio::sync::Mutex<()>>> {
        let mut dirs: Vec<std::path::PathBuf> = test
            .spec
            .dirs
            .iter()
            .chain(&test.spec.root)
            .map(|d| {
                let path = suite_dir.join(d);
                path.canonicalize().unwrap_or(path)
            })
            .collect();
        dirs.sort();
        dirs.dedup();
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        dirs.into_iter().map(|d| map.entry(d).or_default().clone()).collect()
    }
}

async fn run_test(host: &Host, suite_dir: &Path, test: &TestCase, mut result: TestResult, timeout: Duration, sender: LogSender) -> TestResult {
    let started = Instant::now();
    let spec = &test.spec;
    let mut preopens: Vec<Preopen> = spec.dirs.iter().map(|d| Preopen { host: suite_dir.join(d), guest: d.clone() }).collect();
    if let Some(root) = &spec.root {
        preopens.push(Preopen { host: suite_dir.join(root), guest: "/".into() });
    }
    let cleanup = || preopens.iter().for_each(|p| remove_cleanup_entries(&p.host));
    cleanup();
    let stdout = OutputBuffer::new(16 << 20);
    let stderr = OutputBuffer::new(16 << 20);
    let options = RunOptions {
        program_name: test.module.file_name().map(|n| n.to_string_lossy().into_owned()),
        args: spec.args.clone(),
        env: spec.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        preopens: preopens.clone(),
        stdout_buffer: Some(stdout.clone()),
        stderr_copy: Some(stderr.clone()),
        labels: vec![("test".into(), result.name.clone()), ("suite".into(), result.suite.clone())],
        limits: Some(Limits { timeout: Some(timeout), ..Limits::default() }),
        ..RunOptions::default()
    };
    result.outcome = match host.load_file(&test.module) {
        Err(e) => Outcome::Failed(format!("cannot load: {e}")),
        Ok(module) => match host.run(&module, options, sender).await {
            Err(e) => Outcome::Failed(format!("cannot run: {e}")),
            Ok(outcome) => {
                result.exit_code = Some(outcome.exit_code);
                result.wasm_instance_id = Some(outcome.wasm_instance_id.to_string());
                judge(spec, &outcome.ended, outcome.exit_code, &stdout.contents(), &stderr.contents())
            }
        },
    };
    cleanup();
    // Whole microseconds: the report says 3.25, never 3.2500000000000004.
    result.duration_ms = started.elapsed().as_micros() as f64 / 1000.0;
    result
}

/// The first way the run differs from the spec, if any.
fn judge(spec: &crate::spec::Spec, ended: &Ended, exit_code: i32, stdout: &[u8], stderr: &[u8]) -> Outcome {
    match ended {
        Ended::Limit(LimitHit::Timeout { limit }) => return Outcome::Failed(format!("timed out after {:.1} s", limit.as_secs_f64())),
        Ended::Trap { message, .. } if spec.exit_code != exit_code => return Outcome::Failed(format!("trapped: {message}")),
        Ended::Error { message } => return Outcome::Failed(format!("host error: {message}")),
        _ => {}
    }
    if exit_code != spec.exit_code {
        return Outcome::Failed(format!("exit code {exit_code}, expected {}", spec.exit_code));
    }
    for (stream, expected, got) in [("stdout", &spec.stdout, stdout), ("stderr", &spec.stderr, stderr)] {
        if let Some(expected) = expected {
            if let Some(diff) = first_difference(expected.as_bytes(), got) {
                return Outcome::Failed(format!("{stream} {diff}"));
            }
        }
    }
    Outcome::Passed
}

/// Describes the first line where `got` differs from `expected`.
fn first_difference(expected: &[u8], got: &[u8]) -> Option<String> {
    if expected == got {
        return None;
    }
    let mut want = expected.split(|&b| b == b'\n');
    let mut have = got.split(|&b| b == b'\n');
    let mut line = 1;
    loop {
        match (want.next(), have.next()) {
            (Some(w), Some(h)) if w == h => line += 1,
            (w, h) => {
                let show = |l: Option<&[u8]>| l.map(|l| format!("{:?}", String::from_utf8_lossy(l))).unwrap_or_else(|| "end of output".into());
                return Some(format!("line {line}: expected {}, got {}", show(w), show(h)));
            }
        }
    }
}

/// Removes files and directories named `*.cleanup` anywhere under `dir`
/// (without following symlinks): what tests leave behind.
fn remove_cleanup_entries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else { continue };
        if path.extension().is_some_and(|e| e == "cleanup") {
            let _ = if kind.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        } else if kind.is_dir() {
            remove_cleanup_entries(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_the_first_line() {
        assert_eq!(first_difference(b"a\nb\n", b"a\nb\n"), None);
        assert_eq!(first_difference(b"a\nb\n", b"a\nc\n").unwrap(), r#"line 2: expected "b", got "c""#);
        assert_eq!(first_difference(b"a\n", b"a\nextra\n").unwrap(), r#"line 2: expected "", got "extra""#);
        assert_eq!(first_difference(b"a\nb", b"a").unwrap(), r#"line 2: expected "b", got end of output"#);
    }

    #[test]
    fn cleanup_removes_only_cleanup_entries() {
        let dir = std::env::temp_dir().join(format!("wasmhost-cleanup-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("keep/x.cleanup/inner")).unwrap();
        std::fs::write(dir.join("keep/file.cleanup"), "x").unwrap();
        std::fs::write(dir.join("keep/file.txt"), "x").unwrap();
        remove_cleanup_entries(&dir);
        assert!(!dir.join("keep/x.cleanup").exists());
        assert!(!dir.join("keep/file.cleanup").exists());
        assert!(dir.join("keep/file.txt").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
