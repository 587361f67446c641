//! PostgreSQL and Aurora PostgreSQL logs: stderr (with the RDS prefix) and csvlog.
//!
//! # Brief overview
//! Both formats end up as the same flat `postgresql` record ([`PgRecord`]): the two modules only
//! differ in how they find an entry's fields ([`stderr`] anchors on the `log_line_prefix`
//! structure and groups DETAIL/HINT/… lines, [`csv`] splits a quoted row). What the message
//! *says* — a `duration:`, a `statement:`, an extended-protocol `parse`/`bind`/`execute` step —
//! is read here, once, by [`classify_message`]; the `log_statement` + `log_duration` pairing
//! (a `statement:` entry followed later by a bare `duration:` entry of the same backend) lives
//! in the bounded [`StatementMemory`].
//!
//! # Fields of a `postgresql` record
//! Besides the common `_timestamp`, `log_type`, `log_offset`, `message` (the raw entry) and
//! `parse_error`, written when known (one JSON type per field):
//!
//! Where stderr and csvlog say the same thing, the field is the same: stderr's `STATEMENT:` line
//! is csvlog's `query` column (both → `statement`), stderr's `QUERY:` line is csvlog's
//! `internal_query` (both → `internal_query`).
//!
//! | field | type | from |
//! |---|---|---|
//! | `severity` | string | `LOG`, `ERROR`, `FATAL`, … as logged (csv `error_severity`) |
//! | `sqlstate` | string | `log_error_verbosity=verbose` code, csv `sql_state_code` |
//! | `user`, `db` | string | `%u`, `%d` (csv `user_name`, `database_name`) |
//! | `client_ip`, `client_port` | string, int | `%r`/`%h` (csv `connection_from`) |
//! | `pid` | int | `%p` (csv `process_id`) |
//! | `session_line_num` | int | `%l` (csv `session_line_num`) |
//! | `application_name` | string | `app=` in the prefix (csv `application_name`) |
//! | `msg` | string | the primary message text, continuation lines joined by `\n`, TAB removed (auto_explain: the first line only) |
//! | `detail`, `hint`, `context`, `location` | string | the secondary lines / csv columns |
//! | `internal_query`, `internal_query_pos` | string, int | stderr `QUERY:` line, csv columns |
//! | `statement` | string | the statement run: from the message (`statement:`, `execute …:`, auto_explain's `Query Text`), else the `STATEMENT:` line (csv `query`), else the remembered `log_statement` text for a bare `duration:` |
//! | `query_pos` | int | csv `query_pos` (position in `statement`) |
//! | `statement_kind` | string | `statement`, `parse`, `bind`, `execute` or `plan` (auto_explain) |
//! | `plan` | string | auto_explain's plan: in the text format the plan lines after the query text, else the whole json/yaml/xml document |
//! | `prepared_name` | string | the name after `parse`/`bind`/`execute` (`<unnamed>`, `S_1`, …) |
//! | `parameters` | string | a `DETAIL:  parameters: …` text (then not repeated in `detail`), or auto_explain's `Query Parameters:` |
//! | `duration_ms` | number | `duration: X ms`, exactly as logged |
//! | `fingerprint`, `fingerprint_id` | string | normalised `statement` and its class id |
//! | `fingerprint_truncated` | bool | `true` when the entry was cut: the fingerprint is of a partial statement, at most 4 KiB |
//! | `session_id`, `command_tag`, `session_start_time`, `virtual_transaction_id` | string | csv |
//! | `transaction_id`, `leader_pid`, `query_id` | int | csv; `query_id` (signed) also from a `[queryid=…]` prefix token |
//! | `backend_type` | string | csv (PostgreSQL 13+) |
mod auto_explain;
pub mod csv;
pub mod stderr;

use std::collections::{HashMap, VecDeque};

use crate::json::RecordWriter;
use crate::num::{parse_u64, Decimal};
use crate::parser::FormatEntry;
use crate::parser::{OpenPairing, QuerySample};

/// How many backends the `log_statement`/`log_duration` pairing remembers at most.
pub const MAX_PAIRED_PIDS: usize = 4096;
/// The longest statement the pairing remembers; longer ones are not paired.
pub const MAX_PAIRED_STATEMENT_BYTES: usize = 64 << 10;
/// How far into a line the severity may stand (the `log_line_prefix` is short).
pub(crate) const MAX_PREFIX_BYTES: usize = 1024;

