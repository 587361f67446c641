//! Discovery passes against the RDS simulator: which jobs go out, when not, and under which
//! leader.

mod common;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use contract::LogKind;
use discovery::{DiscoveryError, FixedLeader};
use simulator::rds::Fault;

#[tokio::test]
async fn a_pass_publishes_one_job_per_unshipped_file_then_nothing_until_a_file_grows() {
    let w = World::start(two_clusters()).await;
    let sink = Arc::new(RecordingSink::default());
    let d = w
        .discovery(config(None), Arc::new(FixedLeader(7)), sink.clone())
        .await;

    // Two files already shipped: one finished (done), one live (offset at its size).
    let all_before = w.expected_jobs();
    let mut expected = all_before.clone();
    assert!(
        expected.len() >= 6,
        "the world has too few files: {expected:?}"
    );
    let finished = expected
        .iter()
        .find(|j| j.3)
        .cloned()
        .expect("a finished file");
    let live = expected
        .iter()
        .find(|j| !j.3)
        .cloned()
        .expect("a live file");
    for f in [&finished, &live] {
        w.mark_shipped(&f.0, &f.1, f.2, f.3).await;
        expected.remove(f);
    }

    let r = d.pass().await.unwrap();
    let jobs = sink.take();
    assert_eq!(r.outcome(), "ok", "{r:?}");
    assert_eq!(r.jobs_published, jobs.len());
    assert_eq!(
        job_set(&jobs),
        expected,
        "one job per file with unshipped bytes"
    );
    assert_eq!(jobs.len(), expected.len(), "no file twice");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for j in &jobs {
        assert_eq!(j.leader_epoch, 7);
        assert_eq!(Some(j.kind), contract::kind_of(&j.lasting_name));
        assert!((now_ms - j.published_ms).abs() < 60_000, "{j:?}");
        let engine = if j.instance_id.starts_with("shop") {
            "aurora-mysql"
        } else {
            "aurora-postgresql"
        };
        assert_eq!(j.engine, engine);
        if engine == "aurora-postgresql" {
            assert_eq!(j.kind, LogKind::Postgresql);
        }
    }
    // A family's older siblings go out before newer ones.
    let mut last: HashMap<(String, String), String> = HashMap::new();
    for j in &jobs {
        let fam = contract::file::family(&j.lasting_name);
        if let Some(prev) = last.insert((j.instance_id.clone(), fam), j.lasting_name.clone()) {
            assert!(prev < j.lasting_name, "{prev} after {}", j.lasting_name);
        }
    }
    assert!(*d.ready().borrow(), "ready after the first good pass");

    // Within republish_after: nothing again.
    let r = d.pass().await.unwrap();
    assert_eq!(r.jobs_published, 0, "{r:?}");
    assert_eq!(r.jobs_suppressed, expected.len());
    assert!(sink.take().is_empty());

    // A minute of writing later, the files written to are published again, with their new size.
    w.rds.advance_by(Duration::from_secs(60));
    let grown: Vec<_> = w
        .expected_jobs()
        .difference(&all_before)
        .cloned()
        .collect::<Vec<_>>();
    assert!(!grown.is_empty(), "nothing grew");
    assert!(
        grown.iter().any(|g| g.0 == live.0 && g.1 == live.1),
        "the shipped live file grew too: it has work again"
    );
    let r = d.pass().await.unwrap();
    let jobs = sink.take();
    assert_eq!(r.jobs_published, jobs.len());
    let got = job_set(&jobs);
    for g in &grown {
        assert!(got.contains(g), "{g:?} grew but was not published: {got:?}");
    }
    assert_eq!(
        got.len(),
        grown.len(),
        "only grown files: {got:?} vs {grown:?}"
    );
}

#[tokio::test]
async fn a_follower_lists_and_publishes_nothing() {
    let w = World::start(two_clusters()).await;
    let sink = Arc::new(RecordingSink::default());
    let d = w
        .discovery(config(None), ScriptedLeader::new(&[], None), sink.clone())
        .await;
    let before = w.rds.stats();
    let r = d.pass().await.unwrap();
    assert_eq!(r.epoch, None);
    assert_eq!(r.outcome(), "follower");
    assert!(sink.take().is_empty());
    assert_eq!(sink.calls.load(Ordering::Relaxed), 0);
    let after = w.rds.stats();
    for call in ["DescribeDBInstances", "DescribeDBLogFiles"] {
        assert_eq!(after.calls(call), before.calls(call), "{call}");
    }
    assert!(*d.ready().borrow(), "a healthy standby is ready");
}

