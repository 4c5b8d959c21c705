//! The steps, done by the services over gRPC: identity (admin, MFA, password policy,
//! console checks), budget (budgets) and alerting (topic, subscriptions, billing alarm).
//! Every call is one of their idempotent `Ensure*` RPCs or a read, so a step that runs
//! twice (after a crash) changes nothing the second time.
//!
//! Status codes become retryable or terminal failures here: UNAVAILABLE and friends are
//! retried by the engine; INVALID_ARGUMENT, NOT_FOUND and FAILED_PRECONDITION fail the step
//! with the service's message.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use groundwork_proto::v1 as pb;
use pb::alerting_client::AlertingClient;
use pb::budget_client::BudgetClient;
use pb::event_bus_client::EventBusClient;
use pb::identity_client::IdentityClient;
use secrecy::{SecretSlice, SecretString};
use serde_json::{Value, json};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::error::Error;
use crate::notifications;
use crate::plan::LiveState;
use crate::resource::{ConsoleCheck, Fields, Kind, Resource, ResourceId};
use crate::run::{Run, RunKind, StepRecord};
use crate::runner::{OneTimeSecret, StepOutcome, StepResult, StepRunner};

/// Adds the bearer token to outgoing calls.
#[derive(Debug, Clone)]
pub struct Bearer(Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(v) = &self.0 {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

type Conn = InterceptedService<Channel, Bearer>;

/// Where the services are.
#[derive(Debug, Clone)]
pub struct ServiceUrls {
    pub eventbus: String,
    pub identity: String,
    pub budget: String,
    pub alerting: String,
    pub api_token: Option<String>,
}

/// gRPC clients of the services, connected lazily (a service that is down makes its
/// steps retry, not the orchestrator fail to start).
#[derive(Debug, Clone)]
pub struct Services {
    eventbus: notifications::Client,
    identity: IdentityClient<Conn>,
    budget: BudgetClient<Conn>,
    alerting: AlertingClient<Conn>,
}

fn channel(url: &str, what: &str) -> Result<Channel, Error> {
    Ok(Endpoint::from_shared(url.to_owned())
        .map_err(|e| Error::InvalidArgument {
            field: format!("{what}_url"),
            reason: format!("'{url}' is not a URL: {e}"),
        })?
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(60))
        .connect_lazy())
}

impl Services {
    pub fn new(urls: &ServiceUrls) -> Result<Self, Error> {
        let bearer = match urls.api_token.as_deref().filter(|t| !t.is_empty()) {
            None => Bearer(None),
            Some(t) => Bearer(Some(format!("Bearer {t}").parse().map_err(|_| {
                Error::InvalidArgument {
                    field: "api_token".into(),
                    reason: "holds characters that cannot be sent in a header".into(),
                }
            })?)),
        };
        Ok(Self {
            eventbus: EventBusClient::with_interceptor(
                channel(&urls.eventbus, "eventbus")?,
                bearer.clone(),
            ),
            identity: IdentityClient::with_interceptor(
                channel(&urls.identity, "identity")?,
                bearer.clone(),
            ),
            budget: BudgetClient::with_interceptor(
                channel(&urls.budget, "budget")?,
                bearer.clone(),
            ),
            alerting: AlertingClient::with_interceptor(
                channel(&urls.alerting, "alerting")?,
                bearer,
            ),
        })
    }
}

/// Whether a failed call may pass later.
fn retryable(code: tonic::Code) -> bool {
    use tonic::Code as C;
    matches!(
        code,
        C::Unavailable
            | C::DeadlineExceeded
            | C::ResourceExhausted
            | C::Aborted
            | C::Unknown
            | C::Internal
    )
}

fn failed(what: &str, s: &tonic::Status) -> StepResult {
    StepResult::failed(
        format!("{what}: {} ({:?})", s.message(), s.code()),
        retryable(s.code()),
    )
}

fn deletion(d: pb::AlertingDeletion) -> &'static str {
    match d {
        pb::AlertingDeletion::Deleted => "deleted",
        pb::AlertingDeletion::PendingConfirmation => "pending (goes with the topic)",
        pb::AlertingDeletion::Absent | pb::AlertingDeletion::Unspecified => "absent",
    }
}

fn identity_outcome(o: pb::Outcome) -> &'static str {
    match o {
        pb::Outcome::Created => "created",
        pb::Outcome::Updated => "updated",
        pb::Outcome::Deleted => "deleted",
        pb::Outcome::Absent => "absent",
        pb::Outcome::Unchanged | pb::Outcome::Unspecified => "unchanged",
    }
}

