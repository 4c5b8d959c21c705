//! The orchestrator's commands: `groundwork validate|plan|apply|watch|destroy|diagram FILE`
//! and `groundwork mfa complete`.
//!
//! `validate` and `diagram` (without `--live`) work offline. `apply` follows the run to
//! its end: one line per step change (numbered on a terminal), the one-time secrets once
//! (on the terminal, or with `--secrets-dir` in files only the person can read; then the
//! orchestrator is told they were delivered), and a summary. Off a terminal and without
//! `--secrets-dir` the secrets are not printed: they wait, sealed in the orchestrator, for
//! `groundwork secrets show RUN`.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use groundwork_proto::v1 as pb;
use pb::orchestrator_client::OrchestratorClient;
use tokio_stream::StreamExt;

use crate::cmd::one_time::{self, Delivery};
use crate::connect::{Conn, Endpoints};
use crate::error::CliError;
use crate::output::OutputFormat;

#[derive(Debug, Args)]
pub struct SpecArgs {
    /// The spec, e.g. examples/groundwork.toml.
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    pub file: PathBuf,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The spec to apply (not needed with --resume).
    #[arg(required_unless_present = "resume")]
    pub file: Option<PathBuf>,
    /// Continue this run (failed, waiting, or interrupted) instead of starting one.
    #[arg(long, value_name = "RUN")]
    pub resume: Option<String>,
    /// Return once the run waits for a person (scripts, `groundwork up`, compose's setup);
    /// the run goes on, `groundwork watch RUN` follows it.
    #[arg(long)]
    pub detach_when_waiting: bool,
    /// Write the one-time secrets (initial password, MFA seed and QR code) to files of mode
    /// 0600 in `DIR/<run>/` (mode 0700) instead of the terminal, and print only their paths.
    /// Without it, and off a terminal, they wait in the orchestrator for `groundwork secrets
    /// show RUN`.
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = one_time::DEFAULT_DIR)]
    pub secrets_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The run id that `groundwork apply` printed.
    pub run: String,
}

#[derive(Debug, Args)]
pub struct DiagramArgs {
    pub file: PathBuf,
    /// Read the live state through the orchestrator and mark each resource.
    #[arg(long)]
    pub live: bool,
    /// Write `conceptual.mmd` and `logical.mmd` there instead of printing both.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum MfaCommand {
    /// Enable the admin's virtual MFA device with two consecutive codes; the waiting run
    /// resumes on the `MFA Device Enabled` event.
    Complete {
        #[arg(long)]
        user: String,
        /// The device serial the apply printed; the user's device when omitted.
        #[arg(long, default_value = "")]
        serial: String,
        code1: String,
        code2: String,
    },
    /// The MFA seed was lost before the enrollment was completed: replace the device that
    /// is not enabled by a new one and show its seed once (a person's decision, recorded as
    /// `MFA Enrollment Restarted`). On a terminal, or with --secrets-dir.
    Restart {
        /// The IAM user name.
        #[arg(long)]
        user: String,
        /// The device name; the user name when omitted.
        #[arg(long)]
        device: Option<String>,
        /// Write the seed, the otpauth URI and its QR code (PNG) to files of mode 0600 in
        /// `DIR/<user>-mfa/` instead of the terminal.
        #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = one_time::DEFAULT_DIR)]
        secrets_dir: Option<PathBuf>,
    },
}

fn read(file: &PathBuf) -> Result<String, CliError> {
    std::fs::read_to_string(file)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", file.display())))
}

pub async fn client(endpoints: &Endpoints) -> Result<OrchestratorClient<Conn>, CliError> {
    let conn = endpoints
        .connect(
            &endpoints.url("orchestrator"),
            "orchestrator",
            "GROUNDWORK_ORCHESTRATOR_URL",
        )
        .await?;
    Ok(OrchestratorClient::new(conn))
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The spec, e.g. examples/groundwork.toml.
    pub file: PathBuf,
    /// Also ask the orchestrator (ValidateSpec): checks that need AWS, such as whether the
    /// spec's IAM policies exist. Without it the check is offline.
    #[arg(long)]
    pub live: bool,
}

