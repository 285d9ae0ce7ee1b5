//! A client's side of a meeting's MLS group (RFC 9420, openmls): join, follow commits, commit
//! the server's proposals, chat, and key SFrame from every epoch.
//!
//! A participant's life in the group is two types (STYLE.md section 3): a [`PendingMember`]
//! holds the KeyPackage the server will propose, and is consumed by
//! [`PendingMember::join`] (from a Welcome) or [`PendingMember::create_group`] (the first
//! participant) into a [`Member`]. A `Member` that was removed stays a `Member` whose calls
//! answer [`MemberError::Removed`], so frames already in flight still decrypt for
//! [`crate::media::EPOCH_GRACE`].
//!
//! # Ghost protection (threat T4)
//!
//! - The only proposals a member stores are the server's (the group's one external sender):
//!   Add and Remove. A proposal from anyone else is refused.
//! - An Add is accepted only for a participant the caller recorded as admitted
//!   ([`Member::record_admission`], from the server's announcement) with the same account, and
//!   only if the credential's key is the one the [`KeyDirectory`] lists for that account.
//!   Guests are accepted without a key check and flagged ([`MemberIdentity::is_guest`]).
//! - A commit is merged only if every Add in it passes that check, no member's identity or key
//!   changes in it, and it was not an external commit (which would bypass admission).
//! - A joiner checks every member of the tree it joins against the participants the server
//!   said are seated, the same way.
//! - Any mismatch is a [`GhostError`] naming the participant; nothing is dropped silently.
//!
//! The roster ([`Member::roster`]) is read from the member's own MLS state, never from the
//! server's list.

use std::time::{Duration, Instant};

use openmls::prelude::tls_codec::Serialize as _;
use openmls::prelude::{
    Credential, CredentialWithKey, Extension, Extensions, ExternalSender, GroupId, KeyPackage,
    LeafNodeIndex, MlsGroup, MlsGroupCreateConfig, MlsGroupJoinConfig, MlsMessageOut,
    ProcessedMessageContent, Proposal, ProtocolMessage, Sender, StagedCommit, StagedWelcome,
    PURE_PLAINTEXT_WIRE_FORMAT_POLICY,
};
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use openmls_traits::OpenMlsProvider as _;
use rand::{CryptoRng, RngCore};

use crate::franking::{self, Commitment, FrankedMessage, FrankingError, OpenedMessage};
use crate::group::{Epoch, LeafIndex, CIPHERSUITE, MAX_GROUP_ID_LEN, MAX_PAST_EPOCHS};
use crate::identity::{
    Admission, Admissions, IdentityError, IdentityKey, IdentityKeyPair, KeyDirectory,
    MemberIdentity, MemberKind,
};
use crate::media::{DecryptedFrame, MediaError, MediaKeys, BASE_KEY_LEN, EXPORTER_LABEL};
use crate::safety_code::{SafetyCode, SafetyCodeError};
use crate::wire::{self, WireError};

/// The identity the server signs its proposals under, as the group's external sender.
pub(crate) const SERVER_CREDENTIAL: &[u8] = b"conclave server v1";

/// How long each member further down the commit order waits before committing pending
/// proposals itself, so that one member commits and the others only step in if it does not
/// (see [`Member::commit_delay`]).
pub const COMMIT_STAGGER: Duration = Duration::from_millis(500);

/// A participant that has a KeyPackage but is not in the group yet.
pub struct PendingMember {
    provider: OpenMlsRustCrypto,
    signer: SignatureKeyPair,
    identity: MemberIdentity,
    key_package: Vec<u8>,
}

impl PendingMember {
    /// Makes a KeyPackage for `identity` signed with `keys` (the account's identity key, or a
    /// fresh key for a guest, see [`IdentityKeyPair::generate`]).
    pub fn new(identity: MemberIdentity, keys: &IdentityKeyPair) -> Result<Self, MemberError> {
        let provider = OpenMlsRustCrypto::default();
        let signer = keys.signer();
        let bundle = KeyPackage::builder()
            .build(
                CIPHERSUITE,
                &provider,
                &signer,
                credential_with_key(&identity, &keys.public()),
            )
            .map_err(mls("build key package"))?;
        let key_package = MlsMessageOut::from(bundle.key_package().clone())
            .tls_serialize_detached()
            .map_err(mls("encode key package"))?;
        Ok(Self {
            provider,
            signer,
            identity,
            key_package,
        })
    }

    /// The KeyPackage to send to the server, which proposes it as an Add on admission.
    pub fn key_package(&self) -> &[u8] {
        &self.key_package
    }

    /// Who this member is.
    pub fn identity(&self) -> &MemberIdentity {
        &self.identity
    }

