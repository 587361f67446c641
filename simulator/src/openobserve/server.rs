//! The HTTP edge: routing, the checks every `/api` request passes in OpenObserve's order
//! (Content-Encoding → auth → org → faults → body limit → decode → JSON), and the ingestion
//! answers.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{
    HeaderMap, HeaderValue, ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE,
};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use super::faults::FaultPlan;
use super::manage::ManageRoute;
use super::records::normalize_stream_name;
use super::store::{Checks, Outcome};
use super::{control, lock, manage, search, Endpoint, Shared};
use crate::util::{percent_decode_lossy, read_body_bounded, BodyError};

pub(crate) type Answer = Response<Full<Bytes>>;

/// Entry point of every request.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Answer, Infallible> {
    let route = Route::parse(req.method(), req.uri().path());
    let endpoint = route.endpoint();
    let accept_encoding = req.headers().contains_key(ACCEPT_ENCODING);
    let answer = match route {
        Route::Healthz => json_answer(StatusCode::OK, &json!({"status": "ok"})),
        Route::Ingest { org, stream, kind } => ingest(&shared, org, stream, kind, req).await,
        Route::Search { org } => search::handle(&shared, org, req).await,
        Route::Manage(route) => manage::handle(&shared, route, req).await,
        Route::Passcode { org } => passcode(&shared, &org, req.headers()),
        Route::Control(path) if shared.config.control_api => {
            control::handle(&shared, &path, req).await
        }
        Route::WrongMethod => text_answer(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"),
        Route::Control(_) | Route::Unknown => text_answer(StatusCode::NOT_FOUND, "Not Found"),
    };
    let mut stats = lock(&shared.stats);
    stats.count_request(endpoint, answer.status().as_u16());
    if accept_encoding && endpoint != Endpoint::Control {
        stats.requests_with_accept_encoding += 1;
    }
    drop(stats);
    Ok(answer)
}

/// Which ingestion body form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IngestKind {
    Bulk,
    Json,
    Multi,
}

#[derive(Debug)]
enum Route {
    Healthz,
    Ingest {
        org: String,
        stream: Option<String>,
        kind: IngestKind,
    },
    Search {
        org: String,
    },
    /// Streams' settings, dashboards, alerts, saved views (any method).
    Manage(ManageRoute),
    /// `GET /api/{org}/passcode`: the user's ingestion passcode.
    Passcode {
        org: String,
    },
    Control(String),
    WrongMethod,
    Unknown,
}

impl Route {
    fn parse(method: &Method, path: &str) -> Route {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let post = method == Method::POST;
        let route = match segments.as_slice() {
            ["healthz"] => {
                return if method == Method::GET {
                    Route::Healthz
                } else {
                    Route::WrongMethod
                }
            }
            ["_standin", rest @ ..] => return Route::Control(rest.join("/")),
            ["api", org, "_bulk"] => Route::Ingest {
                org: decode_segment(org),
                stream: None,
                kind: IngestKind::Bulk,
            },
            ["api", org, "_search"] => Route::Search {
                org: decode_segment(org),
            },
            ["api", org, stream, "_json"] => Route::Ingest {
                org: decode_segment(org),
                stream: Some(decode_segment(stream)),
                kind: IngestKind::Json,
            },
            ["api", org, stream, "_multi"] => Route::Ingest {
                org: decode_segment(org),
                stream: Some(decode_segment(stream)),
                kind: IngestKind::Multi,
            },
            ["api", org, "passcode"] => {
                return if method == Method::GET {
                    Route::Passcode {
                        org: decode_segment(org),
                    }
                } else {
                    Route::WrongMethod
                }
            }
            ["api", rest @ ..] => {
                return ManageRoute::parse(rest).map_or(Route::Unknown, Route::Manage)
            }
            _ => return Route::Unknown,
        };
        if post {
            route
        } else {
            Route::WrongMethod
        }
    }

