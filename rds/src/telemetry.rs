//! The metrics of the RDS source, named and described once, and the events that log and count.

use metrics::{counter, describe_counter, describe_histogram, histogram, Unit};
use net::telemetry::InternalEvent;

/// Raw log bytes downloaded from RDS, by `log_type`.
pub const RDS_BYTES_IN: &str = "aurora_logs_rds_bytes_in_total";
/// RDS API calls, by `call` and `outcome` (`ok`, `throttled`, `error`).
pub const RDS_CALLS: &str = "aurora_logs_rds_calls_total";
/// How long RDS took to answer a call (from the request's start, the budget's permit had),
/// by `call` and `outcome`: a histogram.
pub const RDS_CALL_SECONDS: &str = "aurora_logs_rds_call_duration_seconds";
/// Portion-API anomalies handled, by `kind` (truncated, early_end, zero_marker, echoed_marker, gap, not_found, binary).
pub const RDS_ANOMALIES: &str = "aurora_logs_rds_anomalies_total";

/// Describe this crate's metrics to the recorder (once, after installing it).
pub fn describe() {
    describe_counter!(
        RDS_BYTES_IN,
        Unit::Bytes,
        "raw log bytes downloaded from RDS"
    );
    describe_counter!(RDS_CALLS, "RDS API calls by call and outcome");
    describe_counter!(RDS_ANOMALIES, "portion-API anomalies detected and handled");
    describe_histogram!(
        RDS_CALL_SECONDS,
        Unit::Seconds,
        "time RDS took to answer a call (budget waits excluded)"
    );
}

/// One RDS call finished, with its `outcome` (`ok`, `throttled`, `timeout`, `error`).
#[derive(Debug)]
pub struct RdsCallEnded {
    /// The API call (`DescribeDBLogFiles`, `downloadCompleteLogFile`, …).
    pub call: &'static str,
    /// How it ended.
    pub outcome: &'static str,
    /// From the request's start to its answer (or timeout).
    pub elapsed: std::time::Duration,
}

impl InternalEvent for RdsCallEnded {
    fn emit(self) {
        counter!(RDS_CALLS, "call" => self.call, "outcome" => self.outcome).increment(1);
        histogram!(RDS_CALL_SECONDS, "call" => self.call, "outcome" => self.outcome)
            .record(self.elapsed.as_secs_f64());
    }
}

/// A portion-API anomaly was seen and handled.
#[derive(Debug)]
pub struct RdsAnomaly<'a> {
    /// What RDS did (`truncated`, `early_end`, `zero_marker`, `not_found`, `binary`, …).
    pub kind: &'static str,
    /// The instance.
    pub instance: &'a str,
    /// The file.
    pub file: &'a str,
}

impl InternalEvent for RdsAnomaly<'_> {
    fn emit(self) {
        let RdsAnomaly {
            kind,
            instance,
            file,
        } = self;
        // A page cut by the 1 MB cap is routine; the others say RDS misbehaved.
        if kind == "truncated" {
            tracing::debug!(kind, instance, file, "rds log download anomaly handled");
        } else {
            tracing::warn!(kind, instance, file, "rds log download anomaly handled");
        }
        counter!(RDS_ANOMALIES, "kind" => kind).increment(1);
    }
}
