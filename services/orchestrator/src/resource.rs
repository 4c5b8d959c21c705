//! What a spec asks for, as a flat list of resources with their desired fields and their
//! dependencies. One resource is one step of a run; the plan compares each one's fields
//! with what the services read live.
//!
//! Fields are canonical JSON (lists sorted, amounts as decimal text), so that the diff is
//! a plain comparison and a re-read of unchanged AWS state compares equal.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::spec::{AlarmKind, BudgetKind, ConsoleSteps, NotifyOn, Spec};

/// A resource's identity in runs, plans and diagrams: `<kind>/<name>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ResourceId(pub String);

impl ResourceId {
    pub fn new(kind: Kind, name: &str) -> Self {
        Self(format!("{}/{name}", kind.as_str()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the kind.
    pub fn name(&self) -> &str {
        self.0.split_once('/').map(|(_, n)| n).unwrap_or(&self.0)
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Kinds of resources, each owned by one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    PasswordPolicy,
    AdminUser,
    MfaPolicy,
    MfaDevice,
    Budget,
    Topic,
    Subscription,
    BillingAlarm,
    Webhook,
    Rule,
    /// A step only a person can do in the console; the run checks it where AWS allows.
    ConsoleStep,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordPolicy => "password-policy",
            Self::AdminUser => "admin-user",
            Self::MfaPolicy => "mfa-policy",
            Self::MfaDevice => "mfa-device",
            Self::Budget => "budget",
            Self::Topic => "topic",
            Self::Subscription => "subscription",
            Self::BillingAlarm => "billing-alarm",
            Self::Webhook => "webhook",
            Self::Rule => "rule",
            Self::ConsoleStep => "console-step",
        }
    }

    /// The service that owns resources of this kind.
    pub fn service(self) -> &'static str {
        match self {
            Self::PasswordPolicy | Self::AdminUser | Self::MfaPolicy | Self::MfaDevice => {
                "identity"
            }
            Self::Budget => "budget",
            Self::Topic | Self::Subscription | Self::BillingAlarm => "alerting",
            Self::Webhook | Self::Rule => "eventbus",
            Self::ConsoleStep => "console",
        }
    }

    /// Whether Destroy removes it. A console step is left alone; an MFA device goes with
    /// its user (DeleteAdmin); the account password policy only when Groundwork created it
    /// (decided by DestroySpec from the apply runs).
    pub fn destroyable(self) -> bool {
        !matches!(
            self,
            Self::PasswordPolicy | Self::ConsoleStep | Self::MfaDevice
        )
    }
}

/// The console-only steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConsoleCheck {
    BillingAccess,
    BillingAlerts,
    RootMfa,
    RootAccessKeys,
}

impl ConsoleCheck {
    pub const ALL: [ConsoleCheck; 4] = [
        Self::BillingAccess,
        Self::BillingAlerts,
        Self::RootMfa,
        Self::RootAccessKeys,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::BillingAccess => "iam-billing-access",
            Self::BillingAlerts => "receive-billing-alerts",
            Self::RootMfa => "root-mfa",
            Self::RootAccessKeys => "root-access-keys-deleted",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// Desired or live fields of one resource.
pub type Fields = BTreeMap<String, Value>;

/// One resource the spec asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub id: ResourceId,
    pub kind: Kind,
    pub fields: Fields,
    pub depends_on: Vec<ResourceId>,
}

fn sorted_strings<'a>(items: impl IntoIterator<Item = &'a str>) -> Value {
    let mut v: Vec<&str> = items.into_iter().collect();
    v.sort_unstable();
    v.dedup();
    json!(v)
}

