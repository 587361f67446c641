//! Conformance of the MySQL error, general and audit parsers against public corpora (Filebeat's
//! mysql/error module tests, percona-toolkit's errlog and genlog samples), plus chunk-split
//! invariance property tests on generated logs of each kind.

mod common;

use parsers::{Flow, Limits, LogFormat, LogParser};
use proptest::prelude::*;
use serde_json::Value;

const FB_E: &str = "beats/filebeat/module/mysql/error/test/";
const PT: &str = "percona-toolkit/t/lib/samples/";

/// µs since the epoch of an ISO timestamp written by Filebeat (`2016-12-09T12:08:33.335Z`).
fn iso_us(s: &str) -> i64 {
    parsers::time::parse_iso(s.as_bytes())
        .unwrap_or_else(|| panic!("bad timestamp {s}"))
        .0
}

fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// Check our records against one Filebeat expected file; returns (events compared, joined).
fn compare_filebeat(input: &str, expected: &str, tz_offset_us: i64) -> Option<(usize, usize)> {
    let bytes = common::corpus_bytes(&format!("{FB_E}{input}"))?;
    let want: Vec<Value> =
        serde_json::from_slice(&common::corpus_bytes(&format!("{FB_E}{expected}"))?).unwrap();
    let got = common::records(LogFormat::MysqlError, &bytes);
    let (mut compared, mut joined) = (0, 0);
    for (i, w) in want.iter().enumerate() {
        let offset = w["log.offset"].as_u64().unwrap();
        let fb_msg = s(w, "message").unwrap();
        let Some(ts) = s(w, "@timestamp") else {
            // Filebeat emits a continuation line that has no timestamp (`Version: '5.7.10' …`
            // after `ready for connections.`) as an event of its own with no time. It is part
            // of the entry before it, and we join it there: no record of ours starts at its
            // offset, and the previous record's `msg` ends with it.
            assert!(
                got.iter().all(|g| g["log_offset"].as_u64() != Some(offset)),
                "{input}@{offset} not joined"
            );
            let prev = got
                .iter()
                .rev()
                .find(|g| g["log_offset"].as_u64().unwrap() < offset)
                .unwrap();
            assert!(
                s(prev, "msg").unwrap().ends_with(&format!("\n{fb_msg}")),
                "{input}@{offset}: {prev}"
            );
            joined += 1;
            continue;
        };
        let g = got
            .iter()
            .find(|g| g["log_offset"].as_u64() == Some(offset))
            .unwrap_or_else(|| panic!("{input}: no record at offset {offset}"));
        let ctx = format!("{input}@{offset}");
        // Filebeat keeps milliseconds; we keep the log's microseconds. Old-form (5.5) lines
        // carry local time with no zone: Filebeat's test pins the zone to `event.timezone`
        // (-02:00), we take them as UTC (what RDS and Aurora run on), hence `tz_offset_us`.
        let ours = g["_timestamp"].as_i64().unwrap();
        assert_eq!(
            ours / 1000 * 1000 - tz_offset_us,
            iso_us(ts),
            "{ctx} timestamp"
        );
        if let Some(full) = s(w, "mysql.error.timestamp").filter(|t| t.contains('T')) {
            assert_eq!(ours, iso_us(full), "{ctx} full timestamp");
        }
        assert_eq!(
            s(g, "level"),
            s(w, "log.level").map(str::to_ascii_lowercase).as_deref(),
            "{ctx} level"
        );
        let thread = w
            .get("process.thread.id")
            .or(w.get("mysql.thread_id"))
            .and_then(Value::as_u64);
        assert_eq!(g["thread_id"].as_u64(), thread, "{ctx} thread id");
        assert_eq!(s(g, "error_code"), s(w, "event.code"), "{ctx} code");
        assert_eq!(s(g, "subsystem"), s(w, "event.provider"), "{ctx} subsystem");
        // Filebeat keeps the 8.0 `[MY-…] [Server] ` prefix in its message; our `msg` is the text
        // after it (the code and subsystem have their own fields).
        let mut expect = fb_msg.to_owned();
        if let (Some(code), Some(sub)) = (s(w, "event.code"), s(w, "event.provider")) {
            expect = fb_msg
                .strip_prefix(&format!("[{code}] [{sub}] "))
                .unwrap()
                .to_owned();
        }
        // The timestamp-less event Filebeat emits next is joined into ours (see above).
        if let Some(next) = want.get(i + 1).filter(|n| n.get("@timestamp").is_none()) {
            expect = format!("{expect}\n{}", s(next, "message").unwrap());
        }
        assert_eq!(s(g, "msg"), Some(expect.as_str()), "{ctx} msg");
        // Where Filebeat extracts a user or address we must agree. We also read `user: '…'` and
        // `host: '<ip>'` of `Aborted connection` lines, which Filebeat leaves in the message.
        let extra = fb_msg.starts_with("Aborted connection");
        if s(w, "user.name").is_some() || !extra {
            assert_eq!(s(g, "user"), s(w, "user.name"), "{ctx} user");
        } else {
            assert_eq!(s(g, "user"), Some("sherlock"), "{ctx} user");
        }
        if s(w, "source.ip").is_some() || !extra {
            assert_eq!(s(g, "client_ip"), s(w, "source.ip"), "{ctx} client ip");
        }
        assert!(g.get("parse_error").is_none(), "{ctx} parse_error");
        compared += 1;
    }
    assert_eq!(got.len() + joined, want.len(), "{input}: record count");
    Some((compared, joined))
}

