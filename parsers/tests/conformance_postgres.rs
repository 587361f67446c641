//! Conformance of the PostgreSQL parsers (stderr and csvlog) against the shared corpora:
//!
//! * Filebeat's `postgresql/log` test files that come with `-expected.json`: our records agree
//!   with Filebeat's on field values. Filebeat emits each DETAIL/HINT/STATEMENT/… line as an
//!   event of its own, while we group it into the message it belongs to; so an expected event
//!   whose `log.offset` starts none of our records is compared with the matching *field* of the
//!   record that contains that offset (`DETAIL` → `detail`/`parameters`, `STATEMENT` →
//!   `statement`, …). `event.duration` (ns) comes from Filebeat through a float, which rounds
//!   (`112.337 ms` → `112336998`): it is compared to within 1 µs of our exact `duration_ms`.
//! * The other Filebeat files and the pgBadger fixtures (`.gz` ones gunzipped): entry counts and duration counts equal
//!   those of a naive line-by-line count computed here from the raw text, and no `parse_error`
//!   except the justified ones (a secondary line whose message is not in the file).
//! * honeytail's single-query cases whose `log_line_prefix` we support.
//! * Every corpus file parses to byte-identical NDJSON whatever the chunking.
mod common;

use parsers::LogFormat;
use serde_json::Value;

const FB: &str = "beats/filebeat/module/postgresql/log/test/";

fn records(format: LogFormat, input: &[u8]) -> Vec<Value> {
    let out = common::ndjson_chunked(format, input, usize::MAX);
    out.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("record is JSON"))
        .collect()
}

fn format_of(name: &str) -> LogFormat {
    if name.contains(".csv")
        || name.starts_with("weeknumber")
        || name.starts_with("anonymize")
        || name.starts_with("csv_")
    {
        LogFormat::PostgresqlCsv
    } else {
        LogFormat::Postgresql
    }
}

