//! The world of the end-to-end tests: the RDS simulator, the OpenObserve stand-in, and a
//! standalone scheduler between them; plus what every test asserts: by record_id, every entry
//! the simulator wrote arrived, and how many arrived twice.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use dataplane::pipeline::{PipelineConfig, ShipContext};
use dataplane::record::files_record_ids;
use dataplane::standalone::{Scheduler, SchedulerConfig};
use net::http_client;
use rds::{DownloadMode, RdsConfig, RdsSource};
use simulator::kit;
use simulator::openobserve::OpenObserveConfig as StandInConfig;
use simulator::rds::SimConfig;
use sink::StreamsConfig;
use sink::{Compression, OpenObserveConfig, OpenObserveSink};
use state::LocalCheckpoints;

#[allow(unused_imports)]
pub use simulator::kit::{hour_start_plus_20_min, two_clusters};

/// The kit's world, with what these tests build from it in the pipeline's own types.
pub struct World(pub kit::World);

impl std::ops::Deref for World {
    type Target = kit::World;
    fn deref(&self) -> &kit::World {
        &self.0
    }
}

impl World {
    pub async fn start(sim: SimConfig, standin: StandInConfig) -> World {
        World(kit::World::start(sim, standin).await.expect("simulators"))
    }

    pub fn rds_config(&self, download: DownloadMode) -> RdsConfig {
        let (ak, sk) = self.rds.credentials();
        RdsConfig {
            region: self.rds.region().to_string(),
            endpoint_url: self.rds.endpoint_url(),
            access_key_id: ak.to_string(),
            secret_access_key: sk.into(),
            download,
            calls_per_second: 10_000,
            burst: 10_000,
            ..Default::default()
        }
    }

    pub fn sink_config(&self) -> OpenObserveConfig {
        let c = self.oo.config();
        OpenObserveConfig {
            url: self.oo.url(),
            user: c.user.clone(),
            password: c.password.clone().into(),
            compression: Compression::Zstd,
            retry_initial: Duration::from_millis(5),
            retry_max_delay: Duration::from_millis(50),
            request_timeout: Duration::from_secs(60),
            ..Default::default()
        }
    }

    pub async fn scheduler(&self, rds: RdsConfig, pipeline: PipelineConfig) -> Scheduler {
        let config = SchedulerConfig {
            workers: 3,
            ..Default::default()
        };
        self.scheduler_with(rds, pipeline, config).await
    }

    pub async fn scheduler_with(
        &self,
        rds: RdsConfig,
        pipeline: PipelineConfig,
        config: SchedulerConfig,
    ) -> Scheduler {
        let http = http_client();
        let source = RdsSource::new(rds, http.clone()).await.expect("rds source");
        let sink = OpenObserveSink::new(self.sink_config(), self.state.path(), http).unwrap();
        let checkpoints = LocalCheckpoints::open(self.state.path()).unwrap();
        let ctx = ShipContext {
            source: Arc::new(source),
            sink: Arc::new(sink),
            checkpoints: Arc::new(checkpoints),
            pipeline,
            streams: StreamsConfig::default(),
            tags: vec![("team".into(), "dba".into())],
            totals: Default::default(),
        };
        Scheduler::new(Arc::new(ctx), config)
    }

    /// The record id of every entry in every file the simulator has now.
    pub fn expected_ids(&self) -> BTreeSet<String> {
        let files = self.rds.all_files();
        files_record_ids(
            files
                .iter()
                .map(|(i, f)| (i.as_str(), f.name.as_str(), f.last_written_ms, &f.data[..])),
        )
    }

    /// Assert every expected entry arrived; return how many arrived more than once.
    pub fn assert_all_arrived(&self) -> usize {
        self.0.assert_all_arrived(&self.expected_ids())
    }
}

impl World {
    /// Assert that no log entry arrived twice under any id: every (instance, file, offset)
    /// once, and no record of a later generation (no file started over in these worlds).
    /// Returns how many records were checked.
    pub fn assert_each_entry_once_by_offset(&self) -> usize {
        let mut seen: BTreeMap<(String, String, u64), usize> = BTreeMap::new();
        let mut generations = 0;
        for stream in self.oo.streams() {
            for r in self.oo.records(&stream) {
                let field = |k: &str| r.get(k).and_then(|v| v.as_str()).unwrap_or_default();
                let offset = r.get("log_offset").and_then(|v| v.as_u64());
                let offset = offset.unwrap_or_else(|| panic!("record without log_offset: {r:?}"));
                let key = (
                    field("instance_id").to_string(),
                    field("log_file").to_string(),
                    offset,
                );
                *seen.entry(key).or_default() += 1;
                if r.get("log_generation").is_some() {
                    generations += 1;
                }
            }
        }
        let twice: Vec<_> = seen.iter().filter(|(_, &n)| n > 1).take(5).collect();
        assert!(
            twice.is_empty(),
            "{} entries arrived more than once, e.g. {twice:?}",
            seen.values().filter(|&&n| n > 1).count()
        );
        assert_eq!(
            generations, 0,
            "records of a new generation without a restart"
        );
        seen.len()
    }
}

/// Run `s` (`Scheduler::run`, as `aurora-logs run` does) for `time`, then stop it.
pub async fn run_for(s: &Arc<Scheduler>, time: Duration) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn({
        let s = s.clone();
        async move { s.run(stopped).await }
    });
    tokio::time::sleep(time).await;
    stop.send(true).unwrap();
    task.await.unwrap();
}

/// Drain passes until one ships nothing new (bounded).
pub async fn drain(s: &Scheduler) {
    for _ in 0..20 {
        let before = s.progress();
        s.drain_once().await.expect("drain pass");
        let after = s.progress();
        if after.records == before.records && after.bytes == before.bytes {
            return;
        }
    }
    panic!("still shipping after 20 passes");
}
