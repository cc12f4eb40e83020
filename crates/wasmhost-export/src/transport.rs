//! Transports: one request per batch, over HTTP/1.1 (hyper) or gRPC (tonic),
//! plain or TLS (one rustls connector, [`crate::TlsSettings`]), and what the
//! answer means for the batch (sent, retry, or reject).

use std::io::Write;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use crate::batch::{Batch, Encoding};
use crate::rpc::RpcStatus;
use crate::tls::TlsSettings;

/// How the body travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// As is.
    None,
    /// `Content-Encoding: gzip` (gRPC: `grpc-encoding: gzip`).
    Gzip,
    /// Snappy block format, as Loki expects for protobuf pushes.
    Snappy,
}

/// What became of one attempt to send a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The receiver acknowledged it.
    Sent,
    /// An OTLP receiver acknowledged it with `partial_success` set: it kept
    /// all but `rejected` records (0: a warning only). Not retried, as the
    /// OTLP spec demands.
    Partial {
        /// Records the receiver rejected.
        rejected: u64,
        /// The receiver's `error_message`.
        message: String,
    },
    /// Worth trying again (connection error, timeout, or an answer the
    /// sink's [`RetryRule`] retries); the server may have said when
    /// (`Retry-After`, gRPC `RetryInfo`).
    Retry {
        /// Why, for events.
        reason: String,
        /// The server's `Retry-After`.
        after: Option<Duration>,
    },
    /// The receiver refused it as too large (HTTP 413 Content Too Large):
    /// not retried as it is, but sent again in halves
    /// ([`Transport::split`]) down to single records.
    TooLarge {
        /// The HTTP status.
        status: String,
        /// The server's message.
        message: String,
    },
    /// The receiver refused it for good (any other 4xx/5xx, gRPC's
    /// non-retryable codes).
    Reject {
        /// The HTTP status or gRPC code.
        status: String,
        /// The server's message.
        message: String,
    },
}

/// Longest server message kept for events and the dead-letter file.
const MAX_MESSAGE: usize = 4096;

/// Which HTTP answers are worth retrying: each receiver family has its
/// own rule (docs/export.md, "Retries"). Connection errors, timeouts and
/// answers cut short are retried under both.
///
/// ```
/// use wasmhost_export::RetryRule;
/// assert!(RetryRule::Loki.retries(500) && RetryRule::Loki.retries(429));
/// assert!(!RetryRule::Otlp.retries(500) && RetryRule::Otlp.retries(503));
/// assert!(!RetryRule::Loki.retries(408) && !RetryRule::Otlp.retries(408));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryRule {
    /// Loki's push API as Promtail and Alloy's `loki.write` treat it: 429
    /// and every 5xx; every other status is final.
    Loki,
    /// OTLP/HTTP as the OTLP specification's "Retryable Response Codes"
    /// lists them: 429, 502, 503, 504. "All other 4xx or 5xx response
    /// status codes MUST NOT be retried" — 500 and 408 included.
    Otlp,
}

impl RetryRule {
    /// Whether an answer with this HTTP status is retried.
    pub fn retries(self, status: u16) -> bool {
        match self {
            RetryRule::Loki => status == 429 || (500..600).contains(&status),
            RetryRule::Otlp => matches!(status, 429 | 502 | 503 | 504),
        }
    }
}

/// Content type of protobuf bodies (Loki push and OTLP/HTTP alike).
const PROTOBUF: &str = "application/x-protobuf";

/// Where and how batches are sent. (One per sink: the size difference
/// between the variants costs nothing.)
#[allow(clippy::large_enum_variant)]
pub enum Transport {
    /// `POST url` with the batch as the body.
    Http {
        /// The full URL (e.g. `http://loki:3100/loki/api/v1/push`).
        url: hyper::Uri,
        /// Headers sent with every request (auth, tenant, extra).
        headers: Vec<(HeaderName, HeaderValue)>,
        /// Body compression.
        compression: Compression,
        /// Which answers are retried, and how the answer's body is read.
        rule: RetryRule,
        /// Per-request timeout.
        timeout: Duration,
        /// The connection pool (TLS on `https://` URLs).
        client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    },
    /// OTLP's `LogsService/Export` over gRPC.
    Grpc {
        /// The channel (connects lazily, reconnects by itself).
        channel: tonic::transport::Channel,
        /// Metadata sent with every call.
        headers: Vec<(tonic::metadata::AsciiMetadataKey, tonic::metadata::AsciiMetadataValue)>,
        /// gzip or not.
        gzip: bool,
        /// Per-call timeout.
        timeout: Duration,
    },
}

