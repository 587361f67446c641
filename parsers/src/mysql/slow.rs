//! The MySQL / Aurora MySQL slow query log (MySQL 5.5–8.0, Aurora MySQL 1–3, Percona Server,
//! MariaDB).
//!
//! # Entries
//! An entry is a block of `# …` header lines followed by its SQL body. A `#` line after body
//! lines starts the next entry only where a header can start, as pt-query-digest decides (it
//! splits at `;\n#`): after a complete statement (a line ending in `;`); before any statement
//! (only `use`/`SET` lines so far) if it reads as a header (`# Key: …`); and always for
//! `# Time:`, `# User@Host:`, `# Query_time:`. Other `#` lines are comments of the query
//! (`### Report ###` before it, `### Channels ###` inside it). Neither `# Time:` nor
//! `# User@Host:` is required, nor first. `# administrator command: X;` stands in for a body.
//! Server start banners (`…, Version: … started with:`, `Tcp port: … Unix socket: …`,
//! `Time  Id Command  Argument`), written at file start and after every restart or `FLUSH LOGS`,
//! belong to no entry: they are skipped and counted, never glued onto the previous query.
//!
//! # Fields of a `mysql_slow` record
//! - `_timestamp`: when MySQL wrote the entry (≈ the query's end), from `# Time:`; an entry
//!   without one inherits the previous `# Time:` of the stream (MySQL ≤ 5.6 writes it once per
//!   second), else `SET timestamp=` (the statement's start, whole seconds). Old-format
//!   `yymmdd hh:mm:ss` times carry no zone and are taken as UTC, as Aurora runs.
//! - `query_start`, `query_end` (µs) from `log_slow_extra`'s `Start:`/`End:`; `set_timestamp`
//!   (seconds) from `SET timestamp=N;`.
//! - `user`, `current_user` (the bracketed user, when it differs from `user`), `host`, `client_ip`,
//!   `thread_id` (from `Id:`, `# Thread_id:` or `log_slow_extra`).
//! - `query_time`, `lock_time` (seconds, JSON numbers written exactly as logged), `rows_sent`,
//!   `rows_examined`, and every other `Key: value` pair of the headers under its snake_case name:
//!   known keys with their type (integers, seconds, `Yes`/`No` as booleans: see [`KNOWN_KEYS`]),
//!   unknown keys as strings (so that a field never changes type between records).
//! - `db` (from `use db;`, else `Schema:`), `statement` (the SQL without the `use`/`SET timestamp`
//!   lines and without the final `;`), or `admin_command` for `# administrator command:` entries.
//! - `fingerprint`, `fingerprint_id`: pt-query-digest's fingerprint and its MD5.
//! - `message` (the raw entry) only when the entry is flagged: `statement` and the header fields
//!   carry everything else, and leaving the raw text out halves the bytes shipped.

use crate::fingerprint;
use crate::frame::{LineClass, LineClassifier, LineEnds, RawEntry};
use crate::json::{FieldKey, RecordWriter};
use crate::num::{leading_int, leading_micros, parse_micros, parse_u64, Decimal};
use crate::parser::{FormatEntry, FormatParser, QuerySample};
use crate::time;

/// Groups slow log lines into entries; see the module docs.
#[derive(Debug, Default)]
pub struct Classifier {
    /// The previous line was SQL (or an admin command): a `#` line now starts a new entry.
    after_body: bool,
    /// The body so far holds a statement, not only `use db;` / `SET timestamp=N;` lines.
    body_has_statement: bool,
    /// The last non-blank body line ended in `;` (a complete statement).
    body_complete: bool,
}

impl LineClassifier for Classifier {
    fn classify(&mut self, line: &[u8]) -> LineClass {
        if line.first() == Some(&b'#') {
            // (Byte 2 first: header lines are `# Time:`, `# User@Host:`, `# Query_time:`, ….)
            if line.get(2) == Some(&b'a') && line.starts_with(ADMIN_PREFIX) {
                // Stands in for the statement. After a statement it is an entry of its own
                // (RDS writes one before the next header): it must not swallow the next query.
                // After only `use db;` it is that entry's body (pt-query-digest's slow011).
                let class = if self.body_has_statement {
                    LineClass::Start
                } else {
                    LineClass::Continue
                };
                self.after_body = true;
                self.body_has_statement = true;
                self.note_body_end(line);
                return class;
            }
            if self.after_body && !self.header_can_start(line) {
                // A comment line before the statement or inside it (`### Report ###`).
                self.note_body_end(line);
                return LineClass::Continue;
            }
            let class = if self.after_body {
                LineClass::Start
            } else {
                LineClass::Continue
            };
            self.after_body = false;
            self.body_has_statement = false;
            return class;
        }
        if super::is_start_banner(line) {
            self.after_body = false;
            self.body_has_statement = false;
            return LineClass::Skip;
        }
        self.after_body = true;
        if !self.body_has_statement {
            self.body_has_statement = !is_session_line(line);
        }
        self.note_body_end(line);
        LineClass::Continue
    }
}

impl Classifier {
    /// Whether the `#` line `line`, after body lines, starts the next entry's headers. As
    /// pt-query-digest reads a slow log (it splits events at `;\n#`): after a complete
    /// statement, i.e. a body line ending in `;`. Before any statement (only `use`/`SET` lines
    /// so far) only a line that reads as a header does (`# Key: …`; the entry then has no
    /// query, pt's `/* No query */`). And `# Time:`, `# User@Host:` and `# Query_time:` always
    /// do, so that a statement cut before its `;` does not swallow the next entry.
    fn header_can_start(&self, line: &[u8]) -> bool {
        if self.body_has_statement && self.body_complete {
            return true;
        }
        let rest = line[1..].trim_ascii_start();
        if rest.starts_with(b"Time:")
            || rest.starts_with(b"User@Host:")
            || rest.starts_with(b"Query_time:")
        {
            return true;
        }
        !self.body_has_statement && reads_as_header(rest)
    }

    /// Remember whether the body line `line` completes a statement (ends in `;`). Blank lines
    /// change nothing.
    #[inline]
    fn note_body_end(&mut self, line: &[u8]) {
        // The last byte decides, but for trailing blanks (rare): no trimming pass per line.
        match line.last() {
            Some(&last) if !last.is_ascii_whitespace() => self.body_complete = last == b';',
            Some(_) => {
                if let Some(&last) = line.trim_ascii_end().last() {
                    self.body_complete = last == b';';
                }
            }
            None => {}
        }
    }
}

/// `Key:` (a letter, then letters, digits, `_` or `@`) at the start of `s`: a header's first pair.
fn reads_as_header(s: &[u8]) -> bool {
    let n = s
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'@'))
        .count();
    n > 0 && s[0].is_ascii_alphabetic() && s.get(n) == Some(&b':')
}

const ADMIN_PREFIX: &[u8] = b"# administrator command:";

/// What pt-query-digest calls a timed entry without a statement.
pub const NO_QUERY: &[u8] = b"/* No query */";

/// How a known header value is typed in the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// A whole number.
    Int,
    /// Seconds with a fraction, written exactly.
    Seconds,
    /// `Yes`/`No`.
    Bool,
    /// A timestamp, written as µs since the epoch.
    Time,
    /// Text.
    Text,
}

