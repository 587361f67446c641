//! MySQL and Aurora MySQL logs: slow query, error, general and audit.
pub mod audit;
pub mod error;
pub mod general;
pub mod slow;

use memchr::memmem;

/// Whether `line` is part of the banner mysqld writes when it opens a slow or general log
/// (at start, after every restart or `FLUSH LOGS`): `…, Version: … started with:`,
/// `Tcp port: … Unix socket: …` (Windows: `TCP Port: …, Named Pipe: …`), and the column line
/// `Time  Id Command  Argument`.
pub(crate) fn is_start_banner(line: &[u8]) -> bool {
    let Some(&last) = line.last() else {
        return false;
    };
    match line[0] {
        // `/usr/sbin/mysqld, Version: 8.0.15-5 (…). started with:` and Windows paths. (The last
        // byte first: SQL lines end with other bytes.)
        _ if matches!(last, b':' | b'\r')
            && (line.ends_with(b"started with:") || line.ends_with(b"started with:\r")) =>
        {
            memmem::find(line, b", Version: ").is_some()
        }
        b'T' => {
            (line.starts_with(b"Tcp port:") && memmem::find(line, b"Unix socket:").is_some())
                || (line.starts_with(b"TCP Port:") && memmem::find(line, b"Named Pipe:").is_some())
                || is_column_header(line)
        }
        _ => false,
    }
}

/// `Time                 Id Command    Argument` (spaces or tabs).
fn is_column_header(line: &[u8]) -> bool {
    let mut words = line
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty());
    words.next() == Some(b"Time")
        && words.next() == Some(b"Id")
        && words.next() == Some(b"Command")
        && words.next() == Some(b"Argument")
        && words.next().is_none()
}
