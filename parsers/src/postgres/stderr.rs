//! The PostgreSQL stderr log, as RDS and Aurora write it (`log_line_prefix = '%t:%r:%u@%d:[%p]:'`)
//! and with the common self-managed prefixes.
//!
//! # Brief overview
//! A line *starts* a message when it begins with a prefix we recognise, anchored on structure,
//! never split naively on `:` (IPv6 hosts, user names and prepared statement names hold colons):
//! 1. an optional CloudWatch ISO timestamp (`2020-03-11T19:40:43.000Z `), ignored;
//! 2. the `%t`/`%m` timestamp with its zone (`2022-10-05 22:05:52 UTC`, `… 21:56:03.362 CEST`);
//! 3. either the RDS form `:host(port)|host|[local]|:user@db:[pid]:` — the host part ends at
//!    `(port):`, at `[local]:`, is empty, or (`%h`) ends at the last `:` before the `@` — or
//!    space-separated tokens: `[pid]`, `[pid-line]`, `[line-1]`, `user@db`, `user=…,db=…,app=…,client=…`,
//!    `[queryid=…]` (unknown tokens are passed over);
//! 4. the severity (`LOG`, `ERROR`, …, `DETAIL`, …) followed by `:` and blanks, then with
//!    `log_error_verbosity=verbose` a SQLSTATE (`ERROR:  42704: …`).
//!
//! Any other line continues the open entry (PostgreSQL indents message-internal newlines with a
//! TAB, some sources lose it). A prefixed secondary line (`DETAIL`, `HINT`, `CONTEXT`,
//! `STATEMENT`, `QUERY`, `LOCATION`) from the *same pid* as the open entry is grouped into it and
//! becomes a field. The `----- END OF LOG -----` trailer of the RDS console is skipped.
//!
//! # Limitation
//! Grouping is by adjacency: a secondary line whose pid differs from the open entry's (another
//! backend's line came in between) becomes an entry of its own, flagged `parse_error` ("detail
//! line without its message"). The logging collector writes a message and its secondary lines as
//! one contiguous chunk, so this only happens with `logging_collector=off` under load. Prefixes
//! without a pid group any secondary line with the message before it.
//!
//! # Fields
//! See [the `postgres` module](super) for the record's field list. The primary message text is
//! `msg` (the common `message` field is the raw entry); continuation lines are joined with `\n`
//! and lose their leading TAB. Timestamps with an unknown zone abbreviation are taken as UTC and
//! flagged.

use crate::frame::{LineClass, LineClassifier, RawEntry};
use crate::num::parse_u64;
use crate::parser::FormatParser;
use crate::postgres::{
    level, parse_i64, query_fields, sqlstate_prefix, Level, PgRecord, QueryBuffers, Secondary,
    Span, StatementMemory, MAX_PREFIX_BYTES,
};

/// The RDS console's trailer line.
const END_OF_LOG: &[u8] = b"----------------------- END OF LOG ----------------------";

/// What the open entry is, to decide whether a secondary line joins it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum OpenEntry {
    #[default]
    None,
    /// A message with this pid (or none in the prefix).
    Message(Option<u64>),
    /// Lines without a prefix and nothing before them.
    Orphan,
}

/// Groups lines into entries: a prefixed line starts one, except a secondary line of the open
/// entry's pid; other lines continue it.
#[derive(Debug, Default)]
pub struct Classifier {
    open: OpenEntry,
    ts: TsCache,
    /// The last two lines that started an entry (up to [`READ_LINE_BYTES`]), with their
    /// prefixes as spans: the parser of an entry finds its first line's prefix here
    /// ([`Classifier::prefix_of`]) instead of reading it again. Two, because the framer hands
    /// an entry over once the next one's first line is classified.
    read: Box<[ReadLine; 2]>,
    /// The slot of `read` to write next.
    next: usize,
}

/// A line that started an entry, and its prefix as spans of it (`None`: not kept).
type ReadLine = (Vec<u8>, Option<PrefixOf<Span32>>);

/// Longest line whose prefix the classifier keeps for the parser.
const READ_LINE_BYTES: usize = 512;

impl Classifier {
    /// The prefix the classifier read of a line with exactly these bytes, on `line`. The parse
    /// of a prefix depends on the line's bytes alone, so it is the one the parser would read.
    fn prefix_of<'a>(&self, line: &'a [u8]) -> Option<Prefix<'a>> {
        [self.next ^ 1, self.next].into_iter().find_map(|i| {
            let (text, spans) = &self.read[i];
            let spans = spans.as_ref().filter(|_| text.as_slice() == line)?;
            Some(spans.map(|s| &line[s.0 as usize..s.1 as usize]))
        })
    }

    /// Keep `p`, read from `line`, for the parser.
    fn keep(&mut self, line: &[u8], p: &Prefix<'_>) {
        if line.len() > READ_LINE_BYTES {
            return;
        }
        let slot = &mut self.read[self.next];
        slot.1 = p.try_map(|s| span_in(line, s));
        if slot.1.is_some() {
            slot.0.clear();
            slot.0.extend_from_slice(line);
            self.next ^= 1;
        }
    }
}

/// Where `s` lies in `line`, if it is a part of it (a prefix's `[local]` is not).
fn span_in(line: &[u8], s: &[u8]) -> Option<Span32> {
    let start = (s.as_ptr() as usize).checked_sub(line.as_ptr() as usize)?;
    let end = start + s.len();
    (end <= line.len()).then_some((start as u32, end as u32))
}

/// A part of a line of at most [`READ_LINE_BYTES`]: `start..end`.
type Span32 = (u32, u32);

