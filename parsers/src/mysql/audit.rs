//! Aurora MySQL Advanced Auditing and the RDS MariaDB audit plugin (`log_type` `mysql_audit`).
//!
//! # Design
//! One record per line, CSV with quote char `'` and escape char `\`:
//!
//! ```text
//! 1653053459680124,c731-instance-1,admin,10.0.1.5,26,1234,QUERY,mydb,'SELECT * FROM t WHERE a=\'x\', b="y"',0
//! 20200101 12:34:56,ip-10-1-0-50,rdsadmin,localhost,26,0,CONNECT,,,0,SOCKET
//! ```
//!
//! A quote opens only at the start of a field (elsewhere it is text); inside quotes `\x` stands
//! for `x` and a doubled `''` for one quote. A quoted field still open at the end of a line
//! continues on the next line: the [`Classifier`] tracks the quote state line by line. To keep one
//! bad quote from swallowing the rest of a file, a line that looks like a fresh record, or more
//! than [`MAX_QUOTED_CONTINUATION_BYTES`] of continuation, ends the open quote (the cut record is
//! flagged). Blank lines outside quotes belong to no record.
//!
//! Fields borrow from the raw entry; only a field that contains escapes is unescaped, into a
//! buffer the parser reuses (bounded: a buffer that grew past [`RETAINED_BUFFER_BYTES`] is let
//! go). The query fingerprint is written into a second reusable buffer.
//!
//! # Fields
//! * `_timestamp` — epoch µs on Aurora (13-digit ms and 10-digit s are also taken),
//!   `YYYYMMDD HH:MM:SS` (UTC) on the RDS MariaDB plugin.
//! * `server_host`, `user`, `client_host` — as written (omitted when empty).
//! * `connection_id`, `query_id` — integers.
//! * `operation` — `CONNECT`, `QUERY`, `READ`, `WRITE`, `FAILED_CONNECT`, …
//! * `db` — database (omitted when empty).
//! * `object` — the SQL text for `QUERY*` events (unescaped), the table for table events.
//! * `retcode` — integer; omitted when empty.
//! * `connection_type` — 11th field when present and not empty (`SOCKET`, `TCP/IP`, …); fields
//!   after it are tolerated and ignored.
//! * `fingerprint`, `fingerprint_id` — for `QUERY*` operations with a non-empty object.
//!
//! A well-formed record carries every byte of its line in these fields, so the raw line is sent as
//! `message` only when the record is flagged with `parse_error` (fewer than 10 fields, an
//! unterminated quote, a bad timestamp or number).

use memchr::memchr;

use crate::frame::{LineClass, LineClassifier, RawEntry};
use crate::json::RecordWriter;
use crate::num::parse_u64;
use crate::parser::{FormatEntry, FormatParser};
use crate::time::days_from_civil;

/// Continuation lines of one open quote are accepted up to this many bytes.
pub const MAX_QUOTED_CONTINUATION_BYTES: usize = 1 << 20;
/// A reusable buffer whose capacity grew past this is dropped instead of kept.
pub const RETAINED_BUFFER_BYTES: usize = 1 << 20;
/// Fields of a record that are looked at; more are tolerated and ignored.
const MAX_FIELDS: usize = 12;
/// Fields every record has.
const MIN_FIELDS: usize = 10;

/// Groups lines into records, tracking whether a quoted field is still open.
#[derive(Debug, Default)]
pub struct Classifier {
    in_quote: bool,
    quoted_bytes: usize,
}

impl LineClassifier for Classifier {
    fn classify(&mut self, line: &[u8]) -> LineClass {
        let class = if self.in_quote
            && self.quoted_bytes <= MAX_QUOTED_CONTINUATION_BYTES
            && !looks_like_line(line)
        {
            LineClass::Continue
        } else if line.iter().all(u8::is_ascii_whitespace) {
            self.in_quote = false;
            return LineClass::Skip;
        } else {
            LineClass::Start
        };
        self.in_quote = ends_in_quote(line, class == LineClass::Continue);
        self.quoted_bytes = if self.in_quote {
            self.quoted_bytes + line.len() + 1
        } else {
            0
        };
        if class == LineClass::Start && self.in_quote {
            self.quoted_bytes = line.len() + 1;
        }
        class
    }
}

