//! The OpenObserve stand-in over real HTTP: every endpoint and body form, auth, encodings, limits,
//! per-record failures, faults, `_search`, the control API and the binary.

use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::{Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use simulator::openobserve::{FailureKind, OpenObserveConfig, OpenObserveStandIn};

const NOW: i64 = 1_704_067_200_000_000; // 2024-01-01T00:00:00Z
const HOUR: i64 = 3_600_000_000;

struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A real HTTP client against one stand-in, with its credentials.
struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
    auth: String,
}

impl Http {
    fn new(oo: &OpenObserveStandIn) -> Http {
        let c = oo.config();
        Http::with_base(oo.url(), &c.user, &c.password)
    }

    fn with_base(base: String, user: &str, password: &str) -> Http {
        let creds = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Http {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base,
            auth: format!("Basic {creds}"),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let response = self
            .client
            .request(req.body(Full::new(body.into())).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Authenticated POST with an optional Content-Encoding.
    async fn post(&self, path: &str, encoding: Option<&str>, body: impl Into<Bytes>) -> Reply {
        let mut headers = vec![("authorization", self.auth.as_str())];
        if let Some(e) = encoding {
            headers.push(("content-encoding", e));
        }
        self.send(Method::POST, path, &headers, body).await
    }

    async fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.post(path, None, body.to_string()).await
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, &[], Bytes::new()).await
    }

    /// Authenticated GET.
    async fn get_as(&self, path: &str) -> Reply {
        let auth = [("authorization", self.auth.as_str())];
        self.send(Method::GET, path, &auth, Bytes::new()).await
    }
}

async fn start(config: OpenObserveConfig) -> (OpenObserveStandIn, Http) {
    let oo = OpenObserveStandIn::start(config).await.unwrap();
    oo.set_now_us(Some(NOW));
    let http = Http::new(&oo);
    (oo, http)
}

async fn start_default() -> (OpenObserveStandIn, Http) {
    start(OpenObserveConfig::default()).await
}

fn ndjson(docs: &[Value]) -> String {
    docs.iter().map(|d| format!("{d}\n")).collect()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[tokio::test]
async fn healthz_answers_without_auth() {
    let (oo, http) = start_default().await;
    let r = http.get("/healthz").await;
    assert_eq!((r.status, r.json()), (200, json!({"status": "ok"})));
    assert_eq!(
        http.send(Method::POST, "/healthz", &[], "").await.status,
        405
    );
    assert_eq!(http.get("/api/default/nope").await.status, 404);
    assert_eq!(http.get("/api/default/s/_json").await.status, 405);
    oo.shutdown().await;
}

#[tokio::test]
async fn json_takes_an_array_or_one_object() {
    let (oo, http) = start_default().await;
    let r = http
        .post_json(
            "/api/default/app/_json",
            &json!([{"msg": "a", "_timestamp": NOW}, {"msg": "b"}]),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"code": 200, "status": [{"name": "app", "successful": 2, "failed": 0}]})
    );
    let r = http
        .post_json("/api/default/app/_json", &json!({"msg": "c"}))
        .await;
    assert_eq!(r.json()["status"][0]["successful"], 1);
    let msgs: Vec<_> = oo.records("app").iter().map(|r| r["msg"].clone()).collect();
    assert_eq!(msgs, [json!("a"), json!("b"), json!("c")]);
    assert_eq!(
        oo.records("app")[1]["_timestamp"],
        json!(NOW),
        "missing _timestamp is now"
    );
    assert_eq!(
        http.post("/api/default/app/_json", None, "42").await.status,
        400
    );
    assert_eq!(oo.count("app"), 3);
}

#[tokio::test]
async fn multi_takes_ndjson_and_one_bad_line_fails_the_request() {
    let (oo, http) = start_default().await;
    let body = format!("{}\r\n\n{}\n", json!({"n": 1}), json!({"n": 2}));
    let r = http.post("/api/default/m/_multi", None, body).await;
    assert_eq!(
        r.json()["status"][0],
        json!({"name": "m", "successful": 2, "failed": 0})
    );
    let r = http
        .post(
            "/api/default/m/_multi",
            None,
            format!("{}\n{{oops\n", json!({"n": 3})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], 400);
    assert!(r.json()["message"].as_str().unwrap().contains("line 2"));
    assert_eq!(oo.count("m"), 2, "nothing of a 400 request is kept");
}

