//! Which participant a datagram from an unknown address belongs to.
//!
//! Known addresses are looked up directly. A datagram from a new address is
//! only accepted if it is a STUN binding request whose USERNAME names one of
//! our local ICE ufrags (RFC 8445 section 7.2.2: `local:remote`); str0m then
//! checks its MESSAGE-INTEGRITY. Both parsers here are total and bounded.

/// STUN magic cookie (RFC 8489 section 5).
const MAGIC_COOKIE: u32 = 0x2112_a442;
/// STUN attribute type of USERNAME.
const ATTR_USERNAME: u16 = 0x0006;
/// Longest USERNAME RFC 8489 allows.
pub const MAX_USERNAME_BYTES: usize = 513;
/// Most attributes read before giving up.
const MAX_ATTRIBUTES: usize = 32;

/// What a datagram is, by its first byte (RFC 7983 section 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatagramKind {
    /// 0..=3.
    Stun,
    /// 20..=63.
    Dtls,
    /// 128..=191: RTP or RTCP.
    Rtp,
    /// Anything else (including empty).
    Other,
}

/// Classifies a datagram by its first byte.
pub fn classify(datagram: &[u8]) -> DatagramKind {
    match datagram.first() {
        Some(0..=3) => DatagramKind::Stun,
        Some(20..=63) => DatagramKind::Dtls,
        Some(128..=191) => DatagramKind::Rtp,
        _ => DatagramKind::Other,
    }
}

/// The local (first) part of the USERNAME of a STUN binding request, or
/// `None` if the datagram is not a well-formed binding request with one.
pub fn binding_request_ufrag(datagram: &[u8]) -> Option<&str> {
    let header = datagram.get(..20)?;
    let message_type = u16::from_be_bytes([header[0], header[1]]);
    let length = usize::from(u16::from_be_bytes([header[2], header[3]]));
    let cookie = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    // Binding request: class request, method 0x001.
    if message_type != 0x0001 || cookie != MAGIC_COOKIE || length % 4 != 0 {
        return None;
    }
    let mut attributes = datagram.get(20..20 + length)?;
    for _ in 0..MAX_ATTRIBUTES {
        let kind = u16::from_be_bytes([*attributes.first()?, *attributes.get(1)?]);
        let len = usize::from(u16::from_be_bytes([
            *attributes.get(2)?,
            *attributes.get(3)?,
        ]));
        let value = attributes.get(4..4 + len)?;
        if kind == ATTR_USERNAME {
            if len > MAX_USERNAME_BYTES {
                return None;
            }
            let username = std::str::from_utf8(value).ok()?;
            let (local, _remote) = username.split_once(':')?;
            return (!local.is_empty()).then_some(local);
        }
        let padded = (4 + len).div_ceil(4) * 4;
        attributes = attributes.get(padded..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (kind, value) in attrs {
            body.extend_from_slice(&kind.to_be_bytes());
            body.extend_from_slice(&(value.len() as u16).to_be_bytes());
            body.extend_from_slice(value);
            while body.len() % 4 != 0 {
                body.push(0);
            }
        }
        let mut out = vec![0x00, 0x01];
        out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        out.extend_from_slice(&[7; 12]);
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn finds_the_local_ufrag_after_other_attributes() {
        let packet = binding(&[(0x8029, &[1; 8]), (ATTR_USERNAME, b"srv1:cli")]);
        assert_eq!(classify(&packet), DatagramKind::Stun);
        assert_eq!(binding_request_ufrag(&packet), Some("srv1"));
    }

    #[test]
    fn refuses_what_is_not_a_binding_request_with_a_username() {
        assert_eq!(binding_request_ufrag(&[]), None);
        assert_eq!(binding_request_ufrag(&binding(&[(0x8029, &[1; 8])])), None);
        assert_eq!(
            binding_request_ufrag(&binding(&[(ATTR_USERNAME, b"nocolon")])),
            None
        );
        assert_eq!(
            binding_request_ufrag(&binding(&[(ATTR_USERNAME, b":x")])),
            None
        );
        let mut response = binding(&[(ATTR_USERNAME, b"a:b")]);
        response[0] = 0x01; // success response
        assert_eq!(binding_request_ufrag(&response), None);
        let mut cut = binding(&[(ATTR_USERNAME, b"a:b")]);
        cut.truncate(cut.len() - 4);
        assert_eq!(binding_request_ufrag(&cut), None);
        assert_eq!(classify(&[200]), DatagramKind::Other);
        assert_eq!(classify(&[22]), DatagramKind::Dtls);
        assert_eq!(classify(&[0x80]), DatagramKind::Rtp);
    }
}
