//! Checkpoints (<https://c2sp.org/tlog-checkpoint>): the signed statement
//! "the log named `origin` had `size` entries with root `root`".
//!
//! The body is the note text
//!
//! ```text
//! <origin>\n
//! <tree size in decimal, no leading zeros>\n
//! <base64 root hash>\n
//! [<extension line>\n ...]
//! ```
//!
//! signed as a C2SP signed note. A client accepts a checkpoint only through
//! [`Checkpoint::open`], which checks the signature against the log keys it
//! trusts and the origin it expects, and hands back a [`VerifiedCheckpoint`].

use crate::hash::{Hash, HashError};
use crate::note::{KeyId, NoteError, NoteSigner, NoteVerifier, SignedNote};

/// A log's tree head: origin, size and root hash, plus optional extension
/// lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
    extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint for the log `origin` at `size` entries with root `root`.
    /// The origin must be non-empty and a single line without control
    /// characters.
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Checkpoint, CheckpointError> {
        if !is_valid_line(origin) {
            return Err(CheckpointError::InvalidOrigin);
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions: Vec::new(),
        })
    }

    /// Adds an extension line. The spec discourages them because monitors
    /// cannot audit them; each must be non-empty and a single line.
    pub fn with_extension(mut self, line: &str) -> Result<Checkpoint, CheckpointError> {
        if !is_valid_line(line) {
            return Err(CheckpointError::InvalidExtension {
                line: 4 + self.extensions.len(),
            });
        }
        self.extensions.push(line.to_owned());
        Ok(self)
    }

    /// The log's identity.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The number of entries.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash of the tree of [`Checkpoint::size`] entries.
    pub fn root(&self) -> Hash {
        self.root
    }

    /// The extension lines, without their newlines.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The note text.
    pub fn to_body(&self) -> String {
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            self.root.to_base64()
        );
        for line in &self.extensions {
            body.push_str(line);
            body.push('\n');
        }
        body
    }

    /// Parses a note text as a checkpoint body.
    pub fn parse_body(text: &str) -> Result<Checkpoint, CheckpointError> {
        let text = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::MissingFinalNewline)?;
        let mut lines = text.split('\n');
        let origin = lines
            .next()
            .filter(|line| is_valid_line(line))
            .ok_or(CheckpointError::InvalidOrigin)?;
        let size = lines
            .next()
            .ok_or(CheckpointError::MissingLine { line: "tree size" })
            .and_then(parse_size)?;
        let root = lines
            .next()
            .ok_or(CheckpointError::MissingLine { line: "root hash" })
            .and_then(|line| {
                Hash::from_base64(line)
                    .map_err(|source| CheckpointError::InvalidRootHash { source })
            })?;
        let mut extensions = Vec::new();
        for (index, line) in lines.enumerate() {
            if !is_valid_line(line) {
                return Err(CheckpointError::InvalidExtension { line: 4 + index });
            }
            extensions.push(line.to_owned());
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// Signs the checkpoint as a note. The log must only ever sign
    /// checkpoints consistent with every one it signed before.
    pub fn sign(&self, signer: &NoteSigner) -> Result<SignedNote, CheckpointError> {
        Ok(signer.sign(&self.to_body())?)
    }

    /// Parses and verifies a signed checkpoint from the log `origin`.
    ///
    /// The note must carry a valid signature by one of `verifiers` (the log's
    /// keys as the client knows them); signatures by other keys, such as
    /// witnesses the client does not know, are ignored.
    pub fn open(
        note: &[u8],
        origin: &str,
        verifiers: &[NoteVerifier],
    ) -> Result<VerifiedCheckpoint, CheckpointError> {
        let note = SignedNote::parse(note)?;
        let signed_by = note
            .verify(verifiers)?
            .signed_by()
            .iter()
            .map(|verifier| (verifier.key_name().to_owned(), verifier.key_id()))
            .collect();
        let checkpoint = Checkpoint::parse_body(note.text())?;
        if checkpoint.origin != origin {
            return Err(CheckpointError::OriginMismatch {
                expected: origin.to_owned(),
                found: checkpoint.origin,
            });
        }
        Ok(VerifiedCheckpoint {
            checkpoint,
            note,
            signed_by,
        })
    }
}

/// A checkpoint whose signature by a trusted key has been checked; only
/// [`Checkpoint::open`] makes one.
#[derive(Debug, Clone)]
pub struct VerifiedCheckpoint {
    checkpoint: Checkpoint,
    note: SignedNote,
    signed_by: Vec<(String, KeyId)>,
}

impl VerifiedCheckpoint {
    /// The checkpoint.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The signed note it came in, to store or pass on to others.
    pub fn note(&self) -> &SignedNote {
        &self.note
    }

    /// Name and key id of each trusted key whose signature verified.
    pub fn signed_by(&self) -> &[(String, KeyId)] {
        &self.signed_by
    }
}

