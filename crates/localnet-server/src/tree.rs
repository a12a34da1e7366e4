//! The system state tree and its witnesses.
//!
//! A [`Node`] is the labeled tree of the spec ("The system state tree"); a
//! subtree whose contents are never revealed can be held as its hash alone
//! ([`Node::Opaque`]). [`witness`] turns it into the hash tree of a certificate:
//! every value under a requested path is revealed, a requested label that does
//! not exist is proven absent by revealing its neighbours, and everything else is
//! pruned to its hash, so the root hash is that of the whole tree.

use ic_certification::hash_tree::{
    empty, fork, fork_hash, label, labeled_hash, leaf, leaf_hash, pruned, Hash, HashTree,
};
use std::collections::BTreeMap;

pub enum Node {
    Leaf(Vec<u8>),
    Sub(BTreeMap<Vec<u8>, Node>),
    /// A subtree known only by its hash (never revealed).
    Opaque(Hash),
}

impl Node {
    pub fn sub() -> Self {
        Node::Sub(BTreeMap::new())
    }

    /// Inserts a child; `self` must be a `Sub`.
    pub fn insert(&mut self, l: impl Into<Vec<u8>>, child: Node) -> &mut Node {
        let Node::Sub(map) = self else {
            panic!("insert into a leaf")
        };
        let key = l.into();
        map.insert(key.clone(), child);
        map.get_mut(&key).expect("just inserted")
    }

    pub fn digest(&self) -> Hash {
        match self {
            Node::Leaf(v) => leaf_hash(v),
            Node::Opaque(h) => *h,
            Node::Sub(map) => {
                let entries: Vec<(&Vec<u8>, &Node)> = map.iter().collect();
                forest_digest(&entries)
            }
        }
    }
}

/// The hash of the balanced fork tree over sorted labeled entries.
fn forest_digest(entries: &[(&Vec<u8>, &Node)]) -> Hash {
    match entries.len() {
        0 => empty::<Vec<u8>>().digest(),
        1 => labeled_hash(entries[0].0, &entries[0].1.digest()),
        n => {
            let (l, r) = entries.split_at(n / 2);
            fork_hash(&forest_digest(l), &forest_digest(r))
        }
    }
}

/// What to reveal of one entry of a map.
enum Reveal<'p> {
    /// Hash only (part of a pruned fork).
    No,
    /// The label, with its subtree pruned (a neighbour proving absence).
    Label,
    /// The label and the witness of the subtree for these remaining paths.
    Paths(Vec<&'p [Vec<u8>]>),
}

/// The witness of `node` for `paths` (relative to `node`).
pub fn witness(node: &Node, paths: &[&[Vec<u8>]]) -> HashTree<Vec<u8>> {
    if paths.is_empty() {
        return pruned(node.digest());
    }
    if paths.iter().any(|p| p.is_empty()) {
        return full(node);
    }
    match node {
        // A path that goes on below a value reveals the value.
        Node::Leaf(v) => leaf(v.clone()),
        Node::Opaque(h) => pruned(*h),
        Node::Sub(map) => {
            let entries: Vec<(&Vec<u8>, &Node)> = map.iter().collect();
            let mut reveal: Vec<Reveal<'_>> = entries.iter().map(|_| Reveal::No).collect();
            for path in paths {
                let (first, rest) = path.split_first().expect("non-empty");
                match entries.binary_search_by(|(k, _)| k.as_slice().cmp(first.as_slice())) {
                    Ok(i) => match &mut reveal[i] {
                        Reveal::Paths(list) => list.push(rest),
                        other => *other = Reveal::Paths(vec![rest]),
                    },
                    Err(i) => {
                        // Absent: reveal the neighbours on both sides.
                        for j in [i.checked_sub(1), Some(i)].into_iter().flatten() {
                            if j < entries.len() && matches!(reveal[j], Reveal::No) {
                                reveal[j] = Reveal::Label;
                            }
                        }
                    }
                }
            }
            build(&entries, &reveal)
        }
    }
}

fn build(entries: &[(&Vec<u8>, &Node)], reveal: &[Reveal<'_>]) -> HashTree<Vec<u8>> {
    if entries.is_empty() {
        return empty();
    }
    if reveal.iter().all(|r| matches!(r, Reveal::No)) {
        return pruned(forest_digest(entries));
    }
    if entries.len() == 1 {
        let (l, node) = entries[0];
        return match &reveal[0] {
            Reveal::No => unreachable!("handled above"),
            Reveal::Label => label(l.clone(), pruned(node.digest())),
            Reveal::Paths(paths) => label(l.clone(), witness(node, paths)),
        };
    }
    let mid = entries.len() / 2;
    fork(
        build(&entries[..mid], &reveal[..mid]),
        build(&entries[mid..], &reveal[mid..]),
    )
}

fn full(node: &Node) -> HashTree<Vec<u8>> {
    match node {
        Node::Leaf(v) => leaf(v.clone()),
        Node::Opaque(h) => pruned(*h),
        Node::Sub(map) => {
            let entries: Vec<(&Vec<u8>, &Node)> = map.iter().collect();
            let all: Vec<Reveal<'_>> = entries.iter().map(|_| Reveal::Paths(vec![&[]])).collect();
            build(&entries, &all)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ic_certification::LookupResult;

    fn sample() -> Node {
        let mut root = Node::sub();
        root.insert("time", Node::Leaf(vec![1]));
        let rs = root.insert("request_status", Node::sub());
        for i in 0u8..9 {
            let r = rs.insert(vec![i * 2], Node::sub());
            r.insert("status", Node::Leaf(b"replied".to_vec()));
            r.insert("reply", Node::Leaf(vec![i]));
        }
        root
    }

    #[test]
    fn witnesses_keep_the_root_hash_and_reveal_only_what_was_asked() {
        let tree = sample();
        let path = [b"request_status".to_vec(), vec![4]];
        let w = witness(&tree, &[&path[..], &[b"time".to_vec()][..]]);
        assert_eq!(w.digest(), tree.digest());
        assert_eq!(full(&tree).digest(), tree.digest());
        assert_eq!(
            w.lookup_path([b"request_status".as_slice(), &[4], b"reply"]),
            LookupResult::Found(&[2][..])
        );
        assert_eq!(
            w.lookup_path([b"time".as_slice()]),
            LookupResult::Found(&[1][..])
        );
        assert!(matches!(
            w.lookup_path([b"request_status".as_slice(), &[6], b"reply"]),
            LookupResult::Unknown
        ));
    }

    #[test]
    fn absent_labels_are_provably_absent() {
        let tree = sample();
        for missing in [vec![5u8], vec![0xff], vec![], vec![3, 0]] {
            let path = [
                b"request_status".to_vec(),
                missing.clone(),
                b"status".to_vec(),
            ];
            let w = witness(&tree, &[&path[..]]);
            assert_eq!(w.digest(), tree.digest());
            assert_eq!(
                w.lookup_path([b"request_status".as_slice(), &missing, b"status"]),
                LookupResult::Absent,
                "{missing:?}"
            );
        }
        let w = witness(&tree, &[&[b"zzz".to_vec()][..]]);
        assert_eq!(w.lookup_path([b"zzz".as_slice()]), LookupResult::Absent);
    }
}
