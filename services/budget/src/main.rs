//! The `groundwork-budget` binary: flags and signals, then [`groundwork_budget::serve`].

use anyhow::Context;
use clap::Parser;
use groundwork_budget::Settings;
use groundwork_kit::Shutdown;
use groundwork_kit::telemetry::{self, LogFormat};

#[derive(Debug, Parser)]
#[command(
    name = "groundwork-budget",
    version,
    about = "AWS Budgets: credits and spend budgets, thresholds, subscribers, and a spend watcher"
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
    let client = groundwork_budget::connect(&cli.settings).await?;
    let clients = groundwork_budget::aws_clients(&cli.settings).await;
    groundwork_budget::serve(cli.settings, clients, client, listener, shutdown)
        .await
        .context("the budget service stopped with an error")
}