#[tokio::test]
async fn bulk_groups_items_by_stream_with_original_records() {
    let (oo, http) = start_default().await;
    let body = ndjson(&[
        json!({"index": {"_index": "b_stream"}}),
        json!({"seq": 0}),
        json!({"create": {"_index": "A-Stream"}}),
        json!({"seq": 1}),
        json!({"index": {"_index": "b_stream"}}),
        json!({"seq": 2, "_timestamp": NOW - 48 * HOUR}),
        json!({"index": {"_index": "a_stream"}}),
        json!({"seq": 3, "@timestamp": "whatever"}),
    ]);
    let r = http.post("/api/default/_bulk", None, body).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["errors"], true);
    assert!(v["took"].is_u64());
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    // a_stream first (sorted), then b_stream with its failure before its success.
    assert_eq!(
        items[0],
        json!({"create": {"_index": "a_stream", "status": 200}})
    );
    assert_eq!(
        items[1],
        json!({"index": {"_index": "a_stream", "status": 200}})
    );
    let failed = &items[2]["index"];
    assert_eq!(failed["_index"], "b_stream");
    assert_eq!(failed["status"], 422);
    assert_eq!(
        failed["originalRecord"],
        json!({"seq": 2, "_timestamp": NOW - 48 * HOUR})
    );
    assert!(failed["error"]["reason"]
        .as_str()
        .unwrap()
        .starts_with("Too old data"));
    assert!(failed["error"]["type"].is_string());
    assert_eq!(
        items[3],
        json!({"index": {"_index": "b_stream", "status": 200}})
    );
    assert_eq!(oo.streams(), ["a_stream", "b_stream"]);
    assert_eq!(
        oo.records("a_stream")[1]["_timestamp"],
        json!(NOW),
        "@timestamp is overwritten with now"
    );
    assert!(!oo.records("a_stream")[1].contains_key("@timestamp"));
    assert_eq!(
        http.post(
            "/api/default/_bulk",
            None,
            "{\"index\":{\"_index\":\"s\"}}\n"
        )
        .await
        .status,
        400
    );
}

#[tokio::test]
async fn bad_or_missing_credentials_are_unauthorized() {
    let config = OpenObserveConfig {
        ingestion_passcode: Some("pass-code".into()),
        ..Default::default()
    };
    let (oo, http) = start(config).await;
    let body = json!([{"a": 1}]).to_string();
    let none = http
        .send(Method::POST, "/api/default/s/_json", &[], body.clone())
        .await;
    assert_eq!(
        (none.status, none.text()),
        (401, "Unauthorized Access".to_owned())
    );
    let wrong = Http::with_base(oo.url(), "root@example.com", "nope");
    assert_eq!(
        wrong
            .post("/api/default/s/_json", None, body.clone())
            .await
            .status,
        401
    );
    let bearer = [("authorization", "Bearer abc")];
    assert_eq!(
        http.send(Method::POST, "/api/default/s/_json", &bearer, body.clone())
            .await
            .status,
        401
    );
    let garbage = [("authorization", "Basic !!!")];
    assert_eq!(
        http.send(Method::POST, "/api/default/s/_json", &garbage, body.clone())
            .await
            .status,
        401
    );
    let passcode = Http::with_base(oo.url(), "root@example.com", "pass-code");
    assert_eq!(
        passcode
            .post("/api/default/s/_json", None, body.clone())
            .await
            .status,
        200
    );
    assert_eq!(
        http.post("/api/default/s/_json", None, body).await.status,
        200
    );
    assert_eq!(oo.count("s"), 2);
    assert_eq!(oo.stats().requests_by_status[&401], 4);
}

