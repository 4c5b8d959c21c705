//! Reading a spec: TOML → [`Spec`] with the path of the first bad field, then the checks
//! that relate fields to each other, all reported at once. Offline: nothing here calls
//! AWS or a service (whether a policy exists is asked of identity at plan time).

use std::collections::BTreeSet;
use std::fmt;

use groundwork_events::pattern::EventPattern;

use super::types::{check_email, check_https_url};
use super::{AlertingSpec, DEFAULT_FORECAST_PERCENT, NotificationsSpec, Protocol, Spec};

/// AWS Budgets allows five notifications per budget.
const MAX_BUDGET_NOTIFICATIONS: usize = 5;
/// AWS Budgets allows ten email subscribers per notification.
const MAX_BUDGET_EMAILS: usize = 10;

/// One thing wrong with a spec: where (a TOML path like `budgets[0].limit_usd`, and the
/// line when known) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecProblem {
    pub path: String,
    pub line: Option<usize>,
    pub reason: String,
}

impl fmt::Display for SpecProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{} (line {line}): {}", self.path, self.reason),
            None => write!(f, "{}: {}", self.path, self.reason),
        }
    }
}

/// Why a spec was refused: every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpecError {
    pub problems: Vec<SpecProblem>,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the spec is not valid: ")?;
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl SpecError {
    fn one(path: impl Into<String>, line: Option<usize>, reason: impl Into<String>) -> Self {
        Self {
            problems: vec![SpecProblem {
                path: path.into(),
                line,
                reason: reason.into(),
            }],
        }
    }
}

/// Parses and checks a spec.
pub fn parse(text: &str) -> Result<Spec, SpecError> {
    let spec = deserialize(text)?;
    let problems = check(&spec);
    if problems.is_empty() {
        Ok(spec)
    } else {
        Err(SpecError { problems })
    }
}

fn deserialize(text: &str) -> Result<Spec, SpecError> {
    let de = toml::Deserializer::parse(text).map_err(|e| {
        SpecError::one(
            "(document)",
            line_of(text, e.span()),
            first_line(e.message()),
        )
    })?;
    serde_path_to_error::deserialize::<_, Spec>(de).map_err(|e| {
        let mut path = e.path().to_string();
        let inner = e.into_inner();
        let message = first_line(inner.message());
        // serde reports an unknown key at its table; name the key itself.
        if let Some(key) = unknown_field_name(&message)
            && !path.ends_with(key)
        {
            path = if path == "." {
                key.to_owned()
            } else {
                format!("{path}.{key}")
            };
        }
        SpecError::one(path, line_of(text, inner.span()), message)
    })
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or_default().trim().to_owned()
}

