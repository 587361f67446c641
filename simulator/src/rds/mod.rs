//! An RDS API simulator: the Query API (`DescribeDBClusters`, `DescribeDBInstances`,
//! `DescribeDBLogFiles`, `DownloadDBLogFilePortion`) as `aws-sdk-rds` sends and parses it, and
//! the REST `downloadCompleteLogFile`, over an account of simulated Aurora clusters whose log
//! files grow, rotate and expire under one clock the test moves.
//!
//! # Brief overview
//! - [`RdsSimulator::start`] binds `127.0.0.1:0` (by default) and serves HTTP/1.1 until dropped
//!   (which also closes the open connections).
//!   Point a client at [`RdsSimulator::endpoint_url`] with the [`TEST_ACCESS_KEY_ID`] /
//!   [`TEST_SECRET_ACCESS_KEY`] credentials and the configured region.
//! - The clock: [`RdsSimulator::advance_to`] / [`RdsSimulator::advance_by`] write every entry
//!   due, rotate at hour boundaries and delete by retention ([`crate::instance`]);
//!   [`RdsSimulator::spawn_clock`] moves it with real time for a live demo.
//! - The faults of RDS.md, switched at runtime through [`RdsSimulator::faults`]
//!   ([`Faults`]); [`RdsSimulator::stats`] counts calls by action and faults fired.
//! - Accessors ([`RdsSimulator::files`], [`RdsSimulator::entries_written`]) let tests compute
//!   what a client should have received.
//!
//! Markers of `DownloadDBLogFilePortion` are `H:OFFSET` like RDS's `17:13387550`: the hour of
//! day (UTC) of the hour segment, and a byte offset in it. A marker of an active MySQL file
//! (`slowquery/mysql-slowquery.log`) keeps pointing at its hour after the hourly rotation: it is
//! served from the rotated `….YYYY-MM-DD.HH` file, and at that hour's end the next marker is the
//! next hour's `H:0`. `"0"` reads from the start, no marker reads the tail. `Throttling` comes
//! from one token bucket shared by every call (off unless configured).
//!
//! The protocol internals (parsing, XML, SigV4 verification, HTTP) are private; the public API
//! is the configuration, the simulator handle, the fault switches and the snapshots.
//!
//! # Limits a test should know about
//! - Signatures are verified (credentials, region, service `rds`, the signed headers, path,
//!   query and body), but the request time (`X-Amz-Date`) is **not** checked against any clock:
//!   the simulated clock need not be real time, so there is no `Signature expired` answer and a
//!   client with a skewed clock is not caught here. Only a presigned URL's `X-Amz-Expires` is
//!   checked, against the real clock (and refused above 604800 s, as AWS does).
//! - Each REST complete-file download of a generated log file copies the whole file (under the
//!   world's lock) before streaming it: memory per concurrent download is the file's size, on
//!   top of the file itself. (A portion copies only its page, at most 1 MB; a file added with
//!   [`RdsSimulator::add_file`] is shared, not copied; one added with
//!   [`RdsSimulator::add_disk_file`] streams from disk in 64 KiB chunks, which is the way to
//!   serve large files.) [`RdsSimulator::files`] copies every generated file too.
//! - Dropping the [`RdsSimulator`] stops the accept loop and closes every open connection,
//!   keep-alive ones included.

mod api;
mod control;
mod error;
mod faults;
mod portion;
mod server;
mod sigv4;
mod world;
mod xml;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::util::lock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::generator::LogKind;
use crate::instance::{Engine, InstanceLogs};

pub use error::{ApiError, SimError};
pub use faults::{
    Fault, Faults, RotationNotFound, RotationSide, SimStats, ThrottleConfig, KNOWN_ACTIONS,
    OTHER_ACTION,
};
pub use portion::{PORTION_CAP_BYTES, TRUNCATION_SUFFIX};
pub use sigv4::SIGNING_SERVICE;
pub use world::MAX_PORTION_LINES;
pub use xml::RDS_XMLNS;

use faults::FaultState;
use world::{AddedData, AddedFile, Cluster, DiskFile, Instance, World};

/// The access key id the simulator accepts.
pub const TEST_ACCESS_KEY_ID: &str = "AKIDRDSSIMULATOR0001";
/// The secret access key the simulator accepts.
pub const TEST_SECRET_ACCESS_KEY: &str = "rds/simulator/test/secret/key/0000000001";
/// The account id in ARNs.
pub const TEST_ACCOUNT_ID: &str = "123456789012";
/// The region unless configured.
pub const DEFAULT_REGION: &str = "us-east-1";