#[tokio::test]
async fn the_ingestion_passcode_ingests_only_and_the_password_reads_it() {
    let (oo, http) = start(OpenObserveConfig {
        ingestion_passcode: Some("pc0123456789abcd".into()),
        ..Default::default()
    })
    .await;
    let passcode = Http::with_base(oo.url(), "root@example.com", "pc0123456789abcd");
    // The password reads the passcode, shaped as OpenObserve's PasscodeResponse.
    let r = http.get_as("/api/default/passcode").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"data": {"passcode": "pc0123456789abcd", "user": "root@example.com"}})
    );
    // The passcode ingests on all three ingestion endpoints…
    let doc = json!({"a": 1});
    assert_eq!(
        passcode
            .post_json("/api/default/s/_json", &json!([doc]))
            .await
            .status,
        200
    );
    assert_eq!(
        passcode
            .post(
                "/api/default/s/_multi",
                None,
                ndjson(std::slice::from_ref(&doc))
            )
            .await
            .status,
        200
    );
    let bulk = ndjson(&[json!({"index": {"_index": "s"}}), doc]);
    assert_eq!(
        passcode.post("/api/default/_bulk", None, bulk).await.status,
        200
    );
    assert_eq!(oo.count("s"), 3);
    // …and nothing else: not the passcode itself, not search, not management.
    assert_eq!(passcode.get_as("/api/default/passcode").await.status, 401);
    let sql =
        json!({"query": {"sql": "SELECT * FROM \"s\"", "start_time": 0, "end_time": NOW + 1}});
    assert_eq!(
        passcode
            .post_json("/api/default/_search", &sql)
            .await
            .status,
        401
    );
    assert_eq!(
        http.post_json("/api/default/_search", &sql).await.status,
        200
    );
    assert_eq!(passcode.get_as("/api/default/dashboards").await.status, 401);
    assert_eq!(http.get_as("/api/default/dashboards").await.status, 200);
    // Only GET reads it; without a passcode configured the server has none to give.
    let put = http
        .send(
            Method::POST,
            "/api/default/passcode",
            &[("authorization", http.auth.as_str())],
            Bytes::new(),
        )
        .await;
    assert_eq!(put.status, 405);
    let (_oo, plain) = start_default().await;
    assert_eq!(plain.get_as("/api/default/passcode").await.status, 404);
}

#[tokio::test]
async fn unknown_orgs_are_404_when_orgs_are_modelled() {
    let (oo, http) = start(OpenObserveConfig {
        accept_any_org: false,
        ..Default::default()
    })
    .await;
    let r = http
        .post_json("/api/other/s/_json", &json!([{"a": 1}]))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        http.post_json("/api/default/s/_json", &json!([{"a": 1}]))
            .await
            .status,
        200
    );
    let (any, http) = start_default().await;
    assert_eq!(
        http.post_json("/api/other/s/_json", &json!([{"a": 1}]))
            .await
            .status,
        200
    );
    assert_eq!(any.records_in("other", "s").len(), 1);
    assert!(any.records("s").is_empty());
    drop(oo);
}

