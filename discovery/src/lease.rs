//! The discovery leader lease: exactly one discovery replica publishes jobs at a time, and
//! [`DynamoLeader`], its renewal in the background.
//!
//! # Brief overview
//! The lease is one item of the state table, [`LEADER_INSTANCE`] / [`LEADER_FILE`], with the
//! same three lease attributes as a file (see [`contract::state`]). [`LeaderLease::lead`] is
//! called every discovery pass: it renews the lease this replica holds, or takes a free or
//! expired one, by conditional `UpdateItem`s; [`LeaderLease::resign`] gives it back at shutdown.
//!
//! # The epoch and fencing
//! `lease_token` is the leader epoch: it grows by one each time leadership changes hands and
//! stays the same while one replica renews. Two replicas can still overlap briefly (a leader
//! paused past its lease does not know it was deposed), so three rules keep a deposed leader's
//! jobs out:
//! 1. every job carries the epoch of the leader that published it (`Job::leader_epoch`);
//! 2. a leader publishes only while `now < expires_ms - margin` ([`Leadership::may_publish`]),
//!    and checks [`LeaderLease::lead`] again right before publishing;
//! 3. processors drop jobs whose epoch is older than the newest they have seen, from jobs and
//!    from [`LeaderLease::newest_epoch`].
//!
//! A deposed leader's late jobs are at worst duplicates of work the new leader publishes too:
//! file leases and conditional checkpoints keep them from doing harm either way.
//!
//! # Clocks, owners, and the item
//! As for file leases, clocks must agree within a few seconds (NTP) and `lease_ttl` must exceed
//! the longest pause between two passes. `owner` must be unique among live replicas: a replica
//! does not take its own name's lease back before it expires, so a restart under the same name
//! waits at most `lease_ttl`. The leader item carries no `expires_at` (it must never expire:
//! the epoch would start over and processors would drop the new leader's jobs); never delete it
//! by hand while processors run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use contract::state::{LEADER_FILE, LEADER_INSTANCE};
use metrics::counter;
use state::dynamo::lease::{self, decode_lease, now_ms, Takeover};
use state::dynamo::table::{corrupt, Failure, Table};
use state::dynamo::Item;
use state::telemetry;
use state::{CheckpointError, DatabaseError, DynamoConfig};
use tokio::sync::watch;

/// This replica leads until `expires_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leadership {
    /// The leader epoch (`lease_token`): incremented only when leadership changes hands, kept
    /// on renewal. Jobs carry it.
    pub epoch: u64,
    /// The lease ends then, ms since the epoch (this host's clock).
    pub expires_ms: i64,
}

impl Leadership {
    /// Whether this leader may still publish now, keeping `margin` before its lease ends (the
    /// margin covers clock skew and the time a publish takes).
    pub fn may_publish(&self, margin: Duration) -> bool {
        let margin = i64::try_from(margin.as_millis()).unwrap_or(i64::MAX);
        now_ms() < self.expires_ms.saturating_sub(margin)
    }
}

/// The discovery leader lease of one replica; see the module docs.
#[derive(Debug)]
pub struct LeaderLease {
    table: Table,
    owner: String,
    lease_ttl: Duration,
    /// The epoch this replica holds, if it believes it leads.
    held: Mutex<Option<u64>>,
}

fn acquisition(outcome: &'static str) {
    counter!(telemetry::LEASE_ACQUISITIONS, "lease" => "leader", "outcome" => outcome).increment(1);
}

impl LeaderLease {
    /// The lease of replica `owner` (unique among live replicas) in `config.table`, with
    /// `config.lease_ttl`. Makes no call.
    pub async fn new(config: DynamoConfig, owner: String) -> Result<LeaderLease, CheckpointError> {
        if owner.is_empty() {
            return Err(DatabaseError::Config(
                "the leader owner name is empty; give each discovery replica a unique name".into(),
            )
            .into());
        }
        if config.lease_ttl.is_zero() {
            return Err(
                DatabaseError::Config("dynamodb.lease_ttl must be above zero".into()).into(),
            );
        }
        Ok(LeaderLease {
            table: Table::connect(&config).await?,
            owner,
            lease_ttl: config.lease_ttl,
            held: Mutex::new(None),
        })
    }