/// Header keys we know, the record field each becomes, and its type. Matching is
/// case-insensitive (`QC_Hit` and `QC_hit` both occur).
pub const KNOWN_KEYS: &[(&str, &str, ValueKind)] = {
    use ValueKind::*;
    &[
        ("Query_time", "query_time", Seconds),
        ("Lock_time", "lock_time", Seconds),
        ("Rows_sent", "rows_sent", Int),
        ("Rows_examined", "rows_examined", Int),
        ("Rows_affected", "rows_affected", Int),
        ("Rows_read", "rows_read", Int),
        ("Thread_id", "thread_id", Int),
        ("Id", "thread_id", Int),
        ("Schema", "schema", Text),
        ("Errno", "errno", Int),
        ("Killed", "killed", Int),
        ("Last_errno", "last_errno", Int),
        ("Bytes_sent", "bytes_sent", Int),
        ("Bytes_received", "bytes_received", Int),
        ("Read_first", "read_first", Int),
        ("Read_last", "read_last", Int),
        ("Read_key", "read_key", Int),
        ("Read_next", "read_next", Int),
        ("Read_prev", "read_prev", Int),
        ("Read_rnd", "read_rnd", Int),
        ("Read_rnd_next", "read_rnd_next", Int),
        ("Sort_merge_passes", "sort_merge_passes", Int),
        ("Sort_range_count", "sort_range_count", Int),
        ("Sort_rows", "sort_rows", Int),
        ("Sort_scan_count", "sort_scan_count", Int),
        ("Created_tmp_disk_tables", "created_tmp_disk_tables", Int),
        ("Created_tmp_tables", "created_tmp_tables", Int),
        ("Count_hit_tmp_table_size", "count_hit_tmp_table_size", Int),
        ("Start", "query_start", Time),
        ("End", "query_end", Time),
        ("Tmp_tables", "tmp_tables", Int),
        ("Tmp_disk_tables", "tmp_disk_tables", Int),
        ("Tmp_table_sizes", "tmp_table_sizes", Int),
        ("Merge_passes", "merge_passes", Int),
        ("InnoDB_trx_id", "innodb_trx_id", Text),
        ("InnoDB_IO_r_ops", "innodb_io_r_ops", Int),
        ("InnoDB_IO_r_bytes", "innodb_io_r_bytes", Int),
        ("InnoDB_IO_r_wait", "innodb_io_r_wait", Seconds),
        ("InnoDB_rec_lock_wait", "innodb_rec_lock_wait", Seconds),
        ("InnoDB_queue_wait", "innodb_queue_wait", Seconds),
        ("InnoDB_pages_distinct", "innodb_pages_distinct", Int),
        ("QC_hit", "qc_hit", Bool),
        ("Full_scan", "full_scan", Bool),
        ("Full_join", "full_join", Bool),
        ("Tmp_table", "tmp_table", Bool),
        ("Tmp_table_on_disk", "tmp_table_on_disk", Bool),
        ("Filesort", "filesort", Bool),
        ("Filesort_on_disk", "filesort_on_disk", Bool),
        ("Priority_queue", "priority_queue", Bool),
        ("Log_slow_rate_type", "log_slow_rate_type", Text),
        ("Log_slow_rate_limit", "log_slow_rate_limit", Int),
        ("Pages_accessed", "pages_accessed", Int),
        ("Pages_read", "pages_read", Int),
        ("Pages_updated", "pages_updated", Int),
        ("Pages_prefetched", "pages_prefetched", Int),
        ("Undo_records_added", "undo_records_added", Int),
        ("Old_rows_read", "old_rows_read", Int),
        ("Engine_pages_read_time", "engine_pages_read_time", Seconds),
        ("Rows_sent_affected", "rows_sent_affected", Int),
    ]
};

/// Indices in [`KNOWN_KEYS`] that the parser reads itself.
const QUERY_TIME: u8 = 0;
const LOCK_TIME: u8 = 1;
const ROWS_SENT: u8 = 2;
const ROWS_EXAMINED: u8 = 3;
const THREAD_ID: u8 = 6;
const ID: u8 = 7;
const SCHEMA: u8 = 8;
const LOG_SLOW_RATE_TYPE: u8 = 49;
const LOG_SLOW_RATE_LIMIT: u8 = 50;

/// Field names our own code writes: an unknown header key that would collide gets a `slow_`
/// prefix instead.
const RESERVED: &[&str] = &[
    "_timestamp",
    "log_type",
    "log_offset",
    "message",
    "parse_error",
    "truncated",
    "user",
    "host",
    "client_ip",
    "current_user",
    "db",
    "statement",
    "admin_command",
    "fingerprint",
    "fingerprint_id",
    "fingerprint_truncated",
    "set_timestamp",
    "record_id",
    "log_file",
    "instance_id",
    "cluster_id",
    "engine",
    "engine_version",
    "region",
];

/// Index in [`KNOWN_KEYS`] of a header key, case-insensitively. This runs for every pair of
/// every entry, so the key is lowercased into two 128-bit words and looked up by hash: no
/// string comparisons.
fn known_key(key: &[u8]) -> Option<u8> {
    // The keys of every entry's `# Query_time:` and `# User@Host:` lines, as MySQL spells them:
    // integer compares, before any hashing.
    use crate::ascii::{pack16, pack16_exact};
    const HOT: [(u128, u8); 6] = [
        (pack16(b"Query_time"), QUERY_TIME),
        (pack16(b"Lock_time"), LOCK_TIME),
        (pack16(b"Rows_sent"), ROWS_SENT),
        (pack16(b"Rows_examined"), ROWS_EXAMINED),
        (pack16(b"Id"), ID),
        (pack16(b"Thread_id"), THREAD_ID),
    ];
    if let Some(x) = pack16_exact(key) {
        if let Some(&(_, i)) = HOT.iter().find(|(k, _)| *k == x) {
            return Some(i);
        }
    }
    type Table = std::collections::HashMap<[u128; 2], u8, rustc_hash::FxBuildHasher>;
    static TABLE: std::sync::OnceLock<Table> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        KNOWN_KEYS
            .iter()
            .enumerate()
            .filter_map(|(i, (k, _, _))| Some((packed_lower(k.as_bytes())?, i as u8)))
            .collect()
    });
    table.get(&packed_lower(key)?).copied()
}

/// `key` lowercased and zero-padded into 32 bytes, as two words; `None` if longer.
fn packed_lower(key: &[u8]) -> Option<[u128; 2]> {
    let mut buf = [0u8; 32];
    buf.get_mut(..key.len())?
        .iter_mut()
        .zip(key)
        .for_each(|(d, s)| *d = s.to_ascii_lowercase());
    let (lo, hi) = buf.split_at(16);
    Some([
        u128::from_le_bytes(lo.try_into().ok()?),
        u128::from_le_bytes(hi.try_into().ok()?),
    ])
}

/// Where `needle` first occurs in `hay` (short needles, short haystacks: cheaper than building a
/// memmem searcher per call).
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    memchr::memchr_iter(first, hay).find(|&i| hay[i + 1..].starts_with(rest))
}

/// At most this many `Key: value` pairs are kept per entry; more are counted in the record.
pub const MAX_PAIRS: usize = 64;

/// One `Key: value` header pair.
#[derive(Clone, Copy, Debug)]
pub struct Pair<'a> {
    /// The key as logged, without its colon.
    pub key: &'a [u8],
    /// The value (may be empty).
    pub value: &'a [u8],
    /// Index of the key in [`KNOWN_KEYS`], if known.
    pub known: Option<u8>,
}

/// Where a [`Pair`] lies in its entry: offsets, so that the parser can keep every entry's pairs
/// in one reused buffer instead of allocating per entry.
#[derive(Clone, Copy, Debug)]
pub struct PairSpan {
    key: (u32, u32),
    value: (u32, u32),
    known: Option<u8>,
    /// The value as logged is already the field's JSON (validated for its type when parsed,
    /// and in canonical form): the record copies it instead of parsing it again.
    plain: bool,
}

