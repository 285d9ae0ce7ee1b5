//! The server's side of a meeting's MLS group: it proposes, orders and routes, and never holds
//! a secret of the group.
//!
//! The server is the group's one external sender (RFC 9420 section 12.1.8.1): the creator puts
//! the server's key in the `external_senders` extension. With it the server signs Add proposals
//! (on admission, from the joiner's KeyPackage) and Remove proposals (leave, removal, timeout),
//! and nothing else. Members commit.
//!
//! [`ServerGroupView`] follows the group through an openmls `PublicGroup`: the public ratchet
//! tree, group context and transcript hashes, no key material. It validates each commit
//! (signature, tree, parent hashes, proposal list) and orders them: the first valid commit of
//! an epoch is accepted and advances the view; a later commit for the same epoch is refused
//! with [`CommitRefused::Superseded`], and its author re-bases (see [`crate::member`]).
//! Proposals the accepted commit did not cover are proposed again for the new epoch, since MLS
//! proposals are valid for one epoch only.

use openmls::prelude::tls_codec::Serialize as _;
use openmls::prelude::{
    ContentType, ExternalProposal, KeyPackage, KeyPackageRef, LeafNodeIndex,
    ProcessedMessageContent, ProposalStore, ProtocolMessage, ProtocolVersion, PublicGroup, Sender,
    SenderExtensionIndex,
};
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::{MemoryStorage, OpenMlsRustCrypto, RustCrypto};

use crate::franking::Commitment;
use crate::group::{Epoch, LeafIndex, CIPHERSUITE, MAX_PAST_EPOCHS};
use crate::identity::{IdentityError, IdentityKey, IdentityKeyPair, MemberIdentity, ParticipantId};
use crate::member::{leaf_index, server_sender};
use crate::wire::{self, WireError};

/// The server's external-sender key pair. Its public half goes to each meeting's creator,
/// which puts it in the group's `external_senders` extension.
pub struct ServerSigningKey(IdentityKeyPair);

impl ServerSigningKey {
    /// A fresh key.
    pub fn generate<R: rand::RngCore + rand::CryptoRng>(rng: &mut R) -> Self {
        Self(IdentityKeyPair::generate(rng))
    }

    /// The key of a stored Ed25519 secret.
    pub fn from_secret(secret: [u8; 32]) -> Self {
        Self(IdentityKeyPair::from_secret(secret))
    }

    /// The public key members expect as the group's external sender.
    pub fn public(&self) -> IdentityKey {
        self.0.public()
    }
}

impl std::fmt::Debug for ServerSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ServerSigningKey").field(&self.0).finish()
    }
}

/// A KeyPackage whose signatures, lifetime, ciphersuite and credential checked: only this
/// type can be proposed (STYLE.md section 4, "parse, don't validate").
#[derive(Debug, Clone)]
pub struct ValidatedKeyPackage {
    key_package: KeyPackage,
    reference: KeyPackageRef,
    identity: MemberIdentity,
    key: IdentityKey,
}

impl ValidatedKeyPackage {
    /// Parses and validates a KeyPackage a participant uploaded. The server must still check
    /// that [`identity`](Self::identity) is the participant and account of the connection it
    /// came from.
    pub fn parse(bytes: &[u8]) -> Result<Self, ServerViewError> {
        let crypto = RustCrypto::default();
        let key_package = wire::parse_key_package(bytes)?
            .validate(&crypto, ProtocolVersion::Mls10)
            .map_err(|e| ServerViewError::InvalidKeyPackage {
                reason: e.to_string(),
            })?;
        if key_package.ciphersuite() != CIPHERSUITE {
            return Err(ServerViewError::InvalidKeyPackage {
                reason: format!("ciphersuite {:?} is not 0x0001", key_package.ciphersuite()),
            });
        }
        let leaf = key_package.leaf_node();
        let identity = MemberIdentity::from_credential(leaf.credential())?;
        let key = IdentityKey::from_slice(leaf.signature_key().as_slice())?;
        let reference =
            key_package
                .hash_ref(&crypto)
                .map_err(|e| ServerViewError::InvalidKeyPackage {
                    reason: e.to_string(),
                })?;
        Ok(Self {
            key_package,
            reference,
            identity,
            key,
        })
    }

