//! Stream settings as OpenObserve v0.92 keeps them: created with a stream
//! (`POST /api/{org}/streams/{s}`), changed by add/remove lists (`PUT …/settings`), read back
//! in `GET …/schema`, with the server's validation.

use serde_json::{json, Map, Value};

/// The list settings a `PUT …/settings` body changes with `{"add": […], "remove": […]}`.
const LISTS: [&str; 5] = [
    "full_text_search_keys",
    "index_fields",
    "bloom_filter_fields",
    "defined_schema_fields",
    "extended_retention_days",
];

/// Scalars a `PUT …/settings` body sets when present.
const SCALARS: [&str; 8] = [
    "data_retention",
    "max_query_range",
    "flatten_level",
    "store_original_data",
    "approx_partition",
    "index_original_data",
    "index_all_values",
    "enable_distinct_fields",
];

/// Columns no setting may name.
const RESERVED: [&str; 2] = ["_timestamp", "_all"];

/// One stream's settings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Settings {
    lists: Map<String, Value>,
    /// `{field, types, disabled}`, in the order added; removed keys stay, disabled.
    partition_keys: Vec<Value>,
    /// `{name, added_ts}`.
    distinct_value_fields: Vec<Value>,
    scalars: Map<String, Value>,
}

impl Default for Settings {
    fn default() -> Self {
        let lists = LISTS.iter().map(|k| (k.to_string(), json!([]))).collect();
        let scalars = json!({
            "data_retention": 0, "max_query_range": 0, "flatten_level": null,
            "store_original_data": false, "approx_partition": false,
            "index_original_data": false, "index_all_values": false,
            "enable_distinct_fields": true
        });
        Settings {
            lists,
            partition_keys: Vec::new(),
            distinct_value_fields: Vec::new(),
            scalars: scalars.as_object().cloned().unwrap_or_default(),
        }
    }
}

impl Settings {
    /// The settings of a `POST …/streams/{s}` body's `settings` object (plain lists).
    pub(crate) fn from_create(settings: &Value, now_us: i64) -> Result<Settings, String> {
        let Value::Object(obj) = settings else {
            return Err("settings must be an object".into());
        };
        let mut update = Map::new();
        for (k, v) in obj {
            if LISTS.contains(&k.as_str()) || k == "partition_keys" || k == "distinct_value_fields"
            {
                update.insert(k.clone(), json!({"add": v, "remove": []}));
            } else if SCALARS.contains(&k.as_str()) {
                update.insert(k.clone(), v.clone());
            }
        }
        let mut s = Settings::default();
        s.apply(&Value::Object(update), now_us)?;
        Ok(s)
    }

    /// Applies a `PUT …/settings` body: removes before adds, unknown keys ignored, then the
    /// server's checks. On an error nothing changes.
    pub(crate) fn apply(&mut self, body: &Value, now_us: i64) -> Result<(), String> {
        let Value::Object(body) = body else {
            return Err("settings must be an object".into());
        };
        let mut next = self.clone();
        for key in LISTS {
            let Some(change) = body.get(key) else {
                continue;
            };
            let (add, remove) = add_remove(key, change)?;
            let list = next.lists.entry(key).or_insert_with(|| json!([]));
            let items = list.as_array_mut().expect("lists are arrays");
            items.retain(|v| !remove.contains(v));
            for a in add {
                if !items.contains(&a) {
                    items.push(a);
                }
            }
        }
        if let Some(change) = body.get("distinct_value_fields") {
            let (add, remove) = add_remove("distinct_value_fields", change)?;
            next.distinct_value_fields
                .retain(|d| !remove.contains(&d["name"]));
            for a in add {
                if a == "count" || a == "_timestamp" {
                    return Err(format!(
                        "count and _timestamp are reserved fields and cannot be added, not {a}"
                    ));
                }
                if !next.distinct_value_fields.iter().any(|d| d["name"] == a) {
                    next.distinct_value_fields
                        .push(json!({"name": a, "added_ts": now_us}));
                }
            }
        }
        let mut wanted: Vec<Value> = next
            .partition_keys
            .iter()
            .filter(|p| p["disabled"] != json!(true))
            .cloned()
            .collect();
        if let Some(change) = body.get("partition_keys") {
            let (add, remove) = add_remove("partition_keys", change)?;
            wanted.retain(|p| !remove.iter().any(|r| r["field"] == p["field"]));
            for a in add {
                if !a["field"].is_string() || a.get("types").is_none() {
                    return Err(format!("partition key {a} needs field and types"));
                }
                wanted.retain(|p| p["field"] != a["field"]);
                wanted.push(json!({"field": a["field"], "types": a["types"], "disabled": false}));
            }
        }
        for key in SCALARS {
            if let Some(v) = body.get(key) {
                next.scalars.insert(key.to_owned(), v.clone());
            }
        }
        next.fold_bloom_into_index();
        next.check(&wanted)?;
        next.merge_partition_keys(wanted)?;
        *self = next;
        Ok(())
    }

