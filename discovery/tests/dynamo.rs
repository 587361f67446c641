//! DynamoDB state against DynamoDB Local: file checkpoints with per-file leases, and the
//! discovery leader lease. Each test creates its own table and deletes it at the end (also
//! when it fails).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use contract::state::{attr, LEADER_FILE, LEADER_INSTANCE};
use discovery::lease::LeaderLease;
use simulator::services::{require, unique_name, Service};
use state::{
    delete_table, ensure_table, Acquired, Checkpoint, CheckpointError, CheckpointStore,
    DynamoCheckpoints, DynamoConfig, FileKey, MarkerAt,
};

/// A table of one test, deleted on drop.
struct TestTable {
    config: DynamoConfig,
}

impl TestTable {
    async fn new(test: &str, lease_ttl: Duration) -> Option<TestTable> {
        let endpoint = require(Service::DynamoDb, test)?;
        let config = DynamoConfig {
            table: unique_name("aurora-logs-test"),
            region: "us-east-1".into(),
            endpoint_url: endpoint,
            access_key_id: "aurora".into(),
            secret_access_key: "aurora".into(),
            lease_ttl,
            call_timeout: Duration::from_secs(3),
            ..Default::default()
        };
        ensure_table(&config)
            .await
            .expect("creating the test table");
        // A second call finds it and is fine.
        ensure_table(&config)
            .await
            .expect("ensure_table is idempotent");
        Some(TestTable { config })
    }

    async fn store(&self, owner: &str) -> DynamoCheckpoints {
        DynamoCheckpoints::new(self.config.clone(), owner.into())
            .await
            .expect("store")
    }

    async fn leader(&self, owner: &str) -> LeaderLease {
        LeaderLease::new(self.config.clone(), owner.into())
            .await
            .expect("leader lease")
    }

    /// The raw SDK client, to look at and write items behind the store's back.
    async fn raw(&self) -> aws_sdk_dynamodb::Client {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&self.config.endpoint_url)
            .credentials_provider(aws_credential_types::Credentials::new(
                "aurora", "aurora", None, None, "test",
            ))
            .load()
            .await;
        aws_sdk_dynamodb::Client::new(&sdk)
    }

    async fn raw_item(&self, instance: &str, file: &str) -> HashMap<String, AttributeValue> {
        self.raw()
            .await
            .get_item()
            .table_name(&self.config.table)
            .key(attr::INSTANCE_ID, AttributeValue::S(instance.into()))
            .key(attr::LOG_FILE, AttributeValue::S(file.into()))
            .consistent_read(true)
            .send()
            .await
            .expect("raw get")
            .item
            .expect("the item exists")
    }

    async fn token(&self, instance: &str, file: &str) -> u64 {
        match self.raw_item(instance, file).await.get(attr::LEASE_TOKEN) {
            Some(AttributeValue::N(n)) => n.parse().unwrap(),
            other => panic!("lease_token is {other:?}"),
        }
    }
}

impl Drop for TestTable {
    fn drop(&mut self) {
        // Async cleanup from a plain thread, so that it runs after a failed assertion too.
        let config = self.config.clone();
        let done = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(delete_table(&config))
        })
        .join();
        if !matches!(done, Ok(Ok(()))) {
            eprintln!(
                "could not delete test table {}: {done:?}",
                self.config.table
            );
        }
    }
}

fn key(instance: &str, file: &str) -> FileKey {
    FileKey {
        instance_id: instance.into(),
        log_file: file.into(),
    }
}

fn cp(offset: u64) -> Checkpoint {
    Checkpoint {
        offset,
        ..Default::default()
    }
}

async fn held(store: &DynamoCheckpoints, k: &FileKey) -> Option<Checkpoint> {
    match store.acquire(k).await.expect("acquire") {
        Acquired::Held(cp) => cp,
        busy => panic!("{k:?} should be free, got {busy:?}"),
    }
}

