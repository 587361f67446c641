//! The stand-in's management API over real HTTP, one test per server behaviour an installer can
//! trip on (shared/reference/OPENOBSERVE_API.md).

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use simulator::openobserve::{OpenObserveConfig, OpenObserveStandIn};

struct Api {
    oo: OpenObserveStandIn,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    auth: String,
}

impl Api {
    async fn start() -> Api {
        let oo = OpenObserveStandIn::start(OpenObserveConfig::default())
            .await
            .unwrap();
        let c = oo.config();
        let creds =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.user, c.password));
        Api {
            client: Client::builder(TokioExecutor::new()).build_http(),
            auth: format!("Basic {creds}"),
            oo,
        }
    }

    /// `method path` with a raw body; the status and the answer (JSON, or the text as a string).
    async fn raw(&self, method: Method, path: &str, body: &str) -> (u16, Value) {
        let req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.oo.url()))
            .header("authorization", &self.auth)
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap();
        let answer = self.client.request(req).await.unwrap();
        let status = answer.status().as_u16();
        let bytes = answer.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, value)
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.raw(method, path, &body).await
    }

    async fn create_stream(&self, name: &str) {
        let (s, _) = self
            .call(
                Method::POST,
                &format!("/api/default/streams/{name}?type=logs"),
                Some(json!({"fields": [], "settings": {}})),
            )
            .await;
        assert_eq!(s, 200);
    }
}

fn dashboard(title: &str) -> Value {
    json!({
        "version": 8, "title": title, "description": "d",
        "tabs": [{"tabId": "t", "name": "T", "panels": [{
            "id": "p1", "type": "line", "title": "P", "description": "",
            "config": {"show_legends": true},
            "queries": [{"query": "SELECT 1 AS x_axis_1", "customQuery": true,
                "fields": {"stream": "s", "stream_type": "logs", "x": [{"label": "X", "alias": "x_axis_1"}], "y": [],
                    "filter": {"filterType": "group", "logicalOperator": "AND", "conditions": []}},
                "config": {"promql_legend": ""}}],
            "layout": {"x": 0, "y": 0, "w": 96, "h": 18, "i": 1}
        }]}]
    })
}

fn alert(name: &str, sql: &str) -> Value {
    json!({
        "name": name, "stream_type": "logs", "stream_name": "errors", "is_real_time": false,
        "query_condition": {"type": "sql", "sql": sql},
        "trigger_condition": {"period": 5, "operator": ">=", "threshold": 1, "frequency": 5, "silence": 10},
        "destinations": [], "description": "d"
    })
}

#[tokio::test]
async fn settings_of_a_missing_stream_are_a_404_until_it_is_created() {
    let api = Api::start().await;
    let put = json!({"index_fields": {"add": ["level"], "remove": []}});
    let (s, body) = api
        .call(
            Method::PUT,
            "/api/default/streams/errors/settings?type=logs",
            Some(put.clone()),
        )
        .await;
    assert_eq!(
        (s, body["message"].as_str()),
        (404, Some("stream not found"))
    );
    let (s, _) = api
        .call(
            Method::GET,
            "/api/default/streams/errors/schema?type=logs",
            None,
        )
        .await;
    assert_eq!(s, 404);
    api.create_stream("errors").await;
    let (s, body) = api
        .call(
            Method::POST,
            "/api/default/streams/errors?type=logs",
            Some(json!({"fields": [], "settings": {}})),
        )
        .await;
    assert_eq!(
        (s, body["message"].as_str()),
        (400, Some("stream already exists"))
    );
    let (s, _) = api
        .call(
            Method::PUT,
            "/api/default/streams/errors/settings?type=logs",
            Some(put),
        )
        .await;
    assert_eq!(s, 200);
    let (_, schema) = api
        .call(
            Method::GET,
            "/api/default/streams/errors/schema?type=logs",
            None,
        )
        .await;
    assert_eq!(schema["settings"]["index_fields"], json!(["level"]));
    // POST on …/settings was the v0.11–0.14 form.
    let (s, _) = api
        .call(
            Method::POST,
            "/api/default/streams/errors/settings",
            Some(json!({})),
        )
        .await;
    assert_eq!(s, 405);
}

