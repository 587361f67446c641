//! A stand-in for OpenObserve's ingestion API, for testing a client against.
//!
//! # Brief overview
//! The real server cannot be installed from any registry this project reaches, so this module
//! reproduces the contract in `shared/reference/OPENOBSERVE.md` over real HTTP/1.1 (hyper on
//! tokio, 127.0.0.1, port 0 by default):
//!
//! - `POST /api/{org}/_bulk`, `/api/{org}/{stream}/_json`, `/api/{org}/{stream}/_multi` with
//!   OpenObserve's answers — per-record failures inside 200s, `_bulk` items grouped by stream and
//!   never in input order, `originalRecord` on failed items — and `GET /healthz`.
//! - The checks in the server's order: Content-Encoding (415 for zstd in the released versions'
//!   mode, before auth, with an `Accept-Encoding` header), Basic auth (401 `Unauthorized Access`),
//!   org (404 when orgs are modelled), the payload limit on the decompressed size (413, decoded
//!   with a bound), JSON (400 for the whole request).
//! - Records normalized as OpenObserve stores them (see [`normalize_stream_name`],
//!   [`normalize_field_name`]; flattening to 3 levels, arrays as JSON text, nulls dropped) and kept
//!   per stream so tests can assert on every one; failures counted by [`FailureKind`].
//! - Faults injected at runtime through [`Faults`]: error statuses, stalls, silent drops, a seeded
//!   random mix. A clock the test can set decides what "too old" means.
//! - The management API of v0.92 (`manage` module): stream settings, dashboards (schema v8),
//!   alerts (v2) with templates and destinations, saved views, with the server's answers an
//!   installer can trip on (404 on settings of a missing stream, 409 on a stale dashboard
//!   hash, unknown keys dropped, …); [`OpenObserveStandIn::objects`] shows what it holds.
//! - `POST /api/{org}/_search` for `SELECT *` / `SELECT COUNT(*)`, and a control API under
//!   `/_standin/` (see the `control` module docs) for tests that run the `openobserve-standin`
//!   binary as a separate process.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use simulator::openobserve::{OpenObserveConfig, OpenObserveStandIn};
//! let oo = OpenObserveStandIn::start(OpenObserveConfig::default()).await?;
//! oo.faults().fail_next(503, 2);
//! // ... point the client at oo.url() with user/password from the config ...
//! let kept = oo.records("aurora_mysql_slow");
//! # let _ = kept; oo.shutdown().await; Ok(()) }
//! ```

mod control;
mod faults;
mod manage;
mod records;
mod search;
mod server;
mod store;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tokio::task::{JoinHandle, JoinSet};

pub use faults::{FaultCommand, Faults};
pub use records::{normalize_field_name, normalize_stream_name};
pub use store::FailureKind;

use crate::util::lock;
use store::{Outcome, Store};

/// OpenObserve's default `ZO_PAYLOAD_LIMIT`: 200 MiB.
pub const DEFAULT_PAYLOAD_LIMIT_BYTES: usize = 200 << 20;

