//! RDS log file names as both sides agree on them: the kind a name holds, lasting names across
//! Aurora's rotation, families of siblings, which files are finished, and which have work.
//!
//! Aurora MySQL writes `slowquery/mysql-slowquery.log` (and the error and general logs) for one
//! hour, then renames it to `slowquery/mysql-slowquery.log.YYYY-MM-DD.HH` after the hour it
//! covered. Shipping state and record ids are keyed by that lasting name from the start: the file
//! being written is known by the name it will get, the hour of its `LastWritten`. So a file read
//! half before and half after its rotation keeps one checkpoint and one set of record ids, and
//! a rotated file's checkpoint simply continues where the live one stopped. PostgreSQL and audit
//! files are never renamed: their name is already lasting.

use std::collections::HashMap;

use crate::kind::LogKind;
use crate::state::Checkpoint;

/// The names Aurora MySQL gives the file it is writing (renamed hourly).
const LIVE_MYSQL_NAMES: [&str; 4] = [
    "slowquery/mysql-slowquery.log",
    "error/mysql-error-running.log",
    "error/mysql-error.log",
    "general/mysql-general.log",
];

/// The lasting name of `name` last written at `last_written_ms` (see the module docs).
pub fn canonical_name(name: &str, last_written_ms: i64) -> String {
    if !LIVE_MYSQL_NAMES.contains(&name) {
        return name.to_string();
    }
    // Out of the calendar's range (a corrupt listing): the epoch's hour, still a lasting name.
    let t = time::OffsetDateTime::from_unix_timestamp(last_written_ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{name}.{:04}-{:02}-{:02}.{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour()
    )
}

/// The kind of log an RDS/Aurora file holds, from its (lasting) name
/// (`slowquery/mysql-slowquery.log.2024-01-04.09`, `error/postgresql.log.2024-01-04-0900`,
/// `audit/audit.log.0.2024-01-04-09-00.0`, …) or a local copy named like one (`.gz` and `.zst`
/// endings are looked through). `None`: no kind aurora-logs ships.
pub fn kind_of(name: &str) -> Option<LogKind> {
    let base = name.rsplit('/').next().unwrap_or(name);
    let base = base
        .strip_suffix(".gz")
        .or_else(|| base.strip_suffix(".zst"))
        .unwrap_or(base);
    if base.contains("slowquery")
        || base.contains("slow-query")
        || base.contains("slow_query")
        || base.contains("-slow.log")
    {
        Some(LogKind::MysqlSlow)
    } else if base.starts_with("mysql-error") || base.contains("mysqld.err") || base == "error.log"
    {
        Some(LogKind::MysqlError)
    } else if base.starts_with("mysql-general") || base.contains("general.log") {
        Some(LogKind::MysqlGeneral)
    } else if base.starts_with("audit.log") || base.starts_with("server_audit.log") {
        Some(LogKind::MysqlAudit)
    } else if base.starts_with("postgresql") || base.starts_with("postgres") {
        Some(LogKind::Postgresql)
    } else {
        None
    }
}

/// Whether `name` is a file Aurora is still writing under that name.
pub fn is_live_name(name: &str) -> bool {
    LIVE_MYSQL_NAMES.contains(&name)
}

/// The family of a (lasting) file name: the siblings one writer produces over time, which must
/// be shipped in order. `slowquery/mysql-slowquery.log.2024-01-04.09` →
/// `slowquery/mysql-slowquery.log`; `error/postgresql.log.2024-01-04-0900.csv` →
/// `error/postgresql.log.csv`; `audit/audit.log.0.2024-01-04-09-00.0` → `audit/audit.log.0`.
pub fn family(name: &str) -> String {
    let (stem, csv) = match name.strip_suffix(".csv") {
        Some(s) => (s, ".csv"),
        None => (name, ""),
    };
    let b = stem.as_bytes();
    // The first `.YYYY-` starts the date part.
    let date_at = (0..b.len().saturating_sub(5)).find(|&i| {
        b[i] == b'.' && b[i + 1..i + 5].iter().all(u8::is_ascii_digit) && b[i + 5] == b'-'
    });
    match date_at {
        Some(i) => format!("{}{csv}", &stem[..i]),
        None => name.to_string(),
    }
}

/// One log file of an instance as the data plane sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteFile {
    /// `LogFileName` as RDS lists it now: the name to download by.
    pub name: String,
    /// The lasting name: the key of its checkpoint and part of its record ids.
    pub canonical: String,
    /// `LastWritten`, ms since the epoch.
    pub last_written_ms: i64,
    /// `Size`, bytes.
    pub size: u64,
    /// Whether the writer has moved on to a newer sibling: its last entry is complete.
    pub finished: bool,
}

