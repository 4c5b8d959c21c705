//! Fuzz target: arbitrary bytes as an event pattern. The parser must never panic; a pattern it
//! accepts is matched against a fixed event by the reference matcher and by a `RuleSet`
//! (from the decoded event and from its text), which must all agree.
#![no_main]

use groundwork_events::pattern::{EventPattern, RuleSet};
use libfuzzer_sys::fuzz_target;

const EVENT: &str = r#"{"version":"0","id":"1","detail-type":"Test","source":"aws.ec2",
"account":"123456789012","time":"2024-01-01T00:00:00Z","region":"us-east-1",
"resources":["arn:aws:ec2:us-east-1:123456789012:instance/i-1"],
"detail":{"state":"running","count":5,"ip":"10.0.0.1","flag":true,"none":null,
"items":[{"a":1,"b":"x"},{"a":2,"b":"y"}],"a.b":"dotted"}}"#;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(pattern) = EventPattern::parse(text) else {
        return;
    };
    let event: serde_json::Value = match serde_json::from_str(EVENT) {
        Ok(v) => v,
        Err(_) => return,
    };
    let single = pattern.matches(&event);
    let mut rules = RuleSet::new();
    rules.add_rule("r", &pattern);
    assert_eq!(rules.matches(&event).len() == 1, single);
    assert_eq!(rules.matches_json(EVENT).map(|m| m.len() == 1), Ok(single));
});
