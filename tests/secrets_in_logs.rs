//! No secret reaches the logs: `aurora-logs run` at log level `trace` (every crate's, the AWS
//! SDK's and hyper's included) ships records with a password and AWS keys set, and its whole
//! output holds none of them, nor the Basic auth token made of the password.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use simulator::instance::Engine;
use simulator::openobserve::{OpenObserveConfig, OpenObserveStandIn};
use simulator::rds::{ClusterConfig, RdsSimulator, SimConfig};

const PASSWORD: &str = "canary-Pa55word-7c1f";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_in_the_logs_at_trace_level() {
    let sim = SimConfig {
        history: Duration::from_secs(10 * 60),
        ..Default::default()
    }
    .with_cluster(
        ClusterConfig::new("shop-mysql", Engine::AuroraMysql, &["shop-mysql-1"])
            .with_rate(2.0)
            .with_seed(5),
    );
    let rds = RdsSimulator::start(sim).await.unwrap();
    let oo = OpenObserveStandIn::start(OpenObserveConfig {
        password: PASSWORD.into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ak, sk) = rds.credentials();
    let user = oo.config().user.clone();
    let config = dir.path().join("aurora-logs.toml");
    std::fs::write(
        &config,
        format!(
            r#"
state_dir = "{state}"
listen = "127.0.0.1:0"
log_format = "json"
log_level = "trace"
[rds]
region = "{region}"
endpoint_url = "{endpoint}"
access_key_id = "{ak}"
secret_access_key = "{sk}"
[openobserve]
url = "{url}"
user = "{user}"
compression = "gzip"
[scheduler]
poll_interval = "200ms"
[redis]
password = "{PASSWORD}-redis"
[kafka.properties]
"sasl.password" = "{PASSWORD}-kafka"
"#,
            state = dir.path().join("state").display(),
            region = rds.region(),
            endpoint = rds.endpoint_url(),
            url = oo.url(),
        ),
    )
    .unwrap();
    let log = dir.path().join("stderr.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_aurora-logs"))
        .args(["run", "--config"])
        .arg(&config)
        // The password only from the environment, as a deployment gives it.
        .env("AURORA_LOGS_OPENOBSERVE__PASSWORD", PASSWORD)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("starting aurora-logs run");
    let t = Instant::now();
    while oo.count_by_field("record_id").len() < 50 {
        if t.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(20).collect();
            panic!(
                "nothing shipped in 60 s; the log ends with:\n{}",
                tail.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // SIGTERM: the shutdown path logs too.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.lines().count() > 100,
        "trace logging was not on: {} lines",
        text.lines().count()
    );
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{PASSWORD}"));
    for secret in [PASSWORD, basic.as_str(), sk] {
        assert!(
            !text.contains(secret),
            "a secret is in the logs ({} bytes of them)",
            text.len()
        );
    }
}
