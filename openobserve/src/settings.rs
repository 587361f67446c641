//! Stream settings: what a stream file asks for, what the server holds, and the add/remove
//! body that turns one into the other.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::{json, Map, Value};

/// The stream settings aurora-logs manages. Lists are authoritative: a field the server holds
/// in one of them that the stream file does not list is removed. Settings the files do not
/// name (bloom filters, distinct values that dashboards add, flattening …) are left alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamSettings {
    /// `full_text_search_keys`.
    pub full_text_search_keys: BTreeSet<String>,
    /// `index_fields` (the secondary index).
    pub index_fields: BTreeSet<String>,
    /// `partition_keys`, by field.
    pub partition_keys: BTreeMap<String, Value>,
    /// `data_retention` in days; `None` leaves it as it is.
    pub data_retention: Option<i64>,
}

impl StreamSettings {
    /// The `settings` object of a stream file.
    pub(crate) fn from_file(settings: &Value) -> Result<StreamSettings, String> {
        let obj = settings
            .as_object()
            .ok_or("\"settings\" must be an object")?;
        for key in obj.keys() {
            if !matches!(
                key.as_str(),
                "full_text_search_keys" | "index_fields" | "partition_keys"
            ) {
                return Err(format!(
                    "\"settings\" has {key:?}: only full_text_search_keys, index_fields and partition_keys are managed (retention comes from the configuration)"
                ));
            }
        }
        let mut out = StreamSettings {
            full_text_search_keys: string_set(obj.get("full_text_search_keys"))?,
            index_fields: string_set(obj.get("index_fields"))?,
            ..Default::default()
        };
        for key in obj
            .get("partition_keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let field = key.get("field").and_then(Value::as_str);
            let types = key.get("types");
            match (field, types) {
                (Some(f), Some(t)) => {
                    out.partition_keys.insert(f.to_owned(), t.clone());
                }
                _ => return Err(format!("partition key {key} needs \"field\" and \"types\"")),
            }
        }
        if let Some(both) = out
            .full_text_search_keys
            .intersection(&out.index_fields)
            .next()
        {
            return Err(format!(
                "{both:?} is both a full-text key and an index field; OpenObserve refuses that"
            ));
        }
        for field in out.partition_keys.keys() {
            if out.full_text_search_keys.contains(field) || out.index_fields.contains(field) {
                return Err(format!(
                    "partition key {field:?} is also a full-text key or index field; OpenObserve refuses that"
                ));
            }
        }
        Ok(out)
    }

    /// The `settings` object of a `GET /api/{org}/streams/{s}/schema` answer, normalised:
    /// partition keys come as an object (`{"L0": {…}}`) or a list, and disabled ones (what a
    /// removal leaves behind) are not counted.
    pub(crate) fn from_server(settings: &Value) -> StreamSettings {
        let mut out = StreamSettings {
            full_text_search_keys: string_set(settings.get("full_text_search_keys"))
                .unwrap_or_default(),
            index_fields: string_set(settings.get("index_fields")).unwrap_or_default(),
            data_retention: settings.get("data_retention").and_then(Value::as_i64),
            ..Default::default()
        };
        let keys: Vec<&Value> = match settings.get("partition_keys") {
            Some(Value::Object(map)) => map.values().collect(),
            Some(Value::Array(list)) => list.iter().collect(),
            _ => Vec::new(),
        };
        for key in keys {
            if key.get("disabled").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            if let (Some(field), Some(types)) =
                (key.get("field").and_then(Value::as_str), key.get("types"))
            {
                out.partition_keys.insert(field.to_owned(), types.clone());
            }
        }
        out
    }

    /// The body of `POST /api/{org}/streams/{s}?type=logs`.
    pub(crate) fn create_body(&self) -> Value {
        let mut settings = json!({
            "full_text_search_keys": self.full_text_search_keys,
            "index_fields": self.index_fields,
            "partition_keys": self.partition_keys.iter()
                .map(|(f, t)| json!({"field": f, "types": t})).collect::<Vec<_>>(),
        });
        if let Some(days) = self.data_retention {
            settings["data_retention"] = json!(days);
        }
        json!({"fields": [], "settings": settings})
    }

