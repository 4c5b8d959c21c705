//! Architecture diagrams in Mermaid, generated from a spec and, when given, the live state:
//!
//! - the **conceptual** diagram says what protects the account and who hears about what
//!   (people, the admin instead of root, the money limits, the alerts);
//! - the **logical** diagram shows the processes and resources: the Groundwork services,
//!   the NATS bus and KV, the rules, and the AWS resources with their links. With live
//!   state each AWS resource says whether it exists and differs.
//!
//! Pure text generation; `groundwork diagram` and the README use it.

use std::fmt::Write as _;

use crate::resource::LiveState;
use crate::resource::{Kind, Resource, resources};
use crate::{NotifyOn, Spec};

/// Both diagrams, as Mermaid `flowchart` sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagrams {
    pub conceptual: String,
    pub logical: String,
}

/// Draws a spec; with `live`, AWS resources carry their live status.
pub fn draw(spec: &Spec, live: Option<&LiveState>) -> Diagrams {
    let rs = resources(spec);
    Diagrams {
        conceptual: conceptual(spec),
        logical: logical(&rs, live),
    }
}

/// A Mermaid node id from any text: letters, digits and `_` only.
fn node_id(text: &str) -> String {
    let mut out = String::from("n_");
    for c in text.chars() {
        out.push(if c.is_ascii_alphanumeric() { c } else { '_' });
    }
    out
}

/// A quoted Mermaid label.
fn label(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "#quot;"))
}

fn conceptual(spec: &Spec) -> String {
    let mut d = String::from("flowchart LR\n");
    let _ = writeln!(d, "  person([Account owner])");
    let _ = writeln!(d, "  root[[Root user: console only, MFA, no access keys]]");
    let _ = writeln!(d, "  person -. locks away .-> root");
    if let Some(identity) = &spec.identity {
        let mfa = if identity.mfa_required {
            ", MFA required"
        } else {
            ""
        };
        let _ = writeln!(
            d,
            "  admin[{}]",
            label(&format!(
                "Admin user {} in group {}{mfa}",
                identity.admin_user, identity.group
            ))
        );
        let _ = writeln!(d, "  person -- daily work --> admin");
        let _ = writeln!(d, "  account[(AWS account)]");
        let _ = writeln!(d, "  admin -- administers --> account");
    } else {
        let _ = writeln!(d, "  account[(AWS account)]");
    }
    for b in &spec.budgets {
        let id = node_id(&format!("budget {}", b.name));
        let alerts = b.notifications();
        let at = |kind: NotifyOn, name: &str| -> Option<String> {
            let list: Vec<String> = alerts
                .iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, t)| format!("{t}%"))
                .collect();
            (!list.is_empty()).then(|| format!("{} {name}", list.join("/")))
        };
        let thresholds: Vec<String> = [
            at(NotifyOn::Actual, "actual"),
            at(NotifyOn::Forecasted, "forecast"),
        ]
        .into_iter()
        .flatten()
        .collect();
        let _ = writeln!(
            d,
            "  {id}{{{}}}",
            label(&format!(
                "Budget {}: {} {:?}, alerts at {}",
                b.name,
                match b.limit_usd.usd() {
                    Some(usd) => format!("{usd} USD"),
                    None => "the Free plan's remaining credits in".to_owned(),
                },
                b.kind,
                thresholds.join(", ")
            ))
        );
        let _ = writeln!(d, "  account -- spend --> {id}");
        let _ = writeln!(d, "  {id} -- email --> person");
        budget_actions(&mut d, spec, b, &id);
    }
    if let Some(alerting) = &spec.alerting {
        for a in &alerting.billing_alarms {
            let id = node_id(&format!("alarm {}", a.name));
            let _ = writeln!(
                d,
                "  {id}{{{}}}",
                label(&format!(
                    "Billing alarm {}: over {} USD",
                    a.name, a.threshold_usd
                ))
            );
            let _ = writeln!(d, "  account -- estimated charges --> {id}");
            let _ = writeln!(d, "  {id} -- notifies --> topic");
        }
        let _ = writeln!(
            d,
            "  topic[/{}/]",
            label(&format!("Alert topic {}", alerting.topic))
        );
        if !alerting.subscriptions.is_empty() {
            let _ = writeln!(d, "  topic -- confirmed subscription --> person");
        }
    }
    kill_switch(&mut d, spec);
    if !spec.notifications.rules.is_empty() {
        let _ = writeln!(d, "  events[(Event bus)]");
        let _ = writeln!(d, "  account -- changes as events --> events");
        for w in &spec.notifications.webhooks {
            let id = node_id(&format!("webhook {}", w.name));
            let _ = writeln!(d, "  {id}[{}]", label(&format!("Webhook {}", w.name)));
            let _ = writeln!(d, "  events -- matching rules --> {id}");
        }
    }
    d
}

