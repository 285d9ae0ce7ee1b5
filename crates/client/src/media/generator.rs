//! Synthetic encoders: they decide when a frame is due, how big it is, which
//! layers it has and whether it is a keyframe, and build its payload
//! ([`crate::media::payload`]). Time is passed in.
//!
//! Video follows VP9 SVC L3T3_KEY: up to three spatial layers, three
//! temporal layers in the pattern T0 T2 T1 T2, spatial layers predicted from
//! the one below only on keyframes. A keyframe comes every
//! [`VideoConfig::keyframe_interval`] and when [`FrameGenerator::request_keyframe`] asks.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use proto::signaling::MediaSource;

use crate::media::clip::{AudioClip, VideoClip};
use crate::media::payload::{FrameHeader, MIN_FRAME_LEN};
use crate::media::vp9::LayerSize;

/// Opus at 48 kHz.
pub const AUDIO_CLOCK_HZ: u32 = 48_000;
/// Video RTP clock.
pub const VIDEO_CLOCK_HZ: u32 = 90_000;
/// One Opus frame.
pub const AUDIO_FRAME: Duration = Duration::from_millis(20);
/// Keyframes on request come at most this often.
const MIN_KEYFRAME_GAP: Duration = Duration::from_millis(100);
/// A caller further behind than this skips pictures instead of catching up.
const MAX_CATCH_UP: Duration = Duration::from_millis(200);
/// Temporal layer of each picture in the four-picture L3T3 cycle.
const TEMPORAL_PATTERN: [u8; 4] = [0, 2, 1, 2];

/// The synthetic microphone.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioConfig {
    /// Payload bytes per 20 ms frame (80 is Opus at 32 kbit/s).
    pub frame_bytes: u32,
    /// The RFC 6464 level, in -dBov (0 is loudest, 127 silence).
    pub level_dbov: u8,
    /// Send this recorded Opus clip, looped, instead of synthetic frames, so a real decoder
    /// plays it; `frame_bytes` then does not apply.
    pub clip: Option<Arc<AudioClip>>,
}

impl Default for AudioConfig {
    fn default() -> Self {
        AudioConfig {
            frame_bytes: 80,
            level_dbov: 30,
            clip: None,
        }
    }
}

/// One spatial layer of a synthetic video source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoLayer {
    /// Resolution announced in the scalability structure.
    pub size: LayerSize,
    /// Bits per second of this layer alone at the full frame rate.
    pub bitrate_bps: u32,
}

/// The synthetic camera or screen.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoConfig {
    /// Pictures per second.
    pub fps: u32,
    /// Spatial layers, smallest first (1 to 3).
    pub layers: Vec<VideoLayer>,
    /// Time between periodic keyframes.
    pub keyframe_interval: Duration,
    /// A keyframe's layer frames are this many times a delta frame's size.
    pub keyframe_scale: u32,
    /// Send this recorded clip, looped, instead of synthetic frames: one spatial layer of
    /// real VP9 that a browser can decode, at the clip's own rate. Receivers cannot verify
    /// its bytes as they verify synthetic frames.
    pub clip: Option<Arc<VideoClip>>,
}

impl VideoConfig {
    /// A camera: 30 fps, 180p/360p/720p at 150 + 450 + 900 kbit/s, so the
    /// top layer at the full rate costs 1.5 Mbit/s; a keyframe every 4 s.
    pub fn camera() -> Self {
        let layer = |width, height, bitrate_bps| VideoLayer {
            size: LayerSize { width, height },
            bitrate_bps,
        };
        VideoConfig {
            fps: 30,
            layers: vec![
                layer(320, 180, 150_000),
                layer(640, 360, 450_000),
                layer(1280, 720, 900_000),
            ],
            keyframe_interval: Duration::from_secs(4),
            keyframe_scale: 3,
            clip: None,
        }
    }

    /// A screen share: 5 fps, one 1080p layer at 300 kbit/s.
    pub fn screen() -> Self {
        VideoConfig {
            fps: 5,
            layers: vec![VideoLayer {
                size: LayerSize {
                    width: 1920,
                    height: 1080,
                },
                bitrate_bps: 300_000,
            }],
            keyframe_interval: Duration::from_secs(4),
            keyframe_scale: 3,
            clip: None,
        }
    }