    fn endpoint(&self) -> Endpoint {
        match self {
            Route::Healthz => Endpoint::Healthz,
            Route::Ingest {
                kind: IngestKind::Bulk,
                ..
            } => Endpoint::Bulk,
            Route::Ingest {
                kind: IngestKind::Json,
                ..
            } => Endpoint::Json,
            Route::Ingest {
                kind: IngestKind::Multi,
                ..
            } => Endpoint::Multi,
            Route::Search { .. } => Endpoint::Search,
            Route::Manage(_) | Route::Passcode { .. } => Endpoint::Manage,
            Route::Control(_) => Endpoint::Control,
            Route::WrongMethod | Route::Unknown => Endpoint::Unknown,
        }
    }
}

/// Percent-decodes one path segment; a malformed escape is kept as written.
pub(crate) fn decode_segment(s: &str) -> String {
    percent_decode_lossy(s)
}

/// A request body's Content-Encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Identity,
    Gzip,
    Deflate,
    Brotli,
    Zstd,
}

impl Encoding {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
            Encoding::Brotli => "br",
            Encoding::Zstd => "zstd",
        }
    }
}

/// The first checks of every `/api` request, in the real server's order: an unsupported encoding
/// is refused (415) before auth looks at the credentials, then the org must exist.
pub(crate) fn admit(
    shared: &Shared,
    org: &str,
    headers: &HeaderMap,
    accepts: Accepts,
) -> Result<Encoding, Rejection> {
    let encoding = content_encoding(headers, shared.config.accept_zstd);
    let label = match &encoding {
        Ok(e) => e.name(),
        Err(raw) => raw.as_str(),
    };
    lock(&shared.stats).count_encoding(label);
    let Ok(encoding) = encoding else {
        return Err(Rejection::UnsupportedEncoding {
            accept_zstd: shared.config.accept_zstd,
        });
    };
    match (credential(shared, headers), accepts) {
        (Some(Credential::Password), _)
        | (Some(Credential::IngestionPasscode), Accepts::PasscodeToo) => {}
        _ => return Err(Rejection::Unauthorized),
    }
    if !shared.config.accept_any_org && org != shared.config.org {
        return Err(Rejection::OrgNotFound);
    }
    Ok(encoding)
}

fn content_encoding(headers: &HeaderMap, accept_zstd: bool) -> Result<Encoding, String> {
    let Some(value) = headers.get(CONTENT_ENCODING) else {
        return Ok(Encoding::Identity);
    };
    let raw = value.to_str().unwrap_or("?").trim().to_ascii_lowercase();
    match raw.as_str() {
        "" | "identity" => Ok(Encoding::Identity),
        "gzip" | "x-gzip" => Ok(Encoding::Gzip),
        "deflate" => Ok(Encoding::Deflate),
        "br" => Ok(Encoding::Brotli),
        "zstd" if accept_zstd => Ok(Encoding::Zstd),
        _ => Err(raw),
    }
}

/// Which credentials an endpoint takes: OpenObserve accepts a user's ingestion passcode on the
/// ingestion endpoints only (`_bulk`, `_json`, `_multi`); everything else needs the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Accepts {
    PasswordOnly,
    PasscodeToo,
}

/// The credential a request's Basic auth carries for the configured user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credential {
    Password,
    IngestionPasscode,
}

fn credential(shared: &Shared, headers: &HeaderMap) -> Option<Credential> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, secret) = decoded.split_once(':')?;
    let config = &shared.config;
    if user != config.user {
        None
    } else if secret == config.password {
        Some(Credential::Password)
    } else if config.ingestion_passcode.as_deref() == Some(secret) {
        Some(Credential::IngestionPasscode)
    } else {
        None
    }
}

/// `GET /api/{org}/passcode`: the user's ingestion passcode, for the password only, shaped as
/// OpenObserve's `PasscodeResponse`. A stand-in configured without one answers 404, as the
/// server does when it cannot find the user's passcode.
fn passcode(shared: &Shared, org: &str, headers: &HeaderMap) -> Answer {
    if let Err(rejection) = admit(shared, org, headers, Accepts::PasswordOnly) {
        return rejection.answer();
    }
    match &shared.config.ingestion_passcode {
        Some(passcode) => json_answer(
            StatusCode::OK,
            &serde_json::json!({"data": {"passcode": passcode, "user": shared.config.user}}),
        ),
        None => error_answer(StatusCode::NOT_FOUND, "passcode not found"),
    }
}

