//! The sans-IO media router: one str0m [`Rtc`] per admitted participant, all
//! behind one UDP port, and the forwarding between them.
//!
//! Life of a participant: [`Router::add_participant`] (with an [`Admission`]
//! from the server's room) -> the client's `media_offer` ([`Router::handle_offer`])
//! declares what it publishes -> the router offers it every other
//! participant's tracks (a server `media_offer`, answered through
//! [`Router::handle_answer`]) -> ICE-lite and DTLS-SRTP connect -> RTP flows.
//! [`Router::remove_participant`] stops everything at once.
//!
//! Forwarding never decrypts or parses frame payloads (they are SFrame
//! ciphertext): it reads RTP headers, header extensions (through str0m) and
//! the VP9 payload descriptor ([`crate::vp9`]).

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proto::ids::{MeetingId, ParticipantId};
use proto::signaling::{MediaSource, ServerMessage, TrackInfo, MAX_SDP_BYTES};
use rustc_hash::FxHashMap;
use str0m::bwe::{Bitrate, BweKind};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::config::DtlsCert;
use str0m::format::Codec;
use str0m::media::{Direction, KeyframeRequestKind, MediaAdded, MediaKind, Mid, Pt, Rid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, Ssrc};
use str0m::{Candidate, Event, IceConnectionState, IceCreds, Input, Rtc, RtcConfig};

use crate::demux::{self, DatagramKind};
use crate::e2ee_check::{FrameGate, FrameVerdicts, GroupEpoch};
use crate::forward::{Layers, SeqRewriter, Verdict, VideoForwarder};
use crate::speakers::Speakers;
use crate::vp9;

/// Proof that the server's room seated this participant. The server makes
/// one only where its room core holds an `Admitted` seat; the router adds
/// nobody without it, so a client in the lobby has no media session.
pub struct Admission {
    meeting: MeetingId,
    participant: ParticipantId,
}

impl Admission {
    /// Made by the server when its room seats `participant` in `meeting`.
    pub fn granted(meeting: MeetingId, participant: ParticipantId) -> Admission {
        Admission {
            meeting,
            participant,
        }
    }

    /// Who was admitted.
    pub fn participant(&self) -> &ParticipantId {
        &self.participant
    }
}

/// Tunables of a [`Router`].
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// The address clients send media to: the single ICE host candidate.
    pub public_addr: SocketAddr,
    /// In a room with more audio publishers than this, forward only the
    /// loudest this many audio streams (`None`: forward all).
    pub loudest_audio: Option<usize>,
    /// Least time between two keyframe requests sent for one publisher stream.
    pub keyframe_request_interval: Duration,
    /// Bandwidth estimate towards a subscriber before TWCC has measured anything.
    pub initial_bitrate_bps: u64,
}

impl RouterConfig {
    /// Defaults for a router reachable at `public_addr`.
    pub fn new(public_addr: SocketAddr) -> RouterConfig {
        RouterConfig {
            public_addr,
            loudest_audio: None,
            keyframe_request_interval: Duration::from_millis(500),
            initial_bitrate_bps: 3_000_000,
        }
    }
}

/// Why the router refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouterError {
    /// The participant has no media session (not admitted, or removed).
    #[error("participant {0} has no media session; only seated participants may send media")]
    UnknownParticipant(ParticipantId),
    /// `add_participant` twice for one id.
    #[error("participant {0} already has a media session")]
    AlreadyAdded(ParticipantId),
    /// The SDP is over [`MAX_SDP_BYTES`].
    #[error("SDP is {got} bytes; the limit is {limit}")]
    SdpTooLarge {
        /// Its size.
        got: usize,
        /// The limit.
        limit: usize,
    },
    /// The SDP does not parse.
    #[error("SDP does not parse: {0}")]
    BadSdp(String),
    /// An answer came with no server offer outstanding.
    #[error("no media_offer from the server is waiting for an answer")]
    NoOfferOutstanding,
    /// str0m refused the offer or answer.
    #[error("media negotiation failed: {0}")]
    Negotiation(String),
    /// The participant or track named does not exist in this meeting.
    #[error("no such participant or track in this meeting")]
    NoSuchTrack,
    /// The DTLS certificate could not be made.
    #[error("cannot create a DTLS certificate")]
    Certificate,
}

/// A UDP peer address. It implements neither `Debug` nor `Display`, so it
/// cannot reach a log line by accident; the shell reads it to send.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerAddr(SocketAddr);

impl PeerAddr {
    /// The address to send to.
    pub fn socket_addr(&self) -> SocketAddr {
        self.0
    }
}

/// One datagram to send.
pub struct Datagram {
    /// Where to.
    pub destination: PeerAddr,
    /// The bytes.
    pub contents: Vec<u8>,
}

impl fmt::Debug for Datagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Datagram({} bytes)", self.contents.len())
    }
}

/// Something the router tells the server (not a datagram or a signal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouterEvent {
    /// ICE and DTLS are up: media can flow.
    MediaConnected(ParticipantId),
    /// The client stopped answering (ICE consent lapsed): its media session
    /// was reset; it must send a new `media_offer` to get another.
    MediaLost(ParticipantId),
}

/// What the shell must do next.
#[derive(Debug)]
pub enum Output {
    /// Send a datagram from the media socket.
    Transmit(Datagram),
    /// Send a signaling message to a participant.
    Signal {
        /// Who.
        to: ParticipantId,
        /// What.
        message: ServerMessage,
    },
    /// A state change for the server.
    Event(RouterEvent),
}

/// Counters since the router started (no per-user breakdown).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouterStats {
    /// RTP packets written to subscribers.
    pub forwarded_packets: u64,
    /// RTP payload bytes written to subscribers.
    pub forwarded_bytes: u64,
    /// Keyframe requests (PLI) sent to publishers.
    pub keyframe_requests: u64,
    /// Participants whose media is connected now.
    pub participants_with_media: u64,
    /// Frames checked as end-to-end encrypted (a well-formed SFrame header with a KID of
    /// the meeting's epoch and the publisher's leaf) and forwarded.
    pub e2ee_frames: u64,
    /// Frames refused because they were not (see [`crate::e2ee_check`]).
    pub refused_frames: u64,
}

/// Router-internal participant handle; never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Slot(u64);

/// One published track as a subscriber sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct TrackKey {
    publisher: Slot,
    source: MediaSource,
}

/// Video packets kept per outgoing stream to answer NACKs with RTX. str0m's
/// default of 1000 is about 7 s of a 1.5 Mbit/s layer and, for every stream
/// of every subscriber, most of the server's memory per participant; 256 is
/// still about 1.7 s at that rate, many round trips for a NACK.
const SEND_BUFFER_VIDEO: usize = 256;
/// How far past `now` a pacer timeout may be fed back within one drain (see `drain_rtc`).
const CATCH_UP_SLACK: Duration = Duration::from_millis(1);
/// Most timeouts fed back within one drain: a bound on its work, above a burst's packets.
const MAX_CATCH_UP: u32 = 512;