/// One simulated Aurora cluster.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// `DBClusterIdentifier`.
    pub id: String,
    /// The engine.
    pub engine: Engine,
    /// `EngineVersion`.
    pub engine_version: String,
    /// `DBInstanceIdentifier`s; the first is the writer.
    pub instances: Vec<String>,
    /// Entries a second each log kind of each instance writes.
    pub entries_per_second: f64,
    /// Rates for single kinds, overriding `entries_per_second`.
    pub rates: Vec<(LogKind, f64)>,
    /// Seed of the instances' generators.
    pub seed: u64,
    /// Tags of the cluster and its instances.
    pub tags: Vec<(String, String)>,
    /// How long rotated files are kept (`None`: the engine's default, 24 h for MySQL, 3 days
    /// for PostgreSQL). Shorter keeps a fast demo clock from filling memory.
    pub retention: Option<Duration>,
}

impl ClusterConfig {
    /// A cluster with the engine's default version, one entry a second per kind, seed 1.
    pub fn new(id: &str, engine: Engine, instances: &[&str]) -> ClusterConfig {
        ClusterConfig {
            id: id.to_string(),
            engine,
            engine_version: world::engine_defaults(engine).0.to_string(),
            instances: instances.iter().map(|s| s.to_string()).collect(),
            entries_per_second: 1.0,
            rates: Vec::new(),
            seed: 1,
            tags: vec![("env".to_string(), "test".to_string())],
            retention: None,
        }
    }

    /// Set the entries a second of every kind.
    pub fn with_rate(mut self, entries_per_second: f64) -> ClusterConfig {
        self.entries_per_second = entries_per_second;
        self
    }

    /// Set the entries a second of one kind.
    pub fn with_kind_rate(mut self, kind: LogKind, entries_per_second: f64) -> ClusterConfig {
        self.rates.push((kind, entries_per_second));
        self
    }

    /// Set the seed.
    pub fn with_seed(mut self, seed: u64) -> ClusterConfig {
        self.seed = seed;
        self
    }
}

/// A cluster of another engine (`docdb`, `neptune`): listed by the describe calls like RDS
/// lists them, with no log files, so that clients must filter on engine.
#[derive(Clone, Debug)]
pub struct ForeignClusterConfig {
    /// `DBClusterIdentifier`.
    pub id: String,
    /// `Engine`, e.g. `docdb`.
    pub engine: String,
    /// `EngineVersion`.
    pub engine_version: String,
    /// `DBInstanceIdentifier`s; the first is the writer.
    pub instances: Vec<String>,
}

/// The simulator's configuration.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The Aurora clusters.
    pub clusters: Vec<ClusterConfig>,
    /// Clusters of other engines.
    pub foreign_clusters: Vec<ForeignClusterConfig>,
    /// The region signatures must be scoped to.
    pub region: String,
    /// The access key id accepted.
    pub access_key_id: String,
    /// The secret access key accepted.
    pub secret_access_key: String,
    /// Where to listen (`127.0.0.1:0`: a free port).
    pub bind: SocketAddr,
    /// The simulated clock at the start, µs since the epoch (`None`: the real clock).
    pub start_us: Option<i64>,
    /// Logs begin this long before the start (files already written and rotated).
    pub history: Duration,
    /// Seed of the faults' probabilities.
    pub fault_seed: u64,
    /// The token bucket from the start (`None`: no throttling unless switched on).
    pub throttle: Option<ThrottleConfig>,
    /// Whether Query API calls must be SigV4-signed with the test credentials (the REST
    /// download always must).
    pub verify_query_signatures: bool,
    /// Serve the control API under `/_sim/` (for a simulator run as a separate process).
    pub control_api: bool,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            clusters: Vec::new(),
            foreign_clusters: Vec::new(),
            region: DEFAULT_REGION.to_string(),
            access_key_id: TEST_ACCESS_KEY_ID.to_string(),
            secret_access_key: TEST_SECRET_ACCESS_KEY.to_string(),
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            start_us: None,
            history: Duration::ZERO,
            fault_seed: 0,
            throttle: None,
            verify_query_signatures: true,
            control_api: false,
        }
    }
}

