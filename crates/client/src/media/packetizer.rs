//! Cuts pictures into RTP payloads: audio frames whole, video layer frames
//! into packets that each start with a VP9 payload descriptor.

use crate::media::generator::Picture;
use crate::media::vp9::Vp9Descriptor;
use proto::signaling::MediaSource;

/// Largest RTP payload this client sends: leaves room in a 1200-byte
/// datagram for the RTP header, extensions, SRTP tag and RTX prefix.
pub const MAX_RTP_PAYLOAD: usize = 1100;

/// One RTP payload with its marker bit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingPacket {
    /// Descriptor (video) and a slice of the frame payload.
    pub payload: Vec<u8>,
    /// Set on the last packet of a video picture, and on audio frames.
    pub marker: bool,
}

/// The packets of one picture, in send order.
pub fn packetize(picture: &Picture) -> Vec<OutgoingPacket> {
    if picture.source == MediaSource::Audio {
        return picture
            .frames
            .iter()
            .map(|frame| OutgoingPacket {
                payload: frame.payload.clone(),
                marker: false,
            })
            .collect();
    }
    let top = picture.frames.len().saturating_sub(1);
    let mut packets = Vec::new();
    for (index, frame) in picture.frames.iter().enumerate() {
        let keyframe = frame.header.keyframe;
        let spatial_id = frame.header.spatial_id;
        let mut template = Vp9Descriptor {
            inter_picture: !keyframe,
            start_of_frame: true,
            end_of_frame: false,
            // L3T3_KEY: only keyframes predict across spatial layers.
            not_reference_for_upper: index == top || !keyframe,
            picture_id: picture.picture_id,
            temporal_id: frame.header.temporal_id,
            switching_up: frame.header.temporal_id > 0,
            spatial_id,
            inter_layer: keyframe && spatial_id > 0,
            tl0_pic_idx: picture.tl0_pic_idx,
            scalability: if spatial_id == 0 {
                picture.scalability.clone()
            } else {
                None
            },
        };
        let mut rest: &[u8] = &frame.payload;
        loop {
            let mut payload = Vec::with_capacity(MAX_RTP_PAYLOAD);
            template.write(&mut payload);
            let room = MAX_RTP_PAYLOAD.saturating_sub(payload.len()).max(1);
            let take = room.min(rest.len());
            let last_chunk = take == rest.len();
            if last_chunk {
                // Rewrite the descriptor with E set, now that we know.
                payload.clear();
                template.end_of_frame = true;
                template.write(&mut payload);
            }
            payload.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            packets.push(OutgoingPacket {
                payload,
                marker: last_chunk && index == top,
            });
            if last_chunk {
                break;
            }
            template.start_of_frame = false;
            template.scalability = None;
        }
    }
    packets
}

#[cfg(test)]
mod tests {
    use std::time::{Instant, SystemTime};

    use super::*;
    use crate::media::generator::{FrameGenerator, VideoConfig};

    #[test]
    fn layer_frames_are_bracketed_by_b_and_e_and_the_picture_ends_with_the_marker() {
        let t0 = Instant::now();
        let mut video = FrameGenerator::video(
            MediaSource::Video,
            VideoConfig::camera(),
            1,
            t0,
            SystemTime::now(),
        );
        let keyframe = video.poll(t0).unwrap();
        let packets = packetize(&keyframe);
        assert!(packets.iter().all(|p| p.payload.len() <= MAX_RTP_PAYLOAD));
        let descriptors: Vec<Vp9Descriptor> = packets
            .iter()
            .map(|p| Vp9Descriptor::parse(&p.payload).unwrap().0)
            .collect();
        let starts = descriptors.iter().filter(|d| d.start_of_frame).count();
        let ends = descriptors.iter().filter(|d| d.end_of_frame).count();
        assert_eq!((starts, ends), (3, 3));
        assert!(descriptors[0].scalability.is_some());
        assert_eq!(
            descriptors
                .iter()
                .filter(|d| d.scalability.is_some())
                .count(),
            1
        );
        assert!(descriptors.iter().all(|d| !d.inter_picture));
        assert_eq!(packets.iter().filter(|p| p.marker).count(), 1);
        assert!(packets.last().unwrap().marker);
        // Reassembling the bodies gives back the layer frames.
        let mut frames: Vec<Vec<u8>> = Vec::new();
        for packet in &packets {
            let (d, len) = Vp9Descriptor::parse(&packet.payload).unwrap();
            if d.start_of_frame {
                frames.push(Vec::new());
            }
            frames
                .last_mut()
                .unwrap()
                .extend_from_slice(&packet.payload[len..]);
        }
        let originals: Vec<&Vec<u8>> = keyframe.frames.iter().map(|f| &f.payload).collect();
        assert_eq!(frames.iter().collect::<Vec<_>>(), originals);
    }
}
