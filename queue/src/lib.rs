//! The Kafka job queue of the distributed mode: discovery publishes [`Job`](contract::Job)s,
//! processors consume them in one consumer group.
//!
//! # Brief overview
//! - [`ensure_topics`] creates the five topics (one per [`LogKind`](contract::LogKind)) with
//!   the configured partitions, tolerating topics that exist.
//! - [`JobProducer::publish`] (discovery) sends a pass's jobs keyed by instance and file, so
//!   one file's jobs stay in order on one partition, and fails unless every one was
//!   acknowledged by all in-sync replicas.
//! - [`Processor::run`] (each processor) reads the jobs, drops what it cannot or must not run
//!   (malformed, newer version, fenced-off leader, a file already running here), runs the rest
//!   through a [`JobRunner`] under a job count and byte budget (pausing every partition while
//!   at the budget), and commits a partition's offset only past jobs that completed: a
//!   runner returns after its file's checkpoint is durable, so offsets are "committed only
//!   after the checkpoint".
//!
//! # Delivery
//! At least once. A processor that dies loses its uncommitted offsets; the jobs are read again
//! by the partition's next owner, and the file's checkpoint (with its lease) makes the re-run
//! resume where the last one stopped. A job that fails is counted and committed past: the
//! file's state still shows unshipped bytes, so discovery publishes it again.
//!
//! # librdkafka and the test broker
//! rdkafka 0.39 with its bundled librdkafka 2.12.1. librdkafka 2.5 and later dereference a NULL
//! topic name in `rd_kafka_metadata_update_op` when a fetch for a topic the broker no longer has
//! comes back with a KIP-951 leader hint and a zero topic id, which is how the test broker
//! (tansu 0.6) answers once a topic is deleted or lost by a restart of its memory storage.
//! Kafka and MSK keep their topics over a restart and send no such hint. So no test restarts
//! the broker: they take it away and back behind `simulator::proxy::Proxy` (connections and
//! port closed, topics and offsets kept), and delete a topic only after its consumers closed.
//! `scripts/kafka-topic-loss/check.sh` shows the crash with the librdkafka of a given
//! confluent-kafka release.
//!
//! # TLS and SASL (MSK)
//! librdkafka is built with OpenSSL vendored (`ssl-vendored`: perl and make, no system
//! packages, the same for aarch64), hence TLS, SASL/SCRAM and OAUTHBEARER; `KafkaConfig`'s
//! `ca_file`, `msk_iam` (tokens through rdkafka's refresh callback, [`auth`]) and
//! [`KafkaConfig::properties`] (`security.protocol`, `sasl.mechanism`, …) configure them.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod auth;
mod config;
mod consumer;
mod offsets;
mod producer;
pub mod telemetry;

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

pub use auth::{KafkaAuth, KafkaContext};
pub use config::{KafkaConfig, KafkaProperties, ProcessorConfig};
pub use consumer::{EpochFence, JobOutcome, JobRunner, Processor, ProcessorStats, ProcessorTotals};
pub use producer::JobProducer;

/// Errors of the job queue.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// A client could not be created: a property is unknown or has a bad value.
    #[error("kafka {role} configuration refused: {error}; check [kafka] and its properties")]
    Client {
        /// `producer`, `processor` or `admin`.
        role: &'static str,
        /// librdkafka's answer.
        #[source]
        error: KafkaError,
    },
    /// MSK IAM authentication cannot start (no region or credentials).
    #[error("kafka authentication: {0}")]
    Auth(String),
    /// A property's file could not be read.
    #[error("kafka property {property}: {error}")]
    PropertyFile {
        /// The librdkafka property.
        property: String,
        /// Why.
        #[source]
        error: net::SecretError,
    },
    /// A topic could not be created.
    #[error("creating kafka topic {topic} failed: {error}; create it by hand or check the brokers at {brokers}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// What the broker (or the timeout) said.
        error: String,
        /// The bootstrap brokers.
        brokers: String,
    },
    /// Some jobs of a publish were not acknowledged.
    #[error("{failed} of {total} jobs were not delivered to kafka (first: {first_error}); they are published again at the next pass")]
    Undelivered {
        /// Jobs not delivered.
        failed: usize,
        /// Jobs of the call.
        total: usize,
        /// The first failure.
        first_error: String,
    },
    /// The consumer could not subscribe to the topics.
    #[error("subscribing to the job topics failed: {0}; check the topic names")]
    Subscribe(#[source] KafkaError),
    /// librdkafka reported a fatal error: the consumer cannot go on.
    #[error("kafka consumer failed fatally: {0}; the processor stops (its jobs go to the other processors)")]
    Fatal(#[source] KafkaError),
}

impl QueueError {
    /// Whether trying again later may succeed (broker down, timeouts), as opposed to a
    /// configuration to fix.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            QueueError::Undelivered { .. } | QueueError::CreateTopic { .. }
        )
    }
}

/// Create the five job topics with `config.partitions` partitions and
/// `config.replication_factor` replicas; a topic that exists already is left as it is.
/// Returns the topics this call created.
pub async fn ensure_topics(config: &KafkaConfig) -> Result<Vec<String>, QueueError> {
    if config.msk_iam {
        // rdkafka's admin client does not answer librdkafka's token refresh.
        return Err(QueueError::Auth(format!(
            "with kafka.msk_iam, topics are not created here; create {} in the MSK cluster (the deployment does)",
            config.topics.all().join(", ")
        )));
    }
    let admin: AdminClient<DefaultClientContext> =
        config
            .admin_config()?
            .create()
            .map_err(|e| QueueError::Client {
                role: "admin",
                error: e,
            })?;
    let topics = config.topics.all();
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| {
            NewTopic::new(
                t,
                config.partitions.max(1),
                TopicReplication::Fixed(config.replication_factor.max(1)),
            )
        })
        .collect();
    let timeout = config.request_timeout;
    let options = AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout));
    let create_error = |topic: &str, error: String| QueueError::CreateTopic {
        topic: topic.to_string(),
        error,
        brokers: config.brokers.clone(),
    };
    // The admin request has its own timeouts; this one also covers finding a broker.
    let results = tokio::time::timeout(
        timeout + Duration::from_secs(5),
        admin.create_topics(&new, &options),
    )
    .await
    .map_err(|_| create_error(topics[0], format!("no answer within {timeout:?}")))?
    .map_err(|e| create_error(topics[0], e.to_string()))?;
    let mut created = Vec::new();
    for r in results {
        match r {
            Ok(topic) => {
                tracing::info!(%topic, partitions = config.partitions, "kafka topic created");
                created.push(topic);
            }
            Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => {
                tracing::debug!(%topic, "kafka topic exists");
            }
            Err((topic, code)) => return Err(create_error(&topic, code.to_string())),
        }
    }
    Ok(created)
}
