//! The installer: read what the server holds, plan one step per object, apply the plan.

use std::fmt;

use http::Method;
use serde_json::Value;

use crate::assets::{Assets, NamedObject};
use crate::client::{segment, Api, ApiError, Target};
use crate::diff::first_difference;
use crate::settings::StreamSettings;
use crate::MARKER;

/// Every saved view aurora-logs installs is named with this prefix; only views with it are
/// read to find ours (the list of views carries names only).
const VIEW_PREFIX: &str = "aurora-logs: ";

/// Why an install could not be planned or did not complete.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// An embedded file breaks a rule (a build of aurora-logs with a broken asset).
    #[error("openobserve/{file}: {reason}")]
    Asset {
        /// The file, under `openobserve/`.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// The configuration cannot be installed as it is.
    #[error("configuration: {0}")]
    Config(String),
    /// Reading the server's objects failed: nothing was changed.
    #[error("reading {what}: {source}")]
    Read {
        /// What was being read.
        what: String,
        /// The failed request.
        #[source]
        source: ApiError,
    },
    /// Some steps failed or were refused; the others were applied.
    #[error("{} of the plan's steps did not apply:\n{}", .0.len(), .0.join("\n"))]
    Incomplete(Vec<String>),
}

impl InstallError {
    /// Whether the server refused the credentials (nothing else will work either).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, InstallError::Read { source, .. } if source.is_unauthorized())
    }
}

/// What kind of object a step is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepKind {
    /// A stream and its settings.
    Stream,
    /// The alerts' webhook template.
    Template,
    /// The alerts' destination.
    Destination,
    /// A dashboard.
    Dashboard,
    /// A saved view.
    View,
    /// An alert.
    Alert,
}

impl fmt::Display for StepKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            StepKind::Stream => "stream",
            StepKind::Template => "template",
            StepKind::Destination => "destination",
            StepKind::Dashboard => "dashboard",
            StepKind::View => "view",
            StepKind::Alert => "alert",
        })
    }
}

/// What a step does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The object is missing: create it.
    Create,
    /// The object differs: replace or change it.
    Update,
    /// The object is as it should be.
    Unchanged,
    /// The object is ours and no longer wanted (only with `--prune`).
    Prune,
    /// Not installed in this configuration (the detail says why).
    Skip,
    /// Cannot be installed as things stand (the detail says why); applying fails on it.
    Conflict,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Verdict::Create => "create",
            Verdict::Update => "update",
            Verdict::Unchanged => "unchanged",
            Verdict::Prune => "prune",
            Verdict::Skip => "skip",
            Verdict::Conflict => "conflict",
        })
    }
}

/// One request a step makes.
#[derive(Clone, Debug)]
struct Request {
    method: Method,
    path: String,
    body: Option<Value>,
}

/// One object of the plan.
#[derive(Clone, Debug)]
pub struct Step {
    /// The object's kind.
    pub kind: StepKind,
    /// Its name (a dashboard's title).
    pub name: String,
    /// What happens to it.
    pub verdict: Verdict,
    /// What differs, why it is skipped or in conflict; empty otherwise.
    pub detail: String,
    request: Option<Request>,
}

impl Step {
    fn new(kind: StepKind, name: &str, verdict: Verdict, detail: impl Into<String>) -> Step {
        Step {
            kind,
            name: name.to_owned(),
            verdict,
            detail: detail.into(),
            request: None,
        }
    }

    fn with(mut self, method: Method, path: String, body: Option<Value>) -> Step {
        self.request = Some(Request { method, path, body });
        self
    }
}

/// Every step, in the order they apply: streams, template, destination, dashboards, views,
/// alerts, then what is pruned (alerts first, so nothing pruned is still in use).
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// The steps.
    pub steps: Vec<Step>,
}

impl Plan {
    /// How many steps have this verdict.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.steps.iter().filter(|s| s.verdict == verdict).count()
    }

    /// Whether applying the plan would change nothing.
    pub fn is_unchanged(&self) -> bool {
        self.steps.iter().all(|s| s.request.is_none())
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.steps {
            write!(f, "{:<10} {:<12} {}", s.verdict, s.kind, s.name)?;
            if !s.detail.is_empty() {
                write!(f, "  ({})", s.detail)?;
            }
            writeln!(f)?;
        }
        writeln!(
            f,
            "{} to create, {} to update, {} unchanged, {} to prune, {} skipped, {} in conflict",
            self.count(Verdict::Create),
            self.count(Verdict::Update),
            self.count(Verdict::Unchanged),
            self.count(Verdict::Prune),
            self.count(Verdict::Skip),
            self.count(Verdict::Conflict)
        )
    }
}