    /// The `PUT …/settings` body that turns `actual` into `self`, with a one-line summary of
    /// it; `None` when nothing differs. A partition key whose type differs is an error:
    /// OpenObserve cannot change it.
    pub(crate) fn diff(&self, actual: &StreamSettings) -> Result<Option<(Value, String)>, String> {
        let mut body = Map::new();
        let mut summary = String::new();
        list_diff(
            "full_text_search_keys",
            &self.full_text_search_keys,
            &actual.full_text_search_keys,
            &mut body,
            &mut summary,
        );
        list_diff(
            "index_fields",
            &self.index_fields,
            &actual.index_fields,
            &mut body,
            &mut summary,
        );
        let mut add = Vec::new();
        let mut remove = Vec::new();
        for (field, types) in &self.partition_keys {
            match actual.partition_keys.get(field) {
                None => add.push(json!({"field": field, "types": types})),
                Some(t) if t == types => {}
                Some(t) => {
                    return Err(format!(
                        "partition key {field:?} is {t} on the server and {types} in the stream file; OpenObserve cannot change a partition key's type"
                    ))
                }
            }
        }
        for (field, types) in &actual.partition_keys {
            if !self.partition_keys.contains_key(field) {
                remove.push(json!({"field": field, "types": types}));
            }
        }
        if !add.is_empty() || !remove.is_empty() {
            let names = |v: &[Value]| -> Vec<String> {
                v.iter()
                    .map(|k| k["field"].as_str().unwrap_or_default().to_owned())
                    .collect()
            };
            note(
                &mut summary,
                "partition_keys",
                &names(&add),
                &names(&remove),
            );
            body.insert(
                "partition_keys".into(),
                json!({"add": add, "remove": remove}),
            );
        }
        if let Some(days) = self.data_retention {
            if actual.data_retention != Some(days) {
                let was = actual
                    .data_retention
                    .map_or("unset".to_owned(), |d| d.to_string());
                let _ = write!(summary, "{}data_retention {was} -> {days}", sep(&summary));
                body.insert("data_retention".into(), json!(days));
            }
        }
        Ok((!body.is_empty()).then_some((Value::Object(body), summary)))
    }
}

fn sep(summary: &str) -> &'static str {
    if summary.is_empty() {
        ""
    } else {
        "; "
    }
}

fn note(summary: &mut String, key: &str, add: &[String], remove: &[String]) {
    let _ = write!(summary, "{}{key}", sep(summary));
    if !add.is_empty() {
        let _ = write!(summary, " +[{}]", add.join(", "));
    }
    if !remove.is_empty() {
        let _ = write!(summary, " -[{}]", remove.join(", "));
    }
}

fn list_diff(
    key: &str,
    want: &BTreeSet<String>,
    have: &BTreeSet<String>,
    body: &mut Map<String, Value>,
    summary: &mut String,
) {
    let add: Vec<String> = want.difference(have).cloned().collect();
    let remove: Vec<String> = have.difference(want).cloned().collect();
    if add.is_empty() && remove.is_empty() {
        return;
    }
    note(summary, key, &add, &remove);
    body.insert(key.into(), json!({"add": add, "remove": remove}));
}

fn string_set(value: Option<&Value>) -> Result<BTreeSet<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(BTreeSet::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{v} is not a field name"))
            })
            .collect(),
        Some(other) => Err(format!("{other} is not a list of field names")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted() -> StreamSettings {
        StreamSettings::from_file(&json!({
            "full_text_search_keys": ["msg"],
            "index_fields": ["level", "instance_id"],
            "partition_keys": [{"field": "command", "types": "value"}]
        }))
        .map(|mut s| {
            s.data_retention = Some(30);
            s
        })
        .unwrap()
    }

    #[test]
    fn server_settings_are_normalised_before_diffing() {
        let server = StreamSettings::from_server(&json!({
            "full_text_search_keys": ["msg"],
            "index_fields": ["instance_id", "level"],
            "partition_keys": {"L0": {"field": "command", "types": "value", "disabled": false},
                               "L1": {"field": "old", "types": "value", "disabled": true}},
            "distinct_value_fields": [{"name": "level", "added_ts": 1}],
            "data_retention": 30
        }));
        assert_eq!(wanted().diff(&server).unwrap(), None);
    }

    #[test]
    fn adds_and_removes_only_what_differs() {
        let server = StreamSettings::from_server(&json!({
            "full_text_search_keys": ["msg", "message"],
            "index_fields": ["level"],
            "partition_keys": [],
            "data_retention": 3650
        }));
        let (body, summary) = wanted().diff(&server).unwrap().unwrap();
        assert_eq!(
            body,
            json!({
                "full_text_search_keys": {"add": [], "remove": ["message"]},
                "index_fields": {"add": ["instance_id"], "remove": []},
                "partition_keys": {"add": [{"field": "command", "types": "value"}], "remove": []},
                "data_retention": 30
            })
        );
        assert_eq!(summary, "full_text_search_keys -[message]; index_fields +[instance_id]; partition_keys +[command]; data_retention 3650 -> 30");
    }

    #[test]
    fn a_partition_key_of_another_type_is_an_error() {
        let server = StreamSettings::from_server(&json!({
            "partition_keys": [{"field": "command", "types": {"hash": 8}}]
        }));
        let e = wanted().diff(&server).unwrap_err();
        assert!(e.contains("cannot change"), "{e}");
    }

    #[test]
    fn files_that_the_server_would_refuse_are_refused() {
        for bad in [
            json!({"full_text_search_keys": ["a"], "index_fields": ["a"]}),
            json!({"index_fields": ["a"], "partition_keys": [{"field": "a", "types": "value"}]}),
            json!({"data_retention": 3}),
            json!({"partition_keys": [{"field": "a"}]}),
        ] {
            assert!(StreamSettings::from_file(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_create_body_has_both_required_keys() {
        let body = wanted().create_body();
        assert_eq!(body["fields"], json!([]));
        assert_eq!(body["settings"]["data_retention"], json!(30));
        assert_eq!(
            body["settings"]["partition_keys"],
            json!([{"field": "command", "types": "value"}])
        );
    }
}
