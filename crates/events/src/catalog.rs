//! The catalog of the events Groundwork itself publishes: for each, its `source`, its
//! `detail-type` and a serde struct for its `detail`, with the camelCase field names the
//! producers write. Producers serialize these structs and consumers deserialize them, so
//! the contract between services is a type instead of a string key.
//!
//! Layout:
//! - [`CatalogEvent`]: the trait every event implements (source, detail-type, the text
//!   and field list for the docs, an example), with the conversions to and from a
//!   `detail` and an envelope.
//! - [`sources`]: one `source` constant per producing service.
//! - one section per source with its detail structs.
//! - [`catalog`]: every event, for docs/EVENTS.md.
//!
//! Pure: serde only, no I/O. The event bus service publishes no events of its own; it
//! only carries the ones listed here (and everyone else's).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::envelope::PutEventsEntry;

/// The `source` of each producer of Groundwork events.
pub mod sources {
    pub const IDENTITY: &str = "groundwork.identity";
    pub const BUDGET: &str = "groundwork.budget";
    pub const ALERTING: &str = "groundwork.alerting";
    pub const ORCHESTRATOR: &str = "groundwork.orchestrator";
    /// The audit trail of the gRPC APIs, published by every service for its own calls.
    pub const AUDIT: &str = "groundwork.audit";
    /// CloudWatch's own source: alerting mirrors alarm state changes exactly as
    /// CloudWatch sends them to EventBridge.
    pub const AWS_CLOUDWATCH: &str = "aws.cloudwatch";
}

/// One field of a detail, as the docs list it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDoc {
    /// The JSON key in `detail`.
    pub name: &'static str,
    /// The JSON type, e.g. `string`, `number or null`, `array of strings`.
    pub ty: &'static str,
    pub description: &'static str,
}

const fn field(name: &'static str, ty: &'static str, description: &'static str) -> FieldDoc {
    FieldDoc {
        name,
        ty,
        description,
    }
}

/// An event of the catalog: the type of its `detail`, with the envelope fields that
/// identify it.
pub trait CatalogEvent: Serialize + DeserializeOwned {
    /// The envelope's `source`, one of [`sources`].
    const SOURCE: &'static str;
    /// The envelope's `detail-type`.
    const DETAIL_TYPE: &'static str;
    /// When the event is published, for the docs.
    const DESCRIPTION: &'static str;
    /// The top-level fields of `detail`, in the order the producer writes them.
    const FIELDS: &'static [FieldDoc];

    /// A realistic detail, for the docs and the tests.
    fn example() -> Self;

    /// The `detail` as JSON.
    fn to_detail(&self) -> Result<Value, serde_json::Error> {
        serde_json::to_value(self)
    }

    /// The typed detail from an envelope's `detail`.
    fn from_detail(detail: &Value) -> Result<Self, serde_json::Error> {
        Self::deserialize(detail)
    }

    /// A PutEvents entry carrying this event (no bus, no time: the caller adds them
    /// when it needs to).
    fn entry(&self, resources: Vec<String>) -> Result<PutEventsEntry, serde_json::Error> {
        Ok(PutEventsEntry {
            source: Some(Self::SOURCE.to_owned()),
            detail_type: Some(Self::DETAIL_TYPE.to_owned()),
            detail: Some(serde_json::to_string(self)?),
            resources,
            ..Default::default()
        })
    }

    /// Whether an envelope (as JSON) is this event, by source and detail-type.
    fn is(event: &Value) -> bool {
        event["source"].as_str() == Some(Self::SOURCE)
            && event["detail-type"].as_str() == Some(Self::DETAIL_TYPE)
    }

    /// The typed detail of an envelope (as JSON) if it is this event; `None` if it is
    /// another event.
    fn decode(event: &Value) -> Option<Result<Self, serde_json::Error>> {
        Self::is(event).then(|| Self::from_detail(&event["detail"]))
    }
}

/// One event of the catalog, as the docs list it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDoc {
    pub source: &'static str,
    pub detail_type: &'static str,
    pub description: &'static str,
    pub fields: &'static [FieldDoc],
    /// An example `detail`.
    pub example: Value,
}

impl EventDoc {
    /// The entry of the catalog for `E`.
    pub fn of<E: CatalogEvent>() -> Self {
        Self {
            source: E::SOURCE,
            detail_type: E::DETAIL_TYPE,
            description: E::DESCRIPTION,
            fields: E::FIELDS,
            example: E::example().to_detail().unwrap_or(Value::Null),
        }
    }
}

/// Every event Groundwork publishes, grouped by source.
pub fn catalog() -> Vec<EventDoc> {
    vec![
        EventDoc::of::<AccountAudited>(),
        EventDoc::of::<AdminUserCreated>(),
        EventDoc::of::<AdminUserUpdated>(),
        EventDoc::of::<AdminUserDeleted>(),
        EventDoc::of::<MfaEnrollmentStarted>(),
        EventDoc::of::<MfaDeviceEnabled>(),
        EventDoc::of::<MfaEnrollmentRestarted>(),
        EventDoc::of::<LoginPasswordReset>(),
        EventDoc::of::<GuardrailEngaged>(),
        EventDoc::of::<GuardrailReleased>(),
        EventDoc::of::<BudgetCreated>(),
        EventDoc::of::<BudgetUpdated>(),
        EventDoc::of::<BudgetDeleted>(),
        EventDoc::of::<BudgetThresholdCrossed>(),
        EventDoc::of::<FreePlanCreditsLow>(),
        EventDoc::of::<FreePlanEnding>(),
        EventDoc::of::<TopicCreated>(),
        EventDoc::of::<TopicUpdated>(),
        EventDoc::of::<TopicDeleted>(),
        EventDoc::of::<SubscriptionCreated>(),
        EventDoc::of::<SubscriptionConfirmed>(),
        EventDoc::of::<SubscriptionDeleted>(),
        EventDoc::of::<AlarmCreated>(),
        EventDoc::of::<AlarmUpdated>(),
        EventDoc::of::<AlarmDeleted>(),
        EventDoc::of::<TestNotification>(),
        EventDoc::of::<CloudWatchAlarmStateChange>(),
        EventDoc::of::<SetupRunStarted>(),
        EventDoc::of::<SetupStepSucceeded>(),
        EventDoc::of::<SetupStepFailed>(),
        EventDoc::of::<SetupRunWaiting>(),
        EventDoc::of::<SetupRunCompleted>(),
        EventDoc::of::<GroundworkApiCall>(),
    ]
}

/// The catalog as Markdown: what docs/EVENTS.md holds.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Events\n\n\
         <!-- Generated from crates/events/src/catalog.rs; do not edit. Regenerate with\n     \
         UPDATE_DOCS=1 cargo test -p groundwork-events --test events_doc -->\n\n\
         Every event Groundwork itself publishes on the event bus, with its `source`, its\n\
         `detail-type` and the fields of its `detail`. Producers and consumers share the\n\
         types in `groundwork_events::catalog`. The event bus service publishes no events of\n\
         its own but the audit trail of its API (`groundwork.audit`).\n",
    );
    let mut source = "";
    for e in catalog() {
        if e.source != source {
            source = e.source;
            out.push_str(&format!("\n## `{source}`\n"));
        }
        out.push_str(&format!("\n### {}\n\n{}\n\n", e.detail_type, e.description));
        out.push_str("| field | type | meaning |\n|---|---|---|\n");
        for f in e.fields {
            out.push_str(&format!(
                "| `{}` | {} | {} |\n",
                f.name, f.ty, f.description
            ));
        }
        let example = serde_json::to_string_pretty(&e.example).unwrap_or_default();
        out.push_str(&format!("\nExample `detail`:\n\n```json\n{example}\n```\n"));
    }
    out
}

