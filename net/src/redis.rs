//! The Redis (or Valkey) connection of the processes: discovery's cache and the shared RDS
//! budget both go through a [`RedisLink`]: lazily connected, reconnecting by itself, every
//! operation under a timeout, and after a failure skipped for a moment so that an outage costs
//! one timeout, not one per call. Redis is a cache and a coordinator here, never the truth:
//! callers fall back when it is away.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use metrics::counter;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};

/// Redis operations that failed or timed out, by `component` (`rds_budget`, `rds_cache`, …).
pub const REDIS_ERRORS: &str = "aurora_logs_redis_errors_total";

/// After a failed operation, a link skips Redis for this long (answering "unavailable" at once):
/// an outage then costs one timeout a second, not one per call.
pub const REDIS_RETRY_AFTER: Duration = Duration::from_secs(1);
/// A link logs its unavailability at most this often.
pub const WARN_EVERY: Duration = Duration::from_secs(60);
/// Describe this module's metric to the recorder.
pub fn describe() {
    metrics::describe_counter!(
        REDIS_ERRORS,
        "Redis operations that failed or timed out, by component"
    );
}

/// Where Redis (or Valkey) is, and how long to wait for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]` (`rediss://` is not built in).
    pub url: String,
    /// Prefix of every key this deployment writes (one Redis can serve several deployments).
    pub key_prefix: String,
    /// Timeout of one Redis operation (connecting included). Redis is a cache here: past this,
    /// the caller goes on without it.
    #[serde(with = "humantime_serde")]
    pub op_timeout: Duration,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: "redis://127.0.0.1:6379".into(),
            key_prefix: "aurora-logs:".into(),
            op_timeout: Duration::from_millis(250),
        }
    }
}

/// Why Redis could not be used for one operation. Callers do not retry: they fall back.
#[derive(Debug, thiserror::Error)]
pub enum RedisLinkError {
    /// The URL or a setting is invalid (a configuration error, reported at startup).
    #[error("redis configuration is invalid: {0}; expected a url like redis://host:port and positive rates")]
    Config(String),
    /// No answer within `op_timeout`.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// A recent operation failed: Redis is skipped for a moment.
    #[error("redis is skipped for a moment after a failure")]
    Skipped,
    /// Redis answered with an error, or the connection failed.
    #[error("redis failed: {0}")]
    Redis(String),
}

/// A lazily connected, self-healing Redis connection; see the module docs.
pub struct RedisLink {
    conn: ConnectionManager,
    config: RedisConfig,
    component: &'static str,
    fallback: String,
    skip_until: Mutex<Option<Instant>>,
    warned_at: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLink")
            .field("component", &self.component)
            .field("key_prefix", &self.config.key_prefix)
            .finish_non_exhaustive()
    }
}

impl RedisLink {
    /// A link for `component` (a metric label: `rds_budget`, `rds_cache`), which says in its
    /// warning what happens while Redis is away (`fallback`). Connects on first use, so a Redis
    /// that is down at startup delays nothing. Call it inside a tokio runtime.
    pub fn new(
        config: RedisConfig,
        component: &'static str,
        fallback: impl Into<String>,
    ) -> Result<RedisLink, RedisLinkError> {
        let client = redis::Client::open(config.url.as_str())
            .map_err(|e| RedisLinkError::Config(e.to_string()))?;
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.op_timeout))
            .set_response_timeout(Some(config.op_timeout))
            // One attempt per reconnection: the link's own skip window spaces the next ones.
            .set_number_of_retries(0);
        let conn = ConnectionManager::new_lazy_with_config(client, manager)
            .map_err(|e| RedisLinkError::Config(e.to_string()))?;
        Ok(RedisLink {
            conn,
            config,
            component,
            fallback: fallback.into(),
            skip_until: Mutex::new(None),
            warned_at: Mutex::new(None),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RedisConfig {
        &self.config
    }

    /// `key_prefix` + `suffix`.
    pub fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.config.key_prefix)
    }

    /// Run `op` on the connection under `op_timeout`. A failure is logged (at most once a
    /// minute), counted in [`REDIS_ERRORS`], and makes the next operations of the next
    /// [`REDIS_RETRY_AFTER`] fail at once with [`RedisLinkError::Skipped`].
    pub async fn run<T, F, Fut>(&self, op: F) -> Result<T, RedisLinkError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        if self
            .skip_until
            .lock()
            .expect("skip lock")
            .is_some_and(|t| Instant::now() < t)
        {
            return Err(RedisLinkError::Skipped);
        }
        let result = match tokio::time::timeout(self.config.op_timeout, op(self.conn.clone())).await
        {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => RedisLinkError::Redis(e.to_string()),
            Err(_) => RedisLinkError::Timeout(self.config.op_timeout),
        };
        *self.skip_until.lock().expect("skip lock") = Some(Instant::now() + REDIS_RETRY_AFTER);
        counter!(REDIS_ERRORS, "component" => self.component).increment(1);
        if warn_due(&self.warned_at, WARN_EVERY) {
            tracing::warn!(component = self.component, error = %result, "redis unavailable; {} (this warning repeats at most once a minute)", self.fallback);
        }
        Err(result)
    }
}

/// Whether a warning last given at `*last` may be given again now (and note it given).
pub fn warn_due(last: &Mutex<Option<Instant>>, every: Duration) -> bool {
    let mut last = last.lock().expect("warn lock");
    let now = Instant::now();
    if last.is_some_and(|t| now.duration_since(t) < every) {
        return false;
    }
    *last = Some(now);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_due_once_per_period() {
        let last = Mutex::new(None);
        assert!(warn_due(&last, Duration::from_secs(60)));
        assert!(!warn_due(&last, Duration::from_secs(60)));
        assert!(warn_due(&last, Duration::ZERO));
    }

    #[test]
    fn invalid_urls_are_refused() {
        let bad = RedisConfig {
            url: "not a url".into(),
            ..Default::default()
        };
        assert!(matches!(
            RedisLink::new(bad, "t", "x"),
            Err(RedisLinkError::Config(_))
        ));
    }
}
