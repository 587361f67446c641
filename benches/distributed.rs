//! The distributed mode's throughput against standalone, in one run (issue 4).
//!
//! A fixed Aurora-like backlog (four Aurora MySQL instances, each with hourly rotated slow and
//! general logs, `AURORA_BENCH_DIST_MB` in all, default 256) is shipped by the release binary
//! as separate processes, into a minimal `_bulk` receiver that counts and acknowledges records:
//! - standalone: one `aurora-logs run`;
//! - distributed: one `aurora-logs discovery` and 1, 2 or 4 `aurora-logs processor`s, over a
//!   private tansu broker, a private redis-server and a table of its own in the shared DynamoDB
//!   Local.
//!
//! Every configuration starts from an empty state (its own state directories, table, topic
//! prefix, consumer group, Redis key prefix and RDS simulator). Its processes start and settle
//! first (standalone: its first pass; distributed: discovery's first pass, then every processor
//! holding partitions); then the files appear in the simulator, and the clock runs until the
//! receiver has acknowledged every record. The CPU of the aurora-logs processes is their
//! utime + stime over that window, read from /proc just before they are killed. The
//! configurations are interleaved over `AURORA_BENCH_DIST_ROUNDS` rounds (default 3) and the
//! table shows the median of each figure, with the ratio to standalone's median.
//!
//! `cargo bench --bench distributed`. The services come from `scripts/services.sh`, which the
//! bench runs itself when `AURORA_TEST_TANSU_BIN` / `AURORA_TEST_REDIS_BIN` /
//! `AURORA_TEST_DYNAMODB` are not set. Knobs: `AURORA_BENCH_DIST_MB`, `AURORA_BENCH_DIST_ROUNDS`,
//! `AURORA_BENCH_DIST_PROCESSORS` (e.g. `1,4`), `AURORA_BENCH_DIST_LOG` (the processes' log
//! filter, e.g. `info`; the logs are then kept and their directory printed),
//! `AURORA_BENCH_DIST_BIN` (another release binary to measure instead of the one cargo built) and
//! `AURORA_BENCH_DIST_BASELINE_BIN` (other builds, comma-separated, e.g. older commits', measured
//! side by side: every configuration runs with each build in each round, back to back, their
//! order rotating from round to round, and a last table per baseline gives the ratios of the
//! medians and of each round's pair).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use contract::file::canonical_name;
use dataplane::record::files_record_ids;
use queue::telemetry::QUEUE_ASSIGNED_PARTITIONS;
use simulator::instance::Engine;
use simulator::kit::{process_cpu_seconds, BulkReceiver};
use simulator::rds::{ClusterConfig, RdsSimulator, SimConfig};
use simulator::services::unique_name;
use simulator::services::{free_port, wait_port};
use simulator::{LogGenerator, LogKind};
use sink::telemetry::RECORDS_SHIPPED;
use state::telemetry::{DYNAMODB_CALLS, DYNAMODB_CALL_SECONDS};
use state::{delete_table, ensure_table, DynamoConfig};

/// Instances of the workload, as (cluster, instance).
const INSTANCES: [(&str, &str); 4] = [
    ("bench-shop", "bench-shop-1"),
    ("bench-shop", "bench-shop-2"),
    ("bench-billing", "bench-billing-1"),
    ("bench-billing", "bench-billing-2"),
];
/// Log families of each instance: rotated hourly, one file per hour.
const FAMILIES: [(LogKind, &str); 2] = [
    (LogKind::MysqlSlow, "slowquery/mysql-slowquery.log"),
    (LogKind::MysqlGeneral, "general/mysql-general.log"),
];
/// Rotated hours per family: 4 × 2 × 4 = 32 files, so that four processors all have work.
const HOURS: i64 = 4;
/// Processor counts of the distributed rows (`AURORA_BENCH_DIST_PROCESSORS`, comma-separated,
/// overrides).
const PROCESSORS: [usize; 3] = [1, 2, 4];
/// Partitions of each job topic (the binary's default).
const PARTITIONS: usize = 12;
/// Job topics discovery creates (one per log kind).
const TOPICS: usize = 5;
/// Files shipped at once by one process: `[scheduler] workers` (its default) and
/// `[processor] max_jobs` (set to the same, so that one processor matches standalone).
const JOBS_PER_PROCESS: usize = 4;
/// Discovery / scheduler pass interval: new files are noticed at most this late.
const POLL: &str = "250ms";
/// Longest wait for processes to settle, and for a configuration to ship everything.
const READY_TIMEOUT: Duration = Duration::from_secs(90);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);
/// Clock ticks a second of /proc/<pid>/stat (USER_HZ on Linux).
const TICKS: f64 = 100.0;

