//! The sidecar (`wasmhost serve`): an HTTP API that runs the modules of a
//! directory by name, for gateways that would rather talk to a process than
//! link a library. `POST /run/{module}` runs one instance: args, env and
//! labels from the query (`?arg=a&env=K=V&label=k=v`) or headers
//! (`x-wasmhost-arg`, `x-wasmhost-env`, `x-wasmhost-label`, each
//! repeatable), `traceparent` from its header, the body as stdin; the
//! guest's stdout is the response body, and `x-wasmhost-exit-code`,
//! `x-wasmhost-outcome`, `x-wasm-instance-id` and `x-wasmhost-trace-id`
//! say how it went. `x-wasmhost-timeout-ms` shortens the instance's timeout
//! (a client's deadline; the configured one stays the most), and a client
//! that closes its connection before the answer stops its guest
//! (`instance.stopped`, as a cancelled run). `GET /healthz` answers while the process lives,
//! `GET /readyz` until it starts draining. Beyond `max_concurrent` runs a
//! request gets 503 with `Retry-After`; a body beyond `max_body` gets 413.
//!
//! A request with `x-wasmhost-records: ndjson` also gets the run's own
//! records back ([`RECORDS_HEADER`]): the answer is then `multipart/mixed`,
//! a `stdout` part holding the guest's stdout byte for byte and a `records`
//! part holding its records as JSON lines, the lines the JSON sinks write
//! (besides the sinks, which get them as always). The boundary is chosen so
//! that it occurs in neither part.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::Semaphore;
use wasmhost::{CancelToken, Host, Limits, LoadError, LoadedModule, OutputBuffer, RunError, RunOptions, Stdin, TraceParent};
use wasmhost_log::{Format, JsonFormat, LogRecord, LogSender, RecordTap};

use crate::plain;

/// How the sidecar serves.
#[derive(Debug, Clone)]
pub struct SidecarConfig {
    /// Runs at once; more requests get 503 with `Retry-After`.
    pub max_concurrent: usize,
    /// Largest request body (the guest's stdin), and largest stdout kept.
    pub max_body: usize,
    /// Limits of every instance.
    pub limits: Limits,
    /// Labels on every line of every instance (e.g. `job=sidecar`).
    pub labels: Vec<(String, String)>,
    /// How long in-flight runs get to finish after a shutdown begins;
    /// past it their guests are stopped (`instance.stopped`).
    pub drain_grace: Duration,
}

impl Default for SidecarConfig {
    fn default() -> Self {
        SidecarConfig { max_concurrent: 64, max_body: crate::MAX_BODY, limits: Limits::default(), labels: Vec::new(), drain_grace: Duration::from_secs(10) }
    }
}

/// The seconds a client is told to wait when every run slot is taken.
const RETRY_AFTER_SECS: &str = "1";

/// The modules of a directory, served by name.
pub struct Sidecar {
    host: Arc<Host>,
    modules: HashMap<String, Arc<LoadedModule>>,
    sender: LogSender,
    config: SidecarConfig,
    slots: Arc<Semaphore>,
    draining: AtomicBool,
}

/// Loads every `.wasm` and `.wat` file of `dir` (not its subdirectories),
/// named by its file stem.
pub fn load_dir(host: &Host, dir: &Path) -> Result<Vec<(String, LoadedModule)>, LoadError> {
    let read_error = |error| LoadError::Read { path: dir.to_owned(), error };
    let mut modules = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir).map_err(read_error)?.collect::<Result<_, _>>().map_err(read_error)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let is_module = matches!(path.extension().and_then(|e| e.to_str()), Some("wasm" | "wat"));
        let Some(name) = path.file_stem().and_then(|s| s.to_str()).filter(|_| is_module && path.is_file()) else { continue };
        modules.push((name.to_owned(), host.load_file(&path)?));
    }
    Ok(modules)
}

impl Sidecar {
    /// A sidecar serving `modules` with `host`, every instance's lines to `sender`.
    pub fn new(host: Arc<Host>, modules: Vec<(String, LoadedModule)>, sender: LogSender, config: SidecarConfig) -> Sidecar {
        let slots = Arc::new(Semaphore::new(config.max_concurrent));
        let modules = modules.into_iter().map(|(name, module)| (name, Arc::new(module))).collect();
        Sidecar { host, modules, sender, config, slots, draining: AtomicBool::new(false) }
    }

