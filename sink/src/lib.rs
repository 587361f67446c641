//! The OpenObserve sink: a batch in, an acknowledgement out.
//!
//! # Brief overview
//! [`batch`] fills the records of one request (bounded by bytes, count and age) as the `_bulk`
//! body itself; [`request`] compresses a range of it in one call; [`OpenObserveSink::send`]
//! drives the requests and reads the answers ([`response`]); [`dead_letter`] keeps what
//! OpenObserve refused for good. A full batch comes compressed from the parse thread that built
//! it ([`Batch::precompress`]); anything else is compressed on the blocking pool, never on a
//! runtime worker.
//!
//! A batch goes to `/api/{org}/_bulk` as NDJSON, compressed (zstd, falling back to gzip for good
//! on the first 415). The answer is always read: a 200 lists every record's outcome, and only
//! records the server listed as taken count as shipped. Records refused for good (outside the
//! server's time window, a field type conflict) go to the dead-letter file with the reason;
//! records the answer forgot are sent again; 413 and 400 split the batch to isolate the record
//! at fault; 429, 5xx, timeouts and connection errors are retried with exponential backoff and
//! jitter. Credentials or org errors stop shipping loudly. [`OpenObserveSink::send`] returns only
//! when every record of the batch is either acknowledged or dead-lettered, so the caller may
//! then advance the checkpoint.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod batch;
pub mod config;
pub mod dead_letter;
pub mod request;
pub mod response;
pub mod telemetry;

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use backon::BackoffBuilder;
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use metrics::counter;
use net::telemetry::{InFlight, InternalEvent};
use net::{HttpClient, Secret, SecretSource};
use tokio::sync::Semaphore;

pub use batch::{Batch, BatchBuilder, BatchConfig};
pub use config::{Compression, OpenObserveConfig, StreamsConfig};
use dead_letter::{DeadLetter, DeadLetterError, DeadLetters};
use request::{bulk_body, Body};
use response::parse_bulk;

/// Basic auth for `user` and `password`.
fn basic_auth(user: &str, password: &Secret) -> Result<HeaderValue, SinkError> {
    let token =
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", password.expose()));
    let mut value = HeaderValue::from_str(&format!("Basic {token}"))
        .map_err(|e| SinkError::Config(format!("openobserve.user and password: {e}")))?;
    value.set_sensitive(true);
    Ok(value)
}

/// Largest answer body read (a `_bulk` answer echoes refused records, so it can be large).
const MAX_ANSWER_BYTES: usize = 64 << 20;
/// Times records the server's answer did not mention are sent again before the job fails.
const MAX_RESENDS: usize = 5;

/// Why a batch could not be shipped. The batch's records are neither acknowledged nor
/// dead-lettered: the caller must not advance the checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Credentials, permissions or the org are wrong: retrying will not help.
    #[error("openobserve answered {status} at {url}: {body}; check openobserve.url, org, user and password")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The URL.
        url: String,
        /// The answer's start.
        body: String,
    },
    /// OpenObserve stayed unavailable through every retry.
    #[error("openobserve at {url} unavailable after {retries} retries; last: {last}")]
    Unavailable {
        /// The URL.
        url: String,
        /// Retries made.
        retries: usize,
        /// The last failure.
        last: String,
    },
    /// The answer could not be understood.
    #[error("openobserve answered 200 with an unreadable body ({error}): {body}")]
    BadAnswer {
        /// Parse error.
        error: String,
        /// The answer's start.
        body: String,
    },
    /// The server kept omitting records from its answers.
    #[error("openobserve left {missing} records out of its answers {tries} times in a row")]
    Dropped {
        /// Records not mentioned.
        missing: usize,
        /// Attempts.
        tries: usize,
    },
    /// The dead-letter file failed or is full.
    #[error(transparent)]
    DeadLetter(#[from] DeadLetterError),
    /// The body could not be built (compression failed).
    #[error("building a request body: {0}")]
    Body(#[from] std::io::Error),
    /// The configuration cannot work (the message names the key).
    #[error("openobserve configuration is invalid: {0}")]
    Config(String),
    /// OpenObserve's certificate is not trusted: retrying will not help.
    #[error("openobserve at {url} presented a certificate that is not trusted ({reason}); if a private CA signed it, set openobserve.ca_file to that CA's PEM file")]
    Untrusted {
        /// The URL.
        url: String,
        /// What the TLS library said.
        reason: String,
    },
}

impl SinkError {
    /// Whether trying the same batch later may succeed (everything but wrong credentials).
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            SinkError::Refused { .. } | SinkError::Config(_) | SinkError::Untrusted { .. }
        )
    }

    /// Whether OpenObserve asked to slow down (429s and 503s through every retry).
    pub fn is_throttled(&self) -> bool {
        matches!(self, SinkError::Unavailable { .. })
    }
}

