//! The processor loop: jobs from the consumer group to a [`JobRunner`], offsets committed only
//! past jobs that completed.
//!
//! One task reads the consumer, starts jobs, collects their outcomes and commits; jobs run on
//! tasks of their own. Per message:
//! 1. decode it: a malformed message or one of a newer version is counted, logged and
//!    completed at once (its offset may be committed: nothing could ever run it);
//! 2. wait (bounded by `max_waiting_jobs`, first in first out, so one partition's jobs start
//!    in order) until it can start; then, in order: a job of a partition revoked meanwhile is
//!    dropped (its new owner reads it again); a job of an older discovery leader than the
//!    newest seen is dropped (fencing); a job whose file is already running here completes as
//!    [`JobOutcome::Skipped`]`("in_flight")` (the running one ships to the file's end, and
//!    discovery publishes the file again if more arrives); otherwise it starts once
//!    `max_jobs` and the byte budget allow;
//! 3. when the runner returns, the job is complete, whatever its outcome: a failed job is
//!    logged and counted, and its file's state still shows unshipped bytes, so discovery
//!    publishes it again.
//!
//! Jobs of the urgent kinds (`urgent_kinds`: the error log and PostgreSQL by default) and the
//! others (bulk: slow, general, audit) share the budget unevenly: bulk jobs may hold at most
//! `max_jobs` less [`kept_for_urgent`] of them, and as large a part of the bytes, so that long
//! bulk files never hold every slot while an error log waits; urgent jobs may take the whole
//! budget, and start before bulk ones when both wait.
//!
//! While a share's jobs fill what they may hold, or one of its jobs waits, its topics'
//! assigned partitions are paused (librdkafka drops what it prefetched and fetches it again on
//! resume), and resumed when there is room: the urgent topics keep being read while the bulk
//! ones are paused. Partitions assigned by a rebalance take the loop's state of their share
//! either way (librdkafka would keep the pause a partition had when it was revoked). Completed
//! offsets are committed every `commit_interval`
//! and at shutdown (synchronously, on a blocking thread, one commit at a time, so that the
//! loop learns the answer and hands a failed position out again), and on revocation for the
//! revoked partitions (asynchronously from the rebalance callback: librdkafka completes the
//! revocation only after its outstanding commits; their running jobs finish but commit
//! nothing).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use contract::cadence::kept_for_urgent;
use contract::{Job, JobError};
use metrics::{counter, gauge};
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::ClientContext;
use tokio::sync::watch;
use tokio::task::{JoinError, JoinSet};

use super::offsets::{OffsetTracker, Ticket};
use super::{KafkaAuth, KafkaConfig, KafkaContext, ProcessorConfig, QueueError};
use crate::telemetry;

/// What became of a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobOutcome {
    /// The file is shipped up to where the job saw it, and its checkpoint is durable.
    Done,
    /// Nothing to do, with the reason (a metric label: keep it a short constant).
    Skipped(&'static str),
    /// The job stopped; the file resumes from its checkpoint when discovery publishes it
    /// again.
    Failed(String),
}

/// Runs one job. Returns only once the outcome is final: for [`JobOutcome::Done`], after the
/// file's checkpoint is durable, because the job's offset is committed right after.
#[async_trait::async_trait]
pub trait JobRunner: Send + Sync + 'static {
    /// Run `job` to its end.
    async fn run(&self, job: Job) -> JobOutcome;
}

/// The newest discovery leader epoch seen, shared between the processor loop (which raises it
/// with every job it reads) and whoever reads the leader item from DynamoDB. Jobs of an
/// older epoch are dropped.
#[derive(Clone, Debug, Default)]
pub struct EpochFence(Arc<AtomicU64>);

impl EpochFence {
    /// A leader of `epoch` exists (raises the fence; never lowers it).
    pub fn observe(&self, epoch: u64) {
        self.0.fetch_max(epoch, Ordering::SeqCst);
    }

