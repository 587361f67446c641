//! `aurora-logs demo`: the whole pipeline against the built-in simulators, with a verdict.
//!
//! An RDS simulator serves two Aurora clusters (MySQL and PostgreSQL) whose logs grow in real
//! time; the standalone pipeline ships them into the OpenObserve stand-in (which, like released
//! OpenObserve, refuses zstd, so the gzip fallback shows) or into a real OpenObserve. At the end
//! the clock stops, the pipeline drains, and every entry the simulator wrote is looked up by
//! record_id among what arrived.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use dataplane::record::files_record_ids;
use dataplane::standalone::{Progress, Scheduler, SchedulerConfig};
use serde::Serialize;
use simulator::instance::Engine;
use simulator::openobserve::{OpenObserveConfig as StandInConfig, OpenObserveStandIn};
use simulator::rds::{ClusterConfig, RdsSimulator, SimConfig};

use crate::config::{Config, LogStyle};

/// Where the demo ships to.
pub struct DemoTarget {
    /// A real OpenObserve (URL, user, password); `None`: the built-in stand-in.
    pub openobserve: Option<(String, String, String)>,
}

/// The verdict.
#[derive(Debug, Serialize)]
pub struct DemoSummary {
    /// Entries the simulator wrote.
    pub entries_generated: u64,
    /// Records OpenObserve acknowledged.
    pub records_acknowledged: u64,
    /// Records refused and kept in the dead-letter file.
    pub records_dead_lettered: u64,
    /// Generated entries that did not arrive.
    pub records_lost: u64,
    /// Entries that arrived more than once.
    pub records_duplicated: u64,
    /// Raw log bytes shipped.
    pub bytes_shipped: u64,
    /// Seconds from start to drained.
    pub seconds: f64,
    /// Raw log MB/s over the whole run (bounded by how fast the simulator writes).
    pub throughput_mb_s: f64,
    /// Whether the stand-in was used (lost and duplicated are exact only then).
    pub verified_by_record_id: bool,
}

/// Every record id the simulator's files should produce.
fn expected_ids(rds: &RdsSimulator) -> BTreeSet<String> {
    let files = rds.all_files();
    files_record_ids(
        files
            .iter()
            .map(|(i, f)| (i.as_str(), f.name.as_str(), f.last_written_ms, &f.data[..])),
    )
}

/// Two Aurora clusters writing logs in real time (MySQL with two instances, PostgreSQL with one)
/// and a DocumentDB cluster that must be filtered out.
fn world() -> SimConfig {
    SimConfig {
        history: Duration::from_secs(5 * 60),
        ..Default::default()
    }
    .with_cluster(
        ClusterConfig::new(
            "shop-mysql",
            Engine::AuroraMysql,
            &["shop-mysql-1", "shop-mysql-2"],
        )
        .with_rate(20.0)
        .with_seed(11),
    )
    .with_cluster(
        ClusterConfig::new("billing-pg", Engine::AuroraPostgresql, &["billing-pg-1"])
            .with_rate(40.0)
            .with_seed(12),
    )
    .with_docdb("catalog-docdb")
}

/// The configuration of `run` against the simulator and `target` (or the stand-in).
fn config(
    rds: &RdsSimulator,
    target: &DemoTarget,
    standin: Option<&OpenObserveStandIn>,
    state: &std::path::Path,
) -> Config {
    let mut config = Config {
        state_dir: state.to_path_buf(),
        ..Default::default()
    };
    let (ak, sk) = rds.credentials();
    config.rds.endpoint_url = rds.endpoint_url();
    config.rds.region = rds.region().to_string();
    config.rds.access_key_id = ak.to_string();
    config.rds.secret_access_key = sk.into();
    config.rds.calls_per_second = 50;
    match (&target.openobserve, standin) {
        (Some((url, user, password)), _) => {
            config.openobserve.url = url.clone();
            config.openobserve.user = user.clone();
            config.openobserve.password = password.clone().into();
        }
        (None, Some(oo)) => {
            config.openobserve.url = oo.url();
            config.openobserve.user = oo.config().user.clone();
            config.openobserve.password = oo.config().password.clone().into();
        }
        (None, None) => unreachable!("the stand-in starts when no URL is given"),
    }
    config
        .tags
        .insert("source".into(), "aurora-logs-demo".into());
    config
}

