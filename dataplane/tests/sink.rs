//! The OpenObserve sink against the stand-in: every answer the contract allows.

use std::time::Duration;

use dataplane::record::record_id;
use net::http_client;
use simulator::openobserve::{OpenObserveConfig as StandInConfig, OpenObserveStandIn};
use sink::batch::{Batch, BatchBuilder, BatchConfig};
use sink::{Compression, OpenObserveConfig, OpenObserveSink, SinkError};

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

/// `n` records with ids `record_id("i", "f", k)`, the first `old` of them two days old.
fn batch(n: usize, old: usize) -> Batch {
    let mut b = BatchBuilder::new(
        "aurora_test".into(),
        BatchConfig {
            max_records: usize::MAX,
            max_bytes: usize::MAX,
            ..Default::default()
        },
    );
    for k in 0..n {
        let ts = if k < old {
            now_us() - 48 * 3_600_000_000
        } else {
            now_us()
        };
        let rec = format!(
            r#"{{"_timestamp":{ts},"log_type":"t","log_offset":{k},"record_id":"{}","message":"entry {k} {}"}}"#,
            record_id("i", "f", k as u64),
            "x".repeat(200)
        );
        b.push(|d| d.extend_from_slice(rec.as_bytes()), k as u64 + 1);
    }
    b.flush(n as u64).unwrap()
}

/// The sorted ids of the first `n` records of [`batch`] (the old ones).
fn first_ids(n: u64) -> Vec<String> {
    let mut ids: Vec<String> = (0..n).map(|k| record_id("i", "f", k)).collect();
    ids.sort();
    ids
}

async fn setup(
    standin: StandInConfig,
    compression: Compression,
) -> (OpenObserveStandIn, OpenObserveSink, tempfile::TempDir) {
    setup_with(standin, compression, |_| {}).await
}

