//! The shared SDK configuration reaches the moto sandbox and identifies the caller.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use groundwork_cloud::{AwsSettings, CallerIdentity, config};
use groundwork_testkit::MotoServer;

#[tokio::test]
async fn caller_identity_comes_from_the_sandbox() {
    let moto = MotoServer::start().expect("moto_server");
    let settings = AwsSettings::sandbox(moto.endpoint());
    let sdk = config::load(&settings).await;
    let sdk = sdk
        .into_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new("testing", "testing", None, None, "tests"),
            ),
        )
        .build();
    let me = CallerIdentity::fetch(&sdk).await.unwrap();
    assert_eq!(me.account, "123456789012");
    assert!(!me.is_root(), "{}", me.arn);
    assert_eq!(
        config::billing(&sdk).region().unwrap().as_ref(),
        "us-east-1"
    );
}
