//! The auto-generaliser: finds segments that vary a lot, without a rule naming them.
//!
//! Every key, after the [rules](super::pattern), is a list of labels (a separator and a
//! segment). The generaliser keeps a tree of labels: the children of a node are the distinct
//! labels seen after the same (generalised) prefix, with the number of keys that went through
//! each. When a node has more than `cap` distinct children it becomes **general**: its children
//! are merged into a single `<*>` child (counts added, grandchildren merged by label, the same
//! rule applied again below), and from then on every label at that position is `<*>`.
//! At the end, a node whose children number at least four and were each seen by exactly one
//! key is generalised too (a position where every key has its own value is an id).
//!
//! **Why the result does not depend on the order keys arrive in.** The root sees every key,
//! so it becomes general exactly when the whole keyspace has more than `cap` distinct first
//! labels. A child of a non-general node sees every key with that label; the `<*>` child of a
//! general node has the union of all its former siblings' subtrees merged into it. Merging is
//! a union of label sets with added counts, which is associative and commutative, and
//! "more than `cap`" can only become true as sets grow. By induction on depth, the final tree —
//! and so every key's final pattern — is the same whatever the scan order, whether the scan ran
//! in one go, in parallel per master, or was interrupted and resumed. Aggregates are kept under
//! provisional patterns during the scan and re-folded through the final tree at the end
//! ([`Generaliser::fold`]); a provisional pattern is never more general than the final one,
//! because generalisation only grows.
//!
//! **Why memory is bounded.** A non-general node has at most `cap` children; a general node has
//! one. The tree stops growing at `max_nodes` nodes: past that, a node that would need a new
//! child is generalised instead (coarser patterns, reported as `generaliser_exhausted`; only
//! then may the result depend on order). Labels deeper than `max_depth` are not tracked and
//! their literal segments are replaced by `<*>` (so they cannot leak). Nothing here holds a key.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::pattern::{is_separator, Labels};

/// The generalised placeholder.
pub const STAR: &str = "<*>";

#[derive(Debug, Clone)]
struct Memo {
    pattern: String,
    generation: u64,
    walks: u8,
}

/// Memo entries kept at most (the memo is cleared when full).
const MEMO_MAX: usize = 1 << 16;

#[derive(Debug, Default, Clone)]
struct Node {
    count: u64,
    general: bool,
    children: HashMap<Box<str>, u32>,
    star: Option<u32>,
}

/// The bounded label tree (see the module documentation).
#[derive(Debug, Clone)]
pub struct Generaliser {
    nodes: Vec<Node>,
    /// Rule-level pattern → its provisional pattern, valid while `generation` is unchanged.
    /// A path walked twice has every node's count at 2 or more, and counts are only ever
    /// compared with 1, so a third walk would change nothing: the memo answers instead.
    memo: HashMap<String, Memo>,
    /// Bumped whenever a node is generalised (which can change provisional patterns).
    generation: u64,
    cap: usize,
    max_nodes: usize,
    max_depth: usize,
    exhausted: bool,
}

/// The generaliser as saved in a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct SavedNode {
    count: u64,
    general: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    children: BTreeMap<String, SavedNode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    star: Option<Box<SavedNode>>,
}

/// Splits a label into its separator (possibly empty) and segment.
fn split_label(label: &str) -> (&str, &str) {
    match label.as_bytes().first() {
        Some(&b) if is_separator(b) => label.split_at(1),
        _ => ("", label),
    }
}

/// Splits a (provisional) pattern back into labels.
pub(crate) fn labels_of(pattern: &str) -> Vec<&str> {
    let bytes = pattern.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        // Exactly as the normaliser splits: a leading separator leaves an empty first label.
        if is_separator(b) {
            out.push(&pattern[start..i]);
            start = i;
        }
    }
    out.push(&pattern[start..]);
    out
}

