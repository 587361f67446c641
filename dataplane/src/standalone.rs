//! Standalone mode: a discovery loop and a pool of file workers in one process, with an
//! in-process bounded job queue and local checkpoints.
//!
//! Each pass lists the instances and their files, and queues one job per file family that has
//! unshipped bytes; a family's files are shipped oldest first, so a rotated file is finished
//! before its successor. The queue needs no durability: jobs are derived again from RDS and the
//! checkpoints on every pass, also after a restart.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use metrics::{counter, gauge};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use contract::cadence::{Cadence, Quiet, TailClock, Tailing};
use contract::{pending, Checkpoint, FileKey, RemoteFile};
use net::telemetry::InternalEvent;

use crate::lanes::{lanes, Lane};
use crate::pipeline::{ship_file, ShipContext, ShipError};
use crate::telemetry::{self, FileJobEnded, JobDeferred};
use rds::InstanceInfo;

/// Scheduling of the standalone mode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    /// Time between discovery passes.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// File families shipped at once.
    pub workers: usize,
    /// Jobs queued beyond those being worked on.
    pub queue: usize,
    /// On SIGTERM: time allowed to finish the files being shipped before exiting.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// A file's checkpoint is deleted once RDS has left the file out of every listing for this
    /// long (retention deleted it), so that the state does not grow with every hourly file.
    #[serde(with = "humantime_serde")]
    pub forget_after: Duration,
    /// The share of `rds.calls_per_second` that listing files may take: with many instances,
    /// each is listed less often than `poll_interval` so that downloads keep the rest.
    pub list_share: f64,
    /// While less than this share of `rds.calls_per_second` was in use over the last half
    /// minute, live files are read at every listing (a small fleet as if there were no
    /// budget); 0: only as `max_delay` and full portions say.
    pub read_all_below: f64,
    /// By kind, the longest the entries of a live file wait to be read while the RDS budget
    /// is busy (see `read_all_below`). A file is read sooner once a full portion (1 MB)
    /// waits. `1h` or more: the kind's files are not tailed
    /// but shipped whole after their hourly rotation, one call a file.
    pub max_delay: MaxDelays,
    /// While the budget stretches listings beyond `poll_interval`: how often at most an idle
    /// instance (no file written across its last two listings) is listed, at most four times
    /// the interval of listing every instance alike. The listings it no longer takes go to the
    /// instances that write. An idle instance's next entry waits up to this long to be found.
    /// `0s`: idle instances are listed like the others.
    #[serde(with = "humantime_serde")]
    pub idle_list_interval: Duration,
}

pub use contract::cadence::MaxDelays;

impl SchedulerConfig {
    /// The lane of a job ([`crate::lanes`]): urgent when its kind's `max_delay` is at most
    /// [`URGENT_MAX_DELAY`] (the error log and PostgreSQL by default), else bulk.
    pub fn lane_of(&self, job: &FamilyJob) -> Lane {
        let kind = job.files.first().and_then(|f| contract::kind_of(&f.name));
        match kind {
            Some(k) if !self.bulk_kinds()[k] => Lane::Urgent,
            _ => Lane::Bulk,
        }
    }

    /// The kinds whose jobs go in the bulk lane, and whose downloads yield their RDS permits
    /// to listings and the other kinds' downloads ([`rds::Rank`]): those whose `max_delay` is
    /// over [`URGENT_MAX_DELAY`].
    pub fn bulk_kinds(&self) -> contract::PerKind<bool> {
        contract::PerKind::from_fn(|k| self.max_delay.0[k] > URGENT_MAX_DELAY)
    }

    /// The rules of [`contract::cadence`] this configuration sets.
    pub fn cadence(&self) -> Cadence {
        Cadence {
            poll_interval: self.poll_interval,
            list_share: self.list_share,
            read_all_below: self.read_all_below,
            max_delay: self.max_delay.0.clone(),
            idle_interval: self.idle_list_interval,
        }
    }
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            poll_interval: Duration::from_secs(10),
            workers: 4,
            queue: 64,
            shutdown_grace: Duration::from_secs(25),
            forget_after: Duration::from_secs(3600),
            list_share: 0.4,
            read_all_below: 0.5,
            max_delay: MaxDelays::default(),
            idle_list_interval: Duration::from_secs(300),
        }
    }
}

/// A job: the files of one family of one instance that have unshipped bytes, oldest first.
#[derive(Clone, Debug)]
pub struct FamilyJob {
    /// The instance.
    pub instance: InstanceInfo,
    /// The family (see [`contract::family`]).
    pub family: String,
    /// Its files needing work.
    pub files: Vec<RemoteFile>,
}