/// What was wrong with a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The signed note around the checkpoint is malformed or not signed by a
    /// trusted key.
    #[error("checkpoint note: {0}")]
    Note(#[from] NoteError),
    /// The body does not end in a newline.
    #[error("checkpoint body does not end in a newline")]
    MissingFinalNewline,
    /// The body has fewer than three lines.
    #[error("checkpoint body has no {line} line")]
    MissingLine {
        /// The missing line: "tree size" or "root hash".
        line: &'static str,
    },
    /// The origin line is empty or holds a control character.
    #[error("checkpoint origin must be a non-empty line without control characters")]
    InvalidOrigin,
    /// The tree size is not a decimal number without leading zeros that fits
    /// in 64 bits.
    #[error("checkpoint tree size is not a canonical decimal number")]
    InvalidSize,
    /// The root hash line is not the base64 of 32 bytes.
    #[error("checkpoint root hash: {source}")]
    InvalidRootHash {
        /// What was wrong with it.
        source: HashError,
    },
    /// An extension line is empty or holds a control character.
    #[error("checkpoint line {line} is an empty or invalid extension line")]
    InvalidExtension {
        /// 1-based line number in the body.
        line: usize,
    },
    /// The checkpoint is from a log other than the one expected.
    #[error("checkpoint is from {found:?}, expected {expected:?}")]
    OriginMismatch {
        /// The origin the caller expected.
        expected: String,
        /// The origin in the checkpoint.
        found: String,
    },
}

/// A single non-empty line without control characters.
fn is_valid_line(line: &str) -> bool {
    !line.is_empty() && !line.chars().any(char::is_control)
}

/// ASCII decimal, no sign, no leading zeros except "0" itself.
fn parse_size(line: &str) -> Result<u64, CheckpointError> {
    let canonical = !line.is_empty()
        && line.bytes().all(|byte| byte.is_ascii_digit())
        && (line == "0" || !line.starts_with('0'));
    if !canonical {
        return Err(CheckpointError::InvalidSize);
    }
    line.parse().map_err(|_| CheckpointError::InvalidSize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    use ed25519_dalek::SigningKey;

    fn signer() -> NoteSigner {
        NoteSigner::new("example.com/log", SigningKey::from_bytes(&[1; 32])).unwrap()
    }

    #[test]
    fn body_format_matches_spec_example() {
        // The example in c2sp.org/tlog-checkpoint.
        let body =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let checkpoint = Checkpoint::parse_body(body).unwrap();
        assert_eq!(checkpoint.origin(), "example.com/behind-the-sofa");
        assert_eq!(checkpoint.size(), 20852163);
        assert_eq!(checkpoint.to_body(), body);
    }

    #[test]
    fn sign_and_open() {
        let signer = signer();
        let checkpoint = Checkpoint::new("example.com/log", 3, leaf_hash(b"r"))
            .unwrap()
            .with_extension("ext one")
            .unwrap();
        let note = checkpoint.sign(&signer).unwrap().encode();
        let opened =
            Checkpoint::open(note.as_bytes(), "example.com/log", &[signer.verifier()]).unwrap();
        assert_eq!(opened.checkpoint(), &checkpoint);
        assert_eq!(
            opened.signed_by(),
            &[("example.com/log".to_owned(), signer.key_id())]
        );
        assert_eq!(opened.note().encode(), note);

        assert!(matches!(
            Checkpoint::open(note.as_bytes(), "other.example/log", &[signer.verifier()]),
            Err(CheckpointError::OriginMismatch { .. })
        ));
        assert_eq!(
            Checkpoint::open(note.as_bytes(), "example.com/log", &[]).unwrap_err(),
            CheckpointError::Note(NoteError::NoKnownSignature)
        );
    }

    #[test]
    fn malformed_bodies_are_rejected() {
        let root = leaf_hash(b"r").to_base64();
        let cases = [
            (
                "o\n1\n".to_owned() + &root,
                CheckpointError::MissingFinalNewline,
            ),
            ("\n".to_owned(), CheckpointError::InvalidOrigin),
            (
                "o\n".to_owned(),
                CheckpointError::MissingLine { line: "tree size" },
            ),
            (
                "o\n1\n".to_owned(),
                CheckpointError::MissingLine { line: "root hash" },
            ),
            (format!("o\n01\n{root}\n"), CheckpointError::InvalidSize),
            (format!("o\n+1\n{root}\n"), CheckpointError::InvalidSize),
            (format!("o\n\n{root}\n"), CheckpointError::InvalidSize),
            (
                format!("o\n18446744073709551616\n{root}\n"),
                CheckpointError::InvalidSize,
            ),
            (
                "o\n1\nAAAA\n".to_owned(),
                CheckpointError::InvalidRootHash {
                    source: HashError::WrongLength { actual: 3 },
                },
            ),
            (
                format!("o\n1\n{root}\n\n"),
                CheckpointError::InvalidExtension { line: 4 },
            ),
            (
                format!("o\n1\n{root}\nx\n\n"),
                CheckpointError::InvalidExtension { line: 5 },
            ),
        ];
        for (body, want) in cases {
            assert_eq!(Checkpoint::parse_body(&body), Err(want), "{body:?}");
        }
        assert_eq!(
            Checkpoint::parse_body(&format!("o\n18446744073709551615\n{root}\n"))
                .unwrap()
                .size(),
            u64::MAX
        );
        assert_eq!(
            Checkpoint::parse_body(&format!("o\n0\n{root}\n"))
                .unwrap()
                .size(),
            0
        );
    }

    #[test]
    fn construction_rejects_multi_line_fields() {
        let root = leaf_hash(b"r");
        assert_eq!(
            Checkpoint::new("a\nb", 1, root),
            Err(CheckpointError::InvalidOrigin)
        );
        assert_eq!(
            Checkpoint::new("", 1, root),
            Err(CheckpointError::InvalidOrigin)
        );
        assert_eq!(
            Checkpoint::new("a", 1, root).unwrap().with_extension(""),
            Err(CheckpointError::InvalidExtension { line: 4 })
        );
    }
}
