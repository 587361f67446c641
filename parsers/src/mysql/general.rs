//! MySQL / Aurora MySQL / MariaDB general query log (`log_type` `mysql_general`).
//!
//! # Design
//! An entry starts at a line `[timestamp] <blanks> <thread id> <command> <argument>`:
//!
//! | flavour | start line |
//! |---|---|
//! | 5.7+/Aurora | `2020-10-23T07:47:31.319556Z   30 Query\tCREATE TABLE …` (or `+08:00`) |
//! | old / MariaDB | `191015  9:46:45\t   13 Query\tSHOW …`, `051007 21:55:24\t     42 Connect     root@localhost on db1` |
//! | old, same second | `\t\t   13 Query\t…`, `                     51 Query       SELECT …` (no timestamp) |
//!
//! A line without a timestamp starts an entry only when a known command name (`Query`, `Connect`,
//! `Init DB`, …) follows the thread id, so that indented SQL is not mistaken for an entry; with a
//! timestamp any capitalised word is taken as the command. Every other line is part of the open
//! entry's argument (multi-line SQL). The server banner (`/rdsdbbin/…, Version: … started with:`,
//! `Tcp port: … Unix socket: …`, `Time                 Id Command    Argument`) belongs to no
//! entry.
//!
//! The old format writes the timestamp only when the second changes; an entry without one
//! inherits the previous entry's timestamp (the parser's only state). The old `yymmdd hh:mm:ss`
//! form is taken as UTC. Parsing is zero-copy.
//!
//! # Fields
//! * `_timestamp` — µs since the epoch, own or inherited (common field).
//! * `thread_id` — the connection id.
//! * `command` — `Query`, `Connect`, `Quit`, `Init DB`, `Execute`, … as written.
//! * `argument` — the rest, continuation lines included, trailing whitespace trimmed; omitted
//!   when empty (`Quit`).
//! * `user`, `client_host`, `db` — for `Connect` arguments of the form
//!   `user@host on db [using …]`.
//!
//! An entry that does not start with a general-log prefix (an orphan continuation at the top of a
//! file) keeps its text in `argument` and is flagged with `parse_error`.

use memchr::{memchr, memmem};

use crate::frame::{LineClass, LineClassifier, RawEntry};
use crate::json::RecordWriter;
use crate::num::parse_u64;
use crate::parser::{FormatEntry, FormatParser};
use crate::time::{parse_iso, parse_mysql_old};

/// The command names MySQL and MariaDB write (`COM_*`), longest first where one is a prefix of
/// another.
const COMMANDS: &[&[u8]] = &[
    b"Query",
    b"Connect Out",
    b"Connect",
    b"Quit",
    b"Init DB",
    b"Execute",
    b"Prepare",
    b"Close stmt",
    b"Reset stmt",
    b"Long Data",
    b"Fetch",
    b"Field List",
    b"Set option",
    b"Change user",
    b"Ping",
    b"Statistics",
    b"Processlist",
    b"Kill",
    b"Refresh",
    b"Shutdown",
    b"Debug",
    b"Sleep",
    b"Time",
    b"Create DB",
    b"Drop DB",
    b"Delayed insert",
    b"Binlog Dump GTID",
    b"Binlog Dump",
    b"Table Dump",
    b"Register Slave",
    b"Reset Connection",
    b"Daemon",
    b"Clone",
    b"Error",
    b"Bulk_execute",
    b"Slave_IO",
    b"Slave_SQL",
    b"Slave_worker",
];

/// Longest command word taken from a timestamped line that is not in [`COMMANDS`].
const MAX_COMMAND_BYTES: usize = 32;

/// Groups lines into entries; see the module docs.
#[derive(Debug, Default)]
pub struct Classifier;

impl LineClassifier for Classifier {
    fn classify(&mut self, line: &[u8]) -> LineClass {
        if super::is_start_banner(line) {
            LineClass::Skip
        } else if head(line, false).is_some() {
            LineClass::Start
        } else {
            LineClass::Continue
        }
    }
}

