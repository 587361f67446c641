//! The RDS simulator as the real `aws-sdk-rds` client sees it: every answer must parse, every
//! fault must be observable through the SDK, and a hand-written portion loop must get every
//! byte when no fault is on. The REST download is checked with requests signed by aws-sigv4.

use std::time::{Duration, SystemTime};

use aws_config::retry::RetryConfig;
use aws_config::BehaviorVersion;
use aws_sdk_rds::config::{Credentials, Region};
use aws_sdk_rds::error::ProvideErrorMetadata;
use aws_sdk_rds::types::Filter;
use aws_sdk_rds::Client;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use simulator::instance::Engine;
use simulator::rds::{
    ClusterConfig, Fault, RdsSimulator, RotationNotFound, RotationSide, SimConfig, ThrottleConfig,
    PORTION_CAP_BYTES, TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY, TRUNCATION_SUFFIX,
};
use simulator::{LogGenerator, LogKind};

/// 2024-01-04T09:00:00Z.
const START: i64 = 1_704_358_800_000_000;
const MINUTE_US: i64 = 60_000_000;
const HOUR_US: i64 = 60 * MINUTE_US;
const SLOW: &str = "slowquery/mysql-slowquery.log";

fn base_config() -> SimConfig {
    SimConfig::default()
        .with_start_us(START)
        .with_cluster(
            ClusterConfig::new("orders", Engine::AuroraMysql, &["orders-1", "orders-2"])
                .with_rate(5.0),
        )
        .with_cluster(
            ClusterConfig::new("billing", Engine::AuroraPostgresql, &["billing-1"]).with_rate(5.0),
        )
        .with_docdb("catalog")
}

async fn start(config: SimConfig) -> RdsSimulator {
    RdsSimulator::start(config).await.expect("simulator starts")
}

async fn client_with(sim: &RdsSimulator, retry: RetryConfig) -> Client {
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(sim.endpoint_url())
        .region(Region::new(sim.region().to_string()))
        .credentials_provider(Credentials::new(
            TEST_ACCESS_KEY_ID,
            TEST_SECRET_ACCESS_KEY,
            None,
            None,
            "test",
        ))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(retry)
        .load()
        .await;
    Client::new(&conf)
}

async fn client(sim: &RdsSimulator) -> Client {
    client_with(sim, RetryConfig::disabled()).await
}

fn filter(name: &str, values: &[&str]) -> Filter {
    let mut f = Filter::builder().name(name);
    for v in values {
        f = f.values(*v);
    }
    f.build()
}

struct Portion {
    data: String,
    marker: String,
    pending: bool,
}

async fn portion(
    c: &Client,
    instance: &str,
    file: &str,
    marker: Option<&str>,
    lines: Option<i32>,
) -> Result<Portion, (Option<String>, Option<String>)> {
    c.download_db_log_file_portion()
        .db_instance_identifier(instance)
        .log_file_name(file)
        .set_marker(marker.map(str::to_string))
        .set_number_of_lines(lines)
        .send()
        .await
        .map(|o| Portion {
            data: o.log_file_data().unwrap_or_default().to_string(),
            marker: o.marker().unwrap_or_default().to_string(),
            pending: o.additional_data_pending().unwrap_or(false),
        })
        .map_err(|e| {
            (
                e.code().map(str::to_string),
                e.message().map(str::to_string),
            )
        })
}

