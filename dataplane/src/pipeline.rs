//! Shipping one file: download → parse → batch → sink → checkpoint, joined by bounded channels.
//!
//! The download runs on the I/O runtime and hands chunks to a parse thread (blocking pool: CPU
//! work stays off the reactor), which writes records straight into batches. Batches go to the
//! sink a few at a time, and the checkpoint advances strictly in file order, each time to the
//! resume point of the newest batch whose predecessors are all acknowledged.
//!
//! Memory per file job is bounded by `chunk_queue` chunks (≤ 1 MiB each), the open batch,
//! `batch_queue` sealed batches and `send_concurrency` batches in flight.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use futures_util::stream::{FuturesOrdered, StreamExt};
use metrics::{counter, gauge};
use parsers::{detect_from_name, Entry, Flow, Limits, LogFormat, LogParser};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use contract::file::RemoteFile;
use sink::batch::{Batch, BatchBuilder, BatchConfig};
use sink::{Ack, OpenObserveSink, SinkError, StreamsConfig};
use state::{Checkpoint, CheckpointError, CheckpointStore, FileKey, MarkerAt};

use crate::record::{FileContext, RecordEnricher};
use crate::telemetry;
use net::telemetry::InternalEvent;
use rds::{Chunk, InstanceInfo, RdsSource, SourceError};

/// Tuning of one file job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// Batch bounds.
    pub batch: BatchConfig,
    /// Longest entry kept whole; longer ones are cut and flagged.
    pub max_entry_bytes: usize,
    /// Downloaded chunks queued for the parser, per job.
    pub chunk_queue: usize,
    /// Sealed batches queued for the sink, per job.
    pub batch_queue: usize,
    /// Batches of one file sent at once.
    pub send_concurrency: usize,
    /// Ship the last entry of a file still being written when the download ends on a line end
    /// (otherwise it waits until the next entry or the rotation, up to an hour on MySQL).
    pub flush_tail_at_eof: bool,
    /// Query fingerprints for slow query and PostgreSQL statements.
    pub fingerprints: bool,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            batch: BatchConfig::default(),
            max_entry_bytes: Limits::DEFAULT_MAX_ENTRY_BYTES,
            chunk_queue: 4,
            batch_queue: 4,
            send_concurrency: 2,
            flush_tail_at_eof: true,
            fingerprints: true,
        }
    }
}

/// Everything a file job needs; one per process.
pub struct ShipContext {
    /// RDS.
    pub source: Arc<RdsSource>,
    /// OpenObserve.
    pub sink: Arc<OpenObserveSink>,
    /// Checkpoints.
    pub checkpoints: Arc<dyn CheckpointStore>,
    /// Tuning.
    pub pipeline: PipelineConfig,
    /// Stream names.
    pub streams: StreamsConfig,
    /// Static tags added to every record.
    pub tags: Vec<(String, String)>,
    /// Totals of every job of the process, as acknowledged.
    pub totals: ShipTotals,
}

/// Totals over all file jobs, updated at every acknowledgement (so a job that fails later still
/// counts what it shipped).
#[derive(Debug, Default)]
pub struct ShipTotals {
    /// Records acknowledged.
    pub records: std::sync::atomic::AtomicU64,
    /// Records dead-lettered.
    pub dead_lettered: std::sync::atomic::AtomicU64,
    /// Raw bytes behind advanced checkpoints.
    pub bytes: std::sync::atomic::AtomicU64,
    /// Files listed again because their job's listing was older than their checkpoint.
    pub relists: std::sync::atomic::AtomicU64,
    /// The newest entry time (µs) shipped, by instance and file family: what the
    /// seconds-behind gauge measures from.
    pub newest_shipped: std::sync::Mutex<HashMap<(String, String), i64>>,
}

/// Families remembered for the seconds-behind gauge before the memory starts over (a few per
/// instance in practice).
const MAX_FAMILIES_REMEMBERED: usize = 100_000;

impl ShipTotals {
    /// Set the seconds-behind gauge of `file`'s family after a job that shipped entries up to
    /// `newest_us` (if any had a time) and reached the listed end or not.
    fn behind(&self, instance: &str, file: &RemoteFile, newest_us: Option<i64>, caught_up: bool) {
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        let family = family_label(file);
        let Some(seconds) = self.seconds_behind(instance, &family, newest_us, caught_up, now_us)
        else {
            return;
        };
        gauge!(telemetry::SECONDS_BEHIND, "instance" => instance.to_string(), "file" => family)
            .set(seconds);
    }

