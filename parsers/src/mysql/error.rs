//! MySQL / Aurora MySQL / MariaDB error log (`log_type` `mysql_error`).
//!
//! # Design
//! An entry starts at a line that begins with a timestamp in one of the server flavours, followed
//! by something that is not a bare dump line:
//!
//! | flavour | start line |
//! |---|---|
//! | 5.5/5.6 (Aurora 1) | `161209 14:18:50 [Warning] …`, `161209 14:18:50  InnoDB: …`, `091119 22:27:11InnoDB: …` |
//! | `mysqld_safe` | `161209 13:08:33 mysqld_safe Starting mysqld daemon …`, `080721 03:03:57  mysqld started` |
//! | 5.7 (Aurora 2) | `2016-12-09T12:08:33.335060Z 0 [Warning] …` (or `+02:00` with `log_timestamps=SYSTEM`) |
//! | 8.0 (Aurora 3) | `2019-03-24T13:44:25.484123Z 0 [System] [MY-013169] [Server] …`, also without the code |
//! | MariaDB | `2019-10-16 17:24:15 0 [Note] InnoDB: …` |
//!
//! Every other line (`Version: '5.7.10' socket: …`, InnoDB dumps, deadlock reports, stack traces,
//! blank lines) continues the open entry. A timestamp alone on a line, or followed by a hex thread
//! handle (`2021-03-04 10:11:12 0x7f… INNODB MONITOR OUTPUT`), is part of an InnoDB dump and
//! continues too. Parsing is zero-copy: every field borrows from the raw entry.
//!
//! The old `yymmdd hh:mm:ss` form carries no zone and is taken as UTC (what Aurora and RDS run on).
//!
//! # Fields
//! * `_timestamp` — µs since the epoch (common field).
//! * `level` — `note`, `warning`, `error`, `system` or `info`, lowercased; absent on lines with no
//!   bracketed level (`InnoDB: …` in 5.5, `mysqld_safe …`).
//! * `error_code` — the 8.0 code, `MY-010914`.
//! * `subsystem` — the 8.0 subsystem after the code, as written (`Server`, `InnoDB`, `Repl`, …).
//! * `thread_id` — integer after the timestamp (0 = server/background thread).
//! * `msg` — the message text after the prefix, continuation lines included (trailing whitespace
//!   trimmed). The common `message` field keeps the raw entry.
//! * `user` — from `Access denied for user 'x'@…`, or `… user: 'x'` (`Forcing close of thread`,
//!   `Aborted connection`).
//! * `client_ip` — from `IP address '10.10.10.10' could not be resolved`, `Access denied for user
//!   'x'@'1.2.3.4'` or `host: '1.2.3.4'`, only when the value is an IP address.
//!
//! An entry with no timestamp (continuation lines at the very top of a file, say after rotation)
//! is shipped with its text in `msg` and flagged with `parse_error`.

use std::sync::LazyLock;

use memchr::{memchr, memmem};

use crate::frame::{LineClass, LineClassifier, RawEntry};
use crate::json::RecordWriter;
use crate::num::parse_u64;
use crate::parser::{FormatEntry, FormatParser};
use crate::time::{parse_iso, parse_mysql_old};

/// The longest bracketed level we look at (`[Warning]` is 9 bytes).
const MAX_LEVEL_BYTES: usize = 12;
/// The longest `[MY-…]` code or `[Subsystem]` we accept.
const MAX_TAG_BYTES: usize = 40;
/// Quoted values (user names, addresses) longer than this are not taken.
const MAX_QUOTED_VALUE_BYTES: usize = 256;

/// Groups lines into entries: a start line opens one, everything else continues it.
#[derive(Debug, Default)]
pub struct Classifier;

impl LineClassifier for Classifier {
    fn classify(&mut self, line: &[u8]) -> LineClass {
        if starts_entry(line) {
            LineClass::Start
        } else {
            LineClass::Continue
        }
    }
}

/// A timestamp of any flavour at the start of `line`: (µs, bytes consumed).
fn timestamp(line: &[u8]) -> Option<(i64, usize)> {
    if !line.first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    parse_iso(line).or_else(|| parse_mysql_old(line))
}

fn skip_blanks(s: &[u8], mut at: usize) -> usize {
    while matches!(s.get(at), Some(b' ' | b'\t')) {
        at += 1;
    }
    at
}

