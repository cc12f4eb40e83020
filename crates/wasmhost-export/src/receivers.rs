//! In-process receivers for tests (feature `receivers`): a Loki push
//! endpoint, an OTLP/HTTP endpoint and an OTLP/gRPC `LogsService`, on
//! 127.0.0.1, decoding what the real servers decode — Loki's push protobuf
//! (snappy block format) and push JSON (optionally gzip), OTLP protobuf over
//! HTTP and gRPC, and OTLP/JSON — and misbehaving on request ([`Action`]).
//! Each can listen over TLS ([`Receiver::tls`]) with certificates that
//! [`TestPki`] makes, optionally requiring a client certificate (mTLS).

use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use tokio::sync::watch;

use crate::loki::PushRequest;

/// What the receiver does with one request (by its number, from 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Decode, keep, answer 2xx.
    Accept,
    /// Answer this status (nothing kept), with `Retry-After` seconds if
    /// given. OTLP/HTTP answers with a `google.rpc.Status` body in the
    /// request's encoding, as a collector does; gRPC answers
    /// RESOURCE_EXHAUSTED for 429, INVALID_ARGUMENT for 400, UNAVAILABLE
    /// otherwise, with the seconds as `RetryInfo`.
    Status(u16, Option<u64>, String),
    /// gRPC only: answer this code, with `RetryInfo` if a delay is given
    /// (HTTP receivers answer 500).
    Grpc(tonic::Code, Option<Duration>, String),
    /// OTLP: keep the batch and answer success with `partial_success`
    /// saying this many records were rejected, and why (Loki: a plain 204).
    Partial(u64, String),
    /// Answer this status with `Retry-After` as an HTTP-date this far ahead
    /// (HTTP only; whole seconds, as the date has no finer unit).
    StatusUntil(u16, Duration, String),
    /// Read the request and never answer.
    Hang,
    /// Keep the batch, then drop the connection without answering (gRPC:
    /// every open connection, as a crash would): the client cannot know it
    /// arrived (at-least-once makes a duplicate).
    AcceptThenDrop,
    /// Answer 2xx without decoding (benchmarks: the receiver's own CPU
    /// should not compete with the sender's); only bytes are counted. Over
    /// gRPC only [`Receiver::ack_only`] skips decoding.
    AckOnly,
}

/// Which protocol a receiver speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `POST /loki/api/v1/push`.
    Loki,
    /// `POST /v1/logs`.
    OtlpHttp,
    /// `LogsService/Export` over gRPC.
    OtlpGrpc,
}

/// One line as the receiver decoded it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Loki: the stream labels; OTLP: the resource attributes.
    pub labels: BTreeMap<String, String>,
    /// Nanoseconds since the epoch.
    pub ts_ns: u128,
    /// Loki: the line; OTLP: the body.
    pub line: String,
    /// Loki: structured metadata; OTLP: the record's attributes (as text).
    pub metadata: BTreeMap<String, String>,
    /// OTLP only: the full record.
    pub otlp: Option<opentelemetry_proto::tonic::logs::v1::LogRecord>,
    /// OTLP only: the scope name.
    pub scope: String,
}

type Script = Box<dyn Fn(u64) -> Action + Send + Sync>;

struct State {
    entries: Mutex<Vec<Entry>>,
    requests: AtomicU64,
    wire_bytes: AtomicU64,
    script: Script,
    content_types: Mutex<Vec<String>>,
    headers: Mutex<Vec<(String, String)>>,
    /// gRPC without tonic: read the request's bytes and answer OK.
    raw_grpc: bool,
    /// TLS handshakes that failed (untrusted certificates, no client certificate).
    tls_failures: AtomicU64,
    /// Kills every open connection ([`Action::AcceptThenDrop`] over gRPC,
    /// where a handler cannot drop its own connection).
    kill: tokio::sync::Notify,
    /// HTTP: bodies longer than this (as received, compressed) are
    /// answered 413, as Loki's and a collector's request size limits do.
    max_body: Option<usize>,
}