impl PairSpan {
    #[inline]
    fn new(text: &[u8], key: &[u8], value: &[u8], known: Option<u8>, plain: bool) -> PairSpan {
        let at = |s: &[u8]| {
            if s.is_empty() {
                return (0, 0);
            }
            let start = (s.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
            debug_assert!(start + s.len() <= text.len(), "pair outside its entry");
            (start as u32, s.len() as u32)
        };
        PairSpan {
            key: at(key),
            value: at(value),
            known,
            plain,
        }
    }

    /// The pair in `text`, the entry it was taken from.
    fn resolve<'a>(&self, text: &'a [u8]) -> Pair<'a> {
        let get = |(start, len): (u32, u32)| {
            text.get(start as usize..(start + len) as usize)
                .unwrap_or_default()
        };
        Pair {
            key: get(self.key),
            value: get(self.value),
            known: self.known,
        }
    }
}

/// One parsed slow log entry; every slice borrows from the raw entry.
#[derive(Debug, Default)]
pub struct SlowQueryEntry<'a> {
    /// `_timestamp` (µs), see the module docs.
    pub timestamp_us: Option<i64>,
    /// The `# Time:` value as logged, if this entry had one.
    pub time_text: Option<&'a [u8]>,
    /// `SET timestamp=N`.
    pub set_timestamp: Option<u64>,
    /// Login user.
    pub user: Option<&'a [u8]>,
    /// Effective user (the bracketed one).
    pub current_user: Option<&'a [u8]>,
    /// Client host name.
    pub host: Option<&'a [u8]>,
    /// Client address.
    pub client_ip: Option<&'a [u8]>,
    /// The raw entry the pairs point into.
    pub text: &'a [u8],
    /// The header pairs, in order (see [`SlowQueryEntry::pairs`]).
    pub pair_spans: &'a [PairSpan],
    /// Pairs beyond [`MAX_PAIRS`].
    pub pairs_dropped: usize,
    /// Default database (`use db;`), else `Schema:`.
    pub db: Option<&'a [u8]>,
    /// The SQL.
    pub statement: Option<&'a [u8]>,
    /// The administrator command (`Quit`, `Ping`, …).
    pub admin_command: Option<&'a [u8]>,
    /// pt-query-digest fingerprint of the statement (or `administrator command: X`).
    pub fingerprint: &'a [u8],
    /// Uppercase hex MD5 of the fingerprint.
    pub fingerprint_id: Option<[u8; 32]>,
    /// The entry was cut at `max_entry_bytes`: the fingerprint is of a partial query, at most
    /// [`crate::fingerprint::MAX_CUT_FINGERPRINT_BYTES`] long.
    pub fingerprint_truncated: bool,
    /// Query time in µs.
    pub query_time_us: Option<u64>,
    /// Lock time in µs.
    pub lock_time_us: Option<u64>,
    /// Rows sent.
    pub rows_sent: Option<u64>,
    /// Rows examined.
    pub rows_examined: Option<u64>,
    /// Percona Server's sampling: `Log_slow_rate_type` (`query`, `session`) and
    /// `Log_slow_rate_limit` (one in this many was logged).
    pub rate_type: Option<&'a [u8]>,
    /// See `rate_type`.
    pub rate_limit: Option<u64>,
    /// Why the entry is flagged.
    pub error: Option<&'static str>,
}

/// Parses slow log entries; keeps the last `# Time:` for entries without one.
#[derive(Debug, Default)]
pub struct Parser {
    last_time_us: Option<i64>,
    fingerprint: Vec<u8>,
    ids: fingerprint::IdCache,
    no_fingerprints: bool,
    samples_only: bool,
    spans: Vec<PairSpan>,
    /// `# Time:` values of neighbouring entries share their minute.
    times: time::IsoMinuteCache,
}

impl FormatParser for Parser {
    type Classifier = Classifier;
    type Entry<'a> = SlowQueryEntry<'a>;

    fn parse<'a>(&'a mut self, raw: RawEntry<'a>) -> SlowQueryEntry<'a> {
        let text = raw.text;
        let mut e = SlowQueryEntry {
            text,
            ..SlowQueryEntry::default()
        };
        let spans = &mut self.spans;
        spans.clear();
        let mut pos = 0;
        let mut saw_header = false;
        // The framer found these line ends already.
        let mut lines = LineEnds::new(&raw);
        // Header lines.
        while pos < text.len() && text[pos] == b'#' && !text[pos..].starts_with(ADMIN_PREFIX) {
            let end = lines.find(pos);
            header_line(&mut e, spans, &mut self.times, trim_cr(&text[pos + 1..end]));
            saw_header = true;
            pos = (end + 1).min(text.len());
        }
        body(&mut e, text, pos, &mut lines);
        if !saw_header && e.error.is_none() {
            e.error =
                Some("slow log entry without header lines (cut by a rotation or a partial read?)");
        }
        match (e.time_text.is_some(), e.timestamp_us) {
            (true, Some(t)) => self.last_time_us = Some(t),
            (true, None) => {
                e.error.get_or_insert("unparseable # Time: value");
            }
            (false, _) => e.timestamp_us = self.last_time_us,
        }
        if e.timestamp_us.is_none() {
            e.timestamp_us = e
                .set_timestamp
                .and_then(|s| i64::try_from(s).ok()?.checked_mul(1_000_000));
        }
        if e.statement.is_none()
            && e.admin_command.is_none()
            && e.query_time_us.is_none()
            && e.error.is_none()
        {
            // A header block with no query and no timing: a writer mid-flush, or a cut file.
            e.error = Some("slow log entry without a statement");
        }
        e.pair_spans = &self.spans;
        self.fingerprint.clear();
        if self.no_fingerprints {
            e.fingerprint = &self.fingerprint;
            return e;
        }
        if let Some(cmd) = e.admin_command {
            self.fingerprint
                .extend_from_slice(b"administrator command: ");
            self.fingerprint.extend_from_slice(cmd);
        } else if let Some(stmt) = e.statement {
            fingerprint::mysql::fingerprint(stmt, &mut self.fingerprint);
        } else if e.query_time_us.is_some() {
            // Timed, but MySQL logged no statement: pt-query-digest's class for these.
            self.fingerprint.extend_from_slice(NO_QUERY);
        }
        if raw.truncated && !self.fingerprint.is_empty() {
            fingerprint::bound_cut_fingerprint(&mut self.fingerprint);
            e.fingerprint_truncated = true;
        }
        if !self.fingerprint.is_empty() && !self.samples_only {
            e.fingerprint_id = Some(self.ids.id(&self.fingerprint));
        }
        e.fingerprint = &self.fingerprint;
        e
    }

    fn set_fingerprints(&mut self, on: bool) {
        self.no_fingerprints = !on;
    }

