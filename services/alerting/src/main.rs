//! The `groundwork-alerting` binary: kit's service `main` (settings, logging, signals),
//! then [`groundwork_alerting::serve`].

use std::process::ExitCode;

use groundwork_alerting::Settings;

fn main() -> ExitCode {
    groundwork_kit::service::main("alerting", |settings: Settings, shutdown| async move {
        let aws = groundwork_cloud::config::for_service(&settings.common).await;
        let listener =
            groundwork_kit::grpc::bind_checked(settings.listen, &settings.common).await?;
        let client = groundwork_alerting::connect(&settings).await?;
        Ok(groundwork_alerting::serve(
            settings,
            groundwork_alerting::Deps { aws, nats: client },
            listener,
            shutdown,
        )
        .await?)
    })
}