    /// The figure [`ShipTotals::behind`] sets at `now_us`, remembering `newest_us`; `None` when
    /// behind but nothing of the family has shipped here yet.
    fn seconds_behind(
        &self,
        instance: &str,
        family: &str,
        newest_us: Option<i64>,
        caught_up: bool,
        now_us: i64,
    ) -> Option<f64> {
        let key = (instance.to_string(), family.to_string());
        let mut memory = self
            .newest_shipped
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(us) = newest_us {
            if memory.len() >= MAX_FAMILIES_REMEMBERED && !memory.contains_key(&key) {
                memory.clear();
            }
            let slot = memory.entry(key.clone()).or_insert(us);
            *slot = (*slot).max(us);
        }
        if caught_up {
            return Some(0.0);
        }
        let newest = *memory.get(&key)?;
        Some((now_us.saturating_sub(newest) as f64 / 1e6).max(0.0))
    }
}

/// Why a file job stopped early. Nothing past the checkpoint is lost: the job runs again.
#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    /// Reading RDS failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// OpenObserve failed.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// The checkpoint store failed.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The parse thread died (a bug).
    #[error("parse thread failed: {0}")]
    Parse(String),
}

impl ShipError {
    /// The job outcome this error stands for: `file_gone`, `lease_lost` or `error`.
    pub fn outcome(&self) -> &'static str {
        match self {
            ShipError::Source(s) if s.is_not_found() => "file_gone",
            ShipError::Checkpoint(c) if c.is_lease_lost() => "lease_lost",
            _ => "error",
        }
    }
}

/// What a file job did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShipOutcome {
    /// Raw bytes read past the old checkpoint.
    pub bytes: u64,
    /// Records acknowledged.
    pub records: u64,
    /// Records dead-lettered.
    pub dead_lettered: u64,
    /// The checkpoint after the job.
    pub offset: u64,
    /// The file is finished and fully shipped.
    pub done: bool,
}

/// How a download ended, for the parse thread to decide about the last entry.
struct DownloadEnded {
    /// File offset after the last byte delivered.
    offset: u64,
    /// Finish the parser (emit the open entry) and mark the file done.
    done: bool,
    /// Finish the parser if the data ends on a line end (`flush_tail_at_eof`).
    flush_tail: bool,
}

/// Output of the parse thread.
enum ParseOutput {
    Batch {
        batch: Batch,
        marker: Option<MarkerAt>,
    },
    /// Nothing more; the final resume point.
    End {
        offset: u64,
        marker: Option<MarkerAt>,
        done: bool,
        stats: parsers::ParseStats,
    },
}

/// The format of a file, from its name.
pub fn format_of(file: &RemoteFile) -> Option<LogFormat> {
    detect_from_name(&file.canonical)
}

/// Ship `file` of `instance` from its checkpoint to as far as RDS has it.
pub async fn ship_file(
    ctx: &ShipContext,
    instance: &InstanceInfo,
    file: &RemoteFile,
) -> Result<ShipOutcome, ShipError> {
    let key = file_key(instance, file);
    let cp = ctx.checkpoints.load(&key).await?;
    ship_file_from(ctx, instance, file, cp).await
}

/// [`ship_file`] from `cp`, the checkpoint the caller just read: the one a lease acquisition
/// returned, which saves the store a read per job.
pub async fn ship_file_from(
    ctx: &ShipContext,
    instance: &InstanceInfo,
    file: &RemoteFile,
    cp: Option<Checkpoint>,
) -> Result<ShipOutcome, ShipError> {
    let key = file_key(instance, file);
    let (cp, file, format) =
        match prepare(ctx, &key, instance, file, cp.unwrap_or_default()).await? {
            Start::Ship { cp, file, format } => (cp, file, format),
            Start::Done(outcome) => return Ok(outcome),
        };
    let stages = spawn_stages(ctx, instance, &file, &cp, format);
    let mut run = FileRun::new(&cp);
    let (end, due) = run.drive(ctx, &key, &file, format, stages).await?;
    run.finish(ctx, &key, &file, end, due).await?;
    let mut outcome = run.outcome;
    outcome.bytes = outcome.offset.saturating_sub(cp.offset);
    gauge!(telemetry::CHECKPOINT_LAG, "instance" => instance.instance_id.clone(), "file" => family_label(&file))
        .set(file.size.saturating_sub(outcome.offset) as f64);
    ctx.totals.behind(
        &instance.instance_id,
        &file,
        run.newest_us,
        outcome.offset >= file.size,
    );
    Ok(outcome)
}

