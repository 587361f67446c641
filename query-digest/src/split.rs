//! Parsing one large slow log on several cores for `digest`: the file is cut at entry
//! boundaries where nothing carries over from one entry to the next, so that each part parses
//! exactly as it would in one pass.
//!
//! A MySQL slow log can be cut before a `# Time:` line that follows a non-header line: there a
//! new entry starts (`# Time:` after body lines always starts one), it carries its own time (so no time is
//! inherited across the cut), and no classifier state survives it. Compressed inputs, stdin and
//! other formats are parsed in one pass (PostgreSQL pairs `duration:` lines with statements
//! logged earlier by the same backend, which a cut could separate).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};

use parsers::{Entry, Flow, Limits, LogFormat, LogParser, ParseStats};

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

/// Byte ranges of `path` that can be parsed independently, `parts` of them, or `None` when the
/// file should be read in one pass (under `min_bytes`, compressed, or no boundary found).
pub fn slow_log_ranges(
    path: &Path,
    parts: usize,
    min_bytes: u64,
) -> Result<Option<Vec<Range<u64>>>> {
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
fn boundary(window: &[u8]) -> Option<usize> {
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

/// Parse `range` of the slow log at `path`, handing entries to `on_entry`; offsets are those of
/// the whole file.
pub fn parse_range(
    path: &Path,
    range: Range<u64>,
    limits: Limits,
    mut on_entry: impl FnMut(&Entry<'_>) -> Flow,
) -> Result<ParseStats> {
    let mut file = File::open(path).map_err(read_error(path))?;
    file.seek(SeekFrom::Start(range.start))
        .map_err(read_error(path))?;
    let mut left = range.end - range.start;
    let mut parser = LogParser::new(LogFormat::MysqlSlow, limits);
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
            return Ok(parser.stats());
        }
    }
    parser.finish(&mut on_entry);
    Ok(parser.stats())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records of `path` parsed in the given ranges, concatenated.
    fn records(path: &Path, ranges: &[Range<u64>]) -> Vec<u8> {
        let mut out = bytes::BytesMut::new();
        for r in ranges {
            parse_range(path, r.clone(), Limits::default(), |e: &Entry<'_>| {
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
        let ranges = slow_log_ranges(&path, 3, 0)
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
            slow_log_ranges(&path, 3, size + 1).unwrap().is_none(),
            "small files are not cut"
        );
    }

    #[test]
    fn cuts_only_at_clean_time_lines() {
        // The window starts mid-line: the first line's start is unknown, so it is never a cut.
        assert_eq!(boundary(b"select 1;\n# Time: 1\n"), None);
        let w = b"t\nselect 1;\n# Time: 1\n# User@Host: x\n# Time: 2\nselect 2;\n# Time: 3\n";
        let at = boundary(w).unwrap();
        assert!(w[at..].starts_with(b"# Time: 1"));
        let w = b"# Query_time: 1\n# Time: 2\n";
        assert_eq!(boundary(w), None);
        let w = b"x\n# administrator command: Quit;\n# Time: 9\n";
        assert!(w[boundary(w).unwrap()..].starts_with(b"# Time: 9"));
    }
}
