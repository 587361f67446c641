//! The Redis cache of RDS answers: fewer RDS calls, the same jobs, and no stall without Redis.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use discovery::{Discovery, FixedLeader};
use net::redis::RedisConfig;

/// Calls of the two describe actions so far.
fn describe_calls(w: &World) -> (u64, u64) {
    let s = w.rds.stats();
    (
        s.calls("DescribeDBInstances"),
        s.calls("DescribeDBLogFiles"),
    )
}

#[tokio::test]
async fn incremental_listing_returns_only_the_files_written_since() {
    let w = World::start(two_clusters()).await;
    let source = w.source(w.rds_config()).await;
    for instance in w.rds.instance_ids() {
        let full = source.list_files_since(&instance, None).await.unwrap();
        assert_eq!(full.pages, 1);
        let newest = full.files.iter().map(|f| f.1).max().unwrap();
        w.rds.advance_by(Duration::from_secs(30));
        let since = source
            .list_files_since(&instance, Some(newest))
            .await
            .unwrap();
        let mut want: Vec<_> = w
            .rds
            .files(&instance)
            .unwrap()
            .into_iter()
            .filter(|f| f.last_written_ms >= newest)
            .map(|f| (f.name, f.last_written_ms, f.size))
            .collect();
        want.sort();
        let mut got = since.files.clone();
        got.sort();
        assert_eq!(got, want, "{instance}");
        assert!(
            !got.is_empty() && got.len() < full.files.len(),
            "{instance}: {} of {}",
            got.len(),
            full.files.len()
        );
    }
}

#[tokio::test]
async fn the_cache_saves_rds_calls_and_changes_no_job() {
    let Some(redis) = redis_config("the_cache_saves_rds_calls_and_changes_no_job") else {
        return;
    };
    let w = World::start(two_clusters()).await;
    let cached_sink = Arc::new(RecordingSink::default());
    let plain_sink = Arc::new(RecordingSink::default());
    let cached = w
        .discovery(
            config(Some(redis.clone())),
            Arc::new(FixedLeader(1)),
            cached_sink.clone(),
        )
        .await;
    let plain = w
        .discovery(config(None), Arc::new(FixedLeader(1)), plain_sink.clone())
        .await;

    let c0 = describe_calls(&w);
    let r1 = cached.pass().await.unwrap();
    let c1 = describe_calls(&w);
    assert_eq!(r1.full_listings, 2, "{r1:?}");
    assert_eq!(r1.cache.misses, 3, "instances and two listings: {r1:?}");
    plain.pass().await.unwrap();
    assert_eq!(job_set(&cached_sink.take()), job_set(&plain_sink.take()));

    // Half a minute later: the instance list comes from the cache, the files incrementally.
    w.rds.advance_by(Duration::from_secs(30));
    let c2 = describe_calls(&w);
    let r2 = cached.pass().await.unwrap();
    let c3 = describe_calls(&w);
    assert_eq!(r2.cache.hits, 3, "{r2:?}");
    assert_eq!(r2.incremental_listings, 2, "{r2:?}");
    assert_eq!(c3.0 - c2.0, 0, "no DescribeDBInstances");
    assert!(
        (c3.0 - c2.0) + (c3.1 - c2.1) < (c1.0 - c0.0) + (c1.1 - c0.1),
        "fewer calls: {c0:?} {c1:?} {c2:?} {c3:?}"
    );
    assert!(r2.rds_calls_saved >= 1);
    assert!(
        r2.files_listed < r1.files_listed,
        "only changed files came back: {} vs {}",
        r2.files_listed,
        r1.files_listed
    );
    assert_eq!(r2.files, r1.files, "the merged listing knows every file");
    plain.pass().await.unwrap();
    let (a, b) = (cached_sink.take(), plain_sink.take());
    assert!(!a.is_empty());
    assert_eq!(job_set(&a), job_set(&b), "incremental = full");

    // Past the hour: files rotate; the merged listing must still see every file and flag.
    w.rds.advance_by(Duration::from_secs(41 * 60));
    let r3 = cached.pass().await.unwrap();
    assert!(
        r3.full_listings >= 1,
        "the MySQL rotation forces a full listing: {r3:?}"
    );
    plain.pass().await.unwrap();
    let (a, b) = (cached_sink.take(), plain_sink.take());
    assert_eq!(job_set(&a), job_set(&b), "after rotation");
    assert!(a
        .iter()
        .any(|j| j.finished && j.instance_id == "shop-mysql-1"));

    // A new replica (a failover) starts warm: no DescribeDBInstances at all.
    w.rds.advance_by(Duration::from_secs(20));
    let fresh_sink = Arc::new(RecordingSink::default());
    let fresh = w
        .discovery(
            config(Some(redis.clone())),
            Arc::new(FixedLeader(2)),
            fresh_sink.clone(),
        )
        .await;
    let c4 = describe_calls(&w);
    let r4 = fresh.pass().await.unwrap();
    assert_eq!(describe_calls(&w).0, c4.0, "{r4:?}");
    assert_eq!(r4.incremental_listings, 2);
    assert_eq!(job_set(&fresh_sink.take()), w.expected_jobs());

    // Clearing the cache: every key goes, and the next pass misses.
    let deleted = cached.cache().unwrap().clear().await.unwrap();
    assert!(deleted >= 3, "{deleted}");
    assert_eq!(cached.pass().await.unwrap().cache.misses, 3);

    // Every full listing is due again after full_listing_every (whose listings then expire at
    // once: a listing older than that is never used).
    let mut c = config(Some(redis.clone()));
    c.full_listing_every = Duration::from_millis(1);
    let due = w
        .discovery(
            c,
            Arc::new(FixedLeader(3)),
            Arc::new(RecordingSink::default()),
        )
        .await;
    let r5 = due.pass().await.unwrap();
    assert_eq!(r5.full_listings, 2, "{r5:?}");

    cleanup(&redis).await;
}

