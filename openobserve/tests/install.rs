//! The installer against the OpenObserve stand-in (which behaves as v0.92 does: see
//! simulator/src/openobserve/manage): idempotence, updates, prune, dry runs and errors.

use openobserve::{
    Assets, InstallConfig, InstallError, Installer, LogKind, Plan, StepKind, StreamNames, Target,
    Verdict,
};
use serde_json::{json, Value};
use simulator::openobserve::{OpenObserveConfig, OpenObserveStandIn};

async fn standin() -> OpenObserveStandIn {
    OpenObserveStandIn::start(OpenObserveConfig::default())
        .await
        .unwrap()
}

fn target(oo: &OpenObserveStandIn) -> Target {
    let c = oo.config();
    Target::new(&oo.url(), "default", &c.user, &c.password)
}

fn config() -> InstallConfig {
    InstallConfig {
        alert_webhook_url: "https://hooks.example.com/services/T0/B0/x".into(),
        ..Default::default()
    }
}

fn assets() -> Assets {
    Assets::load(&StreamNames::default(), &config()).unwrap()
}

async fn run(oo: &OpenObserveStandIn, assets: Assets, prune: bool) -> Plan {
    let installer = Installer::new(target(oo), assets).unwrap();
    let plan = installer.plan(prune).await.unwrap();
    installer.apply(&plan).await.unwrap();
    plan
}

async fn plan(oo: &OpenObserveStandIn, assets: Assets, prune: bool) -> Plan {
    Installer::new(target(oo), assets)
        .unwrap()
        .plan(prune)
        .await
        .unwrap()
}

fn verdicts(plan: &Plan, kind: StepKind) -> Vec<(String, Verdict)> {
    plan.steps
        .iter()
        .filter(|s| s.kind == kind)
        .map(|s| (s.name.clone(), s.verdict))
        .collect()
}

/// A client call of our own, as a user's UI would make it.
async fn http(oo: &OpenObserveStandIn, method: &str, path: &str, body: Value) -> Value {
    use base64::Engine as _;
    use http_body_util::{BodyExt, Full};
    let c = oo.config();
    let creds =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.user, c.password));
    let client = net::http_client();
    let req = http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", oo.url()))
        .header("authorization", format!("Basic {creds}"))
        .body(Full::new(bytes::Bytes::from(body.to_string())))
        .unwrap();
    let answer = client.request(req).await.unwrap();
    let status = answer.status();
    let bytes = answer.into_body().collect().await.unwrap().to_bytes();
    assert!(status.is_success(), "{method} {path}: {status} {bytes:?}");
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

