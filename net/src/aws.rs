//! AWS for every client of the process (RDS, DynamoDB): the SDK configuration, and the one
//! classification of AWS errors that retries, metrics and messages all go by.

use std::time::Duration;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// The SDK configuration for `region` (empty: the default chain's), an optional endpoint
/// override (a simulator, DynamoDB Local, a VPC endpoint) and optional static keys (tests);
/// without keys, credentials come from the default chain (environment, EKS Pod Identity, IRSA,
/// instance profile).
pub async fn sdk_config(
    region: &str,
    endpoint_url: &str,
    access_key_id: &str,
    secret_access_key: &crate::Secret,
) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if !region.is_empty() {
        loader = loader.region(aws_config::Region::new(region.to_string()));
    }
    if !endpoint_url.is_empty() {
        loader = loader.endpoint_url(endpoint_url);
    }
    if !access_key_id.is_empty() {
        loader = loader.credentials_provider(aws_credential_types::Credentials::new(
            access_key_id,
            secret_access_key.expose(),
            None,
            None,
            "aurora-logs-config",
        ));
    }
    loader.load().await
}

/// What kind of failure an AWS call had; it decides retrying and what to tell the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AwsErrorKind {
    /// The service asked to slow down (`Throttling`, `ThrottlingException`, …).
    Throttled,
    /// No answer in time (our timeout or the SDK's).
    Timeout,
    /// The request did not reach the service or the answer was cut (DNS, TLS, connection).
    Connection,
    /// The service answered with an error that may pass (`InternalFailure`, 5xx).
    Unavailable,
    /// The service refused the request (a missing resource, a permission, a bad parameter).
    Refused,
    /// No credentials, or the request could not be built or signed.
    Client,
}

/// An AWS call that failed, classified once: the service, the operation, AWS's error code and
/// message, and the [`AwsErrorKind`]. Callers ask [`is_throttled`](Self::is_throttled),
/// [`is_retryable`](Self::is_retryable) or [`code`](Self::code) instead of reading strings.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{service} {operation} failed: {}{message}", code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default())]
pub struct AwsError {
    /// `rds`, `dynamodb`.
    pub service: &'static str,
    /// The API operation (`DownloadDBLogFilePortion`, `UpdateItem`, …).
    pub operation: &'static str,
    /// AWS's error code, when the service answered with one.
    pub code: Option<String>,
    /// AWS's message, or the chain of the client-side error.
    pub message: String,
    /// The HTTP status of the error answer, when there was one.
    pub status: Option<u16>,
    /// The classification.
    pub kind: AwsErrorKind,
}

/// Error codes by which AWS services ask callers to slow down.
const THROTTLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestThrottled",
];

/// Error codes of a service-side failure that may pass.
const UNAVAILABLE_CODES: &[&str] = &[
    "InternalFailure",
    "InternalServerError",
    "InternalError",
    "ServiceUnavailable",
];

