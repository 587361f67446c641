//! The test kit: the simulated world as tests, benches and `aurora-logs demo` set it up, so
//! that each of them does not build its own.
//!
//! - [`two_clusters`] and [`hour_start_plus_20_min`]: the usual world (an Aurora MySQL and an
//!   Aurora PostgreSQL cluster with rotated history) and a clock that knows when rotations come;
//! - [`World`]: the RDS simulator, the OpenObserve stand-in and a state directory, with the
//!   verdict every end-to-end test asserts ([`World::assert_all_arrived`]: every expected
//!   record id arrived; returns how many arrived twice);
//! - [`BulkReceiver`]: a minimal `_bulk` endpoint that decompresses, counts and acknowledges
//!   every record (benches: the stand-in would dominate the CPU);
//! - [`process_cpu_seconds`]: CPU time of a process from `/proc`, for the benches' per-core
//!   figures;
//! - [`topics_toml`] and [`dynamodb_local_toml`]: the configuration tables that every
//!   distributed test and bench writes alike.
//!
//! The kit knows nothing of aurora-logs' own types: what a test needs in them (the RDS or
//! OpenObserve section of a configuration) it builds from the endpoints given here.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Request, Response};

use crate::instance::Engine;
use crate::openobserve::{OpenObserveConfig, OpenObserveStandIn};
use crate::rds::{ClusterConfig, RdsSimulator, SimConfig};

/// The `[kafka.topics]` table of a configuration whose topics carry `prefix`: one line a log
/// kind, as `contract::Topics` names them.
pub fn topics_toml(prefix: &str) -> String {
    let topics = contract::Topics::with_prefix(prefix);
    let mut out = String::from("[kafka.topics]\n");
    for kind in contract::LogKind::ALL {
        out.push_str(&format!("{} = \"{}\"\n", kind.as_str(), topics.topic(kind)));
    }
    out
}

/// The `[dynamodb]` table for DynamoDB Local at `endpoint` (any region and keys do); the
/// caller may add keys after it.
pub fn dynamodb_local_toml(table: &str, endpoint: &str) -> String {
    format!(
        "[dynamodb]\ntable = \"{table}\"\nregion = \"us-east-1\"\nendpoint_url = \"{endpoint}\"\n\
         access_key_id = \"aurora\"\nsecret_access_key = \"aurora\"\n"
    )
}

/// The simulated clock's start: 20 minutes into the current hour, so tests know when the
/// hourly rotations come (at +40 min, +100 min, …).
pub fn hour_start_plus_20_min() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    now / 3_600_000_000 * 3_600_000_000 + 20 * 60_000_000
}

/// An Aurora MySQL cluster (`shop-mysql`, one instance) and an Aurora PostgreSQL one
/// (`billing-pg`, one instance), each writing `rate` entries a second per kind, with 90 minutes
/// of history (rotated files included), from [`hour_start_plus_20_min`].
pub fn two_clusters(rate: f64) -> SimConfig {
    SimConfig {
        history: Duration::from_secs(90 * 60),
        start_us: Some(hour_start_plus_20_min()),
        ..Default::default()
    }
    .with_cluster(
        ClusterConfig::new("shop-mysql", Engine::AuroraMysql, &["shop-mysql-1"])
            .with_rate(rate)
            .with_seed(7),
    )
    .with_cluster(
        ClusterConfig::new("billing-pg", Engine::AuroraPostgresql, &["billing-pg-1"])
            .with_rate(rate)
            .with_seed(9),
    )
}

/// The RDS simulator, the OpenObserve stand-in and a state directory.
pub struct World {
    /// The RDS API.
    pub rds: RdsSimulator,
    /// OpenObserve.
    pub oo: OpenObserveStandIn,
    /// A state directory of the test's own.
    pub state: tempfile::TempDir,
}

impl World {
    /// Start both simulators.
    pub async fn start(sim: SimConfig, standin: OpenObserveConfig) -> std::io::Result<World> {
        Ok(World {
            rds: RdsSimulator::start(sim)
                .await
                .map_err(std::io::Error::other)?,
            oo: OpenObserveStandIn::start(standin).await?,
            state: tempfile::tempdir()?,
        })
    }

    /// Every record id the stand-in holds, with how many times it arrived.
    pub fn received(&self) -> BTreeMap<String, usize> {
        self.oo.count_by_field("record_id")
    }

