//! Settings of the network sinks — from a routing config table
//! (`type = "loki"` / `type = "otlp"`), from the CLI shortcuts, and from the
//! standard `OTEL_*` variables — and the factory that builds the sinks.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use hyper::header::{HeaderName, HeaderValue};
use serde::Deserialize;
use wasmhost_log::{Sink, SinkFactory, DEFAULT_STREAM_LABELS};

use crate::batch::Encoding;
use crate::deliver::{Delivery, EventFn, NetworkSink, ShutdownHandle};
use crate::loki::{check_labels, LokiEncoder};
use crate::metrics::Metrics;
use crate::otlp::{resource, OtlpEncoder};
use crate::tls::{with_otel_env, TlsSettings};
use crate::transport::{Compression, RetryRule, Transport};

/// Keys every network sink table may have: batching, retries, spool.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryKeys {
    batch_bytes: Option<usize>,
    batch_wait: Option<String>,
    min_backoff: Option<String>,
    max_backoff: Option<String>,
    max_retries: Option<u32>,
    spool_dir: Option<PathBuf>,
    spool_max_bytes: Option<u64>,
    dead_letter: Option<PathBuf>,
    shutdown_grace: Option<String>,
}

const DELIVERY_KEYS: &[&str] = &[
    "batch_bytes", "batch_wait", "min_backoff", "max_backoff", "max_retries", "spool_dir", "spool_max_bytes",
    "dead_letter", "shutdown_grace",
];

impl DeliveryKeys {
    fn delivery(self) -> Result<Delivery, String> {
        let d = Delivery::default();
        let dur = |v: Option<String>, default: Duration| v.map_or(Ok(default), |s| parse_duration(&s));
        Ok(Delivery {
            batch_bytes: self.batch_bytes.unwrap_or(d.batch_bytes).max(1),
            batch_wait: dur(self.batch_wait, d.batch_wait)?,
            min_backoff: dur(self.min_backoff, d.min_backoff)?,
            max_backoff: dur(self.max_backoff, d.max_backoff)?,
            max_retries: self.max_retries,
            spool_dir: self.spool_dir,
            spool_max_bytes: self.spool_max_bytes.unwrap_or(d.spool_max_bytes),
            dead_letter: self.dead_letter,
            grace: dur(self.shutdown_grace, d.grace)?,
        })
    }
}