/// Totals of a scheduler's work so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Records acknowledged.
    pub records: u64,
    /// Records dead-lettered.
    pub dead_lettered: u64,
    /// Raw bytes shipped.
    pub bytes: u64,
    /// File jobs that failed (to be retried).
    pub failures: u64,
    /// Discovery passes completed.
    pub passes: u64,
    /// Files listed again because their job's listing was older than their checkpoint.
    pub relists: u64,
}

/// The standalone scheduler.
pub struct Scheduler {
    ctx: Arc<ShipContext>,
    config: SchedulerConfig,
    busy: Arc<Mutex<HashSet<(String, String)>>>,
    progress: Arc<Mutex<Progress>>,
    ready: watch::Sender<bool>,
    /// Checkpointed files the last listings left out, since when (one entry per checkpoint at
    /// most: bounded by the state itself).
    missing: Mutex<HashMap<FileKey, Instant>>,
    /// Live files by lasting name: when each was last read, or first seen (one entry per live
    /// file listed: bounded by the listings).
    last_read: Mutex<TailClock>,
}

/// Jobs of the kinds whose `max_delay` is at most this go first ([`SchedulerConfig::lane_of`]).
pub const URGENT_MAX_DELAY: Duration = Duration::from_secs(60);

/// How often the instance list is refreshed at least (new instances are found within it).
const INSTANCES_EVERY: Duration = Duration::from_secs(60);
/// Listings of different instances in flight at once: the loop keeps its pace when one
/// answer is slow (RDS busy after the hour's rotation).
const LISTINGS_AT_ONCE: usize = 4;
/// The most instances one turn of the loop lists; the rest are due at the next turn (which
/// comes at once), so that a shutdown is seen between batches.
const LISTINGS_PER_BATCH: usize = 64;
/// The shortest sleep of the scheduling loop.
const MIN_NAP: Duration = Duration::from_millis(20);

impl Scheduler {
    /// A scheduler over `ctx`; it ranks `ctx`'s RDS calls by its bulk kinds
    /// ([`SchedulerConfig::bulk_kinds`]).
    pub fn new(ctx: Arc<ShipContext>, config: SchedulerConfig) -> Scheduler {
        ctx.source.set_bulk_kinds(&config.bulk_kinds());
        Scheduler {
            ctx,
            config,
            busy: Arc::default(),
            progress: Arc::default(),
            ready: watch::channel(false).0,
            missing: Mutex::default(),
            last_read: Mutex::default(),
        }
    }

    /// What it ships with (its checkpoint store, for one).
    pub fn context(&self) -> &Arc<ShipContext> {
        &self.ctx
    }

    /// Totals so far.
    pub fn progress(&self) -> Progress {
        use std::sync::atomic::Ordering::Relaxed;
        let p = *self.progress.lock().expect("progress lock");
        let t = &self.ctx.totals;
        Progress {
            records: t.records.load(Relaxed),
            dead_lettered: t.dead_lettered.load(Relaxed),
            bytes: t.bytes.load(Relaxed),
            relists: t.relists.load(Relaxed),
            ..p
        }
    }

    /// Becomes true after the first successful discovery pass (for `/readyz`).
    pub fn ready(&self) -> watch::Receiver<bool> {
        self.ready.subscribe()
    }

    /// The jobs one discovery pass finds: every file with unshipped bytes of every instance.
    pub async fn discover(&self) -> Result<Vec<FamilyJob>, ShipError> {
        let mut jobs = Vec::new();
        for instance in self.ctx.source.list_instances().await? {
            jobs.extend(self.discover_instance(&instance, None).await?.0);
        }
        Ok(jobs)
    }

    /// The jobs of one instance's listing, and the newest `LastWritten` it lists (0: no
    /// file). With `tailing`, a live file is left for a later listing unless
    /// [`Cadence::tail_now`] says it is due; finished files always go.
    async fn discover_instance(
        &self,
        instance: &InstanceInfo,
        tailing: Option<Tailing<'_>>,
    ) -> Result<(Vec<FamilyJob>, u64), ShipError> {
        let mut jobs = Vec::new();
        let listing = self.ctx.source.list_files(&instance.instance_id).await?;
        let newest = listing.iter().map(|f| f.1.max(0) as u64).max().unwrap_or(0);
        // One read of the instance's checkpoints.
        let shipped: HashMap<String, Checkpoint> = self
            .ctx
            .checkpoints
            .instance(&instance.instance_id)
            .await?
            .into_iter()
            .map(|(k, cp)| (k.log_file, cp))
            .collect();
        let listed = contract::lasting_names(&listing);
        self.forget_vanished(&instance.instance_id, &listed, &shipped)
            .await?;
        for (family, mut files) in pending(listing, &shipped).families {
            if let Some(t) = &tailing {
                files.retain(|f| f.finished || self.due(instance, f, &shipped, t));
            }
            if files.is_empty() {
                continue;
            }
            jobs.push(FamilyJob {
                instance: instance.clone(),
                family,
                files,
            });
        }
        self.last_read
            .lock()
            .expect("last read lock")
            .retain(|k| k.instance_id != instance.instance_id || listed.contains(&k.log_file));
        Ok((jobs, newest))
    }

