//! RFC 6962 / RFC 9162 Merkle tree hashing.
//!
//! Leaves and interior nodes are hashed with different one-byte prefixes so
//! that a leaf can never be passed off as an interior node (second-preimage
//! protection, RFC 9162 section 2.1.1).

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Length in bytes of every hash in the log (SHA-256).
pub const HASH_LEN: usize = 32;

/// Domain-separation prefix of a leaf hash.
const LEAF_PREFIX: u8 = 0x00;
/// Domain-separation prefix of an interior node hash.
const NODE_PREFIX: u8 = 0x01;

/// A SHA-256 hash: a leaf hash, an interior node hash or a tree root.
///
/// `Debug` and `Display` print lowercase hex; checkpoints and proofs on the
/// wire use standard padded base64 ([`Hash::to_base64`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash(pub [u8; HASH_LEN]);

impl Hash {
    /// The root of the empty tree: `SHA-256()` of no bytes (RFC 9162 section 2.1.1).
    pub fn empty_root() -> Hash {
        Hash(Sha256::digest([]).into())
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; HASH_LEN] {
        &self.0
    }

    /// Takes a hash from a byte slice that must be exactly [`HASH_LEN`] long.
    pub fn from_slice(bytes: &[u8]) -> Result<Hash, HashError> {
        <[u8; HASH_LEN]>::try_from(bytes)
            .map(Hash)
            .map_err(|_| HashError::WrongLength {
                actual: bytes.len(),
            })
    }

    /// Standard padded base64 (RFC 4648 section 4), as used in checkpoints.
    pub fn to_base64(&self) -> String {
        BASE64.encode(self.0)
    }

    /// Parses standard padded base64 that decodes to exactly [`HASH_LEN`] bytes.
    pub fn from_base64(text: &str) -> Result<Hash, HashError> {
        // 32 bytes are 44 base64 characters; refusing longer input first keeps
        // a hostile string from costing a large decode.
        if text.len() > 44 {
            return Err(HashError::WrongLength {
                actual: text.len() / 4 * 3,
            });
        }
        let bytes = BASE64.decode(text).map_err(|_| HashError::Base64)?;
        Hash::from_slice(&bytes)
    }

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Why bytes or text could not be taken as a [`Hash`](struct@Hash).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// The input decodes to a number of bytes other than [`HASH_LEN`].
    #[error("a hash is {HASH_LEN} bytes, got {actual}")]
    WrongLength {
        /// How many bytes there were (for text far too long to be a hash,
        /// estimated from its length without decoding it).
        actual: usize,
    },
    /// The input is not standard padded base64.
    #[error("hash is not valid standard base64")]
    Base64,
}

/// The hash of a leaf: `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([LEAF_PREFIX]);
    hasher.update(data);
    Hash(hasher.finalize().into())
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([NODE_PREFIX]);
    hasher.update(left.0);
    hasher.update(right.0);
    Hash(hasher.finalize().into())
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(
            Hash::empty_root().to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn leaf_and_node_hashes_match_rfc6962_reference() {
        // Values from the RFC 6962 reference test data (certificate-transparency
        // merkle_tree_test): the empty leaf, and the root of the 2-leaf tree
        // over the leaves "" and 0x00.
        assert_eq!(
            leaf_hash(b"").to_hex(),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        let root = node_hash(&leaf_hash(b""), &leaf_hash(&[0x00]));
        assert_eq!(
            root.to_hex(),
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"
        );
    }

    #[test]
    fn base64_round_trip_and_rejections() {
        let hash = leaf_hash(b"x");
        assert_eq!(Hash::from_base64(&hash.to_base64()), Ok(hash));
        assert_eq!(
            Hash::from_base64("ZG9uJ3QgY2FyZSAy"),
            Err(HashError::WrongLength { actual: 12 })
        );
        assert_eq!(Hash::from_base64("not base64!"), Err(HashError::Base64));
        // Unpadded input is not the canonical form.
        let unpadded = hash.to_base64().trim_end_matches('=').to_owned();
        assert_eq!(Hash::from_base64(&unpadded), Err(HashError::Base64));
        assert!(Hash::from_base64(&"A".repeat(1000)).is_err());
    }

    #[test]
    fn debug_is_hex() {
        let text = format!("{:?}", Hash([0xab; HASH_LEN]));
        assert_eq!(text, format!("Hash({})", "ab".repeat(HASH_LEN)));
    }
}
