//! `generate-logs KIND SIZE [SEED]`: write SIZE of a generated Aurora-like log of KIND to stdout
//! (for benches, the peer comparisons and trying the parsers). KIND is mysql-slow, mysql-error,
//! mysql-general, mysql-audit or postgresql; SIZE is bytes with an optional K, M or G suffix.

use std::io::Write;
use std::process::ExitCode;

use simulator::{LogGenerator, LogKind};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: generate-logs mysql-slow|mysql-error|mysql-general|mysql-audit|postgresql SIZE[K|M|G] [SEED]";
    let (Some(kind), Some(size)) = (args.get(1), args.get(2)) else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let kind = match kind.as_str() {
        "mysql-slow" => LogKind::MysqlSlow,
        "mysql-error" => LogKind::MysqlError,
        "mysql-general" => LogKind::MysqlGeneral,
        "mysql-audit" => LogKind::MysqlAudit,
        "postgresql" => LogKind::Postgresql,
        other => {
            eprintln!("unknown kind {other:?}; {usage}");
            return ExitCode::from(2);
        }
    };
    let (digits, mult) = match size.chars().last() {
        Some('K' | 'k') => (&size[..size.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&size[..size.len() - 1], 1 << 20),
        Some('G' | 'g') => (&size[..size.len() - 1], 1 << 30),
        _ => (size.as_str(), 1),
    };
    let Ok(n) = digits.parse::<u64>() else {
        eprintln!("bad size {size:?}; {usage}");
        return ExitCode::from(2);
    };
    let seed = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    let mut g = LogGenerator::new(kind, seed, 1_704_358_800_000_000);
    let mut out = std::io::stdout().lock();
    let mut buf = Vec::with_capacity(1 << 20);
    let mut left = n * mult;
    while left > 0 {
        buf.clear();
        g.fill(&mut buf, (1usize << 20).min(left as usize));
        left = left.saturating_sub(buf.len() as u64);
        if out.write_all(&buf).is_err() {
            return ExitCode::SUCCESS; // reader went away
        }
    }
    eprintln!("generate-logs: {} entries", g.entries());
    ExitCode::SUCCESS
}
