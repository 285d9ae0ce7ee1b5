//! The VP9 RTP payload descriptor (RFC 9628, section 4.2), in the
//! non-flexible mode that browsers use for SVC (L3T3_KEY): picture id,
//! layer indices with TL0PICIDX, and the scalability structure on the first
//! packet of a keyframe. This is the only part of a video packet the SFU
//! reads; the frame payload after it is opaque (and will be SFrame
//! ciphertext, #4).

/// Most spatial layers a scalability structure written here describes.
pub const MAX_SPATIAL_LAYERS: usize = 3;
/// Longest descriptor [`Vp9Descriptor::write`] produces: five fixed bytes,
/// then the scalability structure's byte and one size per spatial layer.
pub const MAX_DESCRIPTOR_LEN: usize = 5 + 1 + 4 * MAX_SPATIAL_LAYERS;

/// One layer's resolution in the scalability structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerSize {
    /// Pixels.
    pub width: u16,
    /// Pixels.
    pub height: u16,
}

/// The fields of one packet's descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vp9Descriptor {
    /// P: this layer frame references an earlier picture (false on keyframes).
    pub inter_picture: bool,
    /// B: first packet of a layer frame.
    pub start_of_frame: bool,
    /// E: last packet of a layer frame.
    pub end_of_frame: bool,
    /// Z: upper spatial layers do not use this frame for prediction.
    pub not_reference_for_upper: bool,
    /// 15-bit picture id (M = 1).
    pub picture_id: u16,
    /// TID.
    pub temporal_id: u8,
    /// U: a switching-up point.
    pub switching_up: bool,
    /// SID.
    pub spatial_id: u8,
    /// D: predicted from the spatial layer below.
    pub inter_layer: bool,
    /// TL0PICIDX.
    pub tl0_pic_idx: u8,
    /// V: the scalability structure, sizes per spatial layer (on keyframes).
    pub scalability: Option<Vec<LayerSize>>,
}

/// Why bytes are not a descriptor this client understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DescriptorError {
    /// The packet ends inside the descriptor.
    #[error("VP9 descriptor truncated")]
    Truncated,
    /// Flexible mode, or layer indices absent: not what this client sends.
    #[error("VP9 descriptor without layer indices in non-flexible mode")]
    Unsupported,
}

