//! The router with real str0m peers in memory on a deterministic clock.
#![allow(clippy::unwrap_used)]

mod net;

use std::time::Duration;

use net::{pid, Net, Received, SFRAME_HEADER_LEN};
use proto::signaling::MediaSource;
use sfu::RouterError;

/// Two publishers, one listener, all connected and flowing.
fn meeting() -> Net {
    let mut net = Net::new(|c| c);
    net.admit(1);
    net.admit(2);
    net.admit(3);
    net.offer(0, true);
    net.offer(1, true);
    net.offer(2, false);
    assert!(net.run_until(Duration::from_secs(3), |n| n
        .peers
        .iter()
        .all(|p| p.connected)));
    net
}

fn on_mid(net: &Net, subscriber: u8, publisher: u8, source: MediaSource) -> Vec<&Received> {
    let mid = net.mid_of(subscriber, publisher, source).unwrap();
    net.peer(subscriber)
        .received
        .iter()
        .filter(|r| r.mid == mid)
        .collect()
}

fn picture_of(payload: &[u8]) -> (u64, u8) {
    let d = sfu::vp9::parse(payload).unwrap();
    let skip = if d.begin { SFRAME_HEADER_LEN } else { 0 };
    let body = &payload[d.len + skip..];
    (u64::from_be_bytes(body[..8].try_into().unwrap()), body[8])
}

#[test]
fn everyone_receives_everyone_else_intact_and_in_order() {
    let mut net = meeting();
    net.run_for(Duration::from_secs(2));
    for subscriber in 1..=3u8 {
        let tracks = &net.peer(subscriber).tracks;
        let others = (1..=2u8).filter(|p| *p != subscriber).count();
        assert_eq!(
            tracks.len(),
            others * 2,
            "tracks of {subscriber}: {tracks:?}"
        );
        for publisher in (1..=2u8).filter(|p| *p != subscriber) {
            let audio = on_mid(&net, subscriber, publisher, MediaSource::Audio);
            assert!(
                audio.len() > 50,
                "{subscriber} got {} audio packets of {publisher}",
                audio.len()
            );
            let numbers: Vec<u64> = audio
                .iter()
                .map(|r| {
                    let body = &r.payload[SFRAME_HEADER_LEN..];
                    u64::from_be_bytes(body[..8].try_into().unwrap())
                })
                .collect();
            assert!(
                numbers.windows(2).all(|w| w[1] == w[0] + 1),
                "audio in order, no loss"
            );
            assert!(audio.iter().all(|r| r.payload[SFRAME_HEADER_LEN + 8..]
                .iter()
                .all(|b| *b == 0xa0)));
            let video = on_mid(&net, subscriber, publisher, MediaSource::Video);
            assert!(video.len() > 50);
            let first = sfu::vp9::parse(&video[0].payload).unwrap();
            assert!(
                first.starts_keyframe(),
                "a subscriber's first video is a keyframe"
            );
            assert!(
                video.windows(2).all(|w| w[1].seq == w[0].seq + 1),
                "contiguous"
            );
        }
    }
    assert!(net.router.stats().forwarded_packets > 500);
    assert_eq!(net.router.stats().participants_with_media, 3);
}

#[test]
fn a_participant_without_admission_gets_no_media_session() {
    let mut net = Net::new(|c| c);
    let err = net
        .router
        .handle_offer(&pid(9), "v=0\r\n", net.now)
        .unwrap_err();
    assert_eq!(err, RouterError::UnknownParticipant(pid(9)));
    let huge = "x".repeat(proto::signaling::MAX_SDP_BYTES + 1);
    net.admit(1);
    assert!(matches!(
        net.router.handle_offer(&pid(1), &huge, net.now),
        Err(RouterError::SdpTooLarge { .. })
    ));
    assert!(matches!(
        net.router.handle_offer(&pid(1), "not sdp", net.now),
        Err(RouterError::BadSdp(_))
    ));
    assert!(net
        .router
        .handle_answer(&pid(1), "v=0\r\n", net.now)
        .is_err());
}