    /// Creates the meeting's group as its first member, with the server's key as the one
    /// external sender. Returns the member and what the server needs to follow the group.
    pub fn create_group(
        self,
        group_id: &[u8],
        server_key: &IdentityKey,
        now: Instant,
    ) -> Result<(Member, GroupBootstrap), MemberError> {
        check_group_id(group_id)?;
        let extensions =
            Extensions::single(Extension::ExternalSenders(vec![server_sender(server_key)]))
                .map_err(mls("external senders extension"))?;
        let config = MlsGroupCreateConfig::builder()
            .ciphersuite(CIPHERSUITE)
            .wire_format_policy(PURE_PLAINTEXT_WIRE_FORMAT_POLICY)
            .max_past_epochs(MAX_PAST_EPOCHS)
            .use_ratchet_tree_extension(false)
            .with_group_context_extensions(extensions)
            .build();
        let public = IdentityKey::from_slice(self.signer.public())?;
        let group = MlsGroup::new_with_group_id(
            &self.provider,
            &self.signer,
            &config,
            GroupId::from_slice(group_id),
            credential_with_key(&self.identity, &public),
        )
        .map_err(mls("create group"))?;
        let group_info = group
            .export_group_info(self.provider.crypto(), &self.signer, false)
            .map_err(mls("export group info"))?
            .tls_serialize_detached()
            .map_err(mls("encode group info"))?;
        let ratchet_tree = group
            .export_ratchet_tree()
            .tls_serialize_detached()
            .map_err(mls("encode ratchet tree"))?;
        let member = Member::start(self, group, now)?;
        Ok((
            member,
            GroupBootstrap {
                group_info,
                ratchet_tree,
            },
        ))
    }

    /// Joins from the Welcome and ratchet tree the server delivered.
    ///
    /// `seated` holds the server's announcements of who is in the meeting and `directory` their
    /// keys: every member of the joined tree must match one of them (see the module docs), and
    /// the group's only external sender must be `server_key`.
    pub fn join(
        self,
        welcome: &[u8],
        ratchet_tree: &[u8],
        server_key: &IdentityKey,
        seated: &Admissions,
        directory: &KeyDirectory,
        now: Instant,
    ) -> Result<Member, MemberError> {
        let welcome = wire::parse_welcome(welcome)?;
        let ratchet_tree = wire::parse_ratchet_tree(ratchet_tree)?;
        let staged = StagedWelcome::new_from_welcome(
            &self.provider,
            &join_config(),
            welcome,
            Some(ratchet_tree),
        )
        .map_err(mls("join from welcome"))?;
        check_external_senders(
            staged.group_context().extensions().external_senders(),
            server_key,
        )?;
        let own_leaf = staged.own_leaf_index();
        for member in staged.members() {
            if member.index == own_leaf {
                continue;
            }
            let identity =
                MemberIdentity::from_credential(&member.credential).map_err(|reason| {
                    GhostError::UnreadableCredential {
                        leaf: Some(leaf_index(member.index)),
                        reason,
                    }
                })?;
            check_admitted(&identity, &member.signature_key, seated, directory)?;
        }
        let group = staged
            .into_group(&self.provider)
            .map_err(mls("join from welcome"))?;
        Member::start(self, group, now)
    }
}

impl std::fmt::Debug for PendingMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingMember")
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}

/// What the group's creator sends the server so it can follow the group: a signed GroupInfo
/// (without the tree) and the ratchet tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupBootstrap {
    /// An `MLSMessage` carrying the GroupInfo of epoch 0.
    pub group_info: Vec<u8>,
    /// The ratchet tree of epoch 0.
    pub ratchet_tree: Vec<u8>,
}

/// A member of a meeting's MLS group.
pub struct Member {
    provider: OpenMlsRustCrypto,
    signer: SignatureKeyPair,
    identity: MemberIdentity,
    group: MlsGroup,
    media: MediaKeys,
    admissions: Admissions,
    safety_code: SafetyCode,
    removed: bool,
    /// When proposals started waiting for a commit in this epoch.
    proposals_since: Option<Instant>,
}

impl Member {
    fn start(pending: PendingMember, group: MlsGroup, now: Instant) -> Result<Self, MemberError> {
        let mut member = Self {
            provider: pending.provider,
            signer: pending.signer,
            identity: pending.identity,
            group,
            media: MediaKeys::new(),
            admissions: Admissions::new(),
            // Replaced by enter_epoch below, before the member is handed out.
            safety_code: SafetyCode::from_epoch_authenticator(&[0; 32])?,
            removed: false,
            proposals_since: None,
        };
        member.enter_epoch(now)?;
        Ok(member)
    }

    /// Who this member is.
    pub fn identity(&self) -> &MemberIdentity {
        &self.identity
    }

    /// This member's leaf index, which its SFrame KIDs carry.
    pub fn own_leaf(&self) -> LeafIndex {
        leaf_index(self.group.own_leaf_index())
    }