    /// Who the credential names.
    pub fn identity(&self) -> &MemberIdentity {
        &self.identity
    }

    /// The key the participant signs with (for an account, it must be the directory's).
    pub fn key(&self) -> &IdentityKey {
        &self.key
    }
}

/// The server's public view of one meeting's group.
pub struct ServerGroupView {
    crypto: RustCrypto,
    storage: MemoryStorage,
    group: PublicGroup,
    signer: SignatureKeyPair,
    /// Adds and removes asked for and not yet committed, oldest first.
    intents: Vec<Intent>,
}

enum Intent {
    Add {
        key_package: Box<ValidatedKeyPackage>,
        /// The participant left before being added: if a commit still adds them, remove them.
        cancelled: bool,
    },
    Remove {
        participant: ParticipantId,
    },
}

impl ServerGroupView {
    /// Starts following a group from what its creator sent: the GroupInfo (whose signature and
    /// tree are checked) and the ratchet tree. The group must use ciphersuite 0x0001 and have
    /// exactly this server as its external sender.
    pub fn from_bootstrap(
        group_info: &[u8],
        ratchet_tree: &[u8],
        key: &ServerSigningKey,
    ) -> Result<Self, ServerViewError> {
        let group_info = wire::parse_group_info(group_info)?;
        let ratchet_tree = wire::parse_ratchet_tree(ratchet_tree)?;
        let crypto = RustCrypto::default();
        let storage = MemoryStorage::default();
        let (group, _) = PublicGroup::from_external(
            &crypto,
            &storage,
            ratchet_tree,
            group_info,
            ProposalStore::new(),
        )
        .map_err(|e| ServerViewError::InvalidBootstrap {
            reason: e.to_string(),
        })?;
        if group.ciphersuite() != CIPHERSUITE {
            return Err(ServerViewError::InvalidBootstrap {
                reason: format!("ciphersuite {:?} is not 0x0001", group.ciphersuite()),
            });
        }
        let senders = group.group_context().extensions().external_senders();
        if !matches!(senders.map(Vec::as_slice), Some([only]) if *only == server_sender(&key.public()))
        {
            return Err(ServerViewError::InvalidBootstrap {
                reason: "the external senders are not exactly this server".into(),
            });
        }
        let view = Self {
            crypto,
            storage,
            group,
            signer: key.0.signer(),
            intents: Vec::new(),
        };
        view.roster()?;
        Ok(view)
    }

    /// The current epoch.
    pub fn epoch(&self) -> Epoch {
        Epoch::new(self.group.group_context().epoch().as_u64())
    }

    /// The group id.
    pub fn group_id(&self) -> &[u8] {
        self.group.group_id().as_slice()
    }

    /// The members, by leaf, as the public tree has them.
    pub fn roster(&self) -> Result<Vec<(LeafIndex, MemberIdentity)>, ServerViewError> {
        self.group
            .members()
            .map(|member| {
                Ok((
                    leaf_index(member.index),
                    MemberIdentity::from_credential(&member.credential)?,
                ))
            })
            .collect()
    }

    /// The current ratchet tree, as a joiner needs it beside its Welcome.
    pub fn ratchet_tree(&self) -> Result<Vec<u8>, ServerViewError> {
        self.group
            .export_ratchet_tree()
            .tls_serialize_detached()
            .map_err(|e| ServerViewError::Internal {
                reason: e.to_string(),
            })
    }

    /// Proposes adding an admitted participant; broadcast the result to every member.
    pub fn propose_add(
        &mut self,
        key_package: ValidatedKeyPackage,
    ) -> Result<Vec<u8>, ServerViewError> {
        let participant = key_package.identity.participant().clone();
        if self.leaf_of(&participant)?.is_some() || self.pending_add(&participant).is_some() {
            return Err(ServerViewError::AlreadyMember { participant });
        }
        let proposal = self.sign_add(&key_package)?;
        self.intents.push(Intent::Add {
            key_package: Box::new(key_package),
            cancelled: false,
        });
        Ok(proposal)
    }