/// The thread id at `at` (digits followed by a blank): (id, index after the blanks).
fn thread_id(s: &[u8], at: usize) -> Option<(u64, usize)> {
    let n = s[at.min(s.len())..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if n == 0 || !matches!(s.get(at + n), Some(b' ' | b'\t')) {
        return None;
    }
    let id = parse_u64(&s[at..at + n])?;
    Some((id, skip_blanks(s, at + n)))
}

/// Whether `line` opens an entry in the classifier's (lenient) sense; see the module docs.
fn starts_entry(line: &[u8]) -> bool {
    let Some((_, n)) = timestamp(line) else {
        return false;
    };
    let mut at = skip_blanks(line, n);
    if at >= line.len() || line[at..].iter().all(u8::is_ascii_whitespace) {
        return false;
    }
    if line[at].is_ascii_digit() {
        match thread_id(line, at) {
            Some((_, next)) => at = next,
            None => return false,
        }
    }
    !line[at..].starts_with(b"INNODB MONITOR OUTPUT")
}

/// Whether a line starts an error-log entry, strictly enough for content detection: a timestamp
/// then a bracketed level (after an optional thread id), or an old-form line of InnoDB or
/// `mysqld_safe`. General-log lines (`191015  9:46:45\t 13 Query\t…`) and PostgreSQL lines
/// (`2022-10-05 22:05:52 UTC:…`) do not qualify.
pub fn looks_like_line(line: &[u8]) -> bool {
    let Some((_, n)) = timestamp(line) else {
        return false;
    };
    let mut at = skip_blanks(line, n);
    if let Some((_, next)) = thread_id(line, at) {
        at = next;
    }
    let rest = &line[at.min(line.len())..];
    if level(rest).is_some() {
        return true;
    }
    let old_form = line.get(4) != Some(&b'-');
    old_form
        && [
            &b"InnoDB:"[..],
            b"mysqld_safe ",
            b"mysqld started",
            b"mysqld ended",
            b"mysqld restarted",
            b"- mysqld got signal",
        ]
        .iter()
        .any(|p| rest.starts_with(p))
}

/// A bracketed level at the start of `s`: (lowercase level, bytes consumed).
fn level(s: &[u8]) -> Option<(&'static str, usize)> {
    if s.first() != Some(&b'[') {
        return None;
    }
    let close = memchr(b']', &s[..s.len().min(MAX_LEVEL_BYTES)])?;
    let word = &s[1..close];
    let level = [
        ("note", "note"),
        ("warning", "warning"),
        ("error", "error"),
        ("system", "system"),
        ("info", "info"),
    ]
    .into_iter()
    .find(|(name, _)| word.eq_ignore_ascii_case(name.as_bytes()))?
    .1;
    Some((level, close + 1))
}

/// A `[tag]` at the start of `s` whose content passes `ok`: (content, bytes consumed).
fn tag(s: &[u8], ok: impl Fn(&[u8]) -> bool) -> Option<(&[u8], usize)> {
    if s.first() != Some(&b'[') {
        return None;
    }
    let close = memchr(b']', &s[..s.len().min(MAX_TAG_BYTES)])?;
    let word = &s[1..close];
    (!word.is_empty() && ok(word)).then_some((word, close + 1))
}

fn is_error_code(w: &[u8]) -> bool {
    w.len() > 3 && w.starts_with(b"MY-") && w[3..].iter().all(u8::is_ascii_digit)
}

fn is_subsystem(w: &[u8]) -> bool {
    w.iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Parses entries (stateless: every entry carries its own prefix).
#[derive(Debug, Default)]
pub struct Parser;

/// One error-log entry; see the module docs for the fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorLogEntry<'a> {
    /// µs since the epoch (UTC).
    pub timestamp_us: Option<i64>,
    /// Lowercase level.
    pub level: Option<&'static str>,
    /// 8.0 error code (`MY-010914`).
    pub error_code: Option<&'a [u8]>,
    /// 8.0 subsystem (`Server`, `InnoDB`, …).
    pub subsystem: Option<&'a [u8]>,
    /// Thread id.
    pub thread_id: Option<u64>,
    /// The message after the prefix, continuation lines included.
    pub msg: &'a [u8],
    /// User named by the message.
    pub user: Option<&'a [u8]>,
    /// Client address named by the message.
    pub client_ip: Option<&'a [u8]>,
    /// Why the entry could not be parsed.
    pub error: Option<&'static str>,
}

impl FormatParser for Parser {
    type Classifier = Classifier;
    type Entry<'a> = ErrorLogEntry<'a>;

    fn parse<'a>(&'a mut self, raw: RawEntry<'a>) -> ErrorLogEntry<'a> {
        parse_entry(raw.text)
    }
}

/// Parse one entry's text (zero-copy).
pub fn parse_entry(text: &[u8]) -> ErrorLogEntry<'_> {
    let mut e = ErrorLogEntry {
        timestamp_us: None,
        level: None,
        error_code: None,
        subsystem: None,
        thread_id: None,
        msg: text.trim_ascii_end(),
        user: None,
        client_ip: None,
        error: None,
    };
    let first_len = memchr(b'\n', text).unwrap_or(text.len());
    let first = &text[..first_len];
    let Some((ts, n)) = timestamp(first) else {
        e.error = Some("no timestamp prefix: a continuation line with no entry to join");
        return e;
    };
    e.timestamp_us = Some(ts);
    let mut at = skip_blanks(first, n);
    if let Some((id, next)) = thread_id(first, at) {
        e.thread_id = Some(id);
        at = next;
    }
    if let Some((lvl, used)) = level(&first[at..]) {
        e.level = Some(lvl);
        at = skip_blanks(first, at + used);
        if let Some((code, used)) = tag(&first[at..], is_error_code) {
            e.error_code = Some(code);
            at = skip_blanks(first, at + used);
            if let Some((sub, used)) = tag(&first[at..], is_subsystem) {
                e.subsystem = Some(sub);
                at = skip_blanks(first, at + used);
            }
        }
    }
    e.msg = text[at..].trim_ascii_end();
    enrich(&first[at..], &mut e);
    e
}

