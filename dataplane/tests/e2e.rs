//! End to end through the simulators: RDS → parse → batch → zstd/gzip → OpenObserve, asserted by
//! record_id against what the simulator wrote.

mod common;

use std::time::Duration;

use common::{drain, run_for, two_clusters, World};
use dataplane::pipeline::PipelineConfig;
use dataplane::standalone::{FamilyJob, Scheduler};
use rds::DownloadMode;
use simulator::openobserve::OpenObserveConfig as StandInConfig;
use simulator::rds::Fault;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_entry_arrives_exactly_once_across_rotations_by_portions() {
    let world = World::start(two_clusters(1.0), StandInConfig::default()).await;
    let s = world
        .scheduler(
            world.rds_config(DownloadMode::Portion),
            PipelineConfig::default(),
        )
        .await;
    drain(&s).await;
    // Time moves on across an hour boundary: live files rotate under the shipper.
    for _ in 0..4 {
        world.rds.advance_by(Duration::from_secs(20 * 60));
        drain(&s).await;
    }
    let dups = world.assert_all_arrived();
    assert_eq!(dups, 0, "no crash, no duplicates");
    // The stand-in refused zstd (as released OpenObserve does): the sink fell back to gzip.
    assert!(world.oo.stats().requests_by_status.contains_key(&415));
    assert!(world.rds.stats().calls("DownloadDBLogFilePortion") > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_entry_arrives_by_the_signed_complete_download() {
    let world = World::start(
        two_clusters(1.0),
        StandInConfig {
            accept_zstd: true,
            ..Default::default()
        },
    )
    .await;
    let s = world
        .scheduler(
            world.rds_config(DownloadMode::Complete),
            PipelineConfig::default(),
        )
        .await;
    drain(&s).await;
    world.rds.advance_by(Duration::from_secs(70 * 60));
    drain(&s).await;
    assert_eq!(world.assert_all_arrived(), 0);
    assert_eq!(world.rds.stats().calls("DownloadDBLogFilePortion"), 0);
}

/// A throttled complete download backs off and asks again, like every API call, instead of
/// failing its job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_complete_download_backs_off_and_succeeds() {
    let world = World::start(two_clusters(1.0), StandInConfig::default()).await;
    let s = world
        .scheduler(
            world.rds_config(DownloadMode::Complete),
            PipelineConfig::default(),
        )
        .await;
    // Listing first, so that the throttling lands on the downloads.
    let jobs = s.discover().await.unwrap();
    world.rds.faults().fail_next(Fault::Throttle, 4);
    for job in &jobs {
        s.run_job(job)
            .await
            .expect("throttling is retried, not a failure");
    }
    drain(&s).await;
    assert!(world.rds.stats().fired(Fault::Throttle) >= 4);
    assert!(world.rds.stats().calls("DownloadCompleteLogFile") > 4);
    assert_eq!(world.assert_all_arrived(), 0);
}

/// Each RDS fault, on a fresh world; everything still arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rds_fault_is_survived() {
    for (fault, n) in [
        (Fault::Throttle, 10),
        (Fault::EarlyEndOfData, 5),
        (Fault::SkipLines, 3),
        (Fault::ZeroMarkerAtSegmentEnd, 3),
        (Fault::StaleMarkerAfterRotation, 3),
    ] {
        let world = World::start(two_clusters(1.0), StandInConfig::default()).await;
        let mut rds = world.rds_config(DownloadMode::Portion);
        rds.portion_lines = 50;
        let s = world.scheduler(rds, PipelineConfig::default()).await;
        world.rds.faults().fail_next(fault, n);
        drain(&s).await;
        // The clock starts at :20; the hour turns at +40 min.
        world.rds.advance_by(Duration::from_secs(30 * 60));
        drain(&s).await;
        // The race of every rotation: files listed at :55 (with new bytes), downloaded at :05
        // after the rotation, the live file's stored marker now pointing into the past hour.
        world.rds.advance_by(Duration::from_secs(5 * 60));
        let stale_jobs = s.discover().await.unwrap();
        world.rds.advance_by(Duration::from_secs(10 * 60));
        world.rds.faults().fail_next(fault, n);
        for job in &stale_jobs {
            let _ = s.run_job(job).await;
        }
        for _ in 0..3 {
            let _ = s.drain_once().await;
        }
        drain(&s).await;
        let fired = world.rds.stats().fired(fault);
        assert!(fired > 0, "{fault:?} never fired");
        let dups = world.assert_all_arrived();
        assert_eq!(dups, 0, "{fault:?}");
    }
}

