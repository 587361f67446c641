//! Every query aurora-logs installs in OpenObserve, proven on real SQL.
//!
//! This test makes the records: the demo world (`aurora-logs demo` shipping into the
//! OpenObserve stand-in, so the records are enriched by the data plane and stored as
//! OpenObserve stores them), real logs from the shared corpora and the alert fixtures in
//! `openobserve/tests/fixtures` (both through `aurora-logs parse`), and `aurora-logs digest` on
//! MySQL slow logs. `openobserve/tests/prove_queries.py` then runs every panel, alert and
//! saved view on them in Apache DataFusion (PyPI `datafusion`, installed pinned by
//! `scripts/datafusion-venv.sh`) and prints how many queries it proved.
//!
//! Without that Python environment the test is skipped with a notice, except under `CI=true`.

#[path = "../parsers/tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use simulator::openobserve::{OpenObserveConfig, OpenObserveStandIn};

const STREAMS: [(&str, &str); 6] = [
    ("mysql-slow", "aurora_mysql_slowquery"),
    ("mysql-error", "aurora_mysql_error"),
    ("mysql-general", "aurora_mysql_general"),
    ("mysql-audit", "aurora_mysql_audit"),
    ("postgresql-csv", "aurora_postgresql"),
    ("postgresql", "aurora_postgresql"),
];

/// Corpus files (under the corpora root) and their `--format`.
const CORPORA: &[(&str, &str)] = &[
    (
        "beats/filebeat/module/mysql/slowlog/test/mysql-5.7.22.log",
        "mysql-slow",
    ),
    (
        "beats/filebeat/module/mysql/slowlog/test/percona-ubuntu-8.0.15.log",
        "mysql-slow",
    ),
    (
        "beats/filebeat/module/mysql/slowlog/test/mariadb-10.3.13.log",
        "mysql-slow",
    ),
    (
        "percona-toolkit/t/lib/samples/slowlogs/slow002.txt",
        "mysql-slow",
    ),
    (
        "beats/filebeat/module/mysql/error/test/mysql-ubuntu-8.0.15.log",
        "mysql-error",
    ),
    (
        "beats/filebeat/module/mysql/error/test/error.log",
        "mysql-error",
    ),
    (
        "percona-toolkit/t/lib/samples/genlogs/genlog001.txt",
        "mysql-general",
    ),
    (
        "beats/filebeat/module/postgresql/log/test/postgresql-11-tempfile.csv.log",
        "postgresql-csv",
    ),
    (
        "beats/filebeat/module/postgresql/log/test/postgresql-11-autovacuum.csv.log",
        "postgresql-csv",
    ),
    (
        "beats/filebeat/module/postgresql/log/test/postgresql-13-error-code.csv.log",
        "postgresql-csv",
    ),
    (
        "beats/filebeat/module/postgresql/log/test/postgresql-10-min-duration-statement.log",
        "postgresql",
    ),
    ("pgbadger/t/fixtures/rds.head-1000.log", "postgresql"),
];

/// The MySQL slow logs `aurora-logs digest` is compared on (the generated one is added).
const DIGEST_CORPORA: &[&str] = &[
    "beats/filebeat/module/mysql/slowlog/test/mysql-5.7.22.log",
    "beats/filebeat/module/mysql/slowlog/test/percona-ubuntu-8.0.15.log",
    "percona-toolkit/t/lib/samples/slowlogs/slow002.txt",
    "percona-toolkit/t/lib/samples/slowlogs/slow006.txt",
];

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_aurora-logs"))
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Straight to stderr, past the test harness's capture.
fn say(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

fn python() -> Option<PathBuf> {
    let path = std::env::var_os("AURORA_LOGS_DATAFUSION_PYTHON")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".cache/aurora-logs/datafusion-venv/bin/python"))
        })?;
    if path.exists() {
        return Some(path);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{} is missing and CI=true: scripts/datafusion-venv.sh installs it",
            path.display()
        );
    }
    say(&format!(
        "SKIPPED: the OpenObserve query proofs need {} (run scripts/datafusion-venv.sh)",
        path.display()
    ));
    None
}

/// Records by stream, written as NDJSON files of one scenario.
#[derive(Default)]
struct Records(BTreeMap<String, Vec<Value>>);

impl Records {
    fn add(&mut self, stream: &str, records: impl IntoIterator<Item = Value>) {
        self.0.entry(stream.to_owned()).or_default().extend(records);
    }

    fn extend(&mut self, other: &Records) {
        for (s, r) in &other.0 {
            self.add(s, r.iter().cloned());
        }
    }

    fn write(&self, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        for (stream, records) in &self.0 {
            let mut text = String::new();
            for r in records {
                text.push_str(&r.to_string());
                text.push('\n');
            }
            std::fs::write(dir.join(format!("{stream}.ndjson")), text).unwrap();
        }
    }
}

fn stream_of(format: &str) -> &'static str {
    STREAMS
        .iter()
        .find(|(f, _)| *f == format)
        .map(|(_, s)| *s)
        .unwrap_or_else(|| panic!("no stream for format {format}"))
}

/// `aurora-logs parse --format F FILE`, each record enriched as the data plane enriches it.
fn parse(file: &Path, format: &str, enrich: &Value) -> Vec<Value> {
    let out = bin()
        .args(["parse", "--format", format])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "parse {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let mut r: Value = serde_json::from_str(l).unwrap();
            for (k, v) in enrich.as_object().unwrap() {
                r[k] = v.clone();
            }
            r
        })
        .collect()
}

