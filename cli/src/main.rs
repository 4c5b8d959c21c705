//! `groundwork`: the command line client of every Groundwork API.
//!
//! Exit codes: 0 success; 1 the operation failed; 2 invalid input or usage (reason on stderr).

mod cmd;
mod connect;
mod error;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::connect::Endpoints;
use crate::output::OutputFormat;

#[derive(Debug, Parser)]
#[command(
    name = "groundwork",
    version,
    about = "First-day safety setup of an AWS account, and watching it"
)]
struct Cli {
    #[command(flatten)]
    endpoints: Endpoints,

    /// How to print data: human tables, or JSON for scripts.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Publish events to a bus and follow a bus.
    #[command(subcommand)]
    Events(cmd::events::EventsCommand),
    /// Alerting: the SNS topic and subscriptions, the billing alarm, test notifications.
    #[command(subcommand)]
    Alerting(cmd::alerting::AlertingCommand),
    /// AWS budgets: ensure (create or correct in place), list, delete, import the AWS CLI files.
    #[command(subcommand)]
    Budgets(cmd::budgets::BudgetsCommand),
    /// Test event patterns against events, offline.
    #[command(subcommand)]
    Pattern(cmd::pattern::PatternCommand),
    /// Ask every service (or one) whether it is serving.
    Health(cmd::health::HealthArgs),
    /// Stop working as root: audit, the admin user, MFA, password policy, billing access.
    #[command(subcommand)]
    Identity(cmd::identity::IdentityCommand),
    /// Event bus rules: put, list, delete.
    #[command(subcommand)]
    Rules(cmd::rules::RulesCommand),
    /// Targets of a rule: put, list, remove.
    #[command(subcommand)]
    Targets(cmd::targets::TargetsCommand),
    /// Dead letters of a bus: list, redrive.
    #[command(subcommand)]
    Dlq(cmd::dlq::DlqCommand),
    /// Replays of an archive: start, describe.
    #[command(subcommand)]
    Replay(cmd::replay::ReplayCommand),
    /// Run the local stack: nats-server, moto_server (sandbox AWS) and every service.
    Up(cmd::up::UpArgs),
    /// Secrets: the local stack's (API tokens, TLS material, NATS identities, the key that
    /// seals one-time secrets), and the one-time secrets of a run that wait for you.
    #[command(subcommand)]
    Secrets(cmd::secrets::SecretsCommand),
    /// Check a spec (groundwork.toml): offline (unknown fields, emails, amounts, ARNs), and
    /// with --live against the account (the IAM policies it names exist).
    Validate(cmd::orchestrator::ValidateArgs),
    /// Show what applying a spec would change, per resource.
    Plan(cmd::orchestrator::PlanArgs),
    /// Apply a spec as a durable run; waits for you where a person is needed.
    Apply(cmd::orchestrator::ApplyArgs),
    /// Follow a run until it ends.
    Watch(cmd::orchestrator::WatchArgs),
    /// Remove what a spec created, in reverse dependency order.
    Destroy(cmd::orchestrator::SpecArgs),
    /// Draw the conceptual and logical architecture of a spec (Mermaid).
    Diagram(cmd::orchestrator::DiagramArgs),
    /// The kill switch: whether budget crossings stopped new spend, and releasing it.
    #[command(subcommand)]
    Guardrails(cmd::guardrails::GuardrailsCommand),
    /// Finish the admin's MFA enrollment with two codes, or restart it when the seed was lost.
    #[command(subcommand)]
    Mfa(cmd::orchestrator::MfaCommand),
}

/// `groundwork … | head` closes the pipe before the CLI is done printing; `println!` then
/// panics. The rest of the output is not wanted, so the CLI stops quietly with 0 instead,
/// as `head` asked. Not for `up`: it must stop the processes it started, which the normal
/// way out does.
fn quiet_when_the_reader_is_gone() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if !matches!(cli.command, Command::Up(_)) {
        quiet_when_the_reader_is_gone();
    }
    let result = match cli.command {
        Command::Events(c) => cmd::events::run(c, &cli.endpoints, cli.output).await,
        Command::Alerting(c) => cmd::alerting::run(c, &cli.endpoints, cli.output).await,
        Command::Budgets(c) => cmd::budgets::run(c, &cli.endpoints, cli.output).await,
        Command::Pattern(c) => cmd::pattern::run(c),
        Command::Rules(c) => cmd::rules::run(c, &cli.endpoints, cli.output).await,
        Command::Targets(c) => cmd::targets::run(c, &cli.endpoints, cli.output).await,
        Command::Dlq(c) => cmd::dlq::run(c, &cli.endpoints, cli.output).await,
        Command::Replay(c) => cmd::replay::run(c, &cli.endpoints, cli.output).await,
        Command::Up(args) => cmd::up::run(args).await,
        Command::Secrets(c) => cmd::secrets::run(c, &cli.endpoints, cli.output).await,
        Command::Validate(a) => cmd::orchestrator::validate(a, &cli.endpoints, cli.output).await,
        Command::Plan(a) => cmd::orchestrator::plan(a, &cli.endpoints, cli.output).await,
        Command::Apply(a) => cmd::orchestrator::apply(a, &cli.endpoints, cli.output).await,
        Command::Watch(a) => cmd::orchestrator::watch(a, &cli.endpoints, cli.output).await,
        Command::Destroy(a) => cmd::orchestrator::destroy(a, &cli.endpoints, cli.output).await,
        Command::Diagram(a) => cmd::orchestrator::diagram(a, &cli.endpoints).await,
        Command::Mfa(c) => cmd::orchestrator::mfa(c, &cli.endpoints, cli.output).await,
        Command::Health(args) => cmd::health::run(args, &cli.endpoints, cli.output).await,
        Command::Identity(c) => cmd::identity::run(c, &cli.endpoints, cli.output).await,
        Command::Guardrails(c) => cmd::guardrails::run(c, &cli.endpoints, cli.output).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("groundwork: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
