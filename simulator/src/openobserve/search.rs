//! `POST /api/{org}/_search`: just enough of OpenObserve's search to verify what arrived —
//! `SELECT * FROM "stream"` and `SELECT COUNT(*) FROM "stream"` over a `_timestamp` range, with
//! `ORDER BY _timestamp [ASC|DESC]` and `LIMIT n`. Any other SQL is a 400 naming what is supported.

use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::records::{normalize_stream_name, TIMESTAMP_FIELD};
use super::server::{admit, decode, error_answer, json_answer, read_body, Accepts, Answer};
use super::{lock, Shared};

/// Largest page the stand-in hands out, whatever `size` asks.
const MAX_PAGE: usize = 100_000;

#[derive(Debug, Deserialize)]
struct SearchRequest {
    query: SearchQuery,
}

#[derive(Debug, Deserialize)]
struct SearchQuery {
    sql: String,
    #[serde(default)]
    start_time: Option<i64>,
    #[serde(default)]
    end_time: Option<i64>,
    #[serde(default)]
    from: Option<i64>,
    #[serde(default)]
    size: Option<i64>,
}

/// The supported SQL, parsed.
#[derive(Debug, PartialEq)]
struct Select {
    stream: String,
    /// `Some(column name)` for `COUNT(*)`.
    count: Option<String>,
    ascending: bool,
    limit: Option<usize>,
}

const SUPPORTED: &str = "the stand-in's _search understands only SELECT * | SELECT COUNT(*) [AS name] FROM \"stream\" [ORDER BY _timestamp [ASC|DESC]] [LIMIT n]";

pub(crate) async fn handle(shared: &Arc<Shared>, org: String, req: Request<Incoming>) -> Answer {
    let started = Instant::now();
    let encoding = match admit(shared, &org, req.headers(), Accepts::PasswordOnly) {
        Ok(e) => e,
        Err(rejection) => return rejection.answer(),
    };
    let limit = shared.config.payload_limit_bytes;
    let body = match read_body(req.into_body(), limit)
        .await
        .and_then(|raw| decode(encoding, raw, limit))
    {
        Ok(body) => body,
        Err(rejection) => return rejection.answer(),
    };
    let request: SearchRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error_answer(
                StatusCode::BAD_REQUEST,
                &format!("Invalid search request: {e}"),
            )
        }
    };
    let query = request.query;
    let Some(select) = parse_sql(&query.sql) else {
        return error_answer(StatusCode::BAD_REQUEST, SUPPORTED);
    };
    let start = query.start_time.unwrap_or(i64::MIN);
    let end = query.end_time.unwrap_or(i64::MAX);
    let from = usize::try_from(query.from.unwrap_or(0)).unwrap_or(0);
    let size = match query.size {
        Some(s) if s >= 0 => usize::try_from(s).unwrap_or(MAX_PAGE).min(MAX_PAGE),
        _ => MAX_PAGE,
    };
    let size = select.limit.map_or(size, |l| l.min(size));
    let (hits, total) = lock(&shared.store).with_records(&org, &select.stream, |records| {
        let mut matched: Vec<_> = records
            .iter()
            .filter(|r| {
                r.get(TIMESTAMP_FIELD)
                    .and_then(Value::as_i64)
                    .is_some_and(|t| t >= start && t < end)
            })
            .collect();
        if let Some(column) = &select.count {
            return (vec![json!({ column.as_str(): matched.len() })], 1);
        }
        let ts =
            |r: &&serde_json::Map<String, Value>| r.get(TIMESTAMP_FIELD).and_then(Value::as_i64);
        if select.ascending {
            matched.sort_by_key(ts);
        } else {
            matched.sort_by_key(|r| std::cmp::Reverse(ts(r)));
        }
        let total = matched.len();
        let page = matched
            .into_iter()
            .skip(from)
            .take(size)
            .map(|r| Value::Object(r.clone()))
            .collect();
        (page, total)
    });
    let took = started.elapsed().as_millis() as u64;
    json_answer(
        StatusCode::OK,
        &json!({"took": took, "hits": hits, "total": total, "from": from, "size": size, "scan_records": total}),
    )
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Symbol(char),
}

