//! The `groundwork-budget` binary: kit's service `main` (settings, logging, signals),
//! then [`groundwork_budget::serve`].

use std::process::ExitCode;

use groundwork_budget::Settings;

fn main() -> ExitCode {
    groundwork_kit::service::main("budget", |settings: Settings, shutdown| async move {
        let listener =
            groundwork_kit::grpc::bind_checked(settings.listen, &settings.common).await?;
        let client = groundwork_budget::connect(&settings).await?;
        let clients = groundwork_budget::aws_clients(&settings).await;
        Ok(groundwork_budget::serve(
            settings,
            groundwork_budget::Deps {
                aws: clients,
                nats: client,
            },
            listener,
            shutdown,
        )
        .await?)
    })
}
