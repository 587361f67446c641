//! What OpenObserve's structs accept, as data: the keys a body may have, which are required,
//! their JSON types and defaults. [`normalize`] does to a body what the server's serde
//! deserialisation does: a missing required key or a wrong type is a 422, an unknown key is
//! dropped without a word, a missing optional key gets its default. Serialising the result
//! back is what a later GET answers.
//!
//! The shapes follow the v0.92 structs for the keys a client is likely to send; keys of
//! features this stand-in does not model are kept as `Any` where the server keeps them.

use serde_json::{Map, Value};

/// The JSON shape of a value.
#[derive(Debug)]
pub(crate) enum Shape {
    /// Anything, kept as sent.
    Any,
    Str,
    Bool,
    Num,
    Int,
    List(&'static Shape),
    Obj(&'static [Key]),
}

/// One key of an object shape.
#[derive(Debug)]
pub(crate) struct Key {
    pub name: &'static str,
    pub shape: Shape,
    pub required: bool,
    /// Written when the key is absent (`None`: left out).
    pub default: Option<fn() -> Value>,
}

const fn req(name: &'static str, shape: Shape) -> Key {
    Key {
        name,
        shape,
        required: true,
        default: None,
    }
}

const fn opt(name: &'static str, shape: Shape) -> Key {
    Key {
        name,
        shape,
        required: false,
        default: None,
    }
}

const fn def(name: &'static str, shape: Shape, default: fn() -> Value) -> Key {
    Key {
        name,
        shape,
        required: false,
        default: Some(default),
    }
}

fn null() -> Value {
    Value::Null
}
fn empty_list() -> Value {
    Value::Array(Vec::new())
}
fn empty_str() -> Value {
    Value::String(String::new())
}
fn no() -> Value {
    Value::Bool(false)
}
fn zero() -> Value {
    Value::from(0)
}

/// The body normalised as the server stores it, or the 422 message.
pub(crate) fn normalize(value: &Value, shape: &Shape) -> Result<Value, String> {
    let mut path = String::new();
    walk(value, shape, &mut path)
}

fn type_error(path: &str, want: &str, got: &Value) -> String {
    let at = if path.is_empty() { "body" } else { path };
    format!("Failed to deserialize the JSON body into the target type: {at}: invalid type: {got}, expected {want}")
}

fn walk(value: &Value, shape: &Shape, path: &mut String) -> Result<Value, String> {
    let ok = |fits: bool, want: &str| {
        if fits {
            Ok(value.clone())
        } else {
            Err(type_error(path, want, value))
        }
    };
    match shape {
        Shape::Any => Ok(value.clone()),
        Shape::Str => ok(value.is_string(), "a string"),
        Shape::Bool => ok(value.is_boolean(), "a boolean"),
        Shape::Num => ok(value.is_number(), "a number"),
        Shape::Int => ok(value.is_i64() || value.is_u64(), "an integer"),
        Shape::List(item) => {
            let Value::Array(items) = value else {
                return Err(type_error(path, "a sequence", value));
            };
            let mut out = Vec::with_capacity(items.len());
            for (i, v) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                out.push(walk(v, item, path)?);
                path.truncate(len);
            }
            Ok(Value::Array(out))
        }
        Shape::Obj(keys) => {
            let Value::Object(map) = value else {
                return Err(type_error(path, "a map", value));
            };
            let mut out = Map::new();
            for key in keys.iter() {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key.name);
                match map.get(key.name) {
                    Some(Value::Null) if !key.required => {
                        out.insert(key.name.to_owned(), Value::Null);
                    }
                    Some(v) => {
                        out.insert(key.name.to_owned(), walk(v, &key.shape, path)?);
                    }
                    None if key.required => {
                        path.truncate(len);
                        let at = if path.is_empty() { "body" } else { path };
                        return Err(format!(
                            "Failed to deserialize the JSON body into the target type: {at}: missing field `{}`",
                            key.name
                        ));
                    }
                    None => {
                        if let Some(default) = key.default {
                            out.insert(key.name.to_owned(), default());
                        }
                    }
                }
                path.truncate(len);
            }
            Ok(Value::Object(out))
        }
    }
}

// ----------------------------------------------------------------------- dashboards, v8

pub(crate) static DASHBOARD_V8: Shape = Shape::Obj(&[
    opt("version", Shape::Int),
    def("dashboardId", Shape::Str, empty_str),
    def("title", Shape::Str, empty_str),
    def("description", Shape::Str, empty_str),
    def("role", Shape::Str, empty_str),
    def("owner", Shape::Str, empty_str),
    opt("created", Shape::Any),
    def("tabs", Shape::List(&TAB), empty_list),
    opt("variables", VARIABLES),
    opt("defaultDatetimeDuration", DATETIME),
]);

static TAB: Shape = Shape::Obj(&[
    req("tabId", Shape::Str),
    req("name", Shape::Str),
    def("panels", Shape::List(&PANEL), empty_list),
]);

