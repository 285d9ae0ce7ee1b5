//! The VP9 RTP payload descriptor (RFC 9628 section 4.2), the only part of a
//! video payload the router reads. The frame after it is SFrame ciphertext.
//!
//! The parser is total: any byte string gives either a descriptor or a
//! [`Vp9Error`], never a panic, and it reads at most
//! [`MAX_DESCRIPTOR_BYTES`] bytes.

use arrayvec::ArrayVec;

/// Most spatial layers a scalability structure can describe (N_S is 3 bits).
pub const MAX_SPATIAL_LAYERS: usize = 8;

/// Upper bound on the bytes a descriptor can occupy: 1 flags + 2 picture id +
/// 2 layer + 3 reference diffs + scalability structure (1 + 8 * 4 + 1 + 255
/// groups * (1 + 3)).
pub const MAX_DESCRIPTOR_BYTES: usize = 1 + 2 + 2 + 3 + 1 + MAX_SPATIAL_LAYERS * 4 + 1 + 255 * 4;

/// What one packet's payload descriptor says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vp9Descriptor {
    /// P: the picture is predicted from an earlier picture (not a keyframe).
    pub inter_picture: bool,
    /// F: flexible mode (reference diffs in the descriptor).
    pub flexible: bool,
    /// B: first packet of a layer frame.
    pub begin: bool,
    /// E: last packet of a layer frame.
    pub end: bool,
    /// Picture id (7 or 15 bits), if present.
    pub picture_id: Option<u16>,
    /// Temporal layer id (0 when no layer byte).
    pub temporal: u8,
    /// Spatial layer id (0 when no layer byte).
    pub spatial: u8,
    /// U: a switching-up point to a higher temporal layer.
    pub switching_up: bool,
    /// D: the layer frame depends on the lower spatial layer of the same picture.
    pub inter_layer: bool,
    /// The scalability structure, present on keyframes.
    pub scalability: Option<Scalability>,
    /// Length of the descriptor in bytes (where the frame starts).
    pub len: usize,
}

impl Vp9Descriptor {
    /// The first packet of a keyframe: a picture that is not predicted from an
    /// earlier one, starting at its base spatial layer.
    pub fn starts_keyframe(&self) -> bool {
        !self.inter_picture && self.begin && self.spatial == 0
    }

    /// The first packet of a new picture (its base spatial layer begins).
    pub fn starts_picture(&self) -> bool {
        self.begin && self.spatial == 0
    }
}

/// The scalability structure (SS) a sender attaches to keyframes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scalability {
    /// Number of spatial layers (N_S + 1).
    pub spatial_layers: u8,
    /// Width and height of each spatial layer, lowest first, if the sender gave them.
    pub resolutions: ArrayVec<(u16, u16), MAX_SPATIAL_LAYERS>,
}

/// Why a payload does not start with a valid VP9 descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Vp9Error {
    /// The payload ends inside the descriptor.
    #[error("VP9 payload descriptor is cut off: {field} needs byte {needed}, payload has {len}")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// How many bytes were needed.
        needed: usize,
        /// How many bytes there were.
        len: usize,
    },
    /// More than three reference diffs in flexible mode.
    #[error("VP9 payload descriptor has more than 3 reference diffs")]
    TooManyReferences,
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self, field: &'static str) -> Result<u8, Vp9Error> {
        let b = self
            .bytes
            .get(self.at)
            .copied()
            .ok_or(Vp9Error::Truncated {
                field,
                needed: self.at + 1,
                len: self.bytes.len(),
            })?;
        self.at += 1;
        Ok(b)
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, Vp9Error> {
        let hi = self.byte(field)?;
        let lo = self.byte(field)?;
        Ok(u16::from_be_bytes([hi, lo]))
    }
}

/// Parses the descriptor at the start of a VP9 RTP payload.
pub fn parse(payload: &[u8]) -> Result<Vp9Descriptor, Vp9Error> {
    let mut r = Reader {
        bytes: payload,
        at: 0,
    };
    let flags = r.byte("flags")?;
    let bit = |n: u8| flags & (0x80 >> n) != 0;
    let (has_picture_id, inter_picture, has_layers, flexible) = (bit(0), bit(1), bit(2), bit(3));
    let (begin, end, has_scalability) = (bit(4), bit(5), bit(6));
    let picture_id = if has_picture_id {
        let first = r.byte("picture id")?;
        if first & 0x80 != 0 {
            let second = r.byte("extended picture id")?;
            Some(u16::from_be_bytes([first & 0x7f, second]))
        } else {
            Some(u16::from(first))
        }
    } else {
        None
    };
    let (mut temporal, mut spatial, mut switching_up, mut inter_layer) = (0, 0, false, false);
    if has_layers {
        let layers = r.byte("layer indices")?;
        temporal = layers >> 5;
        switching_up = layers & 0x10 != 0;
        spatial = (layers >> 1) & 0x07;
        inter_layer = layers & 0x01 != 0;
        if !flexible {
            r.byte("TL0PICIDX")?;
        }
    }
    if flexible && inter_picture {
        let mut diffs = 0;
        loop {
            let diff = r.byte("reference diff")?;
            diffs += 1;
            if diff & 0x01 == 0 {
                break;
            }
            if diffs == 3 {
                return Err(Vp9Error::TooManyReferences);
            }
        }
    }
    let scalability = if has_scalability {
        Some(parse_scalability(&mut r)?)
    } else {
        None
    };
    Ok(Vp9Descriptor {
        inter_picture,
        flexible,
        begin,
        end,
        picture_id,
        temporal,
        spatial,
        switching_up,
        inter_layer,
        scalability,
        len: r.at,
    })
}

