//! The dead-letter file: records OpenObserve refused for good, kept with the reason so that
//! nothing is lost silently. NDJSON, one line per record; bounded in bytes.

use std::io::Write;
use std::path::{Path, PathBuf};

use tokio::sync::Mutex;

/// Appends refused records to a local file, durably, within a byte bound.
#[derive(Debug)]
pub struct DeadLetters {
    path: PathBuf,
    max_bytes: u64,
    file: Mutex<Option<std::fs::File>>,
}

/// Errors of the dead-letter file.
#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    /// Writing failed.
    #[error("writing dead-letter file {path}: {error}; check disk space and permissions")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        error: std::io::Error,
    },
    /// The file reached its bound.
    #[error("dead-letter file {path} reached its bound of {max} bytes; move it away (records are held back until then)")]
    Full {
        /// The file.
        path: PathBuf,
        /// Its bound.
        max: u64,
    },
}

/// One refused record.
#[derive(Debug, serde::Serialize)]
pub struct DeadLetter<'a> {
    /// The stream it was sent to.
    pub stream: &'a str,
    /// Its `record_id`, if known.
    pub record_id: Option<&'a str>,
    /// Reason class.
    pub reason: &'a str,
    /// The server's words.
    pub detail: &'a str,
    /// The record.
    pub record: &'a serde_json::value::RawValue,
}

impl DeadLetters {
    /// A dead-letter file at `path` bounded to `max_bytes`; created on first use.
    pub fn new(path: &Path, max_bytes: u64) -> DeadLetters {
        DeadLetters {
            path: path.to_path_buf(),
            max_bytes,
            file: Mutex::new(None),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append `letters` and sync them to disk before returning.
    pub async fn write(&self, letters: &[DeadLetter<'_>]) -> Result<(), DeadLetterError> {
        if letters.is_empty() {
            return Ok(());
        }
        let io = |error| DeadLetterError::Io {
            path: self.path.clone(),
            error,
        };
        let mut buf = Vec::new();
        for l in letters {
            serde_json::to_writer(&mut buf, l).map_err(|e| io(e.into()))?;
            buf.push(b'\n');
        }
        let mut guard = self.file.lock().await;
        if guard.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(io)?;
            *guard = Some(f);
        }
        let f = guard.as_mut().expect("opened above");
        let len = f.metadata().map_err(io)?.len();
        if len + buf.len() as u64 > self.max_bytes {
            return Err(DeadLetterError::Full {
                path: self.path.clone(),
                max: self.max_bytes,
            });
        }
        f.write_all(&buf).map_err(io)?;
        f.sync_data().map_err(io)
    }
}