    /// The current epoch.
    pub fn epoch(&self) -> Epoch {
        Epoch::new(self.group.epoch().as_u64())
    }

    /// The MLS group id (the meeting id).
    pub fn group_id(&self) -> &[u8] {
        self.group.group_id().as_slice()
    }

    /// The safety code of the current epoch, equal for every member of it.
    pub fn safety_code(&self) -> SafetyCode {
        self.safety_code
    }

    /// Whether a commit removed this member. Its frames of the last epoch still decrypt until
    /// the grace period is over; nothing else works.
    pub fn is_removed(&self) -> bool {
        self.removed
    }

    /// The members as this member's own MLS state has them, by leaf index.
    pub fn roster(&self) -> Result<Vec<RosterEntry>, MemberError> {
        self.group
            .members()
            .map(|member| {
                let leaf = leaf_index(member.index);
                let identity =
                    MemberIdentity::from_credential(&member.credential).map_err(|reason| {
                        GhostError::UnreadableCredential {
                            leaf: Some(leaf),
                            reason,
                        }
                    })?;
                Ok(RosterEntry {
                    leaf,
                    key: IdentityKey::from_slice(&member.signature_key)?,
                    identity,
                })
            })
            .collect()
    }

    /// The member at `leaf`, e.g. to name the sender of a decrypted frame.
    pub fn member_at(&self, leaf: LeafIndex) -> Option<MemberIdentity> {
        let member = self.group.member_at(LeafNodeIndex::new(leaf.value()))?;
        MemberIdentity::from_credential(&member.credential).ok()
    }

    /// Records the server's announcement that a participant was admitted; only such a
    /// participant's Add will be accepted.
    pub fn record_admission(&mut self, admission: Admission) {
        self.admissions.record(admission);
    }

    /// Processes a proposal or commit the server relayed.
    ///
    /// A commit this member made itself is not processed here: the server answers it with an
    /// acceptance ([`commit_accepted`](Self::commit_accepted)) or a refusal
    /// ([`commit_refused`](Self::commit_refused)).
    pub fn process_handshake(
        &mut self,
        message: &[u8],
        directory: &KeyDirectory,
        now: Instant,
    ) -> Result<HandshakeOutcome, MemberError> {
        self.check_active()?;
        let message = wire::parse_handshake(message)?;
        if message.group_id() != self.group.group_id() {
            return Err(MemberError::WrongGroup);
        }
        let processed = self
            .group
            .process_message(&self.provider, message)
            .map_err(mls("process handshake"))?;
        let sender = processed.sender().clone();
        match processed.into_content() {
            ProcessedMessageContent::ProposalMessage(queued) => {
                if !matches!(queued.sender(), Sender::External(_)) {
                    return Err(MemberError::ProposalNotFromServer {
                        sender: SenderKind::of(queued.sender()),
                    });
                }
                let outcome = match queued.proposal() {
                    Proposal::Add(add) => {
                        let leaf = add.key_package().leaf_node();
                        let identity = MemberIdentity::from_credential(leaf.credential()).map_err(
                            |reason| GhostError::UnreadableCredential { leaf: None, reason },
                        )?;
                        self.check_new_member(
                            &identity,
                            leaf.signature_key().as_slice(),
                            directory,
                        )?;
                        ProposalOutcome::Add { identity }
                    }
                    Proposal::Remove(remove) => {
                        let leaf = leaf_index(remove.removed());
                        let identity = self
                            .member_at(leaf)
                            .ok_or(MemberError::NoSuchMember { leaf })?;
                        ProposalOutcome::Remove { leaf, identity }
                    }
                    other => {
                        return Err(MemberError::UnexpectedProposal {
                            kind: proposal_kind(other),
                        })
                    }
                };
                self.group
                    .store_pending_proposal(self.provider.storage(), *queued)
                    .map_err(mls("store proposal"))?;
                self.proposals_since.get_or_insert(now);
                Ok(HandshakeOutcome::ProposalQueued(outcome))
            }
            ProcessedMessageContent::StagedCommitMessage(staged) => {
                let committer = match sender {
                    Sender::Member(leaf) => leaf_index(leaf),
                    _ => return Err(GhostError::ExternalCommit.into()),
                };
                let change = self.check_commit(committer, &staged, directory)?;
                self.group
                    .merge_staged_commit(&self.provider, *staged)
                    .map_err(mls("merge commit"))?;
                self.after_commit(change, now)
                    .map(HandshakeOutcome::EpochChanged)
            }
            ProcessedMessageContent::ExternalJoinProposalMessage(_) => {
                Err(MemberError::ProposalNotFromServer {
                    sender: SenderKind::NewMember,
                })
            }
            _ => Err(MemberError::UnexpectedContent {
                expected: "a proposal or commit",
            }),
        }
    }