/// How often rates are measured and layers re-chosen.
const ALLOCATION_INTERVAL: Duration = Duration::from_secs(1);
/// How often deferred keyframe requests are looked at.
const TICK: Duration = Duration::from_millis(50);
/// Highest spatial and temporal layer ids the rate table tracks.
const MAX_LAYER: usize = 4;
/// Bandwidth set aside per forwarded audio track when splitting an estimate.
const AUDIO_BPS: u64 = 50_000;
/// Most remote addresses remembered per participant (NAT rebinding).
const MAX_ADDRS: usize = 4;

/// The media router. See the module documentation.
pub struct Router {
    config: RouterConfig,
    cert: DtlsCert,
    next_slot: u64,
    // Slots are ours (sequential, never chosen by a peer), so a fast
    // non-keyed hash is safe for maps keyed by them; maps keyed by what
    // peers choose (addresses, SSRCs) keep the default SipHash.
    participants: FxHashMap<Slot, Participant>,
    by_id: HashMap<ParticipantId, Slot>,
    by_ufrag: HashMap<String, Slot>,
    rooms: HashMap<MeetingId, Room>,
    io: RouterIo,
    /// Reused by `handle_timeout` for the slots whose `Rtc` is due.
    due: Vec<Slot>,
    next_tick: Instant,
    next_allocation: Instant,
    stats: RouterStats,
    /// Test instrumentation (feature `tap`): sees every payload forwarded.
    #[cfg(feature = "tap")]
    tap: Option<crate::tap::Tap>,
}

/// What draining an `Rtc` writes into, apart from the participant itself.
struct RouterIo {
    outputs: VecDeque<Output>,
    work: VecDeque<(Slot, Event)>,
    by_addr: HashMap<SocketAddr, Slot>,
    /// Bumped whenever `by_addr` changes, so a participant's last checked
    /// destination stays valid without a lookup per datagram.
    addr_epoch: u64,
    /// Each participant's `Rtc` deadline; an entry is live only if it equals
    /// that participant's `scheduled` (older ones are skipped when popped).
    timers: BinaryHeap<Reverse<(Instant, Slot)>>,
    /// Participants whose `Rtc` failed; their sessions are replaced in `handle_timeout`.
    broken: Vec<Slot>,
}

impl RouterIo {
    /// Removes `addr` from the address table if it belongs to `slot`.
    fn forget_addr(&mut self, addr: &SocketAddr, slot: Slot) {
        if self.by_addr.get(addr) == Some(&slot) {
            self.by_addr.remove(addr);
            self.addr_epoch += 1;
        }
    }
}

struct Room {
    members: Vec<Slot>,
    speakers: Speakers<Slot>,
    /// Refuses media that is not end-to-end encrypted for this meeting's group.
    gate: FrameGate,
}

struct Participant {
    id: ParticipantId,
    meeting: MeetingId,
    rtc: Rtc,
    ufrag: String,
    /// When the `Rtc` wants `handle_timeout` next.
    next_timeout: Instant,
    /// The time of this participant's live entry in `RouterIo::timers`
    /// (at or before `next_timeout`); `None` while none is queued.
    scheduled: Option<Instant>,
    /// A destination str0m sent to that `by_addr` maps to this participant,
    /// and the `addr_epoch` when that was checked.
    checked_addr: Option<(SocketAddr, u64)>,
    /// The client's offer was accepted: the transport exists.
    offered: bool,
    connected: bool,
    /// str0m failed; the session is replaced at the next timeout.
    broken: bool,
    addrs: Vec<SocketAddr>,
    pending: Option<PendingOffer>,
    published: Vec<Published>,
    ssrcs: HashMap<Ssrc, (usize, usize)>,
    subs: FxHashMap<TrackKey, Subscription>,
    sub_by_mid: FxHashMap<Mid, TrackKey>,
    estimate_bps: Option<u64>,
    host_muted: BTreeSet<MediaSource>,
    preferences: FxHashMap<TrackKey, u32>,
}

struct PendingOffer {
    pending: SdpPendingOffer,
    added: Vec<TrackKey>,
}

struct Published {
    mid: Mid,
    source: MediaSource,
    kind: MediaKind,
    encodings: Vec<Encoding>,
}

/// One RTP stream of a published track: the only one (SVC or plain) or one simulcast rid.
struct Encoding {
    rid: Option<Rid>,
    bytes: [[u64; MAX_LAYER]; MAX_LAYER],
    bps: [[u64; MAX_LAYER]; MAX_LAYER],
    seen: bool,
    max_spatial: u8,
    max_temporal: u8,
    heights: Vec<u16>,
    last_packet: Option<Instant>,
    last_keyframe_request: Option<Instant>,
    keyframe_deferred: bool,
    /// The gate's verdicts on recent layer frames, for their later packets.
    verdicts: FrameVerdicts,
}

struct Subscription {
    mid: Mid,
    negotiated: bool,
    pt: Option<Pt>,
    forward: Forwarding,
}

enum Forwarding {
    Audio(SeqRewriter),
    Video(VideoForwarder),
}

impl Encoding {
    fn new(rid: Option<Rid>) -> Encoding {
        Encoding {
            rid,
            bytes: [[0; MAX_LAYER]; MAX_LAYER],
            bps: [[0; MAX_LAYER]; MAX_LAYER],
            seen: false,
            max_spatial: 0,
            max_temporal: 0,
            heights: Vec::new(),
            last_packet: None,
            last_keyframe_request: None,
            keyframe_deferred: false,
            verdicts: FrameVerdicts::default(),
        }
    }

    /// Bits per second of everything up to these layers.
    fn rate(&self, spatial: u8, temporal: u8) -> u64 {
        let (s, t) = (usize::from(spatial), usize::from(temporal));
        self.bps
            .iter()
            .take(s + 1)
            .flat_map(|row| row.iter().take(t + 1))
            .sum()
    }

    fn height(&self, spatial: u8) -> Option<u16> {
        self.heights.get(usize::from(spatial)).copied()
    }
}

impl Router {
    /// A router with no participants; makes the DTLS certificate all sessions share.
    pub fn new(config: RouterConfig, now: Instant) -> Result<Router, RouterError> {
        let provider = str0m::crypto::from_feature_flags();
        let cert = provider
            .dtls_provider
            .generate_certificate()
            .ok_or(RouterError::Certificate)?;
        Ok(Router {
            config,
            cert,
            next_slot: 1,
            participants: FxHashMap::default(),
            by_id: HashMap::new(),
            by_ufrag: HashMap::new(),
            rooms: HashMap::new(),
            io: RouterIo {
                outputs: VecDeque::new(),
                work: VecDeque::new(),
                by_addr: HashMap::new(),
                addr_epoch: 0,
                timers: BinaryHeap::new(),
                broken: Vec::new(),
            },
            due: Vec::new(),
            next_tick: now + TICK,
            next_allocation: now + ALLOCATION_INTERVAL,
            stats: RouterStats::default(),
            #[cfg(feature = "tap")]
            tap: crate::tap::Tap::from_env("sfu tap"),
        })
    }