fn unknown_field_name(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

fn line_of(text: &str, span: Option<std::ops::Range<usize>>) -> Option<usize> {
    let start = span?.start;
    text.get(..start)
        .map(|before| before.bytes().filter(|b| *b == b'\n').count() + 1)
}

/// Checks that relate fields to each other; empty when the spec is consistent.
pub fn check(spec: &Spec) -> Vec<SpecProblem> {
    let mut out = Vec::new();
    let mut problem = |path: String, reason: String| {
        out.push(SpecProblem {
            path,
            line: None,
            reason,
        })
    };

    if !is_region(&spec.account.region) {
        problem(
            "account.region".into(),
            format!(
                "'{}' is not an AWS region (like us-east-1)",
                spec.account.region
            ),
        );
    }

    if let Some(identity) = &spec.identity {
        for (field, list) in [
            ("group_policies", &identity.group_policies),
            ("user_policies", &identity.user_policies),
        ] {
            let mut seen = BTreeSet::new();
            for (i, arn) in list.iter().enumerate() {
                if !seen.insert(arn) {
                    problem(
                        format!("identity.{field}[{i}]"),
                        format!("{arn} is listed twice"),
                    );
                }
            }
        }
        if identity.mfa_required && !identity.console_access {
            problem(
                "identity.mfa_required".into(),
                "MFA is for console sign-in: set console_access = true, or mfa_required = false"
                    .into(),
            );
        }
    }

    let topic = spec.alerting.as_ref().map(|a| a.topic.as_str());
    let mut budget_names = BTreeSet::new();
    for (i, b) in spec.budgets.iter().enumerate() {
        let at = |f: &str| format!("budgets[{i}].{f}");
        if !budget_names.insert(b.name.as_str()) {
            problem(at("name"), format!("another budget is named '{}'", b.name));
        }
        let thresholds: BTreeSet<_> = b.thresholds_percent.iter().collect();
        if thresholds.len() != b.thresholds_percent.len() {
            problem(
                at("thresholds_percent"),
                "a threshold is listed twice".into(),
            );
        }
        let kinds: BTreeSet<_> = b.notify_on.iter().collect();
        if kinds.len() != b.notify_on.len() {
            problem(at("notify_on"), "a kind is listed twice".into());
        }
        if !b.thresholds_percent.is_empty() && b.notify_on.is_empty() {
            problem(
                at("notify_on"),
                "thresholds need at least one of actual, forecasted".into(),
            );
        }
        if let Some(list) = &b.forecast_thresholds_percent
            && list.iter().collect::<BTreeSet<_>>().len() != list.len()
        {
            problem(
                at("forecast_thresholds_percent"),
                "a threshold is listed twice".into(),
            );
        }
        let notifications = b.notifications().len();
        if notifications > MAX_BUDGET_NOTIFICATIONS {
            let default_forecast = if b.forecast_thresholds_percent.is_none() {
                format!(
                    ", with the default forecast alert at {DEFAULT_FORECAST_PERCENT} % (forecast_thresholds_percent = [] drops it)"
                )
            } else {
                String::new()
            };
            problem(
                at("thresholds_percent"),
                format!(
                    "{notifications} notifications (thresholds × notify_on and forecast_thresholds_percent{default_forecast}); AWS Budgets allows {MAX_BUDGET_NOTIFICATIONS} per budget"
                ),
            );
        }
        if b.emails.len() > MAX_BUDGET_EMAILS {
            problem(
                at("emails"),
                format!("AWS Budgets allows {MAX_BUDGET_EMAILS} email subscribers per alert"),
            );
        }
        if !b.notifications().is_empty() && b.emails.is_empty() && b.sns_topic.is_none() {
            problem(
                at("emails"),
                "alerts need a subscriber: an email address or sns_topic".into(),
            );
        }
        if b.limit_usd == crate::BudgetLimit::RemainingCredits {
            if b.kind != crate::BudgetKind::Credits {
                problem(
                    at("limit_usd"),
                    "\"remaining-credits\" is the limit of a credits budget (kind = \"credits\")"
                        .into(),
                );
            }
            if spec.account.plan == Some(crate::PlanChoice::Paid) {
                problem(
                    at("limit_usd"),
                    "\"remaining-credits\" needs the Free plan, and account.plan = \"paid\": give an amount"
                        .into(),
                );
            }
        }
        if let Some(t) = &b.sns_topic
            && Some(t.as_str()) != topic
        {
            problem(
                at("sns_topic"),
                format!("'{t}' is not the alerting topic; set alerting.topic = \"{t}\""),
            );
        }
        super::budget_action::check(spec, i, b, &mut problem);
    }

    if let Some(alerting) = &spec.alerting {
        check_alerting(alerting, &mut problem);
    }
    check_notifications(&spec.notifications, &mut problem);
    check_kill_switch(spec, &mut problem);
    out
}

fn check_kill_switch(spec: &Spec, problem: &mut impl FnMut(String, String)) {
    let Some(ks) = &spec.guardrails.kill_switch else {
        return;
    };
    let at = |f: &str| format!("guardrails.kill_switch.{f}");
    if spec.identity.is_none() {
        problem(
            "guardrails.kill_switch".into(),
            "the kill switch acts on the admin group: declare [identity] (the identity service \
             runs the kill switch)"
                .into(),
        );
    }
    if spec.budgets.is_empty() {
        problem(
            at("budgets"),
            "the kill switch acts on budget crossings: declare at least one [[budgets]]".into(),
        );
    }
    let mut seen = BTreeSet::new();
    for (i, name) in ks.budgets.iter().enumerate() {
        if !seen.insert(name.as_str()) {
            problem(
                format!("guardrails.kill_switch.budgets[{i}]"),
                format!("'{name}' is listed twice"),
            );
        }
        if !spec.budgets.iter().any(|b| b.name == *name) {
            problem(
                format!("guardrails.kill_switch.budgets[{i}]"),
                format!("'{name}' is not a budget of this spec (a name from [[budgets]])"),
            );
        }
    }
    // The budget watcher announces only the thresholds a budget has: one at or above the
    // kill switch's, on the same kind of spend, must exist, or the kill switch never acts.
    let percent = ks.threshold_percent.get();
    let kind = match ks.notification_type {
        crate::NotifyOn::Actual => "actual",
        crate::NotifyOn::Forecasted => "forecasted",
    };
    for name in ks.budget_names(spec) {
        let Some((i, b)) = spec
            .budgets
            .iter()
            .enumerate()
            .find(|(_, b)| b.name.as_str() == name)
        else {
            continue;
        };
        let reaches = b.notify_on.contains(&ks.notification_type)
            && b.thresholds_percent.iter().any(|t| t.get() >= percent);
        if !reaches {
            problem(
                format!("budgets[{i}].thresholds_percent"),
                format!(
                    "the kill switch engages at {percent} % of {kind} spend, but budget '{name}' \
                     has no {kind} threshold at or above {percent} %, so its crossings never \
                     reach it: add {percent} to thresholds_percent (and \"{kind}\" to notify_on)"
                ),
            );
        }
    }
    if let Some(group) = &ks.group
        && let Some(identity) = &spec.identity
        && group != &identity.group
    {
        problem(
            at("group"),
            format!(
                "'{group}' is not the admin group '{}': the kill switch acts on the group the \
                 spec creates",
                identity.group
            ),
        );
    }
}

fn check_alerting(alerting: &AlertingSpec, problem: &mut impl FnMut(String, String)) {
    let mut seen = BTreeSet::new();
    for (i, s) in alerting.subscriptions.iter().enumerate() {
        let path = format!("alerting.subscriptions[{i}].endpoint");
        let valid = match s.protocol {
            Protocol::Email => check_email(&s.endpoint),
            Protocol::Https => check_https_url(&s.endpoint),
            Protocol::Sms => check_e164(&s.endpoint),
            Protocol::Sqs => check_sqs_arn(&s.endpoint),
        };
        if let Err(reason) = valid {
            problem(path.clone(), reason);
        }
        if !seen.insert((s.protocol.as_str(), s.endpoint.as_str())) {
            problem(path, format!("{} is subscribed twice", s.endpoint));
        }
    }
    let mut names = BTreeSet::new();
    for (i, a) in alerting.billing_alarms.iter().enumerate() {
        if !names.insert(a.name.as_str()) {
            problem(
                format!("alerting.billing_alarms[{i}].name"),
                format!("another alarm is named '{}'", a.name),
            );
        }
    }
}

fn check_notifications(n: &NotificationsSpec, problem: &mut impl FnMut(String, String)) {
    let mut webhooks = BTreeSet::new();
    for (i, w) in n.webhooks.iter().enumerate() {
        if w.name.is_empty() || !webhooks.insert(w.name.as_str()) {
            problem(
                format!("notifications.webhooks[{i}].name"),
                format!("webhook names must be non-empty and unique ('{}')", w.name),
            );
        }
    }
    let mut rules = BTreeSet::new();
    for (i, r) in n.rules.iter().enumerate() {
        let at = |f: &str| format!("notifications.rules[{i}].{f}");
        let name_ok = !r.name.is_empty()
            && r.name.len() <= 64
            && r.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c));
        if !name_ok {
            problem(
                at("name"),
                format!(
                    "'{}' is not a rule name (1 to 64 of letters, digits, . - _)",
                    r.name
                ),
            );
        }
        if !rules.insert((r.bus.as_str(), r.name.as_str())) {
            problem(at("name"), format!("another rule is named '{}'", r.name));
        }
        match serde_json::to_string(&r.event_pattern) {
            Ok(json) => {
                if let Err(e) = EventPattern::parse(&json) {
                    problem(at("event_pattern"), e.to_string());
                }
            }
            Err(e) => problem(at("event_pattern"), e.to_string()),
        }
        if r.targets.is_empty() {
            problem(at("targets"), "a rule needs at least one target".into());
        }
        for (j, t) in r.targets.iter().enumerate() {
            if !webhooks.contains(t.as_str()) {
                problem(
                    format!("notifications.rules[{i}].targets[{j}]"),
                    format!("'{t}' is not a webhook in notifications.webhooks"),
                );
            }
        }
    }
}

