//! Dead letters end to end: the records OpenObserve refuses for good land in the dead-letter
//! stream (durable, in OpenObserve), and `aurora-logs openobserve replay-dead-letters` sends
//! them to their stream once the cause is fixed; a dead-letter file replays the same way.

use std::process::Command;
use std::time::Duration;

use dataplane::record::record_id;
use simulator::openobserve::{OpenObserveConfig as StandInConfig, OpenObserveStandIn};
use sink::batch::{Batch, BatchBuilder, BatchConfig};
use sink::config::DEFAULT_DEAD_LETTER_STREAM;
use sink::{Compression, OpenObserveConfig, OpenObserveSink};

const HOUR_US: i64 = 3_600_000_000;
const STREAM: &str = "aurora_mysql_error";

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

/// `n` records of `STREAM` with ids `record_id("db-1", "error/f", k)`, the first `old` of them
/// two days old (OpenObserve's window is a day).
fn batch(n: u64, old: u64) -> Batch {
    let mut b = BatchBuilder::new(
        STREAM.into(),
        BatchConfig {
            max_records: usize::MAX,
            max_bytes: usize::MAX,
            ..Default::default()
        },
    );
    for k in 0..n {
        let ts = if k < old {
            now_us() - 48 * HOUR_US
        } else {
            now_us()
        };
        let rec = format!(
            r#"{{"_timestamp":{ts},"log_type":"mysql_error","log_offset":{k},"record_id":"{}","message":"entry {k} \"quoted\""}}"#,
            record_id("db-1", "error/f", k)
        );
        b.push(|d| d.extend_from_slice(rec.as_bytes()), k + 1);
    }
    b.flush(n).unwrap()
}

fn ids(oo: &OpenObserveStandIn, stream: &str) -> Vec<String> {
    let mut ids: Vec<String> = oo
        .records(stream)
        .iter()
        .map(|r| r["record_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

fn want(ks: std::ops::Range<u64>) -> Vec<String> {
    let mut ids: Vec<String> = ks.map(|k| record_id("db-1", "error/f", k)).collect();
    ids.sort();
    ids
}

/// A sink into the stand-in as its root user, with `dead_letter_stream` (the default's name, or
/// "" for the file only).
fn sink(
    oo: &OpenObserveStandIn,
    standin: &StandInConfig,
    dir: &std::path::Path,
    dead_letter_stream: &str,
) -> OpenObserveSink {
    let config = OpenObserveConfig {
        url: oo.url(),
        user: standin.user.clone(),
        password: standin.password.clone().into(),
        compression: Compression::Gzip,
        retry_initial: Duration::from_millis(5),
        dead_letter_stream: dead_letter_stream.into(),
        ..Default::default()
    };
    OpenObserveSink::new(config, dir, net::http_client()).unwrap()
}

/// The binary's configuration for the stand-in, as its root user (who may search).
fn config_file(dir: &std::path::Path, oo: &OpenObserveStandIn, standin: &StandInConfig) -> String {
    let path = dir.join("aurora-logs.toml");
    std::fs::write(
        &path,
        format!(
            "state_dir = \"{}\"\n[openobserve]\nurl = \"{}\"\nuser = \"{}\"\npassword = \"{}\"\ncompression = \"gzip\"\n",
            dir.join("state").display(),
            oo.url(),
            standin.user,
            standin.password
        ),
    )
    .unwrap();
    path.display().to_string()
}

fn replay(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_aurora-logs"))
        .args(["openobserve", "replay-dead-letters"])
        .args(args)
        .env_remove("AURORA_LOGS_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "replay failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_records_wait_in_the_dead_letter_stream_and_are_replayed_once_the_cause_is_fixed() {
    let standin = StandInConfig::default();
    let oo = OpenObserveStandIn::start(standin.clone()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sink = sink(&oo, &standin, dir.path(), DEFAULT_DEAD_LETTER_STREAM);

    // Four records two days old: OpenObserve refuses them; they wait in its dead-letter stream.
    let ack = sink.send(&batch(10, 4).into()).await.unwrap();
    assert_eq!((ack.accepted, ack.dead_lettered), (6, 4));
    assert_eq!(ids(&oo, STREAM), want(4..10));
    assert_eq!(ids(&oo, DEFAULT_DEAD_LETTER_STREAM), want(0..4));
    let config = config_file(dir.path(), &oo, &standin);

    // Counting sends nothing.
    let out = replay(&["--config", &config, "--since", "1h", "--dry-run"]);
    assert!(
        out.contains(&format!("{STREAM}: 4 read, 0 accepted, 0 refused again")),
        "{out}"
    );
    assert_eq!(ids(&oo, STREAM), want(4..10));

    // Before the cause is fixed, a replay is refused again: the letters come back, stamped
    // now, outside the range read.
    let out = replay(&["--config", &config, "--since", "1h"]);
    assert!(
        out.contains(&format!("{STREAM}: 4 read, 0 accepted, 4 refused again")),
        "{out}"
    );
    assert_eq!(oo.records(DEFAULT_DEAD_LETTER_STREAM).len(), 8);

    // The cause fixed (OpenObserve's window now takes them: its clock a day and a half back),
    // the letters of the last hour go to their stream: each original once or more, none lost.
    oo.set_now_us(Some(now_us() - 36 * HOUR_US));
    let since_first = replay(&["--config", &config, "--since", "1h"]);
    assert!(
        since_first.contains(&format!("{STREAM}: 8 read, 8 accepted, 0 refused again")),
        "{since_first}"
    );
    let mut got = ids(&oo, STREAM);
    got.dedup();
    assert_eq!(got, want(0..10));
    // Each replayed record is the original, byte for byte in its fields.
    let replayed = oo
        .records(STREAM)
        .into_iter()
        .find(|r| r["record_id"] == record_id("db-1", "error/f", 0))
        .unwrap();
    assert_eq!(replayed["message"], "entry 0 \"quoted\"");
    assert_eq!(replayed["log_offset"], 0);

    // Letters older than the range are not read.
    let out = replay(&[
        "--config",
        &config,
        "--since",
        "1h",
        "--until",
        "2000-01-01T00:00:00Z",
    ]);
    assert!(!out.contains("read"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_file_replays_to_its_streams_and_bad_lines_are_counted() {
    let standin = StandInConfig::default();
    let oo = OpenObserveStandIn::start(standin.clone()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // As the sink writes it when there is no dead-letter stream.
    let sink = sink(&oo, &standin, dir.path(), "");
    let ack = sink.send(&batch(5, 3).into()).await.unwrap();
    assert_eq!(ack.dead_lettered, 3);
    let file = sink.dead_letter_path().to_path_buf();
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("not json\n{\"stream\":\"x\"}\n");
    std::fs::write(&file, text).unwrap();
    oo.set_now_us(Some(now_us() - 36 * HOUR_US));
    let config = config_file(dir.path(), &oo, &standin);
    let out = replay(&["--config", &config, "--file", &file.display().to_string()]);
    assert!(
        out.contains(&format!("{STREAM}: 3 read, 3 accepted, 0 refused again")),
        "{out}"
    );
    assert!(
        out.contains("2 letters without a readable record, skipped"),
        "{out}"
    );
    assert_eq!(ids(&oo, STREAM), want(0..5));
}
