//! The `wildcard` operator: `*` matches any run of characters, `\*` and `\\` are literals.
//!
//! Parsing rejects consecutive `*` and bad escapes with event-ruler's positions (counted in
//! the quoted value, as event-ruler sees it), and rejects patterns whose automaton could be in
//! too many states at once (event-ruler's "Rule is too complex" guard, reimplemented as the
//! largest set of simultaneously active NFA states over any input).

use std::collections::{BTreeSet, HashSet, VecDeque};

use super::error::PatternError;

/// The complexity above which a wildcard pattern is rejected.
const MAX_COMPLEXITY: usize = 10;
/// How many distinct state sets the complexity search explores before giving up (accepting).
const MAX_EXPLORED_SETS: usize = 4096;

/// A parsed wildcard pattern: literal segments separated by `*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Wildcard {
    /// `segments.len() == stars + 1`; a pattern `a*b` is `["a", "b"]`.
    segments: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Byte(u8),
    Star,
}

impl Wildcard {
    /// Parses and validates a wildcard pattern.
    pub(crate) fn parse(text: &str) -> Result<Self, PatternError> {
        let tokens = tokenize(text)?;
        let mut quoted = Vec::with_capacity(tokens.len() + 2);
        quoted.push(Token::Byte(b'"'));
        quoted.extend_from_slice(&tokens);
        quoted.push(Token::Byte(b'"'));
        if complexity(&quoted) > MAX_COMPLEXITY {
            return Err(PatternError::new(
                "Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a wildcard character",
            ));
        }
        let mut segments = vec![Vec::new()];
        for t in tokens {
            match t {
                Token::Byte(b) => {
                    if let Some(last) = segments.last_mut() {
                        last.push(b);
                    }
                }
                Token::Star => segments.push(Vec::new()),
            }
        }
        Ok(Self { segments })
    }

    /// Whether `value` matches the whole pattern.
    pub(crate) fn matches(&self, value: &str) -> bool {
        let v = value.as_bytes();
        let (first, rest) = match self.segments.split_first() {
            Some(x) => x,
            None => return v.is_empty(),
        };
        let Some((last, middle)) = rest.split_last() else {
            return v == first.as_slice();
        };
        if v.len() < first.len() + last.len() || !v.starts_with(first) || !v.ends_with(last) {
            return false;
        }
        // Leftmost placement of each middle segment is optimal for a `*`-only glob.
        let mut window = &v[first.len()..v.len() - last.len()];
        for seg in middle {
            match find(window, seg) {
                Some(at) => window = &window[at + seg.len()..],
                None => return false,
            }
        }
        true
    }
}

/// The first position of `needle` in `haystack`, in time linear in both (Knuth–Morris–
/// Pratt): a comparison window by window costs their product, and a 256 KiB value against a
/// 2,000-byte segment would cost half a billion comparisons for one rule. With this, a
/// wildcard costs one pass over the value whatever the pattern, so one event costs a fixed
/// budget per rule.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    // failure[i]: length of the longest proper border of needle[..=i].
    let mut failure = vec![0usize; needle.len()];
    let mut k = 0;
    for i in 1..needle.len() {
        while k > 0 && needle[i] != needle[k] {
            k = failure[k - 1];
        }
        if needle[i] == needle[k] {
            k += 1;
        }
        failure[i] = k;
    }
    let mut matched = 0;
    for (i, &b) in haystack.iter().enumerate() {
        while matched > 0 && b != needle[matched] {
            matched = failure[matched - 1];
        }
        if b == needle[matched] {
            matched += 1;
        }
        if matched == needle.len() {
            return Some(i + 1 - needle.len());
        }
    }
    None
}

fn tokenize(text: &str) -> Result<Vec<Token>, PatternError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'*' => {
                if tokens.last() == Some(&Token::Star) {
                    // Positions count the opening quote event-ruler adds around the value.
                    return Err(PatternError::new(format!(
                        "Consecutive wildcard characters at pos {i}"
                    )));
                }
                tokens.push(Token::Star);
            }
            b'\\' => match bytes.get(i + 1) {
                Some(&c @ (b'*' | b'\\')) => {
                    tokens.push(Token::Byte(c));
                    i += 1;
                }
                _ => {
                    return Err(PatternError::new(format!(
                        "Invalid escape character at pos {}",
                        i + 1
                    )));
                }
            },
            b => tokens.push(Token::Byte(b)),
        }
        i += 1;
    }
    Ok(tokens)
}