/// ISO 8601 `…Z` to µs, independently of the crate (days counted naively).
fn iso_us(s: &str) -> i64 {
    let n = |a: usize, b: usize| s[a..b].parse::<i64>().unwrap();
    let (y, mo, d, h, mi, sec) = (n(0, 4), n(5, 7), n(8, 10), n(11, 13), n(14, 16), n(17, 19));
    let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut days = (1970..y)
        .map(|yy| if leap(yy) { 366 } else { 365 })
        .sum::<i64>();
    let mdays = [
        31,
        if leap(y) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    days += mdays[..(mo - 1) as usize].iter().sum::<i64>() + d - 1;
    let frac = s[19..].strip_prefix('.').map_or(0, |f| {
        let digits: String = f.chars().take_while(char::is_ascii_digit).collect();
        format!("{digits:0<6}")[..6].parse::<i64>().unwrap()
    });
    ((days * 24 + h) * 60 + mi) * 60 * 1_000_000 + sec * 1_000_000 + frac
}

/// Our `duration_ms` (exact decimal text) in ns.
fn duration_ns(v: &Value) -> i64 {
    let text = v.to_string();
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    int.parse::<i64>().unwrap() * 1_000_000 + format!("{frac:0<6}")[..6].parse::<i64>().unwrap()
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Compare one Filebeat event with our record; returns the number of fields compared.
fn compare_event(file: &str, fb: &Value, ours: &Value) -> usize {
    let ctx = format!("{file} @{}: ours {ours}", fb["log.offset"]);
    let mut n = 0;
    if let Some(ts) = fb.get("@timestamp").and_then(Value::as_str) {
        assert_eq!(
            ours["_timestamp"].as_i64(),
            Some(iso_us(ts)),
            "@timestamp in {ctx}"
        );
        n += 1;
    }
    if let Some(ns) = fb.get("event.duration").and_then(Value::as_i64) {
        let ours_ns = duration_ns(&ours["duration_ms"]);
        assert!(
            (ours_ns - ns).abs() <= 1_000,
            "event.duration {ns} vs ours {ours_ns} in {ctx}"
        );
        n += 1;
    }
    let mut eq = |fb_key: &str, ours_val: Option<String>| {
        if let Some(want) = fb.get(fb_key) {
            assert_eq!(
                ours_val.as_deref(),
                Some(as_text(want).as_str()),
                "{fb_key} in {ctx}"
            );
            n += 1;
        }
    };
    let get = |k: &str| ours.get(k).map(as_text);
    eq("log.level", get("severity"));
    eq("process.pid", get("pid"));
    eq("user.name", get("user"));
    eq("postgresql.log.database", get("db"));
    eq("postgresql.log.query", get("statement"));
    eq("postgresql.log.query_step", get("statement_kind"));
    eq("postgresql.log.query_name", get("prepared_name"));
    eq("postgresql.log.sql_state_code", get("sqlstate"));
    eq("error.code", get("sqlstate"));
    eq("postgresql.log.client_addr", get("client_ip"));
    eq("postgresql.log.client_port", get("client_port"));
    eq("postgresql.log.session_id", get("session_id"));
    eq("postgresql.log.session_line_num", get("session_line_num"));
    eq("postgresql.log.command_tag", get("command_tag"));
    eq(
        "postgresql.log.virtual_transaction_id",
        get("virtual_transaction_id"),
    );
    eq("postgresql.log.transaction_id", get("transaction_id"));
    eq("postgresql.log.application_name", get("application_name"));
    eq(
        "postgresql.log.detail",
        get("parameters")
            .map(|p| format!("parameters: {p}"))
            .or_else(|| get("detail")),
    );
    // Filebeat's `message` is the query for csv query steps and the whole line for some stderr
    // ones; it is the message text otherwise.
    if fb.get("postgresql.log.query").is_none() && fb.get("postgresql.log.query_step").is_none() {
        eq("message", get("msg"));
    }
    n
}

/// A Filebeat secondary event (DETAIL, STATEMENT, …) against the field of the record it is in.
fn compare_secondary(file: &str, fb: &Value, ours: &Value) -> usize {
    let level = fb["log.level"].as_str().unwrap();
    let text = fb["message"].as_str().unwrap().replace("\n\t", "\n");
    let field = match level {
        "DETAIL" => {
            if let Some(p) = ours.get("parameters") {
                assert_eq!(
                    format!("parameters: {}", p.as_str().unwrap()),
                    text,
                    "{file} {fb}"
                );
                return 1;
            }
            "detail"
        }
        "HINT" => "hint",
        "CONTEXT" => "context",
        "STATEMENT" => "statement",
        "QUERY" => "internal_query",
        "LOCATION" => "location",
        other => panic!(
            "{file}: event at {} is inside our record {ours} but is a {other}",
            fb["log.offset"]
        ),
    };
    assert_eq!(
        ours[field].as_str(),
        Some(text.as_str()),
        "{field} of {ours} vs Filebeat {fb}"
    );
    if let Some(pid) = fb.get("process.pid") {
        assert_eq!(as_text(&ours["pid"]), as_text(pid));
    }
    1
}

#[test]
fn filebeat_expected_outputs() {
    let mut totals = (0, 0, 0, 0); // files, events, grouped events, fields
    for name in [
        "postgresql-10-default.log",
        "postgresql-10-min-duration-statement.log",
        "postgresql-11-parse-bind.csv.log",
    ] {
        let (Some(input), Some(expected)) = (
            common::corpus_bytes(&format!("{FB}{name}")),
            common::corpus_bytes(&format!("{FB}{name}-expected.json")),
        ) else {
            return;
        };
        let expected: Vec<Value> = serde_json::from_slice(&expected).unwrap();
        let ours = records(format_of(name), &input);
        totals.0 += 1;
        for fb in &expected {
            let offset = fb["log.offset"].as_u64().unwrap();
            totals.1 += 1;
            if let Some(r) = ours
                .iter()
                .find(|r| r["log_offset"].as_u64() == Some(offset))
            {
                if r.get("msg").is_none() && fb["log.level"] != "LOG" {
                    // A secondary line whose message is not in the file: an entry of its own.
                    assert!(r["parse_error"]
                        .as_str()
                        .unwrap()
                        .contains("without its message"));
                    totals.3 += compare_secondary(name, fb, r);
                    continue;
                }
                totals.3 += compare_event(name, fb, r);
            } else {
                let r = ours
                    .iter()
                    .rev()
                    .find(|r| r["log_offset"].as_u64().unwrap() < offset)
                    .expect("a record before");
                totals.2 += 1;
                totals.3 += compare_secondary(name, fb, r);
            }
        }
        // Every record of ours is some Filebeat event (none invented).
        for r in &ours {
            assert!(
                expected
                    .iter()
                    .any(|fb| fb["log.offset"] == r["log_offset"]),
                "{name}: extra record {r}"
            );
        }
    }
    eprintln!("filebeat conformance: {} files, {} events ({} grouped into their message), {} field values equal", totals.0, totals.1, totals.2, totals.3);
}

/// A naive count for a stderr log: a line starting with `YYYY-MM-DD HH:MM:SS` that has a
/// `SEVERITY:` word after it is a prefixed line; a prefixed primary line opens an entry, and so
/// does a prefixed secondary line whose `[pid` differs from the last prefixed line's.
struct NaiveStderr {
    entries: usize,
    durations: usize,
    orphans: usize,
}

fn naive_stderr(text: &str) -> NaiveStderr {
    const PRIMARY: [&str; 13] = [
        "LOG", "ERROR", "FATAL", "PANIC", "WARNING", "NOTICE", "INFO", "DEBUG", "DEBUG1", "DEBUG2",
        "DEBUG3", "DEBUG4", "DEBUG5",
    ];
    const SECONDARY: [&str; 6] = [
        "DETAIL",
        "HINT",
        "CONTEXT",
        "STATEMENT",
        "QUERY",
        "LOCATION",
    ];
    let mut out = NaiveStderr {
        entries: 0,
        durations: 0,
        orphans: 0,
    };
    let mut last_pid: Option<Option<String>> = None;
    let mut open = false;
    for line in text.lines() {
        let b = line.as_bytes();
        let stamped = b.len() > 19
            && b[..4].iter().all(u8::is_ascii_digit)
            && b[4] == b'-'
            && b[10] == b' '
            && b[13] == b':';
        let words: Vec<&str> = if stamped {
            line[19..].split([' ', ':']).collect()
        } else {
            Vec::new()
        };
        let sev = words
            .iter()
            .position(|w| PRIMARY.contains(w) || SECONDARY.contains(w));
        let Some(sev) = sev else {
            if !open && !line.trim().is_empty() && !line.contains("END OF LOG") {
                out.entries += 1;
                out.orphans += 1;
                open = true;
            }
            if line.contains("END OF LOG") {
                open = false;
            }
            continue;
        };
        let pid = line[19..]
            .split('[')
            .nth(1)
            .map(|s| {
                s.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            })
            .filter(|s| !s.is_empty());
        let secondary = SECONDARY.contains(&words[sev]);
        if !secondary || last_pid.as_ref() != Some(&pid) {
            out.entries += 1;
            out.orphans += usize::from(secondary);
            if !secondary && line.contains(":  duration: ") || line.contains(": duration: ") {
                out.durations += 1;
            }
        }
        last_pid = Some(pid);
        open = true;
    }
    out
}

/// A naive csv row count: a byte-by-byte scan that counts line ends outside quotes.
fn naive_csv_rows(text: &[u8]) -> usize {
    let (mut rows, mut in_q, mut blank) = (0, false, true);
    for &c in text {
        match c {
            b'"' => in_q = !in_q,
            b'\n' if !in_q => {
                rows += usize::from(!blank);
                blank = true;
                continue;
            }
            _ => {}
        }
        blank &= c.is_ascii_whitespace();
    }
    rows + usize::from(!blank)
}

fn check_counts(rel: &str, allow_orphans: bool) -> Option<Vec<Value>> {
    let mut input = common::corpus_bytes(rel)?;
    if rel.ends_with(".gz") {
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&input[..]), &mut plain)
            .expect("gunzip");
        input = plain;
    }
    let name = rel.rsplit('/').next().unwrap();
    let format = format_of(name);
    let ours = records(format, &input);
    let durations = ours
        .iter()
        .filter(|r| r.get("duration_ms").is_some())
        .count();
    let flagged: Vec<&Value> = ours
        .iter()
        .filter(|r| r.get("parse_error").is_some())
        .collect();
    match format {
        LogFormat::PostgresqlCsv => {
            assert_eq!(ours.len(), naive_csv_rows(&input), "{rel}: row count");
            let naive_durations = input.windows(12).filter(|w| w == b",\"duration: ").count();
            assert_eq!(durations, naive_durations, "{rel}: durations");
            assert!(flagged.is_empty(), "{rel}: flagged {flagged:#?}");
        }
        _ => {
            let naive = naive_stderr(&String::from_utf8_lossy(&input));
            assert_eq!(ours.len(), naive.entries, "{rel}: entry count");
            assert_eq!(durations, naive.durations, "{rel}: duration count");
            assert_eq!(
                flagged.len(),
                if allow_orphans { naive.orphans } else { 0 },
                "{rel}: flagged {flagged:#?}"
            );
        }
    }
    // Any chunking gives the same bytes.
    let whole = common::ndjson_chunked(format, &input, usize::MAX);
    for chunk in [1, 7, 64, 4093] {
        assert!(
            common::ndjson_chunked(format, &input, chunk) == whole,
            "{rel}: chunk size {chunk} changes the output"
        );
    }
    eprintln!(
        "{rel}: {} entries, {durations} with duration, {} flagged",
        ours.len(),
        flagged.len()
    );
    Some(ours)
}

