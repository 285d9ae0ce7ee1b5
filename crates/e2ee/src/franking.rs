//! Message franking for chat (DESIGN.md, "Franking"; threat T5): a receiver can report a message
//! so that a reviewer can check who really sent it, while the server never reads messages.
//!
//! 1. The sender picks a fresh 32-byte [`FrankingKey`] per message and computes a
//!    [`Commitment`] to the plaintext under it ([`FrankedMessage::seal`]). The key and the
//!    plaintext go inside the MLS ciphertext as an [`InnerMessage`]; the commitment goes beside
//!    the ciphertext, readable by the server.
//! 2. The server, which knows which account sent the ciphertext, computes a [`FrankingTag`]
//!    over the commitment, that account, the meeting and the time with its own key
//!    ([`ServerFrankingKey::tag`]) and delivers it with the message.
//! 3. Each receiver decrypts, then checks the commitment ([`open`]) before showing the message,
//!    and keeps commitment, tag, sender, meeting and time. A message whose commitment does not
//!    match is dropped, so every message shown can be reported.
//! 4. A [`Report`] carries that opening. [`ServerFrankingKey::verify`] checks the commitment
//!    and then the tag; only both together mint [`VerifiedEvidence`], which names the account
//!    the server saw send it.
//!
//! # Why HMAC-SHA256 commits
//!
//! Evidence needs a *committing* construction: the sender must not be able to find a second
//! (key, plaintext) pair that opens the same commitment to a different message. An AEAD tag
//! such as AES-GCM's is not committing (one ciphertext can be made to open under two keys to
//! two messages, the "invisible salamanders" attack), which is why the commitment is not the MLS
//! ciphertext itself. HMAC-SHA256 with a key of fixed length 32 is: the key is shorter than
//! SHA-256's 64-byte block, so it is only zero-padded, never hashed, and two different
//! (key, message) pairs with the same HMAC would give a collision of SHA-256 in the inner or the
//! outer hash. It also hides the plaintext from the server, because HMAC under a fresh random
//! key is a pseudorandom function. The server's tag is an ordinary MAC under a key only the
//! server holds, so nobody else can bind a commitment to an account.
//!
//! # Encodings (the web client must produce the same bytes)
//!
//! - [`InnerMessage`] v1: `0x01 || franking_key (32) || u32_be(len) || plaintext`, nothing after.
//! - Commitment: `HMAC-SHA256(franking_key, "conclave franking commitment v1" || u32_be(len) ||
//!   plaintext)`.
//! - Tag: `HMAC-SHA256(server_key, "conclave franking tag v1" || commitment (32) ||
//!   u16_be(len) || account id || u16_be(len) || meeting id || u64_be(unix millis))`.

use std::fmt;

use hmac::{Hmac, Mac};
use rand::{CryptoRng, RngCore};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Length of a franking key, a commitment and a tag.
pub const FRANKING_KEY_LEN: usize = 32;

/// The largest chat plaintext that can be franked: 64 KiB.
pub const MAX_PLAINTEXT_LEN: usize = 64 * 1024;

/// The longest account or meeting id, in bytes of UTF-8.
pub const MAX_ID_LEN: usize = 256;

const INNER_VERSION: u8 = 1;
const INNER_HEADER_LEN: usize = 1 + FRANKING_KEY_LEN + 4;
const COMMITMENT_LABEL: &[u8] = b"conclave franking commitment v1";
const TAG_LABEL: &[u8] = b"conclave franking tag v1";

type HmacSha256 = Hmac<Sha256>;

/// The per-message key the sender commits under; it travels only inside the MLS ciphertext
/// and inside a report.
pub struct FrankingKey(Zeroizing<[u8; FRANKING_KEY_LEN]>);

