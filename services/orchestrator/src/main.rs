//! The `groundwork-orchestrator` binary: kit's service `main` (settings, logging, signals),
//! then [`groundwork_orchestrator::serve`].

use std::process::ExitCode;

use clap::Parser;
use groundwork_orchestrator::Settings;

#[derive(Debug, Parser)]
#[command(
    name = "groundwork-orchestrator",
    version,
    about = "One spec to plan, apply as a durable run, wait for a person, resume and watch"
)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
}

fn main() -> ExitCode {
    groundwork_kit::service::main("orchestrator", |cli: Cli, shutdown| async move {
        let settings = cli.settings;
        let listener = groundwork_kit::grpc::bind(settings.listen).await?;
        let client = groundwork_orchestrator::connect(&settings).await?;
        Ok(groundwork_orchestrator::serve(settings, client, listener, shutdown).await?)
    })
}