    /// How long to wait before committing the pending proposals, or `None` if there is nothing
    /// to commit (or this member is being removed by them).
    ///
    /// Members take turns by leaf index (those being removed skip): the first commits at once,
    /// the next after [`COMMIT_STAGGER`], and so on, so normally one commit per epoch reaches
    /// the server. The delay counts from when the first proposal of the epoch arrived; a
    /// member whose turn has come calls [`commit_pending`](Self::commit_pending).
    pub fn commit_delay(&self, now: Instant) -> Option<Duration> {
        if self.removed
            || !self.group.has_pending_proposals()
            || self.group.pending_commit().is_some()
        {
            return None;
        }
        let removed: Vec<LeafNodeIndex> = self
            .group
            .pending_proposals()
            .filter_map(|queued| match queued.proposal() {
                Proposal::Remove(remove) => Some(remove.removed()),
                _ => None,
            })
            .collect();
        let own = self.group.own_leaf_index();
        if removed.contains(&own) {
            return None;
        }
        let rank = self
            .group
            .members()
            .filter(|member| member.index < own && !removed.contains(&member.index))
            .count();
        let turn = COMMIT_STAGGER.saturating_mul(u32::try_from(rank).unwrap_or(u32::MAX));
        let waited = self
            .proposals_since
            .map_or(Duration::ZERO, |since| now.saturating_duration_since(since));
        Some(turn.saturating_sub(waited))
    }

    /// Commits every pending proposal. Send the result to the server, which accepts it (call
    /// [`commit_accepted`](Self::commit_accepted)) if it is the first commit of the epoch and
    /// refuses it otherwise (call [`commit_refused`](Self::commit_refused)).
    ///
    /// Returns `None` if no proposal is pending.
    pub fn commit_pending(&mut self) -> Result<Option<OutgoingCommit>, MemberError> {
        self.check_active()?;
        if self.group.pending_commit().is_some() {
            return Err(MemberError::CommitInFlight);
        }
        if !self.group.has_pending_proposals() {
            return Ok(None);
        }
        let epoch = self.epoch();
        let (commit, welcome, _) = self
            .group
            .commit_to_pending_proposals(&self.provider, &self.signer)
            .map_err(mls("commit"))?;
        let commit = commit
            .tls_serialize_detached()
            .map_err(mls("encode commit"))?;
        let welcome = welcome
            .map(|welcome| welcome.tls_serialize_detached())
            .transpose()
            .map_err(mls("encode welcome"))?;
        Ok(Some(OutgoingCommit {
            epoch,
            commit,
            welcome,
        }))
    }

    /// The server accepted this member's commit: move to the new epoch.
    pub fn commit_accepted(&mut self, now: Instant) -> Result<EpochChange, MemberError> {
        self.check_active()?;
        let staged = self
            .group
            .pending_commit()
            .ok_or(MemberError::NoPendingCommit)?;
        let change = self.summarise(staged)?;
        self.group
            .merge_pending_commit(&self.provider)
            .map_err(mls("merge own commit"))?;
        self.after_commit(change, now)
    }

    /// The server refused this member's commit because another one won the epoch: drop it.
    /// The winning commit arrives through [`process_handshake`](Self::process_handshake);
    /// proposals it did not cover are proposed again by the server for the new epoch, and
    /// [`commit_delay`](Self::commit_delay) says when to commit them.
    pub fn commit_refused(&mut self) -> Result<(), MemberError> {
        if self.group.pending_commit().is_none() {
            return Err(MemberError::NoPendingCommit);
        }
        self.group
            .clear_pending_commit(self.provider.storage())
            .map_err(mls("drop pending commit"))
    }

    /// Encrypts a chat message as an MLS application message, franked: a fresh franking key
    /// goes inside the ciphertext with the text, and the commitment both beside it and in the
    /// message's authenticated data, so the sender's MLS signature covers it.
    ///
    /// MLS forbids sending while proposals are pending: commit (or wait for the commit) first.
    pub fn send_chat<R: RngCore + CryptoRng>(
        &mut self,
        plaintext: &[u8],
        rng: &mut R,
    ) -> Result<OutgoingChat, MemberError> {
        self.check_active()?;
        if self.group.has_pending_proposals() {
            return Err(MemberError::ProposalsPending);
        }
        let franked = FrankedMessage::seal(plaintext, rng)?;
        let commitment = franked.commitment();
        self.group.set_aad(commitment.as_bytes().to_vec());
        let message = self
            .group
            .create_message(&self.provider, &self.signer, franked.inner())
            .map_err(mls("encrypt chat"))?
            .tls_serialize_detached()
            .map_err(mls("encode chat"))?;
        Ok(OutgoingChat {
            message,
            commitment,
        })
    }

