//! What OpenObserve does to one record before it keeps it: stream and field name normalization,
//! flattening, `_timestamp` parsing. Free functions over values, no I/O, so each rule has a unit
//! test next to it.

use serde_json::{Map, Value};

/// Nested objects are flattened to this many key levels; deeper objects become JSON strings
/// (OpenObserve's `ZO_INGEST_FLATTEN_LEVEL` default).
pub(crate) const FLATTEN_LEVEL: usize = 3;

/// The field OpenObserve orders and partitions by.
pub(crate) const TIMESTAMP_FIELD: &str = "_timestamp";

/// Stream name as OpenObserve stores it: runs of `[^a-zA-Z0-9_:]` become one `_`, then lowercase.
pub fn normalize_stream_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            out.push(c.to_ascii_lowercase());
            in_run = false;
        } else if !in_run {
            out.push('_');
            in_run = true;
        }
    }
    out
}

/// Field name as OpenObserve stores it: uppercase lowercased, then every char outside
/// `[a-z0-9_]` becomes `_` (one `_` per char: runs are not collapsed).
pub fn normalize_field_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Flattens one record: keys normalized and joined with `_` up to [`FLATTEN_LEVEL`] levels,
/// deeper objects and every array as their JSON text, nulls and empty objects dropped.
pub(crate) fn flatten(record: Map<String, Value>) -> Map<String, Value> {
    let mut flat = Map::new();
    flatten_into(record, "", 1, &mut flat);
    flat
}

fn flatten_into(
    object: Map<String, Value>,
    prefix: &str,
    level: usize,
    flat: &mut Map<String, Value>,
) {
    for (key, value) in object {
        let key = normalize_field_name(&key);
        let key = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}_{key}")
        };
        match value {
            Value::Null => {}
            Value::Object(inner) if level < FLATTEN_LEVEL => {
                flatten_into(inner, &key, level + 1, flat)
            }
            Value::Object(inner) if inner.is_empty() => {}
            nested @ (Value::Object(_) | Value::Array(_)) => {
                flat.insert(key, Value::String(nested.to_string()));
            }
            scalar => {
                flat.insert(key, scalar);
            }
        }
    }
}

/// Integer timestamp to microseconds by magnitude, as the real server reads it: the contract asks
/// for microseconds, but seconds, milliseconds and nanoseconds are recognised too.
pub(crate) fn int_to_micros(v: i64) -> i64 {
    const NS_FROM: i64 = 1_000_000_000_000_000_000; // 1e18: nanoseconds after 2001
    const US_FROM: i64 = 1_000_000_000_000_000; // 1e15
    const MS_FROM: i64 = 1_000_000_000_000; // 1e12
    let magnitude = v.unsigned_abs();
    if magnitude >= NS_FROM as u64 {
        v / 1000
    } else if magnitude >= US_FROM as u64 {
        v
    } else if magnitude >= MS_FROM as u64 {
        v.saturating_mul(1000)
    } else {
        v.saturating_mul(1_000_000)
    }
}

/// `_timestamp` value to microseconds, or `None` when OpenObserve would fail the record.
///
/// Accepted: integers (see [`int_to_micros`]), floats (truncated), digit strings, RFC3339
/// (`2024-01-01T00:00:00.5Z`, `+02:00` offsets, `T` or space) and `YYYY-MM-DD HH:MM:SS[.f]` read as
/// UTC. Anything with a trailing zone name (`... UTC`, PostgreSQL's form) fails.
pub(crate) fn parse_timestamp(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => match n.as_i64() {
            Some(i) => Some(int_to_micros(i)),
            None => n
                .as_f64()
                .filter(|f| f.is_finite() && f.abs() < 9.0e18)
                .map(|f| int_to_micros(f as i64)),
        },
        Value::String(s) => parse_timestamp_str(s.trim()),
        _ => None,
    }
}

fn parse_timestamp_str(s: &str) -> Option<i64> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().ok().map(int_to_micros);
    }
    let b = s.as_bytes();
    // YYYY-MM-DD?HH:MM:SS
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let (hour, minute, second) = (digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut at = 19;
    let mut frac_us = 0i64;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while at < b.len() && b[at].is_ascii_digit() {
            if at - start < 6 {
                frac_us = frac_us * 10 + i64::from(b[at] - b'0');
            }
            at += 1;
        }
        if at == start {
            return None;
        }
        for _ in (at - start)..6 {
            frac_us *= 10;
        }
    }
    let offset_s = match &b[at..] {
        [] => 0,
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let minutes = i64::from(digits(b, at + 1, 2)? * 60 + digits(b, at + 4, 2)?);
            if *sign == b'+' {
                minutes * 60
            } else {
                -minutes * 60
            }
        }
        _ => return None,
    };
    let days = crate::clock::days_from_civil(i32::try_from(year).ok()?, month, day)?;
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second)
        - offset_s;
    Some(secs * 1_000_000 + frac_us)
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let part = b.get(at..at + n)?;
    part.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// The type a stream's schema keeps for a field: a record whose value has another type fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldType {
    Boolean,
    Int64,
    Float64,
    Utf8,
}

