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

/// Install the Prometheus recorder for the process and describe every metric.
pub fn install_metrics() -> Result<PrometheusHandle, String> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| format!("installing the metrics recorder: {e}"))?;
    crate::telemetry::describe();
    Ok(handle)
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
    tokio::spawn(async move {
        loop {
            let conn = tokio::select! {
                c = listener.accept() => c,
                _ = shutdown.wait_for(|s| *s) => break,
            };
            let Ok((stream, _)) = conn else { continue };
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
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Ok(bound)
}