/// A secondary line's kind, which becomes a field of the message it follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Secondary {
    Detail,
    Hint,
    Context,
    Statement,
    Query,
    Location,
}

/// A severity word: primary (opens an entry) or secondary (belongs to the previous message).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Level {
    #[default]
    Primary,
    Secondary(Secondary),
}

/// The severity words PostgreSQL writes before `:`.
pub(crate) fn level(word: &[u8]) -> Option<Level> {
    Some(match word {
        b"LOG" | b"ERROR" | b"FATAL" | b"PANIC" | b"WARNING" | b"NOTICE" | b"INFO" | b"DEBUG"
        | b"DEBUG1" | b"DEBUG2" | b"DEBUG3" | b"DEBUG4" | b"DEBUG5" => Level::Primary,
        b"DETAIL" => Level::Secondary(Secondary::Detail),
        b"HINT" => Level::Secondary(Secondary::Hint),
        b"CONTEXT" => Level::Secondary(Secondary::Context),
        b"STATEMENT" => Level::Secondary(Secondary::Statement),
        b"QUERY" => Level::Secondary(Secondary::Query),
        b"LOCATION" => Level::Secondary(Secondary::Location),
        _ => return None,
    })
}

/// A SQLSTATE (`42704:`) at the start of `s`, followed by `:` and blanks: (code, bytes to skip).
/// Five uppercase letters or digits with at least one digit, so that words are not taken.
pub(crate) fn sqlstate_prefix(s: &[u8]) -> Option<(&[u8], usize)> {
    let code = s.get(..5)?;
    let ok = code
        .iter()
        .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        && code.iter().any(u8::is_ascii_digit)
        && s.get(5) == Some(&b':')
        && matches!(s.get(6), None | Some(b' ' | b'\t'));
    if !ok {
        return None;
    }
    let blanks = s[6..]
        .iter()
        .take_while(|c| matches!(c, b' ' | b'\t'))
        .count();
    Some((code, 6 + blanks))
}

/// What a message says about a query.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct QueryInfo<'a> {
    pub duration: Option<Decimal<'a>>,
    pub kind: Option<&'static str>,
    pub prepared_name: Option<&'a [u8]>,
    pub statement: Option<&'a [u8]>,
    /// An auto_explain message's text after `plan:`.
    pub plan: Option<&'a [u8]>,
}

/// Read `duration: X ms[  statement: …|  parse N: …|  bind N: …|  execute N: …|  plan:…]`,
/// or (without duration) `statement: …` / `execute N: …` as `log_statement` writes them.
pub(crate) fn classify_message(msg: &[u8]) -> QueryInfo<'_> {
    let mut info = QueryInfo::default();
    if let Some(rest) = msg.strip_prefix(b"duration: ") {
        let num_len = rest
            .iter()
            .take_while(|c| c.is_ascii_digit() || **c == b'.')
            .count();
        let Some(after) = rest[num_len..].strip_prefix(b" ms") else {
            return info;
        };
        let Some(d) = Decimal::parse(&rest[..num_len]) else {
            return info;
        };
        info.duration = Some(d);
        let tail = trim_start(after);
        if !tail.is_empty() {
            statement_part(tail, true, &mut info);
        }
        return info;
    }
    statement_part(msg, false, &mut info);
    info
}

fn trim_start(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|c| matches!(c, b' ' | b'\t')).count();
    &s[n..]
}

fn statement_part<'a>(s: &'a [u8], timed: bool, info: &mut QueryInfo<'a>) {
    if let Some(rest) = s.strip_prefix(b"statement:") {
        info.kind = Some("statement");
        info.statement = Some(rest.strip_prefix(b" ").unwrap_or(rest));
        return;
    }
    if let Some(rest) = s.strip_prefix(b"plan:").filter(|_| timed) {
        info.kind = Some("plan");
        info.plan = Some(rest);
        return;
    }
    let (kind, rest) = if let Some(r) = s.strip_prefix(b"execute ") {
        ("execute", r)
    } else if let Some(r) = s.strip_prefix(b"parse ").filter(|_| timed) {
        ("parse", r)
    } else if let Some(r) = s.strip_prefix(b"bind ").filter(|_| timed) {
        ("bind", r)
    } else {
        return;
    };
    // The name may itself hold colons (`py:0x7fde12d61b80`): it ends at the first `: `.
    let Some(end) = rest
        .windows(2)
        .position(|w| w == b": ")
        .or_else(|| rest.strip_suffix(b":").map(|r| r.len()))
    else {
        return;
    };
    info.kind = Some(kind);
    info.prepared_name = Some(&rest[..end]);
    info.statement = Some(rest.get(end + 2..).unwrap_or_default());
}