    fn set_samples_only(&mut self, on: bool) {
        self.samples_only = on;
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// One header line, without its leading `#`.
fn header_line<'a>(
    e: &mut SlowQueryEntry<'a>,
    spans: &mut Vec<PairSpan>,
    times: &mut time::IsoMinuteCache,
    line: &'a [u8],
) {
    let line = line.trim_ascii_start();
    if let Some(rest) = line.strip_prefix(b"Time:") {
        let rest = rest.trim_ascii_start();
        // `# Time: 071218 11:48:27 # User@Host: …` on one line.
        let (value, more) = match find(rest, b"# User@Host:") {
            Some(i) => (rest[..i].trim_ascii_end(), Some(&rest[i + 1..])),
            None => (rest.trim_ascii_end(), None),
        };
        e.time_text = Some(value);
        let parsed = times
            .parse_iso(value)
            .or_else(|| time::parse_mysql_old(value));
        e.timestamp_us = parsed.filter(|&(_, n)| n == value.len()).map(|(us, _)| us);
        if let Some(uh) = more {
            header_line(e, spans, times, uh);
        }
        return;
    }
    if let Some(rest) = line.strip_prefix(b"User@Host:") {
        return user_host(e, spans, rest);
    }
    pairs(e, spans, line);
}

/// `user[priv_user] @ host [ip]  Id: N` (each part optional).
fn user_host<'a>(e: &mut SlowQueryEntry<'a>, spans: &mut Vec<PairSpan>, rest: &'a [u8]) {
    let rest = rest.trim_ascii_start();
    let Some(at) = find(rest, b" @ ").or_else(|| find(rest, b"@ ")) else {
        e.error.get_or_insert("unparseable # User@Host: line");
        return;
    };
    let who = rest[..at].trim_ascii();
    // Short fields: byte loops, not memchr (whose setup costs more than these scans).
    let (user, current) = match who.iter().position(|&b| b == b'[') {
        Some(open) => {
            let close = who
                .iter()
                .rposition(|&b| b == b']')
                .filter(|&c| c > open)
                .unwrap_or(who.len());
            (who[..open].trim_ascii(), Some(&who[open + 1..close]))
        }
        None => (who, None),
    };
    e.user = non_empty(user).or(current.and_then(non_empty));
    e.current_user = current.and_then(non_empty);
    let after = &rest[at + 2..];
    let after = if after.first() == Some(&b' ') {
        &after[1..]
    } else {
        after
    };
    // host, then `[ip]`, then optional `Id: N` and other pairs.
    let (hostpart, tail) = match after.iter().position(|&b| b == b'[') {
        Some(open) => {
            let close = after[open..]
                .iter()
                .position(|&b| b == b']')
                .map_or(after.len(), |c| open + c);
            e.client_ip = non_empty(&after[open + 1..close]);
            (&after[..open], &after[(close + 1).min(after.len())..])
        }
        None => {
            let end = find(after, b"Id:").unwrap_or(after.len());
            (&after[..end], &after[end..])
        }
    };
    e.host = non_empty(hostpart.trim_ascii());
    // `Id: N`, the whole tail on MySQL ≥ 5.6: read as `pairs` would, without tokenizing.
    if let Some((key, value, id, rest)) = fixed_pair(tail, b"Id:", leading_int, parse_u64) {
        if skip_blanks(rest).is_empty() {
            keep(e, spans, key, value, ID, id.is_some());
            return;
        }
    }
    pairs(e, spans, tail);
}

/// `Key: value  Key2: value2 …`. A token ending in `:` is a key; the next token is its value
/// unless it is itself a key (an empty value, as in `Schema:   Last_errno: 0`). Values may hold
/// colons (`Start: 2019-03-24T14:04:51.082107Z`).
fn pairs<'a>(e: &mut SlowQueryEntry<'a>, spans: &mut Vec<PairSpan>, line: &'a [u8]) {
    let mut rest = stats_prefix(e, spans, line);
    let mut pending: Option<&'a [u8]> = None;
    while let Some((tok, after)) = next_token(rest) {
        rest = after;
        if let Some(key) = pending.take() {
            if !is_key(tok) {
                pair(e, spans, key, tok);
                continue;
            }
            pair(e, spans, key, &[]);
        }
        match tok.strip_suffix(b":") {
            Some(key) if !key.is_empty() => pending = Some(key),
            // Free text (`No InnoDB statistics available for this query`, explain rows).
            _ => {}
        }
    }
    if let Some(key) = pending {
        pair(e, spans, key, &[]);
    }
}

/// The next space- or tab-separated token of `s` and what follows it.
fn next_token(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let start = s.iter().position(|&b| b != b' ' && b != b'\t')?;
    let s = &s[start..];
    let end = s
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(s.len());
    Some((&s[..end], &s[end..]))
}

fn is_key(tok: &[u8]) -> bool {
    tok.len() > 1 && tok.ends_with(b":") && tok[0].is_ascii_alphabetic()
}

/// The line every entry has, `Query_time: a  Lock_time: b Rows_sent: c  Rows_examined: d`, read
/// key by key without tokenizing or looking keys up; returns what is left for the generic loop
/// (the `log_slow_extra` pairs, or the whole line if it is not of this shape). Reads exactly
/// what [`pairs`] would.
fn stats_prefix<'a>(
    e: &mut SlowQueryEntry<'a>,
    spans: &mut Vec<PairSpan>,
    line: &'a [u8],
) -> &'a [u8] {
    let Some((key, value, v, rest)) =
        fixed_pair(line, b"Query_time:", leading_micros, parse_micros)
    else {
        return line;
    };
    e.query_time_us = v;
    keep(e, spans, key, value, QUERY_TIME, v.is_some());
    let Some((key, value, v, rest)) = fixed_pair(rest, b"Lock_time:", leading_micros, parse_micros)
    else {
        return rest;
    };
    e.lock_time_us = v;
    keep(e, spans, key, value, LOCK_TIME, v.is_some());
    let Some((key, value, v, rest)) = fixed_pair(rest, b"Rows_sent:", leading_int, parse_u64)
    else {
        return rest;
    };
    e.rows_sent = v;
    keep(e, spans, key, value, ROWS_SENT, v.is_some());
    let Some((key, value, v, rest)) = fixed_pair(rest, b"Rows_examined:", leading_int, parse_u64)
    else {
        return rest;
    };
    e.rows_examined = v;
    keep(e, spans, key, value, ROWS_EXAMINED, v.is_some());
    rest
}

/// What [`fixed_pair`] reads: (the key without its colon, the value, the value as a number,
/// what follows).
type FixedPair<'a> = (&'a [u8], &'a [u8], Option<u64>, &'a [u8]);

/// `KEY value` after blanks at the start of `s`, as [`pairs`] reads it, where `KEY` (with its
/// colon) is a constant: (the key without its colon, the value, the value read by `parse`, what
/// follows). Inlined per key so that the key test is a fixed-size compare; `fast` reads the
/// common short numbers in the same step (see [`leading_int`]), `parse` is the general reader.
#[inline(always)]
fn fixed_pair<'a, const N: usize>(
    s: &'a [u8],
    key: &[u8; N],
    fast: fn(&[u8]) -> Option<(usize, u64)>,
    parse: fn(&[u8]) -> Option<u64>,
) -> Option<FixedPair<'a>> {
    let at = skip_blanks(s);
    let (head, after) = at.split_first_chunk::<N>()?;
    if head != key || !matches!(after.first(), Some(b' ' | b'\t')) {
        return None;
    }
    let after = skip_blanks(after);
    let key = &at[..N - 1];
    if let Some((n, v)) = fast(after) {
        return Some((key, &after[..n], Some(v), &after[n..]));
    }
    // A value is a few bytes: a byte loop beats memchr's setup here.
    let end = after
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(after.len());
    let value = &after[..end];
    if value.is_empty() || is_key(value) {
        return None;
    }
    Some((key, value, parse(value), &after[end..]))
}

/// `s` without its leading spaces and tabs.
#[inline]
fn skip_blanks(s: &[u8]) -> &[u8] {
    let n = s
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(s.len());
    &s[n..]
}

fn pair<'a>(e: &mut SlowQueryEntry<'a>, spans: &mut Vec<PairSpan>, key: &'a [u8], value: &'a [u8]) {
    record(e, spans, key, value, known_key(key));
}

/// Keep one pair, and the fields the parser itself reads from it.
fn record<'a>(
    e: &mut SlowQueryEntry<'a>,
    spans: &mut Vec<PairSpan>,
    key: &'a [u8],
    value: &'a [u8],
    known: Option<u8>,
) {
    let Some(i) = known else {
        if spans.len() < MAX_PAIRS {
            spans.push(PairSpan::new(e.text, key, value, None, false));
        } else {
            e.pairs_dropped += 1;
        }
        return;
    };
    let ok = match i {
        QUERY_TIME => {
            e.query_time_us = parse_micros(value);
            e.query_time_us.is_some()
        }
        LOCK_TIME => {
            e.lock_time_us = parse_micros(value);
            e.lock_time_us.is_some()
        }
        ROWS_SENT => {
            e.rows_sent = parse_u64(value);
            e.rows_sent.is_some()
        }
        ROWS_EXAMINED => {
            e.rows_examined = parse_u64(value);
            e.rows_examined.is_some()
        }
        SCHEMA => {
            if e.db.is_none() {
                e.db = non_empty(value);
            }
            false
        }
        LOG_SLOW_RATE_LIMIT => {
            e.rate_limit = parse_u64(value);
            e.rate_limit.is_some()
        }
        LOG_SLOW_RATE_TYPE => {
            e.rate_type = non_empty(value);
            false
        }
        _ => match KNOWN_KEYS[usize::from(i)].2 {
            ValueKind::Int => parse_u64(value).is_some(),
            ValueKind::Seconds => parse_micros(value).is_some(),
            _ => false,
        },
    };
    keep(e, spans, key, value, i, ok);
}

