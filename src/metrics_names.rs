//! Every crate's metric descriptions, in one list: the binary calls it once its recorder is
//! installed, and tests/deploy.rs calls it to learn which metrics exist.

/// Describe every metric of every crate (each crate names and describes its own metrics in its
/// `telemetry` module).
pub fn describe_all() {
    net::telemetry::describe();
    net::redis::describe();
    state::telemetry::describe();
    queue::telemetry::describe();
    sink::telemetry::describe();
    dataplane::telemetry::describe();
    rds::budget::describe();
    rds::telemetry::describe();
    discovery::telemetry::describe();
}
