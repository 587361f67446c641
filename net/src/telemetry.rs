//! How the crates of aurora-logs report what happens: one type per observable event that logs
//! and counts in one place ([`InternalEvent`], as Vector's internal events do), and the bytes
//! each pipeline stage holds ([`InFlight`]). Each crate names its metrics in its own
//! `telemetry` module and describes them there, once; the binary calls every `describe`.

use metrics::gauge;

/// Something that happened, to log and count: its `emit` is the one place that does both.
pub trait InternalEvent {
    /// Log and count the event.
    fn emit(self);
}

/// Bytes held per pipeline stage: `download` (downloaded, not yet parsed), `send` (request
/// bodies on the wire).
pub const IN_FLIGHT_BYTES: &str = "aurora_logs_in_flight_bytes";

/// Describe this module's metric to the recorder.
pub fn describe() {
    metrics::describe_gauge!(
        IN_FLIGHT_BYTES,
        metrics::Unit::Bytes,
        "bytes held per pipeline stage"
    );
}

/// Bytes held by one pipeline stage, as a gauge that follows its own lifetime.
#[derive(Debug)]
pub struct InFlight {
    stage: &'static str,
    bytes: f64,
}

impl InFlight {
    /// Count `bytes` as held by `stage` until this is dropped.
    pub fn new(stage: &'static str, bytes: usize) -> InFlight {
        let bytes = bytes as f64;
        gauge!(IN_FLIGHT_BYTES, "stage" => stage).increment(bytes);
        InFlight { stage, bytes }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        gauge!(IN_FLIGHT_BYTES, "stage" => self.stage).decrement(self.bytes);
    }
}