#[test]
fn filebeat_error_expected() {
    if let Some(r) = compare_filebeat("error.log", "error.log-expected.json", 0) {
        assert_eq!(r, (8, 1));
    }
    if let Some(r) = compare_filebeat(
        "mysql-ubuntu-8.0.15.log",
        "mysql-ubuntu-8.0.15.log-expected.json",
        0,
    ) {
        assert_eq!(r, (14, 0));
    }
    let two_hours = 2 * 3600 * 1_000_000;
    let r = compare_filebeat(
        "mysql-ubuntu-5.5.53-extented.log",
        "mysql-ubuntu-5.5.53-extented.log-expected.json",
        -two_hours,
    );
    assert!(r.is_none() || r == Some((1, 0)));
}

/// Whether a line opens an error-log entry, by a naive reading independent of the parser: a
/// `yymmdd h:mm:ss` or `YYYY-MM-DD[T ]hh:mm:ss` stamp followed by text.
fn naive_error_start(line: &str) -> bool {
    let b = line.as_bytes();
    let d = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    let rest = if (0..4).all(d) && b.get(4) == Some(&b'-') && b.len() > 19 {
        let mut i = 19;
        while i < b.len() && !matches!(b[i], b' ' | b'\t') {
            i += 1; // fraction and zone
        }
        &line[i..]
    } else if (0..6).all(d) && b.get(6) == Some(&b' ') {
        let t = line[7..].trim_start();
        match t.find(':') {
            Some(c) if c <= 2 && t.len() >= c + 6 => &t[c + 6..],
            _ => return false,
        }
    } else {
        return false;
    };
    let rest = rest.trim_start();
    !rest.is_empty() && !rest.starts_with("0x")
}

fn check_error_counts(rel: &str) -> Option<(usize, usize)> {
    let bytes = common::corpus_bytes(rel)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines = text.lines().peekable();
    // A file that starts with continuation lines yields one orphan entry, flagged.
    let orphan = lines
        .peek()
        .is_some_and(|l| !l.trim().is_empty() && !naive_error_start(l));
    let starts = text.lines().filter(|l| naive_error_start(l)).count();
    let got = common::records(LogFormat::MysqlError, &bytes);
    assert_eq!(got.len(), starts + usize::from(orphan), "{rel}: entries");
    let flagged = got
        .iter()
        .filter(|g| g.get("parse_error").is_some())
        .count();
    assert_eq!(flagged, usize::from(orphan), "{rel}: parse errors");
    for g in &got {
        assert!(
            g.get("_timestamp").is_some() || g.get("parse_error").is_some(),
            "{rel}: {g}"
        );
    }
    Some((got.len(), flagged))
}