    /// Forget that the live files of `job` were read ([`Scheduler::due`] counted them as read
    /// when it queued the job): the job was not queued, so they count as new at the next
    /// listing, not as read a moment ago.
    fn not_read(&self, job: &FamilyJob) {
        let mut last_read = self.last_read.lock().expect("last read lock");
        for f in job.files.iter().filter(|f| !f.finished) {
            last_read.not_read(&FileKey {
                instance_id: job.instance.instance_id.clone(),
                log_file: f.canonical.clone(),
            });
        }
    }

    /// Whether live file `f` is read now (then it counts as read now).
    fn due(
        &self,
        instance: &InstanceInfo,
        f: &RemoteFile,
        shipped: &HashMap<String, Checkpoint>,
        tailing: &Tailing<'_>,
    ) -> bool {
        match contract::kind_of(&f.name) {
            Some(kind) => self.last_read.lock().expect("last read lock").file_due(
                tailing,
                &instance.instance_id,
                f,
                kind,
                shipped,
                Instant::now(),
            ),
            None => true,
        }
    }

    /// Delete the checkpoints of files that `listed` (lasting names) and the listings before it
    /// left out for `forget_after`. A file seen again is no longer missing. A checkpoint of a
    /// file that went before it was shipped to its end is deleted too, with a warning: RDS's
    /// retention was faster than the shipping, and those bytes are gone at the source.
    async fn forget_vanished(
        &self,
        instance_id: &str,
        listed: &HashSet<String>,
        shipped: &HashMap<String, Checkpoint>,
    ) -> Result<(), ShipError> {
        let now = Instant::now();
        let mut due = Vec::new();
        {
            let mut missing = self.missing.lock().expect("missing lock");
            missing.retain(|k, _| {
                k.instance_id != instance_id
                    || (!listed.contains(&k.log_file) && shipped.contains_key(&k.log_file))
            });
            for (log_file, cp) in shipped {
                if listed.contains(log_file) {
                    continue;
                }
                let key = FileKey {
                    instance_id: instance_id.to_string(),
                    log_file: log_file.clone(),
                };
                let since = *missing.entry(key.clone()).or_insert(now);
                if now.duration_since(since) >= self.config.forget_after {
                    due.push((key, cp.done));
                }
            }
        }
        for (key, done) in due {
            self.ctx.checkpoints.remove(&key).await?;
            self.missing.lock().expect("missing lock").remove(&key);
            let state = if done { "done" } else { "unfinished" };
            counter!(telemetry::CHECKPOINTS_FORGOTTEN, "state" => state).increment(1);
            if done {
                tracing::debug!(instance = %key.instance_id, file = %key.log_file, "file no longer listed by RDS: its checkpoint is deleted");
            } else {
                tracing::warn!(instance = %key.instance_id, file = %key.log_file, "file deleted by RDS before it was shipped to its end: the rest of it is lost at the source; its checkpoint is deleted");
            }
        }
        Ok(())
    }

    /// Ship one family's files in order; stops at the first failure (retried next pass).
    pub async fn run_job(&self, job: &FamilyJob) -> Result<(), ShipError> {
        run_job(&self.ctx, &self.progress, job).await
    }

