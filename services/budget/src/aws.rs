//! AWS Budgets (and STS) calls, and the conversion between the SDK's types and the
//! domain's. Budgets live in us-east-1 whatever the working region is; the account id
//! every call needs comes from STS GetCallerIdentity.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use aws_config::SdkConfig;
use aws_sdk_budgets::types as sdk;
use groundwork_cloud::{AwsError, CallerIdentity};

use crate::domain::{
    Amount, BudgetName, BudgetSpec, Comparison, Currency, Expr, Money, NotificationKey,
    NotificationSpec, NotificationType, Scope, Subscriber, Threshold, ThresholdType, TimeUnit,
    Values, Window,
};
use crate::error::Error;
use crate::legacy;

/// The SDK clients the service uses. Tests build them from moto's endpoint, or with
/// `aws-smithy-mocks` for the calls moto does not implement.
#[derive(Debug, Clone)]
pub struct AwsClients {
    pub budgets: aws_sdk_budgets::Client,
    pub sts: aws_sdk_sts::Client,
    /// The Free Tier API (the account's plan), in us-east-1.
    pub freetier: aws_sdk_freetier::Client,
    /// SNS clients are made per topic region from this configuration.
    pub sns_config: SdkConfig,
}

impl AwsClients {
    /// Clients from the one shared SDK configuration; Budgets pinned to us-east-1.
    pub fn from_config(config: &SdkConfig) -> Self {
        let billing = groundwork_cloud::config::billing(config);
        Self {
            budgets: aws_sdk_budgets::Client::new(&billing),
            sts: aws_sdk_sts::Client::new(config),
            freetier: aws_sdk_freetier::Client::new(&billing),
            sns_config: config.clone(),
        }
    }

    /// An SNS client for the region of a topic.
    pub fn sns(&self, region: &str) -> aws_sdk_sns::Client {
        let config = aws_sdk_sns::config::Builder::from(&self.sns_config)
            .region(aws_config::Region::new(region.to_owned()))
            .build();
        aws_sdk_sns::Client::from_conf(config)
    }
}

/// A budget as AWS holds it.
#[derive(Debug, Clone)]
pub struct AwsBudget {
    pub spec: BudgetSpec,
    /// `COST`, `USAGE`, …: Groundwork manages COST budgets only.
    pub budget_type: String,
    pub actual: Option<Money>,
    pub forecast: Option<Money>,
    pub last_updated: Option<time::OffsetDateTime>,
    /// The window AWS applies (always set by AWS).
    pub window: Option<Window>,
}

/// AWS Budgets for one account.
#[derive(Debug)]
pub struct BudgetsApi {
    clients: AwsClients,
    account: OnceLock<String>,
    read_subscribers: bool,
}

fn build_error(e: aws_smithy_types::error::operation::BuildError) -> Error {
    Error::internal(format!("cannot build an AWS Budgets request: {e}"))
}

fn to_time(t: &aws_smithy_types::DateTime) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp(t.secs()).ok()
}

impl BudgetsApi {
    pub fn new(clients: AwsClients, read_subscribers: bool) -> Self {
        Self {
            clients,
            account: OnceLock::new(),
            read_subscribers,
        }
    }

    pub fn clients(&self) -> &AwsClients {
        &self.clients
    }

    pub fn reads_subscribers(&self) -> bool {
        self.read_subscribers
    }

