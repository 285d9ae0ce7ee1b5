//! The client's whole media path (SDP, ICE, DTLS-SRTP, RTP mode, NACK/RTX,
//! PLI) against a plain str0m peer that reflects each received packet back
//! on a track of its own, the way an SFU forwards. Sans-IO and on simulated
//! time: datagrams are handed across in memory, so the run is exact and
//! fast. The same client runs against the real SFU in the conclave crate's
//! media tests.
//!
//! Every frame is SFrame-encrypted by the client's own MLS membership (a group of one): the
//! reflector checks that no packet it forwards carries the plaintext marker.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use client::media::impair::RandomLoss;
use client::media::payload::PLAINTEXT_MARKER;
use client::media::session::{MediaConfig, MediaSession, Poll};
use client::membership::{Membership, Output as MlsOutput};
use e2ee::identity::IdentityKeyPair;
use proto::ids::ParticipantId;
use proto::signaling::ServerMessage;
use proto::signaling::{MediaSource, TrackInfo};
use rand::rngs::StdRng;
use rand::SeedableRng;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::format::Codec;
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Candidate, Event, Input, Output, Rtc};

const CLIENT: &str = "127.0.0.1:40000";
const REFLECTOR: &str = "127.0.0.1:40001";
const STEP: Duration = Duration::from_millis(1);

struct Reflector {
    rtc: Rtc,
    /// Client's send mid -> (our send mid, next sequence number).
    routes: HashMap<Mid, (Mid, u64)>,
    /// Our send mid -> client's send mid, for keyframe requests.
    back: HashMap<Mid, Mid>,
    /// Packets forwarded, and how many of them showed the plaintext marker.
    forwarded: u64,
    clear: u64,
}

impl Reflector {
    fn new(now: Instant) -> Self {
        let mut rtc = Rtc::builder()
            .set_ice_lite(true)
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp9(true)
            .build(now);
        rtc.add_local_candidate(Candidate::host(REFLECTOR.parse().unwrap(), "udp").unwrap());
        Reflector {
            rtc,
            routes: HashMap::new(),
            back: HashMap::new(),
            forwarded: 0,
            clear: 0,
        }
    }

    fn forward(&mut self, packet: str0m::rtp::RtpPacket) {
        self.forwarded += 1;
        if packet
            .payload
            .windows(PLAINTEXT_MARKER.len())
            .any(|w| w == PLAINTEXT_MARKER)
        {
            self.clear += 1;
        }
        let mut api = self.rtc.direct_api();
        let Some(in_mid) = api.stream_rx(&packet.header.ssrc).map(|s| s.mid()) else {
            return;
        };
        let Some((out_mid, seq)) = self.routes.get_mut(&in_mid) else {
            return;
        };
        let video = self
            .rtc
            .media(*out_mid)
            .is_some_and(|m| m.kind() == MediaKind::Video);
        let codec = if video { Codec::Vp9 } else { Codec::Opus };
        let pt = {
            let media = self.rtc.media(*out_mid).unwrap();
            let params = self.rtc.codec_config().params();
            *media
                .remote_pts()
                .iter()
                .find(|pt| {
                    params
                        .iter()
                        .any(|p| p.pt() == **pt && p.spec().codec == codec)
                })
                .unwrap()
        };
        let mut api = self.rtc.direct_api();
        let stream = api.stream_tx_by_mid(*out_mid, None).unwrap();
        stream.write_rtp(
            RtpWrite::new(
                pt,
                SeqNo::from(*seq),
                packet.header.timestamp,
                packet.timestamp,
                packet.payload.to_vec(),
            )
            .marker(packet.header.marker)
            .ext_vals(packet.header.ext_vals.clone())
            .nackable(video),
        );
        *seq += 1;
    }

    fn keyframe_request(&mut self, out_mid: Mid) {
        if let Some(in_mid) = self.back.get(&out_mid) {
            if let Some(rx) = self.rtc.direct_api().stream_rx_by_mid(*in_mid, None) {
                rx.request_keyframe(KeyframeRequestKind::Pli);
            }
        }
    }
}

