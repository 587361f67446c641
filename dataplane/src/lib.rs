//! The aurora-logs pipeline: from an RDS log file to acknowledged records in OpenObserve.
//!
//! # Brief overview
//! A file job runs three stages joined by bounded channels:
//! 1. the `rds` crate downloads the file from its checkpoint (the portion API with hand-written
//!    marker handling, or the streamed complete-file download signed with SigV4) as chunks;
//! 2. [`pipeline`] feeds the chunks to the streaming parser on a blocking thread, writes each
//!    entry's record (with [`record`] enrichment and id) straight into a `sink::Batch`;
//! 3. the `sink` crate compresses (on the blocking pool) and POSTs each batch, reads the
//!    answer, retries, splits, or dead-letters; only then does the checkpoint (the `state`
//!    crate) advance, in file order.
//!
//! [`standalone`] is the scheduler and worker pool of `aurora-logs run`; [`jobs`] runs the
//! queued jobs of `aurora-logs processor`; [`telemetry`] names this crate's metrics.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod jobs;
pub mod lanes;
pub mod pipeline;
pub mod record;
pub mod standalone;
pub mod telemetry;
