//! The `groundwork-eventbus` binary: kit's service `main` (settings, logging, signals),
//! then [`groundwork_eventbus::serve`].

use std::process::ExitCode;

use clap::Parser;
use groundwork_eventbus::Settings;

#[derive(Debug, Parser)]
#[command(
    name = "groundwork-eventbus",
    version,
    about = "EventBridge on NATS JetStream"
)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
}

fn main() -> ExitCode {
    groundwork_kit::service::main("eventbus", |cli: Cli, shutdown| async move {
        let settings = cli.settings;
        let listener = groundwork_kit::grpc::bind(settings.listen).await?;
        let client = groundwork_eventbus::connect(&settings).await?;
        Ok(groundwork_eventbus::serve(settings, client, listener, shutdown).await?)
    })
}
