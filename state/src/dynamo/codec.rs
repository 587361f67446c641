//! The state table's items: keys, attribute values, and checkpoints and leases read back from
//! items, with a wrong type or a bad number an error (never a panic).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use contract::state::attr;

use crate::{Checkpoint, FileKey, MarkerAt};

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// Every attribute an expression may name, from the contract.
const ATTRIBUTES: &[&str] = &[
    attr::INSTANCE_ID,
    attr::LOG_FILE,
    attr::OFFSET,
    attr::MARKER_NAME,
    attr::MARKER,
    attr::MARKER_OFFSET,
    attr::DONE,
    attr::SIZE_SEEN,
    attr::RECORDS,
    attr::GENERATION,
    attr::LEASE_OWNER,
    attr::LEASE_EXPIRES_MS,
    attr::LEASE_TOKEN,
    attr::UPDATED_MS,
    attr::EXPIRES_AT,
];

/// `instance/file`, for messages.
pub(crate) fn show(key: &FileKey) -> String {
    format!("{}/{}", key.instance_id, key.log_file)
}

/// A number attribute.
pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A string attribute.
pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// The primary key of `instance` / `file`.
pub fn key_item(instance: &str, file: &str) -> Item {
    HashMap::from([
        (attr::INSTANCE_ID.to_string(), s(instance)),
        (attr::LOG_FILE.to_string(), s(file)),
    ])
}

/// The expression attribute names of `exprs`: every `#name` maps to the attribute `name`.
/// DynamoDB refuses unused names, so they are taken from the expressions themselves.
pub(crate) fn names_in(exprs: &[&str]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for e in exprs {
        let mut rest = *e;
        while let Some(i) = rest.find('#') {
            rest = &rest[i + 1..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let name = &rest[..end];
            debug_assert!(ATTRIBUTES.contains(&name), "{name} is not in the contract");
            out.insert(format!("#{name}"), name.to_string());
            rest = &rest[end..];
        }
    }
    out
}

fn type_name(v: &AttributeValue) -> &'static str {
    match v {
        AttributeValue::S(_) => "S",
        AttributeValue::N(_) => "N",
        AttributeValue::B(_) => "B",
        AttributeValue::Bool(_) => "BOOL",
        AttributeValue::Null(_) => "NULL",
        AttributeValue::M(_) => "M",
        AttributeValue::L(_) => "L",
        AttributeValue::Ss(_) => "SS",
        AttributeValue::Ns(_) => "NS",
        AttributeValue::Bs(_) => "BS",
        _ => "an unknown type",
    }
}

/// Number attribute `name`, if present.
pub(crate) fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Result<Option<T>, String> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::N(v)) => v
            .parse()
            .map(Some)
            .map_err(|_| format!("attribute {name} = {v:?} is out of range")),
        Some(other) => Err(format!(
            "attribute {name} should be a number (N), found {}",
            type_name(other)
        )),
    }
}

/// String attribute `name`, if present.
pub(crate) fn get_s<'a>(item: &'a Item, name: &str) -> Result<Option<&'a str>, String> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::S(v)) => Ok(Some(v)),
        Some(other) => Err(format!(
            "attribute {name} should be a string (S), found {}",
            type_name(other)
        )),
    }
}

pub(crate) fn get_bool(item: &Item, name: &str) -> Result<Option<bool>, String> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::Bool(v)) => Ok(Some(*v)),
        Some(other) => Err(format!(
            "attribute {name} should be a boolean (BOOL), found {}",
            type_name(other)
        )),
    }
}

