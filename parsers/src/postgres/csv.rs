//! The PostgreSQL csvlog (`log_destination = csvlog`; RDS/Aurora then also write stderr).
//!
//! # Brief overview
//! A row is 23 columns (PostgreSQL ≤ 12), 24 (13: `+backend_type`) or 26 (14+: `+leader_pid`,
//! `query_id`). Quoted fields use `""` for a quote and may hold newlines, so a row can span
//! physical lines: the [`Classifier`] tracks the quote state across lines. Outside quotes every
//! line starts a row (a blank one is skipped; a stray non-row line becomes a flagged entry of its
//! own). Inside quotes a line continues the row, unless — so that one unterminated quote cannot
//! swallow the rest of a file — it is *by itself* a complete, well-formed row beginning with a
//! timestamp; then it starts a row and the cut one is flagged.
//!
//! Fields are slices of the entry; only a field holding `""` is unescaped, into a reusable
//! parser buffer. Columns map to the same record fields as the stderr format where the meaning
//! is the same (see [the `postgres` module](super)): `user_name` → `user`, `database_name` →
//! `db`, `process_id` → `pid`, `connection_from` → `client_ip` + `client_port` (split at the
//! last `:`, so IPv6 `::1:16790` works), `error_severity` → `severity`, `sql_state_code` →
//! `sqlstate`, `message` → `msg`, `query` (the client statement, stderr's `STATEMENT:` line) →
//! `statement` when the message names none; the rest keep their documented names. A row with an
//! unexpected column count or an unterminated quote is flagged with `parse_error`; its raw text
//! is kept in `message`.

use crate::frame::{LineClass, LineClassifier, RawEntry};
use crate::num::parse_u64;
use crate::parser::FormatParser;
use crate::postgres::{parse_i64, query_fields, PgRecord, QueryBuffers, Span, StatementMemory};

/// The most columns a row has (PostgreSQL 14+).
const MAX_COLUMNS: usize = 26;

/// Groups physical lines into rows, tracking quotes across lines.
#[derive(Debug, Default)]
pub struct Classifier {
    in_quotes: bool,
}

impl LineClassifier for Classifier {
    fn classify(&mut self, line: &[u8]) -> LineClass {
        let odd_quotes = memchr::memchr_iter(b'"', line).count() % 2 == 1;
        if !self.in_quotes && line.iter().all(u8::is_ascii_whitespace) {
            return LineClass::Skip;
        }
        // Outside quotes a row cannot go on: every line starts one (a stray line is flagged).
        let starts = !self.in_quotes || (looks_like_row(line) && is_complete_row(line));
        if starts {
            self.in_quotes = odd_quotes;
            LineClass::Start
        } else {
            self.in_quotes ^= odd_quotes;
            LineClass::Continue
        }
    }
}

/// Whether a line starts a csvlog row: a `log_time` (quoted or not) and a comma.
pub fn looks_like_row(line: &[u8]) -> bool {
    let (s, quoted) = match line.strip_prefix(b"\"") {
        Some(s) => (s, true),
        None => (line, false),
    };
    let Some(end) = memchr::memchr(if quoted { b'"' } else { b',' }, s) else {
        return false;
    };
    if end > 64 || (quoted && s.get(end + 1) != Some(&b',')) {
        return false;
    }
    matches!(crate::time::parse_pg(&s[..end]), Some((_, n, _)) if n == end)
}

/// Whether `line` alone is a well-formed row (used to resynchronise after a runaway quote).
fn is_complete_row(line: &[u8]) -> bool {
    let mut spans = [Span::Raw(0, 0); MAX_COLUMNS];
    let mut scratch = Vec::new();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    matches!(
        split_row(line, &mut spans, &mut scratch, false),
        Ok(23..=26)
    )
}

/// Split a row into column spans (`""` unescaped into `buf` when `unescape`). Returns the column
/// count, or why the row is malformed.
fn split_row(
    text: &[u8],
    spans: &mut [Span; MAX_COLUMNS],
    buf: &mut Vec<u8>,
    unescape: bool,
) -> Result<usize, &'static str> {
    let mut n = 0;
    let mut i = 0;
    loop {
        if n == MAX_COLUMNS {
            return Err("csvlog row has more than 26 columns");
        }
        let (span, next) = if text.get(i) == Some(&b'"') {
            quoted_field(text, i + 1, buf, unescape)?
        } else {
            let end = memchr::memchr(b',', &text[i..]).map_or(text.len(), |k| i + k);
            (Span::Raw(i, end), end)
        };
        spans[n] = span;
        n += 1;
        match text.get(next) {
            None => return Ok(n),
            Some(b',') => i = next + 1,
            Some(_) => return Err("csvlog row has text after a closing quote"),
        }
    }
}