fn file_key(instance: &InstanceInfo, file: &RemoteFile) -> FileKey {
    FileKey {
        instance_id: instance.instance_id.clone(),
        log_file: file.canonical.clone(),
    }
}

/// What [`prepare`] found.
enum Start {
    /// Ship `file` (as listed now) from `cp`, parsed as `format`.
    Ship {
        cp: Checkpoint,
        file: RemoteFile,
        format: LogFormat,
    },
    /// Nothing to read.
    Done(ShipOutcome),
}

/// Hold `cp` against `file` before anything is read: a checkpoint past the job's listing is
/// checked against a listing taken now (the file may have grown since, or started over as a
/// new generation, or moved on); a file shipped to its end, or of no kind we ship, is done.
async fn prepare(
    ctx: &ShipContext,
    key: &FileKey,
    instance: &InstanceInfo,
    file: &RemoteFile,
    mut cp: Checkpoint,
) -> Result<Start, ShipError> {
    let at_start = |cp: &Checkpoint| ShipOutcome {
        offset: cp.offset,
        done: cp.done,
        ..Default::default()
    };
    let file = if cp.offset > file.size {
        // The job's listing says the file is smaller than what was shipped. A listing taken
        // before the checkpoint moved says nothing (a job of an earlier listing read on past
        // it): only a listing taken now can tell a file that started over.
        match relist(ctx, instance, file, cp.offset).await? {
            Relisted::Grown(now) => now,
            Relisted::StartedOver(now) => {
                // Smaller than what was shipped, now: the file started over under the same
                // name. Its new bytes are a new generation, with record ids of their own.
                telemetry::FileStartedOver {
                    reason: "shrunk",
                    instance: &instance.instance_id,
                    file: &file.canonical,
                }
                .emit();
                cp = Checkpoint {
                    generation: cp.generation + 1,
                    ..Default::default()
                };
                ctx.checkpoints.commit(key, &cp).await?;
                now
            }
            Relisted::Moved => return Ok(Start::Done(at_start(&cp))),
        }
    } else {
        file.clone()
    };
    if cp.done || (cp.offset >= file.size && !file.finished) {
        return Ok(Start::Done(at_start(&cp)));
    }
    if file.finished && cp.offset >= file.size {
        // Shipped to the end while it was live (its last entry flushed): nothing to read.
        let at = Progress {
            offset: cp.offset,
            marker: &cp.marker,
            records: cp.records,
            generation: cp.generation,
        };
        let last = at.checkpoint(true, file.size);
        commit_last(ctx, key, &last).await?;
        let mut outcome = at_start(&cp);
        outcome.done = true;
        return Ok(Start::Done(outcome));
    }
    let Some(format) = format_of(&file) else {
        tracing::debug!(file = %file.name, "not a log kind aurora-logs ships; skipped");
        return Ok(Start::Done(at_start(&cp)));
    };
    Ok(Start::Ship { cp, file, format })
}

/// The download and parse stages of one file job, running.
struct Stages {
    /// Batches (and the end) from the parse thread.
    batches: mpsc::Receiver<ParseOutput>,
    /// The download task; dropped early (a sink error), it stops.
    download: AbortOnDrop<Result<(), SourceError>>,
    /// The parse thread.
    parse: tokio::task::JoinHandle<()>,
}

