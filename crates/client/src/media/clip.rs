//! Recorded clips to send instead of synthetic frames, so that a real decoder (a browser)
//! can show and play what a native participant sends: VP9 video from IVF and Opus audio
//! from Ogg.
//!
//! The clip comes from an IVF file (the plain container libvpx and ffmpeg write: a 32-byte
//! file header, then per frame a 12-byte header and the frame). It is read whole, checked and
//! kept in memory; [`crate::media::generator::FrameGenerator`] loops it. Each IVF frame is one
//! picture of one spatial layer, so the stream is single-layer VP9. A keyframe request
//! restarts the clip at its first frame, which must be a keyframe: every later frame only
//! references frames before it, so a restart is always decodable.
//!
//! Audio comes from an Ogg Opus file (RFC 7845): its packets after the two header packets,
//! each one 20 ms frame, which is what the client sends every 20 ms.

use crate::media::vp9::LayerSize;

/// Largest IVF file read: a clip is a test pattern, not a film.
pub const MAX_CLIP_BYTES: usize = 64 * 1024 * 1024;
/// Largest single frame.
pub const MAX_CLIP_FRAME_BYTES: usize = 1024 * 1024;
/// Most frames in one clip.
pub const MAX_CLIP_FRAMES: usize = 100_000;

const FILE_HEADER_LEN: usize = 32;
const FRAME_HEADER_LEN: usize = 12;

/// One frame of a clip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipFrame {
    /// The VP9 frame (or superframe) as the encoder wrote it.
    pub data: Vec<u8>,
    /// Whether it starts with a VP9 keyframe.
    pub keyframe: bool,
}

/// A VP9 clip read from an IVF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoClip {
    /// The size the IVF header gives.
    pub size: LayerSize,
    /// Pictures per second, from the IVF time base (1 to 120).
    pub fps: u32,
    /// The frames, the first a keyframe.
    pub frames: Vec<ClipFrame>,
}

/// Why bytes are not a clip this client can send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClipError {
    /// Larger than [`MAX_CLIP_BYTES`].
    #[error("the clip is {0} bytes; at most {MAX_CLIP_BYTES} are read")]
    TooLarge(usize),
    /// Not an IVF file.
    #[error("not an IVF file (it does not start with DKIF and a 32-byte header)")]
    NotIvf,
    /// Another codec than VP9.
    #[error("the IVF codec is {0:?}; only VP90 (VP9) is sent")]
    Codec(String),
    /// Width, height or time base is zero or out of range.
    #[error("the IVF header is unusable: {0}")]
    Header(&'static str),
    /// A frame header or frame runs past the end of the file.
    #[error("frame {index} is truncated")]
    Truncated {
        /// Its position, from 0.
        index: usize,
    },
    /// A frame is empty, over [`MAX_CLIP_FRAME_BYTES`], or there are too many.
    #[error("frame {index} is {len} bytes; frames are 1 to {MAX_CLIP_FRAME_BYTES} bytes, at most {MAX_CLIP_FRAMES} of them")]
    FrameSize {
        /// Its position, from 0.
        index: usize,
        /// Its length.
        len: usize,
    },
    /// The clip has no frames.
    #[error("the clip has no frames")]
    Empty,
    /// The first frame is not a VP9 keyframe, so no decoder could start with it.
    #[error("the clip's first frame is not a VP9 keyframe")]
    NoKeyframe,
}

impl VideoClip {
    /// Reads and checks a whole IVF file.
    pub fn parse(bytes: &[u8]) -> Result<VideoClip, ClipError> {
        if bytes.len() > MAX_CLIP_BYTES {
            return Err(ClipError::TooLarge(bytes.len()));
        }
        let header = bytes.get(..FILE_HEADER_LEN).ok_or(ClipError::NotIvf)?;
        let le16 = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]);
        let le32 = |at: usize| {
            u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
        };
        if &header[..4] != b"DKIF" || usize::from(le16(6)) != FILE_HEADER_LEN {
            return Err(ClipError::NotIvf);
        }
        if &header[8..12] != b"VP90" {
            return Err(ClipError::Codec(
                String::from_utf8_lossy(&header[8..12]).into_owned(),
            ));
        }
        let size = LayerSize {
            width: le16(12),
            height: le16(14),
        };
        if size.width == 0 || size.height == 0 {
            return Err(ClipError::Header("zero width or height"));
        }
        // The time base is rate / scale ticks per second with one frame per tick.
        let (rate, scale) = (le32(16), le32(20));
        if rate == 0 || scale == 0 {
            return Err(ClipError::Header("zero time base"));
        }
        let fps = (rate + scale / 2) / scale;
        if !(1..=120).contains(&fps) {
            return Err(ClipError::Header("frame rate outside 1 to 120"));
        }
        let mut frames = Vec::new();
        let mut rest = &bytes[FILE_HEADER_LEN..];
        while !rest.is_empty() {
            let index = frames.len();
            let frame_header = rest
                .get(..FRAME_HEADER_LEN)
                .ok_or(ClipError::Truncated { index })?;
            let len = u32::from_le_bytes([
                frame_header[0],
                frame_header[1],
                frame_header[2],
                frame_header[3],
            ]) as usize;
            if len == 0 || len > MAX_CLIP_FRAME_BYTES || index >= MAX_CLIP_FRAMES {
                return Err(ClipError::FrameSize { index, len });
            }
            let data = rest
                .get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + len)
                .ok_or(ClipError::Truncated { index })?;
            frames.push(ClipFrame {
                data: data.to_vec(),
                keyframe: is_keyframe(data),
            });
            rest = &rest[FRAME_HEADER_LEN + len..];
        }
        match frames.first() {
            None => Err(ClipError::Empty),
            Some(first) if !first.keyframe => Err(ClipError::NoKeyframe),
            Some(_) => Ok(VideoClip { size, fps, frames }),
        }
    }
}

