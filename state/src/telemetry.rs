//! The metrics of the state stores, named and described once.

use metrics::{describe_counter, describe_gauge, describe_histogram};

/// DynamoDB calls, by `op` (acquire, commit, renew, load, lead, …) and `outcome` (`ok`,
/// `conflict`, `error`, `throttled`, `timeout`).
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

/// Describe this crate's metrics to the recorder (once, after installing it).
pub fn describe() {
    describe_counter!(DYNAMODB_CALLS, "dynamodb calls by operation and outcome");
    describe_histogram!(
        DYNAMODB_CALL_SECONDS,
        metrics::Unit::Seconds,
        "dynamodb call latency by operation"
    );
    describe_counter!(
        DYNAMODB_CONFLICTS,
        "conditional writes refused by dynamodb (another holder or an expired lease)"
    );
    describe_counter!(
        LEASE_ACQUISITIONS,
        "lease acquisitions by lease and outcome"
    );
    describe_counter!(
        LEASES_LOST,
        "leases found lost (expired or taken over) by lease and stage"
    );
    describe_gauge!(LEASES_HELD, "file leases held by this process");
}
