//! The front door: one [`LogParser`] per input stream, dispatching to the format modules.

use bytes::BytesMut;

use crate::detect::LogFormat;
use crate::frame::{Flow, FrameStats, Framer, LineClassifier, RawEntry};
use crate::json::RecordWriter;
use crate::{mysql, postgres};

/// Bounds on what one parser holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// An entry longer than this is cut here and flagged; the rest of it is dropped and counted.
    pub max_entry_bytes: usize,
}

impl Limits {
    /// The default entry bound: 8 MiB, far above any sane query and under OpenObserve's payload
    /// limit.
    pub const DEFAULT_MAX_ENTRY_BYTES: usize = 8 << 20;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entry_bytes: Self::DEFAULT_MAX_ENTRY_BYTES,
        }
    }
}

/// Counters of one parser's work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParseStats {
    /// Entries handed to the sink.
    pub entries: u64,
    /// Of those, entries flagged with a parse error.
    pub parse_errors: u64,
    /// Bytes fed.
    pub bytes: u64,
    /// What framing skipped or cut.
    pub frame: FrameStats,
    /// Remembered statements evicted before their `duration:` line came (PostgreSQL), so that
    /// duration was shipped without its statement.
    pub unpaired_evictions: u64,
}

/// What a format module provides: how lines group into entries and how an entry becomes fields.
pub(crate) trait FormatParser: Default {
    /// Groups lines into entries.
    type Classifier: LineClassifier + Default;
    /// The typed entry.
    type Entry<'a>: FormatEntry
    where
        Self: 'a;
    /// Parse one complete entry; may keep state across entries (inherited timestamps, …).
    fn parse<'a>(&'a mut self, raw: RawEntry<'a>) -> Self::Entry<'a>;
    /// [`FormatParser::parse`], given the classifier that framed the entry: a format whose
    /// classifier already read what the parser needs (PostgreSQL's line prefixes) takes it
    /// from there instead of reading it again. The same entry either way.
    fn parse_framed<'a>(
        &'a mut self,
        raw: RawEntry<'a>,
        _classifier: &Self::Classifier,
    ) -> Self::Entry<'a> {
        self.parse(raw)
    }
    /// Turn query fingerprinting on (the default) or off.
    fn set_fingerprints(&mut self, _on: bool) {}
    /// Read entries for their query samples only (off by default): skip what only records
    /// carry (the fingerprint's id).
    fn set_samples_only(&mut self, _on: bool) {}
    /// How many times bounded cross-entry state was evicted (PostgreSQL's remembered statements
    /// for `log_statement` + `log_duration` pairs): a pairing that could not be made.
    fn dropped_state(&self) -> u64 {
        0
    }
    /// The `log_statement` + `log_duration` pairing memory, for the formats that pair.
    fn pairing_memory(&mut self) -> Option<&mut postgres::StatementMemory> {
        None
    }
}

/// What every typed entry can tell.
pub trait FormatEntry {
    /// When it happened, µs since the epoch (UTC), if the entry says.
    fn timestamp_us(&self) -> Option<i64>;
    /// Why the entry could not be parsed fully, if so.
    fn parse_error(&self) -> Option<&'static str>;
    /// Write the kind-specific fields.
    fn write_fields(&self, w: &mut RecordWriter<'_>);
    /// Whether the record carries the raw entry as `message` even without a parse error.
    fn include_message(&self) -> bool {
        true
    }
    /// The query this entry measured, for `digest`.
    fn query_sample(&self) -> Option<QuerySample<'_>> {
        None
    }
    /// How many leading bytes of the raw entry `message` carries when the entry was cut at
    /// `max_entry_bytes`: all of them, unless a field holds the cut part (the slow log's
    /// `statement`), which `message` then does not repeat.
    fn cut_message_len(&self) -> usize {
        usize::MAX
    }
    /// See [`Entry::open_pairing`].
    fn open_pairing(&self) -> Option<OpenPairing> {
        None
    }
}

/// One timed query, the unit `digest` aggregates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuerySample<'a> {
    /// Normalised query (pt-query-digest fingerprint, or `$n` form for PostgreSQL).
    pub fingerprint: &'a [u8],
    /// The query as run (the class's example).
    pub statement: &'a [u8],
    /// Query time in µs.
    pub query_time_us: u64,
    /// Lock time in µs (MySQL).
    pub lock_time_us: Option<u64>,
    /// Rows sent (MySQL).
    pub rows_sent: Option<u64>,
    /// Rows examined (MySQL).
    pub rows_examined: Option<u64>,
    /// Sampling (Percona Server's `Log_slow_rate_limit`): one query in this many was logged.
    pub rate_limit: Option<u64>,
    /// Sampling: `Log_slow_rate_type` (`query`, `session`).
    pub rate_type: Option<&'a [u8]>,
    /// When, µs since the epoch.
    pub timestamp_us: Option<i64>,
}

