//! How often RDS is asked, and what that costs: the rules the scheduler follows and the model
//! `aurora-logs plan` computes from, in one place so that the two cannot disagree.
//!
//! An account's RDS API budget (about 12 calls a second, shared with every other RDS client) is
//! the one limit no CPU lifts. It is spent three ways:
//! - **listing**: each instance is listed once per listing interval. The interval is the
//!   configured poll interval, stretched so that listings take at most a share of the budget
//!   ([`Cadence::list_interval`]), and instances are listed spread over it, not in bursts;
//! - **whole files**: a file RDS no longer writes goes by one complete download, one call
//!   whatever its size;
//! - **tailing**: a live file is read by portions, at most 1 MB a call. It is read when a full
//!   portion is waiting, when its kind's maximum delay has passed since it was last read, or at
//!   every listing while the budget has room ([`Cadence::tail_now`]). A kind whose maximum delay
//!   is an hour or more is not tailed: its files ship whole after their hourly rotation.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::{Checkpoint, FileKey, LogKind, PerKind, RemoteFile};

/// The most a portion call returns (RDS's cap): a live file is worth reading once this much
/// waits.
pub const PORTION_BYTES: u64 = 1 << 20;

/// Aurora's rotation period; a maximum delay this long or longer means "ship whole only".
pub const ROTATION: Duration = Duration::from_secs(3600);

/// How many of `slots` (standalone workers, a processor's `max_jobs`) are kept from bulk jobs
/// (the slow, general and audit logs by default) so that an error log never waits for a slot
/// behind long downloads: a quarter, at least one when there are two slots or more, none with
/// one slot (it takes every kind, urgent first).
pub fn kept_for_urgent(slots: usize) -> usize {
    if slots < 2 {
        0
    } else {
        (slots / 4).max(1)
    }
}

/// Typical bytes of one entry by kind [error, slow, general, audit, PostgreSQL], for how often
/// a quiet file has something new.
const ENTRY_BYTES: EntryBytes = EntryBytes([200.0, 400.0, 150.0, 250.0, 250.0]);

struct EntryBytes([f64; LogKind::COUNT]);

impl std::ops::Index<LogKind> for EntryBytes {
    type Output = f64;
    fn index(&self, kind: LogKind) -> &f64 {
        &self.0[kind.index()]
    }
}

/// The scheduler's rules, from its configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Cadence {
    /// The shortest time between two listings of one instance.
    pub poll_interval: Duration,
    /// The share of the budget listings may take (0–1).
    pub list_share: f64,
    /// While less than this share of the budget is in use, live files are read at every
    /// listing.
    pub read_all_below: f64,
    /// The longest an entry of a live file of each kind may wait to be read while the budget
    /// is short. [`ROTATION`] or more: the kind is not tailed.
    pub max_delay: PerKind<Duration>,
    /// The longest listing interval of an idle instance (none of its files written across
    /// its last [`IDLE_AFTER`] listings), used while the budget stretches listings beyond
    /// `poll_interval`: idle instances take less of the listings' share, and the others are
    /// listed more often ([`Cadence::list_intervals`]). Zero: idle instances are listed like
    /// the others.
    pub idle_interval: Duration,
}

/// Listings in a row that found no file written since the one before, after which an
/// instance counts as idle ([`Cadence::idle_interval`]).
pub const IDLE_AFTER: u32 = 2;

/// Whether an instance's listings found anything written since the one before, from a
/// signature of each listing (the newest `LastWritten`, or a hash of every file's name, size
/// and `LastWritten`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quiet {
    /// The signature of its last listing.
    signature: u64,
    /// Listings in a row with the same signature as the one before.
    unchanged: u32,
}

impl Quiet {
    /// After a first listing of `signature`.
    pub fn new(signature: u64) -> Quiet {
        Quiet {
            signature,
            unchanged: 0,
        }
    }

    /// Count a listing of `signature`.
    pub fn listed(&mut self, signature: u64) {
        if signature == self.signature {
            self.unchanged = self.unchanged.saturating_add(1);
        } else {
            *self = Quiet::new(signature);
        }
    }

    /// Idle: nothing written across its last [`IDLE_AFTER`] listings.
    pub fn idle(&self) -> bool {
        self.unchanged >= IDLE_AFTER
    }
}

/// An idle instance is listed at most this many times less often than every instance would
/// be alike: where listings are only a little short, idle instances wait a little longer,
/// not [`Cadence::idle_interval`].
pub const IDLE_STRETCH: u32 = 4;

