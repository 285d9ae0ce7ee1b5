//! TypeScript declarations of the wire types, for the web client.
//!
//! The web client imports `web/src/proto/wire.ts`, which this test generates from the types
//! themselves (ts-rs derives, compiled only in this crate's tests), so the browser cannot drift
//! from the server. The test fails when the committed file differs from what the types say;
//! `CONCLAVE_BLESS=1 cargo test -p proto typescript` rewrites it.

use std::path::PathBuf;

use ts_rs::{Config, TS};

use crate::{ids, rest, signaling};

/// Where the generated file lives, relative to this crate.
const OUTPUT: &str = "../../web/src/proto/wire.ts";

/// One exported declaration, with its doc comment.
fn declaration<T: TS>(cfg: &Config) -> String {
    let docs = T::docs().unwrap_or_default();
    format!("{docs}export {}\n", T::decl(cfg))
}

fn constant(docs: &str, name: &str, value: usize) -> String {
    format!("/** {docs} */\nexport const {name} = {value};\n")
}

/// The whole generated file.
fn wire_ts() -> String {
    // Every integer on the wire is a count, a size or Unix seconds: exact as a JS number.
    let cfg = Config::new().with_large_int("number");
    let declarations = [
        declaration::<ids::MeetingId>(&cfg),
        declaration::<ids::AccountId>(&cfg),
        declaration::<ids::ParticipantId>(&cfg),
        declaration::<rest::ErrorBody>(&cfg),
        declaration::<rest::NewAccount>(&cfg),
        declaration::<rest::Account>(&cfg),
        declaration::<rest::NewSession>(&cfg),
        declaration::<rest::Session>(&cfg),
        declaration::<rest::ProfileUpdate>(&cfg),
        declaration::<rest::IdentityKeyRegistration>(&cfg),
        declaration::<rest::IdentityKeyRecord>(&cfg),
        declaration::<rest::NewMeeting>(&cfg),
        declaration::<rest::MeetingUpdate>(&cfg),
        declaration::<rest::MeetingSettings>(&cfg),
        declaration::<rest::Meeting>(&cfg),
        declaration::<rest::Health>(&cfg),
        declaration::<rest::ChatReportOpening>(&cfg),
        declaration::<rest::ChatReportVerdict>(&cfg),
        declaration::<signaling::Base64Bytes>(&cfg),
        declaration::<signaling::MlsAdmission>(&cfg),
        declaration::<signaling::HelloAuth>(&cfg),
        declaration::<signaling::ClientMessage>(&cfg),
        declaration::<signaling::Role>(&cfg),
        declaration::<signaling::Participant>(&cfg),
        declaration::<signaling::MediaSource>(&cfg),
        declaration::<signaling::TrackInfo>(&cfg),
        declaration::<signaling::LobbyEntry>(&cfg),
        declaration::<signaling::LeaveReason>(&cfg),
        declaration::<signaling::EndReason>(&cfg),
        declaration::<signaling::EndOrder>(&cfg),
        declaration::<signaling::NoticeAppeal>(&cfg),
        declaration::<signaling::OversightNotice>(&cfg),
        declaration::<signaling::ErrorCode>(&cfg),
        declaration::<signaling::ServerMessage>(&cfg),
    ];
    let constants = [
        constant(
            "Version of the signaling protocol; `hello` must carry it.",
            "PROTOCOL_VERSION",
            usize::from(signaling::PROTOCOL_VERSION),
        ),
        constant(
            "Largest signaling message either side may send, in bytes.",
            "MAX_MESSAGE_BYTES",
            signaling::MAX_MESSAGE_BYTES,
        ),
        constant(
            "Largest `mls_group` or `mls_commit` message, in bytes.",
            "MAX_MLS_MESSAGE_BYTES",
            signaling::MAX_MLS_MESSAGE_BYTES,
        ),
        constant(
            "Longest free-text reason (deny, remove), in characters.",
            "MAX_REASON_CHARS",
            signaling::MAX_REASON_CHARS,
        ),
        constant(
            "Longest SDP offer or answer, in bytes.",
            "MAX_SDP_BYTES",
            signaling::MAX_SDP_BYTES,
        ),
        constant(
            "Shortest accepted password, in characters.",
            "MIN_PASSWORD_CHARS",
            rest::MIN_PASSWORD_CHARS,
        ),
        constant(
            "Longest display name, in characters.",
            "MAX_DISPLAY_NAME_CHARS",
            rest::MAX_DISPLAY_NAME_CHARS,
        ),
        constant(
            "Largest encrypted meeting info blob, in bytes after base64 decoding.",
            "MAX_ENCRYPTED_INFO_BYTES",
            rest::MAX_ENCRYPTED_INFO_BYTES,
        ),
        constant(
            "Longest meeting passcode, in bytes.",
            "MAX_PASSCODE_BYTES",
            rest::MAX_PASSCODE_BYTES,
        ),
    ];
    let mut out = String::from(
        "// Generated from crates/proto by `CONCLAVE_BLESS=1 cargo test -p proto typescript`.\n\
         // Do not edit: change the Rust types and regenerate.\n\n",
    );
    for part in constants.iter().chain(declarations.iter()) {
        out.push_str(part);
        out.push('\n');
    }
    out
}

#[test]
fn typescript_declarations_are_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(OUTPUT);
    let generated = wire_ts();
    if std::env::var_os("CONCLAVE_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("web/src/proto is writable");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale: run `CONCLAVE_BLESS=1 cargo test -p proto typescript` and commit it",
        path.display()
    );
}
