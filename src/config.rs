//! The configuration of `aurora-logs run`: a TOML file, overridden by `AURORA_LOGS_*`
//! environment variables (`__` separates levels: `AURORA_LOGS_OPENOBSERVE__PASSWORD`), then by
//! flags. Every component's section is its own serde struct with defaults; unknown keys are
//! errors, so a typo never silently falls back to a default. librdkafka's dotted properties come
//! from `AURORA_LOGS_KAFKA_PROPERTY_*` (`AURORA_LOGS_KAFKA_PROPERTY_SASL_PASSWORD` sets
//! `sasl.password`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use dataplane::pipeline::PipelineConfig;
use dataplane::standalone::SchedulerConfig;
use discovery::DiscoveryConfig;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use net::redis::RedisConfig;
use queue::{KafkaConfig, ProcessorConfig};
use rds::budget::RateBudgetConfig;
use rds::RdsConfig;
use serde::{Deserialize, Serialize};
use sink::{OpenObserveConfig, StreamsConfig};
use state::DynamoConfig;

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStyle {
    /// One JSON object per line (for log collectors).
    #[default]
    Json,
    /// Human-readable lines.
    Text,
}

/// Everything `aurora-logs run`, `discovery` and `processor` are configured by (each mode reads
/// the sections it needs; one file can serve all three).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where checkpoints and the dead-letter file live.
    pub state_dir: PathBuf,
    /// Address of `/metrics`, `/healthz`, `/readyz`.
    pub listen: SocketAddr,
    /// Log output format.
    pub log_format: LogStyle,
    /// Log filter (tracing's EnvFilter syntax); `RUST_LOG` wins when set.
    pub log_level: String,
    /// RDS access and download.
    pub rds: RdsConfig,
    /// OpenObserve.
    pub openobserve: OpenObserveConfig,
    /// Per-file pipeline tuning.
    pub pipeline: PipelineConfig,
    /// Stream name per log type.
    pub streams: StreamsConfig,
    /// Discovery and workers.
    pub scheduler: SchedulerConfig,
    /// Static fields added to every record (lowercase snake_case keys).
    pub tags: BTreeMap<String, String>,
    /// Distributed mode: the job queue.
    pub kafka: KafkaConfig,
    /// Distributed mode: file state and leases.
    pub dynamodb: DynamoConfig,
    /// Distributed mode: the Redis (or Valkey) of the RDS cache and the shared RDS budget.
    pub redis: RedisConfig,
    /// Distributed mode: the RDS call budget shared by every process through `redis`.
    pub rds_budget: RateBudgetConfig,
    /// `aurora-logs discovery`.
    pub discovery: DiscoveryConfig,
    /// `aurora-logs processor`.
    pub processor: ProcessorConfig,
    /// `aurora-logs openobserve install`: retention, alert destination.
    pub openobserve_install: openobserve::InstallConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            state_dir: PathBuf::from("/var/lib/aurora-logs"),
            listen: SocketAddr::from(([0, 0, 0, 0], 9090)),
            log_format: LogStyle::Json,
            log_level: "info".into(),
            rds: RdsConfig::default(),
            openobserve: OpenObserveConfig::default(),
            pipeline: PipelineConfig::default(),
            streams: StreamsConfig::default(),
            scheduler: SchedulerConfig::default(),
            tags: BTreeMap::new(),
            kafka: KafkaConfig::default(),
            dynamodb: DynamoConfig::default(),
            redis: RedisConfig::default(),
            rds_budget: RateBudgetConfig::default(),
            discovery: DiscoveryConfig::default(),
            processor: ProcessorConfig::default(),
            openobserve_install: openobserve::InstallConfig::default(),
        }
    }
}

/// `AURORA_LOGS_*` variables that are flags of the command line (clap's `env`), not config
/// keys: without this, `AURORA_LOGS_CONFIG=/etc/…` failed as an unknown field `config`.
const FLAG_VARIABLES: &[&str] = &[
    "config",
    "demo_openobserve_password",
    // The test command's Python for the OpenObserve query proofs (scripts/test.sh).
    "datafusion_python",
];

/// `AURORA_LOGS_` + this (any case): a librdkafka property (figment would read its dots as
/// levels).
const KAFKA_PROPERTY_PREFIX: &str = "kafka_property_";

/// librdkafka properties from `AURORA_LOGS_KAFKA_PROPERTY_<NAME>` variables: the name lowercased,
/// `_` read as `.` (no librdkafka property has an underscore).
fn kafka_properties_from(vars: impl Iterator<Item = (String, String)>) -> Vec<(String, String)> {
    vars.filter_map(|(k, v)| {
        let name = k.strip_prefix("AURORA_LOGS_")?;
        let lower = name.to_ascii_lowercase();
        let property = lower.strip_prefix(KAFKA_PROPERTY_PREFIX)?;
        (!property.is_empty()).then(|| (property.replace('_', "."), v))
    })
    .collect()
}

