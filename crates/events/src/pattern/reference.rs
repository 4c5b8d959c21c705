//! The reference interpreter: the pattern semantics written as plainly as possible, used by
//! [`super::EventPattern::matches`] and as the oracle the compiled [`super::RuleSet`] is
//! tested against.
//!
//! A sub-pattern matches when every field is satisfied: either it allows absence
//! (`exists: false`) and the event has no leaf at its path, or some leaf at its path is
//! accepted by one of its matchers — and the leaves chosen for the different fields can all
//! come from the same element of every array they share ("array consistency").

use serde_json::Value;

use super::flatten::{Membership, RefLeaf, consistent, flatten_all};
use super::model::SubPattern;

/// Whether any sub-pattern matches the event.
pub(crate) fn matches(subs: &[SubPattern], event: &Value) -> bool {
    let leaves = flatten_all(event);
    subs.iter().any(|sub| sub_matches(sub, &leaves))
}

fn sub_matches(sub: &SubPattern, leaves: &[RefLeaf<'_>]) -> bool {
    if sub.fields.is_empty() {
        return false;
    }
    // For each field that constrains the choice, the leaves that satisfy it.
    let mut choices: Vec<Vec<&[Membership]>> = Vec::new();
    for field in &sub.fields {
        let at_path: Vec<&RefLeaf<'_>> = leaves.iter().filter(|l| l.path == field.path).collect();
        if at_path.is_empty() {
            if field.allows_absence() {
                continue;
            }
            return false;
        }
        let accepted: Vec<&[Membership]> = at_path
            .iter()
            .filter(|l| field.matchers.iter().any(|m| m.matches(l.value)))
            .map(|l| l.membership.as_slice())
            .collect();
        if accepted.is_empty() {
            return false;
        }
        choices.push(accepted);
    }
    let mut chosen = Vec::new();
    pick(&choices, &mut chosen)
}

/// Backtracking search for one leaf per field, pairwise consistent.
fn pick<'a>(choices: &[Vec<&'a [Membership]>], chosen: &mut Vec<&'a [Membership]>) -> bool {
    let Some((first, rest)) = choices.split_first() else {
        return true;
    };
    for &candidate in first {
        if chosen.iter().all(|c| consistent(c, candidate)) {
            chosen.push(candidate);
            if pick(rest, chosen) {
                return true;
            }
            chosen.pop();
        }
    }
    false
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::pattern::parse::{PatternLimits, parse};
    use serde_json::json;

    fn m(p: &str, e: Value) -> bool {
        matches(&parse(p, &PatternLimits::default()).unwrap(), &e)
    }

    #[test]
    fn array_consistency() {
        let e = json!({"x": [{"a": 1, "b": 2}, {"a": 3, "b": 4}]});
        assert!(m(r#"{"x":{"a":[1],"b":[2]}}"#, e.clone()));
        assert!(!m(r#"{"x":{"a":[1],"b":[4]}}"#, e.clone()));
        assert!(m(r#"{"x":{"a":[3],"b":[4]}}"#, e));
    }

    #[test]
    fn absence_and_nulls() {
        assert!(m(r#"{"a":[{"exists":false}]}"#, json!({"b": 1})));
        assert!(m(r#"{"a":[{"exists":false}]}"#, json!({"a": []})));
        assert!(!m(r#"{"a":[{"exists":true}]}"#, json!({"a": {"b": 1}})));
        assert!(m(r#"{"a":[null]}"#, json!({"a": null})));
        assert!(!m(r#"{"a":[null]}"#, json!({})));
        assert!(!m(r#"{"a":[{"anything-but":"x"}]}"#, json!({})));
        assert!(m(r#"{"a":[{"anything-but":"x"}]}"#, json!({"a": null})));
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(m(r#"{"n":[300]}"#, json!({"n": 300.0})));
        assert!(!m(r#"{"n":[300]}"#, json!({"n": "300"})));
        assert!(m(r#"{"n":[{"anything-but":[1,2]}]}"#, json!({"n": "1"})));
    }
}
