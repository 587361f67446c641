//! OpenObserve's management API as v0.92 answers it, for installers to be tested against:
//! stream settings, dashboards (schema v8), alerts (v2) with their templates and
//! destinations, and saved views. The server behaviours a client can trip on are kept (see
//! `shared/reference/OPENOBSERVE_API.md`):
//!
//! - settings of a stream that does not exist: 404 `stream not found` (create it first);
//!   unknown keys (the old `{"set": …}` wrapper) are ignored with a 200;
//! - `PUT` of a dashboard needs the hash of the version it replaces: none is a 500, a stale one
//!   a 409; the hash changes on every save;
//! - unknown keys of a dashboard or alert are dropped on save, missing required ones are a
//!   422, malformed JSON a 400;
//! - an alert's `enabled` defaults to false; dashboard titles and alert names need not be
//!   unique; alert names with whitespace or `:#?'"%&/` and `SELECT *` are refused; an alert's
//!   stream must exist (404) and so must its destinations;
//! - template, destination and saved-view names are unique (400 on a duplicate); a template a
//!   destination uses, and a destination an alert uses, cannot be deleted (409).
//!
//! Only the `default` folder exists.

mod shape;
mod streams;

use std::collections::BTreeMap;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{json, Map, Value};

use super::server::{
    admit, decode, decode_segment, error_answer, json_answer, read_body, Accepts, Answer,
};
use super::{lock, Shared};
pub(crate) use streams::Settings;

/// Largest management body read (a dashboard is tens of kB).
const BODY_LIMIT: usize = 16 << 20;
const FOLDER: &str = "default";

/// A management path: `/api/{org}/…` or `/api/v2/{org}/…`, the part after the org.
#[derive(Debug)]
pub(crate) struct ManageRoute {
    pub org: String,
    pub v2: bool,
    pub rest: Vec<String>,
}

impl ManageRoute {
    /// The route of `segments` (the path split at `/`, without the leading `api`), if it is a
    /// management path.
    pub(crate) fn parse(segments: &[&str]) -> Option<ManageRoute> {
        let (v2, org, rest) = match segments {
            ["v2", org, rest @ ..] if rest.first() == Some(&"alerts") => (true, org, rest),
            [org, rest @ ..]
                if matches!(
                    rest.first(),
                    Some(&"streams") | Some(&"dashboards") | Some(&"alerts") | Some(&"savedviews")
                ) =>
            {
                (false, org, rest)
            }
            _ => return None,
        };
        Some(ManageRoute {
            org: decode_segment(org),
            v2,
            rest: rest.iter().map(|s| decode_segment(s)).collect(),
        })
    }
}

#[derive(Debug, Clone)]
struct Dashboard {
    org: String,
    id: String,
    hash: String,
    v8: Value,
}

#[derive(Debug, Clone)]
struct Alert {
    org: String,
    id: String,
    body: Value,
}

#[derive(Debug, Clone)]
struct View {
    org: String,
    id: String,
    name: String,
    data: Value,
}

/// Everything the management API keeps, for every org.
#[derive(Debug, Default)]
pub(crate) struct Objects {
    /// Settings of streams that were created or had their settings changed.
    streams: BTreeMap<(String, String), Settings>,
    dashboards: Vec<Dashboard>,
    alerts: Vec<Alert>,
    templates: BTreeMap<(String, String), Value>,
    destinations: BTreeMap<(String, String), Value>,
    views: Vec<View>,
    next_id: u64,
}

