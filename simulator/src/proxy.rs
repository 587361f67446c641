//! A TCP proxy in front of any plain server of the tests (the OpenObserve stand-in, a `_bulk`
//! receiver, a broker), in plain TCP or ending TLS, that a test can take down and bring back on
//! the same port: [`Proxy::interrupt`] closes the port and every open connection, as a server
//! that went away does, while the server behind it keeps its state, as a restarted broker with
//! durable storage does; [`Proxy::resume`] listens again.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::tls::TestPki;

/// A proxy on a local port to `upstream`, ending TLS there when made by [`Proxy::tls`].
/// Stops (port and connections) when dropped.
pub struct Proxy {
    /// Where clients connect, the same over an interruption.
    pub addr: SocketAddr,
    upstream: SocketAddr,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    running: Option<Running>,
}

/// A listening proxy: its accept loop, and the signal that ends it and every connection.
struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Plain TCP to `upstream`.
    pub async fn plain(upstream: SocketAddr) -> std::io::Result<Proxy> {
        Proxy::start(None, upstream).await
    }

    /// End TLS with `pki`'s server certificate in front of `upstream`.
    pub async fn tls(pki: &TestPki, upstream: SocketAddr) -> std::io::Result<Proxy> {
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(pki.server_config()?));
        Proxy::start(Some(acceptor), upstream).await
    }

    async fn start(
        acceptor: Option<tokio_rustls::TlsAcceptor>,
        upstream: SocketAddr,
    ) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let mut proxy = Proxy {
            addr: listener.local_addr()?,
            upstream,
            acceptor,
            running: None,
        };
        proxy.serve(listener);
        Ok(proxy)
    }

    /// Close the port and every open connection; the server behind is untouched. Returns once
    /// the port is closed. Nothing to do when already interrupted.
    pub async fn interrupt(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.stop.send(true);
            let _ = running.task.await;
        }
    }

    /// Listen again on the same port after [`Proxy::interrupt`]. Nothing to do when listening.
    pub async fn resume(&mut self) -> std::io::Result<()> {
        if self.running.is_none() {
            let listener = TcpListener::bind(self.addr).await?;
            self.serve(listener);
        }
        Ok(())
    }

    fn serve(&mut self, listener: TcpListener) {
        let (stop, mut stopped) = watch::channel(false);
        let (acceptor, upstream) = (self.acceptor.clone(), self.upstream);
        let conn_stop = stop.subscribe();
        let task = tokio::spawn(async move {
            loop {
                let tcp = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((tcp, _)) => tcp,
                        Err(_) => continue,
                    },
                    _ = stopped.changed() => return,
                };
                let mut conn_stop = conn_stop.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = forward(acceptor, tcp, upstream) => {}
                        _ = conn_stop.changed() => {}
                    }
                });
            }
        });
        self.running = Some(Running { stop, task });
    }
}

/// One connection: its TLS ended if there is an acceptor, its bytes copied both ways.
async fn forward(
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    tcp: TcpStream,
    upstream: SocketAddr,
) {
    let Ok(mut plain) = TcpStream::connect(upstream).await else {
        return;
    };
    match acceptor {
        Some(acceptor) => {
            // A client that refuses our certificate ends its handshake here: nothing to do.
            if let Ok(mut tls) = acceptor.accept(tcp).await {
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            }
        }
        None => {
            let mut tcp = tcp;
            let _ = tokio::io::copy_bidirectional(&mut tcp, &mut plain).await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.stop.send(true);
            running.task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An echo server: what it reads it writes back.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn roundtrip(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<Vec<u8>> {
        s.write_all(msg).await?;
        let mut got = vec![0; msg.len()];
        s.read_exact(&mut got).await?;
        Ok(got)
    }

    #[tokio::test]
    async fn an_interruption_closes_port_and_connections_and_resume_reopens_the_same_port() {
        let mut proxy = Proxy::plain(echo().await).await.unwrap();
        let mut conn = TcpStream::connect(proxy.addr).await.unwrap();
        assert_eq!(roundtrip(&mut conn, b"one").await.unwrap(), b"one");

        proxy.interrupt().await;
        // The open connection is closed: its next read ends (EOF or reset), never hangs.
        let mut buf = [0u8; 8];
        let read = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            let _ = conn.write_all(b"two").await;
            conn.read(&mut buf).await
        })
        .await
        .expect("the closed connection does not hang");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        // The port refuses new connections.
        assert!(TcpStream::connect(proxy.addr).await.is_err());
        proxy.interrupt().await; // twice is harmless

        proxy.resume().await.unwrap();
        let mut again = TcpStream::connect(proxy.addr).await.unwrap();
        assert_eq!(roundtrip(&mut again, b"three").await.unwrap(), b"three");
        proxy.resume().await.unwrap(); // twice is harmless
    }
}
