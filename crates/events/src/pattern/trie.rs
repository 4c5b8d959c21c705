//! A byte trie used to find every stored prefix of a value in one pass over the value,
//! whatever the number of stored prefixes (suffixes are stored reversed).

/// Maps byte strings to payloads; [`Trie::walk`] visits the payloads of every stored key
/// that is a prefix of the input.
#[derive(Debug, Clone)]
pub(crate) struct Trie<T> {
    nodes: Vec<Node<T>>,
}

#[derive(Debug, Clone)]
struct Node<T> {
    /// Sorted by byte; nodes are small, so a sorted vector beats a map.
    children: Vec<(u8, u32)>,
    payloads: Vec<T>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Self {
            children: Vec::new(),
            payloads: Vec::new(),
        }
    }
}

impl<T> Default for Trie<T> {
    fn default() -> Self {
        Self {
            nodes: vec![Node::default()],
        }
    }
}

impl<T: Copy> Trie<T> {
    /// Stores `payload` under `key`.
    pub(crate) fn insert(&mut self, key: impl IntoIterator<Item = u8>, payload: T) {
        let mut at = 0usize;
        for b in key {
            let node = &self.nodes[at];
            at = match node.children.binary_search_by_key(&b, |c| c.0) {
                Ok(i) => node.children[i].1 as usize,
                Err(i) => {
                    let id = self.nodes.len();
                    self.nodes[at].children.insert(i, (b, id as u32));
                    self.nodes.push(Node::default());
                    id
                }
            };
        }
        self.nodes[at].payloads.push(payload);
    }

    /// Whether nothing is stored.
    pub(crate) fn is_empty(&self) -> bool {
        self.nodes.len() == 1 && self.nodes[0].payloads.is_empty()
    }

    /// Calls `f` with the payloads of every stored key that is a prefix of `input`.
    pub(crate) fn walk(&self, input: impl IntoIterator<Item = u8>, mut f: impl FnMut(T)) {
        let mut at = 0usize;
        self.nodes[0].payloads.iter().for_each(|p| f(*p));
        for b in input {
            let node = &self.nodes[at];
            match node.children.binary_search_by_key(&b, |c| c.0) {
                Ok(i) => at = node.children[i].1 as usize,
                Err(_) => return,
            }
            self.nodes[at].payloads.iter().for_each(|p| f(*p));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_all_prefixes() {
        let mut t = Trie::default();
        t.insert(*b"ab", 1);
        t.insert(*b"abc", 2);
        t.insert(*b"b", 3);
        t.insert(*b"", 4);
        let mut seen = Vec::new();
        t.walk(*b"abcd", |p| seen.push(p));
        assert_eq!(seen, vec![4, 1, 2]);
        let mut seen = Vec::new();
        t.walk(b"dcba".iter().rev().copied(), |p| seen.push(p));
        assert_eq!(seen, vec![4, 1, 2]);
    }
}
