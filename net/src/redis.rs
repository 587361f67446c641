//! The Redis (or Valkey) connection of the processes: discovery's cache and the shared RDS
//! budget both go through a [`RedisLink`]: lazily connected, reconnecting by itself, every
//! operation under a timeout, and after a failure skipped for a moment so that an outage costs
//! one timeout, not one per call. Redis is a cache and a coordinator here, never the truth:
//! callers fall back when it is away.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use metrics::counter;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};

use crate::redis_iam::ElastiCacheIam;
use crate::secret::{Secret, SecretSource};

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

/// Where Redis (or Valkey) is, how to prove who we are, and how long to wait for it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://host:port[/db]`, or `rediss://…` for TLS (ElastiCache with transit
    /// encryption). Credentials belong in `username` and `password`, not in the URL.
    pub url: String,
    /// PEM file of a private CA that signed the server's certificate (`rediss://` only); without
    /// it the web PKI roots are trusted (ElastiCache's certificates chain to them).
    pub ca_file: Option<PathBuf>,
    /// ACL user (ElastiCache RBAC); empty: the `default` user.
    pub username: String,
    /// Its password (AUTH): best from `AURORA_LOGS_REDIS__PASSWORD` or `password_file`.
    pub password: Secret,
    /// A file holding the password (a mounted Secret); instead of `password`. Read when the
    /// process starts.
    pub password_file: Option<PathBuf>,
    /// ElastiCache IAM authentication: the replication group or serverless cache name. Set,
    /// the link AUTHs as `username` (an IAM-enabled ElastiCache user) with IAM tokens signed
    /// by the pod's AWS credentials (`elasticache:Connect`), renewed every 10 minutes.
    pub iam_cache: String,
    /// `iam_cache` is a serverless cache.
    pub iam_serverless: bool,
    /// Region of the cache; empty: the default chain's (`AWS_REGION`).
    pub iam_region: String,
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
            ca_file: None,
            username: String::new(),
            password: Secret::default(),
            password_file: None,
            iam_cache: String::new(),
            iam_serverless: false,
            iam_region: String::new(),
            key_prefix: "aurora-logs:".into(),
            op_timeout: Duration::from_millis(250),
        }
    }
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redact_url(&self.url))
            .field("ca_file", &self.ca_file)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("password_file", &self.password_file)
            .field("iam_cache", &self.iam_cache)
            .field("iam_serverless", &self.iam_serverless)
            .field("iam_region", &self.iam_region)
            .field("key_prefix", &self.key_prefix)
            .field("op_timeout", &self.op_timeout)
            .finish()
    }
}

/// A URL with the password of its user part (`scheme://user:password@host`) replaced.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or("");
            format!("{scheme}://{user}:<redacted>{}", &rest[at..])
        }
        None => url.to_string(),
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
    /// Redis refused our credentials: falling back will not end until the configuration does.
    #[error("redis refused the credentials ({0}); check redis.username and redis.password (or password_file)")]
    Auth(String),
    /// The server's certificate is not trusted.
    #[error("redis presented a certificate that is not trusted ({0}); if a private CA signed it, set redis.ca_file to that CA's PEM file")]
    Untrusted(String),
}

impl RedisLinkError {
    /// Whether only a change of configuration ends it (credentials, trust, the URL), as
    /// opposed to an outage that passes.
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            RedisLinkError::Config(_) | RedisLinkError::Auth(_) | RedisLinkError::Untrusted(_)
        )
    }

    fn from_redis(e: redis::RedisError) -> RedisLinkError {
        if let Some(reason) = crate::http::certificate_failure(&e) {
            return RedisLinkError::Untrusted(reason);
        }
        let auth = matches!(e.kind(), redis::ErrorKind::AuthenticationFailed)
            || e.code()
                .is_some_and(|c| c == "WRONGPASS" || c == "NOAUTH" || c == "NOPERM");
        if auth {
            RedisLinkError::Auth(e.to_string())
        } else {
            RedisLinkError::Redis(e.to_string())
        }
    }
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
        let iam = (!config.iam_cache.is_empty()).then(|| {
            ElastiCacheIam::from_chain(
                &config.iam_cache,
                &config.username,
                config.iam_serverless,
                &config.iam_region,
            )
        });
        RedisLink::with_iam(config, component, fallback, iam)
    }

    /// [`RedisLink::new`] with the IAM token source given (tests give fixed credentials).
    pub fn with_iam(
        config: RedisConfig,
        component: &'static str,
        fallback: impl Into<String>,
        iam: Option<ElastiCacheIam>,
    ) -> Result<RedisLink, RedisLinkError> {
        if iam.is_some()
            && (config.username.is_empty()
                || !config.password.is_empty()
                || config.password_file.is_some())
        {
            return Err(RedisLinkError::Config(
                "redis.iam_cache needs redis.username (the IAM-enabled user) and no password: the password is the IAM token".into(),
            ));
        }
        let client = client(&config)?;
        let mut manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.op_timeout))
            .set_response_timeout(Some(config.op_timeout))
            // One attempt per reconnection: the link's own skip window spaces the next ones.
            .set_number_of_retries(0);
        if let Some(iam) = iam {
            manager = manager.set_credentials_provider(iam);
        }
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

    /// Connect and `PING` once, at startup: an error only for what the configuration must fix
    /// (credentials, trust, the URL, see [`RedisLinkError::is_config`]); an unreachable Redis
    /// is only the usual warning, since callers fall back while it is away.
    pub async fn check(&self) -> Result<(), RedisLinkError> {
        let ping = self
            .run(|mut c| async move { redis::cmd("PING").query_async::<String>(&mut c).await })
            .await;
        match ping {
            Err(e) if e.is_config() => Err(e),
            _ => Ok(()),
        }
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
            Ok(Err(e)) => RedisLinkError::from_redis(e),
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

/// The client of `config`: its URL, with TLS trusting `ca_file` if given, and its credentials.
fn client(config: &RedisConfig) -> Result<redis::Client, RedisLinkError> {
    use redis::IntoConnectionInfo;
    let bad =
        |e: String| RedisLinkError::Config(format!("redis.url {}: {e}", redact_url(&config.url)));
    let tls = config.url.starts_with("rediss://");
    let mut info = config
        .url
        .as_str()
        .into_connection_info()
        .map_err(|e| bad(e.to_string()))?;
    let password = SecretSource::new(
        "redis.password",
        config.password.clone(),
        config.password_file.as_deref(),
    )
    .and_then(|s| s.get())
    .map_err(|e| RedisLinkError::Config(e.to_string()))?;
    let mut settings = info.redis_settings().clone();
    if !config.username.is_empty() {
        settings = settings.set_username(&config.username);
    }
    if !password.is_empty() {
        settings = settings.set_password(password.expose());
    }
    info = info.set_redis_settings(settings);
    match (&config.ca_file, tls) {
        (None, _) => redis::Client::open(info).map_err(|e| bad(e.to_string())),
        (Some(_), false) => Err(RedisLinkError::Config(
            "redis.ca_file is set but redis.url is not rediss://; use rediss:// for TLS".into(),
        )),
        (Some(ca), true) => {
            let root = std::fs::read(ca).map_err(|e| {
                RedisLinkError::Config(format!(
                    "reading redis.ca_file {}: {e}; give the PEM file of the CA",
                    ca.display()
                ))
            })?;
            crate::http::ca_certificates(ca).map_err(|e| RedisLinkError::Config(e.to_string()))?;
            redis::Client::build_with_tls(
                info,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root),
                },
            )
            .map_err(|e| bad(e.to_string()))
        }
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
