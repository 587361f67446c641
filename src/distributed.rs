//! `aurora-logs discovery` and `aurora-logs processor`: the distributed deployment, wired from
//! the configuration (Kafka, DynamoDB, Redis sections).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use discovery::{Discovery, DynamoLeader, LeaderLease};
use queue::{ensure_topics, JobProducer, KafkaAuth, Processor};
use rds::budget::RedisBudget;
use rds::RdsSource;
use state::{CheckpointStore, DynamoCheckpoints};
use tokio::sync::watch;

use crate::config::Config;
use crate::service::{init_logging, install_metrics, ship_context_with, shutdown_signal};

/// A name for this process among its peers: the pod name (`HOSTNAME` on Kubernetes), the pid
/// and a random suffix, so that a restarted pod never shares a lease owner with its old self.
fn owner_name(role: &str) -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "localhost".into());
    format!(
        "{role}@{host}/{}/{:08x}",
        std::process::id(),
        fastrand::u32(..)
    )
}

/// The RDS source of a distributed process: its own limiter plus the budget shared in Redis.
async fn rds_source(config: &Config, http: net::HttpClient) -> Result<RdsSource> {
    let source = RdsSource::new(config.rds.clone(), http)
        .await
        .context("setting up the RDS client")?;
    if config.redis.url.is_empty() {
        return Ok(source);
    }
    let budget = RedisBudget::new(config.redis.clone(), config.rds_budget.clone())
        .context("setting up the shared RDS budget ([redis], [rds_budget])")?;
    budget
        .check()
        .await
        .context("connecting to Redis ([redis])")?;
    Ok(source.with_budget(Arc::new(budget)))
}

/// Serve `/metrics`, `/healthz` and `/readyz` until shutdown.
macro_rules! serve_ops {
    ($config:expr, $metrics:expr, $ready:expr, $shutdown:expr) => {{
        let addr = net::ops::serve($config.listen, $metrics, $ready, $shutdown)
            .await
            .with_context(|| format!("listening on {}", $config.listen))?;
        tracing::info!(%addr, "serving /metrics, /healthz, /readyz");
    }};
}

/// `aurora-logs discovery`: lead (or wait to), list, publish jobs, until SIGTERM.
pub async fn run_discovery(config: Config) -> Result<()> {
    init_logging(config.log_format, &config.log_level);
    let metrics = install_metrics("discovery")?;
    let owner = owner_name("discovery");
    let http = net::http_client();
    let source = rds_source(&config, http).await?;
    let state = DynamoCheckpoints::new(config.dynamodb.clone(), owner.clone())
        .await
        .context("setting up DynamoDB ([dynamodb])")?;
    let lease = LeaderLease::new(config.dynamodb.clone(), owner.clone())
        .await
        .context("setting up the leader lease ([dynamodb])")?;
    // Topics are usually made by the deployment; creating missing ones here keeps a fresh
    // cluster working. A broker that refuses (ACLs) is only a warning: publishing tells.
    match ensure_topics(&config.kafka).await {
        Ok(created) => tracing::info!(?created, "kafka topics checked"),
        Err(e) => tracing::warn!(error = %e, "could not check or create the Kafka topics"),
    }
    let auth = KafkaAuth::from_config(&config.kafka)
        .await
        .context("setting up Kafka authentication ([kafka] msk_iam)")?;
    let producer =
        JobProducer::new(&config.kafka, &auth).context("setting up the Kafka producer")?;
    let shutdown = shutdown_signal();
    let leader = Arc::new(DynamoLeader::start(
        lease,
        config.dynamodb.lease_ttl,
        shutdown.clone(),
    ));
    let mut discovery_config = config.discovery.clone();
    discovery_config.redis = config.redis.clone();
    let discovery = Discovery::new(
        discovery_config,
        Arc::new(source),
        Arc::new(state),
        leader.clone(),
        Arc::new(producer),
    )
    .context("setting up discovery")?;
    serve_ops!(config, metrics, discovery.ready(), shutdown.clone());
    tracing::info!(%owner, "aurora-logs discovery running");
    discovery.run(shutdown).await;
    if let Err(e) = leader.resign().await {
        tracing::warn!(error = %e, "resigning the leader lease failed; another replica takes over when it expires");
    }
    tracing::info!("stopped");
    Ok(())
}

/// `aurora-logs processor`: consume jobs, ship files under leases, until SIGTERM.
pub async fn run_processor(config: Config) -> Result<()> {
    init_logging(config.log_format, &config.log_level);
    let metrics = install_metrics("processor")?;
    let owner = owner_name("processor");
    let http = net::http_client();
    let source = rds_source(&config, http.clone()).await?;
    let checkpoints: Arc<dyn CheckpointStore> = Arc::new(
        DynamoCheckpoints::new(config.dynamodb.clone(), owner.clone())
            .await
            .context("setting up DynamoDB ([dynamodb])")?,
    );
    let ctx = ship_context_with(&config, source, checkpoints, http)?;
    let runner = Arc::new(dataplane::jobs::ShipJobs::new(ctx));
    let auth = KafkaAuth::from_config(&config.kafka)
        .await
        .context("setting up Kafka authentication ([kafka] msk_iam)")?;
    let processor = Processor::new(&config.kafka, &auth, config.processor.clone(), runner)
        .context("setting up the Kafka consumer ([kafka])")?;

    // Fencing: the newest leader epoch, read from DynamoDB, so that jobs of a deposed leader
    // still in the queue are dropped even before a job of the new leader arrives.
    let fence = processor.fence();
    let lease = LeaderLease::new(config.dynamodb.clone(), owner.clone())
        .await
        .context("setting up the leader lease reader ([dynamodb])")?;
    let (ready_tx, ready) = watch::channel(false);
    let shutdown = shutdown_signal();
    {
        let mut stop = shutdown.clone();
        let every = (config.dynamodb.lease_ttl / 2).max(Duration::from_secs(1));
        tokio::spawn(async move {
            loop {
                match lease.newest_epoch().await {
                    Ok(e) => {
                        fence.observe(e);
                        let _ = ready_tx.send(true);
                    }
                    Err(e) => tracing::warn!(error = %e, "reading the leader epoch failed"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
        });
    }
    serve_ops!(config, metrics, ready, shutdown.clone());
    tracing::info!(%owner, "aurora-logs processor running");
    processor
        .run(shutdown)
        .await
        .context("the Kafka consumer failed")?;
    tracing::info!("stopped");
    Ok(())
}