impl Cadence {
    /// The interval between two listings of one instance, with `instances` listed and
    /// `calls_per_second` the budget: the poll interval, or longer so that listings take at
    /// most `list_share` of the budget.
    pub fn list_interval(&self, instances: usize, calls_per_second: f64) -> Duration {
        let share = (self.list_share * calls_per_second).max(1e-3);
        Duration::from_secs_f64(instances as f64 / share).max(self.poll_interval)
    }

    /// The listing intervals of the `busy` instances and of the `idle` ones, together within
    /// `list_share` of `calls_per_second`. While listing every instance alike fits in
    /// `poll_interval`, both are that. Else idle instances are listed at
    /// [`Cadence::idle_interval`], at most [`IDLE_STRETCH`] times the interval alike, and the
    /// busy ones at the interval the rest of the share allows.
    pub fn list_intervals(
        &self,
        busy: usize,
        idle: usize,
        calls_per_second: f64,
    ) -> (Duration, Duration) {
        let alike = self.list_interval(busy + idle, calls_per_second);
        let idle_interval = self.idle_interval.min(alike * IDLE_STRETCH);
        if idle == 0 || alike <= self.poll_interval || idle_interval <= alike {
            return (alike, alike);
        }
        let share = (self.list_share * calls_per_second).max(1e-3);
        // Positive: idle instances listed less often than `alike` leave part of the share.
        let left = share - idle as f64 / idle_interval.as_secs_f64();
        if left <= 0.0 {
            return (alike, alike);
        }
        let busy_interval = Duration::from_secs_f64(busy as f64 / left).max(self.poll_interval);
        (busy_interval.min(alike), idle_interval)
    }

    /// Whether a kind's live files are read before they rotate.
    pub fn tails(&self, kind: LogKind) -> bool {
        self.max_delay[kind] < ROTATION
    }

    /// Whether a live file of `kind` with `unshipped` bytes, last read `since_read` ago, is
    /// read now. `room`: the budget has room for reads that are not due (a small fleet reads
    /// at every listing, as if there were no budget).
    pub fn tail_now(
        &self,
        kind: LogKind,
        unshipped: u64,
        since_read: Duration,
        room: bool,
    ) -> bool {
        unshipped > 0
            && self.tails(kind)
            && (room || unshipped >= PORTION_BYTES || since_read >= self.max_delay[kind])
    }
}

/// By kind, the longest the entries of a live file wait to be read while the RDS budget is
/// busy (`scheduler.max_delay` of standalone `run`, `discovery.max_delay` of distributed
/// discovery): a table keyed by kind (`error`, `slowquery`, `general`, `audit`, `postgresql`)
/// of durations (`30s`, `5m`, `1h`). [`ROTATION`] or more: the kind is not tailed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaxDelays(pub PerKind<Duration>);

impl Default for MaxDelays {
    fn default() -> Self {
        MaxDelays(PerKind::from_fn(|kind| match kind {
            LogKind::MysqlError | LogKind::Postgresql => Duration::from_secs(30),
            LogKind::MysqlSlow | LogKind::MysqlGeneral | LogKind::MysqlAudit => {
                Duration::from_secs(300)
            }
        }))
    }
}

/// One duration written as humans do (`30s`).
#[derive(Serialize, Deserialize)]
struct Human(#[serde(with = "humantime_serde")] Duration);

impl Serialize for MaxDelays {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        PerKind::from_fn(|k| Human(self.0[k])).serialize_keyed(s, LogKind::as_str)
    }
}

impl<'de> Deserialize<'de> for MaxDelays {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let defaults = MaxDelays::default();
        let read = PerKind::deserialize_keyed(
            d,
            LogKind::as_str,
            PerKind::from_fn(|k| Human(defaults.0[k])),
        )?;
        Ok(MaxDelays(PerKind::from_fn(|k| read[k].0)))
    }
}

/// How the live files of one listing are read: the rules, whether the budget has room for
/// reads that are not due, and how often the instance is listed.
#[derive(Clone, Copy, Debug)]
pub struct Tailing<'a> {
    /// The rules.
    pub cadence: &'a Cadence,
    /// The budget has room for reads that are not due.
    pub room: bool,
    /// How often the instance is listed.
    pub interval: Duration,
}

/// When each live file was last read (standalone) or published (discovery), for
/// [`Cadence::tail_now`]: the scheduling both modes share.
#[derive(Debug, Default)]
pub struct TailClock(HashMap<FileKey, Instant>);

