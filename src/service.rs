//! `aurora-logs run`: wires the standalone scheduler, the ops endpoint and signal handling.

use std::sync::Arc;

use anyhow::{Context, Result};
use dataplane::pipeline::ShipContext;
use dataplane::standalone::Scheduler;
use metrics_exporter_prometheus::PrometheusHandle;
use net::{http_client, HttpClient};
use rds::RdsSource;
use sink::OpenObserveSink;
use state::{CheckpointStore, LocalCheckpoints};
use tokio::sync::watch;

use crate::config::{Config, LogStyle};

/// Set up tracing as configured (`RUST_LOG` wins over `log_level`).
pub fn init_logging(style: LogStyle, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match style {
        LogStyle::Json => builder.json().flatten_event(true).try_init(),
        LogStyle::Text => builder.try_init(),
    };
}

/// The shipping context of `aurora-logs run`: local checkpoints under the state directory.
pub async fn ship_context(config: &Config) -> Result<Arc<ShipContext>> {
    let http = http_client();
    let source = RdsSource::new(config.rds.clone(), http.clone())
        .await
        .context("setting up the RDS client")?;
    let checkpoints = LocalCheckpoints::open(&config.state_dir)
        .with_context(|| format!("opening checkpoints under {}", config.state_dir.display()))?;
    ship_context_with(config, source, Arc::new(checkpoints), http)
}

/// The shipping context for `config` over `source` and `checkpoints`; the sink keeps its
/// dead-letter file under the state directory.
pub fn ship_context_with(
    config: &Config,
    source: RdsSource,
    checkpoints: Arc<dyn CheckpointStore>,
    http: HttpClient,
) -> Result<Arc<ShipContext>> {
    let sink = OpenObserveSink::new(config.openobserve.clone(), &config.state_dir, http)?;
    Ok(Arc::new(ShipContext {
        source: Arc::new(source),
        sink: Arc::new(sink),
        checkpoints,
        pipeline: config.pipeline.clone(),
        streams: config.streams.clone(),
        tags: config
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        totals: Default::default(),
    }))
}

/// Install the process's Prometheus recorder and describe every metric of every crate, each
/// once (a crate names and describes its own metrics in its `telemetry` module), and set
/// `aurora_logs_build_info` for this `mode`.
pub fn install_metrics(mode: &'static str) -> Result<PrometheusHandle> {
    let handle = net::ops::install_metrics()?;
    crate::metrics_names::describe_all();
    net::telemetry::record_build_info(env!("CARGO_PKG_VERSION"), mode);
    Ok(handle)
}

/// A watch that turns true on SIGTERM or Ctrl-C.
pub fn shutdown_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("installing the SIGTERM handler");
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown requested");
        let _ = tx.send(true);
    });
    rx
}

/// Run until SIGTERM.
pub async fn run(config: Config) -> Result<()> {
    init_logging(config.log_format, &config.log_level);
    let metrics = install_metrics("run")?;
    let ctx = ship_context(&config).await?;
    let scheduler = Scheduler::new(ctx, config.scheduler.clone());
    let shutdown = shutdown_signal();
    let addr = net::ops::serve(config.listen, metrics, scheduler.ready(), shutdown.clone())
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    tracing::info!(%addr, state_dir = %config.state_dir.display(), "aurora-logs run: serving /metrics, /healthz, /readyz");
    scheduler.run(shutdown).await;
    let p = scheduler.progress();
    tracing::info!(
        records = p.records,
        dead_lettered = p.dead_lettered,
        bytes = p.bytes,
        "stopped"
    );
    Ok(())
}