/// The checkpoint an item holds; `None` when it has no offset yet (only a lease).
pub(crate) fn decode_checkpoint(item: &Item) -> Result<Option<Checkpoint>, String> {
    let Some(offset) = get_n(item, attr::OFFSET)? else {
        return Ok(None);
    };
    let marker = match (
        get_s(item, attr::MARKER_NAME)?,
        get_s(item, attr::MARKER)?,
        get_n(item, attr::MARKER_OFFSET)?,
    ) {
        (None, None, None) => None,
        (Some(name), Some(marker), Some(offset)) => Some(MarkerAt {
            name: name.to_string(),
            marker: marker.to_string(),
            offset,
        }),
        _ => return Err("marker attributes are only partly present".into()),
    };
    Ok(Some(Checkpoint {
        offset,
        marker,
        done: get_bool(item, attr::DONE)?.unwrap_or(false),
        size_seen: get_n(item, attr::SIZE_SEEN)?.unwrap_or(0),
        records: get_n(item, attr::RECORDS)?.unwrap_or(0),
        generation: get_n(item, attr::GENERATION)?.unwrap_or(0),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamo::lease::{decode_lease, LeaseAttrs};

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn names_come_from_the_expressions_and_the_contract() {
        let names = names_in(&[
            "SET #lease_owner = :me, #lease_token = if_not_exists(#lease_token, :zero) + :one",
            "attribute_not_exists(#lease_owner) OR #lease_expires_ms < :now",
        ]);
        assert_eq!(names.len(), 3, "{names:?}");
        assert_eq!(names["#lease_owner"], attr::LEASE_OWNER);
        assert_eq!(names["#lease_expires_ms"], attr::LEASE_EXPIRES_MS);
        assert!(names_in(&["#instance_id = :instance"]).contains_key("#instance_id"));
    }

    #[test]
    fn a_full_item_decodes_to_its_checkpoint() {
        let full = item(&[
            (attr::OFFSET, n(42)),
            (attr::MARKER_NAME, s("f")),
            (attr::MARKER, s("9:40")),
            (attr::MARKER_OFFSET, n(40)),
            (attr::DONE, AttributeValue::Bool(true)),
            (attr::SIZE_SEEN, n(50)),
            (attr::RECORDS, n(7)),
            (attr::GENERATION, n(2)),
            (attr::LEASE_OWNER, s("p1")),
            (attr::LEASE_EXPIRES_MS, n(123)),
            (attr::LEASE_TOKEN, n(5)),
        ]);
        let cp = decode_checkpoint(&full).unwrap().unwrap();
        assert_eq!(
            cp,
            Checkpoint {
                offset: 42,
                marker: Some(MarkerAt {
                    name: "f".into(),
                    marker: "9:40".into(),
                    offset: 40
                }),
                done: true,
                size_seen: 50,
                records: 7,
                generation: 2,
            }
        );
        let lease = decode_lease(&full).unwrap();
        assert_eq!(lease.owner.as_deref(), Some("p1"));
        assert_eq!((lease.expires_ms, lease.token), (123, 5));
    }

    #[test]
    fn an_item_without_offset_has_no_checkpoint_and_missing_fields_default() {
        let lease_only = item(&[(attr::LEASE_OWNER, s("p1")), (attr::LEASE_TOKEN, n(1))]);
        assert_eq!(decode_checkpoint(&lease_only).unwrap(), None);
        let bare = item(&[(attr::OFFSET, n(3))]);
        let cp = decode_checkpoint(&bare).unwrap().unwrap();
        assert_eq!(
            cp,
            Checkpoint {
                offset: 3,
                ..Default::default()
            }
        );
        assert_eq!(decode_lease(&Item::new()).unwrap(), LeaseAttrs::default());
    }

    #[test]
    fn wrong_types_and_bad_numbers_are_errors_not_panics() {
        let cases = [
            item(&[(attr::OFFSET, s("12"))]),
            item(&[(attr::OFFSET, n("-1"))]),
            item(&[(attr::OFFSET, n("1.5"))]),
            item(&[(attr::OFFSET, n("99999999999999999999999"))]),
            item(&[(attr::OFFSET, n(1)), (attr::GENERATION, n(u64::MAX))]),
            item(&[(attr::OFFSET, n(1)), (attr::DONE, s("true"))]),
            item(&[(attr::OFFSET, n(1)), (attr::MARKER, s("1:2"))]),
            item(&[
                (attr::OFFSET, n(1)),
                (attr::RECORDS, AttributeValue::Null(true)),
            ]),
            item(&[
                (attr::OFFSET, n(1)),
                (attr::MARKER_NAME, AttributeValue::Ss(vec!["a".into()])),
                (attr::MARKER, s("x")),
                (attr::MARKER_OFFSET, n(0)),
            ]),
        ];
        for c in &cases {
            let e = decode_checkpoint(c).expect_err(&format!("{c:?}"));
            assert!(e.contains("attribute") || e.contains("marker"), "{e}");
        }
        assert!(decode_lease(&item(&[(attr::LEASE_TOKEN, s("1"))])).is_err());
        assert!(decode_lease(&item(&[(attr::LEASE_OWNER, n(1))])).is_err());
    }
}