    /// The meeting's MLS group moved to `group` (or gained a member): from now on only
    /// frames encrypted for it are forwarded (see [`crate::e2ee_check`]). Ignored for a
    /// meeting with no admitted participant; the server sends it again on each admission.
    pub fn set_group(&mut self, meeting: &MeetingId, group: GroupEpoch, now: Instant) {
        if let Some(room) = self.rooms.get_mut(meeting) {
            room.gate.set_group(group, now);
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> RouterStats {
        let mut stats = self.stats;
        stats.participants_with_media =
            self.participants.values().filter(|p| p.connected).count() as u64;
        stats
    }

    /// Participants with a media session.
    pub fn participants(&self) -> usize {
        self.participants.len()
    }

    /// Gives an admitted participant a media session (no media flows until it offers).
    pub fn add_participant(
        &mut self,
        admission: Admission,
        now: Instant,
    ) -> Result<(), RouterError> {
        let Admission {
            meeting,
            participant,
        } = admission;
        if self.by_id.contains_key(&participant) {
            return Err(RouterError::AlreadyAdded(participant));
        }
        let slot = Slot(self.next_slot);
        self.next_slot += 1;
        let (rtc, ufrag) = self.new_rtc(now);
        self.by_ufrag.insert(ufrag.clone(), slot);
        self.by_id.insert(participant.clone(), slot);
        self.rooms
            .entry(meeting.clone())
            .or_insert_with(|| Room {
                members: Vec::new(),
                speakers: Speakers::default(),
                gate: FrameGate::new(),
            })
            .members
            .push(slot);
        self.participants.insert(
            slot,
            Participant {
                id: participant,
                meeting,
                rtc,
                ufrag,
                next_timeout: now,
                scheduled: Some(now),
                checked_addr: None,
                offered: false,
                connected: false,
                broken: false,
                addrs: Vec::new(),
                pending: None,
                published: Vec::new(),
                ssrcs: HashMap::new(),
                subs: FxHashMap::default(),
                sub_by_mid: FxHashMap::default(),
                estimate_bps: None,
                host_muted: BTreeSet::new(),
                preferences: FxHashMap::default(),
            },
        );
        self.io.timers.push(Reverse((now, slot)));
        Ok(())
    }

    /// Ends a participant's media at once (leave, removal, timeout, end of meeting).
    pub fn remove_participant(&mut self, participant: &ParticipantId, now: Instant) {
        let Some(slot) = self.by_id.remove(participant) else {
            return;
        };
        let Some(p) = self.participants.remove(&slot) else {
            return;
        };
        self.by_ufrag.remove(&p.ufrag);
        for addr in &p.addrs {
            self.io.forget_addr(addr, slot);
        }
        let mut others = Vec::new();
        if let Some(room) = self.rooms.get_mut(&p.meeting) {
            room.members.retain(|m| *m != slot);
            room.speakers.remove(slot, now);
            others = room.members.clone();
            if room.members.is_empty() {
                self.rooms.remove(&p.meeting);
            }
        }
        // Nothing of theirs is forwarded any more (they are no member);
        // the others' m-lines are stopped in the next offer.
        for other in others {
            self.reconcile(other, now);
        }
        self.run(now);
    }

    /// The client's SDP offer (first one, ICE restart, or its own tracks changing).
    pub fn handle_offer(
        &mut self,
        participant: &ParticipantId,
        sdp: &str,
        now: Instant,
    ) -> Result<(), RouterError> {
        check_sdp_size(sdp)?;
        let slot = self.slot(participant)?;
        let offer =
            SdpOffer::from_sdp_string(sdp).map_err(|e| RouterError::BadSdp(e.to_string()))?;
        let p = self.participant_mut(slot)?;
        if let Some(dropped) = p.pending.take() {
            // Glare: the server is the polite peer and rolls its own offer back.
            for key in dropped.added {
                if let Some(sub) = p.subs.remove(&key) {
                    p.sub_by_mid.remove(&sub.mid);
                }
            }
        }
        let answer = p.rtc.sdp_api().accept_offer(offer);
        let result = match answer {
            Ok(answer) => {
                p.offered = true;
                let to = p.id.clone();
                self.io.outputs.push_back(Output::Signal {
                    to,
                    message: ServerMessage::MediaAnswer {
                        sdp: answer.to_sdp_string(),
                    },
                });
                Ok(())
            }
            Err(e) => Err(RouterError::Negotiation(e.to_string())),
        };
        self.drain(slot, now);
        if self
            .participants
            .get(&slot)
            .is_some_and(|p| !p.rtc.is_alive())
        {
            self.reset_session(slot, now);
        }
        self.run(now);
        self.reconcile(slot, now);
        self.run(now);
        result
    }

    /// The client's answer to the server's last `media_offer`.
    pub fn handle_answer(
        &mut self,
        participant: &ParticipantId,
        sdp: &str,
        now: Instant,
    ) -> Result<(), RouterError> {
        check_sdp_size(sdp)?;
        let slot = self.slot(participant)?;
        let answer =
            SdpAnswer::from_sdp_string(sdp).map_err(|e| RouterError::BadSdp(e.to_string()))?;
        let p = self.participant_mut(slot)?;
        let pending = p.pending.take().ok_or(RouterError::NoOfferOutstanding)?;
        let accepted = p.rtc.sdp_api().accept_answer(pending.pending, answer);
        let result = match accepted {
            Ok(()) => {
                for key in &pending.added {
                    if let Some(sub) = p.subs.get_mut(key) {
                        sub.negotiated = true;
                        let kind = match sub.forward {
                            Forwarding::Audio(_) => MediaKind::Audio,
                            Forwarding::Video(_) => MediaKind::Video,
                        };
                        sub.pt = negotiated_pt(&p.rtc, sub.mid, kind);
                        // The publisher paced these packets; pacing them again only adds
                        // delay. str0m's bandwidth estimate (TWCC) still sees every packet,
                        // and layer selection keeps each subscriber's rate under it.
                        if let Some(stream) = p.rtc.direct_api().stream_tx_by_mid(sub.mid, None) {
                            stream.set_unpaced(true);
                        }
                    }
                }
                Ok(())
            }
            Err(e) => {
                for key in &pending.added {
                    if let Some(sub) = p.subs.remove(key) {
                        p.sub_by_mid.remove(&sub.mid);
                    }
                }
                Err(RouterError::Negotiation(e.to_string()))
            }
        };
        self.drain(slot, now);
        self.announce_tracks(slot);
        self.allocate(slot, now);
        self.run(now);
        if result.is_ok() {
            self.reconcile(slot, now);
            self.run(now);
        }
        result
    }

    /// The largest video `subscriber` wants of one of `publisher`'s tracks (0 pauses it).
    pub fn set_video_preference(
        &mut self,
        subscriber: &ParticipantId,
        publisher: &ParticipantId,
        source: MediaSource,
        max_height: u32,
        now: Instant,
    ) -> Result<(), RouterError> {
        let slot = self.slot(subscriber)?;
        let publisher = self.slot(publisher).map_err(|_| RouterError::NoSuchTrack)?;
        let same_room = self
            .participants
            .get(&publisher)
            .zip(self.participants.get(&slot))
            .is_some_and(|(a, b)| a.meeting == b.meeting);
        if !same_room || publisher == slot {
            return Err(RouterError::NoSuchTrack);
        }
        let p = self.participant_mut(slot)?;
        p.preferences
            .insert(TrackKey { publisher, source }, max_height);
        self.allocate(slot, now);
        self.run(now);
        Ok(())
    }

    /// Starts or stops forwarding some of a participant's sources: a host
    /// mute. The participant cannot undo it.
    pub fn set_host_mute(
        &mut self,
        participant: &ParticipantId,
        sources: &[MediaSource],
        muted: bool,
        now: Instant,
    ) -> Result<(), RouterError> {
        let slot = self.slot(participant)?;
        let p = self.participant_mut(slot)?;
        for source in sources {
            if muted {
                p.host_muted.insert(*source);
            } else {
                p.host_muted.remove(source);
            }
        }
        let meeting = p.meeting.clone();
        let members = self
            .rooms
            .get(&meeting)
            .map(|r| r.members.clone())
            .unwrap_or_default();
        for member in members {
            let Some(sub) = self.participants.get_mut(&member) else {
                continue;
            };
            for source in sources {
                if let Some(Subscription {
                    forward: Forwarding::Video(f),
                    ..
                }) = sub.subs.get_mut(&TrackKey {
                    publisher: slot,
                    source: *source,
                }) {
                    // Start again at a keyframe when forwarding resumes.
                    f.restart();
                }
            }
        }
        if muted {
            if let Some(room) = self.rooms.get_mut(&meeting) {
                if sources.contains(&MediaSource::Audio) {
                    room.speakers.remove(slot, now);
                }
            }
        } else {
            for source in sources {
                self.request_keyframes_for_track(slot, *source, now);
            }
        }
        self.run(now);
        Ok(())
    }

    /// A datagram arrived on the media socket from `source`.
    pub fn handle_receive(
        &mut self,
        source: SocketAddr,
        destination: SocketAddr,
        bytes: &[u8],
        now: Instant,
    ) {
        let slot = match self.io.by_addr.get(&source) {
            Some(slot) => *slot,
            None => {
                if demux::classify(bytes) != DatagramKind::Stun {
                    return;
                }
                let Some(slot) =
                    demux::binding_request_ufrag(bytes).and_then(|ufrag| self.by_ufrag.get(ufrag))
                else {
                    return;
                };
                *slot
            }
        };
        let Some(p) = self.participants.get_mut(&slot) else {
            return;
        };
        let Ok(contents) = bytes.try_into() else {
            return;
        };
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source,
                destination,
                contents,
            },
        );
        if let Err(e) = p.rtc.handle_input(input) {
            tracing::debug!(participant = %p.id, error = %e, "media input refused");
        }
        self.drain(slot, now);
        self.run(now);
    }

