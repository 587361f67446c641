//! One discovery pass, and the loop of passes; see the crate docs.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use contract::cadence::{Cadence, Quiet, TailClock, Tailing};
use contract::{
    canonical_name, is_live_name, kind_of, pending, FileKey, Job, LogKind, JOB_VERSION,
};
use futures_util::StreamExt;
use metrics::{counter, gauge};
use rds::{InstanceInfo, RdsSource, RecentCalls, SourceError};
use state::{Checkpoint, CheckpointError, CheckpointStore};
use tokio::sync::watch;

use crate::cache::{CachedListing, Lookup, RdsCache};
use crate::config::DiscoveryConfig;
use crate::leader::{JobSink, Leader};
use crate::recent::RecentJobs;
use crate::telemetry;

/// Instance errors kept in a [`PassReport`] (the rest are counted only).
const MAX_REPORTED_ERRORS: usize = 16;
/// `DescribeDBInstances` page size of [`RdsSource::list_instances`].
const INSTANCES_PAGE: usize = 100;

/// Why a pass failed as a whole. Failures of single instances do not fail a pass: they are in
/// [`PassReport::instance_errors`].
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// The leader lease could not be checked.
    #[error(
        "checking the leader lease failed: {0}; no jobs are published until it can be checked"
    )]
    Leadership(#[source] CheckpointError),
    /// RDS could not list the instances.
    #[error("listing the instances failed: {0}")]
    Rds(#[from] SourceError),
    /// The sink refused jobs.
    #[error("publishing jobs failed: {0}; they are published again next pass")]
    Publish(#[source] queue::QueueError),
    /// The pass took longer than `pass_timeout`.
    #[error("the pass took longer than {0:?}; the next one starts over (check rds throttling and the checkpoint store)")]
    Timeout(Duration),
    /// The configuration cannot work.
    #[error("discovery configuration is invalid: {0}")]
    Config(String),
}

/// Cache lookups of a pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheCounts {
    /// Values found.
    pub hits: u64,
    /// Values not there.
    pub misses: u64,
    /// Lookups Redis did not answer.
    pub errors: u64,
}

impl CacheCounts {
    fn add<T>(&mut self, l: &Lookup<T>) {
        match l {
            Lookup::Hit(_) => self.hits += 1,
            Lookup::Miss => self.misses += 1,
            Lookup::Unavailable => self.errors += 1,
        }
    }
}

/// What one pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    /// The epoch this replica led with; `None`: it did not lead, listed and published nothing.
    pub epoch: Option<u64>,
    /// Leadership was lost between listing and publishing: nothing (more) was published.
    pub deposed: bool,
    /// Instances listed.
    pub instances: usize,
    /// Instances whose files could not be listed or whose state could not be read, with why
    /// (the first [`MAX_REPORTED_ERRORS`]).
    pub instance_errors: Vec<String>,
    /// Instances that failed (all of them, reported or not).
    pub failed_instances: usize,
    /// Full file listings made.
    pub full_listings: usize,
    /// Incremental (`FileLastWritten`) file listings made.
    pub incremental_listings: usize,
    /// Files RDS returned over all listings of the pass.
    pub files_listed: usize,
    /// Files known after merging (every instance).
    pub files: usize,
    /// Files skipped because no parser knows their kind by name.
    pub files_unknown: usize,
    /// Live files with unshipped bytes left for a later listing: the budget is busy and
    /// neither their kind's `max_delay` nor a full portion says they are due.
    pub files_waiting: usize,
    /// Jobs built (files with unshipped bytes, less those waiting).
    pub jobs_built: usize,
    /// Jobs not published because the same one went out less than `republish_after` ago.
    pub jobs_suppressed: usize,
    /// Jobs the sink accepted.
    pub jobs_published: usize,
    /// Cache lookups.
    pub cache: CacheCounts,
    /// RDS describe calls the cache saved.
    pub rds_calls_saved: u64,
    /// Checkpoint reads saved: instances whose listing was the same as at their last read,
    /// which found every file shipped.
    pub state_reads_saved: u64,
    /// How long the pass took.
    pub elapsed: Duration,
}

impl PassReport {
    /// `follower`, `deposed`, `partial` (some instances failed) or `ok`.
    pub fn outcome(&self) -> &'static str {
        if self.epoch.is_none() {
            "follower"
        } else if self.deposed {
            "deposed"
        } else if self.failed_instances > 0 {
            "partial"
        } else {
            "ok"
        }
    }
}