impl Transport {
    /// An HTTP transport to an `http://` or `https://` URL (`tls` applies
    /// to the latter) that retries what `rule` retries. Needs a tokio
    /// runtime only when sending.
    pub fn http(
        url: &str,
        headers: Vec<(HeaderName, HeaderValue)>,
        compression: Compression,
        rule: RetryRule,
        timeout: Duration,
        tls: &TlsSettings,
    ) -> Result<Transport, String> {
        let url: hyper::Uri = url.parse().map_err(|e| format!("{url:?}: {e}"))?;
        let client = Client::builder(TokioExecutor::new()).build(connector(&url, tls, false)?);
        Ok(Transport::Http { url, headers, compression, rule, timeout, client })
    }

    /// A gRPC transport to `url` (`http://host:4317`, or `https://` with
    /// `tls`). Must be called inside a tokio runtime (the channel's
    /// background task lives there).
    pub fn grpc(url: &str, headers: &[(String, String)], gzip: bool, timeout: Duration, tls: &TlsSettings) -> Result<Transport, String> {
        let uri: hyper::Uri = url.parse().map_err(|e| format!("{url:?}: {e}"))?;
        let connector = connector(&uri, tls, true)?;
        let endpoint = tonic::transport::Endpoint::from_shared(url.to_owned())
            .map_err(|e| format!("{url:?}: {e}"))?
            .connect_timeout(timeout)
            .timeout(timeout);
        let headers = headers
            .iter()
            .map(|(k, v)| {
                let key = k.to_ascii_lowercase().parse().map_err(|_| format!("bad gRPC metadata key {k:?}"))?;
                let value = v.parse().map_err(|_| format!("bad gRPC metadata value for {k:?}"))?;
                Ok((key, value))
            })
            .collect::<Result<_, String>>()?;
        Ok(Transport::Grpc { channel: endpoint.connect_with_connector_lazy(connector), headers, gzip, timeout })
    }

    /// Splits a batch's records into two halves, each a valid request body
    /// of its own in the batch's wire format (Loki push or OTLP, protobuf or
    /// JSON), in order: the first half holds the older records of every
    /// stream. For a receiver that answered 413; `Err` when the body cannot
    /// be read back or holds fewer than two records.
    pub fn split(&self, batch: &Batch) -> Result<(Batch, Batch), String> {
        if batch.records < 2 {
            return Err(format!("{} record(s) cannot be split", batch.records));
        }
        match self {
            Transport::Http { rule: RetryRule::Loki, .. } => crate::loki::split(batch),
            Transport::Http { rule: RetryRule::Otlp, .. } | Transport::Grpc { .. } => crate::otlp::split(batch),
        }
    }