impl State {
    fn new(script: Script, raw_grpc: bool, max_body: Option<usize>) -> Arc<State> {
        Arc::new(State {
            entries: Mutex::new(Vec::new()),
            requests: AtomicU64::new(0),
            wire_bytes: AtomicU64::new(0),
            script,
            content_types: Mutex::new(Vec::new()),
            headers: Mutex::new(Vec::new()),
            raw_grpc,
            tls_failures: AtomicU64::new(0),
            kill: tokio::sync::Notify::new(),
            max_body,
        })
    }
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<State>,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
    kind: Kind,
    tls: Option<Arc<rustls::ServerConfig>>,
}

/// Test certificates made with rcgen and written as PEM files: a CA, a
/// server certificate for `127.0.0.1` and `localhost`, and a client
/// certificate, both signed by the CA.
pub struct TestPki {
    /// The CA certificate (what a client trusts).
    pub ca: PathBuf,
    /// The server's certificate.
    pub server_cert: PathBuf,
    /// The server's private key.
    pub server_key: PathBuf,
    /// A client certificate for mTLS.
    pub client_cert: PathBuf,
    /// Its private key.
    pub client_key: PathBuf,
}

impl TestPki {
    /// Makes a fresh CA and its two certificates in `dir`.
    pub fn generate(dir: &Path) -> TestPki {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::new()).expect("CA parameters");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "wasmhost test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key")).expect("CA certificate");
        let leaf = |names: Vec<String>, cn: &str| {
            let key = KeyPair::generate().expect("key");
            let mut params = CertificateParams::new(names).expect("parameters");
            params.distinguished_name.push(DnType::CommonName, cn);
            (params.signed_by(&key, &ca).expect("signing").pem(), key.serialize_pem())
        };
        let (server_cert, server_key) = leaf(vec!["127.0.0.1".into(), "localhost".into()], "receiver");
        let (client_cert, client_key) = leaf(vec!["wasmhost-client".into()], "wasmhost-client");
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).expect("writing a PEM file");
            path
        };
        TestPki {
            ca: write("ca.pem", &ca.pem()),
            server_cert: write("server.pem", &server_cert),
            server_key: write("server.key", &server_key),
            client_cert: write("client.pem", &client_cert),
            client_key: write("client.key", &client_key),
        }
    }

    /// The server side: this PKI's server certificate, and with `mtls` a
    /// demand for a client certificate signed by its CA.
    pub fn server_config(&self, mtls: bool) -> rustls::ServerConfig {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("TLS versions");
        let builder = if mtls {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(&self.ca).expect("CA file") {
                roots.add(cert.expect("CA certificate")).expect("CA in store");
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let chain = CertificateDer::pem_file_iter(&self.server_cert).expect("server certificate").map(|c| c.expect("PEM")).collect();
        let key = PrivateKeyDer::from_pem_file(&self.server_key).expect("server key");
        builder.with_single_cert(chain, key).expect("server certificate and key")
    }
}

/// Serves one connection (plain or TLS) of a receiver of `kind`.
async fn serve_connection<I>(io: I, kind: Kind, st: Arc<State>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    match kind {
        Kind::OtlpGrpc if st.raw_grpc => {
            let svc = hyper::service::service_fn(move |req| raw_grpc_ack(st.clone(), req));
            let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new()).serve_connection(io, svc).await;
        }
        Kind::OtlpGrpc => {
            let server = LogsServiceServer::new(Grpc(st)).accept_compressed(tonic::codec::CompressionEncoding::Gzip);
            let svc = hyper_util::service::TowerToHyperService::new(server);
            let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new()).serve_connection(io, svc).await;
        }
        _ => {
            // A dropped answer must drop the connection: the handler's
            // `None` aborts it by erroring.
            let svc = hyper::service::service_fn(move |req| {
                let st = st.clone();
                async move { answer(st, kind, req).await.ok_or("dropped") }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, svc).await;
        }
    }
}

fn text_of(v: &Option<opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(n)) => n.to_string(),
        Some(any_value::Value::DoubleValue(n)) => n.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn attrs(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter().map(|kv| (kv.key.clone(), text_of(&kv.value))).collect()
}

