//! `groundwork credentials init`: the local stack's credentials, made once and reused —
//! one NATS nkey per identity and the nats-server configuration with their permissions —
//! under the secrets directory (mode 0700, files 0600). `groundwork up` does the same
//! before it starts anything; compose runs it in a one-shot service on its secrets volume.
//! Only paths are printed, never a secret.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use groundwork_bus::access::{LocalCredentials, Principal};

use crate::error::CliError;

/// The secrets directory of the local stack, relative to where `groundwork up` runs.
pub const DEFAULT_DIR: &str = ".groundwork/secrets";

#[derive(Debug, Subcommand)]
pub enum CredentialsCommand {
    /// Make what is missing (existing credentials are kept) and print where it is.
    Init(InitArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The secrets directory.
    #[arg(long, default_value = DEFAULT_DIR)]
    dir: PathBuf,
}

/// What [`init`] made or found.
#[derive(Debug)]
pub struct Credentials {
    pub nats: LocalCredentials,
    /// The nats-server configuration (`nats-server -c`).
    pub nats_config: PathBuf,
}

/// Makes the missing credentials under `dir` and writes the nats-server configuration.
pub fn init(dir: &Path) -> Result<Credentials, CliError> {
    groundwork_bus::access::private_dir(dir)
        .map_err(|e| CliError::failed(format!("the secrets directory: {e}")))?;
    let nats = LocalCredentials::ensure(dir.join("nats"))
        .map_err(|e| CliError::failed(format!("NATS credentials: {e}")))?;
    let nats_config = nats
        .write_server_config()
        .map_err(|e| CliError::failed(format!("NATS configuration: {e}")))?;
    Ok(Credentials { nats, nats_config })
}

pub fn run(command: CredentialsCommand) -> Result<(), CliError> {
    match command {
        CredentialsCommand::Init(args) => {
            let made = init(&args.dir)?;
            println!("nats-server configuration  {}", made.nats_config.display());
            for p in Principal::ALL {
                println!(
                    "NATS identity {:<13} NATS_NKEY={}",
                    p.name(),
                    made.nats.seed_file(p).display()
                );
            }
            Ok(())
        }
    }
}
