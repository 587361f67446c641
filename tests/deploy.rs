//! The deployment (k8s/, eks-terraform/, iam/) against the code it deploys: the config in the
//! ConfigMap loads with the binary's own loader, the IAM policies grant exactly the AWS calls
//! the code makes, the DynamoDB table is the one `contract::state` describes, the topics are
//! `contract::Topics`, and the pods' grace periods cover the configured shutdown grace.
//! (Schemas, lint and security checks of the same files: scripts/deploy-checks.sh.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use contract::state::{attr, DEFAULT_TABLE};

/// The binary's configuration module, compiled into this test as it is.
#[allow(dead_code)]
#[path = "../src/config.rs"]
mod config;

/// The binary's list of every crate's metric descriptions.
#[path = "../src/metrics_names.rs"]
mod metrics_names;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

/// `values-<env>.yaml`: flat `KEY: "value"` lines (the format deploy-aurora-logs.sh reads).
fn values_files() -> Vec<(String, BTreeMap<String, String>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(repo().join("k8s")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let Some(env) = name
            .strip_prefix("values-")
            .and_then(|n| n.strip_suffix(".yaml"))
        else {
            continue;
        };
        let mut values = BTreeMap::new();
        for line in read(&format!("k8s/{name}")).lines() {
            let line = line.trim_end();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = line
                .split_once(": ")
                .unwrap_or_else(|| panic!("{name}: not KEY: \"value\": {line}"));
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or_else(|| panic!("{name}: value not quoted: {line}"));
            values.insert(k.to_string(), v.to_string());
        }
        out.push((env.to_string(), values));
    }
    out.sort();
    let envs: Vec<&str> = out.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(envs, ["poc", "production"], "values files");
    out
}

/// `${KEY}` replaced by `values[KEY]`, as deploy-aurora-logs.sh does with envsubst and the
/// list of keys; any `${KEY}` of an unknown KEY is left, as envsubst leaves it.
fn render(text: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = text.to_string();
    for (k, v) in values {
        out = out.replace(&format!("${{{k}}}"), v);
    }
    out
}

/// The lines of a YAML block scalar (`key: |` or `key: >-`) under `data:` of a ConfigMap,
/// with their indentation removed.
fn block_scalar(yaml: &str, key: &str) -> Vec<String> {
    let mut lines = yaml.lines();
    let header = format!("  {key}: ");
    lines
        .by_ref()
        .find(|l| l.starts_with(&header) && (l.ends_with('|') || l.ends_with(">-")))
        .unwrap_or_else(|| panic!("no block scalar {key}"));
    lines
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| l.strip_prefix("    ").unwrap_or("").to_string())
        .collect()
}

