//! The scheduler of the distributed mode: which files have unshipped bytes, as jobs.
//!
//! # Brief overview
//! One [`Discovery`] runs a pass every `poll_interval`:
//! 1. it asks its [`Leader`] whether it leads (a lease with a fencing epoch); a replica that
//!    does not lead lists nothing and publishes nothing;
//! 2. it lists the Aurora instances (cached in Redis for `instances_ttl`) and each instance's log
//!    files: a full `DescribeDBLogFiles` every `full_listing_every`, in between only the files
//!    written since the newest one seen (`FileLastWritten`, with an overlap), merged into the
//!    full listing kept in Redis ([`RdsCache`]);
//! 3. it classifies the files (lasting names across rotation, families, finished flags), reads
//!    the instance's checkpoints, and builds a [`contract::Job`] for every file with unshipped
//!    bytes, a family's older siblings first;
//! 4. it drops jobs it published with the same size and finished flag less than
//!    `republish_after` ago, checks leadership again (a deposed leader must not publish), and
//!    hands the jobs to its [`JobSink`] (Kafka, in the binary).
//!
//! Redis is a cache: while it is down every lookup is a miss and discovery calls RDS directly,
//! slower but never stuck (every Redis operation has a short timeout). RDS calls pass the
//! source's limiter and, when wired, the budget shared by every process
//! ([`rds::budget`]).
//!
//! Discovery owns its leader lease ([`lease`]: the DynamoDB item, its epoch, and the background
//! renewal that keeps it); the file state comes from the `state` crate and the jobs go to the
//! `queue` crate.
//!
//! [`telemetry`] names the metrics; [`Discovery::ready`] is the readiness signal for `/readyz`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod cache;
pub mod config;
pub mod leader;
pub mod lease;
pub mod pass;
mod recent;
pub mod telemetry;

pub use cache::{CachedListing, Lookup, RdsCache};
pub use config::DiscoveryConfig;
pub use leader::{FixedLeader, JobSink, Leader};
pub use lease::{DynamoLeader, LeaderLease, Leadership};
pub use pass::{CacheCounts, Discovery, DiscoveryError, PassReport};