/// A listing can promise more bytes than a portion read finds (the size moved, or RDS echoes
/// the marker at the end): the loop must stop, not spin, and deliver exactly the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_echoed_marker_at_the_end_stops_the_portion_loop() {
    use contract::file::RemoteFile;
    use net::http_client;
    use rds::RdsSource;
    use state::Checkpoint;
    let world = World::start(two_clusters(1.0), StandInConfig::default()).await;
    let source = RdsSource::new(world.rds_config(DownloadMode::Portion), http_client())
        .await
        .unwrap();
    let snap = world
        .rds
        .files("billing-pg-1")
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    let file = RemoteFile {
        name: snap.name.clone(),
        canonical: snap.name.clone(),
        last_written_ms: snap.last_written_ms,
        size: snap.size + 1000,
        // Still written to: a finished file would go by the complete download.
        finished: false,
    };
    world.rds.faults().fail_next(Fault::EchoMarkerAtEnd, 3);
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let end = tokio::time::timeout(
        Duration::from_secs(30),
        source.download("billing-pg-1", &file, &Checkpoint::default(), &tx),
    )
    .await
    .expect("the loop stops")
    .unwrap();
    drop(tx);
    let mut got = Vec::new();
    while let Some(c) = rx.recv().await {
        got.extend_from_slice(&c.data);
    }
    assert_eq!(end.offset, snap.size);
    assert_eq!(got, snap.data.to_vec());
    assert!(world.rds.stats().fired(Fault::EchoMarkerAtEnd) > 0);
}

/// The state faults: files not found for a while after a rotation, a file RDS calls binary, an
/// instance being created (no files yet) and one not ready. Everything still arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_not_found_binary_files_and_unready_instances_are_survived() {
    use simulator::rds::{RotationNotFound, RotationSide};
    let world = World::start(two_clusters(1.0), StandInConfig::default()).await;
    let s = world
        .scheduler(
            world.rds_config(DownloadMode::Portion),
            PipelineConfig::default(),
        )
        .await;
    // The live file: a finished one goes by the complete download, which has no binary check.
    let pg = world.rds.files("billing-pg-1").unwrap();
    let live = pg
        .iter()
        .find(|f| f.active)
        .expect("a live PostgreSQL file");
    world
        .rds
        .faults()
        .mark_binary("billing-pg-1", &live.name, true);
    world.rds.faults().set_creating("shop-mysql-1", true);
    drain(&s).await;
    assert!(
        world.rds.stats().fired(Fault::BinaryFile) > 0,
        "binary never fired"
    );
    assert!(
        world.rds.stats().fired(Fault::InstanceCreating) > 0,
        "creating never fired"
    );
    world.rds.faults().set_creating("shop-mysql-1", false);
    world.rds.faults().set_not_ready("billing-pg-1", true);
    drain(&s).await;
    assert!(
        world.rds.stats().fired(Fault::InstanceNotReady) > 0,
        "not-ready never fired"
    );
    world.rds.faults().set_not_ready("billing-pg-1", false);
    // Across the hour (at +40 min), the rotated and live names are not found for 5 minutes.
    world
        .rds
        .faults()
        .set_rotation_not_found(Some(RotationNotFound {
            window: Duration::from_secs(5 * 60),
            side: RotationSide::Both,
        }));
    world.rds.advance_by(Duration::from_secs(42 * 60));
    for _ in 0..3 {
        let _ = s.drain_once().await;
    }
    assert!(
        world.rds.stats().fired(Fault::NotFoundMidRotation) > 0,
        "not-found never fired"
    );
    world.rds.advance_by(Duration::from_secs(10 * 60));
    drain(&s).await;
    assert_eq!(world.assert_all_arrived(), 0);
}

