//! Running a queued job: take the file's lease, ship it from its checkpoint, let it go.
//!
//! [`ShipJobs`] is the [`JobRunner`] of `aurora-logs processor`. A job is a hint, not an order:
//! the file's state decides. A job whose file another processor holds, or that is already
//! shipped as far as the job saw it, is skipped; a job that fails leaves the checkpoint where
//! the last acknowledged batch put it, and discovery publishes the file again while it has
//! unshipped bytes.

use std::sync::Arc;

use contract::{Job, RemoteFile};
use net::telemetry::InternalEvent;
use queue::{JobOutcome, JobRunner};
use state::{Acquired, Checkpoint, FileKey};

use crate::pipeline::{ship_file_from, ShipContext};
use crate::telemetry::FileJobEnded;
use rds::InstanceInfo;

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
            // The checkpoint the lease came with: reading it again would cost a call per job.
            let result = ship_file_from(&self.ctx, &instance, &file, cp).await;
            FileJobEnded {
                instance: &key.instance_id,
                file: &key.log_file,
                result: result.as_ref().map(|_| ()),
                resumes: "when discovery publishes it again",
            }
            .emit();
            match result {
                Ok(_) => JobOutcome::Done,
                Err(e) => JobOutcome::Failed(e.to_string()),
            }
        };
        if let Err(e) = self.ctx.checkpoints.release(&key).await {
            tracing::debug!(instance = %key.instance_id, file = %key.log_file, error = %e, "releasing the lease failed; it expires by itself");
        }
        outcome
    }
}
