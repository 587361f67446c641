//! Streaming framing: bytes in any chunking → complete, line-aligned raw entries.
//!
//! Two layers, both bounded:
//! 1. lines: complete physical lines are handed out straight from the chunk; only a line that spans
//!    chunks is copied (into `carry`, capped at `max_entry_bytes`).
//! 2. entries: a format's [`LineClassifier`] says whether a line starts an entry, continues the open
//!    one, or belongs to none. An entry that lies wholly inside one chunk is handed to the sink as a
//!    slice of that chunk; one that spans chunks is assembled in `owned` (the only copy we make).
//!
//! An entry that would grow past `max_entry_bytes` is emitted cut at that size with
//! [`RawEntry::truncated`] set, and the rest of it (up to the next start line) is dropped and
//! counted. Nothing here grows with the size of the input.

use memchr::memchr;

/// What a line is to the entry being assembled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineClass {
    /// The line begins a new entry (and ends the open one).
    Start,
    /// The line belongs to the open entry.
    Continue,
    /// The line belongs to no entry (e.g. a server start banner): it ends the open entry and is
    /// counted as skipped.
    Skip,
}

/// Decides, line by line, where a format's entries begin. Implementations may keep state (the
/// previous line's kind, an open quote), but must decide from the bytes alone so that any
/// chunking of the same input yields the same entries.
pub trait LineClassifier {
    /// Classify one physical line, given without its `\n` (a `\r` before it is still there).
    fn classify(&mut self, line: &[u8]) -> LineClass;
}

/// One complete entry as it stands in the input.
#[derive(Clone, Copy, Debug)]
pub struct RawEntry<'a> {
    /// Byte offset of the entry's first byte in the stream.
    pub offset: u64,
    /// The entry's bytes, without its final line break.
    pub text: &'a [u8],
    /// The entry was longer than the configured bound and was cut at it.
    pub truncated: bool,
    /// A line of the entry ends with the RDS marker ` [Your log message was truncated]`.
    pub rds_truncated: bool,
    /// Offsets in `text` of its first line breaks (`\n`), in order, as the framer found them:
    /// all of them when fewer than [`MAX_INDEXED_NEWLINES`], else the first that many. A format
    /// parser reads its header lines from here instead of searching for their ends again.
    pub newlines: &'a [usize],
}

/// How many line breaks of an entry [`RawEntry::newlines`] holds at most: enough for the header
/// and session lines of any slow log entry; the lines of a long statement are not needed.
pub const MAX_INDEXED_NEWLINES: usize = 16;

/// Text that RDS appends to a line cut by the 1 MB cap of `DownloadDBLogFilePortion`.
pub const RDS_TRUNCATION_SUFFIX: &[u8] = b" [Your log message was truncated]";

/// Finds the line ends of one entry: from the framer's index ([`RawEntry::newlines`]) while it
/// lasts, then by search. Queries must come in non-decreasing order of position.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LineEnds<'a> {
    text: &'a [u8],
    index: &'a [usize],
    /// Index entries before this one lie before every position asked about so far.
    next: usize,
}

impl<'a> LineEnds<'a> {
    /// The line ends of `raw`.
    pub(crate) fn new(raw: &RawEntry<'a>) -> LineEnds<'a> {
        debug_assert!(raw
            .newlines
            .iter()
            .all(|&at| raw.text.get(at) == Some(&b'\n')));
        LineEnds {
            text: raw.text,
            index: raw.newlines,
            next: 0,
        }
    }

    /// Position of the first `\n` at or after `from`, or the length of the text if none.
    #[inline]
    pub(crate) fn find(&mut self, from: usize) -> usize {
        while let Some(&at) = self.index.get(self.next) {
            if at >= from {
                return at;
            }
            self.next += 1;
        }
        if self.index.len() < MAX_INDEXED_NEWLINES {
            // The index holds every line break of the text: there is none after `from`.
            return self.text.len();
        }
        let from = from.min(self.text.len());
        memchr(b'\n', &self.text[from..]).map_or(self.text.len(), |i| from + i)
    }
}

/// Whether the sink wants more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep going.
    Continue,
    /// Stop: the parser emits nothing more from this call.
    Stop,
}

