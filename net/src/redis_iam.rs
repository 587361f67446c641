//! ElastiCache IAM authentication for the Redis link: every connection AUTHs with a fresh
//! IAM token ([`elasticache_token`](crate::iam_token::elasticache_token)) for the configured
//! user, and re-AUTHs with a new one every [`REAUTH_EVERY`], well inside the token's 15 minutes
//! (ElastiCache also closes an IAM connection after 12 hours; the link reconnects by itself).
//! The redis client asks for the tokens through its credentials-provider stream.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use futures_util::Stream;
use redis::auth::{BasicAuth, StreamingCredentialsProvider};
use redis::{ErrorKind, RedisError, RedisResult};
use tokio::sync::OnceCell;

use crate::iam_token::elasticache_token;

/// The IAM actions ElastiCache IAM authentication needs (`iam/elasticache-iam-policy.json`).
pub const ELASTICACHE_ACTIONS: [&str; 1] = ["elasticache:Connect"];

/// How often a live connection AUTHs again with a new token.
pub const REAUTH_EVERY: Duration = Duration::from_secs(600);

/// Where the signing credentials come from.
enum Source {
    /// The default AWS chain (Pod Identity, IRSA, …), resolved on first use.
    Chain {
        region: String,
        resolved: OnceCell<(String, SharedCredentialsProvider)>,
    },
    /// Fixed (tests).
    Fixed {
        region: String,
        credentials: Credentials,
    },
}

struct Inner {
    cache: String,
    user: String,
    serverless: bool,
    source: Source,
    clock: fn() -> SystemTime,
    every: Duration,
}

/// ElastiCache IAM tokens as a redis credentials provider.
#[derive(Clone)]
pub struct ElastiCacheIam(Arc<Inner>);

impl std::fmt::Debug for ElastiCacheIam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ElastiCacheIam")
            .field("cache", &self.0.cache)
            .field("user", &self.0.user)
            .field("serverless", &self.0.serverless)
            .finish_non_exhaustive()
    }
}

impl ElastiCacheIam {
    /// Tokens for `user` of the cache `cache` (replication group or serverless cache name),
    /// signed with the default AWS chain's credentials in `region` (empty: `AWS_REGION`).
    pub fn from_chain(cache: &str, user: &str, serverless: bool, region: &str) -> ElastiCacheIam {
        ElastiCacheIam(Arc::new(Inner {
            cache: cache.into(),
            user: user.into(),
            serverless,
            source: Source::Chain {
                region: region.into(),
                resolved: OnceCell::new(),
            },
            clock: SystemTime::now,
            every: REAUTH_EVERY,
        }))
    }

    /// Tokens signed with fixed credentials, at the times `clock` gives, renewed every `every`
    /// (tests).
    pub fn fixed(
        cache: &str,
        user: &str,
        serverless: bool,
        region: &str,
        credentials: Credentials,
        clock: fn() -> SystemTime,
        every: Duration,
    ) -> ElastiCacheIam {
        ElastiCacheIam(Arc::new(Inner {
            cache: cache.into(),
            user: user.into(),
            serverless,
            source: Source::Fixed {
                region: region.into(),
                credentials,
            },
            clock,
            every,
        }))
    }

    /// The user and a token now.
    pub async fn auth(&self) -> RedisResult<BasicAuth> {
        let fail = |what: String| {
            RedisError::from((ErrorKind::AuthenticationFailed, "elasticache iam", what))
        };
        let inner = &self.0;
        let (region, credentials) = match &inner.source {
            Source::Fixed {
                region,
                credentials,
            } => (region.clone(), credentials.clone()),
            Source::Chain { region, resolved } => {
                let (region, provider) = resolved
                    .get_or_try_init(|| async {
                        let sdk = crate::aws::sdk_config(region, "", "", &Default::default()).await;
                        let region = sdk.region().map(|r| r.to_string()).ok_or_else(|| {
                            fail("no AWS region: set redis.iam_region or AWS_REGION".into())
                        })?;
                        let provider = sdk.credentials_provider().ok_or_else(|| {
                            fail("no AWS credentials (environment, Pod Identity, IRSA)".into())
                        })?;
                        Ok::<_, RedisError>((region, provider))
                    })
                    .await?;
                let credentials = provider.provide_credentials().await.map_err(|e| {
                    fail(format!(
                        "reading AWS credentials: {}",
                        crate::error_chain(&e)
                    ))
                })?;
                (region.clone(), credentials)
            }
        };
        let token = elasticache_token(
            &inner.cache,
            &inner.user,
            inner.serverless,
            &region,
            &credentials,
            (inner.clock)(),
        )
        .map_err(|e| fail(e.to_string()))?;
        Ok(BasicAuth::new(inner.user.clone(), token))
    }
}

impl StreamingCredentialsProvider for ElastiCacheIam {
    fn subscribe(&self) -> Pin<Box<dyn Stream<Item = RedisResult<BasicAuth>> + Send + 'static>> {
        let me = self.clone();
        Box::pin(futures_util::stream::unfold(true, move |first| {
            let me = me.clone();
            async move {
                if !first {
                    tokio::time::sleep(me.0.every).await;
                }
                Some((me.auth().await, false))
            }
        }))
    }
}