    /// Proposes removing a participant (left, removed by a host, timed out); broadcast the
    /// result to every member. Returns `None` if the participant was proposed but not added
    /// yet: the pending Add is dropped instead (and undone if a commit still carries it).
    pub fn propose_remove(
        &mut self,
        participant: &ParticipantId,
    ) -> Result<Option<Vec<u8>>, ServerViewError> {
        if let Some(index) = self.pending_add(participant) {
            if let Some(Intent::Add { cancelled, .. }) = self.intents.get_mut(index) {
                *cancelled = true;
            }
            return Ok(None);
        }
        let leaf = self
            .leaf_of(participant)?
            .ok_or_else(|| ServerViewError::NotAMember {
                participant: participant.clone(),
            })?;
        let already = self
            .intents
            .iter()
            .any(|intent| matches!(intent, Intent::Remove { participant: p } if p == participant));
        if already {
            return Ok(None);
        }
        let proposal = self.sign_remove(leaf)?;
        self.intents.push(Intent::Remove {
            participant: participant.clone(),
        });
        Ok(Some(proposal))
    }

    /// Validates a member's commit and, if it is the first valid commit of the current epoch,
    /// accepts it: the view advances, and the result says what to broadcast and whom to
    /// welcome. A commit that adds members must come with their Welcome.
    pub fn submit_commit(
        &mut self,
        commit: &[u8],
        welcome: Option<&[u8]>,
    ) -> Result<AcceptedCommit, CommitRefused> {
        let message = wire::parse_handshake(commit)?;
        if message.content_type() != ContentType::Commit {
            return Err(CommitRefused::NotACommit);
        }
        if message.group_id() != self.group.group_id() {
            return Err(CommitRefused::WrongGroup);
        }
        let commit_epoch = Epoch::new(message.epoch().as_u64());
        let current = self.epoch();
        if commit_epoch < current {
            return Err(CommitRefused::Superseded {
                commit_epoch,
                current,
            });
        }
        if commit_epoch > current {
            return Err(CommitRefused::FutureEpoch {
                commit_epoch,
                current,
            });
        }
        if let ProtocolMessage::PublicMessage(public) = &message {
            if !matches!(public.sender(), Sender::Member(_)) {
                return Err(CommitRefused::NotFromMember);
            }
        }
        let processed = self
            .group
            .process_message(&self.crypto, message)
            .map_err(|e| CommitRefused::Invalid {
                reason: e.to_string(),
            })?;
        let staged = match processed.into_content() {
            ProcessedMessageContent::StagedCommitMessage(staged) => staged,
            _ => return Err(CommitRefused::NotACommit),
        };
        if staged
            .queued_proposals()
            .any(|queued| !matches!(queued.sender(), Sender::External(_)))
        {
            return Err(CommitRefused::ProposalNotFromServer);
        }

        // Every Add must be one of ours, and the Welcome must reach each joiner.
        let mut joiners = Vec::new();
        for add in staged.add_proposals() {
            let reference = add
                .add_proposal()
                .key_package()
                .hash_ref(&self.crypto)
                .map_err(|e| CommitRefused::Invalid {
                    reason: e.to_string(),
                })?;
            let index = self
                .intents
                .iter()
                .position(|intent| matches!(intent, Intent::Add { key_package, .. } if key_package.reference == reference))
                .ok_or(CommitRefused::UnexpectedAdd)?;
            joiners.push(index);
        }
        let welcome = match (welcome, joiners.is_empty()) {
            (None, true) => None,
            (Some(_), true) => return Err(CommitRefused::UnexpectedWelcome),
            (None, false) => return Err(CommitRefused::MissingWelcome),
            (Some(bytes), false) => {
                let parsed = wire::parse_welcome(bytes)?;
                for &index in &joiners {
                    if let Some(Intent::Add { key_package, .. }) = self.intents.get(index) {
                        let covered = parsed
                            .secrets()
                            .iter()
                            .any(|secret| secret.new_member() == key_package.reference);
                        if !covered {
                            return Err(CommitRefused::WelcomeMissesJoiner {
                                participant: key_package.identity.participant().clone(),
                            });
                        }
                    }
                }
                Some(bytes.to_vec())
            }
        };
        let removed_leaves: Vec<LeafNodeIndex> = staged
            .remove_proposals()
            .map(|remove| remove.remove_proposal().removed())
            .collect();
        let mut removed = Vec::new();
        for leaf in &removed_leaves {
            if let Some(member) = self.group.members().find(|m| m.index == *leaf) {
                removed.push(
                    MemberIdentity::from_credential(&member.credential)
                        .map_err(ServerViewError::from)?
                        .participant()
                        .clone(),
                );
            }
        }

        self.group
            .merge_commit(&self.storage, *staged)
            .map_err(|e| CommitRefused::Invalid {
                reason: e.to_string(),
            })?;

        // Settle the intents the commit carried out; ask again for the rest.
        let mut added = Vec::new();
        let mut follow_up_removes = Vec::new();
        let mut remaining = Vec::new();
        for (index, intent) in std::mem::take(&mut self.intents).into_iter().enumerate() {
            match intent {
                Intent::Add {
                    key_package,
                    cancelled,
                } if joiners.contains(&index) => {
                    let participant = key_package.identity.participant().clone();
                    if cancelled {
                        follow_up_removes.push(participant.clone());
                    }
                    added.push(participant);
                }
                Intent::Add {
                    cancelled: true, ..
                } => {}
                Intent::Remove { participant } if removed.contains(&participant) => {}
                other => remaining.push(other),
            }
        }
        let mut proposals = Vec::new();
        let mut kept = Vec::new();
        for intent in remaining {
            match &intent {
                Intent::Add { key_package, .. } => proposals.push(self.sign_add(key_package)?),
                Intent::Remove { participant } => match self.leaf_of(participant)? {
                    Some(leaf) => proposals.push(self.sign_remove(leaf)?),
                    // Already gone: nothing left to ask for.
                    None => continue,
                },
            }
            kept.push(intent);
        }
        self.intents = kept;
        for participant in follow_up_removes {
            if let Some(proposal) = self.propose_remove(&participant)? {
                proposals.push(proposal);
            }
        }

        let joiners = match welcome {
            Some(welcome) => Some(JoinerDelivery {
                welcome,
                ratchet_tree: self.ratchet_tree()?,
                recipients: added.clone(),
            }),
            None => None,
        };
        Ok(AcceptedCommit {
            epoch: self.epoch(),
            commit: commit.to_vec(),
            added,
            removed,
            joiners,
            proposals,
        })
    }