/// `groundwork validate [--live] FILE`: offline, then (with `--live`) the orchestrator's
/// checks against the account.
pub async fn validate(
    args: ValidateArgs,
    endpoints: &Endpoints,
    output: OutputFormat,
) -> Result<(), CliError> {
    use groundwork_spec::SpecProblem;
    let text = read(&args.file)?;
    let (steps, problems): (usize, Vec<SpecProblem>) = match groundwork_spec::parse(&text) {
        Err(e) => (0, e.problems),
        Ok(spec) => {
            let steps = groundwork_spec::resource::resources(&spec).len();
            if !args.live {
                (steps, Vec::new())
            } else {
                let live = client(endpoints)
                    .await?
                    .validate_spec(pb::ValidateSpecRequest { spec_toml: text })
                    .await?
                    .into_inner()
                    .problems
                    .into_iter()
                    .map(|p| SpecProblem {
                        path: p.path,
                        line: (p.line > 0).then_some(p.line as usize),
                        reason: p.reason,
                    })
                    .collect();
                (steps, live)
            }
        }
    };
    if problems.is_empty() {
        match output {
            OutputFormat::Json => {
                println!("{}", serde_json::json!({"valid": true, "steps": steps}))
            }
            OutputFormat::Table => println!("{}: valid ({steps} steps)", args.file.display()),
        }
        return Ok(());
    }
    if output == OutputFormat::Json {
        let list: Vec<_> = problems
            .iter()
            .map(|p| serde_json::json!({"path": p.path, "line": p.line, "reason": p.reason}))
            .collect();
        println!("{}", serde_json::json!({"valid": false, "problems": list}));
    }
    let lines: Vec<String> = problems
        .iter()
        .map(|p| format!("{}: {p}", args.file.display()))
        .collect();
    Err(CliError::usage(lines.join("\n")))
}

fn action_name(a: i32) -> &'static str {
    match pb::PlanAction::try_from(a).unwrap_or_default() {
        pb::PlanAction::Create => "create",
        pb::PlanAction::Update => "update",
        pb::PlanAction::Unchanged => "unchanged",
        pb::PlanAction::Delete => "delete",
        pb::PlanAction::Unspecified => "?",
    }
}