impl Objects {
    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{:020}", self.next_id)
    }

    /// A snapshot for tests: `{"streams": {name: settings}, "dashboards": [v8…], "alerts":
    /// […], "templates": […], "destinations": […], "views": [{view_id, view_name, data}]}`.
    pub(crate) fn snapshot(&self, org: &str) -> Value {
        let streams: Map<String, Value> = self
            .streams
            .iter()
            .filter(|((o, _), _)| o == org)
            .map(|((_, s), v)| (s.clone(), v.to_json()))
            .collect();
        let of_org = |m: &BTreeMap<(String, String), Value>| -> Vec<Value> {
            m.iter()
                .filter(|((o, _), _)| o == org)
                .map(|(_, v)| v.clone())
                .collect()
        };
        json!({
            "streams": streams,
            "dashboards": self.dashboards.iter().filter(|d| d.org == org).map(|d| d.v8.clone()).collect::<Vec<_>>(),
            "alerts": self.alerts.iter().filter(|a| a.org == org).map(|a| a.body.clone()).collect::<Vec<_>>(),
            "templates": of_org(&self.templates),
            "destinations": of_org(&self.destinations),
            "views": self.views.iter().filter(|v| v.org == org)
                .map(|v| json!({"view_id": v.id, "view_name": v.name, "data": v.data})).collect::<Vec<_>>(),
        })
    }
}

/// One request: its route, query parameters, the user and the JSON body (if any).
struct Call<'a> {
    shared: &'a Shared,
    org: String,
    query: BTreeMap<String, String>,
    user: String,
    body: Option<Value>,
}

impl Call<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    fn body(&self) -> Result<&Value> {
        self.body
            .as_ref()
            .ok_or_else(|| fail(StatusCode::BAD_REQUEST, "Invalid JSON: empty body"))
    }

    fn stream_exists(&self, objects: &Objects, stream: &str) -> bool {
        objects
            .streams
            .contains_key(&(self.org.clone(), stream.to_owned()))
            || lock(&self.shared.store)
                .streams(&self.org)
                .iter()
                .any(|s| s == stream)
    }
}

pub(crate) async fn handle(
    shared: &Arc<Shared>,
    route: ManageRoute,
    req: Request<Incoming>,
) -> Answer {
    let encoding = match admit(shared, &route.org, req.headers(), Accepts::PasswordOnly) {
        Ok(e) => e,
        Err(rejection) => return rejection.answer(),
    };
    let user = basic_user(req.headers()).unwrap_or_default();
    let method = req.method().clone();
    let query = parse_query(req.uri().query().unwrap_or_default());
    let raw = match read_body(req.into_body(), BODY_LIMIT)
        .await
        .and_then(|raw| decode(encoding, raw, BODY_LIMIT))
    {
        Ok(raw) => raw,
        Err(rejection) => return rejection.answer(),
    };
    let body = if raw.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match serde_json::from_slice::<Value>(&raw) {
            Ok(v) => Some(v),
            Err(e) => {
                return error_answer(
                    StatusCode::BAD_REQUEST,
                    &format!("Failed to parse the request body as JSON: {e}"),
                )
            }
        }
    };
    let call = Call {
        shared,
        org: route.org,
        query,
        user,
        body,
    };
    let rest: Vec<&str> = route.rest.iter().map(String::as_str).collect();
    let answer = match (route.v2, method.clone(), rest.as_slice()) {
        (false, Method::POST, ["streams", s]) => create_stream(&call, s),
        (false, Method::PUT, ["streams", s, "settings"]) => update_settings(&call, s),
        (false, Method::GET, ["streams", s, "schema"]) => get_schema(&call, s),
        (false, Method::GET, ["dashboards"]) => list_dashboards(&call),
        (false, Method::POST, ["dashboards"]) => create_dashboard(&call),
        (false, Method::GET, ["dashboards", id]) => get_dashboard(&call, id),
        (false, Method::PUT, ["dashboards", id]) => update_dashboard(&call, id),
        (false, Method::DELETE, ["dashboards", id]) => delete_dashboard(&call, id),
        (false, m, ["alerts", kind @ ("templates" | "destinations"), name @ ..])
            if name.len() <= 1 =>
        {
            named(&call, m, kind, name.first().copied())
        }
        (true, Method::GET, ["alerts"]) => list_alerts(&call),
        (true, Method::POST, ["alerts"]) => save_alert(&call, None),
        (true, Method::GET, ["alerts", id]) => get_alert(&call, id),
        (true, Method::PUT, ["alerts", id]) => save_alert(&call, Some(id)),
        (true, Method::DELETE, ["alerts", id]) => delete_alert(&call, id),
        (false, Method::GET, ["savedviews"]) => list_views(&call),
        (false, Method::POST, ["savedviews"]) => save_view(&call, None),
        (false, Method::GET, ["savedviews", id]) => get_view(&call, id),
        (false, Method::PUT, ["savedviews", id]) => save_view(&call, Some(id)),
        (false, Method::DELETE, ["savedviews", id]) => delete_view(&call, id),
        (_, _, ["streams", _, "settings"]) => {
            // v0.11–v0.14 took POST here; v0.92 routes only PUT.
            Err(fail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"))
        }
        _ => Err(fail(StatusCode::NOT_FOUND, "Not Found")),
    };
    answer.unwrap_or_else(|r| error_answer(r.status, &r.message))
}