/// Plans and applies the installation of [`Assets`] into one OpenObserve org.
#[derive(Debug)]
pub struct Installer {
    api: Api,
    assets: Assets,
}

/// An object of ours found on the server: its id and name.
struct Found {
    id: String,
    name: String,
}

impl Installer {
    /// An installer of `assets` into `target`.
    pub fn new(target: Target, assets: Assets) -> Result<Installer, InstallError> {
        let api = Api::new(&target).map_err(InstallError::Config)?;
        Ok(Installer { api, assets })
    }

    /// Reads the server's objects and plans every step; changes nothing. With `prune`, our
    /// objects that are no longer wanted are planned for removal.
    pub async fn plan(&self, prune: bool) -> Result<Plan, InstallError> {
        let mut plan = Plan::default();
        let mut prunes = Vec::new();
        self.plan_streams(&mut plan).await?;
        let alerts_managed = self.assets.alerts_skipped.is_none();
        if alerts_managed {
            self.plan_webhook(&mut plan, &mut prunes, prune).await?;
        }
        self.plan_dashboards(&mut plan, &mut prunes, prune).await?;
        self.plan_views(&mut plan, &mut prunes, prune).await?;
        match &self.assets.alerts_skipped {
            Some(why) => {
                plan.steps
                    .push(Step::new(StepKind::Alert, "*", Verdict::Skip, why.clone()))
            }
            None => self.plan_alerts(&mut plan, &mut prunes, prune).await?,
        }
        // Alerts before views, dashboards and destinations; destinations before templates.
        let order = |s: &Step| match s.kind {
            StepKind::Alert => 0,
            StepKind::View => 1,
            StepKind::Dashboard => 2,
            StepKind::Destination => 3,
            _ => 4,
        };
        prunes.sort_by_key(order);
        plan.steps.extend(prunes);
        Ok(plan)
    }

    /// Applies every step that changes something, in order. A failed step does not stop the
    /// others; the error lists every failure with the object and the server's answer.
    pub async fn apply(&self, plan: &Plan) -> Result<(), InstallError> {
        let mut failures = Vec::new();
        for step in &plan.steps {
            if step.verdict == Verdict::Conflict {
                failures.push(format!("{} {:?}: {}", step.kind, step.name, step.detail));
                continue;
            }
            let Some(req) = &step.request else { continue };
            if let Err(e) = self
                .api
                .call(req.method.clone(), &req.path, req.body.as_ref())
                .await
            {
                failures.push(format!(
                    "{} {:?} ({}): {e}",
                    step.kind, step.name, step.verdict
                ));
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(InstallError::Incomplete(failures))
        }
    }

    async fn get(&self, what: &str, path: &str) -> Result<Option<Value>, InstallError> {
        match self.api.call(Method::GET, path, None).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(source) => Err(InstallError::Read {
                what: what.to_owned(),
                source,
            }),
        }
    }

    async fn list(&self, what: &str, path: &str) -> Result<Value, InstallError> {
        self.get(what, path)
            .await?
            .ok_or_else(|| InstallError::Read {
                what: what.to_owned(),
                source: ApiError::BadAnswer {
                    method: Method::GET,
                    url: path.to_owned(),
                    reason: "404: is this OpenObserve v0.40 or later?".into(),
                },
            })
    }

    async fn plan_streams(&self, plan: &mut Plan) -> Result<(), InstallError> {
        let org = self.api.org();
        for spec in &self.assets.streams {
            let s = segment(&spec.name);
            let what = format!("the settings of stream {:?}", spec.name);
            let schema = self
                .get(&what, &format!("/api/{org}/streams/{s}/schema?type=logs"))
                .await?;
            let step = match schema {
                None => Step::new(StepKind::Stream, &spec.name, Verdict::Create, "").with(
                    Method::POST,
                    format!("/api/{org}/streams/{s}?type=logs"),
                    Some(spec.settings.create_body()),
                ),
                Some(schema) => {
                    let actual = StreamSettings::from_server(&schema["settings"]);
                    match spec.settings.diff(&actual) {
                        Err(why) => Step::new(StepKind::Stream, &spec.name, Verdict::Conflict, why),
                        Ok(None) => Step::new(StepKind::Stream, &spec.name, Verdict::Unchanged, ""),
                        Ok(Some((body, summary))) => {
                            Step::new(StepKind::Stream, &spec.name, Verdict::Update, summary).with(
                                Method::PUT,
                                format!("/api/{org}/streams/{s}/settings?type=logs"),
                                Some(body),
                            )
                        }
                    }
                }
            };
            plan.steps.push(step);
        }
        Ok(())
    }