/// `500ms`, `2s`, `1m`, or a bare number of milliseconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len()));
    let n: f64 = num.parse().map_err(|_| format!("{text:?}: expected a duration such as 500ms, 2s, 1m"))?;
    let secs = match unit {
        "" | "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (ms, s, m)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

/// Splits a table into the delivery keys and the sink's own.
fn split(table: toml::Table) -> Result<(DeliveryKeys, toml::Table), String> {
    let (mut delivery, mut own) = (toml::Table::new(), toml::Table::new());
    for (k, v) in table {
        if DELIVERY_KEYS.contains(&k.as_str()) {
            delivery.insert(k, v);
        } else {
            own.insert(k, v);
        }
    }
    let delivery = toml::Value::Table(delivery).try_into().map_err(|e: toml::de::Error| clean(e))?;
    Ok((delivery, own))
}

fn clean(e: toml::de::Error) -> String {
    e.to_string().trim().replace('\n', " ")
}

/// A Loki sink's settings.
#[derive(Debug, Clone)]
pub struct LokiSettings {
    /// The push URL; a bare `http://host:3100` gets `/loki/api/v1/push`.
    pub url: String,
    /// Protobuf (+ snappy, the default) or JSON.
    pub encoding: Encoding,
    /// gzip JSON bodies.
    pub gzip: bool,
    /// Stream label names (default [`DEFAULT_STREAM_LABELS`]).
    pub labels: Vec<String>,
    /// `X-Scope-OrgID`.
    pub tenant_id: Option<String>,
    /// Basic auth user and password.
    pub basic_auth: Option<(String, String)>,
    /// Bearer token.
    pub bearer_token: Option<String>,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Per-request timeout (default 10 s).
    pub timeout: Duration,
    /// CA file and client certificate for `https://` URLs.
    pub tls: TlsSettings,
    /// Batching, retries, spool.
    pub delivery: Delivery,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LokiKeys {
    tls: Option<TlsSettings>,
    url: String,
    encoding: Option<String>,
    compression: Option<String>,
    labels: Option<Vec<String>>,
    tenant_id: Option<String>,
    username: Option<String>,
    password: Option<String>,
    bearer_token: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    timeout: Option<String>,
}

impl LokiSettings {
    /// Defaults for pushing to `url`.
    pub fn new(url: &str) -> LokiSettings {
        LokiSettings {
            url: url.to_owned(),
            encoding: Encoding::Protobuf,
            gzip: false,
            labels: DEFAULT_STREAM_LABELS.iter().map(|s| s.to_string()).collect(),
            tenant_id: None,
            basic_auth: None,
            bearer_token: None,
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            tls: TlsSettings::default(),
            delivery: Delivery::default(),
        }
    }

    /// From a routing config table.
    pub fn from_table(table: toml::Table) -> Result<LokiSettings, String> {
        let (delivery, own) = split(table)?;
        let k: LokiKeys = toml::Value::Table(own).try_into().map_err(clean)?;
        let mut s = LokiSettings::new(&k.url);
        s.encoding = match k.encoding.as_deref() {
            None | Some("protobuf") => Encoding::Protobuf,
            Some("json") => Encoding::Json,
            Some(o) => return Err(format!("unknown encoding {o:?} (protobuf, json)")),
        };
        s.gzip = match (k.compression.as_deref(), s.encoding) {
            (None | Some("none"), _) => false,
            (Some("snappy"), Encoding::Protobuf) => false,
            (Some("gzip"), Encoding::Json) => true,
            (Some(o), e) => return Err(format!("compression {o:?} does not go with encoding {e:?} (protobuf: snappy; json: none, gzip)")),
        };
        if let Some(labels) = k.labels {
            s.labels = labels;
        }
        check_labels(&s.labels)?;
        s.tenant_id = k.tenant_id;
        s.basic_auth = match (k.username, k.password) {
            (Some(u), p) => Some((u, p.unwrap_or_default())),
            (None, Some(_)) => return Err("`password` needs `username`".into()),
            (None, None) => None,
        };
        s.bearer_token = k.bearer_token;
        s.headers = k.headers.into_iter().collect();
        if let Some(t) = k.timeout {
            s.timeout = parse_duration(&t)?;
        }
        s.tls = k.tls.unwrap_or_default();
        if s.tls.insecure.is_some() {
            return Err("tls.insecure is for OTLP gRPC endpoints without a scheme; a Loki URL says http:// or https://".into());
        }
        s.delivery = delivery.delivery()?;
        Ok(s)
    }

    fn transport(&self) -> Result<Transport, String> {
        let mut url = self.url.clone();
        if let Some(rest) = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")) {
            if !rest.trim_end_matches('/').contains('/') {
                url = format!("{}/loki/api/v1/push", url.trim_end_matches('/'));
            }
        }
        let mut headers = Vec::new();
        if let Some(t) = &self.tenant_id {
            headers.push(("X-Scope-OrgID".to_owned(), t.clone()));
        }
        if let Some((u, p)) = &self.basic_auth {
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
            headers.push(("Authorization".into(), format!("Basic {token}")));
        }
        if let Some(t) = &self.bearer_token {
            headers.push(("Authorization".into(), format!("Bearer {t}")));
        }
        headers.extend(self.headers.iter().cloned());
        let compression = match (self.encoding, self.gzip) {
            (Encoding::Protobuf, _) => Compression::Snappy,
            (Encoding::Json, true) => Compression::Gzip,
            (Encoding::Json, false) => Compression::None,
        };
        Transport::http(&url, http_headers(&headers)?, compression, RetryRule::Loki, self.timeout, &self.tls)
    }

    /// Starts the sink.
    pub fn start(self, name: &str, metrics: &Metrics, events: EventFn) -> Result<NetworkSink, String> {
        check_labels(&self.labels)?;
        let transport = self.transport()?;
        let encoder = Box::new(LokiEncoder::new(self.labels.clone(), self.encoding));
        NetworkSink::start(name, encoder, move || Ok(transport), self.delivery, metrics.sink(name), events)
    }
}

fn http_headers(headers: &[(String, String)]) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    headers
        .iter()
        .map(|(k, v)| {
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| format!("bad header name {k:?}"))?;
            let value = HeaderValue::from_str(v).map_err(|_| format!("bad value for header {k:?}"))?;
            Ok((name, value))
        })
        .collect()
}

