//! Zero-copy streaming parsers for the database logs of Aurora MySQL and Aurora PostgreSQL.
//!
//! # Brief overview
//! Bytes arrive in chunks of any size (a download, a file read, a pipe). A [`LogParser`] for one
//! [`LogFormat`] feeds them through a [`frame::Framer`], which groups physical lines into entries
//! using the format's line classifier and hands each complete entry out as a slice of the chunk
//! (an entry that spans chunks is the only thing copied). The format's parser turns the entry into
//! a typed value that borrows from it ([`mysql::slow::SlowQueryEntry`], …), and the caller's
//! [`EntrySink`] receives it as an [`Entry`], which can write itself as a flat JSON record with
//! [`json::RecordWriter`] straight into a reusable buffer.
//!
//! Splitting the same input at any byte boundaries yields the same entries (property-tested for
//! every format). Every buffer is bounded ([`Limits`]); bad input becomes an entry flagged with a
//! parse error, or a counted skip ([`ParseStats`]), never a panic.
//!
//! Query fingerprints ([`fingerprint`]) follow pt-query-digest for MySQL and pg_stat_statements
//! for PostgreSQL. This crate does no I/O and knows nothing of async runtimes.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod ascii;
pub mod detect;
pub mod fingerprint;
pub mod frame;
pub mod json;
pub mod mysql;
pub mod num;
mod parser;
pub mod postgres;
pub mod time;

pub use detect::{detect_from_content, detect_from_name, LogFormat, LogKind};
pub use frame::{Flow, RawEntry};
pub use parser::{
    parse_to_ndjson, Entry, EntryKind, EntrySink, FormatEntry, Limits, LogParser, OpenPairing,
    ParseStats, QuerySample,
};