/// What became of a batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ack {
    /// Records OpenObserve took.
    pub accepted: u64,
    /// Records refused for good and dead-lettered.
    pub dead_lettered: u64,
    /// Request bytes before compression.
    pub raw_bytes: u64,
    /// Request bytes sent.
    pub sent_bytes: u64,
}

/// Sends batches to OpenObserve; see the module docs. Share one per process.
#[derive(Debug)]
pub struct OpenObserveSink {
    config: OpenObserveConfig,
    client: HttpClient,
    bulk_uri: Uri,
    password: SecretSource,
    zstd_refused: AtomicBool,
    permits: Semaphore,
    dead_letters: DeadLetters,
}

/// Where a batch's refused records go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Letters {
    /// The dead-letter stream (when configured), else the file.
    ToStream,
    /// The file: for the dead-letter stream's own refusals.
    ToFile,
}

/// One request's transient failure, classified for retry.
enum Attempt {
    /// The server answered with a status the caller handles (200, 400, 413, 415).
    Answer(StatusCode, Bytes),
    /// Worth retrying after a delay.
    Retry(String, &'static str),
}

impl OpenObserveSink {
    /// A sink for `config`; relative dead-letter paths are under `state_dir`. `client` is the
    /// process's shared one; with `ca_file` set, the sink builds its own that also trusts that
    /// CA.
    pub fn new(
        config: OpenObserveConfig,
        state_dir: &Path,
        client: HttpClient,
    ) -> Result<OpenObserveSink, SinkError> {
        let base = config.url.trim_end_matches('/');
        let bulk_uri: Uri = format!("{base}/api/{}/_bulk", config.org)
            .parse()
            .map_err(|e| {
                SinkError::Config(format!(
                    "openobserve.url {:?} is not a URL: {e}",
                    config.url
                ))
            })?;
        let password = SecretSource::new(
            "openobserve.password",
            config.password.clone(),
            config.password_file.as_deref(),
        )
        .map_err(|e| SinkError::Config(e.to_string()))?;
        let client = match &config.ca_file {
            Some(ca) => {
                net::http_client_trusting(ca).map_err(|e| SinkError::Config(e.to_string()))?
            }
            None => client,
        };
        // A user or password that cannot go in a header fails here, not at the first batch.
        basic_auth(
            &config.user,
            &password
                .get()
                .map_err(|e| SinkError::Config(e.to_string()))?,
        )?;
        let dl_path = state_dir.join(&config.dead_letter_path);
        Ok(OpenObserveSink {
            permits: Semaphore::new(config.concurrency.max(1)),
            zstd_refused: AtomicBool::new(false),
            dead_letters: DeadLetters::new(&dl_path, config.dead_letter_max_bytes),
            config,
            client,
            bulk_uri,
            password,
        })
    }

    /// The `Authorization` header now (a password file is read again when it changed).
    fn auth(&self) -> Result<HeaderValue, SinkError> {
        let password = self
            .password
            .get()
            .map_err(|e| SinkError::Config(e.to_string()))?;
        basic_auth(&self.config.user, &password)
    }

    /// The dead-letter file.
    pub fn dead_letter_path(&self) -> &Path {
        self.dead_letters.path()
    }