#[tokio::test]
async fn the_first_run_creates_everything_and_the_second_changes_nothing() {
    let oo = standin().await;
    let a = assets();
    let first = run(&oo, a.clone(), false).await;
    let objects = 5 + 2 + a.dashboards.len() + a.views.len() + a.alerts.len();
    assert_eq!(first.count(Verdict::Create), objects, "{first}");
    assert_eq!(first.steps.len(), objects);
    let held = oo.objects();
    assert_eq!(
        held["dashboards"].as_array().unwrap().len(),
        a.dashboards.len()
    );
    assert_eq!(held["alerts"].as_array().unwrap().len(), a.alerts.len());
    assert_eq!(held["views"].as_array().unwrap().len(), a.views.len());
    assert!(held["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["enabled"] == json!(true)));
    let slow = &held["streams"]["aurora_mysql_slowquery"];
    assert_eq!(slow["data_retention"], json!(30));
    assert!(slow["index_fields"]
        .as_array()
        .unwrap()
        .contains(&json!("fingerprint_id")));

    let second = run(&oo, a, false).await;
    assert!(second.is_unchanged(), "{second}");
    assert_eq!(second.count(Verdict::Unchanged), objects, "{second}");
}

#[tokio::test]
async fn a_changed_dashboard_file_is_updated_with_the_fresh_hash() {
    let oo = standin().await;
    run(&oo, assets(), false).await;
    // A user saves our dashboard in the UI once (its hash changes) ...
    let list = http(
        &oo,
        "GET",
        "/api/default/dashboards?folder=default",
        json!(null),
    )
    .await;
    let id = list["dashboards"][0]["dashboard_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/default/dashboards/{id}?folder=default");
    let got = http(&oo, "GET", &path, json!(null)).await;
    let hash = got["hash"].as_str().unwrap();
    let mut edited = got["v8"].clone();
    edited["tabs"][0]["panels"][0]["title"] = json!("renamed by hand");
    http(&oo, "PUT", &format!("{path}&hash={hash}"), edited).await;
    // ... and a new release changes another dashboard's file.
    let mut a = assets();
    a.dashboards[1].body["tabs"][0]["panels"][0]["description"] = json!("a better description");
    let p = run(&oo, a.clone(), false).await;
    let updated: Vec<_> = verdicts(&p, StepKind::Dashboard)
        .into_iter()
        .filter(|(_, v)| *v == Verdict::Update)
        .collect();
    assert_eq!(updated.len(), 2, "{p}");
    let again = plan(&oo, a, false).await;
    assert!(again.is_unchanged(), "{again}");
    let held = oo.objects();
    let titles: Vec<&str> = held["dashboards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["tabs"][0]["panels"][0]["title"].as_str().unwrap())
        .collect();
    assert!(!titles.contains(&"renamed by hand"));
}

#[tokio::test]
async fn prune_removes_only_our_objects() {
    let oo = standin().await;
    run(&oo, assets(), false).await;
    // A user's dashboard with the same title as ours, and one of their own; a user's alert.
    let mut theirs = assets().dashboards[0].body.clone();
    theirs["description"] = json!("my copy");
    http(
        &oo,
        "POST",
        "/api/default/dashboards?folder=default",
        theirs,
    )
    .await;
    let mut own = assets().dashboards[1].body.clone();
    own["title"] = json!("My dashboard");
    own["description"] = json!("mine");
    http(&oo, "POST", "/api/default/dashboards?folder=default", own).await;
    let mut alert = assets().alerts[0].body.clone();
    alert["description"] = json!("my alert");
    http(&oo, "POST", "/api/v2/default/alerts?folder=default", alert).await;
    let view = json!({"view_name": "aurora-logs: mine", "data": {"query": "x"}});
    http(&oo, "POST", "/api/default/savedviews", view).await;

    // A later release drops one dashboard, one alert and one view.
    let mut a = assets();
    let dropped_dashboard = a.dashboards.remove(0).name;
    let dropped_alert = a.alerts.remove(0).name;
    let dropped_view = a.views.remove(0).name;
    let without_prune = plan(&oo, a.clone(), false).await;
    assert_eq!(without_prune.count(Verdict::Prune), 0);
    let p = run(&oo, a.clone(), true).await;
    let pruned: Vec<(StepKind, String)> = p
        .steps
        .iter()
        .filter(|s| s.verdict == Verdict::Prune)
        .map(|s| (s.kind, s.name.clone()))
        .collect();
    assert_eq!(
        pruned,
        vec![
            (StepKind::Alert, dropped_alert),
            (StepKind::View, dropped_view),
            (StepKind::Dashboard, dropped_dashboard.clone()),
        ],
        "{p}"
    );
    let held = oo.objects();
    let descriptions: Vec<&str> = held["dashboards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["description"].as_str().unwrap())
        .collect();
    assert!(descriptions.contains(&"my copy") && descriptions.contains(&"mine"));
    assert!(held["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["description"] == "my alert"));
    assert!(held["views"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["view_name"] == "aurora-logs: mine"));
    assert!(plan(&oo, a, true).await.is_unchanged());
}

#[tokio::test]
async fn a_dry_run_changes_nothing() {
    let oo = standin().await;
    let p = plan(&oo, assets(), true).await;
    assert!(p.count(Verdict::Create) > 0);
    assert_eq!(oo.objects()["dashboards"], json!([]));
    assert_eq!(oo.objects()["streams"], json!({}));
    run(&oo, assets(), false).await;
    let before = oo.objects();
    let mut a = assets();
    a.dashboards[0].body["title"] = json!("Renamed");
    a.dashboards[0].name = "Renamed".into();
    let p = plan(&oo, a, true).await;
    assert_eq!(p.count(Verdict::Create) + p.count(Verdict::Prune), 2, "{p}");
    assert_eq!(oo.objects(), before);
}

#[tokio::test]
async fn stream_settings_changed_by_hand_are_put_back_by_add_remove_diffs() {
    let oo = standin().await;
    run(&oo, assets(), false).await;
    let put =
        json!({"index_fields": {"add": ["message"], "remove": ["level"]}, "data_retention": 5});
    http(
        &oo,
        "PUT",
        "/api/default/streams/aurora_mysql_error/settings?type=logs",
        put,
    )
    .await;
    let p = plan(&oo, assets(), false).await;
    let step = p
        .steps
        .iter()
        .find(|s| s.kind == StepKind::Stream && s.name == "aurora_mysql_error")
        .unwrap();
    assert_eq!(step.verdict, Verdict::Update);
    assert_eq!(
        step.detail,
        "index_fields +[level] -[message]; data_retention 5 -> 30"
    );
    run(&oo, assets(), false).await;
    assert!(plan(&oo, assets(), false).await.is_unchanged());
}

#[tokio::test]
async fn configured_stream_names_are_what_gets_installed() {
    let oo = standin().await;
    let names = StreamNames::new(LogKind::ALL.map(|k| format!("prod_{}", k.key())));
    let a = Assets::load(&names, &config()).unwrap();
    run(&oo, a, false).await;
    let held = oo.objects();
    let streams: Vec<&String> = held["streams"].as_object().unwrap().keys().collect();
    assert_eq!(streams.len(), 5);
    assert!(streams.iter().all(|s| s.starts_with("prod_")));
    assert!(held["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["stream_name"].as_str().unwrap().starts_with("prod_")));
    assert!(!held.to_string().contains("aurora_mysql_slowquery"));
}

#[tokio::test]
async fn errors_name_the_object_and_the_servers_answer() {
    let oo = standin().await;
    let mut wrong = target(&oo);
    wrong.password = "wrong".into();
    let e = Installer::new(wrong, assets())
        .unwrap()
        .plan(false)
        .await
        .unwrap_err();
    assert!(e.is_unauthorized(), "{e}");
    assert!(e.to_string().contains("401"), "{e}");

    // A user's saved view holds one of our names: ours is not created beside it.
    let name = assets().views[0].name.clone();
    let view = json!({"view_name": name, "data": {"query": "mine"}});
    http(&oo, "POST", "/api/default/savedviews", view).await;
    let installer = Installer::new(target(&oo), assets()).unwrap();
    let p = installer.plan(false).await.unwrap();
    assert_eq!(
        verdicts(&p, StepKind::View)[0],
        (name.clone(), Verdict::Conflict)
    );
    let InstallError::Incomplete(failures) = installer.apply(&p).await.unwrap_err() else {
        panic!("an incomplete install")
    };
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].contains(&name), "{failures:?}");

    // A step the server refuses: the failure names the object and quotes the server.
    let mut a = assets();
    a.alerts[0].body["name"] = json!("has a space");
    a.alerts[0].name = "has a space".into();
    let installer = Installer::new(target(&oo), a).unwrap();
    let p = installer.plan(false).await.unwrap();
    let InstallError::Incomplete(failures) = installer.apply(&p).await.unwrap_err() else {
        panic!("an incomplete install")
    };
    let alert = failures.iter().find(|f| f.contains("has a space")).unwrap();
    assert!(
        alert.starts_with("alert \"has a space\" (create)"),
        "{alert}"
    );
    assert!(
        alert.contains("400") && alert.contains("Alert name cannot contain"),
        "{alert}"
    );
}

#[tokio::test]
async fn alerts_wait_for_a_destination_and_can_use_an_existing_one() {
    let oo = standin().await;
    let none = Assets::load(&StreamNames::default(), &InstallConfig::default()).unwrap();
    let p = run(&oo, none, false).await;
    assert_eq!(
        verdicts(&p, StepKind::Alert),
        vec![("*".into(), Verdict::Skip)]
    );
    assert_eq!(oo.objects()["alerts"], json!([]));

    let existing = InstallConfig {
        alert_destination: "oncall".into(),
        ..Default::default()
    };
    let a = Assets::load(&StreamNames::default(), &existing).unwrap();
    let installer = Installer::new(target(&oo), a.clone()).unwrap();
    let p = installer.plan(false).await.unwrap();
    assert_eq!(
        verdicts(&p, StepKind::Destination),
        vec![("oncall".into(), Verdict::Conflict)]
    );
    http(
        &oo,
        "POST",
        "/api/default/alerts/templates",
        json!({"name": "t", "body": "x"}),
    )
    .await;
    let dest = json!({"name": "oncall", "url": "https://pager.example", "template": "t"});
    http(&oo, "POST", "/api/default/alerts/destinations", dest).await;
    let p = run(&oo, a, false).await;
    assert_eq!(p.count(Verdict::Conflict), 0, "{p}");
    assert!(oo.objects()["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["destinations"] == json!(["oncall"])));
}

/// A server that answers every request with `answer` (raw HTTP), or never when it is empty.
async fn bad_server(answer: Vec<u8>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                if answer.is_empty() {
                    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                }
                let _ = s.write_all(&answer).await;
            });
        }
    });
    url
}

#[tokio::test]
async fn garbage_truncated_huge_and_missing_answers_are_clear_errors() {
    let huge = {
        let mut a = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", 17 << 20).into_bytes();
        a.extend(std::iter::repeat_n(b'[', 17 << 20));
        a
    };
    let cases: [(&str, Vec<u8>); 5] = [
        (
            "not JSON",
            b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\n<html>".to_vec(),
        ),
        (
            "not JSON",
            b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\n{\"fie\xff\"".to_vec(),
        ),
        (
            "reading the answer",
            b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"a\"".to_vec(),
        ),
        ("reading the answer", huge),
        ("no answer within", Vec::new()),
    ];
    for (want, answer) in cases {
        let url = bad_server(answer).await;
        let mut t = Target::new(&url, "default", "u", "p");
        t.timeout = std::time::Duration::from_millis(500);
        let e = Installer::new(t, assets())
            .unwrap()
            .plan(false)
            .await
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains(want) && text.contains("aurora_mysql_slowquery"),
            "{want}: {text}"
        );
    }
    let e = Installer::new(Target::new("not a url", "o", "u", "p"), assets()).unwrap_err();
    assert!(e.to_string().contains("is not a URL"), "{e}");
}
