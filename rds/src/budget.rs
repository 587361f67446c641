//! The RDS rate budget shared by every process of a deployment.
//!
//! RDS limits API calls per account and region (a bucket of about 300, refilled at about 12 a
//! second, shared by every RDS client of the account). Discovery lists and processors download
//! through the same API, so a per-process limiter alone cannot keep a deployment of many pods
//! under it. [`RedisBudget`] keeps one GCRA (generic cell rate algorithm) state in Redis that
//! every process takes its permits from: one Lua script reads Redis's clock (so process clocks
//! may differ), grants the call or answers how long to wait, in one round trip.
//!
//! When Redis does not answer within its short timeout, a process does not stall: it falls back
//! to a local limit of a configured fraction of the budget (about one share of it), warns at most
//! once a minute and counts each fallback in [`BUDGET_FALLBACKS`].
//!

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use metrics::counter;
use net::redis::{RedisConfig, RedisLink, RedisLinkError};
use serde::{Deserialize, Serialize};

/// Permits handed out, by `source` (`redis`, `local`): `local` ones were granted by the local
/// fallback while Redis was unavailable.
pub const BUDGET_PERMITS: &str = "aurora_logs_rds_budget_permits_total";
/// Permits the shared budget granted through the local fallback (Redis unavailable).
pub const BUDGET_FALLBACKS: &str = "aurora_logs_rds_budget_fallbacks_total";
/// Waits of one [`RedisBudget::acquire`] before it gives up on Redis and takes a local permit:
/// a bound on the loop, far beyond any wait a sane budget asks for.
const MAX_WAIT_ROUNDS: usize = 600;
/// The longest single sleep between two asks of the shared budget.
const MAX_SLEEP: Duration = Duration::from_secs(1);

/// Describe the metrics of this module to the recorder.
pub fn describe() {
    metrics::describe_counter!(
        BUDGET_PERMITS,
        "RDS call permits handed out by the shared budget, by source"
    );
    metrics::describe_counter!(
        BUDGET_FALLBACKS,
        "RDS call permits granted by the local fallback while Redis was unavailable"
    );
}

/// A rate limit that every RDS call of the process waits for, on top of its own limiter.
#[async_trait::async_trait]
pub trait RateBudget: Send + Sync {
    /// Wait until one more RDS call fits the budget.
    async fn acquire(&self);
}

/// The shared budget: how many RDS calls all processes make together.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateBudgetConfig {
    /// Sustained RDS calls a second for every process sharing `key`, together (the account's
    /// budget is about 12/s, shared with every other RDS client of the account).
    pub calls_per_second: f64,
    /// Calls that may go at once after a quiet spell.
    pub burst: u32,
    /// The Redis key (after the key prefix) of the budget; processes with the same key share it.
    pub key: String,
    /// While Redis is unavailable, this process alone makes at most this fraction of
    /// `calls_per_second` (about one process's share: 1 / processes).
    pub fallback_fraction: f64,
}

impl Default for RateBudgetConfig {
    fn default() -> Self {
        RateBudgetConfig {
            calls_per_second: 10.0,
            burst: 10,
            key: "rds-budget".into(),
            fallback_fraction: 0.25,
        }
    }
}

/// One GCRA step in Redis. KEYS[1]: the budget; ARGV[1]: µs between two calls; ARGV[2]: the
/// burst tolerance in µs. Returns 0 when the call is granted, else the µs to wait. Uses Redis's
/// clock, so processes with skewed clocks still share one schedule (needs Redis ≥ 5 or Valkey,
/// whose scripts replicate effects).
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tat < now then tat = now end
local allow_at = tat - tonumber(ARGV[2])
if allow_at > now then return allow_at - now end
local new_tat = tat + interval
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.floor((new_tat - now) / 1000) + 1000)
return 0
";

/// The rate budget shared through Redis; see the module docs.
pub struct RedisBudget {
    link: RedisLink,
    key: String,
    script: redis::Script,
    interval_us: u64,
    tolerance_us: u64,
    local: DefaultDirectRateLimiter,
}