/// A file that shrinks under its name started over: its new bytes ship as a new generation with
/// ids of their own, and the old generation's records stay as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_shrinks_starts_a_new_generation() {
    use dataplane::record::{id_file, record_id};
    use parsers::{Entry, Flow, LogFormat, LogParser};
    use simulator::{LogGenerator, LogKind};
    let world = World::start(two_clusters(1.0), StandInConfig::default()).await;
    let s = world
        .scheduler(
            world.rds_config(DownloadMode::Portion),
            PipelineConfig::default(),
        )
        .await;
    let name = "error/postgresql.log.2026-01-01-0000";
    let now_us = world.rds.now_us();
    let log = |seed, bytes| {
        let mut g = LogGenerator::new(LogKind::Postgresql, seed, now_us - 600_000_000);
        let mut out = Vec::new();
        g.fill(&mut out, bytes);
        out
    };
    let ids = |data: &[u8], generation| {
        let mut out = Vec::new();
        let mut p = LogParser::new(LogFormat::Postgresql, Default::default());
        let mut add = |e: &Entry<'_>| {
            out.push(record_id(
                "billing-pg-1",
                &id_file(name, generation),
                e.raw.offset,
            ));
            Flow::Continue
        };
        p.feed(data, &mut add);
        p.finish(&mut add);
        out
    };
    let first = log(1, 200_000);
    world
        .rds
        .add_file("billing-pg-1", name, first.clone(), now_us / 1000)
        .unwrap();
    drain(&s).await;
    let second = log(2, 50_000);
    world
        .rds
        .add_file("billing-pg-1", name, second.clone(), now_us / 1000 + 1000)
        .unwrap();
    drain(&s).await;
    let got = world.received();
    let (old, new) = (ids(&first, 0), ids(&second, 1));
    assert!(!old.is_empty() && !new.is_empty());
    for id in old.iter().chain(&new) {
        assert_eq!(got.get(id), Some(&1), "record {id} missing or duplicated");
    }
    let gen1 = world
        .oo
        .records("aurora_postgresql")
        .iter()
        .filter(|r| r.get("log_generation").and_then(|v| v.as_u64()) == Some(1))
        .count();
    assert_eq!(gen1, new.len());
}

/// The race of a busy file: a pass lists the files, meanwhile the previous pass's jobs read on
/// past the listed sizes, then the new pass's jobs run with their older listing. A checkpoint
/// ahead of such a listing is not a restart: nothing ships twice, no generation starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_listed_before_its_checkpoint_moved_ships_nothing_twice() {
    let (world, s, stale) = stale_jobs(DownloadMode::Portion).await;
    assert!(stale.len() >= 2, "every live file has new bytes: {stale:?}");
    world.rds.advance_by(Duration::from_secs(60));
    s.drain_once().await.unwrap();
    let checkpoints = s.context().checkpoints.clone();
    let mut behind = 0;
    for job in &stale {
        for f in &job.files {
            let key = state::FileKey {
                instance_id: job.instance.instance_id.clone(),
                log_file: f.canonical.clone(),
            };
            let cp = checkpoints.load(&key).await.unwrap().unwrap_or_default();
            behind += usize::from(cp.offset > f.size);
        }
        s.run_job(job).await.unwrap();
    }
    assert!(
        behind >= 2,
        "the race was not set up: no checkpoint ahead of its listing"
    );
    drain(&s).await;
    assert_eq!(world.assert_all_arrived(), 0);
    world.assert_each_entry_once_by_offset();
}

/// A world shipped to its end, then a minute of new entries, and the jobs a listing found then
/// (stale once anything else moves).
async fn stale_jobs(mode: DownloadMode) -> (World, Scheduler, Vec<FamilyJob>) {
    let world = World::start(two_clusters(1.0), StandInConfig::default()).await;
    let s = world
        .scheduler(world.rds_config(mode), PipelineConfig::default())
        .await;
    drain(&s).await;
    world.rds.advance_by(Duration::from_secs(60));
    let stale = s.discover().await.unwrap();
    (world, s, stale)
}

/// A job for a live MySQL name, listed in one hour and run after the file rotated: the name
/// now holds the next hour's file. The complete download has no marker to tell; without a
/// check it would ship the new file's bytes, from the old one's checkpoint, as the old file's
/// records (ids of entries that do not exist) and move the old file's checkpoint past bytes
/// it never read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_file_rotated_after_its_listing_is_not_read_as_the_old_hour() {
    let (world, s, stale) = stale_jobs(DownloadMode::Complete).await;
    let live = stale
        .iter()
        .flat_map(|j| &j.files)
        .filter(|f| contract::is_live_name(&f.name))
        .count();
    assert!(live >= 2, "live files with new bytes: {stale:?}");
    // Past the next hour boundary: every live name now holds another hour's file.
    world.rds.advance_by(Duration::from_secs(70 * 60));
    for job in &stale {
        if let Err(e) = s.run_job(job).await {
            assert_eq!(e.outcome(), "file_gone", "{e}");
        }
    }
    drain(&s).await;
    assert_eq!(world.assert_all_arrived(), 0);
    world.assert_each_entry_once_by_offset();
}