fn is_placeholder(seg: &str) -> bool {
    seg.is_empty() || (seg.len() > 2 && seg.starts_with('<') && seg.ends_with('>'))
}

impl Generaliser {
    /// A generaliser that generalises a position after `cap` distinct values (0: never), with
    /// at most `max_nodes` tree nodes and `max_depth` tracked labels per key.
    pub fn new(cap: usize, max_nodes: usize, max_depth: usize) -> Generaliser {
        Generaliser {
            nodes: vec![Node::default()],
            memo: HashMap::new(),
            generation: 0,
            cap,
            max_nodes: max_nodes.max(1),
            max_depth,
            exhausted: false,
        }
    }

    /// True when the node budget ran out and some patterns are coarser than they would be.
    pub fn exhausted(&self) -> bool {
        self.exhausted
    }

    /// Nodes in use (reachable or not).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    fn new_node(&mut self) -> u32 {
        self.nodes.push(Node::default());
        (self.nodes.len() - 1) as u32
    }

    fn attach_star(&mut self, n: u32, c: u32) {
        match self.nodes[n as usize].star {
            None => self.nodes[n as usize].star = Some(c),
            Some(s) => self.merge(s, c),
        }
    }

    fn collapse(&mut self, n: u32) {
        if self.nodes[n as usize].general {
            return;
        }
        self.generation += 1;
        self.nodes[n as usize].general = true;
        let children = std::mem::take(&mut self.nodes[n as usize].children);
        let mut ids: Vec<(Box<str>, u32)> = children.into_iter().collect();
        // Merge in a fixed order so node ids do not depend on hash order.
        ids.sort();
        for (_, c) in ids {
            self.attach_star(n, c);
        }
    }

    fn merge(&mut self, dst: u32, src: u32) {
        if dst == src {
            return;
        }
        let count = self.nodes[src as usize].count;
        self.nodes[dst as usize].count += count;
        let src_general = self.nodes[src as usize].general;
        let src_children = std::mem::take(&mut self.nodes[src as usize].children);
        let src_star = self.nodes[src as usize].star.take();
        let mut src_children: Vec<(Box<str>, u32)> = src_children.into_iter().collect();
        src_children.sort();
        if src_general && !self.nodes[dst as usize].general {
            self.collapse(dst);
        }
        if self.nodes[dst as usize].general {
            for (_, c) in src_children {
                self.attach_star(dst, c);
            }
            if let Some(c) = src_star {
                self.attach_star(dst, c);
            }
        } else {
            for (label, c) in src_children {
                match self.nodes[dst as usize].children.get(&label).copied() {
                    Some(d) => self.merge(d, c),
                    None => {
                        self.nodes[dst as usize].children.insert(label, c);
                    }
                }
            }
            if self.cap > 0 && self.nodes[dst as usize].children.len() > self.cap {
                self.collapse(dst);
            }
        }
    }

    /// Records one key's labels; returns its provisional pattern.
    pub fn observe(&mut self, labels: &Labels) -> String {
        if let Some(m) = self.memo.get(labels.as_str()) {
            if m.generation == self.generation && m.walks >= 2 {
                return m.pattern.clone();
            }
        }
        let pattern = self.walk(labels);
        if self.memo.len() >= MEMO_MAX {
            self.memo.clear();
        }
        let generation = self.generation;
        match self.memo.get_mut(labels.as_str()) {
            Some(m) => {
                m.walks = if m.generation == generation {
                    m.walks.saturating_add(1)
                } else {
                    1
                };
                m.generation = generation;
                m.pattern.clone_from(&pattern);
            }
            None => {
                self.memo.insert(
                    labels.as_str().to_owned(),
                    Memo {
                        pattern: pattern.clone(),
                        generation,
                        walks: 1,
                    },
                );
            }
        }
        pattern
    }

    fn walk(&mut self, labels: &Labels) -> String {
        let mut out = String::with_capacity(labels.as_str().len() + 8);
        let mut node: u32 = 0;
        self.nodes[0].count += 1;
        for (depth, label) in labels.iter().enumerate() {
            let (sep, seg) = split_label(label);
            if depth >= self.max_depth {
                out.push_str(sep);
                out.push_str(if is_placeholder(seg) { seg } else { STAR });
                continue;
            }
            if !self.nodes[node as usize].general {
                let existing = self.nodes[node as usize].children.get(label).copied();
                match existing {
                    Some(c) => {
                        out.push_str(label);
                        node = c;
                        self.nodes[node as usize].count += 1;
                        continue;
                    }
                    None => {
                        let full =
                            self.cap > 0 && self.nodes[node as usize].children.len() >= self.cap;
                        if self.nodes.len() >= self.max_nodes {
                            self.exhausted = true;
                            self.collapse(node);
                        } else {
                            let c = self.new_node();
                            self.nodes[node as usize].children.insert(label.into(), c);
                            if full {
                                self.collapse(node);
                            } else {
                                out.push_str(label);
                                node = c;
                                self.nodes[node as usize].count += 1;
                                continue;
                            }
                        }
                    }
                }
            }
            // A general node.
            out.push_str(sep);
            out.push_str(STAR);
            let star = match self.nodes[node as usize].star {
                Some(s) => s,
                None => {
                    let s = self.new_node();
                    self.nodes[node as usize].star = Some(s);
                    s
                }
            };
            node = star;
            self.nodes[node as usize].count += 1;
        }
        out
    }

    /// Applies the end-of-scan rule (positions where every key has its own value, at least
    /// four of them, become `<*>`), top down.
    pub fn finish(&mut self) {
        self.memo.clear();
        let mut stack = vec![0u32];
        while let Some(n) = stack.pop() {
            let node = &self.nodes[n as usize];
            if !node.general
                && node.children.len() >= 4
                && node
                    .children
                    .values()
                    .all(|&c| self.nodes[c as usize].count == 1)
            {
                self.collapse(n);
            }
            let node = &self.nodes[n as usize];
            stack.extend(node.children.values().copied());
            stack.extend(node.star);
        }
    }

    /// The final pattern of a provisional pattern, under the tree as it is now.
    pub fn fold(&self, pattern: &str) -> String {
        let mut out = String::with_capacity(pattern.len());
        let mut node = Some(0u32);
        for (depth, label) in labels_of(pattern).into_iter().enumerate() {
            let (sep, seg) = split_label(label);
            match node {
                Some(n) if depth < self.max_depth => {
                    let nd = &self.nodes[n as usize];
                    if nd.general {
                        out.push_str(sep);
                        out.push_str(STAR);
                        node = nd.star;
                    } else {
                        out.push_str(label);
                        node = nd.children.get(label).copied();
                    }
                }
                _ => {
                    out.push_str(sep);
                    out.push_str(if is_placeholder(seg) { seg } else { STAR });
                    node = None;
                }
            }
        }
        out
    }

    /// The tree as saved in a checkpoint (reachable nodes only).
    pub fn save(&self) -> SavedNode {
        self.save_node(0)
    }

    fn save_node(&self, n: u32) -> SavedNode {
        let node = &self.nodes[n as usize];
        SavedNode {
            count: node.count,
            general: node.general,
            children: node
                .children
                .iter()
                .map(|(k, &c)| (k.to_string(), self.save_node(c)))
                .collect(),
            star: node.star.map(|s| Box::new(self.save_node(s))),
        }
    }

    /// Restores a saved tree (with this generaliser's limits).
    pub fn restore(&mut self, saved: &SavedNode, exhausted: bool) {
        self.nodes = vec![Node::default()];
        self.memo.clear();
        self.generation += 1;
        self.exhausted = exhausted;
        self.restore_into(0, saved);
    }

    fn restore_into(&mut self, n: u32, saved: &SavedNode) {
        self.nodes[n as usize].count = saved.count;
        self.nodes[n as usize].general = saved.general;
        for (label, child) in &saved.children {
            let c = self.new_node();
            self.nodes[n as usize]
                .children
                .insert(label.as_str().into(), c);
            self.restore_into(c, child);
        }
        if let Some(star) = &saved.star {
            let s = self.new_node();
            self.nodes[n as usize].star = Some(s);
            self.restore_into(s, star);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzer::pattern::Normaliser;

    fn run(keys: &[String], cap: usize) -> Vec<String> {
        let n = Normaliser::new(Vec::new()).unwrap();
        let mut g = Generaliser::new(cap, 10_000, 32);
        let prov: Vec<String> = keys
            .iter()
            .map(|k| g.observe(&n.labels(k.as_bytes())))
            .collect();
        g.finish();
        prov.iter().map(|p| g.fold(p)).collect()
    }

    #[test]
    fn varying_segment_becomes_star() {
        let mut keys: Vec<String> = (0..200)
            .map(|i| {
                format!(
                    "upload:{}:state",
                    ["ab", "cd", "ef", "gh"][i % 4].to_string() + &"q".repeat(i % 50 + 1)
                )
            })
            .collect();
        keys.push("cfg:main".into());
        keys.push("cfg:main".into());
        let out = run(&keys, 16);
        assert!(
            out[..200].iter().all(|p| p == "upload:<*>:state"),
            "{:?}",
            &out[..3]
        );
        assert_eq!(out[200], "cfg:main");
    }

    #[test]
    fn order_does_not_matter() {
        let mut keys: Vec<String> = Vec::new();
        for i in 0..40 {
            keys.push(format!("a:w{}:x", i % 20));
            keys.push(format!("b:{}:y{}", ["p", "q"][i % 2], i % 3));
        }
        let fwd = run(&keys, 8);
        let mut rev = keys.clone();
        rev.reverse();
        let mut back = run(&rev, 8);
        back.reverse();
        assert_eq!(fwd, back);
        assert!(fwd.contains(&"a:<*>:x".to_string()));
        assert!(fwd.contains(&"b:p:y0".to_string()));
    }

    #[test]
    fn singletons_are_ids() {
        let keys: Vec<String> = ["lock:deploy", "lock:build", "lock:test", "lock:release"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(run(&keys, 64).iter().all(|p| p == "lock:<*>"));
        let tags: Vec<String> = (0..10).map(|i| format!("{{t:{i}}}:s")).collect();
        assert!(run(&tags, 64).iter().all(|p| p == "{t:<num>}:s"));
        let few: Vec<String> = ["k:a", "k:a", "k:b", "k:b"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(run(&few, 64), few);
    }

    #[test]
    fn budget_is_respected_and_saved_tree_round_trips() {
        let n = Normaliser::new(Vec::new()).unwrap();
        let mut g = Generaliser::new(1000, 50, 32);
        for i in 0..500 {
            g.observe(&n.labels(format!("p{}:s{}:t{}", i % 7, i % 13, i % 11).as_bytes()));
        }
        assert!(g.exhausted());
        assert!(g.node_count() < 50 + 32 * 50);
        let saved = g.save();
        let mut h = Generaliser::new(1000, 50, 32);
        h.restore(&saved, true);
        assert_eq!(h.fold("p1:s1:t1"), g.fold("p1:s1:t1"));
        assert_eq!(
            serde_json::to_string(&h.save()).unwrap(),
            serde_json::to_string(&saved).unwrap()
        );
    }

    #[test]
    fn deep_labels_are_masked() {
        let n = Normaliser::new(Vec::new()).unwrap();
        let mut g = Generaliser::new(64, 1000, 2);
        let p = g.observe(&n.labels(b"a:b:secret:<num>"));
        assert_eq!(p, "a:b:<*>:<num>");
    }
}
