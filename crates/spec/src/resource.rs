//! What a spec asks for, as a flat list of resources with their typed desired state and
//! their dependencies. One resource is one step of a run; the plan compares each one's
//! state with the state the services read live, under the spec's field names.
//!
//! States are canonical (lists sorted, amounts as decimal text), so that the diff is a
//! plain comparison and a re-read of unchanged AWS state compares equal.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::budget_action::{self, Approval, InstanceKind};
use crate::{
    AlarmKind, BudgetKind, ConsoleSteps, NotifyOn, PasswordPolicySpec, PlanChoice, Protocol, Spec,
};

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
    /// The kill switch's rule on the event bus (`[guardrails.kill_switch]`).
    KillSwitch,
    /// Groundwork's "deny new spend" managed policy, applied by budget actions.
    GuardrailPolicy,
    /// The role AWS Budgets assumes to run budget actions.
    BudgetsActionRole,
    /// An AWS Budgets action of a budget.
    BudgetAction,
    /// The account's plan (Free or Paid), read and watched by the budget service.
    AccountPlan,
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
            Self::KillSwitch => "kill-switch",
            Self::GuardrailPolicy => "guardrail-policy",
            Self::BudgetsActionRole => "budgets-action-role",
            Self::BudgetAction => "budget-action",
            Self::AccountPlan => "account-plan",
        }
    }

    /// The service that owns resources of this kind.
    pub fn service(self) -> &'static str {
        match self {
            Self::PasswordPolicy
            | Self::AdminUser
            | Self::MfaPolicy
            | Self::MfaDevice
            | Self::GuardrailPolicy
            | Self::BudgetsActionRole => "identity",
            Self::Budget | Self::BudgetAction | Self::AccountPlan => "budget",
            Self::Topic | Self::Subscription | Self::BillingAlarm => "alerting",
            Self::Webhook | Self::Rule | Self::KillSwitch => "eventbus",
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

/// Desired or live state of one resource as a map of the spec's field names, for the
/// plan's diff and the diagram. Built from the typed states by serde; unset fields absent.
pub type Fields = BTreeMap<String, Value>;

/// What the services report: the live fields of each resource that exists. A resource
/// absent from the map does not exist.
pub type LiveState = BTreeMap<ResourceId, Fields>;

/// The admin user, its group and their managed policies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminUser {
    pub user_name: String,
    pub group: String,
    /// Sorted, without duplicates.
    pub group_policies: Vec<String>,
    pub user_policies: Vec<String>,
    pub console_access: bool,
    pub programmatic_access: bool,
    pub allow_root_bootstrap: bool,
}

/// The policy that denies everything but MFA set-up without MFA, attached to the group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaPolicy {
    pub policy_name: String,
    pub group: String,
}

/// The admin's virtual MFA device, enabled by a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaDevice {
    pub user_name: String,
    pub enabled: bool,
}

/// The billing topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topic {
    pub name: String,
}

/// One subscription of the topic; `confirmed` when the protocol needs a person to confirm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub topic: String,
    pub protocol: Protocol,
    pub endpoint: String,
    pub confirmed: bool,
}

/// A billing alarm notifying the topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingAlarm {
    pub alarm_name: String,
    pub kind: AlarmKind,
    /// Decimal text, so that `20` and `20.0` compare equal.
    pub threshold_usd: String,
    pub topic: String,
    /// Empty when the spec has none.
    pub description: String,
}

/// A monthly budget with its alerts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    pub name: String,
    pub kind: BudgetKind,
    /// Decimal text.
    pub limit_usd: String,
    /// Sorted.
    pub thresholds_percent: Vec<u32>,
    /// Sorted.
    pub notify_on: Vec<NotifyOn>,
    /// Forecast alerts beyond `thresholds_percent` × `notify_on`; sorted. See
    /// [`Budget::from_notifications`] for the one form a set of alerts takes.
    #[serde(default)]
    pub forecasted_percent: Vec<u32>,
    /// Sorted, without duplicates.
    pub emails: Vec<String>,
    /// The spec's topic name; empty when the budget notifies no topic.
    pub sns_topic: String,
}

