//! `aurora-logs`: ships the database logs of Aurora MySQL and PostgreSQL into OpenObserve as
//! structured records. This binary only wires and configures; the work lives in the crates.

mod digest;
mod input;
mod run;

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use bytes::BytesMut;
use clap::{Parser, Subcommand, ValueEnum};
use parsers::{Entry, Flow, Limits, LogFormat};

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
        #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
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
        #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
        log_format: FormatArg,
        /// Show at most this many classes.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Keep at most this many classes in memory; later fingerprints are pooled in one class.
        #[arg(long, default_value_t = 100_000)]
        max_classes: usize,
        /// Files to read, in order.
        #[arg(required = true)]
        files: Vec<String>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum FormatArg {
    Auto,
    MysqlSlow,
    MysqlError,
    MysqlGeneral,
    MysqlAudit,
    Postgresql,
    PostgresqlCsv,
}

impl FormatArg {
    fn format(self) -> Option<LogFormat> {
        match self {
            FormatArg::Auto => None,
            FormatArg::MysqlSlow => Some(LogFormat::MysqlSlow),
            FormatArg::MysqlError => Some(LogFormat::MysqlError),
            FormatArg::MysqlGeneral => Some(LogFormat::MysqlGeneral),
            FormatArg::MysqlAudit => Some(LogFormat::MysqlAudit),
            FormatArg::Postgresql => Some(LogFormat::Postgresql),
            FormatArg::PostgresqlCsv => Some(LogFormat::PostgresqlCsv),
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ReportFormat {
    Table,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
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
            files,
        } => digest(format, log_format.format(), limit, max_classes, &files),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aurora-logs: {e:#}");
            ExitCode::FAILURE
        }
    }
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
    max_classes: usize,
    files: &[String],
) -> Result<()> {
    let mut d = digest::Digest::new(max_classes);
    let accept = |f: LogFormat| match f {
        LogFormat::MysqlSlow | LogFormat::Postgresql | LogFormat::PostgresqlCsv => Ok(()),
        other => bail!("digest reads MySQL slow logs and PostgreSQL logs, not {other}"),
    };
    let summary = run::run_inputs(
        files,
        format,
        Limits::default(),
        accept,
        |entry: &Entry<'_>| {
            match entry.query_sample() {
                Some(q) => d.add(&q),
                None => d.untimed_entries += 1,
            }
            Flow::Continue
        },
    )?;
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