    /// A named object kept by name (templates, destinations): created, updated by name, or
    /// pruned when no longer wanted.
    #[allow(clippy::too_many_arguments)]
    async fn plan_by_name(
        &self,
        kind: StepKind,
        base: &str,
        name: &str,
        wanted: Option<&NamedObject>,
        plan: &mut Plan,
        prunes: &mut Vec<Step>,
        prune: bool,
    ) -> Result<(), InstallError> {
        let path = format!("{base}/{}", segment(name));
        let actual = self.get(&format!("{kind} {name:?}"), &path).await?;
        match (wanted, actual) {
            (Some(w), None) => plan
                .steps
                .push(Step::new(kind, name, Verdict::Create, "").with(
                    Method::POST,
                    base.to_owned(),
                    Some(w.body.clone()),
                )),
            (Some(w), Some(a)) => plan.steps.push(match first_difference(&w.body, &a) {
                None => Step::new(kind, name, Verdict::Unchanged, ""),
                Some(at) => Step::new(kind, name, Verdict::Update, at).with(
                    Method::PUT,
                    path,
                    Some(w.body.clone()),
                ),
            }),
            (None, Some(_)) if prune => prunes
                .push(Step::new(kind, name, Verdict::Prune, "").with(Method::DELETE, path, None)),
            (None, _) => {}
        }
        Ok(())
    }

    async fn plan_webhook(
        &self,
        plan: &mut Plan,
        prunes: &mut Vec<Step>,
        prune: bool,
    ) -> Result<(), InstallError> {
        let org = self.api.org();
        let a = &self.assets;
        if let (None, Some(alert)) = (&a.destination, a.alerts.first()) {
            // A destination of the user's: it must exist.
            let name = alert.body["destinations"][0].as_str().unwrap_or_default();
            let path = format!("/api/{org}/alerts/destinations/{}", segment(name));
            if self.get("the alert destination", &path).await?.is_none() {
                plan.steps.push(Step::new(
                    StepKind::Destination,
                    name,
                    Verdict::Conflict,
                    "no destination of this name exists in OpenObserve (openobserve_install.alert_destination)",
                ));
            }
        }
        let template_name = a
            .template
            .as_ref()
            .map_or("aurora_logs_webhook", |t| t.name.as_str());
        let destination_name = a
            .destination
            .as_ref()
            .map_or("aurora_logs_webhook", |d| d.name.as_str());
        self.plan_by_name(
            StepKind::Template,
            &format!("/api/{org}/alerts/templates"),
            template_name,
            a.template.as_ref(),
            plan,
            prunes,
            prune,
        )
        .await?;
        self.plan_by_name(
            StepKind::Destination,
            &format!("/api/{org}/alerts/destinations"),
            destination_name,
            a.destination.as_ref(),
            plan,
            prunes,
            prune,
        )
        .await
    }

    /// Matches wanted objects with ours on the server by name: each wanted one is created or
    /// compared with the first of ours of that name (read from the server); ours left over
    /// are pruned.
    async fn reconcile(
        &self,
        c: &Collection,
        wanted: &[NamedObject],
        mut ours: Vec<Found>,
        plan: &mut Plan,
        prunes: &mut Vec<Step>,
        prune: bool,
    ) -> Result<(), InstallError> {
        let kind = c.kind;
        let create = |detail: &str, w: &NamedObject| {
            Step::new(kind, &w.name, Verdict::Create, detail).with(
                Method::POST,
                format!("{}{}", c.path, c.create_query),
                Some(w.body.clone()),
            )
        };
        for w in wanted {
            let Some(at) = ours.iter().position(|f| f.name == w.name) else {
                plan.steps.push(create("", w));
                continue;
            };
            let found = ours.remove(at);
            let what = format!("{kind} {:?}", found.name);
            let step = match self.get(&what, &c.item(&found.id)).await? {
                None => create("gone meanwhile", w),
                Some(answer) => {
                    let (actual, hash) = c.split(answer);
                    match first_difference(&w.body, &actual) {
                        None => Step::new(kind, &w.name, Verdict::Unchanged, ""),
                        Some(at) => {
                            let mut path = c.item(&found.id);
                            if let Some(hash) = hash {
                                // Replaces exactly the version just compared with (else 409).
                                let sep = if path.contains('?') { '&' } else { '?' };
                                path.push_str(&format!("{sep}hash={}", segment(&hash)));
                            }
                            Step::new(kind, &w.name, Verdict::Update, at).with(
                                Method::PUT,
                                path,
                                Some(w.body.clone()),
                            )
                        }
                    }
                }
            };
            plan.steps.push(step);
        }
        if prune {
            for f in ours {
                let detail = if wanted.iter().any(|w| w.name == f.name) {
                    format!("a second copy, id {}", f.id)
                } else {
                    format!("no longer installed, id {}", f.id)
                };
                prunes.push(Step::new(kind, &f.name, Verdict::Prune, detail).with(
                    Method::DELETE,
                    c.item(&f.id),
                    None,
                ));
            }
        }
        Ok(())
    }

