//! Every metric of discovery, named in one place.

use metrics::{describe_counter, describe_gauge, Unit};

/// Passes, by `outcome`: `ok`, `partial` (some instances failed), `follower` (not the
/// leader), `deposed` (lost leadership before publishing), `error`.
pub const PASSES: &str = "aurora_logs_discovery_passes_total";
/// Jobs handed to the sink and accepted, by `kind`.
pub const JOBS_PUBLISHED: &str = "aurora_logs_discovery_jobs_published_total";
/// Jobs not published because the same one went out less than `republish_after` ago.
pub const JOBS_SUPPRESSED: &str = "aurora_logs_discovery_jobs_suppressed_total";
/// Live files with unshipped bytes left for a later listing (the budget is busy and their
/// kind's `max_delay` has not passed), by `kind`.
pub const FILES_WAITING: &str = "aurora_logs_discovery_files_waiting_total";
/// Files listed that no parser knows by name (skipped), by `instance`.
pub const FILES_UNKNOWN: &str = "aurora_logs_discovery_files_unknown_total";
/// Cache lookups, by `kind` (`instances`, `listing`) and `result` (`hit`, `miss`, `error`).
pub const CACHE: &str = "aurora_logs_discovery_cache_total";
/// File listings, by `mode` (`full`, `incremental`).
pub const LISTINGS: &str = "aurora_logs_discovery_listings_total";
/// RDS calls the cache saved (describe pages not called).
pub const RDS_CALLS_SAVED: &str = "aurora_logs_discovery_rds_calls_saved_total";
/// Checkpoint-store reads (one Query per instance) saved: the instance's listing was the same
/// as at its last read, which found every file shipped.
pub const STATE_READS_SAVED: &str = "aurora_logs_discovery_state_reads_saved_total";
/// 1 while this replica leads, 0 otherwise.
pub const LEADER: &str = "aurora_logs_discovery_leader";
/// The epoch of the last leadership held.
pub const LEADER_EPOCH: &str = "aurora_logs_discovery_leader_epoch";
/// Duration of the last pass.
pub const PASS_SECONDS: &str = "aurora_logs_discovery_pass_duration_seconds";

/// Describe every metric to the recorder (call once after installing it).
pub fn describe() {
    describe_counter!(PASSES, "discovery passes by outcome");
    describe_counter!(JOBS_PUBLISHED, "jobs published, by log kind");
    describe_counter!(
        JOBS_SUPPRESSED,
        "jobs not published again within republish_after"
    );
    describe_counter!(
        FILES_WAITING,
        "live files left for a later listing by their kind's max_delay"
    );
    describe_counter!(FILES_UNKNOWN, "listed files of no known log kind");
    describe_counter!(CACHE, "cache lookups by kind and result");
    describe_counter!(LISTINGS, "file listings by mode");
    describe_counter!(RDS_CALLS_SAVED, "RDS describe calls saved by the cache");
    describe_counter!(
        STATE_READS_SAVED,
        "checkpoint reads saved: unchanged listings of instances found fully shipped"
    );
    describe_gauge!(LEADER, "1 while this replica leads");
    describe_gauge!(LEADER_EPOCH, "epoch of the leadership last held");
    describe_gauge!(PASS_SECONDS, Unit::Seconds, "duration of the last pass");
}
