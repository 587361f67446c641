//! The RDS rate budget shared through Redis: a cap across processes, and a local limit while
//! Redis is away.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::*;
use metrics_exporter_prometheus::PrometheusHandle;
use net::redis::{RedisConfig, RedisLinkError, REDIS_RETRY_AFTER};
use rds::budget::{RateBudget, RateBudgetConfig, RedisBudget};

/// The process-wide recorder of this test binary (tests run as threads of one process).
fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .expect("recorder")
    })
}

/// The value of an unlabelled counter in the rendered metrics.
fn counter(name: &str) -> u64 {
    metrics()
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

/// Permits `budgets` get together within `window`, each from a task of its own.
async fn permits_within(budgets: Vec<Arc<RedisBudget>>, window: Duration) -> Vec<u64> {
    let deadline = Instant::now() + window;
    let mut tasks = Vec::new();
    for b in budgets {
        tasks.push(tokio::spawn(async move {
            let n = AtomicU64::new(0);
            while Instant::now() < deadline {
                b.acquire().await;
                if Instant::now() < deadline {
                    n.fetch_add(1, Ordering::Relaxed);
                }
            }
            n.into_inner()
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test]
async fn two_processes_together_stay_within_the_budget() {
    metrics();
    let Some(redis) = redis_config("two_processes_together_stay_within_the_budget") else {
        return;
    };
    let budget = RateBudgetConfig {
        calls_per_second: 10.0,
        burst: 2,
        ..Default::default()
    };
    let a = Arc::new(RedisBudget::new(redis.clone(), budget.clone()).unwrap());
    let b = Arc::new(RedisBudget::new(redis.clone(), budget).unwrap());
    let got = permits_within(vec![a, b], Duration::from_secs(2)).await;
    let total: u64 = got.iter().sum();
    eprintln!("permits in 2 s at 10/s, burst 2, by process: {got:?}");
    // 2 s at 10/s plus the burst, with room for the edges of the window.
    assert!(total <= 2 * 10 + 2 + 3, "{got:?}");
    assert!(
        got.iter().all(|&n| n > 0),
        "both processes got permits: {got:?}"
    );
    cleanup(&redis).await;
}

#[tokio::test]
async fn with_redis_down_the_local_fallback_still_limits() {
    metrics();
    let redis = RedisConfig {
        url: closed_port(),
        key_prefix: "unused:".into(),
        op_timeout: Duration::from_millis(100),
        ..Default::default()
    };
    let budget = RateBudgetConfig {
        calls_per_second: 10.0,
        burst: 5,
        fallback_fraction: 0.5,
        ..Default::default()
    };
    let before = counter(rds::budget::BUDGET_FALLBACKS);
    let b = Arc::new(RedisBudget::new(redis, budget).unwrap());
    let got = permits_within(vec![b], Duration::from_secs(2)).await[0];
    eprintln!("permits in 2 s from the local fallback at 5/s: {got}");
    // 5/s locally, a burst of one.
    assert!(got <= 2 * 5 + 1 + 2, "{got}");
    assert!(got > 0);
    let fallbacks = counter(rds::budget::BUDGET_FALLBACKS) - before;
    assert!(
        fallbacks >= got,
        "every permit counted: {fallbacks} < {got}"
    );
}

#[tokio::test]
async fn a_hung_redis_delays_a_permit_by_its_timeout_only() {
    let (url, server) = silent_server().await;
    let redis = RedisConfig {
        url,
        key_prefix: "unused:".into(),
        op_timeout: Duration::from_millis(150),
        ..Default::default()
    };
    let b = RedisBudget::new(redis, RateBudgetConfig::default()).unwrap();
    let t = Instant::now();
    b.acquire().await;
    b.acquire().await;
    // One timeout, then Redis is skipped; the local limit (2.5/s) spaces the second permit.
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    server.abort();
}

#[tokio::test]
async fn rds_calls_wait_for_the_shared_budget() {
    let Some(redis) = redis_config("rds_calls_wait_for_the_shared_budget") else {
        return;
    };
    let w = World::start(two_clusters()).await;
    let budget = RedisBudget::new(
        redis.clone(),
        RateBudgetConfig {
            calls_per_second: 4.0,
            burst: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let source = rds::RdsSource::new(w.rds_config(), net::http_client())
        .await
        .unwrap()
        .with_budget(Arc::new(budget));
    let t = Instant::now();
    for _ in 0..6 {
        source.list_files("shop-mysql-1").await.unwrap();
    }
    // Six calls at 4/s with no burst cannot take less than 5 intervals (the cap, not speed).
    assert!(
        t.elapsed() >= Duration::from_millis(1200),
        "{:?}",
        t.elapsed()
    );
    cleanup(&redis).await;
}

async fn ping(link: &net::redis::RedisLink) -> Result<String, RedisLinkError> {
    link.run(|mut c| async move { redis::cmd("PING").query_async::<String>(&mut c).await })
        .await
}

#[tokio::test]
async fn a_failing_link_costs_one_timeout_then_is_skipped_for_a_moment() {
    let (url, server) = silent_server().await;
    let op_timeout = Duration::from_millis(200);
    let link = net::redis::RedisLink::new(
        RedisConfig {
            url,
            key_prefix: "unused:".into(),
            op_timeout,
            ..Default::default()
        },
        "test",
        "the test goes on",
    )
    .unwrap();
    let t = Instant::now();
    let first = ping(&link).await;
    assert!(
        matches!(
            first,
            Err(RedisLinkError::Timeout(_) | RedisLinkError::Redis(_))
        ),
        "{first:?}"
    );
    for _ in 0..5 {
        assert!(matches!(ping(&link).await, Err(RedisLinkError::Skipped)));
    }
    // Six operations, one timeout: without the skip window this would take 1.2 s.
    assert!(t.elapsed() < op_timeout * 3, "{:?}", t.elapsed());
    tokio::time::sleep(REDIS_RETRY_AFTER).await;
    assert!(
        !matches!(ping(&link).await, Err(RedisLinkError::Skipped) | Ok(_)),
        "tried again after the window"
    );
    server.abort();

    let Some(redis) = redis_config("a_failing_link_costs_one_timeout_then_is_skipped") else {
        return;
    };
    let link = net::redis::RedisLink::new(redis, "test", "-").unwrap();
    assert_eq!(ping(&link).await.unwrap(), "PONG");
}