/// Whether a quoted field is open at the end of `line` (scanned as [`split`] does).
fn ends_in_quote(line: &[u8], mut quoted: bool) -> bool {
    let mut field_start = !quoted;
    let mut i = 0;
    while i < line.len() {
        let b = line[i];
        if quoted {
            match b {
                b'\\' => i += 1,
                b'\'' if line.get(i + 1) == Some(&b'\'') => i += 1,
                b'\'' => quoted = false,
                _ => {}
            }
        } else if field_start && b == b'\'' {
            quoted = true;
        } else if b == b',' {
            field_start = true;
            i += 1;
            continue;
        }
        field_start = false;
        i += 1;
    }
    quoted
}

/// Whether a line is an audit record: a timestamp of either product, then at least 10 fields,
/// the 7th (operation) in capitals.
pub fn looks_like_line(line: &[u8]) -> bool {
    let Some(comma) = memchr(b',', &line[..line.len().min(24)]) else {
        return false;
    };
    if timestamp(&line[..comma]).is_none() {
        return false;
    }
    let mut buf = Vec::new();
    let mut spans = [Span::Raw(0, 0); MAX_FIELDS];
    match split(line, &mut buf, &mut spans) {
        Ok(n) if n >= MIN_FIELDS => {
            let op = spans[6].get(line, &buf);
            !op.is_empty() && op.iter().all(|b| b.is_ascii_uppercase() || *b == b'_')
        }
        _ => false,
    }
}

/// Where a field's value lies: in the line, or in the unescape buffer.
#[derive(Clone, Copy, Debug)]
enum Span {
    Raw(usize, usize),
    Unescaped(usize, usize),
}

impl Span {
    fn get<'a>(self, line: &'a [u8], buf: &'a [u8]) -> &'a [u8] {
        match self {
            Span::Raw(s, e) => &line[s..e],
            Span::Unescaped(s, e) => &buf[s..e],
        }
    }
}

/// Split a record into fields (the first [`MAX_FIELDS`] go to `spans`); returns the field count.
fn split(
    line: &[u8],
    buf: &mut Vec<u8>,
    spans: &mut [Span; MAX_FIELDS],
) -> Result<usize, &'static str> {
    let mut n = 0;
    let mut i = 0;
    loop {
        let span = if line.get(i) == Some(&b'\'') {
            let start = i + 1;
            let mut j = start;
            let mut escaped = false;
            let mut closed = false;
            while j < line.len() {
                match line[j] {
                    b'\\' => {
                        escaped = true;
                        j += 2;
                    }
                    b'\'' if line.get(j + 1) == Some(&b'\'') => {
                        escaped = true;
                        j += 2;
                    }
                    b'\'' => {
                        closed = true;
                        break;
                    }
                    _ => j += 1,
                }
            }
            if !closed {
                return Err("unterminated quoted field");
            }
            i = j + 1;
            if i < line.len() && line[i] != b',' {
                return Err("text after a quoted field");
            }
            if escaped {
                let from = buf.len();
                unescape(&line[start..j], buf);
                Span::Unescaped(from, buf.len())
            } else {
                Span::Raw(start, j)
            }
        } else {
            let end = memchr(b',', &line[i..]).map_or(line.len(), |p| i + p);
            let span = Span::Raw(i, end);
            i = end;
            span
        };
        if n < MAX_FIELDS {
            spans[n] = span;
        }
        n += 1;
        if i >= line.len() {
            return Ok(n);
        }
        i += 1; // the comma
    }
}

/// `\x` → `x`, `''` → `'`.
fn unescape(s: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if (b == b'\\' || (b == b'\'' && s.get(i + 1) == Some(&b'\''))) && i + 1 < s.len() {
            out.push(s[i + 1]);
            i += 2;
        } else {
            out.push(b);
            i += 1;
        }
    }
}