#[tokio::test]
async fn a_leader_deposed_between_listing_and_publishing_publishes_nothing() {
    let w = World::start(two_clusters()).await;
    let sink = Arc::new(RecordingSink::default());
    let leader = ScriptedLeader::new(&[Some(3)], None);
    let d = w
        .discovery(config(None), leader.clone(), sink.clone())
        .await;
    let r = d.pass().await.unwrap();
    assert!(r.deposed, "{r:?}");
    assert_eq!(r.outcome(), "deposed");
    assert!(r.jobs_built > 0, "it did list: {r:?}");
    assert_eq!(r.jobs_published, 0);
    assert_eq!(
        sink.calls.load(Ordering::Relaxed),
        0,
        "the sink was never called"
    );
    assert_eq!(
        leader.calls.load(Ordering::Relaxed),
        2,
        "checked again before publishing"
    );
    assert!(w.rds.stats().calls("DescribeDBLogFiles") > 0);

    // Nothing was remembered as published: a new leader term publishes everything.
    let d2 = w
        .discovery(
            config(None),
            ScriptedLeader::new(&[], Some(4)),
            sink.clone(),
        )
        .await;
    let r = d2.pass().await.unwrap();
    assert_eq!(r.jobs_published, w.expected_jobs().len());
    assert!(sink.take().iter().all(|j| j.leader_epoch == 4));
}

#[tokio::test]
async fn a_new_epoch_during_the_pass_is_carried_by_the_jobs() {
    let w = World::start(two_clusters()).await;
    let sink = Arc::new(RecordingSink::default());
    let d = w
        .discovery(
            config(None),
            ScriptedLeader::new(&[Some(3)], Some(5)),
            sink.clone(),
        )
        .await;
    let r = d.pass().await.unwrap();
    assert_eq!(r.epoch, Some(5));
    let jobs = sink.take();
    assert!(!jobs.is_empty());
    assert!(jobs.iter().all(|j| j.leader_epoch == 5));
}

