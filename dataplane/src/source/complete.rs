//! The streamed `downloadCompleteLogFile` REST call, signed with SigV4.

use std::time::SystemTime;

use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use tokio::sync::mpsc;

use super::rds::{deliver, RdsSource};
use super::{Chunk, DownloadEnd, SourceError};
use crate::file::RemoteFile;
use crate::telemetry;

/// Chunks handed on are at least this large (the body arrives in small frames).
const CHUNK_BYTES: usize = 1 << 20;

fn api(message: impl std::fmt::Display) -> SourceError {
    SourceError::Api {
        call: "downloadCompleteLogFile",
        message: message.to_string(),
    }
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

impl RdsSource {
    /// Stream `file` whole, handing on the bytes from `from` on.
    pub(super) async fn download_complete(
        &self,
        instance_id: &str,
        file: &RemoteFile,
        from: u64,
        tx: &mpsc::Sender<Chunk>,
    ) -> Result<DownloadEnd, SourceError> {
        let url = format!(
            "{}/{}/downloadCompleteLogFile/{}/{}",
            self.base_url,
            self.config.complete_path_version,
            encode_path(instance_id),
            encode_path(&file.name)
        );
        let creds = self
            .credentials
            .provide_credentials()
            .await
            .map_err(|e| api(format!("no credentials to sign with: {e}")))?;
        let mut request = http::Request::builder()
            .method("GET")
            .uri(&url)
            .body(Full::new(Bytes::new()))
            .map_err(api)?;
        let identity = creds.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.config.region)
            .name("rds")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(api)?
            .into();
        let signable =
            SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::Bytes(&[]))
                .map_err(api)?;
        let (instructions, _) = sign(signable, &params).map_err(api)?.into_parts();
        instructions.apply_to_request_http1x(&mut request);

        self.permit().await;
        let resp = tokio::time::timeout(self.config.call_timeout, self.http.request(request))
            .await
            .map_err(|_| api("timed out waiting for the answer"))?
            .map_err(api)?;
        let status = resp.status();
        if status == http::StatusCode::NOT_FOUND {
            telemetry::rds_call("downloadCompleteLogFile", "error");
            return Err(SourceError::FileNotFound {
                instance: instance_id.into(),
                file: file.name.clone(),
            });
        }
        if !status.is_success() {
            telemetry::rds_call(
                "downloadCompleteLogFile",
                if status.as_u16() == 429 {
                    "throttled"
                } else {
                    "error"
                },
            );
            let body = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            return Err(api(format!(
                "status {status}: {}; the role needs rds:DownloadCompleteDBLogFile",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            )));
        }
        telemetry::rds_call("downloadCompleteLogFile", "ok");
        let mut body = resp.into_body();
        let mut offset = 0u64;
        // Room for a whole chunk and the frame that completes it, taken anew after each
        // chunk: growing from empty copied every chunk about twice more.
        let room = CHUNK_BYTES + (64 << 10);
        let mut pending = BytesMut::with_capacity(room);
        loop {
            let frame = tokio::time::timeout(self.config.call_timeout, body.frame())
                .await
                .map_err(|_| api("timed out reading the body"))?;
            let Some(frame) = frame else { break };
            let frame = frame.map_err(api)?;
            if let Ok(data) = frame.into_data() {
                metrics::counter!(telemetry::RDS_BYTES_IN).increment(data.len() as u64);
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
