//! The compiled rule set: many named patterns matched against one event at a cost that does
//! not grow with the number of exact, prefix, suffix, equals-ignore-case and anything-but
//! rules, in the manner of event-ruler and quamina.
//!
//! Every field path used by any rule gets an index. A leaf of the event is looked up in its
//! path's index: exact values and case-folded values in hash maps, prefixes and suffixes in
//! byte tries, anything-but as "every anything-but matcher on the path minus the ones this
//! value is excluded by" (the exclusions found by the same hash maps and tries). Numeric,
//! CIDR and wildcard matchers are checked one by one, but only those on the leaf's path.
//! Each hit names a (sub-pattern, field slot, leaf); a sub-pattern matches when all its slots
//! are hit by leaves that can come from the same array elements, or allow absence and have
//! no leaf at all.
//!
//! The event is flattened only along the paths some rule uses, straight from the JSON text
//! when given text ([`super::flatten::flatten_json`]).

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::BTreeMap;

use serde_json::Value;

use super::EventPattern;
use super::cidr::IpRange;
use super::error::EventError;
use super::flatten::{
    LeafValue, Leaves, Membership, PathIndex, Scratch, consistent, flatten_json_with, flatten_value,
};
use super::fxhash::FxHashMap;
use super::model::{AnythingBut, Matcher, Scalar, fold_case};
use super::numeric::NumericRange;
use super::trie::Trie;
use super::wildcard::Wildcard;

/// A field of a sub-pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Slot {
    sub: u32,
    slot: u32,
}

/// Marks a hit that stands for "the field is absent".
const ABSENT: u32 = u32::MAX;

#[derive(Debug, Clone)]
enum Scanned {
    Numeric(NumericRange),
    Cidr(IpRange),
    Wildcard(Wildcard),
}

/// Everything the rules say about one path.
#[derive(Debug, Clone, Default)]
struct FieldIndex {
    exact_str: FxHashMap<String, Vec<Slot>>,
    exact_num: FxHashMap<u64, Vec<Slot>>,
    exact_true: Vec<Slot>,
    exact_false: Vec<Slot>,
    exact_null: Vec<Slot>,
    prefix: Trie<Slot>,
    suffix: Trie<Slot>,
    /// Whether any matcher below needs the case-folded value.
    folds: bool,
    ignore_case: FxHashMap<String, Vec<Slot>>,
    prefix_ic: Trie<Slot>,
    suffix_ic: Trie<Slot>,
    exists: Vec<Slot>,
    /// Every anything-but matcher on the path, by id.
    but: Vec<Slot>,
    but_str: FxHashMap<String, Vec<u32>>,
    but_num: FxHashMap<u64, Vec<u32>>,
    but_ic: FxHashMap<String, Vec<u32>>,
    but_prefix: Trie<u32>,
    but_suffix: Trie<u32>,
    but_wildcard: Vec<(u32, Wildcard)>,
    scanned: Vec<(Scanned, Slot)>,
}

/// Numbers are keyed by their float64 bits, with -0 folded onto 0.
fn num_key(x: f64) -> u64 {
    if x == 0.0 { 0 } else { x.to_bits() }
}