/// Start the download (on the runtime) and the parse thread (on the blocking pool: CPU work
/// stays off the reactor), joined by a bounded channel of chunks.
fn spawn_stages(
    ctx: &ShipContext,
    instance: &InstanceInfo,
    file: &RemoteFile,
    cp: &Checkpoint,
    format: LogFormat,
) -> Stages {
    let fctx = FileContext {
        cluster_id: instance.cluster_id.clone(),
        instance_id: instance.instance_id.clone(),
        engine: instance.engine.clone(),
        engine_version: instance.engine_version.clone(),
        region: ctx.source.config().region.clone(),
        log_file: file.canonical.clone(),
        tags: ctx.tags.clone(),
        generation: cp.generation,
    };
    let p = &ctx.pipeline;
    let (chunk_tx, chunk_rx) = mpsc::channel::<Chunk>(p.chunk_queue.max(1));
    let (end_tx, end_rx) = oneshot::channel::<DownloadEnded>();
    let (batch_tx, batches) = mpsc::channel::<ParseOutput>(p.batch_queue.max(1));
    let mut parser = LogParser::new(
        format,
        Limits {
            max_entry_bytes: p.max_entry_bytes,
        },
    )
    .with_fingerprints(p.fingerprints);
    parser.set_offset(cp.offset);
    let builder = BatchBuilder::new(ctx.streams.stream(format.kind()).into(), p.batch.clone());
    let enricher = RecordEnricher::new(&fctx);
    let sink = ctx.sink.clone();
    let parse = tokio::task::spawn_blocking(move || {
        parse_loop(chunk_rx, end_rx, batch_tx, parser, enricher, builder, sink)
    });
    let download = AbortOnDrop(tokio::spawn({
        let source = ctx.source.clone();
        let instance_id = instance.instance_id.clone();
        let file = file.clone();
        let cp = cp.clone();
        let flush_tail = p.flush_tail_at_eof;
        async move {
            let end = source.download(&instance_id, &file, &cp, &chunk_tx).await?;
            let done = !end.partial && file.finished && end.offset >= file.size;
            let _ = end_tx.send(DownloadEnded {
                offset: end.offset,
                done,
                flush_tail: !end.partial && flush_tail,
            });
            Ok::<_, SourceError>(())
        }
    }));
    Stages {
        batches,
        download,
        parse,
    }
}

/// The parse thread's last word: the final resume point, its marker, and whether the file is
/// done.
type End = (u64, Option<MarkerAt>, bool);

/// A batch on its way: its resume offset, the marker it carries, and the sink's answer.
/// A batch's resume offset, newest entry time and marker, with the sink's answer.
type Sent = (u64, Option<i64>, Option<MarkerAt>, Result<Ack, SinkError>);

/// Where one file job stands between batches.
struct FileRun {
    outcome: ShipOutcome,
    /// The newest entry time (µs) of the acknowledged batches.
    newest_us: Option<i64>,
    records_done: u64,
    marker: Option<MarkerAt>,
    generation: u32,
}

impl FileRun {
    fn new(cp: &Checkpoint) -> FileRun {
        FileRun {
            outcome: ShipOutcome {
                offset: cp.offset,
                done: cp.done,
                ..Default::default()
            },
            newest_us: None,
            records_done: cp.records,
            marker: cp.marker.clone(),
            generation: cp.generation,
        }
    }