/// Plain `  KEY: "value"` entries under `data:` of a ConfigMap.
fn data_entries(yaml: &str) -> BTreeMap<String, String> {
    yaml.lines()
        .skip_while(|l| *l != "data:")
        .skip(1)
        .filter_map(|l| {
            let (k, v) = l.strip_prefix("  ")?.split_once(": ")?;
            let v = v.strip_prefix('"')?.strip_suffix('"')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

/// The config TOML of k8s/configmaps/app-config.yaml rendered for `values`, with the
/// graceful-shutdown ConfigMap's `AURORA_LOGS_<SECTION>__<KEY>` entries put into their
/// sections (as the environment would override them), loaded by the binary's loader.
fn load_app_config(values: &BTreeMap<String, String>) -> (config::Config, String) {
    // The loader also reads AURORA_LOGS_* variables: one from the caller's shell would be mixed
    // into what this test means to load.
    let stray: Vec<String> = std::env::vars()
        .map(|(k, _)| k)
        // The test command's own (scripts/test.sh), which the loader ignores.
        .filter(|k| k.starts_with("AURORA_LOGS_") && k != "AURORA_LOGS_DATAFUSION_PYTHON")
        .collect();
    assert!(
        stray.is_empty(),
        "unset {stray:?} to run this test: the config loader would apply them"
    );
    let mut toml = render(
        &block_scalar(&read("k8s/configmaps/app-config.yaml"), "aurora-logs.toml").join("\n"),
        values,
    );
    for (k, v) in data_entries(&read("k8s/configmaps/graceful-shutdown.yaml")) {
        let path = k
            .strip_prefix("AURORA_LOGS_")
            .unwrap_or_else(|| panic!("graceful-shutdown: {k} is not an AURORA_LOGS_ variable"))
            .to_lowercase();
        let (section, key) = path
            .split_once("__")
            .unwrap_or_else(|| panic!("graceful-shutdown: {k} names no section"));
        // A key set in both places is a TOML error here: keep each in one place.
        let header = format!("\n[{section}]\n");
        match toml.find(&header) {
            Some(at) => toml.insert_str(at + header.len(), &format!("{key} = \"{v}\"\n")),
            None => toml.push_str(&format!("{header}{key} = \"{v}\"\n")),
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("aurora-logs.toml");
    std::fs::write(&file, &toml).unwrap();
    let c = config::Config::load(Some(&file))
        .unwrap_or_else(|e| panic!("the ConfigMap's config does not load: {e:#}\n{toml}"));
    (c, toml)
}

#[test]
fn the_configmap_config_loads_with_the_binarys_loader_for_every_environment() {
    for (env, values) in values_files() {
        let (c, toml) = load_app_config(&values);
        assert!(!toml.contains("${"), "{env}: placeholder left:\n{toml}");
        assert_eq!(c.kafka.topics, contract::Topics::default(), "{env}");
        assert_eq!(c.dynamodb.table, values["DYNAMODB_TABLE"], "{env}");
        assert_eq!(c.dynamodb.region, values["DYNAMODB_REGION"], "{env}");
        assert_eq!(c.rds.region, values["AWS_REGION"], "{env}");
        assert_eq!(c.kafka.brokers, values["KAFKA_BROKERS"], "{env}");
        assert_eq!(
            c.kafka.brokers.split(',').count(),
            values["KAFKA_REPLICAS"].parse::<usize>().unwrap(),
            "{env}: one broker address per Kafka replica"
        );
        assert!(
            c.kafka.replication_factor as usize <= c.kafka.brokers.split(',').count(),
            "{env}: replication factor above the broker count"
        );
        // The probes and the metrics Service use port 9090.
        assert_eq!(c.listen.port(), 9090, "{env}");
        // The names the Services give.
        // Valkey by its endpoint's own name (what its certificate carries), over TLS, as the
        // IAM-authenticated user of terraform's naming.
        assert_eq!(
            c.redis.url,
            format!("rediss://{}:6379", values["VALKEY_HOST"]),
            "{env}"
        );
        assert_eq!(c.redis.username, format!("aurora-logs-{env}-shippers"));
        assert_eq!(c.redis.iam_cache, format!("aurora-logs-{env}-valkey"));
        assert!(c.redis.password.is_empty() && c.redis.password_file.is_none());
        assert!(
            c.openobserve.url.starts_with("http://openobserve:5080"),
            "{env}"
        );
        // The password comes from the Secret, never from the ConfigMap.
        assert!(c.openobserve.password.is_empty(), "{env}");
        assert!(c.rds.access_key_id.is_empty() && c.rds.secret_access_key.is_empty());
        assert_eq!(c.state_dir, Path::new("/var/lib/aurora-logs"));
        // The graceful-shutdown ConfigMap reached the processor's section.
        assert_eq!(c.processor.shutdown_grace, Duration::from_secs(25), "{env}");
    }
}

/// The secrets deploy-aurora-logs.sh takes from the shell (never from a values file).
const SECRET_KEYS: [&str; 2] = ["OPENOBSERVE_PASSWORD", "OPENOBSERVE_INGEST_PASSCODE"];

#[test]
fn the_secret_templates_hold_placeholders_only_and_name_real_config_variables() {
    let values = &values_files()[0].1;
    for f in [
        "k8s/secrets/app-secrets.yaml",
        "k8s/secrets/openobserve-secret.yaml",
    ] {
        let text = read(f);
        let entries = text
            .lines()
            .skip_while(|l| *l != "stringData:")
            .skip(1)
            .filter_map(|l| l.strip_prefix("  ")?.split_once(": "))
            .collect::<Vec<_>>();
        assert!(!entries.is_empty(), "{f}: no stringData");
        for (k, v) in entries {
            let v = v.trim_matches('"');
            assert!(
                v.starts_with("${") && v.ends_with('}') && !v[2..].contains('$'),
                "{f}: {k} must be a single ${{PLACEHOLDER}}, not a value"
            );
            // Non-secret placeholders come from the values files; secret ones from the shell.
            let name = &v[2..v.len() - 1];
            assert!(
                values.contains_key(name) || SECRET_KEYS.contains(&name),
                "{f}: {name} is neither a value nor a secret deploy-aurora-logs.sh knows"
            );
        }
    }
    // The processors' Secret holds the ingestion passcode, never the root password.
    let app = read("k8s/secrets/app-secrets.yaml");
    assert!(app.contains("  openobserve-password: \"${OPENOBSERVE_INGEST_PASSCODE}\""));
    assert!(!app.contains("${OPENOBSERVE_PASSWORD}"));
    assert!(read("k8s/deploy-aurora-logs.sh")
        .contains("secret_keys=(OPENOBSERVE_PASSWORD OPENOBSERVE_INGEST_PASSCODE)"));
}

/// The processors and the install Job read the OpenObserve credential as the file the config's
/// `openobserve.password_file` names: the processors the passcode (app-secrets), the Job the
/// root password (openobserve-secret); no pod gets either in its environment.
#[test]
fn the_pods_read_their_openobserve_credential_where_the_config_says() {
    let (c, _) = load_app_config(&values_files()[0].1);
    let file = c
        .openobserve
        .password_file
        .clone()
        .expect("the ConfigMap sets openobserve.password_file");
    let (dir, name) = (
        file.parent().unwrap().to_str().unwrap().to_owned(),
        file.file_name().unwrap().to_str().unwrap().to_owned(),
    );
    for (manifest, secret, key) in [
        (
            "k8s/deployments/processor.yaml",
            "aurora-logs-secrets",
            "openobserve-password",
        ),
        (
            "k8s/deployments/openobserve-install.yaml",
            "openobserve-secret",
            "ZO_ROOT_USER_PASSWORD",
        ),
    ] {
        let text = read(manifest);
        assert!(
            text.contains(&format!("mountPath: {dir}\n")),
            "{manifest}: no volume mounted at {dir}"
        );
        let volume = text
            .split("secretName: ")
            .nth(1)
            .unwrap_or_else(|| panic!("{manifest}: no secret volume"));
        assert!(
            volume.starts_with(&format!("{secret}\n")),
            "{manifest}: {secret}"
        );
        assert!(
            volume.contains(&format!("- key: {key}\n"))
                && volume.contains(&format!("path: {name}\n")),
            "{manifest}: {secret}'s {key} is not mounted as {name}"
        );
        for forbidden in ["secretKeyRef", "secretRef"] {
            assert!(
                !text.contains(forbidden),
                "{manifest}: a secret in the environment"
            );
        }
    }
}

/// deploy-aurora-logs.sh against a stub kubectl and the OpenObserve stand-in behind its
/// "port-forward": the root password goes only into openobserve-secret; the processors'
/// Secret gets the passcode OpenObserve gives the root user; a wrong root password stops the
/// script before the processors' Secret or the processors are applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deploy_script_gives_the_processors_the_ingestion_passcode_never_the_root_password() {
    use simulator::openobserve::{OpenObserveConfig, OpenObserveStandIn};
    let root_password = "we\"ird\\pa$s: #x";
    let oo = OpenObserveStandIn::start(OpenObserveConfig {
        password: root_password.to_owned(),
        ingestion_passcode: Some("pc0123456789abcd".to_owned()),
        ..Default::default()
    })
    .await
    .unwrap();
    let port = oo.addr().port();
    let dir = tempfile::tempdir().unwrap();
    let bin = repo().join("scripts/deploy/stub-bin");
    let run = |password: &str| {
        let applied = dir.path().join(format!("applied-{}", password.len()));
        let mut cmd = std::process::Command::new("bash");
        cmd.arg(repo().join("k8s/deploy-aurora-logs.sh"))
            .arg("poc")
            .env(
                "PATH",
                format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
            )
            .env("STUB_LOG", dir.path().join("kubectl.log"))
            .env("STUB_APPLIED", &applied)
            .env("STUB_OO_PORT", port.to_string())
            .env("STUB_PIDS", dir.path().join("forward.pids"))
            .env("IMAGE", "registry.example/aurora-logs:1")
            .env("VALKEY_HOST", "valkey.example")
            .env("OPENOBSERVE_BUCKET", "bucket-example")
            .env("OPENOBSERVE_PASSWORD", password)
            .env_remove("OPENOBSERVE_INGEST_PASSCODE")
            .env_remove("STUB_SECRETS_EXIST");
        let out = cmd.output().unwrap();
        let applied = std::fs::read_to_string(&applied).unwrap_or_default();
        (out, applied)
    };
    let secret_doc = |applied: &str, name: &str| -> Option<String> {
        applied
            .split("\n---\n")
            .find(|d| d.contains("kind: Secret") && d.contains(&format!("  name: {name}\n")))
            .map(str::to_owned)
    };

    // The stand-in serves on the runtime's other worker while the script runs on this one.
    let (out, applied) = tokio::task::block_in_place(|| run(root_password));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "deploy failed: {stderr}");
    let app = secret_doc(&applied, "aurora-logs-secrets").expect("app-secrets applied");
    assert!(
        app.lines()
            .any(|l| l == "  openobserve-password: \"pc0123456789abcd\""),
        "{app}"
    );
    assert!(
        !app.contains("pa$s"),
        "the root password reached app-secrets"
    );
    let root = secret_doc(&applied, "openobserve-secret").expect("openobserve-secret applied");
    assert!(
        root.lines()
            .any(|l| l == r#"  ZO_ROOT_USER_PASSWORD: "we\"ird\\pa$s: #x""#),
        "{root}"
    );
    // app-secrets comes after OpenObserve and its install Job, before the processors.
    let at = |what: &str| {
        applied
            .find(what)
            .unwrap_or_else(|| panic!("{what} not applied"))
    };
    let install = "kind: Job\nmetadata:\n  name: aurora-logs-openobserve-install\n";
    assert!(at(install) < at("name: aurora-logs-secrets\n"));
    let processors = "kind: Deployment\nmetadata:\n  name: aurora-logs-processor\n";
    assert!(at("name: aurora-logs-secrets\n") < at(processors));
    assert!(!stderr.contains("pc0123456789abcd") && !stderr.contains("pa$s"));

    let (out, applied) = tokio::task::block_in_place(|| run("not-the-password"));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "a wrong root password went through");
    assert!(
        stderr.contains("OpenObserve refused root@example.com with OPENOBSERVE_PASSWORD (401)"),
        "{stderr}"
    );
    assert!(secret_doc(&applied, "aurora-logs-secrets").is_none());
    assert!(!applied.contains(processors));
    // Each run stopped its port-forward.
    let pids = std::fs::read_to_string(dir.path().join("forward.pids")).unwrap();
    assert_eq!(pids.lines().count(), 2, "{pids}");
    for pid in pids.lines() {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "port-forward {pid} still runs"
        );
    }
}

fn yaml_number(yaml: &str, from: &str, key: &str) -> u64 {
    let start = yaml
        .find(from)
        .unwrap_or_else(|| panic!("no {from:?} in manifest"));
    yaml[start..]
        .lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no {key} after {from:?}"))
        .parse()
        .unwrap()
}

#[test]
fn the_pods_grace_periods_cover_the_configured_shutdown_grace() {
    let (c, _) = load_app_config(&values_files()[0].1);
    for (f, grace) in [
        ("k8s/deployments/processor.yaml", c.processor.shutdown_grace),
        ("k8s/deployments/discovery.yaml", Duration::ZERO),
    ] {
        let m = read(f);
        let termination = yaml_number(&m, "spec:", "terminationGracePeriodSeconds");
        let pre_stop = yaml_number(&m, "preStop:", "seconds");
        // 10 s to commit offsets (or resign the leader lease) and exit after the grace.
        assert!(
            termination >= pre_stop + grace.as_secs() + 10,
            "{f}: terminationGracePeriodSeconds {termination} < preStop {pre_stop} s + grace {grace:?} + 10 s"
        );
        assert!(
            m.contains("path: /healthz") && m.contains("path: /readyz"),
            "{f}"
        );
        assert!(
            m.contains(&format!("containerPort: {}", c.listen.port())),
            "{f}"
        );
        assert!(
            m.contains("--config\", \"/etc/aurora-logs/aurora-logs.toml\""),
            "{f}"
        );
    }
    // The standalone scheduler's grace is configured alike, should `run` be deployed.
    assert_eq!(c.scheduler.shutdown_grace, c.processor.shutdown_grace);
    let p = read("k8s/deployments/processor.yaml");
    assert!(
        p.contains("kubernetes.io/arch: arm64"),
        "processors run on Graviton"
    );
}

#[test]
fn kafka_topics_are_the_codes_topics() {
    let text = read("k8s/configmaps/kafka-config.yaml");
    let topics = block_scalar(&text, "TOPICS").join(" ");
    let listed: Vec<&str> = topics.trim().split(',').collect();
    assert_eq!(listed, contract::Topics::default().all());
    // Partitions and replication come from the same values as the app's [kafka] section.
    assert!(text.contains("PARTITIONS: \"${KAFKA_PARTITIONS}\""));
    assert!(text.contains("REPLICATION_FACTOR: \"${KAFKA_REPLICATION_FACTOR}\""));
    for (env, values) in values_files() {
        let voters = values["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(',').count();
        assert_eq!(
            voters.to_string(),
            values["KAFKA_REPLICAS"],
            "{env}: one KRaft voter per Kafka pod"
        );
    }
}

/// `key = value` lines of a terraform file by the path of blocks they are in, e.g.
/// `resource "aws_dynamodb_table" "files"/ttl` → `attribute_name` → `"expires_at"`.
/// Enough for files that `terraform fmt` keeps canonical (deploy-checks.sh checks that).
fn terraform_assignments(tf: &str) -> Vec<(String, String, String)> {
    let mut path: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for line in tf.lines().map(str::trim) {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        // A closing line: `}`, or the end of an expression's map (`})`, `}]`, `}, {`).
        if line.starts_with('}') {
            path.pop();
            if !line.ends_with('{') {
                continue;
            }
        }
        if let Some(block) = line.strip_suffix('{') {
            // A block (`ttl {`) or a multi-line map (`tags = {`, `jsonencode({`), closed by
            // its own `}`.
            path.push(block.trim().trim_end_matches('=').trim().to_string());
            continue;
        }
        if let Some((k, v)) = line.split_once(" = ").or_else(|| {
            // aligned: `key     = value`
            let (k, v) = line.split_once('=')?;
            Some((k, v))
        }) {
            out.push((path.join("/"), k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

fn tf_value<'a>(a: &'a [(String, String, String)], block: &str, key: &str) -> Vec<&'a str> {
    a.iter()
        .filter(|(p, k, _)| p == block && k == key)
        .map(|(_, _, v)| v.as_str())
        .collect()
}

#[test]
fn the_terraform_table_is_the_contracts_table() {
    let a = terraform_assignments(&read("eks-terraform/dynamodb.tf"));
    let table = r#"resource "aws_dynamodb_table" "files""#;
    let q = |s: &str| format!("\"{s}\"");
    assert_eq!(tf_value(&a, table, "name"), ["var.dynamodb_table"]);
    assert_eq!(tf_value(&a, table, "billing_mode"), [q("PAY_PER_REQUEST")]);
    assert_eq!(tf_value(&a, table, "hash_key"), [q(attr::INSTANCE_ID)]);
    assert_eq!(tf_value(&a, table, "range_key"), [q(attr::LOG_FILE)]);
    // Exactly the two keys are declared, both strings (the code writes them as S).
    let names = tf_value(&a, &format!("{table}/attribute"), "name");
    let types = tf_value(&a, &format!("{table}/attribute"), "type");
    assert_eq!(names, [q(attr::INSTANCE_ID), q(attr::LOG_FILE)]);
    assert_eq!(types, [q("S"), q("S")]);
    assert_eq!(
        tf_value(&a, &format!("{table}/ttl"), "attribute_name"),
        [q(attr::EXPIRES_AT)]
    );
    assert_eq!(tf_value(&a, &format!("{table}/ttl"), "enabled"), ["true"]);
    assert_eq!(
        tf_value(&a, &format!("{table}/point_in_time_recovery"), "enabled"),
        ["true"]
    );
    // The table's name: the variable's default, the PoC's tfvars and every values file.
    let vars = terraform_assignments(&read("eks-terraform/variables.tf"));
    assert_eq!(
        tf_value(&vars, r#"variable "dynamodb_table""#, "default"),
        [q(DEFAULT_TABLE)]
    );
    let tfvars = terraform_assignments(&read("eks-terraform/terraform.tfvars.poc"));
    assert_eq!(tf_value(&tfvars, "", "dynamodb_table"), [q(DEFAULT_TABLE)]);
    for (env, values) in values_files() {
        assert_eq!(values["DYNAMODB_TABLE"], DEFAULT_TABLE, "{env}");
    }
    // Pod Identity roles for exactly the service accounts the manifests run as.
    let setup = read("k8s/setup.yaml");
    let iam_tf = read("eks-terraform/iam.tf");
    for sa in [
        "aurora-logs-discovery",
        "aurora-logs-processor",
        "openobserve",
    ] {
        assert!(setup.contains(&format!("kind: ServiceAccount\nmetadata:\n  name: {sa}\n")));
        assert!(
            iam_tf.contains(&format!("\"{sa}\"")),
            "iam.tf: no role for {sa}"
        );
    }
}

// ---- IAM: the AWS calls of the code against iam/*.json.

/// Which pods need each AWS call the code can make, or why none does.
const CALLS: &[(&str, &[&str], &str)] = &[
    (
        "rds:DescribeDBInstances",
        &["discovery"],
        "RdsSource::list_instances, per discovery pass",
    ),
    (
        "rds:DescribeDBLogFiles",
        &["discovery"],
        "RdsSource::list_files_since, per discovery pass",
    ),
    (
        "rds:DownloadDBLogFilePortion",
        &["processor"],
        "RdsSource::download, portion mode",
    ),
    (
        "rds:DownloadCompleteDBLogFile",
        &["processor"],
        "the SigV4-signed REST downloadCompleteLogFile",
    ),
    (
        "dynamodb:GetItem",
        &["discovery", "processor"],
        "checkpoint load; the leader epoch (LeaderLease::newest_epoch)",
    ),
    (
        "dynamodb:UpdateItem",
        &["discovery", "processor"],
        "leases, checkpoints and the leader lease: conditional writes",
    ),
    (
        "dynamodb:Query",
        &["discovery"],
        "CheckpointStore::instance: the file state of an instance",
    ),
    (
        "dynamodb:DeleteItem",
        &[],
        "CheckpointStore::remove: only the standalone scheduler calls it, on its local store",
    ),
    (
        "dynamodb:CreateTable",
        &[],
        "ensure_table: tests and benches; terraform makes the table",
    ),
    ("dynamodb:DescribeTable", &[], "ensure_table, as above"),
    ("dynamodb:UpdateTimeToLive", &[], "ensure_table, as above"),
    ("dynamodb:DeleteTable", &[], "delete_table: test clean-up"),
];

/// Production sources: every .rs file of the binary and the crates it deploys, each cut at
/// its `#[cfg(test)]` module.
fn production_sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let cut = text.find("\n#[cfg(test)]").unwrap_or(text.len());
                out.push((path, text[..cut].to_string()));
            }
        }
    }
    let mut out = Vec::new();
    for dir in [
        "src",
        "contract/src",
        "net/src",
        "rds/src",
        "state/src",
        "queue/src",
        "sink/src",
        "dataplane/src",
        "discovery/src",
    ] {
        walk(&repo().join(dir), &mut out);
    }
    assert!(out.len() > 20, "found only {} source files", out.len());
    out
}

/// `describe_db_log_files` → `DescribeDBLogFiles`.
fn iam_action(service: &str, op: &str) -> String {
    let name: String = op
        .split('_')
        .map(|w| match w {
            "db" => "DB".to_string(),
            w => {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            }
        })
        .collect();
    format!("{service}:{name}")
}

/// Every AWS operation the production code calls: `client.<operation>()` of the aws-sdk
/// client in files that use that service's crate, and the REST complete download.
fn aws_calls_in_code() -> BTreeSet<String> {
    let mut calls = BTreeSet::new();
    for (path, text) in production_sources() {
        let services: Vec<&str> = [("aws_sdk_rds", "rds"), ("aws_sdk_dynamodb", "dynamodb")]
            .iter()
            .filter(|(krate, _)| text.contains(krate))
            .map(|(_, s)| *s)
            .collect();
        assert!(
            services.len() <= 1,
            "{}: two AWS services in one file; teach this test which client is which",
            path.display()
        );
        if text.contains("aws_sdk_") && services.is_empty() {
            panic!(
                "{}: an AWS SDK crate this test does not know: add its service here and its actions to iam/",
                path.display()
            );
        }
        if let Some(service) = services.first() {
            let mut found = 0;
            let mut rest = text.as_str();
            while let Some(at) = rest.find("client") {
                rest = &rest[at + "client".len()..];
                let after = rest.trim_start();
                let Some(call) = after.strip_prefix('.') else {
                    continue;
                };
                let op: String = call
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !op.is_empty() && call[op.len()..].starts_with("()") {
                    calls.insert(iam_action(service, &op));
                    found += 1;
                }
            }
            // Every SDK request ends in `.send()`: one made on a receiver not named `client`
            // would escape the scan above, so the two counts must agree.
            let sends = text.matches(".send()").count();
            assert!(
                sends <= found,
                "{}: {sends} `.send()` calls but only {found} `client.<op>()` calls found: name the SDK client `client` where it is called",
                path.display()
            );
        }
        if text.contains("/downloadCompleteLogFile/") {
            calls.insert("rds:DownloadCompleteDBLogFile".to_string());
        }
    }
    calls
}

/// The actions a policy file allows, after checking each statement's resources are scoped.
fn policy_actions(file: &str) -> BTreeSet<String> {
    let doc: serde_json::Value = serde_json::from_str(&read(file)).unwrap();
    let mut actions = BTreeSet::new();
    for st in doc["Statement"].as_array().expect("Statement list") {
        assert_eq!(st["Effect"], "Allow", "{file}");
        let list = |v: &serde_json::Value| -> Vec<String> {
            match v {
                serde_json::Value::String(s) => vec![s.clone()],
                serde_json::Value::Array(a) => {
                    a.iter().map(|x| x.as_str().unwrap().to_string()).collect()
                }
                other => panic!("{file}: {other}"),
            }
        };
        let acts = list(&st["Action"]);
        for r in list(&st["Resource"]) {
            assert_ne!(r, "*", "{file}: unscoped statement {}", st["Sid"]);
            for a in &acts {
                assert!(!a.contains('*'), "{file}: wildcard action {a}");
                let service = a.split(':').next().unwrap();
                // MSK's data-plane actions are `kafka-cluster:*` on `arn:aws:kafka:` resources.
                let arn_service = if service == "kafka-cluster" {
                    "kafka"
                } else {
                    service
                };
                let arn = format!("arn:aws:{arn_service}:");
                assert!(
                    r.starts_with(&arn) || (service == "kms" && r == "${kms_key_arn}"),
                    "{file}: {a} on {r}"
                );
            }
        }
        actions.extend(acts);
    }
    actions
}

#[test]
fn the_iam_policies_grant_exactly_the_aws_calls_the_code_makes() {
    let in_code = aws_calls_in_code();
    // The scanner itself works: it finds calls of both services and the REST download.
    for known in [
        "rds:DescribeDBLogFiles",
        "dynamodb:UpdateItem",
        "rds:DownloadCompleteDBLogFile",
    ] {
        assert!(
            in_code.contains(known),
            "scanner missed {known}: {in_code:?}"
        );
    }
    let classified: BTreeSet<String> = CALLS.iter().map(|(a, _, _)| a.to_string()).collect();
    assert_eq!(
        in_code, classified,
        "the code's AWS calls changed: classify each in CALLS (which pods need it) and update iam/"
    );
    for role in ["discovery", "processor"] {
        let needed: BTreeSet<String> = CALLS
            .iter()
            .filter(|(_, roles, _)| roles.contains(&role))
            .map(|(a, _, _)| a.to_string())
            .collect();
        assert_eq!(
            policy_actions(&format!("iam/{role}-policy.json")),
            needed,
            "iam/{role}-policy.json"
        );
    }
    // The unneeded ones: table management is only in helpers that production never calls.
    for (path, text) in production_sources() {
        // The standalone scheduler forgets vanished files through `remove`, but `run` always
        // gives it the local store (src/service.rs opens LocalCheckpoints, asserted below).
        // Table management lives in state's `admin` module, built only with the `test-support`
        // feature; the store trait declares `remove`.
        if path.ends_with("state/src/dynamo/admin.rs")
            || path.ends_with("state/src/dynamo/mod.rs")
            || path.ends_with("state/src/lib.rs")
            || path.ends_with("dataplane/src/standalone.rs")
        {
            continue;
        }
        for helper in ["ensure_table", "delete_table", "checkpoints.remove("] {
            assert!(
                !text.contains(helper),
                "{} uses {helper}: move its AWS calls into CALLS and iam/",
                path.display()
            );
        }
    }
    let service = read("src/service.rs");
    assert!(
        service.contains("LocalCheckpoints::open") && !service.contains("DynamoCheckpoints"),
        "the standalone scheduler (which calls CheckpointStore::remove) must keep the local store"
    );
    // The optional policies of MSK IAM and ElastiCache IAM grant exactly what the clients need.
    let set = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        policy_actions("iam/msk-discovery-policy.json"),
        set(&queue::auth::MSK_DISCOVERY_ACTIONS)
    );
    assert_eq!(
        policy_actions("iam/msk-processor-policy.json"),
        set(&queue::auth::MSK_PROCESSOR_ACTIONS)
    );
    assert_eq!(
        policy_actions("iam/elasticache-iam-policy.json"),
        set(&net::redis_iam::ELASTICACHE_ACTIONS)
    );
    let docs = read("docs/managed-services.md");
    for action in queue::auth::MSK_DISCOVERY_ACTIONS
        .iter()
        .chain(&queue::auth::MSK_PROCESSOR_ACTIONS)
        .chain(&net::redis_iam::ELASTICACHE_ACTIONS)
    {
        assert!(
            docs.contains(action),
            "docs/managed-services.md omits {action}"
        );
    }
    // OpenObserve's own calls (not this code's): its object store on one bucket.
    let oo = policy_actions("iam/openobserve-policy.json");
    assert!(oo
        .iter()
        .all(|a| a.starts_with("s3:") || a.starts_with("kms:")));
    // Every placeholder of the policies is a templatefile variable of iam.tf.
    let iam_tf = read("eks-terraform/iam.tf");
    for f in [
        "iam/discovery-policy.json",
        "iam/processor-policy.json",
        "iam/openobserve-policy.json",
    ] {
        let text = read(f);
        for part in text.split("${").skip(1) {
            let var = part.split('}').next().unwrap();
            assert!(
                iam_tf.contains(&format!("    {var} ")),
                "{f}: ${{{var}}} is not in iam.tf's policy_vars"
            );
        }
    }
}

#[test]
fn aurora_logs_config_in_the_environment_names_the_file_and_is_no_config_key() {
    // clap reads --config from AURORA_LOGS_CONFIG; the config loader must not take it for
    // a key. The file given is invalid on purpose: its error proves it was read.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("c.toml");
    std::fs::write(&f, "[openobserve]\nurl = \"not a url\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aurora-logs"))
        .arg("processor")
        .env("AURORA_LOGS_CONFIG", &f)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("is not a URL"), "{err}");
}

