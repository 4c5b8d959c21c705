//! Benchmark (not a test): the first-day setup of `examples/groundwork.toml` by the
//! orchestrator, beside the same setup done by the equivalent `aws` CLI commands run one
//! after another, against the same moto, in the same run; and a no-op re-apply.
//!
//! ```sh
//! cargo bench -p groundwork-e2e --bench apply_vs_cli
//! # knobs: BENCH_ROUNDS (3)
//! ```
//!
//! Each round starts a fresh stack (nats-server, moto_server, the five services; not timed),
//! then times:
//! - `apply`: ApplySpec of the example spec until the run waits for the person, the person's
//!   part done by the program (two TOTP codes, the confirmation link), until COMPLETED;
//! - `re-apply`: the same spec again, until COMPLETED (nothing to change);
//! - `aws CLI`: the same resources under other names (`…-cli`), one `aws` command after
//!   another, as a hand-run script does it (the MFA codes computed between two commands).
//!
//! The AWS calls the services make pass the sandbox's front, which counts them; the CLI's
//! count is its number of commands (one call each).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use groundwork_e2e::flow::{MFA_STEP, SUB_STEP, apply, do_person_steps, finished, until};
use groundwork_e2e::{EXAMPLE_SPEC, Stack, StartError, step, two_consecutive_codes};
use groundwork_proto::v1 as pb;
use pb::{SetupRunStatus, SetupStepState};

const ACCOUNT: &str = "123456789012";
const EMAIL: &str = "ops@example.com";

fn main() {
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let aws = aws_cli();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => fail(&format!("tokio runtime: {e}")),
    };
    let startup = aws_startup(&aws);
    println!(
        "aws CLI start-up alone (`aws --version`, median of 3): {:.0} ms",
        ms(startup)
    );
    println!(
        "{:<6} {:>11} {:>10} {:>11} {:>10} {:>11} {:>10}  {:>10}",
        "round",
        "apply ms",
        "AWS calls",
        "re-apply ms",
        "AWS calls",
        "aws CLI ms",
        "commands",
        "CLI/apply"
    );
    let mut results = Vec::new();
    for round in 1..=rounds {
        let r = match runtime.block_on(one_round(&aws)) {
            Ok(r) => r,
            Err(e) => fail(&e.0),
        };
        println!(
            "{round:<6} {:>11.0} {:>4} ({:>2} w) {:>11.0} {:>4} ({:>2} w) {:>11.0} {:>10}  {:>9.2}×",
            ms(r.apply),
            r.apply_calls,
            r.apply_writes,
            ms(r.reapply),
            r.reapply_calls,
            r.reapply_writes,
            ms(r.cli),
            r.cli_commands,
            r.cli.as_secs_f64() / r.apply.as_secs_f64()
        );
        if round == 1 {
            println!(
                "       apply's writes: {}",
                r.apply_write_actions.join(", ")
            );
        }
        results.push(r);
    }
    let median = |f: &dyn Fn(&Round) -> Duration| {
        let mut v: Vec<Duration> = results.iter().map(f).collect();
        v.sort_unstable();
        v[v.len() / 2]
    };
    let (apply, reapply, cli) = (
        median(&|r| r.apply),
        median(&|r| r.reapply),
        median(&|r| r.cli),
    );
    println!(
        "median: apply {:.0} ms, no-op re-apply {:.0} ms, aws CLI {:.0} ms; the CLI takes {:.2}× the apply's time",
        ms(apply),
        ms(reapply),
        ms(cli),
        cli.as_secs_f64() / apply.as_secs_f64()
    );
}

fn fail(message: &str) -> ! {
    eprintln!("apply_vs_cli: {message}");
    std::process::exit(1);
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[derive(Debug)]
struct Round {
    apply: Duration,
    apply_calls: usize,
    apply_writes: usize,
    apply_write_actions: Vec<String>,
    reapply: Duration,
    reapply_calls: usize,
    reapply_writes: usize,
    cli: Duration,
    cli_commands: usize,
}

/// `.venv/bin/aws` (scripts/setup-venv installs the pinned awscli), else `aws` on PATH.
fn aws_cli() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/aws");
    if venv.is_file() {
        return venv;
    }
    match Command::new("aws").arg("--version").output() {
        Ok(o) if o.status.success() => PathBuf::from("aws"),
        _ => fail(
            "the aws CLI is missing: run ./scripts/setup-venv (it installs the pinned awscli in .venv)",
        ),
    }
}

fn aws_startup(aws: &Path) -> Duration {
    let mut times: Vec<Duration> = (0..3)
        .map(|_| {
            let t = Instant::now();
            let _ = Command::new(aws).arg("--version").output();
            t.elapsed()
        })
        .collect();
    times.sort_unstable();
    times[1]
}