    /// Decrypts a chat message and checks its franking commitment, which must be the one the
    /// server delivered beside it and the one the sender signed. Only a message that passes
    /// is shown; the returned opening is what a report needs.
    pub fn receive_chat(
        &mut self,
        message: &[u8],
        commitment: &Commitment,
    ) -> Result<ReceivedChat, MemberError> {
        self.check_active()?;
        let message = wire::parse_application(message)?;
        if message.group_id() != self.group.group_id() {
            return Err(MemberError::WrongGroup);
        }
        // The authenticated data travels in the clear: compare it before decrypting, so a
        // mismatched pair does not use up the message's key. Decryption then authenticates it.
        let ProtocolMessage::PrivateMessage(private) = &message else {
            return Err(MemberError::UnexpectedContent {
                expected: "an application message",
            });
        };
        if private.aad() != commitment.as_bytes() {
            return Err(MemberError::Franking(FrankingError::CommitmentMismatch));
        }
        let processed = self
            .group
            .process_message(&self.provider, message)
            .map_err(mls("decrypt chat"))?;
        if processed.aad() != commitment.as_bytes() {
            return Err(MemberError::Franking(FrankingError::CommitmentMismatch));
        }
        let sender_leaf = match processed.sender() {
            Sender::Member(leaf) => leaf_index(*leaf),
            other => {
                return Err(MemberError::UnexpectedContent {
                    expected: match SenderKind::of(other) {
                        SenderKind::Member => "a member's message",
                        _ => "a chat message from a member",
                    },
                })
            }
        };
        let sender = MemberIdentity::from_credential(processed.credential())?;
        let epoch = Epoch::new(processed.epoch().as_u64());
        let content = match processed.into_content() {
            ProcessedMessageContent::ApplicationMessage(content) => content.into_bytes(),
            _ => {
                return Err(MemberError::UnexpectedContent {
                    expected: "an application message",
                })
            }
        };
        let opened = franking::open(&content, commitment)?;
        Ok(ReceivedChat {
            sender,
            sender_leaf,
            epoch,
            opened,
        })
    }

    /// Encrypts a media frame with this member's SFrame key of the current epoch.
    pub fn encrypt_frame(&mut self, frame: &[u8]) -> Result<Vec<u8>, MemberError> {
        self.check_active()?;
        let own = self.own_leaf();
        Ok(self.media.encrypt(frame, own)?)
    }

    /// Decrypts a media frame of the current epoch or one still in its grace period.
    pub fn decrypt_frame(
        &mut self,
        sframe: &[u8],
        now: Instant,
    ) -> Result<DecryptedFrame, MediaError> {
        self.media.decrypt(sframe, now)
    }

    /// The SFrame keys, for the variants with authenticated metadata. Every epoch change
    /// installs the new epoch's keys here.
    pub fn media_keys(&mut self) -> &mut MediaKeys {
        &mut self.media
    }

    fn check_active(&self) -> Result<(), MemberError> {
        if self.removed {
            Err(MemberError::Removed)
        } else {
            Ok(())
        }
    }

    /// Refuses a newcomer that was not announced, whose key is not the directory's, or who is
    /// already in the group.
    fn check_new_member(
        &self,
        identity: &MemberIdentity,
        signature_key: &[u8],
        directory: &KeyDirectory,
    ) -> Result<(), GhostError> {
        check_admitted(identity, signature_key, &self.admissions, directory)?;
        let already = self.group.members().any(|member| {
            MemberIdentity::from_credential(&member.credential)
                .is_ok_and(|existing| existing.participant() == identity.participant())
        });
        if already {
            return Err(GhostError::AlreadyMember {
                identity: identity.clone(),
            });
        }
        Ok(())
    }

    /// The ghost checks on a commit from another member, before it is merged.
    fn check_commit(
        &self,
        committer: LeafIndex,
        staged: &StagedCommit,
        directory: &KeyDirectory,
    ) -> Result<EpochChangeDraft, MemberError> {
        for queued in staged.queued_proposals() {
            match (queued.sender(), queued.proposal()) {
                (Sender::External(_), Proposal::Add(_) | Proposal::Remove(_)) => {}
                (Sender::External(_), other) => {
                    return Err(MemberError::UnexpectedProposal {
                        kind: proposal_kind(other),
                    })
                }
                (sender, _) => {
                    return Err(MemberError::ProposalNotFromServer {
                        sender: SenderKind::of(sender),
                    })
                }
            }
        }
        let mut seen = Vec::new();
        for add in staged.add_proposals() {
            let leaf = add.add_proposal().key_package().leaf_node();
            let identity = MemberIdentity::from_credential(leaf.credential())
                .map_err(|reason| GhostError::UnreadableCredential { leaf: None, reason })?;
            self.check_new_member(&identity, leaf.signature_key().as_slice(), directory)?;
            if seen.contains(identity.participant()) {
                return Err(GhostError::AlreadyMember { identity }.into());
            }
            seen.push(identity.participant().clone());
        }
        if let Some(path_leaf) = staged.update_path_leaf_node() {
            let current = self
                .group
                .member_at(LeafNodeIndex::new(committer.value()))
                .ok_or(MemberError::NoSuchMember { leaf: committer })?;
            if path_leaf.credential() != &current.credential
                || path_leaf.signature_key().as_slice() != current.signature_key.as_slice()
            {
                let identity = MemberIdentity::from_credential(&current.credential)?;
                return Err(GhostError::KeyChanged { identity }.into());
            }
        }
        self.summarise(staged)
    }

