//! C2SP signed notes (<https://c2sp.org/signed-note>) with Ed25519 keys.
//!
//! A signed note is a UTF-8 text ending in a newline, a blank line, and one or
//! more signature lines `— <key name> <base64(key id || signature)>`. The log
//! signs its checkpoints this way, and witnesses can add their own lines.
//!
//! Parsing is strict and bounded: at most [`MAX_NOTE_LEN`] bytes and
//! [`MAX_NOTE_SIGNATURES`] signature lines, and every malformation has its
//! own [`NoteError`] variant. Verification follows the spec: signatures by
//! unknown keys are ignored, a bad signature by a known key rejects the whole
//! note, and a note that no known key signed is rejected.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::hash::hex;

/// Largest signed note accepted, in bytes (64 KiB).
pub const MAX_NOTE_LEN: usize = 64 * 1024;

/// Most signature lines accepted in one note. The spec asks verifiers to
/// accept at least 16.
pub const MAX_NOTE_SIGNATURES: usize = 100;

/// Signature type byte of Ed25519 in key ids and verifier keys.
const ED25519_TYPE: u8 = 0x01;

/// Length of an Ed25519 signature.
const ED25519_SIGNATURE_LEN: usize = 64;

/// What starts every signature line: em dash (U+2014) and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// The 4-byte id of a note key: the first bytes of
/// `SHA-256(key name || "\n" || 0x01 || public key)` for Ed25519.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 4]);

impl KeyId {
    /// The key id of an Ed25519 key under `key_name`.
    pub fn ed25519(key_name: &str, key: &VerifyingKey) -> KeyId {
        let mut hasher = Sha256::new();
        hasher.update(key_name.as_bytes());
        hasher.update(b"\n");
        hasher.update([ED25519_TYPE]);
        hasher.update(key.as_bytes());
        let digest = hasher.finalize();
        KeyId([digest[0], digest[1], digest[2], digest[3]])
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", hex(&self.0))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

/// The log's (or a witness's) signing key, with the name it signs under.
pub struct NoteSigner {
    key_name: String,
    key_id: KeyId,
    key: SigningKey,
}

impl NoteSigner {
    /// A signer for `key_name`, which must be non-empty and contain neither
    /// whitespace nor `+`. For a log it should be the checkpoint origin.
    pub fn new(key_name: &str, key: SigningKey) -> Result<NoteSigner, NoteError> {
        if !is_valid_key_name(key_name) {
            return Err(NoteError::InvalidKeyName);
        }
        Ok(NoteSigner {
            key_id: KeyId::ed25519(key_name, &key.verifying_key()),
            key_name: key_name.to_owned(),
            key,
        })
    }

    /// The name the key signs under.
    pub fn key_name(&self) -> &str {
        &self.key_name
    }

    /// The key id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The matching verifier, to publish (via its `Display` form) to clients.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            key_name: self.key_name.clone(),
            key_id: self.key_id,
            key: self.key.verifying_key(),
        }
    }

    /// Signs `text` as a new note. The text must end in a newline, hold no
    /// control characters but newlines, and leave the note within
    /// [`MAX_NOTE_LEN`].
    pub fn sign(&self, text: &str) -> Result<SignedNote, NoteError> {
        check_text(text)?;
        let mut note = SignedNote {
            text: text.to_owned(),
            signatures: Vec::new(),
        };
        note.add_signature(self)?;
        Ok(note)
    }

    fn signature_over(&self, text: &str) -> NoteSignature {
        NoteSignature {
            key_name: self.key_name.clone(),
            key_id: self.key_id,
            signature: self.key.sign(text.as_bytes()).to_bytes().to_vec(),
        }
    }
}

impl fmt::Debug for NoteSigner {
    // The private key must never reach a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("key_name", &self.key_name)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// A public key that notes are checked against, with its name and id.
///
/// Its text form is the C2SP verifier key `<name>+<hex key id>+<base64(0x01
/// || public key)>`, made by `Display` and read by [`NoteVerifier::parse`].
#[derive(Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    key_name: String,
    key_id: KeyId,
    key: VerifyingKey,
}

