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

/// The paths a rule set references, and their proper prefixes, as a tree of nodes: an
/// event's key leads from a node to a child without building or hashing the dotted path.
#[derive(Debug, Clone, Default)]
pub(crate) struct PathIndex {
    /// Node of each path; node 0 is the empty path, made with the first path interned.
    entries: FxHashMap<String, u32>,
    nodes: Vec<PathNode>,
    count: u32,
}

#[derive(Debug, Clone, Default)]
struct PathNode {
    path: String,
    entry: PathEntry,
    /// Children by key, for keys without a dot: `path.key` (or `key` below the empty path).
    children: Vec<(Box<str>, u32)>,
    /// The same children in a hash map, once there are many of them.
    child_map: Option<FxHashMap<Box<str>, u32>>,
}

/// Children looked up by scanning a vector up to this many; by hash beyond.
const FEW_CHILDREN: usize = 8;

impl PathIndex {
    /// The id of `path`, adding it (and its prefixes) if new.
    pub(crate) fn intern(&mut self, path: &str) -> u32 {
        if let Some(&n) = self.entries.get(path)
            && let Some(id) = self.nodes[n as usize].entry.leaf
        {
            return id;
        }
        let id = self.count;
        self.count += 1;
        let n = self.node(path);
        self.nodes[n as usize].entry.leaf = Some(id);
        for (i, b) in path.bytes().enumerate() {
            if b == b'.' {
                let p = self.node(&path[..i]);
                self.nodes[p as usize].entry.prefix = true;
            }
        }
        id
    }

    /// The node of `path`, made (and linked below its parent) if new.
    fn node(&mut self, path: &str) -> u32 {
        if self.nodes.is_empty() {
            self.nodes.push(PathNode::default());
            self.entries.insert(String::new(), 0);
        }
        if let Some(&n) = self.entries.get(path) {
            return n;
        }
        let n = self.nodes.len() as u32;
        self.nodes.push(PathNode {
            path: path.to_owned(),
            ..PathNode::default()
        });
        self.entries.insert(path.to_owned(), n);
        // A key appends `.key` to a non-empty path and replaces an empty one, so `.x` is
        // nobody's child by a dotless key (the key `.x` reaches it, by `child`'s slow path).
        match path.rfind('.') {
            None => self.link(0, path, n),
            Some(0) => {}
            Some(d) => {
                let parent = self.node(&path[..d]);
                self.link(parent, &path[d + 1..], n);
            }
        }
        n
    }

    fn link(&mut self, parent: u32, key: &str, child: u32) {
        let node = &mut self.nodes[parent as usize];
        node.children.push((key.into(), child));
        if let Some(map) = &mut node.child_map {
            map.insert(key.into(), child);
        } else if node.children.len() > FEW_CHILDREN {
            node.child_map = Some(node.children.iter().cloned().collect());
        }
    }

    /// The node an event's `key` leads to from `node`, if the rules reference it.
    #[inline]
    fn child(&self, node: u32, key: &str) -> Option<u32> {
        let n = self.nodes.get(node as usize)?;
        if key.is_empty() && n.path.is_empty() {
            // The empty key below the empty path is the empty path again.
            return Some(0);
        }
        // (Keys are short: a plain loop beats `memchr`'s set-up.)
        if key.bytes().any(|c| c == b'.') {
            // A dotted key spans several nodes; look its whole path up.
            let path = if n.path.is_empty() {
                key.to_owned()
            } else {
                format!("{}.{key}", n.path)
            };
            return self.entries.get(&path).copied();
        }
        match &n.child_map {
            Some(map) => map.get(key).copied(),
            None => n
                .children
                .iter()
                .find(|(k, _)| k.len() == key.len() && **k == *key)
                .map(|(_, c)| *c),
        }
    }

    fn entry(&self, node: u32) -> PathEntry {
        self.nodes[node as usize].entry
    }

    /// The number of leaf paths.
    pub(crate) fn len(&self) -> usize {
        self.count as usize
    }

