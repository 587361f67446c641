//! An Aurora-like log generator: deterministic (seeded) streams of the log kinds Aurora writes,
//! in the exact shapes Aurora MySQL 3 and Aurora PostgreSQL use, with the odd entries real logs
//! have (multi-line SQL, admin commands, restart banners, errors with DETAIL/STATEMENT lines,
//! quoted CSV). It counts what it writes, so tests can check that every entry arrived.

use crate::clock::{rfc3339_us, Civil};

/// The log kinds the generator writes are the kinds aurora-logs ships.
pub use contract::LogKind;

const USERS: &[&str] = &["app", "reporting", "rdsadmin", "etl_writer", "api"];
const DBS: &[&str] = &["shop", "billing", "analytics", "users"];
const TABLES: &[&str] = &[
    "orders",
    "customers",
    "line_items",
    "invoices",
    "sessions",
    "events",
    "products",
];

/// A deterministic generator of one log stream.
#[derive(Debug)]
pub struct LogGenerator {
    kind: LogKind,
    rng: fastrand::Rng,
    now_us: i64,
    entries: u64,
    pid_base: u32,
    /// The next entry's time was set by [`LogGenerator::set_now`].
    pinned: bool,
}

impl LogGenerator {
    /// A generator of `kind` seeded with `seed`, whose first entry is at `start_us` (µs since
    /// the epoch).
    pub fn new(kind: LogKind, seed: u64, start_us: i64) -> LogGenerator {
        LogGenerator {
            kind,
            rng: fastrand::Rng::with_seed(seed),
            now_us: start_us,
            entries: 0,
            pid_base: 1000 + (seed % 50_000) as u32,
            pinned: false,
        }
    }

    /// Entries written so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// The clock: the timestamp of the last entry written.
    pub fn now_us(&self) -> i64 {
        self.now_us
    }

    /// Write the next entry at `at_us` instead of a random step after the last one.
    pub fn set_now(&mut self, at_us: i64) {
        self.now_us = at_us;
        self.pinned = true;
    }

    /// Append one entry to `out`.
    pub fn write_entry(&mut self, out: &mut Vec<u8>) {
        if !std::mem::take(&mut self.pinned) {
            self.now_us += self.rng.i64(50..200_000);
        }
        self.entries += 1;
        match self.kind {
            LogKind::MysqlSlow => self.slow(out),
            LogKind::MysqlError => self.error(out),
            LogKind::MysqlGeneral => self.general(out),
            LogKind::MysqlAudit => self.audit(out),
            LogKind::Postgresql => self.postgres(out),
        }
    }

    /// Append entries until `out` grew by at least `bytes`; returns the entries written.
    pub fn fill(&mut self, out: &mut Vec<u8>, bytes: usize) -> u64 {
        let target = out.len() + bytes;
        let before = self.entries;
        while out.len() < target {
            self.write_entry(out);
        }
        self.entries - before
    }

