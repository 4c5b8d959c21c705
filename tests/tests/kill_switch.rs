//! The kill switch end to end, every part real (moto, nats-server, the event bus, identity,
//! budget and the orchestrator, security on): the spec's `[guardrails.kill_switch]` puts a
//! rule on the event bus; a `Budget Threshold Crossed` emitted with the budget service's
//! NATS credentials goes through that rule to the identity service, which attaches the
//! deny-new-spend policy to the admin group in IAM and announces `Guardrail Engaged`; a
//! person releases it over gRPC and `Guardrail Released` records the reason.
//!
//! Also: the plan after the apply says unchanged; the setup creates the policy, and when
//! someone deletes it the crossing is recorded as a failure that says what to do (the next
//! apply puts it back); a crossing below the threshold or of
//! another budget is not delivered at all; the same delivery twice engages once; a
//! customer's producer cannot forge the crossing; a read-only token cannot release;
//! destroy removes the rule and the policy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use groundwork_bus::Emitter;
use groundwork_bus::access::Principal;
use groundwork_e2e::flow::{apply_to_the_end, destroy, finished, until};
use groundwork_e2e::{ACCOUNT, Stack, eventually};
use groundwork_events::catalog::BudgetThresholdCrossed;
use groundwork_events::envelope::Origin;
use groundwork_proto::v1 as pb;
use pb::event_bus_client::EventBusClient;
use pb::identity_client::IdentityClient;

const SPEC: &str = r#"
[identity]
admin_user = "admin"
mfa_required = false

[[budgets]]
name = "spend"
kind = "spend"
limit_usd = 20
thresholds_percent = [75, 100]
emails = ["ops@example.com"]

[[budgets]]
name = "credits"
kind = "credits"
limit_usd = 100
thresholds_percent = [100]
emails = ["ops@example.com"]

[guardrails.kill_switch]
budgets = ["spend"]
"#;

const POLICY_ARN: &str = "arn:aws:iam::123456789012:policy/groundwork/Groundwork-DenyNewSpend";
const DELIVER_SUBJECT: &str = "groundwork.deliver.identity.kill-switch";

fn crossing(budget: &str, threshold: f64) -> BudgetThresholdCrossed {
    BudgetThresholdCrossed {
        budget: budget.into(),
        threshold,
        threshold_type: "PERCENTAGE".into(),
        notification_type: "ACTUAL".into(),
        comparison_operator: "GREATER_THAN".into(),
        threshold_amount: 20.0 * threshold / 100.0,
        limit: 20.0,
        actual: Some(21.5),
        forecast: None,
        currency: "USD".into(),
        period: "2026-12".into(),
    }
}

/// Emits a crossing as the budget watcher does: the budget service's NATS identity, its
/// emit subject, its own source.
async fn emit_as_budget(stack: &Stack, detail: &BudgetThresholdCrossed) -> String {
    let client = stack.nats.client("budget").await.unwrap();
    let emitter = Emitter::new(
        client,
        Duration::from_secs(5),
        Origin {
            account: ACCOUNT.into(),
            region: "us-east-1".into(),
        },
        Principal::Budget,
        "default",
    )
    .unwrap();
    let (event, emitted) = emitter.emit_event(detail, Vec::new()).await.unwrap();
    assert_eq!(emitted, groundwork_bus::Emitted::Stored);
    event.id
}

/// How many kill switch deliveries the identity service has taken and acknowledged, once
/// none is pending.
async fn deliveries_done(stack: &Stack) -> Option<u64> {
    let js = async_nats::jetstream::new(stack.nats.admin().await.ok()?);
    let stream = js.get_stream("DELIVERIES").await.ok()?;
    let info = stream.consumer_info("identity-kill-switch").await.ok()?;
    (info.num_pending == 0 && info.num_ack_pending == 0).then_some(info.ack_floor.consumer_sequence)
}

async fn wait_for_deliveries(stack: &Stack, n: u64) {
    let done = eventually(Duration::from_secs(30), || async {
        deliveries_done(stack).await.filter(|d| *d >= n)
    })
    .await;
    assert_eq!(done, Some(n), "the identity service took {n} deliveries");
}

async fn attached(stack: &Stack) -> Vec<String> {
    stack
        .iam()
        .list_attached_group_policies()
        .group_name("Admins")
        .send()
        .await
        .unwrap()
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_owned))
        .collect()
}