    fn get(&self, path: &str) -> PathEntry {
        self.entries
            .get(path)
            .map(|&n| self.entry(n))
            .unwrap_or_default()
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

/// Buffers kept from one event to the next (per thread, by the rule set), so that scanning
/// and matching a typical event allocate nothing.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    leaves: Option<Leaves<'static>>,
    stack: Vec<Membership>,
    /// The rule set's hit list.
    pub hits: Vec<(u32, u32, u32)>,
    /// The rule set's anything-but exclusions.
    pub excluded: Vec<u32>,
    /// The rule set's matched rule ids.
    pub rules: Vec<u32>,
    /// The rule set's hits per sub-pattern, as (stamp, count): counts of an earlier match
    /// carry an older stamp and read as zero, so nothing is cleared between matches.
    pub counts: Vec<(u32, u32)>,
    /// This match's stamp.
    pub stamp: u32,
}

/// Buffers that grew past this many elements are dropped rather than kept.
const KEEP_AT_MOST: usize = 4096;

impl Scratch {
    /// Empty leaves for an event, on the kept buffers.
    fn leaves<'a>(&mut self, paths: usize) -> Leaves<'a> {
        let mut leaves = match self.leaves.take() {
            Some(kept) => kept.recycle(),
            None => Leaves::new(0),
        };
        leaves.present.resize(paths, false);
        leaves
    }

    /// Takes back the buffers of leaves that are no longer needed.
    pub(crate) fn keep(&mut self, leaves: Leaves<'_>) {
        self.leaves = Some(leaves.recycle());
        self.hits = cleared(std::mem::take(&mut self.hits));
        self.excluded = cleared(std::mem::take(&mut self.excluded));
        self.rules = cleared(std::mem::take(&mut self.rules));
    }
}

/// Empties a vector, or drops it when it grew large.
fn cleared<T>(mut v: Vec<T>) -> Vec<T> {
    if v.capacity() > KEEP_AT_MOST {
        return Vec::new();
    }
    v.clear();
    v
}

impl<'a> Leaves<'a> {
    /// The same buffers, emptied, for leaves borrowing from another text.
    fn recycle<'b>(self) -> Leaves<'b> {
        Leaves {
            path: cleared(self.path),
            // An emptied vector collected into one of a type of the same layout keeps its
            // allocation (the standard library collects `vec::IntoIter` in place).
            value: cleared(self.value)
                .into_iter()
                .map(|_| LeafValue::Null)
                .collect(),
            span: cleared(self.span),
            members: cleared(self.members),
            present: cleared(self.present),
        }
    }

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
#[cfg(test)]
pub(crate) fn flatten_json<'a>(text: &'a str, paths: &PathIndex) -> Result<Leaves<'a>, EventError> {
    flatten_json_with(text, paths, &mut Scratch::default())
}

/// [`flatten_json`] on kept buffers.
pub(crate) fn flatten_json_with<'a>(
    text: &'a str,
    paths: &PathIndex,
    scratch: &mut Scratch,
) -> Result<Leaves<'a>, EventError> {
    let mut sc = Scanner {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        paths,
        stack: std::mem::take(&mut scratch.stack),
        next_array: 0,
        depth: 0,
        out: scratch.leaves(paths.len()),
    };
    let result = sc.event();
    sc.stack.clear();
    scratch.stack = sc.stack;
    result.map(|()| sc.out)
}

impl Scanner<'_, '_> {
    /// The whole text, which must be one JSON object.
    fn event(&mut self) -> Result<(), EventError> {
        self.ws();
        if self.peek() != Some(b'{') {
            // Tell "not JSON" apart from "JSON but not an object".
            return Err(
                match serde_json::from_str::<serde::de::IgnoredAny>(self.text) {
                    Ok(_) => EventError::NotAnObject,
                    Err(e) => EventError::InvalidJson(e.to_string()),
                },
            );
        }
        let root = PathEntry {
            leaf: None,
            prefix: true,
        };
        self.value(0, root)?;
        self.ws();
        if self.pos != self.bytes.len() {
            return Err(self.error("trailing characters"));
        }
        Ok(())
    }
}