/// Loki's label set syntax `{a="x", b="y"}`, values Go-quoted.
fn loki_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let inner = text.trim().strip_prefix('{').and_then(|t| t.strip_suffix('}')).ok_or("labels not in braces")?;
    let mut out = BTreeMap::new();
    let mut rest = inner.trim();
    while !rest.is_empty() {
        let (name, after) = rest.split_once('=').ok_or("expected name=value")?;
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("bad label name {name:?}"));
        }
        let mut it = serde_json::Deserializer::from_str(after.trim_start()).into_iter::<String>();
        let value = it.next().ok_or("missing value")?.map_err(|e| e.to_string())?;
        let used = it.byte_offset() + (after.len() - after.trim_start().len());
        out.insert(name.to_owned(), value);
        rest = after[used..].trim_start().trim_start_matches(',').trim_start();
    }
    Ok(out)
}

fn decode_loki(content_type: &str, body: &[u8]) -> Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    if content_type.starts_with("application/x-protobuf") {
        let raw = snap::raw::Decoder::new().decompress_vec(body).map_err(|e| format!("snappy: {e}"))?;
        let req: PushRequest = prost::Message::decode(raw.as_slice()).map_err(|e| format!("protobuf: {e}"))?;
        for s in req.streams {
            let labels = loki_labels(&s.labels)?;
            for e in s.entries {
                let ts = e.timestamp.unwrap_or_default();
                out.push(Entry {
                    labels: labels.clone(),
                    ts_ns: ts.seconds as u128 * 1_000_000_000 + ts.nanos as u128,
                    line: e.line,
                    metadata: e.structured_metadata.into_iter().map(|p| (p.name, p.value)).collect(),
                    otlp: None,
                    scope: String::new(),
                });
            }
        }
    } else if content_type.starts_with("application/json") {
        let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("json: {e}"))?;
        for s in v["streams"].as_array().ok_or("no streams")? {
            let labels: BTreeMap<String, String> = serde_json::from_value(s["stream"].clone()).map_err(|e| e.to_string())?;
            for value in s["values"].as_array().ok_or("no values")? {
                let ts = value[0].as_str().ok_or("ts must be a string")?.parse::<u128>().map_err(|e| e.to_string())?;
                let metadata = match value.get(2) {
                    Some(m) => serde_json::from_value(m.clone()).map_err(|e| e.to_string())?,
                    None => BTreeMap::new(),
                };
                out.push(Entry {
                    labels: labels.clone(),
                    ts_ns: ts,
                    line: value[1].as_str().ok_or("line must be a string")?.to_owned(),
                    metadata,
                    otlp: None,
                    scope: String::new(),
                });
            }
        }
    } else {
        return Err(format!("unsupported content type {content_type:?}"));
    }
    Ok(out)
}

fn otlp_entries(req: ExportLogsServiceRequest) -> Vec<Entry> {
    let mut out = Vec::new();
    for rl in req.resource_logs {
        let labels = rl.resource.map(|r| attrs(&r.attributes)).unwrap_or_default();
        for sl in rl.scope_logs {
            let scope = sl.scope.map(|s| s.name).unwrap_or_default();
            for r in sl.log_records {
                out.push(Entry {
                    labels: labels.clone(),
                    ts_ns: r.time_unix_nano as u128,
                    line: text_of(&r.body),
                    metadata: attrs(&r.attributes),
                    scope: scope.clone(),
                    otlp: Some(r),
                });
            }
        }
    }
    out
}

fn decode_otlp_http(content_type: &str, body: &[u8]) -> Result<Vec<Entry>, String> {
    let req: ExportLogsServiceRequest = if content_type.starts_with("application/x-protobuf") {
        prost::Message::decode(body).map_err(|e| format!("protobuf: {e}"))?
    } else if content_type.starts_with("application/json") {
        serde_json::from_slice(body).map_err(|e| format!("json: {e}"))?
    } else {
        return Err(format!("unsupported content type {content_type:?}"));
    };
    Ok(otlp_entries(req))
}

struct Grpc(Arc<State>);

