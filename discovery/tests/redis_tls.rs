//! Redis over TLS with an ACL user, as ElastiCache with transit encryption and RBAC runs it: a
//! real redis-server with its TLS port and a private CA made by `openssl`. The cache and the
//! shared RDS budget work over it; a wrong CA or wrong credentials fail at the startup check
//! with errors that name the key to fix.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use discovery::FixedLeader;
use net::redis::{RedisConfig, RedisLink, RedisLinkError};
use rds::budget::{RateBudget, RateBudgetConfig, RedisBudget};
use simulator::services::{free_port, unique_name};
use simulator::tls::TestPki;

const USER: &str = "aurora-logs";
const PASSWORD: &str = "s3cret-Passw0rd";

/// A private redis-server that speaks only TLS (with `pki`'s certificate) and knows only the
/// ACL user `USER`; killed when dropped.
struct TlsRedis {
    child: Child,
    port: u16,
}

impl TlsRedis {
    /// `None` (skipped, or a panic under `CI=true`) when no redis-server binary is there.
    fn start(pki: &TestPki, test: &str) -> Option<TlsRedis> {
        TlsRedis::start_with(pki, test, None)
    }

    /// With one more ACL user, `(name, password)`.
    fn start_with(pki: &TestPki, test: &str, extra: Option<(&str, &str)>) -> Option<TlsRedis> {
        let bin = std::env::var("AURORA_TEST_REDIS_BIN").unwrap_or_else(|_| "redis-server".into());
        let port = free_port();
        let spawned = Command::new(&bin)
            .args(["--port", "0", "--tls-port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--tls-cert-file")
            .arg(pki.cert_file())
            .arg("--tls-key-file")
            .arg(pki.key_file())
            .arg("--tls-ca-cert-file")
            .arg(pki.ca_file())
            .args(["--tls-auth-clients", "no"])
            // The default user is off: every connection must AUTH as USER.
            .args(["--user", "default", "off"])
            .args([
                "--user",
                USER,
                "on",
                &format!(">{PASSWORD}"),
                "~*",
                "&*",
                "+@all",
            ])
            .args(extra.map_or(Vec::new(), |(user, password)| {
                [
                    "--user",
                    user,
                    "on",
                    &format!(">{password}"),
                    "~*",
                    "&*",
                    "+@all",
                ]
                .map(String::from)
                .to_vec()
            }))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(c) => c,
            Err(e) => {
                let msg = format!("{test}: cannot start {bin}: {e}");
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("{msg}; CI=true needs redis-server");
                }
                eprintln!("SKIPPED {msg}");
                return None;
            }
        };
        simulator::services::wait_port(port, "redis-server with TLS");
        Some(TlsRedis { child, port })
    }

    fn config(&self, pki: &TestPki) -> RedisConfig {
        RedisConfig {
            url: format!("rediss://localhost:{}", self.port),
            ca_file: Some(pki.ca_file()),
            username: USER.into(),
            password: PASSWORD.into(),
            key_prefix: format!("{}:", unique_name("tls")),
            op_timeout: Duration::from_secs(2),
            ..Default::default()
        }
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pki() -> TestPki {
    TestPki::generate("aurora-logs").expect("openssl makes the test CA")
}

#[tokio::test]
async fn the_cache_and_the_budget_work_over_tls_with_auth() {
    let pki = pki();
    let Some(redis) = TlsRedis::start(&pki, "the_cache_and_the_budget_work_over_tls_with_auth")
    else {
        return;
    };
    let config = redis.config(&pki);

    // The startup check passes, and the shared budget counts in this Redis.
    let budget = RedisBudget::new(config.clone(), RateBudgetConfig::default()).unwrap();
    budget.check().await.expect("TLS + AUTH connect");
    for _ in 0..3 {
        budget.acquire().await;
    }
    let link = RedisLink::new(config.clone(), "test", "nothing").unwrap();
    let keys: Vec<String> = link
        .run(|mut c| async move { redis::cmd("KEYS").arg("*").query_async(&mut c).await })
        .await
        .unwrap();
    assert!(
        keys.iter().any(|k| k.starts_with(&config.key_prefix)),
        "the budget's key is in the TLS Redis: {keys:?}"
    );

    // Discovery's cache: the second pass is answered from Redis.
    let w = World::start(two_clusters()).await;
    let sink = Arc::new(RecordingSink::default());
    let d = w
        .discovery(config_with(config), Arc::new(FixedLeader(1)), sink)
        .await;
    let first = d.pass().await.unwrap();
    assert_eq!(first.cache.errors, 0, "{first:?}");
    assert_eq!(first.cache.misses, 3, "{first:?}");
    let second = d.pass().await.unwrap();
    assert_eq!(second.cache.hits, 3, "{second:?}");
}

fn config_with(redis: RedisConfig) -> discovery::DiscoveryConfig {
    config(Some(redis))
}

#[tokio::test]
async fn a_wrong_ca_or_no_ca_is_refused_with_the_key_to_set() {
    let pki = pki();
    let Some(redis) = TlsRedis::start(&pki, "a_wrong_ca_or_no_ca_is_refused_with_the_key_to_set")
    else {
        return;
    };
    let other = TestPki::generate("another").unwrap();
    for ca_file in [Some(other.ca_file()), None] {
        let config = RedisConfig {
            ca_file: ca_file.clone(),
            ..redis.config(&pki)
        };
        let link = RedisLink::new(config, "test", "nothing").unwrap();
        let e = link.check().await.unwrap_err();
        assert!(
            matches!(e, RedisLinkError::Untrusted(_)),
            "{ca_file:?}: {e:?}"
        );
        let text = e.to_string();
        assert!(text.contains("redis.ca_file"), "{text}");
        assert!(e.is_config());
    }
}

#[tokio::test]
async fn wrong_credentials_are_refused_with_the_keys_to_check() {
    let pki = pki();
    let Some(redis) = TlsRedis::start(&pki, "wrong_credentials_are_refused_with_the_keys_to_check")
    else {
        return;
    };
    for (user, password) in [(USER, "wrong"), ("nobody", PASSWORD), ("", "")] {
        let config = RedisConfig {
            username: user.into(),
            password: password.into(),
            ..redis.config(&pki)
        };
        let link = RedisLink::new(config, "test", "nothing").unwrap();
        let e = link.check().await.unwrap_err();
        assert!(
            matches!(e, RedisLinkError::Auth(_)),
            "{user:?}/{password:?}: {e:?}"
        );
        let text = e.to_string();
        assert!(
            text.contains("redis.username") && text.contains("redis.password"),
            "{text}"
        );
        assert!(!text.contains(PASSWORD), "the password leaked: {text}");
    }
}

#[tokio::test]
async fn the_password_can_come_from_a_file() {
    let pki = pki();
    let Some(redis) = TlsRedis::start(&pki, "the_password_can_come_from_a_file") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("password");
    std::fs::write(&file, format!("{PASSWORD}\n")).unwrap();
    let config = RedisConfig {
        password: Default::default(),
        password_file: Some(file),
        ..redis.config(&pki)
    };
    let link = RedisLink::new(config, "test", "nothing").unwrap();
    link.check().await.expect("AUTH with the file's password");
    let pong: String = link
        .run(|mut c| async move { redis::cmd("PING").query_async(&mut c).await })
        .await
        .unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn a_ca_file_on_a_plain_url_is_a_configuration_error() {
    let config = RedisConfig {
        url: "redis://127.0.0.1:6379".into(),
        ca_file: Some("/nonexistent/ca.pem".into()),
        ..Default::default()
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _guard = rt.enter();
    let e = RedisLink::new(config, "test", "nothing").unwrap_err();
    assert!(matches!(e, RedisLinkError::Config(_)), "{e:?}");
    assert!(e.to_string().contains("rediss://"), "{e}");
}

/// The signing time of the IAM tests: fixed, so that the token (the ACL password the server
/// knows) is too.
fn signing_time() -> std::time::SystemTime {
    std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

#[tokio::test]
async fn elasticache_iam_tokens_authenticate_and_are_renewed_on_the_live_connection() {
    let creds = aws_credential_types::Credentials::new("AKIDEXAMPLE", "secret", None, None, "t");
    let iam_user = "aurora-logs-iam";
    let token = net::iam_token::elasticache_token(
        "my-cache",
        iam_user,
        false,
        "eu-west-1",
        &creds,
        signing_time(),
    )
    .unwrap();
    let pki = pki();
    let test = "elasticache_iam_tokens_authenticate_and_are_renewed_on_the_live_connection";
    let Some(redis) = TlsRedis::start_with(&pki, test, Some((iam_user, &token))) else {
        return;
    };
    let config = RedisConfig {
        username: iam_user.into(),
        password: Default::default(),
        iam_cache: "my-cache".into(),
        ..redis.config(&pki)
    };
    let iam = |cache: &str| {
        net::redis_iam::ElastiCacheIam::fixed(
            cache,
            iam_user,
            false,
            "eu-west-1",
            creds.clone(),
            signing_time,
            Duration::from_millis(200),
        )
    };
    let link =
        RedisLink::with_iam(config.clone(), "test", "nothing", Some(iam("my-cache"))).unwrap();
    link.check().await.expect("AUTH with the IAM token");
    // Re-authenticated several times meanwhile, the connection still serves.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let who: String = link
        .run(|mut c| async move { redis::cmd("ACL").arg("WHOAMI").query_async(&mut c).await })
        .await
        .unwrap();
    assert_eq!(who, iam_user);

    // A token for another cache is another password: refused, with the keys to check.
    let wrong =
        RedisLink::with_iam(config.clone(), "test", "nothing", Some(iam("other-cache"))).unwrap();
    let e = wrong.check().await.unwrap_err();
    assert!(matches!(e, RedisLinkError::Auth(_)), "{e:?}");

    // IAM with a password, or without a user, is a configuration error.
    for bad in [
        RedisConfig {
            password: "x".into(),
            ..config.clone()
        },
        RedisConfig {
            username: String::new(),
            ..config.clone()
        },
    ] {
        let e = RedisLink::with_iam(bad, "test", "nothing", Some(iam("my-cache"))).unwrap_err();
        assert!(e.to_string().contains("redis.iam_cache"), "{e}");
    }
}
