//! Who a group member is: the identity an MLS credential carries, the keys behind it, and the
//! two inputs a client needs to refuse a ghost (threat T4): the server's admission
//! announcements and the key directory.
//!
//! # Credential
//!
//! Every leaf carries an MLS `BasicCredential` whose identity is a [`MemberIdentity`]:
//!
//! ```text
//! "conclave member v1" || kind (1 byte: 0 account, 1 guest)
//!     || u16_be(len) || participant id || [u16_be(len) || account id]   (account only)
//! ```
//!
//! and whose signature key is the member's Ed25519 [`IdentityKey`]: the account's key as
//! registered in the key directory, or, for a guest, a fresh key made for this meeting. A
//! client accepts an Add only if the participant was announced as admitted
//! ([`Admission`]) with the same account, and, for an account, only if the credential's key
//! is the one the [`KeyDirectory`] lists for it. Guests are accepted without a key check but
//! always shown as guests.

use std::collections::HashMap;
use std::fmt;

use openmls::prelude::{BasicCredential, Credential, CredentialType};
use rand::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::franking::{AccountId, MAX_ID_LEN};

/// Length of an Ed25519 public key.
pub const IDENTITY_KEY_LEN: usize = 32;

const CREDENTIAL_LABEL: &[u8] = b"conclave member v1";
const KIND_ACCOUNT: u8 = 0;
const KIND_GUEST: u8 = 1;

/// A participant's id in one meeting, as the server assigns it (the signaling
/// `participant_id`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ParticipantId(String);

impl ParticipantId {
    /// Wraps a participant id of 1 to [`MAX_ID_LEN`] bytes.
    pub fn new(id: impl Into<String>) -> Result<Self, IdentityError> {
        let id = id.into();
        if id.is_empty() || id.len() > MAX_ID_LEN {
            return Err(IdentityError::ParticipantIdLength { len: id.len() });
        }
        Ok(Self(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ParticipantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ParticipantId({})", self.0)
    }
}

/// Whose key a credential carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MemberKind {
    /// A signed-in account; its key must be the one in the key directory.
    Account(AccountId),
    /// A guest with a key made for this meeting; shown as a guest.
    Guest,
}

/// What a member's MLS credential says about it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MemberIdentity {
    participant: ParticipantId,
    kind: MemberKind,
}

impl MemberIdentity {
    /// A signed-in participant.
    pub fn account(participant: ParticipantId, account: AccountId) -> Self {
        Self {
            participant,
            kind: MemberKind::Account(account),
        }
    }

    /// A guest.
    pub fn guest(participant: ParticipantId) -> Self {
        Self {
            participant,
            kind: MemberKind::Guest,
        }
    }

    /// The participant id in this meeting.
    pub fn participant(&self) -> &ParticipantId {
        &self.participant
    }

    /// Account or guest.
    pub fn kind(&self) -> &MemberKind {
        &self.kind
    }

    /// The account, or `None` for a guest.
    pub fn account_id(&self) -> Option<&AccountId> {
        match &self.kind {
            MemberKind::Account(account) => Some(account),
            MemberKind::Guest => None,
        }
    }

    /// True for guests.
    pub fn is_guest(&self) -> bool {
        self.kind == MemberKind::Guest
    }

    /// The credential identity bytes (see the module docs).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(CREDENTIAL_LABEL.len() + 5 + 2 * MAX_ID_LEN);
        out.extend_from_slice(CREDENTIAL_LABEL);
        let push_id = |out: &mut Vec<u8>, id: &str| {
            // Ids are at most MAX_ID_LEN (256) bytes by construction, so the length fits a u16.
            let len = u16::try_from(id.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(id.as_bytes());
        };
        match &self.kind {
            MemberKind::Account(account) => {
                out.push(KIND_ACCOUNT);
                push_id(&mut out, self.participant.as_str());
                push_id(&mut out, account.as_str());
            }
            MemberKind::Guest => {
                out.push(KIND_GUEST);
                push_id(&mut out, self.participant.as_str());
            }
        }
        out
    }