    /// The newest epoch seen.
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Whether a job of `epoch` may run: not older than the newest seen (and it raises the
    /// fence to its own epoch).
    pub fn admits(&self, epoch: u64) -> bool {
        epoch >= self.0.fetch_max(epoch, Ordering::SeqCst)
    }
}

/// Counters of one processor since it was created (tests and progress logs; the same events
/// go to the metrics).
#[derive(Debug, Default)]
pub struct ProcessorStats {
    received: AtomicU64,
    done: AtomicU64,
    skipped: AtomicU64,
    skipped_in_flight: AtomicU64,
    failed: AtomicU64,
    malformed: AtomicU64,
    newer_version: AtomicU64,
    stale_epoch: AtomicU64,
    commits: AtomicU64,
    commit_errors: AtomicU64,
    pauses: AtomicU64,
    assigned_partitions: AtomicU64,
    running_jobs: AtomicU64,
    running_bytes: AtomicU64,
}

/// A snapshot of [`ProcessorStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessorTotals {
    /// Messages read from assigned partitions.
    pub received: u64,
    /// Jobs the runner finished as [`JobOutcome::Done`].
    pub done: u64,
    /// Jobs the runner finished as [`JobOutcome::Skipped`].
    pub skipped: u64,
    /// Jobs completed at once because their file was already running here.
    pub skipped_in_flight: u64,
    /// Jobs that failed (runner said so, or panicked).
    pub failed: u64,
    /// Messages that are not jobs.
    pub malformed: u64,
    /// Jobs of a newer version than this build reads.
    pub newer_version: u64,
    /// Jobs of an older discovery leader than the newest seen.
    pub stale_epoch: u64,
    /// Offset commits the broker acknowledged.
    pub commits: u64,
    /// Offset commits that failed.
    pub commit_errors: u64,
    /// Times a share's partitions (urgent or bulk topics) were paused for back-pressure.
    pub pauses: u64,
    /// Partitions assigned now.
    pub assigned_partitions: u64,
    /// Jobs running now.
    pub running_jobs: u64,
    /// Budget bytes of the jobs running now.
    pub running_bytes: u64,
}

impl ProcessorStats {
    /// The counters now.
    pub fn snapshot(&self) -> ProcessorTotals {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ProcessorTotals {
            received: l(&self.received),
            done: l(&self.done),
            skipped: l(&self.skipped),
            skipped_in_flight: l(&self.skipped_in_flight),
            failed: l(&self.failed),
            malformed: l(&self.malformed),
            newer_version: l(&self.newer_version),
            stale_epoch: l(&self.stale_epoch),
            commits: l(&self.commits),
            commit_errors: l(&self.commit_errors),
            pauses: l(&self.pauses),
            assigned_partitions: l(&self.assigned_partitions),
            running_jobs: l(&self.running_jobs),
            running_bytes: l(&self.running_bytes),
        }
    }
}

fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

/// The two shares of the budget: urgent jobs (of `urgent_kinds`) and bulk jobs (the others).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Share {
    Urgent = 0,
    Bulk = 1,
}

impl Share {
    const BOTH: [Share; 2] = [Share::Urgent, Share::Bulk];

    fn as_str(self) -> &'static str {
        match self {
            Share::Urgent => "urgent",
            Share::Bulk => "bulk",
        }
    }
}

/// What the consumer's callbacks and the loop share.
#[derive(Debug, Default)]
struct Shared {
    offsets: Mutex<OffsetTracker>,
    /// Whether each share's partitions are paused, by [`Share`] index.
    paused: [AtomicBool; 2],
    /// The topics of the urgent kinds.
    urgent_topics: HashSet<String>,
    stats: Arc<ProcessorStats>,
}

impl Shared {
    fn share_of(&self, topic: &str) -> Share {
        if self.urgent_topics.contains(topic) {
            Share::Urgent
        } else {
            Share::Bulk
        }
    }

    /// The partitions of `tpl` whose topics are of `share`.
    fn of_share(&self, tpl: &TopicPartitionList, share: Share) -> TopicPartitionList {
        let mut out = TopicPartitionList::new();
        for e in tpl.elements() {
            if self.share_of(e.topic()) == share {
                out.add_partition(e.topic(), e.partition());
            }
        }
        out
    }

    fn offsets(&self) -> std::sync::MutexGuard<'_, OffsetTracker> {
        // A panic while holding this lock cannot leave the tracker half-updated in a way that
        // matters more than stopping would: take it anyway.
        self.offsets.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_assigned(&self, tracker: &OffsetTracker) {
        let n = tracker.assigned().count() as u64;
        self.stats.assigned_partitions.store(n, Ordering::Relaxed);
        gauge!(telemetry::QUEUE_ASSIGNED_PARTITIONS).set(n as f64);
    }
}

/// Commit positions: `(topic, partition, offset of the next message to read)`.
type Positions = Vec<(String, i32, i64)>;

fn partition_list(positions: &Positions) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::with_capacity(positions.len());
    for (topic, partition, offset) in positions {
        // Only fails for a negative offset; ours are positions of received messages.
        let _ = tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset));
    }
    tpl
}

fn commit_failed(shared: &Shared, e: &KafkaError, positions: &Positions) {
    bump(&shared.stats.commit_errors);
    counter!(telemetry::QUEUE_COMMITS, "outcome" => "error").increment(1);
    tracing::warn!(error = %e, partitions = positions.len(), "kafka offset commit failed; retrying at the next commit (jobs past the last commit run again if this processor stops now)");
    let mut tracker = shared.offsets();
    for (topic, partition, offset) in positions {
        tracker.commit_failed(topic, *partition, *offset);
    }
}