    fn summarise(&self, staged: &StagedCommit) -> Result<EpochChangeDraft, MemberError> {
        let mut added = Vec::new();
        for add in staged.add_proposals() {
            let credential = add.add_proposal().key_package().leaf_node().credential();
            added.push(MemberIdentity::from_credential(credential)?);
        }
        let mut removed = Vec::new();
        for remove in staged.remove_proposals() {
            let leaf = leaf_index(remove.remove_proposal().removed());
            removed.push(
                self.member_at(leaf)
                    .ok_or(MemberError::NoSuchMember { leaf })?,
            );
        }
        Ok(EpochChangeDraft {
            added,
            removed,
            self_removed: staged.self_removed(),
        })
    }

    fn after_commit(
        &mut self,
        draft: EpochChangeDraft,
        now: Instant,
    ) -> Result<EpochChange, MemberError> {
        self.proposals_since = None;
        for identity in &draft.added {
            self.admissions.consume(identity.participant());
        }
        if draft.self_removed {
            self.removed = true;
            self.media.retire(now);
        } else {
            self.enter_epoch(now)?;
        }
        Ok(EpochChange {
            epoch: self.epoch(),
            added: draft.added,
            removed: draft.removed,
            self_removed: draft.self_removed,
        })
    }

    /// Installs the current epoch's SFrame keys and safety code.
    fn enter_epoch(&mut self, now: Instant) -> Result<(), MemberError> {
        let exported = self
            .group
            .export_secret(self.provider.crypto(), EXPORTER_LABEL, &[], BASE_KEY_LEN)
            .map_err(mls("export SFrame base key"))?;
        let base_key: [u8; BASE_KEY_LEN] =
            exported
                .as_slice()
                .try_into()
                .map_err(|_| MemberError::Mls {
                    operation: "export SFrame base key",
                    source: "exporter returned the wrong length".into(),
                })?;
        self.media.install_epoch(self.epoch(), base_key, now)?;
        self.safety_code =
            SafetyCode::from_epoch_authenticator(self.group.epoch_authenticator().as_slice())?;
        Ok(())
    }
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("identity", &self.identity)
            .field("leaf", &self.own_leaf())
            .field("epoch", &self.epoch())
            .field("removed", &self.removed)
            .finish_non_exhaustive()
    }
}

/// One member as the roster shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    /// Its leaf index (what SFrame KIDs carry).
    pub leaf: LeafIndex,
    /// Who its credential says it is; guests are flagged there.
    pub identity: MemberIdentity,
    /// The key it signs with.
    pub key: IdentityKey,
}

/// What a proposal from the server asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProposalOutcome {
    /// Add this admitted participant (checked against the admissions and the key directory).
    Add {
        /// Who.
        identity: MemberIdentity,
    },
    /// Remove this member.
    Remove {
        /// Its leaf.
        leaf: LeafIndex,
        /// Who.
        identity: MemberIdentity,
    },
}

/// What processing a handshake message did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeOutcome {
    /// A proposal was stored; it takes effect with the next commit.
    ProposalQueued(ProposalOutcome),
    /// A commit was merged.
    EpochChanged(EpochChange),
}

/// The effect of a merged commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochChange {
    /// The new epoch (or, if this member was removed, the one it was removed from).
    pub epoch: Epoch,
    /// Who joined.
    pub added: Vec<MemberIdentity>,
    /// Who left.
    pub removed: Vec<MemberIdentity>,
    /// Whether this member was removed.
    pub self_removed: bool,
}

struct EpochChangeDraft {
    added: Vec<MemberIdentity>,
    removed: Vec<MemberIdentity>,
    self_removed: bool,
}

/// A commit to send to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingCommit {
    /// The epoch the commit was made in; the server accepts one commit per epoch.
    pub epoch: Epoch,
    /// The commit, an `MLSMessage` (PublicMessage).
    pub commit: Vec<u8>,
    /// The Welcome for the members it adds, if any.
    pub welcome: Option<Vec<u8>>,
}