impl Budget {
    /// Sets the alerts from a set of (which spend, percent) in one canonical form, so that
    /// the same alerts always compare equal however the spec wrote them: actual thresholds
    /// in `thresholds_percent` with `notify_on = [actual]` and the forecast ones in
    /// `forecasted_percent`; or, when both sets are the same, both kinds in `notify_on`; or,
    /// with forecast alerts only, `notify_on = [forecasted]`.
    pub fn set_notifications(&mut self, alerts: &[(NotifyOn, u32)]) {
        let pick = |kind: NotifyOn| -> Vec<u32> {
            let mut v: Vec<u32> = alerts
                .iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, t)| *t)
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let (actual, forecasted) = (pick(NotifyOn::Actual), pick(NotifyOn::Forecasted));
        (
            self.thresholds_percent,
            self.notify_on,
            self.forecasted_percent,
        ) = if actual.is_empty() && forecasted.is_empty() {
            (Vec::new(), vec![NotifyOn::Actual], Vec::new())
        } else if actual.is_empty() {
            (forecasted, vec![NotifyOn::Forecasted], Vec::new())
        } else if actual == forecasted {
            (
                actual,
                vec![NotifyOn::Actual, NotifyOn::Forecasted],
                Vec::new(),
            )
        } else {
            (actual, vec![NotifyOn::Actual], forecasted)
        };
    }

    /// Every alert as (which spend, percent), sorted.
    pub fn notifications(&self) -> Vec<(NotifyOn, u32)> {
        let mut all: Vec<(NotifyOn, u32)> = self
            .notify_on
            .iter()
            .flat_map(|on| self.thresholds_percent.iter().map(|t| (*on, *t)))
            .chain(
                self.forecasted_percent
                    .iter()
                    .map(|t| (NotifyOn::Forecasted, *t)),
            )
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }
}

/// Groundwork's "deny new spend" policy; `current` when its default version is
/// Groundwork's document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardrailPolicy {
    pub policy_name: String,
    pub current: bool,
}

/// Instances a budget action stops (and the execution role may stop).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StopInstances {
    pub kind: InstanceKind,
    pub region: String,
    /// Sorted, without duplicates.
    pub instance_ids: Vec<String>,
}

/// The role AWS Budgets assumes, with what all the spec's actions need: the policies it
/// may apply to which groups and users, the instances it may stop. `current` when its
/// trust and permissions are exactly those.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetsActionRole {
    pub role_name: String,
    /// `deny-new-spend` or managed policy ARNs; sorted.
    pub policies: Vec<String>,
    /// Sorted.
    pub groups: Vec<String>,
    /// Sorted.
    pub users: Vec<String>,
    /// Sorted.
    pub stop_instances: Vec<StopInstances>,
    pub current: bool,
}

/// One AWS Budgets action of a budget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetAction {
    pub budget: String,
    /// Percent of the limit, or (with `threshold_type = "usd"`) dollars, as decimal text.
    pub threshold: String,
    /// `percent` or `usd`.
    pub threshold_type: String,
    pub notify_on: NotifyOn,
    pub approval: Approval,
    /// `deny-new-spend` or a managed policy ARN; empty for a stop action.
    pub apply_policy: String,
    /// Sorted; the admin group when the spec names none.
    pub to_groups: Vec<String>,
    /// Sorted.
    pub to_users: Vec<String>,
    pub stop_instances: Option<StopInstances>,
    /// The execution role's name.
    pub execution_role: String,
    /// Sorted, without duplicates.
    pub emails: Vec<String>,
}

/// A webhook the rules post to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    pub name: String,
    pub url: String,
}

