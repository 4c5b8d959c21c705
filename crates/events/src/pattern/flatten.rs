//! Flattening an event into leaf values keyed by dotted path, each with its array
//! membership (array id and index at every array level it sits in).
//!
//! Three producers share one output shape:
//! - [`flatten_all`]: every leaf of a `serde_json::Value` (the reference interpreter's view);
//! - [`flatten_value`]: only the paths a rule set references, from a `serde_json::Value`;
//! - [`flatten_json`]: only the referenced paths, straight from JSON text by a byte scanner
//!   that validates everything but never materialises the subtrees no rule looks at (the
//!   approach of event-ruler, which knows the field names its machine uses).

use std::borrow::Cow;

use serde_json::Value;

use super::error::EventError;
use super::fxhash::FxHashMap;
use super::model::ScalarRef;

/// `(array id, index)` for each array enclosing a leaf, outermost first.
pub(crate) type Membership = (u32, u32);

/// Whether two leaves could come from one element at every array level they share.
pub(crate) fn consistent(a: &[Membership], b: &[Membership]) -> bool {
    a.iter()
        .all(|(arr, idx)| b.iter().all(|(arr2, idx2)| arr != arr2 || idx == idx2))
}

/// A leaf as the reference interpreter sees it.
#[derive(Debug, Clone)]
pub(crate) struct RefLeaf<'a> {
    pub path: String,
    pub value: ScalarRef<'a>,
    pub membership: Vec<Membership>,
}

/// Every leaf of an event, by plain recursion.
pub(crate) fn flatten_all(event: &Value) -> Vec<RefLeaf<'_>> {
    fn walk<'a>(
        v: &'a Value,
        path: &mut String,
        stack: &mut Vec<Membership>,
        next_array: &mut u32,
        out: &mut Vec<RefLeaf<'a>>,
    ) {
        let leaf = |value| RefLeaf {
            path: path.clone(),
            value,
            membership: stack.clone(),
        };
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    let len = path.len();
                    if len > 0 {
                        path.push('.');
                    }
                    path.push_str(k);
                    walk(child, path, stack, next_array, out);
                    path.truncate(len);
                }
            }
            Value::Array(items) => {
                let id = *next_array;
                *next_array += 1;
                for (i, child) in items.iter().enumerate() {
                    stack.push((id, u32::try_from(i).unwrap_or(u32::MAX)));
                    walk(child, path, stack, next_array, out);
                    stack.pop();
                }
            }
            Value::String(s) => out.push(leaf(ScalarRef::Str(s))),
            Value::Number(n) => out.push(leaf(ScalarRef::Num(n.as_f64().unwrap_or(f64::NAN)))),
            Value::Bool(b) => out.push(leaf(ScalarRef::Bool(*b))),
            Value::Null => out.push(leaf(ScalarRef::Null)),
        }
    }
    let mut out = Vec::new();
    walk(event, &mut String::new(), &mut Vec::new(), &mut 0, &mut out);
    out
}

/// What a dotted path means to a rule set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PathEntry {
    /// The id of the path if some rule matches leaves at it.
    pub leaf: Option<u32>,
    /// Whether some rule's path continues below it (so objects here must be entered).
    pub prefix: bool,
}

/// The paths a rule set references, and their proper prefixes.
#[derive(Debug, Clone, Default)]
pub(crate) struct PathIndex {
    entries: FxHashMap<String, PathEntry>,
    count: u32,
}

impl PathIndex {
    /// The id of `path`, adding it (and its prefixes) if new.
    pub(crate) fn intern(&mut self, path: &str) -> u32 {
        if let Some(id) = self.entries.get(path).and_then(|e| e.leaf) {
            return id;
        }
        let id = self.count;
        self.count += 1;
        self.entries.entry(path.to_owned()).or_default().leaf = Some(id);
        for (i, b) in path.bytes().enumerate() {
            if b == b'.' {
                self.entries.entry(path[..i].to_owned()).or_default().prefix = true;
            }
        }
        id
    }

    /// The number of leaf paths.
    pub(crate) fn len(&self) -> usize {
        self.count as usize
    }

    fn get(&self, path: &str) -> PathEntry {
        self.entries.get(path).copied().unwrap_or_default()
    }
}

