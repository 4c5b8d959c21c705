//! The JSON paths EventBridge accepts in `InputPath` and `InputPathsMap`: `$`, then
//! `.name` or `['name']` steps and `[index]` steps.

use serde_json::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// A parsed JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    text: String,
    steps: Vec<Step>,
}

impl JsonPath {
    /// Parses `$.a.b[0]`; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let rest = text
            .strip_prefix('$')
            .ok_or_else(|| format!("'{text}' does not start with $"))?;
        let bytes = rest.as_bytes();
        let mut steps = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'.' => {
                    let start = i + 1;
                    let mut end = start;
                    while end < bytes.len() && bytes[end] != b'.' && bytes[end] != b'[' {
                        end += 1;
                    }
                    let key = &rest[start..end];
                    if key.is_empty() {
                        return Err(format!("'{text}' has an empty step"));
                    }
                    if key == "*" {
                        return Err(format!("'{text}': wildcards are not supported"));
                    }
                    steps.push(Step::Key(key.to_owned()));
                    i = end;
                }
                b'[' => {
                    let close = rest[i..]
                        .find(']')
                        .map(|c| i + c)
                        .ok_or_else(|| format!("'{text}' has an unclosed ["))?;
                    let inner = &rest[i + 1..close];
                    let quoted = inner
                        .strip_prefix('\'')
                        .and_then(|s| s.strip_suffix('\''))
                        .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
                    match quoted {
                        Some(key) => steps.push(Step::Key(key.to_owned())),
                        None => steps.push(Step::Index(inner.parse().map_err(|_| {
                            format!("'{text}': '[{inner}]' is not an index or a quoted name")
                        })?)),
                    }
                    i = close + 1;
                }
                _ => return Err(format!("'{text}' is not a JSON path like $.detail.name")),
            }
        }
        Ok(Self {
            text: text.to_owned(),
            steps,
        })
    }

    /// The value the path selects, if any.
    pub fn select<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        self.steps.iter().try_fold(value, |v, step| match step {
            Step::Key(k) => v.get(k.as_str()),
            Step::Index(i) => v.get(*i),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_select_keys_and_indexes() {
        let v = json!({"detail-type": "x", "a": {"b": [10, {"c": true}]}});
        let sel = |p: &str| JsonPath::parse(p).unwrap().select(&v).cloned();
        assert_eq!(sel("$"), Some(v.clone()));
        assert_eq!(sel("$.detail-type"), Some(json!("x")));
        assert_eq!(sel("$.a.b[1].c"), Some(json!(true)));
        assert_eq!(sel("$['a']['b'][0]"), Some(json!(10)));
        assert_eq!(sel("$.a.missing"), None);
        assert!(JsonPath::parse("a.b").is_err());
        assert!(JsonPath::parse("$..a").is_err());
        assert!(JsonPath::parse("$.a[x]").is_err());
    }
}