    /// A recorded clip, looped at its own rate as one spatial layer; keyframes are the
    /// clip's own, and a keyframe request restarts it.
    pub fn clip(clip: Arc<VideoClip>) -> Self {
        VideoConfig {
            fps: clip.fps,
            layers: vec![VideoLayer {
                size: clip.size,
                bitrate_bps: 0,
            }],
            keyframe_interval: Duration::MAX,
            keyframe_scale: 1,
            clip: Some(clip),
        }
    }

    /// Scales every layer's bitrate, e.g. to the `--video-kbps` of a bot.
    pub fn with_total_bitrate(mut self, total_bps: u32) -> Self {
        let current: u64 = self.layers.iter().map(|l| u64::from(l.bitrate_bps)).sum();
        for layer in &mut self.layers {
            if let Some(scaled) =
                (u64::from(layer.bitrate_bps) * u64::from(total_bps)).checked_div(current)
            {
                layer.bitrate_bps = u32::try_from(scaled).unwrap_or(u32::MAX);
            }
        }
        self
    }
}

/// One layer frame ready for the packetizer.
#[derive(Debug, Clone)]
pub struct LayerFrame {
    /// What the payload's header says.
    pub header: FrameHeader,
    /// The frame payload (header and body).
    pub payload: Vec<u8>,
}

/// Everything captured at one instant: an audio frame, or one video picture
/// with one frame per spatial layer.
#[derive(Debug, Clone)]
pub struct Picture {
    /// Which track.
    pub source: MediaSource,
    /// RTP timestamp (wrapping, in the track's clock).
    pub rtp_time: u32,
    /// The 15-bit VP9 picture id (video).
    pub picture_id: u16,
    /// TL0PICIDX (video).
    pub tl0_pic_idx: u8,
    /// The layer frames, lowest spatial layer first.
    pub frames: Vec<LayerFrame>,
    /// Sizes for the VP9 scalability structure (video keyframes only).
    pub scalability: Option<Vec<LayerSize>>,
    /// The RFC 6464 level to send (audio).
    pub audio_level: Option<u8>,
}

impl Picture {
    /// True when this is a video keyframe (or any audio frame).
    pub fn keyframe(&self) -> bool {
        self.frames.first().is_some_and(|f| f.header.keyframe)
    }
}

/// What kind of frames a generator makes.
#[derive(Debug, Clone)]
enum Kind {
    Audio(AudioConfig),
    Video(VideoConfig),
}

/// The synthetic encoder of one source.
#[derive(Debug)]
pub struct FrameGenerator {
    source: MediaSource,
    kind: Kind,
    sender_tag: u32,
    start: Instant,
    wallclock_at_start: SystemTime,
    interval: Duration,
    pictures: u32,
    frame_seq: u32,
    tl0_pic_idx: u8,
    pattern_at: usize,
    last_keyframe: Option<Instant>,
    keyframe_wanted: bool,
    /// The next frame of a clip.
    clip_at: usize,
}

impl FrameGenerator {
    /// An audio source.
    pub fn audio(
        config: AudioConfig,
        sender_tag: u32,
        now: Instant,
        wallclock: SystemTime,
    ) -> Self {
        Self::new(
            MediaSource::Audio,
            Kind::Audio(config),
            AUDIO_FRAME,
            sender_tag,
            now,
            wallclock,
        )
    }

    /// A camera or screen source.
    pub fn video(
        source: MediaSource,
        config: VideoConfig,
        sender_tag: u32,
        now: Instant,
        wallclock: SystemTime,
    ) -> Self {
        let fps = config.fps.clamp(1, 120);
        let interval = Duration::from_secs(1) / fps;
        Self::new(
            source,
            Kind::Video(config),
            interval,
            sender_tag,
            now,
            wallclock,
        )
    }

    fn new(
        source: MediaSource,
        kind: Kind,
        interval: Duration,
        sender_tag: u32,
        now: Instant,
        wallclock: SystemTime,
    ) -> Self {
        FrameGenerator {
            source,
            kind,
            sender_tag,
            start: now,
            wallclock_at_start: wallclock,
            interval,
            pictures: 0,
            frame_seq: 0,
            tl0_pic_idx: 0,
            pattern_at: 0,
            last_keyframe: None,
            keyframe_wanted: true,
            clip_at: 0,
        }
    }

