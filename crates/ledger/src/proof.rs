//! Verification of inclusion and consistency proofs (RFC 9162 sections
//! 2.1.3.2 and 2.1.4.2).
//!
//! These functions need nothing but the hashes a client was given, so an
//! auditor or a meeting client can check the log without trusting it or
//! holding a [`crate::MerkleTree`]. The expected proof length is derived from
//! the tree shape before any hashing, so a padded or truncated proof is
//! reported as such rather than as a root mismatch.

use crate::hash::{node_hash, Hash};
use crate::tree::LeafIndex;

/// Checks that the leaf with hash `leaf_hash` sits at `index` in the tree of
/// `size` leaves whose root is `root`.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: LeafIndex,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index.0 >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_proof_len(index.0, size);
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength {
            expected,
            actual: proof.len(),
        });
    }

    // RFC 9162 section 2.1.3.2, steps 2 to 5. `node` walks up from the leaf
    // and `last` from the tree's last leaf; where they meet, the path turns
    // from inner nodes to the left border of the tree.
    let mut node = index.0;
    let mut last = size - 1;
    let mut computed = *leaf_hash;
    for sibling in proof {
        if last == 0 {
            // Unreachable after the length check; kept so that the loop is
            // correct on its own.
            return Err(ProofError::WrongProofLength {
                expected,
                actual: proof.len(),
            });
        }
        if node & 1 == 1 || node == last {
            computed = node_hash(sibling, &computed);
            if node & 1 == 0 {
                // A right-edge node without a right sibling at these levels:
                // climb until it becomes a right child (or the root's level).
                while node & 1 == 0 && node != 0 {
                    node >>= 1;
                    last >>= 1;
                }
            }
        } else {
            computed = node_hash(&computed, sibling);
        }
        node >>= 1;
        last >>= 1;
    }
    if last != 0 || computed != *root {
        return Err(ProofError::RootMismatch {
            expected: *root,
            computed,
        });
    }
    Ok(())
}

/// Checks that the tree of `size1` leaves with root `root1` is a prefix of the
/// tree of `size2` leaves with root `root2`.
///
/// Equal sizes need an empty proof and equal roots; the empty tree's root must
/// be the hash of nothing. As in RFC 9162, no proof leads from the empty tree
/// to a larger one.
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Hash],
    root1: &Hash,
    root2: &Hash,
) -> Result<(), ProofError> {
    if size1 > size2 {
        return Err(ProofError::SizesOutOfOrder { size1, size2 });
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength {
                expected: 0,
                actual: proof.len(),
            });
        }
        if size1 == 0 && *root1 != Hash::empty_root() {
            return Err(ProofError::OldRootMismatch {
                expected: *root1,
                computed: Hash::empty_root(),
            });
        }
        if root1 != root2 {
            return Err(ProofError::NewRootMismatch {
                expected: *root2,
                computed: *root1,
            });
        }
        return Ok(());
    }
    if size1 == 0 {
        return Err(ProofError::EmptyOldTree { size2 });
    }
    let expected = consistency_proof_len(size1, size2);
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength {
            expected,
            actual: proof.len(),
        });
    }

    // RFC 9162 section 2.1.4.2. When the old tree is a complete power of two
    // its root is the first node of the path and the proof leaves it out.
    let (seed, rest) = if size1.is_power_of_two() {
        (*root1, proof)
    } else {
        match proof.split_first() {
            Some((first, rest)) => (*first, rest),
            // Unreachable: the length check demands at least one hash here.
            None => {
                return Err(ProofError::WrongProofLength {
                    expected,
                    actual: 0,
                })
            }
        }
    };
    let mut node = size1 - 1;
    let mut last = size2 - 1;
    while node & 1 == 1 {
        node >>= 1;
        last >>= 1;
    }
    let mut old_root = seed;
    let mut new_root = seed;
    for sibling in rest {
        if last == 0 {
            // Unreachable after the length check, as in `verify_inclusion`.
            return Err(ProofError::WrongProofLength {
                expected,
                actual: proof.len(),
            });
        }
        if node & 1 == 1 || node == last {
            old_root = node_hash(sibling, &old_root);
            new_root = node_hash(sibling, &new_root);
            if node & 1 == 0 {
                while node & 1 == 0 && node != 0 {
                    node >>= 1;
                    last >>= 1;
                }
            }
        } else {
            // Nodes to the right exist only in the new tree.
            new_root = node_hash(&new_root, sibling);
        }
        node >>= 1;
        last >>= 1;
    }
    if last != 0 {
        return Err(ProofError::WrongProofLength {
            expected,
            actual: proof.len(),
        });
    }
    if old_root != *root1 {
        return Err(ProofError::OldRootMismatch {
            expected: *root1,
            computed: old_root,
        });
    }
    if new_root != *root2 {
        return Err(ProofError::NewRootMismatch {
            expected: *root2,
            computed: new_root,
        });
    }
    Ok(())
}