/// Per backend, the last `log_statement` text not yet followed by its `duration:` entry. Bounded:
/// at most [`MAX_PAIRED_PIDS`] backends (the oldest is evicted and counted) and statements of at
/// most [`MAX_PAIRED_STATEMENT_BYTES`].
#[derive(Debug, Default)]
pub struct StatementMemory {
    map: HashMap<u64, Remembered>,
    /// (pid, seq) in insertion order; stale pairs (re-inserted or taken pids) are skipped.
    order: VecDeque<(u64, u64)>,
    seq: u64,
    /// Statements evicted because [`MAX_PAIRED_PIDS`] backends were remembered.
    pub evictions: u64,
    /// Backends with a pairing event (a statement remembered, taken or dropped) since
    /// [`StatementMemory::track_backends`]; `None` when not tracking.
    touched: Option<rustc_hash::FxHashSet<u64>>,
    /// More than [`MAX_TRACKED_BACKENDS`] backends had an event while tracking: the set
    /// stopped growing and what it says is incomplete.
    touched_overflow: bool,
    /// The most backends remembered at once.
    peak: usize,
}

/// How many backends [`StatementMemory::track_backends`] follows at most (8 bytes each; a
/// part of a log with more distinct pids is not joined but read again in one pass).
pub const MAX_TRACKED_BACKENDS: usize = 1 << 20;

#[derive(Debug)]
struct Remembered {
    seq: u64,
    kind: &'static str,
    name_len: usize,
    /// The prepared name, then the statement.
    text: Vec<u8>,
}

impl StatementMemory {
    /// Remember `statement` (and its prepared name) as the last one run by `pid`.
    pub(crate) fn remember(&mut self, pid: u64, kind: &'static str, name: &[u8], statement: &[u8]) {
        self.touch(pid);
        if statement.len() + name.len() > MAX_PAIRED_STATEMENT_BYTES {
            self.map.remove(&pid);
            return;
        }
        self.seq += 1;
        let seq = self.seq;
        let slot = self.map.entry(pid).or_insert_with(|| Remembered {
            seq,
            kind,
            name_len: 0,
            text: Vec::new(),
        });
        slot.seq = seq;
        slot.kind = kind;
        slot.name_len = name.len();
        slot.text.clear();
        slot.text.extend_from_slice(name);
        slot.text.extend_from_slice(statement);
        self.order.push_back((pid, seq));
        while self.map.len() > MAX_PAIRED_PIDS {
            let Some((old, s)) = self.order.pop_front() else {
                break;
            };
            if self.map.get(&old).is_some_and(|r| r.seq == s) {
                self.map.remove(&old);
                self.evictions += 1;
            }
        }
        if self.order.len() > 2 * MAX_PAIRED_PIDS {
            let map = &self.map;
            self.order
                .retain(|(p, s)| map.get(p).is_some_and(|r| r.seq == *s));
        }
        self.peak = self.peak.max(self.map.len());
        debug_assert!(
            self.map.len() <= MAX_PAIRED_PIDS && self.order.len() <= 2 * MAX_PAIRED_PIDS + 1
        );
    }

    /// Take `pid`'s remembered statement into `out` (name, then statement): (kind, name length).
    pub(crate) fn take(&mut self, pid: u64, out: &mut Vec<u8>) -> Option<(&'static str, usize)> {
        self.touch(pid);
        let r = self.map.remove(&pid)?;
        out.clear();
        out.extend_from_slice(&r.text);
        Some((r.kind, r.name_len))
    }

    /// Drop `pid`'s remembered statement: its duration came with a statement of its own.
    pub(crate) fn forget(&mut self, pid: u64) {
        self.touch(pid);
        self.map.remove(&pid);
    }

    fn touch(&mut self, pid: u64) {
        if let Some(t) = &mut self.touched {
            if t.len() < MAX_TRACKED_BACKENDS {
                t.insert(pid);
            } else if !t.contains(&pid) {
                self.touched_overflow = true;
            }
        }
    }