    /// The compression in use now.
    pub fn compression(&self) -> Compression {
        match self.config.compression {
            Compression::Zstd if self.zstd_refused.load(Ordering::Relaxed) => Compression::Gzip,
            c => c,
        }
    }

    /// Ship `batch`: returns once every record is acknowledged or dead-lettered. Its bodies are
    /// compressed on the blocking pool (hence the `Arc`).
    pub async fn send(&self, batch: &Arc<Batch>) -> Result<Ack, SinkError> {
        self.ship(batch, Letters::ToStream).await
    }

    /// [`OpenObserveSink::send`], with refused records kept as `letters` says.
    async fn ship(&self, batch: &Arc<Batch>, letters: Letters) -> Result<Ack, SinkError> {
        let mut ack = Ack::default();
        let mut todo: Vec<Vec<usize>> = vec![(0..batch.len()).collect()];
        let mut resends = 0;
        while let Some(records) = todo.pop() {
            if records.is_empty() {
                continue;
            }
            // Contiguous index lists are the common case; others come from resending a few.
            let ranges = contiguous(&records);
            for range in ranges {
                let (status, body, sent) = self.post_range(batch, range.clone(), &mut ack).await?;
                match status {
                    StatusCode::OK => {
                        let missing = self
                            .settle(batch, range.clone(), &body, &mut ack, letters)
                            .await?;
                        if !missing.is_empty() {
                            resends += 1;
                            if resends > MAX_RESENDS {
                                return Err(SinkError::Dropped {
                                    missing: missing.len(),
                                    tries: resends,
                                });
                            }
                            tracing::warn!(
                                missing = missing.len(),
                                sent,
                                "openobserve's answer left records out; sending them again"
                            );
                            counter!(telemetry::SINK_RETRIES, "reason" => "missing_in_answer")
                                .increment(1);
                            todo.push(missing);
                        }
                    }
                    StatusCode::PAYLOAD_TOO_LARGE | StatusCode::BAD_REQUEST if range.len() > 1 => {
                        let mid = range.start + range.len() / 2;
                        todo.push((mid..range.end).collect());
                        todo.push((range.start..mid).collect());
                    }
                    _ => {
                        // One record the server will never take as it is.
                        let reason = if status == StatusCode::PAYLOAD_TOO_LARGE {
                            "too_large"
                        } else {
                            "bad_request"
                        };
                        let detail =
                            String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
                        self.dead_letter(
                            batch,
                            &[(range.start, reason, detail)],
                            &mut ack,
                            letters,
                        )
                        .await?;
                    }
                }
            }
        }
        Ok(ack)
    }

