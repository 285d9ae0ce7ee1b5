//! SFrame keyed from MLS epochs: who can decrypt what, and for how long.

use std::time::{Duration, Instant};

use e2ee::group::{Epoch, LeafIndex};
use e2ee::header::{FrameHeader, HeaderError, Kid};
use e2ee::media::{MediaError, MediaKeys, EPOCH_GRACE, TAG_LEN};

const ALICE: LeafIndex = LeafIndex::new(0);
const BOB: LeafIndex = LeafIndex::new(1);
const CAROL: LeafIndex = LeafIndex::new(2);

/// Stand-in for `MLS-Exporter("SFrame 1.0 Base Key", "", 16)` of each epoch.
fn base_key(epoch: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&epoch.to_be_bytes());
    key[8..].copy_from_slice(b"basekey!");
    key
}

fn member_at(epoch: u64, now: Instant) -> MediaKeys {
    let mut keys = MediaKeys::new();
    keys.install_epoch(Epoch::new(epoch), base_key(epoch), now)
        .expect("first epoch installs");
    keys
}

#[test]
fn members_of_an_epoch_exchange_frames() {
    let now = Instant::now();
    let mut alice = member_at(7, now);
    let mut bob = member_at(7, now);

    let first = alice.encrypt(b"frame one", ALICE).expect("encrypt");
    let second = alice.encrypt(b"frame two", ALICE).expect("encrypt");
    let reply = bob.encrypt(b"reply", BOB).expect("encrypt");

    let one = bob.decrypt(&first, now).expect("decrypt");
    let two = bob.decrypt(&second, now).expect("decrypt");
    assert_eq!(one.payload(), b"frame one");
    assert_eq!(two.payload(), b"frame two");
    assert_eq!((one.sender(), one.epoch()), (ALICE, Epoch::new(7)));
    assert_eq!((one.counter(), two.counter()), (0, 1), "CTR counts up");

    let back = alice.decrypt(&reply, now).expect("decrypt");
    assert_eq!((back.sender(), back.payload()), (BOB, &b"reply"[..]));
    // The SFU sees the same KID without keys.
    let header = FrameHeader::parse(&first).expect("header");
    assert_eq!(header.kid(), Kid::new(ALICE, Epoch::new(7)));
    assert_eq!(header.kid().sender(), Ok(ALICE));
}

#[test]
fn metadata_is_authenticated() {
    let now = Instant::now();
    let mut alice = member_at(1, now);
    let mut bob = member_at(1, now);
    let sframe = alice
        .encrypt_with_metadata(b"vp8 frame", b"payload header", ALICE)
        .expect("encrypt");
    let frame = bob
        .decrypt_with_metadata(&sframe, b"payload header", now)
        .expect("decrypt");
    assert_eq!(frame.payload(), b"vp8 frame");
    assert!(matches!(
        bob.decrypt_with_metadata(&sframe, b"payload heaDer", now),
        Err(MediaError::Authentication { .. })
    ));
    assert!(matches!(
        bob.decrypt(&sframe, now),
        Err(MediaError::Authentication { .. })
    ));
}

#[test]
fn removed_member_cannot_decrypt_the_next_epoch() {
    let now = Instant::now();
    let mut alice = member_at(10, now);
    let mut carol = member_at(10, now);
    // Carol is removed by the commit to epoch 11: she never gets its base key.
    alice
        .install_epoch(Epoch::new(11), base_key(11), now)
        .expect("install");
    let sframe = alice.encrypt(b"after removal", ALICE).expect("encrypt");
    assert!(matches!(
        carol.decrypt(&sframe, now),
        Err(MediaError::UnknownEpoch { epoch_bits: 11 })
    ));

    // Even holding an epoch with the same KID bits does not help without its base key.
    let mut stale = member_at(27, now); // 27 mod 16 = 11: same KID bits, another key
    assert!(matches!(
        stale.decrypt(&sframe, now),
        Err(MediaError::Authentication { .. })
    ));
    // And she cannot install the new epoch's key she does not have: a guess fails the tag.
    carol
        .install_epoch(Epoch::new(11), [0u8; 16], now)
        .expect("install");
    assert!(matches!(
        carol.decrypt(&sframe, now),
        Err(MediaError::Authentication { sender, epoch }) if sender == ALICE && epoch == Epoch::new(11)
    ));
}

#[test]
fn joiner_cannot_decrypt_the_previous_epoch() {
    let now = Instant::now();
    let mut alice = member_at(20, now);
    let before_join = alice.encrypt(b"before dave", ALICE).expect("encrypt");
    alice
        .install_epoch(Epoch::new(21), base_key(21), now)
        .expect("install");
    let after_join = alice.encrypt(b"with dave", ALICE).expect("encrypt");

    let mut dave = member_at(21, now);
    assert_eq!(
        dave.decrypt(&after_join, now).expect("decrypt").payload(),
        b"with dave"
    );
    assert!(matches!(
        dave.decrypt(&before_join, now),
        Err(MediaError::UnknownEpoch { epoch_bits: 4 })
    ));
}

