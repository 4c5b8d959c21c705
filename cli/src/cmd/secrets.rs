//! `groundwork secrets init`: writes the API tokens and the local CA and server
//! certificate that `groundwork up` makes, into a directory of one's choice (docker compose's
//! one-shot `secrets` service writes them into its secrets volume). Existing files are kept.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use groundwork_kit::secrets::LocalSecrets;

use crate::cmd::up::Secrets;
use crate::error::CliError;

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Write the operator and read-only tokens and the local TLS material, once.
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
            Ok(())
        }
    }
}