    /// Read a 200 answer for `range`; dead-letter what was refused for good; return the records
    /// to send again.
    async fn settle(
        &self,
        batch: &Batch,
        range: Range<usize>,
        body: &Bytes,
        ack: &mut Ack,
        keep: Letters,
    ) -> Result<Vec<usize>, SinkError> {
        let outcome = parse_bulk(body).map_err(|e| SinkError::BadAnswer {
            error: e.to_string(),
            body: String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned(),
        })?;
        if outcome.refused.is_empty() && outcome.items == range.len() {
            count_shipped(batch, outcome.accepted, ack);
            return Ok(Vec::new());
        }
        let index: HashMap<&str, usize> = range
            .clone()
            .filter_map(|i| batch.record_id(i).map(|id| (id, i)))
            .collect();
        let mut resend = Vec::new();
        let mut letters = Vec::new();
        let mut unknown_refusals = Vec::new();
        for r in &outcome.refused {
            let at = r.record_id.as_deref().and_then(|id| index.get(id)).copied();
            match at {
                Some(i) if r.retryable => resend.push(i),
                Some(i) => letters.push((i, r.reason, r.detail.clone())),
                None => unknown_refusals.push(r),
            }
        }
        if !unknown_refusals.is_empty() {
            // Refusals without the record: keep what the server echoed.
            let mut owned = Vec::new();
            for r in &unknown_refusals {
                let raw = serde_json::value::to_raw_value(&r.record.clone().unwrap_or_default())
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                owned.push((raw, r));
            }
            let dl: Vec<DeadLetter<'_>> = owned
                .iter()
                .map(|(raw, r)| DeadLetter {
                    stream: &batch.stream,
                    record_id: r.record_id.as_deref(),
                    reason: r.reason,
                    detail: &r.detail,
                    record: raw,
                })
                .collect();
            self.keep(&dl, keep).await?;
            for r in &unknown_refusals {
                self.count_refused(&batch.stream, r.reason, &r.detail);
            }
            ack.dead_lettered += unknown_refusals.len() as u64;
        }
        self.dead_letter(batch, &letters, ack, keep).await?;
        if outcome.items < range.len() {
            // Some records were not mentioned at all: send again those we can tell apart, or
            // the whole range when the answer does not echo records.
            let seen: std::collections::HashSet<&str> =
                outcome.seen_ids.iter().map(String::as_str).collect();
            if seen.len() == outcome.items {
                resend.extend(
                    range.filter(|&i| batch.record_id(i).is_none_or(|id| !seen.contains(id))),
                );
            } else {
                tracing::warn!("openobserve omitted records and does not echo them: resending the whole request (duplicates possible)");
                resend.extend(range);
                resend.sort_unstable();
                resend.dedup();
                // Nothing of this request counts as shipped: all of it goes again.
                return Ok(resend);
            }
        }
        count_shipped(batch, outcome.accepted, ack);
        resend.sort_unstable();
        resend.dedup();
        Ok(resend)
    }

    fn count_refused(&self, stream: &str, reason: &'static str, detail: &str) {
        telemetry::RecordRefused {
            stream,
            reason,
            detail,
        }
        .emit();
    }

    async fn dead_letter(
        &self,
        batch: &Batch,
        letters: &[(usize, &'static str, String)],
        ack: &mut Ack,
        keep: Letters,
    ) -> Result<(), SinkError> {
        if letters.is_empty() {
            return Ok(());
        }
        let mut raws = Vec::with_capacity(letters.len());
        for (i, _, _) in letters {
            let text = String::from_utf8_lossy(batch.record(*i)).into_owned();
            let raw = serde_json::value::RawValue::from_string(text)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            raws.push(raw);
        }
        // A letter the dead-letter stream refused too goes to the file as the letter it
        // carries (the original stream, reason and record), not as its wrapper.
        let wrapped = keep == Letters::ToFile && *batch.stream == *self.config.dead_letter_stream;
        let unwrapped: Vec<Option<dead_letter::Unwrapped>> = letters
            .iter()
            .map(|(i, _, _)| {
                let v = wrapped.then(|| serde_json::from_slice(batch.record(*i)).ok())??;
                dead_letter::unwrap_record(&v)
            })
            .collect();
        let details: Vec<String> = letters
            .iter()
            .zip(&unwrapped)
            .map(|((_, reason, detail), u)| match u {
                Some(u) => format!(
                    "{}; the dead-letter stream refused it too ({reason}): {detail}",
                    u.detail
                ),
                None => detail.clone(),
            })
            .collect();
        let dl: Vec<DeadLetter<'_>> = letters
            .iter()
            .zip(&raws)
            .zip(unwrapped.iter().zip(&details))
            .map(|(((i, reason, _), raw), (u, detail))| DeadLetter {
                stream: u.as_ref().map_or(&batch.stream, |u| u.stream.as_str()),
                record_id: batch.record_id(*i),
                reason: u.as_ref().map_or(*reason, |u| u.reason.as_str()),
                detail,
                record: u.as_ref().map_or(raw.as_ref(), |u| u.record.as_ref()),
            })
            .collect();
        self.keep(&dl, keep).await?;
        for (_, reason, detail) in letters {
            self.count_refused(&batch.stream, reason, detail);
        }
        ack.dead_lettered += letters.len() as u64;
        Ok(())
    }

    /// Keep refused records: in the dead-letter stream (`ToStream`, when there is one), whose
    /// own refusals go to the file; or in the file. A boxed future declared `Send`: shipping the
    /// letters may keep letters in turn, and the declaration settles the recursion's auto
    /// traits.
    fn keep<'s>(
        &'s self,
        dl: &'s [DeadLetter<'s>],
        keep: Letters,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), SinkError>> + Send + 's>>
    {
        Box::pin(async move {
            let stream = self.config.dead_letter_stream.as_str();
            if keep == Letters::ToFile || stream.is_empty() || dl.is_empty() {
                return Ok(self.dead_letters.write(dl).await?);
            }
            let now_us = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as i64);
            let mut builder = BatchBuilder::new(
                stream.into(),
                BatchConfig {
                    max_bytes: usize::MAX,
                    max_records: usize::MAX,
                    max_age: std::time::Duration::MAX,
                },
            );
            for l in dl {
                builder.push(|out| dead_letter::write_record(out, l, now_us), 0);
            }
            if let Some(batch) = builder.flush(0) {
                self.ship(&Arc::new(batch), Letters::ToFile).await?;
            }
            Ok(())
        })
    }