    /// Who the credentials belong to, asked now: credentials can change under a running
    /// service, and the root guard must see the current ones.
    pub async fn identity(&self) -> Result<CallerIdentity, Error> {
        let out = self
            .clients
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("GetCallerIdentity", e))?;
        let identity = CallerIdentity {
            account: out.account.unwrap_or_default(),
            arn: out.arn.unwrap_or_default(),
            user_id: out.user_id.unwrap_or_default(),
        };
        let _ = self.account.set(identity.account.clone());
        Ok(identity)
    }

    /// The account id (asked once, then remembered: it does not change for a service).
    pub async fn account(&self) -> Result<String, Error> {
        if let Some(account) = self.account.get() {
            return Ok(account.clone());
        }
        Ok(self.identity().await?.account)
    }

    /// The budget with its notifications (and their subscribers, when readable);
    /// `None` when it does not exist.
    pub async fn describe(&self, name: &BudgetName) -> Result<Option<AwsBudget>, Error> {
        let account = self.account().await?;
        let out = self
            .clients
            .budgets
            .describe_budget()
            .account_id(&account)
            .budget_name(name.as_str())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeBudget", e));
        let budget = match out {
            Ok(out) => match out.budget {
                Some(b) => b,
                None => return Ok(None),
            },
            Err(e) if e.kind == groundwork_cloud::AwsErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let notifications = self
            .notifications(&account, name, self.read_subscribers)
            .await?;
        Ok(Some(from_sdk(&budget, notifications)))
    }

    /// Every budget of the account, without notifications (spend and limits only).
    pub async fn list(&self) -> Result<Vec<AwsBudget>, Error> {
        let account = self.account().await?;
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .clients
                .budgets
                .describe_budgets()
                .account_id(&account)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("DescribeBudgets", e))?;
            for b in page.budgets() {
                out.push(from_sdk(b, Vec::new()));
            }
            match page.next_token {
                Some(t) if !t.is_empty() && Some(&t) != token.as_ref() => token = Some(t),
                _ => break,
            }
        }
        Ok(out)
    }

    /// The notifications of a budget, with their subscribers when asked for.
    pub async fn notifications(
        &self,
        account: &str,
        name: &BudgetName,
        with_subscribers: bool,
    ) -> Result<Vec<NotificationSpec>, Error> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .clients
                .budgets
                .describe_notifications_for_budget()
                .account_id(account)
                .budget_name(name.as_str())
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("DescribeNotificationsForBudget", e))?;
            keys.extend(page.notifications().iter().map(key_from_sdk));
            match page.next_token {
                Some(t) if !t.is_empty() && Some(&t) != token.as_ref() => token = Some(t),
                _ => break,
            }
        }
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let subscribers = if with_subscribers {
                Some(self.subscribers(account, name, &key).await?)
            } else {
                None
            };
            out.push(NotificationSpec { key, subscribers });
        }
        Ok(out)
    }

    async fn subscribers(
        &self,
        account: &str,
        name: &BudgetName,
        key: &NotificationKey,
    ) -> Result<BTreeSet<Subscriber>, Error> {
        let mut out = BTreeSet::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .clients
                .budgets
                .describe_subscribers_for_notification()
                .account_id(account)
                .budget_name(name.as_str())
                .notification(notification_to_sdk(key)?)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("DescribeSubscribersForNotification", e))?;
            for s in page.subscribers() {
                out.insert(Subscriber::from_aws(
                    s.subscription_type.as_str(),
                    &s.address,
                ));
            }
            match page.next_token {
                Some(t) if !t.is_empty() && Some(&t) != token.as_ref() => token = Some(t),
                _ => break,
            }
        }
        Ok(out)
    }

    /// Creates the budget with its notifications and subscribers in one call.
    /// `Ok(false)` when it exists already (another caller was first).
    pub async fn create(&self, spec: &BudgetSpec) -> Result<bool, Error> {
        let account = self.account().await?;
        let notifications = spec
            .notifications
            .iter()
            .map(|n| {
                sdk::NotificationWithSubscribers::builder()
                    .notification(notification_to_sdk(&n.key)?)
                    .set_subscribers(Some(
                        n.subscribers
                            .iter()
                            .flatten()
                            .map(subscriber_to_sdk)
                            .collect::<Result<Vec<_>, _>>()?,
                    ))
                    .build()
                    .map_err(build_error)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let result = self
            .clients
            .budgets
            .create_budget()
            .account_id(account)
            .budget(budget_to_sdk(spec)?)
            .set_notifications_with_subscribers(Some(notifications))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("CreateBudget", e));
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.kind == groundwork_cloud::AwsErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces the budget's limit, time unit, filter and window (its notifications stay).
    pub async fn update_budget(&self, spec: &BudgetSpec) -> Result<(), Error> {
        let account = self.account().await?;
        self.clients
            .budgets
            .update_budget()
            .account_id(account)
            .new_budget(budget_to_sdk(spec)?)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("UpdateBudget", e))?;
        Ok(())
    }

    pub async fn delete(&self, name: &BudgetName) -> Result<(), Error> {
        let account = self.account().await?;
        self.clients
            .budgets
            .delete_budget()
            .account_id(account)
            .budget_name(name.as_str())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DeleteBudget", e))?;
        Ok(())
    }

    pub async fn create_notification(
        &self,
        name: &BudgetName,
        key: &NotificationKey,
        subscribers: &BTreeSet<Subscriber>,
    ) -> Result<(), Error> {
        let account = self.account().await?;
        self.clients
            .budgets
            .create_notification()
            .account_id(account)
            .budget_name(name.as_str())
            .notification(notification_to_sdk(key)?)
            .set_subscribers(Some(
                subscribers
                    .iter()
                    .map(subscriber_to_sdk)
                    .collect::<Result<Vec<_>, _>>()?,
            ))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("CreateNotification", e))?;
        Ok(())
    }

    pub async fn delete_notification(
        &self,
        name: &BudgetName,
        key: &NotificationKey,
    ) -> Result<(), Error> {
        let account = self.account().await?;
        self.clients
            .budgets
            .delete_notification()
            .account_id(account)
            .budget_name(name.as_str())
            .notification(notification_to_sdk(key)?)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DeleteNotification", e))?;
        Ok(())
    }

    pub async fn update_notification(
        &self,
        name: &BudgetName,
        old: &NotificationKey,
        new: &NotificationKey,
    ) -> Result<(), Error> {
        let account = self.account().await?;
        self.clients
            .budgets
            .update_notification()
            .account_id(account)
            .budget_name(name.as_str())
            .old_notification(notification_to_sdk(old)?)
            .new_notification(notification_to_sdk(new)?)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("UpdateNotification", e))?;
        Ok(())
    }

    pub async fn create_subscriber(
        &self,
        name: &BudgetName,
        key: &NotificationKey,
        subscriber: &Subscriber,
    ) -> Result<(), Error> {
        let account = self.account().await?;
        let result = self
            .clients
            .budgets
            .create_subscriber()
            .account_id(account)
            .budget_name(name.as_str())
            .notification(notification_to_sdk(key)?)
            .subscriber(subscriber_to_sdk(subscriber)?)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("CreateSubscriber", e));
        match result {
            // Already subscribed: the step is done.
            Err(e) if e.kind == groundwork_cloud::AwsErrorKind::AlreadyExists => Ok(()),
            other => other.map(|_| ()).map_err(Error::from),
        }
    }

    pub async fn delete_subscriber(
        &self,
        name: &BudgetName,
        key: &NotificationKey,
        subscriber: &Subscriber,
    ) -> Result<(), Error> {
        let account = self.account().await?;
        self.clients
            .budgets
            .delete_subscriber()
            .account_id(account)
            .budget_name(name.as_str())
            .notification(notification_to_sdk(key)?)
            .subscriber(subscriber_to_sdk(subscriber)?)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DeleteSubscriber", e))?;
        Ok(())
    }
}

