//! What discovery needs from the outside, as small traits the binary wires: the leader lease
//! ([`crate::lease::DynamoLeader`] in production) and the job sink ([`queue::JobProducer`]).

use contract::Job;
use queue::{JobProducer, QueueError};
use state::CheckpointError;

/// The leader lease: only the replica that leads publishes jobs.
#[async_trait::async_trait]
pub trait Leader: Send + Sync {
    /// `Some(epoch)` while this replica leads (the epoch is the fencing token jobs carry and
    /// grows with every change of leader), `None` while another one does. An error means the
    /// lease could not be checked: discovery then publishes nothing.
    async fn lead(&self) -> Result<Option<u64>, CheckpointError>;
}

/// Where jobs go.
#[async_trait::async_trait]
pub trait JobSink: Send + Sync {
    /// Publish `jobs` (in order: a family's older files first) and return how many were
    /// durably accepted; fewer than `jobs.len()`, or an error, makes the pass publish them
    /// again next time (processors tolerate duplicates: the checkpoint is the truth).
    async fn publish(&self, jobs: &[Job]) -> Result<usize, QueueError>;
}

#[async_trait::async_trait]
impl JobSink for JobProducer {
    async fn publish(&self, jobs: &[Job]) -> Result<usize, QueueError> {
        JobProducer::publish(self, jobs).await
    }
}

/// A leader that always leads with one epoch: a single replica with no lease (and tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedLeader(pub u64);

#[async_trait::async_trait]
impl Leader for FixedLeader {
    async fn lead(&self) -> Result<Option<u64>, CheckpointError> {
        Ok(Some(self.0))
    }
}
