//! `aurora-logs plan`: whether one account's RDS budget carries a fleet, from the scheduler's
//! own rules ([`contract::cadence`]), and what to change when it does not.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use contract::cadence::{Cadence, Fleet, Group, Plan, ROTATION};
use contract::{LogKind, PerKind};

/// What `plan` is asked.
pub struct PlanArgs {
    /// Instances in the account that write.
    pub instances: usize,
    /// Instances besides them that write nothing.
    pub idle: usize,
    /// MB (10^6 bytes) an instance writes an hour, all kinds together.
    pub mb_per_hour: f64,
    /// `kind=percent` shares of the volume.
    pub kinds: Vec<String>,
    /// Calls a second aurora-logs may use.
    pub budget: f64,
    /// `kind=duration` overrides of the maximum delays.
    pub max_delay: Vec<String>,
}

fn kind_named(name: &str) -> Result<LogKind> {
    LogKind::ALL
        .into_iter()
        .find(|k| k.as_str() == name)
        .with_context(|| {
            let names: Vec<&str> = LogKind::ALL.iter().map(|k| k.as_str()).collect();
            format!(
                "unknown log kind {name:?}; the kinds are {}",
                names.join(", ")
            )
        })
}

/// The fleet and the rules `args` describe, over the configured `cadence`.
pub fn fleet_and_cadence(args: &PlanArgs, mut cadence: Cadence) -> Result<(Fleet, Cadence)> {
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if args.instances == 0 || !positive(args.mb_per_hour) || !positive(args.budget) {
        bail!("--instances, --mb-per-hour and --budget must be positive numbers");
    }
    let mut shares = PerKind::from_fn(|_| 0.0);
    for item in &args.kinds {
        let (kind, percent) = item
            .split_once('=')
            .with_context(|| format!("--kinds takes kind=percent, not {item:?}"))?;
        let percent: f64 = percent
            .trim()
            .parse()
            .with_context(|| format!("--kinds: {percent:?} is not a number"))?;
        *shares.get_mut(kind_named(kind.trim())?) = percent.max(0.0);
    }
    let total: f64 = shares.iter().map(|(_, s)| *s).sum();
    if total <= 0.0 {
        bail!("--kinds names no kind with a share above 0");
    }
    for item in &args.max_delay {
        let (kind, delay) = item
            .split_once('=')
            .with_context(|| format!("--max-delay takes kind=duration, not {item:?}"))?;
        *cadence.max_delay.get_mut(kind_named(kind.trim())?) =
            humantime::parse_duration(delay.trim()).with_context(|| {
                format!("--max-delay: {delay:?} is not a duration (30s, 5m, 1h)")
            })?;
    }
    let mut fleet = Fleet::uniform(
        args.instances,
        PerKind::from_fn(|k| args.mb_per_hour * 1e6 * shares[k] / total),
        args.budget,
    );
    if args.idle > 0 {
        fleet.groups.push(Group {
            instances: args.idle,
            bytes_per_hour: PerKind::from_fn(|_| 0.0),
        });
    }
    Ok((fleet, cadence))
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{:.1} min", d.as_secs_f64() / 60.0),
        _ => format!("{:.1} h", d.as_secs_f64() / 3600.0),
    }
}

/// The report: the plan, and when it does not fit, the changes that would make it fit.
pub fn report(fleet: &Fleet, cadence: &Cadence) -> String {
    let plan = cadence.plan(fleet);
    let mut out = String::new();
    let total_mb: f64 = fleet
        .groups
        .iter()
        .map(|g| g.instances as f64 * g.bytes_per_hour.iter().map(|(_, b)| b).sum::<f64>())
        .sum::<f64>()
        / 1e6;
    let _ = writeln!(
        out,
        "{} instances, {:.1} MB/h in all = {:.2} MB/s of logs; RDS budget {} calls/s",
        fleet.instances(),
        total_mb,
        total_mb / 3600.0,
        fleet.calls_per_second
    );
    write_plan(&mut out, fleet, cadence, &plan);
    if plan.fits(fleet) {
        let _ = writeln!(
            out,
            "verdict: fits, {:.0} % of the budget (lag does not grow)",
            100.0 * plan.calls() / fleet.calls_per_second
        );
        return out;
    }
    let _ = writeln!(
        out,
        "verdict: does NOT fit: {:.2} calls/s needed, lag would grow without bound",
        plan.calls()
    );
    let _ = writeln!(out, "what would fit:");
    // Ship the tailed kinds whole, the largest first, until it fits.
    let mut whole = cadence.clone();
    let mut by_volume: Vec<(LogKind, f64)> = LogKind::ALL
        .into_iter()
        .map(|k| {
            let bytes = fleet
                .groups
                .iter()
                .map(|g| g.instances as f64 * g.bytes_per_hour[k])
                .sum::<f64>();
            (k, bytes)
        })
        .filter(|(k, b)| *b > 0.0 && cadence.tails(*k))
        .collect();
    by_volume.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut changed = Vec::new();
    for (kind, _) in by_volume {
        *whole.max_delay.get_mut(kind) = ROTATION;
        changed.push(kind.as_str());
        let p = whole.plan(fleet);
        if p.fits(fleet) {
            let _ = writeln!(
                out,
                "- ship {} whole after rotation (scheduler.max_delay: {} = \"1h\"): {:.2} calls/s",
                changed.join(", "),
                changed.join(" = \"1h\", "),
                p.calls()
            );
            write_plan(&mut out, fleet, &whole, &p);
            break;
        }
    }
    // Each account lists its own share of the instances with its own budget.
    let accounts = (2..=256).find(|&k| {
        let mut part = fleet.clone();
        for g in &mut part.groups {
            g.instances = g.instances.div_ceil(k);
        }
        cadence.plan(&part).fits(&part)
    });
    match accounts {
        Some(k) => {
            let _ = writeln!(
                out,
                "- or, as configured, split the fleet across {k} accounts or regions (each has its own RDS budget)"
            );
        }
        None => {
            let _ = writeln!(
                out,
                "- no split across up to 256 accounts fits as configured: one instance alone needs more than the budget"
            );
        }
    }
    out
}