    /// Sends one batch, once.
    pub async fn send(&self, batch: &Batch) -> Outcome {
        match self {
            Transport::Http { url, headers, compression, rule, timeout, client } => {
                let (body, encoding) = match compress(&batch.body, *compression) {
                    Ok(body) => (body, *compression),
                    Err(e) => return Outcome::Reject { status: "encode".into(), message: e.to_string() },
                };
                let mut req = hyper::Request::post(url.clone());
                let content_type = match batch.encoding {
                    Encoding::Protobuf => PROTOBUF,
                    Encoding::Json => "application/json",
                };
                req = req.header(hyper::header::CONTENT_TYPE, content_type);
                req = req.header(hyper::header::USER_AGENT, concat!("wasmhost/", env!("CARGO_PKG_VERSION")));
                if encoding == Compression::Gzip {
                    req = req.header(hyper::header::CONTENT_ENCODING, "gzip");
                }
                for (k, v) in headers {
                    req = req.header(k, v);
                }
                let req = match req.body(Full::new(body)) {
                    Ok(r) => r,
                    Err(e) => return Outcome::Reject { status: "request".into(), message: e.to_string() },
                };
                let exchange = async {
                    let resp = client.request(req).await.map_err(|e| connection_error(&e))?;
                    let status = resp.status();
                    let header = |name: HeaderName| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
                    let after = header(hyper::header::RETRY_AFTER).and_then(|v| retry_after(&v, std::time::SystemTime::now()));
                    let content_type = header(hyper::header::CONTENT_TYPE).unwrap_or_default();
                    let body = resp.into_body().collect().await.map_err(|e| format!("reading the answer: {e}"))?.to_bytes();
                    Ok::<_, String>((status, after, content_type, body))
                };
                match tokio::time::timeout(*timeout, exchange).await {
                    Err(_) => Outcome::Retry { reason: format!("no answer within {timeout:?}"), after: None },
                    Ok(Err(reason)) => Outcome::Retry { reason, after: None },
                    Ok(Ok((status, after, content_type, body))) => http_outcome(*rule, status.as_u16(), after, &content_type, &body),
                }
            }
            Transport::Grpc { channel, headers, gzip, timeout } => {
                let mut grpc = tonic::client::Grpc::new(channel.clone());
                if *gzip {
                    grpc = grpc.send_compressed(tonic::codec::CompressionEncoding::Gzip);
                }
                let call = async {
                    grpc.ready().await.map_err(|e| tonic::Status::unavailable(e.to_string()))?;
                    let mut request = tonic::Request::new(batch.body.clone());
                    request.set_timeout(*timeout);
                    for (k, v) in headers {
                        request.metadata_mut().insert(k.clone(), v.clone());
                    }
                    let path = tonic::codegen::http::uri::PathAndQuery::from_static(
                        "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
                    );
                    grpc.unary(request, path, RawCodec).await
                };
                match tokio::time::timeout(*timeout, call).await {
                    Err(_) => Outcome::Retry { reason: format!("no answer within {timeout:?}"), after: None },
                    Ok(Ok(response)) => partial(response.into_inner().partial_success.map(|p| (p.rejected_log_records, p.error_message))),
                    Ok(Err(status)) => grpc_outcome(&status),
                }
            }
        }
    }
}

/// The connector for `uri`: TLS with `tls`'s configuration on `https://`,
/// plain TCP on `http://` (the TLS half then has nothing to trust and is
/// never used). ALPN offers `h2` for gRPC and nothing (HTTP/1.1) otherwise.
fn connector(uri: &hyper::Uri, tls: &TlsSettings, http2: bool) -> Result<HttpsConnector<HttpConnector>, String> {
    let config = match uri.scheme_str() {
        Some("https") => tls.client_config().map_err(|e| format!("{uri}: {e}"))?,
        Some("http") => rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
        _ => return Err(format!("{uri}: expected an http:// or https:// URL")),
    };
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    // As tonic's own connector does for gRPC.
    http.set_nodelay(http2);
    let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config).https_or_http();
    Ok(if http2 { builder.enable_http2().wrap_connector(http) } else { builder.enable_http1().wrap_connector(http) })
}

/// What an HTTP answer means under `rule`. OTLP/HTTP failure bodies are a
/// `google.rpc.Status` (protobuf or JSON, as the content type says): its
/// `message` is the server's message; anything else is taken as text.
pub(crate) fn http_outcome(rule: RetryRule, status: u16, after: Option<Duration>, content_type: &str, body: &[u8]) -> Outcome {
    if (200..300).contains(&status) {
        return match rule {
            RetryRule::Otlp => partial(otlp_partial_success(content_type, body)),
            RetryRule::Loki => Outcome::Sent,
        };
    }
    let message = match rule {
        RetryRule::Otlp => rpc_status_message(content_type, body).unwrap_or_else(|| message(body)),
        RetryRule::Loki => message(body),
    };
    if status == 413 {
        return Outcome::TooLarge { status: status.to_string(), message };
    }
    if rule.retries(status) {
        let reason = match hyper::StatusCode::from_u16(status) {
            Ok(s) => format!("HTTP {s}: {message}"),
            Err(_) => format!("HTTP {status}: {message}"),
        };
        Outcome::Retry { reason, after }
    } else {
        Outcome::Reject { status: status.to_string(), message }
    }
}