    /// Whether more than [`MAX_TRACKED_BACKENDS`] backends had an event while tracking, so that
    /// [`StatementMemory::touched`] and [`crate::Entry::open_pairing`] are incomplete.
    pub fn tracking_overflowed(&self) -> bool {
        self.touched_overflow
    }

    /// Track which backends have a pairing event from now on, for a parser that reads a part
    /// of a larger input: a bare `duration:` of a backend with no event before it in the part
    /// may pair with a statement of an earlier part ([`crate::Entry::open_pairing`]). Costs a
    /// set of at most one entry per backend seen.
    pub fn track_backends(&mut self) {
        self.touched.get_or_insert_with(Default::default);
    }

    /// Whether backend `pid` has had no pairing event while tracking (false when not tracking).
    pub(crate) fn untouched(&self, pid: u64) -> bool {
        self.touched.as_ref().is_some_and(|t| !t.contains(&pid))
    }

    /// The backends with a pairing event while tracking (none when not tracking): after them,
    /// what [`StatementMemory::statement`] says of them replaces what earlier parts left.
    pub fn touched(&self) -> impl Iterator<Item = u64> + '_ {
        self.touched.iter().flatten().copied()
    }

    /// The statement remembered for `pid` (without its prepared name), if any.
    pub fn statement(&self, pid: u64) -> Option<&[u8]> {
        self.map.get(&pid).map(|r| &r.text[r.name_len..])
    }

    /// The most backends remembered at once so far.
    pub fn peak(&self) -> usize {
        self.peak
    }

    /// Backends remembered now.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Reusable buffers for the query part of an entry.
#[derive(Debug, Default)]
pub(crate) struct QueryBuffers {
    pub memory: StatementMemory,
    pub paired: Vec<u8>,
    pub fingerprint: Vec<u8>,
    pub fingerprint_id: [u8; 32],
    pub ids: crate::fingerprint::IdCache,
    /// Skip fingerprinting (`LogParser::with_fingerprints(false)`).
    pub no_fingerprints: bool,
    /// Skip the fingerprint's id (`LogParser::samples_only`).
    pub no_ids: bool,
    /// An auto_explain query text, unescaped from a json/yaml/xml plan.
    pub plan_statement: Vec<u8>,
}

/// The query fields of a record, resolved.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct QueryFields<'a> {
    pub duration: Option<Decimal<'a>>,
    pub kind: Option<&'static str>,
    pub prepared_name: Option<&'a [u8]>,
    pub statement: Option<&'a [u8]>,
    pub fingerprint: Option<&'a [u8]>,
    pub fingerprint_id: Option<&'a [u8; 32]>,
    /// The entry was cut: the fingerprint is of a partial statement, and bounded.
    pub fingerprint_truncated: bool,
    /// An auto_explain plan.
    pub plan: Option<&'a [u8]>,
    /// An auto_explain text plan's `Query Parameters:`.
    pub plan_parameters: Option<&'a [u8]>,
    /// A bare `duration:` of this backend, the first pairing event of it while tracking
    /// ([`StatementMemory::track_backends`]): its statement may be in an earlier part.
    pub open_pairing: Option<u64>,
}