/// A franked chat message to send to the server.
#[derive(Debug, Clone)]
pub struct OutgoingChat {
    /// The MLS application message (PrivateMessage).
    pub message: Vec<u8>,
    /// The franking commitment, sent beside it (it is also in the message's authenticated
    /// data).
    pub commitment: Commitment,
}

/// A chat message that decrypted and whose franking commitment checked.
#[derive(Debug)]
pub struct ReceivedChat {
    sender: MemberIdentity,
    sender_leaf: LeafIndex,
    epoch: Epoch,
    opened: OpenedMessage,
}

impl ReceivedChat {
    /// The sender, as MLS authenticated it.
    pub fn sender(&self) -> &MemberIdentity {
        &self.sender
    }

    /// The sender's leaf.
    pub fn sender_leaf(&self) -> LeafIndex {
        self.sender_leaf
    }

    /// The epoch it was sent in.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The text.
    pub fn plaintext(&self) -> &[u8] {
        self.opened.plaintext()
    }

    /// The opening (plaintext, franking key, commitment) to keep for a report; with the
    /// server's tag, [`OpenedMessage::into_report`] makes the report.
    pub fn into_opened(self) -> OpenedMessage {
        self.opened
    }
}

/// Who sent a message, without the details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderKind {
    /// A group member.
    Member,
    /// The server (an external sender).
    Server,
    /// Someone outside the group proposing or committing to join.
    NewMember,
}

impl SenderKind {
    fn of(sender: &Sender) -> Self {
        match sender {
            Sender::Member(_) => Self::Member,
            Sender::External(_) => Self::Server,
            Sender::NewMemberProposal | Sender::NewMemberCommit => Self::NewMember,
        }
    }
}

/// A participant the client refused to let into its group state (threat T4). Every variant
/// names who, so the client can show it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GhostError {
    /// An Add for a participant the server never announced as admitted (or announced with
    /// another account).
    #[error("{identity} was added but never announced as admitted")]
    NotAdmitted {
        /// Who the credential names.
        identity: MemberIdentity,
    },
    /// The credential's key is not the key directory's key for the account.
    #[error("{identity} was added with a key that is not the account's registered key")]
    KeyMismatch {
        /// Who the credential names.
        identity: MemberIdentity,
    },
    /// The key directory has no key for the account, so the Add cannot be checked.
    #[error("{identity} was added but the key directory has no key for the account")]
    NoDirectoryKey {
        /// Who the credential names.
        identity: MemberIdentity,
    },
    /// An Add for a participant already in the group (or twice in one commit).
    #[error("{identity} is already in the group")]
    AlreadyMember {
        /// Who.
        identity: MemberIdentity,
    },
    /// A commit changes a member's credential or signature key.
    #[error("a commit changes the identity or key of {identity}")]
    KeyChanged {
        /// Whose.
        identity: MemberIdentity,
    },
    /// A leaf's credential is not a Conclave member credential.
    #[error("unreadable credential{}: {reason}", leaf.map(|l| format!(" at {l}")).unwrap_or_default())]
    UnreadableCredential {
        /// The leaf, if it is already in the tree.
        leaf: Option<LeafIndex>,
        /// Why it could not be read.
        reason: IdentityError,
    },
    /// An external commit: someone joining without the server's Add and the members' commit.
    #[error("external commit refused: joining needs an admission")]
    ExternalCommit,
}

impl GhostError {
    /// The participant the error is about, when the credential could be read.
    pub fn identity(&self) -> Option<&MemberIdentity> {
        match self {
            Self::NotAdmitted { identity }
            | Self::KeyMismatch { identity }
            | Self::NoDirectoryKey { identity }
            | Self::AlreadyMember { identity }
            | Self::KeyChanged { identity } => Some(identity),
            Self::UnreadableCredential { .. } | Self::ExternalCommit => None,
        }
    }
}