/// Reads the raw body, never more than the payload limit.
pub(crate) async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, Rejection> {
    read_body_bounded(body, limit).await.map_err(|e| match e {
        BodyError::TooLarge => Rejection::PayloadTooLarge,
        BodyError::Read(_) => Rejection::BadRequest("failed to read the request body".to_owned()),
    })
}

/// Decompresses into at most `limit` bytes: a body that inflates past it is a 413, found after
/// reading `limit + 1` bytes, never by inflating it whole.
pub(crate) fn decode(encoding: Encoding, raw: Bytes, limit: usize) -> Result<Bytes, Rejection> {
    let bounded = |reader: &mut dyn Read| -> Result<Bytes, Rejection> {
        let mut out = Vec::new();
        let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
        reader.take(cap).read_to_end(&mut out).map_err(|e| {
            Rejection::BadRequest(format!(
                "failed to decompress the {} body: {e}",
                encoding.name()
            ))
        })?;
        if out.len() > limit {
            return Err(Rejection::PayloadTooLarge);
        }
        Ok(Bytes::from(out))
    };
    match encoding {
        Encoding::Identity if raw.len() > limit => Err(Rejection::PayloadTooLarge),
        Encoding::Identity => Ok(raw),
        Encoding::Gzip => bounded(&mut flate2::read::MultiGzDecoder::new(&raw[..])),
        Encoding::Deflate => bounded(&mut flate2::read::ZlibDecoder::new(&raw[..])),
        Encoding::Brotli => bounded(&mut brotli_decompressor::Decompressor::new(
            &raw[..],
            64 * 1024,
        )),
        Encoding::Zstd => match zstd::stream::read::Decoder::new(&raw[..]) {
            Ok(mut decoder) => bounded(&mut decoder),
            Err(e) => Err(Rejection::BadRequest(format!("failed to start zstd: {e}"))),
        },
    }
}

async fn ingest(
    shared: &Arc<Shared>,
    org: String,
    stream: Option<String>,
    kind: IngestKind,
    req: Request<Incoming>,
) -> Answer {
    let started = Instant::now();
    let encoding = match admit(shared, &org, req.headers(), Accepts::PasscodeToo) {
        Ok(e) => e,
        Err(rejection) => return rejection.answer(),
    };
    let plan = shared.faults.take();
    let limit = shared.config.payload_limit_bytes;
    let answer = match read_body(req.into_body(), limit).await {
        Err(rejection) => rejection.answer(),
        Ok(raw) => {
            lock(&shared.stats).compressed_bytes += raw.len() as u64;
            match plan.fail {
                Some(status) => fault_answer(status),
                None => {
                    // Decompressing and parsing up to the payload limit is CPU work: off the reactor.
                    let shared = Arc::clone(shared);
                    let batch = RawBatch {
                        org,
                        stream,
                        kind,
                        encoding,
                        raw,
                        plan,
                        started,
                    };
                    let work = move || process(&shared, batch);
                    tokio::task::spawn_blocking(work).await.unwrap_or_else(|_| {
                        error_answer(StatusCode::INTERNAL_SERVER_ERROR, "ingestion task failed")
                    })
                }
            }
        }
    };
    if let Some(delay) = plan.stall {
        tokio::time::sleep(delay).await;
    }
    answer
}

/// One ingestion request past the admission checks, body read but not decoded.
struct RawBatch {
    org: String,
    stream: Option<String>,
    kind: IngestKind,
    encoding: Encoding,
    raw: Bytes,
    plan: FaultPlan,
    started: Instant,
}

