//! The log files of one simulated Aurora instance, as RDS lists and serves them: Aurora's file
//! names, hourly rotation, retention deletion, all under a clock the caller moves.
//!
//! # Brief overview
//! An [`InstanceLogs`] holds one generator per log kind of its engine and the files written so
//! far. [`InstanceLogs::advance_to`] writes entries at a steady rate up to a point in time,
//! rotating at every hour boundary exactly as Aurora names its files, and deletes files older
//! than the retention period (Aurora MySQL 24 h, Aurora PostgreSQL 3 days by default). It counts
//! every entry it ever wrote, per kind, so that an end-to-end test can tell whether everything
//! arrived — including entries in files that were rotated or deleted meanwhile.
//!
//! File names (RDS.md):
//! - Aurora MySQL: `slowquery/mysql-slowquery.log`, `error/mysql-error-running.log`,
//!   `general/mysql-general.log` are the files being written; at each hour the current file is
//!   renamed to `<name>.YYYY-MM-DD.HH` (the hour it covered) and a new one starts. Audit:
//!   `audit/audit.log.0.YYYY-MM-DD-HH-MM.0`, a new file each hour.
//! - Aurora PostgreSQL: `error/postgresql.log.YYYY-MM-DD-HHMM`, a new file each hour, never
//!   renamed.

use std::collections::BTreeMap;

use crate::clock::Civil;

use crate::generator::{LogGenerator, LogKind};

/// µs in an hour.
const HOUR_US: i64 = 3_600_000_000;

/// The database engine of an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Engine {
    /// `aurora-mysql`: slow query, error, general and audit logs.
    AuroraMysql,
    /// `aurora-postgresql`: the PostgreSQL log.
    AuroraPostgresql,
}

impl Engine {
    /// The engine name RDS reports.
    pub fn name(self) -> &'static str {
        match self {
            Engine::AuroraMysql => "aurora-mysql",
            Engine::AuroraPostgresql => "aurora-postgresql",
        }
    }

    /// The log kinds this engine writes.
    pub fn kinds(self) -> &'static [LogKind] {
        match self {
            Engine::AuroraMysql => &[
                LogKind::MysqlSlow,
                LogKind::MysqlError,
                LogKind::MysqlGeneral,
                LogKind::MysqlAudit,
            ],
            Engine::AuroraPostgresql => &[LogKind::Postgresql],
        }
    }

    /// How long RDS keeps a rotated file by default.
    pub fn default_retention_us(self) -> i64 {
        match self {
            Engine::AuroraMysql => 24 * HOUR_US,
            Engine::AuroraPostgresql => 72 * HOUR_US,
        }
    }
}

/// One log file as RDS describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogFile {
    /// `LogFileName`, e.g. `slowquery/mysql-slowquery.log.2024-01-04.09`.
    pub name: String,
    /// The log kind written into it.
    pub kind: LogKind,
    /// Its bytes.
    pub data: Vec<u8>,
    /// `LastWritten`, ms since the epoch.
    pub last_written_ms: i64,
    /// Entries in it.
    pub entries: u64,
    /// Whether the engine still writes to it.
    pub active: bool,
    /// Start of the hour it covers, µs.
    hour_us: i64,
}

impl LogFile {
    /// `Size`, bytes.
    pub fn size(&self) -> u64 {
        self.data.len() as u64
    }

    /// Start of the hour it covers, µs since the epoch (the hour segment of RDS markers).
    pub fn hour_us(&self) -> i64 {
        self.hour_us
    }
}

/// The files of one instance; see the module docs.
#[derive(Debug)]
pub struct InstanceLogs {
    engine: Engine,
    retention_us: i64,
    now_us: i64,
    /// Per kind: its generator, the name of the file being written, the next entry's time.
    writers: Vec<Writer>,
    files: BTreeMap<String, LogFile>,
    deleted_entries: u64,
}

#[derive(Debug)]
struct Writer {
    kind: LogKind,
    generator: LogGenerator,
    current: String,
    next_us: i64,
    interval_us: i64,
}