/// Work out the query fields of an entry: classify its message, pair a bare duration with the
/// backend's remembered statement (or remember a statement without duration), fingerprint.
/// `fallback` is a statement from elsewhere (the `STATEMENT:` line, csv `query`); `cut`: the
/// entry was cut at `max_entry_bytes` (its fingerprint is then bounded and flagged).
pub(crate) fn query_fields<'a>(
    msg: Option<&'a [u8]>,
    fallback: Option<&'a [u8]>,
    pid: Option<u64>,
    severity: Option<&[u8]>,
    cut: bool,
    bufs: &'a mut QueryBuffers,
) -> QueryFields<'a> {
    let info = msg.map(classify_message).unwrap_or_default();
    let mut paired = None;
    let mut open_pairing = None;
    let primary_log = severity == Some(b"LOG");
    if let (Some(pid), true) = (pid, primary_log) {
        match (info.duration, info.kind, info.statement) {
            (None, Some(kind), Some(stmt)) => {
                bufs.memory
                    .remember(pid, kind, info.prepared_name.unwrap_or_default(), stmt)
            }
            (Some(_), None, _) => {
                open_pairing = bufs.memory.untouched(pid).then_some(pid);
                paired = bufs.memory.take(pid, &mut bufs.paired);
            }
            // An auto_explain plan is logged before the statement's own `duration:` line (if
            // any): it leaves the pairing alone.
            (Some(_), Some(kind), _) if kind != "plan" => {
                bufs.memory.forget(pid);
            }
            _ => {}
        }
    }
    let QueryBuffers {
        paired: pbuf,
        fingerprint,
        fingerprint_id,
        no_fingerprints,
        no_ids,
        ids,
        plan_statement,
        ..
    } = bufs;
    let pbuf: &'a [u8] = pbuf;
    let mut out = QueryFields {
        duration: info.duration,
        kind: info.kind,
        prepared_name: info.prepared_name,
        statement: info.statement,
        open_pairing,
        ..Default::default()
    };
    if let Some((kind, name_len)) = paired {
        out.kind = Some(kind);
        out.prepared_name = (name_len > 0).then(|| &pbuf[..name_len]);
        out.statement = Some(&pbuf[name_len..]);
    }
    if let Some(text) = info.plan {
        let ae = auto_explain::read(text, plan_statement);
        let unescaped: &'a [u8] = plan_statement;
        out.statement = ae.statement.map(|s| match s {
            auto_explain::Statement::InMessage(s) => s,
            auto_explain::Statement::Unescaped => unescaped,
        });
        out.plan = ae.plan;
        out.plan_parameters = ae.parameters;
    }
    if out.statement.is_none() {
        out.statement = fallback;
    }
    if out
        .statement
        .is_some_and(|s| !*no_fingerprints && fingerprint_statement(s, cut, fingerprint))
    {
        out.fingerprint_truncated = cut;
        out.fingerprint = Some(&fingerprint[..]);
        if !*no_ids {
            *fingerprint_id = ids.id(fingerprint);
            out.fingerprint_id = Some(&*fingerprint_id);
        }
    }
    out
}

/// The fingerprint a record of `statement` carries (`cut`: the entry was cut at
/// `max_entry_bytes`), into `out`; `false` when the statement is blank and has none.
pub fn fingerprint_statement(statement: &[u8], cut: bool, out: &mut Vec<u8>) -> bool {
    if statement.iter().all(u8::is_ascii_whitespace) {
        return false;
    }
    crate::fingerprint::postgres::normalize(statement, out);
    if cut {
        crate::fingerprint::bound_cut_fingerprint(out);
    }
    true
}

/// Every field a `postgresql` record can have (see the module docs); both formats fill it.
#[derive(Clone, Copy, Debug, Default)]
pub struct PgRecord<'a> {
    /// When, µs since the epoch (UTC).
    pub timestamp_us: Option<i64>,
    /// Why the entry is flagged.
    pub error: Option<&'static str>,
    /// `LOG`, `ERROR`, … as logged.
    pub severity: Option<&'a [u8]>,
    /// SQLSTATE.
    pub sqlstate: Option<&'a [u8]>,
    /// Role name.
    pub user: Option<&'a [u8]>,
    /// Database name.
    pub db: Option<&'a [u8]>,
    /// Client host or IP (`[local]` for a Unix socket).
    pub client_ip: Option<&'a [u8]>,
    /// Client port.
    pub client_port: Option<u64>,
    /// Backend process id.
    pub pid: Option<u64>,
    /// Line number within the session (`%l`).
    pub session_line_num: Option<u64>,
    /// `application_name`.
    pub application_name: Option<&'a [u8]>,
    /// csv `session_id`.
    pub session_id: Option<&'a [u8]>,
    /// csv `command_tag`.
    pub command_tag: Option<&'a [u8]>,
    /// csv `session_start_time`, as logged.
    pub session_start_time: Option<&'a [u8]>,
    /// csv `virtual_transaction_id`.
    pub virtual_transaction_id: Option<&'a [u8]>,
    /// csv `transaction_id`.
    pub transaction_id: Option<u64>,
    /// Primary message text.
    pub msg: Option<&'a [u8]>,
    /// DETAIL (unless it is a `parameters:` list).
    pub detail: Option<&'a [u8]>,
    /// HINT.
    pub hint: Option<&'a [u8]>,
    /// CONTEXT.
    pub context: Option<&'a [u8]>,
    /// LOCATION.
    pub location: Option<&'a [u8]>,
    /// QUERY (internal query).
    pub internal_query: Option<&'a [u8]>,
    /// csv `internal_query_pos`.
    pub internal_query_pos: Option<u64>,
    /// The STATEMENT line / csv `query`, used when the message names no statement.
    pub statement_line: Option<&'a [u8]>,
    /// csv `query_pos`.
    pub query_pos: Option<u64>,
    /// csv `backend_type`.
    pub backend_type: Option<&'a [u8]>,
    /// csv `leader_pid`.
    pub leader_pid: Option<u64>,
    /// csv `query_id`.
    pub query_id: Option<i64>,
    pub(crate) query: QueryFields<'a>,
}