    /// The owner name of this replica.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Option<u64>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn key() -> Item {
        state::dynamo::key_item(LEADER_INSTANCE, LEADER_FILE)
    }

    fn err(&self, op: &str, f: Failure) -> CheckpointError {
        f.into_error(&self.table.name, op, "the leader lease")
    }

    /// Acquire or renew the lease: `Some` while this replica leads, `None` when another
    /// replica does. An error says nothing either way: do not publish.
    pub async fn lead(&self) -> Result<Option<Leadership>, CheckpointError> {
        let now = now_ms();
        let expires_ms =
            now.saturating_add(i64::try_from(self.lease_ttl.as_millis()).unwrap_or(i64::MAX / 2));
        let held = *self.held();
        if let Some(epoch) = held {
            // Renewal keeps the epoch. Ours as long as nobody took it (the token is unchanged),
            // even if it lapsed meanwhile: no other leader published under a newer epoch.
            let values = HashMap::from([
                (":me".to_string(), state::dynamo::s(&self.owner)),
                (":tok".to_string(), state::dynamo::n(epoch)),
                (":now".to_string(), state::dynamo::n(now)),
                (":exp".to_string(), state::dynamo::n(expires_ms)),
            ]);
            match self
                .table
                .update(
                    "lead_renew",
                    Self::key(),
                    "SET #lease_expires_ms = :exp, #updated_ms = :now",
                    "#lease_owner = :me AND #lease_token = :tok",
                    values,
                    false,
                )
                .await
            {
                Ok(_) => return Ok(Some(Leadership { epoch, expires_ms })),
                Err(Failure::Conflict(_)) => {
                    tracing::warn!(owner = %self.owner, epoch, "discovery leadership lost");
                    counter!(telemetry::LEASES_LOST, "lease" => "leader", "stage" => "renew")
                        .increment(1);
                    *self.held() = None;
                }
                Err(e) => return Err(self.err("lead", e)),
            }
        }
        let result = lease::take(
            &self.table,
            "lead_acquire",
            Self::key(),
            &self.owner,
            (now, expires_ms),
            Takeover::FreeOrExpired,
            ("", Item::new()),
        )
        .await;
        match result {
            Ok(item) => {
                let lease = decode_lease(&item).map_err(|e| self.corrupt(e))?;
                acquisition("held");
                tracing::info!(owner = %self.owner, epoch = lease.token, "discovery leadership taken");
                *self.held() = Some(lease.token);
                Ok(Some(Leadership {
                    epoch: lease.token,
                    expires_ms,
                }))
            }
            Err(Failure::Conflict(old)) => {
                acquisition("busy");
                if let Some(lease) = old.as_ref().and_then(|i| decode_lease(i).ok()) {
                    tracing::debug!(leader = ?lease.owner, epoch = lease.token, until_ms = lease.expires_ms, "another replica leads");
                }
                Ok(None)
            }
            Err(e) => {
                acquisition("error");
                Err(self.err("lead", e))
            }
        }
    }

    fn corrupt(&self, e: String) -> CheckpointError {
        corrupt(
            &self.table.name,
            &format!("{LEADER_INSTANCE}/{LEADER_FILE}"),
            e,
        )
    }

    /// Give the lease back (at shutdown), so another replica leads without waiting for it to
    /// expire. The epoch stays; the next leader gets epoch + 1.
    pub async fn resign(&self) -> Result<(), CheckpointError> {
        let Some(epoch) = self.held().take() else {
            return Ok(());
        };
        lease::release(&self.table, "resign", Self::key(), &self.owner, epoch)
            .await
            .map_err(|e| self.err("resign", e))
    }

    /// The newest leader epoch (0 when nobody ever led). Processors drop jobs older than it.
    pub async fn newest_epoch(&self) -> Result<u64, CheckpointError> {
        let item = self
            .table
            .get("newest_epoch", Self::key())
            .await
            .map_err(|e| self.err("newest_epoch", e))?;
        match item {
            None => Ok(0),
            Some(item) => Ok(decode_lease(&item).map_err(|e| self.corrupt(e))?.token),
        }
    }
}

/// The DynamoDB leader lease as discovery's [`Leader`]: renewed in the background every third
/// of its time to live (a pass slowed by RDS or a broker outage does not lose it), and leading
/// only while the lease has more than `margin` left, so a deposed leader stops publishing
/// before another can start.
pub struct DynamoLeader {
    lease: Arc<LeaderLease>,
    current: Arc<Mutex<Option<Leadership>>>,
    margin: Duration,
}

impl DynamoLeader {
    /// Lead through `lease` (time to live `ttl`), renewed in the background until `stop`.
    /// Call it inside a tokio runtime.
    pub fn start(
        lease: LeaderLease,
        ttl: Duration,
        mut stop: watch::Receiver<bool>,
    ) -> DynamoLeader {
        let leader = DynamoLeader {
            lease: Arc::new(lease),
            current: Arc::default(),
            margin: ttl / 3,
        };
        let (lease, current) = (leader.lease.clone(), leader.current.clone());
        tokio::spawn(async move {
            loop {
                let l = lease.lead().await;
                match l {
                    Ok(l) => *current.lock().unwrap_or_else(|e| e.into_inner()) = l,
                    Err(e) => tracing::warn!(error = %e, "renewing the leader lease failed"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(ttl / 3) => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
        });
        leader
    }
}

impl DynamoLeader {
    /// Give the lease back (at shutdown), so another replica leads without waiting.
    pub async fn resign(&self) -> Result<(), CheckpointError> {
        self.lease.resign().await
    }
}

#[async_trait::async_trait]
impl crate::Leader for DynamoLeader {
    async fn lead(&self) -> Result<Option<u64>, CheckpointError> {
        let cached = *self.current.lock().unwrap_or_else(|e| e.into_inner());
        let l = match cached {
            Some(l) if l.may_publish(self.margin) => Some(l),
            // Not leading, or the background renewal is late: ask now.
            _ => {
                let l = self.lease.lead().await?;
                *self.current.lock().unwrap_or_else(|e| e.into_inner()) = l;
                l
            }
        };
        Ok(l.filter(|l| l.may_publish(self.margin)).map(|l| l.epoch))
    }
}
