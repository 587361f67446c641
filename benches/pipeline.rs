//! The end-to-end bench: RDS simulator → download → parse → JSON → zstd → HTTP on loopback.
//!
//! Two measurements, printed as a table (and checked):
//! 1. Throughput, in-process: one large Aurora-like slow log is shipped by the standalone
//!    scheduler (complete download) into a minimal `_bulk` receiver that decompresses each body
//!    and acknowledges every record. The figure is MB of raw log per CPU-second of the whole
//!    process — simulator and receiver included, so it is conservative — next to `zstd -1` on
//!    the same bytes in the same run (the baseline the issue names).
//! 2. Memory: the release `aurora-logs run` binary, a separate process, ships a 2 GB log file
//!    served from disk; its peak RSS (VmHWM) must stay under `RSS_BOUND_MIB`.
//!
//! `cargo bench --bench pipeline` runs both; `AURORA_BENCH_MB` (default 256, 0 skips the throughput run) and
//! `AURORA_BENCH_BIG_MB` (default 2048, 0 skips the memory run) size them;
//! `AURORA_BENCH_BASELINE_BIN` (another build of aurora-logs) and `AURORA_BENCH_ROUNDS` make
//! the memory run a before/after of two binaries, taken in turn; `AURORA_BENCH_WRAPPER` runs
//! them under a tool (callgrind: instruction counts that the machine's noise does not move);
//! `AURORA_BENCH_TLS=1` puts the memory run's receiver behind TLS with a private CA (`https://`
//! and `openobserve.ca_file`), to measure what TLS to OpenObserve costs the processor.

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataplane::standalone::{Scheduler, SchedulerConfig};
use rds::DownloadMode;
use simulator::instance::Engine;
use simulator::kit::{process_cpu_seconds, BulkReceiver};
use simulator::rds::{ClusterConfig, RdsSimulator, SimConfig};
use simulator::{LogGenerator, LogKind};
use sink::{Compression, OpenObserveConfig};

/// Peak RSS allowed to the processor shipping the 2 GB file.
const RSS_BOUND_MIB: u64 = 256;
const INSTANCE: &str = "bench-mysql-1";

