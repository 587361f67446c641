//! The contract between discovery and the processors, and nothing else:
//! - [`job`]: the message discovery publishes to Kafka for every file with unshipped bytes, its
//!   topics and its key;
//! - [`state`]: what is kept per file (the checkpoint) and how it is laid out in DynamoDB, with
//!   the leases that keep two processors (or two discovery replicas) apart.
//!
//! Both sides depend on this crate, so a change here is a change of the wire format: the job
//! carries a version, readers tolerate fields they do not know, and stored attributes are only
//! ever added.

pub mod job;
pub mod state;

pub use job::{Job, JobError, LogKind, Topics, JOB_VERSION};
pub use state::{Checkpoint, FileKey, MarkerAt};