/// A leaf value kept by the filtered flatteners.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum LeafValue<'a> {
    Str(Cow<'a, str>),
    Num(f64),
    Bool(bool),
    Null,
}

/// The referenced leaves of one event.
#[derive(Debug, Default)]
pub(crate) struct Leaves<'a> {
    /// Path id of each leaf.
    pub path: Vec<u32>,
    /// Value of each leaf.
    pub value: Vec<LeafValue<'a>>,
    /// Range of each leaf's membership in `members`.
    pub span: Vec<(u32, u32)>,
    /// Memberships of all leaves, back to back.
    pub members: Vec<Membership>,
    /// Whether each path id has at least one leaf.
    pub present: Vec<bool>,
}

impl<'a> Leaves<'a> {
    fn new(paths: usize) -> Self {
        // Sized for a typical event so that the vectors do not grow while scanning.
        Self {
            path: Vec::with_capacity(16),
            value: Vec::with_capacity(16),
            span: Vec::with_capacity(16),
            members: Vec::new(),
            present: vec![false; paths],
        }
    }

    fn push(&mut self, path: u32, value: LeafValue<'a>, stack: &[Membership]) {
        let start = self.members.len() as u32;
        self.members.extend_from_slice(stack);
        self.path.push(path);
        self.value.push(value);
        self.span.push((start, stack.len() as u32));
        if let Some(p) = self.present.get_mut(path as usize) {
            *p = true;
        }
    }

    /// The membership of leaf `i`.
    pub(crate) fn membership(&self, i: usize) -> &[Membership] {
        let (start, len) = self.span[i];
        &self.members[start as usize..(start + len) as usize]
    }
}

/// The referenced leaves of a decoded event (which must be an object).
pub(crate) fn flatten_value<'a>(event: &'a Value, paths: &PathIndex) -> Leaves<'a> {
    fn walk<'a>(
        v: &'a Value,
        entry: PathEntry,
        path: &mut String,
        paths: &PathIndex,
        stack: &mut Vec<Membership>,
        next_array: &mut u32,
        out: &mut Leaves<'a>,
    ) {
        match v {
            Value::Object(map) => {
                if !entry.prefix {
                    return;
                }
                for (k, child) in map {
                    let len = path.len();
                    if len > 0 {
                        path.push('.');
                    }
                    path.push_str(k);
                    let e = paths.get(path);
                    if e.leaf.is_some() || e.prefix {
                        walk(child, e, path, paths, stack, next_array, out);
                    }
                    path.truncate(len);
                }
            }
            Value::Array(items) => {
                let id = *next_array;
                *next_array += 1;
                for (i, child) in items.iter().enumerate() {
                    stack.push((id, u32::try_from(i).unwrap_or(u32::MAX)));
                    walk(child, entry, path, paths, stack, next_array, out);
                    stack.pop();
                }
            }
            scalar => {
                if let Some(id) = entry.leaf {
                    let value = match scalar {
                        Value::String(s) => LeafValue::Str(Cow::Borrowed(s)),
                        Value::Number(n) => LeafValue::Num(n.as_f64().unwrap_or(f64::NAN)),
                        Value::Bool(b) => LeafValue::Bool(*b),
                        _ => LeafValue::Null,
                    };
                    out.push(id, value, stack);
                }
            }
        }
    }
    let mut out = Leaves::new(paths.len());
    let root = PathEntry {
        leaf: None,
        prefix: true,
    };
    walk(
        event,
        root,
        &mut String::new(),
        paths,
        &mut Vec::new(),
        &mut 0,
        &mut out,
    );
    out
}

/// Deepest nesting the scanner accepts (serde_json's default is the same).
const MAX_DEPTH: usize = 128;

/// The referenced leaves of an event given as JSON text.
pub(crate) fn flatten_json<'a>(text: &'a str, paths: &PathIndex) -> Result<Leaves<'a>, EventError> {
    let mut sc = Scanner {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        paths,
        path: String::with_capacity(64),
        stack: Vec::new(),
        next_array: 0,
        depth: 0,
        out: Leaves::new(paths.len()),
    };
    sc.ws();
    if sc.peek() != Some(b'{') {
        // Tell "not JSON" apart from "JSON but not an object".
        return Err(match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => EventError::NotAnObject,
            Err(e) => EventError::InvalidJson(e.to_string()),
        });
    }
    let root = PathEntry {
        leaf: None,
        prefix: true,
    };
    sc.value(root)?;
    sc.ws();
    if sc.pos != sc.bytes.len() {
        return Err(sc.error("trailing characters"));
    }
    Ok(sc.out)
}

