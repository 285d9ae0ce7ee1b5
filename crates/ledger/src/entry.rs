//! The envelope every log entry's leaf data uses.
//!
//! The log does not know what a staff change or a privileged request looks
//! like; the crates that own those records serialize them into a body and
//! choose a type tag. The envelope binds the two together in one canonical
//! encoding, so that the same (tag, body) always gives the same leaf hash and
//! no two different pairs can give the same leaf data:
//!
//! ```text
//! version   u8      = 1
//! tag_len   u8      1..=64
//! tag       [u8]    tag_len bytes of [a-z0-9_.]
//! body_len  u32 BE
//! body      [u8]    body_len bytes
//! ```
//!
//! Every field has a single encoding (fixed-width lengths, no optional parts,
//! nothing after the body), and the whole envelope is at most
//! [`MAX_ENTRY_LEN`] bytes.

use std::fmt;

use crate::hash::{leaf_hash, Hash};

/// The envelope version this crate writes and the only one it reads.
pub const ENTRY_VERSION: u8 = 1;

/// Largest encoded entry accepted, in bytes (1 MiB).
pub const MAX_ENTRY_LEN: usize = 1 << 20;

/// Longest type tag, in bytes.
pub const MAX_TAG_LEN: usize = 64;

/// Bytes of the envelope that are not tag or body: version, tag length and
/// body length.
const HEADER_LEN: usize = 1 + 1 + 4;

/// A validated entry type tag: 1 to 64 characters from `[a-z0-9_.]`.
///
/// The meaning of each tag belongs to the crate that writes those entries
/// (for example `oversight.request`); this crate only keeps the tags
/// unambiguous and printable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryTag(String);

impl EntryTag {
    /// Validates `tag`.
    pub fn new(tag: &str) -> Result<EntryTag, EntryError> {
        EntryTag::from_bytes(tag.as_bytes())
    }

    fn from_bytes(tag: &[u8]) -> Result<EntryTag, EntryError> {
        if tag.is_empty() || tag.len() > MAX_TAG_LEN {
            return Err(EntryError::TagLength { len: tag.len() });
        }
        if let Some(position) = tag.iter().position(|&byte| !is_tag_byte(byte)) {
            return Err(EntryError::TagCharacter { position });
        }
        // Every byte is ASCII now, so the conversion cannot fail; the error
        // arm only keeps this free of a panic path.
        let text =
            std::str::from_utf8(tag).map_err(|_| EntryError::TagCharacter { position: 0 })?;
        Ok(EntryTag(text.to_owned()))
    }

    /// The tag text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EntryTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A log entry: a type tag and the body bytes that the tag's owner defines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    tag: EntryTag,
    body: Vec<u8>,
}

impl Entry {
    /// Builds an entry, checking that its encoding fits in [`MAX_ENTRY_LEN`].
    pub fn new(tag: EntryTag, body: Vec<u8>) -> Result<Entry, EntryError> {
        let len = HEADER_LEN + tag.0.len() + body.len();
        if len > MAX_ENTRY_LEN {
            return Err(EntryError::TooLarge {
                len,
                max: MAX_ENTRY_LEN,
            });
        }
        Ok(Entry { tag, body })
    }

    /// The type tag.
    pub fn tag(&self) -> &EntryTag {
        &self.tag
    }

    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The canonical encoding: the leaf data to append to the log and store.
    pub fn encode(&self) -> Vec<u8> {
        let tag = self.tag.0.as_bytes();
        let mut out = Vec::with_capacity(HEADER_LEN + tag.len() + self.body.len());
        out.push(ENTRY_VERSION);
        // Invariant: `EntryTag::new` caps tags at 64 bytes.
        out.push(u8::try_from(tag.len()).expect("tag length is at most 64"));
        out.extend_from_slice(tag);
        // Invariant: `Entry::new` caps the whole encoding at 1 MiB.
        let body_len = u32::try_from(self.body.len()).expect("body length is at most 1 MiB");
        out.extend_from_slice(&body_len.to_be_bytes());
        out.extend_from_slice(&self.body);
        out
    }

    /// Parses leaf data produced by [`Entry::encode`], rejecting anything that
    /// is not exactly one well-formed version-1 envelope.
    pub fn decode(bytes: &[u8]) -> Result<Entry, EntryError> {
        if bytes.len() > MAX_ENTRY_LEN {
            return Err(EntryError::TooLarge {
                len: bytes.len(),
                max: MAX_ENTRY_LEN,
            });
        }
        let mut reader = Reader { rest: bytes };
        let version = reader.take(1, "version")?[0];
        if version != ENTRY_VERSION {
            return Err(EntryError::UnknownVersion { version });
        }
        let tag_len = usize::from(reader.take(1, "tag length")?[0]);
        let tag_bytes = reader.take(tag_len, "tag")?;
        let tag = EntryTag::from_bytes(tag_bytes)?;
        let body_len_bytes = reader.take(4, "body length")?;
        let body_len = u32::from_be_bytes([
            body_len_bytes[0],
            body_len_bytes[1],
            body_len_bytes[2],
            body_len_bytes[3],
        ]);
        // A length beyond the input is reported as truncation by `take`; the
        // u32 to usize conversion cannot lose anything the input could hold.
        let body_len = usize::try_from(body_len).unwrap_or(usize::MAX);
        let body = reader.take(body_len, "body")?;
        if !reader.rest.is_empty() {
            return Err(EntryError::TrailingBytes {
                count: reader.rest.len(),
            });
        }
        Ok(Entry {
            tag,
            body: body.to_vec(),
        })
    }