impl TailClock {
    /// Whether the live file `key` of `kind`, `unshipped` bytes behind, is read at this listing
    /// (at `now`); if so it counts as read now. A file seen for the first time (a new hour's
    /// live file) holds entries written since the instance's previous listing at most: it
    /// counts as read then, so that a kind whose delay is shorter than the listing interval is
    /// read at once, not a listing later.
    pub fn due(
        &mut self,
        t: &Tailing<'_>,
        key: &FileKey,
        kind: LogKind,
        unshipped: u64,
        now: Instant,
    ) -> bool {
        let read_at = *self
            .0
            .entry(key.clone())
            .or_insert_with(|| now.checked_sub(t.interval).unwrap_or(now));
        let due = t
            .cadence
            .tail_now(kind, unshipped, now.duration_since(read_at), t.room);
        if due {
            self.0.insert(key.clone(), now);
        }
        due
    }

    /// [`TailClock::due`] for the live file `f` of `kind` of instance `instance_id`, whose
    /// checkpoint, if it has one, is in `shipped` (keyed by lasting name).
    pub fn file_due(
        &mut self,
        t: &Tailing<'_>,
        instance_id: &str,
        f: &RemoteFile,
        kind: LogKind,
        shipped: &HashMap<String, Checkpoint>,
        now: Instant,
    ) -> bool {
        let unshipped = f
            .size
            .saturating_sub(shipped.get(&f.canonical).map_or(0, |cp| cp.offset));
        let key = FileKey {
            instance_id: instance_id.to_string(),
            log_file: f.canonical.clone(),
        };
        self.due(t, &key, kind, unshipped, now)
    }

    /// The file was not read after all (its job was not queued or not published): at the
    /// next listing it counts as seen for the first time.
    pub fn not_read(&mut self, key: &FileKey) {
        self.0.remove(key);
    }

    /// Keep only the files `keep` says are still listed, so that the clock holds no more
    /// than the listings do.
    pub fn retain(&mut self, mut keep: impl FnMut(&FileKey) -> bool) {
        self.0.retain(|k, _| keep(k));
    }

    /// Files on the clock.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no file is on the clock.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A fleet to plan for: groups of instances that write alike, and the budget.
#[derive(Clone, Debug, PartialEq)]
pub struct Fleet {
    /// The groups (busy and quiet instances, say).
    pub groups: Vec<Group>,
    /// RDS calls a second aurora-logs may make in the account.
    pub calls_per_second: f64,
}

/// Instances that write alike.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    /// Instances.
    pub instances: usize,
    /// Bytes an instance writes an hour, by kind (0: the kind is not written).
    pub bytes_per_hour: PerKind<f64>,
}

impl Fleet {
    /// One group of `instances` writing `bytes_per_hour` each.
    pub fn uniform(instances: usize, bytes_per_hour: PerKind<f64>, calls_per_second: f64) -> Fleet {
        Fleet {
            groups: vec![Group {
                instances,
                bytes_per_hour,
            }],
            calls_per_second,
        }
    }

    /// Instances in all.
    pub fn instances(&self) -> usize {
        self.groups.iter().map(|g| g.instances).sum()
    }

    /// Instances that write nothing.
    pub fn idle_instances(&self) -> usize {
        self.groups
            .iter()
            .filter(|g| g.bytes_per_hour.iter().all(|(_, b)| *b <= 0.0))
            .map(|g| g.instances)
            .sum()
    }
}

/// What [`Fleet`] costs under a [`Cadence`], and the delays it gets.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Listing interval of each instance that writes.
    pub list_interval: Duration,
    /// Listing interval of each instance that writes nothing ([`Cadence::idle_interval`]).
    pub idle_list_interval: Duration,
    /// Calls a second spent on listing files (instances listing not counted: one call per 100
    /// instances every few minutes).
    pub list_calls: f64,
    /// Calls a second spent on tailing live files.
    pub tail_calls: f64,
    /// Calls a second spent on whole files after rotation.
    pub whole_calls: f64,
    /// Per group and kind written: expected delay from an entry's write to its read, median
    /// and 99th percentile (download and shipping time not included: seconds, where this is
    /// minutes).
    pub delays: Vec<(usize, LogKind, Duration, Duration)>,
}

impl Plan {
    /// Calls a second in all.
    pub fn calls(&self) -> f64 {
        self.list_calls + self.tail_calls + self.whole_calls
    }