/// [`setup`], with the sink's configuration changed by `change`.
async fn setup_with(
    standin: StandInConfig,
    compression: Compression,
    change: impl FnOnce(&mut OpenObserveConfig),
) -> (OpenObserveStandIn, OpenObserveSink, tempfile::TempDir) {
    let oo = OpenObserveStandIn::start(standin.clone()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = OpenObserveConfig {
        url: oo.url(),
        user: standin.user.clone(),
        password: standin.password.clone().into(),
        compression,
        retry_initial: Duration::from_millis(5),
        retry_max_delay: Duration::from_millis(20),
        request_timeout: Duration::from_millis(500),
        ..Default::default()
    };
    change(&mut config);
    let sink = OpenObserveSink::new(config, dir.path(), http_client()).unwrap();
    (oo, sink, dir)
}

fn ids(oo: &OpenObserveStandIn) -> Vec<String> {
    let mut v: Vec<String> = oo
        .records("aurora_test")
        .iter()
        .map(|r| r["record_id"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn expected(n: usize, from: usize) -> Vec<String> {
    let mut v: Vec<String> = (from..n).map(|k| record_id("i", "f", k as u64)).collect();
    v.sort();
    v
}

/// A sink set to zstd against a stand-in that answers zstd with 415, as released OpenObserve.
async fn zstd_sink_against_a_server_refusing_zstd(
) -> (OpenObserveStandIn, OpenObserveSink, tempfile::TempDir) {
    let standin = StandInConfig {
        accept_zstd: false,
        ..Default::default()
    };
    setup(standin, Compression::Zstd).await
}

#[tokio::test]
async fn zstd_refused_with_415_falls_back_to_gzip_and_everything_arrives() {
    let (oo, sink, _dir) = zstd_sink_against_a_server_refusing_zstd().await;
    let ack = sink.send(&batch(50, 0).into()).await.unwrap();
    assert_eq!(ack.accepted, 50);
    assert_eq!(sink.compression(), Compression::Gzip);
    assert_eq!(ids(&oo), expected(50, 0));
    let stats = oo.stats();
    assert_eq!(stats.requests_by_status.get(&415), Some(&1), "{stats:?}");
    // The sink never asks for a compressed answer (the server would then compress it).
    assert_eq!(stats.requests_with_accept_encoding, 0);
    // The next batch goes straight to gzip.
    sink.send(&batch(5, 0).into()).await.unwrap();
    assert_eq!(oo.stats().requests_by_status.get(&415), Some(&1));
}

#[tokio::test]
async fn zstd_is_kept_where_the_server_takes_it() {
    let (oo, sink, _dir) = setup(
        StandInConfig {
            accept_zstd: true,
            ..Default::default()
        },
        Compression::Zstd,
    )
    .await;
    sink.send(&batch(20, 0).into()).await.unwrap();
    assert_eq!(oo.stats().requests_by_encoding.get("zstd"), Some(&1));
    assert_eq!(ids(&oo).len(), 20);
}

#[tokio::test]
async fn a_503_storm_and_429s_and_a_stall_are_retried_until_accepted() {
    let (oo, sink, _dir) = setup(StandInConfig::default(), Compression::Gzip).await;
    oo.faults().fail_next(503, 4);
    oo.faults().fail_next(429, 2);
    let ack = sink.send(&batch(30, 0).into()).await.unwrap();
    assert_eq!(ack.accepted, 30);
    assert_eq!(ids(&oo), expected(30, 0));
    assert_eq!(oo.stats().requests_by_status.get(&503), Some(&4));
    // A stall past the timeout: the stand-in keeps the records and the retry sends them again,
    // so duplicates appear, recognisable by record_id.
    oo.reset();
    oo.faults().stall_next(Duration::from_millis(800), 1);
    sink.send(&batch(10, 0).into()).await.unwrap();
    let got = ids(&oo);
    let mut unique = got.clone();
    unique.dedup();
    assert_eq!(unique, expected(10, 0));
    assert_eq!(got.len(), 20, "the stalled request was kept and sent again");
}

#[tokio::test]
async fn a_storm_longer_than_the_retries_fails_the_batch_as_retryable() {
    let (oo, sink, _dir) = setup(StandInConfig::default(), Compression::Gzip).await;
    oo.faults().fail_next(503, 100);
    let err = sink.send(&batch(3, 0).into()).await.unwrap_err();
    assert!(matches!(err, SinkError::Unavailable { .. }), "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn payload_too_large_splits_down_to_single_records_and_dead_letters_what_never_fits() {
    // Each record is ~330 bytes with its action line: 1000 bytes takes 3 at most.
    let (oo, sink, dir) = setup(
        StandInConfig {
            payload_limit_bytes: 1000,
            ..Default::default()
        },
        Compression::Gzip,
    )
    .await;
    let mut b = batch(12, 0);
    // One record alone over the limit.
    let big = format!(
        r#"{{"log_offset":99,"record_id":"{}","message":"{}"}}"#,
        record_id("i", "f", 99),
        "y".repeat(2000)
    );
    let mut builder = BatchBuilder::new(
        "aurora_test".into(),
        BatchConfig {
            max_records: usize::MAX,
            max_bytes: usize::MAX,
            ..Default::default()
        },
    );
    for i in 0..b.len() {
        let r = b.record(i).to_vec();
        builder.push(|d| d.extend_from_slice(&r), i as u64);
    }
    builder.push(|d| d.extend_from_slice(big.as_bytes()), 100);
    b = builder.flush(100).unwrap();
    let ack = sink.send(&b.into()).await.unwrap();
    assert_eq!(ack.accepted, 12);
    assert_eq!(ack.dead_lettered, 1);
    assert_eq!(ids(&oo), expected(12, 0));
    // The dead-letter stream refused its wrapper too (over the limit): it is in the file.
    assert!(oo
        .records(sink::config::DEFAULT_DEAD_LETTER_STREAM)
        .is_empty());
    let dl = std::fs::read_to_string(dir.path().join("dead-letter.ndjson")).unwrap();
    let line: serde_json::Value = serde_json::from_str(dl.lines().next().unwrap()).unwrap();
    assert_eq!(line["reason"], "too_large");
    assert_eq!(line["stream"], "aurora_test", "the letter, not its wrapper");
    assert!(line["detail"]
        .as_str()
        .unwrap()
        .contains("the dead-letter stream refused it too (too_large)"));
    assert_eq!(line["record_id"], record_id("i", "f", 99));
    assert_eq!(line["record"]["message"].as_str().unwrap().len(), 2000);
}

#[tokio::test]
async fn records_refused_inside_a_200_go_to_the_dead_letter_stream_with_their_reason() {
    let (oo, sink, dir) = setup(StandInConfig::default(), Compression::Gzip).await;
    let ack = sink.send(&batch(10, 3).into()).await.unwrap();
    assert_eq!(ack.accepted, 7);
    assert_eq!(ack.dead_lettered, 3);
    assert_eq!(ids(&oo), expected(10, 3));
    // In OpenObserve, wrapped: the stream, the reason, the record as it was sent.
    let mut dead: Vec<String> = oo
        .records(sink::config::DEFAULT_DEAD_LETTER_STREAM)
        .iter()
        .map(|v| {
            assert_eq!(v["dead_letter_stream"], "aurora_test", "{v:?}");
            assert_eq!(v["dead_letter_reason"], "too_old", "{v:?}");
            let record: serde_json::Value =
                serde_json::from_str(v["record"].as_str().unwrap()).unwrap();
            assert_eq!(record["record_id"], v["record_id"]);
            v["record_id"].as_str().unwrap().to_string()
        })
        .collect();
    dead.sort();
    assert_eq!(dead, first_ids(3));
    assert!(!dir.path().join("dead-letter.ndjson").exists());
}

#[tokio::test]
async fn without_a_dead_letter_stream_refused_records_go_to_the_file() {
    let (oo, sink, dir) = setup_with(StandInConfig::default(), Compression::Gzip, |c| {
        c.dead_letter_stream = String::new()
    })
    .await;
    let ack = sink.send(&batch(10, 3).into()).await.unwrap();
    assert_eq!((ack.accepted, ack.dead_lettered), (7, 3));
    assert!(oo
        .records(sink::config::DEFAULT_DEAD_LETTER_STREAM)
        .is_empty());
    let dl = std::fs::read_to_string(dir.path().join("dead-letter.ndjson")).unwrap();
    let mut dead: Vec<String> = dl
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["reason"], "too_old", "{l}");
            v["record_id"].as_str().unwrap().to_string()
        })
        .collect();
    dead.sort();
    assert_eq!(dead, first_ids(3));
}

#[tokio::test]
async fn records_an_answer_leaves_out_are_sent_again() {
    let (oo, sink, _dir) = setup(StandInConfig::default(), Compression::Gzip).await;
    oo.faults().drop_silently_next(1);
    let ack = sink.send(&batch(8, 0).into()).await.unwrap();
    let got = ids(&oo);
    let mut unique = got.clone();
    unique.dedup();
    assert_eq!(unique, expected(8, 0), "every record arrived");
    assert!(ack.accepted >= 8);
}

#[tokio::test]
async fn wrong_credentials_fail_loudly_and_are_not_retried() {
    let (oo, _sink, dir) = setup(StandInConfig::default(), Compression::Gzip).await;
    let config = OpenObserveConfig {
        url: oo.url(),
        password: "wrong".into(),
        compression: Compression::Gzip,
        ..Default::default()
    };
    let sink = OpenObserveSink::new(config, dir.path(), http_client()).unwrap();
    let err = sink.send(&batch(2, 0).into()).await.unwrap_err();
    assert!(
        matches!(err, SinkError::Refused { status: 401, .. }),
        "{err}"
    );
    assert!(!err.is_retryable());
    assert_eq!(oo.stats().requests_by_status.get(&401), Some(&1));
}

/// The stand-in behind TLS with a private CA, as an OpenObserve inside the cluster is.
async fn behind_tls(
    oo: &OpenObserveStandIn,
) -> (simulator::tls::TestPki, simulator::proxy::Proxy, String) {
    let pki = simulator::tls::TestPki::generate("openobserve").expect("openssl makes the CA");
    let upstream = oo
        .url()
        .trim_start_matches("http://")
        .parse()
        .expect("the stand-in's address");
    let proxy = simulator::proxy::Proxy::tls(&pki, upstream).await.unwrap();
    let url = format!("https://localhost:{}", proxy.addr.port());
    (pki, proxy, url)
}

#[tokio::test]
async fn https_with_a_private_ca_ships_with_ca_file_and_fails_clearly_without() {
    let standin = StandInConfig::default();
    let (oo, _plain, dir) = setup(standin.clone(), Compression::Gzip).await;
    let (pki, _proxy, url) = behind_tls(&oo).await;
    let config = OpenObserveConfig {
        url: url.clone(),
        ca_file: Some(pki.ca_file()),
        user: standin.user.clone(),
        password: standin.password.clone().into(),
        compression: Compression::Gzip,
        retry_initial: Duration::from_millis(5),
        retry_max_delay: Duration::from_millis(20),
        ..Default::default()
    };
    let sink = OpenObserveSink::new(config.clone(), dir.path(), http_client()).unwrap();
    let ack = sink.send(&batch(5, 0).into()).await.unwrap();
    assert_eq!(ack.accepted, 5);
    assert_eq!(ids(&oo), expected(5, 0));

    // Without the CA (web PKI roots only), or with another CA: refused at once, not retried.
    let other = simulator::tls::TestPki::generate("another").unwrap();
    for ca_file in [None, Some(other.ca_file())] {
        let sink = OpenObserveSink::new(
            OpenObserveConfig {
                ca_file: ca_file.clone(),
                max_retries: 50,
                ..config.clone()
            },
            dir.path(),
            http_client(),
        )
        .unwrap();
        let t = std::time::Instant::now();
        let err = sink.send(&batch(2, 0).into()).await.unwrap_err();
        assert!(
            matches!(err, SinkError::Untrusted { .. }),
            "{ca_file:?}: {err}"
        );
        assert!(err.to_string().contains("openobserve.ca_file"), "{err}");
        assert!(!err.is_retryable());
        assert!(t.elapsed() < Duration::from_secs(5), "not retried");
    }
    assert_eq!(ids(&oo), expected(5, 0), "nothing more arrived");

    // A CA file that is not one is a configuration error at startup.
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let err = OpenObserveSink::new(
        OpenObserveConfig {
            ca_file: Some(garbage),
            ..config
        },
        dir.path(),
        http_client(),
    )
    .unwrap_err();
    assert!(matches!(err, SinkError::Config(_)), "{err}");
}

#[tokio::test]
async fn the_password_file_is_read_again_when_it_is_rotated() {
    let standin = StandInConfig::default();
    let (oo, _plain, dir) = setup(standin.clone(), Compression::Gzip).await;
    let file = dir.path().join("password");
    std::fs::write(&file, "old-password\n").unwrap();
    let config = OpenObserveConfig {
        url: oo.url(),
        user: standin.user.clone(),
        password_file: Some(file.clone()),
        compression: Compression::Gzip,
        ..Default::default()
    };
    let sink = OpenObserveSink::new(config.clone(), dir.path(), http_client()).unwrap();
    let err = sink.send(&batch(1, 0).into()).await.unwrap_err();
    assert!(
        matches!(err, SinkError::Refused { status: 401, .. }),
        "{err}"
    );
    // The Secret is rotated: the same sink uses the new password, without a restart.
    std::fs::write(&file, format!("{}\n", standin.password)).unwrap();
    let ack = sink.send(&batch(3, 0).into()).await.unwrap();
    assert_eq!(ack.accepted, 3);

    // Both ways at once, or a missing file: refused at startup, naming the keys.
    let both = OpenObserveConfig {
        password: "x".into(),
        ..config.clone()
    };
    let err = OpenObserveSink::new(both, dir.path(), http_client()).unwrap_err();
    assert!(
        err.to_string().contains("openobserve.password_file"),
        "{err}"
    );
    let missing = OpenObserveConfig {
        password_file: Some(dir.path().join("absent")),
        ..config
    };
    let err = OpenObserveSink::new(missing, dir.path(), http_client()).unwrap_err();
    assert!(err.to_string().contains("absent"), "{err}");
}

#[tokio::test]
async fn a_batch_compressed_where_it_was_built_is_sent_as_it_is_and_redone_when_the_settings_changed(
) {
    let (oo, sink, _dir) = zstd_sink_against_a_server_refusing_zstd().await;
    // Compressed with zstd, as the sink stood: the server refuses zstd (415), the sink turns
    // to gzip, and the body is compressed again rather than sent with the wrong encoding.
    let mut first = batch(30, 0);
    first.precompress(sink.compression(), sink.zstd_level());
    assert!(first.precompressed.is_some());
    assert_eq!(sink.send(&first.into()).await.unwrap().accepted, 30);
    assert_eq!(sink.compression(), Compression::Gzip);
    assert_eq!(ids(&oo), expected(30, 0));

    // With matching settings the batch's own body is what goes out: a body that decodes to
    // other records proves it (the records of `other` arrive, not those of the batch).
    let mut b = batch(3, 0);
    let mut other = BatchBuilder::new(
        "aurora_test".into(),
        BatchConfig {
            max_records: usize::MAX,
            max_bytes: usize::MAX,
            ..Default::default()
        },
    );
    let rec = format!(
        r#"{{"_timestamp":{},"log_type":"t","log_offset":99,"record_id":"precompressed-marker","message":"m"}}"#,
        now_us()
    );
    other.push(|d| d.extend_from_slice(rec.as_bytes()), 1);
    let mut other = other.flush(1).unwrap();
    other.precompress(Compression::Gzip, sink.zstd_level());
    b.precompressed = other.precompressed.take();
    // The outcome does not matter here (the answer lists one record for three), only what went.
    let _ = sink.send(&b.into()).await;
    let got = oo.count_by_field("record_id");
    assert!(got.contains_key("precompressed-marker"), "{got:?}");
}