#[tonic::async_trait]
impl LogsService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let n = self.0.requests.fetch_add(1, Ordering::SeqCst);
        {
            let mut h = crate::lock(&self.0.headers);
            for kv in request.metadata().iter() {
                if let tonic::metadata::KeyAndValueRef::Ascii(k, v) = kv {
                    h.push((k.to_string(), v.to_str().unwrap_or_default().to_owned()));
                }
            }
        }
        match (self.0.script)(n) {
            // Decoded all the same (tonic does); `Receiver::ack_only` does not.
            Action::AckOnly => Ok(tonic::Response::new(ExportLogsServiceResponse { partial_success: None })),
            Action::Accept => {
                crate::lock(&self.0.entries).extend(otlp_entries(request.into_inner()));
                Ok(tonic::Response::new(ExportLogsServiceResponse { partial_success: None }))
            }
            Action::Status(code, seconds, msg) => {
                let code = match code {
                    429 => tonic::Code::ResourceExhausted,
                    400 => tonic::Code::InvalidArgument,
                    _ => tonic::Code::Unavailable,
                };
                Err(grpc_status(code, seconds.map(Duration::from_secs), &msg))
            }
            Action::StatusUntil(_, _, msg) => Err(tonic::Status::unavailable(msg)),
            Action::Grpc(code, delay, msg) => Err(grpc_status(code, delay, &msg)),
            Action::Partial(rejected, msg) => {
                crate::lock(&self.0.entries).extend(otlp_entries(request.into_inner()));
                Ok(tonic::Response::new(partial_response(rejected, msg)))
            }
            Action::Hang => std::future::pending().await,
            Action::AcceptThenDrop => {
                crate::lock(&self.0.entries).extend(otlp_entries(request.into_inner()));
                self.0.kill.notify_waiters();
                std::future::pending().await
            }
        }
    }
}

/// A gRPC status with `RetryInfo` when `delay` is given.
fn grpc_status(code: tonic::Code, delay: Option<Duration>, message: &str) -> tonic::Status {
    match delay {
        Some(d) => {
            let details = prost::Message::encode_to_vec(&crate::rpc::RpcStatus::new(code as i32, message, Some(d)));
            tonic::Status::with_details(code, message, details.into())
        }
        None => tonic::Status::new(code, message),
    }
}

fn partial_response(rejected: u64, message: String) -> ExportLogsServiceResponse {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsPartialSuccess;
    ExportLogsServiceResponse { partial_success: Some(ExportLogsPartialSuccess { rejected_log_records: rejected as i64, error_message: message }) }
}

/// An OTLP/HTTP body in the request's encoding (`json` or protobuf), with
/// its content type: `ExportLogsServiceResponse` on success, a
/// `google.rpc.Status` on failure.
fn otlp_body(json: bool, message: &impl prost::Message, as_json: serde_json::Value) -> (&'static str, Bytes) {
    if json {
        ("application/json", Bytes::from(as_json.to_string()))
    } else {
        ("application/x-protobuf", Bytes::from(message.encode_to_vec()))
    }
}

