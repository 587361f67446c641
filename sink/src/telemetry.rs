//! The metrics of the OpenObserve sink, named and described once. Records count as shipped only
//! after OpenObserve acknowledged them; bytes are counted before and after compression.

use metrics::{counter, describe_counter, describe_histogram, histogram, Unit};
use net::telemetry::InternalEvent;

/// Request body bytes before compression.
pub const BYTES_OUT_RAW: &str = "aurora_logs_sink_bytes_uncompressed_total";
/// Request body bytes after compression, by `encoding`.
pub const BYTES_OUT_COMPRESSED: &str = "aurora_logs_sink_bytes_compressed_total";
/// Records acknowledged by OpenObserve, by `stream`.
pub const RECORDS_SHIPPED: &str = "aurora_logs_records_shipped_total";
/// Records OpenObserve refused, by `stream` and `reason`; all went to the dead-letter file.
pub const RECORDS_FAILED: &str = "aurora_logs_records_failed_total";
/// Sink requests, by `status` (the HTTP status or `timeout`, `connect`).
pub const SINK_REQUESTS: &str = "aurora_logs_sink_requests_total";
/// How long OpenObserve took to answer a request (to its whole answer, or the timeout), by
/// `status` as [`SINK_REQUESTS`]: a histogram.
pub const SINK_REQUEST_SECONDS: &str = "aurora_logs_sink_request_duration_seconds";
/// Sink retries, by `reason`.
pub const SINK_RETRIES: &str = "aurora_logs_sink_retries_total";
/// Switches from zstd to gzip after a 415.
pub const COMPRESSION_FALLBACKS: &str = "aurora_logs_sink_compression_fallbacks_total";

/// Describe this crate's metrics to the recorder (once, after installing it).
pub fn describe() {
    describe_counter!(
        BYTES_OUT_RAW,
        Unit::Bytes,
        "request bytes before compression"
    );
    describe_counter!(
        BYTES_OUT_COMPRESSED,
        Unit::Bytes,
        "request bytes after compression"
    );
    describe_counter!(RECORDS_SHIPPED, "records acknowledged by OpenObserve");
    describe_counter!(
        RECORDS_FAILED,
        "records refused by OpenObserve (dead-lettered)"
    );
    describe_counter!(SINK_REQUESTS, "requests to OpenObserve by status");
    describe_histogram!(
        SINK_REQUEST_SECONDS,
        Unit::Seconds,
        "time OpenObserve took to answer a request, by status"
    );
    describe_counter!(SINK_RETRIES, "requests to OpenObserve retried, by reason");
    describe_counter!(
        COMPRESSION_FALLBACKS,
        "zstd refused with 415: fell back to gzip"
    );
}

/// One request to OpenObserve ended with `status` (the HTTP status, `timeout` or `connect`)
/// after `elapsed`: counted, and its time recorded.
pub(crate) fn request_ended(status: String, elapsed: std::time::Duration) {
    histogram!(SINK_REQUEST_SECONDS, "status" => status.clone()).record(elapsed.as_secs_f64());
    counter!(SINK_REQUESTS, "status" => status).increment(1);
}

/// OpenObserve refused a record for good: it went to the dead-letter file.
#[derive(Debug)]
pub struct RecordRefused<'a> {
    /// The stream.
    pub stream: &'a str,
    /// Why, as a label (`time_window`, `type_conflict`, `too_large`, …).
    pub reason: &'static str,
    /// What OpenObserve said.
    pub detail: &'a str,
}

impl InternalEvent for RecordRefused<'_> {
    fn emit(self) {
        tracing::warn!(
            stream = self.stream,
            reason = self.reason,
            detail = self.detail,
            "openobserve refused a record; written to the dead-letter file"
        );
        counter!(RECORDS_FAILED, "stream" => self.stream.to_string(), "reason" => self.reason)
            .increment(1);
    }
}

/// OpenObserve refused zstd (415): this sink sends gzip from now on.
#[derive(Debug)]
pub struct CompressionFellBack<'a> {
    /// The encodings OpenObserve said it accepts.
    pub accepted: &'a str,
}

impl InternalEvent for CompressionFellBack<'_> {
    fn emit(self) {
        tracing::warn!(accept = %self.accepted, "openobserve refused zstd (415): falling back to gzip for this endpoint");
        counter!(COMPRESSION_FALLBACKS).increment(1);
    }
}
