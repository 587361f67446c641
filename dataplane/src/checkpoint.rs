//! How far each file is durably shipped.
//!
//! A [`Checkpoint`] advances only after OpenObserve acknowledged every record before its offset.
//! The store is a trait so that the standalone mode keeps it on local disk ([`LocalCheckpoints`],
//! an embedded redb database: crash-safe, every commit durable) and the distributed mode in a
//! shared database.

use std::path::Path;

use redb::{Database, TableDefinition};

/// The checkpoints table: key `instance\0lasting file name`, value a JSON [`Checkpoint`].
const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("checkpoints");

pub use contract::{Checkpoint, FileKey, MarkerAt};

/// The redb key of a file: `instance\0lasting name`.
fn encode(key: &FileKey) -> String {
    format!("{}\0{}", key.instance_id, key.log_file)
}

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
    /// The local database could not be opened or written.
    #[error("checkpoint database: {0}; check that the state directory is writable and not used by another process")]
    Database(String),
    /// A stored value is not a checkpoint.
    #[error("checkpoint for {key} is corrupt: {error}; delete the state directory to start over")]
    Corrupt {
        /// The file key.
        key: String,
        /// What failed.
        error: String,
    },
}

fn db_err(e: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::Database(e.to_string())
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

/// Checkpoints in an embedded redb database under the state directory.
#[derive(Debug)]
pub struct LocalCheckpoints {
    db: Database,
}

impl LocalCheckpoints {
    /// Open (or create) `dir/checkpoints.redb`.
    pub fn open(dir: &Path) -> Result<LocalCheckpoints, CheckpointError> {
        std::fs::create_dir_all(dir).map_err(db_err)?;
        let db = Database::create(dir.join("checkpoints.redb")).map_err(db_err)?;
        let tx = db.begin_write().map_err(db_err)?;
        tx.open_table(TABLE).map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        Ok(LocalCheckpoints { db })
    }

    fn decode(key: &str, v: &[u8]) -> Result<Checkpoint, CheckpointError> {
        serde_json::from_slice(v).map_err(|e| CheckpointError::Corrupt {
            key: key.replace('\0', "/"),
            error: e.to_string(),
        })
    }
}

#[async_trait::async_trait]
impl CheckpointStore for LocalCheckpoints {
    async fn load(&self, key: &FileKey) -> Result<Option<Checkpoint>, CheckpointError> {
        let k = encode(key);
        let tx = self.db.begin_read().map_err(db_err)?;
        let table = tx.open_table(TABLE).map_err(db_err)?;
        match table.get(k.as_str()).map_err(db_err)? {
            Some(v) => Ok(Some(Self::decode(&k, v.value())?)),
            None => Ok(None),
        }
    }

    async fn commit(&self, key: &FileKey, cp: &Checkpoint) -> Result<(), CheckpointError> {
        let k = encode(key);
        let v = serde_json::to_vec(cp).map_err(db_err)?;
        // redb commits are durable (fsync) by default; a short write on the runtime thread is
        // cheaper than a hop to the blocking pool at one commit per batch.
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut table = tx.open_table(TABLE).map_err(db_err)?;
            table.insert(k.as_str(), v.as_slice()).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }

    async fn instance(
        &self,
        instance_id: &str,
    ) -> Result<Vec<(FileKey, Checkpoint)>, CheckpointError> {
        let from = format!("{instance_id}\0");
        let to = format!("{instance_id}\u{1}");
        let tx = self.db.begin_read().map_err(db_err)?;
        let table = tx.open_table(TABLE).map_err(db_err)?;
        let mut out = Vec::new();
        for item in table.range(from.as_str()..to.as_str()).map_err(db_err)? {
            let (k, v) = item.map_err(db_err)?;
            let key = k.value();
            let log_file = key[from.len()..].to_string();
            out.push((
                FileKey {
                    instance_id: instance_id.to_string(),
                    log_file,
                },
                Self::decode(key, v.value())?,
            ));
        }
        Ok(out)
    }

    async fn remove(&self, key: &FileKey) -> Result<(), CheckpointError> {
        let k = encode(key);
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut table = tx.open_table(TABLE).map_err(db_err)?;
            table.remove(k.as_str()).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: &str, f: &str) -> FileKey {
        FileKey {
            instance_id: i.into(),
            log_file: f.into(),
        }
    }

    #[tokio::test]
    async fn commits_survive_reopening_and_instances_are_kept_apart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = LocalCheckpoints::open(dir.path()).unwrap();
            assert_eq!(store.load(&key("a", "f")).await.unwrap(), None);
            let cp = Checkpoint {
                offset: 42,
                marker: Some(MarkerAt {
                    name: "f".into(),
                    marker: "9:40".into(),
                    offset: 40,
                }),
                ..Default::default()
            };
            store.commit(&key("a", "f"), &cp).await.unwrap();
            store
                .commit(&key("a", "g"), &Checkpoint::default())
                .await
                .unwrap();
            store
                .commit(&key("ab", "f"), &Checkpoint::default())
                .await
                .unwrap();
        }
        let store = LocalCheckpoints::open(dir.path()).unwrap();
        assert_eq!(
            store.load(&key("a", "f")).await.unwrap().unwrap().offset,
            42
        );
        let a = store.instance("a").await.unwrap();
        assert_eq!(a.len(), 2, "{a:?}");
        store.remove(&key("a", "g")).await.unwrap();
        assert_eq!(store.instance("a").await.unwrap().len(), 1);
    }
}