static PANEL: Shape = Shape::Obj(&[
    req("id", Shape::Str),
    req("type", Shape::Str),
    req("title", Shape::Str),
    req("description", Shape::Str),
    req("config", PANEL_CONFIG),
    def("queryType", Shape::Str, empty_str),
    req("queries", Shape::List(&QUERY)),
    opt(
        "layout",
        Shape::Obj(&[
            def("x", Shape::Int, zero),
            def("y", Shape::Int, zero),
            def("w", Shape::Int, zero),
            def("h", Shape::Int, zero),
            def("i", Shape::Int, zero),
        ]),
    ),
    opt("htmlContent", Shape::Str),
    opt("markdownContent", Shape::Str),
    opt("customChartContent", Shape::Str),
]);

const PANEL_CONFIG: Shape = Shape::Obj(&[
    req("show_legends", Shape::Bool),
    def("legends_position", Shape::Str, null),
    opt("legends_type", Shape::Str),
    opt("chart_align", Shape::Str),
    opt("unit", Shape::Str),
    opt("unit_custom", Shape::Str),
    opt("decimals", Shape::Num),
    opt("line_thickness", Shape::Num),
    opt("step_value", Shape::Str),
    opt("top_results", Shape::Num),
    opt("y_axis_min", Shape::Num),
    opt("y_axis_max", Shape::Num),
    opt("top_results_others", Shape::Bool),
    opt("axis_width", Shape::Num),
    opt("axis_border_show", Shape::Bool),
    opt("label_option", Shape::Any),
    opt("axis_label_rotate", Shape::Num),
    opt("axis_label_truncate_width", Shape::Num),
    opt("show_symbol", Shape::Bool),
    opt("line_interpolation", Shape::Str),
    opt("legend_width", Shape::Any),
    opt("legend_height", Shape::Any),
    def("base_map", Shape::Any, null),
    opt("map_type", Shape::Any),
    def("map_view", Shape::Any, null),
    opt("map_symbol_style", Shape::Any),
    opt("drilldown", Shape::Any),
    opt("mark_line", Shape::Any),
    opt("override_config", Shape::Any),
    opt("connect_nulls", Shape::Bool),
    opt("no_value_replacement", Shape::Str),
    opt("wrap_table_cells", Shape::Bool),
    opt("table_transpose", Shape::Bool),
    opt("table_dynamic_columns", Shape::Bool),
    opt("mappings", Shape::Any),
    opt("color", Shape::Any),
    opt("background", Shape::Any),
    opt("trellis", Shape::Any),
    opt("show_gridlines", Shape::Bool),
    opt("aggregation", Shape::Str),
]);

static QUERY: Shape = Shape::Obj(&[
    def("query", Shape::Str, null),
    def("vrlFunctionQuery", Shape::Str, null),
    req("customQuery", Shape::Bool),
    req(
        "fields",
        Shape::Obj(&[
            req("stream", Shape::Str),
            req("stream_type", Shape::Str),
            req("x", Shape::List(&AXIS)),
            req("y", Shape::List(&AXIS)),
            def("z", Shape::List(&AXIS), empty_list),
            opt("breakdown", Shape::List(&AXIS)),
            opt("latitude", AXIS),
            opt("longitude", AXIS),
            opt("weight", AXIS),
            opt("name", AXIS),
            opt("value_for_maps", AXIS),
            opt("source", AXIS),
            opt("target", AXIS),
            opt("value", AXIS),
            // PanelFilter is an untagged enum of a condition or a group: an object either way.
            req(
                "filter",
                Shape::Obj(&[
                    opt("filterType", Shape::Str),
                    opt("logicalOperator", Shape::Str),
                    opt("conditions", Shape::Any),
                    opt("type", Shape::Str),
                    opt("values", Shape::Any),
                    opt("column", Shape::Any),
                    opt("operator", Shape::Any),
                    opt("value", Shape::Any),
                ]),
            ),
            opt("promql_labels", Shape::Any),
            opt("promql_operations", Shape::Any),
        ]),
    ),
    req(
        "config",
        Shape::Obj(&[
            req("promql_legend", Shape::Str),
            opt("step_value", Shape::Str),
            opt("layer_type", Shape::Str),
            opt("weight_fixed", Shape::Num),
            opt("limit", Shape::Num),
            opt("min", Shape::Num),
            opt("max", Shape::Num),
            opt("time_shift", Shape::Any),
        ]),
    ),
    opt("joins", Shape::Any),
]);

const AXIS: Shape = Shape::Obj(&[
    req("label", Shape::Str),
    req("alias", Shape::Str),
    opt("column", Shape::Str),
    opt("type", Shape::Str),
    def("color", Shape::Str, null),
    opt("functionName", Shape::Str),
    opt("sortBy", Shape::Str),
    opt("args", Shape::Any),
    opt("isDerived", Shape::Bool),
    opt("havingConditions", Shape::Any),
    opt("treatAsNonTimestamp", Shape::Bool),
    opt("showFieldAsJson", Shape::Bool),
    opt("rawQuery", Shape::Str),
]);

const VARIABLES: Shape = Shape::Obj(&[
    def("list", Shape::List(&VARIABLE), empty_list),
    opt("showDynamicFilters", Shape::Bool),
]);

