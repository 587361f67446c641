//! Batches: the records of one HTTP request, bounded by bytes, record count and age.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use serde::{Deserialize, Serialize};

use crate::config::Compression;
use crate::request::{bulk_body, Body};

/// Bounds of one batch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Uncompressed bytes of the `_bulk` body (records and their action lines) after which a
    /// batch is sent. A single record larger than this is sent alone.
    pub max_bytes: usize,
    /// Records after which a batch is sent.
    pub max_records: usize,
    /// Age after which a batch is sent even if small (checked as data arrives and at the end of
    /// every download).
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_bytes: 4 << 20,
            max_records: 10_000,
            max_age: Duration::from_secs(1),
        }
    }
}

/// The records of one request, all of one stream and one file, in file order.
///
/// `data` is the request's `_bulk` body as it goes out (before compression): each record is
/// preceded by the stream's action line and followed by `\n`. So any contiguous range of
/// records is one slice of it, compressed in a single call without being copied together.
#[derive(Debug)]
pub struct Batch {
    /// The OpenObserve stream.
    pub stream: Arc<str>,
    /// For each record: the action line, the record, `\n`.
    pub data: BytesMut,
    /// End of each record in `data` (after its newline).
    pub ends: Vec<u32>,
    /// Length of the action line before every record.
    action_len: u32,
    /// File offset to resume from once this batch and all before it are acknowledged.
    pub resume_offset: u64,
    /// The whole batch's request body, compressed where the batch was built (the parse thread,
    /// [`Batch::precompress`]), with the compression and level it was made with. The sink
    /// sends it when they are still its own; parts of a batch (a split after 413 or 400) are
    /// compressed on the blocking pool.
    pub precompressed: Option<(Compression, i32, Body)>,
    /// The newest entry time (µs since the epoch) among the batch's records, of those that
    /// have one ([`BatchBuilder::note_time`]).
    pub newest_us: Option<i64>,
}

/// The `_bulk` action line that puts a record into `stream`: `{"index":{"_index":"…"}}\n`.
pub fn action_line(stream: &str) -> Vec<u8> {
    let mut line = BytesMut::from(&b"{\"index\":{\"_index\":"[..]);
    parsers::json::write_json_string(&mut line, stream.as_bytes());
    line.extend_from_slice(b"}}\n");
    line.to_vec()
}

impl Batch {
    /// An empty batch for `stream`, with room for `capacity` bytes.
    fn with_capacity(stream: Arc<str>, action_len: u32, capacity: usize) -> Batch {
        Batch {
            stream,
            data: BytesMut::with_capacity(capacity),
            ends: Vec::new(),
            action_len,
            resume_offset: 0,
            precompressed: None,
            newest_us: None,
        }
    }

    /// Compress the whole body now, on this thread, for the sink to send as it is (see
    /// `precompressed`). A failure leaves it to the sink, which reports it.
    pub fn precompress(&mut self, compression: Compression, zstd_level: i32) {
        self.precompressed = bulk_body(self, 0..self.len(), compression, zstd_level)
            .ok()
            .map(|body| (compression, zstd_level, body));
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Where record `i`'s action line starts.
    fn start(&self, i: usize) -> usize {
        if i == 0 {
            0
        } else {
            self.ends[i - 1] as usize
        }
    }

    /// Record `i` without its action line and newline.
    pub fn record(&self, i: usize) -> &[u8] {
        &self.data[self.start(i) + self.action_len as usize..self.ends[i] as usize - 1]
    }

    /// The `_bulk` body of records `range` (uncompressed): a slice of `data`.
    pub fn body(&self, range: std::ops::Range<usize>) -> &[u8] {
        if range.is_empty() {
            return &[];
        }
        &self.data[self.start(range.start)..self.ends[range.end - 1] as usize]
    }

    /// The `record_id` of record `i`, found at its first `"record_id":"` (the data plane
    /// writes it before any field taken from the log).
    pub fn record_id(&self, i: usize) -> Option<&str> {
        record_id_of(self.record(i))
    }
}

/// The `record_id` inside one rendered record.
pub fn record_id_of(record: &[u8]) -> Option<&str> {
    const KEY: &[u8] = b"\"record_id\":\"";
    let at = memchr::memmem::find(record, KEY)? + KEY.len();
    std::str::from_utf8(record.get(at..at + 32)?).ok()
}

/// Fills batches and says when one is due.
#[derive(Debug)]
pub struct BatchBuilder {
    config: BatchConfig,
    action: Vec<u8>,
    current: Batch,
    started: Option<Instant>,
}

/// The most a new batch reserves up front (untouched capacity costs no memory, but a huge byte
/// bound must not reserve gigabytes per file).
const RESERVE_MAX: usize = 32 << 20;

impl BatchBuilder {
    /// A builder for `stream` within `config`.
    pub fn new(stream: Arc<str>, config: BatchConfig) -> BatchBuilder {
        let action = action_line(&stream);
        let mut b = BatchBuilder {
            current: Batch::with_capacity(stream, 0, 0),
            action,
            config,
            started: None,
        };
        b.current = b.empty_batch(0);
        b
    }

    /// A new batch with room for its byte bound and the record that crosses it, so that it
    /// fills without reallocating (each doubling copied the whole batch so far).
    fn empty_batch(&self, resume_offset: u64) -> Batch {
        let reserve = self
            .config
            .max_bytes
            .saturating_add(self.config.max_bytes / 8)
            .min(RESERVE_MAX);
        let action_len = u32::try_from(self.action.len()).expect("a stream name under 4 GiB");
        let mut batch = Batch::with_capacity(self.current.stream.clone(), action_len, reserve);
        batch.resume_offset = resume_offset;
        batch
    }

