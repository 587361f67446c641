//! Where log bytes come from: the RDS API.
//!
//! # Brief overview
//! [`RdsSource`] lists Aurora instances and their log files and downloads a file from a
//! checkpoint as [`Chunk`]s into a bounded channel, by either path:
//! - the portion API, through a hand-written loop (the SDK's paginator stops early, or starts
//!   over on a `"0"` marker): it honours `AdditionalDataPending` but checks it against the
//!   listed size, retries a page cut by the 1 MB cap with fewer lines, and switches to the
//!   complete download when markers show a gap;
//! - the complete-file REST download, signed with SigV4, streamed with no size cap.
//!
//! Every RDS call of the process passes one rate limiter, and, in the distributed deployment,
//! the budget shared by every process ([`budget`]). While permits are short, listings and the
//! urgent kinds' downloads get them before the bulk kinds' downloads ([`Rank`]).

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod api;
pub mod budget;
mod complete;
mod portion;
mod rank;
pub mod telemetry;

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

pub use api::{FileListing, InstanceInfo, RdsSource, RecentCalls};
pub use rank::Rank;

use contract::MarkerAt;

/// How files are downloaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DownloadMode {
    /// `DownloadDBLogFilePortion` (IAM `rds:DownloadDBLogFilePortion`), falling back to the
    /// complete download for binary files and marker gaps.
    #[default]
    Portion,
    /// The streamed `downloadCompleteLogFile` REST call (IAM `rds:DownloadCompleteDBLogFile`):
    /// no 1 MB cap, one request a file.
    Complete,
}

/// How to reach RDS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RdsConfig {
    /// AWS region.
    pub region: String,
    /// Endpoint override (a simulator, a VPC endpoint); empty means the public endpoint.
    pub endpoint_url: String,
    /// Static credentials (for simulators and tests); empty means the default AWS chain
    /// (environment, EKS Pod Identity, IRSA, instance profile).
    pub access_key_id: String,
    /// Secret of `access_key_id`.
    pub secret_access_key: net::Secret,
    /// Download path.
    pub download: DownloadMode,
    /// Path version of the complete download (`v13`; AWS announced `v19` for after 2027-03-01).
    pub complete_path_version: String,
    /// Lines asked per portion (RDS's maximum and default is 10000).
    pub portion_lines: i32,
    /// Sustained RDS calls per second for this process (the account's whole budget is 12/s,
    /// shared with every other RDS client).
    pub calls_per_second: u32,
    /// Burst of RDS calls.
    pub burst: u32,
    /// Engines to ship (`aurora-mysql`, `aurora-postgresql`).
    pub engines: Vec<String>,
    /// Only these cluster ids (empty: all).
    pub include_clusters: Vec<String>,
    /// Never these cluster ids.
    pub exclude_clusters: Vec<String>,
    /// Only instances carrying at least one of these tags, each `key=value` (`key` alone: any
    /// value). Empty: all.
    pub include_tags: Vec<String>,
    /// Never instances carrying one of these tags, each `key=value` (`key` alone: any value).
    pub exclude_tags: Vec<String>,
    /// Retries of a throttled call (after the SDK's own) before the job gives up.
    pub throttle_retries: usize,
    /// Timeout of one call (a complete download: of each read).
    #[serde(with = "humantime_serde")]
    pub call_timeout: Duration,
}

impl Default for RdsConfig {
    fn default() -> Self {
        RdsConfig {
            region: "us-east-1".into(),
            endpoint_url: String::new(),
            access_key_id: String::new(),
            secret_access_key: net::Secret::default(),
            download: DownloadMode::Portion,
            complete_path_version: "v13".into(),
            portion_lines: 10_000,
            calls_per_second: 8,
            burst: 40,
            engines: vec!["aurora-mysql".into(), "aurora-postgresql".into()],
            include_clusters: Vec::new(),
            exclude_clusters: Vec::new(),
            include_tags: Vec::new(),
            exclude_tags: Vec::new(),
            throttle_retries: 8,
            call_timeout: Duration::from_secs(60),
        }
    }
}

/// Whether tags `(key, value)` match one of `patterns` (`key=value`, or `key` for any value).
pub fn tags_match<'a>(
    patterns: &[String],
    tags: impl IntoIterator<Item = (&'a str, &'a str)> + Clone,
) -> bool {
    patterns.iter().any(|p| {
        let (k, v) = match p.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (p.as_str(), None),
        };
        tags.clone()
            .into_iter()
            .any(|(tk, tv)| tk == k && v.is_none_or(|v| v == tv))
    })
}