    fn at(&self, offset: u64) -> Progress<'_> {
        Progress {
            offset,
            marker: &self.marker,
            records: self.records_done,
            generation: self.generation,
        }
    }

    /// Send the parse thread's batches, `send_concurrency` at a time, and write checkpoints
    /// beside the sends, not in their way: one commit at a time, in file order, within the
    /// [`CommitWindow`]. Returns the parse thread's end once every batch is acknowledged and
    /// every commit started is written, with the checkpoint still due: the job's last write
    /// ([`FileRun::finish`]) carries it.
    async fn drive(
        &mut self,
        ctx: &ShipContext,
        key: &FileKey,
        file: &RemoteFile,
        format: LogFormat,
        mut stages: Stages,
    ) -> Result<(Option<End>, Option<Checkpoint>), ShipError> {
        let mut window = CommitWindow::new(ctx.pipeline.send_concurrency.max(1));
        let mut in_flight = FuturesOrdered::new();
        let mut committing: Option<CommitFuture> = None;
        let mut end: Option<End> = None;
        let mut finished_parse = false;
        loop {
            let sent_all = finished_parse && in_flight.is_empty();
            if !sent_all {
                if let Some(next) = window.next_commit() {
                    committing = Some(start_commit(ctx, key, next));
                }
            }
            tokio::select! {
                biased;
                done = async { committing.as_mut().expect("guarded by is_some").await }, if committing.is_some() => {
                    done?;
                    committing = None;
                    window.committed();
                }
                Some(sent) = in_flight.next(), if !in_flight.is_empty() => {
                    let cp = self.acknowledged(ctx, sent, file.size)?;
                    window.acknowledged(cp);
                }
                msg = stages.batches.recv(), if !finished_parse && window.may_send(in_flight.len()) => {
                    match msg {
                        Some(ParseOutput::Batch { batch, marker: m }) => {
                            let sink = ctx.sink.clone();
                            let batch = Arc::new(batch);
                            in_flight.push_back(async move {
                                let ack = sink.send(&batch).await;
                                (batch.resume_offset, batch.newest_us, m, ack)
                            });
                        }
                        Some(ParseOutput::End { offset, marker: m, done, stats }) => {
                            record_parse_stats(format, &stats);
                            end = Some((offset, m, done));
                            finished_parse = true;
                        }
                        None => finished_parse = true,
                    }
                }
                else => break,
            }
            if finished_parse && in_flight.is_empty() && committing.is_none() {
                break;
            }
        }
        // The download's error (if any) explains a parse that ended without its End.
        match (&mut stages.download.0).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e.into()),
            Err(e) => return Err(ShipError::Parse(format!("download task: {e}"))),
        }
        stages
            .parse
            .await
            .map_err(|e| ShipError::Parse(e.to_string()))?;
        Ok((end, window.take_due()))
    }

    /// Count an acknowledged batch; the checkpoint that covers it.
    fn acknowledged(
        &mut self,
        ctx: &ShipContext,
        (resume, newest_us, m, ack): Sent,
        size: u64,
    ) -> Result<Checkpoint, ShipError> {
        use std::sync::atomic::Ordering::Relaxed;
        let ack = ack?;
        if let Some(us) = newest_us {
            self.newest_us = Some(self.newest_us.map_or(us, |n| n.max(us)));
        }
        let outcome = &mut self.outcome;
        outcome.records += ack.accepted;
        outcome.dead_lettered += ack.dead_lettered;
        ctx.totals.records.fetch_add(ack.accepted, Relaxed);
        ctx.totals
            .dead_lettered
            .fetch_add(ack.dead_lettered, Relaxed);
        ctx.totals
            .bytes
            .fetch_add(resume.saturating_sub(outcome.offset), Relaxed);
        outcome.offset = resume;
        self.records_done += ack.accepted + ack.dead_lettered;
        if m.is_some() {
            self.marker = m;
        }
        Ok(self.at(resume).checkpoint(false, size))
    }

    /// The job's last checkpoint: the one `due` after the last acknowledgement, moved on to
    /// the parse thread's end, written with the lease given back in the same write.
    async fn finish(
        &mut self,
        ctx: &ShipContext,
        key: &FileKey,
        file: &RemoteFile,
        end: Option<End>,
        due: Option<Checkpoint>,
    ) -> Result<(), ShipError> {
        let last = match end {
            Some((offset, m, done)) => {
                if m.is_some() {
                    self.marker = m;
                }
                let moved = offset > self.outcome.offset || done || due.is_some();
                self.outcome.offset = offset.max(self.outcome.offset);
                self.outcome.done = done;
                moved.then(|| self.at(self.outcome.offset).checkpoint(done, file.size))
            }
            // The parse ended without its end (its error was returned before this): what was
            // acknowledged still counts.
            None => due,
        };
        if let Some(cp) = last {
            commit_last(ctx, key, &cp).await?;
        }
        Ok(())
    }
}

/// The rule that bounds what a kill can leave unsettled: at most `send_concurrency` batches in
/// flight, and at most `send_concurrency + 1` batches unsettled in all (in flight, or
/// acknowledged but not yet covered by a finished commit), so that a kill re-ships at most
/// that many. Checkpoints go one commit at a time, in file order; acknowledgements that arrive
/// while one is written are folded into the next (only the newest checkpoint is kept).
#[derive(Debug)]
pub(crate) struct CommitWindow<C> {
    concurrency: usize,
    /// A commit is being written, covering this many batches.
    running: Option<usize>,
    /// The newest checkpoint not yet being written, and how many batches it covers.
    due: Option<C>,
    due_batches: usize,
}

impl<C> CommitWindow<C> {
    /// A window for `concurrency` batches in flight (at least 1).
    pub(crate) fn new(concurrency: usize) -> CommitWindow<C> {
        CommitWindow {
            concurrency: concurrency.max(1),
            running: None,
            due: None,
            due_batches: 0,
        }
    }

    /// Batches unsettled besides `in_flight`.
    fn settling(&self) -> usize {
        self.running.unwrap_or(0) + self.due_batches
    }

    /// Whether one more batch may be sent while `in_flight` are.
    pub(crate) fn may_send(&self, in_flight: usize) -> bool {
        in_flight < self.concurrency && in_flight + self.settling() <= self.concurrency
    }