/// Whether an AWS action (`Action=` or the operation of `X-Amz-Target`) changes anything.
/// `GenerateCredentialReport` only refreshes the report that the audit reads.
fn is_write(action: &str) -> bool {
    let op = action.rsplit('.').next().unwrap_or(action);
    !["Get", "List", "Describe", "GenerateCredentialReport"]
        .iter()
        .any(|read| op.starts_with(read))
}

fn writes(calls: &[String]) -> Vec<String> {
    calls.iter().filter(|c| is_write(c)).cloned().collect()
}

async fn apply_to_end(stack: &Stack, expect_wait: bool) -> Result<pb::SetupRun, StartError> {
    let mut rx = apply(stack, EXAMPLE_SPEC, "").await?;
    let mut secrets = Vec::new();
    if expect_wait {
        let waiting = until(&mut rx, &mut secrets, "WAITING", |r| {
            r.status() == SetupRunStatus::Waiting
                && [MFA_STEP, SUB_STEP]
                    .iter()
                    .all(|s| step(r, s).is_some_and(|s| s.state() == SetupStepState::Waiting))
        })
        .await?;
        do_person_steps(stack, &waiting, &secrets).await?;
    }
    let done = until(&mut rx, &mut secrets, "the run's end", finished).await?;
    if done.status() != SetupRunStatus::Completed {
        return Err(StartError(format!("the run did not complete: {done:#?}")));
    }
    Ok(done)
}

async fn one_round(aws: &Path) -> Result<Round, StartError> {
    let stack = Stack::start().await?;

    let before = stack.inbox.calls().len();
    let t = Instant::now();
    apply_to_end(&stack, true).await?;
    let apply = t.elapsed();
    let calls = stack.inbox.calls();
    let apply_calls = &calls[before..];
    let apply_write_actions = writes(apply_calls);

    let before = calls.len();
    let t = Instant::now();
    apply_to_end(&stack, false).await?;
    let reapply = t.elapsed();
    let calls = stack.inbox.calls();
    let reapply_calls = &calls[before..];

    let t = Instant::now();
    let cli_commands = cli_setup(aws, &stack.moto.endpoint())?;
    let cli = t.elapsed();

    let round = Round {
        apply,
        apply_calls: apply_calls.len(),
        apply_writes: apply_write_actions.len(),
        apply_write_actions,
        reapply,
        reapply_calls: reapply_calls.len(),
        reapply_writes: writes(reapply_calls).len(),
        cli,
        cli_commands,
    };
    stack.stop().await;
    Ok(round)
}