/// Fields the data plane writes itself; a tag may not take their names.
const RESERVED: &[&str] = &[
    "_timestamp",
    "log_type",
    "log_offset",
    "record_id",
    "engine",
    "engine_version",
    "cluster_id",
    "instance_id",
    "region",
    "log_file",
    "message",
    "parse_error",
    "truncated",
];

impl Config {
    /// Load `file` (if given) over the defaults, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(f) = file {
            if !f.exists() {
                bail!("config file {} does not exist", f.display());
            }
            fig = fig.merge(Toml::file(f));
        }
        let mut config: Config = fig
            .merge(
                Env::prefixed("AURORA_LOGS_")
                    .ignore(FLAG_VARIABLES)
                    .filter(|k| {
                        !k.as_str()
                            .to_ascii_lowercase()
                            .starts_with(KAFKA_PROPERTY_PREFIX)
                    })
                    .split("__"),
            )
            .extract()
            .context("reading the configuration (file and AURORA_LOGS_* variables)")?;
        config
            .kafka
            .properties
            .extend(kafka_properties_from(std::env::vars()));
        config.validate()?;
        Ok(config)
    }

    /// Check what serde cannot.
    pub fn validate(&self) -> Result<()> {
        for k in self.tags.keys() {
            let ok = !k.is_empty()
                && k.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !ok {
                bail!("tag key {k:?}: use lowercase letters, digits and _ (OpenObserve rewrites anything else)");
            }
            if RESERVED.contains(&k.as_str()) {
                bail!("tag key {k:?} is a field aurora-logs writes itself; pick another name");
            }
        }
        if self.openobserve.url.parse::<http::Uri>().is_err() {
            bail!("openobserve.url {:?} is not a URL", self.openobserve.url);
        }
        if self.pipeline.batch.max_bytes == 0 || self.pipeline.batch.max_records == 0 {
            bail!("pipeline.batch.max_bytes and max_records must be above 0");
        }
        if !matches!(self.rds.complete_path_version.as_str(), "v13" | "v19") {
            bail!("rds.complete_path_version must be v13 or v19");
        }
        if self.discovery.redis != RedisConfig::default() {
            bail!("set Redis under [redis] (shared by the cache and the RDS budget), not [discovery.redis]");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_annotated_example_loads_as_is_and_differs_from_defaults_only_where_it_says() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/aurora-logs.example.toml");
        let c = Config::load(Some(&path)).expect("example config loads");
        assert_eq!(c.openobserve.url, "http://openobserve:5080");
        assert_eq!(
            c.tags.get("environment").map(String::as_str),
            Some("production")
        );
        assert_eq!(c.scheduler.workers, 4);
        assert_eq!(c.kafka.partitions, 12);
        assert_eq!(c.kafka.topics, contract::Topics::default());
        assert_eq!(c.dynamodb.table, contract::state::DEFAULT_TABLE);
        assert_eq!(c.rds_budget.calls_per_second, 10.0);
        assert_eq!(c.processor.max_jobs, 8);
    }

    #[test]
    fn kafka_properties_come_from_their_own_variables() {
        let vars = [
            ("AURORA_LOGS_KAFKA_PROPERTY_SASL_PASSWORD", "p"),
            ("AURORA_LOGS_KAFKA_PROPERTY_security_protocol", "SASL_SSL"),
            ("AURORA_LOGS_KAFKA__BROKERS", "b:9092"),
            ("AURORA_LOGS_KAFKA_PROPERTY_", "ignored"),
            ("OTHER_KAFKA_PROPERTY_X", "ignored"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        assert_eq!(
            kafka_properties_from(vars.into_iter()),
            vec![
                ("sasl.password".to_string(), "p".to_string()),
                ("security.protocol".to_string(), "SASL_SSL".to_string())
            ]
        );
    }

    #[test]
    fn no_secret_shows_in_the_configuration_debug_output() {
        let mut c = Config::default();
        c.openobserve.password = "oo-s3cret".into();
        c.rds.secret_access_key = "rds-s3cret".into();
        c.dynamodb.secret_access_key = "ddb-s3cret".into();
        c.redis.password = "redis-s3cret".into();
        c.redis.url = "redis://user:url-s3cret@host:6379".into();
        c.kafka
            .properties
            .insert("sasl.password".into(), "kafka-s3cret".into());
        for shown in [format!("{c:?}"), format!("{c:#?}")] {
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("<redacted>"), "{shown}");
        }
    }

    #[test]
    fn unknown_keys_and_bad_tags_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "[openobserve]\nurll = \"x\"\n").unwrap();
        let e = Config::load(Some(&f)).unwrap_err();
        assert!(format!("{e:#}").contains("urll"), "{e:#}");
        std::fs::write(&f, "[tags]\nTeam = \"x\"\n").unwrap();
        assert!(Config::load(Some(&f)).is_err());
        std::fs::write(&f, "[tags]\nrecord_id = \"x\"\n").unwrap();
        assert!(Config::load(Some(&f)).is_err());
        assert!(Config::load(Some(&dir.path().join("missing.toml"))).is_err());
    }
}
