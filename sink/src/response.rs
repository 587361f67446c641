//! Reading OpenObserve's `_bulk` answer: which records it took, refused, or silently dropped.

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

#[derive(Deserialize)]
struct BulkResponse {
    #[serde(default)]
    items: Vec<Item>,
}

/// One element of `items`: `{"index": {…}}` (or `create`, …), read without building a map or
/// owning the key — an answer has one per record, so this is on the per-record path.
struct Item(Vec<BulkItem>);

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Item, D::Error> {
        struct Each;
        impl<'de> Visitor<'de> for Each {
            type Value = Item;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object like {\"index\": {\"status\": 200}}")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Item, A::Error> {
                let mut out = Vec::with_capacity(1);
                while let Some((IgnoredAny, item)) = map.next_entry::<IgnoredAny, BulkItem>()? {
                    out.push(item);
                }
                Ok(Item(out))
            }
        }
        d.deserialize_map(Each)
    }
}

#[derive(Deserialize)]
struct BulkItem {
    #[serde(default)]
    status: u16,
    #[serde(default)]
    error: Option<BulkError>,
    #[serde(default, rename = "originalRecord")]
    original_record: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct BulkError {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// One record OpenObserve refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    /// Its `record_id`, when the answer carried the record.
    pub record_id: Option<String>,
    /// Short reason class for metrics: `too_old`, `too_far`, `type_conflict`, `rejected`.
    pub reason: &'static str,
    /// The server's words.
    pub detail: String,
    /// The record as the server echoed it.
    pub record: Option<serde_json::Value>,
    /// Worth sending again (a 5xx inside the answer).
    pub retryable: bool,
}

/// What one `_bulk` answer said.
#[derive(Debug, Default)]
pub struct BulkOutcome {
    /// Items with a 2xx status.
    pub accepted: usize,
    /// Items with another status.
    pub refused: Vec<Refused>,
    /// `record_id`s of every item the answer mentions (accepted or not), when it echoed them.
    pub seen_ids: Vec<String>,
    /// Items in the answer.
    pub items: usize,
}

/// The class of a refusal, from OpenObserve's message.
pub fn classify_reason(detail: &str) -> &'static str {
    let d = detail.to_ascii_lowercase();
    if d.contains("too old") {
        "too_old"
    } else if d.contains("too far") {
        "too_far"
    } else if d.contains("type")
        && (d.contains("conflict") || d.contains("mismatch") || d.contains("schema"))
    {
        "type_conflict"
    } else if d.contains("column") || d.contains("field") && d.contains("limit") {
        "column_limit"
    } else {
        "rejected"
    }
}

/// The answer OpenObserve gives when it took every record, exactly as its serializer writes it:
/// `{"took":N,"errors":false,"items":[{"index":{"_index":"S","status":2xx}},…]}`. A strict scan
/// counts the items; anything else (a refusal, another field, whitespace, an escape, a cut
/// body) gives `None`, and the full parser reads the answer. Every record of a healthy run
/// passes here, where a general JSON parser spent about 4 % of the processor's CPU.
fn all_accepted(body: &[u8]) -> Option<usize> {
    let mut rest = body.strip_prefix(b"{\"took\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    rest = rest[digits..].strip_prefix(b",\"errors\":false,\"items\":[")?;
    let mut items = 0;
    if let Some(end) = rest.strip_prefix(b"]") {
        return (end == b"}").then_some(0);
    }
    loop {
        rest = rest
            .strip_prefix(b"{\"index\":{\"_index\":\"")
            .or_else(|| rest.strip_prefix(b"{\"create\":{\"_index\":\""))?;
        let close = memchr::memchr2(b'"', b'\\', rest)?;
        if rest[close] != b'"' {
            return None;
        }
        rest = rest[close..].strip_prefix(b"\",\"status\":2")?;
        match rest {
            [a, b, b'}', b'}', more @ ..] if a.is_ascii_digit() && b.is_ascii_digit() => {
                rest = more
            }
            _ => return None,
        }
        items += 1;
        match rest {
            [b',', more @ ..] => rest = more,
            b"]}" => return Some(items),
            _ => return None,
        }
    }
}