#[test]
fn error_logs_without_expected_files() {
    let mut total = 0;
    for f in ["mariadb-10.4.8.log", "mysql-ubuntu-5.5.53.log"] {
        total += check_error_counts(&format!("{FB_E}{f}")).map_or(0, |c| c.0);
    }
    // patterns.txt in that folder is pt-error-log's pattern list, not a log.
    for i in 1..=10 {
        total += check_error_counts(&format!("{PT}errlogs/errlog{i:03}.txt")).map_or(0, |c| c.0);
    }
    eprintln!("error-log entries checked: {total}");
}

#[test]
fn mariadb_error_log_details() {
    let Some(bytes) = common::corpus_bytes(&format!("{FB_E}mariadb-10.4.8.log")) else {
        return;
    };
    let got = common::records(LogFormat::MysqlError, &bytes);
    // The general-log line at the top is a foreign line with a valid old-form stamp: kept as an
    // entry of its own (thread 13), not flagged.
    assert_eq!(got[0]["thread_id"], 13);
    let ready = got
        .iter()
        .find(|g| s(g, "msg").is_some_and(|m| m.starts_with("/usr/sbin/mysqld: ready")))
        .unwrap();
    assert!(s(ready, "msg").unwrap().ends_with("MariaDB Server"));
    let err = got.iter().find(|g| g["level"] == "error").unwrap();
    assert_eq!(err["thread_id"], 12);
    assert_eq!(err["_timestamp"], iso_us("2019-10-16T17:25:43Z"));
}

/// (thread id, command) of every entry, as pt's GeneralLogParser reads these samples.
fn general_expect(name: &str) -> Vec<(u64, &'static str)> {
    let pt001 = vec![
        (42, "Connect"),
        (42, "Query"),
        (42, "Quit"),
        (11, "Connect"),
        (11, "Init DB"),
        (11, "Query"),
        (11, "Quit"),
    ];
    match name {
        "genlog001.txt" | "genlog003.txt" => pt001,
        "genlog002.txt" => vec![(51, "Query"), (51, "Query")],
        "genlog004.txt" => vec![
            (12345, "Connect"),
            (12345, "Connect"),
            (31519, "Query"),
            (98765, "Connect"),
        ],
        _ => unreachable!(),
    }
}

#[test]
fn percona_genlogs() {
    for name in [
        "genlog001.txt",
        "genlog002.txt",
        "genlog003.txt",
        "genlog004.txt",
    ] {
        let Some(bytes) = common::corpus_bytes(&format!("{PT}genlogs/{name}")) else {
            continue;
        };
        let got = common::records(LogFormat::MysqlGeneral, &bytes);
        let pairs: Vec<(u64, &str)> = got
            .iter()
            .map(|g| (g["thread_id"].as_u64().unwrap(), s(g, "command").unwrap()))
            .collect();
        assert_eq!(pairs, general_expect(name), "{name}");
        assert!(got.iter().all(|g| g.get("parse_error").is_none()), "{name}");
        if name == "genlog004.txt" {
            // No timestamp anywhere in the file: none inherited.
            assert!(got.iter().all(|g| g.get("_timestamp").is_none()));
        } else {
            assert!(got.iter().all(|g| g.get("_timestamp").is_some()), "{name}");
        }
    }
    if let Some(bytes) = common::corpus_bytes(&format!("{PT}genlogs/genlog001.txt")) {
        let got = common::records(LogFormat::MysqlGeneral, &bytes);
        assert_eq!(got[1]["argument"], "SELECT foo \n                         FROM tbl\n                         WHERE col=12345\n                         ORDER BY col");
        assert_eq!(got[1]["_timestamp"], got[0]["_timestamp"]);
        assert_eq!(got[4]["argument"], "my_webstats");
        assert_eq!(got[6]["_timestamp"], iso_us("2006-12-26T16:44:48Z"));
    }
    if let Some(bytes) = common::corpus_bytes(&format!("{PT}genlogs/genlog002.txt")) {
        let got = common::records(LogFormat::MysqlGeneral, &bytes);
        assert!(s(&got[1], "argument").unwrap().ends_with("LIMIT 500"));
    }
}

