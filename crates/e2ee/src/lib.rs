//! Conclave's end-to-end encryption: what keeps meeting content away from the server
//! (DESIGN.md threats T1, T4, T5).
//!
//! - [`member`]: a client's MLS group state (openmls 0.9.2, RFC 9420, ciphersuite 0x0001):
//!   join, follow and make commits, franked chat, SFrame keys installed at every epoch, the
//!   safety code, the roster from its own state, and ghost protection.
//! - [`server_view`]: the server's public view of a group: it is the group's only external
//!   sender (proposes Add and Remove), orders commits (first valid one per epoch wins) and
//!   routes Welcomes, holding no group secret.
//! - [`identity`]: what a credential carries (participant, account or guest, Ed25519 key), the
//!   server's admission announcements and the key directory.
//! - [`wire`]: bounded, total parsers for every MLS input from the network.
//! - [`media`]: SFrame (RFC 9605, suite AES_128_GCM_SHA256_128) for every audio and video
//!   frame, keyed from MLS per section 5.2, with the previous epoch kept 10 s for frames in
//!   flight.
//! - [`header`]: the SFrame header and Conclave's KID layout, which the SFU reads without keys.
//! - [`safety_code`]: the 30-digit code members compare out of band to detect an unseen member.
//! - [`franking`]: commitments and server tags that make reported chat messages verifiable
//!   evidence against their real sender.
//!
//! # Message flow
//!
//! Everything MLS travels over the signaling WebSocket as opaque bytes; names in `code` are the
//! signaling messages the server and client will need (not yet in `proto`). Each step says
//! which call makes or takes the bytes.
//!
//! 1. **Group creation.** When the first participant is seated, the server sends it the group
//!    id (the meeting id) and its external-sender public key
//!    ([`server_view::ServerSigningKey::public`]) in `mls_create`. The participant calls
//!    [`member::PendingMember::create_group`] and sends the [`member::GroupBootstrap`]
//!    (GroupInfo and ratchet tree) in `mls_group`; the server starts
//!    [`server_view::ServerGroupView::from_bootstrap`], which checks that it is the only
//!    external sender.
//! 2. **KeyPackage.** A participant in the lobby makes a [`member::PendingMember`] (account
//!    key, or a fresh key as a guest) and sends [`member::PendingMember::key_package`] in
//!    `mls_key_package`. The server parses it with [`server_view::ValidatedKeyPackage::parse`]
//!    and checks that its identity is the connection's participant and account.
//! 3. **Admission.** On admit, the server announces `mls_admitted {participant, account}` to
//!    the seated members (who call [`member::Member::record_admission`] and look the account's
//!    key up in the key directory), then sends the Add from
//!    [`server_view::ServerGroupView::propose_add`] as `mls_proposal`; members call
//!    [`member::Member::process_handshake`]. Leave, removal and timeout send the Remove from
//!    [`server_view::ServerGroupView::propose_remove`] the same way.
//! 4. **Commit.** When [`member::Member::commit_delay`] says it is its turn, a member sends
//!    [`member::Member::commit_pending`]'s commit and Welcome in `mls_commit`. The server calls
//!    [`server_view::ServerGroupView::submit_commit`]:
//!    - accepted: the author gets `mls_commit_accepted` and calls
//!      [`member::Member::commit_accepted`]; every other member gets the commit in
//!      `mls_commit` ([`member::Member::process_handshake`]); each joiner gets `mls_welcome`
//!      with the Welcome, the ratchet tree and the admissions of everyone seated or waiting to
//!      be added, and calls [`member::PendingMember::join`]; then the re-issued proposals go
//!      out as `mls_proposal`.
//!    - refused: the author gets `mls_commit_refused {reason}` and calls
//!      [`member::Member::commit_refused`]; after a `Superseded` refusal the winning commit is
//!      on its way, and the proposals it did not cover come back for the new epoch.
//! 5. **Chat.** [`member::Member::send_chat`] gives the MLS message and its franking
//!    commitment (`chat_send`); the server checks it with
//!    [`server_view::ServerGroupView::check_chat`], tags the commitment with
//!    [`franking::ServerFrankingKey::tag`] and relays message, commitment, tag, sender account
//!    and time (`chat`); receivers call [`member::Member::receive_chat`] and keep the opening
//!    for a report.
//! 6. **Media.** [`member::Member::encrypt_frame`] and [`member::Member::decrypt_frame`]; each
//!    epoch change installs the new SFrame keys, and the old ones stay 10 s.
//!
//! The server relays a group's messages to each member in one order (a commit after the chat
//! and proposals of its epoch), which is why no past epoch is kept
//! ([`group::MAX_PAST_EPOCHS`]).
//!
//! What the server view cannot check: the parts of a commit only members can read (the update
//! path's encrypted secrets, the confirmation tag, a PublicMessage's membership tag). A member
//! that sends a commit which is valid in public but broken in private gets it accepted, and
//! the other members refuse it with [`member::MemberError::Mls`]: the group stalls rather than
//! splits, and the commit's signature names the member who did it. Recovering (removing that
//! member and rolling the view back) is for the server wiring (#4).
//!
//! # Invariants
//!
//! - Sans-IO: no sockets, no clock, no global state. Time is a `now: Instant` argument, and
//!   randomness an `rng` argument.
//! - Input from the network never panics: every parser has size limits and returns a typed
//!   error, and a property test feeds them arbitrary bytes.
//! - A (base key, KID, CTR) triple is used for at most one frame: each sender has one KID per
//!   epoch and a monotonic counter kept for the epoch's lifetime in [`media::MediaKeys`].
//! - An epoch's keys are gone [`media::EPOCH_GRACE`] after the next epoch is installed.
//! - Key material never appears in `Debug` output.
//! - Reported content is evidence only as a [`franking::VerifiedEvidence`], which only a
//!   successful verification creates.
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, Instant};
//! use e2ee::group::{Epoch, LeafIndex};
//! use e2ee::media::{MediaError, MediaKeys};
//! use e2ee::safety_code::SafetyCode;
//! use e2ee::franking::{self, AccountId, FrankedMessage, MeetingId, ServerFrankingKey, Timestamp};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let now = Instant::now();
//! // Both members got this epoch's base key from the MLS exporter.
//! let base_key = [0x2a; 16];
//! let alice_leaf = LeafIndex::new(0);
//! let mut alice = MediaKeys::new();
//! let mut bob = MediaKeys::new();
//! alice.install_epoch(Epoch::new(5), base_key, now)?;
//! bob.install_epoch(Epoch::new(5), base_key, now)?;
//!
//! let sframe = alice.encrypt(b"opus frame", alice_leaf)?;
//! let frame = bob.decrypt(&sframe, now)?;
//! assert_eq!(frame.payload(), b"opus frame");
//! assert_eq!(frame.sender(), alice_leaf);
//!
//! // After the next commit the old epoch still decrypts for 10 s, then it is refused.
//! bob.install_epoch(Epoch::new(6), [0x2b; 16], now)?;
//! assert!(bob.decrypt(&sframe, now + Duration::from_secs(9)).is_ok());
//! assert!(matches!(
//!     bob.decrypt(&sframe, now + Duration::from_secs(10)),
//!     Err(MediaError::EpochExpired { .. })
//! ));
//!
//! // Every member of an epoch shows the same safety code.
//! let code = SafetyCode::from_epoch_authenticator(&[9u8; 32])?;
//! assert_eq!(code.to_string().len(), 6 * 5 + 5);
//!
//! // Chat is franked: a reported message verifies as evidence against its real sender.
//! let mut rng = rand::thread_rng();
//! let server_key = ServerFrankingKey::generate(&mut rng);
//! let sent = FrankedMessage::seal(b"hello", &mut rng)?; // inner() goes into MLS
//! let (account, meeting) = (AccountId::new("acct-1")?, MeetingId::new("mtg-1")?);
//! let time = Timestamp::from_unix_millis(1_700_000_000_000);
//! let tag = server_key.tag(&sent.commitment(), &account, &meeting, time);
//! let received = franking::open(sent.inner(), &sent.commitment())?;
//! let report = received.into_report(tag, account.clone(), meeting, time);
//! let evidence = server_key.verify(report)?;
//! assert_eq!(evidence.sender(), &account);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod franking;
pub mod group;
pub mod header;
pub mod identity;
pub mod media;
pub mod member;
pub mod safety_code;
pub mod server_view;
pub mod wire;