/// How the stand-in behaves.
///
/// `Default` is a released server (v0.60–v0.92: zstd refused) with Helm's time window
/// (`ZO_INGEST_ALLOWED_UPTO=24`), but the binary's own column limit (1000; Helm and Cloud set
/// 200, see [`cols_per_record_limit`](Self::cols_per_record_limit)).
#[derive(Debug, Clone, PartialEq)]
pub struct OpenObserveConfig {
    /// Address to listen on (127.0.0.1).
    pub host: IpAddr,
    /// Port to listen on; 0 picks a free one (see [`OpenObserveStandIn::url`]).
    pub port: u16,
    /// The org that [`OpenObserveStandIn::records`] and [`OpenObserveStandIn::streams`] look at
    /// (`default`).
    pub org: String,
    /// Accept any org, as the root user does by creating it on first ingest (`true`). When
    /// `false`, every org but [`org`](Self::org) answers 404.
    pub accept_any_org: bool,
    /// Basic-auth user (`ZO_ROOT_USER_EMAIL`; `root@example.com`).
    pub user: String,
    /// Basic-auth password (`ZO_ROOT_USER_PASSWORD`; `Complexpass#123`).
    pub password: String,
    /// The user's ingestion passcode (`None`): accepted in place of the password on the
    /// ingestion endpoints only (`_bulk`, `_json`, `_multi`; 401 elsewhere), and served by
    /// `GET /api/{org}/passcode` to the password (404 there when `None`).
    pub ingestion_passcode: Option<String>,
    /// Accept zstd request bodies (`false`, as every release v0.60–v0.92 answers 415).
    pub accept_zstd: bool,
    /// `ZO_INGEST_ALLOWED_UPTO`: records older than now minus this many hours fail (24, as Helm
    /// sets it; the binary's own default is 5).
    pub allowed_upto_hours: i64,
    /// `ZO_INGEST_ALLOWED_IN_FUTURE`: records newer than now plus this many hours fail (24).
    pub allowed_in_future_hours: i64,
    /// `ZO_PAYLOAD_LIMIT` on the decompressed body (200 MiB); also bounds the raw body.
    pub payload_limit_bytes: usize,
    /// `ZO_COLS_PER_RECORD_LIMIT`, against the union of one stream's fields in one request (1000,
    /// the binary's default; Helm and Cloud use 200).
    pub cols_per_record_limit: usize,
    /// Serve the `/_standin/` control API (`true`).
    pub control_api: bool,
}

impl Default for OpenObserveConfig {
    /// 127.0.0.1 on a free port, org `default` (any org accepted), `root@example.com` /
    /// `Complexpass#123`, no passcode, zstd refused with 415 (every release v0.60–v0.92),
    /// records accepted from 24 h in the past (Helm's `ZO_INGEST_ALLOWED_UPTO`; the binary's is
    /// 5) to 24 h in the future, a 200 MiB payload limit, a column limit of 1000 (the binary's
    /// `ZO_COLS_PER_RECORD_LIMIT` default; Helm and Cloud set 200: set it for a Helm-like
    /// server), and the control API on.
    fn default() -> Self {
        OpenObserveConfig {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            org: "default".to_owned(),
            accept_any_org: true,
            user: "root@example.com".to_owned(),
            password: "Complexpass#123".to_owned(),
            ingestion_passcode: None,
            accept_zstd: false,
            allowed_upto_hours: 24,
            allowed_in_future_hours: 24,
            payload_limit_bytes: DEFAULT_PAYLOAD_LIMIT_BYTES,
            cols_per_record_limit: 1000,
            control_api: true,
        }
    }
}

/// Which route a request took, for [`Stats::requests_by_endpoint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `POST /api/{org}/_bulk`
    Bulk,
    /// `POST /api/{org}/{stream}/_json`
    Json,
    /// `POST /api/{org}/{stream}/_multi`
    Multi,
    /// `POST /api/{org}/_search`
    Search,
    /// Stream settings, dashboards, alerts, templates, destinations, saved views.
    Manage,
    /// `GET /healthz`
    Healthz,
    /// `/_standin/…`
    Control,
    /// Anything else (404 or 405).
    Unknown,
}

/// What the stand-in saw, since start or the last reset.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Answers by HTTP status.
    pub requests_by_status: BTreeMap<u16, u64>,
    /// Requests by route.
    pub requests_by_endpoint: BTreeMap<Endpoint, u64>,
    /// `/api` requests by Content-Encoding: `identity`, `gzip` (`x-gzip` too), `deflate`, `br`,
    /// `zstd` (accepted or refused), and `other` for any other value, so that what clients send
    /// cannot grow the map.
    pub requests_by_encoding: BTreeMap<String, u64>,
    /// Requests that carried an `Accept-Encoding` header (the `/_standin/` control API is not
    /// counted). A client should send none: OpenObserve may then compress its answer.
    pub requests_with_accept_encoding: u64,
    /// Ingestion body bytes as received (compressed when encoded).
    pub compressed_bytes: u64,
    /// Ingestion body bytes after decoding.
    pub decompressed_bytes: u64,
    /// Records kept.
    pub records_accepted: u64,
    /// Records failed inside 200 answers, by reason.
    pub records_failed: BTreeMap<FailureKind, u64>,
    /// Records lost to the silent-drop fault (neither kept nor reported).
    pub records_dropped_silently: u64,
}

