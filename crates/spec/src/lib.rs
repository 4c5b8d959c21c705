//! The spec, `groundwork.toml`: what an account should look like after its first day.
//!
//! Parsing is strict: an unknown field, a bad email or a non-positive amount is an error
//! that names the TOML path (`budgets[1].limit_usd`) and the line, before anything is
//! applied. Scalar rules live in the field types ([`types`]), so serde reports them with
//! their path; rules that relate fields to each other (unique names, references to the
//! topic or to a webhook) live in [`validate`].
//!
//! Layout: this module holds the document's shape; [`types`] the validated scalars;
//! [`validate`] parsing plus cross-field checks; [`resource`] the spec as a flat list of
//! resources with dependencies; [`diagram`] the architecture in Mermaid. The CLI and the
//! orchestrator both depend on this crate, so the CLI needs no service code to validate
//! or draw a spec. [`budget_action`] holds a budget's `[[budgets.actions]]`.

pub mod budget_action;
pub mod diagram;
pub mod resource;
pub mod types;
pub mod validate;

use serde::{Deserialize, Serialize};

pub use types::{BudgetLimit, EmailAddress, PolicyArn, Usd};
pub use validate::{SpecError, SpecProblem, parse};

/// The whole document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    #[serde(default)]
    pub account: AccountSpec,
    pub identity: Option<IdentitySpec>,
    #[serde(default)]
    pub budgets: Vec<BudgetSpec>,
    pub alerting: Option<AlertingSpec>,
    #[serde(default)]
    pub notifications: NotificationsSpec,
    #[serde(default)]
    pub guardrails: GuardrailsSpec,
}

/// The account as a whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSpec {
    /// The working region; billing resources go to us-east-1 whatever it is.
    #[serde(default = "default_region")]
    pub region: String,
    /// Allow the one bootstrap step (creating the admin) with root credentials.
    #[serde(default)]
    pub allow_root_bootstrap: bool,
    /// What to do about the steps only a person can do in the console (IAM access to
    /// billing, "Receive Billing Alerts", root MFA, deleting root access keys).
    #[serde(default)]
    pub console_steps: ConsoleSteps,
    /// The account's AWS plan (Free or Paid), read with the Free Tier API and watched;
    /// unset: not read.
    pub plan: Option<PlanChoice>,
    /// On the Free plan: `Free Plan Credits Low` when the remaining credits fall under
    /// this many USD.
    #[serde(default = "default_credits_low")]
    pub credits_low_usd: Usd,
    /// On the Free plan: `Free Plan Ending` when the plan ends (and the account closes)
    /// within this many days.
    #[serde(default = "default_ending_within")]
    pub ending_within_days: types::Days,
}

impl Default for AccountSpec {
    fn default() -> Self {
        Self {
            region: default_region(),
            allow_root_bootstrap: false,
            console_steps: ConsoleSteps::default(),
            plan: None,
            credits_low_usd: default_credits_low(),
            ending_within_days: default_ending_within(),
        }
    }
}

fn default_credits_low() -> Usd {
    Usd::whole(20)
}

fn default_ending_within() -> types::Days {
    types::Days::new_unchecked(30)
}

/// What the spec says of the account's plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanChoice {
    /// Read it and report it, whichever it is; a server without the Free Tier API
    /// (the sandbox's moto) reports it unknown.
    Auto,
    /// The account must be on the Free plan: anything else fails the run.
    Free,
    /// The account must be on the Paid plan: anything else fails the run.
    Paid,
}

impl PlanChoice {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Free => "free",
            Self::Paid => "paid",
        }
    }
}

fn default_region() -> String {
    "us-east-1".into()
}

/// How console-only steps take part in a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsoleSteps {
    /// Check each one; one that is not done is reported with its instructions
    /// (ACTION_REQUIRED) and does not hold the run.
    #[default]
    Report,
    /// Check each one; one that is not done holds the run in WAITING until a check passes.
    Wait,
}

