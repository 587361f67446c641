//! Every metric of the data plane, named in one place, and the events that both log and count.
//!
//! Names follow Prometheus conventions (`_total` counters, `_bytes` units). Records are counted
//! as shipped only after OpenObserve acknowledged them; bytes are counted before and after
//! compression.

use metrics::{counter, describe_counter, describe_gauge, gauge, Unit};

/// Raw log bytes downloaded from RDS, by `log_type`.
pub const RDS_BYTES_IN: &str = "aurora_logs_rds_bytes_in_total";
/// RDS API calls, by `call` and `outcome` (`ok`, `throttled`, `error`).
pub const RDS_CALLS: &str = "aurora_logs_rds_calls_total";
/// Portion-API anomalies handled, by `kind` (truncated, early_end, zero_marker, echoed_marker, gap, not_found, binary).
pub const RDS_ANOMALIES: &str = "aurora_logs_rds_anomalies_total";
/// Entries parsed, by `log_type`.
pub const ENTRIES_PARSED: &str = "aurora_logs_entries_parsed_total";
/// Entries flagged with a parse error, by `log_type`.
pub const PARSE_ERRORS: &str = "aurora_logs_parse_errors_total";
/// Lines or bytes the framer skipped or cut, by `what`.
pub const FRAME_SKIPS: &str = "aurora_logs_frame_skipped_total";
/// Request body bytes before compression.
pub const BYTES_OUT_RAW: &str = "aurora_logs_sink_bytes_uncompressed_total";
/// Request body bytes after compression, by `encoding`.
pub const BYTES_OUT_COMPRESSED: &str = "aurora_logs_sink_bytes_compressed_total";
/// Records acknowledged by OpenObserve, by `stream`.
pub const RECORDS_SHIPPED: &str = "aurora_logs_records_shipped_total";
/// Records OpenObserve refused, by `stream` and `reason`; all went to the dead-letter file.
pub const RECORDS_FAILED: &str = "aurora_logs_records_failed_total";
/// Sink requests, by `status` (the HTTP status or `timeout`, `connect`).
pub const SINK_REQUESTS: &str = "aurora_logs_sink_requests_total";
/// Sink retries, by `reason`.
pub const SINK_RETRIES: &str = "aurora_logs_sink_retries_total";
/// Switches from zstd to gzip after a 415.
pub const COMPRESSION_FALLBACKS: &str = "aurora_logs_sink_compression_fallbacks_total";
/// Bytes held per pipeline stage: `download` (downloaded, not yet parsed), `send` (request
/// bodies on the wire).
pub const IN_FLIGHT_BYTES: &str = "aurora_logs_in_flight_bytes";
/// Files that started over under their name (shipped again as a new generation, with record
/// ids of their own), by `reason` (`shrunk`: listed smaller than its checkpoint, now).
pub const FILE_GENERATIONS: &str = "aurora_logs_file_generations_total";
/// Files listed again before shipping because the job's listing was smaller than the
/// checkpoint, by `outcome` (`grown`: the job's listing was older than the checkpoint;
/// `started_over`; `moved`: rotated on or deleted).
pub const FILE_RELISTS: &str = "aurora_logs_file_relists_total";
/// Checkpoint commits.
pub const CHECKPOINTS: &str = "aurora_logs_checkpoints_total";
/// Checkpoints of files RDS stopped listing, deleted after `scheduler.forget_after`, by
/// `state` (`done`, or `unfinished`: the file went before it was shipped to its end).
pub const CHECKPOINTS_FORGOTTEN: &str = "aurora_logs_checkpoints_forgotten_total";
/// Bytes of a file not yet shipped, by `instance` and `file`, as of its last listing.
pub const CHECKPOINT_LAG: &str = "aurora_logs_checkpoint_lag_bytes";
/// File jobs finished, by `outcome`.
pub const JOBS: &str = "aurora_logs_jobs_total";
/// Jobs published to Kafka by discovery, by `outcome` (`delivered`, `failed`).
pub const QUEUE_PUBLISHED: &str = "aurora_logs_queue_published_total";
/// Kafka jobs a processor finished, by `outcome` (`done`, `skipped`, `failed`, `dropped`) and
/// `reason` (the log kind for done and failed; `in_flight` or the runner's reason for skipped;
/// `malformed`, `newer_version`, `stale_epoch` for dropped).
pub const QUEUE_JOBS: &str = "aurora_logs_queue_jobs_total";
/// Kafka jobs running in this processor.
pub const QUEUE_RUNNING_JOBS: &str = "aurora_logs_queue_running_jobs";
/// Budget bytes of the Kafka jobs running in this processor (each job counts its file size,
/// capped).
pub const QUEUE_RUNNING_BYTES: &str = "aurora_logs_queue_running_bytes";
/// 1 while every assigned partition is paused for back-pressure.
pub const QUEUE_PAUSED: &str = "aurora_logs_queue_paused";
/// Partitions assigned to this processor.
pub const QUEUE_ASSIGNED_PARTITIONS: &str = "aurora_logs_queue_assigned_partitions";
/// Offset commits, by `outcome` (`ok`, `error`).
pub const QUEUE_COMMITS: &str = "aurora_logs_queue_commits_total";
/// Consumer group rebalances seen, by `kind` (`assign`, `revoke`, `error`).
pub const QUEUE_REBALANCES: &str = "aurora_logs_queue_rebalances_total";
/// Errors the Kafka consumer reported (broker down, …; librdkafka retries them).
pub const QUEUE_CONSUMER_ERRORS: &str = "aurora_logs_queue_consumer_errors_total";
/// Jobs not yet read by the group, by `topic`, over this processor's partitions (from
/// librdkafka statistics).
pub const QUEUE_LAG: &str = "aurora_logs_queue_lag_messages";

