//! The guardrails in the sandbox as a person runs them: `groundwork up --apply
//! examples/guardrails.toml` (moto with the AWS stand-in in front of it for the Free Tier API
//! and Budgets' actions) gets the run to WAITING (the admin's MFA is a person's step) with the
//! Free plan read from the stand-in, the credits budget's limit taken from its remaining
//! credits, the deny policy, the execution role, both budget actions and the kill switch
//! made; `plan` afterwards says every one of them is unchanged; `destroy` removes them, so
//! that the plan after it would create them again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod up;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;
use up::{Ports, Up};

/// What the spec adds beside the first-day setup of examples/groundwork.toml.
const GUARDRAILS: &[&str] = &[
    "account-plan/account",
    "guardrail-policy/Groundwork-DenyNewSpend",
    "budgets-action-role/Groundwork-BudgetsActionRole",
    "budget-action/monthly-spend:apply-deny-new-spend",
    "budget-action/monthly-spend:stop-ec2-us-east-1",
    "kill-switch/Admins",
];

fn groundwork_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_groundwork"))
        .args(args)
        .current_dir(dir)
        .env_remove("GROUNDWORK_API_TOKEN")
        .env_remove("GROUNDWORK_ORCHESTRATOR_URL")
        .output()
        .unwrap()
}

/// `groundwork plan --json SPEC` in `dir`: the plan, and each resource's action.
fn plan(dir: &Path, spec: &Path) -> (Value, Vec<(String, String)>) {
    let out = groundwork_in(dir, &["plan", "--json", spec.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["resource"].as_str().unwrap().to_owned(),
                c["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (plan, actions)
}

fn action_of<'a>(actions: &'a [(String, String)], resource: &str) -> &'a str {
    actions
        .iter()
        .find(|(r, _)| r == resource)
        .map(|(_, a)| a.as_str())
        .unwrap_or_else(|| panic!("{resource} is not in the plan: {actions:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_guardrails_spec_is_applied_in_the_sandbox_then_unchanged_then_destroyed() {
    let spec = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/guardrails.toml");
    let spec = spec.canonicalize().unwrap();
    let work = tempfile::tempdir().unwrap();
    let (up, printed) = Up::start(
        work.path(),
        &[
            Ports::pick().args(),
            vec!["--apply".into(), spec.to_str().unwrap().into()],
        ]
        .concat(),
        Duration::from_secs(300),
    );
    let printed = printed.join("\n");
    println!("{printed}");
    assert!(
        !printed.contains("the apply failed"),
        "{printed}\n{}",
        up.errors_in_logs()
    );
    // The run waits for the admin's MFA, as the first-day setup does.
    assert!(printed.contains("WAITING"), "{printed}");

    let (before, actions) = plan(work.path(), &spec);
    for resource in GUARDRAILS {
        assert_eq!(
            action_of(&actions, resource),
            "unchanged",
            "{resource} after the apply: {before:#}"
        );
    }
    // The credits budget's limit is what the stand-in's Free plan has left (100 USD).
    assert_eq!(action_of(&actions, "budget/monthly-credits"), "unchanged");
    let plan_state = &before["account_plan"];
    assert_eq!(plan_state["plan_type"], "FREE", "{before:#}");
    let credits: f64 = plan_state["remaining_credits"]["amount"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(credits, 100.0, "{before:#}");

    // The manual action waits for a person: the CLI lists it, approves it (it runs) and
    // undoes it, as AWS Budgets (here the stand-in) reports.
    let actions = |args: &[&str]| -> Vec<Value> {
        let out = groundwork_in(
            work.path(),
            &[&["--output", "json", "budgets"], args].concat(),
        );
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    };
    let listed = actions(&["actions", "--budget", "monthly-spend"]);
    assert_eq!(listed.len(), 2, "{listed:#?}");
    let manual = listed
        .iter()
        .find(|a| a["ApprovalModel"] == "MANUAL")
        .unwrap_or_else(|| panic!("no manual action: {listed:#?}"));
    assert_eq!(manual["NotificationType"], "FORECASTED", "{manual:#}");
    assert_eq!(
        manual["ActionThreshold"]["ActionThresholdValue"], 150.0,
        "{manual:#}"
    );
    let id = manual["ActionId"].as_str().unwrap();
    for (execution, status) in [
        ("approve", "EXECUTION_SUCCESS"),
        ("reverse", "REVERSE_SUCCESS"),
    ] {
        let after = actions(&[
            "execute-action",
            "--budget",
            "monthly-spend",
            "--action-id",
            id,
            "--execution",
            execution,
        ]);
        assert_eq!(after[0]["Status"], status, "{execution}: {after:#?}");
    }

    let out = groundwork_in(work.path(), &["destroy", spec.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let (after, actions) = plan(work.path(), &spec);
    for resource in GUARDRAILS {
        assert_eq!(
            action_of(&actions, resource),
            "create",
            "{resource} after destroy: {after:#}"
        );
    }
    drop(up);
}
