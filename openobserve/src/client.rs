//! OpenObserve's management API over HTTP(S): JSON in, JSON out, Basic auth, one timeout per
//! request, and errors that name the request and carry the server's answer.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use net::{HttpClient, Secret};
use serde_json::Value;

/// Largest answer read: management answers are small (a dashboard is tens of kB).
const MAX_ANSWER_BYTES: usize = 16 << 20;
/// Longest part of an answer body quoted in an error.
const MAX_QUOTED_BYTES: usize = 500;

/// Which OpenObserve, as whom: the sink's `[openobserve]` url, org, user and password.
#[derive(Clone, Debug)]
pub struct Target {
    /// Base URL, e.g. `http://openobserve:5080`.
    pub url: String,
    /// Organization.
    pub org: String,
    /// User (e-mail).
    pub user: String,
    /// Password. The user needs management rights (in the open-source edition every user is
    /// an admin); an ingestion-only passcode or token cannot install.
    pub password: Secret,
    /// PEM file of a private CA that signed OpenObserve's certificate.
    pub ca_file: Option<PathBuf>,
    /// Timeout of one request.
    pub timeout: Duration,
}

impl Target {
    /// A target with a 30 s request timeout.
    pub fn new(url: &str, org: &str, user: &str, password: &str) -> Target {
        Target {
            url: url.trim_end_matches('/').to_owned(),
            org: org.to_owned(),
            user: user.to_owned(),
            password: Secret::new(password),
            ca_file: None,
            timeout: Duration::from_secs(30),
        }
    }
}

/// A request that failed, with what it was and what the server said.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No connection or no complete answer.
    #[error("{method} {url}: {reason}; check openobserve.url and that OpenObserve is up")]
    Unreachable {
        /// Request method.
        method: Method,
        /// Full URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// No answer within the timeout.
    #[error("{method} {url}: no answer within {timeout:?}")]
    Timeout {
        /// Request method.
        method: Method,
        /// Full URL.
        url: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The server answered with an error status.
    #[error("{method} {url}: OpenObserve answered {status}: {body}{hint}")]
    Status {
        /// Request method.
        method: Method,
        /// Full URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The answer's body (its `message` when it is OpenObserve's error JSON), shortened.
        body: String,
        /// What the user can do, when the status says it.
        hint: &'static str,
    },
    /// A 2xx answer that is not the JSON expected.
    #[error("{method} {url}: unexpected answer: {reason}")]
    BadAnswer {
        /// Request method.
        method: Method,
        /// Full URL.
        url: String,
        /// What was wrong with it.
        reason: String,
    },
}

impl ApiError {
    /// The HTTP status, when the server answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the credentials were refused (retrying will not help).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self.status(), Some(401 | 403))
    }
}

/// The management API of one org.
#[derive(Clone, Debug)]
pub(crate) struct Api {
    client: HttpClient,
    base: String,
    org: String,
    auth: HeaderValue,
    timeout: Duration,
}

impl Api {
    pub(crate) fn new(target: &Target) -> Result<Api, String> {
        if target.url.parse::<http::Uri>().is_err() {
            return Err(format!("openobserve.url {:?} is not a URL", target.url));
        }
        let client = match &target.ca_file {
            Some(ca) => net::http_client_trusting(ca).map_err(|e| e.to_string())?,
            None => net::http_client(),
        };
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            target.user,
            target.password.expose()
        ));
        let mut auth = HeaderValue::from_str(&format!("Basic {credentials}"))
            .map_err(|_| "the user or password holds bytes no HTTP header can carry")?;
        auth.set_sensitive(true);
        Ok(Api {
            client,
            base: target.url.trim_end_matches('/').to_owned(),
            org: target.org.clone(),
            auth,
            timeout: target.timeout,
        })
    }

    /// The org's path segment, percent-encoded.
    pub(crate) fn org(&self) -> String {
        segment(&self.org)
    }

    /// `method` on `path` (from `/api/…`), with an optional JSON body; the answer's JSON
    /// (`Value::Null` for an empty body) on 2xx.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let url = format!("{}{path}", self.base);
        let mut req = Request::builder()
            .method(method.clone())
            .uri(&url)
            .header(AUTHORIZATION, self.auth.clone());
        let bytes = match body {
            Some(b) => {
                req = req.header(CONTENT_TYPE, "application/json");
                Bytes::from(b.to_string())
            }
            None => Bytes::new(),
        };
        let req = req
            .body(Full::new(bytes))
            .map_err(|e| ApiError::Unreachable {
                method: method.clone(),
                url: url.clone(),
                reason: format!("cannot build the request: {e}"),
            })?;
        let exchange = async {
            let answer = self.client.request(req).await.map_err(|e| e.to_string())?;
            let status = answer.status();
            let body = Limited::new(answer.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .to_bytes();
            Ok::<_, String>((status, body))
        };
        let (status, body) = match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => {
                return Err(ApiError::Timeout {
                    method,
                    url,
                    timeout: self.timeout,
                })
            }
            Ok(Err(reason)) => {
                return Err(ApiError::Unreachable {
                    method,
                    url,
                    reason,
                })
            }
            Ok(Ok(answer)) => answer,
        };
        if !status.is_success() {
            return Err(ApiError::Status {
                method,
                url,
                status: status.as_u16(),
                body: quote(&body),
                hint: hint(status),
            });
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&body).map_err(|e| ApiError::BadAnswer {
            method,
            url,
            reason: format!("not JSON ({e}): {}", quote(&body)),
        })
    }
}

fn hint(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => " (check openobserve.user and the password: AURORA_LOGS_OPENOBSERVE__PASSWORD)",
        403 => " (the user lacks management rights; an ingestion-only credential cannot install)",
        _ => "",
    }
}

/// The body of an error answer for a message: OpenObserve's `{"code","message"}` gives its
/// message, anything else is quoted, shortened.
fn quote(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        if let Some(m) = v.get("message").and_then(Value::as_str) {
            return m.to_owned();
        }
    }
    let text = String::from_utf8_lossy(body);
    match text.char_indices().nth(MAX_QUOTED_BYTES) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.into_owned(),
    }
}

/// Percent-encodes one path segment or query value (RFC 3986 unreserved characters kept).
pub(crate) fn segment(s: &str) -> String {
    net::http::percent_encode(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(
            segment("aurora-logs: MySQL/x"),
            "aurora-logs%3A%20MySQL%2Fx"
        );
        assert_eq!(segment("a_b.c~d"), "a_b.c~d");
    }

    #[test]
    fn error_bodies_are_quoted_by_their_message() {
        assert_eq!(
            quote(
                br#"{"code":409,"message":"Conflict: Failed to save due to concurrent changes"}"#
            ),
            "Conflict: Failed to save due to concurrent changes"
        );
        assert_eq!(quote(b"Unauthorized Access"), "Unauthorized Access");
        assert!(quote(&vec![b'x'; 2000]).ends_with('…'));
    }
}