/// Passes with an unusable Redis publish what passes without a cache do, within a bound.
async fn passes_without_redis(url: String, op_timeout: Duration) {
    let w = World::start(two_clusters()).await;
    let sink = Arc::new(RecordingSink::default());
    let redis = RedisConfig {
        url,
        key_prefix: "unused:".into(),
        op_timeout,
        ..Default::default()
    };
    let d: Discovery = w
        .discovery(config(Some(redis)), Arc::new(FixedLeader(1)), sink.clone())
        .await;
    for round in 0..3 {
        let t = Instant::now();
        let r = d.pass().await.unwrap();
        let took = t.elapsed();
        assert!(r.cache.errors >= 1, "round {round}: {r:?}");
        assert_eq!(r.cache.hits, 0);
        assert_eq!(r.full_listings, 2, "no cache: full listings");
        // One Redis timeout at most per second (then it is skipped), plus the RDS calls.
        assert!(
            took < op_timeout * 4 + Duration::from_secs(3),
            "round {round} took {took:?}"
        );
        let jobs = sink.take();
        if round == 0 {
            assert_eq!(job_set(&jobs), w.expected_jobs());
        }
        w.rds.advance_by(Duration::from_secs(10));
    }
    assert!(*d.ready().borrow());
}

#[tokio::test]
async fn redis_down_passes_still_publish_every_job() {
    passes_without_redis(closed_port(), Duration::from_millis(250)).await;
}

#[tokio::test]
async fn a_hung_redis_costs_a_pass_at_most_its_timeout() {
    let (url, server) = silent_server().await;
    passes_without_redis(url, Duration::from_millis(200)).await;
    server.abort();
}

/// A private redis-server on `port` (the shared one must not be stopped), or `None` when no
/// binary is there.
fn private_redis(port: u16) -> Option<std::process::Child> {
    let bin = std::env::var("AURORA_TEST_REDIS_BIN").unwrap_or_else(|_| "redis-server".into());
    let child = std::process::Command::new(bin)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let addr = format!("127.0.0.1:{port}");
    for _ in 0..100 {
        if simulator::services::answers(&addr) {
            return Some(child);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("private redis-server on {port} did not start");
}

#[tokio::test]
async fn the_cache_comes_back_when_redis_does() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let Some(mut redis_proc) = private_redis(port) else {
        eprintln!("SKIPPED the_cache_comes_back_when_redis_does: no redis-server binary");
        return;
    };
    let w = World::start(two_clusters()).await;
    let sink = Arc::new(RecordingSink::default());
    let redis = RedisConfig {
        url: format!("redis://127.0.0.1:{port}"),
        key_prefix: "t:".into(),
        op_timeout: Duration::from_millis(250),
        ..Default::default()
    };
    let d = w
        .discovery(config(Some(redis)), Arc::new(FixedLeader(1)), sink.clone())
        .await;
    assert_eq!(d.pass().await.unwrap().cache.misses, 3);
    assert_eq!(d.pass().await.unwrap().cache.hits, 3);

    redis_proc.kill().unwrap();
    redis_proc.wait().unwrap();
    let r = d.pass().await.unwrap();
    assert!(r.cache.errors >= 1 && r.cache.hits == 0, "{r:?}");
    assert_eq!(r.full_listings, 2);

    // Back, empty (no persistence): after a failed op the link waits a second, reconnects, and
    // the cache fills again.
    let mut redis_proc = private_redis(port).expect("restart");
    let mut recovered = None;
    for attempt in 0..8 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        let r = d.pass().await.unwrap();
        if r.cache.errors == 0 {
            recovered = Some(attempt);
            break;
        }
    }
    assert!(recovered.is_some(), "the cache never came back");
    let r = d.pass().await.unwrap();
    assert_eq!((r.cache.hits, r.cache.errors), (3, 0), "{r:?}");
    redis_proc.kill().unwrap();
    redis_proc.wait().unwrap();
}
