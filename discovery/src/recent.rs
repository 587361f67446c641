//! The jobs published lately, so that a pass does not publish the same job again while
//! processors are still on it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use contract::Job;

/// `(instance, lasting name)` → `(size, finished, published at)`; at most `cap` entries.
#[derive(Debug)]
pub(crate) struct RecentJobs {
    published: HashMap<(String, String), (u64, bool, Instant)>,
    cap: usize,
}

impl RecentJobs {
    pub(crate) fn new(cap: usize) -> RecentJobs {
        RecentJobs {
            published: HashMap::new(),
            cap: cap.max(1),
        }
    }

    /// Whether `job` went out with the same size and finished flag less than `window` ago.
    pub(crate) fn is_recent(&self, job: &Job, now: Instant, window: Duration) -> bool {
        self.published
            .get(&(job.instance_id.clone(), job.lasting_name.clone()))
            .is_some_and(|&(size, finished, at)| {
                size == job.size && finished == job.finished && now.duration_since(at) < window
            })
    }

    /// Note `job` as published at `now`.
    pub(crate) fn record(&mut self, job: &Job, now: Instant) {
        self.published.insert(
            (job.instance_id.clone(), job.lasting_name.clone()),
            (job.size, job.finished, now),
        );
    }

    /// Forget what is older than `window`, then the oldest beyond the cap.
    pub(crate) fn prune(&mut self, now: Instant, window: Duration) {
        self.published
            .retain(|_, (_, _, at)| now.duration_since(*at) < window);
        if self.published.len() > self.cap {
            let mut ages: Vec<Instant> = self.published.values().map(|v| v.2).collect();
            ages.sort_unstable();
            let cut = ages[self.published.len() - self.cap];
            self.published.retain(|_, (_, _, at)| *at >= cut);
            // Ties at the cut may leave a few more; drop arbitrary ones to hold the bound.
            let extra = self.published.len().saturating_sub(self.cap);
            let drop: Vec<_> = self.published.keys().take(extra).cloned().collect();
            for k in drop {
                self.published.remove(&k);
            }
        }
        debug_assert!(self.published.len() <= self.cap);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.published.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(file: &str, size: u64, finished: bool) -> Job {
        Job {
            v: contract::JOB_VERSION,
            cluster_id: "c".into(),
            instance_id: "i".into(),
            engine: "aurora-mysql".into(),
            engine_version: "8".into(),
            kind: contract::LogKind::MysqlError,
            file: file.into(),
            lasting_name: file.into(),
            last_written_ms: 0,
            size,
            finished,
            leader_epoch: 1,
            published_ms: 0,
        }
    }

    #[test]
    fn same_size_and_flag_within_the_window_is_recent_and_the_map_stays_bounded() {
        let t0 = Instant::now();
        let w = Duration::from_secs(60);
        let mut r = RecentJobs::new(3);
        r.record(&job("a", 10, false), t0);
        assert!(r.is_recent(&job("a", 10, false), t0 + Duration::from_secs(59), w));
        assert!(!r.is_recent(&job("a", 11, false), t0, w), "grew");
        assert!(!r.is_recent(&job("a", 10, true), t0, w), "finished");
        assert!(!r.is_recent(&job("a", 10, false), t0 + w, w), "too old");
        assert!(!r.is_recent(&job("b", 10, false), t0, w));
        for (i, f) in ["b", "c", "d", "e"].iter().enumerate() {
            r.record(&job(f, 1, false), t0 + Duration::from_secs(i as u64 + 1));
        }
        r.prune(t0 + Duration::from_secs(5), w);
        assert_eq!(r.len(), 3);
        assert!(
            !r.is_recent(&job("a", 10, false), t0, w),
            "the oldest went first"
        );
        assert!(r.is_recent(&job("e", 1, false), t0 + Duration::from_secs(5), w));
        r.prune(t0 + Duration::from_secs(600), w);
        assert_eq!(r.len(), 0);
    }
}