/// The kill switch: each budget it watches → the switch (a rule on the event bus) → the
/// deny policy on the admin group.
fn kill_switch(d: &mut String, spec: &Spec) {
    let Some(ks) = &spec.guardrails.kill_switch else {
        return;
    };
    let Some(group) = ks.group_name(spec) else {
        return;
    };
    let on = match ks.notification_type {
        crate::NotifyOn::Actual => "actual",
        crate::NotifyOn::Forecasted => "forecasted",
    };
    let threshold = ks.threshold_percent.get();
    let _ = writeln!(
        d,
        "  kill_switch[/{}/]",
        label(&format!(
            "Kill switch: a rule on the event bus, at {threshold}% {on} spend; released by a person"
        ))
    );
    for b in ks.budget_names(spec) {
        let bid = node_id(&format!("budget {b}"));
        let _ = writeln!(d, "  {bid} -- crosses {threshold}% --> kill_switch");
    }
    let _ = writeln!(
        d,
        "  guardrail_policy[[{}]]",
        label("Policy Groundwork-DenyNewSpend: nothing new that is billed")
    );
    let _ = writeln!(d, "  kill_switch -- attaches --> guardrail_policy");
    let _ = writeln!(d, "  guardrail_policy -- on group {group} --> admin");
}

/// A budget's actions: budget → action → the policy on the admin group (or the
/// instances it stops).
fn budget_actions(d: &mut String, spec: &Spec, b: &crate::BudgetSpec, budget_node: &str) {
    use crate::budget_action::{self, Approval, DENY_NEW_SPEND};
    for a in &b.actions {
        let key = budget_action::action_key(a);
        let id = node_id(&format!("action {} {key}", b.name));
        let threshold = match (&a.threshold_percent, &a.threshold_usd) {
            (Some(p), _) => format!("{}%", p.get()),
            (None, Some(usd)) => format!("{usd} USD"),
            (None, None) => String::new(),
        };
        let on = match a.notify_on {
            crate::NotifyOn::Actual => "actual",
            crate::NotifyOn::Forecasted => "forecasted",
        };
        let approval = match a.approval {
            Approval::Automatic => "runs at once",
            Approval::Manual => "after a person approves",
        };
        let _ = writeln!(
            d,
            "  {id}[/{}/]",
            label(&format!(
                "Budget action at {threshold} {on} spend, {approval}"
            ))
        );
        let _ = writeln!(d, "  {budget_node} -- crosses {threshold} --> {id}");
        if let Some(policy) = &a.apply_policy {
            let (pid, text) = if policy == DENY_NEW_SPEND {
                (
                    "guardrail_policy".to_owned(),
                    "Policy Groundwork-DenyNewSpend: nothing new that is billed".to_owned(),
                )
            } else {
                (
                    node_id(&format!("policy {policy}")),
                    format!("Policy {policy}"),
                )
            };
            let _ = writeln!(d, "  {pid}[[{}]]", label(&text));
            let _ = writeln!(d, "  {id} -- attaches --> {pid}");
            for g in budget_action::target_groups(spec, a) {
                let is_admin_group = spec
                    .identity
                    .as_ref()
                    .is_some_and(|i| i.group.as_str() == g);
                if is_admin_group {
                    let _ = writeln!(d, "  {pid} -- on group {g} --> admin");
                } else {
                    let gid = node_id(&format!("group {g}"));
                    let _ = writeln!(d, "  {gid}[{}]", label(&format!("Group {g}")));
                    let _ = writeln!(d, "  {pid} -- on group --> {gid}");
                }
            }
            for u in &a.to_users {
                let uid = node_id(&format!("user {u}"));
                let _ = writeln!(d, "  {uid}[{}]", label(&format!("User {u}")));
                let _ = writeln!(d, "  {pid} -- on user --> {uid}");
            }
        }
        if let Some(stop) = &a.stop_instances {
            let sid = node_id(&format!("instances {} {key}", b.name));
            let _ = writeln!(
                d,
                "  {sid}[({})]",
                label(&format!(
                    "{} instances in {}: {}",
                    stop.kind.as_aws(),
                    stop.region,
                    stop.instance_ids.join(", ")
                ))
            );
            let _ = writeln!(d, "  {id} -- stops --> {sid}");
        }
    }
}