    /// v0.91+: every bloom-filter field is a secondary-index field too.
    fn fold_bloom_into_index(&mut self) {
        let bloom = self.lists["bloom_filter_fields"].clone();
        let index = self.lists["index_fields"]
            .as_array_mut()
            .expect("lists are arrays");
        for b in bloom.as_array().into_iter().flatten() {
            if !index.contains(b) {
                index.push(b.clone());
            }
        }
    }

    fn set(&self, key: &str) -> Vec<&str> {
        self.lists[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect()
    }

    fn check(&self, partition_keys: &[Value]) -> Result<(), String> {
        let fts = self.set("full_text_search_keys");
        let index = self.set("index_fields");
        let bloom = self.set("bloom_filter_fields");
        for r in RESERVED {
            if index.contains(&r) || bloom.contains(&r) || fts.contains(&r) {
                return Err(format!("field [{r}] is reserved and cannot be used here"));
            }
        }
        if let Some(both) = fts.iter().find(|f| index.contains(f)) {
            return Err(format!(
                "field [{both}] cannot be both full text search and secondary index — choose one"
            ));
        }
        for p in partition_keys {
            let field = p["field"].as_str().unwrap_or_default();
            if RESERVED.contains(&field) {
                return Err(format!(
                    "field [{field}] is reserved and cannot be used as partition key"
                ));
            }
            if fts.contains(&field) || index.contains(&field) || bloom.contains(&field) {
                return Err(format!(
                    "partition key [{field}] cannot also be a full text search, secondary index or bloom filter field"
                ));
            }
        }
        Ok(())
    }

    /// Keys no longer wanted stay, disabled; a key's type can never change.
    fn merge_partition_keys(&mut self, wanted: Vec<Value>) -> Result<(), String> {
        let mut merged = self.partition_keys.clone();
        for old in &mut merged {
            old["disabled"] = json!(true);
        }
        for w in wanted {
            match merged.iter_mut().find(|o| o["field"] == w["field"]) {
                Some(old) if old["types"] != w["types"] => {
                    return Err(format!(
                        "field [{}] partition types can't be changed",
                        w["field"].as_str().unwrap_or_default()
                    ))
                }
                Some(old) => old["disabled"] = json!(false),
                None => merged.push(w),
            }
        }
        self.partition_keys = merged;
        Ok(())
    }

    /// The `settings` object of a `GET …/schema` answer: partition keys keyed `L0`, `L1` …,
    /// distinct values as `{name, added_ts}`.
    pub(crate) fn to_json(&self) -> Value {
        let mut out = self.lists.clone();
        let keys: Map<String, Value> = self
            .partition_keys
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("L{i}"), p.clone()))
            .collect();
        out.insert("partition_keys".into(), Value::Object(keys));
        out.insert(
            "distinct_value_fields".into(),
            Value::Array(self.distinct_value_fields.clone()),
        );
        out.extend(self.scalars.clone());
        Value::Object(out)
    }
}

