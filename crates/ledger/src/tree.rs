//! The append-only Merkle tree (RFC 9162 section 2.1) held in memory.
//!
//! The tree keeps, for every level `k`, the hashes of the complete subtrees of
//! `2^k` leaves in order. Appending a leaf adds at most one hash per level, and
//! any subtree that RFC 9162's recursive definitions ask for is either one of
//! these stored hashes or the right edge of a smaller tree, computed from
//! `O(log n)` of them. Roots and proofs for any earlier size therefore cost
//! `O(log² n)` hash operations at most and never a walk over all leaves.
//!
//! Only leaf hashes are needed to rebuild the tree
//! ([`MerkleTree::from_leaf_hashes`]), so storage persists the leaf data (or
//! its hash) and nothing else.

use std::fmt;

use crate::frontier::Frontier;
use crate::hash::{leaf_hash, node_hash, Hash};

/// Position of a leaf in the log, counting from 0 in append order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeafIndex(pub u64);

impl fmt::Display for LeafIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An append-only RFC 6962 Merkle tree.
///
/// There is deliberately no method that removes, replaces or reorders a leaf:
/// the only mutation is [`MerkleTree::append`].
#[derive(Clone, Default)]
pub struct MerkleTree {
    /// `levels[k][i]` is the hash of the complete subtree over the leaves
    /// `i * 2^k .. (i + 1) * 2^k`; `levels[0]` holds the leaf hashes.
    levels: Vec<Vec<Hash>>,
}

impl MerkleTree {
    /// An empty tree.
    pub fn new() -> MerkleTree {
        MerkleTree::default()
    }

    /// Rebuilds a tree from the leaf hashes of its entries, in log order.
    ///
    /// This is how storage restores the tree: the result has the same roots
    /// and proofs as the tree that originally appended those leaves.
    pub fn from_leaf_hashes<I>(leaf_hashes: I) -> MerkleTree
    where
        I: IntoIterator<Item = Hash>,
    {
        let mut tree = MerkleTree::new();
        for hash in leaf_hashes {
            tree.push_leaf_hash(hash);
        }
        tree
    }

    /// Appends a leaf by its leaf hash (for data already hashed, such as a
    /// batch whose root was computed beforehand) and returns its index.
    pub fn append_leaf_hash(&mut self, leaf_hash: Hash) -> LeafIndex {
        self.push_leaf_hash(leaf_hash)
    }

    /// Appends a leaf whose data is `leaf_data` and returns its index.
    ///
    /// The leaf data is normally an encoded [`crate::Entry`]; the tree keeps
    /// only its hash.
    pub fn append(&mut self, leaf_data: &[u8]) -> LeafIndex {
        self.push_leaf_hash(leaf_hash(leaf_data))
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// The hash of the leaf at `index`, if there is one.
    pub fn leaf_hash(&self, index: LeafIndex) -> Option<Hash> {
        let leaves = self.levels.first()?;
        let position = usize::try_from(index.0).ok()?;
        leaves.get(position).copied()
    }

    /// The root of the whole tree (the hash of nothing for an empty tree).
    pub fn root(&self) -> Hash {
        self.root_over(self.size())
    }

    /// The root the tree had when it held its first `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Hash, TreeError> {
        self.check_size(size)?;
        Ok(self.root_over(size))
    }

    /// The audit path (RFC 9162 section 2.1.3.1) proving that the leaf at
    /// `index` is in the tree of the first `size` leaves.
    pub fn inclusion_proof(&self, index: LeafIndex, size: u64) -> Result<Vec<Hash>, TreeError> {
        self.check_size(size)?;
        if index.0 >= size {
            return Err(TreeError::IndexOutOfRange { index, size });
        }
        let mut proof = Vec::new();
        self.push_inclusion_path(index.0, 0, size, &mut proof);
        Ok(proof)
    }