/// A quoted field whose text begins at `start`: (span, index after the closing quote).
fn quoted_field(
    text: &[u8],
    start: usize,
    buf: &mut Vec<u8>,
    unescape: bool,
) -> Result<(Span, usize), &'static str> {
    let mut i = start;
    let mut escaped = false;
    loop {
        let q = memchr::memchr(b'"', &text[i..])
            .map(|k| i + k)
            .ok_or("unterminated quoted field (row cut?)")?;
        if text.get(q + 1) == Some(&b'"') {
            escaped = true;
            i = q + 2;
            continue;
        }
        if !escaped || !unescape {
            return Ok((Span::Raw(start, q), q + 1));
        }
        let b = buf.len();
        let mut s = start;
        while s < q {
            match memchr::memchr(b'"', &text[s..q]) {
                Some(k) => {
                    buf.extend_from_slice(&text[s..s + k + 1]);
                    s += k + 2;
                }
                None => {
                    buf.extend_from_slice(&text[s..q]);
                    s = q;
                }
            }
        }
        return Ok((Span::Buf(b, buf.len()), q + 1));
    }
}

/// Parses csvlog rows; owns the unescape buffer, fingerprints and the statement pairing.
#[derive(Debug, Default)]
pub struct Parser {
    unescaped: Vec<u8>,
    query: QueryBuffers,
}

impl Parser {
    /// The pairing memory (its `evictions` counter tells how many statements were forgotten).
    pub fn statement_memory(&self) -> &StatementMemory {
        &self.query.memory
    }
}

/// One entry: its fields (the same record type for stderr and csvlog).
pub type CsvEntry<'a> = PgRecord<'a>;

impl FormatParser for Parser {
    type Classifier = Classifier;
    type Entry<'a> = CsvEntry<'a>;

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

    fn parse<'a>(&'a mut self, raw: RawEntry<'a>) -> CsvEntry<'a> {
        let text = raw.text.strip_suffix(b"\r").unwrap_or(raw.text);
        self.unescaped.clear();
        let mut spans = [Span::Raw(0, 0); MAX_COLUMNS];
        let result = split_row(text, &mut spans, &mut self.unescaped, true);
        let buf: &'a [u8] = &self.unescaped;
        let mut rec = PgRecord::default();
        let n = match result {
            Ok(n) => {
                if !(23..=26).contains(&n) {
                    rec.error = Some("csvlog row has an unexpected column count (want 23 to 26)");
                }
                n
            }
            Err(e) => {
                rec.error = Some(e);
                0
            }
        };
        let col = |i: usize| {
            (i < n)
                .then(|| spans[i].get(text, buf))
                .filter(|s| !s.is_empty())
        };
        let num = |i: usize| col(i).and_then(parse_u64);
        match col(0).map(|t| (t, crate::time::parse_pg(t))) {
            Some((t, Some((us, len, known)))) if len == t.len() => {
                rec.timestamp_us = Some(us);
                if !known && rec.error.is_none() {
                    rec.error = Some("unknown time zone abbreviation: timestamp taken as UTC");
                }
            }
            _ if rec.error.is_none() => rec.error = Some("csvlog row without a valid log_time"),
            _ => {}
        }
        rec.user = col(1);
        rec.db = col(2);
        rec.pid = num(3);
        if let Some(from) = col(4) {
            connection_from(from, &mut rec);
        }
        rec.session_id = col(5);
        rec.session_line_num = num(6);
        rec.command_tag = col(7);
        rec.session_start_time = col(8);
        rec.virtual_transaction_id = col(9);
        rec.transaction_id = num(10);
        rec.severity = col(11);
        rec.sqlstate = col(12);
        rec.msg = col(13);
        rec.detail = col(14);
        rec.hint = col(15);
        rec.internal_query = col(16);
        rec.internal_query_pos = num(17);
        rec.context = col(18);
        rec.statement_line = col(19);
        rec.query_pos = num(20);
        rec.location = col(21);
        rec.application_name = col(22);
        rec.backend_type = col(23);
        rec.leader_pid = num(24);
        rec.query_id = col(25).and_then(parse_i64);
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

/// `host:port` (IPv6 too: split at the last `:`), or `[local]`.
fn connection_from<'a>(from: &'a [u8], rec: &mut PgRecord<'a>) {
    match memchr::memrchr(b':', from) {
        Some(c) if parse_u64(&from[c + 1..]).is_some() && c > 0 => {
            rec.client_ip = Some(&from[..c]);
            rec.client_port = parse_u64(&from[c + 1..]);
        }
        _ => rec.client_ip = Some(from),
    }
}

#[cfg(test)]
mod tests {
    use crate::{parse_to_ndjson, Entry, Flow, Limits, LogFormat, LogParser};
    use proptest::prelude::*;

