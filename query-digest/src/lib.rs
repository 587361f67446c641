//! The report people use pt-query-digest and pgBadger for: timed queries grouped into classes by
//! fingerprint and ranked by total time.
//!
//! # Brief overview
//! A [`Digest`] takes parsed entries ([`Digest::add_entry`]) and keeps one class per fingerprint,
//! bounded in count and memory (see [`report`]); it prints as a table or JSON. Digests of parts
//! of the input merge into the digest of the whole ([`Digest::merge`]), so a large plain MySQL
//! slow log or PostgreSQL stderr log is cut at clean entry boundaries ([`split`]) and digested
//! on every core ([`digest_parts`]) with the same report as one pass. The binary only opens
//! files and wires this to the command line.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod report;
pub mod split;

use std::ops::Range;
use std::path::Path;

use parsers::postgres::{fingerprint_statement, MAX_PAIRED_PIDS};
use parsers::{Entry, Flow, Limits, LogFormat, LogParser, ParseStats, QuerySample};
use rustc_hash::FxHashMap;

pub use report::{Digest, MAX_EXAMPLE_BYTES, OTHER_CLASS};
pub use split::{can_split, parse_range, ranges, ReadError, MIN_SPLIT_BYTES};

/// Digest the `parts` of the log at `path` (of `format`, cut by [`split::ranges`]) on one
/// thread each, each part's digest made by `new_part` as `into` was, and merge them into
/// `into`, in order: the same report as one pass over the file. Returns each part's parse
/// statistics, or `None` when a PostgreSQL log's statement pairing cannot be joined exactly
/// (the bounded pairing memory would have evicted a statement in one pass): then read the file
/// in one pass.
pub fn digest_parts(
    into: &mut Digest,
    path: &Path,
    format: LogFormat,
    parts: Vec<Range<u64>>,
    new_part: impl Fn() -> Digest + Copy + Send,
) -> Result<Option<Vec<ParseStats>>, ReadError> {
    let into_ref = &*into;
    let done = std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|range| {
                scope.spawn(move || {
                    let mut part = new_part();
                    part.same_input_as(into_ref);
                    digest_part(part, path, format, range)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a digest thread panicked"))
            .collect::<Result<Vec<_>, ReadError>>()
    })?;
    let Some(done) = join_pairings(done) else {
        return Ok(None);
    };
    let mut stats = Vec::with_capacity(done.len());
    for (part, s) in done {
        into.merge(part);
        stats.push(s);
    }
    Ok(Some(stats))
}

/// One part, digested but for its bare `duration:` entries whose statement may be in an
/// earlier part.
struct Part {
    digest: Digest,
    stats: ParseStats,
    /// Those entries, in order.
    open: Vec<OpenDuration>,
    /// For each backend with a pairing event in the part, the statement it left remembered.
    left: Vec<(u64, Option<Vec<u8>>)>,
    /// The most backends the part's pairing memory held at once.
    peak: usize,
    /// The part had more backends than the pairing could follow.
    overflowed: bool,
}

/// A bare `duration:` entry left for [`join_pairings`].
struct OpenDuration {
    pid: u64,
    query_time_us: u64,
    timestamp_us: Option<i64>,
    at: u64,
    cut: bool,
    /// The entry's own sample without pairing (from its `STATEMENT:` line): fingerprint, text.
    alone: Option<(Vec<u8>, Vec<u8>)>,
}

impl OpenDuration {
    /// Count this duration in `digest` as a run of `statement` (fingerprinted `fingerprint`).
    fn add_to(&self, digest: &mut Digest, fingerprint: &[u8], statement: &[u8]) {
        let sample = QuerySample::timed(
            fingerprint,
            statement,
            self.query_time_us,
            self.timestamp_us,
        );
        digest.add(&sample, self.at);
    }
}

/// Digest the whole file at `path`, a log of `format`, in one pass into `into`.
pub fn digest_one_pass(
    into: &mut Digest,
    path: &Path,
    format: LogFormat,
) -> Result<ParseStats, ReadError> {
    let mut parser = LogParser::new(format, Limits::default()).samples_only();
    parse_range(path, 0..u64::MAX, &mut parser, |e: &Entry<'_>| {
        into.add_entry(e);
        Flow::Continue
    })?;
    Ok(parser.stats())
}