struct Scanner<'a, 'p> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    paths: &'p PathIndex,
    path: String,
    stack: Vec<Membership>,
    next_array: u32,
    depth: usize,
    out: Leaves<'a>,
}

impl<'a> Scanner<'a, '_> {
    fn error(&self, what: &str) -> EventError {
        EventError::InvalidJson(format!("{what} at byte {}", self.pos))
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect(&mut self, b: u8) -> Result<(), EventError> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected '{}'", b as char)))
        }
    }

    fn enter(&mut self) -> Result<(), EventError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        Ok(())
    }

    /// A value whose path means `entry`; subtrees no rule references are only validated.
    fn value(&mut self, entry: PathEntry) -> Result<(), EventError> {
        self.ws();
        match self.peek() {
            Some(b'{') => {
                if !entry.prefix {
                    return self.skip();
                }
                self.enter()?;
                self.pos += 1;
                self.ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    self.ws();
                    self.expect(b':')?;
                    let len = self.path.len();
                    if len > 0 {
                        self.path.push('.');
                    }
                    self.path.push_str(&key);
                    let e = self.paths.get(&self.path);
                    let result = if e.leaf.is_some() || e.prefix {
                        self.value(e)
                    } else {
                        self.ws();
                        self.skip()
                    };
                    self.path.truncate(len);
                    result?;
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            break;
                        }
                        _ => return Err(self.error("expected ',' or '}'")),
                    }
                }
                self.depth -= 1;
                Ok(())
            }
            Some(b'[') => {
                self.enter()?;
                self.pos += 1;
                let id = self.next_array;
                self.next_array += 1;
                self.ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                let mut index = 0u32;
                loop {
                    self.stack.push((id, index));
                    let result = self.value(entry);
                    self.stack.pop();
                    result?;
                    index = index.saturating_add(1);
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            break;
                        }
                        _ => return Err(self.error("expected ',' or ']'")),
                    }
                }
                self.depth -= 1;
                Ok(())
            }
            Some(b'"') => {
                let s = self.string()?;
                if let Some(id) = entry.leaf {
                    self.out.push(id, LeafValue::Str(s), &self.stack);
                }
                Ok(())
            }
            Some(b'-' | b'0'..=b'9') => {
                let raw = self.number()?;
                if let Some(id) = entry.leaf {
                    let x: f64 = raw.parse().map_err(|_| self.error("bad number"))?;
                    self.out.push(id, LeafValue::Num(x), &self.stack);
                }
                Ok(())
            }
            Some(b't') => self.literal(b"true", entry, LeafValue::Bool(true)),
            Some(b'f') => self.literal(b"false", entry, LeafValue::Bool(false)),
            Some(b'n') => self.literal(b"null", entry, LeafValue::Null),
            _ => Err(self.error("expected a value")),
        }
    }

    fn literal(
        &mut self,
        word: &[u8],
        entry: PathEntry,
        value: LeafValue<'a>,
    ) -> Result<(), EventError> {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            if let Some(id) = entry.leaf {
                self.out.push(id, value, &self.stack);
            }
            Ok(())
        } else {
            Err(self.error("invalid literal"))
        }
    }

    /// Validates and passes over a value nobody references. Iterative and allocation-free:
    /// most of an event's bytes (coordinates, blobs) go through here, so it is the hot path.
    fn skip(&mut self) -> Result<(), EventError> {
        let budget = MAX_DEPTH.saturating_sub(self.depth);
        match skip_value(self.bytes, self.pos, budget) {
            Ok(end) => {
                self.pos = end;
                Ok(())
            }
            Err((at, what)) => {
                self.pos = at;
                Err(self.error(what))
            }
        }
    }

    /// JSON number grammar; returns the raw text.
    fn number(&mut self) -> Result<&'a str, EventError> {
        let start = self.pos;
        let b = self.bytes;
        let mut i = self.pos;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = b.get(i) {
                    i += 1;
                }
            }
            _ => return Err(self.error("bad number")),
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            let digits = i;
            while let Some(b'0'..=b'9') = b.get(i) {
                i += 1;
            }
            if i == digits {
                return Err(self.error("bad number"));
            }
        }
        if let Some(b'e' | b'E') = b.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            let digits = i;
            while let Some(b'0'..=b'9') = b.get(i) {
                i += 1;
            }
            if i == digits {
                return Err(self.error("bad number"));
            }
        }
        self.pos = i;
        Ok(&self.text[start..i])
    }

    /// A string, borrowed from the input unless it has escapes.
    fn string(&mut self) -> Result<Cow<'a, str>, EventError> {
        self.expect(b'"')?;
        let start = self.pos;
        let rest = &self.bytes[start..];
        let Some(at) = rest
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        else {
            return Err(self.error("unterminated string"));
        };
        self.pos += at;
        match self.bytes[self.pos] {
            b'"' => {
                self.pos += 1;
                // Both ends sit on ASCII quotes, so the slice is on char boundaries.
                return Ok(Cow::Borrowed(&self.text[start..start + at]));
            }
            b'\\' => {}
            _ => return Err(self.error("control character in string")),
        }
        let mut owned = String::from(&self.text[start..self.pos]);
        loop {
            match self.bytes.get(self.pos) {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Cow::Owned(owned));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    self.escape(&mut owned)?;
                }
                Some(&c) if c < 0x20 => return Err(self.error("control character in string")),
                Some(_) => {
                    let run_start = self.pos;
                    let rest = &self.bytes[run_start..];
                    let n = rest
                        .iter()
                        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                        .unwrap_or(rest.len());
                    self.pos += n;
                    owned.push_str(&self.text[run_start..self.pos]);
                }
                None => return Err(self.error("unterminated string")),
            }
        }
    }

    /// One escape, the backslash already consumed.
    fn escape(&mut self, out: &mut String) -> Result<(), EventError> {
        let Some(c) = self.peek() else {
            return Err(self.error("unterminated escape"));
        };
        self.pos += 1;
        let ch = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = self.hex4()?;
                if (0xD800..0xDC00).contains(&hi) {
                    if self.bytes[self.pos..].starts_with(b"\\u") {
                        self.pos += 2;
                        let lo = self.hex4()?;
                        if !(0xDC00..0xE000).contains(&lo) {
                            return Err(self.error("invalid surrogate pair"));
                        }
                        let code = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                        char::from_u32(code).ok_or_else(|| self.error("invalid escape"))?
                    } else {
                        return Err(self.error("lone surrogate"));
                    }
                } else {
                    char::from_u32(hi).ok_or_else(|| self.error("lone surrogate"))?
                }
            }
            _ => return Err(self.error("invalid escape")),
        };
        out.push(ch);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, EventError> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| self.error("short \\u escape"))?;
        let mut v = 0u32;
        for &d in digits {
            let n = (d as char)
                .to_digit(16)
                .ok_or_else(|| self.error("bad \\u escape"))?;
            v = v * 16 + n;
        }
        self.pos += 4;
        Ok(v)
    }
}

