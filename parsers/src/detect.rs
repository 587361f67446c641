//! Which format a log is: from its RDS file name, or from its first lines.

use std::fmt;
use std::str::FromStr;

pub use contract::LogKind;

/// The formats aurora-logs parses: a [`LogKind`] and, where a kind has more than one, how it is
/// written (PostgreSQL's stderr log and csvlog).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogFormat {
    /// MySQL / Aurora MySQL slow query log.
    MysqlSlow,
    /// MySQL / Aurora MySQL / MariaDB error log.
    MysqlError,
    /// MySQL general query log.
    MysqlGeneral,
    /// Aurora MySQL advanced auditing (and the MariaDB audit plugin) CSV log.
    MysqlAudit,
    /// PostgreSQL stderr log (RDS prefix `%t:%r:%u@%d:[%p]:` and other common prefixes).
    Postgresql,
    /// PostgreSQL csvlog.
    PostgresqlCsv,
}

impl LogFormat {
    /// Every format, in CLI order.
    pub const ALL: [LogFormat; 6] = [
        LogFormat::MysqlSlow,
        LogFormat::MysqlError,
        LogFormat::MysqlGeneral,
        LogFormat::MysqlAudit,
        LogFormat::Postgresql,
        LogFormat::PostgresqlCsv,
    ];

    /// The CLI name (`mysql-slow`, …).
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::MysqlSlow => "mysql-slow",
            LogFormat::MysqlError => "mysql-error",
            LogFormat::MysqlGeneral => "mysql-general",
            LogFormat::MysqlAudit => "mysql-audit",
            LogFormat::Postgresql => "postgresql",
            LogFormat::PostgresqlCsv => "postgresql-csv",
        }
    }

    /// The kind of log this format is a way of writing.
    pub fn kind(self) -> LogKind {
        match self {
            LogFormat::MysqlSlow => LogKind::MysqlSlow,
            LogFormat::MysqlError => LogKind::MysqlError,
            LogFormat::MysqlGeneral => LogKind::MysqlGeneral,
            LogFormat::MysqlAudit => LogKind::MysqlAudit,
            LogFormat::Postgresql | LogFormat::PostgresqlCsv => LogKind::Postgresql,
        }
    }

    /// The record's `log_type` value (the kind's).
    pub fn log_type(self) -> &'static str {
        self.kind().log_type()
    }
}

