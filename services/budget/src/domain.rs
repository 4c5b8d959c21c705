//! Budgets as Groundwork understands them: validated newtypes and the declared budget
//! ([`BudgetSpec`]). Everything here is pure; input is checked before any AWS call so that
//! bad input creates nothing. AWS's limits (10 email subscribers and 1 SNS topic per
//! notification, 10 notifications per budget) are enforced here with a clear error.

use std::collections::BTreeSet;
use std::fmt;

/// A field that failed validation, named as in the request (e.g.
/// `budget.notifications_with_subscribers[1].subscribers[0].address`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidField {
    pub field: String,
    pub reason: String,
}

impl InvalidField {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Email subscribers AWS allows per notification.
pub const MAX_EMAILS: usize = 10;
/// SNS topics AWS allows per notification.
pub const MAX_SNS_TOPICS: usize = 1;
/// Notifications AWS allows per budget.
pub const MAX_NOTIFICATIONS: usize = 10;
/// Largest percentage threshold accepted (AWS allows alerts above 100 %, e.g. 150 %
/// forecasted).
pub const MAX_PERCENTAGE: f64 = 1000.0;

/// Currencies the AWS billing console offers (AWS Budgets' limit unit).
pub const CURRENCIES: &[&str] = &[
    "AUD", "BRL", "CAD", "CHF", "CNY", "DKK", "EUR", "GBP", "HKD", "INR", "JPY", "KRW", "NOK",
    "NZD", "SEK", "USD", "ZAR",
];

/// A budget's name: 1 to 100 characters, none of them `:` or `\` (AWS's rule).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BudgetName(String);

impl BudgetName {
    pub fn parse(text: &str, field: &str) -> Result<Self, InvalidField> {
        let len = text.chars().count();
        if len == 0 {
            return Err(InvalidField::new(field, "a budget name is required"));
        }
        if len > 100 {
            return Err(InvalidField::new(
                field,
                format!("is {len} characters long; AWS allows at most 100"),
            ));
        }
        if let Some(c) = text
            .chars()
            .find(|c| matches!(c, ':' | '\\') || c.is_control())
        {
            return Err(InvalidField::new(
                field,
                format!("must not contain {c:?} (AWS refuses ':' and '\\' in budget names)"),
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// A name as AWS reports it, unchecked.
    pub fn from_aws(text: &str) -> Self {
        Self(text.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BudgetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A decimal amount of money, normalised (`20.50` and `20.5` are the same amount; AWS
/// reports `20` back as `20.0`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(String);

impl Amount {
    /// A positive amount as a person writes it.
    pub fn parse(text: &str, field: &str) -> Result<Self, InvalidField> {
        let amount = Self::normalise(text.trim()).ok_or_else(|| {
            InvalidField::new(
                field,
                format!("'{text}' is not a number; write a decimal amount such as 20 or 20.50"),
            )
        })?;
        if amount.value() <= 0.0 {
            return Err(InvalidField::new(
                field,
                format!("must be a positive amount, not {text}"),
            ));
        }
        if amount.value() > 1e12 {
            return Err(InvalidField::new(field, "is too large (at most 10^12)"));
        }
        Ok(amount)
    }

    /// An amount as AWS reports it; `None` when it is not a decimal number.
    pub fn from_aws(text: &str) -> Option<Self> {
        Self::normalise(text.trim())
    }

    fn normalise(text: &str) -> Option<Self> {
        let (int, frac) = match text.split_once('.') {
            Some((i, f)) => (i, f),
            None => (text, ""),
        };
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty()
            || !digits(int)
            || !digits(frac)
            || (text.contains('.') && frac.is_empty())
        {
            return None;
        }
        if frac.len() > 10 || int.len() > 15 {
            return None;
        }
        let int = int.trim_start_matches('0');
        let frac = frac.trim_end_matches('0');
        let int = if int.is_empty() { "0" } else { int };
        Some(Self(if frac.is_empty() {
            int.to_owned()
        } else {
            format!("{int}.{frac}")
        }))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn value(&self) -> f64 {
        self.0.parse().unwrap_or(0.0)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An ISO 4217 currency code from [`CURRENCIES`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency(String);

impl Currency {
    pub fn parse(text: &str, field: &str) -> Result<Self, InvalidField> {
        if text.is_empty() {
            return Err(InvalidField::new(field, "a currency is required, e.g. USD"));
        }
        if !CURRENCIES.contains(&text) {
            return Err(InvalidField::new(
                field,
                format!(
                    "'{text}' is not a currency AWS billing uses; use one of {}",
                    CURRENCIES.join(", ")
                ),
            ));
        }
        Ok(Self(text.to_owned()))
    }

    /// A unit as AWS reports it, unchecked.
    pub fn from_aws(text: &str) -> Self {
        Self(text.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An amount in a currency: a budget's limit, or spend.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money {
    pub amount: Amount,
    pub currency: Currency,
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency)
    }
}

/// How long a budget period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimeUnit {
    Monthly,
    Quarterly,
    Annually,
    /// Only as AWS reports budgets made elsewhere; Groundwork does not declare them.
    Daily,
    /// Only as AWS reports budgets made elsewhere.
    Custom,
}

impl TimeUnit {
    pub fn parse(text: &str, field: &str) -> Result<Self, InvalidField> {
        match text {
            "MONTHLY" => Ok(Self::Monthly),
            "QUARTERLY" => Ok(Self::Quarterly),
            "ANNUALLY" => Ok(Self::Annually),
            "" => Err(InvalidField::new(
                field,
                "a time unit is required: MONTHLY, QUARTERLY or ANNUALLY",
            )),
            other => Err(InvalidField::new(
                field,
                format!("'{other}' is not a time unit; use MONTHLY, QUARTERLY or ANNUALLY"),
            )),
        }
    }

    /// A unit as AWS reports it.
    pub fn from_aws(text: &str) -> Option<Self> {
        match text {
            "DAILY" => Some(Self::Daily),
            "CUSTOM" => Some(Self::Custom),
            other => Self::parse(other, "").ok(),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Monthly => "MONTHLY",
            Self::Quarterly => "QUARTERLY",
            Self::Annually => "ANNUALLY",
            Self::Daily => "DAILY",
            Self::Custom => "CUSTOM",
        }
    }

    /// The period that contains `now`, as a label used in watcher keys and events:
    /// `2025-06`, `2025-Q2`, `2025` (AWS's periods are calendar-aligned, in UTC).
    pub fn period_label(self, now: time::OffsetDateTime) -> String {
        let now = now.to_offset(time::UtcOffset::UTC);
        let month = u8::from(now.month());
        match self {
            Self::Monthly => format!("{}-{:02}", now.year(), month),
            Self::Quarterly => format!("{}-Q{}", now.year(), (month - 1) / 3 + 1),
            Self::Annually => format!("{}", now.year()),
            Self::Daily => format!("{}-{:02}-{:02}", now.year(), month, now.day()),
            Self::Custom => "custom".to_owned(),
        }
    }
}

impl fmt::Display for TimeUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// AWS Budgets' `Expression`, normalised so that equal filters compare equal.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Dimensions(Values),
    Tags(Values),
    CostCategories(Values),
}

/// Key, values and match options of one part of an [`Expr`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Values {
    pub key: String,
    pub values: Vec<String>,
    pub match_options: Vec<String>,
}

impl Values {
    /// Sorted values; `EQUALS` alone is AWS's default and dropped.
    pub fn new(key: impl Into<String>, values: Vec<String>, match_options: Vec<String>) -> Self {
        let mut values = values;
        values.sort();
        values.dedup();
        let mut match_options = match_options;
        match_options.sort();
        match_options.dedup();
        if match_options == ["EQUALS"] {
            match_options.clear();
        }
        Self {
            key: key.into(),
            values,
            match_options,
        }
    }
}

pub const RECORD_TYPE: &str = "RECORD_TYPE";

impl Expr {
    /// Only credits.
    pub fn credits() -> Self {
        Self::Dimensions(Values::new(RECORD_TYPE, vec!["Credit".into()], vec![]))
    }

    /// Everything but credits and refunds.
    pub fn spend() -> Self {
        Self::Not(Box::new(Self::Dimensions(Values::new(
            RECORD_TYPE,
            vec!["Credit".into(), "Refund".into()],
            vec![],
        ))))
    }

    /// Sorts the operands of `And`/`Or` and flattens one-element lists, so that
    /// equivalent expressions compare equal.
    pub fn normalised(self) -> Self {
        match self {
            Self::Or(parts) => Self::list(parts, Self::Or),
            Self::And(parts) => Self::list(parts, Self::And),
            Self::Not(inner) => Self::Not(Box::new(inner.normalised())),
            Self::Dimensions(v) => Self::Dimensions(Values::new(v.key, v.values, v.match_options)),
            Self::Tags(v) => Self::Tags(Values::new(v.key, v.values, v.match_options)),
            Self::CostCategories(v) => {
                Self::CostCategories(Values::new(v.key, v.values, v.match_options))
            }
        }
    }

    fn list(parts: Vec<Expr>, make: fn(Vec<Expr>) -> Expr) -> Self {
        let mut parts: Vec<Expr> = parts.into_iter().map(Expr::normalised).collect();
        parts.sort();
        parts.dedup();
        if parts.len() == 1 {
            parts.remove(0)
        } else {
            make(parts)
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let values = |f: &mut fmt::Formatter<'_>, what: &str, v: &Values| {
            write!(f, "{what} {} in [{}]", v.key, v.values.join(", "))?;
            if !v.match_options.is_empty() {
                write!(f, " ({})", v.match_options.join(", "))?;
            }
            Ok(())
        };
        let list = |f: &mut fmt::Formatter<'_>, op: &str, parts: &[Expr]| {
            f.write_str("(")?;
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    write!(f, " {op} ")?;
                }
                write!(f, "{p}")?;
            }
            f.write_str(")")
        };
        match self {
            Self::Or(parts) => list(f, "OR", parts),
            Self::And(parts) => list(f, "AND", parts),
            Self::Not(inner) => write!(f, "NOT {inner}"),
            Self::Dimensions(v) => values(f, "dimension", v),
            Self::Tags(v) => values(f, "tag", v),
            Self::CostCategories(v) => values(f, "cost category", v),
        }
    }
}

/// Which costs a budget counts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Only credits.
    Credits,
    /// Credits and refunds excluded.
    Spend,
    /// A filter of one's own; `None` counts all costs.
    Custom(Option<Expr>),
}

impl Scope {
    /// The filter expression AWS is given.
    pub fn expression(&self) -> Option<Expr> {
        match self {
            Self::Credits => Some(Expr::credits()),
            Self::Spend => Some(Expr::spend()),
            Self::Custom(e) => e.clone(),
        }
    }

    /// Recognises the credits and spend filters in any expression.
    pub fn from_expression(expr: Option<Expr>) -> Self {
        match expr.map(Expr::normalised) {
            Some(e) if e == Expr::credits() => Self::Credits,
            Some(e) if e == Expr::spend() => Self::Spend,
            other => Self::Custom(other),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Credits => "credits",
            Self::Spend => "spend",
            Self::Custom(_) => "custom",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Credits => f.write_str("credits only (RECORD_TYPE = Credit)"),
            Self::Spend => f.write_str("spend (credits and refunds excluded)"),
            Self::Custom(None) => f.write_str("all costs"),
            Self::Custom(Some(e)) => write!(f, "{e}"),
        }
    }
}

/// `ACTUAL` or `FORECASTED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NotificationType {
    Actual,
    Forecasted,
}

impl NotificationType {
    pub fn parse(text: &str, field: &str) -> Result<Self, InvalidField> {
        match text {
            "ACTUAL" => Ok(Self::Actual),
            "FORECASTED" => Ok(Self::Forecasted),
            other => Err(InvalidField::new(
                field,
                format!("'{other}' is not a notification type; use ACTUAL or FORECASTED"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Actual => "ACTUAL",
            Self::Forecasted => "FORECASTED",
        }
    }
}

/// The comparison of a notification. Groundwork declares only `GREATER_THAN`; the others
/// exist because AWS may hold them (made elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Comparison {
    GreaterThan,
    LessThan,
    EqualTo,
}

impl Comparison {
    pub fn parse(text: &str, field: &str) -> Result<Self, InvalidField> {
        match text {
            "" | "GREATER_THAN" => Ok(Self::GreaterThan),
            other => Err(InvalidField::new(
                field,
                format!("'{other}' is not supported; alerts fire on GREATER_THAN"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::GreaterThan => "GREATER_THAN",
            Self::LessThan => "LESS_THAN",
            Self::EqualTo => "EQUAL_TO",
        }
    }
}

/// `PERCENTAGE` of the limit or `ABSOLUTE_VALUE` in the budget's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ThresholdType {
    Percentage,
    AbsoluteValue,
}

impl ThresholdType {
    pub fn parse(text: &str, field: &str) -> Result<Self, InvalidField> {
        match text {
            "" | "PERCENTAGE" => Ok(Self::Percentage),
            "ABSOLUTE_VALUE" => Ok(Self::AbsoluteValue),
            other => Err(InvalidField::new(
                field,
                format!("'{other}' is not a threshold type; use PERCENTAGE or ABSOLUTE_VALUE"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Percentage => "PERCENTAGE",
            Self::AbsoluteValue => "ABSOLUTE_VALUE",
        }
    }
}

/// A threshold value, compared exactly (AWS stores a double).
#[derive(Debug, Clone, Copy)]
pub struct Threshold(f64);

impl Threshold {
    pub fn parse(value: f64, kind: ThresholdType, field: &str) -> Result<Self, InvalidField> {
        if !value.is_finite() || value <= 0.0 {
            return Err(InvalidField::new(
                field,
                format!("{value} is out of range; a threshold must be greater than 0"),
            ));
        }
        if kind == ThresholdType::Percentage && value > MAX_PERCENTAGE {
            return Err(InvalidField::new(
                field,
                format!(
                    "{value} % is out of range; a percentage threshold is at most {MAX_PERCENTAGE}"
                ),
            ));
        }
        Ok(Self(value))
    }

    pub fn from_aws(value: f64) -> Self {
        Self(value)
    }

    pub fn value(self) -> f64 {
        self.0
    }
}

impl PartialEq for Threshold {
    fn eq(&self, other: &Self) -> bool {
        self.0.total_cmp(&other.0).is_eq()
    }
}
impl Eq for Threshold {}
impl PartialOrd for Threshold {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Threshold {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}
impl std::hash::Hash for Threshold {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}
impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What identifies a notification in AWS (it has no id of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NotificationKey {
    pub notification_type: NotificationType,
    pub comparison: Comparison,
    pub threshold_type: ThresholdType,
    pub threshold: Threshold,
}

impl fmt::Display for NotificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}{}",
            self.notification_type.as_str(),
            self.comparison.as_str(),
            self.threshold,
            match self.threshold_type {
                ThresholdType::Percentage => " %",
                ThresholdType::AbsoluteValue => "",
            }
        )
    }
}

/// An email address: one `@`, a local part, a domain with a dot, no spaces.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(text: &str, field: &str) -> Result<Self, InvalidField> {
        let bad = |why: &str| {
            InvalidField::new(field, format!("'{text}' is not an email address: {why}"))
        };
        if text.len() > 254 {
            return Err(bad("longer than 254 characters"));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("it contains spaces"));
        }
        let Some((local, domain)) = text.split_once('@') else {
            return Err(bad("it has no @"));
        };
        if local.is_empty() || domain.contains('@') {
            return Err(bad("it needs exactly one @ after a name"));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 || labels.iter().any(|l| l.is_empty() || l.starts_with('-')) {
            return Err(bad("the domain must look like example.com"));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The ARN of an SNS topic: `arn:<partition>:sns:<region>:<account>:<name>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicArn(String);

impl TopicArn {
    pub fn parse(text: &str, field: &str) -> Result<Self, InvalidField> {
        let parts: Vec<&str> = text.split(':').collect();
        let ok = parts.len() == 6
            && parts[0] == "arn"
            && !parts[1].is_empty()
            && parts[2] == "sns"
            && !parts[3].is_empty()
            && parts[4].len() == 12
            && parts[4].bytes().all(|b| b.is_ascii_digit())
            && !parts[5].is_empty();
        if !ok {
            return Err(InvalidField::new(
                field,
                format!(
                    "'{text}' is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>)"
                ),
            ));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The topic's region (SNS is called there).
    pub fn region(&self) -> &str {
        self.0.split(':').nth(3).unwrap_or_default()
    }
}

/// Who a notification goes to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subscriber {
    Email(EmailAddress),
    Sns(TopicArn),
    /// A subscriber AWS holds that Groundwork cannot declare (kept to be removed).
    Other {
        kind: String,
        address: String,
    },
}

impl Subscriber {
    pub fn parse(kind: &str, address: &str, field: &str) -> Result<Self, InvalidField> {
        match kind {
            "EMAIL" => Ok(Self::Email(EmailAddress::parse(
                address,
                &format!("{field}.address"),
            )?)),
            "SNS" => Ok(Self::Sns(TopicArn::parse(
                address,
                &format!("{field}.address"),
            )?)),
            other => Err(InvalidField::new(
                format!("{field}.subscription_type"),
                format!("'{other}' is not a subscription type; use EMAIL or SNS"),
            )),
        }
    }

    /// A subscriber as AWS reports it, unchecked.
    pub fn from_aws(kind: &str, address: &str) -> Self {
        match kind {
            "EMAIL" => Self::Email(EmailAddress(address.to_owned())),
            "SNS" => Self::Sns(TopicArn(address.to_owned())),
            other => Self::Other {
                kind: other.to_owned(),
                address: address.to_owned(),
            },
        }
    }

    pub fn kind(&self) -> &str {
        match self {
            Self::Email(_) => "EMAIL",
            Self::Sns(_) => "SNS",
            Self::Other { kind, .. } => kind,
        }
    }

    pub fn address(&self) -> &str {
        match self {
            Self::Email(e) => e.as_str(),
            Self::Sns(t) => t.as_str(),
            Self::Other { address, .. } => address,
        }
    }
}

impl fmt::Display for Subscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind(), self.address())
    }
}

/// A notification and its subscribers. `subscribers` is `None` when AWS's subscribers
/// could not be read (see `Settings::read_subscribers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationSpec {
    pub key: NotificationKey,
    pub subscribers: Option<BTreeSet<Subscriber>>,
}

/// The window a budget covers; AWS's default when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: Option<time::OffsetDateTime>,
    pub end: Option<time::OffsetDateTime>,
}

/// A budget as declared, or as read from AWS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetSpec {
    pub name: BudgetName,
    pub limit: Option<Money>,
    pub time_unit: TimeUnit,
    pub scope: Scope,
    /// Sorted by key.
    pub notifications: Vec<NotificationSpec>,
    pub window: Option<Window>,
}

impl BudgetSpec {
    /// Sorts notifications by key, so that order never counts as a difference.
    pub fn sorted(mut self) -> Self {
        self.notifications.sort_by_key(|n| n.key);
        self
    }

    /// The subscribers of every notification: how many emails and topics, checked against
    /// AWS's limits, and duplicate notifications refused.
    pub fn check_limits(&self, field: &str) -> Result<(), InvalidField> {
        if self.notifications.len() > MAX_NOTIFICATIONS {
            return Err(InvalidField::new(
                format!("{field}.notifications_with_subscribers"),
                format!(
                    "{} notifications; AWS allows at most {MAX_NOTIFICATIONS} per budget",
                    self.notifications.len()
                ),
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, n) in self.notifications.iter().enumerate() {
            let at = format!("{field}.notifications_with_subscribers[{i}]");
            if !seen.insert(n.key) {
                return Err(InvalidField::new(
                    format!("{at}.notification"),
                    format!("{} is declared twice", n.key),
                ));
            }
            let subscribers = n.subscribers.as_ref();
            let count = |kind: &str| {
                subscribers.map_or(0, |s| s.iter().filter(|s| s.kind() == kind).count())
            };
            let (emails, topics) = (count("EMAIL"), count("SNS"));
            if emails + topics == 0 {
                return Err(InvalidField::new(
                    format!("{at}.subscribers"),
                    "a notification needs at least one subscriber (an email address or an SNS topic)",
                ));
            }
            if emails > MAX_EMAILS {
                return Err(InvalidField::new(
                    format!("{at}.subscribers"),
                    format!(
                        "{emails} email addresses; AWS allows at most {MAX_EMAILS} per notification"
                    ),
                ));
            }
            if topics > MAX_SNS_TOPICS {
                return Err(InvalidField::new(
                    format!("{at}.subscribers"),
                    format!(
                        "{topics} SNS topics; AWS allows at most {MAX_SNS_TOPICS} per notification"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Every SNS topic the notifications go to.
    pub fn topics(&self) -> BTreeSet<TopicArn> {
        self.notifications
            .iter()
            .flat_map(|n| n.subscribers.iter().flatten())
            .filter_map(|s| match s {
                Subscriber::Sns(t) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_positive_decimals_compared_by_value() {
        assert_eq!(
            Amount::parse("20", "f").unwrap(),
            Amount::from_aws("20.0").unwrap()
        );
        assert_eq!(Amount::parse("020.50", "f").unwrap().as_str(), "20.5");
        for bad in ["", "abc", "-5", "0", "0.00", "1e3", "20.", ".5", "1,5"] {
            let err = Amount::parse(bad, "budget.budget_limit.amount").unwrap_err();
            assert_eq!(err.field, "budget.budget_limit.amount", "{bad}");
        }
    }

    #[test]
    fn names_currencies_and_time_units_follow_aws() {
        assert!(BudgetName::parse("credits", "f").is_ok());
        assert!(BudgetName::parse("a:b", "f").is_err());
        assert!(BudgetName::parse(&"x".repeat(101), "f").is_err());
        assert!(Currency::parse("USD", "f").is_ok());
        assert!(
            Currency::parse("XYZ", "f")
                .unwrap_err()
                .reason
                .contains("USD")
        );
        assert_eq!(
            TimeUnit::parse("QUARTERLY", "f").unwrap(),
            TimeUnit::Quarterly
        );
        assert!(TimeUnit::parse("DAILY", "f").is_err());
        assert!(TimeUnit::parse("monthly", "f").is_err());
    }

    #[test]
    fn thresholds_are_in_range() {
        assert!(Threshold::parse(100.0, ThresholdType::Percentage, "f").is_ok());
        assert!(Threshold::parse(150.0, ThresholdType::Percentage, "f").is_ok());
        assert!(Threshold::parse(0.0, ThresholdType::Percentage, "f").is_err());
        assert!(Threshold::parse(-1.0, ThresholdType::AbsoluteValue, "f").is_err());
        assert!(Threshold::parse(1001.0, ThresholdType::Percentage, "f").is_err());
        assert!(Threshold::parse(5000.0, ThresholdType::AbsoluteValue, "f").is_ok());
        assert!(Threshold::parse(f64::NAN, ThresholdType::AbsoluteValue, "f").is_err());
    }

    #[test]
    fn emails_and_topic_arns_are_checked() {
        assert!(EmailAddress::parse("ops@example.com", "f").is_ok());
        for bad in [
            "ops",
            "ops@",
            "@example.com",
            "ops@example",
            "a b@example.com",
            "a@b@c.com",
        ] {
            assert!(EmailAddress::parse(bad, "f").is_err(), "{bad}");
        }
        let t = TopicArn::parse("arn:aws:sns:eu-west-1:123456789012:billing-alarm", "f").unwrap();
        assert_eq!(t.region(), "eu-west-1");
        assert!(TopicArn::parse("arn:aws:sqs:eu-west-1:123456789012:q", "f").is_err());
    }

    #[test]
    fn credits_and_spend_filters_are_recognised_in_any_order() {
        let spend = Expr::Not(Box::new(Expr::Dimensions(Values::new(
            RECORD_TYPE,
            vec!["Refund".into(), "Credit".into()],
            vec!["EQUALS".into()],
        ))));
        assert_eq!(Scope::from_expression(Some(spend)), Scope::Spend);
        assert_eq!(
            Scope::from_expression(Some(Expr::credits())),
            Scope::Credits
        );
        assert_eq!(Scope::from_expression(None), Scope::Custom(None));
        let and = Expr::And(vec![Expr::credits()]);
        assert_eq!(Scope::from_expression(Some(and)), Scope::Credits);
    }

    #[test]
    fn periods_are_calendar_aligned() {
        let t = time::macros::datetime!(2025-05-31 23:00 UTC);
        assert_eq!(TimeUnit::Monthly.period_label(t), "2025-05");
        assert_eq!(TimeUnit::Quarterly.period_label(t), "2025-Q2");
        assert_eq!(TimeUnit::Annually.period_label(t), "2025");
    }
}
