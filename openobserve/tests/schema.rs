//! The dashboards deserialize against the required keys of OpenObserve's dashboard schema v8
//! (the server's `v8::Dashboard` structs: a key without a serde default and not an `Option`
//! is required, and a wrong JSON type is a 422), and follow the conventions the UI relies on.
//! That no key of ours is unknown to the server (it would be dropped on save) is shown by the
//! installer's second run being all "unchanged" against the stand-in (tests/install.rs).

use std::collections::BTreeSet;

use openobserve::{Assets, InstallConfig, StreamNames};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Dashboard {
    version: i32,
    title: String,
    description: String,
    tabs: Vec<Tab>,
    variables: Variables,
    default_datetime_duration: DateTime,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Tab {
    tab_id: String,
    name: String,
    panels: Vec<Panel>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Panel {
    id: String,
    #[serde(rename = "type")]
    typ: String,
    title: String,
    description: String,
    config: PanelConfig,
    query_type: String,
    queries: Vec<Query>,
    layout: Layout,
}

#[derive(Deserialize)]
struct PanelConfig {
    show_legends: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Query {
    query: String,
    custom_query: bool,
    fields: Fields,
    config: QueryConfig,
}

#[derive(Deserialize)]
struct Fields {
    stream: String,
    stream_type: String,
    x: Vec<Axis>,
    y: Vec<Axis>,
    #[serde(default)]
    z: Vec<Axis>,
    #[serde(default)]
    breakdown: Vec<Axis>,
    filter: Filter,
}

#[derive(Deserialize)]
struct Axis {
    label: String,
    alias: String,
}

/// `PanelFilter` is an untagged enum; a group is what the UI writes for "no filter".
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    filter_type: String,
    logical_operator: String,
    conditions: Vec<Value>,
}

#[derive(Deserialize)]
struct QueryConfig {
    promql_legend: String,
}

#[derive(Deserialize)]
struct Layout {
    x: i64,
    y: i64,
    w: i64,
    h: i64,
    i: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Variables {
    list: Vec<Variable>,
}

#[derive(Deserialize)]
struct Variable {
    #[serde(rename = "type")]
    typ: String,
    name: String,
    label: String,
    query_data: QueryData,
    value: Option<String>,
}

#[derive(Deserialize)]
struct QueryData {
    stream_type: String,
    stream: String,
    field: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DateTime {
    #[serde(rename = "type")]
    typ: String,
    relative_time_period: String,
}

/// OpenObserve's grid is 192 columns wide.
const GRID_COLUMNS: i64 = 192;

#[test]
fn every_dashboard_deserializes_against_the_v8_schemas_required_keys() {
    let assets = Assets::load(&StreamNames::default(), &InstallConfig::default()).unwrap();
    let panel_types = [
        "area",
        "area-stacked",
        "bar",
        "h-bar",
        "line",
        "scatter",
        "stacked",
        "h-stacked",
        "pie",
        "donut",
        "heatmap",
        "table",
        "metric",
        "gauge",
    ];
    for d in &assets.dashboards {
        let dash: Dashboard =
            serde_json::from_value(d.body.clone()).unwrap_or_else(|e| panic!("{}: {e}", d.name));
        let what = |more: &str| format!("{}: {more}", dash.title);
        assert_eq!(dash.version, 8, "{}", what("version"));
        assert!(!dash.description.is_empty());
        assert_eq!(dash.default_datetime_duration.typ, "relative");
        assert!(!dash
            .default_datetime_duration
            .relative_time_period
            .is_empty());
        let variables: BTreeSet<&str> = dash
            .variables
            .list
            .iter()
            .map(|v| v.name.as_str())
            .collect();
        for v in &dash.variables.list {
            assert_eq!(v.typ, "query_values", "{}", what(&v.name));
            assert!(!v.label.is_empty() && v.value.is_none());
            assert_eq!(v.query_data.stream_type, "logs");
            assert!(v.query_data.stream.starts_with("aurora_") && !v.query_data.field.is_empty());
        }
        let mut ids = BTreeSet::new();
        for tab in &dash.tabs {
            assert!(!tab.tab_id.is_empty() && !tab.name.is_empty());
            let mut seen_i = BTreeSet::new();
            for p in &tab.panels {
                let w = what(&p.id);
                assert!(ids.insert(p.id.clone()), "{w}: duplicate panel id");
                assert!(panel_types.contains(&p.typ.as_str()), "{w}: type {}", p.typ);
                assert!(!p.title.is_empty() && !p.description.is_empty(), "{w}");
                assert_eq!(p.query_type, "sql", "{w}");
                assert_eq!(
                    p.config.show_legends,
                    p.typ != "table",
                    "{w}: legends on charts only"
                );
                let l = &p.layout;
                assert!(
                    l.x >= 0 && l.w > 0 && l.x + l.w <= GRID_COLUMNS && l.y >= 0 && l.h > 0,
                    "{w}: layout"
                );
                assert!(seen_i.insert(l.i), "{w}: layout.i is unique within its tab");
                assert_eq!(p.queries.len(), 1, "{w}");
                let q = &p.queries[0];
                assert!(q.custom_query && q.config.promql_legend.is_empty(), "{w}");
                assert_eq!(q.fields.stream_type, "logs");
                assert!(
                    q.query.contains(&format!("FROM \"{}\"", q.fields.stream)),
                    "{w}: fields.stream is not read"
                );
                assert_eq!(
                    (
                        q.fields.filter.filter_type.as_str(),
                        q.fields.filter.logical_operator.as_str()
                    ),
                    ("group", "AND")
                );
                assert!(q.fields.filter.conditions.is_empty());
                let axes: Vec<&Axis> = q
                    .fields
                    .x
                    .iter()
                    .chain(&q.fields.y)
                    .chain(&q.fields.z)
                    .chain(&q.fields.breakdown)
                    .collect();
                assert!(
                    !q.fields.x.is_empty() && !q.fields.y.is_empty(),
                    "{w}: an x and a y axis"
                );
                for a in &axes {
                    assert!(!a.label.is_empty() && !a.alias.is_empty(), "{w}");
                    assert!(
                        q.query.contains(&format!("AS {}", a.alias)),
                        "{w}: alias {} is not selected",
                        a.alias
                    );
                }
                for var in q.query.split('$').skip(1) {
                    let name: String = var
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    assert!(
                        variables.contains(name.as_str()),
                        "{w}: ${name} is not a variable of the dashboard"
                    );
                }
            }
        }
    }
}

#[test]
fn every_alert_and_view_has_the_keys_the_server_requires() {
    let config = InstallConfig {
        alert_destination: "oncall".into(),
        ..Default::default()
    };
    let assets = Assets::load(&StreamNames::default(), &config).unwrap();
    for a in &assets.alerts {
        let b = &a.body;
        for key in [
            "name",
            "stream_type",
            "stream_name",
            "is_real_time",
            "query_condition",
            "trigger_condition",
        ] {
            assert!(b.get(key).is_some(), "{}: {key}", a.name);
        }
        assert!(
            !a.name
                .chars()
                .any(|c| c.is_whitespace() || ":#?'\"%&/".contains(c)),
            "{}",
            a.name
        );
        assert_eq!(b["query_condition"]["type"], "sql");
        let sql = b["query_condition"]["sql"].as_str().unwrap().to_lowercase();
        assert!(
            !sql.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .contains("select *"),
            "{}",
            a.name
        );
        let t = &b["trigger_condition"];
        assert_eq!(
            (t["operator"].as_str(), t["threshold"].as_i64()),
            (Some(">="), Some(1)),
            "{}: rows >= 1",
            a.name
        );
        assert!(
            t["period"].as_i64().unwrap() >= t["frequency"].as_i64().unwrap(),
            "{}: no gaps between windows",
            a.name
        );
    }
    for v in &assets.views {
        let data = &v.body["data"]["data"];
        for key in [
            "stream",
            "resultGrid",
            "query",
            "editorValue",
            "datetime",
            "timezone",
        ] {
            assert!(data.get(key).is_some(), "{}: data.data.{key}", v.name);
        }
        assert!(v.body["data"]["meta"]["sqlMode"].as_bool().unwrap());
    }
}
