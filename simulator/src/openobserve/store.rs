//! Where accepted records live, each stream with the schema its first records fixed, and the
//! per-record checks that decide between keeping and failing a record.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use serde_json::{Map, Value};

use super::records::{flatten, parse_timestamp, FieldType, TIMESTAMP_FIELD};

/// Why OpenObserve failed one record inside a 200 answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// `_timestamp` older than now − `allowed_upto_hours` ("Too old data…").
    TooOld,
    /// `_timestamp` newer than now + `allowed_in_future_hours` ("Too far data…").
    TooFar,
    /// `_timestamp` in a form the server cannot read (e.g. PostgreSQL's `… UTC`).
    BadTimestamp,
    /// A field's JSON type differs from the type the stream first saw for it.
    TypeConflict,
    /// The stream's fields in this request would exceed `cols_per_record_limit`.
    TooManyColumns,
    /// The record is not a JSON object.
    NotAnObject,
}

/// One failed record: its kind (for counting) and the server's message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failure {
    pub kind: FailureKind,
    pub reason: String,
}

/// What happened to one record of a request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Accepted,
    Failed(Failure),
    /// Counted by nobody: the silent-drop fault.
    Dropped,
}

/// The limits and the clock one request is checked against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checks {
    pub now_us: i64,
    pub allowed_upto_hours: i64,
    pub allowed_in_future_hours: i64,
    pub cols_limit: usize,
    /// `_bulk` overwrites `@timestamp` with now.
    pub bulk: bool,
    /// Silent-drop fault: the last accepted record of the batch is neither kept nor reported.
    pub drop_last: bool,
}

const US_PER_HOUR: i64 = 3_600_000_000;

#[derive(Debug, Default)]
struct StreamData {
    records: Vec<Map<String, Value>>,
    schema: HashMap<String, FieldType>,
}

/// Every org's streams, keyed by (org, stream).
#[derive(Debug, Default)]
pub(crate) struct Store {
    streams: BTreeMap<(String, String), StreamData>,
}

impl Store {
    /// Checks and keeps one stream's records of one request; one outcome per input, in order.
    pub(crate) fn ingest<'a>(
        &mut self,
        org: &str,
        stream: &str,
        docs: impl ExactSizeIterator<Item = &'a Value>,
        checks: Checks,
    ) -> Vec<Outcome> {
        let data = self
            .streams
            .entry((org.to_owned(), stream.to_owned()))
            .or_default();
        let mut request_cols: HashSet<String> = HashSet::new();
        let mut outcomes = Vec::with_capacity(docs.len());
        let mut kept = Vec::with_capacity(docs.len());
        for (i, doc) in docs.enumerate() {
            match check_record(doc, &data.schema, &request_cols, checks) {
                Ok(record) => {
                    for (name, value) in &record {
                        data.schema
                            .entry(name.clone())
                            .or_insert(FieldType::of(value));
                        if !request_cols.contains(name) {
                            request_cols.insert(name.clone());
                        }
                    }
                    kept.push((i, record));
                    outcomes.push(Outcome::Accepted);
                }
                Err(failure) => outcomes.push(Outcome::Failed(failure)),
            }
        }
        if checks.drop_last {
            if let Some((i, _)) = kept.pop() {
                outcomes[i] = Outcome::Dropped;
            }
        }
        data.records.extend(kept.into_iter().map(|(_, r)| r));
        outcomes
    }

    pub(crate) fn records(&self, org: &str, stream: &str) -> Vec<Map<String, Value>> {
        self.with_records(org, stream, |r| r.to_vec())
    }

    pub(crate) fn with_records<T>(
        &self,
        org: &str,
        stream: &str,
        f: impl FnOnce(&[Map<String, Value>]) -> T,
    ) -> T {
        let key = (org.to_owned(), stream.to_owned());
        f(self.streams.get(&key).map_or(&[][..], |d| &d.records))
    }

    /// A stream's fields with their Arrow type names, sorted, and how many records it holds.
    pub(crate) fn schema(&self, org: &str, stream: &str) -> (Vec<(String, &'static str)>, usize) {
        let Some(data) = self.streams.get(&(org.to_owned(), stream.to_owned())) else {
            return (Vec::new(), 0);
        };
        let mut fields: Vec<_> = data
            .schema
            .iter()
            .map(|(name, t)| (name.clone(), t.name()))
            .collect();
        fields.sort();
        (fields, data.records.len())
    }

    pub(crate) fn streams(&self, org: &str) -> Vec<String> {
        self.streams
            .iter()
            .filter(|((o, _), d)| o == org && !d.records.is_empty())
            .map(|((_, s), _)| s.clone())
            .collect()
    }

    pub(crate) fn clear(&mut self) {
        self.streams.clear();
    }
}

