//! Amazon MSK IAM authentication: SASL/OAUTHBEARER with a token that is a SigV4-presigned
//! `kafka-cluster:Connect` URL ([`net::iam_token::msk_token`]), signed with the pod's AWS
//! credentials (EKS Pod Identity, IRSA, the default chain). librdkafka asks for a token through
//! its refresh callback ([`KafkaContext`]) when a client starts and again before the token
//! expires (at about 80 % of its 15 minutes); the callback signs with credentials that a
//! background task keeps fresh, so it never waits on the network.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use metrics::counter;
use rdkafka::client::{ClientContext, OAuthToken};

use crate::{telemetry, KafkaConfig, QueueError};

/// The MSK IAM actions discovery's clients need (`iam/msk-discovery-policy.json` grants exactly
/// these): connect, the idempotent producer's, metadata and produce.
pub const MSK_DISCOVERY_ACTIONS: [&str; 4] = [
    "kafka-cluster:Connect",
    "kafka-cluster:DescribeTopic",
    "kafka-cluster:WriteData",
    "kafka-cluster:WriteDataIdempotently",
];
/// The MSK IAM actions a processor's consumer needs (`iam/msk-processor-policy.json`):
/// connect, metadata and fetch, the group's join, heartbeat and offsets.
pub const MSK_PROCESSOR_ACTIONS: [&str; 5] = [
    "kafka-cluster:AlterGroup",
    "kafka-cluster:Connect",
    "kafka-cluster:DescribeGroup",
    "kafka-cluster:DescribeTopic",
    "kafka-cluster:ReadData",
];

/// How often the cached AWS credentials are read again from the provider (which caches them
/// itself and renews them before they expire).
const CREDENTIALS_REFRESH: Duration = Duration::from_secs(60);

/// How the Kafka clients authenticate beyond librdkafka's own properties: nothing more
/// (plaintext, TLS, SCRAM from properties) or MSK IAM tokens.
#[derive(Clone, Default)]
pub struct KafkaAuth {
    iam: Option<Arc<MskIam>>,
}

impl std::fmt::Debug for KafkaAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaAuth")
            .field("msk_iam_region", &self.iam.as_ref().map(|i| &i.region))
            .finish()
    }
}

/// The MSK IAM token source: a region and the freshest credentials.
struct MskIam {
    region: String,
    user_agent: String,
    credentials: Mutex<Option<Credentials>>,
    /// Tokens handed to librdkafka so far.
    issued: AtomicU64,
    _refresher: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for MskIam {
    fn drop(&mut self) {
        if let Some(t) = &self._refresher {
            t.abort();
        }
    }
}

impl KafkaAuth {
    /// No authentication beyond the properties.
    pub fn none() -> KafkaAuth {
        KafkaAuth::default()
    }

    /// What `config` asks for: with `msk_iam`, the default AWS credential chain is read once
    /// now (failing here, at startup, if it has nothing) and then kept fresh in the background.
    /// Call it inside a tokio runtime.
    pub async fn from_config(config: &KafkaConfig) -> Result<KafkaAuth, QueueError> {
        if !config.msk_iam {
            return Ok(KafkaAuth::none());
        }
        let sdk = net::aws::sdk_config(&config.msk_iam_region, "", "", &Default::default()).await;
        let region = sdk.region().map(|r| r.to_string()).ok_or_else(|| {
            QueueError::Auth(
                "no AWS region for MSK IAM: set kafka.msk_iam_region or AWS_REGION".into(),
            )
        })?;
        let provider = sdk.credentials_provider().ok_or_else(|| {
            QueueError::Auth(
                "no AWS credentials for MSK IAM (environment, Pod Identity, IRSA, profile)".into(),
            )
        })?;
        let first = provider.provide_credentials().await.map_err(|e| {
            QueueError::Auth(format!(
                "reading AWS credentials for MSK IAM: {}",
                net::error_chain(&e)
            ))
        })?;
        Ok(KafkaAuth::msk_iam_with(region, first, Some(provider)))
    }

    /// MSK IAM tokens for `region` signed with `credentials`, refreshed from `provider` when
    /// one is given (tests give fixed credentials).
    pub fn msk_iam_with(
        region: String,
        credentials: Credentials,
        provider: Option<SharedCredentialsProvider>,
    ) -> KafkaAuth {
        let iam = Arc::new_cyclic(|weak: &std::sync::Weak<MskIam>| {
            let refresher = provider.map(|provider| {
                let weak = weak.clone();
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(CREDENTIALS_REFRESH).await;
                        let Some(iam) = weak.upgrade() else { return };
                        match provider.provide_credentials().await {
                            Ok(c) => *iam.credentials.lock().unwrap_or_else(|e| e.into_inner()) = Some(c),
                            Err(e) => tracing::warn!(error = %net::error_chain(&e), "renewing the AWS credentials of MSK IAM failed; the last ones are used until they expire"),
                        }
                    }
                })
            });
            MskIam {
                region,
                user_agent: net::iam_token::user_agent(),
                credentials: Mutex::new(Some(credentials)),
                issued: AtomicU64::new(0),
                _refresher: refresher,
            }
        });
        KafkaAuth { iam: Some(iam) }
    }

    /// MSK IAM tokens handed to librdkafka so far (0 without MSK IAM).
    pub fn tokens_issued(&self) -> u64 {
        self.iam
            .as_ref()
            .map_or(0, |i| i.issued.load(Ordering::Relaxed))
    }

    /// Whether MSK IAM is on.
    pub fn is_msk_iam(&self) -> bool {
        self.iam.is_some()
    }

    /// The context every client of ours is made with.
    pub(crate) fn context(&self) -> KafkaContext {
        KafkaContext { auth: self.clone() }
    }

    /// A token now (the refresh callback's work).
    fn token(&self) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        let Some(iam) = &self.iam else {
            return Err("sasl.mechanism is OAUTHBEARER but kafka.msk_iam is off: set kafka.msk_iam = true for Amazon MSK IAM".into());
        };
        let credentials = iam
            .credentials
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or("no AWS credentials yet")?;
        let t = net::iam_token::msk_token(
            &iam.region,
            &credentials,
            SystemTime::now(),
            &iam.user_agent,
        )?;
        iam.issued.fetch_add(1, Ordering::Relaxed);
        Ok(OAuthToken {
            token: t.token,
            principal_name: "aurora-logs".into(),
            lifetime_ms: t.expires_ms,
        })
    }
}

/// The client context of our producers and admin clients (the consumer's embeds the same
/// callback): it answers librdkafka's OAUTHBEARER token refresh.
#[derive(Clone, Debug)]
pub struct KafkaContext {
    auth: KafkaAuth,
}

impl KafkaContext {
    /// The refresh callback's answer, counted.
    pub(crate) fn oauth_token(&self) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        let token = self.auth.token();
        let outcome = if token.is_ok() { "ok" } else { "error" };
        counter!(telemetry::KAFKA_TOKEN_REFRESHES, "outcome" => outcome).increment(1);
        if let Err(e) = &token {
            tracing::warn!(error = %e, "no MSK IAM token for librdkafka; it asks again shortly");
        }
        token
    }
}

impl ClientContext for KafkaContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        _oauthbearer_config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        self.oauth_token()
    }
}