/// A piece of a file. Its bytes count as in flight in the `download` stage until it is dropped
/// (after parsing).
#[derive(Debug)]
pub struct Chunk {
    /// File offset of `data[0]`.
    pub offset: u64,
    /// The bytes.
    pub data: Bytes,
    /// A marker that resumes right after this chunk (portion API only).
    pub next: Option<MarkerAt>,
    _held: net::telemetry::InFlight,
}

impl Chunk {
    /// A chunk of `data` at file offset `offset`.
    pub fn new(offset: u64, data: Bytes, next: Option<MarkerAt>) -> Chunk {
        Chunk {
            _held: net::telemetry::InFlight::new("download", data.len()),
            offset,
            data,
            next,
        }
    }
}

/// How a download ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DownloadEnd {
    /// File offset after the last byte delivered.
    pub offset: u64,
    /// The download stopped before the end RDS knows of (a `"0"` marker mid-file): try again
    /// later from the checkpoint.
    pub partial: bool,
}

/// Why RDS could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The file is gone (rotated away or deleted): re-list.
    #[error("log file {file} of {instance} not found (rotated or deleted); it will be re-listed")]
    FileNotFound {
        /// Instance.
        instance: String,
        /// File.
        file: String,
    },
    /// The instance does not exist (or is being created).
    #[error("instance {0} not found")]
    InstanceNotFound(String),
    /// RDS kept throttling.
    #[error("rds throttled {call} {retries} times in a row; lower rds.calls_per_second or add a processor later")]
    Throttled {
        /// The call.
        call: &'static str,
        /// Retries made.
        retries: usize,
    },
    /// Any other failure of an RDS call, classified once by [`net::AwsError`].
    #[error(transparent)]
    Aws(#[from] net::AwsError),
    /// The source cannot be set up (configuration, credentials): what to set is in the message.
    #[error("rds source: {0}")]
    Config(String),
    /// The receiving side went away (shutdown).
    #[error("download cancelled")]
    Cancelled,
}

impl SourceError {
    /// Whether the file is gone, so the job should re-list instead of retrying.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            SourceError::FileNotFound { .. } | SourceError::InstanceNotFound(_)
        )
    }

    /// RDS asked to slow down (and kept asking through every retry).
    pub fn is_throttled(&self) -> bool {
        match self {
            SourceError::Throttled { .. } => true,
            SourceError::Aws(e) => e.is_throttled(),
            _ => false,
        }
    }

    /// Trying the job again later may succeed: throttling, timeouts, connections, RDS 5xx,
    /// a file that is gone (the retry re-lists). Configuration errors and refusals are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            SourceError::FileNotFound { .. }
            | SourceError::InstanceNotFound(_)
            | SourceError::Throttled { .. } => true,
            SourceError::Aws(e) => e.is_retryable(),
            SourceError::Config(_) | SourceError::Cancelled => false,
        }
    }

    /// The classified AWS error, when an RDS call failed.
    pub fn aws(&self) -> Option<&net::AwsError> {
        match self {
            SourceError::Aws(e) => Some(e),
            _ => None,
        }
    }
}

/// The literal suffix RDS puts on a portion cut by its 1 MB cap.
pub const TRUNCATION_SUFFIX: &str = " [Your log message was truncated]";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_errors_answer_questions_instead_of_strings() {
        let throttled = SourceError::Throttled {
            call: "DescribeDBLogFiles",
            retries: 5,
        };
        assert!(throttled.is_throttled() && throttled.is_retryable());
        let refused = SourceError::Aws(net::AwsError {
            code: Some("AccessDenied".into()),
            ..net::AwsError::http_answer("rds", "DescribeDBLogFiles", 403, None, "not allowed")
        });
        assert!(!refused.is_retryable() && !refused.is_throttled());
        assert_eq!(
            refused.aws().and_then(net::AwsError::code),
            Some("AccessDenied")
        );
        let down = SourceError::Aws(net::AwsError::http_answer(
            "rds",
            "downloadCompleteLogFile",
            503,
            None,
            "",
        ));
        assert!(down.is_retryable());
        assert!(!SourceError::Config("rds.region is empty".into()).is_retryable());
        let gone = SourceError::FileNotFound {
            instance: "i".into(),
            file: "f".into(),
        };
        assert!(gone.is_not_found() && gone.is_retryable());
    }

    #[test]
    fn tag_patterns_match_key_value_or_key_alone() {
        let tags = [("team", "shop"), ("env", "prod")];
        let m = |p: &[&str]| {
            let p: Vec<String> = p.iter().map(|s| s.to_string()).collect();
            tags_match(&p, tags.iter().copied())
        };
        assert!(m(&["team=shop"]));
        assert!(m(&["team"]));
        assert!(m(&["x=y", "env=prod"]));
        assert!(!m(&["team=billing"]));
        assert!(!m(&["owner"]));
        assert!(!m(&[]));
        assert!(!m(&["team=shop=1"]));
    }
}
