//! Faults a test injects while the stand-in runs: error statuses, stalls, silent drops, and a
//! seeded random mix. They apply to ingestion requests (`_bulk`, `_json`, `_multi`) that passed the
//! encoding and auth checks, in arrival order.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;

use super::lock;

/// Bound on queued fault entries, so a runaway control client cannot grow the queue forever.
const MAX_QUEUED_FAULTS: usize = 1024;

/// A cheap-to-clone handle on the stand-in's faults; every clone drives the same server.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    state: Arc<Mutex<FaultState>>,
}

#[derive(Debug, Default)]
struct FaultState {
    /// (status, how many more requests get it), served front first.
    fail: VecDeque<(u16, u32)>,
    stall: Option<(Duration, u32)>,
    drop_silently: u32,
    random: Option<RandomState>,
}

#[derive(Debug)]
struct RandomState {
    rng: fastrand::Rng,
    probability: f64,
    statuses: Vec<u16>,
}

/// What the next ingestion request suffers; taken once per request.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct FaultPlan {
    /// Answer this status (with an OpenObserve-like body) instead of ingesting.
    pub fail: Option<u16>,
    /// Delay the answer by this long (after ingesting: the records are kept).
    pub stall: Option<Duration>,
    /// Hide the last accepted record of each stream: not kept, not counted as failed.
    pub drop_silently: bool,
}

/// One fault command, as the control API (`POST /_standin/faults`) takes it in JSON:
/// `{"fail_next":{"status":503,"n":2}}`, `{"stall_next":{"ms":1500,"n":1}}`,
/// `{"drop_silently_next":{"n":1}}`, `{"random":{"seed":7,"probability":0.2,"statuses":[503,429]}}`,
/// `"clear"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultCommand {
    /// See [`Faults::fail_next`].
    FailNext {
        /// HTTP status to answer.
        status: u16,
        /// How many requests.
        n: u32,
    },
    /// See [`Faults::stall_next`].
    StallNext {
        /// Delay in milliseconds.
        ms: u64,
        /// How many requests.
        n: u32,
    },
    /// See [`Faults::drop_silently_next`].
    DropSilentlyNext {
        /// How many requests.
        n: u32,
    },
    /// See [`Faults::random`].
    Random {
        /// Seed of the generator, for reproducible runs.
        seed: u64,
        /// Chance in `[0, 1]` that a request fails.
        probability: f64,
        /// Statuses to pick from (503 when empty).
        #[serde(default)]
        statuses: Vec<u16>,
    },
    /// See [`Faults::clear`].
    Clear,
}

impl Faults {
    /// The next `n` ingestion requests answer `status` with an OpenObserve-like body (JSON
    /// `{"code":..,"message":..}`; 413 in plain text like the body limit) and ingest nothing.
    /// Successive calls queue up. A status outside 100–999 is answered as 500.
    pub fn fail_next(&self, status: u16, n: u32) {
        let mut state = lock(&self.state);
        if n > 0 && state.fail.len() < MAX_QUEUED_FAULTS {
            state.fail.push_back((status, n));
        }
    }

    /// The next `n` ingestion requests are answered `delay` late, to trigger client timeouts. The
    /// request is processed first and its records are kept, as with a server that was merely slow:
    /// a client that gives up and retries sends duplicates. Replaces an earlier stall.
    pub fn stall_next(&self, delay: Duration, n: u32) {
        lock(&self.state).stall = (n > 0).then_some((delay, n));
    }

    /// The next `n` ingestion requests that are not failed by another fault lose the last
    /// accepted record of each stream: it is not
    /// kept, and the 200 answer counts it neither as successful nor as failed (a `_bulk` answer
    /// leaves its item out), as some server-side drops do.
    pub fn drop_silently_next(&self, n: u32) {
        lock(&self.state).drop_silently = n;
    }

    /// From now on each ingestion request not already given a fault fails with `probability`,
    /// with a status drawn from `statuses` (503 when empty), reproducibly from `seed`.
    /// `probability <= 0` turns random faults off.
    pub fn random(&self, seed: u64, probability: f64, statuses: &[u16]) {
        lock(&self.state).random = (probability > 0.0).then(|| RandomState {
            rng: fastrand::Rng::with_seed(seed),
            probability: probability.min(1.0),
            statuses: statuses.iter().copied().take(MAX_QUEUED_FAULTS).collect(),
        });
    }

    /// Removes every pending fault.
    pub fn clear(&self) {
        *lock(&self.state) = FaultState::default();
    }

    /// Applies a control-API command.
    pub fn apply(&self, command: FaultCommand) {
        match command {
            FaultCommand::FailNext { status, n } => self.fail_next(status, n),
            FaultCommand::StallNext { ms, n } => self.stall_next(Duration::from_millis(ms), n),
            FaultCommand::DropSilentlyNext { n } => self.drop_silently_next(n),
            FaultCommand::Random {
                seed,
                probability,
                statuses,
            } => self.random(seed, probability, &statuses),
            FaultCommand::Clear => self.clear(),
        }
    }

    /// Consumes one request's worth of faults.
    pub(crate) fn take(&self) -> FaultPlan {
        let mut state = lock(&self.state);
        let mut plan = FaultPlan::default();
        if let Some((status, left)) = state.fail.front_mut() {
            plan.fail = Some(*status);
            *left -= 1;
            if *left == 0 {
                state.fail.pop_front();
            }
        } else if let Some(random) = &mut state.random {
            if random.rng.f64() < random.probability {
                let pick = match random.statuses.len() {
                    0 => 503,
                    len => random.statuses[random.rng.usize(..len)],
                };
                plan.fail = Some(pick);
            }
        }
        if let Some((delay, left)) = &mut state.stall {
            plan.stall = Some(*delay);
            *left -= 1;
            if *left == 0 {
                state.stall = None;
            }
        }
        // A failed request ingests nothing, so it leaves the drop for the next one.
        if plan.fail.is_none() && state.drop_silently > 0 {
            state.drop_silently -= 1;
            plan.drop_silently = true;
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_failures_are_served_in_order_then_stop() {
        let f = Faults::default();
        f.fail_next(503, 2);
        f.fail_next(429, 1);
        f.stall_next(Duration::from_millis(5), 1);
        let plans: Vec<_> = (0..4).map(|_| f.take()).collect();
        assert_eq!(
            plans.iter().map(|p| p.fail).collect::<Vec<_>>(),
            [Some(503), Some(503), Some(429), None]
        );
        assert_eq!(plans[0].stall, Some(Duration::from_millis(5)));
        assert_eq!(plans[1].stall, None);
    }

    #[test]
    fn random_faults_are_reproducible_from_the_seed() {
        let draw = || {
            let f = Faults::default();
            f.random(42, 0.5, &[503, 429]);
            (0..64).map(|_| f.take().fail).collect::<Vec<_>>()
        };
        let a = draw();
        assert_eq!(a, draw());
        assert!(a.contains(&None) && a.contains(&Some(503)) && a.contains(&Some(429)));
    }

    #[test]
    fn commands_parse_from_the_control_api_json() {
        let c: FaultCommand =
            serde_json::from_str(r#"{"fail_next":{"status":503,"n":2}}"#).unwrap();
        assert_eq!(c, FaultCommand::FailNext { status: 503, n: 2 });
        let c: FaultCommand = serde_json::from_str(r#""clear""#).unwrap();
        assert_eq!(c, FaultCommand::Clear);
        assert!(serde_json::from_str::<FaultCommand>(r#"{"fail_next":{"status":503}}"#).is_err());
    }
}
