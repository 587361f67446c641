//! The `aurora-logs` binary as a user runs it: `parse` and `digest` on files, stdin and
//! compressed input, and the errors a user meets.

use std::io::Write;
use std::process::{Command, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_aurora-logs"))
}

fn sample() -> String {
    format!(
        "{}/examples/mysql-slowquery.log",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each stdout line is a JSON record"))
        .collect()
}

#[test]
fn parse_writes_one_record_per_entry_and_a_summary() {
    let out = bin().args(["parse", &sample()]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = json_lines(&out.stdout);
    let text = std::fs::read_to_string(sample()).unwrap();
    assert_eq!(records.len(), text.matches("# Time: ").count());
    assert!(records
        .iter()
        .all(|r| r["log_type"] == "mysql_slow" && r["_timestamp"].is_i64()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{} entries", records.len())),
        "{stderr}"
    );
}

#[test]
fn parse_reads_gzip_from_stdin_with_a_given_format() {
    let text = std::fs::read(sample()).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&text).unwrap();
    let gz = gz.finish().unwrap();
    let mut child = bin()
        .args(["parse", "--format", "mysql-slow", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&gz).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let plain = bin().args(["parse", &sample()]).output().unwrap();
    assert_eq!(out.stdout, plain.stdout);
}

#[test]
fn digest_json_has_the_documented_shape() {
    let out = bin()
        .args(["digest", "--format", "json", &sample()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let classes = report["classes"].as_array().unwrap();
    assert!(!classes.is_empty());
    for c in classes {
        for key in [
            "fingerprint",
            "fingerprint_id",
            "count",
            "query_time",
            "lock_time",
            "rows_sent",
            "rows_examined",
            "example",
            "first_seen",
            "last_seen",
        ] {
            assert!(c.get(key).is_some(), "class lacks {key}: {c}");
        }
        for key in ["sum", "min", "max", "avg", "p95"] {
            assert!(c["query_time"][key].is_number(), "query_time.{key}");
        }
        assert_eq!(c["fingerprint_id"].as_str().unwrap().len(), 32);
    }
    let total: u64 = classes.iter().map(|c| c["count"].as_u64().unwrap()).sum();
    assert_eq!(total, report["summary"]["queries"].as_u64().unwrap());
    let table = bin().args(["digest", &sample()]).output().unwrap();
    assert!(String::from_utf8_lossy(&table.stdout).contains("# Query 1: ID 0x"));
}

#[test]
fn digest_of_a_large_postgres_log_on_two_cores_is_the_one_core_report() {
    // 50 backends, each logging a statement (`log_statement`) and its bare `duration:` line 25
    // lines later, so that the cut between the two parts separates pairs; over the 32 MiB a
    // file needs to be cut.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("postgresql.log");
    let mut text = String::with_capacity(35 << 20);
    let mut i = 0u64;
    while text.len() < 33 << 20 {
        let line = |pid: u64, s: &str| {
            format!(
                "2024-01-04 {:02}:{:02}:{:02} UTC:10.0.0.1(5432):app@db:[{pid}]:LOG:  {s}\n",
                i / 3600 % 24,
                i / 60 % 60,
                i % 60
            )
        };
        text.push_str(&line(
            i % 50,
            &format!("statement: SELECT c{} FROM t WHERE a = {i}", i % 97),
        ));
        text.push_str(&line(
            (i + 25) % 50,
            &format!("duration: {}.{:03} ms", i % 7, i % 13),
        ));
        i += 1;
    }
    std::fs::write(&path, &text).unwrap();
    let digest = |threads: &str| {
        let out = bin()
            .args([
                "digest",
                "--format",
                "json",
                "--threads",
                threads,
                "--limit",
                "1000",
            ])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            out.stdout,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (one, one_err) = digest("1");
    let (two, two_err) = digest("2");
    assert!(two_err.contains("1 file(s) in 2 parts"), "{two_err}");
    assert!(!one_err.contains("parts"), "{one_err}");
    assert_eq!(String::from_utf8_lossy(&two), String::from_utf8_lossy(&one));
    let report: serde_json::Value = serde_json::from_slice(&one).unwrap();
    // Every duration but the first 25 (their backends had logged nothing yet) is paired.
    assert_eq!(
        report["summary"]["queries"],
        i - 25,
        "{}",
        report["summary"]
    );
    assert_eq!(report["summary"]["untimed_entries"], i + 25);
    assert_eq!(report["summary"]["classes"], 97);
}

#[test]
fn errors_say_what_failed_and_what_to_do() {
    let out = bin()
        .args(["parse", "/nonexistent/slow.log"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("check the path"));

    let dir = tempfile::tempdir().unwrap();
    let unknown = dir.path().join("notes.txt");
    std::fs::write(&unknown, "hello\nworld\n").unwrap();
    let out = bin()
        .args(["parse", unknown.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --format"));

    let error_log = dir.path().join("mysql-error.log");
    std::fs::write(
        &error_log,
        "2019-03-24T13:44:25.484123Z 0 [System] [MY-013169] [Server] starting\n",
    )
    .unwrap();
    let out = bin()
        .args(["digest", error_log.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("digest reads MySQL slow logs and PostgreSQL logs"));
}

#[test]
fn garbage_input_is_flagged_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("slowquery.log");
    let mut bytes: Vec<u8> = (0..=255u8).cycle().take(200_000).collect();
    bytes.extend_from_slice(b"\n# Time: 2019-03-24T14:04:53.714053Z\n# Query_time: 1.5  Lock_time: 0 Rows_sent: 0  Rows_examined: 0\nselect 1;\n");
    std::fs::write(&junk, &bytes).unwrap();
    let out = bin()
        .args(["parse", "--max-entry-bytes", "4096", junk.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let records = json_lines(&out.stdout);
    assert!(records.iter().any(|r| r["parse_error"].is_string()));
    assert_eq!(records.last().unwrap()["statement"], "select 1");
}

#[test]
fn plan_says_whether_a_fleet_fits_and_what_would() {
    let run = |extra: &[&str]| {
        let mut args = vec![
            "plan",
            "--instances",
            "1000",
            "--mb-per-hour",
            "100",
            "--kinds",
            "slowquery=99,error=1",
            "--budget",
            "10",
        ];
        args.extend_from_slice(extra);
        let out = bin()
            .args(&args)
            .env_remove("AURORA_LOGS_CONFIG")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, stdout, stderr) = run(&[]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("does NOT fit"), "{stdout}");
    assert!(stdout.contains("slowquery = \"1h\""), "{stdout}");
    let (ok, stdout, _) = run(&["--max-delay", "slowquery=1h"]);
    assert!(ok && stdout.contains("verdict: fits"), "{stdout}");
    let (ok, _, stderr) = run(&["--max-delay", "slow=1h"]);
    assert!(
        !ok && stderr.contains("unknown log kind \"slow\""),
        "{stderr}"
    );
}