#[tokio::test]
async fn every_accepted_encoding_decodes() {
    let (oo, http) = start(OpenObserveConfig {
        accept_zstd: true,
        ..Default::default()
    })
    .await;
    let plain = json!([{"msg": "x".repeat(200)}]).to_string().into_bytes();
    let deflate = {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&plain).unwrap();
        e.finish().unwrap()
    };
    let br = {
        let mut out = Vec::new();
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(&plain).unwrap();
        drop(w);
        out
    };
    let zstd = zstd::encode_all(&plain[..], 3).unwrap();
    let cases: [(Option<&str>, Vec<u8>); 5] = [
        (None, plain.clone()),
        (Some("gzip"), gzip(&plain)),
        (Some("deflate"), deflate),
        (Some("br"), br),
        (Some("zstd"), zstd),
    ];
    let mut compressed = 0;
    for (encoding, body) in cases {
        compressed += body.len() as u64;
        let r = http.post("/api/default/enc/_json", encoding, body).await;
        assert_eq!(r.status, 200, "{encoding:?}: {}", r.text());
        assert_eq!(r.json()["status"][0]["successful"], 1, "{encoding:?}");
    }
    assert_eq!(oo.count("enc"), 5);
    let stats = oo.stats();
    for e in ["identity", "gzip", "deflate", "br", "zstd"] {
        assert_eq!(stats.requests_by_encoding[e], 1, "{e}");
    }
    assert_eq!(stats.compressed_bytes, compressed);
    assert_eq!(stats.decompressed_bytes, 5 * plain.len() as u64);
    let r = http
        .post("/api/default/enc/_json", Some("gzip"), b"not gzip".to_vec())
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn zstd_is_415_before_auth_in_the_released_mode() {
    let (oo, http) = start_default().await;
    let body = zstd::encode_all(&b"[{\"a\":1}]"[..], 3).unwrap();
    // No credentials at all: the encoding check comes first.
    let r = http
        .send(
            Method::POST,
            "/api/default/s/_json",
            &[("content-encoding", "zstd")],
            body.clone(),
        )
        .await;
    assert_eq!(r.status, 415);
    assert_eq!(r.headers["accept-encoding"], "gzip,deflate,br");
    assert_eq!(
        http.post("/api/default/_bulk", Some("zstd"), body)
            .await
            .status,
        415
    );
    assert_eq!(
        http.post("/api/default/s/_json", Some("compress"), "[]")
            .await
            .status,
        415
    );
    let stats = oo.stats();
    assert_eq!(stats.requests_by_encoding["zstd"], 2);
    assert_eq!(stats.requests_by_status[&415], 3);
    assert_eq!(oo.count("s"), 0);
}

#[tokio::test]
async fn unknown_encodings_count_as_other_and_accept_encoding_is_counted() {
    let (oo, http) = start_default().await;
    // Whatever a client sends as Content-Encoding, the counter map stays bounded.
    for i in 0..20 {
        let r = http
            .post("/api/default/s/_json", Some(&format!("made-up-{i}")), "[]")
            .await;
        assert_eq!(r.status, 415);
    }
    let r = http
        .post("/api/default/s/_json", Some("X-GZIP"), gzip(b"[{\"a\":1}]"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let stats = oo.stats();
    assert_eq!(stats.requests_by_encoding["other"], 20);
    assert_eq!(stats.requests_by_encoding["gzip"], 1);
    assert_eq!(stats.requests_by_encoding.len(), 2, "{stats:?}");
    assert_eq!(
        stats.requests_with_accept_encoding, 0,
        "this client sends none"
    );

    // A request with Accept-Encoding is counted, whatever its route and answer.
    let auth = http.auth.clone();
    let headers = [
        ("authorization", auth.as_str()),
        ("accept-encoding", "gzip, br"),
    ];
    let r = http
        .send(
            Method::POST,
            "/api/default/s/_json",
            &headers,
            "[{\"a\":2}]",
        )
        .await;
    assert_eq!(r.status, 200);
    let r = http
        .send(
            Method::POST,
            "/api/default/s/_json",
            &[("accept-encoding", "zstd")],
            "[]",
        )
        .await;
    assert_eq!(r.status, 401);
    let r = http
        .send(
            Method::GET,
            "/_standin/stats",
            &[("accept-encoding", "gzip")],
            "",
        )
        .await;
    assert_eq!(r.status, 200, "the control API is not counted");
    assert_eq!(oo.stats().requests_with_accept_encoding, 2);
    assert_eq!(
        r.json()["requests_with_accept_encoding"],
        2,
        "served by the control API too"
    );
    oo.reset();
    assert_eq!(oo.stats().requests_with_accept_encoding, 0);
}

#[tokio::test]
async fn the_payload_limit_applies_to_the_decompressed_size() {
    let (oo, http) = start(OpenObserveConfig {
        payload_limit_bytes: 10_000,
        ..Default::default()
    })
    .await;
    let big = json!([{"msg": "x".repeat(20_000)}]).to_string();
    let small_on_the_wire = gzip(big.as_bytes());
    assert!(small_on_the_wire.len() < 1000);
    let r = http
        .post("/api/default/s/_json", Some("gzip"), small_on_the_wire)
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(
        http.post("/api/default/s/_json", None, big).await.status,
        413
    );
    let fits = json!([{"msg": "x".repeat(5_000)}]).to_string();
    assert_eq!(
        http.post("/api/default/s/_json", Some("gzip"), gzip(fits.as_bytes()))
            .await
            .status,
        200
    );
    assert_eq!(oo.count("s"), 1);
}

#[tokio::test]
async fn bad_json_fails_the_whole_request() {
    let (oo, http) = start_default().await;
    assert_eq!(
        http.post("/api/default/s/_json", None, "[{\"a\":1},")
            .await
            .status,
        400
    );
    assert_eq!(
        http.post("/api/default/s/_json", None, "").await.status,
        400
    );
    let bulk = format!(
        "{}\n{}\n{}\nnot json\n",
        json!({"index":{"_index":"s"}}),
        json!({"a":1}),
        json!({"index":{"_index":"s"}})
    );
    let r = http.post("/api/default/_bulk", None, bulk).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].is_string());
    assert_eq!(oo.count("s"), 0);
}