impl<'a> PgRecord<'a> {
    /// Bind parameters from a `parameters: …` DETAIL.
    fn parameters(&self) -> Option<&'a [u8]> {
        self.detail.and_then(|d| d.strip_prefix(b"parameters: "))
    }
}

impl FormatEntry for PgRecord<'_> {
    fn timestamp_us(&self) -> Option<i64> {
        self.timestamp_us
    }

    fn parse_error(&self) -> Option<&'static str> {
        self.error
    }

    fn write_fields(&self, w: &mut RecordWriter<'_>) {
        w.opt_str("severity", self.severity);
        w.opt_str("sqlstate", self.sqlstate);
        w.opt_str("user", self.user);
        w.opt_str("db", self.db);
        w.opt_str("client_ip", self.client_ip);
        w.opt_u64("client_port", self.client_port);
        w.opt_u64("pid", self.pid);
        w.opt_u64("session_line_num", self.session_line_num);
        w.opt_str("application_name", self.application_name);
        w.opt_str("session_id", self.session_id);
        w.opt_str("command_tag", self.command_tag);
        w.opt_str("session_start_time", self.session_start_time);
        w.opt_str("virtual_transaction_id", self.virtual_transaction_id);
        w.opt_u64("transaction_id", self.transaction_id);
        w.opt_str("backend_type", self.backend_type);
        w.opt_u64("leader_pid", self.leader_pid);
        w.opt_i64("query_id", self.query_id);
        // An auto_explain message's first line: `statement` and `plan` hold the rest.
        let msg = match (self.query.kind, self.msg) {
            (Some("plan"), Some(m)) => Some(&m[..memchr::memchr(b'\n', m).unwrap_or(m.len())]),
            (_, m) => m,
        };
        w.opt_str("msg", msg);
        w.opt_decimal("duration_ms", self.query.duration);
        w.opt_str("statement_kind", self.query.kind.map(str::as_bytes));
        w.opt_str("prepared_name", self.query.prepared_name);
        w.opt_str("statement", self.query.statement);
        w.opt_u64("query_pos", self.query_pos);
        match self.parameters() {
            Some(p) => w.str("parameters", p),
            None => {
                w.opt_str("parameters", self.query.plan_parameters);
                w.opt_str("detail", self.detail);
            }
        }
        w.opt_str("plan", self.query.plan);
        w.opt_str("hint", self.hint);
        w.opt_str("context", self.context);
        w.opt_str("internal_query", self.internal_query);
        w.opt_u64("internal_query_pos", self.internal_query_pos);
        w.opt_str("location", self.location);
        w.opt_str("fingerprint", self.query.fingerprint);
        w.opt_str("fingerprint_id", self.query.fingerprint_id.map(|b| &b[..]));
        if self.query.fingerprint_truncated {
            w.bool("fingerprint_truncated", true);
        }
    }

    fn open_pairing(&self) -> Option<OpenPairing> {
        Some(OpenPairing {
            pid: self.query.open_pairing?,
            query_time_us: self.query.duration?.scaled(3)?,
        })
    }

    fn query_sample(&self) -> Option<QuerySample<'_>> {
        let q = &self.query;
        let stmt = q.statement?;
        Some(QuerySample::timed(
            q.fingerprint.unwrap_or(stmt),
            stmt,
            // ms → µs exactly: three decimal places of milliseconds are microseconds.
            q.duration?.scaled(3)?,
            self.timestamp_us,
        ))
    }
}

/// A signed decimal integer making up all of `s`.
pub(crate) fn parse_i64(s: &[u8]) -> Option<i64> {
    match s.strip_prefix(b"-") {
        Some(d) => parse_u64(d).and_then(|v| 0i64.checked_sub_unsigned(v)),
        None => parse_u64(s).and_then(|v| i64::try_from(v).ok()),
    }
}

/// A span of text in the raw entry or in a parser-owned buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Span {
    Raw(usize, usize),
    Buf(usize, usize),
}

