//! How staff authenticate to the staff API: every HTTP request carries an
//! `Authorization` header signed with the staff member's own key.
//!
//! ```text
//! Authorization: Conclave-Staff staff=<id>, ts=<unix seconds>, nonce=<32 hex>, sig=<base64 signature>
//!
//! signed = "conclave staff api v1\0" || text(staff id) || u64 ts || nonce (16)
//!          || text(METHOD) || text(path and query) || SHA-256(body)
//! ```
//!
//! ([`crate::codec`] rules: `text` is a u16 length and UTF-8.) The server
//! accepts a header only within [`ReplayGuard`]'s window around its clock and
//! only once per nonce; a verified header becomes [`AuthenticatedStaff`],
//! the token the staff handlers take.

use std::collections::BTreeSet;
use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey};
use sha2::{Digest as _, Sha256};

use crate::codec::Writer;
use crate::staff::{StaffId, StaffSet};

/// The authorization scheme name.
pub const AUTH_SCHEME: &str = "Conclave-Staff";

/// Most nonces remembered at once; beyond it requests are refused rather
/// than remembered less (fail closed).
pub const MAX_REPLAY_ENTRIES: usize = 100_000;

/// Longest header value accepted, in bytes.
const MAX_HEADER_LEN: usize = 512;
/// Longest method accepted.
const MAX_METHOD_LEN: usize = 16;
/// Longest path and query accepted.
const MAX_PATH_LEN: usize = 2048;

const LABEL: &[u8] = b"conclave staff api v1\0";

/// A parsed `Authorization: Conclave-Staff ...` header.
#[derive(Clone, PartialEq, Eq)]
pub struct StaffAuthorization {
    /// Who signs.
    pub staff: StaffId,
    /// When, in Unix seconds by the signer's clock.
    pub timestamp: u64,
    /// 16 random bytes, used once.
    pub nonce: [u8; 16],
    /// The signature.
    pub signature: Signature,
}

impl StaffAuthorization {
    /// Signs an HTTP request (on the staff member's machine).
    pub fn sign(
        staff: StaffId,
        key: &SigningKey,
        method: &str,
        path: &str,
        body: &[u8],
        timestamp: u64,
        nonce: [u8; 16],
    ) -> StaffAuthorization {
        let signature = key.sign(&message(&staff, timestamp, &nonce, method, path, body));
        StaffAuthorization {
            staff,
            timestamp,
            nonce,
            signature,
        }
    }

    /// The header value.
    pub fn to_header(&self) -> String {
        format!(
            "{AUTH_SCHEME} staff={}, ts={}, nonce={}, sig={}",
            self.staff,
            self.timestamp,
            nonce_hex(&self.nonce),
            BASE64.encode(self.signature.to_bytes())
        )
    }

    /// Parses a header value, strictly: the scheme, then exactly `staff`,
    /// `ts`, `nonce` and `sig` in that order.
    pub fn parse(header: &str) -> Result<StaffAuthorization, AuthError> {
        if header.len() > MAX_HEADER_LEN {
            return Err(AuthError::Malformed {
                problem: "header too long",
            });
        }
        let rest = header
            .strip_prefix(AUTH_SCHEME)
            .and_then(|rest| rest.strip_prefix(' '))
            .ok_or(AuthError::Malformed {
                problem: "scheme is not Conclave-Staff",
            })?;
        let mut parts = rest.split(", ");
        let mut field = |name: &'static str| {
            parts
                .next()
                .and_then(|part| part.strip_prefix(name))
                .and_then(|part| part.strip_prefix('='))
                .ok_or(AuthError::Malformed { problem: name })
        };
        let staff = field("staff")?
            .parse()
            .map_err(|_| AuthError::Malformed { problem: "staff" })?;
        let ts = field("ts")?;
        if ts.is_empty() || ts.len() > 20 || !ts.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AuthError::Malformed { problem: "ts" });
        }
        let timestamp = ts
            .parse()
            .map_err(|_| AuthError::Malformed { problem: "ts" })?;
        let nonce =
            parse_nonce(field("nonce")?).ok_or(AuthError::Malformed { problem: "nonce" })?;
        let sig = field("sig")?;
        if sig.len() != 88 {
            return Err(AuthError::Malformed { problem: "sig" });
        }
        let sig: [u8; 64] = BASE64
            .decode(sig)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(AuthError::Malformed { problem: "sig" })?;
        if parts.next().is_some() {
            return Err(AuthError::Malformed {
                problem: "parameters after sig",
            });
        }
        Ok(StaffAuthorization {
            staff,
            timestamp,
            nonce,
            signature: Signature::from_bytes(&sig),
        })
    }
}

