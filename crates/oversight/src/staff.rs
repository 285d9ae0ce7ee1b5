//! Staff members: who they are, the key they sign with, where they answer to
//! the law and what they may do.
//!
//! The private key never reaches the server: a staff member signs requests,
//! approvals, vetoes and appeal decisions on their own machine, and the server
//! only holds the public key.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};

use crate::codec::{DecodeError, Reader, Writer};
use crate::jurisdiction::Jurisdiction;

/// Longest staff id, in bytes.
pub const MAX_STAFF_ID_LEN: usize = 64;

/// Most staff members a set may hold; keeps every per-request scan small.
pub const MAX_STAFF: usize = 1000;

/// A staff member's id: 1 to 64 characters of `[a-z0-9_.-]`, starting with a
/// letter or digit (for example `alice` or `trust-safety.berlin.3`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StaffId(String);

impl StaffId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn encode(&self, writer: &mut Writer) {
        writer.text(&self.0);
    }

    pub(crate) fn decode(
        reader: &mut Reader<'_>,
        field: &'static str,
    ) -> Result<StaffId, DecodeError> {
        reader
            .text(field, MAX_STAFF_ID_LEN)?
            .parse()
            .map_err(|error: StaffError| DecodeError::Invalid {
                field,
                reason: error.to_string(),
            })
    }
}

impl FromStr for StaffId {
    type Err = StaffError;

    fn from_str(id: &str) -> Result<StaffId, StaffError> {
        let valid_start = id
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let valid_rest = id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        });
        if id.len() > MAX_STAFF_ID_LEN || !valid_start || !valid_rest {
            return Err(StaffError::InvalidId {
                id: id.chars().take(MAX_STAFF_ID_LEN).collect(),
            });
        }
        Ok(StaffId(id.to_owned()))
    }
}

impl fmt::Display for StaffId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for StaffId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StaffId({})", self.0)
    }
}

/// What a staff member may do. Roles only grant; the policy and the
/// jurisdiction rules still apply to every step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// May file privileged requests.
    Requester,
    /// May approve and veto requests.
    Approver,
    /// May decide appeals and review user reports.
    Reviewer,
}

impl Role {
    /// Every role, in encoding order.
    pub const ALL: [Role; 3] = [Role::Requester, Role::Approver, Role::Reviewer];

    /// The name used in configuration: `requester`, `approver`, `reviewer`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Requester => "requester",
            Role::Approver => "approver",
            Role::Reviewer => "reviewer",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Role::Requester => 1,
            Role::Approver => 2,
            Role::Reviewer => 4,
        }
    }
}

impl FromStr for Role {
    type Err = StaffError;

    fn from_str(name: &str) -> Result<Role, StaffError> {
        Role::ALL
            .into_iter()
            .find(|role| role.name() == name)
            .ok_or_else(|| StaffError::UnknownRole {
                role: name.chars().take(32).collect(),
            })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One staff member as the oversight core knows them.
#[derive(Clone, PartialEq, Eq)]
pub struct StaffMember {
    /// Their id.
    pub id: StaffId,
    /// The Ed25519 key they sign with.
    pub public_key: VerifyingKey,
    /// Where they answer to the law.
    pub jurisdiction: Jurisdiction,
    /// What they may do; never empty.
    pub roles: BTreeSet<Role>,
}

impl StaffMember {
    /// Whether they hold `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// Checks an Ed25519 signature by this member over `message`.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        self.public_key.verify(message, signature).is_ok()
    }

    pub(crate) fn encode(&self, writer: &mut Writer) {
        self.id.encode(writer);
        writer.raw(self.public_key.as_bytes());
        self.jurisdiction.encode(writer);
        writer.u8(self.roles.iter().fold(0, |bits, role| bits | role.bit()));
    }

    pub(crate) fn decode(reader: &mut Reader<'_>) -> Result<StaffMember, DecodeError> {
        let id = StaffId::decode(reader, "staff id")?;
        let key_bytes = reader.array::<32>("staff public key")?;
        let public_key =
            VerifyingKey::from_bytes(&key_bytes).map_err(|_| DecodeError::Invalid {
                field: "staff public key",
                reason: "not an Ed25519 point".into(),
            })?;
        let jurisdiction = Jurisdiction::decode(reader, "staff jurisdiction")?;
        let bits = reader.u8("staff roles")?;
        let roles: BTreeSet<Role> = Role::ALL
            .into_iter()
            .filter(|role| bits & role.bit() != 0)
            .collect();
        let known = roles.iter().fold(0, |all, role| all | role.bit());
        if roles.is_empty() || bits != known {
            return Err(DecodeError::UnknownValue {
                field: "staff roles",
                value: bits,
            });
        }
        Ok(StaffMember {
            id,
            public_key,
            jurisdiction,
            roles,
        })
    }
}

impl fmt::Debug for StaffMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaffMember")
            .field("id", &self.id)
            .field("public_key", &format_public_key(&self.public_key))
            .field("jurisdiction", &self.jurisdiction)
            .field("roles", &self.roles)
            .finish()
    }
}

/// The current staff, by id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StaffSet {
    members: BTreeMap<StaffId, StaffMember>,
}

impl StaffSet {
    /// An empty set.
    pub fn new() -> StaffSet {
        StaffSet::default()
    }