async fn guardrail(client: &mut IdentityClient<groundwork_e2e::Channel>) -> pb::Guardrail {
    let mut r = client
        .describe_guardrails(pb::DescribeGuardrailsRequest {
            group_name: "Admins".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.guardrails.len(), 1, "{r:?}");
    r.guardrails.remove(0)
}

fn of_type<'a>(events: &'a [serde_json::Value], detail_type: &str) -> Vec<&'a serde_json::Value> {
    events
        .iter()
        .filter(|e| e["source"] == "groundwork.identity" && e["detail-type"] == detail_type)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_budget_crossing_engages_the_kill_switch_and_a_person_releases_it() {
    let stack = Stack::start().await.unwrap();

    // The apply puts the rule on the bus; the plan afterwards changes nothing.
    let run = apply_to_the_end(&stack, SPEC).await.unwrap();
    assert_eq!(run.status(), pb::SetupRunStatus::Completed, "{run:#?}");
    let ks_step = groundwork_e2e::step(&run, "kill-switch/Admins").unwrap();
    assert_eq!(ks_step.outcome, "created");
    let plan = stack
        .orchestrator()
        .await
        .plan_spec(pb::PlanSpecRequest {
            spec_toml: SPEC.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let changed: Vec<_> = plan
        .changes
        .iter()
        .filter(|c| c.action() != pb::PlanAction::Unchanged)
        .collect();
    assert!(changed.is_empty(), "{changed:#?}");
    assert!(
        plan.changes
            .iter()
            .any(|c| c.resource == "kill-switch/Admins")
    );

    let mut eventbus = EventBusClient::new(stack.channel(stack.eventbus).await);
    let rule = eventbus
        .describe_rule(pb::DescribeRuleRequest {
            name: "groundwork-kill-switch".into(),
            event_bus_name: "default".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let pattern: serde_json::Value = serde_json::from_str(&rule.event_pattern).unwrap();
    assert_eq!(pattern["detail"]["budget"], serde_json::json!(["spend"]));
    assert_eq!(
        pattern["detail"]["threshold"],
        serde_json::json!([{"numeric": [">=", 100]}])
    );

    let mut identity = stack.identity().await;

    // The setup created the deny policy the kill switch attaches; nothing is attached yet.
    assert_eq!(
        groundwork_e2e::step(&run, "guardrail-policy/Groundwork-DenyNewSpend")
            .unwrap()
            .outcome,
        "created"
    );
    let g = guardrail(&mut identity).await;
    assert!(g.policy_exists && !g.engaged, "{g:?}");
    assert_eq!(g.policy_arn, POLICY_ARN);

    // Someone deletes the policy: a crossing is then recorded as a failure that says what
    // to do, and nothing is attached…
    stack
        .iam()
        .delete_policy()
        .policy_arn(POLICY_ARN)
        .send()
        .await
        .unwrap();
    let early = emit_as_budget(&stack, &crossing("spend", 100.0)).await;
    wait_for_deliveries(&stack, 1).await;
    let g = guardrail(&mut identity).await;
    assert!(!g.policy_exists, "{g:?}");
    assert_eq!(g.last_error_event_id, early, "{g:?}");
    assert!(
        g.last_error
            .contains("run the setup with budget actions or the kill switch first"),
        "{g:?}"
    );
    assert!(!attached(&stack).await.contains(&POLICY_ARN.to_owned()));
    // …and the next apply puts it back.
    let again = apply_to_the_end(&stack, SPEC).await.unwrap();
    assert_eq!(again.status(), pb::SetupRunStatus::Completed, "{again:#?}");
    assert_eq!(
        groundwork_e2e::step(&again, "guardrail-policy/Groundwork-DenyNewSpend")
            .unwrap()
            .outcome,
        "created"
    );
    assert!(guardrail(&mut identity).await.policy_exists);

    // A customer's producer cannot forge the crossing: the source is reserved.
    let producer = stack.nats.client("events").await.unwrap();
    let forged = serde_json::json!({"Entries": [{
        "Source": "groundwork.budget",
        "DetailType": "Budget Threshold Crossed",
        "Detail": serde_json::to_string(&crossing("spend", 100.0)).unwrap(),
    }]});
    let reply = producer
        .request("groundwork.events.put.default", forged.to_string().into())
        .await
        .unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(answer["FailedEntryCount"], 1, "{answer}");
    assert_eq!(
        answer["Entries"][0]["ErrorCode"], "NotAuthorizedForSourceException",
        "{answer}"
    );

    // Below the threshold, or another budget: the rule does not match them.
    emit_as_budget(&stack, &crossing("spend", 75.0)).await;
    emit_as_budget(&stack, &crossing("credits", 100.0)).await;

    // The crossing: delivered through the rule, the policy attached, announced once.
    let trigger = emit_as_budget(&stack, &crossing("spend", 100.0)).await;
    let engaged = eventually(Duration::from_secs(30), || async {
        let events = stack.events().await;
        let found = of_type(&events, "Guardrail Engaged").len();
        (found > 0).then_some(events)
    })
    .await
    .expect("Guardrail Engaged was announced");
    let announced = of_type(&engaged, "Guardrail Engaged");
    assert_eq!(announced.len(), 1);
    let detail = &announced[0]["detail"];
    assert_eq!(detail["groupName"], "Admins");
    assert_eq!(detail["policyArn"], POLICY_ARN);
    assert_eq!(detail["budget"], "spend");
    assert_eq!(detail["threshold"], 100.0);
    assert_eq!(detail["triggerEventId"], trigger);
    assert_eq!(
        attached(&stack)
            .await
            .iter()
            .filter(|a| *a == POLICY_ARN)
            .count(),
        1
    );
    // Only the two crossings that match were delivered (the early one and this one).
    wait_for_deliveries(&stack, 2).await;

    // The same delivery again (JetStream delivers at least once): nothing more happens.
    let admin = async_nats::jetstream::new(stack.nats.admin().await.unwrap());
    let stream = admin.get_stream("DELIVERIES").await.unwrap();
    let last = stream
        .get_last_raw_message_by_subject(DELIVER_SUBJECT)
        .await
        .unwrap();
    let again: serde_json::Value = serde_json::from_slice(&last.payload).unwrap();
    assert_eq!(again["event"]["id"], trigger);
    admin
        .publish(DELIVER_SUBJECT, last.payload.clone())
        .await
        .unwrap()
        .await
        .unwrap();
    wait_for_deliveries(&stack, 3).await;
    assert_eq!(
        of_type(&stack.events().await, "Guardrail Engaged").len(),
        1,
        "engaged once"
    );
    assert!(attached(&stack).await.contains(&POLICY_ARN.to_owned()));

    // What DescribeGuardrails says, to a read-only caller too; who may not release.
    let read_only = stack
        .channel_with(stack.identity, Some(&stack.security.read_only_token))
        .await
        .unwrap();
    let mut read_only = IdentityClient::new(read_only);
    let g = guardrail(&mut read_only).await;
    assert!(g.engaged && g.policy_exists, "{g:?}");
    assert_eq!(g.trigger_event_id, trigger);
    assert_eq!(g.budget, "spend");
    assert!(!g.engaged_at.is_empty());
    let denied = read_only
        .release_guardrail(pb::ReleaseGuardrailRequest {
            group_name: "Admins".into(),
            reason: "trying".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{denied:?}");
    let no_reason = identity
        .release_guardrail(pb::ReleaseGuardrailRequest {
            group_name: "Admins".into(),
            reason: "  ".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        no_reason.code(),
        tonic::Code::InvalidArgument,
        "{no_reason:?}"
    );
    assert!(attached(&stack).await.contains(&POLICY_ARN.to_owned()));

    // The person releases it: detached, and recorded with the reason.
    let released = identity
        .release_guardrail(pb::ReleaseGuardrailRequest {
            group_name: String::new(),
            reason: "limit raised to 40 USD for the launch".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(released.policy_arn, POLICY_ARN);
    assert_eq!(released.trigger_event_id, trigger);
    assert!(!attached(&stack).await.contains(&POLICY_ARN.to_owned()));
    let events = eventually(Duration::from_secs(10), || async {
        let events = stack.events().await;
        (!of_type(&events, "Guardrail Released").is_empty()).then_some(events)
    })
    .await
    .expect("Guardrail Released was recorded");
    let released = of_type(&events, "Guardrail Released");
    let detail = &released[0]["detail"];
    assert_eq!(detail["reason"], "limit raised to 40 USD for the launch");
    assert_eq!(detail["role"], "operator");
    assert_eq!(detail["caller"], "operator");
    assert_eq!(detail["triggerEventId"], trigger);
    let g = guardrail(&mut identity).await;
    assert!(!g.engaged, "{g:?}");
    assert_eq!(g.release_reason, "limit raised to 40 USD for the launch");
    assert_eq!(g.released_by, "operator");
    let again = identity
        .release_guardrail(pb::ReleaseGuardrailRequest {
            group_name: "Admins".into(),
            reason: "again".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), tonic::Code::FailedPrecondition, "{again:?}");

    // Destroy takes the rule and the policy away.
    let mut rx = destroy(&stack, SPEC).await.unwrap();
    let done = until(&mut rx, &mut Vec::new(), "the destroy's end", finished)
        .await
        .unwrap();
    assert_eq!(done.status(), pb::SetupRunStatus::Completed, "{done:#?}");
    let gone = eventbus
        .describe_rule(pb::DescribeRuleRequest {
            name: "groundwork-kill-switch".into(),
            event_bus_name: "default".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), tonic::Code::NotFound);
    assert!(!guardrail(&mut identity).await.policy_exists);
    let stuck = stack.stop().await;
    assert!(stuck.is_empty(), "every service stopped: {stuck:?}");
}
