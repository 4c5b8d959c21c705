//! `groundwork secrets init`: writes the API tokens, the local CA and server certificate,
//! the NATS identities (one nkey per process, the nats-server configuration with their
//! permissions) and the orchestrator's key that seals one-time secrets, as `groundwork up`
//! makes them, into a directory of one's choice (docker compose's one-shot `secrets`
//! service writes them into its secrets volume). Existing files are kept; only paths are
//! printed.
//!
//! `groundwork secrets show RUN`: the one-time secrets of a run that wait for the person
//! (the admin's initial password, the MFA seed and its URI), shown once on a terminal and
//! then acknowledged, so that the orchestrator forgets them. Off a terminal it refuses.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use groundwork_kit::secrets::LocalSecrets;
use groundwork_proto::v1 as pb;
use serde_json::json;

use crate::cmd::one_time::{self, Delivery};
use crate::cmd::orchestrator::{acknowledge, client, secrets_from_pb};
use crate::cmd::up::Secrets;
use crate::connect::Endpoints;
use crate::error::CliError;
use crate::output::OutputFormat;

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Write the operator and read-only tokens, the local TLS material, the NATS
    /// identities and the key that seals one-time secrets, once.
    Init(InitArgs),
    /// Show, once, the one-time secrets of a run that wait for you (the admin's initial
    /// password, the MFA seed): on a terminal only. The orchestrator then forgets them.
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The run id that `groundwork apply` (or compose's `setup`) printed.
    pub run: String,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The directory to write to (made with mode 0700; files 0600).
    #[arg(long, default_value = ".groundwork/secrets")]
    dir: PathBuf,
}

pub async fn run(
    command: SecretsCommand,
    endpoints: &Endpoints,
    output: OutputFormat,
) -> Result<(), CliError> {
    match command {
        SecretsCommand::Show(args) => show(args, endpoints, output).await,
        SecretsCommand::Init(args) => {
            let secrets = Secrets::ensure(&LocalSecrets::at(&args.dir))?;
            // Paths only: the tokens themselves are never printed.
            println!("operator token   {}", secrets.operator_token.display());
            println!("read-only token  {}", secrets.read_only_token.display());
            println!("TLS CA           {}", secrets.tls.ca_cert.display());
            println!("server cert      {}", secrets.tls.server_cert.display());
            println!("NATS config      {}", secrets.nats_config.display());
            println!(
                "one-time key     {}  (the orchestrator's GROUNDWORK_ORCHESTRATOR__SECRETS_KEY_FILE)",
                secrets.one_time_secrets_key.display()
            );
            for p in groundwork_bus::access::Principal::ALL {
                println!(
                    "NATS identity    {:<13} NATS_NKEY={}",
                    p.name(),
                    secrets.nats.seed_file(p).display()
                );
            }
            Ok(())
        }
    }
}

/// What a step that never delivered its secrets needs now that they are gone.
fn lost_hint(step: &pb::SetupStep) -> Option<String> {
    if step.outputs.get("secrets_delivered").map(String::as_str) != Some("no") {
        return None;
    }
    let user = step.resource.split_once('/').map_or("", |(_, u)| u);
    match step.kind.as_str() {
        "admin-user" => Some(format!(
            "the initial password of {} was never shown and is no longer held: issue a new \
             one with `groundwork identity reset-password --user {user}`",
            step.resource
        )),
        "mfa-device" => Some(format!(
            "the MFA seed of {} was never shown and is no longer held: issue a new one with \
             `groundwork mfa restart --user {user}`",
            step.resource
        )),
        _ => None,
    }
}

/// `groundwork secrets show RUN`.
async fn show(args: ShowArgs, endpoints: &Endpoints, output: OutputFormat) -> Result<(), CliError> {
    // A terminal only: this is the person's own look at the secrets, never a script's.
    let delivery = Delivery::terminal_only("groundwork secrets show")?;
    let mut client = client(endpoints).await?;
    let waiting = client
        .fetch_one_time_secrets(pb::FetchOneTimeSecretsRequest {
            run_id: args.run.clone(),
        })
        .await?
        .into_inner()
        .secrets;
    if waiting.is_empty() {
        let run = client
            .get_run(pb::GetRunRequest {
                run_id: args.run.clone(),
            })
            .await?
            .into_inner();
        let hints: Vec<String> = run.steps.iter().filter_map(lost_hint).collect();
        match output {
            OutputFormat::Json => println!("{}", json!({"secrets": [], "lost": hints})),
            OutputFormat::Table => {
                println!("no one-time secret of run {} waits for you", args.run);
                for h in &hints {
                    println!("  {h}");
                }
            }
        }
        return Ok(());
    }
    one_time::hand_over(&secrets_from_pb(&waiting), &args.run, &delivery, output)?;
    let ack = acknowledge(&mut client, &args.run, &waiting, &delivery).await?;
    if output == OutputFormat::Table {
        println!(
            "{} secret(s) delivered; the orchestrator no longer holds them ({} still waiting)",
            ack.delivered, ack.remaining
        );
    }
    Ok(())
}
