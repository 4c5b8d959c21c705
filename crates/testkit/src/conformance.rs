//! The EventBridge event-pattern cases recorded against AWS (`conformance/eventbridge` in
//! this repository, or `GROUNDWORK_CONFORMANCE_DIR`), read once for every test that runs
//! them: the pattern engine's own (which includes this file by path, as it cannot depend on
//! the testkit) and the EventBridge HTTP API's.
//!
//! File name without suffix: the pattern must match; `_NEG`: must not match; `_EXC`: must be
//! rejected with the exact message recorded in `test_events_patterns.snapshot.json`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// What AWS answered for a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Match,
    NoMatch,
    Reject,
}

/// One recorded case.
#[derive(Debug, Clone)]
pub struct PatternCase {
    pub name: String,
    /// The pattern as JSON text.
    pub pattern: String,
    pub event: Value,
    /// The event as the recorded text (the duplicate-key case keeps both keys here).
    pub event_text: String,
    pub expect: Expect,
    /// The `InvalidEventPatternException` message AWS gave (`_EXC` cases).
    pub exception: Option<String>,
}

/// The directory of the recorded data; a missing one fails the test that asked.
pub fn dir() -> PathBuf {
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
fn recorded_exceptions(dir: &Path) -> HashMap<String, String> {
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

/// Every recorded case, in file-name order. A file that belongs to no case, or an `_EXC`
/// case without a recorded message, panics.
pub fn pattern_cases(dir: &Path) -> Vec<PatternCase> {
    let exceptions = recorded_exceptions(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("patterns"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for path in &files {
        let file = path.file_name().unwrap().to_str().unwrap();
        let Some(name) = file.strip_suffix(".json5") else {
            continue;
        };
        let text = std::fs::read_to_string(path).unwrap();
        let case: Value = json5::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let expect = if name.ends_with("_EXC") {
            Expect::Reject
        } else if name.ends_with("_NEG") {
            Expect::NoMatch
        } else {
            Expect::Match
        };
        let exception = exceptions.get(name).cloned();
        assert!(
            expect != Expect::Reject || exception.is_some(),
            "{name}: no recorded exception message in the snapshot"
        );
        cases.push(PatternCase {
            name: name.to_owned(),
            pattern: serde_json::to_string(&case["EventPattern"]).unwrap(),
            event_text: case["Event"].to_string(),
            event: case["Event"].clone(),
            expect,
            exception,
        });
    }
    // The duplicate-key case is kept as raw JSON (a JSON5 reader would drop the first key);
    // AWS matched it (LocalStack's test_event_pattern_with_multi_key).
    let event_path = dir.join("patterns/complex_multi_key_event.json");
    let pattern_path = dir.join("patterns/complex_multi_key_event_pattern.json");
    let event_text = std::fs::read_to_string(&event_path).unwrap();
    assert_eq!(
        cases.len() + 2,
        files.len(),
        "files in {} that belong to no case",
        dir.display()
    );
    cases.push(PatternCase {
        name: "complex_multi_key".into(),
        pattern: std::fs::read_to_string(&pattern_path).unwrap(),
        event: serde_json::from_str(&event_text).unwrap(),
        event_text,
        expect: Expect::Match,
        exception: None,
    });
    cases
}