/// `groundwork plan FILE`.
pub async fn plan(
    args: PlanArgs,
    endpoints: &Endpoints,
    output: OutputFormat,
) -> Result<(), CliError> {
    let text = read(&args.file)?;
    let plan = client(endpoints)
        .await?
        .plan_spec(pb::PlanSpecRequest { spec_toml: text })
        .await?
        .into_inner();
    if args.json || output == OutputFormat::Json {
        let changes: Vec<_> = plan
            .changes
            .iter()
            .map(|c| {
                serde_json::json!({
                    "resource": c.resource,
                    "kind": c.kind,
                    "action": action_name(c.action),
                    "fields": c.fields.iter().map(|f| serde_json::json!({
                        "field": f.field,
                        "before": serde_json::from_str::<serde_json::Value>(&f.before_json).ok(),
                        "after": serde_json::from_str::<serde_json::Value>(&f.after_json).ok(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let mut out = serde_json::json!({"noop": plan.noop, "changes": changes});
        if let Some(p) = &plan.account_plan {
            out["account_plan"] = account_plan_json(p);
        }
        println!("{out}");
        return Ok(());
    }
    println!("{:<10} {:<50} CHANGES", "ACTION", "RESOURCE");
    for c in &plan.changes {
        let fields: Vec<String> = c
            .fields
            .iter()
            .map(|f| {
                if f.before_json.is_empty() {
                    format!("{}={}", f.field, f.after_json)
                } else {
                    format!("{}: {} -> {}", f.field, f.before_json, f.after_json)
                }
            })
            .collect();
        let shown = if action_name(c.action) == "create" {
            String::new()
        } else {
            fields.join("; ")
        };
        println!("{:<10} {:<50} {shown}", action_name(c.action), c.resource);
    }
    let count = |a: &str| {
        plan.changes
            .iter()
            .filter(|c| action_name(c.action) == a)
            .count()
    };
    println!(
        "\nPlan: {} to create, {} to update, {} unchanged, {} to delete.",
        count("create"),
        count("update"),
        count("unchanged"),
        count("delete")
    );
    if let Some(p) = &plan.account_plan {
        println!("Account: {}", account_plan_line(p));
    }
    Ok(())
}

fn plan_type(p: &pb::AccountPlan) -> &'static str {
    match p.plan_type() {
        pb::AccountPlanType::Free => "FREE",
        pb::AccountPlanType::Paid => "PAID",
        _ => "UNKNOWN",
    }
}

fn day(t: &prost_types::Timestamp) -> String {
    time::OffsetDateTime::from_unix_timestamp(t.seconds)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!("[year]-[month]-[day]"))
                .ok()
        })
        .unwrap_or_default()
}

/// The account's plan for a person: on the Free plan, what is left and when it closes.
fn account_plan_line(p: &pb::AccountPlan) -> String {
    match p.plan_type() {
        pb::AccountPlanType::Free => {
            let credits = p.remaining_credits.as_ref().map_or_else(
                || "no credits reported".to_owned(),
                |c| format!("{} {} of credits left", c.amount, c.unit),
            );
            match &p.ends_at {
                Some(t) => format!(
                    "Free plan ({}): {credits}; the credits expire and the account closes on {} \
                     unless it is upgraded to the Paid plan",
                    p.status,
                    day(t)
                ),
                None => format!("Free plan ({}): {credits}", p.status),
            }
        }
        pb::AccountPlanType::Paid => format!("Paid plan ({})", p.status),
        _ => format!("plan unknown: {}", p.unknown_reason),
    }
}

fn account_plan_json(p: &pb::AccountPlan) -> serde_json::Value {
    serde_json::json!({
        "plan_type": plan_type(p),
        "status": p.status,
        "remaining_credits": p.remaining_credits.as_ref().map(|c| serde_json::json!({"amount": c.amount, "unit": c.unit})),
        "ends_at": p.ends_at.as_ref().map(day),
        "unknown_reason": p.unknown_reason,
    })
}

fn step_state(s: i32) -> &'static str {
    match pb::SetupStepState::try_from(s).unwrap_or_default() {
        pb::SetupStepState::Pending => "PENDING",
        pb::SetupStepState::Running => "RUNNING",
        pb::SetupStepState::Backoff => "BACKOFF",
        pb::SetupStepState::Waiting => "WAITING",
        pb::SetupStepState::Succeeded => "SUCCEEDED",
        pb::SetupStepState::ActionRequired => "ACTION_REQUIRED",
        pb::SetupStepState::Failed => "FAILED",
        pb::SetupStepState::Cancelled => "CANCELLED",
        pb::SetupStepState::Unspecified => "?",
    }
}

fn run_status(s: i32) -> &'static str {
    match pb::SetupRunStatus::try_from(s).unwrap_or_default() {
        pb::SetupRunStatus::Pending => "PENDING",
        pb::SetupRunStatus::Running => "RUNNING",
        pb::SetupRunStatus::Waiting => "WAITING",
        pb::SetupRunStatus::Completed => "COMPLETED",
        pb::SetupRunStatus::Failed => "FAILED",
        pb::SetupRunStatus::Unspecified => "?",
    }
}

/// Where an apply's one-time secrets go: the orchestrator to acknowledge them to, and how
/// they reach the person (`None`: they cannot here, and wait in the orchestrator).
struct SecretsOut {
    client: OrchestratorClient<Conn>,
    delivery: Option<Delivery>,
}

/// From the wire.
pub fn secrets_from_pb(secrets: &[pb::OneTimeSecret]) -> Vec<one_time::Secret> {
    secrets
        .iter()
        .map(|s| one_time::Secret {
            resource: s.resource.clone(),
            name: s.name.clone(),
            value: s.value.clone(),
            png: s.png.clone(),
            expires_at: s.expires_at.clone(),
        })
        .collect()
}

/// Tells the orchestrator that `secrets` of `run` reached the person; a failure is a
/// warning (they then stay available to `groundwork secrets show`).
pub async fn acknowledge(
    client: &mut OrchestratorClient<Conn>,
    run: &str,
    secrets: &[pb::OneTimeSecret],
    delivery: &Delivery,
) -> Result<pb::AckOneTimeSecretsResponse, CliError> {
    let how = match delivery {
        Delivery::Terminal => pb::SecretDelivery::Terminal,
        Delivery::Dir(_) => pb::SecretDelivery::SealedFile,
    };
    Ok(client
        .ack_one_time_secrets(pb::AckOneTimeSecretsRequest {
            run_id: run.to_owned(),
            secret_ids: secrets.iter().map(|s| s.id.clone()).collect(),
            delivery: how as i32,
        })
        .await?
        .into_inner())
}

/// Hands the secrets of one update to the person (or says where they wait).
async fn secrets_update(
    out: &mut SecretsOut,
    run: Option<&str>,
    secrets: &[pb::OneTimeSecret],
    output: OutputFormat,
) -> Result<(), CliError> {
    let (Some(delivery), Some(run)) = (out.delivery.as_ref(), run) else {
        for s in secrets {
            let until = if s.expires_at.is_empty() {
                String::new()
            } else {
                format!(" until {}", s.expires_at)
            };
            let fetch = run.map_or_else(
                || "groundwork secrets show RUN".to_owned(),
                |r| format!("groundwork secrets show {r}"),
            );
            println!(
                "  one-time secret {} for {} not printed (stdout is not a terminal); it waits for \
                 you{until}: run `{fetch}` on a terminal",
                s.name, s.resource
            );
        }
        return Ok(());
    };
    one_time::hand_over(&secrets_from_pb(secrets), run, delivery, output)?;
    if let Err(e) = acknowledge(&mut out.client, run, secrets, delivery).await {
        eprintln!(
            "groundwork: the orchestrator was not told that the secrets were delivered ({e}); \
             they stay available to `groundwork secrets show {run}`"
        );
    }
    Ok(())
}

/// Prints a run's stream: step changes, secrets (see [`SecretsOut`]), the summary.
async fn follow(
    mut stream: tonic::Streaming<pb::SetupRunUpdate>,
    output: OutputFormat,
    detach_when_waiting: bool,
    mut secrets_out: Option<SecretsOut>,
    mut run_id: Option<String>,
) -> Result<(), CliError> {
    let terminal = std::io::stdout().is_terminal();
    let mut seen: HashMap<String, (i32, usize)> = HashMap::new();
    let mut last: Option<pb::SetupRun> = None;
    let mut printed_id = false;
    // A resumed run may first show the WAITING it is resumed from: detach only on a WAITING
    // that follows a moving run, so that what the resume re-runs (a new MFA seed) is seen.
    let mut moved = run_id.is_none();
    while let Some(update) = stream.next().await {
        let update = update?;
        if let Some(run) = &update.run {
            run_id.get_or_insert_with(|| run.run_id.clone());
        }
        if !update.secrets.is_empty()
            && let Some(out) = secrets_out.as_mut()
        {
            secrets_update(out, run_id.as_deref(), &update.secrets, output).await?;
        }
        let Some(run) = update.run else { continue };
        if !printed_id {
            println!(
                "run {}  (follow it with: groundwork watch {})",
                run.run_id, run.run_id
            );
            printed_id = true;
        }
        let total = run.steps.len();
        let done = run
            .steps
            .iter()
            .filter(|s| matches!(step_state(s.state), "SUCCEEDED" | "ACTION_REQUIRED"))
            .count();
        for step in &run.steps {
            let key = (step.state, step.instructions.len());
            if seen.get(&step.resource) == Some(&key) {
                continue;
            }
            seen.insert(step.resource.clone(), key);
            if step_state(step.state) == "PENDING" {
                continue;
            }
            let prefix = if terminal {
                format!("[{done:>2}/{total}] ")
            } else {
                String::new()
            };
            let detail = match step_state(step.state) {
                "SUCCEEDED" => step.outcome.clone(),
                "FAILED" | "BACKOFF" => step.error.clone(),
                _ => String::new(),
            };
            if output == OutputFormat::Json {
                println!(
                    "{}",
                    serde_json::json!({"run": run.run_id, "resource": step.resource, "state": step_state(step.state), "detail": detail})
                );
            } else {
                println!(
                    "{prefix}{:<50} {:<16} {detail}",
                    step.resource,
                    step_state(step.state)
                );
                if matches!(step_state(step.state), "WAITING" | "ACTION_REQUIRED") {
                    for line in &step.instructions {
                        println!("        → {line}");
                    }
                }
                // A step's report for a person (the account's plan: credits, close date).
                if step_state(step.state) == "SUCCEEDED"
                    && let Some(report) = step.outputs.get("report")
                {
                    println!("        → {report}");
                }
            }
        }
        let waiting = run_status(run.status) == "WAITING";
        moved |= !waiting;
        last = Some(run);
        if waiting && detach_when_waiting && moved {
            break;
        }
    }
    let Some(run) = last else {
        return Err(CliError::failed(
            "the orchestrator ended the stream without a run",
        ));
    };
    let count = |s: &str| {
        run.steps
            .iter()
            .filter(|x| step_state(x.state) == s)
            .count()
    };
    println!(
        "\nrun {} {}: {} succeeded, {} need action, {} failed, {} cancelled",
        run.run_id,
        run_status(run.status),
        count("SUCCEEDED"),
        count("ACTION_REQUIRED"),
        count("FAILED"),
        count("CANCELLED")
    );
    match run_status(run.status) {
        "COMPLETED" => Ok(()),
        "WAITING" if detach_when_waiting => {
            println!(
                "the run waits for the steps above; it goes on by itself. Follow it with: groundwork watch {}",
                run.run_id
            );
            Ok(())
        }
        "FAILED" => Err(CliError::failed(format!(
            "{} (continue it with: groundwork apply --resume {})",
            run.error, run.run_id
        ))),
        other => Err(CliError::failed(format!(
            "the stream ended while the run is {other}; follow it with: groundwork watch {}",
            run.run_id
        ))),
    }
}

/// `groundwork apply FILE` or `groundwork apply --resume RUN`.
pub async fn apply(
    args: ApplyArgs,
    endpoints: &Endpoints,
    output: OutputFormat,
) -> Result<(), CliError> {
    let spec_toml = match &args.file {
        Some(f) if args.resume.is_none() => {
            let text = read(f)?;
            // Offline checks first: a bad spec never reaches the orchestrator.
            groundwork_spec::parse(&text).map_err(|e| {
                CliError::usage(
                    e.problems
                        .iter()
                        .map(|p| format!("{}: {p}", f.display()))
                        .collect::<Vec<_>>()
                        .join("\n"),
                )
            })?;
            text
        }
        _ => String::new(),
    };
    let delivery = Delivery::available(args.secrets_dir);
    let mut client = client(endpoints).await?;
    let stream = client
        .apply_spec(pb::ApplySpecRequest {
            spec_toml,
            resume_run_id: args.resume.clone().unwrap_or_default(),
        })
        .await?
        .into_inner();
    let out = SecretsOut { client, delivery };
    follow(
        stream,
        output,
        args.detach_when_waiting,
        Some(out),
        args.resume,
    )
    .await
}

/// `groundwork watch RUN`.
pub async fn watch(
    args: WatchArgs,
    endpoints: &Endpoints,
    output: OutputFormat,
) -> Result<(), CliError> {
    let stream = client(endpoints)
        .await?
        .watch_run(pb::WatchRunRequest { run_id: args.run })
        .await?
        .into_inner();
    follow(stream, output, false, None, None).await
}

/// `groundwork destroy FILE`.
pub async fn destroy(
    args: SpecArgs,
    endpoints: &Endpoints,
    output: OutputFormat,
) -> Result<(), CliError> {
    let text = read(&args.file)?;
    let stream = client(endpoints)
        .await?
        .destroy_spec(pb::DestroySpecRequest { spec_toml: text })
        .await?
        .into_inner();
    follow(stream, output, false, None, None).await
}

/// `groundwork diagram FILE`.
pub async fn diagram(args: DiagramArgs, endpoints: &Endpoints) -> Result<(), CliError> {
    let text = read(&args.file)?;
    let (conceptual, logical) = if args.live {
        let d = client(endpoints)
            .await?
            .draw_diagram(pb::DrawDiagramRequest {
                spec_toml: text,
                include_live: true,
            })
            .await?
            .into_inner();
        (d.conceptual, d.logical)
    } else {
        let spec = groundwork_spec::parse(&text)
            .map_err(|e| CliError::usage(format!("{}: {e}", args.file.display())))?;
        let d = groundwork_spec::diagram::draw(&spec, None);
        (d.conceptual, d.logical)
    };
    match args.out_dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .map_err(|e| CliError::failed(format!("cannot create {}: {e}", dir.display())))?;
            for (name, body) in [("conceptual.mmd", &conceptual), ("logical.mmd", &logical)] {
                let path = dir.join(name);
                std::fs::write(&path, body).map_err(|e| {
                    CliError::failed(format!("cannot write {}: {e}", path.display()))
                })?;
                println!("wrote {}", path.display());
            }
        }
        None => {
            println!(
                "## Conceptual\n\n```mermaid\n{conceptual}```\n\n## Logical\n\n```mermaid\n{logical}```"
            );
        }
    }
    Ok(())
}

