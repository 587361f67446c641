//! Parsing one large log on several cores for `digest`: the file is cut at entry boundaries
//! where nothing carries over from one entry to the next but what the joining step knows how to
//! carry, so that the parts together parse exactly as one pass.
//!
//! A MySQL slow log can be cut before a `# Time:` line that follows a non-header line: there a
//! new entry starts (`# Time:` after body lines always starts one), it carries its own time (so no time is
//! inherited across the cut), and no classifier state survives it.
//!
//! A PostgreSQL stderr log can be cut before a line with a prefix and a primary severity
//! ([`parsers::postgres::stderr::opens_entry`]): such a line opens an entry whatever came
//! before. What does cross the cut is the `log_statement` + `log_duration` pairing (a bare
//! `duration:` line pairs with the statement its backend logged earlier, perhaps in an earlier
//! part); parts are parsed with [`LogParser::track_backends`] and joined by
//! [`crate::digest_parts`]. Compressed inputs, stdin, csvlog and the other formats are parsed in
//! one pass.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};

use parsers::{Entry, Flow, LogFormat, LogParser};

/// A file that could not be cut or read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}: {source}", path.display())]
pub struct ReadError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

fn read_error(path: &Path) -> impl FnOnce(std::io::Error) -> ReadError + '_ {
    move |source| ReadError {
        path: path.to_path_buf(),
        source,
    }
}

type Result<T> = std::result::Result<T, ReadError>;

/// Files smaller than this are not worth cutting.
pub const MIN_SPLIT_BYTES: u64 = 32 << 20;
/// How far past each cut point a boundary is looked for before giving up on cutting.
const SEARCH_WINDOW: usize = 4 << 20;
const CHUNK_BYTES: usize = 1 << 20;
const TIME_LINE: &[u8] = b"\n# Time: ";

/// Whether `digest` can cut a log of this format into parts.
pub fn can_split(format: LogFormat) -> bool {
    matches!(format, LogFormat::MysqlSlow | LogFormat::Postgresql)
}

/// Byte ranges of `path`, a log of `format`, that can be parsed on their own (see the module
/// docs), `parts` of them, or `None` when the file should be read in one pass (under
/// `min_bytes`, compressed, a format that is not cut, or no boundary found).
pub fn ranges(
    path: &Path,
    format: LogFormat,
    parts: usize,
    min_bytes: u64,
) -> Result<Option<Vec<Range<u64>>>> {
    let boundary = match format {
        LogFormat::MysqlSlow => slow_log_boundary,
        LogFormat::Postgresql => postgres_boundary,
        _ => return Ok(None),
    };
    let mut file = File::open(path).map_err(read_error(path))?;
    let size = file.metadata().map_err(read_error(path))?.len();
    if parts < 2 || size < min_bytes {
        return Ok(None);
    }
    let mut head = [0u8; 4];
    let n = file.read(&mut head).map_err(read_error(path))?;
    if head[..n].starts_with(&[0x1f, 0x8b]) || head[..n].starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Ok(None);
    }
    let mut cuts = vec![0u64];
    let mut window = Vec::with_capacity(SEARCH_WINDOW);
    for k in 1..parts {
        let target = size * k as u64 / parts as u64;
        if target <= *cuts.last().unwrap_or(&0) {
            continue;
        }
        file.seek(SeekFrom::Start(target))
            .map_err(read_error(path))?;
        window.clear();
        (&mut file)
            .take(SEARCH_WINDOW as u64)
            .read_to_end(&mut window)
            .map_err(read_error(path))?;
        match boundary(&window) {
            Some(at) => cuts.push(target + at as u64),
            None => return Ok(None),
        }
    }
    cuts.push(size);
    cuts.dedup();
    Ok(Some(cuts.windows(2).map(|w| w[0]..w[1]).collect()))
}

/// Offset in `window` of the first `# Time:` line that follows a line not starting with `#`
/// (or an `# administrator command:` line): a clean entry boundary.
fn slow_log_boundary(window: &[u8]) -> Option<usize> {
    let finder = memchr::memmem::Finder::new(TIME_LINE);
    for nl in finder.find_iter(window) {
        // The line before: from the previous newline (exclusive) to `nl`.
        let Some(prev_nl) = memchr::memrchr(b'\n', &window[..nl]) else {
            continue;
        };
        let prev = &window[prev_nl + 1..nl];
        if prev.first() != Some(&b'#') || prev.starts_with(b"# administrator command:") {
            return Some(nl + 1);
        }
    }
    None
}

