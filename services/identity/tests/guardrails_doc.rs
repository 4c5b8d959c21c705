//! docs/BUDGET.md shows the exact "deny new spend" policy and the execution role's trust
//! and permissions (for a sample spec): generated from `guardrails.rs`, so the documents
//! in the docs are the ones Groundwork creates. `UPDATE_DOCS=1 cargo test -p
//! groundwork-identity --test guardrails_doc` rewrites them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use groundwork_identity::guardrails::{self, RoleGrants, StopKind, StopTarget};
use serde_json::Value;

const ACCOUNT: &str = "123456789012";

fn doc_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/BUDGET.md")
}

/// The sample the docs show: the deny policy on `Admins`, and stopping one EC2 instance.
fn sample_grants() -> RoleGrants {
    RoleGrants {
        deny_new_spend: true,
        policy_arns: vec![],
        groups: vec!["Admins".into()],
        users: vec![],
        stop: vec![StopTarget {
            kind: StopKind::Ec2,
            region: "eu-west-1".into(),
            instance_ids: vec!["i-0123456789abcdef0".into()],
        }],
    }
}

fn blocks() -> Vec<(&'static str, Value)> {
    vec![
        ("deny-new-spend", guardrails::deny_new_spend_document()),
        (
            "budgets-action-role-trust",
            guardrails::budgets_trust_document(ACCOUNT),
        ),
        (
            "budgets-action-role-permissions",
            guardrails::budgets_action_role_document("aws", ACCOUNT, &sample_grants()),
        ),
    ]
}

/// `text` with the block between `<!-- NAME:begin -->` and `<!-- NAME:end -->` replaced.
fn with_block(text: &str, name: &str, json: &str) -> String {
    let begin = format!("<!-- {name}:begin -->\n");
    let end = format!("<!-- {name}:end -->");
    let start = text
        .find(&begin)
        .unwrap_or_else(|| panic!("docs/BUDGET.md has no {begin:?}"))
        + begin.len();
    let stop = text[start..]
        .find(&end)
        .unwrap_or_else(|| panic!("docs/BUDGET.md has no {end:?}"))
        + start;
    format!("{}```json\n{json}\n```\n{}", &text[..start], &text[stop..])
}

#[test]
fn the_docs_show_the_documents_groundwork_creates() {
    let path = doc_path();
    let text = std::fs::read_to_string(&path).unwrap();
    let mut wanted = text.clone();
    for (name, doc) in blocks() {
        wanted = with_block(&wanted, name, &serde_json::to_string_pretty(&doc).unwrap());
    }
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &wanted).unwrap();
        return;
    }
    assert!(
        text == wanted,
        "docs/BUDGET.md shows other documents than guardrails.rs makes; run UPDATE_DOCS=1 cargo test -p groundwork-identity --test guardrails_doc"
    );
}
