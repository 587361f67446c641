//! The one HTTP client of a process, shared by the OpenObserve sink and the RDS complete
//! download: rustls with the web PKI roots (no system certificate store needed), HTTP/1.1 with
//! connection reuse. A server behind a private CA (an OpenObserve inside the cluster) gets a
//! client of its own that also trusts that CA: [`http_client_trusting`].

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// The shared HTTP client type.
pub type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(60);

/// Why a CA file could not be trusted.
#[derive(Debug, thiserror::Error)]
pub enum CaFileError {
    /// The file could not be read.
    #[error("reading the CA file {path}: {source}; give a PEM file of the CA that signed the server's certificate")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// It holds no usable certificate.
    #[error("the CA file {path} holds no PEM certificate the TLS library accepts ({reason}); give the CA's certificate in PEM (-----BEGIN CERTIFICATE-----)")]
    Invalid {
        /// The file.
        path: String,
        /// What was wrong.
        reason: String,
    },
}

/// Build the shared HTTP client.
pub fn http_client() -> HttpClient {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(provider)
        .expect("the aws-lc-rs provider supports the default protocol versions")
        .https_or_http()
        .enable_http1()
        .build();
    pooled(https)
}

/// A client that trusts the web PKI roots and the certificates of the PEM file `ca_file`.
pub fn http_client_trusting(ca_file: &Path) -> Result<HttpClient, CaFileError> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for cert in ca_certificates(ca_file)? {
        roots.add(cert).map_err(|e| CaFileError::Invalid {
            path: ca_file.display().to_string(),
            reason: e.to_string(),
        })?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the aws-lc-rs provider supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    Ok(pooled(https))
}

/// The certificates of a PEM file (at least one).
pub fn ca_certificates(ca_file: &Path) -> Result<Vec<CertificateDer<'static>>, CaFileError> {
    let path = ca_file.display().to_string();
    let pem = std::fs::read(ca_file).map_err(|source| CaFileError::Read {
        path: path.clone(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CaFileError::Invalid {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(CaFileError::Invalid {
            path,
            reason: "no certificate in it".into(),
        });
    }
    Ok(certs)
}

/// The certificate failure in an error's chain, if the error is one: the server presented a
/// certificate this client does not trust (signed by a CA it does not know, for another name,
/// expired). Retrying does not help; the configuration (a CA file) does.
pub fn certificate_failure(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let is_cert = |e: &rustls::Error| {
        matches!(
            e,
            rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
        )
    };
    let mut cur = Some(err);
    while let Some(e) = cur {
        // tokio-rustls wraps the rustls error in an io::Error, whose `source()` skips it.
        let inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|i| i.downcast_ref::<rustls::Error>());
        if let Some(r) = inner.or_else(|| e.downcast_ref::<rustls::Error>()) {
            if is_cert(r) {
                return Some(r.to_string());
            }
        }
        // Some clients (redis) hold the cause behind an `Arc<dyn Error>`, which no downcast
        // reaches; rustls's words for it do.
        let text = e.to_string();
        if let Some(at) = text.find("invalid peer certificate") {
            return Some(text[at..].to_string());
        }
        cur = e.source();
    }
    None
}

/// Everything but RFC 3986's unreserved characters (`A-Za-z0-9-._~`).
const NOT_UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `s` percent-encoded for a URL path segment or a query value, as SigV4 signs them: every byte
/// but RFC 3986's unreserved characters as `%XX`.
pub fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, NOT_UNRESERVED).to_string()
}

fn pooled(https: hyper_rustls::HttpsConnector<HttpConnector>) -> HttpClient {
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE)
        .build(https)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_ca_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = http_client_trusting(&dir.path().join("absent.pem"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("absent.pem") && e.contains("PEM file of the CA"),
            "{e}"
        );
        for (name, text) in [
            ("empty.pem", "".as_bytes()),
            ("garbage.pem", b"\xff\xfe not pem at all".as_slice()),
            (
                "truncated.pem",
                b"-----BEGIN CERTIFICATE-----\nMIIB\n".as_slice(),
            ),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            let e = http_client_trusting(&path).err().unwrap().to_string();
            assert!(e.contains(name) && e.contains("PEM"), "{name}: {e}");
        }
    }
}
