//! What the AWS-side crates of aurora-logs share, so that each exists once:
//! - [`http`]: the one HTTP client (rustls, HTTP/1.1, pooled) of a process;
//! - [`aws`]: the AWS SDK configuration and [`AwsError`], the one classification of AWS errors
//!   (throttled, timeout, retryable, AWS's code) that retries and messages go by;
//! - [`redis`]: the Redis link under discovery's cache and the shared RDS budget;
//! - [`telemetry`]: the internal-event trait and the in-flight byte gauges;
//! - [`ops`]: the `/metrics`, `/healthz`, `/readyz` endpoint of every long-running mode.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod aws;
pub mod http;
pub mod ops;
pub mod redis;
pub mod telemetry;

pub use aws::{AwsError, AwsErrorKind};
pub use http::{http_client, HttpClient};
