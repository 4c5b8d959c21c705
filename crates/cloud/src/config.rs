//! One AWS SDK configuration per process, loaded once and shared by every client.
//!
//! The standard variables work as they do for the AWS CLI: credentials from the default
//! chain (`AWS_ACCESS_KEY_ID`…, `AWS_PROFILE`, SSO, process credentials), `AWS_REGION`,
//! and `AWS_ENDPOINT_URL` (the moto sandbox). TLS is rustls with the ring provider, the
//! same stack the NATS client uses.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// Billing metrics, budgets and billing alarms live in this region, whatever the working
/// region is.
pub const BILLING_REGION: &str = "us-east-1";

/// How to reach AWS. Everything is optional: the SDK's own variables fill the gaps.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    /// Overrides `AWS_REGION` / the profile's region.
    pub region: Option<String>,
    /// Overrides `AWS_ENDPOINT_URL` (e.g. `http://127.0.0.1:5000` for moto).
    pub endpoint_url: Option<String>,
    /// Attempts per call, counting the first (the SDK's standard retry mode).
    pub max_attempts: u32,
}

impl AwsSettings {
    pub fn new() -> Self {
        Self {
            region: None,
            endpoint_url: None,
            max_attempts: 3,
        }
    }

    /// Settings for a sandbox endpoint (tests, the local stack).
    pub fn sandbox(endpoint_url: impl Into<String>) -> Self {
        Self {
            region: Some(BILLING_REGION.to_owned()),
            endpoint_url: Some(endpoint_url.into()),
            max_attempts: 3,
        }
    }
}

impl From<&groundwork_kit::CommonSettings> for AwsSettings {
    /// A service's AWS settings from its common settings: its retry setting; region and
    /// endpoint from the SDK's own variables.
    fn from(common: &groundwork_kit::CommonSettings) -> Self {
        Self {
            max_attempts: common.aws_max_attempts,
            ..Self::new()
        }
    }
}

/// The one SDK configuration of a service, from its common settings.
pub async fn for_service(common: &groundwork_kit::CommonSettings) -> SdkConfig {
    load(&AwsSettings::from(common)).await
}

/// Loads the shared SDK configuration.
pub async fn load(settings: &AwsSettings) -> SdkConfig {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .retry_config(RetryConfig::standard().with_max_attempts(settings.max_attempts.max(1)))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(30))
                .build(),
        );
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint) = &settings.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    let config = loader.load().await;
    if config.region().is_none() {
        // Without a region every call fails; default as the console does.
        return config
            .into_builder()
            .region(Region::new(BILLING_REGION))
            .build();
    }
    config
}

/// The same configuration pinned to us-east-1, for billing metrics, alarms and budgets.
pub fn billing(config: &SdkConfig) -> SdkConfig {
    config
        .clone()
        .into_builder()
        .region(Region::new(BILLING_REGION))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_service_takes_its_retry_setting_from_the_common_settings() {
        let mut common = groundwork_kit::CommonSettings::for_nats("nats://127.0.0.1:1");
        common.aws_max_attempts = 7;
        let config = for_service(&common).await;
        let retry = config.retry_config().map(|r| r.max_attempts());
        assert_eq!(retry, Some(7));
    }
}