/// CPU seconds the whole machine spent busy so far (every CPU: all but idle and iowait).
fn machine_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is inside user).
    let busy: f64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| v.get(i)).sum();
    busy / TICKS
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `GET path` on a local port: status code and body (0 when nothing answers).
fn http_get(port: u16, path: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// One metric of a process, summed over its label sets.
fn metric(port: u16, name: &str) -> f64 {
    http_get(port, "/metrics")
        .1
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(n, _)| n.split('{').next() == Some(name))
        .filter_map(|(_, v)| v.parse::<f64>().ok())
        .sum()
}

/// A child process, killed when dropped.
struct Proc {
    child: Child,
    /// Its `/metrics` port (0: none).
    port: u16,
}

impl Proc {
    fn spawn(cmd: &mut Command, log: &Path, port: u16) -> Proc {
        let out = std::fs::File::create(log).unwrap();
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
        Proc { child, port }
    }

    fn cpu(&self) -> f64 {
        process_cpu_seconds(&self.child.id().to_string())
    }

    fn check_running(&mut self, logs: &Path) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!(
                "a process ended on its own ({status}); logs in {}",
                logs.display()
            );
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The workload: the files added to every configuration's simulator.
struct Workload {
    /// (instance, name, last_written_ms, bytes).
    files: Vec<(String, String, i64, Bytes)>,
    bytes: u64,
    records: usize,
}

/// `mb` MB of hourly rotated slow and general logs over the instances, hours ending an hour
/// ago; the records they hold (counted by the data plane's own record ids).
fn workload(mb: usize) -> Workload {
    let per_file = (mb << 20) / (INSTANCES.len() * FAMILIES.len() * HOURS as usize);
    let hour_ms = 3_600_000;
    let first_hour = (now_ms() / hour_ms - 1 - HOURS) * hour_ms;
    let mut files = Vec::new();
    for (i, (_, instance)) in INSTANCES.iter().enumerate() {
        for (f, (kind, live)) in FAMILIES.iter().enumerate() {
            for h in 0..HOURS {
                let start_ms = first_hour + h * hour_ms;
                let last_written_ms = start_ms + hour_ms - 1_000;
                let seed = (i * 1000 + f * 100) as u64 + h as u64;
                let mut g = LogGenerator::new(*kind, seed, start_ms * 1000);
                let mut data = Vec::with_capacity(per_file + (64 << 10));
                g.fill(&mut data, per_file);
                files.push((
                    instance.to_string(),
                    canonical_name(live, last_written_ms),
                    last_written_ms,
                    Bytes::from(data),
                ));
            }
        }
    }
    let bytes = files.iter().map(|f| f.3.len() as u64).sum();
    let records = files_record_ids(
        files
            .iter()
            .map(|(i, n, lw, d)| (i.as_str(), n.as_str(), *lw, &d[..])),
    )
    .len();
    Workload {
        files,
        bytes,
        records,
    }
}

/// The shared services of the run: a private broker and Redis, the shared DynamoDB Local.
struct Services {
    dir: PathBuf,
    /// Removes `dir` at the end unless the logs are kept.
    _cleanup: Option<tempfile::TempDir>,
    kafka_port: u16,
    redis_port: u16,
    dynamodb: String,
    tansu: Proc,
    redis: Proc,
}

/// `AURORA_TEST_*` values, from the environment or else from `scripts/services.sh` (which
/// starts the shared services that are missing).
fn service_env() -> BTreeMap<String, String> {
    let keys = [
        "AURORA_TEST_TANSU_BIN",
        "AURORA_TEST_REDIS_BIN",
        "AURORA_TEST_DYNAMODB",
    ];
    let mut env: BTreeMap<String, String> = keys
        .iter()
        .filter_map(|k| Some((k.to_string(), std::env::var(k).ok()?)))
        .collect();
    if env.len() == keys.len() {
        return env;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/services.sh");
    let out = Command::new(&script)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed: start tansu, DynamoDB Local and redis-server, or set AURORA_TEST_TANSU_BIN, AURORA_TEST_REDIS_BIN and AURORA_TEST_DYNAMODB",
        script.display()
    );
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some((k, v)) = line.trim_start_matches("export ").split_once('=') {
            env.entry(k.to_string()).or_insert_with(|| v.to_string());
        }
    }
    env
}