fn process(shared: &Shared, batch: RawBatch) -> Answer {
    let RawBatch {
        org,
        stream,
        kind,
        encoding,
        raw,
        plan,
        started,
    } = batch;
    let org = org.as_str();
    let limit = shared.config.payload_limit_bytes;
    let body = match decode(encoding, raw, limit) {
        Ok(body) => body,
        Err(rejection) => return rejection.answer(),
    };
    lock(&shared.stats).decompressed_bytes += body.len() as u64;
    let parsed = match kind {
        IngestKind::Bulk => parse_bulk(&body),
        IngestKind::Json => parse_json(&body).map(|docs| single_stream(stream.as_deref(), docs)),
        IngestKind::Multi => parse_multi(&body).map(|docs| single_stream(stream.as_deref(), docs)),
    };
    let batch = match parsed.and_then(group_by_stream) {
        Ok(batch) => batch,
        Err(message) => return error_answer(StatusCode::BAD_REQUEST, &message),
    };
    let checks = Checks {
        now_us: shared.now_us(),
        allowed_upto_hours: shared.config.allowed_upto_hours,
        allowed_in_future_hours: shared.config.allowed_in_future_hours,
        cols_limit: shared.config.cols_per_record_limit,
        bulk: kind == IngestKind::Bulk,
        drop_last: plan.drop_silently,
    };
    let results: Vec<StreamResult> = {
        let mut store = lock(&shared.store);
        batch
            .into_iter()
            .map(|(name, entries)| {
                let outcomes = store.ingest(org, &name, entries.iter().map(|e| &e.doc), checks);
                StreamResult {
                    name,
                    entries,
                    outcomes,
                }
            })
            .collect()
    };
    lock(&shared.stats).count_outcomes(results.iter().flat_map(|r| r.outcomes.iter()));
    shared.arrived.notify_waiters();
    match kind {
        IngestKind::Bulk => bulk_answer(&results, started),
        IngestKind::Json | IngestKind::Multi => status_answer(&results),
    }
}

/// One input document with where it came from.
struct Entry {
    action: &'static str,
    stream: String,
    doc: Value,
}

struct StreamResult {
    name: String,
    entries: Vec<Entry>,
    outcomes: Vec<Outcome>,
}

fn single_stream(stream: Option<&str>, docs: Vec<Value>) -> Vec<Entry> {
    let stream = stream.unwrap_or_default();
    docs.into_iter()
        .map(|doc| Entry {
            action: "index",
            stream: stream.to_owned(),
            doc,
        })
        .collect()
}

/// Groups entries by normalized stream name (sorted), each group in input order.
fn group_by_stream(entries: Vec<Entry>) -> Result<BTreeMap<String, Vec<Entry>>, String> {
    let mut groups: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    for entry in entries {
        let name = normalize_stream_name(&entry.stream);
        if name.is_empty() {
            return Err("stream name is empty".to_owned());
        }
        groups.entry(name).or_default().push(entry);
    }
    Ok(groups)
}

fn parse_json(body: &[u8]) -> Result<Vec<Value>, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(docs)) => Ok(docs),
        Ok(doc @ Value::Object(_)) => Ok(vec![doc]),
        Ok(_) => {
            Err("Invalid json: the body must be a JSON array of objects or one object".to_owned())
        }
        Err(e) => Err(format!("Invalid json: {e}")),
    }
}

fn lines(body: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    body.split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, line)| (i + 1, line.strip_suffix(b"\r").unwrap_or(line)))
        .filter(|(_, line)| line.iter().any(|b| !b.is_ascii_whitespace()))
}

fn parse_multi(body: &[u8]) -> Result<Vec<Value>, String> {
    lines(body)
        .map(|(n, line)| {
            serde_json::from_slice(line).map_err(|e| format!("Invalid json on line {n}: {e}"))
        })
        .collect()
}