/// A skip failure: where, and what was expected.
type SkipError = (usize, &'static str);

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = b.get(i) {
        i += 1;
    }
    i
}

/// Validates one JSON value starting at `i` (after white space) and returns where it ends.
/// Containers are tracked on a bit stack (1 = object), at most `budget` deep.
fn skip_value(b: &[u8], i: usize, budget: usize) -> Result<usize, SkipError> {
    let budget = budget.min(128);
    let mut stack: u128 = 0;
    let mut depth = 0usize;
    let mut i = skip_ws(b, i);
    'value: loop {
        // A value starts at `i`.
        match b.get(i) {
            Some(&open @ (b'{' | b'[')) => {
                if depth >= budget {
                    return Err((i, "nesting too deep"));
                }
                let is_object = open == b'{';
                stack = (stack << 1) | u128::from(is_object);
                depth += 1;
                i = skip_ws(b, i + 1);
                let close = if is_object { b'}' } else { b']' };
                if b.get(i) == Some(&close) {
                    i += 1;
                    stack >>= 1;
                    depth -= 1;
                } else {
                    if is_object {
                        i = skip_key(b, i)?;
                    }
                    continue 'value;
                }
            }
            Some(b'"') => i = skip_str(b, i)?,
            Some(b'-' | b'0'..=b'9') => i = skip_num(b, i).ok_or((i, "bad number"))?,
            Some(b't') => i = skip_lit(b, i, b"true")?,
            Some(b'f') => i = skip_lit(b, i, b"false")?,
            Some(b'n') => i = skip_lit(b, i, b"null")?,
            _ => return Err((i, "expected a value")),
        }
        // A value ended at `i`: close containers, or go on to the next element.
        loop {
            if depth == 0 {
                return Ok(i);
            }
            i = skip_ws(b, i);
            let in_object = stack & 1 == 1;
            match (b.get(i), in_object) {
                (Some(b','), _) => {
                    i = skip_ws(b, i + 1);
                    if in_object {
                        i = skip_key(b, i)?;
                    }
                    continue 'value;
                }
                (Some(b'}'), true) | (Some(b']'), false) => {
                    i += 1;
                    stack >>= 1;
                    depth -= 1;
                }
                (_, true) => return Err((i, "expected ',' or '}'")),
                (_, false) => return Err((i, "expected ',' or ']'")),
            }
        }
    }
}

