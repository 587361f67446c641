//! Configuration of the OpenObserve sink.

use std::path::PathBuf;
use std::time::Duration;

use contract::{LogKind, PerKind};
use net::Secret;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Request body compression.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// zstd; falls back to gzip, once and logged, if the server answers 415 (every axum-era
    /// OpenObserve release v0.60–v0.92 does).
    #[default]
    Zstd,
    /// gzip: every OpenObserve version takes it.
    Gzip,
    /// No compression.
    None,
}

/// Where and how records are sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenObserveConfig {
    /// Base URL of OpenObserve, e.g. `http://openobserve:5080` or `https://…`.
    pub url: String,
    /// PEM file of a private CA that signed OpenObserve's certificate (trusted besides the web
    /// PKI roots); only for an `https://` url.
    pub ca_file: Option<PathBuf>,
    /// Organization.
    pub org: String,
    /// User (email) for basic auth: an ingestion-only user, never the root user.
    pub user: String,
    /// Its password or ingestion passcode: best from `AURORA_LOGS_OPENOBSERVE__PASSWORD`, or
    /// from a file (`password_file`).
    pub password: Secret,
    /// A file holding the password (a mounted Secret), read again when it changes; instead of
    /// `password`.
    pub password_file: Option<PathBuf>,
    /// Body compression.
    pub compression: Compression,
    /// zstd level: 1 by default; higher levels compress smaller and slower (not measured on
    /// this project's bodies); the negative levels (-1 … -5) measured 1.3–2× as fast for
    /// bodies 1.5–1.8× as large (BENCHMARKS.md, "Where the processor's instructions go").
    pub zstd_level: i32,
    /// Requests in flight at once, for the whole process.
    pub concurrency: usize,
    /// Timeout of one request, answer included.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// First retry delay; doubles per retry, with jitter.
    #[serde(with = "humantime_serde")]
    pub retry_initial: Duration,
    /// Longest delay between retries.
    #[serde(with = "humantime_serde")]
    pub retry_max_delay: Duration,
    /// Retries of one request before the file's job gives up (it is retried later from its
    /// checkpoint; nothing is lost).
    pub max_retries: usize,
    /// OpenObserve stream that records refused for good go to, each wrapped with its stream,
    /// `record_id`, reason and the record itself as a string (a field type conflict cannot
    /// refuse it again): durable beyond the pod, searchable, and replayed by `aurora-logs
    /// openobserve replay-dead-letters` once the cause is fixed. Empty: the dead-letter file
    /// only. A letter this stream refuses too (one over OpenObserve's size limit) goes to the
    /// file.
    pub dead_letter_stream: String,
    /// Dead-letter file: refused records, with the reason, as NDJSON, when there is no
    /// dead-letter stream or it refused them. Relative paths are under the state directory.
    pub dead_letter_path: String,
    /// Bound of the dead-letter file; when full, shipping stops with an error rather than drop.
    pub dead_letter_max_bytes: u64,
}

/// The dead-letter stream's default name.
pub const DEFAULT_DEAD_LETTER_STREAM: &str = "aurora_dead_letters";

impl Default for OpenObserveConfig {
    fn default() -> Self {
        OpenObserveConfig {
            url: "http://127.0.0.1:5080".into(),
            org: "default".into(),
            ca_file: None,
            user: "root@example.com".into(),
            password: Secret::default(),
            password_file: None,
            compression: Compression::Zstd,
            zstd_level: 1,
            concurrency: 4,
            request_timeout: Duration::from_secs(30),
            retry_initial: Duration::from_millis(200),
            retry_max_delay: Duration::from_secs(30),
            max_retries: 12,
            dead_letter_stream: DEFAULT_DEAD_LETTER_STREAM.into(),
            dead_letter_path: "dead-letter.ndjson".into(),
            dead_letter_max_bytes: 1 << 30,
        }
    }
}

/// OpenObserve stream per log kind; in configuration a table keyed by the record's `log_type`
/// (`mysql_slow`, `mysql_error`, `mysql_general`, `mysql_audit`, `postgresql`). Defaults:
/// `aurora_mysql_slowquery`, `aurora_mysql_error`, `aurora_mysql_general`, `aurora_mysql_audit`,
/// `aurora_postgresql`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamsConfig(PerKind<String>);

impl Default for StreamsConfig {
    fn default() -> Self {
        StreamsConfig(PerKind::from_fn(|k| k.spec().default_stream.to_string()))
    }
}

impl StreamsConfig {
    /// The stream of `kind`.
    pub fn stream(&self, kind: LogKind) -> &str {
        self.0.get(kind)
    }
}

impl Serialize for StreamsConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_keyed(s, LogKind::log_type)
    }
}

impl<'de> Deserialize<'de> for StreamsConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        PerKind::deserialize_keyed(d, LogKind::log_type, StreamsConfig::default().0)
            .map(StreamsConfig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_default_per_kind_and_read_by_log_type() {
        let s = StreamsConfig::default();
        assert_eq!(s.stream(LogKind::MysqlSlow), "aurora_mysql_slowquery");
        assert_eq!(s.stream(LogKind::Postgresql), "aurora_postgresql");
        let s: StreamsConfig = serde_json::from_str(r#"{"mysql_audit":"audit"}"#).unwrap();
        assert_eq!(s.stream(LogKind::MysqlAudit), "audit");
        assert_eq!(s.stream(LogKind::MysqlError), "aurora_mysql_error");
        assert!(serde_json::from_str::<StreamsConfig>(r#"{"audit":"x"}"#).is_err());
    }
}