    /// A batch was acknowledged; `checkpoint` covers it and every batch before it.
    pub(crate) fn acknowledged(&mut self, checkpoint: C) {
        self.due = Some(checkpoint);
        self.due_batches += 1;
    }

    /// The checkpoint to write now, if none is being written and one is due.
    pub(crate) fn next_commit(&mut self) -> Option<C> {
        if self.running.is_some() {
            return None;
        }
        let next = self.due.take()?;
        self.running = Some(std::mem::take(&mut self.due_batches));
        Some(next)
    }

    /// The commit being written is durable.
    pub(crate) fn committed(&mut self) {
        debug_assert!(self.running.is_some(), "no commit was running");
        self.running = None;
    }

    /// The checkpoint due and not being written, for the caller to write itself.
    pub(crate) fn take_due(&mut self) -> Option<C> {
        self.due_batches = 0;
        self.due.take()
    }
}

/// What a listing taken now says of a file whose checkpoint is past the size its job was given.
enum Relisted {
    /// At least as large as the checkpoint: the job's listing was older than the checkpoint.
    Grown(RemoteFile),
    /// Smaller than the checkpoint now: the file started over under its name.
    StartedOver(RemoteFile),
    /// No longer listed under this lasting name (rotated on, or deleted): nothing to do here;
    /// the next listing finds it under its new name, if it has one.
    Moved,
}

/// List `file` again, now, and compare it with `checkpoint` (see [`Relisted`]).
async fn relist(
    ctx: &ShipContext,
    instance: &InstanceInfo,
    file: &RemoteFile,
    checkpoint: u64,
) -> Result<Relisted, SourceError> {
    let now = ctx
        .source
        .file_now(&instance.instance_id, &file.name)
        .await?;
    let relisted = match now {
        Some((name, last_written_ms, size))
            if contract::canonical_name(&name, last_written_ms) == file.canonical =>
        {
            let now = RemoteFile {
                size,
                last_written_ms,
                ..file.clone()
            };
            if size >= checkpoint {
                Relisted::Grown(now)
            } else {
                Relisted::StartedOver(now)
            }
        }
        _ => Relisted::Moved,
    };
    ctx.totals
        .relists
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let outcome = match relisted {
        Relisted::Grown(_) => "grown",
        Relisted::StartedOver(_) => "started_over",
        Relisted::Moved => "moved",
    };
    telemetry::FileRelisted {
        outcome,
        instance: &instance.instance_id,
        file: &file.canonical,
        listed: file.size,
        checkpoint,
    }
    .emit();
    Ok(relisted)
}

/// Where a file job stands, for its next checkpoint.
struct Progress<'a> {
    offset: u64,
    marker: &'a Option<MarkerAt>,
    records: u64,
    generation: u32,
}

/// The lag gauge's file label: the family, so that the label set stays bounded over rotations.
fn family_label(file: &RemoteFile) -> String {
    contract::family(&file.canonical)
}

impl Progress<'_> {
    /// The checkpoint that records this progress.
    fn checkpoint(&self, done: bool, size: u64) -> Checkpoint {
        Checkpoint {
            offset: self.offset,
            marker: self.marker.clone().filter(|m| m.offset <= self.offset),
            done,
            size_seen: size,
            records: self.records,
            generation: self.generation,
        }
    }
}

/// Write `cp` as the job's last checkpoint, letting the file's lease go in the same write.
async fn commit_last(
    ctx: &ShipContext,
    key: &FileKey,
    cp: &Checkpoint,
) -> Result<(), CheckpointError> {
    ctx.checkpoints.commit_and_release(key, cp).await?;
    counter!(telemetry::CHECKPOINTS).increment(1);
    Ok(())
}

/// A checkpoint commit under way.
type CommitFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), CheckpointError>> + Send>>;

/// Commit `cp` for `key`, as a future that owns what it needs.
fn start_commit(ctx: &ShipContext, key: &FileKey, cp: Checkpoint) -> CommitFuture {
    let store = ctx.checkpoints.clone();
    let key = key.clone();
    Box::pin(async move {
        store.commit(&key, &cp).await?;
        counter!(telemetry::CHECKPOINTS).increment(1);
        Ok(())
    })
}

fn record_parse_stats(format: LogFormat, s: &parsers::ParseStats) {
    let t = format.log_type();
    counter!(telemetry::ENTRIES_PARSED, "log_type" => t).increment(s.entries);
    counter!(telemetry::PARSE_ERRORS, "log_type" => t).increment(s.parse_errors);
    counter!(telemetry::FRAME_SKIPS, "what" => "lines").increment(s.frame.skipped_lines);
    counter!(telemetry::FRAME_SKIPS, "what" => "cut_bytes").increment(s.frame.truncated_bytes);
}