impl NoteVerifier {
    /// A verifier for an Ed25519 key under `key_name`.
    pub fn new(key_name: &str, key: VerifyingKey) -> Result<NoteVerifier, NoteError> {
        if !is_valid_key_name(key_name) {
            return Err(NoteError::InvalidKeyName);
        }
        Ok(NoteVerifier {
            key_id: KeyId::ed25519(key_name, &key),
            key_name: key_name.to_owned(),
            key,
        })
    }

    /// Parses a verifier key string, checking that its key id is the one the
    /// name and key give.
    pub fn parse(encoded: &str) -> Result<NoteVerifier, NoteError> {
        // Base64 may itself contain '+', so only the first two split.
        let mut parts = encoded.splitn(3, '+');
        let (Some(key_name), Some(id_hex), Some(key_base64)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::VerifierKeyFormat);
        };
        if !is_valid_key_name(key_name) {
            return Err(NoteError::InvalidKeyName);
        }
        let stated = parse_key_id(id_hex).ok_or(NoteError::VerifierKeyId)?;
        // 33 bytes are 44 base64 characters; anything longer cannot be a key.
        if key_base64.len() > 44 {
            return Err(NoteError::VerifierKeyBytes);
        }
        let bytes = BASE64
            .decode(key_base64)
            .map_err(|_| NoteError::VerifierKeyBytes)?;
        let (&key_type, key_bytes) = bytes.split_first().ok_or(NoteError::VerifierKeyBytes)?;
        if key_type != ED25519_TYPE {
            return Err(NoteError::VerifierKeyType { key_type });
        }
        let key_bytes: &[u8; 32] = key_bytes
            .try_into()
            .map_err(|_| NoteError::VerifierKeyBytes)?;
        let key = VerifyingKey::from_bytes(key_bytes).map_err(|_| NoteError::VerifierKeyBytes)?;
        let verifier = NoteVerifier::new(key_name, key)?;
        if verifier.key_id != stated {
            return Err(NoteError::KeyIdMismatch {
                stated,
                computed: verifier.key_id,
            });
        }
        Ok(verifier)
    }

    /// The name signatures by this key carry.
    pub fn key_name(&self) -> &str {
        &self.key_name
    }

    /// The key id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The Ed25519 public key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    fn accepts(&self, text: &str, signature: &[u8]) -> bool {
        let Ok(bytes) = <[u8; ED25519_SIGNATURE_LEN]>::try_from(signature) else {
            return false;
        };
        let signature = ed25519_dalek::Signature::from_bytes(&bytes);
        // Strict verification refuses small-order keys and non-canonical
        // encodings, so one note has one valid signature per key.
        self.key.verify_strict(text.as_bytes(), &signature).is_ok()
    }
}

impl fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut key = Vec::with_capacity(33);
        key.push(ED25519_TYPE);
        key.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{}+{}",
            self.key_name,
            self.key_id,
            BASE64.encode(key)
        )
    }
}

impl fmt::Debug for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoteVerifier({self})")
    }
}

impl FromStr for NoteVerifier {
    type Err = NoteError;

    fn from_str(encoded: &str) -> Result<NoteVerifier, NoteError> {
        NoteVerifier::parse(encoded)
    }
}

/// One signature line of a note, not yet checked against any key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    key_name: String,
    key_id: KeyId,
    signature: Vec<u8>,
}

impl NoteSignature {
    /// The key name on the line.
    pub fn key_name(&self) -> &str {
        &self.key_name
    }

