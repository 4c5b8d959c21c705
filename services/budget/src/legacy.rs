//! The legacy `CostFilters`/`CostTypes` form of a budget's filter, turned into the current
//! `FilterExpression` form. Used on import (files written for the AWS CLI often carry it)
//! and when reading a budget AWS still holds in that form, so both compare with what
//! Groundwork declares.

use std::collections::BTreeMap;

use crate::domain::{Expr, RECORD_TYPE, Values};

/// `CostTypes` as AWS has it; `None` means AWS's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CostTypes {
    pub include_tax: Option<bool>,
    pub include_subscription: Option<bool>,
    pub use_blended: Option<bool>,
    pub include_refund: Option<bool>,
    pub include_credit: Option<bool>,
    pub include_upfront: Option<bool>,
    pub include_recurring: Option<bool>,
    pub include_other_subscription: Option<bool>,
    pub include_support: Option<bool>,
    pub include_discount: Option<bool>,
    pub use_amortized: Option<bool>,
}

/// A legacy setting with no FilterExpression equivalent Groundwork knows of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// The JSON path below the budget, e.g. `CostTypes.IncludeTax`.
    pub path: String,
    pub reason: String,
}

/// The `CostFilters` key → `Dimension` of the FilterExpression.
fn dimension_of(key: &str) -> Option<&'static str> {
    Some(match key {
        "AZ" => "AZ",
        "InstanceType" => "INSTANCE_TYPE",
        "LinkedAccount" => "LINKED_ACCOUNT",
        "Operation" => "OPERATION",
        "PurchaseType" => "PURCHASE_TYPE",
        "Region" => "REGION",
        "Service" => "SERVICE",
        "UsageType" => "USAGE_TYPE",
        "UsageTypeGroup" => "USAGE_TYPE_GROUP",
        "RecordType" => RECORD_TYPE,
        "BillingEntity" => "BILLING_ENTITY",
        "LegalEntityName" => "LEGAL_ENTITY_NAME",
        "InvoicingEntity" => "INVOICING_ENTITY",
        "TenancyType" => "TENANCY",
        "Platform" => "PLATFORM",
        "DatabaseEngine" => "DATABASE_ENGINE",
        "CacheEngine" => "CACHE_ENGINE",
        "DeploymentOption" => "DEPLOYMENT_OPTION",
        "OperatingSystem" => "OPERATING_SYSTEM",
        _ => return None,
    })
}

