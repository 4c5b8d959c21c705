//! The spec's notifications: a webhook (a real HTTP server started here) and a rule on the
//! default bus that sends the orchestrator's `Setup Run Completed` events to it. Apply
//! makes the rule with the webhook as its only target; the webhook receives a run's
//! completion; plan and a second apply find nothing to change; a rule changed by hand
//! (other pattern, a stray target) is planned as an update and put back by apply; destroy
//! removes it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use groundwork_e2e::Channel;
use groundwork_e2e::flow::{self, finished, until};
use groundwork_e2e::{Stack, eventually, step};
use groundwork_proto::v1 as pb;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use pb::SetupRunStatus;
use pb::event_bus_client::EventBusClient;

const RULE: &str = "rule/default:setup-finished";

fn spec(url: &str) -> String {
    format!(
        r#"
[account]
region = "us-east-1"

[[notifications.webhooks]]
name = "ops-hook"
url = "{url}"

[[notifications.rules]]
name = "setup-finished"
targets = ["ops-hook"]
[notifications.rules.event_pattern]
source = ["groundwork.orchestrator"]
detail-type = ["Setup Run Completed"]
"#
    )
}

/// A webhook receiver: answers 200 to every POST and keeps the bodies.
async fn receiver() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = bodies.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let kept = kept.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let kept = kept.clone();
                        async move {
                            let body: Bytes = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            if let Ok(v) = serde_json::from_slice(&body) {
                                kept.lock().unwrap().push(v);
                            }
                            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::new())))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (url, bodies)
}

async fn run(stack: &Stack, spec: &str, destroy: bool) -> pb::SetupRun {
    let mut rx = if destroy {
        flow::destroy(stack, spec).await
    } else {
        flow::apply(stack, spec, "").await
    }
    .unwrap();
    let done = until(&mut rx, &mut Vec::new(), "the run's end", finished)
        .await
        .unwrap();
    assert_eq!(done.status(), SetupRunStatus::Completed, "{done:#?}");
    done
}

async fn targets(bus: &mut EventBusClient<Channel>) -> Vec<(String, String)> {
    bus.list_targets_by_rule(pb::ListTargetsByRuleRequest {
        rule: "setup-finished".into(),
        event_bus_name: "default".into(),
        next_token: String::new(),
        limit: 0,
    })
    .await
    .unwrap()
    .into_inner()
    .targets
    .into_iter()
    .map(|t| (t.id, t.arn))
    .collect()
}

fn outcome(run: &pb::SetupRun, resource: &str) -> String {
    step(run, resource)
        .unwrap_or_else(|| panic!("no step {resource}: {run:#?}"))
        .outcome
        .clone()
}

async fn plan(stack: &Stack, spec: &str) -> Vec<(String, pb::PlanAction, Vec<String>)> {
    stack
        .orchestrator()
        .await
        .plan_spec(pb::PlanSpecRequest {
            spec_toml: spec.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .changes
        .into_iter()
        .map(|c| {
            let action = c.action();
            let fields = c.fields.into_iter().map(|f| f.field).collect();
            (c.resource, action, fields)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notification_rules_are_applied_kept_in_line_and_destroyed() {
    let stack = Stack::start().await.unwrap();
    let (url, bodies) = receiver().await;
    let spec = spec(&url);
    let mut bus = EventBusClient::new(stack.channel(stack.eventbus).await);
    let describe = pb::DescribeRuleRequest {
        name: "setup-finished".into(),
        event_bus_name: "default".into(),
    };

    // Before: the plan creates the rule.
    let before = plan(&stack, &spec).await;
    assert!(
        before
            .iter()
            .any(|(r, a, _)| r == RULE && *a == pb::PlanAction::Create),
        "{before:#?}"
    );

    let first = run(&stack, &spec, false).await;
    assert_eq!(outcome(&first, RULE), "created");
    let rule = bus
        .describe_rule(describe.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rule.state, "ENABLED");
    let pattern: serde_json::Value = serde_json::from_str(&rule.event_pattern).unwrap();
    assert_eq!(
        pattern,
        serde_json::json!({
            "source": ["groundwork.orchestrator"],
            "detail-type": ["Setup Run Completed"]
        })
    );
    assert_eq!(
        step(&first, RULE).unwrap().outputs["rule_arn"],
        rule.arn,
        "the step reports the rule's ARN"
    );
    assert_eq!(
        targets(&mut bus).await,
        vec![("ops-hook".to_owned(), url.clone())]
    );

    // Nothing to change: the plan says so and a second apply does nothing to the rule.
    let again = plan(&stack, &spec).await;
    let changed: Vec<_> = again
        .iter()
        .filter(|(_, a, _)| *a != pb::PlanAction::Unchanged)
        .collect();
    assert!(changed.is_empty(), "{changed:#?}");
    let second = run(&stack, &spec, false).await;
    assert_eq!(outcome(&second, RULE), "unchanged");

    // The rule exists from the first run on, so the second run's completion reaches the
    // webhook (at least once: a delivery may be repeated, never lost).
    let second_id = second.run_id.clone();
    let got = eventually(Duration::from_secs(20), || {
        let bodies = bodies.clone();
        let second_id = second_id.clone();
        async move {
            bodies
                .lock()
                .unwrap()
                .iter()
                .find(|e| e["detail"]["runId"] == second_id.as_str())
                .cloned()
        }
    })
    .await
    .expect("the webhook received the second run's Setup Run Completed");
    assert_eq!(got["detail-type"], "Setup Run Completed");
    assert_eq!(got["source"], "groundwork.orchestrator");

    // Changed by hand: another pattern and a stray target.
    bus.put_rule(pb::PutRuleRequest {
        name: "setup-finished".into(),
        event_bus_name: "default".into(),
        event_pattern: r#"{"source":["somewhere.else"]}"#.into(),
        state: "ENABLED".into(),
        description: String::new(),
        tags: Vec::new(),
    })
    .await
    .unwrap();
    bus.put_targets(pb::PutTargetsRequest {
        rule: "setup-finished".into(),
        event_bus_name: "default".into(),
        targets: vec![pb::Target {
            id: "stray".into(),
            arn: "nats:stray.subject".into(),
            ..Default::default()
        }],
    })
    .await
    .unwrap();
    let drift = plan(&stack, &spec).await;
    let (_, action, fields) = drift.iter().find(|(r, _, _)| r == RULE).unwrap();
    assert_eq!(*action, pb::PlanAction::Update, "{drift:#?}");
    assert!(
        fields.iter().any(|f| f == "event_pattern") && fields.iter().any(|f| f == "targets"),
        "{fields:?}"
    );
    let third = run(&stack, &spec, false).await;
    assert_eq!(outcome(&third, RULE), "updated");
    let rule = bus
        .describe_rule(describe.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&rule.event_pattern).unwrap(),
        pattern
    );
    assert_eq!(
        targets(&mut bus).await,
        vec![("ops-hook".to_owned(), url.clone())]
    );

    // Destroy: the rule and its target are gone; a second destroy finds nothing.
    let destroyed = run(&stack, &spec, true).await;
    assert_eq!(outcome(&destroyed, RULE), "deleted");
    let gone = bus.describe_rule(describe.clone()).await.unwrap_err();
    assert_eq!(gone.code(), tonic::Code::NotFound, "{gone:?}");
    let again = run(&stack, &spec, true).await;
    assert_eq!(outcome(&again, RULE), "absent");

    stack.stop().await;
}
