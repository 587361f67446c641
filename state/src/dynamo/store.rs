//! [`DynamoCheckpoints`]: the checkpoint store of the distributed mode, one leased item per file.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use contract::state::attr;
use futures_util::StreamExt;
use metrics::{counter, gauge};

use super::codec::{decode_checkpoint, get_s, key_item, n, s, show, Item};
use super::lease::{self, decode_lease, now_ms, Takeover};
use super::table::{corrupt, Failure, Table};
use super::{
    ms, DynamoConfig, MAX_HELD_LEASES, MAX_INSTANCE_FILES, MAX_QUERY_PAGES, MIN_LEASE_TTL,
    RENEW_CONCURRENCY,
};
use crate::telemetry;
use crate::{Acquired, Checkpoint, CheckpointError, CheckpointStore, DatabaseError, FileKey};

/// One lease this process holds (or held, until the caller hears it was lost).
#[derive(Clone, Debug)]
struct Lease {
    token: u64,
    /// Until when, as last written.
    expires_ms: i64,
    /// `Some(holder)` once a renewal found the lease gone.
    lost: Option<Option<String>>,
}

#[derive(Debug)]
struct Inner {
    table: Table,
    owner: String,
    lease_ttl: Duration,
    state_ttl: Duration,
    page_items: u32,
    leases: Mutex<HashMap<FileKey, Lease>>,
    renewal_paused: AtomicBool,
}

/// Checkpoints in DynamoDB with per-file leases; see the module docs.
#[derive(Debug)]
pub struct DynamoCheckpoints {
    inner: Arc<Inner>,
    renewer: tokio::task::JoinHandle<()>,
}

impl Drop for DynamoCheckpoints {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

fn lease_metric(outcome: &'static str) {
    counter!(telemetry::LEASE_ACQUISITIONS, "lease" => "file", "outcome" => outcome).increment(1);
}

fn lost_metric(stage: &'static str) {
    counter!(telemetry::LEASES_LOST, "lease" => "file", "stage" => stage).increment(1);
}

impl DynamoCheckpoints {
    /// A store on `config.table` for the process `owner` (unique among live processes, e.g.
    /// the pod name plus a random suffix). Spawns the renewal task (stopped on drop), so it
    /// must be called within a tokio runtime. Makes no call: a missing table shows at the
    /// first operation.
    pub async fn new(
        config: DynamoConfig,
        owner: String,
    ) -> Result<DynamoCheckpoints, CheckpointError> {
        if owner.is_empty() {
            return Err(DatabaseError::Config(
                "the lease owner name is empty; give each processor a unique name".into(),
            )
            .into());
        }
        if config.lease_ttl < MIN_LEASE_TTL {
            return Err(DatabaseError::Config(format!(
                "dynamodb.lease_ttl {:?} is below {MIN_LEASE_TTL:?}",
                config.lease_ttl
            ))
            .into());
        }
        if config.call_timeout >= config.lease_ttl / 3 {
            tracing::warn!(
                call_timeout = ?config.call_timeout,
                lease_ttl = ?config.lease_ttl,
                "dynamodb.call_timeout is not below lease_ttl/3: one slow renewal may let a lease expire"
            );
        }
        let table = Table::connect(&config).await?;
        let inner = Arc::new(Inner {
            table,
            owner,
            lease_ttl: config.lease_ttl,
            state_ttl: config.state_ttl,
            page_items: config.query_page_items,
            leases: Mutex::new(HashMap::new()),
            renewal_paused: AtomicBool::new(false),
        });
        let renewer = tokio::spawn(renew_loop(Arc::downgrade(&inner), config.lease_ttl / 3));
        Ok(DynamoCheckpoints { inner, renewer })
    }

    /// The owner name leases are taken under.
    pub fn owner(&self) -> &str {
        &self.inner.owner
    }

    /// Stop (`true`) or resume renewing held leases, for fault drills and tests: a paused
    /// holder loses its leases `lease_ttl` after its last commit, as a stalled process would.
    pub fn set_renewal_paused(&self, paused: bool) {
        self.inner.renewal_paused.store(paused, Ordering::Relaxed);
    }

    /// Renew every held lease now (the renewal task does this every `lease_ttl / 3`); a lease
    /// found taken over is marked lost, so the next commit of it fails at once.
    pub async fn renew_now(&self) {
        self.inner.renew_all().await;
    }
}

impl Inner {
    fn leases(&self) -> std::sync::MutexGuard<'_, HashMap<FileKey, Lease>> {
        // A panic while holding this lock leaves a map that is still consistent.
        self.leases.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_held_gauge(leases: &HashMap<FileKey, Lease>) {
        gauge!(telemetry::LEASES_HELD).set(leases.len() as f64);
    }

