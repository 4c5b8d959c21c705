//! The `groundwork-eventbus` binary: kit's service `main` (settings, logging, signals),
//! then [`groundwork_eventbus::serve`].

use std::process::ExitCode;

use groundwork_eventbus::Settings;

fn main() -> ExitCode {
    groundwork_kit::service::main("eventbus", |settings: Settings, shutdown| async move {
        let listener =
            groundwork_kit::grpc::bind_checked(settings.listen, &settings.common).await?;
        let client = groundwork_eventbus::connect(&settings).await?;
        Ok(groundwork_eventbus::serve(settings, client, listener, shutdown).await?)
    })
}
