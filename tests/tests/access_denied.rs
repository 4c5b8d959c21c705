//! AWS refuses the services' credentials: the sandbox enforces IAM, and the services run as
//! an IAM user with no permission. The same AWS failure (AccessDenied) reaches a client the
//! same way from every service — PERMISSION_DENIED, reason `AWS_ACCESS_DENIED`, no
//! RetryInfo — and the orchestrator, which retries only what a service marks retryable,
//! attempts the denied step once and fails it with AWS's message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use futures::StreamExt;
use groundwork_e2e::flow::finished;
use groundwork_e2e::{EXAMPLE_SPEC, Stack};
use groundwork_proto::v1 as pb;
use pb::alerting_client::AlertingClient;
use pb::budget_client::BudgetClient;
use pb::{SetupRunStatus, SetupStepState};
use tonic::Code;

/// The IAM user the services run as.
const USER: &str = "groundwork-denied";

/// What every service must answer when AWS denies its credentials.
fn assert_denied(service: &str, status: &tonic::Status) {
    assert_eq!(
        status.code(),
        Code::PermissionDenied,
        "{service}: {status:?}"
    );
    let error = groundwork_kit::Error::from_status(status);
    assert_eq!(error.reason(), "AWS_ACCESS_DENIED", "{service}: {status:?}");
    assert_eq!(
        error.metadata("aws_code"),
        Some("AccessDenied"),
        "{service}: {status:?}"
    );
    assert!(!error.is_retryable(), "{service}: RetryInfo in {status:?}");
    assert_eq!(error.retry_after(), None, "{service}: {status:?}");
    // AWS's own words name the identity refused.
    assert!(
        error.message().contains(&format!("user/{USER}")),
        "{service}: {status:?}"
    );
}

/// The action AWS refused, from its message (`… is not authorized to perform: iam:GetUser`).
fn refused_action(error: &str) -> Option<&str> {
    let (_, rest) = error.split_once("is not authorized to perform: ")?;
    let (_, action) = rest.split_once(':')?;
    action.split(|c: char| !c.is_ascii_alphanumeric()).next()
}

/// Applies the example spec and follows the run until a step has failed (or the run is
/// over). A terminal failure is FAILED at once; a retryable one goes to BACKOFF first. The
/// stream is dropped on return, so that the orchestrator can stop while the run is open.
async fn first_failure(stack: &Stack) -> pb::SetupRun {
    let mut stream = stack
        .orchestrator()
        .await
        .apply_spec(pb::ApplySpecRequest {
            spec_toml: EXAMPLE_SPEC.into(),
            resume_run_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut last = None;
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(update))) => {
                if let Some(run) = update.run {
                    let failed = run
                        .steps
                        .iter()
                        .any(|s| s.state() == SetupStepState::Failed);
                    if failed || finished(&run) {
                        return run;
                    }
                    last = Some(run);
                }
            }
            other => panic!("no failed step: {other:?}; last: {last:#?}"),
        }
    }
}