/// What a proof failed on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The leaf index is not inside a tree of the claimed size.
    #[error("leaf {index} is not in a tree of size {size}")]
    IndexOutOfRange {
        /// The claimed leaf index.
        index: LeafIndex,
        /// The claimed tree size.
        size: u64,
    },
    /// The proof has a different number of hashes than the tree shape needs.
    #[error("proof has {actual} hashes, the tree shape needs {expected}")]
    WrongProofLength {
        /// How many hashes the sizes (and index) call for.
        expected: usize,
        /// How many hashes the proof has.
        actual: usize,
    },
    /// Hashing the leaf up along the inclusion proof does not give the root.
    #[error("inclusion proof leads to root {computed}, not {expected}")]
    RootMismatch {
        /// The root the proof was checked against.
        expected: Hash,
        /// The root the proof leads to.
        computed: Hash,
    },
    /// The old tree is claimed to be larger than the new one.
    #[error("old size {size1} is larger than new size {size2}")]
    SizesOutOfOrder {
        /// The claimed old size.
        size1: u64,
        /// The claimed new size.
        size2: u64,
    },
    /// A consistency proof from the empty tree was presented; RFC 9162
    /// defines none, so there is nothing to check it against.
    #[error("no consistency proof exists from the empty tree to size {size2}")]
    EmptyOldTree {
        /// The claimed new size.
        size2: u64,
    },
    /// The consistency proof does not lead to the old root (for size 0: the
    /// old root is not the hash of nothing).
    #[error("consistency proof leads to old root {computed}, not {expected}")]
    OldRootMismatch {
        /// The old root the proof was checked against.
        expected: Hash,
        /// The old root the proof leads to.
        computed: Hash,
    },
    /// The consistency proof does not lead to the new root (for equal sizes:
    /// the two roots differ).
    #[error("consistency proof leads to new root {computed}, not {expected}")]
    NewRootMismatch {
        /// The new root the proof was checked against.
        expected: Hash,
        /// The new root the proof leads to.
        computed: Hash,
    },
}

/// Number of hashes in the audit path of leaf `index` in a tree of `size`
/// leaves (`index < size`).
///
/// The path has one hash per level below the point where the paths to `index`
/// and to the last leaf split (the bit length of their XOR), plus one per
/// left-border subtree above it (the set bits of `index` there).
fn inclusion_proof_len(index: u64, size: u64) -> usize {
    let (inner, border) = split_path(index, size);
    (inner + border) as usize
}

/// Number of hashes in the consistency proof from `size1` to `size2`
/// leaves (`0 < size1 < size2`).
///
/// This is the audit path of the old tree's last leaf, minus the levels inside
/// the largest complete subtree it ends (that subtree's root stands in for
/// them), plus that root itself unless it is the whole old tree.
fn consistency_proof_len(size1: u64, size2: u64) -> usize {
    let (inner, border) = split_path(size1 - 1, size2);
    // The complete subtree ending the old tree has 2^shift leaves; `inner`
    // exceeds `shift` whenever size1 < size2.
    let shift = size1.trailing_zeros();
    let seed = u32::from(!size1.is_power_of_two());
    (inner - shift + border + seed) as usize
}

/// Returns (inner, border) for the audit path of `index` in a tree of `size`.
fn split_path(index: u64, size: u64) -> (u32, u32) {
    let inner = u64::BITS - (index ^ (size - 1)).leading_zeros();
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner, border)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    use crate::tree::MerkleTree;

    fn tree(size: u64) -> MerkleTree {
        let mut tree = MerkleTree::new();
        for i in 0..size {
            tree.append(&i.to_be_bytes());
        }
        tree
    }

    #[test]
    fn proof_lengths_match_generated_proofs() {
        let tree = tree(40);
        for size in 1..=40 {
            for index in 0..size {
                let proof = tree.inclusion_proof(LeafIndex(index), size).unwrap();
                assert_eq!(proof.len(), inclusion_proof_len(index, size));
            }
            for old in 1..size {
                let proof = tree.consistency_proof(old, size).unwrap();
                assert_eq!(proof.len(), consistency_proof_len(old, size));
            }
        }
    }

    #[test]
    fn errors_name_the_failure() {
        let tree = tree(5);
        let leaf = leaf_hash(&2u64.to_be_bytes());
        let proof = tree.inclusion_proof(LeafIndex(2), 5).unwrap();
        let root = tree.root();
        assert_eq!(
            verify_inclusion(&leaf, LeafIndex(2), 5, &proof, &root),
            Ok(())
        );
        assert_eq!(
            verify_inclusion(&leaf, LeafIndex(5), 5, &proof, &root),
            Err(ProofError::IndexOutOfRange {
                index: LeafIndex(5),
                size: 5
            })
        );
        assert!(matches!(
            verify_inclusion(&leaf, LeafIndex(2), 5, &proof[1..], &root),
            Err(ProofError::WrongProofLength {
                expected: 3,
                actual: 2
            })
        ));
        assert!(matches!(
            verify_inclusion(&leaf, LeafIndex(3), 5, &proof, &root),
            Err(ProofError::RootMismatch { .. })
        ));

        let old_root = tree.root_at(3).unwrap();
        let consistency = tree.consistency_proof(3, 5).unwrap();
        assert_eq!(
            verify_consistency(3, 5, &consistency, &old_root, &root),
            Ok(())
        );
        assert!(matches!(
            verify_consistency(3, 5, &consistency, &root, &root),
            Err(ProofError::OldRootMismatch { .. })
        ));
        assert!(matches!(
            verify_consistency(3, 5, &consistency, &old_root, &old_root),
            Err(ProofError::NewRootMismatch { .. })
        ));
        assert_eq!(
            verify_consistency(5, 3, &[], &root, &old_root),
            Err(ProofError::SizesOutOfOrder { size1: 5, size2: 3 })
        );
        assert_eq!(
            verify_consistency(0, 3, &[], &Hash::empty_root(), &old_root),
            Err(ProofError::EmptyOldTree { size2: 3 })
        );
        assert_eq!(
            verify_consistency(0, 0, &[], &Hash::empty_root(), &Hash::empty_root()),
            Ok(())
        );
    }
}
