//! Publishing jobs: what discovery calls at the end of a pass.
//!
//! Every job of a call is enqueued first and the deliveries are awaited together (awaiting
//! each send costs a linger and a round trip per job). The local queue is bounded
//! (`producer_queue`); when it is full, `publish` waits for the deliveries it already has
//! before it enqueues more. A job counts as published only when every in-sync replica has it
//! (`acks=all`); anything else within `delivery_timeout` makes the whole call fail, and the
//! caller publishes again at its next pass (the jobs that did arrive become duplicates, which
//! processors skip or finish at once: a file's checkpoint is the truth).
//!
//! After a failed publish the producer is replaced by a new one. An idempotent producer whose
//! broker forgot its producer id (a broker that lost its state, as tansu's memory storage does
//! on restart) otherwise answers every later send with "unknown producer id" forever; a new
//! producer asks for a new id. The cost is one reconnect after a failure.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use contract::Job;
use metrics::counter;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::ClientConfig;

use super::{KafkaAuth, KafkaConfig, KafkaContext, QueueError};
use crate::telemetry;

/// Publishes [`Job`]s to their topics, keyed by [`Job::key`].
pub struct JobProducer {
    producer: Mutex<Arc<FutureProducer<KafkaContext>>>,
    client: ClientConfig,
    context: KafkaContext,
    topics: contract::Topics,
    delivery_timeout: Duration,
    brokers: String,
}

impl std::fmt::Debug for JobProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobProducer")
            .field("brokers", &self.brokers)
            .finish_non_exhaustive()
    }
}

/// How long one delivery may take at most, beyond librdkafka's own `message.timeout.ms` (which
/// resolves every delivery): a backstop should a delivery report never come.
const DELIVERY_BACKSTOP: Duration = Duration::from_secs(5);

impl JobProducer {
    /// A producer for `config`'s brokers and topics, authenticated by `auth`. Connects lazily:
    /// a broker that is down shows up as failed deliveries, not here.
    pub fn new(config: &KafkaConfig, auth: &KafkaAuth) -> Result<JobProducer, QueueError> {
        let client = config.producer_config()?;
        let context = auth.context();
        let producer: FutureProducer<KafkaContext> = client
            .create_with_context(context.clone())
            .map_err(|e| QueueError::Client {
                role: "producer",
                error: e,
            })?;
        Ok(JobProducer {
            producer: Mutex::new(Arc::new(producer)),
            client,
            context,
            topics: config.topics.clone(),
            delivery_timeout: config.delivery_timeout,
            brokers: config.brokers.clone(),
        })
    }

    /// Publish `jobs`, each to the topic of its kind, and wait until every one is acknowledged
    /// by all in-sync replicas. Returns how many were published (all of them), or an error
    /// saying how many were not; the caller publishes again next pass.
    pub async fn publish(&self, jobs: &[Job]) -> Result<usize, QueueError> {
        let producer = self.current();
        let deadline = Instant::now() + self.delivery_timeout + DELIVERY_BACKSTOP;
        let mut pending: Vec<(usize, DeliveryFuture)> = Vec::new();
        let mut failed: Vec<(usize, String)> = Vec::new();
        let mut delivered = 0usize;
        for (i, job) in jobs.iter().enumerate() {
            let key = job.key();
            let payload = job.encode();
            let topic = self.topics.topic(job.kind);
            loop {
                let record = FutureRecord::to(topic).key(&key).payload(&payload);
                match producer.send_result(record) {
                    Ok(f) => {
                        pending.push((i, f));
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        if Instant::now() >= deadline {
                            failed.push((i, "local producer queue stayed full".into()));
                            break;
                        }
                        if pending.is_empty() {
                            // Someone else's jobs fill the queue: give them a moment.
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        } else {
                            delivered +=
                                await_all(std::mem::take(&mut pending), deadline, &mut failed)
                                    .await;
                        }
                    }
                    Err((e, _)) => {
                        failed.push((i, e.to_string()));
                        break;
                    }
                }
            }
        }
        delivered += await_all(pending, deadline, &mut failed).await;
        counter!(telemetry::QUEUE_PUBLISHED, "outcome" => "delivered").increment(delivered as u64);
        if failed.is_empty() {
            return Ok(delivered);
        }
        counter!(telemetry::QUEUE_PUBLISHED, "outcome" => "failed").increment(failed.len() as u64);
        self.replace(&producer);
        failed.sort_by_key(|(i, _)| *i);
        let (first, error) = &failed[0];
        let first_error = format!("job {}: {error}", jobs[*first].key());
        tracing::warn!(
            failed = failed.len(),
            total = jobs.len(),
            brokers = %self.brokers,
            error = %first_error,
            "jobs not delivered to kafka; they are published again next pass"
        );
        Err(QueueError::Undelivered {
            failed: failed.len(),
            total: jobs.len(),
            first_error,
        })
    }

    /// Wait up to `timeout` for every job enqueued to be delivered (before dropping the
    /// producer at shutdown). Blocks the calling thread.
    pub fn flush(&self, timeout: Duration) -> Result<(), QueueError> {
        let producer = self.current();
        producer.flush(timeout).map_err(|e| {
            let n = producer.in_flight_count().max(0) as usize;
            QueueError::Undelivered {
                failed: n,
                total: n,
                first_error: e.to_string(),
            }
        })
    }

    fn current(&self) -> Arc<FutureProducer<KafkaContext>> {
        self.producer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replace `failed` (unless another call did already) with a new producer; the old one
    /// is dropped on a blocking thread (dropping purges and flushes for up to 500 ms).
    fn replace(&self, failed: &Arc<FutureProducer<KafkaContext>>) {
        let mut current = self.producer.lock().unwrap_or_else(|p| p.into_inner());
        if !Arc::ptr_eq(&current, failed) {
            return;
        }
        match self
            .client
            .create_with_context::<_, FutureProducer<KafkaContext>>(self.context.clone())
        {
            Ok(new) => {
                let old = std::mem::replace(&mut *current, Arc::new(new));
                tracing::info!(brokers = %self.brokers, "kafka producer replaced after a failed publish");
                tokio::task::spawn_blocking(move || drop(old));
            }
            Err(e) => {
                tracing::warn!(error = %e, "kafka producer could not be replaced; keeping the old one")
            }
        }
    }
}

/// Await every delivery; returns how many arrived, pushing the others onto `failed`.
async fn await_all(
    pending: Vec<(usize, DeliveryFuture)>,
    deadline: Instant,
    failed: &mut Vec<(usize, String)>,
) -> usize {
    let (index, futures): (Vec<usize>, Vec<DeliveryFuture>) = pending.into_iter().unzip();
    let wait = tokio::time::timeout_at(deadline.into(), futures_util::future::join_all(futures));
    match wait.await {
        Ok(results) => {
            let mut ok = 0;
            for (i, r) in index.into_iter().zip(results) {
                match r {
                    Ok(Ok(_)) => ok += 1,
                    Ok(Err((e, _))) => failed.push((i, e.to_string())),
                    Err(_) => failed.push((i, "the producer was dropped".into())),
                }
            }
            ok
        }
        Err(_) => {
            failed.extend(
                index
                    .into_iter()
                    .map(|i| (i, "no delivery report in time".into())),
            );
            0
        }
    }
}