impl std::fmt::Debug for RedisBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBudget")
            .field("key", &self.key)
            .field("interval_us", &self.interval_us)
            .finish_non_exhaustive()
    }
}

impl RedisBudget {
    /// A budget of `config` in the Redis of `redis`. Fails only on an invalid URL or budget.
    pub fn new(
        redis: RedisConfig,
        config: RateBudgetConfig,
    ) -> Result<RedisBudget, RedisLinkError> {
        if !(config.calls_per_second.is_finite() && config.calls_per_second > 0.0) {
            return Err(RedisLinkError::Config(format!(
                "rate budget calls_per_second must be above 0, not {}",
                config.calls_per_second
            )));
        }
        let interval_us = (1e6 / config.calls_per_second).max(1.0) as u64;
        let tolerance_us = interval_us * u64::from(config.burst.max(1) - 1);
        let fallback_rate =
            (config.calls_per_second * config.fallback_fraction.clamp(0.0, 1.0)).max(0.1);
        let period = Duration::from_secs_f64(1.0 / fallback_rate);
        let local = RateLimiter::direct(
            Quota::with_period(period)
                .expect("a positive period")
                .allow_burst(NonZeroU32::MIN),
        );
        let link = RedisLink::new(
            redis,
            "rds_budget",
            format!("rds calls are limited locally to {fallback_rate:.2}/s until it answers"),
        )?;
        Ok(RedisBudget {
            key: link.key(&config.key),
            link,
            script: redis::Script::new(GCRA),
            interval_us,
            tolerance_us,
            local,
        })
    }

    /// Check the Redis connection once (see [`RedisLink::check`]): wrong credentials or an
    /// untrusted certificate fail here, at startup, rather than as a fallback forever.
    pub async fn check(&self) -> Result<(), RedisLinkError> {
        self.link.check().await
    }

    /// One ask: `Ok(None)` granted, `Ok(Some(wait))` wait that long, `Err` Redis unavailable.
    async fn ask(&self) -> Result<Option<Duration>, RedisLinkError> {
        let wait_us: i64 = self
            .link
            .run(|mut conn| async move {
                self.script
                    .key(&self.key)
                    .arg(self.interval_us)
                    .arg(self.tolerance_us)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        Ok((wait_us > 0).then(|| Duration::from_micros(wait_us as u64)))
    }

    async fn local_permit(&self) {
        self.local.until_ready().await;
        counter!(BUDGET_FALLBACKS).increment(1);
        counter!(BUDGET_PERMITS, "source" => "local").increment(1);
    }
}

#[async_trait::async_trait]
impl RateBudget for RedisBudget {
    async fn acquire(&self) {
        for _ in 0..MAX_WAIT_ROUNDS {
            match self.ask().await {
                Ok(None) => {
                    counter!(BUDGET_PERMITS, "source" => "redis").increment(1);
                    return;
                }
                Ok(Some(wait)) => {
                    // A little jitter keeps waiters of many processes from asking all at once.
                    let jitter = Duration::from_micros(fastrand::u64(0..=self.interval_us / 4));
                    tokio::time::sleep(wait.min(MAX_SLEEP) + jitter).await;
                }
                Err(_) => return self.local_permit().await,
            }
        }
        tracing::warn!(
            rounds = MAX_WAIT_ROUNDS,
            "the shared rds budget kept this call waiting too long; taking a local permit"
        );
        self.local_permit().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_urls_and_budgets_are_refused() {
        let bad = RedisConfig {
            url: "not a url".into(),
            ..Default::default()
        };
        assert!(matches!(
            RedisLink::new(bad.clone(), "t", "x"),
            Err(RedisLinkError::Config(_))
        ));
        let zero = RateBudgetConfig {
            calls_per_second: 0.0,
            ..Default::default()
        };
        assert!(RedisBudget::new(RedisConfig::default(), zero).is_err());
    }
}