/// The parse thread: chunks in, batches out.
fn parse_loop(
    mut rx: mpsc::Receiver<Chunk>,
    end: oneshot::Receiver<DownloadEnded>,
    tx: mpsc::Sender<ParseOutput>,
    mut parser: LogParser,
    enricher: RecordEnricher,
    builder: BatchBuilder,
    sink: Arc<OpenObserveSink>,
) {
    let mut side = Batching {
        enricher,
        builder,
        sink,
        markers: VecDeque::with_capacity(MARKERS_KEPT),
        full: Vec::new(),
        tx,
    };
    let mut last_byte = None;
    while let Some(chunk) = rx.blocking_recv() {
        parser.feed(&chunk.data, &mut |e: &Entry<'_>| side.entry(e));
        last_byte = chunk.data.last().copied().or(last_byte);
        if let Some(m) = chunk.next {
            if side.markers.len() == MARKERS_KEPT {
                side.markers.pop_front();
            }
            side.markers.push_back(m);
        }
        if let Some(b) = side.builder.due() {
            side.full.push(b);
        }
        if !side.send_full() {
            return;
        }
    }
    let Ok(ended) = end.blocking_recv() else {
        // The download failed: ship what is complete, up to the parser's safe resume point.
        if let Some(b) = side.builder.flush(parser.pending_offset()) {
            side.full.push(b);
            side.send_full();
        }
        return;
    };
    let finish = ended.done || (ended.flush_tail && last_byte.is_none_or(|b| b == b'\n'));
    if finish {
        parser.finish(&mut |e: &Entry<'_>| side.entry(e));
    }
    let resume = if finish {
        ended.offset
    } else {
        parser.pending_offset()
    };
    if let Some(b) = side.builder.flush(resume) {
        side.full.push(b);
    }
    if side.send_full() {
        let _ = side.tx.blocking_send(ParseOutput::End {
            offset: resume,
            marker: side.marker_at(resume),
            done: ended.done,
            stats: parser.stats(),
        });
    }
}

/// The parse thread's side of the parser: records into batches, and the markers that say
/// where each batch resumes.
struct Batching {
    enricher: RecordEnricher,
    builder: BatchBuilder,
    /// Markers seen, oldest first; a batch carries the newest one at or before its resume point.
    markers: VecDeque<MarkerAt>,
    /// Batches filled and not yet sent.
    full: Vec<Batch>,
    tx: mpsc::Sender<ParseOutput>,
    /// Whose compression settings a full batch is compressed with, here on the parse thread.
    sink: Arc<OpenObserveSink>,
}

impl Batching {
    /// One entry into the open batch; a batch it fills waits in `full`.
    fn entry(&mut self, e: &Entry<'_>) -> Flow {
        let end = e.raw.offset + e.raw.text.len() as u64;
        if let Some(us) = e.timestamp_us() {
            self.builder.note_time(us);
        }
        if let Some(b) = self.builder.push(|d| self.enricher.write(e, d), end) {
            self.full.push(b);
        }
        Flow::Continue
    }

    /// The newest marker at or before `resume`.
    fn marker_at(&self, resume: u64) -> Option<MarkerAt> {
        self.markers
            .iter()
            .rev()
            .find(|m| m.offset <= resume)
            .cloned()
    }

    /// Send the full batches in order; false when the receiving side is gone.
    fn send_full(&mut self) -> bool {
        for mut batch in std::mem::take(&mut self.full) {
            // Compressed here, where the batch was made: no handoff to another thread per body.
            batch.precompress(self.sink.compression(), self.sink.zstd_level());
            let marker = self.marker_at(batch.resume_offset);
            if self
                .tx
                .blocking_send(ParseOutput::Batch { batch, marker })
                .is_err()
            {
                return false;
            }
        }
        true
    }
}

/// Markers remembered per job: enough to find one at or before any open batch's resume point.
const MARKERS_KEPT: usize = 16;

/// Aborts a task when dropped, so an early return does not leave it running.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A model of `FileRun::drive`'s loop over the window: sends, in-order acknowledgements and
    /// commits finishing, interleaved as `steps` says; then the job's last commit
    /// (`FileRun::finish`) writes what is still due.
    fn run(concurrency: usize, batches: u32, steps: &[u8]) -> (usize, Vec<u32>, Vec<u32>) {
        let mut window = CommitWindow::new(concurrency);
        let mut in_flight: VecDeque<u32> = VecDeque::new();
        let (mut sent, mut running, mut max_unsettled) = (0u32, None, 0usize);
        let (mut acked, mut committed) = (Vec::new(), Vec::new());
        let mut step =
            |choice: u8, window: &mut CommitWindow<u32>, in_flight: &mut VecDeque<u32>| {
                // Once every batch is sent and acknowledged, the last commit is left to finish.
                if running.is_none() && !(sent == batches && in_flight.is_empty()) {
                    running = window.next_commit();
                }
                match choice % 3 {
                    0 if sent < batches && window.may_send(in_flight.len()) => {
                        in_flight.push_back(sent);
                        sent += 1;
                    }
                    1 if !in_flight.is_empty() => {
                        let b = in_flight.pop_front().expect("not empty");
                        acked.push(b);
                        window.acknowledged(b);
                    }
                    2 if running.is_some() => {
                        committed.push(running.take().expect("running"));
                        window.committed();
                    }
                    _ => {}
                }
                max_unsettled = max_unsettled.max(in_flight.len() + window.settling());
            };
        for &c in steps {
            step(c, &mut window, &mut in_flight);
        }
        // Then drain, as the loop does once the parse thread ended.
        for c in (0..)
            .map(|i: u32| (i % 3) as u8)
            .take(10 * batches as usize + 30)
        {
            step(c, &mut window, &mut in_flight);
        }
        assert!(running.is_none() && in_flight.is_empty() && sent == batches);
        committed.extend(window.take_due());
        assert_eq!(window.next_commit(), None, "nothing left due");
        (max_unsettled, acked, committed)
    }

    proptest! {
        #[test]
        fn at_most_concurrency_plus_one_unsettled_and_commits_in_file_order(
            concurrency in 1usize..6,
            batches in 0u32..40,
            steps in proptest::collection::vec(0u8..3, 0..300),
        ) {
            let (max_unsettled, acked, committed) = run(concurrency, batches, &steps);
            prop_assert!(max_unsettled <= concurrency + 1, "{max_unsettled} unsettled");
            prop_assert!(acked.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(committed.windows(2).all(|w| w[0] < w[1]), "{committed:?}");
            // Every acknowledged batch ends up covered by a commit: the last one is the last ack.
            prop_assert_eq!(committed.last(), acked.last());
        }
    }

    #[test]
    fn seconds_behind_is_zero_when_caught_up_and_else_counts_from_the_newest_entry_shipped() {
        let t = ShipTotals::default();
        let s = 1_000_000;
        // Behind, nothing shipped yet: no figure.
        assert_eq!(
            t.seconds_behind("db-1", "slowquery", None, false, 100 * s),
            None
        );
        assert_eq!(
            t.seconds_behind("db-1", "slowquery", Some(40 * s), false, 100 * s),
            Some(60.0)
        );
        // A later job that shipped nothing newer still counts from the newest.
        assert_eq!(
            t.seconds_behind("db-1", "slowquery", Some(30 * s), false, 110 * s),
            Some(70.0)
        );
        assert_eq!(
            t.seconds_behind("db-1", "slowquery", None, true, 120 * s),
            Some(0.0)
        );
        // Another family or instance is its own.
        assert_eq!(
            t.seconds_behind("db-2", "slowquery", None, false, 120 * s),
            None
        );
        // Entry times from the future (clock skew) count as not behind.
        assert_eq!(
            t.seconds_behind("db-3", "error", Some(200 * s), false, 120 * s),
            Some(0.0)
        );
    }

    #[test]
    fn a_window_of_one_sends_one_and_waits_for_its_commit_before_a_third() {
        let mut w = CommitWindow::new(1);
        assert!(w.may_send(0));
        assert!(!w.may_send(1));
        w.acknowledged(10u64);
        // One acknowledged, not committed: one more may go (two unsettled).
        assert!(w.may_send(0));
        assert_eq!(w.next_commit(), Some(10));
        assert_eq!(w.next_commit(), None, "one commit at a time");
        w.acknowledged(20);
        assert!(!w.may_send(0), "two unsettled already");
        w.committed();
        assert_eq!(w.next_commit(), Some(20));
        w.committed();
        assert_eq!(w.take_due(), None);
    }
}