/// `groundwork mfa complete|restart`.
pub async fn mfa(
    command: MfaCommand,
    endpoints: &Endpoints,
    output: OutputFormat,
) -> Result<(), CliError> {
    let (user, serial, code1, code2) = match command {
        MfaCommand::Complete {
            user,
            serial,
            code1,
            code2,
        } => (user, serial, code1, code2),
        MfaCommand::Restart {
            user,
            device,
            secrets_dir,
        } => return mfa_restart(endpoints, user, device, secrets_dir, output).await,
    };
    let conn = endpoints
        .connect(
            &endpoints.url("identity"),
            "identity service",
            "GROUNDWORK_IDENTITY_URL",
        )
        .await?;
    let resp = pb::identity_client::IdentityClient::new(conn)
        .complete_mfa_enrollment(pb::CompleteMfaEnrollmentRequest {
            user_name: user.clone(),
            serial_number: serial,
            authentication_code_1: code1,
            authentication_code_2: code2,
        })
        .await?
        .into_inner();
    println!(
        "MFA device {} enabled for {user}; a waiting apply resumes on `MFA Device Enabled`",
        resp.serial_number
    );
    Ok(())
}

/// `groundwork mfa restart`: a new seed for an enrollment whose seed was lost.
async fn mfa_restart(
    endpoints: &Endpoints,
    user: String,
    device: Option<String>,
    secrets_dir: Option<PathBuf>,
    output: OutputFormat,
) -> Result<(), CliError> {
    // Refused before the call: a new seed that nobody can see would be lost as well.
    let delivery = Delivery::required(secrets_dir, "groundwork mfa restart")?;
    let resp = endpoints
        .identity()
        .await?
        .restart_mfa_enrollment(pb::RestartMfaEnrollmentRequest {
            user_name: user.clone(),
            device_name: device.unwrap_or_default(),
        })
        .await?
        .into_inner();
    let resource = format!("mfa-device/{user}");
    let secrets = [
        one_time::Secret {
            resource: resource.clone(),
            name: "mfa_base32_seed".into(),
            value: resp.base32_string_seed,
            png: Vec::new(),
            expires_at: String::new(),
        },
        one_time::Secret {
            resource,
            name: "mfa_otpauth_uri".into(),
            value: resp.otpauth_uri,
            png: resp.qr_code_png,
            expires_at: String::new(),
        },
    ];
    one_time::hand_over(&secrets, &format!("{user}-mfa"), &delivery, output)?;
    if output == OutputFormat::Table {
        println!(
            "new MFA device {} for {user}: add the seed to an authenticator app, then run: \
             groundwork mfa complete --user {user} --serial {} CODE1 CODE2",
            resp.serial_number, resp.serial_number
        );
    }
    Ok(())
}