fn money_from_sdk(s: &sdk::Spend) -> Option<Money> {
    Some(Money {
        amount: Amount::from_aws(&s.amount)?,
        currency: Currency::from_aws(&s.unit),
    })
}

fn key_from_sdk(n: &sdk::Notification) -> NotificationKey {
    NotificationKey {
        notification_type: match n.notification_type {
            sdk::NotificationType::Forecasted => NotificationType::Forecasted,
            _ => NotificationType::Actual,
        },
        comparison: match n.comparison_operator {
            sdk::ComparisonOperator::LessThan => Comparison::LessThan,
            sdk::ComparisonOperator::EqualTo => Comparison::EqualTo,
            _ => Comparison::GreaterThan,
        },
        threshold_type: match n.threshold_type {
            Some(sdk::ThresholdType::AbsoluteValue) => ThresholdType::AbsoluteValue,
            _ => ThresholdType::Percentage,
        },
        threshold: Threshold::from_aws(n.threshold),
    }
}

fn values_from(key: String, values: Vec<String>, options: &[sdk::MatchOption]) -> Values {
    Values::new(
        key,
        values,
        options.iter().map(|o| o.as_str().to_owned()).collect(),
    )
}

fn expr_from_sdk(e: &sdk::Expression) -> Option<Expr> {
    if let Some(or) = &e.or {
        return Some(Expr::Or(or.iter().filter_map(expr_from_sdk).collect()));
    }
    if let Some(and) = &e.and {
        return Some(Expr::And(and.iter().filter_map(expr_from_sdk).collect()));
    }
    if let Some(not) = &e.not {
        return expr_from_sdk(not).map(|inner| Expr::Not(Box::new(inner)));
    }
    if let Some(d) = &e.dimensions {
        return Some(Expr::Dimensions(values_from(
            d.key.as_str().to_owned(),
            d.values.clone(),
            d.match_options(),
        )));
    }
    if let Some(t) = &e.tags {
        return Some(Expr::Tags(values_from(
            t.key.clone().unwrap_or_default(),
            t.values.clone().unwrap_or_default(),
            t.match_options(),
        )));
    }
    e.cost_categories.as_ref().map(|c| {
        Expr::CostCategories(values_from(
            c.key.clone().unwrap_or_default(),
            c.values.clone().unwrap_or_default(),
            c.match_options(),
        ))
    })
}