/// Implements [`CatalogEvent`] for a detail struct.
macro_rules! catalog_event {
    ($ty:ty, $source:expr, $detail_type:literal, $description:literal, $fields:expr, $example:expr) => {
        impl CatalogEvent for $ty {
            const SOURCE: &'static str = $source;
            const DETAIL_TYPE: &'static str = $detail_type;
            const DESCRIPTION: &'static str = $description;
            const FIELDS: &'static [FieldDoc] = $fields;
            fn example() -> Self {
                $example
            }
        }
    };
}

// ---------------------------------------------------------------------------------------
// groundwork.identity

/// One CIS check's result, in `Account Audited`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditFinding {
    /// The CIS control, e.g. `1.5`.
    pub cis_control: String,
    /// `PASS` or `FAIL`.
    pub status: String,
    /// `INFO`, `LOW`, `MEDIUM`, `HIGH` or `CRITICAL`.
    pub severity: String,
    pub resource: String,
}

/// `Account Audited`: the result of a CIS audit of the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountAudited {
    pub account: String,
    pub caller_arn: String,
    pub caller_is_root: bool,
    pub benchmark: String,
    /// How many findings failed.
    pub failed: u64,
    pub findings: Vec<AuditFinding>,
}

catalog_event!(
    AccountAudited,
    sources::IDENTITY,
    "Account Audited",
    "The account was audited against the CIS AWS Foundations Benchmark (AuditAccount).",
    &[
        field("account", "string", "The audited account id."),
        field("callerArn", "string", "Who asked for the audit."),
        field(
            "callerIsRoot",
            "boolean",
            "Whether the audit ran with root credentials."
        ),
        field("benchmark", "string", "The benchmark and its version."),
        field("failed", "number", "How many checks failed."),
        field(
            "findings",
            "array of objects",
            "Each check: `cisControl`, `status` (`PASS`/`FAIL`), `severity`, `resource`.",
        ),
    ],
    AccountAudited {
        account: "123456789012".into(),
        caller_arn: "arn:aws:iam::123456789012:user/admin".into(),
        caller_is_root: false,
        benchmark: "CIS AWS Foundations Benchmark v1.4.0".into(),
        failed: 1,
        findings: vec![AuditFinding {
            cis_control: "1.5".into(),
            status: "FAIL".into(),
            severity: "CRITICAL".into(),
            resource: "<root_account>".into(),
        }],
    }
);

/// The detail of `Admin User Created` and `Admin User Updated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminUser {
    pub user_name: String,
    pub user_arn: String,
    pub group_name: String,
    pub group_policy_arns: Vec<String>,
    pub user_policy_arns: Vec<String>,
    /// What was changed, one sentence each.
    pub changes: Vec<String>,
    pub login_profile_created: bool,
    pub access_key_created: bool,
    /// Whether root credentials created the admin (the bootstrap).
    pub root_bootstrap: bool,
}

const ADMIN_USER_FIELDS: &[FieldDoc] = &[
    field("userName", "string", "The admin user."),
    field("userArn", "string", "The user's ARN (also in `resources`)."),
    field("groupName", "string", "The admin group."),
    field(
        "groupPolicyArns",
        "array of strings",
        "Policies attached to the group.",
    ),
    field(
        "userPolicyArns",
        "array of strings",
        "Policies attached to the user.",
    ),
    field(
        "changes",
        "array of strings",
        "What was changed, one sentence each.",
    ),
    field(
        "loginProfileCreated",
        "boolean",
        "Whether a console password was set (the password itself is never in an event).",
    ),
    field(
        "accessKeyCreated",
        "boolean",
        "Whether an access key was created (the key itself is never in an event).",
    ),
    field(
        "rootBootstrap",
        "boolean",
        "Whether root credentials made the change.",
    ),
];

fn admin_user_example() -> AdminUser {
    AdminUser {
        user_name: "admin".into(),
        user_arn: "arn:aws:iam::123456789012:user/admin".into(),
        group_name: "admins".into(),
        group_policy_arns: vec!["arn:aws:iam::aws:policy/AdministratorAccess".into()],
        user_policy_arns: vec![],
        changes: vec![
            "created user admin".into(),
            "added admin to group admins".into(),
        ],
        login_profile_created: true,
        access_key_created: false,
        root_bootstrap: true,
    }
}

/// `Admin User Created`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AdminUserCreated(pub AdminUser);

catalog_event!(
    AdminUserCreated,
    sources::IDENTITY,
    "Admin User Created",
    "EnsureAdmin created the admin user.",
    ADMIN_USER_FIELDS,
    AdminUserCreated(admin_user_example())
);

/// `Admin User Updated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AdminUserUpdated(pub AdminUser);

catalog_event!(
    AdminUserUpdated,
    sources::IDENTITY,
    "Admin User Updated",
    "EnsureAdmin brought an existing admin user back to its spec.",
    ADMIN_USER_FIELDS,
    AdminUserUpdated(AdminUser {
        changes: vec![
            "attached arn:aws:iam::aws:policy/AdministratorAccess to group admins".into()
        ],
        login_profile_created: false,
        root_bootstrap: false,
        ..admin_user_example()
    })
);

/// `Admin User Deleted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminUserDeleted {
    pub user_name: String,
    pub user_arn: String,
    /// What was removed with the user, one phrase each.
    pub removed: Vec<String>,
}

catalog_event!(
    AdminUserDeleted,
    sources::IDENTITY,
    "Admin User Deleted",
    "DeleteAdmin removed the admin user and what belonged to it.",
    &[
        field("userName", "string", "The deleted user."),
        field("userArn", "string", "Its ARN (also in `resources`)."),
        field(
            "removed",
            "array of strings",
            "What was removed, one phrase each."
        ),
    ],
    AdminUserDeleted {
        user_name: "admin".into(),
        user_arn: "arn:aws:iam::123456789012:user/admin".into(),
        removed: vec!["user admin".into(), "group admins".into()],
    }
);

/// `MFA Enrollment Started`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MfaEnrollmentStarted {
    pub user_name: String,
    pub serial_number: String,
}

catalog_event!(
    MfaEnrollmentStarted,
    sources::IDENTITY,
    "MFA Enrollment Started",
    "A virtual MFA device was created for a user; it waits for two codes from the app.",
    &[
        field("userName", "string", "The user."),
        field(
            "serialNumber",
            "string",
            "The device's serial number (an ARN; also in `resources`)."
        ),
    ],
    MfaEnrollmentStarted {
        user_name: "admin".into(),
        serial_number: "arn:aws:iam::123456789012:mfa/admin".into(),
    }
);

/// `MFA Device Enabled`: finishes the orchestrator's waiting MFA step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MfaDeviceEnabled {
    pub user_name: String,
    pub serial_number: String,
}

catalog_event!(
    MfaDeviceEnabled,
    sources::IDENTITY,
    "MFA Device Enabled",
    "A user's virtual MFA device was enabled with two codes. The orchestrator resumes the \
     user's waiting MFA step on it.",
    &[
        field("userName", "string", "The user."),
        field(
            "serialNumber",
            "string",
            "The device's serial number (also in `resources`)."
        ),
    ],
    MfaDeviceEnabled {
        user_name: "admin".into(),
        serial_number: "arn:aws:iam::123456789012:mfa/admin".into(),
    }
);