impl Vp9Descriptor {
    /// Appends the descriptor to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut first = 0b1010_0000; // I and L
        if self.inter_picture {
            first |= 0b0100_0000;
        }
        if self.start_of_frame {
            first |= 0b0000_1000;
        }
        if self.end_of_frame {
            first |= 0b0000_0100;
        }
        if self.scalability.is_some() {
            first |= 0b0000_0010;
        }
        if self.not_reference_for_upper {
            first |= 0b0000_0001;
        }
        out.push(first);
        let pid = self.picture_id & 0x7fff;
        out.push(0x80 | (pid >> 8) as u8);
        out.push(pid as u8);
        out.push(
            ((self.temporal_id & 0x07) << 5)
                | (u8::from(self.switching_up) << 4)
                | ((self.spatial_id & 0x07) << 1)
                | u8::from(self.inter_layer),
        );
        out.push(self.tl0_pic_idx);
        if let Some(layers) = &self.scalability {
            // N_S is the number of spatial layers minus one, 3 bits; Y = 1, G = 0.
            let layers = &layers[..layers.len().min(MAX_SPATIAL_LAYERS)];
            let n_s = layers.len().max(1) - 1;
            out.push(((n_s as u8) << 5) | 0b0001_0000);
            for layer in layers {
                out.extend_from_slice(&layer.width.to_be_bytes());
                out.extend_from_slice(&layer.height.to_be_bytes());
            }
        }
    }

    /// Parses a descriptor and says how many bytes it took.
    pub fn parse(packet: &[u8]) -> Result<(Vp9Descriptor, usize), DescriptorError> {
        let mut at = 0;
        let mut next = || -> Result<u8, DescriptorError> {
            let byte = *packet.get(at).ok_or(DescriptorError::Truncated)?;
            at += 1;
            Ok(byte)
        };
        let first = next()?;
        let has_pid = first & 0x80 != 0;
        let has_layers = first & 0x20 != 0;
        let flexible = first & 0x10 != 0;
        if flexible || !has_layers {
            return Err(DescriptorError::Unsupported);
        }
        let mut picture_id = 0;
        if has_pid {
            let high = next()?;
            picture_id = u16::from(high & 0x7f);
            if high & 0x80 != 0 {
                picture_id = (picture_id << 8) | u16::from(next()?);
            }
        }
        let layers = next()?;
        let tl0_pic_idx = next()?;
        let mut scalability = None;
        if first & 0x02 != 0 {
            let ss = next()?;
            let count = usize::from(ss >> 5) + 1;
            let mut sizes = Vec::with_capacity(count);
            if ss & 0x10 != 0 {
                for _ in 0..count {
                    let width = u16::from_be_bytes([next()?, next()?]);
                    let height = u16::from_be_bytes([next()?, next()?]);
                    sizes.push(LayerSize { width, height });
                }
            }
            if ss & 0x08 != 0 {
                let groups = next()?;
                for _ in 0..groups {
                    let group = next()?;
                    for _ in 0..((group >> 2) & 0x03) {
                        next()?;
                    }
                }
            }
            scalability = Some(sizes);
        }
        Ok((
            Vp9Descriptor {
                inter_picture: first & 0x40 != 0,
                start_of_frame: first & 0x08 != 0,
                end_of_frame: first & 0x04 != 0,
                not_reference_for_upper: first & 0x01 != 0,
                picture_id,
                temporal_id: layers >> 5,
                switching_up: layers & 0x10 != 0,
                spatial_id: (layers >> 1) & 0x07,
                inter_layer: layers & 0x01 != 0,
                tl0_pic_idx,
                scalability,
            },
            at,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyframe_start() -> Vp9Descriptor {
        Vp9Descriptor {
            inter_picture: false,
            start_of_frame: true,
            end_of_frame: false,
            not_reference_for_upper: false,
            picture_id: 0x1234,
            temporal_id: 0,
            switching_up: false,
            spatial_id: 0,
            inter_layer: false,
            tl0_pic_idx: 9,
            scalability: Some(vec![
                LayerSize {
                    width: 320,
                    height: 180,
                },
                LayerSize {
                    width: 640,
                    height: 360,
                },
                LayerSize {
                    width: 1280,
                    height: 720,
                },
            ]),
        }
    }

    #[test]
    fn descriptors_round_trip() {
        let mut out = Vec::new();
        keyframe_start().write(&mut out);
        assert_eq!(out.len(), MAX_DESCRIPTOR_LEN);
        assert_eq!(
            Vp9Descriptor::parse(&out),
            Ok((keyframe_start(), out.len()))
        );

        let delta = Vp9Descriptor {
            inter_picture: true,
            start_of_frame: false,
            end_of_frame: true,
            not_reference_for_upper: true,
            temporal_id: 2,
            switching_up: true,
            spatial_id: 2,
            inter_layer: false,
            scalability: None,
            ..keyframe_start()
        };
        let mut out = Vec::new();
        delta.write(&mut out);
        assert_eq!(out.len(), 5);
        assert_eq!(out[0], 0b1110_0101);
        assert_eq!(Vp9Descriptor::parse(&out), Ok((delta, 5)));
    }

    #[test]
    fn short_or_flexible_descriptors_are_refused() {
        let mut out = Vec::new();
        keyframe_start().write(&mut out);
        for cut in 0..out.len() {
            assert_eq!(
                Vp9Descriptor::parse(&out[..cut]),
                Err(DescriptorError::Truncated),
                "cut at {cut}"
            );
        }
        assert_eq!(
            Vp9Descriptor::parse(&[0b1011_1000, 0x80, 0x01, 0x00]),
            Err(DescriptorError::Unsupported)
        );
    }
}
