//! The operations endpoint: Prometheus `/metrics`, `/healthz` (the process serves) and
//! `/readyz` (the first discovery pass succeeded, so RDS and the configuration work).

use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Connections served at once.
const MAX_CONNECTIONS: usize = 64;
/// Longest life of one connection.
const CONNECTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The process's metrics recorder could not be installed (one was installed already).
#[derive(Debug, thiserror::Error)]
#[error("installing the metrics recorder failed: {0}")]
pub struct RecorderError(#[from] metrics_exporter_prometheus::BuildError);

/// Install the Prometheus recorder for the process. The caller then describes every metric,
/// each crate's once.
pub fn install_metrics() -> Result<PrometheusHandle, RecorderError> {
    Ok(metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?)
}

/// Serve the endpoints on `addr` until `shutdown` turns true. Returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    metrics: PrometheusHandle,
    ready: watch::Receiver<bool>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let connections = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let conn = tokio::select! {
                c = listener.accept() => c,
                _ = shutdown.wait_for(|s| *s) => break,
            };
            let Ok((stream, _)) = conn else { continue };
            // Past the bound, a connection is closed at once rather than served.
            let Ok(permit) = connections.clone().try_acquire_owned() else {
                continue;
            };
            let metrics = metrics.clone();
            let ready = ready.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let (status, body) = match req.uri().path() {
                        "/metrics" => (StatusCode::OK, metrics.render()),
                        "/healthz" => (StatusCode::OK, "ok\n".to_string()),
                        "/readyz" if *ready.borrow() => (StatusCode::OK, "ready\n".to_string()),
                        "/readyz" => (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "not ready: no discovery pass yet\n".to_string(),
                        ),
                        _ => (StatusCode::NOT_FOUND, "not found\n".to_string()),
                    };
                    let resp = Response::builder()
                        .status(status)
                        .header("content-type", "text/plain; version=0.0.4")
                        .body(Full::new(Bytes::from(body)))
                        .expect("a response from valid parts");
                    async move { Ok::<_, std::convert::Infallible>(resp) }
                });
                let serve = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc);
                // A scrape or probe takes milliseconds; an idle or slow client is cut off.
                let _ = tokio::time::timeout(CONNECTION_TIMEOUT, serve).await;
                drop(permit);
            });
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Empty};

    async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Empty<Bytes>>();
        let resp = client
            .get(format!("http://{addr}{path}").parse().unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn health_readiness_and_metrics() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("aurora_logs_checkpoints_total").increment(3);
        });
        let (ready_tx, ready) = watch::channel(false);
        let (stop_tx, stop) = watch::channel(false);
        let addr = serve(SocketAddr::from(([127, 0, 0, 1], 0)), handle, ready, stop)
            .await
            .unwrap();
        assert_eq!(get(addr, "/healthz").await.0, 200);
        assert_eq!(get(addr, "/readyz").await.0, 503);
        ready_tx.send(true).unwrap();
        assert_eq!(get(addr, "/readyz").await.0, 200);
        let (status, body) = get(addr, "/metrics").await;
        assert_eq!(status, 200);
        assert!(body.contains("aurora_logs_checkpoints_total 3"), "{body}");
        assert_eq!(get(addr, "/nope").await.0, 404);
        stop_tx.send(true).unwrap();
    }
}