impl FieldType {
    /// Type of a flattened value (never null, object or array after [`flatten`]).
    pub(crate) fn of(value: &Value) -> FieldType {
        match value {
            Value::Bool(_) => FieldType::Boolean,
            Value::Number(n) if n.is_f64() => FieldType::Float64,
            Value::Number(_) => FieldType::Int64,
            _ => FieldType::Utf8,
        }
    }

    /// Whether a value of type `incoming` may go into a field of this type. An integer fits a
    /// float field (Arrow widens it); a float does not fit an integer field.
    pub(crate) fn accepts(self, incoming: FieldType) -> bool {
        self == incoming || (self == FieldType::Float64 && incoming == FieldType::Int64)
    }

    /// Arrow's name for the type, as OpenObserve's error messages spell it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            FieldType::Boolean => "Boolean",
            FieldType::Int64 => "Int64",
            FieldType::Float64 => "Float64",
            FieldType::Utf8 => "Utf8",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stream_names_collapse_runs_and_lowercase() {
        assert_eq!(
            normalize_stream_name("Aurora-Logs//Prod"),
            "aurora_logs_prod"
        );
        assert_eq!(normalize_stream_name("db:Slow_Log"), "db:slow_log");
        assert_eq!(normalize_stream_name("a b.c"), "a_b_c");
    }

    #[test]
    fn field_names_replace_each_char() {
        assert_eq!(normalize_field_name("Query-Time"), "query_time");
        assert_eq!(normalize_field_name("a--b"), "a__b");
        assert_eq!(normalize_field_name("@timestamp"), "_timestamp");
        assert_eq!(normalize_field_name("é"), "_");
        assert_eq!(normalize_field_name("db:name"), "db_name");
    }

    #[test]
    fn flatten_three_levels_arrays_as_text_nulls_dropped() {
        let record = json!({
            "A": {"B": {"C": {"D": 1}, "e": 2}},
            "tags": [1, null, "x"],
            "gone": null,
            "empty": {},
            "Flag": true
        });
        let Value::Object(map) = record else {
            unreachable!()
        };
        let flat = flatten(map);
        assert_eq!(flat["a_b_c"], json!("{\"D\":1}"));
        assert_eq!(flat["a_b_e"], json!(2));
        assert_eq!(flat["tags"], json!("[1,null,\"x\"]"));
        assert_eq!(flat["flag"], json!(true));
        assert!(!flat.contains_key("gone"));
        assert!(!flat.contains_key("empty"));
        assert_eq!(flat.len(), 4);
    }

    #[test]
    fn timestamps_in_the_accepted_forms() {
        let us = 1_704_067_200_000_000i64; // 2024-01-01T00:00:00Z
        assert_eq!(parse_timestamp(&json!(us)), Some(us));
        assert_eq!(parse_timestamp(&json!(us / 1000)), Some(us));
        assert_eq!(parse_timestamp(&json!(us / 1_000_000)), Some(us));
        assert_eq!(parse_timestamp(&json!(us * 1000)), Some(us));
        assert_eq!(parse_timestamp(&json!(us.to_string())), Some(us));
        assert_eq!(parse_timestamp(&json!("2024-01-01T00:00:00Z")), Some(us));
        assert_eq!(
            parse_timestamp(&json!("2024-01-01T02:00:00.5+02:00")),
            Some(us + 500_000)
        );
        assert_eq!(parse_timestamp(&json!("2024-01-01 00:00:00")), Some(us));
        assert_eq!(
            parse_timestamp(&json!("2024-01-01 00:00:00.123")),
            Some(us + 123_000)
        );
        assert_eq!(parse_timestamp(&json!("2024-01-01 00:00:00.123 UTC")), None);
        assert_eq!(parse_timestamp(&json!("yesterday")), None);
        assert_eq!(parse_timestamp(&json!("2024-13-01 00:00:00")), None);
        assert_eq!(parse_timestamp(&json!(true)), None);
        assert_eq!(parse_timestamp(&json!("")), None);
    }

    #[test]
    fn integers_fit_float_fields_but_not_the_reverse() {
        assert!(FieldType::Float64.accepts(FieldType::of(&json!(1))));
        assert!(!FieldType::Int64.accepts(FieldType::of(&json!(1.5))));
        assert!(!FieldType::Utf8.accepts(FieldType::of(&json!(1))));
        assert_eq!(FieldType::of(&json!(u64::MAX)), FieldType::Int64);
    }
}
