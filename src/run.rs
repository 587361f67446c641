//! Driving parsers over local inputs: the loop shared by `parse` and `digest`.

use std::io::IsTerminal;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use parsers::{Entry, Flow, Limits, LogFormat, LogParser, ParseStats};

use crate::input;

/// Read size: large enough that per-chunk costs vanish, small enough to stay in cache.
const CHUNK_BYTES: usize = 1 << 20;

/// What was read, over all inputs.
#[derive(Debug, Default)]
pub struct Summary {
    /// Inputs read.
    pub files: usize,
    /// Parser counters, summed.
    pub stats: ParseStats,
    /// Parts read on cores of their own (`digest` of a large file), 0 when none.
    pub parts: usize,
    /// Wall time.
    pub seconds: f64,
}

impl Summary {
    /// Add one input's (or one part's) counters.
    pub fn add(&mut self, s: ParseStats) {
        self.stats.entries += s.entries;
        self.stats.parse_errors += s.parse_errors;
        self.stats.bytes += s.bytes;
        self.stats.frame.skipped_lines += s.frame.skipped_lines;
        self.stats.frame.skipped_bytes += s.frame.skipped_bytes;
        self.stats.frame.truncated_entries += s.frame.truncated_entries;
        self.stats.frame.truncated_bytes += s.frame.truncated_bytes;
        self.stats.unpaired_evictions += s.unpaired_evictions;
    }

    /// One line for stderr.
    pub fn line(&self) -> String {
        let mb = self.stats.bytes as f64 / 1e6;
        let parts = match self.parts {
            0 => String::new(),
            n => format!(" in {n} parts"),
        };
        format!(
            "{} file(s){parts}, {:.1} MB, {} entries, {} flagged with parse_error, {} lines skipped, {} entries cut ({} bytes dropped), {} durations unpaired (statement memory full), {:.2} s, {:.0} MB/s",
            self.files,
            mb,
            self.stats.entries,
            self.stats.parse_errors,
            self.stats.frame.skipped_lines,
            self.stats.frame.truncated_entries,
            self.stats.frame.truncated_bytes,
            self.stats.unpaired_evictions,
            self.seconds,
            mb / self.seconds.max(1e-9)
        )
    }
}

/// The format of one input: given, else from its name, else from its first bytes.
pub fn pick_format(given: Option<LogFormat>, name: &str, head: &[u8]) -> Result<LogFormat> {
    if let Some(f) = given {
        return Ok(f);
    }
    if let Some(f) = parsers::detect_from_name(name) {
        return Ok(f);
    }
    match parsers::detect_from_content(head) {
        Some(f) => Ok(f),
        None => bail!("cannot tell the log format of {name}: pass --format (mysql-slow, mysql-error, mysql-general, mysql-audit, postgresql, postgresql-csv)"),
    }
}

/// Parse every input in order, handing each entry to `on_entry` (which may stop early);
/// `samples_only`: the entries are read for their query samples only
/// ([`LogParser::samples_only`]).
pub fn run_inputs(
    files: &[String],
    format: Option<LogFormat>,
    limits: Limits,
    samples_only: bool,
    accept: impl Fn(LogFormat) -> Result<()>,
    mut on_entry: impl FnMut(&Entry<'_>) -> Flow,
) -> Result<Summary> {
    let started = Instant::now();
    let mut summary = Summary::default();
    let mut buf = vec![0u8; CHUNK_BYTES];
    let show_progress = std::io::stderr().is_terminal();
    for name in files {
        let mut input = input::open(name)?;
        let progress = progress_bar(show_progress, &input);
        let mut n = input::read_chunk(&mut input.reader, &mut buf)
            .with_context(|| format!("cannot read {name}"))?;
        let fmt = pick_format(format, name, &buf[..n])?;
        accept(fmt).with_context(|| format!("{name} is {fmt}"))?;
        let mut parser = LogParser::new(fmt, limits);
        if samples_only {
            parser = parser.samples_only();
        }
        let mut stopped = false;
        while n > 0 {
            if parser.feed(&buf[..n], &mut on_entry) == Flow::Stop {
                stopped = true;
                break;
            }
            progress.inc(n as u64);
            n = input::read_chunk(&mut input.reader, &mut buf)
                .with_context(|| format!("cannot read {name} (corrupt compressed data?)"))?;
        }
        if !stopped {
            stopped = parser.finish(&mut on_entry) == Flow::Stop;
        }
        progress.finish_and_clear();
        summary.files += 1;
        summary.add(parser.stats());
        if stopped {
            break;
        }
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

fn progress_bar(show: bool, input: &input::Input) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = match input.size.filter(|_| !input.compressed) {
        Some(size) => {
            let bar = ProgressBar::new(size);
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        }
        None => {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {msg} {bytes} decompressed, {bytes_per_sec}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar
        }
    };
    bar.set_message(input.name.clone());
    bar
}