fn digest_part(
    mut digest: Digest,
    path: &Path,
    format: LogFormat,
    range: Range<u64>,
) -> Result<Part, ReadError> {
    let mut parser = LogParser::new(format, Limits::default())
        .samples_only()
        .track_backends();
    let mut open = Vec::new();
    parse_range(path, range, &mut parser, |entry: &Entry<'_>| {
        match entry.open_pairing() {
            Some(o) => open.push(OpenDuration {
                pid: o.pid,
                query_time_us: o.query_time_us,
                timestamp_us: entry.timestamp_us(),
                at: digest.position(entry.offset()),
                cut: entry.raw.truncated,
                alone: entry
                    .query_sample()
                    .map(|q| (q.fingerprint.to_vec(), q.statement.to_vec())),
            }),
            None => digest.add_entry(entry),
        }
        Flow::Continue
    })?;
    let stats = parser.stats();
    let (left, peak, overflowed) = parser
        .statement_memory()
        .map_or_else(Default::default, |m| {
            let left = m
                .touched()
                .map(|pid| (pid, m.statement(pid).map(<[u8]>::to_vec)));
            (left.collect(), m.peak(), m.tracking_overflowed())
        });
    Ok(Part {
        digest,
        stats,
        open,
        left,
        peak,
        overflowed,
    })
}

