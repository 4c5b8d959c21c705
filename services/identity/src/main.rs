//! The `groundwork-identity` binary: flags and signals, then [`groundwork_identity::serve`].

use anyhow::Context;
use clap::Parser;
use groundwork_identity::Settings;
use groundwork_kit::Shutdown;
use groundwork_kit::telemetry::{self, LogFormat};

#[derive(Debug, Parser)]
#[command(
    name = "groundwork-identity",
    version,
    about = "An admin user instead of root, MFA, the password policy, and a root-hygiene audit"
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
    let sdk = groundwork_identity::aws_config(&cli.settings).await;
    let client = groundwork_identity::connect(&cli.settings).await?;
    groundwork_identity::serve(cli.settings, sdk, client, listener, shutdown)
        .await
        .context("the identity service stopped with an error")
}