/// The `partial_success` of an OTLP/HTTP `ExportLogsServiceResponse`
/// (protobuf, or JSON where int64 may be a string): rejected records and
/// the message. An empty or unreadable body is a full success.
fn otlp_partial_success(content_type: &str, body: &[u8]) -> Option<(i64, String)> {
    if content_type.starts_with("application/json") {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        let p = v.get("partialSuccess")?;
        let rejected = match p.get("rejectedLogRecords") {
            Some(serde_json::Value::String(s)) => s.parse().unwrap_or(0),
            Some(n) => n.as_i64().unwrap_or(0),
            None => 0,
        };
        Some((rejected, p.get("errorMessage").and_then(|m| m.as_str()).unwrap_or_default().to_owned()))
    } else {
        let r: ExportLogsServiceResponse = prost::Message::decode(body).ok()?;
        r.partial_success.map(|p| (p.rejected_log_records, p.error_message))
    }
}

/// [`Outcome::Sent`], or [`Outcome::Partial`] when the receiver set
/// `partial_success` (rejected records, or a warning message).
fn partial(partial_success: Option<(i64, String)>) -> Outcome {
    match partial_success {
        Some((rejected, mut message)) if rejected > 0 || !message.is_empty() => {
            message.truncate(MAX_MESSAGE);
            Outcome::Partial { rejected: rejected.max(0) as u64, message }
        }
        _ => Outcome::Sent,
    }
}

/// The `message` of a `google.rpc.Status` body, if the body is one.
fn rpc_status_message(content_type: &str, body: &[u8]) -> Option<String> {
    let mut text = if content_type.starts_with("application/json") {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        v.get("message")?.as_str()?.to_owned()
    } else if content_type.starts_with(PROTOBUF) {
        let status: RpcStatus = prost::Message::decode(body).ok()?;
        status.message
    } else {
        return None;
    };
    text.truncate(MAX_MESSAGE);
    Some(text)
}

/// OTLP/gRPC's rule, as the OTLP specification's table has it: CANCELLED,
/// DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE and DATA_LOSS are
/// retried; RESOURCE_EXHAUSTED only when the server sent `RetryInfo` (it
/// can recover); every other code is final. A `RetryInfo` delay is
/// honoured as HTTP's `Retry-After` is. A status the server never sent —
/// the call failed on the way (refused, reset, TLS), which tonic reports
/// as a status with a source error — is a connection error: retried.
fn grpc_outcome(status: &tonic::Status) -> Outcome {
    use tonic::Code::*;
    let local = std::error::Error::source(status).is_some();
    // A failed connection is a status whose message is generic and whose
    // sources say why.
    let mut message = with_sources(status.message().to_owned(), std::error::Error::source(status));
    message.truncate(MAX_MESSAGE);
    let info = prost::Message::decode(status.details()).ok().and_then(|s: RpcStatus| s.retry_info());
    let retry = local
        || match status.code() {
            Cancelled | DeadlineExceeded | Aborted | OutOfRange | Unavailable | DataLoss => true,
            // RetryInfo's presence says the server can recover (as the
            // collector's exporter reads it), whatever the delay.
            ResourceExhausted => info.is_some(),
            _ => false,
        };
    // A zero delay: exponential backoff, as without one.
    let after = info.filter(|d| !d.is_zero());
    if retry {
        Outcome::Retry { reason: format!("gRPC {:?}: {message}", status.code()), after }
    } else {
        Outcome::Reject { status: format!("{:?}", status.code()), message }
    }
}

/// A `Retry-After` value (RFC 9110 §10.2.3): delay-seconds, or an
/// HTTP-date (IMF-fixdate, or the obsolete RFC 850 and asctime forms, all of
/// which a recipient must accept) taken relative to `now`; a date already
/// past means "now". `None` for anything else.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let now = UNIX_EPOCH + Duration::from_secs(1_445_412_480); // Wed, 21 Oct 2015 07:28:00 GMT
/// assert_eq!(wasmhost_export::retry_after("120", now), Some(Duration::from_secs(120)));
/// assert_eq!(wasmhost_export::retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now), Some(Duration::from_secs(30)));
/// assert_eq!(wasmhost_export::retry_after("soon", now), None);
/// ```
pub fn retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn connection_error(e: &hyper_util::client::legacy::Error) -> String {
    with_sources(e.to_string(), std::error::Error::source(e))
}

