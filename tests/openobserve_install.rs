//! `aurora-logs openobserve install` as a user runs it, against the OpenObserve stand-in: the
//! first run creates everything, the second changes nothing, `--dry-run` changes nothing,
//! `--prune` leaves a user's own dashboard alone, and a refused credential is a clear error.

use std::io::Write as _;
use std::process::{Command, Output};

use simulator::openobserve::{OpenObserveConfig, OpenObserveStandIn};

fn install(oo: &OpenObserveStandIn, password: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aurora-logs"))
        .args(["openobserve", "install"])
        .args(args)
        .env_remove("AURORA_LOGS_CONFIG")
        .env("AURORA_LOGS_OPENOBSERVE__URL", oo.url())
        .env("AURORA_LOGS_OPENOBSERVE__USER", &oo.config().user)
        .env("AURORA_LOGS_OPENOBSERVE__PASSWORD", password)
        .env(
            "AURORA_LOGS_OPENOBSERVE_INSTALL__ALERT_WEBHOOK_URL",
            "https://hooks.example.com/services/T0/B0/x",
        )
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn lines_with(text: &str, verdict: &str) -> usize {
    text.lines()
        .filter(|l| l.split_whitespace().next() == Some(verdict))
        .count()
}

/// The runs' outputs, straight to stderr past the harness's capture (they are what a user
/// sees; `cargo test -- --nocapture` is not needed to read them).
fn show(title: &str, text: &str) {
    let _ = writeln!(
        std::io::stderr(),
        "--- aurora-logs openobserve install {title}\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn install_creates_then_changes_nothing_and_prune_spares_the_users_objects() {
    let oo = OpenObserveStandIn::start(OpenObserveConfig::default())
        .await
        .unwrap();
    let password = oo.config().password.clone();

    let dry = stdout(&install(&oo, &password, &["--dry-run"]));
    show("--dry-run (before the first run)", &dry);
    assert!(dry.ends_with("dry run: nothing was changed\n"), "{dry}");
    assert_eq!(oo.objects()["dashboards"], serde_json::json!([]));
    let planned = lines_with(&dry, "create");

    let first = stdout(&install(&oo, &password, &[]));
    show("(first run)", &first);
    assert_eq!(lines_with(&first, "create"), planned, "{first}");
    assert!(first.ends_with("applied\n"), "{first}");

    let second = stdout(&install(&oo, &password, &[]));
    show("(second run)", &second);
    assert_eq!(lines_with(&second, "unchanged"), planned, "{second}");
    assert!(second.ends_with("nothing to change\n"), "{second}");

    // A user's own dashboards, without aurora-logs' mark (one under our title), survive
    // --prune; one an earlier release installed and this one no longer ships does not.
    let mut theirs = serde_json::json!({
        "version": 8, "title": "Aurora MySQL: slow queries", "description": "my own copy", "tabs": []
    });
    assert_eq!(
        post(&oo, "/api/default/dashboards?folder=default", &theirs).await,
        201
    );
    theirs["title"] = "Team board".into();
    assert_eq!(
        post(&oo, "/api/default/dashboards?folder=default", &theirs).await,
        201
    );
    let retired = serde_json::json!({
        "version": 8, "title": "Aurora MySQL: retired", "description": "managed-by: aurora-logs", "tabs": []
    });
    assert_eq!(
        post(&oo, "/api/default/dashboards?folder=default", &retired).await,
        201
    );
    let count = |oo: &OpenObserveStandIn, description: &str| {
        oo.objects()["dashboards"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["description"] == description)
            .count()
    };

    let dry_prune = stdout(&install(&oo, &password, &["--dry-run", "--prune"]));
    show("--dry-run --prune", &dry_prune);
    assert_eq!(lines_with(&dry_prune, "prune"), 1, "{dry_prune}");
    assert_eq!(
        count(&oo, "managed-by: aurora-logs"),
        1,
        "a dry run prunes nothing"
    );

    let pruned = stdout(&install(&oo, &password, &["--prune"]));
    show("--prune", &pruned);
    assert_eq!(lines_with(&pruned, "prune"), 1, "{pruned}");
    assert_eq!(count(&oo, "managed-by: aurora-logs"), 0);
    assert_eq!(
        count(&oo, "my own copy"),
        2,
        "the user's dashboards are still there"
    );

    let refused = install(&oo, "wrong", &[]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("401") && stderr.contains("AURORA_LOGS_OPENOBSERVE__PASSWORD"),
        "{stderr}"
    );
    oo.shutdown().await;
}

/// POSTs JSON as the OpenObserve UI would, returning the status.
async fn post(oo: &OpenObserveStandIn, path: &str, body: &serde_json::Value) -> u16 {
    use base64::Engine as _;
    let c = oo.config();
    let creds =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.user, c.password));
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http();
    let req = http::Request::post(format!("{}{path}", oo.url()))
        .header("authorization", format!("Basic {creds}"))
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.to_string(),
        )))
        .unwrap();
    client.request(req).await.unwrap().status().as_u16()
}