/// The resources of a spec, in a stable order (the order of the spec).
pub fn resources(spec: &Spec) -> Vec<Resource> {
    let mut out = Vec::new();
    let mut push = |kind: Kind, name: &str, fields: Value, deps: Vec<ResourceId>| {
        let fields = match fields {
            // Unset optional fields are not compared: AWS's defaults stand.
            Value::Object(map) => map.into_iter().filter(|(_, v)| !v.is_null()).collect(),
            _ => Fields::new(),
        };
        out.push(Resource {
            id: ResourceId::new(kind, name),
            kind,
            fields,
            depends_on: deps,
        });
    };

    let mut admin_id = None;
    if let Some(identity) = &spec.identity {
        let admin = ResourceId::new(Kind::AdminUser, identity.admin_user.as_str());
        if let Some(pp) = &identity.password_policy {
            push(
                Kind::PasswordPolicy,
                "account",
                serde_json::to_value(pp).unwrap_or(Value::Null),
                vec![admin.clone()],
            );
        }
        push(
            Kind::AdminUser,
            identity.admin_user.as_str(),
            json!({
                "user_name": identity.admin_user.as_str(),
                "group": identity.group.as_str(),
                "group_policies": sorted_strings(identity.group_policies.iter().map(|p| p.as_str())),
                "user_policies": sorted_strings(identity.user_policies.iter().map(|p| p.as_str())),
                "console_access": identity.console_access,
                "programmatic_access": identity.programmatic_access,
                "allow_root_bootstrap": spec.account.allow_root_bootstrap,
            }),
            vec![],
        );
        if identity.mfa_required {
            push(
                Kind::MfaPolicy,
                identity.mfa_policy_name.as_str(),
                json!({
                    "policy_name": identity.mfa_policy_name.as_str(),
                    "group": identity.group.as_str(),
                }),
                vec![admin.clone()],
            );
            push(
                Kind::MfaDevice,
                identity.admin_user.as_str(),
                json!({ "user_name": identity.admin_user.as_str(), "enabled": true }),
                vec![admin.clone()],
            );
        }
        admin_id = Some(admin);
    }

    // The admin goes first: it is the one step allowed with root credentials, and it checks
    // that the spec's policies exist before anything else is created.
    let gate: Vec<ResourceId> = admin_id.iter().cloned().collect();
    let topic_id = spec
        .alerting
        .as_ref()
        .map(|a| ResourceId::new(Kind::Topic, a.topic.as_str()));
    if let Some(alerting) = &spec.alerting {
        push(
            Kind::Topic,
            alerting.topic.as_str(),
            json!({ "name": alerting.topic.as_str() }),
            gate.clone(),
        );
        let topic = topic_id.clone().into_iter().collect::<Vec<_>>();
        for s in &alerting.subscriptions {
            push(
                Kind::Subscription,
                &format!("{}:{}:{}", alerting.topic, s.protocol.as_str(), s.endpoint),
                json!({
                    "topic": alerting.topic.as_str(),
                    "protocol": s.protocol.as_str(),
                    "endpoint": s.endpoint,
                    "confirmed": s.protocol.needs_confirmation(),
                }),
                topic.clone(),
            );
        }
        for a in &alerting.billing_alarms {
            push(
                Kind::BillingAlarm,
                a.name.as_str(),
                json!({
                    "alarm_name": a.name.as_str(),
                    "kind": match a.kind { AlarmKind::Total => "total", AlarmKind::DailyCharges => "daily_charges" },
                    "threshold_usd": a.threshold_usd.to_string(),
                    "topic": alerting.topic.as_str(),
                    "description": a.description.clone().unwrap_or_default(),
                }),
                topic.clone(),
            );
        }
    }

    for b in &spec.budgets {
        let mut thresholds: Vec<u32> = b.thresholds_percent.iter().map(|p| p.get()).collect();
        thresholds.sort_unstable();
        let mut notify_on: Vec<&str> = b
            .notify_on
            .iter()
            .map(|n| match n {
                NotifyOn::Actual => "actual",
                NotifyOn::Forecasted => "forecasted",
            })
            .collect();
        notify_on.sort_unstable();
        let mut deps = gate.clone();
        if let (Some(_), Some(t)) = (&b.sns_topic, &topic_id) {
            deps.push(t.clone());
        }
        push(
            Kind::Budget,
            b.name.as_str(),
            json!({
                "name": b.name.as_str(),
                "kind": match b.kind { BudgetKind::Credits => "credits", BudgetKind::Spend => "spend" },
                "limit_usd": b.limit_usd.to_string(),
                "thresholds_percent": thresholds,
                "notify_on": notify_on,
                "emails": sorted_strings(b.emails.iter().map(|e| e.as_str())),
                "sns_topic": b.sns_topic.clone().unwrap_or_default(),
            }),
            deps,
        );
    }

    for w in &spec.notifications.webhooks {
        push(
            Kind::Webhook,
            &w.name,
            json!({ "name": w.name, "url": w.url.as_str() }),
            gate.clone(),
        );
    }
    let webhook_urls: BTreeMap<&str, &str> = spec
        .notifications
        .webhooks
        .iter()
        .map(|w| (w.name.as_str(), w.url.as_str()))
        .collect();
    for r in &spec.notifications.rules {
        let pattern = serde_json::to_value(&r.event_pattern).unwrap_or(Value::Null);
        // Target id = webhook name; validation made sure every name is a webhook.
        let targets: BTreeMap<&str, &str> = r
            .targets
            .iter()
            .filter_map(|t| {
                webhook_urls
                    .get_key_value(t.as_str())
                    .map(|(k, v)| (*k, *v))
            })
            .collect();
        let deps = r
            .targets
            .iter()
            .map(|t| ResourceId::new(Kind::Webhook, t))
            .chain(gate.iter().cloned())
            .collect();
        push(
            Kind::Rule,
            &format!("{}:{}", r.bus, r.name),
            json!({
                "bus": r.bus,
                "name": r.name,
                "event_pattern": pattern,
                "targets": targets,
                "state": "ENABLED",
            }),
            deps,
        );
    }

    // Console steps are checked once what they are about exists: billing access and root
    // hygiene after the admin (who will use them), billing alerts after the alarm's topic.
    let after_admin = gate;
    let wait = spec.account.console_steps == ConsoleSteps::Wait;
    if spec.identity.is_some() {
        for check in [
            ConsoleCheck::BillingAccess,
            ConsoleCheck::RootMfa,
            ConsoleCheck::RootAccessKeys,
        ] {
            push(
                Kind::ConsoleStep,
                check.as_str(),
                json!({ "done": true, "wait": wait }),
                after_admin.clone(),
            );
        }
    }
    if spec
        .alerting
        .as_ref()
        .is_some_and(|a| !a.billing_alarms.is_empty())
    {
        push(
            Kind::ConsoleStep,
            ConsoleCheck::BillingAlerts.as_str(),
            json!({ "done": true, "wait": wait }),
            topic_id.into_iter().collect(),
        );
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../../examples/groundwork.toml");

    #[test]
    fn the_example_has_one_resource_per_thing_to_set_up() {
        let spec = crate::spec::parse(EXAMPLE).unwrap();
        let ids: Vec<String> = resources(&spec).into_iter().map(|r| r.id.0).collect();
        assert_eq!(
            ids,
            [
                "password-policy/account",
                "admin-user/admin",
                "mfa-policy/Groundwork-RequireMFA",
                "mfa-device/admin",
                "topic/billing-alarm",
                "subscription/billing-alarm:email:ops@example.com",
                "billing-alarm/billing-alarm",
                "budget/monthly-credits",
                "budget/monthly-spend",
                "console-step/iam-billing-access",
                "console-step/root-mfa",
                "console-step/root-access-keys-deleted",
                "console-step/receive-billing-alerts",
            ]
        );
    }

    #[test]
    fn fields_are_canonical_so_order_in_the_spec_does_not_matter() {
        let a = crate::spec::parse(
            "[[budgets]]\nname = \"b\"\nkind = \"spend\"\nlimit_usd = 20.0\nthresholds_percent = [100, 50]\nemails = [\"b@example.com\", \"a@example.com\"]\n",
        )
        .unwrap();
        let b = crate::spec::parse(
            "[[budgets]]\nname = \"b\"\nkind = \"spend\"\nlimit_usd = \"20\"\nthresholds_percent = [50, 100]\nemails = [\"a@example.com\", \"b@example.com\"]\n",
        )
        .unwrap();
        assert_eq!(resources(&a), resources(&b));
    }
}