impl InstanceLogs {
    /// An instance of `engine` whose logs start at `start_us`, each kind writing
    /// `entries_per_second` entries a second (at least one an hour), seeded by `seed`.
    pub fn new(engine: Engine, seed: u64, start_us: i64, entries_per_second: f64) -> InstanceLogs {
        let interval_us = interval_us(entries_per_second);
        let mut logs = InstanceLogs {
            engine,
            retention_us: engine.default_retention_us(),
            now_us: start_us,
            writers: Vec::new(),
            files: BTreeMap::new(),
            deleted_entries: 0,
        };
        for (i, &kind) in engine.kinds().iter().enumerate() {
            let current = current_name(kind, start_us);
            logs.files
                .insert(current.clone(), LogFile::new(&current, kind, start_us));
            logs.writers.push(Writer {
                kind,
                generator: LogGenerator::new(
                    kind,
                    seed.wrapping_mul(31).wrapping_add(i as u64),
                    start_us,
                ),
                current,
                next_us: start_us,
                interval_us,
            });
        }
        logs
    }

    /// Keep rotated files this long after their hour ended (the default is the engine's).
    pub fn with_retention_us(mut self, retention_us: i64) -> InstanceLogs {
        self.retention_us = retention_us;
        self
    }

    /// Write `kind` at `entries_per_second` instead of the rate given to [`InstanceLogs::new`]
    /// (a kind the engine does not write is ignored).
    pub fn with_rate(mut self, kind: LogKind, entries_per_second: f64) -> InstanceLogs {
        for w in self.writers.iter_mut().filter(|w| w.kind == kind) {
            w.interval_us = interval_us(entries_per_second);
        }
        self
    }

    /// The engine.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The clock, µs since the epoch.
    pub fn now_us(&self) -> i64 {
        self.now_us
    }

    /// Write every entry due up to `to_us`, rotating at hour boundaries and deleting files past
    /// retention. Moving the clock backwards does nothing.
    ///
    /// A long jump goes one hour at a time, deleting by retention after each hour, so that what
    /// it holds at any moment is bounded by the retention period, not by the length of the jump.
    pub fn advance_to(&mut self, to_us: i64) {
        loop {
            let hour_end = self
                .now_us
                .div_euclid(HOUR_US)
                .saturating_add(1)
                .saturating_mul(HOUR_US);
            let step = hour_end.min(to_us);
            self.write_until(step);
            self.now_us = self.now_us.max(step);
            self.expire();
            if step >= to_us {
                return;
            }
        }
    }

    /// Write every entry due up to `to_us`.
    fn write_until(&mut self, to_us: i64) {
        for w in &mut self.writers {
            while w.next_us <= to_us {
                let at = w.next_us;
                let hour = at.div_euclid(HOUR_US) * HOUR_US;
                let current_hour = self.files.get(&w.current).map_or(hour, |f| f.hour_us);
                if hour != current_hour {
                    rotate(&mut self.files, w, hour);
                }
                let file = self
                    .files
                    .get_mut(&w.current)
                    .expect("the current file exists");
                w.generator.set_now(at);
                w.generator.write_entry(&mut file.data);
                file.entries += 1;
                file.last_written_ms = at / 1000;
                match w.next_us.checked_add(w.interval_us) {
                    Some(next) => w.next_us = next,
                    // The end of time: nothing is ever due again.
                    None => {
                        w.next_us = i64::MAX;
                        break;
                    }
                }
            }
        }
    }

    /// Delete the rotated files past retention.
    fn expire(&mut self) {
        let horizon = self.now_us.saturating_sub(self.retention_us);
        let expired: Vec<String> = self
            .files
            .values()
            .filter(|f| !f.active && f.hour_us.saturating_add(HOUR_US) <= horizon)
            .map(|f| f.name.clone())
            .collect();
        for name in expired {
            if let Some(f) = self.files.remove(&name) {
                self.deleted_entries += f.entries;
            }
        }
    }