    /// The key id on the line.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The signature bytes after the key id.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    fn encoded_line(&self) -> String {
        let mut payload = Vec::with_capacity(4 + self.signature.len());
        payload.extend_from_slice(&self.key_id.0);
        payload.extend_from_slice(&self.signature);
        format!(
            "{SIGNATURE_PREFIX}{} {}\n",
            self.key_name,
            BASE64.encode(payload)
        )
    }

    fn parse_line(line: &str, number: usize) -> Result<NoteSignature, NoteError> {
        let rest = line
            .strip_prefix(SIGNATURE_PREFIX)
            .ok_or(NoteError::SignaturePrefix { line: number })?;
        let (key_name, payload_base64) = rest
            .split_once(' ')
            .ok_or(NoteError::SignatureKeyName { line: number })?;
        if !is_valid_key_name(key_name) {
            return Err(NoteError::SignatureKeyName { line: number });
        }
        let payload = BASE64
            .decode(payload_base64)
            .map_err(|_| NoteError::SignatureBase64 { line: number })?;
        match payload.as_slice() {
            [a, b, c, d, signature @ ..] if !signature.is_empty() => Ok(NoteSignature {
                key_name: key_name.to_owned(),
                key_id: KeyId([*a, *b, *c, *d]),
                signature: signature.to_vec(),
            }),
            _ => Err(NoteError::SignatureTooShort {
                line: number,
                len: payload.len(),
            }),
        }
    }
}

/// A note text with its signature lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNote {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl SignedNote {
    /// Parses a signed note, checking its syntax but no signature.
    pub fn parse(bytes: &[u8]) -> Result<SignedNote, NoteError> {
        if bytes.len() > MAX_NOTE_LEN {
            return Err(NoteError::TooLarge {
                len: bytes.len(),
                max: MAX_NOTE_LEN,
            });
        }
        let message = std::str::from_utf8(bytes).map_err(|error| NoteError::NotUtf8 {
            valid_up_to: error.valid_up_to(),
        })?;
        check_control_characters(message)?;
        // The text ends at the last blank line; it may hold blank lines itself.
        let split = message
            .rfind("\n\n")
            .ok_or(NoteError::MissingSignatureBlock)?;
        let text = &message[..split + 1];
        let block = &message[split + 2..];
        if block.is_empty() {
            return Err(NoteError::MissingSignatureBlock);
        }
        let block = block
            .strip_suffix('\n')
            .ok_or(NoteError::MissingFinalNewline)?;
        // Counting first keeps a flood of lines from being decoded at all.
        let count = block.split('\n').count();
        if count > MAX_NOTE_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                count,
                max: MAX_NOTE_SIGNATURES,
            });
        }
        let signatures = block
            .split('\n')
            .enumerate()
            .map(|(index, line)| NoteSignature::parse_line(line, index + 1))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SignedNote {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The signed text, including its final newline.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Adds `signer`'s signature (a witness cosigning, or the log re-signing),
    /// replacing any earlier one by the same key.
    pub fn add_signature(&mut self, signer: &NoteSigner) -> Result<(), NoteError> {
        let signature = signer.signature_over(&self.text);
        let mut signatures = self.signatures.clone();
        signatures
            .retain(|old| !(old.key_name == signature.key_name && old.key_id == signature.key_id));
        if signatures.len() >= MAX_NOTE_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                count: signatures.len() + 1,
                max: MAX_NOTE_SIGNATURES,
            });
        }
        signatures.push(signature);
        let candidate = SignedNote {
            text: self.text.clone(),
            signatures,
        };
        // The result must still be a note that `parse` accepts.
        let len = candidate.encode().len();
        if len > MAX_NOTE_LEN {
            return Err(NoteError::TooLarge {
                len,
                max: MAX_NOTE_LEN,
            });
        }
        *self = candidate;
        Ok(())
    }

    /// The wire form: text, blank line, signature lines.
    pub fn encode(&self) -> String {
        let mut out = self.text.clone();
        out.push('\n');
        for signature in &self.signatures {
            out.push_str(&signature.encoded_line());
        }
        out
    }

    /// Checks the signatures against the trusted `verifiers`.
    ///
    /// Signatures whose (name, id) pair matches no verifier are ignored. A
    /// signature by a known key that does not verify rejects the note, and so
    /// does a note with no signature by a known key.
    pub fn verify<'a>(
        &'a self,
        verifiers: &'a [NoteVerifier],
    ) -> Result<VerifiedNote<'a>, NoteError> {
        let mut signed_by: Vec<&NoteVerifier> = Vec::new();
        for signature in &self.signatures {
            let mut matching = verifiers.iter().filter(|verifier| {
                verifier.key_name == signature.key_name && verifier.key_id == signature.key_id
            });
            let Some(verifier) = matching.next() else {
                continue;
            };
            if matching.any(|other| other.key != verifier.key) {
                return Err(NoteError::AmbiguousKey {
                    key_name: signature.key_name.clone(),
                    key_id: signature.key_id,
                });
            }
            if !verifier.accepts(&self.text, &signature.signature) {
                return Err(NoteError::InvalidSignature {
                    key_name: signature.key_name.clone(),
                    key_id: signature.key_id,
                });
            }
            if !signed_by.iter().any(|known| known.key == verifier.key) {
                signed_by.push(verifier);
            }
        }
        if signed_by.is_empty() {
            return Err(NoteError::NoKnownSignature);
        }
        Ok(VerifiedNote {
            note: self,
            signed_by,
        })
    }
}

