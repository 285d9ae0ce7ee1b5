//! Stand-in fuzz target for the signaling parser (the toolchain is stable
//! only): arbitrary text and mutations of valid messages must give a typed
//! result, never a panic, and whatever parses must re-serialize.

use proptest::prelude::*;
use proto::signaling::ClientMessage;

const VALID: &[&str] = &[
    r#"{"type":"hello","version":1,"auth":{"kind":"token","token":"abc"}}"#,
    r#"{"type":"hello","version":1,"auth":{"kind":"guest","display_name":"Ada"}}"#,
    r#"{"type":"join","meeting_id":"AAAAAAAAAAAAAAAAAAAAAA","passcode":"x"}"#,
    r#"{"type":"deny","participant_id":"AAAAAAAAAAAA","reason":"no"}"#,
    r#"{"type":"resume","meeting_id":"AAAAAAAAAAAAAAAAAAAAAA","resume_token":"r"}"#,
    r#"{"type":"lock"}"#,
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,300}") {
        let _ = ClientMessage::parse(&text);
    }

    #[test]
    fn mutated_messages_never_panic(which in 0..VALID.len(), at in 0usize..200, byte in any::<u8>(), cut in 0usize..200) {
        let mut bytes = VALID[which].as_bytes().to_vec();
        let at = at % bytes.len();
        bytes[at] = byte;
        bytes.truncate(bytes.len().saturating_sub(cut % 4));
        if let Ok(text) = std::str::from_utf8(&bytes) {
            if let Ok(message) = ClientMessage::parse(text) {
                let again = serde_json::to_string(&message).unwrap();
                prop_assert_eq!(ClientMessage::parse(&again).unwrap(), message);
            }
        }
    }
}