/// Counters of what framing dropped or cut, so that nothing disappears silently.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameStats {
    /// Lines that belonged to no entry (banners, blank lines between entries).
    pub skipped_lines: u64,
    /// Bytes of those lines.
    pub skipped_bytes: u64,
    /// Entries cut at `max_entry_bytes`.
    pub truncated_entries: u64,
    /// Bytes dropped from cut entries.
    pub truncated_bytes: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Open {
    /// No entry is open.
    None,
    /// The open entry is `chunk[start..end]` of the chunk being fed.
    InChunk { start: usize, end: usize },
    /// The open entry is in `owned`.
    Owned,
    /// The open entry was already emitted cut; its remaining lines are dropped.
    Discarding,
}

/// The streaming framer; see the module docs.
#[derive(Debug)]
pub struct Framer {
    max_entry_bytes: usize,
    /// A line that began in an earlier chunk and has not ended yet.
    carry: Vec<u8>,
    /// Stream offset of the line in `carry`.
    carry_offset: u64,
    /// Bytes of the partial line that did not fit in `carry`.
    carry_dropped: u64,
    /// The open entry when it spans chunks.
    owned: Vec<u8>,
    open: Open,
    /// The open entry's first line breaks (offsets in it) and how many there are.
    newlines: [usize; MAX_INDEXED_NEWLINES],
    newline_count: usize,
    entry_offset: u64,
    entry_rds_truncated: bool,
    /// Stream offset of the first byte of the next chunk.
    pos: u64,
    stats: FrameStats,
}

impl Framer {
    /// A framer that cuts entries at `max_entry_bytes` (at least 1 KiB).
    pub fn new(max_entry_bytes: usize) -> Framer {
        Framer {
            max_entry_bytes: max_entry_bytes.max(1024),
            carry: Vec::new(),
            carry_offset: 0,
            carry_dropped: 0,
            owned: Vec::new(),
            open: Open::None,
            newlines: [0; MAX_INDEXED_NEWLINES],
            newline_count: 0,
            entry_offset: 0,
            entry_rds_truncated: false,
            pos: 0,
            stats: FrameStats::default(),
        }
    }

    /// Start counting offsets at `offset` (when resuming a file from a checkpoint).
    pub fn set_offset(&mut self, offset: u64) {
        debug_assert!(self.carry.is_empty() && self.open == Open::None);
        self.pos = offset;
    }

    /// Stream offset of the next byte to be fed.
    pub fn offset(&self) -> u64 {
        self.pos
    }