/// The hand-written loop RDS.md asks for: follow markers while `AdditionalDataPending`, and
/// on a truncated page retry the same marker with half the lines.
async fn drain(c: &Client, instance: &str, file: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut marker = "0".to_string();
    let mut lines = 10_000;
    for _ in 0..10_000 {
        let p = portion(c, instance, file, Some(&marker), Some(lines))
            .await
            .expect("portion");
        if p.data.ends_with(TRUNCATION_SUFFIX) && lines > 1 {
            lines = (lines / 2).max(1);
            continue;
        }
        out.extend_from_slice(p.data.as_bytes());
        marker = p.marker;
        lines = 10_000;
        if !p.pending {
            return out;
        }
    }
    panic!("drain did not end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_calls_filter_page_and_validate() {
    let many: Vec<String> = (0..23).map(|i| format!("fleet-{i:02}")).collect();
    let names: Vec<&str> = many.iter().map(String::as_str).collect();
    let sim = start(
        base_config()
            .with_cluster(ClusterConfig::new("fleet", Engine::AuroraMysql, &names).with_rate(0.01)),
    )
    .await;
    let c = client(&sim).await;

    let mut ids = Vec::new();
    let mut marker = None;
    loop {
        let out = c
            .describe_db_instances()
            .filters(filter("engine", &["aurora-mysql", "aurora-postgresql"]))
            .max_records(20)
            .set_marker(marker)
            .send()
            .await
            .expect("describe instances");
        assert!(out.db_instances().len() <= 20);
        ids.extend(
            out.db_instances()
                .iter()
                .map(|i| i.db_instance_identifier().unwrap_or_default().to_string()),
        );
        marker = out.marker().map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    assert_eq!(ids.len(), 23 + 3, "{ids:?}");
    assert!(!ids.iter().any(|i| i.starts_with("catalog")));

    let all = c.describe_db_instances().send().await.expect("all");
    let docdb = all
        .db_instances()
        .iter()
        .find(|i| i.engine() == Some("docdb"));
    assert!(docdb.is_some(), "a non-Aurora instance is listed too");
    let one = c
        .describe_db_instances()
        .filters(filter("db-instance-id", &["orders-2"]))
        .send()
        .await
        .expect("one");
    let i = &one.db_instances()[0];
    assert_eq!(i.db_cluster_identifier(), Some("orders"));
    assert_eq!(i.engine(), Some("aurora-mysql"));
    assert_eq!(i.db_instance_status(), Some("available"));
    assert!(i
        .engine_version()
        .is_some_and(|v| v.contains("mysql_aurora")));
    assert_eq!(i.availability_zone(), Some("us-east-1b"));
    assert_eq!(i.tag_list()[0].key(), Some("env"));

    let clusters = c
        .describe_db_clusters()
        .filters(filter("engine", &["aurora-mysql"]))
        .filters(filter("db-cluster-id", &["orders"]))
        .send()
        .await
        .expect("clusters");
    let members = clusters.db_clusters()[0].db_cluster_members();
    let writers: Vec<_> = members
        .iter()
        .map(|m| {
            (
                m.db_instance_identifier().unwrap_or_default(),
                m.is_cluster_writer().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(writers, [("orders-1", true), ("orders-2", false)]);
    let every = c.describe_db_clusters().send().await.expect("clusters");
    assert_eq!(every.db_clusters().len(), 4);

    for bad in [19, 101] {
        let e = c
            .describe_db_instances()
            .max_records(bad)
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some("InvalidParameterValue"));
        let e = c
            .describe_db_clusters()
            .max_records(bad)
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some("InvalidParameterValue"));
    }
    let e = c
        .describe_db_instances()
        .db_instance_identifier("nope")
        .send()
        .await
        .unwrap_err();
    assert!(e
        .as_service_error()
        .is_some_and(|e| e.is_db_instance_not_found_fault()));
    let e = c
        .describe_db_instances()
        .filters(filter("colour", &["x"]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValue"));
    let stats = sim.stats();
    assert!(stats.calls("DescribeDBInstances") >= 6);
    assert!(stats.calls("DescribeDBClusters") >= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_file_lists_page_past_1000_and_filter() {
    let sim = start(base_config()).await;
    sim.advance_to(START + 2 * HOUR_US + 5 * MINUTE_US);
    for i in 0..1_200 {
        let name = format!("audit/audit.log.{i}.2024-01-04-08-00.1");
        sim.add_file(
            "orders-1",
            &name,
            vec![b'x'; i % 7],
            (START - HOUR_US) / 1000 + i as i64,
        )
        .expect("add");
    }
    let expected: Vec<String> = sim
        .files("orders-1")
        .expect("files")
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert!(expected.len() > 1_200);
    let c = client(&sim).await;

    let first = c
        .describe_db_log_files()
        .db_instance_identifier("orders-1")
        .send()
        .await
        .expect("list");
    assert_eq!(
        first.describe_db_log_files().len(),
        1_000,
        "the default page is 1000 files"
    );
    assert!(first.marker().is_some());
    let mut names = Vec::new();
    let mut marker = None;
    loop {
        let out = c
            .describe_db_log_files()
            .db_instance_identifier("orders-1")
            .set_marker(marker)
            .send()
            .await
            .expect("list");
        names.extend(
            out.describe_db_log_files()
                .iter()
                .map(|f| f.log_file_name().unwrap_or_default().to_string()),
        );
        marker = out.marker().map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    assert_eq!(names, expected);

    let slow = c
        .describe_db_log_files()
        .db_instance_identifier("orders-1")
        .filename_contains("slowquery")
        .send()
        .await
        .expect("list");
    let slow_names: Vec<&str> = slow
        .describe_db_log_files()
        .iter()
        .filter_map(|f| f.log_file_name())
        .collect();
    assert_eq!(
        slow_names,
        [
            "slowquery/mysql-slowquery.log",
            "slowquery/mysql-slowquery.log.2024-01-04.09",
            "slowquery/mysql-slowquery.log.2024-01-04.10"
        ]
    );
    let active = sim.file("orders-1", SLOW).expect("active");
    let d = slow
        .describe_db_log_files()
        .iter()
        .find(|f| f.log_file_name() == Some(SLOW))
        .expect("listed");
    assert_eq!(d.last_written(), Some(active.last_written_ms));
    assert_eq!(d.size(), Some(active.size as i64));

    let recent = c
        .describe_db_log_files()
        .db_instance_identifier("orders-1")
        .file_last_written(START / 1000 + 2 * 3_600_000)
        .send()
        .await
        .expect("list");
    assert!(recent
        .describe_db_log_files()
        .iter()
        .all(|f| f.last_written().unwrap_or(0) >= START / 1000 + 7_200_000));
    assert_eq!(
        recent.describe_db_log_files().len(),
        4,
        "the four active files"
    );
    let big = c
        .describe_db_log_files()
        .db_instance_identifier("orders-1")
        .file_size(5)
        .max_records(50)
        .send()
        .await
        .expect("list");
    assert!(big
        .describe_db_log_files()
        .iter()
        .all(|f| f.size().unwrap_or(0) > 5));
    assert_eq!(big.describe_db_log_files().len(), 50);

    let e = c
        .describe_db_log_files()
        .db_instance_identifier("nope")
        .send()
        .await
        .unwrap_err();
    assert!(e
        .as_service_error()
        .is_some_and(|e| e.is_db_instance_not_found_fault()));
    let docdb = c
        .describe_db_log_files()
        .db_instance_identifier("catalog-1")
        .send()
        .await
        .expect("docdb");
    assert!(docdb.describe_db_log_files().is_empty());

    // Listings are counted by instance; an unknown instance's are not.
    let stats = sim.stats();
    assert_eq!(
        stats.listings("orders-1"),
        stats.calls("DescribeDBLogFiles") - stats.listings("catalog-1") - 1
    );
    assert_eq!(stats.listings("catalog-1"), 1);
    assert_eq!(stats.listings("nope"), 0);
    assert!(!stats.listings.contains_key("nope"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portions_tail_start_count_and_cap() {
    let sim = start(base_config()).await;
    sim.advance_to(START + 20 * MINUTE_US);
    let c = client(&sim).await;
    let file = sim.file("orders-1", SLOW).expect("file").data;
    let text = std::str::from_utf8(&file).expect("utf8");

    let tail = portion(&c, "orders-1", SLOW, None, Some(7))
        .await
        .expect("tail");
    let last7: Vec<&str> = text
        .lines()
        .rev()
        .take(7)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    assert_eq!(tail.data, last7.join("\n") + "\n");
    assert!(!tail.pending);
    assert_eq!(tail.marker, format!("9:{}", file.len()));

    let head = portion(&c, "orders-1", SLOW, Some("0"), Some(5))
        .await
        .expect("head");
    let first5: String = text.lines().take(5).map(|l| format!("{l}\n")).collect();
    assert_eq!(head.data, first5);
    assert!(head.pending);
    assert_eq!(head.marker, format!("9:{}", first5.len()));

    for bad in [0, 10_001] {
        let (code, _) = portion(&c, "orders-1", SLOW, Some("0"), Some(bad))
            .await
            .err()
            .expect("refused");
        assert_eq!(code.as_deref(), Some("InvalidParameterValue"));
    }
    let (code, _) = portion(&c, "orders-1", SLOW, Some("garbage"), None)
        .await
        .err()
        .expect("refused");
    assert_eq!(code.as_deref(), Some("InvalidParameterValue"));
    let (code, _) = portion(&c, "orders-1", "error/nope.log", None, None)
        .await
        .err()
        .expect("missing");
    assert_eq!(code.as_deref(), Some("DBLogFileNotFoundFault"));
    let (code, _) = portion(&c, "ghost", SLOW, None, None)
        .await
        .err()
        .expect("missing");
    assert_eq!(code.as_deref(), Some("DBInstanceNotFound"));

    // Lines of 300 KB: the fourth one crosses 1 MB and is cut.
    let long: Vec<u8> = (0..6u8)
        .flat_map(|i| {
            let mut line = vec![b'a' + i; 300_000];
            line.push(b'\n');
            line
        })
        .collect();
    sim.add_file(
        "orders-1",
        "general/long-lines.log",
        long.clone(),
        START / 1000,
    )
    .expect("add");
    let p = portion(&c, "orders-1", "general/long-lines.log", Some("0"), None)
        .await
        .expect("cut");
    assert!(p.data.ends_with(TRUNCATION_SUFFIX));
    assert!(p.data.len() <= PORTION_CAP_BYTES);
    assert!(p.data.as_bytes()[..900_003] == long[..900_003]);
    assert_eq!(
        p.marker,
        format!("{}:{}", hour_of(START), 4 * 300_001),
        "the rest of the cut line is lost"
    );
    assert!(p.pending);
    let whole = portion(&c, "orders-1", "general/long-lines.log", Some("0"), Some(3))
        .await
        .expect("3 lines");
    assert!(whole.data.as_bytes() == &long[..900_003]);
    let drained = drain(&c, "orders-1", "general/long-lines.log").await;
    assert!(drained == long, "long lines drained whole");
}

fn hour_of(us: i64) -> i64 {
    us.div_euclid(HOUR_US).rem_euclid(24)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_drain_equals_the_file_bytes() {
    let sim = start(base_config()).await;
    sim.advance_to(START + HOUR_US + 30 * MINUTE_US);
    // Data that needs escaping, control characters, long multi-line SQL, non-ASCII.
    let mut odd = Vec::new();
    let mut g = LogGenerator::new(LogKind::MysqlGeneral, 3, START);
    g.fill(&mut odd, 2_500_000);
    odd.extend_from_slice(
        "x < y && z > 'w' \"q\" \u{1}\u{7}\u{1b}[0m \r tab\there é ü 日本\n".as_bytes(),
    );
    g.fill(&mut odd, 200_000);
    sim.add_file("orders-2", "general/odd.log", odd.clone(), START / 1000)
        .expect("add");
    let c = client(&sim).await;
    assert!(
        drain(&c, "orders-2", "general/odd.log").await == odd,
        "odd.log drained whole"
    );
    for f in [
        "slowquery/mysql-slowquery.log.2024-01-04.09",
        SLOW,
        "audit/audit.log.0.2024-01-04-09-00.0",
    ] {
        let want = sim.file("orders-2", f).expect(f).data;
        assert!(want.len() > 100_000, "{f}: {}", want.len());
        assert!(drain(&c, "orders-2", f).await == want, "{f} drained whole");
    }
    let pg = sim
        .files("billing-1")
        .expect("pg")
        .into_iter()
        .find(|f| !f.active)
        .expect("rotated");
    assert!(
        drain(&c, "billing-1", &pg.name).await == pg.data,
        "{} drained whole",
        pg.name
    );
    assert_eq!(
        sim.stats().faults.values().sum::<u64>(),
        0,
        "no fault fired"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portion_faults_are_observable_through_the_sdk() {
    let sim = start(base_config()).await;
    sim.advance_to(START + 40 * MINUTE_US);
    let c = client(&sim).await;
    let f = sim.faults();
    let file = sim.file("orders-1", SLOW).expect("file").data;

    // Early AdditionalDataPending=false.
    f.fail_next(Fault::EarlyEndOfData, 1);
    let p = portion(&c, "orders-1", SLOW, Some("0"), Some(10))
        .await
        .expect("early");
    let offset: usize = p
        .marker
        .split_once(':')
        .expect("marker")
        .1
        .parse()
        .expect("offset");
    assert!(
        !p.pending && offset < file.len(),
        "stops early at {offset} of {}",
        file.len()
    );
    assert_eq!(sim.stats().fired(Fault::EarlyEndOfData), 1);

    // Lines skipped between pages.
    f.fail_next(Fault::SkipLines, 1).set_skipped_lines(3);
    let p = portion(&c, "orders-1", SLOW, Some("0"), Some(10))
        .await
        .expect("skip");
    let offset: usize = p
        .marker
        .split_once(':')
        .expect("marker")
        .1
        .parse()
        .expect("offset");
    let skipped = &file[p.data.len()..offset];
    assert_eq!(
        skipped.iter().filter(|&&b| b == b'\n').count(),
        3,
        "three lines never served"
    );

    // The same marker echoed at the end of the file, with more data claimed.
    let end = portion(&c, "orders-1", SLOW, None, Some(1))
        .await
        .expect("tail");
    f.fail_next(Fault::EchoMarkerAtEnd, 1);
    let p = portion(&c, "orders-1", SLOW, Some(&end.marker), None)
        .await
        .expect("echo");
    assert_eq!(
        (p.marker.as_str(), p.pending, p.data.as_str()),
        (end.marker.as_str(), true, "")
    );
    let p = portion(&c, "orders-1", SLOW, Some(&end.marker), None)
        .await
        .expect("no echo");
    assert!(!p.pending);

    // Rotation: a marker of the active file follows into the rotated one, unless stale.
    sim.advance_to(START + HOUR_US + 55 * MINUTE_US);
    let rotated = sim
        .file("orders-1", "slowquery/mysql-slowquery.log.2024-01-04.09")
        .expect("rotated")
        .data;
    let current = sim.file("orders-1", SLOW).expect("current").data;
    let mut rest_of_9 = Vec::new();
    let mut marker = end.marker.clone();
    while marker.starts_with("9:") {
        let p = portion(&c, "orders-1", SLOW, Some(&marker), None)
            .await
            .expect("after rotation");
        assert!(p.pending);
        rest_of_9.extend_from_slice(p.data.as_bytes());
        marker = p.marker;
    }
    assert!(
        rest_of_9 == rotated[file.len()..],
        "the rest of hour 9 comes from the rotated file"
    );
    assert_eq!(marker, "10:0");
    f.fail_next(Fault::StaleMarkerAfterRotation, 1);
    let p = portion(&c, "orders-1", SLOW, Some(&end.marker), Some(2))
        .await
        .expect("stale");
    assert!(!p.data.is_empty(), "the stale marker serves data");
    assert!(
        current[file.len()..].starts_with(p.data.as_bytes()),
        "read in the new file at the old offset"
    );
    assert!(p.marker.starts_with("10:"));
    assert_eq!(sim.stats().fired(Fault::StaleMarkerAfterRotation), 1);

    // A "0" marker at the end of an hour segment.
    f.fail_next(Fault::ZeroMarkerAtSegmentEnd, 1);
    let r = "slowquery/mysql-slowquery.log.2024-01-04.09";
    let tail = portion(&c, "orders-1", r, None, Some(3))
        .await
        .expect("tail of rotated");
    assert_eq!((tail.marker.as_str(), tail.pending), ("0", false));
    assert_eq!(sim.stats().fired(Fault::ZeroMarkerAtSegmentEnd), 1);

    // Binary: no portion, but the complete download works.
    f.mark_binary("orders-1", r, true);
    let (code, message) = portion(&c, "orders-1", r, Some("0"), None)
        .await
        .err()
        .expect("binary");
    assert_eq!(code.as_deref(), Some("InvalidParameterValue"));
    assert!(message
        .unwrap_or_default()
        .contains("should be downloaded instead of viewed"));
    let (status, body) = rest_get(
        &sim,
        &format!("/v13/downloadCompleteLogFile/orders-1/{r}"),
        Some(TEST_SECRET_ACCESS_KEY),
    )
    .await;
    assert!(
        status == 200 && body == rotated,
        "a binary file downloads whole"
    );

    // Not found mid-rotation, for a window after the hour.
    f.set_rotation_not_found(Some(RotationNotFound {
        window: Duration::from_secs(120),
        side: RotationSide::Both,
    }));
    sim.advance_to(START + 2 * HOUR_US + 30_000_000);
    for name in [SLOW, "slowquery/mysql-slowquery.log.2024-01-04.10"] {
        let (code, _) = portion(&c, "orders-1", name, None, None)
            .await
            .err()
            .expect("mid-rotation");
        assert_eq!(code.as_deref(), Some("DBLogFileNotFoundFault"), "{name}");
    }
    let (code, message) = portion(
        &c,
        "orders-1",
        "slowquery/mysql-slowquery.log.2024-01-04.09",
        Some("0"),
        Some(1),
    )
    .await
    .err()
    .expect("still binary");
    assert_eq!(code.as_deref(), Some("InvalidParameterValue"));
    assert_eq!(
        message.as_deref(),
        Some("This file contains binary data and should be downloaded instead of viewed.")
    );
    sim.advance_to(START + 2 * HOUR_US + 3 * MINUTE_US);
    portion(&c, "orders-1", SLOW, None, None)
        .await
        .expect("found after the window");
    assert_eq!(sim.stats().fired(Fault::NotFoundMidRotation), 2);

    // An instance being created, one not ready.
    f.set_creating("orders-2", true)
        .set_not_ready("billing-1", true);
    let e = c
        .describe_db_log_files()
        .db_instance_identifier("orders-2")
        .send()
        .await
        .unwrap_err();
    assert!(e
        .as_service_error()
        .is_some_and(|e| e.is_db_instance_not_found_fault()));
    let (code, _) = portion(&c, "billing-1", "x", None, None)
        .await
        .err()
        .expect("not ready");
    assert_eq!(code.as_deref(), Some("DBInstanceNotReady"));
    let listed = c
        .describe_db_instances()
        .db_instance_identifier("orders-2")
        .send()
        .await
        .expect("listed");
    assert_eq!(
        listed.db_instances()[0].db_instance_status(),
        Some("creating")
    );

    let stats = sim.stats();
    for fault in [
        Fault::SkipLines,
        Fault::EchoMarkerAtEnd,
        Fault::BinaryFile,
        Fault::InstanceCreating,
        Fault::InstanceNotReady,
    ] {
        assert!(stats.fired(fault) >= 1, "{fault:?}");
    }
    assert!(stats.calls("DownloadDBLogFilePortion") >= 15);
    assert_eq!(stats.calls("DownloadCompleteLogFile"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_reaches_the_sdk_as_throttling() {
    let sim = start(base_config()).await;
    let c = client(&sim).await;
    sim.faults().set_throttle(Some(ThrottleConfig {
        burst: 5,
        per_second: 0.01,
    }));
    let mut codes = Vec::new();
    for _ in 0..7 {
        let r = c.describe_db_clusters().send().await;
        codes.push(r.err().and_then(|e| e.code().map(str::to_string)));
    }
    assert!(codes[..5].iter().all(Option::is_none), "{codes:?}");
    assert_eq!(codes[5].as_deref(), Some("Throttling"));
    let e = c.describe_db_clusters().send().await.unwrap_err();
    assert_eq!(e.message(), Some("Rate exceeded"));
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(400));

    sim.faults()
        .set_throttle(None)
        .fail_next(Fault::Throttle, 2);
    let forced: Vec<bool> = futures_lite(&c).await;
    assert_eq!(forced, [true, true, false]);
    assert_eq!(sim.stats().fired(Fault::Throttle), 3 + 2);

    // With the SDK's standard retries, forced throttles are retried away.
    let before = sim.stats();
    sim.faults().fail_next(Fault::Throttle, 1);
    let retrying = client_with(
        &sim,
        RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(1)),
    )
    .await;
    retrying
        .describe_db_clusters()
        .send()
        .await
        .expect("retried");
    let after = sim.stats();
    assert_eq!(
        after.fired(Fault::Throttle),
        before.fired(Fault::Throttle) + 1,
        "the forced throttle fired once"
    );
    assert_eq!(
        after.calls("DescribeDBClusters"),
        before.calls("DescribeDBClusters") + 2,
        "one throttled call, one retry"
    );
}

async fn futures_lite(c: &Client) -> Vec<bool> {
    let mut out = Vec::new();
    for _ in 0..3 {
        let r = c
            .describe_db_log_files()
            .db_instance_identifier("orders-1")
            .send()
            .await;
        out.push(
            r.err()
                .and_then(|e| e.code().map(str::to_string))
                .as_deref()
                == Some("Throttling"),
        );
    }
    out
}

/// GET `path` from the simulator, signed with `secret` (or unsigned), with a hyper client.
async fn rest_get(sim: &RdsSimulator, path: &str, secret: Option<&str>) -> (u16, Bytes) {
    let (status, _, body) = rest_get_range(sim, path, secret, None).await;
    (status, body)
}

/// [`rest_get`] with an unsigned `Range` header; also returns the `Content-Range` answered.
async fn rest_get_range(
    sim: &RdsSimulator,
    path: &str,
    secret: Option<&str>,
    range: Option<&str>,
) -> (u16, Option<String>, Bytes) {
    let host = sim.local_addr().to_string();
    let uri = format!("http://{host}{path}");
    let mut req = http::Request::builder()
        .uri(&uri)
        .header("host", &host)
        .body(Empty::<Bytes>::new())
        .expect("request");
    if let Some(range) = range {
        req.headers_mut()
            .insert("range", range.parse().expect("range header"));
    }
    if let Some(secret) = secret {
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        let identity =
            aws_credential_types::Credentials::new(TEST_ACCESS_KEY_ID, secret, None, None, "t")
                .into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(sim.region())
            .name("rds")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .expect("params")
            .into();
        let signable = SignableRequest::new(
            "GET",
            uri.clone(),
            [("host", host.as_str())].into_iter(),
            SignableBody::Bytes(b""),
        )
        .expect("signable");
        let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
        instructions.apply_to_request_http1x(&mut req);
    }
    let stream = tokio::net::TcpStream::connect(sim.local_addr())
        .await
        .expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let resp = sender.send_request(req).await.expect("send");
    let status = resp.status().as_u16();
    let content_range = resp
        .headers()
        .get("content-range")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, content_range, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_complete_download_needs_a_valid_signature() {
    let sim = start(base_config()).await;
    sim.advance_to(START + 30 * MINUTE_US);
    let want = sim.file("orders-1", SLOW).expect("file").data;
    let path = format!("/v13/downloadCompleteLogFile/orders-1/{SLOW}");
    let (status, body) = rest_get(&sim, &path, Some(TEST_SECRET_ACCESS_KEY)).await;
    assert_eq!(status, 200);
    assert!(body == want, "the complete download is the file");
    let (status, _) = rest_get(
        &sim,
        &path.replace("/v13/", "/v19/"),
        Some(TEST_SECRET_ACCESS_KEY),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = rest_get(&sim, &path, None).await;
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("MissingAuthenticationToken"));
    let (status, body) = rest_get(&sim, &path, Some("not-the-secret")).await;
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("SignatureDoesNotMatch"));
    for missing in [
        "/v13/downloadCompleteLogFile/ghost/error/x.log",
        "/v19/downloadCompleteLogFile/orders-1/error/nope.log",
    ] {
        let (status, _) = rest_get(&sim, missing, Some(TEST_SECRET_ACCESS_KEY)).await;
        assert_eq!(status, 404, "{missing}");
    }

    // A file served from disk, larger than one portion: whole over REST, drained by portions.
    let mut data = Vec::new();
    LogGenerator::new(LogKind::MysqlSlow, 11, START).fill(&mut data, 3_000_000);
    let tmp = tempfile::NamedTempFile::new().expect("temp");
    std::fs::write(tmp.path(), &data).expect("write");
    sim.add_disk_file(
        "orders-2",
        "slowquery/mysql-slowquery.log.large",
        tmp.path(),
        START / 1000,
    )
    .expect("disk");
    let (status, body) = rest_get(
        &sim,
        "/v19/downloadCompleteLogFile/orders-2/slowquery/mysql-slowquery.log.large",
        Some(TEST_SECRET_ACCESS_KEY),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        body.as_ref() == data.as_slice(),
        "the disk file downloads whole"
    );
    let c = client(&sim).await;
    assert!(
        drain(&c, "orders-2", "slowquery/mysql-slowquery.log.large").await == data,
        "the disk file drains whole"
    );
    let tail = portion(
        &c,
        "orders-2",
        "slowquery/mysql-slowquery.log.large",
        None,
        Some(2),
    )
    .await
    .expect("tail");
    assert!(data.ends_with(tail.data.as_bytes()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_is_ignored_unless_switched_on_then_answered_from_its_byte() {
    let sim = start(base_config()).await;
    sim.advance_to(START + 30 * MINUTE_US);
    let want = sim.file("orders-1", SLOW).expect("file").data;
    let path = format!("/v13/downloadCompleteLogFile/orders-1/{SLOW}");
    let get = |range: String| {
        let (sim, path) = (&sim, path.clone());
        async move { rest_get_range(sim, &path, Some(TEST_SECRET_ACCESS_KEY), Some(&range)).await }
    };
    // RDS documents no Range support: the default is the whole file, as if no header were sent.
    let (status, content_range, body) = get("bytes=100-".into()).await;
    assert_eq!((status, content_range), (200, None));
    assert!(body == want);

    sim.faults().set_range_honoured(true);
    let (status, content_range, body) = get("bytes=100-".into()).await;
    assert_eq!(status, 206);
    let total = want.len();
    assert_eq!(
        content_range.as_deref(),
        Some(format!("bytes 100-{}/{total}", total - 1).as_str())
    );
    assert!(body.as_ref() == &want[100..]);
    let (status, content_range, body) = get(format!("bytes={total}-")).await;
    assert_eq!(status, 416);
    assert_eq!(content_range, Some(format!("bytes */{total}")));
    assert!(body.is_empty());
    // Forms a resuming reader does not send are ignored, as HTTP allows.
    let (status, _, body) = get("bytes=0-9".into()).await;
    assert_eq!(status, 200);
    assert!(body == want);

    // From disk too.
    let mut data = Vec::new();
    LogGenerator::new(LogKind::MysqlSlow, 12, START).fill(&mut data, 300_000);
    let tmp = tempfile::NamedTempFile::new().expect("temp");
    std::fs::write(tmp.path(), &data).expect("write");
    sim.add_disk_file("orders-2", "slowquery/disk.log", tmp.path(), START / 1000)
        .expect("disk");
    let (status, _, body) = rest_get_range(
        &sim,
        "/v13/downloadCompleteLogFile/orders-2/slowquery/disk.log",
        Some(TEST_SECRET_ACCESS_KEY),
        Some("bytes=70000-"),
    )
    .await;
    assert_eq!(status, 206);
    assert!(body.as_ref() == &data[70_000..]);
    sim.faults().clear();
    let (status, _, body) = get("bytes=100-".into()).await;
    assert_eq!(status, 200, "clear() switches Range support off again");
    assert!(body == want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_calls_with_a_wrong_secret_are_refused() {
    let sim = start(base_config()).await;
    let conf = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(sim.endpoint_url())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            TEST_ACCESS_KEY_ID,
            "wrong",
            None,
            None,
            "test",
        ))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .retry_config(RetryConfig::disabled())
        .load()
        .await;
    let e = Client::new(&conf)
        .describe_db_clusters()
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("SignatureDoesNotMatch"));

    // Unsigned, and too large: refused before anything is parsed.
    let endpoint = sim.endpoint_url();
    let query = "Action=DescribeDBClusters&Version=2014-10-31";
    let (status, body) = control(&endpoint, "POST", "/", query.into()).await;
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("MissingAuthenticationToken"));
    let huge = format!("{query}&Pad={}", "x".repeat(100_000));
    let (status, _) = control(&endpoint, "POST", "/", huge).await;
    assert_eq!(status, 413);
    let (status, _) = control(&endpoint, "GET", "/_sim/state", String::new()).await;
    assert_eq!(status, 404, "the control API is off unless configured");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_the_control_api() {
    use std::io::{BufRead, BufReader};
    /// Ends the child even when an assertion fails.
    struct Child(std::process::Child);
    impl Drop for Child {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_rds-simulator"))
            .args([
                "--speed",
                "0",
                "--start-us",
                &START.to_string(),
                "--rate",
                "1",
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn"),
    );
    let mut line = String::new();
    let mut stdout = BufReader::new(child.0.stdout.take().expect("stdout"));
    stdout.read_line(&mut line).expect("endpoint line");
    let endpoint = line
        .trim()
        .strip_prefix("endpoint=")
        .expect("endpoint=")
        .to_string();
    async {
        let post = |path: &'static str, body: &'static str| {
            control(&endpoint, "POST", path, body.to_string())
        };
        let (s, _) = post("/_sim/advance", r#"{"by_ms": 3600000}"#).await;
        assert_eq!(s, 200);
        let (s, _) = post("/_sim/faults", r#"{"fail_next": {"Throttle": 1}}"#).await;
        assert_eq!(s, 200);
        let (s, body) = control(&endpoint, "GET", "/_sim/state", String::new()).await;
        assert_eq!(s, 200);
        let state: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(state["now_us"], START + HOUR_US);
        assert!(state["entries_written"].as_u64().unwrap_or(0) > 3600);
        let (s, _) = post("/_sim/faults", r#"{"nonsense": 1}"#).await;
        assert_eq!(s, 400);
        // Bounded and checked: no jump past 7 days, no overflow, no absurd file times.
        for body in [
            r#"{"by_ms": 604800001}"#,
            r#"{"by_ms": 18446744073709551615}"#,
            r#"{"to_us": 9223372036854775807, "by_ms": 1}"#,
        ] {
            let (s, _) = post("/_sim/advance", body).await;
            assert_eq!(s, 400, "{body}");
        }
        for (ms, want) in [("-1", 400), ("9223372036854775807", 400), ("1704358800000", 200)] {
            let body = format!(
                r#"{{"instance": "aurora-mysql-0-instance-1", "name": "x.log", "data": "a\n", "last_written_ms": {ms}}}"#
            );
            let (s, _) = control(&endpoint, "POST", "/_sim/files", body).await;
            assert_eq!(s, want, "{ms}");
        }
        let (s, body) = control(&endpoint, "GET", "/_sim/state", String::new()).await;
        assert_eq!(s, 200, "still serving");
        let state: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(state["now_us"], START + HOUR_US, "the clock did not move");
    }
    .await;
}

async fn control(endpoint: &str, method: &str, path: &str, body: String) -> (u16, Bytes) {
    let addr = endpoint.strip_prefix("http://").expect("http");
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr)
        .body(http_body_util::Full::new(Bytes::from(body)))
        .expect("request");
    let resp = sender.send_request(req).await.expect("send");
    let status = resp.status().as_u16();
    (
        status,
        resp.into_body().collect().await.expect("body").to_bytes(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_actions_are_counted_as_other() {
    let sim = start(base_config()).await;
    let endpoint = sim.endpoint_url();
    for i in 0..20 {
        let query = format!("Action=MadeUp{i}&Version=2014-10-31");
        let (status, _) = control(&endpoint, "POST", "/", query).await;
        assert_eq!(status, 403, "unsigned");
    }
    client(&sim)
        .await
        .describe_db_clusters()
        .send()
        .await
        .expect("clusters");
    let stats = sim.stats();
    assert_eq!(stats.calls(simulator::rds::OTHER_ACTION), 20);
    assert_eq!(stats.calls("DescribeDBClusters"), 1);
    assert_eq!(stats.calls.len(), 2, "{:?}", stats.calls);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_simulator_closes_keep_alive_connections() {
    use hyper_util::client::legacy::Client as HttpClient;
    use hyper_util::rt::TokioExecutor;
    let sim = start(base_config()).await;
    let http: HttpClient<_, Empty<Bytes>> = HttpClient::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .build_http();
    let uri: http::Uri = format!("{}/no-such-route", sim.endpoint_url())
        .parse()
        .expect("uri");
    let get = || {
        let req = http::Request::get(uri.clone())
            .body(Empty::<Bytes>::new())
            .expect("request");
        http.request(req)
    };
    for _ in 0..2 {
        let resp = get().await.expect("served");
        assert_eq!(resp.status(), 404);
        resp.into_body().collect().await.expect("body");
    }
    drop(sim);
    // The pooled connection is closed and nothing listens any more.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = tokio::time::timeout(Duration::from_secs(5), get())
        .await
        .expect("answers or fails at once");
    assert!(
        after.is_err(),
        "a dropped simulator still served: {:?}",
        after.map(|r| r.status())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_delay_slows_its_action_until_cleared() {
    let sim = start(base_config()).await;
    let c = client(&sim).await;
    // Long enough that three undelayed answers take less than one delay, also under qemu.
    let delay = Duration::from_secs(1);
    sim.faults()
        .set_answer_delay("DescribeDBLogFiles", Some(delay))
        .set_answer_delay("NoSuchAction", Some(delay));
    let list = || async {
        let started = std::time::Instant::now();
        c.describe_db_log_files()
            .db_instance_identifier("orders-1")
            .send()
            .await
            .expect("list");
        started.elapsed()
    };
    assert!(list().await >= delay);
    sim.faults().set_answer_delay("DescribeDBLogFiles", None);
    // Cleared: three answers in less than one delay.
    let started = std::time::Instant::now();
    for _ in 0..3 {
        list().await;
    }
    assert!(started.elapsed() < delay, "{:?}", started.elapsed());

    // The complete download (the REST path) is held the same way.
    sim.faults()
        .set_answer_delay("DownloadCompleteLogFile", Some(delay));
    sim.advance_to(START + 30 * MINUTE_US);
    let path = format!("/v13/downloadCompleteLogFile/orders-1/{SLOW}");
    let started = std::time::Instant::now();
    let (status, _) = rest_get(&sim, &path, Some(TEST_SECRET_ACCESS_KEY)).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= delay, "{:?}", started.elapsed());
}