#[tokio::test]
async fn a_stream_created_by_ingestion_takes_settings_and_shows_its_schema() {
    let api = Api::start().await;
    let (s, _) = api
        .raw(
            Method::POST,
            "/api/default/ingested/_json",
            r#"[{"level":"error","n":1}]"#,
        )
        .await;
    assert_eq!(s, 200);
    let put = json!({"partition_keys": {"add": [{"field": "level", "types": "value"}]}, "data_retention": 7});
    let (s, _) = api
        .call(
            Method::PUT,
            "/api/default/streams/ingested/settings?type=logs",
            Some(put),
        )
        .await;
    assert_eq!(s, 200);
    let (_, schema) = api
        .call(
            Method::GET,
            "/api/default/streams/ingested/schema?type=logs",
            None,
        )
        .await;
    assert_eq!(
        schema["settings"]["partition_keys"],
        json!({"L0": {"field": "level", "types": "value", "disabled": false}})
    );
    assert_eq!(schema["settings"]["data_retention"], json!(7));
    let names: Vec<&str> = schema["schema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["_timestamp", "level", "n"]);
}

#[tokio::test]
async fn unknown_setting_keys_are_ignored_and_bad_combinations_refused() {
    let api = Api::start().await;
    api.create_stream("errors").await;
    let path = "/api/default/streams/errors/settings?type=logs";
    let (s, _) = api
        .call(
            Method::PUT,
            path,
            Some(json!({"set": {"full_text_search_keys": ["msg"]}})),
        )
        .await;
    assert_eq!(s, 200, "the old wrapper 'succeeds' ...");
    let (_, schema) = api
        .call(Method::GET, "/api/default/streams/errors/schema", None)
        .await;
    assert_eq!(
        schema["settings"]["full_text_search_keys"],
        json!([]),
        "... and does nothing"
    );
    let both = json!({"full_text_search_keys": {"add": ["msg"]}, "index_fields": {"add": ["msg"]}});
    let (s, body) = api.call(Method::PUT, path, Some(both)).await;
    assert_eq!(s, 400, "{body}");
    let (s, _) = api
        .call(
            Method::PUT,
            path,
            Some(json!({"index_fields": {"add": ["_timestamp"]}})),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = api.raw(Method::PUT, path, "{not json").await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn dashboards_need_the_fresh_hash_and_drop_unknown_keys() {
    let api = Api::start().await;
    let mut d = dashboard("Slow queries");
    d["tabs"][0]["panels"][0]["sparkle"] = json!(true);
    let (s, created) = api
        .call(
            Method::POST,
            "/api/default/dashboards?folder=default",
            Some(d),
        )
        .await;
    assert_eq!(s, 201);
    let id = created["v8"]["dashboardId"].as_str().unwrap().to_owned();
    let path = format!("/api/default/dashboards/{id}?folder=default");
    let (_, got) = api.call(Method::GET, &path, None).await;
    assert_eq!(got["version"], json!(8));
    let panel = &got["v8"]["tabs"][0]["panels"][0];
    assert!(
        panel.get("sparkle").is_none(),
        "unknown keys are dropped on save"
    );
    assert_eq!(panel["queries"][0]["fields"]["x"][0]["color"], Value::Null);
    let hash = got["hash"].as_str().unwrap().to_owned();

    let (s, _) = api
        .call(Method::PUT, &path, Some(dashboard("Slow queries 2")))
        .await;
    assert_eq!(s, 500, "PUT without a hash");
    let (s, _) = api
        .call(
            Method::PUT,
            &format!("{path}&hash=stale"),
            Some(dashboard("x")),
        )
        .await;
    assert_eq!(s, 409, "PUT with a stale hash");
    let (s, saved) = api
        .call(
            Method::PUT,
            &format!("{path}&hash={hash}"),
            Some(dashboard("Slow queries 2")),
        )
        .await;
    assert_eq!(s, 200);
    assert_ne!(
        saved["hash"].as_str().unwrap(),
        hash,
        "every save changes the hash"
    );
    let (s, _) = api
        .call(
            Method::PUT,
            &format!("{path}&hash={hash}"),
            Some(dashboard("again")),
        )
        .await;
    assert_eq!(s, 409, "the hash of the replaced version is stale now");
}

#[tokio::test]
async fn dashboard_titles_need_not_be_unique_and_bodies_are_checked() {
    let api = Api::start().await;
    for _ in 0..2 {
        let (s, _) = api
            .call(
                Method::POST,
                "/api/default/dashboards?folder=default",
                Some(dashboard("Same")),
            )
            .await;
        assert_eq!(s, 201);
    }
    let (_, list) = api
        .call(
            Method::GET,
            "/api/default/dashboards?folder=default&title=sAm",
            None,
        )
        .await;
    assert_eq!(list["dashboards"].as_array().unwrap().len(), 2);
    let mut missing = dashboard("x");
    missing["tabs"][0]["panels"][0]
        .as_object_mut()
        .unwrap()
        .remove("config");
    let (s, body) = api
        .call(Method::POST, "/api/default/dashboards", Some(missing))
        .await;
    assert_eq!(s, 422, "{body}");
    let (s, _) = api
        .raw(Method::POST, "/api/default/dashboards", "{\"version\": 8,")
        .await;
    assert_eq!(s, 400);
    let (s, _) = api
        .call(
            Method::POST,
            "/api/default/dashboards?folder=nope",
            Some(dashboard("x")),
        )
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn alerts_default_to_disabled_allow_duplicate_names_and_refuse_what_the_server_refuses() {
    let api = Api::start().await;
    let post = "/api/v2/default/alerts?folder=default";
    let ok_sql =
        "SELECT instance_id, count(*) FROM \"errors\" GROUP BY instance_id HAVING count(*) >= 1";
    let (s, _) = api
        .call(Method::POST, post, Some(alert("burst", ok_sql)))
        .await;
    assert_eq!(s, 404, "the stream must exist");
    api.create_stream("errors").await;
    let (s, first) = api
        .call(Method::POST, post, Some(alert("burst", ok_sql)))
        .await;
    assert_eq!(s, 200);
    let (s, _) = api
        .call(Method::POST, post, Some(alert("burst", ok_sql)))
        .await;
    assert_eq!(s, 200, "names are not unique");
    let (_, list) = api.call(Method::GET, "/api/v2/default/alerts", None).await;
    assert_eq!(list["list"].as_array().unwrap().len(), 2);
    let id = first["id"].as_str().unwrap();
    let (_, got) = api
        .call(Method::GET, &format!("/api/v2/default/alerts/{id}"), None)
        .await;
    assert_eq!(got["enabled"], json!(false), "enabled defaults to false");
    for bad_name in ["has space", "a:b", "a/b", "it's"] {
        let (s, _) = api
            .call(Method::POST, post, Some(alert(bad_name, ok_sql)))
            .await;
        assert_eq!(s, 400, "{bad_name}");
    }
    let (s, _) = api
        .call(
            Method::POST,
            post,
            Some(alert("star", "SELECT *  FROM \"errors\"")),
        )
        .await;
    assert_eq!(s, 400, "SELECT * is refused");
    let mut to_nowhere = alert("nowhere", ok_sql);
    to_nowhere["destinations"] = json!(["missing"]);
    let (s, _) = api.call(Method::POST, post, Some(to_nowhere)).await;
    assert_eq!(s, 400, "destinations must exist");
    let mut unknown = alert("updated", ok_sql);
    unknown["sparkle"] = json!(1);
    unknown["enabled"] = json!(true);
    let (s, _) = api
        .call(
            Method::PUT,
            &format!("/api/v2/default/alerts/{id}"),
            Some(unknown),
        )
        .await;
    assert_eq!(s, 200);
    let (_, got) = api
        .call(Method::GET, &format!("/api/v2/default/alerts/{id}"), None)
        .await;
    assert_eq!(
        (got["name"].as_str(), got["enabled"].as_bool()),
        (Some("updated"), Some(true))
    );
    assert!(got.get("sparkle").is_none());
}

#[tokio::test]
async fn templates_and_destinations_are_unique_and_cannot_be_deleted_in_use() {
    let api = Api::start().await;
    let tpl = json!({"name": "hook", "type": "http", "body": "{\"text\": \"{alert_name}\"}"});
    let dest = json!({"name": "hook", "type": "http", "url": "https://x.example", "method": "post", "template": "hook"});
    let (s, _) = api
        .call(
            Method::POST,
            "/api/default/alerts/destinations",
            Some(dest.clone()),
        )
        .await;
    assert_eq!(s, 400, "the template must exist");
    for (path, body) in [("templates", &tpl), ("destinations", &dest)] {
        let p = format!("/api/default/alerts/{path}");
        let (s, _) = api.call(Method::POST, &p, Some(body.clone())).await;
        assert_eq!(s, 200, "{path}");
        let (s, _) = api.call(Method::POST, &p, Some(body.clone())).await;
        assert_eq!(s, 400, "{path}: a duplicate name");
    }
    let (s, _) = api
        .call(Method::DELETE, "/api/default/alerts/templates/hook", None)
        .await;
    assert_eq!(s, 409, "in use by the destination");
    api.create_stream("errors").await;
    let mut a = alert("uses_hook", "SELECT count(*) FROM \"errors\"");
    a["destinations"] = json!(["hook"]);
    let (s, _) = api
        .call(Method::POST, "/api/v2/default/alerts", Some(a))
        .await;
    assert_eq!(s, 200);
    let (s, _) = api
        .call(
            Method::DELETE,
            "/api/default/alerts/destinations/hook",
            None,
        )
        .await;
    assert_eq!(s, 409, "in use by the alert");
    let mut changed = dest.clone();
    changed["url"] = json!("https://y.example");
    let (s, _) = api
        .call(
            Method::PUT,
            "/api/default/alerts/destinations/hook",
            Some(changed),
        )
        .await;
    assert_eq!(s, 200);
    let (_, got) = api
        .call(Method::GET, "/api/default/alerts/destinations/hook", None)
        .await;
    assert_eq!(got["url"], json!("https://y.example"));
}

#[tokio::test]
async fn saved_view_names_are_unique_and_the_list_has_no_data() {
    let api = Api::start().await;
    let view =
        json!({"view_name": "errors", "data": {"query": "SELECT * FROM \"errors\"", "extra": 1}});
    let (s, created) = api
        .call(Method::POST, "/api/default/savedviews", Some(view.clone()))
        .await;
    assert_eq!(s, 200);
    let (s, _) = api
        .call(Method::POST, "/api/default/savedviews", Some(view.clone()))
        .await;
    assert_eq!(s, 400, "duplicate name");
    let (_, list) = api.call(Method::GET, "/api/default/savedviews", None).await;
    assert!(list["views"][0].get("data").is_none());
    let id = created["view_id"].as_str().unwrap();
    let (_, got) = api
        .call(Method::GET, &format!("/api/default/savedviews/{id}"), None)
        .await;
    assert_eq!(got["data"]["extra"], json!(1), "data is kept as sent");
    let (s, _) = api
        .call(
            Method::DELETE,
            &format!("/api/default/savedviews/{id}"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(api.oo.objects()["views"], json!([]));
}

#[tokio::test]
async fn management_calls_need_credentials() {
    let api = Api::start().await;
    let req = Request::builder()
        .uri(format!("{}/api/default/dashboards", api.oo.url()))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let answer = api.client.request(req).await.unwrap();
    assert_eq!(answer.status().as_u16(), 401);
}