/// Ship while the clock runs for `seconds`, showing progress on stderr; then stop the clock and
/// the scheduler (the files in flight finish).
async fn ship_live(
    scheduler: &Arc<Scheduler>,
    rds: &RdsSimulator,
    seconds: u64,
    started: Instant,
) -> Result<()> {
    let clock = rds.spawn_clock(1.0);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let runner = {
        let s = scheduler.clone();
        tokio::spawn(async move { s.run(stop_rx).await })
    };
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut err = std::io::stderr();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let p = scheduler.progress();
        let _ = write!(
            err,
            "\r[{:>3.0}s] simulator wrote {:>8} entries | shipped {:>8} records, {:>7.1} MB | passes {}   ",
            started.elapsed().as_secs_f64(),
            rds.entries_written(),
            p.records,
            p.bytes as f64 / 1e6,
            p.passes
        );
    }
    let _ = writeln!(err);
    drop(clock);
    let _ = stop_tx.send(true);
    runner.await.context("scheduler task")?;
    Ok(())
}

/// Drain what the clock wrote last: passes until one ships nothing new (at most ten).
async fn drain(scheduler: &Scheduler) {
    for _ in 0..10 {
        let before = scheduler.progress();
        if let Err(e) = scheduler.drain_once().await {
            tracing::warn!(error = %e, "drain pass");
            continue;
        }
        let after = scheduler.progress();
        if after.records == before.records && after.bytes == before.bytes {
            break;
        }
    }
}

/// The verdict: every entry the simulator wrote looked up by record id in the stand-in, or
/// counted against what a real OpenObserve acknowledged.
fn verdict(
    rds: &RdsSimulator,
    standin: Option<&OpenObserveStandIn>,
    p: Progress,
    seconds: f64,
) -> DemoSummary {
    let expected = expected_ids(rds);
    let mut summary = DemoSummary {
        entries_generated: expected.len() as u64,
        records_acknowledged: p.records,
        records_dead_lettered: p.dead_lettered,
        records_lost: 0,
        records_duplicated: 0,
        bytes_shipped: p.bytes,
        seconds,
        throughput_mb_s: p.bytes as f64 / 1e6 / seconds,
        verified_by_record_id: standin.is_some(),
    };
    match standin {
        Some(oo) => {
            let seen = oo.count_by_field("record_id");
            summary.records_lost =
                expected.iter().filter(|id| !seen.contains_key(*id)).count() as u64;
            summary.records_duplicated = seen
                .values()
                .filter(|&&n| n > 1)
                .map(|&n| n as u64 - 1)
                .sum();
        }
        None => {
            summary.records_lost = summary
                .entries_generated
                .saturating_sub(p.records + p.dead_lettered);
        }
    }
    summary
}

/// Run the demo for `seconds` of live logs.
pub async fn run(seconds: u64, target: DemoTarget, json: bool) -> Result<DemoSummary> {
    crate::service::init_logging(LogStyle::Text, "warn");
    let started = Instant::now();
    let rds = RdsSimulator::start(world())
        .await
        .context("starting the RDS simulator")?;
    let standin = match &target.openobserve {
        None => Some(
            OpenObserveStandIn::start(StandInConfig::default())
                .await
                .context("starting the OpenObserve stand-in")?,
        ),
        Some(_) => None,
    };
    let state = tempfile::tempdir().context("creating a state directory")?;
    let config = config(&rds, &target, standin.as_ref(), state.path());
    let ctx = crate::service::ship_context(&config).await?;
    let scheduler = Arc::new(Scheduler::new(
        ctx,
        SchedulerConfig {
            poll_interval: Duration::from_millis(500),
            workers: 4,
            // Let the files in flight finish: the demo counts duplicates.
            shutdown_grace: Duration::from_secs(600),
            ..Default::default()
        },
    ));
    ship_live(&scheduler, &rds, seconds, started).await?;
    drain(&scheduler).await;
    let p = scheduler.progress();
    let summary = verdict(&rds, standin.as_ref(), p, started.elapsed().as_secs_f64());
    eprintln!(
        "entries generated {} | acknowledged {} | dead-lettered {} | lost {} | duplicated {} | {:.1} MB in {:.1} s",
        summary.entries_generated,
        summary.records_acknowledged,
        summary.records_dead_lettered,
        summary.records_lost,
        summary.records_duplicated,
        p.bytes as f64 / 1e6,
        summary.seconds
    );
    if json {
        println!("{}", serde_json::to_string(&summary)?);
    }
    Ok(summary)
}
