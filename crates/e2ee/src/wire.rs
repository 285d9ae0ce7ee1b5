//! Entry points for every MLS input that arrives from the network: each checks a size limit
//! before decoding, decodes the whole input (no trailing bytes), checks the message kind and
//! answers with a typed [`WireError`], never a panic.
//!
//! The limits are sized for meetings of up to about 1,000 members with ciphersuite 0x0001; see
//! each constant. Everything beyond the framing (signatures, epochs, membership) is checked by
//! the [`crate::member`] and [`crate::server_view`] code that consumes the parsed values.

use openmls::prelude::group_info::VerifiableGroupInfo;
use openmls::prelude::{
    tls_codec::Deserialize as _, KeyPackageIn, MlsMessageBodyIn, MlsMessageIn, ProtocolMessage,
    RatchetTreeIn, Welcome,
};

/// Largest KeyPackage message: one leaf node with a credential of two short ids, three public
/// keys and two signatures take about 400 bytes; 16 KiB leaves room for extensions.
pub const MAX_KEY_PACKAGE_LEN: usize = 16 * 1024;

/// Largest proposal or commit. A commit's update path carries one HPKE ciphertext per node in
/// the resolution of each copath node: at most one per leaf (about 90 bytes each), so about
/// 100 KB for 1,000 members in the worst tree; 1 MiB leaves room for 10,000.
pub const MAX_HANDSHAKE_LEN: usize = 1024 * 1024;

/// Largest Welcome: one encrypted group secret (about 150 bytes) per joiner plus the encrypted
/// group info.
pub const MAX_WELCOME_LEN: usize = 1024 * 1024;

/// Largest ratchet tree: about 250 bytes per leaf and 100 per parent node, so about 350 KB for
/// 1,000 members; 4 MiB leaves room for 10,000.
pub const MAX_RATCHET_TREE_LEN: usize = 4 * 1024 * 1024;

/// Largest GroupInfo (sent without the tree, which travels separately).
pub const MAX_GROUP_INFO_LEN: usize = 64 * 1024;

/// Largest application message: a franked chat plaintext of at most
/// [`crate::franking::MAX_PLAINTEXT_LEN`] plus framing, franking header and AEAD overhead.
pub const MAX_APPLICATION_LEN: usize = crate::franking::MAX_PLAINTEXT_LEN + 4 * 1024;

/// Which kind of MLS input was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InputKind {
    /// An `MLSMessage` carrying a KeyPackage.
    KeyPackage,
    /// An `MLSMessage` carrying a proposal or commit as a PublicMessage.
    Handshake,
    /// An `MLSMessage` carrying a Welcome.
    Welcome,
    /// A serialized ratchet tree.
    RatchetTree,
    /// An `MLSMessage` carrying a GroupInfo.
    GroupInfo,
    /// An `MLSMessage` carrying an application message as a PrivateMessage.
    Application,
}

impl InputKind {
    /// The size limit of this kind of input.
    pub const fn max_len(self) -> usize {
        match self {
            Self::KeyPackage => MAX_KEY_PACKAGE_LEN,
            Self::Handshake => MAX_HANDSHAKE_LEN,
            Self::Welcome => MAX_WELCOME_LEN,
            Self::RatchetTree => MAX_RATCHET_TREE_LEN,
            Self::GroupInfo => MAX_GROUP_INFO_LEN,
            Self::Application => MAX_APPLICATION_LEN,
        }
    }
}

impl std::fmt::Display for InputKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::KeyPackage => "key package",
            Self::Handshake => "handshake message",
            Self::Welcome => "welcome",
            Self::RatchetTree => "ratchet tree",
            Self::GroupInfo => "group info",
            Self::Application => "application message",
        })
    }
}

/// Why an MLS input could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The input is over its size limit; it was not decoded.
    #[error("{kind} of {len} bytes exceeds the limit of {max}")]
    TooLong {
        /// What was expected.
        kind: InputKind,
        /// Its length.
        len: usize,
        /// The limit for this kind.
        max: usize,
    },
    /// The bytes are not a valid TLS encoding of the expected structure (or have bytes after it).
    #[error("malformed {kind}: {reason}")]
    Malformed {
        /// What was expected.
        kind: InputKind,
        /// What the decoder reported.
        reason: String,
    },
    /// A well-formed MLS message of another kind than expected.
    #[error("expected a {expected}, got another kind of MLS message")]
    UnexpectedMessage {
        /// What was expected.
        expected: InputKind,
    },
}