/// `MFA Enrollment Restarted`: a person lost the seed of an enrollment that was never
/// completed and asked for a new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MfaEnrollmentRestarted {
    pub user_name: String,
    pub serial_number: String,
    /// Whether a device that was not enabled was replaced (false: there was none).
    pub replaced: bool,
}

catalog_event!(
    MfaEnrollmentRestarted,
    sources::IDENTITY,
    "MFA Enrollment Restarted",
    "A person asked for a new MFA seed (`groundwork mfa restart`) because the first was \
     lost: the device that was not enabled was replaced by a new one, which waits for two \
     codes from the app. The seed itself is never in the event.",
    &[
        field("userName", "string", "The user."),
        field(
            "serialNumber",
            "string",
            "The new device's serial number (also in `resources`)."
        ),
        field(
            "replaced",
            "boolean",
            "Whether a device that was not enabled was replaced."
        ),
    ],
    MfaEnrollmentRestarted {
        user_name: "admin".into(),
        serial_number: "arn:aws:iam::123456789012:mfa/admin".into(),
        replaced: true,
    }
);

/// `Login Password Reset`: a person lost a console password and asked for a new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginPasswordReset {
    pub user_name: String,
    pub user_arn: String,
    /// The user must choose a new password at the next sign-in.
    pub password_reset_required: bool,
}

catalog_event!(
    LoginPasswordReset,
    sources::IDENTITY,
    "Login Password Reset",
    "A person asked for a new console password (`groundwork identity reset-password`), \
     for instance because the initial one was lost: a new one was set on the user's login \
     profile. The password itself is never in the event.",
    &[
        field("userName", "string", "The user."),
        field("userArn", "string", "Its ARN (also in `resources`)."),
        field(
            "passwordResetRequired",
            "boolean",
            "The user must choose a new password at the next sign-in."
        ),
    ],
    LoginPasswordReset {
        user_name: "admin".into(),
        user_arn: "arn:aws:iam::123456789012:user/admin".into(),
        password_reset_required: true,
    }
);

/// `Guardrail Engaged`: the kill switch attached the deny-new-spend policy to a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuardrailEngaged {
    pub group_name: String,
    pub policy_arn: String,
    /// The budget whose crossing engaged it.
    pub budget: String,
    /// The crossed threshold, as the crossing said it.
    pub threshold: f64,
    /// `ACTUAL` or `FORECASTED`.
    pub notification_type: String,
    /// The budget period of the crossing, e.g. `2024-05`.
    pub period: String,
    /// The id of the `Budget Threshold Crossed` event that engaged it.
    pub trigger_event_id: String,
}

catalog_event!(
    GuardrailEngaged,
    sources::IDENTITY,
    "Guardrail Engaged",
    "The kill switch acted: a `Budget Threshold Crossed` event matched the kill switch's \
     rule on the event bus, and the identity service attached the deny-new-spend policy to \
     the group. Published once per engagement, however often the crossing is delivered; \
     it stays engaged until a person releases it (`groundwork guardrails release`).",
    &[
        field(
            "groupName",
            "string",
            "The IAM group the policy is attached to."
        ),
        field(
            "policyArn",
            "string",
            "The deny-new-spend policy (also in `resources`)."
        ),
        field("budget", "string", "The budget whose crossing engaged it."),
        field(
            "threshold",
            "number",
            "The crossed threshold (percent of the limit)."
        ),
        field("notificationType", "string", "`ACTUAL` or `FORECASTED`."),
        field(
            "period",
            "string",
            "The budget period of the crossing, e.g. `2024-05`."
        ),
        field(
            "triggerEventId",
            "string",
            "The id of the `Budget Threshold Crossed` event that engaged it."
        ),
    ],
    GuardrailEngaged {
        group_name: "Admins".into(),
        policy_arn: "arn:aws:iam::123456789012:policy/groundwork/Groundwork-DenyNewSpend".into(),
        budget: "monthly-spend".into(),
        threshold: 100.0,
        notification_type: "ACTUAL".into(),
        period: "2024-05".into(),
        trigger_event_id: "0d5a3c9e-8f7b-4a61-9c2d-3e4f5a6b7c8d".into(),
    }
);

/// `Guardrail Released`: a person detached the deny-new-spend policy again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuardrailReleased {
    pub group_name: String,
    pub policy_arn: String,
    /// Why, in the person's words.
    pub reason: String,
    /// Who, as the audit trail names the caller.
    pub caller: String,
    /// The caller's role (`operator`).
    pub role: String,
    /// The event that had engaged it, when known.
    pub trigger_event_id: Option<String>,
}

catalog_event!(
    GuardrailReleased,
    sources::IDENTITY,
    "Guardrail Released",
    "A person released the kill switch (`groundwork guardrails release --reason TEXT`, \
     ReleaseGuardrail): the deny-new-spend policy was detached from the group. The reason \
     and the caller are recorded as the person gave them.",
    &[
        field(
            "groupName",
            "string",
            "The IAM group the policy was detached from."
        ),
        field(
            "policyArn",
            "string",
            "The deny-new-spend policy (also in `resources`)."
        ),
        field("reason", "string", "Why, as the person wrote it."),
        field(
            "caller",
            "string",
            "Who, as the audit trail names the caller (certificate subject, else role)."
        ),
        field("role", "string", "The caller's role."),
        field(
            "triggerEventId",
            "string or null",
            "The id of the event that had engaged it, when known."
        ),
    ],
    GuardrailReleased {
        group_name: "Admins".into(),
        policy_arn: "arn:aws:iam::123456789012:policy/groundwork/Groundwork-DenyNewSpend".into(),
        reason: "limit raised for the launch week".into(),
        caller: "operator".into(),
        role: "operator".into(),
        trigger_event_id: Some("0d5a3c9e-8f7b-4a61-9c2d-3e4f5a6b7c8d".into()),
    }
);

// ---------------------------------------------------------------------------------------
// groundwork.budget

/// A budget's limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetLimit {
    /// A decimal number as text, as AWS writes it.
    pub amount: String,
    /// The currency, e.g. `USD`.
    pub unit: String,
}

/// One notification of a budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetNotification {
    /// `ACTUAL` or `FORECASTED`.
    pub notification_type: String,
    pub comparison_operator: String,
    pub threshold: f64,
    /// `PERCENTAGE` or `ABSOLUTE_VALUE`.
    pub threshold_type: String,
    /// How many subscribers (addresses are personal data and stay out of events).
    pub subscribers: Option<usize>,
}

/// A budget as `Budget Created` and `Budget Updated` describe it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetState {
    pub budget: String,
    pub limit: Option<BudgetLimit>,
    /// `DAILY`, `MONTHLY`, `QUARTERLY` or `ANNUALLY`.
    pub time_unit: String,
    /// The budget's scope, e.g. `cost`.
    pub kind: String,
    pub notifications: Vec<BudgetNotification>,
}

const BUDGET_FIELDS: &[FieldDoc] = &[
    field("budget", "string", "The budget's name."),
    field(
        "limit",
        "object or null",
        "`amount` (decimal text) and `unit` (currency).",
    ),
    field(
        "timeUnit",
        "string",
        "`DAILY`, `MONTHLY`, `QUARTERLY` or `ANNUALLY`.",
    ),
    field("kind", "string", "The budget's scope."),
    field(
        "notifications",
        "array of objects",
        "`notificationType`, `comparisonOperator`, `threshold`, `thresholdType`, and \
         `subscribers` (a count: addresses stay out of events).",
    ),
];