    /// A server restart banner, as MySQL writes at startup and after `FLUSH LOGS` (not an entry).
    pub fn write_banner(out: &mut Vec<u8>) {
        out.extend_from_slice(
            b"/rdsdbbin/oscar/bin/mysqld, Version: 8.0.28 (Source distribution). started with:\n\
              Tcp port: 3306  Unix socket: /tmp/mysql.sock\n\
              Time                 Id Command    Argument\n",
        );
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.rng.usize(..items.len())]
    }

    fn ip(&mut self) -> String {
        format!(
            "10.{}.{}.{}",
            self.rng.u8(0..4),
            self.rng.u8(0..255),
            self.rng.u8(1..255)
        )
    }

    fn query(&mut self) -> String {
        let t = self.pick(TABLES);
        match self.rng.u8(0..10) {
            0 => format!("SELECT * FROM {t} WHERE id = {}", self.rng.u32(1..10_000_000)),
            1 => format!(
                "SELECT c.id, c.email, SUM(o.total) AS spent\n  FROM customers c\n  JOIN {t} o ON o.customer_id = c.id\n WHERE o.created_at > '2024-0{}-1{} 00:00:00'\n GROUP BY c.id, c.email\n ORDER BY spent DESC\n LIMIT {}",
                self.rng.u8(1..10),
                self.rng.u8(0..10),
                self.rng.u8(5..100)
            ),
            2 => format!(
                "INSERT INTO {t} (customer_id, status, note) VALUES ({}, 'new', 'it''s a \\\"note\\\"'), ({}, 'paid', NULL)",
                self.rng.u32(1..99_999),
                self.rng.u32(1..99_999)
            ),
            3 => format!("UPDATE {t} SET status = 'shipped', updated_at = NOW() WHERE id IN ({}, {}, {})", self.rng.u32(..), self.rng.u32(..), self.rng.u32(..)),
            4 => format!("DELETE FROM {t} WHERE expires_at < '2024-01-0{} 00:00:00' LIMIT 1000", self.rng.u8(1..10)),
            5 => format!("SELECT COUNT(*) FROM {t} WHERE status = 'open' AND region = 'eu-west-{}'", self.rng.u8(1..4)),
            6 => format!("SELECT /* app:checkout */ p.sku, p.price FROM products p WHERE p.price BETWEEN {} AND {}", self.rng.u16(..), self.rng.u16(..)),
            7 => "COMMIT".to_string(),
            8 => format!("CALL refresh_stats({}, 'daily')", self.rng.u16(..)),
            _ => format!("SELECT id FROM {t} WHERE token = 0x{:x} AND flag = true", self.rng.u64(..)),
        }
    }

    fn slow(&mut self, out: &mut Vec<u8>) {
        let user = self.pick(USERS);
        let ip = self.ip();
        let thread = self.rng.u32(10..5_000_000);
        let qt_us = self.rng.u64(100..5_000_000);
        let start = self.now_us - qt_us as i64;
        let admin = self.rng.u8(0..40) == 0;
        let q = self.query();
        out.extend_from_slice(format!("# Time: {}\n", iso(self.now_us)).as_bytes());
        out.extend_from_slice(
            format!("# User@Host: {user}[{user}] @  [{ip}]  Id: {thread:>7}\n").as_bytes(),
        );
        out.extend_from_slice(
            format!(
                "# Query_time: {}.{:06}  Lock_time: 0.{:06} Rows_sent: {}  Rows_examined: {}\n",
                qt_us / 1_000_000,
                qt_us % 1_000_000,
                self.rng.u32(0..2_000),
                self.rng.u32(0..1000),
                self.rng.u32(0..2_000_000)
            )
            .as_bytes(),
        );
        if self.rng.u8(0..8) == 0 {
            out.extend_from_slice(format!("use {};\n", self.pick(DBS)).as_bytes());
        }
        out.extend_from_slice(format!("SET timestamp={};\n", start / 1_000_000).as_bytes());
        if admin {
            out.extend_from_slice(b"# administrator command: Quit;\n");
        } else {
            out.extend_from_slice(q.as_bytes());
            out.extend_from_slice(b";\n");
        }
    }

    fn error(&mut self, out: &mut Vec<u8>) {
        let ts = iso(self.now_us);
        match self.rng.u8(0..6) {
            0 => {
                let ip = self.ip();
                out.extend_from_slice(
                    format!("{ts} {} [Note] [MY-010914] [Server] Aborted connection {} to db: 'shop' user: 'app' host: '{ip}' (Got an error reading communication packets).\n", self.rng.u32(1..9_999_999), self.rng.u32(..)).as_bytes(),
                )
            }
            1 => {
                let ip = self.ip();
                out.extend_from_slice(format!("{ts} {} [Warning] [MY-010055] [Server] IP address '{ip}' could not be resolved: Name or service not known\n", self.rng.u32(1..99)).as_bytes())
            }
            2 => {
                let ip = self.ip();
                out.extend_from_slice(format!("{ts} {} [Note] [MY-010926] [Server] Access denied for user 'admin'@'{ip}' (using password: YES)\n", self.rng.u32(1..99_999)).as_bytes())
            }
            3 => out.extend_from_slice(
                format!("{ts} 0 [Warning] [MY-012639] [InnoDB] Retry attempts for reading partial data failed.\nInnoDB: Page dump in ascii and hex\nInnoDB: End of page dump\n").as_bytes(),
            ),
            4 => out.extend_from_slice(format!("{ts} 0 [System] [MY-010931] [Server] /rdsdbbin/oscar/bin/mysqld: ready for connections. Version: '8.0.28'  socket: '/tmp/mysql.sock'  port: 3306  Source distribution.\n").as_bytes()),
            _ => out.extend_from_slice(format!("{ts} {} [ERROR] [MY-011292] [Repl] Plugin group_replication reported: 'Timeout on wait for view after joining group'\n", self.rng.u32(1..99)).as_bytes()),
        }
    }

    fn general(&mut self, out: &mut Vec<u8>) {
        let ts = iso(self.now_us);
        let thread = self.rng.u32(1..100_000);
        match self.rng.u8(0..5) {
            0 => {
                let ip = self.ip();
                out.extend_from_slice(
                    format!("{ts}\t{thread:>6} Connect\tapp@{ip} on shop using SSL/TLS\n")
                        .as_bytes(),
                )
            }
            1 => out.extend_from_slice(format!("{ts}\t{thread:>6} Quit\t\n").as_bytes()),
            _ => {
                let q = self.query();
                out.extend_from_slice(format!("{ts}\t{thread:>6} Query\t{q}\n").as_bytes())
            }
        }
    }

    fn audit(&mut self, out: &mut Vec<u8>) {
        let user = self.pick(USERS);
        let ip = self.ip();
        let conn = self.rng.u32(1..1_000_000);
        let db = self.pick(DBS);
        match self.rng.u8(0..5) {
            0 => out.extend_from_slice(
                format!(
                    "{},ip-10-1-0-50,{user},{ip},{conn},0,CONNECT,,,0\n",
                    self.now_us
                )
                .as_bytes(),
            ),
            1 => out.extend_from_slice(
                format!(
                    "{},ip-10-1-0-50,{user},{ip},{conn},0,DISCONNECT,,,0\n",
                    self.now_us
                )
                .as_bytes(),
            ),
            _ => {
                let q = self
                    .query()
                    .replace('\n', " ")
                    .replace('\\', "\\\\")
                    .replace('\'', "\\'");
                let qid = self.rng.u64(1..50_000_000_000_000);
                out.extend_from_slice(
                    format!(
                        "{},ip-10-1-0-50,{user},{ip},{conn},{qid},QUERY,{db},'{q}',0\n",
                        self.now_us
                    )
                    .as_bytes(),
                );
            }
        }
    }

    fn postgres(&mut self, out: &mut Vec<u8>) {
        let ts = pg_time(self.now_us);
        let user = self.pick(USERS);
        let db = self.pick(DBS);
        let ip = self.ip();
        let port = self.rng.u16(1024..65535);
        let pid = self.pid_base + self.rng.u32(0..64);
        let prefix = format!("{ts}:{ip}({port}):{user}@{db}:[{pid}]:");
        match self.rng.u8(0..10) {
            0 => out.extend_from_slice(format!("{ts}::@:[{}]:LOG:  checkpoint starting: time\n", self.pid_base - 1).as_bytes()),
            1 => out.extend_from_slice(
                format!("{prefix}ERROR:  duplicate key value violates unique constraint \"orders_pkey\"\n{prefix}DETAIL:  Key (id)=({}) already exists.\n{prefix}STATEMENT:  INSERT INTO orders (id, total) VALUES ({}, 10.5)\n", self.rng.u32(..), self.rng.u32(..)).as_bytes(),
            ),
            2 => out.extend_from_slice(format!("{prefix}LOG:  connection authorized: user={user} database={db} SSL enabled (protocol=TLSv1.3)\n").as_bytes()),
            _ => {
                let q = self.query().replace('\n', "\n\t").replace("\\\"", "\"");
                let ms = self.rng.u32(0..50_000);
                out.extend_from_slice(format!("{prefix}LOG:  duration: {}.{:03} ms  statement: {q}\n", ms / 1000, ms % 1000).as_bytes());
            }
        }
    }
}