#[test]
fn layers_follow_the_preference_and_switch_up_only_at_a_keyframe() {
    let mut net = meeting();
    net.run_for(Duration::from_millis(500));
    let (sub, publisher) = (3u8, 1u8);
    net.router
        .set_video_preference(&pid(sub), &pid(publisher), MediaSource::Video, 180, net.now)
        .unwrap();
    net.run_for(Duration::from_millis(300));
    let mark = net.peer(sub).received.len();
    net.run_for(Duration::from_secs(1));
    let mid = net.mid_of(sub, publisher, MediaSource::Video).unwrap();
    let low: Vec<&Received> = net.peer(sub).received[mark..]
        .iter()
        .filter(|r| r.mid == mid)
        .collect();
    assert!(!low.is_empty());
    assert!(
        low.iter().all(|r| picture_of(&r.payload).1 == 0),
        "only the 180p layer"
    );
    assert!(
        low.iter().filter(|r| r.marker).count() >= 20,
        "marker on the top forwarded layer"
    );
    // Raise the preference: the switch waits for a keyframe (asked for by the router).
    let requests_before = net.peer(publisher).keyframe_requests;
    net.router
        .set_video_preference(&pid(sub), &pid(publisher), MediaSource::Video, 720, net.now)
        .unwrap();
    let mark = net.peer(sub).received.len();
    net.run_for(Duration::from_secs(1));
    assert!(net.peer(publisher).keyframe_requests > requests_before);
    let after: Vec<&Received> = net.peer(sub).received[mark..]
        .iter()
        .filter(|r| r.mid == mid)
        .collect();
    let first_high = after
        .iter()
        .position(|r| picture_of(&r.payload).1 == 2)
        .expect("the 720p layer comes back");
    let switch = sfu::vp9::parse(&after[first_high].payload).unwrap();
    assert!(!switch.inter_picture, "switched up at a keyframe");
    let all: Vec<&Received> = on_mid(&net, sub, publisher, MediaSource::Video);
    assert!(
        all.windows(2).all(|w| w[1].seq == w[0].seq + 1),
        "contiguous across switches"
    );
}

#[test]
fn keyframe_requests_to_a_publisher_are_rate_limited() {
    let mut net = meeting();
    net.run_for(Duration::from_millis(500));
    let before = net.peer(1).keyframe_requests;
    let mid = net.mid_of(3, 1, MediaSource::Video).unwrap();
    for _ in 0..40 {
        net.request_keyframe(3, mid);
        net.run_for(Duration::from_millis(25));
    }
    // 1 s of requests every 25 ms; the router lets one through per 500 ms.
    let sent = net.peer(1).keyframe_requests - before;
    assert!(
        (1..=3).contains(&sent),
        "{sent} keyframe requests reached the publisher"
    );
}

#[test]
fn nack_repairs_loss_on_one_subscribers_path_only() {
    let mut net = meeting();
    net.run_for(Duration::from_millis(500));
    net.peer_mut(3).loss_per_mille = 50;
    let mark3 = net.peer(3).received.len();
    let mark2 = net.peer(2).received.len();
    net.run_for(Duration::from_secs(3));
    net.peer_mut(3).loss_per_mille = 0;
    net.run_for(Duration::from_millis(500));
    assert!(net.peer(3).lost > 20, "loss was injected");
    let mid = net.mid_of(3, 1, MediaSource::Video).unwrap();
    let mut seqs: Vec<u64> = net.peer(3).received[mark3..]
        .iter()
        .filter(|r| r.mid == mid)
        .map(|r| r.seq)
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    let span = seqs.last().unwrap() - seqs.first().unwrap() + 1;
    assert_eq!(
        seqs.len() as u64,
        span,
        "every lost video packet was repaired"
    );
    let clean = net.peer(2).received[mark2..].len();
    assert!(clean > 100, "the other subscriber kept receiving");
}

#[test]
fn the_loudest_speaker_is_announced() {
    let mut net = meeting();
    net.peer_mut(1).audio_level = -10;
    net.peer_mut(2).audio_level = -90;
    net.run_for(Duration::from_secs(1));
    let last = net.peer(3).speakers.last().cloned().unwrap();
    assert_eq!(last, vec![pid(1)]);
    net.peer_mut(1).audio_level = -100;
    net.peer_mut(2).audio_level = -5;
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.peer(3).speakers.last().cloned().unwrap(), vec![pid(2)]);
}