/// The consumer's callbacks: rebalances, statistics and the MSK IAM token.
struct QueueContext {
    shared: Arc<Shared>,
    kafka: KafkaContext,
}

impl ClientContext for QueueContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        _oauthbearer_config: Option<&str>,
    ) -> Result<rdkafka::client::OAuthToken, Box<dyn std::error::Error>> {
        self.kafka.oauth_token()
    }

    fn stats(&self, statistics: Statistics) {
        for (name, topic) in &statistics.topics {
            let lag: i64 = topic
                .partitions
                .values()
                .filter(|p| p.partition >= 0 && p.consumer_lag >= 0)
                .map(|p| p.consumer_lag)
                .sum();
            gauge!(telemetry::QUEUE_LAG, "topic" => name.clone()).set(lag as f64);
        }
    }
}

impl ConsumerContext for QueueContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                counter!(telemetry::QUEUE_REBALANCES, "kind" => "assign").increment(1);
                let mut tracker = self.shared.offsets();
                for e in tpl.elements() {
                    tracker.assign(e.topic(), e.partition());
                }
                self.shared.set_assigned(&tracker);
                tracing::info!(partitions = tpl.count(), "kafka partitions assigned");
            }
            Rebalance::Revoke(tpl) => {
                counter!(telemetry::QUEUE_REBALANCES, "kind" => "revoke").increment(1);
                let positions: Positions = {
                    let mut tracker = self.shared.offsets();
                    let p = tpl
                        .elements()
                        .iter()
                        .filter_map(|e| {
                            tracker
                                .revoke(e.topic(), e.partition())
                                .map(|o| (e.topic().to_string(), e.partition(), o))
                        })
                        .collect();
                    self.shared.set_assigned(&tracker);
                    p
                };
                tracing::info!(
                    partitions = tpl.count(),
                    committing = positions.len(),
                    "kafka partitions revoked; their running jobs finish without committing"
                );
                if consumer.assignment_lost() {
                    tracing::warn!("kafka partitions were lost (session timed out): their completed offsets cannot be committed; the new owners run those jobs again");
                } else if !positions.is_empty() {
                    // Asynchronous, so the poll does not block: librdkafka completes the
                    // revocation only after its outstanding commits, and logs (COMMITFAIL) a
                    // commit that fails.
                    if let Err(e) = consumer.commit(&partition_list(&positions), CommitMode::Async)
                    {
                        commit_failed(&self.shared, &e, &positions);
                    }
                }
            }
            Rebalance::Error(e) => {
                counter!(telemetry::QUEUE_REBALANCES, "kind" => "error").increment(1);
                tracing::warn!(error = %e, "kafka rebalance failed; the group retries");
            }
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            if tpl.count() == 0 {
                return;
            }
            // Set the pause of every partition assigned to the loop's for its share, both
            // ways: librdkafka keeps a partition's pause over a revocation, so one paused when
            // it was taken away comes back paused, and the loop, which resumed while it held
            // nothing, would never resume it.
            for share in Share::BOTH {
                let part = self.shared.of_share(tpl, share);
                if part.count() == 0 {
                    continue;
                }
                let paused = self.shared.paused[share as usize].load(Ordering::SeqCst);
                let result = if paused {
                    consumer.pause(&part)
                } else {
                    consumer.resume(&part)
                };
                if let Err(e) = result {
                    tracing::warn!(error = %e, pause = paused, share = share.as_str(), "setting the pause of newly assigned kafka partitions failed");
                }
            }
        }
    }
}

/// Jobs running at once, by count and by estimated bytes, in all and of the bulk share.
#[derive(Debug)]
struct Budget {
    max_jobs: usize,
    max_bytes: u64,
    /// What bulk jobs may hold together: the whole less what is kept for urgent ones.
    bulk_max_jobs: usize,
    bulk_max_bytes: u64,
    jobs: usize,
    bytes: u64,
    bulk_jobs: usize,
    bulk_bytes: u64,
}

impl Budget {
    /// `max_jobs` and `max_bytes` in all (at least 1 each), of which bulk jobs may hold all but
    /// [`kept_for_urgent`] jobs and as large a part of the bytes.
    fn new(max_jobs: usize, max_bytes: u64) -> Budget {
        let max_jobs = max_jobs.max(1);
        let max_bytes = max_bytes.max(1);
        let kept = kept_for_urgent(max_jobs);
        let kept_bytes = (u128::from(max_bytes) * kept as u128 / max_jobs as u128) as u64;
        Budget {
            max_jobs,
            max_bytes,
            bulk_max_jobs: max_jobs - kept,
            bulk_max_bytes: max_bytes - kept_bytes,
            jobs: 0,
            bytes: 0,
            bulk_jobs: 0,
            bulk_bytes: 0,
        }
    }