    /// Append one record: `write` renders it into the batch buffer; `resume_offset` is where
    /// reading resumes after it. Returns a batch when this record filled one.
    pub fn push(&mut self, write: impl FnOnce(&mut BytesMut), resume_offset: u64) -> Option<Batch> {
        if self.started.is_none() {
            self.started = Some(Instant::now());
        }
        self.current.data.extend_from_slice(&self.action);
        write(&mut self.current.data);
        self.current.data.extend_from_slice(b"\n");
        let end = u32::try_from(self.current.data.len()).expect("batch buffer over 4 GiB");
        self.current.ends.push(end);
        self.current.resume_offset = resume_offset;
        let full = self.current.data.len() >= self.config.max_bytes
            || self.current.ends.len() >= self.config.max_records;
        full.then(|| self.take_current())
    }

    /// The entry time (µs since the epoch) of the record about to be pushed: the open batch
    /// keeps the newest ([`Batch::newest_us`]).
    pub fn note_time(&mut self, us: i64) {
        let newest = &mut self.current.newest_us;
        *newest = Some(newest.map_or(us, |n| n.max(us)));
    }

    /// The open batch, if it is older than the age bound.
    pub fn due(&mut self) -> Option<Batch> {
        let old = self
            .started
            .is_some_and(|t| t.elapsed() >= self.config.max_age);
        (old && !self.current.is_empty()).then(|| self.take_current())
    }

    /// The open batch, if any, with its resume offset moved to `resume_offset` (the parser's
    /// safe resume point after a whole chunk, past skipped lines too).
    pub fn flush(&mut self, resume_offset: u64) -> Option<Batch> {
        if self.current.is_empty() {
            return None;
        }
        self.current.resume_offset = self.current.resume_offset.max(resume_offset);
        Some(self.take_current())
    }

    /// Bytes held in the open batch.
    pub fn open_bytes(&self) -> usize {
        self.current.data.len()
    }

    fn take_current(&mut self) -> Batch {
        self.started = None;
        let next = self.empty_batch(self.current.resume_offset);
        std::mem::replace(&mut self.current, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder(max_bytes: usize, max_records: usize) -> BatchBuilder {
        BatchBuilder::new(
            "s".into(),
            BatchConfig {
                max_bytes,
                max_records,
                max_age: Duration::from_secs(3600),
            },
        )
    }

    #[test]
    fn batches_close_on_bytes_and_on_count_and_keep_records_apart() {
        let action = action_line("s").len();
        let mut b = builder(2 * action + 20, 100);
        assert!(b.push(|d| d.extend_from_slice(b"{\"a\":1}"), 10).is_none());
        let full = b
            .push(|d| d.extend_from_slice(b"{\"b\":22222}"), 25)
            .unwrap();
        assert_eq!(full.len(), 2);
        assert_eq!(full.record(0), b"{\"a\":1}");
        assert_eq!(full.record(1), b"{\"b\":22222}");
        assert_eq!(full.resume_offset, 25);
        let first = "{\"index\":{\"_index\":\"s\"}}\n{\"a\":1}\n";
        let second = "{\"index\":{\"_index\":\"s\"}}\n{\"b\":22222}\n";
        assert_eq!(full.body(0..2), format!("{first}{second}").as_bytes());
        assert_eq!(full.body(1..2), second.as_bytes());
        assert_eq!(full.body(1..1), b"");
        let mut c = builder(1 << 20, 2);
        assert!(c.push(|d| d.extend_from_slice(b"1"), 1).is_none());
        assert_eq!(c.push(|d| d.extend_from_slice(b"2"), 2).unwrap().len(), 2);
        assert!(c.flush(5).is_none());
    }

    #[test]
    fn a_batch_keeps_its_newest_entry_time_and_the_next_starts_without() {
        let mut b = builder(1 << 20, 3);
        b.note_time(20);
        b.push(|d| d.extend_from_slice(b"1"), 1);
        b.push(|d| d.extend_from_slice(b"2"), 2); // no time
        b.note_time(10);
        let full = b.push(|d| d.extend_from_slice(b"3"), 3).unwrap();
        assert_eq!(full.newest_us, Some(20));
        b.push(|d| d.extend_from_slice(b"4"), 4);
        assert_eq!(b.flush(4).unwrap().newest_us, None);
    }

    #[test]
    fn a_record_over_the_byte_bound_goes_alone() {
        let mut b = builder(4, 100);
        let big = b.push(|d| d.extend_from_slice(b"0123456789"), 10).unwrap();
        assert_eq!(big.len(), 1);
    }

    #[test]
    fn flush_moves_the_resume_point_past_skipped_bytes() {
        let mut b = builder(1 << 20, 100);
        b.push(|d| d.extend_from_slice(b"{}"), 10);
        let batch = b.flush(30).unwrap();
        assert_eq!(batch.resume_offset, 30);
    }

    #[test]
    fn age_bound() {
        let mut b = BatchBuilder::new(
            "s".into(),
            BatchConfig {
                max_age: Duration::ZERO,
                ..Default::default()
            },
        );
        assert!(b.due().is_none());
        b.push(|d| d.extend_from_slice(b"{}"), 3);
        assert_eq!(b.due().unwrap().len(), 1);
    }

    #[test]
    fn record_ids_are_found_in_rendered_records() {
        let rec = br#"{"_timestamp":1,"log_type":"x","log_offset":0,"record_id":"0123456789abcdef0123456789abcdef","message":"\"record_id\":\"zz"}"#;
        assert_eq!(record_id_of(rec), Some("0123456789abcdef0123456789abcdef"));
        assert_eq!(record_id_of(b"{}"), None);
    }
}
