//! IAM authentication tokens for the managed services of the distributed mode: SigV4
//! presigned URLs, signed with the pod's AWS credentials (EKS Pod Identity, IRSA), valid 15
//! minutes.
//!
//! - [`msk_token`]: Amazon MSK's SASL/OAUTHBEARER token, the presigned
//!   `GET https://kafka.<region>.amazonaws.com/?Action=kafka-cluster:Connect` with a
//!   `User-Agent` parameter, base64url-encoded without padding: byte for byte what AWS's
//!   `aws-msk-iam-sasl-signer` libraries produce (the query in their order), so that the
//!   broker's verifier sees what it was written for.
//! - [`elasticache_token`]: ElastiCache's AUTH password for an IAM-enabled user, the presigned
//!   `GET http://<cache>/?Action=connect&User=<user>` (plus `&ResourceType=ServerlessCache`
//!   for a serverless cache), service `elasticache`, without its `http://`.
//!
//! The SigV4 arithmetic is `aws-sigv4`'s; only the URL each service expects is built here.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use base64::Engine as _;

use crate::http::percent_encode;

/// How long a token is valid: 15 minutes, what both services accept at most.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(900);

/// The `User-Agent` the tokens of this build carry.
pub fn user_agent() -> String {
    format!("aurora-logs/{}", env!("CARGO_PKG_VERSION"))
}

/// Why a token could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The region or a name is empty or invalid.
    #[error("cannot sign an IAM token: {0}")]
    Invalid(String),
    /// The signer refused (credentials without a secret, say).
    #[error("signing the IAM token failed: {0}")]
    Signing(String),
}

/// An MSK IAM token and when it expires (milliseconds since the epoch, as librdkafka wants).
#[derive(Clone, PartialEq, Eq)]
pub struct MskToken {
    /// The OAUTHBEARER token value.
    pub token: String,
    /// Expiry, ms since the epoch: the signing time + [`TOKEN_LIFETIME`].
    pub expires_ms: i64,
}

impl std::fmt::Debug for MskToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MskToken")
            .field("token", &"<redacted>")
            .field("expires_ms", &self.expires_ms)
            .finish()
    }
}

/// The MSK IAM token for `region`, signed at `time` with `credentials`, carrying `user_agent`.
pub fn msk_token(
    region: &str,
    credentials: &Credentials,
    time: SystemTime,
    user_agent: &str,
) -> Result<MskToken, TokenError> {
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(TokenError::Invalid(format!("region {region:?}")));
    }
    let base = format!("https://kafka.{region}.amazonaws.com/");
    let query = [("Action", "kafka-cluster:Connect")];
    let signed = presign(&base, &query, "kafka-cluster", region, credentials, time)?;
    let url = format!("{signed}&{}", pair("User-Agent", user_agent));
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url);
    let signed_at = time
        .duration_since(UNIX_EPOCH)
        .map_err(|_| TokenError::Invalid("a signing time before 1970".into()))?
        .as_secs() as i64;
    Ok(MskToken {
        token,
        expires_ms: (signed_at + TOKEN_LIFETIME.as_secs() as i64) * 1000,
    })
}

/// The ElastiCache IAM token (the AUTH password) of `user_id` for the replication group or
/// serverless cache `cache_name` in `region`, signed at `time`.
pub fn elasticache_token(
    cache_name: &str,
    user_id: &str,
    serverless: bool,
    region: &str,
    credentials: &Credentials,
    time: SystemTime,
) -> Result<String, TokenError> {
    let host_ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    };
    if !host_ok(cache_name) || !host_ok(region) || user_id.is_empty() {
        return Err(TokenError::Invalid(format!(
            "cache {cache_name:?}, user {user_id:?}, region {region:?}"
        )));
    }
    // The cache name is the signed host, as AWS's examples sign it (ElastiCache shows its
    // names in lowercase).
    let base = format!("http://{cache_name}/");
    let mut query = vec![("Action", "connect"), ("User", user_id)];
    if serverless {
        query.push(("ResourceType", "ServerlessCache"));
    }
    let signed = presign(&base, &query, "elasticache", region, credentials, time)?;
    Ok(signed
        .strip_prefix("http://")
        .unwrap_or(&signed)
        .to_string())
}