    /// Whether a job of `share` and `cost` may start: there is room for it in the whole budget
    /// and, for a bulk job, in the bulk share; or nothing runs (a job larger than the budget
    /// runs alone rather than never).
    fn admits(&self, share: Share, cost: u64) -> bool {
        if self.jobs == 0 {
            return true;
        }
        let room = self.jobs < self.max_jobs && self.bytes + cost <= self.max_bytes;
        room && (share == Share::Urgent
            || (self.bulk_jobs < self.bulk_max_jobs
                && self.bulk_bytes + cost <= self.bulk_max_bytes))
    }

    /// Whether the jobs running fill what jobs of `share` may hold.
    fn full(&self, share: Share) -> bool {
        self.jobs >= self.max_jobs
            || self.bytes >= self.max_bytes
            || (share == Share::Bulk
                && (self.bulk_jobs >= self.bulk_max_jobs || self.bulk_bytes >= self.bulk_max_bytes))
    }

    fn take(&mut self, share: Share, cost: u64) {
        self.jobs += 1;
        self.bytes += cost;
        if share == Share::Bulk {
            self.bulk_jobs += 1;
            self.bulk_bytes += cost;
        }
    }

    fn give(&mut self, share: Share, cost: u64) {
        debug_assert!(self.jobs > 0 && self.bytes >= cost);
        self.jobs = self.jobs.saturating_sub(1);
        self.bytes = self.bytes.saturating_sub(cost);
        if share == Share::Bulk {
            debug_assert!(self.bulk_jobs > 0 && self.bulk_bytes >= cost);
            self.bulk_jobs = self.bulk_jobs.saturating_sub(1);
            self.bulk_bytes = self.bulk_bytes.saturating_sub(cost);
        }
    }
}

/// A job read and not started yet.
struct Waiting {
    ticket: Ticket,
    job: Job,
    cost: u64,
}

/// A job running.
struct Running {
    ticket: Ticket,
    key: String,
    cost: u64,
    share: Share,
    kind: &'static str,
}

/// Reads jobs from the consumer group and runs them; see the module docs.
pub struct Processor {
    consumer: Arc<StreamConsumer<QueueContext>>,
    shared: Arc<Shared>,
    config: ProcessorConfig,
    runner: Arc<dyn JobRunner>,
    topics: Vec<String>,
    fence: EpochFence,
    close_timeout: Duration,
}