/// The example spec by hand: every command the setup needs, in dependency order, each its
/// own `aws` process. Returns the number of commands.
fn cli_setup(aws: &Path, endpoint: &str) -> Result<usize, StartError> {
    let scratch = std::env::temp_dir().join(format!("groundwork-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| StartError(format!("scratch dir: {e}")))?;
    let mut cli = Cli {
        aws,
        endpoint,
        scratch: &scratch,
        commands: 0,
    };
    let user = "admin-cli";
    let group = "Admins-cli";

    cli.run(&["iam", "create-user", "--user-name", user])?;
    cli.run(&["iam", "create-group", "--group-name", group])?;
    cli.run(&[
        "iam",
        "attach-group-policy",
        "--group-name",
        group,
        "--policy-arn",
        "arn:aws:iam::aws:policy/AdministratorAccess",
    ])?;
    cli.run(&[
        "iam",
        "add-user-to-group",
        "--group-name",
        group,
        "--user-name",
        user,
    ])?;
    cli.run(&[
        "iam",
        "create-login-profile",
        "--user-name",
        user,
        "--password",
        "Bench-Only-Password-1!",
        "--password-reset-required",
    ])?;
    cli.run(&[
        "iam",
        "update-account-password-policy",
        "--minimum-password-length",
        "14",
        "--require-symbols",
        "--require-numbers",
        "--require-uppercase-characters",
        "--require-lowercase-characters",
        "--allow-users-to-change-password",
        "--max-password-age",
        "90",
        "--password-reuse-prevention",
        "24",
    ])?;
    let document = groundwork_identity::mfa_policy::document().to_string();
    let policy = cli.run(&[
        "iam",
        "create-policy",
        "--policy-name",
        "Groundwork-RequireMFA-cli",
        "--policy-document",
        &document,
    ])?;
    cli.run(&[
        "iam",
        "attach-group-policy",
        "--group-name",
        group,
        "--policy-arn",
        &field(&policy, &["Policy", "Arn"])?,
    ])?;
    let seed_file = scratch.join("seed");
    let seed_path = seed_file.to_string_lossy().into_owned();
    let device = cli.run(&[
        "iam",
        "create-virtual-mfa-device",
        "--virtual-mfa-device-name",
        user,
        "--outfile",
        &seed_path,
        "--bootstrap-method",
        "Base32StringSeed",
    ])?;
    let serial = field(&device, &["VirtualMFADevice", "SerialNumber"])?;
    let seed = std::fs::read_to_string(&seed_file)
        .map_err(|e| StartError(format!("the MFA seed file: {e}")))?;
    let (code1, code2) = two_consecutive_codes(seed.trim())
        .ok_or_else(|| StartError("the MFA seed is not Base32".into()))?;
    cli.run(&[
        "iam",
        "enable-mfa-device",
        "--user-name",
        user,
        "--serial-number",
        &serial,
        "--authentication-code1",
        &code1,
        "--authentication-code2",
        &code2,
    ])?;

    let topic = cli.run(&["sns", "create-topic", "--name", "billing-alarm-cli"])?;
    let topic_arn = field(&topic, &["TopicArn"])?;
    cli.run(&[
        "sns",
        "subscribe",
        "--topic-arn",
        &topic_arn,
        "--protocol",
        "email",
        "--notification-endpoint",
        EMAIL,
    ])?;

    let notifications = serde_json::Value::Array(
        [50, 75, 100]
            .iter()
            .map(|t| {
                serde_json::json!({
                    "Notification": {
                        "NotificationType": "ACTUAL",
                        "ComparisonOperator": "GREATER_THAN",
                        "Threshold": t,
                        "ThresholdType": "PERCENTAGE"
                    },
                    "Subscribers": [{ "SubscriptionType": "EMAIL", "Address": EMAIL }]
                })
            })
            .collect(),
    )
    .to_string();
    let credits =
        serde_json::json!({ "Dimensions": { "Key": "RECORD_TYPE", "Values": ["Credit"] } });
    let spend = serde_json::json!({ "Not": { "Dimensions": { "Key": "RECORD_TYPE", "Values": ["Credit", "Refund"] } } });
    for (name, filter) in [
        ("monthly-credits-cli", credits),
        ("monthly-spend-cli", spend),
    ] {
        let budget = serde_json::json!({
            "BudgetName": name,
            "BudgetLimit": { "Amount": "20", "Unit": "USD" },
            "TimeUnit": "MONTHLY",
            "BudgetType": "COST",
            "FilterExpression": filter
        })
        .to_string();
        cli.run(&[
            "budgets",
            "create-budget",
            "--account-id",
            ACCOUNT,
            "--budget",
            &budget,
            "--notifications-with-subscribers",
            &notifications,
        ])?;
    }

    cli.run(&[
        "cloudwatch",
        "put-metric-alarm",
        "--alarm-name",
        "billing-alarm-cli",
        "--alarm-description",
        "Estimated charges this month are over 20 USD",
        "--namespace",
        "AWS/Billing",
        "--metric-name",
        "EstimatedCharges",
        "--dimensions",
        "Name=Currency,Value=USD",
        "--statistic",
        "Maximum",
        "--period",
        "21600",
        "--evaluation-periods",
        "1",
        "--threshold",
        "20",
        "--comparison-operator",
        "GreaterThanThreshold",
        "--treat-missing-data",
        "notBreaching",
        "--alarm-actions",
        &topic_arn,
    ])?;
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(cli.commands)
}

#[derive(Debug)]
struct Cli<'a> {
    aws: &'a Path,
    endpoint: &'a str,
    scratch: &'a Path,
    commands: usize,
}

impl Cli<'_> {
    /// Runs one `aws` command against moto and returns its JSON output (`null` if none).
    fn run(&mut self, args: &[&str]) -> Result<serde_json::Value, StartError> {
        self.commands += 1;
        let out = Command::new(self.aws)
            .args(args)
            .args(["--endpoint-url", self.endpoint, "--output", "json"])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            // Nothing from the machine's own AWS configuration.
            .env("AWS_CONFIG_FILE", self.scratch.join("config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.scratch.join("credentials"),
            )
            .output()
            .map_err(|e| StartError(format!("aws {}: {e}", args[..2].join(" "))))?;
        if !out.status.success() {
            return Err(StartError(format!(
                "aws {} failed: {}",
                args[..2].join(" "),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        if out.stdout.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&out.stdout).map_err(|e| {
            StartError(format!(
                "aws {}: output is not JSON ({e})",
                args[..2].join(" ")
            ))
        })
    }
}

fn field(value: &serde_json::Value, path: &[&str]) -> Result<String, StartError> {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| StartError(format!("no {} in {value}", path.join("."))))
}
