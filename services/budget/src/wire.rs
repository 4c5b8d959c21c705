//! Protobuf messages to domain types and back. Requests are validated here, at the edge,
//! with errors naming the request field; domain code never sees `pb::*`.

use std::collections::BTreeSet;

use groundwork_proto::v1 as pb;

use crate::domain::{
    Amount, BudgetName, BudgetSpec, Comparison, Currency, Expr, InvalidField, Money,
    NotificationKey, NotificationSpec, NotificationType, Scope, Subscriber, Threshold,
    ThresholdType, TimeUnit, Values, Window,
};

/// Validates a declared budget; `field` is its path in the request (`budget`).
pub fn spec_from_pb(def: &pb::BudgetDefinition, field: &str) -> Result<BudgetSpec, InvalidField> {
    let name = BudgetName::parse(&def.budget_name, &format!("{field}.budget_name"))?;
    let limit = def.budget_limit.as_ref().ok_or_else(|| {
        InvalidField::new(
            format!("{field}.budget_limit"),
            "a limit is required, e.g. {amount: \"20\", unit: \"USD\"}",
        )
    })?;
    let amount = Amount::parse(&limit.amount, &format!("{field}.budget_limit.amount"))?;
    let currency = Currency::parse(&limit.unit, &format!("{field}.budget_limit.unit"))?;
    let time_unit = TimeUnit::parse(&def.time_unit, &format!("{field}.time_unit"))?;
    let kind = pb::BudgetKind::try_from(def.kind).unwrap_or(pb::BudgetKind::Unspecified);
    let filter = def
        .filter_expression
        .as_ref()
        .map(|e| expr_from_pb(e, &format!("{field}.filter_expression")))
        .transpose()?;
    let scope = match (kind, filter) {
        (pb::BudgetKind::Credits, None) => Scope::Credits,
        (pb::BudgetKind::Spend, None) => Scope::Spend,
        (pb::BudgetKind::Custom, filter) => Scope::from_expression(filter),
        (pb::BudgetKind::Credits | pb::BudgetKind::Spend, Some(_)) => {
            return Err(InvalidField::new(
                format!("{field}.filter_expression"),
                "only with kind CUSTOM; credits and spend budgets bring their own filter",
            ));
        }
        (pb::BudgetKind::Unspecified, _) => {
            return Err(InvalidField::new(
                format!("{field}.kind"),
                "choose CREDITS (only credits), SPEND (credits and refunds excluded) or CUSTOM (filter_expression)",
            ));
        }
    };
    let mut notifications = Vec::with_capacity(def.notifications_with_subscribers.len());
    for (i, n) in def.notifications_with_subscribers.iter().enumerate() {
        let at = format!("{field}.notifications_with_subscribers[{i}]");
        let note = n.notification.as_ref().ok_or_else(|| {
            InvalidField::new(format!("{at}.notification"), "a notification is required")
        })?;
        let threshold_type = ThresholdType::parse(
            &note.threshold_type,
            &format!("{at}.notification.threshold_type"),
        )?;
        let key = NotificationKey {
            notification_type: NotificationType::parse(
                &note.notification_type,
                &format!("{at}.notification.notification_type"),
            )?,
            comparison: Comparison::parse(
                &note.comparison_operator,
                &format!("{at}.notification.comparison_operator"),
            )?,
            threshold: Threshold::parse(
                note.threshold,
                threshold_type,
                &format!("{at}.notification.threshold"),
            )?,
            threshold_type,
        };
        let mut subscribers = BTreeSet::new();
        for (j, s) in n.subscribers.iter().enumerate() {
            let sub = Subscriber::parse(
                &s.subscription_type,
                &s.address,
                &format!("{at}.subscribers[{j}]"),
            )?;
            if !subscribers.insert(sub) {
                return Err(InvalidField::new(
                    format!("{at}.subscribers[{j}]"),
                    format!("{} is listed twice", s.address),
                ));
            }
        }
        notifications.push(NotificationSpec {
            key,
            subscribers: Some(subscribers),
        });
    }
    let window = def
        .time_period
        .as_ref()
        .map(|p| -> Result<Window, InvalidField> {
            let at = |t: &prost_types::Timestamp, what: &str| {
                time::OffsetDateTime::from_unix_timestamp(t.seconds).map_err(|e| {
                    InvalidField::new(format!("{field}.time_period.{what}"), e.to_string())
                })
            };
            Ok(Window {
                start: p.start.as_ref().map(|t| at(t, "start")).transpose()?,
                end: p.end.as_ref().map(|t| at(t, "end")).transpose()?,
            })
        })
        .transpose()?;
    if let Some(Window {
        start: Some(s),
        end: Some(e),
    }) = window
        && e <= s
    {
        return Err(InvalidField::new(
            format!("{field}.time_period.end"),
            "must be after the start",
        ));
    }
    let spec = BudgetSpec {
        name,
        limit: Some(Money { amount, currency }),
        time_unit,
        scope,
        notifications,
        window,
    };
    spec.check_limits(field)?;
    Ok(spec.sorted())
}