#[test]
fn percona_genlogs_with_banner() {
    for (name, zone_us) in [
        ("genlog005.txt", 0i64),
        ("pt-1573-general-log-system.log", 8 * 3600 * 1_000_000),
    ] {
        let Some(bytes) = common::corpus_bytes(&format!("{PT}genlogs/{name}")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        let naive = text
            .lines()
            .filter(|l| l.starts_with("20") && l.as_bytes().get(10) == Some(&b'T'))
            .count();
        let got = common::records(LogFormat::MysqlGeneral, &bytes);
        assert_eq!(got.len(), naive, "{name}");
        assert!(got.iter().all(|g| g.get("parse_error").is_none()));
        // Every entry's thread id and command as written on its line.
        for (g, line) in got.iter().zip(text.lines().filter(|l| l.starts_with("20"))) {
            let mut parts = line.split_whitespace();
            let _ts = parts.next();
            assert_eq!(
                g["thread_id"].as_u64(),
                parts.next().and_then(|t| t.parse().ok()),
                "{name}: {line}"
            );
            assert_eq!(s(g, "command"), parts.next(), "{name}: {line}");
        }
        let first = text.lines().find(|l| l.starts_with("20")).unwrap();
        // 26 bytes: the stamp without its zone, read as UTC, then shifted by the zone.
        let naive_ts = iso_us(&first[..26]) - zone_us;
        assert_eq!(got[0]["_timestamp"].as_i64().unwrap(), naive_ts, "{name}");
    }
}

/// Feed `input` split at `cuts` and return the NDJSON.
fn ndjson_cut(format: LogFormat, input: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut out = bytes::BytesMut::new();
    let mut parser = LogParser::new(format, Limits::default());
    let mut sink = |e: &parsers::Entry<'_>| {
        e.write_record(&mut out, &[]);
        out.extend_from_slice(b"\n");
        Flow::Continue
    };
    let mut last = 0;
    for &c in cuts {
        parser.feed(&input[last..c], &mut sink);
        last = c;
    }
    parser.feed(&input[last..], &mut sink);
    parser.finish(&mut sink);
    out.to_vec()
}

fn error_line() -> impl Strategy<Value = String> {
    let msg = "[a-zA-Z0-9 .:'@=/_-]{0,40}";
    prop_oneof![
        (0u32..5000, msg)
            .prop_map(|(t, m)| format!("2016-12-09T12:08:33.{t:06}Z {t} [Warning] {m}\n")),
        (0u32..99, msg).prop_map(|(t, m)| format!(
            "2019-03-24T13:44:25.484123Z {t} [System] [MY-0{t:05}] [Server] {m}\n"
        )),
        msg.prop_map(|m| format!("2019-10-16 17:24:15 0 [Note] InnoDB: {m}\n")),
        msg.prop_map(|m| format!("161209 14:18:50  InnoDB: {m}\n")),
        msg.prop_map(|m| format!(
            "161209  4:18:50 [ERROR] Access denied for user '{m}'@'10.0.0.1'\n"
        )),
        msg.prop_map(|m| format!("InnoDB: {m}\n")),
        Just("Version: '5.7.10'  socket: '/tmp/mysql.sock'  port: 3306\n".to_owned()),
        Just("\n".to_owned()),
        Just("2021-03-04 10:11:12 0x7f12 INNODB MONITOR OUTPUT\r\n".to_owned()),
        msg.prop_map(|m| m + "\n"),
    ]
}

fn general_line() -> impl Strategy<Value = String> {
    let sql = "[a-zA-Z0-9 ,.'()=*]{0,40}";
    prop_oneof![
        (0u32..99, sql)
            .prop_map(|(t, q)| format!("2020-10-23T07:47:31.{t:06}Z   {t} Query\t{q}\n")),
        (0u32..99).prop_map(|t| format!(
            "2020-10-23T07:47:31.319556Z   {t} Connect\tadmin@1.34.6.81 on db using SSL/TLS\n"
        )),
        (0u32..99, sql).prop_map(|(t, q)| format!("191015  9:46:45\t   {t} Query\t{q}\n")),
        (0u32..99, sql).prop_map(|(t, q)| format!("\t\t   {t} Query\t{q}\n")),
        (0u32..99).prop_map(|t| format!("\t\t   {t} Quit\t\n")),
        sql.prop_map(|q| format!("    {q}\n")),
        Just("/rdsdbbin/oscar/bin/mysqld, Version: 5.7.12-log (MySQL). started with:\n".to_owned()),
        Just("Tcp port: 3306  Unix socket: /tmp/mysql.sock\n".to_owned()),
        Just("Time                 Id Command    Argument\n".to_owned()),
        Just("\n".to_owned()),
    ]
}