/// OTLP's transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// `grpc`: `LogsService/Export`, default port 4317.
    Grpc,
    /// `http/protobuf`: `POST /v1/logs`, default port 4318 (the spec's default protocol).
    HttpProtobuf,
    /// `http/json`: the same with OTLP/JSON.
    HttpJson,
}

impl OtlpProtocol {
    /// Parses the `OTEL_EXPORTER_OTLP_PROTOCOL` spelling.
    ///
    /// ```
    /// use wasmhost_export::OtlpProtocol;
    /// assert_eq!(OtlpProtocol::parse("grpc").unwrap(), OtlpProtocol::Grpc);
    /// assert!(OtlpProtocol::parse("thrift").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<OtlpProtocol, String> {
        match text.trim() {
            "grpc" => Ok(OtlpProtocol::Grpc),
            "http/protobuf" => Ok(OtlpProtocol::HttpProtobuf),
            "http/json" => Ok(OtlpProtocol::HttpJson),
            o => Err(format!("unknown OTLP protocol {o:?} (grpc, http/protobuf, http/json)")),
        }
    }
}

/// An OTLP sink's settings. Unset fields come from the `OTEL_*` variables
/// ([`OtlpSettings::resolve`]), then from the spec's defaults.
#[derive(Debug, Clone, Default)]
pub struct OtlpSettings {
    /// Where to send: the full URL for HTTP (a bare `http://host:4318` gets
    /// `/v1/logs`), `http://host:4317` for gRPC.
    pub endpoint: Option<String>,
    /// The protocol.
    pub protocol: Option<OtlpProtocol>,
    /// Headers (gRPC metadata).
    pub headers: Vec<(String, String)>,
    /// gzip.
    pub gzip: Option<bool>,
    /// Per-request timeout.
    pub timeout: Option<Duration>,
    /// `service.name`.
    pub service_name: Option<String>,
    /// More resource attributes.
    pub resource_attributes: Vec<(String, String)>,
    /// CA file, client certificate, and `insecure` for scheme-less gRPC
    /// endpoints.
    pub tls: TlsSettings,
    /// Batching, retries, spool.
    pub delivery: Delivery,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OtlpKeys {
    endpoint: Option<String>,
    protocol: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    compression: Option<String>,
    timeout: Option<String>,
    service_name: Option<String>,
    #[serde(default)]
    resource_attributes: BTreeMap<String, String>,
    tls: Option<TlsSettings>,
}

/// `k=v,k2=v2` with percent-encoded values, as the `OTEL_*` lists are written.
fn key_values(text: &str) -> Vec<(String, String)> {
    text.split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (percent_decode(k.trim()), percent_decode(v.trim())))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(Ok(b)) = s.get(i + 1..i + 3).map(|h| u8::from_str_radix(h, 16)) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What an OTLP sink's settings resolve to once the `OTEL_*` variables and
/// the defaults are applied ([`OtlpSettings::resolve`]).
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpTarget {
    /// The URL requests go to.
    pub url: String,
    /// The protocol.
    pub protocol: OtlpProtocol,
    /// Headers (gRPC metadata).
    pub headers: Vec<(String, String)>,
    /// gzip.
    pub gzip: bool,
    /// Per-request timeout.
    pub timeout: Duration,
    /// `service.name`.
    pub service_name: String,
    /// The other resource attributes.
    pub resource_attributes: Vec<(String, String)>,
    /// TLS for an `https://` URL.
    pub tls: TlsSettings,
}

/// Reads an environment variable (`std::env::var` in the CLI; a map in tests).
pub type EnvFn = dyn Fn(&str) -> Option<String> + Send + Sync;

impl OtlpSettings {
    /// From a routing config table.
    pub fn from_table(table: toml::Table) -> Result<OtlpSettings, String> {
        let (delivery, own) = split(table)?;
        let k: OtlpKeys = toml::Value::Table(own).try_into().map_err(clean)?;
        Ok(OtlpSettings {
            endpoint: k.endpoint,
            protocol: k.protocol.as_deref().map(OtlpProtocol::parse).transpose()?,
            headers: k.headers.into_iter().collect(),
            gzip: match k.compression.as_deref() {
                None => None,
                Some("gzip") => Some(true),
                Some("none") => Some(false),
                Some(o) => return Err(format!("unknown compression {o:?} (gzip, none)")),
            },
            timeout: k.timeout.as_deref().map(parse_duration).transpose()?,
            service_name: k.service_name,
            resource_attributes: k.resource_attributes.into_iter().collect(),
            tls: k.tls.unwrap_or_default(),
            delivery: delivery.delivery()?,
        })
    }