/// What one instance contributed to a pass.
#[derive(Default)]
struct InstanceWork {
    jobs: Vec<Job>,
    full: bool,
    listed: usize,
    files: usize,
    unknown: usize,
    waiting: usize,
    cache: CacheCounts,
    saved: u64,
    state_read_saved: bool,
}

/// Why one instance contributed nothing.
#[derive(Debug, thiserror::Error)]
enum InstanceError {
    #[error("{instance}: listing log files failed: {error}")]
    Listing {
        instance: String,
        error: SourceError,
    },
    #[error("{instance}: reading its checkpoints failed: {error}")]
    State {
        instance: String,
        error: CheckpointError,
    },
}

/// The scheduler of the distributed mode; see the crate docs.
pub struct Discovery {
    config: DiscoveryConfig,
    source: Arc<RdsSource>,
    checkpoints: Arc<dyn CheckpointStore>,
    leader: Arc<dyn Leader>,
    sink: Arc<dyn JobSink>,
    cache: Option<RdsCache>,
    recent: Mutex<RecentJobs>,
    filter_key: String,
    ready: watch::Sender<bool>,
    /// When each instance is listed next, while listings are spread over several passes
    /// (bounded by the instances).
    next_list: Mutex<HashMap<String, Instant>>,
    /// When each live file was last published, for its kind's `max_delay` (bounded by the
    /// listed files).
    tail_clock: Mutex<TailClock>,
    /// Jobs of live files published lately: each costs the budget a call or more.
    live_jobs: RecentCalls,
    /// Instances whose last state read found every listed file shipped (bounded by the
    /// instances).
    settled: Mutex<HashMap<String, Settled>>,
    /// Whether each instance's listing changed lately (bounded by the instances).
    quiet: Mutex<HashMap<String, Quiet>>,
    /// The listing interval of the instances that are not idle, as of the last pass.
    busy_interval: Mutex<Duration>,
}

/// An instance found with nothing left to ship: while its listing stays the same, its files'
/// state cannot show work either (checkpoints only move on while a listed file is unshipped),
/// so its state is not read again until the listing changes or `full_listing_every` passes.
#[derive(Clone, Copy, Debug)]
struct Settled {
    /// [`listing_fingerprint`] of the listing read.
    listing: u64,
    /// Files known then.
    files: usize,
    /// When the state was read.
    read_at: Instant,
}

