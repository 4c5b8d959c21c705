//! Placeholder substitution in an `InputTemplate`, with the quoting EventBridge applies.
//!
//! A template that is JSON (it starts with `{` or `[`) keeps JSON types: outside quotes a
//! variable becomes its JSON value (a string is quoted; a missing value is `""`), inside
//! quotes a string is inserted as its characters and anything else as its JSON text. Any
//! other template is text: strings are inserted as their characters, objects and arrays as
//! compact JSON without quote marks (`{acc_id:1}`, `[HIGH]`), missing values as nothing.
//! An output that starts like JSON must be JSON, otherwise the event is not delivered
//! (AWS drops it, as recorded in the conformance data).

use serde_json::Value;

use super::RenderError;

/// Whether `name` can be a variable: letters, digits, `_`, `-` and `.`.
pub fn is_variable_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Every `<name>` in a template, in order (duplicates included).
pub fn placeholders(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        match after.find('>') {
            Some(close) if is_variable_name(&after[..close]) => {
                out.push(&after[..close]);
                rest = &after[close + 1..];
            }
            _ => rest = after,
        }
    }
    out
}

/// Substitutes every known placeholder; `lookup` returns `None` for a variable whose
/// path selects nothing. Unknown `<…>` text is left as is. An output that would exceed
/// `limit` bytes is refused as soon as it does, so a template that repeats a large value
/// thousands of times never builds its output in memory.
pub fn render(
    template: &str,
    lookup: &dyn Fn(&str) -> Option<Value>,
    limit: usize,
) -> Result<String, RenderError> {
    let json_mode = template.trim_start().starts_with(['{', '[']);
    let mut out = String::with_capacity(template.len() + 64);
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = template;
    while let Some(c) = rest.chars().next() {
        if c == '<' && !escaped {
            let after = &rest[1..];
            if let Some(close) = after.find('>') {
                let name = &after[..close];
                if is_variable_name(name) {
                    let value = lookup(name);
                    if json_mode {
                        insert_json(&mut out, value.as_ref(), in_string);
                    } else {
                        insert_text(&mut out, value.as_ref());
                    }
                    if out.len() > limit {
                        return Err(RenderError::TooLarge { limit });
                    }
                    rest = &after[close + 1..];
                    continue;
                }
            }
        }
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            in_string = !in_string;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if out.len() > limit {
        return Err(RenderError::TooLarge { limit });
    }
    let trimmed = out.trim_start();
    if trimmed.starts_with(['{', '['])
        && let Err(e) = serde_json::from_str::<Value>(trimmed)
    {
        return Err(RenderError::InvalidJson(e.to_string()));
    }
    Ok(out)
}

fn insert_json(out: &mut String, value: Option<&Value>, in_string: bool) {
    match (value, in_string) {
        (None, true) => {}
        (None, false) => out.push_str("\"\""),
        (Some(Value::String(s)), true) => {
            let quoted = Value::String(s.clone()).to_string();
            out.push_str(&quoted[1..quoted.len() - 1]);
        }
        (Some(v), _) => out.push_str(&v.to_string()),
    }
}

fn insert_text(out: &mut String, value: Option<&Value>) {
    match value {
        None => {}
        Some(Value::String(s)) => out.push_str(s),
        Some(v) => out.extend(v.to_string().chars().filter(|&c| c != '"')),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    const LIMIT: usize = 1 << 20;

    fn vars(name: &str) -> Option<Value> {
        match name {
            "s" => Some(json!("x\"y")),
            "list" => Some(json!(["A", "B"])),
            "n" => Some(json!(3)),
            _ => None,
        }
    }

    #[test]
    fn json_templates_keep_types_and_escape_strings() {
        assert_eq!(
            render(
                r#"{"a": <s>, "b": "<s>!", "c": <n>, "d": <missing>}"#,
                &vars,
                LIMIT
            )
            .unwrap(),
            r#"{"a": "x\"y", "b": "x\"y!", "c": 3, "d": ""}"#
        );
        assert_eq!(
            render(r#"{"l": <list>}"#, &vars, LIMIT).unwrap(),
            r#"{"l": ["A","B"]}"#
        );
        assert!(render(r#"{"l": "<list>"}"#, &vars, LIMIT).is_err());
    }

    #[test]
    fn text_templates_insert_plain_text() {
        assert_eq!(
            render(r#""<list> and <n><missing>""#, &vars, LIMIT).unwrap(),
            r#""[A,B] and 3""#
        );
        assert!(render("<list> first", &vars, LIMIT).is_err());
        assert_eq!(render("a < b <n>", &vars, LIMIT).unwrap(), "a < b 3");
    }

    #[test]
    fn outputs_over_the_limit_are_refused_without_being_built() {
        let big = "x".repeat(1000);
        let lookup = |_: &str| Some(json!(big));
        let template = "<d>".repeat(2047);
        assert_eq!(
            render(&template, &lookup, 10_000),
            Err(RenderError::TooLarge { limit: 10_000 })
        );
        let json_template = format!("[{}]", vec!["<d>"; 2047].join(","));
        assert!(matches!(
            render(&json_template, &lookup, 10_000),
            Err(RenderError::TooLarge { .. })
        ));
        assert_eq!(render("<d>", &lookup, 1000).unwrap().len(), 1000);
        assert!(
            render("<d>!", &lookup, 1000).is_err(),
            "the literal text counts too"
        );
    }

    #[test]
    fn placeholders_are_listed() {
        assert_eq!(placeholders("<a> < b <c.d> <>"), vec!["a", "c.d"]);
    }
}
