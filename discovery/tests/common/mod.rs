//! The world of discovery's tests: the RDS simulator, local checkpoints in a tempdir, a
//! recording job sink, scripted leaders, and Redis key prefixes of their own.
#![allow(dead_code)]

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use contract::file::classify;
use contract::kind_of as job_kind;
use contract::Job;
use discovery::{Discovery, DiscoveryConfig, JobSink, Leader};
use net::http_client;
use net::redis::RedisConfig;
use rds::{RdsConfig, RdsSource};
use simulator::rds::{RdsSimulator, SimConfig};
use simulator::services::{require, unique_name, Service};
use state::{Checkpoint, CheckpointStore, FileKey, LocalCheckpoints};

#[allow(unused_imports)]
pub use simulator::kit::hour_start_plus_20_min;

/// A MySQL and a PostgreSQL cluster with 90 minutes of history (rotated files included).
pub fn two_clusters() -> SimConfig {
    simulator::kit::two_clusters(0.5)
}

pub struct World {
    pub rds: RdsSimulator,
    pub state: tempfile::TempDir,
    pub checkpoints: Arc<LocalCheckpoints>,
}

impl World {
    pub async fn start(sim: SimConfig) -> World {
        let state = tempfile::tempdir().unwrap();
        World {
            rds: RdsSimulator::start(sim).await.expect("rds simulator"),
            checkpoints: Arc::new(LocalCheckpoints::open(state.path()).unwrap()),
            state,
        }
    }

    pub fn rds_config(&self) -> RdsConfig {
        let (ak, sk) = self.rds.credentials();
        RdsConfig {
            region: self.rds.region().to_string(),
            endpoint_url: self.rds.endpoint_url(),
            access_key_id: ak.to_string(),
            secret_access_key: sk.into(),
            calls_per_second: 10_000,
            burst: 10_000,
            ..Default::default()
        }
    }

    pub async fn source(&self, config: RdsConfig) -> Arc<RdsSource> {
        Arc::new(RdsSource::new(config, http_client()).await.unwrap())
    }

    pub async fn discovery(
        &self,
        config: DiscoveryConfig,
        leader: Arc<dyn Leader>,
        sink: Arc<RecordingSink>,
    ) -> Discovery {
        self.discovery_over(self.rds_config(), config, leader, sink)
            .await
    }

    /// [`World::discovery`] over an RDS source of its own configuration.
    pub async fn discovery_over(
        &self,
        rds: RdsConfig,
        config: DiscoveryConfig,
        leader: Arc<dyn Leader>,
        sink: Arc<RecordingSink>,
    ) -> Discovery {
        Discovery::new(
            config,
            self.source(rds).await,
            self.checkpoints.clone(),
            leader,
            sink,
        )
        .unwrap()
    }

    /// `(instance, lasting name, size, finished)` of every file the simulator has now that a
    /// checkpoint-less discovery must publish, by the data plane's own classification.
    pub fn expected_jobs(&self) -> BTreeSet<(String, String, u64, bool)> {
        let mut out = BTreeSet::new();
        for instance in self.rds.instance_ids() {
            let files = self.rds.files(&instance).unwrap();
            let listing = files
                .iter()
                .map(|f| (f.name.clone(), f.last_written_ms, f.size));
            for (_, fam) in classify(listing) {
                for f in fam {
                    if Checkpoint::needs_work(None, f.size, f.finished)
                        && job_kind(&f.canonical).is_some()
                    {
                        out.insert((instance.clone(), f.canonical, f.size, f.finished));
                    }
                }
            }
        }
        out
    }

    /// Mark a file shipped to its end (done when finished).
    pub async fn mark_shipped(&self, instance: &str, lasting: &str, size: u64, finished: bool) {
        let key = FileKey {
            instance_id: instance.into(),
            log_file: lasting.into(),
        };
        let cp = Checkpoint {
            offset: size,
            done: finished,
            size_seen: size,
            ..Default::default()
        };
        self.checkpoints.commit(&key, &cp).await.unwrap();
    }
}

/// What the jobs say, for comparing with [`World::expected_jobs`].
pub fn job_set(jobs: &[Job]) -> BTreeSet<(String, String, u64, bool)> {
    jobs.iter()
        .map(|j| {
            (
                j.instance_id.clone(),
                j.lasting_name.clone(),
                j.size,
                j.finished,
            )
        })
        .collect()
}

/// A sink that records every job, and can be told to fail.
#[derive(Default)]
pub struct RecordingSink {
    pub jobs: Mutex<Vec<Job>>,
    pub fail: AtomicBool,
    pub calls: AtomicUsize,
}

impl RecordingSink {
    pub fn take(&self) -> Vec<Job> {
        std::mem::take(&mut *self.jobs.lock().unwrap())
    }
}

#[async_trait::async_trait]
impl JobSink for RecordingSink {
    async fn publish(&self, jobs: &[Job]) -> Result<usize, queue::QueueError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if self.fail.load(Ordering::Relaxed) {
            return Err(queue::QueueError::Undelivered {
                failed: jobs.len(),
                total: jobs.len(),
                first_error: "broker unavailable (test)".into(),
            });
        }
        self.jobs.lock().unwrap().extend_from_slice(jobs);
        Ok(jobs.len())
    }
}

/// A leader that answers from a script, then `then` for ever; counts its calls.
pub struct ScriptedLeader {
    script: Mutex<VecDeque<Option<u64>>>,
    then: Option<u64>,
    pub calls: AtomicUsize,
}

impl ScriptedLeader {
    pub fn new(script: &[Option<u64>], then: Option<u64>) -> Arc<ScriptedLeader> {
        Arc::new(ScriptedLeader {
            script: Mutex::new(script.iter().copied().collect()),
            then,
            calls: AtomicUsize::new(0),
        })
    }
}

#[async_trait::async_trait]
impl Leader for ScriptedLeader {
    async fn lead(&self) -> Result<Option<u64>, state::CheckpointError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(self.script.lock().unwrap().pop_front().unwrap_or(self.then))
    }
}

/// A Redis config with a key prefix of its own, or `None` (skipped) without Redis.
pub fn redis_config(test: &str) -> Option<RedisConfig> {
    let url = require(Service::Redis, test)?;
    Some(RedisConfig {
        url,
        key_prefix: format!("{}:", unique_name("aurora-test")),
        op_timeout: Duration::from_millis(500),
        ..Default::default()
    })
}

/// Delete every key under the prefix of `config`.
pub async fn cleanup(config: &RedisConfig) {
    let client = redis::Client::open(config.url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", config.key_prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: u64 = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}

/// A discovery config for tests: no cache unless `redis` is given.
pub fn config(redis: Option<RedisConfig>) -> DiscoveryConfig {
    DiscoveryConfig {
        poll_interval: Duration::from_millis(100),
        redis: redis.unwrap_or(RedisConfig {
            url: String::new(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// An address where something accepts connections and never answers (a hung Redis).
pub async fn silent_server() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    (format!("redis://{addr}"), task)
}

/// An address where nothing listens.
pub fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("redis://{addr}")
}