/// Epoch µs (16 digits; 13 = ms, 10 = s) or `YYYYMMDD HH:MM:SS` (UTC).
fn timestamp(f: &[u8]) -> Option<i64> {
    if f.iter().all(u8::is_ascii_digit) {
        let v = i64::try_from(parse_u64(f)?).ok()?;
        return match f.len() {
            16 => Some(v),
            13 => Some(v * 1000),
            10 => Some(v * 1_000_000),
            _ => None,
        };
    }
    if f.len() != 17 || f[8] != b' ' || f[11] != b':' || f[14] != b':' {
        return None;
    }
    let num = |a: usize, b: usize| parse_u64(&f[a..b]);
    let (y, mo, d) = (num(0, 4)?, num(4, 6)?, num(6, 8)?);
    let (h, mi, s) = (num(9, 11)?, num(12, 14)?, num(15, 17)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(y as i64, mo as u32, d as u32);
    Some((days * 86_400 + (h * 3600 + mi * 60 + s) as i64) * 1_000_000)
}

/// Parses records; owns the reusable unescape and fingerprint buffers.
#[derive(Debug, Default)]
pub struct Parser {
    unescaped: Vec<u8>,
    fingerprint: Vec<u8>,
    ids: crate::fingerprint::IdCache,
    no_fingerprints: bool,
}

/// One audit record; see the module docs for the fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuditEntry<'a> {
    /// µs since the epoch (UTC).
    pub timestamp_us: Option<i64>,
    /// Instance or host name.
    pub server_host: &'a [u8],
    /// User.
    pub user: &'a [u8],
    /// Client host or address.
    pub client_host: &'a [u8],
    /// Connection id.
    pub connection_id: Option<u64>,
    /// Query id.
    pub query_id: Option<u64>,
    /// Operation (`QUERY`, `CONNECT`, …).
    pub operation: &'a [u8],
    /// Database.
    pub db: &'a [u8],
    /// SQL text or table name, unescaped.
    pub object: &'a [u8],
    /// Return code.
    pub retcode: Option<i64>,
    /// Connection type (11th field).
    pub connection_type: &'a [u8],
    /// Fingerprint of the query in `object`.
    pub fingerprint: Option<&'a [u8]>,
    /// Class id of the fingerprint.
    pub fingerprint_id: Option<[u8; 32]>,
    /// Why the record could not be parsed fully.
    pub error: Option<&'static str>,
}

fn reuse(buf: &mut Vec<u8>) {
    if buf.capacity() > RETAINED_BUFFER_BYTES {
        *buf = Vec::new();
    }
    buf.clear();
}

impl FormatParser for Parser {
    type Classifier = Classifier;
    type Entry<'a> = AuditEntry<'a>;

    fn set_fingerprints(&mut self, on: bool) {
        self.no_fingerprints = !on;
    }

    fn parse<'a>(&'a mut self, raw: RawEntry<'a>) -> AuditEntry<'a> {
        reuse(&mut self.unescaped);
        reuse(&mut self.fingerprint);
        let line = raw.text.strip_suffix(b"\r").unwrap_or(raw.text);
        let mut spans = [Span::Raw(0, 0); MAX_FIELDS];
        let n = match split(line, &mut self.unescaped, &mut spans) {
            Ok(n) if n >= MIN_FIELDS => n,
            Ok(_) => {
                return AuditEntry {
                    error: Some("audit record has fewer than 10 fields"),
                    ..AuditEntry::default()
                }
            }
            Err(e) => {
                return AuditEntry {
                    error: Some(e),
                    ..AuditEntry::default()
                }
            }
        };
        let operation = spans[6].get(line, &self.unescaped);
        let object = spans[8].get(line, &self.unescaped);
        let is_query =
            operation.starts_with(b"QUERY") && !object.is_empty() && !self.no_fingerprints;
        let mut fingerprint_id = None;
        if is_query {
            crate::fingerprint::mysql::fingerprint(object, &mut self.fingerprint);
            fingerprint_id = Some(self.ids.id(&self.fingerprint));
        }
        let me: &'a Parser = self;
        let field = |i: usize| spans[i].get(line, &me.unescaped);
        let mut e = AuditEntry {
            timestamp_us: timestamp(field(0)),
            server_host: field(1),
            user: field(2),
            client_host: field(3),
            connection_id: parse_u64(field(4)),
            query_id: parse_u64(field(5)),
            operation: field(6),
            db: field(7),
            object: field(8),
            retcode: retcode(field(9)),
            connection_type: if n > 10 { field(10) } else { &[] },
            fingerprint: is_query.then_some(&me.fingerprint[..]),
            fingerprint_id,
            error: None,
        };
        e.error = if e.timestamp_us.is_none() {
            Some("audit timestamp is neither epoch microseconds nor YYYYMMDD HH:MM:SS")
        } else if e.connection_id.is_none() || e.query_id.is_none() {
            Some("audit connection id or query id is not an integer")
        } else if e.retcode.is_none() && !field(9).is_empty() {
            Some("audit retcode is not an integer")
        } else {
            None
        };
        e
    }
}

