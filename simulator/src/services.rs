//! The real services of the tests (Kafka protocol, DynamoDB Local, Redis), found through the
//! variables `scripts/services.sh` prints.
//!
//! A test asks for a service and gets its address, or `None` with a notice on stderr when it is
//! not there (someone running `cargo test` without `scripts/services.sh`); under `CI=true` a
//! missing service fails the test instead, so CI never passes by skipping.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// A service the tests talk to.
#[derive(Clone, Copy, Debug)]
pub enum Service {
    /// A Kafka-protocol broker (tansu): `host:port`.
    Kafka,
    /// DynamoDB Local: `http://host:port`.
    DynamoDb,
    /// Redis: `redis://host:port`.
    Redis,
}

impl Service {
    fn var(self) -> &'static str {
        match self {
            Service::Kafka => "AURORA_TEST_KAFKA",
            Service::DynamoDb => "AURORA_TEST_DYNAMODB",
            Service::Redis => "AURORA_TEST_REDIS",
        }
    }

    fn default_address(self) -> &'static str {
        match self {
            Service::Kafka => "127.0.0.1:9092",
            Service::DynamoDb => "http://127.0.0.1:8000",
            Service::Redis => "redis://127.0.0.1:6379",
        }
    }
}

/// `host:port` of an address like `http://127.0.0.1:8000` or `127.0.0.1:9092`.
fn host_port(address: &str) -> &str {
    let rest = address.split_once("://").map_or(address, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

/// Whether something accepts TCP connections at `address` (within a second).
pub fn answers(address: &str) -> bool {
    host_port(address)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok())
}

/// The address of `service`, or `None` (after a notice) when it does not answer; panics under
/// `CI=true`, where every service must be up.
pub fn require(service: Service, test: &str) -> Option<String> {
    let address =
        std::env::var(service.var()).unwrap_or_else(|_| service.default_address().to_string());
    if answers(&address) {
        return Some(address);
    }
    let msg = format!(
        "{test}: {service:?} does not answer at {address} (set {} or run scripts/services.sh)",
        service.var()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}; CI=true needs every service");
    }
    eprintln!("SKIPPED {msg}");
    None
}

/// A free TCP port on 127.0.0.1 (bound, then released), for a private server of a test.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding a free port on 127.0.0.1")
}

/// Wait until `what` listens on 127.0.0.1:`port`; panics after 30 s.
pub fn wait_port(port: u16, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not listen on {port} in 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A name no other test run uses: `{prefix}-{pid}-{n}-{nanos}` (topics, tables, key prefixes).
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_reduce_to_host_and_port() {
        assert_eq!(host_port("http://127.0.0.1:8000"), "127.0.0.1:8000");
        assert_eq!(host_port("redis://127.0.0.1:6379/0"), "127.0.0.1:6379");
        assert_eq!(host_port("127.0.0.1:9092"), "127.0.0.1:9092");
        assert!(!answers("127.0.0.1:1"));
        let a = unique_name("t");
        assert_ne!(a, unique_name("t"));
        assert!(a.starts_with("t-"));
    }
}