    /// When [`Router::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Instant {
        // The heap's top may be a superseded entry, earlier than any live
        // one: that costs one early wake-up, in which it is dropped.
        let rtcs = self.io.timers.peek().map(|Reverse((at, _))| *at);
        self.rooms
            .values()
            .filter_map(|r| r.speakers.poll_timeout())
            .chain(rtcs)
            .fold(self.next_tick, Instant::min)
    }

    /// Drives timers: str0m's (ICE, DTLS, RTCP, NACK, pacing), keyframe
    /// requests, layer allocation and active speakers.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut due = std::mem::take(&mut self.due);
        while let Some(Reverse((at, slot))) = self.io.timers.peek().copied() {
            if at > now {
                break;
            }
            self.io.timers.pop();
            let Some(p) = self.participants.get_mut(&slot) else {
                continue;
            };
            if p.scheduled != Some(at) {
                continue;
            }
            if p.next_timeout <= now {
                // `drain` queues the next deadline.
                p.scheduled = None;
                due.push(slot);
            } else {
                // The Rtc moved its deadline later since this entry was queued.
                p.scheduled = Some(p.next_timeout);
                self.io.timers.push(Reverse((p.next_timeout, slot)));
            }
        }
        for slot in due.drain(..) {
            if let Some(p) = self.participants.get_mut(&slot) {
                if let Err(e) = p.rtc.handle_input(Input::Timeout(now)) {
                    tracing::debug!(participant = %p.id, error = %e, "media timeout failed");
                }
            }
            self.drain(slot, now);
        }
        self.due = due;
        self.run(now);
        let mut broken = std::mem::take(&mut self.io.broken);
        broken.sort_unstable();
        broken.dedup();
        for slot in broken {
            let still_broken = self.participants.get(&slot).filter(|p| p.broken);
            if let Some(id) = still_broken.map(|p| p.id.clone()) {
                self.reset_session(slot, now);
                self.io
                    .outputs
                    .push_back(Output::Event(RouterEvent::MediaLost(id)));
            }
        }
        if now >= self.next_tick {
            self.next_tick = now + TICK;
            self.send_deferred_keyframe_requests(now);
        }
        if now >= self.next_allocation {
            self.next_allocation = now + ALLOCATION_INTERVAL;
            self.measure_rates();
            let slots: Vec<Slot> = self.participants.keys().copied().collect();
            for slot in slots {
                self.allocate(slot, now);
            }
        }
        self.announce_speakers(now);
        self.run(now);
    }

    /// The next thing for the shell to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.io.outputs.pop_front()
    }

    fn slot(&self, participant: &ParticipantId) -> Result<Slot, RouterError> {
        self.by_id
            .get(participant)
            .copied()
            .ok_or_else(|| RouterError::UnknownParticipant(participant.clone()))
    }

    fn participant_mut(&mut self, slot: Slot) -> Result<&mut Participant, RouterError> {
        // Every slot in `by_id` has a participant; this only fails on a bug.
        self.participants
            .get_mut(&slot)
            .ok_or(RouterError::NoSuchTrack)
    }

    fn new_rtc(&mut self, now: Instant) -> (Rtc, String) {
        let creds = loop {
            let creds = IceCreds::new();
            if !self.by_ufrag.contains_key(&creds.ufrag) {
                break creds;
            }
        };
        let ufrag = creds.ufrag.clone();
        let mut rtc = RtcConfig::new()
            .set_ice_lite(true)
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp9(true)
            .set_dtls_cert(self.cert.clone())
            .set_local_ice_credentials(creds)
            .enable_bwe(Some(Bitrate::bps(self.config.initial_bitrate_bps)))
            .set_send_buffer_video(SEND_BUFFER_VIDEO)
            .set_stats_interval(None)
            .build(now);
        match Candidate::host(self.config.public_addr, "udp") {
            Ok(candidate) => {
                rtc.add_local_candidate(candidate);
            }
            Err(e) => {
                tracing::error!(error = %e, "the media address is not a usable ICE candidate")
            }
        }
        (rtc, ufrag)
    }

    /// Drains one participant's `Rtc` until it asks for a timeout.
    fn drain(&mut self, slot: Slot, now: Instant) {
        let Some(p) = self.participants.get_mut(&slot) else {
            return;
        };
        drain_rtc(slot, p, &mut self.io, now);
    }

    /// Handles queued str0m events until none are left.
    fn run(&mut self, now: Instant) {
        while let Some((slot, event)) = self.io.work.pop_front() {
            self.on_event(slot, event, now);
        }
    }

    fn on_event(&mut self, slot: Slot, event: Event, now: Instant) {
        match event {
            Event::RtpPacket(packet) => self.forward(slot, packet, now),
            Event::KeyframeRequest(request) => {
                let Some(p) = self.participants.get(&slot) else {
                    return;
                };
                let Some(key) = p.sub_by_mid.get(&request.mid).copied() else {
                    return;
                };
                let encoding = match p.subs.get(&key).map(|s| &s.forward) {
                    Some(Forwarding::Video(f)) => {
                        f.current().or(f.target()).map_or(0, |l| l.encoding)
                    }
                    _ => return,
                };
                self.request_keyframe(key.publisher, key.source, encoding, now);
            }
            Event::EgressBitrateEstimate(BweKind::Twcc { estimate, .. }) => {
                if let Some(p) = self.participants.get_mut(&slot) {
                    p.estimate_bps = Some(estimate.as_u64());
                }
                self.allocate(slot, now);
            }
            Event::MediaAdded(added) => self.on_media_added(slot, added, now),
            Event::MediaChanged(changed) => {
                let Some(p) = self.participants.get_mut(&slot) else {
                    return;
                };
                let published = p.published.iter().position(|t| t.mid == changed.mid);
                match (published, changed.direction.is_receiving()) {
                    (Some(at), false) => {
                        p.published.remove(at);
                        p.ssrcs.clear();
                        self.tracks_changed(slot, now);
                    }
                    (None, true) => {
                        let kind = p.rtc.media(changed.mid).map(|m| m.kind());
                        if let Some(kind) = kind {
                            self.on_media_added(
                                slot,
                                MediaAdded {
                                    mid: changed.mid,
                                    kind,
                                    direction: changed.direction,
                                    simulcast: None,
                                },
                                now,
                            );
                        }
                    }
                    _ => {}
                }
            }
            Event::Connected => {
                if let Some(p) = self.participants.get_mut(&slot) {
                    p.connected = true;
                    self.io
                        .outputs
                        .push_back(Output::Event(RouterEvent::MediaConnected(p.id.clone())));
                }
                self.allocate(slot, now);
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                let lost = self.participants.get(&slot).filter(|p| p.connected);
                if let Some(p) = lost {
                    let id = p.id.clone();
                    self.reset_session(slot, now);
                    self.io
                        .outputs
                        .push_back(Output::Event(RouterEvent::MediaLost(id)));
                }
            }
            _ => {}
        }
    }

    fn on_media_added(&mut self, slot: Slot, added: MediaAdded, now: Instant) {
        let Some(p) = self.participants.get_mut(&slot) else {
            return;
        };
        if !added.direction.is_receiving() || p.published.iter().any(|t| t.mid == added.mid) {
            return;
        }
        // The client's m-lines in order: first audio is the microphone, first
        // video the camera, second video the screen (see `proto` media_offer).
        let taken = |s: MediaSource| p.published.iter().any(|t| t.source == s);
        let source = match added.kind {
            MediaKind::Audio if !taken(MediaSource::Audio) => MediaSource::Audio,
            MediaKind::Video if !taken(MediaSource::Video) => MediaSource::Video,
            MediaKind::Video if !taken(MediaSource::Screen) => MediaSource::Screen,
            _ => return,
        };
        let rids: Vec<Rid> = added
            .simulcast
            .map(|s| if s.send.is_empty() { s.recv } else { s.send })
            .unwrap_or_default()
            .into_iter()
            .map(|layer| layer.rid)
            .collect();
        let encodings = if rids.is_empty() {
            vec![Encoding::new(None)]
        } else {
            rids.into_iter().map(|r| Encoding::new(Some(r))).collect()
        };
        p.published.push(Published {
            mid: added.mid,
            source,
            kind: added.kind,
            encodings,
        });
        self.tracks_changed(slot, now);
    }

    /// A participant's published tracks changed: everyone else renegotiates.
    fn tracks_changed(&mut self, slot: Slot, now: Instant) {
        let Some(meeting) = self.participants.get(&slot).map(|p| p.meeting.clone()) else {
            return;
        };
        let members = self
            .rooms
            .get(&meeting)
            .map(|r| r.members.clone())
            .unwrap_or_default();
        for member in members.into_iter().filter(|m| *m != slot) {
            self.reconcile(member, now);
        }
    }

    /// Brings a subscriber's negotiated tracks in line with what its room
    /// publishes: one server offer at a time.
    fn reconcile(&mut self, slot: Slot, now: Instant) {
        let Some(p) = self.participants.get(&slot) else {
            return;
        };
        if !p.offered || p.pending.is_some() {
            return;
        }
        let members = self
            .rooms
            .get(&p.meeting)
            .map(|r| r.members.as_slice())
            .unwrap_or_default();
        let mut desired: Vec<(TrackKey, MediaKind, ParticipantId)> = Vec::new();
        for member in members.iter().filter(|m| **m != slot) {
            if let Some(publisher) = self.participants.get(member) {
                for track in &publisher.published {
                    let key = TrackKey {
                        publisher: *member,
                        source: track.source,
                    };
                    desired.push((key, track.kind, publisher.id.clone()));
                }
            }
        }
        let Some(p) = self.participants.get_mut(&slot) else {
            return;
        };
        let stale: Vec<TrackKey> = p
            .subs
            .keys()
            .filter(|k| !desired.iter().any(|(d, _, _)| d == *k))
            .copied()
            .collect();
        let fresh: Vec<(TrackKey, MediaKind, ParticipantId)> = desired
            .into_iter()
            .filter(|(k, _, _)| !p.subs.contains_key(k))
            .collect();
        if stale.is_empty() && fresh.is_empty() {
            return;
        }
        let mut api = p.rtc.sdp_api();
        for key in &stale {
            if let Some(sub) = p.subs.remove(key) {
                p.sub_by_mid.remove(&sub.mid);
                api.stop_media(sub.mid);
            }
            p.preferences.remove(key);
        }
        let mut added = Vec::new();
        for (key, kind, publisher) in fresh {
            let mid = api.add_media(
                kind,
                Direction::SendOnly,
                Some(publisher.to_string()),
                Some(source_name(key.source).to_owned()),
                None,
            );
            let forward = match kind {
                MediaKind::Audio => Forwarding::Audio(SeqRewriter::new()),
                MediaKind::Video => Forwarding::Video(VideoForwarder::new()),
            };
            p.subs.insert(
                key,
                Subscription {
                    mid,
                    negotiated: false,
                    pt: None,
                    forward,
                },
            );
            p.sub_by_mid.insert(mid, key);
            added.push(key);
        }
        match api.apply() {
            Some((offer, pending)) => {
                p.pending = Some(PendingOffer { pending, added });
                let to = p.id.clone();
                self.io.outputs.push_back(Output::Signal {
                    to,
                    message: ServerMessage::MediaOffer {
                        sdp: offer.to_sdp_string(),
                    },
                });
                self.drain(slot, now);
            }
            None => {
                self.drain(slot, now);
                self.announce_tracks(slot);
            }
        }
    }

    /// Sends `media_tracks` with every negotiated subscription.
    fn announce_tracks(&mut self, slot: Slot) {
        let Some(p) = self.participants.get(&slot) else {
            return;
        };
        let mut tracks: Vec<TrackInfo> = p
            .subs
            .iter()
            .filter(|(_, s)| s.negotiated)
            .filter_map(|(key, sub)| {
                let publisher = self.participants.get(&key.publisher)?;
                Some(TrackInfo {
                    mid: sub.mid.to_string(),
                    participant_id: publisher.id.clone(),
                    source: key.source,
                })
            })
            .collect();
        tracks.sort_by(|a, b| a.mid.cmp(&b.mid));
        self.io.outputs.push_back(Output::Signal {
            to: p.id.clone(),
            message: ServerMessage::MediaTracks { tracks },
        });
    }

    /// Throws away a participant's `Rtc` (its client vanished or broke the
    /// session) and gives it a fresh one; everyone else drops its tracks.
    fn reset_session(&mut self, slot: Slot, now: Instant) {
        let (rtc, ufrag) = self.new_rtc(now);
        let Some(p) = self.participants.get_mut(&slot) else {
            return;
        };
        self.by_ufrag.remove(&p.ufrag);
        for addr in p.addrs.drain(..) {
            self.io.forget_addr(&addr, slot);
        }
        self.by_ufrag.insert(ufrag.clone(), slot);
        p.rtc = rtc;
        p.ufrag = ufrag;
        p.next_timeout = now;
        p.scheduled = Some(now);
        p.checked_addr = None;
        self.io.timers.push(Reverse((now, slot)));
        p.offered = false;
        p.connected = false;
        p.broken = false;
        p.pending = None;
        p.published.clear();
        p.ssrcs.clear();
        p.subs.clear();
        p.sub_by_mid.clear();
        p.estimate_bps = None;
        let meeting = p.meeting.clone();
        let members = self
            .rooms
            .get_mut(&meeting)
            .map(|r| {
                r.speakers.remove(slot, now);
                r.members.clone()
            })
            .unwrap_or_default();
        for member in members.into_iter().filter(|m| *m != slot) {
            self.reconcile(member, now);
        }
    }

    /// Forwards one RTP packet from `from` to everyone in its room who receives that track.
    fn forward(&mut self, from: Slot, packet: RtpPacket, now: Instant) {
        #[cfg(feature = "tap")]
        if let Some(tap) = &mut self.tap {
            tap.see(&packet.payload);
        }
        let Some(p) = self.participants.get_mut(&from) else {
            return;
        };
        let ssrc = packet.header.ssrc;
        let (track_at, encoding_at) = match p.ssrcs.get(&ssrc) {
            Some(found) => *found,
            None => {
                let Some((mid, rid)) = p
                    .rtc
                    .direct_api()
                    .stream_rx(&ssrc)
                    .map(|s| (s.mid(), s.rid()))
                else {
                    return;
                };
                let Some(track_at) = p.published.iter().position(|t| t.mid == mid) else {
                    return;
                };
                let encoding_at = p.published[track_at]
                    .encodings
                    .iter()
                    .position(|e| e.rid == rid)
                    .unwrap_or(0);
                p.ssrcs.insert(ssrc, (track_at, encoding_at));
                (track_at, encoding_at)
            }
        };
        let Some(track) = p.published.get_mut(track_at) else {
            return;
        };
        let (source, kind) = (track.source, track.kind);
        let descriptor = match kind {
            MediaKind::Video => match vp9::parse(&packet.payload) {
                Ok(d) => Some(d),
                // Not VP9 as we know it: nothing to choose layers by, so nothing goes out.
                Err(_) => return,
            },
            MediaKind::Audio => None,
        };
        if let (Some(d), Some(encoding)) = (&descriptor, track.encodings.get_mut(encoding_at)) {
            let (s, t) = (usize::from(d.spatial), usize::from(d.temporal));
            if s < MAX_LAYER && t < MAX_LAYER {
                encoding.bytes[s][t] += packet.payload.len() as u64;
            }
            encoding.seen = true;
            encoding.max_spatial = encoding.max_spatial.max(d.spatial);
            encoding.max_temporal = encoding.max_temporal.max(d.temporal);
            encoding.last_packet = Some(now);
            if let Some(ss) = &d.scalability {
                if !ss.resolutions.is_empty() {
                    encoding.heights = ss.resolutions.iter().map(|(_, h)| *h).collect();
                }
            }
        }
        let muted = p.host_muted.contains(&source);
        let ext = &packet.header.ext_vals;
        let meeting = p.meeting.clone();
        let Some(room) = self.rooms.get_mut(&meeting) else {
            return;
        };
        // Only end-to-end encrypted frames go out (issue #4): each audio packet and the first
        // packet of each video layer frame is checked; a frame's later packets follow it.
        let frame_start = match &descriptor {
            None => Some(&packet.payload[..]),
            Some(d) if d.begin => Some(packet.payload.get(d.len..).unwrap_or_default()),
            Some(_) => None,
        };
        let verdict = frame_start.map(|frame| room.gate.check(&p.id, frame, now));
        let encoding = track.encodings.get_mut(encoding_at);
        let encrypted = match (&verdict, &descriptor, encoding) {
            (Some(verdict), Some(d), Some(encoding)) => {
                encoding
                    .verdicts
                    .record(packet.header.timestamp, d.spatial, verdict.is_ok());
                verdict.is_ok()
            }
            (Some(verdict), _, _) => verdict.is_ok(),
            (None, Some(d), Some(encoding)) => encoding
                .verdicts
                .of(packet.header.timestamp, d.spatial)
                .is_ok(),
            (None, _, _) => false,
        };
        match verdict {
            Some(Ok(())) => self.stats.e2ee_frames += 1,
            Some(Err(_)) => self.stats.refused_frames += 1,
            None => {}
        }
        let mut allowed = !muted && encrypted;
        if kind == MediaKind::Audio && !muted {
            if let Some(level) = ext.audio_level {
                room.speakers.observe(from, level, ext.voice_activity, now);
            }
            if let Some(n) = self.config.loudest_audio {
                allowed = room.speakers.admitted_audio(from, n, now);
            }
        }
        // Take the member list out so subscribers can be borrowed mutably;
        // nothing below changes membership.
        let members = std::mem::take(&mut room.members);
        let key = TrackKey {
            publisher: from,
            source,
        };
        let exts = ExtensionValues {
            audio_level: ext.audio_level,
            voice_activity: ext.voice_activity,
            video_orientation: ext.video_orientation,
            ..Default::default()
        };
        let seq = *packet.seq_no;
        for member in members.iter().copied().filter(|m| *m != from) {
            let Some(s) = self.participants.get_mut(&member) else {
                continue;
            };
            if !s.connected {
                continue;
            }
            let Some(sub) = s.subs.get_mut(&key).filter(|sub| sub.negotiated) else {
                continue;
            };
            let (out_seq, time, marker) = match (&mut sub.forward, &descriptor) {
                (Forwarding::Audio(rewriter), _) => {
                    if !allowed {
                        rewriter.drop_packet(seq);
                        continue;
                    }
                    match rewriter.forward(seq) {
                        Some(out) => (out, packet.header.timestamp, packet.header.marker),
                        None => continue,
                    }
                }
                (Forwarding::Video(forwarder), Some(d)) => {
                    if !allowed {
                        continue;
                    }
                    match forwarder.on_packet(
                        encoding_at,
                        seq,
                        packet.header.timestamp,
                        packet.header.marker,
                        d,
                        packet.timestamp,
                    ) {
                        Verdict::Forward { seq, time, marker } => (seq, time, marker),
                        Verdict::Drop => continue,
                    }
                }
                (Forwarding::Video(_), None) => continue,
            };
            let (Some(pt), mid) = (sub.pt, sub.mid) else {
                continue;
            };
            let video = kind == MediaKind::Video;
            let mut api = s.rtc.direct_api();
            let Some(stream) = api.stream_tx_by_mid(mid, None) else {
                continue;
            };
            stream.write_rtp(
                RtpWrite::new(
                    pt,
                    out_seq.into(),
                    time,
                    packet.timestamp,
                    packet.payload.clone(),
                )
                .marker(marker)
                .ext_vals(exts.clone())
                .nackable(video),
            );
            self.stats.forwarded_packets += 1;
            self.stats.forwarded_bytes += packet.payload.len() as u64;
            drain_rtc(member, s, &mut self.io, now);
        }
        if let Some(room) = self.rooms.get_mut(&meeting) {
            room.members = members;
        }
    }

    /// Asks a publisher for a keyframe of one encoding, at most once per interval.
    fn request_keyframe(
        &mut self,
        publisher: Slot,
        source: MediaSource,
        encoding: usize,
        now: Instant,
    ) {
        let interval = self.config.keyframe_request_interval;
        let Some(p) = self.participants.get_mut(&publisher) else {
            return;
        };
        if !p.connected {
            return;
        }
        let Some(track) = p.published.iter_mut().find(|t| t.source == source) else {
            return;
        };
        let mid = track.mid;
        let Some(enc) = track.encodings.get_mut(encoding) else {
            return;
        };
        if enc
            .last_keyframe_request
            .is_some_and(|last| now.saturating_duration_since(last) < interval)
        {
            enc.keyframe_deferred = true;
            return;
        }
        enc.last_keyframe_request = Some(now);
        enc.keyframe_deferred = false;
        let rid = enc.rid;
        if let Some(stream) = p.rtc.direct_api().stream_rx_by_mid(mid, rid) {
            stream.request_keyframe(KeyframeRequestKind::Pli);
            self.stats.keyframe_requests += 1;
        }
        self.drain(publisher, now);
    }

    fn request_keyframes_for_track(&mut self, publisher: Slot, source: MediaSource, now: Instant) {
        let count = self
            .participants
            .get(&publisher)
            .and_then(|p| p.published.iter().find(|t| t.source == source))
            .map_or(0, |t| t.encodings.len());
        for encoding in 0..count {
            self.request_keyframe(publisher, source, encoding, now);
        }
    }

    fn send_deferred_keyframe_requests(&mut self, now: Instant) {
        let interval = self.config.keyframe_request_interval;
        let mut due = Vec::new();
        for (slot, p) in &self.participants {
            for track in &p.published {
                for (at, enc) in track.encodings.iter().enumerate() {
                    let ready = enc
                        .last_keyframe_request
                        .is_none_or(|last| now.saturating_duration_since(last) >= interval);
                    if enc.keyframe_deferred && ready {
                        due.push((*slot, track.source, at));
                    }
                }
            }
        }
        for (slot, source, at) in due {
            self.request_keyframe(slot, source, at, now);
        }
    }

    /// Turns the bytes counted since the last measurement into rates.
    fn measure_rates(&mut self) {
        let window = ALLOCATION_INTERVAL.as_secs_f64();
        for p in self.participants.values_mut() {
            for track in &mut p.published {
                for enc in &mut track.encodings {
                    for (bytes_row, bps_row) in enc.bytes.iter_mut().zip(enc.bps.iter_mut()) {
                        for (bytes, bps) in bytes_row.iter_mut().zip(bps_row.iter_mut()) {
                            let fresh = (*bytes as f64 * 8.0 / window) as u64;
                            // Half old, half new: one quiet second does not zero a layer.
                            *bps = (*bps + fresh) / 2;
                            *bytes = 0;
                        }
                    }
                }
            }
        }
    }

    /// Chooses layers for each of a subscriber's video tracks from its
    /// bandwidth estimate and preferences, and asks for keyframes it needs.
    fn allocate(&mut self, slot: Slot, now: Instant) {
        let Some(s) = self.participants.get(&slot) else {
            return;
        };
        let audio = s
            .subs
            .values()
            .filter(|sub| matches!(sub.forward, Forwarding::Audio(_)))
            .count() as u64;
        let budget = s.estimate_bps.map(|e| e.saturating_sub(audio * AUDIO_BPS));
        let mut video: Vec<(TrackKey, Vec<(Layers, u64)>)> = Vec::new();
        for (key, sub) in &s.subs {
            if !matches!(sub.forward, Forwarding::Video(_)) {
                continue;
            }
            let max_height = s.preferences.get(key).copied().unwrap_or(u32::MAX);
            let options = self
                .participants
                .get(&key.publisher)
                .and_then(|p| p.published.iter().find(|t| t.source == key.source))
                .map(|track| layer_options(track, max_height, now))
                .unwrap_or_default();
            video.push((*key, options));
        }
        // Screens first: they carry text that must stay readable.
        video.sort_by_key(|(k, _)| (k.source != MediaSource::Screen, k.publisher));
        let mut chosen: Vec<(TrackKey, Option<Layers>)> = Vec::new();
        match budget {
            None => {
                for (key, options) in &video {
                    chosen.push((*key, options.last().map(|(l, _)| *l)));
                }
            }
            Some(budget) => {
                let share = budget / (video.len().max(1) as u64);
                let mut spent = 0;
                let mut picks: Vec<usize> = Vec::new();
                for (_, options) in &video {
                    let pick = options
                        .iter()
                        .rposition(|(_, rate)| *rate <= share)
                        .unwrap_or(0);
                    spent += options.get(pick).map_or(0, |(_, r)| *r);
                    picks.push(pick);
                }
                // Hand what is left to the first tracks that can use it.
                for ((_, options), pick) in video.iter().zip(picks.iter_mut()) {
                    let current = options.get(*pick).map_or(0, |(_, r)| *r);
                    let room = budget.saturating_sub(spent) + current;
                    if let Some(better) = options.iter().rposition(|(_, rate)| *rate <= room) {
                        if better > *pick {
                            spent = spent - current + options[better].1;
                            *pick = better;
                        }
                    }
                }
                for ((key, options), pick) in video.iter().zip(picks) {
                    chosen.push((*key, options.get(pick).map(|(l, _)| *l)));
                }
            }
        }
        let desired = audio * AUDIO_BPS
            + video
                .iter()
                .map(|(_, options)| options.last().map_or(0, |(_, r)| *r))
                .sum::<u64>();
        let Some(s) = self.participants.get_mut(&slot) else {
            return;
        };
        let mut keyframes = Vec::new();
        for (key, target) in chosen {
            if let Some(Subscription {
                forward: Forwarding::Video(f),
                negotiated: true,
                ..
            }) = s.subs.get_mut(&key)
            {
                f.set_target(target);
                if let Some(encoding) = f.wants_keyframe() {
                    keyframes.push((key, encoding));
                }
            }
        }
        if s.connected && desired > 0 {
            s.rtc
                .bwe()
                .set_bitrate(Bitrate::bps(0), Bitrate::bps(desired));
            self.drain(slot, now);
        }
        if self.participants.get(&slot).is_some_and(|s| s.connected) {
            for (key, encoding) in keyframes {
                self.request_keyframe(key.publisher, key.source, encoding, now);
            }
        }
    }

    fn announce_speakers(&mut self, now: Instant) {
        for room in self.rooms.values_mut() {
            let Some(ranking) = room.speakers.decide(now) else {
                continue;
            };
            let participant_ids: Vec<ParticipantId> = ranking
                .iter()
                .filter_map(|slot| self.participants.get(slot).map(|p| p.id.clone()))
                .collect();
            for member in &room.members {
                if let Some(p) = self.participants.get(member) {
                    self.io.outputs.push_back(Output::Signal {
                        to: p.id.clone(),
                        message: ServerMessage::ActiveSpeakers {
                            participant_ids: participant_ids.clone(),
                        },
                    });
                }
            }
        }
    }
}

