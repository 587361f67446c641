//! Dead letters: records OpenObserve refused for good, kept with the reason so that nothing is
//! lost silently. In the dead-letter stream ([`write_record`] wraps one, the sink ships it),
//! and in the dead-letter file: NDJSON, one line per record, bounded in bytes.

use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::BytesMut;
use parsers::json::write_json_string;

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

/// Fields of a dead-letter stream record besides `_timestamp`, `record_id` and `record`.
pub const STREAM_FIELD: &str = "dead_letter_stream";
/// The reason class.
pub const REASON_FIELD: &str = "dead_letter_reason";
/// The server's words.
pub const DETAIL_FIELD: &str = "dead_letter_detail";
/// The refused record itself, as a JSON string.
pub const RECORD_FIELD: &str = "record";

/// `letter` as a record of the dead-letter stream, stamped `now_us`: its `record_id` first
/// (where the sink looks for it), then the stream, reason and detail, and the refused record
/// as a string, so that no field type of it can be refused again.
pub fn write_record(out: &mut BytesMut, letter: &DeadLetter<'_>, now_us: i64) {
    out.extend_from_slice(b"{");
    if let Some(id) = letter.record_id {
        out.extend_from_slice(b"\"record_id\":");
        write_json_string(out, id.as_bytes());
        out.extend_from_slice(b",");
    }
    out.extend_from_slice(format!("\"_timestamp\":{now_us}").as_bytes());
    for (field, value) in [
        (STREAM_FIELD, letter.stream),
        (REASON_FIELD, letter.reason),
        (DETAIL_FIELD, letter.detail),
        (RECORD_FIELD, letter.record.get()),
    ] {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(field.as_bytes());
        out.extend_from_slice(b"\":");
        write_json_string(out, value.as_bytes());
    }
    out.extend_from_slice(b"}");
}

/// The letter a dead-letter stream record carries, read back.
#[derive(Debug)]
pub struct Unwrapped {
    /// The stream that refused the record.
    pub stream: String,
    /// Why, as a class.
    pub reason: String,
    /// The server's words.
    pub detail: String,
    /// The refused record.
    pub record: Box<serde_json::value::RawValue>,
}

/// The letter in `record` (as [`write_record`] made it, or as a search returns it), or `None`
/// when it has no stream or no readable record.
pub fn unwrap_record(record: &serde_json::Value) -> Option<Unwrapped> {
    let field = |name: &str| record.get(name).and_then(serde_json::Value::as_str);
    let stream = field(STREAM_FIELD).filter(|s| !s.is_empty())?;
    let raw = serde_json::value::RawValue::from_string(field(RECORD_FIELD)?.to_owned()).ok()?;
    Some(Unwrapped {
        stream: stream.to_owned(),
        reason: field(REASON_FIELD).unwrap_or_default().to_owned(),
        detail: field(DETAIL_FIELD).unwrap_or_default().to_owned(),
        record: raw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_record_carries_the_letter_and_the_record_as_a_string() {
        let raw = serde_json::value::RawValue::from_string(
            r#"{"record_id":"0123456789abcdef0123456789abcdef","n":1,"s":"q\"x"}"#.into(),
        )
        .unwrap();
        let letter = DeadLetter {
            stream: "aurora_mysql_error",
            record_id: Some("0123456789abcdef0123456789abcdef"),
            reason: "type_conflict",
            detail: "field n: \"int\" vs \"string\"",
            record: &raw,
        };
        let mut out = BytesMut::new();
        write_record(&mut out, &letter, 1_700_000_000_000_000);
        assert_eq!(
            crate::batch::record_id_of(&out),
            Some("0123456789abcdef0123456789abcdef")
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let back = unwrap_record(&v).unwrap();
        assert_eq!(
            (
                back.stream.as_str(),
                back.reason.as_str(),
                back.detail.as_str()
            ),
            (letter.stream, letter.reason, letter.detail)
        );
        assert_eq!(back.record.get(), raw.get());
        assert!(unwrap_record(&serde_json::json!({"record": "{}"})).is_none());
        assert!(unwrap_record(&serde_json::json!({STREAM_FIELD: "s", "record": "{"})).is_none());
        assert_eq!(v["_timestamp"], 1_700_000_000_000_000i64);
        assert_eq!(v[STREAM_FIELD], "aurora_mysql_error");
        assert_eq!(v[REASON_FIELD], "type_conflict");
        assert_eq!(v[DETAIL_FIELD], letter.detail);
        assert_eq!(v[RECORD_FIELD].as_str().unwrap(), raw.get());
        let without_id = DeadLetter {
            record_id: None,
            ..letter
        };
        let mut out = BytesMut::new();
        write_record(&mut out, &without_id, 1);
        assert_eq!(crate::batch::record_id_of(&out), None);
        serde_json::from_slice::<serde_json::Value>(&out).unwrap();
    }
}