    fn records(input: &[u8]) -> Vec<serde_json::Value> {
        crate::parser::test_records(LogFormat::PostgresqlCsv, input)
    }

    const PARSE: &str = "2021-01-04 00:51:56.837 UTC,\"postgres\",\"postgres\",105,\"172.24.0.1:44618\",5ff26691.69,6,\"PARSE\",2021-01-04 00:51:29 UTC,3/135,0,LOG,00000,\"duration: 7.775 ms  parse py:0x7fde12d61b80: SELECT * from t WHERE n = $1\",,,,,,,,,\"\"\n";

    #[test]
    fn pg12_row_with_duration_and_prepared_name() {
        let r = &records(PARSE.as_bytes())[0];
        assert_eq!(r["_timestamp"], 1_609_721_516_837_000i64);
        assert_eq!(
            (r["user"].as_str(), r["db"].as_str(), r["pid"].as_u64()),
            (Some("postgres"), Some("postgres"), Some(105))
        );
        assert_eq!(
            (r["client_ip"].as_str(), r["client_port"].as_u64()),
            (Some("172.24.0.1"), Some(44618))
        );
        assert_eq!(
            (r["session_id"].as_str(), r["session_line_num"].as_u64()),
            (Some("5ff26691.69"), Some(6))
        );
        assert_eq!(
            (
                r["command_tag"].as_str(),
                r["virtual_transaction_id"].as_str(),
                r["transaction_id"].as_u64()
            ),
            (Some("PARSE"), Some("3/135"), Some(0))
        );
        assert_eq!(
            (r["severity"].as_str(), r["sqlstate"].as_str()),
            (Some("LOG"), Some("00000"))
        );
        assert_eq!(r["duration_ms"].to_string(), "7.775");
        assert_eq!(
            (r["statement_kind"].as_str(), r["prepared_name"].as_str()),
            (Some("parse"), Some("py:0x7fde12d61b80"))
        );
        assert_eq!(r["statement"], "SELECT * from t WHERE n = $1");
        assert!(r.get("application_name").is_none() && r.get("parse_error").is_none());
    }