impl Stats {
    fn count_request(&mut self, endpoint: Endpoint, status: u16) {
        *self.requests_by_status.entry(status).or_default() += 1;
        *self.requests_by_endpoint.entry(endpoint).or_default() += 1;
    }

    /// Counts a Content-Encoding by its [`ENCODING_LABELS`] label; anything else is `other`.
    fn count_encoding(&mut self, encoding: &str) {
        let label = ENCODING_LABELS
            .iter()
            .find(|&&known| known == encoding)
            .copied()
            .unwrap_or(OTHER_ENCODING);
        *self
            .requests_by_encoding
            .entry(label.to_owned())
            .or_default() += 1;
    }

    fn count_outcomes<'a>(&mut self, outcomes: impl Iterator<Item = &'a Outcome>) {
        for outcome in outcomes {
            match outcome {
                Outcome::Accepted => self.records_accepted += 1,
                Outcome::Failed(f) => *self.records_failed.entry(f.kind).or_default() += 1,
                Outcome::Dropped => self.records_dropped_silently += 1,
            }
        }
    }

    /// Records failed for any reason.
    pub fn records_failed_total(&self) -> u64 {
        self.records_failed.values().sum()
    }
}

/// The Content-Encoding labels [`Stats::requests_by_encoding`] counts under their own name.
const ENCODING_LABELS: [&str; 5] = ["identity", "gzip", "deflate", "br", "zstd"];
/// The label of every other Content-Encoding.
const OTHER_ENCODING: &str = "other";

/// Everything the request handlers share.
#[derive(Debug)]
pub(crate) struct Shared {
    config: OpenObserveConfig,
    store: Mutex<Store>,
    /// What the management API keeps.
    objects: Mutex<manage::Objects>,
    stats: Mutex<Stats>,
    faults: Faults,
    /// The test's "now" in µs, or [`REAL_TIME`].
    now_override: AtomicI64,
    /// Woken after every ingestion request that reached the store.
    arrived: Notify,
}

const REAL_TIME: i64 = i64::MIN;

impl Shared {
    fn now_us(&self) -> i64 {
        match self.now_override.load(Ordering::Relaxed) {
            REAL_TIME => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
            now => now,
        }
    }

    fn set_now_us(&self, now: Option<i64>) {
        self.now_override
            .store(now.unwrap_or(REAL_TIME), Ordering::Relaxed);
    }

    fn reset(&self) {
        lock(&self.store).clear();
        *lock(&self.objects) = manage::Objects::default();
        *lock(&self.stats) = Stats::default();
        self.faults.clear();
    }
}

