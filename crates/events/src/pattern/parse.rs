//! Parsing and validation of a pattern's JSON into sub-patterns, with EventBridge's reason
//! text for every rejection (the texts come from AWS's event-ruler, which EventBridge runs).

use serde_json::{Map, Value};

use super::cidr::IpRange;
use super::error::PatternError;
use super::model::{AnythingBut, Matcher, Scalar, SubPattern, fold_case};
use super::numeric::NumericRange;
use super::wildcard::Wildcard;

/// Limits applied when a pattern is parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternLimits {
    /// Longest accepted pattern, in characters (EventBridge: 2,048).
    pub max_pattern_len: usize,
    /// Most sub-patterns the `$or` branches may expand into (EventBridge: 1,000).
    pub max_or_combinations: usize,
    /// Deepest accepted nesting of objects in the pattern.
    pub max_depth: usize,
}

impl Default for PatternLimits {
    fn default() -> Self {
        Self {
            max_pattern_len: 2048,
            max_or_combinations: 1000,
            max_depth: 64,
        }
    }
}

const OR: &str = "$or";

/// Parses pattern text into its sub-patterns.
pub(crate) fn parse(text: &str, limits: &PatternLimits) -> Result<Vec<SubPattern>, PatternError> {
    let len = text.chars().count();
    if len > limits.max_pattern_len {
        return Err(PatternError::new(format!(
            "Event pattern is too long: {len} characters, the limit is {}",
            limits.max_pattern_len
        )));
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| PatternError::new(json_error_reason(&e)))?;
    parse_value(&value, limits)
}

/// Parses an already decoded pattern.
pub(crate) fn parse_value(
    value: &Value,
    limits: &PatternLimits,
) -> Result<Vec<SubPattern>, PatternError> {
    let Value::Object(map) = value else {
        return Err(PatternError::new("Filter is not an object"));
    };
    let mut parser = Parser {
        limits,
        path: Vec::new(),
    };
    let mut rules = Vec::new();
    parser.object(&mut rules, map)?;
    if rules.is_empty() {
        rules.push(SubPattern::default());
    }
    Ok(rules)
}

fn json_error_reason(e: &serde_json::Error) -> String {
    format!("Invalid JSON: {e}")
}

struct Parser<'l> {
    limits: &'l PatternLimits,
    path: Vec<String>,
}

impl Parser<'_> {
    fn object(
        &mut self,
        rules: &mut Vec<SubPattern>,
        map: &Map<String, Value>,
    ) -> Result<(), PatternError> {
        if map.is_empty() {
            return Err(PatternError::new("Empty objects are not allowed"));
        }
        if self.path.len() >= self.limits.max_depth {
            return Err(PatternError::new("Event pattern is nested too deeply"));
        }
        for (key, value) in map {
            if key == OR {
                self.or(rules, value)?;
                continue;
            }
            match value {
                Value::Object(inner) => {
                    self.path.push(key.clone());
                    let result = self.object(rules, inner);
                    self.path.pop();
                    result?;
                }
                Value::Array(items) => {
                    let matchers = match_values(items)?;
                    let mut name = self.path.join(".");
                    if !name.is_empty() {
                        name.push('.');
                    }
                    name.push_str(key);
                    if rules.is_empty() {
                        rules.push(SubPattern::default());
                    }
                    for rule in rules.iter_mut() {
                        rule.put(name.clone(), matchers.clone());
                    }
                }
                _ => {
                    return Err(PatternError::new(format!(
                        "\"{key}\" must be an object or an array"
                    )));
                }
            }
        }
        Ok(())
    }

    /// `$or`: every branch forks a copy of the sub-patterns built so far.
    fn or(&mut self, rules: &mut Vec<SubPattern>, value: &Value) -> Result<(), PatternError> {
        let Value::Array(branches) = value else {
            return Err(PatternError::new("It must be an Array followed with $or."));
        };
        let current = std::mem::take(rules);
        for branch in branches {
            let Value::Object(obj) = branch else {
                return Err(PatternError::new(
                    "Only JSON object is allowed in array of $or relationship.",
                ));
            };
            let mut forked = current.clone();
            if forked.is_empty() {
                forked.push(SubPattern::default());
            }
            self.object(&mut forked, obj)?;
            rules.extend(forked);
            if rules.len() > self.limits.max_or_combinations {
                return Err(PatternError::new(format!(
                    "Rule is too complex - the $or branches expand to more than {} combinations",
                    self.limits.max_or_combinations
                )));
            }
        }
        if branches.len() < 2 {
            return Err(PatternError::new(
                "There must have at least 2 Objects in $or relationship.",
            ));
        }
        Ok(())
    }
}