fn budget_example() -> BudgetState {
    BudgetState {
        budget: "monthly".into(),
        limit: Some(BudgetLimit {
            amount: "10".into(),
            unit: "USD".into(),
        }),
        time_unit: "MONTHLY".into(),
        kind: "cost".into(),
        notifications: vec![BudgetNotification {
            notification_type: "ACTUAL".into(),
            comparison_operator: "GREATER_THAN".into(),
            threshold: 80.0,
            threshold_type: "PERCENTAGE".into(),
            subscribers: Some(1),
        }],
    }
}

/// `Budget Created`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BudgetCreated(pub BudgetState);

catalog_event!(
    BudgetCreated,
    sources::BUDGET,
    "Budget Created",
    "EnsureBudget created a budget.",
    BUDGET_FIELDS,
    BudgetCreated(budget_example())
);

/// One field changed by `Budget Updated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetChange {
    pub field: String,
    pub before: String,
    pub after: String,
    /// What was done to the field, e.g. `update`.
    pub action: String,
}

/// `Budget Updated`: the budget as it is now, and what changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetUpdated {
    #[serde(flatten)]
    pub budget: BudgetState,
    pub changes: Vec<BudgetChange>,
}

catalog_event!(
    BudgetUpdated,
    sources::BUDGET,
    "Budget Updated",
    "EnsureBudget corrected a budget that differed from its spec, in place.",
    &[
        BUDGET_FIELDS[0],
        BUDGET_FIELDS[1],
        BUDGET_FIELDS[2],
        BUDGET_FIELDS[3],
        BUDGET_FIELDS[4],
        field(
            "changes",
            "array of objects",
            "Each change: `field`, `before`, `after`, `action`.",
        ),
    ],
    BudgetUpdated {
        budget: budget_example(),
        changes: vec![BudgetChange {
            field: "limit".into(),
            before: "5 USD".into(),
            after: "10 USD".into(),
            action: "update".into(),
        }],
    }
);

/// `Budget Deleted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetDeleted {
    pub budget: String,
}

catalog_event!(
    BudgetDeleted,
    sources::BUDGET,
    "Budget Deleted",
    "DeleteBudget deleted a budget.",
    &[field("budget", "string", "The budget's name.")],
    BudgetDeleted {
        budget: "monthly".into()
    }
);

/// `Budget Threshold Crossed`: published once per budget, threshold and period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetThresholdCrossed {
    pub budget: String,
    pub threshold: f64,
    pub threshold_type: String,
    pub notification_type: String,
    pub comparison_operator: String,
    /// The threshold in money.
    pub threshold_amount: f64,
    pub limit: f64,
    pub actual: Option<f64>,
    pub forecast: Option<f64>,
    pub currency: String,
    /// The budget period the crossing belongs to, e.g. `2024-05`.
    pub period: String,
}

catalog_event!(
    BudgetThresholdCrossed,
    sources::BUDGET,
    "Budget Threshold Crossed",
    "The budget watcher saw actual or forecast spend cross one of a managed budget's \
     thresholds; published once per budget, threshold and period. Alerting notifies on it.",
    &[
        field("budget", "string", "The budget's name."),
        field("threshold", "number", "The notification's threshold."),
        field(
            "thresholdType",
            "string",
            "`PERCENTAGE` or `ABSOLUTE_VALUE`."
        ),
        field("notificationType", "string", "`ACTUAL` or `FORECASTED`."),
        field("comparisonOperator", "string", "e.g. `GREATER_THAN`."),
        field("thresholdAmount", "number", "The threshold in money."),
        field("limit", "number", "The budget's limit."),
        field("actual", "number or null", "Actual spend, if known."),
        field("forecast", "number or null", "Forecast spend, if known."),
        field("currency", "string", "The limit's currency."),
        field("period", "string", "The budget period, e.g. `2024-05`."),
    ],
    BudgetThresholdCrossed {
        budget: "monthly".into(),
        threshold: 80.0,
        threshold_type: "PERCENTAGE".into(),
        notification_type: "ACTUAL".into(),
        comparison_operator: "GREATER_THAN".into(),
        threshold_amount: 8.0,
        limit: 10.0,
        actual: Some(8.5),
        forecast: None,
        currency: "USD".into(),
        period: "2024-05".into(),
    }
);

/// `Free Plan Credits Low`: the Free plan's remaining credits fell under the spec's
/// threshold; published once per crossing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FreePlanCreditsLow {
    pub account_id: String,
    /// What is left, as `GetAccountPlanState` reports it.
    pub remaining_credits: f64,
    pub currency: String,
    /// The threshold it fell under (`account.credits_low_usd`).
    pub threshold: f64,
    /// When the plan (and its credits) expire, RFC 3339; `null` when AWS does not say.
    pub credits_expire_at: Option<String>,
}

catalog_event!(
    FreePlanCreditsLow,
    sources::BUDGET,
    "Free Plan Credits Low",
    "The budget watcher read the account's Free plan (Free Tier API `GetAccountPlanState`) \
     and its remaining credits are under `account.credits_low_usd`; published once per \
     crossing (again only after the credits rose back over the threshold), whatever the \
     restarts and replicas. When the credits run out, AWS closes the account unless it is \
     upgraded to the Paid plan.",
    &[
        field("accountId", "string", "The account."),
        field(
            "remainingCredits",
            "number",
            "The credits left (`accountPlanRemainingCredits.amount`)."
        ),
        field("currency", "string", "Their unit, e.g. `USD`."),
        field(
            "threshold",
            "number",
            "The threshold they fell under (`account.credits_low_usd`)."
        ),
        field(
            "creditsExpireAt",
            "string or null",
            "When the plan and its credits expire (`accountPlanExpirationDate`), RFC 3339."
        ),
    ],
    FreePlanCreditsLow {
        account_id: "123456789012".into(),
        remaining_credits: 12.5,
        currency: "USD".into(),
        threshold: 20.0,
        credits_expire_at: Some("2026-01-15T00:00:00Z".into()),
    }
);

/// `Free Plan Ending`: the account's Free plan ends (and the account closes unless it is
/// upgraded) within the spec's number of days; published once per crossing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FreePlanEnding {
    pub account_id: String,
    /// When the plan ends and the account closes, RFC 3339.
    pub closes_at: String,
    /// Whole days from the watcher's pass to `closesAt`.
    pub days_left: i64,
    /// The window it came within (`account.ending_within_days`).
    pub within_days: u32,
    pub remaining_credits: Option<f64>,
    pub currency: Option<String>,
}

catalog_event!(
    FreePlanEnding,
    sources::BUDGET,
    "Free Plan Ending",
    "The budget watcher read the account's Free plan and the date it ends \
     (`accountPlanExpirationDate`, when AWS closes the account unless it is upgraded to the \
     Paid plan) is within `account.ending_within_days`; published once per crossing, \
     whatever the restarts and replicas.",
    &[
        field("accountId", "string", "The account."),
        field(
            "closesAt",
            "string",
            "When the plan ends and the account closes, RFC 3339."
        ),
        field(
            "daysLeft",
            "number",
            "Whole days left at the watcher's pass."
        ),
        field(
            "withinDays",
            "number",
            "The window it came within (`account.ending_within_days`)."
        ),
        field(
            "remainingCredits",
            "number or null",
            "The credits left, when AWS reports them."
        ),
        field("currency", "string or null", "Their unit, e.g. `USD`."),
    ],
    FreePlanEnding {
        account_id: "123456789012".into(),
        closes_at: "2026-01-15T00:00:00Z".into(),
        days_left: 21,
        within_days: 30,
        remaining_credits: Some(64.0),
        currency: Some("USD".into()),
    }
);