    /// Which track this generator feeds.
    pub fn source(&self) -> MediaSource {
        self.source
    }

    /// When the next picture is due.
    pub fn due(&self) -> Instant {
        self.start + self.interval * self.pictures
    }

    /// Asks for a keyframe (a PLI or FIR arrived); honoured at the next
    /// picture, but not more than every 100 ms.
    pub fn request_keyframe(&mut self) {
        self.keyframe_wanted = true;
    }

    /// The next picture, if it is due at `now`. A caller that fell behind
    /// gets the missed pictures one by one, each stamped with its own time.
    pub fn poll(&mut self, now: Instant) -> Option<Picture> {
        let mut due = self.due();
        if now < due {
            return None;
        }
        let behind = now.saturating_duration_since(due);
        if behind > MAX_CATCH_UP {
            // A stalled caller skips the pictures it missed rather than
            // sending a burst of stale ones.
            let skipped = behind.as_nanos() / self.interval.as_nanos().max(1);
            self.pictures = self
                .pictures
                .wrapping_add(u32::try_from(skipped).unwrap_or(u32::MAX));
            due = self.due();
        }
        let offset = due.saturating_duration_since(self.start);
        let sent_at = self.wallclock_at_start + offset;
        let sent_at_micros = sent_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        let picture = self.pictures;
        self.pictures = self.pictures.wrapping_add(1);
        match self.kind.clone() {
            Kind::Audio(config) => {
                let rtp_time = media_time(picture, AUDIO_CLOCK_HZ, self.interval);
                let header = FrameHeader {
                    sender_tag: self.sender_tag,
                    source: self.source,
                    spatial_id: 0,
                    temporal_id: 0,
                    keyframe: true,
                    frame_seq: self.next_frame_seq(),
                    picture,
                    sent_at_micros,
                    len: config.frame_bytes.max(MIN_FRAME_LEN as u32),
                };
                let payload = match &config.clip {
                    Some(clip) => {
                        let packets = clip.packets.len().max(1);
                        let packet = clip.packets.get(self.clip_at % packets);
                        self.clip_at = (self.clip_at + 1) % packets;
                        packet.cloned().unwrap_or_default()
                    }
                    None => header.build(),
                };
                let header = FrameHeader {
                    len: u32::try_from(payload.len()).unwrap_or(u32::MAX),
                    ..header
                };
                let level = config.level_dbov.min(127);
                Some(Picture {
                    source: self.source,
                    rtp_time,
                    picture_id: 0,
                    tl0_pic_idx: 0,
                    frames: vec![LayerFrame { header, payload }],
                    scalability: None,
                    audio_level: Some(level),
                })
            }
            Kind::Video(VideoConfig {
                clip: Some(clip), ..
            }) => self.clip_picture(&clip, picture, due, sent_at_micros),
            Kind::Video(config) => {
                let keyframe = self.keyframe_due(due, &config);
                if keyframe {
                    self.last_keyframe = Some(due);
                    self.keyframe_wanted = false;
                    self.pattern_at = 0;
                }
                let temporal_id = TEMPORAL_PATTERN[self.pattern_at % TEMPORAL_PATTERN.len()];
                self.pattern_at = (self.pattern_at + 1) % TEMPORAL_PATTERN.len();
                if temporal_id == 0 {
                    self.tl0_pic_idx = self.tl0_pic_idx.wrapping_add(1);
                }
                let fps = config.fps.clamp(1, 120);
                let frames = config
                    .layers
                    .iter()
                    .take(crate::media::vp9::MAX_SPATIAL_LAYERS)
                    .enumerate()
                    .map(|(spatial_id, layer)| {
                        let mut len = layer.bitrate_bps / 8 / fps;
                        if keyframe {
                            len = len.saturating_mul(config.keyframe_scale.max(1));
                        }
                        let header = FrameHeader {
                            sender_tag: self.sender_tag,
                            source: self.source,
                            spatial_id: spatial_id as u8,
                            temporal_id,
                            keyframe,
                            frame_seq: self.next_frame_seq(),
                            picture,
                            sent_at_micros,
                            len,
                        };
                        LayerFrame {
                            header,
                            payload: header.build(),
                        }
                    })
                    .collect();
                Some(Picture {
                    source: self.source,
                    rtp_time: media_time(picture, VIDEO_CLOCK_HZ, self.interval),
                    picture_id: (picture & 0x7fff) as u16,
                    tl0_pic_idx: self.tl0_pic_idx,
                    frames,
                    scalability: keyframe.then(|| config.layers.iter().map(|l| l.size).collect()),
                    audio_level: None,
                })
            }
        }
    }