/// Whether a VP9 frame (or a superframe, whose first frame comes first) is a keyframe: the
/// uncompressed header (VP9 bitstream spec, section 6.2) starts with frame_marker `10`,
/// two profile bits, a reserved zero bit in profile 3, show_existing_frame, then frame_type,
/// which is 0 for a keyframe.
pub fn is_keyframe(frame: &[u8]) -> bool {
    let Some(&first) = frame.first() else {
        return false;
    };
    if first >> 6 != 0b10 {
        return false;
    }
    let profile = ((first >> 5) & 1) | (((first >> 4) & 1) << 1);
    // Bits after the profile, most significant first.
    let (show_existing, frame_type) = if profile == 3 {
        ((first >> 2) & 1, (first >> 1) & 1)
    } else {
        ((first >> 3) & 1, (first >> 2) & 1)
    };
    show_existing == 0 && frame_type == 0
}

/// Most packets in one audio clip (about 33 minutes of 20 ms frames).
pub const MAX_AUDIO_PACKETS: usize = 100_000;
/// Largest Opus packet (RFC 6716 section 3.4: at most 1275 bytes per frame).
const MAX_OPUS_PACKET: usize = 1275;
const OGG_PAGE_HEADER_LEN: usize = 27;

/// An Opus clip read from an Ogg file: 20 ms packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioClip {
    /// The Opus packets, in order.
    pub packets: Vec<Vec<u8>>,
}

/// Why bytes are not an audio clip this client can send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AudioClipError {
    /// Larger than [`MAX_CLIP_BYTES`].
    #[error("the clip is {0} bytes; at most {MAX_CLIP_BYTES} are read")]
    TooLarge(usize),
    /// An Ogg page is malformed or cut short.
    #[error("Ogg page at byte {offset} is malformed or cut short")]
    Page {
        /// Where the page starts.
        offset: usize,
    },
    /// The first packet is not an Opus identification header.
    #[error("not an Ogg Opus file (no OpusHead)")]
    NotOpus,
    /// A packet is empty, too long, or there are too many.
    #[error("audio packet {index} is {len} bytes; packets are 1 to {MAX_OPUS_PACKET} bytes, at most {MAX_AUDIO_PACKETS} of them")]
    PacketSize {
        /// Its position among the audio packets, from 0.
        index: usize,
        /// Its length.
        len: usize,
    },
    /// A packet is not one 20 ms frame.
    #[error(
        "audio packet {index} is not a single 20 ms Opus frame (encode with -frame_duration 20)"
    )]
    FrameDuration {
        /// Its position among the audio packets, from 0.
        index: usize,
    },
    /// No audio packets.
    #[error("the clip has no audio packets")]
    Empty,
}

