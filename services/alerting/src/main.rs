//! The `groundwork-alerting` binary: flags, signals and the AWS configuration, then
//! [`groundwork_alerting::serve`].

use anyhow::Context;
use clap::Parser;
use groundwork_alerting::Settings;
use groundwork_cloud::AwsSettings;
use groundwork_kit::Shutdown;
use groundwork_kit::telemetry::{self, LogFormat};

#[derive(Debug, Parser)]
#[command(
    name = "groundwork-alerting",
    version,
    about = "SNS topic and subscriptions, the billing alarm, alarm state events, notifications"
)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(LogFormat::from_env()).map_err(anyhow::Error::msg)?;
    let shutdown = Shutdown::new();
    shutdown.on_signals();
    let aws = groundwork_cloud::config::load(&AwsSettings::new()).await;
    let listener = groundwork_kit::grpc::bind(cli.settings.listen).await?;
    let client = groundwork_alerting::connect(&cli.settings).await?;
    groundwork_alerting::serve(cli.settings, client, aws, listener, shutdown)
        .await
        .context("the alerting service stopped with an error")
}