/// DynamoDB calls, by `op` (acquire, commit, renew, load, lead, …) and `outcome` (`ok`,
/// `conflict`, `error`, `timeout`).
pub const DYNAMODB_CALLS: &str = "aurora_logs_dynamodb_calls_total";
/// DynamoDB call latency in seconds (including the SDK's retries), by `op`.
pub const DYNAMODB_CALL_SECONDS: &str = "aurora_logs_dynamodb_call_duration_seconds";
/// Conditional writes refused because another holder (or an expired lease) stood in the way,
/// by `op`.
pub const DYNAMODB_CONFLICTS: &str = "aurora_logs_dynamodb_conditional_conflicts_total";
/// Lease acquisitions, by `lease` (`file`, `leader`) and `outcome` (`held`, `busy`, `error`).
pub const LEASE_ACQUISITIONS: &str = "aurora_logs_lease_acquisitions_total";
/// Leases this process found lost (expired or taken over), by `lease` and `stage` (`commit`,
/// `renew`).
pub const LEASES_LOST: &str = "aurora_logs_leases_lost_total";
/// File leases this process holds.
pub const LEASES_HELD: &str = "aurora_logs_leases_held";

/// Describe every metric to the recorder (call once after installing it).
pub fn describe() {
    describe_counter!(
        RDS_BYTES_IN,
        Unit::Bytes,
        "raw log bytes downloaded from RDS"
    );
    describe_counter!(RDS_CALLS, "RDS API calls by call and outcome");
    describe_counter!(RDS_ANOMALIES, "portion-API anomalies detected and handled");
    describe_counter!(ENTRIES_PARSED, "log entries parsed");
    describe_counter!(PARSE_ERRORS, "entries shipped flagged with parse_error");
    describe_counter!(
        FRAME_SKIPS,
        "lines skipped or bytes cut while framing entries"
    );
    describe_counter!(
        BYTES_OUT_RAW,
        Unit::Bytes,
        "request bytes before compression"
    );
    describe_counter!(
        BYTES_OUT_COMPRESSED,
        Unit::Bytes,
        "request bytes after compression"
    );
    describe_counter!(RECORDS_SHIPPED, "records acknowledged by OpenObserve");
    describe_counter!(
        RECORDS_FAILED,
        "records refused by OpenObserve (dead-lettered)"
    );
    describe_counter!(SINK_REQUESTS, "requests to OpenObserve by status");
    describe_counter!(SINK_RETRIES, "requests to OpenObserve retried, by reason");
    describe_counter!(
        COMPRESSION_FALLBACKS,
        "zstd refused with 415: fell back to gzip"
    );
    describe_gauge!(
        IN_FLIGHT_BYTES,
        Unit::Bytes,
        "bytes held per pipeline stage"
    );
    describe_counter!(
        FILE_GENERATIONS,
        "files that started over under their name and ship as a new generation, by reason"
    );
    describe_counter!(
        FILE_RELISTS,
        "files listed again because their checkpoint was past the job's listing, by outcome"
    );
    describe_counter!(CHECKPOINTS, "checkpoint commits");
    describe_counter!(
        CHECKPOINTS_FORGOTTEN,
        "checkpoints of files RDS no longer lists, deleted, by state (done, unfinished)"
    );
    describe_gauge!(
        CHECKPOINT_LAG,
        Unit::Bytes,
        "bytes of a file not yet shipped"
    );
    describe_counter!(JOBS, "file jobs finished by outcome");
    describe_counter!(QUEUE_PUBLISHED, "jobs published to kafka by outcome");
    describe_counter!(QUEUE_JOBS, "kafka jobs finished by outcome and reason");
    describe_gauge!(QUEUE_RUNNING_JOBS, "kafka jobs running");
    describe_gauge!(
        QUEUE_RUNNING_BYTES,
        Unit::Bytes,
        "budget bytes of the kafka jobs running"
    );
    describe_gauge!(
        QUEUE_PAUSED,
        "1 while partitions are paused for back-pressure"
    );
    describe_gauge!(QUEUE_ASSIGNED_PARTITIONS, "kafka partitions assigned");
    describe_counter!(QUEUE_COMMITS, "kafka offset commits by outcome");
    describe_counter!(QUEUE_REBALANCES, "kafka consumer group rebalances by kind");
    describe_counter!(QUEUE_CONSUMER_ERRORS, "kafka consumer errors");
    describe_gauge!(QUEUE_LAG, "kafka jobs not yet read, by topic");
}