    /// The leaf hash of the encoded entry, as the log computes it.
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.encode())
    }
}

/// Why an entry or tag was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntryError {
    /// The encoded entry is larger than the cap.
    #[error("entry is {len} bytes, the limit is {max}")]
    TooLarge {
        /// Size of the input or of the encoding it would have.
        len: usize,
        /// The limit, [`MAX_ENTRY_LEN`].
        max: usize,
    },
    /// The envelope version is not one this crate reads.
    #[error("unknown entry version {version}")]
    UnknownVersion {
        /// The version byte found.
        version: u8,
    },
    /// The input ends inside a field.
    #[error("entry ends inside its {field}")]
    Truncated {
        /// The field that was cut short.
        field: &'static str,
    },
    /// Bytes follow the body.
    #[error("{count} bytes follow the entry body")]
    TrailingBytes {
        /// How many extra bytes there are.
        count: usize,
    },
    /// The tag is empty or longer than [`MAX_TAG_LEN`].
    #[error("entry tag is {len} bytes, it must be 1 to {MAX_TAG_LEN}")]
    TagLength {
        /// The tag's length in bytes.
        len: usize,
    },
    /// The tag has a byte outside `[a-z0-9_.]`.
    #[error("entry tag has a character outside [a-z0-9_.] at byte {position}")]
    TagCharacter {
        /// Byte offset of the first bad character in the tag.
        position: usize,
    },
}

fn is_tag_byte(byte: u8) -> bool {
    matches!(byte, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.')
}

/// A cursor over the input that reports which field ran out.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], EntryError> {
        if len > self.rest.len() {
            return Err(EntryError::Truncated { field });
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tag: &str, body: &[u8]) -> Entry {
        Entry::new(EntryTag::new(tag).unwrap(), body.to_vec()).unwrap()
    }

    #[test]
    fn encoding_is_the_documented_layout() {
        let encoded = entry("staff.add", b"hi").encode();
        let mut want = vec![1, 9];
        want.extend_from_slice(b"staff.add");
        want.extend_from_slice(&[0, 0, 0, 2]);
        want.extend_from_slice(b"hi");
        assert_eq!(encoded, want);
        assert_eq!(Entry::decode(&encoded), Ok(entry("staff.add", b"hi")));
    }

    #[test]
    fn tags_are_validated() {
        assert!(EntryTag::new("key_directory.v1").is_ok());
        assert_eq!(EntryTag::new(""), Err(EntryError::TagLength { len: 0 }));
        assert_eq!(
            EntryTag::new(&"a".repeat(65)),
            Err(EntryError::TagLength { len: 65 })
        );
        assert!(EntryTag::new(&"a".repeat(64)).is_ok());
        assert_eq!(
            EntryTag::new("Staff"),
            Err(EntryError::TagCharacter { position: 0 })
        );
        assert_eq!(
            EntryTag::new("a b"),
            Err(EntryError::TagCharacter { position: 1 })
        );
        assert_eq!(
            EntryTag::new("é"),
            Err(EntryError::TagCharacter { position: 0 })
        );
    }

    #[test]
    fn malformed_envelopes_are_rejected() {
        let good = entry("a", b"body").encode();

        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(
            Entry::decode(&trailing),
            Err(EntryError::TrailingBytes { count: 1 })
        );

        let mut version = good.clone();
        version[0] = 2;
        assert_eq!(
            Entry::decode(&version),
            Err(EntryError::UnknownVersion { version: 2 })
        );

        assert_eq!(
            Entry::decode(&good[..good.len() - 1]),
            Err(EntryError::Truncated { field: "body" })
        );
        assert_eq!(
            Entry::decode(&[]),
            Err(EntryError::Truncated { field: "version" })
        );
        assert_eq!(
            Entry::decode(&[1, 0, 0, 0, 0, 0]),
            Err(EntryError::TagLength { len: 0 })
        );
        assert_eq!(
            Entry::decode(&[1, 1, b'A', 0, 0, 0, 0]),
            Err(EntryError::TagCharacter { position: 0 })
        );

        // A body length claiming more than is there is truncation, not a
        // huge allocation.
        assert_eq!(
            Entry::decode(&[1, 1, b'a', 0xff, 0xff, 0xff, 0xff]),
            Err(EntryError::Truncated { field: "body" })
        );
    }

    #[test]
    fn oversize_is_rejected_both_ways() {
        let tag = EntryTag::new("big").unwrap();
        let fits = MAX_ENTRY_LEN - HEADER_LEN - 3;
        let largest = Entry::new(tag.clone(), vec![0; fits]).unwrap();
        assert_eq!(largest.encode().len(), MAX_ENTRY_LEN);
        assert_eq!(Entry::decode(&largest.encode()), Ok(largest));
        assert_eq!(
            Entry::new(tag, vec![0; fits + 1]),
            Err(EntryError::TooLarge {
                len: MAX_ENTRY_LEN + 1,
                max: MAX_ENTRY_LEN
            })
        );
        assert_eq!(
            Entry::decode(&vec![1; MAX_ENTRY_LEN + 1]),
            Err(EntryError::TooLarge {
                len: MAX_ENTRY_LEN + 1,
                max: MAX_ENTRY_LEN
            })
        );
    }

    #[test]
    fn leaf_hash_covers_the_envelope() {
        let one = entry("a", b"x");
        assert_eq!(one.leaf_hash(), leaf_hash(&one.encode()));
        assert_ne!(one.leaf_hash(), entry("b", b"x").leaf_hash());
    }
}
