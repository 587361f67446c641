//! The IAM tokens against AWS's own signers, byte for byte: the MSK token against
//! `aws-msk-iam-sasl-signer-python`, the ElastiCache token against the presigned URL that AWS's
//! ElastiCache IAM documentation makes with botocore. Both run in the venv of
//! `scripts/aws-signer-venv.sh` (its python in `AURORA_TEST_SIGNER_PYTHON`, which the test command
//! sets); without it the test skips with a notice, and fails under `CI=true`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;
use net::iam_token::{elasticache_token, msk_token};

fn python() -> Option<PathBuf> {
    let path = std::env::var_os("AURORA_TEST_SIGNER_PYTHON")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".cache/aurora-logs/aws-signer-venv/bin/python"))
        })?;
    if path.exists() {
        return Some(path);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{} is missing and CI=true: scripts/aws-signer-venv.sh installs it",
            path.display()
        );
    }
    eprintln!(
        "SKIPPED: the IAM token references need {} (run scripts/aws-signer-venv.sh)",
        path.display()
    );
    None
}

/// What AWS's code prints for `args` (see aws_signers.py).
fn reference(python: &Path, args: &[&str]) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/aws_signers.py");
    let out = Command::new(python)
        .arg(&script)
        .args(args)
        .output()
        .expect("running the reference signer");
    assert!(
        out.status.success(),
        "reference signer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// (region, time, access key, secret, session token).
const CASES: [(&str, u64, &str, &str, Option<&str>); 4] = [
    (
        "us-east-1",
        1_700_000_000,
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        None,
    ),
    (
        "eu-west-1",
        1_767_225_599,
        "ASIAXAMPLE2",
        "s3cr3t+/==",
        Some("IQoJb3JpZ2luX2VjE//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+/="),
    ),
    (
        "ap-southeast-2",
        1_600_000_123,
        "AKIA0000",
        "x",
        Some("short"),
    ),
    ("us-gov-west-1", 2_000_000_000, "AKID", "k~e.y_-", None),
];

#[test]
fn the_msk_token_equals_aws_signer_byte_for_byte() {
    let Some(python) = python() else { return };
    for (region, secs, ak, sk, token) in CASES {
        let creds = Credentials::new(ak, sk, token.map(str::to_string), None, "test");
        let ours = msk_token(
            region,
            &creds,
            UNIX_EPOCH + Duration::from_secs(secs),
            "aws-msk-iam-sasl-signer-python/1.0.2",
        )
        .unwrap();
        let secs_s = secs.to_string();
        let theirs = reference(
            &python,
            &["msk", region, &secs_s, ak, sk, token.unwrap_or("-")],
        );
        assert_eq!(ours.token, theirs[0], "{region} at {secs}");
        assert_eq!(ours.expires_ms.to_string(), theirs[1], "{region} at {secs}");
    }
}

#[test]
fn the_elasticache_token_equals_the_documented_algorithm_byte_for_byte() {
    let Some(python) = python() else { return };
    for (region, secs, ak, sk, token) in CASES {
        for serverless in [false, true] {
            let creds = Credentials::new(ak, sk, token.map(str::to_string), None, "test");
            let (cache, user) = ("aurora-logs-valkey", "aurora-logs");
            let ours = elasticache_token(
                cache,
                user,
                serverless,
                region,
                &creds,
                UNIX_EPOCH + Duration::from_secs(secs),
            )
            .unwrap();
            let secs_s = secs.to_string();
            let theirs = reference(
                &python,
                &[
                    "elasticache",
                    region,
                    &secs_s,
                    ak,
                    sk,
                    token.unwrap_or("-"),
                    cache,
                    user,
                    &serverless.to_string(),
                ],
            );
            assert_eq!(
                ours, theirs[0],
                "{region} at {secs}, serverless {serverless}"
            );
        }
    }
}
