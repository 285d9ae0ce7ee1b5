//! The right edge of a Merkle tree: the roots of its complete subtrees.
//!
//! A tree of `n` leaves splits into one complete subtree per set bit of `n`,
//! largest first. Those at most 64 hashes are enough to append leaves and
//! compute the root, though not to make proofs. The log's writer uses a
//! [`Frontier`] to compute the root a batch of appends will lead to before the
//! batch is durable, without touching the [`crate::MerkleTree`] that readers
//! see; a monitor can use one to follow a log in constant memory.

use crate::hash::{node_hash, Hash};

/// Roots of the complete subtrees of a tree, left (largest) to right.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    subtrees: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// Number of leaves in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The subtree roots, largest subtree first; one per set bit of the size.
    pub fn subtrees(&self) -> &[Hash] {
        &self.subtrees
    }

    /// Rebuilds a frontier from its size and subtree roots (as stored by
    /// [`Frontier::subtrees`]). `None` if the count does not match the size.
    pub fn from_parts(size: u64, subtrees: Vec<Hash>) -> Option<Frontier> {
        (subtrees.len() == size.count_ones() as usize).then_some(Frontier { size, subtrees })
    }

    /// Appends a leaf by its leaf hash.
    pub fn push(&mut self, leaf_hash: Hash) {
        let mut carry = leaf_hash;
        let mut size = self.size;
        // Each trailing one bit of the old size is a complete subtree of the
        // same size as the carry: merge it in, one level up each time.
        while size & 1 == 1 {
            // Invariant: one stored subtree per set bit of the size.
            let left = self.subtrees.pop().expect("a subtree per set bit");
            carry = node_hash(&left, &carry);
            size >>= 1;
        }
        self.subtrees.push(carry);
        self.size += 1;
    }

    /// The tree's root (RFC 9162 MTH): the subtrees joined right to left.
    pub fn root(&self) -> Hash {
        let mut rest = self.subtrees.iter().rev();
        let Some(last) = rest.next() else {
            return Hash::empty_root();
        };
        rest.fold(*last, |right, left| node_hash(left, &right))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    use crate::tree::MerkleTree;

    #[test]
    fn roots_agree_with_the_tree_at_every_size() {
        let mut tree = MerkleTree::new();
        let mut frontier = Frontier::new();
        assert_eq!(frontier.root(), Hash::empty_root());
        for i in 0u32..300 {
            tree.append(&i.to_be_bytes());
            frontier.push(leaf_hash(&i.to_be_bytes()));
            assert_eq!(frontier.size(), tree.size());
            assert_eq!(frontier.root(), tree.root(), "size {}", tree.size());
            assert_eq!(frontier.subtrees().len(), tree.size().count_ones() as usize);
        }
        assert_eq!(tree.frontier(), frontier);
        let rebuilt = Frontier::from_parts(frontier.size(), frontier.subtrees().to_vec());
        assert_eq!(rebuilt, Some(frontier.clone()));
        assert_eq!(Frontier::from_parts(3, vec![leaf_hash(b"x")]), None);
    }
}
