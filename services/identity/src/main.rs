//! The `groundwork-identity` binary: kit's service `main` (settings, logging, signals),
//! then [`groundwork_identity::serve`].

use std::process::ExitCode;

use clap::Parser;
use groundwork_identity::Settings;

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

fn main() -> ExitCode {
    groundwork_kit::service::main("identity", |cli: Cli, shutdown| async move {
        let settings = cli.settings;
        let listener = groundwork_kit::grpc::bind(settings.listen).await?;
        let sdk = groundwork_identity::aws_config(&settings).await;
        let client = groundwork_identity::connect(&settings).await?;
        Ok(groundwork_identity::serve(settings, sdk, client, listener, shutdown).await?)
    })
}