    #[test]
    fn ipv6_quotes_and_multiline_rows() {
        let input = "2021-01-03 17:45:17.612 UTC,\"jose.villanova\",\"postgres\",20460,\"::1:16790\",5ff202ad.4fec,1,\"startup\",2021-01-03 17:45:17 UTC,3/15493200,0,FATAL,28000,\"role \"\"jose.villanova\"\" does not exist\",,,,,,,,,\"\"\n\
2021-01-04 00:22:01.903 UTC,\"postgres\",\"postgres\",59,\"172.24.0.1:42642\",5ff25f96.3b,3,\"SELECT\",2021-01-04 00:21:42 UTC,3/0,0,LOG,00000,\"duration: 0.658 ms  statement: SELECT 'multi',\n2021-01-04 00:22:01.903 UTC,'line';\",,,,,,,,,\"psql\",\"client backend\"\n";
        let r = records(input.as_bytes());
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0]["client_ip"].as_str(), r[0]["client_port"].as_u64()),
            (Some("::1"), Some(16790))
        );
        assert_eq!(r[0]["msg"], "role \"jose.villanova\" does not exist");
        assert_eq!(r[0]["sqlstate"], "28000");
        assert_eq!(
            r[1]["statement"],
            "SELECT 'multi',\n2021-01-04 00:22:01.903 UTC,'line';"
        );
        assert_eq!(
            (
                r[1]["application_name"].as_str(),
                r[1]["backend_type"].as_str()
            ),
            (Some("psql"), Some("client backend"))
        );
    }

    #[test]
    fn pg14_columns_and_quoted_log_time() {
        let input = "\"2026-05-16 05:20:03.994 UTC\",\"u\",\"d\",1002,\"192.0.2.20:54322\",00000002.000003ea,2,\"idle\",\"2026-05-16 05:00:00 UTC\",2/2,0,LOG,00000,\"statement: SELECT 1\",,,,,,,,,\"app\",\"client backend\",7,-5520\n";
        let r = &records(input.as_bytes())[0];
        assert_eq!(
            (r["leader_pid"].as_u64(), r["query_id"].as_i64()),
            (Some(7), Some(-5520))
        );
        assert_eq!(r["statement"], "SELECT 1");
        assert!(r.get("parse_error").is_none(), "{r}");
    }

    #[test]
    fn bad_rows_are_flagged_and_kept() {
        let r = records(b"2021-01-04 00:22:01.903 UTC,a,b\ngarbage line\n2021-01-04 00:22:01.903 UTC,\"unterminated\n");
        assert_eq!(r.len(), 3);
        assert!(r[0]["parse_error"]
            .as_str()
            .unwrap()
            .contains("column count"));
        assert!(r[1]["parse_error"].is_string());
        assert_eq!(r[1]["message"], "garbage line");
        assert!(r[2]["parse_error"]
            .as_str()
            .unwrap()
            .contains("unterminated"));
    }

    #[test]
    fn invalid_utf8_unknown_zone_and_a_last_row_without_newline() {
        let input = b"2021-01-04 00:22:01.903 XYZT,\"caf\xe9\",,1,,s,1,,2021-01-04 00:21:42 UTC,,0,LOG,00000,\"m\",,,,,,,,,\"\"\n\
2021-01-04 00:22:01.903 UTC,,,1,,s,1,,2021-01-04 00:21:42 UTC,,0,LOG,00000,\"last\",,,,,,,,,\"\"";
        let r = records(input);
        assert_eq!(r.len(), 2);
        assert!(r[0]["parse_error"].as_str().unwrap().contains("time zone"));
        assert_eq!(r[0]["user"], "caf\u{FFFD}");
        assert_eq!(r[1]["msg"], "last");
        assert!(r[1].get("parse_error").is_none());
    }

    #[test]
    fn runaway_quote_resyncs_on_a_complete_row() {
        let input = format!("2021-01-04 00:22:01.903 UTC,\"x\n{PARSE}{PARSE}");
        let r = records(input.as_bytes());
        assert_eq!(r.len(), 3);
        assert!(r[0]["parse_error"].is_string());
        assert!(r[1].get("parse_error").is_none() && r[2].get("parse_error").is_none());
    }

    #[test]
    fn pairs_statement_and_duration_rows() {
        let input = "2021-01-04 00:17:53.742 UTC,\"p\",\"p\",54,,s,6,\"idle\",2021-01-04 00:17:40 UTC,3/0,0,LOG,00000,\"statement: select pg_reload_conf();\",,,,,,,,,\"psql\"\n\
2021-01-04 00:17:53.742 UTC,\"p\",\"p\",54,,s,7,\"SELECT\",2021-01-04 00:17:40 UTC,3/0,0,LOG,00000,\"duration: 6.589 ms\",,,,,,,,,\"psql\"\n";
        let r = records(input.as_bytes());
        assert_eq!(r[1]["statement"], "select pg_reload_conf();");
        assert_eq!(r[1]["duration_ms"].to_string(), "6.589");
    }

    fn log_strategy() -> impl Strategy<Value = String> {
        let row = prop_oneof![
            Just(PARSE),
            Just("2021-01-04 00:22:01.903 UTC,\"postgres\",\"postgres\",59,\"172.24.0.1:42642\",5ff25f96.3b,3,\"SELECT\",2021-01-04 00:21:42 UTC,3/0,0,LOG,00000,\"duration: 0.658 ms  statement: SELECT 'multi',\n'line' \"\"q\"\";\",,,,,,,,,\"psql\"\n"),
            Just("2021-01-04 00:37:32.862 UTC,,,87,,5ff2634c.57,1,,2021-01-04 00:37:32 UTC,4/43,0,LOG,00000,\"automatic vacuum: 1\npages: 0 removed\n\",,,,,,,,,\"\"\n"),
            Just("garbage\n"),
            Just("\n"),
            Just("2021-01-04 00:22:01.903 UTC,\"cut\n"),
        ];
        proptest::collection::vec(row, 0..20).prop_map(|v| v.concat())
    }

    proptest! {
        /// Splitting the input anywhere gives byte-identical records.
        #[test]
        fn chunk_split_invariance(log in log_strategy(), mut cuts in proptest::collection::vec(0usize..3000, 0..8)) {
            cuts.sort_unstable();
            let whole = parse_to_ndjson(LogFormat::PostgresqlCsv, log.as_bytes()).to_vec();
            let mut out = bytes::BytesMut::new();
            let mut parser = LogParser::new(LogFormat::PostgresqlCsv, Limits::default());
            let mut sink = |e: &Entry<'_>| {
                e.write_record(&mut out, &[]);
                out.extend_from_slice(b"\n");
                Flow::Continue
            };
            let input = log.as_bytes();
            let mut at = 0;
            for c in cuts {
                let c = c.min(input.len()).max(at);
                parser.feed(&input[at..c], &mut sink);
                at = c;
            }
            parser.feed(&input[at..], &mut sink);
            parser.finish(&mut sink);
            prop_assert_eq!(out.to_vec(), whole);
        }

        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_to_ndjson(LogFormat::PostgresqlCsv, &bytes);
        }
    }
}
