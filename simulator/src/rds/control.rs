//! The control API under `/_sim/`, for a simulator run as a separate process (served only when
//! [`super::SimConfig::control_api`] is on; not counted, never throttled or faulted):
//! - `GET /_sim/state`: the clock, entry counts, every instance's files, the stats.
//! - `POST /_sim/advance` `{"to_us": N}` or `{"by_ms": N}` (or both: `by_ms` after `to_us`):
//!   move the clock, at most [`MAX_ADVANCE_US`] (7 days) ahead of now; a target further ahead,
//!   or one that overflows, is a 400. A target in the past leaves the clock as it is.
//! - `POST /_sim/faults` (see [`FaultsPatch`]): switch faults.
//! - `POST /_sim/files` `{"instance", "name", "data", "repeat"?, "last_written_ms"?}`: add a file
//!   (at most 512 MiB; `last_written_ms` between the epoch and the end of year 9999, else 400).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};

use super::faults::{Fault, RotationNotFound, RotationSide, SimStats, ThrottleConfig};
use super::server::{read_body, SimBody};
use super::{snapshots, Shared};

/// Largest control request body.
const MAX_CONTROL_BODY: usize = 16 * 1024 * 1024;
/// Largest file `/_sim/files` builds.
const MAX_ADDED_FILE: usize = 512 * 1024 * 1024;
/// Furthest `/_sim/advance` moves the clock in one call: 7 days. Generating is CPU work under
/// the world's lock; a longer jump is a series of calls.
pub(crate) const MAX_ADVANCE_US: i64 = 7 * 24 * 3_600_000_000;
/// Latest `last_written_ms` `/_sim/files` takes: 9999-12-31T23:59:59.999Z.
const MAX_LAST_WRITTEN_MS: i64 = 253_402_300_799_999;