/// Why a request is refused: turned into OpenObserve's `{"code","message"}` answer at the end.
struct Refusal {
    status: StatusCode,
    message: String,
}

type Result<T = Answer> = std::result::Result<T, Refusal>;

fn ok(message: &str) -> Result {
    Ok(json_answer(
        StatusCode::OK,
        &json!({"code": 200, "message": message}),
    ))
}

fn fail(status: StatusCode, message: &str) -> Refusal {
    Refusal {
        status,
        message: message.to_owned(),
    }
}

fn unprocessable(message: String) -> Refusal {
    Refusal {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        message,
    }
}

fn check_folder(call: &Call<'_>) -> Result<()> {
    match call.param("folder") {
        None | Some("") | Some(FOLDER) => Ok(()),
        Some(_) => Err(fail(StatusCode::NOT_FOUND, "folder not found")),
    }
}

// ---------------------------------------------------------------------------- streams

fn create_stream(call: &Call<'_>, stream: &str) -> Result {
    let body = call.body()?;
    let (Some(_fields), Some(settings)) = (body.get("fields"), body.get("settings")) else {
        return Err(unprocessable(
            "Failed to deserialize the JSON body into the target type: missing field `fields` or `settings`".into(),
        ));
    };
    let mut objects = lock(&call.shared.objects);
    if call.stream_exists(&objects, stream) {
        return Err(fail(StatusCode::BAD_REQUEST, "stream already exists"));
    }
    let settings = Settings::from_create(settings, call.shared.now_us())
        .map_err(|e| fail(StatusCode::BAD_REQUEST, &e))?;
    objects
        .streams
        .insert((call.org.clone(), stream.to_owned()), settings);
    ok("stream created")
}

fn update_settings(call: &Call<'_>, stream: &str) -> Result {
    let body = call.body()?;
    let mut objects = lock(&call.shared.objects);
    if !call.stream_exists(&objects, stream) {
        return Err(fail(StatusCode::NOT_FOUND, "stream not found"));
    }
    let settings = objects
        .streams
        .entry((call.org.clone(), stream.to_owned()))
        .or_default();
    settings.apply(body, call.shared.now_us()).map_err(|e| {
        let status = if e.starts_with("Failed to deserialize") {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::BAD_REQUEST
        };
        fail(status, &e)
    })?;
    ok("")
}

fn get_schema(call: &Call<'_>, stream: &str) -> Result {
    let objects = lock(&call.shared.objects);
    if !call.stream_exists(&objects, stream) {
        return Err(fail(StatusCode::NOT_FOUND, "stream not found"));
    }
    let settings = objects
        .streams
        .get(&(call.org.clone(), stream.to_owned()))
        .cloned()
        .unwrap_or_default();
    let (fields, count) = lock(&call.shared.store).schema(&call.org, stream);
    let schema: Vec<Value> = fields
        .into_iter()
        .map(|(name, typ)| json!({"name": name, "type": typ}))
        .collect();
    Ok(json_answer(
        StatusCode::OK,
        &json!({
            "name": stream, "storage_type": "disk", "stream_type": "logs",
            "stats": {"doc_num": count}, "schema": schema, "settings": settings.to_json()
        }),
    ))
}

// ---------------------------------------------------------------------------- dashboards