/// Whether a line is a general-log line: an entry start with a known command. Strict enough
/// not to claim error-log lines (`… 0 [Note] …`). (The server's start banner opens slow logs
/// too: it is not counted.)
pub fn looks_like_line(line: &[u8]) -> bool {
    head(line, true).is_some()
}

/// The prefix of an entry's first line.
#[derive(Debug, Clone, Copy)]
struct Head {
    timestamp_us: Option<i64>,
    thread_id: u64,
    command: (usize, usize),
    argument: usize,
}

fn skip_blanks(s: &[u8], mut at: usize) -> usize {
    while matches!(s.get(at), Some(b' ' | b'\t')) {
        at += 1;
    }
    at
}

/// Parse the prefix of `line`. `strict`: the command must be a known one even with a timestamp.
fn head(line: &[u8], strict: bool) -> Option<Head> {
    let (timestamp_us, n) = match line.first()? {
        b'0'..=b'9' => {
            let (ts, n) = parse_iso(line).or_else(|| parse_mysql_old(line))?;
            (Some(ts), n)
        }
        b' ' | b'\t' => (None, 0),
        _ => return None,
    };
    let at = skip_blanks(line, n);
    if at == n {
        return None;
    }
    let digits = line[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    let thread_id = parse_u64(&line[at..at + digits])?;
    let at = at + digits;
    if !matches!(line.get(at), Some(b' ' | b'\t')) {
        return None;
    }
    let cmd = at + 1;
    let rest = &line[cmd..];
    let ends_word = |len: usize| matches!(rest.get(len), None | Some(b' ' | b'\t' | b'\r'));
    let known = COMMANDS
        .iter()
        .find(|c| rest.starts_with(c) && ends_word(c.len()))
        .map(|c| c.len());
    let len = match known {
        Some(len) => len,
        None if timestamp_us.is_some() && !strict => {
            let len = rest
                .iter()
                .take_while(|b| b.is_ascii_alphabetic() || **b == b'_')
                .count();
            let capital = rest.first().is_some_and(u8::is_ascii_uppercase);
            if !capital || !(2..=MAX_COMMAND_BYTES).contains(&len) || !ends_word(len) {
                return None;
            }
            len
        }
        None => return None,
    };
    let after = cmd + len;
    let argument = if line.get(after) == Some(&b'\t') {
        after + 1
    } else {
        skip_blanks(line, after)
    };
    Some(Head {
        timestamp_us,
        thread_id,
        command: (cmd, after),
        argument,
    })
}

/// Parses entries; remembers the last timestamp for entries that have none.
#[derive(Debug, Default)]
pub struct Parser {
    last_timestamp_us: Option<i64>,
}

/// One general-log entry; see the module docs for the fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneralLogEntry<'a> {
    /// µs since the epoch (UTC), own or inherited.
    pub timestamp_us: Option<i64>,
    /// Connection id.
    pub thread_id: Option<u64>,
    /// Command name.
    pub command: Option<&'a [u8]>,
    /// Argument (SQL for `Query`), continuation lines included.
    pub argument: &'a [u8],
    /// User of a `Connect`.
    pub user: Option<&'a [u8]>,
    /// Client host of a `Connect`.
    pub client_host: Option<&'a [u8]>,
    /// Database of a `Connect`.
    pub db: Option<&'a [u8]>,
    /// Why the entry could not be parsed.
    pub error: Option<&'static str>,
}

impl FormatParser for Parser {
    type Classifier = Classifier;
    type Entry<'a> = GeneralLogEntry<'a>;

