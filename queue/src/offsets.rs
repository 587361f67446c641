//! Which offsets may be committed: per assigned partition, the contiguous prefix of completed
//! messages.
//!
//! Jobs of one partition finish out of order. A partition's commit position is the offset of
//! its oldest message not yet completed, or one past the newest received when all are; every
//! offset below it that this process received is complete, and offsets it never received
//! (compaction, control records) need no work. Memory is one entry per message received and
//! not yet completed, so it is bounded by the running and waiting jobs, not by how far a slow
//! job lags behind fast ones.
//!
//! Each assignment of a partition gets a new generation: a job of a partition that was revoked
//! (and maybe assigned again since) completes into nothing, so its offset is never committed
//! by this process.

use std::collections::{BTreeSet, HashMap};

/// A topic and partition.
pub(crate) type Partition = (String, i32);

/// A received message, to be completed once its job is done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ticket {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    generation: u64,
}

#[derive(Debug)]
struct PartitionOffsets {
    generation: u64,
    /// Received, not completed.
    open: BTreeSet<i64>,
    /// The newest offset received.
    newest: Option<i64>,
    /// The position last handed out for commit (at first, the first offset received).
    committed: Option<i64>,
}

impl PartitionOffsets {
    fn position(&self) -> Option<i64> {
        match self.open.first() {
            Some(&o) => Some(o),
            None => self.newest.map(|n| n + 1),
        }
    }
}

/// The offsets of every partition assigned to this process.
#[derive(Debug, Default)]
pub(crate) struct OffsetTracker {
    partitions: HashMap<Partition, PartitionOffsets>,
    generations: u64,
}

impl OffsetTracker {
    /// `topic/partition` is now ours (again): track it from scratch.
    pub fn assign(&mut self, topic: &str, partition: i32) {
        self.generations += 1;
        self.partitions.insert(
            (topic.to_string(), partition),
            PartitionOffsets {
                generation: self.generations,
                open: BTreeSet::new(),
                newest: None,
                committed: None,
            },
        );
    }

    /// `topic/partition` is no longer ours: returns its position if it advanced past the
    /// last one committed (to commit it on the way out).
    pub fn revoke(&mut self, topic: &str, partition: i32) -> Option<i64> {
        let p = self.partitions.remove(&(topic.to_string(), partition))?;
        p.position().filter(|&pos| Some(pos) > p.committed)
    }

    /// Every partition assigned.
    pub fn assigned(&self) -> impl Iterator<Item = &Partition> {
        self.partitions.keys()
    }

    /// A message arrived; `None` if its partition is not assigned (a late message of a
    /// revoked partition, to be ignored).
    pub fn received(&mut self, topic: &str, partition: i32, offset: i64) -> Option<Ticket> {
        let p = self.partitions.get_mut(&(topic.to_string(), partition))?;
        if p.newest.is_none() {
            // Reading starts at the group's position: committing it again is no progress.
            p.committed = Some(offset);
        }
        p.open.insert(offset);
        p.newest = Some(p.newest.map_or(offset, |n| n.max(offset)));
        Some(Ticket {
            topic: topic.to_string(),
            partition,
            offset,
            generation: p.generation,
        })
    }

    /// Whether `t` belongs to the current assignment of its partition.
    pub fn is_current(&self, t: &Ticket) -> bool {
        self.partitions
            .get(&(t.topic.clone(), t.partition))
            .is_some_and(|p| p.generation == t.generation)
    }

    /// The job of `t` completed (done, skipped or failed). Returns false when `t` belongs to
    /// an earlier assignment (nothing changes).
    pub fn complete(&mut self, t: &Ticket) -> bool {
        match self.partitions.get_mut(&(t.topic.clone(), t.partition)) {
            Some(p) if p.generation == t.generation => p.open.remove(&t.offset),
            _ => false,
        }
    }

    /// Positions that advanced since they were last handed out, marked as committed.
    pub fn take_positions(&mut self) -> Vec<(String, i32, i64)> {
        let mut out = Vec::new();
        for ((topic, partition), p) in &mut self.partitions {
            if let Some(pos) = p.position().filter(|&pos| Some(pos) > p.committed) {
                p.committed = Some(pos);
                out.push((topic.clone(), *partition, pos));
            }
        }
        out.sort();
        out
    }

    /// A commit of `position` failed: hand it out again next time (unless a newer one was
    /// handed out meanwhile).
    pub fn commit_failed(&mut self, topic: &str, partition: i32, position: i64) {
        if let Some(p) = self.partitions.get_mut(&(topic.to_string(), partition)) {
            if p.committed == Some(position) {
                p.committed = None;
            }
        }
    }