impl Services {
    fn start() -> Services {
        let env = service_env();
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().to_path_buf();
        // Debugging a run: keep the process logs.
        let cleanup = if std::env::var("AURORA_BENCH_DIST_LOG").is_ok() {
            println!("process logs kept in {}", temp.keep().display());
            None
        } else {
            Some(temp)
        };
        let (kafka_port, redis_port) = (free_port(), free_port());
        let url = format!("tcp://127.0.0.1:{kafka_port}");
        let tansu = Proc::spawn(
            Command::new(&env["AURORA_TEST_TANSU_BIN"]).args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ]),
            &dir.join("tansu.log"),
            0,
        );
        wait_port(kafka_port, "tansu");
        let redis = Proc::spawn(
            Command::new(&env["AURORA_TEST_REDIS_BIN"]).args([
                "--port",
                &redis_port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ]),
            &dir.join("redis.log"),
            0,
        );
        wait_port(redis_port, "redis-server");
        Services {
            dir,
            _cleanup: cleanup,
            kafka_port,
            redis_port,
            dynamodb: env["AURORA_TEST_DYNAMODB"].clone(),
            tansu,
            redis,
        }
    }

    fn cpu(&self) -> f64 {
        self.tansu.cpu() + self.redis.cpu()
    }
}

/// The pid of the shared DynamoDB Local that `scripts/services.sh` started, if it did (its CPU
/// is reported, not counted: other users of the machine may be calling it too).
fn dynamodb_local_pid() -> Option<String> {
    let dir = std::env::var("AURORA_SERVICES_DIR")
        .map(PathBuf::from)
        .or_else(|_| {
            std::env::var("HOME").map(|h| Path::new(&h).join(".cache/aurora-logs/services"))
        })
        .ok()?;
    let pid = std::fs::read_to_string(dir.join("dynamodb.pid")).ok()?;
    let pid = pid.trim().to_string();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    memchr::memmem::find(&cmdline, b"DynamoDBLocal").map(|_| pid)
}

/// Deletes a configuration's table at the end, also when the bench fails.
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

/// Which binary runs a configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Build {
    /// `AURORA_BENCH_DIST_BIN`, else the release binary cargo built for this bench.
    Current,
    /// The n-th of `AURORA_BENCH_DIST_BASELINE_BIN`.
    Baseline(usize),
}

impl Build {
    fn label(self) -> String {
        match self {
            Build::Current => "current".into(),
            Build::Baseline(i) => format!(
                "baseline {}",
                baseline_binaries()[i]
                    .file_name()
                    .map_or_else(|| i.to_string(), |n| n.to_string_lossy().into_owned())
            ),
        }
    }

    fn binary(self) -> PathBuf {
        match self {
            Build::Current => binary(),
            Build::Baseline(i) => baseline_binaries()[i].clone(),
        }
    }
}

/// What is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Mode {
    Standalone,
    Distributed { processors: usize },
}

impl Mode {
    fn label(self) -> String {
        match self {
            Mode::Standalone => "standalone (`run`)".into(),
            Mode::Distributed { processors: 1 } => "distributed, 1 processor".into(),
            Mode::Distributed { processors } => format!("distributed, {processors} processors"),
        }
    }

    fn processes(self) -> String {
        match self {
            Mode::Standalone => "1".into(),
            Mode::Distributed { processors } => format!("1 + {processors}"),
        }
    }
}

