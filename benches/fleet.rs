//! The fleet bench: many Aurora MySQL instances in one account, shipped by the standalone
//! scheduler (`Scheduler::run`, the code `aurora-logs run` runs) through the RDS simulator
//! under an account budget of 10 calls a second, into a `_bulk` receiver that notes when
//! each record arrived.
//!
//! The fleet: most instances quiet (an error entry every two minutes, a few slow queries an
//! hour), one in `AURORA_BENCH_FLEET_HEAVY_EVERY` (default 10) busy, writing
//! `AURORA_BENCH_FLEET_HEAVY_MB` MB an hour (default 100) of slow log and an error entry every
//! 20 s. The simulated clock runs at real speed and crosses an hour boundary half-way through
//! the run, so every live file rotates once.
//!
//! Per run it prints: RDS calls by action and a second, the listings' pace before and after
//! the hour (when the rotated files compete for the budget), calls per MB shipped, bytes downloaded
//! per byte shipped, the fleet's write and ship rates, the lag's slope (entries written minus
//! entries acknowledged, over the run's second half), delays from an entry's write to its
//! acknowledgement (p50/p99 by kind, over the entries acknowledged; the entries still
//! unshipped at the end are counted beside them; over a uniform sample of at most 4 million
//! records), the entries written before the hour and how many of them were acknowledged by
//! the end and when the last one was (the rotated files' backlog draining), and what
//! `aurora-logs plan`'s model predicts for the same fleet and rules.
//!
//! Three sets of rules per fleet size: `every listing` (each instance listed every 10 s, every
//! grown live file read at every listing: how the scheduler worked before), `defaults`, and
//! `bulk whole` (slow, general and audit logs shipped whole after rotation, what `plan`
//! advises for large fleets). `bulk whole unranked`, not run by default, is `bulk whole` with
//! every RDS call in one queue (downloads of the bulk kinds not yielding to listings and
//! error-log reads), to compare against.
//!
//! `cargo bench --bench fleet`; `AURORA_BENCH_FLEET` (default `20,100,300,1000`) lists the
//! sizes, `AURORA_BENCH_FLEET_SECONDS` (default 240) the length of each run,
//! `AURORA_BENCH_FLEET_RULES` (default all three) which rules.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use contract::cadence::{Fleet, Group};
use contract::PerKind;
use dataplane::standalone::{MaxDelays, Scheduler, SchedulerConfig};
use rds::DownloadMode;
use simulator::instance::Engine;
use simulator::kit::BulkReceiver;
use simulator::rds::{ClusterConfig, RdsSimulator, SimConfig};
use simulator::{LogGenerator, LogKind};
use sink::{Compression, OpenObserveConfig};

const BUDGET: u32 = 10;
const HOUR_US: i64 = 3_600_000_000;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn wall_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

/// Average bytes of one generated entry of `kind`.
fn entry_bytes(kind: LogKind) -> f64 {
    let mut buf = Vec::new();
    let n = LogGenerator::new(kind, 3, 1_700_000_000_000_000).fill(&mut buf, 4 << 20);
    buf.len() as f64 / n.max(1) as f64
}

struct Shape {
    instances: usize,
    heavy_every: usize,
    heavy_mb: f64,
    slow_entry: f64,
    error_entry: f64,
}

impl Shape {
    fn heavy(&self, i: usize) -> bool {
        i % self.heavy_every == 0
    }

    fn heavy_count(&self) -> usize {
        (0..self.instances).filter(|&i| self.heavy(i)).count()
    }

    /// Entries a second by kind, for a heavy or a quiet instance.
    fn rates(&self, heavy: bool) -> [(LogKind, f64); 4] {
        let slow = if heavy {
            self.heavy_mb * 1e6 / 3600.0 / self.slow_entry
        } else {
            5.0 / 3600.0
        };
        let error = if heavy { 1.0 / 20.0 } else { 1.0 / 120.0 };
        [
            (LogKind::MysqlSlow, slow),
            (LogKind::MysqlError, error),
            // The simulator's floor: one entry an hour.
            (LogKind::MysqlGeneral, 0.0),
            (LogKind::MysqlAudit, 0.0),
        ]
    }

    fn sim(&self, start_us: i64) -> SimConfig {
        let mut sim = SimConfig {
            start_us: Some(start_us),
            ..Default::default()
        };
        for i in 0..self.instances {
            let id = format!("fleet-{i:04}");
            let mut c = ClusterConfig::new(&id, Engine::AuroraMysql, &[&format!("{id}-1")])
                .with_seed(i as u64 + 1);
            for (kind, rate) in self.rates(self.heavy(i)) {
                c = c.with_kind_rate(kind, rate);
            }
            sim = sim.with_cluster(c);
        }
        sim
    }

