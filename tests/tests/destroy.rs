//! Acceptance: Destroy leaves the sandbox as it was before the apply. The example spec is
//! applied from nothing and finished by a person (MFA codes, confirmation link); DestroySpec
//! then removes, in reverse dependency order, the alarm, the subscription, the topic, the
//! budgets, the MFA policy, the admin user with its MFA device, login profile and group, and
//! the password policy the apply created. Every kind of resource the setup touches is read
//! from moto before and after, and must be the same. A second destroy finds nothing to do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use groundwork_e2e::flow::{self, do_person_steps, finished, sandbox_snapshot, until};
use groundwork_e2e::{EXAMPLE_SPEC, Stack};
use groundwork_proto::v1 as pb;
use pb::{SetupRunStatus, SetupStepState};

async fn destroy(stack: &Stack) -> pb::SetupRun {
    let mut rx = flow::destroy(stack, EXAMPLE_SPEC).await.unwrap();
    let done = until(&mut rx, &mut Vec::new(), "the destroy run's end", finished)
        .await
        .unwrap();
    assert_eq!(done.status(), SetupRunStatus::Completed, "{done:#?}");
    assert_eq!(done.kind(), pb::SetupRunKind::Destroy);
    for s in &done.steps {
        assert_eq!(
            s.state(),
            SetupStepState::Succeeded,
            "{}: {}",
            s.resource,
            s.error
        );
    }
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn destroy_leaves_the_sandbox_as_it_was_before_the_apply() {
    let stack = Stack::start().await.unwrap();
    let before = sandbox_snapshot(&stack).await.unwrap();

    // The first-day setup, applied and finished by a person.
    let mut rx = flow::apply(&stack, EXAMPLE_SPEC, "").await.unwrap();
    let mut secrets = Vec::new();
    let waiting = until(&mut rx, &mut secrets, "WAITING", |r| {
        r.status() == SetupRunStatus::Waiting
    })
    .await
    .unwrap();
    do_person_steps(&stack, &waiting, &secrets).await.unwrap();
    let applied = until(&mut rx, &mut secrets, "the apply's end", finished)
        .await
        .unwrap();
    assert_eq!(
        applied.status(),
        SetupRunStatus::Completed,
        "{}",
        applied.error
    );
    let during = sandbox_snapshot(&stack).await.unwrap();
    for kind in [
        "users",
        "groups",
        "policies",
        "mfa devices",
        "password policy",
        "budgets",
        "topics",
        "subscriptions",
        "alarms",
    ] {
        assert_ne!(before[kind], during[kind], "the apply changed no {kind}");
    }

    // Destroy: everything the apply made goes, and nothing else.
    destroy(&stack).await;
    let after = sandbox_snapshot(&stack).await.unwrap();
    assert_eq!(
        after, before,
        "the sandbox after destroy differs from before the apply"
    );

    // Removal events on the bus, as for creations.
    let events = stack.events().await;
    for detail_type in [
        "Admin User Deleted",
        "Topic Deleted",
        "Subscription Deleted",
        "Alarm Deleted",
    ] {
        assert!(
            events.iter().any(|e| e["detail-type"] == detail_type),
            "no {detail_type} event"
        );
    }

    // A second destroy finds nothing left.
    let again = destroy(&stack).await;
    for s in &again.steps {
        assert_eq!(s.outcome, "absent", "{}", s.resource);
    }
    assert_eq!(sandbox_snapshot(&stack).await.unwrap(), before);
    assert_eq!(stack.stop().await, Vec::<usize>::new());
}
