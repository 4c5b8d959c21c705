//! Runs every EventBridge pattern case AWS recorded (`conformance/eventbridge/patterns` in this repository)
//! through the single-pattern matcher and the compiled `RuleSet`.
//!
//! File name without suffix: must match; `_NEG`: must not match; `_EXC`: must be rejected
//! with the exact message in `test_events_patterns.snapshot.json`. The directory is the
//! repository's `conformance/eventbridge`, or `GROUNDWORK_CONFORMANCE_DIR`; a missing directory
//! fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// Shared with the EventBridge HTTP API's tests; included by path because the pattern
// engine cannot depend on the testkit, which depends on it.
#[path = "../../testkit/src/conformance.rs"]
mod conformance;

use conformance::Expect;
use groundwork_events::pattern::{EventPattern, RuleSet};
use serde_json::Value;

/// Checks one case both ways; returns a description of the failure, if any.
fn check(
    name: &str,
    pattern_text: &str,
    event: &Value,
    expect: Expect,
    exc: Option<&String>,
) -> Option<String> {
    let parsed = EventPattern::parse(pattern_text);
    match (expect, parsed) {
        (Expect::Reject, Err(e)) => {
            let want = exc?;
            (e.to_string() != *want)
                .then(|| format!("{name}: message\n   got  {e}\n   want {want}"))
        }
        (Expect::Reject, Ok(_)) => Some(format!("{name}: accepted, expected rejection")),
        (_, Err(e)) => Some(format!("{name}: rejected: {e}")),
        (_, Ok(pattern)) => {
            let want = expect == Expect::Match;
            let single = pattern.matches(event);
            let mut rules = RuleSet::new();
            rules.add_rule(
                "other",
                &EventPattern::parse(r#"{"no-such-field": ["x"]}"#).unwrap(),
            );
            rules.add_rule(name, &pattern);
            let want_names: Vec<String> = if want { vec![name.to_owned()] } else { vec![] };
            let from_value = rules.matches(event);
            let from_text = rules.matches_json(&event.to_string()).unwrap();
            let single_text = pattern.matches_json(&event.to_string()).unwrap();
            if single != want
                || single_text != want
                || from_value != want_names
                || from_text != want_names
            {
                Some(format!(
                    "{name}: expected match={want}; single={single} single_json={single_text} \
                     ruleset={from_value:?} ruleset_json={from_text:?}"
                ))
            } else {
                None
            }
        }
    }
}

#[test]
fn every_recorded_eventbridge_case_passes() {
    let cases = conformance::pattern_cases(&conformance::dir());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| {
            check(
                &c.name,
                &c.pattern,
                &c.event,
                c.expect,
                c.exception.as_ref(),
            )
        })
        .collect();
    println!(
        "{} of {} cases pass",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