    /// Serves HTTP/1.1 on `listener` until `shutdown` resolves, then drains:
    /// `/readyz` fails, no connection is accepted, idle connections are
    /// closed, and in-flight requests get `drain_grace` to finish; the
    /// guests still running after it are stopped (each ends with
    /// `instance.stopped` and `instance.exit`) and their clients still get
    /// their responses. Returns when every connection is closed (or, should
    /// a client not read its response, after another `drain_grace`).
    pub async fn serve(self: Arc<Self>, listener: tokio::net::TcpListener, shutdown: impl std::future::Future<Output = ()>) -> std::io::Result<()> {
        let (sidecar, handler) = (self.clone(), self.clone());
        let handle = move |req| {
            let sidecar = handler.clone();
            async move { sidecar.handle(req).await }
        };
        crate::serve_until(listener, shutdown, &self.host, self.config.drain_grace, handle, || sidecar.draining.store(true, Ordering::SeqCst)).await
    }

    /// Answers one request.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        match (req.method(), path.as_str()) {
            (&Method::GET, "/healthz") => plain(StatusCode::OK, "ok\n".into(), None),
            (&Method::GET, "/readyz") if self.draining.load(Ordering::SeqCst) => unavailable("draining\n"),
            (&Method::GET, "/readyz") => plain(StatusCode::OK, "ready\n".into(), None),
            (method, _) if path.starts_with("/run/") => match *method {
                Method::POST => self.run(req, &path["/run/".len()..]).await,
                _ => {
                    let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "use POST\n".into(), None);
                    response.headers_mut().insert("allow", HeaderValue::from_static("POST"));
                    response
                }
            },
            _ => plain(StatusCode::NOT_FOUND, "not found: POST /run/{module}, GET /healthz, GET /readyz\n".into(), None),
        }
    }

    async fn run(&self, req: Request<Incoming>, name: &str) -> Response<Full<Bytes>> {
        let Some(module) = self.modules.get(name).cloned() else {
            return plain(StatusCode::NOT_FOUND, format!("no module {name:?}\n").into(), None);
        };
        if self.draining.load(Ordering::SeqCst) {
            return unavailable("draining\n");
        }
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            return unavailable("every run slot is taken\n");
        };
        let declared = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.config.max_body as u64) {
            return too_large(self.config.max_body);
        }
        let (args, env, labels) = match request_options(&req) {
            Ok(options) => options,
            Err(reason) => return plain(StatusCode::BAD_REQUEST, format!("{reason}\n").into(), None),
        };
        let limits = match client_timeout(&req) {
            Ok(Some(asked)) => Limits { timeout: Some(self.config.limits.timeout.map_or(asked, |t| t.min(asked))), ..self.config.limits },
            Ok(None) => self.config.limits,
            Err(reason) => return plain(StatusCode::BAD_REQUEST, format!("{reason}\n").into(), None),
        };
        let traceparent = req.headers().get("traceparent").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let records = match wants_records(&req) {
            Ok(wanted) => wanted.then(|| Arc::new(Mutex::new(RecordBuffer::new(self.config.max_body)))),
            Err(reason) => return plain(StatusCode::BAD_REQUEST, format!("{reason}\n").into(), None),
        };
        let body = match Limited::new(req.into_body(), self.config.max_body).collect().await {
            Ok(body) => body.to_bytes(),
            Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => return too_large(self.config.max_body),
            Err(e) => return plain(StatusCode::BAD_REQUEST, format!("reading the body: {e}\n").into(), None),
        };
        let stdout = OutputBuffer::new(self.config.max_body);
        let options = RunOptions {
            program_name: Some(name.to_owned()),
            args,
            env,
            stdin: Stdin::Bytes(body.to_vec()),
            stdout_buffer: Some(stdout.clone()),
            labels: self.config.labels.iter().cloned().chain(labels).collect(),
            traceparent: traceparent.clone(),
            limits: Some(limits),
            cancel: Some(CancelToken::new()),
            on_record: records.clone().map(RecordBuffer::tap),
            ..RunOptions::default()
        };
        // hyper drops this future when the client closes its connection:
        // the guard then stops the guest, whose answer nobody would read.
        let _stop_if_dropped = options.cancel.clone().map(CancelOnDrop);
        // Each instance in its own task: its own task_id, and a guest that
        // brings its task down cannot take the connection with it.
        let (host, sender) = (self.host.clone(), self.sender.clone());
        let outcome = tokio::spawn(async move {
            let outcome = host.run(&module, options, sender).await;
            drop(slot);
            outcome
        })
        .await;
        let outcome = match outcome {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(e @ (RunError::Label(_) | RunError::NoEntry { .. }))) => return plain(StatusCode::BAD_REQUEST, format!("{e}\n").into(), None),
            Ok(Err(e)) => return plain(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n").into(), None),
            Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, format!("instance task failed: {e}\n").into(), None),
        };
        let mut response = match records {
            None => plain(StatusCode::OK, stdout.contents(), None),
            Some(records) => {
                let records = std::mem::take(&mut *records.lock().unwrap_or_else(|e| e.into_inner()));
                with_records(&stdout.contents(), records, &outcome.wasm_instance_id.to_string())
            }
        };
        let headers = response.headers_mut();
        headers.insert("x-wasmhost-exit-code", HeaderValue::from(outcome.exit_code));
        headers.insert("x-wasmhost-outcome", HeaderValue::from_static(outcome.ended.name()));
        if let Ok(id) = HeaderValue::from_str(&outcome.wasm_instance_id.to_string()) {
            headers.insert("x-wasm-instance-id", id);
        }
        if let Some(trace) = traceparent.as_deref().and_then(TraceParent::parse) {
            if let Ok(id) = HeaderValue::from_str(&trace.trace_id) {
                headers.insert("x-wasmhost-trace-id", id);
            }
        }
        response
    }
}

