//! How `DownloadDBLogFilePortion` cuts a file into pages: whole lines up to a line count, a
//! 1 MB cap that cuts mid-line and loses the rest of that line, and the tail of a file.
//!
//! Free functions over a [`ByteSource`], so the same code serves files held in memory and
//! large files read from disk, and unit tests can check it on plain byte strings.

use std::borrow::Cow;
use std::io;

/// Most bytes of log data in one portion response (RDS.md: "capped at 1 MB").
pub const PORTION_CAP_BYTES: usize = 1024 * 1024;

/// What ends a portion that was cut at the cap (RDS.md, verbatim).
pub const TRUNCATION_SUFFIX: &str = " [Your log message was truncated]";

/// Bytes read at a time when scanning for line ends outside the first window.
const SCAN_CHUNK: usize = 64 * 1024;

/// Bytes that can be read at an offset.
pub(crate) trait ByteSource {
    /// Length in bytes.
    fn len(&self) -> u64;
    /// Up to `max` bytes from `off` (fewer only at the end).
    fn read_at(&self, off: u64, max: usize) -> io::Result<Cow<'_, [u8]>>;
}

impl ByteSource for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_at(&self, off: u64, max: usize) -> io::Result<Cow<'_, [u8]>> {
        let start = usize::try_from(off).unwrap_or(usize::MAX).min(self.len());
        let end = start.saturating_add(max).min(self.len());
        Ok(Cow::Borrowed(&self[start..end]))
    }
}

/// Sized holders of bytes, so they can be `&dyn ByteSource`.
macro_rules! byte_source_by_slice {
    ($($t:ty),*) => {$(
        impl ByteSource for $t {
            fn len(&self) -> u64 {
                <[u8] as ByteSource>::len(self)
            }

            fn read_at(&self, off: u64, max: usize) -> io::Result<Cow<'_, [u8]>> {
                <[u8] as ByteSource>::read_at(self, off, max)
            }
        }
    )*};
}

byte_source_by_slice!(Vec<u8>, bytes::Bytes);

/// One page of a file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Page {
    /// The bytes to send, the truncation suffix included.
    pub data: Vec<u8>,
    /// Where the next page starts.
    pub next: u64,
    /// The page was cut at the cap.
    pub truncated: bool,
}

/// Up to `lines` lines from `off`, at most `cap` bytes: a page that would be longer is cut at
/// `cap - suffix` bytes (on a UTF-8 boundary), ends with [`TRUNCATION_SUFFIX`], and its `next`
/// skips the rest of the line that was cut.
pub(crate) fn read_lines<S: ByteSource + ?Sized>(
    src: &S,
    off: u64,
    lines: usize,
    cap: usize,
) -> io::Result<Page> {
    debug_assert!(lines >= 1 && cap > TRUNCATION_SUFFIX.len());
    let len = src.len();
    let off = off.min(len);
    let window = src.read_at(off, cap + 1)?;
    let end_of_lines = memchr::memchr_iter(b'\n', &window)
        .nth(lines - 1)
        .map(|p| p + 1);
    let fits = match end_of_lines {
        Some(end) => (end <= cap).then_some(end),
        // Fewer lines than asked: the rest of the file, if it is within the cap.
        None => (window.len() <= cap).then_some(window.len()),
    };
    if let Some(end) = fits {
        return Ok(Page {
            data: window[..end].to_vec(),
            next: off + end as u64,
            truncated: false,
        });
    }
    let cut = floor_char_boundary(&window, cap - TRUNCATION_SUFFIX.len());
    let mut data = Vec::with_capacity(cap);
    data.extend_from_slice(&window[..cut]);
    data.extend_from_slice(TRUNCATION_SUFFIX.as_bytes());
    let next = match memchr::memchr(b'\n', &window[cut..]) {
        Some(p) => off + (cut + p + 1) as u64,
        None => line_end_from(src, off + window.len() as u64)?,
    };
    Ok(Page {
        data,
        next,
        truncated: true,
    })
}

/// The offset where the last `lines` lines of the file start (0 if it has fewer).
pub(crate) fn tail_start<S: ByteSource + ?Sized>(src: &S, lines: usize) -> io::Result<u64> {
    let len = src.len();
    let mut end = len;
    // A final newline ends the last line; it does not start another.
    if len > 0 && src.read_at(len - 1, 1)?.first() == Some(&b'\n') {
        end -= 1;
    }
    let mut seen = 0;
    while end > 0 {
        let start = end.saturating_sub(SCAN_CHUNK as u64);
        let chunk = src.read_at(start, (end - start) as usize)?;
        for p in memchr::memrchr_iter(b'\n', &chunk) {
            seen += 1;
            if seen == lines {
                return Ok(start + p as u64 + 1);
            }
        }
        end = start;
    }
    Ok(0)
}