    fn parse<'a>(&'a mut self, raw: RawEntry<'a>) -> GeneralLogEntry<'a> {
        let text = raw.text;
        let first = &text[..memchr(b'\n', text).unwrap_or(text.len())];
        let mut e = GeneralLogEntry {
            timestamp_us: None,
            thread_id: None,
            command: None,
            argument: text.trim_ascii_end(),
            user: None,
            client_host: None,
            db: None,
            error: None,
        };
        let Some(h) = head(first, false) else {
            e.error = Some("no general-log prefix: a continuation line with no entry to join");
            return e;
        };
        if h.timestamp_us.is_some() {
            self.last_timestamp_us = h.timestamp_us;
        }
        e.timestamp_us = self.last_timestamp_us;
        e.thread_id = Some(h.thread_id);
        let command = &text[h.command.0..h.command.1];
        e.command = Some(command);
        e.argument = text[h.argument..].trim_ascii_end();
        if command == b"Connect" {
            connect_fields(e.argument, &mut e);
        }
        e
    }
}

/// `user@host on db [using …]` (or `user@host as  on db`) of a `Connect`.
fn connect_fields<'a>(arg: &'a [u8], e: &mut GeneralLogEntry<'a>) {
    let first = &arg[..memchr(b'\n', arg).unwrap_or(arg.len())];
    let Some(sp) = memchr(b' ', first) else {
        return;
    };
    let who = &first[..sp];
    let Some(at) = memchr(b'@', who) else { return };
    let rest = &first[sp..];
    if !(rest.starts_with(b" on") || rest.starts_with(b" as")) {
        return;
    }
    e.user = Some(&who[..at]).filter(|u| !u.is_empty());
    e.client_host = Some(&who[at + 1..]).filter(|h| !h.is_empty());
    if let Some(p) = memmem::find(rest, b" on ") {
        let db = &rest[p + 4..];
        let db = &db[..memchr(b' ', db).unwrap_or(db.len())];
        e.db = Some(db.trim_ascii_end()).filter(|d| !d.is_empty());
    }
}