/// Bytes held by one pipeline stage, as a gauge that follows its own lifetime.
#[derive(Debug)]
pub struct InFlight {
    stage: &'static str,
    bytes: f64,
}

impl InFlight {
    /// Count `bytes` as held by `stage` until this is dropped.
    pub fn new(stage: &'static str, bytes: usize) -> InFlight {
        let bytes = bytes as f64;
        gauge!(IN_FLIGHT_BYTES, "stage" => stage).increment(bytes);
        InFlight { stage, bytes }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        gauge!(IN_FLIGHT_BYTES, "stage" => self.stage).decrement(self.bytes);
    }
}

/// One RDS call finished.
pub fn rds_call(call: &'static str, outcome: &'static str) {
    counter!(RDS_CALLS, "call" => call, "outcome" => outcome).increment(1);
}

/// A portion-API anomaly was seen and handled.
pub fn rds_anomaly(kind: &'static str, instance: &str, file: &str) {
    // A page cut by the 1 MB cap is routine; the others say RDS misbehaved.
    if kind == "truncated" {
        tracing::debug!(kind, instance, file, "rds log download anomaly handled");
    } else {
        tracing::warn!(kind, instance, file, "rds log download anomaly handled");
    }
    counter!(RDS_ANOMALIES, "kind" => kind).increment(1);
}

/// A file started over under its name: its bytes ship again as a new generation.
pub fn file_generation(reason: &'static str, instance: &str, file: &str) {
    tracing::warn!(
        reason,
        instance,
        file,
        "file started over under its name: shipping it as a new generation"
    );
    counter!(FILE_GENERATIONS, "reason" => reason).increment(1);
}

/// A file was listed again because its checkpoint was past the size its job was given.
pub fn file_relisted(
    outcome: &'static str,
    instance: &str,
    file: &str,
    listed: u64,
    checkpoint: u64,
) {
    tracing::debug!(
        outcome,
        instance,
        file,
        listed,
        checkpoint,
        "job listing older than the checkpoint: listed the file again"
    );
    counter!(FILE_RELISTS, "outcome" => outcome).increment(1);
}