impl LineClassifier for Classifier {
    fn classify(&mut self, line: &[u8]) -> LineClass {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.trim_ascii() == END_OF_LOG {
            self.open = OpenEntry::None;
            return LineClass::Skip;
        }
        match parse_prefix_with(line, &mut self.ts) {
            Some(p) => {
                if matches!(p.level, Level::Secondary(_)) && self.open == OpenEntry::Message(p.pid)
                {
                    return LineClass::Continue;
                }
                self.open = OpenEntry::Message(p.pid);
                self.keep(line, &p);
                LineClass::Start
            }
            None => {
                if self.open == OpenEntry::None && !line.iter().all(u8::is_ascii_whitespace) {
                    self.open = OpenEntry::Orphan;
                }
                LineClass::Continue
            }
        }
    }
}

/// Whether a line starts an entry of this format (a recognised prefix and severity).
pub fn looks_like_line(line: &[u8]) -> bool {
    parse_prefix(line.strip_suffix(b"\r").unwrap_or(line)).is_some()
}

/// Whether a line (without its line break) always opens a new entry, whatever came before it:
/// a recognised prefix with a primary severity (`LOG`, `ERROR`, …). Such a line is a clean
/// place to cut a log into parts that parse alone, but for the statement pairing
/// ([`crate::LogParser::track_backends`]).
pub fn opens_entry(line: &[u8]) -> bool {
    parse_prefix(line.strip_suffix(b"\r").unwrap_or(line))
        .is_some_and(|p| p.level == Level::Primary)
}

/// A parsed `log_line_prefix` and severity, its texts as `T`: parts of the line
/// ([`Prefix`]), or where they lie in it (what the classifier keeps for the parser).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PrefixOf<T> {
    pub ts_us: i64,
    pub zone_known: bool,
    pub client_ip: Option<T>,
    pub client_port: Option<u64>,
    pub user: Option<T>,
    pub db: Option<T>,
    pub pid: Option<u64>,
    pub line_num: Option<u64>,
    pub app: Option<T>,
    pub query_id: Option<i64>,
    pub severity: T,
    pub level: Level,
    pub sqlstate: Option<T>,
    /// Where the message text starts in the line.
    pub body: usize,
}

/// A parsed prefix whose texts are parts of its line.
pub(crate) type Prefix<'a> = PrefixOf<&'a [u8]>;

impl<T: Copy> PrefixOf<T> {
    /// The same prefix with its texts mapped by `f`.
    fn map<U>(&self, f: impl Fn(T) -> U) -> PrefixOf<U> {
        self.try_map(|t| Some(f(t)))
            .expect("a mapping that cannot fail")
    }

    /// The same prefix with its texts mapped by `f`; `None` if `f` fails for any of them.
    fn try_map<U>(&self, f: impl Fn(T) -> Option<U>) -> Option<PrefixOf<U>> {
        let opt = |t: Option<T>| match t {
            None => Some(None),
            Some(t) => f(t).map(Some),
        };
        Some(PrefixOf {
            ts_us: self.ts_us,
            zone_known: self.zone_known,
            client_ip: opt(self.client_ip)?,
            client_port: self.client_port,
            user: opt(self.user)?,
            db: opt(self.db)?,
            pid: self.pid,
            line_num: self.line_num,
            app: opt(self.app)?,
            query_id: self.query_id,
            severity: f(self.severity)?,
            level: self.level,
            sqlstate: opt(self.sqlstate)?,
            body: self.body,
        })
    }
}

fn non_empty(s: &[u8]) -> Option<&[u8]> {
    (!s.is_empty()).then_some(s)
}

/// Parse the prefix of `line` (without its line break).
pub(crate) fn parse_prefix(line: &[u8]) -> Option<Prefix<'_>> {
    parse_prefix_with(line, &mut TsCache::default())
}

/// The last `%t`/`%m` timestamp text read and its value: a log's lines mostly share their
/// second, and the same text has the same value, so a repeat is one comparison.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TsCache {
    text: [u8; TsCache::MAX],
    len: usize,
    /// (µs, zone known) of `text[..len]`, once one was read.
    value: Option<(i64, bool)>,
}

impl TsCache {
    /// Longer timestamp texts (long zone names) are not kept.
    const MAX: usize = 32;

    /// What [`crate::time::parse_pg`] makes of `text` when it reads all of it.
    #[inline]
    fn read(&mut self, text: &[u8]) -> Option<(i64, bool)> {
        if let Some(v) = self
            .value
            .filter(|_| self.text.get(..self.len) == Some(text))
        {
            return Some(v);
        }
        let (us, n, known) = crate::time::parse_pg(text)?;
        if n != text.len() {
            return None;
        }
        if text.len() <= Self::MAX {
            self.text[..text.len()].copy_from_slice(text);
            self.len = text.len();
            self.value = Some((us, known));
        }
        Some((us, known))
    }
}

/// [`parse_prefix`] with a timestamp cache kept across the lines of a log.
pub(crate) fn parse_prefix_with<'a>(line: &'a [u8], ts: &mut TsCache) -> Option<Prefix<'a>> {
    let mut at = 0;
    // A CloudWatch export's own ISO timestamp in front.
    if line.get(10) == Some(&b'T') {
        let (_, n) = crate::time::parse_iso(line)?;
        if line.get(n) != Some(&b' ') {
            return None;
        }
        at = n + 1;
    }
    let (ts_us, zone_known, ts_end) = timestamp(line, at, ts)?;
    let mut p = Prefix {
        ts_us,
        zone_known,
        ..Prefix::default()
    };
    let (sev_at, word) = match line.get(ts_end)? {
        b':' => rds_middle(line, ts_end + 1, &mut p)?,
        b' ' => token_middle(line, ts_end + 1, &mut p)?,
        _ => return None,
    };
    severity(line, sev_at, word, &mut p);
    Some(p)
}