/// Lasting names, families and finished flags for one listing; sorted by family then by name,
/// oldest sibling first.
pub fn classify(
    listing: impl IntoIterator<Item = (String, i64, u64)>,
) -> Vec<(String, Vec<RemoteFile>)> {
    let mut files: Vec<RemoteFile> = listing
        .into_iter()
        .map(|(name, last_written_ms, size)| RemoteFile {
            canonical: canonical_name(&name, last_written_ms),
            name,
            last_written_ms,
            size,
            finished: true,
        })
        .collect();
    files.sort_by(|a, b| a.canonical.cmp(&b.canonical));
    files.dedup_by(|b, a| {
        a.canonical == b.canonical && {
            // A live file and its renamed copy can be listed together mid-rotation: keep the
            // renamed one, which is final.
            if is_live_name(&a.name) {
                std::mem::swap(a, b);
            }
            true
        }
    });
    let mut families: Vec<(String, Vec<RemoteFile>)> = Vec::new();
    for f in files {
        let fam = family(&f.canonical);
        match families.iter_mut().find(|(name, _)| *name == fam) {
            Some((_, v)) => v.push(f),
            None => families.push((fam, vec![f])),
        }
    }
    for (_, v) in &mut families {
        v.sort_by(|a, b| a.canonical.cmp(&b.canonical));
        if let Some(last) = v.last_mut() {
            // The newest sibling may still be written, unless it already carries the name
            // Aurora MySQL gives a file only after it is done with it.
            last.finished = LIVE_MYSQL_NAMES.contains(&family(&last.canonical).as_str())
                && !is_live_name(&last.name);
        }
    }
    families.sort_by(|a, b| a.0.cmp(&b.0));
    families
}

/// One listing of an instance, held against its checkpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pending {
    /// Files known after classifying (a live file and its renamed copy count once).
    pub files: usize,
    /// The files with unshipped bytes, by family (oldest sibling first), families by name.
    pub families: Vec<(String, Vec<RemoteFile>)>,
}

/// The lasting names of the files of `listing` (`(LogFileName, LastWritten ms, Size)`): what an
/// instance's listing holds, for forgetting the state of files it no longer lists.
pub fn lasting_names<'a>(
    listing: impl IntoIterator<Item = &'a (String, i64, u64)>,
) -> std::collections::HashSet<String> {
    listing
        .into_iter()
        .map(|(name, last_written_ms, _)| canonical_name(name, *last_written_ms))
        .collect()
}