/// A notification rule on the event bus with one target per webhook it names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub bus: String,
    pub name: String,
    pub event_pattern: Value,
    /// Target id (the webhook's name) → URL.
    pub targets: BTreeMap<String, String>,
    /// `ENABLED` or `DISABLED`.
    pub state: String,
}

/// The kill switch's rule on the event bus: the budget crossings of its pattern are
/// delivered to the identity service, which attaches the deny-new-spend policy to `group`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KillSwitch {
    pub bus: String,
    /// Always [`KILL_SWITCH_RULE`].
    pub rule: String,
    /// The crossings that engage it ([`kill_switch_pattern`]).
    pub event_pattern: Value,
    /// The group the identity service attaches the policy to; in the rule's target.
    pub group: String,
}

/// The kill switch's rule.
pub const KILL_SWITCH_RULE: &str = "groundwork-kill-switch";

/// The pattern of the kill switch's rule: `Budget Threshold Crossed` from the budget
/// service, for `budgets`, a percentage threshold at or above `percent`, of `on` spend.
pub fn kill_switch_pattern(budgets: &[&str], percent: u32, on: NotifyOn) -> Value {
    use groundwork_events::catalog::{BudgetThresholdCrossed, CatalogEvent, sources};
    let mut budgets: Vec<&str> = budgets.to_vec();
    budgets.sort_unstable();
    budgets.dedup();
    let notification_type = match on {
        NotifyOn::Actual => "ACTUAL",
        NotifyOn::Forecasted => "FORECASTED",
    };
    serde_json::json!({
        "source": [sources::BUDGET],
        "detail-type": [BudgetThresholdCrossed::DETAIL_TYPE],
        "detail": {
            "budget": budgets,
            "notificationType": [notification_type],
            "thresholdType": ["PERCENTAGE"],
            "threshold": [{"numeric": [">=", percent]}],
        },
    })
}

/// A console-only step; which one is the resource's name ([`ConsoleCheck::from_name`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleStep {
    pub done: bool,
    /// Whether the run waits for it (`account.console_steps = "wait"`).
    pub wait: bool,
}

/// The account's plan as the spec asks for it, and the thresholds of its watch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountPlan {
    pub plan: PlanChoice,
    /// Decimal text.
    pub credits_low_usd: String,
    pub ending_within_days: u32,
}

/// The desired (or live) state of one resource, typed by its kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "state", rename_all = "kebab-case")]
pub enum Desired {
    PasswordPolicy(PasswordPolicySpec),
    AdminUser(AdminUser),
    MfaPolicy(MfaPolicy),
    MfaDevice(MfaDevice),
    Budget(Budget),
    Topic(Topic),
    Subscription(Subscription),
    BillingAlarm(BillingAlarm),
    Webhook(Webhook),
    Rule(Rule),
    ConsoleStep(ConsoleStep),
    KillSwitch(KillSwitch),
    GuardrailPolicy(GuardrailPolicy),
    BudgetsActionRole(BudgetsActionRole),
    BudgetAction(BudgetAction),
    AccountPlan(AccountPlan),
}

impl Desired {
    pub fn kind(&self) -> Kind {
        match self {
            Self::PasswordPolicy(_) => Kind::PasswordPolicy,
            Self::AdminUser(_) => Kind::AdminUser,
            Self::MfaPolicy(_) => Kind::MfaPolicy,
            Self::MfaDevice(_) => Kind::MfaDevice,
            Self::Budget(_) => Kind::Budget,
            Self::Topic(_) => Kind::Topic,
            Self::Subscription(_) => Kind::Subscription,
            Self::BillingAlarm(_) => Kind::BillingAlarm,
            Self::Webhook(_) => Kind::Webhook,
            Self::Rule(_) => Kind::Rule,
            Self::ConsoleStep(_) => Kind::ConsoleStep,
            Self::KillSwitch(_) => Kind::KillSwitch,
            Self::GuardrailPolicy(_) => Kind::GuardrailPolicy,
            Self::BudgetsActionRole(_) => Kind::BudgetsActionRole,
            Self::BudgetAction(_) => Kind::BudgetAction,
            Self::AccountPlan(_) => Kind::AccountPlan,
        }
    }