/// The `%t`/`%m` timestamp at `at`: (µs, zone known, end). The zone is cut at the first byte
/// that cannot belong to it, so that the RDS `:` after it is not taken in.
fn timestamp(line: &[u8], at: usize, cache: &mut TsCache) -> Option<(i64, bool, usize)> {
    let s = line.get(at..)?;
    if s.len() < 19 || s[4] != b'-' || s[10] != b' ' {
        return None;
    }
    let mut end = 19;
    if s.get(19) == Some(&b'.') {
        end += 1 + s[20..].iter().take_while(|c| c.is_ascii_digit()).count();
    }
    if s.get(end) == Some(&b' ') {
        let zone = s[end + 1..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-'))
            .count();
        if zone > 0 {
            end += 1 + zone;
        }
    }
    let (us, known) = cache.read(&s[..end])?;
    Some((us, known, at + end))
}

/// A severity word and its level, as [`severity_word`] reads them.
type Severity<'a> = (&'a [u8], Level);

/// The RDS `host:user@db:[pid]:` after the timestamp's `:`; returns where the severity starts,
/// and the severity.
fn rds_middle<'a>(line: &'a [u8], s: usize, p: &mut Prefix<'a>) -> Option<(usize, Severity<'a>)> {
    let limit = line.len().min(s + MAX_PREFIX_BYTES);
    let mut i = s;
    // Find `:[digits]:SEVERITY:` — the first one is ours.
    let (mid_end, sev_at, word) = loop {
        // `:[`: a `[` after a `:` (memchr, not a memmem searcher built per line).
        let hay = line.get(i..limit)?;
        let rel = memchr::memchr_iter(b'[', hay).find(|&k| k > 0 && hay[k - 1] == b':')? - 1;
        let open = i + rel;
        let digits = line[open + 2..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        let close = open + 2 + digits;
        if digits > 0 && line.get(close..close + 2) == Some(b"]:") {
            if let Some(word) = severity_word(line, close + 2) {
                p.pid = parse_u64(&line[open + 2..close]);
                break (open, close + 2, word);
            }
        }
        i = open + 1;
    };
    let mid = &line[s..mid_end];
    let ud = if let Some(rest) = mid.strip_prefix(b"[local]:") {
        p.client_ip = Some(b"[local]");
        rest
    } else if let Some(host_end) = port_paren(mid) {
        p.client_ip = non_empty(&mid[..host_end.0]);
        p.client_port = parse_u64(&mid[host_end.0 + 1..host_end.1]);
        &mid[host_end.1 + 2..]
    } else if let Some(rest) = mid.strip_prefix(b":") {
        rest
    } else {
        // `%h`: the host ends at the last `:` before the `@` of user@db.
        let at = memchr::memchr(b'@', mid).unwrap_or(mid.len());
        let colon = memchr::memrchr(b':', &mid[..at])?;
        p.client_ip = non_empty(&mid[..colon]);
        &mid[colon + 1..]
    };
    let at = memchr::memchr(b'@', ud)?;
    p.user = non_empty(&ud[..at]);
    p.db = non_empty(&ud[at + 1..]);
    Some((sev_at, word))
}

/// `host(port):` at the start of the middle: (index of `(`, index of `)`).
fn port_paren(mid: &[u8]) -> Option<(usize, usize)> {
    // A host is a few bytes: one byte loop for the `(`, with no `@` before it, beats two
    // memchr calls' setup.
    let open = mid.iter().position(|&b| b == b'(' || b == b'@')?;
    if mid[open] == b'@' {
        return None;
    }
    let digits = mid[open + 1..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    let close = open + 1 + digits;
    (digits > 0 && mid.get(close..close + 2) == Some(b"):")).then_some((open, close))
}

/// Space-separated prefix tokens after the timestamp; returns where the severity starts, and
/// the severity.
fn token_middle<'a>(line: &'a [u8], s: usize, p: &mut Prefix<'a>) -> Option<(usize, Severity<'a>)> {
    let limit = line.len().min(s + MAX_PREFIX_BYTES);
    let mut i = s;
    while i < limit {
        let end = line[i..limit]
            .iter()
            .position(|&c| c == b' ')
            .map_or(limit, |n| i + n);
        let token = &line[i..end];
        if let Some(word) = severity_word(line, i) {
            return Some((i, word));
        }
        prefix_token(token, p);
        i = end + 1;
    }
    None
}

/// One token of a non-RDS prefix.
fn prefix_token<'a>(token: &'a [u8], p: &mut Prefix<'a>) {
    let t = token.strip_suffix(b":").unwrap_or(token);
    if let Some(inner) = t.strip_prefix(b"[").and_then(|t| t.strip_suffix(b"]")) {
        let (a, b) = match memchr::memchr(b'-', inner) {
            Some(d) => (&inner[..d], Some(&inner[d + 1..])),
            None => (inner, None),
        };
        if let Some(n) = parse_u64(a) {
            if p.pid.is_none() {
                p.pid = Some(n);
                p.line_num = b.and_then(parse_u64);
            } else if p.line_num.is_none() && b.is_some() {
                p.line_num = Some(n);
            }
            return;
        }
    }
    if memchr::memchr(b'=', t).is_some() {
        let t = t
            .strip_prefix(b"[")
            .and_then(|t| t.strip_suffix(b"]"))
            .unwrap_or(t);
        for kv in t.split(|&c| c == b',') {
            let Some(eq) = memchr::memchr(b'=', kv) else {
                continue;
            };
            let (k, v) = (&kv[..eq], non_empty(&kv[eq + 1..]));
            match k {
                b"user" | b"usr" | b"u" => p.user = v,
                b"db" | b"database" | b"d" => p.db = v,
                b"app" | b"appli" | b"application" | b"application_name" => p.app = v,
                b"client" | b"host" | b"remote" | b"h" | b"r" => client(v, p),
                b"queryid" | b"query_id" => p.query_id = v.and_then(parse_i64),
                _ => {}
            }
        }
        return;
    }
    if let Some(at) = memchr::memchr(b'@', t) {
        p.user = non_empty(&t[..at]);
        p.db = non_empty(&t[at + 1..]);
    }
}