fn dashboard_details(d: &Dashboard) -> Value {
    json!({"v8": d.v8, "version": 8, "hash": d.hash})
}

fn normalize_dashboard(body: &Value) -> Result<Value> {
    if body.get("version").and_then(Value::as_i64) != Some(8) {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "the stand-in keeps dashboards of schema version 8 only",
        ));
    }
    shape::normalize(body, &shape::DASHBOARD_V8).map_err(unprocessable)
}

fn list_dashboards(call: &Call<'_>) -> Result {
    let title = call.param("title").map(str::to_lowercase);
    if call.param("folder").is_some() {
        check_folder(call)?;
    }
    let objects = lock(&call.shared.objects);
    let list: Vec<Value> = objects
        .dashboards
        .iter()
        .filter(|d| d.org == call.org)
        .filter(|d| {
            title.as_ref().is_none_or(|t| {
                d.v8["title"]
                    .as_str()
                    .unwrap_or_default()
                    .to_lowercase()
                    .contains(t.as_str())
            })
        })
        .map(|d| {
            json!({
                "folder_id": FOLDER, "folder_name": "default", "dashboard_id": d.id,
                "title": d.v8["title"], "description": d.v8["description"], "role": d.v8["role"],
                "owner": d.v8["owner"], "created": d.v8["created"], "hash": d.hash, "version": 8,
            })
        })
        .collect();
    Ok(json_answer(StatusCode::OK, &json!({"dashboards": list})))
}

fn create_dashboard(call: &Call<'_>) -> Result {
    check_folder(call)?;
    let mut v8 = normalize_dashboard(call.body()?)?;
    let mut objects = lock(&call.shared.objects);
    let id = objects.id("7");
    v8["dashboardId"] = json!(id);
    v8["owner"] = json!(call.user);
    v8["created"] = json!(format!("{}", call.shared.now_us()));
    let hash = objects.id("h");
    let d = Dashboard {
        org: call.org.clone(),
        id,
        hash,
        v8,
    };
    let answer = dashboard_details(&d);
    objects.dashboards.push(d);
    Ok(json_answer(StatusCode::CREATED, &answer))
}

fn find_dashboard<'a>(
    objects: &'a mut Objects,
    call: &Call<'_>,
    id: &str,
) -> Result<&'a mut Dashboard> {
    objects
        .dashboards
        .iter_mut()
        .find(|d| d.org == call.org && d.id == id)
        .ok_or_else(|| fail(StatusCode::NOT_FOUND, "Dashboard not found"))
}

fn get_dashboard(call: &Call<'_>, id: &str) -> Result {
    check_folder(call)?;
    let mut objects = lock(&call.shared.objects);
    let d = find_dashboard(&mut objects, call, id)?;
    Ok(json_answer(StatusCode::OK, &dashboard_details(d)))
}

fn update_dashboard(call: &Call<'_>, id: &str) -> Result {
    check_folder(call)?;
    let mut v8 = normalize_dashboard(call.body()?)?;
    let Some(hash) = call.param("hash").map(str::to_owned) else {
        return Err(fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Failed to update dashboard: hash is required",
        ));
    };
    let mut objects = lock(&call.shared.objects);
    let new_hash = objects.id("h");
    let d = find_dashboard(&mut objects, call, id)?;
    if d.hash != hash {
        return Err(fail(
            StatusCode::CONFLICT,
            "Conflict: Failed to save due to concurrent changes",
        ));
    }
    for kept in ["dashboardId", "owner", "created"] {
        v8[kept] = d.v8[kept].clone();
    }
    d.v8 = v8;
    d.hash = new_hash;
    Ok(json_answer(StatusCode::OK, &dashboard_details(d)))
}

fn delete_dashboard(call: &Call<'_>, id: &str) -> Result {
    let mut objects = lock(&call.shared.objects);
    find_dashboard(&mut objects, call, id)?;
    objects
        .dashboards
        .retain(|d| !(d.org == call.org && d.id == id));
    ok("Dashboard deleted")
}