#[tokio::test]
async fn each_per_record_failure_is_reported_and_counted() {
    let config = OpenObserveConfig {
        cols_per_record_limit: 5,
        ..Default::default()
    };
    let (oo, http) = start(config).await;
    let docs = json!([
        {"_timestamp": NOW - HOUR, "level": "info", "took": 1.5},
        {"_timestamp": NOW - 25 * HOUR, "level": "old"},
        {"_timestamp": NOW + 25 * HOUR, "level": "future"},
        {"_timestamp": "2024-01-01 00:00:00.123 UTC", "level": "pg"},
        {"_timestamp": "2024-01-01 00:00:00", "level": "ok-string-time"},
        {"_timestamp": "2023-12-31T23:00:00Z", "level": 3},
        {"level": "ok", "took": 2},
        {"a": 1, "b": 2, "c": 3},
    ]);
    let r = http.post_json("/api/default/s/_json", &docs).await;
    assert_eq!(r.status, 200);
    let status = &r.json()["status"][0];
    assert_eq!(
        (status["successful"].as_u64(), status["failed"].as_u64()),
        (Some(3), Some(5))
    );
    assert!(
        status["error"]
            .as_str()
            .unwrap()
            .starts_with("Too many cols"),
        "only the last error: {status}"
    );
    let stats = oo.stats();
    for kind in [
        FailureKind::TooOld,
        FailureKind::TooFar,
        FailureKind::BadTimestamp,
        FailureKind::TypeConflict,
        FailureKind::TooManyColumns,
    ] {
        assert_eq!(stats.records_failed[&kind], 1, "{kind:?}");
    }
    assert_eq!(stats.records_accepted, 3);
    assert_eq!(stats.records_failed_total(), 5);
    let kept = oo.records("s");
    assert_eq!(
        kept[1]["_timestamp"],
        json!(NOW),
        "string times are stored as µs"
    );
    assert_eq!(kept[2]["took"], json!(2), "an integer fits a float field");

    // Each message, one request at a time (the last error is the only one reported).
    let cases = [
        (json!({"_timestamp": NOW - 25 * HOUR}), "Too old data"),
        (json!({"_timestamp": NOW + 25 * HOUR}), "Too far data"),
        (
            json!({"_timestamp": "2024-01-01 00:00:00.123 UTC"}),
            "Error parsing _timestamp",
        ),
        (json!({"level": true}), "field 'level' has type Utf8"),
    ];
    for (doc, reason) in cases {
        let r = http.post_json("/api/default/s/_json", &json!([doc])).await;
        let status = &r.json()["status"][0];
        assert_eq!(status["failed"], 1);
        assert!(
            status["error"].as_str().unwrap().starts_with(reason),
            "{status}"
        );
    }
}

#[tokio::test]
async fn stream_and_field_names_are_normalized() {
    let (oo, http) = start_default().await;
    let doc = json!({"User-Name": "x", "Nested": {"Inner Key": {"deep": {"deeper": 1}}, "n": null}, "Tags": ["a", "b"]});
    let r = http
        .post_json(
            "/api/default/Aurora-Logs..Slow%20Query/_json",
            &json!([doc]),
        )
        .await;
    assert_eq!(r.json()["status"][0]["name"], "aurora_logs_slow_query");
    assert_eq!(oo.streams(), ["aurora_logs_slow_query"]);
    let record = &oo.records("Aurora-Logs..Slow Query")[0];
    let mut keys: Vec<_> = record.keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        ["_timestamp", "nested_inner_key_deep", "tags", "user_name"]
    );
    assert_eq!(record["nested_inner_key_deep"], json!("{\"deeper\":1}"));
    assert_eq!(record["tags"], json!("[\"a\",\"b\"]"));
}