impl Span {
    pub(crate) fn get<'a>(self, raw: &'a [u8], buf: &'a [u8]) -> &'a [u8] {
        match self {
            Span::Raw(s, e) => raw.get(s..e).unwrap_or_default(),
            Span::Buf(s, e) => buf.get(s..e).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_query_messages() {
        let i = classify_message(b"duration: 0.327 ms  statement: select 1;");
        assert_eq!(i.duration, Decimal::parse(b"0.327"));
        assert_eq!(
            (i.kind, i.statement),
            (Some("statement"), Some(&b"select 1;"[..]))
        );
        let i = classify_message(b"duration: 7.775 ms  parse py:0x7fde12d61b80: SELECT $1");
        assert_eq!(
            (i.kind, i.prepared_name, i.statement),
            (
                Some("parse"),
                Some(&b"py:0x7fde12d61b80"[..]),
                Some(&b"SELECT $1"[..])
            )
        );
        let i = classify_message(b"duration: 1 ms  execute <unnamed>: select");
        assert_eq!(
            (i.kind, i.prepared_name),
            (Some("execute"), Some(&b"<unnamed>"[..]))
        );
        let i = classify_message(b"duration: 0.027 ms  statement: ");
        assert_eq!(i.statement, Some(&b""[..]));
        let i = classify_message(b"duration: 430.394 ms");
        assert_eq!((i.duration.is_some(), i.kind), (true, None));
        let i = classify_message(b"statement: BEGIN;");
        assert_eq!((i.duration, i.statement), (None, Some(&b"BEGIN;"[..])));
        assert_eq!(
            classify_message(b"parse error near x"),
            QueryInfo::default()
        );
        assert_eq!(classify_message(b"duration: abc ms"), QueryInfo::default());
        assert_eq!(
            classify_message(b"duration: 1.5 ms  plan:\n{}").kind,
            Some("plan")
        );
    }

    #[test]
    fn sqlstates_are_not_words() {
        assert_eq!(sqlstate_prefix(b"42704:  x"), Some((&b"42704"[..], 8)));
        assert_eq!(sqlstate_prefix(b"25P03: x").unwrap().0, b"25P03");
        assert_eq!(sqlstate_prefix(b"ABORT: x"), None);
        assert_eq!(sqlstate_prefix(b"1234"), None);
    }

    #[test]
    fn tracking_backends_says_who_had_an_event_and_is_bounded() {
        let mut m = StatementMemory::default();
        m.remember(1, "statement", b"", b"before tracking");
        assert!(
            !m.untouched(1) && !m.untouched(2),
            "not tracking: nothing is open"
        );
        m.track_backends();
        assert!(m.untouched(1) && m.untouched(2));
        m.remember(2, "statement", b"", b"select 2");
        let mut out = Vec::new();
        assert!(m.take(3, &mut out).is_none());
        m.forget(4);
        let mut touched: Vec<u64> = m.touched().collect();
        touched.sort_unstable();
        assert_eq!(touched, [2, 3, 4]);
        assert_eq!(m.statement(2), Some(&b"select 2"[..]));
        assert_eq!(m.statement(3), None);
        assert_eq!(m.peak(), 2);
        for pid in 10..10 + MAX_TRACKED_BACKENDS as u64 {
            m.forget(pid);
        }
        assert!(m.tracking_overflowed());
        assert_eq!(m.touched().count(), MAX_TRACKED_BACKENDS);
    }

    #[test]
    fn memory_is_bounded_and_counts_evictions() {
        let mut m = StatementMemory::default();
        for pid in 0..(MAX_PAIRED_PIDS as u64 + 10) {
            m.remember(pid, "statement", b"", b"select 1");
            m.remember(pid, "statement", b"", b"select 2");
        }
        assert_eq!(m.len(), MAX_PAIRED_PIDS);
        assert_eq!(m.evictions, 10);
        let mut out = Vec::new();
        assert!(m.take(0, &mut out).is_none(), "oldest evicted");
        assert_eq!(m.take(20, &mut out), Some(("statement", 0)));
        assert_eq!(out, b"select 2");
        let big = vec![b'x'; MAX_PAIRED_STATEMENT_BYTES + 1];
        m.remember(21, "statement", b"", &big);
        assert!(m.take(21, &mut out).is_none(), "too long to remember");
        assert!(m.order.len() <= 2 * MAX_PAIRED_PIDS + 1);
    }
}