fn enrichment(cluster: &str, instance: &str, format: &str, log_file: &str) -> Value {
    let engine = if format.starts_with("postgresql") {
        "aurora-postgresql"
    } else {
        "aurora-mysql"
    };
    json!({"cluster_id": cluster, "instance_id": instance, "engine": engine, "region": "us-east-1", "log_file": log_file})
}

/// The format of a fixture, from its file name (`mysql-error.log`, `postgresql.log` …).
fn fixture_format(name: &str) -> &'static str {
    STREAMS
        .iter()
        .map(|(f, _)| *f)
        .find(|f| name.starts_with(&format!("{f}.")))
        .unwrap_or_else(|| panic!("fixture {name}: name it <format>.log"))
}

fn fixture_records(file: &Path, instance: &str) -> (&'static str, Vec<Value>) {
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let format = fixture_format(&name);
    let mut enrich = enrichment("fixtures", instance, format, &name);
    if name.contains(".generation1.") {
        enrich["log_generation"] = json!(1);
    }
    (stream_of(format), parse(file, format, &enrich))
}

/// The demo world: `aurora-logs demo` shipping into a stand-in of ours, whose records are
/// then what OpenObserve would hold.
fn demo_world() -> Records {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let oo = rt
        .block_on(OpenObserveStandIn::start(OpenObserveConfig::default()))
        .unwrap();
    let out = bin()
        .args(["demo", "--seconds", "3", "--openobserve-url", &oo.url()])
        .args(["--openobserve-user", &oo.config().user])
        .args(["--openobserve-password", &oo.config().password])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "demo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut records = Records::default();
    for stream in oo.streams() {
        records.add(&stream, oo.records(&stream).into_iter().map(Value::Object));
    }
    assert!(
        records.0.len() == 5,
        "the demo world fills every stream: {:?}",
        records.0.keys()
    );
    rt.block_on(oo.shutdown());
    records
}

#[test]
fn every_panel_alert_and_view_runs_on_real_records_in_datafusion() {
    let Some(python) = python() else { return };
    let work = tempfile::tempdir().unwrap();
    let data = work.path();
    let mut all = Records::default();

    let demo = demo_world();
    demo.write(&data.join("demo"));
    all.extend(&demo);

    for (rel, format) in CORPORA {
        let Some(path) = common::corpus(rel) else {
            continue;
        };
        let stem = Path::new(rel).file_name().unwrap().to_string_lossy();
        let enrich = enrichment("corpora", &format!("corpus-{stem}"), format, rel);
        all.add(stream_of(format), parse(&path, format, &enrich));
    }

    let fixtures = repo().join("openobserve/tests/fixtures");
    for alert in std::fs::read_dir(fixtures.join("alerts")).unwrap() {
        let alert = alert.unwrap().path();
        let name = alert.file_name().unwrap().to_string_lossy().into_owned();
        for case in ["fires", "quiet"] {
            let mut scenario = Records::default();
            for file in std::fs::read_dir(alert.join(case)).unwrap() {
                let (stream, records) =
                    fixture_records(&file.unwrap().path(), &format!("{name}-{case}"));
                scenario.add(stream, records);
            }
            scenario.write(&data.join("alerts").join(&name).join(case));
            all.extend(&scenario);
        }
    }
    for file in std::fs::read_dir(fixtures.join("extra")).unwrap() {
        let (stream, records) = fixture_records(&file.unwrap().path(), "extra");
        all.add(stream, records);
    }
    all.write(&data.join("all"));

    // The top-fingerprints panel against `aurora-logs digest` on the same slow logs.
    let digest_dir = data.join("digest");
    std::fs::create_dir_all(&digest_dir).unwrap();
    let generated = digest_dir.join("generated-slow.log");
    let mut gen = simulator::generator::LogGenerator::new(
        simulator::generator::LogKind::MysqlSlow,
        7,
        1_704_358_800_000_000,
    );
    let mut text = Vec::new();
    gen.fill(&mut text, 2 << 20);
    std::fs::write(&generated, text).unwrap();
    let mut slow_logs = vec![generated];
    slow_logs.extend(DIGEST_CORPORA.iter().filter_map(|rel| common::corpus(rel)));
    let mut digest_records = Records::default();
    for f in &slow_logs {
        let e = enrichment("digest", "digest", "mysql-slow", &f.to_string_lossy());
        digest_records.add(stream_of("mysql-slow"), parse(f, "mysql-slow", &e));
    }
    digest_records.write(&digest_dir);
    let out = bin()
        .args(["digest", "--format", "json", "--log-format", "mysql-slow"])
        .args([
            "--limit",
            "1000000",
            "--max-classes",
            "1000000",
            "--threads",
            "1",
        ])
        .args(&slow_logs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "digest: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(digest_dir.join("digest.json"), &out.stdout).unwrap();

    let proof = Command::new(&python)
        .arg(repo().join("openobserve/tests/prove_queries.py"))
        .arg("--assets")
        .arg(repo().join("openobserve"))
        .arg("--data")
        .arg(data)
        .arg("--queries")
        .arg(repo().join("docs/openobserve.md"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&proof.stdout);
    let stderr = String::from_utf8_lossy(&proof.stderr);
    say(&format!("openobserve query proofs:\n{stdout}"));
    assert!(proof.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("queries proven: "), "{stdout}");
}
