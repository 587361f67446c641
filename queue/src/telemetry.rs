//! The metrics of the job queue, named and described once.

use metrics::{describe_counter, describe_gauge, Unit};

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

/// MSK IAM tokens handed to librdkafka's refresh callback, by `outcome` (`ok`, `error`).
pub const KAFKA_TOKEN_REFRESHES: &str = "aurora_logs_kafka_token_refreshes_total";

/// Describe this crate's metrics to the recorder (once, after installing it).
pub fn describe() {
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
    describe_counter!(
        KAFKA_TOKEN_REFRESHES,
        "msk iam tokens given to librdkafka, by outcome"
    );
}