impl FieldIndex {
    fn add(&mut self, matcher: &Matcher, slot: Slot) {
        match matcher {
            Matcher::Exact(Scalar::Str(s)) => {
                self.exact_str.entry(s.clone()).or_default().push(slot)
            }
            Matcher::Exact(Scalar::Num(x)) => {
                self.exact_num.entry(num_key(*x)).or_default().push(slot)
            }
            Matcher::Exact(Scalar::Bool(true)) => self.exact_true.push(slot),
            Matcher::Exact(Scalar::Bool(false)) => self.exact_false.push(slot),
            Matcher::Exact(Scalar::Null) => self.exact_null.push(slot),
            Matcher::Prefix(p) => self.prefix.insert(p.bytes(), slot),
            Matcher::Suffix(p) => self.suffix.insert(p.bytes().rev(), slot),
            Matcher::PrefixIgnoreCase(p) => {
                self.folds = true;
                self.prefix_ic.insert(p.bytes(), slot);
            }
            Matcher::SuffixIgnoreCase(p) => {
                self.folds = true;
                self.suffix_ic.insert(p.bytes().rev(), slot);
            }
            Matcher::EqualsIgnoreCase(p) => {
                self.folds = true;
                self.ignore_case.entry(p.clone()).or_default().push(slot);
            }
            Matcher::Wildcard(w) => self.scanned.push((Scanned::Wildcard(w.clone()), slot)),
            Matcher::Numeric(r) => self.scanned.push((Scanned::Numeric(*r), slot)),
            Matcher::Cidr(r) => self.scanned.push((Scanned::Cidr(*r), slot)),
            Matcher::Exists(true) => self.exists.push(slot),
            // Absence is decided per event from the paths present, not per leaf.
            Matcher::Exists(false) => {}
            Matcher::AnythingBut(ab) => {
                let id = self.but.len() as u32;
                self.but.push(slot);
                match ab {
                    AnythingBut::Values(vs) => {
                        for v in vs {
                            match v {
                                Scalar::Str(s) => {
                                    self.but_str.entry(s.clone()).or_default().push(id)
                                }
                                Scalar::Num(x) => {
                                    self.but_num.entry(num_key(*x)).or_default().push(id)
                                }
                                Scalar::Bool(_) | Scalar::Null => {}
                            }
                        }
                    }
                    AnythingBut::IgnoreCase(vs) => {
                        self.folds = true;
                        for v in vs {
                            self.but_ic.entry(v.clone()).or_default().push(id);
                        }
                    }
                    AnythingBut::Prefix(ps) => ps
                        .iter()
                        .for_each(|p| self.but_prefix.insert(p.bytes(), id)),
                    AnythingBut::Suffix(ps) => {
                        ps.iter()
                            .for_each(|p| self.but_suffix.insert(p.bytes().rev(), id));
                    }
                    AnythingBut::Wildcard(ws) => {
                        ws.iter()
                            .for_each(|w| self.but_wildcard.push((id, w.clone())));
                    }
                }
            }
        }
    }

