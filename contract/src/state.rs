//! What is kept per file, and its layout in DynamoDB.
//!
//! One table (default [`DEFAULT_TABLE`]), on-demand billing, point-in-time recovery, TTL on
//! [`attr::EXPIRES_AT`]:
//!
//! | attribute | type | what |
//! |---|---|---|
//! | `instance_id` | S, partition key | `DBInstanceIdentifier` |
//! | `log_file` | S, sort key | the lasting file name |
//! | `offset` | N | every entry starting before it was acknowledged by OpenObserve |
//! | `marker_name`, `marker`, `marker_offset` | S, S, N | a portion-API marker at or before `offset` |
//! | `done` | BOOL | finished and shipped to the end |
//! | `size_seen` | N | `Size` when last written |
//! | `records` | N | records acknowledged so far |
//! | `generation` | N | times the file started over under its name |
//! | `lease_owner` | S | the processor holding the file |
//! | `lease_expires_ms` | N | until when (ms since the epoch, the holder's clock) |
//! | `lease_token` | N | fencing token: +1 at every acquisition |
//! | `updated_ms` | N | last write |
//! | `expires_at` | N | TTL (s since the epoch): state outlives RDS's log retention, then goes |
//!
//! The discovery leader lease is an item of the same table under [`LEADER_INSTANCE`] /
//! [`LEADER_FILE`], with the same three lease attributes; its `lease_token` is the leader epoch
//! that jobs carry.
//!
//! A processor advances a checkpoint only with a conditional write: `lease_owner` is itself,
//! `lease_token` is the token it acquired and `lease_expires_ms` is still in the future. A
//! processor whose lease expired, or was taken over, cannot move the checkpoint.

use serde::{Deserialize, Serialize};

/// Default table name.
pub const DEFAULT_TABLE: &str = "aurora-logs-files";

/// The partition-key value of the discovery leader item (no instance id starts with `#`).
pub const LEADER_INSTANCE: &str = "#discovery";
/// The sort-key value of the discovery leader item.
pub const LEADER_FILE: &str = "leader";

/// Attribute names.
pub mod attr {
    /// Partition key (S).
    pub const INSTANCE_ID: &str = "instance_id";
    /// Sort key (S).
    pub const LOG_FILE: &str = "log_file";
    /// N.
    pub const OFFSET: &str = "offset";
    /// S.
    pub const MARKER_NAME: &str = "marker_name";
    /// S.
    pub const MARKER: &str = "marker";
    /// N.
    pub const MARKER_OFFSET: &str = "marker_offset";
    /// BOOL.
    pub const DONE: &str = "done";
    /// N.
    pub const SIZE_SEEN: &str = "size_seen";
    /// N.
    pub const RECORDS: &str = "records";
    /// N.
    pub const GENERATION: &str = "generation";
    /// S.
    pub const LEASE_OWNER: &str = "lease_owner";
    /// N, ms since the epoch.
    pub const LEASE_EXPIRES_MS: &str = "lease_expires_ms";
    /// N.
    pub const LEASE_TOKEN: &str = "lease_token";
    /// N, ms since the epoch.
    pub const UPDATED_MS: &str = "updated_ms";
    /// N, s since the epoch: the table's TTL attribute.
    pub const EXPIRES_AT: &str = "expires_at";
}

/// Which file a checkpoint is for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FileKey {
    /// `DBInstanceIdentifier`.
    pub instance_id: String,
    /// The lasting file name.
    pub log_file: String,
}

/// A portion-API marker and the byte offset of the file it stands for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarkerAt {
    /// The name the marker was issued for (a live name's markers die with its rotation).
    pub name: String,
    /// The opaque marker.
    pub marker: String,
    /// The file offset of the first byte the marker returns.
    pub offset: u64,
}

/// How far one file is shipped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Every entry starting before this byte offset was acknowledged by the sink.
    pub offset: u64,
    /// A marker at or before `offset` to resume the portion API from, if one is known.
    #[serde(default)]
    pub marker: Option<MarkerAt>,
    /// The file is finished (its writer moved on) and shipped to the end.
    #[serde(default)]
    pub done: bool,
    /// `Size` when this checkpoint was written.
    #[serde(default)]
    pub size_seen: u64,
    /// Records acknowledged for this file so far.
    #[serde(default)]
    pub records: u64,
    /// Times the file started over under the same name.
    #[serde(default)]
    pub generation: u32,
}

impl Checkpoint {
    /// Whether a file listed with `size` (and `finished`) still has work, given this checkpoint.
    /// A done file has work again only if it shrank (it started over: a new generation).
    pub fn needs_work(cp: Option<&Checkpoint>, size: u64, finished: bool) -> bool {
        match cp {
            Some(cp) if cp.done => size < cp.offset,
            Some(cp) => finished || cp.offset < size,
            None => finished || size > 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_work_follows_offsets_done_and_shrinking() {
        let cp = |offset, done| Checkpoint {
            offset,
            done,
            ..Default::default()
        };
        assert!(!Checkpoint::needs_work(None, 0, false));
        assert!(
            Checkpoint::needs_work(None, 0, true),
            "an empty finished file is marked done"
        );
        assert!(Checkpoint::needs_work(None, 1, false));
        assert!(!Checkpoint::needs_work(Some(&cp(10, false)), 10, false));
        assert!(Checkpoint::needs_work(Some(&cp(10, false)), 10, true));
        assert!(Checkpoint::needs_work(Some(&cp(10, false)), 11, false));
        assert!(!Checkpoint::needs_work(Some(&cp(10, true)), 10, true));
        assert!(Checkpoint::needs_work(Some(&cp(10, true)), 9, true));
    }

    #[test]
    fn old_stored_checkpoints_without_new_fields_still_read() {
        let cp: Checkpoint = serde_json::from_str(r#"{"offset":5}"#).unwrap();
        assert_eq!(cp.offset, 5);
        assert!(!cp.done && cp.marker.is_none());
    }
}