fn parse_scalability(r: &mut Reader<'_>) -> Result<Scalability, Vp9Error> {
    let head = r.byte("scalability structure")?;
    let spatial_layers = (head >> 5) + 1;
    let has_resolutions = head & 0x10 != 0;
    let has_groups = head & 0x08 != 0;
    let mut resolutions = ArrayVec::new();
    if has_resolutions {
        for _ in 0..spatial_layers {
            let width = r.u16("layer width")?;
            let height = r.u16("layer height")?;
            // At most 8 layers: N_S has 3 bits, and the ArrayVec holds 8.
            resolutions.push((width, height));
        }
    }
    if has_groups {
        let groups = r.byte("picture group count")?;
        for _ in 0..groups {
            let group = r.byte("picture group")?;
            let references = (group >> 2) & 0x03;
            for _ in 0..references {
                r.byte("picture group reference")?;
            }
        }
    }
    Ok(Scalability {
        spatial_layers,
        resolutions,
    })
}

/// Writes a descriptor in non-flexible mode with a layer byte; used by tests,
/// benchmarks and fuzz seeds to make packets the way Chromium's packetizer does.
pub fn write_non_flexible(d: &Vp9Descriptor, tl0: u8, out: &mut Vec<u8>) {
    let mut flags = 0x20; // L
    if d.picture_id.is_some() {
        flags |= 0x80;
    }
    if d.inter_picture {
        flags |= 0x40;
    }
    if d.begin {
        flags |= 0x08;
    }
    if d.end {
        flags |= 0x04;
    }
    if d.scalability.is_some() {
        flags |= 0x02;
    }
    out.push(flags);
    if let Some(id) = d.picture_id {
        out.extend_from_slice(&((id & 0x7fff) | 0x8000).to_be_bytes());
    }
    out.push(
        (d.temporal << 5)
            | (u8::from(d.switching_up) << 4)
            | ((d.spatial & 0x07) << 1)
            | u8::from(d.inter_layer),
    );
    out.push(tl0);
    if let Some(ss) = &d.scalability {
        let has_res = !ss.resolutions.is_empty();
        out.push(((ss.spatial_layers.saturating_sub(1) & 0x07) << 5) | (u8::from(has_res) << 4));
        for (w, h) in &ss.resolutions {
            out.extend_from_slice(&w.to_be_bytes());
            out.extend_from_slice(&h.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_keyframe_with_scalability_structure() {
        let mut ss = Scalability {
            spatial_layers: 3,
            resolutions: ArrayVec::new(),
        };
        ss.resolutions.push((320, 180));
        ss.resolutions.push((640, 360));
        ss.resolutions.push((1280, 720));
        let d = Vp9Descriptor {
            inter_picture: false,
            flexible: false,
            begin: true,
            end: false,
            picture_id: Some(1234),
            temporal: 0,
            spatial: 0,
            switching_up: false,
            inter_layer: false,
            scalability: Some(ss),
            len: 0,
        };
        let mut bytes = Vec::new();
        write_non_flexible(&d, 7, &mut bytes);
        let parsed = parse(&bytes).unwrap();
        assert_eq!(parsed.len, bytes.len());
        assert_eq!(
            Vp9Descriptor {
                len: 0,
                ..parsed.clone()
            },
            d
        );
        assert!(parsed.starts_keyframe());
    }

    #[test]
    fn reads_layer_indices_and_flexible_references() {
        // I=1 P=1 L=1 F=1 B=1: 7-bit picture id, layer byte, two diffs.
        let bytes = [0xf8, 0x05, 0b0101_0011, 0x03, 0x04, 0xaa];
        let d = parse(&bytes).unwrap();
        assert_eq!(d.picture_id, Some(5));
        assert_eq!(
            (d.temporal, d.switching_up, d.spatial, d.inter_layer),
            (2, true, 1, true)
        );
        assert_eq!(d.len, 5);
        assert!(!d.starts_keyframe());
    }

    #[test]
    fn refuses_truncated_and_overlong_descriptors() {
        assert!(matches!(parse(&[]), Err(Vp9Error::Truncated { .. })));
        assert!(matches!(parse(&[0x80]), Err(Vp9Error::Truncated { .. })));
        assert!(matches!(
            parse(&[0x80, 0x80]),
            Err(Vp9Error::Truncated { .. })
        ));
        assert!(matches!(
            parse(&[0x20, 0x00]),
            Err(Vp9Error::Truncated { .. })
        ));
        assert_eq!(
            parse(&[0x50, 0x01, 0x01, 0x01, 0x01]),
            Err(Vp9Error::TooManyReferences)
        );
        assert!(matches!(
            parse(&[0x02, 0x18, 0x00]),
            Err(Vp9Error::Truncated { .. })
        ));
    }
}