/// CPU seconds (user + system) of this process so far.
fn cpu_seconds() -> f64 {
    process_cpu_seconds("self")
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

/// A slow log of at least `mb` MB, timestamps from an hour ago; its entry count.
fn slow_log(mb: usize) -> (Vec<u8>, u64) {
    let mut g = LogGenerator::new(LogKind::MysqlSlow, 42, now_us() - 3_600_000_000);
    let mut out = Vec::with_capacity(mb << 20);
    let n = g.fill(&mut out, mb << 20);
    (out, n)
}

async fn simulator() -> RdsSimulator {
    let sim = SimConfig::default().with_cluster(
        ClusterConfig::new("bench-mysql", Engine::AuroraMysql, &[INSTANCE]).with_rate(0.001),
    );
    RdsSimulator::start(sim).await.unwrap()
}

fn rotated_name() -> String {
    "slowquery/mysql-slowquery.log.2026-01-01.00".to_string()
}

async fn throughput(mb: usize) {
    let (log, entries) = slow_log(mb);
    let bytes = log.len();
    let rds = simulator().await;
    rds.add_file(
        INSTANCE,
        &rotated_name(),
        log.clone(),
        now_us() / 1000 - 3_600_000,
    )
    .unwrap();
    let receiver = BulkReceiver::start().await.unwrap();
    let (stats, addr) = (receiver.stats.clone(), receiver.addr);
    let state = tempfile::tempdir().unwrap();
    let ctx = common::ship_context(
        &rds,
        DownloadMode::Complete,
        1000,
        addr,
        OpenObserveConfig {
            compression: compression(),
            zstd_level: 1,
            ..Default::default()
        },
        state.path(),
    )
    .await;
    let scheduler = Scheduler::new(Arc::new(ctx), SchedulerConfig::default());

    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    scheduler.drain_once().await.unwrap();
    let (cpu, wall) = (cpu_seconds() - cpu0, t0.elapsed().as_secs_f64());
    let got = stats.records.load(Ordering::Relaxed);
    assert!(got >= entries, "received {got} of {entries} records");

    // The baseline, same bytes, same run: zstd -1, one thread.
    let (bcpu0, bt0) = (cpu_seconds(), Instant::now());
    let compressed = zstd::bulk::compress(&log, 1).unwrap();
    let (bcpu, bwall) = (cpu_seconds() - bcpu0, bt0.elapsed().as_secs_f64());
    std::hint::black_box(&compressed);

    let mb_raw = bytes as f64 / 1e6;
    let per_core = mb_raw / cpu;
    let baseline = mb_raw / bwall;
    println!(
        "end-to-end, {mb_raw:.0} MB slow log, {entries} entries (complete download, {} bodies):",
        compression_name()
    );
    println!("  wall {wall:.2} s, CPU {cpu:.2} s (whole process: simulator + pipeline + receiver)");
    println!(
        "  pipeline: {:.1} MB/s wall, {per_core:.1} MB/s per CPU-second",
        mb_raw / wall
    );
    println!("  baseline zstd -1 on the same bytes: {baseline:.1} MB/s (CPU {bcpu:.2} s)");
    println!(
        "  ratio pipeline per core / zstd -1: {:.3}",
        per_core / baseline
    );
    println!(
        "  bodies {:.1} MB sent for {mb_raw:.0} MB of log",
        stats.body_bytes.load(Ordering::Relaxed) as f64 / 1e6
    );
}

/// Body compression of both parts: `AURORA_BENCH_COMPRESSION` = `zstd` (default) or `gzip`
/// (what released OpenObserve, which refuses zstd, gets).
fn compression_name() -> String {
    std::env::var("AURORA_BENCH_COMPRESSION").unwrap_or_else(|_| "zstd".into())
}

fn compression() -> Compression {
    match compression_name().as_str() {
        "zstd" => Compression::Zstd,
        "gzip" => Compression::Gzip,
        other => panic!("AURORA_BENCH_COMPRESSION={other}: zstd or gzip"),
    }
}

/// Peak RSS of process `pid`, KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// What one `aurora-logs run` process did shipping the big file.
struct Shipped {
    wall: f64,
    cpu: f64,
    peak_kib: u64,
}

/// The big file, written once: its path, size and entry count.
fn big_file(dir: &std::path::Path, mb: usize) -> (std::path::PathBuf, u64, u64) {
    use std::io::Write;
    let path = dir.join("big-slow.log");
    // Written in 64 MB pieces: the bench itself stays small too.
    let mut entries = 0;
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut g = LogGenerator::new(LogKind::MysqlSlow, 7, now_us() - 3_600_000_000);
    let mut buf = Vec::with_capacity(65 << 20);
    let mut written = 0usize;
    while written < mb << 20 {
        buf.clear();
        entries += g.fill(&mut buf, 64 << 20);
        f.write_all(&buf).unwrap();
        written += buf.len();
    }
    f.flush().unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    (path, size, entries)
}

/// `binary run` ships `file` (served from disk by a fresh simulator) into a fresh receiver,
/// from an empty state directory.
async fn ship_big(binary: &str, file: &std::path::Path, entries: u64) -> Shipped {
    let dir = tempfile::tempdir().unwrap();
    let rds = simulator().await;
    rds.add_disk_file(INSTANCE, &rotated_name(), file, now_us() / 1000 - 3_600_000)
        .unwrap();
    let own = rds.entries_written();
    let receiver = BulkReceiver::start().await.unwrap();
    let (stats, addr) = (receiver.stats.clone(), receiver.addr);
    // With TLS: the receiver behind a TLS terminator of this process, trusted by its CA file.
    let tls = if std::env::var("AURORA_BENCH_TLS").is_ok_and(|v| v == "1") {
        let pki = simulator::tls::TestPki::generate("bench").expect("openssl makes the CA");
        let proxy = simulator::proxy::Proxy::tls(&pki, addr).await.unwrap();
        Some((pki, proxy))
    } else {
        None
    };
    let openobserve = match &tls {
        None => format!("url = \"http://{addr}\"\n"),
        Some((pki, proxy)) => format!(
            "url = \"https://localhost:{}\"\nca_file = \"{}\"\n",
            proxy.addr.port(),
            pki.ca_file().display()
        ),
    };
    let (ak, sk) = rds.credentials();
    let config = dir.path().join("run.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"{}\"\nlisten = \"127.0.0.1:0\"\nlog_level = \"warn\"\n[rds]\nregion = \"{}\"\nendpoint_url = \"{}\"\naccess_key_id = \"{ak}\"\nsecret_access_key = \"{sk}\"\ndownload = \"complete\"\ncalls_per_second = 1000\nburst = 1000\n[openobserve]\n{openobserve}compression = \"{}\"\n[scheduler]\npoll_interval = \"1s\"\n",
            dir.path().join("state").display(),
            rds.region(),
            rds.endpoint_url(),
            compression_name(),
        ),
    )
    .unwrap();
    // `AURORA_BENCH_WRAPPER` runs each binary under a tool, e.g.
    // `valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p` for instruction counts.
    let wrapper = std::env::var("AURORA_BENCH_WRAPPER").unwrap_or_default();
    let mut argv: Vec<&str> = wrapper.split_whitespace().collect();
    argv.push(binary);
    let mut child = std::process::Command::new(argv[0])
        .args(&argv[1..])
        .args(["run", "--config"])
        .arg(&config)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let mut peak = 0;
    while stats.records.load(Ordering::Relaxed) < entries + own
        && t0.elapsed() < Duration::from_secs(1800)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
        peak = peak.max(peak_rss_kib(child.id()).unwrap_or(0));
    }
    let wall = t0.elapsed().as_secs_f64();
    peak = peak.max(peak_rss_kib(child.id()).unwrap_or(0));
    let cpu = process_cpu_seconds(&child.id().to_string());
    // SIGTERM: a clean stop, so that a wrapping tool writes its output.
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    child.wait().unwrap();
    let got = stats.records.load(Ordering::Relaxed);
    assert!(
        got >= entries,
        "{binary}: received {got} of {entries} records"
    );
    Shipped {
        wall,
        cpu,
        peak_kib: peak,
    }
}