impl AudioClip {
    /// Reads and checks a whole Ogg Opus file (one logical stream).
    pub fn parse(bytes: &[u8]) -> Result<AudioClip, AudioClipError> {
        if bytes.len() > MAX_CLIP_BYTES {
            return Err(AudioClipError::TooLarge(bytes.len()));
        }
        let mut packets = Vec::new();
        let mut partial: Vec<u8> = Vec::new();
        let mut offset = 0;
        while offset < bytes.len() {
            let bad = AudioClipError::Page { offset };
            let header = bytes
                .get(offset..offset + OGG_PAGE_HEADER_LEN)
                .ok_or(bad.clone())?;
            if &header[..4] != b"OggS" || header[4] != 0 {
                return Err(bad);
            }
            let segments = usize::from(header[26]);
            let table_end = offset + OGG_PAGE_HEADER_LEN + segments;
            let table = bytes
                .get(offset + OGG_PAGE_HEADER_LEN..table_end)
                .ok_or(bad.clone())?;
            let mut at = table_end;
            for &lacing in table {
                let len = usize::from(lacing);
                let segment = bytes.get(at..at + len).ok_or(bad.clone())?;
                partial.extend_from_slice(segment);
                at += len;
                // A lacing value under 255 ends a packet (RFC 3533 section 6).
                if lacing < 255 {
                    packets.push(std::mem::take(&mut partial));
                }
                if partial.len() > 64 * 1024 || packets.len() > MAX_AUDIO_PACKETS + 2 {
                    return Err(AudioClipError::PacketSize {
                        index: packets.len().saturating_sub(2),
                        len: partial.len(),
                    });
                }
            }
            offset = at;
        }
        let mut packets = packets.into_iter();
        if !packets
            .next()
            .is_some_and(|head| head.starts_with(b"OpusHead"))
        {
            return Err(AudioClipError::NotOpus);
        }
        // The comment header (OpusTags) is not sent.
        packets.next();
        let packets: Vec<Vec<u8>> = packets.collect();
        for (index, packet) in packets.iter().enumerate() {
            if packet.is_empty() || packet.len() > MAX_OPUS_PACKET {
                return Err(AudioClipError::PacketSize {
                    index,
                    len: packet.len(),
                });
            }
            if !is_single_20ms_frame(packet[0]) {
                return Err(AudioClipError::FrameDuration { index });
            }
        }
        if packets.is_empty() {
            return Err(AudioClipError::Empty);
        }
        Ok(AudioClip { packets })
    }
}