/// The answer to one HTTP request; `None`: drop the connection.
async fn answer(state: Arc<State>, kind: Kind, req: hyper::Request<hyper::body::Incoming>) -> Option<hyper::Response<Full<Bytes>>> {
    let n = state.requests.fetch_add(1, Ordering::SeqCst);
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let (content_type, encoding) = (header("content-type"), header("content-encoding"));
    {
        let mut h = crate::lock(&state.headers);
        for (k, v) in req.headers() {
            h.push((k.to_string(), v.to_str().unwrap_or_default().to_owned()));
        }
    }
    let path = req.uri().path().to_owned();
    let body = req.into_body().collect().await.ok()?.to_bytes();
    state.wire_bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    let respond = |status: u16, body: String| hyper::Response::builder().status(status).body(Full::new(Bytes::from(body))).ok();
    let expected = match kind {
        Kind::Loki => "/loki/api/v1/push",
        _ => "/v1/logs",
    };
    if path != expected {
        return respond(404, format!("404 page not found: {path}"));
    }
    if let Some(max) = state.max_body.filter(|&max| body.len() > max) {
        return respond(413, format!("request body of {} bytes is larger than the limit of {max} bytes", body.len()));
    }
    let action = (state.script)(n);
    let json = content_type.starts_with("application/json");
    match &action {
        Action::Status(code, _, msg) | Action::StatusUntil(code, _, msg) => {
            let retry_after = match &action {
                Action::Status(_, Some(seconds), _) => Some(seconds.to_string()),
                Action::StatusUntil(_, ahead, _) => Some(httpdate::fmt_http_date(std::time::SystemTime::now() + *ahead)),
                _ => None,
            };
            let mut r = hyper::Response::builder().status(*code);
            if let Some(value) = retry_after {
                r = r.header("retry-after", value);
            }
            let body = match kind {
                Kind::Loki => Bytes::from(msg.clone()),
                _ => {
                    let status = crate::rpc::RpcStatus::new(0, msg, None);
                    let (ct, body) = otlp_body(json, &status, serde_json::json!({ "message": msg }));
                    r = r.header("content-type", ct);
                    body
                }
            };
            return r.body(Full::new(body)).ok();
        }
        Action::Grpc(..) => return respond(500, "a gRPC status asked of an HTTP receiver".into()),
        Action::Hang => return std::future::pending().await,
        Action::AckOnly => return respond(if kind == Kind::Loki { 204 } else { 200 }, String::new()),
        Action::Accept | Action::AcceptThenDrop | Action::Partial(..) => {}
    }
    let body = if encoding == "gzip" {
        let mut out = Vec::new();
        if let Err(e) = flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut out) {
            return respond(400, format!("gzip: {e}"));
        }
        out
    } else {
        body.to_vec()
    };
    let decoded = match kind {
        Kind::Loki => decode_loki(&content_type, &body),
        _ => decode_otlp_http(&content_type, &body),
    };
    match decoded {
        Ok(entries) => {
            crate::lock(&state.entries).extend(entries);
            crate::lock(&state.content_types).push(content_type);
        }
        Err(e) => return respond(400, e),
    }
    if action == Action::AcceptThenDrop {
        return None;
    }
    if kind == Kind::Loki {
        return respond(204, String::new());
    }
    let (ct, body) = match action {
        Action::Partial(rejected, msg) => otlp_body(
            json,
            &partial_response(rejected, msg.clone()),
            serde_json::json!({ "partialSuccess": { "rejectedLogRecords": rejected.to_string(), "errorMessage": msg } }),
        ),
        _ => otlp_body(json, &ExportLogsServiceResponse { partial_success: None }, serde_json::json!({})),
    };
    hyper::Response::builder().status(200).header("content-type", ct).body(Full::new(body)).ok()
}

