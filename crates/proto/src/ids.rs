//! Opaque identifiers.
//!
//! Every id is URL-safe base64 without padding (`[A-Za-z0-9_-]`), which keeps
//! it safe to put in a path, a log line or a file name. Ids made by the server
//! come from [`OpaqueId::from_random`] over a CSPRNG's bytes; ids read from the
//! network are checked by `FromStr` / `Deserialize` before anything uses them.

use std::fmt;
use std::str::FromStr;

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The id is shorter or longer than this kind of id may be.
    #[error("{kind} must be {min} to {max} characters, got {got}")]
    Length {
        /// Which kind of id was being parsed.
        kind: &'static str,
        /// Shortest allowed length.
        min: usize,
        /// Longest allowed length.
        max: usize,
        /// Length of the input.
        got: usize,
    },
    /// The id has a character outside `[A-Za-z0-9_-]`.
    #[error("{kind} may only contain A-Z, a-z, 0-9, '_' and '-'")]
    Charset {
        /// Which kind of id was being parsed.
        kind: &'static str,
    },
}

/// Behaviour shared by all opaque ids.
pub trait OpaqueId: Sized {
    /// Name of the id kind, for error messages.
    const KIND: &'static str;
    /// Builds an id from random bytes (the caller provides them from a CSPRNG).
    fn from_random(bytes: &[u8]) -> Self;
}

const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Unpadded URL-safe base64, kept here so that `proto` needs no codec crate.
fn encode_url_safe(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(URL_SAFE[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn validate(kind: &'static str, s: &str, min: usize, max: usize) -> Result<(), IdError> {
    if s.len() < min || s.len() > max {
        return Err(IdError::Length {
            kind,
            min,
            max,
            got: s.len(),
        });
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(IdError::Charset { kind });
    }
    Ok(())
}

macro_rules! opaque_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $min:literal..=$max:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        #[serde(try_from = "String", into = "String")]
        #[schema(value_type = String)]
        #[cfg_attr(test, derive(ts_rs::TS))]
        pub struct $name(String);

        impl $name {
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl OpaqueId for $name {
            const KIND: &'static str = $kind;
            fn from_random(bytes: &[u8]) -> Self {
                Self(encode_url_safe(bytes))
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                validate($kind, s, $min, $max)?;
                Ok(Self(s.to_owned()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                validate($kind, &s, $min, $max)?;
                Ok(Self(s))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }
    };
}

opaque_id!(
    /// A meeting. Made from 16 random bytes (128 bits): knowing it is the
    /// capability to ask to join, so it must not be guessable.
    MeetingId, "meeting id", 22..=22
);
opaque_id!(
    /// An account. Made from 16 random bytes; it never changes, unlike the
    /// username.
    AccountId, "account id", 22..=22
);
opaque_id!(
    /// One participant's presence in one meeting (a lobby wait or a seat).
    /// Made from 9 random bytes; it is kept across a resume.
    ParticipantId, "participant id", 12..=12
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_round_trip_through_text() {
        let id = MeetingId::from_random(&[0xfb; 16]);
        assert_eq!(id.as_str().len(), 22);
        assert_eq!(id.as_str().parse::<MeetingId>(), Ok(id.clone()));
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<MeetingId>(&json).unwrap(), id);
        assert_eq!(ParticipantId::from_random(&[1; 9]).as_str().len(), 12);
    }

    #[test]
    fn bad_ids_are_refused_with_the_reason() {
        assert!(matches!(
            "short".parse::<MeetingId>(),
            Err(IdError::Length { got: 5, .. })
        ));
        assert_eq!(
            "aaaaaaaaaaaaaaaaaaaa/.".parse::<MeetingId>(),
            Err(IdError::Charset { kind: "meeting id" })
        );
        assert!(serde_json::from_str::<AccountId>("\"../../etc/passwd\"").is_err());
    }
}
