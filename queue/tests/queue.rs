//! The Kafka job queue against a real Kafka-protocol broker (tansu, started by
//! `scripts/services.sh`): publishing, the consumer group, commits only past completed jobs,
//! fencing, skipping bad messages, and back-pressure. Each test has its own topics and group
//! and deletes its topics at the end.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use contract::{Job, LogKind, Topics, JOB_VERSION};
use queue::{
    ensure_topics, JobOutcome, JobProducer, JobRunner, KafkaAuth, KafkaConfig, Processor,
    ProcessorConfig, ProcessorTotals,
};
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use simulator::proxy::Proxy;
use simulator::services::{require, unique_name, Service};
use tokio::sync::watch;

/// A configuration of our own topics and group on the test broker, topics created with
/// `partitions` each; `None` (skipped) when there is no broker.
async fn kafka(test: &str, partitions: i32) -> Option<KafkaConfig> {
    let brokers = require(Service::Kafka, test)?;
    let name = unique_name(test);
    let config = KafkaConfig {
        brokers,
        group_id: format!("{name}-group"),
        topics: Topics::with_prefix(&format!("{name}-")),
        partitions,
        session_timeout: Duration::from_secs(10),
        ..KafkaConfig::default()
    };
    let created = ensure_topics(&config).await.expect("topics created");
    assert_eq!(created.len(), 5, "{created:?}");
    // A second call finds them all.
    assert!(ensure_topics(&config).await.expect("idempotent").is_empty());
    for topic in config.topics.all() {
        assert_eq!(
            partition_count(&config.brokers, topic),
            partitions as usize,
            "{topic}"
        );
    }
    Some(config)
}

/// The partitions of `topic` as the broker's metadata lists them.
fn partition_count(brokers: &str, topic: &str) -> usize {
    let c: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("metadata client");
    let md = c
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    md.topics()
        .iter()
        .find(|t| t.name() == topic)
        .map_or(0, |t| t.partitions().len())
}

/// Delete the test's topics (best effort: the broker keeps them in memory only).
async fn cleanup(config: &KafkaConfig) {
    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .create()
        .expect("admin client");
    let topics = config.topics.all();
    let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(5)));
    let _ =
        tokio::time::timeout(Duration::from_secs(10), admin.delete_topics(&topics, &opts)).await;
}

fn job(kind: LogKind, instance: &str, file: &str, seq: i64, epoch: u64, size: u64) -> Job {
    Job {
        v: JOB_VERSION,
        cluster_id: "shop".into(),
        instance_id: instance.into(),
        engine: "aurora-mysql".into(),
        engine_version: "8.0.mysql_aurora.3.05.2".into(),
        kind,
        file: file.into(),
        lasting_name: file.into(),
        last_written_ms: 1_795_000_000_000 + seq,
        size,
        finished: false,
        leader_epoch: epoch,
        // The test's sequence number: which publish of its file a job is.
        published_ms: seq,
    }
}

/// The identity of a job in these tests: its key and sequence number.
fn id(j: &Job) -> (String, i64) {
    (j.key(), j.published_ms)
}

/// Records every job it runs; holds (never finishes) the jobs `hold` picks; otherwise
/// finishes each after `delay`, tracking concurrency high-water marks by count and cost.
struct Recorder {
    jobs: Mutex<Vec<Job>>,
    hold: Box<dyn Fn(&Job) -> bool + Send + Sync>,
    delay: Duration,
    cost: Box<dyn Fn(&Job) -> u64 + Send + Sync>,
    running: AtomicUsize,
    running_bytes: AtomicU64,
    max_running: AtomicUsize,
    max_running_bytes: AtomicU64,
    /// Keys running now, and how often a key started while it was running.
    keys: Mutex<BTreeSet<String>>,
    overlaps: AtomicUsize,
    /// Held jobs finish once this turns true (never, unless a test sends it).
    release: watch::Sender<bool>,
}

impl Recorder {
    fn new() -> Recorder {
        Recorder {
            jobs: Mutex::new(Vec::new()),
            hold: Box::new(|_| false),
            delay: Duration::ZERO,
            cost: Box::new(|_| 0),
            running: AtomicUsize::new(0),
            running_bytes: AtomicU64::new(0),
            max_running: AtomicUsize::new(0),
            max_running_bytes: AtomicU64::new(0),
            keys: Mutex::new(BTreeSet::new()),
            overlaps: AtomicUsize::new(0),
            release: watch::channel(false).0,
        }
    }

    fn ids(&self) -> Vec<(String, i64)> {
        self.jobs.lock().unwrap().iter().map(id).collect()
    }
}