/// RFC 3339 UTC with microseconds, as MySQL 8 writes.
fn iso(us: i64) -> String {
    rfc3339_us(us)
}

/// PostgreSQL's `%t`: `2024-01-04 09:00:01 UTC`.
fn pg_time(us: i64) -> String {
    let t = Civil::from_us(us);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use parsers::{Entry, Flow, Limits, LogParser};

    const START: i64 = 1_704_358_800_000_000; // 2024-01-04T09:00:00Z

    /// What the parser makes of a generated stream: (entries, flagged).
    fn parse(kind: LogKind, input: &[u8]) -> (u64, Vec<String>) {
        let mut parser = LogParser::new(parsers::LogFormat::from(kind), Limits::default());
        let mut flagged = Vec::new();
        let mut n = 0;
        let mut sink = |e: &Entry<'_>| {
            n += 1;
            if let Some(err) = e.parse_error() {
                flagged.push(format!("{err}: {}", String::from_utf8_lossy(e.raw.text)));
            }
            Flow::Continue
        };
        parser.feed(input, &mut sink);
        parser.finish(&mut sink);
        (n, flagged)
    }

    #[test]
    fn deterministic_for_a_seed() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        LogGenerator::new(LogKind::MysqlSlow, 7, START).fill(&mut a, 10_000);
        LogGenerator::new(LogKind::MysqlSlow, 7, START).fill(&mut b, 10_000);
        assert_eq!(a, b);
    }

    /// The generator and the parsers agree on every entry, with no parse error: the generator
    /// writes what Aurora writes.
    #[test]
    fn every_generated_entry_parses_cleanly() {
        for kind in LogKind::ALL {
            let mut out = Vec::new();
            let mut g = LogGenerator::new(kind, 42, START);
            let n = g.fill(&mut out, 200_000);
            if kind == LogKind::MysqlSlow {
                LogGenerator::write_banner(&mut out);
                g.write_entry(&mut out);
            }
            let (parsed, flagged) = parse(kind, &out);
            assert_eq!(
                parsed,
                g.entries(),
                "{kind:?}: {n} generated before the banner"
            );
            assert!(
                flagged.is_empty(),
                "{kind:?}: {:#?}",
                &flagged[..flagged.len().min(3)]
            );
        }
    }
}