impl<'a> QuerySample<'a> {
    /// A timed query that carries no lock time, row counts or sampling (PostgreSQL's).
    pub fn timed(
        fingerprint: &'a [u8],
        statement: &'a [u8],
        query_time_us: u64,
        timestamp_us: Option<i64>,
    ) -> QuerySample<'a> {
        QuerySample {
            fingerprint,
            statement,
            query_time_us,
            lock_time_us: None,
            rows_sent: None,
            rows_examined: None,
            rate_limit: None,
            rate_type: None,
            timestamp_us,
        }
    }
}

/// A PostgreSQL bare `duration:` entry left unpaired in a part of an input
/// ([`Entry::open_pairing`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenPairing {
    /// The backend.
    pub pid: u64,
    /// The duration, µs.
    pub query_time_us: u64,
}

/// A parsed entry of any kind.
#[derive(Debug)]
pub enum EntryKind<'a> {
    /// A slow query log entry.
    MysqlSlow(mysql::slow::SlowQueryEntry<'a>),
    /// An error log entry.
    MysqlError(mysql::error::ErrorLogEntry<'a>),
    /// A general log entry.
    MysqlGeneral(mysql::general::GeneralLogEntry<'a>),
    /// An audit log entry.
    MysqlAudit(mysql::audit::AuditEntry<'a>),
    /// A PostgreSQL stderr log entry (with its DETAIL/HINT/… lines).
    Postgresql(postgres::stderr::PgEntry<'a>),
    /// A PostgreSQL csvlog row.
    PostgresqlCsv(postgres::csv::CsvEntry<'a>),
}

macro_rules! each_kind {
    ($value:expr, $e:ident => $body:expr) => {
        match $value {
            EntryKind::MysqlSlow($e) => $body,
            EntryKind::MysqlError($e) => $body,
            EntryKind::MysqlGeneral($e) => $body,
            EntryKind::MysqlAudit($e) => $body,
            EntryKind::Postgresql($e) => $body,
            EntryKind::PostgresqlCsv($e) => $body,
        }
    };
}

/// One complete entry as the sink sees it: where it stands in the input, and what it says.
#[derive(Debug)]
pub struct Entry<'a> {
    /// The entry's bytes and position.
    pub raw: RawEntry<'a>,
    /// The parsed fields.
    pub kind: EntryKind<'a>,
}

impl Entry<'_> {
    /// Byte offset of the entry in its stream.
    pub fn offset(&self) -> u64 {
        self.raw.offset
    }

    /// The record's `log_type`.
    pub fn log_type(&self) -> &'static str {
        match self.kind {
            EntryKind::MysqlSlow(_) => "mysql_slow",
            EntryKind::MysqlError(_) => "mysql_error",
            EntryKind::MysqlGeneral(_) => "mysql_general",
            EntryKind::MysqlAudit(_) => "mysql_audit",
            EntryKind::Postgresql(_) | EntryKind::PostgresqlCsv(_) => "postgresql",
        }
    }

    /// When it happened, µs since the epoch (UTC).
    pub fn timestamp_us(&self) -> Option<i64> {
        each_kind!(&self.kind, e => e.timestamp_us())
    }

    /// Why the entry is flagged, if it is.
    pub fn parse_error(&self) -> Option<&'static str> {
        if self.raw.truncated {
            return Some("entry longer than max_entry_bytes: cut, the rest was dropped");
        }
        if self.raw.rds_truncated {
            return Some("a line was cut by RDS ([Your log message was truncated])");
        }
        each_kind!(&self.kind, e => e.parse_error())
    }

    /// The timed query in this entry, if any.
    pub fn query_sample(&self) -> Option<QuerySample<'_>> {
        each_kind!(&self.kind, e => e.query_sample())
    }

    /// The backend of a PostgreSQL bare `duration:` entry whose statement may be in an earlier
    /// part of the input: the first pairing event of that backend in a parser that tracks them
    /// ([`LogParser::track_backends`]). Such an entry is unpaired here (its
    /// [`Entry::query_sample`] has at most the `STATEMENT:` line's text); whoever joins the
    /// parts pairs it with the statement the earlier parts left for the backend.
    pub fn open_pairing(&self) -> Option<OpenPairing> {
        each_kind!(&self.kind, e => e.open_pairing())
    }

    /// Append this entry's JSON record to `buf` (no trailing newline). `extra` holds
    /// pre-rendered fields (`"k":v,…`) added to every record, such as the data plane's enrichment.
    pub fn write_record(&self, buf: &mut BytesMut, extra: &[u8]) {
        let mut w = RecordWriter::begin(buf);
        w.opt_i64("_timestamp", self.timestamp_us());
        w.str_plain("log_type", self.log_type().as_bytes());
        w.u64("log_offset", self.raw.offset);
        w.raw_fields(extra);
        each_kind!(&self.kind, e => e.write_fields(&mut w));
        let error = self.parse_error();
        if error.is_some() || each_kind!(&self.kind, e => e.include_message()) {
            let text = self.raw.text;
            let len = if self.raw.truncated {
                each_kind!(&self.kind, e => e.cut_message_len()).min(text.len())
            } else {
                text.len()
            };
            w.str("message", &text[..len]);
        }
        if self.raw.truncated {
            w.bool("truncated", true);
        }
        w.finish(error);
    }
}