    /// Whether the environment asks for OTLP log export: an OTLP endpoint
    /// variable is set, or `OTEL_LOGS_EXPORTER` is `otlp`.
    pub fn wanted_by_env(env: &dyn Fn(&str) -> Option<String>) -> bool {
        let env = |name: &str| non_empty(env, name);
        env("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT").is_some()
            || env("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
            || env("OTEL_LOGS_EXPORTER").is_some_and(|v| v.split(',').any(|e| e.trim() == "otlp"))
    }

    /// Fills what the settings leave open from the `OTEL_*` variables as
    /// the OTel SDKs read them (the `_LOGS_` variant first), then the spec's
    /// defaults.
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<OtlpTarget, String> {
        let env = |name: &str| non_empty(env, name);
        let var = |name: &str| env(&format!("OTEL_EXPORTER_OTLP_LOGS_{name}")).or_else(|| env(&format!("OTEL_EXPORTER_OTLP_{name}")));
        let protocol = match self.protocol {
            Some(p) => p,
            None => var("PROTOCOL").map(|p| OtlpProtocol::parse(&p)).transpose()?.unwrap_or(OtlpProtocol::HttpProtobuf),
        };
        let http = protocol != OtlpProtocol::Grpc;
        let url = match (&self.endpoint, env("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"), env("OTEL_EXPORTER_OTLP_ENDPOINT")) {
            (Some(e), _, _) => with_logs_path(e, http),
            // The signal-specific variable is used as is...
            (None, Some(e), _) => e,
            // ... the general one is a base to which HTTP appends /v1/logs.
            (None, None, Some(e)) if http => format!("{}/v1/logs", e.trim_end_matches('/')),
            (None, None, Some(e)) => e,
            (None, None, None) if http => "http://localhost:4318/v1/logs".into(),
            (None, None, None) => "http://localhost:4317".into(),
        };
        let tls = with_otel_env(&self.tls, &var);
        // gRPC takes `host:port` too: TLS unless `insecure`, as the spec
        // says; a scheme, when given, wins.
        let url = if !http && !url.contains("://") {
            format!("{}://{url}", if tls.insecure == Some(true) { "http" } else { "https" })
        } else {
            url
        };
        let mut headers = var("HEADERS").map(|h| key_values(&h)).unwrap_or_default();
        for (k, v) in &self.headers {
            headers.retain(|(hk, _)| !hk.eq_ignore_ascii_case(k));
            headers.push((k.clone(), v.clone()));
        }
        let gzip = match self.gzip {
            Some(g) => g,
            None => match var("COMPRESSION").as_deref().map(str::trim) {
                None | Some("none") | Some("") => false,
                Some("gzip") => true,
                Some(o) => return Err(format!("OTEL_EXPORTER_OTLP_COMPRESSION={o:?}: expected gzip or none")),
            },
        };
        let timeout = match self.timeout {
            Some(t) => t,
            None => match var("TIMEOUT") {
                Some(ms) => Duration::from_millis(
                    ms.trim().parse().map_err(|_| format!("OTEL_EXPORTER_OTLP_TIMEOUT={ms:?}: expected milliseconds"))?,
                ),
                None => Duration::from_secs(10),
            },
        };
        let mut resource_attributes = env("OTEL_RESOURCE_ATTRIBUTES").map(|r| key_values(&r)).unwrap_or_default();
        for (k, v) in &self.resource_attributes {
            resource_attributes.retain(|(rk, _)| rk != k);
            resource_attributes.push((k.clone(), v.clone()));
        }
        // OTEL_SERVICE_NAME beats service.name in OTEL_RESOURCE_ATTRIBUTES;
        // the config's own service_name beats both.
        let service_name = self
            .service_name
            .clone()
            .or_else(|| env("OTEL_SERVICE_NAME"))
            .or_else(|| resource_attributes.iter().find(|(k, _)| k == "service.name").map(|(_, v)| v.clone()))
            .unwrap_or_else(|| "unknown_service:wasmhost".into());
        resource_attributes.retain(|(k, _)| k != "service.name");
        Ok(OtlpTarget { url, protocol, headers, gzip, timeout, service_name, resource_attributes, tls })
    }

    /// Starts the sink, reading unset settings from `env`.
    pub fn start(
        self,
        name: &str,
        env: &dyn Fn(&str) -> Option<String>,
        metrics: &Metrics,
        events: EventFn,
    ) -> Result<NetworkSink, String> {
        let r = self.resolve(env)?;
        let encoding = if r.protocol == OtlpProtocol::HttpJson { Encoding::Json } else { Encoding::Protobuf };
        let encoder = Box::new(OtlpEncoder::new(resource(&r.service_name, &r.resource_attributes), encoding));
        let transport = move || match r.protocol {
            OtlpProtocol::Grpc => Transport::grpc(&r.url, &r.headers, r.gzip, r.timeout, &r.tls),
            _ => Transport::http(
                &r.url,
                http_headers(&r.headers)?,
                if r.gzip { Compression::Gzip } else { Compression::None },
                RetryRule::Otlp,
                r.timeout,
                &r.tls,
            ),
        };
        NetworkSink::start(name, encoder, transport, self.delivery, metrics.sink(name), events)
    }
}

/// A variable's value, `None` when unset or empty: the OTel spec says an
/// SDK "MUST interpret an empty value of an environment variable the same
/// way as when the variable is unset" (`OTEL_EXPORTER_OTLP_ENDPOINT=` in a
/// unit file turns nothing on, and an empty `_LOGS_` variable does not hide
/// the general one).
fn non_empty(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(name).filter(|v| !v.trim().is_empty())
}

/// A bare `http://host:port` gets `/v1/logs` for HTTP.
fn with_logs_path(endpoint: &str, http: bool) -> String {
    let bare = endpoint.strip_prefix("http://").or_else(|| endpoint.strip_prefix("https://")).is_some_and(|r| !r.trim_end_matches('/').contains('/'));
    if http && bare {
        format!("{}/v1/logs", endpoint.trim_end_matches('/'))
    } else {
        endpoint.to_owned()
    }
}

/// Builds `type = "loki"` and `type = "otlp"` sinks for
/// [`wasmhost_log::RoutingConfig::build_with`] (and the CLI's shortcuts),
/// and remembers them so [`ExportFactory::begin_shutdown`] reaches them all.
pub struct ExportFactory {
    metrics: Arc<Metrics>,
    events: EventFn,
    env: Box<EnvFn>,
    started: std::sync::Mutex<Vec<ShutdownHandle>>,
}

impl ExportFactory {
    /// A factory whose sinks count into `metrics`, say their events through
    /// `events`, and read `OTEL_*` variables through `env` (`std::env::var`
    /// in the CLI).
    pub fn new(metrics: Arc<Metrics>, events: EventFn, env: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        ExportFactory { metrics, events, env: Box::new(env), started: std::sync::Mutex::new(Vec::new()) }
    }

