//! The `groundwork-identity` binary: kit's service `main` (settings, logging, signals),
//! then [`groundwork_identity::serve`].

use std::process::ExitCode;

use groundwork_identity::Settings;

fn main() -> ExitCode {
    groundwork_kit::service::main("identity", |settings: Settings, shutdown| async move {
        let listener =
            groundwork_kit::grpc::bind_checked(settings.listen, &settings.common).await?;
        let sdk = groundwork_identity::aws_config(&settings).await;
        let client = groundwork_identity::connect(&settings).await?;
        Ok(groundwork_identity::serve(
            settings,
            groundwork_identity::Deps {
                aws: sdk,
                nats: client,
            },
            listener,
            shutdown,
        )
        .await?)
    })
}
