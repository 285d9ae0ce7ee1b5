//! Franking end to end: sender, server, receiver, report, verification.

use e2ee::franking::{
    self, AccountId, Commitment, FrankedMessage, FrankingError, FrankingKey, FrankingTag,
    InnerMessage, MeetingId, Report, ServerFrankingKey, Timestamp, MAX_ID_LEN, MAX_PLAINTEXT_LEN,
};
use rand::rngs::StdRng;
use rand::SeedableRng;

struct Delivered {
    inner: Vec<u8>,
    commitment: Commitment,
    tag: FrankingTag,
    sender: AccountId,
    meeting: MeetingId,
    timestamp: Timestamp,
}

fn rng() -> StdRng {
    StdRng::seed_from_u64(0x0c0c)
}

/// Alice sends `text`; the server tags it; returns what a receiver gets.
fn send(server: &ServerFrankingKey, text: &[u8]) -> Delivered {
    let sealed = FrankedMessage::seal(text, &mut rng()).expect("seal");
    let sender = AccountId::new("alice").expect("id");
    let meeting = MeetingId::new("meeting-1").expect("id");
    let timestamp = Timestamp::from_unix_millis(1_700_000_000_000);
    let tag = server.tag(&sealed.commitment(), &sender, &meeting, timestamp);
    Delivered {
        inner: sealed.inner().to_vec(),
        commitment: sealed.commitment(),
        tag,
        sender,
        meeting,
        timestamp,
    }
}

fn report(delivered: Delivered) -> Report {
    franking::open(&delivered.inner, &delivered.commitment)
        .expect("commitment checks")
        .into_report(
            delivered.tag,
            delivered.sender,
            delivered.meeting,
            delivered.timestamp,
        )
}

fn server_key() -> ServerFrankingKey {
    ServerFrankingKey::from_bytes([0x5a; 32])
}

#[test]
fn reported_message_verifies_as_evidence_against_its_sender() {
    let server = server_key();
    let delivered = send(&server, b"you will regret this");
    let evidence = server.verify(report(delivered)).expect("verifies");
    assert_eq!(evidence.sender().as_str(), "alice");
    assert_eq!(evidence.meeting().as_str(), "meeting-1");
    assert_eq!(evidence.timestamp().unix_millis(), 1_700_000_000_000);
    assert_eq!(evidence.plaintext(), b"you will regret this");
    // Debug output names the parties but not the content.
    let debug = format!("{evidence:?}");
    assert!(debug.contains("alice") && !debug.contains("regret"));
}

#[test]
fn receiver_refuses_a_commitment_that_does_not_open() {
    let server = server_key();
    let delivered = send(&server, b"original");
    let other = FrankedMessage::seal(b"original", &mut StdRng::seed_from_u64(1)).expect("seal");
    assert_eq!(
        franking::open(&delivered.inner, &other.commitment()).err(),
        Some(FrankingError::CommitmentMismatch)
    );
    // Altered plaintext inside the ciphertext (a cheating sender) is refused too.
    let mut inner = delivered.inner.clone();
    let last = inner.len() - 1;
    inner[last] ^= 1;
    assert_eq!(
        franking::open(&inner, &delivered.commitment).err(),
        Some(FrankingError::CommitmentMismatch)
    );
}

#[test]
fn any_change_to_a_report_is_refused() {
    let server = server_key();

    let mut altered = report(send(&server, b"said this"));
    altered.plaintext = b"said that".to_vec();
    assert_eq!(
        server.verify(altered).err(),
        Some(FrankingError::CommitmentMismatch)
    );

    let mut altered = report(send(&server, b"said this"));
    altered.franking_key = FrankingKey::from_bytes([1; 32]);
    assert_eq!(
        server.verify(altered).err(),
        Some(FrankingError::CommitmentMismatch)
    );

    // Blaming someone else for Alice's message.
    let mut altered = report(send(&server, b"said this"));
    altered.sender = AccountId::new("bob").expect("id");
    assert_eq!(
        server.verify(altered).err(),
        Some(FrankingError::TagMismatch)
    );

    let mut altered = report(send(&server, b"said this"));
    altered.meeting = MeetingId::new("meeting-2").expect("id");
    assert_eq!(
        server.verify(altered).err(),
        Some(FrankingError::TagMismatch)
    );

    let mut altered = report(send(&server, b"said this"));
    altered.timestamp = Timestamp::from_unix_millis(1_700_000_000_001);
    assert_eq!(
        server.verify(altered).err(),
        Some(FrankingError::TagMismatch)
    );

    let mut altered = report(send(&server, b"said this"));
    let mut tag = *altered.tag.as_bytes();
    tag[0] ^= 1;
    altered.tag = FrankingTag::from_bytes(tag);
    assert_eq!(
        server.verify(altered).err(),
        Some(FrankingError::TagMismatch)
    );

    // A tag by another server key is no tag.
    let other_server = ServerFrankingKey::from_bytes([0xa5; 32]);
    let genuine = report(send(&server, b"said this"));
    assert_eq!(
        other_server.verify(genuine).err(),
        Some(FrankingError::TagMismatch)
    );
}

