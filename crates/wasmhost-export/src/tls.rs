//! TLS for the network sinks: the settings (`tls = { ca_file, cert_file,
//! key_file }`, the `OTEL_EXPORTER_OTLP_*CERTIFICATE`/`_CLIENT_KEY`
//! variables) and the one rustls client configuration per sink that both
//! transports (HTTP/1.1 and gRPC over HTTP/2) connect with.
//!
//! rustls runs on the `ring` provider (rustls' default, aws-lc-rs, needs
//! cmake and builds far longer). Without a CA file the server is checked
//! against the system's roots, read by `rustls-native-certs` — the
//! distribution's store, `SSL_CERT_FILE` and `SSL_CERT_DIR` — as the Go OTel
//! SDK, Promtail and Alloy do, so a private CA installed on the host works
//! without wasmhost's own setting. A CA file replaces the system roots, as
//! the collector's `ca_file` and Promtail's `tls_config.ca_file` do.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

/// Which certificates a sink trusts and presents on `https://` URLs.
/// (Ignored for `http://` URLs, as the OTel spec says the certificate
/// settings are "only used for a secure connection".)
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM file of the CA certificate(s) to trust instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// PEM file of the client certificate (chain) for mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// PEM file of the client certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// OTLP gRPC only: an endpoint without a scheme (`collector:4317`) is
    /// plain text when set, TLS when not (the spec's `insecure`, default false).
    pub insecure: Option<bool>,
}

impl TlsSettings {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == TlsSettings::default()
    }

    /// The client configuration for `https://` connections: the CA file's
    /// certificates or the system roots, and the client certificate if one
    /// is set. Errors name the file and what is wrong with it.
    pub fn client_config(&self) -> Result<rustls::ClientConfig, String> {
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_file {
            Some(path) => {
                let certs = certificates(path)?;
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(format!("{}: no usable CA certificate in it", path.display()));
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
                if roots.is_empty() {
                    let why = found.errors.first().map(|e| format!(" ({e})")).unwrap_or_default();
                    return Err(format!(
                        "no trusted root certificates in the system store{why}: install ca-certificates, \
                         set SSL_CERT_FILE, or give the sink a CA file (tls.ca_file, OTEL_EXPORTER_OTLP_CERTIFICATE)"
                    ));
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_root_certificates(roots);
        match (&self.cert_file, &self.key_file) {
            (None, None) => Ok(builder.with_no_client_auth()),
            (Some(cert), Some(key)) => {
                let chain = certificates(cert)?;
                let private = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: no private key read: {e}", key.display()))?;
                builder
                    .with_client_auth_cert(chain, private)
                    .map_err(|e| format!("client certificate {} with key {}: {e}", cert.display(), key.display()))
            }
            (Some(_), None) => Err("a client certificate (cert_file) needs its key (key_file)".into()),
            (None, Some(_)) => Err("a client key (key_file) needs its certificate (cert_file)".into()),
        }
    }
}

/// Every certificate of a PEM file; at least one.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no PEM certificate in it", path.display()));
    }
    Ok(certs)
}

/// The settings with the `OTEL_EXPORTER_OTLP_(LOGS_)CERTIFICATE`,
/// `_CLIENT_CERTIFICATE`, `_CLIENT_KEY` and `_INSECURE` variables filling
/// what `explicit` leaves unset. `var` reads one variable by its suffix,
/// the `_LOGS_` variant first.
pub(crate) fn with_otel_env(explicit: &TlsSettings, var: &dyn Fn(&str) -> Option<String>) -> TlsSettings {
    let path = |own: &Option<PathBuf>, name: &str| own.clone().or_else(|| var(name).filter(|v| !v.trim().is_empty()).map(PathBuf::from));
    TlsSettings {
        ca_file: path(&explicit.ca_file, "CERTIFICATE"),
        cert_file: path(&explicit.cert_file, "CLIENT_CERTIFICATE"),
        key_file: path(&explicit.key_file, "CLIENT_KEY"),
        // The spec's booleans: "true", any case, is true; anything else false.
        insecure: explicit.insecure.or_else(|| var("INSECURE").map(|v| v.trim().eq_ignore_ascii_case("true"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_files_are_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = TlsSettings { ca_file: Some(dir.path().join("nope.pem")), ..Default::default() };
        assert!(missing.client_config().unwrap_err().contains("nope.pem"));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = TlsSettings { ca_file: Some(empty), ..Default::default() }.client_config().unwrap_err();
        assert!(e.contains("empty.pem") && e.contains("no PEM certificate"), "{e}");
        let half = TlsSettings { cert_file: Some(dir.path().join("c.pem")), ..Default::default() };
        assert!(half.client_config().unwrap_err().contains("needs its key"));
    }

    #[test]
    fn otel_variables_fill_only_what_is_unset() {
        let vars = |name: &str| match name {
            "CERTIFICATE" => Some("/env/ca.pem".to_owned()),
            "CLIENT_KEY" => Some("/env/key.pem".to_owned()),
            "INSECURE" => Some("TRUE".to_owned()),
            _ => None,
        };
        let explicit = TlsSettings { ca_file: Some("/cfg/ca.pem".into()), ..Default::default() };
        let t = with_otel_env(&explicit, &vars);
        assert_eq!(t.ca_file.as_deref(), Some(Path::new("/cfg/ca.pem")));
        assert_eq!(t.key_file.as_deref(), Some(Path::new("/env/key.pem")));
        assert_eq!(t.cert_file, None);
        assert_eq!(t.insecure, Some(true));
        let no = |name: &str| (name == "INSECURE").then(|| "yes".to_owned());
        assert_eq!(with_otel_env(&TlsSettings::default(), &no).insecure, Some(false), "only \"true\" is true");
    }
}