    /// Pushes the slots this leaf satisfies.
    fn hits(&self, value: &LeafValue<'_>, excluded: &mut Vec<u32>, mut hit: impl FnMut(Slot)) {
        excluded.clear();
        match value {
            LeafValue::Str(s) => {
                let s: &str = s;
                if !self.exact_str.is_empty()
                    && let Some(v) = self.exact_str.get(s)
                {
                    v.iter().for_each(|x| hit(*x));
                }
                if !self.prefix.is_empty() {
                    self.prefix.walk(s.bytes(), &mut hit);
                }
                if !self.suffix.is_empty() {
                    self.suffix.walk(s.bytes().rev(), &mut hit);
                }
                if self.folds {
                    // Short ASCII values are folded on the stack: no allocation per event.
                    let mut buf = [0u8; 64];
                    let folded = if s.is_ascii() && s.len() <= buf.len() {
                        let b = &mut buf[..s.len()];
                        b.copy_from_slice(s.as_bytes());
                        b.make_ascii_lowercase();
                        match std::str::from_utf8(b) {
                            Ok(f) => Cow::Borrowed(f),
                            Err(_) => fold_case(s),
                        }
                    } else {
                        fold_case(s)
                    };
                    let f: &str = &folded;
                    if !self.ignore_case.is_empty()
                        && let Some(v) = self.ignore_case.get(f)
                    {
                        v.iter().for_each(|x| hit(*x));
                    }
                    if !self.prefix_ic.is_empty() {
                        self.prefix_ic.walk(f.bytes(), &mut hit);
                    }
                    if !self.suffix_ic.is_empty() {
                        self.suffix_ic.walk(f.bytes().rev(), &mut hit);
                    }
                    if !self.but_ic.is_empty()
                        && let Some(ids) = self.but_ic.get(f)
                    {
                        excluded.extend_from_slice(ids);
                    }
                }
                if !self.but_str.is_empty()
                    && let Some(ids) = self.but_str.get(s)
                {
                    excluded.extend_from_slice(ids);
                }
                if !self.but_prefix.is_empty() {
                    self.but_prefix.walk(s.bytes(), |id| excluded.push(id));
                }
                if !self.but_suffix.is_empty() {
                    self.but_suffix
                        .walk(s.bytes().rev(), |id| excluded.push(id));
                }
                for (id, w) in &self.but_wildcard {
                    if w.matches(s) {
                        excluded.push(*id);
                    }
                }
                for (m, slot) in &self.scanned {
                    let ok = match m {
                        Scanned::Numeric(_) => false,
                        Scanned::Cidr(r) => r.contains_str(s),
                        Scanned::Wildcard(w) => w.matches(s),
                    };
                    if ok {
                        hit(*slot);
                    }
                }
            }
            LeafValue::Num(x) => {
                if !self.exact_num.is_empty()
                    && let Some(v) = self.exact_num.get(&num_key(*x))
                {
                    v.iter().for_each(|s| hit(*s));
                }
                if !self.but_num.is_empty()
                    && let Some(ids) = self.but_num.get(&num_key(*x))
                {
                    excluded.extend_from_slice(ids);
                }
                for (m, slot) in &self.scanned {
                    if let Scanned::Numeric(r) = m
                        && r.contains(*x)
                    {
                        hit(*slot);
                    }
                }
            }
            LeafValue::Bool(true) => self.exact_true.iter().for_each(|s| hit(*s)),
            LeafValue::Bool(false) => self.exact_false.iter().for_each(|s| hit(*s)),
            LeafValue::Null => self.exact_null.iter().for_each(|s| hit(*s)),
        }
        self.exists.iter().for_each(|s| hit(*s));
        if !self.but.is_empty() {
            if excluded.len() > 8 {
                excluded.sort_unstable();
            }
            for (id, slot) in self.but.iter().enumerate() {
                let id = id as u32;
                let out = if excluded.len() > 8 {
                    excluded.binary_search(&id).is_ok()
                } else {
                    excluded.contains(&id)
                };
                if !out {
                    hit(*slot);
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct SubInfo {
    rule: u32,
    slots: u32,
}

/// A set of named patterns compiled for matching many rules at once.
///
/// Cheap to clone relative to compiling; `Send + Sync`, so a router can share it behind an
/// `Arc` and swap in a rebuilt copy.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    patterns: BTreeMap<String, EventPattern>,
    rule_names: Vec<String>,
    subs: Vec<SubInfo>,
    paths: PathIndex,
    fields: Vec<FieldIndex>,
    /// Slots that are satisfied when their path has no leaf: `(path id, slot)`.
    absence: Vec<(u32, Slot)>,
}

impl RuleSet {
    /// An empty rule set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a rule, replacing any rule with the same name.
    pub fn add_rule(&mut self, name: impl Into<String>, pattern: &EventPattern) {
        let name = name.into();
        let replaced = self
            .patterns
            .insert(name.clone(), pattern.clone())
            .is_some();
        if replaced {
            self.rebuild();
        } else {
            self.compile(name, pattern);
        }
    }

    /// Removes a rule; returns whether it existed.
    pub fn remove_rule(&mut self, name: &str) -> bool {
        // Removal rebuilds the index: rules change rarely compared with how often they match.
        let removed = self.patterns.remove(name).is_some();
        if removed {
            self.rebuild();
        }
        removed
    }

    /// The number of rules.
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The pattern of a rule.
    pub fn get(&self, name: &str) -> Option<&EventPattern> {
        self.patterns.get(name)
    }

    /// The names of the rules, sorted.
    pub fn rule_names(&self) -> impl Iterator<Item = &str> {
        self.patterns.keys().map(String::as_str)
    }

    /// The names of the rules matching a decoded event, sorted and without duplicates.
    /// An event that is not an object matches nothing.
    pub fn matches(&self, event: &Value) -> Vec<String> {
        if !event.is_object() || self.patterns.is_empty() {
            return Vec::new();
        }
        with_scratch(|scratch| self.evaluate(&flatten_value(event, &self.paths), scratch))
    }

    /// The names of the rules matching an event given as JSON text (the fast path: only the
    /// fields some rule uses are decoded).
    pub fn matches_json(&self, event_json: &str) -> Result<Vec<String>, EventError> {
        with_scratch(|scratch| {
            let leaves = flatten_json_with(event_json, &self.paths, scratch)?;
            let names = if self.patterns.is_empty() {
                Vec::new()
            } else {
                self.evaluate(&leaves, scratch)
            };
            scratch.keep(leaves);
            Ok(names)
        })
    }

    fn rebuild(&mut self) {
        let patterns = std::mem::take(&mut self.patterns);
        *self = Self::default();
        for (name, pattern) in &patterns {
            self.compile(name.clone(), pattern);
        }
        self.patterns = patterns;
    }

    fn compile(&mut self, name: String, pattern: &EventPattern) {
        let rule = self.rule_names.len() as u32;
        self.rule_names.push(name);
        for sub in pattern.sub_patterns() {
            let sub_id = self.subs.len() as u32;
            self.subs.push(SubInfo {
                rule,
                slots: sub.fields.len() as u32,
            });
            for (i, field) in sub.fields.iter().enumerate() {
                let slot = Slot {
                    sub: sub_id,
                    slot: i as u32,
                };
                let path = self.paths.intern(&field.path);
                if self.fields.len() <= path as usize {
                    self.fields
                        .resize_with(path as usize + 1, FieldIndex::default);
                }
                if field.allows_absence() {
                    self.absence.push((path, slot));
                }
                for m in &field.matchers {
                    self.fields[path as usize].add(m, slot);
                }
            }
        }
    }

    fn evaluate(&self, leaves: &Leaves<'_>, scratch: &mut Scratch) -> Vec<String> {
        // (sub-pattern, slot, leaf) for every matcher a leaf satisfies.
        let hits = &mut scratch.hits;
        let excluded = &mut scratch.excluded;
        hits.clear();
        for (i, value) in leaves.value.iter().enumerate() {
            let Some(index) = self.fields.get(leaves.path[i] as usize) else {
                continue;
            };
            let leaf = i as u32;
            index.hits(value, excluded, |s| hits.push((s.sub, s.slot, leaf)));
        }
        for (path, slot) in &self.absence {
            if !leaves.present.get(*path as usize).copied().unwrap_or(false) {
                hits.push((slot.sub, slot.slot, ABSENT));
            }
        }
        // A sub-pattern with fewer hits than fields cannot match: its hits are dropped
        // before sorting. Most events hit a field that many rules share (`source`) and
        // match few rules, so this leaves a few hits to sort instead of one per rule.
        scratch.stamp = scratch.stamp.wrapping_add(1);
        if scratch.stamp == 0 {
            scratch.counts.clear();
            scratch.stamp = 1;
        }
        let stamp = scratch.stamp;
        let counts = &mut scratch.counts;
        if counts.len() < self.subs.len() {
            counts.resize(self.subs.len(), (0, 0));
        }
        for hit in hits.iter() {
            let count = &mut counts[hit.0 as usize];
            if count.0 != stamp {
                *count = (stamp, 0);
            }
            count.1 += 1;
        }
        hits.retain(|hit| counts[hit.0 as usize].1 >= self.subs[hit.0 as usize].slots);
        hits.sort_unstable();
        hits.dedup();

        let rules = &mut scratch.rules;
        rules.clear();
        let mut start = 0;
        while start < hits.len() {
            let sub = hits[start].0;
            let end = start + hits[start..].iter().take_while(|h| h.0 == sub).count();
            let group = &hits[start..end];
            start = end;
            let info = self.subs[sub as usize];
            let distinct = 1 + group.windows(2).filter(|w| w[0].1 != w[1].1).count();
            if distinct as u32 == info.slots && consistent_choice(group, leaves) {
                rules.push(info.rule);
            }
        }
        rules.sort_unstable();
        rules.dedup();
        let mut names: Vec<String> = rules
            .iter()
            .map(|&r| self.rule_names[r as usize].clone())
            .collect();
        names.sort_unstable();
        names
    }
}

thread_local! {
    /// Buffers reused by every match on this thread.
    static SCRATCH: Cell<Option<Box<Scratch>>> = const { Cell::new(None) };
}

/// Runs `f` with this thread's kept buffers (fresh ones if `f` is re-entered).
fn with_scratch<T>(f: impl FnOnce(&mut Scratch) -> T) -> T {
    let mut scratch = SCRATCH.take().unwrap_or_default();
    let out = f(&mut scratch);
    SCRATCH.set(Some(scratch));
    out
}

/// Whether one leaf per slot can be chosen so that all chosen leaves are array-consistent.
/// `group` holds the hits of one sub-pattern, sorted by slot.
fn consistent_choice(group: &[(u32, u32, u32)], leaves: &Leaves<'_>) -> bool {
    let in_arrays = |leaf: u32| leaf != ABSENT && !leaves.membership(leaf as usize).is_empty();
    // Only slots whose every hit lies in arrays constrain the choice; one such slot alone
    // can always be satisfied.
    let constraining = group
        .chunk_by(|a, b| a.1 == b.1)
        .filter(|slot_hits| slot_hits.iter().all(|h| in_arrays(h.2)))
        .count();
    if constraining <= 1 {
        return true;
    }
    let mut choices: Vec<Vec<&[Membership]>> = Vec::new();
    for slot_hits in group.chunk_by(|a, b| a.1 == b.1) {
        if slot_hits.iter().any(|h| h.2 == ABSENT) {
            continue;
        }
        choices.push(
            slot_hits
                .iter()
                .map(|h| leaves.membership(h.2 as usize))
                .collect(),
        );
    }
    // Fields outside any array constrain nothing; try the most constrained first.
    choices.retain(|c| c.iter().all(|m| !m.is_empty()));
    choices.sort_by_key(Vec::len);
    let mut chosen = Vec::new();
    pick(&choices, &mut chosen)
}

fn pick<'a>(choices: &[Vec<&'a [Membership]>], chosen: &mut Vec<&'a [Membership]>) -> bool {
    let Some((first, rest)) = choices.split_first() else {
        return true;
    };
    for &candidate in first {
        if chosen.iter().all(|c| consistent(c, candidate)) {
            chosen.push(candidate);
            if pick(rest, chosen) {
                return true;
            }
            chosen.pop();
        }
    }
    false
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn set(rules: &[(&str, &str)]) -> RuleSet {
        let mut rs = RuleSet::new();
        for (name, p) in rules {
            rs.add_rule(*name, &EventPattern::parse(p).unwrap());
        }
        rs
    }

    #[test]
    fn returns_sorted_rule_names() {
        let rs = set(&[
            ("b", r#"{"source":["x"]}"#),
            ("a", r#"{"source":[{"prefix":"x"}]}"#),
            ("c", r#"{"source":["y"]}"#),
        ]);
        assert_eq!(rs.matches(&json!({"source": "x"})), vec!["a", "b"]);
        assert_eq!(
            rs.matches_json(r#"{"source": "x"}"#).unwrap(),
            vec!["a", "b"]
        );
    }

    #[test]
    fn add_replaces_and_remove_forgets() {
        let mut rs = set(&[("r", r#"{"a":[1]}"#)]);
        assert_eq!(rs.matches(&json!({"a": 1})), vec!["r"]);
        rs.add_rule("r", &EventPattern::parse(r#"{"a":[2]}"#).unwrap());
        assert!(rs.matches(&json!({"a": 1})).is_empty());
        assert_eq!(rs.len(), 1);
        assert!(rs.remove_rule("r"));
        assert!(!rs.remove_rule("r"));
        assert!(rs.is_empty());
        assert!(rs.matches(&json!({"a": 2})).is_empty());
    }

    #[test]
    fn anything_but_with_several_matchers_on_a_field() {
        let rs = set(&[("r", r#"{"a":[{"anything-but":"x"},{"anything-but":"y"}]}"#)]);
        assert_eq!(rs.matches(&json!({"a": "x"})), vec!["r"]);
        let rs = set(&[("r", r#"{"a":[{"anything-but":["x","y"]}]}"#)]);
        assert!(rs.matches(&json!({"a": "x"})).is_empty());
        assert_eq!(rs.matches(&json!({"a": ["x", "z"]})), vec!["r"]);
    }

    #[test]
    fn absence_only_rules_match() {
        let rs = set(&[("r", r#"{"a":[{"exists":false}]}"#)]);
        assert_eq!(rs.matches(&json!({"b": 1})), vec!["r"]);
        assert!(rs.matches(&json!({"a": 1})).is_empty());
    }

    #[test]
    fn array_consistency() {
        let rs = set(&[("r", r#"{"x":{"a":[1],"b":[4]}}"#)]);
        assert!(
            rs.matches(&json!({"x": [{"a": 1, "b": 2}, {"a": 3, "b": 4}]}))
                .is_empty()
        );
        assert_eq!(rs.matches(&json!({"x": [{"a": 1, "b": 4}]})), vec!["r"]);
    }

    #[test]
    fn is_send_sync_clone() {
        fn check<T: Send + Sync + Clone>() {}
        check::<RuleSet>();
    }
}
