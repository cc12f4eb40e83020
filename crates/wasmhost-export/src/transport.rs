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
    /// Worth trying again (connection error, timeout, 429, 5xx); the server
    /// may have said when (`Retry-After`).
    Retry {
        /// Why, for events.
        reason: String,
        /// The server's `Retry-After`.
        after: Option<Duration>,
    },
    /// The receiver refused it for good (other 4xx, gRPC's non-retryable codes).
    Reject {
        /// The HTTP status or gRPC code.
        status: String,
        /// The server's message.
        message: String,
    },
}

/// Longest server message kept for events and the dead-letter file.
const MAX_MESSAGE: usize = 4096;

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
        /// Content type of protobuf bodies (`application/x-protobuf`).
        protobuf_type: &'static str,
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
    /// to the latter). Needs a tokio runtime only when sending.
    pub fn http(
        url: &str,
        headers: Vec<(HeaderName, HeaderValue)>,
        compression: Compression,
        protobuf_type: &'static str,
        timeout: Duration,
        tls: &TlsSettings,
    ) -> Result<Transport, String> {
        let url: hyper::Uri = url.parse().map_err(|e| format!("{url:?}: {e}"))?;
        let client = Client::builder(TokioExecutor::new()).build(connector(&url, tls, false)?);
        Ok(Transport::Http { url, headers, compression, protobuf_type, timeout, client })
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

    /// Sends one batch, once.
    pub async fn send(&self, batch: &Batch) -> Outcome {
        match self {
            Transport::Http { url, headers, compression, protobuf_type, timeout, client } => {
                let (body, encoding) = match compress(&batch.body, *compression) {
                    Ok(body) => (body, *compression),
                    Err(e) => return Outcome::Reject { status: "encode".into(), message: e.to_string() },
                };
                let mut req = hyper::Request::post(url.clone());
                let content_type = match batch.encoding {
                    Encoding::Protobuf => *protobuf_type,
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
                    let retry_after = resp
                        .headers()
                        .get(hyper::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| retry_after(v, std::time::SystemTime::now()));
                    let body = resp.into_body().collect().await.map_err(|e| format!("reading the answer: {e}"))?.to_bytes();
                    Ok::<_, String>((status, retry_after, body))
                };
                match tokio::time::timeout(*timeout, exchange).await {
                    Err(_) => Outcome::Retry { reason: format!("no answer within {timeout:?}"), after: None },
                    Ok(Err(reason)) => Outcome::Retry { reason, after: None },
                    Ok(Ok((status, after, body))) => {
                        let message = message(&body);
                        if status.is_success() {
                            Outcome::Sent
                        } else if status.as_u16() == 429 || status.is_server_error() {
                            Outcome::Retry { reason: format!("HTTP {status}: {message}"), after }
                        } else {
                            Outcome::Reject { status: status.as_u16().to_string(), message }
                        }
                    }
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
                    Ok(Ok(_)) => Outcome::Sent,
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

/// OTLP/gRPC's retryable codes (the spec's list, plus RESOURCE_EXHAUSTED,
/// which collectors return under memory pressure as HTTP would say 429).
fn grpc_outcome(status: &tonic::Status) -> Outcome {
    use tonic::Code::*;
    // A failed connection (refused, TLS) is a status whose message is
    // generic and whose sources say why.
    let mut message = with_sources(status.message().to_owned(), std::error::Error::source(status));
    message.truncate(MAX_MESSAGE);
    match status.code() {
        Cancelled | DeadlineExceeded | Aborted | OutOfRange | Unavailable | DataLoss | ResourceExhausted | Unknown => {
            Outcome::Retry { reason: format!("gRPC {:?}: {message}", status.code()), after: None }
        }
        code => Outcome::Reject { status: format!("{code:?}"), message },
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

/// The body as it goes on the wire.
pub fn compress(body: &Bytes, compression: Compression) -> std::io::Result<Bytes> {
    match compression {
        Compression::None => Ok(body.clone()),
        Compression::Snappy => snap::raw::Encoder::new()
            .compress_vec(body)
            .map(Bytes::from)
            .map_err(std::io::Error::other),
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
}