/// Why a member operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MemberError {
    /// The input could not be parsed.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A participant was refused (ghost protection).
    #[error(transparent)]
    Ghost(#[from] GhostError),
    /// An identity or key was malformed.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// Franking failed: the commitment does not open, or the message is malformed.
    #[error(transparent)]
    Franking(#[from] FrankingError),
    /// SFrame keys could not be installed or used.
    #[error(transparent)]
    Media(#[from] MediaError),
    /// No safety code could be derived.
    #[error(transparent)]
    SafetyCode(#[from] SafetyCodeError),
    /// The message belongs to another group.
    #[error("message for another group")]
    WrongGroup,
    /// The group id is empty or too long.
    #[error("group id of {len} bytes is outside 1..={MAX_GROUP_ID_LEN}")]
    GroupIdLength {
        /// Its length.
        len: usize,
    },
    /// The group's external senders are not exactly the server.
    #[error("the group's external senders are not exactly the server's key")]
    ExternalSenders,
    /// A proposal that did not come from the server.
    #[error("proposal from a {sender:?}, but only the server proposes")]
    ProposalNotFromServer {
        /// Who sent it.
        sender: SenderKind,
    },
    /// A proposal of a kind Conclave does not use.
    #[error("{kind} proposals are not used in Conclave")]
    UnexpectedProposal {
        /// The proposal type.
        kind: &'static str,
    },
    /// A message with other content than the call expects.
    #[error("expected {expected}")]
    UnexpectedContent {
        /// What was expected.
        expected: &'static str,
    },
    /// A proposal or commit names a leaf that is empty.
    #[error("no member at {leaf}")]
    NoSuchMember {
        /// The leaf.
        leaf: LeafIndex,
    },
    /// This member already sent a commit the server has not answered yet.
    #[error("a commit is already waiting for the server's answer")]
    CommitInFlight,
    /// The server answered a commit this member did not make.
    #[error("no commit is waiting for the server's answer")]
    NoPendingCommit,
    /// Chat cannot be sent while proposals wait for a commit (RFC 9420 section 12.4 orders
    /// proposals before new application data).
    #[error("proposals are pending; commit before sending")]
    ProposalsPending,
    /// This member was removed from the group.
    #[error("removed from the group")]
    Removed,
    /// openmls refused the operation (invalid signature, wrong epoch, bad tree, ...).
    #[error("MLS {operation} failed: {source}")]
    Mls {
        /// What was being done.
        operation: &'static str,
        /// What openmls reported.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Wraps an openmls error.
fn mls<E: std::error::Error + Send + Sync + 'static>(
    operation: &'static str,
) -> impl FnOnce(E) -> MemberError {
    move |source| MemberError::Mls {
        operation,
        source: Box::new(source),
    }
}

pub(crate) fn leaf_index(index: LeafNodeIndex) -> LeafIndex {
    LeafIndex::new(index.u32())
}

pub(crate) fn credential_with_key(
    identity: &MemberIdentity,
    key: &IdentityKey,
) -> CredentialWithKey {
    CredentialWithKey {
        credential: identity.credential(),
        signature_key: key.as_bytes().to_vec().into(),
    }
}

/// The external sender entry for the server's key.
pub(crate) fn server_sender(server_key: &IdentityKey) -> ExternalSender {
    ExternalSender::new(
        server_key.as_bytes().to_vec().into(),
        Credential::from(openmls::prelude::BasicCredential::new(
            SERVER_CREDENTIAL.to_vec(),
        )),
    )
}

fn check_external_senders(
    senders: Option<&Vec<ExternalSender>>,
    server_key: &IdentityKey,
) -> Result<(), MemberError> {
    match senders.map(Vec::as_slice) {
        Some([only]) if *only == server_sender(server_key) => Ok(()),
        _ => Err(MemberError::ExternalSenders),
    }
}

pub(crate) fn check_group_id(group_id: &[u8]) -> Result<(), MemberError> {
    if group_id.is_empty() || group_id.len() > MAX_GROUP_ID_LEN {
        return Err(MemberError::GroupIdLength {
            len: group_id.len(),
        });
    }
    Ok(())
}

fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .wire_format_policy(PURE_PLAINTEXT_WIRE_FORMAT_POLICY)
        .max_past_epochs(MAX_PAST_EPOCHS)
        .use_ratchet_tree_extension(false)
        .build()
}

/// The admission and key checks for one participant.
fn check_admitted(
    identity: &MemberIdentity,
    signature_key: &[u8],
    admissions: &Admissions,
    directory: &KeyDirectory,
) -> Result<(), GhostError> {
    if admissions.find(identity).is_none() {
        return Err(GhostError::NotAdmitted {
            identity: identity.clone(),
        });
    }
    if let MemberKind::Account(account) = identity.kind() {
        let expected = directory
            .key_of(account)
            .ok_or_else(|| GhostError::NoDirectoryKey {
                identity: identity.clone(),
            })?;
        if expected.as_bytes().as_slice() != signature_key {
            return Err(GhostError::KeyMismatch {
                identity: identity.clone(),
            });
        }
    }
    Ok(())
}

fn proposal_kind(proposal: &Proposal) -> &'static str {
    match proposal {
        Proposal::Add(_) => "add",
        Proposal::Update(_) => "update",
        Proposal::Remove(_) => "remove",
        Proposal::PreSharedKey(_) => "psk",
        Proposal::ReInit(_) => "reinit",
        Proposal::ExternalInit(_) => "external init",
        Proposal::GroupContextExtensions(_) => "group context extensions",
        Proposal::SelfRemove => "self remove",
        Proposal::Custom(_) => "custom",
    }
}
