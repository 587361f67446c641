//! The faults of RDS.md, switchable at runtime, and the counts that show they happened.
//!
//! A per-call fault fires on "the next N calls where it applies" and/or with a probability per
//! applicable call, drawn from a seeded generator so a run is repeatable. A fault *applies* only
//! where it can change the answer (an early `AdditionalDataPending=false` needs more data to
//! exist), and it is counted in [`SimStats::faults`] only when it did change the answer.
//! State-like faults (a binary file, an instance being created, the not-found window after a
//! rotation, the throttling bucket) are set and cleared explicitly.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::util::lock;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A fault the simulator can inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Fault {
    /// `Throttling` ("Rate exceeded"), from the token bucket or forced.
    Throttle,
    /// `AdditionalDataPending=false` while the file has more data after the returned marker.
    EarlyEndOfData,
    /// The returned marker points some lines past the returned data: those lines are never
    /// served (see [`Faults::set_skipped_lines`]).
    SkipLines,
    /// At the end of a finished hour segment (a rotated file, or the old hour read through the
    /// active file's name) the returned marker is `"0"`.
    ///
    /// Only the marker changes: `AdditionalDataPending` is what it would have been without the
    /// fault — `false` at the end of a finished file (a rotated or added one: nothing follows),
    /// `true` at the end of an old hour read through the active file's name (the next hour
    /// follows). A client that trusts the marker restarts from the start of the file (the SDK
    /// paginator's failure) or, through the active name, jumps to the start of the current hour (any hours in between
    /// are lost).
    ZeroMarkerAtSegmentEnd,
    /// At the end of a file, the request's marker comes back with `AdditionalDataPending=true`
    /// and no data: a client that loops on `AdditionalDataPending` alone never stops.
    EchoMarkerAtEnd,
    /// A marker issued for an active MySQL file, used after the hourly rotation, is applied to
    /// the new file (its byte offset in the old hour is read in the new one).
    StaleMarkerAfterRotation,
    /// `DBLogFileNotFoundFault` for the active and/or the just-rotated file, for a window
    /// after the rotation ([`Faults::set_rotation_not_found`]).
    NotFoundMidRotation,
    /// `InvalidParameterValue` for a portion of a file marked binary ([`Faults::mark_binary`]).
    BinaryFile,
    /// `DBInstanceNotFound` for an instance being created ([`Faults::set_creating`]).
    InstanceCreating,
    /// `DBInstanceNotReady` for an instance that is not available ([`Faults::set_not_ready`]).
    InstanceNotReady,
}

/// A token bucket: `burst` requests at once, refilled at `per_second`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThrottleConfig {
    /// Bucket size (RDS: 300).
    pub burst: u32,
    /// Refill rate, requests a second (RDS: 12).
    pub per_second: f64,
}

impl Default for ThrottleConfig {
    /// RDS's account-wide bucket (RDS.md).
    fn default() -> ThrottleConfig {
        ThrottleConfig {
            burst: 300,
            per_second: 12.0,
        }
    }
}

/// Which names answer `DBLogFileNotFoundFault` right after a rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RotationSide {
    /// The file now being written.
    Active,
    /// The file just finished.
    Rotated,
    /// Both.
    Both,
}

/// The not-found window after each rotation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RotationNotFound {
    /// How long after the hour boundary (simulated time) the files answer not-found.
    pub window: Duration,
    /// Which files.
    pub side: RotationSide,
}

/// The actions [`SimStats::calls`] counts by name: the four Query API actions served and the
/// REST complete-file download.
pub const KNOWN_ACTIONS: [&str; 5] = [
    "DescribeDBClusters",
    "DescribeDBInstances",
    "DescribeDBLogFiles",
    "DownloadDBLogFilePortion",
    "DownloadCompleteLogFile",
];

/// What [`SimStats::calls`] counts every action outside [`KNOWN_ACTIONS`] under.
pub const OTHER_ACTION: &str = "other";