    /// The clip's next frame as a one-layer picture; a pending keyframe request restarts
    /// the clip at its first frame, a keyframe.
    fn clip_picture(
        &mut self,
        clip: &VideoClip,
        picture: u32,
        now: Instant,
        sent_at_micros: u64,
    ) -> Option<Picture> {
        let restart = self.keyframe_wanted
            && self
                .last_keyframe
                .is_none_or(|last| now.saturating_duration_since(last) >= MIN_KEYFRAME_GAP);
        if restart || self.clip_at >= clip.frames.len() {
            self.clip_at = 0;
        }
        // Empty only if built by hand: `VideoClip::parse` refuses an empty clip.
        let frame = clip.frames.get(self.clip_at)?;
        self.clip_at += 1;
        if frame.keyframe {
            self.last_keyframe = Some(now);
            self.keyframe_wanted = false;
        }
        self.tl0_pic_idx = self.tl0_pic_idx.wrapping_add(1);
        let header = FrameHeader {
            sender_tag: self.sender_tag,
            source: self.source,
            spatial_id: 0,
            temporal_id: 0,
            keyframe: frame.keyframe,
            frame_seq: self.next_frame_seq(),
            picture,
            sent_at_micros,
            len: u32::try_from(frame.data.len()).unwrap_or(u32::MAX),
        };
        Some(Picture {
            source: self.source,
            rtp_time: media_time(picture, VIDEO_CLOCK_HZ, self.interval),
            picture_id: (picture & 0x7fff) as u16,
            tl0_pic_idx: self.tl0_pic_idx,
            frames: vec![LayerFrame {
                header,
                payload: frame.data.clone(),
            }],
            scalability: frame.keyframe.then(|| vec![clip.size]),
            audio_level: None,
        })
    }

    fn keyframe_due(&self, now: Instant, config: &VideoConfig) -> bool {
        match self.last_keyframe {
            None => true,
            Some(last) => {
                let since = now.saturating_duration_since(last);
                since >= config.keyframe_interval
                    || (self.keyframe_wanted && since >= MIN_KEYFRAME_GAP)
            }
        }
    }

    fn next_frame_seq(&mut self) -> u32 {
        let seq = self.frame_seq;
        self.frame_seq = self.frame_seq.wrapping_add(1);
        seq
    }
}

