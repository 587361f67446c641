//! [`LocalCheckpoints`]: the store of the standalone mode, an embedded redb database.

use std::path::Path;
use std::sync::Arc;

use redb::{Database, TableDefinition};

#[cfg(test)]
use super::MarkerAt;
use super::{Checkpoint, CheckpointError, CheckpointStore, DatabaseError, FileKey};

/// The checkpoints table: key `instance\0lasting file name`, value a JSON [`Checkpoint`].
const TABLE: TableDefinition<&str, &[u8]> = TableDefinition::new("checkpoints");

/// The redb key of a file: `instance\0lasting name`.
fn encode(key: &FileKey) -> String {
    format!("{}\0{}", key.instance_id, key.log_file)
}

fn db_err(e: impl Into<redb::Error>) -> CheckpointError {
    DatabaseError::Local(e.into()).into()
}

/// Checkpoints in an embedded redb database under the state directory.
#[derive(Debug)]
pub struct LocalCheckpoints {
    db: Arc<Database>,
}

impl LocalCheckpoints {
    /// Open (or create) `dir/checkpoints.redb`.
    pub fn open(dir: &Path) -> Result<LocalCheckpoints, CheckpointError> {
        std::fs::create_dir_all(dir).map_err(|e| db_err(redb::Error::Io(e)))?;
        let db = Database::create(dir.join("checkpoints.redb")).map_err(db_err)?;
        let tx = db.begin_write().map_err(db_err)?;
        tx.open_table(TABLE).map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        Ok(LocalCheckpoints { db: Arc::new(db) })
    }

    /// Set (`Some`) or delete (`None`) one key in a write transaction, on the blocking pool:
    /// redb makes a commit durable with an fsync, and one writer waits for another. On a
    /// runtime thread that would hold every task scheduled there (listings, uploads) behind
    /// the disk, as it did while the hour's rotated files were shipped.
    async fn write(&self, key: String, value: Option<Vec<u8>>) -> Result<(), CheckpointError> {
        let db = self.db.clone();
        let write = move || -> Result<(), CheckpointError> {
            let tx = db.begin_write().map_err(db_err)?;
            {
                let mut table = tx.open_table(TABLE).map_err(db_err)?;
                match &value {
                    Some(v) => {
                        table.insert(key.as_str(), v.as_slice()).map_err(db_err)?;
                    }
                    None => {
                        table.remove(key.as_str()).map_err(db_err)?;
                    }
                }
            }
            tx.commit().map_err(db_err)
        };
        tokio::task::spawn_blocking(write)
            .await
            .map_err(|e| db_err(redb::Error::Io(std::io::Error::other(e))))?
    }

    fn decode(key: &str, v: &[u8]) -> Result<Checkpoint, CheckpointError> {
        serde_json::from_slice(v).map_err(|e| CheckpointError::Corrupt {
            key: key.replace('\0', "/"),
            error: format!("{e}; delete the state directory to start over"),
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
        let v = serde_json::to_vec(cp).expect("a checkpoint always serialises");
        self.write(encode(key), Some(v)).await
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
        self.write(encode(key), None).await
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