/// The needles [`enrich`] looks for, each searcher built once (`memmem::find` builds one per
/// call, which cost more than the searches themselves on short error lines).
static DENIED: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(b"Access denied for user '"));
static USER_AT_HOST: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(b"'@'"));
static IP_ADDRESS: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(b"IP address '"));
static USER: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(b"user: '"));
static HOST: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(b"host: '"));

/// `user` and `client_ip` from the message's first line.
fn enrich<'a>(line: &'a [u8], e: &mut ErrorLogEntry<'a>) {
    // Every marker ends with a quote: a line without one has none of them.
    if memchr(b'\'', line).is_none() {
        return;
    }
    if let Some(p) = DENIED.find(line) {
        let rest = &line[p + DENIED.needle().len()..];
        if let Some(end) = USER_AT_HOST.find(rest) {
            e.user = Some(&rest[..end]).filter(|u| u.len() <= MAX_QUOTED_VALUE_BYTES);
            e.client_ip = quoted(&rest[end + 3..]).filter(|h| is_ip(h));
        }
    }
    if let Some(p) = IP_ADDRESS.find(line) {
        e.client_ip = e
            .client_ip
            .or(quoted(&line[p + IP_ADDRESS.needle().len()..]).filter(|h| is_ip(h)));
    }
    if e.user.is_none() {
        if let Some(p) = USER.find(line) {
            e.user = quoted(&line[p + USER.needle().len()..]);
        }
    }
    if e.client_ip.is_none() {
        if let Some(p) = HOST.find(line) {
            e.client_ip = quoted(&line[p + HOST.needle().len()..]).filter(|h| is_ip(h));
        }
    }
}

/// The text up to the next `'`, if short enough.
fn quoted(s: &[u8]) -> Option<&[u8]> {
    let end = memchr(b'\'', &s[..s.len().min(MAX_QUOTED_VALUE_BYTES + 1)])?;
    Some(&s[..end])
}

/// An IPv4 or IPv6 address by its characters (hostnames like `localhost` are not).
fn is_ip(s: &[u8]) -> bool {
    let v4 = s.iter().filter(|&&b| b == b'.').count() == 3
        && s.iter().all(|b| b.is_ascii_digit() || *b == b'.');
    let v6 = s.contains(&b':')
        && s.iter()
            .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'));
    (s.len() <= 45) && (v4 || v6)
}

