//! The metrics of the RDS source, named and described once, and the events that log and count.

use metrics::{counter, describe_counter, describe_histogram, histogram, Unit};
use net::telemetry::InternalEvent;

/// Raw log bytes downloaded from RDS, by `path` (`portion`, `complete`).
pub const RDS_BYTES_IN: &str = "aurora_logs_rds_bytes_in_total";
/// Bytes downloaded that lay before the checkpoint and were dropped (a complete download that
/// RDS answered from byte 0): `RDS_BYTES_IN` minus this is what reached the parser.
pub const RDS_BYTES_SKIPPED: &str = "aurora_logs_rds_bytes_skipped_total";
/// RDS calls by what they were spent on: `purpose` ([`Purpose`]) and `kind` (the log kind, or
/// `all` for listings), and `outcome`. The account's budget is spent on these.
pub const RDS_BUDGET_CALLS: &str = "aurora_logs_rds_budget_calls_total";
/// Time a call waited for a permit of the process's rate limit and the shared budget, by
/// `purpose`: a histogram.
pub const RDS_BUDGET_WAIT_SECONDS: &str = "aurora_logs_rds_budget_wait_seconds";
/// Bulk-kind downloads that stopped yielding to listings and urgent downloads after the
/// longest yield ([`crate::Rank`]): those alone ask for about the whole budget.
pub const RDS_BULK_YIELD_TIMEOUTS: &str = "aurora_logs_rds_bulk_yield_timeouts_total";
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
    describe_counter!(
        RDS_BYTES_SKIPPED,
        Unit::Bytes,
        "bytes downloaded from RDS that lay before the checkpoint and were dropped"
    );
    describe_counter!(RDS_CALLS, "RDS API calls by call and outcome");
    describe_counter!(
        RDS_BUDGET_CALLS,
        "RDS API calls by purpose, log kind and outcome: where the account's budget goes"
    );
    describe_histogram!(
        RDS_BUDGET_WAIT_SECONDS,
        Unit::Seconds,
        "time an RDS call waited for its permit (rate limit and shared budget), by purpose"
    );
    describe_counter!(RDS_ANOMALIES, "portion-API anomalies detected and handled");
    describe_counter!(
        RDS_BULK_YIELD_TIMEOUTS,
        "bulk-kind RDS downloads that stopped yielding to listings and urgent downloads"
    );
    describe_histogram!(
        RDS_CALL_SECONDS,
        Unit::Seconds,
        "time RDS took to answer a call (budget waits excluded)"
    );
}

/// What an RDS call is spent on: the label `purpose` of [`RDS_BUDGET_CALLS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// `DescribeDBInstances`: which instances there are.
    ListInstances,
    /// `DescribeDBLogFiles` of a scheduling pass: which files changed.
    ListFiles,
    /// `DescribeDBLogFiles` of one file (`FilenameContains`): evidence newer than a checkpoint.
    Check,
    /// Portions of a live file.
    Tail,
    /// Portions of a finished file.
    CatchUp,
    /// The complete download of a file.
    Whole,
}

impl Purpose {
    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Purpose::ListInstances => "list_instances",
            Purpose::ListFiles => "list_files",
            Purpose::Check => "check",
            Purpose::Tail => "tail",
            Purpose::CatchUp => "catch_up",
            Purpose::Whole => "whole",
        }
    }

    /// The purpose of a download of `file`: [`Purpose::Tail`] while it is written to.
    pub fn of_portions(file: &contract::RemoteFile) -> Purpose {
        if file.finished {
            Purpose::CatchUp
        } else {
            Purpose::Tail
        }
    }
}

/// What an RDS call is for: its purpose and the log kind (`all` for listings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spend {
    /// Purpose.
    pub purpose: Purpose,
    /// `LogKind::as_str`, or `all`.
    pub kind: &'static str,
    /// The kind of the file, for a call about one.
    pub log_kind: Option<contract::LogKind>,
}

impl Spend {
    /// A listing of every kind.
    pub const fn listing(purpose: Purpose) -> Spend {
        Spend {
            purpose,
            kind: "all",
            log_kind: None,
        }
    }

    /// A call about `file` (its kind from its name).
    pub fn file(purpose: Purpose, name: &str) -> Spend {
        let log_kind = contract::kind_of(name);
        Spend {
            purpose,
            kind: log_kind.map_or("unknown", contract::LogKind::as_str),
            log_kind,
        }
    }
}

/// One RDS call finished, with its `outcome` (`ok`, `throttled`, `timeout`, `error`).
#[derive(Debug)]
pub struct RdsCallEnded {
    /// The API call (`DescribeDBLogFiles`, `downloadCompleteLogFile`, …).
    pub call: &'static str,
    /// What it was spent on.
    pub spend: Spend,
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
        counter!(
            RDS_BUDGET_CALLS,
            "purpose" => self.spend.purpose.as_str(),
            "kind" => self.spend.kind,
            "outcome" => self.outcome
        )
        .increment(1);
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
