//! Import of the files used with `aws budgets create-budget --budget file://budget.json
//! --notifications-with-subscribers file://notifications-with-subscribers.json`: they
//! become the native request ([`pb::BudgetDefinition`]), then are validated like it. Every
//! unknown or malformed field is reported with its JSON path (`$.BudgetLimit.Amount`,
//! `$[0].Subscribers[1].Address`). The legacy `CostFilters`/`CostTypes` form is turned into
//! the current filter.

use std::collections::BTreeMap;

use groundwork_proto::v1 as pb;
use serde_json::{Map, Value};

use crate::domain::{BudgetSpec, Expr, InvalidField, Scope, Values};
use crate::legacy::{self, CostTypes};
use crate::wire;

const BUDGET_FILE: &str = "budget_json";
const NOTIFICATIONS_FILE: &str = "notifications_with_subscribers_json";

fn at(file: &str, path: &str) -> String {
    format!("{file} at {path}")
}

/// A JSON reader that knows where it is.
struct Reader<'a> {
    file: &'a str,
}

impl Reader<'_> {
    fn bad(&self, path: &str, reason: impl Into<String>) -> InvalidField {
        InvalidField::new(at(self.file, path), reason)
    }

    fn object<'v>(&self, v: &'v Value, path: &str) -> Result<&'v Map<String, Value>, InvalidField> {
        v.as_object()
            .ok_or_else(|| self.bad(path, format!("must be an object, not {}", kind_of(v))))
    }

    /// Refuses keys outside `known`.
    fn only(
        &self,
        map: &Map<String, Value>,
        known: &[&str],
        path: &str,
    ) -> Result<(), InvalidField> {
        match map.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(self.bad(
                &format!("{path}.{k}"),
                format!("unknown field; expected one of {}", known.join(", ")),
            )),
            None => Ok(()),
        }
    }

    fn string(
        &self,
        map: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<String>, InvalidField> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.bad(
                &format!("{path}.{key}"),
                format!("must be text, not {}", kind_of(other)),
            )),
        }
    }

    fn required(
        &self,
        map: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<String, InvalidField> {
        self.string(map, key, path)?
            .ok_or_else(|| self.bad(&format!("{path}.{key}"), "is required"))
    }

    fn strings(&self, v: &Value, path: &str) -> Result<Vec<String>, InvalidField> {
        let items = v
            .as_array()
            .ok_or_else(|| self.bad(path, format!("must be a list of text, not {}", kind_of(v))))?;
        items
            .iter()
            .enumerate()
            .map(|(i, s)| {
                s.as_str().map(str::to_owned).ok_or_else(|| {
                    self.bad(
                        &format!("{path}[{i}]"),
                        format!("must be text, not {}", kind_of(s)),
                    )
                })
            })
            .collect()
    }

    fn bool(
        &self,
        map: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<bool>, InvalidField> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.bad(
                &format!("{path}.{key}"),
                format!("must be true or false, not {}", kind_of(other)),
            )),
        }
    }

    /// A timestamp as the AWS CLI takes it: epoch seconds or ISO 8601 text.
    fn timestamp(&self, v: &Value, path: &str) -> Result<prost_types::Timestamp, InvalidField> {
        let seconds = match v {
            Value::Number(n) => n
                .as_f64()
                .filter(|f| f.is_finite())
                .map(|f| f as i64)
                .ok_or_else(|| self.bad(path, "is not a time"))?,
            Value::String(s) => {
                time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                    .map(|t| t.unix_timestamp())
                    .map_err(|e| {
                        self.bad(
                            path,
                            format!("'{s}' is not a time (epoch seconds or RFC 3339): {e}"),
                        )
                    })?
            }
            other => return Err(self.bad(path, format!("must be a time, not {}", kind_of(other)))),
        };
        Ok(prost_types::Timestamp { seconds, nanos: 0 })
    }

    fn expression(&self, v: &Value, path: &str) -> Result<Expr, InvalidField> {
        let map = self.object(v, path)?;
        self.only(
            map,
            &["Or", "And", "Not", "Dimensions", "Tags", "CostCategories"],
            path,
        )?;
        if map.len() != 1 {
            return Err(self.bad(
                path,
                "an expression has exactly one of Or, And, Not, Dimensions, Tags, CostCategories",
            ));
        }
        let (key, inner) = map
            .iter()
            .next()
            .ok_or_else(|| self.bad(path, "is empty"))?;
        let inner_path = format!("{path}.{key}");
        let list = |v: &Value| -> Result<Vec<Expr>, InvalidField> {
            let items = v.as_array().ok_or_else(|| {
                self.bad(
                    &inner_path,
                    format!("must be a list of expressions, not {}", kind_of(v)),
                )
            })?;
            items
                .iter()
                .enumerate()
                .map(|(i, e)| self.expression(e, &format!("{inner_path}[{i}]")))
                .collect()
        };
        let values = |v: &Value, dimension: bool| -> Result<Values, InvalidField> {
            let m = self.object(v, &inner_path)?;
            self.only(m, &["Key", "Values", "MatchOptions"], &inner_path)?;
            let key = if dimension {
                self.required(m, "Key", &inner_path)?
            } else {
                self.string(m, "Key", &inner_path)?.unwrap_or_default()
            };
            let values = match m.get("Values") {
                Some(v) => self.strings(v, &format!("{inner_path}.Values"))?,
                None => Vec::new(),
            };
            let options = match m.get("MatchOptions") {
                Some(v) => self.strings(v, &format!("{inner_path}.MatchOptions"))?,
                None => Vec::new(),
            };
            Ok(Values::new(key, values, options))
        };
        Ok(match key.as_str() {
            "Or" => Expr::Or(list(inner)?),
            "And" => Expr::And(list(inner)?),
            "Not" => Expr::Not(Box::new(self.expression(inner, &inner_path)?)),
            "Dimensions" => Expr::Dimensions(values(inner, true)?),
            "Tags" => Expr::Tags(values(inner, false)?),
            _ => Expr::CostCategories(values(inner, false)?),
        })
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn parse_json(text: &str, file: &str) -> Result<Value, InvalidField> {
    serde_json::from_str(text).map_err(|e| {
        InvalidField::new(
            at(file, "$"),
            format!(
                "is not JSON: {e} (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })
}

/// Fields of the AWS `Budget` shape that AWS computes; ignored when present (files saved
/// from `describe-budget` carry them).
const READ_ONLY: &[&str] = &["CalculatedSpend", "LastUpdatedTime", "HealthStatus"];

/// Turns the two files into the native request.
pub fn from_cli_json(
    budget_json: &str,
    notifications_json: &str,
) -> Result<pb::BudgetDefinition, InvalidField> {
    let r = Reader { file: BUDGET_FILE };
    let doc = parse_json(budget_json, BUDGET_FILE)?;
    let b = r.object(&doc, "$")?;
    let mut known = vec![
        "BudgetName",
        "BudgetLimit",
        "CostFilters",
        "CostTypes",
        "TimeUnit",
        "TimePeriod",
        "BudgetType",
        "FilterExpression",
        "Metrics",
    ];
    known.extend_from_slice(READ_ONLY);
    for unsupported in ["PlannedBudgetLimits", "AutoAdjustData", "BillingViewArn"] {
        if b.contains_key(unsupported) {
            return Err(r.bad(
                &format!("$.{unsupported}"),
                "is not supported: Groundwork budgets have one fixed limit (BudgetLimit)",
            ));
        }
    }
    r.only(b, &known, "$")?;
    let budget_name = r.required(b, "BudgetName", "$")?;
    let budget_type = r.string(b, "BudgetType", "$")?;
    if let Some(t) = budget_type.filter(|t| t != "COST") {
        return Err(r.bad(
            "$.BudgetType",
            format!("'{t}' is not supported; Groundwork manages COST budgets"),
        ));
    }
    let limit = match b.get("BudgetLimit") {
        None => {
            return Err(r.bad(
                "$.BudgetLimit",
                "is required, e.g. {\"Amount\": \"20\", \"Unit\": \"USD\"}",
            ));
        }
        Some(v) => {
            let m = r.object(v, "$.BudgetLimit")?;
            r.only(m, &["Amount", "Unit"], "$.BudgetLimit")?;
            pb::Spend {
                amount: r.required(m, "Amount", "$.BudgetLimit")?,
                unit: r.required(m, "Unit", "$.BudgetLimit")?,
            }
        }
    };
    let time_unit = r.required(b, "TimeUnit", "$")?;
    if let Some(metrics) = b.get("Metrics") {
        let metrics = r.strings(metrics, "$.Metrics")?;
        if metrics.iter().any(|m| m != "UnblendedCost") {
            return Err(r.bad("$.Metrics", "only UnblendedCost is supported"));
        }
    }
    let mut cost_filters = BTreeMap::new();
    if let Some(v) = b.get("CostFilters") {
        for (k, values) in r.object(v, "$.CostFilters")? {
            cost_filters.insert(k.clone(), r.strings(values, &format!("$.CostFilters.{k}"))?);
        }
    }
    let cost_types = match b.get("CostTypes") {
        None => None,
        Some(v) => {
            let m = r.object(v, "$.CostTypes")?;
            let names = [
                "IncludeTax",
                "IncludeSubscription",
                "UseBlended",
                "IncludeRefund",
                "IncludeCredit",
                "IncludeUpfront",
                "IncludeRecurring",
                "IncludeOtherSubscription",
                "IncludeSupport",
                "IncludeDiscount",
                "UseAmortized",
            ];
            r.only(m, &names, "$.CostTypes")?;
            let get = |k: &str| r.bool(m, k, "$.CostTypes");
            Some(CostTypes {
                include_tax: get("IncludeTax")?,
                include_subscription: get("IncludeSubscription")?,
                use_blended: get("UseBlended")?,
                include_refund: get("IncludeRefund")?,
                include_credit: get("IncludeCredit")?,
                include_upfront: get("IncludeUpfront")?,
                include_recurring: get("IncludeRecurring")?,
                include_other_subscription: get("IncludeOtherSubscription")?,
                include_support: get("IncludeSupport")?,
                include_discount: get("IncludeDiscount")?,
                use_amortized: get("UseAmortized")?,
            })
        }
    };
    let legacy = legacy::to_expression(&cost_filters, cost_types.as_ref())
        .map_err(|u| r.bad(&format!("$.{}", u.path), u.reason))?;
    let current = b
        .get("FilterExpression")
        .map(|v| r.expression(v, "$.FilterExpression"))
        .transpose()?;
    let expr = match (current, legacy) {
        (Some(a), Some(b)) => Some(Expr::And(vec![a, b])),
        (a, b) => a.or(b),
    };
    let (kind, filter_expression) = match Scope::from_expression(expr) {
        Scope::Credits => (pb::BudgetKind::Credits, None),
        Scope::Spend => (pb::BudgetKind::Spend, None),
        Scope::Custom(e) => (pb::BudgetKind::Custom, e.as_ref().map(wire::expr_to_pb)),
    };
    let time_period = match b.get("TimePeriod") {
        None => None,
        Some(v) => {
            let m = r.object(v, "$.TimePeriod")?;
            r.only(m, &["Start", "End"], "$.TimePeriod")?;
            Some(pb::TimePeriod {
                start: m
                    .get("Start")
                    .map(|t| r.timestamp(t, "$.TimePeriod.Start"))
                    .transpose()?,
                end: m
                    .get("End")
                    .map(|t| r.timestamp(t, "$.TimePeriod.End"))
                    .transpose()?,
            })
        }
    };
    Ok(pb::BudgetDefinition {
        budget_name,
        budget_limit: Some(limit),
        time_unit,
        kind: kind.into(),
        filter_expression,
        notifications_with_subscribers: notifications_from_cli_json(notifications_json)?,
        time_period,
    })
}

fn notifications_from_cli_json(
    text: &str,
) -> Result<Vec<pb::NotificationWithSubscribers>, InvalidField> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let r = Reader {
        file: NOTIFICATIONS_FILE,
    };
    let doc = parse_json(text, NOTIFICATIONS_FILE)?;
    let items = doc.as_array().ok_or_else(|| {
        r.bad(
            "$",
            format!(
                "must be a list of {{\"Notification\": …, \"Subscribers\": […]}}, not {}",
                kind_of(&doc)
            ),
        )
    })?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("$[{i}]");
        let m = r.object(item, &path)?;
        r.only(m, &["Notification", "Subscribers"], &path)?;
        let npath = format!("{path}.Notification");
        let n = r.object(
            m.get("Notification")
                .ok_or_else(|| r.bad(&npath, "is required"))?,
            &npath,
        )?;
        r.only(
            n,
            &[
                "NotificationType",
                "ComparisonOperator",
                "Threshold",
                "ThresholdType",
                "NotificationState",
            ],
            &npath,
        )?;
        let threshold = match n.get("Threshold") {
            Some(Value::Number(t)) => t.as_f64().unwrap_or(f64::NAN),
            Some(other) => {
                return Err(r.bad(
                    &format!("{npath}.Threshold"),
                    format!("must be a number, not {}", kind_of(other)),
                ));
            }
            None => return Err(r.bad(&format!("{npath}.Threshold"), "is required")),
        };
        let spath = format!("{path}.Subscribers");
        let subscribers = match m.get("Subscribers") {
            None => return Err(r.bad(&spath, "is required: at least one subscriber")),
            Some(v) => v
                .as_array()
                .ok_or_else(|| r.bad(&spath, format!("must be a list, not {}", kind_of(v))))?
                .iter()
                .enumerate()
                .map(|(j, s)| {
                    let p = format!("{spath}[{j}]");
                    let s = r.object(s, &p)?;
                    r.only(s, &["SubscriptionType", "Address"], &p)?;
                    Ok(pb::Subscriber {
                        subscription_type: r.required(s, "SubscriptionType", &p)?,
                        address: r.required(s, "Address", &p)?,
                    })
                })
                .collect::<Result<Vec<_>, InvalidField>>()?,
        };
        out.push(pb::NotificationWithSubscribers {
            notification: Some(pb::Notification {
                notification_type: r.required(n, "NotificationType", &npath)?,
                comparison_operator: r
                    .string(n, "ComparisonOperator", &npath)?
                    .unwrap_or_default(),
                threshold,
                threshold_type: r.string(n, "ThresholdType", &npath)?.unwrap_or_default(),
            }),
            subscribers,
        });
    }
    Ok(out)
}

/// `budget_limit` → `BudgetLimit`, keeping `[i]`.
fn pascal(segment: &str) -> String {
    let (name, index) = match segment.find('[') {
        Some(i) => segment.split_at(i),
        None => (segment, ""),
    };
    let mut out = String::new();
    for word in name.split('_') {
        let mut chars = word.chars();
        if let Some(c) = chars.next() {
            out.extend(c.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out + index
}

/// A field of the native request, as its place in the imported files.
fn json_path(field: &str) -> String {
    let rest = field.strip_prefix("budget").unwrap_or(field);
    let rest = rest.strip_prefix('.').unwrap_or(rest);
    if let Some(n) = rest.strip_prefix("notifications_with_subscribers") {
        let tail: Vec<String> = n.split('.').filter(|s| !s.is_empty()).map(pascal).collect();
        let mut path = String::from("$");
        for (i, t) in tail.iter().enumerate() {
            if i == 0 && t.starts_with('[') {
                path.push_str(t);
            } else {
                path.push('.');
                path.push_str(t);
            }
        }
        return at(NOTIFICATIONS_FILE, &path);
    }
    let tail: Vec<String> = rest
        .split('.')
        .filter(|s| !s.is_empty())
        .map(pascal)
        .collect();
    at(BUDGET_FILE, &format!("$.{}", tail.join(".")))
}

/// Validates an imported request as the native one, naming fields by their JSON path.
pub fn validate(def: &pb::BudgetDefinition) -> Result<BudgetSpec, InvalidField> {
    wire::spec_from_pb(def, "budget").map_err(|e| InvalidField::new(json_path(&e.field), e.reason))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn request_fields_map_to_json_paths() {
        assert_eq!(
            json_path("budget.budget_limit.amount"),
            "budget_json at $.BudgetLimit.Amount"
        );
        assert_eq!(json_path("budget.time_unit"), "budget_json at $.TimeUnit");
        assert_eq!(
            json_path("budget.notifications_with_subscribers[2].subscribers[0].address"),
            "notifications_with_subscribers_json at $[2].Subscribers[0].Address"
        );
        assert_eq!(
            json_path("budget.notifications_with_subscribers"),
            "notifications_with_subscribers_json at $"
        );
    }

    #[test]
    fn unknown_and_malformed_fields_are_named_by_path() {
        let budget = r#"{"BudgetName":"b","BudgetLimit":{"Amount":"20","Unit":"USD"},"TimeUnit":"MONTHLY","Colour":"red"}"#;
        let e = from_cli_json(budget, "").unwrap_err();
        assert_eq!(e.field, "budget_json at $.Colour");
        let budget =
            r#"{"BudgetName":"b","BudgetLimit":{"Amount":20,"Unit":"USD"},"TimeUnit":"MONTHLY"}"#;
        let e = from_cli_json(budget, "").unwrap_err();
        assert_eq!(e.field, "budget_json at $.BudgetLimit.Amount");
        let ok =
            r#"{"BudgetName":"b","BudgetLimit":{"Amount":"20","Unit":"USD"},"TimeUnit":"MONTHLY"}"#;
        let notes =
            r#"[{"Notification":{"NotificationType":"ACTUAL","Threshold":"80"},"Subscribers":[]}]"#;
        let e = from_cli_json(ok, notes).unwrap_err();
        assert_eq!(
            e.field,
            "notifications_with_subscribers_json at $[0].Notification.Threshold"
        );
        let notes = r#"[{"Notification":{"NotificationType":"ACTUAL","Threshold":80},"Subscribers":[{"SubscriptionType":"EMAIL","Adress":"x"}]}]"#;
        let e = from_cli_json(ok, notes).unwrap_err();
        assert_eq!(
            e.field,
            "notifications_with_subscribers_json at $[0].Subscribers[0].Adress"
        );
        let e = from_cli_json("{", "").unwrap_err();
        assert_eq!(e.field, "budget_json at $");
    }

    #[test]
    fn semantic_errors_are_named_by_path_too() {
        let budget =
            r#"{"BudgetName":"b","BudgetLimit":{"Amount":"-3","Unit":"USD"},"TimeUnit":"MONTHLY"}"#;
        let def = from_cli_json(budget, "").unwrap();
        assert_eq!(
            validate(&def).unwrap_err().field,
            "budget_json at $.BudgetLimit.Amount"
        );
    }
}