/// `base` + `?` + the operation's `query` + the SigV4 query parameters, in botocore's order
/// (`X-Amz-Algorithm`, `-Credential`, `-Date`, `-Expires`, `-SignedHeaders`, `-Security-Token`,
/// then `-Signature`), each percent-encoded as SigV4 does.
fn presign(
    base: &str,
    query: &[(&str, &str)],
    service: &str,
    region: &str,
    credentials: &Credentials,
    time: SystemTime,
) -> Result<String, TokenError> {
    let operation = query
        .iter()
        .map(|(k, v)| pair(k, v))
        .collect::<Vec<_>>()
        .join("&");
    let url = format!("{base}?{operation}");
    let host = base
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'))
        .unwrap_or_default();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(TOKEN_LIFETIME);
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|e| TokenError::Signing(e.to_string()))?
        .into();
    let request = SignableRequest::new(
        "GET",
        url.as_str(),
        std::iter::once(("host", host)),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| TokenError::Signing(e.to_string()))?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|e| TokenError::Signing(e.to_string()))?
        .into_parts();
    let signed: Vec<(&str, Cow<'_, str>)> = instructions.params().to_vec();
    let order = [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Security-Token",
        "X-Amz-Signature",
    ];
    let mut out = url;
    for name in order {
        if let Some((_, value)) = signed.iter().find(|(n, _)| *n == name) {
            out.push('&');
            out.push_str(&pair(name, value));
        }
    }
    Ok(out)
}

/// `name=value`, both percent-encoded as SigV4 does (everything but `A-Za-z0-9-_.~`).
fn pair(name: &str, value: &str) -> String {
    format!("{}={}", percent_encode(name), percent_encode(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(token: Option<&str>) -> Credentials {
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            token.map(str::to_string),
            None,
            "test",
        )
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn the_msk_token_is_the_presigned_connect_url_in_base64url() {
        let t = msk_token(
            "us-east-1",
            &creds(Some("tok/en+=")),
            at(1_700_000_000),
            "ua/1",
        )
        .unwrap();
        assert!(!t.token.contains('=') && !t.token.contains('+') && !t.token.contains('/'));
        let url = String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&t.token)
                .unwrap(),
        )
        .unwrap();
        assert!(
            url.starts_with("https://kafka.us-east-1.amazonaws.com/?Action=kafka-cluster%3AConnect&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20231114%2Fus-east-1%2Fkafka-cluster%2Faws4_request&X-Amz-Date=20231114T221320Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Security-Token=tok%2Fen%2B%3D&X-Amz-Signature="),
            "{url}"
        );
        assert!(url.ends_with("&User-Agent=ua%2F1"), "{url}");
        assert_eq!(t.expires_ms, (1_700_000_000 + 900) * 1000);
        assert!(!format!("{t:?}").contains(&t.token));
    }

    #[test]
    fn the_elasticache_token_is_the_presigned_connect_url_without_its_scheme() {
        let t = elasticache_token(
            "my-cache",
            "aurora-logs",
            true,
            "eu-west-1",
            &creds(None),
            at(1_700_000_000),
        )
        .unwrap();
        assert!(
            t.starts_with("my-cache/?Action=connect&User=aurora-logs&ResourceType=ServerlessCache&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20231114%2Feu-west-1%2Felasticache%2Faws4_request&"),
            "{t}"
        );
        assert!(!t.contains("Security-Token"));
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(msk_token("", &creds(None), at(0), "ua").is_err());
        assert!(msk_token("us-east-1/../x", &creds(None), at(0), "ua").is_err());
        assert!(elasticache_token("", "u", false, "r", &creds(None), at(0)).is_err());
        assert!(elasticache_token("c", "", false, "r", &creds(None), at(0)).is_err());
    }
}