/// `text` followed by each source's message not already in it, and a hint
/// when the server's certificate was not trusted.
fn with_sources(mut text: String, mut source: Option<&(dyn std::error::Error + 'static)>) -> String {
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    if text.contains("invalid peer certificate") {
        text.push_str(" (TLS: the server's certificate is not trusted; give its CA as tls.ca_file or OTEL_EXPORTER_OTLP_CERTIFICATE)");
    }
    text
}

fn message(body: &[u8]) -> String {
    let mut text = String::from_utf8_lossy(&body[..body.len().min(MAX_MESSAGE)]).trim().to_owned();
    text.truncate(MAX_MESSAGE);
    text
}

thread_local! {
    /// The sending thread's snappy encoder and output buffer, reused:
    /// `compress_vec` would allocate and zero the worst-case output size
    /// (more than the batch itself) for every batch.
    static SNAPPY: std::cell::RefCell<(snap::raw::Encoder, Vec<u8>)> = std::cell::RefCell::new((snap::raw::Encoder::new(), Vec::new()));
}

/// The body as it goes on the wire.
pub fn compress(body: &Bytes, compression: Compression) -> std::io::Result<Bytes> {
    match compression {
        Compression::None => Ok(body.clone()),
        Compression::Snappy => SNAPPY.with(|snappy| {
            let (encoder, out) = &mut *snappy.borrow_mut();
            let max = snap::raw::max_compress_len(body.len());
            if out.len() < max {
                out.resize(max, 0);
            }
            let n = encoder.compress(body, out).map_err(std::io::Error::other)?;
            Ok(Bytes::copy_from_slice(&out[..n]))
        }),
        Compression::Gzip => {
            let mut gz = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
            gz.write_all(body)?;
            gz.finish().map(Bytes::from)
        }
    }
}

/// Sends an already-encoded `ExportLogsServiceRequest` as is and decodes the
/// response with the crate's type: the batch was encoded once, for the spool
/// and the wire alike.
struct RawCodec;

struct RawEncoder;

struct ResponseDecoder;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = ExportLogsServiceResponse;
    type Encoder = RawEncoder;
    type Decoder = ResponseDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> ResponseDecoder {
        ResponseDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for ResponseDecoder {
    type Item = ExportLogsServiceResponse;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<ExportLogsServiceResponse>, tonic::Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        prost::Message::decode(bytes).map(Some).map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn retry_after_reads_seconds_and_every_http_date_form() {
        // Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example, in its three forms.
        let at = UNIX_EPOCH + Duration::from_secs(784_111_777);
        let now = at - Duration::from_secs(90);
        for form in ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"] {
            assert_eq!(retry_after(form, now), Some(Duration::from_secs(90)), "{form}");
        }
        assert_eq!(retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at + Duration::from_secs(5)), Some(Duration::ZERO), "a past date: now");
        for bad in ["", "-1", "1.5", "tomorrow", "Sun, 06 Nov 1994 08:49:37 CET"] {
            assert_eq!(retry_after(bad, now), None, "{bad:?}");
        }
    }

    fn retried(o: &Outcome) -> bool {
        matches!(o, Outcome::Retry { .. })
    }

    /// The OTLP spec's table for OTLP/HTTP (429, 502, 503, 504; every other
    /// 4xx/5xx final), Promtail's for Loki (429 and every 5xx).
    #[test]
    fn http_statuses_are_retried_by_each_receivers_rule() {
        for status in [400, 401, 403, 404, 408, 409, 413, 415, 422, 425, 431, 500, 501, 505, 507, 511, 429, 502, 503, 504] {
            let otlp = http_outcome(RetryRule::Otlp, status, None, "", b"x");
            let loki = http_outcome(RetryRule::Loki, status, None, "", b"x");
            assert_eq!(retried(&otlp), matches!(status, 429 | 502 | 503 | 504), "OTLP {status}");
            assert_eq!(retried(&loki), status == 429 || status >= 500, "Loki {status}");
        }
        for rule in [RetryRule::Loki, RetryRule::Otlp] {
            let too_large = Outcome::TooLarge { status: "413".into(), message: "too big".into() };
            assert_eq!(http_outcome(rule, 413, None, "text/plain", b"too big"), too_large, "{rule:?}: 413 is split, not refused");
        }
        let after = Some(Duration::from_secs(7));
        assert_eq!(http_outcome(RetryRule::Otlp, 503, after, "", b"busy"), Outcome::Retry { reason: "HTTP 503 Service Unavailable: busy".into(), after });
        assert_eq!(http_outcome(RetryRule::Loki, 204, None, "", b""), Outcome::Sent);
    }

    /// OTLP/HTTP failure bodies are a `google.rpc.Status`, in the request's
    /// encoding; its message is what the dead-letter file keeps.
    #[test]
    fn otlp_http_failure_bodies_are_read_as_rpc_status() {
        let pb = prost::Message::encode_to_vec(&RpcStatus::new(3, "bad timestamp", None));
        let reject = |ct: &str, body: &[u8]| match http_outcome(RetryRule::Otlp, 400, None, ct, body) {
            Outcome::Reject { message, .. } => message,
            o => panic!("{o:?}"),
        };
        assert_eq!(reject("application/x-protobuf", &pb), "bad timestamp");
        assert_eq!(reject("application/json", br#"{"code":3,"message":"bad json"}"#), "bad json");
        assert_eq!(reject("text/plain", b"plain words"), "plain words");
    }

    #[test]
    fn otlp_partial_success_is_not_a_retry() {
        let body = prost::Message::encode_to_vec(&ExportLogsServiceResponse {
            partial_success: Some(opentelemetry_proto::tonic::collector::logs::v1::ExportLogsPartialSuccess {
                rejected_log_records: 3,
                error_message: "too old".into(),
            }),
        });
        assert_eq!(http_outcome(RetryRule::Otlp, 200, None, "application/x-protobuf", &body), Outcome::Partial { rejected: 3, message: "too old".into() });
        let json = br#"{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"dup"}}"#;
        assert_eq!(http_outcome(RetryRule::Otlp, 200, None, "application/json", json), Outcome::Partial { rejected: 2, message: "dup".into() });
        assert_eq!(http_outcome(RetryRule::Otlp, 200, None, "application/json", b"{}"), Outcome::Sent);
        assert_eq!(http_outcome(RetryRule::Otlp, 200, None, "application/x-protobuf", b""), Outcome::Sent);
    }

    /// The OTLP spec's gRPC table; RESOURCE_EXHAUSTED only with RetryInfo,
    /// whose delay is honoured; a status the server never sent is a
    /// connection error.
    #[test]
    fn grpc_codes_follow_the_otlp_table() {
        use tonic::Code::*;
        let retryable = [Cancelled, DeadlineExceeded, Aborted, OutOfRange, Unavailable, DataLoss];
        let fin = [Unknown, InvalidArgument, NotFound, AlreadyExists, PermissionDenied, Unauthenticated, ResourceExhausted, FailedPrecondition, Unimplemented, Internal];
        for code in retryable {
            assert!(retried(&grpc_outcome(&tonic::Status::new(code, "m"))), "{code:?}");
        }
        for code in fin {
            assert!(!retried(&grpc_outcome(&tonic::Status::new(code, "m"))), "{code:?}");
        }
        let details = |d| bytes::Bytes::from(prost::Message::encode_to_vec(&RpcStatus::new(8, "full", d)));
        let throttled = tonic::Status::with_details(ResourceExhausted, "full", details(Some(Duration::from_millis(2500))));
        assert_eq!(grpc_outcome(&throttled), Outcome::Retry { reason: "gRPC ResourceExhausted: full".into(), after: Some(Duration::from_millis(2500)) });
        let unavailable = tonic::Status::with_details(Unavailable, "later", details(Some(Duration::from_secs(30))));
        assert!(matches!(grpc_outcome(&unavailable), Outcome::Retry { after: Some(d), .. } if d == Duration::from_secs(30)));
        assert!(!retried(&grpc_outcome(&tonic::Status::with_details(ResourceExhausted, "full", details(None)))));
        let zero = tonic::Status::with_details(ResourceExhausted, "full", details(Some(Duration::ZERO)));
        assert_eq!(grpc_outcome(&zero), Outcome::Retry { reason: "gRPC ResourceExhausted: full".into(), after: None }, "RetryInfo without a delay: backoff");
        // A connection reset before any answer: tonic's UNKNOWN with a source.
        let reset = tonic::Status::from_error(Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset)));
        assert_eq!(reset.code(), Unknown);
        assert!(retried(&grpc_outcome(&reset)));
    }
}
