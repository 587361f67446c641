//! How far each file is durably shipped.
//!
//! A [`Checkpoint`] advances only after OpenObserve acknowledged every record before its offset.
//! The store is a trait so that the standalone mode keeps it on local disk ([`LocalCheckpoints`],
//! an embedded redb database: crash-safe, every commit durable) and the distributed mode in
//! DynamoDB ([`DynamoCheckpoints`], per-file leases by conditional writes, laid out as
//! [`contract::state`] says).

pub mod dynamo;
mod local;

pub use contract::{Checkpoint, FileKey, MarkerAt};
pub use dynamo::{delete_table, describe_metrics, ensure_table, DynamoCheckpoints, DynamoConfig};
pub use local::LocalCheckpoints;

/// Errors of a checkpoint store.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// This process no longer holds the file: its lease expired or another processor took it
    /// over. Nothing was written; the new holder resumes from the last checkpoint.
    #[error("lease on {key} lost{}; stopping this file (its new holder resumes from the checkpoint)", holder.as_deref().map(|h| format!(" to {h}")).unwrap_or_default())]
    LeaseLost {
        /// `instance/file`.
        key: String,
        /// Who holds it now, if known.
        holder: Option<String>,
    },
    /// The database could not be reached, opened or written (the message says which and what
    /// to check). For DynamoDB: after the SDK's own retries, or after `call_timeout`; a write
    /// that timed out may still have happened.
    #[error("checkpoint database: {0}")]
    Database(String),
    /// A stored value is not a checkpoint (the message says how to start the file over).
    #[error("checkpoint for {key} is corrupt: {error}")]
    Corrupt {
        /// The file key.
        key: String,
        /// What failed.
        error: String,
    },
    /// This process already holds as many leases as it may keep track of.
    #[error("this process already holds {held} file leases, its limit; release files when their jobs end")]
    TooManyLeases {
        /// Leases held.
        held: usize,
    },
}

impl CheckpointError {
    /// Whether this process lost the file to another holder (stop the job; do not retry it).
    pub fn is_lease_lost(&self) -> bool {
        matches!(self, CheckpointError::LeaseLost { .. })
    }
}

/// The answer to [`CheckpointStore::acquire`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// This process holds the file until it calls [`CheckpointStore::release`] (or its lease
    /// expires); its checkpoint is returned.
    Held(Option<Checkpoint>),
    /// Another processor holds the file.
    Busy {
        /// The holder.
        owner: String,
        /// Its lease ends then, ms since the epoch.
        expires_ms: i64,
    },
}

/// Where checkpoints live.
///
/// A store shared by many processors (DynamoDB) keeps them apart with per-file leases: a file
/// is shipped only after [`acquire`](CheckpointStore::acquire) returned [`Acquired::Held`], and
/// [`commit`](CheckpointStore::commit) fails with [`CheckpointError::LeaseLost`] once the lease
/// is gone. A store of one process (local disk) grants every file at once.
#[async_trait::async_trait]
pub trait CheckpointStore: Send + Sync + 'static {
    /// Take `key` for this process.
    async fn acquire(&self, key: &FileKey) -> Result<Acquired, CheckpointError> {
        Ok(Acquired::Held(self.load(key).await?))
    }
    /// Let `key` go (best effort: an expired lease lets others in anyway).
    async fn release(&self, _key: &FileKey) -> Result<(), CheckpointError> {
        Ok(())
    }

    /// The checkpoint of `key`, if it has one.
    async fn load(&self, key: &FileKey) -> Result<Option<Checkpoint>, CheckpointError>;
    /// Store `cp` for `key`, durably, before returning.
    async fn commit(&self, key: &FileKey, cp: &Checkpoint) -> Result<(), CheckpointError>;
    /// Every checkpoint of one instance.
    async fn instance(
        &self,
        instance_id: &str,
    ) -> Result<Vec<(FileKey, Checkpoint)>, CheckpointError>;
    /// Forget `key` (its file is gone from RDS).
    async fn remove(&self, key: &FileKey) -> Result<(), CheckpointError>;
}