    /// Whether the budget carries the fleet: every call fits, so lag does not grow.
    pub fn fits(&self, fleet: &Fleet) -> bool {
        self.calls() <= fleet.calls_per_second
    }
}

impl Cadence {
    /// The cost and delays of `fleet` under these rules, with every file rotating hourly and
    /// every instance writing evenly (the busy case: quiet instances cost only their listings).
    /// Reads at every listing while the budget has room (`read_all_below`) are counted up to
    /// that share of the budget.
    pub fn plan(&self, fleet: &Fleet) -> Plan {
        let idle = fleet.idle_instances();
        let busy = fleet.instances() - idle;
        let (list, idle_list) = self.list_intervals(busy, idle, fleet.calls_per_second);
        let l = list.as_secs_f64();
        let list_calls = busy as f64 / l + idle as f64 / idle_list.as_secs_f64();
        let (mut tail, mut whole, mut tail_all) = (0.0, 0.0, 0.0);
        let mut delays = Vec::new();
        let mut delays_all = Vec::new();
        for (g, group) in fleet.groups.iter().enumerate() {
            let (t, w) = self.group_cost(group, l, false, |kind, p50, p99| {
                delays.push((g, kind, p50, p99))
            });
            tail += t;
            whole += w;
            let (t, _) = self.group_cost(group, l, true, |kind, p50, p99| {
                delays_all.push((g, kind, p50, p99))
            });
            tail_all += t;
        }
        // While under `read_all_below` of the budget is in use, live files are read at every
        // listing: usage rises to that share, or to what reading at every listing costs.
        let room = self.read_all_below * fleet.calls_per_second - list_calls - whole;
        if tail_all.min(room) > tail {
            tail = tail_all.min(room);
            if tail_all <= room {
                delays = delays_all;
            }
        }
        Plan {
            list_interval: list,
            idle_list_interval: idle_list,
            list_calls,
            tail_calls: tail,
            whole_calls: whole,
            delays,
        }
    }