fn status_suffix(r: &Resource, live: Option<&LiveState>) -> &'static str {
    let Some(live) = live else { return "" };
    if r.kind() == Kind::ConsoleStep {
        return "";
    }
    match live.get(&r.id) {
        None => " (missing)",
        Some(fields) if r.fields().iter().all(|(k, v)| fields.get(k) == Some(v)) => " (in place)",
        Some(_) => " (differs)",
    }
}

fn logical(rs: &[Resource], live: Option<&LiveState>) -> String {
    let mut d = String::from("flowchart TB\n");
    let _ = writeln!(d, "  cli([groundwork CLI])");
    let _ = writeln!(d, "  subgraph groundwork[Groundwork services]");
    for s in ["orchestrator", "identity", "budget", "alerting", "eventbus"] {
        let _ = writeln!(d, "    svc_{s}[{s}]");
    }
    let _ = writeln!(d, "  end");
    let _ = writeln!(d, "  subgraph nats[NATS JetStream]");
    let _ = writeln!(d, "    kv_runs[(KV orchestrator-runs)]");
    let _ = writeln!(d, "    stream_events[(stream EVENTS_default)]");
    let _ = writeln!(d, "  end");
    let _ = writeln!(d, "  cli -- gRPC --> svc_orchestrator");
    let _ = writeln!(d, "  svc_orchestrator -- run state --> kv_runs");
    for s in ["identity", "budget", "alerting"] {
        let _ = writeln!(d, "  svc_orchestrator -- gRPC Ensure* --> svc_{s}");
        let _ = writeln!(d, "  svc_{s} -- events --> stream_events");
    }
    let _ = writeln!(d, "  svc_orchestrator -- events --> stream_events");
    let _ = writeln!(
        d,
        "  stream_events -- Subscription Confirmed, MFA Device Enabled --> svc_orchestrator"
    );
    let _ = writeln!(d, "  svc_eventbus -- stores --> stream_events");

    let groups: [(&str, &str, &[Kind]); 4] = [
        (
            "iam",
            "AWS IAM",
            &[
                Kind::PasswordPolicy,
                Kind::AdminUser,
                Kind::MfaPolicy,
                Kind::MfaDevice,
                Kind::GuardrailPolicy,
                Kind::BudgetsActionRole,
            ],
        ),
        (
            "budgets",
            "AWS Budgets (us-east-1)",
            &[Kind::Budget, Kind::BudgetAction],
        ),
        (
            "sns_cw",
            "SNS and CloudWatch (us-east-1)",
            &[Kind::Topic, Kind::Subscription, Kind::BillingAlarm],
        ),
        (
            "bus_rules",
            "Event bus rules and targets",
            &[Kind::Rule, Kind::Webhook, Kind::KillSwitch],
        ),
    ];
    for (gid, title, kinds) in groups {
        let members: Vec<&Resource> = rs.iter().filter(|r| kinds.contains(&r.kind())).collect();
        if members.is_empty() {
            continue;
        }
        let _ = writeln!(d, "  subgraph {gid}[{}]", label(title));
        for r in &members {
            let text = format!(
                "{} {}{}",
                r.kind().as_str(),
                r.id.name(),
                status_suffix(r, live)
            );
            let _ = writeln!(d, "    {}[{}]", node_id(r.id.as_str()), label(&text));
        }
        let _ = writeln!(d, "  end");
        match gid {
            "iam" => {
                let _ = writeln!(d, "  svc_identity -- AWS API --> {gid}");
            }
            "budgets" => {
                let _ = writeln!(d, "  svc_budget -- AWS API --> {gid}");
            }
            "sns_cw" => {
                let _ = writeln!(d, "  svc_alerting -- AWS API --> {gid}");
            }
            _ => {
                // Rules live in the event bus; the orchestrator makes them through its API.
                let _ = writeln!(
                    d,
                    "  svc_orchestrator -- gRPC PutRule, PutTargets --> svc_eventbus"
                );
                let _ = writeln!(
                    d,
                    "  svc_eventbus -- rules in KV, POST to webhooks --> {gid}"
                );
            }
        }
    }
    for r in rs {
        if r.kind() == Kind::ConsoleStep {
            continue;
        }
        for dep in &r.depends_on {
            let _ = writeln!(
                d,
                "  {} --> {}",
                node_id(dep.as_str()),
                node_id(r.id.as_str())
            );
        }
    }
    let console: Vec<&Resource> = rs
        .iter()
        .filter(|r| r.kind() == Kind::ConsoleStep)
        .collect();
    if !console.is_empty() {
        let _ = writeln!(d, "  subgraph console[Console-only steps, checked]");
        for r in console {
            let _ = writeln!(d, "    {}[{}]", node_id(r.id.as_str()), label(r.id.name()));
        }
        let _ = writeln!(d, "  end");
    }
    d
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::resource::{Fields, ResourceId};

    fn example() -> Spec {
        crate::parse(include_str!("../../../examples/groundwork.toml")).unwrap()
    }

    #[test]
    fn the_conceptual_diagram_names_the_protections() {
        let d = draw(&example(), None).conceptual;
        assert!(d.starts_with("flowchart LR\n"));
        assert!(d.contains("Admin user admin in group Admins, MFA required"));
        assert!(d.contains(
            "Budget monthly-credits: 20 USD Credits, alerts at 50%/75%/100% actual, 100% forecast"
        ));
        assert!(d.contains("Alert topic billing-alarm"));
    }

    #[test]
    fn the_logical_diagram_links_services_bus_and_resources() {
        let d = draw(&example(), None).logical;
        assert!(d.contains("svc_orchestrator -- run state --> kv_runs"));
        assert!(d.contains("svc_alerting -- AWS API --> sns_cw"));
        // The alarm hangs off the topic it notifies.
        assert!(d.contains("n_topic_billing_alarm --> n_billing_alarm_billing_alarm"));
        assert!(!d.contains("(missing)"), "no live state given");
    }

    #[test]
    fn notification_rules_hang_off_the_event_bus() {
        let text = format!(
            "{}\n{}",
            include_str!("../../../examples/groundwork.toml"),
            r#"
[[notifications.webhooks]]
name = "ops-hook"
url = "https://hooks.example.com/groundwork"

[[notifications.rules]]
name = "setup-finished"
targets = ["ops-hook"]
[notifications.rules.event_pattern]
source = ["groundwork.orchestrator"]
"#
        );
        let d = draw(&crate::parse(&text).unwrap(), None).logical;
        assert!(d.contains("svc_orchestrator -- gRPC PutRule, PutTargets --> svc_eventbus"));
        assert!(d.contains("svc_eventbus -- rules in KV, POST to webhooks --> bus_rules"));
        assert!(d.contains("n_rule_default_setup_finished[\"rule default:setup-finished\"]"));
        assert!(!d.contains("svc_eventbus -- AWS API"));
    }

    #[test]
    fn live_state_marks_each_resource() {
        let spec = example();
        let rs = resources(&spec);
        let topic = rs.iter().find(|r| r.kind() == Kind::Topic).unwrap();
        let mut live = LiveState::new();
        live.insert(topic.id.clone(), topic.fields());
        live.insert(
            ResourceId::new(Kind::Budget, "monthly-spend"),
            Fields::from([("limit_usd".into(), serde_json::json!("5"))]),
        );
        let d = draw(&spec, Some(&live)).logical;
        assert!(d.contains("topic billing-alarm (in place)"));
        assert!(d.contains("budget monthly-spend (differs)"));
        assert!(d.contains("budget monthly-credits (missing)"));
    }

    #[test]
    fn the_kill_switch_leads_from_its_budgets_to_the_policy_on_the_admin_group() {
        let spec = crate::parse(include_str!("../../../examples/guardrails.toml")).unwrap();
        let c = draw(&spec, None).conceptual;
        for b in ["monthly-credits", "monthly-spend"] {
            let budget = node_id(&format!("budget {b}"));
            assert!(
                c.contains(&format!("{budget} -- crosses 100% --> kill_switch")),
                "{c}"
            );
        }
        assert!(
            c.contains("kill_switch -- attaches --> guardrail_policy"),
            "{c}"
        );
        assert!(
            c.contains("guardrail_policy -- on group Admins --> admin"),
            "{c}"
        );
    }

    #[test]
    fn a_budget_action_leads_from_the_budget_to_the_policy_on_the_admin_group() {
        let text = include_str!("../../../examples/groundwork.toml").replace(
            "emails = [\"ops@example.com\"]\n\n[alerting]",
            "emails = [\"ops@example.com\"]\n[[budgets.actions]]\nthreshold_percent = 100\napproval = \"automatic\"\napply_policy = \"deny-new-spend\"\n[[budgets.actions]]\nthreshold_percent = 150\napproval = \"manual\"\nstop_instances = { kind = \"ec2\", region = \"eu-west-1\", instance_ids = [\"i-0123456789abcdef0\"] }\n\n[alerting]",
        );
        assert!(text.contains("[[budgets.actions]]"));
        let spec = crate::parse(&text).unwrap();
        let d = draw(&spec, None);
        let c = &d.conceptual;
        let budget = node_id("budget monthly-spend");
        let action = node_id("action monthly-spend apply-deny-new-spend");
        assert!(
            c.contains(&format!("{budget} -- crosses 100% --> {action}")),
            "{c}"
        );
        assert!(c.contains(&format!("{action} -- attaches --> guardrail_policy")));
        assert!(c.contains("guardrail_policy -- on group Admins --> admin"));
        assert!(c.contains("EC2 instances in eu-west-1: i-0123456789abcdef0"));
        let l = &d.logical;
        assert!(l.contains("budget-action monthly-spend:apply-deny-new-spend"));
        assert!(l.contains(&format!(
            "{} --> {}",
            node_id("guardrail-policy/Groundwork-DenyNewSpend"),
            node_id("budget-action/monthly-spend:apply-deny-new-spend")
        )));
        assert!(l.contains(&format!(
            "{} --> {}",
            node_id("budget/monthly-spend"),
            node_id("budget-action/monthly-spend:stop-ec2-eu-west-1")
        )));
    }

    #[test]
    fn node_ids_and_labels_are_mermaid_safe() {
        assert_eq!(
            node_id("subscription/t:email:a@b.c"),
            "n_subscription_t_email_a_b_c"
        );
        assert_eq!(label("say \"hi\""), "\"say #quot;hi#quot;\"");
    }
}
