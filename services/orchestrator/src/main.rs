//! The `groundwork-orchestrator` binary: kit's service `main` (settings, logging, signals),
//! then [`groundwork_orchestrator::serve`].

use std::process::ExitCode;

use groundwork_orchestrator::Settings;

fn main() -> ExitCode {
    groundwork_kit::service::main("orchestrator", |settings: Settings, shutdown| async move {
        let listener =
            groundwork_kit::grpc::bind_checked(settings.listen, &settings.common).await?;
        let client = groundwork_orchestrator::connect(&settings).await?;
        Ok(groundwork_orchestrator::serve(settings, client, listener, shutdown).await?)
    })
}