/// `"key" :` and the white space after it.
fn skip_key(b: &[u8], i: usize) -> Result<usize, SkipError> {
    if b.get(i) != Some(&b'"') {
        return Err((i, "expected '\"'"));
    }
    let i = skip_ws(b, skip_str(b, i)?);
    if b.get(i) != Some(&b':') {
        return Err((i, "expected ':'"));
    }
    Ok(skip_ws(b, i + 1))
}

fn skip_lit(b: &[u8], i: usize, word: &[u8]) -> Result<usize, SkipError> {
    if b.get(i..).is_some_and(|rest| rest.starts_with(word)) {
        Ok(i + word.len())
    } else {
        Err((i, "invalid literal"))
    }
}

/// A string starting at the quote at `i`; validates escapes.
fn skip_str(b: &[u8], i: usize) -> Result<usize, SkipError> {
    let mut i = i + 1;
    loop {
        let rest = b.get(i..).unwrap_or_default();
        let Some(at) = rest
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        else {
            return Err((b.len(), "unterminated string"));
        };
        i += at;
        match b[i] {
            b'"' => return Ok(i + 1),
            b'\\' => {
                i += 1;
                match b.get(i) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 1,
                    Some(b'u') => {
                        let hex = b.get(i + 1..i + 5).ok_or((i, "short \\u escape"))?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return Err((i, "bad \\u escape"));
                        }
                        i += 5;
                    }
                    _ => return Err((i, "invalid escape")),
                }
            }
            _ => return Err((i, "control character in string")),
        }
    }
}

/// How many ASCII digits start `b[i..]`: eight at a time where it can, then one by one.
fn digits(b: &[u8], mut i: usize) -> usize {
    const LOW: u64 = 0x0101_0101_0101_0101;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_le_bytes(word);
        // A byte is a digit when its high nibble is 3 and adding 6 keeps it so.
        let not_digit = ((v & (0xF0 * LOW)) ^ (0x30 * LOW))
            | ((v.wrapping_add(0x06 * LOW) & (0xF0 * LOW)) ^ (0x30 * LOW));
        if not_digit == 0 {
            i += 8;
            continue;
        }
        // Mark each non-zero byte of `not_digit`; the lowest marks the first non-digit.
        let marks =
            (((not_digit & (0x7F * LOW)).wrapping_add(0x7F * LOW)) | not_digit) & (0x80 * LOW);
        return i + (marks.trailing_zeros() / 8) as usize;
    }
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i
}

