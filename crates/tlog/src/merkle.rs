//! RFC 9162 §2.1 Merkle trees: hashing, the tree head of any range from stored perfect
//! subtrees, inclusion and consistency proofs and their verification, and the frontier
//! an append-only log keeps to append in O(log n).

use std::cell::RefCell;
use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A SHA-256 hash: a leaf's, a node's or a tree head.
pub type Hash = [u8; 32];

/// The head of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1).
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41,
    0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// The hash of a leaf: SHA-256(0x00 || data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    Sha256::new().chain_update([0x00]).chain_update(data).finalize().into()
}

/// The hash of an interior node: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new().chain_update([0x01]).chain_update(left).chain_update(right).finalize().into()
}

/// A hash from its 64 hex characters, as stores keep them.
pub fn hash_from_hex(text: &str) -> Option<Hash> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash).ok()?;
    Some(hash)
}

/// A perfect subtree: the head of the 2^`level` leaves starting at `index`·2^`level`
/// (level 0 holds the leaf hashes themselves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    /// Height above the leaves.
    pub level: u8,
    /// Position among the nodes of that level.
    pub index: u64,
    /// Its hash.
    pub hash: Hash,
}

/// Where the perfect subtrees of a tree are kept (a database table, a map).
pub trait NodeSource {
    /// The hash of the perfect subtree at `level`, `index`.
    fn node(&self, level: u8, index: u64) -> Result<Hash>;
}

impl NodeSource for HashMap<(u8, u64), Hash> {
    fn node(&self, level: u8, index: u64) -> Result<Hash> {
        self.get(&(level, index)).copied().ok_or(Error::MissingNode { level, index })
    }
}