    /// Checks a chat message before relaying it: well-formed, this group, an application
    /// message of the current epoch (or one of the [`MAX_PAST_EPOCHS`] before, none at present),
    /// with a franking commitment as its authenticated data. Returns the commitment to tag.
    ///
    /// A message refused with [`ServerViewError::ChatEpoch`] was sent before its sender saw the
    /// latest commit: the sender processes the commit and sends it again.
    pub fn check_chat(&self, message: &[u8]) -> Result<Commitment, ServerViewError> {
        let message = wire::parse_application(message)?;
        if message.group_id() != self.group.group_id() {
            return Err(ServerViewError::WrongGroup);
        }
        let epoch = Epoch::new(message.epoch().as_u64());
        let current = self.epoch();
        let oldest = current.value().saturating_sub(MAX_PAST_EPOCHS as u64);
        if epoch > current || epoch.value() < oldest {
            return Err(ServerViewError::ChatEpoch { epoch, current });
        }
        let ProtocolMessage::PrivateMessage(private) = &message else {
            return Err(ServerViewError::Wire(WireError::UnexpectedMessage {
                expected: wire::InputKind::Application,
            }));
        };
        let commitment: [u8; 32] =
            private
                .aad()
                .try_into()
                .map_err(|_| ServerViewError::MissingCommitment {
                    len: private.aad().len(),
                })?;
        Ok(Commitment::from_bytes(commitment))
    }