/// Receives complete entries, in input order.
pub trait EntrySink {
    /// One entry; answer whether to keep going.
    fn entry(&mut self, entry: &Entry<'_>) -> Flow;
}

impl<F: FnMut(&Entry<'_>) -> Flow> EntrySink for F {
    fn entry(&mut self, entry: &Entry<'_>) -> Flow {
        self(entry)
    }
}

#[derive(Debug)]
enum Inner {
    MysqlSlow(
        <mysql::slow::Parser as FormatParser>::Classifier,
        mysql::slow::Parser,
    ),
    MysqlError(
        <mysql::error::Parser as FormatParser>::Classifier,
        mysql::error::Parser,
    ),
    MysqlGeneral(
        <mysql::general::Parser as FormatParser>::Classifier,
        mysql::general::Parser,
    ),
    MysqlAudit(
        <mysql::audit::Parser as FormatParser>::Classifier,
        mysql::audit::Parser,
    ),
    Postgresql(
        <postgres::stderr::Parser as FormatParser>::Classifier,
        postgres::stderr::Parser,
    ),
    PostgresqlCsv(
        <postgres::csv::Parser as FormatParser>::Classifier,
        postgres::csv::Parser,
    ),
}

/// Run `$body` on the format parser inside an [`Inner`], whichever format it is.
macro_rules! each_parser {
    ($inner:expr, $p:ident => $body:expr) => {
        match $inner {
            Inner::MysqlSlow(_, $p) => $body,
            Inner::MysqlError(_, $p) => $body,
            Inner::MysqlGeneral(_, $p) => $body,
            Inner::MysqlAudit(_, $p) => $body,
            Inner::Postgresql(_, $p) => $body,
            Inner::PostgresqlCsv(_, $p) => $body,
        }
    };
}

/// A streaming parser for one input of one format. Feed it chunks; it calls the sink with every
/// complete entry, in order.
#[derive(Debug)]
pub struct LogParser {
    format: LogFormat,
    framer: Framer,
    inner: Inner,
    stats: ParseStats,
}

macro_rules! drive {
    ($self:ident, $method:ident ( $($arg:expr),* ), $sink:ident) => {{
        let stats = &mut $self.stats;
        let framer = &mut $self.framer;
        macro_rules! go {
            ($classifier:ident, $parser:ident, $variant:ident) => {
                framer.$method($($arg,)* $classifier, |raw, c| {
                    let entry = Entry { raw, kind: EntryKind::$variant($parser.parse_framed(raw, c)) };
                    stats.entries += 1;
                    if entry.parse_error().is_some() {
                        stats.parse_errors += 1;
                    }
                    $sink.entry(&entry)
                })
            };
        }
        match &mut $self.inner {
            Inner::MysqlSlow(c, p) => go!(c, p, MysqlSlow),
            Inner::MysqlError(c, p) => go!(c, p, MysqlError),
            Inner::MysqlGeneral(c, p) => go!(c, p, MysqlGeneral),
            Inner::MysqlAudit(c, p) => go!(c, p, MysqlAudit),
            Inner::Postgresql(c, p) => go!(c, p, Postgresql),
            Inner::PostgresqlCsv(c, p) => go!(c, p, PostgresqlCsv),
        }
    }};
}

impl LogParser {
    /// A parser for `format` within `limits`.
    pub fn new(format: LogFormat, limits: Limits) -> LogParser {
        let inner = match format {
            LogFormat::MysqlSlow => Inner::MysqlSlow(Default::default(), Default::default()),
            LogFormat::MysqlError => Inner::MysqlError(Default::default(), Default::default()),
            LogFormat::MysqlGeneral => Inner::MysqlGeneral(Default::default(), Default::default()),
            LogFormat::MysqlAudit => Inner::MysqlAudit(Default::default(), Default::default()),
            LogFormat::Postgresql => Inner::Postgresql(Default::default(), Default::default()),
            LogFormat::PostgresqlCsv => {
                Inner::PostgresqlCsv(Default::default(), Default::default())
            }
        };
        LogParser {
            format,
            framer: Framer::new(limits.max_entry_bytes),
            inner,
            stats: ParseStats::default(),
        }
    }