    /// POST records `range`, retrying transient failures; switches to gzip on a 415.
    async fn post_range(
        &self,
        batch: &Arc<Batch>,
        range: Range<usize>,
        ack: &mut Ack,
    ) -> Result<(StatusCode, Bytes, usize), SinkError> {
        let mut delays = backon::ExponentialBuilder::default()
            .with_min_delay(self.config.retry_initial)
            .with_max_delay(self.config.retry_max_delay)
            .with_jitter()
            .with_max_times(self.config.max_retries)
            .build();
        let mut body = self.body(batch, range.clone()).await?;
        let mut retries = 0;
        loop {
            match self.attempt(&body).await? {
                Attempt::Answer(StatusCode::UNSUPPORTED_MEDIA_TYPE, text)
                    if body.encoding == Some("zstd") =>
                {
                    if !self.zstd_refused.swap(true, Ordering::Relaxed) {
                        telemetry::CompressionFellBack {
                            accepted: &String::from_utf8_lossy(&text),
                        }
                        .emit();
                    }
                    body = self.body(batch, range.clone()).await?;
                }
                Attempt::Answer(status, text) => {
                    if matches!(status.as_u16(), 401 | 403 | 404 | 415) {
                        return Err(SinkError::Refused {
                            status: status.as_u16(),
                            url: self.bulk_uri.to_string(),
                            body: String::from_utf8_lossy(&text[..text.len().min(512)])
                                .into_owned(),
                        });
                    }
                    ack.raw_bytes += body.raw_len as u64;
                    ack.sent_bytes += body.bytes.len() as u64;
                    return Ok((status, text, range.len()));
                }
                Attempt::Retry(why, reason) => {
                    counter!(telemetry::SINK_RETRIES, "reason" => reason).increment(1);
                    retries += 1;
                    match delays.next() {
                        Some(d) => {
                            tracing::debug!(%why, delay_ms = d.as_millis() as u64, "retrying openobserve request");
                            tokio::time::sleep(d).await;
                        }
                        None => {
                            return Err(SinkError::Unavailable {
                                url: self.bulk_uri.to_string(),
                                retries,
                                last: why,
                            })
                        }
                    }
                }
            }
        }
    }

    /// The zstd level of the bodies.
    pub fn zstd_level(&self) -> i32 {
        self.config.zstd_level
    }

    /// The body of records `range`: the batch's own when it was compressed whole where it was
    /// built, with this sink's settings; else compressed on the blocking pool (CPU work of a
    /// few milliseconds per body that must not hold a runtime worker).
    async fn body(&self, batch: &Arc<Batch>, range: Range<usize>) -> Result<Body, SinkError> {
        let (compression, level) = (self.compression(), self.config.zstd_level);
        if range == (0..batch.len()) {
            if let Some((c, l, body)) = &batch.precompressed {
                if (*c, *l) == (compression, level) {
                    return Ok(body.clone());
                }
            }
        }
        let batch = batch.clone();
        let built =
            tokio::task::spawn_blocking(move || bulk_body(&batch, range, compression, level))
                .await
                .map_err(|e| std::io::Error::other(format!("compression task: {e}")))?;
        Ok(built?)
    }