#[tokio::test]
async fn injected_statuses_answer_like_openobserve() {
    let (oo, http) = start_default().await;
    let faults = oo.faults();
    faults.fail_next(503, 2);
    faults.fail_next(429, 1);
    faults.fail_next(413, 1);
    faults.fail_next(500, 1);
    let body = json!([{"a": 1}]);
    let mut seen = Vec::new();
    for _ in 0..6 {
        let r = http.post_json("/api/default/s/_json", &body).await;
        seen.push(r.status);
        if r.status == 503 || r.status == 429 || r.status == 500 {
            assert_eq!(r.json()["code"], r.status);
            assert!(r.json()["message"].is_string());
        }
    }
    assert_eq!(seen, [503, 503, 429, 413, 500, 200]);
    assert_eq!(oo.count("s"), 1, "failed requests keep nothing");
    // Faults wait for an authenticated ingestion request: a 401 or a healthz does not use one.
    faults.fail_next(503, 1);
    assert_eq!(
        http.send(Method::POST, "/api/default/s/_json", &[], body.to_string())
            .await
            .status,
        401
    );
    assert_eq!(http.get("/healthz").await.status, 200);
    assert_eq!(
        http.post_json("/api/default/s/_json", &body).await.status,
        503
    );
    faults.fail_next(503, 5);
    faults.clear();
    assert_eq!(
        http.post_json("/api/default/s/_json", &body).await.status,
        200
    );
}

#[tokio::test]
async fn stalls_trigger_client_timeouts_and_still_keep_records() {
    let (oo, http) = start_default().await;
    oo.faults().stall_next(Duration::from_millis(400), 1);
    let body = json!([{"a": 1}]);
    let timed_out = tokio::time::timeout(
        Duration::from_millis(100),
        http.post_json("/api/default/s/_json", &body),
    )
    .await;
    assert!(timed_out.is_err(), "the answer must be late");
    let started = std::time::Instant::now();
    assert_eq!(
        http.post_json("/api/default/s/_json", &body).await.status,
        200
    );
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "only the next request stalls"
    );
    assert_eq!(
        oo.count("s"),
        2,
        "a slow server still kept the first batch: a retry duplicates it"
    );
}

#[tokio::test]
async fn silent_drops_answer_200_with_fewer_successes() {
    let (oo, http) = start_default().await;
    oo.faults().drop_silently_next(1);
    let r = http
        .post_json(
            "/api/default/s/_json",
            &json!([{"n": 1}, {"n": 2}, {"n": 3}]),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["status"][0],
        json!({"name": "s", "successful": 2, "failed": 0})
    );
    assert_eq!(oo.count("s"), 2);
    oo.faults().drop_silently_next(1);
    let bulk = ndjson(&[
        json!({"index": {"_index": "s"}}),
        json!({"n": 4}),
        json!({"index": {"_index": "s"}}),
        json!({"n": 5}),
    ]);
    let v = http.post("/api/default/_bulk", None, bulk).await.json();
    assert_eq!(
        (v["errors"].clone(), v["items"].as_array().unwrap().len()),
        (json!(false), 1)
    );
    assert_eq!(oo.stats().records_dropped_silently, 2);
    let r = http
        .post_json("/api/default/s/_json", &json!([{"n": 6}]))
        .await;
    assert_eq!(r.json()["status"][0]["successful"], 1, "one request only");
}

