//! `groundwork-aws-standin`: the AWS stand-in (`groundwork_testkit::standin`) as a process,
//! in front of moto_server: the Free Tier API and AWS Budgets' actions answered here,
//! every other request passed to moto. `groundwork up` starts it in the sandbox and points
//! the services' Budgets and Free Tier endpoints at it.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use groundwork_testkit::standin::{self, AccountPlan};

/// The AWS stand-in for the sandbox.
#[derive(Debug, Parser)]
#[command(name = "groundwork-aws-standin", version)]
struct Args {
    /// Where to listen.
    #[arg(
        long,
        env = "GROUNDWORK_STANDIN__LISTEN",
        default_value = "127.0.0.1:5001"
    )]
    listen: SocketAddr,
    /// The AWS endpoint every other request goes to (moto_server).
    #[arg(
        long,
        env = "GROUNDWORK_STANDIN__UPSTREAM",
        default_value = "http://127.0.0.1:5000"
    )]
    upstream: String,
    /// The plan GetAccountPlanState answers: `free` or `paid`.
    #[arg(long, env = "GROUNDWORK_STANDIN__PLAN", default_value = "free", value_parser = ["free", "paid"])]
    plan: String,
    /// The Free plan's remaining credits, in USD.
    #[arg(
        long,
        env = "GROUNDWORK_STANDIN__REMAINING_CREDITS",
        default_value_t = 100.0
    )]
    remaining_credits: f64,
    /// When the Free plan ends (RFC 3339); six months from now when unset.
    #[arg(long, env = "GROUNDWORK_STANDIN__PLAN_EXPIRES")]
    plan_expires: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let plan = match args.plan.as_str() {
        "paid" => AccountPlan::paid(),
        _ => {
            let mut plan = AccountPlan::new_account();
            plan.remaining_credits = Some(args.remaining_credits);
            if let Some(expires) = args.plan_expires {
                plan.expiration_date = Some(expires);
            }
            plan
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("groundwork-aws-standin: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(args.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!(
                    "groundwork-aws-standin: cannot listen on {}: {e}",
                    args.listen
                );
                return ExitCode::FAILURE;
            }
        };
        println!(
            "groundwork-aws-standin on http://{} in front of {} (plan {})",
            args.listen, args.upstream, args.plan
        );
        let stop = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending().await,
            }
        };
        standin::serve_with(listener, args.upstream, plan, async {
            tokio::select! {
                () = stop => {}
                () = term => {}
            }
        })
        .await;
        ExitCode::SUCCESS
    })
}