/// The same race through the distributed mode's job runner: a job published with an older
/// listing than the file's checkpoint is shipped from the checkpoint, not from a new generation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_job_older_than_the_checkpoint_ships_nothing_twice() {
    use dataplane::jobs::ShipJobs;
    use queue::{JobOutcome, JobRunner};
    let (world, s, stale) = stale_jobs(DownloadMode::Portion).await;
    world.rds.advance_by(Duration::from_secs(60));
    s.drain_once().await.unwrap();
    let runner = ShipJobs::new(s.context().clone());
    let mut ran = 0;
    for job in &stale {
        for f in &job.files {
            let kind = match parsers::detect_from_name(&f.canonical).expect("a shipped kind") {
                parsers::LogFormat::MysqlSlow => contract::LogKind::MysqlSlow,
                parsers::LogFormat::MysqlError => contract::LogKind::MysqlError,
                parsers::LogFormat::MysqlGeneral => contract::LogKind::MysqlGeneral,
                parsers::LogFormat::MysqlAudit => contract::LogKind::MysqlAudit,
                _ => contract::LogKind::Postgresql,
            };
            let queued = contract::Job {
                v: contract::JOB_VERSION,
                cluster_id: job.instance.cluster_id.clone(),
                instance_id: job.instance.instance_id.clone(),
                engine: job.instance.engine.clone(),
                engine_version: job.instance.engine_version.clone(),
                kind,
                file: f.name.clone(),
                lasting_name: f.canonical.clone(),
                last_written_ms: f.last_written_ms,
                size: f.size,
                finished: f.finished,
                leader_epoch: 1,
                published_ms: 0,
            };
            match runner.run(queued).await {
                JobOutcome::Done | JobOutcome::Skipped(_) => ran += 1,
                other => panic!("job failed: {other:?}"),
            }
        }
    }
    assert!(ran >= 2);
    drain(&s).await;
    assert_eq!(world.assert_all_arrived(), 0);
    world.assert_each_entry_once_by_offset();
}

/// OpenObserve misbehaving through a whole run: seeded random 503/429/500 answers and silent drops;
/// every entry still arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openobserve_faults_through_a_whole_run_lose_nothing() {
    let world = World::start(two_clusters(1.0), StandInConfig::default()).await;
    let s = world
        .scheduler(
            world.rds_config(DownloadMode::Portion),
            PipelineConfig::default(),
        )
        .await;
    world.oo.faults().random(7, 0.3, &[503, 429, 500]);
    world.oo.faults().drop_silently_next(2);
    drain(&s).await;
    world.rds.advance_by(Duration::from_secs(45 * 60));
    drain(&s).await;
    world.oo.faults().clear();
    drain(&s).await;
    world.assert_all_arrived();
    let stats = world.oo.stats();
    assert!(
        stats.requests_by_status.get(&503).copied().unwrap_or(0) > 0,
        "{stats:?}"
    );
    assert!(stats.records_dropped_silently > 0, "{stats:?}");
}

