//! The RFC 6962 Merkle tree of receipts: reference vectors, node reads and writes.

use super::*;
use proptest::prelude::*;
use std::cell::Cell;

type MemoryTree = ReceiptTree<BTreeMap<(u8, u64), Digest32>>;

// ---- RFC 6962 reference: the recursive definitions, verbatim ----

fn ref_split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

fn ref_mth(leaves: &[Digest32]) -> Digest32 {
    match leaves.len() {
        0 => Digest32::sha256(b""),
        1 => leaves[0],
        n => {
            let k = ref_split(n);
            node_hash(&ref_mth(&leaves[..k]), &ref_mth(&leaves[k..]))
        }
    }
}

fn ref_path(m: usize, leaves: &[Digest32]) -> Vec<Digest32> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = ref_split(n);
    let (mut path, sibling) = if m < k {
        (ref_path(m, &leaves[..k]), ref_mth(&leaves[k..]))
    } else {
        (ref_path(m - k, &leaves[k..]), ref_mth(&leaves[..k]))
    };
    path.push(sibling);
    path
}

fn synthetic_leaves(n: u64) -> Vec<Digest32> {
    (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect()
}

fn tree_of(leaves: &[Digest32]) -> MemoryTree {
    let mut tree = ReceiptTree::new(BTreeMap::new(), 0);
    for (i, leaf) in leaves.iter().enumerate() {
        assert_eq!(tree.append(*leaf), i as u64);
    }
    tree
}

fn hex(text: &str) -> Digest32 {
    Digest32::from_hex(text).unwrap()
}

// ---- the tree ----

/// Certificate Transparency's reference leaves and tree heads (the RFC 6962
/// vectors in certificate-transparency and transparency-dev/merkle).
const CT_LEAVES: [&[u8]; 8] = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
];
const CT_ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

