//! Acceptance: the first-day setup applied from nothing, end to end. The example spec goes
//! through the orchestrator's gRPC API; the run waits for the two things only a person can
//! do (two MFA codes from an authenticator app, the email subscription's confirmation link);
//! the test does them as a person would; the run completes; then every resource is read
//! straight from moto and compared with the spec, and the bus holds the run's events in
//! order.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use futures::StreamExt;
use groundwork_e2e::{EXAMPLE_SPEC, Stack, otpauth_secret, step, two_consecutive_codes};
use groundwork_proto::v1 as pb;
use pb::{SetupRunStatus, SetupStepState};

const MFA_STEP: &str = "mfa-device/admin";
const SUB_STEP: &str = "subscription/billing-alarm:email:ops@example.com";

/// Reads an apply stream in the background; the test takes updates from the channel.
fn follow(
    stream: tonic::Streaming<pb::SetupRunUpdate>,
) -> tokio::sync::mpsc::UnboundedReceiver<pb::SetupRunUpdate> {
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

/// Takes updates until `done` holds for the run, collecting the secrets seen on the way.
async fn until(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<pb::SetupRunUpdate>,
    secrets: &mut Vec<pb::OneTimeSecret>,
    what: &str,
    done: impl Fn(&pb::SetupRun) -> bool,
) -> pb::SetupRun {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let mut last = None;
    loop {
        let update = match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(u)) => u,
            Ok(None) => panic!("the apply stream ended before {what}; last: {last:#?}"),
            Err(_) => panic!("timed out waiting for {what}; last: {last:#?}"),
        };
        secrets.extend(update.secrets);
        if let Some(run) = update.run {
            if done(&run) {
                return run;
            }
            last = Some(run);
        }
    }
}