#[test]
fn filebeat_files_counted_naively() {
    for name in [
        "postgresql-10-default.log",
        "postgresql-10-min-duration-statement.log",
        "postgresql-11-autovacuum.csv.log",
        "postgresql-11-connection-disconnection.csv.log",
        "postgresql-11-duration.csv.log",
        "postgresql-11-ipv6.csv.log",
        "postgresql-11-multi-line.csv.log",
        "postgresql-11-parse-bind.csv.log",
        "postgresql-11-start-stop.csv.log",
        "postgresql-11-tempfile.csv.log",
        "postgresql-11.4.log",
        "postgresql-12-default.log",
        "postgresql-12-min-duration-statement.log",
        "postgresql-13-default.log",
        "postgresql-13-error-code.csv.log",
        "postgresql-9.5-multi-core.log",
        "postgresql-9.6-debian-with-slowlog.log",
        "postgresql-9.6-multi-core.log",
        "postgresql-9.6-new-timestamp.log",
        "postgresql-query-steps-slowlog.log",
        "postgresql-ubuntu-9.5.log",
    ] {
        // Files that begin with (or interleave) a secondary line whose message is not there.
        check_counts(&format!("{FB}{name}"), true);
    }
}

#[test]
fn pgbadger_fixtures_counted_naively() {
    for name in [
        "anonymize.log",
        "begin_end.log",
        "csv_statement_without_duration.log",
        "multiline_param.log",
        "pg_rawcsv.log",
        "pg-timezones.log",
        "postgresql_param_range.log",
        "stmt_type.log",
        "weeknumber.log",
    ] {
        check_counts(&format!("pgbadger/t/fixtures/{name}"), true);
    }
}

