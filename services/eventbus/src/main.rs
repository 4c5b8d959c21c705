//! The `groundwork-eventbus` binary: flags and signals, then [`groundwork_eventbus::serve`].

use anyhow::Context;
use clap::Parser;
use groundwork_eventbus::Settings;
use groundwork_kit::Shutdown;
use groundwork_kit::telemetry::{self, LogFormat};

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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(LogFormat::from_env()).map_err(anyhow::Error::msg)?;
    let shutdown = Shutdown::new();
    shutdown.on_signals();
    let listener = groundwork_kit::grpc::bind(cli.settings.listen).await?;
    let client = groundwork_eventbus::connect(&cli.settings).await?;
    groundwork_eventbus::serve(cli.settings, client, listener, shutdown)
        .await
        .context("the event bus stopped with an error")
}