impl fmt::Debug for StaffAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaffAuthorization")
            .field("staff", &self.staff)
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

/// A staff member whose request signature verified just now. Not `Clone`:
/// one verification authorizes one request.
#[derive(Debug)]
pub struct AuthenticatedStaff {
    staff: StaffId,
}

impl AuthenticatedStaff {
    /// Who it is.
    pub fn staff(&self) -> &StaffId {
        &self.staff
    }
}

/// Verifies staff API requests and remembers their nonces for the window,
/// so that a captured request cannot be replayed.
#[derive(Debug)]
pub struct ReplayGuard {
    window_secs: u64,
    /// (forget after, staff, nonce).
    seen: BTreeSet<(u64, StaffId, [u8; 16])>,
    /// (staff, nonce), for lookup.
    keys: BTreeSet<(StaffId, [u8; 16])>,
}

impl ReplayGuard {
    /// A guard accepting timestamps within `window_secs` of the server clock.
    pub fn new(window_secs: u64) -> ReplayGuard {
        ReplayGuard {
            window_secs,
            seen: BTreeSet::new(),
            keys: BTreeSet::new(),
        }
    }

    /// Checks a request's `Authorization` header against its method, path
    /// (with query) and body and the current staff.
    pub fn verify(
        &mut self,
        header: &str,
        method: &str,
        path: &str,
        body: &[u8],
        staff: &StaffSet,
        now: u64,
    ) -> Result<AuthenticatedStaff, AuthError> {
        let auth = StaffAuthorization::parse(header)?;
        if method.is_empty()
            || method.len() > MAX_METHOD_LEN
            || !method.bytes().all(|b| b.is_ascii_uppercase())
        {
            return Err(AuthError::Malformed { problem: "method" });
        }
        if path.len() > MAX_PATH_LEN || !path.starts_with('/') {
            return Err(AuthError::Malformed { problem: "path" });
        }
        if auth.timestamp.abs_diff(now) > self.window_secs {
            return Err(AuthError::Stale {
                timestamp: auth.timestamp,
                now,
                window_secs: self.window_secs,
            });
        }
        let member = staff
            .member(&auth.staff)
            .ok_or_else(|| AuthError::UnknownStaff {
                staff: auth.staff.clone(),
            })?;
        if !member.verify(
            &message(&auth.staff, auth.timestamp, &auth.nonce, method, path, body),
            &auth.signature,
        ) {
            return Err(AuthError::BadSignature { staff: auth.staff });
        }
        self.forget_before(now);
        let key = (auth.staff.clone(), auth.nonce);
        if self.keys.contains(&key) {
            return Err(AuthError::Replayed { staff: auth.staff });
        }
        if self.keys.len() >= MAX_REPLAY_ENTRIES {
            return Err(AuthError::Busy);
        }
        self.seen.insert((
            auth.timestamp.saturating_add(self.window_secs),
            auth.staff.clone(),
            auth.nonce,
        ));
        self.keys.insert(key);
        Ok(AuthenticatedStaff { staff: auth.staff })
    }

    fn forget_before(&mut self, now: u64) {
        while let Some((until, staff, nonce)) = self.seen.first().cloned() {
            if until >= now {
                break;
            }
            self.seen.pop_first();
            self.keys.remove(&(staff, nonce));
        }
    }
}

/// Why a staff API request is not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The header or request line does not have the expected form.
    #[error("malformed staff authorization: {problem}")]
    Malformed {
        /// The part at fault.
        problem: &'static str,
    },
    /// The timestamp is outside the window.
    #[error("staff request signed at {timestamp}, more than {window_secs} s from the server's time {now}")]
    Stale {
        /// The signed time.
        timestamp: u64,
        /// The server's time.
        now: u64,
        /// The window.
        window_secs: u64,
    },
    /// No staff member has this id.
    #[error("{staff} is not a staff member")]
    UnknownStaff {
        /// The id given.
        staff: StaffId,
    },
    /// The signature does not verify.
    #[error("the request signature of {staff} does not verify")]
    BadSignature {
        /// The id given.
        staff: StaffId,
    },
    /// The nonce was used before within the window.
    #[error("replayed staff request from {staff}")]
    Replayed {
        /// The id given.
        staff: StaffId,
    },
    /// Too many nonces remembered; try again shortly.
    #[error("too many recent staff requests; try again shortly")]
    Busy,
}

fn message(
    staff: &StaffId,
    timestamp: u64,
    nonce: &[u8; 16],
    method: &str,
    path: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut writer = Writer::new();
    writer.raw(LABEL);
    staff.encode(&mut writer);
    writer
        .u64(timestamp)
        .raw(nonce)
        .text(method)
        .text(path)
        .raw(&Sha256::digest(body));
    writer.finish()
}