fn match_values(items: &[Value]) -> Result<Vec<Matcher>, PatternError> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Value::Object(obj) => out.push(match_expression(obj)?),
            Value::String(s) => match IpRange::single_if_ip(s) {
                // event-ruler compares exact values that are IP addresses as addresses.
                Some(range) => out.push(Matcher::Cidr(range)),
                None => out.push(Matcher::Exact(Scalar::Str(s.clone()))),
            },
            Value::Number(n) => match n.as_f64() {
                Some(x) if x.is_finite() => out.push(Matcher::Exact(Scalar::Num(x))),
                _ => return Err(PatternError::new(format!("Value out of range: {n}"))),
            },
            Value::Bool(b) => out.push(Matcher::Exact(Scalar::Bool(*b))),
            Value::Null => out.push(Matcher::Exact(Scalar::Null)),
            Value::Array(_) => {
                return Err(PatternError::new(
                    "Match value must be String, number, true, false, or null",
                ));
            }
        }
    }
    if out.is_empty() {
        return Err(PatternError::new("Empty arrays are not allowed"));
    }
    Ok(out)
}

fn only_one_key(obj: &Map<String, Value>) -> Result<(), PatternError> {
    if obj.len() > 1 {
        return Err(PatternError::new(
            "Only one key allowed in match expression",
        ));
    }
    Ok(())
}

fn too_many_elements(obj: &Map<String, Value>) -> Result<(), PatternError> {
    if obj.len() > 1 {
        return Err(PatternError::new("Too many elements in numeric expression"));
    }
    Ok(())
}

fn string_operand<'v>(value: &'v Value, reason: &str) -> Result<&'v str, PatternError> {
    match value {
        Value::String(s) => Ok(s),
        _ => Err(PatternError::new(reason)),
    }
}

fn match_expression(obj: &Map<String, Value>) -> Result<Matcher, PatternError> {
    let Some((name, value)) = obj.iter().next() else {
        return Err(PatternError::new("Match expression name not found"));
    };
    let matcher = match name.as_str() {
        "exact" => {
            let s = string_operand(value, "exact match pattern must be a string")?;
            only_one_key(obj)?;
            Matcher::Exact(Scalar::Str(s.to_owned()))
        }
        "prefix" | "suffix" => {
            let prefix = name == "prefix";
            let m = if let Value::Object(inner) = value {
                let s = ignore_case_operand(inner, if prefix { "Prefix" } else { "Suffix" }, name)?;
                let folded = fold_case(s).into_owned();
                if prefix {
                    Matcher::PrefixIgnoreCase(folded)
                } else {
                    Matcher::SuffixIgnoreCase(folded)
                }
            } else {
                let s = string_operand(value, &format!("{name} match pattern must be a string"))?;
                if prefix {
                    Matcher::Prefix(s.to_owned())
                } else {
                    Matcher::Suffix(s.to_owned())
                }
            };
            only_one_key(obj)?;
            m
        }
        "numeric" => {
            let Value::Array(items) = value else {
                return Err(PatternError::new("Value of numeric must be an array."));
            };
            let range = NumericRange::parse(items)?;
            too_many_elements(obj)?;
            Matcher::Numeric(range)
        }
        "anything-but" => {
            let m = anything_but(value)?;
            too_many_elements(obj)?;
            Matcher::AnythingBut(m)
        }
        "exists" => {
            let Value::Bool(b) = value else {
                return Err(PatternError::new(
                    "exists match pattern must be either true or false.",
                ));
            };
            only_one_key(obj)?;
            Matcher::Exists(*b)
        }
        "cidr" => {
            // AWS's own message names the wrong operator; callers see what AWS sends.
            let s = string_operand(value, "prefix match pattern must be a string")?;
            let range = IpRange::parse_cidr(s)?;
            only_one_key(obj)?;
            Matcher::Cidr(range)
        }
        "equals-ignore-case" => {
            let s = string_operand(value, "equals-ignore-case match pattern must be a string")?;
            only_one_key(obj)?;
            Matcher::EqualsIgnoreCase(fold_case(s).into_owned())
        }
        "wildcard" => {
            let s = string_operand(value, "wildcard match pattern must be a string")?;
            let w = Wildcard::parse(s)?;
            only_one_key(obj)?;
            Matcher::Wildcard(w)
        }
        other => {
            return Err(PatternError::new(format!(
                "Unrecognized match type {other}"
            )));
        }
    };
    Ok(matcher)
}

