//! Configuration of the Kafka job queue: the connection shared by discovery's producer and the
//! processors' consumer ([`KafkaConfig`]), and the processor loop's limits
//! ([`ProcessorConfig`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use contract::{LogKind, Topics};
use net::{Secret, SecretSource};
use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

use crate::QueueError;

/// The Kafka connection and topics (`[kafka]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port` separated by commas.
    pub brokers: String,
    /// Consumer group of the processors. Every processor of one deployment uses the same.
    pub group_id: String,
    /// `client.id` reported to the brokers (shows up in their logs and quotas).
    pub client_id: String,
    /// Topic per log kind.
    pub topics: Topics,
    /// Partitions of each topic when [`ensure_topics`](super::ensure_topics) creates it. The
    /// number of processors that can work at once per topic; existing topics are not changed.
    pub partitions: i32,
    /// Replicas of each partition when creating a topic (1 for a test broker; 3 in production).
    pub replication_factor: i32,
    /// A processor that sends no heartbeat for this long is dropped from the group and its
    /// partitions go to the others (`session.timeout.ms`).
    #[serde(with = "humantime_serde")]
    pub session_timeout: Duration,
    /// Time allowed for a published job to reach every in-sync replica before the publish
    /// fails (`message.timeout.ms`); discovery publishes it again at its next pass.
    #[serde(with = "humantime_serde")]
    pub delivery_timeout: Duration,
    /// Timeout of admin requests (topic creation) and of closing a client.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Jobs the producer holds locally before `publish` waits for deliveries
    /// (`queue.buffering.max.messages`).
    pub producer_queue: usize,
    /// Idempotent producer (`enable.idempotence`): no duplicates from the producer's own
    /// retries. Needs a broker that answers InitProducerId (Kafka, MSK and tansu 0.6 do).
    pub idempotence: bool,
    /// Extra librdkafka properties, applied last so they win over everything above (except
    /// the consumer's `enable.auto.commit` and `enable.auto.offset.store`, which stay off: the
    /// processor commits only past completed jobs): TLS or SASL for MSK (`security.protocol`, `sasl.mechanism`, …), `partition.assignment.strategy`,
    /// `debug`, … See librdkafka's CONFIGURATION.md. This build's librdkafka has neither TLS
    /// nor SASL compiled in (see the module docs). From the environment:
    /// `AURORA_LOGS_KAFKA_PROPERTY_SASL_USERNAME=…` sets `sasl.username` (the name lowercased,
    /// `_` read as `.`).
    pub properties: KafkaProperties,
    /// librdkafka properties whose values are in files (a mounted Secret), e.g.
    /// `"sasl.password" = "/var/run/secrets/kafka/password"`; read when a client is made.
    pub property_files: BTreeMap<String, PathBuf>,
    /// PEM file of the CA that signed the brokers' certificates (`ssl.ca.location`); empty:
    /// the system's roots (MSK's certificates chain to them).
    pub ca_file: Option<PathBuf>,
    /// Amazon MSK IAM authentication: SASL/OAUTHBEARER (over TLS) with tokens signed by the
    /// pod's AWS credentials. Sets `security.protocol = SASL_SSL` and `sasl.mechanism =
    /// OAUTHBEARER`. The IAM role needs `kafka-cluster:Connect` and the topic and group actions
    /// (see the README).
    pub msk_iam: bool,
    /// Region of the MSK cluster; empty: the default chain's (`AWS_REGION`).
    pub msk_iam_region: String,
}

/// librdkafka properties, by name. `Debug` hides the value of every property that may hold a
/// secret (a name with `password`, `secret`, `key`, `token`, `jaas` or `oauthbearer.config`).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KafkaProperties(pub BTreeMap<String, String>);

impl KafkaProperties {
    /// Whether the property `name` may hold a secret.
    pub fn is_secret(name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        [
            "password",
            "secret",
            "key",
            "token",
            "jaas",
            "oauthbearer.config",
        ]
        .iter()
        .any(|w| name.contains(w))
    }
}

impl std::ops::Deref for KafkaProperties {
    type Target = BTreeMap<String, String>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for KafkaProperties {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl std::fmt::Debug for KafkaProperties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| {
                let shown: &dyn std::fmt::Debug = if KafkaProperties::is_secret(k) {
                    &"<redacted>"
                } else {
                    v
                };
                (k, format!("{shown:?}"))
            }))
            .finish()
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            group_id: "aurora-logs-processor".into(),
            client_id: "aurora-logs".into(),
            topics: Topics::default(),
            partitions: 12,
            replication_factor: 1,
            session_timeout: Duration::from_secs(30),
            delivery_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            producer_queue: 10_000,
            idempotence: true,
            properties: KafkaProperties::default(),
            property_files: BTreeMap::new(),
            ca_file: None,
            msk_iam: false,
            msk_iam_region: String::new(),
        }
    }
}