/// The largest power of two smaller than `n` (n > 1): where RFC 9162 splits a range.
fn split(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// The tree head of the leaves `start..end` (RFC 9162's MTH(D[start:end])), from the
/// perfect subtrees it decomposes into: O(log n) of them.
pub fn subtree_hash(src: &dyn NodeSource, start: u64, end: u64) -> Result<Hash> {
    let n = end.checked_sub(start).ok_or_else(|| Error::Range(format!("range {start}..{end} is reversed")))?;
    if n == 0 {
        return Ok(EMPTY_ROOT);
    }
    if n.is_power_of_two() && start.is_multiple_of(n) {
        return src.node(n.trailing_zeros() as u8, start / n);
    }
    let k = split(n);
    Ok(node_hash(&subtree_hash(src, start, start + k)?, &subtree_hash(src, start + k, end)?))
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162 §2.1.3.1),
/// from the leaf's sibling up.
pub fn inclusion_proof(src: &dyn NodeSource, index: u64, size: u64) -> Result<Vec<Hash>> {
    if index >= size {
        return Err(Error::Range(format!("leaf {index} is not in a tree of {size}")));
    }
    fn path(src: &dyn NodeSource, m: u64, start: u64, end: u64, out: &mut Vec<Hash>) -> Result<()> {
        let n = end - start;
        if n <= 1 {
            return Ok(());
        }
        let k = split(n);
        if m < k {
            path(src, m, start, start + k, out)?;
            out.push(subtree_hash(src, start + k, end)?);
        } else {
            path(src, m - k, start + k, end, out)?;
            out.push(subtree_hash(src, start, start + k)?);
        }
        Ok(())
    }
    let mut out = Vec::new();
    path(src, index, 0, size, &mut out)?;
    Ok(out)
}

/// The consistency proof between the trees of `old` and `new` leaves (RFC 9162 §2.1.4.1);
/// empty when `old` is 0 or equals `new`.
pub fn consistency_proof(src: &dyn NodeSource, old: u64, new: u64) -> Result<Vec<Hash>> {
    if old > new {
        return Err(Error::Range(format!("a tree of {old} cannot precede one of {new}")));
    }
    fn subproof(src: &dyn NodeSource, m: u64, start: u64, end: u64, whole: bool, out: &mut Vec<Hash>) -> Result<()> {
        let n = end - start;
        if m == n {
            if !whole {
                out.push(subtree_hash(src, start, end)?);
            }
            return Ok(());
        }
        let k = split(n);
        if m <= k {
            subproof(src, m, start, start + k, whole, out)?;
            out.push(subtree_hash(src, start + k, end)?);
        } else {
            subproof(src, m - k, start + k, end, false, out)?;
            out.push(subtree_hash(src, start, start + k)?);
        }
        Ok(())
    }
    let mut out = Vec::new();
    if old > 0 && old < new {
        subproof(src, old, 0, new, true, &mut out)?;
    }
    Ok(out)
}

/// A [`NodeSource`] that notes which nodes are asked for (the algorithms never branch on a
/// hash, so what a proof needs is known before anything is read).
struct Recorder(RefCell<Vec<(u8, u64)>>);

impl NodeSource for Recorder {
    fn node(&self, level: u8, index: u64) -> Result<Hash> {
        self.0.borrow_mut().push((level, index));
        Ok([0; 32])
    }
}

fn recorded(run: impl FnOnce(&dyn NodeSource) -> Result<Vec<Hash>>) -> Result<Vec<(u8, u64)>> {
    let recorder = Recorder(RefCell::new(Vec::new()));
    run(&recorder)?;
    Ok(recorder.0.into_inner())
}

/// The perfect subtrees [`inclusion_proof`] reads for leaf `index` of `size` (fetch them in
/// one query, then prove from a map).
pub fn inclusion_nodes(index: u64, size: u64) -> Result<Vec<(u8, u64)>> {
    recorded(|src| inclusion_proof(src, index, size))
}

/// The perfect subtrees [`consistency_proof`] reads between `old` and `new`.
pub fn consistency_nodes(old: u64, new: u64) -> Result<Vec<(u8, u64)>> {
    recorded(|src| consistency_proof(src, old, new))
}

/// One level of the RFC 9162 verification walk (§2.1.3.2, §2.1.4.2) for the node at index
/// `f` of a tree whose last index is `s`: whether the next proof hash is its left sibling,
/// with `f` and `s` moved up to the level that hash leads to.
fn climb(f: &mut u64, s: &mut u64) -> bool {
    let left = *f & 1 == 1 || *f == *s;
    if left {
        while *f & 1 == 0 && *f != 0 {
            *f >>= 1;
            *s >>= 1;
        }
    }
    *f >>= 1;
    *s >>= 1;
    left
}

/// Checks that `leaf` is leaf `index` of the tree of `size` leaves whose head is `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> Result<()> {
    if index >= size {
        return Err(Error::Proof(format!("leaf {index} is not in a tree of {size}")));
    }
    let (mut f, mut s, mut r) = (index, size - 1, *leaf);
    for p in proof {
        if s == 0 {
            return Err(Error::Proof("the inclusion proof is longer than the tree is deep".into()));
        }
        r = if climb(&mut f, &mut s) { node_hash(p, &r) } else { node_hash(&r, p) };
    }
    if s != 0 {
        return Err(Error::Proof("the inclusion proof is shorter than the tree is deep".into()));
    }
    if &r != root {
        return Err(Error::Proof(format!("leaf {index} does not lead to the head of the tree of {size}")));
    }
    Ok(())
}

/// Checks that the tree of `old` leaves with head `old_root` is a prefix of the tree of
/// `new` leaves with head `new_root` (RFC 9162 §2.1.4.2).
pub fn verify_consistency(old: u64, new: u64, old_root: &Hash, new_root: &Hash, proof: &[Hash]) -> Result<()> {
    let fail = |why: &str| Err(Error::Proof(format!("tree {old} is not a prefix of tree {new}: {why}")));
    if old > new {
        return fail("the old tree is larger");
    }
    if old == new {
        return if proof.is_empty() && old_root == new_root { Ok(()) } else { fail("same size, other head") };
    }
    if old == 0 {
        return if proof.is_empty() { Ok(()) } else { fail("a proof from the empty tree must be empty") };
    }
    let mut path: Vec<&Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(old_root);
    }
    path.extend(proof);
    let Some((first, rest)) = path.split_first() else { return fail("the proof is empty") };
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (**first, **first);
    for c in rest {
        if s == 0 {
            return fail("the proof is too long");
        }
        if climb(&mut f, &mut s) {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
        } else {
            sr = node_hash(&sr, c);
        }
    }
    if s != 0 {
        return fail("the proof is too short");
    }
    if &fr != old_root {
        return fail("it does not lead to the old head");
    }
    if &sr != new_root {
        return fail("it does not lead to the new head");
    }
    Ok(())
}

