//! RDS answers cached in Redis: the instance list and each instance's file listing, as JSON
//! values with a TTL under the key prefix.
//!
//! The cache is never needed for correctness: a value that is missing, expired, corrupt, too
//! large, or unreadable because Redis is down or slow is a miss, and the caller asks RDS. Every
//! operation runs under the link's `op_timeout`; after a failure Redis is skipped for a moment
//! ([`net::redis::RedisLink`]), so an outage costs a pass one timeout, not one
//! per instance.

use std::time::Duration;

use metrics::counter;
use net::redis::{RedisConfig, RedisLink, RedisLinkError};
use rds::InstanceInfo;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::telemetry;

/// The largest value read or written: a listing of 10 000 files is about 1 MB.
pub const MAX_VALUE_BYTES: usize = 16 * 1024 * 1024;

/// The answer of a lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup<T> {
    /// Found and readable.
    Hit(T),
    /// Not there (or expired, corrupt, too large).
    Miss,
    /// Redis did not answer (down, slow, or skipped after a recent failure).
    Unavailable,
}

/// One instance's file listing as cached: the last full listing merged with the incremental
/// listings since.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedListing {
    /// When the last full listing was made (this process's clock, ms since the epoch).
    pub full_at_ms: i64,
    /// Pages the last full listing took.
    pub full_pages: u32,
    /// The newest `LastWritten` seen (RDS's clock, ms): the next incremental listing starts
    /// a little before it.
    pub newest_written_ms: i64,
    /// `(LogFileName, LastWritten ms, Size)` of every file known.
    pub files: Vec<(String, i64, u64)>,
}

/// The cache; see the module docs.
#[derive(Debug)]
pub struct RdsCache {
    link: RedisLink,
    instances_ttl: Duration,
    listing_ttl: Duration,
}

impl RdsCache {
    /// A cache in the Redis of `redis`, keeping the instance list for `instances_ttl` and
    /// listings for `listing_ttl`. Connects on first use; fails only on an invalid URL. Call it
    /// inside a tokio runtime.
    pub fn new(
        redis: RedisConfig,
        instances_ttl: Duration,
        listing_ttl: Duration,
    ) -> Result<RdsCache, RedisLinkError> {
        Ok(RdsCache {
            link: RedisLink::new(
                redis,
                "rds_cache",
                "discovery lists from RDS directly until it answers",
            )?,
            instances_ttl,
            listing_ttl,
        })
    }

    /// The instance list cached under `filter_key` (a digest of the filters that made it).
    pub async fn instances(&self, filter_key: &str) -> Lookup<Vec<InstanceInfo>> {
        self.get("instances", &format!("discovery:instances:{filter_key}"))
            .await
    }

    /// Cache the instance list made with the filters of `filter_key`. Whether it was stored.
    pub async fn put_instances(&self, filter_key: &str, instances: &[InstanceInfo]) -> bool {
        self.put(
            &format!("discovery:instances:{filter_key}"),
            &instances,
            self.instances_ttl,
        )
        .await
    }

    /// The file listing of `instance_id`.
    pub async fn listing(&self, instance_id: &str) -> Lookup<CachedListing> {
        self.get("listing", &format!("discovery:files:{instance_id}"))
            .await
    }

    /// Cache the file listing of `instance_id`. Whether it was stored.
    pub async fn put_listing(&self, instance_id: &str, listing: &CachedListing) -> bool {
        self.put(
            &format!("discovery:files:{instance_id}"),
            listing,
            self.listing_ttl,
        )
        .await
    }

    /// Delete every key of this cache (tests; an operator resetting the cache).
    pub async fn clear(&self) -> Result<u64, RedisLinkError> {
        let pattern = format!("{}discovery:*", redact_glob(&self.link.config().key_prefix));
        let mut deleted = 0u64;
        let mut cursor = 0u64;
        // A bound on rounds: each looks at up to 1000 keys.
        for _ in 0..100_000 {
            let (next, keys): (u64, Vec<String>) = self
                .link
                .run(|mut c| {
                    let pattern = pattern.clone();
                    async move {
                        redis::cmd("SCAN")
                            .arg(cursor)
                            .arg("MATCH")
                            .arg(&pattern)
                            .arg("COUNT")
                            .arg(1000)
                            .query_async(&mut c)
                            .await
                    }
                })
                .await?;
            if !keys.is_empty() {
                deleted += self
                    .link
                    .run(|mut c| async move {
                        redis::cmd("DEL")
                            .arg(&keys)
                            .query_async::<u64>(&mut c)
                            .await
                    })
                    .await?;
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        Ok(deleted)
    }

    async fn get<T: DeserializeOwned>(&self, kind: &'static str, suffix: &str) -> Lookup<T> {
        let key = self.link.key(suffix);
        let raw = self
            .link
            .run(|mut c| async move {
                redis::cmd("GET")
                    .arg(&key)
                    .query_async::<Option<Vec<u8>>>(&mut c)
                    .await
            })
            .await;
        let out = match raw {
            Err(_) => Lookup::Unavailable,
            Ok(None) => Lookup::Miss,
            Ok(Some(v)) if v.len() > MAX_VALUE_BYTES => Lookup::Miss,
            Ok(Some(v)) => match serde_json::from_slice(&v) {
                Ok(t) => Lookup::Hit(t),
                Err(e) => {
                    // A value of an older layout, or garbage: overwritten after the RDS call.
                    tracing::debug!(kind, error = %e, "unreadable cache value; treated as a miss");
                    Lookup::Miss
                }
            },
        };
        let result = match out {
            Lookup::Hit(_) => "hit",
            Lookup::Miss => "miss",
            Lookup::Unavailable => "error",
        };
        counter!(telemetry::CACHE, "kind" => kind, "result" => result).increment(1);
        out
    }

    async fn put<T: Serialize + ?Sized>(&self, suffix: &str, value: &T, ttl: Duration) -> bool {
        let Ok(bytes) = serde_json::to_vec(value) else {
            return false;
        };
        if bytes.len() > MAX_VALUE_BYTES || ttl.is_zero() {
            return false;
        }
        let key = self.link.key(suffix);
        let ms = ttl.as_millis().min(u128::from(u64::MAX)) as u64;
        self.link
            .run(|mut c| async move {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(bytes)
                    .arg("PX")
                    .arg(ms)
                    .query_async::<()>(&mut c)
                    .await
            })
            .await
            .is_ok()
    }
}

/// `prefix` with the glob characters of `SCAN MATCH` escaped.
fn redact_glob(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_characters_in_the_prefix_are_escaped() {
        assert_eq!(redact_glob("aurora-logs:"), "aurora-logs:");
        assert_eq!(redact_glob("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }

    #[test]
    fn a_listing_round_trips_as_json() {
        let l = CachedListing {
            full_at_ms: 1,
            full_pages: 2,
            newest_written_ms: 3,
            files: vec![("error/postgresql.log.2024-01-04-09".into(), 4, 5)],
        };
        let v = serde_json::to_vec(&l).unwrap();
        assert_eq!(serde_json::from_slice::<CachedListing>(&v).unwrap(), l);
    }
}