    async fn plan_dashboards(
        &self,
        plan: &mut Plan,
        prunes: &mut Vec<Step>,
        prune: bool,
    ) -> Result<(), InstallError> {
        let c = Collection {
            kind: StepKind::Dashboard,
            path: format!("/api/{}/dashboards", self.api.org()),
            create_query: "?folder=default",
            item_query: "?folder=default",
        };
        let list = self
            .list("the dashboards", &format!("{}?folder=default", c.path))
            .await?;
        let ours = items(&list, "dashboards")
            .filter(|d| text(d, "description").contains(MARKER))
            .map(|d| Found {
                id: text(d, "dashboard_id").to_owned(),
                name: text(d, "title").to_owned(),
            })
            .collect();
        self.reconcile(&c, &self.assets.dashboards, ours, plan, prunes, prune)
            .await
    }

    async fn plan_alerts(
        &self,
        plan: &mut Plan,
        prunes: &mut Vec<Step>,
        prune: bool,
    ) -> Result<(), InstallError> {
        let c = Collection {
            kind: StepKind::Alert,
            path: format!("/api/v2/{}/alerts", self.api.org()),
            create_query: "?folder=default",
            item_query: "",
        };
        let list = self.list("the alerts", &c.path).await?;
        let ours = items(&list, "list")
            .filter(|a| text(a, "description").contains(MARKER))
            .map(|a| Found {
                id: text(a, "alert_id").to_owned(),
                name: text(a, "name").to_owned(),
            })
            .collect();
        self.reconcile(&c, &self.assets.alerts, ours, plan, prunes, prune)
            .await
    }

    async fn plan_views(
        &self,
        plan: &mut Plan,
        prunes: &mut Vec<Step>,
        prune: bool,
    ) -> Result<(), InstallError> {
        let c = Collection {
            kind: StepKind::View,
            path: format!("/api/{}/savedviews", self.api.org()),
            create_query: "",
            item_query: "",
        };
        let list = self.list("the saved views", &c.path).await?;
        let mut ours = Vec::new();
        let mut conflicts = Vec::new();
        for v in items(&list, "views").filter(|v| text(v, "view_name").starts_with(VIEW_PREFIX)) {
            let (id, name) = (text(v, "view_id"), text(v, "view_name"));
            let Some(full) = self.get("a saved view", &c.item(id)).await? else {
                continue;
            };
            if full["data"]["managedBy"] == MARKER {
                ours.push(Found {
                    id: id.to_owned(),
                    name: name.to_owned(),
                });
            } else if self.assets.views.iter().any(|w| w.name == name) {
                // Saved view names are unique: ours cannot be created beside it.
                plan.steps.push(Step::new(
                    StepKind::View,
                    name,
                    Verdict::Conflict,
                    "a saved view of this name exists that aurora-logs did not create; rename or delete it",
                ));
                conflicts.push(name.to_owned());
            }
        }
        let wanted: Vec<NamedObject> = self
            .assets
            .views
            .iter()
            .filter(|w| !conflicts.contains(&w.name))
            .cloned()
            .collect();
        self.reconcile(&c, &wanted, ours, plan, prunes, prune).await
    }
}

/// Where the objects of one kind live: `{path}{create_query}` creates one,
/// `{path}/{id}{item_query}` is one.
struct Collection {
    kind: StepKind,
    path: String,
    create_query: &'static str,
    item_query: &'static str,
}

impl Collection {
    fn item(&self, id: &str) -> String {
        format!("{}/{}{}", self.path, segment(id), self.item_query)
    }

    /// What a GET of one object answers, split into what to compare ours with and, for a
    /// dashboard, the hash of that version (`{"v8": {…}, "version": 8, "hash": "…"}`).
    fn split(&self, answer: Value) -> (Value, Option<String>) {
        if self.kind != StepKind::Dashboard {
            return (answer, None);
        }
        let hash = match &answer["hash"] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        (answer["v8"].clone(), Some(hash))
    }
}

/// The items of a list answer under `key`.
fn items<'a>(list: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    list[key].as_array().into_iter().flatten()
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_default()
}