/// A note at least one trusted key has signed, as returned by
/// [`SignedNote::verify`]; only that function makes one.
#[derive(Debug, Clone)]
pub struct VerifiedNote<'a> {
    note: &'a SignedNote,
    signed_by: Vec<&'a NoteVerifier>,
}

impl<'a> VerifiedNote<'a> {
    /// The verified text.
    pub fn text(&self) -> &'a str {
        &self.note.text
    }

    /// The trusted keys whose signatures verified, each once.
    pub fn signed_by(&self) -> &[&'a NoteVerifier] {
        &self.signed_by
    }
}

/// What was wrong with a note, a key or a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    /// The note is larger than the limit.
    #[error("note is {len} bytes, the limit is {max}")]
    TooLarge {
        /// Size of the note.
        len: usize,
        /// The limit, [`MAX_NOTE_LEN`].
        max: usize,
    },
    /// The note is not UTF-8.
    #[error("note is not UTF-8 after byte {valid_up_to}")]
    NotUtf8 {
        /// Length of the valid UTF-8 prefix.
        valid_up_to: usize,
    },
    /// The note holds an ASCII control character other than newline.
    #[error("note has a control character at byte {offset}")]
    ControlCharacter {
        /// Byte offset of the character.
        offset: usize,
    },
    /// The note text to sign is empty or does not end in a newline.
    #[error("note text must end in a newline")]
    TextWithoutFinalNewline,
    /// There is no blank line followed by signature lines.
    #[error("note has no signature block after a blank line")]
    MissingSignatureBlock,
    /// The last signature line does not end in a newline.
    #[error("note does not end in a newline")]
    MissingFinalNewline,
    /// More signature lines than the limit.
    #[error("note has {count} signatures, the limit is {max}")]
    TooManySignatures {
        /// How many there are (or would be).
        count: usize,
        /// The limit, [`MAX_NOTE_SIGNATURES`].
        max: usize,
    },
    /// A signature line does not start with an em dash and a space.
    #[error("signature line {line} does not start with \"\u{2014} \"")]
    SignaturePrefix {
        /// 1-based number of the signature line.
        line: usize,
    },
    /// A signature line's key name is missing or invalid.
    #[error("signature line {line} has no valid key name")]
    SignatureKeyName {
        /// 1-based number of the signature line.
        line: usize,
    },
    /// A signature line's signature is not standard base64.
    #[error("signature line {line} is not valid base64")]
    SignatureBase64 {
        /// 1-based number of the signature line.
        line: usize,
    },
    /// A signature line decodes to no more than a key id.
    #[error("signature line {line} decodes to {len} bytes, fewer than a key id and a signature")]
    SignatureTooShort {
        /// 1-based number of the signature line.
        line: usize,
        /// Decoded length.
        len: usize,
    },
    /// A key name is empty or holds whitespace or `+`.
    #[error("key name must be non-empty without whitespace or '+'")]
    InvalidKeyName,
    /// A verifier key string is not `<name>+<key id>+<key>`.
    #[error("verifier key is not <name>+<key id>+<key>")]
    VerifierKeyFormat,
    /// A verifier key's id is not 8 lowercase hex digits.
    #[error("verifier key id is not 8 lowercase hex digits")]
    VerifierKeyId,
    /// A verifier key is of a signature type other than Ed25519 (0x01).
    #[error("verifier key type {key_type:#04x} is not Ed25519 (0x01)")]
    VerifierKeyType {
        /// The type byte found.
        key_type: u8,
    },
    /// A verifier key is not the base64 of a type byte and a valid Ed25519
    /// public key.
    #[error("verifier key is not a valid Ed25519 public key")]
    VerifierKeyBytes,
    /// A verifier key's stated id is not the one its name and key give.
    #[error("verifier key states id {stated}, its name and key give {computed}")]
    KeyIdMismatch {
        /// The id in the string.
        stated: KeyId,
        /// The id computed from name and key.
        computed: KeyId,
    },
    /// Two different trusted keys share a name and key id.
    #[error("two trusted keys are named {key_name} with id {key_id}")]
    AmbiguousKey {
        /// The shared name.
        key_name: String,
        /// The shared id.
        key_id: KeyId,
    },
    /// A signature by a trusted key does not verify: the note was altered or
    /// forged.
    #[error("signature by trusted key {key_name}+{key_id} does not verify")]
    InvalidSignature {
        /// Name of the key.
        key_name: String,
        /// Id of the key.
        key_id: KeyId,
    },
    /// No trusted key signed the note.
    #[error("note has no signature by a trusted key")]
    NoKnownSignature,
}