/// Every pod template sets `enableServiceLinks: false` (a Service named `aurora-logs-*` would
/// otherwise put `AURORA_LOGS_*` variables into the environment, which the config loader
/// refuses), and a workload the HPA scales has no `replicas:` (a deploy would reset the HPA's
/// count).
#[test]
fn pods_get_no_service_variables_and_the_hpa_alone_sets_the_processor_count() {
    for entry in std::fs::read_dir(repo().join("k8s/deployments")).unwrap() {
        let path = entry.unwrap().path();
        let rel = format!(
            "k8s/deployments/{}",
            path.file_name().unwrap().to_string_lossy()
        );
        let text = read(&rel);
        let lines: Vec<&str> = text.lines().collect();
        let pods = lines.iter().filter(|l| **l == "    spec:").count();
        let linked = lines
            .windows(4)
            .filter(|w| w[0] == "    spec:" && w[1..].contains(&"      enableServiceLinks: false"))
            .count();
        assert!(pods > 0, "{rel}: no pod template");
        assert_eq!(
            linked, pods,
            "{rel}: a pod template without enableServiceLinks: false"
        );
    }
    let hpa = read("k8s/hpa/autoscaling.yaml");
    let target = hpa
        .split("scaleTargetRef:")
        .nth(1)
        .and_then(|t| t.split("name: ").nth(1))
        .and_then(|t| t.lines().next())
        .expect("the HPA names its target");
    assert_eq!(target, "aurora-logs-processor");
    let processor = read("k8s/deployments/processor.yaml");
    assert!(
        !processor
            .lines()
            .any(|l| l.trim_start().starts_with("replicas:")),
        "processor.yaml sets replicas: the HPA owns the count"
    );
}