#[tokio::test]
async fn random_faults_repeat_with_the_seed() {
    async fn run() -> Vec<u16> {
        let (oo, http) = start_default().await;
        oo.faults().random(7, 0.5, &[503, 429]);
        let mut statuses = Vec::new();
        for _ in 0..12 {
            statuses.push(
                http.post_json("/api/default/s/_json", &json!({"a": 1}))
                    .await
                    .status,
            );
        }
        statuses
    }
    let first = run().await;
    assert_eq!(first, run().await);
    assert!(
        first.contains(&200) && first.iter().any(|s| *s != 200),
        "{first:?}"
    );
}

#[tokio::test]
async fn search_answers_select_and_count() {
    let (oo, http) = start_default().await;
    let docs: Vec<Value> = (0..10)
        .map(|i| json!({"i": i, "_timestamp": NOW - (10 - i) * 1000}))
        .collect();
    http.post_json("/api/default/logs/_json", &Value::Array(docs))
        .await;
    let query = |sql: &str, from: i64, size: i64| json!({"query": {"sql": sql, "start_time": NOW - 8000, "end_time": NOW, "from": from, "size": size}});
    let r = http
        .post_json(
            "/api/default/_search",
            &query("SELECT * FROM \"logs\"", 0, 3),
        )
        .await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["total"], 8, "start inclusive, end exclusive");
    let is: Vec<_> = v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["i"].as_i64().unwrap())
        .collect();
    assert_eq!(is, [9, 8, 7], "newest first");
    let v = http
        .post_json(
            "/api/default/_search",
            &query("SELECT * FROM logs ORDER BY _timestamp ASC", 2, 2),
        )
        .await
        .json();
    let is: Vec<_> = v["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["i"].as_i64().unwrap())
        .collect();
    assert_eq!(is, [4, 5]);
    let v = http
        .post_json(
            "/api/default/_search",
            &query("SELECT COUNT(*) AS n FROM \"logs\"", 0, 100),
        )
        .await
        .json();
    assert_eq!(v["hits"], json!([{"n": 8}]));
    let v = http
        .post_json(
            "/api/default/_search",
            &query("SELECT * FROM \"missing\"", 0, 100),
        )
        .await
        .json();
    assert_eq!(v["total"], 0);
    let r = http
        .post_json(
            "/api/default/_search",
            &query("SELECT i FROM logs WHERE i > 1", 0, 100),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        http.post("/api/default/_search", None, "{}").await.status,
        400
    );
    let anonymous = http
        .send(
            Method::POST,
            "/api/default/_search",
            &[],
            query("SELECT * FROM logs", 0, 1).to_string(),
        )
        .await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(
        oo.stats().requests_by_endpoint[&simulator::openobserve::Endpoint::Search],
        7
    );
}

#[tokio::test]
async fn the_control_api_drives_a_running_stand_in() {
    let (oo, http) = start_default().await;
    let post = |path: &'static str, body: Value| {
        let http = &http;
        async move { http.send(Method::POST, path, &[], body.to_string()).await }
    };
    assert_eq!(
        post(
            "/_standin/faults",
            json!([{"fail_next": {"status": 503, "n": 1}}, {"drop_silently_next": {"n": 1}}])
        )
        .await
        .status,
        200
    );
    assert_eq!(
        http.post_json("/api/default/s/_json", &json!([{"a": 1}]))
            .await
            .status,
        503
    );
    let r = http
        .post_json("/api/default/s/_json", &json!([{"a": 1}, {"a": 2}]))
        .await;
    assert_eq!(r.json()["status"][0]["successful"], 1);
    assert_eq!(
        post("/_standin/clock", json!({"now_us": NOW - 48 * HOUR}))
            .await
            .status,
        200
    );
    let r = http
        .post_json(
            "/api/default/s/_json",
            &json!([{"a": 3, "_timestamp": NOW - 49 * HOUR}]),
        )
        .await;
    assert_eq!(
        r.json()["status"][0]["successful"],
        1,
        "the clock moved back"
    );
    assert_eq!(
        post("/_standin/faults", json!({"nonsense": 1}))
            .await
            .status,
        400
    );

    let stats = http.get("/_standin/stats").await.json();
    assert_eq!(stats["records_accepted"], 2);
    assert_eq!(stats["records_dropped_silently"], 1);
    assert_eq!(stats["requests_by_status"]["503"], 1);
    assert_eq!(stats["requests_by_endpoint"]["json"], 3);
    assert_eq!(http.get("/_standin/streams").await.json(), json!(["s"]));
    let records = http.get("/_standin/records?stream=s").await;
    assert_eq!(records.headers["content-type"], "application/x-ndjson");
    let lines: Vec<Value> = records
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines
            .iter()
            .map(|l| l["a"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [1, 3]
    );
    assert_eq!(http.get("/_standin/records").await.status, 400);
    assert_eq!(post("/_standin/reset", json!({})).await.status, 200);
    assert_eq!(oo.count("s"), 0);
    assert_eq!(oo.stats().records_accepted, 0);
}