    /// The consistency proof (RFC 9162 section 2.1.4.1) that the tree of the
    /// first `old_size` leaves is a prefix of the tree of the first `new_size`.
    ///
    /// Equal sizes give an empty proof. RFC 9162 defines no proof from the
    /// empty tree to a larger one, so `old_size == 0 < new_size` is an error.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>, TreeError> {
        self.check_size(new_size)?;
        if old_size > new_size {
            return Err(TreeError::OldSizeAfterNew { old_size, new_size });
        }
        if old_size == new_size {
            return Ok(Vec::new());
        }
        if old_size == 0 {
            return Err(TreeError::EmptyOldTree);
        }
        let mut proof = Vec::new();
        self.push_subproof(old_size, 0, new_size, true, &mut proof);
        Ok(proof)
    }

    /// The right edge of the whole tree, for appending without touching it.
    pub fn frontier(&self) -> Frontier {
        let size = self.size();
        let mut subtrees = Vec::new();
        let mut start = 0;
        // One complete subtree per set bit of the size, largest first.
        for level in (0..u64::BITS).rev() {
            let len = 1u64 << level;
            if size & len != 0 {
                subtrees.push(self.range_hash(start, start + len));
                start += len;
            }
        }
        // Invariant: one subtree per set bit, as `from_parts` checks.
        Frontier::from_parts(size, subtrees).expect("one subtree per set bit")
    }

    fn check_size(&self, size: u64) -> Result<(), TreeError> {
        let tree_size = self.size();
        if size > tree_size {
            return Err(TreeError::SizeBeyondTree { size, tree_size });
        }
        Ok(())
    }

    fn push_leaf_hash(&mut self, hash: Hash) -> LeafIndex {
        let index = LeafIndex(self.size());
        let mut carry = hash;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let hashes = &mut self.levels[level];
            hashes.push(carry);
            // An even count means the last two hashes now form a complete
            // subtree one level up; an odd one means the carry stops here.
            let count = hashes.len();
            if count % 2 == 1 {
                break;
            }
            carry = node_hash(&hashes[count - 2], &hashes[count - 1]);
            level += 1;
        }
        index
    }

    /// MTH of the first `size` leaves; `size` must not exceed the tree size.
    fn root_over(&self, size: u64) -> Hash {
        if size == 0 {
            Hash::empty_root()
        } else {
            self.range_hash(0, size)
        }
    }

    /// MTH of the leaves `start..end`, where `start < end <= self.size()`.
    fn range_hash(&self, start: u64, end: u64) -> Hash {
        let len = end - start;
        if len.is_power_of_two() && start % len == 0 {
            let level = len.trailing_zeros() as usize;
            // Invariant: a complete aligned subtree ending at or before the
            // tree size was stored at its level when its last leaf arrived.
            return self.levels[level][index_usize(start >> level)];
        }
        let split = start + largest_power_of_two_below(len);
        node_hash(&self.range_hash(start, split), &self.range_hash(split, end))
    }

    /// RFC 9162 PATH(m, D[start:end]), lowest sibling first.
    fn push_inclusion_path(&self, index: u64, start: u64, end: u64, proof: &mut Vec<Hash>) {
        let len = end - start;
        if len == 1 {
            return;
        }
        let split = start + largest_power_of_two_below(len);
        if index < split {
            self.push_inclusion_path(index, start, split, proof);
            proof.push(self.range_hash(split, end));
        } else {
            self.push_inclusion_path(index, split, end, proof);
            proof.push(self.range_hash(start, split));
        }
    }

    /// RFC 9162 SUBPROOF(m, D[start:end], b) with `old_len` as m.
    fn push_subproof(
        &self,
        old_len: u64,
        start: u64,
        end: u64,
        is_old_root: bool,
        proof: &mut Vec<Hash>,
    ) {
        let len = end - start;
        if old_len == len {
            // The verifier already knows the old root, so it is left out.
            if !is_old_root {
                proof.push(self.range_hash(start, end));
            }
            return;
        }
        let half = largest_power_of_two_below(len);
        let split = start + half;
        if old_len <= half {
            self.push_subproof(old_len, start, split, is_old_root, proof);
            proof.push(self.range_hash(split, end));
        } else {
            self.push_subproof(old_len - half, split, end, false, proof);
            proof.push(self.range_hash(start, split));
        }
    }
}

impl fmt::Debug for MerkleTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MerkleTree")
            .field("size", &self.size())
            .field("root", &self.root())
            .finish()
    }
}

/// Why the tree could not answer a request for a root or proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TreeError {
    /// A size larger than the tree was asked for.
    #[error("size {size} is beyond the tree, which has {tree_size} leaves")]
    SizeBeyondTree {
        /// The size asked for.
        size: u64,
        /// The number of leaves in the tree.
        tree_size: u64,
    },
    /// An inclusion proof was asked for a leaf that is not in the tree of the
    /// given size.
    #[error("leaf {index} is not in a tree of size {size}")]
    IndexOutOfRange {
        /// The leaf asked for.
        index: LeafIndex,
        /// The tree size asked for.
        size: u64,
    },
    /// A consistency proof was asked from a larger tree to a smaller one.
    #[error("old size {old_size} is larger than new size {new_size}")]
    OldSizeAfterNew {
        /// The older tree size asked for.
        old_size: u64,
        /// The newer tree size asked for.
        new_size: u64,
    },
    /// A consistency proof was asked from the empty tree, which RFC 9162 does
    /// not define (every tree extends the empty one).
    #[error("no consistency proof exists from the empty tree")]
    EmptyOldTree,
}

