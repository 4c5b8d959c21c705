//! What the tests do with a run: follow its stream, wait for a status, do what the person
//! does for the example spec, and read what exists in the sandbox.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use groundwork_proto::v1 as pb;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::{Stack, StartError, otpauth_secret, step, two_consecutive_codes};

/// The example spec's MFA device and email subscription steps.
pub const MFA_STEP: &str = "mfa-device/admin";
pub const SUB_STEP: &str = "subscription/billing-alarm:email:ops@example.com";

/// Reads a run stream in the background; the test takes updates from the channel, which
/// closes when the stream ends (or breaks, e.g. when the orchestrator is killed).
pub fn follow(
    stream: tonic::Streaming<pb::SetupRunUpdate>,
) -> UnboundedReceiver<pb::SetupRunUpdate> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut stream = stream;
        while let Some(Ok(update)) = stream.next().await {
            if tx.send(update).is_err() {
                return;
            }
        }
    });
    rx
}

/// ApplySpec of `spec` (or `apply --resume RUN` when `resume_run_id` is set), followed.
pub async fn apply(
    stack: &Stack,
    spec: &str,
    resume_run_id: &str,
) -> Result<UnboundedReceiver<pb::SetupRunUpdate>, StartError> {
    apply_at(stack, stack.orchestrator, spec, resume_run_id).await
}

/// [`apply`] through the orchestrator replica at `addr`.
pub async fn apply_at(
    stack: &Stack,
    addr: std::net::SocketAddr,
    spec: &str,
    resume_run_id: &str,
) -> Result<UnboundedReceiver<pb::SetupRunUpdate>, StartError> {
    let stream = stack
        .orchestrator_at(addr)
        .await
        .apply_spec(pb::ApplySpecRequest {
            spec_toml: spec.into(),
            resume_run_id: resume_run_id.into(),
        })
        .await
        .map_err(|e| StartError(format!("ApplySpec: {e}")))?
        .into_inner();
    Ok(follow(stream))
}

/// DestroySpec of `spec`, followed.
pub async fn destroy(
    stack: &Stack,
    spec: &str,
) -> Result<UnboundedReceiver<pb::SetupRunUpdate>, StartError> {
    let stream = stack
        .orchestrator()
        .await
        .destroy_spec(pb::DestroySpecRequest {
            spec_toml: spec.into(),
        })
        .await
        .map_err(|e| StartError(format!("DestroySpec: {e}")))?
        .into_inner();
    Ok(follow(stream))
}

/// Takes updates until `done` holds for the run (at most 90 s), collecting the secrets
/// seen on the way.
pub async fn until(
    rx: &mut UnboundedReceiver<pb::SetupRunUpdate>,
    secrets: &mut Vec<pb::OneTimeSecret>,
    what: &str,
    done: impl Fn(&pb::SetupRun) -> bool,
) -> Result<pb::SetupRun, StartError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let mut last = None;
    loop {
        let update = match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(u)) => u,
            Ok(None) => {
                return Err(StartError(format!(
                    "the run stream ended before {what}; last: {last:#?}"
                )));
            }
            Err(_) => {
                return Err(StartError(format!(
                    "timed out waiting for {what}; last: {last:#?}"
                )));
            }
        };
        secrets.extend(update.secrets);
        if let Some(run) = update.run {
            if done(&run) {
                return Ok(run);
            }
            last = Some(run);
        }
    }
}

/// Applies `spec` to the end: the person's steps are done when the run waits for them.
/// Returns the run as it ended (the caller asserts its status).
pub async fn apply_to_the_end(stack: &Stack, spec: &str) -> Result<pb::SetupRun, StartError> {
    let mut rx = apply(stack, spec, "").await?;
    let mut secrets = Vec::new();
    let run = until(&mut rx, &mut secrets, "the run's end or WAITING", |r| {
        finished(r) || r.status() == pb::SetupRunStatus::Waiting
    })
    .await?;
    if run.status() != pb::SetupRunStatus::Waiting {
        return Ok(run);
    }
    do_person_steps(stack, &run, &secrets).await?;
    until(&mut rx, &mut secrets, "the run's end", finished).await
}