/// The layer choices of a published video track, cheapest first, within `max_height`.
fn layer_options(track: &Published, max_height: u32, now: Instant) -> Vec<(Layers, u64)> {
    if max_height == 0 {
        return Vec::new();
    }
    let mut options = Vec::new();
    let live = |e: &Encoding| {
        e.seen
            && e.last_packet
                .is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(2))
    };
    for (at, enc) in track.encodings.iter().enumerate() {
        if !live(enc) {
            continue;
        }
        for spatial in 0..=enc.max_spatial.min(MAX_LAYER as u8 - 1) {
            if enc
                .height(spatial)
                .is_some_and(|h| u32::from(h) > max_height)
                && spatial > 0
            {
                break;
            }
            for temporal in 0..=enc.max_temporal.min(MAX_LAYER as u8 - 1) {
                let layers = Layers {
                    encoding: at,
                    spatial,
                    temporal,
                };
                options.push((layers, enc.rate(spatial, temporal)));
            }
        }
    }
    if options.is_empty() {
        // Nothing measured yet: aim at the top and let the first keyframe decide.
        let top = track.encodings.len().saturating_sub(1);
        let fits = max_height >= 720;
        options.push((
            Layers {
                encoding: if fits { top } else { 0 },
                spatial: if fits { MAX_LAYER as u8 - 1 } else { 0 },
                temporal: MAX_LAYER as u8 - 1,
            },
            0,
        ));
    }
    options.sort_by_key(|(layers, rate)| (*rate, layers.encoding, layers.spatial, layers.temporal));
    options
}