#[test]
fn only_the_loudest_audio_is_forwarded_when_asked() {
    let mut net = Net::new(|mut c| {
        c.loudest_audio = Some(1);
        c
    });
    net.admit(1);
    net.admit(2);
    net.admit(3);
    net.offer(0, true);
    net.offer(1, true);
    net.offer(2, false);
    assert!(net.run_until(Duration::from_secs(3), |n| n
        .peers
        .iter()
        .all(|p| p.connected)));
    net.peer_mut(1).audio_level = -10;
    net.peer_mut(2).audio_level = -60;
    net.run_for(Duration::from_millis(500));
    let mark = net.peer(3).received.len();
    net.run_for(Duration::from_secs(1));
    let quiet = net.mid_of(3, 2, MediaSource::Audio).unwrap();
    let loud = net.mid_of(3, 1, MediaSource::Audio).unwrap();
    let got = |mid| {
        net.peer(3).received[mark..]
            .iter()
            .filter(|r| r.mid == mid)
            .count()
    };
    assert!(got(loud) > 40);
    assert_eq!(got(quiet), 0);
}

#[test]
fn a_host_mute_stops_forwarding_until_lifted() {
    let mut net = meeting();
    net.run_for(Duration::from_millis(500));
    net.router
        .set_host_mute(
            &pid(1),
            &[MediaSource::Audio, MediaSource::Video],
            true,
            net.now,
        )
        .unwrap();
    let mark = net.peer(3).received.len();
    net.run_for(Duration::from_secs(1));
    let audio = net.mid_of(3, 1, MediaSource::Audio).unwrap();
    let video = net.mid_of(3, 1, MediaSource::Video).unwrap();
    let from_1 = |net: &Net, from: usize| {
        net.peer(3).received[from..]
            .iter()
            .filter(|r| r.mid == audio || r.mid == video)
            .count()
    };
    assert_eq!(
        from_1(&net, mark),
        0,
        "nothing of a muted participant is forwarded"
    );
    assert!(net.peer(3).received.len() > mark, "others still flow");
    net.router
        .set_host_mute(
            &pid(1),
            &[MediaSource::Audio, MediaSource::Video],
            false,
            net.now,
        )
        .unwrap();
    let mark = net.peer(3).received.len();
    net.run_for(Duration::from_secs(1));
    assert!(from_1(&net, mark) > 40);
    let first_video = net.peer(3).received[mark..]
        .iter()
        .find(|r| r.mid == video)
        .unwrap();
    assert!(sfu::vp9::parse(&first_video.payload)
        .unwrap()
        .starts_keyframe());
    let all_audio = on_mid(&net, 3, 1, MediaSource::Audio);
    assert!(
        all_audio.windows(2).all(|w| w[1].seq == w[0].seq + 1),
        "no gap for the mute"
    );
}

#[test]
fn a_removed_participant_stops_at_once_and_others_renegotiate() {
    let mut net = meeting();
    net.run_for(Duration::from_millis(500));
    net.router.remove_participant(&pid(1), net.now);
    net.settle();
    let mark = net.peer(3).received.len();
    let stale_mids: Vec<_> = [MediaSource::Audio, MediaSource::Video]
        .iter()
        .filter_map(|s| {
            net.peer(3)
                .tracks
                .iter()
                .find(|t| t.participant_id == pid(1) && t.source == *s)
        })
        .map(|t| str0m::media::Mid::from(t.mid.as_str()))
        .collect();
    assert!(
        stale_mids.is_empty(),
        "tracks of the removed participant are withdrawn"
    );
    net.run_for(Duration::from_millis(500));
    let from_removed = net.peer(3).received[mark..]
        .iter()
        .filter(|r| picture_or_audio_from(r, &net, 1))
        .count();
    assert_eq!(from_removed, 0);
    assert!(
        net.peer(3).received.len() > mark,
        "the other publisher still flows"
    );
    assert!(net.router.handle_offer(&pid(1), "v=0", net.now).is_err());
}