    /// Decodes credential identity bytes, refusing anything but the exact encoding.
    pub fn decode(bytes: &[u8]) -> Result<Self, IdentityError> {
        let rest = bytes
            .strip_prefix(CREDENTIAL_LABEL)
            .ok_or(IdentityError::NotAConclaveCredential)?;
        let (&kind, mut rest) = rest
            .split_first()
            .ok_or(IdentityError::MalformedCredential)?;
        let mut take_id = || -> Result<String, IdentityError> {
            let (len, tail) = rest
                .split_first_chunk::<2>()
                .ok_or(IdentityError::MalformedCredential)?;
            let len = usize::from(u16::from_be_bytes(*len));
            if tail.len() < len {
                return Err(IdentityError::MalformedCredential);
            }
            let (id, tail) = tail.split_at(len);
            rest = tail;
            String::from_utf8(id.to_vec()).map_err(|_| IdentityError::MalformedCredential)
        };
        let participant = ParticipantId::new(take_id()?)?;
        let kind = match kind {
            KIND_ACCOUNT => MemberKind::Account(
                AccountId::new(take_id()?).map_err(|_| IdentityError::MalformedCredential)?,
            ),
            KIND_GUEST => MemberKind::Guest,
            other => return Err(IdentityError::UnknownKind { kind: other }),
        };
        if !rest.is_empty() {
            return Err(IdentityError::MalformedCredential);
        }
        Ok(Self { participant, kind })
    }

    /// The MLS credential carrying this identity.
    pub(crate) fn credential(&self) -> Credential {
        BasicCredential::new(self.encode()).into()
    }

    /// Reads the identity out of an MLS credential.
    pub(crate) fn from_credential(credential: &Credential) -> Result<Self, IdentityError> {
        if credential.credential_type() != CredentialType::Basic {
            return Err(IdentityError::NotAConclaveCredential);
        }
        let basic = BasicCredential::try_from(credential.clone())
            .map_err(|_| IdentityError::NotAConclaveCredential)?;
        Self::decode(basic.identity())
    }
}

impl fmt::Display for MemberIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            MemberKind::Account(account) => {
                write!(
                    f,
                    "participant {} (account {})",
                    self.participant,
                    account.as_str()
                )
            }
            MemberKind::Guest => write!(f, "participant {} (guest)", self.participant),
        }
    }
}

/// An Ed25519 public key: an account's registered identity key, or a guest's meeting key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdentityKey([u8; IDENTITY_KEY_LEN]);

impl IdentityKey {
    /// Wraps public key bytes, e.g. from the key directory.
    pub const fn from_bytes(bytes: [u8; IDENTITY_KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// Wraps a public key of any length, refusing all but 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, IdentityError> {
        let bytes: [u8; IDENTITY_KEY_LEN] = bytes
            .try_into()
            .map_err(|_| IdentityError::KeyLength { len: bytes.len() })?;
        Ok(Self(bytes))
    }

    /// The key bytes.
    pub const fn as_bytes(&self) -> &[u8; IDENTITY_KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityKey(")?;
        for byte in &self.0[..8] {
            write!(f, "{byte:02x}")?;
        }
        write!(f, "..)")
    }
}

/// An Ed25519 key pair a member signs its MLS messages with.
pub struct IdentityKeyPair {
    secret: Zeroizing<[u8; 32]>,
    public: IdentityKey,
}

impl IdentityKeyPair {
    /// A fresh key pair, e.g. for a guest.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut secret = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(secret.as_mut());
        Self::from_secret(*secret)
    }

    /// The key pair of an Ed25519 secret key (the 32-byte seed), e.g. the account's
    /// identity key as the client stores it.
    pub fn from_secret(secret: [u8; 32]) -> Self {
        let signing = ed25519_dalek::SigningKey::from_bytes(&secret);
        let public = IdentityKey(signing.verifying_key().to_bytes());
        Self {
            secret: Zeroizing::new(secret),
            public,
        }
    }

    /// The public key.
    pub fn public(&self) -> IdentityKey {
        self.public
    }

    /// The signer openmls uses.
    pub(crate) fn signer(&self) -> openmls_basic_credential::SignatureKeyPair {
        openmls_basic_credential::SignatureKeyPair::from_raw(
            openmls::prelude::SignatureScheme::ED25519,
            self.secret.to_vec(),
            self.public.0.to_vec(),
        )
    }
}

/// Never prints the secret.
impl fmt::Debug for IdentityKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityKeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// The server's announcement that a participant was admitted to the meeting: only such a
/// participant may be added to the group.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Admission {
    /// Who was admitted.
    pub participant: ParticipantId,
    /// Their account, or `None` for a guest.
    pub account: Option<AccountId>,
}