impl SimConfig {
    /// Add an Aurora cluster.
    pub fn with_cluster(mut self, cluster: ClusterConfig) -> SimConfig {
        self.clusters.push(cluster);
        self
    }

    /// Add a DocumentDB cluster `id` with one instance `<id>-1`.
    pub fn with_docdb(mut self, id: &str) -> SimConfig {
        self.foreign_clusters.push(ForeignClusterConfig {
            id: id.to_string(),
            engine: "docdb".to_string(),
            engine_version: "5.0.0".to_string(),
            instances: vec![format!("{id}-1")],
        });
        self
    }

    /// Start the clock at `start_us`.
    pub fn with_start_us(mut self, start_us: i64) -> SimConfig {
        self.start_us = Some(start_us);
        self
    }
}

/// One file of an instance, as it is now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSnapshot {
    /// `LogFileName`.
    pub name: String,
    /// Its bytes (empty for a file served from disk: see `on_disk`).
    pub data: Bytes,
    /// `Size`.
    pub size: u64,
    /// `LastWritten`, ms.
    pub last_written_ms: i64,
    /// Entries in it (0 for added files).
    pub entries: u64,
    /// Whether the engine still writes to it.
    pub active: bool,
    /// Served from a file on disk.
    pub on_disk: bool,
}

/// State shared by the server, the clock and the handle.
#[derive(Debug)]
pub(crate) struct Shared {
    world: Mutex<World>,
    faults: Faults,
    verifier: sigv4::Verifier,
    region: String,
    verify_query_signatures: bool,
    control_api: bool,
    next_request: AtomicU64,
}

impl Shared {
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }

    pub(crate) fn fault_state(&self) -> MutexGuard<'_, FaultState> {
        self.faults.lock()
    }

    pub(crate) fn request_id(&self) -> String {
        let n = self.next_request.fetch_add(1, Ordering::Relaxed);
        format!("5e1f0000-0000-4000-8000-{n:012x}")
    }

    pub(crate) fn advance_to(&self, to_us: i64) {
        let mut w = self.world();
        if to_us <= w.now_us {
            return;
        }
        w.now_us = to_us;
        for inst in w.instances.values_mut() {
            if let Some(logs) = inst.logs.as_mut() {
                logs.advance_to(to_us);
            }
        }
    }
}

/// A running simulator; stops serving when dropped: the listener closes and every open
/// connection (keep-alive ones included, and downloads in flight) is closed.
#[derive(Debug)]
pub struct RdsSimulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RdsSimulator {
    fn drop(&mut self) {
        // The accept task owns the listener and the set of connection tasks: aborting it drops
        // both, and dropping the set aborts every connection.
        self.server.abort();
    }
}

/// The real clock, µs since the epoch.
fn real_now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

fn build_world(config: &SimConfig, start_us: i64) -> Result<World, SimError> {
    let history = i64::try_from(config.history.as_micros()).unwrap_or(i64::MAX);
    let logs_start = start_us.saturating_sub(history);
    let mut w = World {
        now_us: logs_start,
        clusters: BTreeMap::new(),
        instances: BTreeMap::new(),
    };
    for c in &config.clusters {
        add_cluster(
            &mut w,
            &c.id,
            c.engine.name(),
            &c.engine_version,
            &c.instances,
            &c.tags,
        )?;
        for (i, id) in c.instances.iter().enumerate() {
            let seed = c.seed.wrapping_mul(1_000_003).wrapping_add(i as u64);
            let mut logs = InstanceLogs::new(c.engine, seed, logs_start, c.entries_per_second);
            for &(kind, rate) in &c.rates {
                logs = logs.with_rate(kind, rate);
            }
            if let Some(r) = c.retention {
                logs = logs.with_retention_us(r.as_micros() as i64);
            }
            add_instance(&mut w, config, &c.id, i, id, Some(logs))?;
        }
    }
    for c in &config.foreign_clusters {
        add_cluster(
            &mut w,
            &c.id,
            &c.engine,
            &c.engine_version,
            &c.instances,
            &[],
        )?;
        for (i, id) in c.instances.iter().enumerate() {
            add_instance(&mut w, config, &c.id, i, id, None)?;
        }
    }
    Ok(w)
}

