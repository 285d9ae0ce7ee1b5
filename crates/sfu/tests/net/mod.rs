//! An in-memory network of real str0m peers around one real [`Router`], on a
//! deterministic clock. Peers play the native client: they offer their own
//! tracks, answer the router's offers and publish synthetic Opus-sized audio
//! and VP9 L3T3_KEY video with valid payload descriptors. Every frame starts
//! with an SFrame header ([`SFRAME_HEADER_LEN`] bytes) of the meeting's epoch
//! and its publisher's leaf, as the router's E2EE gate demands; the bodies
//! are not really encrypted (the router never decrypts).
#![allow(dead_code, clippy::unwrap_used)] // each test binary uses a different subset

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use e2ee::group::{Epoch, LeafIndex};
use e2ee::header::{FrameHeader, Kid};
use proto::ids::{MeetingId, OpaqueId, ParticipantId};
use proto::signaling::{MediaSource, ServerMessage, TrackInfo};
use sfu::vp9::{self, Scalability, Vp9Descriptor};
use sfu::{Admission, GroupEpoch, Output, Router, RouterConfig, RouterEvent};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite};
use str0m::{Candidate, Event, Input, Rtc, RtcConfig};

pub const ROUTER_ADDR: &str = "127.0.0.1:10000";
/// The MLS epoch the router is told: with it every KID (leaf << 4 | 8) is at least 8, so
/// every SFrame header (counter 0) is two bytes long.
pub const EPOCH: u64 = 8;
/// Length of the SFrame header at the start of every frame.
pub const SFRAME_HEADER_LEN: usize = 2;
/// Sizes of the three spatial layers' frames (bytes), like 180p/360p/720p.
pub const LAYER_BYTES: [usize; 3] = [300, 900, 2400];
pub const HEIGHTS: [u16; 3] = [180, 360, 720];
pub const PICTURE_INTERVAL: Duration = Duration::from_millis(33);
pub const AUDIO_INTERVAL: Duration = Duration::from_millis(20);
/// Temporal layer of picture n in an L3T3 pattern.
pub const TEMPORAL: [u8; 4] = [0, 2, 1, 2];

/// One packet a peer received.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub mid: Mid,
    pub seq: u64,
    pub marker: bool,
    pub payload: Vec<u8>,
}

pub struct Peer {
    pub id: ParticipantId,
    /// Its leaf in the meeting's MLS group.
    pub leaf: u32,
    /// The leaf its SFrame KIDs name (its own unless a test makes it impersonate), or
    /// `None` to send plaintext frames without an SFrame header.
    pub kid_leaf: Option<u32>,
    pub addr: SocketAddr,
    pub rtc: Rtc,
    pending: Option<SdpPendingOffer>,
    pub audio_mid: Option<Mid>,
    pub video_mid: Option<Mid>,
    pub tracks: Vec<TrackInfo>,
    pub speakers: Vec<Vec<ParticipantId>>,
    pub received: Vec<Received>,
    pub keyframe_requests: usize,
    pub connected: bool,
    pub audio_level: i8,
    pub publishing: bool,
    /// Drop this share (per mille) of the datagrams the router sends to this peer.
    pub loss_per_mille: u32,
    pub lost: usize,
    picture: u64,
    audio_seq: u64,
    pub video_seq: u64,
    next_audio: Instant,
    next_picture: Instant,
    pub force_keyframe: bool,
}

pub struct Net {
    pub now: Instant,
    pub router: Router,
    pub peers: Vec<Peer>,
    pub events: Vec<RouterEvent>,
    pub meeting: MeetingId,
    /// Wall time spent inside the router's methods (for the benchmark).
    pub router_busy: Duration,
    wire_to_router: VecDeque<(SocketAddr, Vec<u8>)>,
    rng: u64,
}

pub fn pid(n: u8) -> ParticipantId {
    ParticipantId::from_random(&[n; 9])
}

impl Net {
    pub fn new(config: impl FnOnce(RouterConfig) -> RouterConfig) -> Net {
        let now = Instant::now();
        let router =
            Router::new(config(RouterConfig::new(ROUTER_ADDR.parse().unwrap())), now).unwrap();
        Net {
            now,
            router,
            peers: Vec::new(),
            events: Vec::new(),
            meeting: MeetingId::from_random(&[1; 16]),
            router_busy: Duration::ZERO,
            wire_to_router: VecDeque::new(),
            rng: 0x9e37_79b9_7f4a_7c15,
        }
    }