// ---------------------------------------------------------------------------- alerts

fn check_alert(call: &Call<'_>, objects: &Objects, alert: &Value) -> Result<()> {
    let name = alert["name"].as_str().unwrap_or_default();
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || ":#?'\"%&/".contains(c))
    {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "Alert name cannot contain ':', '#', '?', '&', '%', '/', quotes and space characters",
        ));
    }
    let stream = alert["stream_name"].as_str().unwrap_or_default();
    if !call.stream_exists(objects, stream) {
        return Err(fail(
            StatusCode::NOT_FOUND,
            &format!("Stream {stream} not found"),
        ));
    }
    let condition = &alert["query_condition"];
    if condition["type"] == "sql" {
        let sql = condition["sql"].as_str().unwrap_or_default();
        if sql.trim().is_empty() {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                "Alert with SQL condition must have a SQL query",
            ));
        }
        let squashed: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
        if squashed.to_lowercase().contains("select *") {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                "Alerts with SQL can not select all columns (SELECT *)",
            ));
        }
    }
    for d in alert["destinations"].as_array().into_iter().flatten() {
        let d = d.as_str().unwrap_or_default();
        if !objects
            .destinations
            .contains_key(&(call.org.clone(), d.to_owned()))
        {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                &format!("Alert destination {d} not found"),
            ));
        }
    }
    Ok(())
}

fn save_alert(call: &Call<'_>, id: Option<&str>) -> Result {
    if id.is_none() {
        check_folder(call)?;
    }
    let mut body = shape::normalize(call.body()?, &shape::ALERT).map_err(unprocessable)?;
    let mut objects = lock(&call.shared.objects);
    check_alert(call, &objects, &body)?;
    match id {
        None => {
            let id = objects.id("2");
            body["id"] = json!(id);
            body["owner"] = json!(call.user);
            let name = body["name"].clone();
            objects.alerts.push(Alert {
                org: call.org.clone(),
                id: id.clone(),
                body,
            });
            Ok(json_answer(
                StatusCode::OK,
                &json!({"code": 200, "message": "Alert saved", "id": id, "name": name}),
            ))
        }
        Some(id) => {
            let alert = objects
                .alerts
                .iter_mut()
                .find(|a| a.org == call.org && a.id == id)
                .ok_or_else(|| fail(StatusCode::NOT_FOUND, "Alert not found"))?;
            body["id"] = json!(id);
            body["owner"] = alert.body["owner"].clone();
            alert.body = body;
            ok("Alert Updated")
        }
    }
}

fn list_alerts(call: &Call<'_>) -> Result {
    let name = call.param("alert_name_substring").map(str::to_lowercase);
    let stream = call.param("stream_name");
    let objects = lock(&call.shared.objects);
    let list: Vec<Value> = objects
        .alerts
        .iter()
        .filter(|a| a.org == call.org)
        .filter(|a| {
            name.as_ref().is_none_or(|n| {
                a.body["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_lowercase()
                    .contains(n.as_str())
            })
        })
        .filter(|a| stream.is_none_or(|s| a.body["stream_name"] == s))
        .map(|a| {
            let b = &a.body;
            json!({
                "alert_id": a.id, "folder_id": FOLDER, "folder_name": "default", "name": b["name"],
                "owner": b["owner"], "description": b["description"], "condition": b["query_condition"],
                "trigger_condition": b["trigger_condition"], "enabled": b["enabled"],
                "last_triggered_at": null, "last_satisfied_at": null, "is_real_time": b["is_real_time"],
            })
        })
        .collect();
    Ok(json_answer(StatusCode::OK, &json!({"list": list})))
}

fn get_alert(call: &Call<'_>, id: &str) -> Result {
    let objects = lock(&call.shared.objects);
    let alert = objects
        .alerts
        .iter()
        .find(|a| a.org == call.org && a.id == id)
        .ok_or_else(|| fail(StatusCode::NOT_FOUND, "Alert not found"))?;
    Ok(json_answer(StatusCode::OK, &alert.body))
}

fn delete_alert(call: &Call<'_>, id: &str) -> Result {
    let mut objects = lock(&call.shared.objects);
    let before = objects.alerts.len();
    objects
        .alerts
        .retain(|a| !(a.org == call.org && a.id == id));
    if objects.alerts.len() == before {
        return Err(fail(StatusCode::NOT_FOUND, "Alert not found"));
    }
    ok("Alert deleted")
}

// ---------------------------------------------------------------- templates, destinations

/// Alert templates and destinations: objects keyed by name, with the same five calls.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Named {
    Template,
    Destination,
}