fn add_cluster(
    w: &mut World,
    id: &str,
    engine: &str,
    engine_version: &str,
    members: &[String],
    tags: &[(String, String)],
) -> Result<(), SimError> {
    let cluster = Cluster {
        id: id.to_string(),
        engine: engine.to_string(),
        engine_version: engine_version.to_string(),
        members: members.to_vec(),
        tags: tags.to_vec(),
    };
    match w.clusters.insert(id.to_string(), cluster) {
        Some(_) => Err(SimError::Config(format!("cluster {id} configured twice"))),
        None => Ok(()),
    }
}

/// Add the `index`th member of a cluster added before.
fn add_instance(
    w: &mut World,
    config: &SimConfig,
    cluster: &str,
    index: usize,
    id: &str,
    logs: Option<InstanceLogs>,
) -> Result<(), SimError> {
    const ZONES: [&str; 3] = ["a", "b", "c"];
    let c = &w.clusters[cluster];
    let inst = Instance {
        id: id.to_string(),
        cluster: cluster.to_string(),
        engine: c.engine.clone(),
        engine_version: c.engine_version.clone(),
        availability_zone: format!("{}{}", config.region, ZONES[index % ZONES.len()]),
        resource_id: format!("db-{:026X}", fxhash(id) % (1u128 << 104)),
        writer: index == 0,
        tags: c.tags.clone(),
        logs,
        added: BTreeMap::new(),
    };
    match w.instances.insert(id.to_string(), inst) {
        Some(_) => Err(SimError::Config(format!("instance {id} configured twice"))),
        None => Ok(()),
    }
}