/// Changes the billing alarm's threshold by hand (a drift), keeping everything else.
pub async fn set_alarm_threshold(stack: &Stack, threshold: f64) -> Result<(), StartError> {
    let cloudwatch = stack.cloudwatch();
    let alarms = cloudwatch
        .describe_alarms()
        .alarm_names("billing-alarm")
        .send()
        .await
        .map_err(|e| StartError(format!("DescribeAlarms: {e:?}")))?;
    let alarm = alarms
        .metric_alarms()
        .first()
        .ok_or_else(|| StartError("there is no billing-alarm".into()))?;
    cloudwatch
        .put_metric_alarm()
        .alarm_name("billing-alarm")
        .set_alarm_description(alarm.alarm_description().map(str::to_owned))
        .set_alarm_actions(Some(alarm.alarm_actions().to_vec()))
        .set_namespace(alarm.namespace().map(str::to_owned))
        .set_metric_name(alarm.metric_name().map(str::to_owned))
        .set_dimensions(Some(alarm.dimensions().to_vec()))
        .set_statistic(alarm.statistic().cloned())
        .set_period(alarm.period())
        .set_evaluation_periods(alarm.evaluation_periods())
        .set_datapoints_to_alarm(alarm.datapoints_to_alarm())
        .threshold(threshold)
        .set_comparison_operator(alarm.comparison_operator().cloned())
        .set_treat_missing_data(alarm.treat_missing_data().map(str::to_owned))
        .send()
        .await
        .map_err(|e| StartError(format!("PutMetricAlarm: {e:?}")))?;
    Ok(())
}

/// Whether the run has stopped moving (COMPLETED, FAILED or CANCELLED).
pub fn finished(run: &pb::SetupRun) -> bool {
    !matches!(
        run.status(),
        pb::SetupRunStatus::Waiting | pb::SetupRunStatus::Running | pb::SetupRunStatus::Pending
    )
}

/// What the person does for a WAITING run of the example spec: two consecutive codes from
/// the authenticator app for the MFA device whose `otpauth://` URI is among `secrets`, and
/// the "Confirm subscription" link of the email SNS sent. Returns the device's serial.
pub async fn do_person_steps(
    stack: &Stack,
    waiting: &pb::SetupRun,
    secrets: &[pb::OneTimeSecret],
) -> Result<String, StartError> {
    let uri = secrets
        .iter()
        .rev()
        .find(|s| s.name == "mfa_otpauth_uri")
        .ok_or_else(|| StartError("no otpauth URI reached the apply stream".into()))?;
    let seed = otpauth_secret(&uri.value)
        .ok_or_else(|| StartError("an otpauth URI without a secret".into()))?;
    let (code1, code2) =
        two_consecutive_codes(&seed).ok_or_else(|| StartError("the seed is not Base32".into()))?;
    let serial = step(waiting, MFA_STEP)
        .and_then(|s| s.outputs.get("serial_number").cloned())
        .ok_or_else(|| StartError("the MFA step has no serial number".into()))?;
    stack
        .identity()
        .await
        .complete_mfa_enrollment(pb::CompleteMfaEnrollmentRequest {
            user_name: "admin".into(),
            serial_number: serial.clone(),
            authentication_code_1: code1,
            authentication_code_2: code2,
        })
        .await
        .map_err(|e| StartError(format!("CompleteMfaEnrollment: {e}")))?;
    if let Some(mail) = stack.inbox.confirmation_for("ops@example.com") {
        aws_sdk_sns::Client::new(&crate::sdk_for(&stack.inbox.endpoint()).await)
            .confirm_subscription()
            .topic_arn(&mail.topic_arn)
            .token(&mail.token)
            .send()
            .await
            .map_err(|e| StartError(format!("ConfirmSubscription: {e:?}")))?;
    }
    Ok(serial)
}

/// Checks that the sandbox holds exactly one of each resource the example spec
/// (`examples/groundwork.toml`) makes: nothing made twice by a retried or taken-over step.
pub fn assert_one_of_each_example_resource(sandbox: &BTreeMap<&'static str, Vec<String>>) {
    let expect = |kind: &str, items: &[&str]| {
        assert_eq!(sandbox[kind], items, "{kind}");
    };
    expect("users", &["admin"]);
    expect("groups", &["Admins"]);
    expect(
        "policies",
        &["arn:aws:iam::123456789012:policy/Groundwork-RequireMFA"],
    );
    expect("mfa devices", &["arn:aws:iam::123456789012:mfa/admin"]);
    expect("budgets", &["monthly-credits", "monthly-spend"]);
    expect(
        "topics",
        &["arn:aws:sns:us-east-1:123456789012:billing-alarm"],
    );
    expect(
        "subscriptions",
        &["arn:aws:sns:us-east-1:123456789012:billing-alarm email ops@example.com"],
    );
    expect("alarms", &["billing-alarm"]);
}