impl FrankingKey {
    /// A fresh random key, one per message.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut key = Zeroizing::new([0u8; FRANKING_KEY_LEN]);
        rng.fill_bytes(key.as_mut());
        Self(key)
    }

    /// Wraps key bytes, e.g. taken from a report.
    pub fn from_bytes(bytes: [u8; FRANKING_KEY_LEN]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The key bytes, for encoding a report.
    pub fn as_bytes(&self) -> &[u8; FRANKING_KEY_LEN] {
        &self.0
    }

    /// The commitment to `plaintext` under this key.
    pub fn commit(&self, plaintext: &[u8]) -> Result<Commitment, FrankingError> {
        let len = plaintext_len(plaintext)?;
        let mut mac = hmac_with(self.0.as_ref());
        mac.update(COMMITMENT_LABEL);
        mac.update(&len.to_be_bytes());
        mac.update(plaintext);
        Ok(Commitment(mac.finalize().into_bytes().into()))
    }
}

/// Never prints the key.
impl fmt::Debug for FrankingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FrankingKey(..)")
    }
}

/// A sender's commitment to a plaintext, sent beside the MLS ciphertext.
///
/// Equality is constant-time.
#[derive(Clone, Copy, Debug)]
pub struct Commitment([u8; FRANKING_KEY_LEN]);