fn expr_from_pb(e: &pb::Expression, field: &str) -> Result<Expr, InvalidField> {
    let mut parts: Vec<Expr> = Vec::new();
    let set = usize::from(!e.or.is_empty())
        + usize::from(!e.and.is_empty())
        + usize::from(e.not.is_some())
        + usize::from(e.dimensions.is_some())
        + usize::from(e.tags.is_some())
        + usize::from(e.cost_categories.is_some());
    if set != 1 {
        return Err(InvalidField::new(
            field,
            format!(
                "an expression has exactly one of or, and, not, dimensions, tags, cost_categories ({set} set)"
            ),
        ));
    }
    let values = |v: &pb::ExpressionValues, at: &str| -> Result<Values, InvalidField> {
        if v.key.is_empty() {
            return Err(InvalidField::new(
                format!("{field}.{at}.key"),
                "a key is required",
            ));
        }
        Ok(Values::new(
            v.key.clone(),
            v.values.clone(),
            v.match_options.clone(),
        ))
    };
    if !e.or.is_empty() {
        for (i, p) in e.or.iter().enumerate() {
            parts.push(expr_from_pb(p, &format!("{field}.or[{i}]"))?);
        }
        return Ok(Expr::Or(parts));
    }
    if !e.and.is_empty() {
        for (i, p) in e.and.iter().enumerate() {
            parts.push(expr_from_pb(p, &format!("{field}.and[{i}]"))?);
        }
        return Ok(Expr::And(parts));
    }
    if let Some(not) = &e.not {
        return Ok(Expr::Not(Box::new(expr_from_pb(
            not,
            &format!("{field}.not"),
        )?)));
    }
    if let Some(d) = &e.dimensions {
        return Ok(Expr::Dimensions(values(d, "dimensions")?));
    }
    if let Some(t) = &e.tags {
        return Ok(Expr::Tags(values(t, "tags")?));
    }
    match &e.cost_categories {
        Some(c) => Ok(Expr::CostCategories(values(c, "cost_categories")?)),
        None => Err(InvalidField::new(field, "an empty expression")),
    }
}

pub fn expr_to_pb(e: &Expr) -> pb::Expression {
    let values = |v: &Values| pb::ExpressionValues {
        key: v.key.clone(),
        values: v.values.clone(),
        match_options: v.match_options.clone(),
    };
    match e {
        Expr::Or(parts) => pb::Expression {
            or: parts.iter().map(expr_to_pb).collect(),
            ..Default::default()
        },
        Expr::And(parts) => pb::Expression {
            and: parts.iter().map(expr_to_pb).collect(),
            ..Default::default()
        },
        Expr::Not(inner) => pb::Expression {
            not: Some(Box::new(expr_to_pb(inner))),
            ..Default::default()
        },
        Expr::Dimensions(v) => pb::Expression {
            dimensions: Some(values(v)),
            ..Default::default()
        },
        Expr::Tags(v) => pb::Expression {
            tags: Some(values(v)),
            ..Default::default()
        },
        Expr::CostCategories(v) => pb::Expression {
            cost_categories: Some(values(v)),
            ..Default::default()
        },
    }
}

fn timestamp(t: time::OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: 0,
    }
}

pub fn money_to_pb(m: &Money) -> pb::Spend {
    pb::Spend {
        amount: m.amount.to_string(),
        unit: m.currency.to_string(),
    }
}

/// A budget in the wire form (the native request form).
pub fn spec_to_pb(spec: &BudgetSpec) -> pb::BudgetDefinition {
    let (kind, filter) = match &spec.scope {
        Scope::Credits => (pb::BudgetKind::Credits, None),
        Scope::Spend => (pb::BudgetKind::Spend, None),
        Scope::Custom(e) => (pb::BudgetKind::Custom, e.as_ref().map(expr_to_pb)),
    };
    pb::BudgetDefinition {
        budget_name: spec.name.to_string(),
        budget_limit: spec.limit.as_ref().map(money_to_pb),
        time_unit: spec.time_unit.as_str().to_owned(),
        kind: kind.into(),
        filter_expression: filter,
        notifications_with_subscribers: spec
            .notifications
            .iter()
            .map(|n| pb::NotificationWithSubscribers {
                notification: Some(pb::Notification {
                    notification_type: n.key.notification_type.as_str().to_owned(),
                    comparison_operator: n.key.comparison.as_str().to_owned(),
                    threshold: n.key.threshold.value(),
                    threshold_type: n.key.threshold_type.as_str().to_owned(),
                }),
                subscribers: n
                    .subscribers
                    .iter()
                    .flatten()
                    .map(|s| pb::Subscriber {
                        subscription_type: s.kind().to_owned(),
                        address: s.address().to_owned(),
                    })
                    .collect(),
            })
            .collect(),
        time_period: spec.window.map(|w| pb::TimePeriod {
            start: w.start.map(timestamp),
            end: w.end.map(timestamp),
        }),
    }
}

pub fn time_to_pb(t: time::OffsetDateTime) -> prost_types::Timestamp {
    timestamp(t)
}