#[test]
fn certificate_transparency_vectors() {
    let leaves: Vec<Digest32> = CT_LEAVES.iter().map(|l| leaf_hash(l)).collect();
    let mut tree = ReceiptTree::new(BTreeMap::new(), 0);
    assert_eq!(tree.root(), hex(CT_ROOTS[0]));
    for (i, leaf) in leaves.iter().enumerate() {
        tree.append(*leaf);
        assert_eq!(tree.root(), hex(CT_ROOTS[i + 1]), "size {}", i + 1);
    }
    for (size, root) in CT_ROOTS.iter().enumerate() {
        assert_eq!(tree.root_at(size as u64), hex(root), "older size {size}");
    }
    // The two published audit paths in the tree of 8.
    let vectors: [(u64, [&str; 3]); 2] = [
        (
            0,
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            [
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];
    for (index, expected) in vectors {
        let expected: Vec<Digest32> = expected.iter().map(|h| hex(h)).collect();
        assert_eq!(tree.inclusion_proof(index, 8), expected);
        let root = hex(CT_ROOTS[8]);
        assert!(verify_inclusion(
            &leaves[index as usize],
            index,
            8,
            &expected,
            &root
        ));
    }
}

#[test]
fn matches_reference_for_every_size_and_index_up_to_70() {
    let leaves = synthetic_leaves(70);
    let mut tree = ReceiptTree::new(BTreeMap::new(), 0);
    for (i, leaf) in leaves.iter().enumerate() {
        tree.append(*leaf);
        assert_eq!(tree.root(), ref_mth(&leaves[..=i]));
    }
    // After all 70 appends, every older size still gives its own root and paths.
    for size in 1..=70usize {
        let prefix = &leaves[..size];
        let root = tree.root_at(size as u64);
        assert_eq!(root, ref_mth(prefix), "size {size}");
        for (index, leaf) in prefix.iter().enumerate() {
            let path = tree.inclusion_proof(index as u64, size as u64);
            assert_eq!(path, ref_path(index, prefix), "leaf {index} of {size}");
            assert!(verify_inclusion(
                leaf,
                index as u64,
                size as u64,
                &path,
                &root
            ));
        }
    }
}

#[test]
fn resumes_from_a_persisted_store_and_size() {
    let leaves = synthetic_leaves(23);
    let first = tree_of(&leaves[..10]);
    let mut resumed = ReceiptTree::new(first.into_store(), 10);
    for leaf in &leaves[10..] {
        resumed.append(*leaf);
    }
    assert_eq!(resumed.size(), 23);
    assert_eq!(resumed.root(), ref_mth(&leaves));
    assert_eq!(resumed.store(), tree_of(&leaves).store());
}

#[test]
fn borrowed_store_works() {
    let leaves = synthetic_leaves(5);
    let mut store = BTreeMap::new();
    let mut tree = ReceiptTree::new(&mut store, 0);
    for leaf in &leaves {
        tree.append(*leaf);
    }
    assert_eq!(tree.root(), ref_mth(&leaves));
    assert_eq!(store.len(), 2 * 5 - 2);
}

/// Counts the store's reads and writes.
#[derive(Default)]
struct CountingStore {
    nodes: BTreeMap<(u8, u64), Digest32>,
    reads: Cell<u64>,
    writes: u64,
}

impl NodeStore for CountingStore {
    fn get(&self, level: u8, index: u64) -> Option<Digest32> {
        self.reads.set(self.reads.get() + 1);
        NodeStore::get(&self.nodes, level, index)
    }

    fn put(&mut self, level: u8, index: u64, hash: Digest32) {
        assert!(
            self.nodes.insert((level, index), hash).is_none(),
            "node ({level}, {index}) written twice"
        );
        self.writes += 1;
    }
}

#[test]
fn appends_write_fewer_than_two_nodes_each() {
    let mut tree = ReceiptTree::new(CountingStore::default(), 0);
    for (n, leaf) in (1..=1000u64).zip(synthetic_leaves(1000)) {
        tree.append(leaf);
        let writes = tree.store().writes;
        assert!(writes < 2 * n, "{writes} writes for {n} leaves");
        assert_eq!(writes, 2 * n - u64::from(n.count_ones()));
    }
}

#[test]
fn roots_and_paths_read_few_nodes() {
    let mut tree = ReceiptTree::new(CountingStore::default(), 0);
    for leaf in synthetic_leaves(300) {
        tree.append(leaf);
    }
    for size in 1..=300u64 {
        let reads = |f: &dyn Fn()| {
            tree.store().reads.set(0);
            f();
            tree.store().reads.get()
        };
        // One stored node per complete subtree of the root's decomposition.
        assert_eq!(
            reads(&|| {
                let _ = tree.root_at(size);
            }),
            u64::from(size.count_ones())
        );
        let depth = u64::from(64 - (size - 1).leading_zeros());
        for index in 0..size {
            let n = reads(&|| {
                let _ = tree.inclusion_proof(index, size);
            });
            assert!(
                n <= depth * depth + 1,
                "{n} reads for leaf {index} of {size}"
            );
        }
    }
}

#[test]
#[should_panic(expected = "lacks node")]
fn a_missing_node_is_reported() {
    let tree: MemoryTree = ReceiptTree::new(BTreeMap::new(), 3);
    tree.root();
}

#[test]
#[should_panic(expected = "asked of a tree of 4 leaves")]
fn proof_beyond_size_panics() {
    tree_of(&synthetic_leaves(4)).inclusion_proof(4, 5);
}

#[test]
fn inclusion_rejects_wrong_inputs() {
    let leaves = synthetic_leaves(40);
    let tree = tree_of(&leaves);
    for size in 1..=40u64 {
        let root = tree.root_at(size);
        for index in 0..size {
            let leaf = leaves[index as usize];
            let path = tree.inclusion_proof(index, size);
            for other in (0..size).filter(|&o| o != index) {
                assert!(!verify_inclusion(&leaf, other, size, &path, &root));
            }
            assert!(!verify_inclusion(
                &leaf,
                index,
                size,
                &path,
                &Digest32([7; 32])
            ));
            assert!(!verify_inclusion(
                &Digest32([7; 32]),
                index,
                size,
                &path,
                &root
            ));
            let mut longer = path.clone();
            longer.push(root);
            assert!(!verify_inclusion(&leaf, index, size, &longer, &root));
            if let Some((_, shorter)) = path.split_last() {
                assert!(!verify_inclusion(&leaf, index, size, shorter, &root));
            }
            for i in 0..path.len() {
                let mut bad = path.clone();
                bad[i].0[31] ^= 0x80;
                assert!(!verify_inclusion(&leaf, index, size, &bad, &root));
            }
        }
        assert!(!verify_inclusion(&leaves[0], size, size, &[], &root));
    }
    assert!(!verify_inclusion(
        &leaves[0],
        0,
        0,
        &[],
        &Digest32::sha256(b"")
    ));
    // A lone leaf is its own root.
    assert!(verify_inclusion(&leaves[0], 0, 1, &[], &leaves[0]));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn matches_reference_for_large_trees(
        size in 1u64..3000,
        index_seed in any::<u64>(),
        older_seed in any::<u64>(),
    ) {
        let leaves = synthetic_leaves(size);
        let tree = tree_of(&leaves);
        let index = index_seed % size;
        prop_assert_eq!(tree.root(), ref_mth(&leaves));
        let path = tree.inclusion_proof(index, size);
        prop_assert_eq!(&path, &ref_path(index as usize, &leaves));
        prop_assert!(verify_inclusion(&leaves[index as usize], index, size, &path, &tree.root()));
        // An older tree head, after more appends.
        let older = 1 + older_seed % size;
        let older_index = index % older;
        let prefix = &leaves[..older as usize];
        prop_assert_eq!(tree.root_at(older), ref_mth(prefix));
        prop_assert_eq!(tree.inclusion_proof(older_index, older), ref_path(older_index as usize, prefix));
    }
}

// ---- receipts ----