/// The body of `POST /_sim/faults`; absent fields leave things as they are.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultsPatch {
    /// Everything off first.
    #[serde(default)]
    clear: bool,
    /// Fire each fault on the next N applicable calls.
    #[serde(default)]
    fail_next: BTreeMap<Fault, u64>,
    /// Fire each fault with this probability per applicable call.
    #[serde(default)]
    probability: BTreeMap<Fault, f64>,
    /// Lines skipped by `SkipLines`.
    skipped_lines: Option<usize>,
    /// Turn the token bucket on with this config.
    throttle: Option<ThrottleConfig>,
    /// Turn the token bucket off.
    #[serde(default)]
    throttle_off: bool,
    /// Files to mark (or unmark) binary.
    #[serde(default)]
    binary: Vec<FileFlag>,
    /// Instances to mark (or unmark) as being created.
    #[serde(default)]
    creating: Vec<InstanceFlag>,
    /// Instances to mark (or unmark) as not ready.
    #[serde(default)]
    not_ready: Vec<InstanceFlag>,
    /// The not-found window after rotations; `{"window_ms": 0}` turns it off.
    rotation_not_found: Option<RotationJson>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFlag {
    instance: String,
    file: String,
    #[serde(default = "yes")]
    on: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InstanceFlag {
    instance: String,
    #[serde(default = "yes")]
    on: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RotationJson {
    window_ms: u64,
    #[serde(default = "both")]
    side: RotationSide,
}

fn yes() -> bool {
    true
}

fn both() -> RotationSide {
    RotationSide::Both
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    to_us: Option<i64>,
    by_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddFile {
    instance: String,
    name: String,
    data: String,
    #[serde(default)]
    repeat: Option<usize>,
    last_written_ms: Option<i64>,
}

#[derive(Serialize)]
struct State {
    now_us: i64,
    entries_written: u64,
    entries_deleted: u64,
    instances: Vec<InstanceState>,
    stats: SimStats,
}

#[derive(Serialize)]
struct InstanceState {
    id: String,
    cluster: String,
    engine: String,
    entries_written: u64,
    files: Vec<FileState>,
}

#[derive(Serialize)]
struct FileState {
    name: String,
    size: u64,
    last_written_ms: i64,
    entries: u64,
    active: bool,
}

fn json(status: StatusCode, value: &impl Serialize) -> Response<SimBody> {
    let body =
        serde_json::to_vec(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}").into_bytes());
    let mut r = Response::new(SimBody::Full(Some(body.into())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

fn bad(message: impl std::fmt::Display) -> Response<SimBody> {
    json(
        StatusCode::BAD_REQUEST,
        &serde_json::json!({ "error": message.to_string() }),
    )
}

fn ok() -> Response<SimBody> {
    json(StatusCode::OK, &serde_json::json!({ "ok": true }))
}

pub(crate) async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<SimBody> {
    let (parts, body) = req.into_parts();
    let body = match read_body(body, MAX_CONTROL_BODY).await {
        Ok(b) => b,
        Err(e) => return bad(e.message),
    };
    match (parts.method, parts.uri.path()) {
        (Method::GET, "/_sim/state") => json(StatusCode::OK, &state(&shared)),
        (Method::POST, "/_sim/advance") => match serde_json::from_slice::<Advance>(&body) {
            Ok(a) => {
                let now = shared.world().now_us;
                let to = match advance_target(now, &a) {
                    Ok(to) => to,
                    Err(message) => return bad(message),
                };
                tokio::task::spawn_blocking(move || shared.advance_to(to))
                    .await
                    .map_or_else(bad, |()| ok())
            }
            Err(e) => bad(e),
        },
        (Method::POST, "/_sim/faults") => match serde_json::from_slice::<FaultsPatch>(&body) {
            Ok(p) => {
                apply(&shared, p);
                ok()
            }
            Err(e) => bad(e),
        },
        (Method::POST, "/_sim/files") => match serde_json::from_slice::<AddFile>(&body) {
            Ok(f) => add_file(&shared, f),
            Err(e) => bad(e),
        },
        _ => json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({ "error": "no such control route" }),
        ),
    }
}

/// Where `/_sim/advance` moves the clock from `now`: checked, and at most [`MAX_ADVANCE_US`]
/// ahead.
fn advance_target(now: i64, a: &Advance) -> Result<i64, String> {
    let by_us = match a.by_ms {
        None => 0,
        Some(ms) => i64::try_from(ms)
            .ok()
            .and_then(|ms| ms.checked_mul(1000))
            .ok_or_else(|| format!("by_ms {ms} is too large"))?,
    };
    let to = a
        .to_us
        .unwrap_or(now)
        .checked_add(by_us)
        .ok_or_else(|| "the target time overflows".to_string())?;
    if to.saturating_sub(now) > MAX_ADVANCE_US {
        return Err(format!(
            "the target {to} is more than 7 days ({MAX_ADVANCE_US} µs) after now ({now}): \
             advance in steps"
        ));
    }
    Ok(to)
}

fn state(shared: &Shared) -> State {
    let w = shared.world();
    let instances: Vec<InstanceState> = w
        .instances
        .values()
        .map(|i| InstanceState {
            id: i.id.clone(),
            cluster: i.cluster.clone(),
            engine: i.engine.clone(),
            entries_written: i.logs.as_ref().map_or(0, |l| l.entries_written()),
            files: snapshots(i)
                .into_iter()
                .map(|f| FileState {
                    name: f.name,
                    size: f.size,
                    last_written_ms: f.last_written_ms,
                    entries: f.entries,
                    active: f.active,
                })
                .collect(),
        })
        .collect();
    let logs = || w.instances.values().filter_map(|i| i.logs.as_ref());
    State {
        now_us: w.now_us,
        entries_written: logs().map(|l| l.entries_written()).sum(),
        entries_deleted: logs().map(|l| l.entries_deleted()).sum(),
        instances,
        stats: shared.faults.stats(),
    }
}

pub(crate) fn apply(shared: &Shared, p: FaultsPatch) {
    let f = &shared.faults;
    if p.clear {
        f.clear();
    }
    for (fault, n) in p.fail_next {
        f.fail_next(fault, n);
    }
    for (fault, prob) in p.probability {
        f.set_probability(fault, prob);
    }
    if let Some(n) = p.skipped_lines {
        f.set_skipped_lines(n);
    }
    if p.throttle_off {
        f.set_throttle(None);
    }
    if let Some(t) = p.throttle {
        f.set_throttle(Some(t));
    }
    for b in p.binary {
        f.mark_binary(&b.instance, &b.file, b.on);
    }
    for c in p.creating {
        f.set_creating(&c.instance, c.on);
    }
    for c in p.not_ready {
        f.set_not_ready(&c.instance, c.on);
    }
    if let Some(r) = p.rotation_not_found {
        let rule = (r.window_ms > 0).then(|| RotationNotFound {
            window: Duration::from_millis(r.window_ms),
            side: r.side,
        });
        f.set_rotation_not_found(rule);
    }
}

fn add_file(shared: &Shared, f: AddFile) -> Response<SimBody> {
    let repeat = f.repeat.unwrap_or(1);
    if f.data.len().saturating_mul(repeat) > MAX_ADDED_FILE {
        return bad(format!("file over {MAX_ADDED_FILE} bytes"));
    }
    if let Some(ms) = f.last_written_ms {
        if !(0..=MAX_LAST_WRITTEN_MS).contains(&ms) {
            return bad(format!(
                "last_written_ms {ms} is not between 0 and {MAX_LAST_WRITTEN_MS} (year 9999)"
            ));
        }
    }
    let data = f.data.repeat(repeat).into_bytes();
    let last_written_ms = f
        .last_written_ms
        .unwrap_or_else(|| shared.world().now_us / 1000);
    let mut w = shared.world();
    let Some(inst) = w.instances.get_mut(&f.instance) else {
        return bad(format!("no instance {}", f.instance));
    };
    inst.added.insert(
        f.name,
        super::world::AddedFile {
            data: super::world::AddedData::Memory(data.into()),
            last_written_ms,
        },
    );
    ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_faults_patch_reads_fault_names_as_keys() {
        let p: FaultsPatch = serde_json::from_str(
            r#"{"fail_next": {"Throttle": 2, "SkipLines": 1}, "probability": {"EarlyEndOfData": 0.5},
                "throttle": {"burst": 300, "per_second": 12.0},
                "binary": [{"instance": "a", "file": "f"}],
                "rotation_not_found": {"window_ms": 5000, "side": "active"}}"#,
        )
        .unwrap();
        assert_eq!(p.fail_next[&Fault::Throttle], 2);
        assert!(p.binary[0].on);
        assert_eq!(p.rotation_not_found.unwrap().side, RotationSide::Active);
        assert!(serde_json::from_str::<FaultsPatch>(r#"{"nope": 1}"#).is_err());
    }

    #[test]
    fn advance_targets_are_checked_and_bounded() {
        let now = 1_704_358_800_000_000;
        let adv = |to_us, by_ms| advance_target(now, &Advance { to_us, by_ms });
        assert_eq!(adv(None, Some(3_600_000)), Ok(now + 3_600_000_000));
        assert_eq!(adv(Some(now + 5), Some(1)), Ok(now + 1005));
        assert_eq!(
            adv(Some(now - 5), None),
            Ok(now - 5),
            "the past is left to advance_to"
        );
        assert_eq!(
            adv(None, Some(7 * 24 * 3_600_000)),
            Ok(now + MAX_ADVANCE_US)
        );
        assert!(adv(None, Some(7 * 24 * 3_600_000 + 1)).is_err());
        assert!(adv(Some(now + MAX_ADVANCE_US + 1), None).is_err());
        assert!(adv(None, Some(u64::MAX)).is_err());
        assert!(adv(None, Some(i64::MAX as u64 / 1000 + 1)).is_err());
        assert!(adv(Some(i64::MAX), Some(1)).is_err());
        assert!(adv(Some(i64::MAX), None).is_err());
        let far = Advance {
            to_us: Some(i64::MAX),
            by_ms: None,
        };
        assert!(advance_target(i64::MIN, &far).is_err());
    }
}