/// Checks a text about to be signed.
fn check_text(text: &str) -> Result<(), NoteError> {
    if text.len() > MAX_NOTE_LEN {
        return Err(NoteError::TooLarge {
            len: text.len(),
            max: MAX_NOTE_LEN,
        });
    }
    check_control_characters(text)?;
    if !text.ends_with('\n') {
        return Err(NoteError::TextWithoutFinalNewline);
    }
    Ok(())
}

fn check_control_characters(text: &str) -> Result<(), NoteError> {
    match text.bytes().position(|byte| byte < 0x20 && byte != b'\n') {
        Some(offset) => Err(NoteError::ControlCharacter { offset }),
        None => Ok(()),
    }
}

/// Key names are non-empty with no Unicode whitespace and no `+`.
fn is_valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

fn parse_key_id(text: &str) -> Option<KeyId> {
    if text.len() != 8
        || !text
            .bytes()
            .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
    {
        return None;
    }
    let value = u32::from_str_radix(text, 16).ok()?;
    Some(KeyId(value.to_be_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(name: &str, seed: u8) -> NoteSigner {
        NoteSigner::new(name, SigningKey::from_bytes(&[seed; 32])).unwrap()
    }

    #[test]
    fn sign_parse_verify_round_trip() {
        let signer = signer("log.example", 1);
        let note = signer.sign("hello\nworld\n").unwrap();
        let parsed = SignedNote::parse(note.encode().as_bytes()).unwrap();
        assert_eq!(parsed, note);
        let verifiers = [signer.verifier()];
        let verified = parsed.verify(&verifiers).unwrap();
        assert_eq!(verified.text(), "hello\nworld\n");
        assert_eq!(verified.signed_by().len(), 1);
    }

    #[test]
    fn verifier_key_string_round_trip() {
        let verifier = signer("log.example/a", 2).verifier();
        let text = verifier.to_string();
        assert!(text.starts_with(&format!("log.example/a+{}+A", verifier.key_id())));
        assert_eq!(NoteVerifier::parse(&text), Ok(verifier));
    }

    #[test]
    fn go_reference_verifier_key_is_accepted() {
        // The example key of Go's golang.org/x/mod/sumdb/note documentation.
        let text = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
        let verifier = NoteVerifier::parse(text).unwrap();
        assert_eq!(verifier.key_name(), "PeterNeumann");
        assert_eq!(verifier.key_id(), KeyId([0xc7, 0x4f, 0x20, 0xa3]));
        assert_eq!(verifier.to_string(), text);

        // The signed example note from the same documentation.
        let note = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n\
                    \n\
                    \u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
        let parsed = SignedNote::parse(note.as_bytes()).unwrap();
        assert!(parsed.verify(&[verifier]).is_ok());
    }

    #[test]
    fn verifier_key_errors() {
        let good = signer("n", 3).verifier().to_string();
        let (name, rest) = good.split_once('+').unwrap();
        let (id, key) = rest.split_once('+').unwrap();
        assert_eq!(
            NoteVerifier::parse("no-plus"),
            Err(NoteError::VerifierKeyFormat)
        );
        assert_eq!(
            NoteVerifier::parse(&format!("{name}+{}+{key}", id.to_uppercase())),
            Err(NoteError::VerifierKeyId)
        );
        assert!(matches!(
            NoteVerifier::parse(&format!("{name}+00000000+{key}")),
            Err(NoteError::KeyIdMismatch { .. })
        ));
        assert!(matches!(
            NoteVerifier::parse(&format!("other+{id}+{key}")),
            Err(NoteError::KeyIdMismatch { .. })
        ));
        let mut wrong_type = BASE64.decode(key).unwrap();
        wrong_type[0] = 2;
        assert_eq!(
            NoteVerifier::parse(&format!("{name}+{id}+{}", BASE64.encode(&wrong_type))),
            Err(NoteError::VerifierKeyType { key_type: 2 })
        );
        assert_eq!(
            NoteVerifier::parse(&format!("{name}+{id}+AQ==")),
            Err(NoteError::VerifierKeyBytes)
        );
        assert_eq!(
            NoteVerifier::parse(&format!("a b+{id}+{key}")),
            Err(NoteError::InvalidKeyName)
        );
    }

    #[test]
    fn unknown_keys_are_ignored_and_bad_known_signatures_reject() {
        let log = signer("log", 4);
        let witness = signer("witness", 5);
        let mut note = log.sign("body\n").unwrap();
        note.add_signature(&witness).unwrap();

        // Only the witness is trusted: the log's line is ignored.
        let trusted = [witness.verifier()];
        let verified = note.verify(&trusted).unwrap();
        assert_eq!(verified.signed_by()[0].key_name(), "witness");

        // A key sharing the name but not the id is unknown, not a failure.
        let impostor = NoteVerifier::new("log", signer("x", 6).verifier().key).unwrap();
        assert_eq!(
            note.verify(std::slice::from_ref(&impostor)).unwrap_err(),
            NoteError::NoKnownSignature
        );

        // A tampered text fails against the known key.
        let tampered = note.encode().replacen("body", "bodY", 1);
        let tampered = SignedNote::parse(tampered.as_bytes()).unwrap();
        assert!(matches!(
            tampered.verify(&[log.verifier()]),
            Err(NoteError::InvalidSignature { .. })
        ));

        assert_eq!(note.verify(&[]).unwrap_err(), NoteError::NoKnownSignature);
    }

    #[test]
    fn add_signature_replaces_same_key() {
        let log = signer("log", 7);
        let mut note = log.sign("x\n").unwrap();
        note.add_signature(&log).unwrap();
        assert_eq!(note.signatures().len(), 1);
    }

    #[test]
    fn parse_errors_name_the_problem() {
        let sig = signer("k", 8).sign("t\n").unwrap().encode();
        let line = sig.strip_prefix("t\n\n").unwrap();
        let cases: Vec<(Vec<u8>, NoteError)> = vec![
            (
                vec![b'a'; MAX_NOTE_LEN + 1],
                NoteError::TooLarge {
                    len: MAX_NOTE_LEN + 1,
                    max: MAX_NOTE_LEN,
                },
            ),
            (vec![b't', 0xff], NoteError::NotUtf8 { valid_up_to: 1 }),
            (
                b"t\r\n\n".to_vec(),
                NoteError::ControlCharacter { offset: 1 },
            ),
            (b"t\n".to_vec(), NoteError::MissingSignatureBlock),
            (b"t\n\n".to_vec(), NoteError::MissingSignatureBlock),
            (
                format!("t\n\n{}", line.trim_end()).into_bytes(),
                NoteError::MissingFinalNewline,
            ),
            (
                b"t\n\n- k AAAAAAA=\n".to_vec(),
                NoteError::SignaturePrefix { line: 1 },
            ),
            (
                format!("t\n\n{line}\u{2014} k+x AAAAAAA=\n").into_bytes(),
                NoteError::SignatureKeyName { line: 2 },
            ),
            (
                "t\n\n\u{2014} k\n".as_bytes().to_vec(),
                NoteError::SignatureKeyName { line: 1 },
            ),
            (
                "t\n\n\u{2014} k AAAA!\n".as_bytes().to_vec(),
                NoteError::SignatureBase64 { line: 1 },
            ),
            (
                "t\n\n\u{2014} k AAAAAA==\n".as_bytes().to_vec(),
                NoteError::SignatureTooShort { line: 1, len: 4 },
            ),
            (
                format!("t\n\n{}", line.repeat(MAX_NOTE_SIGNATURES + 1)).into_bytes(),
                NoteError::TooManySignatures {
                    count: MAX_NOTE_SIGNATURES + 1,
                    max: MAX_NOTE_SIGNATURES,
                },
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                SignedNote::parse(&input),
                Err(want),
                "{:?}",
                String::from_utf8_lossy(&input)
            );
        }
        // Exactly the limit is fine.
        let hundred = format!("t\n\n{}", line.repeat(MAX_NOTE_SIGNATURES));
        assert!(SignedNote::parse(hundred.as_bytes()).is_ok());
    }

    #[test]
    fn text_may_hold_blank_lines() {
        let log = signer("log", 9);
        let note = log.sign("a\n\nb\n\n").unwrap();
        let parsed = SignedNote::parse(note.encode().as_bytes()).unwrap();
        assert_eq!(parsed.text(), "a\n\nb\n\n");
        assert!(parsed.verify(&[log.verifier()]).is_ok());
    }

    #[test]
    fn signing_checks_the_text() {
        let log = signer("log", 10);
        assert_eq!(log.sign(""), Err(NoteError::TextWithoutFinalNewline));
        assert_eq!(log.sign("a"), Err(NoteError::TextWithoutFinalNewline));
        assert_eq!(
            log.sign("a\tb\n"),
            Err(NoteError::ControlCharacter { offset: 1 })
        );
        assert!(matches!(
            log.sign(&"a".repeat(MAX_NOTE_LEN - 10).add_newline()),
            Err(NoteError::TooLarge { .. })
        ));
        assert_eq!(
            NoteSigner::new("a+b", SigningKey::from_bytes(&[0; 32])).unwrap_err(),
            NoteError::InvalidKeyName
        );
    }

    trait AddNewline {
        fn add_newline(self) -> String;
    }

    impl AddNewline for String {
        fn add_newline(mut self) -> String {
            self.push('\n');
            self
        }
    }

    #[test]
    fn signer_debug_hides_the_private_key() {
        let log = signer("log", 11);
        let text = format!("{log:?}");
        assert!(text.contains("log"));
        assert!(!text.contains(&hex(&[11; 32])));
        assert!(!text.contains("SigningKey"));
    }
}
