//! The report people use pt-query-digest and pgBadger for: timed queries grouped into classes by
//! fingerprint and ranked by total time.
//!
//! # Brief overview
//! A [`Digest`] takes parsed entries ([`Digest::add_entry`]) and keeps one class per fingerprint,
//! bounded in count and memory (see [`report`]); it prints as a table or JSON. Digests of parts
//! of the input merge into the digest of the whole ([`Digest::merge`]), so a large plain MySQL
//! slow log is cut at clean entry boundaries ([`split`]) and digested on every core
//! ([`digest_parts`]) with the same report as one pass. The binary only opens files and wires
//! this to the command line.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod report;
pub mod split;

use std::ops::Range;
use std::path::Path;

use parsers::{Entry, Flow, Limits, ParseStats};

pub use report::{Digest, MAX_EXAMPLE_BYTES, OTHER_CLASS};
pub use split::{parse_range, slow_log_ranges, ReadError, MIN_SPLIT_BYTES};

/// Digest the `parts` of the slow log at `path` on one thread each (each part's digest made by
/// `new_part`, as `into` was) and merge them into `into`, in order: the same report as one pass
/// over the file. Returns each part's parse statistics.
pub fn digest_parts(
    into: &mut Digest,
    path: &Path,
    parts: Vec<Range<u64>>,
    new_part: impl Fn() -> Digest + Copy + Send,
) -> Result<Vec<ParseStats>, ReadError> {
    let done = std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|range| {
                scope.spawn(move || -> Result<(Digest, ParseStats), ReadError> {
                    let mut part = new_part();
                    let stats =
                        parse_range(path, range, Limits::default(), |entry: &Entry<'_>| {
                            part.add_entry(entry);
                            Flow::Continue
                        })?;
                    Ok((part, stats))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a digest thread panicked"))
            .collect::<Result<Vec<_>, ReadError>>()
    })?;
    let mut stats = Vec::with_capacity(done.len());
    for (part, s) in done {
        into.merge(part);
        stats.push(s);
    }
    Ok(stats)
}