/// What an append-only log keeps of its tree to append and to know its head: its size and
/// the heads of the perfect subtrees it decomposes into, largest first (one per set bit).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    roots: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Frontier::default()
    }

    /// A frontier read back from storage; refused unless it has one head per set bit of `size`.
    pub fn from_parts(size: u64, roots: Vec<Hash>) -> Result<Self> {
        if roots.len() != size.count_ones() as usize {
            return Err(Error::Malformed {
                what: "frontier",
                why: format!("a tree of {size} has {} perfect subtrees, not {}", size.count_ones(), roots.len()),
            });
        }
        Ok(Frontier { size, roots })
    }

    /// How many leaves the tree has.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The heads of its perfect subtrees, largest first.
    pub fn roots(&self) -> &[Hash] {
        &self.roots
    }

    /// Appends a leaf (its [`leaf_hash`]) and returns the perfect subtrees it completes, the
    /// leaf itself first: what a store keeps so that proofs need no scan.
    pub fn append(&mut self, leaf: Hash) -> Vec<Node> {
        let (mut level, mut index, mut hash) = (0u8, self.size, leaf);
        let mut completed = vec![Node { level, index, hash }];
        while index & 1 == 1 {
            // An odd index has its left sibling complete: the last head kept.
            let Some(left) = self.roots.pop() else { break };
            hash = node_hash(&left, &hash);
            level += 1;
            index >>= 1;
            completed.push(Node { level, index, hash });
        }
        self.roots.push(hash);
        self.size += 1;
        completed
    }

    /// The tree head (RFC 9162's MTH of all the leaves).
    pub fn root(&self) -> Hash {
        let mut heads = self.roots.iter().rev();
        match heads.next() {
            None => EMPTY_ROOT,
            Some(last) => heads.fold(*last, |right, left| node_hash(left, &right)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    /// RFC 9162's definition, written out: the reference the fast paths are checked against.
    fn mth(leaves: &[Vec<u8>]) -> Hash {
        match leaves.len() {
            0 => EMPTY_ROOT,
            1 => leaf_hash(&leaves[0]),
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    type Nodes = HashMap<(u8, u64), Hash>;

    fn tree(n: u64) -> (Vec<Vec<u8>>, Nodes, Frontier) {
        let leaves: Vec<Vec<u8>> = (0..n).map(|i| format!("event {i}").into_bytes()).collect();
        let (mut nodes, mut frontier) = (HashMap::new(), Frontier::new());
        for leaf in &leaves {
            for node in frontier.append(leaf_hash(leaf)) {
                nodes.insert((node.level, node.index), node.hash);
            }
        }
        (leaves, nodes, frontier)
    }

    /// The tree heads of Certificate Transparency's test leaves (RFC 6962 test data, also
    /// computed by an independent Python implementation of the definition).
    #[test]
    fn heads_match_the_certificate_transparency_vectors() {
        let leaves =
            ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];
        let heads = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        assert_eq!(
            hex::encode(Frontier::new().root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let mut frontier = Frontier::new();
        for (leaf, head) in leaves.iter().zip(heads) {
            frontier.append(leaf_hash(&hex::decode(leaf).unwrap()));
            assert_eq!(hex::encode(frontier.root()), head, "size {}", frontier.size());
        }
    }

    #[test]
    fn frontier_and_stored_subtrees_agree_with_the_definition() {
        for n in 0..=70u64 {
            let (leaves, nodes, frontier) = tree(n);
            assert_eq!(frontier.root(), mth(&leaves), "size {n}");
            assert_eq!(subtree_hash(&nodes, 0, n).unwrap(), mth(&leaves), "size {n}");
            for start in 0..n.min(33) {
                for end in start..=n.min(33) {
                    // Every range the proofs use (and any other) from stored perfect subtrees.
                    let direct = mth(&leaves[start as usize..end as usize]);
                    assert_eq!(subtree_hash(&nodes, start, end).unwrap(), direct, "{start}..{end} of {n}");
                }
            }
            let again = Frontier::from_parts(frontier.size(), frontier.roots().to_vec()).unwrap();
            assert_eq!(again, frontier);
        }
        assert!(Frontier::from_parts(3, vec![[0; 32]]).is_err(), "3 leaves are two perfect subtrees");
    }

    #[test]
    fn every_inclusion_proof_verifies_and_nothing_else_does() {
        for size in 1..=40u64 {
            let (leaves, nodes, frontier) = tree(size);
            let root = frontier.root();
            for index in 0..size {
                let proof = inclusion_proof(&nodes, index, size).unwrap();
                let leaf = leaf_hash(&leaves[index as usize]);
                verify_inclusion(&leaf, index, size, &proof, &root).unwrap();
                let needed = inclusion_nodes(index, size).unwrap();
                let only: Nodes = needed.iter().map(|k| (*k, nodes[k])).collect();
                assert_eq!(inclusion_proof(&only, index, size).unwrap(), proof, "the recorded nodes suffice");
                assert!(needed.len() <= 2 * 64, "O(log n) nodes");
                // Another leaf, index, head or any flipped byte: refused. (A size is only ever
                // taken together with its head, from a signed checkpoint.)
                let other = leaf_hash(b"not an event");
                assert!(verify_inclusion(&other, index, size, &proof, &root).is_err());
                if size > 1 {
                    assert!(verify_inclusion(&leaf, (index + 1) % size, size, &proof, &root).is_err());
                }
                assert!(verify_inclusion(&leaf, index, size, &proof, &node_hash(&root, &root)).is_err());
                for i in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[i][7] ^= 1;
                    assert!(verify_inclusion(&leaf, index, size, &bad, &root).is_err());
                }
                let mut longer = proof.clone();
                longer.push(root);
                assert!(verify_inclusion(&leaf, index, size, &longer, &root).is_err());
            }
            assert!(inclusion_proof(&nodes, size, size).is_err());
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_nothing_else_does() {
        let (_, nodes, _) = tree(40);
        let heads: Vec<Hash> = (0..=40u64).map(|n| subtree_hash(&nodes, 0, n).unwrap()).collect();
        for new in 0..=40u64 {
            for old in 0..=new {
                let proof = consistency_proof(&nodes, old, new).unwrap();
                let (o, n) = (heads[old as usize], heads[new as usize]);
                verify_consistency(old, new, &o, &n, &proof).unwrap();
                let needed = consistency_nodes(old, new).unwrap();
                let only: Nodes = needed.iter().map(|k| (*k, nodes[k])).collect();
                assert_eq!(consistency_proof(&only, old, new).unwrap(), proof);
                if old == 0 {
                    continue;
                }
                if old < new {
                    // A rewritten history (another old head) or another new head: refused.
                    assert!(verify_consistency(old, new, &leaf_hash(b"x"), &n, &proof).is_err(), "{old}->{new}");
                    assert!(verify_consistency(old, new, &o, &leaf_hash(b"x"), &proof).is_err(), "{old}->{new}");
                    assert!(verify_consistency(old, new, &n, &o, &proof).is_err(), "swapped {old}->{new}");
                    for i in 0..proof.len() {
                        let mut bad = proof.clone();
                        bad[i][0] ^= 0x80;
                        assert!(verify_consistency(old, new, &o, &n, &bad).is_err(), "{old}->{new} byte {i}");
                    }
                    assert!(verify_consistency(old, new, &o, &n, &proof[..proof.len() - 1]).is_err());
                } else {
                    assert!(verify_consistency(old, new, &o, &leaf_hash(b"x"), &proof).is_err());
                }
            }
        }
        assert!(consistency_proof(&nodes, 5, 4).is_err());
    }
}