fn cost_types_from_sdk(t: &sdk::CostTypes) -> legacy::CostTypes {
    legacy::CostTypes {
        include_tax: t.include_tax,
        include_subscription: t.include_subscription,
        use_blended: t.use_blended,
        include_refund: t.include_refund,
        include_credit: t.include_credit,
        include_upfront: t.include_upfront,
        include_recurring: t.include_recurring,
        include_other_subscription: t.include_other_subscription,
        include_support: t.include_support,
        include_discount: t.include_discount,
        use_amortized: t.use_amortized,
    }
}

/// Reads an SDK budget into the domain, folding the legacy filter form into the
/// expression so that it compares with what Groundwork declares.
// CostFilters/CostTypes are deprecated by AWS, and read here on purpose: budgets made
// before FilterExpression still carry them.
#[allow(deprecated)]
pub fn from_sdk(b: &sdk::Budget, notifications: Vec<NotificationSpec>) -> AwsBudget {
    let filters: BTreeMap<String, Vec<String>> = b
        .cost_filters
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let cost_types = b.cost_types.as_ref().map(cost_types_from_sdk);
    let legacy = legacy::to_expression(&filters, cost_types.as_ref()).unwrap_or_else(|u| {
        // Something Groundwork cannot express: keep it visible so it shows as a
        // difference (and UpdateBudget replaces it).
        Some(Expr::Dimensions(Values::new(
            "LEGACY",
            vec![format!("{}: {}", u.path, u.reason)],
            vec![],
        )))
    });
    let current = b.filter_expression.as_ref().and_then(expr_from_sdk);
    let expr = match (current, legacy) {
        (Some(a), Some(b)) => Some(Expr::And(vec![a, b])),
        (a, b) => a.or(b),
    };
    let window = b.time_period.as_ref().map(|p| Window {
        start: p.start.as_ref().and_then(to_time),
        end: p.end.as_ref().and_then(to_time),
    });
    let spec = BudgetSpec {
        name: BudgetName::parse(&b.budget_name, "budget_name")
            .unwrap_or_else(|_| BudgetName::from_aws(&b.budget_name)),
        limit: b.budget_limit.as_ref().and_then(money_from_sdk),
        time_unit: TimeUnit::from_aws(b.time_unit.as_str()).unwrap_or(TimeUnit::Custom),
        scope: Scope::from_expression(expr),
        notifications,
        window,
    }
    .sorted();
    let spend = b.calculated_spend.as_ref();
    AwsBudget {
        spec,
        budget_type: b.budget_type.as_str().to_owned(),
        actual: spend
            .and_then(|s| s.actual_spend.as_ref())
            .and_then(money_from_sdk),
        forecast: spend
            .and_then(|s| s.forecasted_spend.as_ref())
            .and_then(money_from_sdk),
        last_updated: b.last_updated_time.as_ref().and_then(to_time),
        window,
    }
}

