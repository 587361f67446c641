//! The metrics of the pipeline, named and described once, and the events that log and count.

use metrics::{counter, describe_counter, describe_gauge, Unit};

/// Entries parsed, by `log_type`.
pub const ENTRIES_PARSED: &str = "aurora_logs_entries_parsed_total";
/// Entries flagged with a parse error, by `log_type`.
pub const PARSE_ERRORS: &str = "aurora_logs_parse_errors_total";
/// Lines or bytes the framer skipped or cut, by `what`.
pub const FRAME_SKIPS: &str = "aurora_logs_frame_skipped_total";
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
/// How far a file family's shipping is behind, by `instance` and `file` (the family), as of
/// its last job: 0 when the job reached the file's listed end, otherwise now minus the newest
/// entry time shipped of the family (by this process).
pub const SECONDS_BEHIND: &str = "aurora_logs_file_seconds_behind";
/// File jobs finished, by `outcome`.
pub const JOBS: &str = "aurora_logs_jobs_total";
/// Jobs left for the instance's next listing because their lane of the standalone queue was
/// full, by `lane` (`urgent`, `bulk`).
pub const JOBS_DEFERRED: &str = "aurora_logs_jobs_deferred_total";
/// Standalone: instances listed now, by `state` (`busy`; `idle`: no file written across
/// their last listings, listed at `scheduler.idle_list_interval`).
pub const INSTANCES_LISTED: &str = "aurora_logs_scheduler_instances";
/// Standalone: seconds between two listings of an instance, by `state` (`busy`, `idle`).
pub const LIST_INTERVAL: &str = "aurora_logs_scheduler_list_interval_seconds";

/// Describe this crate's metrics to the recorder (once, after installing it).
pub fn describe() {
    describe_counter!(ENTRIES_PARSED, "log entries parsed");
    describe_counter!(PARSE_ERRORS, "entries shipped flagged with parse_error");
    describe_counter!(
        FRAME_SKIPS,
        "lines skipped or bytes cut while framing entries"
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
    describe_gauge!(
        SECONDS_BEHIND,
        Unit::Seconds,
        "seconds a file family's shipping is behind its newest entry shipped (0: caught up)"
    );
    describe_counter!(JOBS, "file jobs finished by outcome");
    describe_gauge!(
        INSTANCES_LISTED,
        "instances the standalone scheduler lists, by state (busy, idle)"
    );
    describe_gauge!(
        LIST_INTERVAL,
        Unit::Seconds,
        "seconds between two listings of an instance, by state (busy, idle)"
    );
    describe_counter!(
        JOBS_DEFERRED,
        "jobs left for the next listing because their queue lane was full, by lane"
    );
}

/// A job found its lane of the standalone queue full: the instance's next listing finds the
/// same unshipped bytes again.
pub struct JobDeferred {
    /// The lane.
    pub lane: crate::lanes::Lane,
}

impl net::telemetry::InternalEvent for JobDeferred {
    fn emit(self) {
        tracing::debug!(
            lane = self.lane.as_str(),
            "queue lane full: the job waits for the next listing"
        );
        counter!(JOBS_DEFERRED, "lane" => self.lane.as_str()).increment(1);
    }
}

/// A file started over under its name: its bytes ship again as a new generation.
#[derive(Debug)]
pub struct FileStartedOver<'a> {
    /// Why it is taken as started over (`shrunk`: listed smaller than its checkpoint, now).
    pub reason: &'static str,
    /// The instance.
    pub instance: &'a str,
    /// The file's lasting name.
    pub file: &'a str,
}

impl net::telemetry::InternalEvent for FileStartedOver<'_> {
    fn emit(self) {
        let FileStartedOver {
            reason,
            instance,
            file,
        } = self;
        tracing::warn!(
            reason,
            instance,
            file,
            "file started over under its name: shipping it as a new generation"
        );
        counter!(FILE_GENERATIONS, "reason" => reason).increment(1);
    }
}

/// A file was listed again because its checkpoint was past the size its job was given.
#[derive(Debug)]
pub struct FileRelisted<'a> {
    /// What the new listing showed (`grown`, `started_over`, `moved`).
    pub outcome: &'static str,
    /// The instance.
    pub instance: &'a str,
    /// The file's lasting name.
    pub file: &'a str,
    /// The size the job was given.
    pub listed: u64,
    /// The checkpoint past it.
    pub checkpoint: u64,
}

impl net::telemetry::InternalEvent for FileRelisted<'_> {
    fn emit(self) {
        let FileRelisted {
            outcome,
            instance,
            file,
            listed,
            checkpoint,
        } = self;
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
}

/// A file job ended: counted in [`JOBS`] by outcome, and a stop logged with how it resumes.
#[derive(Debug)]
pub struct FileJobEnded<'a> {
    /// The instance.
    pub instance: &'a str,
    /// The file's lasting name.
    pub file: &'a str,
    /// How it ended.
    pub result: Result<(), &'a crate::pipeline::ShipError>,
    /// How a stopped job resumes (`when discovery publishes it again`, `next pass`).
    pub resumes: &'static str,
}

impl net::telemetry::InternalEvent for FileJobEnded<'_> {
    fn emit(self) {
        let outcome = match self.result {
            Ok(()) => "ok",
            Err(e) => e.outcome(),
        };
        counter!(JOBS, "outcome" => outcome).increment(1);
        if let Err(e) = self.result {
            tracing::warn!(instance = %self.instance, file = %self.file, error = %e, "file job stopped; it resumes from its checkpoint {}", self.resumes);
        }
    }
}
