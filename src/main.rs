//! `aurora-logs`: ships the database logs of Aurora MySQL and PostgreSQL into OpenObserve as
//! structured records. This binary only wires and configures; the work lives in the crates.

mod config;
#[cfg(feature = "demo")]
mod demo;
mod distributed;
mod input;
mod install;
mod metrics_names;
mod plan;
mod replay;
mod run;
mod service;

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use bytes::BytesMut;
use clap::{Parser, Subcommand, ValueEnum};
use parsers::{Entry, Flow, Limits, LogFormat};

/// glibc's malloc by default: on the pipeline bench (2 GB shipped) mimalloc took the same CPU
/// within the noise and a peak RSS about 35 % higher (BENCHMARKS.md, "Allocator"). The
/// `mimalloc` feature puts it back, to measure the two again.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "aurora-logs",
    version,
    about = "Ship Aurora MySQL and PostgreSQL logs into OpenObserve as structured records"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Parse local log files (plain, .gz, .zst; `-` for stdin) into NDJSON records on stdout.
    Parse {
        /// Log format; `auto` tells it from the file name (RDS names) or the first lines.
        #[arg(long, value_enum, default_value_t = FormatArg::AUTO)]
        format: FormatArg,
        /// Entries longer than this are cut and flagged (`truncated`, `parse_error`).
        #[arg(long, default_value_t = Limits::DEFAULT_MAX_ENTRY_BYTES)]
        max_entry_bytes: usize,
        /// Files to parse, in order.
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// Group timed queries by fingerprint and rank them by total time (like pt-query-digest and
    /// pgBadger), from MySQL slow logs or PostgreSQL logs with durations.
    Digest {
        /// Report format.
        #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
        format: ReportFormat,
        /// Log format of the inputs.
        #[arg(long, value_enum, default_value_t = FormatArg::AUTO)]
        log_format: FormatArg,
        /// Show at most this many classes.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Keep at most this many classes in memory; later fingerprints are pooled in one class.
        #[arg(long, default_value_t = 100_000)]
        max_classes: usize,
        /// Cores to use on a large plain MySQL slow log or PostgreSQL stderr log (0: all). The
        /// report is the same.
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// On a sampled slow log (Percona's `Log_slow_rate_limit: N`), count each logged query
        /// N times, an estimate of what ran. Without it, counts are as logged (as
        /// pt-query-digest reports them) and the report names the rates it saw.
        #[arg(long)]
        scale_by_rate_limit: bool,
        /// Files to read, in order.
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// Distributed mode, the scheduler: while it leads (a DynamoDB lease, one replica at a
    /// time), list Aurora instances and log files (cached in Redis) and publish a Kafka job for
    /// every file with unshipped bytes. Runs until SIGTERM.
    Discovery {
        /// TOML configuration (see config/aurora-logs.example.toml); AURORA_LOGS_* variables
        /// override it.
        #[arg(long, short, env = "AURORA_LOGS_CONFIG")]
        config: Option<std::path::PathBuf>,
    },
    /// Distributed mode, the worker: consume jobs from Kafka in a consumer group and ship each
    /// file under a DynamoDB lease from its checkpoint. Scale it out. Runs until SIGTERM.
    Processor {
        /// TOML configuration (see config/aurora-logs.example.toml); AURORA_LOGS_* variables
        /// override it.
        #[arg(long, short, env = "AURORA_LOGS_CONFIG")]
        config: Option<std::path::PathBuf>,
    },
    /// Standalone mode: discover Aurora instances and ship their logs into OpenObserve, with
    /// checkpoints under the state directory. Runs until SIGTERM.
    Run {
        /// TOML configuration (see config/aurora-logs.example.toml); AURORA_LOGS_* variables
        /// override it.
        #[arg(long, short, env = "AURORA_LOGS_CONFIG")]
        config: Option<std::path::PathBuf>,
        /// Overrides `state_dir`.
        #[arg(long)]
        state_dir: Option<std::path::PathBuf>,
        /// Overrides `openobserve.url`.
        #[arg(long)]
        openobserve_url: Option<String>,
    },
    /// Whether one account's RDS API budget carries a fleet: the calls a second by purpose,
    /// each instance's listing interval and the delay of each kind, from the scheduler's own
    /// rules and the configuration's `scheduler` settings; and what to change if it does not.
    Plan {
        /// TOML configuration (its `scheduler` and `rds` settings are planned with).
        #[arg(long, short, env = "AURORA_LOGS_CONFIG")]
        config: Option<std::path::PathBuf>,
        /// Aurora instances in the account and region that write logs.
        #[arg(long)]
        instances: usize,
        /// Further instances that write nothing most hours (listed at
        /// `scheduler.idle_list_interval`).
        #[arg(long, default_value_t = 0)]
        idle: usize,
        /// MB an instance writes an hour, all its log kinds together.
        #[arg(long)]
        mb_per_hour: f64,
        /// How that volume splits across kinds, as `kind=percent`.
        #[arg(long, value_delimiter = ',', default_value = "slowquery=95,error=5")]
        kinds: Vec<String>,
        /// RDS calls a second aurora-logs may make (default: `rds.calls_per_second`).
        #[arg(long)]
        budget: Option<f64>,
        /// Override `scheduler.max_delay` of kinds, as `kind=duration` (`slowquery=1h`).
        #[arg(long, value_delimiter = ',')]
        max_delay: Vec<String>,
    },
    /// OpenObserve's side: stream settings, dashboards, alerts and saved views.
    Openobserve {
        #[command(subcommand)]
        command: OpenObserveCommand,
    },
    /// The whole pipeline against built-in simulators of RDS (two Aurora clusters writing logs)
    /// and OpenObserve, with a verdict by record_id. Exits non-zero if any entry was lost.
    #[cfg(feature = "demo")]
    Demo {
        /// Seconds of live logs to ship.
        #[arg(long, default_value_t = 15)]
        seconds: u64,
        /// Print the summary as JSON on the last stdout line.
        #[arg(long)]
        json: bool,
        /// Ship into this real OpenObserve instead of the stand-in.
        #[arg(long, requires_all = ["openobserve_user", "openobserve_password"])]
        openobserve_url: Option<String>,
        /// User for --openobserve-url.
        #[arg(long)]
        openobserve_user: Option<String>,
        /// Password for --openobserve-url.
        #[arg(long, env = "AURORA_LOGS_DEMO_OPENOBSERVE_PASSWORD")]
        openobserve_password: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum OpenObserveCommand {
    /// Create or update the aurora-logs streams' settings, the dashboards, the alerts (with
    /// their webhook) and the saved views in OpenObserve, as `openobserve/` in the repository
    /// holds them. Idempotent: prints one line per object (create, update, unchanged, prune,
    /// skip, conflict) and changes only what differs. Server, org and credentials are the
    /// sink's (`[openobserve]`; the password best from AURORA_LOGS_OPENOBSERVE__PASSWORD).
    Install {
        /// TOML configuration (see config/aurora-logs.example.toml); AURORA_LOGS_* variables
        /// override it.
        #[arg(long, short, env = "AURORA_LOGS_CONFIG")]
        config: Option<std::path::PathBuf>,
        /// Overrides `openobserve.url`.
        #[arg(long)]
        openobserve_url: Option<String>,
        /// Print the plan and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also delete dashboards, alerts and saved views that aurora-logs installed earlier
        /// and no longer ships (objects without its mark are never touched).
        #[arg(long)]
        prune: bool,
    },
    /// Send the records OpenObserve refused for good (dead letters) again, once their cause is
    /// fixed, to the streams that refused them: from the dead-letter stream
    /// (`openobserve.dead_letter_stream`) over the last `--since` (the user needs search
    /// rights: the root user's password, not an ingestion passcode), or from a dead-letter
    /// file. A record refused again becomes a dead letter again; letters replayed twice are
    /// sent twice. Prints per stream what was read, accepted and refused again.
    ReplayDeadLetters {
        /// TOML configuration (see config/aurora-logs.example.toml); AURORA_LOGS_* variables
        /// override it.
        #[arg(long, short, env = "AURORA_LOGS_CONFIG")]
        config: Option<std::path::PathBuf>,
        /// Overrides `openobserve.url`.
        #[arg(long)]
        openobserve_url: Option<String>,
        /// Letters of this long before `--until`, e.g. `24h`, `7d`.
        #[arg(long, value_parser = humantime::parse_duration, required_unless_present = "file")]
        since: Option<std::time::Duration>,
        /// End of the range, RFC 3339 (e.g. `2026-12-06T12:00:00Z`); default now.
        #[arg(long, value_parser = humantime::parse_rfc3339_weak)]
        until: Option<std::time::SystemTime>,
        /// Replay this dead-letter file (NDJSON) instead of the stream.
        #[arg(long, conflicts_with_all = ["since", "until"])]
        file: Option<std::path::PathBuf>,
        /// Count the letters per stream, send nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// A `--format` value: `auto`, or one of the parsers' formats (their CLI names), so that a
/// new format is a new value here without a line of this file changing.
#[derive(Clone, Copy, Debug)]
struct FormatArg(Option<LogFormat>);

impl FormatArg {
    const AUTO: FormatArg = FormatArg(None);

    fn format(self) -> Option<LogFormat> {
        self.0
    }
}

impl ValueEnum for FormatArg {
    fn value_variants<'a>() -> &'a [Self] {
        static VALUES: std::sync::LazyLock<Vec<FormatArg>> = std::sync::LazyLock::new(|| {
            std::iter::once(FormatArg::AUTO)
                .chain(LogFormat::ALL.into_iter().map(|f| FormatArg(Some(f))))
                .collect()
        });
        &VALUES
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(
            self.0.map_or("auto", LogFormat::name),
        ))
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ReportFormat {
    Table,
    Json,
}

fn main() -> ExitCode {
    match dispatch(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aurora-logs: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Run one command of the CLI.
fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Parse {
            format,
            max_entry_bytes,
            files,
        } => parse(format.format(), max_entry_bytes, &files),
        Command::Digest {
            format,
            log_format,
            limit,
            max_classes,
            threads,
            scale_by_rate_limit,
            files,
        } => {
            let new_digest = move || {
                query_digest::Digest::new(max_classes).scale_by_rate_limit(scale_by_rate_limit)
            };
            let threads = match threads {
                0 => std::thread::available_parallelism().map_or(1, usize::from),
                n => n,
            };
            digest(
                format,
                log_format.format(),
                limit,
                new_digest,
                threads,
                &files,
            )
        }
        Command::Run {
            config,
            state_dir,
            openobserve_url,
        } => run_service(config, state_dir, openobserve_url),
        Command::Plan {
            config,
            instances,
            idle,
            mb_per_hour,
            kinds,
            budget,
            max_delay,
        } => {
            let c = config::Config::load(config.as_deref())?;
            let args = plan::PlanArgs {
                instances,
                idle,
                mb_per_hour,
                kinds,
                budget: budget.unwrap_or(f64::from(c.rds.calls_per_second)),
                max_delay,
            };
            let (fleet, cadence) = plan::fleet_and_cadence(&args, c.scheduler.cadence())?;
            print!("{}", plan::report(&fleet, &cadence));
            Ok(())
        }
        Command::Discovery { config } => config::Config::load(config.as_deref())
            .and_then(|c| runtime()?.block_on(distributed::run_discovery(c))),
        Command::Processor { config } => config::Config::load(config.as_deref())
            .and_then(|c| runtime()?.block_on(distributed::run_processor(c))),
        Command::Openobserve {
            command:
                OpenObserveCommand::Install {
                    config,
                    openobserve_url,
                    dry_run,
                    prune,
                },
        } => openobserve_install(config, openobserve_url, dry_run, prune),
        Command::Openobserve {
            command:
                OpenObserveCommand::ReplayDeadLetters {
                    config,
                    openobserve_url,
                    since,
                    until,
                    file,
                    dry_run,
                },
        } => {
            let mut c = config::Config::load(config.as_deref())?;
            if let Some(u) = openobserve_url {
                c.openobserve.url = u;
            }
            c.validate()?;
            let opts = replay::Options {
                since,
                until,
                file,
                dry_run,
            };
            let summary = runtime()?.block_on(replay::run(&c, &opts))?;
            print!("{summary}");
            if dry_run {
                println!("dry run: nothing was sent");
            }
            Ok(())
        }
        #[cfg(feature = "demo")]
        Command::Demo {
            seconds,
            json,
            openobserve_url,
            openobserve_user,
            openobserve_password,
        } => {
            let target = openobserve_url.map(|u| {
                let user = openobserve_user.unwrap_or_default();
                (u, user, openobserve_password.unwrap_or_default())
            });
            run_demo(seconds, json, target)
        }
    }
}

/// `aurora-logs openobserve install`: the sink's configuration, the URL flag over it.
fn openobserve_install(
    config: Option<std::path::PathBuf>,
    openobserve_url: Option<String>,
    dry_run: bool,
    prune: bool,
) -> Result<()> {
    let mut c = config::Config::load(config.as_deref())?;
    if let Some(u) = openobserve_url {
        c.openobserve.url = u;
    }
    c.validate()?;
    runtime()?.block_on(install::run(&c, dry_run, prune))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn run_service(
    file: Option<std::path::PathBuf>,
    state_dir: Option<std::path::PathBuf>,
    openobserve_url: Option<String>,
) -> Result<()> {
    let mut config = config::Config::load(file.as_deref())?;
    if let Some(d) = state_dir {
        config.state_dir = d;
    }
    if let Some(u) = openobserve_url {
        config.openobserve.url = u;
    }
    config.validate()?;
    runtime()?.block_on(service::run(config))
}

#[cfg(feature = "demo")]
fn run_demo(seconds: u64, json: bool, openobserve: Option<(String, String, String)>) -> Result<()> {
    let summary =
        runtime()?.block_on(demo::run(seconds, demo::DemoTarget { openobserve }, json))?;
    if summary.records_lost > 0 {
        bail!("{} entries were lost", summary.records_lost);
    }
    Ok(())
}

/// The parts `name` can be digested in on `threads` cores, with its format, if it is a large
/// plain file of a format that can be cut (MySQL slow log, PostgreSQL stderr); `None` means one
/// pass.
fn parallel_ranges(
    name: &str,
    given: Option<LogFormat>,
    threads: usize,
) -> Result<Option<(LogFormat, Vec<std::ops::Range<u64>>)>> {
    if threads < 2 || name == "-" {
        return Ok(None);
    }
    let path = std::path::Path::new(name);
    if !path
        .metadata()
        .is_ok_and(|m| m.is_file() && m.len() >= query_digest::MIN_SPLIT_BYTES)
    {
        return Ok(None);
    }
    let mut head = vec![0u8; 64 << 10];
    let n = input::read_chunk(
        &mut std::fs::File::open(path).with_context(|| format!("cannot open {name}"))?,
        &mut head,
    )?;
    let format = run::pick_format(given, name, &head[..n])?;
    if !query_digest::can_split(format) {
        return Ok(None);
    }
    let ranges = query_digest::ranges(path, format, threads, query_digest::MIN_SPLIT_BYTES)?;
    Ok(ranges.map(|r| (format, r)))
}

/// Flush the NDJSON buffer to stdout once it holds this much.
const OUTPUT_FLUSH_BYTES: usize = 1 << 20;

fn parse(format: Option<LogFormat>, max_entry_bytes: usize, files: &[String]) -> Result<()> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut buf = BytesMut::with_capacity(OUTPUT_FLUSH_BYTES + (64 << 10));
    let mut write_error: Option<io::Error> = None;
    let limits = Limits { max_entry_bytes };
    let summary = run::run_inputs(
        files,
        format,
        limits,
        false,
        |_| Ok(()),
        |entry: &Entry<'_>| {
            entry.write_record(&mut buf, &[]);
            buf.extend_from_slice(b"\n");
            if buf.len() >= OUTPUT_FLUSH_BYTES {
                if let Err(e) = out.write_all(&buf) {
                    write_error = Some(e);
                    return Flow::Stop;
                }
                buf.clear();
            }
            Flow::Continue
        },
    )?;
    if write_error.is_none() {
        if let Err(e) = out.write_all(&buf).and_then(|()| out.flush()) {
            write_error = Some(e);
        }
    }
    match write_error {
        // `aurora-logs parse x | head`: the reader left; that is not a failure.
        Some(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
        Some(e) => return Err(e).context("cannot write records to stdout"),
        None => {}
    }
    eprintln!("aurora-logs parse: {}", summary.line());
    Ok(())
}

fn digest(
    report: ReportFormat,
    format: Option<LogFormat>,
    limit: usize,
    new_digest: impl Fn() -> query_digest::Digest + Copy + Send,
    threads: usize,
    files: &[String],
) -> Result<()> {
    let started = std::time::Instant::now();
    let mut d = new_digest();
    let mut summary = run::Summary::default();
    let accept = |f: LogFormat| match f {
        LogFormat::MysqlSlow | LogFormat::Postgresql | LogFormat::PostgresqlCsv => Ok(()),
        other => bail!("digest reads MySQL slow logs and PostgreSQL logs, not {other}"),
    };
    for (index, name) in files.iter().enumerate() {
        d.begin_input(index);
        if let Some((format, ranges)) = parallel_ranges(name, format, threads)? {
            // One digest per part on its own core, merged: the same report as one pass.
            let path = std::path::Path::new(name);
            if let Some(stats) =
                query_digest::digest_parts(&mut d, path, format, ranges, new_digest)?
            {
                summary.files += 1;
                summary.parts += stats.len();
                for s in stats {
                    summary.add(s);
                }
                continue;
            }
            eprintln!(
                "aurora-logs digest: {name}: read in one pass, as more backends than the \
                 statement pairing holds waited for their duration line across a cut"
            );
        }
        let one = run::run_inputs(
            std::slice::from_ref(name),
            format,
            Limits::default(),
            true,
            accept,
            |entry: &Entry<'_>| {
                d.add_entry(entry);
                Flow::Continue
            },
        )?;
        summary.files += one.files;
        summary.add(one.stats);
    }
    summary.seconds = started.elapsed().as_secs_f64();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let written = match report {
        ReportFormat::Json => serde_json::to_writer(&mut out, &d.to_json(limit))
            .map_err(io::Error::from)
            .and_then(|()| writeln!(out)),
        ReportFormat::Table => d.write_table(&mut out, limit),
    };
    match written {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
        other => other.context("cannot write the report to stdout")?,
    }
    eprintln!("aurora-logs digest: {}", summary.line());
    Ok(())
}
