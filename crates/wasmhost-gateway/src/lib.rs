//! An example edge gateway on the `wasmhost` library: routes map URL paths to
//! guests, and every request runs one instance of its route's guest, with
//! the request body on stdin and the guest's stdout as the response body.
//! The instance's lines carry the request's id (`x-request-id`, or a new
//! UUIDv7) and its W3C `traceparent`, so one request's guest output is one
//! LogQL query away.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use std::sync::Arc;
//! use wasmhost::{Host, HostConfig, Limits};
//! use wasmhost_gateway::Gateway;
//! use wasmhost_log::{JsonFormat, Pipeline, WriterSink};
//!
//! let host = Arc::new(Host::new(HostConfig::default())?);
//! let upper = host.load_file("guests/build/c/upper.wasm".as_ref())?;
//! let pipeline = Pipeline::spawn(Box::new(WriterSink::new(JsonFormat, std::io::stderr())), 16 * 1024)?;
//! let gateway = Arc::new(Gateway::new(host, vec![("/upper".into(), upper)], pipeline.sender(), Limits::default()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! gateway.serve(listener).await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod sidecar;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use wasmhost::{Host, Limits, LoadedModule, RunOptions, Stdin, OutputBuffer};
use wasmhost_log::LogSender;

/// Largest request body passed to a guest, and largest response it may write.
pub const MAX_BODY: usize = 1 << 20;

/// Routes and the host that runs them.
pub struct Gateway {
    host: Arc<Host>,
    routes: HashMap<String, Arc<LoadedModule>>,
    sender: LogSender,
    limits: Limits,
    labels: Vec<(String, String)>,
}

impl Gateway {
    /// A gateway serving `routes` (exact paths) with `host`, sending every
    /// instance's lines to `sender`, each instance under `limits`.
    pub fn new(host: Arc<Host>, routes: Vec<(String, LoadedModule)>, sender: LogSender, limits: Limits) -> Gateway {
        let routes = routes.into_iter().map(|(path, module)| (path, Arc::new(module))).collect();
        Gateway { host, routes, sender, limits, labels: Vec::new() }
    }

    /// Adds labels to every line of every instance (e.g. `job=gateway`, so
    /// `{job="gateway"}` selects them in Loki).
    pub fn with_labels(mut self, labels: Vec<(String, String)>) -> Gateway {
        self.labels = labels;
        self
    }

    /// Accepts HTTP/1.1 connections on `listener` until it fails.
    pub async fn serve(self: Arc<Self>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        self.serve_until(listener, std::future::pending(), std::time::Duration::MAX).await
    }

    /// Serves until `shutdown` resolves (e.g. SIGTERM), then drains: no new
    /// connection is accepted, idle ones are closed, requests in flight get
    /// `grace` to finish, and the guests still running after it are stopped
    /// (each ends with `instance.stopped` and `instance.exit`, and its
    /// client gets its response). Returns when every connection is closed;
    /// then the log pipeline can be shut down with nothing lost.
    pub async fn serve_until(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()>,
        grace: std::time::Duration,
    ) -> std::io::Result<()> {
        let host = self.host.clone();
        let handle = move |req| {
            let gateway = self.clone();
            async move { gateway.handle(req).await }
        };
        serve_until(listener, shutdown, &host, grace, handle, || {}).await
    }

    /// Runs the route's guest for one request.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let Some(module) = self.routes.get(req.uri().path()).cloned() else {
            return plain(StatusCode::NOT_FOUND, "no route\n".into(), None);
        };
        let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let request_id = header("x-request-id")
            .filter(|id| !id.is_empty() && id.len() <= 128)
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let traceparent = header("traceparent");
        let route = req.uri().path().to_owned();
        let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
            Ok(body) => body.to_bytes(),
            Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n".into(), Some(&request_id)),
        };
        let stdout = OutputBuffer::new(MAX_BODY);
        let options = RunOptions {
            program_name: Some(route.clone()),
            stdin: Stdin::Bytes(body.to_vec()),
            stdout_buffer: Some(stdout.clone()),
            labels: self
                .labels
                .iter()
                .cloned()
                .chain([("request_id".into(), request_id.clone()), ("route".into(), route)])
                .collect(),
            traceparent,
            limits: Some(self.limits),
            ..RunOptions::default()
        };
        // Each instance in its own task: its own task_id, and a guest that
        // brings its task down cannot take the connection with it.
        let (host, sender) = (self.host.clone(), self.sender.clone());
        let outcome = tokio::spawn(async move { host.run(&module, options, sender).await }).await;
        match outcome {
            Ok(Ok(outcome)) if outcome.exit_code == 0 => {
                let mut response = plain(StatusCode::OK, stdout.contents(), Some(&request_id));
                if let Ok(id) = outcome.wasm_instance_id.to_string().parse() {
                    response.headers_mut().insert("x-wasm-instance-id", id);
                }
                response
            }
            Ok(Ok(outcome)) => {
                let text = format!("guest exited with {} (instance {})\n", outcome.exit_code, outcome.wasm_instance_id);
                plain(StatusCode::BAD_GATEWAY, text.into(), Some(&request_id))
            }
            Ok(Err(e)) => plain(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n").into(), Some(&request_id)),
            Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, format!("instance task failed: {e}\n").into(), Some(&request_id)),
        }
    }
}

fn plain(status: StatusCode, body: Bytes, request_id: Option<&str>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    if let Some(id) = request_id.and_then(|id| id.parse().ok()) {
        response.headers_mut().insert("x-request-id", id);
    }
    response
}

/// The HTTP/1.1 accept loop of the gateway and the sidecar, with their
/// drain: until `shutdown` resolves every connection is served by `handle`;
/// then `on_drain` runs, no connection is accepted, idle connections are
/// closed, and in-flight requests get `grace` to finish; the guests still
/// running after it are stopped ([`Host::stop_all`]) and their clients
/// still get their responses. Returns when every connection is closed (or,
/// should a client not read its response, after another `grace`).
async fn serve_until<H, F>(
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
    host: &Host,
    grace: std::time::Duration,
    handle: H,
    on_drain: impl FnOnce(),
) -> std::io::Result<()>
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: std::future::Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let mut shutdown = std::pin::pin!(shutdown);
    let (drain, draining) = tokio::sync::watch::channel(false);
    // Every connection task holds a clone; `recv` ends when all are gone.
    let (open, mut all_closed) = tokio::sync::mpsc::channel::<()>(1);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => break,
        };
        let (handle, mut draining, open) = (handle.clone(), draining.clone(), open.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let answer = handle(req);
                async move { Ok::<_, Infallible>(answer.await) }
            });
            let connection = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            // A client that goes away mid-request is not the server's error.
            tokio::select! {
                _ = connection.as_mut() => {}
                // (The watch's guard is dropped in here, not held across the await below.)
                () = async { let _ = draining.wait_for(|d| *d).await; } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(open);
        });
    }
    on_drain();
    drop(listener);
    drain.send_replace(true);
    drop(open);
    if tokio::time::timeout(grace, all_closed.recv()).await.is_err() {
        // Stopped guests end at their next epoch tick (or at once when
        // blocked in a host call); their runs then log their closing
        // events and answer their clients.
        host.stop_all();
        let _ = tokio::time::timeout(grace, all_closed.recv()).await;
    }
    Ok(())
}