impl FormatEntry for ErrorLogEntry<'_> {
    fn timestamp_us(&self) -> Option<i64> {
        self.timestamp_us
    }

    fn parse_error(&self) -> Option<&'static str> {
        self.error
    }

    fn write_fields(&self, w: &mut RecordWriter<'_>) {
        w.opt_str("level", self.level.map(str::as_bytes));
        w.opt_str("error_code", self.error_code);
        w.opt_str("subsystem", self.subsystem);
        w.opt_u64("thread_id", self.thread_id);
        w.opt_str("user", self.user);
        w.opt_str("client_ip", self.client_ip);
        w.str("msg", self.msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::LogFormat;

    fn records(input: &[u8]) -> Vec<serde_json::Value> {
        crate::parser::test_records(LogFormat::MysqlError, input)
    }

    #[test]
    fn mysql_55_with_and_without_level() {
        let r = records(
            b"161209 14:18:50 [Warning] Using unique option prefix\n161209 14:18:50  InnoDB: Setting file ./ibdata1 size to 10 MB\nInnoDB: Database physically writes the file full: wait...\n091119 22:27:11InnoDB: Warning: cannot find a free slot\n",
        );
        assert_eq!(r.len(), 3);
        assert_eq!(r[0]["level"], "warning");
        assert_eq!(r[0]["_timestamp"], 1_481_293_130_000_000i64);
        assert_eq!(r[0]["msg"], "Using unique option prefix");
        assert!(r[0].get("thread_id").is_none());
        assert!(r[1].get("level").is_none());
        assert_eq!(r[1]["msg"], "InnoDB: Setting file ./ibdata1 size to 10 MB\nInnoDB: Database physically writes the file full: wait...");
        assert_eq!(r[2]["msg"], "InnoDB: Warning: cannot find a free slot");
        assert!(r.iter().all(|e| e.get("parse_error").is_none()));
    }

    #[test]
    fn mysql_57_joins_version_line() {
        let r = records(b"2016-12-09T12:08:33.784722Z 0 [Note] /usr/bin/mysqld: ready for connections.\nVersion: '5.7.10'  socket: '/tmp/mysql.sock'  port: 3306  Homebrew\n2016-12-09T22:21:02.443689Z 12 [ERROR] x\n");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0]["thread_id"], 0);
        assert_eq!(r[0]["level"], "note");
        assert_eq!(r[0]["_timestamp"], 1_481_285_313_784_722i64);
        assert_eq!(r[0]["msg"], "/usr/bin/mysqld: ready for connections.\nVersion: '5.7.10'  socket: '/tmp/mysql.sock'  port: 3306  Homebrew");
        assert_eq!(r[1]["level"], "error");
        assert_eq!(r[1]["thread_id"], 12);
        assert_eq!(r[1]["log_offset"], 144);
    }

    #[test]
    fn mysql_80_with_and_without_code() {
        let r = records(b"2019-03-24T13:44:25.484123Z 0 [System] [MY-013169] [Server] /usr/sbin/mysqld starting\n2023-03-12T15:30:16.866015Z 4016575 [Note] Aborted connection 4016575 to db: 'testdb' user: 'sherlock' host: '10.0.0.9' (Got an error)\n2023-03-07T09:34:58.461438Z 0 [Warning] [MY-010909] [Server] /usr/sbin/mysqld: Forcing close of thread 14  user: 'sherlock'.\n");
        assert_eq!(r[0]["level"], "system");
        assert_eq!(r[0]["error_code"], "MY-013169");
        assert_eq!(r[0]["subsystem"], "Server");
        assert_eq!(r[0]["msg"], "/usr/sbin/mysqld starting");
        assert_eq!(r[1]["thread_id"], 4016575);
        assert!(r[1].get("error_code").is_none());
        assert_eq!(r[1]["user"], "sherlock");
        assert_eq!(r[1]["client_ip"], "10.0.0.9");
        assert_eq!(r[2]["user"], "sherlock");
    }

    #[test]
    fn mariadb_offsets_and_mysqld_safe() {
        let r = records(b"2019-10-16 17:24:15 0 [Note] InnoDB: Using Linux native AIO\n2020-01-01T10:00:00.5+02:00 3 [Warning] x\n161209 13:08:33 mysqld_safe Starting mysqld daemon\n");
        assert_eq!(r.len(), 3);
        assert_eq!(r[0]["msg"], "InnoDB: Using Linux native AIO");
        assert!(r[0].get("subsystem").is_none());
        assert_eq!(r[1]["_timestamp"], 1_577_865_600_500_000i64);
        assert_eq!(r[2]["msg"], "mysqld_safe Starting mysqld daemon");
        assert!(r[2].get("level").is_none());
    }

    #[test]
    fn enrichment_of_failed_logins() {
        let r = records(b"2023-01-01T00:00:00.000000Z 77 [Note] Access denied for user 'admin'@'58.182.98.237' (using password: YES)\n230312 19:26:00 [Warning] IP address '10.10.10.10' could not be resolved: Name or service not known\n2023-01-01T00:00:00.000000Z 7 [Note] Access denied for user 'bob'@'localhost' (using password: NO)\n");
        assert_eq!(r[0]["user"], "admin");
        assert_eq!(r[0]["client_ip"], "58.182.98.237");
        assert_eq!(r[1]["client_ip"], "10.10.10.10");
        assert_eq!(r[2]["user"], "bob");
        assert!(r[2].get("client_ip").is_none());
    }

    #[test]
    fn dumps_and_blank_lines_stay_inside() {
        let input = b"2021-03-04T10:11:12.000000Z 0 [Note] InnoDB: deadlock\n\n*** (1) TRANSACTION:\n2021-03-04 10:11:12 0x7f12ab INNODB MONITOR OUTPUT\n161209 14:18:50\nMySQL thread id 5, OS thread handle 123, query id 9\n\n";
        let r = records(input);
        assert_eq!(r.len(), 1);
        assert!(r[0]["msg"].as_str().unwrap().ends_with("query id 9"));
    }

    #[test]
    fn orphans_garbage_and_invalid_utf8_are_flagged_not_fatal() {
        let r = records(b"InnoDB: orphan\nmore\n2019-10-16 17:24:15 0 [Note] ok \xff\xfe\n");
        assert_eq!(r.len(), 2);
        assert!(r[0]["parse_error"]
            .as_str()
            .unwrap()
            .contains("no timestamp"));
        assert_eq!(r[0]["msg"], "InnoDB: orphan\nmore");
        assert!(r[1]["parse_error"].as_str().unwrap().contains("utf-8"));
        assert!(records(b"").is_empty());
        assert!(records(b"\n\n\n").is_empty());
        for junk in [
            &b"\x00\x01[[[]]]"[..],
            b"9",
            b"2019-10-16 17:24:15 ",
            b"161209 14:18:50 [",
            b"2019-10-16 17:24:15 99999999999999999999999 [Note]",
        ] {
            let _ = records(junk);
        }
    }

    #[test]
    fn truncated_and_huge_lines() {
        let r = records(b"2019-10-16 17:24");
        assert_eq!(r.len(), 1);
        assert!(r[0].get("parse_error").is_some());
        let mut big = b"2019-10-16 17:24:15 0 [Note] ".to_vec();
        big.extend(std::iter::repeat_n(b'x', 9 << 20));
        let r = records(&big);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0]["truncated"], true);
        assert_eq!(r[0]["level"], "note");
    }

    #[test]
    fn detection_is_strict() {
        assert!(looks_like_line(
            b"2016-12-09T12:08:33.335060Z 0 [Warning] x"
        ));
        assert!(looks_like_line(b"2019-10-16 17:24:15 0 [Note] InnoDB: x"));
        assert!(looks_like_line(b"161209 14:18:50 [Warning] x"));
        assert!(looks_like_line(b"161209 14:18:50  InnoDB: x"));
        assert!(looks_like_line(b"161209 13:08:33 mysqld_safe Starting"));
        assert!(!looks_like_line(
            b"2022-10-05 22:05:52 UTC:10.0.0.1(5432):u@d:[123]:LOG:  x"
        ));
        assert!(!looks_like_line(
            b"191015  9:46:45\t    13 Query\tSHOW STATUS"
        ));
        assert!(!looks_like_line(
            b"2020-10-23T07:47:31.319556Z   30 Query\tCREATE TABLE t ("
        ));
        assert!(!looks_like_line(
            b"1653053459680124,c731-instance-1,admin,10.0.1.5,26,1234,QUERY,mydb,'x',0"
        ));
        assert!(!looks_like_line(b"Version: '5.7.10'"));
    }
}