impl AwsError {
    /// Classify an SDK error of `service`'s `operation`.
    pub fn from_sdk<E>(
        service: &'static str,
        operation: &'static str,
        e: &SdkError<E, HttpResponse>,
    ) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let code = e.code().filter(|c| !c.is_empty()).map(str::to_string);
        let message = e.message().map(str::to_string).unwrap_or_else(|| chain(e));
        let kind = match (e, code.as_deref()) {
            (_, Some(c)) if THROTTLE_CODES.contains(&c) => AwsErrorKind::Throttled,
            (_, Some(c)) if UNAVAILABLE_CODES.contains(&c) => AwsErrorKind::Unavailable,
            (SdkError::TimeoutError(_), _) => AwsErrorKind::Timeout,
            (SdkError::DispatchFailure(f), _) if f.is_timeout() => AwsErrorKind::Timeout,
            (SdkError::DispatchFailure(f), _) if f.is_user() || f.is_other() => {
                AwsErrorKind::Client
            }
            (SdkError::DispatchFailure(_) | SdkError::ResponseError(_), _) => {
                AwsErrorKind::Connection
            }
            (SdkError::ConstructionFailure(_), _) => AwsErrorKind::Client,
            (SdkError::ServiceError(s), _) if s.raw().status().is_server_error() => {
                AwsErrorKind::Unavailable
            }
            _ => AwsErrorKind::Refused,
        };
        AwsError {
            service,
            operation,
            code,
            message,
            status: e.raw_response().map(|r| r.status().as_u16()),
            kind,
        }
    }

    /// A call of ours that got no answer within `after`.
    pub fn timeout(service: &'static str, operation: &'static str, after: Duration) -> AwsError {
        AwsError {
            service,
            operation,
            code: None,
            message: format!("no answer within {after:?}"),
            status: None,
            kind: AwsErrorKind::Timeout,
        }
    }

    /// A failure of ours before any call (no credentials, a request that cannot be signed).
    pub fn client(
        service: &'static str,
        operation: &'static str,
        message: impl Into<String>,
    ) -> AwsError {
        AwsError {
            service,
            operation,
            code: None,
            message: message.into(),
            status: None,
            kind: AwsErrorKind::Client,
        }
    }

    /// The request did not reach the service, or its answer was cut (DNS, TLS, connection).
    pub fn connection(
        service: &'static str,
        operation: &'static str,
        e: &(dyn std::error::Error + 'static),
    ) -> AwsError {
        AwsError {
            service,
            operation,
            code: None,
            message: chain(e),
            status: None,
            kind: AwsErrorKind::Connection,
        }
    }

    /// An error answer of a REST call: by AWS's error code when the body has one (the same
    /// codes as the SDK's), else by the HTTP status (429: throttled, 5xx: unavailable).
    pub fn http_answer(
        service: &'static str,
        operation: &'static str,
        status: u16,
        code: Option<&str>,
        message: impl Into<String>,
    ) -> AwsError {
        let code = code.filter(|c| !c.is_empty());
        let kind = match (code, status) {
            (Some(c), _) if THROTTLE_CODES.contains(&c) => AwsErrorKind::Throttled,
            (Some(c), _) if UNAVAILABLE_CODES.contains(&c) => AwsErrorKind::Unavailable,
            (_, 429) => AwsErrorKind::Throttled,
            (_, 500..=599) => AwsErrorKind::Unavailable,
            _ => AwsErrorKind::Refused,
        };
        AwsError {
            service,
            operation,
            code: code.map(str::to_string),
            message: format!("status {status}: {}", message.into()),
            status: Some(status),
            kind,
        }
    }

    /// The HTTP status of the error answer, when the service answered.
    pub fn http_status(&self) -> Option<u16> {
        self.status
    }

    /// Whether AWS's error `code` asks the caller to slow down (what [`is_throttled`] says of
    /// a classified error), for a caller that only has the code at hand.
    ///
    /// [`is_throttled`]: Self::is_throttled
    pub fn is_throttle_code(code: &str) -> bool {
        THROTTLE_CODES.contains(&code)
    }

    /// AWS's error code (`DBLogFileNotFoundFault`, `ResourceNotFoundException`, …), if any.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// `code: message`, or the message alone.
    pub fn detail(&self) -> String {
        match &self.code {
            Some(c) => format!("{c}: {}", self.message),
            None => self.message.clone(),
        }
    }

    /// The service asked to slow down.
    pub fn is_throttled(&self) -> bool {
        self.kind == AwsErrorKind::Throttled
    }

    /// The call got no answer in time (a write may still have happened).
    pub fn is_timeout(&self) -> bool {
        self.kind == AwsErrorKind::Timeout
    }

    /// Trying the same call later may succeed (throttling, timeouts, connections, 5xx).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            AwsErrorKind::Throttled
                | AwsErrorKind::Timeout
                | AwsErrorKind::Connection
                | AwsErrorKind::Unavailable
        )
    }

    /// The metric outcome of the call: `throttled`, `timeout` or `error`.
    pub fn outcome(&self) -> &'static str {
        match self.kind {
            AwsErrorKind::Throttled => "throttled",
            AwsErrorKind::Timeout => "timeout",
            _ => "error",
        }
    }
}

/// An error and its sources, `: `-joined.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_statuses_classify_like_sdk_errors() {
        let t = AwsError::http_answer("rds", "downloadCompleteLogFile", 429, None, "slow down");
        assert!(t.is_throttled() && t.is_retryable());
        assert_eq!(t.outcome(), "throttled");
        assert_eq!(t.http_status(), Some(429));
        let u = AwsError::http_answer("rds", "downloadCompleteLogFile", 503, None, "");
        assert!(!u.is_throttled() && u.is_retryable());
        let c = AwsError::http_answer("rds", "x", 400, Some("Throttling"), "Rate exceeded");
        assert!(c.is_throttled(), "the code wins over the status");
        assert!(AwsError::is_throttle_code("Throttling"));
        assert!(!AwsError::is_throttle_code("AccessDenied"));
        assert_eq!(c.code(), Some("Throttling"));
        let r = AwsError::http_answer("rds", "downloadCompleteLogFile", 403, Some(""), "denied");
        assert!(!r.is_retryable() && r.code().is_none());
        assert_eq!(
            r.to_string(),
            "rds downloadCompleteLogFile failed: status 403: denied"
        );
        let t = AwsError::timeout("dynamodb", "UpdateItem", Duration::from_secs(5));
        assert!(t.is_timeout() && t.is_retryable());
        assert_eq!(t.outcome(), "timeout");
    }

    #[test]
    fn codes_show_in_the_message() {
        let e = AwsError {
            code: Some("ResourceNotFoundException".into()),
            ..AwsError::client("dynamodb", "GetItem", "no table")
        };
        assert_eq!(
            e.to_string(),
            "dynamodb GetItem failed: ResourceNotFoundException: no table"
        );
        assert_eq!(e.code(), Some("ResourceNotFoundException"));
    }
}