    /// Tail and whole-file calls a second of one group listed every `l` seconds; its delays
    /// go to `delay`.
    fn group_cost(
        &self,
        group: &Group,
        l: f64,
        every_listing: bool,
        mut delay: impl FnMut(LogKind, Duration, Duration),
    ) -> (f64, f64) {
        let n = group.instances as f64;
        let hour = ROTATION.as_secs_f64();
        let (mut tail, mut whole) = (0.0, 0.0);
        for (kind, &per_hour) in group.bytes_per_hour.iter() {
            if per_hour <= 0.0 {
                continue;
            }
            // One finished file an hour: one complete download, or the rest of a tailed file.
            whole += n / hour;
            if !self.tails(kind) {
                // Written evenly over the hour, read at the first listing after the rotation.
                let p50 = hour * 0.5 + l * 0.5;
                let p99 = hour * 0.99 + l * 0.99;
                delay(kind, secs(p50), secs(p99));
                continue;
            }
            // A read happens at a listing, once a full portion waits or the delay has passed:
            // every `every` listings; and only once something new was written, so a quiet
            // file is read at most once an entry.
            let per_listing = per_hour * l / hour;
            let by_bytes = (PORTION_BYTES as f64 / per_listing).ceil();
            let by_delay = (self.max_delay[kind].as_secs_f64() / l).ceil().max(1.0);
            let every = if every_listing {
                1.0
            } else {
                by_bytes.min(by_delay).max(1.0)
            };
            let read_bytes = per_listing * every;
            let calls_per_read = (read_bytes / PORTION_BYTES as f64).ceil().max(1.0);
            let entries_per_second = per_hour / hour / ENTRY_BYTES[kind];
            let reads_per_second = (1.0 / (every * l)).min(entries_per_second);
            tail += n * calls_per_read * reads_per_second;
            // An entry waits for the listing that reads it: uniform over `every` listings, or
            // over one where entries are rarer than reads (the delay has long passed).
            let span = if entries_per_second * every * l < 1.0 {
                l
            } else {
                every * l
            };
            delay(kind, secs(span * 0.5), secs(span * 0.99));
        }
        (tail, whole)
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: f64 = 1e6;

    fn cadence(error: u64, bulk: u64) -> Cadence {
        Cadence {
            poll_interval: Duration::from_secs(10),
            list_share: 0.4,
            read_all_below: 0.0,
            max_delay: PerKind::from_fn(|k| match k {
                LogKind::MysqlError | LogKind::Postgresql => Duration::from_secs(error),
                _ => Duration::from_secs(bulk),
            }),
            idle_interval: Duration::ZERO,
        }
    }

    fn fleet(instances: usize, slow_mb: f64, error_mb: f64) -> Fleet {
        Fleet::uniform(
            instances,
            PerKind::from_fn(|k| match k {
                LogKind::MysqlSlow => slow_mb * MB,
                LogKind::MysqlError => error_mb * MB,
                _ => 0.0,
            }),
            10.0,
        )
    }

    #[test]
    fn the_tail_clock_counts_a_new_file_as_read_one_listing_ago() {
        let c = cadence(30, 300);
        let key = |name: &str| FileKey {
            instance_id: "db-1".into(),
            log_file: name.into(),
        };
        let (err, slow) = (key("error/e.log"), key("slowquery/s.log"));
        let t0 = Instant::now();
        let mut clock = TailClock::default();
        let busy = |interval: u64| Tailing {
            cadence: &c,
            room: false,
            interval: Duration::from_secs(interval),
        };
        // Listed every 40 s: a new error log is read at once, a new slow log is not.
        assert!(clock.due(&busy(40), &err, LogKind::MysqlError, 10, t0));
        assert!(!clock.due(&busy(40), &slow, LogKind::MysqlSlow, 10, t0));
        // Read at t0: not again before its delay; a full portion goes at once.
        let t1 = t0 + Duration::from_secs(20);
        assert!(!clock.due(&busy(40), &err, LogKind::MysqlError, 10, t1));
        assert!(clock.due(&busy(40), &err, LogKind::MysqlError, PORTION_BYTES, t1));
        // The slow log counted as read 40 s before t0: due 300 s after that.
        assert!(!clock.due(
            &busy(40),
            &slow,
            LogKind::MysqlSlow,
            10,
            t0 + Duration::from_secs(259)
        ));
        assert!(clock.due(
            &busy(40),
            &slow,
            LogKind::MysqlSlow,
            10,
            t0 + Duration::from_secs(260)
        ));
        // Room: read whatever the delay; nothing unshipped: never.
        let room = Tailing {
            room: true,
            ..busy(40)
        };
        assert!(clock.due(
            &room,
            &slow,
            LogKind::MysqlSlow,
            1,
            t0 + Duration::from_secs(261)
        ));
        assert!(!clock.due(
            &room,
            &slow,
            LogKind::MysqlSlow,
            0,
            t0 + Duration::from_secs(262)
        ));
        // Not read after all: seen anew at the next listing.
        assert_eq!(clock.len(), 2);
        clock.not_read(&err);
        let t2 = t1 + Duration::from_secs(1);
        assert!(clock.due(&busy(40), &err, LogKind::MysqlError, 10, t2));
        clock.retain(|k| k.log_file.starts_with("error/"));
        assert_eq!(clock.len(), 1);
    }

    #[test]
    fn listing_stretches_to_its_share_of_the_budget() {
        let c = cadence(30, 300);
        assert_eq!(c.list_interval(20, 10.0), Duration::from_secs(10));
        assert_eq!(c.list_interval(1000, 10.0), Duration::from_secs(250));
        // No budget at all still gives an interval, not a division by zero.
        assert!(c.list_interval(1, 0.0) > Duration::from_secs(10));
    }

    #[test]
    fn an_instance_is_idle_after_two_listings_that_found_nothing_written() {
        let mut q = Quiet::new(1_000);
        q.listed(1_000);
        assert!(!q.idle(), "one listing unchanged");
        q.listed(1_000);
        assert!(q.idle(), "two listings unchanged");
        q.listed(1_000);
        assert!(q.idle());
        q.listed(2_000);
        assert!(!q.idle(), "written again: busy at once");
        assert_eq!(q, Quiet::new(2_000));
    }

    #[test]
    fn idle_instances_listed_less_often_leave_the_share_to_the_busy_ones() {
        let mut c = cadence(30, 300);
        // Off: every instance alike.
        let alike = Duration::from_secs(250);
        assert_eq!(c.list_intervals(300, 700, 10.0), (alike, alike));
        c.idle_interval = Duration::from_secs(600);
        // 700 idle every 600 s take 1.17 of the 4 listings a second; 300 busy share the rest.
        let (busy, idle) = c.list_intervals(300, 700, 10.0);
        assert_eq!(idle, Duration::from_secs(600));
        let calls = 300.0 / busy.as_secs_f64() + 700.0 / idle.as_secs_f64();
        assert!((calls - 4.0).abs() < 1e-6, "{busy:?}: {calls} listings/s");
        assert!((busy.as_secs_f64() - 105.88).abs() < 0.01, "{busy:?}");
        // An idle interval shorter than listing alike gains nothing: alike.
        c.idle_interval = Duration::from_secs(100);
        assert_eq!(c.list_intervals(300, 700, 10.0), (alike, alike));
        // A fleet whose listings fit the poll interval is listed at it, idle or not.
        c.idle_interval = Duration::from_secs(600);
        let poll = Duration::from_secs(10);
        assert_eq!(c.list_intervals(10, 10, 10.0), (poll, poll));
        // Listings a little short (alike every 12 s): idle ones wait 4 times that, not 600 s.
        assert_eq!(
            c.list_intervals(8, 40, 10.0),
            (poll, Duration::from_secs(48))
        );
        let (busy, idle) = c.list_intervals(0, 1000, 10.0);
        assert_eq!((busy, idle), (poll, Duration::from_secs(600)));

        // The plan lists a group that writes nothing at the idle interval.
        let mut f = fleet(300, 99.0, 1.0);
        f.groups.push(Group {
            instances: 700,
            bytes_per_hour: PerKind::from_fn(|_| 0.0),
        });
        let p = c.plan(&f);
        assert_eq!(p.list_interval, c.list_intervals(300, 700, 10.0).0);
        assert_eq!(p.idle_list_interval, Duration::from_secs(600));
        assert!((p.list_calls - 4.0).abs() < 1e-6, "{p:?}");
    }

    #[test]
    fn a_live_file_is_read_when_a_portion_waits_its_delay_passed_or_there_is_room() {
        let c = cadence(30, 300);
        let slow = LogKind::MysqlSlow;
        let min = Duration::from_secs(60);
        assert!(!c.tail_now(slow, 1000, min, false), "small and recent");
        assert!(c.tail_now(slow, 1000, min, true), "room in the budget");
        assert!(
            c.tail_now(slow, PORTION_BYTES, min, false),
            "a full portion"
        );
        assert!(c.tail_now(slow, 1, 5 * min, false), "its delay passed");
        assert!(!c.tail_now(slow, 0, 50 * min, true), "nothing new");
        let whole = cadence(30, 3600);
        assert!(
            !whole.tail_now(slow, 50 << 20, 50 * min, true),
            "an hour's delay: whole files only"
        );
    }

    /// The goal of a thousand instances writing 100 MB an hour each in one account: tailing
    /// the slow log cannot fit (one call a megabyte is 28 calls a second); shipping it whole
    /// after rotation and tailing only the error log does, within five minutes for errors.
    #[test]
    fn a_thousand_busy_instances_fit_only_with_bulk_logs_shipped_whole() {
        let f = fleet(1000, 99.0, 1.0);
        let tailed = cadence(30, 300).plan(&f);
        assert!(!tailed.fits(&f), "{tailed:?}");
        assert!(tailed.tail_calls > 25.0, "{tailed:?}");

        let whole = cadence(30, 3600).plan(&f);
        assert!(whole.fits(&f), "{whole:?}");
        assert!((whole.list_calls - 4.0).abs() < 1e-9);
        let error = whole
            .delays
            .iter()
            .find(|d| d.1 == LogKind::MysqlError)
            .unwrap();
        assert!(error.3 <= Duration::from_secs(300), "{error:?}");
        let slow = whole
            .delays
            .iter()
            .find(|d| d.1 == LogKind::MysqlSlow)
            .unwrap();
        assert!(slow.3 > Duration::from_secs(3600), "{slow:?}");
    }

    #[test]
    fn a_small_fleet_reads_at_full_portions_and_within_its_delays() {
        let f = fleet(20, 100.0, 1.0);
        let p = cadence(30, 300).plan(&f);
        assert!(p.fits(&f), "{p:?}");
        assert_eq!(p.list_interval, Duration::from_secs(10));
        // 20 × 100 MB/h in full portions: about 0.53 calls a second, not one a listing.
        assert!(p.tail_calls < 2.0 + 20.0 / 30.0, "{p:?}");
        let slow = p.delays.iter().find(|d| d.1 == LogKind::MysqlSlow).unwrap();
        assert!(slow.3 <= Duration::from_secs(300), "{slow:?}");
    }
}
