//! The lobby and host controls, over real WebSockets.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use common::*;
use proto::rest::NewMeeting;
use proto::signaling::{ClientMessage, LeaveReason, Role, ServerMessage};

#[tokio::test]
async fn a_guest_waits_and_the_host_admits() {
    let server = start().await;
    let token = server.account("hostess").await;
    let meeting = server.meeting(&token, NewMeeting::default()).await;
    let (mut host, joined) = server.seated(&token, &meeting).await;
    assert_eq!(joined.role, Role::Host);

    let (mut guest, guest_id) = server.waiting_guest("Grace", &meeting).await;
    let entry = lobby_lists(&mut host, &guest_id).await;
    assert!(entry.guest && entry.display_name == "Grace" && !entry.previously_removed);

    // A waiter cannot act in the meeting.
    guest.send(&ClientMessage::RaiseHand).await.unwrap();
    assert_eq!(error_code(&mut guest).await, "invalid_state");

    host.send(&ClientMessage::Admit {
        participant_id: guest_id.clone(),
    })
    .await
    .unwrap();
    let seat = expect_joined(&mut guest).await;
    assert_eq!(seat.participant_id, guest_id);
    assert_eq!(seat.role, Role::Participant);
    assert_eq!(seat.roster.len(), 2);
    assert!(seat
        .roster
        .iter()
        .any(|p| p.guest && p.display_name == "Grace"));
    host.recv_until("participant_joined", |m| match m {
        ServerMessage::ParticipantJoined { participant } if participant.id == guest_id => Some(()),
        _ => None,
    })
    .await
    .unwrap();

    // Raise hand reaches everyone; leave is announced.
    guest.send(&ClientMessage::RaiseHand).await.unwrap();
    host.recv_until("hand raised", |m| match m {
        ServerMessage::ParticipantUpdated { participant } if participant.hand_raised => Some(()),
        _ => None,
    })
    .await
    .unwrap();
    guest.send(&ClientMessage::Leave).await.unwrap();
    let reason = host
        .recv_until("participant_left", |m| match m {
            ServerMessage::ParticipantLeft {
                participant_id,
                reason,
            } if *participant_id == guest_id => Some(*reason),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(reason, LeaveReason::Left);
    server.stop().await;
}

#[tokio::test]
async fn a_denied_guest_sees_the_reason_and_is_disconnected() {
    let server = start().await;
    let token = server.account("hostess").await;
    let meeting = server.meeting(&token, NewMeeting::default()).await;
    let (mut host, _) = server.seated(&token, &meeting).await;
    let (mut guest, guest_id) = server.waiting_guest("Mallory", &meeting).await;
    lobby_lists(&mut host, &guest_id).await;
    host.send(&ClientMessage::Deny {
        participant_id: guest_id,
        reason: "not on the invite list".into(),
    })
    .await
    .unwrap();
    let reason = guest
        .recv_until("denied", |m| match m {
            ServerMessage::Denied { reason } => Some(reason.clone()),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(reason, "not on the invite list");
    assert!(matches!(
        guest.recv().await,
        Err(client::ClientError::Closed { .. })
    ));
    server.stop().await;
}

#[tokio::test]
async fn an_early_arrival_waits_for_the_host() {
    let server = start().await;
    let token = server.account("hostess").await;
    let other = server.account("early.bird").await;
    let meeting = server.meeting(&token, NewMeeting::default()).await;

    // A signed-in non-host arrives first: the lobby holds them.
    let mut early = server.ws().await;
    early.hello_token(&other).await.unwrap();
    join(&mut early, &meeting).await;
    let early_id = expect_waiting(&mut early).await;
    assert!(matches!(
        early.recv_within(Duration::from_millis(300)).await,
        Err(client::ClientError::Timeout(_))
    ));

    // The host arrives and sees them waiting at once.
    let (mut host, joined) = server.seated(&token, &meeting).await;
    assert_eq!(joined.roster.len(), 1, "the early arrival is not seated");
    lobby_lists(&mut host, &early_id).await;
    host.send(&ClientMessage::Admit {
        participant_id: early_id,
    })
    .await
    .unwrap();
    expect_joined(&mut early).await;
    server.stop().await;
}

#[tokio::test]
async fn a_removed_participant_cannot_rejoin_without_admission() {
    let server = start().await;
    let token = server.account("hostess").await;
    let member = server.account("member").await;
    // Lobby off: anyone signed in is seated directly...
    let settings = NewMeeting {
        lobby: Some(false),
        ..NewMeeting::default()
    };
    let meeting = server.meeting(&token, settings).await;
    let (mut host, _) = server.seated(&token, &meeting).await;
    let (mut bob, bob_seat) = server.seated(&member, &meeting).await;

    host.send(&ClientMessage::Remove {
        participant_id: bob_seat.participant_id.clone(),
        reason: Some("disruptive".into()),
    })
    .await
    .unwrap();
    let reason = bob
        .recv_until("removed", |m| match m {
            ServerMessage::Removed { reason } => Some(reason.clone()),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(reason.as_deref(), Some("disruptive"));
    host.recv_until("participant_left (removed)", |m| match m {
        ServerMessage::ParticipantLeft {
            reason: LeaveReason::Removed,
            ..
        } => Some(()),
        _ => None,
    })
    .await
    .unwrap();

    // ...but a removed one goes to the lobby, flagged, and needs admitting again.
    let mut again = server.ws().await;
    again.hello_token(&member).await.unwrap();
    join(&mut again, &meeting).await;
    let again_id = expect_waiting(&mut again).await;
    let entry = lobby_lists(&mut host, &again_id).await;
    assert!(entry.previously_removed);
    host.send(&ClientMessage::Admit {
        participant_id: again_id,
    })
    .await
    .unwrap();
    expect_joined(&mut again).await;

    // Once admitted again, the removal is forgotten.
    again.send(&ClientMessage::Leave).await.unwrap();
    let (_third, _) = server.seated(&member, &meeting).await;
    server.stop().await;
}

#[tokio::test]
async fn a_removed_guest_makes_guests_wait_even_with_the_lobby_off() {
    let server = start().await;
    let token = server.account("hostess").await;
    let settings = NewMeeting {
        lobby: Some(false),
        ..NewMeeting::default()
    };
    let meeting = server.meeting(&token, settings).await;
    let (mut host, _) = server.seated(&token, &meeting).await;
    let mut guest = server.ws().await;
    guest.hello_guest("Eve").await.unwrap();
    join(&mut guest, &meeting).await;
    let seat = expect_joined(&mut guest).await;
    host.send(&ClientMessage::Remove {
        participant_id: seat.participant_id,
        reason: None,
    })
    .await
    .unwrap();
    let (_eve_again, id) = server.waiting_guest("Eve", &meeting).await;
    lobby_lists(&mut host, &id).await;
    server.stop().await;
}

#[tokio::test]
async fn the_last_host_leaving_promotes_a_cohost() {
    let server = start().await;
    let token = server.account("hostess").await;
    let member = server.account("member").await;
    let settings = NewMeeting {
        lobby: Some(false),
        ..NewMeeting::default()
    };
    let meeting = server.meeting(&token, settings).await;
    let (mut host, _) = server.seated(&token, &meeting).await;
    let (mut bob, bob_seat) = server.seated(&member, &meeting).await;
    let mut guest = server.ws().await;
    guest.hello_guest("Gus").await.unwrap();
    join(&mut guest, &meeting).await;
    expect_joined(&mut guest).await;

    // Participants cannot moderate.
    bob.send(&ClientMessage::Lock).await.unwrap();
    assert_eq!(error_code(&mut bob).await, "forbidden");

    host.send(&ClientMessage::MakeCohost {
        participant_id: bob_seat.participant_id.clone(),
    })
    .await
    .unwrap();
    bob.recv_until("made co-host", |m| match m {
        ServerMessage::ParticipantUpdated { participant }
            if participant.id == bob_seat.participant_id && participant.role == Role::Cohost =>
        {
            Some(())
        }
        _ => None,
    })
    .await
    .unwrap();
    host.send(&ClientMessage::Leave).await.unwrap();
    bob.recv_until("promoted to host", |m| match m {
        ServerMessage::ParticipantUpdated { participant }
            if participant.id == bob_seat.participant_id && participant.role == Role::Host =>
        {
            Some(())
        }
        _ => None,
    })
    .await
    .unwrap();

    // The new host moderates: they can lock the meeting against newcomers.
    bob.send(&ClientMessage::Lock).await.unwrap();
    bob.recv_until("locked", |m| match m {
        ServerMessage::LockChanged { locked: true } => Some(()),
        _ => None,
    })
    .await
    .unwrap();
    let mut late = server.ws().await;
    late.hello_guest("Late").await.unwrap();
    join(&mut late, &meeting).await;
    assert_eq!(error_code(&mut late).await, "meeting_locked");
    server.stop().await;
}

#[tokio::test]
async fn without_a_cohost_the_longest_present_signed_in_participant_is_promoted() {
    let server = start().await;
    let token = server.account("hostess").await;
    let first = server.account("first").await;
    let second = server.account("second").await;
    let settings = NewMeeting {
        lobby: Some(false),
        ..NewMeeting::default()
    };
    let meeting = server.meeting(&token, settings).await;
    let (mut host, _) = server.seated(&token, &meeting).await;
    let mut guest = server.ws().await;
    guest.hello_guest("Guest first").await.unwrap();
    join(&mut guest, &meeting).await;
    expect_joined(&mut guest).await;
    let (mut a, a_seat) = server.seated(&first, &meeting).await;
    let (_b, _) = server.seated(&second, &meeting).await;
    host.send(&ClientMessage::Leave).await.unwrap();
    a.recv_until("promoted", |m| match m {
        ServerMessage::ParticipantUpdated { participant }
            if participant.id == a_seat.participant_id && participant.role == Role::Host =>
        {
            Some(())
        }
        _ => None,
    })
    .await
    .unwrap();
    server.stop().await;
}

#[tokio::test]
async fn a_dropped_participant_resumes_its_seat_within_the_window() {
    let server = start().await;
    let token = server.account("hostess").await;
    let meeting = server.meeting(&token, NewMeeting::default()).await;
    let (mut host, _) = server.seated(&token, &meeting).await;
    let (mut guest, guest_id) = server.waiting_guest("Rita", &meeting).await;
    lobby_lists(&mut host, &guest_id).await;
    host.send(&ClientMessage::Admit {
        participant_id: guest_id.clone(),
    })
    .await
    .unwrap();
    let seat = expect_joined(&mut guest).await;

    drop(guest); // the TCP connection dies without a leave
    host.recv_until("marked disconnected", |m| match m {
        ServerMessage::ParticipantUpdated { participant }
            if participant.id == guest_id && !participant.connected =>
        {
            Some(())
        }
        _ => None,
    })
    .await
    .unwrap();

    // A stranger's token does not work.
    let mut thief = server.ws().await;
    thief.hello_guest("Thief").await.unwrap();
    thief
        .send(&ClientMessage::Resume {
            meeting_id: meeting.clone(),
            resume_token: "forged".into(),
        })
        .await
        .unwrap();
    assert_eq!(error_code(&mut thief).await, "resume_failed");

    let mut back = server.ws().await;
    back.hello_guest("Rita").await.unwrap();
    back.send(&ClientMessage::Resume {
        meeting_id: meeting.clone(),
        resume_token: seat.resume_token.clone(),
    })
    .await
    .unwrap();
    let resumed = expect_joined(&mut back).await;
    assert_eq!(resumed.participant_id, guest_id, "same seat, no lobby");
    assert_ne!(
        resumed.resume_token, seat.resume_token,
        "tokens are single-use"
    );
    host.recv_until("marked connected", |m| match m {
        ServerMessage::ParticipantUpdated { participant }
            if participant.id == guest_id && participant.connected =>
        {
            Some(())
        }
        _ => None,
    })
    .await
    .unwrap();

    // The old token is spent.
    let mut replay = server.ws().await;
    replay.hello_guest("Rita").await.unwrap();
    replay
        .send(&ClientMessage::Resume {
            meeting_id: meeting,
            resume_token: seat.resume_token,
        })
        .await
        .unwrap();
    assert_eq!(error_code(&mut replay).await, "resume_failed");
    server.stop().await;
}

#[tokio::test]
async fn the_host_ends_the_meeting_for_everyone_and_it_stays_ended() {
    let server = start().await;
    let token = server.account("hostess").await;
    let meeting = server.meeting(&token, NewMeeting::default()).await;
    let (mut host, _) = server.seated(&token, &meeting).await;
    let (mut guest, guest_id) = server.waiting_guest("Walt", &meeting).await;
    lobby_lists(&mut host, &guest_id).await;
    host.send(&ClientMessage::EndMeeting).await.unwrap();
    for ws in [&mut host, &mut guest] {
        ws.recv_until("meeting_ended", |m| {
            matches!(m, ServerMessage::MeetingEnded { .. }).then_some(())
        })
        .await
        .unwrap();
    }
    let info = server.api.meeting(&meeting).await.unwrap();
    assert!(info.ended_at.is_some());
    let mut late = server.ws().await;
    late.hello_token(&token).await.unwrap();
    join(&mut late, &meeting).await;
    assert_eq!(error_code(&mut late).await, "meeting_ended");
    server.stop().await;
}

#[tokio::test]
async fn passcodes_and_guest_rules_are_enforced() {
    let server = start().await;
    let token = server.account("hostess").await;
    let settings = NewMeeting {
        passcode: Some("open sesame".into()),
        guests_allowed: Some(false),
        ..NewMeeting::default()
    };
    let meeting = server.meeting(&token, settings).await;
    // The host needs no passcode.
    let (_host, _) = server.seated(&token, &meeting).await;

    let mut guest = server.ws().await;
    guest.hello_guest("Gina").await.unwrap();
    guest
        .send(&ClientMessage::Join {
            meeting_id: meeting.clone(),
            passcode: Some("open sesame".into()),
        })
        .await
        .unwrap();
    assert_eq!(error_code(&mut guest).await, "guests_not_allowed");

    let member = server.account("member").await;
    let mut bob = server.ws().await;
    bob.hello_token(&member).await.unwrap();
    join(&mut bob, &meeting).await;
    assert_eq!(error_code(&mut bob).await, "wrong_passcode");
    bob.send(&ClientMessage::Join {
        meeting_id: meeting.clone(),
        passcode: Some("open sesame".into()),
    })
    .await
    .unwrap();
    bob.recv_until("waiting", |m| {
        matches!(m, ServerMessage::Waiting { .. }).then_some(())
    })
    .await
    .unwrap();
    server.stop().await;
}

#[tokio::test]
async fn settings_changed_during_a_meeting_apply_at_once() {
    let server = start().await;
    let token = server.account("hostess").await;
    let settings = NewMeeting {
        lobby: Some(false),
        ..NewMeeting::default()
    };
    let meeting = server.meeting(&token, settings).await;
    let (mut host, _) = server.seated(&token, &meeting).await;
    let url = server.url(&format!("/api/v1/meetings/{meeting}"));
    let patched = server
        .http
        .patch(&url)
        .bearer_auth(&token)
        .json(&serde_json::json!({"passcode": "fresh passcode", "lobby": true}))
        .send()
        .await
        .unwrap();
    assert!(patched.status().is_success());

    let mut guest = server.ws().await;
    guest.hello_guest("Newcomer").await.unwrap();
    join(&mut guest, &meeting).await;
    assert_eq!(error_code(&mut guest).await, "wrong_passcode");
    guest
        .send(&ClientMessage::Join {
            meeting_id: meeting.clone(),
            passcode: Some("fresh passcode".into()),
        })
        .await
        .unwrap();
    let id = expect_waiting(&mut guest).await;
    lobby_lists(&mut host, &id).await;
    server.stop().await;
}