/// The offset after `lines` more lines from `off` (the end of the file if it has fewer).
pub(crate) fn skip_lines<S: ByteSource + ?Sized>(
    src: &S,
    mut off: u64,
    lines: usize,
) -> io::Result<u64> {
    for _ in 0..lines {
        off = line_end_from(src, off)?;
    }
    Ok(off)
}

/// The offset after the next newline at or after `off`, or the end of the file.
fn line_end_from<S: ByteSource + ?Sized>(src: &S, mut off: u64) -> io::Result<u64> {
    let len = src.len();
    while off < len {
        let chunk = src.read_at(off, SCAN_CHUNK)?;
        if chunk.is_empty() {
            break;
        }
        if let Some(p) = memchr::memchr(b'\n', &chunk) {
            return Ok(off + p as u64 + 1);
        }
        off += chunk.len() as u64;
    }
    Ok(len)
}

/// The largest index `<= at` that does not split a UTF-8 sequence.
fn floor_char_boundary(bytes: &[u8], at: usize) -> usize {
    let mut i = at.min(bytes.len());
    // At most three continuation bytes precede a character boundary.
    for _ in 0..3 {
        if i == 0 || i == bytes.len() || (bytes[i] & 0xC0) != 0x80 {
            break;
        }
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUFFIX_LEN: usize = TRUNCATION_SUFFIX.len();

    #[test]
    fn whole_lines_up_to_the_count() {
        let f: &[u8] = b"a\nbb\nccc\n";
        let p = read_lines(f, 0, 2, 100).unwrap();
        assert_eq!(
            (p.data.as_slice(), p.next, p.truncated),
            (&b"a\nbb\n"[..], 5, false)
        );
        let p = read_lines(f, 5, 10, 100).unwrap();
        assert_eq!((p.data.as_slice(), p.next), (&b"ccc\n"[..], 9));
        let p = read_lines(f, 9, 10, 100).unwrap();
        assert_eq!((p.data.as_slice(), p.next), (&b""[..], 9));
    }

    #[test]
    fn a_page_over_the_cap_is_cut_and_loses_the_rest_of_its_line() {
        let cap = SUFFIX_LEN + 10;
        let f = [&b"0123456\n"[..], &[b'a'; 60], b"\nz\n"].concat();
        let p = read_lines(&f[..], 0, 3, cap).unwrap();
        assert!(p.truncated);
        assert_eq!(
            p.data,
            [&b"0123456\naa"[..], TRUNCATION_SUFFIX.as_bytes()].concat()
        );
        assert_eq!(p.next, 69, "past the line that was cut");
        assert!(p.data.len() <= cap);
        // Fewer lines fit whole.
        let p = read_lines(&f[..], 0, 1, cap).unwrap();
        assert_eq!((p.data.as_slice(), p.truncated), (&b"0123456\n"[..], false));
    }

    #[test]
    fn a_line_longer_than_the_window_is_skipped_to_its_end() {
        let cap = SUFFIX_LEN + 4;
        let mut f = vec![b'x'; 200_000];
        f.extend_from_slice(b"\nnext\n");
        let p = read_lines(&f[..], 0, 5, cap).unwrap();
        assert_eq!(p.next, 200_001);
        assert!(p.truncated);
    }

    #[test]
    fn the_cut_keeps_utf8_whole() {
        let cap = SUFFIX_LEN + 4;
        let f = "ab\u{e9}\u{e9}\u{e9}\n".as_bytes();
        let p = read_lines(f, 0, 1, cap).unwrap();
        assert!(std::str::from_utf8(&p.data).is_ok());
        assert!(p.data.starts_with(b"ab\xc3\xa9"));
    }

    #[test]
    fn tail_starts_at_the_last_lines() {
        let f: &[u8] = b"a\nbb\nccc\n";
        assert_eq!(tail_start(f, 1).unwrap(), 5);
        assert_eq!(tail_start(f, 2).unwrap(), 2);
        assert_eq!(tail_start(f, 3).unwrap(), 0);
        assert_eq!(tail_start(f, 30).unwrap(), 0);
        assert_eq!(tail_start(&b"a\nunfinished"[..], 1).unwrap(), 2);
        assert_eq!(tail_start(&b""[..], 1).unwrap(), 0);
        let big: Vec<u8> = (0..100_000).flat_map(|_| *b"line\n").collect();
        assert_eq!(tail_start(&big[..], 3).unwrap(), big.len() as u64 - 15);
    }

    #[test]
    fn skip_moves_past_whole_lines() {
        let f: &[u8] = b"a\nbb\nccc\n";
        assert_eq!(skip_lines(f, 0, 2).unwrap(), 5);
        assert_eq!(skip_lines(f, 5, 9).unwrap(), 9);
    }
}