struct Scanner<'a, 'p> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    paths: &'p PathIndex,
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
    fn value(&mut self, node: u32, entry: PathEntry) -> Result<(), EventError> {
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
                    let child = self
                        .paths
                        .child(node, &key)
                        .map(|c| (c, self.paths.entry(c)))
                        .filter(|(_, e)| e.leaf.is_some() || e.prefix);
                    match child {
                        Some((c, e)) => self.value(c, e)?,
                        None => {
                            self.ws();
                            self.skip()?;
                        }
                    }
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
                    // Scalars without a call: arrays of numbers are common and long.
                    self.ws();
                    let result = match self.peek() {
                        Some(b'{' | b'[') => self.value(node, entry),
                        _ => self.scalar(entry),
                    };
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
            _ => self.scalar(entry),
        }
    }

    /// A value that is not a container (or an error), at `self.pos`.
    #[inline]
    fn scalar(&mut self, entry: PathEntry) -> Result<(), EventError> {
        match self.peek() {
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
                    let x = match decimal_to_f64(raw.as_bytes()) {
                        Some(x) => x,
                        None => raw.parse().map_err(|_| self.error("bad number"))?,
                    };
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
        let scalar = match self.peek() {
            Some(b'"') => Some(skip_str(self.bytes, self.pos)),
            Some(b'-' | b'0'..=b'9') => {
                Some(skip_num(self.bytes, self.pos).ok_or((self.pos, "bad number")))
            }
            _ => None,
        };
        let budget = MAX_DEPTH.saturating_sub(self.depth);
        match scalar.unwrap_or_else(|| skip_value(self.bytes, self.pos, budget)) {
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
        let end = skip_num(self.bytes, start).ok_or_else(|| self.error("bad number"))?;
        self.pos = end;
        Ok(&self.text[start..end])
    }

    /// A string, borrowed from the input unless it has escapes.
    fn string(&mut self) -> Result<Cow<'a, str>, EventError> {
        if self.peek() != Some(b'"') {
            return Err(self.error("expected '\"'"));
        }
        self.pos += 1;
        let start = self.pos;
        let Some(at) = string_stop(self.bytes, start) else {
            return Err(self.error("unterminated string"));
        };
        self.pos = at;
        match self.bytes[at] {
            b'"' => {
                self.pos += 1;
                // Both ends sit on ASCII quotes, so the slice is on char boundaries.
                return Ok(Cow::Borrowed(&self.text[start..at]));
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
                    self.pos = string_stop(self.bytes, run_start).unwrap_or(self.bytes.len());
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

/// The value of a JSON number without exponent and with at most 19 digits (the usual shape
/// of coordinates, amounts and ids), correctly rounded like `str::parse::<f64>`; `None` for
/// any other number, which `str::parse` then decodes.
///
/// The number is `m / 10^k` exactly (`m` its digits, `k` the fraction's length). One 128-bit
/// division gives `q = floor(m * 2^s / 10^k)` with 55 or 56 bits; the top 53 are the
/// significand, rounded to nearest, ties to even, on the next bit and on whether anything
/// (the rest of `q` or the remainder) lies below it.
fn decimal_to_f64(raw: &[u8]) -> Option<f64> {
    let (negative, body) = match raw.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, raw),
    };
    // At most 19 digits and a dot. (Arithmetic wraps: a 20th digit is refused below.)
    if body.len() > 20 {
        return None;
    }
    let mut m: u64 = 0;
    let mut i = 0;
    while let Some(&c) = body.get(i) {
        let d = c.wrapping_sub(b'0');
        if d >= 10 {
            break;
        }
        m = m.wrapping_mul(10).wrapping_add(u64::from(d));
        i += 1;
    }
    let int_len = i;
    if body.get(i) == Some(&b'.') {
        i += 1;
        while let Some(v) = word(body, i) {
            if non_digits(v) != 0 {
                break;
            }
            m = m.wrapping_mul(100_000_000).wrapping_add(eight_digits(v));
            i += 8;
        }
        while let Some(&c) = body.get(i) {
            let d = c.wrapping_sub(b'0');
            if d >= 10 {
                break;
            }
            m = m.wrapping_mul(10).wrapping_add(u64::from(d));
            i += 1;
        }
    }
    // Anything left is an exponent.
    if i != body.len() {
        return None;
    }
    let k = (i - int_len).saturating_sub(1) as u32;
    if int_len + k as usize > 19 {
        return None;
    }
    let signed = |x: f64| if negative { -x } else { x };
    if m == 0 {
        return Some(signed(0.0));
    }
    let pow = POW10[k as usize];
    let m_bits = 64 - m.leading_zeros();
    let pow_bits = 64 - pow.leading_zeros();
    // m * 2^s / 10^k lands in [2^54, 2^56) and m * 2^s stays below 2^119.
    let s = (55 + pow_bits).checked_sub(m_bits)?;
    let numerator = u128::from(m) << s;
    let q = numerator / u128::from(pow);
    let exact = q * u128::from(pow) == numerator;
    let q_bits = 128 - q.leading_zeros();
    let drop = q_bits - 53;
    let mut significand = (q >> drop) as u64;
    let round = (q >> (drop - 1)) & 1 == 1;
    let below = q & ((1u128 << (drop - 1)) - 1) != 0 || !exact;
    if round && (below || significand & 1 == 1) {
        significand += 1;
    }
    // The value is significand * 2^(drop - s), with the significand in [2^52, 2^53].
    let mut exponent = i64::from(drop) - i64::from(s) + 52;
    if significand == 1 << 53 {
        significand >>= 1;
        exponent += 1;
    }
    let biased = u64::try_from(exponent + 1023)
        .ok()
        .filter(|b| (1..2047).contains(b))?;
    let bits = (biased << 52) | (significand & ((1 << 52) - 1));
    Some(signed(f64::from_bits(bits)))
}

/// `10^k` for `k` in `0..=19`.
const POW10: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut k = 1;
    while k < 20 {
        t[k] = t[k - 1] * 10;
        k += 1;
    }
    t
};

/// The value of eight ASCII digits, first digit in the low byte (pairs, then quads, then
/// the whole, in three multiplications).
#[inline]
fn eight_digits(v: u64) -> u64 {
    const MASK: u64 = 0x0000_00FF_0000_00FF;
    const MUL1: u64 = 100 + (1_000_000 << 32);
    const MUL2: u64 = 1 + (10_000 << 32);
    let v = v.wrapping_sub(u64::from(b'0') * LOW);
    let v = v.wrapping_mul(10).wrapping_add(v >> 8);
    let v1 = (v & MASK).wrapping_mul(MUL1);
    let v2 = ((v >> 16) & MASK).wrapping_mul(MUL2);
    u64::from((v1.wrapping_add(v2) >> 32) as u32)
}

/// A skip failure: where, and what was expected.
type SkipError = (usize, &'static str);

/// `0x01` in every byte.
const LOW: u64 = 0x0101_0101_0101_0101;
/// `0x80` in every byte.
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The eight bytes at `i` as a little-endian word, when there are eight.
#[inline]
fn word(b: &[u8], i: usize) -> Option<u64> {
    let chunk: [u8; 8] = b.get(i..i + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(chunk))
}

/// `0x80` in every byte of `v` that is below `n` (at most `0x80`), `0` elsewhere. Exact:
/// the high bits are masked off before the addition, so no carry crosses a byte.
#[inline]
fn bytes_below(v: u64, n: u8) -> u64 {
    !(((v & !HIGH) + (0x80 - u64::from(n)) * LOW) | v) & HIGH
}

/// `0x80` in every byte of `v` equal to `c`.
#[inline]
fn bytes_equal(v: u64, c: u8) -> u64 {
    bytes_below(v ^ (u64::from(c) * LOW), 1)
}

/// `0x80` in every byte of `v` that is not an ASCII digit.
#[inline]
fn non_digits(v: u64) -> u64 {
    // Digits become 0..=9 and nothing else does; then "9 < byte" sets the high bit.
    let x = v ^ (u64::from(b'0') * LOW);
    (((x & !HIGH) + 0x76 * LOW) | x) & HIGH
}

/// The first `"`, `\` or control character at or after `i`: eight bytes at a time.
#[inline]
fn string_stop(b: &[u8], mut i: usize) -> Option<usize> {
    while let Some(v) = word(b, i) {
        let stops = bytes_equal(v, b'"') | bytes_equal(v, b'\\') | bytes_below(v, 0x20);
        if stops != 0 {
            return Some(i + (stops.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    let rest = b.get(i..)?;
    let at = rest
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
    Some(i + at)
}

#[inline]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = b.get(i) {
        i += 1;
    }
    i
}

/// Validates one JSON value starting at `i` (after white space) and returns where it ends.
/// Open containers are at most `budget` deep.
fn skip_value(b: &[u8], i: usize, budget: usize) -> Result<usize, SkipError> {
    let budget = budget.min(MAX_DEPTH);
    // Whether the container open at each depth (1-based) is an object.
    let mut objects = [false; MAX_DEPTH + 1];
    let mut depth = 0usize;
    let mut i = skip_ws(b, i);
    'value: loop {
        // A value starts at `i`.
        match b.get(i) {
            Some(b'-' | b'0'..=b'9') => i = skip_num(b, i).ok_or((i, "bad number"))?,
            Some(b'"') => i = skip_str(b, i)?,
            Some(&open @ (b'{' | b'[')) => {
                if depth >= budget {
                    return Err((i, "nesting too deep"));
                }
                depth += 1;
                let is_object = open == b'{';
                if let Some(slot) = objects.get_mut(depth) {
                    *slot = is_object;
                }
                i = skip_ws(b, i + 1);
                // `]` and `}` are two past `[` and `{`.
                if b.get(i) == Some(&(open + 2)) {
                    i += 1;
                    depth -= 1;
                } else {
                    if is_object {
                        i = skip_key(b, i)?;
                    }
                    continue 'value;
                }
            }
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
            let in_object = objects.get(depth).copied().unwrap_or(false);
            match b.get(i) {
                Some(b',') => {
                    i = skip_ws(b, i + 1);
                    if in_object {
                        i = skip_key(b, i)?;
                    }
                    continue 'value;
                }
                // `}` is 0x20 past `]`.
                Some(&c) if c == b']' + (u8::from(in_object) << 5) => {
                    i += 1;
                    depth -= 1;
                }
                Some(b' ' | b'\n' | b'\r' | b'\t') => i = skip_ws(b, i),
                _ if in_object => return Err((i, "expected ',' or '}'")),
                _ => return Err((i, "expected ',' or ']'")),
            }
        }
    }
}

/// `"key" :` and the white space after it.
#[inline]
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
#[inline]
fn skip_str(b: &[u8], i: usize) -> Result<usize, SkipError> {
    let mut i = i + 1;
    loop {
        let Some(at) = string_stop(b, i) else {
            return Err((b.len(), "unterminated string"));
        };
        i = at;
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
#[inline]
fn digits(b: &[u8], mut i: usize) -> usize {
    while let Some(v) = word(b, i) {
        let marks = non_digits(v);
        if marks != 0 {
            return i + (marks.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i
}

/// The JSON number grammar from `i`; `None` when it is not a number.
#[inline(always)]
fn skip_num(b: &[u8], mut i: usize) -> Option<usize> {
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    let end = match word(b, i) {
        Some(w) => mantissa_in_word(b, i, w)?,
        None => {
            let end = match b.get(i) {
                Some(b'0') => i + 1,
                Some(b'1'..=b'9') => digits(b, i + 1),
                _ => return None,
            };
            fraction(b, end)?
        }
    };
    if let Some(b'e' | b'E') = b.get(end) {
        let mut i = end + 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        let end = digits(b, i);
        return (end > i).then_some(end);
    }
    Some(end)
}

/// The integer and fraction parts of a number whose first digit is at `i`, with `w` the word
/// at `i`: most numbers have both parts begin within that one word.
#[inline(always)]
fn mantissa_in_word(b: &[u8], i: usize, w: u64) -> Option<usize> {
    let marks = non_digits(w);
    // A leading zero is a whole integer part (what follows is the caller's problem).
    let int_len = if w as u8 == b'0' {
        1
    } else {
        (marks.trailing_zeros() / 8) as usize
    };
    match int_len {
        0 => return None,
        8 => return fraction(b, digits(b, i + 8)),
        _ => {}
    }
    if (w >> (8 * int_len)) as u8 != b'.' {
        return Some(i + int_len);
    }
    let frac = int_len + 1;
    if frac < 8 {
        let rest = marks >> (8 * frac);
        if rest != 0 {
            let count = (rest.trailing_zeros() / 8) as usize;
            return (count > 0).then_some(i + frac + count);
        }
    }
    // The fraction runs on past this word (or starts right after it).
    let end = digits(b, i + 8);
    (end > i + frac).then_some(end)
}

/// An optional `.digits` at `i`.
#[inline]
fn fraction(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'.') {
        return Some(i);
    }
    let end = digits(b, i + 1);
    (end > i + 1).then_some(end)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
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
    fn numbers_of_every_shape_are_skipped_like_serde_json_does() {
        let runs = [
            "",
            "0",
            "00",
            "1",
            "10",
            "123",
            "0123",
            "1234567",
            "12345678",
            "123456789",
            "12345678901234567",
        ];
        let mut checked = 0;
        for sign in ["", "-", "+", "--"] {
            for int in runs {
                for dot in ["", ".", ".."] {
                    for frac in runs {
                        for exp in ["", "e", "E+1", "e-05", "e1x"] {
                            let num = format!("{sign}{int}{dot}{frac}{exp}");
                            // Short (one by one) and padded (eight at a time) surroundings.
                            for text in [
                                format!("[{num}]"),
                                format!("[{num},1            ]"),
                                format!("[{num}x2345678901]"),
                            ] {
                                let ours = skip_value(text.as_bytes(), 0, 64)
                                    .map(|end| skip_ws(text.as_bytes(), end) == text.len());
                                let theirs =
                                    serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok();
                                assert_eq!(ours.unwrap_or(false), theirs, "{text}");
                                checked += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 10_000);
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

    /// Mutated events: the scanner must accept exactly the texts serde_json accepts, whatever
    /// part of the event the damage falls in, and agree with the value walker when it does.
    #[test]
    fn mutated_events_are_accepted_exactly_when_serde_json_accepts_them() {
        let seeds = [
            r#"{"type":"Feature","properties":{"STREET":"FOLSOM","ST_TYPE":null,"N":[1,-2.5e3,true]},"geometry":{"type":"Polygon","coordinates":[[[-122.418934120000001,37.774900001234567,0.0],[-122.4,37.7,0.0]]]}}"#,
            r#"{ "a" : [ { "b" : "x\u00e9\"y" , "c" : [ 1 , 2.5E+3 ] } , { "b" : null } ] , "skip" : { "deep" : [ [ true , false ] ] , "s" : "\\\/\b\f\n\r\t" } , "d" : false }"#,
            r#"{"a.b":{"":{"c":"0123456789abcdefghij"}},"":{"a":"x"},"x":{"y":[{"z":0},{"z":10}]}}"#,
        ];
        let idx = index(&[
            "properties.STREET",
            "properties.N",
            "a.b",
            "a.c",
            "d",
            "a.b.c",
            "a",
            "x.y.z",
            ".a",
        ]);
        let mut rng = 0x1234_5678_9ABC_DEF0u64;
        let mut next = move |n: usize| {
            rng = rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = rng;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) % n as u64) as usize
        };
        let alphabet = b"{}[]:,\"\\ 0123456789-+.eEtrufalsn\tux\x01";
        let mut accepted = 0;
        for round in 0..30_000 {
            let mut bytes = seeds[round % seeds.len()].as_bytes().to_vec();
            for _ in 0..1 + next(3) {
                let at = next(bytes.len() + 1);
                match next(3) {
                    0 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    1 if at < bytes.len() => bytes[at] = alphabet[next(alphabet.len())],
                    _ => bytes.insert(at, alphabet[next(alphabet.len())]),
                }
            }
            let Ok(text) = String::from_utf8(bytes) else {
                continue;
            };
            let theirs = serde_json::from_str::<Value>(&text);
            let ours = flatten_json(&text, &idx);
            match (&theirs, &ours) {
                (Ok(v), Ok(leaves)) if v.is_object() => {
                    accepted += 1;
                    // A damaged key can duplicate another, which serde_json's map collapses:
                    // compare leaves on the re-encoded event, and the count on the text.
                    let walked = flatten_value(v, &idx);
                    let canonical = v.to_string();
                    let scanned = flatten_json(&canonical, &idx).unwrap();
                    assert_eq!(walked.path, scanned.path, "{text}");
                    assert_eq!(walked.value, scanned.value, "{text}");
                    assert_eq!(walked.members, scanned.members, "{text}");
                    assert!(leaves.path.len() >= walked.path.len(), "{text}");
                }
                (Ok(v), Err(EventError::NotAnObject)) if !v.is_object() => {}
                (Err(_), Err(EventError::InvalidJson(_))) => {}
                // Numbers are not decoded where no rule looks (and decode to infinity where
                // one does): serde_json's "out of range" is no error here.
                (Err(e), Ok(_)) if e.to_string().contains("out of range") => {}
                _ => panic!(
                    "{text}: serde_json {theirs:?}, scanner {:?}",
                    ours.map(|l| l.value)
                ),
            }
        }
        assert!(accepted > 1000, "only {accepted} mutated events were valid");
    }

    /// Keys with dots, empty keys and paths with empty segments: the key-by-key tree walk
    /// of the scanner must reach exactly the paths the dotted-string walk reaches.
    #[test]
    fn odd_keys_reach_the_same_paths_as_dotted_strings() {
        const KEYS: &[&str] = &["a", "b", "", "a.b", ".a", "a.", "b.a", "..", "ab"];
        let mut rng = 0x0DD_CAFEu64;
        let mut next = move |n: usize| {
            rng = rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = rng;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) % n as u64) as usize
        };
        fn generate(next: &mut impl FnMut(usize) -> usize, depth: usize) -> Value {
            match if depth == 0 { 0 } else { next(4) } {
                0 => json!(next(3)),
                1 => Value::Array((0..next(3)).map(|_| generate(next, depth - 1)).collect()),
                _ => Value::Object(
                    (0..next(4))
                        .map(|_| (KEYS[next(KEYS.len())].to_owned(), generate(next, depth - 1)))
                        .collect(),
                ),
            }
        }
        for round in 0..3000 {
            let paths: Vec<String> = (0..1 + next(4))
                .map(|_| {
                    (0..1 + next(3))
                        .map(|_| KEYS[next(KEYS.len())])
                        .collect::<Vec<_>>()
                        .join(".")
                })
                .collect();
            let idx = index(&paths.iter().map(String::as_str).collect::<Vec<_>>());
            let event = Value::Object(
                (0..1 + next(4))
                    .map(|_| (KEYS[next(KEYS.len())].to_owned(), generate(&mut next, 3)))
                    .collect(),
            );
            let text = event.to_string();
            let walked = flatten_value(&event, &idx);
            let scanned = flatten_json(&text, &idx).unwrap();
            assert_eq!(walked.path, scanned.path, "round {round}: {paths:?} {text}");
            assert_eq!(
                walked.value, scanned.value,
                "round {round}: {paths:?} {text}"
            );
            assert_eq!(
                walked.members, scanned.members,
                "round {round}: {paths:?} {text}"
            );
        }
    }

    #[test]
    fn short_decimals_decode_exactly_like_str_parse() {
        let check = |text: &str| {
            let expected: f64 = text.parse().unwrap();
            if let Some(x) = decimal_to_f64(text.as_bytes()) {
                assert_eq!(x.to_bits(), expected.to_bits(), "{text}");
                true
            } else {
                false
            }
        };
        // Ties between doubles (integers past 2^53), carries into the next power of two,
        // the smallest and largest magnitudes, zeros.
        for text in [
            "9007199254740993",
            "9007199254740995",
            "18014398509481982",
            "18014398509481983",
            "72057594037927935",
            "0.1",
            "0.3",
            "-0.0",
            "0",
            "0.000000000000000001",
            "1.999999999999999999",
            "0.999999999999999999",
            "-122.418934120000001",
            "37.774900001234567",
            "123456789.0123456789",
        ] {
            assert!(check(text), "{text} should take the fast path");
        }
        for text in [
            "1e5",
            "12345678901234567890",
            "1.5E-3",
            "0.00000000000000000001",
        ] {
            assert!(!check(text), "{text} should be left to str::parse");
        }
        // Random digit strings of every length and dot position.
        let mut rng = 0xF10A7u64;
        let mut next = move || {
            rng = rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = rng;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let mut fast = 0;
        for _ in 0..300_000 {
            let len = 1 + (next() % 19) as usize;
            let mut digits: String = (0..len)
                .map(|_| char::from(b'0' + (next() % 10) as u8))
                .collect();
            if next() % 4 == 0 {
                // Runs of nines and zeros make carries and ties likelier.
                let c = if next() % 2 == 0 { "9" } else { "0" };
                let at = (next() % len as u64) as usize;
                digits.replace_range(at.., &c.repeat(len - at));
            }
            let int_len = 1 + (next() % len as u64) as usize;
            let (int, frac) = digits.split_at(int_len);
            let int = int.trim_start_matches('0');
            let int = if int.is_empty() { "0" } else { int };
            let sign = if next() % 2 == 0 { "-" } else { "" };
            let text = if frac.is_empty() {
                format!("{sign}{int}")
            } else {
                format!("{sign}{int}.{frac}")
            };
            fast += usize::from(check(&text));
        }
        assert!(fast > 250_000, "only {fast} took the fast path");
    }

    #[test]
    fn eight_digits_at_once() {
        for text in ["00000000", "12345678", "99999999", "10000001", "07060504"] {
            let v = u64::from_le_bytes(text.as_bytes().try_into().unwrap());
            assert_eq!(eight_digits(v), text.parse::<u64>().unwrap(), "{text}");
        }
    }

    #[test]
    fn kept_buffers_keep_their_allocations() {
        let idx = index(&["a"]);
        let mut scratch = Scratch::default();
        let text = String::from(r#"{"a":["x","y","z"]}"#);
        let leaves = flatten_json_with(&text, &idx, &mut scratch).unwrap();
        assert_eq!(leaves.value.len(), 3);
        let capacity = leaves.value.capacity();
        scratch.keep(leaves);
        drop(text);
        let other = String::from(r#"{"a":"w"}"#);
        let leaves = flatten_json_with(&other, &idx, &mut scratch).unwrap();
        assert_eq!(leaves.value, vec![LeafValue::Str(Cow::Borrowed("w"))]);
        assert_eq!(leaves.present, vec![true]);
        assert_eq!(leaves.value.capacity(), capacity);
    }

    #[test]
    fn word_tests_are_exact_for_every_byte() {
        for c in 0..=255u8 {
            // The byte under test sits between neighbours that could disturb carries.
            for fill in [0x00, 0x7F, 0x80, 0xFF, b'"', b'0'] {
                let mut bytes = [fill; 8];
                bytes[3] = c;
                let v = u64::from_le_bytes(bytes);
                let at = |m: u64| (m >> 24) & 0x80 != 0;
                assert_eq!(at(bytes_below(v, 0x20)), c < 0x20, "{c:#x} below 0x20");
                assert_eq!(at(bytes_below(v, 1)), c == 0, "{c:#x} zero");
                assert_eq!(at(bytes_equal(v, b'"')), c == b'"', "{c:#x} quote");
                assert_eq!(at(bytes_equal(v, b'\\')), c == b'\\', "{c:#x} backslash");
                assert_eq!(at(non_digits(v)), !c.is_ascii_digit(), "{c:#x} digit");
            }
        }
        let text = b"abcdefghij\"";
        for start in 0..text.len() {
            assert_eq!(string_stop(text, start), Some(10));
        }
        assert_eq!(string_stop(b"abcdefghijkl", 0), None);
        assert_eq!(string_stop(b"abcdefgh\x01ijkl", 2), Some(8));
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