// ---------------------------------------------------------------------------------------
// groundwork.alerting

/// The detail of the topic events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Topic {
    pub topic_arn: String,
    /// The topic as it was named in the request.
    pub name: String,
}

const TOPIC_FIELDS: &[FieldDoc] = &[
    field(
        "topicArn",
        "string",
        "The topic's ARN (also in `resources`).",
    ),
    field("name", "string", "The topic as the request named it."),
];

fn topic_example() -> Topic {
    Topic {
        topic_arn: "arn:aws:sns:us-east-1:123456789012:billing-alarm".into(),
        name: "billing-alarm".into(),
    }
}

/// `Topic Created`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TopicCreated(pub Topic);

catalog_event!(
    TopicCreated,
    sources::ALERTING,
    "Topic Created",
    "EnsureTopic created an SNS topic.",
    TOPIC_FIELDS,
    TopicCreated(topic_example())
);

/// `Topic Updated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TopicUpdated(pub Topic);

catalog_event!(
    TopicUpdated,
    sources::ALERTING,
    "Topic Updated",
    "EnsureTopic corrected an existing topic's tags.",
    TOPIC_FIELDS,
    TopicUpdated(topic_example())
);

/// `Topic Deleted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TopicDeleted(pub Topic);

catalog_event!(
    TopicDeleted,
    sources::ALERTING,
    "Topic Deleted",
    "DeleteTopic deleted a topic.",
    TOPIC_FIELDS,
    TopicDeleted(topic_example())
);

/// `Subscription Created`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionCreated {
    pub topic_arn: String,
    pub protocol: String,
    /// Whether the endpoint still has to confirm (email).
    pub pending_confirmation: bool,
}

catalog_event!(
    SubscriptionCreated,
    sources::ALERTING,
    "Subscription Created",
    "EnsureSubscription subscribed an endpoint to a topic.",
    &[
        field("topicArn", "string", "The topic (also in `resources`)."),
        field("protocol", "string", "e.g. `email`."),
        field(
            "pendingConfirmation",
            "boolean",
            "Whether the endpoint still has to confirm."
        ),
    ],
    SubscriptionCreated {
        topic_arn: "arn:aws:sns:us-east-1:123456789012:billing-alarm".into(),
        protocol: "email".into(),
        pending_confirmation: true,
    }
);

/// `Subscription Confirmed`: finishes the orchestrator's waiting subscription step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionConfirmed {
    pub topic_arn: String,
    pub protocol: String,
    pub endpoint: String,
    pub subscription_arn: Option<String>,
}

catalog_event!(
    SubscriptionConfirmed,
    sources::ALERTING,
    "Subscription Confirmed",
    "The subscription watcher saw a pending subscription confirmed. The orchestrator \
     resumes the matching waiting subscription step on it.",
    &[
        field("topicArn", "string", "The topic."),
        field("protocol", "string", "e.g. `email`."),
        field("endpoint", "string", "The confirmed endpoint."),
        field(
            "subscriptionArn",
            "string or null",
            "The subscription (also in `resources`)."
        ),
    ],
    SubscriptionConfirmed {
        topic_arn: "arn:aws:sns:us-east-1:123456789012:billing-alarm".into(),
        protocol: "email".into(),
        endpoint: "ops@example.com".into(),
        subscription_arn: Some(
            "arn:aws:sns:us-east-1:123456789012:billing-alarm:0d9b2a5c-7f1e-4b7a-9a61-3f5c2e8d1b47"
                .into()
        ),
    }
);

/// `Subscription Deleted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionDeleted {
    pub topic_arn: String,
    pub protocol: String,
}

catalog_event!(
    SubscriptionDeleted,
    sources::ALERTING,
    "Subscription Deleted",
    "DeleteSubscription unsubscribed an endpoint.",
    &[
        field("topicArn", "string", "The topic (also in `resources`)."),
        field("protocol", "string", "e.g. `email`."),
    ],
    SubscriptionDeleted {
        topic_arn: "arn:aws:sns:us-east-1:123456789012:billing-alarm".into(),
        protocol: "email".into(),
    }
);

/// The detail of the alarm events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alarm {
    pub alarm_name: String,
    pub alarm_arn: String,
}

const ALARM_FIELDS: &[FieldDoc] = &[
    field("alarmName", "string", "The alarm."),
    field("alarmArn", "string", "Its ARN (also in `resources`)."),
];

fn alarm_example() -> Alarm {
    Alarm {
        alarm_name: "billing-alarm".into(),
        alarm_arn: "arn:aws:cloudwatch:us-east-1:123456789012:alarm:billing-alarm".into(),
    }
}

/// `Alarm Created`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AlarmCreated(pub Alarm);

catalog_event!(
    AlarmCreated,
    sources::ALERTING,
    "Alarm Created",
    "EnsureBillingAlarm created a CloudWatch alarm.",
    ALARM_FIELDS,
    AlarmCreated(alarm_example())
);

/// `Alarm Updated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AlarmUpdated(pub Alarm);

catalog_event!(
    AlarmUpdated,
    sources::ALERTING,
    "Alarm Updated",
    "EnsureBillingAlarm corrected an alarm that differed from its spec.",
    ALARM_FIELDS,
    AlarmUpdated(alarm_example())
);

/// `Alarm Deleted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AlarmDeleted(pub Alarm);

catalog_event!(
    AlarmDeleted,
    sources::ALERTING,
    "Alarm Deleted",
    "DeleteAlarm deleted an alarm.",
    ALARM_FIELDS,
    AlarmDeleted(alarm_example())
);

/// `Test Notification`: the event a test notification carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestNotification {
    pub message: String,
}

catalog_event!(
    TestNotification,
    sources::ALERTING,
    "Test Notification",
    "SendTestNotification: sent to alerting's SNS topic, and published on the bus, where \
     alerting's test rule routes it to every webhook target.",
    &[field("message", "string", "The text of the test.")],
    TestNotification {
        message: "This is a test notification from Groundwork alerting: this channel works.".into()
    }
);

// ---------------------------------------------------------------------------------------
// aws.cloudwatch (published by alerting's alarm watcher, shaped as CloudWatch's)

/// An alarm's state in `CloudWatch Alarm State Change`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmStateDetail {
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub value: String,
    #[serde(default)]
    pub reason: String,
    #[serde(
        rename = "reasonData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub reason_data: Option<String>,
    /// As CloudWatch writes it: `2019-10-02T17:04:40.985+0000`.
    #[serde(default)]
    pub timestamp: String,
}

/// The metric of a query's `metricStat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmMetric {
    /// Dimension name to value.
    pub dimensions: BTreeMap<String, String>,
    pub name: String,
    pub namespace: String,
}

/// A query's `metricStat`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmMetricStat {
    pub metric: AlarmMetric,
    pub period: i32,
    pub stat: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// One metric query of an alarm's `configuration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlarmMetricQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_stat: Option<AlarmMetricStat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<i32>,
    pub return_data: bool,
}

/// An alarm's `configuration`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub metrics: Vec<AlarmMetricQuery>,
}

/// `CloudWatch Alarm State Change`, exactly as CloudWatch sends it to EventBridge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudWatchAlarmStateChange {
    pub alarm_name: String,
    pub state: AlarmStateDetail,
    pub previous_state: AlarmStateDetail,
    #[serde(default)]
    pub configuration: AlarmConfiguration,
}

