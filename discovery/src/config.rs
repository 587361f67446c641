//! The configuration of discovery. Filters (engines, clusters, tags) are those of
//! [`rds::RdsConfig`]; the shared RDS budget is configured where the RDS source is
//! built.

use std::time::Duration;

use contract::cadence::MaxDelays;
use net::redis::RedisConfig;
use serde::{Deserialize, Serialize};

/// How discovery schedules its passes, lists, caches and publishes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscoveryConfig {
    /// Time between two passes.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// The share of `rds.calls_per_second` (this process's rate) that listing files may take:
    /// with more instances than that lists every `poll_interval`, each instance is listed
    /// less often, spread over the passes, instead of every pass.
    pub list_share: f64,
    /// While less than this share of `rds.calls_per_second` is in use (this process's listings,
    /// and one call for each job of a live file it published, over the last half minute),
    /// every live file with new bytes is published at every listing (a small fleet as if
    /// there were no budget); above it, or with 0, only as `max_delay` and full portions say.
    pub read_all_below: f64,
    /// By kind, the longest the entries of a live file wait to be published while the budget
    /// is busy (see `read_all_below`); a file with a full portion (1 MB) waiting goes at once.
    /// `1h` or more: the kind's files are not tailed but shipped whole after their hourly
    /// rotation, one call a file. The same rules as standalone's `scheduler.max_delay`.
    pub max_delay: MaxDelays,
    /// While listings are spread over several passes: how often at most an idle instance
    /// (its listing unchanged across its last two) is listed, at most four times the interval
    /// of listing every instance alike; the listings it no longer takes go to the instances
    /// that write. Its next entry waits up to this long to be found. `0s`: idle instances are
    /// listed like the others. The same rule as standalone's `scheduler.idle_list_interval`.
    #[serde(with = "humantime_serde")]
    pub idle_list_interval: Duration,
    /// How long the instance list (`DescribeDBInstances`) is cached: new instances are seen
    /// at most this late.
    #[serde(with = "humantime_serde")]
    pub instances_ttl: Duration,
    /// How often an instance's files are listed in full (new and deleted files); in between,
    /// only the files written since the newest one seen, minus `listing_overlap`.
    #[serde(with = "humantime_serde")]
    pub full_listing_every: Duration,
    /// How far before the newest `LastWritten` seen an incremental listing starts (RDS updates
    /// `LastWritten` late and not always in order).
    #[serde(with = "humantime_serde")]
    pub listing_overlap: Duration,
    /// A job already published with the same size and finished flag is not published again
    /// before this long (processors are still on it).
    #[serde(with = "humantime_serde")]
    pub republish_after: Duration,
    /// Longest time of one pass; past it the pass fails and the next one starts over.
    #[serde(with = "humantime_serde")]
    pub pass_timeout: Duration,
    /// Instances listed at once (every call still passes the RDS rate limits).
    pub instance_concurrency: usize,
    /// Most jobs one pass publishes; the rest wait for the next pass.
    pub max_jobs_per_pass: usize,
    /// Jobs handed to the sink at once; leadership is checked before each batch.
    pub publish_batch: usize,
    /// Most published jobs remembered for `republish_after` (the oldest are forgotten first).
    pub max_remembered_jobs: usize,
    /// The Redis (or Valkey) of the cache; an empty `url` disables the cache.
    pub redis: RedisConfig,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        DiscoveryConfig {
            poll_interval: Duration::from_secs(30),
            list_share: 0.4,
            read_all_below: 0.5,
            max_delay: MaxDelays::default(),
            idle_list_interval: Duration::from_secs(5 * 60),
            instances_ttl: Duration::from_secs(5 * 60),
            full_listing_every: Duration::from_secs(10 * 60),
            listing_overlap: Duration::from_secs(2 * 60),
            republish_after: Duration::from_secs(2 * 60),
            pass_timeout: Duration::from_secs(5 * 60),
            instance_concurrency: 4,
            max_jobs_per_pass: 20_000,
            publish_batch: 500,
            max_remembered_jobs: 200_000,
            redis: RedisConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_keys() {
        let c: DiscoveryConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c, DiscoveryConfig::default());
        assert_eq!(c.poll_interval, Duration::from_secs(30));
        assert_eq!(c.redis.key_prefix, "aurora-logs:");
        assert_eq!(c.redis.op_timeout, Duration::from_millis(250));
        let c: DiscoveryConfig =
            serde_json::from_str(r#"{"poll_interval":"5s","redis":{"op_timeout":"100ms"}}"#)
                .unwrap();
        assert_eq!(c.poll_interval, Duration::from_secs(5));
        assert_eq!(c.redis.op_timeout, Duration::from_millis(100));
        assert!(serde_json::from_str::<DiscoveryConfig>(r#"{"poll_intervall":"5s"}"#).is_err());
    }
}