/// The admin user instead of root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySpec {
    /// IAM user name rules: 1 to 64 of `[A-Za-z0-9+=,.@_-]`.
    pub admin_user: types::IamName,
    #[serde(default = "default_group")]
    pub group: types::IamName,
    /// Managed policies of the group.
    #[serde(default = "default_group_policies")]
    pub group_policies: Vec<PolicyArn>,
    /// Managed policies attached to the user directly.
    #[serde(default)]
    pub user_policies: Vec<PolicyArn>,
    /// A console password (login profile), shown once at creation.
    #[serde(default = "yes")]
    pub console_access: bool,
    /// An access key, shown once at creation.
    #[serde(default)]
    pub programmatic_access: bool,
    /// Enrol a virtual MFA device for the admin and attach the MFA-enforcement policy.
    #[serde(default = "yes")]
    pub mfa_required: bool,
    /// The MFA-enforcement policy's name.
    #[serde(default = "default_mfa_policy")]
    pub mfa_policy_name: types::IamName,
    pub password_policy: Option<PasswordPolicySpec>,
}

fn default_group() -> types::IamName {
    types::IamName::new_unchecked("Admins")
}

fn default_mfa_policy() -> types::IamName {
    types::IamName::new_unchecked("Groundwork-RequireMFA")
}

fn default_group_policies() -> Vec<PolicyArn> {
    vec![PolicyArn::new_unchecked(
        "arn:aws:iam::aws:policy/AdministratorAccess",
    )]
}

fn yes() -> bool {
    true
}

/// The account password policy; unset fields take the CIS defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordPolicySpec {
    pub minimum_password_length: Option<u32>,
    pub require_symbols: Option<bool>,
    pub require_numbers: Option<bool>,
    pub require_uppercase_characters: Option<bool>,
    pub require_lowercase_characters: Option<bool>,
    pub allow_users_to_change_password: Option<bool>,
    /// Days; 0 means never.
    pub max_password_age: Option<u32>,
    /// 0 means no reuse prevention.
    pub password_reuse_prevention: Option<u32>,
    pub hard_expiry: Option<bool>,
}

/// A monthly budget with its alerts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    /// Budget name: 1 to 100 characters, no `:` or `\`.
    pub name: types::BudgetName,
    pub kind: BudgetKind,
    /// An amount, or `"remaining-credits"`: the Free plan's remaining credits, read when
    /// the budget is planned and applied.
    pub limit_usd: BudgetLimit,
    /// Alert thresholds in percent of the limit, e.g. `[50, 75, 100]`.
    #[serde(default)]
    pub thresholds_percent: Vec<types::Percent>,
    /// Which spend the thresholds compare with.
    #[serde(default = "default_notify_on")]
    pub notify_on: Vec<NotifyOn>,
    /// Alerts on AWS's forecast of the month's spend, beside those above: a warning before
    /// the money is spent. Unset: `[100]` when the budget has a subscriber, `[]` without one;
    /// `[]` turns the default off.
    #[serde(default)]
    pub forecast_thresholds_percent: Option<Vec<types::Percent>>,
    /// Email subscribers of every alert.
    #[serde(default)]
    pub emails: Vec<EmailAddress>,
    /// Also notify the alerting topic (its name must be `alerting.topic`).
    pub sns_topic: Option<String>,
    /// What AWS Budgets itself does at a threshold (`[[budgets.actions]]`).
    #[serde(default)]
    pub actions: Vec<budget_action::BudgetActionSpec>,
}

fn default_notify_on() -> Vec<NotifyOn> {
    vec![NotifyOn::Actual]
}

/// The forecast threshold added when a budget says none: an alert when AWS expects the
/// month to end over the limit.
pub const DEFAULT_FORECAST_PERCENT: u32 = 100;

impl BudgetSpec {
    /// Every alert of the budget as (which spend, percent of the limit), sorted, each once:
    /// `thresholds_percent` × `notify_on`, and the forecast thresholds (with their default).
    pub fn notifications(&self) -> Vec<(NotifyOn, u32)> {
        let mut all: Vec<(NotifyOn, u32)> = self
            .notify_on
            .iter()
            .flat_map(|on| self.thresholds_percent.iter().map(|t| (*on, t.get())))
            .collect();
        match &self.forecast_thresholds_percent {
            Some(list) => all.extend(list.iter().map(|t| (NotifyOn::Forecasted, t.get()))),
            None if !self.emails.is_empty() || self.sns_topic.is_some() => {
                all.push((NotifyOn::Forecasted, DEFAULT_FORECAST_PERCENT));
            }
            None => {}
        }
        all.sort_unstable();
        all.dedup();
        all
    }
}