fn client<'a>(v: Option<&'a [u8]>, p: &mut Prefix<'a>) {
    let Some(v) = v else { return };
    match v
        .strip_suffix(b")")
        .and_then(|v| memchr::memrchr(b'(', v).map(|o| (&v[..o], &v[o + 1..])))
    {
        Some((host, port)) if parse_u64(port).is_some() => {
            p.client_ip = non_empty(host);
            p.client_port = parse_u64(port);
        }
        _ => p.client_ip = Some(v),
    }
}

/// A severity word at `at`, followed by `:` and a blank or the end: (word, level).
fn severity_word(line: &[u8], at: usize) -> Option<(&[u8], Level)> {
    let rest = line.get(at..)?;
    let n = rest
        .iter()
        .take(9)
        .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        .count();
    let word = &rest[..n];
    if rest.get(n) != Some(&b':') || !matches!(rest.get(n + 1), None | Some(b' ' | b'\t')) {
        return None;
    }
    level(word).map(|l| (word, l))
}

/// The severity `(word, lvl)` read at `at` ([`severity_word`]) and the SQLSTATE after it.
fn severity<'a>(line: &'a [u8], at: usize, (word, lvl): Severity<'a>, p: &mut Prefix<'a>) {
    p.severity = word;
    p.level = lvl;
    let mut body = at + word.len() + 1;
    body += line[body..]
        .iter()
        .take_while(|c| matches!(c, b' ' | b'\t'))
        .count();
    if lvl == Level::Primary {
        if let Some((code, skip)) = sqlstate_prefix(&line[body..]) {
            p.sqlstate = Some(code);
            body += skip;
        }
    }
    p.body = body;
}

/// Parses stderr entries; owns the buffers entries borrow (joined text, fingerprints) and the
/// `log_statement`/`log_duration` pairing memory.
#[derive(Debug, Default)]
pub struct Parser {
    /// Text joined from several lines (continuations without their TAB).
    joined: Vec<u8>,
    query: QueryBuffers,
    ts: TsCache,
}

impl Parser {
    /// The pairing memory (its `evictions` counter tells how many statements were forgotten).
    pub fn statement_memory(&self) -> &StatementMemory {
        &self.query.memory
    }
}

/// Index of a section: 0 is the primary message, then one per [`Secondary`].
fn section_index(kind: Secondary) -> usize {
    match kind {
        Secondary::Detail => 1,
        Secondary::Hint => 2,
        Secondary::Context => 3,
        Secondary::Statement => 4,
        Secondary::Query => 5,
        Secondary::Location => 6,
    }
}

/// One entry: its fields (the same record type for stderr and csvlog).
pub type PgEntry<'a> = PgRecord<'a>;

impl FormatParser for Parser {
    type Classifier = Classifier;
    type Entry<'a> = PgEntry<'a>;

    fn set_fingerprints(&mut self, on: bool) {
        self.query.no_fingerprints = !on;
    }

    fn set_samples_only(&mut self, on: bool) {
        self.query.no_ids = on;
    }

    fn dropped_state(&self) -> u64 {
        self.query.memory.evictions
    }

    fn pairing_memory(&mut self) -> Option<&mut StatementMemory> {
        Some(&mut self.query.memory)
    }

    fn parse<'a>(&'a mut self, raw: RawEntry<'a>) -> PgEntry<'a> {
        self.parse_lines(raw, None)
    }

    fn parse_framed<'a>(&'a mut self, raw: RawEntry<'a>, c: &Classifier) -> PgEntry<'a> {
        self.parse_lines(raw, Some(c))
    }
}

impl Parser {
    /// One entry, taking its first line's prefix from `classifier` when it has it.
    fn parse_lines<'a>(
        &'a mut self,
        raw: RawEntry<'a>,
        classifier: Option<&Classifier>,
    ) -> PgEntry<'a> {
        let text = raw.text;
        let joined = &mut self.joined;
        joined.clear();
        let mut rec = PgRecord::default();
        let mut sections: [Option<Span>; 7] = [None; 7];
        let mut current: Option<usize> = None;
        let mut pos = 0;
        let mut first = true;
        while pos <= text.len() {
            let nl = memchr::memchr(b'\n', &text[pos..]).map_or(text.len(), |n| pos + n);
            let line_end = if nl > pos && text[nl - 1] == b'\r' {
                nl - 1
            } else {
                nl
            };
            let line = &text[pos..line_end];
            let read = classifier.filter(|_| first).and_then(|c| c.prefix_of(line));
            let prefix = read.or_else(|| parse_prefix_with(line, &mut self.ts));
            if first {
                first = false;
                let Some(p) = prefix else {
                    rec.error = Some(
                        "no log line prefix: continuation of an entry that began before this input",
                    );
                    break;
                };
                fill_prefix(&mut rec, &p);
                let idx = match p.level {
                    Level::Primary => 0,
                    Level::Secondary(kind) => {
                        rec.error = Some("detail line without its message (its pid differs from the entry before it)");
                        section_index(kind)
                    }
                };
                sections[idx] = Some(Span::Raw(pos + p.body, line_end));
                current = Some(idx);
            } else if let Some(Prefix {
                level: Level::Secondary(kind),
                body,
                ..
            }) = prefix
            {
                let idx = section_index(kind);
                // A repeated kind keeps its first text; the repeat's lines are not attached.
                current = sections[idx].is_none().then_some(idx);
                if let Some(i) = current {
                    sections[i] = Some(Span::Raw(pos + body, line_end));
                }
            } else if let Some(i) = current {
                let cont = line.strip_prefix(b"\t").unwrap_or(line);
                sections[i] = Some(append(joined, text, sections[i], cont));
            }
            pos = nl + 1;
        }
        let joined: &'a [u8] = joined;
        let get = |i: usize| sections[i].map(|s| s.get(text, joined));
        rec.msg = get(0);
        rec.detail = get(1);
        rec.hint = get(2);
        rec.context = get(3);
        rec.statement_line = get(4);
        rec.internal_query = get(5);
        rec.location = get(6);
        rec.query = query_fields(
            rec.msg,
            rec.statement_line,
            rec.pid,
            rec.severity,
            raw.truncated,
            &mut self.query,
        );
        rec
    }
}

