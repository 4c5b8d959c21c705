//! `groundwork secrets init`: writes the API tokens, the local CA and server certificate,
//! the NATS identities (one nkey per process, the nats-server configuration with their
//! permissions) and the orchestrator's key that seals one-time secrets, as `groundwork up`
//! makes them, into a directory of one's choice (docker compose's one-shot `secrets`
//! service writes them into its secrets volume). Existing files are kept; only paths are
//! printed. With `--nats-cluster nats-1,nats-2,nats-3` it also writes the configuration of
//! each node of a NATS cluster whose nodes reach each other by those names (compose's
//! `cluster` profile), routes authenticated with a password of the cluster's own.
//!
//! `groundwork secrets show RUN`: the one-time secrets of a run that wait for the person
//! (the admin's initial password, the MFA seed and its URI), shown once on a terminal and
//! then acknowledged, so that the orchestrator forgets them. Off a terminal it refuses.

use std::path::{Path, PathBuf};

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
    /// Also write the configuration of each node of a NATS cluster, one per name given
    /// (comma separated; each node's host name, as the others reach it):
    /// `nats/cluster/<name>.json`. Each listens on 0.0.0.0 (clients on 4222, routes on
    /// 6222), routes to every node by name, and keeps its JetStream store in
    /// `--nats-store-dir`. The routes' password is made once (`nats/cluster/route-password`).
    #[arg(long, value_delimiter = ',')]
    nats_cluster: Vec<String>,
    /// Where each cluster node keeps its JetStream store (its own volume).
    #[arg(long, default_value = "/data")]
    nats_store_dir: PathBuf,
}

/// The ports of a cluster node `secrets init --nats-cluster` configures: NATS's own
/// defaults, since each node has a host (a container) of its own.
const NODE_CLIENT_PORT: u16 = 4222;
const NODE_ROUTE_PORT: u16 = 6222;

/// The name of the cluster `secrets init --nats-cluster` configures, as nats-server reports
/// it (the same as `groundwork up --nats-cluster`'s).
const CLUSTER_NAME: &str = "groundwork";

/// Refuses node names that are no host names, and fewer than three nodes.
fn check_node_names(names: &[String]) -> Result<(), CliError> {
    if let Some(bad) = names.iter().find(|n| {
        n.is_empty()
            || !n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    }) {
        return Err(CliError::usage(format!(
            "--nats-cluster takes host names (letters, digits, '-' and '.'), comma separated; \
             '{bad}' is not one"
        )));
    }
    if names.len() < 3 {
        return Err(CliError::usage(format!(
            "--nats-cluster needs three nodes or more (a majority must survive the loss of \
             one); {} given",
            names.len()
        )));
    }
    Ok(())
}

/// Writes `nats/cluster/<name>.json` for each of `names` (see [`InitArgs::nats_cluster`]);
/// returns the files.
fn write_cluster_configs(
    secrets: &Secrets,
    names: &[String],
    store_dir: &Path,
) -> Result<Vec<PathBuf>, CliError> {
    let dir = secrets.nats_config.with_file_name("cluster");
    let failed = |e: &dyn std::fmt::Display| {
        CliError::failed(format!(
            "cannot write the NATS cluster's configuration under {}: {e}",
            dir.display()
        ))
    };
    groundwork_kit::secrets::ensure_private_dir(&dir).map_err(|e| failed(&e))?;
    // One password for every node's routes, kept: nodes written by an earlier run still
    // route with the ones written now.
    let password_file = dir.join("route-password");
    let password = match groundwork_kit::secrets::read_tokens(&password_file) {
        Ok(tokens) if !tokens.is_empty() => tokens[0].clone(),
        _ => {
            let token = groundwork_kit::secrets::new_token().map_err(|e| failed(&e))?;
            groundwork_kit::secrets::write_private(&password_file, format!("{token}\n").as_bytes())
                .map_err(|e| failed(&e))?;
            token
        }
    };
    let base = std::fs::read_to_string(&secrets.nats_config).map_err(|e| failed(&e))?;
    let routes: Vec<String> = names
        .iter()
        .map(|n| format!("{n}:{NODE_ROUTE_PORT}"))
        .collect();
    let mut files = Vec::with_capacity(names.len());
    for name in names {
        let config = groundwork_bus::access::cluster_node_config(
            &base,
            &groundwork_bus::access::ClusterNode {
                name,
                cluster: CLUSTER_NAME,
                host: "0.0.0.0",
                client_port: NODE_CLIENT_PORT,
                route_port: NODE_ROUTE_PORT,
                store_dir,
                routes: &routes,
                route_password: &password,
            },
        )
        .map_err(|e| failed(&e))?;
        let path = dir.join(format!("{name}.json"));
        groundwork_kit::secrets::write_private(&path, config.as_bytes()).map_err(|e| failed(&e))?;
        files.push(path);
    }
    Ok(files)
}

pub async fn run(
    command: SecretsCommand,
    endpoints: &Endpoints,
    output: OutputFormat,
) -> Result<(), CliError> {
    match command {
        SecretsCommand::Show(args) => show(args, endpoints, output).await,
        SecretsCommand::Init(args) => {
            if !args.nats_cluster.is_empty() {
                check_node_names(&args.nats_cluster)?;
            }
            let secrets = Secrets::ensure(&LocalSecrets::at(&args.dir))?;
            let cluster = if args.nats_cluster.is_empty() {
                Vec::new()
            } else {
                write_cluster_configs(&secrets, &args.nats_cluster, &args.nats_store_dir)?
            };
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
            for file in &cluster {
                println!("NATS node        {}", file.display());
            }
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