/// The request header that asks for the run's records with the answer; its
/// one value is `ndjson` (see the module's doc).
pub const RECORDS_HEADER: &str = "x-wasmhost-records";

/// The answer's header counting the records left out of the `records` part
/// because they would have taken it past `max_body` bytes: the part holds
/// the run's first records, without gaps, and this says how many followed.
pub const RECORDS_DROPPED_HEADER: &str = "x-wasmhost-records-dropped";

/// Whether the client asked for the run's records (`x-wasmhost-records: ndjson`).
fn wants_records(req: &Request<Incoming>) -> Result<bool, String> {
    match req.headers().get(RECORDS_HEADER) {
        None => Ok(false),
        Some(value) if value.as_bytes().eq_ignore_ascii_case(b"ndjson") => Ok(true),
        Some(value) => Err(format!("{RECORDS_HEADER} {value:?}: the one value is \"ndjson\"")),
    }
}

/// One run's records as JSON lines, as its instance makes them, up to a
/// size; past it the rest are counted, not kept.
#[derive(Default)]
struct RecordBuffer {
    lines: Vec<u8>,
    limit: usize,
    dropped: u64,
}

impl RecordBuffer {
    fn new(limit: usize) -> RecordBuffer {
        RecordBuffer { limit, ..RecordBuffer::default() }
    }

    /// The instance's tap that fills `buffer`.
    fn tap(buffer: Arc<Mutex<RecordBuffer>>) -> RecordTap {
        RecordTap::new(move |record| buffer.lock().unwrap_or_else(|e| e.into_inner()).push(record))
    }

    fn push(&mut self, record: &LogRecord) {
        if self.dropped > 0 {
            self.dropped += 1;
            return;
        }
        let before = self.lines.len();
        if JsonFormat.format(record, &mut self.lines).is_err() || self.lines.len() > self.limit {
            self.lines.truncate(before);
            self.dropped = 1;
        }
    }
}

/// The `multipart/mixed` answer with the guest's stdout and its records.
fn with_records(stdout: &[u8], records: RecordBuffer, instance_id: &str) -> Response<Full<Bytes>> {
    let (boundary, body) = multipart(stdout, &records.lines, instance_id);
    let mut response = plain(StatusCode::OK, body.into(), None);
    let headers = response.headers_mut();
    if let Ok(kind) = HeaderValue::from_str(&format!("multipart/mixed; boundary={boundary}")) {
        headers.insert(CONTENT_TYPE, kind);
    }
    if records.dropped > 0 {
        headers.insert(RECORDS_DROPPED_HEADER, HeaderValue::from(records.dropped));
    }
    response
}