fn values_to_dimension(v: &Values) -> Result<sdk::ExpressionDimensionValues, Error> {
    sdk::ExpressionDimensionValues::builder()
        .key(sdk::Dimension::from(v.key.as_str()))
        .set_values(Some(v.values.clone()))
        .set_match_options(options(&v.match_options))
        .build()
        .map_err(build_error)
}

fn options(o: &[String]) -> Option<Vec<sdk::MatchOption>> {
    (!o.is_empty()).then(|| {
        o.iter()
            .map(|m| sdk::MatchOption::from(m.as_str()))
            .collect()
    })
}

pub fn expr_to_sdk(e: &Expr) -> Result<sdk::Expression, Error> {
    let b = sdk::Expression::builder();
    Ok(match e {
        Expr::Or(parts) => b
            .set_or(Some(
                parts.iter().map(expr_to_sdk).collect::<Result<_, _>>()?,
            ))
            .build(),
        Expr::And(parts) => b
            .set_and(Some(
                parts.iter().map(expr_to_sdk).collect::<Result<_, _>>()?,
            ))
            .build(),
        Expr::Not(inner) => b.not(expr_to_sdk(inner)?).build(),
        Expr::Dimensions(v) => b.dimensions(values_to_dimension(v)?).build(),
        Expr::Tags(v) => b
            .tags(
                sdk::TagValues::builder()
                    .key(&v.key)
                    .set_values(Some(v.values.clone()))
                    .set_match_options(options(&v.match_options))
                    .build(),
            )
            .build(),
        Expr::CostCategories(v) => b
            .cost_categories(
                sdk::CostCategoryValues::builder()
                    .key(&v.key)
                    .set_values(Some(v.values.clone()))
                    .set_match_options(options(&v.match_options))
                    .build(),
            )
            .build(),
    })
}

/// The SDK budget for CreateBudget/UpdateBudget: a COST budget with a FilterExpression.
pub fn budget_to_sdk(spec: &BudgetSpec) -> Result<sdk::Budget, Error> {
    let limit = spec
        .limit
        .as_ref()
        .ok_or_else(|| Error::internal("a budget without a limit cannot be written"))?;
    let mut b = sdk::Budget::builder()
        .budget_name(spec.name.as_str())
        .budget_limit(
            sdk::Spend::builder()
                .amount(limit.amount.as_str())
                .unit(limit.currency.as_str())
                .build()
                .map_err(build_error)?,
        )
        .time_unit(sdk::TimeUnit::from(spec.time_unit.as_str()))
        .budget_type(sdk::BudgetType::Cost)
        .set_filter_expression(
            spec.scope
                .expression()
                .as_ref()
                .map(expr_to_sdk)
                .transpose()?,
        );
    if let Some(w) = spec.window {
        b = b.time_period(
            sdk::TimePeriod::builder()
                .set_start(
                    w.start
                        .map(|t| aws_smithy_types::DateTime::from_secs(t.unix_timestamp())),
                )
                .set_end(
                    w.end
                        .map(|t| aws_smithy_types::DateTime::from_secs(t.unix_timestamp())),
                )
                .build(),
        );
    }
    b.build().map_err(build_error)
}

pub fn notification_to_sdk(key: &NotificationKey) -> Result<sdk::Notification, Error> {
    sdk::Notification::builder()
        .notification_type(sdk::NotificationType::from(key.notification_type.as_str()))
        .comparison_operator(sdk::ComparisonOperator::from(key.comparison.as_str()))
        .threshold(key.threshold.value())
        .threshold_type(sdk::ThresholdType::from(key.threshold_type.as_str()))
        .build()
        .map_err(build_error)
}

pub fn subscriber_to_sdk(s: &Subscriber) -> Result<sdk::Subscriber, Error> {
    sdk::Subscriber::builder()
        .subscription_type(sdk::SubscriptionType::from(s.kind()))
        .address(s.address())
        .build()
        .map_err(build_error)
}