fn write_plan(out: &mut String, fleet: &Fleet, cadence: &Cadence, plan: &Plan) {
    let idle = fleet.idle_instances();
    if idle > 0 && plan.idle_list_interval > plan.list_interval {
        let _ = writeln!(
            out,
            "  listing each instance that writes every {}, each of the {idle} idle ones every {}: {:.2} calls/s",
            human(plan.list_interval),
            human(plan.idle_list_interval),
            plan.list_calls
        );
    } else {
        let _ = writeln!(
            out,
            "  listing each instance every {}: {:.2} calls/s",
            human(plan.list_interval),
            plan.list_calls
        );
    }
    let _ = writeln!(out, "  tailing live files: {:.2} calls/s", plan.tail_calls);
    let _ = writeln!(
        out,
        "  whole files after rotation: {:.2} calls/s",
        plan.whole_calls
    );
    let _ = writeln!(
        out,
        "  total {:.2} of {} calls/s",
        plan.calls(),
        fleet.calls_per_second
    );
    for (group, kind, p50, p99) in &plan.delays {
        let group = if fleet.groups.len() > 1 {
            format!("group {} ", group + 1)
        } else {
            String::new()
        };
        let how = if cadence.tails(*kind) {
            format!("tailed, max delay {}", human(cadence.max_delay[*kind]))
        } else {
            "whole after rotation".to_string()
        };
        let _ = writeln!(
            out,
            "  {group}{:<11} delay p50 {:>8}  p99 {:>8}  ({how})",
            kind.as_str(),
            human(*p50),
            human(*p99)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::standalone::SchedulerConfig;

    fn args(instances: usize, max_delay: &[&str]) -> PlanArgs {
        PlanArgs {
            instances,
            idle: 0,
            mb_per_hour: 100.0,
            kinds: vec!["slowquery=99".into(), "error=1".into()],
            budget: 10.0,
            max_delay: max_delay.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_fleet_too_big_gets_the_changes_that_make_it_fit() {
        let (fleet, cadence) =
            fleet_and_cadence(&args(1000, &[]), SchedulerConfig::default().cadence()).unwrap();
        let r = report(&fleet, &cadence);
        assert!(r.contains("does NOT fit"), "{r}");
        assert!(r.contains("ship slowquery whole after rotation"), "{r}");
        let (fleet, cadence) = fleet_and_cadence(
            &args(1000, &["slowquery=1h"]),
            SchedulerConfig::default().cadence(),
        )
        .unwrap();
        let r = report(&fleet, &cadence);
        assert!(r.contains("verdict: fits"), "{r}");
    }

    #[test]
    fn idle_instances_are_listed_at_their_own_interval() {
        let mut a = args(300, &["slowquery=1h"]);
        a.idle = 700;
        let (fleet, cadence) = fleet_and_cadence(&a, SchedulerConfig::default().cadence()).unwrap();
        assert_eq!(fleet.instances(), 1000);
        let r = report(&fleet, &cadence);
        // 700 idle every 5 min take 2.33 of the 4 listings a second; 300 share the rest.
        assert!(
            r.contains(
                "that writes every 3.0 min, each of the 700 idle ones every 5.0 min: 4.00 calls/s"
            ),
            "{r}"
        );
        assert!(r.contains("verdict: fits"), "{r}");
    }

    #[test]
    fn bad_arguments_say_what_is_expected() {
        let cadence = SchedulerConfig::default().cadence();
        let mut a = args(10, &[]);
        a.kinds = vec!["slow=1".into()];
        let e = fleet_and_cadence(&a, cadence.clone()).err().unwrap();
        assert!(
            format!("{e:#}").contains("the kinds are error, slowquery"),
            "{e:#}"
        );
        let e = fleet_and_cadence(&args(10, &["error=soon"]), cadence.clone())
            .err()
            .unwrap();
        assert!(format!("{e:#}").contains("is not a duration"), "{e:#}");
        let e = fleet_and_cadence(&args(0, &[]), cadence).err().unwrap();
        assert!(format!("{e:#}").contains("positive"), "{e:#}");
    }
}