/// Files that RDS's retention deleted lose their checkpoints once they have been missing from
/// the listings for `forget_after`, and not before; the state keeps only listed files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_of_files_retention_deleted_are_forgotten_after_the_grace() {
    use dataplane::standalone::SchedulerConfig;
    use std::collections::BTreeSet;
    let mut sim = two_clusters(1.0);
    for c in &mut sim.clusters {
        c.retention = Some(Duration::from_secs(2 * 3600));
    }
    let world = World::start(sim, StandInConfig::default()).await;
    let grace = Duration::from_secs(1);
    let s = world
        .scheduler_with(
            world.rds_config(DownloadMode::Portion),
            PipelineConfig::default(),
            SchedulerConfig {
                workers: 3,
                forget_after: grace,
                ..Default::default()
            },
        )
        .await;
    let instance = "shop-mysql-1";
    let kept = || async {
        s.context()
            .checkpoints
            .instance(instance)
            .await
            .unwrap()
            .into_iter()
            .map(|(k, _)| k.log_file)
            .collect::<BTreeSet<String>>()
    };
    let listed = || -> BTreeSet<String> {
        world
            .rds
            .files(instance)
            .unwrap()
            .iter()
            .map(|f| contract::file::canonical_name(&f.name, f.last_written_ms))
            .collect()
    };
    drain(&s).await;
    let before = kept().await;
    assert!(before.len() >= 4, "{before:?}");
    // Three hours on: the first files are past the two-hour retention and gone from RDS.
    world.rds.advance_by(Duration::from_secs(3 * 3600));
    assert!(world.rds.entries_deleted() > 0, "retention deleted nothing");
    let now_listed = listed();
    let gone: BTreeSet<String> = before.difference(&now_listed).cloned().collect();
    assert!(!gone.is_empty(), "no checkpointed file was deleted by RDS");
    // One pass sees them missing, but not yet for the grace: still kept.
    s.discover().await.unwrap();
    assert!(kept().await.is_superset(&gone));
    tokio::time::sleep(grace + Duration::from_millis(100)).await;
    drain(&s).await;
    let after = kept().await;
    assert!(after.is_disjoint(&gone), "{after:?} still holds {gone:?}");
    assert!(
        after.is_subset(&now_listed),
        "{after:?} not all listed in {now_listed:?}"
    );
    // Nothing was shipped twice on the way, and nothing listed was forgotten.
    assert!(world.received().values().all(|&n| n == 1));
    let all_listed_shipped = now_listed.iter().all(|f| after.contains(f));
    assert!(all_listed_shipped, "{after:?} lacks some of {now_listed:?}");
}

/// Files RDS no longer writes go by one streamed complete download each, also when a part of
/// one was shipped under its live name before it rotated (a resume mid-file). With RDS
/// ignoring the `Range` header (its documentation promises none) the bytes before the
/// checkpoint are downloaded again and skipped; with RDS answering it, every byte is
/// downloaded once. Either way every entry arrives once, with no gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_files_go_whole_and_a_file_rotated_mid_resume_has_no_gap_or_duplicate() {
    for range in [false, true] {
        let world = World::start(two_clusters(1.0), StandInConfig::default()).await;
        world.rds.faults().set_range_honoured(range);
        let s = world
            .scheduler(
                world.rds_config(DownloadMode::Portion),
                PipelineConfig::default(),
            )
            .await;
        let (mut finished, mut finished_bytes, mut live_bytes) = (0, 0, 0);
        for (_, files) in contract::classify(
            world
                .rds
                .all_files()
                .into_iter()
                .map(|(_, f)| (f.name, f.last_written_ms, f.size)),
        ) {
            for f in files.iter().filter(|f| f.size > 0) {
                if f.finished {
                    finished += 1;
                    finished_bytes += f.size;
                } else {
                    live_bytes += f.size;
                }
            }
        }
        assert!(finished >= 2 && live_bytes > 0, "the world has both kinds");
        drain(&s).await;
        let first = world.rds.stats();
        assert_eq!(
            first.calls("DownloadCompleteLogFile"),
            finished,
            "one call a finished file"
        );
        assert_eq!(first.bytes("DownloadCompleteLogFile"), finished_bytes);
        assert_eq!(first.bytes("DownloadDBLogFilePortion"), live_bytes);

        // The live files rotate with part of them shipped, then are finished.
        world.rds.advance_by(Duration::from_secs(70 * 60));
        drain(&s).await;
        assert_eq!(world.assert_all_arrived(), 0, "range {range}");
        world.assert_each_entry_once_by_offset();
        let stats = world.rds.stats();
        let downloaded =
            stats.bytes("DownloadCompleteLogFile") + stats.bytes("DownloadDBLogFilePortion");
        let written: u64 = world.rds.all_files().iter().map(|(_, f)| f.size).sum();
        if range {
            assert_eq!(downloaded, written, "every byte downloaded once");
        } else {
            assert!(
                downloaded > written && downloaded <= written + live_bytes,
                "only what was shipped under live names is downloaded again: {downloaded} of {written}"
            );
        }
    }
}