fn audit_line() -> impl Strategy<Value = String> {
    let sql = "[a-zA-Z0-9 ,.=*\"]{0,30}";
    prop_oneof![
        (0u64..1000, sql).prop_map(|(q, s)| format!("1653053459680124,c731-instance-1,admin,10.0.1.5,26,{q},QUERY,mydb,'{s} a=\\'x\\', b',0\n")),
        (0u64..1000, sql).prop_map(|(q, s)| format!("20200101 12:34:56,ip-10-1-0-50,rdsadmin,localhost,26,{q},QUERY,,'{s}\n  more {s}',0,SOCKET\n")),
        Just("1653053459680124,c731-instance-1,admin,10.0.1.5,26,0,CONNECT,,,0\n".to_owned()),
        Just("1653053459680124,c731-instance-1,admin,10.0.1.5,26,7,CREATE,world,customers,\n".to_owned()),
        Just("1653053459680124,h,u,c,1,2,QUERY,db,'unterminated\n".to_owned()),
        sql.prop_map(|s| s + "\n"),
        Just("\n".to_owned()),
    ]
}

fn log_of(line: impl Strategy<Value = String>) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(line, 0..30).prop_map(|v| v.concat().into_bytes())
}

fn cuts_for(len: usize, idx: &[prop::sample::Index]) -> Vec<usize> {
    let mut c: Vec<usize> = idx.iter().map(|i| i.index(len + 1)).collect();
    c.sort_unstable();
    c
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any chunking of an error log gives the same NDJSON as feeding it whole.
    #[test]
    fn error_chunking_is_invisible(input in log_of(error_line()), idx in proptest::collection::vec(any::<prop::sample::Index>(), 0..8)) {
        let whole = ndjson_cut(LogFormat::MysqlError, &input, &[]);
        prop_assert_eq!(&ndjson_cut(LogFormat::MysqlError, &input, &cuts_for(input.len(), &idx)), &whole);
        prop_assert_eq!(&common::ndjson_chunked(LogFormat::MysqlError, &input, 7), &whole);
    }

    /// Any chunking of a general log gives the same NDJSON as feeding it whole.
    #[test]
    fn general_chunking_is_invisible(input in log_of(general_line()), idx in proptest::collection::vec(any::<prop::sample::Index>(), 0..8)) {
        let whole = ndjson_cut(LogFormat::MysqlGeneral, &input, &[]);
        prop_assert_eq!(&ndjson_cut(LogFormat::MysqlGeneral, &input, &cuts_for(input.len(), &idx)), &whole);
        prop_assert_eq!(&common::ndjson_chunked(LogFormat::MysqlGeneral, &input, 5), &whole);
    }

    /// Any chunking of an audit log gives the same NDJSON as feeding it whole.
    #[test]
    fn audit_chunking_is_invisible(input in log_of(audit_line()), idx in proptest::collection::vec(any::<prop::sample::Index>(), 0..8)) {
        let whole = ndjson_cut(LogFormat::MysqlAudit, &input, &[]);
        prop_assert_eq!(&ndjson_cut(LogFormat::MysqlAudit, &input, &cuts_for(input.len(), &idx)), &whole);
        prop_assert_eq!(&common::ndjson_chunked(LogFormat::MysqlAudit, &input, 3), &whole);
    }

    /// Arbitrary bytes never panic any of the three parsers, and every record is valid JSON.
    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..600)) {
        for f in [LogFormat::MysqlError, LogFormat::MysqlGeneral, LogFormat::MysqlAudit] {
            let _ = common::records(f, &input);
        }
    }
}
