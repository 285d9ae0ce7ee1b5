//! One participant's media session: a str0m [`Rtc`] in RTP mode, the
//! synthetic encoders that feed it, and the receivers that verify what
//! comes back. Sans-IO: datagrams and time go in, datagrams and a timeout
//! come out; [`crate::Participant`] is the tokio shell around it.
//!
//! Negotiation follows the signaling protocol: the client offers its send
//! tracks ([`MediaSession::create_offer`]), one `sendonly` m-line per
//! source whose msid track id names the source (`audio`, `video`,
//! `screen`); the SFU's offers add the tracks the client receives
//! ([`MediaSession::accept_offer`]), and `media_tracks` says whose they are
//! ([`MediaSession::set_tracks`]).
//!
//! End-to-end encryption happens here, not in the shell: every frame payload (an Opus frame
//! whole, each VP9 spatial-layer frame on its own so the SFU can still drop layers) goes
//! through the caller's [`FrameCipher`] before packetization, so the VP9 payload descriptor
//! stays clear; every reassembled frame is decrypted before it is verified. A frame the
//! cipher will not encrypt (no epoch keys yet) is not sent at all.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use proto::ids::ParticipantId;
use proto::signaling::{MediaSource, TrackInfo};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::{Codec, FormatParams};
use str0m::media::{Direction, Frequency, KeyframeRequestKind, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, SeqNo, Ssrc};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};

use crate::media::cipher::{CipherError, FrameCipher};
use crate::media::generator::{AudioConfig, FrameGenerator, Picture, VideoConfig};
use crate::media::packetizer::packetize;
use crate::media::payload::sender_tag;
use crate::media::reassembly::{Reassembled, Reassembler};
use crate::media::stats::{SourceStats, WallClock};

/// VP9 profile 0 and its RTX, the only video format this client offers.
const PT_VP9: u8 = 98;
/// See [`PT_VP9`].
const PT_VP9_RTX: u8 = 99;
/// A receiver asks for a keyframe at most this often per stream.
const KEYFRAME_REQUEST_GAP: Duration = Duration::from_millis(300);
/// Frames held for a `mid` nobody has been named for yet.
const MAX_UNATTRIBUTED: usize = 2_000;
/// The msid stream id of every track this client sends.
const STREAM_ID: &str = "conclave";

/// What a participant publishes and how.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaConfig {
    /// The sources to send, each on its own m-line.
    pub publish: Vec<MediaSource>,
    /// The microphone.
    pub audio: AudioConfig,
    /// The camera.
    pub video: VideoConfig,
    /// The screen share.
    pub screen: VideoConfig,
    /// Keep up to this many received frames as they arrived (SFrame ciphertext) in the
    /// report, so a test can hand them to another participant's keys.
    pub capture_frames: usize,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            publish: vec![MediaSource::Audio, MediaSource::Video],
            audio: AudioConfig::default(),
            video: VideoConfig::camera(),
            screen: VideoConfig::screen(),
            capture_frames: 0,
        }
    }
}

/// Why the media session refused something.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The SDP did not parse.
    #[error("unparseable SDP: {0}")]
    Sdp(String),
    /// str0m refused the offer, answer or input.
    #[error("media session error: {0}")]
    Rtc(#[from] str0m::RtcError),
    /// An answer came with no offer outstanding.
    #[error("an SDP answer arrived but no offer is outstanding")]
    UnexpectedAnswer,
    /// The local address cannot be a host candidate.
    #[error("the local address is not usable as an ICE candidate: {0}")]
    Candidate(String),
}

/// What the shell must do next.
#[derive(Debug)]
pub enum Poll {
    /// Send this datagram.
    Transmit {
        /// Where to.
        destination: SocketAddr,
        /// The bytes.
        contents: Vec<u8>,
    },
    /// Nothing more until this time (or a datagram).
    Timeout(Instant),
}