/// Keep the pair of known key `known` whose value `valid`ated for its type (an integer that
/// [`parse_u64`] reads, seconds that [`parse_micros`] reads).
#[inline]
fn keep<'a>(
    e: &mut SlowQueryEntry<'a>,
    spans: &mut Vec<PairSpan>,
    key: &'a [u8],
    value: &'a [u8],
    known: u8,
    valid: bool,
) {
    if spans.len() < MAX_PAIRS {
        let plain = valid && is_canonical_number(value);
        spans.push(PairSpan::new(e.text, key, value, Some(known), plain));
    } else {
        e.pairs_dropped += 1;
    }
}

/// Whether a number that [`parse_u64`] or [`parse_micros`] accepted is written in JSON exactly as
/// logged: no leading zero before another digit ([`Decimal::write_json`] drops those) and at
/// most the 40 digits [`Decimal::parse`] takes.
#[inline]
fn is_canonical_number(value: &[u8]) -> bool {
    value.len() <= 41 && !(value[0] == b'0' && value.get(1).is_some_and(u8::is_ascii_digit))
}

/// The body: a leading `use db;` line and a `SET …timestamp=N;` line (one of each at most, as
/// pt-query-digest reads them: a second `use` is the statement that ran), then the statement or
/// an `# administrator command:` line.
fn body<'a>(e: &mut SlowQueryEntry<'a>, text: &'a [u8], mut pos: usize, lines: &mut LineEnds<'_>) {
    let (mut got_db, mut got_set) = (false, false);
    loop {
        let start = text[pos..]
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .map_or(text.len(), |i| pos + i);
        let end = lines.find(start);
        let line = trim_cr(&text[start..end]);
        match (use_line(line), set_timestamp_line(line)) {
            (Some(db), _) if !got_db => {
                e.db = Some(db);
                got_db = true;
            }
            (_, Some(ts)) if !got_set => {
                e.set_timestamp = ts;
                got_set = true;
            }
            _ => {
                pos = start;
                break;
            }
        }
        pos = (end + 1).min(text.len());
    }
    let rest = &text[pos..];
    if rest.starts_with(ADMIN_PREFIX) {
        let from = pos + ADMIN_PREFIX.len();
        let cmd = trim_cr(&text[from..lines.find(from)]).trim_ascii();
        e.admin_command = Some(cmd.strip_suffix(b";").unwrap_or(cmd));
        return;
    }
    let stmt = rest.trim_ascii_end();
    let stmt = stmt.strip_suffix(b";").unwrap_or(stmt);
    e.statement = non_empty(stmt.trim_ascii_end());
}

/// A blank line, or one that looks like `use …;` / `SET …;` (the lines before a statement; the
/// body parser decides exactly): enough for the classifier, which runs on every body line.
fn is_session_line(line: &[u8]) -> bool {
    let l = trim_cr(line).trim_ascii();
    l.is_empty()
        || (l.len() > 4
            && l.ends_with(b";")
            && (l[..4].eq_ignore_ascii_case(b"use ") || l[..4].eq_ignore_ascii_case(b"set ")))
}

/// `use db;` (any case, maybe backticked): the database.
fn use_line(line: &[u8]) -> Option<&[u8]> {
    if line.len() < 5 || !line[..4].eq_ignore_ascii_case(b"use ") {
        return None;
    }
    let db = (line[4..].strip_suffix(b";")?).trim_ascii();
    let db = db
        .strip_prefix(b"`")
        .and_then(|d| d.strip_suffix(b"`"))
        .unwrap_or(db);
    (!db.is_empty() && !db.contains(&b' ')).then_some(db)
}

/// `SET timestamp=N;`, `SET insert_id=1,timestamp=N;`, `SET last_insert_id=…,timestamp=N;`:
/// `Some(timestamp)` when the line is one of these.
fn set_timestamp_line(line: &[u8]) -> Option<Option<u64>> {
    if line.len() < 4 || !line[..4].eq_ignore_ascii_case(b"SET ") || !line.ends_with(b";") {
        return None;
    }
    // What MySQL writes before nearly every statement: `SET timestamp=N;`, read in one step.
    if let Some(digits) = line
        .strip_prefix(b"SET timestamp=")
        .map(|rest| &rest[..rest.len() - 1])
    {
        if (1..=19).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit) {
            // At most 19 digits: no overflow.
            let ts = digits
                .iter()
                .fold(0u64, |v, &d| v * 10 + u64::from(d - b'0'));
            return Some(Some(ts));
        }
    }
    let assigns = &line[4..line.len() - 1];
    let (mut ts, mut has_ts) = (None, false);
    for part in assigns.split(|b| *b == b',') {
        let eq = memchr::memchr(b'=', part)?;
        let (name, value) = (part[..eq].trim_ascii(), part[eq + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"timestamp") {
            ts = parse_u64(value);
            has_ts = true;
        } else if !(name.eq_ignore_ascii_case(b"insert_id")
            || name.eq_ignore_ascii_case(b"last_insert_id"))
        {
            return None;
        }
    }
    has_ts.then_some(ts)
}

fn non_empty(s: &[u8]) -> Option<&[u8]> {
    (!s.is_empty()).then_some(s)
}

impl<'a> SlowQueryEntry<'a> {
    /// The header `Key: value` pairs, in order.
    pub fn pairs(&self) -> impl Iterator<Item = Pair<'a>> + '_ {
        self.pair_spans.iter().map(|s| s.resolve(self.text))
    }
}

impl FormatEntry for SlowQueryEntry<'_> {
    fn timestamp_us(&self) -> Option<i64> {
        self.timestamp_us
    }

    fn parse_error(&self) -> Option<&'static str> {
        self.error
    }

    fn include_message(&self) -> bool {
        false
    }

    fn cut_message_len(&self) -> usize {
        // The cut SQL is `statement`; `message` keeps the lines before it.
        match self.statement.or(self.admin_command) {
            Some(s) => {
                let at = (s.as_ptr() as usize).wrapping_sub(self.text.as_ptr() as usize);
                self.text[..at.min(self.text.len())].trim_ascii_end().len()
            }
            None => self.text.len(),
        }
    }

    fn write_fields(&self, w: &mut RecordWriter<'_>) {
        w.opt_str("user", self.user);
        // The bracketed user only when it says something `user` does not.
        w.opt_str(
            "current_user",
            self.current_user.filter(|c| Some(*c) != self.user),
        );
        w.opt_str("host", self.host);
        w.opt_str("client_ip", self.client_ip);
        w.opt_u64("set_timestamp", self.set_timestamp);
        let mut seen = [false; KNOWN_KEYS.len()];
        for span in self.pair_spans {
            write_pair(w, &span.resolve(self.text), span.plain, &mut seen);
        }
        if self.pairs_dropped > 0 {
            w.u64("header_pairs_dropped", self.pairs_dropped as u64);
        }
        w.opt_str("db", self.db);
        let plain_statement = self
            .statement
            .is_some_and(|s| w.str_checked("statement", s));
        w.opt_str("admin_command", self.admin_command);
        if let Some(id) = &self.fingerprint_id {
            if plain_statement {
                // The statement's fingerprint: its bytes, `?`, spaces and a few plain words;
                // no escaping needed if the statement needed none.
                w.str_plain("fingerprint", self.fingerprint);
            } else {
                w.str("fingerprint", self.fingerprint);
            }
            w.str_plain("fingerprint_id", id);
            if self.fingerprint_truncated {
                w.bool("fingerprint_truncated", true);
            }
        }
    }

    fn query_sample(&self) -> Option<QuerySample<'_>> {
        let statement = self.statement.or(self.admin_command).unwrap_or(NO_QUERY);
        Some(QuerySample {
            fingerprint: self.fingerprint,
            statement,
            query_time_us: self.query_time_us?,
            lock_time_us: self.lock_time_us,
            rows_sent: self.rows_sent,
            rows_examined: self.rows_examined,
            rate_limit: self.rate_limit,
            rate_type: self.rate_type,
            timestamp_us: self.timestamp_us,
        })
    }
}

