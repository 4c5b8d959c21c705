//! `groundwork secrets init`: writes the API tokens, the local CA and server certificate
//! and the NATS identities (one nkey per process, the nats-server configuration with their
//! permissions) that `groundwork up` makes, into a directory of one's choice (docker
//! compose's one-shot `secrets` service writes them into its secrets volume). Existing
//! files are kept; only paths are printed.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use groundwork_kit::secrets::LocalSecrets;

use crate::cmd::up::Secrets;
use crate::error::CliError;

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Write the operator and read-only tokens, the local TLS material and the NATS
    /// identities, once.
    Init(InitArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The directory to write to (made with mode 0700; files 0600).
    #[arg(long, default_value = ".groundwork/secrets")]
    dir: PathBuf,
}

pub fn run(command: SecretsCommand) -> Result<(), CliError> {
    match command {
        SecretsCommand::Init(args) => {
            let secrets = Secrets::ensure(&LocalSecrets::at(&args.dir))?;
            // Paths only: the tokens themselves are never printed.
            println!("operator token   {}", secrets.operator_token.display());
            println!("read-only token  {}", secrets.read_only_token.display());
            println!("TLS CA           {}", secrets.tls.ca_cert.display());
            println!("server cert      {}", secrets.tls.server_cert.display());
            println!("NATS config      {}", secrets.nats_config.display());
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