/// A stable hash for made-up resource ids.
fn fxhash(s: &str) -> u128 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u128, |h, b| {
        (h ^ u128::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl RdsSimulator {
    /// Build the account and start serving (call inside a tokio runtime).
    pub async fn start(config: SimConfig) -> Result<RdsSimulator, SimError> {
        let start_us = config
            .start_us
            .unwrap_or_else(|| real_now_us() / 1_000_000 * 1_000_000);
        let world = build_world(&config, start_us)?;
        let shared = Arc::new(Shared {
            world: Mutex::new(world),
            faults: Faults {
                state: Arc::new(Mutex::new(FaultState::new(
                    config.fault_seed,
                    config.throttle,
                ))),
            },
            verifier: sigv4::Verifier {
                access_key_id: config.access_key_id.clone(),
                secret_access_key: config.secret_access_key.clone(),
                region: config.region.clone(),
            },
            region: config.region.clone(),
            verify_query_signatures: config.verify_query_signatures,
            control_api: config.control_api,
            next_request: AtomicU64::new(1),
        });
        shared.advance_to(start_us);
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|source| SimError::Bind {
                addr: config.bind,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind {
            addr: config.bind,
            source,
        })?;
        let server = tokio::spawn(server::serve(listener, Arc::clone(&shared)));
        Ok(RdsSimulator {
            shared,
            addr,
            server,
        })
    }

    /// `http://127.0.0.1:PORT`: the endpoint URL for the SDK.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address served.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The region signatures must be scoped to.
    pub fn region(&self) -> &str {
        &self.shared.region
    }

    /// The access key id and secret the simulator accepts.
    pub fn credentials(&self) -> (&str, &str) {
        (
            &self.shared.verifier.access_key_id,
            &self.shared.verifier.secret_access_key,
        )
    }

    /// The simulated clock, µs since the epoch.
    pub fn now_us(&self) -> i64 {
        self.shared.world().now_us
    }

    /// Move the clock to `to_us`, writing, rotating and deleting files (never backwards).
    pub fn advance_to(&self, to_us: i64) {
        self.shared.advance_to(to_us);
    }

    /// Move the clock forward by `by` (saturating at the end of time).
    pub fn advance_by(&self, by: Duration) {
        let by = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        let to = self.now_us().saturating_add(by);
        self.shared.advance_to(to);
    }

    /// Move the clock with real time × `speed` on a thread of its own, ten times a second,
    /// until the returned handle is dropped.
    pub fn spawn_clock(&self, speed: f64) -> ClockHandle {
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::clone(&self.shared);
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let (real0, sim0) = (Instant::now(), shared.world().now_us);
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(CLOCK_TICK);
                let elapsed = real0.elapsed().as_secs_f64() * speed.max(0.0);
                shared.advance_to(sim0 + (elapsed * 1e6) as i64);
            }
        });
        ClockHandle {
            stop,
            thread: Some(thread),
        }
    }

    /// The fault switches.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Calls by action and faults fired.
    pub fn stats(&self) -> SimStats {
        self.shared.faults.stats()
    }

    /// Entries written by every instance, including those in deleted files.
    pub fn entries_written(&self) -> u64 {
        let w = self.shared.world();
        w.instances
            .values()
            .filter_map(|i| i.logs.as_ref())
            .map(InstanceLogs::entries_written)
            .sum()
    }

    /// Entries in files deleted by retention.
    pub fn entries_deleted(&self) -> u64 {
        let w = self.shared.world();
        w.instances
            .values()
            .filter_map(|i| i.logs.as_ref())
            .map(InstanceLogs::entries_deleted)
            .sum()
    }

    /// Entries written by one instance.
    pub fn instance_entries_written(&self, instance: &str) -> Option<u64> {
        let w = self.shared.world();
        let inst = w.instances.get(instance)?;
        Some(inst.logs.as_ref().map_or(0, InstanceLogs::entries_written))
    }

    /// Every instance id.
    pub fn instance_ids(&self) -> Vec<String> {
        self.shared.world().instances.keys().cloned().collect()
    }

    /// The files of an instance now, by name.
    pub fn files(&self, instance: &str) -> Option<Vec<FileSnapshot>> {
        let w = self.shared.world();
        Some(snapshots(w.instances.get(instance)?))
    }

    /// Every file of every instance now, as `(instance, file)`.
    pub fn all_files(&self) -> Vec<(String, FileSnapshot)> {
        let w = self.shared.world();
        w.instances
            .iter()
            .flat_map(|(id, inst)| snapshots(inst).into_iter().map(move |f| (id.clone(), f)))
            .collect()
    }

    /// One file of an instance now.
    pub fn file(&self, instance: &str, name: &str) -> Option<FileSnapshot> {
        self.files(instance)?.into_iter().find(|f| f.name == name)
    }

    /// Add a file to an instance, as it is: listed and served, never rotated or deleted. A
    /// file of the same name is replaced.
    pub fn add_file(
        &self,
        instance: &str,
        name: &str,
        data: impl Into<Bytes>,
        last_written_ms: i64,
    ) -> Result<(), SimError> {
        let file = AddedFile {
            data: AddedData::Memory(data.into()),
            last_written_ms,
        };
        self.insert_added(instance, name, file)
    }

    /// Add a file served from `path` on disk (for files too large to hold in memory); the file
    /// must not change while the simulator serves it.
    pub fn add_disk_file(
        &self,
        instance: &str,
        name: &str,
        path: &Path,
        last_written_ms: i64,
    ) -> Result<(), SimError> {
        let io = |source| SimError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let disk = DiskFile { file, len };
        let file = AddedFile {
            data: AddedData::Disk(Arc::new(disk)),
            last_written_ms,
        };
        self.insert_added(instance, name, file)
    }

    fn insert_added(&self, instance: &str, name: &str, file: AddedFile) -> Result<(), SimError> {
        let mut w = self.shared.world();
        let inst = w
            .instances
            .get_mut(instance)
            .ok_or_else(|| SimError::NoSuchInstance(instance.to_string()))?;
        inst.added.insert(name.to_string(), file);
        Ok(())
    }
}

fn snapshots(inst: &Instance) -> Vec<FileSnapshot> {
    let mut out: Vec<FileSnapshot> = inst
        .logs
        .iter()
        .flat_map(|l| l.files())
        .map(|f| FileSnapshot {
            name: f.name.clone(),
            data: Bytes::copy_from_slice(&f.data),
            size: f.size(),
            last_written_ms: f.last_written_ms,
            entries: f.entries,
            active: f.active,
            on_disk: false,
        })
        .chain(inst.added.iter().map(|(name, f)| {
            let (data, on_disk) = match &f.data {
                AddedData::Memory(b) => (b.clone(), false),
                AddedData::Disk(_) => (Bytes::new(), true),
            };
            FileSnapshot {
                name: name.clone(),
                size: f.data.source().len(),
                data,
                last_written_ms: f.last_written_ms,
                entries: 0,
                active: false,
                on_disk,
            }
        }))
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// How often [`RdsSimulator::spawn_clock`] moves the clock.
const CLOCK_TICK: Duration = Duration::from_millis(100);

/// Keeps the clock of [`RdsSimulator::spawn_clock`] running; dropping it stops the clock.
#[derive(Debug)]
pub struct ClockHandle {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for ClockHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