/// A running stand-in. Cloning is cheap and every clone drives the same server; it stops on
/// [`shutdown`](Self::shutdown) or when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct OpenObserveStandIn {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl OpenObserveStandIn {
    /// Binds `config.host:config.port` and serves until shut down. Must be called inside a tokio
    /// runtime.
    pub async fn start(config: OpenObserveConfig) -> std::io::Result<OpenObserveStandIn> {
        let listener = TcpListener::bind((config.host, config.port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            store: Mutex::default(),
            objects: Mutex::default(),
            stats: Mutex::default(),
            faults: Faults::default(),
            now_override: AtomicI64::new(REAL_TIME),
            arrived: Notify::new(),
        });
        let (stop, stopped) = watch::channel(false);
        let server = tokio::spawn(serve(listener, Arc::clone(&shared), stopped));
        Ok(OpenObserveStandIn {
            inner: Arc::new(Inner {
                shared,
                addr,
                stop,
                server: Mutex::new(Some(server)),
            }),
        })
    }

    /// Base URL, e.g. `http://127.0.0.1:40123` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &OpenObserveConfig {
        &self.inner.shared.config
    }

    /// The handle to inject faults with (cheap to clone, shareable across tasks).
    pub fn faults(&self) -> Faults {
        self.inner.shared.faults.clone()
    }

    /// Sets "now" in µs since the epoch for the time-window checks and missing `_timestamp`s;
    /// `None` goes back to real time.
    pub fn set_now_us(&self, now_us: Option<i64>) {
        self.inner.shared.set_now_us(now_us);
    }

    /// Every record kept in `stream` of the configured org, normalized, in arrival order. The
    /// name is normalized as the server does, so `"Slow-Log"` finds `slow_log`.
    pub fn records(&self, stream: &str) -> Vec<Map<String, Value>> {
        self.records_in(&self.inner.shared.config.org, stream)
    }

    /// Like [`records`](Self::records) for another org.
    pub fn records_in(&self, org: &str, stream: &str) -> Vec<Map<String, Value>> {
        lock(&self.inner.shared.store).records(org, &normalize_stream_name(stream))
    }

    /// Over every stream of the configured org: how many records carry each value of the
    /// string field `field` (records without it count under `""`). Tests count arrivals and
    /// duplicates by `record_id` with it.
    pub fn count_by_field(&self, field: &str) -> std::collections::BTreeMap<String, usize> {
        let mut out = std::collections::BTreeMap::new();
        for stream in self.streams() {
            for r in self.records(&stream) {
                let v = r.get(field).and_then(|v| v.as_str()).unwrap_or_default();
                *out.entry(v.to_string()).or_insert(0) += 1;
            }
        }
        out
    }

    /// How many records `stream` of the configured org holds.
    pub fn count(&self, stream: &str) -> usize {
        let org = &self.inner.shared.config.org;
        lock(&self.inner.shared.store).with_records(org, &normalize_stream_name(stream), <[_]>::len)
    }

    /// Waits until `stream` of the configured org holds at least `n` records or `timeout` has
    /// passed, and returns its count then: for tests whose client sends in the background.
    pub async fn wait_for_count(&self, stream: &str, n: usize, timeout: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Created before the count is read, so an ingest in between still wakes it.
            let arrived = self.inner.shared.arrived.notified();
            let count = self.count(stream);
            if count >= n || tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return self.count(stream);
            }
        }
    }

    /// Names of the configured org's streams holding records, sorted.
    pub fn streams(&self) -> Vec<String> {
        lock(&self.inner.shared.store).streams(&self.inner.shared.config.org)
    }

    /// What the management API holds for the configured org: `{"streams": {name: settings},
    /// "dashboards": [v8 …], "alerts": […], "templates": […], "destinations": […], "views":
    /// [{view_id, view_name, data}]}` (streams listed only once created or given settings).
    pub fn objects(&self) -> Value {
        lock(&self.inner.shared.objects).snapshot(&self.inner.shared.config.org)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        lock(&self.inner.shared.stats).clone()
    }

    /// Forgets records, stream schemas, stats and pending faults (not the clock).
    pub fn reset(&self) {
        self.inner.shared.reset();
    }

    /// Stops accepting, closes every connection (stalled answers included) and waits for the
    /// server task.
    pub async fn shutdown(&self) {
        let _ = self.inner.stop.send(true);
        let server = lock(&self.inner.server).take();
        if let Some(server) = server {
            let _ = server.await;
        }
    }
}

/// Back-off after a failed `accept` (e.g. out of file descriptors), so the loop does not spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(10);

async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let shared = Arc::clone(&shared);
                    let service = service_fn(move |req| server::handle(Arc::clone(&shared), req));
                    connections.spawn(async move {
                        let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                    });
                }
                Err(_) => tokio::time::sleep(ACCEPT_RETRY).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}