/// Parse a `_bulk` answer body.
pub fn parse_bulk(body: &[u8]) -> Result<BulkOutcome, serde_json::Error> {
    if let Some(n) = all_accepted(body) {
        return Ok(BulkOutcome {
            accepted: n,
            items: n,
            ..Default::default()
        });
    }
    let resp: BulkResponse = serde_json::from_slice(body)?;
    let mut out = BulkOutcome::default();
    for item in resp.items {
        for it in item.0 {
            out.items += 1;
            let id = it
                .original_record
                .as_ref()
                .and_then(|r| r.get("record_id"))
                .and_then(|v| v.as_str())
                .map(str::to_string);
            if let Some(id) = &id {
                out.seen_ids.push(id.clone());
            }
            if (200..300).contains(&it.status) {
                out.accepted += 1;
                continue;
            }
            let detail = it
                .error
                .as_ref()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e.kind.as_deref().unwrap_or("error"),
                        e.reason.as_deref().unwrap_or("")
                    )
                })
                .unwrap_or_else(|| format!("status {}", it.status));
            out.refused.push(Refused {
                record_id: id,
                reason: classify_reason(&detail),
                detail,
                record: it.original_record,
                retryable: it.status >= 500,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path and the full parser agree wherever the fast path answers, and it answers
    /// only for clean all-accepted answers.
    #[test]
    fn the_all_accepted_scan_agrees_with_the_parser() {
        let full = |b: &[u8]| {
            let resp: BulkResponse = serde_json::from_slice(b).unwrap();
            let items: Vec<u16> = resp
                .items
                .into_iter()
                .flat_map(|i| i.0)
                .map(|i| i.status)
                .collect();
            (
                items.iter().filter(|s| (200..300).contains(*s)).count(),
                items.len(),
            )
        };
        let clean: &[&[u8]] = &[
            br#"{"took":0,"errors":false,"items":[]}"#,
            br#"{"took":12,"errors":false,"items":[{"index":{"_index":"aurora_mysql_slow","status":200}}]}"#,
            br#"{"took":1,"errors":false,"items":[{"index":{"_index":"s","status":200}},{"create":{"_index":"t","status":201}}]}"#,
        ];
        for b in clean {
            let (ok, n) = full(b);
            assert_eq!(ok, n);
            assert_eq!(all_accepted(b), Some(n), "{}", String::from_utf8_lossy(b));
            let o = parse_bulk(b).unwrap();
            assert_eq!((o.accepted, o.items), (n, n));
        }
        let other: &[&[u8]] = &[
            br#"{"took":1,"errors":true,"items":[{"index":{"_index":"s","status":422,"error":{"type":"x","reason":"too old"}}}]}"#,
            br#"{"took":1,"errors":false,"items":[{"index":{"_index":"s","status":500}}]}"#,
            br#"{"took":1,"errors":false,"items":[{"index":{"_index":"s"x","status":200}}]}"#,
            br#"{"took":1, "errors":false,"items":[{"index":{"_index":"s","status":200}}]}"#,
            br#"{"took":1,"errors":false,"items":[{"index":{"_index":"s","status":200,"_id":"a"}}]}"#,
            br#"{"took":1,"errors":false,"items":[{"index":{"_index":"s","status":200}},]}"#,
            br#"{"took":1,"errors":false,"items":[{"index":{"_index":"s","status":200}}]} "#,
            br#"{"took":1,"errors":false,"items":[{"index":{"_index":"s","status":200}}"#,
            br#"{"took":,"errors":false,"items":[]}"#,
            b"",
        ];
        for b in other {
            assert_eq!(all_accepted(b), None, "{}", String::from_utf8_lossy(b));
        }
        // What the fast path declines, the parser still reads (or refuses as JSON).
        let o = parse_bulk(other[1]).unwrap();
        assert_eq!((o.accepted, o.refused.len()), (0, 1));
        let o = parse_bulk(other[6]).unwrap();
        assert_eq!((o.accepted, o.items), (1, 1));
        assert!(parse_bulk(other[7]).is_err());
    }

    #[test]
    fn items_are_counted_and_refusals_classified() {
        let body = br#"{"took":1,"errors":true,"items":[
            {"index":{"_index":"s","status":200,"originalRecord":{"record_id":"a"}}},
            {"index":{"_index":"s","status":422,"error":{"type":"ingest","reason":"Too old data, only last 24 hours data can be ingested"},"originalRecord":{"record_id":"b"}}},
            {"create":{"_index":"s","status":503,"error":{"type":"x","reason":"busy"}}}]}"#;
        let o = parse_bulk(body).unwrap();
        assert_eq!(o.items, 3);
        assert_eq!(o.accepted, 1);
        assert_eq!(o.refused.len(), 2);
        assert_eq!(o.refused[0].reason, "too_old");
        assert_eq!(o.refused[0].record_id.as_deref(), Some("b"));
        assert!(o.refused[1].retryable);
        assert_eq!(o.seen_ids, vec!["a", "b"]);
        assert!(parse_bulk(b"not json").is_err());
        assert_eq!(
            classify_reason("field type conflict: x was Utf8"),
            "type_conflict"
        );
    }
}