type NamedMap = BTreeMap<(String, String), Value>;

impl Named {
    fn what(self) -> &'static str {
        match self {
            Named::Template => "Alert template",
            Named::Destination => "Alert destination",
        }
    }

    fn shape(self) -> &'static shape::Shape {
        match self {
            Named::Template => &shape::TEMPLATE,
            Named::Destination => &shape::DESTINATION,
        }
    }

    fn map(self, objects: &Objects) -> &NamedMap {
        match self {
            Named::Template => &objects.templates,
            Named::Destination => &objects.destinations,
        }
    }

    fn map_mut(self, objects: &mut Objects) -> &mut NamedMap {
        match self {
            Named::Template => &mut objects.templates,
            Named::Destination => &mut objects.destinations,
        }
    }

    /// What still refers to `name` (a destination to a template, an alert to a destination).
    fn used_by(self, objects: &Objects, org: &str, name: &str) -> Option<String> {
        match self {
            Named::Template => objects
                .destinations
                .iter()
                .find(|(k, d)| k.0 == org && d["template"] == name)
                .map(|(k, _)| format!("destination {}", k.1)),
            Named::Destination => objects
                .alerts
                .iter()
                .find(|a| {
                    a.org == org
                        && a.body["destinations"]
                            .as_array()
                            .is_some_and(|ds| ds.iter().any(|d| d == name))
                })
                .map(|a| format!("alert {}", a.body["name"].as_str().unwrap_or_default())),
        }
    }
}

fn named(call: &Call<'_>, method: Method, kind: &str, name: Option<&str>) -> Result {
    let kind = if kind == "templates" {
        Named::Template
    } else {
        Named::Destination
    };
    let mut objects = lock(&call.shared.objects);
    match (method, name) {
        (Method::GET, None) => {
            let list: Vec<Value> = kind
                .map(&objects)
                .iter()
                .filter(|(k, _)| k.0 == call.org)
                .map(|(_, v)| v.clone())
                .collect();
            Ok(json_answer(StatusCode::OK, &Value::Array(list)))
        }
        (Method::GET, Some(n)) => kind
            .map(&objects)
            .get(&(call.org.clone(), n.to_owned()))
            .map(|v| json_answer(StatusCode::OK, v))
            .ok_or_else(|| not_found(kind)),
        (m @ (Method::POST | Method::PUT), n) => save_named(call, &mut objects, kind, m, n),
        (Method::DELETE, Some(n)) => delete_named(call, &mut objects, kind, n),
        _ => Err(fail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")),
    }
}

fn not_found(kind: Named) -> Refusal {
    fail(StatusCode::NOT_FOUND, &format!("{} not found", kind.what()))
}

fn save_named(
    call: &Call<'_>,
    objects: &mut Objects,
    kind: Named,
    method: Method,
    name: Option<&str>,
) -> Result {
    let what = kind.what();
    let mut body = shape::normalize(call.body()?, kind.shape()).map_err(unprocessable)?;
    let name = match name {
        Some(n) => n.to_owned(),
        None => body["name"].as_str().unwrap_or_default().to_owned(),
    };
    body["name"] = json!(name);
    if kind == Named::Destination {
        let t = body["template"].as_str().unwrap_or_default();
        if !t.is_empty()
            && !objects
                .templates
                .contains_key(&(call.org.clone(), t.to_owned()))
        {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                &format!("Alert template {t} not found"),
            ));
        }
    }
    let key = (call.org.clone(), name.clone());
    let map = kind.map_mut(objects);
    match (method, map.contains_key(&key)) {
        (Method::POST, true) => Err(fail(
            StatusCode::BAD_REQUEST,
            &format!("{what} with name {name} already exists"),
        )),
        (Method::PUT, false) => Err(not_found(kind)),
        _ => {
            map.insert(key, body);
            ok(&format!("{what} saved"))
        }
    }
}