/// The scheduling walk both modes share (standalone `run` and discovery): classify `listing`
/// (`(LogFileName, LastWritten ms, Size)`), and keep the files that still have work given the
/// checkpoints in `shipped` (keyed by lasting name), see [`Checkpoint::needs_work`].
pub fn pending(
    listing: impl IntoIterator<Item = (String, i64, u64)>,
    shipped: &HashMap<String, Checkpoint>,
) -> Pending {
    let mut out = Pending::default();
    for (family, files) in classify(listing) {
        out.files += files.len();
        let todo: Vec<RemoteFile> = files
            .into_iter()
            .filter(|f| Checkpoint::needs_work(shipped.get(&f.canonical), f.size, f.finished))
            .collect();
        if !todo.is_empty() {
            out.families.push((family, todo));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2024-01-04T09:30:00Z in ms.
    const T: i64 = 1_704_360_600_000;

    #[test]
    fn live_mysql_files_get_the_name_they_will_be_renamed_to() {
        assert_eq!(
            canonical_name("slowquery/mysql-slowquery.log", T),
            "slowquery/mysql-slowquery.log.2024-01-04.09"
        );
        assert_eq!(
            canonical_name("error/postgresql.log.2024-01-04-0900", T),
            "error/postgresql.log.2024-01-04-0900"
        );
    }

    #[test]
    fn kinds_from_rds_names() {
        for (name, kind) in [
            (
                "slowquery/mysql-slowquery.log.2024-01-04.09",
                Some(LogKind::MysqlSlow),
            ),
            (
                "error/mysql-error-running.log.2024-01-04.09",
                Some(LogKind::MysqlError),
            ),
            ("error/mysql-error.log", Some(LogKind::MysqlError)),
            (
                "general/mysql-general.log.2024-01-04.09",
                Some(LogKind::MysqlGeneral),
            ),
            (
                "audit/audit.log.0.2024-01-04-09-00.0",
                Some(LogKind::MysqlAudit),
            ),
            (
                "error/postgresql.log.2024-01-04-0900",
                Some(LogKind::Postgresql),
            ),
            (
                "error/postgresql.log.2024-01-04-0900.csv",
                Some(LogKind::Postgresql),
            ),
            ("trace/something-else.trc", None),
        ] {
            assert_eq!(kind_of(name), kind, "{name}");
        }
    }

    #[test]
    fn hours_outside_the_calendar_do_not_panic() {
        for ms in [i64::MIN, -1, i64::MAX] {
            assert!(
                canonical_name("error/mysql-error.log", ms).starts_with("error/mysql-error.log.")
            );
        }
        assert_eq!(
            canonical_name("error/mysql-error.log", -1),
            "error/mysql-error.log.1969-12-31.23"
        );
    }

    #[test]
    fn pending_keeps_the_files_with_work_and_counts_every_file() {
        let listing = vec![
            (
                "slowquery/mysql-slowquery.log".to_string(),
                T + 3_600_000,
                10,
            ),
            (
                "slowquery/mysql-slowquery.log.2024-01-04.09".to_string(),
                T,
                500,
            ),
            ("error/postgresql.log.2024-01-04-0900".to_string(), T, 7),
        ];
        let shipped = HashMap::from([
            (
                "slowquery/mysql-slowquery.log.2024-01-04.09".to_string(),
                Checkpoint {
                    offset: 500,
                    done: true,
                    ..Default::default()
                },
            ),
            (
                "error/postgresql.log.2024-01-04-0900".to_string(),
                Checkpoint {
                    offset: 3,
                    ..Default::default()
                },
            ),
        ]);
        let p = pending(listing, &shipped);
        assert_eq!(p.files, 3);
        let names: Vec<(&str, Vec<&str>)> = p
            .families
            .iter()
            .map(|(f, v)| (f.as_str(), v.iter().map(|x| x.name.as_str()).collect()))
            .collect();
        assert_eq!(
            names,
            vec![
                (
                    "error/postgresql.log",
                    vec!["error/postgresql.log.2024-01-04-0900"]
                ),
                (
                    "slowquery/mysql-slowquery.log",
                    vec!["slowquery/mysql-slowquery.log"]
                ),
            ]
        );
    }

    #[test]
    fn families() {
        for (name, fam) in [
            (
                "slowquery/mysql-slowquery.log.2024-01-04.09",
                "slowquery/mysql-slowquery.log",
            ),
            (
                "error/postgresql.log.2024-01-04-0900",
                "error/postgresql.log",
            ),
            (
                "error/postgresql.log.2024-01-04-0900.csv",
                "error/postgresql.log.csv",
            ),
            ("audit/audit.log.0.2024-01-04-09-00.0", "audit/audit.log.0"),
            ("error/mysql-error.log.3", "error/mysql-error.log.3"),
            ("", ""),
        ] {
            assert_eq!(family(name), fam, "{name}");
        }
    }

    #[test]
    fn only_the_newest_sibling_is_unfinished_and_a_renamed_copy_wins() {
        let fams = classify([
            (
                "slowquery/mysql-slowquery.log".to_string(),
                T + 3_600_000,
                10,
            ),
            (
                "slowquery/mysql-slowquery.log.2024-01-04.09".to_string(),
                T,
                500,
            ),
            ("error/postgresql.log.2024-01-04-0900".to_string(), T, 7),
            // Mid-rotation: the live name still lists the 09 hour, beside its renamed copy.
            ("error/mysql-error-running.log".to_string(), T, 3),
            (
                "error/mysql-error-running.log.2024-01-04.09".to_string(),
                T,
                4,
            ),
        ]);
        let names: Vec<_> = fams
            .iter()
            .map(|(f, v)| {
                (
                    f.as_str(),
                    v.iter()
                        .map(|x| (x.name.as_str(), x.finished))
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        assert_eq!(
            names,
            vec![
                (
                    "error/mysql-error-running.log",
                    vec![("error/mysql-error-running.log.2024-01-04.09", true)]
                ),
                (
                    "error/postgresql.log",
                    vec![("error/postgresql.log.2024-01-04-0900", false)]
                ),
                (
                    "slowquery/mysql-slowquery.log",
                    vec![
                        ("slowquery/mysql-slowquery.log.2024-01-04.09", true),
                        ("slowquery/mysql-slowquery.log", false)
                    ]
                ),
            ]
        );
    }
}