static VARIABLE: Shape = Shape::Obj(&[
    def("type", Shape::Str, empty_str),
    def("name", Shape::Str, empty_str),
    def("label", Shape::Str, empty_str),
    def(
        "query_data",
        Shape::Obj(&[
            def("stream_type", Shape::Str, empty_str),
            def("stream", Shape::Str, empty_str),
            def("field", Shape::Str, empty_str),
            def("max_record_size", Shape::Int, null),
            opt("filter", Shape::Any),
        ]),
        null,
    ),
    def("value", Shape::Str, null),
    def("options", Shape::Any, null),
    opt("multiSelect", Shape::Bool),
    opt("hideOnDashboard", Shape::Bool),
    opt("selectAllValueForMultiSelect", Shape::Str),
    opt("customMultiSelectValue", Shape::Any),
    opt("escapeSingleQuotes", Shape::Bool),
]);

const DATETIME: Shape = Shape::Obj(&[
    def("type", Shape::Str, empty_str),
    opt("relativeTimePeriod", Shape::Str),
    opt("startTime", Shape::Int),
    opt("endTime", Shape::Int),
]);

// ----------------------------------------------------------------------- alerts (v2)

pub(crate) static ALERT: Shape = Shape::Obj(&[
    opt("id", Shape::Any),
    req("name", Shape::Str),
    req("stream_type", Shape::Str),
    req("stream_name", Shape::Str),
    req("is_real_time", Shape::Bool),
    req(
        "query_condition",
        Shape::Obj(&[
            req("type", Shape::Str),
            def("conditions", Shape::Any, null),
            def("sql", Shape::Str, null),
            def("promql", Shape::Str, null),
            def("promql_condition", Shape::Any, null),
            def("aggregation", Shape::Any, null),
            def("vrl_function", Shape::Str, null),
            opt("search_event_type", Shape::Any),
            def("multi_time_range", Shape::Any, empty_list),
        ]),
    ),
    req(
        "trigger_condition",
        Shape::Obj(&[
            req("period", Shape::Int),
            def("operator", Shape::Str, || Value::from("=")),
            def("threshold", Shape::Int, zero),
            def("frequency", Shape::Int, || Value::from(1)),
            opt("frequency_type", Shape::Str),
            def("cron", Shape::Str, empty_str),
            def("silence", Shape::Int, zero),
            opt("timezone", Shape::Str),
            opt("tolerance_in_secs", Shape::Int),
            def("align_time", Shape::Bool, no),
        ]),
    ),
    def("destinations", Shape::List(&Shape::Str), empty_list),
    opt("template", Shape::Str),
    def("context_attributes", Shape::Any, null),
    def("row_template", Shape::Str, empty_str),
    opt("row_template_type", Shape::Str),
    def("description", Shape::Str, empty_str),
    def("enabled", Shape::Bool, no),
    def("tz_offset", Shape::Int, zero),
    def("owner", Shape::Str, null),
    def("last_triggered_at", Shape::Int, null),
    def("last_satisfied_at", Shape::Int, null),
    def("last_edited_by", Shape::Str, null),
    opt("updated_at", Shape::Any),
]);

pub(crate) static TEMPLATE: Shape = Shape::Obj(&[
    req("name", Shape::Str),
    def("type", Shape::Str, || Value::from("http")),
    req("body", Shape::Str),
    opt("title", Shape::Str),
    def("isDefault", Shape::Bool, no),
]);

pub(crate) static DESTINATION: Shape = Shape::Obj(&[
    req("name", Shape::Str),
    def("type", Shape::Str, || Value::from("http")),
    def("url", Shape::Str, empty_str),
    def("method", Shape::Str, || Value::from("post")),
    def("skip_tls_verify", Shape::Bool, no),
    opt("headers", Shape::Any),
    def("template", Shape::Str, empty_str),
    opt("emails", Shape::Any),
    opt("action_id", Shape::Any),
    opt("output_format", Shape::Any),
]);

pub(crate) static VIEW: Shape =
    Shape::Obj(&[req("data", Shape::Any), req("view_name", Shape::Str)]);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_keys_are_dropped_and_defaults_written() {
        let v = normalize(
            &json!({"name": "t", "body": "b", "colour": "red"}),
            &TEMPLATE,
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"name": "t", "type": "http", "body": "b", "isDefault": false})
        );
    }

    #[test]
    fn missing_required_keys_and_wrong_types_are_named() {
        let e = normalize(&json!({"name": "t"}), &TEMPLATE).unwrap_err();
        assert!(e.ends_with("body: missing field `body`"), "{e}");
        let e = normalize(&json!({"name": 1, "body": "b"}), &TEMPLATE).unwrap_err();
        assert!(
            e.contains("name: invalid type: 1, expected a string"),
            "{e}"
        );
        let e = normalize(
            &json!({"tabs": [{"tabId": "a", "name": "A", "panels": [{"id": "p"}]}]}),
            &DASHBOARD_V8,
        )
        .unwrap_err();
        assert!(e.contains("tabs[0].panels[0]: missing field `type`"), "{e}");
    }
}
