//! What aurora-logs installs in OpenObserve, and the installer that puts it there.
//!
//! # Brief overview
//! The objects are reviewable files beside `src/`, embedded into the binary with `include_str!`:
//!
//! - `streams/<kind>.json`: the settings of each log kind's stream (full-text keys, secondary
//!   index, partition keys; retention comes from [`InstallConfig::retention_days`]);
//! - `dashboards/*.json`: OpenObserve dashboards, schema version 8;
//! - `alerts/*.json`: scheduled SQL alerts, plus the webhook template and destination they
//!   notify through (`alerts/webhook/`);
//! - `views/*.json`: saved views of the logs page.
//!
//! The files name the default streams (`aurora_mysql_slowquery`, …); [`Assets::load`] renames
//! them to the configured ones ([`StreamNames`]) wherever a string value names a stream, so a
//! dashboard's SQL, its variables and its `fields.stream` follow the configuration.
//!
//! [`Installer`] reads what the server holds and makes a [`Plan`]: one [`Step`] per object,
//! each `create`, `update`, `unchanged`, `prune` or `skip`. Applying it is idempotent:
//! streams are created when missing and their settings changed by add/remove diffs; dashboards
//! are compared with what a GET returns and replaced with the hash that GET gave; alerts and
//! saved views are found by name among the objects carrying the [`MARKER`] and updated by id.
//! Only objects carrying the marker are ever updated or pruned: a user's own dashboard, alert or
//! view is never touched, even when it has the same name.
//!
//! ```no_run
//! # async fn demo() -> Result<(), openobserve::InstallError> {
//! use openobserve::{Assets, InstallConfig, Installer, StreamNames, Target};
//! let target = Target::new("http://openobserve:5080", "default", "root@example.com", "secret");
//! let assets = Assets::load(&StreamNames::default(), &InstallConfig::default())?;
//! let installer = Installer::new(target, assets)?;
//! let plan = installer.plan(false).await?;
//! print!("{plan}");
//! installer.apply(&plan).await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod assets;
mod client;
mod config;
mod diff;
mod install;
mod search;
mod settings;

pub use assets::{Alert, Assets, Dashboard, LogKind, NamedObject, StreamNames, StreamSpec, View};
pub use client::{ApiError, Target};
pub use config::InstallConfig;
pub use install::{InstallError, Installer, Plan, Step, StepKind, Verdict};
pub use search::Search;
pub use settings::StreamSettings;

/// The mark every object aurora-logs manages carries in its description (dashboards, alerts)
/// or its data (saved views): what `--prune` and updates are limited to.
pub const MARKER: &str = "managed-by: aurora-logs";
