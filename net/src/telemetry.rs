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

/// Always 1, labelled with what runs: `version`, `arch` (the CPU architecture it was built
/// for) and `mode` (`run`, `discovery`, `processor`). A fleet's rollout shows in its labels.
pub const BUILD_INFO: &str = "aurora_logs_build_info";

/// Describe this module's metrics to the recorder.
pub fn describe() {
    metrics::describe_gauge!(
        IN_FLIGHT_BYTES,
        metrics::Unit::Bytes,
        "bytes held per pipeline stage"
    );
    metrics::describe_gauge!(
        BUILD_INFO,
        "1, labelled with the running build: version, arch and mode"
    );
}

/// Set [`BUILD_INFO`] for this process.
pub fn record_build_info(version: &'static str, mode: &'static str) {
    gauge!(BUILD_INFO, "version" => version, "arch" => std::env::consts::ARCH, "mode" => mode)
        .set(1.0);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_info_names_version_architecture_and_mode() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            describe();
            record_build_info("1.2.3", "processor");
        });
        let text = handle.render();
        let line = format!(
            "aurora_logs_build_info{{version=\"1.2.3\",arch=\"{}\",mode=\"processor\"}} 1",
            std::env::consts::ARCH
        );
        assert!(text.lines().any(|l| l == line), "{text}");
    }
}