#[async_trait::async_trait]
impl JobRunner for Recorder {
    async fn run(&self, job: Job) -> JobOutcome {
        let cost = (self.cost)(&job);
        let n = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        let b = self.running_bytes.fetch_add(cost, Ordering::SeqCst) + cost;
        self.max_running.fetch_max(n, Ordering::SeqCst);
        self.max_running_bytes.fetch_max(b, Ordering::SeqCst);
        let hold = (self.hold)(&job);
        let key = job.key();
        if !self.keys.lock().unwrap().insert(key.clone()) {
            self.overlaps.fetch_add(1, Ordering::SeqCst);
        }
        self.jobs.lock().unwrap().push(job);
        if hold {
            let _ = self.release.subscribe().wait_for(|r| *r).await;
        }
        tokio::time::sleep(self.delay).await;
        self.keys.lock().unwrap().remove(&key);
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.running_bytes.fetch_sub(cost, Ordering::SeqCst);
        JobOutcome::Done
    }
}

/// A processor running on its own task, with its shutdown switch.
struct Member {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), queue::QueueError>>,
    stats: Arc<queue::ProcessorStats>,
    fence: queue::EpochFence,
}

fn fast() -> ProcessorConfig {
    ProcessorConfig {
        commit_interval: Duration::from_millis(200),
        shutdown_grace: Duration::from_secs(5),
        ..ProcessorConfig::default()
    }
}

fn member(config: &KafkaConfig, pc: ProcessorConfig, runner: Arc<Recorder>) -> Member {
    let p = Processor::new(config, &KafkaAuth::none(), pc, runner).expect("processor");
    let (stop, rx) = watch::channel(false);
    let stats = p.stats();
    let fence = p.fence();
    let task = tokio::spawn(p.run(rx));
    Member {
        stop,
        task,
        stats,
        fence,
    }
}

impl Member {
    fn totals(&self) -> ProcessorTotals {
        self.stats.snapshot()
    }

    async fn shutdown(self) {
        self.stop.send(true).unwrap();
        let r = tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("processor stops within its grace and close timeout")
            .expect("processor task");
        r.expect("processor ends without error");
    }
}