    /// One discovery pass and every job it finds, `workers` families at a time; returns when
    /// all are done. The first error of the pass is returned after the others finished.
    pub async fn drain_once(&self) -> Result<Progress, ShipError> {
        let jobs = self.discover().await?;
        let sem = Arc::new(tokio::sync::Semaphore::new(self.config.workers.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        for job in jobs {
            let ctx = self.ctx.clone();
            let progress = self.progress.clone();
            let permit = sem.clone().acquire_owned().await.expect("never closed");
            tasks.spawn(async move {
                let _permit = permit;
                run_job(&ctx, &progress, &job).await
            });
        }
        let mut first_err = None;
        while let Some(r) = tasks.join_next().await {
            if let Err(e) = r
                .map_err(|e| ShipError::Parse(e.to_string()))
                .and_then(|r| r)
            {
                first_err.get_or_insert(e);
            }
        }
        self.progress.lock().expect("progress lock").passes += 1;
        match first_err {
            Some(e) => Err(e),
            None => Ok(self.progress()),
        }
    }

    /// Run until `shutdown` turns true: discovery every `poll_interval`, jobs through a
    /// bounded queue to `workers` workers. On shutdown, stop taking jobs, let the files being
    /// shipped finish (their checkpoints advance), and return within the grace period.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        let workers_n = self.config.workers.max(1);
        let (offer, take) = lanes::<FamilyJob>(self.config.queue.max(1), workers_n);
        let take = Arc::new(take);
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..workers_n {
            let take = take.clone();
            let ctx = self.ctx.clone();
            let progress = self.progress.clone();
            let busy = self.busy.clone();
            let mut stop = shutdown.clone();
            workers.spawn(async move {
                loop {
                    let next = tokio::select! {
                        next = take.next() => next,
                        _ = stop.wait_for(|s| *s) => None,
                    };
                    let Some((job, _slot)) = next else { break };
                    let _ = run_job(&ctx, &progress, &job).await;
                    busy.lock()
                        .expect("busy lock")
                        .remove(&(job.instance.instance_id.clone(), job.family.clone()));
                }
            });
        }
        let cadence = self.config.cadence();
        let budget = f64::from(self.ctx.source.config().calls_per_second.max(1));
        let mut instances: Vec<InstanceInfo> = Vec::new();
        let mut instances_at: Option<Instant> = None;
        // When each instance is listed next; instances are spread over the listing interval.
        let mut next: HashMap<String, Instant> = HashMap::new();
        let mut listed_in_pass = 0usize;
        // Whether each instance's files were written across its last listings.
        let mut quiet: HashMap<String, Quiet> = HashMap::new();
        loop {
            let now = Instant::now();
            let every = INSTANCES_EVERY.max(self.config.poll_interval);
            if instances_at.is_none_or(|at| now.duration_since(at) >= every) {
                match self.ctx.source.list_instances().await {
                    Ok(list) => {
                        let interval = cadence.list_interval(list.len(), budget);
                        let n = list.len().max(1) as f64;
                        for (i, instance) in list.iter().enumerate() {
                            next.entry(instance.instance_id.clone())
                                .or_insert_with(|| now + interval.mul_f64(i as f64 / n));
                        }
                        next.retain(|id, _| list.iter().any(|i| &i.instance_id == id));
                        instances = list;
                        instances_at = Some(now);
                        let _ = self.ready.send(true);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "listing instances failed; retrying at the next interval")
                    }
                }
            }
            quiet.retain(|id, _| next.contains_key(id));
            let idle = quiet.values().filter(|q| q.idle()).count();
            let (interval, idle_interval) =
                cadence.list_intervals(instances.len().saturating_sub(idle), idle, budget);
            gauge!(telemetry::INSTANCES_LISTED, "state" => "idle").set(idle as f64);
            gauge!(telemetry::INSTANCES_LISTED, "state" => "busy")
                .set(instances.len().saturating_sub(idle) as f64);
            gauge!(telemetry::LIST_INTERVAL, "state" => "busy").set(interval.as_secs_f64());
            gauge!(telemetry::LIST_INTERVAL, "state" => "idle").set(idle_interval.as_secs_f64());
            // The instances due now, at most a batch: their listings go at once, a few at a
            // time, so that one slow answer does not hold the others back.
            let now = Instant::now();
            let mut due = Vec::new();
            for instance in &instances {
                let id = &instance.instance_id;
                if due.len() >= LISTINGS_PER_BATCH || next.get(id).is_some_and(|&at| at > now) {
                    continue;
                }
                let was_idle = quiet.get(id).is_some_and(Quiet::idle);
                let own = if was_idle { idle_interval } else { interval };
                next.insert(id.clone(), now + own);
                due.push((instance, was_idle, own));
            }
            let room = self.ctx.source.budget_in_use() < self.config.read_all_below;
            let cadence = &cadence;
            // Collected first: a lazy `map` into the stream makes this future not `Send` (a
            // higher-ranked lifetime), and `run` must be spawnable.
            let futures: Vec<_> = due
                .into_iter()
                .map(|(instance, was_idle, own)| async move {
                    let tailing = Tailing {
                        cadence,
                        room,
                        interval: own,
                    };
                    let listed = self.discover_instance(instance, Some(tailing)).await;
                    (instance, was_idle, listed)
                })
                .collect();
            let mut listings =
                futures_util::stream::iter(futures).buffer_unordered(LISTINGS_AT_ONCE);
            while let Some((instance, was_idle, listed)) = listings.next().await {
                let id = &instance.instance_id;
                let jobs = match listed {
                    Ok((jobs, newest)) => {
                        let q = quiet.entry(id.clone()).or_insert(Quiet::new(newest));
                        q.listed(newest);
                        if was_idle && !q.idle() {
                            // Written again: back to the busy instances' interval.
                            next.insert(id.clone(), Instant::now() + interval);
                        }
                        jobs
                    }
                    Err(e) => {
                        tracing::error!(instance = %id, error = %e, "listing files failed; retrying at the next interval");
                        continue;
                    }
                };
                for job in jobs {
                    let key = (job.instance.instance_id.clone(), job.family.clone());
                    if !self.busy.lock().expect("busy lock").insert(key.clone()) {
                        continue;
                    }
                    let lane = self.config.lane_of(&job);
                    if let Err(job) = offer.offer(lane, job) {
                        // The lane is full: the next listing of the instance finds the same
                        // unshipped bytes again, and its live files were not read after all.
                        self.busy.lock().expect("busy lock").remove(&key);
                        self.not_read(&job);
                        JobDeferred { lane }.emit();
                    }
                }
                listed_in_pass += 1;
                if listed_in_pass >= instances.len() {
                    listed_in_pass = 0;
                    self.progress.lock().expect("progress lock").passes += 1;
                }
            }
            drop(listings);
            // Until the next instance is due (or the instance list is), within bounds.
            let wake = next
                .values()
                .min()
                .copied()
                .unwrap_or_else(|| Instant::now() + self.config.poll_interval)
                .min(instances_at.map_or_else(Instant::now, |at| at + every));
            let nap = wake
                .saturating_duration_since(Instant::now())
                .clamp(MIN_NAP, self.config.poll_interval.max(MIN_NAP));
            tokio::select! {
                _ = tokio::time::sleep(nap) => {}
                _ = shutdown.wait_for(|s| *s) => break,
            }
        }
        drop(offer);
        tracing::info!(
            grace_s = self.config.shutdown_grace.as_secs(),
            "shutting down: finishing files in flight"
        );
        if tokio::time::timeout(self.config.shutdown_grace, async {
            while workers.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            tracing::warn!("grace period over: exiting with files in flight (they resume from their checkpoints)");
            workers.abort_all();
        }
    }
}

async fn run_job(
    ctx: &ShipContext,
    progress: &Mutex<Progress>,
    job: &FamilyJob,
) -> Result<(), ShipError> {
    for file in &job.files {
        let result = ship_file(ctx, &job.instance, file).await;
        FileJobEnded {
            instance: &job.instance.instance_id,
            file: &file.canonical,
            result: result.as_ref().map(|_| ()),
            resumes: "next pass",
        }
        .emit();
        if let Err(e) = result {
            progress.lock().expect("progress lock").failures += 1;
            return Err(e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use contract::{LogKind, PerKind};

    fn job(name: &str) -> FamilyJob {
        FamilyJob {
            instance: InstanceInfo {
                cluster_id: "c".into(),
                instance_id: "i".into(),
                engine: "aurora-mysql".into(),
                engine_version: "3".into(),
            },
            family: name.into(),
            files: vec![RemoteFile {
                name: name.into(),
                canonical: name.into(),
                last_written_ms: 0,
                size: 1,
                finished: false,
            }],
        }
    }

    #[test]
    fn jobs_of_short_delay_kinds_are_urgent() {
        let mut config = SchedulerConfig::default();
        let lane = |c: &SchedulerConfig, name: &str| c.lane_of(&job(name));
        assert_eq!(lane(&config, "error/mysql-error-running.log"), Lane::Urgent);
        assert_eq!(
            lane(&config, "error/postgresql.log.2024-01-04-09"),
            Lane::Urgent
        );
        assert_eq!(lane(&config, "slowquery/mysql-slowquery.log"), Lane::Bulk);
        assert_eq!(lane(&config, "audit/server_audit.log"), Lane::Bulk);
        assert_eq!(lane(&config, "unknown.txt"), Lane::Bulk);
        config.max_delay = MaxDelays(PerKind::from_fn(|k| match k {
            LogKind::MysqlSlow => Duration::from_secs(20),
            _ => Duration::from_secs(120),
        }));
        assert_eq!(lane(&config, "slowquery/mysql-slowquery.log"), Lane::Urgent);
        assert_eq!(lane(&config, "error/mysql-error-running.log"), Lane::Bulk);
    }
}
