//! The whole router fed arbitrary datagrams from a few addresses, some of
//! them dressed as STUN binding requests naming a real participant's ufrag,
//! with time moving on between them.
#![no_main]
use std::cell::RefCell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use proto::ids::{MeetingId, OpaqueId, ParticipantId};
use proto::signaling::ServerMessage;
use sfu::{Admission, Output, Router, RouterConfig};
use str0m::media::{Direction, MediaKind};
use str0m::{Candidate, Rtc};

struct World {
    router: Router,
    now: Instant,
    ufrag: String,
}

fn world() -> World {
    let now = Instant::now();
    let addr: SocketAddr = "127.0.0.1:10000".parse().unwrap();
    let mut router = Router::new(RouterConfig::new(addr), now).unwrap();
    let meeting = MeetingId::from_random(&[1; 16]);
    let mut ufrag = String::new();
    for n in 1..=2u8 {
        let id = ParticipantId::from_random(&[n; 9]);
        router
            .add_participant(Admission::granted(meeting.clone(), id.clone()), now)
            .unwrap();
        let mut client = Rtc::builder().set_rtp_mode(true).build(now);
        client.add_local_candidate(
            Candidate::host(format!("127.0.0.{n}:5000").parse().unwrap(), "udp").unwrap(),
        );
        let mut api = client.sdp_api();
        api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
        let (offer, _pending) = api.apply().unwrap();
        router
            .handle_offer(&id, &offer.to_sdp_string(), now)
            .unwrap();
        while let Some(output) = router.poll_output() {
            if let Output::Signal {
                message: ServerMessage::MediaAnswer { sdp },
                ..
            } = output
            {
                if let Some(line) = sdp.lines().find(|l| l.starts_with("a=ice-ufrag:")) {
                    ufrag = line["a=ice-ufrag:".len()..].to_owned();
                }
            }
        }
    }
    World { router, now, ufrag }
}

thread_local! {
    static WORLD: RefCell<Option<World>> = const { RefCell::new(None) };
}

fn stun_with_ufrag(ufrag: &str, tail: &[u8]) -> Vec<u8> {
    let username = format!("{ufrag}:x");
    let mut attr = Vec::new();
    attr.extend_from_slice(&6u16.to_be_bytes());
    attr.extend_from_slice(&(username.len() as u16).to_be_bytes());
    attr.extend_from_slice(username.as_bytes());
    while attr.len() % 4 != 0 {
        attr.push(0);
    }
    attr.extend_from_slice(tail);
    while attr.len() % 4 != 0 {
        attr.push(0);
    }
    let mut out = vec![0, 1];
    out.extend_from_slice(&(attr.len() as u16).to_be_bytes());
    out.extend_from_slice(&0x2112_a442u32.to_be_bytes());
    out.extend_from_slice(&[9; 12]);
    out.extend_from_slice(&attr);
    out
}

fuzz_target!(|data: &[u8]| {
    WORLD.with(|cell| {
        let mut slot = cell.borrow_mut();
        let world = slot.get_or_insert_with(world);
        let local: SocketAddr = "127.0.0.1:10000".parse().unwrap();
        let mut rest = data;
        while rest.len() >= 3 {
            let (head, tail) = rest.split_at(3);
            let len = usize::from(u16::from_be_bytes([head[1], head[2]]))
                .min(tail.len())
                .min(1500);
            let (body, next) = tail.split_at(len);
            rest = next;
            let source: SocketAddr = format!(
                "127.0.0.{}:{}",
                1 + head[0] % 3,
                5000 + u16::from(head[0] % 2)
            )
            .parse()
            .unwrap();
            world.now += Duration::from_millis(u64::from(head[0] % 8));
            let datagram = if head[0] & 0x80 != 0 {
                stun_with_ufrag(&world.ufrag, body)
            } else {
                body.to_vec()
            };
            world
                .router
                .handle_receive(source, local, &datagram, world.now);
            if head[0] & 0x40 != 0 {
                world.router.handle_timeout(world.now);
            }
            while world.router.poll_output().is_some() {}
        }
    });
});