/// The RTP timestamp of picture number `picture` at one picture per
/// `interval`, in a clock of `hz`, wrapping like an RTP timestamp. Computed
/// from the picture rate, not the rounded interval, so 30 fps is exactly
/// 3000 ticks of 90 kHz per picture.
fn media_time(picture: u32, hz: u32, interval: Duration) -> u32 {
    let per_second = (1_000_000_000 / interval.as_nanos().max(1)).max(1);
    let ticks = u128::from(picture) * u128::from(hz) / per_second;
    (ticks % (1u128 << 32)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::payload::verify;

    #[test]
    fn audio_comes_every_20_ms_and_verifies() {
        let t0 = Instant::now();
        let mut audio = FrameGenerator::audio(AudioConfig::default(), 7, t0, SystemTime::now());
        let first = audio.poll(t0).unwrap();
        assert!(audio.poll(t0).is_none());
        assert_eq!(audio.due(), t0 + AUDIO_FRAME);
        let second = audio.poll(t0 + AUDIO_FRAME).unwrap();
        assert_eq!(second.rtp_time.wrapping_sub(first.rtp_time), 960);
        for picture in [first, second] {
            assert_eq!(picture.frames.len(), 1);
            assert_eq!(verify(&picture.frames[0].payload).unwrap().sender_tag, 7);
        }
    }

    #[test]
    fn a_clip_loops_as_one_layer_and_restarts_on_a_keyframe_request() {
        let clip = crate::media::clip::VideoClip::parse(include_bytes!(
            "../../tests/fixtures/clip-320x180.ivf"
        ))
        .unwrap();
        let frames = clip.frames.len();
        let clip = Arc::new(clip);
        let t0 = Instant::now();
        let config = VideoConfig::clip(clip.clone());
        let mut video = FrameGenerator::video(MediaSource::Video, config, 9, t0, SystemTime::now());
        let mut now = t0;
        let mut sent = Vec::new();
        // Once round and five frames into the second.
        for _ in 0..frames + 5 {
            let picture = video.poll(now).unwrap();
            assert_eq!(picture.frames.len(), 1);
            assert_eq!(picture.scalability.is_some(), picture.keyframe());
            sent.push(picture);
            now = video.due();
        }
        for (at, picture) in sent.iter().enumerate() {
            assert_eq!(picture.frames[0].payload, clip.frames[at % frames].data);
        }
        assert_eq!(
            sent[1].rtp_time.wrapping_sub(sent[0].rtp_time),
            3000,
            "30 fps in a 90 kHz clock"
        );
        video.request_keyframe();
        let restarted = video.poll(video.due()).unwrap();
        assert!(restarted.keyframe());
        assert_eq!(restarted.frames[0].payload, clip.frames[0].data);
    }

    #[test]
    fn an_audio_clip_loops_one_packet_every_20_ms() {
        let clip = Arc::new(
            crate::media::clip::AudioClip::parse(include_bytes!(
                "../../tests/fixtures/tone-440hz.opus"
            ))
            .unwrap(),
        );
        let config = AudioConfig {
            clip: Some(clip.clone()),
            ..AudioConfig::default()
        };
        let t0 = Instant::now();
        let mut audio = FrameGenerator::audio(config, 7, t0, SystemTime::now());
        let packets = clip.packets.len();
        for at in 0..packets + 3 {
            let picture = audio.poll(t0 + AUDIO_FRAME * at as u32).unwrap();
            assert_eq!(picture.frames[0].payload, clip.packets[at % packets]);
            assert_eq!(picture.rtp_time, 960 * at as u32);
        }
    }

    #[test]
    fn video_follows_l3t3_key_and_keyframes_on_request() {
        let t0 = Instant::now();
        let config = VideoConfig::camera();
        let mut video = FrameGenerator::video(MediaSource::Video, config, 9, t0, SystemTime::now());
        let mut now = t0;
        let mut pictures = Vec::new();
        for _ in 0..8 {
            pictures.push(video.poll(now).unwrap());
            now = video.due();
        }
        assert!(pictures[0].keyframe());
        assert_eq!(pictures[0].scalability.as_ref().map(Vec::len), Some(3));
        assert!(pictures[1..]
            .iter()
            .all(|p| !p.keyframe() && p.scalability.is_none()));
        let tids: Vec<u8> = pictures
            .iter()
            .map(|p| p.frames[0].header.temporal_id)
            .collect();
        assert_eq!(tids, [0, 2, 1, 2, 0, 2, 1, 2]);
        // Spatial layers, growing in size; frame sequence numbers count every layer frame.
        let p = &pictures[1];
        assert_eq!(p.frames.len(), 3);
        assert!(p.frames[0].payload.len() < p.frames[2].payload.len());
        assert_eq!(p.frames[2].header.frame_seq, 5);
        assert_eq!(
            pictures[3].rtp_time.wrapping_sub(pictures[0].rtp_time),
            9000
        );

        video.request_keyframe();
        let next = video.poll(now).unwrap();
        assert!(next.keyframe());
        assert_eq!(next.frames[0].header.temporal_id, 0);
    }

    #[test]
    fn total_bitrate_scales_the_layers() {
        let config = VideoConfig::camera().with_total_bitrate(3_000_000);
        let bitrates: Vec<u32> = config.layers.iter().map(|l| l.bitrate_bps).collect();
        assert_eq!(bitrates, [300_000, 900_000, 1_800_000]);
    }
}