/// Everything received from one peer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeerReport {
    /// Per source.
    pub sources: BTreeMap<MediaSource, SourceStats>,
    /// Frames that decrypted with this peer's key.
    pub decrypted_frames: u64,
    /// Frames on this peer's tracks that did not decrypt, or decrypted under another
    /// member's key.
    pub undecryptable_frames: u64,
    /// Why the last undecryptable frame was refused.
    pub last_undecryptable: Option<String>,
    /// Frames under an epoch this member has no keys for, or before it has any keys,
    /// received before any frame of this peer decrypted: the peer was still sending under the
    /// epoch before this member joined (it had not yet processed the commit that added us),
    /// or the SFU forwarded them while our Welcome was on its way. Expected at a join; not
    /// counted as undecryptable.
    pub frames_before_shared_epoch: u64,
}

/// A snapshot of what the session sent and received.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaReport {
    /// When ICE and DTLS were up.
    pub connected_at: Option<Instant>,
    /// Pictures (audio frames or video pictures) sent, per source.
    pub sent_pictures: BTreeMap<MediaSource, u64>,
    /// Keyframes sent, per source.
    pub sent_keyframes: BTreeMap<MediaSource, u64>,
    /// RTP packets written, all sources.
    pub sent_packets: u64,
    /// RTP packets received (repairs counted once, padding not at all).
    pub received_packets: u64,
    /// Keyframe requests (PLI/FIR) received.
    pub keyframe_requests_received: u64,
    /// Keyframe requests sent.
    pub keyframe_requests_sent: u64,
    /// Per peer.
    pub peers: BTreeMap<ParticipantId, PeerReport>,
    /// RTP packets on a stream no `media_tracks` entry explained.
    pub unattributed_frames: u64,
    /// Pictures not sent because the cipher had no key for them (before the first epoch).
    pub unencrypted_held_back: u64,
    /// The most recent received frames as they arrived, up to
    /// [`MediaConfig::capture_frames`].
    pub captured: VecDeque<Vec<u8>>,
}

struct SendTrack {
    source: MediaSource,
    mid: Mid,
    generator: FrameGenerator,
    seq: u64,
    pictures: u64,
    keyframes: u64,
}

struct ReceiveStream {
    mid: Mid,
    reassembler: Reassembler,
    video: bool,
    lost_reported: u64,
    last_keyframe_request: Option<Instant>,
    keyframe_seen: bool,
}

/// One participant's media: see the module docs.
pub struct MediaSession {
    rtc: Rtc,
    local: SocketAddr,
    config: MediaConfig,
    sender_tag: u32,
    clock: WallClock,
    send: Vec<SendTrack>,
    pending_offer: Option<SdpPendingOffer>,
    tracks: HashMap<Mid, TrackInfo>,
    receive: HashMap<Ssrc, ReceiveStream>,
    unattributed: HashMap<Mid, Vec<Opened>>,
    report: MediaReport,
    random: u64,
    scratch: Vec<Reassembled>,
    opened: Vec<Opened>,
    closed: bool,
    outgoing: VecDeque<(SocketAddr, Vec<u8>)>,
    rtc_timeout: Instant,
    placeholder_offered: bool,
}