/// Calls by action and faults fired, since the start.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SimStats {
    /// Calls by action (`DescribeDBLogFiles`, …, `DownloadCompleteLogFile`), counted before any
    /// fault or error. Only the actions in [`KNOWN_ACTIONS`] are counted by name; any other
    /// `Action` a request names is counted under [`OTHER_ACTION`], so that unauthenticated
    /// requests cannot grow the map.
    pub calls: BTreeMap<String, u64>,
    /// Faults that changed an answer.
    pub faults: BTreeMap<Fault, u64>,
    /// Log bytes answered, by action (`DownloadDBLogFilePortion`: `LogFileData`;
    /// `DownloadCompleteLogFile`: the body).
    pub bytes: BTreeMap<String, u64>,
    /// `DescribeDBLogFiles` calls answered, by instance (known instances only: bounded by
    /// the world).
    pub listings: BTreeMap<String, u64>,
}

impl SimStats {
    /// Calls of `action`.
    pub fn calls(&self, action: &str) -> u64 {
        self.calls.get(action).copied().unwrap_or(0)
    }

    /// `DescribeDBLogFiles` calls answered for `instance`.
    pub fn listings(&self, instance: &str) -> u64 {
        self.listings.get(instance).copied().unwrap_or(0)
    }

    /// Log bytes `action` answered.
    pub fn bytes(&self, action: &str) -> u64 {
        self.bytes.get(action).copied().unwrap_or(0)
    }