fn retcode(f: &[u8]) -> Option<i64> {
    let (neg, digits) = match f.strip_prefix(b"-") {
        Some(d) => (true, d),
        None => (false, f),
    };
    let v = i64::try_from(parse_u64(digits)?).ok()?;
    Some(if neg { -v } else { v })
}

/// A string field, omitted when empty (CSV cannot tell empty from absent).
fn nonempty(w: &mut RecordWriter<'_>, key: &'static str, value: &[u8]) {
    if !value.is_empty() {
        w.str(key, value);
    }
}

impl FormatEntry for AuditEntry<'_> {
    fn timestamp_us(&self) -> Option<i64> {
        self.timestamp_us
    }

    fn parse_error(&self) -> Option<&'static str> {
        self.error
    }

    fn include_message(&self) -> bool {
        false
    }

    fn write_fields(&self, w: &mut RecordWriter<'_>) {
        nonempty(w, "server_host", self.server_host);
        nonempty(w, "user", self.user);
        nonempty(w, "client_host", self.client_host);
        w.opt_u64("connection_id", self.connection_id);
        w.opt_u64("query_id", self.query_id);
        nonempty(w, "operation", self.operation);
        nonempty(w, "db", self.db);
        nonempty(w, "object", self.object);
        w.opt_i64("retcode", self.retcode);
        nonempty(w, "connection_type", self.connection_type);
        w.opt_str("fingerprint", self.fingerprint);
        w.opt_str(
            "fingerprint_id",
            self.fingerprint_id.as_ref().map(|id| &id[..]),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::LogFormat;

    fn records(input: &[u8]) -> Vec<serde_json::Value> {
        crate::parser::test_records(LogFormat::MysqlAudit, input)
    }

    #[test]
    fn aurora_query_with_escapes() {
        let r = records(b"1653053459680124,c731-instance-1,admin,10.0.1.5,26,1234,QUERY,mydb,'SELECT * FROM t WHERE a=\\'x\\', b=\"y\"',0\n");
        assert_eq!(r.len(), 1);
        let e = &r[0];
        assert_eq!(e["_timestamp"], 1_653_053_459_680_124i64);
        assert_eq!(e["server_host"], "c731-instance-1");
        assert_eq!(e["user"], "admin");
        assert_eq!(e["client_host"], "10.0.1.5");
        assert_eq!(e["connection_id"], 26);
        assert_eq!(e["query_id"], 1234);
        assert_eq!(e["operation"], "QUERY");
        assert_eq!(e["db"], "mydb");
        assert_eq!(e["object"], "SELECT * FROM t WHERE a='x', b=\"y\"");
        assert_eq!(e["retcode"], 0);
        assert!(e.get("fingerprint").is_some());
        assert_eq!(e["fingerprint_id"].as_str().unwrap().len(), 32);
        assert!(e.get("message").is_none());
        assert!(e.get("parse_error").is_none());
    }

    /// The audit log escapes the SQL once more (`\` → `\\`, `'` → `\'`); the fingerprint of the
    /// unescaped `select 'a\\' from foo where b='c'` closes the literal at its quote
    /// (pt-query-digest 3.5.7: `select ? from foo where b=?`, id 771C23D2…).
    #[test]
    fn literal_ending_in_an_escaped_backslash() {
        let r = records(b"1653053459680124,h,u,c,1,2,QUERY,db,'select \\'a\\\\\\\\\\' from foo where b=\\'c\\'',0\n");
        assert_eq!(r[0]["object"], r"select 'a\\' from foo where b='c'");
        assert_eq!(r[0]["fingerprint"], "select ? from foo where b=?");
        assert_eq!(r[0]["fingerprint_id"], "771C23D279829261790F203DDDC190DC");
    }

    #[test]
    fn mariadb_plugin_connect_and_table_events() {
        let r = records(b"20200101 12:34:56,ip-10-1-0-50,rdsadmin,localhost,26,0,CONNECT,,,0,SOCKET\n1653053459680124,c731-instance-1,admin,10.0.1.5,26,47141561040897,CREATE,world,customers,\n1653053459680124,h,u,c,1,2,QUERY,,'SELECT 1',0,,\n");
        assert_eq!(r.len(), 3);
        assert_eq!(r[0]["_timestamp"], 1_577_882_096_000_000i64);
        assert_eq!(r[0]["connection_type"], "SOCKET");
        assert!(r[0].get("db").is_none() && r[0].get("object").is_none());
        assert!(r[0].get("fingerprint").is_none());
        assert!(r[1].get("retcode").is_none());
        assert_eq!(r[1]["query_id"], 47_141_561_040_897u64);
        assert_eq!(r[1]["object"], "customers");
        assert!(r[2].get("connection_type").is_none());
        assert!(r.iter().all(|e| e.get("parse_error").is_none()));
    }

    #[test]
    fn quoted_newline_continues_and_blank_lines_are_skipped() {
        let input = b"1653053459680124,h,u,c,1,2,QUERY,db,'SELECT a,\n  b FROM t WHERE s=\\'it\\'\\'s\\'',0\n\n1653053459680125,h,u,c,1,3,QUERY,db,'x',0\n";
        let r = records(input);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0]["object"], "SELECT a,\n  b FROM t WHERE s='it''s'");
        assert_eq!(r[1]["query_id"], 3);
    }

    #[test]
    fn unterminated_quote_does_not_swallow_the_next_record() {
        let r = records(b"1653053459680124,h,u,c,1,2,QUERY,db,'SELECT oops,0\n1653053459680125,h,u,c,1,3,QUERY,db,'x',0\n");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0]["parse_error"], "unterminated quoted field");
        assert!(r[0].get("message").is_some());
        assert_eq!(r[1]["query_id"], 3);
    }

    #[test]
    fn malformed_records_are_flagged() {
        let r = records(b"garbage\n1653053459680124,h,u\nnot-a-time,h,u,c,1,2,QUERY,db,x,0\n1653053459680124,h,u,c,x,2,QUERY,db,x,0\n1653053459680124,h,u,c,1,2,QUERY,db,x,zz\n1653053459680124,h,u,c,1,2,QUERY,db,'x'y,0\n\xff,\xfe\n");
        assert_eq!(r.len(), 7);
        for e in &r {
            assert!(e.get("parse_error").is_some(), "{e}");
            assert!(e.get("message").is_some());
        }
        assert!(records(b"").is_empty());
        assert!(records(b"\n \n").is_empty());
    }

    #[test]
    fn huge_and_truncated_lines() {
        let mut big = b"1653053459680124,h,u,c,1,2,QUERY,db,'".to_vec();
        big.extend(std::iter::repeat_n(b'x', 9 << 20));
        big.extend_from_slice(b"',0\n1653053459680125,h,u,c,1,3,QUERY,db,'x',0\n");
        let r = records(&big);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0]["truncated"], true);
        assert_eq!(r[1]["query_id"], 3);
        let r = records(b"1653053459680124,h,u,c,1,2,QUERY,db,'SELE");
        assert_eq!(r.len(), 1);
        assert!(r[0].get("parse_error").is_some());
    }

    #[test]
    fn quote_state_matches_split() {
        for (line, open) in [
            (&b"a,'b"[..], true),
            (b"a,'b'", false),
            (b"a,'b\\'", true),
            (b"a,'b\\", true),
            (b"a,b'c", false),
            (b"a,'it''s", true),
            (b"a,''", false),
        ] {
            assert_eq!(
                ends_in_quote(line, false),
                open,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        assert!(!ends_in_quote(b"end',0", true));
    }

    #[test]
    fn detection() {
        assert!(looks_like_line(
            b"1653053459680124,c731-instance-1,admin,10.0.1.5,26,1234,QUERY,mydb,'SELECT 1',0"
        ));
        assert!(looks_like_line(
            b"20200101 12:34:56,ip-10-1-0-50,rdsadmin,localhost,26,0,CONNECT,,,0"
        ));
        assert!(!looks_like_line(
            b"2022-10-05 22:05:52 UTC:10.0.0.1(5432):u@d:[123]:LOG:  x"
        ));
        assert!(!looks_like_line(
            b"2016-12-09T12:08:33.335060Z 0 [Warning] x, y, z"
        ));
        assert!(!looks_like_line(b"1653053459680124,h,u"));
    }
}