    /// Compute query fingerprints (on by default): off when only the fields are wanted.
    pub fn with_fingerprints(mut self, on: bool) -> LogParser {
        each_parser!(&mut self.inner, p => p.set_fingerprints(on));
        self
    }

    /// For `digest`: entries are read for their [`QuerySample`]s only, and records written
    /// from them lack what samples do not carry (`fingerprint_id`, which the digest computes
    /// once per class).
    pub fn samples_only(mut self) -> LogParser {
        each_parser!(&mut self.inner, p => p.set_samples_only(true));
        self
    }

    /// For a parser that reads a part of a larger PostgreSQL input, not from its start: mark
    /// the entries whose pairing is left to whoever joins the parts ([`Entry::open_pairing`])
    /// and keep what that needs ([`LogParser::statement_memory`]). No effect on other formats.
    pub fn track_backends(mut self) -> LogParser {
        if let Some(m) = each_parser!(&mut self.inner, p => p.pairing_memory()) {
            m.track_backends();
        }
        self
    }

    /// The `log_statement` + `log_duration` pairing memory (PostgreSQL formats only).
    pub fn statement_memory(&mut self) -> Option<&postgres::StatementMemory> {
        each_parser!(&mut self.inner, p => p.pairing_memory()).map(|m| &*m)
    }

    /// The format this parser reads.
    pub fn format(&self) -> LogFormat {
        self.format
    }

    /// Start offsets at `offset`, for a stream resumed from a checkpoint (before the first feed).
    pub fn set_offset(&mut self, offset: u64) {
        self.framer.set_offset(offset);
    }

    /// Offset of the first byte not yet handed out in an entry: a safe resume point.
    pub fn pending_offset(&self) -> u64 {
        self.framer.pending_offset()
    }

    /// Feed one chunk.
    pub fn feed<S: EntrySink + ?Sized>(&mut self, chunk: &[u8], sink: &mut S) -> Flow {
        self.stats.bytes += chunk.len() as u64;
        drive!(self, feed(chunk), sink)
    }

    /// End of input: emit what is still open.
    pub fn finish<S: EntrySink + ?Sized>(&mut self, sink: &mut S) -> Flow {
        drive!(self, finish(), sink)
    }

    /// Counters so far.
    pub fn stats(&self) -> ParseStats {
        let unpaired_evictions = each_parser!(&self.inner, p => p.dropped_state());
        ParseStats {
            frame: self.framer.stats(),
            unpaired_evictions,
            ..self.stats
        }
    }
}

/// Parse a whole in-memory input into records, one JSON object per line: a convenience for tests
/// and small inputs.
pub fn parse_to_ndjson(format: LogFormat, input: &[u8]) -> BytesMut {
    let mut out = BytesMut::new();
    let mut parser = LogParser::new(format, Limits::default());
    let mut sink = |e: &Entry<'_>| {
        e.write_record(&mut out, &[]);
        out.extend_from_slice(b"\n");
        Flow::Continue
    };
    parser.feed(input, &mut sink);
    parser.finish(&mut sink);
    out
}

/// Records of a whole input as JSON values: the helper every format's unit tests share.
#[cfg(test)]
pub(crate) fn test_records(format: LogFormat, input: &[u8]) -> Vec<serde_json::Value> {
    parse_to_ndjson(format, input)[..]
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice(l).unwrap_or_else(|e| {
                panic!("record is not JSON ({e}): {}", String::from_utf8_lossy(l))
            })
        })
        .collect()
}