impl std::fmt::Debug for Processor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processor")
            .field("topics", &self.topics)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Processor {
    /// A processor in `kafka.group_id`, reading `kafka.topics`, running jobs with `runner`.
    /// Connects when [`run`](Processor::run) starts.
    pub fn new(
        kafka: &KafkaConfig,
        auth: &KafkaAuth,
        config: ProcessorConfig,
        runner: Arc<dyn JobRunner>,
    ) -> Result<Processor, QueueError> {
        let urgent_topics = config
            .urgent_kinds
            .iter()
            .map(|&k| kafka.topics.topic(k).to_string())
            .collect();
        let shared = Arc::new(Shared {
            urgent_topics,
            ..Shared::default()
        });
        let consumer: StreamConsumer<QueueContext> = kafka
            .consumer_config(&config)?
            .create_with_context(QueueContext {
                shared: shared.clone(),
                kafka: auth.context(),
            })
            .map_err(|e| QueueError::Client {
                role: "processor",
                error: e,
            })?;
        Ok(Processor {
            consumer: Arc::new(consumer),
            shared,
            config,
            runner,
            topics: kafka.topics.all().into_iter().map(String::from).collect(),
            fence: EpochFence::default(),
            close_timeout: kafka.request_timeout
                + kafka.session_timeout.min(Duration::from_secs(10)),
        })
    }

    /// The fence against jobs of old discovery leaders (clone it to feed epochs read
    /// elsewhere).
    pub fn fence(&self) -> EpochFence {
        self.fence.clone()
    }

    /// A discovery leader of `epoch` exists: jobs of older epochs are dropped from now on.
    pub fn observe_epoch(&self, epoch: u64) {
        self.fence.observe(epoch);
    }

    /// This processor's counters.
    pub fn stats(&self) -> Arc<ProcessorStats> {
        self.shared.stats.clone()
    }

    /// Join the group and run jobs until `shutdown` turns true (or its sender is dropped).
    /// Then: stop starting jobs (partitions paused), wait up to `shutdown_grace` for the
    /// running ones, commit what completed, and leave the group. Returns an error only when
    /// the consumer fails fatally or cannot subscribe.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<(), QueueError> {
        let topics: Vec<&str> = self.topics.iter().map(String::as_str).collect();
        self.consumer
            .subscribe(&topics)
            .map_err(QueueError::Subscribe)?;
        tracing::info!(topics = ?self.topics, max_jobs = self.config.max_jobs, max_in_flight_bytes = self.config.max_in_flight_bytes, "processor joined the job queue");
        let mut lane = Lane::new(&self);
        let mut commit_tick =
            tokio::time::interval(self.config.commit_interval.max(Duration::from_millis(10)));
        commit_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let result = loop {
            lane.start_waiting();
            lane.apply_pause();
            let can_read = lane.waiting_jobs() < self.config.max_waiting_jobs.max(1);
            tokio::select! {
                biased;
                _ = shutdown.wait_for(|s| *s) => break Ok(()),
                Some(r) = lane.tasks.join_next_with_id(), if !lane.tasks.is_empty() => lane.finished(r),
                r = Lane::commit_done(&mut lane.committing), if lane.committing.is_some() => lane.committed(r),
                _ = commit_tick.tick() => lane.commit(),
                m = self.consumer.recv(), if can_read => match m {
                    Ok(m) => lane.received(m.topic(), m.partition(), m.offset(), m.payload()),
                    Err(e) => if let Some(fatal) = consumer_error(e) { break Err(fatal) },
                },
            }
        };
        lane.drain(self.config.shutdown_grace, &mut commit_tick)
            .await;
        lane.last_commit(self.close_timeout).await;
        drop(lane);
        self.close().await;
        result
    }

    /// Leave the group (librdkafka's close: revocation, commits in flight, LeaveGroup) on a
    /// blocking thread, waiting at most `close_timeout`.
    async fn close(self) {
        let Processor {
            consumer,
            close_timeout,
            ..
        } = self;
        let closing = tokio::task::spawn_blocking(move || drop(consumer));
        match tokio::time::timeout(close_timeout, closing).await {
            Ok(_) => tracing::info!("processor left the job queue"),
            Err(_) => tracing::warn!(
                timeout_s = close_timeout.as_secs(),
                "leaving the kafka group takes too long; exiting anyway (the group drops this member after its session timeout)"
            ),
        }
    }
}

/// A consumer error: logged and counted; `Some` when it is fatal.
fn consumer_error(e: KafkaError) -> Option<QueueError> {
    counter!(telemetry::QUEUE_CONSUMER_ERRORS).increment(1);
    if let KafkaError::MessageConsumptionFatal(_) = e {
        tracing::error!(error = %e, "kafka consumer failed fatally");
        return Some(QueueError::Fatal(e));
    }
    tracing::warn!(error = %e, "kafka consumer error; librdkafka retries");
    None
}

/// The loop's own state: waiting and running jobs, the budget, the pause.
struct Lane<'p> {
    p: &'p Processor,
    /// Jobs waiting to start, by [`Share`] index, each in the order received.
    waiting: [VecDeque<Waiting>; 2],
    tasks: JoinSet<JobOutcome>,
    running: HashMap<tokio::task::Id, Running>,
    keys: HashSet<String>,
    budget: Budget,
    /// Whether each share's partitions are paused, by [`Share`] index.
    paused: [bool; 2],
    committing: Option<tokio::task::JoinHandle<(Positions, KafkaResult<()>)>>,
}

