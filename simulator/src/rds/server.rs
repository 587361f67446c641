//! HTTP: the accept loop, routing, bounded request bodies, and the streamed body of the
//! complete-file download.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body::{Body, Frame};

use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::api::{self, Params};
use super::error::ApiError;
use super::portion::ByteSource;
use super::sigv4::SignedParts;
use super::world::AddedData;
use super::xml::error_response;
use super::Shared;
use crate::util::{percent_decode_strict, read_body_bounded, BodyError};

/// Largest Query API request body (a describe or portion call is a few hundred bytes).
pub(crate) const MAX_QUERY_BODY: usize = 64 * 1024;
/// Chunk size of the complete-file download.
const DOWNLOAD_CHUNK: usize = 64 * 1024;
/// Chunks buffered ahead of a slow reader of a file on disk.
const DOWNLOAD_QUEUE: usize = 4;
/// The REST download's paths (RDS.md: the prefix changes; both are served).
const DOWNLOAD_PREFIXES: [&str; 2] = [
    "/v13/downloadCompleteLogFile/",
    "/v19/downloadCompleteLogFile/",
];
/// The action name calls of the REST download are counted under.
pub(crate) const DOWNLOAD_COMPLETE_ACTION: &str = "DownloadCompleteLogFile";

/// A response body: whole, or streamed in chunks.
pub(crate) enum SimBody {
    Full(Option<Bytes>),
    /// Chunks of bytes held in memory.
    Chunks(Bytes),
    /// Chunks read from disk by a blocking task.
    Channel(mpsc::Receiver<io::Result<Bytes>>),
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            SimBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            SimBody::Chunks(rest) => {
                if rest.is_empty() {
                    return Poll::Ready(None);
                }
                let n = rest.len().min(DOWNLOAD_CHUNK);
                Poll::Ready(Some(Ok(Frame::data(rest.split_to(n)))))
            }
            SimBody::Channel(rx) => rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data))),
        }
    }
}

type Resp = Response<SimBody>;

