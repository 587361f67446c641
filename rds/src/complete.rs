//! The streamed `downloadCompleteLogFile` REST call, signed with SigV4.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::SystemTime;

use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use tokio::sync::mpsc;

use super::api::{deliver, RdsSource};
use super::{Chunk, DownloadEnd, SourceError};
use crate::telemetry::{self, Purpose, Spend};
use contract::file::RemoteFile;
use net::telemetry::InternalEvent;
use net::AwsError;

/// Chunks handed on are at least this large (the body arrives in small frames).
const CHUNK_BYTES: usize = 1 << 20;

/// A failure of ours before the call (credentials, signing): not worth retrying.
fn client(message: impl std::fmt::Display) -> SourceError {
    SourceError::Aws(AwsError::client("rds", CALL, message.to_string()))
}

/// Percent-encode a path segment the way SigV4 canonicalises it (keep `/` in file names).
fn encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The error code of an RDS error body (`<Code>Throttling</Code>` in the Query API's XML).
fn error_code(body: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let len = text[start..].find("</Code>")?;
    Some(text[start..start + len].trim())
}

const CALL: &str = "downloadCompleteLogFile";

/// What RDS was seen to do with a `Range` header on the complete download. AWS documents no
/// `Range` support: every download that resumes past byte 0 asks for one, takes a `206` from
/// where it asked, and skips to the checkpoint on a `200` (the whole file).
#[derive(Debug, Default)]
pub(super) struct RangeSupport(AtomicU8);

// 0: not seen yet (the default).
const RANGE_HONOURED: u8 = 1;
const RANGE_IGNORED: u8 = 2;

impl RangeSupport {
    /// RDS answered a `Range` with the part asked for (the last answer seen).
    pub(super) fn honoured(&self) -> bool {
        self.0.load(Ordering::Relaxed) == RANGE_HONOURED
    }

    fn learn(&self, honoured: bool) {
        let now = if honoured {
            RANGE_HONOURED
        } else {
            RANGE_IGNORED
        };
        if self.0.swap(now, Ordering::Relaxed) != now {
            tracing::info!(
                honoured,
                "rds complete download: a Range request is {}",
                if honoured {
                    "answered from the byte asked for: resumed files are not downloaded again"
                } else {
                    "answered with the whole file: resumed files skip to their checkpoint"
                }
            );
        }
    }
}

/// The first byte of a `Content-Range: bytes FIRST-LAST/TOTAL` header.
fn range_start(value: &http::HeaderValue) -> Option<u64> {
    let v = value.to_str().ok()?.trim().strip_prefix("bytes ")?;
    v.split_once('-')?.0.trim().parse().ok()
}

impl RdsSource {
    /// Stream `file` whole, handing on the bytes from `from` on.
    pub(super) async fn download_complete(
        &self,
        instance_id: &str,
        file: &RemoteFile,
        from: u64,
        tx: &mpsc::Sender<Chunk>,
    ) -> Result<DownloadEnd, SourceError> {
        if contract::is_live_name(&file.name) {
            self.still_the_listed_hour(instance_id, file).await?;
        }
        let resp = self.open_complete(instance_id, file, from).await?;
        self.stream_complete(resp, from, tx).await
    }

    /// A live MySQL name holds the next hour's file once it rotated, and the complete download
    /// carries no marker that would tell: a listing taken now must still show the hour the job
    /// was listed for, or the file is not found under that identity (discovery lists it again,
    /// under its new name). This narrows the race from the job's age to one call; a rotation
    /// between this listing and the download is not caught.
    async fn still_the_listed_hour(
        &self,
        instance_id: &str,
        file: &RemoteFile,
    ) -> Result<(), SourceError> {
        let now = self.file_now(instance_id, &file.name).await?;
        let same = now.is_some_and(|(name, last_written_ms, _)| {
            contract::canonical_name(&name, last_written_ms) == file.canonical
        });
        if same {
            return Ok(());
        }
        telemetry::RdsAnomaly {
            kind: "rotated_since_listing",
            instance: instance_id,
            file: &file.name,
        }
        .emit();
        Err(SourceError::FileNotFound {
            instance: instance_id.into(),
            file: file.name.clone(),
        })
    }

    /// The answer to the complete download, with the same budget, throttle retries and
    /// accounting as every API call: each attempt waits for a permit and is signed anew.
    async fn open_complete(
        &self,
        instance_id: &str,
        file: &RemoteFile,
        from: u64,
    ) -> Result<http::Response<hyper::body::Incoming>, SourceError> {
        let spend = Spend::file(Purpose::Whole, &file.name);
        let url = format!(
            "{}/{}/downloadCompleteLogFile/{}/{}",
            self.base_url,
            self.config.complete_path_version,
            encode_path(instance_id),
            encode_path(&file.name)
        );
        let mut delays = self.retry_delays();
        let mut throttled = 0;
        loop {
            let (answer, elapsed) = self.ask_complete(&url, from, spend).await?;
            let e = match answer {
                Ok(resp) => {
                    telemetry::RdsCallEnded {
                        call: CALL,
                        spend,
                        outcome: "ok",
                        elapsed,
                    }
                    .emit();
                    return Ok(resp);
                }
                Err(e) => e,
            };
            telemetry::RdsCallEnded {
                call: CALL,
                spend,
                outcome: e.outcome(),
                elapsed,
            }
            .emit();
            if e.code() == Some("DBLogFileNotFoundFault") || e.http_status() == Some(404) {
                return Err(SourceError::FileNotFound {
                    instance: instance_id.into(),
                    file: file.name.clone(),
                });
            }
            if !e.is_retryable() {
                return Err(SourceError::Aws(e));
            }
            throttled += usize::from(e.is_throttled());
            match delays.next() {
                Some(d) => {
                    tracing::debug!(
                        call = CALL,
                        outcome = e.outcome(),
                        delay_ms = d.as_millis() as u64,
                        "rds complete download: backing off"
                    );
                    tokio::time::sleep(d).await;
                }
                None if e.is_throttled() => {
                    return Err(SourceError::Throttled {
                        call: CALL,
                        retries: throttled,
                    })
                }
                None => return Err(SourceError::Aws(e)),
            }
        }
    }

    /// One signed attempt, after waiting for a permit: the answer, or how it failed.
    /// Also returns how long RDS took to answer (from the request's start, the permit had).
    async fn ask_complete(
        &self,
        url: &str,
        from: u64,
        spend: Spend,
    ) -> Result<
        (
            Result<http::Response<hyper::body::Incoming>, AwsError>,
            std::time::Duration,
        ),
        SourceError,
    > {
        let mut request = self.signed_get(url).await?;
        if from > 0 {
            // Not signed (SigV4 lets a request carry unsigned headers): RDS ignoring it, or a
            // proxy dropping it, changes nothing but the bytes downloaded.
            let range = http::HeaderValue::from_str(&format!("bytes={from}-")).map_err(client)?;
            request.headers_mut().insert(http::header::RANGE, range);
        }
        self.permit(spend).await;
        let started = std::time::Instant::now();
        let answer = self.answer_complete(request).await;
        Ok((answer, started.elapsed()))
    }

    /// RDS's answer to a signed complete-download request: the response, or how it failed.
    async fn answer_complete(
        &self,
        request: http::Request<Full<Bytes>>,
    ) -> Result<http::Response<hyper::body::Incoming>, AwsError> {
        let timeout = self.config.call_timeout;
        let resp = match tokio::time::timeout(timeout, self.http.request(request)).await {
            Err(_) => return Err(AwsError::timeout("rds", CALL, timeout)),
            Ok(Err(e)) => return Err(AwsError::connection("rds", CALL, &e)),
            Ok(Ok(resp)) => resp,
        };
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = tokio::time::timeout(timeout, resp.into_body().collect())
            .await
            .ok()
            .and_then(Result::ok)
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let mut message = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        if status == http::StatusCode::FORBIDDEN {
            message.push_str("; the role needs rds:DownloadCompleteDBLogFile");
        }
        Err(AwsError::http_answer(
            "rds",
            CALL,
            status.as_u16(),
            error_code(&body),
            message,
        ))
    }

    /// A GET of `url` signed with SigV4 for `rds`, with the current credentials and time.
    async fn signed_get(&self, url: &str) -> Result<http::Request<Full<Bytes>>, SourceError> {
        let creds = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| client(format!("no credentials to sign with: {e}")))?;
        let mut request = http::Request::builder()
            .method("GET")
            .uri(url)
            .body(Full::new(Bytes::new()))
            .map_err(client)?;
        let identity = creds.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.config.region)
            .name("rds")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(client)?
            .into();
        let signable =
            SignableRequest::new("GET", url, std::iter::empty(), SignableBody::Bytes(&[]))
                .map_err(client)?;
        let (instructions, _) = sign(signable, &params).map_err(client)?.into_parts();
        instructions.apply_to_request_http1x(&mut request);
        Ok(request)
    }

    /// Hand on the body of a complete download from `from` on, in chunks of at least
    /// `CHUNK_BYTES`.
    async fn stream_complete(
        &self,
        resp: http::Response<hyper::body::Incoming>,
        from: u64,
        tx: &mpsc::Sender<Chunk>,
    ) -> Result<DownloadEnd, SourceError> {
        // A 206 starts where it says; a 200 is the whole file, skipped up to `from`.
        let mut offset = 0u64;
        if resp.status() == http::StatusCode::PARTIAL_CONTENT {
            let start = resp
                .headers()
                .get(http::header::CONTENT_RANGE)
                .and_then(range_start);
            match start {
                Some(start) if start <= from => offset = start,
                _ => {
                    return Err(SourceError::Aws(AwsError::http_answer(
                        "rds",
                        CALL,
                        206,
                        None,
                        format!(
                            "a partial answer to a range from byte {from} has no usable Content-Range ({:?}); set rds.download = \"portion\" and report this",
                            resp.headers().get(http::header::CONTENT_RANGE)
                        ),
                    )))
                }
            }
            self.range.learn(true);
        } else if from > 0 {
            self.range.learn(false);
        }
        let mut body = resp.into_body();
        // Room for a whole chunk and the frame that completes it, taken anew after each
        // chunk: growing from empty copied every chunk about twice more.
        let room = CHUNK_BYTES + (64 << 10);
        let mut pending = BytesMut::with_capacity(room);
        loop {
            let frame = tokio::time::timeout(self.config.call_timeout, body.frame())
                .await
                .map_err(|_| AwsError::timeout("rds", CALL, self.config.call_timeout))?;
            let Some(frame) = frame else { break };
            let frame = frame.map_err(|e| AwsError::connection("rds", CALL, &e))?;
            if let Ok(data) = frame.into_data() {
                metrics::counter!(telemetry::RDS_BYTES_IN, "path" => "complete")
                    .increment(data.len() as u64);
                pending.extend_from_slice(&data);
                if pending.len() >= CHUNK_BYTES {
                    let chunk = pending.split().freeze();
                    pending.reserve(room);
                    let at = offset;
                    offset += chunk.len() as u64;
                    deliver(tx, at, chunk, from, None).await?;
                }
            }
        }
        if !pending.is_empty() {
            let chunk = pending.split().freeze();
            let at = offset;
            offset += chunk.len() as u64;
            deliver(tx, at, chunk, from, None).await?;
        }
        Ok(DownloadEnd {
            offset,
            partial: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{error_code, range_start};

    #[test]
    fn a_content_range_gives_its_first_byte() {
        let v = |s: &'static str| http::HeaderValue::from_static(s);
        assert_eq!(range_start(&v("bytes 100-199/200")), Some(100));
        assert_eq!(range_start(&v("bytes 0-0/*")), Some(0));
        assert_eq!(range_start(&v("bytes */200")), None);
        assert_eq!(range_start(&v("items 1-2/3")), None);
        assert_eq!(range_start(&v("bytes x-1/2")), None);
    }

    #[test]
    fn the_error_code_is_read_from_an_rds_error_body() {
        let body = b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>";
        assert_eq!(error_code(body), Some("Throttling"));
        assert_eq!(error_code(b"<Code>unterminated"), None);
        assert_eq!(error_code(b"not xml at all"), None);
        assert_eq!(error_code(&[0xff, 0xfe, b'<']), None);
    }
}
