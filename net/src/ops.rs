//! The operations endpoint: Prometheus `/metrics`, `/healthz` (the process serves) and
//! `/readyz` (the first discovery pass succeeded, so RDS and the configuration work).
//!
//! Probes must be answered whatever else connects: a kubelet that cannot reach `/healthz`
//! restarts the pod. So a connection has [`HEADER_READ_TIMEOUT`] to send its request headers
//! and [`CONNECTION_TIMEOUT`] to live, one peer address holds at most
//! [`MAX_CONNECTIONS_PER_PEER`] of the [`MAX_CONNECTIONS`] slots, and a connection past either
//! bound is closed at once. Idle or trickling clients thus free their slot within seconds, and
//! one pod cannot take them all.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 64;
/// Connections one peer address may hold at once.
pub const MAX_CONNECTIONS_PER_PEER: usize = 8;
/// Time a connection has to send its request headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest life of one connection.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// The connections each peer address holds; a [`Slot`] gives its place back when dropped.
#[derive(Debug, Default)]
struct Peers(Mutex<HashMap<IpAddr, usize>>);

#[derive(Debug)]
struct Slot {
    peers: Arc<Peers>,
    ip: IpAddr,
}

impl Peers {
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = held.entry(ip).or_insert(0);
        if *n >= MAX_CONNECTIONS_PER_PEER {
            return None;
        }
        *n += 1;
        Some(Slot {
            peers: Arc::clone(self),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.peers.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = held.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.ip);
            }
        }
    }
}

/// The process's metrics recorder could not be installed (one was installed already).
#[derive(Debug, thiserror::Error)]
#[error("installing the metrics recorder failed: {0}")]
pub struct RecorderError(#[from] metrics_exporter_prometheus::BuildError);

/// Install the Prometheus recorder for the process. The caller then describes every metric,
/// each crate's once.
pub fn install_metrics() -> Result<PrometheusHandle, RecorderError> {
    Ok(prometheus_builder()?.install_recorder()?)
}

/// Bucket bounds (seconds) of every histogram: every one of ours is a duration, from a fast
/// DynamoDB call to a slow RDS download.
pub const HISTOGRAM_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// The exporter as the process uses it: histograms as Prometheus histograms with
/// [`HISTOGRAM_BUCKETS`] (summed across pods by `histogram_quantile`), not summaries, whose
/// quantiles cannot be aggregated.
pub fn prometheus_builder(
) -> Result<metrics_exporter_prometheus::PrometheusBuilder, metrics_exporter_prometheus::BuildError>
{
    metrics_exporter_prometheus::PrometheusBuilder::new().set_buckets(&HISTOGRAM_BUCKETS)
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
    let connections = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let peers = Arc::new(Peers::default());
    tokio::spawn(async move {
        loop {
            let conn = tokio::select! {
                c = listener.accept() => c,
                _ = shutdown.wait_for(|s| *s) => break,
            };
            let Ok((stream, peer)) = conn else { continue };
            // Past a bound, a connection is closed at once rather than served.
            let Some(slot) = peers.admit(peer.ip()) else {
                continue;
            };
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
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), svc);
                // A scrape or probe takes milliseconds; an idle or slow client is cut off.
                let _ = tokio::time::timeout(CONNECTION_TIMEOUT, serve).await;
                drop(permit);
                drop(slot);
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
            .unwrap_or_else(|e| panic!("GET {path} was not answered: {e}"));
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[test]
    fn histograms_are_exported_with_buckets_not_as_summaries() {
        let recorder = prometheus_builder().unwrap().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            metrics::histogram!("aurora_logs_test_duration_seconds", "op" => "x").record(0.3);
        });
        let text = handle.render();
        assert!(
            text.contains(r#"aurora_logs_test_duration_seconds_bucket{op="x",le="0.5"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"aurora_logs_test_duration_seconds_bucket{op="x",le="0.25"} 0"#));
        assert!(!text.contains("quantile="), "{text}");
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

    /// A connection from `ip` (any 127.x address is this host) to `addr`.
    async fn connect_from(ip: [u8; 4], addr: SocketAddr) -> tokio::net::TcpStream {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::from((ip, 0))).unwrap();
        socket.connect(addr).await.unwrap()
    }

    /// Waits until the server closes `stream` (EOF or reset); false if it is still open after
    /// `within`.
    async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> bool {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 256];
        let until = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(until, stream.read(&mut buf)).await {
                Err(_) => return false,
                Ok(Ok(0) | Err(_)) => return true,
                Ok(Ok(_)) => continue,
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idle_and_trickling_connections_cannot_starve_the_probes() {
        use tokio::io::AsyncWriteExt;
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let (_ready_tx, ready) = watch::channel(true);
        let (stop_tx, stop) = watch::channel(false);
        let addr = serve(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            recorder.handle(),
            ready,
            stop,
        )
        .await
        .unwrap();
        // One peer opens more connections than the whole bound and sends nothing: probes from
        // elsewhere are still answered, as its connections past its share are closed at once.
        let flood = MAX_CONNECTIONS + 16;
        let mut idle = Vec::new();
        for _ in 0..flood {
            idle.push(connect_from([127, 0, 0, 2], addr).await);
        }
        for _ in 0..3 {
            assert_eq!(get(addr, "/healthz").await.0, 200);
        }
        let mut closed = 0;
        for s in &mut idle {
            if closed_within(s, Duration::from_millis(50)).await {
                closed += 1;
            }
        }
        assert!(
            closed >= flood - MAX_CONNECTIONS_PER_PEER,
            "{closed} of {flood} closed"
        );
        // A client that trickles its request headers, a byte at a time, is cut off at the
        // header timeout, long before the connection's life would end.
        let mut slow = connect_from([127, 0, 1, 1], addr).await;
        let (mut slow_read, mut slow_write) = slow.split();
        let trickle = async {
            let header =
                b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: abcdefghijklmnopqrstuvwxyz\r\n";
            for b in header.iter().cycle() {
                if slow_write.write_all(&[*b]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        let limit = HEADER_READ_TIMEOUT + Duration::from_secs(3);
        assert!(limit < CONNECTION_TIMEOUT);
        let cut = tokio::select! {
            _ = trickle => true,
            closed = async {
                use tokio::io::AsyncReadExt;
                let mut buf = [0u8; 64];
                tokio::time::timeout(limit, slow_read.read(&mut buf)).await.is_ok()
            } => closed,
        };
        assert!(cut, "a trickling client outlived the header timeout");
        // Many peers fill every slot with idle connections: within the header timeout the
        // slots are free again and a probe is answered.
        let mut crowd = Vec::new();
        for peer in 0..(MAX_CONNECTIONS / MAX_CONNECTIONS_PER_PEER) {
            for _ in 0..MAX_CONNECTIONS_PER_PEER {
                crowd.push(connect_from([127, 0, 2, peer as u8], addr).await);
            }
        }
        for s in &mut crowd {
            assert!(
                closed_within(s, limit).await,
                "an idle connection outlived the header timeout"
            );
        }
        assert_eq!(get(addr, "/healthz").await.0, 200);
        drop(idle);
        stop_tx.send(true).unwrap();
    }
}
