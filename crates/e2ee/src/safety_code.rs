//! Safety codes: a short number every member of an MLS epoch can read out to the others, to
//! check out of band that they share one group state and no unseen member (threat T4).
//!
//! The input is the epoch authenticator of RFC 9420 section 8.7, which all members of an epoch
//! share and which changes with every commit. The derivation, which the web client mirrors:
//!
//! ```text
//! digest = SHA-512("conclave safety code v1" || epoch_authenticator)
//! group i (i = 0..6) = big-endian integer of digest[5i .. 5i+5] mod 100000
//! code = the six groups, each written with 5 digits (zero-padded), separated by spaces
//! ```
//!
//! Each group takes 40 bits of the digest, so the reduction mod 100000 is biased by less than
//! 1e-7; the 30 digits carry about 99.6 bits, far beyond what a forger could search for a
//! colliding group state. The label keeps the digest distinct from any other use of the
//! authenticator.

use std::fmt;

use sha2::{Digest, Sha512};

/// How many 5-digit groups a code has.
pub const GROUPS: usize = 6;

/// The shortest epoch authenticator accepted: MLS produces `KDF.Nh` bytes (32 for ciphersuite
/// 0x0001), so anything below 16 is not an authenticator.
pub const MIN_AUTHENTICATOR_LEN: usize = 16;

/// The longest epoch authenticator accepted: `KDF.Nh` of SHA-512, the largest MLS hash.
pub const MAX_AUTHENTICATOR_LEN: usize = 64;

const LABEL: &[u8] = b"conclave safety code v1";
const GROUP_BYTES: usize = 5;
const GROUP_MODULUS: u64 = 100_000;

/// A 30-digit code, equal for every member of one MLS epoch. Displays as six groups of five
/// digits: `"01234 56789 ..."`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SafetyCode([u32; GROUPS]);

impl SafetyCode {
    /// Derives the code of the epoch with this epoch authenticator.
    pub fn from_epoch_authenticator(authenticator: &[u8]) -> Result<Self, SafetyCodeError> {
        if !(MIN_AUTHENTICATOR_LEN..=MAX_AUTHENTICATOR_LEN).contains(&authenticator.len()) {
            return Err(SafetyCodeError::AuthenticatorLength {
                len: authenticator.len(),
            });
        }
        let digest = Sha512::new()
            .chain_update(LABEL)
            .chain_update(authenticator)
            .finalize();
        let mut groups = [0u32; GROUPS];
        for (group, chunk) in groups.iter_mut().zip(digest.chunks_exact(GROUP_BYTES)) {
            let value = chunk
                .iter()
                .fold(0u64, |acc, &byte| (acc << 8) | u64::from(byte));
            // The remainder is below 100000, which fits a u32.
            *group = (value % GROUP_MODULUS) as u32;
        }
        Ok(Self(groups))
    }

    /// The six groups as numbers below 100000.
    pub fn groups(&self) -> [u32; GROUPS] {
        self.0
    }
}

impl fmt::Display for SafetyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, group) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{group:05}")?;
        }
        Ok(())
    }
}

/// Why no safety code could be derived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SafetyCodeError {
    /// The epoch authenticator's length is outside what MLS produces.
    #[error(
        "epoch authenticator of {len} bytes is outside \
         {MIN_AUTHENTICATOR_LEN}..={MAX_AUTHENTICATOR_LEN}"
    )]
    AuthenticatorLength {
        /// Its length in bytes.
        len: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_authenticator_same_code_and_format() {
        let a = SafetyCode::from_epoch_authenticator(&[7u8; 32]).expect("valid length");
        let b = SafetyCode::from_epoch_authenticator(&[7u8; 32]).expect("valid length");
        assert_eq!(a, b);
        let text = a.to_string();
        let groups: Vec<&str> = text.split(' ').collect();
        assert_eq!(groups.len(), GROUPS);
        assert!(groups
            .iter()
            .all(|g| g.len() == 5 && g.bytes().all(|c| c.is_ascii_digit())));
    }

    #[test]
    fn different_epochs_differ() {
        let a = SafetyCode::from_epoch_authenticator(&[7u8; 32]).expect("valid length");
        let b = SafetyCode::from_epoch_authenticator(&[8u8; 32]).expect("valid length");
        assert_ne!(a, b);
    }

    #[test]
    fn refuses_lengths_mls_never_produces() {
        assert_eq!(
            SafetyCode::from_epoch_authenticator(&[0u8; 15]),
            Err(SafetyCodeError::AuthenticatorLength { len: 15 })
        );
        assert!(SafetyCode::from_epoch_authenticator(&[0u8; 65]).is_err());
    }

    /// Pins the derivation, so the web client can be checked against the same value.
    #[test]
    fn known_answer() {
        let authenticator: Vec<u8> = (0u8..32).collect();
        let code = SafetyCode::from_epoch_authenticator(&authenticator).expect("valid length");
        assert_eq!(code.to_string(), "25482 57980 86487 37606 49828 60740");
    }

    #[test]
    fn display_zero_pads() {
        let code = SafetyCode([0, 7, 42, 99_999, 12_345, 100]);
        assert_eq!(code.to_string(), "00000 00007 00042 99999 12345 00100");
    }
}