/// Offset in `window` of the first whole line (after the first line break, with a line break
/// after it) that opens a PostgreSQL stderr entry whatever came before it.
fn postgres_boundary(window: &[u8]) -> Option<usize> {
    let mut start = memchr::memchr(b'\n', window)? + 1;
    while let Some(len) = memchr::memchr(b'\n', &window[start..]) {
        if parsers::postgres::stderr::opens_entry(&window[start..start + len]) {
            return Some(start);
        }
        start += len + 1;
    }
    None
}

/// Parse `range` of the file at `path` with `parser`, handing entries to `on_entry`; offsets
/// are those of the whole file.
pub fn parse_range(
    path: &Path,
    range: Range<u64>,
    parser: &mut LogParser,
    mut on_entry: impl FnMut(&Entry<'_>) -> Flow,
) -> Result<()> {
    let mut file = File::open(path).map_err(read_error(path))?;
    file.seek(SeekFrom::Start(range.start))
        .map_err(read_error(path))?;
    let mut left = range.end - range.start;
    parser.set_offset(range.start);
    let mut buf = Vec::with_capacity(CHUNK_BYTES);
    while left > 0 {
        buf.clear();
        (&mut file)
            .take(left.min(CHUNK_BYTES as u64))
            .read_to_end(&mut buf)
            .map_err(read_error(path))?;
        let n = buf.len();
        if n == 0 {
            break; // the file shrank under us: parse what was there
        }
        left -= n as u64;
        if parser.feed(&buf[..n], &mut on_entry) == Flow::Stop {
            return Ok(());
        }
    }
    parser.finish(&mut on_entry);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records of `path` parsed in the given ranges, concatenated.
    fn records(path: &Path, ranges: &[Range<u64>]) -> Vec<u8> {
        let mut out = bytes::BytesMut::new();
        for r in ranges {
            let mut parser = LogParser::new(LogFormat::MysqlSlow, parsers::Limits::default());
            parse_range(path, r.clone(), &mut parser, |e: &Entry<'_>| {
                e.write_record(&mut out, &[]);
                out.extend_from_slice(b"\n");
                Flow::Continue
            })
            .unwrap();
        }
        out.to_vec()
    }

    #[test]
    fn parts_parse_exactly_like_one_pass() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("slow.log");
        let mut text = Vec::new();
        let mut g =
            simulator::LogGenerator::new(simulator::LogKind::MysqlSlow, 5, 1_704_358_800_000_000);
        g.fill(&mut text, 1 << 20);
        simulator::LogGenerator::write_banner(&mut text);
        g.fill(&mut text, 1 << 20);
        std::fs::write(&path, &text).unwrap();
        let size = text.len() as u64;
        let ranges = ranges(&path, LogFormat::MysqlSlow, 3, 0)
            .unwrap()
            .expect("a boundary in each third");
        assert_eq!(ranges.len(), 3);
        assert_eq!(ranges.first().unwrap().start, 0);
        assert_eq!(ranges.last().unwrap().end, size);
        assert_eq!(
            records(&path, &ranges),
            records(&path, std::slice::from_ref(&(0..size)))
        );
        assert!(
            super::ranges(&path, LogFormat::MysqlSlow, 3, size + 1)
                .unwrap()
                .is_none(),
            "small files are not cut"
        );
    }

    #[test]
    fn cuts_only_at_clean_time_lines() {
        // The window starts mid-line: the first line's start is unknown, so it is never a cut.
        assert_eq!(slow_log_boundary(b"select 1;\n# Time: 1\n"), None);
        let w = b"t\nselect 1;\n# Time: 1\n# User@Host: x\n# Time: 2\nselect 2;\n# Time: 3\n";
        let at = slow_log_boundary(w).unwrap();
        assert!(w[at..].starts_with(b"# Time: 1"));
        let w = b"# Query_time: 1\n# Time: 2\n";
        assert_eq!(slow_log_boundary(w), None);
        let w = b"x\n# administrator command: Quit;\n# Time: 9\n";
        assert!(w[slow_log_boundary(w).unwrap()..].starts_with(b"# Time: 9"));
    }

    #[test]
    fn postgres_cuts_only_before_primary_lines() {
        let p = "2024-01-04 09:00:00 UTC:10.0.0.1(5432):app@db:[17]:";
        // A partial first line, a DETAIL line and a continuation are no cut; the LOG line is.
        let w =
            format!("{p}LOG:  cut?\n{p}DETAIL:  no\n\tcontinued\n{p}LOG:  statement: select 1\n");
        let at = postgres_boundary(w.as_bytes()).unwrap();
        assert!(
            w[at..].ends_with("LOG:  statement: select 1\n"),
            "{}",
            &w[at..]
        );
        // A line without its line break in the window is not taken.
        assert_eq!(
            postgres_boundary(format!("x\n{p}LOG:  half").as_bytes()),
            None
        );
        assert_eq!(postgres_boundary(b"no line break"), None);
    }
}