#[test]
fn a_fabricated_report_without_an_opening_fails() {
    // Staff invent a message and a commitment; without the server's tag over it, nothing verifies.
    let server = server_key();
    let key = FrankingKey::from_bytes([3; 32]);
    let fabricated = Report {
        plaintext: b"invented".to_vec(),
        commitment: key.commit(b"invented").expect("commit"),
        franking_key: key,
        tag: FrankingTag::from_bytes([0; 32]),
        sender: AccountId::new("alice").expect("id"),
        meeting: MeetingId::new("meeting-1").expect("id"),
        timestamp: Timestamp::from_unix_millis(0),
    };
    assert_eq!(
        server.verify(fabricated).err(),
        Some(FrankingError::TagMismatch)
    );
}

/// Pins the encodings (module docs of `franking`), so the web client can be checked against
/// the same values.
#[test]
fn known_answers() {
    let key = FrankingKey::from_bytes(core::array::from_fn(|i| i as u8));
    let commitment = key.commit(b"hello, conclave").expect("commit");
    assert_eq!(
        hex(commitment.as_bytes()),
        "df32795ce7978d4a7ff6b962f383a1b55507e9714092148219bf26aaea92e92b"
    );
    let tag = server_key().tag(
        &commitment,
        &AccountId::new("account-1").expect("id"),
        &MeetingId::new("meeting-42").expect("id"),
        Timestamp::from_unix_millis(1_700_000_000_123),
    );
    assert_eq!(
        hex(tag.as_bytes()),
        "5267794981b9a084750be84ed92ac358773e2e80492ba17759d823b4f02dd493"
    );
}

#[test]
fn inner_message_encoding_is_strict() {
    let sealed = FrankedMessage::seal(b"hi", &mut rng()).expect("seal");
    let inner = sealed.inner();
    assert_eq!(inner.len(), 1 + 32 + 4 + 2);
    assert_eq!(inner[0], 1, "version");
    let decoded = InnerMessage::decode(inner).expect("decodes");
    assert_eq!(decoded.plaintext(), b"hi");
    assert_eq!(decoded.encode(), inner);

    let mut trailing = inner.to_vec();
    trailing.push(0);
    assert_eq!(
        InnerMessage::decode(&trailing).err(),
        Some(FrankingError::TrailingBytes { extra: 1 })
    );
    assert!(matches!(
        InnerMessage::decode(&inner[..inner.len() - 1]),
        Err(FrankingError::Truncated { .. })
    ));
    assert!(matches!(
        InnerMessage::decode(&inner[..10]),
        Err(FrankingError::Truncated { .. })
    ));
    let mut version = inner.to_vec();
    version[0] = 2;
    assert_eq!(
        InnerMessage::decode(&version).err(),
        Some(FrankingError::UnsupportedVersion { version: 2 })
    );
    let mut huge = inner.to_vec();
    huge[33..37].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        InnerMessage::decode(&huge),
        Err(FrankingError::PlaintextTooLong { .. })
    ));
}

#[test]
fn size_limits() {
    let too_long = vec![0u8; MAX_PLAINTEXT_LEN + 1];
    assert!(matches!(
        FrankedMessage::seal(&too_long, &mut rng()),
        Err(FrankingError::PlaintextTooLong { .. })
    ));
    let longest = vec![0u8; MAX_PLAINTEXT_LEN];
    assert!(FrankedMessage::seal(&longest, &mut rng()).is_ok());

    assert_eq!(
        AccountId::new("").err(),
        Some(FrankingError::AccountIdLength { len: 0 })
    );
    assert!(AccountId::new("a".repeat(MAX_ID_LEN)).is_ok());
    assert!(MeetingId::new("m".repeat(MAX_ID_LEN + 1)).is_err());
}

#[test]
fn keys_stay_out_of_debug_output() {
    let key = FrankingKey::from_bytes([0xab; 32]);
    assert_eq!(format!("{key:?}"), "FrankingKey(..)");
    assert_eq!(format!("{:?}", server_key()), "ServerFrankingKey(..)");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn chat_content_stays_out_of_debug_output() {
    let server = server_key();
    let delivered = send(&server, b"secret words");
    let opened = franking::open(&delivered.inner, &delivered.commitment).expect("opens");
    assert!(!format!("{opened:?}").contains("secret"));
    let inner = InnerMessage::decode(&delivered.inner).expect("decodes");
    assert!(!format!("{inner:?}").contains("secret"));
    let report = report(delivered);
    assert!(!format!("{report:?}").contains("secret"));
}
