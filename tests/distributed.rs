//! The distributed deployment as separate OS processes: `aurora-logs discovery` (two replicas)
//! and three `aurora-logs processor`s, over a real Kafka-protocol broker (a private tansu behind
//! a proxy, so that the test can take it away), DynamoDB Local (a table of the test's own) and a private
//! redis-server (so that the test can stop it), against the RDS simulator and the OpenObserve
//! stand-in (in this test process).
//!
//! One run goes through the faults in turn, each asserted, while the simulated clusters keep
//! writing and rotating: RDS throttling across processes, two discovery replicas (one leads),
//! DynamoDB conditional-write conflicts (a lease held by an intruder), a processor SIGKILLed
//! mid-batch (its files are taken over after its leases expire), the broker away and back, Redis
//! stopped and started. In the end every entry arrived (by record_id), and duplicates are bounded
//! by what the kill can have left in flight.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dataplane::record::files_record_ids;
use discovery::telemetry::JOBS_PUBLISHED;
use queue::telemetry::QUEUE_RUNNING_JOBS;
use rds::budget::BUDGET_PERMITS;
use simulator::instance::Engine;
use simulator::openobserve::{OpenObserveConfig, OpenObserveStandIn};
use simulator::rds::{ClusterConfig, Fault, RdsSimulator, SimConfig, ThrottleConfig};
use simulator::services::{free_port, wait_port};
use simulator::services::{require, unique_name, Service};
use state::telemetry::LEASE_ACQUISITIONS;
use state::{
    delete_table, ensure_table, Acquired, CheckpointStore, DynamoCheckpoints, DynamoConfig, FileKey,
};

/// Processor tuning the duplicate bound depends on.
const MAX_JOBS: usize = 3;
const SEND_CONCURRENCY: usize = 2;
const BATCH_RECORDS: usize = 200;
const LEASE_TTL_S: u64 = 3;
/// Partitions of each job topic.
const PARTITIONS: i32 = 6;

/// A child process killed when dropped (a failing test leaves nothing behind).
struct Proc {
    name: String,
    child: Option<Child>,
}