/// The boundary and the body of the answer's two parts. The boundary starts
/// from the instance's id and grows until neither part holds it, so
/// neither part needs escaping: both are sent byte for byte.
fn multipart(stdout: &[u8], records: &[u8], instance_id: &str) -> (String, Vec<u8>) {
    let holds = |part: &[u8], boundary: &str| part.windows(boundary.len()).any(|w| w == boundary.as_bytes());
    let mut boundary = format!("wasmhost-{instance_id}");
    while holds(stdout, &boundary) || holds(records, &boundary) {
        boundary.push('x');
    }
    let mut body = Vec::with_capacity(stdout.len() + records.len() + 3 * boundary.len() + 256);
    for (name, kind, part) in [("stdout", "application/octet-stream", stdout), ("records", "application/x-ndjson", records)] {
        body.extend_from_slice(format!("--{boundary}\r\ncontent-type: {kind}\r\ncontent-disposition: inline; name=\"{name}\"\r\n\r\n").as_bytes());
        body.extend_from_slice(part);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (boundary, body)
}

/// Cancels its token when dropped: with the request's future, when hyper
/// gives up on a closed connection (after the run ended, to no effect).
struct CancelOnDrop(CancelToken);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// The client's `x-wasmhost-timeout-ms` (a positive number of milliseconds).
fn client_timeout(req: &Request<Incoming>) -> Result<Option<Duration>, String> {
    let Some(value) = req.headers().get("x-wasmhost-timeout-ms") else { return Ok(None) };
    match value.to_str().ok().and_then(|v| v.parse::<u64>().ok()).filter(|ms| *ms > 0) {
        Some(ms) => Ok(Some(Duration::from_millis(ms))),
        None => Err(format!("x-wasmhost-timeout-ms {value:?}: expected a positive number of milliseconds")),
    }
}

type Pairs = Vec<(String, String)>;

/// Args, env and labels from the query and the `x-wasmhost-*` headers.
fn request_options(req: &Request<Incoming>) -> Result<(Vec<String>, Pairs, Pairs), String> {
    let mut args: Vec<String> = Vec::new();
    let (mut env, mut labels): (Pairs, Pairs) = (Vec::new(), Vec::new());
    let query = req.uri().query().unwrap_or_default();
    let from_query = form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned()));
    let from_headers = ["arg", "env", "label"].into_iter().flat_map(|kind| {
        req.headers()
            .get_all(format!("x-wasmhost-{kind}"))
            .iter()
            .map(move |v| v.to_str().map(|v| (kind.to_owned(), v.to_owned())).map_err(|_| format!("header x-wasmhost-{kind} is not visible ASCII")))
    });
    for pair in from_query.map(Ok).chain(from_headers) {
        let (kind, value) = pair?;
        let split = |value: &str| value.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).ok_or_else(|| format!("{kind} {value:?}: expected KEY=VALUE"));
        match kind.as_str() {
            "arg" => args.push(value),
            "env" => env.push(split(&value)?),
            "label" => labels.push(split(&value)?),
            other => return Err(format!("unknown query parameter {other:?} (arg, env, label)")),
        }
    }
    Ok((args, env, labels))
}

fn unavailable(text: &'static str) -> Response<Full<Bytes>> {
    let mut response = plain(StatusCode::SERVICE_UNAVAILABLE, text.into(), None);
    response.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
    response
}

fn too_large(limit: usize) -> Response<Full<Bytes>> {
    plain(StatusCode::PAYLOAD_TOO_LARGE, format!("the request body is larger than {limit} bytes\n").into(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boundary_grows_until_neither_part_holds_it() {
        let (boundary, body) = multipart(b"out\r\n--wasmhost-id\r\n", b"{\"msg\":\"wasmhost-idx\"}\n", "id");
        assert_eq!(boundary, "wasmhost-idxx");
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "--wasmhost-idxx\r\ncontent-type: application/octet-stream\r\ncontent-disposition: inline; name=\"stdout\"\r\n\r\n\
             out\r\n--wasmhost-id\r\n\r\n\
             --wasmhost-idxx\r\ncontent-type: application/x-ndjson\r\ncontent-disposition: inline; name=\"records\"\r\n\r\n\
             {\"msg\":\"wasmhost-idx\"}\n\r\n\
             --wasmhost-idxx--\r\n"
        );
    }

    #[test]
    fn records_past_the_limit_are_counted_not_kept() {
        let ctx = Arc::new(wasmhost_log::InstanceContext::new("id", "c", "m"));
        let record = |seq| LogRecord::event(ctx.clone(), seq, wasmhost_log::Level::Info, "instance.start", "x".repeat(100), vec![]);
        let mut line = Vec::new();
        JsonFormat.format(&record(1), &mut line).unwrap();
        let mut buffer = RecordBuffer::new(2 * line.len() + 10);
        for seq in 1..=5 {
            buffer.push(&record(seq));
        }
        assert_eq!((buffer.lines.len(), buffer.dropped), (2 * line.len(), 3));
    }
}