#[tokio::test]
async fn clones_share_the_server_and_shutdown_closes_it() {
    let (oo, http) = start_default().await;
    let clone = oo.clone();
    let task = tokio::spawn(async move { clone.faults().fail_next(503, 1) });
    task.await.unwrap();
    assert_eq!(
        http.post_json("/api/default/s/_json", &json!([{"a": 1}]))
            .await
            .status,
        503
    );
    oo.shutdown().await;
    let fresh = Http::new(&oo);
    let req = Request::get(format!("{}/healthz", oo.url()))
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert!(
        fresh.client.request(req).await.is_err(),
        "nothing listens after shutdown"
    );
}

/// Kills the child process when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the `openobserve-standin` binary with user `u@x`, password `pw`, the clock at [`NOW`]
/// and `extra` arguments; returns the child and a client for the URL it printed.
async fn spawn_binary(extra: &[&str]) -> (Child, Http) {
    let now = NOW.to_string();
    let mut args = vec![
        "--port",
        "0",
        "--user",
        "u@x",
        "--password",
        "pw",
        "--now-us",
        &now,
    ];
    args.extend_from_slice(extra);
    let mut child = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_openobserve-standin"))
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_owned();
    (child, Http::with_base(url, "u@x", "pw"))
}

#[tokio::test]
async fn the_binary_prints_its_url_and_serves_the_control_api() {
    // No flag: zstd is refused, as by every release v0.60–v0.92.
    let (_child, http) = spawn_binary(&[]).await;
    assert_eq!(http.get("/healthz").await.status, 200);
    let zstd = zstd::encode_all(&b"[{\"a\":1}]"[..], 3).unwrap();
    assert_eq!(
        http.post("/api/default/s/_json", Some("zstd"), zstd.clone())
            .await
            .status,
        415
    );
    let r = http
        .post_json(
            "/api/default/s/_json",
            &json!([{"a": 1, "_timestamp": NOW - 23 * HOUR}]),
        )
        .await;
    assert_eq!(r.json()["status"][0]["successful"], 1);
    let records = http.get("/_standin/records?stream=s").await.text();
    assert_eq!(records.lines().count(), 1);

    // --accept-zstd: zstd bodies decode, as on actix-era releases and main after 2026-08-11.
    let (_child, http) = spawn_binary(&["--accept-zstd"]).await;
    let r = http.post("/api/default/s/_json", Some("zstd"), zstd).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"][0]["successful"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_lose_nothing_and_waiters_wake() {
    let (oo, _) = start_default().await;
    let waiter = {
        let oo = oo.clone();
        tokio::spawn(async move { oo.wait_for_count("s", 80, Duration::from_secs(5)).await })
    };
    let mut senders = Vec::new();
    for task in 0..8 {
        let http = Http::new(&oo);
        senders.push(tokio::spawn(async move {
            for batch in 0..5 {
                let docs: Vec<Value> = (0..2)
                    .map(|i| json!({"task": task, "batch": batch, "i": i}))
                    .collect();
                let r = http
                    .post_json("/api/default/s/_json", &Value::Array(docs))
                    .await;
                assert_eq!(r.json()["status"][0]["successful"], 2);
            }
        }));
    }
    for s in senders {
        s.await.unwrap();
    }
    assert_eq!(waiter.await.unwrap(), 80);
    assert_eq!(
        oo.wait_for_count("s", 81, Duration::from_millis(50)).await,
        80,
        "times out with the count"
    );
}
