//! What every part of aurora-logs agrees on, and nothing else:
//! - [`kind`]: the one list of log kinds, and [`PerKind`] maps (topics, streams, formats derive
//!   from it);
//! - [`file`]: RDS file names: the kind a name holds, lasting names across Aurora's rotation,
//!   families, and the scheduling walk (list → classify → needs work) both modes share;
//! - [`cadence`]: how often RDS is asked (listing intervals, when a live file is read) and the
//!   cost model of a fleet that `aurora-logs plan` prints;
//! - [`job`]: the message discovery publishes to Kafka for every file with unshipped bytes, its
//!   topics and its key;
//! - [`state`]: what is kept per file (the checkpoint) and how it is laid out in DynamoDB, with
//!   the leases that keep two processors (or two discovery replicas) apart.
//!
//! Discovery and the processors depend on this crate, so a change here is a change of the wire
//! format: the job carries a version, readers tolerate fields they do not know, and stored
//! attributes are only ever added. It does no I/O.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod cadence;
pub mod file;
pub mod job;
pub mod kind;
pub mod state;

pub use file::{
    canonical_name, classify, family, is_live_name, kind_of, lasting_names, pending, Pending,
    RemoteFile,
};
pub use job::{Job, JobError, Topics, JOB_VERSION};
pub use kind::{KindSpec, LogKind, PerKind};
pub use state::{Checkpoint, FileKey, MarkerAt};