/// [`Receiver::ack_only`]'s gRPC answer: the request body counted, then
/// one empty message (a 5-byte gRPC frame: not compressed, length 0 — an
/// empty `ExportLogsServiceResponse`) and `grpc-status: 0` in the trailers.
async fn raw_grpc_ack(
    state: Arc<State>,
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<impl hyper::body::Body<Data = Bytes, Error = std::convert::Infallible>>, hyper::Error> {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let body = req.into_body().collect().await?.to_bytes();
    state.wire_bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
    let mut trailers = hyper::HeaderMap::new();
    trailers.insert("grpc-status", hyper::header::HeaderValue::from_static("0"));
    let body = Full::new(Bytes::from_static(&[0, 0, 0, 0, 0])).with_trailers(async move { Some(Ok(trailers)) });
    Ok(hyper::Response::builder()
        .header(hyper::header::CONTENT_TYPE, "application/grpc")
        .body(body)
        .expect("a static response is valid"))
}

impl Receiver {
    /// Starts a receiver on 127.0.0.1:`port` (0: any) that accepts everything.
    pub fn start(kind: Kind, port: u16) -> Receiver {
        Receiver::scripted(kind, port, |_| Action::Accept)
    }

    /// Starts a receiver whose answer to request `n` is `script(n)`.
    pub fn scripted(kind: Kind, port: u16, script: impl Fn(u64) -> Action + Send + Sync + 'static) -> Receiver {
        Receiver::with_state(kind, port, State::new(Box::new(script), false, None), None)
    }

    /// Starts a receiver that speaks TLS with `config` (its ALPN is set
    /// here: `h2` for gRPC, `http/1.1` otherwise) and answers `script(n)`.
    pub fn tls(
        kind: Kind,
        port: u16,
        config: rustls::ServerConfig,
        script: impl Fn(u64) -> Action + Send + Sync + 'static,
    ) -> Receiver {
        let mut config = config;
        config.alpn_protocols = vec![if kind == Kind::OtlpGrpc { b"h2".to_vec() } else { b"http/1.1".to_vec() }];
        Receiver::with_state(kind, port, State::new(Box::new(script), false, None), Some(Arc::new(config)))
    }

    /// Starts an HTTP receiver (Loki or OTLP/HTTP) that accepts every
    /// request whose body, as received, is at most `max_body` bytes, and
    /// answers the others 413 Content Too Large.
    pub fn limited(kind: Kind, port: u16, max_body: usize) -> Receiver {
        Receiver::with_state(kind, port, State::new(Box::new(|_| Action::Accept), false, Some(max_body)), None)
    }

    /// A receiver for benchmarks that acknowledges every request without
    /// decoding it ([`Action::AckOnly`]), gRPC included: there it reads the
    /// HTTP/2 body and answers an empty `ExportLogsServiceResponse` with
    /// `grpc-status: 0`, so its CPU competes as little as possible with the
    /// sender's. [`Receiver::wire_bytes`] counts the request bodies as sent.
    pub fn ack_only(kind: Kind, port: u16) -> Receiver {
        Receiver::with_state(kind, port, State::new(Box::new(|_| Action::AckOnly), kind == Kind::OtlpGrpc, None), None)
    }

    fn with_state(kind: Kind, port: u16, state: Arc<State>, tls: Option<Arc<rustls::ServerConfig>>) -> Receiver {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("binding a loopback port");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let (stop, mut stopped) = watch::channel(false);
        let st = state.clone();
        let acceptor = tls.clone().map(tokio_rustls::TlsAcceptor::from);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                let mut conns = tokio::task::JoinSet::new();
                loop {
                    let (stream, _) = tokio::select! {
                        r = listener.accept() => match r { Ok(c) => c, Err(_) => continue },
                        _ = stopped.changed() => break,
                    };
                    let (st, mut stopped) = (st.clone(), stopped.clone());
                    let acceptor = acceptor.clone();
                    conns.spawn(async move {
                        let killed = st.clone();
                        let serve = async {
                            match acceptor {
                                Some(acceptor) => match acceptor.accept(stream).await {
                                    Ok(stream) => serve_connection(TokioIo::new(stream), kind, st).await,
                                    Err(_) => {
                                        st.tls_failures.fetch_add(1, Ordering::SeqCst);
                                    }
                                },
                                None => serve_connection(TokioIo::new(stream), kind, st).await,
                            }
                        };
                        tokio::select! {
                            _ = serve => {}
                            _ = stopped.changed() => {}
                            _ = killed.kill.notified() => {}
                        }
                    });
                }
                // Stopping kills every open connection, as a crash would.
                conns.abort_all();
            });
        });
        Receiver { addr, state, stop, thread: Some(thread), kind, tls }
    }

    /// The base URL (`http://127.0.0.1:PORT`, `https://` over TLS).
    pub fn url(&self) -> String {
        format!("{}://{}", if self.tls.is_some() { "https" } else { "http" }, self.addr)
    }

    /// TLS handshakes that failed (the client did not trust the server, or
    /// had no client certificate when one was required).
    pub fn tls_failures(&self) -> u64 {
        self.state.tls_failures.load(Ordering::SeqCst)
    }

    /// Everything decoded so far.
    pub fn entries(&self) -> Vec<Entry> {
        crate::lock(&self.state.entries).clone()
    }

    /// How many lines arrived.
    pub fn count(&self) -> usize {
        crate::lock(&self.state.entries).len()
    }

    /// Request body bytes received with [`Action::AckOnly`] (as sent:
    /// compressed; for gRPC from [`Receiver::ack_only`], the messages and
    /// their 5-byte frames).
    pub fn wire_bytes(&self) -> u64 {
        self.state.wire_bytes.load(Ordering::Relaxed)
    }

    /// Requests seen (answered or not).
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Content types of accepted HTTP requests.
    pub fn content_types(&self) -> Vec<String> {
        crate::lock(&self.state.content_types).clone()
    }

    /// Headers (or gRPC metadata) of every request.
    pub fn headers(&self) -> Vec<(String, String)> {
        crate::lock(&self.state.headers).clone()
    }

    /// Stops listening and kills open connections (a crash, or a receiver
    /// that is down: connections are refused).
    pub fn stop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Starts listening again on the same port, keeping what was received.
    pub fn restart(&mut self) {
        self.stop();
        let again = Receiver::with_state(self.kind, self.addr.port(), self.state.clone(), self.tls.clone());
        *self = again;
    }

    /// Waits until `n` lines arrived or `timeout` passed; returns the count.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> usize {
        let end = std::time::Instant::now() + timeout;
        while self.count() < n && std::time::Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.count()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}