impl<'p> Lane<'p> {
    fn new(p: &'p Processor) -> Lane<'p> {
        Lane {
            p,
            waiting: [VecDeque::new(), VecDeque::new()],
            tasks: JoinSet::new(),
            running: HashMap::new(),
            keys: HashSet::new(),
            budget: Budget::new(p.config.max_jobs, p.config.max_in_flight_bytes),
            paused: [false; 2],
            committing: None,
        }
    }

    fn stats(&self) -> &ProcessorStats {
        &self.p.shared.stats
    }

    fn waiting_jobs(&self) -> usize {
        self.waiting.iter().map(VecDeque::len).sum()
    }

    /// A message arrived.
    fn received(&mut self, topic: &str, partition: i32, offset: i64, payload: Option<&[u8]>) {
        let Some(ticket) = self.p.shared.offsets().received(topic, partition, offset) else {
            tracing::debug!(
                topic,
                partition,
                offset,
                "message of a partition no longer assigned; ignored"
            );
            return;
        };
        bump(&self.stats().received);
        match Job::decode(payload.unwrap_or_default()) {
            Ok(job) => {
                let cost = self.p.config.job_cost(job.size);
                self.waiting[self.p.shared.share_of(topic) as usize].push_back(Waiting {
                    ticket,
                    job,
                    cost,
                });
            }
            Err(e) => {
                let (reason, stat) = match e {
                    JobError::Malformed(_) => ("malformed", &self.stats().malformed),
                    JobError::Version { .. } => ("newer_version", &self.stats().newer_version),
                };
                bump(stat);
                counter!(telemetry::QUEUE_JOBS, "outcome" => "dropped", "reason" => reason)
                    .increment(1);
                tracing::warn!(topic, partition, offset, reason, error = %e, "message dropped");
                self.p.shared.offsets().complete(&ticket);
            }
        }
    }

    /// Start waiting jobs, urgent ones first, each share's in order, while there is room;
    /// drop those that must not run.
    fn start_waiting(&mut self) {
        for share in Share::BOTH {
            self.start_waiting_of(share);
        }
    }

    fn start_waiting_of(&mut self, share: Share) {
        let i = share as usize;
        while let Some(w) = self.waiting[i].front() {
            if !self.p.shared.offsets().is_current(&w.ticket) {
                tracing::debug!(topic = %w.ticket.topic, partition = w.ticket.partition, "waiting job of a revoked partition dropped; its new owner runs it");
                self.waiting[i].pop_front();
                continue;
            }
            if !self.p.fence.admits(w.job.leader_epoch) {
                let w = self.waiting[i].pop_front().expect("front exists");
                bump(&self.stats().stale_epoch);
                counter!(telemetry::QUEUE_JOBS, "outcome" => "dropped", "reason" => "stale_epoch")
                    .increment(1);
                tracing::info!(key = %w.job.key(), epoch = w.job.leader_epoch, newest = self.p.fence.current(), "job of an old discovery leader dropped");
                self.p.shared.offsets().complete(&w.ticket);
                continue;
            }
            let key = w.job.key();
            if self.keys.contains(&key) {
                let w = self.waiting[i].pop_front().expect("front exists");
                bump(&self.stats().skipped_in_flight);
                counter!(telemetry::QUEUE_JOBS, "outcome" => "skipped", "reason" => "in_flight")
                    .increment(1);
                tracing::debug!(%key, "file already running here; job skipped");
                self.p.shared.offsets().complete(&w.ticket);
                continue;
            }
            if !self.budget.admits(share, w.cost) {
                break;
            }
            let w = self.waiting[i].pop_front().expect("front exists");
            self.start(w, key, share);
        }
    }

    fn start(&mut self, w: Waiting, key: String, share: Share) {
        self.budget.take(share, w.cost);
        self.gauges();
        let runner = self.p.runner.clone();
        let kind = w.job.kind.as_str();
        let handle = self.tasks.spawn(async move { runner.run(w.job).await });
        self.keys.insert(key.clone());
        self.running.insert(
            handle.id(),
            Running {
                ticket: w.ticket,
                key,
                cost: w.cost,
                share,
                kind,
            },
        );
    }

    /// A job task ended.
    fn finished(&mut self, r: Result<(tokio::task::Id, JobOutcome), JoinError>) {
        let (id, outcome) = match r {
            Ok(r) => r,
            Err(e) if e.is_panic() => {
                (e.id(), JobOutcome::Failed("the job runner panicked".into()))
            }
            Err(e) => (e.id(), JobOutcome::Failed("the job was cancelled".into())),
        };
        let Some(run) = self.running.remove(&id) else {
            return;
        };
        self.keys.remove(&run.key);
        self.budget.give(run.share, run.cost);
        self.gauges();
        let stats = &self.p.shared.stats;
        match &outcome {
            JobOutcome::Done => {
                bump(&stats.done);
                counter!(telemetry::QUEUE_JOBS, "outcome" => "done", "reason" => run.kind)
                    .increment(1);
            }
            JobOutcome::Skipped(reason) => {
                bump(&stats.skipped);
                counter!(telemetry::QUEUE_JOBS, "outcome" => "skipped", "reason" => *reason)
                    .increment(1);
                tracing::debug!(key = %run.key, reason, "job skipped");
            }
            JobOutcome::Failed(error) => {
                bump(&stats.failed);
                counter!(telemetry::QUEUE_JOBS, "outcome" => "failed", "reason" => run.kind)
                    .increment(1);
                tracing::warn!(key = %run.key, %error, "job failed; its file resumes from its checkpoint when discovery publishes it again");
            }
        }
        self.p.shared.offsets().complete(&run.ticket);
    }

    fn gauges(&self) {
        let s = self.stats();
        s.running_jobs
            .store(self.budget.jobs as u64, Ordering::Relaxed);
        s.running_bytes.store(self.budget.bytes, Ordering::Relaxed);
        gauge!(telemetry::QUEUE_RUNNING_JOBS).set(self.budget.jobs as f64);
        gauge!(telemetry::QUEUE_RUNNING_BYTES).set(self.budget.bytes as f64);
    }

    /// Pause a share's assigned partitions while its jobs fill what they may hold or one of
    /// them waits; resume them when there is room again.
    fn apply_pause(&mut self) {
        debug_assert!(
            self.p.shared.offsets().open() <= self.waiting_jobs() + self.running.len(),
            "every open offset is a waiting or running job"
        );
        for share in Share::BOTH {
            let want = !self.waiting[share as usize].is_empty() || self.budget.full(share);
            self.set_paused(share, want);
        }
    }

    fn set_paused(&mut self, share: Share, want: bool) {
        if want == self.paused[share as usize] {
            return;
        }
        // Set first: a rebalance during the call pauses what it assigns.
        self.p.shared.paused[share as usize].store(want, Ordering::SeqCst);
        let result = self.p.consumer.assignment().and_then(|tpl| {
            let part = self.p.shared.of_share(&tpl, share);
            if want {
                self.p.consumer.pause(&part)
            } else {
                self.p.consumer.resume(&part)
            }
        });
        if let Err(e) = result {
            tracing::warn!(error = %e, pause = want, share = share.as_str(), "pausing or resuming kafka partitions failed");
        }
        self.paused[share as usize] = want;
        if want {
            bump(&self.stats().pauses);
        }
        gauge!(telemetry::QUEUE_PAUSED, "share" => share.as_str()).set(if want {
            1.0
        } else {
            0.0
        });
    }

    /// Commit the positions that advanced, unless a commit is still in flight. Synchronous
    /// commits answer (asynchronous ones would not: the answer goes only to a configured
    /// callback) and block, so they run on a blocking thread.
    fn commit(&mut self) {
        if self.committing.is_some() {
            return;
        }
        let positions = self.p.shared.offsets().take_positions();
        if positions.is_empty() {
            return;
        }
        let consumer = self.p.consumer.clone();
        self.committing = Some(tokio::task::spawn_blocking(move || {
            let r = consumer.commit(&partition_list(&positions), CommitMode::Sync);
            (positions, r)
        }));
    }

    async fn commit_done(
        committing: &mut Option<tokio::task::JoinHandle<(Positions, KafkaResult<()>)>>,
    ) -> Result<(Positions, KafkaResult<()>), JoinError> {
        match committing {
            Some(h) => h.await,
            None => std::future::pending().await,
        }
    }

    fn committed(&mut self, r: Result<(Positions, KafkaResult<()>), JoinError>) {
        self.committing = None;
        match r {
            Ok((_, Ok(()))) => {
                bump(&self.stats().commits);
                counter!(telemetry::QUEUE_COMMITS, "outcome" => "ok").increment(1);
            }
            Ok((positions, Err(e))) => commit_failed(&self.p.shared, &e, &positions),
            Err(e) => tracing::warn!(error = %e, "kafka offset commit task failed"),
        }
    }

    /// At shutdown: wait for the commit in flight, then commit what completed since; at most
    /// `timeout` in all.
    async fn last_commit(&mut self, timeout: Duration) {
        let last = async {
            for _ in 0..2 {
                if self.committing.is_none() {
                    self.commit();
                }
                if self.committing.is_some() {
                    let r = Lane::commit_done(&mut self.committing).await;
                    self.committed(r);
                }
            }
        };
        if tokio::time::timeout(timeout, last).await.is_err() {
            tracing::warn!("the last kafka offset commit takes too long; its jobs run again on the partitions' next owners");
        }
    }

    /// Shutdown: start nothing more, keep serving the consumer (rebalances) and committing,
    /// and give the running jobs up to `grace`; then abandon them uncommitted.
    async fn drain(&mut self, grace: Duration, commit_tick: &mut tokio::time::Interval) {
        for share in Share::BOTH {
            self.waiting[share as usize].clear();
            self.set_paused(share, true);
        }
        tracing::info!(
            running = self.running.len(),
            grace_s = grace.as_secs(),
            "processor stopping: finishing the running jobs"
        );
        let p = self.p;
        let deadline = tokio::time::sleep(grace);
        tokio::pin!(deadline);
        while !self.tasks.is_empty() {
            tokio::select! {
                biased;
                Some(r) = self.tasks.join_next_with_id() => self.finished(r),
                _ = &mut deadline => {
                    tracing::warn!(running = self.running.len(), "grace period over: leaving running jobs uncommitted (their files resume from their checkpoints)");
                    break;
                }
                r = Lane::commit_done(&mut self.committing), if self.committing.is_some() => self.committed(r),
                _ = commit_tick.tick() => self.commit(),
                // Serve rebalances; messages are not started (nor tracked, so not committed).
                m = p.consumer.recv() => if let Err(e) = m { consumer_error(e); },
            }
        }
        self.tasks.abort_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_admits_by_count_and_bytes_and_a_huge_job_alone() {
        // One slot: nothing is kept from bulk jobs.
        let mut b = Budget::new(1, 100);
        assert_eq!((b.bulk_max_jobs, b.bulk_max_bytes), (1, 100));
        b.take(Share::Bulk, 50);
        assert!(!b.admits(Share::Urgent, 1) && b.full(Share::Urgent));
        b.give(Share::Bulk, 50);
        // Three slots, all urgent: the bulk share does not limit them.
        let mut b = Budget::new(3, 100);
        assert_eq!((b.bulk_max_jobs, b.bulk_max_bytes), (2, 67));
        assert!(
            b.admits(Share::Urgent, 1_000) && b.admits(Share::Bulk, 1_000),
            "a job over the budget runs when nothing else does"
        );
        b.take(Share::Urgent, 60);
        assert!(!b.admits(Share::Urgent, 41));
        assert!(b.admits(Share::Urgent, 40));
        assert!(!b.full(Share::Urgent));
        b.take(Share::Urgent, 40);
        assert!(b.full(Share::Urgent) && b.full(Share::Bulk));
        assert!(!b.admits(Share::Urgent, 1));
        b.give(Share::Urgent, 60);
        assert!(b.admits(Share::Urgent, 60));
        assert!(!b.admits(Share::Urgent, 61));
        b.take(Share::Urgent, 1);
        assert!(
            !b.full(Share::Urgent) && !b.full(Share::Bulk),
            "urgent jobs are not of the bulk share"
        );
        b.take(Share::Urgent, 1);
        assert!(b.full(Share::Urgent), "at max_jobs");
        b.give(Share::Urgent, 1);
        b.give(Share::Urgent, 1);
        b.give(Share::Urgent, 40);
        assert_eq!((b.jobs, b.bytes), (0, 0));
    }

    #[test]
    fn bulk_jobs_leave_urgent_ones_their_share() {
        let mut b = Budget::new(8, 800);
        assert_eq!((b.bulk_max_jobs, b.bulk_max_bytes), (6, 600));
        for _ in 0..6 {
            assert!(b.admits(Share::Bulk, 10));
            b.take(Share::Bulk, 10);
        }
        assert!(!b.admits(Share::Bulk, 10) && b.full(Share::Bulk));
        assert!(b.admits(Share::Urgent, 10) && !b.full(Share::Urgent));
        b.take(Share::Urgent, 10);
        b.take(Share::Urgent, 10);
        assert!(b.full(Share::Urgent) && !b.admits(Share::Urgent, 1));
        // A bulk job done makes room for the next one, or for an urgent one.
        b.give(Share::Bulk, 10);
        assert!(b.admits(Share::Bulk, 10) && b.admits(Share::Urgent, 10));
        // Urgent jobs may take every slot.
        let mut b = Budget::new(8, 800);
        for _ in 0..8 {
            assert!(b.admits(Share::Urgent, 10));
            b.take(Share::Urgent, 10);
        }
        assert!(!b.admits(Share::Urgent, 1) && !b.admits(Share::Bulk, 1));
        // Bytes: bulk jobs stop at their part of the bytes, urgent ones do not.
        let mut b = Budget::new(8, 800);
        b.take(Share::Bulk, 590);
        assert!(!b.admits(Share::Bulk, 11) && b.admits(Share::Bulk, 10));
        assert!(b.admits(Share::Urgent, 210) && !b.admits(Share::Urgent, 211));
        b.take(Share::Bulk, 10);
        assert!(b.full(Share::Bulk) && !b.full(Share::Urgent));
        // A bulk job over its share runs when nothing runs, and then fills it.
        let mut b = Budget::new(8, 800);
        assert!(b.admits(Share::Bulk, 700));
        b.take(Share::Bulk, 700);
        assert!(b.full(Share::Bulk) && b.admits(Share::Urgent, 100));
        b.give(Share::Bulk, 700);
        assert_eq!((b.jobs, b.bytes, b.bulk_jobs, b.bulk_bytes), (0, 0, 0, 0));
    }

    #[test]
    fn the_fence_admits_only_the_newest_epoch_and_later() {
        let f = EpochFence::default();
        assert!(f.admits(3));
        assert!(f.admits(3));
        assert!(!f.admits(2));
        f.observe(5);
        assert!(!f.admits(4));
        f.observe(1);
        assert_eq!(f.current(), 5);
        assert!(f.clone().admits(6));
        assert_eq!(f.current(), 6);
    }
}