/// The scoping the policies carry besides their actions: processors write file items only
/// (not discovery's leader item), the Auto Scaling role may use the key that encrypts the node
/// volumes (or no node launches), and the pods' roles trust only this cluster's Pod Identity.
#[test]
fn the_policies_keep_processors_off_the_leader_item_let_nodes_launch_and_trust_one_cluster() {
    let doc: serde_json::Value = serde_json::from_str(&read("iam/processor-policy.json")).unwrap();
    let dynamo = doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|st| st["Sid"] == "FileLeasesAndCheckpoints")
        .expect("the processors' DynamoDB statement");
    assert_eq!(
        dynamo["Condition"]["ForAllValues:StringNotEquals"]["dynamodb:LeadingKeys"],
        serde_json::json!([contract::state::LEADER_INSTANCE]),
        "processors must not reach the leader item's partition"
    );
    // No instance id can be the leader's partition key, so the condition spares every file.
    assert!(contract::state::LEADER_INSTANCE.starts_with('#'));

    let kms = read("eks-terraform/kms.tf");
    let eks = read("eks-terraform/eks.tf");
    assert!(
        eks.contains("kms_key_id  = aws_kms_key.main.arn"),
        "the node volumes' key changed: check the Auto Scaling grant in kms.tf"
    );
    let autoscaling =
        "role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling";
    for sid in [
        "NodeVolumesThroughAutoScaling",
        "NodeVolumeGrantsThroughAutoScaling",
    ] {
        let st = kms
            .split(&format!("Sid    = \"{sid}\""))
            .nth(1)
            .unwrap_or_else(|| panic!("kms.tf: no statement {sid}"));
        let st = &st[..st.find("\n      },").unwrap()];
        assert!(
            st.contains(autoscaling),
            "kms.tf {sid}: not the Auto Scaling role"
        );
    }
    assert!(kms.contains(r#""kms:GrantIsForAWSResource" = "true""#));
    for action in ["kms:Decrypt", "kms:GenerateDataKey*", "kms:CreateGrant"] {
        assert!(kms.contains(&format!("\"{action}\"")), "kms.tf: {action}");
    }

    let iam = read("eks-terraform/iam.tf");
    let trust = iam
        .split("pod_identity_trust = jsonencode(")
        .nth(1)
        .expect("the Pod Identity trust policy");
    let trust = &trust[..trust.find("\n  })").unwrap()];
    assert!(trust.contains(r#"Principal = { Service = "pods.eks.amazonaws.com" }"#));
    assert!(trust.contains(r#""aws:SourceAccount" = local.account_id"#));
    assert!(trust.contains(
        r#""aws:SourceArn" = "arn:aws:eks:${var.region}:${local.account_id}:cluster/${local.name}""#
    ));
    assert!(eks.contains("resource \"aws_eks_cluster\" \"main\" {\n  name     = local.name\n"));
}

/// OpenObserve's own retention (values files) never outlives the bucket's lifecycle
/// (terraform), or OpenObserve would point at deleted objects; and it accepts records as old
/// as the RDS log backlog it may be sent (7 days by default).
#[test]
fn openobserve_keeps_data_no_longer_than_its_bucket_and_accepts_the_rds_backlog() {
    let tf_default = |tf: &str, var: &str| -> u64 {
        let block = tf
            .split(&format!("variable \"{var}\" {{"))
            .nth(1)
            .unwrap_or_else(|| panic!("no variable {var}"));
        let block = &block[..block.find("\n}").unwrap()];
        block
            .lines()
            .find_map(|l| l.trim().strip_prefix("default"))
            .and_then(|v| v.trim().strip_prefix('='))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{var}: no numeric default"))
    };
    let tfvars_value = |file: &str, var: &str| -> Option<u64> {
        read(file).lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == var).then(|| v.trim().parse().unwrap())
        })
    };
    let variables = read("eks-terraform/variables.tf");
    let default_days = tf_default(&variables, "openobserve_retention_days");
    for (env, values) in values_files() {
        let kept: u64 = values["OPENOBSERVE_RETENTION_DAYS"].parse().unwrap();
        let tfvars = format!("eks-terraform/terraform.tfvars.{env}");
        let lifecycle = if repo().join(&tfvars).exists() {
            tfvars_value(&tfvars, "openobserve_retention_days").unwrap_or(default_days)
        } else {
            default_days
        };
        assert!(
            kept <= lifecycle,
            "{env}: OpenObserve keeps {kept} days, the bucket {lifecycle}"
        );
    }
    let oo = read("k8s/deployments/openobserve.yaml");
    let upto: u64 = oo
        .split("- name: ZO_INGEST_ALLOWED_UPTO\n")
        .nth(1)
        .and_then(|r| r.lines().next())
        .and_then(|l| l.trim().strip_prefix("value: \""))
        .and_then(|v| v.strip_suffix('"'))
        .and_then(|v| v.parse().ok())
        .expect("ZO_INGEST_ALLOWED_UPTO");
    assert!(
        upto >= 7 * 24,
        "records older than {upto} h would be refused"
    );
    assert!(oo.contains(
        "ZO_COMPACT_DATA_RETENTION_DAYS\n              value: \"${OPENOBSERVE_RETENTION_DAYS}\""
    ));
}

/// The metrics port is open to the monitoring namespace only, not to every namespace.
#[test]
fn only_the_monitoring_namespace_reaches_the_metrics_port() {
    let policies = read("k8s/policies/network-policies.yaml");
    let metrics = policies
        .split("name: aurora-logs-metrics\n")
        .nth(1)
        .expect("the metrics policy");
    let metrics = metrics.split("\n---").next().unwrap();
    assert!(
        !metrics.contains("namespaceSelector: {}"),
        "open to every namespace"
    );
    assert!(metrics.contains("kubernetes.io/metadata.name: ${MONITORING_NAMESPACE}"));
    for (env, values) in values_files() {
        assert!(!values["MONITORING_NAMESPACE"].is_empty(), "{env}");
    }
}

/// The KEDA ScaledObject scales the processors on the lag of the group they consume as, within
/// the HPA's bounds and with its behaviour.
#[test]
fn keda_scales_the_processors_on_their_own_groups_lag() {
    let (c, _) = load_app_config(&values_files()[0].1);
    let keda = read("k8s/keda/scaledobject.yaml");
    assert!(keda.contains(&format!("consumerGroup: \"{}\"\n", c.kafka.group_id)));
    assert!(keda.contains("bootstrapServers: \"${KAFKA_BROKERS}\""));
    let hpa = read("k8s/hpa/autoscaling.yaml");
    let behavior = |text: &str, indent: usize| -> String {
        let start = text.find("behavior:\n").expect("behavior") + "behavior:\n".len();
        text[start..]
            .lines()
            .take_while(|l| l.len() > indent && l[..indent].trim().is_empty())
            .filter(|l| !l.trim_start().starts_with('#'))
            .map(|l| l[indent..].to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(behavior(&keda, 8), behavior(&hpa, 4));
    for bound in ["${PROCESSOR_MIN_REPLICAS}", "${PROCESSOR_MAX_REPLICAS}"] {
        assert!(keda.contains(bound) && hpa.contains(bound));
    }
    for (env, values) in values_files() {
        assert_eq!(
            values["PROCESSOR_AUTOSCALING"], "hpa",
            "{env}: KEDA is opt-in"
        );
        assert!(values["PROCESSOR_LAG_PER_REPLICA"].parse::<u32>().unwrap() > 0);
    }
}

/// The deployer (an EKS access entry's group) may apply every kind the deploy script applies
/// after the cluster admin's setup.yaml, and the groups setup.yaml binds are the ones
/// terraform's access entries give.
#[test]
fn the_deployer_role_covers_what_the_deployer_applies() {
    let setup = read("k8s/setup.yaml");
    let role = setup
        .split("kind: Role\nmetadata:\n  name: aurora-logs-deployer\n")
        .nth(1)
        .expect("the deployer Role")
        .split("\n---")
        .next()
        .unwrap();
    let script = read("k8s/deploy-aurora-logs.sh");
    let list = script
        .split("manifests=(\n")
        .nth(1)
        .and_then(|l| l.split("\n)").next())
        .expect("the script's manifest list");
    let mut kinds = BTreeSet::new();
    // The cluster admin's (--setup): setup.yaml and the Cluster Autoscaler in kube-system.
    let admins = ["setup.yaml", "cluster-autoscaler.yaml"];
    for m in list.split_whitespace().filter(|m| !admins.contains(m)) {
        for line in read(&format!("k8s/{m}")).lines() {
            if let Some(kind) = line.strip_prefix("kind: ") {
                kinds.insert(kind.to_string());
            }
        }
    }
    assert!(
        kinds.contains("Deployment") && kinds.contains("PrometheusRule"),
        "{kinds:?}"
    );
    for kind in &kinds {
        let lower = kind.to_lowercase();
        let plural = match lower.strip_suffix('y') {
            Some(stem) => format!("{stem}ies"),
            None => format!("{lower}s"),
        };
        let rule = role
            .split("  - apiGroups:")
            .find(|r| r.contains(&format!("\"{plural}\"")))
            .unwrap_or_else(|| panic!("the deployer Role has no rule for {plural}"));
        // A Job's template is immutable: the script deletes it and creates it anew.
        let verbs: &[&str] = if kind == "Job" {
            &["get", "create", "delete"]
        } else {
            &["get", "create", "patch"]
        };
        for verb in verbs {
            assert!(
                rule.contains(&format!("\"{verb}\"")),
                "the deployer may not {verb} {plural}"
            );
        }
    }
    let eks = read("eks-terraform/eks.tf");
    for (list, group) in [
        ("deployer_principal_arns", "aurora-logs-deployers"),
        ("viewer_principal_arns", "aurora-logs-viewers"),
    ] {
        assert!(
            eks.contains(&format!("{{ for arn in var.{list} : arn => \"{group}\" }}")),
            "eks.tf: no access entry puts {list} in {group}"
        );
        assert!(setup.contains(&format!("    kind: Group\n    name: {group}\n")));
    }
    let a = terraform_assignments(&eks);
    let entry = r#"resource "aws_eks_access_entry" "namespace""#;
    assert_eq!(tf_value(&a, entry, "kubernetes_groups"), ["[each.value]"]);
}

/// The manifests are validated against the schemas of the Kubernetes version terraform
/// creates, and that version is one EKS still gives standard support (1.35 and later now).
#[test]
fn the_manifests_are_checked_against_the_clusters_kubernetes_version() {
    let vars = terraform_assignments(&read("eks-terraform/variables.tf"));
    let default = tf_value(&vars, r#"variable "kubernetes_version""#, "default");
    let version = default[0].trim_matches('"');
    let checks = read("scripts/deploy-checks.sh");
    assert!(
        checks.contains(&format!("\nK8S_VERSION={version}.0 ")),
        "scripts/deploy-checks.sh validates another version than {version}"
    );
    let tfvars = terraform_assignments(&read("eks-terraform/terraform.tfvars.poc"));
    assert_eq!(tf_value(&tfvars, "", "kubernetes_version"), default);
    let minor: u32 = version.strip_prefix("1.").unwrap().parse().unwrap();
    assert!(minor >= 35, "EKS {version} is past standard support");
    // The Cluster Autoscaler's minor follows the cluster's, and it looks for this cluster's
    // node groups, which its policy alone lets it resize.
    for (env, values) in values_files() {
        let image = &values["CLUSTER_AUTOSCALER_IMAGE"];
        assert!(
            image.starts_with(&format!(
                "registry.k8s.io/autoscaling/cluster-autoscaler:v{version}."
            )),
            "{env}: {image} is not for Kubernetes {version}"
        );
        assert_eq!(values["CLUSTER_NAME"], format!("aurora-logs-{env}"));
    }
    let eks = read("eks-terraform/eks.tf");
    assert!(eks.contains(
        r#"templatefile("${path.module}/../iam/cluster-autoscaler-policy.json", { cluster_name = local.name })"#
    ));
    let policy: serde_json::Value =
        serde_json::from_str(&read("iam/cluster-autoscaler-policy.json")).unwrap();
    let resize = &policy["Statement"][0];
    assert_eq!(
        resize["Condition"]["StringEquals"]
            ["aws:ResourceTag/k8s.io/cluster-autoscaler/${cluster_name}"],
        "owned"
    );
    assert!(
        read("k8s/cluster-autoscaler.yaml").contains("k8s.io/cluster-autoscaler/${CLUSTER_NAME}")
    );
}

/// The runtime image is the build stage's Debian release (the binary needs the glibc it was
/// linked against), and that release is in Debian's security support (13, trixie).
#[test]
fn the_runtime_image_matches_the_build_stages_debian() {
    let docker = read("Dockerfile");
    let release = docker
        .lines()
        .find_map(|l| l.strip_prefix("ARG DEBIAN_RELEASE="))
        .expect("ARG DEBIAN_RELEASE");
    let number = match release {
        "bookworm" => 12,
        "trixie" => 13,
        other => panic!("unknown Debian release {other}"),
    };
    assert_eq!(number, 13, "bookworm's distroless images are deprecated");
    assert!(
        docker.contains(&format!(
            "FROM gcr.io/distroless/cc-debian{number}:nonroot AS runtime"
        )),
        "the runtime stage is not distroless cc-debian{number}"
    );
}

/// Valkey requires TLS and RBAC: the shippers' user authenticates by IAM, its ACL covers the
/// config's key prefix only, the default user is off, and both shippers' roles may connect as
/// that user (and no other) to that cache.
#[test]
fn valkey_requires_tls_and_an_iam_user_limited_to_the_key_prefix() {
    let a = terraform_assignments(&read("eks-terraform/valkey.tf"));
    let group = r#"resource "aws_elasticache_replication_group" "valkey""#;
    assert_eq!(tf_value(&a, group, "transit_encryption_enabled"), ["true"]);
    assert_eq!(
        tf_value(&a, group, "transit_encryption_mode"),
        [r#""required""#]
    );
    assert_eq!(
        tf_value(&a, group, "user_group_ids"),
        ["[aws_elasticache_user_group.valkey.user_group_id]"]
    );
    let (c, _) = load_app_config(&values_files()[0].1);
    assert_eq!(
        tf_value(&a, "locals", "valkey_key_prefix"),
        [format!("\"{}\"", c.redis.key_prefix)]
    );
    let shippers = r#"resource "aws_elasticache_user" "shippers""#;
    assert_eq!(
        tf_value(&a, shippers, "access_string"),
        [r#""on ~${local.valkey_key_prefix}* &* +@all -@dangerous""#]
    );
    assert_eq!(
        tf_value(&a, &format!("{shippers}/authentication_mode"), "type"),
        [r#""iam""#]
    );
    assert_eq!(
        tf_value(&a, shippers, "user_id"),
        tf_value(&a, shippers, "user_name")
    );
    let default = r#"resource "aws_elasticache_user" "default_off""#;
    assert_eq!(tf_value(&a, default, "user_name"), [r#""default""#]);
    assert_eq!(tf_value(&a, default, "access_string"), [r#""off -@all""#]);
    let iam = terraform_assignments(&read("eks-terraform/iam.tf"));
    let connect = r#"resource "aws_iam_role_policy" "valkey""#;
    assert_eq!(
        tf_value(&iam, connect, "for_each"),
        [r#"toset(["aurora-logs-discovery", "aurora-logs-processor"])"#]
    );
    assert_eq!(
        tf_value(&iam, connect, "policy"),
        [
            r#"templatefile("${path.module}/../iam/elasticache-iam-policy.json", local.valkey_policy_vars)"#
        ]
    );
    let vars = "locals/valkey_policy_vars";
    assert_eq!(
        tf_value(&iam, vars, "cache_user"),
        ["aws_elasticache_user.shippers.user_id"]
    );
    assert_eq!(
        tf_value(&iam, vars, "cache_kind"),
        [r#""replicationgroup""#]
    );
}

/// The shippers read RDS logs of the instances `rds_instances` names only, and a production
/// apply refuses `*` (every database of the account).
#[test]
fn rds_log_access_is_scoped_and_production_refuses_every_database() {
    for file in ["iam/discovery-policy.json", "iam/processor-policy.json"] {
        let policy: serde_json::Value = serde_json::from_str(&read(file)).unwrap();
        for st in policy["Statement"].as_array().unwrap() {
            let actions: Vec<&str> = match &st["Action"] {
                serde_json::Value::String(a) => vec![a.as_str()],
                a => a
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|a| a.as_str())
                    .collect(),
            };
            if actions.iter().any(|a| a.contains("LogFile")) {
                assert_eq!(
                    st["Resource"], "arn:aws:rds:${region}:${account_id}:db:${rds_instances}",
                    "{file}: {actions:?}"
                );
            }
        }
    }
    let iam_tf = terraform_assignments(&read("eks-terraform/iam.tf"));
    let pre = r#"resource "aws_iam_role_policy" "service"/lifecycle/precondition"#;
    assert_eq!(
        tf_value(&iam_tf, pre, "condition"),
        [r#"var.environment != "production" || trimspace(var.rds_instances) != "*""#]
    );
}

/// Egress is denied by default; the allows name the ports the rendered config connects to
/// (Kafka, Valkey, OpenObserve) and no more, and Valkey is reached in terraform's VPC.
#[test]
fn egress_is_denied_but_for_what_each_pod_connects_to() {
    let policies = read("k8s/policies/network-policies.yaml");
    let policy = |name: &str| -> String {
        let p = policies
            .split(&format!("name: {name}\n"))
            .nth(1)
            .unwrap_or_else(|| panic!("no policy {name}"));
        p.split("\n---").next().unwrap().to_string()
    };
    let deny = policy("default-deny-egress");
    assert!(deny.contains("podSelector: {}") && deny.contains(r#"policyTypes: ["Egress"]"#));
    assert!(!deny.contains("egress:"), "the default denies: {deny}");
    let ports = |p: &str| -> BTreeSet<u16> {
        p.lines()
            .filter_map(|l| l.trim().strip_prefix("- port: "))
            .map(|v| v.parse().unwrap())
            .collect()
    };
    let port_of = |url: &str| -> u16 {
        url.rsplit(':')
            .next()
            .and_then(|p| p.trim_end_matches('/').parse().ok())
            .unwrap_or_else(|| panic!("no port in {url}"))
    };
    let values = &values_files()[0].1;
    let (c, _) = load_app_config(values);
    let kafka = port_of(c.kafka.brokers.split(',').next().unwrap());
    let valkey = port_of(&c.redis.url);
    let openobserve = port_of(&c.openobserve.url);
    // Kafka, Valkey, the Pod Identity agent, AWS's APIs.
    assert_eq!(
        ports(&policy("egress-aurora-logs")),
        BTreeSet::from([kafka, valkey, 80, 443])
    );
    assert!(policy("egress-aurora-logs").contains("cidr: 169.254.170.23/32"));
    assert_eq!(
        ports(&policy("egress-processor-openobserve")),
        BTreeSet::from([openobserve])
    );
    assert_eq!(
        ports(&policy("egress-openobserve-install")),
        BTreeSet::from([openobserve])
    );
    assert_eq!(ports(&policy("egress-dns")), BTreeSet::from([53]));
    // VPC_CIDR is terraform's VPC (its default), where Valkey is.
    let vars = terraform_assignments(&read("eks-terraform/variables.tf"));
    for (env, values) in values_files() {
        assert_eq!(
            tf_value(&vars, r#"variable "vpc_cidr""#, "default"),
            [format!("\"{}\"", values["VPC_CIDR"])],
            "{env}"
        );
    }
}

/// The names the code describes, caught by a recorder that keeps only the names.
#[derive(Default)]
struct DescribedNames(std::sync::Mutex<BTreeSet<String>>);

impl DescribedNames {
    fn add(&self, key: metrics::KeyName) {
        self.0.lock().unwrap().insert(key.as_str().to_string());
    }
}

impl metrics::Recorder for DescribedNames {
    fn describe_counter(
        &self,
        key: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
        self.add(key);
    }
    fn describe_gauge(
        &self,
        key: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
        self.add(key);
    }
    fn describe_histogram(
        &self,
        key: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
        self.add(key);
    }
    fn register_counter(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        metrics::Counter::noop()
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(
        &self,
        _: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        metrics::Histogram::noop()
    }
}

/// Every metric a Prometheus rule names is one the code describes (each crate's `describe`, as
/// the binary calls them all at start), and every metric of README's alert table has a rule.
#[test]
fn the_prometheus_rules_name_only_metrics_the_code_registers() {
    let names = DescribedNames::default();
    metrics::with_local_recorder(&names, metrics_names::describe_all);
    let registered = names.0.into_inner().unwrap();
    assert!(registered.len() > 40, "{registered:?}");

    let metric_names = |text: &str| -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut rest = text;
        while let Some(at) = rest.find("aurora_logs_") {
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            let name = &tail[..end];
            // A histogram is exported as its `_bucket`, `_sum` and `_count` series.
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .filter(|base| registered.contains(*base));
            out.insert(base.unwrap_or(name).to_string());
            rest = &tail[end..];
        }
        out
    };
    let rules = read("k8s/monitoring/prometheus-rules.yaml");
    let exprs: String = rules
        .lines()
        .skip_while(|l| !l.contains("groups:"))
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let in_rules = metric_names(&exprs);
    assert!(in_rules.len() >= 8, "{in_rules:?}");
    for name in &in_rules {
        assert!(
            registered.contains(name),
            "prometheus-rules.yaml names {name}, which the code does not register"
        );
    }
    let readme = read("README.md");
    let table = readme
        .split("| metric (`/metrics` of every process) | alert when |")
        .nth(1)
        .expect("README's alert table");
    let table = &table[..table.find("\n\n").unwrap()];
    for name in metric_names(table) {
        assert!(
            in_rules.contains(&name),
            "README alerts on {name}; no rule does"
        );
    }
}