impl FormatEntry for GeneralLogEntry<'_> {
    fn timestamp_us(&self) -> Option<i64> {
        self.timestamp_us
    }

    fn parse_error(&self) -> Option<&'static str> {
        self.error
    }

    fn write_fields(&self, w: &mut RecordWriter<'_>) {
        w.opt_u64("thread_id", self.thread_id);
        w.opt_str("command", self.command);
        if !self.argument.is_empty() {
            w.str("argument", self.argument);
        }
        w.opt_str("user", self.user);
        w.opt_str("client_host", self.client_host);
        w.opt_str("db", self.db);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::LogFormat;

    fn records(input: &[u8]) -> Vec<serde_json::Value> {
        crate::parser::test_records(LogFormat::MysqlGeneral, input)
    }

    #[test]
    fn aurora_with_banner_and_multiline_query() {
        let r = records(b"/rdsdbbin/oscar/bin/mysqld, Version: 5.7.12-log (MySQL Community Server (GPL)). started with:\nTcp port: 3306  Unix socket: /tmp/mysql.sock\nTime                 Id Command    Argument\n2020-10-23T07:47:31.319556Z   30 Query\tCREATE TABLE customers (\n   C_Id INT,\n\n   Name varchar(9))\n2020-10-23T07:47:32.000000Z   31 Connect\tadmin@1.34.6.81 on  using SSL/TLS\n2020-10-23T07:47:33Z   31 Quit\t\n");
        assert_eq!(r.len(), 3);
        assert_eq!(r[0]["thread_id"], 30);
        assert_eq!(r[0]["command"], "Query");
        assert_eq!(
            r[0]["argument"],
            "CREATE TABLE customers (\n   C_Id INT,\n\n   Name varchar(9))"
        );
        assert_eq!(r[0]["_timestamp"], 1_603_439_251_319_556i64);
        assert_eq!(r[1]["command"], "Connect");
        assert_eq!(r[1]["argument"], "admin@1.34.6.81 on  using SSL/TLS");
        assert_eq!(r[1]["user"], "admin");
        assert_eq!(r[1]["client_host"], "1.34.6.81");
        assert!(r[1].get("db").is_none());
        assert_eq!(r[2]["command"], "Quit");
        assert!(r[2].get("argument").is_none());
        assert!(r.iter().all(|e| e.get("parse_error").is_none()));
    }

    #[test]
    fn old_format_inherits_timestamps() {
        let r = records(b"051007 21:55:24\t     42 Connect     root@localhost on db1\n\t\t                 42 Query       SELECT foo \n                         FROM tbl\n\t\t                 42 Quit\n\t\t                 11 Init DB     my_webstats\n061226 16:44:48\t     11 Quit       \n");
        assert_eq!(r.len(), 5);
        let ts = 1_128_722_124_000_000i64;
        assert_eq!(r[0]["_timestamp"], ts);
        assert_eq!(r[0]["db"], "db1");
        assert_eq!(r[0]["user"], "root");
        assert_eq!(r[1]["_timestamp"], ts);
        assert_eq!(
            r[1]["argument"],
            "SELECT foo \n                         FROM tbl"
        );
        assert_eq!(r[3]["command"], "Init DB");
        assert_eq!(r[3]["argument"], "my_webstats");
        assert_eq!(r[4]["thread_id"], 11);
        assert_ne!(r[4]["_timestamp"], ts);
    }

    #[test]
    fn spaces_only_old_format() {
        let r = records(b"100211  0:55:24      51 Query       SELECT category_id\n                FROM auction_category_map \n                     51 Query       SELECT auction_id\n                LIMIT 500\n");
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[1]["argument"],
            "SELECT auction_id\n                LIMIT 500"
        );
        assert_eq!(r[0]["_timestamp"], r[1]["_timestamp"]);
    }

    #[test]
    fn orphans_garbage_and_empty() {
        let r = records(b"   FROM t\n\t\t12345 Connect\tAccess denied for user 'nobody'@'localhost' (using password: NO)\n");
        assert_eq!(r.len(), 2);
        assert!(r[0].get("parse_error").is_some());
        assert!(r[1].get("_timestamp").is_none());
        assert!(r[1].get("user").is_none());
        assert!(records(b"").is_empty());
        for junk in [
            &b"\xff\xfe\x00"[..],
            b"\t",
            b"\t1",
            b"\t1 ",
            b"2020-10-23T07:47:31Z 1",
            b"191015  9:46:45\t 99999999999999999999999 Query\tx",
        ] {
            let _ = records(junk);
        }
        let r = records(b"2020-10-23T07:47:31Z 1 Query\tselect '\xff'");
        assert!(r[0]["parse_error"].as_str().unwrap().contains("utf-8"));
    }

    #[test]
    fn huge_query_is_cut_and_flagged() {
        let mut big = b"2020-10-23T07:47:31Z 1 Query\t".to_vec();
        big.extend(std::iter::repeat_n(b'x', 9 << 20));
        big.extend_from_slice(b"\n2020-10-23T07:47:31Z 2 Quit\t\n");
        let r = records(&big);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0]["truncated"], true);
        assert_eq!(r[1]["thread_id"], 2);
    }

    #[test]
    fn detection_is_strict() {
        assert!(looks_like_line(
            b"2020-10-23T07:47:31.319556Z   30 Query\tCREATE TABLE"
        ));
        assert!(looks_like_line(
            b"191015  9:46:45\t    13 Query\tSHOW STATUS"
        ));
        // The banner opens slow logs too: detection does not count it.
        assert!(!looks_like_line(
            b"Time                 Id Command    Argument"
        ));
        assert!(crate::mysql::is_start_banner(
            b"Time                 Id Command    Argument"
        ));
        assert!(!looks_like_line(
            b"2016-12-09T12:08:33.335060Z 0 [Warning] x"
        ));
        assert!(!looks_like_line(b"2019-10-16 17:24:15 0 [Note] InnoDB: x"));
        assert!(!looks_like_line(b"161209 14:18:50  InnoDB: x"));
        assert!(!looks_like_line(
            b"2022-10-05 22:05:52 UTC:10.0.0.1(5432):u@d:[123]:LOG:  x"
        ));
        assert!(!looks_like_line(b"   FROM t"));
    }
}