    /// Times `fault` fired.
    pub fn fired(&self, fault: Fault) -> u64 {
        self.faults.get(&fault).copied().unwrap_or(0)
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Trigger {
    next: u64,
    probability: f64,
}

#[derive(Debug)]
struct Bucket {
    config: ThrottleConfig,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(config: ThrottleConfig) -> Bucket {
        Bucket {
            config,
            tokens: f64::from(config.burst),
            at: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * self.config.per_second;
        self.tokens = (self.tokens + refill).min(f64::from(self.config.burst));
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Debug)]
pub(crate) struct FaultState {
    triggers: BTreeMap<Fault, Trigger>,
    rng: fastrand::Rng,
    bucket: Option<Bucket>,
    skipped_lines: usize,
    binary: BTreeSet<(String, String)>,
    creating: BTreeSet<String>,
    not_ready: BTreeSet<String>,
    rotation: Option<RotationNotFound>,
    range_honoured: bool,
    /// How long answers of each action wait before they are made (known actions only).
    answer_delay: BTreeMap<&'static str, std::time::Duration>,
    stats: SimStats,
}

impl FaultState {
    pub(crate) fn new(seed: u64, throttle: Option<ThrottleConfig>) -> FaultState {
        FaultState {
            triggers: BTreeMap::new(),
            rng: fastrand::Rng::with_seed(seed),
            bucket: throttle.map(Bucket::new),
            skipped_lines: 1,
            binary: BTreeSet::new(),
            creating: BTreeSet::new(),
            not_ready: BTreeSet::new(),
            rotation: None,
            range_honoured: false,
            answer_delay: BTreeMap::new(),
            stats: SimStats::default(),
        }
    }

    pub(crate) fn set_next(&mut self, fault: Fault, n: u64) {
        self.triggers.entry(fault).or_default().next = n;
    }

    #[cfg(test)]
    pub(crate) fn fired(&self, fault: Fault) -> u64 {
        self.stats.fired(fault)
    }

    /// Counts a call of `action` (any string a client sent): by name when it is one of
    /// [`KNOWN_ACTIONS`], under [`OTHER_ACTION`] otherwise.
    pub(crate) fn count_call(&mut self, action: &str) {
        let name = KNOWN_ACTIONS
            .iter()
            .find(|&&known| known == action)
            .copied()
            .unwrap_or(OTHER_ACTION);
        *self.stats.calls.entry(name.to_string()).or_default() += 1;
    }

    /// How long an answer to `action` waits before it is made.
    pub(crate) fn answer_delay(&self, action: &str) -> Option<std::time::Duration> {
        self.answer_delay.get(action).copied()
    }

    /// Counts a listing of `instance`, a known one.
    pub(crate) fn count_listing(&mut self, instance: &str) {
        *self.stats.listings.entry(instance.to_string()).or_default() += 1;
    }

    pub(crate) fn count_bytes(&mut self, action: &'static str, bytes: usize) {
        *self.stats.bytes.entry(action.to_string()).or_default() += bytes as u64;
    }

    pub(crate) fn count(&mut self, fault: Fault) {
        *self.stats.faults.entry(fault).or_default() += 1;
    }

    /// Whether a per-call fault fires on this applicable call; counts it when it does.
    pub(crate) fn fires(&mut self, fault: Fault) -> bool {
        let Some(t) = self.triggers.get_mut(&fault) else {
            return false;
        };
        let fired = if t.next > 0 {
            t.next -= 1;
            true
        } else {
            t.probability > 0.0 && self.rng.f64() < t.probability
        };
        if fired {
            self.count(fault);
        }
        fired
    }

    /// Whether this call is throttled: forced first, then the bucket.
    pub(crate) fn throttled(&mut self) -> bool {
        if self.fires(Fault::Throttle) {
            return true;
        }
        let empty = self.bucket.as_mut().is_some_and(|b| !b.take());
        if empty {
            self.count(Fault::Throttle);
        }
        empty
    }

    pub(crate) fn skipped_lines(&self) -> usize {
        self.skipped_lines
    }

    pub(crate) fn is_binary(&self, instance: &str, file: &str) -> bool {
        self.binary
            .contains(&(instance.to_string(), file.to_string()))
    }

    pub(crate) fn is_creating(&self, instance: &str) -> bool {
        self.creating.contains(instance)
    }

    pub(crate) fn is_not_ready(&self, instance: &str) -> bool {
        self.not_ready.contains(instance)
    }

    pub(crate) fn rotation(&self) -> Option<RotationNotFound> {
        self.rotation
    }

    pub(crate) fn range_honoured(&self) -> bool {
        self.range_honoured
    }
}

/// The switches of the simulator's faults; cheap to clone, usable from any thread.
#[derive(Clone, Debug)]
pub struct Faults {
    pub(crate) state: Arc<Mutex<FaultState>>,
}

impl Faults {
    pub(crate) fn lock(&self) -> MutexGuard<'_, FaultState> {
        lock(&self.state)
    }

    /// Make `fault` fire on the next `n` calls where it applies (in addition to its
    /// probability).
    pub fn fail_next(&self, fault: Fault, n: u64) -> &Faults {
        self.lock().set_next(fault, n);
        self
    }

    /// Make `fault` fire with `probability` (0..=1) on each call where it applies, drawn from
    /// the simulator's seeded generator.
    pub fn set_probability(&self, fault: Fault, probability: f64) -> &Faults {
        self.lock().triggers.entry(fault).or_default().probability = probability.clamp(0.0, 1.0);
        self
    }

    /// How many lines [`Fault::SkipLines`] skips (default 1, at least 1).
    pub fn set_skipped_lines(&self, lines: usize) -> &Faults {
        self.lock().skipped_lines = lines.max(1);
        self
    }

    /// Turn the shared token bucket on with `config` (a full bucket), or off with `None`.
    pub fn set_throttle(&self, config: Option<ThrottleConfig>) -> &Faults {
        self.lock().bucket = config.map(Bucket::new);
        self
    }

    /// Mark a file binary (by `LogFileName`), or unmark it.
    pub fn mark_binary(&self, instance: &str, file: &str, binary: bool) -> &Faults {
        let key = (instance.to_string(), file.to_string());
        let mut s = self.lock();
        if binary {
            s.binary.insert(key);
        } else {
            s.binary.remove(&key);
        }
        self
    }

    /// Set whether an instance is being created: it is listed with status `creating`, and its
    /// log files answer `DBInstanceNotFound`.
    pub fn set_creating(&self, instance: &str, creating: bool) -> &Faults {
        let mut s = self.lock();
        if creating {
            s.creating.insert(instance.to_string());
        } else {
            s.creating.remove(instance);
        }
        self
    }

    /// Set whether an instance is not ready (paused): its log files answer
    /// `DBInstanceNotReady`.
    pub fn set_not_ready(&self, instance: &str, not_ready: bool) -> &Faults {
        let mut s = self.lock();
        if not_ready {
            s.not_ready.insert(instance.to_string());
        } else {
            s.not_ready.remove(instance);
        }
        self
    }

    /// Answer `DBLogFileNotFoundFault` for files of the latest rotation during a window after
    /// it, or never with `None`.
    pub fn set_rotation_not_found(&self, rule: Option<RotationNotFound>) -> &Faults {
        self.lock().rotation = rule;
        self
    }

    /// Make every answer to `action` (one of [`KNOWN_ACTIONS`]; others are ignored) wait
    /// `delay` before it is made, as a busy RDS answers slowly; `None`: at once.
    pub fn set_answer_delay(&self, action: &str, delay: Option<std::time::Duration>) -> &Faults {
        if let Some(&known) = KNOWN_ACTIONS.iter().find(|&&k| k == action) {
            let mut s = self.lock();
            match delay {
                Some(d) => s.answer_delay.insert(known, d),
                None => s.answer_delay.remove(known),
            };
        }
        self
    }

    /// Answer a `Range: bytes=N-` on the complete download with `206` from byte N (or `416`
    /// past the end). Off by default: RDS documents no Range support, so the simulator ignores
    /// the header and sends the whole file, as the reference says a client must expect.
    pub fn set_range_honoured(&self, honoured: bool) -> &Faults {
        self.lock().range_honoured = honoured;
        self
    }

    /// Every fault off: triggers, bucket, marks, windows (the counts stay).
    pub fn clear(&self) -> &Faults {
        let mut s = self.lock();
        s.triggers.clear();
        s.bucket = None;
        s.skipped_lines = 1;
        s.binary.clear();
        s.creating.clear();
        s.not_ready.clear();
        s.rotation = None;
        s.range_honoured = false;
        self
    }

    /// Calls and faults so far.
    pub fn stats(&self) -> SimStats {
        self.lock().stats.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(seed: u64) -> Faults {
        Faults {
            state: Arc::new(Mutex::new(FaultState::new(seed, None))),
        }
    }

    #[test]
    fn next_n_fires_exactly_n_times_and_is_counted() {
        let f = faults(1);
        f.fail_next(Fault::SkipLines, 2);
        let mut s = f.lock();
        let fired: Vec<bool> = (0..4).map(|_| s.fires(Fault::SkipLines)).collect();
        assert_eq!(fired, [true, true, false, false]);
        assert_eq!(s.stats.faults[&Fault::SkipLines], 2);
    }

    #[test]
    fn probabilities_repeat_with_the_seed() {
        let draws = |seed| {
            let f = faults(seed);
            f.set_probability(Fault::EarlyEndOfData, 0.5);
            let mut s = f.lock();
            (0..64)
                .map(|_| s.fires(Fault::EarlyEndOfData))
                .collect::<Vec<_>>()
        };
        assert_eq!(draws(9), draws(9));
        let n = draws(9).iter().filter(|&&b| b).count();
        assert!((16..48).contains(&n), "{n}");
    }

    #[test]
    fn only_known_actions_are_counted_by_name() {
        let f = faults(1);
        let mut s = f.lock();
        for i in 0..100 {
            s.count_call(&format!("MadeUp{i}"));
        }
        s.count_call("DescribeDBLogFiles");
        s.count_call("DownloadCompleteLogFile");
        s.count_call("describedblogfiles");
        assert_eq!(s.stats.calls(OTHER_ACTION), 101);
        assert_eq!(s.stats.calls("DescribeDBLogFiles"), 1);
        assert_eq!(s.stats.calls("DownloadCompleteLogFile"), 1);
        assert_eq!(s.stats.calls.len(), 3, "{:?}", s.stats.calls);
    }

    #[test]
    fn the_bucket_allows_its_burst_then_throttles() {
        let f = faults(1);
        f.set_throttle(Some(ThrottleConfig {
            burst: 5,
            per_second: 0.001,
        }));
        let mut s = f.lock();
        let ok = (0..8).filter(|_| !s.throttled()).count();
        assert_eq!(ok, 5);
        assert_eq!(s.stats.faults[&Fault::Throttle], 3);
    }
}