/// Append a continuation line to a section, moving it into `joined` on its first continuation.
/// Sections are built one after another, so the open one is always at the end of `joined`.
fn append(joined: &mut Vec<u8>, text: &[u8], span: Option<Span>, line: &[u8]) -> Span {
    let start = match span {
        Some(Span::Buf(s, e)) if e == joined.len() => s,
        Some(other) => {
            debug_assert!(
                matches!(other, Span::Raw(..)),
                "only the last section can be in `joined`"
            );
            let s = joined.len();
            let prev = other.get(text, &[]);
            joined.extend_from_slice(prev);
            s
        }
        None => joined.len(),
    };
    joined.push(b'\n');
    joined.extend_from_slice(line);
    Span::Buf(start, joined.len())
}

fn fill_prefix<'a>(rec: &mut PgRecord<'a>, p: &Prefix<'a>) {
    rec.timestamp_us = Some(p.ts_us);
    if !p.zone_known {
        rec.error = Some("unknown time zone abbreviation: timestamp taken as UTC");
    }
    rec.severity = Some(p.severity);
    rec.sqlstate = p.sqlstate;
    rec.user = p.user;
    rec.db = p.db;
    rec.client_ip = p.client_ip;
    rec.client_port = p.client_port;
    rec.pid = p.pid;
    rec.session_line_num = p.line_num;
    rec.application_name = p.app;
    rec.query_id = p.query_id;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::FormatEntry;
    use crate::{parse_to_ndjson, Entry, Flow, Limits, LogFormat, LogParser};
    use proptest::prelude::*;
    use serde_json::Value;

    #[test]
    fn the_timestamp_cache_reads_what_parse_pg_reads() {
        let mut cache = TsCache::default();
        for text in [
            &b"2024-01-04 09:00:00 UTC"[..],
            b"2024-01-04 09:00:00 UTC",
            b"2024-01-04 09:00:00 CEST",
            b"2024-01-04 09:00:00.123 UTC",
            b"2024-01-04 09:00:00 UTC",
            b"2024-13-04 09:00:00 UTC",
            b"2024-01-04 09:00:00 UTC",
            b"2024-01-04 09:00:00.123456 Some/Very_Long_Zone_Name",
            b"2024-01-04 09:00:00.123456 Some/Very_Long_Zone_Name",
            b"2024-01-04 09:00:00 UTC trailing",
            b"2024-01-04 09:00:00 UTC",
        ] {
            let plain = crate::time::parse_pg(text)
                .filter(|&(_, n, _)| n == text.len())
                .map(|(us, _, known)| (us, known));
            assert_eq!(cache.read(text), plain, "{}", String::from_utf8_lossy(text));
        }
    }

    fn records(input: &[u8]) -> Vec<serde_json::Value> {
        crate::parser::test_records(LogFormat::Postgresql, input)
    }

    fn one(input: &str) -> Value {
        let mut r = records(input.as_bytes());
        assert_eq!(r.len(), 1, "{r:#?}");
        r.remove(0)
    }

    #[test]
    fn rds_prefix_with_ip_and_port() {
        let r = one("2022-10-05 22:05:52 UTC:52.95.4.1(11335):postgres@labdb:[3639]:LOG:  statement: select 1;\n");
        assert_eq!(r["_timestamp"], 1_665_007_552_000_000i64);
        assert_eq!(r["client_ip"], "52.95.4.1");
        assert_eq!(r["client_port"], 11335);
        assert_eq!(r["user"], "postgres");
        assert_eq!(r["db"], "labdb");
        assert_eq!(r["pid"], 3639);
        assert_eq!(r["severity"], "LOG");
        assert_eq!(r["msg"], "statement: select 1;");
        assert_eq!(r["statement"], "select 1;");
        assert_eq!(r["statement_kind"], "statement");
        assert!(r["fingerprint_id"].is_string());
        assert!(r.get("parse_error").is_none());
        assert!(r["message"].as_str().unwrap().starts_with("2022-10-05"));
    }

    #[test]
    fn rds_prefix_variants() {
        let r = one("2018-08-22 16:00:04 UTC:ec2-1-1-1-1.compute-1.amazonaws.com(48808):myuser@mydb:[18762]:LOG:  x\n");
        assert_eq!(
            (r["client_ip"].as_str(), r["client_port"].as_u64()),
            (Some("ec2-1-1-1-1.compute-1.amazonaws.com"), Some(48808))
        );
        let r = one("2018-08-22 16:00:03 UTC:[local]:myuser@mydb:[21495]:LOG:  x\n");
        assert_eq!(
            (
                r["client_ip"].as_str(),
                r["user"].as_str(),
                r["pid"].as_u64()
            ),
            (Some("[local]"), Some("myuser"), Some(21495))
        );
        let r = one("2022-10-05 19:08:07 UTC::@:[355]:LOG:  checkpoint starting: time\n");
        assert!(r.get("client_ip").is_none() && r.get("user").is_none() && r.get("db").is_none());
        assert_eq!(r["pid"], 355);
        assert_eq!(r["msg"], "checkpoint starting: time");
        let r = one("2021-05-27 17:00:00 UTC:10.1.91.65:user@my_db:[24743]:LOG: duration: 0.054 ms statement: SELECT * FROM t1;\n");
        assert_eq!(
            (r["client_ip"].as_str(), r["db"].as_str()),
            (Some("10.1.91.65"), Some("my_db"))
        );
        assert_eq!(r["duration_ms"], serde_json::json!(0.054));
        assert_eq!(r["statement"], "SELECT * FROM t1;");
        // IPv6 with %r and with %h; a database name with a colon.
        let r = one("2022-10-05 22:05:52 UTC:::1(5432):u@d:b:[7]:ERROR:  boom\n");
        assert_eq!(
            (
                r["client_ip"].as_str(),
                r["client_port"].as_u64(),
                r["db"].as_str()
            ),
            (Some("::1"), Some(5432), Some("d:b"))
        );
        let r = one("2022-10-05 22:05:52 UTC:2001:db8::1:u@d:[7]:ERROR:  boom\n");
        assert_eq!(
            (r["client_ip"].as_str(), r["user"].as_str()),
            (Some("2001:db8::1"), Some("u"))
        );
        // CloudWatch export timestamp in front; CET.
        let r = one("2020-03-11T19:40:43.000Z 2020-03-11 20:40:43 CET::@:[12760]:LOG:  starting\n");
        assert_eq!(r["_timestamp"], 1_583_955_643_000_000i64);
    }

    #[test]
    fn common_non_rds_prefixes() {
        let r = one("2017-04-08 21:56:03.362 CEST [891] [unknown]@[unknown] LOG:  incomplete startup packet\n");
        assert_eq!(
            (r["pid"].as_u64(), r["user"].as_str(), r["db"].as_str()),
            (Some(891), Some("[unknown]"), Some("[unknown]"))
        );
        assert_eq!(r["_timestamp"], 1_491_681_363_362_000i64);
        let r = one("2021-02-14 01:34:02 CET [30291]: db=template1,user=postgres,app=psql,client=[local] LOG:  disconnection\n");
        assert_eq!(
            (
                r["user"].as_str(),
                r["db"].as_str(),
                r["application_name"].as_str()
            ),
            (Some("postgres"), Some("template1"), Some("psql"))
        );
        assert_eq!(r["client_ip"], "[local]");
        let r = one("2023-03-07 09:06:08 CET [130096]: [247-1] [0] usr=usr6,db=progdb,appli=76ae LOG:  duration: 1 ms  execute <unnamed>: select 1\n");
        assert_eq!(
            (
                r["pid"].as_u64(),
                r["session_line_num"].as_u64(),
                r["user"].as_str()
            ),
            (Some(130096), Some(247), Some("usr6"))
        );
        let r = one("2023-03-04 18:24:15.242 UTC [24915-2] sherlock@postgres FATAL:  password authentication failed\n");
        assert_eq!(
            (r["pid"].as_u64(), r["session_line_num"].as_u64()),
            (Some(24915), Some(2))
        );
        let r = one("2019-09-22 06:28:24 UTC LOG:  duration: 112.337 ms  execute S_59: UPDATE t SET a = $1\n");
        assert_eq!(
            (r["prepared_name"].as_str(), r["statement_kind"].as_str()),
            (Some("S_59"), Some("execute"))
        );
        assert!(r.get("pid").is_none());
    }

    #[test]
    fn verbose_sqlstate_and_location() {
        let r = one("2019-07-23 12:06:24.406 UTC [25] ERROR:  42704: role \"x\" does not exist\n2019-07-23 12:06:24.406 UTC [25] LOCATION:  StartupXLOG, xlog.c:6388\n");
        assert_eq!(r["sqlstate"], "42704");
        assert_eq!(r["msg"], "role \"x\" does not exist");
        assert_eq!(r["location"], "StartupXLOG, xlog.c:6388");
    }

    #[test]
    fn groups_secondary_lines_of_the_same_pid() {
        let input = "2020-04-15 12:04:45.416 CEST [24981] FATAL:  password authentication failed for user \"root\"\n\
2020-04-15 12:04:45.416 CEST [24981] DETAIL:  Role \"root\" does not exist.\n\
\tConnection matched pg_hba.conf line 80: \"local all md5\"\n\
2020-04-15 12:04:45.416 CEST [24981] HINT:  h\n\
2020-04-15 12:04:45.416 CEST [24981] CONTEXT:  c\n\
2020-04-15 12:04:45.416 CEST [24981] QUERY:  q\n\
2020-04-15 12:04:45.416 CEST [24981] STATEMENT:  SELECT al\n\
2020-04-15 12:04:45.417 CEST [24982] DETAIL:  other pid\n";
        let r = records(input.as_bytes());
        assert_eq!(r.len(), 2);
        assert_eq!(r[0]["detail"], "Role \"root\" does not exist.\nConnection matched pg_hba.conf line 80: \"local all md5\"");
        assert_eq!(
            (
                r[0]["hint"].as_str(),
                r[0]["context"].as_str(),
                r[0]["internal_query"].as_str()
            ),
            (Some("h"), Some("c"), Some("q"))
        );
        assert_eq!(r[0]["statement"], "SELECT al");
        assert!(r[0].get("parse_error").is_none());
        assert_eq!(r[1]["severity"], "DETAIL");
        assert!(r[1]["parse_error"]
            .as_str()
            .unwrap()
            .contains("without its message"));
    }

    #[test]
    fn interleaved_pids_are_separate_entries() {
        let input =
            "2020-01-01 00:00:00 UTC::@:[1]:LOG:  a\n2020-01-01 00:00:00 UTC::@:[2]:LOG:  b\n\
2020-01-01 00:00:00 UTC::@:[1]:DETAIL:  for a\n";
        let r = records(input.as_bytes());
        assert_eq!(r.len(), 3);
        assert!(r[2]["parse_error"].is_string());
    }

    #[test]
    fn multiline_statement_loses_tabs() {
        let r = one("2020-04-16 12:49:16.871 CEST [34492] LOG:  duration: 3.431 ms  statement: CREATE TABLE weather (\n\t    city varchar(80),\n        date date\n\t);\n");
        assert_eq!(
            r["statement"],
            "CREATE TABLE weather (\n    city varchar(80),\n        date date\n);"
        );
        assert_eq!(r["duration_ms"].to_string(), "3.431");
    }

    #[test]
    fn extended_protocol_and_parameters() {
        let r = one("2019-09-04 15:52:38.004 CEST [31136] user@host LOG:  duration: 12.437 ms  bind S_1: select $1\n2019-09-04 15:52:38.004 CEST [31136] user@host DETAIL:  parameters: $1 = 'o''clock', $2 = NULL\n");
        assert_eq!(
            (r["statement_kind"].as_str(), r["prepared_name"].as_str()),
            (Some("bind"), Some("S_1"))
        );
        assert_eq!(r["parameters"], "$1 = 'o''clock', $2 = NULL");
        assert!(r.get("detail").is_none());
    }

    #[test]
    fn pairs_log_statement_with_log_duration() {
        let input = "2019-07-23 12:06:33.856 UTC [37] LOG:  statement: SELECT 1;\n\
2019-07-23 12:06:33.857 UTC [38] LOG:  duration: 1.000 ms\n\
2019-07-23 12:06:34.000 UTC [37] LOG:  duration: 430.394 ms\n\
2019-07-23 12:06:35.000 UTC [37] LOG:  duration: 1.0 ms\n";
        let r = records(input.as_bytes());
        assert!(r[1].get("statement").is_none());
        assert_eq!(r[2]["statement"], "SELECT 1;");
        assert_eq!(r[2]["duration_ms"].to_string(), "430.394");
        assert!(r[3].get("statement").is_none(), "a statement pairs once");
        let mut p = Parser::default();
        let mut c = Classifier::default();
        let mut samples = Vec::new();
        let mut framer = crate::frame::Framer::new(1 << 20);
        framer.feed(input.as_bytes(), &mut c, |raw, _| {
            let e = p.parse(raw);
            if let Some(s) = e.query_sample() {
                samples.push((s.query_time_us, s.statement.to_vec()));
            }
            Flow::Continue
        });
        framer.finish(&mut c, |raw, _| {
            let _ = p.parse(raw);
            Flow::Continue
        });
        assert_eq!(samples, vec![(430_394, b"SELECT 1;".to_vec())]);
    }

    /// auto_explain entries (text and json formats, as PostgreSQL 15 writes them) are timed
    /// queries: the query text is `statement` (fingerprinted), the plan is `plan`.
    #[test]
    fn auto_explain_entries_carry_their_statement_and_plan() {
        let input = "2024-01-04 09:00:00 UTC:10.0.0.1(5432):app@shop:[7]:LOG:  duration: 1008.123 ms  plan:\n\
\tQuery Text: SELECT * FROM orders\n\
\t  WHERE id = 42;\n\
\tSeq Scan on orders  (cost=0.00..35.50 rows=10 width=4) (actual time=0.010..0.011 rows=1 loops=1)\n\
\t  Filter: (id = 42)\n\
2024-01-04 09:00:01 UTC:10.0.0.1(5432):app@shop:[7]:LOG:  duration: 2.500 ms  plan:\n\
\t{\n\
\t  \"Query Text\": \"SELECT * FROM orders\\n  WHERE id = 7;\",\n\
\t  \"Plan\": {\n\
\t    \"Node Type\": \"Seq Scan\"\n\
\t  }\n\
\t}\n";
        let r = records(input.as_bytes());
        assert_eq!(r.len(), 2);
        for e in &r {
            assert_eq!(e["statement_kind"], "plan");
            assert_eq!(e["fingerprint"], r[0]["fingerprint"]);
            assert!(e.get("parse_error").is_none());
        }
        assert_eq!(r[0]["statement"], "SELECT * FROM orders\n  WHERE id = 42;");
        assert_eq!(r[0]["fingerprint"], "SELECT * FROM orders WHERE id = $1;");
        assert_eq!(
            r[0]["plan"],
            "Seq Scan on orders  (cost=0.00..35.50 rows=10 width=4) (actual time=0.010..0.011 rows=1 loops=1)\n  Filter: (id = 42)"
        );
        assert_eq!(r[0]["msg"], "duration: 1008.123 ms  plan:");
        assert_eq!(r[0]["duration_ms"].to_string(), "1008.123");
        assert_eq!(r[1]["statement"], "SELECT * FROM orders\n  WHERE id = 7;");
        assert!(r[1]["plan"]
            .as_str()
            .unwrap()
            .starts_with("{\n  \"Query Text\""));
        // Each is a timed query for `digest`.
        let mut p = Parser::default();
        let mut c = Classifier::default();
        let mut samples = Vec::new();
        let mut framer = crate::frame::Framer::new(1 << 20);
        let mut take = |raw: crate::frame::RawEntry<'_>, _: &Classifier| {
            let e = p.parse(raw);
            if let Some(s) = e.query_sample() {
                samples.push((s.query_time_us, s.fingerprint.to_vec()));
            }
            Flow::Continue
        };
        framer.feed(input.as_bytes(), &mut c, &mut take);
        framer.finish(&mut c, &mut take);
        let fp = b"SELECT * FROM orders WHERE id = $1;".to_vec();
        assert_eq!(samples, vec![(1_008_123, fp.clone()), (2_500, fp)]);
    }

    #[test]
    fn pairing_memory_is_bounded() {
        let mut input = String::new();
        for pid in 0..(crate::postgres::MAX_PAIRED_PIDS + 5) {
            input.push_str(&format!(
                "2020-01-01 00:00:00 UTC [{pid}] LOG:  statement: select {pid}\n"
            ));
        }
        let mut p = Parser::default();
        let mut c = Classifier::default();
        let mut framer = crate::frame::Framer::new(1 << 20);
        framer.feed(input.as_bytes(), &mut c, |raw, _| {
            let _ = p.parse(raw);
            Flow::Continue
        });
        framer.finish(&mut c, |raw, _| {
            let _ = p.parse(raw);
            Flow::Continue
        });
        assert_eq!(p.statement_memory().len(), crate::postgres::MAX_PAIRED_PIDS);
        assert_eq!(p.statement_memory().evictions, 5);
    }

    #[test]
    fn cut_entry_has_a_bounded_fingerprint() {
        let mut input = b"2024-01-04 09:00:00 UTC:10.0.0.1(5432):app@shop:[7]:LOG:  duration: 9.5 ms  statement: SELECT * FROM t WHERE a IN ('".to_vec();
        input.resize(input.len() + (9 << 20), b'x');
        input.extend_from_slice(b"')\n2024-01-04 09:00:01 UTC:10.0.0.1(5432):app@shop:[7]:LOG:  duration: 1.0 ms  statement: SELECT 1\n");
        let r = records(&input);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0]["truncated"], true);
        assert_eq!(r[0]["fingerprint_truncated"], true);
        let fp = r[0]["fingerprint"].as_str().unwrap();
        assert!(fp.len() <= crate::fingerprint::MAX_CUT_FINGERPRINT_BYTES);
        assert!(r[1].get("fingerprint_truncated").is_none());
    }

    #[test]
    fn unknown_zone_is_utc_and_flagged() {
        let r = one("2017-07-31 13:36:43 XYZT [835-1] LOG:  autovacuum launcher started\n");
        assert_eq!(r["_timestamp"], 1_501_508_203_000_000i64);
        assert!(r["parse_error"].as_str().unwrap().contains("time zone"));
    }

    #[test]
    fn garbage_trailer_utf8_and_truncated_last_line() {
        let r = records(b"garbage first\nmore garbage\n2020-01-01 00:00:00 UTC [1] LOG:  caf\xe9\n----------------------- END OF LOG ----------------------\n2020-01-01 00:00:01 UTC [1] LOG:  dura");
        assert_eq!(r.len(), 3);
        assert!(r[0]["parse_error"].as_str().unwrap().contains("prefix"));
        assert_eq!(r[0]["message"], "garbage first\nmore garbage");
        assert!(r[1]["parse_error"].as_str().unwrap().contains("utf-8"));
        assert_eq!(r[2]["msg"], "dura");
        assert!(r[2].get("parse_error").is_none());
    }

    #[test]
    fn never_panics_on_prefix_fragments() {
        let line = "2020-03-11T19:40:43.000Z 2022-10-05 22:05:52.123 UTC:::1(5432):u@d:[7]:ERROR:  42704: x";
        for end in 0..line.len() {
            let _ = records(&line.as_bytes()[..end]);
        }
    }

    /// A realistic stderr log from the pieces above.
    fn log_strategy() -> impl Strategy<Value = String> {
        let line = prop_oneof![
            Just("2022-10-05 22:05:52 UTC:52.95.4.1(11335):postgres@labdb:[3639]:LOG:  statement: select 1;\n"),
            Just("2022-10-05 22:05:53 UTC:52.95.4.1(11335):postgres@labdb:[3639]:LOG:  duration: 0.327 ms\n"),
            Just("2022-10-05 22:05:52 UTC::@:[355]:LOG:  checkpoint starting: time\n"),
            Just("2020-04-16 12:49:16.871 CEST [34492] LOG:  duration: 3.431 ms  statement: CREATE TABLE w (\n\t    c int\n\t);\n"),
            Just("2020-04-15 12:04:45.416 CEST [24981] DETAIL:  Role \"root\" does not exist.\n\tConnection matched\n"),
            Just("2019-09-04 15:52:38.004 CEST [31136] user@host LOG:  duration: 12.437 ms  bind S_1: select $1\n"),
            Just("2019-09-04 15:52:38.004 CEST [31136] user@host DETAIL:  parameters: $1 = 'x'\n"),
            Just("----------------------- END OF LOG ----------------------\n"),
            Just("\n"),
            Just("not a prefix caf\u{e9}\n"),
        ];
        proptest::collection::vec(line, 0..30).prop_map(|v| v.concat())
    }

    fn chunked(input: &[u8], cuts: &[usize]) -> Vec<u8> {
        let mut out = bytes::BytesMut::new();
        let mut parser = LogParser::new(LogFormat::Postgresql, Limits::default());
        let mut sink = |e: &Entry<'_>| {
            e.write_record(&mut out, &[]);
            out.extend_from_slice(b"\n");
            Flow::Continue
        };
        let mut at = 0;
        for &c in cuts {
            let c = c.min(input.len()).max(at);
            parser.feed(&input[at..c], &mut sink);
            at = c;
        }
        parser.feed(&input[at..], &mut sink);
        parser.finish(&mut sink);
        out.to_vec()
    }

    proptest! {
        /// Splitting the input anywhere gives byte-identical records.
        #[test]
        fn chunk_split_invariance(log in log_strategy(), mut cuts in proptest::collection::vec(0usize..2000, 0..8)) {
            cuts.sort_unstable();
            let whole = parse_to_ndjson(LogFormat::Postgresql, log.as_bytes()).to_vec();
            prop_assert_eq!(chunked(log.as_bytes(), &cuts), whole);
        }

        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_to_ndjson(LogFormat::Postgresql, &bytes);
        }

        /// The prefix the classifier kept for an entry's first line is the one the parser
        /// reads itself: every entry parses the same with the classifier's prefixes and
        /// without them (a prefix written twice in a row, and `[local]`, included).
        #[test]
        fn the_classifiers_prefixes_are_the_parsers(log in log_strategy(), repeat in any::<bool>()) {
            let mut log = log;
            if repeat {
                let first = log.lines().next().unwrap_or_default().to_string();
                log = format!("{first}\n{first}\n2024-01-04 09:00:00 UTC:[local]:u@d:[7]:LOG:  x\n{log}");
            }
            let mut framer = crate::frame::Framer::new(1 << 20);
            let mut c = Classifier::default();
            let (mut with, mut without) = (Parser::default(), Parser::default());
            let mut compared = 0;
            let mut check = |raw: crate::frame::RawEntry<'_>, c: &Classifier| {
                let a = format!("{:?}", with.parse_framed(raw, c));
                let b = format!("{:?}", without.parse(raw));
                assert_eq!(a, b);
                compared += 1;
                Flow::Continue
            };
            framer.feed(log.as_bytes(), &mut c, &mut check);
            framer.finish(&mut c, &mut check);
            // The `[local]` entry at least.
            prop_assert!(compared >= 1 || !repeat);
        }
    }
}