async fn ensure_topic(stack: &Stack) -> tonic::Status {
    AlertingClient::new(stack.channel(stack.alerting).await)
        .ensure_topic(pb::EnsureTopicRequest {
            name: "billing-alarm".into(),
            tags: Vec::new(),
        })
        .await
        .expect_err("alerting: EnsureTopic with denied credentials")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn access_denied_is_one_error_from_every_service_and_attempted_once_by_a_run() {
    let stack = Stack::start_with_iam_user(USER).await.unwrap();

    // Each service's Ensure call, straight over gRPC.
    let identity = stack
        .identity()
        .await
        .ensure_admin(pb::EnsureAdminRequest {
            user_name: "admin".into(),
            ..Default::default()
        })
        .await
        .expect_err("identity: EnsureAdmin with denied credentials");
    assert_denied("identity", &identity);

    let budget = BudgetClient::new(stack.channel(stack.budget).await)
        .ensure_budget(pb::EnsureBudgetRequest {
            budget: Some(pb::BudgetDefinition {
                budget_name: "monthly-spend".into(),
                budget_limit: Some(pb::Spend {
                    amount: "20".into(),
                    unit: "USD".into(),
                }),
                time_unit: "MONTHLY".into(),
                kind: pb::BudgetKind::Spend.into(),
                ..Default::default()
            }),
            dry_run: false,
        })
        .await
        .expect_err("budget: EnsureBudget with denied credentials");
    assert_denied("budget", &budget);

    // Alerting answers with the same code; its error details are checked by
    // `alerting_answers_access_denied_as_the_other_services_do`.
    assert_eq!(ensure_topic(&stack).await.code(), Code::PermissionDenied);

    // Nothing was created.
    let users = stack.iam().list_users().send().await.unwrap();
    let mut names: Vec<&str> = users.users().iter().map(|u| u.user_name()).collect();
    names.sort_unstable();
    assert_eq!(names, ["e2e-operator", USER]);
    let budgets = stack
        .budgets()
        .describe_budgets()
        .account_id(groundwork_e2e::ACCOUNT)
        .send()
        .await
        .unwrap();
    assert!(budgets.budgets().is_empty(), "{budgets:?}");

    // An apply. The orchestrator first checks that the spec's managed policies exist
    // (identity's CheckPolicies: iam:GetPolicy); the operator grants that read, and nothing
    // else, so that the run starts and its first step meets the refusal.
    stack
        .iam()
        .put_user_policy()
        .user_name(USER)
        .policy_name("read-policies")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetPolicy","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    let calls_before = stack.inbox.calls().len();
    let run = first_failure(&stack).await;
    assert_ne!(run.status(), SetupRunStatus::Completed, "{run:#?}");
    let failed: Vec<&pb::SetupStep> = run
        .steps
        .iter()
        .filter(|s| s.state() == SetupStepState::Failed)
        .collect();
    let [step] = failed.as_slice() else {
        panic!("one failed step expected: {run:#?}");
    };
    // The first step that calls AWS.
    assert_eq!(step.resource, "admin-user/admin", "{run:#?}");
    assert_eq!(step.attempts, 1, "{run:#?}");
    assert!(
        step.error.contains("AccessDenied")
            && step.error.contains(&format!("user/{USER}"))
            && step.error.contains("PermissionDenied"),
        "{}",
        step.error
    );
    // No other step was tried, none waits to be tried again.
    for other in &run.steps {
        if other.resource != step.resource {
            assert_eq!(other.attempts, 0, "{run:#?}");
        }
        assert_ne!(other.state(), SetupStepState::Backoff, "{run:#?}");
    }
    // The refused call reached AWS exactly once: no retry by the SDK, the service or the
    // orchestrator.
    let refused = refused_action(&step.error).unwrap();
    let calls = stack.inbox.calls();
    assert_eq!(
        calls[calls_before..]
            .iter()
            .filter(|c| c.as_str() == refused)
            .count(),
        1,
        "{refused} in {calls:?}"
    );

    let stuck = stack.stop().await;
    assert!(stuck.is_empty(), "every service stopped: {stuck:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alerting_answers_access_denied_as_the_other_services_do() {
    let stack = Stack::start_with_iam_user(USER).await.unwrap();
    assert_denied("alerting", &ensure_topic(&stack).await);
    let topics = stack.sns().list_topics().send().await.unwrap();
    assert!(topics.topics().is_empty(), "{topics:?}");
    let stuck = stack.stop().await;
    assert!(stuck.is_empty(), "every service stopped: {stuck:?}");
}

#[test]
fn the_refused_action_is_read_from_awss_message() {
    assert_eq!(
        refused_action(
            "EnsureAdmin: GetAccountPasswordPolicy failed: AccessDenied: User: arn:aws:iam::123456789012:user/u is not authorized to perform: iam:GetAccountPasswordPolicy; the service's AWS credentials need IAM permissions for this (PermissionDenied)"
        ),
        Some("GetAccountPasswordPolicy")
    );
    assert_eq!(refused_action("CreateTopic failed: Throttling"), None);
}