    /// Admits a participant and makes its peer; returns its index.
    pub fn admit(&mut self, n: u8) -> usize {
        let id = pid(n);
        self.router
            .add_participant(
                Admission::granted(self.meeting.clone(), id.clone()),
                self.now,
            )
            .unwrap();
        let addr: SocketAddr = format!("127.0.0.{}:{}", 10 + n, 40000 + u16::from(n))
            .parse()
            .unwrap();
        let mut rtc = RtcConfig::new()
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp9(true)
            .set_stats_interval(None)
            .build(self.now);
        rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
        let leaf = self.peers.len() as u32;
        self.peers.push(Peer {
            id,
            leaf,
            kid_leaf: Some(leaf),
            addr,
            rtc,
            pending: None,
            audio_mid: None,
            video_mid: None,
            tracks: Vec::new(),
            speakers: Vec::new(),
            received: Vec::new(),
            keyframe_requests: 0,
            connected: false,
            audio_level: -30,
            publishing: false,
            loss_per_mille: 0,
            lost: 0,
            picture: 0,
            audio_seq: 1000,
            video_seq: 5000,
            next_audio: self.now,
            next_picture: self.now,
            force_keyframe: false,
        });
        self.tell_group();
        self.peers.len() - 1
    }

    /// Tells the router the group: every peer at its leaf, in [`EPOCH`].
    pub fn tell_group(&mut self) {
        let group = GroupEpoch {
            epoch: EPOCH,
            leaves: self.peers.iter().map(|p| (p.id.clone(), p.leaf)).collect(),
        };
        self.router.set_group(&self.meeting, group, self.now);
    }