    /// The files RDS would list now, by name.
    pub fn files(&self) -> impl Iterator<Item = &LogFile> {
        self.files.values()
    }

    /// One file by its `LogFileName`.
    pub fn file(&self, name: &str) -> Option<&LogFile> {
        self.files.get(name)
    }

    /// Entries ever written, including those in files since deleted.
    pub fn entries_written(&self) -> u64 {
        self.files.values().map(|f| f.entries).sum::<u64>() + self.deleted_entries
    }

    /// Entries in files deleted by retention.
    pub fn entries_deleted(&self) -> u64 {
        self.deleted_entries
    }
}

impl LogFile {
    fn new(name: &str, kind: LogKind, hour_start_us: i64) -> LogFile {
        LogFile {
            name: name.to_string(),
            kind,
            data: Vec::new(),
            last_written_ms: hour_start_us / 1000,
            entries: 0,
            active: true,
            hour_us: hour_start_us.div_euclid(HOUR_US) * HOUR_US,
        }
    }
}

/// µs between entries at a rate (at least one an hour).
fn interval_us(entries_per_second: f64) -> i64 {
    ((1e6 / entries_per_second.max(1.0 / 3600.0)) as i64).max(1)
}

/// End the writer's current file and start the one for `hour`.
fn rotate(files: &mut BTreeMap<String, LogFile>, w: &mut Writer, hour: i64) {
    if let Some(mut old) = files.remove(&w.current) {
        old.active = false;
        if let Some(archived) = archived_name(w.kind, &old.name, old.hour_us) {
            old.name = archived;
        }
        files.insert(old.name.clone(), old);
    }
    w.current = current_name(w.kind, hour);
    files.insert(w.current.clone(), LogFile::new(&w.current, w.kind, hour));
}

/// The name of the file being written for `kind` in the hour of `at_us`.
fn current_name(kind: LogKind, at_us: i64) -> String {
    let (date, hh, mm) = date_hour(at_us);
    match kind {
        LogKind::MysqlSlow => "slowquery/mysql-slowquery.log".into(),
        LogKind::MysqlError => "error/mysql-error-running.log".into(),
        LogKind::MysqlGeneral => "general/mysql-general.log".into(),
        LogKind::MysqlAudit => format!("audit/audit.log.0.{date}-{hh:02}-{mm:02}.0"),
        LogKind::Postgresql => format!("error/postgresql.log.{date}-{hh:02}{mm:02}"),
    }
}

/// The name a finished file gets: MySQL's current files are renamed after the hour they
/// covered; audit and PostgreSQL files keep theirs.
fn archived_name(kind: LogKind, name: &str, hour_us: i64) -> Option<String> {
    let (date, hh, _) = date_hour(hour_us);
    match kind {
        LogKind::MysqlSlow | LogKind::MysqlError | LogKind::MysqlGeneral => {
            Some(format!("{name}.{date}.{hh:02}"))
        }
        LogKind::MysqlAudit | LogKind::Postgresql => None,
    }
}