/// `{"prefix": {"equals-ignore-case": "…"}}` and the suffix form.
fn ignore_case_operand<'v>(
    inner: &'v Map<String, Value>,
    what: &str,
    op: &str,
) -> Result<&'v str, PatternError> {
    let Some((key, value)) = inner.iter().next() else {
        return Err(PatternError::new(format!(
            "{what} expression name not found"
        )));
    };
    if key != "equals-ignore-case" {
        return Err(PatternError::new(format!(
            "Unsupported {op} pattern: {key}"
        )));
    }
    let s = string_operand(value, "equals-ignore-case match pattern must be a string")?;
    only_one_key(inner)?;
    Ok(s)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetKind {
    IgnoreCase,
    Prefix,
    Suffix,
    Wildcard,
}

const ANYTHING_BUT_OPERAND: &str =
    "Value of anything-but must be an array or single string/number value.";

fn anything_but(value: &Value) -> Result<AnythingBut, PatternError> {
    match value {
        Value::Object(inner) => {
            let Some((op, operand)) = inner.iter().next() else {
                return Err(PatternError::new("Anything-But expression name not found"));
            };
            let kind = match op.as_str() {
                "equals-ignore-case" => SetKind::IgnoreCase,
                "prefix" => SetKind::Prefix,
                "suffix" => SetKind::Suffix,
                "wildcard" => SetKind::Wildcard,
                other => {
                    return Err(PatternError::new(format!(
                        "Unsupported anything-but pattern: {other}"
                    )));
                }
            };
            let strings = match operand {
                Value::Array(items) => items.iter().map(|v| set_member(v, kind)).collect::<Result<
                    Vec<_>,
                    _,
                >>(
                )?,
                Value::String(_) | Value::Number(_) => vec![set_member(operand, kind)?],
                _ => return Err(PatternError::new(ANYTHING_BUT_OPERAND)),
            };
            too_many_elements(inner)?;
            Ok(match kind {
                SetKind::IgnoreCase => AnythingBut::IgnoreCase(
                    strings.iter().map(|s| fold_case(s).into_owned()).collect(),
                ),
                SetKind::Prefix => AnythingBut::Prefix(strings),
                SetKind::Suffix => AnythingBut::Suffix(strings),
                SetKind::Wildcard => AnythingBut::Wildcard(
                    strings
                        .iter()
                        .map(|s| Wildcard::parse(s))
                        .collect::<Result<Vec<_>, _>>()?,
                ),
            })
        }
        Value::Array(items) => {
            let mut values = Vec::with_capacity(items.len());
            let (mut numbers, mut strings) = (false, false);
            for item in items {
                match item {
                    Value::String(s) => {
                        strings = true;
                        values.push(Scalar::Str(s.clone()));
                    }
                    Value::Number(n) => {
                        numbers = true;
                        values.push(Scalar::Num(number(n)?));
                    }
                    _ => {
                        return Err(PatternError::new(
                            "Inside anything but list, start|null|boolean is not supported.",
                        ));
                    }
                }
            }
            if numbers == strings {
                return Err(PatternError::new(
                    "Inside anything but list, either all values are number or string, mixed type is not supported",
                ));
            }
            Ok(AnythingBut::Values(values))
        }
        Value::String(s) => Ok(AnythingBut::Values(vec![Scalar::Str(s.clone())])),
        Value::Number(n) => Ok(AnythingBut::Values(vec![Scalar::Num(number(n)?)])),
        _ => Err(PatternError::new(ANYTHING_BUT_OPERAND)),
    }
}