fn tokenize(sql: &str) -> Option<Vec<Token>> {
    let mut tokens = Vec::new();
    let mut chars = sql.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let quoted: String = chars.by_ref().take_while(|&c| c != '"').collect();
            tokens.push(Token::Quoted(quoted));
        } else if c.is_alphanumeric() || c == '_' || c == ':' {
            let mut word = String::new();
            while let Some(&c) = chars
                .peek()
                .filter(|c| c.is_alphanumeric() || **c == '_' || **c == ':' || **c == '-')
            {
                word.push(c);
                chars.next();
            }
            tokens.push(Token::Word(word));
        } else {
            tokens.push(Token::Symbol(c));
            chars.next();
        }
    }
    Some(tokens)
}

fn parse_sql(sql: &str) -> Option<Select> {
    let tokens = tokenize(sql)?;
    let mut t = tokens.iter().peekable();
    let is_kw = |tok: Option<&&Token>, kw: &str| matches!(tok, Some(Token::Word(w)) if w.eq_ignore_ascii_case(kw));
    if !is_kw(t.next().as_ref(), "select") {
        return None;
    }
    let count = match t.next()? {
        Token::Symbol('*') => None,
        Token::Word(w) if w.eq_ignore_ascii_case("count") => {
            for expected in ['(', '*', ')'] {
                if t.next()? != &Token::Symbol(expected) {
                    return None;
                }
            }
            if is_kw(t.peek(), "as") {
                t.next();
                match t.next()? {
                    Token::Word(w) | Token::Quoted(w) => Some(w.clone()),
                    Token::Symbol(_) => return None,
                }
            } else {
                Some("count(*)".to_owned())
            }
        }
        _ => return None,
    };
    if !is_kw(t.next().as_ref(), "from") {
        return None;
    }
    let stream = match t.next()? {
        Token::Word(w) | Token::Quoted(w) => normalize_stream_name(w),
        Token::Symbol(_) => return None,
    };
    let mut select = Select {
        stream,
        count,
        ascending: false,
        limit: None,
    };
    if is_kw(t.peek(), "order") {
        t.next();
        if !is_kw(t.next().as_ref(), "by") || !is_kw(t.next().as_ref(), TIMESTAMP_FIELD) {
            return None;
        }
        if is_kw(t.peek(), "asc") || is_kw(t.peek(), "desc") {
            select.ascending = is_kw(t.next().as_ref(), "asc");
        }
    }
    if is_kw(t.peek(), "limit") {
        t.next();
        match t.next()? {
            Token::Word(n) => select.limit = Some(n.parse().ok()?),
            _ => return None,
        }
    }
    if matches!(t.peek(), Some(Token::Symbol(';'))) {
        t.next();
    }
    t.next().is_none().then_some(select)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_supported_sql() {
        let s = parse_sql("SELECT * FROM \"Slow-Log\"").unwrap();
        assert_eq!(
            s,
            Select {
                stream: "slow_log".into(),
                count: None,
                ascending: false,
                limit: None
            }
        );
        let s =
            parse_sql("select count(*) as n from logs order by _timestamp asc limit 5;").unwrap();
        assert_eq!(
            s,
            Select {
                stream: "logs".into(),
                count: Some("n".into()),
                ascending: true,
                limit: Some(5)
            }
        );
        assert_eq!(
            parse_sql("SELECT COUNT(*) FROM \"s\"")
                .unwrap()
                .count
                .as_deref(),
            Some("count(*)")
        );
        assert!(parse_sql("SELECT a FROM s").is_none());
        assert!(parse_sql("SELECT * FROM s WHERE a = 1").is_none());
        assert!(parse_sql("SELECT * FROM").is_none());
        assert!(parse_sql("").is_none());
    }
}