    /// The state under the spec's field names; unset optional fields are left out, so
    /// that AWS's defaults stand.
    pub fn fields(&self) -> Fields {
        let value = match self {
            Self::PasswordPolicy(s) => serde_json::to_value(s),
            Self::AdminUser(s) => serde_json::to_value(s),
            Self::MfaPolicy(s) => serde_json::to_value(s),
            Self::MfaDevice(s) => serde_json::to_value(s),
            Self::Budget(s) => serde_json::to_value(s),
            Self::Topic(s) => serde_json::to_value(s),
            Self::Subscription(s) => serde_json::to_value(s),
            Self::BillingAlarm(s) => serde_json::to_value(s),
            Self::Webhook(s) => serde_json::to_value(s),
            Self::Rule(s) => serde_json::to_value(s),
            Self::ConsoleStep(s) => serde_json::to_value(s),
            Self::KillSwitch(s) => serde_json::to_value(s),
            Self::GuardrailPolicy(s) => serde_json::to_value(s),
            Self::BudgetsActionRole(s) => serde_json::to_value(s),
            Self::BudgetAction(s) => serde_json::to_value(s),
            Self::AccountPlan(s) => serde_json::to_value(s),
        };
        fields_of(value)
    }
}

/// A serialized state as [`Fields`]: nulls (unset options) left out.
pub fn fields_of(value: Result<Value, serde_json::Error>) -> Fields {
    match value {
        Ok(Value::Object(map)) => map.into_iter().filter(|(_, v)| !v.is_null()).collect(),
        _ => Fields::new(),
    }
}

/// One resource the spec asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub id: ResourceId,
    pub desired: Desired,
    pub depends_on: Vec<ResourceId>,
}

impl Resource {
    pub fn kind(&self) -> Kind {
        self.desired.kind()
    }

    /// The desired state under the spec's field names.
    pub fn fields(&self) -> Fields {
        self.desired.fields()
    }
}