fn number(n: &serde_json::Number) -> Result<f64, PatternError> {
    match n.as_f64() {
        Some(x) if x.is_finite() => Ok(x),
        _ => Err(PatternError::new(format!("Value out of range: {n}"))),
    }
}

fn set_member(value: &Value, kind: SetKind) -> Result<String, PatternError> {
    match value {
        Value::String(s) => {
            if s.is_empty() && matches!(kind, SetKind::Prefix | SetKind::Suffix) {
                return Err(PatternError::new("Null prefix/suffix not allowed"));
            }
            Ok(s.clone())
        }
        _ => Err(PatternError::new(match kind {
            SetKind::IgnoreCase => {
                "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported."
            }
            SetKind::Wildcard => "wildcard match pattern must be a string",
            SetKind::Prefix | SetKind::Suffix => "prefix/suffix match pattern must be a string",
        })),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn reason(p: &str) -> String {
        parse(p, &PatternLimits::default())
            .unwrap_err()
            .reason()
            .to_owned()
    }

    #[test]
    fn or_expands_into_sub_patterns() {
        let subs = parse(
            r#"{"source":["a"],"$or":[{"x":[1]},{"y":[2],"$or":[{"z":[3]},{"w":[4]}]}]}"#,
            &PatternLimits::default(),
        )
        .unwrap();
        let paths: Vec<Vec<&str>> = subs
            .iter()
            .map(|s| s.fields.iter().map(|f| f.path.as_str()).collect())
            .collect();
        assert_eq!(
            paths,
            vec![
                vec!["source", "x"],
                vec!["source", "y", "z"],
                vec!["source", "y", "w"]
            ]
        );
    }

    #[test]
    fn dotted_keys_are_nesting() {
        let subs = parse(r#"{"a":{"b.c":["x"]}}"#, &PatternLimits::default()).unwrap();
        assert_eq!(subs[0].fields[0].path, "a.b.c");
    }

    #[test]
    fn rejections() {
        assert_eq!(
            reason(r#"{"a": 1}"#),
            r#""a" must be an object or an array"#
        );
        assert_eq!(reason(r#"{"a": []}"#), "Empty arrays are not allowed");
        assert_eq!(reason(r#"{"a": {}}"#), "Empty objects are not allowed");
        assert_eq!(reason(r#"[1]"#), "Filter is not an object");
        assert_eq!(
            reason(r#"{"a": [{"EXISTS": true}]}"#),
            "Unrecognized match type EXISTS"
        );
        assert_eq!(
            reason(r#"{"a": [{"prefix": "x", "suffix": "y"}]}"#),
            "Only one key allowed in match expression"
        );
        assert_eq!(
            reason(r#"{"$or": [{"a": [1]}]}"#),
            "There must have at least 2 Objects in $or relationship."
        );
        assert_eq!(
            reason(r#"{"a": [{"anything-but": ["x", 1]}]}"#),
            "Inside anything but list, either all values are number or string, mixed type is not supported"
        );
        assert_eq!(
            reason(r#"{"a": [{"prefix": {"foo": "x"}}]}"#),
            "Unsupported prefix pattern: foo"
        );
    }

    #[test]
    fn length_limit_is_configurable() {
        let long = format!(r#"{{"a":["{}"]}}"#, "x".repeat(3000));
        assert!(reason(&long).contains("too long"));
        let limits = PatternLimits {
            max_pattern_len: 10_000,
            ..PatternLimits::default()
        };
        assert!(parse(&long, &limits).is_ok());
    }

    #[test]
    fn or_combination_limit() {
        // 4 nested $or of 6 branches each: 6^4 = 1296 > 1000.
        let branches = |inner: &str| {
            let b: Vec<String> = (0..6)
                .map(|i| format!(r#"{{"f{i}":[{i}]{inner}}}"#))
                .collect();
            format!(r#","$or":[{}]"#, b.join(","))
        };
        let mut s = String::new();
        for _ in 0..4 {
            s = branches(&s);
        }
        let p = format!(r#"{{"x":[1]{s}}}"#);
        let limits = PatternLimits {
            max_pattern_len: 1 << 20,
            ..PatternLimits::default()
        };
        assert!(parse(&p, &limits).unwrap_err().reason().contains("$or"));
    }
}
