//! Running a queued job: take the file's lease, ship it from its checkpoint, let it go.
//!
//! [`ShipJobs`] is the [`JobRunner`] of `aurora-logs processor`. A job is a hint, not an order:
//! the file's state decides. A job whose file another processor holds, or that is already
//! shipped as far as the job saw it, is skipped; a job that fails leaves the checkpoint where
//! the last acknowledged batch put it, and discovery publishes the file again while it has
//! unshipped bytes.

use std::sync::Arc;

use contract::Job;
use metrics::counter;

use crate::checkpoint::{Acquired, Checkpoint, FileKey};
use crate::file::RemoteFile;
use crate::pipeline::{ship_file, ShipContext, ShipError};
use crate::queue::{JobOutcome, JobRunner};
use crate::source::InstanceInfo;
use crate::telemetry;

/// Ships the file of each job through a [`ShipContext`] whose checkpoint store holds leases.
pub struct ShipJobs {
    ctx: Arc<ShipContext>,
}

impl ShipJobs {
    /// A runner over `ctx`.
    pub fn new(ctx: Arc<ShipContext>) -> ShipJobs {
        ShipJobs { ctx }
    }
}

/// The instance and file of a job, as the pipeline takes them.
pub fn job_file(job: &Job) -> (InstanceInfo, RemoteFile) {
    (
        InstanceInfo {
            cluster_id: job.cluster_id.clone(),
            instance_id: job.instance_id.clone(),
            engine: job.engine.clone(),
            engine_version: job.engine_version.clone(),
        },
        RemoteFile {
            name: job.file.clone(),
            canonical: job.lasting_name.clone(),
            last_written_ms: job.last_written_ms,
            size: job.size,
            finished: job.finished,
        },
    )
}

#[async_trait::async_trait]
impl JobRunner for ShipJobs {
    async fn run(&self, job: Job) -> JobOutcome {
        let (instance, file) = job_file(&job);
        let key = FileKey {
            instance_id: instance.instance_id.clone(),
            log_file: file.canonical.clone(),
        };
        let cp = match self.ctx.checkpoints.acquire(&key).await {
            Ok(Acquired::Held(cp)) => cp,
            Ok(Acquired::Busy { owner, .. }) => {
                tracing::debug!(instance = %key.instance_id, file = %key.log_file, %owner, "file held by another processor; job skipped");
                return JobOutcome::Skipped("leased_elsewhere");
            }
            Err(e) => return JobOutcome::Failed(format!("taking the lease: {e}")),
        };
        let outcome = if !Checkpoint::needs_work(cp.as_ref(), file.size, file.finished) {
            JobOutcome::Skipped("already_shipped")
        } else {
            match ship_file(&self.ctx, &instance, &file).await {
                Ok(_) => {
                    counter!(telemetry::JOBS, "outcome" => "ok").increment(1);
                    JobOutcome::Done
                }
                Err(e) => {
                    let outcome = match &e {
                        ShipError::Source(s) if s.is_not_found() => "file_gone",
                        ShipError::Checkpoint(c) if c.is_lease_lost() => "lease_lost",
                        _ => "error",
                    };
                    counter!(telemetry::JOBS, "outcome" => outcome).increment(1);
                    tracing::warn!(instance = %key.instance_id, file = %key.log_file, error = %e, "file job stopped; it resumes from its checkpoint when discovery publishes it again");
                    JobOutcome::Failed(e.to_string())
                }
            }
        };
        if let Err(e) = self.ctx.checkpoints.release(&key).await {
            tracing::debug!(instance = %key.instance_id, file = %key.log_file, error = %e, "releasing the lease failed; it expires by itself");
        }
        outcome
    }
}