/// What a budget counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetKind {
    /// Credits used (only the `Credit` charge type).
    Credits,
    /// Actual spend, credits and refunds excluded.
    Spend,
}

/// Which spend an alert compares with its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyOn {
    Actual,
    Forecasted,
}

/// The billing topic, its subscriptions and the billing alarms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingSpec {
    /// SNS topic name, created in us-east-1.
    pub topic: types::TopicName,
    #[serde(default)]
    pub subscriptions: Vec<SubscriptionSpec>,
    #[serde(default)]
    pub billing_alarms: Vec<BillingAlarmSpec>,
}

/// One subscription of the topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionSpec {
    pub protocol: Protocol,
    /// An email address, an E.164 number, an https URL or an SQS queue ARN.
    pub endpoint: String,
}

/// SNS protocols Groundwork sets up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Email,
    Sms,
    Https,
    Sqs,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
            Self::Https => "https",
            Self::Sqs => "sqs",
        }
    }

    /// Whether a person must confirm the subscription before it delivers.
    pub fn needs_confirmation(self) -> bool {
        matches!(self, Self::Email | Self::Https)
    }
}

/// A CloudWatch alarm on the account's estimated charges.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingAlarmSpec {
    pub name: types::AlarmName,
    #[serde(default)]
    pub kind: AlarmKind,
    pub threshold_usd: Usd,
    #[serde(default)]
    pub description: Option<String>,
}

/// What the alarm watches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    /// Month-to-date estimated charges.
    #[default]
    Total,
    /// Charges per day (metric math over the estimated charges).
    DailyCharges,
}

/// Where events go besides the topic.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationsSpec {
    #[serde(default)]
    pub webhooks: Vec<WebhookSpec>,
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
}

/// An HTTPS endpoint that receives events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    pub name: String,
    pub url: types::WebhookUrl,
}

/// An event-bus rule: a pattern and the webhooks it sends to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub name: String,
    #[serde(default = "default_bus")]
    pub bus: String,
    /// The EventBridge event pattern, as a TOML table.
    pub event_pattern: toml::Table,
    /// Names of webhooks (from `notifications.webhooks`).
    pub targets: Vec<String>,
}

fn default_bus() -> String {
    groundwork_events::envelope::DEFAULT_BUS.into()
}

/// Guardrails that act on their own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardrailsSpec {
    pub kill_switch: Option<KillSwitchSpec>,
}

/// The kill switch: a budget crossing attaches the deny-new-spend policy to the admin
/// group, through a rule on Groundwork's event bus; a person releases it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KillSwitchSpec {
    /// The budgets whose crossings engage it (names from `[[budgets]]`); every budget of
    /// the spec when empty.
    #[serde(default)]
    pub budgets: Vec<types::BudgetName>,
    /// It engages at a crossing of this many percent of the limit, or more.
    #[serde(default = "default_kill_switch_percent")]
    pub threshold_percent: types::Percent,
    /// Which spend's crossing engages it.
    #[serde(default = "default_kill_switch_on")]
    pub notification_type: NotifyOn,
    /// The group the policy is attached to; the identity's admin group when unset.
    pub group: Option<types::IamName>,
}

fn default_kill_switch_percent() -> types::Percent {
    types::Percent::HUNDRED
}

fn default_kill_switch_on() -> NotifyOn {
    NotifyOn::Actual
}

impl KillSwitchSpec {
    /// The budgets it watches: those named, else every budget of `spec`.
    pub fn budget_names<'a>(&'a self, spec: &'a Spec) -> Vec<&'a str> {
        if self.budgets.is_empty() {
            spec.budgets.iter().map(|b| b.name.as_str()).collect()
        } else {
            self.budgets.iter().map(|b| b.as_str()).collect()
        }
    }

    /// The group it acts on: the one named, else the identity's admin group.
    pub fn group_name<'a>(&'a self, spec: &'a Spec) -> Option<&'a str> {
        self.group
            .as_ref()
            .map(|g| g.as_str())
            .or_else(|| spec.identity.as_ref().map(|i| i.group.as_str()))
    }
}
