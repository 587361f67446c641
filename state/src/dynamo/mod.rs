//! The DynamoDB state of the distributed mode: checkpoints, shared by many processors, kept apart by
//! per-file leases.
//!
//! # Brief overview
//! The table is laid out as [`contract::state`] says: one item per file, keyed by instance and
//! lasting file name, holding the checkpoint and the lease (`lease_owner`, `lease_expires_ms`,
//! `lease_token`). Every write that matters is one conditional `UpdateItem`:
//! - [`acquire`](CheckpointStore::acquire) takes a free, expired or already-own lease and bumps
//!   the fencing token; it answers [`Acquired::Busy`] with the live holder otherwise;
//! - [`commit`](CheckpointStore::commit) writes the checkpoint only while this process is the
//!   owner, with the token it acquired, and the lease has not expired; it extends the lease;
//! - a renewal task extends, every `lease_ttl / 3`, each held lease that no commit extended
//!   within that time, so a file whose download waits (RDS throttling, a slow sink) keeps its
//!   lease between commits, and a file being shipped costs no renewals;
//! - [`commit_and_release`](CheckpointStore::commit_and_release) writes a job's last
//!   checkpoint and gives the lease back in the same write; [`release`](CheckpointStore::release)
//!   gives it back alone (a job that failed or had nothing to write).
//!
//! A job thus costs one write to take the file, one per checkpoint, and none to let it go.
//!
//! A processor that stalled past its lease (GC-like pause, network partition) finds its next
//! commit refused with [`CheckpointError::LeaseLost`]: the new holder resumes from the last
//! checkpoint, and the stalled one's in-flight batch is the only thing shipped twice.
//!
//! # Clocks and timings
//! `lease_expires_ms` is written with the holder's clock and compared with the acquirer's clock,
//! so leases assume clocks within a few seconds of each other (NTP, as on EKS nodes); keep
//! `lease_ttl` well above the worst skew. `lease_ttl` must also exceed the longest pause between
//! two commits or renewals of a holder (renewals come every `lease_ttl / 3`, each bounded by
//! `call_timeout`, so `call_timeout` should stay below `lease_ttl / 3`).
//!
//! # Owners
//! `owner` must be unique among live processes (a pod name plus a random suffix). A process that
//! restarts under the same name takes its old leases back at once (the token still changes, so
//! the old incarnation could not commit anyway).
//!
//! # Bounds
//! Leases tracked per process ([`MAX_HELD_LEASES`]), pages and items of one instance's listing
//! ([`MAX_QUERY_PAGES`], [`MAX_INSTANCE_FILES`]), renewals in flight ([`RENEW_CONCURRENCY`]),
//! and every call by `call_timeout`.

//!
//! # Layout
//! [`table`] is the client and its call discipline, [`codec`] the items, [`store`] the
//! checkpoint store and its file leases; [`lease`] the lease operations on any item (the
//! discovery leader lease uses them too); `admin` creates and deletes tables for tests (the
//! `test-support` feature).

#[cfg(feature = "test-support")]
mod admin;
pub(crate) mod codec;
pub mod lease;
mod store;
pub mod table;

use std::time::Duration;

use contract::state::DEFAULT_TABLE;
use serde::{Deserialize, Serialize};

#[cfg(feature = "test-support")]
pub use admin::{delete_table, ensure_table};
pub use codec::{key_item, n, s, Item};
pub use lease::{decode_lease, now_ms, LeaseAttrs};
pub use store::DynamoCheckpoints;
pub use table::Table;

/// File leases one process keeps track of. A processor runs a few jobs at once (the queue's
/// `max_jobs`); thousands mean leases are acquired and never released.
pub const MAX_HELD_LEASES: usize = 4096;
/// Query pages read for one instance's listing.
pub const MAX_QUERY_PAGES: usize = 10_000;
/// Checkpoints of one instance. RDS keeps a few thousand files per instance at most (hourly
/// rotation × retention days × log kinds); far more means something else writes the table.
pub const MAX_INSTANCE_FILES: usize = 100_000;
/// Lease renewals in flight at once.
pub const RENEW_CONCURRENCY: usize = 16;
/// The shortest `lease_ttl` accepted (renewals come every third of it).
pub(crate) const MIN_LEASE_TTL: Duration = Duration::from_millis(300);

/// How to reach the state table, and the lease timings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DynamoConfig {
    /// Table name. Production tables come from terraform; `ensure_table` creates one for dev
    /// and tests.
    pub table: String,
    /// AWS region; empty means the SDK's default chain (`AWS_REGION`, profile).
    pub region: String,
    /// Endpoint override (DynamoDB Local, a VPC endpoint); empty means the public endpoint.
    pub endpoint_url: String,
    /// Static credentials (for DynamoDB Local and tests); empty means the default AWS chain
    /// (environment, EKS Pod Identity, IRSA, instance profile).
    pub access_key_id: String,
    /// Secret of `access_key_id`.
    pub secret_access_key: net::Secret,
    /// How long a lease lasts without a commit or renewal. Must exceed the longest pause of a
    /// holder and the clock skew between nodes; a crashed holder's files wait this long.
    #[serde(with = "humantime_serde")]
    pub lease_ttl: Duration,
    /// How long a file's state outlives its last write (the table's TTL attribute
    /// `expires_at`). Keep it above RDS's log retention, or shipped files are shipped again.
    #[serde(with = "humantime_serde")]
    pub state_ttl: Duration,
    /// Timeout of one DynamoDB call, the SDK's retries included.
    #[serde(with = "humantime_serde")]
    pub call_timeout: Duration,
    /// Items per Query page when listing an instance (0: DynamoDB's own 1 MB pages). Small
    /// values only make tests cross pages.
    pub query_page_items: u32,
}

impl Default for DynamoConfig {
    fn default() -> Self {
        DynamoConfig {
            table: DEFAULT_TABLE.into(),
            region: "us-east-1".into(),
            endpoint_url: String::new(),
            access_key_id: String::new(),
            secret_access_key: net::Secret::default(),
            lease_ttl: Duration::from_secs(60),
            state_ttl: Duration::from_secs(14 * 24 * 3600),
            call_timeout: Duration::from_secs(5),
            query_page_items: 0,
        }
    }
}

pub(crate) fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_parses_humantime() {
        let c: DynamoConfig =
            serde_json::from_str(r#"{"lease_ttl":"90s","state_ttl":"7d"}"#).expect("parses");
        assert_eq!(c.lease_ttl, Duration::from_secs(90));
        assert_eq!(c.state_ttl, Duration::from_secs(7 * 86400));
        assert_eq!(c.table, DEFAULT_TABLE);
        assert_eq!(c.call_timeout, Duration::from_secs(5));
        assert!(serde_json::from_str::<DynamoConfig>(r#"{"tabel":"x"}"#).is_err());
    }
}