/// The largest power of two strictly less than `n`; `n` must be at least 2.
pub(crate) fn largest_power_of_two_below(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// Converts a position that indexes an in-memory vector.
fn index_usize(position: u64) -> usize {
    // Invariant: `position` indexes a `Vec` that exists in memory, so it is
    // smaller than that vector's length, which is a `usize`.
    usize::try_from(position).expect("an in-memory position fits in usize")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leaves of the RFC 6962 reference implementation's tests
    /// (certificate-transparency, merkle_tree_test).
    const REFERENCE_LEAVES: [&[u8]; 8] = [
        b"",
        &[0x00],
        &[0x10],
        &[0x20, 0x21],
        &[0x30, 0x31],
        &[0x40, 0x41, 0x42, 0x43],
        &[0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
        &[
            0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d,
            0x6e, 0x6f,
        ],
    ];

    /// The roots for sizes 1 to 8 from the same reference tests.
    const REFERENCE_ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn reference_tree() -> MerkleTree {
        let mut tree = MerkleTree::new();
        for (position, data) in REFERENCE_LEAVES.iter().enumerate() {
            assert_eq!(tree.append(data), LeafIndex(position as u64));
        }
        tree
    }

    #[test]
    fn roots_match_rfc6962_reference() {
        let tree = reference_tree();
        for (size, want) in (1..).zip(REFERENCE_ROOTS) {
            assert_eq!(tree.root_at(size).unwrap().to_hex(), want, "size {size}");
        }
        assert_eq!(tree.root().to_hex(), REFERENCE_ROOTS[7]);
        assert_eq!(tree.root_at(0), Ok(Hash::empty_root()));
    }

    #[test]
    fn rebuild_from_leaf_hashes_gives_same_tree() {
        let tree = reference_tree();
        let rebuilt = MerkleTree::from_leaf_hashes(
            (0..tree.size()).map(|i| tree.leaf_hash(LeafIndex(i)).unwrap()),
        );
        assert_eq!(rebuilt.size(), tree.size());
        assert_eq!(rebuilt.root(), tree.root());
        assert_eq!(
            rebuilt.inclusion_proof(LeafIndex(3), 7),
            tree.inclusion_proof(LeafIndex(3), 7)
        );
    }

    #[test]
    fn out_of_range_requests_are_errors() {
        let tree = reference_tree();
        assert_eq!(
            tree.root_at(9),
            Err(TreeError::SizeBeyondTree {
                size: 9,
                tree_size: 8
            })
        );
        assert_eq!(
            tree.inclusion_proof(LeafIndex(5), 5),
            Err(TreeError::IndexOutOfRange {
                index: LeafIndex(5),
                size: 5
            })
        );
        assert_eq!(
            tree.consistency_proof(6, 5),
            Err(TreeError::OldSizeAfterNew {
                old_size: 6,
                new_size: 5
            })
        );
        assert_eq!(tree.consistency_proof(0, 5), Err(TreeError::EmptyOldTree));
        assert_eq!(tree.consistency_proof(0, 0), Ok(Vec::new()));
        assert_eq!(tree.consistency_proof(8, 8), Ok(Vec::new()));
        assert_eq!(tree.leaf_hash(LeafIndex(8)), None);
    }

    #[test]
    fn stored_levels_stay_logarithmic() {
        let mut tree = MerkleTree::new();
        for i in 0u32..1000 {
            tree.append(&i.to_be_bytes());
        }
        // 1000 leaves need levels 0..=9 (2^9 = 512 <= 1000 < 1024).
        assert_eq!(tree.levels.len(), 10);
        let stored: usize = tree.levels.iter().map(Vec::len).sum();
        assert!(stored < 2 * 1000);
    }

    #[test]
    fn largest_power_of_two_below_is_strict() {
        assert_eq!(largest_power_of_two_below(2), 1);
        assert_eq!(largest_power_of_two_below(3), 2);
        assert_eq!(largest_power_of_two_below(4), 2);
        assert_eq!(largest_power_of_two_below(5), 4);
        assert_eq!(largest_power_of_two_below(u64::MAX), 1 << 63);
    }
}