catalog_event!(
    CloudWatchAlarmStateChange,
    sources::AWS_CLOUDWATCH,
    "CloudWatch Alarm State Change",
    "Alerting's alarm watcher saw an alarm's state value change, and publishes the event \
     CloudWatch sends to EventBridge, in the alarm's account and region, timed at the \
     change. Alerting notifies on changes to ALARM and back to OK.",
    &[
        field(
            "alarmName",
            "string",
            "The alarm (its ARN is in `resources`)."
        ),
        field(
            "state",
            "object",
            "`value` (`OK`, `ALARM`, `INSUFFICIENT_DATA`), `reason`, `reasonData` (if any), \
             `timestamp`.",
        ),
        field(
            "previousState",
            "object",
            "The state before, in the same shape."
        ),
        field(
            "configuration",
            "object",
            "`description` (if any) and `metrics`: the alarm's metric queries \
             (`id`, `expression`, `label`, `metricStat`, `period`, `returnData`).",
        ),
    ],
    CloudWatchAlarmStateChange {
        alarm_name: "billing-alarm".into(),
        state: AlarmStateDetail {
            value: "ALARM".into(),
            reason: "Threshold Crossed".into(),
            reason_data: None,
            timestamp: "2024-05-01T12:34:56.789+0000".into(),
        },
        previous_state: AlarmStateDetail {
            value: "OK".into(),
            reason: "Unchecked: Initial alarm creation".into(),
            reason_data: None,
            timestamp: "2024-05-01T10:00:00.000+0000".into(),
        },
        configuration: AlarmConfiguration {
            description: Some("Estimated charges reached 10 USD".into()),
            metrics: vec![AlarmMetricQuery {
                expression: None,
                id: "m1".into(),
                label: None,
                metric_stat: Some(AlarmMetricStat {
                    metric: AlarmMetric {
                        dimensions: BTreeMap::from([("Currency".into(), "USD".into())]),
                        name: "EstimatedCharges".into(),
                        namespace: "AWS/Billing".into(),
                    },
                    period: 21600,
                    stat: "Maximum".into(),
                    unit: None,
                }),
                period: None,
                return_data: true,
            }],
        },
    }
);

// ---------------------------------------------------------------------------------------
// groundwork.orchestrator

/// `Setup Run Started`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetupRunStarted {
    pub run_id: String,
    /// `apply` or `destroy`.
    pub kind: String,
    /// How many steps the run has.
    pub steps: usize,
}

catalog_event!(
    SetupRunStarted,
    sources::ORCHESTRATOR,
    "Setup Run Started",
    "A run (apply or destroy) started its first steps.",
    &[
        field("runId", "string", "The run."),
        field("kind", "string", "`apply` or `destroy`."),
        field("steps", "number", "How many steps the run has."),
    ],
    SetupRunStarted {
        run_id: "run-7f3a".into(),
        kind: "apply".into(),
        steps: 9,
    }
);

/// `Setup Step Succeeded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetupStepSucceeded {
    pub run_id: String,
    /// The step's resource, `<kind>/<name>`.
    pub resource: String,
    /// `created`, `updated`, `unchanged`, `deleted` or `absent`.
    pub outcome: String,
    pub attempts: u32,
}

catalog_event!(
    SetupStepSucceeded,
    sources::ORCHESTRATOR,
    "Setup Step Succeeded",
    "A step succeeded, by its call or because a person finished it.",
    &[
        field("runId", "string", "The run."),
        field(
            "resource",
            "string",
            "The step's resource, `<kind>/<name>`."
        ),
        field(
            "outcome",
            "string",
            "`created`, `updated`, `unchanged`, `deleted` or `absent` (empty when a person finished it)."
        ),
        field("attempts", "number", "Calls made."),
    ],
    SetupStepSucceeded {
        run_id: "run-7f3a".into(),
        resource: "budget/monthly".into(),
        outcome: "created".into(),
        attempts: 1,
    }
);

/// `Setup Step Failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetupStepFailed {
    pub run_id: String,
    pub resource: String,
    pub error: String,
    pub attempts: u32,
}

catalog_event!(
    SetupStepFailed,
    sources::ORCHESTRATOR,
    "Setup Step Failed",
    "A step failed for good (a terminal error, or its attempts ran out); its run fails. \
     Alerting notifies on it.",
    &[
        field("runId", "string", "The run."),
        field(
            "resource",
            "string",
            "The step's resource, `<kind>/<name>`."
        ),
        field("error", "string", "Why."),
        field("attempts", "number", "Calls made."),
    ],
    SetupStepFailed {
        run_id: "run-7f3a".into(),
        resource: "budget/monthly".into(),
        error: "AccessDenied: not authorized to perform budgets:ModifyBudget".into(),
        attempts: 1,
    }
);

/// A waiting step in `Setup Run Waiting`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitingStep {
    pub resource: String,
    /// What the person has to do.
    pub instructions: Vec<String>,
}

/// `Setup Run Waiting`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetupRunWaiting {
    pub run_id: String,
    pub waiting: Vec<WaitingStep>,
}

catalog_event!(
    SetupRunWaiting,
    sources::ORCHESTRATOR,
    "Setup Run Waiting",
    "Every step that can run is done and some wait for a person (an MFA device, an email \
     confirmation).",
    &[
        field("runId", "string", "The run."),
        field(
            "waiting",
            "array of objects",
            "Each waiting step: `resource` and `instructions` (what the person has to do).",
        ),
    ],
    SetupRunWaiting {
        run_id: "run-7f3a".into(),
        waiting: vec![WaitingStep {
            resource: "subscription/billing-alarm:email:ops@example.com".into(),
            instructions: vec![
                "Open the confirmation email sent to ops@example.com and follow its link.".into()
            ],
        }],
    }
);

/// `Setup Run Completed`: also published for a failed run, with its status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetupRunCompleted {
    pub run_id: String,
    pub kind: String,
    /// `COMPLETED` or `FAILED`.
    pub status: String,
    /// Why the run failed; empty when it completed.
    pub error: String,
}

catalog_event!(
    SetupRunCompleted,
    sources::ORCHESTRATOR,
    "Setup Run Completed",
    "A run ended: every step succeeded (`COMPLETED`) or one failed (`FAILED`).",
    &[
        field("runId", "string", "The run."),
        field("kind", "string", "`apply` or `destroy`."),
        field("status", "string", "`COMPLETED` or `FAILED`."),
        field(
            "error",
            "string",
            "Why the run failed; empty when it completed."
        ),
    ],
    SetupRunCompleted {
        run_id: "run-7f3a".into(),
        kind: "apply".into(),
        status: "COMPLETED".into(),
        error: String::new(),
    }
);

// ---------------------------------------------------------------------------------------
// groundwork.audit (every service, for the calls of its gRPC API that may change something)

/// `Groundwork API Call`: one call of a gRPC API that may change something, like
/// CloudTrail's "AWS API Call via CloudTrail". Never a secret or a request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroundworkApiCall {
    pub caller: String,
    pub role: String,
    pub service: String,
    pub rpc: String,
    pub resource: Option<String>,
    pub outcome: String,
    pub request_id: String,
}

