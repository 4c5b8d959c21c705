//! The compiled form of a pattern: `$or` expanded into sub-patterns, each a conjunction of
//! field paths with the matchers OR'ed on that path, plus what one matcher says about one
//! event value.

use super::cidr::IpRange;
use super::numeric::NumericRange;
use super::wildcard::Wildcard;

/// A leaf value of an event, or an exact value of a pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// A JSON string.
    Str(String),
    /// A JSON number, as float64 (EventBridge compares numbers by value: `5` equals `5.0`).
    Num(f64),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
}

/// A borrowed leaf value, as the matchers see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScalarRef<'a> {
    /// A JSON string.
    Str(&'a str),
    /// A JSON number.
    Num(f64),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
}

/// What `anything-but` excludes.
#[derive(Debug, Clone, PartialEq)]
pub enum AnythingBut {
    /// Strings or numbers (never mixed) that must not be equal to the value.
    Values(Vec<Scalar>),
    /// Lowercased strings the value must not equal, ignoring case.
    IgnoreCase(Vec<String>),
    /// Prefixes the value must not start with.
    Prefix(Vec<String>),
    /// Suffixes the value must not end with.
    Suffix(Vec<String>),
    /// Wildcards the value must not match.
    Wildcard(Vec<Wildcard>),
}

/// One matcher on one field.
#[derive(Debug, Clone, PartialEq)]
pub enum Matcher {
    /// An exact value (numbers compare by value).
    Exact(Scalar),
    /// A string that starts with this.
    Prefix(String),
    /// A string that starts with this (lowercased), ignoring case.
    PrefixIgnoreCase(String),
    /// A string that ends with this.
    Suffix(String),
    /// A string that ends with this (lowercased), ignoring case.
    SuffixIgnoreCase(String),
    /// A string equal to this (lowercased), ignoring case.
    EqualsIgnoreCase(String),
    /// A string matching a wildcard.
    Wildcard(Wildcard),
    /// Any value except those described.
    AnythingBut(AnythingBut),
    /// A number in a range.
    Numeric(NumericRange),
    /// A string that is an IP address in a range.
    Cidr(IpRange),
    /// `exists: true` (any leaf value) or `exists: false` (no leaf value at the path).
    Exists(bool),
}

/// Lowercasing used on both sides of every ignore-case comparison.
pub(crate) fn fold_case(s: &str) -> std::borrow::Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii()) {
        std::borrow::Cow::Owned(s.to_lowercase())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

fn scalar_eq(a: &Scalar, b: ScalarRef<'_>) -> bool {
    match (a, b) {
        (Scalar::Str(x), ScalarRef::Str(y)) => x == y,
        (Scalar::Num(x), ScalarRef::Num(y)) => *x == y,
        (Scalar::Bool(x), ScalarRef::Bool(y)) => *x == y,
        (Scalar::Null, ScalarRef::Null) => true,
        _ => false,
    }
}

impl Matcher {
    /// Whether this matcher accepts one present leaf value. `Exists(false)` never does: it is
    /// satisfied only by the absence of the field, which the caller decides.
    pub(crate) fn matches(&self, value: ScalarRef<'_>) -> bool {
        let text = match value {
            ScalarRef::Str(s) => Some(s),
            _ => None,
        };
        match self {
            Matcher::Exact(s) => scalar_eq(s, value),
            Matcher::Prefix(p) => text.is_some_and(|t| t.starts_with(p.as_str())),
            Matcher::Suffix(p) => text.is_some_and(|t| t.ends_with(p.as_str())),
            Matcher::PrefixIgnoreCase(p) => {
                text.is_some_and(|t| fold_case(t).starts_with(p.as_str()))
            }
            Matcher::SuffixIgnoreCase(p) => {
                text.is_some_and(|t| fold_case(t).ends_with(p.as_str()))
            }
            Matcher::EqualsIgnoreCase(p) => text.is_some_and(|t| fold_case(t) == p.as_str()),
            Matcher::Wildcard(w) => text.is_some_and(|t| w.matches(t)),
            Matcher::Numeric(r) => matches!(value, ScalarRef::Num(x) if r.contains(x)),
            Matcher::Cidr(r) => text.is_some_and(|t| r.contains_str(t)),
            Matcher::Exists(want) => *want,
            Matcher::AnythingBut(ab) => match ab {
                AnythingBut::Values(vs) => !vs.iter().any(|v| scalar_eq(v, value)),
                AnythingBut::IgnoreCase(vs) => match text {
                    Some(t) => {
                        let t = fold_case(t);
                        !vs.iter().any(|v| *v == t)
                    }
                    None => true,
                },
                AnythingBut::Prefix(ps) => match text {
                    Some(t) => !ps.iter().any(|p| t.starts_with(p.as_str())),
                    None => true,
                },
                AnythingBut::Suffix(ps) => match text {
                    Some(t) => !ps.iter().any(|p| t.ends_with(p.as_str())),
                    None => true,
                },
                AnythingBut::Wildcard(ws) => match text {
                    Some(t) => !ws.iter().any(|w| w.matches(t)),
                    None => true,
                },
            },
        }
    }
}

/// One field of a sub-pattern: a dotted path and the matchers OR'ed on it.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldPattern {
    /// The path, segments joined by `.` (EventBridge treats dotted keys as nesting).
    pub path: String,
    /// At least one matcher.
    pub matchers: Vec<Matcher>,
}

impl FieldPattern {
    /// Whether the field is satisfied when the event has no leaf value at its path.
    pub(crate) fn allows_absence(&self) -> bool {
        self.matchers.contains(&Matcher::Exists(false))
    }
}

/// One `$or` branch of a pattern: every field must be satisfied.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SubPattern {
    /// Fields with distinct paths, in pattern order.
    pub fields: Vec<FieldPattern>,
}

impl SubPattern {
    /// Sets a field, replacing one with the same path (EventBridge: the later one wins).
    pub(crate) fn put(&mut self, path: String, matchers: Vec<Matcher>) {
        if let Some(f) = self.fields.iter_mut().find(|f| f.path == path) {
            f.matchers = matchers;
        } else {
            self.fields.push(FieldPattern { path, matchers });
        }
    }
}
