//! Runs every EventBridge pattern case AWS recorded (`conformance/eventbridge/patterns` in this repository)
//! through the single-pattern matcher and the compiled `RuleSet`.
//!
//! File name without suffix: must match; `_NEG`: must not match; `_EXC`: must be rejected
//! with the exact message in `test_events_patterns.snapshot.json`. The directory is the
//! repository's `conformance/eventbridge`, or `GROUNDWORK_CONFORMANCE_DIR`; a missing directory
//! fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::PathBuf;

use groundwork_events::pattern::{EventPattern, RuleSet};
use serde_json::Value;

fn conformance_dir() -> PathBuf {
    let dir = match std::env::var_os("GROUNDWORK_CONFORMANCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../conformance/eventbridge"),
    };
    assert!(
        dir.join("patterns").is_dir(),
        "EventBridge conformance data not found at {} (set GROUNDWORK_CONFORMANCE_DIR to the \
         directory holding patterns/ and test_events_patterns.snapshot.json)",
        dir.display()
    );
    dir
}

/// Case name → the `InvalidEventPatternException` message AWS returned.
fn recorded_exceptions(dir: &std::path::Path) -> HashMap<String, String> {
    let text = std::fs::read_to_string(dir.join("test_events_patterns.snapshot.json")).unwrap();
    let snapshot: Value = serde_json::from_str(&text).unwrap();
    let mut out = HashMap::new();
    for (test_id, entry) in snapshot.as_object().unwrap() {
        // Keys look like `…::test_event_pattern[<case file name without extension>]`, and the
        // recorded content is keyed by the case name again.
        let Some(case) = test_id
            .strip_prefix("tests/aws/services/events/test_events_patterns.py::TestEventPattern::test_event_pattern[")
            .and_then(|s| s.strip_suffix(']'))
        else {
            continue;
        };
        if let Some(msg) =
            entry["recorded-content"][case]["exception_message"]["Error"]["Message"].as_str()
        {
            out.insert(case.to_owned(), msg.to_owned());
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Match,
    NoMatch,
    Reject,
}

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
    let dir = conformance_dir();
    let exceptions = recorded_exceptions(&dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("patterns"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let file_count = files.len();
    let mut failures = Vec::new();
    let mut cases = 0;
    let mut covered_files = 0;
    for path in &files {
        let file = path.file_name().unwrap().to_str().unwrap();
        let Some(name) = file.strip_suffix(".json5") else {
            continue;
        };
        covered_files += 1;
        cases += 1;
        let text = std::fs::read_to_string(path).unwrap();
        let case: Value = json5::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let pattern_text = serde_json::to_string(&case["EventPattern"]).unwrap();
        let expect = if name.ends_with("_EXC") {
            Expect::Reject
        } else if name.ends_with("_NEG") {
            Expect::NoMatch
        } else {
            Expect::Match
        };
        let exc = exceptions.get(name);
        if expect == Expect::Reject && exc.is_none() {
            failures.push(format!(
                "{name}: no recorded exception message in the snapshot"
            ));
            continue;
        }
        if let Some(f) = check(name, &pattern_text, &case["Event"], expect, exc) {
            failures.push(f);
        }
    }

    // The duplicate-key case is kept as raw JSON (a JSON5 reader would drop the first key);
    // AWS matched it (LocalStack's test_event_pattern_with_multi_key).
    let event_path = dir.join("patterns/complex_multi_key_event.json");
    let pattern_path = dir.join("patterns/complex_multi_key_event_pattern.json");
    let event: Value =
        serde_json::from_str(&std::fs::read_to_string(&event_path).unwrap()).unwrap();
    let pattern_text = std::fs::read_to_string(&pattern_path).unwrap();
    cases += 1;
    covered_files += 2;
    if let Some(f) = check(
        "complex_multi_key",
        &pattern_text,
        &event,
        Expect::Match,
        None,
    ) {
        failures.push(f);
    }

    println!(
        "{} of {cases} cases pass ({covered_files} of {file_count} files)",
        cases - failures.len()
    );
    assert_eq!(covered_files, file_count, "files not covered by any case");
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
