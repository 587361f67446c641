//! The control API under `/_standin/`, for tests that run the stand-in as a separate process.
//! No auth: it is a test fixture on loopback.
//!
//! | request | effect |
//! |---|---|
//! | `POST /_standin/faults` | a [`FaultCommand`](super::FaultCommand) or an array of them |
//! | `POST /_standin/clock` | `{"now_us": 1704067200000000}` or `{"now_us": null}` for real time |
//! | `POST /_standin/reset` | forget records, schemas, stats and faults |
//! | `GET /_standin/stats` | [`Stats`](super::Stats) as JSON |
//! | `GET /_standin/streams[?org=]` | JSON array of stream names |
//! | `GET /_standin/records?stream=s[&org=]` | the stream's records as NDJSON |

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use super::faults::FaultCommand;
use super::server::{
    decode_segment, error_answer, json_answer, read_body, text_answer, Answer, Rejection,
};
use super::{lock, Shared};

/// Control bodies are small; this bounds what one may allocate.
const CONTROL_BODY_LIMIT: usize = 1 << 20;

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum FaultCommands {
    One(FaultCommand),
    Many(Vec<FaultCommand>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockRequest {
    now_us: Option<i64>,
}

pub(crate) async fn handle(shared: &Arc<Shared>, path: &str, req: Request<Incoming>) -> Answer {
    let query = req.uri().query().unwrap_or_default().to_owned();
    let param = |name: &str| {
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_segment(k) == name).then(|| decode_segment(&v.replace('+', " ")))
        })
    };
    let org = param("org").unwrap_or_else(|| shared.config.org.clone());
    let method = req.method().clone();
    match (method, path) {
        (Method::GET, "stats") => json_answer(StatusCode::OK, &json!(lock(&shared.stats).clone())),
        (Method::GET, "streams") => {
            json_answer(StatusCode::OK, &json!(lock(&shared.store).streams(&org)))
        }
        (Method::GET, "records") => {
            let Some(stream) = param("stream") else {
                return error_answer(StatusCode::BAD_REQUEST, "records needs ?stream=<name>");
            };
            let mut ndjson = String::new();
            lock(&shared.store).with_records(&org, &stream, |records| {
                for record in records {
                    ndjson.push_str(&Value::Object(record.clone()).to_string());
                    ndjson.push('\n');
                }
            });
            let mut answer = Response::new(Full::new(Bytes::from(ndjson)));
            answer.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-ndjson"),
            );
            answer
        }
        (Method::POST, "faults") => match read_json::<FaultCommands>(req).await {
            Ok(FaultCommands::One(command)) => ok(|| shared.faults.apply(command)),
            Ok(FaultCommands::Many(commands)) => {
                ok(|| commands.into_iter().for_each(|c| shared.faults.apply(c)))
            }
            Err(rejection) => rejection.answer(),
        },
        (Method::POST, "clock") => match read_json::<ClockRequest>(req).await {
            Ok(clock) => ok(|| shared.set_now_us(clock.now_us)),
            Err(rejection) => rejection.answer(),
        },
        (Method::POST, "reset") => ok(|| shared.reset()),
        _ => text_answer(StatusCode::NOT_FOUND, "Not Found"),
    }
}

fn ok(effect: impl FnOnce()) -> Answer {
    effect();
    json_answer(StatusCode::OK, &json!({"ok": true}))
}

async fn read_json<T: for<'de> Deserialize<'de>>(req: Request<Incoming>) -> Result<T, Rejection> {
    let body = read_body(req.into_body(), CONTROL_BODY_LIMIT).await?;
    serde_json::from_slice(&body)
        .map_err(|e| Rejection::BadRequest(format!("bad control request: {e}")))
}