catalog_event!(
    GroundworkApiCall,
    sources::AUDIT,
    "Groundwork API Call",
    "Every call of a gRPC API that may change something (every method not on kit's \
     read-only list) by an authenticated caller, once it is answered; a read-only caller \
     refused with PERMISSION_DENIED too. Calls refused for a missing or wrong token are not \
     recorded, nor PutEvents (its events are on the bus themselves). Published on the \
     `default` bus by the service that served the call.",
    &[
        field(
            "caller",
            "string",
            "Who: the role, or the client certificate's subject and the role under mutual TLS \
             (`CN=ci (operator)`).",
        ),
        field(
            "role",
            "string",
            "`operator`, `read-only`, or `anonymous` (a service run with `--insecure` and no token)."
        ),
        field(
            "service",
            "string",
            "The gRPC service, e.g. `groundwork.v1.Identity`."
        ),
        field("rpc", "string", "The method, e.g. `EnsureAdmin`."),
        field(
            "resource",
            "string or null",
            "What the request names (a user, rule, budget, topic, alarm…), when it names one.",
        ),
        field(
            "outcome",
            "string",
            "`OK`, or the gRPC status code the call was answered with (`INVALID_ARGUMENT`, \
             `PERMISSION_DENIED`…). For a streaming answer, `OK` means the stream started.",
        ),
        field(
            "requestId",
            "string",
            "The client's `x-request-id`, or one made for the call; the answer's \
             `x-request-id` header carries it back.",
        ),
    ],
    GroundworkApiCall {
        caller: "operator".into(),
        role: "operator".into(),
        service: "groundwork.v1.Identity".into(),
        rpc: "EnsureAdmin".into(),
        resource: Some("admin".into()),
        outcome: "OK".into(),
        request_id: "6f1c2a4e-3b7d-4c61-9f0a-2d5e8b1c7a90".into(),
    }
);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::json;

    use super::*;

    /// The JSON parses into `E` and serializes back to exactly the same JSON.
    fn round_trips<E: CatalogEvent + std::fmt::Debug + PartialEq>(detail: Value) -> E {
        let typed = E::from_detail(&detail).unwrap();
        assert_eq!(typed.to_detail().unwrap(), detail, "{}", E::DETAIL_TYPE);
        typed
    }

    // Each JSON below is written as its producer writes it today (the `json!` it built).

    #[test]
    fn identity_events_round_trip() {
        let audited: AccountAudited = round_trips(json!({
            "account": "123456789012",
            "callerArn": "arn:aws:iam::123456789012:user/admin",
            "callerIsRoot": false,
            "benchmark": "CIS AWS Foundations Benchmark v1.4.0",
            "failed": 2,
            "findings": [
                {"cisControl": "1.5", "status": "FAIL", "severity": "CRITICAL", "resource": "<root_account>"},
                {"cisControl": "1.8", "status": "PASS", "severity": "MEDIUM", "resource": "password policy"}
            ]
        }));
        assert_eq!(audited.findings[1].cis_control, "1.8");
        let admin = json!({
            "userName": "admin",
            "userArn": "arn:aws:iam::123456789012:user/admin",
            "groupName": "admins",
            "groupPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"],
            "userPolicyArns": [],
            "changes": ["created user admin"],
            "loginProfileCreated": true,
            "accessKeyCreated": false,
            "rootBootstrap": true,
        });
        let created: AdminUserCreated = round_trips(admin.clone());
        assert!(created.0.root_bootstrap);
        let updated: AdminUserUpdated = round_trips(admin);
        assert_eq!(updated.0.changes, ["created user admin"]);
        let deleted: AdminUserDeleted = round_trips(json!({
            "userName": "admin", "userArn": "arn:aws:iam::123456789012:user/admin",
            "removed": ["user admin", "group admins"]
        }));
        assert_eq!(deleted.removed.len(), 2);
        let device =
            json!({"userName": "admin", "serialNumber": "arn:aws:iam::123456789012:mfa/admin"});
        let started: MfaEnrollmentStarted = round_trips(device.clone());
        assert_eq!(started.user_name, "admin");
        let enabled: MfaDeviceEnabled = round_trips(device);
        assert_eq!(enabled.serial_number, "arn:aws:iam::123456789012:mfa/admin");
        let restarted: MfaEnrollmentRestarted = round_trips(json!({
            "userName": "admin", "serialNumber": "arn:aws:iam::123456789012:mfa/admin",
            "replaced": true
        }));
        assert!(restarted.replaced);
        let reset: LoginPasswordReset = round_trips(json!({
            "userName": "admin", "userArn": "arn:aws:iam::123456789012:user/admin",
            "passwordResetRequired": true
        }));
        assert!(reset.password_reset_required);
        let engaged: GuardrailEngaged = round_trips(json!({
            "groupName": "Admins",
            "policyArn": "arn:aws:iam::123456789012:policy/groundwork/Groundwork-DenyNewSpend",
            "budget": "monthly-spend", "threshold": 100.0, "notificationType": "ACTUAL",
            "period": "2024-05", "triggerEventId": "e1"
        }));
        assert_eq!(engaged.trigger_event_id, "e1");
        let released: GuardrailReleased = round_trips(json!({
            "groupName": "Admins",
            "policyArn": "arn:aws:iam::123456789012:policy/groundwork/Groundwork-DenyNewSpend",
            "reason": "limit raised", "caller": "operator", "role": "operator",
            "triggerEventId": null
        }));
        assert_eq!(released.trigger_event_id, None);
    }

    #[test]
    fn budget_events_round_trip() {
        let spec = json!({
            "budget": "monthly",
            "limit": {"amount": "10", "unit": "USD"},
            "timeUnit": "MONTHLY",
            "kind": "cost",
            "notifications": [
                {"notificationType": "ACTUAL", "comparisonOperator": "GREATER_THAN",
                 "threshold": 80.0, "thresholdType": "PERCENTAGE", "subscribers": 1},
                {"notificationType": "FORECASTED", "comparisonOperator": "GREATER_THAN",
                 "threshold": 100.0, "thresholdType": "PERCENTAGE", "subscribers": null}
            ],
        });
        let created: BudgetCreated = round_trips(spec.clone());
        assert_eq!(created.0.notifications[1].subscribers, None);
        let no_limit: BudgetCreated = round_trips(json!({
            "budget": "usage", "limit": null, "timeUnit": "DAILY", "kind": "usage", "notifications": []
        }));
        assert_eq!(no_limit.0.limit, None);
        // Updated is the created detail with `changes` appended.
        let mut updated = spec;
        updated.as_object_mut().unwrap().insert(
            "changes".into(),
            json!([{"field": "limit", "before": "5 USD", "after": "10 USD", "action": "update"}]),
        );
        let updated: BudgetUpdated = round_trips(updated);
        assert_eq!(updated.changes[0].field, "limit");
        assert_eq!(updated.budget.budget, "monthly");
        let deleted: BudgetDeleted = round_trips(json!({"budget": "monthly"}));
        assert_eq!(deleted.budget, "monthly");
        let crossed: BudgetThresholdCrossed = round_trips(json!({
            "budget": "monthly",
            "threshold": 80.0,
            "thresholdType": "PERCENTAGE",
            "notificationType": "ACTUAL",
            "comparisonOperator": "GREATER_THAN",
            "thresholdAmount": 8.0,
            "limit": 10.0,
            "actual": 8.5,
            "forecast": null,
            "currency": "USD",
            "period": "2024-05",
        }));
        assert_eq!(crossed.actual, Some(8.5));
        let low: FreePlanCreditsLow = round_trips(json!({
            "accountId": "123456789012",
            "remainingCredits": 12.5,
            "currency": "USD",
            "threshold": 20.0,
            "creditsExpireAt": "2026-01-15T00:00:00Z",
        }));
        assert_eq!(low.remaining_credits, 12.5);
        let ending: FreePlanEnding = round_trips(json!({
            "accountId": "123456789012",
            "closesAt": "2026-01-15T00:00:00Z",
            "daysLeft": 21,
            "withinDays": 30,
            "remainingCredits": null,
            "currency": null,
        }));
        assert_eq!(ending.days_left, 21);
    }

    #[test]
    fn alerting_events_round_trip() {
        let topic =
            json!({"topicArn": "arn:aws:sns:us-east-1:123456789012:alerts", "name": "alerts"});
        let t: TopicCreated = round_trips(topic.clone());
        assert_eq!(t.0.name, "alerts");
        let _: TopicUpdated = round_trips(topic.clone());
        let _: TopicDeleted = round_trips(topic);
        let s: SubscriptionCreated = round_trips(json!({
            "topicArn": "arn:aws:sns:us-east-1:123456789012:alerts", "protocol": "email",
            "pendingConfirmation": true
        }));
        assert!(s.pending_confirmation);
        let confirmed: SubscriptionConfirmed = round_trips(json!({
            "topicArn": "arn:aws:sns:us-east-1:123456789012:alerts", "protocol": "email",
            "endpoint": "ops@example.com",
            "subscriptionArn": "arn:aws:sns:us-east-1:123456789012:alerts:1234"
        }));
        assert_eq!(confirmed.endpoint, "ops@example.com");
        let _: SubscriptionDeleted = round_trips(
            json!({"topicArn": "arn:aws:sns:us-east-1:123456789012:alerts", "protocol": "email"}),
        );
        let alarm = json!({"alarmName": "billing", "alarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:billing"});
        let a: AlarmCreated = round_trips(alarm.clone());
        assert_eq!(a.0.alarm_name, "billing");
        let _: AlarmUpdated = round_trips(alarm.clone());
        let _: AlarmDeleted = round_trips(alarm);
        let test: TestNotification = round_trips(json!({"message": "hello"}));
        assert_eq!(test.message, "hello");
    }

    #[test]
    fn the_alarm_state_change_round_trips_in_cloudwatchs_shape() {
        // The detail alerting's watcher writes (services/alerting/src/alarm_event.rs).
        let change: CloudWatchAlarmStateChange = round_trips(json!({
            "alarmName": "billing-alarm",
            "state": {
                "value": "ALARM",
                "reason": "Threshold Crossed",
                "reasonData": "{\"version\":\"1.0\"}",
                "timestamp": "2024-05-01T12:34:56.789+0000"
            },
            "previousState": {
                "value": "OK",
                "reason": "Unchecked: Initial alarm creation",
                "timestamp": "2024-05-01T10:00:00.000+0000"
            },
            "configuration": {
                "description": "Daily estimated charges reached 10 USD",
                "metrics": [
                    {
                        "id": "m1",
                        "metricStat": {
                            "metric": {
                                "dimensions": {"Currency": "USD"},
                                "name": "EstimatedCharges",
                                "namespace": "AWS/Billing"
                            },
                            "period": 86400,
                            "stat": "Maximum",
                            "unit": "None"
                        },
                        "returnData": false
                    },
                    {
                        "expression": "IF(RATE(m1)>0,RATE(m1)*86400,0)",
                        "id": "e1",
                        "label": "DailyEstimatedCharges",
                        "period": 60,
                        "returnData": true
                    }
                ]
            }
        }));
        assert_eq!(change.previous_state.value, "OK");
        assert_eq!(change.configuration.metrics.len(), 2);
    }

    #[test]
    fn orchestrator_events_round_trip() {
        let started: SetupRunStarted =
            round_trips(json!({"runId": "r1", "kind": "apply", "steps": 9}));
        assert_eq!(started.steps, 9);
        let ok: SetupStepSucceeded = round_trips(
            json!({"runId": "r1", "resource": "budget/monthly", "outcome": "created", "attempts": 1}),
        );
        assert_eq!(ok.outcome, "created");
        let failed: SetupStepFailed = round_trips(
            json!({"runId": "r1", "resource": "budget/monthly", "error": "denied", "attempts": 5}),
        );
        assert_eq!(failed.attempts, 5);
        let waiting: SetupRunWaiting = round_trips(json!({"runId": "r1", "waiting": [
            {"resource": "mfa-device/admin", "instructions": ["Scan the QR code", "Enter two codes"]}
        ]}));
        assert_eq!(waiting.waiting[0].instructions.len(), 2);
        let done: SetupRunCompleted = round_trips(
            json!({"runId": "r1", "kind": "destroy", "status": "FAILED", "error": "step failed"}),
        );
        assert_eq!(done.status, "FAILED");
    }

    #[test]
    fn a_consumer_reads_a_partial_alarm_state_change() {
        // CloudWatch's own events and hand-published ones may lack the optional parts.
        let event = json!({"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change",
            "detail": {"alarmName": "a", "state": {"value": "ALARM"}, "previousState": {"value": "OK"}}});
        let change = CloudWatchAlarmStateChange::decode(&event).unwrap().unwrap();
        assert_eq!(change.state.reason, "");
        assert!(change.configuration.metrics.is_empty());
    }

    #[test]
    fn decode_selects_by_source_and_detail_type() {
        let event = json!({"source": "groundwork.identity", "detail-type": "MFA Device Enabled",
            "detail": {"userName": "admin", "serialNumber": "s"}});
        assert_eq!(
            MfaDeviceEnabled::decode(&event).unwrap().unwrap().user_name,
            "admin"
        );
        assert!(MfaEnrollmentStarted::decode(&event).is_none());
        let forged = json!({"source": "com.example", "detail-type": "MFA Device Enabled",
            "detail": {"userName": "admin", "serialNumber": "s"}});
        assert!(MfaDeviceEnabled::decode(&forged).is_none());
        let broken = json!({"source": "groundwork.identity", "detail-type": "MFA Device Enabled",
            "detail": {"userName": 3}});
        assert!(MfaDeviceEnabled::decode(&broken).unwrap().is_err());
    }

    #[test]
    fn an_entry_carries_source_detail_type_and_detail() {
        let entry = SetupRunStarted {
            run_id: "r1".into(),
            kind: "apply".into(),
            steps: 2,
        }
        .entry(vec!["arn:x".into()])
        .unwrap();
        assert_eq!(entry.source.as_deref(), Some("groundwork.orchestrator"));
        assert_eq!(entry.detail_type.as_deref(), Some("Setup Run Started"));
        assert_eq!(
            entry.detail.as_deref(),
            Some(r#"{"runId":"r1","kind":"apply","steps":2}"#)
        );
        assert_eq!(entry.resources, ["arn:x"]);
    }

    #[test]
    fn the_docs_list_every_field_of_every_example() {
        let docs = catalog();
        let mut seen = BTreeSet::new();
        for e in &docs {
            assert!(
                seen.insert((e.source, e.detail_type)),
                "{} listed twice",
                e.detail_type
            );
            let keys: Vec<&str> = e
                .example
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            let documented: Vec<&str> = e.fields.iter().map(|f| f.name).collect();
            assert_eq!(keys, documented, "{}", e.detail_type);
        }
        assert_eq!(docs.len(), 33);
    }

    #[test]
    fn the_examples_round_trip() {
        fn check<E: CatalogEvent + std::fmt::Debug + PartialEq>() {
            let example = E::example();
            assert_eq!(
                E::from_detail(&example.to_detail().unwrap()).unwrap(),
                example
            );
        }
        check::<AccountAudited>();
        check::<BudgetUpdated>();
        check::<CloudWatchAlarmStateChange>();
        check::<SetupRunWaiting>();
        check::<SubscriptionConfirmed>();
        check::<GroundworkApiCall>();
        check::<MfaEnrollmentRestarted>();
        check::<LoginPasswordReset>();
        check::<GuardrailEngaged>();
        check::<GuardrailReleased>();
    }
}