    /// The same fleet for `plan`'s model, in bytes an hour.
    fn model(&self) -> Fleet {
        let group = |n: usize, heavy: bool| {
            let rates = self.rates(heavy);
            Group {
                instances: n,
                bytes_per_hour: PerKind::from_fn(|k| match k {
                    contract::LogKind::MysqlSlow => rates[0].1 * 3600.0 * self.slow_entry,
                    contract::LogKind::MysqlError => rates[1].1 * 3600.0 * self.error_entry,
                    _ => 0.0,
                }),
            }
        };
        let heavy = self.heavy_count();
        Fleet {
            groups: vec![group(heavy, true), group(self.instances - heavy, false)],
            calls_per_second: f64::from(BUDGET),
        }
    }
}

fn rules(name: &str) -> SchedulerConfig {
    let mut config = SchedulerConfig {
        workers: 8,
        ..Default::default()
    };
    match name {
        "every listing" => {
            config.list_share = 1e9;
            config.max_delay = MaxDelays(PerKind::from_fn(|_| Duration::ZERO));
        }
        "bulk whole" | "bulk whole unranked" => {
            for kind in [
                contract::LogKind::MysqlSlow,
                contract::LogKind::MysqlGeneral,
                contract::LogKind::MysqlAudit,
            ] {
                *config.max_delay.0.get_mut(kind) = Duration::from_secs(3600);
            }
        }
        _ => {}
    }
    config
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The listing call of the RDS API.
const LISTING: &str = "DescribeDBLogFiles";
/// The span after the hour over which the listing pace is reported: the rotated files are
/// downloaded then, competing with the listings for the budget.
const AFTER_HOUR: f64 = 300.0;

/// Calls a second between `from` and `to` seconds into the run, from `(t, calls so far)`
/// samples: the first sample at or after each bound.
fn pace(samples: &[(f64, u64)], from: f64, to: f64) -> f64 {
    let at = |x: f64| samples.iter().find(|(t, _)| *t >= x).or(samples.last());
    match (at(from), at(to)) {
        (Some(a), Some(b)) if b.0 > a.0 => (b.1 - a.1) as f64 / (b.0 - a.0),
        _ => f64::NAN,
    }
}

/// Least-squares slope of `(t, y)`.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if n < 2.0 {
        return f64::NAN;
    }
    let (mx, my) = (
        points.iter().map(|p| p.0).sum::<f64>() / n,
        points.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let cov: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let var: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    cov / var
}