    /// Messages received and not completed, over every partition.
    pub fn open(&self) -> usize {
        self.partitions.values().map(|p| p.open.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_contiguous_completed_prefix_is_committed() {
        let mut t = OffsetTracker::default();
        t.assign("a", 0);
        assert!(
            t.take_positions().is_empty(),
            "nothing received, nothing to commit"
        );
        let tickets: Vec<Ticket> = (10..15).map(|o| t.received("a", 0, o).unwrap()).collect();
        assert!(t.take_positions().is_empty());
        // 11 and 12 finish before 10.
        assert!(t.complete(&tickets[1]));
        assert!(t.complete(&tickets[2]));
        assert!(
            t.take_positions().is_empty(),
            "10 still open: nothing past it"
        );
        assert!(t.complete(&tickets[0]));
        assert_eq!(t.take_positions(), vec![("a".into(), 0, 13)]);
        assert!(t.take_positions().is_empty(), "handed out once");
        assert!(t.complete(&tickets[4]));
        assert!(t.take_positions().is_empty(), "13 still open");
        assert!(t.complete(&tickets[3]));
        assert_eq!(t.take_positions(), vec![("a".into(), 0, 15)]);
        assert_eq!(t.open(), 0);
        assert!(!t.complete(&tickets[3]), "completing twice changes nothing");
    }

    #[test]
    fn gaps_in_offsets_are_committed_past() {
        let mut t = OffsetTracker::default();
        t.assign("a", 3);
        let a = t.received("a", 3, 5).unwrap();
        let b = t.received("a", 3, 9).unwrap();
        t.complete(&b);
        assert!(t.take_positions().is_empty());
        t.complete(&a);
        assert_eq!(t.take_positions(), vec![("a".into(), 3, 10)]);
    }

    #[test]
    fn a_revoked_partition_ignores_its_old_jobs_even_when_assigned_again() {
        let mut t = OffsetTracker::default();
        t.assign("a", 0);
        let done = t.received("a", 0, 0).unwrap();
        let running = t.received("a", 0, 1).unwrap();
        t.complete(&done);
        assert_eq!(
            t.revoke("a", 0),
            Some(1),
            "the done prefix is committed on revoke"
        );
        assert!(
            t.received("a", 0, 2).is_none(),
            "late message of a revoked partition"
        );
        t.assign("a", 0);
        assert!(!t.is_current(&running));
        assert!(
            !t.complete(&running),
            "an old assignment's job commits nothing"
        );
        assert!(t.take_positions().is_empty());
        let again = t.received("a", 0, 1).unwrap();
        assert!(t.is_current(&again));
        t.complete(&again);
        assert_eq!(t.take_positions(), vec![("a".into(), 0, 2)]);
        assert_eq!(t.revoke("a", 0), None, "nothing new since the last commit");
        assert_eq!(t.revoke("b", 0), None, "never assigned");
    }

    #[test]
    fn a_failed_commit_is_handed_out_again() {
        let mut t = OffsetTracker::default();
        t.assign("a", 0);
        t.assign("b", 1);
        let x = t.received("a", 0, 7).unwrap();
        let y = t.received("b", 1, 0).unwrap();
        t.complete(&x);
        t.complete(&y);
        assert_eq!(
            t.take_positions(),
            vec![("a".into(), 0, 8), ("b".into(), 1, 1)]
        );
        t.commit_failed("a", 0, 8);
        assert_eq!(t.take_positions(), vec![("a".into(), 0, 8)]);
        // A failure reported for an older position does not undo a newer one.
        let z = t.received("a", 0, 8).unwrap();
        t.complete(&z);
        assert_eq!(t.take_positions(), vec![("a".into(), 0, 9)]);
        t.commit_failed("a", 0, 8);
        assert!(t.take_positions().is_empty());
        assert_eq!(t.assigned().count(), 2);
    }

    #[test]
    fn random_completion_orders_always_commit_a_prefix() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..200 {
            let mut t = OffsetTracker::default();
            t.assign("a", 0);
            let n = rng.usize(1..40);
            let mut tickets: Vec<Ticket> = (0..n as i64)
                .map(|o| t.received("a", 0, o * 2).unwrap())
                .collect();
            rng.shuffle(&mut tickets);
            let mut done = std::collections::BTreeSet::new();
            for tk in &tickets {
                t.complete(tk);
                done.insert(tk.offset);
                for (_, _, pos) in t.take_positions() {
                    // Every offset received below pos is done; the one at pos (if any) is not.
                    assert!((0..pos).step_by(2).all(|o| done.contains(&o)), "pos {pos}");
                    assert!(pos as usize >= 2 * n - 1 || !done.contains(&pos));
                }
            }
            assert_eq!(t.open(), 0);
        }
    }
}