impl Commitment {
    /// Wraps commitment bytes as received.
    pub const fn from_bytes(bytes: [u8; FRANKING_KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The commitment bytes.
    pub const fn as_bytes(&self) -> &[u8; FRANKING_KEY_LEN] {
        &self.0
    }
}

impl PartialEq for Commitment {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for Commitment {}

/// The server's tag binding a commitment to sender account, meeting and time.
///
/// Equality is constant-time.
#[derive(Clone, Copy, Debug)]
pub struct FrankingTag([u8; FRANKING_KEY_LEN]);

impl FrankingTag {
    /// Wraps tag bytes as received.
    pub const fn from_bytes(bytes: [u8; FRANKING_KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The tag bytes.
    pub const fn as_bytes(&self) -> &[u8; FRANKING_KEY_LEN] {
        &self.0
    }
}

impl PartialEq for FrankingTag {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for FrankingTag {}

/// The account that sent a message, as the server authenticated the sending connection.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AccountId(String);

impl AccountId {
    /// Wraps an account id of 1 to [`MAX_ID_LEN`] bytes.
    pub fn new(id: impl Into<String>) -> Result<Self, FrankingError> {
        let id = id.into();
        check_id_len(&id).map_err(|len| FrankingError::AccountIdLength { len })?;
        Ok(Self(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The meeting a message was sent in.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MeetingId(String);

impl MeetingId {
    /// Wraps a meeting id of 1 to [`MAX_ID_LEN`] bytes.
    pub fn new(id: impl Into<String>) -> Result<Self, FrankingError> {
        let id = id.into();
        check_id_len(&id).map_err(|len| FrankingError::MeetingIdLength { len })?;
        Ok(Self(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// When the server received a message, in milliseconds since the Unix epoch (its clock, passed
/// in: this crate reads no clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// Wraps milliseconds since 1970-01-01T00:00:00Z.
    pub const fn from_unix_millis(millis: u64) -> Self {
        Self(millis)
    }

    /// Milliseconds since 1970-01-01T00:00:00Z.
    pub const fn unix_millis(self) -> u64 {
        self.0
    }
}

/// The content of a chat MLS application message: the franking key and the plaintext.
pub struct InnerMessage {
    franking_key: FrankingKey,
    plaintext: Vec<u8>,
}

impl InnerMessage {
    /// Decodes an MLS application message's content, refusing an unknown version, a plaintext
    /// above [`MAX_PLAINTEXT_LEN`], a length that disagrees with the input, and trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, FrankingError> {
        let (head, rest) =
            bytes
                .split_first_chunk::<INNER_HEADER_LEN>()
                .ok_or(FrankingError::Truncated {
                    needed: INNER_HEADER_LEN,
                    got: bytes.len(),
                })?;
        let (version, head) = head.split_at(1);
        if version[0] != INNER_VERSION {
            return Err(FrankingError::UnsupportedVersion {
                version: version[0],
            });
        }
        let (key, len) = head.split_at(FRANKING_KEY_LEN);
        let mut key_bytes = Zeroizing::new([0u8; FRANKING_KEY_LEN]);
        key_bytes.copy_from_slice(key);
        let mut len_bytes = [0u8; 4];
        len_bytes.copy_from_slice(len);
        let len = usize::try_from(u32::from_be_bytes(len_bytes)).unwrap_or(usize::MAX);
        if len > MAX_PLAINTEXT_LEN {
            return Err(FrankingError::PlaintextTooLong {
                len,
                max: MAX_PLAINTEXT_LEN,
            });
        }
        if rest.len() < len {
            return Err(FrankingError::Truncated {
                needed: INNER_HEADER_LEN + len,
                got: bytes.len(),
            });
        }
        if rest.len() > len {
            return Err(FrankingError::TrailingBytes {
                extra: rest.len() - len,
            });
        }
        Ok(Self {
            franking_key: FrankingKey(key_bytes),
            plaintext: rest.to_vec(),
        })
    }

    /// Encodes the content for MLS to encrypt.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(INNER_HEADER_LEN + self.plaintext.len());
        out.push(INNER_VERSION);
        out.extend_from_slice(self.franking_key.as_bytes());
        // Every constructor checks the plaintext against MAX_PLAINTEXT_LEN, which fits a u32.
        let len = u32::try_from(self.plaintext.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.plaintext);
        out
    }

    /// The franking key the sender committed under.
    pub fn franking_key(&self) -> &FrankingKey {
        &self.franking_key
    }

    /// The chat plaintext.
    pub fn plaintext(&self) -> &[u8] {
        &self.plaintext
    }
}

/// What a sender produces for one chat message.
pub struct FrankedMessage {
    inner: Vec<u8>,
    commitment: Commitment,
}

impl FrankedMessage {
    /// Franks `plaintext` under a fresh key from `rng`.
    pub fn seal<R: RngCore + CryptoRng>(
        plaintext: &[u8],
        rng: &mut R,
    ) -> Result<Self, FrankingError> {
        let franking_key = FrankingKey::generate(rng);
        let commitment = franking_key.commit(plaintext)?;
        let inner = InnerMessage {
            franking_key,
            plaintext: plaintext.to_vec(),
        }
        .encode();
        Ok(Self { inner, commitment })
    }

    /// The bytes to encrypt as an MLS application message.
    pub fn inner(&self) -> &[u8] {
        &self.inner
    }

    /// The commitment to send beside the MLS ciphertext.
    pub fn commitment(&self) -> Commitment {
        self.commitment
    }
}

/// A received message whose commitment checked: what a receiver may show and later report.
pub struct OpenedMessage {
    inner: InnerMessage,
    commitment: Commitment,
}

impl OpenedMessage {
    /// The chat plaintext.
    pub fn plaintext(&self) -> &[u8] {
        self.inner.plaintext()
    }

    /// The commitment that checked.
    pub fn commitment(&self) -> Commitment {
        self.commitment
    }

    /// The sender's franking key, which a report discloses to open the commitment.
    pub fn franking_key(&self) -> &FrankingKey {
        self.inner.franking_key()
    }

    /// Builds a report from this message and what the server delivered with it.
    pub fn into_report(
        self,
        tag: FrankingTag,
        sender: AccountId,
        meeting: MeetingId,
        timestamp: Timestamp,
    ) -> Report {
        Report {
            plaintext: self.inner.plaintext,
            franking_key: self.inner.franking_key,
            commitment: self.commitment,
            tag,
            sender,
            meeting,
            timestamp,
        }
    }
}

/// Decodes the content of a received MLS application message and checks it against the
/// commitment that came beside the ciphertext. A receiver shows the message only if this
/// succeeds.
pub fn open(inner: &[u8], commitment: &Commitment) -> Result<OpenedMessage, FrankingError> {
    let inner = InnerMessage::decode(inner)?;
    let computed = inner.franking_key.commit(&inner.plaintext)?;
    if computed != *commitment {
        return Err(FrankingError::CommitmentMismatch);
    }
    Ok(OpenedMessage {
        inner,
        commitment: computed,
    })
}

/// The opening of a franked message, as a receiver submits it to report the message.
pub struct Report {
    /// The reported plaintext.
    pub plaintext: Vec<u8>,
    /// The sender's franking key for it.
    pub franking_key: FrankingKey,
    /// The commitment that travelled beside the MLS ciphertext.
    pub commitment: Commitment,
    /// The server's tag delivered with the message.
    pub tag: FrankingTag,
    /// The account the server named as sender.
    pub sender: AccountId,
    /// The meeting the message was sent in.
    pub meeting: MeetingId,
    /// When the server received the message.
    pub timestamp: Timestamp,
}

/// The server's secret franking key. Only the server (and the oversight service verifying
/// reports) hold it.
pub struct ServerFrankingKey(Zeroizing<[u8; FRANKING_KEY_LEN]>);

impl ServerFrankingKey {
    /// A fresh random key.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut key = Zeroizing::new([0u8; FRANKING_KEY_LEN]);
        rng.fill_bytes(key.as_mut());
        Self(key)
    }

    /// Wraps key bytes loaded from the server's secret storage.
    pub fn from_bytes(bytes: [u8; FRANKING_KEY_LEN]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The server's tag for a message it received from `sender` in `meeting` at `timestamp`.
    pub fn tag(
        &self,
        commitment: &Commitment,
        sender: &AccountId,
        meeting: &MeetingId,
        timestamp: Timestamp,
    ) -> FrankingTag {
        let mut mac = hmac_with(self.0.as_ref());
        mac.update(TAG_LABEL);
        mac.update(commitment.as_bytes());
        for id in [sender.as_str(), meeting.as_str()] {
            // Ids are at most MAX_ID_LEN bytes by construction, so the length fits a u16.
            let len = u16::try_from(id.len()).unwrap_or(u16::MAX);
            mac.update(&len.to_be_bytes());
            mac.update(id.as_bytes());
        }
        mac.update(&timestamp.unix_millis().to_be_bytes());
        FrankingTag(mac.finalize().into_bytes().into())
    }

    /// Verifies a report: the franking key must open the commitment to the plaintext, and the
    /// tag must bind that commitment to the named sender, meeting and time. Only then is the
    /// report evidence against that sender.
    pub fn verify(&self, report: Report) -> Result<VerifiedEvidence, FrankingError> {
        let commitment = report.franking_key.commit(&report.plaintext)?;
        if commitment != report.commitment {
            return Err(FrankingError::CommitmentMismatch);
        }
        let tag = self.tag(
            &commitment,
            &report.sender,
            &report.meeting,
            report.timestamp,
        );
        if tag != report.tag {
            return Err(FrankingError::TagMismatch);
        }
        Ok(VerifiedEvidence {
            sender: report.sender,
            meeting: report.meeting,
            timestamp: report.timestamp,
            plaintext: report.plaintext,
        })
    }
}

/// Never prints the key.
impl fmt::Debug for ServerFrankingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerFrankingKey(..)")
    }
}

/// Proof that a reported message was sent by [`sender`](Self::sender) in
/// [`meeting`](Self::meeting): only [`ServerFrankingKey::verify`] makes one.
///
/// Deliberately neither `Clone` nor constructible elsewhere (STYLE.md section 4): an action that
/// needs verified evidence takes this by value, so one verification grounds one decision, and
/// the oversight code can ground action only against the account named here (threat T5).
///
/// ```compile_fail,E0308
/// use e2ee::franking::VerifiedEvidence;
/// fn duplicate(evidence: &VerifiedEvidence) -> VerifiedEvidence {
///     evidence.clone()
/// }
/// ```
pub struct VerifiedEvidence {
    sender: AccountId,
    meeting: MeetingId,
    timestamp: Timestamp,
    plaintext: Vec<u8>,
}

impl VerifiedEvidence {
    /// The account that sent the message.
    pub fn sender(&self) -> &AccountId {
        &self.sender
    }

    /// The meeting the message was sent in.
    pub fn meeting(&self) -> &MeetingId {
        &self.meeting
    }

    /// When the server received the message.
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    /// The message as sent.
    pub fn plaintext(&self) -> &[u8] {
        &self.plaintext
    }
}

/// Names sender, meeting and time, not the reported content, which must not reach logs.
impl fmt::Debug for VerifiedEvidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedEvidence")
            .field("sender", &self.sender)
            .field("meeting", &self.meeting)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

// Debug output of the message types shows lengths and public values only: chat content and
// franking keys must not reach logs (STYLE.md section 6).

impl fmt::Debug for InnerMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InnerMessage")
            .field("plaintext_len", &self.plaintext.len())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for FrankedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrankedMessage")
            .field("inner_len", &self.inner.len())
            .field("commitment", &self.commitment)
            .finish()
    }
}

impl fmt::Debug for OpenedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenedMessage")
            .field("plaintext_len", &self.inner.plaintext.len())
            .field("commitment", &self.commitment)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Report")
            .field("plaintext_len", &self.plaintext.len())
            .field("commitment", &self.commitment)
            .field("tag", &self.tag)
            .field("sender", &self.sender)
            .field("meeting", &self.meeting)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

fn hmac_with(key: &[u8]) -> HmacSha256 {
    // Invariant: HMAC is defined for keys of every length, so `new_from_slice` cannot fail for
    // it; the `Result` exists because the `Mac` trait also serves MACs with fixed key sizes.
    <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts keys of every length")
}

fn plaintext_len(plaintext: &[u8]) -> Result<u32, FrankingError> {
    if plaintext.len() > MAX_PLAINTEXT_LEN {
        return Err(FrankingError::PlaintextTooLong {
            len: plaintext.len(),
            max: MAX_PLAINTEXT_LEN,
        });
    }
    // MAX_PLAINTEXT_LEN fits a u32, so after the check above this conversion succeeds.
    u32::try_from(plaintext.len()).map_err(|_| FrankingError::PlaintextTooLong {
        len: plaintext.len(),
        max: MAX_PLAINTEXT_LEN,
    })
}

fn check_id_len(id: &str) -> Result<(), usize> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        Err(id.len())
    } else {
        Ok(())
    }
}

/// Why franking, opening or verifying a message failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrankingError {
    /// The inner message is shorter than its header or its announced plaintext.
    #[error("inner message needs {needed} bytes, has {got}")]
    Truncated {
        /// Bytes the encoding announces.
        needed: usize,
        /// Bytes available.
        got: usize,
    },
    /// The inner message has a version this build does not know.
    #[error("unsupported inner message version {version}")]
    UnsupportedVersion {
        /// The version byte received.
        version: u8,
    },
    /// The plaintext is longer than [`MAX_PLAINTEXT_LEN`].
    #[error("plaintext of {len} bytes exceeds the limit of {max}")]
    PlaintextTooLong {
        /// The plaintext length, as given or announced.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Bytes follow the plaintext; a canonical encoding has none.
    #[error("{extra} bytes after the inner message")]
    TrailingBytes {
        /// How many bytes follow.
        extra: usize,
    },
    /// The franking key does not open the commitment to this plaintext: the message or the
    /// commitment was altered, or the sender cheated.
    #[error("commitment does not match the plaintext and franking key")]
    CommitmentMismatch,
    /// The server's tag does not bind this commitment to this sender, meeting and time.
    #[error("server tag does not match commitment, sender, meeting and time")]
    TagMismatch,
    /// An account id is empty or longer than [`MAX_ID_LEN`] bytes.
    #[error("account id of {len} bytes is outside 1..={MAX_ID_LEN}")]
    AccountIdLength {
        /// Its length in bytes.
        len: usize,
    },
    /// A meeting id is empty or longer than [`MAX_ID_LEN`] bytes.
    #[error("meeting id of {len} bytes is outside 1..={MAX_ID_LEN}")]
    MeetingIdLength {
        /// Its length in bytes.
        len: usize,
    },
}