/// The JSON number grammar from `i`; `None` when it is not a number.
fn skip_num(b: &[u8], mut i: usize) -> Option<usize> {
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits(b, i + 1),
        _ => return None,
    }
    if b.get(i) == Some(&b'.') {
        let end = digits(b, i + 1);
        if end == i + 1 {
            return None;
        }
        i = end;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        let end = digits(b, i);
        if end == i {
            return None;
        }
        i = end;
    }
    Some(i)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn index(paths: &[&str]) -> PathIndex {
        let mut idx = PathIndex::default();
        for p in paths {
            idx.intern(p);
        }
        idx
    }

    #[test]
    fn dotted_keys_and_nesting_flatten_alike() {
        let idx = index(&["a.b"]);
        let l1 = flatten_json(r#"{"a":{"b":1}}"#, &idx).unwrap();
        let l2 = flatten_json(r#"{"a.b":1}"#, &idx).unwrap();
        assert_eq!(l1.value, vec![LeafValue::Num(1.0)]);
        assert_eq!(l2.value, vec![LeafValue::Num(1.0)]);
    }

    #[test]
    fn scanner_agrees_with_value_walker() {
        let text = r#"{"a":[{"b":"x\u00e9\"","c":[1,2.5e3]},{"b":null}],"skip":{"deep":[[true]]},"d":false}"#;
        let idx = index(&["a.b", "a.c", "d"]);
        let v: Value = serde_json::from_str(text).unwrap();
        let from_value = flatten_value(&v, &idx);
        let from_text = flatten_json(text, &idx).unwrap();
        assert_eq!(from_value.value, from_text.value);
        assert_eq!(from_value.members, from_text.members);
        assert_eq!(from_value.path, from_text.path);
        assert_eq!(from_text.value[0], LeafValue::Str(Cow::Borrowed("xé\"")));
    }

    #[test]
    fn rejects_bad_json_even_in_skipped_parts() {
        let idx = index(&["a"]);
        for bad in [
            r#"{"a":1,"b":[1,}"#,
            r#"{"a":1} x"#,
            r#"{"b":01}"#,
            r#"{"b":"\x"}"#,
            "{",
        ] {
            assert!(
                matches!(flatten_json(bad, &idx), Err(EventError::InvalidJson(_))),
                "{bad}"
            );
        }
        assert_eq!(
            flatten_json("[1]", &idx).unwrap_err(),
            EventError::NotAnObject
        );
        assert!(flatten_json(&"[".repeat(1000), &idx).is_err());
        let deep = format!(r#"{{"b":{}{}}}"#, "[".repeat(500), "]".repeat(500));
        assert!(flatten_json(&deep, &idx).is_err());
    }

    #[test]
    fn the_fast_skipper_accepts_exactly_what_serde_json_accepts() {
        let cases = [
            "0",
            "-0",
            "12",
            "-12.5",
            "1e5",
            "1E+5",
            "2.5e-3",
            "123456789012345678.25",
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "1e+",
            "+1",
            "--1",
            "0x10",
            "\"\"",
            "\"a\\\"b\"",
            "\"\\u00e9\"",
            "\"\\u00g9\"",
            "\"\\q\"",
            "\"abc",
            "[]",
            "[1,2,3]",
            "[1,]",
            "[,1]",
            "[1 2]",
            "[[[]]]",
            "[[]",
            "{}",
            "{\"a\":1}",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{a:1}",
            "{\"a\":[1,{\"b\":null}]}",
            "true",
            "false",
            "null",
            "tru",
            "nul",
            "[true,false,null]",
            "[-122.41893412,37.77490000123,0.0]",
            "[1.23456789012e10,-9.87654321e-10]",
        ];
        for case in cases {
            let ours = skip_value(case.as_bytes(), 0, 64)
                .map(|end| skip_ws(case.as_bytes(), end) == case.len());
            let theirs = serde_json::from_str::<serde::de::IgnoredAny>(case).is_ok();
            assert_eq!(ours.unwrap_or(false), theirs, "{case}");
        }
    }

    #[test]
    fn digits_are_counted_eight_at_a_time_and_one_by_one() {
        for (text, expected) in [
            ("", 0),
            ("x", 0),
            ("1", 1),
            ("12345678", 8),
            ("123456789", 9),
            ("1234567x9", 7),
            ("12345678901234567/", 17),
            ("9:", 1),
            ("0123456789abcdef", 10),
        ] {
            assert_eq!(digits(text.as_bytes(), 0), expected, "{text}");
        }
        // A byte that overflows when 6 is added must not hide the first non-digit.
        let bytes = [b'1', b'2', 0xFA, b'3', b'4', b'5', b'6', b'7', b'8'];
        assert_eq!(digits(&bytes, 0), 2);
    }

    #[test]
    fn memberships_distinguish_elements() {
        let v = json!({"x": [{"a": 1, "b": 2}, {"a": 3}]});
        let leaves = flatten_all(&v);
        assert_eq!(leaves.len(), 3);
        assert!(consistent(&leaves[0].membership, &leaves[1].membership));
        assert!(!consistent(&leaves[1].membership, &leaves[2].membership));
    }
}