/// The gzipped pgBadger fixtures in stderr format (`cnpg`/`cloudsql` are JSON-wrapped and
/// `logplex` is Heroku's format: not ours; `.bz2` ones are skipped, no bzip2 dev-dependency).
#[test]
fn pgbadger_gz_fixtures_counted_naively() {
    for name in [
        "queryid.log.gz",
        "pg_vacuums.log.gz",
        "tempfile_only.log.gz",
    ] {
        let Some(ours) = check_counts(&format!("pgbadger/t/fixtures/{name}"), true) else {
            return;
        };
        if name.starts_with("queryid") {
            assert!(
                ours.iter().all(|r| r["query_id"].is_i64()),
                "{name}: every line has [queryid=…]"
            );
        }
    }
}

#[test]
fn rds_head_has_user_db_and_pid() {
    let Some(ours) = check_counts("pgbadger/t/fixtures/rds.head-1000.log", false) else {
        return;
    };
    assert!(ours.len() > 900);
    for r in &ours {
        assert!(r["pid"].is_u64(), "{r}");
        let background = r["message"].as_str().unwrap().contains(" CET::@:[");
        if !background {
            assert!(r["user"].is_string() && r["db"].is_string(), "{r}");
        }
        assert_eq!(r["log_type"], "postgresql");
    }
}

#[test]
fn honeytail_single_query_cases() {
    let Some(cases) = common::corpus_bytes("honeytail/postgresql_single_query_cases.json") else {
        return;
    };
    let cases: Value = serde_json::from_slice(&cases).unwrap();
    let mut checked = 0;
    for case in cases["cases"].as_array().unwrap() {
        let prefix = case["log_line_prefix"].as_str().unwrap();
        // `%n` (epoch ms) and a prefix glued to the severity (`(%a)LOG:`) are not supported.
        if prefix.starts_with("%n") || prefix.ends_with(')') {
            continue;
        }
        let input = case["input"].as_str().unwrap();
        let ours = records(LogFormat::Postgresql, input.as_bytes());
        assert_eq!(ours.len(), 1, "{input}");
        let r = &ours[0];
        let want = &case["expected_fields"];
        assert_eq!(
            r["_timestamp"].as_i64(),
            Some(iso_us(case["expected_timestamp"].as_str().unwrap()))
        );
        assert_eq!(r["user"], want["user"]);
        assert_eq!(r["db"], want["database"]);
        assert_eq!(r["pid"], want["pid"]);
        assert_eq!(r["session_line_num"], want["session_line_number"]);
        assert_eq!(r["duration_ms"].as_f64(), want["duration_ms"].as_f64());
        // honeytail joins the lines of a statement with single spaces; we keep the newlines.
        let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(
            squash(r["statement"].as_str().unwrap()),
            squash(want["query"].as_str().unwrap())
        );
        checked += 1;
    }
    assert!(checked >= 3);
    eprintln!("honeytail: {checked} single-query cases checked");
}