/// The median of some figures.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The release binary ships the big file; with `AURORA_BENCH_BASELINE_BIN` (another build of
/// aurora-logs, e.g. of an earlier commit) the two ship it in turn, `AURORA_BENCH_ROUNDS`
/// times each, and the ratio of their medians is printed: a before/after in one run.
async fn memory(mb: usize) {
    let dir = tempfile::tempdir().unwrap();
    let (path, size, entries) = big_file(dir.path(), mb);
    let mb_raw = size as f64 / 1e6;
    let ours = env!("CARGO_BIN_EXE_aurora-logs").to_string();
    let baseline = std::env::var("AURORA_BENCH_BASELINE_BIN").ok();
    let rounds: usize = std::env::var("AURORA_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut per_cpu: Vec<(String, Vec<f64>)> = std::iter::once(ours.clone())
        .chain(baseline.clone())
        .map(|b| (b, Vec::new()))
        .collect();
    for round in 0..rounds {
        // Each round in the other order, so that neither build always runs first.
        let mut order: Vec<&mut (String, Vec<f64>)> = per_cpu.iter_mut().collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for (binary, figures) in order.into_iter().map(|p| (&p.0, &mut p.1)) {
            let s = ship_big(binary, &path, entries).await;
            println!("memory: {binary} shipped a {mb_raw:.0} MB file ({entries} entries) in {:.1} s (round {}); peak RSS {:.1} MiB (bound {RSS_BOUND_MIB} MiB)", s.wall, round + 1, s.peak_kib as f64 / 1024.0);
            println!(
                "  the processor alone: CPU {:.1} s, {:.1} MB/s per CPU-second ({:.1} MB/s wall)",
                s.cpu,
                mb_raw / s.cpu,
                mb_raw / s.wall
            );
            // Under a wrapper (valgrind) the RSS is the tool's too: no bound to hold.
            let wrapped = std::env::var("AURORA_BENCH_WRAPPER").is_ok_and(|w| !w.is_empty());
            assert!(
                wrapped || s.peak_kib / 1024 < RSS_BOUND_MIB,
                "peak RSS {} MiB over the bound",
                s.peak_kib / 1024
            );
            figures.push(mb_raw / s.cpu);
        }
    }
    if let [(_, new), (old_bin, old)] = &per_cpu[..] {
        let (new, old) = (median(new.clone()), median(old.clone()));
        println!(
            "before/after: {new:.1} MB per CPU-second against {old:.1} for {old_bin} (medians of {rounds}): ratio {:.3}",
            new / old
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument that is not ours skips this bench.
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with("--") && a != "pipeline")
    {
        return;
    }
    let mb = std::env::var("AURORA_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let big = std::env::var("AURORA_BENCH_BIG_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2048);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if mb > 0 {
        rt.block_on(throughput(mb));
    }
    if big > 0 {
        rt.block_on(memory(big));
    }
}