/// Pulls everything out of one `Rtc` until it asks for a timeout, and
/// queues that deadline.
///
/// str0m's pacer hands out one queued packet per timeout and then asks for
/// the next one a microsecond later. Waiting for the router's next
/// `handle_timeout` for each packet cost a trip through the shell per packet
/// and, under load, queued packets for seconds; so timeouts that fall within
/// [`CATCH_UP_SLACK`] of `now` are fed back here at once (at most
/// [`MAX_CATCH_UP`] per drain). Forwarded media is unpaced (set when a
/// subscription is negotiated, in `Router::handle_answer`), so this releases
/// what is queued without waiting on a pacing budget.
fn drain_rtc(slot: Slot, p: &mut Participant, io: &mut RouterIo, now: Instant) {
    let mut caught_up = 0;
    loop {
        match p.rtc.poll_output() {
            Ok(str0m::Output::Timeout(at))
                if at <= now + CATCH_UP_SLACK && caught_up < MAX_CATCH_UP =>
            {
                caught_up += 1;
                if let Err(e) = p.rtc.handle_input(Input::Timeout(at.max(now))) {
                    tracing::debug!(participant = %p.id, error = %e, "media timeout failed");
                }
            }
            Ok(str0m::Output::Timeout(at)) => {
                p.next_timeout = at;
                if p.scheduled.is_none_or(|queued| at < queued) {
                    p.scheduled = Some(at);
                    io.timers.push(Reverse((at, slot)));
                }
                return;
            }
            Ok(str0m::Output::Transmit(transmit)) => {
                let destination = transmit.destination;
                if p.checked_addr != Some((destination, io.addr_epoch)) {
                    claim_addr(slot, p, io, destination);
                }
                io.outputs.push_back(Output::Transmit(Datagram {
                    destination: PeerAddr(destination),
                    contents: transmit.contents.into(),
                }));
            }
            Ok(str0m::Output::Event(event)) => io.work.push_back((slot, event)),
            Err(e) => {
                tracing::debug!(participant = %p.id, error = %e, "media session failed");
                // The next handle_timeout replaces the session.
                p.broken = true;
                io.broken.push(slot);
                if p.scheduled.is_none_or(|queued| now < queued) {
                    p.scheduled = Some(now);
                    io.timers.push(Reverse((now, slot)));
                }
                return;
            }
        }
    }
}

