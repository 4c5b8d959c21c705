//! The `groundwork-budget` binary: kit's service `main` (settings, logging, signals),
//! then [`groundwork_budget::serve`].

use std::process::ExitCode;

use clap::Parser;
use groundwork_budget::Settings;

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

fn main() -> ExitCode {
    groundwork_kit::service::main("budget", |cli: Cli, shutdown| async move {
        let settings = cli.settings;
        let listener = groundwork_kit::grpc::bind(settings.listen).await?;
        let client = groundwork_budget::connect(&settings).await?;
        let clients = groundwork_budget::aws_clients(&settings).await;
        Ok(groundwork_budget::serve(settings, clients, client, listener, shutdown).await?)
    })
}
