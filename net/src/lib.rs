//! What the AWS-side crates of aurora-logs share, so that each exists once:
//! - [`http`]: the one HTTP client (rustls, HTTP/1.1, pooled) of a process;
//! - [`aws`]: the AWS SDK configuration and [`AwsError`], the one classification of AWS errors
//!   (throttled, timeout, retryable, AWS's code) that retries and messages go by;
//! - [`iam_token`]: the IAM tokens of MSK (SASL/OAUTHBEARER) and ElastiCache (AUTH);
//! - [`redis`]: the Redis link under discovery's cache and the shared RDS budget, with TLS,
//!   AUTH and ElastiCache IAM ([`redis_iam`]);
//! - [`secret`]: secrets that never show in `Debug`, given inline or by a file read again on
//!   rotation;
//! - [`telemetry`]: the internal-event trait and the in-flight byte gauges;
//! - [`ops`]: the `/metrics`, `/healthz`, `/readyz` endpoint of every long-running mode.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod aws;
pub mod http;
pub mod iam_token;
pub mod ops;
pub mod redis;
pub mod redis_iam;
pub mod secret;
pub mod telemetry;

pub use aws::{chain as error_chain, AwsError, AwsErrorKind};
pub use http::{certificate_failure, http_client, http_client_trusting, CaFileError, HttpClient};
pub use secret::{Secret, SecretError, SecretSource};