async fn run(shape: &Shape, rule: &str, seconds: u64) {
    // Half-way through the run, the simulated clock crosses an hour boundary.
    let next_hour = (wall_us() / HOUR_US + 1) * HOUR_US;
    let start_us = next_hour - (seconds as i64 * 1_000_000) / 2;
    let rds = RdsSimulator::start(shape.sim(start_us)).await.unwrap();
    let receiver = BulkReceiver::start().await.unwrap();
    receiver.stats.keep_arrivals(Some(next_hour));
    let state = tempfile::tempdir().unwrap();
    let ctx = common::ship_context(
        &rds,
        DownloadMode::Portion,
        BUDGET,
        receiver.addr,
        OpenObserveConfig {
            compression: Compression::Zstd,
            ..Default::default()
        },
        state.path(),
    )
    .await;
    let config = rules(rule);
    let cadence = config.cadence();
    let scheduler = Arc::new(Scheduler::new(Arc::new(ctx), config));
    if rule.ends_with("unranked") {
        // The same rules with every RDS call in one queue, as before calls were ranked.
        let source = &scheduler.context().source;
        source.set_bulk_kinds(&PerKind::from_fn(|_| false));
    }
    let written0 = rds.entries_written();
    let clock = rds.spawn_clock(1.0);
    let (wall0, sim0) = (wall_us(), start_us);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = {
        let s = scheduler.clone();
        tokio::spawn(async move { s.run(stopped).await })
    };
    let started = Instant::now();
    let mut lag = Vec::new();
    // (seconds into the run, DescribeDBLogFiles calls so far): the listing pace around the hour.
    let mut listings = Vec::new();
    let hour_at = (next_hour - sim0) as f64 / 1e6;
    // Entries written before the hour (the files that rotate), counted as the clock passes it.
    let mut written_by_hour = None;
    while started.elapsed() < Duration::from_secs(seconds) {
        let to_hour_us = wall0 + (next_hour - sim0) - wall_us();
        let nap = match written_by_hour {
            None if to_hour_us > 0 => Duration::from_micros(to_hour_us as u64),
            _ => Duration::from_secs(5),
        };
        tokio::time::sleep(nap.min(Duration::from_secs(5))).await;
        if written_by_hour.is_none() && wall_us() >= wall0 + (next_hour - sim0) {
            written_by_hour = Some(rds.entries_written());
        }
        let t = started.elapsed().as_secs_f64();
        let behind = (rds.entries_written() - written0) as f64 - receiver.records() as f64;
        lag.push((t, behind));
        listings.push((t, rds.stats().calls.get(LISTING).copied().unwrap_or(0)));
    }
    let _ = stop.send(true);
    drop(clock);
    task.await.unwrap();
    let elapsed = started.elapsed().as_secs_f64();

    let stats = rds.stats();
    let calls: u64 = stats.calls.values().sum();
    let downloaded =
        stats.bytes("DownloadDBLogFilePortion") + stats.bytes("DownloadCompleteLogFile");
    let shipped = scheduler.progress().bytes;
    let written_bytes: u64 = rds.all_files().iter().map(|(_, f)| f.size).sum();
    let unshipped = (rds.entries_written() - written0).saturating_sub(receiver.records());
    let mut delays: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let arrivals = receiver.stats.arrivals.lock().unwrap().take().unwrap();
    for (kind, ts, arrived) in &arrivals.sample {
        let arrived_sim = sim0 + (arrived - wall0);
        delays
            .entry(kind.clone())
            .or_default()
            .push((arrived_sim - ts) as f64 / 1e6);
    }
    let second_half: Vec<(f64, f64)> = lag
        .iter()
        .copied()
        .filter(|(t, _)| *t >= seconds as f64 / 2.0)
        .collect();
    let plan = cadence.plan(&shape.model());

    println!(
        "\n{} instances ({} busy at {} MB/h), rules `{rule}`, {elapsed:.0} s:",
        shape.instances,
        shape.heavy_count(),
        shape.heavy_mb
    );
    let by_action: Vec<String> = stats
        .calls
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(a, n)| format!("{a} {n}"))
        .collect();
    println!("  RDS calls: {} ({})", calls, by_action.join(", "));
    println!(
        "  calls/s {:.2} (plan {:.2}: list {:.2}, tail {:.2}, whole {:.2}; listing every {:.0} s)",
        calls as f64 / elapsed,
        plan.calls(),
        plan.list_calls,
        plan.tail_calls,
        plan.whole_calls,
        plan.list_interval.as_secs_f64()
    );
    println!(
        "  listings/s {:.2} in the {:.0} s before the hour, {:.2} in the {:.0} s after it",
        pace(&listings, 0.0, hour_at),
        hour_at,
        pace(&listings, hour_at, hour_at + AFTER_HOUR),
        AFTER_HOUR.min(elapsed - hour_at)
    );
    println!(
        "  written {:.3} MB/s, shipped {:.3} MB/s, {:.2} calls per MB shipped, downloaded/shipped {:.3}",
        written_bytes as f64 / 1e6 / elapsed,
        shipped as f64 / 1e6 / elapsed,
        calls as f64 / (shipped as f64 / 1e6).max(1e-9),
        downloaded as f64 / (shipped as f64).max(1.0)
    );
    println!(
        "  lag slope over the second half {:+.2} entries/s; unshipped at the end {} entries",
        slope(&second_half),
        unshipped
    );
    if let Some(written) = written_by_hour {
        let last = sim0 + (arrivals.last_before_mark_us - wall0) - next_hour;
        println!(
            "  written before the hour {written} entries, acknowledged {} ({:.4}), the last {:.0} s after the hour",
            arrivals.before_mark,
            arrivals.before_mark as f64 / (written as f64).max(1.0),
            last as f64 / 1e6
        );
    }
    println!(
        "  delays over {} of {} records acknowledged (a uniform sample)",
        arrivals.sample.len(),
        arrivals.seen
    );
    for (kind, mut d) in delays {
        d.sort_by(f64::total_cmp);
        println!(
            "  delay {kind:<14} p50 {:>6.1} s  p99 {:>6.1} s  ({} records)",
            percentile(&d, 0.5),
            percentile(&d, 0.99),
            d.len()
        );
    }
}

fn main() {
    let sizes: Vec<usize> = std::env::var("AURORA_BENCH_FLEET")
        .unwrap_or_else(|_| "20,100,300,1000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let seconds = env("AURORA_BENCH_FLEET_SECONDS", 240u64);
    let heavy_every = env("AURORA_BENCH_FLEET_HEAVY_EVERY", 10usize).max(1);
    let heavy_mb = env("AURORA_BENCH_FLEET_HEAVY_MB", 100.0f64);
    let rules_wanted = std::env::var("AURORA_BENCH_FLEET_RULES")
        .unwrap_or_else(|_| "every listing,defaults,bulk whole".into());
    let slow_entry = entry_bytes(LogKind::MysqlSlow);
    let error_entry = entry_bytes(LogKind::MysqlError);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "fleet bench: budget {BUDGET} calls/s, {seconds} s a run, entries of {slow_entry:.0} (slow) and {error_entry:.0} (error) bytes"
    );
    for &instances in &sizes {
        let shape = Shape {
            instances,
            heavy_every,
            heavy_mb,
            slow_entry,
            error_entry,
        };
        for rule in rules_wanted.split(',').map(str::trim) {
            rt.block_on(run(&shape, rule, seconds));
        }
    }
}
