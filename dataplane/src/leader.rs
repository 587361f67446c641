//! The discovery leader lease: exactly one discovery replica publishes jobs at a time.
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
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use contract::state::{LEADER_FILE, LEADER_INSTANCE};
use metrics::counter;

use crate::checkpoint::dynamo::{corrupt, decode_lease, key_item, now_ms, Failure, Table};
use crate::checkpoint::{CheckpointError, DynamoConfig};
use crate::telemetry;

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

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

impl LeaderLease {
    /// The lease of replica `owner` (unique among live replicas) in `config.table`, with
    /// `config.lease_ttl`. Makes no call.
    pub async fn new(config: DynamoConfig, owner: String) -> Result<LeaderLease, CheckpointError> {
        if owner.is_empty() {
            return Err(CheckpointError::Database(
                "the leader owner name is empty; give each discovery replica a unique name".into(),
            ));
        }
        if config.lease_ttl.is_zero() {
            return Err(CheckpointError::Database(
                "dynamodb.lease_ttl must be above zero".into(),
            ));
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

    fn key() -> HashMap<String, AttributeValue> {
        key_item(LEADER_INSTANCE, LEADER_FILE)
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
                (":me".to_string(), AttributeValue::S(self.owner.clone())),
                (":tok".to_string(), n(epoch)),
                (":now".to_string(), n(now)),
                (":exp".to_string(), n(expires_ms)),
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
        let values = HashMap::from([
            (":me".to_string(), AttributeValue::S(self.owner.clone())),
            (":now".to_string(), n(now)),
            (":exp".to_string(), n(expires_ms)),
            (":zero".to_string(), n(0)),
            (":one".to_string(), n(1)),
        ]);
        let result = self
            .table
            .update(
                "lead_acquire",
                Self::key(),
                "SET #lease_owner = :me, #lease_expires_ms = :exp, \
                 #lease_token = if_not_exists(#lease_token, :zero) + :one, #updated_ms = :now",
                "attribute_not_exists(#lease_owner) OR #lease_expires_ms < :now",
                values,
                true,
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
        let values = HashMap::from([
            (":me".to_string(), AttributeValue::S(self.owner.clone())),
            (":tok".to_string(), n(epoch)),
            (":zero".to_string(), n(0)),
        ]);
        match self
            .table
            .update(
                "resign",
                Self::key(),
                "REMOVE #lease_owner SET #lease_expires_ms = :zero",
                "#lease_owner = :me AND #lease_token = :tok",
                values,
                false,
            )
            .await
        {
            Ok(_) | Err(Failure::Conflict(_)) => Ok(()),
            Err(e) => Err(self.err("resign", e)),
        }
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
