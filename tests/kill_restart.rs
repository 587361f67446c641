//! `aurora-logs run` as a separate process, SIGKILLed at random moments and restarted, 20 times,
//! while the simulated clusters keep writing and rotating: in the end every entry arrived (by
//! record_id), and duplicates are bounded by what can be in flight at a kill.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dataplane::record::files_record_ids;
use simulator::instance::Engine;
use simulator::openobserve::{OpenObserveConfig, OpenObserveStandIn};
use simulator::rds::{ClusterConfig, RdsSimulator, SimConfig};

const KILLS: usize = 20;
const WORKERS: usize = 3;
const SEND_CONCURRENCY: usize = 2;
const BATCH_RECORDS: usize = 300;

fn write_config(dir: &Path, rds: &RdsSimulator, oo: &OpenObserveStandIn) -> std::path::PathBuf {
    let (ak, sk) = rds.credentials();
    let c = oo.config();
    let text = format!(
        r#"
state_dir = "{state}"
listen = "127.0.0.1:0"
log_format = "text"
log_level = "warn"
[rds]
region = "{region}"
endpoint_url = "{endpoint}"
access_key_id = "{ak}"
secret_access_key = "{sk}"
calls_per_second = 1000
burst = 1000
[openobserve]
url = "{oo_url}"
user = "{user}"
password = "{password}"
retry_initial = "10ms"
retry_max_delay = "100ms"
[pipeline]
send_concurrency = {SEND_CONCURRENCY}
[pipeline.batch]
max_records = {BATCH_RECORDS}
[scheduler]
poll_interval = "200ms"
workers = {WORKERS}
shutdown_grace = "5s"
"#,
        state = dir.join("state").display(),
        region = rds.region(),
        endpoint = rds.endpoint_url(),
        oo_url = oo.url(),
        user = c.user,
        password = c.password,
    );
    let path = dir.join("aurora-logs.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn start(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_aurora-logs"))
        .args(["run", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting aurora-logs run")
}

fn expected(rds: &RdsSimulator) -> BTreeSet<String> {
    let files = rds.all_files();
    files_record_ids(
        files
            .iter()
            .map(|(i, f)| (i.as_str(), f.name.as_str(), f.last_written_ms, &f.data[..])),
    )
}

fn received(oo: &OpenObserveStandIn) -> BTreeMap<String, usize> {
    oo.count_by_field("record_id")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_twenty_times_nothing_is_lost() {
    let sim = SimConfig {
        history: Duration::from_secs(40 * 60),
        ..Default::default()
    }
    .with_cluster(
        ClusterConfig::new("shop-mysql", Engine::AuroraMysql, &["shop-mysql-1"])
            .with_rate(3.0)
            .with_seed(3),
    )
    .with_cluster(
        ClusterConfig::new("billing-pg", Engine::AuroraPostgresql, &["billing-pg-1"])
            .with_rate(6.0)
            .with_seed(4),
    );
    let rds = RdsSimulator::start(sim).await.unwrap();
    let oo = OpenObserveStandIn::start(OpenObserveConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &rds, &oo);

    // A fixed-seed LCG: the kill moments vary within a run but the test repeats.
    let mut seed: u64 = 0x5eed;
    let mut next = |bound: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % bound
    };
    let mut progress_at_kills = Vec::new();
    for kill in 0..KILLS {
        let mut child = start(&config);
        if kill == 0 {
            // The first life runs until shipping has begun (a loaded machine starts slowly),
            // so that the kills land mid-work rather than all during start-up.
            let t = Instant::now();
            while received(&oo).is_empty() && t.elapsed() < Duration::from_secs(60) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(150 + next(1200))).await;
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        progress_at_kills.push(received(&oo).len());
        if kill % 4 == 3 {
            // Time moves on: live files grow and rotate between lives of the processor.
            rds.advance_by(Duration::from_secs(20 * 60));
        }
    }
    let before_final = received(&oo).len();
    assert!(
        progress_at_kills.windows(2).any(|w| w[1] > w[0]),
        "the processor never shipped anything between kills: {progress_at_kills:?}"
    );

    // A last life, left to drain everything.
    let want = expected(&rds);
    let mut child = start(&config);
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let got = received(&oo);
        if want.iter().all(|id| got.contains_key(id)) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let got = received(&oo);
    let ids: BTreeSet<String> = got.keys().cloned().collect();
    let missing: Vec<_> = want.difference(&ids).take(5).collect();
    let unexpected: Vec<_> = ids.difference(&want).take(5).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "{} expected, {} distinct received ({} before the last life); missing e.g. {missing:?}, unexpected e.g. {unexpected:?}",
        want.len(),
        ids.len(),
        before_final
    );
    // Duplicates can only come from batches in flight (sent, or acknowledged but not yet
    // checkpointed) at a kill: per kill at most WORKERS files × (SEND_CONCURRENCY in flight + 1
    // awaiting its checkpoint) batches.
    let duplicated: usize = got.values().map(|n| n - 1).sum();
    let bound = KILLS * WORKERS * (SEND_CONCURRENCY + 1) * BATCH_RECORDS;
    eprintln!(
        "{} entries, {} duplicates after {KILLS} kills (bound {bound})",
        want.len(),
        duplicated
    );
    assert!(
        duplicated <= bound,
        "{duplicated} duplicates exceed what {KILLS} kills can leave in flight ({bound})"
    );
    assert!(
        want.len() > 10_000,
        "too little data to mean anything: {}",
        want.len()
    );
}

/// SIGTERM: the processor stops taking work, lets the files in flight finish, checkpoints, and
/// exits 0 within the grace period; a restart then resumes without losing anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_gracefully_within_the_grace_period() {
    let sim = SimConfig {
        history: Duration::from_secs(30 * 60),
        ..Default::default()
    }
    .with_cluster(
        ClusterConfig::new("shop-mysql", Engine::AuroraMysql, &["shop-mysql-1"]).with_rate(3.0),
    );
    let rds = RdsSimulator::start(sim).await.unwrap();
    let oo = OpenObserveStandIn::start(OpenObserveConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &rds, &oo);
    let mut child = start(&config);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let t0 = Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let code = loop {
        if let Some(code) = child.try_wait().unwrap() {
            break code;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "still running 15 s after SIGTERM (grace 5 s)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(code.success(), "exit status {code:?}");
    // A second life finishes the job; nothing was lost across the stop.
    let want = expected(&rds);
    let mut child = start(&config);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got = received(&oo);
        if want.iter().all(|id| got.contains_key(id)) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let got = received(&oo);
    assert!(
        want.iter().all(|id| got.contains_key(id)),
        "entries lost across a graceful stop"
    );
}