#[tokio::test]
async fn a_failed_publish_fails_the_pass_and_the_jobs_go_out_next_time() {
    let w = World::start(two_clusters()).await;
    let sink = Arc::new(RecordingSink::default());
    let mut c = config(None);
    c.publish_batch = 2;
    let d = w.discovery(c, Arc::new(FixedLeader(1)), sink.clone()).await;
    sink.fail.store(true, Ordering::Relaxed);
    match d.pass().await {
        Err(DiscoveryError::Publish(e)) => assert!(e.to_string().contains("broker"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(!*d.ready().borrow(), "no good pass yet");
    sink.fail.store(false, Ordering::Relaxed);
    let r = d.pass().await.unwrap();
    assert_eq!(r.jobs_suppressed, 0);
    assert_eq!(job_set(&sink.take()), w.expected_jobs());
    assert!(
        sink.calls.load(Ordering::Relaxed) > 2,
        "published in batches of 2"
    );
}

#[tokio::test]
async fn rds_throttling_during_a_pass_is_retried_or_fails_cleanly() {
    let w = World::start(two_clusters()).await;
    let sink = Arc::new(RecordingSink::default());
    let d = w
        .discovery(config(None), Arc::new(FixedLeader(1)), sink.clone())
        .await;
    // A few throttles: backed off, retried, and the pass completes with every job.
    w.rds.faults().fail_next(Fault::Throttle, 4);
    let r = d.pass().await.unwrap();
    assert_eq!(w.rds.stats().fired(Fault::Throttle), 4);
    assert_eq!(r.outcome(), "ok", "{r:?}");
    assert_eq!(job_set(&sink.take()), w.expected_jobs());

    // Throttled for good, with few retries: the pass fails with the throttling error, no panic.
    let mut rds = w.rds_config();
    rds.throttle_retries = 1;
    let d = discovery::Discovery::new(
        config(None),
        w.source(rds).await,
        w.checkpoints.clone(),
        Arc::new(FixedLeader(1)),
        sink.clone(),
    )
    .unwrap();
    w.rds.faults().fail_next(Fault::Throttle, 1_000);
    match d.pass().await {
        Err(DiscoveryError::Rds(e)) => assert!(e.to_string().contains("throttled"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(sink.take().is_empty());
    w.rds.faults().clear();
}

#[tokio::test]
async fn instances_whose_files_cannot_be_listed_are_reported_not_fatal() {
    let w = World::start(two_clusters()).await;
    let sink = Arc::new(RecordingSink::default());
    let mut rds = w.rds_config();
    rds.throttle_retries = 0;
    let d = w
        .discovery_over(rds, config(None), Arc::new(FixedLeader(1)), sink.clone())
        .await;
    // One token: the instance listing takes it, every file listing is throttled for good.
    w.rds
        .faults()
        .set_throttle(Some(simulator::rds::ThrottleConfig {
            burst: 1,
            per_second: 0.001,
        }));
    let r = d.pass().await;
    w.rds.faults().set_throttle(None);
    let r = r.unwrap();
    assert_eq!(r.instances, 2);
    assert_eq!(r.failed_instances, 2, "{r:?}");
    assert_eq!(r.outcome(), "partial");
    assert!(
        r.instance_errors.iter().all(|e| e.contains("throttled")),
        "{r:?}"
    );
    assert!(sink.take().is_empty());
    assert!(!*d.ready().borrow(), "no instance worked: not ready");

    // RDS recovered: the next pass publishes everything.
    let r = d.pass().await.unwrap();
    assert_eq!(r.outcome(), "ok");
    assert_eq!(job_set(&sink.take()), w.expected_jobs());
    assert!(*d.ready().borrow());
}

#[tokio::test]
async fn tag_filters_choose_the_instances() {
    let mut sim = two_clusters();
    sim.clusters[0].tags = vec![("team".into(), "shop".into())];
    sim.clusters[1].tags = vec![
        ("team".into(), "billing".into()),
        ("pii".into(), "yes".into()),
    ];
    let w = World::start(sim).await;
    for (include, exclude, want) in [
        (vec!["team=shop"], vec![], vec!["shop-mysql-1"]),
        (vec!["team"], vec!["pii"], vec!["shop-mysql-1"]),
        (vec![], vec!["team=shop"], vec!["billing-pg-1"]),
        (vec!["team=nobody"], vec![], vec![]),
        (vec![], vec![], vec!["billing-pg-1", "shop-mysql-1"]),
    ] {
        let mut rds = w.rds_config();
        rds.include_tags = include.iter().map(|s| s.to_string()).collect();
        rds.exclude_tags = exclude.iter().map(|s| s.to_string()).collect();
        let got: Vec<String> = w
            .source(rds)
            .await
            .list_instances()
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.instance_id)
            .collect();
        assert_eq!(got, want, "include {include:?} exclude {exclude:?}");
    }
}

#[tokio::test]
async fn run_passes_every_interval_until_shutdown() {
    let w = World::start(two_clusters()).await;
    let sink = Arc::new(RecordingSink::default());
    let leader = ScriptedLeader::new(&[], Some(1));
    let d = Arc::new(
        w.discovery(config(None), leader.clone(), sink.clone())
            .await,
    );
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let task = tokio::spawn({
        let d = d.clone();
        async move { d.run(shutdown).await }
    });
    let mut ready = d.ready();
    tokio::time::timeout(Duration::from_secs(20), ready.wait_for(|r| *r))
        .await
        .expect("ready after a pass")
        .unwrap();
    // poll_interval is 100 ms: a few more passes (each checks leadership twice when it has
    // jobs, once when all are suppressed).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(leader.calls.load(Ordering::Relaxed) >= 3);
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("run returns on shutdown")
        .unwrap();
    assert_eq!(job_set(&sink.take()), w.expected_jobs(), "each job once");
}

#[tokio::test]
async fn a_pass_longer_than_its_timeout_fails_cleanly() {
    let w = World::start(two_clusters()).await;
    let mut c = config(None);
    c.pass_timeout = Duration::from_millis(1);
    let d = w
        .discovery(
            c,
            Arc::new(FixedLeader(1)),
            Arc::new(RecordingSink::default()),
        )
        .await;
    // Slow RDS down: a forced throttle makes the first call back off for a while.
    w.rds.faults().fail_next(Fault::Throttle, 1);
    match d.pass().await {
        Err(DiscoveryError::Timeout(t)) => assert_eq!(t, Duration::from_millis(1)),
        other => panic!("{other:?}"),
    }
}

/// With more instances than `list_share` of the process's RDS rate can list every pass, each
/// instance is listed once per the longer interval that fits, spread over the passes: the
/// first pass lists only the instances whose turn it is, a later one the rest.
#[tokio::test]
async fn many_instances_are_listed_spread_over_the_passes_within_the_listing_share() {
    let w = World::start(two_clusters()).await;
    let sink = Arc::new(RecordingSink::default());
    let mut rds = w.rds_config();
    // Two instances at 0.4 of 1 call a second: each listed every 5 s, not every 100 ms.
    rds.calls_per_second = 1;
    let d = w
        .discovery_over(rds, config(None), Arc::new(FixedLeader(1)), sink.clone())
        .await;
    let instances_of = |jobs: &[contract::Job]| {
        jobs.iter()
            .map(|j| j.instance_id.clone())
            .collect::<std::collections::BTreeSet<_>>()
    };
    let r = d.pass().await.unwrap();
    assert_eq!(r.instances, 2);
    let first = instances_of(&sink.take());
    assert_eq!(first.len(), 1, "one instance's turn: {first:?}");
    let r = d.pass().await.unwrap();
    assert_eq!(r.jobs_published, 0, "nobody's turn yet: {r:?}");
    tokio::time::sleep(Duration::from_millis(2600)).await;
    d.pass().await.unwrap();
    let second = instances_of(&sink.take());
    assert_eq!(second.len(), 1, "{second:?}");
    assert_ne!(first, second, "the other instance's turn");
}

#[tokio::test]
async fn with_the_budget_busy_live_files_go_by_their_kinds_delay_and_finished_ones_at_once() {
    let w = World::start(two_clusters()).await;
    let sink = Arc::new(RecordingSink::default());
    let mut c = config(None);
    // No room for reads that are not due: every live file waits for its kind's delay.
    c.read_all_below = 0.0;
    c.max_delay = contract::cadence::MaxDelays(contract::PerKind::from_fn(|k| match k {
        LogKind::MysqlError | LogKind::Postgresql => Duration::ZERO,
        LogKind::MysqlSlow => Duration::from_secs(2),
        // Not tailed: shipped whole after the hourly rotation.
        LogKind::MysqlGeneral | LogKind::MysqlAudit => Duration::from_secs(3600),
    }));
    let d = w.discovery(c, Arc::new(FixedLeader(1)), sink.clone()).await;
    let expected = w.expected_jobs();
    let kind = |f: &(String, String, u64, bool)| contract::kind_of(&f.1).unwrap();
    let live_of = |k: LogKind| {
        expected
            .iter()
            .filter(|f| !f.3 && kind(f) == k)
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
    };
    for k in LogKind::ALL {
        assert!(!live_of(k).is_empty(), "the world has no live {k:?} file");
    }
    assert!(
        expected.iter().any(|f| f.3),
        "the world has no finished file"
    );

    let r = d.pass().await.unwrap();
    let got = job_set(&sink.take());
    // Finished files and the short-delay kinds' live files go at once.
    let mut want: std::collections::BTreeSet<_> =
        expected.iter().filter(|f| f.3).cloned().collect();
    want.extend(live_of(LogKind::MysqlError));
    want.extend(live_of(LogKind::Postgresql));
    assert_eq!(got, want, "{r:?}");
    let waiting = live_of(LogKind::MysqlSlow).len()
        + live_of(LogKind::MysqlGeneral).len()
        + live_of(LogKind::MysqlAudit).len();
    assert_eq!(r.files_waiting, waiting, "{r:?}");

    // The slow log's delay passes: its live file goes, with what it holds by then; the
    // untailed kinds still wait for their rotation.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = d.pass().await.unwrap();
    let got = job_set(&sink.take());
    let slow: Vec<_> = got
        .iter()
        .filter(|f| !f.3 && kind(f) == LogKind::MysqlSlow)
        .collect();
    assert_eq!(slow.len(), live_of(LogKind::MysqlSlow).len(), "{got:?}");
    assert!(
        !got.iter()
            .any(|f| !f.3 && matches!(kind(f), LogKind::MysqlGeneral | LogKind::MysqlAudit)),
        "{got:?}"
    );
    assert!(
        r.files_waiting >= live_of(LogKind::MysqlGeneral).len(),
        "{r:?}"
    );
    // Just read: the slow log waits its delay again.
    let r = d.pass().await.unwrap();
    assert!(
        !job_set(&sink.take())
            .iter()
            .any(|f| !f.3 && kind(f) == LogKind::MysqlSlow),
        "{r:?}"
    );
}

#[tokio::test]
async fn an_instance_found_fully_shipped_is_not_read_again_until_its_listing_changes() {
    let w = World::start(two_clusters()).await;
    let sink = Arc::new(RecordingSink::default());
    let d = w
        .discovery(config(None), Arc::new(FixedLeader(1)), sink.clone())
        .await;
    // Everything shipped but one file of one instance.
    let all = w.expected_jobs();
    let busy = all.iter().next().cloned().expect("a file");
    for f in all.iter().filter(|f| **f != busy) {
        w.mark_shipped(&f.0, &f.1, f.2, f.3).await;
    }
    let r = d.pass().await.unwrap();
    assert_eq!(r.state_reads_saved, 0, "nothing was read before: {r:?}");
    assert_eq!(job_set(&sink.take()), [busy.clone()].into());
    let instances = r.instances as u64;
    assert!(instances >= 2, "{r:?}");
    let files = r.files;

    // Nothing changed: only the instance with work left is read again.
    let r = d.pass().await.unwrap();
    assert_eq!(r.state_reads_saved, instances - 1, "{r:?}");
    assert_eq!(r.files, files, "a saved read still counts the files: {r:?}");

    // Shipped now: its next read finds it settled too, and then no instance is read.
    w.mark_shipped(&busy.0, &busy.1, busy.2, busy.3).await;
    let r = d.pass().await.unwrap();
    assert_eq!(r.state_reads_saved, instances - 1, "{r:?}");
    let r = d.pass().await.unwrap();
    assert_eq!(r.state_reads_saved, instances, "{r:?}");
    assert!(sink.take().is_empty());

    // The files grow: every grown file is published, read from the state as it is.
    w.rds.advance_by(Duration::from_secs(60));
    let grown: std::collections::BTreeSet<_> =
        w.expected_jobs().difference(&all).cloned().collect();
    assert!(!grown.is_empty(), "nothing grew");
    let r = d.pass().await.unwrap();
    assert_eq!(job_set(&sink.take()), grown, "{r:?}");
    let changed: std::collections::HashSet<&String> = grown.iter().map(|g| &g.0).collect();
    assert_eq!(
        r.state_reads_saved,
        instances - changed.len() as u64,
        "{r:?}"
    );

    // The skip lasts at most full_listing_every.
    let d = w
        .discovery(
            discovery::DiscoveryConfig {
                full_listing_every: Duration::ZERO,
                ..config(None)
            },
            Arc::new(FixedLeader(2)),
            sink.clone(),
        )
        .await;
    for f in &grown {
        w.mark_shipped(&f.0, &f.1, f.2, f.3).await;
    }
    for _ in 0..2 {
        let r = d.pass().await.unwrap();
        assert_eq!(r.state_reads_saved, 0, "{r:?}");
    }
}

/// Idle instances (listing unchanged across two listings) are listed at
/// `idle_list_interval` while listings are spread, and the one that writes more often, as
/// standalone does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_instances_are_listed_less_often_and_the_busy_one_more() {
    use simulator::instance::Engine;
    use simulator::rds::{ClusterConfig, SimConfig};
    let idle: Vec<String> = (0..4).map(|i| format!("idle-{i}")).collect();
    let sim = SimConfig {
        history: Duration::from_secs(10),
        start_us: Some(hour_start_plus_20_min()),
        ..Default::default()
    }
    .with_cluster(
        ClusterConfig::new("writes", Engine::AuroraMysql, &["writes-1"])
            .with_rate(0.0)
            .with_kind_rate(simulator::LogKind::MysqlError, 5.0)
            .with_seed(3),
    )
    .with_cluster(
        ClusterConfig::new(
            "idle",
            Engine::AuroraMysql,
            &idle.iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .with_rate(0.0)
        .with_seed(4),
    );
    let w = World::start(sim).await;
    let sink = Arc::new(RecordingSink::default());
    // Five instances within 4 listings a second: each every 1.25 s alike; idle ones every
    // 5 s leave 3.2 a second to the one that writes.
    let mut c = config(None);
    c.idle_list_interval = Duration::from_secs(5);
    let mut rds = w.rds_config();
    rds.calls_per_second = 10;
    rds.burst = 10;
    let d = w
        .discovery_over(rds, c, Arc::new(FixedLeader(1)), sink.clone())
        .await;
    let clock = w.rds.spawn_clock(1.0);
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(12) {
        d.pass().await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(clock);
    let stats = w.rds.stats();
    let writes = stats.listings("writes-1");
    let idle_listed: Vec<u64> = idle.iter().map(|i| stats.listings(i)).collect();
    eprintln!("listings: writing {writes}, idle {idle_listed:?}");
    let most_idle = *idle_listed.iter().max().unwrap();
    // Alike, each would be listed about 10 times in 12 s.
    assert!(
        most_idle <= 6,
        "idle instances listed {idle_listed:?} times"
    );
    assert!(
        writes >= 2 * most_idle,
        "the instance that writes listed {writes} times, idle ones {idle_listed:?}"
    );
}