fn picture_or_audio_from(r: &Received, net: &Net, publisher: u8) -> bool {
    net.peer(3).tracks.iter().any(|t| {
        t.participant_id == pid(publisher) && str0m::media::Mid::from(t.mid.as_str()) == r.mid
    })
}

#[test]
fn a_vanished_client_is_dropped_after_ice_consent_lapses() {
    let mut net = meeting();
    net.run_for(Duration::from_millis(500));
    // Peer 1 goes silent: its datagrams never reach the router again.
    let gone = net.peers.remove(0);
    let ok = net.run_until(Duration::from_secs(30), |n| {
        n.events.contains(&sfu::RouterEvent::MediaLost(pid(1)))
    });
    assert!(ok, "media lost within 30 s");
    assert!(net
        .peer(3)
        .tracks
        .iter()
        .all(|t| t.participant_id != gone.id));
}

/// The E2EE gate (issue #4): a publisher whose frames carry no SFrame header, or whose KIDs
/// name another member's leaf, reaches no one, while the others flow; the router counts
/// both kinds of frames.
#[test]
fn frames_that_are_not_end_to_end_encrypted_are_refused() {
    let mut net = meeting();
    net.peer_mut(1).kid_leaf = None;
    let impostor = net.peer(1).leaf;
    net.peer_mut(2).kid_leaf = Some(impostor);
    // What was already forwarded or in the router's pacer still arrives; then nothing.
    net.run_for(Duration::from_millis(300));
    let before = net.router.stats();
    let seen = net.peer(3).received.len();
    net.run_for(Duration::from_secs(2));
    let since = |net: &Net, from: usize, publisher: u8, source| {
        let mid = net.mid_of(3, publisher, source).unwrap();
        net.peer(3).received[from..]
            .iter()
            .filter(|r| r.mid == mid)
            .count()
    };
    for publisher in [1, 2] {
        for source in [MediaSource::Audio, MediaSource::Video] {
            assert_eq!(
                since(&net, seen, publisher, source),
                0,
                "{publisher}'s {source:?} reached 3"
            );
        }
    }
    let stats = net.router.stats();
    assert!(stats.refused_frames - before.refused_frames > 100);
    // Put right, the same publishers flow again (from their next keyframe for video).
    net.peer_mut(1).kid_leaf = Some(net.peer(1).leaf);
    net.peer_mut(2).kid_leaf = Some(net.peer(2).leaf);
    for n in [1, 2] {
        net.peer_mut(n).force_keyframe = true;
    }
    let e2ee_before = net.router.stats().e2ee_frames;
    let seen = net.peer(3).received.len();
    net.run_for(Duration::from_secs(2));
    for publisher in [1, 2] {
        assert!(since(&net, seen, publisher, MediaSource::Audio) > 50);
        assert!(since(&net, seen, publisher, MediaSource::Video) > 10);
    }
    assert!(net.router.stats().e2ee_frames - e2ee_before > 100);
}

/// A publisher sends each picture's packets in one burst; the router must pass the burst on
/// in the same instant rather than one packet per timer tick (str0m's pacer releases one
/// packet per timeout), which under load queued packets for seconds. Forwarded video is the
/// publisher's pacing, not the router's.
#[test]
fn a_pictures_packets_reach_subscribers_in_the_instant_they_arrive() {
    let mut net = meeting();
    net.run_for(Duration::from_secs(2));
    let pictures: Vec<(u64, std::time::Instant)> = on_mid(&net, 3, 1, MediaSource::Video)
        .iter()
        .map(|r| (picture_of(&r.payload).0, r.at))
        .collect();
    let mut spreads =
        std::collections::BTreeMap::<u64, (std::time::Instant, std::time::Instant)>::new();
    for (picture, at) in pictures {
        let spread = spreads.entry(picture).or_insert((at, at));
        spread.0 = spread.0.min(at);
        spread.1 = spread.1.max(at);
    }
    assert!(spreads.len() > 30, "{} pictures", spreads.len());
    let late: Vec<(u64, Duration)> = spreads
        .iter()
        .map(|(picture, (first, last))| (*picture, *last - *first))
        .filter(|(_, spread)| !spread.is_zero())
        .collect();
    assert!(late.is_empty(), "pictures spread over time: {late:?}");
}
