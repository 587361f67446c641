//! Which RDS calls go first while the budget is short.
//!
//! Listings and reads of the kinds that must arrive soon (the error log, PostgreSQL) go
//! before the downloads of the bulk kinds (slow, general and audit logs shipped whole after
//! their rotation). Without a rank, the hour's finished files (one complete download each, a
//! thousand or more at once in a large fleet) take the budget's permits as fast as the
//! limiter hands them out, and the listings, whose pace sets every error entry's delay, wait
//! behind them.
//!
//! A bulk call asks for a permit only while no first-rank call waits for one, but never
//! yields longer than [`Ranks::max_yield`] in a row, so that bulk calls are slowed, never
//! starved, whatever the first rank asks. The rank holds within one process: calls of
//! different processes (distributed discovery and processors) share the budget unranked.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use contract::{LogKind, PerKind};
use tokio::sync::Notify;

use crate::telemetry::{Purpose, Spend};

/// The rank of an RDS call while the budget is short.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rank {
    /// Listings, and downloads of the kinds that are not bulk.
    First,
    /// Downloads of a bulk kind: they wait while first-rank calls wait.
    Bulk,
}

/// The waiting room in front of the rate limiter.
#[derive(Debug)]
pub(crate) struct Ranks {
    /// The bulk kinds, one bit each ([`LogKind::index`]).
    bulk_kinds: AtomicU8,
    /// First-rank calls waiting for a permit now.
    first_waiting: AtomicUsize,
    /// Woken each time a first-rank call got its permit.
    first_served: Notify,
    /// The longest a bulk call yields in a row.
    max_yield: Duration,
}

impl Ranks {
    pub(crate) fn new(max_yield: Duration) -> Ranks {
        Ranks {
            bulk_kinds: AtomicU8::new(0),
            first_waiting: AtomicUsize::new(0),
            first_served: Notify::new(),
            max_yield,
        }
    }

    /// Downloads of these kinds rank [`Rank::Bulk`] from now on.
    pub(crate) fn set_bulk_kinds(&self, bulk: &PerKind<bool>) {
        let bits = bulk
            .iter()
            .filter(|(_, b)| **b)
            .fold(0u8, |bits, (k, _)| bits | 1 << k.index());
        self.bulk_kinds.store(bits, Ordering::Relaxed);
    }

    /// The rank of a call.
    pub(crate) fn rank(&self, spend: Spend) -> Rank {
        let download = matches!(
            spend.purpose,
            Purpose::Whole | Purpose::CatchUp | Purpose::Tail
        );
        let bulk = |k: LogKind| self.bulk_kinds.load(Ordering::Relaxed) & (1 << k.index()) != 0;
        if download && spend.log_kind.is_some_and(bulk) {
            Rank::Bulk
        } else {
            Rank::First
        }
    }

    /// Wait for a turn of `rank`: a first-rank turn counts as waiting until dropped (take it
    /// before the limiter, drop it after); a bulk turn waits while first-rank turns are held,
    /// at most `max_yield`. Returns whether the bulk turn gave up yielding.
    pub(crate) async fn turn(&self, rank: Rank) -> (Option<FirstTurn<'_>>, bool) {
        match rank {
            Rank::First => {
                self.first_waiting.fetch_add(1, Ordering::SeqCst);
                (Some(FirstTurn(self)), false)
            }
            Rank::Bulk => (None, !self.yield_to_first().await),
        }
    }

    /// Wait until no first-rank call waits, at most `max_yield`; false when it gave up.
    async fn yield_to_first(&self) -> bool {
        let deadline = tokio::time::Instant::now() + self.max_yield;
        loop {
            // Registered before the check: a wake-up between the two is not missed.
            let served = self.first_served.notified();
            if self.first_waiting.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, served).await.is_err() {
                return false;
            }
        }
    }
}

/// A first-rank call waiting for its permit; dropped once it has it.
#[derive(Debug)]
pub(crate) struct FirstTurn<'a>(&'a Ranks);

impl Drop for FirstTurn<'_> {
    fn drop(&mut self) {
        self.0.first_waiting.fetch_sub(1, Ordering::SeqCst);
        self.0.first_served.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spend(purpose: Purpose, name: &str) -> Spend {
        Spend::file(purpose, name)
    }

    fn slow_is_bulk() -> Ranks {
        let ranks = Ranks::new(Duration::from_secs(3600));
        ranks.set_bulk_kinds(&PerKind::from_fn(|k| k == LogKind::MysqlSlow));
        ranks
    }

    #[test]
    fn only_downloads_of_bulk_kinds_rank_bulk() {
        let ranks = slow_is_bulk();
        let slow = "slowquery/mysql-slowquery.log.2026-12-07.10";
        let error = "error/mysql-error-running.log.2026-12-07.10";
        assert_eq!(ranks.rank(spend(Purpose::Whole, slow)), Rank::Bulk);
        assert_eq!(ranks.rank(spend(Purpose::CatchUp, slow)), Rank::Bulk);
        assert_eq!(ranks.rank(spend(Purpose::Tail, slow)), Rank::Bulk);
        assert_eq!(ranks.rank(spend(Purpose::Whole, error)), Rank::First);
        assert_eq!(ranks.rank(spend(Purpose::Check, slow)), Rank::First);
        assert_eq!(ranks.rank(Spend::listing(Purpose::ListFiles)), Rank::First);
        // Nothing set: every call is first (one queue, as without ranks).
        let none = Ranks::new(Duration::from_secs(1));
        assert_eq!(none.rank(spend(Purpose::Whole, slow)), Rank::First);
    }

    #[tokio::test]
    async fn a_bulk_call_waits_while_a_first_rank_call_waits() {
        let ranks = slow_is_bulk();
        let (first, _) = ranks.turn(Rank::First).await;
        let bulk = ranks.turn(Rank::Bulk);
        tokio::pin!(bulk);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut bulk)
                .await
                .is_err(),
            "a bulk call went while a first-rank call waited"
        );
        drop(first);
        let (held, gave_up) = tokio::time::timeout(Duration::from_secs(10), bulk)
            .await
            .expect("the bulk call goes once the first-rank call has its permit");
        assert!(held.is_none() && !gave_up);
        // With no first-rank call waiting, a bulk call goes at once.
        let (_, gave_up) = ranks.turn(Rank::Bulk).await;
        assert!(!gave_up);
    }

    #[tokio::test]
    async fn a_bulk_call_yields_at_most_its_bound() {
        let ranks = Ranks::new(Duration::from_millis(20));
        ranks.set_bulk_kinds(&PerKind::from_fn(|_| true));
        let _first = ranks.turn(Rank::First).await;
        let (_, gave_up) = tokio::time::timeout(Duration::from_secs(10), ranks.turn(Rank::Bulk))
            .await
            .expect("a bulk call is slowed, never starved");
        assert!(gave_up);
    }
}