fn parse_bulk(body: &[u8]) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    let mut lines = lines(body);
    while let Some((n, line)) = lines.next() {
        let action: Value =
            serde_json::from_slice(line).map_err(|e| format!("Invalid json on line {n}: {e}"))?;
        let (action, meta) = match &action {
            Value::Object(map) if map.len() == 1 => match map.iter().next() {
                Some((name, meta)) if name == "index" => ("index", meta),
                Some((name, meta)) if name == "create" => ("create", meta),
                Some((name, _)) => {
                    return Err(format!("line {n}: bulk action '{name}' is not supported"))
                }
                None => return Err(format!("line {n}: empty bulk action")),
            },
            _ => {
                return Err(format!(
                    "line {n}: expected a bulk action like {{\"index\":{{\"_index\":\"stream\"}}}}"
                ))
            }
        };
        let Some(stream) = meta.get("_index").and_then(Value::as_str) else {
            return Err(format!("line {n}: the bulk action has no _index"));
        };
        let Some((doc_n, doc_line)) = lines.next() else {
            return Err(format!(
                "line {n}: the bulk action has no document after it"
            ));
        };
        let doc = serde_json::from_slice(doc_line)
            .map_err(|e| format!("Invalid json on line {doc_n}: {e}"))?;
        entries.push(Entry {
            action,
            stream: stream.to_owned(),
            doc,
        });
    }
    Ok(entries)
}

/// `_json`/`_multi` answer: counts per stream, with the last error only.
fn status_answer(results: &[StreamResult]) -> Answer {
    let status: Vec<Value> = results
        .iter()
        .map(|r| {
            let successful = r
                .outcomes
                .iter()
                .filter(|o| matches!(o, Outcome::Accepted))
                .count();
            let failures = r.outcomes.iter().filter_map(|o| match o {
                Outcome::Failed(f) => Some(f),
                _ => None,
            });
            let (failed, last) = failures.fold((0, None), |(n, _), f| (n + 1, Some(f)));
            let mut item = json!({"name": r.name, "successful": successful, "failed": failed});
            if let Some(last) = last {
                item["error"] = Value::from(last.reason.clone());
            }
            item
        })
        .collect();
    json_answer(StatusCode::OK, &json!({"code": 200, "status": status}))
}

/// `_bulk` answer: items grouped by stream (sorted by name), failures of a stream before its
/// successes, as OpenObserve emits them; never the input order.
fn bulk_answer(results: &[StreamResult], started: Instant) -> Answer {
    let mut items = Vec::new();
    let mut errors = false;
    for r in results {
        for (entry, outcome) in r.entries.iter().zip(&r.outcomes) {
            if let Outcome::Failed(f) = outcome {
                errors = true;
                items.push(json!({entry.action: {
                    "_index": r.name,
                    "status": 422,
                    "error": {"type": "mapper_parsing_exception", "reason": f.reason},
                    "originalRecord": entry.doc,
                }}));
            }
        }
        for (entry, outcome) in r.entries.iter().zip(&r.outcomes) {
            if let Outcome::Accepted = outcome {
                items.push(json!({entry.action: {"_index": r.name, "status": 200}}));
            }
        }
    }
    let took = started.elapsed().as_millis() as u64;
    json_answer(
        StatusCode::OK,
        &json!({"took": took, "errors": errors, "items": items}),
    )
}

/// Why a request is refused as a whole, before any record is looked at; turned into
/// OpenObserve's answer in one place.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Rejection {
    /// 415, with `Accept-Encoding`.
    UnsupportedEncoding { accept_zstd: bool },
    /// 401.
    Unauthorized,
    /// 404 for an org that is not modelled.
    OrgNotFound,
    /// 413: over the payload limit, raw or decoded.
    PayloadTooLarge,
    /// 400 with a message.
    BadRequest(String),
}

impl Rejection {
    pub(crate) fn answer(self) -> Answer {
        match self {
            Rejection::UnsupportedEncoding { accept_zstd } => unsupported_encoding(accept_zstd),
            Rejection::Unauthorized => unauthorized(),
            Rejection::OrgNotFound => error_answer(StatusCode::NOT_FOUND, "organization not found"),
            Rejection::PayloadTooLarge => payload_too_large(),
            Rejection::BadRequest(message) => error_answer(StatusCode::BAD_REQUEST, &message),
        }
    }
}