/// Turns the legacy form into an expression; `Ok(None)` when it selects all costs.
/// `CostTypes` may only leave out credits and refunds (what the credits and spend
/// budgets do); other switches have no RECORD_TYPE equivalent Groundwork maps.
pub fn to_expression(
    cost_filters: &BTreeMap<String, Vec<String>>,
    cost_types: Option<&CostTypes>,
) -> Result<Option<Expr>, Unsupported> {
    let mut parts = Vec::new();
    let mut tags: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, values) in cost_filters {
        if key == "TagKeyValue" {
            for v in values {
                // `user:Key$value`: the tag key, then the value.
                let (k, val) = v.split_once('$').ok_or_else(|| Unsupported {
                    path: format!("CostFilters.TagKeyValue[{v}]"),
                    reason: format!("'{v}' is not of the form user:Key$value"),
                })?;
                tags.entry(k.to_owned()).or_default().push(val.to_owned());
            }
            continue;
        }
        let dimension = dimension_of(key).ok_or_else(|| Unsupported {
            path: format!("CostFilters.{key}"),
            reason: format!("'{key}' is not a cost filter AWS Budgets knows"),
        })?;
        parts.push(Expr::Dimensions(Values::new(
            dimension,
            values.clone(),
            vec![],
        )));
    }
    for (key, values) in tags {
        parts.push(Expr::Tags(Values::new(key, values, vec![])));
    }
    if let Some(t) = cost_types {
        let mut excluded = Vec::new();
        if t.include_credit == Some(false) {
            excluded.push("Credit".to_owned());
        }
        if t.include_refund == Some(false) {
            excluded.push("Refund".to_owned());
        }
        let others = [
            ("IncludeTax", t.include_tax),
            ("IncludeSubscription", t.include_subscription),
            ("IncludeUpfront", t.include_upfront),
            ("IncludeRecurring", t.include_recurring),
            ("IncludeOtherSubscription", t.include_other_subscription),
            ("IncludeSupport", t.include_support),
            ("IncludeDiscount", t.include_discount),
        ];
        if let Some((name, _)) = others.iter().find(|(_, v)| *v == Some(false)) {
            return Err(Unsupported {
                path: format!("CostTypes.{name}"),
                reason: "only IncludeCredit and IncludeRefund can be turned off here; \
                         write a FilterExpression for other record types"
                    .into(),
            });
        }
        for (name, v) in [
            ("UseBlended", t.use_blended),
            ("UseAmortized", t.use_amortized),
        ] {
            if v == Some(true) {
                return Err(Unsupported {
                    path: format!("CostTypes.{name}"),
                    reason: "blended and amortized costs are not supported; Groundwork budgets count unblended cost".into(),
                });
            }
        }
        if !excluded.is_empty() {
            parts.push(Expr::Not(Box::new(Expr::Dimensions(Values::new(
                RECORD_TYPE,
                excluded,
                vec![],
            )))));
        }
    }
    Ok(match parts.len() {
        0 => None,
        1 => parts.pop(),
        _ => Some(Expr::And(parts)),
    }
    .map(Expr::normalised))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::Scope;

    fn all_included() -> CostTypes {
        CostTypes {
            include_tax: Some(true),
            include_subscription: Some(true),
            use_blended: Some(false),
            include_refund: Some(true),
            include_credit: Some(true),
            include_upfront: Some(true),
            include_recurring: Some(true),
            include_other_subscription: Some(true),
            include_support: Some(true),
            include_discount: Some(true),
            use_amortized: Some(false),
        }
    }

    #[test]
    fn aws_default_cost_types_select_all_costs() {
        assert_eq!(
            to_expression(&BTreeMap::new(), Some(&all_included())).unwrap(),
            None
        );
    }

    #[test]
    fn credits_and_refunds_left_out_is_the_spend_budget() {
        let types = CostTypes {
            include_credit: Some(false),
            include_refund: Some(false),
            ..all_included()
        };
        let e = to_expression(&BTreeMap::new(), Some(&types)).unwrap();
        assert_eq!(Scope::from_expression(e), Scope::Spend);
    }

    #[test]
    fn a_record_type_filter_of_credit_is_the_credits_budget() {
        let filters = BTreeMap::from([("RecordType".to_owned(), vec!["Credit".to_owned()])]);
        let e = to_expression(&filters, Some(&all_included())).unwrap();
        assert_eq!(Scope::from_expression(e), Scope::Credits);
    }

    #[test]
    fn tag_filters_become_tag_expressions_and_unknown_keys_are_reported() {
        let filters = BTreeMap::from([(
            "TagKeyValue".to_owned(),
            vec!["user:Key$value1".to_owned(), "user:Key$value2".to_owned()],
        )]);
        let e = to_expression(&filters, None).unwrap().unwrap();
        assert_eq!(
            e,
            Expr::Tags(Values::new(
                "user:Key",
                vec!["value1".into(), "value2".into()],
                vec![]
            ))
        );
        let bad = BTreeMap::from([("Colour".to_owned(), vec!["x".to_owned()])]);
        assert_eq!(
            to_expression(&bad, None).unwrap_err().path,
            "CostFilters.Colour"
        );
        let tax = CostTypes {
            include_tax: Some(false),
            ..all_included()
        };
        assert_eq!(
            to_expression(&BTreeMap::new(), Some(&tax))
                .unwrap_err()
                .path,
            "CostTypes.IncludeTax"
        );
    }
}