    /// Forget the lease on `key` if it is still the one with `token`.
    fn forget(&self, key: &FileKey, token: u64) {
        let mut leases = self.leases();
        if leases.get(key).is_some_and(|l| l.token == token) {
            leases.remove(key);
            Self::set_held_gauge(&leases);
        }
    }

    fn expires_at(&self, now_ms: i64) -> AttributeValue {
        n(now_ms / 1000 + i64::try_from(self.state_ttl.as_secs()).unwrap_or(i64::MAX / 2))
    }

    fn err(&self, op: &str, key: &FileKey, f: Failure) -> CheckpointError {
        f.into_error(&self.table.name, op, &show(key))
    }

    fn corrupt(&self, key: &FileKey, error: String) -> CheckpointError {
        corrupt(&self.table.name, &show(key), error)
    }

    /// Extend the lease on `key` held with `token`, leaving the checkpoint alone.
    async fn renew(&self, key: FileKey, token: u64) {
        let now = now_ms();
        let expires = now + ms(self.lease_ttl);
        let values = HashMap::from([
            (":me".to_string(), s(&self.owner)),
            (":tok".to_string(), n(token)),
            (":now".to_string(), n(now)),
            (":exp".to_string(), n(expires)),
            (":ttl".to_string(), self.expires_at(now)),
        ]);
        let result = self
            .table
            .update(
                "renew",
                key_item(&key.instance_id, &key.log_file),
                "SET #lease_expires_ms = :exp, #updated_ms = :now, #expires_at = :ttl",
                "#lease_owner = :me AND #lease_token = :tok AND #lease_expires_ms > :now",
                values,
                false,
            )
            .await;
        let mut leases = self.leases();
        let Some(lease) = leases.get_mut(&key).filter(|l| l.token == token) else {
            return; // released or re-acquired meanwhile
        };
        match result {
            Ok(_) => lease.expires_ms = lease.expires_ms.max(expires),
            Err(Failure::Conflict(old)) => {
                let holder = lease::holder(old.as_ref());
                tracing::warn!(file = %show(&key), holder = ?holder, "file lease lost at renewal; its next commit will fail");
                lost_metric("renew");
                lease.lost = Some(holder);
            }
            Err(e) => {
                tracing::warn!(file = %show(&key), error = %self.err("renew", &key, e), "file lease renewal failed; retrying next round");
                if lease.expires_ms <= now_ms() {
                    lost_metric("renew");
                    lease.lost = Some(None);
                }
            }
        }
    }

    /// Write `cp` for `key` while this process holds its lease, extending the lease, or with
    /// `release` giving it back in the same write (the job's last checkpoint).
    async fn write_checkpoint(
        &self,
        key: &FileKey,
        cp: &Checkpoint,
        release: bool,
    ) -> Result<(), CheckpointError> {
        let lease = self.leases().get(key).cloned();
        let lost = |holder: Option<String>| {
            lost_metric("commit");
            CheckpointError::LeaseLost {
                key: show(key),
                holder,
            }
        };
        let token = match lease {
            None => return Err(lost(None)),
            Some(Lease {
                lost: Some(holder),
                token,
                ..
            }) => {
                self.forget(key, token);
                return Err(lost(holder));
            }
            Some(lease) => lease.token,
        };
        let now = now_ms();
        let expires = if release { 0 } else { now + ms(self.lease_ttl) };
        let mut values = HashMap::from([
            (":me".to_string(), s(&self.owner)),
            (":tok".to_string(), n(token)),
            (":now".to_string(), n(now)),
            (":exp".to_string(), n(expires)),
            (":ttl".to_string(), self.expires_at(now)),
            (":offset".to_string(), n(cp.offset)),
            (":done".to_string(), AttributeValue::Bool(cp.done)),
            (":size_seen".to_string(), n(cp.size_seen)),
            (":records".to_string(), n(cp.records)),
            (":generation".to_string(), n(cp.generation)),
        ]);
        let mut update = String::from(
            "SET #offset = :offset, #done = :done, #size_seen = :size_seen, \
             #records = :records, #generation = :generation, #lease_expires_ms = :exp, \
             #updated_ms = :now, #expires_at = :ttl",
        );
        let mut remove = Vec::new();
        match &cp.marker {
            Some(m) => {
                update.push_str(
                    ", #marker_name = :marker_name, #marker = :marker, #marker_offset = :marker_offset",
                );
                values.insert(":marker_name".into(), s(&m.name));
                values.insert(":marker".into(), s(&m.marker));
                values.insert(":marker_offset".into(), n(m.offset));
            }
            None => remove.extend(["#marker_name", "#marker", "#marker_offset"]),
        }
        if release {
            // Released as `lease::release` leaves an item: no owner, expired.
            remove.push("#lease_owner");
        }
        if !remove.is_empty() {
            update.push_str(" REMOVE ");
            update.push_str(&remove.join(", "));
        }
        let op = if release { "commit_release" } else { "commit" };
        let result = self
            .table
            .update(
                op,
                key_item(&key.instance_id, &key.log_file),
                &update,
                "#lease_owner = :me AND #lease_token = :tok AND #lease_expires_ms > :now",
                values,
                false,
            )
            .await;
        match result {
            Ok(_) if release => {
                self.forget(key, token);
                Ok(())
            }
            Ok(_) => {
                if let Some(l) = self.leases().get_mut(key).filter(|l| l.token == token) {
                    l.expires_ms = l.expires_ms.max(expires);
                }
                Ok(())
            }
            Err(Failure::Conflict(old)) => {
                self.forget(key, token);
                let holder = lease::holder(old.as_ref());
                tracing::warn!(file = %show(key), holder = ?holder, "checkpoint refused: the file lease is gone");
                Err(lost(holder))
            }
            Err(e) => Err(self.err(op, key, e)),
        }
    }