fn check_len(kind: InputKind, bytes: &[u8]) -> Result<(), WireError> {
    let max = kind.max_len();
    if bytes.len() > max {
        return Err(WireError::TooLong {
            kind,
            len: bytes.len(),
            max,
        });
    }
    Ok(())
}

fn decode_message(kind: InputKind, bytes: &[u8]) -> Result<MlsMessageBodyIn, WireError> {
    check_len(kind, bytes)?;
    let mut reader = bytes;
    let message = MlsMessageIn::tls_deserialize(&mut reader).map_err(|e| WireError::Malformed {
        kind,
        reason: e.to_string(),
    })?;
    if !reader.is_empty() {
        return Err(WireError::Malformed {
            kind,
            reason: format!("{} trailing bytes", reader.len()),
        });
    }
    Ok(message.extract())
}

/// Parses a KeyPackage (`MLSMessage` with wire format `mls_key_package`). Its signatures are
/// not checked yet.
pub fn parse_key_package(bytes: &[u8]) -> Result<KeyPackageIn, WireError> {
    match decode_message(InputKind::KeyPackage, bytes)? {
        MlsMessageBodyIn::KeyPackage(key_package) => Ok(key_package),
        _ => Err(WireError::UnexpectedMessage {
            expected: InputKind::KeyPackage,
        }),
    }
}

/// Parses a proposal or commit, which Conclave always sends as a PublicMessage so that the
/// server can order it.
pub fn parse_handshake(bytes: &[u8]) -> Result<ProtocolMessage, WireError> {
    match decode_message(InputKind::Handshake, bytes)? {
        MlsMessageBodyIn::PublicMessage(message) => {
            let message: ProtocolMessage = message.into();
            if message.is_handshake_message() {
                Ok(message)
            } else {
                Err(WireError::UnexpectedMessage {
                    expected: InputKind::Handshake,
                })
            }
        }
        _ => Err(WireError::UnexpectedMessage {
            expected: InputKind::Handshake,
        }),
    }
}

/// Parses a Welcome.
pub fn parse_welcome(bytes: &[u8]) -> Result<Welcome, WireError> {
    match decode_message(InputKind::Welcome, bytes)? {
        MlsMessageBodyIn::Welcome(welcome) => Ok(welcome),
        _ => Err(WireError::UnexpectedMessage {
            expected: InputKind::Welcome,
        }),
    }
}

/// Parses a ratchet tree (the `ratchet_tree` extension's content, sent beside a Welcome).
pub fn parse_ratchet_tree(bytes: &[u8]) -> Result<RatchetTreeIn, WireError> {
    let kind = InputKind::RatchetTree;
    check_len(kind, bytes)?;
    RatchetTreeIn::tls_deserialize_exact(bytes).map_err(|e| WireError::Malformed {
        kind,
        reason: e.to_string(),
    })
}

/// Parses a GroupInfo (`MLSMessage` with wire format `mls_group_info`). Its signature is not
/// checked yet.
pub fn parse_group_info(bytes: &[u8]) -> Result<VerifiableGroupInfo, WireError> {
    match decode_message(InputKind::GroupInfo, bytes)? {
        MlsMessageBodyIn::GroupInfo(group_info) => Ok(group_info),
        _ => Err(WireError::UnexpectedMessage {
            expected: InputKind::GroupInfo,
        }),
    }
}

/// Parses an application message, which MLS always sends as a PrivateMessage.
pub fn parse_application(bytes: &[u8]) -> Result<ProtocolMessage, WireError> {
    match decode_message(InputKind::Application, bytes)? {
        MlsMessageBodyIn::PrivateMessage(message) => {
            let message: ProtocolMessage = message.into();
            if message.is_handshake_message() {
                Err(WireError::UnexpectedMessage {
                    expected: InputKind::Application,
                })
            } else {
                Ok(message)
            }
        }
        _ => Err(WireError::UnexpectedMessage {
            expected: InputKind::Application,
        }),
    }
}