fn sorted_strings<'a>(items: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut v: Vec<String> = items.into_iter().map(str::to_owned).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The name of Groundwork's deny policy and of the execution role (as the identity
/// service creates them).
pub const GUARDRAIL_POLICY_NAME: &str = "Groundwork-DenyNewSpend";
pub const BUDGETS_ACTION_ROLE_NAME: &str = "Groundwork-BudgetsActionRole";

/// The id of a budget action: `budget-action/<budget>:<what it acts on>`.
pub fn budget_action_id(budget: &str, action: &budget_action::BudgetActionSpec) -> ResourceId {
    ResourceId::new(
        Kind::BudgetAction,
        &format!("{budget}:{}", budget_action::action_key(action)),
    )
}

/// Whether the spec uses Groundwork's deny policy: a budget action applies it, or the kill
/// switch attaches it.
pub fn uses_deny_policy(spec: &Spec) -> bool {
    spec.guardrails.kill_switch.is_some()
        || spec
            .budgets
            .iter()
            .flat_map(|b| &b.actions)
            .any(|a| a.apply_policy.as_deref() == Some(budget_action::DENY_NEW_SPEND))
}

/// The deny policy (when an action applies it or the kill switch attaches it), the
/// execution role (when there is an action) and each budget action, after its budget, the
/// policy and the role.
fn guardrails(
    spec: &Spec,
    gate: &[ResourceId],
    push: &mut impl FnMut(&str, Desired, Vec<ResourceId>),
) {
    let policy_id = ResourceId::new(Kind::GuardrailPolicy, GUARDRAIL_POLICY_NAME);
    if uses_deny_policy(spec) {
        push(
            GUARDRAIL_POLICY_NAME,
            Desired::GuardrailPolicy(GuardrailPolicy {
                policy_name: GUARDRAIL_POLICY_NAME.into(),
                current: true,
            }),
            gate.to_vec(),
        );
    }
    let actions: Vec<_> = spec
        .budgets
        .iter()
        .flat_map(|b| b.actions.iter().map(move |a| (b, a)))
        .collect();
    if actions.is_empty() {
        return;
    }
    let mut policies = Vec::new();
    let mut groups = Vec::new();
    let mut users = Vec::new();
    let mut stops: Vec<StopInstances> = Vec::new();
    for (_, a) in &actions {
        if let Some(p) = &a.apply_policy {
            policies.push(p.clone());
            groups.extend(budget_action::target_groups(spec, a));
            users.extend(a.to_users.iter().map(|u| u.as_str().to_owned()));
        }
        if let Some(stop) = stop_of(a) {
            stops.push(stop);
        }
    }
    for list in [&mut policies, &mut groups, &mut users] {
        list.sort_unstable();
        list.dedup();
    }
    stops.sort();
    stops.dedup();
    let role_id = ResourceId::new(Kind::BudgetsActionRole, BUDGETS_ACTION_ROLE_NAME);
    push(
        BUDGETS_ACTION_ROLE_NAME,
        Desired::BudgetsActionRole(BudgetsActionRole {
            role_name: BUDGETS_ACTION_ROLE_NAME.into(),
            policies,
            groups,
            users,
            stop_instances: stops,
            current: true,
        }),
        gate.to_vec(),
    );
    for (b, a) in actions {
        let id = budget_action_id(b.name.as_str(), a);
        let mut deps = vec![
            ResourceId::new(Kind::Budget, b.name.as_str()),
            role_id.clone(),
        ];
        if a.apply_policy.as_deref() == Some(budget_action::DENY_NEW_SPEND) {
            deps.push(policy_id.clone());
        }
        deps.extend(gate.iter().cloned());
        let (threshold, threshold_type) = match (&a.threshold_percent, &a.threshold_usd) {
            (Some(p), _) => (p.get().to_string(), "percent"),
            (None, Some(usd)) => (usd.to_string(), "usd"),
            (None, None) => (String::new(), "percent"),
        };
        let mut to_groups = budget_action::target_groups(spec, a);
        to_groups.sort_unstable();
        push(
            id.name(),
            Desired::BudgetAction(BudgetAction {
                budget: b.name.as_str().to_owned(),
                threshold,
                threshold_type: threshold_type.into(),
                notify_on: a.notify_on,
                approval: a.approval,
                apply_policy: a.apply_policy.clone().unwrap_or_default(),
                to_groups,
                to_users: sorted_strings(a.to_users.iter().map(|u| u.as_str())),
                stop_instances: stop_of(a),
                execution_role: BUDGETS_ACTION_ROLE_NAME.into(),
                emails: budget_action::subscribers(b, a),
            }),
            deps,
        );
    }
}

fn stop_of(a: &budget_action::BudgetActionSpec) -> Option<StopInstances> {
    a.stop_instances.as_ref().map(|s| StopInstances {
        kind: s.kind,
        region: s.region.clone(),
        instance_ids: sorted_strings(s.instance_ids.iter().map(String::as_str)),
    })
}

/// The resources of a spec, in a stable order (the order of the spec).
pub fn resources(spec: &Spec) -> Vec<Resource> {
    let mut out = Vec::new();
    let mut push = |name: &str, desired: Desired, deps: Vec<ResourceId>| {
        out.push(Resource {
            id: ResourceId::new(desired.kind(), name),
            desired,
            depends_on: deps,
        });
    };

    let mut admin_id = None;
    if let Some(identity) = &spec.identity {
        let admin = ResourceId::new(Kind::AdminUser, identity.admin_user.as_str());
        if let Some(pp) = &identity.password_policy {
            push(
                "account",
                Desired::PasswordPolicy(pp.clone()),
                vec![admin.clone()],
            );
        }
        push(
            identity.admin_user.as_str(),
            Desired::AdminUser(AdminUser {
                user_name: identity.admin_user.as_str().to_owned(),
                group: identity.group.as_str().to_owned(),
                group_policies: sorted_strings(identity.group_policies.iter().map(|p| p.as_str())),
                user_policies: sorted_strings(identity.user_policies.iter().map(|p| p.as_str())),
                console_access: identity.console_access,
                programmatic_access: identity.programmatic_access,
                allow_root_bootstrap: spec.account.allow_root_bootstrap,
            }),
            vec![],
        );
        if identity.mfa_required {
            push(
                identity.mfa_policy_name.as_str(),
                Desired::MfaPolicy(MfaPolicy {
                    policy_name: identity.mfa_policy_name.as_str().to_owned(),
                    group: identity.group.as_str().to_owned(),
                }),
                vec![admin.clone()],
            );
            push(
                identity.admin_user.as_str(),
                Desired::MfaDevice(MfaDevice {
                    user_name: identity.admin_user.as_str().to_owned(),
                    enabled: true,
                }),
                vec![admin.clone()],
            );
        }
        admin_id = Some(admin);
    }

    // The admin goes first: it is the one step allowed with root credentials, and it checks
    // that the spec's policies exist before anything else is created.
    let gate: Vec<ResourceId> = admin_id.iter().cloned().collect();
    if let Some(plan) = spec.account.plan {
        push(
            "account",
            Desired::AccountPlan(AccountPlan {
                plan,
                credits_low_usd: spec.account.credits_low_usd.to_string(),
                ending_within_days: spec.account.ending_within_days.get(),
            }),
            gate.clone(),
        );
    }
    let topic_id = spec
        .alerting
        .as_ref()
        .map(|a| ResourceId::new(Kind::Topic, a.topic.as_str()));
    if let Some(alerting) = &spec.alerting {
        push(
            alerting.topic.as_str(),
            Desired::Topic(Topic {
                name: alerting.topic.as_str().to_owned(),
            }),
            gate.clone(),
        );
        let topic = topic_id.clone().into_iter().collect::<Vec<_>>();
        for s in &alerting.subscriptions {
            push(
                &format!("{}:{}:{}", alerting.topic, s.protocol.as_str(), s.endpoint),
                Desired::Subscription(Subscription {
                    topic: alerting.topic.as_str().to_owned(),
                    protocol: s.protocol,
                    endpoint: s.endpoint.clone(),
                    confirmed: s.protocol.needs_confirmation(),
                }),
                topic.clone(),
            );
        }
        for a in &alerting.billing_alarms {
            push(
                a.name.as_str(),
                Desired::BillingAlarm(BillingAlarm {
                    alarm_name: a.name.as_str().to_owned(),
                    kind: a.kind,
                    threshold_usd: a.threshold_usd.to_string(),
                    topic: alerting.topic.as_str().to_owned(),
                    description: a.description.clone().unwrap_or_default(),
                }),
                topic.clone(),
            );
        }
    }

    for b in &spec.budgets {
        let mut budget = Budget {
            name: b.name.as_str().to_owned(),
            kind: b.kind,
            limit_usd: b.limit_usd.to_string(),
            thresholds_percent: Vec::new(),
            notify_on: Vec::new(),
            forecasted_percent: Vec::new(),
            emails: sorted_strings(b.emails.iter().map(|e| e.as_str())),
            sns_topic: b.sns_topic.clone().unwrap_or_default(),
        };
        budget.set_notifications(&b.notifications());
        let mut deps = gate.clone();
        if let (Some(_), Some(t)) = (&b.sns_topic, &topic_id) {
            deps.push(t.clone());
        }
        push(b.name.as_str(), Desired::Budget(budget), deps);
    }

    guardrails(spec, &gate, &mut push);

    for w in &spec.notifications.webhooks {
        push(
            &w.name,
            Desired::Webhook(Webhook {
                name: w.name.clone(),
                url: w.url.as_str().to_owned(),
            }),
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
        let targets: BTreeMap<String, String> = r
            .targets
            .iter()
            .filter_map(|t| {
                webhook_urls
                    .get_key_value(t.as_str())
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            })
            .collect();
        let deps = r
            .targets
            .iter()
            .map(|t| ResourceId::new(Kind::Webhook, t))
            .chain(gate.iter().cloned())
            .collect();
        push(
            &format!("{}:{}", r.bus, r.name),
            Desired::Rule(Rule {
                bus: r.bus.clone(),
                name: r.name.clone(),
                event_pattern: pattern,
                targets,
                state: "ENABLED".into(),
            }),
            deps,
        );
    }

    // The kill switch acts on the admin group and the budgets' crossings: it comes after both.
    if let Some(ks) = &spec.guardrails.kill_switch
        && let Some(group) = ks.group_name(spec)
    {
        let budgets = ks.budget_names(spec);
        let deps = gate
            .iter()
            .cloned()
            .chain(budgets.iter().map(|b| ResourceId::new(Kind::Budget, b)))
            .chain([ResourceId::new(
                Kind::GuardrailPolicy,
                GUARDRAIL_POLICY_NAME,
            )])
            .collect();
        push(
            group,
            Desired::KillSwitch(KillSwitch {
                bus: groundwork_events::envelope::DEFAULT_BUS.into(),
                rule: KILL_SWITCH_RULE.into(),
                event_pattern: kill_switch_pattern(
                    &budgets,
                    ks.threshold_percent.get(),
                    ks.notification_type,
                ),
                group: group.to_owned(),
            }),
            deps,
        );
    }

    // Console steps are checked once what they are about exists: billing access and root
    // hygiene after the admin (who will use them), billing alerts after the alarm's topic.
    let after_admin = gate;
    let wait = spec.account.console_steps == ConsoleSteps::Wait;
    let console = || Desired::ConsoleStep(ConsoleStep { done: true, wait });
    if spec.identity.is_some() {
        for check in [
            ConsoleCheck::BillingAccess,
            ConsoleCheck::RootMfa,
            ConsoleCheck::RootAccessKeys,
        ] {
            push(check.as_str(), console(), after_admin.clone());
        }
    }
    if spec
        .alerting
        .as_ref()
        .is_some_and(|a| !a.billing_alarms.is_empty())
    {
        push(
            ConsoleCheck::BillingAlerts.as_str(),
            console(),
            topic_id.into_iter().collect(),
        );
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../../examples/groundwork.toml");

    #[test]
    fn the_same_alerts_take_one_form_however_they_are_written() {
        let budget = |text: &str| -> Budget {
            let spec = crate::parse(&format!(
                "[[budgets]]\nname = \"b\"\nkind = \"spend\"\nlimit_usd = 20\nemails = [\"ops@example.com\"]\n{text}"
            ))
            .unwrap();
            match resources(&spec).remove(0).desired {
                Desired::Budget(b) => b,
                other => panic!("not a budget: {other:?}"),
            }
        };
        let default = budget("thresholds_percent = [50, 75, 100]\n");
        assert_eq!(default.thresholds_percent, [50, 75, 100]);
        assert_eq!(default.notify_on, [NotifyOn::Actual]);
        assert_eq!(default.forecasted_percent, [100]);
        assert_eq!(
            default,
            budget("thresholds_percent = [100, 50, 75]\nforecast_thresholds_percent = [100]\n")
        );
        let both = budget(
            "thresholds_percent = [80]\nnotify_on = [\"forecasted\", \"actual\"]\nforecast_thresholds_percent = []\n",
        );
        assert_eq!(
            both,
            budget("thresholds_percent = [80]\nforecast_thresholds_percent = [80]\n")
        );
        assert_eq!(both.notify_on, [NotifyOn::Actual, NotifyOn::Forecasted]);
        assert_eq!(
            both.notifications(),
            [(NotifyOn::Actual, 80), (NotifyOn::Forecasted, 80)]
        );
        let forecast_only = budget("forecast_thresholds_percent = [90]\n");
        assert_eq!(forecast_only.notify_on, [NotifyOn::Forecasted]);
        assert_eq!(forecast_only.notifications(), [(NotifyOn::Forecasted, 90)]);
    }

    #[test]
    fn the_example_has_one_resource_per_thing_to_set_up() {
        let spec = crate::parse(EXAMPLE).unwrap();
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
        let a = crate::parse(
            "[[budgets]]\nname = \"b\"\nkind = \"spend\"\nlimit_usd = 20.0\nthresholds_percent = [100, 50]\nemails = [\"b@example.com\", \"a@example.com\"]\n",
        )
        .unwrap();
        let b = crate::parse(
            "[[budgets]]\nname = \"b\"\nkind = \"spend\"\nlimit_usd = \"20\"\nthresholds_percent = [50, 100]\nemails = [\"a@example.com\", \"b@example.com\"]\n",
        )
        .unwrap();
        assert_eq!(resources(&a), resources(&b));
    }

    #[test]
    fn the_kill_switch_comes_after_the_admin_its_budgets_and_the_deny_policy() {
        let spec = crate::parse(
            "[identity]\nadmin_user = \"admin\"\nmfa_required = false\n[[budgets]]\nname = \"b\"\nkind = \"spend\"\nlimit_usd = 20\nthresholds_percent = [100]\nemails = [\"ops@example.com\"]\n[[budgets]]\nname = \"a\"\nkind = \"credits\"\nlimit_usd = 20\n[guardrails.kill_switch]\nbudgets = [\"b\"]\nthreshold_percent = 90\n",
        )
        .unwrap();
        let rs = resources(&spec);
        let ks = rs.iter().find(|r| r.kind() == Kind::KillSwitch).unwrap();
        assert_eq!(ks.id.as_str(), "kill-switch/Admins");
        assert_eq!(
            ks.depends_on,
            [
                ResourceId::new(Kind::AdminUser, "admin"),
                ResourceId::new(Kind::Budget, "b"),
                ResourceId::new(Kind::GuardrailPolicy, GUARDRAIL_POLICY_NAME),
            ]
        );
        // The policy it attaches is part of the setup, with no budget action using it.
        assert!(rs.iter().any(|r| r.kind() == Kind::GuardrailPolicy));
        let Desired::KillSwitch(k) = &ks.desired else {
            unreachable!()
        };
        assert_eq!(
            k.event_pattern,
            serde_json::json!({
                "source": ["groundwork.budget"],
                "detail-type": ["Budget Threshold Crossed"],
                "detail": {
                    "budget": ["b"],
                    "notificationType": ["ACTUAL"],
                    "thresholdType": ["PERCENTAGE"],
                    "threshold": [{"numeric": [">=", 90]}]
                }
            })
        );
        // The bus's own pattern engine takes it, and it matches what the watcher writes.
        let pattern =
            groundwork_events::pattern::EventPattern::parse(&k.event_pattern.to_string()).unwrap();
        let crossing = |budget: &str, threshold: f64, kind: &str| {
            serde_json::json!({"source": "groundwork.budget", "detail-type": "Budget Threshold Crossed",
                "detail": {"budget": budget, "threshold": threshold, "thresholdType": "PERCENTAGE",
                           "notificationType": kind}})
        };
        assert!(pattern.matches(&crossing("b", 100.0, "ACTUAL")));
        assert!(pattern.matches(&crossing("b", 90.0, "ACTUAL")));
        assert!(!pattern.matches(&crossing("b", 75.0, "ACTUAL")));
        assert!(!pattern.matches(&crossing("a", 100.0, "ACTUAL")));
        assert!(!pattern.matches(&crossing("b", 100.0, "FORECASTED")));
    }
}