impl Admission {
    /// Whether `identity` is the participant this admission names, as account or guest.
    fn admits(&self, identity: &MemberIdentity) -> bool {
        self.participant == identity.participant && self.account.as_ref() == identity.account_id()
    }
}

/// Admissions the server announced and that no Add has used yet.
#[derive(Clone, Debug, Default)]
pub struct Admissions(HashMap<ParticipantId, Admission>);

impl Admissions {
    /// No admissions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an admission; a later one for the same participant replaces it.
    pub fn record(&mut self, admission: Admission) {
        self.0.insert(admission.participant.clone(), admission);
    }

    /// The recorded admissions, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Admission> {
        self.0.values()
    }

    /// The admission naming `identity`, if any.
    pub(crate) fn find(&self, identity: &MemberIdentity) -> Option<&Admission> {
        self.0
            .get(&identity.participant)
            .filter(|admission| admission.admits(identity))
    }

    /// Removes the admission of a participant whose Add took effect.
    pub(crate) fn consume(&mut self, participant: &ParticipantId) {
        self.0.remove(participant);
    }
}

/// The key directory as the client knows it: each account's current identity key.
///
/// The client fills it from the server's key directory (and, with the ledger, checks each
/// entry's inclusion in the transparency log) and passes it to every call that may add a
/// member.
#[derive(Clone, Debug, Default)]
pub struct KeyDirectory(HashMap<AccountId, IdentityKey>);

impl KeyDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an account's key; a later one replaces it.
    pub fn insert(&mut self, account: AccountId, key: IdentityKey) {
        self.0.insert(account, key);
    }

    /// The key listed for `account`.
    pub fn key_of(&self, account: &AccountId) -> Option<&IdentityKey> {
        self.0.get(account)
    }
}

/// Why an identity, a key or a credential was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// A participant id is empty or longer than [`MAX_ID_LEN`] bytes.
    #[error("participant id of {len} bytes is outside 1..={MAX_ID_LEN}")]
    ParticipantIdLength {
        /// Its length.
        len: usize,
    },
    /// A public key is not 32 bytes.
    #[error("identity key of {len} bytes is not {IDENTITY_KEY_LEN}")]
    KeyLength {
        /// Its length.
        len: usize,
    },
    /// The credential is not a Conclave basic credential.
    #[error("credential is not a Conclave member credential")]
    NotAConclaveCredential,
    /// The credential has the Conclave label but a malformed body.
    #[error("malformed Conclave member credential")]
    MalformedCredential,
    /// The credential names a member kind this version does not know.
    #[error("unknown member kind {kind} in credential")]
    UnknownKind {
        /// The kind byte.
        kind: u8,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_round_trips() {
        let account = MemberIdentity::account(
            ParticipantId::new("p-1").expect("valid"),
            AccountId::new("acct-1").expect("valid"),
        );
        let guest = MemberIdentity::guest(ParticipantId::new("p-2").expect("valid"));
        for identity in [account, guest] {
            assert_eq!(MemberIdentity::decode(&identity.encode()), Ok(identity));
        }
    }

    #[test]
    fn refuses_trailing_and_truncated() {
        let identity = MemberIdentity::guest(ParticipantId::new("p").expect("valid"));
        let mut bytes = identity.encode();
        bytes.push(0);
        assert_eq!(
            MemberIdentity::decode(&bytes),
            Err(IdentityError::MalformedCredential)
        );
        bytes.truncate(bytes.len() - 2);
        assert_eq!(
            MemberIdentity::decode(&bytes),
            Err(IdentityError::MalformedCredential)
        );
        assert_eq!(
            MemberIdentity::decode(b"other"),
            Err(IdentityError::NotAConclaveCredential)
        );
    }

    #[test]
    fn admission_must_match_account() {
        let participant = ParticipantId::new("p").expect("valid");
        let mut admissions = Admissions::new();
        admissions.record(Admission {
            participant: participant.clone(),
            account: None,
        });
        let as_account =
            MemberIdentity::account(participant.clone(), AccountId::new("a").expect("valid"));
        assert!(admissions.find(&as_account).is_none());
        assert!(admissions
            .find(&MemberIdentity::guest(participant))
            .is_some());
    }
}