pub(crate) fn is_region(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn check_e164(text: &str) -> Result<(), String> {
    let digits = text.strip_prefix('+').unwrap_or_default();
    if (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!(
            "'{text}' is not an E.164 phone number (like +14155550100)"
        ))
    }
}

fn check_sqs_arn(text: &str) -> Result<(), String> {
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() == 6 && parts[0] == "arn" && parts[2] == "sqs" && !parts[5].is_empty() {
        Ok(())
    } else {
        Err(format!(
            "'{text}' is not an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:QUEUE)"
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../../examples/groundwork.toml");

    fn problems(text: &str) -> Vec<SpecProblem> {
        parse(text)
            .expect_err("the spec should be refused")
            .problems
    }

    #[test]
    fn the_example_spec_is_valid() {
        let spec = parse(EXAMPLE).unwrap();
        assert_eq!(spec.identity.as_ref().unwrap().admin_user.as_str(), "admin");
        assert_eq!(spec.budgets.len(), 2);
        assert_eq!(
            spec.alerting.as_ref().unwrap().topic.as_str(),
            "billing-alarm"
        );
    }

    #[test]
    fn an_unknown_field_is_named_with_its_path_and_line() {
        let text = "[identity]\nadmin_user = \"admin\"\nadmn_group = \"x\"\n";
        let p = problems(text);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].path, "identity.admn_group");
        assert!(p[0].reason.contains("unknown field"), "{}", p[0].reason);
        assert_eq!(p[0].line, Some(3));
    }

    #[test]
    fn an_unknown_top_level_table_is_named() {
        let p = problems("[acount]\nregion = \"us-east-1\"\n");
        assert_eq!(p[0].path, "acount");
    }

    #[test]
    fn a_bad_email_is_named_with_its_path() {
        let text = "[[budgets]]\nname = \"b\"\nkind = \"spend\"\nlimit_usd = 20\nthresholds_percent = [50]\nemails = [\"ops@example.com\", \"not-an-email\"]\n";
        let p = problems(text);
        assert_eq!(p[0].path, "budgets[0].emails[1]");
        assert!(p[0].reason.contains("not an email address"));
    }

    #[test]
    fn a_bad_subscription_email_is_found_by_the_cross_checks() {
        let text = "[alerting]\ntopic = \"billing-alarm\"\n[[alerting.subscriptions]]\nprotocol = \"email\"\nendpoint = \"nobody\"\n";
        let p = problems(text);
        assert_eq!(p[0].path, "alerting.subscriptions[0].endpoint");
    }

    #[test]
    fn a_negative_or_zero_amount_is_refused() {
        for amount in ["-20", "0", "-0.5", "\"-3\""] {
            let text =
                format!("[[budgets]]\nname = \"b\"\nkind = \"spend\"\nlimit_usd = {amount}\n");
            let p = problems(&text);
            assert_eq!(p[0].path, "budgets[0].limit_usd", "{amount}");
            assert!(p[0].reason.contains("greater than 0"), "{}", p[0].reason);
        }
    }

    #[test]
    fn a_malformed_policy_arn_is_refused() {
        let text =
            "[identity]\nadmin_user = \"admin\"\ngroup_policies = [\"AdministratorAccess\"]\n";
        let p = problems(text);
        assert_eq!(p[0].path, "identity.group_policies[0]");
    }

    #[test]
    fn references_and_duplicates_are_checked_together() {
        let text = r#"
[[budgets]]
name = "b"
kind = "spend"
limit_usd = 20
thresholds_percent = [50, 50]
sns_topic = "other"

[[budgets]]
name = "b"
kind = "credits"
limit_usd = 20

[alerting]
topic = "billing-alarm"

[[notifications.rules]]
name = "r"
event_pattern = { source = "not-an-array" }
targets = ["missing"]
"#;
        let paths: Vec<String> = problems(text).into_iter().map(|p| p.path).collect();
        for expected in [
            "budgets[0].thresholds_percent",
            "budgets[0].sns_topic",
            "budgets[1].name",
            "notifications.rules[0].event_pattern",
            "notifications.rules[0].targets[0]",
        ] {
            assert!(
                paths.iter().any(|p| p == expected),
                "{expected} in {paths:?}"
            );
        }
    }

    #[test]
    fn too_many_budget_notifications_are_refused() {
        let text = "[[budgets]]\nname = \"b\"\nkind = \"spend\"\nlimit_usd = 20\nthresholds_percent = [50, 75, 100]\nnotify_on = [\"actual\", \"forecasted\"]\nemails = [\"ops@example.com\"]\n";
        assert_eq!(problems(text)[0].path, "budgets[0].thresholds_percent");
    }

    #[test]
    fn the_default_forecast_alert_counts_towards_the_five() {
        let five = "[[budgets]]\nname = \"b\"\nkind = \"spend\"\nlimit_usd = 20\nthresholds_percent = [20, 40, 60, 80, 100]\nemails = [\"ops@example.com\"]\n";
        let p = problems(five);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].reason
                .contains("forecast_thresholds_percent = [] drops it"),
            "{}",
            p[0].reason
        );
        let without = five.replace("emails", "forecast_thresholds_percent = []\nemails");
        assert!(parse(&without).is_ok());
        // The forecast at 100 % that notify_on already asks for is one alert, not two.
        let both = "[[budgets]]\nname = \"b\"\nkind = \"spend\"\nlimit_usd = 20\nthresholds_percent = [50, 100]\nnotify_on = [\"actual\", \"forecasted\"]\nemails = [\"ops@example.com\"]\n";
        assert!(parse(both).is_ok());
        let twice = both.replace("emails", "forecast_thresholds_percent = [90, 90]\nemails");
        assert_eq!(
            problems(&twice)[0].path,
            "budgets[0].forecast_thresholds_percent"
        );
    }

    #[test]
    fn the_free_plan_settings_are_read_and_checked() {
        let spec = parse(
            "[account]\nplan = \"free\"\ncredits_low_usd = 25\nending_within_days = 14\n[[budgets]]\nname = \"c\"\nkind = \"credits\"\nlimit_usd = \"remaining-credits\"\n",
        )
        .unwrap();
        assert_eq!(spec.account.plan, Some(crate::PlanChoice::Free));
        assert_eq!(spec.account.credits_low_usd.to_string(), "25");
        assert_eq!(spec.account.ending_within_days.get(), 14);
        assert_eq!(
            spec.budgets[0].limit_usd,
            crate::BudgetLimit::RemainingCredits
        );
        // Defaults, and amounts as before (numbers and decimal text).
        let spec = parse("[account]\nplan = \"auto\"\n[[budgets]]\nname = \"s\"\nkind = \"spend\"\nlimit_usd = \"12.50\"\n").unwrap();
        assert_eq!(spec.account.credits_low_usd.to_string(), "20");
        assert_eq!(spec.account.ending_within_days.get(), 30);
        assert_eq!(spec.budgets[0].limit_usd.to_string(), "12.50");

        let p = problems(
            "[account]\nplan = \"paid\"\n[[budgets]]\nname = \"s\"\nkind = \"spend\"\nlimit_usd = \"remaining-credits\"\n",
        );
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p.iter().all(|p| p.path == "budgets[0].limit_usd"), "{p:?}");
        assert!(p[1].reason.contains("account.plan = \"paid\""), "{p:?}");
        let p =
            problems("[[budgets]]\nname = \"s\"\nkind = \"credits\"\nlimit_usd = \"all-of-it\"\n");
        assert_eq!(p[0].path, "budgets[0].limit_usd");
        assert!(p[0].reason.contains("remaining-credits"), "{p:?}");
        let p = problems("[account]\nplan = \"maybe\"\n");
        assert_eq!(p[0].path, "account.plan");
        let p = problems("[account]\nending_within_days = 0\n");
        assert_eq!(p[0].path, "account.ending_within_days");
    }

    #[test]
    fn bad_toml_syntax_reports_the_line() {
        let p = problems("[identity]\nadmin_user = \n");
        assert_eq!(p[0].line, Some(2));
    }

    const KILL_SWITCH_BASE: &str = "[identity]\nadmin_user = \"admin\"\n\n[[budgets]]\nname = \"spend\"\nkind = \"spend\"\nlimit_usd = 20\nthresholds_percent = [50, 100]\nemails = [\"ops@example.com\"]\n";

    #[test]
    fn the_kill_switch_takes_its_defaults() {
        let spec = parse(&format!("{KILL_SWITCH_BASE}\n[guardrails.kill_switch]\n")).unwrap();
        let ks = spec.guardrails.kill_switch.as_ref().unwrap();
        assert_eq!(ks.threshold_percent.get(), 100);
        assert_eq!(ks.notification_type, crate::NotifyOn::Actual);
        assert_eq!(ks.budget_names(&spec), ["spend"]);
        assert_eq!(ks.group_name(&spec), Some("Admins"));
    }

    #[test]
    fn the_kill_switch_names_budgets_that_exist_and_needs_an_identity() {
        let p = problems(&format!(
            "{KILL_SWITCH_BASE}\n[guardrails.kill_switch]\nbudgets = [\"spend\", \"nope\"]\n"
        ));
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].path, "guardrails.kill_switch.budgets[1]");
        assert!(
            p[0].reason.contains("'nope' is not a budget"),
            "{}",
            p[0].reason
        );

        let p = problems(
            "[[budgets]]\nname = \"b\"\nkind = \"spend\"\nlimit_usd = 20\nthresholds_percent = [100]\nemails = [\"ops@example.com\"]\n[guardrails.kill_switch]\n",
        );
        assert_eq!(p[0].path, "guardrails.kill_switch");
        assert!(
            p[0].reason.contains("declare [identity]"),
            "{}",
            p[0].reason
        );
    }

    #[test]
    fn the_kill_switch_needs_a_threshold_the_watcher_announces() {
        let p = problems(&format!(
            "{KILL_SWITCH_BASE}\n[guardrails.kill_switch]\nthreshold_percent = 120\n"
        ));
        assert_eq!(p[0].path, "budgets[0].thresholds_percent");
        assert!(
            p[0].reason
                .contains("no actual threshold at or above 120 %"),
            "{}",
            p[0].reason
        );
        let p = problems(&format!(
            "{KILL_SWITCH_BASE}\n[guardrails.kill_switch]\nnotification_type = \"forecasted\"\n"
        ));
        assert!(
            p[0].reason.contains("no forecasted threshold"),
            "{}",
            p[0].reason
        );
        // 90 % is reached by the 100 % crossing.
        parse(&format!(
            "{KILL_SWITCH_BASE}\n[guardrails.kill_switch]\nthreshold_percent = 90\n"
        ))
        .unwrap();
        let p = problems(&format!(
            "{KILL_SWITCH_BASE}\n[guardrails.kill_switch]\ngroup = \"Others\"\ntypo = 1\n"
        ));
        assert_eq!(p[0].path, "guardrails.kill_switch.typo");
    }

    #[test]
    fn an_empty_spec_is_valid_and_does_nothing() {
        let spec = parse("").unwrap();
        assert!(spec.identity.is_none() && spec.budgets.is_empty() && spec.alerting.is_none());
    }
}