    /// Assert that exactly the `expected` record ids arrived (and that the world wrote enough
    /// to test); return how many arrived more than once, printing a few duplicates.
    pub fn assert_all_arrived(&self, expected: &BTreeSet<String>) -> usize {
        let received = self.received();
        let got: BTreeSet<String> = received.keys().cloned().collect();
        let missing: Vec<_> = expected.difference(&got).take(5).collect();
        let extra: Vec<_> = got.difference(expected).take(5).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "expected {} records, got {}; missing e.g. {missing:?}; unexpected e.g. {extra:?}",
            expected.len(),
            got.len()
        );
        assert!(
            expected.len() > 100,
            "the world wrote too little to test: {}",
            expected.len()
        );
        let dups: Vec<&String> = received
            .iter()
            .filter(|(_, &n)| n > 1)
            .map(|(k, _)| k)
            .collect();
        if let Some(first) = dups.first() {
            self.show_duplicates(first);
        }
        dups.len()
    }

    fn show_duplicates(&self, id: &str) {
        let mut shown = 0;
        for stream in self.oo.streams() {
            for r in self.oo.records(&stream) {
                let this = r.get("record_id").and_then(|v| v.as_str()) == Some(id);
                if shown < 6 && this {
                    eprintln!(
                        "duplicate: {}",
                        serde_json::to_string(&r).unwrap_or_default()
                    );
                    shown += 1;
                }
            }
        }
    }
}

/// What a [`BulkReceiver`] acknowledged.
#[derive(Debug, Default)]
pub struct Received {
    /// Records acknowledged.
    pub records: AtomicU64,
    /// Request body bytes, as sent (compressed).
    pub body_bytes: AtomicU64,
    /// When the first request arrived.
    pub first_at: Mutex<Option<Instant>>,
    /// With [`Received::keep_arrivals`]: when records arrived, sampled (see [`Arrivals`]).
    pub arrivals: Mutex<Option<Arrivals>>,
}

/// The most arrivals an [`Arrivals`] sample keeps.
pub const MAX_ARRIVALS: usize = 4_000_000;

/// Arrival times of the records a [`BulkReceiver`] acknowledged, in bounded memory: a uniform
/// sample for delay percentiles, and exact counts around a mark (such as an hour's rotation).
#[derive(Debug, Default)]
pub struct Arrivals {
    /// Every `stride`-th record's `(log_type, _timestamp µs, arrival µs since the epoch)`. When
    /// [`MAX_ARRIVALS`] are kept, every other one goes and the stride doubles, so the sample
    /// stays uniform over the whole run.
    pub sample: Vec<(String, i64, i64)>,
    /// Records seen.
    pub seen: u64,
    stride: u64,
    /// The most kept (0: [`MAX_ARRIVALS`]).
    cap: usize,
    /// Records whose `_timestamp` is before this are counted (µs since the epoch).
    pub mark_us: Option<i64>,
    /// Records before the mark.
    pub before_mark: u64,
    /// When the last record before the mark arrived (µs since the epoch).
    pub last_before_mark_us: i64,
}

impl Arrivals {
    /// One record of `kind` written at `ts` (none: it had no `_timestamp`) arrived `now`.
    fn note(&mut self, kind: &str, ts: Option<i64>, now: i64) {
        if let (Some(mark), Some(ts)) = (self.mark_us, ts) {
            if ts < mark {
                self.before_mark += 1;
                self.last_before_mark_us = self.last_before_mark_us.max(now);
            }
        }
        let ts = ts.unwrap_or(0);
        self.seen += 1;
        let stride = self.stride.max(1);
        if self.seen % stride != 0 {
            return;
        }
        let cap = if self.cap == 0 {
            MAX_ARRIVALS
        } else {
            self.cap
        };
        if self.sample.len() >= cap {
            let mut i = 0;
            self.sample.retain(|_| {
                i += 1;
                i % 2 == 0
            });
            self.stride = stride * 2;
            if self.seen % self.stride != 0 {
                return;
            }
        }
        self.sample.push((kind.to_string(), ts, now));
    }
}

/// What [`Received::note_arrivals`] reads of a record.
#[derive(serde::Deserialize)]
struct ArrivalFields<'a> {
    #[serde(borrow)]
    log_type: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "_timestamp")]
    timestamp: Option<i64>,
}

impl Received {
    /// Keep arrivals from now on (for delays); `mark_us`: also count the records written
    /// before it.
    pub fn keep_arrivals(&self, mark_us: Option<i64>) {
        crate::util::lock(&self.arrivals)
            .get_or_insert_with(Arrivals::default)
            .mark_us = mark_us;
    }

    /// Note the arrivals of the records in `raw` (a `_bulk` body), when kept.
    fn note_arrivals(&self, raw: &[u8]) {
        let mut kept = crate::util::lock(&self.arrivals);
        let Some(kept) = kept.as_mut() else { return };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        for line in raw.split(|&b| b == b'\n').skip(1).step_by(2) {
            // The two fields only, borrowed where the text allows: every record is read.
            let Ok(doc) = serde_json::from_slice::<ArrivalFields<'_>>(line) else {
                continue;
            };
            kept.note(doc.log_type.as_deref().unwrap_or(""), doc.timestamp, now);
        }
    }
}