    fn leaf_of(
        &self,
        participant: &ParticipantId,
    ) -> Result<Option<LeafNodeIndex>, ServerViewError> {
        for member in self.group.members() {
            let identity = MemberIdentity::from_credential(&member.credential)?;
            if identity.participant() == participant {
                return Ok(Some(member.index));
            }
        }
        Ok(None)
    }

    fn pending_add(&self, participant: &ParticipantId) -> Option<usize> {
        self.intents.iter().position(|intent| {
            matches!(intent, Intent::Add { key_package, cancelled: false }
                if key_package.identity.participant() == participant)
        })
    }

    fn sign_add(&mut self, key_package: &ValidatedKeyPackage) -> Result<Vec<u8>, ServerViewError> {
        let message = ExternalProposal::new_add::<OpenMlsRustCrypto>(
            key_package.key_package.clone(),
            self.group.group_id().clone(),
            self.group.group_context().epoch(),
            &self.signer,
            SenderExtensionIndex::new(0),
        )
        .map_err(internal)?;
        let bytes = message.tls_serialize_detached().map_err(internal)?;
        self.queue_own_proposal(&bytes)?;
        Ok(bytes)
    }

    fn sign_remove(&mut self, leaf: LeafNodeIndex) -> Result<Vec<u8>, ServerViewError> {
        let message = ExternalProposal::new_remove::<OpenMlsRustCrypto>(
            leaf,
            self.group.group_id().clone(),
            self.group.group_context().epoch(),
            &self.signer,
            SenderExtensionIndex::new(0),
        )
        .map_err(internal)?;
        let bytes = message.tls_serialize_detached().map_err(internal)?;
        self.queue_own_proposal(&bytes)?;
        Ok(bytes)
    }

    /// Puts a proposal of ours into the public group's store, so commits that reference it
    /// validate.
    fn queue_own_proposal(&mut self, bytes: &[u8]) -> Result<(), ServerViewError> {
        let message = wire::parse_handshake(bytes)?;
        let processed = self
            .group
            .process_message(&self.crypto, message)
            .map_err(internal)?;
        match processed.into_content() {
            ProcessedMessageContent::ProposalMessage(queued) => self
                .group
                .add_proposal(&self.storage, *queued)
                .map_err(internal),
            _ => Err(ServerViewError::Internal {
                reason: "own proposal did not process as a proposal".into(),
            }),
        }
    }
}

impl std::fmt::Debug for ServerGroupView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerGroupView")
            .field("epoch", &self.epoch())
            .field("members", &self.group.members().count())
            .field("pending_intents", &self.intents.len())
            .finish_non_exhaustive()
    }
}

/// A commit the server accepted, and what to send to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedCommit {
    /// The epoch the group is now in.
    pub epoch: Epoch,
    /// The commit, to broadcast to every member except its author (who gets an acceptance).
    pub commit: Vec<u8>,
    /// Participants it added.
    pub added: Vec<ParticipantId>,
    /// Participants it removed.
    pub removed: Vec<ParticipantId>,
    /// The Welcome and ratchet tree for the participants it added.
    pub joiners: Option<JoinerDelivery>,
    /// Proposals for the new epoch (asked for earlier but not covered by this commit), to
    /// broadcast after the commit.
    pub proposals: Vec<Vec<u8>>,
}

/// What the participants a commit added need to join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinerDelivery {
    /// The Welcome, the same for every joiner of the commit.
    pub welcome: Vec<u8>,
    /// The ratchet tree of the new epoch.
    pub ratchet_tree: Vec<u8>,
    /// Who gets them.
    pub recipients: Vec<ParticipantId>,
}