struct Run {
    now: Instant,
    client: MediaSession,
    cipher: Membership,
    reflector: Reflector,
    me: ParticipantId,
    /// Loss on the reflector -> client path.
    loss: Option<RandomLoss>,
}

impl Run {
    fn new(publish: Vec<MediaSource>, loss: Option<f64>) -> Run {
        let now = Instant::now();
        let me: ParticipantId = "Zm9vYmFyYmF6".parse().unwrap();
        let config = MediaConfig {
            publish: publish.clone(),
            ..MediaConfig::default()
        };
        let mut client =
            MediaSession::new(config, &me, CLIENT.parse().unwrap(), now, SystemTime::now())
                .unwrap();
        let mut reflector = Reflector::new(now);
        let keys = IdentityKeyPair::generate(&mut rand::thread_rng());
        let mut cipher = Membership::new(
            me.clone(),
            None,
            "reflector-meeting",
            &keys,
            StdRng::seed_from_u64(7),
        )
        .unwrap();
        let server_key = IdentityKeyPair::generate(&mut rand::thread_rng()).public();
        cipher.handle(
            ServerMessage::MlsCreate {
                group_id: b"reflector-meeting".to_vec().into(),
                server_key: server_key.as_bytes().to_vec().into(),
            },
            now,
        );
        let mut epoch = None;
        while let Some(output) = cipher.poll_output() {
            if let MlsOutput::Epoch(info) = output {
                epoch = Some(info.epoch);
            }
        }
        assert_eq!(epoch, Some(0), "the group of one did not start");

        // The client offers its send tracks; the reflector answers.
        let offer = client.create_offer(now).unwrap();
        let answer = reflector
            .rtc
            .sdp_api()
            .accept_offer(SdpOffer::from_sdp_string(&offer).unwrap())
            .unwrap();
        client.accept_answer(&answer.to_sdp_string()).unwrap();

        // The reflector offers one send track per received one, in the
        // order of the client's m-lines (which follow `publish`).
        let client_mids: Vec<Mid> = offer
            .lines()
            .filter_map(|l| l.strip_prefix("a=mid:"))
            .map(|m| Mid::from(m.trim()))
            .collect();
        assert_eq!(client_mids.len(), publish.len());
        let mut change = reflector.rtc.sdp_api();
        let mut tracks = Vec::new();
        let mut pending_routes = Vec::new();
        for (source, in_mid) in publish.iter().zip(&client_mids) {
            let kind = if *source == MediaSource::Audio {
                MediaKind::Audio
            } else {
                MediaKind::Video
            };
            let out_mid = change.add_media(kind, Direction::SendOnly, None, None, None);
            pending_routes.push((*in_mid, out_mid));
            tracks.push(TrackInfo {
                mid: out_mid.to_string(),
                participant_id: me.clone(),
                source: *source,
            });
        }
        let (offer, pending) = change.apply().unwrap();
        let answer = client.accept_offer(&offer.to_sdp_string()).unwrap();
        reflector
            .rtc
            .sdp_api()
            .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
            .unwrap();
        for (in_mid, out_mid) in pending_routes {
            reflector.routes.insert(in_mid, (out_mid, 1));
            reflector.back.insert(out_mid, in_mid);
        }
        client.set_tracks(tracks);
        Run {
            now,
            client,
            cipher,
            reflector,
            me,
            loss: loss.map(|p| RandomLoss::new(p, 7)),
        }
    }

    fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        let client_addr: SocketAddr = CLIENT.parse().unwrap();
        while self.now < end {
            self.client
                .handle_timeout(self.now, &mut self.cipher)
                .unwrap();
            self.reflector
                .rtc
                .handle_input(Input::Timeout(self.now))
                .unwrap();
            self.drain_reflector();
            // Exchange until both sides are quiet for this instant.
            for _ in 0..10_000 {
                let mut inbound = Vec::new();
                while let Poll::Transmit { contents, .. } = self.client.poll(self.now).unwrap() {
                    inbound.push(contents);
                }
                if inbound.is_empty() {
                    break;
                }
                for contents in inbound {
                    let receive = Receive::new(
                        Protocol::Udp,
                        client_addr,
                        REFLECTOR.parse().unwrap(),
                        &contents,
                    )
                    .unwrap();
                    self.reflector
                        .rtc
                        .handle_input(Input::Receive(self.now, receive))
                        .unwrap();
                    // str0m in RTP mode holds one received packet per poll: drain after each.
                    self.drain_reflector();
                }
            }
            self.now += STEP;
        }
    }

    /// Polls the reflector until it wants time to pass: its datagrams go to
    /// the client (through the loss, if any), its packets are forwarded.
    fn drain_reflector(&mut self) {
        let reflector_addr: SocketAddr = REFLECTOR.parse().unwrap();
        loop {
            match self.reflector.rtc.poll_output().unwrap() {
                Output::Transmit(t) => {
                    let contents: Vec<u8> = t.contents.into();
                    if self.loss.as_mut().is_some_and(|l| l.drops(&contents)) {
                        continue;
                    }
                    self.client
                        .handle_datagram(self.now, reflector_addr, &contents, &mut self.cipher)
                        .unwrap();
                }
                Output::Event(Event::RtpPacket(packet)) => self.reflector.forward(packet),
                Output::Event(Event::KeyframeRequest(request)) => {
                    self.reflector.keyframe_request(request.mid);
                }
                Output::Event(_) => {}
                Output::Timeout(_) => break,
            }
        }
    }
}

#[test]
fn audio_and_video_come_back_intact_in_order() {
    let mut run = Run::new(vec![MediaSource::Audio, MediaSource::Video], None);
    run.run_for(Duration::from_secs(3));
    let report = run.client.report();
    assert!(report.connected_at.is_some(), "ICE/DTLS never came up");
    let peer = &report.peers[&run.me];
    for source in [MediaSource::Audio, MediaSource::Video] {
        let stats = &peer.sources[&source];
        assert!(stats.intact(), "{source:?}: {stats:?}");
        assert_eq!(stats.first_frame_keyframe, Some(true), "{source:?}");
    }
    let audio = &peer.sources[&MediaSource::Audio];
    let video = &peer.sources[&MediaSource::Video];
    // ~3 s less the handshake: 20 ms audio frames, 30 fps x 3 layers of video.
    assert!(audio.frames > 100, "{} audio frames", audio.frames);
    assert!(video.frames > 150, "{} video frames", video.frames);
    assert!(video.frames_by_spatial.iter().all(|n| *n > 40));
    assert_eq!(report.unattributed_frames, 0);
    assert_eq!(
        peer.undecryptable_frames, 0,
        "{:?}",
        peer.last_undecryptable
    );
    assert_eq!(peer.decrypted_frames, audio.frames + video.frames);
    assert!(run.reflector.forwarded > 300);
    assert_eq!(run.reflector.clear, 0, "plaintext frames on the wire");
}

#[test]
fn five_percent_loss_is_repaired_by_nack_and_rtx() {
    let mut run = Run::new(vec![MediaSource::Audio, MediaSource::Video], Some(0.05));
    run.run_for(Duration::from_secs(4));
    let report = run.client.report();
    let video = &report.peers[&run.me].sources[&MediaSource::Video];
    assert!(run.loss.as_ref().unwrap().dropped() > 50);
    assert!(video.frames > 200, "{} video frames", video.frames);
    assert_eq!(video.lost_packets, 0, "{video:?}");
    assert_eq!(video.corrupt, 0);
    assert_eq!(video.out_of_order, 0);
    assert_eq!(video.incomplete_frames, 0);
}

#[test]
fn a_screen_track_travels_beside_the_camera() {
    let mut run = Run::new(
        vec![MediaSource::Audio, MediaSource::Video, MediaSource::Screen],
        None,
    );
    run.run_for(Duration::from_secs(2));
    let report = run.client.report();
    let peer = &report.peers[&run.me];
    assert!(peer.sources[&MediaSource::Screen].intact());
    assert!(peer.sources[&MediaSource::Video].intact());
}