impl Proc {
    fn spawn(name: &str, cmd: &mut Command, log: &Path) -> Proc {
        let out = std::fs::File::create(log).unwrap();
        let child = cmd
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Proc {
            name: name.into(),
            child: Some(child),
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `None` while it runs; how it ended otherwise.
    fn exited(&mut self) -> Option<String> {
        match self.child.as_mut() {
            Some(c) => c.try_wait().unwrap().map(|s| format!("{s:?}")),
            None => Some("killed by the test".into()),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The body of `GET /metrics` of a process (HTTP head included; empty if it does not answer).
fn metrics_text(port: u16) -> String {
    let mut body = String::new();
    if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n");
        let _ = s.read_to_string(&mut body);
    }
    body
}

/// `GET /metrics` of a process, summed per metric name over its label sets.
fn scrape(port: u16) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let body = metrics_text(port);
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let name = name.split('{').next().unwrap_or(name);
        if let Ok(v) = value.parse::<f64>() {
            *out.entry(name.to_string()).or_default() += v;
        }
    }
    out
}

/// A metric of one process, with the labels that must be present (`k="v"` substrings).
fn scrape_labelled(port: u16, name: &str, label: &str) -> f64 {
    metrics_text(port)
        .lines()
        .filter(|l| l.starts_with(name) && l.contains(label))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

struct World {
    dir: tempfile::TempDir,
    rds: RdsSimulator,
    oo: OpenObserveStandIn,
    tansu_bin: String,
    /// Where tansu listens, behind `kafka_proxy`.
    tansu_port: u16,
    /// What the processes know as the broker (tansu advertises it): plain, or ending TLS in
    /// the encrypted run. Interrupting it takes the broker away with its state kept, as a
    /// broker restart does on Kafka or MSK.
    kafka_proxy: simulator::proxy::Proxy,
    redis_bin: String,
    redis_port: u16,
    dynamodb: String,
    table: String,
    topic_prefix: String,
    /// The encrypted run: Kafka behind TLS, Redis with TLS and an ACL user, OpenObserve over
    /// HTTPS, all with one private CA.
    tls: Option<Tls>,
    /// The aurora-logs processes started, by name, with their ops port.
    ops: std::sync::Mutex<Vec<(String, u16)>>,
}

/// What the encrypted run adds.
struct Tls {
    pki: simulator::tls::TestPki,
    oo_proxy: simulator::proxy::Proxy,
}

/// The ACL user of the encrypted run's Redis (the default user is off there).
const REDIS_USER: &str = "aurora-logs";
const REDIS_PASSWORD: &str = "e2e-s3cret";

impl Drop for World {
    fn drop(&mut self) {
        // AURORA_TEST_KEEP_LOGS keeps them after a passing run too (to compare with a failure).
        if std::thread::panicking() || std::env::var_os("AURORA_TEST_KEEP_LOGS").is_some() {
            let kept = std::env::temp_dir().join(format!(
                "aurora-logs-distributed-{}-{}",
                std::process::id(),
                self.topic_prefix.trim_end_matches('-')
            ));
            let _ = std::fs::rename(self.dir.path(), &kept);
            eprintln!("process logs kept in {}", kept.display());
        }
    }
}

impl World {
    /// The brokers the processes are given: the proxy in front of tansu, by the name the
    /// TLS certificate has in the encrypted run.
    fn brokers(&self) -> String {
        let host = if self.tls.is_some() {
            "localhost"
        } else {
            "127.0.0.1"
        };
        format!("{host}:{}", self.kafka_proxy.addr.port())
    }

    /// The TLS part of the configuration (empty for the plaintext run).
    fn tls_toml(&self) -> (String, String, String, String) {
        let Some(t) = &self.tls else {
            return (
                self.oo.url(),
                String::new(),
                format!("redis://127.0.0.1:{}", self.redis_port),
                String::new(),
            );
        };
        let ca = t.pki.ca_file().display().to_string();
        (
            format!("https://localhost:{}", t.oo_proxy.addr.port()),
            format!("ca_file = \"{ca}\"\n"),
            format!("rediss://localhost:{}", self.redis_port),
            format!("ca_file = \"{ca}\"\nusername = \"{REDIS_USER}\"\npassword = \"{REDIS_PASSWORD}\"\n"),
        )
    }

    fn config(&self, name: &str, listen: u16) -> PathBuf {
        let (ak, sk) = self.rds.credentials();
        let c = self.oo.config();
        let (oo_url, oo_tls, redis_url, redis_tls) = self.tls_toml();
        let text = format!(
            r#"
state_dir = "{state}"
listen = "127.0.0.1:{listen}"
log_format = "text"
log_level = "warn,dataplane=info,discovery=info,queue=info"
[rds]
region = "{region}"
endpoint_url = "{endpoint}"
access_key_id = "{ak}"
secret_access_key = "{sk}"
calls_per_second = 50
burst = 20
[openobserve]
url = "{oo_url}"
{oo_tls}user = "{user}"
password = "{password}"
retry_initial = "10ms"
retry_max_delay = "200ms"
[pipeline]
send_concurrency = {SEND_CONCURRENCY}
[pipeline.batch]
max_records = {BATCH_RECORDS}
[kafka]
brokers = "{brokers}"
{kafka_tls}group_id = "{prefix}group"
partitions = {partitions}
delivery_timeout = "5s"
{topics}{dynamodb_table}lease_ttl = "{LEASE_TTL_S}s"
call_timeout = "900ms"
[redis]
url = "{redis_url}"
{redis_tls}key_prefix = "{prefix}"
[rds_budget]
calls_per_second = 15.0
burst = 10
fallback_fraction = 0.3
[discovery]
poll_interval = "1s"
republish_after = "2s"
full_listing_every = "5s"
[processor]
max_jobs = {MAX_JOBS}
shutdown_grace = "3s"
commit_interval = "300ms"
"#,
            state = self.dir.path().join(name).display(),
            region = self.rds.region(),
            endpoint = self.rds.endpoint_url(),
            user = c.user,
            password = c.password,
            brokers = self.brokers(),
            kafka_tls = match &self.tls {
                Some(t) => format!("ca_file = \"{}\"\n", t.pki.ca_file().display()),
                None => String::new(),
            },
            prefix = self.topic_prefix,
            partitions = PARTITIONS,
            topics = simulator::kit::topics_toml(&self.topic_prefix),
            dynamodb_table = simulator::kit::dynamodb_local_toml(&self.table, &self.dynamodb),
        );
        let path = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    }

    fn log(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    fn start_tansu(&self) -> Proc {
        // tansu listens in plain TCP behind the proxy and advertises the proxy.
        let listener = format!("tcp://127.0.0.1:{}", self.tansu_port);
        let advertised = format!("tcp://{}", self.brokers());
        let p = Proc::spawn(
            "tansu",
            Command::new(&self.tansu_bin)
                // Its group coordinator's decisions (members expired, leaders, generations).
                .env("RUST_LOG", "warn,tansu_broker::coordinator=info")
                .args([
                    "broker",
                    "--listener-url",
                    &listener,
                    "--advertised-listener-url",
                    &advertised,
                    "--storage-engine",
                    "memory://tansu/",
                ]),
            &self.log("tansu"),
        );
        wait_port(self.tansu_port, "tansu");
        p
    }

    fn start_redis(&self) -> Proc {
        let mut cmd = Command::new(&self.redis_bin);
        cmd.args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
        match &self.tls {
            None => {
                cmd.args(["--port", &self.redis_port.to_string()]);
            }
            Some(t) => {
                cmd.args(["--port", "0", "--tls-port", &self.redis_port.to_string()])
                    .arg("--tls-cert-file")
                    .arg(t.pki.cert_file())
                    .arg("--tls-key-file")
                    .arg(t.pki.key_file())
                    .arg("--tls-ca-cert-file")
                    .arg(t.pki.ca_file())
                    .args(["--tls-auth-clients", "no", "--user", "default", "off"])
                    .args(["--user", REDIS_USER, "on", &format!(">{REDIS_PASSWORD}")])
                    .args(["~*", "&*", "+@all"]);
            }
        }
        let p = Proc::spawn("redis", &mut cmd, &self.log("redis"));
        wait_port(self.redis_port, "redis");
        p
    }

    fn start(&self, mode: &str, name: &str, listen: u16) -> Proc {
        self.ops.lock().unwrap().push((name.to_string(), listen));
        let config = self.config(name, listen);
        let p = Proc::spawn(
            name,
            Command::new(env!("CARGO_BIN_EXE_aurora-logs"))
                .args([mode, "--config"])
                .arg(&config),
            &self.log(name),
        );
        p
    }

    fn expected(&self) -> BTreeSet<String> {
        let files = self.rds.all_files();
        files_record_ids(
            files
                .iter()
                .map(|(i, f)| (i.as_str(), f.name.as_str(), f.last_written_ms, &f.data[..])),
        )
    }

    fn received(&self) -> BTreeMap<String, usize> {
        self.oo.count_by_field("record_id")
    }

    /// Wait until every expected record arrived; the missing ones otherwise.
    async fn drained(&self, within: Duration) -> Vec<String> {
        let want = self.expected();
        let deadline = Instant::now() + within;
        loop {
            let got = self.received();
            let missing: Vec<String> = want
                .iter()
                .filter(|id| !got.contains_key(*id))
                .cloned()
                .collect();
            if missing.is_empty() || Instant::now() > deadline {
                return missing;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Where a mismatch lies, for the failure message: per file, how many of its expected ids
    /// are missing; per shipped file, how many ids it had that no file has, with their offsets
    /// and flags.
    fn mismatch_report(&self, missing: &[String], unexpected: &BTreeSet<String>) -> String {
        let mut out = String::new();
        for (i, f, gone, total) in self.files_missing(missing) {
            out.push_str(&format!(
                "missing: {i}/{} ({} bytes): {gone} of {total} entries\n",
                f.name,
                f.data.len(),
            ));
        }
        let mut shown = 0;
        for stream in self.oo.streams() {
            for r in self.oo.records(&stream) {
                let id = r.get("record_id").and_then(|v| v.as_str()).unwrap_or("");
                if !unexpected.contains(id) || shown >= 20 {
                    continue;
                }
                shown += 1;
                let field = |k: &str| r.get(k).map(ToString::to_string).unwrap_or_default();
                out.push_str(&format!(
                    "unexpected: {stream} {} {} offset {} {} {:.120}\n",
                    field("instance_id"),
                    field("log_file"),
                    field("log_offset"),
                    field("parse_error"),
                    field("message")
                ));
            }
        }
        out
    }

    /// The simulator's files with entries in `missing`: instance, file, how many are missing
    /// and how many it has.
    fn files_missing(
        &self,
        missing: &[String],
    ) -> Vec<(String, simulator::rds::FileSnapshot, usize, usize)> {
        let missing: BTreeSet<&String> = missing.iter().collect();
        self.rds
            .all_files()
            .into_iter()
            .filter_map(|(i, f)| {
                let ids =
                    dataplane::record::file_record_ids(&i, &f.name, f.last_written_ms, &f.data);
                let gone = ids.iter().filter(|id| missing.contains(id)).count();
                (gone > 0).then_some((i, f, gone, ids.len()))
            })
            .collect()
    }

    /// Where the files with missing entries stand, for the failure message: each one's
    /// checkpoint against its size.
    async fn stuck_report(&self, dynamo: &DynamoConfig, missing: &[String]) -> String {
        let mut out = String::new();
        let reader = DynamoCheckpoints::new(dynamo.clone(), "observer".into()).await;
        for (i, f, _, _) in self.files_missing(missing) {
            let key = FileKey {
                instance_id: i.clone(),
                log_file: contract::file::canonical_name(&f.name, f.last_written_ms),
            };
            let cp = match &reader {
                Ok(r) => format!("{:?}", r.load(&key).await),
                Err(e) => format!("no reader: {e}"),
            };
            out.push_str(&format!(
                "state: {i}/{} size {} checkpoint {cp}\n",
                key.log_file,
                f.data.len()
            ));
        }
        out
    }

    fn logs_tail(&self) -> String {
        let mut out = String::new();
        for e in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "log") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                // tansu logs its coordinator's spans too: only its events say anything.
                let span = |l: &&str| {
                    [": new", ": enter", ": exit", ": close time"]
                        .iter()
                        .any(|m| l.contains(m))
                };
                let tail: Vec<&str> = text.lines().rev().filter(|l| !span(l)).take(15).collect();
                out.push_str(&format!("--- {}\n", p.display()));
                for l in tail.into_iter().rev() {
                    out.push_str(l);
                    out.push('\n');
                }
            }
        }
        out.push_str(&self.processes_metrics());
        out
    }

    /// The queue, lease and discovery metrics of every process still answering.
    fn processes_metrics(&self) -> String {
        let wanted = [
            "aurora_logs_queue_",
            "aurora_logs_lease",
            "aurora_logs_discovery_jobs",
            "aurora_logs_discovery_leader",
        ];
        let mut out = String::new();
        for (name, port) in self.ops.lock().unwrap().iter() {
            for l in metrics_text(*port)
                .lines()
                .filter(|l| wanted.iter().any(|w| l.starts_with(w)) && !l.contains("_bucket"))
            {
                out.push_str(&format!("metrics {name}: {l}\n"));
            }
        }
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_and_three_processors_lose_nothing_through_every_fault() {
    every_fault("distributed end-to-end", false).await;
}

/// The same run with every connection encrypted: Kafka over TLS, Redis over TLS with an ACL
/// user and password, OpenObserve over HTTPS, one private CA given by `ca_file`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_with_auth_discovery_and_three_processors_lose_nothing_through_every_fault() {
    every_fault("distributed end-to-end over TLS", true).await;
}

/// One run at a time: each starts five aurora-logs processes, a broker and a Redis, and its
/// time bounds assume it has the machine to itself.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn every_fault(test: &'static str, encrypted: bool) {
    let _alone = ONE_AT_A_TIME.lock().await;
    let Some(dynamodb) = require(Service::DynamoDb, test) else {
        return;
    };
    let bins = ["AURORA_TEST_TANSU_BIN", "AURORA_TEST_REDIS_BIN"].map(std::env::var);
    let (Ok(tansu_bin), Ok(redis_bin)) = (bins[0].clone(), bins[1].clone()) else {
        let msg = format!("{test}: AURORA_TEST_TANSU_BIN and AURORA_TEST_REDIS_BIN are not set (run scripts/services.sh)");
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{msg}");
        }
        eprintln!("SKIPPED {msg}");
        return;
    };

    let sim = SimConfig {
        history: Duration::from_secs(30 * 60),
        ..Default::default()
    };
    // The clock starts at minute 46 of an hour, so that the files rotate during phase 3 (the
    // 20 minutes in which a processor is killed) in every run, whatever the time of day.
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    let hour_us = 3_600_000_000i64;
    let sim = sim
        .with_start_us(now_us - now_us.rem_euclid(hour_us) - 14 * 60_000_000)
        .with_cluster(
            ClusterConfig::new(
                "shop-mysql",
                Engine::AuroraMysql,
                &["shop-mysql-1", "shop-mysql-2"],
            )
            .with_rate(3.0)
            .with_seed(11),
        )
        .with_cluster(
            ClusterConfig::new("billing-pg", Engine::AuroraPostgresql, &["billing-pg-1"])
                .with_rate(6.0)
                .with_seed(12),
        );
    let oo = OpenObserveStandIn::start(OpenObserveConfig::default())
        .await
        .unwrap();
    let tls = if encrypted {
        let pki = simulator::tls::TestPki::generate("e2e").expect("openssl makes the test CA");
        let oo_addr = oo.url().trim_start_matches("http://").parse().unwrap();
        let oo_proxy = simulator::proxy::Proxy::tls(&pki, oo_addr).await.unwrap();
        Some(Tls { pki, oo_proxy })
    } else {
        None
    };
    let tansu_port = free_port();
    let tansu_addr = ([127, 0, 0, 1], tansu_port).into();
    let kafka_proxy = match &tls {
        Some(t) => simulator::proxy::Proxy::tls(&t.pki, tansu_addr).await,
        None => simulator::proxy::Proxy::plain(tansu_addr).await,
    }
    .unwrap();
    let mut world = World {
        dir: tempfile::tempdir().unwrap(),
        rds: RdsSimulator::start(sim).await.unwrap(),
        oo,
        tls,
        tansu_bin,
        tansu_port,
        kafka_proxy,
        redis_bin,
        redis_port: free_port(),
        dynamodb,
        table: unique_name("aurora-logs-e2e"),
        topic_prefix: format!("{}-", unique_name("e2e")),
        ops: Default::default(),
    };
    let dynamo = DynamoConfig {
        table: world.table.clone(),
        region: "us-east-1".into(),
        endpoint_url: world.dynamodb.clone(),
        access_key_id: "aurora".into(),
        secret_access_key: "aurora".into(),
        lease_ttl: Duration::from_secs(LEASE_TTL_S),
        ..Default::default()
    };
    ensure_table(&dynamo).await.unwrap();
    let _table = DropTable(dynamo.clone());
    // The account's RDS bucket, tighter than what the processes would spend unchecked: RDS
    // throttles across processes and each backs off (and they share a budget in Redis).
    world.rds.faults().set_throttle(Some(ThrottleConfig {
        burst: 8,
        per_second: 5.0,
    }));

    let tansu = world.start_tansu();
    let mut redis = world.start_redis();
    let dports = [free_port(), free_port()];
    let mut discoveries = [
        world.start("discovery", "discovery-1", dports[0]),
        world.start("discovery", "discovery-2", dports[1]),
    ];
    let pports = [free_port(), free_port(), free_port()];
    let mut processors: Vec<Proc> = (0..3)
        .map(|i| world.start("processor", &format!("processor-{i}"), pports[i]))
        .collect();
    let published = |port: u16| scrape(port).get(JOBS_PUBLISHED).copied().unwrap_or(0.0);

    // 1. Shipping starts; of two discovery replicas exactly one publishes.
    let t0 = Instant::now();
    while world.received().len() < 2_000 {
        assert!(
            t0.elapsed() < Duration::from_secs(90),
            "nothing flows: {} records after 90 s\n{}",
            world.received().len(),
            world.logs_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let p = [published(dports[0]), published(dports[1])];
    assert!(
        (p[0] > 0.0) != (p[1] > 0.0),
        "exactly one discovery replica publishes: {p:?}\n{}",
        world.logs_tail()
    );
    let leader = usize::from(p[1] > 0.0);
    eprintln!(
        "phase 1: {} records; discovery-{} leads",
        world.received().len(),
        leader + 1
    );

    // 2. A DynamoDB conditional-write conflict: an intruder holds a file that still has
    // work; the processors' acquisitions fail their condition (busy) until it lets go.
    let intruder = DynamoCheckpoints::new(dynamo.clone(), "intruder".into())
        .await
        .unwrap();
    let busy_before: f64 = pports
        .iter()
        .map(|&p| scrape_labelled(p, LEASE_ACQUISITIONS, "outcome=\"busy\""))
        .sum();
    let live = world
        .rds
        .all_files()
        .into_iter()
        .filter(|(_, f)| f.name.starts_with("error/postgresql.log"))
        .max_by_key(|(_, f)| f.last_written_ms)
        .map(|(i, f)| FileKey {
            instance_id: i,
            log_file: contract::file::canonical_name(&f.name, f.last_written_ms),
        })
        .expect("a PostgreSQL log");
    let t = Instant::now();
    let mut busy = 0.0;
    while t.elapsed() < Duration::from_secs(20) {
        if let Ok(Acquired::Held(_)) = intruder.acquire(&live).await {
            // Held: grow the file so that discovery publishes it again, and wait for a
            // processor to be turned away.
            world.rds.advance_by(Duration::from_secs(30));
            // Bounded generously: on a loaded machine a pass and a job can take many seconds.
            let t1 = Instant::now();
            while t1.elapsed() < Duration::from_secs(60) {
                busy = pports
                    .iter()
                    .map(|&p| scrape_labelled(p, LEASE_ACQUISITIONS, "outcome=\"busy\""))
                    .sum::<f64>()
                    - busy_before;
                if busy > 0.0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            intruder.release(&live).await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        busy > 0.0,
        "no processor met the intruder's lease on {live:?}\n{}",
        world.logs_tail()
    );
    drop(intruder);
    eprintln!("phase 2: {busy} acquisitions turned away by a held lease");

    // 3. A processor SIGKILLed mid-batch: its files are taken over once its leases expire.
    world.rds.advance_by(Duration::from_secs(20 * 60));
    let t = Instant::now();
    while scrape(pports[0])
        .get(QUEUE_RUNNING_JOBS)
        .copied()
        .unwrap_or(0.0)
        == 0.0
        && t.elapsed() < Duration::from_secs(20)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let at_kill = world.received().len();
    processors[0].kill();
    eprintln!("phase 3: processor-0 killed at {at_kill} records");
    tokio::time::sleep(Duration::from_secs(LEASE_TTL_S + 2)).await;

    // 4. The broker goes away for a while and comes back: every connection and the port
    // closed, as in a broker restart or a network partition, its topics and the group's offsets
    // kept, as Kafka and MSK keep them.
    world.kafka_proxy.interrupt().await;
    world.rds.advance_by(Duration::from_secs(10 * 60));
    tokio::time::sleep(Duration::from_secs(5)).await;
    world
        .kafka_proxy
        .resume()
        .await
        .expect("the broker's port again");
    eprintln!("phase 4: broker away for 5 s and back");
    let before = world.received().len();
    let t = Instant::now();
    while world.received().len() <= before && t.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        world.received().len() > before,
        "nothing shipped after the broker came back\n{}",
        world.logs_tail()
    );

    // 5. Redis stops and starts: discovery lists from RDS directly, budgets fall back.
    redis.kill();
    world.rds.advance_by(Duration::from_secs(10 * 60));
    let before = world.received().len();
    let t = Instant::now();
    while world.received().len() <= before && t.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        world.received().len() > before,
        "nothing shipped while Redis was down\n{}",
        world.logs_tail()
    );
    redis = world.start_redis();
    eprintln!("phase 5: Redis stopped and started");

    // 6. The leading discovery dies: the other replica takes over after the lease expires.
    let follower = 1 - leader;
    let follower_before = published(dports[follower]);
    discoveries[leader].kill();
    world.rds.advance_by(Duration::from_secs(5 * 60));
    let t = Instant::now();
    while published(dports[follower]) <= follower_before && t.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        published(dports[follower]) > follower_before,
        "discovery-{} never took over\n{}",
        follower + 1,
        world.logs_tail()
    );
    eprintln!("phase 6: discovery-{} took over", follower + 1);

    // Drain: every entry written arrives.
    let missing = world.drained(Duration::from_secs(180)).await;
    let throttled = world.rds.stats().fired(Fault::Throttle);
    let permits: f64 = pports[1..]
        .iter()
        .map(|&p| scrape(p).get(BUDGET_PERMITS).copied().unwrap_or(0.0))
        .sum();
    // Each process says what build and mode it runs.
    let version = format!("version=\"{}\"", env!("CARGO_PKG_VERSION"));
    assert_eq!(
        scrape_labelled(pports[1], "aurora_logs_build_info", "mode=\"processor\""),
        1.0
    );
    assert_eq!(
        scrape_labelled(dports[1 - leader], "aurora_logs_build_info", &version),
        1.0
    );
    let got = world.received();
    let want = world.expected();
    let state = if missing.is_empty() {
        String::new()
    } else {
        world.stuck_report(&dynamo, &missing).await
    };
    let unexpected: BTreeSet<String> = got
        .keys()
        .filter(|id| !want.contains(*id))
        .cloned()
        .collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "{} expected, {} received; {} missing, {} unexpected\n{}{}{}",
        want.len(),
        got.len(),
        missing.len(),
        unexpected.len(),
        world.mismatch_report(&missing, &unexpected),
        state,
        world.logs_tail()
    );
    for p in processors.iter_mut().chain(discoveries.iter_mut()) {
        let Some(how) = p.exited() else { continue };
        assert!(
            p.name == "processor-0" || p.name == format!("discovery-{}", leader + 1),
            "{} ended on its own: {how}\n{}",
            p.name,
            world.logs_tail()
        );
    }
    // Duplicates only from the kill: at most every job the killed processor ran, each with
    // its batches in flight plus one acknowledged but not yet checkpointed.
    let duplicated: usize = got.values().map(|n| n - 1).sum();
    let bound = MAX_JOBS * (SEND_CONCURRENCY + 1) * BATCH_RECORDS;
    eprintln!(
        "{} entries, {duplicated} duplicates (bound {bound}), {throttled} RDS throttles, {permits} budget permits",
        want.len()
    );
    assert!(duplicated <= bound, "{duplicated} duplicates > {bound}");
    assert!(
        throttled > 0,
        "RDS never throttled: the fault was not exercised"
    );
    assert!(
        permits > 0.0,
        "the processors never asked the shared budget"
    );
    assert!(want.len() > 10_000, "too little data: {}", want.len());
    drop((tansu, redis));
}

/// Deletes the test's table at the end, also when the test fails.
struct DropTable(DynamoConfig);

impl Drop for DropTable {
    fn drop(&mut self) {
        let config = self.0.clone();
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|rt| rt.block_on(delete_table(&config)))
        })
        .join();
    }
}
