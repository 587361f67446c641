//! The outside world for aurora-logs' tests, benches and demo.
//!
//! # Brief overview
//! - [`generator`]: deterministic Aurora-like log streams of every kind (MySQL slow, error,
//!   general, audit; PostgreSQL with the RDS prefix), counted so that tests can tell whether every
//!   entry arrived.
//! - [`instance`]: one instance's log files as RDS lists them — Aurora's names, hourly rotation,
//!   retention — under a clock the caller moves.
//! - [`openobserve`]: an HTTP stand-in for OpenObserve's ingestion API (auth, encodings, limits,
//!   per-record failures, injectable faults) that keeps every record it accepts.
//! - [`rds`]: an RDS API simulator over simulated Aurora clusters — the Query API and the REST
//!   complete-file download as the real SDK speaks them, with RDS's faults switchable at runtime.
//! - [`services`]: the real services of the tests (Kafka, DynamoDB Local, Redis), or a skip.
//! - [`kit`]: the simulated world as tests, benches and the demo set it up.
//! - [`tls`]: a private CA and server certificate (by `openssl`).
//! - [`proxy`]: a TCP proxy, plain or ending TLS, in front of any plain server of the tests, that
//!   a test can interrupt (port and connections closed) and resume on the same port.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod clock;
pub mod generator;
pub mod instance;
pub mod kit;
pub mod openobserve;
pub mod proxy;
pub mod rds;
pub mod services;
pub mod tls;
mod util;

pub use generator::{LogGenerator, LogKind};
pub use instance::{Engine, InstanceLogs, LogFile};
