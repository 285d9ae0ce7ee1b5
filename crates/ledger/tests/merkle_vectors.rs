//! The transparency-dev/merkle proof-verification vectors (RFC 6962 / C2SP
//! tlog): every case marked `wantErr` must be rejected and every other case
//! accepted.
//!
//! The vectors live outside the repository, in `shared/test-vectors/merkle/`
//! beside the clone; `CONCLAVE_TEST_VECTORS` points elsewhere. A missing folder
//! fails the test rather than skipping it, so CI cannot pass vacuously.

use std::fs;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ledger::{leaf_hash, verify_consistency, verify_inclusion, Hash, LeafIndex};
use serde::Deserialize;

fn vectors_root() -> PathBuf {
    let root = match std::env::var_os("CONCLAVE_TEST_VECTORS") {
        Some(path) => PathBuf::from(path),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/test-vectors"),
    };
    assert!(
        root.join("merkle").is_dir(),
        "Merkle test vectors not found at {}: clone shared/ beside the repository \
         or set CONCLAVE_TEST_VECTORS",
        root.display()
    );
    root
}

/// Every `.json` file under `dir`, sorted, recursively.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry is readable").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// A hash as the vectors give it.
///
/// The Go verifier the vectors were written for takes byte slices of any
/// length: it rejects a leaf hash of the wrong length, but compares roots only
/// for equality and hashes proof entries as they are, and a few cases use
/// short placeholders ("don't care") or empty strings there. `Hash` cannot
/// hold those, so a wrong-length leaf hash counts as rejected at the `Hash`
/// boundary (as Go rejects it), and a wrong-length root or proof entry is
/// replaced by a 32-byte stand-in derived from its bytes: equal placeholders
/// stay equal and none collides with a real hash, so the case still tests what
/// it was written to test.
struct VectorHash {
    hash: Hash,
    is_placeholder: bool,
}

fn vector_hash(text: &str) -> VectorHash {
    let bytes = BASE64.decode(text).expect("vector hashes are base64");
    match Hash::from_slice(&bytes) {
        Ok(hash) => VectorHash {
            hash,
            is_placeholder: false,
        },
        Err(_) => VectorHash {
            hash: leaf_hash(&[b"test-vector placeholder:".as_slice(), &bytes].concat()),
            is_placeholder: true,
        },
    }
}

fn vector_proof(proof: &Option<Vec<String>>) -> (Vec<Hash>, bool) {
    let hashes: Vec<VectorHash> = proof.iter().flatten().map(|h| vector_hash(h)).collect();
    let placeholder = hashes.iter().any(|h| h.is_placeholder);
    (hashes.into_iter().map(|h| h.hash).collect(), placeholder)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InclusionCase {
    leaf_idx: u64,
    tree_size: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsistencyCase {
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    desc: String,
    want_err: bool,
}

/// Runs every case and returns (cases, accepted, placeholders) after
/// asserting each outcome.
fn run<C: for<'de> Deserialize<'de>>(
    dir: &Path,
    check: impl Fn(&C) -> (bool, Result<(), String>, bool, String),
) -> (usize, usize, usize) {
    let files = json_files(dir);
    assert!(!files.is_empty(), "no vectors in {}", dir.display());
    let (mut accepted, mut placeholders) = (0, 0);
    let mut failures = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let case: C =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let (want_err, outcome, placeholder, desc) = check(&case);
        if outcome.is_err() != want_err {
            failures.push(format!("{} ({desc}): got {outcome:?}", file.display()));
        }
        accepted += usize::from(outcome.is_ok());
        placeholders += usize::from(placeholder);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    (files.len(), accepted, placeholders)
}

#[test]
fn inclusion_vectors() {
    let dir = vectors_root().join("merkle/inclusion");
    let (cases, accepted, placeholders) = run(&dir, |case: &InclusionCase| {
        let leaf = vector_hash(&case.leaf_hash);
        let root = vector_hash(&case.root);
        let (proof, proof_placeholder) = vector_proof(&case.proof);
        let outcome = if leaf.is_placeholder {
            Err("leaf hash is not 32 bytes".to_owned())
        } else {
            verify_inclusion(
                &leaf.hash,
                LeafIndex(case.leaf_idx),
                case.tree_size,
                &proof,
                &root.hash,
            )
            .map_err(|e| e.to_string())
        };
        let placeholder = leaf.is_placeholder || root.is_placeholder || proof_placeholder;
        (case.want_err, outcome, placeholder, case.desc.clone())
    });
    println!("inclusion: {cases} cases, {accepted} accepted, {placeholders} with placeholders");
    assert!(accepted > 0 && accepted < cases);
}

#[test]
fn consistency_vectors() {
    let dir = vectors_root().join("merkle/consistency");
    let (cases, accepted, placeholders) = run(&dir, |case: &ConsistencyCase| {
        let root1 = vector_hash(&case.root1);
        let root2 = vector_hash(&case.root2);
        let (proof, proof_placeholder) = vector_proof(&case.proof);
        let outcome = verify_consistency(case.size1, case.size2, &proof, &root1.hash, &root2.hash)
            .map_err(|e| e.to_string());
        let placeholder = root1.is_placeholder || root2.is_placeholder || proof_placeholder;
        (case.want_err, outcome, placeholder, case.desc.clone())
    });
    println!("consistency: {cases} cases, {accepted} accepted, {placeholders} with placeholders");
    assert!(accepted > 0 && accepted < cases);
}

/// Hashes of the wrong length never get as far as the verifier through the
/// public API: `Hash` refuses them at the boundary.
#[test]
fn placeholder_lengths_are_refused_by_hash() {
    for text in ["", "ZG9uJ3QgY2FyZSAx", "ZG9uJ3QgY2FyZSAy"] {
        let bytes = BASE64.decode(text).unwrap();
        assert!(Hash::from_slice(&bytes).is_err());
    }
}
