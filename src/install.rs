//! `aurora-logs openobserve install`: wires the configuration into the `openobserve` crate's
//! installer and prints its plan.

use std::time::Duration;

use anyhow::{Context, Result};
use contract::LogKind as Kind;
use openobserve::{Assets, Installer, StreamNames, Target, Verdict};
use sink::StreamsConfig;

use crate::config::Config;

/// The configured streams, in `openobserve::LogKind::ALL` order.
fn stream_names(s: &StreamsConfig) -> StreamNames {
    StreamNames::new(
        [
            Kind::MysqlSlow,
            Kind::MysqlError,
            Kind::MysqlGeneral,
            Kind::MysqlAudit,
            Kind::Postgresql,
        ]
        .map(|k| s.stream(k).to_string()),
    )
}

/// OpenObserve's API as the sink's `[openobserve]` names it: url, org, user, the password (or
/// its file), the CA.
pub fn target(config: &Config) -> Result<Target> {
    let oo = &config.openobserve;
    let password = net::SecretSource::new(
        "openobserve.password",
        oo.password.clone(),
        oo.password_file.as_deref(),
    )
    .and_then(|s| s.get())?;
    let mut target = Target::new(&oo.url, &oo.org, &oo.user, password.expose());
    target.ca_file = oo.ca_file.clone();
    Ok(target)
}

/// Plans, prints and (unless `dry_run`) applies the installation.
pub async fn run(config: &Config, dry_run: bool, prune: bool) -> Result<()> {
    let names = stream_names(&config.streams);
    let install = &config.openobserve_install;
    let assets = Assets::load(&names, install)?;
    let oo = &config.openobserve;
    let mut target = target(config)?;
    target.timeout = Duration::from_secs(install.request_timeout_secs.max(1));
    let installer = Installer::new(target, assets)?;
    let plan = installer
        .plan(prune)
        .await
        .with_context(|| format!("planning the install into {} (org {})", oo.url, oo.org))?;
    print!("{plan}");
    if dry_run {
        println!("dry run: nothing was changed");
        return Ok(());
    }
    if plan.is_unchanged() && plan.count(Verdict::Conflict) == 0 {
        println!("nothing to change");
        return Ok(());
    }
    installer.apply(&plan).await?;
    println!("applied");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use openobserve::LogKind;

    #[test]
    fn the_installers_default_streams_are_the_data_planes() {
        let names = stream_names(&StreamsConfig::default());
        assert_eq!(names, StreamNames::default());
        for kind in LogKind::ALL {
            assert_eq!(names.get(kind), kind.default_stream(), "{}", kind.key());
        }
    }
}