/// `,"field":` of every known key, rendered at compile time.
static FIELD_KEYS: [FieldKey; KNOWN_KEYS.len()] = {
    let mut keys = [FieldKey::new("x"); KNOWN_KEYS.len()];
    let mut i = 0;
    while i < KNOWN_KEYS.len() {
        keys[i] = FieldKey::new(KNOWN_KEYS[i].1);
        i += 1;
    }
    keys
};

/// Write one header pair with its declared type; a value that does not fit its type is kept as
/// text under `<field>_text` so the field's own type never changes. A key seen twice keeps its
/// first value. A `plain` value (see [`PairSpan`]) is copied as it stands.
fn write_pair(
    w: &mut RecordWriter<'_>,
    p: &Pair<'_>,
    plain: bool,
    seen: &mut [bool; KNOWN_KEYS.len()],
) {
    let Some(i) = p.known.map(usize::from) else {
        let lower: Vec<u8> = p.key.to_ascii_lowercase();
        if RESERVED.iter().any(|r| r.as_bytes() == lower.as_slice()) || lower == b"schema" {
            let mut prefixed = b"slow_".to_vec();
            prefixed.extend_from_slice(&lower);
            w.str_dynamic_key(&prefixed, p.value);
        } else {
            w.str_dynamic_key(p.key, p.value);
        }
        return;
    };
    let (_, field, kind) = KNOWN_KEYS[i];
    if std::mem::replace(&mut seen[i], true) || i == usize::from(SCHEMA) {
        return;
    }
    if plain {
        debug_assert!(matches!(kind, ValueKind::Int | ValueKind::Seconds));
        w.raw_value(&FIELD_KEYS[i], p.value);
        return;
    }
    let ok = match kind {
        ValueKind::Int => parse_u64(p.value).map(|v| w.u64(field, v)).is_some(),
        ValueKind::Seconds => Decimal::parse(p.value)
            .map(|d| w.decimal(field, d))
            .is_some(),
        ValueKind::Bool => match p.value {
            v if v.eq_ignore_ascii_case(b"yes") => {
                w.bool(field, true);
                true
            }
            v if v.eq_ignore_ascii_case(b"no") => {
                w.bool(field, false);
                true
            }
            _ => false,
        },
        ValueKind::Time => time::parse_iso(p.value)
            .map(|(us, _)| w.i64(field, us))
            .is_some(),
        ValueKind::Text => {
            w.str(field, p.value);
            true
        }
    };
    if !ok && !p.value.is_empty() {
        let mut name = field.as_bytes().to_vec();
        name.extend_from_slice(b"_text");
        w.str_dynamic_key(&name, p.value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::LogFormat;
    use crate::parser::parse_to_ndjson;
    use serde_json::Value;

    fn records(input: &str) -> Vec<serde_json::Value> {
        crate::parser::test_records(LogFormat::MysqlSlow, input.as_bytes())
    }

    const MYSQL8_EXTRA: &str = "# Time: 2019-03-24T14:04:53.714053Z
# User@Host: root[root] @ localhost []  Id:     8
# Query_time: 2.631884  Lock_time: 0.000182 Rows_sent: 1  Rows_examined: 8 Thread_id: 8 Errno: 0 Killed: 0 Bytes_received: 0 Bytes_sent: 70 Read_first: 1 Read_last: 0 Read_key: 1 Read_next: 0 Read_prev: 0 Read_rnd: 0 Read_rnd_next: 0 Sort_merge_passes: 0 Sort_range_count: 0 Sort_rows: 0 Sort_scan_count: 0 Created_tmp_disk_tables: 0 Created_tmp_tables: 0 Start: 2019-03-24T14:04:51.082107Z End: 2019-03-24T14:04:53.713991Z
use employees;
SET timestamp=1553436291;
select count(*) from salaries;
";

    #[test]
    fn mysql8_log_slow_extra() {
        let r = &records(MYSQL8_EXTRA)[0];
        assert_eq!(r["_timestamp"], 1_553_436_293_714_053i64);
        assert_eq!(r["user"], "root");
        assert_eq!(r["host"], "localhost");
        assert!(r.get("client_ip").is_none());
        assert_eq!(r["thread_id"], 8);
        assert_eq!(r["query_time"].to_string(), "2.631884");
        assert_eq!(r["lock_time"].to_string(), "0.000182");
        assert_eq!(r["rows_examined"], 8);
        assert_eq!(r["bytes_sent"], 70);
        assert_eq!(r["errno"], 0);
        assert_eq!(r["created_tmp_tables"], 0);
        assert_eq!(r["query_start"], 1_553_436_291_082_107i64);
        assert_eq!(r["query_end"], 1_553_436_293_713_991i64);
        assert_eq!(r["set_timestamp"], 1_553_436_291u64);
        assert_eq!(r["db"], "employees");
        assert_eq!(r["statement"], "select count(*) from salaries");
        assert_eq!(r["log_offset"], 0);
        assert!(r.get("message").is_none());
        assert!(r.get("parse_error").is_none());
        assert_eq!(r["fingerprint_id"].as_str().unwrap().len(), 32);
    }

    #[test]
    fn time_is_inherited_and_banners_are_skipped() {
        let input = "# Time: 071218 11:48:27 # User@Host: [SQL_SLAVE] @  []
# Thread_id: 10
# Query_time: 0.000012  Lock_time: 0.000000  Rows_sent: 0  Rows_examined: 0
BEGIN;
/usr/sbin/mysqld, Version: 8.0.15-5 (Percona Server (GPL), Release '5', Revision 'f8a9e99'). started with:
Tcp port: 0  Unix socket: /var/run/mysqld/mysqld.sock
Time                 Id Command    Argument
# User@Host: someuser @ hostfoo [192.168.2.1]  Id:   666
# Query_time: 1  Lock_time: 0 Rows_sent: 1  Rows_examined: 5
SELECT 1;
";
        let r = records(input);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0]["statement"], "BEGIN");
        assert_eq!(r[0]["user"], "SQL_SLAVE");
        assert_eq!(r[0]["thread_id"], 10);
        assert_eq!(r[1]["_timestamp"], r[0]["_timestamp"]);
        assert_eq!(r[1]["user"], "someuser");
        assert_eq!(r[1]["host"], "hostfoo");
        assert_eq!(r[1]["client_ip"], "192.168.2.1");
        assert_eq!(r[1]["thread_id"], 666);
        assert_eq!(r[1]["statement"], "SELECT 1");
        assert_eq!(r[1]["query_time"], 1);
    }

    #[test]
    fn admin_commands_and_rds_admin_before_header() {
        let input = "# Time: 190227 9:46:00
# User@Host: rdsadmin[rdsadmin] @ localhost []  Id:     3
# Query_time: 0.000100  Lock_time: 0.000000 Rows_sent: 0  Rows_examined: 0
SET timestamp=1551260760;
select 1;
# administrator command: Quit;
# Time: 190227 9:46:01
# User@Host: a[a] @  [10.0.1.76]  Id: 325920
# Query_time: 0.5  Lock_time: 0.000000 Rows_sent: 0  Rows_examined: 0
SELECT 2;
";
        let r = records(input);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0]["statement"], "select 1");
        assert_eq!(r[1]["admin_command"], "Quit");
        assert!(r[1]["parse_error"].as_str().unwrap().contains("header"));
        assert_eq!(r[2]["statement"], "SELECT 2");
        assert_eq!(r[2]["client_ip"], "10.0.1.76");
        assert!(r[2].get("host").is_none());
    }

    #[test]
    fn percona_and_mariadb_extras_keep_stable_types() {
        let input = "# User@Host: u[u] @ h [1.1.1.1]
# Thread_id: 37  Schema: employees  QC_hit: No
# Query_time: 0.1  Lock_time: 0.0 Rows_sent: 1  Rows_examined: 1
# Rows_affected: 3062
# Schema:   Last_errno: 0  Killed: 0
# InnoDB_trx_id: 69BB9C7F9
#   InnoDB_IO_r_ops: 9744  InnoDB_IO_r_bytes: 79822848  InnoDB_IO_r_wait: 0.883446
# Full_scan: Maybe Weird_key: 12
# No InnoDB statistics available for this query
SELECT 1;
";
        let r = &records(input)[0];
        assert_eq!(r["db"], "employees");
        assert_eq!(r["qc_hit"], false);
        assert_eq!(r["rows_affected"], 3062);
        assert_eq!(r["last_errno"], 0);
        assert_eq!(r["innodb_trx_id"], "69BB9C7F9");
        assert_eq!(r["innodb_io_r_wait"].to_string(), "0.883446");
        assert_eq!(r["full_scan_text"], "Maybe");
        assert_eq!(r["weird_key"], "12");
    }

    /// A query that starts with comment lines stays one entry with its metrics and statement;
    /// a `#` line inside a query is part of it. As pt-query-digest 3.5.7 reads this log: three
    /// executions of `select * from orders where id = ?` (2.125 s) and one of
    /// `select a from t where b = ?`. A `#` line starts an entry only where a header can start:
    /// after a complete statement (a line ending in `;`), or, before any statement, when it
    /// reads as a header (`# Key: …`).
    #[test]
    fn comment_lines_before_or_inside_a_query() {
        let input = "# Time: 2024-01-04T09:00:00.000000Z
# User@Host: app[app] @  [10.0.0.1]  Id:     7
# Query_time: 1.500000  Lock_time: 0.000100 Rows_sent: 1  Rows_examined: 10
use shop;
SET timestamp=1704358800;
### Report ###
SELECT * FROM orders WHERE id = 5;
# Time: 2024-01-04T09:00:01.000000Z
# User@Host: app[app] @  [10.0.0.1]  Id:     7
# Query_time: 0.500000  Lock_time: 0.000100 Rows_sent: 1  Rows_examined: 10
SET timestamp=1704358801;
-- monthly report
SELECT * FROM orders WHERE id = 6;
# Time: 2024-01-04T09:00:02.000000Z
# User@Host: app[app] @  [10.0.0.1]  Id:     7
# Query_time: 0.250000  Lock_time: 0.000100 Rows_sent: 1  Rows_examined: 10
SET timestamp=1704358802;
SELECT a
### Channels ###
FROM t WHERE b = 1;
# Time: 2024-01-04T09:00:03.000000Z
# User@Host: app[app] @  [10.0.0.1]  Id:     7
# Query_time: 0.125000  Lock_time: 0.000100 Rows_sent: 1  Rows_examined: 10
### Report ###
SELECT * FROM orders WHERE id = 7;
";
        let r = records(input);
        let got: Vec<_> = r
            .iter()
            .map(|e| {
                (
                    e["query_time"].as_f64(),
                    e["fingerprint"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (Some(1.5), "select * from orders where id = ?"),
                (Some(0.5), "select * from orders where id = ?"),
                (Some(0.25), "select a from t where b = ?"),
                (Some(0.125), "select * from orders where id = ?"),
            ]
        );
        assert_eq!(
            r[0]["statement"],
            "### Report ###\nSELECT * FROM orders WHERE id = 5"
        );
        assert_eq!(r[0]["db"], "shop");
        assert_eq!(r[0]["set_timestamp"], 1_704_358_800u64);
        assert_eq!(
            r[1]["statement"],
            "-- monthly report\nSELECT * FROM orders WHERE id = 6"
        );
        assert_eq!(
            r[2]["statement"],
            "SELECT a\n### Channels ###\nFROM t WHERE b = 1"
        );
        assert!(r.iter().all(|e| e.get("parse_error").is_none()), "{r:#?}");
        // A header still starts an entry after a body of only `use`/`SET` lines (pt's
        // `/* No query */`), and after a statement that lacks its `;`.
        let r = records(
            "# Query_time: 1  Lock_time: 0\nSET timestamp=1;\n# Time: 2024-01-04T09:00:00Z\n# Query_time: 2  Lock_time: 0\nSELECT 1\n# Time: 2024-01-04T09:00:01Z\n# Query_time: 3  Lock_time: 0\nSELECT 2;\n",
        );
        let times: Vec<_> = r.iter().map(|e| e["query_time"].to_string()).collect();
        assert_eq!(times, ["1", "2", "3"]);
        assert_eq!(r[0]["fingerprint"], "/* No query */");
    }

    /// An entry cut at `max_entry_bytes` (here an 8 MiB+ INSERT whose blob literal the cut
    /// leaves open) keeps the cut statement once: the fingerprint is bounded and flagged, and
    /// `message` holds only what precedes the statement.
    #[test]
    fn cut_entry_has_a_bounded_fingerprint_and_no_second_copy() {
        let head = "# Time: 2024-01-04T09:00:00.000000Z\n# User@Host: app[app] @  [10.0.0.1]  Id:     7\n# Query_time: 9.5  Lock_time: 0.0 Rows_sent: 0  Rows_examined: 0\nSET timestamp=1704358800;\n";
        let mut input = head.as_bytes().to_vec();
        input.extend_from_slice(b"INSERT INTO blobs VALUES (1, '");
        input.resize(input.len() + (9 << 20), b'x');
        input.extend_from_slice(b"');\n# Time: 2024-01-04T09:00:01.000000Z\n# Query_time: 0.5  Lock_time: 0.0\nSELECT 1;\n");
        let ndjson = parse_to_ndjson(LogFormat::MysqlSlow, &input);
        let lines: Vec<&[u8]> = ndjson[..]
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines.len(), 2);
        let cut: Value = serde_json::from_slice(lines[0]).unwrap();
        assert_eq!(cut["truncated"], true);
        assert_eq!(cut["fingerprint_truncated"], true);
        let fp = cut["fingerprint"].as_str().unwrap();
        assert!(
            fp.len() <= crate::fingerprint::MAX_CUT_FINGERPRINT_BYTES,
            "{}",
            fp.len()
        );
        assert!(
            fp.starts_with("insert into blobs values (?, 'xxx"),
            "{}",
            &fp[..40]
        );
        let statement = cut["statement"].as_str().unwrap();
        assert!(statement.len() > (8 << 20) - 1024, "{}", statement.len());
        assert_eq!(cut["message"].as_str().unwrap(), head.trim_end());
        // One copy of the statement: the record is the cut entry and a few KiB, not 25 MB.
        assert!(
            lines[0].len() < (8 << 20) + 8192,
            "record of {} bytes",
            lines[0].len()
        );
        let next: Value = serde_json::from_slice(lines[1]).unwrap();
        assert_eq!(next["fingerprint"], "select ?");
        assert!(next.get("fingerprint_truncated").is_none());
    }

    #[test]
    fn headers_without_a_query_are_flagged() {
        let r = records("# Time: 2019-03-24T14:04:53.714053Z\n");
        assert_eq!(r.len(), 1);
        assert_eq!(r[0]["parse_error"], "slow log entry without a statement");
        assert!(r[0]["message"].is_string());
    }

    #[test]
    fn garbage_never_panics() {
        for input in [
            &b"# Time: margdl 11:48:27\nselect 1;\n"[..],
            b"\xff\xfe# User@Host:\n#\n#:\n# Query_time: 99999999999999999999999.1\nx",
            b"# User@Host: [\n;",
            b"#",
            b"",
            b"\n\n\n",
        ] {
            let out = parse_to_ndjson(LogFormat::MysqlSlow, input);
            for line in out[..].split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                serde_json::from_slice::<Value>(line).unwrap();
            }
        }
    }

    /// Lines real slow logs are made of, to build random logs from.
    const LINES: &[&str] = &[
        "# Time: 2019-03-24T14:04:53.714053Z\n",
        "# Time: 090127  1:23:34\n",
        "# User@Host: root[root] @ localhost []  Id:     8\n",
        "# User@Host: a @  [10.0.1.76]\n",
        "# Query_time: 2.631884  Lock_time: 0.000182 Rows_sent: 1  Rows_examined: 8 Start: 2019-03-24T14:04:51.082107Z\n",
        "# Schema:   Last_errno: 0  Killed: 0\n",
        "# administrator command: Quit;\n",
        "use db1;\n",
        "SET timestamp=1553436291;\n",
        "select * from t where a = '#' and b = 0x3F;\n",
        "  FROM x\n",
        "\n",
        "/usr/sbin/mysqld, Version: 8.0.15 (x). started with:\n",
        "Tcp port: 0  Unix socket: /tmp/s\n",
        "Time                 Id Command    Argument\n",
        "caf\u{e9} \u{1F600}\n",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Any chunking of any mix of slow log lines gives byte-identical records.
        #[test]
        fn chunking_is_invisible(
            picks in proptest::collection::vec(0..LINES.len(), 0..60),
            junk in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20),
            cuts in proptest::collection::vec(proptest::prelude::any::<proptest::sample::Index>(), 0..6),
        ) {
            let mut input: Vec<u8> = picks.iter().flat_map(|&i| LINES[i].bytes()).collect();
            input.extend_from_slice(&junk);
            let whole = parse_to_ndjson(LogFormat::MysqlSlow, &input);
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
            points.sort_unstable();
            let mut parser = crate::LogParser::new(LogFormat::MysqlSlow, crate::Limits::default());
            let mut out = bytes::BytesMut::new();
            let mut sink = |e: &crate::Entry<'_>| {
                e.write_record(&mut out, &[]);
                out.extend_from_slice(b"\n");
                crate::Flow::Continue
            };
            let mut last = 0;
            for p in points {
                parser.feed(&input[last..p], &mut sink);
                last = p;
            }
            parser.feed(&input[last..], &mut sink);
            parser.finish(&mut sink);
            proptest::prop_assert_eq!(&whole[..], &out[..]);
        }
    }

    #[test]
    fn stats_fast_path_reads_what_the_generic_loop_reads() {
        for line in [
            &b"Query_time: 2.631884  Lock_time: 0.000182 Rows_sent: 1  Rows_examined: 8 Thread_id: 8"[..],
            b"Query_time:0.5 Lock_time: 1",
            b"Query_time: Lock_time: 1 Rows_sent: 2",
            b"Query_time: 1  Lock_time:",
            b"Query_time:\t3\tLock_time:\t0",
            b"Lock_time: 1 Query_time: 2",
            b"",
        ] {
            let text: &[u8] = line;
            let (mut fast, mut generic) = (SlowQueryEntry { text, ..Default::default() }, SlowQueryEntry { text, ..Default::default() });
            let (mut fs, mut gs) = (Vec::new(), Vec::new());
            pairs(&mut fast, &mut fs, text);
            let mut rest = text;
            let mut pending: Option<&[u8]> = None;
            while let Some((tok, after)) = next_token(rest) {
                rest = after;
                if let Some(key) = pending.take() {
                    if !is_key(tok) {
                        pair(&mut generic, &mut gs, key, tok);
                        continue;
                    }
                    pair(&mut generic, &mut gs, key, &key[key.len()..]);
                }
                if let Some(key) = tok.strip_suffix(b":").filter(|k| !k.is_empty()) {
                    pending = Some(key);
                }
            }
            if let Some(key) = pending {
                pair(&mut generic, &mut gs, key, &key[key.len()..]);
            }
            let show = |v: &[PairSpan]| v.iter().map(|p| { let p = p.resolve(text); (p.key.to_vec(), p.value.to_vec(), p.known) }).collect::<Vec<_>>();
            assert_eq!(show(&fs), show(&gs), "{}", String::from_utf8_lossy(text));
            assert_eq!((fast.query_time_us, fast.lock_time_us, fast.rows_sent), (generic.query_time_us, generic.lock_time_us, generic.rows_sent));
        }
    }

    #[test]
    fn key_indices_name_their_keys() {
        for (i, name) in [
            (QUERY_TIME, "Query_time"),
            (LOCK_TIME, "Lock_time"),
            (ROWS_SENT, "Rows_sent"),
            (ROWS_EXAMINED, "Rows_examined"),
            (SCHEMA, "Schema"),
            (LOG_SLOW_RATE_TYPE, "Log_slow_rate_type"),
            (LOG_SLOW_RATE_LIMIT, "Log_slow_rate_limit"),
        ] {
            assert_eq!(KNOWN_KEYS[usize::from(i)].0, name);
            assert_eq!(known_key(name.to_ascii_uppercase().as_bytes()), Some(i));
        }
        assert_eq!(known_key(b"Nope"), None);
        assert_eq!(known_key(&[b'x'; 40]), None);
    }

    /// `set_timestamp_line` without its `SET timestamp=N;` shortcut: the reference.
    fn set_timestamp_line_reference(line: &[u8]) -> Option<Option<u64>> {
        if line.len() < 4 || !line[..4].eq_ignore_ascii_case(b"SET ") || !line.ends_with(b";") {
            return None;
        }
        let assigns = &line[4..line.len() - 1];
        let (mut ts, mut has_ts) = (None, false);
        for part in assigns.split(|b| *b == b',') {
            let eq = memchr::memchr(b'=', part)?;
            let (name, value) = (part[..eq].trim_ascii(), part[eq + 1..].trim_ascii());
            if name.eq_ignore_ascii_case(b"timestamp") {
                ts = parse_u64(value);
                has_ts = true;
            } else if !(name.eq_ignore_ascii_case(b"insert_id")
                || name.eq_ignore_ascii_case(b"last_insert_id"))
            {
                return None;
            }
        }
        has_ts.then_some(ts)
    }

    proptest::proptest! {
        #[test]
        fn set_timestamp_shortcut_agrees(line in "(SET|set|SeT) (timestamp|TIMESTAMP|insert_id)=[0-9 x]{0,22}(,timestamp=[0-9]{1,3})?;?") {
            proptest::prop_assert_eq!(
                set_timestamp_line(line.as_bytes()),
                set_timestamp_line_reference(line.as_bytes()),
                "{}", line
            );
        }
    }

    #[test]
    fn set_lines() {
        assert_eq!(
            set_timestamp_line(b"SET timestamp=1197996507;"),
            Some(Some(1197996507))
        );
        assert_eq!(
            set_timestamp_line(b"SET insert_id=34484549,timestamp=1197996507;"),
            Some(Some(1197996507))
        );
        assert_eq!(set_timestamp_line(b"SET NAMES utf8;"), None);
        assert_eq!(use_line(b"USE `my-db`;"), Some(&b"my-db"[..]));
        assert_eq!(use_line(b"use db1;"), Some(&b"db1"[..]));
    }
}