/// Whether an Opus TOC byte (RFC 6716 section 3.1) says one frame of 20 ms: frame count code
/// 0, and a configuration whose frame size is 20 ms.
fn is_single_20ms_frame(toc: u8) -> bool {
    let config = toc >> 3;
    let single = toc & 0b11 == 0;
    let twenty = match config {
        // SILK: 10, 20, 40, 60 ms per bandwidth.
        0..=11 => config % 4 == 1,
        // Hybrid: 10, 20 ms.
        12..=15 => config % 2 == 1,
        // CELT: 2.5, 5, 10, 20 ms.
        _ => config % 4 == 3,
    };
    single && twenty
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ivf(fourcc: &[u8; 4], frames: &[&[u8]]) -> Vec<u8> {
        let mut out = b"DKIF".to_vec();
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&32u16.to_le_bytes());
        out.extend_from_slice(fourcc);
        out.extend_from_slice(&320u16.to_le_bytes());
        out.extend_from_slice(&180u16.to_le_bytes());
        out.extend_from_slice(&30u32.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&(frames.len() as u32).to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        for (pts, frame) in frames.iter().enumerate() {
            out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
            out.extend_from_slice(&(pts as u64).to_le_bytes());
            out.extend_from_slice(frame);
        }
        out
    }

    /// Profile 0: `10 0 0 0 0 ..` is a keyframe, `10 0 0 0 1 ..` an inter frame.
    const KEY: &[u8] = &[0b1000_0010, 0x49, 0x83];
    const INTER: &[u8] = &[0b1000_0110, 0x00];

    #[test]
    fn reads_frames_rate_and_keyframes() {
        let clip = VideoClip::parse(&ivf(b"VP90", &[KEY, INTER, INTER])).unwrap();
        assert_eq!(
            clip.size,
            LayerSize {
                width: 320,
                height: 180
            }
        );
        assert_eq!(clip.fps, 30);
        let keys: Vec<bool> = clip.frames.iter().map(|f| f.keyframe).collect();
        assert_eq!(keys, [true, false, false]);
        assert_eq!(clip.frames[1].data, INTER);
    }

    #[test]
    fn the_fixture_clip_parses() {
        let bytes = include_bytes!("../../tests/fixtures/clip-320x180.ivf");
        let clip = VideoClip::parse(bytes).unwrap();
        assert_eq!(clip.frames.len(), 60);
        assert_eq!(clip.fps, 30);
        // Encoded with a keyframe every 30 frames.
        let keys: Vec<usize> = (0..60).filter(|i| clip.frames[*i].keyframe).collect();
        assert_eq!(keys, [0, 30]);
    }

    #[test]
    fn the_fixture_tone_parses_as_20_ms_opus_frames() {
        let bytes = include_bytes!("../../tests/fixtures/tone-440hz.opus");
        let clip = AudioClip::parse(bytes).unwrap();
        // Two seconds of 20 ms frames (the encoder may add one for its look-ahead).
        assert!(
            (100..=101).contains(&clip.packets.len()),
            "{}",
            clip.packets.len()
        );
        assert!(clip.packets.iter().all(|p| is_single_20ms_frame(p[0])));
    }

    fn ogg_page(packets: &[&[u8]]) -> Vec<u8> {
        let mut table = Vec::new();
        let mut body = Vec::new();
        for packet in packets {
            let mut left = packet.len();
            loop {
                let lacing = left.min(255);
                table.push(lacing as u8);
                left -= lacing;
                if lacing < 255 {
                    break;
                }
            }
            body.extend_from_slice(packet);
        }
        let mut page = b"OggS".to_vec();
        page.extend_from_slice(&[0; 22]);
        page.push(table.len() as u8);
        page.extend_from_slice(&table);
        page.extend_from_slice(&body);
        page
    }

    #[test]
    fn audio_packets_follow_the_two_headers_and_must_be_20_ms() {
        // TOC 0xfc: CELT fullband 20 ms (config 31), one frame. 0x00: SILK narrowband 10 ms
        // (config 0), refused; 0xfd: the same CELT config, two frames, refused.
        let long = vec![0xfc; 300];
        let bytes = ogg_page(&[b"OpusHead\x01", b"OpusTags", &[0xfc, 1, 2], &long]);
        let clip = AudioClip::parse(&bytes).unwrap();
        assert_eq!(clip.packets, [vec![0xfc, 1, 2], long]);
        assert_eq!(
            AudioClip::parse(&ogg_page(&[b"OpusHead", b"OpusTags", &[0x00, 1]])),
            Err(AudioClipError::FrameDuration { index: 0 })
        );
        assert_eq!(
            AudioClip::parse(&ogg_page(&[b"OpusHead", b"OpusTags", &[0xfd, 1]])),
            Err(AudioClipError::FrameDuration { index: 0 }),
            "two frames in one packet"
        );
        assert_eq!(
            AudioClip::parse(&ogg_page(&[b"Vorbis..", b"x", &[0xfc]])),
            Err(AudioClipError::NotOpus)
        );
        assert_eq!(
            AudioClip::parse(&ogg_page(&[b"OpusHead", b"OpusTags"])),
            Err(AudioClipError::Empty)
        );
        let mut cut = ogg_page(&[b"OpusHead", b"OpusTags", &[0xfc, 1, 2]]);
        cut.pop();
        assert_eq!(
            AudioClip::parse(&cut),
            Err(AudioClipError::Page { offset: 0 })
        );
        assert_eq!(
            AudioClip::parse(b"RIFF....WAVE"),
            Err(AudioClipError::Page { offset: 0 })
        );
    }

    #[test]
    fn keyframe_bits_follow_the_profile() {
        assert!(is_keyframe(KEY));
        assert!(!is_keyframe(INTER));
        // show_existing_frame set: not a keyframe whatever follows.
        assert!(!is_keyframe(&[0b1000_1000]));
        // Profile 3 has a reserved bit before show_existing_frame.
        assert!(is_keyframe(&[0b1011_0000]));
        assert!(!is_keyframe(&[0b1011_0010]));
        // Not a frame marker.
        assert!(!is_keyframe(&[0b0100_0000]));
        assert!(!is_keyframe(&[]));
    }

    #[test]
    fn refuses_what_it_cannot_send_naming_the_problem() {
        assert_eq!(VideoClip::parse(b"RIFF"), Err(ClipError::NotIvf));
        assert_eq!(
            VideoClip::parse(&ivf(b"AV01", &[KEY])),
            Err(ClipError::Codec("AV01".into()))
        );
        assert_eq!(VideoClip::parse(&ivf(b"VP90", &[])), Err(ClipError::Empty));
        assert_eq!(
            VideoClip::parse(&ivf(b"VP90", &[INTER, KEY])),
            Err(ClipError::NoKeyframe)
        );
        let mut truncated = ivf(b"VP90", &[KEY, INTER]);
        truncated.pop();
        assert_eq!(
            VideoClip::parse(&truncated),
            Err(ClipError::Truncated { index: 1 })
        );
        let mut huge = ivf(b"VP90", &[KEY]);
        huge[32..36].copy_from_slice(&(MAX_CLIP_FRAME_BYTES as u32 + 1).to_le_bytes());
        assert!(matches!(
            VideoClip::parse(&huge),
            Err(ClipError::FrameSize { index: 0, .. })
        ));
        let mut still = ivf(b"VP90", &[KEY]);
        still[16..20].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(
            VideoClip::parse(&still),
            Err(ClipError::Header("zero time base"))
        );
    }
}
