//! What the benches that ship through the standalone scheduler share: a [`ShipContext`] over
//! the RDS simulator and a `_bulk` receiver on loopback, with local checkpoints.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use dataplane::pipeline::{PipelineConfig, ShipContext};
use net::http_client;
use rds::{DownloadMode, RdsConfig, RdsSource};
use simulator::rds::RdsSimulator;
use sink::{OpenObserveConfig, OpenObserveSink, StreamsConfig};
use state::LocalCheckpoints;

/// A context shipping from `rds` by `download`, at most `calls_per_second` RDS calls a second
/// (burst as large), to the receiver at `receiver` with `sink` settings (its URL is set here),
/// with checkpoints and dead letters under `state`.
pub async fn ship_context(
    rds: &RdsSimulator,
    download: DownloadMode,
    calls_per_second: u32,
    receiver: SocketAddr,
    sink: OpenObserveConfig,
    state: &Path,
) -> ShipContext {
    let (ak, sk) = rds.credentials();
    let http = http_client();
    let source = RdsSource::new(
        RdsConfig {
            region: rds.region().into(),
            endpoint_url: rds.endpoint_url(),
            access_key_id: ak.into(),
            secret_access_key: sk.into(),
            download,
            calls_per_second,
            burst: calls_per_second,
            ..Default::default()
        },
        http.clone(),
    )
    .await
    .unwrap();
    let sink = OpenObserveSink::new(
        OpenObserveConfig {
            url: format!("http://{receiver}"),
            ..sink
        },
        state,
        http,
    )
    .unwrap();
    ShipContext {
        source: Arc::new(source),
        sink: Arc::new(sink),
        checkpoints: Arc::new(LocalCheckpoints::open(state).unwrap()),
        pipeline: PipelineConfig::default(),
        streams: StreamsConfig::default(),
        tags: Vec::new(),
        totals: Default::default(),
    }
}