fn delete_named(call: &Call<'_>, objects: &mut Objects, kind: Named, name: &str) -> Result {
    if let Some(user) = kind.used_by(objects, &call.org, name) {
        return Err(fail(
            StatusCode::CONFLICT,
            &format!("{} is in use for {user}", kind.what()),
        ));
    }
    match kind
        .map_mut(objects)
        .remove(&(call.org.clone(), name.to_owned()))
    {
        Some(_) => ok(&format!("{} deleted", kind.what())),
        None => Err(not_found(kind)),
    }
}

// ---------------------------------------------------------------------------- saved views

fn view_json(v: &View, with_data: bool) -> Value {
    let mut out = json!({"org_id": v.org, "view_id": v.id, "view_name": v.name});
    if with_data {
        out["data"] = v.data.clone();
    }
    out
}

fn list_views(call: &Call<'_>) -> Result {
    let objects = lock(&call.shared.objects);
    let views: Vec<Value> = objects
        .views
        .iter()
        .filter(|v| v.org == call.org)
        .map(|v| view_json(v, false))
        .collect();
    Ok(json_answer(StatusCode::OK, &json!({"views": views})))
}

fn get_view(call: &Call<'_>, id: &str) -> Result {
    let objects = lock(&call.shared.objects);
    objects
        .views
        .iter()
        .find(|v| v.org == call.org && v.id == id)
        .map(|v| json_answer(StatusCode::OK, &view_json(v, true)))
        .ok_or_else(|| fail(StatusCode::NOT_FOUND, "View not found"))
}

fn save_view(call: &Call<'_>, id: Option<&str>) -> Result {
    let body = shape::normalize(call.body()?, &shape::VIEW).map_err(unprocessable)?;
    let name = body["view_name"].as_str().unwrap_or_default().to_owned();
    let mut objects = lock(&call.shared.objects);
    if objects
        .views
        .iter()
        .any(|v| v.org == call.org && v.name == name && Some(v.id.as_str()) != id)
    {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            &format!("View with name {name} already exists"),
        ));
    }
    match id {
        None => {
            let id = objects.id("2v");
            let v = View {
                org: call.org.clone(),
                id,
                name,
                data: body["data"].clone(),
            };
            let answer = view_json(&v, false);
            objects.views.push(v);
            Ok(json_answer(StatusCode::OK, &answer))
        }
        Some(id) => {
            let v = objects
                .views
                .iter_mut()
                .find(|v| v.org == call.org && v.id == id)
                .ok_or_else(|| fail(StatusCode::NOT_FOUND, "View not found"))?;
            v.name = name;
            v.data = body["data"].clone();
            Ok(json_answer(StatusCode::OK, &view_json(v, true)))
        }
    }
}

fn delete_view(call: &Call<'_>, id: &str) -> Result {
    let mut objects = lock(&call.shared.objects);
    let before = objects.views.len();
    objects.views.retain(|v| !(v.org == call.org && v.id == id));
    if objects.views.len() == before {
        return Err(fail(StatusCode::NOT_FOUND, "View not found"));
    }
    Ok(json_answer(
        StatusCode::OK,
        &json!({"org_id": call.org, "view_id": id}),
    ))
}

// ---------------------------------------------------------------------------- helpers

fn parse_query(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                decode_segment(&k.replace('+', " ")),
                decode_segment(&v.replace('+', " ")),
            )
        })
        .collect()
}

fn basic_user(headers: &hyper::header::HeaderMap) -> Option<String> {
    use base64::Engine as _;
    let value = headers.get(hyper::header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.trim().split_once(' ')?.1;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    Some(decoded.split_once(':')?.0.to_owned())
}