/// Wait until `cond` holds (polling), or fail with `what`.
async fn until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A new member of `config`'s group receives exactly `expected` (by id) and nothing else:
/// proves where the group's offsets were committed. A sentinel job published after the
/// others marks the end.
async fn resume_and_expect(config: &KafkaConfig, expected: BTreeSet<(String, i64)>) {
    // Epoch 1, as the jobs of every test that expects some back.
    let sentinel = job(
        LogKind::MysqlError,
        "sentinel",
        "error/sentinel.log",
        999,
        1,
        1,
    );
    JobProducer::new(config, &KafkaAuth::none())
        .unwrap()
        .publish(std::slice::from_ref(&sentinel))
        .await
        .expect("sentinel published");
    let rec = Arc::new(Recorder::new());
    let m = member(config, fast(), rec.clone());
    let want = expected.len() + 1;
    until("the resumed member's jobs", Duration::from_secs(60), || {
        m.totals().received as usize >= want
    })
    .await;
    // Nothing more arrives.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let got = rec.ids();
    let got_set: BTreeSet<_> = got.iter().cloned().collect();
    assert_eq!(got.len(), got_set.len(), "a job arrived twice: {got:?}");
    let mut expected = expected;
    expected.insert(id(&sentinel));
    assert_eq!(got_set, expected);
    assert_eq!(m.totals().received as usize, want);
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_job_arrives_exactly_once_and_in_publish_order_per_key() {
    let Some(config) = kafka("queue-order", 3).await else {
        return;
    };
    // 5 kinds × 12 files × 4 publishes of each file.
    let mut jobs = Vec::new();
    for seq in 0..4 {
        for kind in LogKind::ALL {
            for f in 0..12 {
                let file = format!("{}/file-{f}.log", kind.as_str());
                jobs.push(job(kind, &format!("db-{}", f % 3), &file, seq, 1, 100));
            }
        }
    }
    let producer = JobProducer::new(&config, &KafkaAuth::none()).unwrap();
    assert_eq!(producer.publish(&jobs).await.unwrap(), jobs.len());

    // Jobs take a moment, so that a file's next job usually arrives while it runs.
    let rec = Arc::new(Recorder {
        delay: Duration::from_millis(20),
        ..Recorder::new()
    });
    let m = member(&config, fast(), rec.clone());
    until("every job received", Duration::from_secs(60), || {
        let t = m.totals();
        t.done + t.skipped_in_flight >= jobs.len() as u64
    })
    .await;
    m.stop.send(true).unwrap();
    let t = m.totals();
    m.shutdown().await;

    let got = rec.ids();
    let got_set: BTreeSet<_> = got.iter().cloned().collect();
    assert_eq!(got.len(), got_set.len(), "a job ran twice");
    let published: BTreeSet<_> = jobs.iter().map(id).collect();
    assert!(got_set.is_subset(&published));
    // A job is either run or skipped because its file was running: never lost, never both.
    assert_eq!(t.received, jobs.len() as u64);
    assert_eq!(t.done as usize, got.len());
    assert_eq!(t.done + t.skipped_in_flight, jobs.len() as u64, "{t:?}");
    // Per key, the runs come in publish order; every file ran.
    let mut per_key: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (k, seq) in &got {
        per_key.entry(k.clone()).or_default().push(*seq);
    }
    assert_eq!(per_key.len(), 60);
    for (k, seqs) in &per_key {
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{k}: {seqs:?}");
    }
    assert_eq!(t.failed + t.malformed + t.stale_epoch, 0);
    assert_eq!(
        rec.overlaps.load(Ordering::SeqCst),
        0,
        "one file ran twice at once"
    );
    // Everything was committed: a new member gets nothing but what comes next.
    resume_and_expect(&config, BTreeSet::new()).await;
    cleanup(&config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_dropped_mid_run_leaves_exactly_its_uncommitted_jobs_to_the_next() {
    // One partition per topic: the committed position of each is known exactly.
    let Some(config) = kafka("queue-drop", 1).await else {
        return;
    };
    // Per kind: the first job the first member holds forever (None: it holds none).
    let hold_at: HashMap<LogKind, Option<i64>> = [
        (LogKind::MysqlError, Some(3)),
        (LogKind::MysqlSlow, Some(7)),
        (LogKind::MysqlGeneral, Some(0)),
        (LogKind::MysqlAudit, None),
        (LogKind::Postgresql, Some(9)),
    ]
    .into();
    let mut jobs = Vec::new();
    for kind in LogKind::ALL {
        for seq in 0..10 {
            let file = format!("{}/f{seq}.log", kind.as_str());
            jobs.push(job(kind, "db-1", &file, seq, 1, 10));
        }
    }
    JobProducer::new(&config, &KafkaAuth::none())
        .unwrap()
        .publish(&jobs)
        .await
        .unwrap();

    let rec = Arc::new(Recorder {
        hold: Box::new({
            let hold_at = hold_at.clone();
            move |j| hold_at[&j.kind] == Some(j.published_ms)
        }),
        ..Recorder::new()
    });
    let held = hold_at.values().flatten().count() as u64;
    let m = member(&config, fast(), rec.clone());
    until(
        "every job but the held ones done",
        Duration::from_secs(60),
        || m.totals().done == jobs.len() as u64 - held,
    )
    .await;
    // Periodic commits (every 200 ms) have caught up with the completions.
    until("a commit", Duration::from_secs(10), || {
        m.totals().commits >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(m.totals().running_jobs, held);
    // Gone without a shutdown: the runner still holds its jobs.
    m.task.abort();
    let _ = m.task.await;

    // Per partition (kind), everything from the first held job on comes again, also the
    // jobs done after it: the commit stops at the first job not done.
    let expected: BTreeSet<_> = jobs
        .iter()
        .filter(|j| hold_at[&j.kind].is_some_and(|h| j.published_ms >= h))
        .map(id)
        .collect();
    assert_eq!(expected.len(), 7 + 3 + 10 + 1);
    resume_and_expect(&config, expected).await;
    cleanup(&config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_split_the_partitions_and_together_see_every_job() {
    let Some(config) = kafka("queue-split", 4).await else {
        return;
    };
    let (ra, rb) = (Arc::new(Recorder::new()), Arc::new(Recorder::new()));
    let a = member(&config, fast(), ra.clone());
    let b = member(&config, fast(), rb.clone());
    until("both members assigned", Duration::from_secs(60), || {
        let (ta, tb) = (a.totals(), b.totals());
        ta.assigned_partitions > 0
            && tb.assigned_partitions > 0
            && ta.assigned_partitions + tb.assigned_partitions == 20
    })
    .await;
    let mut jobs = Vec::new();
    for kind in LogKind::ALL {
        for f in 0..30 {
            let file = format!("{}/f{f}.log", kind.as_str());
            jobs.push(job(kind, &format!("db-{f}"), &file, 0, 1, 10));
        }
    }
    JobProducer::new(&config, &KafkaAuth::none())
        .unwrap()
        .publish(&jobs)
        .await
        .unwrap();
    until("every job done", Duration::from_secs(60), || {
        a.totals().done + b.totals().done >= jobs.len() as u64
    })
    .await;
    let (ga, gb) = (ra.ids(), rb.ids());
    assert!(
        !ga.is_empty() && !gb.is_empty(),
        "{} / {}",
        ga.len(),
        gb.len()
    );
    let all: BTreeSet<_> = ga.iter().chain(&gb).cloned().collect();
    assert_eq!(all.len(), ga.len() + gb.len(), "a job ran in both members");
    assert_eq!(all, jobs.iter().map(id).collect());
    a.shutdown().await;
    b.shutdown().await;
    cleanup(&config).await;
}

/// librdkafka keeps a partition's pause over a revocation: a member paused (at its budget) when
/// a rebalance takes its partitions, whose job ends before they come back, must not get them
/// back paused, or their jobs wait forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_paused_when_revoked_are_consumed_again_once_reassigned() {
    let Some(config) = kafka("queue-pause-rebalance", 2).await else {
        return;
    };
    let ra = Arc::new(Recorder {
        hold: Box::new(|j: &Job| j.instance_id == "blocker"),
        ..Recorder::new()
    });
    let pc = ProcessorConfig {
        max_jobs: 1,
        ..fast()
    };
    let a = member(&config, pc, ra.clone());
    until("the first member assigned", Duration::from_secs(60), || {
        a.totals().assigned_partitions == 10
    })
    .await;
    let producer = JobProducer::new(&config, &KafkaAuth::none()).unwrap();
    let blocker = job(LogKind::MysqlError, "blocker", "error/blocker.log", 0, 1, 1);
    producer
        .publish(std::slice::from_ref(&blocker))
        .await
        .unwrap();
    until(
        "the blocker running, the member paused",
        Duration::from_secs(30),
        || a.totals().running_jobs == 1 && a.totals().pauses >= 1,
    )
    .await;

    // A second member: the group rebalances, taking every partition from the paused member.
    let rb = Arc::new(Recorder::new());
    let b = member(&config, fast(), rb.clone());
    until(
        "the first member's partitions revoked",
        Duration::from_secs(60),
        || a.totals().assigned_partitions == 0,
    )
    .await;
    // Its job ends while it holds no partition: nothing to resume yet.
    ra.release.send_replace(true);
    until("both members assigned", Duration::from_secs(60), || {
        let (ta, tb) = (a.totals(), b.totals());
        ta.assigned_partitions > 0 && ta.assigned_partitions + tb.assigned_partitions == 10
    })
    .await;

    let mut jobs = Vec::new();
    for f in 0..40 {
        let kind = LogKind::ALL[f % 5];
        let file = format!("{}/f{f}.log", kind.as_str());
        jobs.push(job(kind, &format!("db-{f}"), &file, 0, 1, 10));
    }
    producer.publish(&jobs).await.unwrap();
    // (The blocker may run again: its offset was never committed.)
    let want: BTreeSet<_> = jobs.iter().map(id).collect();
    until(
        "every job run, in both members' partitions",
        Duration::from_secs(60),
        || {
            let ran: BTreeSet<_> = ra.ids().into_iter().chain(rb.ids()).collect();
            ran.is_superset(&want)
        },
    )
    .await;
    assert!(
        ra.ids().iter().any(|i| want.contains(i)),
        "the first member ran jobs of its new partitions"
    );
    a.shutdown().await;
    b.shutdown().await;
    cleanup(&config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_newer_and_stale_jobs_are_skipped_counted_and_committed_past() {
    let Some(config) = kafka("queue-bad", 1).await else {
        return;
    };
    let raw: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &config.brokers)
        .create()
        .unwrap();
    let topic = config.topics.topic(LogKind::MysqlError).to_string();
    let good = |seq, epoch| {
        job(
            LogKind::MysqlError,
            "db-1",
            &format!("error/f{seq}.log"),
            seq,
            epoch,
            10,
        )
    };
    let mut newer: serde_json::Value = serde_json::from_slice(&good(0, 5).encode()).unwrap();
    newer["v"] = (JOB_VERSION + 1).into();
    let full = good(0, 5).encode();
    let payloads: Vec<Option<Vec<u8>>> = vec![
        Some(b"\xff\xfe not json".to_vec()),
        Some(full[..full.len() / 2].to_vec()),
        None, // a tombstone
        Some(newer.to_string().into_bytes()),
        Some(good(1, 5).encode()),
        Some(good(2, 3).encode()), // an older leader than the one of job 1
        Some(good(3, 5).encode()),
    ];
    for p in &payloads {
        let mut r = FutureRecord::<str, [u8]>::to(&topic).key("k");
        if let Some(p) = p {
            r = r.payload(p);
        }
        raw.send(r, Duration::from_secs(5))
            .await
            .expect("raw produce");
    }

    let rec = Arc::new(Recorder::new());
    let m = member(&config, fast(), rec.clone());
    until("every message handled", Duration::from_secs(60), || {
        let t = m.totals();
        t.done + t.malformed + t.newer_version + t.stale_epoch >= 7
    })
    .await;
    let t = m.totals();
    assert_eq!(
        (t.malformed, t.newer_version, t.stale_epoch, t.done),
        (3, 1, 1, 2),
        "{t:?}"
    );
    let ran: BTreeSet<_> = rec.ids().into_iter().collect();
    assert_eq!(ran, BTreeSet::from([id(&good(1, 5)), id(&good(3, 5))]));

    // An epoch read elsewhere (DynamoDB's leader item) fences older jobs too.
    m.fence.observe(10);
    JobProducer::new(&config, &KafkaAuth::none())
        .unwrap()
        .publish(&[good(4, 9), good(5, 10)])
        .await
        .unwrap();
    until("fenced jobs handled", Duration::from_secs(30), || {
        let t = m.totals();
        t.done + t.stale_epoch >= 5
    })
    .await;
    let t = m.totals();
    assert_eq!((t.stale_epoch, t.done), (2, 3), "{t:?}");
    assert_eq!(rec.ids().last(), Some(&id(&good(5, 10))));
    m.shutdown().await;
    // Everything, bad messages included, was committed past.
    resume_and_expect(&config, BTreeSet::new()).await;
    cleanup(&config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_pressure_keeps_running_jobs_within_the_budget_and_all_complete() {
    let Some(config) = kafka("queue-budget", 2).await else {
        return;
    };
    let pc = ProcessorConfig {
        max_jobs: 3,
        max_in_flight_bytes: 1000,
        job_cost_cap: 600,
        ..fast()
    };
    let sizes = [100u64, 250, 400, 600, 5000, 0, 300];
    let mut jobs = Vec::new();
    for i in 0..42 {
        let kind = LogKind::ALL[i % 5];
        let file = format!("{}/f{i}.log", kind.as_str());
        jobs.push(job(
            kind,
            "db-1",
            &file,
            i as i64,
            1,
            sizes[i % sizes.len()],
        ));
    }
    JobProducer::new(&config, &KafkaAuth::none())
        .unwrap()
        .publish(&jobs)
        .await
        .unwrap();
    let rec = Arc::new(Recorder {
        delay: Duration::from_millis(60),
        cost: Box::new({
            let pc = pc.clone();
            move |j| pc.job_cost(j.size)
        }),
        ..Recorder::new()
    });
    let m = member(&config, pc, rec.clone());
    until("every job done", Duration::from_secs(90), || {
        m.totals().done >= jobs.len() as u64
    })
    .await;
    let t = m.totals();
    m.shutdown().await;
    let max_jobs = rec.max_running.load(Ordering::SeqCst);
    let max_bytes = rec.max_running_bytes.load(Ordering::SeqCst);
    assert!(max_jobs <= 3, "{max_jobs} jobs ran at once");
    assert!(max_bytes <= 1000, "{max_bytes} budget bytes ran at once");
    // The limits were reached, not merely never tested.
    assert!(max_jobs >= 2 && max_bytes > 600, "{max_jobs} / {max_bytes}");
    assert!(t.pauses >= 1, "{t:?}");
    assert_eq!(t.done, jobs.len() as u64);
    let got: BTreeSet<_> = rec.ids().into_iter().collect();
    assert_eq!(got, jobs.iter().map(id).collect());
    cleanup(&config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urgent_jobs_run_while_bulk_jobs_hold_every_slot_they_may_take() {
    let Some(config) = kafka("queue-urgent", 2).await else {
        return;
    };
    // Four slots: bulk jobs (slow, general, audit) may hold three; one is kept for the
    // error log and PostgreSQL (the default `urgent_kinds`).
    let pc = ProcessorConfig {
        max_jobs: 4,
        ..fast()
    };
    let rec = Arc::new(Recorder {
        hold: Box::new(|j| j.kind == LogKind::MysqlSlow),
        ..Recorder::new()
    });
    let producer = JobProducer::new(&config, &KafkaAuth::none()).unwrap();
    let bulk: Vec<Job> = (0..6)
        .map(|i| {
            job(
                LogKind::MysqlSlow,
                "db-1",
                &format!("slowquery/s{i}.log"),
                i,
                1,
                1000,
            )
        })
        .collect();
    producer.publish(&bulk).await.unwrap();
    let m = member(&config, pc, rec.clone());
    let running = || rec.running.load(Ordering::SeqCst);
    until("three bulk jobs running", Duration::from_secs(60), || {
        running() >= 3
    })
    .await;
    // Time for the loop to start a fourth, if it would.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(running(), 3, "bulk jobs took a slot kept for urgent ones");
    let urgent: Vec<Job> = [
        LogKind::MysqlError,
        LogKind::Postgresql,
        LogKind::MysqlError,
    ]
    .into_iter()
    .enumerate()
    .map(|(i, k)| {
        let file = format!("{}/u{i}.log", k.as_str());
        job(k, "db-2", &file, 10 + i as i64, 1, 1000)
    })
    .collect();
    producer.publish(&urgent).await.unwrap();
    until(
        "the urgent jobs, while the bulk jobs hold their slots",
        Duration::from_secs(60),
        || m.totals().done >= urgent.len() as u64,
    )
    .await;
    assert_eq!(running(), 3, "no bulk job started meanwhile");
    let started: BTreeSet<_> = rec.ids().into_iter().collect();
    assert!(
        urgent.iter().all(|j| started.contains(&id(j))),
        "{started:?}"
    );
    rec.release.send(true).unwrap();
    let all = (bulk.len() + urgent.len()) as u64;
    until("every job done", Duration::from_secs(60), || {
        m.totals().done >= all
    })
    .await;
    let t = m.totals();
    m.shutdown().await;
    assert_eq!(t.done, all, "{t:?}");
    assert!(t.pauses >= 1, "the bulk topics paused: {t:?}");
    assert!(rec.max_running.load(Ordering::SeqCst) <= 4);
    let got = rec.ids();
    let want: BTreeSet<_> = bulk.iter().chain(&urgent).map(id).collect();
    assert_eq!(got.len(), want.len(), "a job ran twice: {got:?}");
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), want);
    cleanup(&config).await;
}

/// A tansu broker of the test's own (memory storage) behind a [`Proxy`] (plain, or ending TLS
/// with a private CA for `localhost`), which is the address tansu advertises: the proxy is
/// how a test takes the broker away and back ([`Proxy::interrupt`], [`Proxy::resume`]) with
/// its topics, offsets and producer ids kept, as a restarted Kafka or MSK broker keeps them.
/// (Killing the memory broker would lose its topics, which no production broker does, and
/// librdkafka 2.5 and later crash on tansu's answer to a fetch for a lost topic: see the
/// queue crate's documentation.) The broker is killed on drop, and by a watchdog shell when
/// the test process dies without dropping it.
struct PrivateBroker {
    /// The watchdog shell and the broker's pid.
    child: Option<(std::process::Child, u32)>,
    proxy: Proxy,
    /// The TLS proxy's CA, for the clients.
    pki: Option<simulator::tls::TestPki>,
    /// What clients bootstrap from (the proxy).
    brokers: String,
}

impl PrivateBroker {
    /// `None` (skipped) without `AURORA_TEST_TANSU_BIN` (printed by `scripts/services.sh`);
    /// under `CI=true` that fails instead.
    async fn start(test: &str, tls: bool) -> Option<PrivateBroker> {
        use std::io::BufRead;
        let Ok(bin) = std::env::var("AURORA_TEST_TANSU_BIN") else {
            let msg =
                format!("{test}: AURORA_TEST_TANSU_BIN is not set (scripts/services.sh sets it)");
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{msg}; CI=true needs it");
            }
            eprintln!("SKIPPED {msg}");
            return None;
        };
        let inner = simulator::services::free_port();
        let upstream = ([127, 0, 0, 1], inner).into();
        let (proxy, pki, host) = if tls {
            let pki = simulator::tls::TestPki::generate("kafka").expect("openssl makes the CA");
            (
                Proxy::tls(&pki, upstream).await.unwrap(),
                Some(pki),
                "localhost",
            )
        } else {
            (Proxy::plain(upstream).await.unwrap(), None, "127.0.0.1")
        };
        let brokers = format!("{host}:{}", proxy.addr.port());
        // The shell prints the broker's pid, then waits while both the test and the broker
        // live, and kills the broker when the test is gone.
        let script = r#"bin=$1; listen=$2; advertised=$3; test_pid=$4
"$bin" broker --listener-url "$listen" --advertised-listener-url "$advertised" \
  --storage-engine memory://tansu/ >/dev/null 2>&1 &
broker=$!
echo "$broker"
while kill -0 "$test_pid" 2>/dev/null && kill -0 "$broker" 2>/dev/null; do sleep 1; done
kill "$broker" 2>/dev/null
wait "$broker""#;
        let mut child = std::process::Command::new("sh")
            .args(["-c", script, "sh", &bin])
            .arg(format!("tcp://127.0.0.1:{inner}"))
            .arg(format!("tcp://{brokers}"))
            .arg(std::process::id().to_string())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("tansu starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the broker's pid");
        let pid: u32 = line.trim().parse().expect("a pid");
        simulator::services::wait_port(inner, "tansu");
        Some(PrivateBroker {
            child: Some((child, pid)),
            proxy,
            pki,
            brokers,
        })
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        if let Some((mut watchdog, pid)) = self.child.take() {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
            // The watchdog sees the broker gone, reaps it and exits.
            let _ = watchdog.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_fails_publishes_while_down_and_the_processor_resumes_after() {
    let test = "queue-outage";
    let Some(mut broker) = PrivateBroker::start(test, false).await else {
        return;
    };
    let name = unique_name(test);
    let config = KafkaConfig {
        brokers: broker.brokers.clone(),
        group_id: format!("{name}-group"),
        topics: Topics::with_prefix(&format!("{name}-")),
        partitions: 2,
        session_timeout: Duration::from_secs(10),
        delivery_timeout: Duration::from_secs(3),
        ..KafkaConfig::default()
    };
    assert_eq!(ensure_topics(&config).await.unwrap().len(), 5);
    let batch = |round: i64| -> Vec<Job> {
        (0..10)
            .map(|i| {
                let kind = LogKind::ALL[i % 5];
                let file = format!("{}/r{round}-f{i}.log", kind.as_str());
                job(kind, "db-1", &file, round, 1, 10)
            })
            .collect()
    };
    let producer = JobProducer::new(&config, &KafkaAuth::none()).unwrap();
    producer.publish(&batch(1)).await.unwrap();
    let rec = Arc::new(Recorder::new());
    let m = member(&config, fast(), rec.clone());
    until("the first batch", Duration::from_secs(60), || {
        m.totals().done >= 10
    })
    .await;

    // The broker goes away: its port and every connection closed.
    broker.proxy.interrupt().await;
    let started = Instant::now();
    match producer.publish(&batch(2)).await {
        Err(queue::QueueError::Undelivered { failed, total, .. }) => {
            assert_eq!((failed, total), (10, 10));
        }
        other => panic!("publishing to a stopped broker: {other:?}"),
    }
    // Within the delivery timeout (3 s) and its backstop (5 s).
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    broker.proxy.resume().await.unwrap();
    // Its topics are still there.
    assert!(ensure_topics(&config).await.unwrap().is_empty());
    // As discovery does: publish again at the next pass until it goes through. The failed
    // publish above replaced the producer, so this goes through at once or after a reconnect.
    let mut attempts = 0;
    while let Err(e) = producer.publish(&batch(2)).await {
        attempts += 1;
        assert!(attempts < 3, "publishing did not recover: {e}");
    }
    until(
        "the second batch after the outage",
        Duration::from_secs(90),
        || {
            let got: BTreeSet<_> = rec.ids().into_iter().collect();
            batch(2).iter().all(|j| got.contains(&id(j)))
        },
    )
    .await;
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_lets_jobs_finish_within_the_grace_and_leaves_the_rest_uncommitted() {
    let Some(config) = kafka("queue-grace", 1).await else {
        return;
    };
    let quick = job(LogKind::MysqlError, "db-1", "error/quick.log", 0, 1, 10);
    let stuck = job(LogKind::MysqlSlow, "db-1", "slowquery/stuck.log", 0, 1, 10);
    JobProducer::new(&config, &KafkaAuth::none())
        .unwrap()
        .publish(&[quick.clone(), stuck.clone()])
        .await
        .unwrap();
    let rec = Arc::new(Recorder {
        // Longer than a commit interval: only the commit at shutdown can cover it.
        delay: Duration::from_millis(800),
        hold: Box::new(|j| j.kind == LogKind::MysqlSlow),
        ..Recorder::new()
    });
    let grace = Duration::from_secs(3);
    let pc = ProcessorConfig {
        shutdown_grace: grace,
        ..fast()
    };
    let m = member(&config, pc, rec.clone());
    until("both jobs running", Duration::from_secs(60), || {
        m.totals().running_jobs == 2
    })
    .await;
    let stopping = Instant::now();
    let stats = m.stats.clone();
    m.shutdown().await;
    let took = stopping.elapsed();
    // It waited the grace for the stuck job (the quick one finished within it), then left.
    assert!(took >= grace, "{took:?}");
    assert!(took < grace + Duration::from_secs(15), "{took:?}");
    let t = stats.snapshot();
    assert_eq!((t.done, t.received), (1, 2), "{t:?}");
    // The quick job's offset was committed; the stuck one comes again.
    resume_and_expect(&config, BTreeSet::from([id(&stuck)])).await;
    cleanup(&config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_travel_over_tls_with_the_brokers_ca_and_not_without() {
    let Some(broker) = PrivateBroker::start("queue-tls", true).await else {
        return;
    };
    let name = unique_name("queue-tls");
    let config = KafkaConfig {
        brokers: broker.brokers.clone(),
        group_id: format!("{name}-group"),
        topics: Topics::with_prefix(&format!("{name}-")),
        partitions: 2,
        session_timeout: Duration::from_secs(10),
        ca_file: broker.pki.as_ref().map(|p| p.ca_file()),
        ..KafkaConfig::default()
    };
    assert_eq!(
        ensure_topics(&config).await.expect("topics over TLS").len(),
        5
    );
    let jobs: Vec<Job> = (0..20)
        .map(|f| {
            job(
                LogKind::MysqlSlow,
                "db-1",
                &format!("slowquery/f{f}.log"),
                1,
                1,
                10,
            )
        })
        .collect();
    let producer = JobProducer::new(&config, &KafkaAuth::none()).unwrap();
    assert_eq!(producer.publish(&jobs).await.unwrap(), jobs.len());
    let rec = Arc::new(Recorder::new());
    let m = member(&config, fast(), rec.clone());
    until("every job over TLS", Duration::from_secs(60), || {
        m.totals().done >= jobs.len() as u64
    })
    .await;
    m.shutdown().await;
    let got: BTreeSet<_> = rec.ids().into_iter().collect();
    assert_eq!(got, jobs.iter().map(id).collect::<BTreeSet<_>>());

    // Another CA: the broker is not trusted, nothing is delivered.
    let other = simulator::tls::TestPki::generate("another").unwrap();
    let wrong = KafkaConfig {
        ca_file: Some(other.ca_file()),
        delivery_timeout: Duration::from_secs(3),
        ..config.clone()
    };
    let e = JobProducer::new(&wrong, &KafkaAuth::none())
        .unwrap()
        .publish(&jobs[..1])
        .await
        .unwrap_err();
    assert!(matches!(e, queue::QueueError::Undelivered { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msk_iam_hands_librdkafka_a_token_through_the_refresh_callback() {
    let Some(broker) = PrivateBroker::start("queue-msk-iam", true).await else {
        return;
    };
    let config = KafkaConfig {
        brokers: broker.brokers.clone(),
        ca_file: broker.pki.as_ref().map(|p| p.ca_file()),
        msk_iam: true,
        delivery_timeout: Duration::from_secs(2),
        ..KafkaConfig::default()
    };
    let creds = aws_credential_types::Credentials::new("AKID", "secret", None, None, "test");
    let auth = KafkaAuth::msk_iam_with("eu-west-1".into(), creds, None);
    assert!(auth.is_msk_iam());
    // librdkafka accepts the properties (SASL_SSL, OAUTHBEARER) and asks for a token as soon
    // as the client starts; the producer's and the consumer's contexts both answer.
    let producer = JobProducer::new(&config, &auth).expect("librdkafka takes the SASL settings");
    until(
        "the producer's token refresh",
        Duration::from_secs(20),
        || auth.tokens_issued() >= 1,
    )
    .await;
    let before = auth.tokens_issued();
    let rec = Arc::new(Recorder::new());
    let p = Processor::new(&config, &auth, fast(), rec).expect("consumer takes them too");
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(async move { p.run(rx).await });
    until(
        "the consumer's token refresh",
        Duration::from_secs(20),
        || auth.tokens_issued() > before,
    )
    .await;
    stop.send(true).unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
    drop(producer);
    // tansu speaks no SASL, so nothing more is asserted here: the token's bytes are proven
    // against AWS's signer in net/tests/iam_tokens.rs.
    let e = ensure_topics(&config).await.unwrap_err().to_string();
    assert!(e.contains("msk_iam") && e.contains("create"), "{e}");
}