/// Milliseconds of `d` as librdkafka wants them, at least 1.
pub(crate) fn millis(d: Duration) -> String {
    d.as_millis().clamp(1, i32::MAX as u128).to_string()
}

impl KafkaConfig {
    /// What every client of ours shares: brokers and client id, then `properties`.
    fn base(&self, role: &str) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("client.id", format!("{}-{role}", self.client_id))
            .set(
                "socket.timeout.ms",
                millis(self.request_timeout.max(Duration::from_secs(10))),
            );
        if let Some(ca) = &self.ca_file {
            c.set("security.protocol", "ssl")
                .set("ssl.ca.location", ca.display().to_string());
        }
        if self.msk_iam {
            c.set("security.protocol", "sasl_ssl")
                .set("sasl.mechanism", "OAUTHBEARER");
        }
        c
    }

    fn with_properties(&self, mut c: ClientConfig) -> Result<ClientConfig, QueueError> {
        for (k, v) in self.properties.iter() {
            c.set(k, v);
        }
        for (k, path) in &self.property_files {
            let value = SecretSource::new(
                format!("kafka.property_files.{k:?}"),
                Secret::default(),
                Some(path),
            )
            .and_then(|s| s.get())
            .map_err(|error| QueueError::PropertyFile {
                property: k.clone(),
                error,
            })?;
            c.set(k, value.expose());
        }
        Ok(c)
    }

    /// The admin client's configuration.
    pub(crate) fn admin_config(&self) -> Result<ClientConfig, QueueError> {
        self.with_properties(self.base("admin"))
    }

    /// The producer's configuration: acks from every in-sync replica, a bounded local queue
    /// and a delivery timeout.
    pub(crate) fn producer_config(&self) -> Result<ClientConfig, QueueError> {
        let mut c = self.base("producer");
        c.set("acks", "all")
            .set("enable.idempotence", self.idempotence.to_string())
            .set("message.timeout.ms", millis(self.delivery_timeout))
            .set(
                "queue.buffering.max.messages",
                self.producer_queue.clamp(1, 10_000_000).to_string(),
            )
            // A job is a few hundred bytes: 64 MiB holds far more than producer_queue jobs.
            .set("queue.buffering.max.kbytes", "65536")
            .set("linger.ms", "5");
        self.with_properties(c)
    }

    /// The consumer's configuration: manual commits only, start at the earliest job of a
    /// partition the group never committed, and a small local prefetch (jobs are tiny and the
    /// processor pauses partitions when it is busy).
    pub(crate) fn consumer_config(
        &self,
        processor: &ProcessorConfig,
    ) -> Result<ClientConfig, QueueError> {
        let mut c = self.base("processor");
        c.set("group.id", &self.group_id)
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set("session.timeout.ms", millis(self.session_timeout))
            .set(
                "heartbeat.interval.ms",
                millis((self.session_timeout / 3).min(Duration::from_secs(3))),
            )
            .set(
                "queued.min.messages",
                processor.prefetch_messages.clamp(1, 10_000_000).to_string(),
            )
            .set("queued.max.messages.kbytes", "4096")
            .set(
                "statistics.interval.ms",
                if processor.statistics_interval.is_zero() {
                    "0".to_string()
                } else {
                    millis(processor.statistics_interval)
                },
            );
        let mut c = self.with_properties(c)?;
        // Not overridable: offsets are committed by the processor, past completed jobs only.
        c.set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false");
        Ok(c)
    }
}