#[test]
fn previous_epoch_decrypts_for_ten_seconds_only() {
    let t0 = Instant::now();
    let mut alice = member_at(3, t0);
    let mut bob = member_at(3, t0);
    let in_flight = alice
        .encrypt(b"sent just before the commit", ALICE)
        .expect("encrypt");

    let commit = t0 + Duration::from_secs(30);
    bob.install_epoch(Epoch::new(4), base_key(4), commit)
        .expect("install");
    assert_eq!(EPOCH_GRACE, Duration::from_secs(10));

    let just_inside = commit + EPOCH_GRACE - Duration::from_millis(1);
    assert!(bob.decrypt(&in_flight, commit).is_ok());
    assert!(bob.decrypt(&in_flight, just_inside).is_ok());

    let at_limit = commit + EPOCH_GRACE;
    assert!(matches!(
        bob.decrypt(&in_flight, at_limit),
        Err(MediaError::EpochExpired { epoch }) if epoch == Epoch::new(3)
    ));
    // Its keys are gone now, so it is unknown from here on, even if time went backwards.
    assert!(matches!(
        bob.decrypt(&in_flight, commit),
        Err(MediaError::UnknownEpoch { epoch_bits: 3 })
    ));
    // The current epoch is unaffected.
    alice
        .install_epoch(Epoch::new(4), base_key(4), commit)
        .expect("install");
    let current = alice.encrypt(b"new epoch", ALICE).expect("encrypt");
    assert!(bob.decrypt(&current, at_limit).is_ok());
}

#[test]
fn expire_drops_old_keys_without_traffic() {
    let t0 = Instant::now();
    let mut alice = member_at(1, t0);
    let mut bob = member_at(1, t0);
    let old = alice.encrypt(b"old", ALICE).expect("encrypt");
    bob.install_epoch(Epoch::new(2), base_key(2), t0)
        .expect("install");
    bob.expire(t0 + Duration::from_secs(5));
    assert!(bob.decrypt(&old, t0 + Duration::from_secs(5)).is_ok());
    bob.expire(t0 + Duration::from_secs(11));
    assert!(matches!(
        bob.decrypt(&old, t0),
        Err(MediaError::UnknownEpoch { .. })
    ));
}

#[test]
fn epoch_with_same_kid_bits_evicts_the_old_one() {
    let now = Instant::now();
    let mut alice = member_at(1, now);
    let mut bob = member_at(1, now);
    let old = alice.encrypt(b"epoch 1", ALICE).expect("encrypt");
    // Epoch 17 shares the low four bits with epoch 1 (RFC 9605 section 5.2 rollover).
    bob.install_epoch(Epoch::new(17), base_key(17), now)
        .expect("install");
    assert!(matches!(
        bob.decrypt(&old, now),
        Err(MediaError::Authentication { epoch, .. }) if epoch == Epoch::new(17)
    ));
}

#[test]
fn epochs_only_move_forward() {
    let now = Instant::now();
    let mut keys = member_at(5, now);
    assert!(matches!(
        keys.install_epoch(Epoch::new(5), base_key(5), now),
        Err(MediaError::StaleEpoch { .. })
    ));
    assert!(matches!(
        keys.install_epoch(Epoch::new(4), base_key(4), now),
        Err(MediaError::StaleEpoch { .. })
    ));
    assert_eq!(keys.current_epoch(), Some(Epoch::new(5)));
    assert!(matches!(
        MediaKeys::new().encrypt(b"x", ALICE),
        Err(MediaError::NoEpoch)
    ));
}

#[test]
fn tampered_ciphertext_is_rejected() {
    let now = Instant::now();
    let mut alice = member_at(9, now);
    let mut bob = member_at(9, now);
    let sframe = alice.encrypt(b"do not touch", ALICE).expect("encrypt");
    let header_len = FrameHeader::parse(&sframe).expect("header").len();

    for index in header_len..sframe.len() {
        let mut tampered = sframe.clone();
        tampered[index] ^= 0x01;
        assert!(
            matches!(
                bob.decrypt(&tampered, now),
                Err(MediaError::Authentication { .. })
            ),
            "flipped byte {index} was accepted"
        );
    }
    let mut cut = sframe.clone();
    cut.truncate(header_len + TAG_LEN - 1);
    assert!(matches!(
        bob.decrypt(&cut, now),
        Err(MediaError::TooShort { .. })
    ));
    assert!(bob.decrypt(&sframe, now).is_ok(), "original still decrypts");
}

#[test]
fn tampered_header_is_rejected() {
    let now = Instant::now();
    let mut alice = member_at(9, now);
    let mut bob = member_at(9, now);
    let _ = alice.encrypt(b"burn CTR 0", ALICE).expect("encrypt");
    let sframe = alice.encrypt(b"header bound", ALICE).expect("encrypt");
    let header = FrameHeader::parse(&sframe).expect("header");
    let body = &sframe[header.len()..];

    let rewrap = |kid: Kid, ctr: u64| {
        let mut frame = FrameHeader::encode(kid, ctr);
        frame.extend_from_slice(body);
        frame
    };
    // Another counter: the nonce and the AAD change.
    assert!(matches!(
        bob.decrypt(&rewrap(header.kid(), header.counter() + 1), now),
        Err(MediaError::Authentication { .. })
    ));
    // Another sender in the same epoch: another key.
    assert!(matches!(
        bob.decrypt(&rewrap(Kid::new(CAROL, Epoch::new(9)), header.counter()), now),
        Err(MediaError::Authentication { sender, .. }) if sender == CAROL
    ));
    // Another epoch: no keys at all.
    assert!(matches!(
        bob.decrypt(
            &rewrap(Kid::new(ALICE, Epoch::new(10)), header.counter()),
            now
        ),
        Err(MediaError::UnknownEpoch { .. })
    ));
    // Context bits set: outside the layout.
    assert!(matches!(
        bob.decrypt(&rewrap(Kid::from_value(1 << 40), header.counter()), now),
        Err(MediaError::Header(HeaderError::ContextNotZero { .. }))
    ));
    // The config byte itself flipped so the header claims more bytes than it has.
    let mut broken = sframe.clone();
    broken[0] ^= 0b1000_0000;
    assert!(bob.decrypt(&broken, now).is_err());
    assert!(bob.decrypt(&sframe, now).is_ok(), "original still decrypts");
}
