//! The AWS SDK configuration every client of the process (RDS, DynamoDB) is built from.

/// The SDK configuration for `region` (empty: the default chain's), an optional endpoint
/// override (a simulator, DynamoDB Local, a VPC endpoint) and optional static keys (tests);
/// without keys, credentials come from the default chain (environment, EKS Pod Identity, IRSA,
/// instance profile).
pub(crate) async fn sdk_config(
    region: &str,
    endpoint_url: &str,
    access_key_id: &str,
    secret_access_key: &str,
) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if !region.is_empty() {
        loader = loader.region(aws_config::Region::new(region.to_string()));
    }
    if !endpoint_url.is_empty() {
        loader = loader.endpoint_url(endpoint_url);
    }
    if !access_key_id.is_empty() {
        loader = loader.credentials_provider(aws_credential_types::Credentials::new(
            access_key_id,
            secret_access_key,
            None,
            None,
            "aurora-logs-config",
        ));
    }
    loader.load().await
}
