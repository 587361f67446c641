//! `aurora-logs openobserve replay-dead-letters`: send the records OpenObserve refused again,
//! once their cause is fixed (a field type changed, a time window widened), to the streams they
//! were refused by. Read from the dead-letter stream over a time range (with a user that may
//! search), or from a dead-letter file. A record refused again becomes a dead letter again,
//! stamped now: outside the range read, so one run never reads its own letters.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde_json::value::RawValue;
use serde_json::Value;
use sink::{BatchBuilder, OpenObserveSink};

use crate::config::Config;

/// Records read per search request.
const PAGE: usize = 1000;

/// What to replay.
#[derive(Debug)]
pub struct Options {
    /// From the dead-letter stream: letters of the last `since`, up to `until`.
    pub since: Option<Duration>,
    /// End of the range (default: the start of the run).
    pub until: Option<SystemTime>,
    /// From this dead-letter file instead of the stream.
    pub file: Option<PathBuf>,
    /// Count what would be sent, send nothing.
    pub dry_run: bool,
}

/// What a run did, per original stream.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Letters read whose record could not be read back (reported, skipped).
    pub unreadable: u64,
    /// Per stream: letters read, records OpenObserve took, records refused again.
    pub streams: BTreeMap<String, StreamSummary>,
}

/// One stream's part of a [`Summary`].
#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
pub struct StreamSummary {
    /// Letters read.
    pub read: u64,
    /// Records OpenObserve took.
    pub accepted: u64,
    /// Records refused again (dead letters again).
    pub refused: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (stream, s) in &self.streams {
            writeln!(
                f,
                "{stream}: {} read, {} accepted, {} refused again",
                s.read, s.accepted, s.refused
            )?;
        }
        if self.unreadable > 0 {
            writeln!(
                f,
                "{} letters without a readable record, skipped",
                self.unreadable
            )?;
        }
        Ok(())
    }
}

/// Replay as `opts` says, through the configured sink.
pub async fn run(config: &Config, opts: &Options) -> Result<Summary> {
    let sink = OpenObserveSink::new(
        config.openobserve.clone(),
        &config.state_dir,
        net::http_client(),
    )?;
    let mut replay = Replay {
        sink,
        batch: config.pipeline.batch.clone(),
        dry_run: opts.dry_run,
        summary: Summary::default(),
    };
    if let Some(file) = &opts.file {
        replay.read_file(file).await?;
        return Ok(replay.summary);
    }
    let Some(since) = opts.since else {
        bail!("say which letters: --since DURATION (from the dead-letter stream) or --file PATH");
    };
    let stream = config.openobserve.dead_letter_stream.clone();
    if stream.is_empty() {
        bail!("openobserve.dead_letter_stream is empty: letters are in the file (use --file)");
    }
    let until = opts.until.unwrap_or_else(SystemTime::now);
    let end_us = micros(until);
    let start_us = micros(until.checked_sub(since).unwrap_or(UNIX_EPOCH));
    let target = crate::install::target(config)?;
    let search = openobserve::Search::new(&target).map_err(anyhow::Error::msg)?;
    let mut from = 0;
    let mut last_ends: Option<(Value, Value)> = None;
    loop {
        let hits = search
            .page(&stream, start_us, end_us, from, PAGE)
            .await
            .with_context(|| {
                format!(
                    "reading {stream} (the user needs search rights, not an ingestion passcode)"
                )
            })?;
        // A server that ignored `from` would hand out the same page forever.
        let ends = hits
            .first()
            .zip(hits.last())
            .map(|(a, b)| (a.clone(), b.clone()));
        if ends.is_some() && ends == last_ends {
            bail!("{stream}: the search answered the same page for from={from}; stopping");
        }
        last_ends = ends;
        let letters: Vec<_> = hits.iter().filter_map(|h| replay.letter_of(h)).collect();
        replay.send(letters).await?;
        if hits.len() < PAGE {
            break;
        }
        from += hits.len();
    }
    Ok(replay.summary)
}

fn micros(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

struct Replay {
    sink: OpenObserveSink,
    batch: sink::BatchConfig,
    dry_run: bool,
    summary: Summary,
}

/// One letter read back: the stream that refused it and the record.
type Letter = (String, Box<RawValue>);

impl Replay {
    /// A dead-letter stream record's letter, or `None` (counted) when it has none.
    fn letter_of(&mut self, hit: &Value) -> Option<Letter> {
        let letter = sink::dead_letter::unwrap_record(hit).map(|u| (u.stream, u.record));
        if letter.is_none() {
            self.summary.unreadable += 1;
        }
        letter
    }

    /// Letters of a dead-letter file: NDJSON lines with `stream` and `record`.
    async fn read_file(&mut self, path: &Path) -> Result<()> {
        #[derive(serde::Deserialize)]
        struct FileLetter {
            stream: String,
            record: Box<RawValue>,
        }
        use std::io::BufRead;
        let reading = || format!("reading dead-letter file {}", path.display());
        // Line by line (the file may be up to `dead_letter_max_bytes`), PAGE letters at a time.
        let file = std::io::BufReader::new(std::fs::File::open(path).with_context(reading)?);
        let mut letters = Vec::new();
        for (n, line) in file.split(b'\n').enumerate() {
            let line = line.with_context(reading)?;
            if line.trim_ascii().is_empty() {
                continue;
            }
            match serde_json::from_slice::<FileLetter>(&line) {
                Ok(l) => letters.push((l.stream, l.record)),
                Err(e) => {
                    tracing::warn!(file = %path.display(), line = n + 1, error = %e, "not a dead letter; skipped");
                    self.summary.unreadable += 1;
                }
            }
            if letters.len() >= PAGE {
                self.send(std::mem::take(&mut letters)).await?;
            }
        }
        self.send(letters).await
    }

    /// Send `letters` to their streams in batches of the pipeline's bounds.
    async fn send(&mut self, letters: Vec<Letter>) -> Result<()> {
        let mut builders: BTreeMap<String, BatchBuilder> = BTreeMap::new();
        let mut full = Vec::new();
        for (stream, record) in letters {
            self.summary.streams.entry(stream.clone()).or_default().read += 1;
            if self.dry_run {
                continue;
            }
            let builder = builders
                .entry(stream.clone())
                .or_insert_with(|| BatchBuilder::new(stream.as_str().into(), self.batch.clone()));
            if let Some(b) = builder.push(|d| d.extend_from_slice(record.get().as_bytes()), 0) {
                full.push(b);
            }
        }
        full.extend(builders.into_values().filter_map(|mut b| b.flush(0)));
        for batch in full {
            let stream = batch.stream.to_string();
            let ack = self
                .sink
                .send(&Arc::new(batch))
                .await
                .with_context(|| format!("sending dead letters back to {stream}"))?;
            let s = self.summary.streams.entry(stream).or_default();
            s.accepted += ack.accepted;
            s.refused += ack.dead_lettered;
        }
        Ok(())
    }
}
