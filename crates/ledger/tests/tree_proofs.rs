//! The tree against a naive RFC 6962 implementation written here from the
//! RFC's recursive definitions, and every proof the tree makes against the
//! verifiers, for all sizes up to `MAX_SIZE`.

use ledger::{
    leaf_hash, node_hash, verify_consistency, verify_inclusion, Hash, LeafIndex, MerkleTree,
    ProofError,
};

const MAX_SIZE: u64 = 70;

fn leaf_data(i: u64) -> Vec<u8> {
    format!("leaf {i}").into_bytes()
}

/// The largest power of two strictly less than `n` (n >= 2).
fn split_point(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 6962 section 2.1 MTH(D[n]).
fn mth(leaves: &[Vec<u8>]) -> Hash {
    match leaves.len() {
        0 => Hash::empty_root(),
        1 => leaf_hash(&leaves[0]),
        n => {
            let k = split_point(n);
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// RFC 6962 section 2.1.1 PATH(m, D[n]).
fn path(m: usize, leaves: &[Vec<u8>]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = split_point(n);
    if m < k {
        let mut p = path(m, &leaves[..k]);
        p.push(mth(&leaves[k..]));
        p
    } else {
        let mut p = path(m - k, &leaves[k..]);
        p.push(mth(&leaves[..k]));
        p
    }
}

/// RFC 6962 section 2.1.2 SUBPROOF(m, D[n], b).
fn subproof(m: usize, leaves: &[Vec<u8>], complete: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if complete {
            Vec::new()
        } else {
            vec![mth(leaves)]
        };
    }
    let k = split_point(n);
    if m <= k {
        let mut p = subproof(m, &leaves[..k], complete);
        p.push(mth(&leaves[k..]));
        p
    } else {
        let mut p = subproof(m - k, &leaves[k..], false);
        p.push(mth(&leaves[..k]));
        p
    }
}

fn build() -> (MerkleTree, Vec<Vec<u8>>) {
    let leaves: Vec<Vec<u8>> = (0..MAX_SIZE).map(leaf_data).collect();
    let mut tree = MerkleTree::new();
    for (i, data) in leaves.iter().enumerate() {
        assert_eq!(tree.append(data), LeafIndex(i as u64));
    }
    (tree, leaves)
}

fn flip_bit(hash: &Hash, bit: usize) -> Hash {
    let mut bytes = hash.0;
    bytes[bit / 8 % 32] ^= 1 << (bit % 8);
    Hash(bytes)
}

#[test]
fn roots_match_naive_mth_at_every_size() {
    let mut tree = MerkleTree::new();
    let leaves: Vec<Vec<u8>> = (0..MAX_SIZE).map(leaf_data).collect();
    assert_eq!(tree.root(), mth(&[]));
    for (i, data) in leaves.iter().enumerate() {
        tree.append(data);
        // The live root as the tree grows...
        assert_eq!(tree.root(), mth(&leaves[..=i]), "size {}", i + 1);
    }
    // ...and every earlier root from the full tree.
    for size in 0..=MAX_SIZE {
        assert_eq!(
            tree.root_at(size).unwrap(),
            mth(&leaves[..size as usize]),
            "root_at({size})"
        );
    }
}

#[test]
fn rebuilt_tree_matches_at_every_size() {
    let (tree, leaves) = build();
    for size in 0..=leaves.len() {
        let rebuilt = MerkleTree::from_leaf_hashes(leaves[..size].iter().map(|d| leaf_hash(d)));
        assert_eq!(rebuilt.size(), size as u64);
        assert_eq!(rebuilt.root(), tree.root_at(size as u64).unwrap());
    }
}

#[test]
fn every_inclusion_proof_matches_rfc_and_verifies() {
    let (tree, leaves) = build();
    for size in 1..=MAX_SIZE {
        let root = tree.root_at(size).unwrap();
        for index in 0..size {
            let proof = tree.inclusion_proof(LeafIndex(index), size).unwrap();
            assert_eq!(
                proof,
                path(index as usize, &leaves[..size as usize]),
                "PATH({index}, {size})"
            );
            let leaf = leaf_hash(&leaves[index as usize]);
            assert_eq!(
                verify_inclusion(&leaf, LeafIndex(index), size, &proof, &root),
                Ok(()),
                "index {index}, size {size}"
            );

            // Any single flipped bit anywhere in the proof is caught.
            for position in 0..proof.len() {
                let mut bad = proof.clone();
                bad[position] = flip_bit(&bad[position], index as usize + position);
                assert!(matches!(
                    verify_inclusion(&leaf, LeafIndex(index), size, &bad, &root),
                    Err(ProofError::RootMismatch { .. })
                ));
            }
            // So is a wrong leaf or a wrong index. (A wrong size alone is
            // not always caught: index 0 has the same path in trees of 6 and
            // 7 leaves. The checkpoint signature is what binds size to root.)
            let other = leaf_hash(b"not in the log");
            assert!(verify_inclusion(&other, LeafIndex(index), size, &proof, &root).is_err());
            if size > 1 {
                let wrong = LeafIndex((index + 1) % size);
                assert!(verify_inclusion(&leaf, wrong, size, &proof, &root).is_err());
            }
        }
    }
}

#[test]
fn every_consistency_proof_matches_rfc_and_verifies() {
    let (tree, leaves) = build();
    for new_size in 1..=MAX_SIZE {
        let new_root = tree.root_at(new_size).unwrap();
        for old_size in 1..=new_size {
            let old_root = tree.root_at(old_size).unwrap();
            let proof = tree.consistency_proof(old_size, new_size).unwrap();
            assert_eq!(
                proof,
                subproof(old_size as usize, &leaves[..new_size as usize], true),
                "SUBPROOF({old_size}, {new_size})"
            );
            assert_eq!(
                verify_consistency(old_size, new_size, &proof, &old_root, &new_root),
                Ok(()),
                "{old_size} -> {new_size}"
            );

            for position in 0..proof.len() {
                let mut bad = proof.clone();
                bad[position] = flip_bit(&bad[position], position);
                assert!(
                    verify_consistency(old_size, new_size, &bad, &old_root, &new_root).is_err(),
                    "flipped proof[{position}] accepted for {old_size} -> {new_size}"
                );
            }
            if old_size < new_size {
                // A forked old tree (one leaf changed) is not consistent. When
                // the old size is a power of two its root seeds the new one,
                // so the failure shows on the new root instead.
                let mut forked: Vec<Vec<u8>> = leaves[..old_size as usize].to_vec();
                forked[0] = b"rewritten history".to_vec();
                assert!(matches!(
                    verify_consistency(old_size, new_size, &proof, &mth(&forked), &new_root),
                    Err(ProofError::OldRootMismatch { .. } | ProofError::NewRootMismatch { .. })
                ));
                assert!(
                    verify_consistency(old_size, new_size, &proof[1..], &old_root, &new_root)
                        .is_err()
                );
            }
        }
    }
}