    /// The environment the factory reads.
    pub fn env(&self, name: &str) -> Option<String> {
        (self.env)(name)
    }

    fn started(&self, sink: Result<NetworkSink, String>) -> Result<Box<dyn Sink>, String> {
        let sink = sink?;
        crate::lock(&self.started).push(sink.shutdown_handle());
        Ok(Box::new(sink))
    }

    /// Starts a Loki sink.
    pub fn loki(&self, name: &str, settings: LokiSettings) -> Result<Box<dyn Sink>, String> {
        self.started(settings.start(name, &self.metrics, self.events.clone()))
    }

    /// Starts an OTLP sink.
    pub fn otlp(&self, name: &str, settings: OtlpSettings) -> Result<Box<dyn Sink>, String> {
        self.started(settings.start(name, &*self.env, &self.metrics, self.events.clone()))
    }

    /// Starts the shutdown grace of every sink built so far: call it when
    /// the guests are done, before waiting for the pipeline.
    pub fn begin_shutdown(&self) {
        for handle in crate::lock(&self.started).iter() {
            handle.begin();
        }
    }
}

impl SinkFactory for ExportFactory {
    fn build(&self, name: &str, kind: &str, table: toml::Table) -> Option<Result<Box<dyn Sink>, String>> {
        Some(match kind {
            "loki" => LokiSettings::from_table(table).and_then(|s| self.loki(name, s)),
            "otlp" => OtlpSettings::from_table(table).and_then(|s| self.otlp(name, s)),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn otel_variables_are_read_as_the_sdks_do() {
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=se%20cret,tenant=a"),
            ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "tenant=b"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs,deployment.environment=prod"),
            ("OTEL_SERVICE_NAME", "gateway"),
        ]);
        let OtlpTarget { url, protocol, service_name: service, resource_attributes: attrs, headers, gzip, timeout, tls } =
            OtlpSettings::default().resolve(&e).unwrap();
        assert_eq!(url, "http://collector:4318/v1/logs");
        assert_eq!(protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(service, "gateway");
        assert_eq!(attrs, vec![("deployment.environment".to_string(), "prod".to_string())]);
        // The _LOGS_ variant replaces the general one as a whole.
        assert_eq!(headers, vec![("tenant".to_string(), "b".to_string())]);
        assert!(gzip);
        assert_eq!(timeout, Duration::from_millis(2500));
        assert!(tls.is_empty());
    }

    /// Every `_LOGS_` variable beats its general twin, whichever is set
    /// first, and an empty variable counts as unset (the OTel spec).
    #[test]
    fn signal_specific_variables_win_and_empty_ones_are_unset() {
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4318"),
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://logs:4318/custom"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "none"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000"),
            ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "7000"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=general"),
            ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "a=logs"),
        ]);
        let t = OtlpSettings::default().resolve(&e).unwrap();
        assert_eq!(t.url, "http://logs:4318/custom");
        assert_eq!(t.protocol, OtlpProtocol::HttpJson);
        assert!(!t.gzip);
        assert_eq!(t.timeout, Duration::from_secs(7));
        assert_eq!(t.headers, vec![("a".to_string(), "logs".to_string())]);
        // The other way round: the general variables apply where no _LOGS_ one is set.
        let e = env(&[("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "gzip"), ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
        let t = OtlpSettings::default().resolve(&e).unwrap();
        assert!(t.gzip);
        assert_eq!((t.protocol, t.url.as_str()), (OtlpProtocol::Grpc, "http://localhost:4317"));

        let e = env(&[
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", ""),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4318"),
            ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", " "),
            ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", ""),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
            ("OTEL_SERVICE_NAME", ""),
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=attrs"),
        ]);
        let t = OtlpSettings::default().resolve(&e).unwrap();
        assert_eq!(t.url, "http://general:4318/v1/logs", "an empty _LOGS_ endpoint does not hide the general one");
        assert_eq!(t.protocol, OtlpProtocol::HttpProtobuf);
        assert_eq!(t.timeout, Duration::from_secs(2));
        assert_eq!(t.service_name, "attrs");
        assert!(!OtlpSettings::wanted_by_env(&env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", ""), ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "")])));
        assert!(OtlpSettings::wanted_by_env(&env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")])));
    }

    #[test]
    fn grpc_endpoints_without_a_scheme_are_tls_unless_insecure() {
        let grpc = OtlpSettings { protocol: Some(OtlpProtocol::Grpc), ..Default::default() };
        let e = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"), ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ca.pem")]);
        let t = grpc.resolve(&e).unwrap();
        assert_eq!(t.url, "https://collector:4317");
        assert_eq!(t.tls.ca_file.as_deref(), Some(std::path::Path::new("/etc/ca.pem")));
        let e = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"), ("OTEL_EXPORTER_OTLP_LOGS_INSECURE", "true")]);
        assert_eq!(grpc.resolve(&e).unwrap().url, "http://collector:4317");
        // A scheme beats `insecure`.
        let e = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4317"), ("OTEL_EXPORTER_OTLP_INSECURE", "true")]);
        assert_eq!(grpc.resolve(&e).unwrap().url, "https://collector:4317");
        let t: toml::Table = toml::from_str("endpoint = 'c:4317'\nprotocol = 'grpc'\ntls = { insecure = true, ca_file = 'x' }").unwrap();
        let s = OtlpSettings::from_table(t).unwrap();
        assert_eq!(s.resolve(&env(&[])).unwrap().url, "http://c:4317");
        let t: toml::Table = toml::from_str("url = 'https://l'\ntls = { insecure = true }").unwrap();
        assert!(LokiSettings::from_table(t).unwrap_err().contains("insecure"));
        let t: toml::Table = toml::from_str("url = 'https://l'\ntls = { ca = 'x' }").unwrap();
        assert!(LokiSettings::from_table(t).unwrap_err().contains("ca"));
    }

    #[test]
    fn signal_endpoint_is_used_as_is_and_grpc_keeps_the_base() {
        let e = env(&[("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://c:9999/custom"), ("OTEL_EXPORTER_OTLP_HEADERS", "k=v%2Cw")]);
        let OtlpTarget { url, service_name: service, headers, .. } = OtlpSettings::default().resolve(&e).unwrap();
        assert_eq!(url, "http://c:9999/custom");
        assert_eq!(service, "unknown_service:wasmhost");
        assert_eq!(headers, vec![("k".to_string(), "v,w".to_string())]);
        let e = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]);
        let OtlpTarget { url, protocol, .. } = OtlpSettings::default().resolve(&e).unwrap();
        assert_eq!((url.as_str(), protocol), ("http://c:4317", OtlpProtocol::Grpc));
        let bad = env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift")]);
        assert!(OtlpSettings::default().resolve(&bad).is_err());
        // Explicit settings beat the environment.
        let s = OtlpSettings { endpoint: Some("http://x:4318".into()), service_name: Some("cfg".into()), ..Default::default() };
        let OtlpTarget { url, service_name: service, .. } = s.resolve(&env(&[("OTEL_SERVICE_NAME", "envname")])).unwrap();
        assert_eq!((url.as_str(), service.as_str()), ("http://x:4318/v1/logs", "cfg"));
    }

    #[test]
    fn tables_are_checked() {
        let t: toml::Table = toml::from_str("url = 'http://l:3100'\nlabels = ['lang', 'wasm_instance_id']").unwrap();
        assert!(LokiSettings::from_table(t).unwrap_err().contains("stream label"));
        let t: toml::Table = toml::from_str("url = 'http://l:3100'\nbogus = 1").unwrap();
        assert!(LokiSettings::from_table(t).unwrap_err().contains("bogus"));
        let t: toml::Table = toml::from_str("url = 'http://l:3100'\nencoding = 'json'\ncompression = 'gzip'\nbatch_wait = '200ms'\ntenant_id = 't'").unwrap();
        let s = LokiSettings::from_table(t).unwrap();
        assert!(s.gzip);
        assert_eq!(s.delivery.batch_wait, Duration::from_millis(200));
        assert!(parse_duration("3h").is_err());
    }
}