/// One configuration's figures in one round.
#[derive(Clone, Debug, Default)]
struct Sample {
    /// Files added → every record acknowledged.
    wall: f64,
    /// Files added → first record acknowledged.
    first: f64,
    /// CPU of the aurora-logs processes over the window.
    cpu: f64,
    /// CPU of this process (RDS simulator + receiver) over the window.
    bench_cpu: f64,
    /// CPU of the private tansu and redis-server over the window.
    services_cpu: f64,
    /// CPU of the shared DynamoDB Local over the window, when its pid is known.
    dynamodb_cpu: Option<f64>,
    /// CPU of the whole machine over the window.
    machine_cpu: f64,
    /// CPU of discovery alone (included in `cpu`).
    discovery_cpu: f64,
    /// DynamoDB calls of the checkpoint store over the window: discovery's, the processors'.
    dynamodb_calls: [f64; 2],
    /// Their mean latency, seconds.
    dynamodb_latency: f64,
    /// Share of the records each processor shipped, in %.
    shares: Vec<f64>,
    received: u64,
}

impl Sample {
    /// CPU the rest of the machine used in the window: other users' work (never below 0:
    /// the counters tick at 10 ms).
    fn others_cpu(&self) -> f64 {
        let ours = self.cpu + self.bench_cpu + self.services_cpu + self.dynamodb_cpu.unwrap_or(0.0);
        (self.machine_cpu - ours).max(0.0)
    }
}

/// Everything one configuration needs to know, fresh each time.
struct Setup<'a> {
    services: &'a Services,
    binary: PathBuf,
    dir: PathBuf,
    rds: &'a RdsSimulator,
    receiver: SocketAddr,
    table: String,
    prefix: String,
}

impl Setup<'_> {
    fn config(&self, name: &str, listen: u16) -> PathBuf {
        let (ak, sk) = self.rds.credentials();
        let s = self.services;
        let text = format!(
            r#"
state_dir = "{state}"
listen = "127.0.0.1:{listen}"
log_format = "text"
log_level = "{log_level}"
[rds]
region = "{region}"
endpoint_url = "{endpoint}"
access_key_id = "{ak}"
secret_access_key = "{sk}"
download = "complete"
calls_per_second = 1000
burst = 1000
[openobserve]
url = "http://{receiver}"
[scheduler]
poll_interval = "{POLL}"
workers = {JOBS_PER_PROCESS}
[kafka]
brokers = "127.0.0.1:{kafka}"
group_id = "{prefix}group"
partitions = {PARTITIONS}
[kafka.properties]
"topic.metadata.refresh.interval.ms" = "1000"
{topics}{dynamodb_table}[redis]
url = "redis://127.0.0.1:{redis}"
key_prefix = "{prefix}"
[rds_budget]
calls_per_second = 1000.0
burst = 1000
[discovery]
poll_interval = "{POLL}"
# The backlog appears at once with old LastWritten times: list in full at every pass, as a
# production pass notices newly rotated files.
full_listing_every = "1ms"
[processor]
max_jobs = {JOBS_PER_PROCESS}
"#,
            state = self.dir.join(name).display(),
            region = self.rds.region(),
            endpoint = self.rds.endpoint_url(),
            receiver = self.receiver,
            kafka = s.kafka_port,
            prefix = self.prefix,
            topics = simulator::kit::topics_toml(&self.prefix),
            dynamodb_table = simulator::kit::dynamodb_local_toml(&self.table, &s.dynamodb),
            redis = s.redis_port,
            log_level = log_level(),
        );
        let path = self.dir.join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        path
    }

    fn start(&self, mode: &str, name: &str) -> Proc {
        let port = free_port();
        let config = self.config(name, port);
        Proc::spawn(
            Command::new(&self.binary)
                .args([mode, "--config"])
                .arg(&config),
            &self.dir.join(format!("{name}.log")),
            port,
        )
    }
}

/// The processes' log filter: `AURORA_BENCH_DIST_LOG`, else warnings only.
fn log_level() -> String {
    std::env::var("AURORA_BENCH_DIST_LOG").unwrap_or_else(|_| "warn".into())
}

/// The binary measured: `AURORA_BENCH_DIST_BIN`, else the release binary `cargo bench` built
/// for this bench.
fn binary() -> PathBuf {
    std::env::var_os("AURORA_BENCH_DIST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_aurora-logs")))
}

/// The builds measured beside it: `AURORA_BENCH_DIST_BASELINE_BIN`, comma-separated.
fn baseline_binaries() -> Vec<PathBuf> {
    std::env::var("AURORA_BENCH_DIST_BASELINE_BIN")
        .map(|v| {
            v.split(',')
                .filter(|p| !p.trim().is_empty())
                .map(|p| PathBuf::from(p.trim()))
                .collect()
        })
        .unwrap_or_default()
}