    /// The peer offers its own tracks (audio + video if `publish`, else one
    /// inactive-looking audio m-line so the offer is not empty).
    pub fn offer(&mut self, at: usize, publish: bool) {
        let peer = &mut self.peers[at];
        let mut api = peer.rtc.sdp_api();
        let dir = if publish {
            Direction::SendOnly
        } else {
            Direction::RecvOnly
        };
        let audio = api.add_media(MediaKind::Audio, dir, None, None, None);
        let video =
            publish.then(|| api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None));
        let (offer, pending) = api.apply().unwrap();
        peer.pending = Some(pending);
        if publish {
            peer.audio_mid = Some(audio);
            peer.video_mid = video;
            peer.publishing = true;
        }
        let id = peer.id.clone();
        self.router
            .handle_offer(&id, &offer.to_sdp_string(), self.now)
            .unwrap();
        self.settle();
    }

    /// Runs until nothing is in flight at the current instant.
    pub fn settle(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            while let Some(output) = self.timed(|r| r.poll_output()) {
                moved = true;
                match output {
                    Output::Transmit(d) => {
                        let to = d.destination.socket_addr();
                        let Some(at) = self.peers.iter().position(|p| p.addr == to) else {
                            continue;
                        };
                        let loss = self.peers[at].loss_per_mille;
                        if loss > 0 && self.random() % 1000 < u64::from(loss) {
                            self.peers[at].lost += 1;
                            continue;
                        }
                        let now = self.now;
                        let peer = &mut self.peers[at];
                        let input = Input::Receive(
                            now,
                            Receive {
                                proto: Protocol::Udp,
                                source: ROUTER_ADDR.parse().unwrap(),
                                destination: peer.addr,
                                contents: d.contents.as_slice().try_into().unwrap(),
                            },
                        );
                        peer.rtc.handle_input(input).unwrap();
                        self.drain_peer(at);
                    }
                    Output::Signal { to, message } => self.signal(to, message),
                    Output::Event(e) => self.events.push(e),
                }
            }
            while let Some((from, bytes)) = self.wire_to_router.pop_front() {
                moved = true;
                let now = self.now;
                self.timed(|r| r.handle_receive(from, ROUTER_ADDR.parse().unwrap(), &bytes, now));
            }
            if !moved {
                return;
            }
        }
        panic!("the network did not settle");
    }

    fn timed<T>(&mut self, f: impl FnOnce(&mut Router) -> T) -> T {
        let started = Instant::now();
        let out = f(&mut self.router);
        self.router_busy += started.elapsed();
        out
    }

    fn random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn signal(&mut self, to: ParticipantId, message: ServerMessage) {
        let Some(at) = self.peers.iter().position(|p| p.id == to) else {
            return;
        };
        match message {
            ServerMessage::MediaAnswer { sdp } => {
                let peer = &mut self.peers[at];
                let pending = peer.pending.take().expect("an answer to our offer");
                let answer = SdpAnswer::from_sdp_string(&sdp).unwrap();
                peer.rtc.sdp_api().accept_answer(pending, answer).unwrap();
                self.drain_peer(at);
            }
            ServerMessage::MediaOffer { sdp } => {
                let peer = &mut self.peers[at];
                let offer = SdpOffer::from_sdp_string(&sdp).unwrap();
                let answer = peer.rtc.sdp_api().accept_offer(offer).unwrap();
                self.drain_peer(at);
                let id = self.peers[at].id.clone();
                self.router
                    .handle_answer(&id, &answer.to_sdp_string(), self.now)
                    .unwrap();
            }
            ServerMessage::MediaTracks { tracks } => self.peers[at].tracks = tracks,
            ServerMessage::ActiveSpeakers { participant_ids } => {
                self.peers[at].speakers.push(participant_ids)
            }
            other => panic!("unexpected signal {other:?}"),
        }
    }

    pub fn drain_peer(&mut self, at: usize) {
        let peer = &mut self.peers[at];
        loop {
            match peer.rtc.poll_output().unwrap() {
                str0m::Output::Timeout(_) => return,
                str0m::Output::Transmit(t) => {
                    self.wire_to_router
                        .push_back((peer.addr, t.contents.into()));
                }
                str0m::Output::Event(event) => match event {
                    Event::Connected => peer.connected = true,
                    Event::RtpPacket(p) => {
                        let mid = peer
                            .rtc
                            .direct_api()
                            .stream_rx(&p.header.ssrc)
                            .map(|s| s.mid())
                            .unwrap();
                        peer.received.push(Received {
                            at: self.now,
                            mid,
                            seq: *p.seq_no,
                            marker: p.header.marker,
                            payload: p.payload.to_vec(),
                        });
                    }
                    Event::KeyframeRequest(_) => {
                        peer.keyframe_requests += 1;
                        peer.force_keyframe = true;
                    }
                    _ => {}
                },
            }
        }
    }

    /// Advances the clock by `total` in 1 ms steps, publishing media as due.
    pub fn run_for(&mut self, total: Duration) {
        let end = self.now + total;
        while self.now < end {
            self.now += Duration::from_millis(1);
            let now = self.now;
            for at in 0..self.peers.len() {
                self.peers[at]
                    .rtc
                    .handle_input(Input::Timeout(now))
                    .unwrap();
                self.drain_peer(at);
                if self.peers[at].publishing && self.peers[at].connected {
                    self.publish_due(at);
                }
            }
            self.timed(|r| {
                if r.poll_timeout() <= now {
                    r.handle_timeout(now);
                }
            });
            self.settle();
        }
    }

    /// Runs until `done` holds, for at most `limit`.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Net) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if done(self) {
                return true;
            }
            self.run_for(Duration::from_millis(10));
        }
        done(self)
    }

    fn publish_due(&mut self, at: usize) {
        let now = self.now;
        let peer = &mut self.peers[at];
        if now >= peer.next_audio {
            peer.next_audio += AUDIO_INTERVAL;
            let pt = pt_of(&peer.rtc, Codec::Opus);
            let mid = peer.audio_mid.unwrap();
            let seq = peer.audio_seq;
            peer.audio_seq += 1;
            let mut payload = peer.kid_leaf.map(sframe_header).unwrap_or_default();
            payload.extend_from_slice(&seq.to_be_bytes());
            payload.resize(100, 0xa0);
            let exts = ExtensionValues {
                audio_level: Some(peer.audio_level),
                voice_activity: Some(true),
                ..Default::default()
            };
            let time = (seq * 960) as u32;
            if let Some(tx) = peer.rtc.direct_api().stream_tx_by_mid(mid, None) {
                tx.write_rtp(RtpWrite::new(pt, seq.into(), time, now, payload).ext_vals(exts));
            }
            self.drain_peer(at);
        }
        let peer = &mut self.peers[at];
        if now >= peer.next_picture {
            peer.next_picture += PICTURE_INTERVAL;
            let n = peer.picture;
            peer.picture += 1;
            let key = n == 0 || peer.force_keyframe;
            peer.force_keyframe = false;
            let packets = svc_picture(n, key, peer.kid_leaf);
            let pt = pt_of(&peer.rtc, Codec::Vp9);
            let mid = peer.video_mid.unwrap();
            let time = (n * 3000) as u32;
            let count = packets.len();
            for (i, payload) in packets.into_iter().enumerate() {
                let peer = &mut self.peers[at];
                let seq = peer.video_seq;
                peer.video_seq += 1;
                if let Some(tx) = peer.rtc.direct_api().stream_tx_by_mid(mid, None) {
                    tx.write_rtp(
                        RtpWrite::new(pt, seq.into(), time, now, payload)
                            .marker(i + 1 == count)
                            .nackable(true),
                    );
                }
                self.drain_peer(at);
            }
        }
    }

    pub fn peer(&self, n: u8) -> &Peer {
        self.peers.iter().find(|p| p.id == pid(n)).unwrap()
    }

    pub fn peer_mut(&mut self, n: u8) -> &mut Peer {
        self.peers.iter_mut().find(|p| p.id == pid(n)).unwrap()
    }

    /// The mid on which `subscriber` receives `publisher`'s `source`.
    pub fn mid_of(&self, subscriber: u8, publisher: u8, source: MediaSource) -> Option<Mid> {
        self.peer(subscriber)
            .tracks
            .iter()
            .find(|t| t.participant_id == pid(publisher) && t.source == source)
            .map(|t| Mid::from(t.mid.as_str()))
    }

    /// A subscriber asks the router for a keyframe on one of its mids.
    pub fn request_keyframe(&mut self, subscriber: u8, mid: Mid) {
        let at = self
            .peers
            .iter()
            .position(|p| p.id == pid(subscriber))
            .unwrap();
        if let Some(rx) = self.peers[at].rtc.direct_api().stream_rx_by_mid(mid, None) {
            rx.request_keyframe(KeyframeRequestKind::Pli);
        }
        self.drain_peer(at);
        self.settle();
    }
}

