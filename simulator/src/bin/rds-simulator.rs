//! `rds-simulator`: the RDS API simulator as a process, for demos and for tests that run the
//! shipper against it from outside. Prints `endpoint=URL` (then the region and credentials) on
//! stdout once it serves, moves the clock with real time × `--speed`, and serves the control
//! API under `/_sim/` (state, advance, faults, files). Stops on Ctrl-C.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use simulator::instance::Engine;
use simulator::rds::{ClusterConfig, RdsSimulator, SimConfig, ThrottleConfig};
use simulator::{LogGenerator, LogKind};

/// Serve a simulated RDS account of Aurora clusters.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: SocketAddr,
    /// Region the SigV4 signatures must be scoped to.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Simulated seconds per real second (0: the clock stands still until /_sim/advance).
    #[arg(long, default_value_t = 1.0)]
    speed: f64,
    /// Entries a second each log kind of each instance writes.
    #[arg(long, default_value_t = 2.0)]
    rate: f64,
    /// Aurora MySQL clusters.
    #[arg(long, default_value_t = 1)]
    mysql_clusters: usize,
    /// Aurora PostgreSQL clusters.
    #[arg(long, default_value_t = 1)]
    postgres_clusters: usize,
    /// Instances per cluster (the first is the writer).
    #[arg(long, default_value_t = 2)]
    instances_per_cluster: usize,
    /// Hours rotated files are kept (default: the engine's, 24 h MySQL, 72 h PostgreSQL; files
    /// are held in memory, so keep rate × speed × retention modest).
    #[arg(long)]
    retention_hours: Option<u64>,
    /// Minutes of logs already written at the start (rotated files included).
    #[arg(long, default_value_t = 0)]
    history_minutes: u64,
    /// Start the simulated clock here (µs since the epoch) instead of now.
    #[arg(long)]
    start_us: Option<i64>,
    /// Leave out the DocumentDB cluster that is listed alongside the Aurora ones.
    #[arg(long)]
    no_docdb: bool,
    /// Turn RDS's token bucket on (300 burst, 12 requests a second).
    #[arg(long)]
    throttle: bool,
    /// Seed of the logs and of the faults' probabilities.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Accept unsigned Query API calls (the REST download always needs a signature).
    #[arg(long)]
    no_query_signatures: bool,
    /// Also serve a static slow log of this many MiB from a temp file on the first instance.
    #[arg(long)]
    big_file_mib: Option<u64>,
    /// Name of that static file.
    #[arg(long, default_value = "slowquery/mysql-slowquery.log.large")]
    big_file_name: String,
}

fn config(args: &Args) -> SimConfig {
    let mut config = SimConfig {
        region: args.region.clone(),
        bind: args.bind,
        start_us: args.start_us,
        history: Duration::from_secs(args.history_minutes * 60),
        fault_seed: args.seed,
        throttle: args.throttle.then(ThrottleConfig::default),
        verify_query_signatures: !args.no_query_signatures,
        control_api: true,
        ..SimConfig::default()
    };
    let engines = std::iter::repeat_n(("mysql", Engine::AuroraMysql), args.mysql_clusters).chain(
        std::iter::repeat_n(
            ("postgres", Engine::AuroraPostgresql),
            args.postgres_clusters,
        ),
    );
    for (n, (short, engine)) in engines.enumerate() {
        let id = format!("aurora-{short}-{n}");
        let instances: Vec<String> = (1..=args.instances_per_cluster)
            .map(|i| format!("{id}-instance-{i}"))
            .collect();
        let names: Vec<&str> = instances.iter().map(String::as_str).collect();
        let mut cluster = ClusterConfig::new(&id, engine, &names)
            .with_rate(args.rate)
            .with_seed(args.seed.wrapping_add(n as u64));
        cluster.retention = args.retention_hours.map(|h| Duration::from_secs(h * 3600));
        config.clusters.push(cluster);
    }
    if !args.no_docdb {
        config = config.with_docdb("docdb-0");
    }
    config
}

/// Write `mib` MiB of generated slow log to a temp file.
fn big_file(mib: u64, seed: u64, start_us: i64) -> anyhow::Result<tempfile::NamedTempFile> {
    let mut file = tempfile::NamedTempFile::new().context("creating the temp file")?;
    let mut generator = LogGenerator::new(LogKind::MysqlSlow, seed, start_us);
    let mut buf = Vec::with_capacity(9 << 20);
    let mut left = mib << 20;
    while left > 0 {
        buf.clear();
        generator.fill(&mut buf, (8 << 20).min(left as usize));
        file.write_all(&buf).context("writing the temp file")?;
        left = left.saturating_sub(buf.len() as u64);
    }
    file.flush()?;
    Ok(file)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sim = RdsSimulator::start(config(&args)).await?;
    let _big = match args.big_file_mib {
        Some(mib) => {
            let start = sim.now_us() - 3_600_000_000;
            let file = tokio::task::spawn_blocking(move || big_file(mib, 7, start)).await??;
            let first = sim
                .instance_ids()
                .into_iter()
                .find(|i| i.starts_with("aurora-"));
            let first = first.context("no aurora instance to hold the big file")?;
            sim.add_disk_file(&first, &args.big_file_name, file.path(), start / 1000)?;
            Some(file)
        }
        None => None,
    };
    let (key, secret) = sim.credentials();
    let banner = format!(
        "endpoint={}\nregion={}\naccess_key_id={key}\nsecret_access_key={secret}\n",
        sim.endpoint_url(),
        sim.region()
    );
    // A parent that reads the endpoint and closes the pipe must not stop the simulator.
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(banner.as_bytes()).and_then(|()| out.flush()) {
        eprintln!("rds-simulator: writing the endpoint to stdout failed: {e}");
    }
    drop(out);
    let _clock = (args.speed > 0.0).then(|| sim.spawn_clock(args.speed));
    tokio::signal::ctrl_c()
        .await
        .context("waiting for ctrl-c")?;
    Ok(())
}