/// (`YYYY-MM-DD`, hour, minute) of a time, UTC.
fn date_hour(us: i64) -> (String, i64, i64) {
    let t = Civil::from_us(us);
    (
        format!("{:04}-{:02}-{:02}", t.year, t.month, t.day),
        i64::from(t.hour),
        i64::from(t.minute),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use parsers::{Entry, Flow, Limits, LogParser};

    const START: i64 = 1_704_358_800_000_000; // 2024-01-04T09:00:00Z

    fn parsed_entries(f: &LogFile) -> u64 {
        let mut parser = LogParser::new(parsers::LogFormat::from(f.kind), Limits::default());
        let mut n = 0;
        let mut sink = |e: &Entry<'_>| {
            assert!(
                e.parse_error().is_none(),
                "{}: {:?}",
                f.name,
                e.parse_error()
            );
            n += 1;
            Flow::Continue
        };
        parser.feed(&f.data, &mut sink);
        parser.finish(&mut sink);
        n
    }

    #[test]
    fn mysql_files_rotate_hourly_under_aurora_names() {
        let mut logs = InstanceLogs::new(Engine::AuroraMysql, 1, START + 30 * 60 * 1_000_000, 2.0);
        logs.advance_to(START + 2 * HOUR_US + 10 * 60 * 1_000_000);
        let names: Vec<&str> = logs.files().map(|f| f.name.as_str()).collect();
        for want in [
            "slowquery/mysql-slowquery.log",
            "slowquery/mysql-slowquery.log.2024-01-04.09",
            "slowquery/mysql-slowquery.log.2024-01-04.10",
            "error/mysql-error-running.log.2024-01-04.09",
            "general/mysql-general.log.2024-01-04.10",
            "audit/audit.log.0.2024-01-04-09-30.0", // created when logging began
            "audit/audit.log.0.2024-01-04-11-00.0",
        ] {
            assert!(names.contains(&want), "{want} not in {names:?}");
        }
        let current = logs.file("slowquery/mysql-slowquery.log").unwrap();
        assert!(current.active);
        assert_eq!(
            current.last_written_ms,
            (START + 2 * HOUR_US + 10 * 60 * 1_000_000) / 1000
        );
        assert!(
            !logs
                .file("slowquery/mysql-slowquery.log.2024-01-04.09")
                .unwrap()
                .active
        );
    }

    #[test]
    fn every_entry_is_in_some_file_and_parses() {
        let mut logs = InstanceLogs::new(Engine::AuroraPostgresql, 7, START, 5.0);
        logs.advance_to(START + 3 * HOUR_US);
        let in_files: u64 = logs.files().map(|f| f.entries).sum();
        assert_eq!(in_files, logs.entries_written());
        assert_eq!(in_files, 3 * 3600 * 5 + 1);
        for f in logs.files() {
            assert_eq!(parsed_entries(f), f.entries, "{}", f.name);
        }
        assert_eq!(
            logs.files().count(),
            4,
            "one file per hour, the fourth just begun"
        );
    }

    #[test]
    fn retention_deletes_old_files_and_counts_their_entries() {
        let mut logs =
            InstanceLogs::new(Engine::AuroraMysql, 3, START, 1.0).with_retention_us(2 * HOUR_US);
        logs.advance_to(START + 5 * HOUR_US);
        assert!(logs.entries_deleted() > 0);
        assert!(
            logs.file("slowquery/mysql-slowquery.log.2024-01-04.09")
                .is_none(),
            "past retention"
        );
        assert!(logs
            .file("slowquery/mysql-slowquery.log.2024-01-04.12")
            .is_some());
        let kept: u64 = logs.files().map(|f| f.entries).sum();
        assert_eq!(kept + logs.entries_deleted(), logs.entries_written());
    }

    #[test]
    fn a_long_jump_equals_small_steps_and_ends_in_time() {
        let new = || {
            InstanceLogs::new(Engine::AuroraMysql, 3, START, 0.05).with_retention_us(2 * HOUR_US)
        };
        let mut jumped = new();
        jumped.advance_to(START + 7 * 24 * HOUR_US + 123);
        let mut stepped = new();
        for minutes in (0..=7 * 24 * 60).step_by(17) {
            stepped.advance_to(START + minutes * 60_000_000);
        }
        stepped.advance_to(START + 7 * 24 * HOUR_US + 123);
        let names = |l: &InstanceLogs| l.files().map(|f| f.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&jumped), names(&stepped));
        assert_eq!(jumped.entries_written(), stepped.entries_written());
        assert_eq!(jumped.entries_deleted(), stepped.entries_deleted());
        assert_eq!(
            jumped.files().count(),
            4 * 3,
            "retention holds 3 hours of 4 kinds"
        );
        // The end of time: no overflow, no endless loop.
        let mut end = InstanceLogs::new(Engine::AuroraPostgresql, 1, i64::MAX - 3 * HOUR_US, 0.001);
        end.advance_to(i64::MAX);
        assert_eq!(end.now_us(), i64::MAX);
    }
}