/// A fingerprint of an instance's listing: every file's name, `LastWritten` and size,
/// whatever their order.
fn listing_fingerprint(files: &[(String, i64, u64)]) -> u64 {
    let mut sorted: Vec<&(String, i64, u64)> = files.iter().collect();
    sorted.sort_unstable();
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for (name, written, size) in sorted {
        h.update(name.as_bytes());
        h.update(&[0xff]);
        h.update(&written.to_le_bytes());
        h.update(&size.to_le_bytes());
    }
    h.digest()
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Discovery {
    /// Discovery over `source` (its filters choose the instances; wire the shared RDS budget
    /// into it with [`RdsSource::with_budget`]), reading file state from `checkpoints`,
    /// publishing to `sink` while `leader` says so. Builds the Redis cache of `config.redis`
    /// (none if its URL is empty); call it inside a tokio runtime.
    pub fn new(
        config: DiscoveryConfig,
        source: Arc<RdsSource>,
        checkpoints: Arc<dyn CheckpointStore>,
        leader: Arc<dyn Leader>,
        sink: Arc<dyn JobSink>,
    ) -> Result<Discovery, DiscoveryError> {
        if config.poll_interval.is_zero() || config.publish_batch == 0 {
            return Err(DiscoveryError::Config(
                "poll_interval and publish_batch must be above 0".into(),
            ));
        }
        let cache = if config.redis.url.is_empty() {
            None
        } else {
            Some(
                RdsCache::new(
                    config.redis.clone(),
                    config.instances_ttl,
                    config.full_listing_every,
                )
                .map_err(|e| DiscoveryError::Config(e.to_string()))?,
            )
        };
        let rds = source.config();
        // The instance list depends on the filters: replicas configured differently must not
        // share it.
        let filters = serde_json::json!([
            rds.region,
            rds.endpoint_url,
            rds.engines,
            rds.include_clusters,
            rds.exclude_clusters,
            rds.include_tags,
            rds.exclude_tags
        ]);
        let filter_key = format!(
            "{:016x}",
            xxhash_rust::xxh3::xxh3_64(filters.to_string().as_bytes())
        );
        Ok(Discovery {
            recent: Mutex::new(RecentJobs::new(config.max_remembered_jobs)),
            config,
            source,
            checkpoints,
            leader,
            sink,
            cache,
            filter_key,
            ready: watch::channel(false).0,
            next_list: Mutex::default(),
            tail_clock: Mutex::default(),
            live_jobs: RecentCalls::default(),
            settled: Mutex::default(),
            quiet: Mutex::default(),
            busy_interval: Mutex::new(Duration::ZERO),
        })
    }

    /// Becomes true after the first pass that worked (for `/readyz` with
    /// [`net::ops::serve`]); a follower's pass counts.
    pub fn ready(&self) -> watch::Receiver<bool> {
        self.ready.subscribe()
    }

    /// The configuration.
    pub fn config(&self) -> &DiscoveryConfig {
        &self.config
    }

    /// The cache, if configured.
    pub fn cache(&self) -> Option<&RdsCache> {
        self.cache.as_ref()
    }

    /// One pass (see the crate docs), within `pass_timeout`.
    pub async fn pass(&self) -> Result<PassReport, DiscoveryError> {
        let started = Instant::now();
        let result = match tokio::time::timeout(self.config.pass_timeout, self.pass_inner()).await {
            Ok(r) => r,
            Err(_) => Err(DiscoveryError::Timeout(self.config.pass_timeout)),
        };
        let elapsed = started.elapsed();
        gauge!(telemetry::PASS_SECONDS).set(elapsed.as_secs_f64());
        match result {
            Ok(mut report) => {
                report.elapsed = elapsed;
                counter!(telemetry::PASSES, "outcome" => report.outcome()).increment(1);
                if report.failed_instances == 0 || report.failed_instances < report.instances {
                    // `send` would drop the value while no receiver exists yet.
                    self.ready.send_replace(true);
                }
                Ok(report)
            }
            Err(e) => {
                counter!(telemetry::PASSES, "outcome" => "error").increment(1);
                Err(e)
            }
        }
    }

    async fn pass_inner(&self) -> Result<PassReport, DiscoveryError> {
        let mut report = PassReport::default();
        let Some(epoch) = self.check_leader().await? else {
            return Ok(report);
        };
        report.epoch = Some(epoch);
        let instances = self.instances(&mut report).await?;
        report.instances = instances.len();
        let ids: std::collections::HashSet<&str> =
            instances.iter().map(|i| i.instance_id.as_str()).collect();
        self.tail_clock
            .lock()
            .expect("tail clock lock")
            .retain(|k| ids.contains(k.instance_id.as_str()));
        self.settled
            .lock()
            .expect("settled lock")
            .retain(|id, _| ids.contains(id.as_str()));
        self.quiet
            .lock()
            .expect("quiet lock")
            .retain(|id, _| ids.contains(id.as_str()));
        let cadence = Cadence {
            poll_interval: self.config.poll_interval,
            list_share: self.config.list_share,
            read_all_below: self.config.read_all_below,
            max_delay: self.config.max_delay.0.clone(),
            idle_interval: self.config.idle_list_interval,
        };
        let instances = self.due(instances, &cadence);
        let published_ms = now_ms();
        let calls_per_second = f64::from(self.source.config().calls_per_second.max(1));
        let in_use = self.source.budget_in_use() + self.live_jobs.rate() / calls_per_second;
        let room = in_use < self.config.read_all_below;
        // The futures are collected first: a lazy `map` over a borrowed slice makes the pass
        // future not `Send` (a higher-ranked lifetime), and `run` must be spawnable.
        let futures: Vec<_> = instances
            .iter()
            .map(|(i, interval)| {
                let tailing = Tailing {
                    cadence: &cadence,
                    room,
                    interval: *interval,
                };
                self.instance_work(i, epoch, published_ms, tailing)
            })
            .collect();
        let works: Vec<Result<InstanceWork, InstanceError>> = futures_util::stream::iter(futures)
            .buffered(self.config.instance_concurrency.max(1))
            .collect()
            .await;
        let mut jobs = Vec::new();
        for work in works {
            match work {
                Ok(w) => {
                    if w.full {
                        report.full_listings += 1;
                    } else {
                        report.incremental_listings += 1;
                    }
                    report.files_listed += w.listed;
                    report.files += w.files;
                    report.files_unknown += w.unknown;
                    report.files_waiting += w.waiting;
                    report.cache.hits += w.cache.hits;
                    report.cache.misses += w.cache.misses;
                    report.cache.errors += w.cache.errors;
                    report.rds_calls_saved += w.saved;
                    report.state_reads_saved += u64::from(w.state_read_saved);
                    jobs.extend(w.jobs);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "instance skipped this pass; retried next pass");
                    report.failed_instances += 1;
                    if report.instance_errors.len() < MAX_REPORTED_ERRORS {
                        report.instance_errors.push(e.to_string());
                    }
                }
            }
        }
        counter!(telemetry::RDS_CALLS_SAVED).increment(report.rds_calls_saved);
        counter!(telemetry::STATE_READS_SAVED).increment(report.state_reads_saved);
        report.jobs_built = jobs.len();
        if jobs.len() > self.config.max_jobs_per_pass {
            tracing::warn!(
                jobs = jobs.len(),
                max = self.config.max_jobs_per_pass,
                "more jobs than max_jobs_per_pass; the rest wait for the next pass"
            );
            self.not_published(&jobs[self.config.max_jobs_per_pass..]);
            jobs.truncate(self.config.max_jobs_per_pass);
        }
        let now = Instant::now();
        let window = self.config.republish_after;
        {
            let recent = self.recent.lock().expect("recent lock");
            jobs.retain(|j| !recent.is_recent(j, now, window));
        }
        report.jobs_suppressed = report.jobs_built.min(self.config.max_jobs_per_pass) - jobs.len();
        counter!(telemetry::JOBS_SUPPRESSED).increment(report.jobs_suppressed as u64);
        let published = self.publish(&mut jobs, epoch, &mut report).await;
        let sent = report.jobs_published.min(jobs.len());
        let live = jobs[..sent].iter().filter(|j| !j.finished).count();
        self.live_jobs
            .record_many(u32::try_from(live).unwrap_or(u32::MAX));
        self.not_published(&jobs[sent..]);
        self.recent
            .lock()
            .expect("recent lock")
            .prune(Instant::now(), window);
        published.map(|()| report)
    }

    /// The live files of `jobs` were not published after all: at the next listing they count
    /// as seen for the first time, not as published a moment ago.
    fn not_published(&self, jobs: &[Job]) {
        let mut clock = self.tail_clock.lock().expect("tail clock lock");
        for j in jobs.iter().filter(|j| !j.finished) {
            clock.not_read(&FileKey {
                instance_id: j.instance_id.clone(),
                log_file: j.lasting_name.clone(),
            });
        }
    }

    /// The instances to list this pass, each with how often it is listed: all of them every
    /// `poll_interval`, unless that would take more than `list_share` of the process's RDS
    /// rate; then each once per the longer interval that fits, spread over the passes, idle
    /// ones less often and the others more ([`Cadence::list_intervals`]).
    fn due(
        &self,
        instances: Vec<InstanceInfo>,
        cadence: &Cadence,
    ) -> Vec<(InstanceInfo, Duration)> {
        let quiet = self.quiet.lock().expect("quiet lock");
        let is_idle = |id: &str| quiet.get(id).is_some_and(Quiet::idle);
        let idle = instances.iter().filter(|i| is_idle(&i.instance_id)).count();
        let (interval, idle_interval) = cadence.list_intervals(
            instances.len() - idle,
            idle,
            f64::from(self.source.config().calls_per_second.max(1)),
        );
        *self.busy_interval.lock().expect("busy interval lock") = interval;
        let mut next = self.next_list.lock().expect("next list lock");
        if interval <= self.config.poll_interval && idle_interval <= self.config.poll_interval {
            next.clear();
            return instances.into_iter().map(|i| (i, interval)).collect();
        }
        let now = Instant::now();
        let n = instances.len().max(1) as f64;
        next.retain(|id, _| instances.iter().any(|i| &i.instance_id == id));
        let mut due = Vec::new();
        for (i, instance) in instances.into_iter().enumerate() {
            let own = if is_idle(&instance.instance_id) {
                idle_interval
            } else {
                interval
            };
            let at = *next
                .entry(instance.instance_id.clone())
                .or_insert_with(|| now + own.mul_f64(i as f64 / n));
            if at <= now {
                next.insert(instance.instance_id.clone(), now + own);
                due.push((instance, own));
            }
        }
        due
    }

    /// Count a listing of `instance` with `fingerprint`: an idle instance whose files were
    /// written again is listed at the busy instances' interval from now on.
    fn listed(&self, instance_id: &str, fingerprint: u64) {
        let mut quiet = self.quiet.lock().expect("quiet lock");
        let q = quiet
            .entry(instance_id.to_string())
            .or_insert(Quiet::new(fingerprint));
        let was_idle = q.idle();
        q.listed(fingerprint);
        if was_idle && !q.idle() {
            let interval = *self.busy_interval.lock().expect("busy interval lock");
            if let Some(at) = self
                .next_list
                .lock()
                .expect("next list lock")
                .get_mut(instance_id)
            {
                *at = Instant::now() + interval;
            }
        }
    }

    /// `Some(epoch)` while leading; sets the leader gauges.
    async fn check_leader(&self) -> Result<Option<u64>, DiscoveryError> {
        let lead = self.leader.lead().await;
        match &lead {
            Ok(Some(epoch)) => {
                gauge!(telemetry::LEADER).set(1.0);
                gauge!(telemetry::LEADER_EPOCH).set(*epoch as f64);
            }
            _ => gauge!(telemetry::LEADER).set(0.0),
        }
        lead.map_err(DiscoveryError::Leadership)
    }

    /// Publish `jobs` in batches, checking leadership before each; remember what went out.
    async fn publish(
        &self,
        jobs: &mut [Job],
        epoch: u64,
        report: &mut PassReport,
    ) -> Result<(), DiscoveryError> {
        let mut epoch = epoch;
        for batch in jobs.chunks_mut(self.config.publish_batch) {
            match self.check_leader().await {
                Ok(Some(e)) => {
                    if e != epoch {
                        // Deposed and elected again in between: the jobs carry the new epoch,
                        // or processors would drop them as a stale leader's.
                        tracing::info!(
                            old = epoch,
                            new = e,
                            "leader epoch changed during the pass"
                        );
                        epoch = e;
                        report.epoch = Some(e);
                    }
                }
                Ok(None) | Err(_) => {
                    tracing::warn!(
                        unpublished = batch.len(),
                        "leadership lost before publishing; this replica publishes nothing more"
                    );
                    report.deposed = true;
                    return Ok(());
                }
            }
            for j in batch.iter_mut() {
                j.leader_epoch = epoch;
            }
            let accepted = self
                .sink
                .publish(batch)
                .await
                .map_err(DiscoveryError::Publish)?;
            let accepted = accepted.min(batch.len());
            report.jobs_published += accepted;
            let mut by_kind: BTreeMap<LogKind, u64> = BTreeMap::new();
            for j in &batch[..accepted] {
                *by_kind.entry(j.kind).or_default() += 1;
            }
            for (kind, n) in by_kind {
                counter!(telemetry::JOBS_PUBLISHED, "kind" => kind.as_str()).increment(n);
            }
            if accepted < batch.len() {
                return Err(DiscoveryError::Publish(queue::QueueError::Undelivered {
                    failed: batch.len() - accepted,
                    total: batch.len(),
                    first_error: "the sink accepted fewer jobs than it was given".into(),
                }));
            }
            let now = Instant::now();
            let mut recent = self.recent.lock().expect("recent lock");
            for j in batch.iter() {
                recent.record(j, now);
            }
        }
        Ok(())
    }

    /// The instances, from the cache or RDS.
    async fn instances(&self, report: &mut PassReport) -> Result<Vec<InstanceInfo>, SourceError> {
        if let Some(cache) = &self.cache {
            let hit = cache.instances(&self.filter_key).await;
            report.cache.add(&hit);
            if let Lookup::Hit(instances) = hit {
                report.rds_calls_saved += instances.len().div_ceil(INSTANCES_PAGE).max(1) as u64;
                return Ok(instances);
            }
        }
        let instances = self.source.list_instances().await?;
        if let Some(cache) = &self.cache {
            cache.put_instances(&self.filter_key, &instances).await;
        }
        Ok(instances)
    }

    /// One instance's jobs: list (incrementally when the cache allows), classify, compare with
    /// the checkpoints (not read again while the instance is [`Settled`]). A live file goes
    /// only when [`Cadence::tail_now`] says (as standalone reads it); finished files always go.
    async fn instance_work(
        &self,
        instance: &InstanceInfo,
        epoch: u64,
        published_ms: i64,
        tailing: Tailing<'_>,
    ) -> Result<InstanceWork, InstanceError> {
        let mut work = InstanceWork::default();
        let listing = self
            .listing(&instance.instance_id, &mut work)
            .await
            .map_err(|error| InstanceError::Listing {
                instance: instance.instance_id.clone(),
                error,
            })?;
        let fingerprint = listing_fingerprint(&listing.files);
        self.listed(&instance.instance_id, fingerprint);
        let settled = self
            .settled
            .lock()
            .expect("settled lock")
            .get(&instance.instance_id)
            .copied()
            .filter(|s| {
                s.listing == fingerprint && s.read_at.elapsed() < self.config.full_listing_every
            });
        if let Some(s) = settled {
            work.files = s.files;
            work.state_read_saved = true;
            return Ok(work);
        }
        let read_at = Instant::now();
        let shipped: HashMap<String, Checkpoint> = self
            .checkpoints
            .instance(&instance.instance_id)
            .await
            .map_err(|error| InstanceError::State {
                instance: instance.instance_id.clone(),
                error,
            })?
            .into_iter()
            .map(|(k, cp)| (k.log_file, cp))
            .collect();
        let names = contract::lasting_names(&listing.files);
        let listed = pending(listing.files, &shipped);
        work.files = listed.files;
        {
            let mut settled = self.settled.lock().expect("settled lock");
            // Files no parser knows stay unshipped for good: they do not keep an instance busy.
            let nothing_to_ship = listed
                .families
                .iter()
                .all(|(_, files)| files.iter().all(|f| kind_of(&f.canonical).is_none()));
            if nothing_to_ship {
                let s = Settled {
                    listing: fingerprint,
                    files: listed.files,
                    read_at,
                };
                settled.insert(instance.instance_id.clone(), s);
            } else {
                settled.remove(&instance.instance_id);
            }
        }
        let now = Instant::now();
        let mut clock = self.tail_clock.lock().expect("tail clock lock");
        clock.retain(|k| k.instance_id != instance.instance_id || names.contains(&k.log_file));
        for (_family, files) in listed.families {
            // Each family's siblings come oldest first: their jobs go out in order.
            for f in files {
                let Some(kind) = kind_of(&f.canonical) else {
                    work.unknown += 1;
                    counter!(telemetry::FILES_UNKNOWN, "instance" => instance.instance_id.clone())
                        .increment(1);
                    tracing::debug!(instance = %instance.instance_id, file = %f.name, "no parser knows this file by name; skipped");
                    continue;
                };
                let due = f.finished
                    || clock.file_due(&tailing, &instance.instance_id, &f, kind, &shipped, now);
                if !due {
                    work.waiting += 1;
                    counter!(telemetry::FILES_WAITING, "kind" => kind.as_str()).increment(1);
                    continue;
                }
                work.jobs.push(Job {
                    v: JOB_VERSION,
                    cluster_id: instance.cluster_id.clone(),
                    instance_id: instance.instance_id.clone(),
                    engine: instance.engine.clone(),
                    engine_version: instance.engine_version.clone(),
                    kind,
                    file: f.name,
                    lasting_name: f.canonical,
                    last_written_ms: f.last_written_ms,
                    size: f.size,
                    finished: f.finished,
                    leader_epoch: epoch,
                    published_ms,
                });
            }
        }
        Ok(work)
    }

    /// The instance's files: the cached listing brought up to date by an incremental listing,
    /// or a full listing (no usable cache entry, the full listing is due, or a live MySQL file
    /// rotated since: its renamed predecessor may be older than the incremental window).
    async fn listing(
        &self,
        instance_id: &str,
        work: &mut InstanceWork,
    ) -> Result<CachedListing, SourceError> {
        let now = now_ms();
        let cached = match &self.cache {
            Some(cache) => {
                let l = cache.listing(instance_id).await;
                work.cache.add(&l);
                match l {
                    Lookup::Hit(c)
                        if c.newest_written_ms > 0
                            && now.saturating_sub(c.full_at_ms)
                                < millis(self.config.full_listing_every) =>
                    {
                        Some(c)
                    }
                    _ => None,
                }
            }
            None => None,
        };
        let listing = match cached {
            Some(c) => match self.incremental(instance_id, c, work).await? {
                Some(merged) => merged,
                None => self.full(instance_id, now, work).await?,
            },
            None => self.full(instance_id, now, work).await?,
        };
        if let Some(cache) = &self.cache {
            cache.put_listing(instance_id, &listing).await;
        }
        Ok(listing)
    }

    async fn full(
        &self,
        instance_id: &str,
        now: i64,
        work: &mut InstanceWork,
    ) -> Result<CachedListing, SourceError> {
        let l = self.source.list_files_since(instance_id, None).await?;
        counter!(telemetry::LISTINGS, "mode" => "full").increment(1);
        work.full = true;
        work.listed += l.files.len();
        Ok(CachedListing {
            full_at_ms: now,
            full_pages: l.pages,
            newest_written_ms: l.files.iter().map(|f| f.1).max().unwrap_or(0),
            files: l.files,
        })
    }

    /// The cached listing with the files written since its newest one; `None` when a full
    /// listing is needed after all (a live file rotated).
    async fn incremental(
        &self,
        instance_id: &str,
        cached: CachedListing,
        work: &mut InstanceWork,
    ) -> Result<Option<CachedListing>, SourceError> {
        let since = cached
            .newest_written_ms
            .saturating_sub(millis(self.config.listing_overlap));
        let l = self
            .source
            .list_files_since(instance_id, Some(since))
            .await?;
        counter!(telemetry::LISTINGS, "mode" => "incremental").increment(1);
        work.listed += l.files.len();
        let mut files: BTreeMap<String, (i64, u64)> = cached
            .files
            .into_iter()
            .map(|(n, lw, s)| (n, (lw, s)))
            .collect();
        let mut newest = cached.newest_written_ms;
        for (name, lw, size) in l.files {
            if is_live_name(&name) {
                if let Some(&(old_lw, _)) = files.get(&name) {
                    if canonical_name(&name, old_lw) != canonical_name(&name, lw) {
                        tracing::debug!(instance = instance_id, file = %name, "live file rotated since the last listing; listing in full");
                        return Ok(None);
                    }
                }
            }
            newest = newest.max(lw);
            files.insert(name, (lw, size));
        }
        work.saved += u64::from(cached.full_pages.saturating_sub(l.pages));
        Ok(Some(CachedListing {
            full_at_ms: cached.full_at_ms,
            full_pages: cached.full_pages,
            newest_written_ms: newest,
            files: files.into_iter().map(|(n, (lw, s))| (n, lw, s)).collect(),
        }))
    }

    /// Passes every `poll_interval` until `shutdown` turns true.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        loop {
            let pass = tokio::select! {
                r = self.pass() => r,
                _ = shutdown.wait_for(|s| *s) => break,
            };
            match pass {
                Ok(r) if r.epoch.is_none() => {
                    tracing::debug!("not the leader; nothing published")
                }
                Ok(r) => tracing::info!(
                    outcome = r.outcome(),
                    epoch = r.epoch,
                    instances = r.instances,
                    failed_instances = r.failed_instances,
                    files = r.files,
                    jobs_published = r.jobs_published,
                    jobs_suppressed = r.jobs_suppressed,
                    files_waiting = r.files_waiting,
                    cache_errors = r.cache.errors,
                    elapsed_ms = r.elapsed.as_millis() as u64,
                    "discovery pass"
                ),
                Err(e) => {
                    tracing::error!(error = %e, "discovery pass failed; retrying at the next interval")
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.poll_interval) => {}
                _ = shutdown.wait_for(|s| *s) => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `run` is meant to be spawned: its future must stay `Send`.
    #[allow(dead_code)]
    fn run_is_send(d: &'static Discovery, shutdown: watch::Receiver<bool>) {
        fn send<T: Send>(_: T) {}
        send(d.run(shutdown));
        send(d.pass());
    }
}