/// Routes datagrams from `destination` to `slot`. str0m only answers a
/// binding request whose integrity checked, so an address it sends to has
/// proven it belongs to this participant.
fn claim_addr(slot: Slot, p: &mut Participant, io: &mut RouterIo, destination: SocketAddr) {
    if io.by_addr.get(&destination) != Some(&slot) {
        io.by_addr.insert(destination, slot);
        io.addr_epoch += 1;
        if !p.addrs.contains(&destination) {
            if p.addrs.len() == MAX_ADDRS {
                let old = p.addrs.remove(0);
                io.forget_addr(&old, slot);
            }
            p.addrs.push(destination);
        }
    }
    p.checked_addr = Some((destination, io.addr_epoch));
}

/// The payload type this side sends `kind` with on `mid`.
fn negotiated_pt(rtc: &Rtc, mid: Mid, kind: MediaKind) -> Option<Pt> {
    let codec = match kind {
        MediaKind::Audio => Codec::Opus,
        MediaKind::Video => Codec::Vp9,
    };
    let wanted = |pt: &Pt| {
        rtc.codec_config()
            .find(|p| p.pt() == *pt && p.spec().codec == codec)
            .is_some()
    };
    match rtc.media(mid) {
        Some(media) if !media.remote_pts().is_empty() => {
            media.remote_pts().iter().copied().find(|pt| wanted(pt))
        }
        _ => rtc
            .codec_config()
            .find(|p| p.spec().codec == codec)
            .map(|p| p.pt()),
    }
}

fn check_sdp_size(sdp: &str) -> Result<(), RouterError> {
    if sdp.len() > MAX_SDP_BYTES {
        return Err(RouterError::SdpTooLarge {
            got: sdp.len(),
            limit: MAX_SDP_BYTES,
        });
    }
    Ok(())
}

fn source_name(source: MediaSource) -> &'static str {
    match source {
        MediaSource::Audio => "audio",
        MediaSource::Video => "video",
        MediaSource::Screen => "screen",
    }
}
