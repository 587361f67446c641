//! The standalone scheduler's queue of jobs, in two lanes: urgent jobs (the kinds whose entries
//! may wait least, by default the error log and PostgreSQL) go to a worker before bulk ones, and
//! some workers are kept from bulk jobs so that long downloads of slow, general or audit files
//! cannot hold every worker while an error log waits.
//!
//! Both lanes are bounded. Offering a job never waits: a full lane hands the job back, and the
//! scheduler leaves it for the instance's next listing (its checkpoint has not moved, so the
//! listing finds the same unshipped bytes again). So a backlog of bulk work never stops the
//! listing loop from finding an error log's new entries.

use std::sync::Arc;

use tokio::sync::{mpsc, Mutex, OwnedSemaphorePermit, Semaphore};

/// Which lane a job goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Before bulk jobs, on any worker.
    Urgent,
    /// When no urgent job waits, on the workers not kept for urgent ones.
    Bulk,
}

impl Lane {
    /// The label of the lane in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Urgent => "urgent",
            Lane::Bulk => "bulk",
        }
    }
}

pub use contract::cadence::kept_for_urgent;

/// The sending side: the scheduler's.
#[derive(Debug)]
pub struct Offer<J> {
    urgent: mpsc::Sender<J>,
    bulk: mpsc::Sender<J>,
}

impl<J> Offer<J> {
    /// Queue `job` in `lane` without waiting; a full (or closed) lane hands it back.
    pub fn offer(&self, lane: Lane, job: J) -> Result<(), J> {
        let tx = match lane {
            Lane::Urgent => &self.urgent,
            Lane::Bulk => &self.bulk,
        };
        tx.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(j) | mpsc::error::TrySendError::Closed(j) => j,
        })
    }
}

/// The taking side, shared by the workers.
#[derive(Debug)]
pub struct Take<J> {
    urgent: Mutex<mpsc::Receiver<J>>,
    bulk: Mutex<mpsc::Receiver<J>>,
    bulk_slots: Arc<Semaphore>,
}

/// What a worker holds while it works on a bulk job: one of the bulk slots.
pub type BulkSlot = Option<OwnedSemaphorePermit>;

impl<J> Take<J> {
    /// The next job for a worker: an urgent one if one waits, else a bulk one once a bulk slot
    /// is free (held until the returned slot drops, when the job is done). `None` once the
    /// offering side is gone and both lanes are empty.
    pub async fn next(&self) -> Option<(J, BulkSlot)> {
        let urgent = async { self.urgent.lock().await.recv().await };
        let bulk = async {
            let slot = self.bulk_slots.clone().acquire_owned().await.ok()?;
            let job = self.bulk.lock().await.recv().await?;
            Some((job, slot))
        };
        // Biased: the urgent lane is asked first at every wake-up. Both futures are cancel
        // safe (a job is taken off a lane only when its future completes).
        tokio::select! {
            biased;
            Some(job) = urgent => Some((job, None)),
            Some((job, slot)) = bulk => Some((job, Some(slot))),
            else => None,
        }
    }
}

/// Two lanes of `capacity` jobs each for `workers` workers.
pub fn lanes<J>(capacity: usize, workers: usize) -> (Offer<J>, Take<J>) {
    let (urgent_tx, urgent_rx) = mpsc::channel(capacity.max(1));
    let (bulk_tx, bulk_rx) = mpsc::channel(capacity.max(1));
    let workers = workers.max(1);
    (
        Offer {
            urgent: urgent_tx,
            bulk: bulk_tx,
        },
        Take {
            urgent: Mutex::new(urgent_rx),
            bulk: Mutex::new(bulk_rx),
            bulk_slots: Arc::new(Semaphore::new(workers - kept_for_urgent(workers))),
        },
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn soon<T>(f: impl std::future::Future<Output = T>) -> Option<T> {
        tokio::time::timeout(Duration::from_millis(200), f)
            .await
            .ok()
    }

    #[tokio::test]
    async fn urgent_jobs_go_first_and_workers_are_kept_for_them() {
        let (offer, take) = lanes::<&str>(2, 4);
        offer.offer(Lane::Bulk, "slow 1").unwrap();
        offer.offer(Lane::Bulk, "slow 2").unwrap();
        assert_eq!(offer.offer(Lane::Bulk, "slow 3"), Err("slow 3"), "bounded");
        offer.offer(Lane::Urgent, "error 1").unwrap();
        // Queued after two bulk jobs, the urgent one is taken first.
        let (job, slot) = soon(take.next()).await.unwrap().unwrap();
        assert_eq!((job, slot.is_none()), ("error 1", true));
        // Three of four workers may hold bulk jobs.
        let (a, slot_a) = soon(take.next()).await.unwrap().unwrap();
        let (b, _slot_b) = soon(take.next()).await.unwrap().unwrap();
        assert_eq!((a, b), ("slow 1", "slow 2"));
        offer.offer(Lane::Bulk, "slow 3").unwrap();
        offer.offer(Lane::Bulk, "slow 4").unwrap();
        let (c, _slot_c) = soon(take.next()).await.unwrap().unwrap();
        assert_eq!(c, "slow 3");
        // The fourth worker waits for urgent work even though a bulk job is queued.
        assert!(
            soon(take.next()).await.is_none(),
            "a kept worker took bulk work"
        );
        offer.offer(Lane::Urgent, "error 2").unwrap();
        let (job, slot) = soon(take.next()).await.unwrap().unwrap();
        assert_eq!((job, slot.is_none()), ("error 2", true));
        // A bulk job done frees its slot for the next one.
        drop(slot_a);
        let (d, slot) = soon(take.next()).await.unwrap().unwrap();
        assert_eq!((d, slot.is_some()), ("slow 4", true));
    }

    #[tokio::test]
    async fn one_worker_takes_both_lanes_and_the_end_is_seen() {
        assert_eq!(kept_for_urgent(1), 0);
        assert_eq!(kept_for_urgent(2), 1);
        assert_eq!(kept_for_urgent(8), 2);
        let (offer, take) = lanes::<u32>(4, 1);
        offer.offer(Lane::Bulk, 1).unwrap();
        offer.offer(Lane::Urgent, 2).unwrap();
        assert_eq!(soon(take.next()).await.unwrap().unwrap().0, 2);
        let (job, slot) = soon(take.next()).await.unwrap().unwrap();
        assert_eq!(job, 1);
        drop(slot);
        drop(offer);
        assert!(
            soon(take.next()).await.unwrap().is_none(),
            "closed and empty"
        );
    }
}
