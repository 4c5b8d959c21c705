//! The `groundwork-alerting` binary: kit's service `main` (settings, logging, signals),
//! then [`groundwork_alerting::serve`].

use std::process::ExitCode;

use clap::Parser;
use groundwork_alerting::Settings;

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

fn main() -> ExitCode {
    groundwork_kit::service::main("alerting", |cli: Cli, shutdown| async move {
        let settings = cli.settings;
        let aws = groundwork_cloud::config::for_service(&settings.common).await;
        let listener = groundwork_kit::grpc::bind(settings.listen).await?;
        let client = groundwork_alerting::connect(&settings).await?;
        Ok(groundwork_alerting::serve(settings, client, aws, listener, shutdown).await?)
    })
}