/// Limits of the processor loop (`[processor]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessorConfig {
    /// Jobs run at once.
    pub max_jobs: usize,
    /// Estimated bytes of the jobs running at once. A job costs its file's size, capped at
    /// `job_cost_cap` (at least 1): a file job never holds more than its pipeline's bounded
    /// queues, and a small file cannot fill them. A job larger than the budget runs alone.
    pub max_in_flight_bytes: u64,
    /// The most one job is counted for: the memory bound of one file job, which is about
    /// `chunk_queue` × 1 MiB of download + (`batch_queue` + `send_concurrency` + 1) batches.
    pub job_cost_cap: u64,
    /// Jobs received but not yet started (waiting for room in the budget). Every partition
    /// is paused while any wait, so this rarely holds more than one; at the bound the loop
    /// stops reading the consumer until a job finishes.
    pub max_waiting_jobs: usize,
    /// Messages librdkafka prefetches per partition (`queued.min.messages`).
    pub prefetch_messages: usize,
    /// Time between offset commits.
    #[serde(with = "humantime_serde")]
    pub commit_interval: Duration,
    /// On shutdown: time allowed to the running jobs to finish before their offsets are left
    /// uncommitted (their files resume from their checkpoints on another processor).
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Time between librdkafka statistics (consumer lag per topic); 0 turns them off.
    #[serde(with = "humantime_serde")]
    pub statistics_interval: Duration,
    /// The kinds whose jobs go first (by default the error log and PostgreSQL, the kinds
    /// standalone tails within a minute): a quarter of `max_jobs` (at least one of two or
    /// more) and of `max_in_flight_bytes` is kept from the other kinds' jobs, and the other
    /// kinds' topics pause on their own while those fill their share, so an error log never
    /// waits behind long slow, general or audit files.
    pub urgent_kinds: Vec<LogKind>,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        ProcessorConfig {
            max_jobs: 8,
            max_in_flight_bytes: 256 * 1024 * 1024,
            job_cost_cap: 32 * 1024 * 1024,
            max_waiting_jobs: 16,
            prefetch_messages: 1000,
            commit_interval: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(25),
            statistics_interval: Duration::from_secs(30),
            urgent_kinds: vec![LogKind::MysqlError, LogKind::Postgresql],
        }
    }
}

impl ProcessorConfig {
    /// The budget cost of a job of `size` bytes: `size` capped at `job_cost_cap`, at least 1.
    pub fn job_cost(&self, size: u64) -> u64 {
        size.min(self.job_cost_cap).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_through_toml_like_json_and_unknown_fields_are_refused() {
        let k = KafkaConfig::default();
        let v = serde_json::to_value(&k).unwrap();
        assert_eq!(serde_json::from_value::<KafkaConfig>(v).unwrap(), k);
        let p: ProcessorConfig =
            serde_json::from_str(r#"{"max_jobs": 2, "commit_interval": "250ms"}"#).unwrap();
        assert_eq!(p.max_jobs, 2);
        assert_eq!(p.commit_interval, Duration::from_millis(250));
        assert!(serde_json::from_str::<KafkaConfig>(r#"{"broker": "x"}"#).is_err());
        assert!(serde_json::from_str::<ProcessorConfig>(r#"{"max_job": 1}"#).is_err());
        let p: ProcessorConfig =
            serde_json::from_str(r#"{"urgent_kinds": ["error", "slowquery"]}"#).unwrap();
        assert_eq!(p.urgent_kinds, [LogKind::MysqlError, LogKind::MysqlSlow]);
        assert!(
            serde_json::from_str::<ProcessorConfig>(r#"{"urgent_kinds": ["errors"]}"#).is_err()
        );
    }

    #[test]
    fn a_job_costs_its_size_capped_and_at_least_one() {
        let p = ProcessorConfig {
            job_cost_cap: 100,
            ..ProcessorConfig::default()
        };
        assert_eq!(p.job_cost(0), 1);
        assert_eq!(p.job_cost(40), 40);
        assert_eq!(p.job_cost(u64::MAX), 100);
    }

    #[test]
    fn properties_win_over_our_settings() {
        let mut k = KafkaConfig::default();
        k.properties.insert("acks".into(), "1".into());
        k.properties
            .insert("enable.auto.commit".into(), "true".into());
        k.properties
            .insert("security.protocol".into(), "plaintext".into());
        let c = k.producer_config().unwrap();
        assert_eq!(c.get("acks"), Some("1"));
        assert_eq!(c.get("security.protocol"), Some("plaintext"));
        let c = k.consumer_config(&ProcessorConfig::default()).unwrap();
        assert_eq!(c.get("enable.auto.commit"), Some("false"));
        assert_eq!(c.get("group.id"), Some("aurora-logs-processor"));
        assert_eq!(c.get("statistics.interval.ms"), Some("30000"));
    }

    #[test]
    fn secret_properties_come_from_files_and_never_show_in_debug() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("password");
        std::fs::write(&file, "s3cret-from-file\n").unwrap();
        let mut k = KafkaConfig::default();
        k.properties.insert("sasl.username".into(), "aurora".into());
        k.properties
            .insert("ssl.key.password".into(), "inline-s3cret".into());
        k.property_files.insert("sasl.password".into(), file);
        let c = k.producer_config().unwrap();
        assert_eq!(c.get("sasl.password"), Some("s3cret-from-file"));
        assert_eq!(c.get("ssl.key.password"), Some("inline-s3cret"));
        let shown = format!("{k:?}");
        assert!(shown.contains("aurora"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");

        k.property_files
            .insert("sasl.password".into(), dir.path().join("absent"));
        let e = k.producer_config().unwrap_err().to_string();
        assert!(e.contains("sasl.password") && e.contains("absent"), "{e}");
    }
}