/// Why the server refused a commit. Its author drops the commit
/// ([`crate::member::Member::commit_refused`]); after [`Superseded`](Self::Superseded) it
/// processes the winning commit and commits the remaining proposals again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommitRefused {
    /// Another commit for this epoch was accepted first.
    #[error("a commit for {commit_epoch} was already accepted; the group is at {current}")]
    Superseded {
        /// The epoch the refused commit was made in.
        commit_epoch: Epoch,
        /// The group's epoch now.
        current: Epoch,
    },
    /// The commit claims an epoch the group has not reached.
    #[error("commit for {commit_epoch}, but the group is at {current}")]
    FutureEpoch {
        /// The epoch the commit claims.
        commit_epoch: Epoch,
        /// The group's epoch now.
        current: Epoch,
    },
    /// The input is not a well-formed handshake message.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A handshake message that is not a commit.
    #[error("not a commit")]
    NotACommit,
    /// A commit for another group.
    #[error("commit for another group")]
    WrongGroup,
    /// An external commit or one from the server's key: only members commit.
    #[error("only members commit")]
    NotFromMember,
    /// The commit covers a proposal the server did not make.
    #[error("commit covers a proposal the server did not make")]
    ProposalNotFromServer,
    /// The commit adds someone the server did not propose.
    #[error("commit adds a KeyPackage the server did not propose")]
    UnexpectedAdd,
    /// The commit adds members but came without a Welcome.
    #[error("commit adds members but has no Welcome")]
    MissingWelcome,
    /// A Welcome came with a commit that adds nobody.
    #[error("Welcome sent with a commit that adds nobody")]
    UnexpectedWelcome,
    /// The Welcome has no secrets for a participant the commit adds.
    #[error("the Welcome has nothing for participant {participant}")]
    WelcomeMissesJoiner {
        /// Who would be left out.
        participant: ParticipantId,
    },
    /// openmls found the commit invalid (signature, tree, path, proposal list, ...).
    #[error("invalid commit: {reason}")]
    Invalid {
        /// What openmls reported.
        reason: String,
    },
    /// The server's own state failed while settling the commit.
    #[error(transparent)]
    View(#[from] ServerViewError),
}

/// Why a server operation on a group failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerViewError {
    /// The input could not be parsed.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A credential or key was malformed.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The KeyPackage's signatures, lifetime, version or ciphersuite are wrong.
    #[error("invalid key package: {reason}")]
    InvalidKeyPackage {
        /// What failed.
        reason: String,
    },
    /// The creator's GroupInfo or tree did not validate, or the group is not set up for
    /// this server.
    #[error("invalid group bootstrap: {reason}")]
    InvalidBootstrap {
        /// What failed.
        reason: String,
    },
    /// The participant is already in the group or already proposed.
    #[error("participant {participant} is already in the group or proposed")]
    AlreadyMember {
        /// Who.
        participant: ParticipantId,
    },
    /// The participant is not in the group.
    #[error("participant {participant} is not in the group")]
    NotAMember {
        /// Who.
        participant: ParticipantId,
    },
    /// A message for another group.
    #[error("message for another group")]
    WrongGroup,
    /// A chat message from an epoch too old or not reached.
    #[error("chat message of {epoch} while the group is at {current}")]
    ChatEpoch {
        /// The message's epoch.
        epoch: Epoch,
        /// The group's epoch.
        current: Epoch,
    },
    /// A chat message whose authenticated data is not a 32-byte franking commitment.
    #[error("chat message carries {len} bytes of authenticated data, not a 32-byte commitment")]
    MissingCommitment {
        /// Length of the authenticated data.
        len: usize,
    },
    /// openmls failed on the server's own operation.
    #[error("internal MLS failure: {reason}")]
    Internal {
        /// What openmls reported.
        reason: String,
    },
}

fn internal<E: std::fmt::Display>(error: E) -> ServerViewError {
    ServerViewError::Internal {
        reason: error.to_string(),
    }
}