impl MediaSession {
    /// A session for participant `me` whose UDP socket is bound to `local`.
    /// `wallclock` is the wall-clock time at `now`; frame timestamps are
    /// derived from that pair, so senders and receivers on one machine (or
    /// on machines with synchronized clocks) measure one-way latency.
    pub fn new(
        config: MediaConfig,
        me: &ParticipantId,
        local: SocketAddr,
        now: Instant,
        wallclock: SystemTime,
    ) -> Result<MediaSession, MediaError> {
        let mut rtc_config = Rtc::builder()
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false);
        rtc_config.codec_config().add_config(
            PT_VP9.into(),
            Some(PT_VP9_RTX.into()),
            Codec::Vp9,
            Frequency::NINETY_KHZ,
            None,
            FormatParams {
                profile_id: Some(0),
                ..Default::default()
            },
        );
        let mut rtc = rtc_config.build(now);
        let candidate =
            Candidate::host(local, "udp").map_err(|e| MediaError::Candidate(e.to_string()))?;
        rtc.add_local_candidate(candidate);
        let tag = sender_tag(me.as_str());
        Ok(MediaSession {
            rtc,
            local,
            config,
            sender_tag: tag,
            clock: WallClock::new(now, wallclock),
            send: Vec::new(),
            pending_offer: None,
            tracks: HashMap::new(),
            receive: HashMap::new(),
            unattributed: HashMap::new(),
            report: MediaReport::default(),
            random: u64::from(tag) << 1 | 1,
            scratch: Vec::new(),
            opened: Vec::new(),
            closed: false,
            outgoing: VecDeque::new(),
            rtc_timeout: now,
            placeholder_offered: false,
        })
    }

    /// The offer of this participant's send tracks. A participant that
    /// publishes nothing offers one inactive audio m-line: the SFU starts a
    /// session only on an offer, and then offers its tracks into it. `None`
    /// when there is nothing new to offer.
    pub fn create_offer(&mut self, now: Instant) -> Option<String> {
        let mut change = self.rtc.sdp_api();
        let mut added = Vec::new();
        if self.config.publish.is_empty() && !self.placeholder_offered {
            change.add_media(MediaKind::Audio, Direction::Inactive, None, None, None);
            self.placeholder_offered = true;
        }
        // The SFU reads sending m-lines in order: first audio the microphone,
        // first video the camera, second video the screen.
        let mut publish = self.config.publish.clone();
        publish.sort();
        publish.dedup();
        for source in publish {
            if self.send.iter().any(|t| t.source == source) {
                continue;
            }
            let kind = match source {
                MediaSource::Audio => MediaKind::Audio,
                MediaSource::Video | MediaSource::Screen => MediaKind::Video,
            };
            let mid = change.add_media(
                kind,
                Direction::SendOnly,
                Some(STREAM_ID.to_owned()),
                Some(source_name(source).to_owned()),
                None,
            );
            added.push((source, mid));
        }
        let (offer, pending) = change.apply()?;
        let wallclock = self.clock.at(now);
        for (source, mid) in added {
            let generator = match source {
                MediaSource::Audio => FrameGenerator::audio(
                    self.config.audio.clone(),
                    self.sender_tag,
                    now,
                    wallclock,
                ),
                MediaSource::Video => FrameGenerator::video(
                    source,
                    self.config.video.clone(),
                    self.sender_tag,
                    now,
                    wallclock,
                ),
                MediaSource::Screen => FrameGenerator::video(
                    source,
                    self.config.screen.clone(),
                    self.sender_tag,
                    now,
                    wallclock,
                ),
            };
            // A random start, as RFC 3550 asks, kept below 2^15 so the
            // first packets never carry a rollover counter.
            let seq = u64::from(self.next_random() as u16 & 0x7fff);
            self.send.push(SendTrack {
                source,
                mid,
                generator,
                seq,
                pictures: 0,
                keyframes: 0,
            });
        }
        self.pending_offer = Some(pending);
        Some(offer.to_sdp_string())
    }

    /// Applies the SFU's answer to the outstanding offer.
    pub fn accept_answer(&mut self, sdp: &str) -> Result<(), MediaError> {
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(|e| MediaError::Sdp(e.to_string()))?;
        let pending = self
            .pending_offer
            .take()
            .ok_or(MediaError::UnexpectedAnswer)?;
        self.rtc.sdp_api().accept_answer(pending, answer)?;
        Ok(())
    }

    /// True while an offer of ours waits for its answer; the SFU drops its
    /// own offer when ours crosses it, so a client ignores offers then.
    pub fn has_pending_offer(&self) -> bool {
        self.pending_offer.is_some()
    }

    /// Answers an offer from the SFU (tracks this participant receives).
    pub fn accept_offer(&mut self, sdp: &str) -> Result<String, MediaError> {
        let offer = SdpOffer::from_sdp_string(sdp).map_err(|e| MediaError::Sdp(e.to_string()))?;
        let answer = self.rtc.sdp_api().accept_offer(offer)?;
        Ok(answer.to_sdp_string())
    }

    /// Says whose track each `mid` carries (the `media_tracks` message).
    pub fn set_tracks(&mut self, tracks: Vec<TrackInfo>) {
        self.tracks = HashMap::new();
        for track in tracks {
            self.tracks.insert(Mid::from(track.mid.as_str()), track);
        }
        let waiting: Vec<Mid> = self
            .unattributed
            .keys()
            .filter(|mid| self.tracks.contains_key(*mid))
            .copied()
            .collect();
        for mid in waiting {
            if let Some(items) = self.unattributed.remove(&mid) {
                for item in items {
                    self.attribute(mid, item);
                }
            }
        }
    }

    /// Whose track a `mid` carries, if known.
    pub fn track(&self, mid: &str) -> Option<&TrackInfo> {
        self.tracks.get(&Mid::from(mid))
    }

    /// True once ICE and DTLS are up.
    pub fn is_connected(&self) -> bool {
        self.rtc.is_connected()
    }

    /// False once the session has failed or closed for good.
    pub fn is_alive(&self) -> bool {
        !self.closed && self.rtc.is_alive()
    }

    /// A snapshot of the counters.
    pub fn report(&self) -> MediaReport {
        let mut report = self.report.clone();
        for track in &self.send {
            report.sent_pictures.insert(track.source, track.pictures);
            report.sent_keyframes.insert(track.source, track.keyframes);
        }
        report.unattributed_frames = self.unattributed.values().map(|v| v.len() as u64).sum();
        report
    }

    /// Takes one datagram received on the local socket; `cipher` decrypts the frames it
    /// completes.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        source: SocketAddr,
        contents: &[u8],
        cipher: &mut dyn FrameCipher,
    ) -> Result<(), MediaError> {
        let Ok(receive) = Receive::new(Protocol::Udp, source, self.local, contents) else {
            // Not STUN, DTLS, RTP or RTCP: not for us.
            return Ok(());
        };
        self.rtc.handle_input(Input::Receive(now, receive))?;
        self.drain_rtc(now, cipher)
    }

    /// Moves time forward: sends due frames (encrypted by `cipher`), gives up stale holes.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        cipher: &mut dyn FrameCipher,
    ) -> Result<(), MediaError> {
        self.rtc.handle_input(Input::Timeout(now))?;
        self.drain_rtc(now, cipher)?;
        if self.rtc.is_connected() {
            self.write_due_frames(now, cipher);
            // Written packets are stamped and paced from the next timeout.
            self.rtc.handle_input(Input::Timeout(now))?;
            self.drain_rtc(now, cipher)?;
        }
        let mut out = std::mem::take(&mut self.scratch);
        let ssrcs: Vec<Ssrc> = self
            .receive
            .iter()
            .filter(|(_, s)| s.reassembler.timeout().is_some_and(|t| t <= now))
            .map(|(ssrc, _)| *ssrc)
            .collect();
        for ssrc in ssrcs {
            if let Some(stream) = self.receive.get_mut(&ssrc) {
                stream.reassembler.handle_timeout(now, &mut out);
            }
            self.deliver(now, ssrc, &mut out, cipher);
        }
        self.scratch = out;
        Ok(())
    }

    /// The next thing to do: a datagram to send, or when to call
    /// [`MediaSession::handle_timeout`]. Call until it gives a timeout.
    pub fn poll(&mut self, now: Instant) -> Result<Poll, MediaError> {
        // Only transmits and timeouts are left to drain here: every input method drains
        // str0m's received packets itself, with the cipher in hand.
        self.drain_rtc(now, &mut NoFrames)?;
        if let Some((destination, contents)) = self.outgoing.pop_front() {
            return Ok(Poll::Transmit {
                destination,
                contents,
            });
        }
        let mut next = self.rtc_timeout;
        if self.rtc.is_connected() {
            for track in &self.send {
                next = next.min(track.generator.due());
            }
        }
        for stream in self.receive.values() {
            if let Some(t) = stream.reassembler.timeout() {
                next = next.min(t);
            }
        }
        Ok(Poll::Timeout(next.max(now)))
    }

    /// Polls str0m until it wants time to pass. In RTP mode str0m holds only
    /// one received packet for the next poll, so this runs after every
    /// input; transmits wait in a queue for [`MediaSession::poll`].
    fn drain_rtc(&mut self, now: Instant, cipher: &mut dyn FrameCipher) -> Result<(), MediaError> {
        loop {
            match self.rtc.poll_output()? {
                Output::Transmit(transmit) => self
                    .outgoing
                    .push_back((transmit.destination, transmit.contents.into())),
                Output::Event(event) => self.handle_event(now, event, cipher),
                Output::Timeout(at) => {
                    self.rtc_timeout = at;
                    return Ok(());
                }
            }
        }
    }

    /// Closes the session (DTLS close_notify and RTCP BYE go out on the next polls).
    pub fn close(&mut self) {
        if !self.closed {
            // A failing close only means there is nothing left to close.
            let _ = self.rtc.close();
            self.closed = true;
        }
    }

    fn handle_event(&mut self, now: Instant, event: Event, cipher: &mut dyn FrameCipher) {
        match event {
            Event::Connected => {
                self.report.connected_at.get_or_insert(now);
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.closed = true;
            }
            Event::KeyframeRequest(request) => {
                self.report.keyframe_requests_received += 1;
                if let Some(track) = self.send.iter_mut().find(|t| t.mid == request.mid) {
                    track.generator.request_keyframe();
                }
            }
            Event::RtpPacket(packet) => self.receive_rtp(now, packet, cipher),
            _ => {}
        }
    }

    fn write_due_frames(&mut self, now: Instant, cipher: &mut dyn FrameCipher) {
        for index in 0..self.send.len() {
            while let Some(mut picture) = self.send[index].generator.poll(now) {
                if seal(&mut picture, cipher).is_err() {
                    // No key (before the first epoch) or a failing cipher: nothing goes
                    // out in the clear.
                    self.report.unencrypted_held_back += 1;
                    continue;
                }
                self.write_picture(index, now, &picture);
            }
        }
    }

    fn write_picture(&mut self, index: usize, now: Instant, picture: &Picture) {
        let track = &mut self.send[index];
        let codec = match track.source {
            MediaSource::Audio => Codec::Opus,
            MediaSource::Video | MediaSource::Screen => Codec::Vp9,
        };
        let Some(pt) = negotiated_pt(&self.rtc, track.mid, codec) else {
            return;
        };
        track.pictures += 1;
        if picture.keyframe() && track.source != MediaSource::Audio {
            track.keyframes += 1;
        }
        let mid = track.mid;
        let video = track.source != MediaSource::Audio;
        let mut exts = ExtensionValues::default();
        if let Some(level) = picture.audio_level {
            exts.audio_level = Some(-(level.min(127) as i8));
            exts.voice_activity = Some(level < 127);
        }
        let packets = packetize(picture);
        let mut seq = track.seq;
        let mut api = self.rtc.direct_api();
        let Some(stream) = api.stream_tx_by_mid(mid, None) else {
            return;
        };
        for packet in packets {
            let write = RtpWrite::new(pt, SeqNo::from(seq), picture.rtp_time, now, packet.payload)
                .marker(packet.marker)
                .ext_vals(exts.clone())
                .nackable(video);
            stream.write_rtp(write);
            seq += 1;
            self.report.sent_packets += 1;
        }
        self.send[index].seq = seq;
    }

    fn receive_rtp(&mut self, now: Instant, packet: RtpPacket, cipher: &mut dyn FrameCipher) {
        self.report.received_packets += 1;
        let ssrc = packet.header.ssrc;
        if !self.receive.contains_key(&ssrc) {
            let mut api = self.rtc.direct_api();
            let Some(mid) = api.stream_rx(&ssrc).map(|s| s.mid()) else {
                return;
            };
            let video = self
                .rtc
                .media(mid)
                .is_some_and(|m| m.kind() == MediaKind::Video);
            self.receive.insert(
                ssrc,
                ReceiveStream {
                    mid,
                    reassembler: Reassembler::new(video),
                    video,
                    lost_reported: 0,
                    last_keyframe_request: None,
                    keyframe_seen: false,
                },
            );
        }
        let mut out = std::mem::take(&mut self.scratch);
        if let Some(stream) = self.receive.get_mut(&ssrc) {
            stream
                .reassembler
                .push(packet.timestamp, *packet.seq_no, packet.payload, &mut out);
        }
        self.deliver(now, ssrc, &mut out, cipher);
        self.scratch = out;
    }

    /// Accounts for what one stream's reassembler produced, and asks for a
    /// keyframe when a video stream cannot be decoded from what it has.
    fn deliver(
        &mut self,
        now: Instant,
        ssrc: Ssrc,
        out: &mut Vec<Reassembled>,
        cipher: &mut dyn FrameCipher,
    ) {
        let Some(stream) = self.receive.get_mut(&ssrc) else {
            out.clear();
            return;
        };
        let mid = stream.mid;
        let mut want_keyframe = false;
        // Decrypt first: a keyframe only counts once it decrypted (one sent under an epoch
        // this participant never had is no start for a decoder).
        let capture = self.config.capture_frames;
        if capture > 0 {
            for item in out.iter() {
                if let Reassembled::Frame { payload, .. } = item {
                    if self.report.captured.len() >= capture {
                        self.report.captured.pop_front();
                    }
                    self.report.captured.push_back(payload.clone());
                }
            }
        }
        let mut opened = std::mem::take(&mut self.opened);
        opened.extend(out.drain(..).map(|item| Opened::of(item, now, cipher)));
        for item in opened.iter_mut() {
            match item {
                Opened::Clear(_) => want_keyframe = stream.video,
                Opened::Frame {
                    item: Reassembled::Frame { keyframe, .. },
                    ..
                } => {
                    if *keyframe {
                        stream.keyframe_seen = true;
                    } else if stream.video && !stream.keyframe_seen {
                        // A decoder drops it, waiting for a keyframe.
                        want_keyframe = true;
                        item.skip();
                    }
                }
                Opened::Frame { .. } | Opened::Skipped { .. } => {}
                Opened::Refused(_) => {
                    if stream.video {
                        want_keyframe = true;
                        stream.keyframe_seen = false;
                    }
                }
            }
        }
        let lost = stream.reassembler.lost_packets();
        let new_lost = lost - stream.lost_reported;
        stream.lost_reported = lost;
        if want_keyframe
            && stream
                .last_keyframe_request
                .is_none_or(|t| now.saturating_duration_since(t) >= KEYFRAME_REQUEST_GAP)
        {
            stream.last_keyframe_request = Some(now);
            self.report.keyframe_requests_sent += 1;
            if let Some(rx) = self.rtc.direct_api().stream_rx(&ssrc) {
                rx.request_keyframe(KeyframeRequestKind::Pli);
            }
        }
        if new_lost > 0 {
            if let Some(stats) = self.stats_for(mid) {
                stats.lost_packets += new_lost;
            }
        }
        for item in opened.drain(..) {
            self.attribute(mid, item);
        }
        self.opened = opened;
    }

    fn stats_for(&mut self, mid: Mid) -> Option<&mut SourceStats> {
        let track = self.tracks.get(&mid)?;
        Some(
            self.report
                .peers
                .entry(track.participant_id.clone())
                .or_default()
                .sources
                .entry(track.source)
                .or_default(),
        )
    }

    fn attribute(&mut self, mid: Mid, item: Opened) {
        let Some(track) = self.tracks.get(&mid) else {
            let held = self.unattributed.entry(mid).or_default();
            if held.len() < MAX_UNATTRIBUTED {
                held.push(item);
            }
            return;
        };
        let owner = track.participant_id.clone();
        let (item, sender) = match item {
            Opened::Clear(item) => (Some(item), None),
            Opened::Frame { item, sender } => (Some(item), Some(sender)),
            Opened::Skipped { sender } => (None, Some(sender)),
            Opened::Refused(CipherError::UnknownEpoch(_) | CipherError::NoKeys)
                if self
                    .report
                    .peers
                    .get(&owner)
                    .is_none_or(|peer| peer.decrypted_frames == 0) =>
            {
                let peer = self.report.peers.entry(owner).or_default();
                peer.frames_before_shared_epoch += 1;
                return;
            }
            Opened::Refused(error) => {
                let peer = self.report.peers.entry(owner).or_default();
                peer.undecryptable_frames += 1;
                peer.last_undecryptable = Some(error.to_string());
                return;
            }
        };
        if let Some(sender) = sender {
            let peer = self.report.peers.entry(owner.clone()).or_default();
            match sender {
                Some(sender) if sender != owner => {
                    // A frame under another member's key on this peer's track: the SFU
                    // (or someone) swapped streams; it is not this peer's media.
                    peer.undecryptable_frames += 1;
                    peer.last_undecryptable = Some(format!("frame sent under the key of {sender}"));
                    return;
                }
                _ => peer.decrypted_frames += 1,
            }
        }
        let Some(item) = item else {
            return;
        };
        let expected = sender_tag(owner.as_str());
        let random = self.next_random();
        let clock = self.clock;
        if let Some(stats) = self.stats_for(mid) {
            stats.record(&item, expected, &clock, random);
        }
    }

    fn next_random(&mut self) -> u64 {
        self.random ^= self.random >> 12;
        self.random ^= self.random << 25;
        self.random ^= self.random >> 27;
        self.random.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Encrypts each frame of a picture in place: an Opus frame whole, each VP9 spatial-layer
/// frame on its own (the packetizer puts the clear payload descriptor in front).
fn seal(picture: &mut Picture, cipher: &mut dyn FrameCipher) -> Result<(), CipherError> {
    for frame in &mut picture.frames {
        frame.payload = cipher.encrypt(&frame.payload)?;
    }
    Ok(())
}

/// A reassembled frame after decryption.
enum Opened {
    /// Loss news, nothing to decrypt.
    Clear(Reassembled),
    /// Decrypted; `sender` is whom the key named.
    Frame {
        item: Reassembled,
        sender: Option<ParticipantId>,
    },
    /// Decrypted, but a video delta frame before any decrypted keyframe: counted as
    /// decrypted, not verified (a decoder could not use it).
    Skipped { sender: Option<ParticipantId> },
    /// Did not decrypt.
    Refused(CipherError),
}

impl Opened {
    fn skip(&mut self) {
        if let Opened::Frame { sender, .. } = self {
            *self = Opened::Skipped {
                sender: sender.take(),
            };
        }
    }

    fn of(item: Reassembled, now: Instant, cipher: &mut dyn FrameCipher) -> Opened {
        match item {
            Reassembled::Incomplete => Opened::Clear(Reassembled::Incomplete),
            Reassembled::Frame {
                payload,
                keyframe,
                completed_at,
            } => match cipher.decrypt(&payload, now) {
                Ok(opened) => Opened::Frame {
                    item: Reassembled::Frame {
                        payload: opened.payload,
                        keyframe,
                        completed_at,
                    },
                    sender: opened.sender,
                },
                Err(error) => Opened::Refused(error),
            },
        }
    }
}

/// The cipher of [`MediaSession::poll`], which completes no frames: its drain only
/// collects transmits and the timeout, the inputs having drained received packets already.
struct NoFrames;

impl FrameCipher for NoFrames {
    fn encrypt(&mut self, _frame: &[u8]) -> Result<Vec<u8>, CipherError> {
        Err(CipherError::NoKeys)
    }

    fn decrypt(
        &mut self,
        _frame: &[u8],
        _now: Instant,
    ) -> Result<crate::media::cipher::Opened, CipherError> {
        Err(CipherError::NoKeys)
    }
}

/// The msid track id that names a source in SDP.
pub fn source_name(source: MediaSource) -> &'static str {
    match source {
        MediaSource::Audio => "audio",
        MediaSource::Video => "video",
        MediaSource::Screen => "screen",
    }
}

/// The payload type the remote side accepted for `codec` on `mid`.
fn negotiated_pt(rtc: &Rtc, mid: Mid, codec: Codec) -> Option<Pt> {
    let media = rtc.media(mid)?;
    let params = rtc.codec_config().params();
    media.remote_pts().iter().copied().find(|pt| {
        params
            .iter()
            .any(|p| p.pt() == *pt && p.spec().codec == codec)
    })
}
