//! What `aurora-logs openobserve install` is configured by, beyond the server and credentials
//! (those are the sink's: `[openobserve]` url, org, user, password).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The `[openobserve_install]` section of the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InstallConfig {
    /// Days OpenObserve keeps the records of the aurora-logs streams (`data_retention`); 0
    /// leaves the server's default (`ZO_COMPACT_DATA_RETENTION_DAYS`) in force.
    pub retention_days: u32,
    /// Create the alerts enabled (OpenObserve's own default for a new alert is disabled).
    pub alerts_enabled: bool,
    /// URL the alerts post to. When set, the installer creates (and keeps current) the
    /// template and destination `aurora_logs_webhook`, whose JSON body has a Slack-style
    /// `text` field.
    pub alert_webhook_url: String,
    /// Headers of that webhook request besides `Content-Type` (e.g. `Authorization`).
    pub alert_webhook_headers: BTreeMap<String, String>,
    /// Or the name of a destination that already exists in OpenObserve (e-mail, Slack,
    /// PagerDuty …): the alerts notify it and no webhook is created. With neither set, the
    /// alerts are not installed (the plan says so).
    pub alert_destination: String,
    /// Seconds one request to OpenObserve may take, answer included.
    pub request_timeout_secs: u64,
}

impl Default for InstallConfig {
    fn default() -> Self {
        InstallConfig {
            retention_days: 30,
            alerts_enabled: true,
            alert_webhook_url: String::new(),
            alert_webhook_headers: BTreeMap::new(),
            alert_destination: String::new(),
            request_timeout_secs: 30,
        }
    }
}
