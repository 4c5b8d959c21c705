//! `groundwork health`: asks each service's `grpc.health.v1` whether it is serving. Used by
//! people, scripts and container health checks (exit 0 only when every asked service is).

use clap::Args;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::connect::Endpoints;
use crate::error::CliError;
use crate::output::{OutputFormat, print_json, print_table};

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Only this service (eventbus, identity, budget, alerting); all when omitted.
    #[arg(long)]
    service: Option<String>,
}

pub async fn run(
    args: HealthArgs,
    endpoints: &Endpoints,
    output: OutputFormat,
) -> Result<(), CliError> {
    let all = endpoints.all();
    let chosen: Vec<(&str, String)> = match &args.service {
        None => all,
        Some(name) => {
            let found: Vec<_> = all.into_iter().filter(|(n, _)| n == name).collect();
            if found.is_empty() {
                return Err(CliError::usage(format!(
                    "unknown service '{name}'; one of eventbus, identity, budget, alerting"
                )));
            }
            found
        }
    };
    let mut rows = Vec::new();
    let mut healthy = true;
    for (name, url) in chosen {
        let status = match endpoints
            .connect(&url, name, "the service's URL variable")
            .await
        {
            Ok(conn) => match HealthClient::new(conn)
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
            {
                Ok(r) if r.get_ref().status == ServingStatus::Serving as i32 => {
                    "serving".to_owned()
                }
                Ok(_) => "not serving".to_owned(),
                Err(e) => format!("error: {}", e.message()),
            },
            Err(_) => "unreachable".to_owned(),
        };
        healthy &= status == "serving";
        rows.push(vec![name.to_owned(), url, status]);
    }
    match output {
        OutputFormat::Table => print_table(&["SERVICE", "URL", "STATUS"], &rows),
        OutputFormat::Json => print_json(&serde_json::Value::Array(
            rows.iter()
                .map(|r| serde_json::json!({"service": r[0], "url": r[1], "status": r[2]}))
                .collect(),
        )),
    }
    if healthy {
        Ok(())
    } else {
        Err(CliError::failed("not every service is serving"))
    }
}