    /// Offset of the first byte not yet handed out in an entry or counted as skipped: everything
    /// before it is done with. This is where a checkpoint may safely point.
    pub fn pending_offset(&self) -> u64 {
        match self.open {
            Open::None if self.carry.is_empty() && self.carry_dropped == 0 => self.pos,
            Open::None => self.carry_offset,
            _ => self.entry_offset,
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> FrameStats {
        self.stats
    }

    /// Feed one chunk; `emit` gets every entry completed by it.
    pub fn feed<C, F>(&mut self, chunk: &[u8], classifier: &mut C, mut emit: F) -> Flow
    where
        C: LineClassifier,
        F: FnMut(RawEntry<'_>, &C) -> Flow,
    {
        let base = self.pos;
        self.pos += chunk.len() as u64;
        let mut i = 0;
        if !self.carry.is_empty() || self.carry_dropped > 0 {
            match memchr(b'\n', chunk) {
                None => {
                    self.extend_carry(chunk);
                    return Flow::Continue;
                }
                Some(nl) => {
                    self.extend_carry(&chunk[..=nl]);
                    let line_offset = self.carry_offset;
                    let line = std::mem::take(&mut self.carry);
                    let dropped = std::mem::take(&mut self.carry_dropped);
                    let flow = self.line_owned(&line, line_offset, dropped, classifier, &mut emit);
                    self.carry = line;
                    self.carry.clear();
                    if flow == Flow::Stop {
                        return Flow::Stop;
                    }
                    i = nl + 1;
                }
            }
        }
        while i < chunk.len() {
            let Some(rel) = memchr(b'\n', &chunk[i..]) else {
                self.carry_offset = base + i as u64;
                self.extend_carry(&chunk[i..]);
                break;
            };
            let end = i + rel + 1;
            if self.line_in_chunk(chunk, i, end, base, classifier, &mut emit) == Flow::Stop {
                return Flow::Stop;
            }
            i = end;
        }
        // The open entry outlives this chunk: move it to `owned`.
        if let Open::InChunk { start, end } = self.open {
            self.owned.clear();
            self.owned.extend_from_slice(&chunk[start..end]);
            self.open = Open::Owned;
        }
        Flow::Continue
    }

    /// End of input: emit the open entry and any final line without a line break.
    pub fn finish<C, F>(&mut self, classifier: &mut C, mut emit: F) -> Flow
    where
        C: LineClassifier,
        F: FnMut(RawEntry<'_>, &C) -> Flow,
    {
        if !self.carry.is_empty() || self.carry_dropped > 0 {
            let line = std::mem::take(&mut self.carry);
            let line_offset = self.carry_offset;
            let dropped = std::mem::take(&mut self.carry_dropped);
            if self.line_owned(&line, line_offset, dropped, classifier, &mut emit) == Flow::Stop {
                return Flow::Stop;
            }
        }
        debug_assert!(!matches!(self.open, Open::InChunk { .. }));
        self.close(&[], classifier, &mut emit)
    }

    fn extend_carry(&mut self, bytes: &[u8]) {
        let room = (self.max_entry_bytes + 1).saturating_sub(self.carry.len());
        let take = room.min(bytes.len());
        self.carry.extend_from_slice(&bytes[..take]);
        self.carry_dropped += (bytes.len() - take) as u64;
    }

    /// A line that lies in the chunk at `start..end` (with its `\n`).
    fn line_in_chunk<C, F>(
        &mut self,
        chunk: &[u8],
        start: usize,
        end: usize,
        base: u64,
        classifier: &mut C,
        emit: &mut F,
    ) -> Flow
    where
        C: LineClassifier,
        F: FnMut(RawEntry<'_>, &C) -> Flow,
    {
        let line = &chunk[start..end];
        let class = self.classify(classifier, &line[..line.len() - 1]);
        match class {
            LineClass::Start => {
                if self.close(chunk, classifier, emit) == Flow::Stop {
                    return Flow::Stop;
                }
                self.entry_offset = base + start as u64;
                self.entry_rds_truncated = false;
                self.newline_count = 0;
                if line.len() > self.max_entry_bytes {
                    self.owned.clear();
                    self.open = Open::Owned;
                    return self.append(line, 0, chunk, classifier, emit);
                }
                self.note_rds(line);
                self.note_newline(end - 1 - start);
                self.open = Open::InChunk { start, end };
                Flow::Continue
            }
            LineClass::Continue => match self.open {
                Open::InChunk { start: s, end: e }
                    if e == start && end - s <= self.max_entry_bytes =>
                {
                    self.note_rds(line);
                    self.note_newline(end - 1 - s);
                    self.open = Open::InChunk { start: s, end };
                    Flow::Continue
                }
                _ => self.append(line, 0, chunk, classifier, emit),
            },
            LineClass::Skip => {
                if self.close(chunk, classifier, emit) == Flow::Stop {
                    return Flow::Stop;
                }
                self.stats.skipped_lines += 1;
                self.stats.skipped_bytes += line.len() as u64;
                Flow::Continue
            }
        }
    }

    /// A line assembled in `carry` (it spanned chunks, or is the last line without `\n`).
    /// `dropped` bytes of it did not fit in `carry`.
    fn line_owned<C, F>(
        &mut self,
        line: &[u8],
        offset: u64,
        dropped: u64,
        classifier: &mut C,
        emit: &mut F,
    ) -> Flow
    where
        C: LineClassifier,
        F: FnMut(RawEntry<'_>, &C) -> Flow,
    {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let class = self.classify(classifier, body);
        match class {
            LineClass::Start => {
                if self.close(&[], classifier, emit) == Flow::Stop {
                    return Flow::Stop;
                }
                self.entry_offset = offset;
                self.entry_rds_truncated = false;
                self.newline_count = 0;
                self.owned.clear();
                self.open = Open::Owned;
                self.append(line, dropped, &[], classifier, emit)
            }
            LineClass::Continue => self.append(line, dropped, &[], classifier, emit),
            LineClass::Skip => {
                if self.close(&[], classifier, emit) == Flow::Stop {
                    return Flow::Stop;
                }
                self.stats.skipped_lines += 1;
                self.stats.skipped_bytes += line.len() as u64 + dropped;
                Flow::Continue
            }
        }
    }

    /// Classify a line (given without its `\n`). Only its first `max_entry_bytes + 1` bytes are
    /// looked at: that is all of a long line that `carry` keeps when it spans chunks, so a line
    /// is classified the same whatever the chunking (the fuzzer found the difference).
    ///
    /// A continuation line with nothing open starts an entry of its own (so that orphan lines,
    /// say after a rotation cut an entry, are shipped, flagged by the format parser), except a
    /// blank one, which is skipped and counted.
    fn classify<C: LineClassifier>(&mut self, classifier: &mut C, body: &[u8]) -> LineClass {
        let head = &body[..body.len().min(self.max_entry_bytes + 1)];
        let class = classifier.classify(head);
        if class == LineClass::Continue && self.open == Open::None {
            if head.iter().all(|b| b.is_ascii_whitespace()) {
                return LineClass::Skip;
            }
            return LineClass::Start;
        }
        class
    }

    /// The open entry has a line break at `at`: index it while there is room.
    #[inline]
    fn note_newline(&mut self, at: usize) {
        if let Some(slot) = self.newlines.get_mut(self.newline_count) {
            *slot = at;
            self.newline_count += 1;
        }
    }

    /// How many of the indexed line breaks lie inside `text`, the entry without its final line
    /// break: all but that one, if it was indexed.
    #[inline]
    fn newlines_in(newlines: &[usize], text: &[u8]) -> usize {
        let n = newlines.len();
        let n = n - usize::from(newlines.last().is_some_and(|&at| at >= text.len()));
        debug_assert!(newlines[..n].iter().all(|&at| at < text.len()));
        n
    }

    fn note_rds(&mut self, line: &[u8]) {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let body = body.strip_suffix(b"\r").unwrap_or(body);
        // The last byte first: a suffix compare per line is a `memcmp` call.
        if body.last() == Some(&b']') && body.ends_with(RDS_TRUNCATION_SUFFIX) {
            self.entry_rds_truncated = true;
        }
    }

    /// Add `line` to the open entry in `owned` (moving an in-chunk entry there first), cutting
    /// the entry at the bound. `dropped` more bytes of the line were already let go.
    fn append<C, F>(
        &mut self,
        line: &[u8],
        dropped: u64,
        chunk: &[u8],
        classifier: &C,
        emit: &mut F,
    ) -> Flow
    where
        F: FnMut(RawEntry<'_>, &C) -> Flow,
    {
        match self.open {
            Open::Discarding => {
                self.stats.truncated_bytes += line.len() as u64 + dropped;
                return Flow::Continue;
            }
            Open::InChunk { start, end } => {
                self.owned.clear();
                self.owned.extend_from_slice(&chunk[start..end]);
                self.open = Open::Owned;
            }
            Open::Owned => {}
            Open::None => unreachable!("classify opens an entry first"),
        }
        let room = self.max_entry_bytes.saturating_sub(self.owned.len());
        if dropped == 0 && line.len() <= room {
            self.note_rds(line);
            if line.last() == Some(&b'\n') {
                self.note_newline(self.owned.len() + line.len() - 1);
            }
            self.owned.extend_from_slice(line);
            return Flow::Continue;
        }
        let take = room.min(line.len());
        self.owned.extend_from_slice(&line[..take]);
        self.stats.truncated_entries += 1;
        self.stats.truncated_bytes += (line.len() - take) as u64 + dropped;
        let text = trim_newline(&self.owned);
        let newlines = &self.newlines[..self.newline_count];
        let flow = emit(
            RawEntry {
                offset: self.entry_offset,
                text,
                truncated: true,
                rds_truncated: self.entry_rds_truncated,
                newlines: &newlines[..Self::newlines_in(newlines, text)],
            },
            classifier,
        );
        self.owned.clear();
        self.open = Open::Discarding;
        flow
    }

    /// Emit the open entry, if any.
    fn close<C, F>(&mut self, chunk: &[u8], classifier: &C, emit: &mut F) -> Flow
    where
        F: FnMut(RawEntry<'_>, &C) -> Flow,
    {
        let open = std::mem::replace(&mut self.open, Open::None);
        let text = match open {
            Open::None | Open::Discarding => return Flow::Continue,
            Open::InChunk { start, end } => &chunk[start..end],
            Open::Owned => &self.owned[..],
        };
        let text = trim_newline(text);
        let newlines = &self.newlines[..self.newline_count];
        let flow = emit(
            RawEntry {
                offset: self.entry_offset,
                text,
                truncated: false,
                rds_truncated: self.entry_rds_truncated,
                newlines: &newlines[..Self::newlines_in(newlines, text)],
            },
            classifier,
        );
        self.owned.clear();
        flow
    }
}

/// `text` without one final `\n` (or `\r\n`).
fn trim_newline(text: &[u8]) -> &[u8] {
    let t = text.strip_suffix(b"\n").unwrap_or(text);
    t.strip_suffix(b"\r").unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Entries start at lines beginning with `#`.
    struct Hash;
    impl LineClassifier for Hash {
        fn classify(&mut self, line: &[u8]) -> LineClass {
            match line.first() {
                Some(b'#') => LineClass::Start,
                Some(b'!') => LineClass::Skip,
                _ => LineClass::Continue,
            }
        }
    }

    #[derive(Debug, PartialEq, Eq, Clone)]
    struct Owned {
        offset: u64,
        text: Vec<u8>,
        truncated: bool,
        rds: bool,
        newlines: Vec<usize>,
    }

    /// What `RawEntry::newlines` must hold for `text`.
    fn first_newlines(text: &[u8]) -> Vec<usize> {
        memchr::memchr_iter(b'\n', text)
            .take(MAX_INDEXED_NEWLINES)
            .collect()
    }

    fn frame(chunks: &[&[u8]], max: usize) -> (Vec<Owned>, FrameStats) {
        let mut f = Framer::new(max);
        let mut out = Vec::new();
        let mut push = |e: RawEntry<'_>, _: &Hash| {
            out.push(Owned {
                offset: e.offset,
                text: e.text.to_vec(),
                truncated: e.truncated,
                rds: e.rds_truncated,
                newlines: e.newlines.to_vec(),
            });
            Flow::Continue
        };
        for c in chunks {
            f.feed(c, &mut Hash, &mut push);
        }
        f.finish(&mut Hash, &mut push);
        (out, f.stats())
    }

    /// The naive reference: split the whole input into lines and group them.
    fn reference(input: &[u8], max: usize) -> (Vec<Owned>, FrameStats) {
        let max = max.max(1024);
        let mut out: Vec<Owned> = Vec::new();
        let mut stats = FrameStats::default();
        let mut cur: Option<Owned> = None;
        let mut discarding = false;
        let mut off = 0u64;
        let lines: Vec<&[u8]> = input.split_inclusive(|b| *b == b'\n').collect();
        for line in lines {
            let body = line.strip_suffix(b"\n").unwrap_or(line);
            let head = &body[..body.len().min(max + 1)];
            let mut class = Hash.classify(head);
            if class == LineClass::Continue && cur.is_none() && !discarding {
                class = if head.iter().all(|b| b.is_ascii_whitespace()) {
                    LineClass::Skip
                } else {
                    LineClass::Start
                };
            }
            let rds = {
                let b = body.strip_suffix(b"\r").unwrap_or(body);
                b.ends_with(RDS_TRUNCATION_SUFFIX)
            };
            match class {
                LineClass::Start | LineClass::Skip => {
                    if let Some(mut e) = cur.take() {
                        e.text = trim_newline(&e.text).to_vec();
                        out.push(e);
                    }
                    discarding = false;
                    if class == LineClass::Skip {
                        stats.skipped_lines += 1;
                        stats.skipped_bytes += line.len() as u64;
                    } else {
                        cur = Some(Owned {
                            offset: off,
                            text: Vec::new(),
                            truncated: false,
                            rds: false,
                            newlines: Vec::new(),
                        });
                        push_line(
                            &mut cur,
                            &mut out,
                            &mut stats,
                            &mut discarding,
                            line,
                            rds,
                            max,
                        );
                    }
                }
                LineClass::Continue => {
                    if discarding {
                        stats.truncated_bytes += line.len() as u64;
                    } else {
                        push_line(
                            &mut cur,
                            &mut out,
                            &mut stats,
                            &mut discarding,
                            line,
                            rds,
                            max,
                        );
                    }
                }
            }
            off += line.len() as u64;
        }
        if let Some(mut e) = cur.take() {
            e.text = trim_newline(&e.text).to_vec();
            out.push(e);
        }
        for e in &mut out {
            e.newlines = first_newlines(&e.text);
        }
        (out, stats)
    }

    fn push_line(
        cur: &mut Option<Owned>,
        out: &mut Vec<Owned>,
        stats: &mut FrameStats,
        discarding: &mut bool,
        line: &[u8],
        rds: bool,
        max: usize,
    ) {
        let e = cur.as_mut().unwrap();
        if e.text.len() + line.len() <= max {
            e.rds |= rds;
            e.text.extend_from_slice(line);
            return;
        }
        let take = max - e.text.len();
        e.text.extend_from_slice(&line[..take]);
        stats.truncated_entries += 1;
        stats.truncated_bytes += (line.len() - take) as u64;
        let mut e = cur.take().unwrap();
        e.truncated = true;
        e.text = trim_newline(&e.text).to_vec();
        out.push(e);
        *discarding = true;
    }

    #[test]
    fn groups_lines_and_keeps_offsets() {
        let input = b"#a\nx\ny\n#b\n\n!banner\n#c";
        let (entries, stats) = frame(&[input], 1 << 20);
        let texts: Vec<_> = entries
            .iter()
            .map(|e| (e.offset, String::from_utf8_lossy(&e.text).into_owned()))
            .collect();
        assert_eq!(
            texts,
            vec![
                (0, "#a\nx\ny".into()),
                (7, "#b\n".into()),
                (19, "#c".into())
            ]
        );
        assert_eq!(stats.skipped_lines, 1);
    }

    #[test]
    fn orphan_lines_form_an_entry_and_blank_ones_are_counted() {
        let (entries, stats) = frame(&[b"\n\norphan\nmore\n#a\n"], 1 << 20);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].text, b"orphan\nmore");
        assert_eq!(entries[0].offset, 2);
        assert_eq!(stats.skipped_lines, 2);
    }

    #[test]
    fn cuts_entries_over_the_bound_and_drops_the_rest() {
        let long = vec![b'x'; 5000];
        let mut input = b"#a\n".to_vec();
        input.extend_from_slice(&long);
        input.extend_from_slice(b"\nmore\n#b\n");
        let (entries, stats) = frame(&[&input], 1024);
        assert_eq!(entries.len(), 2);
        assert!(entries[0].truncated);
        assert_eq!(entries[0].text.len(), 1024);
        assert_eq!(entries[1].text, b"#b");
        assert_eq!(stats.truncated_entries, 1);
        assert_eq!(stats.truncated_bytes, (3 + 5001 + 5 - 1024) as u64);
    }

    #[test]
    fn a_huge_line_without_newline_stays_bounded() {
        let mut f = Framer::new(4096);
        let chunk = vec![b'z'; 1 << 16];
        for _ in 0..64 {
            f.feed(&chunk, &mut Hash, |_, _| Flow::Continue);
            assert!(f.carry.len() <= 4097);
        }
        let mut n = 0;
        f.finish(&mut Hash, |e, _| {
            assert!(e.truncated);
            n += 1;
            Flow::Continue
        });
        assert_eq!(n, 1);
    }

    #[test]
    fn notes_the_rds_truncation_marker() {
        let (entries, _) = frame(
            &[b"#a\nselect 1 [Your log message was truncated]\n#b\n"],
            1 << 20,
        );
        assert!(entries[0].rds);
        assert!(!entries[1].rds);
    }

    #[test]
    fn line_ends_read_the_index_then_search() {
        for lines in [0, 3, MAX_INDEXED_NEWLINES - 1, MAX_INDEXED_NEWLINES, 40] {
            let mut input = b"#a\r\n".to_vec();
            for i in 0..lines {
                input.extend_from_slice(format!("line {i}\n").as_bytes());
            }
            input.extend_from_slice(b"#b\n");
            for chunk in [3, 7, 1 << 20] {
                let mut f = Framer::new(1 << 20);
                let mut checked = 0;
                let mut check = |e: RawEntry<'_>, _: &Hash| {
                    let naive = |from: usize| {
                        memchr::memchr(b'\n', &e.text[from..]).map_or(e.text.len(), |i| from + i)
                    };
                    assert_eq!(e.newlines, &first_newlines(e.text)[..]);
                    let mut ends = LineEnds::new(&e);
                    for from in 0..=e.text.len() {
                        assert_eq!(ends.find(from), naive(from), "{lines} lines, from {from}");
                    }
                    checked += 1;
                    Flow::Continue
                };
                for c in input.chunks(chunk) {
                    f.feed(c, &mut Hash, &mut check);
                }
                f.finish(&mut Hash, &mut check);
                assert_eq!(checked, 2);
            }
        }
    }

    #[test]
    fn pending_offset_points_at_the_open_entry() {
        let mut f = Framer::new(1 << 20);
        f.feed(b"#a\nx\n#b\ny", &mut Hash, |_, _| Flow::Continue);
        assert_eq!(f.pending_offset(), 5);
    }

    fn arb_input() -> impl Strategy<Value = Vec<u8>> {
        let line = prop_oneof![
            Just(b"#h\n".to_vec()),
            Just(b"!skip\n".to_vec()),
            Just(b"c\n".to_vec()),
            Just(b"c\n".repeat(20)),
            Just(b"\n".to_vec()),
            Just(b"body line\r\n".to_vec()),
            Just(b"x [Your log message was truncated]\n".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..40),
            (900usize..1500).prop_map(|n| vec![b'y'; n]),
            (1000usize..1100).prop_map(|n| {
                let mut v = vec![b' '; n];
                v.extend_from_slice(b"x\n");
                v
            }),
        ];
        proptest::collection::vec(line, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Any chunking gives the same entries as the naive whole-input reference.
        #[test]
        fn chunking_is_invisible(input in arb_input(), cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8)) {
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks = Vec::new();
            let mut last = 0;
            for p in points { chunks.push(&input[last..p]); last = p; }
            chunks.push(&input[last..]);
            let got = frame(&chunks, 1024);
            let want = reference(&input, 1024);
            prop_assert_eq!(got, want);
        }
    }
}