fn nonce_hex(nonce: &[u8; 16]) -> String {
    nonce.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn parse_nonce(text: &str) -> Option<[u8; 16]> {
    let bytes = text.as_bytes();
    if bytes.len() != 32 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 16];
    for (byte, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::staff::{Role, StaffMember};

    fn setup() -> (StaffSet, SigningKey) {
        let key = SigningKey::from_bytes(&[4; 32]);
        let mut staff = StaffSet::new();
        staff
            .add(StaffMember {
                id: "alice".parse().unwrap(),
                public_key: key.verifying_key(),
                jurisdiction: "DE".parse().unwrap(),
                roles: [Role::Approver].into(),
            })
            .unwrap();
        (staff, key)
    }

    #[test]
    fn a_signed_request_verifies_once() {
        let (staff, key) = setup();
        let auth = StaffAuthorization::sign(
            "alice".parse().unwrap(),
            &key,
            "POST",
            "/api/v1/staff/requests",
            b"body",
            1000,
            [1; 16],
        );
        let header = auth.to_header();
        assert_eq!(StaffAuthorization::parse(&header), Ok(auth));
        let mut guard = ReplayGuard::new(60);
        let ok = guard
            .verify(
                &header,
                "POST",
                "/api/v1/staff/requests",
                b"body",
                &staff,
                1010,
            )
            .unwrap();
        assert_eq!(ok.staff().as_str(), "alice");
        assert!(matches!(
            guard.verify(
                &header,
                "POST",
                "/api/v1/staff/requests",
                b"body",
                &staff,
                1011
            ),
            Err(AuthError::Replayed { .. })
        ));
    }

    #[test]
    fn any_change_or_staleness_is_refused() {
        let (staff, key) = setup();
        let header = StaffAuthorization::sign(
            "alice".parse().unwrap(),
            &key,
            "POST",
            "/p",
            b"body",
            1000,
            [2; 16],
        )
        .to_header();
        let mut guard = ReplayGuard::new(60);
        for (method, path, body) in [
            ("GET", "/p", &b"body"[..]),
            ("POST", "/q", b"body"),
            ("POST", "/p", b"bodY"),
        ] {
            assert!(matches!(
                guard.verify(&header, method, path, body, &staff, 1000),
                Err(AuthError::BadSignature { .. })
            ));
        }
        assert!(matches!(
            guard.verify(&header, "POST", "/p", b"body", &staff, 1061),
            Err(AuthError::Stale { .. })
        ));
        assert!(matches!(
            guard.verify(&header, "POST", "/p", b"body", &staff, 939),
            Err(AuthError::Stale { .. })
        ));
        let bob = StaffAuthorization::sign(
            "bob".parse().unwrap(),
            &key,
            "POST",
            "/p",
            b"",
            1000,
            [2; 16],
        )
        .to_header();
        assert!(matches!(
            guard.verify(&bob, "POST", "/p", b"", &staff, 1000),
            Err(AuthError::UnknownStaff { .. })
        ));
    }

    #[test]
    fn nonces_are_forgotten_after_the_window() {
        let (staff, key) = setup();
        let mut guard = ReplayGuard::new(60);
        for second in 0..10u64 {
            let nonce = [u8::try_from(second).unwrap(); 16];
            let header = StaffAuthorization::sign(
                "alice".parse().unwrap(),
                &key,
                "GET",
                "/",
                b"",
                1000 + second,
                nonce,
            )
            .to_header();
            guard
                .verify(&header, "GET", "/", b"", &staff, 1000 + second)
                .unwrap();
        }
        assert_eq!(guard.keys.len(), 10);
        let header = StaffAuthorization::sign(
            "alice".parse().unwrap(),
            &key,
            "GET",
            "/",
            b"",
            1100,
            [99; 16],
        )
        .to_header();
        guard
            .verify(&header, "GET", "/", b"", &staff, 1100)
            .unwrap();
        assert_eq!(
            guard.keys.len(),
            1,
            "old nonces are dropped once their timestamps fall out of the window"
        );
    }

    #[test]
    fn malformed_headers_name_the_part() {
        for (header, problem) in [
            ("Bearer x", "scheme is not Conclave-Staff"),
            ("Conclave-Staff ts=1", "staff"),
            ("Conclave-Staff staff=a, ts=-1", "ts"),
            ("Conclave-Staff staff=a, ts=1, nonce=zz", "nonce"),
            (
                "Conclave-Staff staff=a, ts=1, nonce=00000000000000000000000000000000, sig=AAAA",
                "sig",
            ),
        ] {
            assert_eq!(
                StaffAuthorization::parse(header),
                Err(AuthError::Malformed { problem }),
                "{header}"
            );
        }
    }
}