/// Sleep until `ms_since_epoch` has passed on this host's clock, plus a little.
async fn sleep_past(ms_since_epoch: i64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let wait = (ms_since_epoch - now).max(0) as u64 + 150;
    tokio::time::sleep(Duration::from_millis(wait)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_round_trip_and_instances_list_every_page() {
    let Some(t) = TestTable::new("dynamo round trip", Duration::from_secs(30)).await else {
        return;
    };
    let a = t.store("p1").await;
    let f = key("db-1", "error/mysql-error.log.2026-11-27.10");
    assert_eq!(a.load(&f).await.unwrap(), None);
    assert_eq!(held(&a, &f).await, None, "a new file has no checkpoint yet");
    assert_eq!(
        a.load(&f).await.unwrap(),
        None,
        "a lease alone is no checkpoint"
    );

    let with_marker = Checkpoint {
        offset: 4242,
        marker: Some(MarkerAt {
            name: "error/mysql-error-running.log".into(),
            marker: "7:4000".into(),
            offset: 4000,
        }),
        done: false,
        size_seen: 5000,
        records: 17,
        generation: 3,
    };
    a.commit(&f, &with_marker).await.unwrap();
    assert_eq!(a.load(&f).await.unwrap(), Some(with_marker.clone()));
    let finished = Checkpoint {
        offset: 5000,
        marker: None,
        done: true,
        size_seen: 5000,
        records: 20,
        generation: 3,
    };
    a.commit(&f, &finished).await.unwrap();
    assert_eq!(
        a.load(&f).await.unwrap(),
        Some(finished.clone()),
        "the marker attributes are removed"
    );
    let raw = t.raw_item(&f.instance_id, &f.log_file).await;
    assert!(!raw.contains_key(attr::MARKER) && !raw.contains_key(attr::MARKER_NAME));
    assert!(raw.contains_key(attr::EXPIRES_AT) && raw.contains_key(attr::UPDATED_MS));
    assert_eq!(
        held(&a, &f).await,
        Some(finished.clone()),
        "re-acquiring returns it"
    );

    // 7 more committed files of db-1, one only leased, two of db-10 (sharing the prefix).
    let mut expected = BTreeSet::from([f.log_file.clone()]);
    for i in 0..7 {
        let k = key("db-1", &format!("slowquery/mysql-slowquery.log.{i}"));
        held(&a, &k).await;
        a.commit(&k, &cp(i)).await.unwrap();
        expected.insert(k.log_file);
    }
    held(&a, &key("db-1", "general/mysql-general.log")).await;
    for i in 0..2 {
        let k = key("db-10", &format!("error/mysql-error.log.{i}"));
        held(&a, &k).await;
        a.commit(&k, &cp(100 + i)).await.unwrap();
    }

    let mut paged = t.config.clone();
    paged.query_page_items = 3;
    for config in [t.config.clone(), paged] {
        let store = DynamoCheckpoints::new(config, "lister".into())
            .await
            .unwrap();
        let listed = store.instance("db-1").await.unwrap();
        let names: BTreeSet<String> = listed.iter().map(|(k, _)| k.log_file.clone()).collect();
        assert_eq!(names, expected, "pages of 3 and whole pages list the same");
        assert_eq!(listed.len(), expected.len(), "no file twice");
        assert!(listed.iter().all(|(k, _)| k.instance_id == "db-1"));
        let (_, got) = listed.iter().find(|(k, _)| *k == f).unwrap();
        assert_eq!(*got, finished);
        let other = store.instance("db-10").await.unwrap();
        assert_eq!(other.len(), 2, "{other:?}");
        assert!(store.instance("db-").await.unwrap().is_empty());
    }

    // remove: own or free files go, a file leased by another live holder stays.
    a.remove(&f).await.unwrap();
    assert_eq!(a.load(&f).await.unwrap(), None);
    let b = t.store("p2").await;
    let theirs = key("db-2", "error/mysql-error.log");
    held(&b, &theirs).await;
    b.commit(&theirs, &cp(9)).await.unwrap();
    a.remove(&theirs).await.unwrap();
    assert_eq!(
        a.load(&theirs).await.unwrap(),
        Some(cp(9)),
        "still leased by p2"
    );

    // release lets another owner in at once.
    b.release(&theirs).await.unwrap();
    assert_eq!(held(&a, &theirs).await, Some(cp(9)));
    assert!(b
        .commit(&theirs, &cp(10))
        .await
        .unwrap_err()
        .is_lease_lost());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_is_taken_over_and_the_old_holder_cannot_commit() {
    let Some(t) = TestTable::new("dynamo takeover", Duration::from_secs(1)).await else {
        return;
    };
    let a = t.store("p1").await;
    let b = t.store("p2").await;
    let k = key("db-1", "slowquery/mysql-slowquery.log");

    let never = key("db-1", "never-acquired");
    let e = a.commit(&never, &cp(1)).await.unwrap_err();
    assert!(
        matches!(&e, CheckpointError::LeaseLost { holder: None, .. }),
        "{e}"
    );
    assert_eq!(a.load(&never).await.unwrap(), None, "nothing was written");

    held(&a, &k).await;
    a.commit(&k, &cp(10)).await.unwrap();
    let first_token = t.token("db-1", &k.log_file).await;

    // p1 stalls: no renewals (one in flight may still land). Once its lease is over, p2 takes
    // the file from its checkpoint.
    a.set_renewal_paused(true);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let Acquired::Busy { owner, expires_ms } = b.acquire(&k).await.unwrap() else {
        panic!("p1 holds it")
    };
    assert_eq!(owner, "p1");
    sleep_past(expires_ms).await;
    assert_eq!(held(&b, &k).await, Some(cp(10)));
    let second_token = t.token("db-1", &k.log_file).await;
    assert!(second_token > first_token, "{second_token} > {first_token}");
    b.commit(&k, &cp(20)).await.unwrap();

    // p1 wakes up with a batch acknowledged: DynamoDB refuses its checkpoint.
    let e = a.commit(&k, &cp(15)).await.unwrap_err();
    match &e {
        CheckpointError::LeaseLost { key, holder } => {
            assert_eq!(key, "db-1/slowquery/mysql-slowquery.log");
            assert_eq!(holder.as_deref(), Some("p2"));
        }
        other => panic!("expected LeaseLost, got {other}"),
    }
    assert!(e.to_string().contains("p2"), "{e}");
    assert_eq!(
        a.load(&k).await.unwrap(),
        Some(cp(20)),
        "p2's offset stands"
    );
    let e = a.commit(&k, &cp(16)).await.unwrap_err();
    assert!(e.is_lease_lost(), "the lost lease is forgotten: {e}");
    assert_eq!(b.load(&k).await.unwrap(), Some(cp(20)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_commit_gives_the_lease_back_in_the_same_write() {
    let Some(t) = TestTable::new("dynamo commit and release", Duration::from_secs(30)).await else {
        return;
    };
    let a = t.store("p1").await;
    let b = t.store("p2").await;
    let k = key("db-1", "error/mysql-error.log");
    held(&a, &k).await;
    let with_marker = Checkpoint {
        marker: Some(MarkerAt {
            name: "error/mysql-error.log".into(),
            marker: "12:34".into(),
            offset: 10,
        }),
        ..cp(10)
    };
    a.commit(&k, &with_marker).await.unwrap();
    assert!(
        matches!(b.acquire(&k).await.unwrap(), Acquired::Busy { ref owner, .. } if owner == "p1"),
        "a commit keeps the lease"
    );

    // The job's last checkpoint: written, and the file free at once (no lease_ttl to wait).
    a.commit_and_release(&k, &cp(30)).await.unwrap();
    let item = t.raw_item("db-1", &k.log_file).await;
    assert!(!item.contains_key(attr::LEASE_OWNER), "{item:?}");
    assert!(
        !item.contains_key(attr::MARKER) && !item.contains_key(attr::MARKER_NAME),
        "the marker went in the same write: {item:?}"
    );
    assert_eq!(held(&b, &k).await, Some(cp(30)));

    // p1 let go: its release is a no-op that leaves p2's lease alone, and it cannot commit.
    a.release(&k).await.unwrap();
    assert!(matches!(
        a.acquire(&k).await.unwrap(),
        Acquired::Busy { ref owner, .. } if owner == "p2"
    ));
    let e = a.commit(&k, &cp(31)).await.unwrap_err();
    assert!(e.is_lease_lost(), "{e}");
    let e = a.commit_and_release(&k, &cp(31)).await.unwrap_err();
    assert!(e.is_lease_lost(), "{e}");
    b.commit_and_release(&k, &with_marker).await.unwrap();
    assert_eq!(a.load(&k).await.unwrap(), Some(with_marker));
}

/// The DynamoDB calls this thread's recorder counted, by `op`, summed over outcomes.
fn calls_by_op(handle: &metrics_exporter_prometheus::PrometheusHandle) -> BTreeMap<String, u64> {
    let mut calls = BTreeMap::new();
    for line in handle.render().lines() {
        let Some(rest) = line.strip_prefix(state::telemetry::DYNAMODB_CALLS) else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once(' ') else {
            continue;
        };
        let op = labels
            .split("op=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_default();
        *calls.entry(op.to_string()).or_default() += value.parse::<u64>().unwrap_or(0);
    }
    calls
}

/// The one-write claim itself, counted: a job's last checkpoint and its release are one call.
/// A thread-local recorder on a current-thread runtime sees exactly this test's calls (the other
/// tests of this binary run on threads of their own).
#[tokio::test(flavor = "current_thread")]
async fn the_last_commit_and_the_release_are_one_call() {
    let Some(t) = TestTable::new("dynamo one-call release", Duration::from_secs(30)).await else {
        return;
    };
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);
    let a = t.store("p1").await;
    a.set_renewal_paused(true);
    let k = key("db-1", "slowquery/mysql-slowquery.log");

    let before = calls_by_op(&handle);
    held(&a, &k).await;
    a.commit(&k, &cp(10)).await.unwrap();
    let mid = calls_by_op(&handle);
    a.commit_and_release(&k, &cp(20)).await.unwrap();
    let after = calls_by_op(&handle);

    let delta = |from: &BTreeMap<String, u64>, to: &BTreeMap<String, u64>| {
        to.iter()
            .map(|(op, n)| (op.clone(), n - from.get(op).copied().unwrap_or(0)))
            .filter(|(_, n)| *n > 0)
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(
        delta(&before, &mid),
        BTreeMap::from([("acquire".to_string(), 1), ("commit".to_string(), 1)]),
        "the counter sees this test's calls: {mid:?}"
    );
    assert_eq!(
        delta(&mid, &after),
        BTreeMap::from([("commit_release".to_string(), 1)]),
        "the last checkpoint and the release in one write: {after:?}"
    );
    // And the write did both.
    let item = t.raw_item("db-1", &k.log_file).await;
    assert!(!item.contains_key(attr::LEASE_OWNER), "{item:?}");
    assert_eq!(a.load(&k).await.unwrap(), Some(cp(20)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewals_skip_leases_a_commit_extended_within_the_round() {
    let ttl = Duration::from_millis(1500);
    let Some(t) = TestTable::new("dynamo renewal skip", ttl).await else {
        return;
    };
    let a = t.store("p1").await;
    a.set_renewal_paused(true);
    let k = key("db-1", "error/mysql-error.log");
    held(&a, &k).await;
    a.commit(&k, &cp(1)).await.unwrap();
    let updated = |item: &HashMap<String, AttributeValue>| item.get(attr::UPDATED_MS).cloned();
    let committed = updated(&t.raw_item("db-1", &k.log_file).await);
    a.renew_now().await;
    assert_eq!(
        updated(&t.raw_item("db-1", &k.log_file).await),
        committed,
        "a lease committed just now lasts past the next round without a call"
    );
    // Older than a round (a third of the ttl): renewed.
    tokio::time::sleep(ttl / 3 + Duration::from_millis(150)).await;
    a.renew_now().await;
    assert_ne!(
        updated(&t.raw_item("db-1", &k.log_file).await),
        committed,
        "a lease older than a round is renewed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_many_concurrent_acquirers_exactly_one_holds_the_file() {
    let Some(t) = TestTable::new("dynamo concurrent acquire", Duration::from_secs(30)).await else {
        return;
    };
    const N: usize = 8;
    let mut stores = Vec::new();
    for i in 0..N {
        stores.push(std::sync::Arc::new(t.store(&format!("p{i}")).await));
    }
    for round in 0..3 {
        let k = key("db-1", &format!("audit/server_audit.log.{round}"));
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(N));
        let tasks: Vec<_> = stores
            .iter()
            .map(|s| {
                let (s, k, barrier) = (s.clone(), k.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    (s.owner().to_string(), s.acquire(&k).await.unwrap())
                })
            })
            .collect();
        let mut winners = Vec::new();
        let mut busy_owners = BTreeSet::new();
        for task in tasks {
            match task.await.unwrap() {
                (owner, Acquired::Held(None)) => winners.push(owner),
                (_, Acquired::Busy { owner, .. }) => {
                    busy_owners.insert(owner);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        assert_eq!(
            busy_owners,
            BTreeSet::from([winners[0].clone()]),
            "the losers see the winner"
        );
        assert_eq!(t.token("db-1", &k.log_file).await, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_keeps_a_lease_alive_without_commits_and_notices_a_takeover() {
    let ttl = Duration::from_millis(1500);
    let Some(t) = TestTable::new("dynamo renewal", ttl).await else {
        return;
    };
    let a = t.store("p1").await;
    let b = t.store("p2").await;
    let k = key("db-1", "error/mysql-error.log");
    held(&a, &k).await;
    let started = Instant::now();
    while started.elapsed() < ttl * 4 {
        tokio::time::sleep(ttl / 2).await;
        assert!(
            matches!(b.acquire(&k).await.unwrap(), Acquired::Busy { ref owner, .. } if owner == "p1"),
            "p1's lease lives at {:?}",
            started.elapsed()
        );
    }
    a.commit(&k, &cp(5)).await.unwrap();

    // A takeover during a stall is noticed by the next renewal; the commit then fails without
    // a write.
    a.set_renewal_paused(true);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let Acquired::Busy { expires_ms, .. } = b.acquire(&k).await.unwrap() else {
        panic!("p1 holds it")
    };
    sleep_past(expires_ms).await;
    assert_eq!(held(&b, &k).await, Some(cp(5)));
    a.set_renewal_paused(false);
    a.renew_now().await;
    let e = a.commit(&k, &cp(6)).await.unwrap_err();
    assert!(
        matches!(&e, CheckpointError::LeaseLost { holder: Some(h), .. } if h == "p2"),
        "{e}"
    );
    assert_eq!(b.load(&k).await.unwrap(), Some(cp(5)));

    // Dropping a store stops its renewals: its leases run out.
    let c = key("db-1", "general/mysql-general.log");
    held(&b, &c).await;
    drop(b);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let Acquired::Busy { expires_ms, .. } = a.acquire(&c).await.unwrap() else {
        panic!("p2's lease outlives its store for a while")
    };
    sleep_past(expires_ms).await;
    assert_eq!(held(&a, &c).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_at_a_time_with_a_growing_epoch() {
    let ttl = Duration::from_secs(1);
    let Some(t) = TestTable::new("dynamo leader", ttl).await else {
        return;
    };
    let r1 = t.leader("discovery-1").await;
    let r2 = t.leader("discovery-2").await;
    assert_eq!(r1.newest_epoch().await.unwrap(), 0, "nobody led yet");

    let first = r1.lead().await.unwrap().expect("the first replica leads");
    assert!(first.may_publish(Duration::from_millis(100)));
    assert!(!first.may_publish(ttl * 2), "no publishing past the margin");
    assert_eq!(r2.lead().await.unwrap(), None);

    // Renewal keeps the epoch and extends the lease, past several ttls.
    let mut last = first;
    for _ in 0..4 {
        tokio::time::sleep(ttl / 2).await;
        let renewed = r1.lead().await.unwrap().expect("still leads");
        assert_eq!(renewed.epoch, first.epoch);
        assert!(renewed.expires_ms > last.expires_ms);
        last = renewed;
        assert_eq!(r2.lead().await.unwrap(), None);
    }
    assert_eq!(r2.newest_epoch().await.unwrap(), first.epoch);

    // r1 stops renewing: after its lease, r2 leads with the next epoch; r1 is deposed.
    sleep_past(last.expires_ms).await;
    let second = r2.lead().await.unwrap().expect("r2 takes over");
    assert_eq!(second.epoch, first.epoch + 1);
    assert_eq!(
        r1.lead().await.unwrap(),
        None,
        "the deposed leader does not renew"
    );
    assert_eq!(r1.newest_epoch().await.unwrap(), second.epoch);
    assert_eq!(
        r2.lead().await.unwrap().map(|l| l.epoch),
        Some(second.epoch)
    );

    // Resigning lets the other in at once, with the next epoch.
    r2.resign().await.unwrap();
    let third = r1
        .lead()
        .await
        .unwrap()
        .expect("r1 leads after r2 resigned");
    assert_eq!(third.epoch, second.epoch + 1);
    assert_eq!(r2.lead().await.unwrap(), None);
    let raw = t.raw_item(LEADER_INSTANCE, LEADER_FILE).await;
    assert!(
        !raw.contains_key(attr::EXPIRES_AT),
        "the leader item never expires"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_items_are_errors_not_panics() {
    let Some(t) = TestTable::new("dynamo corrupt", Duration::from_secs(30)).await else {
        return;
    };
    let raw = t.raw().await;
    let put = |instance: &str, file: &str, extra: Vec<(&str, AttributeValue)>| {
        let mut req = raw
            .put_item()
            .table_name(&t.config.table)
            .item(attr::INSTANCE_ID, AttributeValue::S(instance.into()))
            .item(attr::LOG_FILE, AttributeValue::S(file.into()));
        for (k, v) in extra {
            req = req.item(k, v);
        }
        req.send()
    };
    put(
        "db-1",
        "bad-offset",
        vec![(attr::OFFSET, AttributeValue::S("twelve".into()))],
    )
    .await
    .unwrap();
    put(
        "db-1",
        "bad-token",
        vec![
            (attr::OFFSET, AttributeValue::N("1".into())),
            (attr::LEASE_TOKEN, AttributeValue::S("one".into())),
        ],
    )
    .await
    .unwrap();
    put(
        LEADER_INSTANCE,
        LEADER_FILE,
        vec![(attr::LEASE_TOKEN, AttributeValue::Bool(true))],
    )
    .await
    .unwrap();

    let a = t.store("p1").await;
    let bad = key("db-1", "bad-offset");
    let corrupt = |e: CheckpointError| match e {
        CheckpointError::Corrupt { key, error } => (key, error),
        other => panic!("expected Corrupt, got {other}"),
    };
    let (k, error) = corrupt(a.load(&bad).await.unwrap_err());
    assert_eq!(k, "db-1/bad-offset");
    assert!(error.contains(attr::OFFSET), "{error}");
    corrupt(a.instance("db-1").await.unwrap_err());
    corrupt(a.acquire(&bad).await.unwrap_err());
    // The corrupt file's lease was let go: another owner gets the same answer, not Busy.
    let b = t.store("p2").await;
    corrupt(b.acquire(&bad).await.unwrap_err());
    // A wrong-typed token fails DynamoDB's own update: still Corrupt.
    let (k, _) = corrupt(a.acquire(&key("db-1", "bad-token")).await.unwrap_err());
    assert_eq!(k, "db-1/bad-token");

    let r = t.leader("discovery-1").await;
    corrupt(r.newest_epoch().await.unwrap_err());
    corrupt(r.lead().await.unwrap_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_fails_within_the_call_timeout() {
    let timeout = Duration::from_secs(1);
    let config = DynamoConfig {
        table: "unreachable".into(),
        endpoint_url: "http://127.0.0.1:1".into(),
        access_key_id: "aurora".into(),
        secret_access_key: "aurora".into(),
        call_timeout: timeout,
        ..Default::default()
    };
    let store = DynamoCheckpoints::new(config.clone(), "p1".into())
        .await
        .unwrap();
    let leader = LeaderLease::new(config, "d1".into()).await.unwrap();
    let k = key("db-1", "f");
    let slack = Duration::from_millis(700);

    let started = Instant::now();
    let e = store.load(&k).await.unwrap_err();
    assert!(
        started.elapsed() < timeout + slack,
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(e, CheckpointError::Database(_)), "{e}");
    assert!(e.to_string().contains("db-1/f"), "{e}");

    let started = Instant::now();
    let e = store.acquire(&k).await.unwrap_err();
    assert!(
        started.elapsed() < timeout + slack,
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(e, CheckpointError::Database(_)), "{e}");

    let started = Instant::now();
    let e = leader.lead().await.unwrap_err();
    assert!(
        started.elapsed() < timeout + slack,
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(e, CheckpointError::Database(_)), "{e}");
}