/// Wait until `ready` holds, polling; panics (with where the logs are) after READY_TIMEOUT.
async fn wait_until(what: &str, dir: &Path, procs: &mut [Proc], ready: impl Fn(&[Proc]) -> bool) {
    let t = Instant::now();
    while !ready(procs) {
        for p in procs.iter_mut() {
            p.check_running(dir);
        }
        assert!(
            t.elapsed() < READY_TIMEOUT,
            "{what} not ready after {READY_TIMEOUT:?}; logs in {}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Ship the workload once in `mode`, from an empty state.
async fn measure(
    services: &Services,
    work: &Workload,
    (build, mode): (Build, Mode),
    round: usize,
) -> Sample {
    let rds = RdsSimulator::start(simulator_config()).await.unwrap();
    // The simulated instances' own (nearly empty) live files are shipped too.
    let own = files_record_ids(
        rds.all_files()
            .iter()
            .map(|(i, f)| (i.as_str(), f.name.as_str(), f.last_written_ms, &f.data[..])),
    )
    .len();
    let expected = (work.records + own) as u64;
    let bulk = BulkReceiver::start().await.unwrap();
    let (stats, receiver) = (bulk.stats.clone(), bulk.addr);
    let tag = match mode {
        Mode::Standalone => "standalone".to_string(),
        Mode::Distributed { processors } => format!("dist{processors}"),
    };
    let tag = match build {
        Build::Current => format!("current-{tag}"),
        Build::Baseline(i) => format!("base{i}-{tag}"),
    };
    let dir = services.dir.join(format!("r{round}-{tag}"));
    std::fs::create_dir_all(&dir).unwrap();
    let setup = Setup {
        services,
        binary: build.binary(),
        dir: dir.clone(),
        rds: &rds,
        receiver,
        table: unique_name("aurora-logs-bench"),
        prefix: format!("{}-", unique_name("bench")),
    };

    let mut _table = None;
    let mut procs: Vec<Proc> = Vec::new();
    match mode {
        Mode::Standalone => {
            procs.push(setup.start("run", "run"));
            wait_until("aurora-logs run", &dir, &mut procs, |p| {
                http_get(p[0].port, "/readyz").0 == 200
            })
            .await;
        }
        Mode::Distributed { processors } => {
            let dynamo = DynamoConfig {
                table: setup.table.clone(),
                region: "us-east-1".into(),
                endpoint_url: services.dynamodb.clone(),
                access_key_id: "aurora".into(),
                secret_access_key: "aurora".into(),
                ..Default::default()
            };
            ensure_table(&dynamo).await.unwrap();
            _table = Some(DropTable(dynamo));
            // Discovery first: its first pass creates the topics the processors subscribe to.
            procs.push(setup.start("discovery", "discovery"));
            wait_until("aurora-logs discovery", &dir, &mut procs, |p| {
                http_get(p[0].port, "/readyz").0 == 200
            })
            .await;
            for i in 0..processors {
                procs.push(setup.start("processor", &format!("processor-{i}")));
            }
            // Settled: every processor holds partitions and together they hold them all, so
            // no rebalance moves jobs during the measurement.
            let all = (TOPICS * PARTITIONS) as f64;
            wait_until("the processors' consumer group", &dir, &mut procs, |p| {
                let held: Vec<f64> = p[1..]
                    .iter()
                    .map(|p| metric(p.port, QUEUE_ASSIGNED_PARTITIONS))
                    .collect();
                held.iter().all(|&h| h > 0.0) && held.iter().sum::<f64>() == all
            })
            .await;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let cpu0: Vec<f64> = procs.iter().map(Proc::cpu).collect();
    let calls0 = dynamodb_calls(&procs, mode);
    let dynamodb = dynamodb_local_pid();
    let dynamodb_cpu = || dynamodb.as_deref().map(process_cpu_seconds);
    let (bench0, services0, dynamodb0, machine0) = (
        process_cpu_seconds("self"),
        services.cpu(),
        dynamodb_cpu(),
        machine_busy_seconds(),
    );
    let t0 = Instant::now();
    for (instance, name, last_written_ms, data) in &work.files {
        rds.add_file(instance, name, data.clone(), *last_written_ms)
            .unwrap();
    }
    while stats.records.load(Ordering::Relaxed) < expected {
        if t0.elapsed() > DRAIN_TIMEOUT {
            panic!(
                "{}: {} of {expected} records after {DRAIN_TIMEOUT:?}; logs in {}",
                mode.label(),
                stats.records.load(Ordering::Relaxed),
                dir.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu_used: Vec<f64> = procs
        .iter()
        .zip(&cpu0)
        .map(|(p, c0)| p.cpu() - c0)
        .collect();
    let cpu = cpu_used.iter().sum();
    let calls = dynamodb_calls(&procs, mode);
    let delta = |i: usize| calls[i] - calls0[i];
    let sample = Sample {
        wall,
        first: stats
            .first_at
            .lock()
            .unwrap()
            .map_or(wall, |t| (t - t0).as_secs_f64()),
        cpu,
        bench_cpu: process_cpu_seconds("self") - bench0,
        services_cpu: services.cpu() - services0,
        dynamodb_cpu: dynamodb_cpu().zip(dynamodb0).map(|(a, b)| a - b),
        machine_cpu: machine_busy_seconds() - machine0,
        discovery_cpu: match mode {
            Mode::Standalone => 0.0,
            Mode::Distributed { .. } => cpu_used[0],
        },
        dynamodb_calls: [delta(0), delta(1)],
        dynamodb_latency: (delta(2) / delta(3)).max(0.0),
        shares: shares(&procs, mode),
        received: stats.records.load(Ordering::Relaxed),
    };
    for p in procs.iter_mut() {
        p.check_running(&dir);
    }
    drop(procs);
    sample
}

/// The checkpoint store's DynamoDB figures so far: calls of discovery, calls of the
/// processors, seconds and count of every call's latency.
fn dynamodb_calls(procs: &[Proc], mode: Mode) -> [f64; 4] {
    let Mode::Distributed { .. } = mode else {
        return [0.0; 4];
    };
    let sum = |ps: &[Proc], name: &str| ps.iter().map(|p| metric(p.port, name)).sum::<f64>();
    let seconds = format!("{DYNAMODB_CALL_SECONDS}_sum");
    let count = format!("{DYNAMODB_CALL_SECONDS}_count");
    [
        sum(&procs[..1], DYNAMODB_CALLS),
        sum(&procs[1..], DYNAMODB_CALLS),
        sum(procs, &seconds),
        sum(procs, &count),
    ]
}

/// Records shipped by each processor, in % of all they shipped.
fn shares(procs: &[Proc], mode: Mode) -> Vec<f64> {
    let Mode::Distributed { .. } = mode else {
        return Vec::new();
    };
    let shipped: Vec<f64> = procs[1..]
        .iter()
        .map(|p| metric(p.port, RECORDS_SHIPPED))
        .collect();
    let total: f64 = shipped.iter().sum::<f64>().max(1.0);
    shipped.iter().map(|s| 100.0 * s / total).collect()
}

fn simulator_config() -> SimConfig {
    let mut sim = SimConfig::default();
    for cluster in ["bench-shop", "bench-billing"] {
        let instances: Vec<&str> = INSTANCES
            .iter()
            .filter(|(c, _)| *c == cluster)
            .map(|(_, i)| *i)
            .collect();
        // A trickle of their own: the backlog is the workload.
        sim = sim.with_cluster(
            ClusterConfig::new(cluster, Engine::AuroraMysql, &instances).with_rate(0.001),
        );
    }
    sim
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn print_table(work: &Workload, modes: &[Mode], samples: &BTreeMap<Mode, Vec<Sample>>) {
    let mb = work.bytes as f64 / 1e6;
    let med = |m: Mode, f: fn(&Sample) -> f64| median(samples[&m].iter().map(f).collect());
    let (base_wall, base_cpu) = (
        med(Mode::Standalone, |s| s.wall),
        med(Mode::Standalone, |s| s.cpu),
    );
    println!();
    println!("| mode | aurora-logs processes | wall (s) | MB/s (wall) | × standalone | CPU-s of aurora-logs | MB per CPU-s | × standalone |");
    println!("|---|---|---|---|---|---|---|---|");
    for &m in modes {
        let (wall, cpu) = (med(m, |s| s.wall), med(m, |s| s.cpu));
        println!(
            "| {} | {} | {wall:.2} | {:.1} | {:.2} | {cpu:.2} | {:.1} | {:.2} |",
            m.label(),
            m.processes(),
            mb / wall,
            base_wall / wall,
            mb / cpu,
            base_cpu / cpu,
        );
    }
    println!();
    println!("| mode | first record (s) | CPU-s of discovery (in the aurora-logs CPU) | DynamoDB calls: discovery / processors (mean latency, ms) | CPU-s in the window: simulator + receiver / tansu + redis / DynamoDB Local / other users | machine busy, % of 2 cores | records per processor, % (each round) |");
    println!("|---|---|---|---|---|---|---|");
    for &m in modes {
        let shares = samples[&m]
            .iter()
            .map(|s| {
                s.shares
                    .iter()
                    .map(|p| format!("{p:.0}"))
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        let dynamodb: Vec<f64> = samples[&m].iter().filter_map(|s| s.dynamodb_cpu).collect();
        println!(
            "| {} | {:.2} | {:.2} | {:.0} / {:.0} ({:.1}) | {:.2} / {:.2} / {} / {:.2} | {:.0} | {} |",
            m.label(),
            med(m, |s| s.first),
            med(m, |s| s.discovery_cpu),
            med(m, |s| s.dynamodb_calls[0]),
            med(m, |s| s.dynamodb_calls[1]),
            med(m, |s| s.dynamodb_latency * 1e3),
            med(m, |s| s.bench_cpu),
            med(m, |s| s.services_cpu),
            if dynamodb.is_empty() {
                "?".to_string()
            } else {
                format!("{:.2}", median(dynamodb))
            },
            med(m, Sample::others_cpu),
            med(m, |s| 100.0 * s.machine_cpu / (s.wall * cores() as f64)).min(100.0),
            if shares.is_empty() {
                "—".into()
            } else {
                shares
            },
        );
    }
    println!();
}

async fn bench(mb: usize, rounds: usize) {
    let bin = binary();
    assert!(
        bin.exists(),
        "{} is missing: run this bench through `cargo bench --bench distributed`, which builds it, or set AURORA_BENCH_DIST_BIN to a release binary",
        bin.display()
    );
    if std::env::var_os("AURORA_BENCH_DIST_BIN").is_none() {
        assert!(
            bin.parent().is_some_and(|d| d.ends_with("release")),
            "{} is not a release build: run `cargo bench --bench distributed`",
            bin.display()
        );
    }
    let mut builds = vec![Build::Current];
    for (i, base) in baseline_binaries().iter().enumerate() {
        assert!(
            base.exists(),
            "AURORA_BENCH_DIST_BASELINE_BIN: {} does not exist",
            base.display()
        );
        builds.push(Build::Baseline(i));
        println!("{}: {}", Build::Baseline(i).label(), base.display());
    }
    if builds.len() > 1 {
        println!("current: {}", bin.display());
    }
    let t = Instant::now();
    let work = workload(mb);
    let mb_raw = work.bytes as f64 / 1e6;
    println!(
        "workload: {} instances × {} families × {HOURS} hourly files = {} files, {mb_raw:.1} MB, {} records (generated in {:.1} s)",
        INSTANCES.len(),
        FAMILIES.len(),
        work.files.len(),
        work.records,
        t.elapsed().as_secs_f64()
    );
    let services = Services::start();
    let mut modes = vec![Mode::Standalone];
    modes.extend(
        processor_counts()
            .into_iter()
            .map(|processors| Mode::Distributed { processors }),
    );
    let mut samples: BTreeMap<(Build, Mode), Vec<Sample>> = BTreeMap::new();
    for round in 1..=rounds {
        for &m in &modes {
            // Every build back to back, the order rotating from round to round, so that a drift
            // of the machine's load weighs on all alike.
            let mut order = builds.clone();
            order.rotate_left((round - 1) % builds.len());
            for b in order {
                let s = measure(&services, &work, (b, m), round).await;
                let build = if builds.len() > 1 {
                    format!(" [{}]", b.label())
                } else {
                    String::new()
                };
                println!(
                    "round {round}, {}{build}: {:.2} s wall ({:.1} MB/s), {:.2} CPU-s ({:.1} MB per CPU-s), first record after {:.2} s, {} records; discovery {:.2} CPU-s, DynamoDB calls {:.0} + {:.0} ({:.1} ms); window CPU: bench {:.2}, tansu+redis {:.2}, DynamoDB Local {:.2}, other users {:.2}, machine {:.2} of {:.2}",
                    m.label(),
                    s.wall,
                    mb_raw / s.wall,
                    s.cpu,
                    mb_raw / s.cpu,
                    s.first,
                    s.received,
                    s.discovery_cpu,
                    s.dynamodb_calls[0],
                    s.dynamodb_calls[1],
                    s.dynamodb_latency * 1e3,
                    s.bench_cpu,
                    s.services_cpu,
                    s.dynamodb_cpu.unwrap_or(f64::NAN),
                    s.others_cpu(),
                    s.machine_cpu,
                    s.wall * cores() as f64,
                );
                samples.entry((b, m)).or_default().push(s);
            }
        }
    }
    println!(
        "\n{mb_raw:.0} MB, {} records; median of {rounds} round(s); {} CPUs; load average now {}",
        work.records,
        cores(),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    for &b in &builds {
        if builds.len() > 1 {
            println!("\n{} build:", b.label());
        }
        let of_build: BTreeMap<Mode, Vec<Sample>> = samples
            .iter()
            .filter(|((sb, _), _)| *sb == b)
            .map(|((_, m), v)| (*m, v.clone()))
            .collect();
        print_table(&work, &modes, &of_build);
    }
    for &b in &builds[1..] {
        print_comparison(&work, &modes, &samples, b);
    }
    println!("total bench time {:.0} s", t.elapsed().as_secs_f64());
}

/// Current against `base`: the ratio of their medians, and each round's ratio (the two ran
/// back to back, so a round's pair saw nearly the same machine).
fn print_comparison(
    work: &Workload,
    modes: &[Mode],
    samples: &BTreeMap<(Build, Mode), Vec<Sample>>,
    base: Build,
) {
    let mb = work.bytes as f64 / 1e6;
    let per_cpu =
        |b: Build, m: Mode| -> Vec<f64> { samples[&(b, m)].iter().map(|s| mb / s.cpu).collect() };
    let per_wall =
        |b: Build, m: Mode| -> Vec<f64> { samples[&(b, m)].iter().map(|s| mb / s.wall).collect() };
    let pairs = |cur: Vec<f64>, base: Vec<f64>| -> String {
        cur.iter()
            .zip(&base)
            .map(|(c, b)| format!("{:.2}", c / b))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    println!(
        "current against {} (above 1: the current build is faster):",
        base.label()
    );
    println!();
    println!("| mode | MB per CPU-s: current / baseline | × baseline (medians) | × baseline, each round | MB/s (wall): current / baseline | × baseline (medians) | × baseline, each round |");
    println!("|---|---|---|---|---|---|---|");
    for &m in modes {
        let (cc, bc) = (per_cpu(Build::Current, m), per_cpu(base, m));
        let (cw, bw) = (per_wall(Build::Current, m), per_wall(base, m));
        let (mcc, mbc, mcw, mbw) = (
            median(cc.clone()),
            median(bc.clone()),
            median(cw.clone()),
            median(bw.clone()),
        );
        println!(
            "| {} | {mcc:.1} / {mbc:.1} | {:.3} | {} | {mcw:.1} / {mbw:.1} | {:.3} | {} |",
            m.label(),
            mcc / mbc,
            pairs(cc, bc),
            mcw / mbw,
            pairs(cw, bw),
        );
    }
    println!();
}

fn processor_counts() -> Vec<usize> {
    match std::env::var("AURORA_BENCH_DIST_PROCESSORS") {
        Ok(v) => v
            .split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .expect("AURORA_BENCH_DIST_PROCESSORS: comma-separated counts")
            })
            .filter(|&n| n > 0)
            .collect(),
        Err(_) => PROCESSORS.to_vec(),
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (`cargo test --benches`) only checks that
    // this builds, and a filter argument that is not ours skips it.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench")
        || args
            .iter()
            .any(|a| !a.starts_with("--") && a != "distributed")
    {
        return;
    }
    let mb = env_usize("AURORA_BENCH_DIST_MB", 256);
    let rounds = env_usize("AURORA_BENCH_DIST_ROUNDS", 3).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench(mb, rounds));
}