/// The usual format of a kind: RDS writes PostgreSQL logs as stderr unless csvlog is set.
impl From<LogKind> for LogFormat {
    fn from(kind: LogKind) -> LogFormat {
        match kind {
            LogKind::MysqlSlow => LogFormat::MysqlSlow,
            LogKind::MysqlError => LogFormat::MysqlError,
            LogKind::MysqlGeneral => LogFormat::MysqlGeneral,
            LogKind::MysqlAudit => LogFormat::MysqlAudit,
            LogKind::Postgresql => LogFormat::Postgresql,
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A format name that is not one of ours.
#[derive(Debug, thiserror::Error)]
#[error("unknown log format {0:?}: use one of mysql-slow, mysql-error, mysql-general, mysql-audit, postgresql, postgresql-csv")]
pub struct UnknownFormat(String);

impl FromStr for LogFormat {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LogFormat::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| UnknownFormat(s.to_owned()))
    }
}

/// The format of an RDS/Aurora log file from its name (`slowquery/mysql-slowquery.log.2024-01-04.09`,
/// `error/postgresql.log.2024-01-04-0900`, `audit/audit.log.0.2024-01-04-09-00.0`, …), or of a local
/// copy named like one. `None` when the name says nothing.
pub fn detect_from_name(name: &str) -> Option<LogFormat> {
    let kind = contract::kind_of(name)?;
    let base = name.rsplit('/').next().unwrap_or(name);
    let csv = base.ends_with(".csv") || base.contains(".csv.");
    Some(match kind {
        LogKind::Postgresql if csv => LogFormat::PostgresqlCsv,
        kind => LogFormat::from(kind),
    })
}

/// The format from the first bytes of a log (a few KiB are enough), or `None`. Each line that
/// only one format writes votes; the mysqld start banner, which opens slow and general logs
/// alike, does not (a log of nothing but the banner is taken as the general log).
pub fn detect_from_content(head: &[u8]) -> Option<LogFormat> {
    let mut votes = [0u32; 6];
    let mut banner = false;
    for line in head.split(|&b| b == b'\n').take(200) {
        if crate::mysql::is_start_banner(line) {
            banner = true;
        } else if let Some(f) = line_format(line) {
            votes[LogFormat::ALL.iter().position(|x| *x == f).unwrap_or(0)] += 1;
        }
    }
    let (i, &n) = votes.iter().enumerate().max_by_key(|(_, n)| **n)?;
    match (n, banner) {
        (0, true) => Some(LogFormat::MysqlGeneral),
        (0, false) => None,
        _ => Some(LogFormat::ALL[i]),
    }
}

fn line_format(line: &[u8]) -> Option<LogFormat> {
    const SLOW: [&[u8]; 3] = [b"# Query_time:", b"# User@Host:", b"# Time:"];
    if SLOW.iter().any(|p| line.starts_with(p)) {
        return Some(LogFormat::MysqlSlow);
    }
    if crate::postgres::stderr::looks_like_line(line) {
        return Some(LogFormat::Postgresql);
    }
    if crate::postgres::csv::looks_like_row(line) {
        return Some(LogFormat::PostgresqlCsv);
    }
    if crate::mysql::audit::looks_like_line(line) {
        return Some(LogFormat::MysqlAudit);
    }
    if crate::mysql::general::looks_like_line(line) {
        return Some(LogFormat::MysqlGeneral);
    }
    if crate::mysql::error::looks_like_line(line) {
        return Some(LogFormat::MysqlError);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_rds() {
        use LogFormat::*;
        for (name, f) in [
            ("slowquery/mysql-slowquery.log", MysqlSlow),
            ("slowquery/mysql-slowquery.log.2024-01-04.09", MysqlSlow),
            ("error/mysql-error-running.log.2024-01-04.09", MysqlError),
            ("error/mysql-error.log", MysqlError),
            ("general/mysql-general.log.12", MysqlGeneral),
            ("audit/audit.log.0.2024-01-04-09-00.0", MysqlAudit),
            ("error/postgresql.log.2024-01-04-0900", Postgresql),
            ("error/postgresql.log.2024-01-04-0900.csv", PostgresqlCsv),
            ("postgresql-11-multi-line.csv.log", PostgresqlCsv),
        ] {
            assert_eq!(detect_from_name(name), Some(f), "{name}");
        }
        assert_eq!(detect_from_name("notes.txt"), None);
    }

    #[test]
    fn names_round_trip() {
        for f in LogFormat::ALL {
            assert_eq!(f.name().parse::<LogFormat>().unwrap(), f);
        }
        assert!("json".parse::<LogFormat>().is_err());
    }

    /// The mysqld start banner opens slow logs and general logs alike; its column line
    /// (`Time  Id Command  Argument`) reads like a general log line. Detection looks past it.
    #[test]
    fn banner_does_not_decide() {
        let banner = "/rdsdbbin/mysql/bin/mysqld, Version: 8.0.28 (Source distribution). started with:\nTcp port: 3306  Unix socket: /tmp/mysql.sock\nTime                 Id Command    Argument\n";
        let slow = format!("{banner}# Time: 2024-01-04T09:00:00.000000Z\n# User@Host: app[app] @  [10.0.0.1]  Id:     7\n# Query_time: 1.5  Lock_time: 0.0 Rows_sent: 1  Rows_examined: 10\nSET timestamp=1704358800;\nSELECT 1;\n");
        assert_eq!(
            detect_from_content(slow.as_bytes()),
            Some(LogFormat::MysqlSlow)
        );
        // Just one header line after it.
        let slow = format!("{banner}# Query_time: 1.5  Lock_time: 0.0\nSELECT 1;\n");
        assert_eq!(
            detect_from_content(slow.as_bytes()),
            Some(LogFormat::MysqlSlow)
        );
        // Twice in a row (a restart), then a query.
        let slow = format!("{banner}{banner}# User@Host: a[a] @  [10.0.0.1]\n# Query_time: 1  Lock_time: 0\nSELECT 1;\n");
        assert_eq!(
            detect_from_content(slow.as_bytes()),
            Some(LogFormat::MysqlSlow)
        );
        let general = format!("{banner}2024-01-04T09:00:00.000000Z\t   30 Query\tSELECT 1\n");
        assert_eq!(
            detect_from_content(general.as_bytes()),
            Some(LogFormat::MysqlGeneral)
        );
        // Only the banner: a MySQL log that says no more; the general log, as before.
        assert_eq!(
            detect_from_content(banner.as_bytes()),
            Some(LogFormat::MysqlGeneral)
        );
    }
}