fn add_remove(key: &str, change: &Value) -> Result<(Vec<Value>, Vec<Value>), String> {
    let list = |name: &str| -> Result<Vec<Value>, String> {
        match change.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items.clone()),
            Some(other) => Err(format!(
                "Failed to deserialize the JSON body into the target type: {key}.{name}: invalid type: {other}, expected a sequence"
            )),
        }
    };
    if !change.is_object() {
        return Err(format!(
            "Failed to deserialize the JSON body into the target type: {key}: invalid type: {change}, expected struct UpdateSettingsWrapper"
        ));
    }
    Ok((list("add")?, list("remove")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_apply_before_adds_and_adds_do_not_duplicate() {
        let mut s = Settings::default();
        s.apply(&json!({"index_fields": {"add": ["a", "b"]}}), 1)
            .unwrap();
        s.apply(
            &json!({"index_fields": {"add": ["a", "c"], "remove": ["a", "b"]}}),
            2,
        )
        .unwrap();
        assert_eq!(s.to_json()["index_fields"], json!(["a", "c"]));
    }

    #[test]
    fn the_servers_checks() {
        let mut s = Settings::default();
        let fts_and_index =
            json!({"full_text_search_keys": {"add": ["m"]}, "index_fields": {"add": ["m"]}});
        assert!(s
            .apply(&fts_and_index, 1)
            .unwrap_err()
            .contains("choose one"));
        assert!(s
            .apply(&json!({"index_fields": {"add": ["_timestamp"]}}), 1)
            .unwrap_err()
            .contains("reserved"));
        s.apply(&json!({"bloom_filter_fields": {"add": ["rid"]}}), 1)
            .unwrap();
        assert_eq!(
            s.to_json()["index_fields"],
            json!(["rid"]),
            "bloom folded into index"
        );
        let pk = |f: &str| json!({"partition_keys": {"add": [{"field": f, "types": "value"}]}});
        assert!(s
            .apply(&pk("rid"), 1)
            .unwrap_err()
            .contains("partition key"));
        assert_eq!(
            s.to_json()["partition_keys"],
            json!({}),
            "a refused change changes nothing"
        );
    }

    #[test]
    fn partition_keys_are_disabled_not_removed_and_keep_their_type() {
        let mut s = Settings::default();
        s.apply(
            &json!({"partition_keys": {"add": [{"field": "op", "types": "value"}]}}),
            1,
        )
        .unwrap();
        s.apply(
            &json!({"partition_keys": {"remove": [{"field": "op", "types": "value"}]}}),
            1,
        )
        .unwrap();
        assert_eq!(
            s.to_json()["partition_keys"],
            json!({"L0": {"field": "op", "types": "value", "disabled": true}})
        );
        let other_type =
            json!({"partition_keys": {"add": [{"field": "op", "types": {"hash": 8}}]}});
        assert!(s
            .apply(&other_type, 1)
            .unwrap_err()
            .contains("can't be changed"));
        s.apply(
            &json!({"partition_keys": {"add": [{"field": "op", "types": "value"}]}}),
            1,
        )
        .unwrap();
        assert_eq!(
            s.to_json()["partition_keys"]["L0"]["disabled"],
            json!(false)
        );
    }

    #[test]
    fn unknown_keys_and_the_old_set_wrapper_change_nothing() {
        let mut s = Settings::default();
        let before = s.clone();
        s.apply(
            &json!({"set": {"full_text_search_keys": ["msg"]}, "colour": 1}),
            1,
        )
        .unwrap();
        assert_eq!(s, before);
        assert!(s
            .apply(&json!({"index_fields": ["a"]}), 1)
            .unwrap_err()
            .contains("UpdateSettingsWrapper"));
    }

    #[test]
    fn create_takes_plain_lists_and_scalars() {
        let s = Settings::from_create(
            &json!({"full_text_search_keys": ["msg"], "partition_keys": [{"field": "op", "types": "value"}], "data_retention": 7}),
            1,
        )
        .unwrap();
        let j = s.to_json();
        assert_eq!(j["full_text_search_keys"], json!(["msg"]));
        assert_eq!(j["data_retention"], json!(7));
        assert_eq!(j["partition_keys"]["L0"]["field"], json!("op"));
    }
}
