//! The embedded files and what they become for one configuration.

use serde_json::{json, Value};

use crate::config::InstallConfig;
use crate::install::InstallError;
use crate::settings::StreamSettings;
use crate::MARKER;

/// The log kinds, each with its stream (the keys of the `[streams]` configuration section).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogKind {
    /// `mysql_slow`: the MySQL slow query log.
    MysqlSlow,
    /// `mysql_error`: the MySQL error log.
    MysqlError,
    /// `mysql_general`: the MySQL general log.
    MysqlGeneral,
    /// `mysql_audit`: Aurora MySQL advanced auditing.
    MysqlAudit,
    /// `postgresql`: the PostgreSQL log.
    Postgresql,
}

impl LogKind {
    /// Every kind.
    pub const ALL: [LogKind; 5] = [
        LogKind::MysqlSlow,
        LogKind::MysqlError,
        LogKind::MysqlGeneral,
        LogKind::MysqlAudit,
        LogKind::Postgresql,
    ];

    /// The kind's key in `[streams]` and in the stream file's `kind`.
    pub fn key(self) -> &'static str {
        match self {
            LogKind::MysqlSlow => "mysql_slow",
            LogKind::MysqlError => "mysql_error",
            LogKind::MysqlGeneral => "mysql_general",
            LogKind::MysqlAudit => "mysql_audit",
            LogKind::Postgresql => "postgresql",
        }
    }

    /// The stream the data plane ships this kind to by default, and the name the files use.
    pub fn default_stream(self) -> &'static str {
        match self {
            LogKind::MysqlSlow => "aurora_mysql_slowquery",
            LogKind::MysqlError => "aurora_mysql_error",
            LogKind::MysqlGeneral => "aurora_mysql_general",
            LogKind::MysqlAudit => "aurora_mysql_audit",
            LogKind::Postgresql => "aurora_postgresql",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The stream of each log kind, as configured in `[streams]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamNames([String; 5]);

impl Default for StreamNames {
    fn default() -> Self {
        StreamNames(LogKind::ALL.map(|k| k.default_stream().to_owned()))
    }
}

impl StreamNames {
    /// Streams by kind, in [`LogKind::ALL`] order.
    pub fn new(names: [String; 5]) -> StreamNames {
        StreamNames(names)
    }

    /// The stream of `kind`.
    pub fn get(&self, kind: LogKind) -> &str {
        &self.0[kind.index()]
    }
}

/// One stream and the settings it should have.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamSpec {
    /// The log kind.
    pub kind: LogKind,
    /// The configured stream name.
    pub name: String,
    /// Its settings.
    pub settings: StreamSettings,
}

/// An object known by its name (a dashboard's title, an alert's, view's, template's or
/// destination's name) with the body sent to create or replace it.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedObject {
    /// Title or name.
    pub name: String,
    /// The JSON body.
    pub body: Value,
}

/// A dashboard (schema v8), by title.
pub type Dashboard = NamedObject;
/// A scheduled alert, by name.
pub type Alert = NamedObject;
/// A saved view, by `view_name`.
pub type View = NamedObject;

/// Everything one configuration installs.
#[derive(Clone, Debug)]
pub struct Assets {
    /// The streams, one per log kind.
    pub streams: Vec<StreamSpec>,
    /// The dashboards.
    pub dashboards: Vec<Dashboard>,
    /// The alerts; empty when no destination is configured (see `alerts_skipped`).
    pub alerts: Vec<Alert>,
    /// Why the alerts are not installed, when they are not.
    pub alerts_skipped: Option<String>,
    /// The webhook template, when `alert_webhook_url` is set.
    pub template: Option<NamedObject>,
    /// The webhook destination, when `alert_webhook_url` is set.
    pub destination: Option<NamedObject>,
    /// The saved views.
    pub views: Vec<View>,
}

/// One embedded file: its path under `openobserve/` and its text.
pub(crate) struct File {
    pub path: &'static str,
    pub text: &'static str,
}

macro_rules! files {
    ($($path:literal),* $(,)?) => {
        &[$(File { path: $path, text: include_str!(concat!("../", $path)) }),*]
    };
}

pub(crate) const STREAM_FILES: &[File] = files![
    "streams/mysql_slow.json",
    "streams/mysql_error.json",
    "streams/mysql_general.json",
    "streams/mysql_audit.json",
    "streams/postgresql.json",
];

pub(crate) const DASHBOARD_FILES: &[File] = files![
    "dashboards/slow-queries.json",
    "dashboards/errors.json",
    "dashboards/postgresql.json",
    "dashboards/audit.json",
    "dashboards/shipping.json",
];

pub(crate) const ALERT_FILES: &[File] = files![
    "alerts/mysql_error_burst.json",
    "alerts/postgresql_error_burst.json",
    "alerts/mysql_deadlock.json",
    "alerts/postgresql_deadlock.json",
    "alerts/mysql_auth_failures.json",
    "alerts/audit_failed_logins.json",
    "alerts/postgresql_auth_failures.json",
    "alerts/postgresql_fatal_panic.json",
    "alerts/slow_fingerprint_regression.json",
    "alerts/parse_errors_mysql_slow.json",
    "alerts/parse_errors_mysql_error.json",
    "alerts/parse_errors_mysql_general.json",
    "alerts/parse_errors_mysql_audit.json",
    "alerts/parse_errors_postgresql.json",
];

pub(crate) const WEBHOOK_TEMPLATE: File = File {
    path: "alerts/webhook/template.json",
    text: include_str!("../alerts/webhook/template.json"),
};

pub(crate) const WEBHOOK_DESTINATION: File = File {
    path: "alerts/webhook/destination.json",
    text: include_str!("../alerts/webhook/destination.json"),
};

pub(crate) const VIEW_FILES: &[File] = files![
    "views/slow_queries.json",
    "views/mysql_errors.json",
    "views/postgresql_errors.json",
    "views/deadlocks.json",
    "views/failed_logins.json",
    "views/ddl_and_privileges.json",
    "views/parse_errors.json",
];

/// Every embedded file, for tests that compare them with the folder.
#[cfg(test)]
pub(crate) fn all_files() -> impl Iterator<Item = &'static File> {
    STREAM_FILES
        .iter()
        .chain(DASHBOARD_FILES)
        .chain(ALERT_FILES)
        .chain([&WEBHOOK_TEMPLATE, &WEBHOOK_DESTINATION])
        .chain(VIEW_FILES)
}

fn parse(file: &File) -> Result<Value, InstallError> {
    serde_json::from_str(file.text).map_err(|e| asset(file, format!("not JSON: {e}")))
}

fn asset(file: &File, reason: impl Into<String>) -> InstallError {
    InstallError::Asset {
        file: file.path.to_owned(),
        reason: reason.into(),
    }
}

/// How OpenObserve stores a stream name: runs of characters outside `[a-zA-Z0-9_:]` become
/// `_`, then lowercase.
fn stored_stream_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            out.push(c.to_ascii_lowercase());
            in_run = false;
        } else if !in_run {
            out.push('_');
            in_run = true;
        }
    }
    out
}

impl Assets {
    /// The objects for these stream names and this configuration. Fails on a stream name
    /// OpenObserve would store under another name, and on a file that breaks a rule of the
    /// server's or of ours (each object carries the [`MARKER`]).
    pub fn load(names: &StreamNames, config: &InstallConfig) -> Result<Assets, InstallError> {
        for kind in LogKind::ALL {
            let name = names.get(kind);
            let stored = stored_stream_name(name);
            if name.is_empty() || stored != name {
                return Err(InstallError::Config(format!(
                    "streams.{} = {name:?}: OpenObserve stores this stream as {stored:?}; configure that name",
                    kind.key()
                )));
            }
        }
        let rename = |v: &mut Value| rename_streams(v, names);
        let mut streams = Vec::new();
        for file in STREAM_FILES {
            let v = parse(file)?;
            let kind = LogKind::ALL
                .into_iter()
                .find(|k| v["kind"] == k.key())
                .ok_or_else(|| asset(file, "\"kind\" is not a log kind"))?;
            let mut settings =
                StreamSettings::from_file(&v["settings"]).map_err(|e| asset(file, e))?;
            settings.data_retention =
                (config.retention_days > 0).then_some(i64::from(config.retention_days));
            streams.push(StreamSpec {
                kind,
                name: names.get(kind).to_owned(),
                settings,
            });
        }
        let mut dashboards = Vec::new();
        for file in DASHBOARD_FILES {
            let mut v = parse(file)?;
            rename(&mut v);
            v["version"] = json!(8);
            dashboards.push(named(file, v, "title", "description")?);
        }
        let (template, destination, alert_destination, alerts_skipped) = webhook(config, &rename)?;
        let mut alerts = Vec::new();
        for file in ALERT_FILES {
            let mut v = parse(file)?;
            rename(&mut v);
            if v.get("destinations").is_some() || v.get("enabled").is_some() {
                return Err(asset(
                    file,
                    "\"destinations\" and \"enabled\" come from the configuration",
                ));
            }
            v["enabled"] = json!(config.alerts_enabled);
            v["destinations"] = json!([alert_destination]);
            let alert = named(file, v, "name", "description")?;
            if alerts_skipped.is_none() {
                alerts.push(alert);
            }
        }
        let mut views = Vec::new();
        for file in VIEW_FILES {
            let mut v = parse(file)?;
            rename(&mut v);
            if v["data"]["managedBy"] != MARKER {
                return Err(asset(file, format!("data.managedBy must be {MARKER:?}")));
            }
            let name = v["view_name"]
                .as_str()
                .filter(|n| !n.is_empty())
                .ok_or_else(|| asset(file, "no view_name"))?
                .to_owned();
            views.push(NamedObject { name, body: v });
        }
        Ok(Assets {
            streams,
            dashboards,
            alerts,
            alerts_skipped,
            template,
            destination,
            views,
        })
    }
}

/// The webhook template and destination (when a URL is configured), the destination the
/// alerts name, and why alerts are skipped when no destination is configured.
#[allow(clippy::type_complexity)]
fn webhook(
    config: &InstallConfig,
    rename: &dyn Fn(&mut Value),
) -> Result<
    (
        Option<NamedObject>,
        Option<NamedObject>,
        String,
        Option<String>,
    ),
    InstallError,
> {
    let url = config.alert_webhook_url.trim();
    let existing = config.alert_destination.trim();
    if !url.is_empty() && !existing.is_empty() {
        return Err(InstallError::Config(
            "set openobserve_install.alert_webhook_url or alert_destination, not both".into(),
        ));
    }
    if url.is_empty() {
        if existing.is_empty() {
            return Ok((
                None,
                None,
                String::new(),
                Some(
                    "no openobserve_install.alert_webhook_url or alert_destination configured"
                        .into(),
                ),
            ));
        }
        return Ok((None, None, existing.to_owned(), None));
    }
    if url
        .parse::<http::Uri>()
        .map_or(true, |u| u.scheme().is_none())
    {
        return Err(InstallError::Config(format!(
            "openobserve_install.alert_webhook_url {url:?} is not an absolute URL"
        )));
    }
    let mut tpl = parse(&WEBHOOK_TEMPLATE)?;
    rename(&mut tpl);
    let template = named(&WEBHOOK_TEMPLATE, tpl, "name", "")?;
    let mut dest = parse(&WEBHOOK_DESTINATION)?;
    dest["url"] = json!(url);
    if dest["template"] != json!(template.name) {
        return Err(asset(
            &WEBHOOK_DESTINATION,
            "\"template\" must name the template of alerts/webhook/template.json",
        ));
    }
    let headers = dest["headers"]
        .as_object_mut()
        .ok_or_else(|| asset(&WEBHOOK_DESTINATION, "\"headers\" must be an object"))?;
    for (k, v) in &config.alert_webhook_headers {
        headers.insert(k.clone(), json!(v));
    }
    let destination = named(&WEBHOOK_DESTINATION, dest, "name", "")?;
    let name = destination.name.clone();
    Ok((Some(template), Some(destination), name, None))
}

/// An object named by its `name_key`, whose `marker_key` (if any) carries the marker.
fn named(
    file: &File,
    body: Value,
    name_key: &str,
    marker_key: &str,
) -> Result<NamedObject, InstallError> {
    let name = body[name_key]
        .as_str()
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| asset(file, format!("no \"{name_key}\"")))?
        .to_owned();
    if !marker_key.is_empty()
        && !body[marker_key]
            .as_str()
            .is_some_and(|d| d.contains(MARKER))
    {
        return Err(asset(
            file,
            format!("\"{marker_key}\" must contain {MARKER:?}"),
        ));
    }
    Ok(NamedObject { name, body })
}

/// Renames the default stream names to the configured ones in every string value (SQL, a
/// panel's `fields.stream`, a variable's `query_data.stream` …), where they stand as whole
/// identifiers.
fn rename_streams(v: &mut Value, names: &StreamNames) {
    match v {
        Value::String(s) => {
            for kind in LogKind::ALL {
                let (from, to) = (kind.default_stream(), names.get(kind));
                if from != to {
                    *s = replace_identifier(s, from, to);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| rename_streams(i, names)),
        Value::Object(map) => map.values_mut().for_each(|i| rename_streams(i, names)),
        _ => {}
    }
}

/// `text` with each whole-identifier occurrence of `from` replaced by `to`.
fn replace_identifier(text: &str, from: &str, to: &str) -> String {
    let ident = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(from) {
        let before = if at > 0 {
            rest[..at].chars().last()
        } else {
            out.chars().last()
        };
        let after = rest[at + from.len()..].chars().next();
        out.push_str(&rest[..at]);
        if ident(before) || ident(after) {
            out.push_str(from);
        } else {
            out.push_str(to);
        }
        rest = &rest[at + from.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_replaced_whole() {
        assert_eq!(
            replace_identifier(
                "FROM \"aurora_mysql_error\" x aurora_mysql_error_2 my_aurora_mysql_error",
                "aurora_mysql_error",
                "prod_errors"
            ),
            "FROM \"prod_errors\" x aurora_mysql_error_2 my_aurora_mysql_error"
        );
    }

    #[test]
    fn stored_names_follow_the_server() {
        assert_eq!(stored_stream_name("Prod-Slow  Log"), "prod_slow_log");
        assert_eq!(stored_stream_name("a:b_c"), "a:b_c");
    }

    #[test]
    fn every_file_in_the_folders_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut on_disk = Vec::new();
        for dir in ["streams", "dashboards", "alerts", "alerts/webhook", "views"] {
            for e in std::fs::read_dir(root.join(dir)).unwrap() {
                let p = e.unwrap().path();
                if p.extension().is_some_and(|x| x == "json") {
                    on_disk.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = all_files().map(|f| f.path.to_owned()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }

    fn with_webhook() -> InstallConfig {
        InstallConfig {
            alert_webhook_url: "https://hooks.example.com/x".into(),
            ..Default::default()
        }
    }

    #[test]
    fn configured_stream_names_replace_the_defaults_everywhere() {
        let names = StreamNames::new(LogKind::ALL.map(|k| format!("prod_{}", k.key())));
        let assets = Assets::load(&names, &with_webhook()).unwrap();
        let mut all = String::new();
        for o in assets
            .dashboards
            .iter()
            .chain(&assets.alerts)
            .chain(&assets.views)
        {
            all.push_str(&o.body.to_string());
        }
        for kind in LogKind::ALL {
            assert!(
                !all.contains(kind.default_stream()),
                "{} left",
                kind.default_stream()
            );
            assert!(
                all.contains(&format!("prod_{}", kind.key())),
                "{} unused",
                kind.key()
            );
        }
        assert_eq!(assets.streams[0].name, "prod_mysql_slow");
    }

    #[test]
    fn every_object_loads_with_the_marker_and_a_unique_name() {
        let assets = Assets::load(&StreamNames::default(), &with_webhook()).unwrap();
        assert_eq!(assets.streams.len(), 5);
        assert_eq!(assets.dashboards.len(), DASHBOARD_FILES.len());
        assert_eq!(assets.alerts.len(), ALERT_FILES.len());
        for list in [&assets.dashboards, &assets.alerts, &assets.views] {
            let mut names: Vec<_> = list.iter().map(|o| o.name.as_str()).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), list.len(), "duplicate names");
        }
        for a in &assets.alerts {
            assert_eq!(a.body["enabled"], json!(true));
            assert_eq!(a.body["destinations"], json!(["aurora_logs_webhook"]));
        }
        let dest = assets.destination.unwrap();
        assert_eq!(dest.body["url"], "https://hooks.example.com/x");
    }

    #[test]
    fn alerts_need_a_destination() {
        let none = Assets::load(&StreamNames::default(), &InstallConfig::default()).unwrap();
        assert!(none.alerts.is_empty() && none.alerts_skipped.is_some());
        let named = InstallConfig {
            alert_destination: "oncall".into(),
            alerts_enabled: false,
            ..Default::default()
        };
        let a = Assets::load(&StreamNames::default(), &named).unwrap();
        assert!(a.template.is_none());
        assert_eq!(a.alerts[0].body["destinations"], json!(["oncall"]));
        assert_eq!(a.alerts[0].body["enabled"], json!(false));
        let both = InstallConfig {
            alert_destination: "oncall".into(),
            ..with_webhook()
        };
        assert!(Assets::load(&StreamNames::default(), &both).is_err());
    }

    #[test]
    fn a_stream_name_the_server_would_rename_is_refused() {
        let mut names = StreamNames::default();
        names.0[0] = "Slow-Log".into();
        let e = Assets::load(&names, &InstallConfig::default()).unwrap_err();
        assert!(e.to_string().contains("slow_log"), "{e}");
    }
}