/// Largest request body a [`BulkReceiver`] reads.
const MAX_BODY: usize = 512 << 20;

/// A minimal `_bulk` endpoint on loopback: decompresses (zstd, gzip), counts the records and
/// acknowledges every one of them in OpenObserve's answer shape.
#[derive(Debug)]
pub struct BulkReceiver {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it acknowledged so far.
    pub stats: Arc<Received>,
}

impl BulkReceiver {
    /// Listen on a free loopback port (inside a tokio runtime).
    pub async fn start() -> std::io::Result<BulkReceiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(Received::default());
        let shared = stats.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let stats = shared.clone();
                tokio::spawn(async move {
                    let svc =
                        hyper::service::service_fn(move |req| acknowledge(stats.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(BulkReceiver { addr, stats })
    }

    /// Records acknowledged so far.
    pub fn records(&self) -> u64 {
        self.stats.records.load(Ordering::Relaxed)
    }
}

/// One `_bulk` request: every record acknowledged.
async fn acknowledge(
    stats: Arc<Received>,
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let encoding = req
        .headers()
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    stats
        .body_bytes
        .fetch_add(body.len() as u64, Ordering::Relaxed);
    let raw = match encoding.as_str() {
        "zstd" => zstd::decode_all(&body[..])?,
        "gzip" => {
            let mut v = Vec::new();
            flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut v)?;
            v
        }
        _ => body.to_vec(),
    };
    // `_bulk`: an action line and a document line per record.
    let n = memchr::memchr_iter(b'\n', &raw).count() / 2;
    crate::util::lock(&stats.first_at).get_or_insert_with(Instant::now);
    stats.note_arrivals(&raw);
    stats.records.fetch_add(n as u64, Ordering::Relaxed);
    let mut answer = String::with_capacity(40 * n + 40);
    answer.push_str(r#"{"took":1,"errors":false,"items":["#);
    for i in 0..n {
        if i > 0 {
            answer.push(',');
        }
        answer.push_str(r#"{"index":{"_index":"s","status":200}}"#);
    }
    answer.push_str("]}");
    Ok(Response::new(Full::new(Bytes::from(answer))))
}

/// CPU seconds (user + system, all threads) of process `pid` (`self` for this one), from
/// `/proc`; 0 once it is gone.
pub fn process_cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After the ")": state is field 0, utime 11, stime 12 (clock ticks of 1/100 s on Linux).
    (ticks(11) + ticks(12)) / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrivals_stay_a_bounded_uniform_sample_with_exact_counts_at_the_mark() {
        const CAP: usize = 4_000;
        let mut a = Arrivals {
            mark_us: Some(1_000),
            cap: CAP,
            ..Default::default()
        };
        let n = 3 * CAP as u64 + 5;
        for i in 0..n {
            // Timestamps 0, 1, 2, …: the first thousand are before the mark.
            a.note("k", Some(i as i64), 10 + i as i64);
        }
        assert_eq!(a.seen, n);
        assert!(a.sample.len() <= CAP, "{}", a.sample.len());
        assert!(a.sample.len() >= CAP / 2, "{}", a.sample.len());
        // Every kept record is the same stride apart, from the start to the end of the run.
        let step = a.sample[1].1 - a.sample[0].1;
        assert_eq!(step, 4, "two halvings");
        assert!(a.sample.windows(2).all(|w| w[1].1 - w[0].1 == step));
        assert!(a.sample.last().unwrap().1 >= n as i64 - 1 - step);
        assert_eq!(a.before_mark, 1_000);
        assert_eq!(a.last_before_mark_us, 10 + 999);
    }

    #[test]
    fn arrivals_read_each_records_type_and_timestamp() {
        let r = Received::default();
        r.keep_arrivals(Some(150));
        let body = concat!(
            "{\"index\":{}}\n{\"log_type\":\"mysql_error\",\"_timestamp\":100,\"message\":\"x\"}\n",
            "{\"index\":{}}\n{\"_timestamp\":200,\"log_type\":\"my\\u0073ql_slow\"}\n",
            "{\"index\":{}}\n{\"message\":\"neither field\"}\n",
            "{\"index\":{}}\nnot json\n",
        );
        r.note_arrivals(body.as_bytes());
        let a = crate::util::lock(&r.arrivals).take().unwrap();
        let got: Vec<(&str, i64)> = a.sample.iter().map(|(k, t, _)| (k.as_str(), *t)).collect();
        assert_eq!(got, [("mysql_error", 100), ("mysql_slow", 200), ("", 0)]);
        assert_eq!(
            (a.seen, a.before_mark),
            (3, 1),
            "a record without a timestamp is not before the mark"
        );
    }
}