fn full(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(SimBody::Full(Some(body.into())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    r
}

fn xml_response(status: StatusCode, body: String, request_id: &str) -> Resp {
    let mut r = full(status, "text/xml", body);
    if let Ok(v) = HeaderValue::from_str(request_id) {
        r.headers_mut().insert("x-amzn-requestid", v);
    }
    r
}

pub(crate) fn api_error(e: &ApiError, request_id: &str) -> Resp {
    let body = error_response(e.code, &e.message, e.is_sender(), request_id);
    xml_response(e.status, body, request_id)
}

/// Back-off after a failed `accept` (e.g. out of file descriptors), so the loop does not spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(10);

/// Accept connections until the task is aborted. Every connection is a task of a [`JoinSet`]
/// owned by this future: aborting the task drops the set, which aborts every connection
/// (keep-alive ones too), and drops the listener.
pub(crate) async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let shared = Arc::clone(&shared);
                    connections.spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            let shared = Arc::clone(&shared);
                            async move { Ok::<_, Infallible>(route(shared, req).await) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                Err(_) => tokio::time::sleep(ACCEPT_RETRY).await,
            },
            // Reap finished connections so the set stays as large as the open ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn route(shared: Arc<Shared>, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_string();
    if path.starts_with("/_sim/") && shared.control_api {
        return super::control::handle(shared, req).await;
    }
    if DOWNLOAD_PREFIXES.iter().any(|p| path.starts_with(p)) && req.method() == Method::GET {
        return download_complete(shared, req).await;
    }
    if path == "/" && (req.method() == Method::POST || req.method() == Method::GET) {
        return query(shared, req).await;
    }
    full(StatusCode::NOT_FOUND, "text/plain", "no such route\n")
}

/// Read a body of at most `limit` bytes.
pub(crate) async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, ApiError> {
    read_body_bounded(body, limit).await.map_err(|e| match e {
        BodyError::TooLarge => ApiError::body_too_large(limit),
        BodyError::Read(e) => {
            ApiError::invalid_parameter(format!("reading the request body failed: {e}"))
        }
    })
}

async fn query(shared: Arc<Shared>, req: Request<Incoming>) -> Resp {
    let request_id = shared.request_id();
    let (parts, body) = req.into_parts();
    let body = match read_body(body, MAX_QUERY_BODY).await {
        Ok(b) => b,
        Err(e) => return api_error(&e, &request_id),
    };
    let form: &[u8] = if parts.method == Method::GET {
        parts.uri.query().unwrap_or("").as_bytes()
    } else {
        &body
    };
    let params: Params = form_urlencoded::parse(form).into_owned().collect();
    let action = match api::action(&params) {
        Ok(a) => a.to_string(),
        Err(e) => return api_error(&e, &request_id),
    };
    shared.fault_state().count_call(&action);
    if shared.verify_query_signatures {
        let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let signed = SignedParts {
            method: parts.method.as_str(),
            path_and_query,
            headers: &parts.headers,
            body: &body,
        };
        if let Err(e) = shared.verifier.verify(&signed) {
            return api_error(&e, &request_id);
        }
    }
    if shared.fault_state().throttled() {
        return api_error(&ApiError::throttling(), &request_id);
    }
    hold(&shared, &action).await;
    let id = request_id.clone();
    // Reading files (possibly from disk) and cutting pages is CPU and I/O work: off the reactor.
    let answer = tokio::task::spawn_blocking(move || api::answer(&shared, &params, &id)).await;
    match answer {
        Ok(Ok(xml)) => xml_response(StatusCode::OK, xml, &request_id),
        Ok(Err(e)) => api_error(&e, &request_id),
        Err(e) => api_error(
            &ApiError::internal(format!("the handler failed: {e}")),
            &request_id,
        ),
    }
}

/// Wait the answer delay set for `action` ([`super::Faults::set_answer_delay`]), if any.
async fn hold(shared: &Shared, action: &str) {
    let delay = shared.fault_state().answer_delay(action);
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
}

/// `GET /v13/downloadCompleteLogFile/{instance}/{file}`: the whole file, streamed.
async fn download_complete(shared: Arc<Shared>, req: Request<Incoming>) -> Resp {
    let request_id = shared.request_id();
    shared.fault_state().count_call(DOWNLOAD_COMPLETE_ACTION);
    hold(&shared, DOWNLOAD_COMPLETE_ACTION).await;
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let signed = SignedParts {
        method: req.method().as_str(),
        path_and_query: &path_and_query,
        headers: req.headers(),
        body: b"",
    };
    if let Err(e) = shared.verifier.verify(&signed) {
        return api_error(&e, &request_id);
    }
    if shared.fault_state().throttled() {
        return api_error(&ApiError::throttling(), &request_id);
    }
    let path = req.uri().path();
    let rest = DOWNLOAD_PREFIXES
        .iter()
        .find_map(|p| path.strip_prefix(p))
        .unwrap_or("");
    let Some((instance, file)) = rest
        .split_once('/')
        .and_then(|(i, f)| Some((percent_decode_strict(i)?, percent_decode_strict(f)?)))
    else {
        return api_error(&ApiError::log_file_not_found(rest), &request_id);
    };
    // RDS documents no Range support: by default it is ignored (a 200 with the whole file).
    let range = if shared.fault_state().range_honoured() {
        requested_range(req.headers())
    } else {
        None
    };
    match file_for_download(&shared, &instance, &file, range.unwrap_or(0)) {
        Ok((body, total)) => {
            let sent = total.saturating_sub(range.unwrap_or(0));
            shared
                .fault_state()
                .count_bytes(DOWNLOAD_COMPLETE_ACTION, sent as usize);
            let mut r = Response::new(body);
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            if let Some(from) = range {
                let (status, value) = if from < total {
                    (
                        StatusCode::PARTIAL_CONTENT,
                        format!("bytes {from}-{}/{total}", total - 1),
                    )
                } else {
                    *r.body_mut() = SimBody::Full(None);
                    (
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        format!("bytes */{total}"),
                    )
                };
                *r.status_mut() = status;
                if let Ok(v) = HeaderValue::from_str(&value) {
                    r.headers_mut().insert(http::header::CONTENT_RANGE, v);
                }
            }
            r
        }
        Err(e) => api_error(&e, &request_id),
    }
}

/// The first byte of a `Range: bytes=N-` request (the one form a resuming reader sends);
/// any other form is ignored, as HTTP allows.
fn requested_range(headers: &http::HeaderMap) -> Option<u64> {
    let v = headers.get(http::header::RANGE)?.to_str().ok()?;
    v.trim()
        .strip_prefix("bytes=")?
        .strip_suffix('-')?
        .parse()
        .ok()
}

/// The body of a complete download of `file` from byte `from` on, and the file's whole size.
fn file_for_download(
    shared: &Shared,
    instance: &str,
    file: &str,
    from: u64,
) -> Result<(SimBody, u64), ApiError> {
    let tail = |b: &Bytes| b.slice((from as usize).min(b.len())..);
    let world = shared.world();
    let mut faults = shared.fault_state();
    let inst = world.readable_instance(&mut faults, instance)?;
    if let Some(added) = inst.added.get(file) {
        return Ok(match &added.data {
            AddedData::Memory(b) => (SimBody::Chunks(tail(b)), b.len() as u64),
            AddedData::Disk(d) => {
                let (tx, rx) = mpsc::channel(DOWNLOAD_QUEUE);
                let d = Arc::clone(d);
                let total = d.len();
                tokio::task::spawn_blocking(move || {
                    let mut off = from;
                    while off < d.len() {
                        let chunk = d
                            .read_at(off, DOWNLOAD_CHUNK)
                            .map(|c| Bytes::from(c.into_owned()));
                        let stop = match &chunk {
                            Ok(c) => {
                                off += c.len() as u64;
                                c.is_empty()
                            }
                            Err(_) => true,
                        };
                        if tx.blocking_send(chunk).is_err() || stop {
                            break;
                        }
                    }
                });
                (SimBody::Channel(rx), total)
            }
        });
    }
    let logs = inst
        .logs
        .as_ref()
        .ok_or_else(|| ApiError::log_file_not_found(file))?;
    let f = logs
        .file(file)
        .ok_or_else(|| ApiError::log_file_not_found(file))?;
    // A file marked binary downloads like any other here: that is the way to get it.
    world.check_rotation_window(&mut faults, logs, f)?;
    let data = Bytes::copy_from_slice(&f.data);
    Ok((SimBody::Chunks(tail(&data)), data.len() as u64))
}
