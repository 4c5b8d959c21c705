//! Numeric ranges for the `numeric` operator: at most one lower and one upper bound,
//! compared as float64 like EventBridge.

use serde_json::Value;

use super::error::PatternError;

/// One bound of a range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    pub(crate) value: f64,
    pub(crate) inclusive: bool,
}

/// A numeric range; `None` on a side means unbounded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NumericRange {
    pub(crate) lower: Option<Bound>,
    pub(crate) upper: Option<Bound>,
}

impl NumericRange {
    /// Whether `x` lies in the range.
    pub(crate) fn contains(&self, x: f64) -> bool {
        let above = match self.lower {
            None => true,
            Some(b) if b.inclusive => x >= b.value,
            Some(b) => x > b.value,
        };
        let below = match self.upper {
            None => true,
            Some(b) if b.inclusive => x <= b.value,
            Some(b) => x < b.value,
        };
        above && below
    }

    /// Parses the array operand of `{"numeric": [...]}` with AWS's reason texts.
    pub(crate) fn parse(items: &[Value]) -> Result<Self, PatternError> {
        let mut it = items.iter();
        let op = match it.next() {
            Some(Value::String(op)) => op.as_str(),
            Some(other) => {
                return Err(PatternError::new(format!(
                    "Invalid member in numeric match: {}",
                    token_text(other)
                )));
            }
            None => return Err(PatternError::new("Invalid member in numeric match: ]")),
        };
        let value_of = |op: &str, v: Option<&Value>| -> Result<f64, PatternError> {
            match v.and_then(Value::as_f64) {
                Some(x) if x.is_finite() => Ok(x),
                _ => Err(PatternError::new(format!("Value of {op} must be numeric"))),
            }
        };
        let too_many = || PatternError::new("Too many elements in numeric expression");
        match op {
            "=" => {
                let x = value_of("equals", it.next())?;
                if it.next().is_some() {
                    return Err(too_many());
                }
                let b = Bound {
                    value: x,
                    inclusive: true,
                };
                Ok(Self {
                    lower: Some(b),
                    upper: Some(b),
                })
            }
            "<" | "<=" => {
                let x = value_of(op, it.next())?;
                if it.next().is_some() {
                    return Err(too_many());
                }
                Ok(Self {
                    lower: None,
                    upper: Some(Bound {
                        value: x,
                        inclusive: op == "<=",
                    }),
                })
            }
            ">" | ">=" => {
                let low = Bound {
                    value: value_of(op, it.next())?,
                    inclusive: op == ">=",
                };
                let Some(next) = it.next() else {
                    return Ok(Self {
                        lower: Some(low),
                        upper: None,
                    });
                };
                let top_op = match next {
                    Value::String(s) => s.as_str(),
                    other => {
                        return Err(PatternError::new(format!(
                            "Bad value in numeric range: {}",
                            token_text(other)
                        )));
                    }
                };
                if top_op != "<" && top_op != "<=" {
                    return Err(PatternError::new(format!(
                        "Bad numeric range operator: {top_op}"
                    )));
                }
                let high = Bound {
                    value: value_of(top_op, it.next())?,
                    inclusive: top_op == "<=",
                };
                if it.next().is_some() {
                    return Err(PatternError::new(
                        "Too many terms in numeric range expression",
                    ));
                }
                if low.value >= high.value {
                    return Err(PatternError::new("Bottom must be less than top"));
                }
                Ok(Self {
                    lower: Some(low),
                    upper: Some(high),
                })
            }
            other => Err(PatternError::new(format!(
                "Unrecognized numeric range operator: {other}"
            ))),
        }
    }
}

/// How Jackson prints the offending token in its messages.
fn token_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(_) => "[".to_owned(),
        Value::Object(_) => "{".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<NumericRange, PatternError> {
        NumericRange::parse(v.as_array().unwrap())
    }

    #[test]
    fn closed_and_open_bounds() {
        let r = parse(json!([">", 0, "<=", 5])).unwrap();
        assert!(!r.contains(0.0));
        assert!(r.contains(5.0));
        assert!(!r.contains(5.000001));
        let eq = parse(json!(["=", 3.018e2])).unwrap();
        assert!(eq.contains(301.8));
    }

    #[test]
    fn aws_reasons() {
        let reason = |v| parse(v).unwrap_err().reason().to_owned();
        assert_eq!(
            reason(json!([">", 0, ">", 0])),
            "Bad numeric range operator: >"
        );
        assert_eq!(reason(json!([">", 0, "<"])), "Value of < must be numeric");
        assert_eq!(
            reason(json!(["<", 5, ">", 1])),
            "Too many elements in numeric expression"
        );
        assert_eq!(
            reason(json!(["!", 5])),
            "Unrecognized numeric range operator: !"
        );
        assert_eq!(
            reason(json!([">", 5, "<", 1])),
            "Bottom must be less than top"
        );
    }
}