pub fn pt_of(rtc: &Rtc, codec: Codec) -> str0m::media::Pt {
    rtc.codec_config()
        .find(|p| p.spec().codec == codec)
        .map(|p| p.pt())
        .unwrap()
}

/// The SFrame header a peer at `leaf` puts before each frame (counter 0).
pub fn sframe_header(leaf: u32) -> Vec<u8> {
    let header = FrameHeader::encode(Kid::new(LeafIndex::new(leaf), Epoch::new(EPOCH)), 0);
    assert_eq!(header.len(), SFRAME_HEADER_LEN);
    header
}

/// The RTP payloads of one L3T3_KEY picture: per spatial layer one or two
/// packets, each a VP9 descriptor followed by a recognisable body
/// (picture number, layer, packet index, then filler); the first packet of
/// each layer frame has an SFrame header naming `leaf` before the body (none
/// for plaintext).
pub fn svc_picture(n: u64, key: bool, leaf: Option<u32>) -> Vec<Vec<u8>> {
    let temporal = if key { 0 } else { TEMPORAL[(n % 4) as usize] };
    let mut out = Vec::new();
    for spatial in 0..3u8 {
        let size = LAYER_BYTES[spatial as usize];
        let parts = if size > 1000 { 2 } else { 1 };
        for part in 0..parts {
            let scalability = (key && spatial == 0 && part == 0).then(|| {
                let mut ss = Scalability {
                    spatial_layers: 3,
                    ..Default::default()
                };
                for (i, h) in HEIGHTS.iter().enumerate() {
                    ss.resolutions.push((h * 16 / 9, HEIGHTS[i]));
                }
                ss
            });
            let d = Vp9Descriptor {
                inter_picture: !key,
                flexible: false,
                begin: part == 0,
                end: part + 1 == parts,
                picture_id: Some((n & 0x7fff) as u16),
                temporal,
                spatial,
                switching_up: temporal > 0,
                inter_layer: key && spatial > 0,
                scalability,
                len: 0,
            };
            let mut payload = Vec::new();
            vp9::write_non_flexible(&d, (n & 0xff) as u8, &mut payload);
            if let Some(leaf) = leaf.filter(|_| part == 0) {
                payload.extend_from_slice(&sframe_header(leaf));
            }
            payload.extend_from_slice(&n.to_be_bytes());
            payload.push(spatial);
            payload.push(part as u8);
            payload.resize(payload.len() + size / parts, 0x5a);
            out.push(payload);
        }
    }
    out
}