/// Everything the first-day setup can touch in the sandbox, by kind, sorted: IAM users,
/// groups, customer managed policies, virtual MFA devices, the account password policy,
/// budgets, SNS topics and subscriptions, CloudWatch alarms. Two equal snapshots mean the
/// account is as it was.
pub async fn sandbox_snapshot(
    stack: &Stack,
) -> Result<BTreeMap<&'static str, Vec<String>>, StartError> {
    let aws =
        |what: &'static str| move |e: &dyn std::fmt::Debug| StartError(format!("{what}: {e:?}"));
    let iam = stack.iam();
    let mut out = BTreeMap::new();
    let users = iam
        .list_users()
        .send()
        .await
        .map_err(|e| aws("ListUsers")(&e))?;
    out.insert(
        "users",
        users
            .users()
            .iter()
            .map(|u| u.user_name().to_owned())
            .collect(),
    );
    let groups = iam
        .list_groups()
        .send()
        .await
        .map_err(|e| aws("ListGroups")(&e))?;
    out.insert(
        "groups",
        groups
            .groups()
            .iter()
            .map(|g| g.group_name().to_owned())
            .collect(),
    );
    let policies = iam
        .list_policies()
        .scope(aws_sdk_iam::types::PolicyScopeType::Local)
        .send()
        .await
        .map_err(|e| aws("ListPolicies")(&e))?;
    out.insert(
        "policies",
        policies
            .policies()
            .iter()
            .filter_map(|p| p.arn().map(str::to_owned))
            .collect(),
    );
    let devices = iam
        .list_virtual_mfa_devices()
        .send()
        .await
        .map_err(|e| aws("ListVirtualMFADevices")(&e))?;
    out.insert(
        "mfa devices",
        devices
            .virtual_mfa_devices()
            .iter()
            .map(|d| d.serial_number().to_owned())
            .collect(),
    );
    let policy = match iam.get_account_password_policy().send().await {
        Ok(p) => vec![format!("{:?}", p.password_policy())],
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            Vec::new()
        }
        Err(e) => return Err(aws("GetAccountPasswordPolicy")(&e)),
    };
    out.insert("password policy", policy);
    let budgets = stack
        .budgets()
        .describe_budgets()
        .account_id(crate::ACCOUNT)
        .send()
        .await
        .map_err(|e| aws("DescribeBudgets")(&e))?;
    out.insert(
        "budgets",
        budgets
            .budgets()
            .iter()
            .map(|b| b.budget_name().to_owned())
            .collect(),
    );
    let sns = stack.sns();
    let topics = sns
        .list_topics()
        .send()
        .await
        .map_err(|e| aws("ListTopics")(&e))?;
    out.insert(
        "topics",
        topics
            .topics()
            .iter()
            .filter_map(|t| t.topic_arn().map(str::to_owned))
            .collect(),
    );
    let subs = sns
        .list_subscriptions()
        .send()
        .await
        .map_err(|e| aws("ListSubscriptions")(&e))?;
    out.insert(
        "subscriptions",
        subs.subscriptions()
            .iter()
            .map(|s| {
                format!(
                    "{} {} {}",
                    s.topic_arn().unwrap_or_default(),
                    s.protocol().unwrap_or_default(),
                    s.endpoint().unwrap_or_default()
                )
            })
            .collect(),
    );
    let alarms = stack
        .cloudwatch()
        .describe_alarms()
        .send()
        .await
        .map_err(|e| aws("DescribeAlarms")(&e))?;
    out.insert(
        "alarms",
        alarms
            .metric_alarms()
            .iter()
            .filter_map(|a| a.alarm_name().map(str::to_owned))
            .collect(),
    );
    for list in out.values_mut() {
        list.sort();
    }
    Ok(out)
}