/// What an injected fault answers: bodies shaped like OpenObserve's.
fn fault_answer(status: u16) -> Answer {
    let code = StatusCode::from_u16(status)
        .ok()
        .filter(|c| (100..=999).contains(&c.as_u16()))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match code.as_u16() {
        401 => unauthorized(),
        413 => payload_too_large(),
        415 => unsupported_encoding(false),
        429 => error_answer(
            code,
            "Too Many Requests: ingestion rate limit exceeded, retry later",
        ),
        503 => error_answer(
            code,
            "ingestion error: memtable is full (ZO_MEM_TABLE_MAX_SIZE), retry later",
        ),
        _ => error_answer(code, code.canonical_reason().unwrap_or("injected fault")),
    }
}

pub(crate) fn json_answer(status: StatusCode, body: &Value) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::from(body.to_string())));
    *answer.status_mut() = status;
    answer
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    answer
}

pub(crate) fn text_answer(status: StatusCode, body: &str) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::from(body.to_owned())));
    *answer.status_mut() = status;
    answer.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    answer
}

/// OpenObserve's error body: `{"code":N,"message":".."}`.
pub(crate) fn error_answer(status: StatusCode, message: &str) -> Answer {
    json_answer(
        status,
        &json!({"code": status.as_u16(), "message": message}),
    )
}

fn unauthorized() -> Answer {
    text_answer(StatusCode::UNAUTHORIZED, "Unauthorized Access")
}

/// Like the body-limit rejection of the axum-era server: plain text.
fn payload_too_large() -> Answer {
    text_answer(
        StatusCode::PAYLOAD_TOO_LARGE,
        "Failed to buffer the request body: length limit exceeded",
    )
}

/// Like tower-http's decompression layer: empty body, `Accept-Encoding` listing what it takes.
fn unsupported_encoding(accept_zstd: bool) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::new()));
    *answer.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
    let accepted = if accept_zstd {
        "gzip,deflate,br,zstd"
    } else {
        "gzip,deflate,br"
    };
    answer
        .headers_mut()
        .insert(ACCEPT_ENCODING, HeaderValue::from_static(accepted));
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_method_and_path() {
        let r = Route::parse(&Method::POST, "/api/default/My%20Stream/_json");
        assert!(
            matches!(r, Route::Ingest { ref stream, kind: IngestKind::Json, .. } if stream.as_deref() == Some("My Stream"))
        );
        assert!(matches!(
            Route::parse(&Method::GET, "/api/default/_bulk"),
            Route::WrongMethod
        ));
        assert!(matches!(
            Route::parse(&Method::GET, "/healthz"),
            Route::Healthz
        ));
        assert!(matches!(
            Route::parse(&Method::POST, "/api/default/s/_other"),
            Route::Unknown
        ));
        assert!(
            matches!(Route::parse(&Method::GET, "/_standin/stats"), Route::Control(ref p) if p == "stats")
        );
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(decode_segment("a%2Fb"), "a/b");
        assert_eq!(decode_segment("a%2"), "a%2");
        assert_eq!(decode_segment("%zz%"), "%zz%");
    }

    #[test]
    fn bulk_needs_an_index_and_a_document() {
        assert!(parse_bulk(b"{\"index\":{}}\n{}\n").is_err());
        assert!(parse_bulk(b"{\"index\":{\"_index\":\"s\"}}\n").is_err());
        assert!(parse_bulk(b"{\"delete\":{\"_index\":\"s\"}}\n").is_err());
        let entries = parse_bulk(b"{\"create\":{\"_index\":\"s\"}}\r\n\n{\"a\":1}\n").unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].action, "create");
    }

    #[test]
    fn decoding_stops_at_the_limit() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&vec![b'a'; 10_000]).unwrap();
        let raw = Bytes::from(gz.finish().unwrap());
        assert_eq!(
            decode(Encoding::Gzip, raw.clone(), 10_000).unwrap().len(),
            10_000
        );
        assert_eq!(
            decode(Encoding::Gzip, raw, 9_999).unwrap_err(),
            Rejection::PayloadTooLarge
        );
        let bad = decode(Encoding::Zstd, Bytes::from_static(b"not zstd"), 100).unwrap_err();
        assert!(matches!(bad, Rejection::BadRequest(_)));
    }
}
