//! The aurora-logs processor: from an RDS log file to acknowledged records in OpenObserve.
//!
//! # Brief overview
//! A file job runs three stages joined by bounded channels:
//! 1. [`source`] downloads the file from its checkpoint (the portion API with hand-written
//!    marker handling, or the streamed complete-file download signed with SigV4) as chunks;
//! 2. [`pipeline`] feeds the chunks to the streaming parser on a blocking thread, writes each
//!    entry's record (with [`record`] enrichment and id) straight into a [`batch`];
//! 3. the [`sink`] compresses and POSTs each batch, reads the answer, retries, splits, or
//!    dead-letters; only then does the [`checkpoint`] advance, in file order.
//!
//! [`file`] names files across Aurora's rotation; [`standalone`] is the discovery loop and worker
//! pool of `aurora-logs run`; [`telemetry`] names every metric.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod aws;
pub mod batch;
pub mod checkpoint;
pub mod file;
pub mod jobs;
pub mod leader;
pub mod ops;
pub mod pipeline;
pub mod queue;
pub mod record;
pub mod sink;
pub mod source;
pub mod standalone;
pub mod telemetry;