    /// Adds a member; their id and key must both be new.
    pub fn add(&mut self, member: StaffMember) -> Result<(), StaffError> {
        if self.members.contains_key(&member.id) {
            return Err(StaffError::DuplicateId { id: member.id });
        }
        if let Some(holder) = self
            .members
            .values()
            .find(|m| m.public_key == member.public_key)
        {
            return Err(StaffError::DuplicateKey {
                id: member.id,
                holder: holder.id.clone(),
            });
        }
        if self.members.len() >= MAX_STAFF {
            return Err(StaffError::TooMany { max: MAX_STAFF });
        }
        self.members.insert(member.id.clone(), member);
        Ok(())
    }

    /// Removes a member.
    pub fn remove(&mut self, id: &StaffId) -> Result<StaffMember, StaffError> {
        self.members
            .remove(id)
            .ok_or_else(|| StaffError::UnknownStaff { id: id.clone() })
    }

    /// The member with this id.
    pub fn member(&self, id: &StaffId) -> Option<&StaffMember> {
        self.members.get(id)
    }

    /// Every member, ordered by id.
    pub fn members(&self) -> impl Iterator<Item = &StaffMember> {
        self.members.values()
    }

    /// How many members there are.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

/// Why a staff id, role or change is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StaffError {
    /// The id breaks the id rules.
    #[error("staff id {id:?} must be 1 to {MAX_STAFF_ID_LEN} characters of a-z, 0-9, '_', '.', '-', starting with a letter or digit")]
    InvalidId {
        /// The id given (cut to the maximum length).
        id: String,
    },
    /// A role name that does not exist.
    #[error("unknown role {role:?}; roles are requester, approver, reviewer")]
    UnknownRole {
        /// The name given.
        role: String,
    },
    /// The id is taken.
    #[error("staff id {id} already exists")]
    DuplicateId {
        /// The id.
        id: StaffId,
    },
    /// Another member already has this key: one person, one vote.
    #[error("staff member {id} has the same public key as {holder}")]
    DuplicateKey {
        /// The member being added.
        id: StaffId,
        /// Who holds the key already.
        holder: StaffId,
    },
    /// No member has this id.
    #[error("no staff member {id}")]
    UnknownStaff {
        /// The id.
        id: StaffId,
    },
    /// The set is full.
    #[error("the staff set holds at most {max} members")]
    TooMany {
        /// The limit.
        max: usize,
    },
}

/// Parses an Ed25519 public key given as standard base64 of its 32 bytes.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    use base64::Engine as _;
    if text.len() > 64 {
        return Err("longer than a base64 Ed25519 public key".into());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| "not standard base64".to_owned())?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|bytes: Vec<u8>| {
        format!(
            "decodes to {} bytes, an Ed25519 public key is 32",
            bytes.len()
        )
    })?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "not a valid Ed25519 public key".to_owned())
}

/// Formats an Ed25519 public key as [`parse_public_key`] reads it.
pub fn format_public_key(key: &VerifyingKey) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(key.as_bytes())
}

pub(crate) fn decode_signature(
    reader: &mut Reader<'_>,
    field: &'static str,
) -> Result<Signature, DecodeError> {
    Ok(Signature::from_bytes(&reader.array::<64>(field)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn member(id: &str, seed: u8) -> StaffMember {
        StaffMember {
            id: id.parse().unwrap(),
            public_key: SigningKey::from_bytes(&[seed; 32]).verifying_key(),
            jurisdiction: "DE".parse().unwrap(),
            roles: [Role::Approver, Role::Reviewer].into(),
        }
    }

    #[test]
    fn ids_are_validated() {
        for good in ["alice", "a", "t-s.berlin_3", "0x", &"a".repeat(64)] {
            assert!(good.parse::<StaffId>().is_ok(), "{good}");
        }
        for bad in ["", "Alice", "-a", ".a", "a b", "é", &"a".repeat(65)] {
            assert!(bad.parse::<StaffId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn member_encoding_round_trips_and_rejects_unknown_role_bits() {
        let alice = member("alice", 1);
        let mut writer = Writer::new();
        alice.encode(&mut writer);
        let mut bytes = writer.finish();
        let mut reader = Reader::new(&bytes);
        assert_eq!(StaffMember::decode(&mut reader), Ok(alice));
        let last = bytes.len() - 1;
        for bits in [0u8, 8, 0x80] {
            bytes[last] = bits;
            assert!(matches!(
                StaffMember::decode(&mut Reader::new(&bytes)),
                Err(DecodeError::UnknownValue {
                    field: "staff roles",
                    ..
                })
            ));
        }
    }

    #[test]
    fn a_set_refuses_duplicate_ids_and_keys() {
        let mut set = StaffSet::new();
        set.add(member("alice", 1)).unwrap();
        assert!(matches!(
            set.add(member("alice", 2)),
            Err(StaffError::DuplicateId { .. })
        ));
        assert!(matches!(
            set.add(member("bob", 1)),
            Err(StaffError::DuplicateKey { .. })
        ));
        set.add(member("bob", 2)).unwrap();
        assert_eq!(set.len(), 2);
        set.remove(&"alice".parse().unwrap()).unwrap();
        assert!(set.member(&"alice".parse().unwrap()).is_none());
    }

    #[test]
    fn public_keys_parse_from_base64() {
        let key = SigningKey::from_bytes(&[9; 32]).verifying_key();
        assert_eq!(parse_public_key(&format_public_key(&key)), Ok(key));
        assert!(parse_public_key("AAAA").unwrap_err().contains("3 bytes"));
        assert!(parse_public_key("not base64!").is_err());
    }
}