/// The largest number of NFA states that can be active at once for some input.
fn complexity(tokens: &[Token]) -> usize {
    if !tokens.contains(&Token::Star) {
        return 0;
    }
    let n = tokens.len();
    let closure = |set: &mut BTreeSet<usize>| {
        let mut stack: Vec<usize> = set.iter().copied().collect();
        while let Some(p) = stack.pop() {
            if p < n && tokens[p] == Token::Star && set.insert(p + 1) {
                stack.push(p + 1);
            }
        }
    };
    let mut alphabet: Vec<u8> = tokens
        .iter()
        .filter_map(|t| match t {
            Token::Byte(b) => Some(*b),
            Token::Star => None,
        })
        .collect::<BTreeSet<u8>>()
        .into_iter()
        .collect();
    // One byte that appears nowhere stands for every other byte.
    if let Some(other) = (0u8..=255).find(|b| !alphabet.contains(b)) {
        alphabet.push(other);
    }
    let mut start = BTreeSet::from([0usize]);
    closure(&mut start);
    let mut seen: HashSet<Vec<usize>> = HashSet::new();
    let mut queue = VecDeque::from([start]);
    let mut max = 0;
    while let Some(set) = queue.pop_front() {
        max = max.max(set.len());
        if max > MAX_COMPLEXITY || seen.len() >= MAX_EXPLORED_SETS {
            break;
        }
        for &b in &alphabet {
            let mut next = BTreeSet::new();
            for &p in &set {
                match tokens.get(p) {
                    Some(Token::Star) => {
                        next.insert(p);
                    }
                    Some(Token::Byte(c)) if *c == b => {
                        next.insert(p + 1);
                    }
                    _ => {}
                }
            }
            closure(&mut next);
            if next.is_empty() {
                continue;
            }
            if seen.insert(next.iter().copied().collect()) {
                queue.push_back(next);
            }
        }
    }
    max
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn m(p: &str, v: &str) -> bool {
        Wildcard::parse(p).unwrap().matches(v)
    }

    #[test]
    fn find_is_the_first_occurrence() {
        let naive = |h: &[u8], n: &[u8]| {
            if n.is_empty() {
                return Some(0);
            }
            h.windows(n.len()).position(|w| w == n)
        };
        let texts: [&[u8]; 9] = [
            b"",
            b"a",
            b"aa",
            b"aab",
            b"abab",
            b"ababc",
            b"aabaabaaab",
            b"xyz",
            b"baaab",
        ];
        for h in texts {
            for n in texts {
                assert_eq!(find(h, n), naive(h, n), "{h:?} {n:?}");
            }
        }
        // Linear: a long periodic value against a long segment that almost matches.
        let value = "a".repeat(256 * 1024);
        let segment = format!("{}b", "a".repeat(2000));
        assert_eq!(find(value.as_bytes(), segment.as_bytes()), None);
    }

    #[test]
    fn matches_globs() {
        assert!(m("/Users/*/doc.txt", "/Users/ls_user/dir/dir/doc.txt"));
        assert!(!m("/Users/*/doc.txt", "/Users/ls_user/notdoc.txt/x"));
        assert!(m("*/init/*", "dir/init/file"));
        assert!(m("a*b*c", "abc"));
        assert!(!m("a*b*c", "ab"));
        assert!(m("", ""));
        assert!(!m("", "x"));
        assert!(m("*", ""));
        assert!(m(r"a\*b", "a*b"));
        assert!(!m(r"a\*b", "axb"));
        assert!(m(r"a\\*", r"a\zzz"));
        assert!(m(
            "/Users/*/dir/dir/dir/dir/dir/doc.txt",
            "/Users/ls_user/dir/dir/dir/dir/dir/doc.txt"
        ));
    }

    #[test]
    fn rejects_like_aws() {
        let reason = |p: &str| Wildcard::parse(p).unwrap_err().reason().to_owned();
        assert_eq!(
            reason("arn:aws:events:us-east-1:**:event-bus/*"),
            "Consecutive wildcard characters at pos 26"
        );
        assert!(reason("*:*:*:*:*:event-bus/*").starts_with("Rule is too complex"));
        assert_eq!(reason(r"a\b"), "Invalid escape character at pos 2");
    }

    #[test]
    fn accepts_realistic_patterns() {
        for p in [
            "arn:aws:events:us-east-1:*:event-bus/*",
            "/Users/*/dir/dir/dir/dir/dir/doc.txt",
            "*.png",
            "*/datasync/*.tif",
        ] {
            assert!(Wildcard::parse(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn complexity_values() {
        let c = |p: &str| {
            let mut t = vec![Token::Byte(b'"')];
            t.extend(tokenize(p).unwrap());
            t.push(Token::Byte(b'"'));
            complexity(&t)
        };
        assert!(c("/Users/*/dir/dir/dir/dir/dir/doc.txt") <= MAX_COMPLEXITY);
        assert!(c("*:*:*:*:*:event-bus/*") > MAX_COMPLEXITY);
    }
}
