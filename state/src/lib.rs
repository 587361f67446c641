//! How far each file is durably shipped: the checkpoint stores.
//!
//! A [`Checkpoint`] advances only after OpenObserve acknowledged every record before its offset.
//! [`CheckpointStore`] is a trait so that the standalone mode keeps checkpoints on local disk
//! ([`LocalCheckpoints`], an embedded redb database: crash-safe, every commit durable) and the
//! distributed mode in DynamoDB ([`DynamoCheckpoints`], per-file leases by conditional writes,
//! laid out as [`contract::state`] says; the [`dynamo`] module also holds the lease operations
//! the discovery leader lease is made of). Creating and deleting tables is for tests only (the
//! `test-support` feature).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod dynamo;
mod local;
pub mod telemetry;

pub use contract::{Checkpoint, FileKey, MarkerAt};
#[cfg(feature = "test-support")]
pub use dynamo::{delete_table, ensure_table};
pub use dynamo::{DynamoCheckpoints, DynamoConfig};
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
    Database(Box<DatabaseError>),
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

impl From<DatabaseError> for CheckpointError {
    fn from(e: DatabaseError) -> CheckpointError {
        CheckpointError::Database(Box::new(e))
    }
}

/// Why the database of a checkpoint store failed.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    /// A DynamoDB call failed.
    #[error("dynamodb {op} of {key} in table {table} failed: {}; {}", error.detail(), dynamo_hint(error))]
    Dynamo {
        /// Our operation (`acquire`, `commit`, `lead`, …).
        op: String,
        /// The item (`instance/file`).
        key: String,
        /// The table.
        table: String,
        /// The classified AWS error.
        #[source]
        error: net::AwsError,
    },
    /// A conditional write failed where no condition could fail (the item changed shape).
    #[error("dynamodb {op} of {key} in table {table}: unexpected conditional-check failure")]
    UnexpectedConflict {
        /// Our operation.
        op: String,
        /// The item.
        key: String,
        /// The table.
        table: String,
    },
    /// The local database (redb) failed.
    #[error("{0}; check that the state directory is writable and not used by another process")]
    Local(#[source] redb::Error),
    /// The configuration cannot work, or a bound was passed (the message says which).
    #[error("{0}")]
    Config(String),
}

/// What to do about a failed DynamoDB call.
fn dynamo_hint(e: &net::AwsError) -> &'static str {
    match e.code() {
        Some("ResourceNotFoundException") => {
            "create the table (eks-terraform/dynamodb.tf makes it) or set dynamodb.table to an existing one"
        }
        _ if e.is_throttled() => "dynamodb throttled the calls; the job is retried later",
        _ => "check dynamodb.endpoint_url, dynamodb.region, the credentials and the role's permissions on the table",
    }
}

impl CheckpointError {
    /// Whether this process lost the file to another holder (stop the job; do not retry it).
    pub fn is_lease_lost(&self) -> bool {
        matches!(self, CheckpointError::LeaseLost { .. })
    }

    /// The AWS error behind this one, if a DynamoDB call failed.
    pub fn aws(&self) -> Option<&net::AwsError> {
        match self {
            CheckpointError::Database(d) => match &**d {
                DatabaseError::Dynamo { error, .. } => Some(error),
                _ => None,
            },
            _ => None,
        }
    }

    /// Whether DynamoDB asked to slow down.
    pub fn is_throttled(&self) -> bool {
        self.aws().is_some_and(net::AwsError::is_throttled)
    }

    /// Whether the same operation may succeed later (a dependency outage, throttling, a lease
    /// bound that frees up), as opposed to a configuration or a stored value to fix.
    pub fn is_retryable(&self) -> bool {
        match self {
            CheckpointError::Database(d) => match &**d {
                DatabaseError::Dynamo { error, .. } => error.is_retryable(),
                DatabaseError::UnexpectedConflict { .. } => true,
                DatabaseError::Local(_) | DatabaseError::Config(_) => false,
            },
            CheckpointError::TooManyLeases { .. } => true,
            _ => false,
        }
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
    /// [`commit`](CheckpointStore::commit) `cp` as the job's last write and let the file go:
    /// a store with leases does both in one write. Afterwards [`release`](CheckpointStore::release)
    /// of `key` costs nothing.
    async fn commit_and_release(
        &self,
        key: &FileKey,
        cp: &Checkpoint,
    ) -> Result<(), CheckpointError> {
        self.commit(key, cp).await?;
        self.release(key).await
    }
    /// Every checkpoint of one instance.
    async fn instance(
        &self,
        instance_id: &str,
    ) -> Result<Vec<(FileKey, Checkpoint)>, CheckpointError>;
    /// Forget `key` (its file is gone from RDS).
    async fn remove(&self, key: &FileKey) -> Result<(), CheckpointError>;
}