    /// One request; its answer read within the timeout.
    async fn attempt(&self, body: &Body) -> Result<Attempt, SinkError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(self.bulk_uri.clone())
            .header(http::header::AUTHORIZATION, self.auth()?)
            .header(http::header::CONTENT_TYPE, "application/x-ndjson");
        if let Some(enc) = body.encoding {
            req = req.header(http::header::CONTENT_ENCODING, enc);
        }
        let req = req
            .body(Full::new(body.bytes.clone()))
            .expect("a request from valid parts");
        let _held = InFlight::new("send", body.bytes.len());
        let call = async {
            let resp = self.client.request(req).await?;
            let status = resp.status();
            let accept = resp
                .headers()
                .get(http::header::ACCEPT_ENCODING)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let text = Limited::new(resp.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))?
                .to_bytes();
            let text = match (status, accept) {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some(a)) => Bytes::from(a),
                _ => text,
            };
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((status, text))
        };
        let started = std::time::Instant::now();
        let outcome = tokio::time::timeout(self.config.request_timeout, call).await;
        let (status, text) = match outcome {
            Err(_) => {
                telemetry::request_ended("timeout".into(), started.elapsed());
                return Ok(Attempt::Retry("request timed out".into(), "timeout"));
            }
            Ok(Err(e)) => {
                telemetry::request_ended("connect".into(), started.elapsed());
                if let Some(reason) = net::certificate_failure(e.as_ref()) {
                    return Err(SinkError::Untrusted {
                        url: self.bulk_uri.to_string(),
                        reason,
                    });
                }
                return Ok(Attempt::Retry(
                    format!("request failed: {}", net::error_chain(e.as_ref())),
                    "connection",
                ));
            }
            Ok(Ok(v)) => v,
        };
        telemetry::request_ended(status.as_u16().to_string(), started.elapsed());
        if status.is_success() {
            counter!(telemetry::BYTES_OUT_RAW).increment(body.raw_len as u64);
            counter!(telemetry::BYTES_OUT_COMPRESSED, "encoding" => body.encoding.unwrap_or("identity")).increment(body.bytes.len() as u64);
        }
        Ok(match status.as_u16() {
            429 | 500 | 502 | 503 | 504 => Attempt::Retry(
                format!(
                    "status {status}: {}",
                    String::from_utf8_lossy(&text[..text.len().min(200)])
                ),
                "unavailable",
            ),
            200..=299 => Attempt::Answer(StatusCode::OK, text),
            _ => Attempt::Answer(status, text),
        })
    }
}

/// Count records OpenObserve took, in the batch's acknowledgement and the metric.
fn count_shipped(batch: &Batch, accepted: usize, ack: &mut Ack) {
    ack.accepted += accepted as u64;
    counter!(telemetry::RECORDS_SHIPPED, "stream" => batch.stream.to_string())
        .increment(accepted as u64);
}

/// Split sorted indices into contiguous ranges.
fn contiguous(sorted: &[usize]) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    for &i in sorted {
        match out.last_mut() {
            Some(r) if r.end == i => r.end = i + 1,
            _ => out.push(i..i + 1),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_ranges() {
        assert_eq!(contiguous(&[0, 1, 2, 5, 6, 9]), vec![0..3, 5..7, 9..10]);
        assert!(contiguous(&[]).is_empty());
    }

    #[test]
    fn only_credential_errors_are_final() {
        let refused = SinkError::Refused {
            status: 401,
            url: "u".into(),
            body: String::new(),
        };
        assert!(!refused.is_retryable());
        let down = SinkError::Unavailable {
            url: "u".into(),
            retries: 3,
            last: "503".into(),
        };
        assert!(down.is_retryable());
    }
}