fn state_of(run: &pb::SetupRun, resource: &str) -> SetupStepState {
    step(run, resource)
        .unwrap_or_else(|| panic!("no step {resource}"))
        .state()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_example_spec_applies_from_nothing_waits_for_a_person_and_completes() {
    let stack = Stack::start().await.unwrap();
    let mut orchestrator = stack.orchestrator().await;

    let stream = orchestrator
        .apply_spec(pb::ApplySpecRequest {
            spec_toml: EXAMPLE_SPEC.into(),
            resume_run_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut rx = follow(stream);
    let mut secrets = Vec::new();

    // 1. The run waits for the MFA codes and the subscription's confirmation, and for
    //    nothing else.
    let waiting = until(&mut rx, &mut secrets, "WAITING", |run| {
        run.status() == SetupRunStatus::Waiting
    })
    .await;
    let run_id = waiting.run_id.clone();
    assert_eq!(state_of(&waiting, MFA_STEP), SetupStepState::Waiting);
    assert_eq!(state_of(&waiting, SUB_STEP), SetupStepState::Waiting);
    for s in &waiting.steps {
        if s.resource != MFA_STEP && s.resource != SUB_STEP {
            assert!(
                matches!(
                    s.state(),
                    SetupStepState::Succeeded | SetupStepState::ActionRequired
                ),
                "{} is {:?}: {}",
                s.resource,
                s.state(),
                s.error
            );
        }
    }
    // Console-only steps are reported with instructions, not waited for.
    for s in waiting
        .steps
        .iter()
        .filter(|s| s.state() == SetupStepState::ActionRequired)
    {
        assert_eq!(s.kind, "console-step", "{}", s.resource);
        assert!(!s.instructions.is_empty(), "{}", s.resource);
    }
    let mfa = step(&waiting, MFA_STEP).unwrap();
    assert!(
        mfa.instructions
            .iter()
            .any(|i| i.contains("groundwork mfa complete")),
        "{:?}",
        mfa.instructions
    );
    let serial = mfa.outputs.get("serial_number").cloned().unwrap();
    assert!(serial.starts_with("arn:aws:iam::"), "{serial}");

    // The seed reached this apply stream, once (and the QR code with it).
    let uris: Vec<&pb::OneTimeSecret> = secrets
        .iter()
        .filter(|s| s.name == "mfa_otpauth_uri")
        .collect();
    assert_eq!(uris.len(), 1, "the otpauth URI is shown exactly once");
    assert!(!uris[0].png.is_empty(), "with its QR code");
    let seed = otpauth_secret(&uris[0].value).expect("an otpauth URI with a secret");
    assert!(
        secrets.iter().any(|s| s.name == "initial_password"),
        "the admin's initial password is shown once"
    );

    // 2. The person: two consecutive codes from the authenticator app, `groundwork mfa
    //    complete` (identity's CompleteMfaEnrollment) …
    let (code1, code2) = two_consecutive_codes(&seed).unwrap();
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
        .unwrap();
    // … and the "Confirm subscription" link of the message AWS emailed.
    let mail = stack
        .inbox
        .confirmation_for("ops@example.com")
        .expect("a confirmation message for ops@example.com");
    let inbox_sns =
        aws_sdk_sns::Client::new(&groundwork_e2e::sdk_for(&stack.inbox.endpoint()).await);
    inbox_sns
        .confirm_subscription()
        .topic_arn(&mail.topic_arn)
        .token(&mail.token)
        .send()
        .await
        .unwrap();

    // 3. The run resumes on `MFA Device Enabled` and `Subscription Confirmed` and completes.
    let done = until(&mut rx, &mut secrets, "COMPLETED", |run| {
        run.status() != SetupRunStatus::Waiting && run.status() != SetupRunStatus::Running
    })
    .await;
    assert_eq!(done.status(), SetupRunStatus::Completed, "{}", done.error);
    // The apply stream ends with the run.
    let end = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
    assert!(
        matches!(end, Ok(None)),
        "the apply stream should end after COMPLETED"
    );
    assert_eq!(state_of(&done, MFA_STEP), SetupStepState::Succeeded);
    assert_eq!(state_of(&done, SUB_STEP), SetupStepState::Succeeded);
    for s in &done.steps {
        assert!(
            matches!(
                s.state(),
                SetupStepState::Succeeded | SetupStepState::ActionRequired
            ),
            "{} is {:?}",
            s.resource,
            s.state()
        );
    }
    assert_eq!(
        secrets
            .iter()
            .filter(|s| s.name == "mfa_otpauth_uri")
            .count(),
        1,
        "no secret is shown twice"
    );

    // 4. Every resource in moto is what the spec says.
    assert_identity(&stack, &serial).await;
    assert_budgets(&stack).await;
    let topic_arn = assert_alerting(&stack).await;
    assert_eq!(topic_arn, mail.topic_arn);

    // 5. The bus holds the run's events, in order, without secrets.
    let events = stack.events().await;
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains(&seed), "the MFA seed is in no event");
    let ours: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["source"] == "groundwork.orchestrator" && e["detail"]["runId"] == run_id)
        .collect();
    let types: Vec<&str> = ours
        .iter()
        .map(|e| e["detail-type"].as_str().unwrap())
        .collect();
    assert_eq!(types.first(), Some(&"Setup Run Started"), "{types:?}");
    assert_eq!(types.last(), Some(&"Setup Run Completed"), "{types:?}");
    assert_eq!(ours.last().unwrap()["detail"]["status"], "COMPLETED");
    assert_eq!(
        types.iter().filter(|t| **t == "Setup Run Started").count(),
        1,
        "{types:?}"
    );
    assert_eq!(
        types
            .iter()
            .filter(|t| **t == "Setup Run Completed")
            .count(),
        1,
        "{types:?}"
    );
    assert!(!types.contains(&"Setup Step Failed"), "{types:?}");
    let waiting_at = types
        .iter()
        .position(|t| *t == "Setup Run Waiting")
        .expect("a Setup Run Waiting event");
    let succeeded: Vec<&str> = ours
        .iter()
        .filter(|e| e["detail-type"] == "Setup Step Succeeded")
        .map(|e| e["detail"]["resource"].as_str().unwrap())
        .collect();
    let succeeded_steps = done
        .steps
        .iter()
        .filter(|s| s.state() == SetupStepState::Succeeded)
        .count();
    assert_eq!(succeeded.len(), succeeded_steps, "{succeeded:?}");
    // The steps a person finished succeeded after the run said it was waiting for them.
    for person_step in [MFA_STEP, SUB_STEP] {
        let at = ours
            .iter()
            .position(|e| {
                e["detail-type"] == "Setup Step Succeeded" && e["detail"]["resource"] == person_step
            })
            .unwrap_or_else(|| panic!("no Setup Step Succeeded for {person_step}: {types:?}"));
        assert!(at > waiting_at, "{person_step}: {types:?}");
    }
    // The facts that resumed it are on the bus too.
    assert!(
        events
            .iter()
            .any(|e| e["detail-type"] == "MFA Device Enabled")
    );
    assert!(
        events
            .iter()
            .any(|e| e["detail-type"] == "Subscription Confirmed")
    );

    // The stored run keeps no secret.
    let stored = orchestrator
        .get_run(pb::GetRunRequest {
            run_id: run_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!format!("{stored:?}").contains(&seed));

    // Every service stops on shutdown (no stream left open holds one).
    assert_eq!(
        stack.stop().await,
        Vec::<usize>::new(),
        "services that did not stop (start order)"
    );
}

async fn assert_identity(stack: &Stack, serial: &str) {
    let iam = stack.iam();
    iam.get_user().user_name("admin").send().await.unwrap();
    let groups = iam
        .list_groups_for_user()
        .user_name("admin")
        .send()
        .await
        .unwrap();
    let groups: Vec<&str> = groups.groups().iter().map(|g| g.group_name()).collect();
    assert_eq!(groups, ["Admins"]);
    let attached = iam
        .list_attached_group_policies()
        .group_name("Admins")
        .send()
        .await
        .unwrap();
    let mut arns: Vec<&str> = attached
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn())
        .collect();
    arns.sort_unstable();
    assert_eq!(
        arns,
        [
            "arn:aws:iam::123456789012:policy/Groundwork-RequireMFA",
            "arn:aws:iam::aws:policy/AdministratorAccess",
        ]
    );
    // Console access: a login profile.
    iam.get_login_profile()
        .user_name("admin")
        .send()
        .await
        .expect("the admin has console access");
    // One MFA device, the one enrolled.
    let devices = iam
        .list_mfa_devices()
        .user_name("admin")
        .send()
        .await
        .unwrap();
    let serials: Vec<&str> = devices
        .mfa_devices()
        .iter()
        .map(|d| d.serial_number())
        .collect();
    assert_eq!(serials, [serial]);
    let policy = iam.get_account_password_policy().send().await.unwrap();
    assert_eq!(
        policy.password_policy().unwrap().minimum_password_length(),
        Some(14)
    );
}

async fn assert_budgets(stack: &Stack) {
    let budgets = stack.budgets();
    for name in ["monthly-credits", "monthly-spend"] {
        let b = budgets
            .describe_budget()
            .account_id(groundwork_e2e::ACCOUNT)
            .budget_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("budget {name}: {e:?}"));
        let b = b.budget().unwrap();
        let limit = b.budget_limit().unwrap();
        assert_eq!(limit.amount().parse::<f64>().unwrap(), 20.0, "{name}");
        assert_eq!(limit.unit(), "USD", "{name}");
        assert_eq!(b.time_unit().as_str(), "MONTHLY", "{name}");
        assert_eq!(b.budget_type().as_str(), "COST", "{name}");
        let n = budgets
            .describe_notifications_for_budget()
            .account_id(groundwork_e2e::ACCOUNT)
            .budget_name(name)
            .send()
            .await
            .unwrap();
        let mut alerts: Vec<(String, f64)> = n
            .notifications()
            .iter()
            .map(|n| {
                assert_eq!(n.comparison_operator().as_str(), "GREATER_THAN", "{name}");
                assert_eq!(
                    n.threshold_type().map(|t| t.as_str()),
                    Some("PERCENTAGE"),
                    "{name}"
                );
                (n.notification_type().as_str().to_owned(), n.threshold())
            })
            .collect();
        alerts.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        let expected: Vec<(String, f64)> = [
            ("ACTUAL", 50.0),
            ("ACTUAL", 75.0),
            ("ACTUAL", 100.0),
            ("FORECASTED", 100.0),
        ]
        .into_iter()
        .map(|(k, t)| (k.to_owned(), t))
        .collect();
        assert_eq!(alerts, expected, "{name}");
    }
}