fn check_record(
    doc: &Value,
    schema: &HashMap<String, FieldType>,
    request_cols: &HashSet<String>,
    checks: Checks,
) -> Result<Map<String, Value>, Failure> {
    let Value::Object(object) = doc else {
        return Err(Failure {
            kind: FailureKind::NotAnObject,
            reason: format!("record is not a JSON object: {}", clip(&doc.to_string())),
        });
    };
    let mut object = object.clone();
    if checks.bulk && object.remove("@timestamp").is_some() && !object.contains_key(TIMESTAMP_FIELD)
    {
        object.insert(TIMESTAMP_FIELD.to_owned(), Value::from(checks.now_us));
    }
    let mut record = flatten(object);
    let ts = match record.get(TIMESTAMP_FIELD) {
        None => checks.now_us,
        Some(v) => parse_timestamp(v).ok_or_else(|| Failure {
            kind: FailureKind::BadTimestamp,
            reason: format!(
                "Error parsing _timestamp: {} is not a supported time format",
                clip(&v.to_string())
            ),
        })?,
    };
    check_window(ts, checks)?;
    record.insert(TIMESTAMP_FIELD.to_owned(), Value::from(ts));

    let new_cols = record.keys().filter(|k| !request_cols.contains(*k)).count();
    if request_cols.len() + new_cols > checks.cols_limit {
        return Err(Failure {
            kind: FailureKind::TooManyColumns,
            reason: format!(
                "Too many cols, allowed is: {}, got: {}",
                checks.cols_limit,
                request_cols.len() + new_cols
            ),
        });
    }
    for (name, value) in &record {
        let incoming = FieldType::of(value);
        if let Some(&expected) = schema.get(name) {
            if !expected.accepts(incoming) {
                return Err(Failure {
                    kind: FailureKind::TypeConflict,
                    reason: format!(
                        "field '{name}' has type {} in the stream schema but the record has {} ({})",
                        expected.name(),
                        incoming.name(),
                        clip(&value.to_string())
                    ),
                });
            }
        }
    }
    Ok(record)
}

fn check_window(ts: i64, checks: Checks) -> Result<(), Failure> {
    let earliest = checks
        .now_us
        .saturating_sub(checks.allowed_upto_hours.saturating_mul(US_PER_HOUR));
    let latest = checks
        .now_us
        .saturating_add(checks.allowed_in_future_hours.saturating_mul(US_PER_HOUR));
    if ts < earliest {
        return Err(Failure {
            kind: FailureKind::TooOld,
            reason: format!(
                "Too old data, only last {} hours data can be ingested. Data discarded. You can adjust ingestion max time by setting the environment variable ZO_INGEST_ALLOWED_UPTO=<max_hours>",
                checks.allowed_upto_hours
            ),
        });
    }
    if ts > latest {
        return Err(Failure {
            kind: FailureKind::TooFar,
            reason: format!(
                "Too far data, only {} hours data can be ingested. Data discarded. You can adjust ingestion max time by setting the environment variable ZO_INGEST_ALLOWED_IN_FUTURE=<max_hours>",
                checks.allowed_in_future_hours
            ),
        });
    }
    Ok(())
}

/// Error messages quote values, but never a whole huge one.
fn clip(s: &str) -> String {
    const MAX: usize = 120;
    match s.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_704_067_200_000_000;

    fn checks() -> Checks {
        Checks {
            now_us: NOW,
            allowed_upto_hours: 24,
            allowed_in_future_hours: 24,
            cols_limit: 1000,
            bulk: false,
            drop_last: false,
        }
    }

    fn kinds(outcomes: &[Outcome]) -> Vec<Option<FailureKind>> {
        outcomes
            .iter()
            .map(|o| match o {
                Outcome::Failed(f) => Some(f.kind),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn each_failure_kind_and_its_reason() {
        let mut store = Store::default();
        let hour = US_PER_HOUR;
        let docs = [
            json!({"_timestamp": NOW, "n": 1}),
            json!({"_timestamp": NOW - 25 * hour}),
            json!({"_timestamp": NOW + 25 * hour}),
            json!({"_timestamp": "2024-01-01 00:00:00.000 UTC"}),
            json!({"n": "one"}),
            json!([1]),
            json!({"n": 2}),
        ];
        let outcomes = store.ingest("default", "s", docs.iter(), checks());
        use FailureKind::*;
        assert_eq!(
            kinds(&outcomes),
            vec![
                None,
                Some(TooOld),
                Some(TooFar),
                Some(BadTimestamp),
                Some(TypeConflict),
                Some(NotAnObject),
                None
            ]
        );
        let Outcome::Failed(old) = &outcomes[1] else {
            unreachable!()
        };
        assert!(old.reason.starts_with("Too old data, only last 24 hours"));
        let records = store.records("default", "s");
        assert_eq!(records.len(), 2);
        assert_eq!(
            records[1]["_timestamp"],
            json!(NOW),
            "a missing _timestamp is now"
        );
    }

    #[test]
    fn the_column_limit_counts_the_union_of_one_request() {
        let mut store = Store::default();
        let c = Checks {
            cols_limit: 3,
            ..checks()
        };
        let docs = [
            json!({"a": 1, "b": 1}),
            json!({"a": 1, "c": 1}),
            json!({"a": 1, "b": 2}),
        ];
        // _timestamp counts: {_timestamp, a, b} = 3, then c would make 4.
        let outcomes = store.ingest("default", "s", docs.iter(), c);
        assert_eq!(
            kinds(&outcomes),
            vec![None, Some(FailureKind::TooManyColumns), None]
        );
        // A new request starts a new union.
        let outcomes = store.ingest("default", "s", [json!({"c": 1})].iter(), c);
        assert_eq!(kinds(&outcomes), vec![None]);
    }

    #[test]
    fn bulk_overwrites_at_timestamp_and_drop_hides_the_last_record() {
        let mut store = Store::default();
        let c = Checks {
            bulk: true,
            drop_last: true,
            ..checks()
        };
        let docs = [
            json!({"@timestamp": "not a time", "m": "a"}),
            json!({"m": "b"}),
        ];
        let outcomes = store.ingest("default", "s", docs.iter(), c);
        assert_eq!(outcomes, vec![Outcome::Accepted, Outcome::Dropped]);
        let records = store.records("default", "s");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0]["_timestamp"], json!(NOW));
    }
}