/// Pair each part's open durations with the statements the parts before it left, as one pass
/// would have: the digests and statistics of the parts, or `None` if one pass would have
/// evicted a remembered statement (more than [`MAX_PAIRED_PIDS`] backends waiting for their
/// `duration:` line), where the parts cannot tell which, or a part saw more backends than it
/// could follow.
fn join_pairings(parts: Vec<Part>) -> Option<Vec<(Digest, ParseStats)>> {
    let mut carried: FxHashMap<u64, Vec<u8>> = FxHashMap::default();
    let mut fingerprint = Vec::new();
    let mut out = Vec::with_capacity(parts.len());
    for mut part in parts {
        if part.overflowed
            || part.stats.unpaired_evictions > 0
            || carried.len() + part.peak > MAX_PAIRED_PIDS
        {
            return None;
        }
        for o in part.open {
            let (fp, statement) = match (carried.get(&o.pid), &o.alone) {
                (Some(stmt), _) => {
                    let fp = if fingerprint_statement(stmt, o.cut, &mut fingerprint) {
                        &fingerprint[..]
                    } else {
                        &stmt[..]
                    };
                    (fp, &stmt[..])
                }
                (None, Some((fp, stmt))) => (&fp[..], &stmt[..]),
                (None, None) => {
                    part.digest.untimed_entries += 1;
                    continue;
                }
            };
            o.add_to(&mut part.digest, fp, statement);
        }
        for (pid, statement) in part.left {
            match statement {
                Some(s) => carried.insert(pid, s),
                None => carried.remove(&pid),
            };
        }
        out.push((part.digest, part.stats));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic PostgreSQL stderr log in which 40 backends interleave `log_statement`
    /// lines with their later bare `duration:` lines, timed statements, prepared executions,
    /// errors with `STATEMENT:` lines, unpaired durations and multi-line statements; durations
    /// repeat so that examples tie.
    fn pairing_log(entries: usize, backends: u64) -> Vec<u8> {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut out = String::new();
        for i in 0..entries {
            let pid = 100 + next(backends);
            let p = format!(
                "2024-01-04 {:02}:{:02}:{:02} UTC:10.0.0.1(5432):app@db:[{pid}]:",
                9 + i / 3600 % 10,
                i / 60 % 60,
                i % 60
            );
            let d = format!("{}.{:03}", next(3), next(20));
            let n = next(1000);
            let line = match next(12) {
                0..=3 => format!(
                    "{p}LOG:  statement: SELECT v FROM t{} WHERE id = {n}\n",
                    n % 5
                ),
                4 => format!("{p}LOG:  statement: UPDATE t SET a = {n}\n\tWHERE b = 'x{n}'\n"),
                5 => format!("{p}LOG:  execute S_{}: SELECT $1 + {n}\n", n % 3),
                6..=8 => format!("{p}LOG:  duration: {d} ms\n"),
                9 => {
                    format!("{p}LOG:  duration: {d} ms  statement: DELETE FROM t WHERE id = {n}\n")
                }
                10 => format!("{p}LOG:  duration: {d} ms\n{p}STATEMENT:  SELECT fallback {n}\n"),
                _ => format!(
                    "{p}ERROR:  syntax error at or near \"selec\"\n{p}STATEMENT:  selec {n}\n"
                ),
            };
            out.push_str(&line);
        }
        out.into_bytes()
    }

    fn one_pass(path: &Path, format: LogFormat) -> Digest {
        let mut d = Digest::new(1000);
        digest_one_pass(&mut d, path, format).unwrap();
        d
    }

    #[test]
    fn postgres_parts_pair_across_cuts_and_report_like_one_pass() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("postgresql.log");
        std::fs::write(&path, pairing_log(20_000, 40)).unwrap();
        let whole = one_pass(&path, LogFormat::Postgresql).to_json(1000);
        assert!(
            whole["summary"]["queries"].as_u64().unwrap() > 5_000,
            "{}",
            whole["summary"]
        );
        for n in [2, 3, 5, 8, 13] {
            let parts = ranges(&path, LogFormat::Postgresql, n, 0).unwrap().unwrap();
            assert_eq!(parts.len(), n);
            // Without the join, the durations at the start of each part lose their statements.
            let mut naive = Digest::new(1000);
            for r in &parts {
                let part = digest_part(Digest::new(1000), &path, LogFormat::Postgresql, r.clone())
                    .unwrap();
                assert!(
                    r.start == 0 || !part.open.is_empty(),
                    "{r:?} starts with no open duration"
                );
                let mut digest = part.digest;
                for o in part.open {
                    match &o.alone {
                        Some((fp, stmt)) => o.add_to(&mut digest, fp, stmt),
                        None => digest.untimed_entries += 1,
                    }
                }
                naive.merge(digest);
            }
            assert_ne!(
                naive.to_json(1000),
                whole,
                "{n} parts: the cuts separate no pair"
            );
            let mut d = Digest::new(1000);
            let stats = digest_parts(&mut d, &path, LogFormat::Postgresql, parts, || {
                Digest::new(1000)
            })
            .unwrap()
            .expect("40 backends join");
            assert_eq!(stats.len(), n);
            assert_eq!(d.to_json(1000), whole, "{n} parts");
        }
    }

    #[test]
    fn postgres_parts_fall_back_when_one_pass_would_evict() {
        // 3,000 backends log a statement, then 2,000 others, then all 5,000 their duration:
        // one pass remembers at most 4,096 and evicts; the parts cannot tell which, so they
        // decline.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("postgresql.log");
        let p = |pid: u64| format!("2024-01-04 09:00:00 UTC:10.0.0.1(5432):app@db:[{pid}]:");
        let mut text = String::new();
        for pid in 0..5_000 {
            text.push_str(&format!("{}LOG:  statement: SELECT {pid}\n", p(pid)));
        }
        for pid in 0..5_000 {
            text.push_str(&format!("{}LOG:  duration: 1.000 ms\n", p(pid)));
        }
        std::fs::write(&path, &text).unwrap();
        let cut = text
            .find(&format!("{}LOG:  statement: SELECT 3000\n", p(3000)))
            .unwrap();
        let parts = vec![0..cut as u64, cut as u64..text.len() as u64];
        let mut d = Digest::new(10);
        let joined = digest_parts(&mut d, &path, LogFormat::Postgresql, parts, || {
            Digest::new(10)
        });
        assert!(joined.unwrap().is_none());
        assert_eq!(d.to_json(10)["summary"]["queries"], 0, "nothing merged");
    }
}