/// Returns the topic's ARN.
async fn assert_alerting(stack: &Stack) -> String {
    let sns = stack.sns();
    let topics = sns.list_topics().send().await.unwrap();
    let arns: Vec<&str> = topics
        .topics()
        .iter()
        .filter_map(|t| t.topic_arn())
        .collect();
    assert_eq!(arns, ["arn:aws:sns:us-east-1:123456789012:billing-alarm"]);
    let topic_arn = arns[0].to_owned();
    let subs = sns
        .list_subscriptions_by_topic()
        .topic_arn(&topic_arn)
        .send()
        .await
        .unwrap();
    let subs: Vec<(&str, &str)> = subs
        .subscriptions()
        .iter()
        .map(|s| (s.protocol().unwrap(), s.endpoint().unwrap()))
        .collect();
    assert_eq!(subs, [("email", "ops@example.com")]);

    let alarms = stack
        .cloudwatch()
        .describe_alarms()
        .alarm_names("billing-alarm")
        .send()
        .await
        .unwrap();
    let [alarm] = alarms.metric_alarms() else {
        panic!("one alarm: {:?}", alarms.metric_alarms());
    };
    assert_eq!(alarm.namespace(), Some("AWS/Billing"));
    assert_eq!(alarm.metric_name(), Some("EstimatedCharges"));
    assert_eq!(alarm.threshold(), Some(20.0));
    assert_eq!(
        alarm.alarm_description(),
        Some("Estimated charges this month are over 20 USD")
    );
    assert_eq!(alarm.alarm_actions(), std::slice::from_ref(&topic_arn));
    topic_arn
}