    /// Renew the held leases that need it: a lease a commit extended within the last round
    /// (`lease_ttl / 3`) lasts past the next round without a call.
    async fn renew_all(&self) {
        let fresh_until = now_ms() + ms(self.lease_ttl) * 2 / 3;
        let held: Vec<(FileKey, u64)> = self
            .leases()
            .iter()
            .filter(|(_, l)| l.lost.is_none() && l.expires_ms <= fresh_until)
            .map(|(k, l)| (k.clone(), l.token))
            .collect();
        futures_util::stream::iter(held)
            .map(|(key, token)| self.renew(key, token))
            .buffer_unordered(RENEW_CONCURRENCY)
            .collect::<()>()
            .await;
    }
}

/// Renew every held lease every `period` until the store is dropped.
async fn renew_loop(weak: Weak<Inner>, period: Duration) {
    let mut tick = tokio::time::interval(period.max(Duration::from_millis(50)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(inner) = weak.upgrade() else { return };
        if !inner.renewal_paused.load(Ordering::Relaxed) {
            inner.renew_all().await;
        }
    }
}

#[async_trait::async_trait]
impl CheckpointStore for DynamoCheckpoints {
    async fn acquire(&self, key: &FileKey) -> Result<Acquired, CheckpointError> {
        let inner = &self.inner;
        {
            let leases = inner.leases();
            if leases.len() >= MAX_HELD_LEASES && !leases.contains_key(key) {
                lease_metric("error");
                return Err(CheckpointError::TooManyLeases { held: leases.len() });
            }
        }
        let now = now_ms();
        let expires = now + ms(inner.lease_ttl);
        let ttl = HashMap::from([(":ttl".to_string(), inner.expires_at(now))]);
        let result = lease::take(
            &inner.table,
            "acquire",
            key_item(&key.instance_id, &key.log_file),
            &inner.owner,
            (now, expires),
            Takeover::AlsoOwn,
            (", #expires_at = :ttl", ttl),
        )
        .await;
        let item = match result {
            Ok(item) => item,
            Err(Failure::Conflict(old)) => {
                let lease =
                    decode_lease(&old.unwrap_or_default()).map_err(|e| inner.corrupt(key, e))?;
                lease_metric("busy");
                return Ok(Acquired::Busy {
                    owner: lease.owner.unwrap_or_default(),
                    expires_ms: lease.expires_ms,
                });
            }
            Err(e) => {
                lease_metric("error");
                return Err(inner.err("acquire", key, e));
            }
        };
        let lease = decode_lease(&item);
        let token = lease.as_ref().map_or(0, |l| l.token);
        let decoded = lease.and_then(|_| decode_checkpoint(&item));
        {
            let mut leases = inner.leases();
            // Two acquisitions of one key in this process: the newest token wins.
            if leases.get(key).is_none_or(|l| l.token < token) {
                leases.insert(
                    key.clone(),
                    Lease {
                        token,
                        expires_ms: expires,
                        lost: None,
                    },
                );
            }
            Inner::set_held_gauge(&leases);
        }
        match decoded {
            Ok(cp) => {
                lease_metric("held");
                Ok(Acquired::Held(cp))
            }
            Err(e) => {
                lease_metric("error");
                // Nobody can ship a file whose state cannot be read: let it go at once.
                if let Err(re) = self.release(key).await {
                    tracing::debug!(error = %re, "releasing a corrupt file's lease failed");
                }
                Err(inner.corrupt(key, e))
            }
        }
    }

    async fn release(&self, key: &FileKey) -> Result<(), CheckpointError> {
        let inner = &self.inner;
        let lease = {
            let mut leases = inner.leases();
            let lease = leases.remove(key);
            Inner::set_held_gauge(&leases);
            lease
        };
        let Some(lease) = lease.filter(|l| l.lost.is_none()) else {
            return Ok(());
        };
        lease::release(
            &inner.table,
            "release",
            key_item(&key.instance_id, &key.log_file),
            &inner.owner,
            lease.token,
        )
        .await
        .map_err(|e| inner.err("release", key, e))
    }

    async fn load(&self, key: &FileKey) -> Result<Option<Checkpoint>, CheckpointError> {
        let inner = &self.inner;
        let item = inner
            .table
            .get("load", key_item(&key.instance_id, &key.log_file))
            .await
            .map_err(|e| inner.err("load", key, e))?;
        match item {
            None => Ok(None),
            Some(item) => decode_checkpoint(&item).map_err(|e| inner.corrupt(key, e)),
        }
    }

    async fn commit(&self, key: &FileKey, cp: &Checkpoint) -> Result<(), CheckpointError> {
        self.inner.write_checkpoint(key, cp, false).await
    }

    async fn commit_and_release(
        &self,
        key: &FileKey,
        cp: &Checkpoint,
    ) -> Result<(), CheckpointError> {
        self.inner.write_checkpoint(key, cp, true).await
    }

    async fn instance(
        &self,
        instance_id: &str,
    ) -> Result<Vec<(FileKey, Checkpoint)>, CheckpointError> {
        let inner = &self.inner;
        let what = format!("{instance_id}/*");
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        for _ in 0..MAX_QUERY_PAGES {
            let (items, next) = inner
                .table
                .query_page(instance_id, start.take(), inner.page_items)
                .await
                .map_err(|e| e.into_error(&inner.table.name, "instance", &what))?;
            for item in items {
                let log_file = get_s(&item, attr::LOG_FILE)
                    .and_then(|f| f.ok_or_else(|| "no log_file attribute".to_string()))
                    .map_err(|e| corrupt(&inner.table.name, &what, e))?
                    .to_string();
                let key = FileKey {
                    instance_id: instance_id.to_string(),
                    log_file,
                };
                let cp = decode_checkpoint(&item).map_err(|e| inner.corrupt(&key, e))?;
                if let Some(cp) = cp {
                    if out.len() >= MAX_INSTANCE_FILES {
                        return Err(DatabaseError::Config(format!(
                            "instance {instance_id} has more than {MAX_INSTANCE_FILES} file states in table {}; \
                             is something else writing the table?",
                            inner.table.name
                        ))
                        .into());
                    }
                    out.push((key, cp));
                }
            }
            match next {
                Some(k) => start = Some(k),
                None => return Ok(out),
            }
        }
        Err(DatabaseError::Config(format!(
            "listing instance {instance_id} in table {} took more than {MAX_QUERY_PAGES} pages",
            inner.table.name
        ))
        .into())
    }

    async fn remove(&self, key: &FileKey) -> Result<(), CheckpointError> {
        let inner = &self.inner;
        let values = HashMap::from([
            (":me".to_string(), s(&inner.owner)),
            (":now".to_string(), n(now_ms())),
        ]);
        let result = inner
            .table
            .delete(
                "remove",
                key_item(&key.instance_id, &key.log_file),
                "attribute_not_exists(#lease_owner) OR #lease_expires_ms < :now OR #lease_owner = :me",
                values,
            )
            .await;
        match result {
            Ok(()) => {
                let mut leases = inner.leases();
                leases.remove(key);
                Inner::set_held_gauge(&leases);
                Ok(())
            }
            Err(Failure::Conflict(_)) => {
                // Someone still works on it; it will fail to find the file, and the next
                // pass removes the state.
                tracing::debug!(file = %show(key), "state of a gone file not removed: leased by a live holder");
                Ok(())
            }
            Err(e) => Err(inner.err("remove", key, e)),
        }
    }
}