/// A scheduler of `world` on the portion path with `config`.
async fn portion_scheduler(
    world: &World,
    config: dataplane::standalone::SchedulerConfig,
) -> std::sync::Arc<Scheduler> {
    let rds = world.rds_config(DownloadMode::Portion);
    std::sync::Arc::new(
        world
            .scheduler_with(rds, PipelineConfig::default(), config)
            .await,
    )
}

/// The long-running scheduler lists each instance on its own schedule and reads a live file
/// only when its kind is tailed: with the bulk kinds' maximum delay at an hour, their live
/// files are left alone (no portion of them is read) and ship whole after the rotation, while
/// the error and PostgreSQL logs are tailed. Nothing is lost either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_kinds_set_to_an_hour_ship_whole_after_rotation_and_errors_are_tailed() {
    use contract::LogKind;
    use dataplane::standalone::{MaxDelays, SchedulerConfig};
    let world = World::start(two_clusters(1.0), StandInConfig::default()).await;
    let mut max_delay = MaxDelays::default();
    for kind in [
        LogKind::MysqlSlow,
        LogKind::MysqlGeneral,
        LogKind::MysqlAudit,
    ] {
        *max_delay.0.get_mut(kind) = Duration::from_secs(3600);
    }
    let config = SchedulerConfig {
        poll_interval: Duration::from_millis(100),
        workers: 3,
        max_delay,
        ..Default::default()
    };
    let s = portion_scheduler(&world, config).await;
    run_for(&s, Duration::from_secs(3)).await;
    let live: Vec<_> = world
        .rds
        .all_files()
        .into_iter()
        .filter(|(_, f)| f.active && f.size > 0)
        .map(|(_, f)| f.name)
        .collect();
    let checkpoints = s.context().checkpoints.clone();
    for name in &live {
        let kind = contract::kind_of(name).unwrap();
        let snap = world
            .rds
            .all_files()
            .into_iter()
            .find(|(_, f)| &f.name == name)
            .unwrap();
        let key = state::FileKey {
            instance_id: snap.0.clone(),
            log_file: contract::canonical_name(name, snap.1.last_written_ms),
        };
        let offset = checkpoints
            .load(&key)
            .await
            .unwrap()
            .map_or(0, |cp| cp.offset);
        match kind {
            LogKind::MysqlError | LogKind::Postgresql => {
                assert!(offset > 0, "{name} is tailed")
            }
            _ => assert_eq!(offset, 0, "{name} waits for its rotation"),
        }
    }
    world.rds.advance_by(Duration::from_secs(70 * 60));
    run_for(&s, Duration::from_secs(3)).await;
    drain(&s).await;
    assert_eq!(world.assert_all_arrived(), 0);
    world.assert_each_entry_once_by_offset();
}

/// A live file seen for the first time holds entries written since its instance's previous
/// listing: when the instance is listed less often than a kind's maximum delay (here every
/// minute, against 30 s for the error log and PostgreSQL), such a file is read at the listing
/// that finds it, not one listing later, even with no budget to spare for reads not yet due.
/// (Instances are listed spread over the minute: the run ends after the first one's listing.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_live_file_of_a_short_delay_kind_is_read_at_the_listing_that_finds_it() {
    use contract::LogKind;
    use dataplane::standalone::SchedulerConfig;
    let world = World::start(two_clusters(1.0), StandInConfig::default()).await;
    let config = SchedulerConfig {
        poll_interval: Duration::from_secs(60),
        read_all_below: 0.0,
        workers: 3,
        ..Default::default()
    };
    let s = portion_scheduler(&world, config).await;
    run_for(&s, Duration::from_secs(3)).await;
    let checkpoints = s.context().checkpoints.clone();
    let mut tailed = 0;
    for (instance, f) in world.rds.all_files() {
        let kind = contract::kind_of(&f.name).unwrap();
        if !f.active || f.size == 0 || !matches!(kind, LogKind::MysqlError | LogKind::Postgresql) {
            continue;
        }
        let key = state::FileKey {
            instance_id: instance.clone(),
            log_file: contract::canonical_name(&f.name, f.last_written_ms),
        };
        let offset = checkpoints
            .load(&key)
            .await
            .unwrap()
            .map_or(0, |cp| cp.offset);
        if offset > 0 {
            tailed += 1;
        }
    }
    assert!(
        tailed >= 1,
        "the first instance's live error or PostgreSQL log was left for the next listing"
    );
}
