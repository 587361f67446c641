//! Comparing what we would send with what the server holds.
//!
//! The server answers with more than it was sent (ids, owners, creation times, defaults such
//! as `"color": null`), so the question is whether every value of ours is there, unchanged:
//! objects compare key by key on our keys only, lists element by element with equal lengths.
//! A key the server dropped on save (OpenObserve drops unknown keys silently) therefore shows
//! as a difference on every run, which the stand-in's tests catch.

use serde_json::Value;

/// Where `actual` first differs from `wanted`, as a path (`tabs[0].panels[2].title`); `None`
/// when every value of `wanted` is in `actual`.
pub(crate) fn first_difference(wanted: &Value, actual: &Value) -> Option<String> {
    let mut path = String::new();
    walk(wanted, actual, &mut path).then_some(path)
}

/// Appends to `path` and returns true at the first difference.
fn walk(wanted: &Value, actual: &Value, path: &mut String) -> bool {
    match (wanted, actual) {
        (Value::Object(w), Value::Object(a)) => {
            for (key, wv) in w {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                let differs = match a.get(key) {
                    Some(av) => walk(wv, av, path),
                    // An absent key and a null are the same to the server's optional fields.
                    None => !wv.is_null(),
                };
                if differs {
                    return true;
                }
                path.truncate(len);
            }
            false
        }
        (Value::Array(w), Value::Array(a)) => {
            if w.len() != a.len() {
                path.push_str(&format!(" (length {} != {})", w.len(), a.len()));
                return true;
            }
            for (i, (wv, av)) in w.iter().zip(a).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                if walk(wv, av, path) {
                    return true;
                }
                path.truncate(len);
            }
            false
        }
        (Value::Number(w), Value::Number(a)) => w.as_f64() != a.as_f64(),
        (w, a) => w != a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extra_keys_on_the_server_do_not_count() {
        let wanted = json!({"a": 1, "b": [{"c": "x"}], "n": null});
        let actual = json!({"a": 1.0, "b": [{"c": "x", "color": null}], "id": "k"});
        assert_eq!(first_difference(&wanted, &actual), None);
    }

    #[test]
    fn a_dropped_key_a_changed_value_and_a_shorter_list_count() {
        let wanted = json!({"tabs": [{"panels": [{"title": "a", "extra": 1}]}]});
        let dropped = json!({"tabs": [{"panels": [{"title": "a"}]}]});
        assert_eq!(
            first_difference(&wanted, &dropped).as_deref(),
            Some("tabs[0].panels[0].extra")
        );
        let changed = json!({"tabs": [{"panels": [{"title": "b", "extra": 1}]}]});
        assert_eq!(
            first_difference(&wanted, &changed).as_deref(),
            Some("tabs[0].panels[0].title")
        );
        let shorter = json!({"tabs": []});
        assert_eq!(
            first_difference(&wanted, &shorter).as_deref(),
            Some("tabs (length 1 != 0)")
        );
    }
}