fn alerting_outcome(c: pb::AlertingChange) -> &'static str {
    match c {
        pb::AlertingChange::Created => "created",
        pb::AlertingChange::Updated => "updated",
        pb::AlertingChange::Unchanged | pb::AlertingChange::Unspecified => "unchanged",
    }
}

fn s(fields: &Fields, key: &str) -> String {
    match fields.get(key) {
        Some(Value::String(v)) => v.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

fn b(fields: &Fields, key: &str) -> bool {
    fields.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn strings(fields: &Fields, key: &str) -> Vec<String> {
    fields
        .get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The admin resource's fields as IAM has them. Policy lists hold the spec's policies that
/// are attached (others on the group, such as the MFA policy, are not this resource's);
/// fields that only ever add (an access key) or that are a choice of the run
/// (`allow_root_bootstrap`) are as asked when satisfied.
fn admin_live_fields(f: &Fields, state: &pb::DescribeAdminResponse) -> Fields {
    let attached = |key: &str, arns: &[String]| {
        json!(
            strings(f, key)
                .into_iter()
                .filter(|p| arns.contains(p))
                .collect::<Vec<_>>()
        )
    };
    let mut live = f.clone();
    live.insert(
        "group".into(),
        json!(if state.in_group {
            s(f, "group")
        } else {
            String::new()
        }),
    );
    live.insert(
        "group_policies".into(),
        attached("group_policies", &state.group_policy_arns),
    );
    live.insert(
        "user_policies".into(),
        attached("user_policies", &state.user_policy_arns),
    );
    live.insert("console_access".into(), json!(state.console_access));
    if b(f, "programmatic_access") {
        live.insert("programmatic_access".into(), json!(state.access_keys > 0));
    }
    live
}

/// The spec field an alarm field that differs belongs to.
fn alarm_field(aws_field: &str) -> &'static str {
    match aws_field {
        "threshold" => "threshold_usd",
        "description" => "description",
        "alarm_actions" | "ok_actions" | "insufficient_data_actions" | "actions_enabled" => "topic",
        "alarm_name" => "alarm_name",
        _ => "kind",
    }
}

fn outputs<const N: usize>(pairs: [(&str, String); N]) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

fn protocol(name: &str) -> pb::AlertingProtocol {
    match name {
        "sms" => pb::AlertingProtocol::Sms,
        "https" => pb::AlertingProtocol::Https,
        "sqs" => pb::AlertingProtocol::Sqs,
        _ => pb::AlertingProtocol::Email,
    }
}

fn secret(resource: &ResourceId, name: &'static str, value: String) -> OneTimeSecret {
    OneTimeSecret {
        resource: resource.0.clone(),
        name,
        value: SecretString::from(value),
        png: None,
    }
}

impl Services {
    async fn apply(&self, step: &StepRecord, run: &Run) -> StepResult {
        let r = &step.resource;
        let f = &r.fields;
        match r.kind {
            Kind::PasswordPolicy => {
                let u = |k: &str| f.get(k).and_then(Value::as_u64).map(|v| v as u32);
                let o = |k: &str| f.get(k).and_then(Value::as_bool);
                let req = pb::EnsurePasswordPolicyRequest {
                    minimum_password_length: u("minimum_password_length"),
                    require_symbols: o("require_symbols"),
                    require_numbers: o("require_numbers"),
                    require_uppercase_characters: o("require_uppercase_characters"),
                    require_lowercase_characters: o("require_lowercase_characters"),
                    allow_users_to_change_password: o("allow_users_to_change_password"),
                    max_password_age: u("max_password_age"),
                    password_reuse_prevention: u("password_reuse_prevention"),
                    hard_expiry: o("hard_expiry"),
                };
                match self.identity.clone().ensure_password_policy(req).await {
                    Ok(resp) => StepResult::done(
                        identity_outcome(resp.get_ref().outcome()),
                        BTreeMap::new(),
                    ),
                    Err(e) => failed("EnsurePasswordPolicy", &e),
                }
            }
            Kind::AdminUser => {
                let req = pb::EnsureAdminRequest {
                    user_name: s(f, "user_name"),
                    group_name: s(f, "group"),
                    group_policy_arns: strings(f, "group_policies"),
                    user_policy_arns: strings(f, "user_policies"),
                    console_access: Some(b(f, "console_access")),
                    programmatic_access: b(f, "programmatic_access"),
                    allow_root_bootstrap: b(f, "allow_root_bootstrap"),
                };
                match self.identity.clone().ensure_admin(req).await {
                    Ok(resp) => {
                        let resp = resp.into_inner();
                        let mut result = StepResult::done(
                            identity_outcome(resp.outcome()),
                            outputs([
                                ("user_arn", resp.user_arn.clone()),
                                ("console_sign_in_url", resp.console_sign_in_url.clone()),
                                ("recommendations", resp.recommendations.join(" ")),
                            ]),
                        );
                        if !resp.initial_password.is_empty() {
                            result.secrets.push(secret(
                                &r.id,
                                "initial_password",
                                resp.initial_password,
                            ));
                        }
                        if let Some(key) = resp.access_key {
                            result.secrets.push(secret(
                                &r.id,
                                "secret_access_key",
                                format!("{} {}", key.access_key_id, key.secret_access_key),
                            ));
                        }
                        result
                    }
                    Err(e) => failed("EnsureAdmin", &e),
                }
            }
            Kind::MfaPolicy => {
                let req = pb::EnsureMfaPolicyRequest {
                    group_name: s(f, "group"),
                    policy_name: s(f, "policy_name"),
                };
                match self.identity.clone().ensure_mfa_policy(req).await {
                    Ok(resp) => {
                        let resp = resp.into_inner();
                        StepResult::done(
                            identity_outcome(resp.outcome()),
                            outputs([("policy_arn", resp.policy_arn)]),
                        )
                    }
                    Err(e) => failed("EnsureMfaPolicy", &e),
                }
            }
            Kind::MfaDevice => self.mfa_device(step).await,
            Kind::Budget => self.budget(r, run, false).await.0,
            Kind::Topic => {
                let req = pb::EnsureTopicRequest {
                    name: s(f, "name"),
                    tags: vec![],
                };
                match self.alerting.clone().ensure_topic(req).await {
                    Ok(resp) => {
                        let resp = resp.into_inner();
                        StepResult::done(
                            alerting_outcome(resp.change()),
                            outputs([("topic_arn", resp.topic_arn)]),
                        )
                    }
                    Err(e) => failed("EnsureTopic", &e),
                }
            }
            Kind::Subscription => {
                let req = pb::EnsureSubscriptionRequest {
                    topic: s(f, "topic"),
                    protocol: protocol(&s(f, "protocol")) as i32,
                    endpoint: s(f, "endpoint"),
                };
                match self.alerting.clone().ensure_subscription(req).await {
                    Ok(resp) => {
                        let resp = resp.into_inner();
                        let outcome = alerting_outcome(resp.change());
                        let sub = resp.subscription.unwrap_or_default();
                        let confirmed = sub.status() == pb::SubscriptionStatus::Confirmed;
                        let out = outputs([
                            ("subscription_arn", sub.subscription_arn),
                            ("topic_arn", sub.topic_arn),
                        ]);
                        if confirmed || !b(f, "confirmed") {
                            StepResult::done(outcome, out)
                        } else {
                            StepResult {
                                outcome: StepOutcome::NeedPerson {
                                    instructions: vec![format!(
                                        "Confirm the subscription: open the message AWS Notifications sent to {} and follow its \"Confirm subscription\" link. The run resumes on `Subscription Confirmed`.",
                                        s(f, "endpoint")
                                    )],
                                    outputs: out,
                                },
                                secrets: Vec::new(),
                            }
                        }
                    }
                    Err(e) => failed("EnsureSubscription", &e),
                }
            }
            Kind::BillingAlarm => {
                let req = Self::alarm_request(f, false);
                match self.alerting.clone().ensure_billing_alarm(req).await {
                    Ok(resp) => {
                        let resp = resp.into_inner();
                        StepResult::done(
                            alerting_outcome(resp.change()),
                            outputs([("alarm_arn", resp.alarm_arn), ("state", resp.state_value)]),
                        )
                    }
                    Err(e) => failed("EnsureBillingAlarm", &e),
                }
            }
            // A webhook is the address the rules' targets post to: nothing to make.
            Kind::Webhook => StepResult::done("unchanged", outputs([("url", s(f, "url"))])),
            Kind::Rule => match notifications::ensure(&mut self.eventbus.clone(), f).await {
                Ok((outcome, arn)) => StepResult::done(outcome, outputs([("rule_arn", arn)])),
                Err(e) => failed("event bus PutRule/PutTargets", &e),
            },
            Kind::ConsoleStep => self.console(r).await,
        }
    }

    async fn mfa_device(&self, step: &StepRecord) -> StepResult {
        let user = s(&step.resource.fields, "user_name");
        match self.user_mfa_active(&user).await {
            Ok(true) => return StepResult::done("unchanged", step.outputs.clone()),
            Ok(false) => {}
            Err(e) => return failed("AuditAccount", &e),
        }
        let started_and_shown = step.outputs.contains_key("serial_number")
            && step.outputs.get("secrets_delivered").map(String::as_str) == Some("yes");
        let instructions = |serial: &str| {
            vec![format!(
                "Scan the QR code (or type the seed) into an authenticator app, then run: groundwork mfa complete --user {user} --serial {serial} CODE1 CODE2 (two consecutive codes). The run resumes on `MFA Device Enabled`."
            )]
        };
        if started_and_shown {
            let serial = step
                .outputs
                .get("serial_number")
                .cloned()
                .unwrap_or_default();
            return StepResult {
                outcome: StepOutcome::NeedPerson {
                    instructions: instructions(&serial),
                    outputs: step.outputs.clone(),
                },
                secrets: Vec::new(),
            };
        }
        let req = pb::StartMfaEnrollmentRequest {
            user_name: user.clone(),
            device_name: String::new(),
        };
        match self.identity.clone().start_mfa_enrollment(req).await {
            Ok(resp) => {
                let resp = resp.into_inner();
                let id = &step.resource.id;
                let mut uri = secret(id, "mfa_otpauth_uri", resp.otpauth_uri);
                uri.png = Some(SecretSlice::from(resp.qr_code_png));
                StepResult {
                    outcome: StepOutcome::NeedPerson {
                        instructions: instructions(&resp.serial_number),
                        outputs: outputs([("serial_number", resp.serial_number)]),
                    },
                    secrets: vec![uri, secret(id, "mfa_base32_seed", resp.base32_string_seed)],
                }
            }
            Err(e) => failed("StartMfaEnrollment", &e),
        }
    }

    fn alarm_request(f: &Fields, dry_run: bool) -> pb::EnsureBillingAlarmRequest {
        let kind = if s(f, "kind") == "daily_charges" {
            pb::BillingAlarmKind::DailyCharges
        } else {
            pb::BillingAlarmKind::Total
        };
        pb::EnsureBillingAlarmRequest {
            alarm_name: s(f, "alarm_name"),
            kind: kind as i32,
            threshold_usd: s(f, "threshold_usd").parse().unwrap_or_default(),
            topic: s(f, "topic"),
            description: s(f, "description"),
            dry_run,
        }
    }

    async fn describe_admin(
        &self,
        user: &str,
        group: &str,
    ) -> Result<pb::DescribeAdminResponse, tonic::Status> {
        Ok(self
            .identity
            .clone()
            .describe_admin(pb::DescribeAdminRequest {
                user_name: user.into(),
                group_name: group.into(),
            })
            .await?
            .into_inner())
    }

    async fn user_mfa_active(&self, user: &str) -> Result<bool, tonic::Status> {
        let audit = self
            .identity
            .clone()
            .audit_account(pb::AuditAccountRequest {
                access_key_max_age_days: None,
            })
            .await?;
        Ok(audit
            .get_ref()
            .users
            .iter()
            .any(|u| u.user_name == user && u.mfa_active))
    }

    fn budget_request(r: &Resource, run: Option<&Run>, dry_run: bool) -> pb::EnsureBudgetRequest {
        let f = &r.fields;
        let mut subscribers: Vec<pb::Subscriber> = strings(f, "emails")
            .into_iter()
            .map(|address| pb::Subscriber {
                subscription_type: "EMAIL".into(),
                address,
            })
            .collect();
        let topic = s(f, "sns_topic");
        if !topic.is_empty() {
            let arn = run
                .and_then(|run| run.step(&ResourceId::new(Kind::Topic, &topic)))
                .and_then(|st| st.outputs.get("topic_arn").cloned())
                .unwrap_or_default();
            if !arn.is_empty() {
                subscribers.push(pb::Subscriber {
                    subscription_type: "SNS".into(),
                    address: arn,
                });
            }
        }
        let thresholds: Vec<f64> = f
            .get("thresholds_percent")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        let mut notifications = Vec::new();
        for kind in strings(f, "notify_on") {
            for t in &thresholds {
                notifications.push(pb::NotificationWithSubscribers {
                    notification: Some(pb::Notification {
                        notification_type: kind.to_uppercase(),
                        comparison_operator: "GREATER_THAN".into(),
                        threshold: *t,
                        threshold_type: "PERCENTAGE".into(),
                    }),
                    subscribers: subscribers.clone(),
                });
            }
        }
        let kind = if s(f, "kind") == "credits" {
            pb::BudgetKind::Credits
        } else {
            pb::BudgetKind::Spend
        };
        pb::EnsureBudgetRequest {
            budget: Some(pb::BudgetDefinition {
                budget_name: s(f, "name"),
                budget_limit: Some(pb::Spend {
                    amount: s(f, "limit_usd"),
                    unit: "USD".into(),
                }),
                time_unit: "MONTHLY".into(),
                kind: kind as i32,
                filter_expression: None,
                notifications_with_subscribers: notifications,
                time_period: None,
            }),
            dry_run,
        }
    }

    /// Applies (or with `dry_run` only compares) a budget; the second value lists the
    /// differing fields for a plan.
    async fn budget(&self, r: &Resource, run: &Run, dry_run: bool) -> (StepResult, Vec<String>) {
        let req = Self::budget_request(r, Some(run), dry_run);
        match self.budget.clone().ensure_budget(req).await {
            Ok(resp) => {
                let resp = resp.into_inner();
                let fields = resp.changes.iter().map(|c| c.field.clone()).collect();
                (
                    StepResult::done(&resp.outcome.to_lowercase(), BTreeMap::new()),
                    fields,
                )
            }
            Err(e) => (failed("EnsureBudget", &e), Vec::new()),
        }
    }

    async fn console(&self, r: &Resource) -> StepResult {
        let wait = b(&r.fields, "wait");
        let Some(check) = ConsoleCheck::from_name(r.id.name()) else {
            return StepResult::failed(format!("unknown console step {}", r.id), false);
        };
        let (done, mut instructions) = match check {
            ConsoleCheck::BillingAccess => match self
                .identity
                .clone()
                .describe_billing_access(pb::DescribeBillingAccessRequest {})
                .await
            {
                Ok(resp) => {
                    let resp = resp.into_inner();
                    let done = resp.state() == pb::BillingAccessState::AppearsDone;
                    let mut lines = resp.instructions;
                    lines.push(resp.console_url);
                    (done, lines)
                }
                Err(e) => return failed("DescribeBillingAccess", &e),
            },
            ConsoleCheck::BillingAlerts => match self
                .alerting
                .clone()
                .describe_billing_alerts(pb::DescribeBillingAlertsRequest {})
                .await
            {
                Ok(resp) => {
                    let resp = resp.into_inner();
                    (
                        resp.billing_metrics_arriving,
                        vec![resp.manual_step, resp.console_url],
                    )
                }
                Err(e) => return failed("DescribeBillingAlerts", &e),
            },
            ConsoleCheck::RootMfa | ConsoleCheck::RootAccessKeys => {
                match self
                    .identity
                    .clone()
                    .audit_account(pb::AuditAccountRequest {
                        access_key_max_age_days: None,
                    })
                    .await
                {
                    Ok(resp) => {
                        let a = resp.into_inner();
                        if check == ConsoleCheck::RootMfa {
                            (a.root_mfa_enabled, vec!["Sign in as root, open Security credentials, and assign an MFA device to the root user.".into(), "https://console.aws.amazon.com/iam/home#/security_credentials".into()])
                        } else {
                            (!a.root_access_keys_present, vec!["Sign in as root, open Security credentials, and delete every root access key.".into(), "https://console.aws.amazon.com/iam/home#/security_credentials".into()])
                        }
                    }
                    Err(e) => return failed("AuditAccount", &e),
                }
            }
        };
        instructions.retain(|l| !l.is_empty());
        let outcome = if done {
            StepOutcome::Done {
                outcome: "unchanged".into(),
                outputs: BTreeMap::new(),
            }
        } else if wait {
            StepOutcome::NeedPerson {
                instructions,
                outputs: BTreeMap::new(),
            }
        } else {
            StepOutcome::NeedAttention { instructions }
        };
        StepResult {
            outcome,
            secrets: Vec::new(),
        }
    }

    async fn destroy(&self, step: &StepRecord) -> StepResult {
        let r = &step.resource;
        let f = &r.fields;
        match r.kind {
            Kind::AdminUser => match self
                .identity
                .clone()
                .delete_admin(pb::DeleteAdminRequest {
                    user_name: s(f, "user_name"),
                    group_name: s(f, "group"),
                })
                .await
            {
                Ok(resp) => {
                    StepResult::done(identity_outcome(resp.get_ref().outcome()), BTreeMap::new())
                }
                Err(e) => failed("DeleteAdmin", &e),
            },
            Kind::Budget => match self
                .budget
                .clone()
                .delete_budget(pb::DeleteBudgetRequest {
                    budget_name: s(f, "name"),
                })
                .await
            {
                Ok(_) => StepResult::done("deleted", BTreeMap::new()),
                Err(e) if e.code() == tonic::Code::NotFound => {
                    StepResult::done("absent", BTreeMap::new())
                }
                Err(e) => failed("DeleteBudget", &e),
            },
            Kind::MfaPolicy => match self
                .identity
                .clone()
                .delete_mfa_policy(pb::DeleteMfaPolicyRequest {
                    policy_name: s(f, "policy_name"),
                })
                .await
            {
                Ok(resp) => {
                    StepResult::done(identity_outcome(resp.get_ref().outcome()), BTreeMap::new())
                }
                Err(e) => failed("DeleteMfaPolicy", &e),
            },
            // Only reached when an apply of Groundwork's created the policy (see grpc.rs).
            Kind::PasswordPolicy => match self
                .identity
                .clone()
                .delete_password_policy(pb::DeletePasswordPolicyRequest {})
                .await
            {
                Ok(resp) => {
                    StepResult::done(identity_outcome(resp.get_ref().outcome()), BTreeMap::new())
                }
                Err(e) => failed("DeletePasswordPolicy", &e),
            },
            Kind::Topic => match self
                .alerting
                .clone()
                .delete_topic(pb::DeleteTopicRequest {
                    topic: s(f, "name"),
                })
                .await
            {
                Ok(resp) => StepResult::done(deletion(resp.get_ref().deletion()), BTreeMap::new()),
                Err(e) => failed("DeleteTopic", &e),
            },
            Kind::Subscription => match self
                .alerting
                .clone()
                .delete_subscription(pb::DeleteSubscriptionRequest {
                    topic: s(f, "topic"),
                    protocol: protocol(&s(f, "protocol")) as i32,
                    endpoint: s(f, "endpoint"),
                })
                .await
            {
                // A pending subscription cannot be unsubscribed; the topic's deletion,
                // which comes next, removes it.
                Ok(resp) => StepResult::done(deletion(resp.get_ref().deletion()), BTreeMap::new()),
                Err(e) => failed("DeleteSubscription", &e),
            },
            Kind::BillingAlarm => match self
                .alerting
                .clone()
                .delete_billing_alarm(pb::DeleteBillingAlarmRequest {
                    alarm_name: s(f, "alarm_name"),
                })
                .await
            {
                Ok(resp) => StepResult::done(deletion(resp.get_ref().deletion()), BTreeMap::new()),
                Err(e) => failed("DeleteBillingAlarm", &e),
            },
            Kind::Rule => match notifications::delete(&mut self.eventbus.clone(), f).await {
                Ok(outcome) => StepResult::done(outcome, BTreeMap::new()),
                Err(e) => failed("event bus RemoveTargets/DeleteRule", &e),
            },
            _ => StepResult::done("kept", BTreeMap::new()),
        }
    }

    async fn waiting_done(&self, step: &StepRecord) -> Result<bool, Error> {
        let f = &step.resource.fields;
        let down =
            |what: &str, e: tonic::Status| Error::Unavailable(format!("{what}: {}", e.message()));
        match step.resource.kind {
            Kind::MfaDevice => self
                .user_mfa_active(&s(f, "user_name"))
                .await
                .map_err(|e| down("AuditAccount", e)),
            Kind::Subscription => {
                let resp = self
                    .alerting
                    .clone()
                    .list_subscriptions(pb::ListAlertingSubscriptionsRequest {
                        topic: s(f, "topic"),
                    })
                    .await
                    .map_err(|e| down("ListSubscriptions", e))?;
                let proto = protocol(&s(f, "protocol")) as i32;
                Ok(resp.get_ref().subscriptions.iter().any(|x| {
                    x.protocol == proto
                        && x.endpoint == s(f, "endpoint")
                        && x.status() == pb::SubscriptionStatus::Confirmed
                }))
            }
            Kind::ConsoleStep => Ok(matches!(
                self.console(&step.resource).await.outcome,
                StepOutcome::Done { .. }
            )),
            _ => Ok(false),
        }
    }

    async fn live(&self, resources: &[Resource]) -> Result<LiveState, Error> {
        let unavailable = |what: &str, e: tonic::Status| {
            if retryable(e.code()) {
                Error::Unavailable(format!("{what}: {}", e.message()))
            } else {
                Error::FailedPrecondition(format!("{what}: {}", e.message()))
            }
        };
        let mut live = LiveState::new();
        let needs_audit = resources
            .iter()
            .any(|r| matches!(r.kind, Kind::MfaDevice | Kind::PasswordPolicy));
        let audit = if needs_audit {
            Some(
                self.identity
                    .clone()
                    .audit_account(pb::AuditAccountRequest {
                        access_key_max_age_days: None,
                    })
                    .await
                    .map_err(|e| unavailable("identity AuditAccount", e))?
                    .into_inner(),
            )
        } else {
            None
        };
        let empty_run = Run::new(String::new(), RunKind::Apply, Vec::new());
        // The managed policies of each group read so far (the admin's read includes them).
        let mut group_policies: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut topics_seen: BTreeMap<String, Option<Vec<pb::AlertingSubscription>>> =
            BTreeMap::new();
        for r in resources {
            let f = &r.fields;
            match r.kind {
                Kind::AdminUser => {
                    let state = self
                        .describe_admin(&s(f, "user_name"), &s(f, "group"))
                        .await
                        .map_err(|e| unavailable("identity DescribeAdmin", e))?;
                    group_policies.insert(s(f, "group"), state.group_policy_arns.clone());
                    if state.user_exists {
                        live.insert(r.id.clone(), admin_live_fields(f, &state));
                    }
                }
                Kind::MfaDevice => {
                    if let Some(u) = audit
                        .iter()
                        .flat_map(|a| &a.users)
                        .find(|u| u.user_name == s(f, "user_name"))
                    {
                        let mut fields = f.clone();
                        fields.insert("enabled".into(), json!(u.mfa_active));
                        live.insert(r.id.clone(), fields);
                    }
                }
                Kind::PasswordPolicy => {
                    if let Some(p) = audit.as_ref().and_then(|a| a.password_policy.as_ref()) {
                        let actual = json!({
                            "minimum_password_length": p.minimum_password_length,
                            "require_symbols": p.require_symbols,
                            "require_numbers": p.require_numbers,
                            "require_uppercase_characters": p.require_uppercase_characters,
                            "require_lowercase_characters": p.require_lowercase_characters,
                            "allow_users_to_change_password": p.allow_users_to_change_password,
                            "max_password_age": p.max_password_age,
                            "password_reuse_prevention": p.password_reuse_prevention,
                            "hard_expiry": p.hard_expiry,
                        });
                        if let Value::Object(map) = actual {
                            live.insert(r.id.clone(), map.into_iter().collect());
                        }
                    }
                }
                Kind::MfaPolicy => {
                    // In place when a policy of that name is attached to the group.
                    let group = s(f, "group");
                    if !group_policies.contains_key(&group) {
                        let state = self
                            .describe_admin("", &group)
                            .await
                            .map_err(|e| unavailable("identity DescribeAdmin", e))?;
                        group_policies.insert(group.clone(), state.group_policy_arns);
                    }
                    let suffix = format!("/{}", s(f, "policy_name"));
                    if group_policies[&group]
                        .iter()
                        .any(|arn| arn.contains(":policy/") && arn.ends_with(&suffix))
                    {
                        live.insert(r.id.clone(), f.clone());
                    }
                }
                Kind::Budget => {
                    let (result, differing) = self.budget(r, &empty_run, true).await;
                    match result.outcome {
                        StepOutcome::Done { outcome, .. } if outcome == "created" => {}
                        StepOutcome::Done { .. } => {
                            let mut fields = f.clone();
                            for d in differing {
                                let key = d.split(['[', '.']).next().unwrap_or_default().to_owned();
                                let key = if key == "budget_limit" {
                                    "limit_usd".to_owned()
                                } else if key.starts_with("notifications") {
                                    "thresholds_percent".to_owned()
                                } else {
                                    key
                                };
                                fields.insert(key, json!("(differs)"));
                            }
                            live.insert(r.id.clone(), fields);
                        }
                        StepOutcome::Failed {
                            error,
                            retryable: true,
                        } => return Err(Error::Unavailable(error)),
                        StepOutcome::Failed { error, .. } => {
                            return Err(Error::FailedPrecondition(error));
                        }
                        _ => {}
                    }
                }
                Kind::Topic | Kind::Subscription | Kind::BillingAlarm => {
                    let topic = if r.kind == Kind::Topic {
                        s(f, "name")
                    } else {
                        s(f, "topic")
                    };
                    if !topics_seen.contains_key(&topic) {
                        let found = match self
                            .alerting
                            .clone()
                            .list_subscriptions(pb::ListAlertingSubscriptionsRequest {
                                topic: topic.clone(),
                            })
                            .await
                        {
                            Ok(resp) => Some(resp.into_inner().subscriptions),
                            Err(e) if e.code() == tonic::Code::NotFound => None,
                            Err(e) => return Err(unavailable("alerting ListSubscriptions", e)),
                        };
                        topics_seen.insert(topic.clone(), found);
                    }
                    let Some(Some(subs)) = topics_seen.get(&topic) else {
                        continue;
                    };
                    match r.kind {
                        Kind::Topic => {
                            live.insert(r.id.clone(), f.clone());
                        }
                        Kind::Subscription => {
                            let proto = protocol(&s(f, "protocol")) as i32;
                            if let Some(sub) = subs
                                .iter()
                                .find(|x| x.protocol == proto && x.endpoint == s(f, "endpoint"))
                            {
                                let mut fields = f.clone();
                                fields.insert(
                                    "confirmed".into(),
                                    json!(sub.status() == pb::SubscriptionStatus::Confirmed),
                                );
                                live.insert(r.id.clone(), fields);
                            }
                        }
                        _ => {
                            let planned = self
                                .alerting
                                .clone()
                                .ensure_billing_alarm(Self::alarm_request(f, true))
                                .await
                                .map_err(|e| {
                                    unavailable("alerting EnsureBillingAlarm (dry run)", e)
                                })?
                                .into_inner();
                            match planned.change() {
                                pb::AlertingChange::Created => {}
                                pb::AlertingChange::Updated => {
                                    let mut fields = f.clone();
                                    for d in &planned.differing {
                                        fields.insert(alarm_field(d).into(), json!("(differs)"));
                                    }
                                    live.insert(r.id.clone(), fields);
                                }
                                _ => {
                                    live.insert(r.id.clone(), f.clone());
                                }
                            }
                        }
                    }
                }
                // Nothing on the bus stands for a webhook but the rules' targets.
                Kind::Webhook => {
                    live.insert(r.id.clone(), f.clone());
                }
                Kind::Rule => {
                    if let Some(rule) = notifications::read(&mut self.eventbus.clone(), f)
                        .await
                        .map_err(|e| unavailable("event bus DescribeRule", e))?
                    {
                        live.insert(r.id.clone(), rule.fields(f));
                    }
                }
                Kind::ConsoleStep => {}
            }
        }
        Ok(live)
    }
}

impl StepRunner for Services {
    fn run<'a>(
        &'a self,
        kind: RunKind,
        step: &'a StepRecord,
        run: &'a Run,
    ) -> BoxFuture<'a, StepResult> {
        match kind {
            RunKind::Apply => self.apply(step, run).boxed(),
            RunKind::Destroy => self.destroy(step).boxed(),
        }
    }

    fn is_done<'a>(&'a self, step: &'a StepRecord) -> BoxFuture<'a, Result<bool, Error>> {
        self.waiting_done(step).boxed()
    }

    fn read_live<'a>(
        &'a self,
        resources: &'a [Resource],
    ) -> BoxFuture<'a, Result<LiveState, Error>> {
        self.live(resources).boxed()
    }

    fn missing_policies<'a>(
        &'a self,
        arns: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<String>, Error>> {
        async move {
            match self
                .identity
                .clone()
                .check_policies(pb::CheckPoliciesRequest {
                    policy_arns: arns.to_vec(),
                })
                .await
            {
                Ok(resp) => Ok(resp.into_inner().missing),
                Err(e) if e.code() == tonic::Code::InvalidArgument => Err(Error::InvalidArgument {
                    field: "identity".into(),
                    reason: e.message().to_owned(),
                }),
                Err(e) => Err(Error::Unavailable(format!(
                    "identity CheckPolicies: {}",
                    e.message()
                ))),
            }
        }
        .boxed()
    }
}
